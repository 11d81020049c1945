/* Image references, Docker's grammar: [host[:port]/]path[:tag][@sha256:hex].
 * No host means Docker Hub ("docker.io", "library/" for one-component names);
 * no tag and no digest means "latest". */
#ifndef BERTH_REF_H
#define BERTH_REF_H

#include <stdbool.h>
#include <stddef.h>

#include "board/err.h"
#include "store/digest.h"

#define REF_HOST_MAX 256 /* host[:port] */
#define REF_PATH_MAX 256 /* whole name (host/path) is at most 255 chars */
#define REF_TAG_MAX 129  /* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
#define REF_STR_MAX (REF_HOST_MAX + REF_PATH_MAX + REF_TAG_MAX + DIGEST_STR_MAX)

struct net_ref {
	char host[REF_HOST_MAX];     /* "docker.io", "localhost:5000", "[::1]:5000" */
	char path[REF_PATH_MAX];     /* "library/busybox" */
	char tag[REF_TAG_MAX];       /* "latest" by default; "" when only a digest was given */
	char digest[DIGEST_STR_MAX]; /* "sha256:..." or "" */
};

/* Parses s into ref. Returns 0, or -EINVAL with err saying what is wrong
 * ("invalid reference 'Foo': repository name must be lowercase"). */
int net_ref_parse(const char *s, struct net_ref *ref, struct berr *err);

/* Writes the full name "host/path[:tag][@digest]" into buf. With familiar,
 * Docker Hub names are shortened as docker shows them ("busybox:latest",
 * "user/app:1"). Returns 0 or -ENAMETOOLONG. */
int net_ref_format(const struct net_ref *ref, bool familiar, char *buf, size_t len);

/* The repository without tag/digest: "docker.io/library/busybox" (or
 * "busybox" with familiar). */
int net_ref_repo(const struct net_ref *ref, bool familiar, char *buf, size_t len);

/* Host to talk to for the registry API: "registry-1.docker.io" for
 * docker.io, the host itself otherwise. */
const char *net_ref_api_host(const struct net_ref *ref);

#endif
