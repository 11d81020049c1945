/* Containers as the agent keeps them: containers/<id>/config.json (what was
 * asked for, docker's field names) beside the runtime's state file; lookup
 * by id, id prefix or name; and the one implementation of create, start,
 * stop and remove that the CLI (and later the daemon) use. */
#ifndef BERTH_AGENT_CONTAINER_H
#define BERTH_AGENT_CONTAINER_H

#include <limits.h>
#include <stdbool.h>

#include "board/err.h"
#include "runtime/state.h"

struct cJSON;
struct agent_opts;
struct agent_config;

#define AGENT_CTR_ID_LEN 64
#define AGENT_NAME_MAX 128
#define AGENT_CTR_CONFIG_MAX (1 << 20)

struct agent_ctr {
	char id[AGENT_CTR_ID_LEN + 1];
	char name[AGENT_NAME_MAX]; /* without docker's leading '/' */
	char dir[PATH_MAX];
	struct cJSON *cfg; /* config.json */
	struct rt_state st;
	bool paused;
	bool dead; /* its monitor died without recording the exit (crash, power cut) */
};

/* Where containers and volumes live under a data root. */
void agent_ctr_root(const char *root, char *out, size_t len);

/* Finds a container by full id, unique id prefix or name. Returns 0, or
 * -ENOENT ("no such container: x") / -EINVAL (ambiguous). */
int agent_ctr_find(const char *root, const char *ref, struct agent_ctr *c, struct berr *err);
/* The same by exact name only (a name that reads as another container's id
 * prefix never matches that container): for the fleet's specs. */
int agent_ctr_find_name(const char *root, const char *name, struct agent_ctr *c, struct berr *err);

/* Loads every container, newest first (*out malloc'd, caller frees each with
 * agent_ctr_free and then the array). Returns the count or -errno. */
int agent_ctr_list(const char *root, struct agent_ctr **out, struct berr *err);
void agent_ctr_free(struct agent_ctr *c);

/* Re-reads the state (and paused flag) of c. */
void agent_ctr_refresh(struct agent_ctr *c);

/* True while the container's monitor runs (running or paused). */
bool agent_ctr_running(const struct agent_ctr *c);

/* Creates containers/<id>/ from cfg (which the new container takes over):
 * checks the name is free (or picks one), writes config.json and state.
 * Returns 0 or -errno; nothing is left behind on failure. */
int agent_ctr_create(const char *root, struct cJSON *cfg, struct agent_ctr *c, struct berr *err);

/* How start hands the container's stdio to the caller. */
struct agent_attach {
	bool attach;   /* connect to the monitor and relay until the container exits */
	bool stdin_on; /* relay our stdin (-i) */
	bool tty;      /* our terminal in raw mode, window size forwarded */
	bool sig_proxy;
	int policy_restart;   /* restart count to record (daemon restarts); -1: keep */
	bool hold_for_attach; /* the monitor waits for an attach client someone else makes */
};

/* True when the user stopped it (stop, kill): restart policies leave it. */
bool agent_ctr_user_stopped(const struct agent_ctr *c);

/* Starts c under a new monitor. With a->attach, relays stdio and returns the
 * container's exit code (>= 0); otherwise returns 0 once it runs. On failure
 * returns -1 with err and *code the exit code docker gives (125/126/127). */
int agent_ctr_start(const char *root, const struct agent_config *cfg, struct agent_ctr *c,
		    const struct agent_attach *a, int *code, struct berr *err);

/* --security-opt seccomp=unconfined in the container's config. */
bool agent_ctr_unconfined(const struct cJSON *cfg);

/* Docker's detach keys, ctrl-p ctrl-q, in what a terminal user types. */
struct agent_detach {
	bool held; /* a ctrl-p waits for the next byte */
};

/* Copies in[0..n) to out (room for n + 1 bytes) without the keys: a ctrl-p
 * is held back until the next byte shows it is not the sequence. True when
 * the sequence was typed (what follows it is dropped). */
bool agent_detach_keys(struct agent_detach *d, const unsigned char *in, size_t n,
		       unsigned char *out, size_t *olen);

/* Writes all of buf to fd (EINTR retried). Returns 0 or -1 with errno. */
int agent_write_all(int fd, const void *buf, size_t n);

/* Puts our terminal (fd 0) in raw mode, keeping its settings in saved.
 * False when fd 0 is not a terminal. */
struct termios;
bool agent_term_raw(struct termios *saved);

/* Attaches to a running container (attach, start -a). Returns its exit code,
 * or -1 with err. */
int agent_ctr_attach(struct agent_ctr *c, const struct agent_attach *a, struct berr *err);

/* Stops: sig (SIGTERM unless the image set StopSignal), then SIGKILL after
 * timeout seconds; waits for the monitor to record the exit. */
int agent_ctr_stop(struct agent_ctr *c, int sig, int timeout, struct berr *err);

/* Sends sig to the container's pid 1. */
int agent_ctr_kill(struct agent_ctr *c, int sig, struct berr *err);

/* Waits until the container is not running; returns its exit code. */
int agent_ctr_wait(struct agent_ctr *c, struct berr *err);

/* Removes a stopped container (force: kill it first) and, with volumes, its
 * anonymous volumes. */
int agent_ctr_remove(const char *root, struct agent_ctr *c, bool force, bool volumes,
		     struct berr *err);

/* Writes the container's filesystem as a tar archive to out (in a child
 * process with its own mount namespace, so no mount is left behind). */
int agent_ctr_export(const char *root, struct agent_ctr *c, int out, struct berr *err);
/* The tar writer behind it: the tree under dirfd, to out. */
int agent_tar_tree(int dirfd, int out, struct berr *err);

/* Runs a command in a running container (exec), with the container's
 * environment plus env, its user and working directory unless given, its
 * capabilities and cgroup. Returns 0 with *pid (a child of the caller;
 * reap it for the exit code), or -errno with err and *code (125/126/127). */
struct agent_exec_opts {
	char *const *argv;
	const char *const *env; /* "K=V" or "K" (from our environment) */
	int nenv;
	const char *user, *workdir;
	bool privileged, tty;
};
int agent_exec_run(struct agent_ctr *c, const struct agent_exec_opts *o, const int stdio[3],
		   pid_t *pid, int *code, struct berr *err);
/* A pty pair (master and slave, close-on-exec). */
int agent_pty(int *master, int *slave, struct berr *err);

/* Renames a container (the name must be free). */
int agent_ctr_rename(const char *root, const char *ref, const char *name, struct berr *err);

/* "Up 3 minutes (Paused)", "Exited (0) 2 seconds ago", "Created"; and the
 * state word docker uses ("running", "paused", "exited", "created"). */
void agent_ctr_status_text(const struct agent_ctr *c, char *out, size_t len);
const char *agent_ctr_state_word(const struct agent_ctr *c);
/* The healthcheck state the daemon keeps ({"Status", "FailingStreak", "Log"}),
 * or NULL when there is none. */
struct cJSON *agent_ctr_health(const struct agent_ctr *c);

/* Freezes or thaws a running container (pause, unpause). */
int agent_ctr_pause(struct agent_ctr *c, bool freeze, struct berr *err);
/* ps -ef's view of its processes: {"Titles": [...], "Processes": [[...]]}. */
struct cJSON *agent_top_json(struct agent_ctr *c, struct berr *err);

/* Volumes as the API shows them, and their removal and pruning. */
struct cJSON *agent_volumes_json(const char *root);
struct cJSON *agent_volume_json(const char *root, const char *name);
int agent_volume_remove(const char *root, const char *name, bool force, struct berr *err);
/* Removes unused anonymous (all: every unused) volumes; returns their names. */
struct cJSON *agent_volumes_prune(const char *root, bool all);

/* The cgroup name of a container. */
void agent_ctr_cgroup(const struct agent_ctr *c, char *out, size_t len);

/* Parses a signal name or number ("KILL", "SIGKILL", "9"); 0 when invalid. */
int agent_signal_parse(const char *s);

/* True when a container (running or not) was made from image id; name
 * (may be NULL) receives the first such container's name. */
bool agent_image_in_use(const char *root, const char *id, char *name, size_t len);

/* Volumes: <root>/volumes/<name>/_data. */
int agent_volume_path(const char *root, const char *name, char *out, size_t len);
/* Creates a volume if it does not exist (anonymous: removed with its
 * container by rm -v or --rm). */
int agent_volume_create(const char *root, const char *name, bool anonymous, struct berr *err);
bool agent_volume_name_ok(const char *name);

#endif
