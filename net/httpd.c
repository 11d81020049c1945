/* HTTP/1.1 requests for the daemon (see httpd.h): RFC 9112 sections 2-7,
 * RFC 9110 sections 5, 7.2, 7.6.1, 7.8, 8.3, 8.6, 10.1.1 and 15. */
#include "httpd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "net/http.h"

#define HTTPD_BUF_START 1024 /* first allocation: a typical docker request head */
#define HTTPD_BUF_KEEP 16384 /* next() leaves a buffer up to this size as it is */
#define HTTPD_SHOW_MAX 48    /* input characters quoted in an error message */
#define HTTPD_CTYPE_MAX 200  /* Content-Type a writer accepts */

struct net_httpd_conn {
	char *mem; /* the allocation, cap bytes */
	size_t cap;
	size_t off;      /* where the live bytes start: requests done are dropped */
	char *buf;       /* mem + off; the offsets below count from here */
	size_t len;      /* live bytes */
	size_t scan;     /* bytes of buf searched for the end of the head */
	size_t head;     /* length of the current request's head; 0 until it is whole */
	size_t raw, out; /* chunked: next undecoded byte, end of the decoded body */
	size_t done;     /* raw length of the request parse returned; 0 if none */
	long long clen;  /* Content-Length framing: body bytes */
	bool chunked;
	bool want_continue;
	int fail_status; /* set once parse failed: every later parse fails too */
	int fail_code;
	struct http_chunked ch;
};

/* A printable, shortened copy of s[0..n) for an error message. */
static void show(const char *s, size_t n, char *out, size_t outlen)
{
	size_t max = outlen - 4, i;
	for (i = 0; i < n && i < max; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (i < n) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_val(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* tchar (RFC 9110 section 5.6.2) */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* field-vchar, SP or HTAB (RFC 9110 section 5.5); obs-text is allowed. */
static bool is_field_char(char c)
{
	unsigned char u = (unsigned char)c;
	return u == '\t' || (u >= 0x20 && u != 0x7f);
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool token_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && !strncasecmp(s, word, n);
}

/* The errno that goes with each status net_httpd_parse answers. */
static int status_errno(int status)
{
	switch (status) {
	case 400:
		return EBADMSG;
	case 501:
		return EOPNOTSUPP;
	case 505:
		return EPROTONOSUPPORT;
	default:
		return E2BIG;
	}
}

static int refuse(struct berr *err, int *status, int st, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int refuse(struct berr *err, int *status, int st, const char *fmt, ...)
{
	char msg[BERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*status = st;
	return berr_setmsg(err, status_errno(st), "%s", msg);
}

/* Walks the elements of a comma-separated list (RFC 9110 section 5.6.1), OWS
 * trimmed, empty elements skipped. */
struct list_iter {
	const char *s;
	size_t n, pos;
};

static bool list_next(struct list_iter *it, const char **elem, size_t *elen)
{
	while (it->pos < it->n) {
		size_t start = it->pos, end = start;
		while (end < it->n && it->s[end] != ',')
			end++;
		it->pos = end + 1;
		while (start < end && is_ows(it->s[start]))
			start++;
		while (end > start && is_ows(it->s[end - 1]))
			end--;
		if (end > start) {
			*elem = it->s + start;
			*elen = end - start;
			return true;
		}
	}
	return false;
}

static bool list_has(const char *v, size_t n, const char *word)
{
	struct list_iter it = { v, n, 0 };
	const char *e;
	size_t elen;
	while (list_next(&it, &e, &elen))
		if (token_is(e, elen, word))
			return true;
	return false;
}

/* What the header lines said, for the checks that need all of them. */
struct req_seen {
	bool content_length;
	bool te;              /* Transfer-Encoding present */
	bool te_last_chunked; /* the last coding listed is chunked */
	int te_chunked;       /* times chunked was listed */
	char te_other[24];    /* first coding other than chunked, shown */
	bool conn_close, conn_keep, conn_upgrade;
	bool upgrade_tcp;
	int host; /* Host field lines */
	bool content_type, registry_auth, user_agent;
};

static int header_content_length(const char *v, size_t n, struct net_httpd_req *r,
				 struct req_seen *seen, int *status, struct berr *err)
{
	/* A list of identical values ("5, 5") is one length (RFC 9110 section
	 * 8.6); anything else that is not plain digits is refused. */
	struct list_iter it = { v, n, 0 };
	const char *e;
	size_t elen, elems = 0, commas = 0;
	for (size_t i = 0; i < n; i++)
		commas += v[i] == ',';
	while (list_next(&it, &e, &elen)) {
		long long x = 0;
		for (size_t i = 0; i < elen; i++) {
			if (!is_digit(e[i])) {
				char s[HTTPD_SHOW_MAX + 4];
				show(e, elen, s, sizeof(s));
				return refuse(err, status, 400, "bad Content-Length '%s'", s);
			}
			/* Saturates past the limit: big is big, the exact value
			 * does not matter beyond comparing two of them. */
			if (x <= NET_HTTPD_BODY_MAX)
				x = x * 10 + (e[i] - '0');
		}
		if (seen->content_length && x != r->content_length)
			return refuse(err, status, 400, "conflicting Content-Length values");
		r->content_length = x;
		seen->content_length = true;
		elems++;
	}
	if (elems == 0 || elems != commas + 1)
		return refuse(err, status, 400, "malformed Content-Length");
	return 0;
}

static void header_transfer_encoding(const char *v, size_t n, struct req_seen *seen)
{
	struct list_iter it = { v, n, 0 };
	const char *e;
	size_t elen;
	seen->te = true;
	/* Several field lines make one list: only the last element overall
	 * counts as last, so an empty line does not reset it. */
	while (list_next(&it, &e, &elen)) {
		seen->te_last_chunked = token_is(e, elen, "chunked");
		if (seen->te_last_chunked)
			seen->te_chunked++;
		else if (!seen->te_other[0])
			show(e, elen, seen->te_other, sizeof(seen->te_other));
	}
}

static int header_content_type(const char *v, size_t n, struct net_httpd_req *r, int *status,
			       struct berr *err)
{
	size_t o = 0;
	for (size_t i = 0; i < n && v[i] != ';'; i++) {
		char c = v[i];
		if (is_ows(c))
			continue;
		if (o + 1 >= sizeof(r->content_type))
			return refuse(err, status, 431, "Content-Type longer than %zu bytes",
				      sizeof(r->content_type) - 1);
		r->content_type[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	r->content_type[o] = '\0';
	return 0;
}

static int header(const char *name, size_t nlen, const char *v, size_t n, struct net_httpd_req *r,
		  struct req_seen *seen, int *status, struct berr *err)
{
	if (token_is(name, nlen, "Content-Length"))
		return header_content_length(v, n, r, seen, status, err);
	if (token_is(name, nlen, "Transfer-Encoding")) {
		header_transfer_encoding(v, n, seen);
	} else if (token_is(name, nlen, "Host")) {
		seen->host++;
	} else if (token_is(name, nlen, "Connection")) {
		seen->conn_close |= list_has(v, n, "close");
		seen->conn_keep |= list_has(v, n, "keep-alive");
		seen->conn_upgrade |= list_has(v, n, "upgrade");
	} else if (token_is(name, nlen, "Upgrade")) {
		seen->upgrade_tcp |= list_has(v, n, "tcp");
	} else if (token_is(name, nlen, "Expect")) {
		r->expect_continue |= token_is(v, n, "100-continue");
	} else if (token_is(name, nlen, "Content-Type") && !seen->content_type) {
		seen->content_type = true;
		return header_content_type(v, n, r, status, err);
	} else if (token_is(name, nlen, "X-Registry-Auth") && !seen->registry_auth) {
		seen->registry_auth = true;
		if (n >= sizeof(r->registry_auth))
			return refuse(err, status, 431, "X-Registry-Auth longer than %zu bytes",
				      sizeof(r->registry_auth) - 1);
		memcpy(r->registry_auth, v, n);
		r->registry_auth[n] = '\0';
	} else if (token_is(name, nlen, "User-Agent") && !seen->user_agent) {
		seen->user_agent = true;
		if (n >= sizeof(r->user_agent))
			n = sizeof(r->user_agent) - 1;
		memcpy(r->user_agent, v, n);
		r->user_agent[n] = '\0';
	}
	return 0;
}

/* Percent-decodes a path into out (cap bytes with the NUL): a bad escape,
 * %00 or another control character is 400, no room is 414. */
static int decode_path(const char *p, size_t n, char *out, size_t cap, int *status,
		       struct berr *err)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];
		if (c == '%') {
			int h = i + 2 < n ? hex_val(p[i + 1]) : -1;
			int l = i + 2 < n ? hex_val(p[i + 2]) : -1;
			if (h < 0 || l < 0)
				return refuse(err, status, 400, "bad percent escape in the path");
			c = h << 4 | l;
			i += 2;
			if (c < 0x20 || c == 0x7f)
				return refuse(err, status, 400,
					      "escaped control character %%%02X in the path", c);
		}
		if (o + 1 >= cap)
			return refuse(err, status, 414, "path longer than %zu bytes", cap - 1);
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* origin-form, or absolute-form whose scheme and authority are dropped
 * (RFC 9112 section 3.2); the authority of a UNIX socket means nothing. */
static int parse_target(const char *t, size_t n, struct net_httpd_req *r, int *status,
			struct berr *err)
{
	char s[HTTPD_SHOW_MAX + 4];
	for (size_t i = 0; i < n; i++) {
		unsigned char u = (unsigned char)t[i];
		if (u <= 0x20 || u >= 0x7f || u == '#') {
			show(t, n, s, sizeof(s));
			return refuse(err, status, 400, "bad character in request target '%s'", s);
		}
	}
	size_t skip = 0;
	if (n >= 7 && !strncasecmp(t, "http://", 7))
		skip = 7;
	else if (n >= 8 && !strncasecmp(t, "https://", 8))
		skip = 8;
	if (skip) {
		size_t a = skip;
		while (a < n && t[a] != '/' && t[a] != '?')
			a++;
		if (a == skip) {
			show(t, n, s, sizeof(s));
			return refuse(err, status, 400, "no authority in request target '%s'", s);
		}
		skip = a;
	} else if (t[0] != '/') {
		show(t, n, s, sizeof(s));
		return refuse(err, status, 400, "request target '%s' is not a path", s);
	}
	const char *p = t + skip, *q = memchr(p, '?', n - skip);
	size_t plen = q ? (size_t)(q - p) : n - skip;
	if (q) {
		size_t qlen = n - skip - plen - 1;
		if (qlen >= sizeof(r->query))
			return refuse(err, status, 414, "query longer than %zu bytes",
				      sizeof(r->query) - 1);
		memcpy(r->query, q + 1, qlen);
		r->query[qlen] = '\0';
	}
	if (plen == 0) { /* "http://host" or "http://host?q" */
		strcpy(r->path, "/");
		return 0;
	}
	return decode_path(p, plen, r->path, sizeof(r->path), status, err);
}

/* request-line = method SP request-target SP HTTP-version */
static int request_line(const char *l, size_t n, struct net_httpd_req *r, int *status,
			struct berr *err)
{
	char s[HTTPD_SHOW_MAX + 4];
	const char *sp1 = memchr(l, ' ', n), *sp2 = sp1 ? memrchr(l, ' ', n) : NULL;
	size_t mlen = sp1 ? (size_t)(sp1 - l) : 0;
	bool ok = sp1 && sp2 > sp1 + 1 && mlen > 0;
	for (size_t i = 0; ok && i < mlen; i++)
		ok = is_tchar(l[i]);
	if (!ok) {
		show(l, n, s, sizeof(s));
		return refuse(err, status, 400, "malformed request line '%s'", s);
	}
	const char *v = sp2 + 1;
	size_t vlen = n - (size_t)(v - l);
	if (vlen != 8 || memcmp(v, "HTTP/", 5) || !is_digit(v[5]) || v[6] != '.' ||
	    !is_digit(v[7])) {
		show(v, vlen, s, sizeof(s));
		return refuse(err, status, 400, "malformed HTTP version '%s'", s);
	}
	if (v[5] != '1')
		return refuse(err, status, 505, "HTTP version %c.%c not supported", v[5], v[7]);
	/* A later 1.x is compatible with 1.1 (RFC 9110 section 6.2). */
	r->minor = v[7] == '0' ? 0 : 1;
	if (mlen >= sizeof(r->method)) {
		show(l, mlen, s, sizeof(s));
		return refuse(err, status, 501, "method '%s' not implemented", s);
	}
	memcpy(r->method, l, mlen);
	r->method[mlen] = '\0';
	return parse_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), r, status, err);
}

/* The next line of h[*pos..n), without its CRLF or LF. The head ends with
 * an empty line, so a line end is always found. */
static void next_line(const char *h, size_t n, size_t *pos, const char **line, size_t *len)
{
	const char *nl = memchr(h + *pos, '\n', n - *pos);
	*line = h + *pos;
	*len = nl ? (size_t)(nl - *line) : n - *pos;
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
	*pos = nl ? (size_t)(nl - h) + 1 : n;
}

/* Framing and persistence once every header line is known (RFC 9112
 * sections 6.1, 6.3 and 9.3, RFC 9110 sections 7.2, 7.8 and 10.1.1). */
static int finish_head(struct net_httpd_req *r, const struct req_seen *seen, int *status,
		       struct berr *err)
{
	if (seen->te) {
		/* Both framings in one request is how requests are smuggled
		 * past a proxy: never pick one. */
		if (seen->content_length)
			return refuse(err, status, 400,
				      "both Content-Length and Transfer-Encoding");
		if (r->minor == 0)
			return refuse(err, status, 400, "Transfer-Encoding in an HTTP/1.0 request");
		if (!seen->te_last_chunked)
			return refuse(err, status, 400, "chunked is not the last transfer coding");
		if (seen->te_chunked > 1)
			return refuse(err, status, 400, "chunked transfer coding applied twice");
		if (seen->te_other[0])
			return refuse(err, status, 501, "transfer coding '%s' not implemented",
				      seen->te_other);
		r->chunked = true;
	}
	if (seen->host > 1)
		return refuse(err, status, 400, "more than one Host header");
	if (r->minor == 1 && !seen->host)
		return refuse(err, status, 400, "HTTP/1.1 request without a Host header");
	r->keep_alive = !seen->conn_close && (r->minor == 1 || seen->conn_keep);
	r->upgrade = r->minor == 1 && seen->conn_upgrade && seen->upgrade_tcp;
	if (r->minor == 0)
		r->expect_continue = false;
	return 0;
}

/* Parses the head h[0..n), which ends with its empty line, into r. */
static int parse_head(const char *h, size_t n, struct net_httpd_req *r, int *status,
		      struct berr *err)
{
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	size_t pos = 0, len;
	const char *l;
	next_line(h, n, &pos, &l, &len);
	int rc = request_line(l, len, r, status, err);
	if (rc < 0)
		return rc;
	struct req_seen seen = { 0 };
	for (;;) {
		next_line(h, n, &pos, &l, &len);
		if (len == 0)
			break;
		if (is_ows(l[0]))
			return refuse(err, status, 400, "folded header line (obs-fold) refused");
		size_t nlen = 0;
		while (nlen < len && is_tchar(l[nlen]))
			nlen++;
		if (nlen == 0 || nlen == len || l[nlen] != ':') {
			char s[HTTPD_SHOW_MAX + 4];
			show(l, len, s, sizeof(s));
			return refuse(err, status, 400, "malformed header line '%s'", s);
		}
		size_t vs = nlen + 1, ve = len;
		while (vs < ve && is_ows(l[vs]))
			vs++;
		while (ve > vs && is_ows(l[ve - 1]))
			ve--;
		for (size_t i = vs; i < ve; i++) {
			if (!is_field_char(l[i])) {
				char s[HTTPD_SHOW_MAX + 4];
				show(l, nlen, s, sizeof(s));
				return refuse(err, status, 400,
					      "control character in the value of header '%s'", s);
			}
		}
		rc = header(l, nlen, l + vs, ve - vs, r, &seen, status, err);
		if (rc < 0)
			return rc;
	}
	return finish_head(r, &seen, status, err);
}

struct net_httpd_conn *net_httpd_conn_new(void)
{
	return calloc(1, sizeof(struct net_httpd_conn));
}

void net_httpd_conn_free(struct net_httpd_conn *c)
{
	if (!c)
		return;
	free(c->mem);
	free(c);
}

/* Moves the live bytes to the start of the allocation. Only when the end is
 * reached: each byte is moved about once, however many requests a stream
 * of pipelined ones has. */
static void compact(struct net_httpd_conn *c)
{
	if (!c->off)
		return;
	memmove(c->mem, c->buf, c->len);
	c->off = 0;
	c->buf = c->mem;
}

static void drop(struct net_httpd_conn *c, size_t n)
{
	c->off += n;
	c->buf += n;
	c->len -= n;
}

int net_httpd_feed(struct net_httpd_conn *c, const void *buf, size_t len, struct berr *err)
{
	if (len > NET_HTTPD_BUF_MAX - c->len)
		return berr_setmsg(err, E2BIG, "request larger than %d bytes", NET_HTTPD_BUF_MAX);
	if (len == 0)
		return 0;
	if (c->off + c->len + len > c->cap) {
		compact(c);
		if (c->len + len > c->cap) {
			size_t cap = c->cap ? c->cap : HTTPD_BUF_START;
			while (cap < c->len + len)
				cap = cap > NET_HTTPD_BUF_MAX / 2 ? NET_HTTPD_BUF_MAX : cap * 2;
			char *p = realloc(c->mem, cap);
			if (!p)
				return berr_set(err, ENOMEM, "request buffer of %zu bytes", cap);
			c->mem = c->buf = p;
			c->cap = cap;
		}
	}
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	return 0;
}

/* Looks for the end of the head; 1 when c->head is set, 0 for more input. */
static int find_head(struct net_httpd_conn *c, int *status, struct berr *err)
{
	if (!c->len)
		return 0;
	if (!c->scan) {
		/* Empty lines before a request line are ignored (RFC 9112
		 * section 2.2); a CR alone may be the start of one. */
		size_t s = 0;
		while (s < c->len && (c->buf[s] == '\n' || (c->buf[s] == '\r' && s + 1 < c->len &&
							    c->buf[s + 1] == '\n')))
			s += c->buf[s] == '\n' ? 1 : 2;
		if (s)
			drop(c, s);
		if (c->len == 0 || (c->len == 1 && c->buf[0] == '\r'))
			return 0;
	}
	size_t lim = c->len < NET_HTTPD_HEAD_MAX ? c->len : NET_HTTPD_HEAD_MAX;
	/* An end of head (LF LF or LF CR LF) that was not wholly inside what
	 * was searched starts at most 2 bytes before its end. */
	size_t from = c->scan > 2 ? c->scan - 2 : 0;
	size_t n = http_head_len(c->buf + from, lim - from);
	if (n) {
		c->head = from + n;
		return 1;
	}
	c->scan = lim;
	if (c->len < NET_HTTPD_HEAD_MAX)
		return 0;
	if (!memchr(c->buf, '\n', NET_HTTPD_HEAD_MAX))
		return refuse(err, status, 414, "request line longer than %d bytes",
			      NET_HTTPD_HEAD_MAX);
	return refuse(err, status, 431, "request head larger than %d bytes", NET_HTTPD_HEAD_MAX);
}

/* Decodes the chunked body in place as far as it has arrived; *fin once the
 * last chunk and its trailers are in, with c->raw just after them. */
static int dechunk(struct net_httpd_conn *c, bool *fin, int *status, struct berr *err)
{
	*fin = false;
	while (c->raw < c->len) {
		/* Framing goes one byte at a time so that the decoder never
		 * sees a byte past the end of the body (pipelined requests
		 * follow it) and the size limit is checked after every size
		 * digit. With a chunk size read (no digits pending) the next
		 * ch.left bytes are all data. */
		size_t n = 1;
		if (c->ch.digits == 0 && c->ch.left > 0) {
			n = c->len - c->raw;
			if ((uint64_t)n > c->ch.left)
				n = (size_t)c->ch.left;
		}
		size_t got;
		bool done;
		int rc = http_chunked_decode(&c->ch, c->buf + c->raw, n, &got, &done, err);
		if (rc < 0) {
			*status = 400;
			return rc;
		}
		memmove(c->buf + c->out, c->buf + c->raw, got);
		c->out += got;
		c->raw += n;
		/* ch.left is the rest of the chunk being read, or the part of
		 * its size read so far: the body will be at least this long. */
		if (c->ch.left > (uint64_t)(NET_HTTPD_BODY_MAX - (c->out - c->head)))
			return refuse(err, status, 413, "request body larger than %d bytes",
				      NET_HTTPD_BODY_MAX);
		if (done) {
			*fin = true;
			return 0;
		}
	}
	/* All input decoded: the framing bytes leave no gap behind. */
	c->len = c->raw = c->out;
	return 0;
}

static int parse_step(struct net_httpd_conn *c, struct net_httpd_req *r, int *status,
		      struct berr *err)
{
	int rc;
	if (!c->head) {
		rc = find_head(c, status, err);
		if (rc <= 0)
			return rc;
		rc = parse_head(c->buf, c->head, r, status, err);
		if (rc < 0)
			return rc;
		if (r->content_length > NET_HTTPD_BODY_MAX)
			return refuse(err, status, 413, "request body larger than %d bytes",
				      NET_HTTPD_BODY_MAX);
		c->chunked = r->chunked;
		c->clen = r->content_length < 0 ? 0 : r->content_length;
		c->raw = c->out = c->head;
		if (c->chunked)
			http_chunked_init(&c->ch);
		c->want_continue =
			r->expect_continue && (c->chunked || c->clen > 0) && c->len == c->head;
	}
	size_t end;
	if (c->chunked) {
		bool fin;
		rc = dechunk(c, &fin, status, err);
		if (rc < 0 || !fin)
			return rc;
		end = c->raw;
	} else {
		if ((long long)(c->len - c->head) < c->clen)
			return 0;
		end = c->head + (size_t)c->clen;
	}
	/* The head parsed again into this r: the caller may have passed
	 * another one while the body came in. It cannot fail now. */
	rc = parse_head(c->buf, c->head, r, status, err);
	if (rc < 0)
		return rc;
	if (c->chunked && c->out > c->head) {
		/* Decoding left at least the last chunk's "0\n\n" behind. */
		c->buf[c->out] = '\0';
		r->body = c->buf + c->head;
		r->body_len = c->out - c->head;
	} else if (!c->chunked && c->clen > 0) {
		/* One byte back, over the head's last LF, to make room for
		 * the NUL without touching pipelined bytes. */
		char *b = c->buf + c->head - 1;
		memmove(b, b + 1, (size_t)c->clen);
		b[c->clen] = '\0';
		r->body = b;
		r->body_len = (size_t)c->clen;
	}
	c->want_continue = false;
	c->done = end;
	return 1;
}

int net_httpd_parse(struct net_httpd_conn *c, struct net_httpd_req *r, int *status,
		    struct berr *err)
{
	*status = 0;
	if (c->fail_status) {
		*status = c->fail_status;
		return berr_setmsg(err, c->fail_code, "request already refused with status %d",
				   c->fail_status);
	}
	if (c->done)
		net_httpd_next(c);
	int rc = parse_step(c, r, status, err);
	if (rc < 0) {
		c->fail_status = *status;
		c->fail_code = -rc;
		c->want_continue = false;
	}
	return rc;
}

bool net_httpd_want_continue(struct net_httpd_conn *c)
{
	bool w = c->want_continue;
	c->want_continue = false;
	return w;
}

void net_httpd_next(struct net_httpd_conn *c)
{
	if (!c->done)
		return;
	drop(c, c->done);
	c->scan = c->head = c->raw = c->out = c->done = 0;
	c->clen = 0;
	c->chunked = false;
	c->want_continue = false;
	if (c->len == 0) {
		free(c->mem);
		c->mem = c->buf = NULL;
		c->cap = c->off = 0;
		return;
	}
	if (c->cap <= HTTPD_BUF_KEEP || c->len > c->cap / 4)
		return;
	compact(c);
	size_t cap = HTTPD_BUF_START;
	while (cap < c->len)
		cap *= 2;
	char *p = realloc(c->mem, cap);
	if (p) { /* a failed shrink leaves the larger buffer, which still works */
		c->mem = c->buf = p;
		c->cap = cap;
	}
}

size_t net_httpd_pending(const struct net_httpd_conn *c, const void **data)
{
	*data = c->buf;
	if (c->fail_status)
		return 0;
	if (c->done) {
		*data = c->buf + c->done;
		return c->len - c->done;
	}
	return c->head || c->scan ? 0 : c->len;
}

size_t net_httpd_mem(const struct net_httpd_conn *c)
{
	return c->cap;
}

/* The next byte of a query component at s[*i], '+' as a space; -1 on a bad
 * escape (RFC 3986 section 2.1, application/x-www-form-urlencoded). */
static int query_byte(const char *s, size_t n, size_t *i)
{
	char c = s[*i];
	if (c != '%') {
		(*i)++;
		return c == '+' ? ' ' : (unsigned char)c;
	}
	int h = *i + 2 < n ? hex_val(s[*i + 1]) : -1;
	int l = *i + 2 < n ? hex_val(s[*i + 2]) : -1;
	if (h < 0 || l < 0)
		return -1;
	*i += 3;
	return h << 4 | l;
}

static bool key_is(const char *s, size_t n, const char *key)
{
	size_t i = 0, k = 0;
	while (i < n) {
		int c = query_byte(s, n, &i);
		if (c <= 0 || key[k] == '\0' || (unsigned char)key[k] != c)
			return false;
		k++;
	}
	return key[k] == '\0';
}

/* 1 with the value decoded into out, 0 when key is absent, -1 when its value
 * has a bad escape or %00, -2 when it does not fit in len bytes. */
static int query_value(const char *query, const char *key, char *out, size_t len)
{
	if (len)
		out[0] = '\0';
	for (const char *p = query; *p;) {
		size_t n = strcspn(p, "&");
		const char *eq = memchr(p, '=', n);
		size_t kn = eq ? (size_t)(eq - p) : n;
		if (n == 0 || !key_is(p, kn, key)) {
			p += n + (p[n] == '&');
			continue;
		}
		const char *v = eq ? eq + 1 : p + n;
		size_t vn = eq ? n - kn - 1 : 0, o = 0;
		for (size_t i = 0; i < vn;) {
			int c = query_byte(v, vn, &i);
			int rc = c <= 0 ? -1 : o + 1 >= len ? -2 : 0;
			if (rc < 0) {
				if (len)
					out[0] = '\0';
				return rc;
			}
			out[o++] = (char)c;
		}
		if (!len)
			return -2;
		out[o] = '\0';
		return 1;
	}
	return 0;
}

bool net_httpd_query(const char *query, const char *key, char *out, size_t len)
{
	return query_value(query, key, out, len) == 1;
}

bool net_httpd_query_bool(const char *query, const char *key, bool dflt)
{
	static const char *const no[] = { "", "0", "no", "false", "none" };
	static const char space[] = " \t\n\v\f\r";
	char v[32];
	int rc = query_value(query, key, v, sizeof(v));
	if (rc == -2) /* longer than any of the false words */
		return true;
	if (rc <= 0)
		return dflt;
	char *s = v, *e = v + strlen(v);
	while (*s && strchr(space, *s))
		s++;
	while (e > s && strchr(space, e[-1]))
		e--;
	*e = '\0';
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (!strcasecmp(s, no[i]))
			return false;
	return true;
}

static const struct {
	short status;
	const char *reason;
} httpd_reasons[] = {
	{ 100, "Continue" },
	{ 101, "Switching Protocols" },
	{ 200, "OK" },
	{ 201, "Created" },
	{ 202, "Accepted" },
	{ 204, "No Content" },
	{ 206, "Partial Content" },
	{ 301, "Moved Permanently" },
	{ 302, "Found" },
	{ 304, "Not Modified" },
	{ 307, "Temporary Redirect" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 406, "Not Acceptable" },
	{ 408, "Request Timeout" },
	{ 409, "Conflict" },
	{ 410, "Gone" },
	{ 411, "Length Required" },
	{ 412, "Precondition Failed" },
	{ 413, "Content Too Large" },
	{ 414, "URI Too Long" },
	{ 415, "Unsupported Media Type" },
	{ 416, "Range Not Satisfiable" },
	{ 417, "Expectation Failed" },
	{ 422, "Unprocessable Content" },
	{ 426, "Upgrade Required" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
	{ 505, "HTTP Version Not Supported" },
};

const char *net_httpd_reason(int status)
{
	for (size_t i = 0; i < sizeof(httpd_reasons) / sizeof(httpd_reasons[0]); i++)
		if (httpd_reasons[i].status == status)
			return httpd_reasons[i].reason;
	return "";
}

/* Sends all of iov[0..cnt), which it may modify. */
static int send_iov(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		if (iov->iov_len == 0) {
			iov++;
			cnt--;
			continue;
		}
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		size_t left = (size_t)n;
		while (cnt > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

static bool good_value(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_field_char(s[i]))
			return false;
	return true;
}

/* Complete "Name: value\r\n" lines only, so a handler cannot end the head
 * early or split the response. */
static bool good_extra(const char *s)
{
	while (*s) {
		size_t n = 0;
		while (is_tchar(s[n]))
			n++;
		if (n == 0 || s[n] != ':')
			return false;
		s += n + 1;
		while (*s && *s != '\r') {
			if (!is_field_char(*s))
				return false;
			s++;
		}
		if (s[0] != '\r' || s[1] != '\n')
			return false;
		s += 2;
	}
	return true;
}

/* The status line and Content-Type of a response head into buf. */
static int head_start(char *buf, size_t size, int status, const char *content_type,
		      const char *extra_headers, size_t *n)
{
	if (status < 100 || status > 999 ||
	    (content_type && !good_value(content_type, HTTPD_CTYPE_MAX)) ||
	    (extra_headers && !good_extra(extra_headers)))
		return -EINVAL;
	int k = snprintf(buf, size, "HTTP/1.1 %d %s\r\n", status, net_httpd_reason(status));
	if (content_type)
		k += snprintf(buf + k, size - (size_t)k, "Content-Type: %s\r\n", content_type);
	*n = (size_t)k;
	return 0;
}

int net_httpd_respond(int fd, int status, const char *content_type, const void *body, size_t len,
		      bool keep_alive, const char *extra_headers)
{
	char head[384];
	size_t n;
	int rc = head_start(head, sizeof(head), status, content_type, extra_headers, &n);
	if (rc < 0)
		return rc;
	/* 1xx and 204 have no content, and say nothing of its length (RFC
	 * 9110 section 8.6); neither has 304, which may state it. */
	bool no_length = status < 200 || status == 204;
	if ((no_length || status == 304) && body && len)
		return -EINVAL;
	if (!no_length)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "Content-Length: %zu\r\n", len);
	if (!keep_alive)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "Connection: close\r\n");
	struct iovec iov[4] = {
		{ head, n },
		{ (void *)(extra_headers ? extra_headers : ""),
		  extra_headers ? strlen(extra_headers) : 0 },
		{ (void *)"\r\n", 2 },
		{ (void *)body, body ? len : 0 },
	};
	return send_iov(fd, iov, 4);
}

int net_httpd_start_chunked(int fd, int status, const char *content_type, const char *extra_headers)
{
	char head[384];
	size_t n;
	int rc = head_start(head, sizeof(head), status, content_type, extra_headers, &n);
	if (rc < 0)
		return rc;
	n += (size_t)snprintf(head + n, sizeof(head) - n, "Transfer-Encoding: chunked\r\n");
	struct iovec iov[3] = {
		{ head, n },
		{ (void *)(extra_headers ? extra_headers : ""),
		  extra_headers ? strlen(extra_headers) : 0 },
		{ (void *)"\r\n", 2 },
	};
	return send_iov(fd, iov, 3);
}

int net_httpd_chunk(int fd, const void *data, size_t len)
{
	char size[24];
	int n = snprintf(size, sizeof(size), "%zx\r\n", len);
	struct iovec iov[3] = {
		{ size, (size_t)n },
		{ (void *)data, len },
		{ (void *)"\r\n", 2 },
	};
	return send_iov(fd, iov, 3);
}

int net_httpd_continue(int fd)
{
	static const char c[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct iovec iov = { (void *)c, sizeof(c) - 1 };
	return send_iov(fd, &iov, 1);
}

int net_httpd_hijack(int fd, const char *content_type)
{
	if (content_type && !good_value(content_type, HTTPD_CTYPE_MAX))
		return -EINVAL;
	char head[384];
	int n = snprintf(
		head, sizeof(head),
		"HTTP/1.1 101 UPGRADED\r\n%s%s%sConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
		content_type ? "Content-Type: " : "", content_type ? content_type : "",
		content_type ? "\r\n" : "");
	struct iovec iov = { head, (size_t)n };
	return send_iov(fd, &iov, 1);
}
