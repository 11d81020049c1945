/* libFuzzer target for net/http.c: the same bytes as a response head, a
 * Content-Range, a URL and a Location, and a chunked body fed in two pieces. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

static void check_str(const char *s, size_t cap)
{
	CHECK(strnlen(s, cap) < cap);
}

static void check_url(const struct http_url *u)
{
	check_str(u->host, sizeof(u->host));
	check_str(u->path, sizeof(u->path));
	CHECK(u->host[0] && u->port != 0 && u->path[0] == '/');
	for (const char *p = u->path; *p; p++)
		CHECK(*p > 0x20 && *p < 0x7f && *p != '#');
	for (const char *p = u->host; *p; p++)
		CHECK(*p > 0x20 && *p < 0x7f && *p != '/' && *p != '@' && *p != '[');
}

static void check_resolve(const struct http_url *base, const char *loc)
{
	struct http_url out;
	struct berr e = { 0 };
	int rc = http_url_resolve(base, loc, &out, &e);
	CHECK(rc == 0 || (rc == -EINVAL && e.code == EINVAL && e.msg[0]));
	if (rc == 0)
		check_url(&out);
}

static void check_head(const char *buf, size_t hl)
{
	struct http_resp r;
	struct berr e = { 0 };
	int rc = http_parse_head(buf, hl, &r, &e);
	CHECK(rc == 0 || (rc == -EBADMSG && e.code == EBADMSG && e.msg[0]));
	if (rc < 0)
		return;
	CHECK(r.status >= 100 && r.status <= 599 && r.minor >= 0 && r.minor <= 9);
	CHECK(r.content_length >= -1 && r.retry_after >= -1);
	CHECK(!r.chunked || r.content_length == -1);
	check_str(r.content_type, sizeof(r.content_type));
	check_str(r.location, sizeof(r.location));
	check_str(r.www_authenticate, sizeof(r.www_authenticate));
	check_str(r.docker_digest, sizeof(r.docker_digest));
	check_str(r.content_range, sizeof(r.content_range));
	check_str(r.etag, sizeof(r.etag));
	for (const char *p = r.content_type; *p; p++)
		CHECK(*p != ' ' && *p != '\t' && *p != ';' && !(*p >= 'A' && *p <= 'Z'));
	for (const char *p = r.location; *p; p++)
		CHECK(*p != '\r' && *p != '\n');
	if (r.content_range[0]) {
		int64_t s, en, t;
		if (http_parse_content_range(r.content_range, &s, &en, &t, NULL) == 0)
			CHECK(s >= 0 && s <= en && (t == -1 || en < t));
	}
	if (r.location[0]) {
		struct http_url base;
		CHECK(http_url_parse("https://registry.example:5000/v2/a/b/blobs/x?q=1", &base,
				     NULL) == 0);
		check_resolve(&base, r.location);
	}
}

/* Decodes body[0..len) split at cut; returns rc and fills out/done. */
static int dechunk(const uint8_t *body, size_t len, size_t cut, char *buf, size_t *out, bool *done)
{
	struct http_chunked c;
	size_t n1 = 0, n2 = 0;
	http_chunked_init(&c);
	memcpy(buf, body, len);
	*done = false;
	int rc = http_chunked_decode(&c, buf, cut, &n1, done, NULL);
	if (rc < 0)
		return rc;
	CHECK(n1 <= cut);
	/* The second piece is decoded where it lies; its output follows the first's. */
	rc = http_chunked_decode(&c, buf + cut, len - cut, &n2, done, NULL);
	if (rc < 0)
		return rc;
	CHECK(n2 <= len - cut);
	memmove(buf + n1, buf + cut, n2);
	*out = n1 + n2;
	return 0;
}

static void check_chunked(const uint8_t *body, size_t len, size_t cut)
{
	char *a = malloc(len + 1), *b = malloc(len + 1);
	size_t na = 0, nb = 0;
	bool da = false, db = false;
	CHECK(a && b);
	int ra = dechunk(body, len, len, a, &na, &da);
	int rb = dechunk(body, len, cut, b, &nb, &db);
	CHECK(ra == rb);
	CHECK(ra == 0 || ra == -EBADMSG);
	if (ra == 0) {
		CHECK(na == nb && da == db);
		CHECK(!memcmp(a, b, na));
	}
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4 * HTTP_HEAD_MAX)
		return 0;
	const char *buf = (const char *)data;
	size_t hl = http_head_len(buf, size);
	CHECK(hl <= size);
	if (hl)
		check_head(buf, hl);

	char *s = malloc(size + 1);
	CHECK(s);
	memcpy(s, data, size);
	s[size] = '\0';
	int64_t st, en, t;
	if (http_parse_content_range(s, &st, &en, &t, NULL) == 0)
		CHECK(st >= 0 && st <= en && (t == -1 || en < t));
	struct http_url u, base;
	struct berr e = { 0 };
	int rc = http_url_parse(s, &u, &e);
	CHECK(rc == 0 || (rc == -EINVAL && e.msg[0]));
	if (rc == 0) {
		check_url(&u);
		check_resolve(&u, "../x/./y?z#f");
		check_resolve(&u, s);
	}
	CHECK(http_url_parse("http://[::1]:8080/a/b/c", &base, NULL) == 0);
	check_resolve(&base, s);
	free(s);

	const uint8_t *body = hl ? data + hl : data;
	size_t blen = size - hl;
	size_t cut = size ? ((size_t)data[0] << 8 | data[size - 1]) % (blen + 1) : 0;
	check_chunked(body, blen, cut);
	return 0;
}
