/* Content digests ("sha256:<64 lowercase hex>"), OCI image-spec descriptor
 * digests restricted to sha256: the CPU's SHA instructions where it has them,
 * BearSSL's portable code otherwise. */
#ifndef BERTH_DIGEST_H
#define BERTH_DIGEST_H

#include <bearssl_hash.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "sha256:" + 64 hex + NUL */
#define DIGEST_STR_MAX 72

/* True if s is exactly "sha256:" followed by 64 lowercase hex digits. */
bool store_digest_valid(const char *s);

/* Incremental sha256; the context is plain data (copyable, no allocation). */
struct store_sha256 {
	bool hw;               /* the fields below, not ctx, are in use */
	br_sha256_context ctx; /* portable */
	uint32_t h[8];         /* with CPU instructions */
	uint64_t count;
	unsigned char buf[64];
};

void store_sha256_init(struct store_sha256 *h);
void store_sha256_update(struct store_sha256 *h, const void *data, size_t len);
/* Writes "sha256:<hex>" into out (DIGEST_STR_MAX bytes). The context may
 * still be updated afterwards. */
void store_sha256_final(const struct store_sha256 *h, char out[DIGEST_STR_MAX]);

#endif
