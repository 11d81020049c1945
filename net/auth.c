/* Registry authentication pieces (see auth.h): WWW-Authenticate challenges
 * (RFC 9110 section 11, RFC 6750), the distribution token response, base64 (RFC 4648). */
#include "auth.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* tchar (RFC 9110 section 5.6.2) */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* token68 characters before the trailing '=' (RFC 9110 section 11.2) */
static bool is_t68char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("-._~+/", c));
}

static size_t token_len(const char *s)
{
	size_t n = 0;
	while (is_tchar(s[n]))
		n++;
	return n;
}

static size_t skip_ows(const char *s, size_t i)
{
	while (is_ows(s[i]))
		i++;
	return i;
}

/* The challenge being parsed, and where its known parameters go (NULL:
 * parsed and dropped). */
struct auth_parse {
	const char *s;
	size_t i;
	struct net_auth_challenge *keep;
	unsigned seen; /* bit per known parameter, to refuse repeats */
};

static int bad(const struct auth_parse *p, struct berr *err, const char *why)
{
	return berr_setmsg(err, EBADMSG, "bad WWW-Authenticate header at byte %zu: %s", p->i, why);
}

/* Is s[i] the start of "token BWS = BWS value", i.e. an auth-param rather
 * than a token68 or the next challenge's scheme? */
static bool param_starts(const char *s, size_t i)
{
	size_t n = token_len(s + i);
	if (!n)
		return false;
	i = skip_ows(s, i + n);
	if (s[i] != '=')
		return false;
	i = skip_ows(s, i + 1);
	return s[i] && s[i] != '=' && s[i] != ',';
}

/* Appends c to dst (cap bytes with the NUL) or fails when it is full. */
static bool put(char *dst, size_t cap, size_t *o, char c)
{
	if (!dst)
		return true;
	if (*o + 1 >= cap)
		return false;
	dst[(*o)++] = c;
	dst[*o] = '\0';
	return true;
}

/* value = token / quoted-string; a quoted-pair stands for its second character. */
static int param_value(struct auth_parse *p, const char *name, char *dst, size_t cap,
		       struct berr *err)
{
	const char *s = p->s;
	size_t o = 0;
	if (dst)
		dst[0] = '\0';
	if (s[p->i] != '"') {
		size_t n = token_len(s + p->i);
		if (!n)
			return bad(p, err, "expected a parameter value");
		for (size_t k = 0; k < n; k++)
			if (!put(dst, cap, &o, s[p->i + k]))
				return berr_setmsg(err, EBADMSG,
						   "challenge %s longer than %zu bytes", name,
						   cap - 1);
		p->i += n;
		return 0;
	}
	for (p->i++;; p->i++) {
		char c = s[p->i];
		if (!c)
			return bad(p, err, "unterminated quoted string");
		if (c == '"') {
			p->i++;
			return 0;
		}
		if (c == '\\')
			c = s[++p->i];
		if (!c)
			return bad(p, err, "unterminated quoted string");
		if (((unsigned char)c < 0x20 && c != '\t') || c == 0x7f)
			return bad(p, err, "control character in quoted string");
		if (!put(dst, cap, &o, c))
			return berr_setmsg(err, EBADMSG, "challenge %s longer than %zu bytes", name,
					   cap - 1);
	}
}

/* One auth-param; only the ones a registry flow needs are kept. */
static int param(struct auth_parse *p, struct berr *err)
{
	struct net_auth_challenge *c = p->keep;
	const char *s = p->s + p->i;
	size_t n = token_len(s);
	static const char *const names[] = { "realm", "service", "scope", "error" };
	int which = -1;
	for (int k = 0; k < (int)(sizeof(names) / sizeof(names[0])); k++)
		if (strlen(names[k]) == n && !strncasecmp(s, names[k], n))
			which = k;
	p->i = skip_ows(p->s, p->i + n) + 1; /* past '=', which param_starts saw */
	p->i = skip_ows(p->s, p->i);
	if (!c || which < 0)
		return param_value(p, "", NULL, 0, err);
	if (p->seen & (1u << which))
		return bad(p, err, "parameter given twice");
	p->seen |= 1u << which;
	char *dst[] = { c->realm, c->service, c->scope, c->error };
	size_t cap[] = { sizeof(c->realm), sizeof(c->service), sizeof(c->scope), sizeof(c->error) };
	return param_value(p, names[which], dst[which], cap[which], err);
}

/* After the scheme: nothing, a token68, or a list of auth-params that ends
 * where the next challenge's scheme starts. */
static int challenge_rest(struct auth_parse *p, struct berr *err)
{
	const char *s = p->s;
	if (s[p->i] && s[p->i] != ',' && !is_ows(s[p->i]))
		return bad(p, err, "unexpected character after the scheme");
	p->i = skip_ows(s, p->i);
	if (!s[p->i] || s[p->i] == ',')
		return 0;
	if (!param_starts(s, p->i)) {
		size_t n = 0;
		while (is_t68char(s[p->i + n]))
			n++;
		if (!n)
			return bad(p, err, "expected a parameter or token68");
		while (s[p->i + n] == '=')
			n++;
		p->i = skip_ows(s, p->i + n);
		if (s[p->i] && s[p->i] != ',')
			return bad(p, err, "unexpected character after token68");
		return 0;
	}
	for (;;) {
		int rc = param(p, err);
		if (rc < 0)
			return rc;
		p->i = skip_ows(s, p->i);
		if (!s[p->i])
			return 0;
		if (s[p->i] != ',')
			return bad(p, err, "expected ',' after a parameter");
		while (s[p->i] == ',' || is_ows(s[p->i]))
			p->i++;
		if (!param_starts(s, p->i))
			return 0;
	}
}

int net_auth_parse_challenge(const char *hdr, struct net_auth_challenge *c, struct berr *err)
{
	struct auth_parse p = { .s = hdr };
	memset(c, 0, sizeof(*c));
	if (!hdr[strspn(hdr, ", \t")])
		return berr_setmsg(err, EBADMSG, "empty WWW-Authenticate header");
	for (;;) {
		while (hdr[p.i] == ',' || is_ows(hdr[p.i]))
			p.i++;
		if (!hdr[p.i])
			break;
		size_t n = token_len(hdr + p.i);
		if (!n)
			return bad(&p, err, "expected an authentication scheme");
		enum net_auth_scheme scheme = NET_AUTH_NONE;
		if (n == 6 && !strncasecmp(hdr + p.i, "Bearer", 6))
			scheme = NET_AUTH_BEARER;
		else if (n == 5 && !strncasecmp(hdr + p.i, "Basic", 5))
			scheme = NET_AUTH_BASIC;
		/* The first Bearer challenge wins, else the first Basic one. */
		p.keep = NULL;
		p.seen = 0;
		if ((scheme == NET_AUTH_BEARER && c->scheme != NET_AUTH_BEARER) ||
		    (scheme == NET_AUTH_BASIC && c->scheme == NET_AUTH_NONE)) {
			memset(c, 0, sizeof(*c));
			c->scheme = scheme;
			p.keep = c;
		}
		p.i += n;
		int rc = challenge_rest(&p, err);
		if (rc < 0)
			return rc;
	}
	if (c->scheme == NET_AUTH_NONE)
		return berr_setmsg(err, ENOTSUP,
				   "no supported authentication scheme (Bearer or Basic) offered");
	if (c->scheme == NET_AUTH_BEARER && !c->realm[0])
		return berr_setmsg(err, EBADMSG, "Bearer challenge without a realm");
	return 0;
}

static void cjson_deletep(cJSON **j)
{
	cJSON_Delete(*j);
}

#define _cleanup_cjson_ __attribute__((cleanup(cjson_deletep)))

static const char *nonempty_string(const cJSON *root, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	return cJSON_IsString(v) && v->valuestring && v->valuestring[0] ? v->valuestring : NULL;
}

int net_auth_parse_token(const char *body, size_t len, char *token, size_t toklen, int *expires_in,
			 struct berr *err)
{
	const char *end = NULL;
	_cleanup_cjson_ cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
	if (!root || !cJSON_IsObject(root))
		return berr_setmsg(err, EBADMSG, "token response is not a JSON object");
	for (; end && end < body + len; end++)
		if (!strchr(" \t\r\n", *end) || !*end)
			return berr_setmsg(err, EBADMSG,
					   "bytes after the JSON in the token response");

	/* "access_token" is the OAuth 2.0 name the spec also accepts. */
	const char *tok = nonempty_string(root, "token");
	if (!tok)
		tok = nonempty_string(root, "access_token");
	if (!tok)
		return berr_setmsg(err, EBADMSG, "no token in the token response");
	size_t n = strlen(tok);
	if (n >= toklen || n > AUTH_TOKEN_MAX)
		return berr_setmsg(err, EBADMSG, "token longer than %zu bytes",
				   (toklen - 1 < AUTH_TOKEN_MAX ? toklen - 1 : AUTH_TOKEN_MAX));
	/* It goes into a header line: nothing that could end or split it. */
	for (size_t i = 0; i < n; i++)
		if (tok[i] <= 0x20 || tok[i] >= 0x7f)
			return berr_setmsg(err, EBADMSG,
					   "token has a character not allowed in a header");

	int expires = 60;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
	if (e && !cJSON_IsNull(e)) {
		if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0))
			return berr_setmsg(err, EBADMSG, "bad expires_in in the token response");
		expires = e->valuedouble >= INT_MAX ? INT_MAX : (int)e->valuedouble;
	}
	memcpy(token, tok, n + 1);
	*expires_in = expires;
	return 0;
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int net_b64_encode(const void *in, size_t len, char *out, size_t outlen)
{
	const unsigned char *s = in;
	if (len > (size_t)INT_MAX / 4 * 3 - 3)
		return -ENOSPC;
	size_t need = (len + 2) / 3 * 4, o = 0;
	if (outlen < need + 1)
		return -ENOSPC;
	for (size_t i = 0; i < len; i += 3) {
		size_t left = len - i;
		uint32_t v = (uint32_t)s[i] << 16;
		if (left > 1)
			v |= (uint32_t)s[i + 1] << 8;
		if (left > 2)
			v |= s[i + 2];
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = left > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = left > 2 ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return (int)o;
}

int net_b64_decode(const char *in, size_t len, void *out, size_t outlen)
{
	unsigned char *d = out;
	size_t pad = 0;
	while (pad < len && pad < 3 && in[len - 1 - pad] == '=')
		pad++;
	size_t n = len - pad;
	/* Padded input comes in whole quads; unpadded can end in 2 or 3 chars. */
	if (pad > 2 || (pad && len % 4) || n % 4 == 1)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (b64_val(in[i]) < 0)
			return -EINVAL;
	size_t olen = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (olen > outlen || olen > INT_MAX)
		return -ENOSPC;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		size_t left = n - i;
		uint32_t v = 0;
		for (size_t k = 0; k < 4; k++)
			v = v << 6 | (k < left ? (uint32_t)b64_val(in[i + k]) : 0);
		/* Bits past the last byte must be zero (RFC 4648 section 3.5), so
		 * that one byte string has one encoding. */
		if ((left == 2 && (v & 0xffff)) || (left == 3 && (v & 0xff)))
			return -EINVAL;
		d[o++] = (unsigned char)(v >> 16);
		if (left > 2)
			d[o++] = (unsigned char)(v >> 8);
		if (left > 3)
			d[o++] = (unsigned char)v;
	}
	return (int)o;
}
