/* SHA-256 block function with the ARMv8 cryptography extension (SHA256H,
 * SHA256H2, SHA256SU0/1), four rounds per step as FIPS 180-4 section 6.2.2
 * defines them. */
#include "sha256_hw.h"

#include <arm_neon.h>
#include <sys/auxv.h>

#ifndef HWCAP_SHA2
#define HWCAP_SHA2 (1 << 6) /* arch/arm64/include/uapi/asm/hwcap.h */
#endif

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
			uint32x4_t m = vaddq_u32(w[r & 3], vld1q_u32(&store_sha256_k[4 * r]));
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
