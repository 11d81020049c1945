/* Layer unpacking: a streaming tar reader (ustar, PAX, GNU long names) that
 * writes one layer into its own directory, converting OCI whiteouts to
 * overlayfs's form and refusing anything that would write outside it.
 * OCI image-spec layer.md. */
#ifndef BERTH_UNPACK_H
#define BERTH_UNPACK_H

#include <stddef.h>

#include "board/err.h"
#include "store/digest.h"

struct store_unpack;

struct store_unpack_stats {
	unsigned long long entries;
	unsigned long long bytes_in;  /* compressed bytes fed */
	unsigned long long bytes_tar; /* uncompressed tar bytes */
};

/* Starts unpacking into dir, which must exist and be empty; the layer's
 * entries land below it and nowhere else. The compression is detected from
 * the first bytes (gzip, or plain tar; zstd is refused as unsupported).
 * Returns NULL with err on failure. Memory use is bounded and independent of
 * the layer's size. */
struct store_unpack *store_unpack_new(const char *dir, struct berr *err);

/* Feeds the next bytes of the (possibly compressed) layer blob. Returns 0 or
 * -errno with err naming the entry ("layer entry 'etc/../../x': path escapes
 * the layer"). After an error the unpacker only accepts store_unpack_free. */
int store_unpack_feed(struct store_unpack *u, const void *buf, size_t len, struct berr *err);

/* Checks that the stream ended cleanly (end-of-archive or clean EOF after the
 * last entry, gzip trailer valid), fsyncs what was written, and writes the
 * diff_id ("sha256:" of the uncompressed tar) into diff_id. */
int store_unpack_finish(struct store_unpack *u, char diff_id[DIGEST_STR_MAX],
			struct store_unpack_stats *stats, struct berr *err);

/* Directories a layer creates without listing them (as parents of its
 * entries) must look as they do in the layers below, as they would if the
 * layer were unpacked onto them. Call once all of an image's layers are in
 * place: gives layer i's implicit directories the owner, mode and times of
 * the same directory in the nearest of layers[0..i-1] (lowest first), never
 * following symlinks. Idempotent; cheap when the layer has none. */
int store_unpack_fixup(char *const *layers, int i, struct berr *err);

/* Frees the unpacker (does not remove what was written: the caller unpacks
 * into a temporary directory and removes or renames it). NULL is allowed. */
void store_unpack_free(struct store_unpack *u);

#endif
