/* Content digests (see digest.h). */
#include "digest.h"

#include <string.h>

#include "sha256_hw.h"

bool store_digest_valid(const char *s)
{
	if (strncmp(s, "sha256:", 7))
		return false;
	s += 7;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

const uint32_t store_sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static const uint32_t sha256_iv[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* Checked once per process: CPUID is cheap but not free. */
static int hw_state = -1;

void store_sha256_init(struct store_sha256 *h)
{
	if (hw_state < 0)
		hw_state = store_sha256_hw();
	h->hw = hw_state;
	h->count = 0;
	if (h->hw)
		memcpy(h->h, sha256_iv, sizeof(h->h));
	else
		br_sha256_init(&h->ctx);
}

void store_sha256_update(struct store_sha256 *h, const void *data, size_t len)
{
	if (!h->hw) {
		br_sha256_update(&h->ctx, data, len);
		return;
	}
	const unsigned char *p = data;
	size_t used = (size_t)(h->count & 63);
	h->count += len;
	if (used) {
		size_t take = 64 - used < len ? 64 - used : len;
		memcpy(h->buf + used, p, take);
		p += take;
		len -= take;
		if (used + take < 64)
			return;
		store_sha256_hw_blocks(h->h, h->buf, 1);
	}
	if (len >= 64) {
		store_sha256_hw_blocks(h->h, p, len / 64);
		p += len & ~(size_t)63;
		len &= 63;
	}
	memcpy(h->buf, p, len);
}

/* The final block(s) with FIPS 180-4 padding, on a copy of the state. */
static void hw_out(const struct store_sha256 *h, unsigned char bin[32])
{
	uint32_t st[8];
	unsigned char pad[128];
	size_t used = (size_t)(h->count & 63);
	size_t n = used < 56 ? 64 : 128;
	memcpy(st, h->h, sizeof(st));
	memset(pad, 0, sizeof(pad));
	memcpy(pad, h->buf, used);
	pad[used] = 0x80;
	uint64_t bits = h->count * 8;
	for (int i = 0; i < 8; i++)
		pad[n - 1 - i] = (unsigned char)(bits >> (8 * i));
	store_sha256_hw_blocks(st, pad, n / 64);
	for (int i = 0; i < 8; i++) {
		bin[4 * i] = (unsigned char)(st[i] >> 24);
		bin[4 * i + 1] = (unsigned char)(st[i] >> 16);
		bin[4 * i + 2] = (unsigned char)(st[i] >> 8);
		bin[4 * i + 3] = (unsigned char)st[i];
	}
}

void store_sha256_final(const struct store_sha256 *h, char out[DIGEST_STR_MAX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char bin[32];
	if (h->hw)
		hw_out(h, bin);
	else
		br_sha256_out(&h->ctx, bin);
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[bin[i] >> 4];
		out[8 + 2 * i] = hex[bin[i] & 15];
	}
	out[71] = '\0';
}
