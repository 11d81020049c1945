/* Container creation shared by `berth run/create` and the API's
 * POST /containers/create: docker's options, turned into config.json the
 * same way for both. */
#ifndef BERTH_AGENT_RUN_H
#define BERTH_AGENT_RUN_H

#include <stdbool.h>

#include "agent/flags.h"
#include "board/err.h"

struct cJSON;

struct run_flags {
	bool detach, interactive, tty, rm, read_only, privileged, init, publish_all, no_healthcheck;
	const char *name, *entrypoint, *workdir, *user, *hostname, *memory, *memory_swap, *cpus,
		*restart, *network, *pull, *platform, *stop_signal, *health_cmd, *health_interval,
		*health_timeout, *health_start_period;
	int cpu_shares, pids_limit, stop_timeout, health_retries;
	bool pids_set;
	struct agent_strlist env, env_file, volumes, volumes_from, tmpfs, cap_add, cap_drop,
		log_opt, publish, labels, attach, expose, links, security_opt;
	const struct cJSON *entrypoint_v; /* the API's array form; NULL: entrypoint */
};

/* Builds a new container's config.json (*out, caller owns) from f, the image
 * (which must be in the store) and the command (argc/argv, may be 0).
 * Returns 0 or -errno with err (-ENOENT "No such image: x"). */
int agent_run_config(const char *root, struct run_flags *f, const char *image, int argc,
		     char **argv, struct cJSON **out, struct berr *err);

#endif
