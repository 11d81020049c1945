/* cgroup v2 backend: the unified hierarchy's interface files (kernel
 * admin-guide/cgroup-v2.rst: memory.max, memory.swap.max, cpu.max,
 * cpu.weight, pids.max, cgroup.freeze, cgroup.kill, subtree_control). */
#include "cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define V2_CPU_PERIOD 100000 /* us, the kernel's default */

static const enum rt_cg_ctrl v2_ctrls[] = { RT_CG_MEMORY, RT_CG_CPU, RT_CG_PIDS };
#define V2_NCTRLS (sizeof(v2_ctrls) / sizeof(v2_ctrls[0]))

/* Enables the wanted controllers in dir's subtree_control: all in one write,
 * and when the kernel refuses that (one controller cannot be enabled, e.g.
 * cpu while real-time tasks exist), one by one so that only a needed one
 * fails. */
static int v2_enable_in(const char *dir, const bool want[], unsigned need, struct berr *err)
{
	char all[64] = "";
	for (size_t i = 0; i < V2_NCTRLS; i++) {
		if (want[i])
			snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s+%s",
				 all[0] ? " " : "", rt_cg_names[v2_ctrls[i]]);
	}
	if (!all[0] || rt_cg_write(dir, "cgroup.subtree_control", all, NULL) == 0)
		return 0;
	for (size_t i = 0; i < V2_NCTRLS; i++) {
		enum rt_cg_ctrl c = v2_ctrls[i];
		char one[16];
		if (!want[i])
			continue;
		snprintf(one, sizeof(one), "+%s", rt_cg_names[c]);
		int r = rt_cg_write(dir, "cgroup.subtree_control", one,
				    need & (1u << c) ? err : NULL);
		if (r < 0 && (need & (1u << c)))
			return r;
	}
	return 0;
}

int rt_cg_v2_enable(const struct rt_cg_host *h, const char *name, unsigned need, struct berr *err)
{
	bool want[V2_NCTRLS];
	for (size_t i = 0; i < V2_NCTRLS; i++)
		want[i] = h->on_v2[v2_ctrls[i]];
	char dir[PATH_MAX];
	size_t len = (size_t)snprintf(dir, sizeof(dir), "%s", h->v2);
	/* The root, then each parent of the group, top down: a controller can
	 * only be enabled where the parent enabled it. */
	for (const char *p = name;;) {
		int r = v2_enable_in(dir, want, need, err);
		if (r < 0)
			return r;
		const char *slash = strchr(p, '/');
		if (!slash)
			return 0;
		len += (size_t)snprintf(dir + len, sizeof(dir) - len, "/%.*s", (int)(slash - p), p);
		p = slash + 1;
	}
}

int rt_cg_v2_kill(const char *dir, struct berr *err)
{
	return rt_cg_write(dir, "cgroup.kill", "1", err);
}

static int v2_memory(const char *dir, const struct rt_cg_limits *l, struct berr *err)
{
	if (l->memory) {
		int r = rt_cg_write_i64(dir, "memory.max", l->memory, err);
		if (r < 0)
			return r;
	}
	if (!l->memory_swap)
		return 0;
	/* Without swap accounting swap is unlimited anyway. */
	const char *file = "memory.swap.max";
	if (!rt_cg_exists(dir, file) && l->memory_swap == -1)
		return 0;
	if (!rt_cg_exists(dir, file))
		return berr_setmsg(err, ENOTSUP, "--memory-swap: no swap accounting (%s/%s)", dir,
				   file);
	/* v2 limits swap alone, v1 and the CLI count memory + swap. */
	int64_t swap = l->memory_swap == -1 ? -1 : l->memory_swap - l->memory;
	return rt_cg_write_i64(dir, file, swap, err);
}

static int v2_cpu(const char *dir, const struct rt_cg_limits *l, struct berr *err)
{
	char v[48];
	if (l->cpu_milli) {
		snprintf(v, sizeof(v), "%lld %d", (long long)l->cpu_milli * V2_CPU_PERIOD / 1000,
			 V2_CPU_PERIOD);
		int r = rt_cg_write(dir, "cpu.max", v, err);
		if (r < 0)
			return r;
	}
	if (l->cpu_shares) {
		/* v1 shares 2..262144 onto weight 1..10000, as runc and crun map them. */
		uint64_t weight = 1 + ((l->cpu_shares - 2) * 9999) / 262142;
		snprintf(v, sizeof(v), "%llu", (unsigned long long)weight);
		return rt_cg_write(dir, "cpu.weight", v, err);
	}
	return 0;
}

static int v2_limit(const char *dir, enum rt_cg_ctrl c, const struct rt_cg_limits *l,
		    struct berr *err)
{
	if (c == RT_CG_MEMORY)
		return v2_memory(dir, l, err);
	if (c == RT_CG_CPU)
		return v2_cpu(dir, l, err);
	if (c == RT_CG_PIDS)
		return rt_cg_write_i64(dir, "pids.max", l->pids, err);
	return 0;
}

static int v2_freeze_write(const char *dir, bool frozen, struct berr *err)
{
	return rt_cg_write(dir, "cgroup.freeze", frozen ? "1" : "0", err);
}

static int v2_freeze_read(const char *dir, bool *frozen, struct berr *err)
{
	uint64_t v;
	int r = rt_cg_read_key(dir, "cgroup.events", "frozen", &v, err);
	*frozen = r == 0 && v == 1;
	return r;
}

static int v2_stats(const char *dir, enum rt_cg_ctrl c, struct rt_cg_stats *st, struct berr *err)
{
	uint64_t v = 0;
	int r = 0;
	switch (c) {
	case RT_CG_MEMORY:
		r = rt_cg_read_u64(dir, "memory.current", &st->mem_usage, err);
		if (r == 0)
			r = rt_cg_read_u64(dir, "memory.max", &v, err);
		st->mem_limit = v == UINT64_MAX ? 0 : v;
		if (r == 0 && rt_cg_read_key(dir, "memory.events", "oom_kill", &v, NULL) == 0)
			st->oom_killed = v > 0;
		return r;
	case RT_CG_CPUACCT:
		r = rt_cg_read_key(dir, "cpu.stat", "usage_usec", &v, err);
		st->cpu_usage_ns = v * 1000;
		return r;
	case RT_CG_PIDS:
		return rt_cg_read_u64(dir, "pids.current", &st->pids, err);
	default:
		return 0;
	}
}

const struct rt_cg_backend rt_cg_v2 = {
	.limit = v2_limit,
	.freeze_write = v2_freeze_write,
	.freeze_read = v2_freeze_read,
	.stats = v2_stats,
};
