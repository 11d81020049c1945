/* Control groups (see cgroup.h): the host's layout from mountinfo, the choice
 * of backend per controller, and what v1 and v2 share (directories,
 * cgroup.procs, polling). Kernel docs: cgroup-v1/cgroups.rst, cgroup-v2.rst. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "board/cleanup.h"
#include "board/fs.h"
#include "config.h"

#define CG_FREEZE_TIMEOUT_MS 2000
#define CG_RMDIR_TIMEOUT_MS 1000 /* tasks being torn down keep a group busy */
#define CG_POLL_MS 5
#define CG_MOUNT_MAX (RT_CG_DIR_MAX - 256) /* leaves room for "/<name>" */
#define CG_MAXDIRS (RT_CG_NCTRL + 2)

const char *const rt_cg_names[RT_CG_NCTRL] = { "memory", "cpu", "pids", "freezer", "cpuacct" };

/* --- interface files --- */

static int cg_path(char out[PATH_MAX], const char *dir, const char *file, struct berr *err)
{
	if ((size_t)snprintf(out, PATH_MAX, "%s/%s", dir, file) >= PATH_MAX)
		return berr_setmsg(err, ENAMETOOLONG, "%s/%s: path too long", dir, file);
	return 0;
}

bool rt_cg_exists(const char *dir, const char *file)
{
	char p[PATH_MAX];
	return cg_path(p, dir, file, NULL) == 0 && access(p, F_OK) == 0;
}

int rt_cg_write(const char *dir, const char *file, const char *val, struct berr *err)
{
	char p[PATH_MAX];
	int r = cg_path(p, dir, file, err);
	if (r < 0)
		return r;
	/* No O_CREAT or O_TRUNC: the kernel makes interface files, and each
	 * write() is one command. */
	_cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open %s", p);
	size_t len = strlen(val);
	ssize_t n = write(fd, val, len);
	if (n < 0)
		return berr_set(err, errno, "write %s to %s", val, p);
	if ((size_t)n != len)
		return berr_setmsg(err, EIO, "write %s to %s: short write", val, p);
	return 0;
}

int rt_cg_write_i64(const char *dir, const char *file, int64_t v, struct berr *err)
{
	char s[24] = "max";
	if (v != -1)
		snprintf(s, sizeof(s), "%lld", (long long)v);
	return rt_cg_write(dir, file, s, err);
}

static int cg_read(const char *dir, const char *file, char *buf, size_t cap, struct berr *err)
{
	char p[PATH_MAX];
	int r = cg_path(p, dir, file, err);
	if (r < 0)
		return r;
	ssize_t n = fs_read_file(p, buf, cap, err);
	return n < 0 ? (int)n : 0;
}

static int cg_parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (!strncmp(s, "max", 3) && (s[3] == '\0' || s[3] == '\n')) {
		*v = UINT64_MAX;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -EBADMSG;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || (*end && *end != '\n') ? -EBADMSG : 0;
}

int rt_cg_read_u64(const char *dir, const char *file, uint64_t *v, struct berr *err)
{
	char buf[64];
	int r = cg_read(dir, file, buf, sizeof(buf), err);
	if (r < 0)
		return r;
	if (cg_parse_u64(buf, v) < 0)
		return berr_setmsg(err, EBADMSG, "%s/%s: not a number: %.20s", dir, file, buf);
	return 0;
}

int rt_cg_read_key(const char *dir, const char *file, const char *key, uint64_t *v,
		   struct berr *err)
{
	char buf[4096];
	int r = cg_read(dir, file, buf, sizeof(buf), err);
	if (r < 0)
		return r;
	size_t klen = strlen(key);
	for (const char *l = buf; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "") {
		if (strncmp(l, key, klen) || l[klen] != ' ')
			continue;
		if (cg_parse_u64(l + klen + 1, v) < 0)
			return berr_setmsg(err, EBADMSG, "%s/%s: %s: not a number", dir, file, key);
		return 0;
	}
	return berr_setmsg(err, ENODATA, "%s/%s: no %s", dir, file, key);
}

/* Calls fn for each pid in dir/cgroup.procs, reading a bounded chunk at a
 * time; fn returns < 0 to fail, > 0 to stop. */
static int cg_each_pid(const char *dir, int (*fn)(void *arg, pid_t pid, struct berr *err),
		       void *arg, struct berr *err)
{
	char p[PATH_MAX], buf[256];
	int r = cg_path(p, dir, "cgroup.procs", err);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open %s", p);
	long pid = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set(err, errno, "read %s", p);
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] >= '0' && buf[i] <= '9' && pid < 100000000) {
				pid = pid * 10 + (buf[i] - '0');
				continue;
			}
			if (buf[i] != '\n' || pid <= 0)
				return berr_setmsg(err, EBADMSG, "%s: unexpected content", p);
			r = fn(arg, (pid_t)pid, err);
			if (r)
				return r < 0 ? r : 0;
			pid = 0;
		}
		if (n == 0)
			break;
	}
	if (pid) {
		r = fn(arg, (pid_t)pid, err); /* a last line without '\n' */
		return r < 0 ? r : 0;
	}
	return 0;
}

/* --- layout --- */

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void cg_unescape(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

static void cg_set(char dst[RT_CG_DIR_MAX], const char *mp)
{
	if (!dst[0])
		snprintf(dst, RT_CG_DIR_MAX, "%s", mp);
}

/* One mountinfo line: "id parent maj:min root mountpoint opts [tags] - fstype
 * source superopts" (proc(5)). The first mount of each hierarchy wins. */
static void cg_parse_mount(struct rt_cg_host *h, char *line)
{
	char *f[6], *save = NULL, *t;
	int n = 0;
	for (t = strtok_r(line, " \n", &save); t && n < 6; t = strtok_r(NULL, " \n", &save))
		f[n++] = t;
	if (n < 6)
		return;
	while (t && strcmp(t, "-"))
		t = strtok_r(NULL, " \n", &save);
	char *type = strtok_r(NULL, " \n", &save);
	strtok_r(NULL, " \n", &save); /* source */
	char *opts = strtok_r(NULL, " \n", &save);
	if (!type || !opts)
		return;
	char *mp = f[4];
	cg_unescape(mp);
	if (strlen(mp) >= CG_MOUNT_MAX)
		return;
	if (!strcmp(type, "cgroup2")) {
		cg_set(h->v2, mp);
		return;
	}
	if (strcmp(type, "cgroup"))
		return;
	h->layout = "v1";
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		for (int c = 0; c < RT_CG_NCTRL; c++) {
			if (!strcmp(o, rt_cg_names[c]))
				cg_set(h->v1[c], mp);
		}
		if (!strcmp(o, "name=systemd"))
			cg_set(h->v1_track, mp);
	}
}

int rt_cgroup_detect(struct rt_cg_host *h, const char *mountinfo, struct berr *err)
{
	memset(h, 0, sizeof(*h));
	h->layout = "none";
	/* /proc files have no size: read to the end, bounded */
	_cleanup_close_ int fd = open(mountinfo, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open %s", mountinfo);
	size_t bcap = 16384;
	ssize_t n = 0;
	_cleanup_free_ char *buf = malloc(bcap + 1);
	if (!buf)
		return berr_setmsg(err, ENOMEM, "out of memory");
	for (;;) {
		if ((size_t)n == bcap) {
			if (bcap >= (1 << 20))
				return berr_setmsg(err, EFBIG, "%s: larger than 1 MiB", mountinfo);
			char *nb = realloc(buf, bcap * 2 + 1);
			if (!nb)
				return berr_setmsg(err, ENOMEM, "out of memory");
			buf = nb;
			bcap *= 2;
		}
		ssize_t r = read(fd, buf + n, bcap - (size_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return berr_set(err, errno, "read %s", mountinfo);
		if (r == 0)
			break;
		n += r;
	}
	buf[n] = '\0';
	/* Each line's mount point (field 5), to tell hidden mounts: a mount
	 * made later on the same path or a parent covers the earlier ones. */
	int nl = 0, cap = 256;
	_cleanup_free_ const char **mp = malloc(sizeof(*mp) * (size_t)cap);
	_cleanup_free_ size_t *mpl = malloc(sizeof(*mpl) * (size_t)cap);
	_cleanup_free_ const char **lines = malloc(sizeof(*lines) * (size_t)cap);
	if (!mp || !mpl || !lines)
		return berr_setmsg(err, ENOMEM, "out of memory");
	for (char *l = buf; l < buf + n && *l;) {
		char *end = strchr(l, '\n');
		if (end)
			*end = '\0';
		if (nl == cap) {
			cap *= 2;
			void *a = realloc(mp, sizeof(*mp) * (size_t)cap);
			void *b = a ? realloc(mpl, sizeof(*mpl) * (size_t)cap) : NULL;
			void *c = b ? realloc(lines, sizeof(*lines) * (size_t)cap) : NULL;
			if (a)
				mp = a;
			if (b)
				mpl = b;
			if (c)
				lines = c;
			if (!a || !b || !c)
				return berr_setmsg(err, ENOMEM, "out of memory");
		}
		const char *f = l;
		for (int k = 0; k < 4 && f; k++) {
			f = strchr(f, ' ');
			if (f)
				f++;
		}
		lines[nl] = l;
		mp[nl] = f ? f : "";
		mpl[nl] = f ? strcspn(f, " ") : 0;
		nl++;
		l = end ? end + 1 : buf + n;
	}
	for (int i = 0; i < nl; i++) {
		bool hidden = false;
		for (int j = i + 1; j < nl && !hidden; j++) {
			size_t q = mpl[j];
			hidden = q <= mpl[i] && !strncmp(mp[i], mp[j], q) &&
				 (q == mpl[i] || mp[i][q] == '/' || (q == 1 && mp[j][0] == '/'));
		}
		if (!hidden) {
			char line[2 * PATH_MAX + 256];
			snprintf(line, sizeof(line), "%s\n", lines[i]);
			cg_parse_mount(h, line);
		}
	}
	if (h->v2[0]) {
		h->layout = strcmp(h->layout, "v1") ? "v2" : "hybrid";
		h->v1_track[0] = '\0'; /* v2 tracks processes */
		h->on_v2[RT_CG_FREEZER] = h->on_v2[RT_CG_CPUACCT] = true;
		char cbuf[512];
		if (cg_read(h->v2, "cgroup.controllers", cbuf, sizeof(cbuf), NULL) == 0) {
			char *save = NULL;
			for (char *t = strtok_r(cbuf, " \n", &save); t;
			     t = strtok_r(NULL, " \n", &save)) {
				for (int c = RT_CG_MEMORY; c <= RT_CG_PIDS; c++)
					h->on_v2[c] |= !strcmp(t, rt_cg_names[c]);
			}
		}
	} else {
		for (int c = 0; c < RT_CG_NCTRL && !h->v1_track[0]; c++)
			cg_set(h->v1_track, h->v1[c]);
	}
	return 0;
}

/* --- one group --- */

static void cg_join(char out[RT_CG_DIR_MAX], const char *mount, const char *name)
{
	if (mount[0])
		snprintf(out, RT_CG_DIR_MAX, "%s/%s", mount, name);
}

void rt_cgroup_init(struct rt_cgroup *cg, const struct rt_cg_host *h, const char *name)
{
	memset(cg, 0, sizeof(*cg));
	cg->host = h;
	if (strlen(name) < sizeof(cg->name))
		strcpy(cg->name, name);
	cg_join(cg->v2dir, h->v2, cg->name);
	if (CONFIG_CGROUP_V1) {
		for (int c = 0; c < RT_CG_NCTRL; c++)
			cg_join(cg->v1dir[c], h->v1[c], cg->name);
		cg_join(cg->trackdir, h->v1_track, cg->name);
	}
}

static const struct rt_cg_backend *cg_backend(const struct rt_cgroup *cg, enum rt_cg_ctrl c)
{
	if (cg->v1dir[c][0])
		return CONFIG_CGROUP_V1 ? &rt_cg_v1 : NULL;
	if (cg->v2dir[0] && cg->host->on_v2[c])
		return &rt_cg_v2;
	return NULL;
}

static const char *cg_dir(const struct rt_cgroup *cg, enum rt_cg_ctrl c)
{
	return cg->v1dir[c][0] ? cg->v1dir[c] : cg->v2dir;
}

/* Where every process of the group is listed. */
static const char *cg_main(const struct rt_cgroup *cg)
{
	if (cg->v2dir[0])
		return cg->v2dir;
	if (cg->trackdir[0])
		return cg->trackdir;
	for (int c = 0; c < RT_CG_NCTRL; c++) {
		if (cg->v1dir[c][0])
			return cg->v1dir[c];
	}
	return NULL;
}

/* The group's distinct directories (co-mounted v1 controllers share one). */
static int cg_dirs(const struct rt_cgroup *cg, const char *out[CG_MAXDIRS])
{
	const char *all[CG_MAXDIRS];
	int n = 0, k = 0;
	all[k++] = cg->v2dir;
	for (int c = 0; c < RT_CG_NCTRL; c++)
		all[k++] = cg->v1dir[c];
	all[k++] = cg->trackdir;
	for (int i = 0; i < k; i++) {
		bool dup = !all[i][0];
		for (int j = 0; j < n && !dup; j++)
			dup = !strcmp(out[j], all[i]);
		if (!dup)
			out[n++] = all[i];
	}
	return n;
}

static int cg_none(const struct rt_cgroup *cg, struct berr *err)
{
	const char *why = "no usable cgroup hierarchy on this host";
	if (!CONFIG_CGROUP_V1 && !cg->v2dir[0] && cg->host->v1_track[0])
		why = "cgroup v1 only host, built without CONFIG_CGROUP_V1";
	return berr_setmsg(err, ENOTSUP, "cgroup %s: %s", cg->name, why);
}

static bool cg_name_ok(const char *name)
{
	if (!name[0] || name[0] == '/')
		return false;
	for (const char *p = name; *p;) {
		size_t len = strcspn(p, "/");
		if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && !strncmp(p, "..", 2)))
			return false;
		p += len;
		if (*p && !*++p)
			return false; /* trailing slash */
	}
	return true;
}

static const char *cg_flag(enum rt_cg_ctrl c, const struct rt_cg_limits *l)
{
	if (c == RT_CG_MEMORY)
		return l->memory ? "--memory" : "--memory-swap";
	if (c == RT_CG_CPU)
		return l->cpu_milli ? "--cpus" : "--cpu-shares";
	return "--pids-limit";
}

static int cg_missing(const struct rt_cgroup *cg, enum rt_cg_ctrl c, const struct rt_cg_limits *l,
		      struct berr *err)
{
	const char *flag = cg_flag(c, l), *name = rt_cg_names[c];
	if (cg->host->v1[c][0])
		return berr_setmsg(err, ENOTSUP,
				   "%s: %s is on cgroup v1, built without CONFIG_CGROUP_V1", flag,
				   name);
	return berr_setmsg(err, ENOTSUP, "%s: no %s controller on this host", flag, name);
}

/* Which controllers the limits need, as a mask of (1 << ctrl); checks values
 * and that each needed controller has a backend. */
static int cg_check(const struct rt_cgroup *cg, const struct rt_cg_limits *l, unsigned *need,
		    struct berr *err)
{
	if (l->memory < 0)
		return berr_setmsg(err, EINVAL, "--memory: must be positive");
	if (l->memory_swap < -1 || (l->memory_swap > 0 && l->memory_swap < l->memory) ||
	    (l->memory_swap > 0 && !l->memory))
		return berr_setmsg(err, EINVAL,
				   "--memory-swap: needs --memory and must be at least as large");
	if (l->cpu_milli < 0 || (l->cpu_milli > 0 && l->cpu_milli < 10))
		return berr_setmsg(err, EINVAL, "--cpus: must be at least 0.01");
	if (l->pids < -1)
		return berr_setmsg(err, EINVAL, "--pids-limit: must be positive or -1");
	*need = (l->memory || l->memory_swap ? 1u << RT_CG_MEMORY : 0) |
		(l->cpu_milli || l->cpu_shares ? 1u << RT_CG_CPU : 0) |
		(l->pids ? 1u << RT_CG_PIDS : 0);
	for (int c = 0; c < RT_CG_NCTRL; c++) {
		if (!(*need & (1u << c)) || cg_backend(cg, c))
			continue;
		return cg_missing(cg, c, l, err);
	}
	return 0;
}

/* mkdir -p below the hierarchy's mount point; *made tells whether the last
 * component is new. */
static int cg_mkdir(const char *dir, const char *name, bool *made, struct berr *err)
{
	char p[PATH_MAX];
	size_t root = strlen(dir) - strlen(name);
	strcpy(p, dir);
	*made = false;
	for (char *s = p + root;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char ch = *s;
		*s = '\0';
		if (mkdir(p, 0755) == 0)
			*made = !ch;
		else if (errno != EEXIST)
			return berr_set(err, errno, "mkdir %s", p);
		if (!ch)
			return 0;
		*s = ch;
	}
}

static void cg_rollback(const char *dirs[], const bool made[], int n)
{
	for (int i = n - 1; i >= 0; i--) {
		if (made[i])
			rmdir(dirs[i]);
	}
}

int rt_cgroup_create(struct rt_cgroup *cg, const struct rt_cg_limits *l, struct berr *err)
{
	if (!cg_name_ok(cg->name))
		return berr_setmsg(err, EINVAL, "cgroup name '%s': empty, too long or not relative",
				   cg->name);
	const char *dirs[CG_MAXDIRS];
	bool made[CG_MAXDIRS] = { false };
	int n = cg_dirs(cg, dirs);
	if (!n)
		return cg_none(cg, err);
	unsigned need = 0;
	int r = cg_check(cg, l, &need, err);
	if (r < 0)
		return r;
	struct rt_cg_limits lim = *l;
	if (lim.cpu_shares && lim.cpu_shares < 2)
		lim.cpu_shares = 2; /* the kernel's range (v1 clamps the same way) */
	if (lim.cpu_shares > 262144)
		lim.cpu_shares = 262144;
	for (int i = 0; i < n && r == 0; i++)
		r = cg_mkdir(dirs[i], cg->name, &made[i], err);
	if (r == 0 && cg->v2dir[0])
		r = rt_cg_v2_enable(cg->host, cg->name, need, err);
	for (int c = 0; c < RT_CG_NCTRL && r == 0; c++) {
		if (need & (1u << c))
			r = cg_backend(cg, c)->limit(cg_dir(cg, c), c, &lim, err);
	}
	if (r < 0) {
		cg_rollback(dirs, made, n);
		return berr_prefix(err, "cgroup %s", cg->name);
	}
	return 0;
}

int rt_cgroup_enter(const struct rt_cgroup *cg, pid_t pid, struct berr *err)
{
	const char *dirs[CG_MAXDIRS];
	int n = cg_dirs(cg, dirs);
	if (!n)
		return cg_none(cg, err);
	char v[16];
	snprintf(v, sizeof(v), "%d", (int)pid);
	for (int i = 0; i < n; i++) {
		int r = rt_cg_write(dirs[i], "cgroup.procs", v, err);
		if (r < 0)
			return berr_prefix(err, "cgroup %s: add pid %d", cg->name, (int)pid);
	}
	return 0;
}

/* clone3's arguments up to the cgroup field (CLONE_ARGS_SIZE_VER2), spelled
 * out here: musl's headers and the kernel's <linux/sched.h> clash. */
struct cg_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
		set_tid_size, cgroup;
};
#define CG_CLONE_INTO_CGROUP 0x200000000ULL
#ifndef SYS_clone3
#define SYS_clone3 435 /* the same number on every architecture */
#endif

/* Whether the kernel queued SIGKILL for child p while creating it (it is
 * queued before clone3 returns, so this is not a race). */
static bool cg_born_killed(pid_t p)
{
	char path[32], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)p);
	if (fs_read_file(path, buf, sizeof(buf), NULL) < 0)
		return true;
	const char *sh = strstr(buf, "\nShdPnd:"), *st = strstr(buf, "\nState:");
	unsigned long long pend = sh ? strtoull(sh + 9, NULL, 16) : 0;
	if (st)
		st += 8 + strspn(st + 8, " \t");
	return (pend & (1ull << (SIGKILL - 1))) || (st && (*st == 'Z' || *st == 'X'));
}

pid_t rt_cgroup_fork(const struct rt_cgroup *cg, bool *entered, struct berr *err)
{
	const char *dirs[CG_MAXDIRS];
	int n = cg_dirs(cg, dirs), fds[CG_MAXDIRS], v2fd = -1;
	*entered = false;
	for (int i = 0; i < n; i++)
		fds[i] = -1;
	bool ok = n > 0;
	for (int i = 0; i < n && ok; i++) {
		char path[PATH_MAX + 16];
		bool v2 = dirs[i] == cg->v2dir;
		snprintf(path, sizeof(path), "%s%s", dirs[i], v2 ? "" : "/tasks");
		fds[i] = open(path, v2 ? O_RDONLY | O_DIRECTORY | O_CLOEXEC : O_WRONLY | O_CLOEXEC);
		ok = fds[i] >= 0;
		if (v2)
			v2fd = fds[i];
	}
	pid_t p = -1;
	if (ok) {
		struct cg_clone_args a = { .exit_signal = SIGCHLD };
		if (v2fd >= 0) {
			a.flags = CG_CLONE_INTO_CGROUP;
			a.cgroup = (uint64_t)v2fd;
		}
		p = (pid_t)syscall(SYS_clone3, &a, sizeof(a));
	}
	if (p == 0) {
		/* "0" in a v1 tasks file moves the writer alone and takes no
		 * global lock; the child has one thread, so that is all of it */
		for (int i = 0; i < n; i++) {
			if (fds[i] == v2fd)
				continue;
			if (write(fds[i], "0", 1) != 1) {
				berr_set(err, errno, "cgroup %s: join %s", cg->name, dirs[i]);
				return 0;
			}
		}
		*entered = true;
		return 0;
	}
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (p > 0 && v2fd >= 0 && cg_born_killed(p)) {
		/* some kernels (6.18 here) kill a child cloned into a group
		 * that was ever emptied with cgroup.kill: fork as before */
		while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
			;
		p = -1;
	}
	if (p > 0) {
		*entered = true;
		return p;
	}
	/* no clone3 (kernel before 5.7 for the cgroup, qemu-user), or the
	 * kernel refused the group: an ordinary fork, then rt_cgroup_enter */
	return fork();
}

static int64_t cg_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cg_sleep_ms(int ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

int rt_cgroup_freeze(const struct rt_cgroup *cg, bool frozen, struct berr *err)
{
	const struct rt_cg_backend *be = cg_backend(cg, RT_CG_FREEZER);
	const char *dir = cg_dir(cg, RT_CG_FREEZER);
	if (!be)
		return berr_setmsg(err, ENOTSUP, "cgroup %s: no freezer on this host", cg->name);
	int r = be->freeze_write(dir, frozen, err);
	int64_t deadline = cg_now_ms() + CG_FREEZE_TIMEOUT_MS;
	while (r == 0) {
		bool now;
		r = be->freeze_read(dir, &now, err);
		if (r == 0 && now == frozen)
			return 0;
		if (r == 0 && cg_now_ms() >= deadline) {
			if (frozen)
				be->freeze_write(dir, false, NULL); /* not left half frozen */
			r = berr_setmsg(err, ETIMEDOUT, "%s did not complete in %d ms",
					frozen ? "freeze" : "thaw", CG_FREEZE_TIMEOUT_MS);
		}
		if (r == 0)
			cg_sleep_ms(CG_POLL_MS);
	}
	return berr_prefix(err, "cgroup %s", cg->name);
}

static int cg_kill_one(void *arg, pid_t pid, struct berr *err)
{
	if (kill(pid, *(int *)arg) < 0 && errno != ESRCH)
		return berr_set(err, errno, "signal pid %d", (int)pid);
	return 0;
}

int rt_cgroup_kill(const struct rt_cgroup *cg, int sig, struct berr *err)
{
	const char *dir = cg_main(cg);
	if (!dir)
		return cg_none(cg, err);
	if (sig == SIGKILL && cg->v2dir[0] && rt_cg_v2_kill(cg->v2dir, NULL) == 0)
		return 0;
	/* A process could fork between reading the list and the signal; frozen,
	 * none can (runc does the same). */
	bool thaw = sig == SIGKILL && rt_cgroup_freeze(cg, true, NULL) == 0;
	int r = cg_each_pid(dir, cg_kill_one, &sig, err);
	if (thaw)
		rt_cgroup_freeze(cg, false, NULL);
	return r < 0 ? berr_prefix(err, "cgroup %s", cg->name) : 0;
}

struct cg_pid_list {
	pid_t *pids;
	int n, max;
};

static int cg_collect(void *arg, pid_t pid, struct berr *err)
{
	struct cg_pid_list *pl = arg;
	if (pl->n == pl->max)
		return 1;
	if (pl->pids)
		pl->pids[pl->n] = pid;
	pl->n++;
	return 0;
}

int rt_cgroup_pids(const struct rt_cgroup *cg, pid_t *pids, int max, struct berr *err)
{
	const char *dir = cg_main(cg);
	if (!dir)
		return cg_none(cg, err);
	struct cg_pid_list pl = { pids, 0, max };
	int r = cg_each_pid(dir, cg_collect, &pl, err);
	return r < 0 ? berr_prefix(err, "cgroup %s", cg->name) : pl.n;
}

int rt_cgroup_stats(const struct rt_cgroup *cg, struct rt_cg_stats *st, struct berr *err)
{
	static const enum rt_cg_ctrl counted[] = { RT_CG_MEMORY, RT_CG_CPUACCT, RT_CG_PIDS };
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < sizeof(counted) / sizeof(counted[0]); i++) {
		const struct rt_cg_backend *be = cg_backend(cg, counted[i]);
		if (be && be->stats(cg_dir(cg, counted[i]), counted[i], st, err) < 0)
			return berr_prefix(err, "cgroup %s", cg->name);
	}
	if (!cg_backend(cg, RT_CG_PIDS)) {
		int n = rt_cgroup_pids(cg, NULL, INT_MAX, err);
		if (n < 0)
			return n;
		st->pids = (uint64_t)n;
	}
	return 0;
}

static int cg_rmdir(const char *dir, struct berr *err)
{
	int64_t deadline = cg_now_ms() + CG_RMDIR_TIMEOUT_MS;
	while (rmdir(dir) < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != EBUSY || cg_now_ms() >= deadline)
			return berr_set(err, errno, "remove %s", dir);
		cg_sleep_ms(10);
	}
	return 0;
}

int rt_cgroup_remove(const struct rt_cgroup *cg, struct berr *err)
{
	const char *dirs[CG_MAXDIRS];
	int n = cg_dirs(cg, dirs), first = 0;
	/* Every directory is tried; the first failure is reported. */
	for (int i = 0; i < n; i++) {
		int r = cg_rmdir(dirs[i], first ? NULL : err);
		if (r < 0 && !first)
			first = r;
	}
	return first ? berr_prefix(err, "cgroup %s", cg->name) : 0;
}
