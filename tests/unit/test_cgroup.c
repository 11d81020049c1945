/* Unit tests for runtime/cgroup*.c. Most run against a cgroupfs-shaped tree in
 * a temp dir with a fake mountinfo pointing at it. The kernel creates a
 * group's interface files when the group's directory is made; the fake tree
 * cannot, so each test pre-creates the group directory with the files the
 * kernel would put there (rt_cgroup_create reuses an existing group), and the
 * code writes into them exactly as on cgroupfs (no O_CREAT, no O_TRUNC): a
 * file's content is then the value written. A file left out plays a kernel
 * that lacks it (no swap accounting, no cgroup.kill). The last test uses the
 * real hierarchies when run as root. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "board/fs.h"
#include "config.h"
#include "runtime/cgroup.h"
#include "tap.h"

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static char root[64];

static void fresh(void)
{
	if (root[0])
		fs_rm_rf(root, NULL);
	strcpy(root, "/tmp/berth-cg-XXXXXX");
	if (!mkdtemp(root))
		exit(2);
}

/* root/rel, in one of a few rotating buffers (several per expression). */
static const char *P(const char *rel)
{
	static char bufs[8][PATH_MAX];
	static int i;
	char *b = bufs[i++ % 8];
	snprintf(b, PATH_MAX, "%s/%s", root, rel);
	return b;
}

static void put(const char *rel, const char *content)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", P(rel));
	*strrchr(dir, '/') = '\0';
	if (fs_mkdir_p(dir, 0755, NULL) < 0)
		exit(2);
	int fd = open(P(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		exit(2);
	close(fd);
}

static void putf(const char *dir, const char *file, const char *content)
{
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/%s", dir, file);
	put(rel, content);
}

static const char *get(const char *rel)
{
	static char bufs[4][256];
	static int i;
	char *b = bufs[i++ % 4];
	if (fs_read_file(P(rel), b, sizeof(bufs[0]), NULL) < 0)
		strcpy(b, "(missing)");
	return b;
}

static bool has(const char *rel)
{
	return access(P(rel), F_OK) == 0;
}

static void mk(const char *rel)
{
	if (fs_mkdir_p(P(rel), 0755, NULL) < 0)
		exit(2);
}

/* --- fake hosts --- */

struct mnt {
	const char *dir, *type, *opts;
};

/* Writes root/mountinfo listing the mounts (under root) and makes their
 * directories, plus lines a real mountinfo has that are not cgroups. */
static void mountinfo(const struct mnt *m, int n)
{
	char text[8192];
	int len = snprintf(text, sizeof(text),
			   "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
			   "31 23 0:28 / %s/fs rw,relatime - tmpfs tmpfs rw,mode=755\n",
			   root);
	for (int i = 0; i < n; i++) {
		len += snprintf(
			text + len, sizeof(text) - (size_t)len,
			"%d 31 0:%d / %s/fs/%s rw,nosuid,relatime shared:%d - %s %s rw,%s\n",
			32 + i, 29 + i, root, m[i].dir, 9 + i, m[i].type, m[i].type, m[i].opts);
		char rel[256];
		snprintf(rel, sizeof(rel), "fs/%s", m[i].dir);
		mk(rel);
	}
	put("mountinfo", text);
}

/* Exactly this build machine's layout: v1 controllers plus a cgroup2 mount
 * that only offers hugetlb. */
static const struct mnt hybrid_mounts[] = {
	{ "cpu", "cgroup", "cpu" },
	{ "cpuacct", "cgroup", "cpuacct" },
	{ "cpuset", "cgroup", "cpuset" },
	{ "memory", "cgroup", "memory" },
	{ "devices", "cgroup", "devices" },
	{ "freezer", "cgroup", "freezer" },
	{ "blkio", "cgroup", "blkio" },
	{ "pids", "cgroup", "pids" },
	{ "systemd", "cgroup", "xattr,name=systemd" },
	{ "unified", "cgroup2", "nsdelegate" },
};

/* A classic v1 host: cpu and cpuacct co-mounted. */
static const struct mnt v1_mounts[] = {
	{ "systemd", "cgroup", "xattr,name=systemd" },
	{ "cpu,cpuacct", "cgroup", "cpu,cpuacct" },
	{ "memory", "cgroup", "memory" },
	{ "pids", "cgroup", "pids" },
	{ "freezer", "cgroup", "freezer" },
	{ "devices", "cgroup", "devices" },
};

#define N(a) ((int)(sizeof(a) / sizeof(a[0])))

static void detect(struct rt_cg_host *h)
{
	struct berr e = { 0 };
	if (rt_cgroup_detect(h, P("mountinfo"), &e) < 0) {
		printf("# detect: %s\n", e.msg);
		exit(2);
	}
}

static void host_hybrid(struct rt_cg_host *h)
{
	fresh();
	mountinfo(hybrid_mounts, N(hybrid_mounts));
	put("fs/unified/cgroup.controllers", "hugetlb\n");
	put("fs/unified/cgroup.subtree_control", "");
	detect(h);
}

static void host_v1(struct rt_cg_host *h)
{
	fresh();
	mountinfo(v1_mounts, N(v1_mounts));
	detect(h);
}

/* cgroup2 alone at <root>/fs/cg with these controllers available. */
static void host_v2(struct rt_cg_host *h, const char *controllers)
{
	static const struct mnt m[] = { { "cg", "cgroup2", "nsdelegate" } };
	fresh();
	mountinfo(m, 1);
	put("fs/cg/cgroup.controllers", controllers);
	put("fs/cg/cgroup.subtree_control", "");
	detect(h);
}

/* What the kernel shows in a new v2 group "berth/c1" with memory, cpu and
 * pids enabled; kill adds cgroup.kill (5.14). */
static void group_v2(bool kill)
{
	static const char *const files[] = { "cgroup.procs",    "cgroup.freeze", "memory.max",
					     "memory.swap.max", "cpu.max",       "cpu.weight",
					     "pids.max" };
	put("fs/cg/berth/cgroup.subtree_control", "");
	fs_rm_rf(P("fs/cg/berth/c1"), NULL);
	for (int i = 0; i < N(files); i++)
		putf("fs/cg/berth/c1", files[i], "");
	putf("fs/cg/berth/c1", "cgroup.events", "populated 0\nfrozen 0\n");
	if (kill)
		putf("fs/cg/berth/c1", "cgroup.kill", "");
}

/* The same for v1 hierarchies (dirs as in hybrid_mounts or v1_mounts);
 * memsw only with swap accounting. */
static void group_v1(const struct mnt *m, int n, bool memsw)
{
	for (int i = 0; i < n; i++) {
		char d[256];
		snprintf(d, sizeof(d), "fs/%s/berth/c1", m[i].dir);
		fs_rm_rf(P(d), NULL);
		if (!strcmp(m[i].dir, "devices") || !strcmp(m[i].dir, "cpuset") ||
		    !strcmp(m[i].dir, "blkio"))
			continue; /* not used by Berth */
		putf(d, "cgroup.procs", "");
		if (!strcmp(m[i].dir, "memory")) {
			putf(d, "memory.limit_in_bytes", "");
			if (memsw)
				putf(d, "memory.memsw.limit_in_bytes", "");
		}
		if (!strncmp(m[i].dir, "cpu", 3) && strcmp(m[i].dir, "cpuset") &&
		    strcmp(m[i].dir, "cpuacct")) {
			putf(d, "cpu.cfs_quota_us", "");
			putf(d, "cpu.cfs_period_us", "");
			putf(d, "cpu.shares", "");
		}
		if (!strcmp(m[i].dir, "pids"))
			putf(d, "pids.max", "");
		if (!strcmp(m[i].dir, "freezer"))
			putf(d, "freezer.state", "THAWED");
	}
}

/* --- detection --- */

static void test_detect_hybrid(void)
{
	struct rt_cg_host h;
	host_hybrid(&h);
	T_EXPECT_STR(h.layout, "hybrid");
	T_EXPECT_STR(h.v2, P("fs/unified"));
	T_EXPECT_STR(h.v1[RT_CG_MEMORY], P("fs/memory"));
	T_EXPECT_STR(h.v1[RT_CG_CPU], P("fs/cpu"));
	T_EXPECT_STR(h.v1[RT_CG_CPUACCT], P("fs/cpuacct"));
	T_EXPECT_STR(h.v1[RT_CG_PIDS], P("fs/pids"));
	T_EXPECT_STR(h.v1[RT_CG_FREEZER], P("fs/freezer"));
	T_EXPECT_STR(h.v1_track, ""); /* v2 tracks processes */
	T_EXPECT(!h.on_v2[RT_CG_MEMORY] && !h.on_v2[RT_CG_CPU] && !h.on_v2[RT_CG_PIDS]);
	T_EXPECT(h.on_v2[RT_CG_FREEZER] && h.on_v2[RT_CG_CPUACCT]);

	struct rt_cgroup cg;
	rt_cgroup_init(&cg, &h, "berth/c1");
	T_EXPECT_STR(cg.v2dir, P("fs/unified/berth/c1"));
	T_EXPECT_STR(cg.v1dir[RT_CG_MEMORY], CONFIG_CGROUP_V1 ? P("fs/memory/berth/c1") : "");
	T_EXPECT_STR(cg.trackdir, "");
}

static void test_detect_v1(void)
{
	struct rt_cg_host h;
	host_v1(&h);
	T_EXPECT_STR(h.layout, "v1");
	T_EXPECT_STR(h.v2, "");
	T_EXPECT_STR(h.v1[RT_CG_CPU], P("fs/cpu,cpuacct"));
	T_EXPECT_STR(h.v1[RT_CG_CPUACCT], P("fs/cpu,cpuacct"));
	T_EXPECT_STR(h.v1[RT_CG_MEMORY], P("fs/memory"));
	T_EXPECT_STR(h.v1_track, P("fs/systemd"));
	for (int c = 0; c < RT_CG_NCTRL; c++)
		T_EXPECT(!h.on_v2[c]);

	/* Without name=systemd, a controller's hierarchy tracks processes. */
	fresh();
	mountinfo(v1_mounts + 1, N(v1_mounts) - 1);
	detect(&h);
	T_EXPECT_STR(h.v1_track, P("fs/memory"));
}

static void test_detect_v2(void)
{
	struct rt_cg_host h;
	host_v2(&h, "cpuset cpu io memory hugetlb pids rdma misc\n");
	T_EXPECT_STR(h.layout, "v2");
	T_EXPECT_STR(h.v2, P("fs/cg"));
	for (int c = 0; c < RT_CG_NCTRL; c++) {
		T_EXPECT(h.on_v2[c]);
		T_EXPECT_STR(h.v1[c], "");
	}
	host_v2(&h, "cpuset io pids\n");
	T_EXPECT(!h.on_v2[RT_CG_MEMORY] && !h.on_v2[RT_CG_CPU] && h.on_v2[RT_CG_PIDS]);
}

static void test_detect_escapes_none_and_errors(void)
{
	struct rt_cg_host h;
	struct berr e = { 0 };
	fresh();
	char text[512];
	snprintf(text, sizeof(text),
		 "40 31 0:37 / %s/my\\040cgroup rw,relatime - cgroup2 cgroup2 rw\n", root);
	put("mountinfo", text);
	detect(&h);
	T_EXPECT_STR(h.v2, P("my cgroup"));
	T_EXPECT_STR(h.layout, "v2");

	put("mountinfo", "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
	detect(&h);
	T_EXPECT_STR(h.layout, "none");
	struct rt_cgroup cg;
	rt_cgroup_init(&cg, &h, "berth/c1");
	struct rt_cg_limits l = { 0 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -ENOTSUP);
	T_EXPECT_STR(e.msg, "cgroup berth/c1: no usable cgroup hierarchy on this host");

	T_EXPECT_INT(rt_cgroup_detect(&h, P("nonexistent"), &e), -ENOENT);
}

/* --- creation and limits --- */

static void test_v2_limits(void)
{
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	host_v2(&h, "cpuset cpu io memory pids\n");
	group_v2(false);
	rt_cgroup_init(&cg, &h, "berth/c1");
	struct rt_cg_limits l = {
		.memory = 256 << 20,
		.memory_swap = 768 << 20,
		.cpu_milli = 1500,
		.cpu_shares = 1024,
		.pids = 100,
	};
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), 0);
	T_EXPECT_STR(get("fs/cg/cgroup.subtree_control"), "+memory +cpu +pids");
	T_EXPECT_STR(get("fs/cg/berth/cgroup.subtree_control"), "+memory +cpu +pids");
	T_EXPECT_STR(get("fs/cg/berth/c1/memory.max"), "268435456");
	T_EXPECT_STR(get("fs/cg/berth/c1/memory.swap.max"), "536870912");
	T_EXPECT_STR(get("fs/cg/berth/c1/cpu.max"), "150000 100000");
	T_EXPECT_STR(get("fs/cg/berth/c1/cpu.weight"), "39"); /* 1 + 1022 * 9999 / 262142 */
	T_EXPECT_STR(get("fs/cg/berth/c1/pids.max"), "100");

	/* Unlimited values, and the ends of the shares range. */
	group_v2(false);
	struct rt_cg_limits u = {
		.memory = 1 << 20, .memory_swap = -1, .cpu_shares = 2, .pids = -1
	};
	T_EXPECT_INT(rt_cgroup_create(&cg, &u, &e), 0);
	T_EXPECT_STR(get("fs/cg/berth/c1/memory.swap.max"), "max");
	T_EXPECT_STR(get("fs/cg/berth/c1/pids.max"), "max");
	T_EXPECT_STR(get("fs/cg/berth/c1/cpu.weight"), "1");
	T_EXPECT_STR(get("fs/cg/berth/c1/cpu.max"), ""); /* --cpus not given */
	group_v2(false);
	u = (struct rt_cg_limits){ .cpu_shares = 262144 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &u, &e), 0);
	T_EXPECT_STR(get("fs/cg/berth/c1/cpu.weight"), "10000");
	group_v2(false);
	u = (struct rt_cg_limits){ .cpu_shares = 1000000 }; /* clamped like v1 does */
	T_EXPECT_INT(rt_cgroup_create(&cg, &u, &e), 0);
	T_EXPECT_STR(get("fs/cg/berth/c1/cpu.weight"), "10000");
	group_v2(false);
	u = (struct rt_cg_limits){ .memory = 1 << 20, .memory_swap = 1 << 20 }; /* no swap */
	T_EXPECT_INT(rt_cgroup_create(&cg, &u, &e), 0);
	T_EXPECT_STR(get("fs/cg/berth/c1/memory.swap.max"), "0");
}

static void test_v2_missing_controller_and_swap(void)
{
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	host_v2(&h, "io memory pids\n");
	rt_cgroup_init(&cg, &h, "berth/c1");
	struct rt_cg_limits l = { .memory = 1 << 20, .cpu_milli = 500 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -ENOTSUP);
	T_EXPECT_STR(e.msg, "--cpus: no cpu controller on this host");
	l = (struct rt_cg_limits){ .cpu_shares = 512 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -ENOTSUP);
	T_EXPECT_STR(e.msg, "--cpu-shares: no cpu controller on this host");
	T_EXPECT(!has("fs/cg/berth")); /* refused before touching anything */

	/* Only what is available is enabled; a controller that cannot be
	 * enabled is no error when no limit needs it. */
	group_v2(false);
	l = (struct rt_cg_limits){ .pids = 5 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), 0);
	T_EXPECT_STR(get("fs/cg/cgroup.subtree_control"), "+memory +pids");
	fs_rm_rf(P("fs/cg/berth/cgroup.subtree_control"), NULL);
	l = (struct rt_cg_limits){ 0 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), 0);
	l = (struct rt_cg_limits){ .pids = 5 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -ENOENT);
	T_EXPECT(strstr(e.msg, "berth/cgroup.subtree_control") != NULL);

	/* No swap accounting: --memory-swap fails, unlimited swap is fine. */
	group_v2(false);
	fs_rm_rf(P("fs/cg/berth/c1/memory.swap.max"), NULL);
	l = (struct rt_cg_limits){ .memory = 1 << 20, .memory_swap = 2 << 20 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -ENOTSUP);
	T_EXPECT(!strncmp(e.msg, "cgroup berth/c1: --memory-swap: ", 32));
	l.memory_swap = -1;
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), 0);
}

static void test_bad_values_and_names(void)
{
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	host_v2(&h, "cpu memory pids\n");
	rt_cgroup_init(&cg, &h, "berth/c1");
	struct rt_cg_limits l = { .memory = 2 << 20, .memory_swap = 1 << 20 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -EINVAL);
	T_EXPECT(!strncmp(e.msg, "--memory-swap: ", 15));
	l = (struct rt_cg_limits){ .memory_swap = 1 << 20 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -EINVAL);
	l = (struct rt_cg_limits){ .cpu_milli = 5 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -EINVAL);
	T_EXPECT_STR(e.msg, "--cpus: must be at least 0.01");
	l = (struct rt_cg_limits){ .pids = -2 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -EINVAL);

	static const char *const bad[] = { "",          "/berth/c1", "berth/../x", "berth/",
					   "berth//c1", ".",         "berth/./c1" };
	l = (struct rt_cg_limits){ 0 };
	for (int i = 0; i < N(bad); i++) {
		rt_cgroup_init(&cg, &h, bad[i]);
		T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -EINVAL);
	}
	char longname[200];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	rt_cgroup_init(&cg, &h, longname);
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -EINVAL);
	T_EXPECT(!has("fs/cg/berth") && !has("fs/cg/x") && !has("fs/cg/aaaa"));
}

static void test_v1_limits(void)
{
	if (!CONFIG_CGROUP_V1) {
		t_skip("built without CONFIG_CGROUP_V1");
		return;
	}
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	host_v1(&h);
	group_v1(v1_mounts, N(v1_mounts), true);
	rt_cgroup_init(&cg, &h, "berth/c1");
	struct rt_cg_limits l = {
		.memory = 256 << 20,
		.memory_swap = 768 << 20,
		.cpu_milli = 1500,
		.cpu_shares = 512,
		.pids = 64,
	};
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), 0);
	T_EXPECT_STR(get("fs/memory/berth/c1/memory.limit_in_bytes"), "268435456");
	T_EXPECT_STR(get("fs/memory/berth/c1/memory.memsw.limit_in_bytes"), "805306368");
	T_EXPECT_STR(get("fs/cpu,cpuacct/berth/c1/cpu.cfs_period_us"), "100000");
	T_EXPECT_STR(get("fs/cpu,cpuacct/berth/c1/cpu.cfs_quota_us"), "150000");
	T_EXPECT_STR(get("fs/cpu,cpuacct/berth/c1/cpu.shares"), "512");
	T_EXPECT_STR(get("fs/pids/berth/c1/pids.max"), "64");
	T_EXPECT(has("fs/systemd/berth/c1"));  /* tracking group */
	T_EXPECT(!has("fs/devices/berth/c1")); /* not a controller Berth uses */

	group_v1(v1_mounts, N(v1_mounts), true);
	l = (struct rt_cg_limits){ .memory = 1 << 20, .memory_swap = -1, .pids = -1 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), 0);
	T_EXPECT_STR(get("fs/memory/berth/c1/memory.memsw.limit_in_bytes"), "-1");
	T_EXPECT_STR(get("fs/pids/berth/c1/pids.max"), "max");

	/* memsw only exists with swap accounting. */
	group_v1(v1_mounts, N(v1_mounts), false);
	l = (struct rt_cg_limits){ .memory = 1 << 20 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), 0);
	T_EXPECT_STR(get("fs/memory/berth/c1/memory.limit_in_bytes"), "1048576");
	T_EXPECT(!has("fs/memory/berth/c1/memory.memsw.limit_in_bytes"));
	l.memory_swap = 2 << 20;
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -ENOTSUP);
	T_EXPECT(strstr(e.msg, "cgroup berth/c1: --memory-swap: ") == e.msg);
	T_EXPECT(strstr(e.msg, "swapaccount=1") != NULL);
}

static void test_hybrid_uses_v1_controllers_and_v2_tracking(void)
{
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	host_hybrid(&h);
	rt_cgroup_init(&cg, &h, "berth/c1");
	struct rt_cg_limits l = { .memory = 64 << 20, .pids = 10 };
	if (!CONFIG_CGROUP_V1) {
		T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -ENOTSUP);
		T_EXPECT_STR(e.msg,
			     "--memory: memory is on cgroup v1, built without CONFIG_CGROUP_V1");
		l = (struct rt_cg_limits){ 0 };
		T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), 0);
		T_EXPECT(has("fs/unified/berth/c1") && !has("fs/memory/berth"));
		return;
	}
	group_v1(hybrid_mounts, N(hybrid_mounts) - 1, false);
	putf("fs/unified/berth/c1", "cgroup.procs", "");
	putf("fs/unified/berth/c1", "cgroup.freeze", "");
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), 0);
	T_EXPECT_STR(get("fs/memory/berth/c1/memory.limit_in_bytes"), "67108864");
	T_EXPECT_STR(get("fs/pids/berth/c1/pids.max"), "10");
	T_EXPECT_STR(get("fs/unified/cgroup.subtree_control"), ""); /* nothing to enable */

	T_EXPECT_INT(rt_cgroup_enter(&cg, 4321, &e), 0);
	static const char *const in[] = {
		"unified", "memory", "cpu", "cpuacct", "pids", "freezer"
	};
	for (int i = 0; i < N(in); i++) {
		char rel[128];
		snprintf(rel, sizeof(rel), "fs/%s/berth/c1/cgroup.procs", in[i]);
		T_EXPECT_STR(get(rel), "4321");
	}
	T_EXPECT_STR(get("fs/systemd/berth/c1/cgroup.procs"), ""); /* pre-created, unused */
	T_EXPECT(!has("fs/cpuset/berth"));

	/* The v1 freezer is mounted, so it is the one used. */
	T_EXPECT_INT(rt_cgroup_freeze(&cg, true, &e), 0);
	T_EXPECT_STR(get("fs/freezer/berth/c1/freezer.state"), "FROZEN");
	T_EXPECT_STR(get("fs/unified/berth/c1/cgroup.freeze"), "");

	/* A controller on neither side. */
	struct mnt nopids[N(hybrid_mounts)];
	int n = 0;
	for (int i = 0; i < N(hybrid_mounts); i++) {
		if (strcmp(hybrid_mounts[i].dir, "pids"))
			nopids[n++] = hybrid_mounts[i];
	}
	fresh();
	mountinfo(nopids, n);
	put("fs/unified/cgroup.controllers", "hugetlb\n");
	detect(&h);
	rt_cgroup_init(&cg, &h, "berth/c1");
	l = (struct rt_cg_limits){ .pids = 10 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -ENOTSUP);
	T_EXPECT_STR(e.msg, "--pids-limit: no pids controller on this host");
}

/* Creation fails after directories were made: they are removed again. */
static void test_create_rollback(void)
{
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	static const char *const v1dirs[] = { "systemd", "cpu,cpuacct", "memory", "pids",
					      "freezer" };
	if (CONFIG_CGROUP_V1) {
		/* The fake kernel makes no memory.limit_in_bytes in the new dir. */
		host_v1(&h);
		rt_cgroup_init(&cg, &h, "berth/c1");
		struct rt_cg_limits l = { .memory = 1 << 20 };
		T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -ENOENT);
		T_EXPECT(strstr(e.msg, "cgroup berth/c1: open ") == e.msg);
		T_EXPECT(strstr(e.msg, "memory/berth/c1/memory.limit_in_bytes") != NULL);
		for (int i = 0; i < N(v1dirs); i++) {
			char rel[128];
			snprintf(rel, sizeof(rel), "fs/%s/berth/c1", v1dirs[i]);
			T_EXPECT(!has(rel));
		}
		/* A group that already existed is not ours to remove. */
		group_v1(v1_mounts, N(v1_mounts), false);
		fs_rm_rf(P("fs/pids/berth/c1"), NULL);
		l = (struct rt_cg_limits){ .memory = 1 << 20, .memory_swap = 4 << 20 };
		T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -ENOTSUP);
		T_EXPECT(has("fs/memory/berth/c1") && !has("fs/pids/berth/c1"));
	}

	/* v2: a needed controller cannot be enabled in the new parent. */
	host_v2(&h, "memory pids\n");
	rt_cgroup_init(&cg, &h, "berth/c1");
	struct rt_cg_limits l = { .pids = 10 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -ENOENT);
	T_EXPECT(!has("fs/cg/berth/c1"));
	T_EXPECT(has("fs/cg/berth")); /* the shared parent stays */
	T_EXPECT_STR(get("fs/cg/cgroup.subtree_control"), "+memory +pids");
}

/* --- processes --- */

static void test_pids(void)
{
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	host_v2(&h, "memory pids\n");
	rt_cgroup_init(&cg, &h, "berth/c1");
	putf("fs/cg/berth/c1", "cgroup.procs", "12\n34\n4194304\n");
	pid_t p[4] = { 0 };
	T_EXPECT_INT(rt_cgroup_pids(&cg, p, 4, &e), 3);
	T_EXPECT(p[0] == 12 && p[1] == 34 && p[2] == 4194304);
	T_EXPECT_INT(rt_cgroup_pids(&cg, p, 2, &e), 2);
	putf("fs/cg/berth/c1", "cgroup.procs", "");
	T_EXPECT_INT(rt_cgroup_pids(&cg, p, 4, &e), 0);
	putf("fs/cg/berth/c1", "cgroup.procs", "12\nabc\n");
	T_EXPECT_INT(rt_cgroup_pids(&cg, p, 4, &e), -EBADMSG);
	putf("fs/cg/berth/c1", "cgroup.procs", "1234567890\n");
	T_EXPECT_INT(rt_cgroup_pids(&cg, p, 4, &e), -EBADMSG);
	/* A listing far larger than the read buffer. */
	char big[8192] = "";
	for (int i = 1; i <= 1000; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "%d\n", 1000 + i);
	putf("fs/cg/berth/c1", "cgroup.procs", big);
	pid_t many[1000];
	T_EXPECT_INT(rt_cgroup_pids(&cg, many, 1000, &e), 1000);
	T_EXPECT(many[0] == 1001 && many[999] == 2000);
	fs_rm_rf(P("fs/cg/berth/c1"), NULL);
	T_EXPECT_INT(rt_cgroup_pids(&cg, p, 4, &e), -ENOENT);
}

/* A child that waits for signals; ready once it has set up. */
static pid_t spawn(bool ignore_term)
{
	int fds[2];
	if (pipe(fds) < 0)
		exit(2);
	pid_t pid = fork();
	if (pid == 0) {
		if (ignore_term)
			signal(SIGTERM, SIG_IGN);
		if (write(fds[1], "x", 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	char c;
	if (pid < 0 || read(fds[0], &c, 1) != 1)
		exit(2);
	close(fds[0]);
	close(fds[1]);
	return pid;
}

/* Reaps pid within about 2 s, killing it after the first; returns the signal
 * that ended it, 0 for an exit, -1 when it is still there (frozen). */
static int reap(pid_t pid)
{
	int st;
	for (int i = 0; i < 400; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
		if (i == 200)
			kill(pid, SIGKILL);
		usleep(5000);
	}
	return -1;
}

static void test_kill(void)
{
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	char procs[64];

	/* v2 with cgroup.kill: one write does it. */
	host_v2(&h, "memory pids\n");
	group_v2(true);
	rt_cgroup_init(&cg, &h, "berth/c1");
	T_EXPECT_INT(rt_cgroup_kill(&cg, SIGKILL, &e), 0);
	T_EXPECT_STR(get("fs/cg/berth/c1/cgroup.kill"), "1");

	/* Other signals, and kernels without cgroup.kill: each pid listed. */
	group_v2(false);
	pid_t a = spawn(false), b = spawn(false);
	snprintf(procs, sizeof(procs), "%d\n%d\n", (int)a, (int)b);
	putf("fs/cg/berth/c1", "cgroup.procs", procs);
	T_EXPECT_INT(rt_cgroup_kill(&cg, SIGTERM, &e), 0);
	T_EXPECT_INT(reap(a), SIGTERM);
	T_EXPECT_INT(reap(b), SIGTERM);
	T_EXPECT_STR(get("fs/cg/berth/c1/cgroup.freeze"), ""); /* no freeze for SIGTERM */

	/* SIGKILL by pid freezes the group meanwhile (v1 freezer). */
	if (CONFIG_CGROUP_V1) {
		host_v1(&h);
		group_v1(v1_mounts, N(v1_mounts), false);
		rt_cgroup_init(&cg, &h, "berth/c1");
		a = spawn(true);
		snprintf(procs, sizeof(procs), "%d\n", (int)a);
		putf("fs/systemd/berth/c1", "cgroup.procs", procs);
		putf("fs/freezer/berth/c1", "freezer.state", "");
		T_EXPECT_INT(rt_cgroup_kill(&cg, SIGKILL, &e), 0);
		T_EXPECT_INT(reap(a), SIGKILL);
		T_EXPECT_STR(get("fs/freezer/berth/c1/freezer.state"), "THAWED");
	}
	fs_rm_rf(P("fs/systemd/berth/c1/cgroup.procs"), NULL);
	fs_rm_rf(P("fs/cg/berth/c1/cgroup.procs"), NULL);
	T_EXPECT(rt_cgroup_kill(&cg, SIGTERM, &e) < 0);
}

static void test_freeze_v2(void)
{
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	host_v2(&h, "memory\n");
	group_v2(false);
	rt_cgroup_init(&cg, &h, "berth/c1");
	putf("fs/cg/berth/c1", "cgroup.events", "populated 1\nfrozen 1\n");
	T_EXPECT_INT(rt_cgroup_freeze(&cg, true, &e), 0);
	T_EXPECT_STR(get("fs/cg/berth/c1/cgroup.freeze"), "1");
	putf("fs/cg/berth/c1", "cgroup.events", "populated 1\nfrozen 0\n");
	T_EXPECT_INT(rt_cgroup_freeze(&cg, false, &e), 0);
	T_EXPECT_STR(get("fs/cg/berth/c1/cgroup.freeze"), "0");

	/* The state never comes: bounded wait, and the freeze is undone. */
	T_EXPECT_INT(rt_cgroup_freeze(&cg, true, &e), -ETIMEDOUT);
	T_EXPECT_STR(e.msg, "cgroup berth/c1: freeze did not complete in 2000 ms");
	T_EXPECT_STR(get("fs/cg/berth/c1/cgroup.freeze"), "0");

	/* Kernels before 5.2 have no cgroup.freeze. */
	fs_rm_rf(P("fs/cg/berth/c1/cgroup.freeze"), NULL);
	T_EXPECT_INT(rt_cgroup_freeze(&cg, true, &e), -ENOENT);
	T_EXPECT(strstr(e.msg, "cgroup.freeze") != NULL);
}

static void test_freeze_v1(void)
{
	if (!CONFIG_CGROUP_V1) {
		t_skip("built without CONFIG_CGROUP_V1");
		return;
	}
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	host_v1(&h);
	group_v1(v1_mounts, N(v1_mounts), false);
	rt_cgroup_init(&cg, &h, "berth/c1");
	T_EXPECT_INT(rt_cgroup_freeze(&cg, true, &e), 0);
	T_EXPECT_STR(get("fs/freezer/berth/c1/freezer.state"), "FROZEN");
	T_EXPECT_INT(rt_cgroup_freeze(&cg, false, &e), 0);
	T_EXPECT_STR(get("fs/freezer/berth/c1/freezer.state"), "THAWED");

	/* No freezer hierarchy and no v2: nothing to freeze with. */
	fresh();
	mountinfo(v1_mounts, 3);
	detect(&h);
	rt_cgroup_init(&cg, &h, "berth/c1");
	T_EXPECT_INT(rt_cgroup_freeze(&cg, true, &e), -ENOTSUP);
	T_EXPECT_STR(e.msg, "cgroup berth/c1: no freezer on this host");
}

/* --- stats --- */

static void test_stats_v2(void)
{
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	struct rt_cg_stats st;
	host_v2(&h, "cpu memory pids\n");
	rt_cgroup_init(&cg, &h, "berth/c1");
	putf("fs/cg/berth/c1", "memory.current", "1234567\n");
	putf("fs/cg/berth/c1", "memory.max", "max\n");
	putf("fs/cg/berth/c1", "memory.events",
	     "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n");
	putf("fs/cg/berth/c1", "cpu.stat",
	     "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n");
	putf("fs/cg/berth/c1", "pids.current", "3\n");
	T_EXPECT_INT(rt_cgroup_stats(&cg, &st, &e), 0);
	T_EXPECT_INT(st.mem_usage, 1234567);
	T_EXPECT_INT(st.mem_limit, 0);
	T_EXPECT(st.oom_killed);
	T_EXPECT_INT(st.cpu_usage_ns, 1500000);
	T_EXPECT_INT(st.pids, 3);

	putf("fs/cg/berth/c1", "memory.max", "1048576\n");
	putf("fs/cg/berth/c1", "memory.events", "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n");
	T_EXPECT_INT(rt_cgroup_stats(&cg, &st, &e), 0);
	T_EXPECT_INT(st.mem_limit, 1048576);
	T_EXPECT(!st.oom_killed);

	/* Without the pids controller, the processes listed are counted. */
	host_v2(&h, "cpu memory\n");
	rt_cgroup_init(&cg, &h, "berth/c1");
	putf("fs/cg/berth/c1", "memory.current", "1\n");
	putf("fs/cg/berth/c1", "memory.max", "max\n");
	putf("fs/cg/berth/c1", "cpu.stat", "usage_usec 7\n");
	putf("fs/cg/berth/c1", "cgroup.procs", "5\n6\n");
	T_EXPECT_INT(rt_cgroup_stats(&cg, &st, &e), 0);
	T_EXPECT_INT(st.pids, 2);
	T_EXPECT(!st.oom_killed); /* no memory.events: not an error */
	putf("fs/cg/berth/c1", "memory.current", "lots\n");
	T_EXPECT_INT(rt_cgroup_stats(&cg, &st, &e), -EBADMSG);
	fs_rm_rf(P("fs/cg/berth/c1"), NULL);
	T_EXPECT_INT(rt_cgroup_stats(&cg, &st, &e), -ENOENT);
}

static void test_stats_v1(void)
{
	if (!CONFIG_CGROUP_V1) {
		t_skip("built without CONFIG_CGROUP_V1");
		return;
	}
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	struct rt_cg_stats st;
	host_hybrid(&h);
	rt_cgroup_init(&cg, &h, "berth/c1");
	putf("fs/memory/berth/c1", "memory.usage_in_bytes", "4096\n");
	putf("fs/memory/berth/c1", "memory.limit_in_bytes", "9223372036854771712\n");
	putf("fs/memory/berth/c1", "memory.oom_control",
	     "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
	putf("fs/memory/berth/c1", "memory.failcnt", "0\n");
	putf("fs/cpuacct/berth/c1", "cpuacct.usage", "987654321\n");
	putf("fs/pids/berth/c1", "pids.current", "4\n");
	T_EXPECT_INT(rt_cgroup_stats(&cg, &st, &e), 0);
	T_EXPECT_INT(st.mem_usage, 4096);
	T_EXPECT_INT(st.mem_limit, 0);
	T_EXPECT(st.oom_killed);
	T_EXPECT_INT(st.cpu_usage_ns, 987654321);
	T_EXPECT_INT(st.pids, 4);

	putf("fs/memory/berth/c1", "memory.limit_in_bytes", "67108864\n");
	putf("fs/memory/berth/c1", "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");
	T_EXPECT_INT(rt_cgroup_stats(&cg, &st, &e), 0);
	T_EXPECT_INT(st.mem_limit, 67108864);
	T_EXPECT(!st.oom_killed); /* before 4.13: failcnt */
	putf("fs/memory/berth/c1", "memory.failcnt", "3\n");
	T_EXPECT_INT(rt_cgroup_stats(&cg, &st, &e), 0);
	T_EXPECT(st.oom_killed);
}

/* --- removal --- */

static void test_remove(void)
{
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	host_hybrid(&h);
	rt_cgroup_init(&cg, &h, "berth/c1");
	struct rt_cg_limits l = { 0 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), 0);
	T_EXPECT(has("fs/unified/berth/c1"));
	T_EXPECT(has("fs/memory/berth/c1") == CONFIG_CGROUP_V1);
	T_EXPECT(has("fs/cpuacct/berth/c1") == CONFIG_CGROUP_V1);
	T_EXPECT(!has("fs/systemd/berth") && !has("fs/cpuset/berth"));
	T_EXPECT_INT(rt_cgroup_remove(&cg, &e), 0);
	static const char *const dirs[] = {
		"unified", "memory", "cpu", "cpuacct", "pids", "freezer"
	};
	for (int i = 0; i < N(dirs); i++) {
		char rel[128];
		snprintf(rel, sizeof(rel), "fs/%s/berth/c1", dirs[i]);
		T_EXPECT(!has(rel));
		snprintf(rel, sizeof(rel), "fs/%s/berth", dirs[i]);
		T_EXPECT(has(rel) == (!strcmp(dirs[i], "unified") || CONFIG_CGROUP_V1));
	}
	T_EXPECT_INT(rt_cgroup_remove(&cg, &e), 0); /* already gone */

	/* A directory that will not go is reported; the others still go. */
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), 0);
	put("fs/unified/berth/c1/stuck", "");
	T_EXPECT_INT(rt_cgroup_remove(&cg, &e), -ENOTEMPTY);
	T_EXPECT(strstr(e.msg, "cgroup berth/c1: remove ") == e.msg);
	T_EXPECT(!has("fs/pids/berth/c1"));
}

static void test_v1_only_host_without_v1_support(void)
{
	if (CONFIG_CGROUP_V1) {
		t_skip("built with CONFIG_CGROUP_V1 (BOARD=minimal runs this)");
		return;
	}
	struct rt_cg_host h;
	struct rt_cgroup cg;
	struct berr e = { 0 };
	host_v1(&h);
	rt_cgroup_init(&cg, &h, "berth/c1");
	struct rt_cg_limits l = { 0 };
	T_EXPECT_INT(rt_cgroup_create(&cg, &l, &e), -ENOTSUP);
	T_EXPECT_STR(e.msg, "cgroup berth/c1: cgroup v1 only host, built without CONFIG_CGROUP_V1");
	T_EXPECT(!has("fs/memory/berth"));
	T_EXPECT_INT(rt_cgroup_enter(&cg, 1, &e), -ENOTSUP);
	T_EXPECT_INT(rt_cgroup_kill(&cg, SIGTERM, &e), -ENOTSUP);
}

/* --- the real host --- */

struct real {
	struct rt_cg_host h;
	struct rt_cgroup cg;
	char parent[64];
	pid_t kids[2];
};

/* Leaves nothing behind, whatever failed: kills and reaps the children,
 * removes the group and its test parent from every hierarchy. */
static void poke(const char *dir, const char *file, const char *val)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd >= 0 && write(fd, val, strlen(val)) < 0)
		printf("# thaw %s: %s\n", p, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void real_cleanup(struct real *r)
{
	/* A frozen child would never die: thaw without the code under test. */
	if (r->cg.v1dir[RT_CG_FREEZER][0])
		poke(r->cg.v1dir[RT_CG_FREEZER], "freezer.state", "THAWED");
	if (r->cg.v2dir[0])
		poke(r->cg.v2dir, "cgroup.freeze", "0");
	signal(SIGCHLD, SIG_DFL);
	for (int i = 0; i < 2; i++) {
		if (r->kids[i] > 0) {
			kill(r->kids[i], SIGKILL);
			waitpid(r->kids[i], NULL, 0);
			r->kids[i] = 0;
		}
	}
	rt_cgroup_remove(&r->cg, NULL);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", r->h.v2, r->parent);
	if (r->h.v2[0])
		rmdir(p);
	for (int c = 0; c < RT_CG_NCTRL; c++) {
		snprintf(p, sizeof(p), "%s/%s", r->h.v1[c], r->parent);
		if (r->h.v1[c][0])
			rmdir(p);
	}
	snprintf(p, sizeof(p), "%s/%s", r->h.v1_track, r->parent);
	if (r->h.v1_track[0])
		rmdir(p);
}

/* Whether /proc/<pid>/cgroup puts pid in /name on the hierarchy whose
 * controller list holds ctrl ("" for v2's "0::" line). */
static bool in_group(pid_t pid, const char *ctrl, const char *name)
{
	char p[64], buf[4096];
	snprintf(p, sizeof(p), "/proc/%d/cgroup", (int)pid);
	if (fs_read_file(p, buf, sizeof(buf), NULL) < 0)
		return false;
	char *save = NULL;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *ctrls = strchr(l, ':'), *path = ctrls ? strchr(ctrls + 1, ':') : NULL;
		if (!path)
			continue;
		*path++ = '\0';
		ctrls++;
		bool match = !ctrl[0] ? !ctrls[0] : false;
		for (char *c = ctrls; ctrl[0] && *c;
		     c += strcspn(c, ",") + (c[strcspn(c, ",")] ? 1 : 0))
			match |= strlen(ctrl) == strcspn(c, ",") && !strncmp(c, ctrl, strlen(ctrl));
		if (match)
			return path[0] == '/' && !strcmp(path + 1, name);
	}
	return false;
}

/* A child that exits 200 ms after a byte arrives on *go. */
static pid_t spawn_leaving(int *go)
{
	int fds[2];
	if (pipe(fds) < 0)
		exit(2);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(fds[1]);
		if (read(fds[0], &c, 1) == 1)
			usleep(200000);
		_exit(0);
	}
	close(fds[0]);
	*go = fds[1];
	return pid;
}

static volatile sig_atomic_t kid_reaped;

static void on_sigchld(int sig)
{
	pid_t pid = waitpid(-1, NULL, WNOHANG);
	if (pid > 0)
		kid_reaped = pid;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int threads(pid_t pid)
{
	char p[64], buf[4096];
	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	if (fs_read_file(p, buf, sizeof(buf), NULL) < 0 || !strstr(buf, "\nThreads:"))
		return -1;
	return atoi(strstr(buf, "\nThreads:") + 9);
}

/* rt_cgroup_fork: the child is in every hierarchy of the group (and alive)
 * without the parent writing its pid where clone3 works (qemu-user says
 * ENOSYS even to a bad size, a kernel EINVAL); otherwise the parent is told
 * to enter it itself. want_entered -1: either is right. */
static void fork_into(struct real *r, const char *name, int want_entered)
{
	struct berr e = { 0 };
	errno = 0;
	bool has_clone3 = syscall(SYS_clone3, NULL, 0) < 0 && errno != ENOSYS;
	int fk[2], rd[2];
	T_EXPECT(pipe(fk) == 0 && pipe(rd) == 0);
	bool entered = false;
	struct berr fe = { 0 };
	pid_t fp = rt_cgroup_fork(&r->cg, &entered, &fe);
	if (fp == 0) {
		char c;
		close(fk[1]);
		if (!entered && fe.msg[0])
			printf("# child: %s\n", fe.msg);
		(void)!write(rd[1], "j", 1); /* joined (the v1 part is the child's own) */
		(void)!read(fk[0], &c, 1);
		_exit(entered || !fe.msg[0] ? 0 : 3);
	}
	close(fk[0]);
	close(rd[1]);
	char j;
	T_EXPECT(fp > 0 && read(rd[0], &j, 1) == 1);
	close(rd[0]);
	if (want_entered >= 0)
		T_EXPECT_INT(entered, want_entered && has_clone3);
	if (fp > 0 && !entered)
		T_EXPECT_INT(rt_cgroup_enter(&r->cg, fp, &e), 0);
	if (fp > 0) {
		if (r->cg.v2dir[0])
			T_EXPECT(in_group(fp, "", name));
		for (int c = 0; c < RT_CG_NCTRL; c++) {
			if (r->cg.v1dir[c][0])
				T_EXPECT(in_group(fp, rt_cg_names[c], name));
		}
	}
	close(fk[1]);
	int fst = -1;
	if (fp > 0)
		waitpid(fp, &fst, 0);
	if (!WIFEXITED(fst) || WEXITSTATUS(fst))
		printf("# child status %#x\n", fst);
	T_EXPECT(WIFEXITED(fst) && WEXITSTATUS(fst) == 0);
}

static void test_real_host(void)
{
	if (geteuid() != 0) {
		t_skip("needs root");
		return;
	}
	static struct real r;
	struct berr e = { 0 };
	memset(&r, 0, sizeof(r));
	if (rt_cgroup_detect(&r.h, "/proc/self/mountinfo", &e) < 0 || !strcmp(r.h.layout, "none")) {
		t_skip("no cgroup file system mounted");
		return;
	}
	snprintf(r.parent, sizeof(r.parent), "berth-test-%d", (int)getpid());
	char name[96];
	snprintf(name, sizeof(name), "%s/ctr", r.parent);
	rt_cgroup_init(&r.cg, &r.h, name);
	struct rt_cg_limits l = { .memory = 64 << 20, .pids = 32 };
	int rc = rt_cgroup_create(&r.cg, &l, &e);
	bool limited = rc != -ENOTSUP;
	if (!limited) {
		/* Such as v1 controllers in a build without v1: the rest still runs. */
		printf("# without limits: %s\n", e.msg);
		l = (struct rt_cg_limits){ 0 };
		rc = rt_cgroup_create(&r.cg, &l, &e);
	}
	T_EXPECT_INT(rc, 0);
	if (rc < 0) {
		printf("# create: %s\n", e.msg);
		real_cleanup(&r);
		return;
	}
	char buf[PATH_MAX], got[64] = "";
	const char *mem = r.cg.v1dir[RT_CG_MEMORY];
	const char *pd = r.cg.v1dir[RT_CG_PIDS][0] ? r.cg.v1dir[RT_CG_PIDS] : r.cg.v2dir;
	if (limited) {
		snprintf(buf, sizeof(buf), "%s/%s", mem[0] ? mem : r.cg.v2dir,
			 mem[0] ? "memory.limit_in_bytes" : "memory.max");
		fs_read_file(buf, got, sizeof(got), NULL);
		T_EXPECT_STR(got, "67108864\n");
		snprintf(buf, sizeof(buf), "%s/pids.max", pd);
		fs_read_file(buf, got, sizeof(got), NULL);
		T_EXPECT_STR(got, "32\n");
	}

	r.kids[0] = spawn(true);
	r.kids[1] = spawn(false);
	for (int i = 0; i < 2; i++) {
		rc = rt_cgroup_enter(&r.cg, r.kids[i], &e);
		T_EXPECT_INT(rc, 0);
		if (rc < 0)
			printf("# enter: %s\n", e.msg);
		if (r.cg.v2dir[0])
			T_EXPECT(in_group(r.kids[i], "", name));
		for (int c = 0; c < RT_CG_NCTRL; c++) {
			if (r.cg.v1dir[c][0])
				T_EXPECT(in_group(r.kids[i], rt_cg_names[c], name));
		}
	}
	T_EXPECT(!in_group(getpid(), r.cg.v2dir[0] ? "" : "memory", name));
	fork_into(&r, name, 1);
	pid_t p[4] = { 0 };
	T_EXPECT_INT(rt_cgroup_pids(&r.cg, p, 4, &e), 2);
	T_EXPECT((p[0] == r.kids[0] && p[1] == r.kids[1]) ||
		 (p[0] == r.kids[1] && p[1] == r.kids[0]));

	struct rt_cg_stats st;
	T_EXPECT_INT(rt_cgroup_stats(&r.cg, &st, &e), 0);
	T_EXPECT_INT(st.mem_limit, limited ? 64 << 20 : 0);
	/* pids.current counts tasks (qemu-user adds threads); without the pids
	 * controller the processes are counted. */
	bool tasks = r.cg.v1dir[RT_CG_PIDS][0] || r.h.on_v2[RT_CG_PIDS];
	T_EXPECT_INT(st.pids, tasks ? threads(r.kids[0]) + threads(r.kids[1]) : 2);
	T_EXPECT(!st.oom_killed);

	rc = rt_cgroup_freeze(&r.cg, true, &e);
	T_EXPECT_INT(rc, 0);
	if (rc < 0)
		printf("# freeze: %s\n", e.msg);
	const char *fz = r.cg.v1dir[RT_CG_FREEZER];
	uint64_t frozen = 0;
	if (fz[0]) {
		snprintf(buf, sizeof(buf), "%s/freezer.state", fz);
		fs_read_file(buf, got, sizeof(got), NULL);
		T_EXPECT_STR(got, "FROZEN\n");
	} else {
		rt_cg_read_key(r.cg.v2dir, "cgroup.events", "frozen", &frozen, NULL);
		T_EXPECT_INT(frozen, 1);
	}
	T_EXPECT_INT(rt_cgroup_freeze(&r.cg, false, &e), 0);
	if (fz[0]) {
		fs_read_file(buf, got, sizeof(got), NULL);
		T_EXPECT_STR(got, "THAWED\n");
	}

	/* SIGTERM goes to each pid: kids[1] dies, kids[0] ignores it. */
	T_EXPECT_INT(rt_cgroup_kill(&r.cg, SIGTERM, &e), 0);
	int sig = reap(r.kids[1]);
	T_EXPECT_INT(sig, SIGTERM);
	if (sig >= 0)
		r.kids[1] = 0;
	T_EXPECT_INT(rt_cgroup_pids(&r.cg, p, 4, &e), 1);
	T_EXPECT_INT(rt_cgroup_kill(&r.cg, SIGKILL, &e), 0);
	sig = reap(r.kids[0]);
	T_EXPECT_INT(sig, SIGKILL);
	if (sig >= 0)
		r.kids[0] = 0;

	/* After cgroup.kill: some kernels kill a child cloned into such a
	 * group, so rt_cgroup_fork falls back to fork + enter there. */
	fork_into(&r, name, -1);

	/* Removal waits while the group is busy: a member leaves 200 ms after
	 * the call starts (reaped at once by the SIGCHLD handler). */
	int go;
	r.kids[0] = spawn_leaving(&go);
	T_EXPECT_INT(rt_cgroup_enter(&r.cg, r.kids[0], &e), 0);
	signal(SIGCHLD, on_sigchld);
	int64_t t0 = now_ms();
	T_EXPECT(write(go, "x", 1) == 1);
	close(go);
	rc = rt_cgroup_remove(&r.cg, &e);
	T_EXPECT_INT(rc, 0);
	if (rc < 0)
		printf("# remove: %s\n", e.msg);
	T_EXPECT(now_ms() - t0 >= 150);
	signal(SIGCHLD, SIG_DFL);
	if (kid_reaped == r.kids[0])
		r.kids[0] = 0;
	const char *dirs[] = { r.cg.v2dir, mem, pd, fz, r.cg.trackdir };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		T_EXPECT(!dirs[i][0] || access(dirs[i], F_OK) < 0);
	real_cleanup(&r);
	/* The test parent is gone too: nothing of the test is left. */
	char left[PATH_MAX];
	snprintf(left, sizeof(left), "%s/%s", r.h.v2[0] ? r.h.v2 : r.h.v1_track, r.parent);
	T_EXPECT(access(left, F_OK) < 0);
	if (mem[0]) {
		snprintf(left, sizeof(left), "%s/%s", r.h.v1[RT_CG_MEMORY], r.parent);
		T_EXPECT(access(left, F_OK) < 0);
	}
}

int main(void)
{
	T_RUN(test_detect_hybrid);
	T_RUN(test_detect_v1);
	T_RUN(test_detect_v2);
	T_RUN(test_detect_escapes_none_and_errors);
	T_RUN(test_v2_limits);
	T_RUN(test_v2_missing_controller_and_swap);
	T_RUN(test_bad_values_and_names);
	T_RUN(test_v1_limits);
	T_RUN(test_hybrid_uses_v1_controllers_and_v2_tracking);
	T_RUN(test_create_rollback);
	T_RUN(test_pids);
	T_RUN(test_kill);
	T_RUN(test_freeze_v2);
	T_RUN(test_freeze_v1);
	T_RUN(test_stats_v2);
	T_RUN(test_stats_v1);
	T_RUN(test_remove);
	T_RUN(test_v1_only_host_without_v1_support);
	T_RUN(test_real_host);
	if (root[0])
		fs_rm_rf(root, NULL);
	return T_DONE();
}
