/* Registry authentication pieces (distribution token spec, RFC 7235/7617):
 * WWW-Authenticate challenges, token responses, base64. Pure functions. */
#ifndef BERTH_AUTH_H
#define BERTH_AUTH_H

#include <stddef.h>

#include "board/err.h"

#define AUTH_TOKEN_MAX 8192 /* a longer bearer token is refused */

enum net_auth_scheme { NET_AUTH_NONE, NET_AUTH_BASIC, NET_AUTH_BEARER };

struct net_auth_challenge {
	enum net_auth_scheme scheme;
	char realm[512];
	char service[256];
	char scope[512];
	char error[64]; /* e.g. "insufficient_scope", "invalid_token" */
};

/* Parses a WWW-Authenticate value. When several challenges are given, Bearer
 * is preferred over Basic; unknown schemes are skipped. Quoted strings may
 * contain escaped quotes and commas. Returns 0, or -EBADMSG / -ENOTSUP (no
 * known scheme) with err. */
int net_auth_parse_challenge(const char *hdr, struct net_auth_challenge *c, struct berr *err);

/* Parses a token endpoint's JSON answer: "token" (or "access_token"),
 * "expires_in" (seconds; 60 when absent, as the spec says). Returns 0 or
 * -EBADMSG. */
int net_auth_parse_token(const char *body, size_t len, char *token, size_t toklen, int *expires_in,
			 struct berr *err);

/* Base64 (RFC 4648, with padding). encode: returns output length (NUL
 * written) or -ENOSPC. decode: accepts padded or unpadded input, rejects
 * other characters; returns decoded length or -EINVAL / -ENOSPC. */
int net_b64_encode(const void *in, size_t len, char *out, size_t outlen);
int net_b64_decode(const char *in, size_t len, void *out, size_t outlen);

#endif
