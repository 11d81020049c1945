/* SHA-256 compression with CPU instructions where the target has them
 * (x86 SHA extensions, ARMv8 SHA2; FIPS 180-4 rounds); BearSSL's portable code otherwise.
 * Private to store/digest.c. */
#ifndef BERTH_SHA256_HW_H
#define BERTH_SHA256_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#if CONFIG_ARCH_X86_64 || CONFIG_ARCH_AARCH64
/* FIPS 180-4 section 4.2.2: the 64 round constants (in digest.c). */
extern const uint32_t store_sha256_k[64];

/* True when this CPU has the instructions: SHA, SSSE3 and SSE4.1 on x86,
 * the SHA2 part of the cryptography extension on aarch64. */
bool store_sha256_hw(void);
/* Runs the compression function over nblocks 64-byte blocks. */
void store_sha256_hw_blocks(uint32_t state[8], const unsigned char *data, size_t nblocks);
#else
static inline bool store_sha256_hw(void)
{
	return false;
}
static inline void store_sha256_hw_blocks(uint32_t state[8], const unsigned char *data,
					  size_t nblocks)
{
}
#endif

#endif
