/* HTTP/1.1 response heads, chunked bodies, Content-Range and URLs (see http.h):
 * RFC 9112 sections 4-7, RFC 9110 sections 5, 8.6, 10.2.3, 14.4, RFC 3986 section 5. */
#include "http.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HTTP_SHOW_MAX 48         /* input characters quoted in an error message */
#define HTTP_CHUNK_DIGITS_MAX 32 /* hex digits of a chunk size, leading zeros included */
#define HTTP_CHUNK_EXT_MAX 4096  /* chunk extensions on one size line */
#define HTTP_TRAILER_MAX 8192    /* all trailer lines of a chunked body */

/* A printable, shortened copy of s[0..n) for an error message, so hostile
 * bytes cannot reach a terminal or push the reason out of the message. */
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

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
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
	return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
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

/* Parses 1*DIGIT into a non-negative int64; false on anything else or overflow. */
static bool parse_u63(const char *s, size_t n, int64_t *v)
{
	int64_t x = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		int d = s[i] - '0';
		if (x > (INT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

/* Walks the elements of a comma-separated list (RFC 9110 section 5.6.1), OWS
 * trimmed; empty elements are skipped, as the list rule allows. */
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

static bool token_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && !strncasecmp(s, word, n);
}

size_t http_head_len(const char *buf, size_t len)
{
	/* The head ends at the first empty line; RFC 9112 section 2.2 lets a
	 * recipient take a bare LF as a line terminator. */
	const char *end = buf + len;
	for (const char *nl = memchr(buf, '\n', len); nl;
	     nl = memchr(nl + 1, '\n', (size_t)(end - nl - 1))) {
		if (end - nl > 1 && nl[1] == '\n')
			return (size_t)(nl - buf) + 2;
		if (end - nl > 2 && nl[1] == '\r' && nl[2] == '\n')
			return (size_t)(nl - buf) + 3;
	}
	return 0;
}

/* What the header lines said, for the checks that need all of them. */
struct head_seen {
	bool content_length;
	bool te;               /* Transfer-Encoding present */
	bool te_after_chunked; /* a coding applied after chunked */
	int te_chunked;        /* times chunked was listed */
	char te_other[24];     /* first coding other than chunked, shown */
	bool conn_close, conn_keep;
	bool retry_after;
	bool content_type;
	bool www_bearer; /* the stored WWW-Authenticate is a Bearer challenge */
};

/* Headers copied as they are, trimmed of OWS. */
struct http_str_field {
	const char *name;
	size_t off, size;
	bool unique; /* a second, different value is an error, not ignored */
};

#define RESP_SIZE(f) sizeof(((struct http_resp *)0)->f)

/* A redirect target or digest that two headers disagree on is a sign of a
 * split response; take neither. */
static const struct http_str_field http_str_fields[] = {
	{ "Location", offsetof(struct http_resp, location), RESP_SIZE(location), true },
	{ "Docker-Content-Digest", offsetof(struct http_resp, docker_digest),
	  RESP_SIZE(docker_digest), true },
	{ "Content-Range", offsetof(struct http_resp, content_range), RESP_SIZE(content_range),
	  true },
	{ "ETag", offsetof(struct http_resp, etag), RESP_SIZE(etag), false },
};

static int too_long(struct berr *err, const char *name, size_t size)
{
	return berr_setmsg(err, EBADMSG, "%s header longer than %zu bytes", name, size - 1);
}

static int store_str(const struct http_str_field *f, const char *v, size_t n, struct http_resp *r,
		     struct berr *err)
{
	char *dst = (char *)r + f->off;
	if (dst[0]) {
		if (f->unique && (strlen(dst) != n || memcmp(dst, v, n)))
			return berr_setmsg(err, EBADMSG, "conflicting %s headers", f->name);
		return 0;
	}
	if (n >= f->size)
		return too_long(err, f->name, f->size);
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int header_content_length(const char *v, size_t n, struct http_resp *r,
				 struct head_seen *seen, struct berr *err)
{
	/* A list of identical values ("5, 5") is one length (RFC 9110 section 8.6). */
	struct list_iter it = { v, n, 0 };
	const char *e;
	size_t elen;
	size_t commas = 0, elems = 0;
	for (size_t i = 0; i < n; i++)
		commas += v[i] == ',';
	while (list_next(&it, &e, &elen)) {
		int64_t x;
		if (!parse_u63(e, elen, &x)) {
			char s[HTTP_SHOW_MAX + 4];
			show(e, elen, s, sizeof(s));
			return berr_setmsg(err, EBADMSG, "bad Content-Length '%s'", s);
		}
		if (seen->content_length && x != r->content_length)
			return berr_setmsg(err, EBADMSG, "conflicting Content-Length values");
		r->content_length = x;
		seen->content_length = true;
		elems++;
	}
	/* Framing is not the place to be lenient: no empty elements. */
	if (elems == 0 || elems != commas + 1)
		return berr_setmsg(err, EBADMSG, "malformed Content-Length");
	return 0;
}

static void header_transfer_encoding(const char *v, size_t n, struct head_seen *seen)
{
	struct list_iter it = { v, n, 0 };
	const char *e;
	size_t elen;
	seen->te = true;
	while (list_next(&it, &e, &elen)) {
		if (token_is(e, elen, "chunked")) {
			seen->te_chunked++;
			continue;
		}
		if (seen->te_chunked)
			seen->te_after_chunked = true;
		if (!seen->te_other[0])
			show(e, elen, seen->te_other, sizeof(seen->te_other));
	}
}

static void header_connection(const char *v, size_t n, struct head_seen *seen)
{
	struct list_iter it = { v, n, 0 };
	const char *e;
	size_t elen;
	while (list_next(&it, &e, &elen)) {
		if (token_is(e, elen, "close"))
			seen->conn_close = true;
		else if (token_is(e, elen, "keep-alive"))
			seen->conn_keep = true;
	}
}

static void header_retry_after(const char *v, size_t n, struct http_resp *r)
{
	/* delta-seconds too large to hold count as the largest value
	 * (RFC 9111 section 1.2.2); the HTTP-date form is not used. */
	r->retry_after = -1;
	if (n == 0)
		return;
	long long x = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(v[i]))
			return;
		if (x <= INT_MAX)
			x = x * 10 + (v[i] - '0');
	}
	r->retry_after = x > INT_MAX ? INT_MAX : (int)x;
}

static int header_content_type(const char *v, size_t n, struct http_resp *r, struct berr *err)
{
	size_t o = 0;
	for (size_t i = 0; i < n && v[i] != ';'; i++) {
		char c = v[i];
		if (is_ows(c))
			continue;
		if (o + 1 >= sizeof(r->content_type))
			return too_long(err, "Content-Type", sizeof(r->content_type));
		r->content_type[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	r->content_type[o] = '\0';
	return 0;
}

static bool is_bearer(const char *v, size_t n)
{
	return n >= 6 && !strncasecmp(v, "Bearer", 6) && (n == 6 || is_ows(v[6]));
}

static int header_www_authenticate(const char *v, size_t n, struct http_resp *r,
				   struct head_seen *seen, struct berr *err)
{
	/* Keep the first Bearer challenge, else the first one: Bearer is
	 * what registries use, Basic the fallback. */
	bool bearer = is_bearer(v, n);
	if (r->www_authenticate[0] && (seen->www_bearer || !bearer))
		return 0;
	if (n >= sizeof(r->www_authenticate))
		return too_long(err, "WWW-Authenticate", sizeof(r->www_authenticate));
	memcpy(r->www_authenticate, v, n);
	r->www_authenticate[n] = '\0';
	seen->www_bearer = bearer;
	return 0;
}

static int header(const char *name, size_t nlen, const char *v, size_t n, struct http_resp *r,
		  struct head_seen *seen, struct berr *err)
{
	if (token_is(name, nlen, "Content-Length"))
		return header_content_length(v, n, r, seen, err);
	if (token_is(name, nlen, "Transfer-Encoding")) {
		header_transfer_encoding(v, n, seen);
		return 0;
	}
	if (token_is(name, nlen, "Connection")) {
		header_connection(v, n, seen);
		return 0;
	}
	if (token_is(name, nlen, "Retry-After")) {
		if (!seen->retry_after)
			header_retry_after(v, n, r);
		seen->retry_after = true;
		return 0;
	}
	if (token_is(name, nlen, "Content-Type")) {
		if (seen->content_type)
			return 0;
		seen->content_type = true;
		return header_content_type(v, n, r, err);
	}
	if (token_is(name, nlen, "WWW-Authenticate"))
		return header_www_authenticate(v, n, r, seen, err);
	for (size_t i = 0; i < sizeof(http_str_fields) / sizeof(http_str_fields[0]); i++)
		if (token_is(name, nlen, http_str_fields[i].name))
			return store_str(&http_str_fields[i], v, n, r, err);
	return 0;
}

/* The next line from buf[*pos..len), without its CRLF or LF. */
static int next_line(const char *buf, size_t len, size_t *pos, const char **line, size_t *n,
		     struct berr *err)
{
	const char *nl = memchr(buf + *pos, '\n', len - *pos);
	if (!nl)
		return berr_setmsg(err, EBADMSG,
				   "response head is not terminated by an empty line");
	*line = buf + *pos;
	*n = (size_t)(nl - *line);
	if (*n > 0 && (*line)[*n - 1] == '\r')
		(*n)--;
	*pos = (size_t)(nl - buf) + 1;
	return 0;
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ]; the
 * second SP is often left out when there is no reason, so it is optional. */
static int status_line(const char *l, size_t n, struct http_resp *r, struct berr *err)
{
	char s[HTTP_SHOW_MAX + 4];
	bool ok = n >= 12 && !memcmp(l, "HTTP/1.", 7) && is_digit(l[7]) && l[8] == ' ' &&
		  is_digit(l[9]) && is_digit(l[10]) && is_digit(l[11]) && (n == 12 || l[12] == ' ');
	for (size_t i = 13; ok && i < n; i++)
		ok = is_field_char(l[i]);
	if (!ok) {
		show(l, n, s, sizeof(s));
		return berr_setmsg(err, EBADMSG, "bad status line '%s'", s);
	}
	r->minor = l[7] - '0';
	r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (r->status < 100 || r->status > 599)
		return berr_setmsg(err, EBADMSG, "bad status code %d", r->status);
	return 0;
}

/* Framing and persistence once every header line is known (RFC 9112 section 6). */
static int finish_head(struct http_resp *r, const struct head_seen *seen, struct berr *err)
{
	if (seen->te) {
		if (seen->te_after_chunked)
			return berr_setmsg(err, EBADMSG, "chunked is not the last transfer coding");
		if (seen->te_chunked > 1)
			return berr_setmsg(err, EBADMSG, "chunked transfer coding applied twice");
		if (seen->te_other[0])
			return berr_setmsg(err, EBADMSG, "unsupported transfer coding '%s'",
					   seen->te_other);
		if (!seen->te_chunked)
			return berr_setmsg(err, EBADMSG, "empty Transfer-Encoding");
		r->chunked = true;
		r->content_length = -1;
	}
	if (seen->conn_close)
		r->keep_alive = false;
	else
		r->keep_alive = r->minor >= 1 || seen->conn_keep;
	/* Framing that does not add up (both lengths, or chunked in 1.0)
	 * cannot be trusted for the next response on this connection. */
	if (seen->te && (seen->content_length || r->minor == 0))
		r->keep_alive = false;
	return 0;
}

int http_parse_head(const char *buf, size_t len, struct http_resp *r, struct berr *err)
{
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	r->retry_after = -1;
	if (len > HTTP_HEAD_MAX)
		return berr_setmsg(err, EBADMSG, "response head larger than %d bytes",
				   HTTP_HEAD_MAX);

	size_t pos = 0, n;
	const char *l;
	int rc = next_line(buf, len, &pos, &l, &n, err);
	if (rc < 0)
		return rc;
	rc = status_line(l, n, r, err);
	if (rc < 0)
		return rc;

	struct head_seen seen = { 0 };
	for (;;) {
		rc = next_line(buf, len, &pos, &l, &n, err);
		if (rc < 0)
			return rc;
		if (n == 0)
			break;
		if (is_ows(l[0]))
			return berr_setmsg(err, EBADMSG, "folded header line (obs-fold) refused");
		size_t nlen = 0;
		while (nlen < n && is_tchar(l[nlen]))
			nlen++;
		if (nlen == 0 || nlen == n || l[nlen] != ':') {
			char s[HTTP_SHOW_MAX + 4];
			show(l, n, s, sizeof(s));
			return berr_setmsg(err, EBADMSG, "malformed header line '%s'", s);
		}
		size_t vs = nlen + 1, ve = n;
		while (vs < ve && is_ows(l[vs]))
			vs++;
		while (ve > vs && is_ows(l[ve - 1]))
			ve--;
		for (size_t i = vs; i < ve; i++) {
			if (!is_field_char(l[i])) {
				char s[HTTP_SHOW_MAX + 4];
				show(l, nlen, s, sizeof(s));
				return berr_setmsg(err, EBADMSG,
						   "control character in the value of header '%s'",
						   s);
			}
		}
		rc = header(l, nlen, l + vs, ve - vs, r, &seen, err);
		if (rc < 0)
			return rc;
	}
	if (pos != len)
		return berr_setmsg(err, EBADMSG, "bytes after the end of the response head");
	return finish_head(r, &seen, err);
}

int http_parse_content_range(const char *s, int64_t *start, int64_t *end, int64_t *total,
			     struct berr *err)
{
	/* Content-Range = range-unit SP first-pos "-" last-pos "/" ( complete-length / "*" ) */
	const char *dash = strchr(s, '-'), *slash = strchr(s, '/');
	bool ok = !strncasecmp(s, "bytes ", 6) && dash && slash && dash < slash;
	ok = ok && parse_u63(s + 6, (size_t)(dash - s - 6), start) &&
	     parse_u63(dash + 1, (size_t)(slash - dash - 1), end) && *start <= *end;
	if (ok && !strcmp(slash + 1, "*"))
		*total = -1;
	else
		ok = ok && parse_u63(slash + 1, strlen(slash + 1), total) && *end < *total;
	if (!ok) {
		char sh[HTTP_SHOW_MAX + 4];
		show(s, strlen(s), sh, sizeof(sh));
		return berr_setmsg(err, EBADMSG, "bad Content-Range '%s'", sh);
	}
	return 0;
}

enum {
	CH_SIZE,         /* hex digits of a chunk size */
	CH_SIZE_WS,      /* whitespace after the size, before ';' or the line end */
	CH_EXT,          /* chunk extensions, up to the end of the size line */
	CH_SIZE_LF,      /* CR seen at the end of a size line */
	CH_DATA,         /* c->left data bytes to go */
	CH_DATA_CR,      /* CRLF after the chunk data */
	CH_DATA_LF,      /* CR seen after the chunk data */
	CH_TRAILER,      /* start of a trailer line or of the final empty line */
	CH_TRAILER_LINE, /* inside a trailer line */
	CH_TRAILER_LF,   /* CR seen at the end of a trailer line */
	CH_END_LF,       /* CR of the final empty line seen */
	CH_DONE,
	CH_BAD, /* an error was returned; so is every later call */
};

void http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE;
}

static void chunk_size_line_end(struct http_chunked *c)
{
	c->digits = 0;
	c->extlen = 0;
	c->state = c->left ? CH_DATA : CH_TRAILER;
}

static void chunk_next_size(struct http_chunked *c)
{
	c->left = 0;
	c->digits = 0;
	c->extlen = 0;
	c->state = CH_SIZE;
}

/* One byte of everything but chunk data; returns NULL or what is wrong. */
static const char *chunk_byte(struct http_chunked *c, char ch)
{
	bool ctl = !is_field_char(ch);
	switch (c->state) {
	case CH_SIZE: {
		int h = hex_val(ch);
		if (h >= 0) {
			if (++c->digits > HTTP_CHUNK_DIGITS_MAX)
				return "chunk size line too long";
			if (c->left > (UINT64_MAX >> 4))
				return "chunk size overflows";
			c->left = (c->left << 4) | (uint64_t)h;
			return NULL;
		}
		if (!c->digits)
			return "chunk size missing";
		if (ch == '\r') {
			c->state = CH_SIZE_LF;
		} else if (ch == '\n') {
			chunk_size_line_end(c);
		} else if (ch == ';' || is_ows(ch)) {
			c->state = ch == ';' ? CH_EXT : CH_SIZE_WS;
			c->extlen = 1;
		} else {
			return "bad character in chunk size";
		}
		return NULL;
	}
	case CH_SIZE_WS:
		if (ch == '\r')
			c->state = CH_SIZE_LF;
		else if (ch == '\n')
			chunk_size_line_end(c);
		else if (ch != ';' && !is_ows(ch))
			return "bad character after chunk size";
		else if (++c->extlen > HTTP_CHUNK_EXT_MAX)
			return "chunk extensions too long";
		else if (ch == ';')
			c->state = CH_EXT;
		return NULL;
	case CH_EXT:
		if (ch == '\r')
			c->state = CH_SIZE_LF;
		else if (ch == '\n')
			chunk_size_line_end(c);
		else if (ctl)
			return "control character in chunk extension";
		else if (++c->extlen > HTTP_CHUNK_EXT_MAX)
			return "chunk extensions too long";
		return NULL;
	case CH_SIZE_LF:
		if (ch != '\n')
			return "CR without LF after chunk size";
		chunk_size_line_end(c);
		return NULL;
	case CH_DATA_CR:
		if (ch == '\r')
			c->state = CH_DATA_LF;
		else if (ch == '\n')
			chunk_next_size(c);
		else
			return "chunk data longer than its size";
		return NULL;
	case CH_DATA_LF:
		if (ch != '\n')
			return "CR without LF after chunk data";
		chunk_next_size(c);
		return NULL;
	case CH_TRAILER:
		if (ch == '\r') {
			c->state = CH_END_LF;
			return NULL;
		}
		if (ch == '\n') {
			c->state = CH_DONE;
			return NULL;
		}
		if (!is_tchar(ch))
			return "malformed trailer line";
		c->state = CH_TRAILER_LINE;
		if (++c->extlen > HTTP_TRAILER_MAX)
			return "trailers too long";
		return NULL;
	case CH_TRAILER_LINE:
		if (ch == '\r')
			c->state = CH_TRAILER_LF;
		else if (ch == '\n')
			c->state = CH_TRAILER;
		else if (ctl)
			return "control character in trailer";
		else if (++c->extlen > HTTP_TRAILER_MAX)
			return "trailers too long";
		return NULL;
	case CH_TRAILER_LF:
		if (ch != '\n')
			return "CR without LF in trailer";
		c->state = CH_TRAILER;
		return NULL;
	case CH_END_LF:
		if (ch != '\n')
			return "CR without LF at the end of the chunked body";
		c->state = CH_DONE;
		return NULL;
	case CH_DONE:
		return "bytes after the end of the chunked body";
	default:
		return "chunked decoder used after an error";
	}
}

int http_chunked_decode(struct http_chunked *c, char *buf, size_t len, size_t *out_len, bool *done,
			struct berr *err)
{
	size_t in = 0, out = 0;
	*out_len = 0;
	*done = c->state == CH_DONE;
	while (in < len) {
		if (c->state == CH_DATA) {
			size_t n = len - in;
			if ((uint64_t)n > c->left)
				n = (size_t)c->left;
			memmove(buf + out, buf + in, n);
			in += n;
			out += n;
			c->left -= n;
			if (!c->left)
				c->state = CH_DATA_CR;
			continue;
		}
		const char *why = chunk_byte(c, buf[in++]);
		if (why) {
			c->state = CH_BAD;
			return berr_setmsg(err, EBADMSG, "chunked body: %s", why);
		}
	}
	*out_len = out;
	*done = c->state == CH_DONE;
	return 0;
}

static int url_fail(struct berr *err, const char *url, const char *why)
{
	char s[HTTP_SHOW_MAX + 4];
	show(url, strlen(url), s, sizeof(s));
	return berr_setmsg(err, EINVAL, "invalid URL '%s': %s", s, why);
}

/* reg-name restricted to what DNS names use: unreserved characters. */
static bool host_char(char c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* authority = host [ ":" port ], no userinfo (RFC 3986 section 3.2). */
static int parse_authority(const char *a, size_t n, const char *url, struct http_url *u,
			   struct berr *err)
{
	if (memchr(a, '@', n))
		return url_fail(err, url, "user information is not allowed");
	const char *host = a, *rest;
	size_t hlen;
	if (n && a[0] == '[') {
		const char *close = memchr(a, ']', n);
		if (!close)
			return url_fail(err, url, "unterminated IPv6 address");
		host = a + 1;
		hlen = (size_t)(close - host);
		bool colon = false;
		for (size_t i = 0; i < hlen; i++) {
			if (host[i] == ':')
				colon = true;
			else if (hex_val(host[i]) < 0 && host[i] != '.')
				return url_fail(err, url, "bad IPv6 address");
		}
		if (!colon)
			return url_fail(err, url, "bad IPv6 address");
		rest = close + 1;
	} else {
		const char *colon = memchr(a, ':', n);
		hlen = colon ? (size_t)(colon - a) : n;
		for (size_t i = 0; i < hlen; i++)
			if (!host_char(host[i]))
				return url_fail(err, url, "bad character in host name");
		rest = a + hlen;
	}
	if (hlen == 0)
		return url_fail(err, url, "no host");
	if (hlen >= sizeof(u->host))
		return url_fail(err, url, "host name too long");
	memcpy(u->host, host, hlen);
	u->host[hlen] = '\0';

	size_t rlen = n - (size_t)(rest - a);
	u->port = u->tls ? 443 : 80;
	if (rlen == 0)
		return 0;
	if (rest[0] != ':')
		return url_fail(err, url, "bad character after the host");
	/* "host:" with no digits means the default port (RFC 3986 section 6.2.3). */
	if (rlen == 1)
		return 0;
	int64_t port;
	if (rlen > 6 || !parse_u63(rest + 1, rlen - 1, &port) || port < 1 || port > 65535)
		return url_fail(err, url, "bad port");
	u->port = (uint16_t)port;
	return 0;
}

/* Request targets go on the request line as they are: visible ASCII only. */
static int check_path_chars(const char *p, size_t n, const char *url, struct berr *err)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return url_fail(err, url, "space, control or non-ASCII character in path");
	return 0;
}

/* Sets u->path to prefix[0..pn) + p[0..n), "/" when both are empty, and a
 * "/" in front of a bare query. */
static int set_path(struct http_url *u, const char *prefix, size_t pn, const char *p, size_t n,
		    const char *url, struct berr *err)
{
	int rc = check_path_chars(p, n, url, err);
	if (rc < 0)
		return rc;
	bool slash = pn == 0 && (n == 0 || p[0] == '?');
	if ((slash ? 1 : 0) + pn + n >= sizeof(u->path))
		return url_fail(err, url, "path too long");
	char *d = u->path;
	if (slash)
		*d++ = '/';
	if (pn)
		memmove(d, prefix, pn);
	if (n)
		memcpy(d + pn, p, n);
	d[pn + n] = '\0';
	return 0;
}

/* What follows "scheme://": authority, then path and query up to any fragment. */
static int parse_after_scheme(const char *s, const char *url, struct http_url *u, struct berr *err)
{
	size_t alen = strcspn(s, "/?#");
	int rc = parse_authority(s, alen, url, u, err);
	if (rc < 0)
		return rc;
	const char *p = s + alen;
	return set_path(u, NULL, 0, p, strcspn(p, "#"), url, err);
}

int http_url_parse(const char *url, struct http_url *u, struct berr *err)
{
	memset(u, 0, sizeof(*u));
	if (!strncasecmp(url, "http://", 7))
		return parse_after_scheme(url + 7, url, u, err);
	if (!strncasecmp(url, "https://", 8)) {
		u->tls = true;
		return parse_after_scheme(url + 8, url, u, err);
	}
	return url_fail(err, url, "not an http:// or https:// URL");
}

/* remove_dot_segments (RFC 3986 section 5.2.4) on the path part of p, which
 * starts with '/'; the query is kept. Works in place: the output never gets
 * ahead of the input. */
static void remove_dot_segments(char *p)
{
	size_t end = strcspn(p, "?"), qlen = strlen(p + end), r = 0, w = 0;
	if (p[0] != '/')
		return;
	while (r < end) {
		size_t s = r + 1;
		while (s < end && p[s] != '/')
			s++;
		size_t seg = s - r - 1;
		bool last = s == end;
		if (seg == 1 && p[r + 1] == '.') {
			if (last)
				p[w++] = '/';
		} else if (seg == 2 && p[r + 1] == '.' && p[r + 2] == '.') {
			while (w > 0 && p[--w] != '/')
				;
			if (last)
				p[w++] = '/';
		} else {
			memmove(p + w, p + r, s - r);
			w += s - r;
		}
		r = s;
	}
	if (w == 0)
		p[w++] = '/';
	memmove(p + w, p + end, qlen + 1);
}

/* Does loc start with a scheme ("ALPHA *( ALPHA / DIGIT / + - . ) :")? */
static bool has_scheme(const char *loc)
{
	if (!is_alpha(loc[0]))
		return false;
	size_t i = 1;
	while (is_alpha(loc[i]) || is_digit(loc[i]) || (loc[i] && strchr("+-.", loc[i])))
		i++;
	return loc[i] == ':';
}

/* A reference with no scheme or authority: its path merged with base's
 * (RFC 3986 sections 5.2.2 and 5.2.3); any fragment is dropped. */
static int merge_path(const struct http_url *base, const char *loc, struct http_url *t,
		      struct berr *err)
{
	size_t n = strcspn(loc, "#");
	size_t bn = strnlen(base->path, sizeof(base->path) - 1);
	const char *q = memchr(base->path, '?', bn);
	size_t bpath = q ? (size_t)(q - base->path) : bn;
	size_t dir = 0; /* the base path up to and including its last '/' */
	for (size_t i = 0; i < bpath; i++)
		if (base->path[i] == '/')
			dir = i + 1;
	if (n == 0) /* "#frag": the base itself */
		return set_path(t, base->path, bn, "", 0, loc, err);
	if (loc[0] == '/')
		return set_path(t, NULL, 0, loc, n, loc, err);
	if (loc[0] == '?')
		return bpath ? set_path(t, base->path, bpath, loc, n, loc, err)
			     : set_path(t, "/", 1, loc, n, loc, err);
	return dir ? set_path(t, base->path, dir, loc, n, loc, err)
		   : set_path(t, "/", 1, loc, n, loc, err);
}

int http_url_resolve(const struct http_url *base, const char *loc, struct http_url *out,
		     struct berr *err)
{
	struct http_url t; /* base and out may be the same */
	int rc;
	memset(&t, 0, sizeof(t));
	t.tls = base->tls;
	if (!loc[0]) {
		rc = url_fail(err, loc, "empty Location");
	} else if (has_scheme(loc)) {
		rc = http_url_parse(loc, &t, err);
	} else if (loc[0] == '/' && loc[1] == '/') {
		rc = parse_after_scheme(loc + 2, loc, &t, err);
	} else {
		t.port = base->port;
		memcpy(t.host, base->host, sizeof(t.host));
		t.host[sizeof(t.host) - 1] = '\0';
		rc = merge_path(base, loc, &t, err);
	}
	if (rc < 0)
		return rc;
	remove_dot_segments(t.path);
	*out = t;
	return 0;
}
