/* libFuzzer target for net/httpd.c: the bytes after the first are a
 * connection's input, parsed once fed whole and once fed in pieces whose
 * sizes the first byte seeds. Both must give the same requests and the same
 * final error; every request and error is checked on its own too. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

struct outcome {
	unsigned requests;
	uint64_t hash; /* of every request parsed, in order */
	int rc;        /* of the last parse: 0 (more input needed) or an error */
	int status;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t fnv_str(uint64_t h, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	CHECK(n < cap);
	return fnv(h, s, n + 1);
}

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_query(const char *q)
{
	char v[64], first[32];
	size_t kn = strcspn(q, "=&");
	bool found = net_httpd_query(q, "all", v, sizeof(v));
	CHECK(strnlen(v, sizeof(v)) < sizeof(v) && (found || !v[0]));
	if (kn < sizeof(first)) {
		memcpy(first, q, kn);
		first[kn] = '\0';
		net_httpd_query(q, first, v, sizeof(v));
		net_httpd_query(q, first, v, 1);
		CHECK(v[0] == '\0');
	}
	bool a = net_httpd_query_bool(q, "all", false), b = net_httpd_query_bool(q, "all", true);
	CHECK(!found || a == b);
}

/* Checks one parsed request and folds it into the outcome. */
static void check_req(const struct net_httpd_req *r, struct outcome *o)
{
	uint64_t h = o->hash;
	h = fnv_str(h, r->method, sizeof(r->method));
	h = fnv_str(h, r->path, sizeof(r->path));
	h = fnv_str(h, r->query, sizeof(r->query));
	h = fnv_str(h, r->content_type, sizeof(r->content_type));
	h = fnv_str(h, r->registry_auth, sizeof(r->registry_auth));
	h = fnv_str(h, r->user_agent, sizeof(r->user_agent));
	CHECK(r->method[0]);
	for (const char *p = r->method; *p; p++)
		CHECK(is_tchar(*p));
	CHECK(r->path[0] == '/');
	for (const unsigned char *p = (const unsigned char *)r->path; *p; p++)
		CHECK(*p >= 0x20 && *p != 0x7f);
	for (const unsigned char *p = (const unsigned char *)r->query; *p; p++)
		CHECK(*p > 0x20 && *p < 0x7f && *p != '#');
	for (const char *p = r->content_type; *p; p++)
		CHECK(*p != ' ' && *p != ';' && !(*p >= 'A' && *p <= 'Z'));
	CHECK(r->minor == 0 || r->minor == 1);
	CHECK(!r->upgrade || r->minor == 1);
	CHECK(!r->expect_continue || r->minor == 1);
	CHECK(r->content_length >= -1 && r->content_length <= NET_HTTPD_BODY_MAX);
	CHECK(!r->chunked || (r->content_length == -1 && r->minor == 1));
	CHECK(r->body_len <= NET_HTTPD_BODY_MAX);
	CHECK((r->body == NULL) == (r->body_len == 0));
	if (!r->chunked)
		CHECK((long long)r->body_len == (r->content_length < 0 ? 0 : r->content_length));
	if (r->body)
		CHECK(r->body[r->body_len] == '\0');
	unsigned char flags = (unsigned char)(r->minor | r->keep_alive << 1 | r->upgrade << 2 |
					      r->expect_continue << 3 | r->chunked << 4);
	h = fnv(h, &flags, 1);
	h = fnv(h, &r->content_length, sizeof(r->content_length));
	h = fnv(h, &r->body_len, sizeof(r->body_len));
	if (r->body)
		h = fnv(h, r->body, r->body_len);
	o->hash = h;
	o->requests++;
	check_query(r->query);
}

static void check_error(int rc, int status, const struct berr *e)
{
	CHECK(e->code == -rc && e->msg[0]);
	switch (status) {
	case 400:
		CHECK(rc == -EBADMSG);
		break;
	case 413:
	case 414:
	case 431:
		CHECK(rc == -E2BIG);
		break;
	case 501:
		CHECK(rc == -EOPNOTSUPP);
		break;
	case 505:
		CHECK(rc == -EPROTONOSUPPORT);
		break;
	default:
		CHECK(0);
	}
}

/* Parses what was fed so far; false after an error (no parse after it). */
static bool parse_all(struct net_httpd_conn *c, size_t fed, struct outcome *o)
{
	static struct net_httpd_req r;
	for (;;) {
		struct berr e = { 0 };
		int status = -1;
		int rc = net_httpd_parse(c, &r, &status, &e);
		CHECK(net_httpd_mem(c) <= NET_HTTPD_BUF_MAX);
		o->rc = rc;
		o->status = status;
		if (rc < 0) {
			check_error(rc, status, &e);
			return false;
		}
		CHECK(status == 0);
		const void *p;
		size_t pend = net_httpd_pending(c, &p);
		CHECK(pend <= fed);
		if (rc == 0) {
			net_httpd_want_continue(c);
			return true;
		}
		CHECK(rc == 1);
		check_req(&r, o);
		net_httpd_next(c);
	}
}

/* Feeds data[0..size) in pieces of 1..max bytes chosen by seed (max 0: whole). */
static void run(const uint8_t *data, size_t size, uint32_t seed, size_t max, struct outcome *o)
{
	struct net_httpd_conn *c = net_httpd_conn_new();
	CHECK(c);
	memset(o, 0, sizeof(*o));
	o->hash = 0xcbf29ce484222325ULL;
	size_t off = 0;
	bool ok = true;
	while (ok && off < size) {
		size_t k = size - off;
		if (max) {
			seed = seed * 1103515245u + 12345u;
			size_t want = 1 + (seed >> 8) % max;
			if (want < k)
				k = want;
		}
		struct berr e = { 0 };
		CHECK(net_httpd_feed(c, data + off, k, &e) == 0);
		off += k;
		ok = parse_all(c, off, o);
	}
	net_httpd_conn_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 256 * 1024)
		return 0;
	static const size_t maxes[] = { 1, 2, 7, 64, 1000 };
	uint32_t seed = data[0];
	size_t max = maxes[data[0] % 5];
	data++;
	size--;
	struct outcome whole, split;
	run(data, size, 0, 0, &whole);
	run(data, size, seed, max, &split);
	CHECK(whole.requests == split.requests && whole.hash == split.hash);
	CHECK(whole.rc == split.rc && whole.status == split.status);
	return 0;
}
