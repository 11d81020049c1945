/* cgroup v1 backend: one hierarchy per controller (kernel cgroup-v1/
 * memory.rst, cpu via sched-bwc.rst, pids.rst, freezer-subsystem.rst,
 * cpuacct.rst). Built with CONFIG_CGROUP_V1. */
#include "cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "board/fs.h"

#define V1_CPU_PERIOD 100000      /* us, the kernel's default */
#define V1_UNLIMITED (1ULL << 62) /* "no limit" reads as LONG_MAX rounded to a page */

static int v1_memory(const char *dir, const struct rt_cg_limits *l, struct berr *err)
{
	const char *memsw = "memory.memsw.limit_in_bytes";
	char v[24];
	snprintf(v, sizeof(v), "%lld", (long long)l->memory_swap);
	/* Without swap accounting (swapaccount=0) swap is unlimited anyway. */
	if (l->memory_swap && l->memory_swap != -1 && !rt_cg_exists(dir, memsw))
		return berr_setmsg(err, ENOTSUP,
				   "--memory-swap: no swap accounting (%s/%s; swapaccount=1)", dir,
				   memsw);
	bool set_memsw = l->memory_swap && rt_cg_exists(dir, memsw);
	if (l->memory) {
		int r = rt_cg_write_i64(dir, "memory.limit_in_bytes", l->memory, err);
		/* memsw may never be below the limit: on a reused group whose old
		 * memsw is smaller than the new limit, raise memsw first. */
		if (r == -EINVAL && set_memsw) {
			r = rt_cg_write(dir, memsw, v, err);
			if (r == 0)
				r = rt_cg_write_i64(dir, "memory.limit_in_bytes", l->memory, err);
		}
		if (r < 0)
			return r;
	}
	return set_memsw ? rt_cg_write(dir, memsw, v, err) : 0;
}

static int v1_cpu(const char *dir, const struct rt_cg_limits *l, struct berr *err)
{
	char v[24];
	if (l->cpu_milli) {
		snprintf(v, sizeof(v), "%d", V1_CPU_PERIOD);
		int r = rt_cg_write(dir, "cpu.cfs_period_us", v, err);
		if (r < 0)
			return r;
		snprintf(v, sizeof(v), "%lld", (long long)l->cpu_milli * V1_CPU_PERIOD / 1000);
		r = rt_cg_write(dir, "cpu.cfs_quota_us", v, err);
		if (r < 0)
			return r;
	}
	if (l->cpu_shares) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)l->cpu_shares);
		return rt_cg_write(dir, "cpu.shares", v, err);
	}
	return 0;
}

static int v1_limit(const char *dir, enum rt_cg_ctrl c, const struct rt_cg_limits *l,
		    struct berr *err)
{
	if (c == RT_CG_MEMORY)
		return v1_memory(dir, l, err);
	if (c == RT_CG_CPU)
		return v1_cpu(dir, l, err);
	if (c == RT_CG_PIDS)
		return rt_cg_write_i64(dir, "pids.max", l->pids, err);
	return 0;
}

static int v1_freeze_write(const char *dir, bool frozen, struct berr *err)
{
	return rt_cg_write(dir, "freezer.state", frozen ? "FROZEN" : "THAWED", err);
}

static int v1_freeze_read(const char *dir, bool *frozen, struct berr *err)
{
	char p[PATH_MAX], buf[32];
	snprintf(p, sizeof(p), "%s/freezer.state", dir);
	ssize_t n = fs_read_file(p, buf, sizeof(buf), err);
	if (n < 0)
		return (int)n;
	/* "FREEZING" while tasks are still running towards the freezer. */
	*frozen = !strncmp(buf, "FROZEN", 6);
	return 0;
}

static int v1_stats(const char *dir, enum rt_cg_ctrl c, struct rt_cg_stats *st, struct berr *err)
{
	uint64_t v = 0;
	int r;
	switch (c) {
	case RT_CG_MEMORY:
		r = rt_cg_read_u64(dir, "memory.usage_in_bytes", &st->mem_usage, err);
		if (r == 0)
			r = rt_cg_read_u64(dir, "memory.limit_in_bytes", &v, err);
		st->mem_limit = v >= V1_UNLIMITED ? 0 : v;
		if (r < 0)
			return r;
		/* oom_kill counts kills since 4.13; before, a hit limit is the
		 * best hint there is. */
		if (rt_cg_read_key(dir, "memory.oom_control", "oom_kill", &v, NULL) == 0 ||
		    rt_cg_read_u64(dir, "memory.failcnt", &v, NULL) == 0)
			st->oom_killed = v > 0;
		return 0;
	case RT_CG_CPUACCT:
		return rt_cg_read_u64(dir, "cpuacct.usage", &st->cpu_usage_ns, err);
	case RT_CG_PIDS:
		return rt_cg_read_u64(dir, "pids.current", &st->pids, err);
	default:
		return 0;
	}
}

const struct rt_cg_backend rt_cg_v1 = {
	.limit = v1_limit,
	.freeze_write = v1_freeze_write,
	.freeze_read = v1_freeze_read,
	.stats = v1_stats,
};
