/* SHA-256 block function with the ARMv8 cryptography extension (SHA256H,
 * SHA256H2, SHA256SU0/1), four rounds per step as FIPS 180-4 section 6.2.2
 * defines them; the round constants are the standard's K values. */
#include "sha256_hw.h"

#include <arm_neon.h>
#include <sys/auxv.h>

#ifndef HWCAP_SHA2
#define HWCAP_SHA2 (1 << 6) /* arch/arm64/include/uapi/asm/hwcap.h */
#endif

static const uint32_t K[64] = {
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

bool store_sha256_hw(void)
{
	return (getauxval(AT_HWCAP) & HWCAP_SHA2) != 0;
}

__attribute__((target("+crypto"))) void
store_sha256_hw_blocks(uint32_t state[8], const unsigned char *data, size_t nblocks)
{
	uint32x4_t s0 = vld1q_u32(&state[0]); /* ABCD */
	uint32x4_t s1 = vld1q_u32(&state[4]); /* EFGH */
	for (; nblocks; nblocks--, data += 64) {
		uint32x4_t save0 = s0, save1 = s1, w[4];
		for (int i = 0; i < 4; i++)
			w[i] = vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(data + 16 * i)));
		for (int r = 0; r < 16; r++) {
			uint32x4_t m = vaddq_u32(w[r & 3], vld1q_u32(&K[4 * r]));
			uint32x4_t abcd = s0;
			s0 = vsha256hq_u32(s0, s1, m);
			s1 = vsha256h2q_u32(s1, abcd, m);
			if (r < 12)
				w[r & 3] =
					vsha256su1q_u32(vsha256su0q_u32(w[r & 3], w[(r + 1) & 3]),
							w[(r + 2) & 3], w[(r + 3) & 3]);
		}
		s0 = vaddq_u32(s0, save0);
		s1 = vaddq_u32(s1, save1);
	}
	vst1q_u32(&state[0], s0);
	vst1q_u32(&state[4], s1);
}
