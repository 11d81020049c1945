/* SHA-256 block function with the x86 SHA extensions (SHA256RNDS2,
 * SHA256MSG1/2), four rounds per step as FIPS 180-4 section 6.2.2 defines
 * them. */
#include "sha256_hw.h"

#include <cpuid.h>
#include <immintrin.h>

bool store_sha256_hw(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
		return false;
	return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
}

__attribute__((target("sha,sse4.1,ssse3"))) void
store_sha256_hw_blocks(uint32_t state[8], const unsigned char *data, size_t nblocks)
{
	/* The instructions keep the state as ABEF and CDGH. */
	__m128i t = _mm_loadu_si128((const __m128i *)&state[0]);
	__m128i s1 = _mm_loadu_si128((const __m128i *)&state[4]);
	t = _mm_shuffle_epi32(t, 0xB1);
	s1 = _mm_shuffle_epi32(s1, 0x1B);
	__m128i s0 = _mm_alignr_epi8(t, s1, 8);
	s1 = _mm_blend_epi16(s1, t, 0xF0);
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);

	for (; nblocks; nblocks--, data += 64) {
		__m128i save0 = s0, save1 = s1, w[4];
		for (int i = 0; i < 4; i++)
			w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)),
						bswap);
		for (int r = 0; r < 16; r++) {
			__m128i m = _mm_add_epi32(
				w[r & 3], _mm_loadu_si128((const __m128i *)&store_sha256_k[4 * r]));
			s1 = _mm_sha256rnds2_epu32(s1, s0, m);
			s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m, 0x0E));
			if (r < 12) {
				/* W[t..t+3] from the four quads before it. */
				__m128i x = _mm_sha256msg1_epu32(w[r & 3], w[(r + 1) & 3]);
				x = _mm_add_epi32(
					x, _mm_alignr_epi8(w[(r + 3) & 3], w[(r + 2) & 3], 4));
				w[r & 3] = _mm_sha256msg2_epu32(x, w[(r + 3) & 3]);
			}
		}
		s0 = _mm_add_epi32(s0, save0);
		s1 = _mm_add_epi32(s1, save1);
	}
	t = _mm_shuffle_epi32(s0, 0x1B);
	s1 = _mm_shuffle_epi32(s1, 0xB1);
	s0 = _mm_blend_epi16(t, s1, 0xF0);
	s1 = _mm_alignr_epi8(s1, t, 8);
	_mm_storeu_si128((__m128i *)&state[0], s0);
	_mm_storeu_si128((__m128i *)&state[4], s1);
}
