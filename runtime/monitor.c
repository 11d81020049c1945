/* The per-container monitor (see monitor.h): one poll loop over the
 * container's output, the attach socket and its clients, and SIGCHLD. */
#include "runtime/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "board/fs.h"
#include "board/title.h"
#include "runtime/log.h"
#include "runtime/state.h"

#define CLIENTS_MAX 8
#define STDIN_BUF 4096
#define ATTACH_WAIT_MS 30000
#define MON_EXTRA_FDS 512 /* the port proxy's listeners and connections */

/* What the monitor reports on the ready pipe. */
struct ready_msg {
	int stage; /* 1: listening; 2: started or failed */
	int code;  /* 2: exit code of a failed start, 0 when it runs */
	int err;
	pid_t pid;
	char msg[BERR_MSG_MAX];
};

#define CLIENT_BUF (8 + STDIN_BUF)

struct client {
	int fd;
	bool watch; /* wants only the exit code */
	bool hello; /* said what it is */
	size_t have;
	unsigned char *buf; /* CLIENT_BUF bytes, apart: untouched until used */
};

struct mon {
	const struct rt_monitor *m;
	struct rt_cgroup cg;
	struct rt_cg_host host;
	struct rt_log log;
	bool logging;
	int dirfd, lfd, sigfd[2];
	int out[2]; /* stdout, stderr read ends (pty master as out[0]) */
	int in;     /* stdin write end (pty master with a tty), -1 when closed */
	unsigned char inbuf[STDIN_BUF];
	size_t inlen;
	bool in_eof;      /* a client closed stdin: close it once inbuf is flushed */
	bool pid_started; /* the container runs (stdin frames before it are kept) */
	struct client cl[CLIENTS_MAX];
	pid_t pid;
	bool exited;
	int status;
};

static int sigchld_fd = -1;

/* Closes every fd above 2 but those in keep (close_range between them). */
static void close_others(const int *keep, int n)
{
	int sorted[8], k = 0;
	for (int i = 0; i < n && k < 8; i++)
		if (keep[i] > 2)
			sorted[k++] = keep[i];
	for (int i = 1; i < k; i++)
		for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
			int t = sorted[j];
			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	int from = 3;
	for (int i = 0; i <= k; i++) {
		int to = i < k ? sorted[i] - 1 : 65535;
		bool done = to < from;
#ifdef SYS_close_range
		if (!done)
			done = syscall(SYS_close_range, (unsigned)from, (unsigned)to, 0) == 0;
#endif
		for (int fd = from; !done && fd <= to && fd < 1024; fd++)
			close(fd);
		if (i < k)
			from = sorted[i] + 1;
	}
}

static void on_sigchld(int sig)
{
	int e = errno;
	ssize_t w = write(sigchld_fd, "c", 1);
	(void)w;
	(void)sig;
	errno = e;
}

static int sock_path(int dirfd, struct sockaddr_un *sa, socklen_t *len)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/attach.sock", dirfd);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	return 0;
}

int rt_frame_send(int fd, enum rt_frame type, const void *buf, size_t len)
{
	unsigned char h[8] = { (unsigned char)type,
			       0,
			       0,
			       0,
			       (unsigned char)(len >> 24),
			       (unsigned char)(len >> 16),
			       (unsigned char)(len >> 8),
			       (unsigned char)len };
	struct iovec iov[2] = { { h, 8 }, { (void *)buf, len } };
	size_t total = 8 + len, done = 0;
	while (done < total) {
		struct msghdr mh = { 0 };
		struct iovec v[2];
		int n = 0;
		size_t skip = done;
		for (int i = 0; i < 2; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			v[n].iov_base = (char *)iov[i].iov_base + skip;
			v[n].iov_len = iov[i].iov_len - skip;
			skip = 0;
			n++;
		}
		mh.msg_iov = v;
		mh.msg_iovlen = (size_t)n;
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
	}
	return 0;
}

int rt_attach_connect(const char *dir, bool watch, struct berr *err)
{
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berr_set(err, errno, "container directory %s", dir);
	struct sockaddr_un sa;
	socklen_t len;
	sock_path(dfd, &sa, &len);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = fd < 0 ? -errno : 0;
	if (!rc && connect(fd, (struct sockaddr *)&sa, len))
		rc = -errno;
	close(dfd);
	if (!rc)
		rc = rt_frame_send(fd, watch ? RT_FRAME_WATCH : RT_FRAME_HELLO, NULL, 0);
	if (rc) {
		if (fd >= 0)
			close(fd);
		return berr_set(err, -rc, "attach to %s", dir);
	}
	return fd;
}

static void report(int fd, const struct ready_msg *r)
{
	if (fd < 0)
		return;
	ssize_t w = write(fd, r, sizeof(*r));
	(void)w;
}

int rt_monitor_result(int ready, pid_t *pid, int *code, struct berr *err)
{
	struct ready_msg r;
	ssize_t n;
	do
		n = read(ready, &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	*code = RT_EXIT_FAIL;
	if (n != (ssize_t)sizeof(r) || r.stage != 2)
		return berr_setmsg(err, EIO, "the container's monitor died before it started");
	if (r.code) {
		*code = r.code;
		r.msg[sizeof(r.msg) - 1] = '\0';
		return berr_setmsg(err, r.err ? r.err : EIO, "%s", r.msg);
	}
	*pid = r.pid;
	*code = 0;
	return 0;
}

static void client_drop(struct mon *s, int i)
{
	close(s->cl[i].fd);
	s->cl[i].fd = -1;
	s->cl[i].have = 0;
}

static void broadcast(struct mon *s, enum rt_frame type, const void *buf, size_t len)
{
	for (int i = 0; i < CLIENTS_MAX; i++)
		if (s->cl[i].fd >= 0 && (type == RT_FRAME_EXIT || !s->cl[i].watch) &&
		    rt_frame_send(s->cl[i].fd, type, buf, len))
			client_drop(s, i);
}

static void accept_client(struct mon *s)
{
	int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < CLIENTS_MAX; i++) {
		if (s->cl[i].fd < 0) {
			/* a client that stops reading is dropped, not waited for */
			struct timeval tv = { .tv_sec = 5 };
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			s->cl[i].fd = fd;
			s->cl[i].have = 0;
			s->cl[i].watch = false;
			s->cl[i].hello = false;
			return;
		}
	}
	close(fd);
}

static void close_stdin(struct mon *s)
{
	if (s->in >= 0 && !s->m->spec.tty)
		close(s->in);
	if (!s->m->spec.tty)
		s->in = -1;
}

/* Handles the complete frames a client sent. */
static void client_frames(struct mon *s, struct client *c)
{
	for (;;) {
		if (c->have < 8)
			return;
		size_t len = ((size_t)c->buf[4] << 24) | ((size_t)c->buf[5] << 16) |
			     ((size_t)c->buf[6] << 8) | c->buf[7];
		if (len > STDIN_BUF) {
			c->have = 0;
			return;
		}
		if (c->have < 8 + len)
			return;
		if (c->buf[0] == RT_FRAME_STDIN) {
			if (s->inlen + len > sizeof(s->inbuf))
				return; /* wait until the container reads */
			/* kept even before the start: the stdin pipe comes then */
			if (s->in >= 0 || (!s->pid_started && s->m->stdin_open)) {
				memcpy(s->inbuf + s->inlen, c->buf + 8, len);
				s->inlen += len;
			}
		} else if (c->buf[0] == RT_FRAME_WINSIZE && s->m->spec.tty) {
			char tmp[32];
			snprintf(tmp, sizeof(tmp), "%.*s", (int)(len < 31 ? len : 31), c->buf + 8);
			struct winsize ws = { 0 };
			unsigned r = 0, col = 0;
			if (sscanf(tmp, "%u %u", &r, &col) == 2) {
				ws.ws_row = (unsigned short)r;
				ws.ws_col = (unsigned short)col;
				ioctl(s->out[0], TIOCSWINSZ, &ws);
			}
		} else if (c->buf[0] == RT_FRAME_EOF) {
			s->in_eof = true;
		} else if (c->buf[0] == RT_FRAME_WATCH) {
			c->watch = true;
			c->hello = true;
		} else if (c->buf[0] == RT_FRAME_HELLO) {
			c->hello = true;
		}
		memmove(c->buf, c->buf + 8 + len, c->have - 8 - len);
		c->have -= 8 + len;
	}
}

static void flush_stdin(struct mon *s)
{
	if (s->in >= 0 && !s->inlen && s->in_eof) {
		s->in_eof = false;
		if (s->m->spec.tty) {
			/* a terminal's end of input is ^D */
			ssize_t w = write(s->in, "\x04", 1);
			(void)w;
		} else {
			close_stdin(s);
		}
	}
	if (s->in < 0 || !s->inlen)
		return;
	ssize_t w = write(s->in, s->inbuf, s->inlen);
	if (w > 0) {
		memmove(s->inbuf, s->inbuf + w, s->inlen - (size_t)w);
		s->inlen -= (size_t)w;
	} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
		s->inlen = 0;
		close_stdin(s);
	}
}

static void pump_out(struct mon *s, int i)
{
	char buf[RT_FRAME_MAX];
	ssize_t n = read(s->out[i], buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* EIO on a pty master once the last slave closes */
		if (s->m->spec.tty && s->in == s->out[i])
			s->in = -1;
		close(s->out[i]);
		s->out[i] = -1;
		return;
	}
	struct berr e;
	if (s->logging)
		rt_log_write(&s->log, i ? RT_LOG_STDERR : RT_LOG_STDOUT, buf, (size_t)n, &e);
	broadcast(s, i ? RT_FRAME_STDERR : RT_FRAME_STDOUT, buf, (size_t)n);
}

static void reap(struct mon *s)
{
	char c[64];
	while (read(s->sigfd[0], c, sizeof(c)) > 0)
		;
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		if (p == s->pid) {
			s->exited = true;
			s->status = st;
		}
}

/* Sets up stdio for the container: a pty, or pipes (and /dev/null stdin). */
static int make_stdio(struct mon *s, struct rt_spec *sp, struct berr *err)
{
	if (sp->tty) {
		int mfd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (mfd < 0 || grantpt(mfd) || unlockpt(mfd))
			return berr_set(err, errno, "allocate a pty");
		char *name = ptsname(mfd);
		int sfd = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
		if (sfd < 0)
			return berr_set(err, errno, "open the pty");
		struct winsize ws = { .ws_row = 24, .ws_col = 80 };
		ioctl(mfd, TIOCSWINSZ, &ws);
		sp->stdio[0] = sp->stdio[1] = sp->stdio[2] = sfd;
		s->out[0] = s->in = mfd;
		s->out[1] = -1;
		return 0;
	}
	int o[2], e[2], i[2];
	if (pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC))
		return berr_set(err, errno, "pipe");
	s->out[0] = o[0];
	s->out[1] = e[0];
	sp->stdio[1] = o[1];
	sp->stdio[2] = e[1];
	if (s->m->stdin_open) {
		if (pipe2(i, O_CLOEXEC))
			return berr_set(err, errno, "pipe");
		sp->stdio[0] = i[0];
		s->in = i[1];
		fcntl(s->in, F_SETFL, O_NONBLOCK);
	} else {
		sp->stdio[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		s->in = -1;
	}
	return 0;
}

static void child_stdio_close(struct rt_spec *sp)
{
	for (int i = 0; i < 3; i++) {
		if (sp->stdio[i] < 0)
			continue;
		int fd = sp->stdio[i];
		close(fd);
		for (int j = i; j < 3; j++)
			if (sp->stdio[j] == fd)
				sp->stdio[j] = -1;
	}
}

/* Waits for the first attach client; watchers (wait) may come first. */
static bool wait_first_client(struct mon *s)
{
	long long deadline = rt_now_ns() / 1000000 + ATTACH_WAIT_MS;
	for (;;) {
		struct pollfd p[1 + CLIENTS_MAX];
		int n = 0, idx[CLIENTS_MAX];
		p[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
		for (int i = 0; i < CLIENTS_MAX; i++)
			if (s->cl[i].fd >= 0 && !s->cl[i].hello) {
				idx[n - 1] = i;
				p[n++] = (struct pollfd){ .fd = s->cl[i].fd, .events = POLLIN };
			}
		long long left = deadline - rt_now_ns() / 1000000;
		if (left <= 0)
			return false;
		int r = poll(p, (nfds_t)n, (int)left);
		if (r < 0 && errno != EINTR)
			return false;
		if (r <= 0)
			continue;
		if (p[0].revents & POLLIN)
			accept_client(s);
		for (int k = 1; k < n; k++) {
			if (!p[k].revents)
				continue;
			struct client *c = &s->cl[idx[k - 1]];
			ssize_t got = read(c->fd, c->buf + c->have, CLIENT_BUF - c->have);
			if (got <= 0) {
				client_drop(s, idx[k - 1]);
				continue;
			}
			c->have += (size_t)got;
			client_frames(s, c);
			if (c->hello && !c->watch)
				return true;
		}
	}
}

/* Starts the container; returns 0 or fills r with the failure. */
static int start(struct mon *s, struct ready_msg *r)
{
	struct berr err = { 0 };
	struct rt_spec sp = s->m->spec;
	int code = RT_EXIT_FAIL;
	int rc = rt_cgroup_detect(&s->host, "/proc/self/mountinfo", &err);
	if (!rc) {
		rt_cgroup_init(&s->cg, &s->host, s->m->cgroup);
		rc = rt_cgroup_create(&s->cg, &s->m->limits, &err);
	}
	if (!rc && s->m->pre_start)
		rc = s->m->pre_start(s->m->hook_arg, &err);
	if (!rc) {
		rc = make_stdio(s, &sp, &err);
		if (!rc)
			rc = rt_spawn(&sp, &s->cg, &s->pid, &code, &err);
		child_stdio_close(&sp);
		if (rc)
			rt_cgroup_remove(&s->cg, &(struct berr){ 0 });
	}
	if (rc) {
		r->code = code;
		r->err = err.code;
		snprintf(r->msg, sizeof(r->msg), "%s", err.msg);
	}
	return rc;
}

static void record_exit(struct mon *s, struct rt_state *st)
{
	struct berr e;
	struct rt_cg_stats cs = { 0 };
	rt_cgroup_stats(&s->cg, &cs, &e);
	rt_cgroup_kill(&s->cg, SIGKILL, &e);
	for (int i = 0; i < 100; i++) {
		pid_t pids[1];
		if (rt_cgroup_pids(&s->cg, pids, 1, &e) <= 0)
			break;
		usleep(10000);
	}
	rt_cgroup_remove(&s->cg, &e);
	st->status = RT_EXITED;
	st->exit_code = rt_exit_code(s->status);
	st->oom_killed = cs.oom_killed;
	st->finished = rt_now_ns();
	rt_state_write(s->m->spec.dir, st, !s->m->ephemeral, &e);
}

/* The monitor process itself; never returns. */
static _Noreturn void monitor_main(const struct rt_monitor *m, int ready, int sigp[2])
{
	/* static, and set field by field: the pages of buffers it never uses
	 * (log line parts, attach clients) are never touched, so a monitor's
	 * memory is what it uses */
	static struct mon s;
	static unsigned char clbuf[CLIENTS_MAX][CLIENT_BUF];
	s.m = m;
	s.in = -1;
	s.out[0] = s.out[1] = -1;
	s.pid = -1;
	struct berr err = { 0 };
	struct ready_msg r = { .stage = 1 };
	struct rt_state st;
	s.sigfd[0] = sigp[0];
	s.sigfd[1] = sigp[1];
	for (int i = 0; i < CLIENTS_MAX; i++) {
		s.cl[i].fd = -1;
		s.cl[i].buf = clbuf[i];
	}
	const char *dir = m->spec.dir;
	prctl(PR_SET_NAME, "berth-monitor", 0, 0, 0);
	char title[64];
	const char *base = strrchr(m->spec.dir, '/');
	snprintf(title, sizeof(title), "berth-monitor %.12s", base ? base + 1 : m->spec.dir);
	board_title_set(title);

	s.dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct sockaddr_un sa;
	socklen_t salen;
	sock_path(s.dirfd, &sa, &salen);
	char spath[4200];
	snprintf(spath, sizeof(spath), "%s/attach.sock", dir);
	unlink(spath);
	s.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s.dirfd < 0 || s.lfd < 0 || bind(s.lfd, (struct sockaddr *)&sa, salen) ||
	    listen(s.lfd, 8)) {
		berr_set(&err, errno, "attach socket %s", spath);
		r.stage = 2;
		r.code = RT_EXIT_FAIL;
		r.err = err.code;
		snprintf(r.msg, sizeof(r.msg), "%s", err.msg);
		report(ready, &r);
		_exit(1);
	}
	report(ready, &r);

	rt_state_read(dir, &st, &err);
	st.monitor = getpid();
	st.monitor_start = rt_proc_start(st.monitor);
	st.error[0] = '\0';

	char logpath[4200];
	snprintf(logpath, sizeof(logpath), "%s/container.log", dir);
	s.logging = !rt_log_open(&s.log, logpath, m->log_max_size, m->log_max_file, &err);

	r = (struct ready_msg){ .stage = 2 };
	if (m->wait_attach && !wait_first_client(&s)) {
		r.code = RT_EXIT_FAIL;
		snprintf(r.msg, sizeof(r.msg), "no client attached in %d s", ATTACH_WAIT_MS / 1000);
	} else if (!start(&s, &r)) {
		st.status = RT_RUNNING;
		st.pid = s.pid;
		st.started = rt_now_ns();
		st.finished = 0;
		st.exit_code = 0;
		st.oom_killed = false;
		rt_state_write(dir, &st, !m->ephemeral, &err);
		r.pid = s.pid;
	}
	if (r.code) {
		st.exit_code = r.code;
		snprintf(st.error, sizeof(st.error), "%s", r.msg);
		st.monitor = 0;
		rt_state_write(dir, &st, !m->ephemeral, &err);
		unlink(spath);
		if (m->hold_fd >= 0)
			close(m->hold_fd);
		if (m->on_exit)
			m->on_exit(m->on_exit_arg, r.code);
		report(ready, &r);
		close(ready);
		_exit(1);
	}
	report(ready, &r);
	close(ready);

	for (int i = 0; i < 2; i++)
		if (s.out[i] >= 0)
			fcntl(s.out[i], F_SETFL, O_NONBLOCK);
	/* after exit: drain output until EOF (all writers in the pid namespace
	 * are gone), bounded in case a writer escaped it */
	s.pid_started = true;
	int drain_ms = 2000;
	for (;;) {
		/* stdin (and its end) that came before the start, or while blocked */
		flush_stdin(&s);
		struct pollfd p[4 + CLIENTS_MAX + MON_EXTRA_FDS];
		int n = 0, ci[CLIENTS_MAX];
		p[n++] = (struct pollfd){ .fd = s.sigfd[0], .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = s.lfd, .events = POLLIN };
		for (int i = 0; i < 2; i++)
			p[n++] = (struct pollfd){ .fd = s.out[i], .events = POLLIN };
		for (int i = 0; i < CLIENTS_MAX; i++) {
			ci[i] = -1;
			if (s.cl[i].fd < 0)
				continue;
			ci[i] = n;
			p[n++] = (struct pollfd){ .fd = s.cl[i].fd,
						  .events = s.inlen < STDIN_BUF / 2 ? POLLIN : 0 };
		}
		int extra = n, nextra = 0;
		if (m->poll_fds && !s.exited)
			nextra = m->poll_fds(m->hook_arg, p + n, MON_EXTRA_FDS);
		n += nextra > 0 ? nextra : 0;
		bool done = s.exited && s.out[0] < 0 && s.out[1] < 0;
		if (done)
			break;
		int rc = poll(p, (nfds_t)n,
			      s.exited ? 100 : (s.inlen ? 50 : (m->poll_fds ? 1000 : -1)));
		if (rc < 0 && errno != EINTR)
			break;
		if (s.exited && rc == 0 && (drain_ms -= 100) <= 0)
			break;
		if (p[0].revents)
			reap(&s);
		if (p[1].revents & POLLIN)
			accept_client(&s);
		for (int i = 0; i < 2; i++)
			if (p[2 + i].fd >= 0 && p[2 + i].revents)
				pump_out(&s, i);
		for (int i = 0; i < CLIENTS_MAX; i++) {
			if (ci[i] < 0 || !p[ci[i]].revents)
				continue;
			struct client *c = &s.cl[i];
			ssize_t r2 = read(c->fd, c->buf + c->have, CLIENT_BUF - c->have);
			if (r2 <= 0) {
				client_drop(&s, i);
				continue;
			}
			c->have += (size_t)r2;
			client_frames(&s, c);
		}
		flush_stdin(&s);
		if (nextra > 0)
			m->poll_handle(m->hook_arg, p + extra, rc > 0 ? nextra : 0);
	}
	if (!s.exited) {
		int stt;
		while (waitpid(s.pid, &stt, 0) < 0 && errno == EINTR)
			;
		s.status = stt;
	}
	if (s.logging) {
		rt_log_flush(&s.log, &err);
		rt_log_close(&s.log);
	}
	record_exit(&s, &st);
	unlink(spath);
	if (m->hold_fd >= 0)
		close(m->hold_fd);
	/* --rm: gone before the attached client hears the exit, as with docker */
	if (m->on_exit)
		m->on_exit(m->on_exit_arg, st.exit_code);
	char code[16];
	int n = snprintf(code, sizeof(code), "%d", st.exit_code);
	broadcast(&s, RT_FRAME_EXIT, code, (size_t)n);
	for (int i = 0; i < CLIENTS_MAX; i++)
		if (s.cl[i].fd >= 0)
			client_drop(&s, i);
	_exit(0);
}

int rt_monitor_start(const struct rt_monitor *m, pid_t *monitor, int *ready, struct berr *err)
{
	int rp[2], sp[2];
	if (pipe2(rp, O_CLOEXEC))
		return berr_set(err, errno, "pipe");
	if (pipe2(sp, O_CLOEXEC | O_NONBLOCK)) {
		close(rp[0]);
		close(rp[1]);
		return berr_set(err, errno, "pipe");
	}
	pid_t p = fork();
	if (p < 0) {
		int e = errno;
		close(rp[0]);
		close(rp[1]);
		close(sp[0]);
		close(sp[1]);
		return berr_set(err, e, "fork the monitor");
	}
	if (p == 0) {
		/* its own session: the caller's terminal and signals are not its */
		setsid();
		int keep[] = { rp[1], sp[0], sp[1], m->hold_fd, m->keep_fd };
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		for (int i = 0; i < 3; i++)
			if (nul >= 0)
				dup2(nul, i);
		close_others(keep, 5);
		signal(SIGPIPE, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		sigchld_fd = sp[1];
		struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_RESTART };
		sigaction(SIGCHLD, &sa, NULL);
		monitor_main(m, rp[1], sp);
	}
	close(rp[1]);
	close(sp[0]);
	close(sp[1]);
	struct ready_msg r;
	ssize_t n;
	do
		n = read(rp[0], &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(r)) {
		close(rp[0]);
		return berr_setmsg(err, EIO, "the container's monitor did not start");
	}
	if (r.stage != 1) {
		close(rp[0]);
		r.msg[sizeof(r.msg) - 1] = '\0';
		return berr_setmsg(err, r.err ? r.err : EIO, "%s", r.msg);
	}
	*ready = rp[0];
	*monitor = p;
	return 0;
}
