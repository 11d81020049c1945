/* Container process setup: namespaces, overlay rootfs, pivot_root, the
 * standard mounts, masked and read-only paths (as docker's defaults), user,
 * capabilities and exec; and exec into a running container (setns). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "board/cleanup.h"
#include "board/fs.h"
#include "config.h"
#include "runtime/container.h"
#include "runtime/copyup.h"
#include "runtime/seccomp.h"
#include "runtime/user.h"

extern char **environ;

/* What a child reports on its close-on-exec pipe when setup fails. */
struct child_msg {
	int code; /* exit code docker would give */
	int err;  /* negative errno */
	char msg[BERR_MSG_MAX];
};

/* Overlay's mount data is limited to a page; longer lowerdir lists go
 * through short symlinks in <dir>/l/. */
#define OVL_DATA_MAX 4000

static const char *const masked_paths[] = {
	"/proc/asound",
	"/proc/acpi",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/sys/firmware",
	"/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static const struct {
	const char *name;
	unsigned int maj, min;
} dev_nodes[] = {
	{ "null", 1, 3 },   { "zero", 1, 5 },    { "full", 1, 7 },
	{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
};

int rt_exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return RT_EXIT_FAIL;
}

static _Noreturn void child_fail(int fd, int code, const struct berr *err)
{
	struct child_msg m = { .code = code, .err = err->code };
	snprintf(m.msg, sizeof(m.msg), "%s", err->msg);
	ssize_t w = write(fd, &m, sizeof(m));
	(void)w;
	_exit(code);
}

/* Marks every fd above 2 close-on-exec. */
static void cloexec_from3(void)
{
#ifdef SYS_close_range
	if (!syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */))
		return;
#endif
	for (int fd = 3; fd < 1024; fd++) {
		int fl = fcntl(fd, F_GETFD);
		if (fl >= 0)
			fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	}
}

/* Closes every fd above 2: an exec's reaper must not hold the caller's fds
 * (the write end of the command's stdin pipe would keep its EOF away). */
static void close_from3(void)
{
#ifdef SYS_close_range
	if (!syscall(SYS_close_range, 3U, ~0U, 0U))
		return;
#endif
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
}

/* mkdir -p for a path inside the container (after pivot_root: symlinks in the
 * image resolve inside the container's root). */
static int mkdirs(const char *path, mode_t mode, struct berr *err)
{
	return fs_mkdir_p(path, mode, err);
}

/* Makes dst exist as the kind of object src is (dir or file). */
static int mountpoint(const char *dst, bool dir, struct berr *err)
{
	struct stat st;
	if (!stat(dst, &st))
		return 0;
	if (dir)
		return mkdirs(dst, 0755, err);
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", dst);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		int rc = mkdirs(parent, 0755, err);
		if (rc)
			return rc;
	}
	int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		return berr_set(err, errno, "create mount point %s", dst);
	close(fd);
	return 0;
}

static int mnt(const char *src, const char *dst, const char *type, unsigned long flags,
	       const char *data, struct berr *err)
{
	if (mount(src, dst, type, flags, data))
		return berr_set(err, errno, "mount %s on %s", type ? type : src, dst);
	return 0;
}

static int bind_fd(int fd, const char *dst, bool dir, bool ro, struct berr *err)
{
	char src[64];
	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	int rc = mountpoint(dst, dir, err);
	if (!rc)
		rc = mnt(src, dst, NULL, MS_BIND | MS_REC, NULL, err);
	if (!rc && ro)
		rc = mnt(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL, err);
	return rc;
}

static int mount_overlay(const struct rt_spec *s, bool ro, struct berr *err)
{
	char data[OVL_DATA_MAX + 256];
	size_t used = 0;
	bool links = false;
	if (chdir(s->dir))
		return berr_set(err, errno, "container directory %s", s->dir);
again:
	used = (size_t)snprintf(data, sizeof(data), "lowerdir=%s", ro ? "upper:" : "");
	for (int i = s->nlayers - 1; i >= 0; i--) {
		char l[32];
		const char *p = s->layers[i];
		if (links) {
			snprintf(l, sizeof(l), "l/%d", i);
			p = l;
		}
		int w = snprintf(data + used, sizeof(data) - used, "%s%s", p, i ? ":" : "");
		if (w < 0 || used + (size_t)w >= OVL_DATA_MAX) {
			if (links)
				return berr_setmsg(err, E2BIG, "%d layers: too many for overlayfs",
						   s->nlayers);
			links = true;
			goto again;
		}
		used += (size_t)w;
	}
	if (links) {
		if (mkdir("l", 0700) && errno != EEXIST)
			return berr_set(err, errno, "%s/l", s->dir);
		for (int i = 0; i < s->nlayers; i++) {
			char l[32];
			snprintf(l, sizeof(l), "l/%d", i);
			unlink(l);
			if (symlink(s->layers[i], l))
				return berr_set(err, errno, "layer link %s/%s", s->dir, l);
		}
	}
	if (!ro)
		snprintf(data + used, sizeof(data) - used, ",upperdir=upper,workdir=work");
	if (mount("overlay", "rootfs", "overlay", ro ? MS_RDONLY : 0, data))
		return berr_set(err, errno, "mount the overlay rootfs of %s", s->dir);
	return 0;
}

static int mount_dev(const struct rt_spec *s, int consfd, struct berr *err)
{
	int rc = mkdirs("/dev", 0755, err);
	if (!rc)
		rc = mnt("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME,
			 "mode=755,size=65536k", err);
	for (size_t i = 0; !rc && i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++) {
		char p[64];
		snprintf(p, sizeof(p), "/dev/%s", dev_nodes[i].name);
		if (mknod(p, S_IFCHR | 0666, makedev(dev_nodes[i].maj, dev_nodes[i].min)) ||
		    chmod(p, 0666))
			rc = berr_set(err, errno, "create %s", p);
	}
	if (rc)
		return rc;
	mkdir("/dev/pts", 0755);
	mkdir("/dev/shm", 01777);
	mkdir("/dev/mqueue", 0755);
	rc = mnt("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		 "newinstance,ptmxmode=0666,mode=0620,gid=5", err);
	if (!rc)
		rc = mnt("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			 "mode=1777,size=65536k", err);
	if (!rc)
		rc = mnt("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
			 err);
	if (rc)
		return rc;
	static const char *const links[][2] = {
		{ "pts/ptmx", "/dev/ptmx" },          { "/proc/self/fd", "/dev/fd" },
		{ "/proc/self/fd/0", "/dev/stdin" },  { "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" },
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlink(links[i][0], links[i][1]))
			return berr_set(err, errno, "create %s", links[i][1]);
	if (consfd >= 0)
		return bind_fd(consfd, "/dev/console", false, false, err);
	return 0;
}

static int mask_paths(struct berr *err)
{
	for (size_t i = 0; i < sizeof(masked_paths) / sizeof(masked_paths[0]); i++) {
		struct stat st;
		const char *p = masked_paths[i];
		if (stat(p, &st))
			continue;
		int rc = S_ISDIR(st.st_mode) ? mnt("tmpfs", p, "tmpfs", MS_RDONLY, "size=0", err)
					     : mnt("/dev/null", p, NULL, MS_BIND, NULL, err);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < sizeof(readonly_paths) / sizeof(readonly_paths[0]); i++) {
		const char *p = readonly_paths[i];
		if (access(p, F_OK))
			continue;
		int rc = mnt(p, p, NULL, MS_BIND | MS_REC, NULL, err);
		if (!rc)
			rc = mnt(NULL, p, NULL,
				 MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV |
					 MS_NOEXEC | MS_REC,
				 NULL, err);
		if (rc)
			return rc;
	}
	return 0;
}

static int loopback_up(struct berr *err)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "loopback socket");
	struct ifreq ifr = { 0 };
	strcpy(ifr.ifr_name, "lo");
	int rc = 0;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		rc = berr_set(err, errno, "loopback flags");
	ifr.ifr_flags |= IFF_UP;
	if (!rc && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		rc = berr_set(err, errno, "bring loopback up");
	close(fd);
	return rc;
}

/* Sets uid, gid, groups and capabilities: the bounding set first, while we
 * still hold CAP_SETPCAP; the uid switch last but one. */
static int drop_privileges(const char *spec, uint64_t caps, bool privileged, bool unconfined,
			   struct berr *err)
{
	_cleanup_free_ char *pw = NULL, *gr = NULL;
	struct berr e2;
	if (fs_read_alloc("/etc/passwd", 1 << 20, &pw, &e2) < 0)
		pw = NULL;
	if (fs_read_alloc("/etc/group", 1 << 20, &gr, &e2) < 0)
		gr = NULL;
	struct rt_user u;
	int rc = rt_user_resolve(spec, pw, gr, &u, err);
	if (rc)
		return rc;
	if (!getenv("HOME") && setenv("HOME", u.home, 1))
		return berr_set(err, errno, "set HOME");

	if (privileged)
		caps = ~0ULL;
	int last = 0;
	while (last < 63 && CAP_IS_SUPPORTED(last + 1))
		last++;
	/* what we do not hold we cannot give: --privileged means all of ours */
	for (int c = 0; c <= last; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1)
			caps &= ~(1ULL << c);
	for (int c = 0; c <= last; c++)
		if (!(caps & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL)
			return berr_set(err, errno, "drop capability %d", c);
	if (setgroups((size_t)u.ngroups, u.groups))
		return berr_set(err, errno, "setgroups");
	if (setresgid(u.gid, u.gid, u.gid))
		return berr_set(err, errno, "setgid %u", (unsigned)u.gid);
	if (setresuid(u.uid, u.uid, u.uid))
		return berr_set(err, errno, "setuid %u", (unsigned)u.uid);
	if (u.uid == 0) {
		cap_t c = cap_init();
		if (!c)
			return berr_set(err, errno, "capabilities");
		cap_value_t list[64];
		int n = 0;
		for (int v = 0; v <= last; v++)
			if (caps & (1ULL << v))
				list[n++] = v;
		/* libcap refuses an empty list: an empty set is cap_init()'s */
		int r = n && (cap_set_flag(c, CAP_EFFECTIVE, n, list, CAP_SET) ||
			      cap_set_flag(c, CAP_PERMITTED, n, list, CAP_SET) ||
			      cap_set_flag(c, CAP_INHERITABLE, n, list, CAP_SET));
		r = r || cap_set_proc(c);
		int e = errno;
		cap_free(c);
		if (r)
			return berr_set(err, e, "set capabilities");
	}
	if (!privileged && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return berr_set(err, errno, "no_new_privs");
	if (CONFIG_SECCOMP && !privileged && !unconfined)
		return rt_seccomp_install(caps, err);
	return 0;
}

/* Signals blocked in pid 1 (and the exec helper) until the command runs;
 * then the reaper forwards them. */
static void block_signals(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, old);
}

static void reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;
		if (!sigaction(sig, NULL, &sa) && sa.sa_handler == SIG_IGN)
			signal(sig, SIG_DFL);
	}
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Waits for child, forwarding every signal to it and reaping orphans; exits
 * with the child's code. The tiny init of --init, and the parent of an exec. */
static _Noreturn void reap_forward(pid_t child)
{
	sigset_t all;
	sigfillset(&all);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		int st;
		pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			if (p == child)
				_exit(rt_exit_code(st));
	}
}

static int exec_cmd(char *const *argv, char *const *env, struct berr *err)
{
	environ = (char **)env;
	execvp(argv[0], argv);
	int e = errno;
	if (e == ENOENT && !strchr(argv[0], '/'))
		return berr_setmsg(err, e, "exec: \"%s\": executable file not found in $PATH",
				   argv[0]);
	/* lower case, as Go words errno: the docker CLI maps "no such file or
	 * directory" to 127 and "permission denied" to 126 from the text */
	const char *t = strerror(e);
	return berr_setmsg(err, e, "exec: \"%s\": %c%s", argv[0], tolower((unsigned char)t[0]),
			   t + 1);
}

static int exec_code(int rc)
{
	return rc == -ENOENT ? RT_EXIT_NOTFOUND : RT_EXIT_NOEXEC;
}

/* Runs the command (directly, or under the reaping init), after setup. */
static _Noreturn void run_cmd(char *const *argv, char *const *env, bool init, int errfd)
{
	struct berr err;
	if (init) {
		pid_t c = fork();
		if (c < 0) {
			berr_set(&err, errno, "fork the command under init");
			child_fail(errfd, RT_EXIT_FAIL, &err);
		}
		if (c > 0) {
			close(errfd);
			prctl(PR_SET_NAME, "berth-init", 0, 0, 0);
			reap_forward(c);
		}
		setpgid(0, 0);
	}
	reset_signals();
	int rc = exec_cmd(argv, env, &err);
	child_fail(errfd, exec_code(rc), &err);
}

static void stdio_setup(const int fds[3], bool tty)
{
	for (int i = 0; i < 3; i++)
		if (fds[i] != i)
			dup2(fds[i], i);
	if (tty) {
		setsid();
		ioctl(0, TIOCSCTTY, 0);
	}
	cloexec_from3();
}

/* The container's pid 1 before exec: returns only on failure. netfd: the
 * pipes to the parent for the network setup handshake (write, read). */
static int child_setup(const struct rt_spec *s, const int netfd[2], struct berr *err)
{
	/* The parent moves us into our cgroup and configures our network while
	 * we build the root filesystem (a cgroup move can wait for an RCU grace
	 * period); the cgroup namespace comes last, rooted at our group. */
	int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
	if (!s->host_net && s->netns_fd < 0)
		flags |= CLONE_NEWNET;
	if (unshare(flags))
		return berr_set(err, errno, "unshare namespaces");
	if (!s->host_net && s->netns_fd >= 0 && setns(s->netns_fd, CLONE_NEWNET))
		return berr_set(err, errno, "join the network namespace");
	char c = 'n';
	if (write(netfd[0], &c, 1) != 1)
		return berr_set(err, errno, "report the network namespace");
	int rc = mnt(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL, err);
	if (!rc)
		rc = mount_overlay(s, false, err);
	if (rc)
		return rc;

	/* Sources outside the new root, opened before it replaces ours. */
	static const char *const etc[] = { "hostname", "hosts", "resolv.conf" };
	int etcfd[3], volfd[RT_MOUNTS_MAX];
	bool voldir[RT_MOUNTS_MAX];
	for (int i = 0; i < 3; i++)
		etcfd[i] = open(etc[i], O_PATH | O_CLOEXEC);
	/* the terminal, reopened: an fd from before unshare() belongs to a mount
	 * of the parent namespace, which the kernel will not bind from */
	int consfd = -1;
	if (s->tty) {
		char tty[PATH_MAX];
		ssize_t n = readlink("/proc/self/fd/0", tty, sizeof(tty) - 1);
		if (n > 0) {
			tty[n] = '\0';
			consfd = open(tty, O_PATH | O_CLOEXEC);
		}
		if (consfd < 0)
			return berr_set(err, errno, "the container's terminal");
	}
	for (int i = 0; i < s->nmounts && i < RT_MOUNTS_MAX; i++) {
		volfd[i] = -1;
		if (s->mounts[i].kind != RT_MNT_BIND)
			continue;
		volfd[i] = open(s->mounts[i].src, O_PATH | O_CLOEXEC);
		struct stat st;
		if (volfd[i] < 0 || fstat(volfd[i], &st))
			return berr_set(err, errno, "volume source %s", s->mounts[i].src);
		voldir[i] = S_ISDIR(st.st_mode);
	}
	/* a new volume gets the image's content at its mount point */
	for (int i = 0; i < s->nmounts && i < RT_MOUNTS_MAX; i++) {
		bool copied;
		if (s->mounts[i].kind != RT_MNT_BIND || !s->mounts[i].copy_up || !voldir[i])
			continue;
		int rootfd = open("rootfs", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0)
			return berr_set(err, errno, "%s/rootfs", s->dir);
		rc = rt_copyup(rootfd, s->mounts[i].dst, volfd[i], &copied, err);
		close(rootfd);
		if (rc)
			return berr_prefix(err, "volume %s", s->mounts[i].dst);
	}

	/* The old root stays attached below the new one until every bind mount
	 * is made: the kernel refuses to bind from a mount outside our
	 * namespace, which a detached old root would be. */
	char old[32];
	snprintf(old, sizeof(old), ".berth-oldroot-%d", (int)getpid());
	if (chdir("rootfs") || mkdir(old, 0700) || syscall(SYS_pivot_root, ".", old) || chdir("/"))
		return berr_set(err, errno, "pivot_root into %s/rootfs", s->dir);
	memmove(old + 1, old, strlen(old) + 1);
	old[0] = '/';

	rc = mkdirs("/proc", 0555, err);
	if (!rc)
		rc = mnt("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err);
	if (!rc)
		rc = mount_dev(s, consfd, err);
	if (!rc)
		rc = mkdirs("/sys", 0555, err);
	if (!rc)
		rc = mnt("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			 NULL, err);
	for (int i = 0; !rc && i < 3; i++) {
		char dst[64];
		snprintf(dst, sizeof(dst), "/etc/%s", etc[i]);
		if (etcfd[i] >= 0)
			rc = bind_fd(etcfd[i], dst, false, false, err);
	}
	for (int i = 0; !rc && i < s->nmounts; i++) {
		const struct rt_mount *m = &s->mounts[i];
		if (m->kind == RT_MNT_BIND) {
			rc = bind_fd(volfd[i], m->dst, voldir[i], m->ro, err);
		} else {
			rc = mountpoint(m->dst, true, err);
			if (!rc)
				rc = mnt("tmpfs", m->dst, "tmpfs",
					 MS_NOSUID | MS_NODEV | (m->ro ? MS_RDONLY : 0),
					 m->opts && *m->opts ? m->opts : "mode=1777", err);
		}
		if (rc)
			berr_prefix(err, "volume %s", m->dst);
	}
	if (!rc && !s->privileged)
		rc = mask_paths(err);
	if (!rc && (umount2(old, MNT_DETACH) || rmdir(old)))
		rc = berr_set(err, errno, "detach the old root");
	if (!rc && s->readonly_rootfs)
		rc = mnt(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL, err);
	if (rc)
		return rc;
	if (s->hostname && sethostname(s->hostname, strlen(s->hostname)))
		return berr_set(err, errno, "set hostname %s", s->hostname);
	if (!s->host_net && s->netns_fd < 0 && (rc = loopback_up(err)))
		return rc;
	if (read(netfd[1], &c, 1) != 1)
		return berr_setmsg(err, EIO, "cgroup or network setup did not finish");
	if (unshare(CLONE_NEWCGROUP))
		return berr_set(err, errno, "new cgroup namespace");
	const char *cwd = s->cwd && *s->cwd ? s->cwd : "/";
	if ((rc = mkdirs(cwd, 0755, err)))
		return rc;
	if (chdir(cwd))
		return berr_set(err, errno, "working directory %s", cwd);
	environ = (char **)s->env;
	return drop_privileges(s->user, s->caps, s->privileged, s->unconfined, err);
}

int rt_rootfs_mount_ro(const struct rt_spec *s, struct berr *err)
{
	return mount_overlay(s, true, err);
}

/* Reads the child's report: 0 when it exec'd (EOF), else its error. */
static int read_report(int fd, pid_t pid, int *code, struct berr *err)
{
	struct child_msg m;
	ssize_t n;
	do
		n = read(fd, &m, sizeof(m));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(m)) {
		*code = RT_EXIT_FAIL;
		return berr_setmsg(err, EIO, "container setup died (%s)",
				   WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "no report");
	}
	*code = m.code;
	m.msg[sizeof(m.msg) - 1] = '\0';
	return berr_setmsg(err, m.err ? m.err : EIO, "%s", m.msg);
}

int rt_spawn(const struct rt_spec *s, const struct rt_cgroup *cg, pid_t *pid, int *code,
	     struct berr *err)
{
	int errp[2], syncp[2], upp[2] = { -1, -1 };
	*code = RT_EXIT_FAIL;
	if (s->nlayers > RT_LAYERS_MAX || s->nmounts > RT_MOUNTS_MAX)
		return berr_setmsg(err, E2BIG, "too many layers or mounts");
	if (pipe2(errp, O_CLOEXEC))
		return berr_set(err, errno, "pipe");
	if (pipe2(syncp, O_CLOEXEC) || pipe2(upp, O_CLOEXEC)) {
		close(errp[0]);
		close(errp[1]);
		return berr_set(err, errno, "pipe");
	}
	int rc = 0;
	/* our own pid namespace, to go back to once pid 1 is forked: a
	 * monitor still forks after its container died (iptables cleanup),
	 * which a dead namespace would refuse */
	int ownpid = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (unshare(CLONE_NEWPID)) {
		rc = berr_set(err, errno, "new pid namespace");
		if (ownpid >= 0)
			close(ownpid);
		goto out;
	}
	sigset_t old;
	block_signals(&old);
	bool in_cg = false;
	struct berr cgerr = { 0 };
	pid_t p = cg ? rt_cgroup_fork(cg, &in_cg, &cgerr) : fork();
	if (p != 0 && ownpid >= 0) {
		setns(ownpid, CLONE_NEWPID);
		close(ownpid);
	}
	if (p < 0) {
		rc = berr_set(err, errno, "fork");
		sigprocmask(SIG_SETMASK, &old, NULL);
		goto out;
	}
	if (p == 0) {
		struct berr e;
		close(errp[0]);
		close(syncp[1]);
		close(upp[0]);
		if (cg && !in_cg && cgerr.msg[0])
			child_fail(errp[1], RT_EXIT_FAIL, &cgerr);
		stdio_setup(s->stdio, s->tty);
		int netfd[2] = { upp[1], syncp[0] };
		if (child_setup(s, netfd, &e))
			child_fail(errp[1], RT_EXIT_FAIL, &e);
		run_cmd(s->argv, environ, s->init, errp[1]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(errp[1]);
	errp[1] = -1;
	close(syncp[0]);
	syncp[0] = -1;
	close(upp[1]);
	upp[1] = -1;
	if (cg && !in_cg && (rc = rt_cgroup_enter(cg, p, err))) {
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
		goto out;
	}
	char c;
	if (read(upp[0], &c, 1) != 1) {
		/* it failed before its namespaces existed */
		rc = read_report(errp[0], p, code, err);
		if (!rc) {
			rc = berr_setmsg(err, EIO, "container setup stopped");
			waitpid(p, NULL, 0);
		}
		goto out;
	}
	if (s->net_setup)
		rc = s->net_setup(s->net_arg, p, err);
	if (rc || write(syncp[1], "g", 1) != 1) {
		if (!rc)
			rc = berr_set(err, errno, "start the container");
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
		goto out;
	}
	rc = read_report(errp[0], p, code, err);
	if (!rc)
		*pid = p;
out:
	for (int i = 0; i < 2; i++) {
		if (errp[i] >= 0)
			close(errp[i]);
		if (syncp[i] >= 0)
			close(syncp[i]);
		if (upp[i] >= 0)
			close(upp[i]);
	}
	return rc;
}

/* The exec helper: joins target's namespaces, forks the command into them. */
static int exec_join(const struct rt_exec *x, struct berr *err)
{
	static const char *const ns[] = { "ipc", "uts", "net", "pid", "cgroup", "mnt" };
	int fds[6];
	for (int i = 0; i < 6; i++) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/%d/ns/%s", (int)x->target, ns[i]);
		fds[i] = open(p, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			return berr_set(err, errno, "container namespace %s", p);
	}
	/* joining a mount namespace needs an fs_struct of our own; under
	 * qemu-user our threads share one */
	if (unshare(CLONE_FS))
		return berr_set(err, errno, "unshare the fs context");
	for (int i = 0; i < 6; i++) {
		if (setns(fds[i], 0))
			return berr_set(err, errno, "join the container's %s namespace", ns[i]);
		close(fds[i]);
	}
	return 0;
}

int rt_exec_spawn(const struct rt_exec *x, const struct rt_cgroup *cg, pid_t *pid, int *code,
		  struct berr *err)
{
	int errp[2], syncp[2];
	*code = RT_EXIT_FAIL;
	if (pipe2(errp, O_CLOEXEC))
		return berr_set(err, errno, "pipe");
	if (pipe2(syncp, O_CLOEXEC)) {
		close(errp[0]);
		close(errp[1]);
		return berr_set(err, errno, "pipe");
	}
	sigset_t old;
	block_signals(&old);
	bool in_cg = false;
	struct berr cgerr = { 0 };
	pid_t p = cg ? rt_cgroup_fork(cg, &in_cg, &cgerr) : fork();
	if (p == 0) {
		struct berr e;
		char c;
		close(errp[0]);
		close(syncp[1]);
		if (cg && !in_cg && cgerr.msg[0])
			child_fail(errp[1], RT_EXIT_FAIL, &cgerr);
		if (read(syncp[0], &c, 1) != 1)
			_exit(RT_EXIT_FAIL);
		if (exec_join(x, &e))
			child_fail(errp[1], RT_EXIT_FAIL, &e);
		pid_t g = fork();
		if (g < 0) {
			berr_set(&e, errno, "fork into the container");
			child_fail(errp[1], RT_EXIT_FAIL, &e);
		}
		if (g > 0) {
			close_from3();
			reap_forward(g);
		}
		stdio_setup(x->stdio, x->tty);
		const char *cwd = x->cwd && *x->cwd ? x->cwd : "/";
		environ = (char **)x->env;
		if (chdir(cwd)) {
			berr_set(&e, errno, "working directory %s", cwd);
			child_fail(errp[1], RT_EXIT_FAIL, &e);
		}
		if (drop_privileges(x->user, x->caps, x->privileged, x->unconfined, &e))
			child_fail(errp[1], RT_EXIT_FAIL, &e);
		run_cmd(x->argv, environ, false, errp[1]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	int rc = 0;
	close(errp[1]);
	close(syncp[0]);
	if (p < 0) {
		rc = berr_set(err, errno, "fork");
	} else if (cg && !in_cg && (rc = rt_cgroup_enter(cg, p, err))) {
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
	} else if (write(syncp[1], "g", 1) != 1) {
		rc = berr_set(err, errno, "exec");
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
	} else {
		rc = read_report(errp[0], p, code, err);
		if (!rc)
			*pid = p;
	}
	close(errp[0]);
	close(syncp[1]);
	return rc;
}
