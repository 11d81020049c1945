/* Content digests (see digest.h). */
#include "digest.h"

#include <string.h>

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

void store_sha256_init(struct store_sha256 *h)
{
	br_sha256_init(&h->ctx);
}

void store_sha256_update(struct store_sha256 *h, const void *data, size_t len)
{
	br_sha256_update(&h->ctx, data, len);
}

void store_sha256_final(const struct store_sha256 *h, char out[DIGEST_STR_MAX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char bin[32];
	br_sha256_out(&h->ctx, bin);
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[bin[i] >> 4];
		out[8 + 2 * i] = hex[bin[i] & 15];
	}
	out[71] = '\0';
}
