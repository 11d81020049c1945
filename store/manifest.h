/* Image manifests, indexes and configs: OCI image-spec (manifest.md,
 * image-index.md, config.md) and Docker's schema 2 manifest and manifest
 * list. Pure parsers over a buffer (cJSON), fuzzable. */
#ifndef BERTH_MANIFEST_H
#define BERTH_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"
#include "store/digest.h"

#define MANIFEST_MAX_BYTES (4 << 20) /* manifests, indexes and configs */
#define MANIFEST_MAX_LAYERS 128
#define MANIFEST_MAX_ENTRIES 64 /* platforms in an index */

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
/* The Accept header value for manifest requests. */
#define MANIFEST_ACCEPT \
	MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST

enum store_mkind {
	MKIND_UNKNOWN,
	MKIND_MANIFEST, /* OCI manifest or Docker schema 2 */
	MKIND_INDEX,    /* OCI index or Docker manifest list */
	MKIND_SCHEMA1,  /* Docker schema 1: refused */
};

enum store_compression { COMP_NONE, COMP_GZIP, COMP_ZSTD };

struct store_platform {
	char os[32];
	char arch[32];
	char variant[16];
};

struct store_desc {
	char media_type[128];
	char digest[DIGEST_STR_MAX];
	int64_t size;
	enum store_compression comp;    /* layers: from the media type */
	struct store_platform platform; /* index entries only */
};

struct store_manifest {
	bool docker; /* Docker schema 2 rather than OCI */
	struct store_desc config;
	int nlayers;
	struct store_desc layers[MANIFEST_MAX_LAYERS];
};

struct store_index {
	int n;
	struct store_desc m[MANIFEST_MAX_ENTRIES];
};

/* Decides what a document is from the Content-Type header (may be NULL or
 * empty) and, when that is missing or generic (application/json, text/plain,
 * application/octet-stream), from its shape: "manifests" array -> index,
 * "layers" + "config" -> manifest, "fsLayers"/"schemaVersion":1 -> schema 1.
 * Never trusts the optional mediaType field alone. */
enum store_mkind store_manifest_kind(const char *content_type, const char *body, size_t len);

/* Parses an image manifest. Every descriptor must have a valid sha256
 * digest and a non-negative size; layer media types must be tar, tar+gzip or
 * tar+zstd (OCI or Docker); more than MANIFEST_MAX_LAYERS layers is an error.
 * Returns 0 or -EBADMSG / -E2BIG / -ENOTSUP with err. */
int store_manifest_parse(const char *body, size_t len, struct store_manifest *m, struct berr *err);

/* Parses an index / manifest list (entries without a platform are kept with
 * empty platform fields). */
int store_index_parse(const char *body, size_t len, struct store_index *ix, struct berr *err);

/* Parses "os/arch[/variant]" (e.g. "linux/arm64", "linux/arm/v7"). */
int store_platform_parse(const char *s, struct store_platform *p, struct berr *err);

/* The platform this binary was built for: linux/amd64, linux/arm64/v8,
 * linux/arm/v7. */
void store_platform_host(struct store_platform *p);

/* Picks the index entry for want: os and arch must match; for variant, an
 * exact match wins, then (arm) a lower compatible variant, then an entry
 * without variant; arm64 treats "" and "v8" as the same. Returns the entry's
 * position, or -ENOENT with err listing the platforms the index has. */
int store_index_select(const struct store_index *ix, const struct store_platform *want,
		       struct berr *err);

/* What the store needs from an image config (config.md): the platform and
 * rootfs.diff_ids, one per layer, in order. */
struct store_imgconfig {
	struct store_platform platform;
	int ndiff;
	char diff_ids[MANIFEST_MAX_LAYERS][DIGEST_STR_MAX];
};

int store_config_parse(const char *body, size_t len, struct store_imgconfig *c, struct berr *err);

#endif
