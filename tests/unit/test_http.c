/* Unit tests for net/http.c: response heads, the chunked decoder,
 * Content-Range and URLs (RFC 9112, RFC 9110, RFC 3986). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>

#include "net/http.h"
#include "tap.h"

#define HEAD_OK "HTTP/1.1 200 OK\r\n"

static int parse(const char *head, struct http_resp *r)
{
	struct berr e = { 0 };
	int rc = http_parse_head(head, strlen(head), r, &e);
	if (rc < 0 && !e.msg[0])
		printf("#   error %d without a message\n", rc);
	return rc;
}

static void test_head_len(void)
{
	const char *a = "HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody";
	T_EXPECT_INT(http_head_len(a, strlen(a)), strlen(a) - 4);
	const char *b = "HTTP/1.1 200 OK\nA: b\n\nbody";
	T_EXPECT_INT(http_head_len(b, strlen(b)), strlen(b) - 4);
	const char *c = "HTTP/1.1 200 OK\r\nA: b\n\r\n";
	T_EXPECT_INT(http_head_len(c, strlen(c)), strlen(c));
	const char *d = "HTTP/1.1 200 OK\r\nA: b\r\n\n";
	T_EXPECT_INT(http_head_len(d, strlen(d)), strlen(d));
	/* Every proper prefix of a head is incomplete. */
	for (size_t i = 0; i < strlen(a) - 4; i++)
		T_EXPECT_INT(http_head_len(a, i), 0);
	T_EXPECT_INT(http_head_len("", 0), 0);
	T_EXPECT_INT(http_head_len("\r\n\r", 3), 0);
	T_EXPECT_INT(http_head_len("HTTP/1.1 200 OK\r\n\r\r\n", 20), 0);
}

static void test_head_basic(void)
{
	struct http_resp r;
	const char *h = "HTTP/1.1 200 OK\r\n"
			"Content-Length: 1234\r\n"
			"Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"
			"Docker-Content-Digest: sha256:0123\r\n"
			"ETag: \"sha256:0123\"\r\n"
			"X-Unknown: whatever\r\n"
			"\r\n";
	T_EXPECT_INT(parse(h, &r), 0);
	T_EXPECT_INT(r.status, 200);
	T_EXPECT_INT(r.minor, 1);
	T_EXPECT_INT(r.content_length, 1234);
	T_EXPECT(!r.chunked);
	T_EXPECT(r.keep_alive);
	T_EXPECT_INT(r.retry_after, -1);
	T_EXPECT_STR(r.content_type, "application/vnd.oci.image.manifest.v1+json");
	T_EXPECT_STR(r.docker_digest, "sha256:0123");
	T_EXPECT_STR(r.etag, "\"sha256:0123\"");
	T_EXPECT_STR(r.location, "");
	T_EXPECT_STR(r.www_authenticate, "");
	T_EXPECT_STR(r.content_range, "");

	/* Bare LF line ends, no reason phrase, lower-case names. */
	T_EXPECT_INT(parse("HTTP/1.0 404\ncontent-length:0\nlocation:   /x  \n\n", &r), 0);
	T_EXPECT_INT(r.status, 404);
	T_EXPECT_INT(r.minor, 0);
	T_EXPECT_INT(r.content_length, 0);
	T_EXPECT_STR(r.location, "/x");
	T_EXPECT(!r.keep_alive);
	T_EXPECT_INT(parse("HTTP/1.1 204 \r\n\r\n", &r), 0);
	T_EXPECT_INT(r.content_length, -1);
	T_EXPECT_INT(parse("HTTP/1.1 307 Temporary Redirect\r\nLOCATION: https://a/b\r\n\r\n", &r),
		     0);
	T_EXPECT_STR(r.location, "https://a/b");
	T_EXPECT_INT(parse("HTTP/1.1 500 Internal \tServer Error \x80\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.status, 500);
}

static void test_status_line(void)
{
	struct http_resp r;
	static const char *const bad[] = {
		"HTTP/2 200 OK\r\n\r\n",     "HTTP/2.0 200 OK\r\n\r\n",
		"HTTP/1.1 099 OK\r\n\r\n",   "HTTP/1.1 600 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",  "http/1.1 200 OK\r\n\r\n",
		"HTTP/1.1  200 OK\r\n\r\n",  "HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.x 200 OK\r\n\r\n",   "HTTP/1.1 200 O\x01K\r\n\r\n",
		"HTTP/1.1 2a0 OK\r\n\r\n",   " HTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200OK\r\n\r\n",    "\r\n\r\n",
		"HTTP/1.1 200 OK\r\r\n\r\n", "HTTP/1.1 200 OK",
		"HTTP/1.1 200 OK\r\n",       "HTTP/1.1 200 OK\r\nA: b\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &r) != -EBADMSG)
			printf("#   accepted: %s\n", bad[i]);
		T_EXPECT_INT(parse(bad[i], &r), -EBADMSG);
	}
	T_EXPECT_INT(parse("HTTP/1.1 100 Continue\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.status, 100);
	T_EXPECT_INT(parse("HTTP/1.1 599 x\r\n\r\n", &r), 0);
	T_EXPECT_INT(parse("HTTP/1.9 200 x\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.minor, 9);
}

static void test_header_syntax(void)
{
	struct http_resp r;
	struct berr e = { 0 };
	const char *fold = HEAD_OK "X-A: one\r\n two\r\n\r\n";
	T_EXPECT_INT(http_parse_head(fold, strlen(fold), &r, &e), -EBADMSG);
	T_EXPECT(strstr(e.msg, "fold") != NULL);
	T_EXPECT_INT(parse(HEAD_OK "Location: /a\r\n\t/b\r\n\r\n", &r), -EBADMSG);
	T_EXPECT_INT(parse(HEAD_OK "NoColon\r\n\r\n", &r), -EBADMSG);
	T_EXPECT_INT(parse(HEAD_OK "Bad Name: x\r\n\r\n", &r), -EBADMSG);
	T_EXPECT_INT(parse(HEAD_OK ": x\r\n\r\n", &r), -EBADMSG);
	T_EXPECT_INT(parse(HEAD_OK "Content-Length : 5\r\n\r\n", &r), -EBADMSG);
	T_EXPECT_INT(parse(HEAD_OK "X-A: a\x01"
				   "b\r\n\r\n",
			   &r),
		     -EBADMSG);
	T_EXPECT_INT(parse(HEAD_OK "X-A: a\rb\r\n\r\n", &r), -EBADMSG);
	T_EXPECT_INT(parse(HEAD_OK "X-A: a\x7f\r\n\r\n", &r), -EBADMSG);
	T_EXPECT_INT(parse(HEAD_OK "X-A:\r\n\r\n", &r), 0);
	T_EXPECT_INT(parse(HEAD_OK "X-A: \x80\xff\r\n\r\n", &r), 0);
	/* An embedded NUL is a control character like any other. */
	const char nul[] = HEAD_OK "Location: /a\0b\r\n\r\n";
	T_EXPECT_INT(http_parse_head(nul, sizeof(nul) - 1, &r, &e), -EBADMSG);
	/* A message naming the line does not carry its raw bytes. */
	T_EXPECT_INT(http_parse_head(HEAD_OK "\x1b[31mevil\r\n\r\n",
				     strlen(HEAD_OK "\x1b[31mevil\r\n\r\n"), &r, &e),
		     -EBADMSG);
	T_EXPECT(strchr(e.msg, '\x1b') == NULL);
	/* Only what http_head_len measured: nothing after the empty line. */
	T_EXPECT_INT(parse(HEAD_OK "\r\nbody", &r), -EBADMSG);
}

static void test_content_length(void)
{
	struct http_resp r;
	T_EXPECT_INT(parse(HEAD_OK "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.content_length, 5);
	T_EXPECT_INT(parse(HEAD_OK "Content-Length: 5, 5 ,5\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.content_length, 5);
	T_EXPECT_INT(parse(HEAD_OK "Content-Length: 007\r\nContent-Length: 7\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.content_length, 7);
	T_EXPECT_INT(parse(HEAD_OK "Content-Length: 9223372036854775807\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.content_length, INT64_MAX);
	static const char *const bad[] = {
		"Content-Length: 5\r\nContent-Length: 6\r\n",
		"Content-Length: 5, 6\r\n",
		"Content-Length: abc\r\n",
		"Content-Length: -1\r\n",
		"Content-Length: +5\r\n",
		"Content-Length: 0x10\r\n",
		"Content-Length: 5 5\r\n",
		"Content-Length:\r\n",
		"Content-Length: 5,\r\n",
		"Content-Length: ,5\r\n",
		"Content-Length: 5,,5\r\n",
		"Content-Length: 9223372036854775808\r\n",
		"Content-Length: 99999999999999999999999\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char h[256];
		snprintf(h, sizeof(h), HEAD_OK "%s\r\n", bad[i]);
		if (parse(h, &r) != -EBADMSG)
			printf("#   accepted: %s\n", bad[i]);
		T_EXPECT_INT(parse(h, &r), -EBADMSG);
	}
}

static void test_transfer_encoding(void)
{
	struct http_resp r;
	struct berr e = { 0 };
	T_EXPECT_INT(parse(HEAD_OK "Transfer-Encoding: chunked\r\n\r\n", &r), 0);
	T_EXPECT(r.chunked);
	T_EXPECT_INT(r.content_length, -1);
	T_EXPECT(r.keep_alive);
	T_EXPECT_INT(parse(HEAD_OK "transfer-encoding:  CHUNKED \r\n\r\n", &r), 0);
	T_EXPECT(r.chunked);
	/* Both: chunked wins, and the connection is not trusted afterwards. */
	T_EXPECT_INT(parse(HEAD_OK "Content-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n", &r),
		     0);
	T_EXPECT(r.chunked);
	T_EXPECT_INT(r.content_length, -1);
	T_EXPECT(!r.keep_alive);
	T_EXPECT_INT(parse(HEAD_OK "Transfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n", &r),
		     0);
	T_EXPECT_INT(r.content_length, -1);
	/* Chunked in HTTP/1.0 is faulty framing (RFC 9112 section 6.1). */
	T_EXPECT_INT(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
			   "Transfer-Encoding: chunked\r\n\r\n",
			   &r),
		     0);
	T_EXPECT(r.chunked);
	T_EXPECT(!r.keep_alive);

	const char *notlast = HEAD_OK "Transfer-Encoding: chunked, gzip\r\n\r\n";
	T_EXPECT_INT(http_parse_head(notlast, strlen(notlast), &r, &e), -EBADMSG);
	T_EXPECT(strstr(e.msg, "last") != NULL);
	T_EXPECT_INT(
		parse(HEAD_OK "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", &r),
		-EBADMSG);
	T_EXPECT_INT(parse(HEAD_OK "Transfer-Encoding: chunked, chunked\r\n\r\n", &r), -EBADMSG);
	const char *gz = HEAD_OK "Transfer-Encoding: gzip, chunked\r\n\r\n";
	T_EXPECT_INT(http_parse_head(gz, strlen(gz), &r, &e), -EBADMSG);
	T_EXPECT(strstr(e.msg, "'gzip'") != NULL);
	T_EXPECT_INT(parse(HEAD_OK "Transfer-Encoding: gzip\r\n\r\n", &r), -EBADMSG);
	T_EXPECT_INT(parse(HEAD_OK "Transfer-Encoding: identity\r\n\r\n", &r), -EBADMSG);
	T_EXPECT_INT(parse(HEAD_OK "Transfer-Encoding:\r\n\r\n", &r), -EBADMSG);
	T_EXPECT_INT(parse(HEAD_OK "Transfer-Encoding: chunkedx\r\n\r\n", &r), -EBADMSG);
	/* A bad Content-Length is refused even when chunked overrides it. */
	T_EXPECT_INT(parse(HEAD_OK "Transfer-Encoding: chunked\r\nContent-Length: x\r\n\r\n", &r),
		     -EBADMSG);
}

static void test_connection(void)
{
	struct http_resp r;
	T_EXPECT_INT(parse(HEAD_OK "\r\n", &r), 0);
	T_EXPECT(r.keep_alive);
	T_EXPECT_INT(parse(HEAD_OK "Connection: close\r\n\r\n", &r), 0);
	T_EXPECT(!r.keep_alive);
	T_EXPECT_INT(parse(HEAD_OK "Connection: Upgrade, CLOSE\r\n\r\n", &r), 0);
	T_EXPECT(!r.keep_alive);
	T_EXPECT_INT(parse(HEAD_OK "Connection: keep-alive\r\nConnection: close\r\n\r\n", &r), 0);
	T_EXPECT(!r.keep_alive);
	T_EXPECT_INT(parse(HEAD_OK "Connection: closed\r\n\r\n", &r), 0);
	T_EXPECT(r.keep_alive);
	T_EXPECT_INT(parse("HTTP/1.0 200 OK\r\n\r\n", &r), 0);
	T_EXPECT(!r.keep_alive);
	T_EXPECT_INT(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n", &r), 0);
	T_EXPECT(r.keep_alive);
	T_EXPECT_INT(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n\r\n", &r), 0);
	T_EXPECT(!r.keep_alive);
}

static void test_retry_after(void)
{
	struct http_resp r;
	T_EXPECT_INT(parse(HEAD_OK "Retry-After: 120\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.retry_after, 120);
	T_EXPECT_INT(parse(HEAD_OK "Retry-After: 0\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.retry_after, 0);
	T_EXPECT_INT(parse(HEAD_OK "Retry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.retry_after, -1);
	T_EXPECT_INT(parse(HEAD_OK "Retry-After: 99999999999999999999\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.retry_after, INT_MAX);
	T_EXPECT_INT(parse(HEAD_OK "Retry-After: -5\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.retry_after, -1);
	T_EXPECT_INT(parse(HEAD_OK "Retry-After: 5s\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.retry_after, -1);
	T_EXPECT_INT(parse(HEAD_OK "Retry-After:\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.retry_after, -1);
	T_EXPECT_INT(parse(HEAD_OK "retry-after: 7\r\nRetry-After: 9\r\n\r\n", &r), 0);
	T_EXPECT_INT(r.retry_after, 7);
}

static void test_content_type(void)
{
	struct http_resp r;
	T_EXPECT_INT(parse(HEAD_OK "Content-Type: Application/VND.Docker.Distribution.Manifest."
				   "v2+JSON; charset=utf-8\r\n\r\n",
			   &r),
		     0);
	T_EXPECT_STR(r.content_type, "application/vnd.docker.distribution.manifest.v2+json");
	T_EXPECT_INT(parse(HEAD_OK "Content-Type: text / plain ;q=1\r\n\r\n", &r), 0);
	T_EXPECT_STR(r.content_type, "text/plain");
	T_EXPECT_INT(parse(HEAD_OK "Content-Type: a/b\r\nContent-Type: c/d\r\n\r\n", &r), 0);
	T_EXPECT_STR(r.content_type, "a/b");
	/* The media type must fit; long parameters do not matter. */
	char h[1024], mt[200];
	memset(mt, 'x', sizeof(mt));
	mt[0] = 'a';
	mt[1] = '/';
	snprintf(h, sizeof(h), HEAD_OK "Content-Type: %.127s; p=%.150s\r\n\r\n", mt, mt);
	T_EXPECT_INT(parse(h, &r), 0);
	T_EXPECT_INT(strlen(r.content_type), 127);
	snprintf(h, sizeof(h), HEAD_OK "Content-Type: %.128s\r\n\r\n", mt);
	T_EXPECT_INT(parse(h, &r), -EBADMSG);
}

static void test_www_authenticate(void)
{
	struct http_resp r;
	T_EXPECT_INT(parse("HTTP/1.1 401 Unauthorized\r\n"
			   "WWW-Authenticate: Basic realm=\"x\"\r\n"
			   "Www-Authenticate: Bearer realm=\"https://auth/token\"\r\n"
			   "WWW-Authenticate: Bearer realm=\"second\"\r\n\r\n",
			   &r),
		     0);
	T_EXPECT_STR(r.www_authenticate, "Bearer realm=\"https://auth/token\"");
	T_EXPECT_INT(parse("HTTP/1.1 401 x\r\nWWW-Authenticate: Basic realm=\"1\"\r\n"
			   "WWW-Authenticate: Negotiate\r\n\r\n",
			   &r),
		     0);
	T_EXPECT_STR(r.www_authenticate, "Basic realm=\"1\"");
	T_EXPECT_INT(parse("HTTP/1.1 401 x\r\nWWW-Authenticate: Basic realm=\"1\"\r\n"
			   "WWW-Authenticate: bearer\r\n\r\n",
			   &r),
		     0);
	T_EXPECT_STR(r.www_authenticate, "bearer");
	T_EXPECT_INT(parse("HTTP/1.1 401 x\r\nWWW-Authenticate: Basic realm=\"1\"\r\n"
			   "WWW-Authenticate: BearerX realm=2\r\n\r\n",
			   &r),
		     0);
	T_EXPECT_STR(r.www_authenticate, "Basic realm=\"1\"");
	char h[2048], v[1100];
	memset(v, 'r', sizeof(v));
	snprintf(h, sizeof(h), "HTTP/1.1 401 x\r\nWWW-Authenticate: Bearer realm=%.1010s\r\n\r\n",
		 v);
	T_EXPECT_INT(parse(h, &r), 0);
	T_EXPECT_INT(strlen(r.www_authenticate), 1023);
	snprintf(h, sizeof(h), "HTTP/1.1 401 x\r\nWWW-Authenticate: Bearer realm=%.1011s\r\n\r\n",
		 v);
	T_EXPECT_INT(parse(h, &r), -EBADMSG);
}

/* Each string field: the longest value fits, one more byte is an error. */
static void test_field_limits(void)
{
	static const struct {
		const char *name;
		size_t size;
	} f[] = { { "Location", 2048 },
		  { "Docker-Content-Digest", 80 },
		  { "Content-Range", 96 },
		  { "ETag", 128 },
		  { "WWW-Authenticate", 1024 } };
	static char h[4096], v[4096];
	memset(v, 'v', sizeof(v));
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		struct http_resp r;
		struct berr e = { 0 };
		snprintf(h, sizeof(h), HEAD_OK "%s: %.*s\r\n\r\n", f[i].name, (int)f[i].size - 1,
			 v);
		T_EXPECT_INT(parse(h, &r), 0);
		snprintf(h, sizeof(h), HEAD_OK "%s: %.*s\r\n\r\n", f[i].name, (int)f[i].size, v);
		T_EXPECT_INT(http_parse_head(h, strlen(h), &r, &e), -EBADMSG);
		T_EXPECT(strstr(e.msg, f[i].name) != NULL);
	}
	struct http_resp r;
	struct berr e = { 0 };
	T_EXPECT_INT(parse(HEAD_OK "Location: /a\r\nLocation: /a\r\n\r\n", &r), 0);
	const char *two = HEAD_OK "Location: /a\r\nLocation: /b\r\n\r\n";
	T_EXPECT_INT(http_parse_head(two, strlen(two), &r, &e), -EBADMSG);
	T_EXPECT(strstr(e.msg, "Location") != NULL);
	T_EXPECT_INT(parse(HEAD_OK "Docker-Content-Digest: sha256:a\r\n"
				   "docker-content-digest: sha256:b\r\n\r\n",
			   &r),
		     -EBADMSG);
	T_EXPECT_INT(parse(HEAD_OK "ETag: \"a\"\r\nETag: \"b\"\r\n\r\n", &r), 0);
	T_EXPECT_STR(r.etag, "\"a\"");
}

static void test_head_max(void)
{
	static char h[HTTP_HEAD_MAX + 64];
	struct http_resp r;
	size_t fixed = strlen(HEAD_OK "X: \r\n\r\n");
	size_t n = HTTP_HEAD_MAX - fixed;
	memcpy(h, HEAD_OK "X: ", strlen(HEAD_OK "X: "));
	memset(h + strlen(HEAD_OK "X: "), 'a', n);
	memcpy(h + strlen(HEAD_OK "X: ") + n, "\r\n\r\n", 5);
	T_EXPECT_INT(strlen(h), HTTP_HEAD_MAX);
	T_EXPECT_INT(http_head_len(h, strlen(h)), HTTP_HEAD_MAX);
	T_EXPECT_INT(parse(h, &r), 0);
	memset(h + strlen(HEAD_OK "X: "), 'a', n + 1);
	memcpy(h + strlen(HEAD_OK "X: ") + n + 1, "\r\n\r\n", 5);
	T_EXPECT_INT(parse(h, &r), -EBADMSG);
}

static void test_content_range(void)
{
	int64_t s = 0, e = 0, t = 0;
	struct berr err = { 0 };
	T_EXPECT_INT(http_parse_content_range("bytes 0-99/1000", &s, &e, &t, &err), 0);
	T_EXPECT_INT(s, 0);
	T_EXPECT_INT(e, 99);
	T_EXPECT_INT(t, 1000);
	T_EXPECT_INT(http_parse_content_range("bytes 5-5/*", &s, &e, &t, &err), 0);
	T_EXPECT_INT(s, 5);
	T_EXPECT_INT(e, 5);
	T_EXPECT_INT(t, -1);
	T_EXPECT_INT(http_parse_content_range("Bytes 0-0/1", &s, &e, &t, &err), 0);
	T_EXPECT_INT(http_parse_content_range("bytes 0-9223372036854775806/9223372036854775807", &s,
					      &e, &t, &err),
		     0);
	T_EXPECT_INT(e, INT64_MAX - 1);
	static const char *const bad[] = {
		"bytes 5-4/10",
		"bytes 0-10/10",
		"bytes */100",
		"bytes 0-1",
		"bits 0-1/2",
		"bytes  0-1/2",
		"bytes 0-1/2 ",
		"bytes -1-2/3",
		"bytes 0-99999999999999999999/*",
		"bytes 0x1-2/3",
		"",
		"bytes 1-2/3/4",
		"bytes 1 -2/3",
		"bytes 1-2/*x",
		"bytes 0-1/-5",
		"bytes=0-1/2",
		"bytes 0-/2",
		"bytes -/",
		"bytes 0-1/+2",
		"bytes 1-2/0",
		"bytes 0-1/2\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (http_parse_content_range(bad[i], &s, &e, &t, &err) != -EBADMSG)
			printf("#   accepted: %s\n", bad[i]);
		T_EXPECT_INT(http_parse_content_range(bad[i], &s, &e, &t, &err), -EBADMSG);
	}
	T_EXPECT(strstr(err.msg, "Content-Range") != NULL);
}

/* Decodes body in one go; returns 0 and the output, or the error. */
static int dechunk(const char *body, size_t len, char *out, size_t *out_len, bool *done)
{
	struct http_chunked c;
	static char buf[16384];
	http_chunked_init(&c);
	memcpy(buf, body, len);
	int rc = http_chunked_decode(&c, buf, len, out_len, done, NULL);
	if (rc == 0)
		memcpy(out, buf, *out_len);
	return rc;
}

/* Feeds body in pieces ending at the given cut points; same contract as dechunk. */
static int dechunk_cuts(const char *body, size_t len, const size_t *cuts, size_t ncuts, char *out,
			size_t *out_len, bool *done)
{
	struct http_chunked c;
	static char buf[16384];
	size_t from = 0, total = 0;
	http_chunked_init(&c);
	*done = false;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		size_t n = 0;
		memcpy(buf, body + from, to - from);
		int rc = http_chunked_decode(&c, buf, to - from, &n, done, NULL);
		if (rc < 0)
			return rc;
		T_EXPECT(n <= to - from);
		memcpy(out + total, buf, n);
		total += n;
		from = to;
	}
	*out_len = total;
	return 0;
}

#define WIKI                                                                          \
	"4\r\nWiki\r\n5;name=value;q=\"a b\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n" \
	"0000000a \r\n0123456789\r\n0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\n"  \
	"X-T: 1\r\n\r\n"
#define WIKI_OUT "Wikipedia in\r\n\r\nchunks.0123456789"

static void test_chunked_basic(void)
{
	char out[4096];
	size_t n = 0;
	bool done = false;
	T_EXPECT_INT(dechunk(WIKI, strlen(WIKI), out, &n, &done), 0);
	T_EXPECT(done);
	T_EXPECT_INT(n, strlen(WIKI_OUT));
	T_EXPECT(n == strlen(WIKI_OUT) && !memcmp(out, WIKI_OUT, n));

	const char *lf = "3\nabc\nA\n0123456789\n0\n\n";
	T_EXPECT_INT(dechunk(lf, strlen(lf), out, &n, &done), 0);
	T_EXPECT(done);
	T_EXPECT(n == 13 && !memcmp(out, "abc0123456789", 13));

	const char *empty = "0\r\n\r\n";
	T_EXPECT_INT(dechunk(empty, strlen(empty), out, &n, &done), 0);
	T_EXPECT(done);
	T_EXPECT_INT(n, 0);

	/* Not done until the final empty line. */
	const char *part = "3\r\nabc\r\n0\r\n";
	T_EXPECT_INT(dechunk(part, strlen(part), out, &n, &done), 0);
	T_EXPECT(!done);
	T_EXPECT_INT(n, 3);

	/* Binary data, including CR, LF and NUL, passes through untouched. */
	const char bin[] = "5\r\n\r\n\0\n\r\r\n0\r\n\r\n";
	T_EXPECT_INT(dechunk(bin, sizeof(bin) - 1, out, &n, &done), 0);
	T_EXPECT(n == 5 && !memcmp(out, "\r\n\0\n\r", 5));
	T_EXPECT(done);

	/* A call after the end with nothing to decode still says done. */
	struct http_chunked c;
	char buf[16];
	http_chunked_init(&c);
	memcpy(buf, "0\r\n\r\n", 5);
	T_EXPECT_INT(http_chunked_decode(&c, buf, 5, &n, &done, NULL), 0);
	done = false;
	T_EXPECT_INT(http_chunked_decode(&c, buf, 0, &n, &done, NULL), 0);
	T_EXPECT(done);
	T_EXPECT_INT(n, 0);
}

/* Split invariance: the body fed in two pieces at every point, in three at
 * every pair of points, and byte by byte, decodes as in one piece. */
static void check_splits(const char *body, size_t len)
{
	char want[4096], got[4096];
	size_t wn = 0, gn = 0;
	bool wdone = false, gdone = false;
	int wrc = dechunk(body, len, want, &wn, &wdone);
	int bad = 0;
	for (size_t i = 0; i <= len; i++) {
		int rc = dechunk_cuts(body, len, &i, 1, got, &gn, &gdone);
		if (rc != wrc || (rc == 0 && (gn != wn || memcmp(got, want, wn) || gdone != wdone)))
			bad++;
	}
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i; j <= len; j++) {
			size_t cuts[2] = { i, j };
			int rc = dechunk_cuts(body, len, cuts, 2, got, &gn, &gdone);
			if (rc != wrc ||
			    (rc == 0 && (gn != wn || memcmp(got, want, wn) || gdone != wdone)))
				bad++;
		}
	}
	size_t cuts[512];
	for (size_t i = 0; i < len && i < 512; i++)
		cuts[i] = i;
	int rc = dechunk_cuts(body, len, cuts, len < 512 ? len : 512, got, &gn, &gdone);
	if (rc != wrc || (rc == 0 && (gn != wn || memcmp(got, want, wn) || gdone != wdone)))
		bad++;
	T_EXPECT_INT(bad, 0);
}

static void test_chunked_splits(void)
{
	check_splits(WIKI, strlen(WIKI));
	const char *lf = "3\nabc\nA;x\n0123456789\n0\nT: x\n\n";
	check_splits(lf, strlen(lf));
	/* Error inputs fail whatever the split. */
	const char *bad1 = "3\r\nabcd\r\n0\r\n\r\n";
	check_splits(bad1, strlen(bad1));
	const char *bad2 = "3\r\nabc\r\n0\r\n\r\nX";
	check_splits(bad2, strlen(bad2));
}

/* A pseudo-random body of random chunks (sizes, extensions, line ends,
 * trailers) against its data, fed in random pieces. */
static void test_chunked_random(void)
{
	uint32_t seed = 12345;
#define RND() (seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7fff)
	int bad = 0;
	for (int round = 0; round < 300; round++) {
		static char body[8192], data[4096], got[8192];
		size_t bl = 0, dl = 0;
		int nchunks = (int)(RND() % 6);
		for (int k = 0; k < nchunks; k++) {
			size_t sz = 1 + RND() % 300;
			const char *eol = RND() % 4 ? "\r\n" : "\n";
			bl += (size_t)sprintf(body + bl, RND() % 2 ? "%zx" : "%04zX", sz);
			if (RND() % 3 == 0)
				bl += (size_t)sprintf(body + bl, ";ext=%u", RND() % 1000);
			bl += (size_t)sprintf(body + bl, "%s", eol);
			for (size_t i = 0; i < sz; i++)
				body[bl++] = data[dl++] = (char)RND();
			bl += (size_t)sprintf(body + bl, "%s", eol);
		}
		bl += (size_t)sprintf(body + bl, "%s",
				      RND() % 2 ? "0\r\nT: x\r\n\r\n" : "0\r\n\r\n");
		struct http_chunked c;
		http_chunked_init(&c);
		size_t from = 0, gl = 0;
		bool done = false;
		int rc = 0;
		while (from < bl && rc == 0) {
			size_t n = 1 + RND() % 64, out;
			if (n > bl - from)
				n = bl - from;
			rc = http_chunked_decode(&c, body + from, n, &out, &done, NULL);
			memcpy(got + gl, body + from, out);
			gl += out;
			from += n;
		}
		if (rc || !done || gl != dl || memcmp(got, data, dl))
			bad++;
	}
	T_EXPECT_INT(bad, 0);
#undef RND
}

static int dechunk_rc(const char *s)
{
	static char out[16384];
	size_t n;
	bool done;
	return dechunk(s, strlen(s), out, &n, &done);
}

static void test_chunked_hostile(void)
{
	static const char *const bad[] = {
		"\r\n",
		"g\r\n",
		";ext\r\n",
		" 5\r\nabcde\r\n",
		"-1\r\n",
		"5\rx",
		"3\r\nabcd\r\n",
		"3\r\nabc\rx",
		"3\r\nabcX\r\n",
		"0\r\n\r\nX",
		"0\r\n\r\n\r\n",
		"0\r\n Folded: x\r\n\r\n",
		"0\r\n:x\r\n\r\n",
		"0\r\nT: x\ry\r\n\r\n",
		"0\r\nT: \x01\r\n\r\n",
		"0\r\n\rx",
		"3;a\x01\r\nabc\r\n",
		"0x3\r\nabc\r\n",
		"3 3\r\nabc\r\n",
		"3 x;a\r\nabc\r\n",
		"10000000000000000\r\n",                 /* 2^64 */
		"100000000000000000000000000\r\n",       /* far beyond */
		"000000000000000000000000000000001\r\n", /* 33 digits */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dechunk_rc(bad[i]) != -EBADMSG)
			printf("#   accepted: %s\n", bad[i]);
		T_EXPECT_INT(dechunk_rc(bad[i]), -EBADMSG);
	}
	/* The largest size is fine as a size; the data just never ends. */
	T_EXPECT_INT(dechunk_rc("FFFFFFFFFFFFFFFF\r\nabc"), 0);
	T_EXPECT_INT(dechunk_rc("00000000000000000000000000000001\r\na"), 0);
	T_EXPECT_INT(dechunk_rc("3 \t ; a = \"b c\" ;d\r\nabc\r\n3  \r\nabc\r\n0\r\n\r\n"), 0);

	/* Extensions and trailers are bounded. */
	static char big[12000];
	size_t n = (size_t)sprintf(big, "1;");
	memset(big + n, 'e', 4095);
	memcpy(big + n + 4095, "\r\nx\r\n0\r\n\r\n", 11);
	T_EXPECT_INT(dechunk_rc(big), 0);
	memset(big + n, 'e', 4096);
	memcpy(big + n + 4096, "\r\nx\r\n0\r\n\r\n", 11);
	T_EXPECT_INT(dechunk_rc(big), -EBADMSG);
	n = (size_t)sprintf(big, "0\r\n");
	for (int i = 0; i < 200; i++)
		n += (size_t)sprintf(big + n, "X-Trailer-%03d: %040d\r\n", i, i);
	sprintf(big + n, "\r\n");
	T_EXPECT_INT(dechunk_rc(big), -EBADMSG);

	/* Errors are sticky and say what went wrong. */
	struct http_chunked c;
	struct berr e = { 0 };
	char buf[32];
	size_t out;
	bool done;
	http_chunked_init(&c);
	memcpy(buf, "zz", 2);
	T_EXPECT_INT(http_chunked_decode(&c, buf, 2, &out, &done, &e), -EBADMSG);
	T_EXPECT(strstr(e.msg, "chunk") != NULL);
	memcpy(buf, "0\r\n\r\n", 5);
	T_EXPECT_INT(http_chunked_decode(&c, buf, 5, &out, &done, NULL), -EBADMSG);
	T_EXPECT(!done);
}

static void test_url_parse(void)
{
	struct http_url u;
	struct berr e = { 0 };
	T_EXPECT_INT(http_url_parse("https://registry-1.docker.io/v2/", &u, &e), 0);
	T_EXPECT(u.tls);
	T_EXPECT_STR(u.host, "registry-1.docker.io");
	T_EXPECT_INT(u.port, 443);
	T_EXPECT_STR(u.path, "/v2/");
	T_EXPECT_INT(http_url_parse("http://localhost:5000/v2/x?y=1&z#frag", &u, &e), 0);
	T_EXPECT(!u.tls);
	T_EXPECT_STR(u.host, "localhost");
	T_EXPECT_INT(u.port, 5000);
	T_EXPECT_STR(u.path, "/v2/x?y=1&z");
	T_EXPECT_INT(http_url_parse("http://host", &u, &e), 0);
	T_EXPECT_INT(u.port, 80);
	T_EXPECT_STR(u.path, "/");
	T_EXPECT_INT(http_url_parse("http://host?q=1", &u, &e), 0);
	T_EXPECT_STR(u.path, "/?q=1");
	T_EXPECT_INT(http_url_parse("http://host#f", &u, &e), 0);
	T_EXPECT_STR(u.path, "/");
	T_EXPECT_INT(http_url_parse("HTTPS://Host.Example:8443", &u, &e), 0);
	T_EXPECT(u.tls);
	T_EXPECT_STR(u.host, "Host.Example");
	T_EXPECT_INT(u.port, 8443);
	T_EXPECT_INT(http_url_parse("http://[::1]:5000/v2/", &u, &e), 0);
	T_EXPECT_STR(u.host, "::1");
	T_EXPECT_INT(u.port, 5000);
	T_EXPECT_INT(http_url_parse("https://[fe80::1:2]/", &u, &e), 0);
	T_EXPECT_STR(u.host, "fe80::1:2");
	T_EXPECT_INT(u.port, 443);
	T_EXPECT_INT(http_url_parse("https://[::ffff:10.0.0.1]:1/", &u, &e), 0);
	T_EXPECT_STR(u.host, "::ffff:10.0.0.1");
	T_EXPECT_INT(u.port, 1);
	T_EXPECT_INT(http_url_parse("http://host:/p", &u, &e), 0);
	T_EXPECT_INT(u.port, 80);
	T_EXPECT_INT(http_url_parse("http://h:65535/p", &u, &e), 0);
	T_EXPECT_INT(u.port, 65535);
	T_EXPECT_INT(
		http_url_parse("https://s3.amazonaws.com/b/k?X-Amz-Signature=a%2Fb&x=~", &u, &e),
		0);
	T_EXPECT_STR(u.path, "/b/k?X-Amz-Signature=a%2Fb&x=~");

	T_EXPECT_INT(http_url_parse("http://user:pass@host/", &u, &e), -EINVAL);
	T_EXPECT(strstr(e.msg, "user information is not allowed") != NULL);
	T_EXPECT_INT(http_url_parse("https://token@registry.example/v2/", &u, &e), -EINVAL);
	T_EXPECT(strstr(e.msg, "user information is not allowed") != NULL);
	static const char *const bad[] = {
		"ftp://x/",
		"http://",
		"http:///x",
		"http:/x",
		"http:x",
		"//host/x",
		"/x",
		"host/x",
		"http://@host/",
		"http://host:0/",
		"http://host:65536/",
		"http://host:abc/",
		"http://host:99999999/",
		"http://host:-1/",
		"http://[::1/",
		"http://[zz]/",
		"http://[]/",
		"http://[1.2.3.4]/",
		"http://[::1]x/",
		"http://[::1]:x/",
		"http://ho st/",
		"http://host/a b",
		"http://host/\x01",
		"http://host/\x80",
		"http://h\x7fst/",
		" http://host/",
		"http://host:80:90/",
		"http://ho%41st/",
		"http://[::1%25eth0]/",
		"",
		"https://host\\@evil/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (http_url_parse(bad[i], &u, &e) != -EINVAL)
			printf("#   accepted: %s\n", bad[i]);
		T_EXPECT_INT(http_url_parse(bad[i], &u, &e), -EINVAL);
	}

	static char url[4200];
	char h[300];
	memset(h, 'a', sizeof(h));
	snprintf(url, sizeof(url), "http://%.255s/", h);
	T_EXPECT_INT(http_url_parse(url, &u, &e), 0);
	snprintf(url, sizeof(url), "http://%.256s/", h);
	T_EXPECT_INT(http_url_parse(url, &u, &e), -EINVAL);
	static char p[4100];
	memset(p, 'p', sizeof(p));
	p[0] = '/';
	snprintf(url, sizeof(url), "http://h%.2047s#%.2000s", p, p);
	T_EXPECT_INT(http_url_parse(url, &u, &e), 0);
	T_EXPECT_INT(strlen(u.path), 2047);
	snprintf(url, sizeof(url), "http://h%.2048s", p);
	T_EXPECT_INT(http_url_parse(url, &u, &e), -EINVAL);
}

static void test_url_resolve(void)
{
	struct http_url base, u;
	struct berr e = { 0 };
	T_EXPECT_INT(http_url_parse("https://reg.example:5000/v2/lib/busybox/blobs/sha256:abc?x=1",
				    &base, &e),
		     0);
	static const struct {
		const char *loc;
		bool tls;
		const char *host;
		int port;
		const char *path;
	} ok[] = {
		{ "https://cdn.example/blob?sig=1#f", true, "cdn.example", 443, "/blob?sig=1" },
		{ "HTTP://other/p", false, "other", 80, "/p" },
		{ "http://[::1]:81", false, "::1", 81, "/" },
		{ "//cdn.example/p?q", true, "cdn.example", 443, "/p?q" },
		{ "//cdn.example:99", true, "cdn.example", 99, "/" },
		{ "/other/path?q=1#f", true, "reg.example", 5000, "/other/path?q=1" },
		{ "/", true, "reg.example", 5000, "/" },
		{ "relative/x", true, "reg.example", 5000, "/v2/lib/busybox/blobs/relative/x" },
		{ "../manifests/latest", true, "reg.example", 5000,
		  "/v2/lib/busybox/manifests/latest" },
		{ "./a/./b/../c?d=../e", true, "reg.example", 5000,
		  "/v2/lib/busybox/blobs/a/c?d=../e" },
		{ ".", true, "reg.example", 5000, "/v2/lib/busybox/blobs/" },
		{ "..", true, "reg.example", 5000, "/v2/lib/busybox/" },
		{ "../../../../../../x", true, "reg.example", 5000, "/x" },
		{ "/a/./b/../c", true, "reg.example", 5000, "/a/c" },
		{ "/a//..", true, "reg.example", 5000, "/a/" },
		{ "/..", true, "reg.example", 5000, "/" },
		{ "https://x/a/../b", true, "x", 443, "/b" },
		{ "?y=2", true, "reg.example", 5000, "/v2/lib/busybox/blobs/sha256:abc?y=2" },
		{ "#frag", true, "reg.example", 5000, "/v2/lib/busybox/blobs/sha256:abc?x=1" },
		{ "a:b/c", false, NULL, 0, NULL }, /* a scheme we do not speak */
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		memset(&u, 0x5a, sizeof(u));
		int rc = http_url_resolve(&base, ok[i].loc, &u, &e);
		if (!ok[i].host) {
			T_EXPECT_INT(rc, -EINVAL);
			continue;
		}
		T_EXPECT_INT(rc, 0);
		if (rc)
			printf("#   %s: %s\n", ok[i].loc, e.msg);
		T_EXPECT_INT(u.tls, ok[i].tls);
		T_EXPECT_STR(u.host, ok[i].host);
		T_EXPECT_INT(u.port, ok[i].port);
		T_EXPECT_STR(u.path, ok[i].path);
	}
	static const char *const bad[] = {
		"",         "ftp://x/", "//user@h/", "/a b",   "//",      "https://",
		"mailto:x", "\x01",     "a\r\nb",    "//h:0/", "http:/x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (http_url_resolve(&base, bad[i], &u, &e) != -EINVAL)
			printf("#   accepted: %s\n", bad[i]);
		T_EXPECT_INT(http_url_resolve(&base, bad[i], &u, &e), -EINVAL);
	}

	/* Scheme-relative keeps the base's scheme, and its default port. */
	struct http_url plain;
	T_EXPECT_INT(http_url_parse("http://a:8080/x/y", &plain, &e), 0);
	T_EXPECT_INT(http_url_resolve(&plain, "//b/z", &u, &e), 0);
	T_EXPECT(!u.tls);
	T_EXPECT_INT(u.port, 80);
	T_EXPECT_INT(http_url_resolve(&plain, "z", &u, &e), 0);
	T_EXPECT_STR(u.path, "/x/z");
	T_EXPECT_INT(u.port, 8080);

	/* out may be base. */
	u = base;
	T_EXPECT_INT(http_url_resolve(&u, "c/d", &u, &e), 0);
	T_EXPECT_STR(u.path, "/v2/lib/busybox/blobs/c/d");
	T_EXPECT_INT(http_url_resolve(&u, "?q", &u, &e), 0);
	T_EXPECT_STR(u.path, "/v2/lib/busybox/blobs/c/d?q");
	T_EXPECT_STR(u.host, "reg.example");

	/* The merged path must fit too. */
	static char loc[2100];
	memset(loc, 'l', sizeof(loc) - 1);
	loc[2047 - strlen("/v2/lib/busybox/blobs/")] = '\0';
	T_EXPECT_INT(http_url_resolve(&base, loc, &u, &e), 0);
	T_EXPECT_INT(strlen(u.path), 2047);
	loc[2047 - strlen("/v2/lib/busybox/blobs/")] = 'l';
	loc[2048 - strlen("/v2/lib/busybox/blobs/")] = '\0';
	T_EXPECT_INT(http_url_resolve(&base, loc, &u, &e), -EINVAL);
}

int main(void)
{
	T_RUN(test_head_len);
	T_RUN(test_head_basic);
	T_RUN(test_status_line);
	T_RUN(test_header_syntax);
	T_RUN(test_content_length);
	T_RUN(test_transfer_encoding);
	T_RUN(test_connection);
	T_RUN(test_retry_after);
	T_RUN(test_content_type);
	T_RUN(test_www_authenticate);
	T_RUN(test_field_limits);
	T_RUN(test_head_max);
	T_RUN(test_content_range);
	T_RUN(test_chunked_basic);
	T_RUN(test_chunked_splits);
	T_RUN(test_chunked_random);
	T_RUN(test_chunked_hostile);
	T_RUN(test_url_parse);
	T_RUN(test_url_resolve);
	return T_DONE();
}
