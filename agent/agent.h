/* The agent: the CLI front end and (later) the daemon. Only code in agent/
 * decides to exit; everything below returns errors with context. */
#ifndef BERTH_AGENT_H
#define BERTH_AGENT_H

#include <stdbool.h>
#include <stdio.h>

#include "board/err.h"

#define BERTH_VERSION "0.1.0"

/* Exit codes: 0 ok, 1 failure, 2 usage. */
enum { AGENT_EXIT_OK = 0, AGENT_EXIT_FAIL = 1, AGENT_EXIT_USAGE = 2 };

/* Options shared by every command, parsed before the command name. */
struct agent_opts {
	const char *root;        /* data root, --root; default AGENT_DEFAULT_ROOT */
	bool root_set;           /* --root given: it wins over daemon.json's data-root */
	const char *config_file; /* --config-file; NULL: $BERTH_CONFIG/daemon.json */
	const char *host;        /* the daemon's socket path when commands go through
				  * its API (-H, BERTH_HOST, or the default one
				  * answering); NULL: work on the store directly */
};

#define AGENT_DEFAULT_ROOT "/var/lib/berth"
#define AGENT_SOCK_DEFAULT "/run/berth/berth.sock"

/* A command gets its own argv (argv[0] is the command name) and returns an
 * exit code. */
typedef int agent_cmd_fn(const struct agent_opts *o, int argc, char **argv);

agent_cmd_fn agent_cmd_version;
agent_cmd_fn agent_cmd_info;
agent_cmd_fn agent_cmd_daemon;
agent_cmd_fn agent_cmd_pull;
agent_cmd_fn agent_cmd_images;
agent_cmd_fn agent_cmd_image;
agent_cmd_fn agent_cmd_inspect;
agent_cmd_fn agent_cmd_tag;
agent_cmd_fn agent_cmd_rmi;
agent_cmd_fn agent_cmd_system;
agent_cmd_fn agent_cmd_login;
agent_cmd_fn agent_cmd_logout;
agent_cmd_fn agent_cmd_search;
agent_cmd_fn agent_cmd_run;
agent_cmd_fn agent_cmd_create;
agent_cmd_fn agent_cmd_start;
agent_cmd_fn agent_cmd_attach;
agent_cmd_fn agent_cmd_ps;
agent_cmd_fn agent_cmd_stop;
agent_cmd_fn agent_cmd_restart;
agent_cmd_fn agent_cmd_kill;
agent_cmd_fn agent_cmd_rm;
agent_cmd_fn agent_cmd_wait;
agent_cmd_fn agent_cmd_logs;
agent_cmd_fn agent_cmd_rename;
agent_cmd_fn agent_cmd_pause;
agent_cmd_fn agent_cmd_unpause;
agent_cmd_fn agent_cmd_top;
agent_cmd_fn agent_cmd_stats;
agent_cmd_fn agent_cmd_exec;
agent_cmd_fn agent_cmd_export;
agent_cmd_fn agent_cmd_container;
agent_cmd_fn agent_cmd_volume;
agent_cmd_fn agent_cmd_port;
agent_cmd_fn agent_cmd_events;
struct cJSON;
/* A container as docker inspect shows it, or NULL when ref names none. */
struct cJSON *agent_container_json(const char *root, const char *ref);
/* Containers as GET /containers/json lists them (docker's filters object,
 * may be NULL), newest first; NULL with err when the list cannot be read. */
struct cJSON *agent_containers_json(const char *root, bool all, const struct cJSON *filters,
				    struct berr *err);
/* Prints j through a Go-template subset: {{.A.B}}, {{json .A}}, {{.A}} of
 * an array joined by spaces; other text as is; a newline at the end. */
void agent_print_format(const struct cJSON *j, const char *fmt);
/* Prints a list as inspect does: indented JSON, or each item through a
 * format; frees the list. */
void agent_print_json_list(struct cJSON *arr, const char *format);

/* Removes the stopped containers: {"ContainersDeleted": [ids],
 * "SpaceReclaimed": bytes}; NULL with err when they cannot be listed. */
struct cJSON *agent_containers_prune(const char *root, struct berr *err);
/* Prints a prune answer as docker does: "TITLE:", the ids or names under
 * key, a blank line, "Total reclaimed space: SIZE". */
void agent_prune_print(const struct cJSON *j, const char *key, const char *title);

/* One sample of a container's counters for stats (zeros when it is not
 * running) and the host's CPU time, as docker's stats JSON reports them. */
struct agent_stats_sample {
	bool running;
	unsigned long long cpu_ns, system_ns, mem_usage, mem_limit, pids;
};
#define AGENT_STATS_SAMPLE_MS 250 /* between the two samples of stats --no-stream */
struct agent_ctr;
void agent_stats_sample(const struct agent_ctr *c, struct agent_stats_sample *s);
/* docker's stats JSON (GET /containers/{id}/stats) for c from two samples. */
struct cJSON *agent_stats_json(const struct agent_ctr *c, const struct agent_stats_sample *prev,
			       const struct agent_stats_sample *cur);

/* GET /info's answer for a data root, with Berth's own "Berth" object
 * (board, features, device identity) that `berth info` prints. */
struct cJSON *agent_info_json(const char *root);

/* The JSON the API handler at path answers: from the daemon (-H), or built
 * here on the store by local, the function the handler calls. NULL with err
 * ("config: ..." when the config does not load). */
struct cJSON *agent_json_of(const struct agent_opts *o, const char *path,
			    struct cJSON *(*local)(const char *root, struct berr *err),
			    struct berr *err);
/* GET /system/df's answer (docker's shape; sizes as `berth system df`
 * counts them); NULL with err when the store cannot be read. */
struct cJSON *agent_df_json(const char *root, struct berr *err);
/* Removes images without tags (all: every image no container uses), then
 * unused layers: {"ImagesDeleted": [{"Untagged"|"Deleted": ...}],
 * "SpaceReclaimed": bytes}; NULL with err when the store cannot be read. */
struct cJSON *agent_images_prune(const char *root, bool all, struct berr *err);
/* Removes unused anonymous (all: every unused) volumes: {"VolumesDeleted":
 * [names], "SpaceReclaimed": bytes}. */
struct cJSON *agent_volumes_prune_json(const char *root, bool all);

/* Images for the API (docker's JSON shapes). */
struct cJSON *agent_images_json(const char *root, bool all);
struct cJSON *agent_image_json(const char *root, const char *name);
int agent_image_tag(const char *root, const char *src, const char *target, struct berr *err);
/* Removes as rmi does; res (may be NULL: print) gets {"Untagged"|"Deleted": ...}. */
int agent_image_remove(const char *root, const char *name, bool force, struct cJSON *res,
		       struct berr *err);

/* Prints "berth: error: <msg>" on one line to stderr and returns AGENT_EXIT_FAIL.
 * The message must already name what failed and on which object. */
int agent_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Same for usage errors; returns AGENT_EXIT_USAGE. */
int agent_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Rejects any argument after the command name (for commands that take none). */
int agent_no_args(int argc, char **argv);

/* Byte counts as docker prints them: "532B", "12.3kB", "1.08MB", "2.1GB". */
void agent_human_size(long long bytes, char *out, size_t len);

/* The architecture and feature list compiled in, for version and info. */
const char *agent_arch(void);
void agent_print_features(FILE *f);

#endif
