/* Registry client (distribution-spec v2: pulling manifests and blobs; token
 * auth per the distribution token spec). See registry.h. */
#include "registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/manifest.h"

static long long now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void net_registry_init(struct net_registry *r, const struct net_ref *ref,
		       const struct net_registry_config *cfg)
{
	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	snprintf(r->repo, sizeof(r->repo), "%s", ref->path);
	if (ref->path[0])
		snprintf(r->scope, sizeof(r->scope), "repository:%s:pull", ref->path);
	http_client_init(&r->http, &cfg->trust, cfg->timeout_ms);
	http_client_init(&r->other, &cfg->trust, cfg->timeout_ms);
	/* Token servers and blob hosts a registry sends us to are reached with
	 * the registry's own CAs as well, as Docker does. */
	snprintf(r->certs_name, sizeof(r->certs_name), "%s", ref->host);
	r->other.certs_name = r->certs_name;
	for (int i = 0; i < cfg->nmirrors && r->nep < REGISTRY_MAX_MIRRORS; i++) {
		struct net_registry_ep *ep = &r->ep[r->nep];
		if (http_url_parse(cfg->mirrors[i], &ep->base, NULL) == 0) {
			ep->mirror = true;
			r->nep++;
		}
	}
	struct net_registry_ep *up = &r->ep[r->nep++];
	char url[REF_HOST_MAX + 16];
	snprintf(url, sizeof(url), "%s://%s/", cfg->insecure ? "http" : "https",
		 net_ref_api_host(ref));
	if (http_url_parse(url, &up->base, NULL) < 0)
		r->nep--; /* the reference parser already vetted the host */
}

void net_registry_close(struct net_registry *r)
{
	http_client_close(&r->http);
	http_client_close(&r->other);
}

bool net_registry_retryable(int rc)
{
	switch (-rc) {
	case EAGAIN:
	case ECONNRESET:
	case ECONNREFUSED:
	case ECONNABORTED:
	case ETIMEDOUT:
	case EPIPE:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENETDOWN:
	case EIO:
		return true;
	default:
		return false;
	}
}

int net_url_encode(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || strchr("-._~", c);
		if (o + (plain ? 1 : 3) >= len)
			return -ENAMETOOLONG;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

static const char *ep_name(const struct net_registry_ep *ep)
{
	return ep->base.host;
}

static int status_error(const struct http_resp *resp, const char *what, const char *host,
			struct berr *err)
{
	int s = resp->status;
	if (s == 404)
		return berr_setmsg(err, ENOENT, "%s: not found on %s", what, host);
	if (s == 401 || s == 403)
		return berr_setmsg(err, EACCES, "%s: access denied by %s (HTTP %d)", what, host, s);
	if (s == 429 || s >= 500)
		return berr_setmsg(err, EAGAIN, "%s: %s answered HTTP %d", what, host, s);
	return berr_setmsg(err, EPROTO, "%s: %s answered HTTP %d", what, host, s);
}

/* Gets a token (Bearer) or sets Basic credentials for ep, from its 401. */
static int authenticate(struct net_registry *r, struct net_registry_ep *ep, const char *hdr,
			struct berr *err)
{
	struct net_auth_challenge ch;
	int rc = net_auth_parse_challenge(hdr, &ch, err);
	if (rc < 0)
		return berr_prefix(err, "%s: authentication challenge", ep_name(ep));
	/* Credentials belong to the registry: never hand them to a mirror. */
	const char *basic = ep->mirror ? NULL : r->cfg->basic;
	if (ch.scheme == NET_AUTH_BASIC) {
		if (!basic)
			return berr_setmsg(err, EACCES,
					   "%s requires a login (run 'berth login %s')",
					   ep_name(ep), ep_name(ep));
		snprintf(ep->authz, sizeof(ep->authz), "Authorization: Basic %s\r\n", basic);
		ep->token_expiry = 0;
		return 0;
	}
	char service[512], scope[1024];
	if (net_url_encode(ch.service, service, sizeof(service)) < 0 ||
	    net_url_encode(r->scope, scope, sizeof(scope)) < 0)
		return berr_setmsg(err, EINVAL, "%s: token request too long", ep_name(ep));
	char url[2048];
	/* A login (no repository) asks for a token without scope. */
	snprintf(url, sizeof(url), "%s%sservice=%s%s%s", ch.realm,
		 strchr(ch.realm, '?') ? "&" : "?", service, r->scope[0] ? "&scope=" : "",
		 r->scope[0] ? scope : "");
	struct http_url u;
	rc = http_url_parse(url, &u, err);
	if (rc < 0)
		return berr_prefix(err, "%s: token realm", ep_name(ep));
	if (!u.tls && !r->cfg->insecure && basic)
		return berr_setmsg(err, EACCES,
				   "%s: refusing to send credentials to %s over plain HTTP",
				   ep_name(ep), u.host);
	char hdrs[600] = "";
	if (basic)
		snprintf(hdrs, sizeof(hdrs), "Authorization: Basic %s\r\n", basic);
	struct http_resp resp;
	rc = http_client_request(&r->other, "GET", &u, hdrs, &resp, err);
	if (rc < 0)
		return berr_prefix(err, "token from %s", u.host);
	if (resp.status != 200) {
		http_client_skip(&r->other, 64 << 10);
		if (resp.status == 401 || resp.status == 403)
			return berr_setmsg(err, EACCES,
					   "token from %s: credentials refused (HTTP %d)", u.host,
					   resp.status);
		return status_error(&resp, "token", u.host, err);
	}
	char *body = malloc(2 * AUTH_TOKEN_MAX + 4096);
	char *tok = malloc(AUTH_TOKEN_MAX);
	if (!body || !tok) {
		free(body);
		free(tok);
		return berr_set(err, ENOMEM, "token");
	}
	ssize_t n = http_client_read_all(&r->other, body, 2 * AUTH_TOKEN_MAX + 4096, err);
	int expires = 60;
	rc = n < 0 ? (int)n
		   : net_auth_parse_token(body, (size_t)n, tok, AUTH_TOKEN_MAX, &expires, err);
	if (rc == 0) {
		snprintf(ep->authz, sizeof(ep->authz), "Authorization: Bearer %s\r\n", tok);
		ep->token_expiry = now_s() + (expires > 20 ? expires - 10 : expires);
	}
	free(body);
	free(tok);
	return rc < 0 ? berr_prefix(err, "token from %s", u.host) : 0;
}

static bool is_redirect(int s)
{
	return s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
}

static bool same_origin(const struct http_url *a, const struct http_url *b)
{
	return a->tls == b->tls && a->port == b->port && !strcmp(a->host, b->host);
}

/* GETs path from ep with the extra headers, authenticating on 401 and
 * following redirects (credentials go only to ep's own origin). On 0 the
 * response head is in resp and its body is readable from r->body. */
static int ep_get(struct net_registry *r, struct net_registry_ep *ep, const char *path,
		  const char *extra, struct http_resp *resp, struct berr *err)
{
	struct http_url u = ep->base;
	snprintf(u.path, sizeof(u.path), "%s", path);
	char hdrs[AUTH_TOKEN_MAX + 1024];
	for (int attempt = 0;; attempt++) {
		if (ep->authz[0] && ep->token_expiry && now_s() >= ep->token_expiry)
			ep->authz[0] = '\0';
		snprintf(hdrs, sizeof(hdrs), "%s%s", extra, ep->authz);
		int rc = http_client_request(&r->http, "GET", &u, hdrs, resp, err);
		if (rc < 0) {
			if (rc == -ECONNREFUSED || rc == -EHOSTUNREACH || rc == -ENETUNREACH)
				ep->dead = true;
			return berr_prefix(err, "%s", ep_name(ep));
		}
		if (resp->status == 401 && attempt == 0 && resp->www_authenticate[0]) {
			http_client_skip(&r->http, 64 << 10);
			rc = authenticate(r, ep, resp->www_authenticate, err);
			if (rc < 0)
				return rc;
			continue;
		}
		break;
	}
	r->body = &r->http;
	for (int hops = 0; is_redirect(resp->status); hops++) {
		if (hops == REGISTRY_MAX_REDIRECTS)
			return berr_setmsg(err, ELOOP, "%s: too many redirects", ep_name(ep));
		struct http_url next;
		int rc = http_url_resolve(&u, resp->location, &next, err);
		http_client_skip(r->body, 64 << 10);
		if (rc < 0)
			return berr_prefix(err, "%s: redirect", ep_name(ep));
		if (u.tls && !next.tls)
			return berr_setmsg(err, EPERM,
					   "%s: refusing redirect from https to http://%s",
					   ep_name(ep), next.host);
		bool own = same_origin(&next, &ep->base);
		r->body = own ? &r->http : &r->other;
		snprintf(hdrs, sizeof(hdrs), "%s%s", extra, own ? ep->authz : "");
		u = next;
		rc = http_client_request(r->body, "GET", &u, hdrs, resp, err);
		if (rc < 0)
			return berr_prefix(err, "%s (redirected from %s)", u.host, ep_name(ep));
	}
	return 0;
}

int net_registry_manifest(struct net_registry *r, const char *reference, char *buf, size_t cap,
			  size_t *len, char *ctype, size_t ctlen, struct berr *err)
{
	char path[REF_PATH_MAX + 160];
	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", r->repo, reference);
	int rc = -ENOENT;
	for (int i = 0; i < r->nep; i++) {
		struct net_registry_ep *ep = &r->ep[i];
		if (ep->dead)
			continue;
		struct http_resp resp;
		rc = ep_get(r, ep, path, "Accept: " MANIFEST_ACCEPT "\r\n", &resp, err);
		if (rc == 0 && resp.status != 200) {
			http_client_skip(r->body, 64 << 10);
			rc = status_error(&resp, "manifest", ep_name(ep), err);
		}
		if (rc == 0) {
			ssize_t n = http_client_read_all(r->body, buf, cap, err);
			if (n < 0)
				rc = berr_prefix(err, "manifest from %s", ep_name(ep));
			if (rc == 0) {
				*len = (size_t)n;
				snprintf(ctype, ctlen, "%s", resp.content_type);
				return 0;
			}
		}
		/* A mirror that fails or lacks the manifest: try the next one. */
	}
	return rc;
}

int net_registry_blob(struct net_registry *r, const char *digest, int64_t offset,
		      net_blob_sink *sink, net_blob_restart *restart, void *arg, struct berr *err)
{
	char path[REF_PATH_MAX + 160], range[64] = "";
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", r->repo, digest);
	if (offset > 0)
		snprintf(range, sizeof(range), "Range: bytes=%lld-\r\n", (long long)offset);
	int rc = -ENOENT;
	for (int i = 0; i < r->nep; i++) {
		struct net_registry_ep *ep = &r->ep[i];
		if (ep->dead)
			continue;
		struct http_resp resp;
		rc = ep_get(r, ep, path, range, &resp, err);
		if (rc < 0)
			continue;
		if (resp.status == 200 && offset > 0) {
			/* Range ignored: the whole blob comes again. */
			rc = restart(arg, err);
			if (rc < 0) {
				http_client_close(r->body);
				return rc;
			}
		} else if (resp.status == 206) {
			int64_t start, end, total;
			if (http_parse_content_range(resp.content_range, &start, &end, &total,
						     err) < 0 ||
			    start != offset) {
				http_client_close(r->body);
				return berr_setmsg(err, EPROTO,
						   "blob %.19s: %s sent range '%s' for offset %lld",
						   digest, ep_name(ep), resp.content_range,
						   (long long)offset);
			}
		} else if (resp.status == 416) {
			http_client_skip(r->body, 64 << 10);
			return berr_setmsg(err, ERANGE, "blob %.19s: %s refused range from %lld",
					   digest, ep_name(ep), (long long)offset);
		} else if (resp.status != 200) {
			http_client_skip(r->body, 64 << 10);
			rc = status_error(&resp, "blob", ep_name(ep), err);
			continue;
		}
		char buf[32 << 10];
		for (;;) {
			ssize_t n = http_client_read(r->body, buf, sizeof(buf), err);
			if (n < 0)
				return berr_prefix(err, "blob %.19s from %s", digest, ep_name(ep));
			if (n == 0)
				return 0;
			rc = sink(arg, buf, (size_t)n, err);
			if (rc < 0) {
				http_client_close(r->body);
				return rc;
			}
		}
	}
	return rc;
}

struct small_sink {
	char *buf;
	size_t cap, len;
};

static int small_put(void *arg, const void *data, size_t len, struct berr *err)
{
	struct small_sink *s = arg;
	if (s->len + len + 1 > s->cap)
		return berr_setmsg(err, EFBIG, "blob larger than %zu bytes", s->cap - 1);
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->buf[s->len] = '\0';
	return 0;
}

static int small_restart(void *arg, struct berr *err)
{
	((struct small_sink *)arg)->len = 0;
	return 0;
}

int net_registry_blob_small(struct net_registry *r, const char *digest, char *buf, size_t cap,
			    size_t *len, struct berr *err)
{
	struct small_sink s = { .buf = buf, .cap = cap };
	int rc = net_registry_blob(r, digest, 0, small_put, small_restart, &s, err);
	*len = s.len;
	return rc;
}

int net_registry_ping(struct net_registry *r, struct berr *err)
{
	struct net_registry_ep *ep = &r->ep[r->nep - 1]; /* the registry, not a mirror */
	struct http_resp resp;
	int rc = ep_get(r, ep, "/v2/", "", &resp, err);
	if (rc < 0)
		return rc;
	http_client_skip(r->body, 64 << 10);
	if (resp.status == 401 && r->cfg->basic)
		return berr_setmsg(err, EACCES, "%s: credentials refused", ep_name(ep));
	if (resp.status != 200)
		return status_error(&resp, "login", ep_name(ep), err);
	return 0;
}

int net_registry_get(struct net_registry *r, const char *path, char *buf, size_t cap, size_t *len,
		     struct berr *err)
{
	struct net_registry_ep *ep = &r->ep[r->nep - 1];
	struct http_resp resp;
	ep->authz[0] = '\0'; /* the scope may have changed */
	int rc = ep_get(r, ep, path, "Accept: application/json\r\n", &resp, err);
	if (rc < 0)
		return rc;
	if (resp.status != 200) {
		http_client_skip(r->body, 64 << 10);
		return status_error(&resp, path, ep_name(ep), err);
	}
	ssize_t n = http_client_read_all(r->body, buf, cap, err);
	if (n < 0)
		return (int)n;
	*len = (size_t)n;
	return 0;
}
