/* HTTP/1.1 client over net_conn: one request at a time, keep-alive reuse,
 * bodies by Content-Length, chunked or connection close (RFC 9112). */
#ifndef BERTH_HTTP_CLIENT_H
#define BERTH_HTTP_CLIENT_H

#include "net/conn.h"
#include "net/http.h"

#define HTTP_REQ_MAX 12288 /* request line + headers we send */

struct http_client {
	struct net_conn conn;
	bool open;
	bool tls;
	char host[256];
	uint16_t port;
	const struct net_tls_trust *trust;
	const char *certs_name; /* certs.d entry to use instead of each host's own */
	int timeout_ms;
	const char *unix_path; /* connect here instead of the URL's host (CONFIG_DAEMON) */
	/* body state of the current response */
	bool in_body;
	bool chunked;
	bool body_done;
	bool reusable;
	int64_t body_left; /* Content-Length bytes left, -1 until close */
	struct http_chunked ch;
	size_t off, have; /* unread bytes buf[off..have) */
	char buf[HTTP_HEAD_MAX];
};

/* Initialises a client (no connection yet). trust must outlive it. */
void http_client_init(struct http_client *c, const struct net_tls_trust *trust, int timeout_ms);

/* Sends "METHOD path" to u's host (reusing the open connection when it goes
 * to the same place, reconnecting once if a reused one turns out closed) with
 * extra header lines (each ending in \r\n, may be NULL), and reads the
 * response head into r. The body, if any, is then read with
 * http_client_read. Returns 0 or -errno. */
int http_client_request(struct http_client *c, const char *method, const struct http_url *u,
			const char *headers, struct http_resp *r, struct berr *err);

/* The same with a request body (headers must then carry its Content-Length
 * and Content-Type). */
int http_client_send(struct http_client *c, const char *method, const struct http_url *u,
		     const char *headers, const void *body, size_t blen, struct http_resp *r,
		     struct berr *err);

/* Reads body bytes: count, 0 at the end of the body, or -errno. A body cut
 * short by the peer is -ECONNRESET ("connection closed after N of M bytes"). */
ssize_t http_client_read(struct http_client *c, void *buf, size_t len, struct berr *err);

/* Reads and drops up to max bytes of the rest of the body so the connection
 * can be reused; closes it instead when the body is longer. */
void http_client_skip(struct http_client *c, size_t max);

/* Reads a whole body of at most cap bytes into buf (NUL-terminated, so cap
 * includes room for it). A longer body is -EFBIG. Returns the length. */
ssize_t http_client_read_all(struct http_client *c, char *buf, size_t cap, struct berr *err);

void http_client_close(struct http_client *c);

#endif
