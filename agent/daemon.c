/* berth daemon / berthd: one poll loop that answers the Docker Engine API on
 * a UNIX socket, supervises containers (restart policies with docker's
 * backoff, re-adopting what runs under monitors), runs healthchecks and
 * records events. Long or streaming requests are handed to a child process,
 * so the loop never blocks; containers run under their monitors, so the
 * daemon can stop or crash without stopping them. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/random.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/agent.h"
#include "agent/api.h"
#include "agent/container.h"
#include "agent/events.h"
#include "agent/fleet.h"
#include "agent/flags.h"
#include "agent/settings.h"
#include "board/cleanup.h"
#include "board/fs.h"
#include "board/title.h"
#include "config.h"
#include "net/conn.h"
#include "net/httpd.h"
#include "net/tls_server.h"
#include "runtime/container.h"
#include "runtime/state.h"

#define DAEMON_SOCK_DEFAULT AGENT_SOCK_DEFAULT
#define DAEMON_CONNS_MAX 1000
#define DAEMON_IDLE_MS 120000  /* an idle keep-alive connection is closed */
#define DAEMON_HEADER_MS 30000 /* a request must arrive this fast */
#define DAEMON_SCAN_MS 1000    /* supervision pass */
#define DAEMON_HEALTH_OUT 4096 /* a check's output kept */
#define RESTART_MAX_DELAY_MS 60000
#define RESTART_RESET_MS 10000        /* ran this long: the backoff starts over */
#define DAEMON_TLS_MAX 128            /* TLS connections (one child each) at once */
#define DAEMON_TLS_HANDSHAKE_MS 10000 /* a client must finish its handshake this fast */
#define DAEMON_TLS_STALL_MS 60000     /* a side that takes no bytes for this long is dropped */
#define DAEMON_TLS_PORT "2376"        /* dockerd's TLS port, for tcp://HOST */

struct dconn {
	int fd;
	struct net_httpd_conn *hc;
	long long since; /* ms: last activity */
	bool midreq;     /* a request is partly in */
};

struct health {
	long long next;  /* ms */
	pid_t pid;       /* a check running */
	int fd;          /* its output pipe */
	long long begun; /* ns */
	char out[DAEMON_HEALTH_OUT];
	size_t outlen;
	int streak;
	char status[16]; /* "starting", "healthy", "unhealthy" */
};

struct watch {
	char id[AGENT_CTR_ID_LEN + 1];
	bool running;
	long long started;    /* ns, of the run we saw */
	long long restart_at; /* ms; 0: none due */
	long long finished;   /* ns: the last exit handled */
	int backoff;          /* ms */
	bool seen;            /* in the last scan */
	struct health h;
};

struct daemon {
	struct agent_opts opts;
	struct agent_config cfg;
	char root[4096];
	char sock[108];
	int lfd, sigp[2], lockfd;
	/* -H tcp://: the listener, the loaded certificates, a child per connection */
	int tfd;
	char tcp[128];
	struct net_tls_server *tls;
	pid_t tls_pids[DAEMON_TLS_MAX];
	int ntls;
	int level; /* LOG_ERR .. LOG_DEBUG */
	bool use_syslog;
	struct dconn conns[DAEMON_CONNS_MAX];
	struct watch *w;
	int nw;
	long long next_scan;
	bool boot;
	/* fleet: the heartbeat child, the update child, when the next is due */
	pid_t hb_pid, apply_pid;
	long long next_hb;
	int hb_fails;
	volatile sig_atomic_t stop, reload;
};

static struct daemon *D;
static int sig_fd = -1;

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void dlog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dlog(int level, const char *fmt, ...)
{
	if (!D || level > D->level)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (D->use_syslog) {
		syslog(level, "%s", msg);
		return;
	}
	static const char *const names[] = { "emerg", "alert",  "crit", "error",
					     "warn",  "notice", "info", "debug" };
	char t[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	fprintf(stderr, "%s berthd %s: %s\n", t, names[level & 7], msg);
}

static void on_signal(int sig)
{
	int e = errno;
	unsigned char c = (unsigned char)sig;
	ssize_t w = write(sig_fd, &c, 1);
	(void)w;
	errno = e;
}

/* --- connections --- */

static void conn_close(struct dconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	net_httpd_conn_free(c->hc);
	c->fd = -1;
	c->hc = NULL;
}

/* The child of a long request: nothing of the daemon's but its connection. */
static pid_t fork_child(void *arg)
{
	struct dconn *mine = arg;
	pid_t p = fork();
	if (p != 0)
		return p;
	board_title_set("berthd-worker");
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	close(D->lfd);
	if (D->tfd >= 0)
		close(D->tfd);
	close(D->sigp[0]);
	close(D->sigp[1]);
	if (D->lockfd >= 0)
		close(D->lockfd);
	for (int i = 0; i < DAEMON_CONNS_MAX; i++)
		if (&D->conns[i] != mine && D->conns[i].fd >= 0)
			close(D->conns[i].fd);
	for (int i = 0; i < D->nw; i++)
		if (D->w[i].h.fd >= 0)
			close(D->w[i].h.fd);
	return 0;
}

static void conn_serve(struct dconn *c)
{
	char buf[16384];
	ssize_t n = read(c->fd, buf, sizeof(buf));
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->since = now_ms();
	struct berr e = { 0 };
	if (net_httpd_feed(c->hc, buf, (size_t)n, &e)) {
		net_httpd_respond(c->fd, 413, "application/json",
				  "{\"message\":\"request too large\"}\n", 32, false, NULL);
		conn_close(c);
		return;
	}
	for (;;) {
		struct net_httpd_req rq;
		int status = 0;
		int rc = net_httpd_parse(c->hc, &rq, &status, &e);
		if (rc == 0) {
			c->midreq = net_httpd_mem(c->hc) > 0;
			if (net_httpd_want_continue(c->hc))
				net_httpd_continue(c->fd);
			return;
		}
		if (rc < 0) {
			char msg[600];
			int m = snprintf(msg, sizeof(msg), "{\"message\":\"%s\"}\n",
					 status == 413 ? "request body too large"
						       : "malformed request");
			net_httpd_respond(c->fd, status ? status : 400, "application/json", msg,
					  (size_t)m, false, NULL);
			dlog(LOG_INFO, "bad request: %s", e.msg);
			conn_close(c);
			return;
		}
		dlog(LOG_DEBUG, "%s %s%s%s", rq.method, rq.path, *rq.query ? "?" : "", rq.query);
		struct agent_api a = {
			.root = D->root, .cfg = &D->cfg, .fork_child = fork_child, .fork_arg = c
		};
		enum agent_api_result r = agent_api_handle(&a, c->hc, &rq, c->fd);
		if (r == API_FORKED) {
			/* the child answers; our copy goes */
			conn_close(c);
			return;
		}
		if (r == API_CLOSE) {
			conn_close(c);
			return;
		}
		net_httpd_next(c->hc);
		c->midreq = false;
	}
}

static void conn_accept(void)
{
	int fd = accept4(D->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < DAEMON_CONNS_MAX; i++) {
		struct dconn *c = &D->conns[i];
		if (c->fd >= 0)
			continue;
		c->hc = net_httpd_conn_new();
		if (!c->hc)
			break;
		/* answers are small and written whole; a peer that stops reading
		 * must not stall the loop for long */
		struct timeval tv = { .tv_sec = 5 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		c->fd = fd;
		c->since = now_ms();
		c->midreq = false;
		return;
	}
	net_httpd_respond(fd, 503, "application/json", "{\"message\":\"too many connections\"}\n",
			  36, false, NULL);
	close(fd);
}

/* --- TCP with TLS --- */

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const void *)ss;
		inet_ntop(AF_INET, &v4->sin_addr, a, sizeof(a));
		port = ntohs(v4->sin_port);
		snprintf(out, len, "%s:%u", a, port);
	} else {
		const struct sockaddr_in6 *v6 = (const void *)ss;
		inet_ntop(AF_INET6, &v6->sin6_addr, a, sizeof(a));
		port = ntohs(v6->sin6_port);
		snprintf(out, len, "[%s]:%u", a, port);
	}
}

/* The child of one TLS connection: the handshake (a client certificate
 * from the CA required), then a relay to the daemon's own UNIX socket, so
 * the API sees an ordinary local client. */
static int tls_child(int fd, const char *peer)
{
	struct berr e = { 0 };
	struct net_tls_session *c = net_tls_server_accept(D->tls, fd, DAEMON_TLS_HANDSHAKE_MS, &e);
	if (!c) {
		dlog(LOG_WARNING, "tls %s: %s", peer, e.msg);
		return 1;
	}
	dlog(LOG_DEBUG, "tls %s: client certificate accepted", peer);
	struct net_conn u;
	if (net_conn_open_unix(&u, D->sock, 5000, &e) < 0) {
		dlog(LOG_ERR, "tls %s: %s", peer, e.msg);
		net_tls_session_free(c);
		return 1;
	}
	int rc = net_tls_session_relay(c, u.fd, DAEMON_TLS_STALL_MS, &e);
	if (rc < 0)
		dlog(LOG_INFO, "tls %s: %s", peer, e.msg);
	net_tls_session_free(c);
	net_conn_close(&u);
	return rc < 0;
}

static void tls_accept(void)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);
	int fd = accept4(D->tfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	char peer[INET6_ADDRSTRLEN + 16];
	peer_name(&ss, peer, sizeof(peer));
	if (D->ntls >= DAEMON_TLS_MAX) {
		dlog(LOG_WARNING, "tls %s: too many connections (%d)", peer, DAEMON_TLS_MAX);
		close(fd);
		return;
	}
	/* a peer that vanishes without a FIN is found out */
	int on = 1;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	pid_t p = fork();
	if (p < 0) {
		dlog(LOG_ERR, "tls %s: fork: %s", peer, strerror(errno));
		close(fd);
		return;
	}
	if (p > 0) {
		D->tls_pids[D->ntls++] = p;
		close(fd);
		return;
	}
	board_title_set("berthd-tls");
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	close(D->lfd);
	close(D->tfd);
	close(D->sigp[0]);
	close(D->sigp[1]);
	if (D->lockfd >= 0)
		close(D->lockfd);
	for (int i = 0; i < DAEMON_CONNS_MAX; i++)
		if (D->conns[i].fd >= 0)
			close(D->conns[i].fd);
	for (int i = 0; i < D->nw; i++)
		if (D->w[i].h.fd >= 0)
			close(D->w[i].h.fd);
	_exit(tls_child(fd, peer));
}

/* --- supervision --- */

static struct watch *watch_of(const char *id)
{
	for (int i = 0; i < D->nw; i++)
		if (!strcmp(D->w[i].id, id))
			return &D->w[i];
	void *p = realloc(D->w, sizeof(*D->w) * (size_t)(D->nw + 1));
	if (!p)
		return NULL;
	D->w = p;
	struct watch *w = &D->w[D->nw++];
	memset(w, 0, sizeof(*w));
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->h.fd = -1;
	w->h.pid = -1;
	return w;
}

static const char *policy_of(const struct agent_ctr *c, int *max)
{
	const cJSON *rp =
		cJSON_GetObjectItem(cJSON_GetObjectItem(c->cfg, "HostConfig"), "RestartPolicy");
	*max = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(rp, "MaximumRetryCount"));
	const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(rp, "Name"));
	return n ? n : "no";
}

static bool wants_restart(const struct agent_ctr *c, bool boot)
{
	int max;
	const char *p = policy_of(c, &max);
	if (!strcmp(p, "always"))
		return boot || !agent_ctr_user_stopped(c);
	if (!strcmp(p, "unless-stopped"))
		return !agent_ctr_user_stopped(c);
	if (!strcmp(p, "on-failure"))
		return !agent_ctr_user_stopped(c) && c->st.exit_code != 0 &&
		       (max <= 0 || c->st.restarts < max);
	return false;
}

static void restart(struct agent_ctr *c, struct watch *w)
{
	struct agent_attach a = { .policy_restart = c->st.restarts + 1 };
	struct berr e = { 0 };
	int code;
	w->restart_at = 0;
	if (agent_ctr_start(D->root, &D->cfg, c, &a, &code, &e) < 0) {
		dlog(LOG_WARNING, "restart %s: %s", c->name, e.msg);
		w->backoff = w->backoff ? w->backoff * 2 : 100;
		if (w->backoff > RESTART_MAX_DELAY_MS)
			w->backoff = RESTART_MAX_DELAY_MS;
		w->restart_at = now_ms() + w->backoff;
		return;
	}
	dlog(LOG_INFO, "restarted %s (policy, %d)", c->name, c->st.restarts + 1);
	agent_ctr_refresh(c);
	w->running = true;
	w->started = c->st.started;
}

/* Healthcheck settings, docker's defaults (ns). */
struct hc_cfg {
	const cJSON *test;
	long long interval, timeout, start_period;
	int retries;
};

static bool health_cfg(const struct agent_ctr *c, struct hc_cfg *h)
{
	const cJSON *hc = cJSON_GetObjectItem(cJSON_GetObjectItem(c->cfg, "Config"), "Healthcheck");
	h->test = cJSON_GetObjectItem(hc, "Test");
	const char *t0 = cJSON_GetStringValue(cJSON_GetArrayItem(h->test, 0));
	if (!t0 || !strcmp(t0, "NONE") || cJSON_GetArraySize(h->test) < 2)
		return false;
	double v;
	h->interval = (v = cJSON_GetNumberValue(cJSON_GetObjectItem(hc, "Interval"))) > 0
			      ? (long long)v
			      : 30000000000LL;
	h->timeout = (v = cJSON_GetNumberValue(cJSON_GetObjectItem(hc, "Timeout"))) > 0
			     ? (long long)v
			     : 30000000000LL;
	h->start_period = (v = cJSON_GetNumberValue(cJSON_GetObjectItem(hc, "StartPeriod"))) > 0
				  ? (long long)v
				  : 0;
	h->retries =
		(v = cJSON_GetNumberValue(cJSON_GetObjectItem(hc, "Retries"))) > 0 ? (int)v : 3;
	return true;
}

static void health_write(const struct agent_ctr *c, struct health *h, int code, long long begun)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/health", c->dir);
	_cleanup_free_ char *old = NULL;
	ssize_t n = fs_read_alloc(p, 1 << 20, &old, NULL);
	cJSON *j = n > 0 ? cJSON_ParseWithLength(old, (size_t)n) : NULL;
	if (!j)
		j = cJSON_CreateObject();
	cJSON_DeleteItemFromObject(j, "Status");
	cJSON_AddStringToObject(j, "Status", h->status);
	cJSON_DeleteItemFromObject(j, "FailingStreak");
	cJSON_AddNumberToObject(j, "FailingStreak", h->streak);
	cJSON *log = cJSON_GetObjectItem(j, "Log");
	if (!cJSON_IsArray(log)) {
		cJSON_DeleteItemFromObject(j, "Log");
		log = cJSON_AddArrayToObject(j, "Log");
	}
	if (code >= -1) {
		cJSON *e = cJSON_CreateObject();
		char t[64];
		time_t s = (time_t)(begun / 1000000000LL);
		struct tm tm;
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&s, &tm));
		cJSON_AddStringToObject(e, "Start", t);
		s = time(NULL);
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&s, &tm));
		cJSON_AddStringToObject(e, "End", t);
		cJSON_AddNumberToObject(e, "ExitCode", code);
		h->out[h->outlen < sizeof(h->out) ? h->outlen : sizeof(h->out) - 1] = '\0';
		cJSON_AddStringToObject(e, "Output", h->out);
		cJSON_AddItemToArray(log, e);
		while (cJSON_GetArraySize(log) > 5)
			cJSON_DeleteItemFromArray(log, 0);
	}
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (s)
		fs_write_replace(p, s, strlen(s), 0644, false, &(struct berr){ 0 });
	free(s);
}

/* Starts a check: exec of the Test command in the container, output to a pipe. */
static void health_start(struct agent_ctr *c, struct watch *w, const struct hc_cfg *hc)
{
	int pp[2];
	if (pipe2(pp, O_CLOEXEC))
		return;
	pid_t p = fork();
	if (p < 0) {
		close(pp[0]);
		close(pp[1]);
		return;
	}
	if (p == 0) {
		signal(SIGCHLD, SIG_DFL);
		close(pp[0]);
		close(D->lfd);
		if (D->tfd >= 0)
			close(D->tfd);
		if (D->lockfd >= 0)
			close(D->lockfd);
		char *argv[64];
		int argc = 0;
		const cJSON *it;
		const char *kind = cJSON_GetStringValue(cJSON_GetArrayItem(hc->test, 0));
		if (!strcmp(kind, "CMD-SHELL")) {
			argv[argc++] = "/bin/sh";
			argv[argc++] = "-c";
			argv[argc++] = cJSON_GetStringValue(cJSON_GetArrayItem(hc->test, 1));
		} else {
			int k = 0;
			cJSON_ArrayForEach(it, hc->test) if (k++ && argc < 63) argv[argc++] =
				cJSON_GetStringValue(it);
		}
		argv[argc] = NULL;
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int stdio[3] = { nul, pp[1], pp[1] };
		struct agent_exec_opts eo = { .argv = argv };
		pid_t pid;
		int code;
		struct berr e = { 0 };
		if (agent_exec_run(c, &eo, stdio, &pid, &code, &e)) {
			dprintf(pp[1], "%s\n", e.msg);
			_exit(code);
		}
		close(pp[1]);
		long long deadline = now_ms() + hc->timeout / 1000000;
		for (;;) {
			int st;
			pid_t r = waitpid(pid, &st, WNOHANG);
			if (r == pid)
				_exit(rt_exit_code(st));
			if (now_ms() > deadline) {
				kill(pid, SIGTERM);
				usleep(200000);
				kill(pid, SIGKILL);
				waitpid(pid, NULL, 0);
				_exit(255); /* docker reports a timeout as -1; exit codes are 0..255
					     */
			}
			usleep(20000);
		}
	}
	close(pp[1]);
	fcntl(pp[0], F_SETFL, O_NONBLOCK);
	w->h.pid = p;
	w->h.fd = pp[0];
	w->h.outlen = 0;
	w->h.begun = rt_now_ns();
}

static void health_done(struct watch *w, int code)
{
	struct agent_ctr c;
	struct berr e = { 0 };
	w->h.pid = -1;
	if (agent_ctr_find(D->root, w->id, &c, &e))
		return;
	struct hc_cfg hc;
	if (!agent_ctr_running(&c) || !health_cfg(&c, &hc)) {
		agent_ctr_free(&c);
		return;
	}
	char before[16];
	snprintf(before, sizeof(before), "%s", w->h.status);
	bool in_start = rt_now_ns() - c.st.started < hc.start_period;
	if (code == 0) {
		w->h.streak = 0;
		snprintf(w->h.status, sizeof(w->h.status), "healthy");
	} else if (!in_start) {
		if (++w->h.streak >= hc.retries)
			snprintf(w->h.status, sizeof(w->h.status), "unhealthy");
	}
	health_write(&c, &w->h, code, w->h.begun);
	if (strcmp(before, w->h.status)) {
		char action[64];
		snprintf(action, sizeof(action), "health_status: %s", w->h.status);
		agent_event_ctr(D->root, action, &c, NULL, NULL);
		dlog(LOG_INFO, "%s is %s", c.name, w->h.status);
	}
	w->h.next = now_ms() + hc.interval / 1000000;
	agent_ctr_free(&c);
}

static void scan(void)
{
	struct agent_ctr *v;
	struct berr e = { 0 };
	int n = agent_ctr_list(D->root, &v, &e);
	if (n < 0) {
		dlog(LOG_ERR, "list containers: %s", e.msg);
		return;
	}
	long long t = now_ms();
	for (int i = 0; i < D->nw; i++)
		D->w[i].seen = false;
	for (int i = 0; i < n; i++) {
		struct agent_ctr *c = &v[i];
		struct watch *w = watch_of(c->id);
		if (!w) {
			agent_ctr_free(c);
			continue;
		}
		w->seen = true;
		bool running = agent_ctr_running(c);
		if (running) {
			if (!w->running || w->started != c->st.started) {
				/* a new run: its health starts over */
				w->h.streak = 0;
				snprintf(w->h.status, sizeof(w->h.status), "starting");
				struct hc_cfg hc;
				if (health_cfg(c, &hc)) {
					health_write(c, &w->h, -2, 0);
					w->h.next = t + hc.interval / 1000000;
				}
			}
			w->running = true;
			w->started = c->st.started;
			w->restart_at = 0;
			struct hc_cfg hc;
			if (w->h.pid < 0 && w->h.next && t >= w->h.next && health_cfg(c, &hc))
				health_start(c, w, &hc);
		} else {
			/* an exit not handled yet (a short run may end between two
			 * scans); at boot, what the policy says about stopped ones */
			bool fresh_exit = c->st.status == RT_EXITED && c->st.finished &&
					  c->st.finished != w->finished && !D->boot;
			if (fresh_exit || (D->boot && !w->restart_at)) {
				bool boot = D->boot;
				w->running = false;
				w->finished = c->st.finished;
				if (wants_restart(c, boot)) {
					long long ran = (c->st.finished - c->st.started) / 1000000;
					if (boot || ran >= RESTART_RESET_MS)
						w->backoff = 100;
					else
						w->backoff = w->backoff ? w->backoff * 2 : 100;
					if (w->backoff > RESTART_MAX_DELAY_MS)
						w->backoff = RESTART_MAX_DELAY_MS;
					w->restart_at = boot ? t : t + w->backoff;
				}
			}
			w->running = false;
			if (w->restart_at && t >= w->restart_at)
				restart(c, w);
		}
		agent_ctr_free(c);
	}
	free(v);
	/* forget removed containers */
	for (int i = 0; i < D->nw;) {
		if (!D->w[i].seen && D->w[i].h.pid < 0) {
			D->w[i] = D->w[--D->nw];
			continue;
		}
		i++;
	}
	D->boot = false;
}

/* --- fleet --- */

static bool fleet_on(void)
{
	return CONFIG_HEARTBEAT && D->cfg.fleet.portal;
}

/* interval ms with +-20% jitter, so a fleet does not beat in step */
static long long jitter(long long ms)
{
	unsigned r;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned)now_ms();
	return ms * 8 / 10 + (long long)(r % (unsigned)(ms * 4 / 10 + 1));
}

static pid_t fleet_child(const char *title, int (*fn)(const char *, const struct agent_config *))
{
	pid_t p = fork();
	if (p != 0)
		return p;
	board_title_set(title);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	close(D->lfd);
	if (D->tfd >= 0)
		close(D->tfd);
	if (D->lockfd >= 0)
		close(D->lockfd);
	close(D->sigp[0]);
	close(D->sigp[1]);
	for (int i = 0; i < DAEMON_CONNS_MAX; i++)
		if (D->conns[i].fd >= 0)
			close(D->conns[i].fd);
	_exit(fn(D->root, &D->cfg));
}

static void fleet_tick(void)
{
	if (!fleet_on() || D->hb_pid > 0 || now_ms() < D->next_hb)
		return;
	D->hb_pid = fleet_child("berthd-heartbeat", agent_fleet_heartbeat);
	if (D->hb_pid < 0)
		D->next_hb = now_ms() + 1000;
}

static void fleet_exit(pid_t p, int st)
{
	long long interval = (long long)D->cfg.fleet.interval * 1000;
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : FLEET_HB_FAILED;
	if (p == D->apply_pid) {
		D->apply_pid = -1;
		dlog(LOG_INFO, "fleet update finished (%s)",
		     code == 0   ? "applied"
		     : code == 1 ? "refused or rolled back"
				 : "pull failed, retried later");
		/* report at once; a failed pull waits for the next interval */
		D->next_hb = code == 2 ? now_ms() + jitter(interval) : now_ms();
		return;
	}
	D->hb_pid = -1;
	if (code == FLEET_HB_FAILED) {
		/* back off: 2x, 4x ... the interval, capped, with jitter */
		if (D->hb_fails < 16)
			D->hb_fails++;
		long long b = interval << (D->hb_fails < 10 ? D->hb_fails : 10);
		D->next_hb = now_ms() + jitter(b > 900000 ? 900000 : b);
		char why[256];
		agent_fleet_hb_error(D->root, why, sizeof(why));
		dlog(LOG_WARNING, "heartbeat failed (%d in a row): %s", D->hb_fails,
		     *why ? why : "no answer");
		return;
	}
	D->hb_fails = 0;
	if (code == FLEET_HB_RETRY) {
		int ra = agent_fleet_retry_after(D->root);
		D->next_hb = now_ms() + (ra > 0 ? ra * 1000LL : jitter(interval));
		return;
	}
	D->next_hb = now_ms() + jitter(interval);
	if (code == FLEET_HB_NEW && D->apply_pid < 0) {
		dlog(LOG_INFO, "fleet: applying a new desired state");
		D->apply_pid = fleet_child("berthd-update", agent_fleet_apply);
	}
}

static void reap(void)
{
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		if (CONFIG_HEARTBEAT && (p == D->hb_pid || p == D->apply_pid))
			fleet_exit(p, st);
		for (int i = 0; i < D->ntls; i++)
			if (D->tls_pids[i] == p) {
				D->tls_pids[i] = D->tls_pids[--D->ntls];
				break;
			}
		for (int i = 0; i < D->nw; i++) {
			struct watch *w = &D->w[i];
			if (w->h.pid != p)
				continue;
			/* drain what is left of its output */
			if (w->h.fd >= 0) {
				ssize_t n;
				while (w->h.outlen < sizeof(w->h.out) - 1 &&
				       (n = read(w->h.fd, w->h.out + w->h.outlen,
						 sizeof(w->h.out) - 1 - w->h.outlen)) > 0)
					w->h.outlen += (size_t)n;
				close(w->h.fd);
				w->h.fd = -1;
			}
			health_done(w, WIFEXITED(st) ? WEXITSTATUS(st) : 255);
		}
		/* a monitor or a request's child: the next scan sees what changed */
		D->next_scan = now_ms();
	}
}

/* --- setup --- */

static int listen_unix(const char *path)
{
	char dir[128];
	snprintf(dir, sizeof(dir), "%s", path);
	char *sl = strrchr(dir, '/');
	if (sl && sl != dir) {
		*sl = '\0';
		fs_mkdir_p(dir, 0755, NULL);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* a socket left by a crashed daemon: nobody answers on it */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		close(fd);
		return -EADDRINUSE;
	}
	if (probe >= 0)
		close(probe);
	unlink(path);
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc || listen(fd, 128)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	struct group *g = getgrnam("berth");
	if (g && chown(path, 0, g->gr_gid))
		dlog(LOG_WARNING, "socket %s: group berth: %s", path, strerror(errno));
	return fd;
}

/* Splits "tcp://HOST:PORT" ("tcp://:PORT", "tcp://HOST", "tcp://[V6]:PORT")
 * into host (empty: every address) and port (default 2376, dockerd's TLS
 * port). Returns 0 or -EINVAL. */
static int tcp_split(const char *spec, char *host, size_t hl, char *port, size_t pl)
{
	const char *h = spec + 6, *colon, *hend;
	if (*h == '[') {
		hend = strchr(h, ']');
		if (!hend)
			return -EINVAL;
		colon = hend[1] == ':' ? hend + 1 : NULL;
		if (hend[1] && !colon)
			return -EINVAL;
		h++;
	} else {
		colon = strrchr(h, ':');
		hend = colon ? colon : h + strlen(h);
	}
	const char *pt = colon ? colon + 1 : DAEMON_TLS_PORT;
	if ((size_t)(hend - h) >= hl || strlen(pt) >= pl || !*pt || strchr(h, '/') ||
	    strspn(pt, "0123456789") != strlen(pt) || atoi(pt) < 1 || atoi(pt) > 65535)
		return -EINVAL;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	snprintf(port, pl, "%s", pt);
	return 0;
}

static int listen_tcp(const char *spec, struct berr *err)
{
	char host[128], port[8];
	if (tcp_split(spec, host, sizeof(host), port, sizeof(port)))
		return berr_setmsg(err, EINVAL, "%s: not tcp://HOST:PORT", spec);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV },
			*ai;
	int g = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
	if (g)
		return berr_setmsg(err, EINVAL, "%s: %s", spec, gai_strerror(g));
	int fd = -1, e = EADDRNOTAVAIL;
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			e = errno;
			continue;
		}
		int on = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 128)) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return fd >= 0 ? fd : berr_set(err, e, "listen on %s", spec);
}

static int parse_level(const char *s)
{
	if (!s || !strcmp(s, "info"))
		return LOG_INFO;
	if (!strcmp(s, "debug"))
		return LOG_DEBUG;
	if (!strcmp(s, "warn"))
		return LOG_WARNING;
	if (!strcmp(s, "error") || !strcmp(s, "fatal"))
		return LOG_ERR;
	return -1;
}

int agent_cmd_daemon(const struct agent_opts *o, int argc, char **argv)
{
	const char *level = NULL, *root = NULL, *cacert = NULL, *cert = NULL, *key = NULL;
	struct agent_strlist hosts = { 0 };
	bool use_syslog = false, tlsverify = false;
	const struct agent_flag flags[] = {
		{ "host", 'H', FLAG_LIST, &hosts },        { "log-level", 'l', FLAG_STR, &level },
		{ "data-root", 0, FLAG_STR, &root },       { "syslog", 0, FLAG_BOOL, &use_syslog },
		{ "tlsverify", 0, FLAG_BOOL, &tlsverify }, { "tlscacert", 0, FLAG_STR, &cacert },
		{ "tlscert", 0, FLAG_STR, &cert },         { "tlskey", 0, FLAG_STR, &key },
	};
	int n = agent_flags(
		argc, argv, flags, 8,
		"Usage: berth daemon [OPTIONS]   (also started as berthd)\n\n"
		"Answer the Docker Engine API on a UNIX socket and supervise containers.\n\n"
		"Options:\n"
		"      --data-root string   Data root (default: daemon.json's, else " AGENT_DEFAULT_ROOT
		")\n"
		"  -H, --host list          unix:///path (default unix://" DAEMON_SOCK_DEFAULT
		"),\n"
		"                           and tcp://ADDR:PORT with --tlsverify (client certificates)\n"
		"  -l, --log-level string   debug, info, warn or error (default info)\n"
		"      --syslog             Log to syslog instead of stderr\n"
		"      --tlsverify          Require client certificates from --tlscacert on tcp://\n"
		"      --tlscacert string   CA of the clients (default CONFIG_DIR/tls/ca.pem)\n"
		"      --tlscert string     Server certificate chain (default CONFIG_DIR/tls/cert.pem)\n"
		"      --tlskey string      Server key (default CONFIG_DIR/tls/key.pem)\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n > 0)
		return agent_usage("daemon: takes no arguments");
	static struct daemon d;
	D = &d;
	d.opts = *o;
	d.tfd = -1;
	if (root) {
		d.opts.root = root;
		d.opts.root_set = true;
	}
	d.level = parse_level(level);
	if (d.level < 0)
		return agent_usage("daemon: --log-level %s: debug, info, warn or error", level);
	d.use_syslog = use_syslog;
	if (use_syslog)
		openlog("berthd", LOG_PID, LOG_DAEMON);
	if (agent_load_config(&d.opts, &d.cfg))
		return AGENT_EXIT_FAIL;
	/* -H beats daemon.json's "hosts"; a UNIX socket is always there */
	if (!hosts.n)
		for (int i = 0; i < d.cfg.nhosts; i++)
			hosts.v[hosts.n++] = d.cfg.hosts[i];
	const char *path = NULL, *tcp = NULL;
	for (int i = 0; i < hosts.n; i++) {
		const char *h = hosts.v[i];
		if (!strncmp(h, "tcp://", 6)) {
			char th[128], tp[8];
			if (tcp)
				return agent_usage("daemon: -H %s: one tcp:// host at most", h);
			if (tcp_split(h, th, sizeof(th), tp, sizeof(tp)))
				return agent_usage("daemon: -H %s: not tcp://ADDR:PORT", h);
			tcp = h;
		} else if (!strncmp(h, "fd://", 5) || strstr(h, "://") != NULL) {
			if (strncmp(h, "unix://", 7))
				return agent_usage("daemon: -H %s: unix:// or tcp:// only", h);
		}
		if (!strncmp(h, "unix://", 7) || !strstr(h, "://")) {
			if (path)
				return agent_usage("daemon: -H %s: one unix:// socket at most", h);
			path = strncmp(h, "unix://", 7) ? h : h + 7;
		}
	}
	if (!path)
		path = DAEMON_SOCK_DEFAULT;
	if (strlen(path) >= sizeof(d.sock))
		return agent_usage("daemon: socket path %s is too long", path);
	snprintf(d.sock, sizeof(d.sock), "%s", path);
	if (tcp && !CONFIG_DAEMON_TLS)
		return agent_usage(
			"daemon: -H %s: TCP with TLS is not part of this build (CONFIG_DAEMON_TLS)",
			tcp);
	if (tcp && !tlsverify && !d.cfg.tlsverify)
		return agent_usage(
			"daemon: -H %s: needs --tlsverify (client certificates); plain TCP is never offered",
			tcp);
	if (CONFIG_DAEMON_TLS && tcp) {
		/* the files are loaded and checked before anything listens */
		char defs[3][PATH_MAX];
		const char *names[] = { "ca.pem", "cert.pem", "key.pem" };
		const char **files[] = { &cacert, &cert, &key };
		const char *conf[] = { d.cfg.tlscacert, d.cfg.tlscert, d.cfg.tlskey };
		for (int i = 0; i < 3; i++) {
			snprintf(defs[i], sizeof(defs[i]), "%.4000s/tls/%s", d.cfg.dir, names[i]);
			if (!*files[i])
				*files[i] = conf[i] ? conf[i] : defs[i];
		}
		struct berr te = { 0 };
		d.tls = net_tls_server_new(cacert, cert, key, &te);
		if (!d.tls)
			return agent_fail("daemon: TLS for %s: %s", tcp, te.msg);
		snprintf(d.tcp, sizeof(d.tcp), "%s", tcp);
	}
	snprintf(d.root, sizeof(d.root), "%s", agent_data_root(&d.opts, &d.cfg));
	struct berr e = { 0 };
	if (fs_mkdir_p(d.root, 0700, &e))
		return agent_fail("daemon: data root %s: %s", d.root, e.msg);
	char lp[4200];
	snprintf(lp, sizeof(lp), "%s/daemon.lock", d.root);
	d.lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d.lockfd < 0 || flock(d.lockfd, LOCK_EX | LOCK_NB))
		return agent_fail("daemon: another daemon runs on data root %s", d.root);
	d.lfd = listen_unix(d.sock);
	if (d.lfd < 0)
		return agent_fail("daemon: listen on %s: %s", d.sock,
				  d.lfd == -EADDRINUSE ? "another daemon answers there"
						       : strerror(-d.lfd));
	if (CONFIG_DAEMON_TLS && d.tls) {
		d.tfd = listen_tcp(d.tcp, &e);
		if (d.tfd < 0) {
			close(d.lfd);
			unlink(d.sock);
			return agent_fail("daemon: %s", e.msg);
		}
	}
	/* room for DAEMON_CONNS_MAX clients: the soft fd limit up to the hard one */
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < DAEMON_CONNS_MAX + 64) {
		rl.rlim_cur =
			rl.rlim_max < DAEMON_CONNS_MAX + 64 ? rl.rlim_max : DAEMON_CONNS_MAX + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (pipe2(d.sigp, O_CLOEXEC | O_NONBLOCK))
		return agent_fail("daemon: pipe: %s", strerror(errno));
	sig_fd = d.sigp[1];
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < DAEMON_CONNS_MAX; i++)
		d.conns[i].fd = -1;
	d.boot = true;
	d.next_scan = 0;
	d.hb_pid = d.apply_pid = -1;
	if (CONFIG_HEARTBEAT && d.cfg.fleet.portal) {
		/* an update a crash cut short is finished or rolled back first;
		 * when its process still holds the lock (it outlived the daemon,
		 * or it is still dying), a child waits for it and then recovers
		 * what it left: never given up, never a second update meanwhile */
		if (agent_fleet_recover(d.root, &d.cfg, false) == -EBUSY) {
			d.apply_pid = fleet_child("berthd-update", agent_fleet_recover_wait);
			dlog(LOG_INFO, "fleet: an earlier update still holds its lock; "
				       "recovering once it ends");
		}
		d.next_hb = now_ms();
		dlog(LOG_INFO, "heartbeat to %s every %d s", d.cfg.fleet.portal,
		     d.cfg.fleet.interval);
	}
	dlog(LOG_INFO, "listening on unix://%s, data root %s", d.sock, d.root);
	if (d.tfd >= 0)
		dlog(LOG_INFO, "listening on %s (TLS, client certificates required)", d.tcp);

	while (!d.stop) {
		struct pollfd p[3 + DAEMON_CONNS_MAX + 64];
		int np = 0, ci[DAEMON_CONNS_MAX], hi[64], nh = 0;
		p[np++] = (struct pollfd){ .fd = d.sigp[0], .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = d.lfd, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = d.tfd, .events = POLLIN }; /* -1: none */
		long long t = now_ms();
		long long next = d.next_scan;
		if (fleet_on() && d.hb_pid < 0 && d.next_hb < next)
			next = d.next_hb;
		for (int i = 0; i < DAEMON_CONNS_MAX; i++) {
			struct dconn *c = &d.conns[i];
			ci[i] = -1;
			if (c->fd < 0)
				continue;
			long long limit =
				c->since + (c->midreq ? DAEMON_HEADER_MS : DAEMON_IDLE_MS);
			if (t >= limit) {
				conn_close(c);
				continue;
			}
			if (limit < next)
				next = limit;
			ci[i] = np;
			p[np++] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
		}
		for (int i = 0; i < d.nw && nh < 64; i++) {
			if (d.w[i].h.fd < 0)
				continue;
			hi[nh++] = i;
			p[np++] = (struct pollfd){ .fd = d.w[i].h.fd, .events = POLLIN };
		}
		int timeout = next <= t ? 0 : (int)(next - t);
		int r = poll(p, (nfds_t)np, timeout);
		if (r < 0 && errno != EINTR) {
			dlog(LOG_ERR, "poll: %s", strerror(errno));
			break;
		}
		if (r > 0 && p[0].revents) {
			unsigned char sigs[64];
			ssize_t k = read(d.sigp[0], sigs, sizeof(sigs));
			for (ssize_t i = 0; i < k; i++) {
				if (sigs[i] == SIGCHLD)
					reap();
				else if (sigs[i] == SIGHUP)
					d.reload = 1;
				else
					d.stop = 1;
			}
		}
		if (d.reload) {
			d.reload = 0;
			struct agent_config nc;
			struct berr re = { 0 };
			if (agent_config_load(&nc, d.opts.config_file, &re) < 0) {
				dlog(LOG_ERR, "reload: %s (keeping the old configuration)", re.msg);
			} else {
				agent_config_free(&d.cfg);
				d.cfg = nc;
				dlog(LOG_INFO, "configuration reloaded");
			}
		}
		if (r > 0 && (p[1].revents & POLLIN))
			conn_accept();
		if (CONFIG_DAEMON_TLS && r > 0 && (p[2].revents & POLLIN))
			tls_accept();
		for (int i = 0; r > 0 && i < DAEMON_CONNS_MAX; i++)
			if (ci[i] >= 0 && d.conns[i].fd >= 0 && p[ci[i]].revents)
				conn_serve(&d.conns[i]);
		for (int k = 0; r > 0 && k < nh; k++) {
			struct watch *w = &d.w[hi[k]];
			if (w->h.fd < 0 || !p[np - nh + k].revents)
				continue;
			ssize_t m = read(w->h.fd, w->h.out + w->h.outlen,
					 w->h.outlen < sizeof(w->h.out) - 1
						 ? sizeof(w->h.out) - 1 - w->h.outlen
						 : 0);
			if (m > 0)
				w->h.outlen += (size_t)m;
			else if (m == 0 || w->h.outlen >= sizeof(w->h.out) - 1) {
				close(w->h.fd);
				w->h.fd = -1;
			}
		}
		if (now_ms() >= d.next_scan) {
			scan();
			d.next_scan = now_ms() + DAEMON_SCAN_MS;
		}
		fleet_tick();
	}
	dlog(LOG_INFO, "stopping; containers keep running under their monitors");
	for (int i = 0; i < DAEMON_CONNS_MAX; i++)
		if (d.conns[i].fd >= 0)
			conn_close(&d.conns[i]);
	close(d.lfd);
	unlink(d.sock);
	if (d.tfd >= 0)
		close(d.tfd);
	/* the relays end with us: a client reconnects to the next daemon */
	for (int i = 0; i < d.ntls; i++)
		kill(d.tls_pids[i], SIGTERM);
	if (CONFIG_DAEMON_TLS)
		net_tls_server_free(d.tls);
	agent_config_free(&d.cfg);
	return AGENT_EXIT_OK;
}
