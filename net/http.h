/* HTTP/1.1 message parsing for the registry client (RFC 9112): response
 * heads, chunked bodies, Content-Range, URLs. Pure functions over buffers, no
 * I/O and no allocation, so they can be fuzzed. The client that does the I/O
 * is in http_client.h. */
#ifndef BERTH_HTTP_H
#define BERTH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "board/err.h"

#define HTTP_HEAD_MAX 16384 /* a response head larger than this is refused */

struct http_resp {
	int status;             /* 100..599 */
	int minor;              /* HTTP/1.<minor> */
	int64_t content_length; /* -1 when absent */
	bool chunked;           /* Transfer-Encoding: chunked (last coding) */
	bool keep_alive;        /* 1.1 unless "Connection: close"; 1.0 only with keep-alive */
	int retry_after;        /* Retry-After in seconds (delta form), -1 when absent or a date */
	char content_type[128]; /* media type only, parameters and spaces removed, lowercase */
	char location[2048];
	char www_authenticate[1024];
	char docker_digest[80]; /* Docker-Content-Digest */
	char content_range[96];
	char etag[128];
};

/* Length of the head at the start of buf, including the final CRLFCRLF (a
 * bare LFLF is accepted too); 0 when buf does not yet hold a whole head. */
size_t http_head_len(const char *buf, size_t len);

/* Parses a complete head (buf[0..len), as measured by http_head_len) into r.
 * Header names are case-insensitive; unknown headers are ignored; a value too
 * long for its field is an error, not truncated. Returns 0 or -EBADMSG. */
int http_parse_head(const char *buf, size_t len, struct http_resp *r, struct berr *err);

/* Parses "bytes START-END/TOTAL" (TOTAL may be "*": *total = -1). */
int http_parse_content_range(const char *s, int64_t *start, int64_t *end, int64_t *total,
			     struct berr *err);

/* Chunked transfer-coding decoder, fed the body bytes as they arrive. */
struct http_chunked {
	int state;
	uint64_t left;   /* data bytes left in the current chunk */
	unsigned digits; /* hex digits seen in the size line */
	unsigned extlen; /* bytes of chunk extensions/trailers seen, bounded */
};

void http_chunked_init(struct http_chunked *c);

/* Decodes buf[0..len) in place: the chunk data is moved to the front of buf
 * and *out_len says how much there is. All of buf is consumed. *done becomes
 * true after the last chunk and its trailers; bytes after that are an error
 * (the caller passes only what belongs to this body). Returns 0 or -EBADMSG. */
int http_chunked_decode(struct http_chunked *c, char *buf, size_t len, size_t *out_len, bool *done,
			struct berr *err);

struct http_url {
	bool tls;        /* https */
	char host[256];  /* without brackets for IPv6 literals */
	uint16_t port;   /* 80/443 when not given */
	char path[2048]; /* path and query, "/" at least */
};

/* Parses an absolute http:// or https:// URL. No userinfo, no fragment kept. */
int http_url_parse(const char *url, struct http_url *u, struct berr *err);

/* Resolves a Location value (absolute URL, "//host/path", "/path", or a
 * relative "path") against base into out. */
int http_url_resolve(const struct http_url *base, const char *loc, struct http_url *out,
		     struct berr *err);

#endif
