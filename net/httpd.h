/* The server side of HTTP/1.1 for the daemon's Docker Engine API (RFC 9112):
 * an incremental request parser fed per connection, query-string helpers and
 * response writers for a blocking socket. The parser does no I/O. */
#ifndef BERTH_HTTPD_H
#define BERTH_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "board/err.h"

#define NET_HTTPD_HEAD_MAX 16384     /* request line + headers */
#define NET_HTTPD_BODY_MAX (1 << 20) /* request bodies (JSON), after chunked decoding */
/* What one connection may have buffered at once; feeding more is -E2BIG. */
#define NET_HTTPD_BUF_MAX (NET_HTTPD_HEAD_MAX + NET_HTTPD_BODY_MAX)

struct net_httpd_req {
	char method[16];      /* a token, case as sent: "GET", "POST", "DELETE", "HEAD", "PUT" */
	char path[1024];      /* percent-decoded path without the query; starts with '/' */
	char query[2048];     /* raw query string after '?', "" if none */
	int minor;            /* HTTP/1.<minor>: 0 or 1 (1.2 to 1.9 count as 1.1) */
	bool keep_alive;      /* HTTP/1.1 unless "Connection: close"; 1.0 only with keep-alive */
	bool upgrade;         /* HTTP/1.1 with "Connection: Upgrade" and "Upgrade: tcp" */
	bool expect_continue; /* HTTP/1.1 with "Expect: 100-continue" */
	long long content_length; /* -1 when absent (and always with chunked) */
	bool chunked;             /* Transfer-Encoding: chunked (decoded into body) */
	char content_type[128];   /* media type only, lowercase, parameters dropped; "" if none */
	char registry_auth[8192]; /* X-Registry-Auth (base64url JSON) as sent, "" if none */
	char user_agent[256];     /* truncated to fit: it is only shown, never acted on */
	const char *body;         /* the decoded body, NUL-terminated, in the parser's buffer;
				     NULL when there is none (body_len 0) */
	size_t body_len;
};

/* One connection's parser. It owns a buffer that is allocated on the first
 * feed (1 KiB), doubles only as needed up to NET_HTTPD_BUF_MAX, and is freed
 * or shrunk by net_httpd_next: an idle connection holds no buffer at all. */
struct net_httpd_conn;

/* A new parser, or NULL when out of memory. Free with net_httpd_conn_free. */
struct net_httpd_conn *net_httpd_conn_new(void);
void net_httpd_conn_free(struct net_httpd_conn *c);

/* Appends buf[0..len) (copied) as it was read from the socket. Returns 0,
 * -E2BIG when more than NET_HTTPD_BUF_MAX bytes would be buffered (answer 413
 * and close), or -ENOMEM. Invalidates the body pointer of a parsed request. */
int net_httpd_feed(struct net_httpd_conn *c, const void *buf, size_t len, struct berr *err);

/* Tries to parse one complete request from what was fed. Returns 1 with *r
 * filled (r->body points into c's buffer, valid until the next
 * net_httpd_next, net_httpd_feed or net_httpd_parse), 0 when more input is
 * needed (*r is then unspecified), or a negative errno with err set and
 * *status the HTTP status to answer with:
 *   400 malformed request line, header, target or chunked framing, missing
 *       Host in 1.1, Content-Length together with Transfer-Encoding, or
 *       Transfer-Encoding whose last coding is not chunked or in 1.0 (-EBADMSG)
 *   413 body larger than NET_HTTPD_BODY_MAX, seen from Content-Length before
 *       the body is read (-E2BIG)
 *   414 request target too long for path or query, or no request line end in
 *       the first NET_HTTPD_HEAD_MAX bytes (-E2BIG)
 *   431 head larger than NET_HTTPD_HEAD_MAX, or a header too long for its
 *       field (-E2BIG)
 *   501 a transfer coding other than chunked, or a method longer than 15
 *       characters (-EOPNOTSUPP)
 *   505 an HTTP major version other than 1 (-EPROTONOSUPPORT)
 * A request without Content-Length or Transfer-Encoding has no body (RFC 9112
 * section 6.3), so 411 is never returned. After an error the connection must
 * be closed: later calls return the same error. Empty lines before a request
 * line are skipped. Parsing after a 1 drops that request (net_httpd_next). */
int net_httpd_parse(struct net_httpd_conn *c, struct net_httpd_req *r, int *status,
		    struct berr *err);

/* True once per request whose head asked for 100-continue, once the head is
 * parsed and before any of its body arrived: the caller then writes
 * net_httpd_continue (or answers with a final status). */
bool net_httpd_want_continue(struct net_httpd_conn *c);

/* Drops the request the last net_httpd_parse returned; pipelined bytes after
 * it stay. The buffer is freed when nothing is left and shrunk when it is
 * mostly empty, so a connection that once sent 1 MiB does not keep it. No-op
 * when no request was returned. */
void net_httpd_next(struct net_httpd_conn *c);

/* Bytes buffered after the request net_httpd_parse returned (for a hijacked
 * connection: stdin the client already sent), or all bytes fed when no
 * request has begun; 0 in the middle of a request or after an error.
 * *data points into c's buffer, valid as r->body is. */
size_t net_httpd_pending(const struct net_httpd_conn *c, const void **data);

/* Bytes c has allocated for its buffer (0 when idle). */
size_t net_httpd_mem(const struct net_httpd_conn *c);

/* The value of the first key=value pair in query whose key is key, percent-
 * and plus-decoded into out (len bytes with the NUL). A pair without '='
 * has the value "". False when there is no such key, or when that first
 * value has a bad escape, a %00 or does not fit (out is then ""). */
bool net_httpd_query(const char *query, const char *key, char *out, size_t len);

/* A boolean query parameter as dockerd reads it: dflt when the key is
 * absent or its value malformed; false for "", "0", "no", "false", "none"
 * (any case, surrounding spaces ignored); true for anything else ("1",
 * "true", "True", ...). */
bool net_httpd_query_bool(const char *query, const char *key, bool dflt);

/* The reason phrase of a status ("Not Found"); "" for codes it does not know. */
const char *net_httpd_reason(int status);

/* Writers for a blocking socket fd (sent with MSG_NOSIGNAL, EINTR retried).
 * Each returns 0 or -errno; -EINVAL for a status outside 100..999, or a
 * content type or extra_headers that is not well-formed: extra_headers is
 * NULL or complete "Name: value\r\n" lines, with no empty line. */

/* A whole response with Content-Length: len. body NULL with len > 0 sends
 * only the head (for HEAD requests). 1xx and 204 get neither Content-Length
 * nor body. keep_alive false adds "Connection: close". */
int net_httpd_respond(int fd, int status, const char *content_type, const void *body, size_t len,
		      bool keep_alive, const char *extra_headers);

/* The head of a response with Transfer-Encoding: chunked; the body follows
 * with net_httpd_chunk. content_type may be NULL. */
int net_httpd_start_chunked(int fd, int status, const char *content_type,
			    const char *extra_headers);

/* One chunk of data[0..len); len 0 writes the last chunk, ending the body. */
int net_httpd_chunk(int fd, const void *data, size_t len);

/* "HTTP/1.1 100 Continue" for a request that expects it. */
int net_httpd_continue(int fd);

/* Hands the connection over to a raw stream as dockerd does for attach and
 * exec: "HTTP/1.1 101 UPGRADED\r\nContent-Type: <content_type>\r\n
 * Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n" (no Content-Type line when
 * content_type is NULL). */
int net_httpd_hijack(int fd, const char *content_type);

#endif
