/* Image reference parsing and formatting (see ref.h): the grammar of
 * distribution/reference (reference.go), with Docker's normalisation to docker.io. */
#include "ref.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define REF_DOCKER_HOST "docker.io"
#define REF_DOCKER_API_HOST "registry-1.docker.io"
#define REF_ERR_SHOW 96 /* input characters quoted in an error message */

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* "invalid reference 'X': why", with X shortened and made printable so a
 * hostile string cannot push the reason out of the message or into a terminal. */
static int ref_fail(struct berr *err, const char *s, const char *why)
{
	char show[REF_ERR_SHOW + 4];
	size_t n = 0;
	for (; s[n] && n < REF_ERR_SHOW; n++)
		show[n] = (s[n] >= 0x20 && s[n] < 0x7f) ? s[n] : '?';
	if (s[n]) {
		memcpy(show + n, "...", 3);
		n += 3;
	}
	show[n] = '\0';
	return berr_setmsg(err, EINVAL, "invalid reference '%s': %s", show, why);
}

/* domain-name := domain-component ['.' domain-component]*, each component
 * alnum, with inner '-' allowed; or an IPv6 literal "[hex and colons]". */
static bool host_name_valid(const char *h, size_t n)
{
	if (n >= 2 && h[0] == '[') {
		if (h[n - 1] != ']' || n == 2)
			return false;
		for (size_t i = 1; i < n - 1; i++)
			if (!is_hex(h[i]) && h[i] != ':')
				return false;
		return true;
	}
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && h[i] != '.') {
			if (!is_alnum(h[i]) && h[i] != '-')
				return false;
			continue;
		}
		if (i == start || h[start] == '-' || h[i - 1] == '-')
			return false;
		start = i + 1;
	}
	return true;
}

/* host [':' port]; the port must be a number a socket can use. */
static bool host_valid(const char *h, size_t n)
{
	const char *close = memchr(h, ']', n);
	const char *from = close ? close : h;
	const char *colon = memchr(from, ':', n - (size_t)(from - h));
	if (!colon)
		return host_name_valid(h, n);
	size_t hn = (size_t)(colon - h);
	const char *port = colon + 1;
	size_t pn = n - hn - 1;
	if (pn == 0 || pn > 5)
		return false;
	unsigned long v = 0;
	for (size_t i = 0; i < pn; i++) {
		if (port[i] < '0' || port[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(port[i] - '0');
	}
	return v >= 1 && v <= 65535 && host_name_valid(h, hn);
}

/* path := component ['/' component]*; component := alnum [sep alnum]*,
 * sep := '.' | '_' | '__' | '-'+. The caller has already refused upper case. */
static bool path_valid(const char *p, size_t n)
{
	size_t i = 0;
	for (;;) {
		if (i >= n || !is_lower_alnum(p[i]))
			return false;
		while (i < n && is_lower_alnum(p[i]))
			i++;
		if (i == n)
			return true;
		if (p[i] == '/') {
			i++;
		} else if (p[i] == '.') {
			i++;
		} else if (p[i] == '_') {
			i += (i + 1 < n && p[i + 1] == '_') ? 2 : 1;
		} else if (p[i] == '-') {
			while (i < n && p[i] == '-')
				i++;
		} else {
			return false;
		}
	}
}

static bool tag_valid(const char *t, size_t n)
{
	if (n == 0 || n > REF_TAG_MAX - 1)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!(is_alnum(c) || c == '_' || (i > 0 && (c == '.' || c == '-'))))
			return false;
	}
	return true;
}

/* Docker Hub goes by several names; they all mean docker.io. */
static bool is_docker_hub(const char *h, size_t n)
{
	static const char *const names[] = { REF_DOCKER_HOST, "index.docker.io",
					     REF_DOCKER_API_HOST };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && !strncasecmp(h, names[i], n))
			return true;
	return false;
}

/* Does this first path component name a registry rather than a repository? */
static bool looks_like_host(const char *c, size_t n)
{
	return memchr(c, '.', n) || memchr(c, ':', n) || (n == 9 && !memcmp(c, "localhost", 9));
}

static int parse_digest(const char *s, const char *d, struct net_ref *ref, struct berr *err)
{
	const char *colon = strchr(d, ':');
	if (!colon || colon == d)
		return ref_fail(err, s, "invalid digest");
	if ((size_t)(colon - d) != 6 || memcmp(d, "sha256", 6)) {
		for (const char *c = d; c < colon; c++)
			if (!is_lower_alnum(*c) && !strchr("+._-", *c))
				return ref_fail(err, s, "invalid digest");
		return ref_fail(err, s, "unsupported digest algorithm");
	}
	if (!store_digest_valid(d))
		return ref_fail(err, s, "invalid digest");
	memcpy(ref->digest, d, strlen(d) + 1);
	return 0;
}

int net_ref_parse(const char *s, struct net_ref *ref, struct berr *err)
{
	memset(ref, 0, sizeof(*ref));
	if (!s[0])
		return ref_fail(err, s, "empty");

	/* The name and the tag never contain '@': what follows the first one is the digest. */
	const char *at = strchr(s, '@');
	size_t nlen = at ? (size_t)(at - s) : strlen(s);
	if (at) {
		int r = parse_digest(s, at + 1, ref, err);
		if (r)
			return r;
	}

	/* A ':' after the last '/' starts the tag ("localhost:5000/x" has none). */
	const char *name = s;
	const char *slash = NULL, *colon = NULL;
	for (size_t i = 0; i < nlen; i++) {
		if (s[i] == '/')
			slash = s + i, colon = NULL;
		else if (s[i] == ':')
			colon = s + i;
	}
	if (colon) {
		const char *tag = colon + 1;
		size_t tlen = nlen - (size_t)(tag - s);
		if (!tag_valid(tag, tlen))
			return ref_fail(err, s, "invalid tag");
		memcpy(ref->tag, tag, tlen);
		nlen = (size_t)(colon - s);
	} else if (!at) {
		strcpy(ref->tag, "latest");
	}
	if (nlen == 0)
		return ref_fail(err, s, "empty repository name");

	const char *first_end = slash ? memchr(name, '/', nlen) : NULL;
	const char *path = name;
	size_t plen = nlen;
	if (first_end && looks_like_host(name, (size_t)(first_end - name))) {
		size_t hlen = (size_t)(first_end - name);
		if (!host_valid(name, hlen))
			return ref_fail(err, s, "invalid registry host");
		if (is_docker_hub(name, hlen))
			strcpy(ref->host, REF_DOCKER_HOST);
		else if (hlen < sizeof(ref->host))
			memcpy(ref->host, name, hlen);
		else
			return ref_fail(err, s, "name too long");
		path = first_end + 1;
		plen = nlen - hlen - 1;
	} else {
		strcpy(ref->host, REF_DOCKER_HOST);
	}

	for (size_t i = 0; i < plen; i++)
		if (path[i] >= 'A' && path[i] <= 'Z')
			return ref_fail(err, s, "repository name must be lowercase");
	if (!path_valid(path, plen))
		return ref_fail(err, s, "invalid repository name");

	bool library = !strcmp(ref->host, REF_DOCKER_HOST) && !memchr(path, '/', plen);
	size_t hlen = strlen(ref->host);
	if (hlen + 1 + (library ? 8 : 0) + plen > REF_PATH_MAX - 1)
		return ref_fail(err, s, "name too long");
	snprintf(ref->path, sizeof(ref->path), "%s%.*s", library ? "library/" : "", (int)plen,
		 path);
	return 0;
}

/* The name as docker shows it: Docker Hub's host and "library/" dropped,
 * unless what remains would then read as another registry's name. */
static int ref_name(const struct net_ref *ref, bool familiar, char *buf, size_t len)
{
	int n;
	if (familiar && !strcmp(ref->host, REF_DOCKER_HOST)) {
		const char *p = ref->path;
		if (!strncmp(p, "library/", 8) && !strchr(p + 8, '/'))
			p += 8;
		const char *slash = strchr(p, '/');
		if (slash && looks_like_host(p, (size_t)(slash - p)))
			n = snprintf(buf, len, "%s/%s", ref->host, ref->path);
		else
			n = snprintf(buf, len, "%s", p);
	} else {
		n = snprintf(buf, len, "%s/%s", ref->host, ref->path);
	}
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : n;
}

int net_ref_repo(const struct net_ref *ref, bool familiar, char *buf, size_t len)
{
	int n = ref_name(ref, familiar, buf, len);
	return n < 0 ? n : 0;
}

int net_ref_format(const struct net_ref *ref, bool familiar, char *buf, size_t len)
{
	int n = ref_name(ref, familiar, buf, len);
	if (n < 0)
		return n;
	int m = snprintf(buf + n, len - (size_t)n, "%s%s%s%s", ref->tag[0] ? ":" : "", ref->tag,
			 ref->digest[0] ? "@" : "", ref->digest);
	return (m < 0 || (size_t)m >= len - (size_t)n) ? -ENAMETOOLONG : 0;
}

const char *net_ref_api_host(const struct net_ref *ref)
{
	return strcmp(ref->host, REF_DOCKER_HOST) ? ref->host : REF_DOCKER_API_HOST;
}
