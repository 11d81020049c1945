/* Starting a container's process: namespaces (unshare()+fork(), which works
 * under qemu-user where clone() with CLONE_NEW* does not), the overlay
 * rootfs, /proc /sys /dev, masked paths, volumes, capabilities, the user
 * switch and exec; and joining a running container for exec. */
#ifndef BERTH_RT_CONTAINER_H
#define BERTH_RT_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "board/err.h"
#include "runtime/cgroup.h"

#define RT_MOUNTS_MAX 64
#define RT_LAYERS_MAX 128

/* Exit codes a failed start maps to, as docker's. */
enum {
	RT_EXIT_FAIL = 125,    /* berth could not set the container up */
	RT_EXIT_NOEXEC = 126,  /* the command is not executable */
	RT_EXIT_NOTFOUND = 127 /* the command was not found */
};

enum rt_mount_kind { RT_MNT_BIND, RT_MNT_TMPFS };

struct rt_mount {
	enum rt_mount_kind kind;
	bool ro;
	const char *src;  /* bind: host path, must exist */
	const char *dst;  /* absolute path inside the container; created when missing */
	const char *opts; /* tmpfs: mount options ("size=64m,mode=1777"), may be NULL */
	bool copy_up;     /* bind of a volume: fill it from the image when empty */
};

/* Everything needed to start one process in a new container. The strings
 * belong to the caller and must live until rt_spawn returns. */
struct rt_spec {
	const char *dir;           /* containers/<id>: holds upper/, work/, rootfs/, l/ and
				    * the files hostname, hosts, resolv.conf */
	const char *const *layers; /* unpacked layer trees, lowest first */
	int nlayers;
	char *const *argv; /* the command; argv[0] is looked up in the container's PATH */
	char *const *env;  /* "K=V", NULL-terminated */
	const char *cwd;   /* NULL or "": "/" */
	const char *user;  /* NULL/"": root; "name", "uid", "uid:gid", "name:group" */
	const char *hostname;
	const struct rt_mount *mounts;
	int nmounts;
	bool readonly_rootfs;
	bool privileged; /* all capabilities, no masked paths, keeps new privileges */
	bool unconfined; /* no seccomp filter (always so when privileged) */
	bool host_net;   /* share the host's network namespace */
	int netns_fd;    /* join this network namespace (--network container:X); -1: none */
	/* Called in the caller once pid (the container's pid 1) is in its new
	 * network namespace, before it goes on: moves and configures its
	 * interfaces from the host side. NULL: loopback only. */
	int (*net_setup)(void *arg, pid_t pid, struct berr *err);
	void *net_arg;
	bool init;     /* a tiny reaping init as pid 1 runs the command */
	uint64_t caps; /* capability set (bit n = capability n), see rt_caps_* */
	int stdio[3];  /* the command's stdin, stdout, stderr */
	bool tty;      /* stdio[0] is a terminal: make it the controlling tty and
			* /dev/console */
};

/* Docker's default capability set. */
uint64_t rt_caps_default(void);
/* Parses a capability name as docker accepts it ("NET_ADMIN", "CAP_NET_ADMIN",
 * lower case too, or "ALL"). Returns the mask or 0 with err. */
uint64_t rt_caps_parse(const char *name, struct berr *err);
/* Writes the names of the capabilities in mask, comma-separated. */
void rt_caps_format(uint64_t mask, char *out, size_t len);

/* Starts the container's pid 1 in new pid, mount, uts, ipc, net and cgroup
 * namespaces, inside cg, and returns its pid (as seen by the caller, which is
 * its parent and must reap it). Returns 0 and fills *pid once the command
 * was exec'd; or a negative errno with err and *code set to the exit code
 * docker would give (125, 126 not executable, 127 not found), after reaping
 * the child.
 *
 * The caller's own namespaces do not change. Call it from a process that
 * exists to monitor this container: it is pid 1's parent. */
int rt_spawn(const struct rt_spec *s, const struct rt_cgroup *cg, pid_t *pid, int *code,
	     struct berr *err);

/* What `exec` runs in a running container. */
struct rt_exec {
	pid_t target; /* the container's pid 1, as seen from the host */
	char *const *argv;
	char *const *env; /* full environment */
	const char *cwd;  /* NULL: the container's working directory */
	const char *user;
	uint64_t caps;
	bool privileged;
	bool unconfined; /* no seccomp filter, as the container */
	int stdio[3];
	bool tty;
};

/* Starts a process in target's namespaces and cgroup. Returns 0 with *pid
 * (a child of the caller) once the command is exec'd, or -errno with err and
 * *code as for rt_spawn. */
int rt_exec_spawn(const struct rt_exec *x, const struct rt_cgroup *cg, pid_t *pid, int *code,
		  struct berr *err);

/* Mounts the container's filesystem (its changes over the image's layers)
 * read-only on <dir>/rootfs, for export. Only s->dir and the layers are
 * used. Call it in a private mount namespace; changes the cwd to s->dir. */
int rt_rootfs_mount_ro(const struct rt_spec *s, struct berr *err);

/* Exit status of a reaped process as docker reports it: the code, or 128+signal. */
int rt_exit_code(int wstatus);

#endif
