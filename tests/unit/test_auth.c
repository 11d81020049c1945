/* Unit tests for net/auth.c: WWW-Authenticate challenges (RFC 9110 section 11,
 * RFC 6750), token responses (distribution token spec) and base64 (RFC 4648). */
#include <errno.h>
#include <limits.h>

#include "net/auth.h"
#include "tap.h"

static int chal(const char *hdr, struct net_auth_challenge *c)
{
	struct berr e = { 0 };
	int rc = net_auth_parse_challenge(hdr, c, &e);
	if (rc < 0 && !e.msg[0])
		printf("#   error %d without a message\n", rc);
	return rc;
}

static void test_docker_hub(void)
{
	struct net_auth_challenge c;
	T_EXPECT_INT(chal("Bearer realm=\"https://auth.docker.io/token\","
			  "service=\"registry.docker.io\","
			  "scope=\"repository:library/busybox:pull\"",
			  &c),
		     0);
	T_EXPECT_INT(c.scheme, NET_AUTH_BEARER);
	T_EXPECT_STR(c.realm, "https://auth.docker.io/token");
	T_EXPECT_STR(c.service, "registry.docker.io");
	T_EXPECT_STR(c.scope, "repository:library/busybox:pull");
	T_EXPECT_STR(c.error, "");

	T_EXPECT_INT(chal("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker."
			  "io\",scope=\"repository:library/busybox:pull,push\","
			  "error=\"insufficient_scope\"",
			  &c),
		     0);
	T_EXPECT_STR(c.scope, "repository:library/busybox:pull,push");
	T_EXPECT_STR(c.error, "insufficient_scope");
}

static void test_basic(void)
{
	struct net_auth_challenge c;
	T_EXPECT_INT(chal("Basic realm=\"Registry Realm\"", &c), 0);
	T_EXPECT_INT(c.scheme, NET_AUTH_BASIC);
	T_EXPECT_STR(c.realm, "Registry Realm");
	T_EXPECT_STR(c.service, "");
	T_EXPECT_INT(chal("basic", &c), 0);
	T_EXPECT_INT(c.scheme, NET_AUTH_BASIC);
	T_EXPECT_STR(c.realm, "");
	T_EXPECT_INT(chal("Basic realm=\"\", charset=\"UTF-8\"", &c), 0);
	T_EXPECT_INT(c.scheme, NET_AUTH_BASIC);
	/* token68 form */
	T_EXPECT_INT(chal("Basic dXNlcjpwYXNz==", &c), 0);
	T_EXPECT_INT(c.scheme, NET_AUTH_BASIC);
	T_EXPECT_INT(chal("Basic abc/+.~_-=", &c), 0);
	T_EXPECT_INT(c.scheme, NET_AUTH_BASIC);
}

static void test_several_challenges(void)
{
	struct net_auth_challenge c;
	T_EXPECT_INT(chal("Basic realm=\"b\", Bearer realm=\"https://a/token\",service=\"s\"", &c),
		     0);
	T_EXPECT_INT(c.scheme, NET_AUTH_BEARER);
	T_EXPECT_STR(c.realm, "https://a/token");
	T_EXPECT_STR(c.service, "s");
	T_EXPECT_INT(chal("Bearer realm=\"a\",service=\"s\", Basic realm=\"b\"", &c), 0);
	T_EXPECT_INT(c.scheme, NET_AUTH_BEARER);
	T_EXPECT_STR(c.realm, "a");
	T_EXPECT_STR(c.service, "s");
	T_EXPECT_INT(chal("Bearer realm=\"first\", Bearer realm=\"second\",scope=\"x\"", &c), 0);
	T_EXPECT_STR(c.realm, "first");
	T_EXPECT_STR(c.scope, "");
	T_EXPECT_INT(chal("Basic realm=\"one\", Basic realm=\"two\"", &c), 0);
	T_EXPECT_STR(c.realm, "one");
	/* RFC 7235 section 4.1's example: an unknown scheme with a quoted
	 * comma and escaped quotes, then Basic. */
	T_EXPECT_INT(chal("Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", "
			  "Basic realm=\"simple\"",
			  &c),
		     0);
	T_EXPECT_INT(c.scheme, NET_AUTH_BASIC);
	T_EXPECT_STR(c.realm, "simple");
	T_EXPECT_INT(chal("Negotiate abc==, Bearer realm=\"r\", NTLM", &c), 0);
	T_EXPECT_INT(c.scheme, NET_AUTH_BEARER);
	T_EXPECT_STR(c.realm, "r");
	T_EXPECT_INT(chal("Negotiate, Basic", &c), 0);
	T_EXPECT_INT(c.scheme, NET_AUTH_BASIC);
}

static void test_quoting_and_case(void)
{
	struct net_auth_challenge c;
	T_EXPECT_INT(chal("Bearer realm=\"a\\\"b\\\\c,d\",service=\"x=y, z\"", &c), 0);
	T_EXPECT_STR(c.realm, "a\"b\\c,d");
	T_EXPECT_STR(c.service, "x=y, z");
	T_EXPECT_INT(chal("Bearer realm=\"\\h\\t\\t\\p\"", &c), 0);
	T_EXPECT_STR(c.realm, "http");
	T_EXPECT_INT(chal("Bearer realm=\"r\",service=registry.docker.io,scope=repo", &c), 0);
	T_EXPECT_STR(c.service, "registry.docker.io");
	T_EXPECT_STR(c.scope, "repo");
	T_EXPECT_INT(chal("BEARER REALM=\"r\",SERVICE=\"s\",Scope=\"p\",ERROR=invalid_token", &c),
		     0);
	T_EXPECT_INT(c.scheme, NET_AUTH_BEARER);
	T_EXPECT_STR(c.realm, "r");
	T_EXPECT_STR(c.service, "s");
	T_EXPECT_STR(c.scope, "p");
	T_EXPECT_STR(c.error, "invalid_token");
	T_EXPECT_INT(chal("  ,\tBearer   realm = \"r\" ,  service=\"s\"  ,scope=\"x\" , ", &c), 0);
	T_EXPECT_STR(c.realm, "r");
	T_EXPECT_STR(c.service, "s");
	T_EXPECT_STR(c.scope, "x");
	T_EXPECT_INT(chal("Bearer\trealm=\"r\",,,service=\"s\"", &c), 0);
	T_EXPECT_STR(c.service, "s");
	T_EXPECT_INT(chal("Bearer realm=\"r\",foo=\"bar\",error_description=\"a, b\",x=1", &c), 0);
	T_EXPECT_STR(c.realm, "r");
	T_EXPECT_STR(c.error, "");
	/* Values outside ASCII are kept as they are. */
	T_EXPECT_INT(chal("Basic realm=\"caf\xc3\xa9\"", &c), 0);
	T_EXPECT_STR(c.realm, "caf\xc3\xa9");
}

static void test_sizes(void)
{
	struct net_auth_challenge c;
	struct berr e = { 0 };
	static char h[4096], v[2048];
	memset(v, 'r', sizeof(v));
	snprintf(h, sizeof(h), "Bearer realm=\"%.511s\"", v);
	T_EXPECT_INT(chal(h, &c), 0);
	T_EXPECT_INT(strlen(c.realm), 511);
	snprintf(h, sizeof(h), "Bearer realm=\"%.512s\"", v);
	T_EXPECT_INT(net_auth_parse_challenge(h, &c, &e), -EBADMSG);
	T_EXPECT(strstr(e.msg, "realm") != NULL);
	snprintf(h, sizeof(h), "Bearer realm=r,service=%.256s", v);
	T_EXPECT_INT(chal(h, &c), -EBADMSG);
	snprintf(h, sizeof(h), "Bearer realm=r,scope=\"%.512s\"", v);
	T_EXPECT_INT(chal(h, &c), -EBADMSG);
	snprintf(h, sizeof(h), "Bearer realm=r,error=%.63s", v);
	T_EXPECT_INT(chal(h, &c), 0);
	snprintf(h, sizeof(h), "Bearer realm=r,error=%.64s", v);
	T_EXPECT_INT(chal(h, &c), -EBADMSG);
	/* An escaped character counts once. */
	char esc[1100];
	for (int i = 0; i < 511; i++)
		esc[2 * i] = '\\', esc[2 * i + 1] = 'q';
	esc[1022] = '\0';
	snprintf(h, sizeof(h), "Bearer realm=\"%s\"", esc);
	T_EXPECT_INT(chal(h, &c), 0);
	T_EXPECT_INT(strlen(c.realm), 511);
	/* Long values in challenges that are not kept do not matter. */
	snprintf(h, sizeof(h), "Bearer realm=r, Bearer realm=\"%.2000s\", Foo x=\"%.1000s\"", v, v);
	T_EXPECT_INT(chal(h, &c), 0);
	T_EXPECT_STR(c.realm, "r");
}

static void test_refused(void)
{
	struct net_auth_challenge c;
	struct berr e = { 0 };
	T_EXPECT_INT(net_auth_parse_challenge("Negotiate", &c, &e), -ENOTSUP);
	T_EXPECT(strstr(e.msg, "scheme") != NULL);
	T_EXPECT_INT(chal("Digest realm=\"x\", nonce=\"y\"", &c), -ENOTSUP);
	T_EXPECT_INT(chal("Bearerx realm=\"x\"", &c), -ENOTSUP);
	T_EXPECT_INT(chal("", &c), -EBADMSG);
	T_EXPECT_INT(chal(" , ,\t", &c), -EBADMSG);
	T_EXPECT_INT(net_auth_parse_challenge("Bearer service=\"s\"", &c, &e), -EBADMSG);
	T_EXPECT(strstr(e.msg, "realm") != NULL);
	static const char *const bad[] = {
		"Bearer realm=\"x",
		"Bearer realm=\"x\\",
		"Bearer realm=\"x\" service=\"y\"",
		"Bearer realm=",
		"Bearer realm= ,service=s",
		"Bearer =x",
		"Bearer realm=\"a\x01\"",
		"Bearer realm=\"a\r\nb\"",
		"Bearer realm=\"a\x7f\"",
		"Bearer realm=\"x\"junk",
		"Bearer realm=x y",
		"\"Bearer\"",
		"Bearer realm=\"a\",realm=\"b\"",
		"Bearer realm=r,REALM=r",
		"Bearer realm=a:b",
		"Bearer, realm=\"x\"",
		"Bearer realm=\"r\"; service=s",
		"Basic abc== def",
		"Basic abc==x",
		"Bearer@ realm=r",
		"Bearer realm=r, @",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = chal(bad[i], &c);
		if (rc != -EBADMSG)
			printf("#   %s: %d\n", bad[i], rc);
		T_EXPECT_INT(rc, -EBADMSG);
	}
	/* The position is told, the raw bytes are not. */
	T_EXPECT_INT(net_auth_parse_challenge("Bearer realm=\"\x1b[2J", &c, &e), -EBADMSG);
	T_EXPECT(strchr(e.msg, '\x1b') == NULL);
	T_EXPECT(strstr(e.msg, "byte") != NULL);
}

static int token(const char *json, char *tok, size_t toklen, int *exp)
{
	struct berr e = { 0 };
	int rc = net_auth_parse_token(json, strlen(json), tok, toklen, exp, &e);
	if (rc < 0 && !e.msg[0])
		printf("#   error %d without a message\n", rc);
	return rc;
}

static void test_token(void)
{
	char tok[AUTH_TOKEN_MAX];
	int exp = 0;
	T_EXPECT_INT(token("{\"token\":\"abc.def-ghi_\",\"expires_in\":300,"
			   "\"issued_at\":\"2024-01-01T00:00:00Z\"}",
			   tok, sizeof(tok), &exp),
		     0);
	T_EXPECT_STR(tok, "abc.def-ghi_");
	T_EXPECT_INT(exp, 300);
	T_EXPECT_INT(token(" {\"access_token\":\"xyz\"}\r\n", tok, sizeof(tok), &exp), 0);
	T_EXPECT_STR(tok, "xyz");
	T_EXPECT_INT(exp, 60);
	T_EXPECT_INT(token("{\"access_token\":\"a\",\"token\":\"t\"}", tok, sizeof(tok), &exp), 0);
	T_EXPECT_STR(tok, "t");
	T_EXPECT_INT(token("{\"token\":\"\",\"access_token\":\"a\"}", tok, sizeof(tok), &exp), 0);
	T_EXPECT_STR(tok, "a");
	T_EXPECT_INT(token("{\"token\":5,\"access_token\":\"a\"}", tok, sizeof(tok), &exp), 0);
	T_EXPECT_STR(tok, "a");
	T_EXPECT_INT(token("{\"token\":\"t\",\"expires_in\":null}", tok, sizeof(tok), &exp), 0);
	T_EXPECT_INT(exp, 60);
	T_EXPECT_INT(token("{\"token\":\"t\",\"expires_in\":0}", tok, sizeof(tok), &exp), 0);
	T_EXPECT_INT(exp, 0);
	T_EXPECT_INT(token("{\"token\":\"t\",\"expires_in\":300.9}", tok, sizeof(tok), &exp), 0);
	T_EXPECT_INT(exp, 300);
	T_EXPECT_INT(token("{\"token\":\"t\",\"expires_in\":1e300}", tok, sizeof(tok), &exp), 0);
	T_EXPECT_INT(exp, INT_MAX);
	T_EXPECT_INT(token("{\"Token\":\"T\",\"token\":\"t\"}", tok, sizeof(tok), &exp), 0);
	T_EXPECT_STR(tok, "t");
	/* The body need not be NUL-terminated: only len bytes count. */
	const char *longer = "{\"token\":\"abc\"}GARBAGE";
	T_EXPECT_INT(net_auth_parse_token(longer, 15, tok, sizeof(tok), &exp, NULL), 0);
	T_EXPECT_STR(tok, "abc");
}

static void test_token_refused(void)
{
	char tok[64];
	int exp = 42;
	struct berr e = { 0 };
	static const char *const bad[] = {
		"",
		"not json",
		"[\"token\"]",
		"\"token\"",
		"{}",
		"{\"token\":\"\"}",
		"{\"token\":null}",
		"{\"token\":5}",
		"{\"token\":{\"a\":1}}",
		"{\"token\":\"t\"",
		"{\"token\":\"t\"} x",
		"{\"token\":\"t\"}{}",
		"{\"token\":\"t\",\"expires_in\":\"300\"}",
		"{\"token\":\"t\",\"expires_in\":-1}",
		"{\"token\":\"t\",\"expires_in\":true}",
		"{\"token\":\"a\\r\\nX-Evil: 1\"}",
		"{\"token\":\"a b\"}",
		"{\"token\":\"a\\u0001\"}",
		"{\"token\":\"caf\xc3\xa9\"}",
		"{\"token\":\"a\\u007f\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = token(bad[i], tok, sizeof(tok), &exp);
		if (rc != -EBADMSG)
			printf("#   accepted: %s\n", bad[i]);
		T_EXPECT_INT(rc, -EBADMSG);
	}
	T_EXPECT_INT(exp, 42);
	const char nul[] = "{\"token\":\"t\"}\0";
	T_EXPECT_INT(net_auth_parse_token(nul, sizeof(nul) - 1, tok, sizeof(tok), &exp, NULL),
		     -EBADMSG);

	/* toklen bounds the token, NUL included. */
	char json[200];
	snprintf(json, sizeof(json), "{\"token\":\"%s\"}",
		 "123456789012345678901234567890123456789012345678901234567890123");
	T_EXPECT_INT(token(json, tok, sizeof(tok), &exp), 0);
	T_EXPECT_INT(strlen(tok), 63);
	snprintf(json, sizeof(json), "{\"token\":\"%s\"}",
		 "1234567890123456789012345678901234567890123456789012345678901234");
	T_EXPECT_INT(net_auth_parse_token(json, strlen(json), tok, sizeof(tok), &exp, &e),
		     -EBADMSG);
	T_EXPECT(strstr(e.msg, "longer") != NULL);
	T_EXPECT_INT(token("{\"token\":\"t\"}", tok, 1, &exp), -EBADMSG);

	/* And AUTH_TOKEN_MAX bounds it whatever toklen says. */
	static char big[AUTH_TOKEN_MAX + 64], out[AUTH_TOKEN_MAX + 64];
	int n = snprintf(big, sizeof(big), "{\"token\":\"");
	memset(big + n, 'x', AUTH_TOKEN_MAX + 1);
	snprintf(big + n + AUTH_TOKEN_MAX + 1, 4, "\"}");
	T_EXPECT_INT(token(big, out, sizeof(out), &exp), -EBADMSG);
	snprintf(big + n + AUTH_TOKEN_MAX, 4, "\"}");
	T_EXPECT_INT(token(big, out, sizeof(out), &exp), 0);
	T_EXPECT_INT(strlen(out), AUTH_TOKEN_MAX);
}

static void test_b64_vectors(void)
{
	static const char *const v[][2] = {
		{ "", "" },
		{ "f", "Zg==" },
		{ "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
		{ "user:pass", "dXNlcjpwYXNz" },
		{ "\xff\xfe\xfd", "//79" },
		{ "\xfb\xef", "++8=" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char enc[64], dec[64];
		size_t n = strlen(v[i][0]);
		T_EXPECT_INT(net_b64_encode(v[i][0], n, enc, sizeof(enc)), strlen(v[i][1]));
		T_EXPECT_STR(enc, v[i][1]);
		memset(dec, 0, sizeof(dec));
		T_EXPECT_INT(net_b64_decode(v[i][1], strlen(v[i][1]), dec, sizeof(dec)), n);
		T_EXPECT(!memcmp(dec, v[i][0], n));
		/* Unpadded input decodes the same. */
		size_t m = strcspn(v[i][1], "=");
		memset(dec, 0, sizeof(dec));
		T_EXPECT_INT(net_b64_decode(v[i][1], m, dec, sizeof(dec)), n);
		T_EXPECT(!memcmp(dec, v[i][0], n));
	}
}

static void test_b64_refused(void)
{
	char out[64];
	static const char *const bad[] = {
		"Zg=",  "Z",        "Zg===", "Z===", "====",   "Zm9v\n", "Zm 9v", "Zm9v=",
		"=Zm9", "Zg==Zg==", "Zh==",  "Zm9=", "Zm9v-_", "Zm9v*",  "Zm9vY", "Zg=a",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = net_b64_decode(bad[i], strlen(bad[i]), out, sizeof(out));
		if (rc != -EINVAL)
			printf("#   accepted: %s (%d)\n", bad[i], rc);
		T_EXPECT_INT(rc, -EINVAL);
	}
	const char nul[] = "Zm\0v";
	T_EXPECT_INT(net_b64_decode(nul, 4, out, sizeof(out)), -EINVAL);
	/* Output space: exact fits, one less does not. */
	T_EXPECT_INT(net_b64_decode("Zm9vYmFy", 8, out, 6), 6);
	T_EXPECT_INT(net_b64_decode("Zm9vYmFy", 8, out, 5), -ENOSPC);
	T_EXPECT_INT(net_b64_decode("Zm9vYg==", 8, out, 4), 4);
	T_EXPECT_INT(net_b64_decode("Zm9vYg==", 8, out, 3), -ENOSPC);
	T_EXPECT_INT(net_b64_decode("", 0, NULL, 0), 0);
	T_EXPECT_INT(net_b64_encode("foo", 3, out, 5), 4);
	T_EXPECT_INT(net_b64_encode("foo", 3, out, 4), -ENOSPC);
	T_EXPECT_INT(net_b64_encode("f", 1, out, 4), -ENOSPC);
	T_EXPECT_INT(net_b64_encode("", 0, out, 1), 0);
	T_EXPECT_STR(out, "");
	T_EXPECT_INT(net_b64_encode("", 0, out, 0), -ENOSPC);
	T_EXPECT_INT(net_b64_encode("x", (size_t)INT_MAX, out, sizeof(out)), -ENOSPC);
}

static void test_b64_round_trip(void)
{
	unsigned char in[300], back[300];
	char enc[512];
	int bad = 0;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof(in); len++) {
		int n = net_b64_encode(in, len, enc, sizeof(enc));
		if (n != (int)((len + 2) / 3 * 4) || strlen(enc) != (size_t)n) {
			bad++;
			continue;
		}
		int m = net_b64_decode(enc, (size_t)n, back, sizeof(back));
		if (m != (int)len || memcmp(in, back, len))
			bad++;
	}
	T_EXPECT_INT(bad, 0);
}

int main(void)
{
	T_RUN(test_docker_hub);
	T_RUN(test_basic);
	T_RUN(test_several_challenges);
	T_RUN(test_quoting_and_case);
	T_RUN(test_sizes);
	T_RUN(test_refused);
	T_RUN(test_token);
	T_RUN(test_token_refused);
	T_RUN(test_b64_vectors);
	T_RUN(test_b64_refused);
	T_RUN(test_b64_round_trip);
	return T_DONE();
}
