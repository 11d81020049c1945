/* libFuzzer target for net/auth.c: the same bytes as a WWW-Authenticate
 * value, a token response and base64 (decode, then encode back). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/auth.h"

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

static void check_challenge(const char *s)
{
	struct net_auth_challenge c;
	struct berr e = { 0 };
	int rc = net_auth_parse_challenge(s, &c, &e);
	CHECK(rc == 0 || ((rc == -EBADMSG || rc == -ENOTSUP) && e.msg[0]));
	if (rc < 0)
		return;
	CHECK(c.scheme == NET_AUTH_BEARER || c.scheme == NET_AUTH_BASIC);
	check_str(c.realm, sizeof(c.realm));
	check_str(c.service, sizeof(c.service));
	check_str(c.scope, sizeof(c.scope));
	check_str(c.error, sizeof(c.error));
	CHECK(c.scheme != NET_AUTH_BEARER || c.realm[0]);
}

static void check_token(const uint8_t *data, size_t size, size_t toklen)
{
	/* An exact-size copy, so reading past len is caught. */
	char *body = malloc(size ? size : 1), *tok = malloc(toklen);
	int exp = -7;
	CHECK(body && tok);
	memcpy(body, data, size);
	int rc = net_auth_parse_token(body, size, tok, toklen, &exp, NULL);
	CHECK(rc == 0 || rc == -EBADMSG);
	if (rc == 0) {
		size_t n = strnlen(tok, toklen);
		CHECK(n > 0 && n < toklen && n <= AUTH_TOKEN_MAX && exp >= 0);
		for (size_t i = 0; i < n; i++)
			CHECK(tok[i] > 0x20 && tok[i] < 0x7f);
	} else {
		CHECK(exp == -7);
	}
	free(body);
	free(tok);
}

static void check_b64(const uint8_t *data, size_t size)
{
	size_t cap = size + 8;
	unsigned char *dec = malloc(cap);
	char *enc = malloc(cap * 2 + 8);
	CHECK(dec && enc);
	int n = net_b64_decode((const char *)data, size, dec, cap);
	CHECK(n >= 0 || n == -EINVAL);
	if (n >= 0) {
		CHECK((size_t)n <= size);
		/* Decoding only accepts canonical input, so encoding gives it back,
		 * with the padding it may have left out. */
		int m = net_b64_encode(dec, (size_t)n, enc, cap * 2 + 8);
		CHECK(m >= 0 && (size_t)m == ((size_t)n + 2) / 3 * 4);
		size_t plain = size;
		while (plain && data[plain - 1] == '=')
			plain--;
		CHECK(plain <= (size_t)m && !memcmp(enc, data, plain));
		for (size_t i = plain; i < (size_t)m; i++)
			CHECK(enc[i] == '=');
		CHECK(size == plain || size == (size_t)m);
		/* Too little room is refused, not overrun. */
		if (n > 0)
			CHECK(net_b64_decode((const char *)data, size, dec, (size_t)n - 1) ==
			      -ENOSPC);
		CHECK(net_b64_encode(dec, (size_t)n, enc, (size_t)m) == -ENOSPC);
	}
	/* Any bytes encode and decode back. */
	int m = net_b64_encode(data, size, enc, cap * 2 + 8);
	CHECK(m >= 0);
	n = net_b64_decode(enc, (size_t)m, dec, cap);
	CHECK(n == (int)size && !memcmp(dec, data, size));
	free(dec);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	char *s = malloc(size + 1);
	CHECK(s);
	memcpy(s, data, size);
	s[size] = '\0';
	check_challenge(s);
	free(s);
	check_token(data, size, AUTH_TOKEN_MAX);
	check_token(data, size, 1 + size % 32);
	check_b64(data, size);
	return 0;
}
