/* Control groups for containers on cgroup v1, v2 and hybrid hosts: detect the
 * host's layout once, then create, limit, join, freeze, kill and remove a
 * container's group through one backend table. Kernel docs: cgroup-v1/,
 * admin-guide/cgroup-v2.rst. */
#ifndef BERTH_RT_CGROUP_H
#define BERTH_RT_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "board/err.h"

/* Controllers Berth uses. cpuacct (CPU time used) is its own v1 hierarchy on
 * many hosts; on v2 it and the freezer are core files of every group
 * (cpu.stat, cgroup.freeze). */
enum rt_cg_ctrl {
	RT_CG_MEMORY,
	RT_CG_CPU,
	RT_CG_PIDS,
	RT_CG_FREEZER,
	RT_CG_CPUACCT,
	RT_CG_NCTRL,
};

/* Room for a group directory: a mount point (at most RT_CG_DIR_MAX - 256
 * bytes; longer ones are ignored), "/" and a name (at most 127 bytes). Small,
 * because a monitor keeps a host and a group for its whole life. */
#define RT_CG_DIR_MAX 512

/* The host's layout, from /proc/self/mountinfo (or a test's fake root). */
struct rt_cg_host {
	/* "v1", "v2" or "hybrid"; "none" when no cgroup fs is mounted. */
	const char *layout;
	/* Mount point of the cgroup2 hierarchy ("" when none). */
	char v2[RT_CG_DIR_MAX];
	/* Mount point of the v1 hierarchy holding each controller, or "" when the
	 * controller is on v2 or missing. */
	char v1[RT_CG_NCTRL][RT_CG_DIR_MAX];
	/* Mount point of a v1 hierarchy used for process tracking when there is
	 * no v2 (name=systemd, else the first of v1[]), "" otherwise. */
	char v1_track[RT_CG_DIR_MAX];
	/* The controller can be used on v2: memory, cpu and pids are listed in
	 * the root's cgroup.controllers; freezer and cpuacct whenever v2 is
	 * mounted (core files). Mount points longer than RT_CG_DIR_MAX - 256
	 * are ignored, so "<mount>/<name>" always fits. */
	bool on_v2[RT_CG_NCTRL];
};

/* Limits as the CLI gives them; 0 means "not set". */
struct rt_cg_limits {
	int64_t memory;      /* bytes */
	int64_t memory_swap; /* memory + swap, bytes; -1 unlimited */
	int64_t cpu_milli;   /* --cpus in thousandths of a CPU */
	uint64_t cpu_shares; /* v1 shares (clamped to 2..262144); v2 weight converted */
	int64_t pids;        /* max tasks; -1 unlimited */
};

struct rt_cg_stats {
	uint64_t mem_usage, mem_limit; /* bytes; limit 0 when none */
	uint64_t cpu_usage_ns;
	uint64_t pids;   /* tasks (threads); processes when there is no pids controller */
	bool oom_killed; /* the kernel OOM-killed a process in the group */
};

/* One container's group: name relative to each hierarchy's root
 * ("berth/<id>"), and the resolved directories. */
struct rt_cgroup {
	const struct rt_cg_host *host;
	char name[128];
	char v2dir[RT_CG_DIR_MAX];              /* "" when unused */
	char v1dir[RT_CG_NCTRL][RT_CG_DIR_MAX]; /* "" when the controller is not on v1 */
	char trackdir[RT_CG_DIR_MAX];           /* v1 tracking group, "" when unused */
};

/* Reads the layout. mountinfo is the path to read ("/proc/self/mountinfo" in
 * real use; tests pass a file). Returns 0 or -errno. */
int rt_cgroup_detect(struct rt_cg_host *h, const char *mountinfo, struct berr *err);

/* Fills cg for name without touching the filesystem (for a group another
 * process created: stop, rm, exec, stats). h must outlive cg. A controller on
 * v1 uses its v1 hierarchy (when CONFIG_CGROUP_V1 is built), else v2. A name
 * longer than 127 bytes leaves cg->name empty, which create rejects. */
void rt_cgroup_init(struct rt_cgroup *cg, const struct rt_cg_host *h, const char *name);

/* Creates the group's directories (parents too; an existing group is reused)
 * and, on v2, enables the controllers in the parents' cgroup.subtree_control
 * (one that cannot be enabled is only an error when a limit needs it).
 * Applies limits; a limit the host cannot enforce (controller missing) fails
 * with -ENOTSUP and a message naming the flag ("--memory: no memory
 * controller on this host"); a bad value with -EINVAL. On any error, the
 * group directories this call created are removed (parents such as "berth"
 * are shared and stay). A host with no usable hierarchy (none mounted, or v1
 * only in a build without CONFIG_CGROUP_V1) fails with -ENOTSUP. */
int rt_cgroup_create(struct rt_cgroup *cg, const struct rt_cg_limits *l, struct berr *err);

/* Moves pid into every directory of the group. */
int rt_cgroup_enter(const struct rt_cgroup *cg, pid_t pid, struct berr *err);

/* Forks a child that is in the group from its start, without the write of
 * its pid to cgroup.procs that rt_cgroup_enter does (that write waits for an
 * RCU grace period: 5-15 ms here, the largest single cost of a container
 * start). clone3(CLONE_INTO_CGROUP) puts it in the v2 directory, and the
 * child writes "0" to each v1 hierarchy's tasks file (the writer alone moves,
 * which needs no global lock; the child has one thread). Returns as fork()
 * does. In the parent, *entered false means clone3 was not available (kernel
 * before 5.7, qemu-user) or refused: the child came from fork() and the
 * parent must call rt_cgroup_enter. In the child, *entered false means it
 * could not join a v1 hierarchy (err says which) and must fail. Call it only
 * in a process with one thread. */
pid_t rt_cgroup_fork(const struct rt_cgroup *cg, bool *entered, struct berr *err);

/* Freezes or thaws every process of the group; waits until the state holds
 * (at most 2 s: then a freeze is undone and -ETIMEDOUT returned). Uses the v1
 * freezer when it is mounted, else v2's cgroup.freeze (kernel 5.2). */
int rt_cgroup_freeze(const struct rt_cgroup *cg, bool frozen, struct berr *err);

/* Sends sig to every process in the group: SIGKILL through v2's cgroup.kill
 * (kernel 5.14) when there is one, else to each pid listed, with the group
 * frozen meanwhile for SIGKILL so that nothing forks out of reach. */
int rt_cgroup_kill(const struct rt_cgroup *cg, int sig, struct berr *err);

/* Lists up to max pids of the group into pids; returns the count or -errno. */
int rt_cgroup_pids(const struct rt_cgroup *cg, pid_t *pids, int max, struct berr *err);

/* Fills st from the group's counters; a controller the host lacks leaves its
 * fields 0 (pids then counts the processes listed). */
int rt_cgroup_stats(const struct rt_cgroup *cg, struct rt_cg_stats *st, struct berr *err);

/* Removes the group's directories (it must be empty: kill and reap first;
 * retries for up to 1 s while the kernel finishes tearing tasks down), not
 * the shared parents. Missing directories are not an error. */
int rt_cgroup_remove(const struct rt_cgroup *cg, struct berr *err);

/* --- Internal to runtime/cgroup*.c: backends and shared helpers. --- */

/* One cgroup version's way of driving a controller in a group directory.
 * cgroup.c picks a table per controller (rt_cg_v1 only with CONFIG_CGROUP_V1). */
struct rt_cg_backend {
	/* Writes the limits of l that belong to controller c into dir. */
	int (*limit)(const char *dir, enum rt_cg_ctrl c, const struct rt_cg_limits *l,
		     struct berr *err);
	/* Asks for the frozen or thawed state; freeze_read tells whether the
	 * group has reached the frozen state. */
	int (*freeze_write)(const char *dir, bool frozen, struct berr *err);
	int (*freeze_read)(const char *dir, bool *frozen, struct berr *err);
	/* Fills the fields of st that controller c counts. */
	int (*stats)(const char *dir, enum rt_cg_ctrl c, struct rt_cg_stats *st, struct berr *err);
};

extern const struct rt_cg_backend rt_cg_v1, rt_cg_v2;
extern const char *const rt_cg_names[RT_CG_NCTRL];

/* Interface files of dir: write val in one write(); read a value or "max"
 * (UINT64_MAX); read the number after "key " in a flat-keyed file (-ENODATA
 * when the key is absent). */
int rt_cg_write(const char *dir, const char *file, const char *val, struct berr *err);
int rt_cg_write_i64(const char *dir, const char *file, int64_t v, struct berr *err); /* -1: "max" */
int rt_cg_read_u64(const char *dir, const char *file, uint64_t *v, struct berr *err);
int rt_cg_read_key(const char *dir, const char *file, const char *key, uint64_t *v,
		   struct berr *err);
bool rt_cg_exists(const char *dir, const char *file);

/* v2 only. Enables the v2 controllers of h in cgroup.subtree_control of the
 * root and of every parent of name; need is a mask of (1 << ctrl) that a limit
 * requires, the others may fail. */
int rt_cg_v2_enable(const struct rt_cg_host *h, const char *name, unsigned need, struct berr *err);
/* Writes "1" to dir's cgroup.kill (-ENOENT when the kernel has none). */
int rt_cg_v2_kill(const char *dir, struct berr *err);

#endif
