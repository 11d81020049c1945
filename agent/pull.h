/* Pulling an image into the store: the one implementation the CLI (and later
 * the daemon) use. Layers download and unpack in worker processes, at most
 * max-concurrent-downloads at once, each resuming from what is on disk. */
#ifndef BERTH_AGENT_PULL_H
#define BERTH_AGENT_PULL_H

#include <stdbool.h>
#include <stdio.h>

#include "agent/settings.h"
#include "board/err.h"
#include "store/manifest.h"

struct agent_pull_opts {
	const char *root; /* data root */
	const struct agent_config *cfg;
	struct store_platform platform; /* wanted platform */
	bool quiet;                     /* no per-layer lines */
	bool json;                      /* progress as the Docker API's JSON lines */
	FILE *out;                      /* progress and result lines */
};

/* Pulls refstr. On success writes the image id (config digest) to id and
 * returns 0; otherwise -errno with err ("pull busybox: ..."). Nothing
 * incomplete becomes visible: the image record is written last. */
int agent_pull(const struct agent_pull_opts *po, const char *refstr, char id[DIGEST_STR_MAX],
	       struct berr *err);

struct store;
/* Resolves NAME[:TAG], NAME@DIGEST or a full or short image id to an image
 * id in the store. -ENOENT ("no such image: x") when there is none. */
int agent_image_resolve(const struct store *s, const char *arg, char id[DIGEST_STR_MAX],
			struct berr *err);

#endif
