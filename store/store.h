/* The content store under the data root: verified blobs, resumable partial
 * downloads, unpacked layers, image records and tags. Every change is
 * crash-safe: temp, fsync, rename, fsync the directory.
 *
 * Layout:
 *   blobs/sha256/<hex>     complete, verified manifests and configs
 *   blobs/partial/<hex>    layer downloads in progress (resumable)
 *   layers/sha256/<hex>/   unpacked layer trees, by diff_id; shared by images
 *                          (storage driver "overlay")
 *   layers/sqfs/<hex>.sqfs squashfs images of layers (storage driver "squashfs"),
 *   layers/mnt/<hex>/      loop-mounted there while containers use them
 *   layers/tmp/            layers being written (never used as complete)
 *   driver                 the storage driver ("overlay" when missing)
 *   images/<hex>.json      image records, by image id (config digest)
 *   repositories.json      tags: {"host/path:tag": "sha256:<image id>"}
 *   lock                   flock: one writer at a time
 */
#ifndef BERTH_STORE_H
#define BERTH_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "board/err.h"
#include "store/digest.h"
#include "store/manifest.h"
#include "store/unpack.h"

#define STORE_TAGS_MAX_BYTES (1 << 20)   /* repositories.json */
#define STORE_RECORD_MAX_BYTES (1 << 20) /* an image record */
#define STORE_REPO_DIGESTS_MAX 8

struct store_backend;

struct store {
	char root[PATH_MAX - 128]; /* leaves room for the paths below it */
	int lockfd;
	const struct store_backend *be; /* from <root>/driver; see store_driver_set */
	bool driver_unknown;
};

enum {
	STORE_READ = 0,  /* readers take no lock: every change is an atomic rename */
	STORE_WRITE = 1, /* creates the layout, takes the writer lock (waits for it) */
};

/* Opens the store at root. Returns 0 or -errno ("data root /x: Permission
 * denied"; -ENOENT for a reader when there is no store yet). */
int store_open(struct store *s, const char *root, int mode, struct berr *err);
void store_close(struct store *s);

/* Removes leftovers of interrupted work: layers/tmp entries (never complete
 * by construction) and temp files. Partial downloads are kept for resume. */
void store_recover(struct store *s);

/* --- blobs (manifests, configs) --- */
void store_blob_path(const struct store *s, const char *digest, char *out, size_t len);
bool store_blob_exists(const struct store *s, const char *digest);
/* Checks data against digest and stores it crash-safely. */
int store_blob_put(struct store *s, const char *digest, const void *data, size_t len,
		   struct berr *err);
/* Reads a blob (at most max bytes) into a malloc'd, NUL-terminated buffer and
 * verifies its digest. */
ssize_t store_blob_get(const struct store *s, const char *digest, size_t max, char **out,
		       struct berr *err);

/* --- partial downloads --- */
struct store_partial {
	int fd;
	int64_t have; /* bytes on disk, all hashed */
	int64_t synced;
	struct store_sha256 hash;
	char path[PATH_MAX];
};

/* Called with the bytes already on disk when a partial download is reopened,
 * so a streaming consumer (the unpacker) can catch up. Returns 0 or -errno. */
typedef int store_replay_fn(void *arg, const void *buf, size_t len, struct berr *err);

/* Opens (creating if needed) the partial download of digest, re-hashing what
 * is on disk and passing it to replay (may be NULL). */
int store_partial_open(struct store *s, const char *digest, struct store_partial *p,
		       store_replay_fn *replay, void *arg, struct berr *err);
/* Appends and hashes; fdatasyncs every few MiB so a power cut loses little. */
int store_partial_append(struct store_partial *p, const void *buf, size_t len, struct berr *err);
/* Starts over (the server ignored our Range request). */
int store_partial_reset(struct store_partial *p, struct berr *err);
/* Verifies size and digest. On a mismatch removes the partial file and fails
 * with -EBADMSG, so the next attempt starts clean. On success the file stays
 * until store_partial_remove: a crash before the layer is committed must not
 * lose the download. */
int store_partial_finish(struct store_partial *p, const char *digest, int64_t size,
			 struct berr *err);
/* Removes a finished download once what was made from it is safely stored
 * (a layer is kept unpacked, not compressed). */
void store_partial_remove(struct store_partial *p);
void store_partial_close(struct store_partial *p);
/* Bytes of a partial download on disk (0 if none). */
int64_t store_partial_size(const struct store *s, const char *digest);

/* --- layers --- */
/* Where diff_id's layer lives in the store (a directory or an image file,
 * as the driver keeps it). */
void store_layer_path(const struct store *s, const char *diff_id, char *out, size_t len);
bool store_layer_exists(const struct store *s, const char *diff_id);
/* Creates an empty temp directory (layers/tmp) for diff_id. */
int store_layer_tmpdir(struct store *s, const char *diff_id, char *out, size_t len,
		       struct berr *err);

/* Writing a layer as its blob streams in, in the driver's form: begin, feed
 * the (compressed) blob, finish (checks the stream, fsyncs, gives the
 * diff_id), commit (renames it into place; a layer another pull committed
 * meanwhile wins), or abort (removes what was written). */
struct store_layer_writer;
struct store_layer_writer *store_layer_begin(struct store *s, const char *diff_id,
					     struct berr *err);
int store_layer_feed(struct store_layer_writer *w, const void *buf, size_t len, struct berr *err);
int store_layer_finish(struct store_layer_writer *w, char diff_id[DIGEST_STR_MAX],
		       struct store_unpack_stats *st, struct berr *err);
int store_layer_commit(struct store *s, struct store_layer_writer *w, const char *diff_id,
		       struct berr *err);
/* The temp object being written, for messages. */
const char *store_layer_tmp(const struct store_layer_writer *w);
void store_layer_abort(struct store_layer_writer *w);
/* Frees a committed writer. */
void store_layer_free(struct store_layer_writer *w);

/* The directory overlayfs stacks for diff_id: the layer's directory, or its
 * squashfs image's mount point (mounted here, in the caller's mount
 * namespace, if it is not yet). */
int store_layer_lower(struct store *s, const char *diff_id, char *out, size_t len,
		      struct berr *err);
/* Unmounts the squashfs layers for which in_use (may be NULL) says no.
 * Returns 0 or the first -errno (a busy mount is left). */
int store_layers_release(struct store *s, bool (*in_use)(const char *diff_id, void *arg), void *arg,
			 struct berr *err);

/* Storage drivers: "overlay" (always) and "squashfs" (CONFIG_SQUASHFS). */
const struct store_backend *store_backend_find(const char *name);
const char *store_backend_name(const struct store *s);
/* Makes want the store's driver; refused (-EEXIST, saying why) while the
 * store holds layers of the other kind. Needs a STORE_WRITE store. */
int store_driver_set(struct store *s, const char *want, struct berr *err);
/* Reads <root>/driver (store_open does). */
void store_driver_load(struct store *s);

/* --- images and tags --- */
struct store_image {
	char id[DIGEST_STR_MAX];       /* config digest */
	char manifest[DIGEST_STR_MAX]; /* digest of the platform manifest */
	int nrepo_digests;
	char repo_digests[STORE_REPO_DIGESTS_MAX][320]; /* "host/path@sha256:..." */
	struct store_platform platform;
	long long created; /* unix time the image was pulled */
	long long size;    /* compressed size of config + layers */
	int nlayers;
	char diff_ids[MANIFEST_MAX_LAYERS][DIGEST_STR_MAX];
};

/* Writes the record (its layers and config must already be in the store). */
int store_image_put(struct store *s, const struct store_image *img, struct berr *err);
int store_image_get(const struct store *s, const char *id, struct store_image *img,
		    struct berr *err);
/* Calls fn for every image record (in no particular order); stops when fn
 * returns non-zero and returns that. */
int store_image_each(const struct store *s, int (*fn)(const struct store_image *, void *),
		     void *arg, struct berr *err);
/* Removes an image record (tags must be removed first) and the layers and
 * blobs no other image uses. */
int store_image_delete(struct store *s, const char *id, struct berr *err);

/* Tags ("host/path:tag" -> image id). The table is loaded whole; bounded by
 * STORE_TAGS_MAX_BYTES. */
struct store_tag {
	char name[320];
	char id[DIGEST_STR_MAX];
};
/* Loads all tags into a malloc'd array (*out, caller frees). Returns count. */
int store_tags_load(const struct store *s, struct store_tag **out, struct berr *err);
int store_tag_set(struct store *s, const char *name, const char *id, struct berr *err);
int store_tag_remove(struct store *s, const char *name, struct berr *err);
/* Looks a name up; returns 0 with id filled, or -ENOENT. */
int store_tag_get(const struct store *s, const char *name, char id[DIGEST_STR_MAX],
		  struct berr *err);

/* Removes layers and blobs no image record uses (after a crash in the middle
 * of a delete) and partial downloads. Returns bytes freed. */
long long store_gc(struct store *s);

#endif
