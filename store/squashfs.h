/* Squashfs layer store: a writer that turns a layer's blob stream straight
 * into a zlib-compressed squashfs 4.0 image (no unpacked copy on disk); see
 * store/loop.h to mount one. Squashfs 4.0 on-disk format (Linux
 * Documentation/filesystems/squashfs.rst); OCI image-spec layer.md. */
#ifndef BERTH_SQUASHFS_H
#define BERTH_SQUASHFS_H

#include <stddef.h>

#include "board/err.h"
#include "store/digest.h"
#include "store/unpack.h"

/* Defaults of struct store_sqfs_opts. The metadata of a layer (its tree of
 * names, owners, link targets, xattrs and block lists) is held in memory
 * until finish; these bound it. */
#define SQFS_BLOCK_SIZE_DEFAULT (128 * 1024)
#define SQFS_MAX_ENTRIES_DEFAULT (1u << 20)     /* tree nodes, implicit directories too */
#define SQFS_MAX_META_BYTES_DEFAULT (64u << 20) /* names, targets, xattrs, block lists */

struct store_sqfs_opts {
	unsigned int block_size;     /* power of two, 4 KiB..1 MiB; 0: default */
	int level;                   /* zlib level 1..9; 0: 9 */
	unsigned int max_entries;    /* 0: default */
	unsigned int max_meta_bytes; /* 0: default */
};

struct store_sqfs;

/* Starts writing an image to path (created or truncated; the caller's
 * temporary name). o may be NULL for the defaults. The layer is then fed as
 * to store_unpack_feed: gzip or plain tar, detected from the first bytes.
 * File data streams into the image as it arrives: memory holds one data
 * block, one fragment block and the layer's metadata, which is bounded by
 * o's limits. Returns NULL with err on failure. */
struct store_sqfs *store_sqfs_new(const char *path, const struct store_sqfs_opts *o,
				  struct berr *err);

/* Feeds the next bytes of the (possibly compressed) layer blob. Returns 0 or
 * -errno with err naming the entry, in the same words as the directory
 * unpacker for the same input ("layer entry 'a/../../x': path escapes the
 * layer"). After an error only store_sqfs_free is allowed. */
int store_sqfs_feed(struct store_sqfs *s, const void *buf, size_t len, struct berr *err);

/* Checks that the stream ended cleanly, writes the inode, directory,
 * fragment, id and xattr tables and the superblock, pads the image to 4 KiB
 * and fsyncs it; writes the diff_id ("sha256:" of the uncompressed tar).
 * The caller renames the file into place and fsyncs the directory. */
int store_sqfs_finish(struct store_sqfs *s, char diff_id[DIGEST_STR_MAX],
		      struct store_unpack_stats *stats, struct berr *err);

/* Frees the writer and closes the image (does not remove it: the caller
 * removes or renames it). NULL is allowed. */
void store_sqfs_free(struct store_sqfs *s);

#endif
