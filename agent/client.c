/* The CLI's Docker Engine API client over the daemon's UNIX socket (see
 * client.h): net/http_client with a UNIX connect, one connection per process,
 * reused between requests. */
#include "agent/client.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/api.h"
#include "agent/container.h"
#include "net/http_client.h"

static struct http_client *cl;
static struct http_resp resp;

/* True when something accepts connections on the socket at path. */
static int probe(const char *path)
{
	struct net_conn c;
	struct berr e = { 0 };
	int rc = net_conn_open_unix(&c, path, 2000, &e);
	if (!rc)
		net_conn_close(&c);
	return rc;
}

int agent_client_select(struct agent_opts *o, const char *host)
{
	const char *env = getenv("BERTH_HOST");
	/* a --root on the command line means "this store": only -H beats it */
	if (!host && !o->root_set && env && *env)
		host = env;
	if (!host) {
		if (!o->root_set && !probe(AGENT_SOCK_DEFAULT))
			o->host = AGENT_SOCK_DEFAULT;
		return AGENT_EXIT_OK;
	}
	if (strncmp(host, "unix://", 7) || host[7] != '/')
		return agent_usage("-H %s: only unix:///path sockets", host);
	int rc = probe(host + 7);
	if (rc)
		return agent_fail("daemon at %s does not answer: %s", host, strerror(-rc));
	o->host = host + 7;
	return AGENT_EXIT_OK;
}

char *agent_api_enc(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (; *s && n + 4 <= len; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || strchr("-._~:/@", ch)) {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	if (len)
		out[n < len ? n : len - 1] = '\0';
	return out;
}

/* The daemon's {"message": ...} as berth words it: "No such container: x"
 * is "no such container: x", as the direct path says. */
static void message_of(int status, const char *buf, ssize_t n, struct berr *err)
{
	cJSON *j = n > 0 ? cJSON_ParseWithLength(buf, (size_t)n) : NULL;
	const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(j, "message"));
	int code = status == 404 ? ENOENT : status == 409 ? EBUSY : status == 400 ? EINVAL : EIO;
	if (m)
		berr_setmsg(err, code, "%c%s", !strncmp(m, "No such ", 8) ? 'n' : m[0],
			    *m ? m + 1 : "");
	else
		berr_setmsg(err, code, "the daemon answered HTTP %d", status);
	cJSON_Delete(j);
}

int agent_api_open(const struct agent_opts *o, const char *method, const char *path,
		   const char *body, int timeout_ms, struct berr *err)
{
	if (!cl) {
		cl = malloc(sizeof(*cl));
		if (!cl)
			return berr_setmsg(err, ENOMEM, "API client: out of memory");
		http_client_init(cl, NULL, timeout_ms);
	}
	cl->unix_path = o->host;
	cl->timeout_ms = cl->conn.timeout_ms = timeout_ms;
	struct http_url u = { .port = 80 };
	strcpy(u.host, "berth");
	int n = snprintf(u.path, sizeof(u.path), "/v" AGENT_API_VERSION "%s", path);
	if (n < 0 || (size_t)n >= sizeof(u.path))
		return berr_setmsg(err, E2BIG, "%s %s: request too long", method, path);
	char hdr[96] = "";
	size_t blen = body ? strlen(body) : 0;
	if (body)
		snprintf(hdr, sizeof(hdr),
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
	int rc = http_client_send(cl, method, &u, hdr, body, blen, &resp, err);
	if (rc < 0)
		return berr_prefix(err, "daemon at unix://%s", o->host);
	if (resp.status >= 400) {
		char buf[4096];
		struct berr e = { 0 };
		message_of(resp.status, buf, http_client_read_all(cl, buf, sizeof(buf), &e), err);
	}
	return resp.status;
}

ssize_t agent_api_read(void *buf, size_t len, struct berr *err)
{
	ssize_t n = http_client_read(cl, buf, len, err);
	return n < 0 ? berr_prefix(err, "daemon") : n;
}

const char *agent_api_content_type(void)
{
	return resp.content_type;
}

int agent_api_call(const struct agent_opts *o, const char *method, const char *path,
		   const char *body, int timeout_ms, cJSON **out, struct berr *err)
{
	if (out)
		*out = NULL;
	int st = agent_api_open(o, method, path, body, timeout_ms, err);
	if (st < 200 || st >= 300)
		return st;
	size_t len = 0, cap = 0;
	char *buf = NULL;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 16384;
			char *p = cap <= AGENT_API_BODY_MAX ? realloc(buf, cap) : NULL;
			if (!p) {
				free(buf);
				http_client_close(cl);
				return berr_setmsg(err, EFBIG, "%s %s: answer larger than %d bytes",
						   method, path, AGENT_API_BODY_MAX);
			}
			buf = p;
		}
		ssize_t n = agent_api_read(buf + len, cap - len - 1, err);
		if (n < 0) {
			free(buf);
			return (int)n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (out && len) {
		*out = cJSON_ParseWithLength(buf, len);
		if (!*out)
			st = berr_setmsg(err, EBADMSG, "%s %s: the daemon's answer is not JSON",
					 method, path);
	}
	free(buf);
	return st;
}

int agent_api_conn_open(const struct agent_opts *o, const char *method, const char *path,
			const char *body, bool upgrade, struct agent_api_conn *c, struct berr *err)
{
	c->have = c->left = 0;
	int rc = net_conn_open_unix(&c->c, o->host, AGENT_API_TIMEOUT_MS, err);
	if (rc)
		return berr_prefix(err, "daemon at unix://%s", o->host);
	size_t blen = body ? strlen(body) : 0;
	int n = snprintf(c->buf, sizeof(c->buf),
			 "%s /v" AGENT_API_VERSION "%s HTTP/1.1\r\nHost: berth\r\n%s"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			 method, path,
			 upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n"
				 : "Connection: close\r\n",
			 blen);
	if (n < 0 || (size_t)n >= sizeof(c->buf))
		rc = berr_setmsg(err, E2BIG, "%s %s: request too long", method, path);
	if (!rc)
		rc = net_conn_write_all(&c->c, c->buf, (size_t)n, err);
	if (!rc && blen)
		rc = net_conn_write_all(&c->c, body, blen, err);
	size_t hl = 0;
	while (!rc && !(hl = http_head_len(c->buf, c->have))) {
		ssize_t r = c->have < sizeof(c->buf)
				    ? net_conn_read(&c->c, c->buf + c->have,
						    sizeof(c->buf) - c->have, err)
				    : berr_setmsg(err, EBADMSG, "answer head too large");
		if (r == 0)
			r = berr_setmsg(err, ECONNRESET, "the daemon closed the connection");
		if (r < 0)
			rc = (int)r;
		else
			c->have += (size_t)r;
	}
	struct http_resp h;
	if (!rc)
		rc = http_parse_head(c->buf, hl, &h, err);
	if (rc) {
		net_conn_close(&c->c);
		return berr_prefix(err, "daemon at unix://%s", o->host);
	}
	c->have -= hl;
	memmove(c->buf, c->buf + hl, c->have);
	c->status = h.status;
	c->chunked = h.chunked;
	c->raw = !strcmp(h.content_type, "application/vnd.docker.raw-stream");
	if (h.status >= 400) {
		/* the error's body: what came with the head, then the rest */
		while (c->have < sizeof(c->buf) - 1 &&
		       (h.content_length < 0 || (int64_t)c->have < h.content_length)) {
			ssize_t r =
				net_conn_read(&c->c, c->buf + c->have, sizeof(c->buf) - 1 - c->have,
					      &(struct berr){ 0 });
			if (r <= 0)
				break;
			c->have += (size_t)r;
		}
		message_of(h.status, c->buf, (ssize_t)c->have, err);
		net_conn_close(&c->c);
	}
	return h.status;
}

void agent_api_conn_close(struct agent_api_conn *c)
{
	net_conn_close(&c->c);
}

int agent_api_conn_json(struct agent_api_conn *c, cJSON **out, struct berr *err)
{
	*out = NULL;
	c->c.timeout_ms = -1;
	int rc = 0;
	for (;;) {
		ssize_t r = c->have < sizeof(c->buf) ? net_conn_read(&c->c, c->buf + c->have,
								     sizeof(c->buf) - c->have, err)
						     : berr_setmsg(err, EFBIG, "answer too large");
		if (r < 0)
			rc = (int)r;
		if (r <= 0)
			break;
		c->have += (size_t)r;
	}
	net_conn_close(&c->c);
	size_t len = c->have;
	bool done = false;
	struct http_chunked ch;
	http_chunked_init(&ch);
	if (!rc && c->chunked)
		rc = http_chunked_decode(&ch, c->buf, c->have, &len, &done, err);
	if (!rc && !(*out = cJSON_ParseWithLength(c->buf, len)))
		rc = berr_setmsg(err, EBADMSG, "the daemon's answer is not JSON");
	return rc ? berr_prefix(err, "daemon") : 0;
}

static volatile sig_atomic_t winch, fwd_sig;

static void on_winch(int sig)
{
	winch = 1;
}

static void on_fwd(int sig)
{
	fwd_sig = sig;
}

/* POST target+what on the shared connection; the answer does not matter. */
static void post(const struct agent_opts *o, const char *target, const char *what)
{
	char path[1400];
	snprintf(path, sizeof(path), "%s%s", target, what);
	agent_api_call(o, "POST", path, NULL, AGENT_API_TIMEOUT_MS, NULL, &(struct berr){ 0 });
}

static void send_winsize(const struct agent_opts *o, const char *target)
{
	struct winsize ws;
	char q[64];
	if (ioctl(0, TIOCGWINSZ, &ws))
		return;
	snprintf(q, sizeof(q), "/resize?h=%u&w=%u", ws.ws_row, ws.ws_col);
	post(o, target, q);
}

/* Writes what c->buf holds of the stream to stdout and stderr: raw, or
 * docker's frames (an 8-byte head: stream, 0, 0, 0, length big-endian),
 * whose data may arrive in pieces; keeps an incomplete head. */
static int demux(struct agent_api_conn *c, struct berr *err)
{
	size_t off = 0;
	while (off < c->have) {
		if (!c->raw && !c->left) {
			const unsigned char *h = (const unsigned char *)c->buf + off;
			if (c->have - off < 8)
				break;
			c->stream = h[0] == 2 ? 2 : 1;
			c->left = ((size_t)h[4] << 24) | ((size_t)h[5] << 16) |
				  ((size_t)h[6] << 8) | h[7];
			off += 8;
			continue;
		}
		size_t n = c->have - off;
		if (!c->raw && n > c->left)
			n = c->left;
		int fd = c->raw ? 1 : c->stream;
		if (agent_write_all(fd, c->buf + off, n))
			return berr_set(err, errno, "write %s", fd == 2 ? "stderr" : "stdout");
		off += n;
		if (!c->raw)
			c->left -= n;
	}
	memmove(c->buf, c->buf + off, c->have - off);
	c->have -= off;
	return 0;
}

int agent_api_relay(const struct agent_opts *o, struct agent_api_conn *c,
		    const struct agent_relay *r, struct berr *err)
{
	static const int fwd[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction old[sizeof(fwd) / sizeof(fwd[0])];
	struct termios saved;
	bool raw = r->tty && agent_term_raw(&saved);
	if (raw) {
		struct sigaction sa = { .sa_handler = on_winch };
		sigaction(SIGWINCH, &sa, NULL);
		winch = 1;
	}
	for (size_t i = 0; r->sig_proxy && i < sizeof(fwd) / sizeof(fwd[0]); i++) {
		struct sigaction sa = { .sa_handler = on_fwd };
		sigaction(fwd[i], &sa, &old[i]);
	}
	bool in_on = r->stdin_on;
	struct agent_detach dk = { 0 };
	int rc = demux(c, err);
	while (!rc) {
		if (winch) {
			winch = 0;
			send_winsize(o, r->target);
		}
		if (fwd_sig) {
			char q[32];
			snprintf(q, sizeof(q), "/kill?signal=%d", (int)fwd_sig);
			fwd_sig = 0;
			post(o, r->target, q);
		}
		struct pollfd p[2] = { { .fd = c->c.fd, .events = POLLIN },
				       { .fd = in_on ? 0 : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = berr_set(err, errno, "poll");
			break;
		}
		if (p[1].revents) {
			unsigned char ib[4096], ob[4097];
			ssize_t n = read(0, ib, sizeof(ib));
			size_t on = (size_t)(n > 0 ? n : 0);
			if (n > 0 && r->tty && agent_detach_keys(&dk, ib, (size_t)n, ob, &on)) {
				rc = 1; /* ctrl-p ctrl-q: the container runs on */
				break;
			} else if (n > 0) {
				rc = net_conn_write_all(&c->c, r->tty ? ob : ib, on, err);
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				/* the daemon sees our stdin end; the output goes on */
				shutdown(c->c.fd, SHUT_WR);
				in_on = false;
			}
		}
		if (rc || !p[0].revents)
			continue;
		ssize_t n = recv(c->c.fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			if (n < 0)
				rc = berr_set(err, errno, "daemon: read stream");
			break;
		}
		c->have += (size_t)n;
		rc = demux(c, err);
	}
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
	for (size_t i = 0; r->sig_proxy && i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaction(fwd[i], &old[i], NULL);
	net_conn_close(&c->c);
	return rc;
}
