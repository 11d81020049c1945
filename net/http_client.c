/* HTTP/1.1 client (see http_client.h). */
#include "http_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

void http_client_init(struct http_client *c, const struct net_tls_trust *trust, int timeout_ms)
{
	memset(c, 0, offsetof(struct http_client, buf));
	c->conn.fd = -1;
	c->trust = trust;
	c->timeout_ms = timeout_ms;
}

void http_client_close(struct http_client *c)
{
	if (c->open)
		net_conn_close(&c->conn);
	c->open = false;
	c->in_body = false;
	c->off = c->have = 0;
}

static bool same_peer(const struct http_client *c, const struct http_url *u)
{
	return c->open && c->tls == u->tls && c->port == u->port && !strcmp(c->host, u->host);
}

static int send_request(struct http_client *c, const char *method, const struct http_url *u,
			const char *headers, const void *body, size_t blen, struct berr *err)
{
	char req[HTTP_REQ_MAX];
	const char *lb = strchr(u->host, ':') ? "[" : "", *rb = *lb ? "]" : "";
	bool default_port = u->port == (u->tls ? 443 : 80);
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: %s%s%s%s%.0u\r\nUser-Agent: berth\r\n%s\r\n",
			 method, u->path, lb, u->host, rb, default_port ? "" : ":",
			 default_port ? 0 : u->port, headers ? headers : "");
	if (n < 0 || (size_t)n >= sizeof(req))
		return berr_setmsg(err, E2BIG, "%s %s: request too long", method, u->path);
	int rc = net_conn_write_all(&c->conn, req, (size_t)n, err);
	if (!rc && blen)
		rc = net_conn_write_all(&c->conn, body, blen, err);
	return rc;
}

/* Reads until a whole head is buffered; returns its length or -errno. */
static ssize_t read_head(struct http_client *c, struct berr *err)
{
	c->off = c->have = 0;
	for (;;) {
		size_t hl = http_head_len(c->buf, c->have);
		if (hl)
			return (ssize_t)hl;
		if (c->have == sizeof(c->buf))
			return berr_setmsg(err, EMSGSIZE, "response head larger than %d bytes",
					   HTTP_HEAD_MAX);
		ssize_t n =
			net_conn_read(&c->conn, c->buf + c->have, sizeof(c->buf) - c->have, err);
		if (n < 0)
			return n;
		if (n == 0)
			return berr_setmsg(err, ECONNRESET, "connection closed before a response");
		c->have += (size_t)n;
	}
}

int http_client_request(struct http_client *c, const char *method, const struct http_url *u,
			const char *headers, struct http_resp *r, struct berr *err)
{
	return http_client_send(c, method, u, headers, NULL, 0, r, err);
}

int http_client_send(struct http_client *c, const char *method, const struct http_url *u,
		     const char *headers, const void *body, size_t blen, struct http_resp *r,
		     struct berr *err)
{
	if (c->in_body)
		http_client_skip(c, 64 << 10);
	for (int attempt = 0;; attempt++) {
		bool reused = same_peer(c, u);
		if (!reused) {
			http_client_close(c);
			int rc = CONFIG_DAEMON && c->unix_path
					 ? net_conn_open_unix(&c->conn, c->unix_path, c->timeout_ms,
							      err)
					 : net_conn_open(&c->conn, u->host, u->port, u->tls,
							 c->trust, c->certs_name, c->timeout_ms,
							 err);
			if (rc < 0)
				return rc;
			c->open = true;
			c->tls = u->tls;
			c->port = u->port;
			snprintf(c->host, sizeof(c->host), "%s", u->host);
		}
		/* what is buffered belongs to the previous answer, whose body is done */
		c->off = c->have = 0;
		int rc = send_request(c, method, u, headers, body, blen, err);
		ssize_t hl = rc < 0 ? rc : read_head(c, err);
		/* A kept-alive connection the server closed meanwhile fails on
		 * first use; that is not the server's answer, so retry once. */
		if (hl < 0 && reused && attempt == 0 && c->have == 0 && hl != -ETIMEDOUT) {
			http_client_close(c);
			continue;
		}
		if (hl < 0) {
			http_client_close(c);
			return (int)hl;
		}
		rc = http_parse_head(c->buf, (size_t)hl, r, err);
		if (rc < 0) {
			http_client_close(c);
			return rc;
		}
		c->off = (size_t)hl;
		c->in_body = true;
		c->body_done = false;
		c->reusable = r->keep_alive;
		c->chunked = false;
		c->body_left = -1;
		bool nobody = !strcmp(method, "HEAD") || r->status == 204 || r->status == 304 ||
			      r->status < 200;
		if (nobody) {
			c->body_done = true;
		} else if (r->chunked) {
			c->chunked = true;
			http_chunked_init(&c->ch);
		} else if (r->content_length >= 0) {
			c->body_left = r->content_length;
			c->body_done = r->content_length == 0;
		} else {
			c->reusable = false; /* delimited by close */
		}
		if (c->body_done)
			c->in_body = false;
		return 0;
	}
}

/* Raw body bytes: buffered ones first, then the socket. */
static ssize_t raw_read(struct http_client *c, void *buf, size_t len, struct berr *err)
{
	if (c->off < c->have) {
		size_t n = c->have - c->off;
		if (n > len)
			n = len;
		memcpy(buf, c->buf + c->off, n);
		c->off += n;
		return (ssize_t)n;
	}
	return net_conn_read(&c->conn, buf, len, err);
}

static void end_body(struct http_client *c)
{
	c->body_done = true;
	c->in_body = false;
	if (!c->reusable || c->off < c->have)
		http_client_close(c);
}

ssize_t http_client_read(struct http_client *c, void *buf, size_t len, struct berr *err)
{
	if (!c->in_body || c->body_done || len == 0)
		return 0;
	if (c->chunked) {
		for (;;) {
			ssize_t n = raw_read(c, buf, len, err);
			if (n < 0) {
				http_client_close(c);
				return n;
			}
			if (n == 0) {
				http_client_close(c);
				return berr_setmsg(err, ECONNRESET,
						   "connection closed inside a chunked body");
			}
			size_t out = 0;
			bool done = false;
			int rc = http_chunked_decode(&c->ch, buf, (size_t)n, &out, &done, err);
			if (rc < 0) {
				http_client_close(c);
				return rc;
			}
			if (done)
				end_body(c);
			if (out || done)
				return (ssize_t)out;
		}
	}
	if (c->body_left >= 0 && (int64_t)len > c->body_left)
		len = (size_t)c->body_left;
	ssize_t n = raw_read(c, buf, len, err);
	if (n < 0) {
		http_client_close(c);
		return n;
	}
	if (n == 0) {
		if (c->body_left > 0) {
			http_client_close(c);
			return berr_setmsg(err, ECONNRESET,
					   "connection closed with %lld body bytes still to come",
					   (long long)c->body_left);
		}
		end_body(c);
		return 0;
	}
	if (c->body_left >= 0) {
		c->body_left -= n;
		if (c->body_left == 0)
			end_body(c);
	}
	return n;
}

void http_client_skip(struct http_client *c, size_t max)
{
	char tmp[4096];
	size_t total = 0;
	while (c->in_body && !c->body_done) {
		if (total > max) {
			http_client_close(c);
			return;
		}
		ssize_t n = http_client_read(c, tmp, sizeof(tmp), NULL);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	c->in_body = false;
}

ssize_t http_client_read_all(struct http_client *c, char *buf, size_t cap, struct berr *err)
{
	size_t len = 0;
	for (;;) {
		if (len + 1 >= cap) {
			char probe;
			if (http_client_read(c, &probe, 1, NULL) > 0) {
				http_client_close(c);
				return berr_setmsg(err, EFBIG,
						   "response body larger than %zu bytes", cap - 1);
			}
			break;
		}
		ssize_t n = http_client_read(c, buf + len, cap - 1 - len, err);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}
