/* Unit tests for net/httpd.c: the daemon's request parser fed in pieces,
 * query helpers and response writers (RFC 9112, RFC 9110). */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/httpd.h"
#include "tap.h"

#define HOST "Host: api.moby.localhost\r\n"

static struct net_httpd_req req;

/* Feeds s[0..n) in one piece to a new parser and parses once: the status
 * when refused, 1 when parsed, 0 when incomplete. The parser is kept in
 * *cp (freed first when set), so req.body stays valid. */
static int parse_in(struct net_httpd_conn **cp, const char *s, size_t n)
{
	net_httpd_conn_free(*cp);
	*cp = net_httpd_conn_new();
	struct berr e = { 0 };
	int status = -1;
	int rc = net_httpd_feed(*cp, s, n, &e);
	if (rc < 0)
		return rc;
	rc = net_httpd_parse(*cp, &req, &status, &e);
	if (rc < 0) {
		if (!e.msg[0] || e.code != -rc)
			printf("#   error %d without a message or code\n", rc);
		return status;
	}
	if (status != 0)
		printf("#   status %d set on success\n", status);
	return rc;
}

/* The same for a string, with a parser freed right away. */
static int parse_str(const char *s)
{
	struct net_httpd_conn *c = NULL;
	int rc = parse_in(&c, s, strlen(s));
	net_httpd_conn_free(c);
	return rc;
}

static void expect_status(const char *s, int status)
{
	int got = parse_str(s);
	if (got != status)
		printf("#   got %d for: %.120s\n", got, s);
	T_EXPECT_INT(got, status);
}

static void test_docker_requests(void)
{
	struct net_httpd_conn *c = NULL;
	const char *get = "GET /v1.47/containers/json?all=1&filters=%7B%7D HTTP/1.1\r\n" HOST
			  "User-Agent: Docker-Client/27.3.1 (linux)\r\n\r\n";
	T_EXPECT_INT(parse_in(&c, get, strlen(get)), 1);
	T_EXPECT_STR(req.method, "GET");
	T_EXPECT_STR(req.path, "/v1.47/containers/json");
	T_EXPECT_STR(req.query, "all=1&filters=%7B%7D");
	T_EXPECT_INT(req.minor, 1);
	T_EXPECT(req.keep_alive);
	T_EXPECT(!req.upgrade && !req.expect_continue && !req.chunked);
	T_EXPECT_INT(req.content_length, -1);
	T_EXPECT_STR(req.user_agent, "Docker-Client/27.3.1 (linux)");
	T_EXPECT_STR(req.content_type, "");
	T_EXPECT_STR(req.registry_auth, "");
	T_EXPECT(req.body == NULL);
	T_EXPECT_INT(req.body_len, 0);

	const char *head = "HEAD /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
	T_EXPECT_INT(parse_in(&c, head, strlen(head)), 1);
	T_EXPECT_STR(req.method, "HEAD");
	T_EXPECT_STR(req.path, "/_ping");
	T_EXPECT_STR(req.query, "");

	const char *post =
		"POST /v1.47/containers/create?name=web HTTP/1.1\r\n" HOST "Content-Length: 25\r\n"
		"Content-Type: Application/JSON; charset=utf-8\r\n"
		"X-Registry-Auth: eyJ1c2VybmFtZSI6ImEifQ==\r\n"
		"\r\n"
		"{\"Image\":\"busybox\",\"A\":1}";
	T_EXPECT_INT(parse_in(&c, post, strlen(post)), 1);
	T_EXPECT_STR(req.method, "POST");
	T_EXPECT_STR(req.content_type, "application/json");
	T_EXPECT_STR(req.registry_auth, "eyJ1c2VybmFtZSI6ImEifQ==");
	T_EXPECT_INT(req.content_length, 25);
	T_EXPECT_INT(req.body_len, 25);
	T_EXPECT_STR(req.body, "{\"Image\":\"busybox\",\"A\":1}");

	/* Content-Length 0 and no length at all: no body. */
	const char *zero = "POST /v1.47/containers/x/start HTTP/1.1\r\n" HOST
			   "Content-Type: application/json\r\nContent-Length: 0\r\n\r\n";
	T_EXPECT_INT(parse_in(&c, zero, strlen(zero)), 1);
	T_EXPECT_INT(req.content_length, 0);
	T_EXPECT(req.body == NULL);
	const char *none = "POST /v1.47/containers/x/stop HTTP/1.1\r\n" HOST "\r\n";
	T_EXPECT_INT(parse_in(&c, none, strlen(none)), 1);
	T_EXPECT_INT(req.content_length, -1);
	T_EXPECT(req.body == NULL);
	T_EXPECT_INT(req.body_len, 0);

	/* DELETE, PUT, bare LF line ends, lower-case names, OWS around values. */
	const char *del = "DELETE /v1.47/images/busybox:1?force=1 HTTP/1.1\nhost:x\n"
			  "user-agent: \t docker-sdk-python/7.1.0 \t\n\n";
	T_EXPECT_INT(parse_in(&c, del, strlen(del)), 1);
	T_EXPECT_STR(req.method, "DELETE");
	T_EXPECT_STR(req.path, "/v1.47/images/busybox:1");
	T_EXPECT_STR(req.user_agent, "docker-sdk-python/7.1.0");
	net_httpd_conn_free(c);
}

/* Parses all of s fed one byte at a time, then at once, and compares. */
static void check_bytewise(const char *s, const char *method, const char *path, const char *body)
{
	struct net_httpd_conn *c = net_httpd_conn_new();
	struct berr e = { 0 };
	int status, rc = 0;
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		T_EXPECT_INT(net_httpd_feed(c, s + i, 1, &e), 0);
		rc = net_httpd_parse(c, &req, &status, &e);
		if (rc != (i + 1 == n ? 1 : 0)) {
			printf("#   parse is %d after byte %zu of %zu: %s\n", rc, i + 1, n, e.msg);
			T_EXPECT(0);
			break;
		}
	}
	T_EXPECT_INT(rc, 1);
	T_EXPECT_STR(req.method, method);
	T_EXPECT_STR(req.path, path);
	if (body) {
		T_EXPECT_INT(req.body_len, strlen(body));
		T_EXPECT(req.body && !memcmp(req.body, body, strlen(body) + 1));
	} else {
		T_EXPECT(req.body == NULL);
	}
	const void *p;
	T_EXPECT_INT(net_httpd_pending(c, &p), 0);
	net_httpd_conn_free(c);
}

static void test_byte_at_a_time(void)
{
	check_bytewise("GET /_ping HTTP/1.1\r\n" HOST "\r\n", "GET", "/_ping", NULL);
	check_bytewise("\r\n\r\n\nGET /a HTTP/1.0\n\n", "GET", "/a", NULL);
	check_bytewise("POST /build HTTP/1.1\r\n" HOST "Content-Length: 11\r\n\r\nhello world",
		       "POST", "/build", "hello world");
	check_bytewise("PUT /x%20y HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"
		       "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
		       "PUT", "/x y", "hello 0123456789");
	check_bytewise("POST /c HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		       "POST", "/c", NULL);
}

static void test_pipelined(void)
{
	const char *s = "GET /a HTTP/1.1\r\n" HOST "\r\n"
			"POST /b HTTP/1.1\r\n" HOST "Content-Length: 3\r\n\r\nxyz"
			"POST /c HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"
			"2\r\nhi\r\n0\r\n\r\n"
			"\r\n" /* a stray CRLF after a body is skipped */
			"GET /d HTTP/1.1\r\n" HOST;
	struct net_httpd_conn *c = net_httpd_conn_new();
	struct berr e = { 0 };
	int status;
	const void *p;
	T_EXPECT_INT(net_httpd_feed(c, s, strlen(s), &e), 0);
	T_EXPECT_INT(net_httpd_pending(c, &p), strlen(s));
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), 1);
	T_EXPECT_STR(req.path, "/a");
	size_t rest = net_httpd_pending(c, &p);
	T_EXPECT_INT(rest, strlen(s) - strlen("GET /a HTTP/1.1\r\n" HOST "\r\n"));
	T_EXPECT(rest && !memcmp(p, "POST /b", 7));
	net_httpd_next(c);
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), 1);
	T_EXPECT_STR(req.path, "/b");
	T_EXPECT_STR(req.body, "xyz");
	T_EXPECT(net_httpd_pending(c, &p) > 7 && !memcmp(p, "POST /c", 7));
	/* Parsing again without net_httpd_next moves on as well. */
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), 1);
	T_EXPECT_STR(req.path, "/c");
	T_EXPECT_STR(req.body, "hi");
	T_EXPECT(req.chunked);
	net_httpd_next(c);
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), 0);
	T_EXPECT_INT(net_httpd_pending(c, &p), 0); /* a head has begun */
	T_EXPECT_INT(net_httpd_feed(c, "\r\n", 2, &e), 0);
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), 1);
	T_EXPECT_STR(req.path, "/d");
	T_EXPECT_INT(net_httpd_pending(c, &p), 0);
	net_httpd_next(c);
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), 0);
	T_EXPECT_INT(net_httpd_mem(c), 0);
	/* net_httpd_next without a parsed request changes nothing. */
	T_EXPECT_INT(net_httpd_feed(c, "GET", 3, &e), 0);
	net_httpd_next(c);
	T_EXPECT_INT(net_httpd_pending(c, &p), 3);
	net_httpd_conn_free(c);
}

/* A long stream of pipelined requests, fed in pieces that cut them
 * anywhere, comes out whole and in order. */
static void test_pipelined_stream(void)
{
	size_t count = 100000, n = 0;
	char *s = malloc(count * 32);
	for (size_t i = 0; i < count; i++)
		n += (size_t)sprintf(s + n, "GET /%zu HTTP/1.0\r\n\r\n", i);
	struct net_httpd_conn *c = net_httpd_conn_new();
	struct berr e = { 0 };
	int status, rc = 0;
	size_t got = 0, maxmem = 0;
	bool order = true;
	for (size_t off = 0; off < n && rc >= 0;) {
		size_t k = n - off < 4093 ? n - off : 4093;
		T_EXPECT_INT(net_httpd_feed(c, s + off, k, &e), 0);
		off += k;
		while ((rc = net_httpd_parse(c, &req, &status, &e)) == 1) {
			char want[32];
			snprintf(want, sizeof(want), "/%zu", got++);
			order &= !strcmp(req.path, want);
			net_httpd_next(c);
		}
		if (net_httpd_mem(c) > maxmem)
			maxmem = net_httpd_mem(c);
	}
	T_EXPECT_INT(rc, 0);
	T_EXPECT_INT(got, count);
	T_EXPECT(order);
	T_EXPECT(maxmem <= 8192);
	T_EXPECT_INT(net_httpd_mem(c), 0);
	net_httpd_conn_free(c);
	free(s);
}

static void expect_keep(const char *s, bool keep)
{
	T_EXPECT_INT(parse_str(s), 1);
	if (req.keep_alive != keep)
		printf("#   keep_alive %d for: %s\n", req.keep_alive, s);
	T_EXPECT(req.keep_alive == keep);
}

static void test_keep_alive(void)
{
	expect_keep("GET / HTTP/1.1\r\n" HOST "\r\n", true);
	expect_keep("GET / HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n", false);
	expect_keep("GET / HTTP/1.1\r\n" HOST "Connection: Keep-Alive, CLOSE\r\n\r\n", false);
	expect_keep("GET / HTTP/1.1\r\n" HOST "Connection: te\r\nConnection: close\r\n\r\n", false);
	expect_keep("GET / HTTP/1.1\r\n" HOST "Connection: closed\r\n\r\n", true);
	expect_keep("GET / HTTP/1.0\r\n\r\n", false);
	expect_keep("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true);
	expect_keep("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false);
	/* A later 1.x is treated as 1.1. */
	expect_keep("GET / HTTP/1.7\r\n" HOST "\r\n", true);
	T_EXPECT_INT(req.minor, 1);
}

static void test_chunked(void)
{
	struct net_httpd_conn *c = NULL;
	const char *s = "POST /x HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"
			"00a ; name=\"v\" ;x\r\n0123456789\r\n"
			"1F\r\nabcdefghijklmnopqrstuvwxyzABCDE\r\n"
			"0;last\r\nChecksum: 1\r\nX-More: 2\r\n\r\n";
	T_EXPECT_INT(parse_in(&c, s, strlen(s)), 1);
	T_EXPECT(req.chunked);
	T_EXPECT_INT(req.content_length, -1);
	T_EXPECT_INT(req.body_len, 41);
	T_EXPECT_STR(req.body, "0123456789abcdefghijklmnopqrstuvwxyzABCDE");
	const char *te = "POST /x HTTP/1.1\r\n" HOST "Transfer-Encoding: CHUNKED\r\n\r\n"
			 "1\nz\n0\n\n";
	T_EXPECT_INT(parse_in(&c, te, strlen(te)), 1);
	T_EXPECT_STR(req.body, "z");
	net_httpd_conn_free(c);

	/* Split at every pair of points, a pipelined request after it. */
	const char *p = "POST /y HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"
			"3;a=b\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n"
			"GET /next HTTP/1.1\r\n" HOST "\r\n";
	size_t n = strlen(p);
	int bad = 0;
	for (size_t i = 0; i <= n && !bad; i++) {
		for (size_t j = i; j <= n && !bad; j++) {
			struct net_httpd_conn *k = net_httpd_conn_new();
			struct berr e = { 0 };
			int st, got = 0;
			size_t cuts[] = { 0, i, j, n };
			for (int m = 0; m < 3; m++) {
				net_httpd_feed(k, p + cuts[m], cuts[m + 1] - cuts[m], &e);
				int rc;
				while ((rc = net_httpd_parse(k, &req, &st, &e)) == 1) {
					if (got == 0)
						bad |= req.body_len != 19 ||
						       strcmp(req.body, "abc0123456789abcdef") ||
						       strcmp(req.path, "/y");
					else
						bad |= strcmp(req.path, "/next") || req.body;
					got++;
					net_httpd_next(k);
				}
				bad |= rc < 0;
			}
			bad |= got != 2;
			if (bad)
				printf("#   split at %zu and %zu: %d requests, %s\n", i, j, got,
				       e.msg);
			net_httpd_conn_free(k);
		}
	}
	T_EXPECT(!bad);

	static const char *const broken[] = {
		"x\r\n",
		"\r\n",
		"5\r\nabc\r\n0\r\n\r\n",
		"3\r\nabcd\r\n0\r\n\r\n",
		"3\rabc\r\n0\r\n\r\n",
		"3\r\nabc\r\n0\r\n Folded: x\r\n\r\n",
		"3\r\nabc\r\n0\r\n\x01\r\n\r\n",
		"-1\r\n",
		"10000000000000000\r\n", /* overflows 64 bits */
	};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		char buf[256];
		snprintf(buf, sizeof(buf),
			 "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n%s",
			 broken[i]);
		/* the overflowing size is too large long before it overflows */
		expect_status(buf, i == 8 ? 413 : 400);
	}
}

/* Framing decoded away takes no room: a body in one-byte chunks, six times
 * its size on the wire and more than NET_HTTPD_BUF_MAX, still fits. */
static void test_chunked_overhead(void)
{
	size_t count = 300000, n = 0;
	char *s = malloc(count * 6 + 256);
	n += (size_t)sprintf(s, "POST /x HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n");
	for (size_t i = 0; i < count; i++) {
		memcpy(s + n, "1\r\nx\r\n", 6);
		s[n + 3] = (char)('a' + i % 26);
		n += 6;
	}
	n += (size_t)sprintf(s + n, "0\r\n\r\n");
	T_EXPECT(n > NET_HTTPD_BUF_MAX);
	struct net_httpd_conn *c = net_httpd_conn_new();
	struct berr e = { 0 };
	int status, rc = 0;
	for (size_t off = 0; off < n && rc == 0;) {
		size_t k = n - off < 4096 ? n - off : 4096;
		rc = net_httpd_feed(c, s + off, k, &e);
		off += k;
		if (rc == 0)
			rc = net_httpd_parse(c, &req, &status, &e);
	}
	T_EXPECT_INT(rc, 1);
	T_EXPECT_INT(req.body_len, count);
	T_EXPECT(req.body_len == count && req.body[0] == 'a' &&
		 req.body[count - 1] == (char)('a' + (count - 1) % 26));
	T_EXPECT(net_httpd_mem(c) <= 524288);
	net_httpd_conn_free(c);
	free(s);
}

static void test_bad_requests(void)
{
	static const char *const bad[] = {
		/* request line */
		"GET  / HTTP/1.1\r\n" HOST "\r\n",
		"GET / HTTP/1.1 \r\n" HOST "\r\n",
		" GET / HTTP/1.1\r\n" HOST "\r\n",
		"GET /\r\n\r\n",
		"GET\r\n\r\n",
		"G(T / HTTP/1.1\r\n" HOST "\r\n",
		"GET / http/1.1\r\n" HOST "\r\n",
		"GET / HTTP/1.10\r\n" HOST "\r\n",
		"GET / HTTP/1\r\n" HOST "\r\n",
		"GET / HTTP/a.1\r\n" HOST "\r\n",
		"GET / HTTP/1.1\rX\r\n" HOST "\r\n",
		"GET\t/ HTTP/1.1\r\n" HOST "\r\n",
		/* targets and paths */
		"GET * HTTP/1.1\r\n" HOST "\r\n",
		"GET a/b HTTP/1.1\r\n" HOST "\r\n",
		"GET /a\x01 HTTP/1.1\r\n" HOST "\r\n",
		"GET /\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n",
		"GET /a#f HTTP/1.1\r\n" HOST "\r\n",
		"GET /a%00b HTTP/1.1\r\n" HOST "\r\n",
		"GET /a%0ab HTTP/1.1\r\n" HOST "\r\n",
		"GET /a%7f HTTP/1.1\r\n" HOST "\r\n",
		"GET /a%zz HTTP/1.1\r\n" HOST "\r\n",
		"GET /a%4 HTTP/1.1\r\n" HOST "\r\n",
		"GET /a% HTTP/1.1\r\n" HOST "\r\n",
		"GET /a%4g?x=1 HTTP/1.1\r\n" HOST "\r\n",
		"GET http:///a HTTP/1.1\r\n" HOST "\r\n",
		"GET ftp://h/a HTTP/1.1\r\n" HOST "\r\n",
		/* header lines */
		"GET / HTTP/1.1\r\n" HOST "X-A: one\r\n two\r\n\r\n",
		"GET / HTTP/1.1\r\n X-A: one\r\n" HOST "\r\n",
		"GET / HTTP/1.1\r\n" HOST "NoColon\r\n\r\n",
		"GET / HTTP/1.1\r\n" HOST "Bad Name: x\r\n\r\n",
		"GET / HTTP/1.1\r\n" HOST ": x\r\n\r\n",
		"GET / HTTP/1.1\r\n" HOST "X-A : x\r\n\r\n",
		"GET / HTTP/1.1\r\n" HOST "X-A: a\x01z\r\n\r\n",
		"GET / HTTP/1.1\r\n" HOST "X-A: a\rb\r\n\r\n",
		"GET / HTTP/1.1\r\n" HOST "X-A: a\x7f\r\n\r\n",
		"GET / HTTP/1.1\r\n" HOST "User-Agent: a\x1b[31m\r\n\r\n",
		/* Host */
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n",
		/* framing */
		"POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST "Content-Length: 5, 6\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST "Content-Length: 5,\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST "Content-Length:\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST "Content-Length: -1\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST "Content-Length: +5\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST "Content-Length: 0x10\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST "Content-Length: 1 2\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST
		"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST
		"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, chunked\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST
		"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, gzip\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\n\r\n",
		"POST / HTTP/1.1\r\n" HOST "Transfer-Encoding:\r\n\r\n",
		"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_status(bad[i], 400);
	/* An embedded NUL is a control character like any other. */
	struct net_httpd_conn *c = NULL;
	const char nul[] = "GET / HTTP/1.1\r\n" HOST "X-A: a\0b\r\n\r\n";
	T_EXPECT_INT(parse_in(&c, nul, sizeof(nul) - 1), 400);
	const char nul2[] = "GET /\0 HTTP/1.1\r\n" HOST "\r\n";
	T_EXPECT_INT(parse_in(&c, nul2, sizeof(nul2) - 1), 400);
	net_httpd_conn_free(c);

	/* The message names the problem without the raw hostile bytes. */
	c = net_httpd_conn_new();
	struct berr e = { 0 };
	int status;
	const char *esc = "GET /\x1b[2J HTTP/1.1\r\n" HOST "\r\n";
	net_httpd_feed(c, esc, strlen(esc), &e);
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), -EBADMSG);
	T_EXPECT_INT(status, 400);
	T_EXPECT_INT(e.code, EBADMSG);
	T_EXPECT(strstr(e.msg, "request target") != NULL);
	T_EXPECT(strchr(e.msg, '\x1b') == NULL);
	/* After an error every parse fails the same way, and nothing is pending. */
	net_httpd_feed(c, "GET / HTTP/1.1\r\n" HOST "\r\n",
		       strlen("GET / HTTP/1.1\r\n" HOST "\r\n"), &e);
	status = 0;
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), -EBADMSG);
	T_EXPECT_INT(status, 400);
	const void *p;
	T_EXPECT_INT(net_httpd_pending(c, &p), 0);
	net_httpd_conn_free(c);
}

static void test_other_statuses(void)
{
	struct net_httpd_conn *c = net_httpd_conn_new();
	struct berr e = { 0 };
	int status;
	const char *v2 = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	net_httpd_feed(c, v2, strlen(v2), &e);
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), -EPROTONOSUPPORT);
	T_EXPECT_INT(status, 505);
	net_httpd_conn_free(c);
	expect_status("GET / HTTP/0.9\r\n\r\n", 505);
	expect_status("GET / HTTP/3.0\r\n" HOST "\r\n", 505);

	c = net_httpd_conn_new();
	const char *gz = "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip, chunked\r\n\r\n";
	net_httpd_feed(c, gz, strlen(gz), &e);
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), -EOPNOTSUPP);
	T_EXPECT_INT(status, 501);
	T_EXPECT(strstr(e.msg, "gzip") != NULL);
	net_httpd_conn_free(c);
	expect_status("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: identity\r\n"
		      "Transfer-Encoding: chunked\r\n\r\n",
		      501);
	expect_status("ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n" HOST "\r\n", 501);
	expect_status("ABCDEFGHIJKLMNO / HTTP/1.1\r\n" HOST "\r\n", 1);
	T_EXPECT_STR(req.method, "ABCDEFGHIJKLMNO");

	/* 413 from Content-Length, before any of the body is there. */
	c = net_httpd_conn_new();
	const char *big = "POST / HTTP/1.1\r\n" HOST "Content-Length: 1048577\r\n\r\n";
	net_httpd_feed(c, big, strlen(big), &e);
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), -E2BIG);
	T_EXPECT_INT(status, 413);
	net_httpd_conn_free(c);
	expect_status("POST / HTTP/1.1\r\n" HOST "Content-Length: 99999999999999999999999\r\n\r\n",
		      413);
	expect_status("POST / HTTP/1.1\r\n" HOST "Content-Length: 1048576\r\n\r\n", 0);
	expect_status("POST / HTTP/1.1\r\n" HOST "Content-Length: 007\r\nContent-Length: 7\r\n"
		      "Content-Length: 7, 7\r\n\r\n0123456",
		      1);
	T_EXPECT_INT(req.content_length, 7);
	/* A chunk size says the body is too big as soon as it is read. */
	expect_status("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n100001\r\n",
		      413);
	expect_status("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n100000\r\n", 0);

	/* 414 and 431 for the sizes of fields. */
	static char buf[NET_HTTPD_HEAD_MAX + 64];
	char path[1100], query[2100];
	memset(path, 'p', sizeof(path));
	path[0] = '/';
	path[1023] = '\0';
	snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\n" HOST "\r\n", path);
	expect_status(buf, 1);
	T_EXPECT_INT(strlen(req.path), 1023);
	path[1023] = 'p';
	path[1024] = '\0';
	snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\n" HOST "\r\n", path);
	expect_status(buf, 414);
	/* The limit is on the decoded path. */
	static char enc[1 + 3 * 1022 + 1];
	enc[0] = '/';
	for (int i = 0; i < 1022; i++)
		memcpy(enc + 1 + 3 * i, "%41", 3);
	snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\n" HOST "\r\n", enc);
	expect_status(buf, 1);
	T_EXPECT_INT(strlen(req.path), 1023);
	T_EXPECT(req.path[1022] == 'A');
	memset(query, 'q', sizeof(query));
	query[2047] = '\0';
	snprintf(buf, sizeof(buf), "GET /?%s HTTP/1.1\r\n" HOST "\r\n", query);
	expect_status(buf, 1);
	T_EXPECT_INT(strlen(req.query), 2047);
	query[2047] = 'q';
	query[2048] = '\0';
	snprintf(buf, sizeof(buf), "GET /?%s HTTP/1.1\r\n" HOST "\r\n", query);
	expect_status(buf, 414);

	static char auth[8300];
	memset(auth, 'a', sizeof(auth));
	auth[8191] = '\0';
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n" HOST "X-Registry-Auth: %s\r\n\r\n", auth);
	expect_status(buf, 1);
	T_EXPECT_INT(strlen(req.registry_auth), 8191);
	auth[8191] = 'a';
	auth[8192] = '\0';
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n" HOST "X-Registry-Auth: %s\r\n\r\n", auth);
	expect_status(buf, 431);
	auth[127] = '\0';
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n" HOST "Content-Type: %s\r\n\r\n", auth);
	expect_status(buf, 1);
	auth[127] = 'a';
	auth[128] = '\0';
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n" HOST "Content-Type: %s; x=y\r\n\r\n", auth);
	expect_status(buf, 431);
	/* The User-Agent is only shown: a long one is cut, not refused. */
	auth[128] = 'a';
	auth[300] = '\0';
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n" HOST "User-Agent: %s\r\n\r\n", auth);
	expect_status(buf, 1);
	T_EXPECT_INT(strlen(req.user_agent), 255);
}

static void test_head_limits(void)
{
	static char buf[2 * NET_HTTPD_HEAD_MAX];
	const char *start = "GET / HTTP/1.1\r\n" HOST "X-Pad: ";
	size_t sl = strlen(start);
	/* A head of exactly NET_HTTPD_HEAD_MAX bytes, and one byte more. */
	memcpy(buf, start, sl);
	memset(buf + sl, 'x', NET_HTTPD_HEAD_MAX - sl - 4);
	memcpy(buf + NET_HTTPD_HEAD_MAX - 4, "\r\n\r\n", 5);
	T_EXPECT_INT(strlen(buf), NET_HTTPD_HEAD_MAX);
	expect_status(buf, 1);
	memset(buf + sl, 'x', NET_HTTPD_HEAD_MAX - sl - 3);
	memcpy(buf + NET_HTTPD_HEAD_MAX - 3, "\r\n\r\n", 5);
	expect_status(buf, 431);

	/* Fed in pieces the refusal comes once NET_HTTPD_HEAD_MAX bytes are in. */
	struct net_httpd_conn *c = net_httpd_conn_new();
	struct berr e = { 0 };
	int status, rc = 0;
	size_t fed = 0;
	while (rc == 0 && fed < sizeof(buf)) {
		net_httpd_feed(c, buf + fed, 1000, &e);
		fed += 1000;
		rc = net_httpd_parse(c, &req, &status, &e);
	}
	T_EXPECT_INT(rc, -E2BIG);
	T_EXPECT_INT(status, 431);
	T_EXPECT_INT(fed, 17000);
	net_httpd_conn_free(c);

	/* No line end at all: the request line is what is too long. */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "GET /", 5);
	buf[NET_HTTPD_HEAD_MAX] = '\0';
	expect_status(buf, 414);
	buf[NET_HTTPD_HEAD_MAX - 1] = '\0';
	expect_status(buf, 0);
	/* Many small headers add up the same way. */
	size_t n = 0;
	n += (size_t)sprintf(buf, "GET / HTTP/1.1\r\n" HOST);
	while (n < NET_HTTPD_HEAD_MAX)
		n += (size_t)sprintf(buf + n, "A:\r\n");
	sprintf(buf + n, "\r\n");
	expect_status(buf, 431);
}

static void test_body_limits(void)
{
	struct net_httpd_conn *c = NULL;
	size_t max = NET_HTTPD_BODY_MAX;
	char *buf = malloc(max + 4096);
	int n = sprintf(buf, "PUT /b HTTP/1.1\r\n" HOST "Content-Length: %zu\r\n\r\n", max);
	memset(buf + n, 'b', max);
	T_EXPECT_INT(parse_in(&c, buf, (size_t)n + max), 1);
	T_EXPECT_INT(req.body_len, max);
	T_EXPECT(req.body && req.body[max - 1] == 'b' && req.body[max] == '\0');

	/* One chunk of exactly the limit, and then one byte more. */
	n = sprintf(buf, "PUT /b HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n%zx\r\n",
		    max);
	memset(buf + n, 'c', max);
	memcpy(buf + n + max, "\r\n0\r\n\r\n", 7);
	T_EXPECT_INT(parse_in(&c, buf, (size_t)n + max + 7), 1);
	T_EXPECT_INT(req.body_len, max);
	T_EXPECT(req.body[0] == 'c' && req.body[max - 1] == 'c' && req.body[max] == '\0');
	memcpy(buf + n + max, "\r\n1\r\nc\r\n0\r\n\r\n", 13);
	T_EXPECT_INT(parse_in(&c, buf, (size_t)n + max + 13), 413);
	net_httpd_conn_free(c);

	/* Feeding past NET_HTTPD_BUF_MAX is refused, the bytes before kept. */
	c = net_httpd_conn_new();
	struct berr e = { 0 };
	memset(buf, 'x', max);
	T_EXPECT_INT(net_httpd_feed(c, buf, max, &e), 0);
	T_EXPECT_INT(net_httpd_feed(c, buf, NET_HTTPD_HEAD_MAX, &e), 0);
	T_EXPECT_INT(net_httpd_feed(c, buf, 1, &e), -E2BIG);
	T_EXPECT_INT(e.code, E2BIG);
	T_EXPECT_INT(net_httpd_mem(c), NET_HTTPD_BUF_MAX);
	net_httpd_conn_free(c);
	free(buf);
}

static void test_memory(void)
{
	struct net_httpd_conn *c = net_httpd_conn_new();
	struct berr e = { 0 };
	int status;
	T_EXPECT_INT(net_httpd_mem(c), 0);
	const char *get = "GET /_ping HTTP/1.1\r\n" HOST "\r\n";
	net_httpd_feed(c, get, strlen(get), &e);
	T_EXPECT(net_httpd_mem(c) > 0 && net_httpd_mem(c) <= 4096);
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), 1);
	net_httpd_next(c);
	T_EXPECT_INT(net_httpd_mem(c), 0);

	/* A 1 MiB body, then a small pipelined request: the buffer shrinks. */
	size_t blen = 1000000;
	char *big = malloc(blen + 512);
	int n = sprintf(big, "POST /b HTTP/1.1\r\n" HOST "Content-Length: %zu\r\n\r\n", blen);
	memset(big + n, 'z', blen);
	size_t fed = 0, total = (size_t)n + blen, prev = 0;
	bool geometric = true;
	while (fed < total) {
		size_t k = total - fed < 65536 ? total - fed : 65536;
		T_EXPECT_INT(net_httpd_feed(c, big + fed, k, &e), 0);
		fed += k;
		size_t m = net_httpd_mem(c);
		/* grows by doubling, and only to what is buffered */
		geometric &= m == prev || (m >= fed && (prev == 0 || m <= 2 * prev) && m < 2 * fed);
		prev = m;
	}
	T_EXPECT(geometric);
	net_httpd_feed(c, get, strlen(get), &e);
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), 1);
	T_EXPECT_INT(req.body_len, blen);
	T_EXPECT(net_httpd_mem(c) >= blen);
	net_httpd_next(c);
	T_EXPECT(net_httpd_mem(c) > 0 && net_httpd_mem(c) <= 4096);
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), 1);
	T_EXPECT_STR(req.path, "/_ping");
	net_httpd_next(c);
	T_EXPECT_INT(net_httpd_mem(c), 0);
	free(big);
	net_httpd_conn_free(c);
	net_httpd_conn_free(NULL);
}

static void test_paths(void)
{
	expect_status("GET /a%2Fb%20c+d%7e HTTP/1.1\r\n" HOST "\r\n", 1);
	T_EXPECT_STR(req.path, "/a/b c+d~");
	expect_status("GET /images/localhost:5000/a/b/json?x=%ZZ HTTP/1.1\r\n" HOST "\r\n", 1);
	T_EXPECT_STR(req.path, "/images/localhost:5000/a/b/json");
	T_EXPECT_STR(req.query, "x=%ZZ"); /* the query is kept raw */
	expect_status("GET /%C3%A9? HTTP/1.1\r\n" HOST "\r\n", 1);
	T_EXPECT_STR(req.path, "/\xc3\xa9");
	T_EXPECT_STR(req.query, "");
	expect_status("GET /a?b?c=/d HTTP/1.1\r\n" HOST "\r\n", 1);
	T_EXPECT_STR(req.path, "/a");
	T_EXPECT_STR(req.query, "b?c=/d");
	/* absolute-form: scheme and authority dropped */
	expect_status("GET http://docker/v1.47/info?x=1 HTTP/1.1\r\n" HOST "\r\n", 1);
	T_EXPECT_STR(req.path, "/v1.47/info");
	T_EXPECT_STR(req.query, "x=1");
	expect_status("GET HTTPS://[::1]:2376 HTTP/1.1\r\n" HOST "\r\n", 1);
	T_EXPECT_STR(req.path, "/");
	expect_status("GET http://h?q HTTP/1.1\r\n" HOST "\r\n", 1);
	T_EXPECT_STR(req.path, "/");
	T_EXPECT_STR(req.query, "q");
}

static void test_query(void)
{
	const char *q = "all=1&filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D&name=a+b%20c"
			"&flag&empty=&all=0&a%6Cl2=x&bad=%zz&nul=%00&x=1=2&&last=end";
	char v[64];
	T_EXPECT(net_httpd_query(q, "all", v, sizeof(v)));
	T_EXPECT_STR(v, "1");
	T_EXPECT(net_httpd_query(q, "filters", v, sizeof(v)));
	T_EXPECT_STR(v, "{\"label\":[\"a=b\"]}");
	T_EXPECT(net_httpd_query(q, "name", v, sizeof(v)));
	T_EXPECT_STR(v, "a b c");
	T_EXPECT(net_httpd_query(q, "flag", v, sizeof(v)));
	T_EXPECT_STR(v, "");
	T_EXPECT(net_httpd_query(q, "empty", v, sizeof(v)));
	T_EXPECT_STR(v, "");
	T_EXPECT(net_httpd_query(q, "all2", v, sizeof(v))); /* the key was escaped */
	T_EXPECT_STR(v, "x");
	T_EXPECT(net_httpd_query(q, "x", v, sizeof(v)));
	T_EXPECT_STR(v, "1=2");
	T_EXPECT(net_httpd_query(q, "last", v, sizeof(v)));
	T_EXPECT_STR(v, "end");
	strcpy(v, "junk");
	T_EXPECT(!net_httpd_query(q, "missing", v, sizeof(v)));
	T_EXPECT_STR(v, "");
	T_EXPECT(!net_httpd_query(q, "al", v, sizeof(v)));
	T_EXPECT(!net_httpd_query(q, "al2", v, sizeof(v)));
	T_EXPECT(!net_httpd_query(q, "", v, sizeof(v)));
	T_EXPECT(!net_httpd_query(q, "bad", v, sizeof(v)));
	T_EXPECT(!net_httpd_query(q, "nul", v, sizeof(v)));
	T_EXPECT(!net_httpd_query(q, "name", v, 5)); /* "a b c" needs 6 */
	T_EXPECT_STR(v, "");
	T_EXPECT(net_httpd_query(q, "name", v, 6));
	T_EXPECT_STR(v, "a b c");
	T_EXPECT(!net_httpd_query("", "all", v, sizeof(v)));
	T_EXPECT(!net_httpd_query("%", "all", v, sizeof(v)));
	T_EXPECT(net_httpd_query("a%20b=1", "a b", v, sizeof(v)));
	T_EXPECT(net_httpd_query("a+b=2", "a b", v, sizeof(v)));
	T_EXPECT_STR(v, "2");

	T_EXPECT(net_httpd_query_bool("all=1", "all", false));
	T_EXPECT(net_httpd_query_bool("all=true", "all", false));
	T_EXPECT(net_httpd_query_bool("all=True", "all", false));
	T_EXPECT(net_httpd_query_bool("all=yes", "all", false));
	T_EXPECT(net_httpd_query_bool("all=+1+", "all", false));
	T_EXPECT(net_httpd_query_bool("all=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "all",
				      false));
	T_EXPECT(!net_httpd_query_bool("all=0", "all", true));
	T_EXPECT(!net_httpd_query_bool("all=false", "all", true));
	T_EXPECT(!net_httpd_query_bool("all=FALSE", "all", true));
	T_EXPECT(!net_httpd_query_bool("all=No", "all", true));
	T_EXPECT(!net_httpd_query_bool("all=none", "all", true));
	T_EXPECT(!net_httpd_query_bool("all=", "all", true));
	T_EXPECT(!net_httpd_query_bool("all", "all", true));
	T_EXPECT(!net_httpd_query_bool("all=%20false%09", "all", true));
	T_EXPECT(!net_httpd_query_bool("all=0&all=1", "all", true));
	T_EXPECT(net_httpd_query_bool("x=0", "all", true));
	T_EXPECT(!net_httpd_query_bool("x=1", "all", false));
	T_EXPECT(net_httpd_query_bool("all=%zz", "all", true));
	T_EXPECT(!net_httpd_query_bool("all=%zz", "all", false));
}

static void test_upgrade(void)
{
	struct net_httpd_conn *c = NULL;
	const char *s =
		"POST /v1.47/containers/abc/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n" HOST
		"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: text/plain\r\n\r\n"
		"echo hi\n";
	T_EXPECT_INT(parse_in(&c, s, strlen(s)), 1);
	T_EXPECT(req.upgrade);
	T_EXPECT(req.body == NULL);
	const void *p;
	size_t n = net_httpd_pending(c, &p);
	T_EXPECT_INT(n, 8);
	T_EXPECT(n == 8 && !memcmp(p, "echo hi\n", 8));
	net_httpd_conn_free(c);

	expect_status("POST /a HTTP/1.1\r\n" HOST "Connection: keep-alive, upgrade\r\n"
		      "Upgrade: h2c, TCP\r\n\r\n",
		      1);
	T_EXPECT(req.upgrade);
	expect_status("POST /a HTTP/1.1\r\n" HOST "Upgrade: tcp\r\n\r\n", 1);
	T_EXPECT(!req.upgrade);
	expect_status(
		"POST /a HTTP/1.1\r\n" HOST "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 1);
	T_EXPECT(!req.upgrade);
	expect_status("POST /a HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", 1);
	T_EXPECT(!req.upgrade);
}

static void test_continue(void)
{
	struct net_httpd_conn *c = net_httpd_conn_new();
	struct berr e = { 0 };
	int status;
	const char *h = "POST /build HTTP/1.1\r\n" HOST "Expect: 100-Continue\r\n"
			"Content-Length: 4\r\n\r\n";
	net_httpd_feed(c, h, strlen(h), &e);
	T_EXPECT(!net_httpd_want_continue(c));
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), 0);
	T_EXPECT(net_httpd_want_continue(c));
	T_EXPECT(!net_httpd_want_continue(c));
	net_httpd_feed(c, "da", 2, &e);
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), 0);
	T_EXPECT(!net_httpd_want_continue(c));
	net_httpd_feed(c, "ta", 2, &e);
	T_EXPECT_INT(net_httpd_parse(c, &req, &status, &e), 1);
	T_EXPECT(req.expect_continue);
	T_EXPECT_STR(req.body, "data");
	net_httpd_conn_free(c);

	/* Not when the body came with the head, there is none, or in 1.0. */
	c = NULL;
	const char *with = "POST / HTTP/1.1\r\n" HOST "Expect: 100-continue\r\n"
			   "Content-Length: 4\r\n\r\nda";
	T_EXPECT_INT(parse_in(&c, with, strlen(with)), 0);
	T_EXPECT(!net_httpd_want_continue(c));
	const char *nobody = "POST / HTTP/1.1\r\n" HOST "Expect: 100-continue\r\n\r\n";
	T_EXPECT_INT(parse_in(&c, nobody, strlen(nobody)), 1);
	T_EXPECT(!net_httpd_want_continue(c));
	const char *chunked = "POST / HTTP/1.1\r\n" HOST "Expect: 100-continue\r\n"
			      "Transfer-Encoding: chunked\r\n\r\n";
	T_EXPECT_INT(parse_in(&c, chunked, strlen(chunked)), 0);
	T_EXPECT(net_httpd_want_continue(c));
	const char *old = "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
	T_EXPECT_INT(parse_in(&c, old, strlen(old)), 0);
	T_EXPECT(!net_httpd_want_continue(c));
	/* A refused body gets its final status, not 100. */
	const char *big = "POST / HTTP/1.1\r\n" HOST "Expect: 100-continue\r\n"
			  "Content-Length: 2000000\r\n\r\n";
	T_EXPECT_INT(parse_in(&c, big, strlen(big)), 413);
	T_EXPECT(!net_httpd_want_continue(c));
	net_httpd_conn_free(c);
}

/* Everything the writer side of a socketpair has sent so far. */
static char *drain(int fd, size_t *n)
{
	static char buf[65536];
	*n = 0;
	for (;;) {
		ssize_t k = recv(fd, buf + *n, sizeof(buf) - 1 - *n, MSG_DONTWAIT);
		if (k <= 0)
			break;
		*n += (size_t)k;
	}
	buf[*n] = '\0';
	return buf;
}

static void expect_sent(int fd, const char *want)
{
	size_t n;
	char *got = drain(fd, &n);
	T_EXPECT_INT(n, strlen(want));
	T_EXPECT_STR(got, want);
}

static void test_writers(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		t_skip("no socketpair");
		return;
	}
	const char *json = "{\"ID\":\"abc\"}";
	T_EXPECT_INT(net_httpd_respond(sv[0], 201, "application/json", json, strlen(json), true,
				       "Api-Version: 1.47\r\nOstype: linux\r\n"),
		     0);
	expect_sent(sv[1], "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
			   "Content-Length: 12\r\nApi-Version: 1.47\r\nOstype: linux\r\n\r\n"
			   "{\"ID\":\"abc\"}");
	T_EXPECT_INT(net_httpd_respond(sv[0], 404, NULL, "x", 1, false, NULL), 0);
	expect_sent(sv[1], "HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n"
			   "Connection: close\r\n\r\nx");
	T_EXPECT_INT(net_httpd_respond(sv[0], 204, NULL, NULL, 0, true, NULL), 0);
	expect_sent(sv[1], "HTTP/1.1 204 No Content\r\n\r\n");
	/* HEAD: the length of what GET would send, without it. */
	T_EXPECT_INT(
		net_httpd_respond(sv[0], 200, "text/plain; charset=utf-8", NULL, 2, true, NULL), 0);
	expect_sent(sv[1], "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
			   "Content-Length: 2\r\n\r\n");
	T_EXPECT_INT(net_httpd_respond(sv[0], 599, NULL, "", 0, true, ""), 0);
	expect_sent(sv[1], "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n");

	T_EXPECT_INT(net_httpd_start_chunked(sv[0], 200, "application/json", "Server: berth\r\n"),
		     0);
	T_EXPECT_INT(net_httpd_chunk(sv[0], "{\"status\":\"Pulling\"}\n", 21), 0);
	static char big[300];
	memset(big, 'b', sizeof(big));
	T_EXPECT_INT(net_httpd_chunk(sv[0], big, sizeof(big)), 0);
	T_EXPECT_INT(net_httpd_chunk(sv[0], NULL, 0), 0);
	size_t n;
	char *got = drain(sv[1], &n);
	const char *want = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			   "Transfer-Encoding: chunked\r\nServer: berth\r\n\r\n"
			   "15\r\n{\"status\":\"Pulling\"}\n\r\n12c\r\n";
	T_EXPECT(n == strlen(want) + 300 + 7 && !memcmp(got, want, strlen(want)) &&
		 got[strlen(want)] == 'b' && got[strlen(want) + 299] == 'b' &&
		 !strcmp(got + strlen(want) + 300, "\r\n0\r\n\r\n"));
	T_EXPECT_INT(net_httpd_start_chunked(sv[0], 200, NULL, NULL), 0);
	expect_sent(sv[1], "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");

	T_EXPECT_INT(net_httpd_hijack(sv[0], "application/vnd.docker.multiplexed-stream"), 0);
	expect_sent(sv[1], "HTTP/1.1 101 UPGRADED\r\n"
			   "Content-Type: application/vnd.docker.multiplexed-stream\r\n"
			   "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
	T_EXPECT_INT(net_httpd_hijack(sv[0], NULL), 0);
	expect_sent(sv[1], "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
	T_EXPECT_INT(net_httpd_continue(sv[0]), 0);
	expect_sent(sv[1], "HTTP/1.1 100 Continue\r\n\r\n");

	/* What would split the response or end its head early is refused. */
	static const char *const bad_extra[] = {
		"X-A: 1",         "X-A: 1\n",
		"X-A: 1\r\n\r\n", "X-A: 1\r\nB\r\n",
		": 1\r\n",        "X A: 1\r\n",
		"X-A: 1\r2\r\n",  "X-A: \x01\r\n",
		"\r\n",           "X-A: 1\r\n\r\nHTTP/1.1 200 OK\r\n",
	};
	for (size_t i = 0; i < sizeof(bad_extra) / sizeof(bad_extra[0]); i++) {
		T_EXPECT_INT(net_httpd_respond(sv[0], 200, NULL, NULL, 0, true, bad_extra[i]),
			     -EINVAL);
		T_EXPECT_INT(net_httpd_start_chunked(sv[0], 200, NULL, bad_extra[i]), -EINVAL);
	}
	T_EXPECT_INT(net_httpd_respond(sv[0], 200, "text/plain\r\nX: y", NULL, 0, true, NULL),
		     -EINVAL);
	T_EXPECT_INT(net_httpd_hijack(sv[0], "a\nb"), -EINVAL);
	T_EXPECT_INT(net_httpd_respond(sv[0], 99, NULL, NULL, 0, true, NULL), -EINVAL);
	T_EXPECT_INT(net_httpd_respond(sv[0], 1000, NULL, NULL, 0, true, NULL), -EINVAL);
	T_EXPECT_INT(net_httpd_respond(sv[0], 204, NULL, "x", 1, true, NULL), -EINVAL);
	static char ctype[260];
	memset(ctype, 'c', sizeof(ctype) - 1);
	T_EXPECT_INT(net_httpd_respond(sv[0], 200, ctype, NULL, 0, true, NULL), -EINVAL);
	expect_sent(sv[1], "");

	/* A peer that went away is an error, not a SIGPIPE. */
	close(sv[1]);
	T_EXPECT_INT(net_httpd_respond(sv[0], 200, NULL, "x", 1, true, NULL), -EPIPE);
	T_EXPECT_INT(net_httpd_chunk(sv[0], "x", 1), -EPIPE);
	close(sv[0]);
	T_EXPECT_INT(net_httpd_continue(sv[0]), -EBADF);
}

static void test_writer_large(void)
{
	/* A body larger than the socket buffer goes out whole while the
	 * reader drains it. */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		t_skip("no socketpair");
		return;
	}
	size_t len = 3 << 20;
	char *body = malloc(len);
	for (size_t i = 0; i < len; i++)
		body[i] = (char)('a' + i % 26);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[1]);
		_exit(net_httpd_respond(sv[0], 200, "application/octet-stream", body, len, true,
					NULL) == 0
			      ? 0
			      : 1);
	}
	close(sv[0]);
	char *got = malloc(len + 4096);
	size_t n = 0;
	ssize_t k;
	while ((k = read(sv[1], got + n, len + 4096 - n)) > 0)
		n += (size_t)k;
	int st = -1;
	waitpid(pid, &st, 0);
	T_EXPECT_INT(st, 0);
	const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
			   "Content-Length: 3145728\r\n\r\n";
	T_EXPECT_INT(n, strlen(head) + len);
	T_EXPECT(n == strlen(head) + len && !memcmp(got, head, strlen(head)) &&
		 !memcmp(got + strlen(head), body, len));
	close(sv[1]);
	free(got);
	free(body);
}

static void test_reason(void)
{
	T_EXPECT_STR(net_httpd_reason(200), "OK");
	T_EXPECT_STR(net_httpd_reason(304), "Not Modified");
	T_EXPECT_STR(net_httpd_reason(409), "Conflict");
	T_EXPECT_STR(net_httpd_reason(413), "Content Too Large");
	T_EXPECT_STR(net_httpd_reason(431), "Request Header Fields Too Large");
	T_EXPECT_STR(net_httpd_reason(500), "Internal Server Error");
	T_EXPECT_STR(net_httpd_reason(505), "HTTP Version Not Supported");
	T_EXPECT_STR(net_httpd_reason(299), "");
	T_EXPECT_STR(net_httpd_reason(-1), "");
}

/* A stream of requests cut at random points parses to the same requests. */
static void test_random_splits(void)
{
	const char *s = "GET /v1.47/version HTTP/1.1\r\n" HOST "\r\n"
			"POST /v1.47/images/create?fromImage=busybox&tag=1 HTTP/1.1\r\n" HOST
			"X-Registry-Auth: e30=\r\nContent-Length: 2\r\n\r\n{}"
			"PUT /v HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"
			"4;x\r\nabcd\r\n2\r\nef\r\n0\r\nA: b\r\n\r\n"
			"\r\nHEAD /_ping HTTP/1.0\r\n\r\n"
			"GET /bad HTTP/1.1\r\n" HOST "X: \x01\r\n\r\n";
	static const char *const paths[] = { "/v1.47/version", "/v1.47/images/create", "/v",
					     "/_ping" };
	static const char *const bodies[] = { NULL, "{}", "abcdef", NULL };
	size_t n = strlen(s);
	uint32_t seed = 12345;
	int bad = 0;
	for (int round = 0; round < 2000 && !bad; round++) {
		struct net_httpd_conn *c = net_httpd_conn_new();
		struct berr e = { 0 };
		int got = 0, rc = 0, status = 0;
		for (size_t off = 0; off < n && rc >= 0;) {
			seed = seed * 1103515245 + 12345;
			size_t k = 1 + (seed >> 16) % 40;
			if (k > n - off)
				k = n - off;
			net_httpd_feed(c, s + off, k, &e);
			off += k;
			while ((rc = net_httpd_parse(c, &req, &status, &e)) == 1) {
				if (got >= 4 || strcmp(req.path, paths[got]) ||
				    (bodies[got] ? !req.body || strcmp(req.body, bodies[got])
						 : req.body != NULL))
					bad = 1;
				got++;
				net_httpd_next(c);
			}
		}
		if (got != 4 || rc != -EBADMSG || status != 400)
			bad = 1;
		if (bad)
			printf("#   round %d: %d requests, rc %d: %s\n", round, got, rc, e.msg);
		net_httpd_conn_free(c);
	}
	T_EXPECT(!bad);
}

int main(void)
{
	T_RUN(test_docker_requests);
	T_RUN(test_byte_at_a_time);
	T_RUN(test_pipelined);
	T_RUN(test_pipelined_stream);
	T_RUN(test_keep_alive);
	T_RUN(test_chunked);
	T_RUN(test_chunked_overhead);
	T_RUN(test_bad_requests);
	T_RUN(test_other_statuses);
	T_RUN(test_head_limits);
	T_RUN(test_body_limits);
	T_RUN(test_memory);
	T_RUN(test_paths);
	T_RUN(test_query);
	T_RUN(test_upgrade);
	T_RUN(test_continue);
	T_RUN(test_writers);
	T_RUN(test_writer_large);
	T_RUN(test_reason);
	T_RUN(test_random_splits);
	return T_DONE();
}
