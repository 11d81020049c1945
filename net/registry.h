/* Registry client: distribution-spec v2 manifests and blobs, with mirrors,
 * Bearer and Basic auth, redirects that never carry credentials to another
 * host, and ranged blob reads for resuming. */
#ifndef BERTH_REGISTRY_H
#define BERTH_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"
#include "net/auth.h"
#include "net/http_client.h"
#include "net/ref.h"
#include "net/tls.h"

#define REGISTRY_MAX_MIRRORS 4
#define REGISTRY_MAX_REDIRECTS 5

/* Settings from daemon.json and the credentials file; strings are borrowed. */
struct net_registry_config {
	struct net_tls_trust trust;
	const char *mirrors[REGISTRY_MAX_MIRRORS]; /* base URLs for this registry, in order */
	int nmirrors;
	bool insecure;     /* plain HTTP to the registry itself */
	const char *basic; /* base64 "user:password" for the registry host, or NULL */
	int timeout_ms;
};

struct net_registry_ep {
	struct http_url base; /* scheme, host, port; path prefix unused */
	bool mirror;
	bool dead; /* failed to connect: skipped for the rest of this session */
	long long token_expiry;
	char authz[AUTH_TOKEN_MAX + 32]; /* "Authorization: ...\r\n" or "" */
};

struct net_registry {
	const struct net_registry_config *cfg;
	char repo[REF_PATH_MAX];
	char scope[REF_PATH_MAX + 32]; /* token scope asked for; "" for none (login) */
	int nep;
	struct net_registry_ep ep[REGISTRY_MAX_MIRRORS + 1];
	struct http_client http;       /* to the endpoints */
	struct http_client other;      /* redirect targets and token servers */
	char certs_name[REF_HOST_MAX]; /* the registry's certs.d entry, trusted for them too */
	struct http_client *body;      /* which one holds the current response body */
};

/* Prepares a session for ref's repository (no I/O yet). r is large (two
 * 16 KiB buffers and tokens): allocate it, do not put it on a small stack. */
void net_registry_init(struct net_registry *r, const struct net_ref *ref,
		       const struct net_registry_config *cfg);
void net_registry_close(struct net_registry *r);

/* Fetches a manifest by tag or digest into buf (cap bytes, NUL-terminated),
 * trying mirrors first. *len gets its size, ctype its Content-Type (may be
 * empty). Returns 0 or -errno; -ENOENT means no endpoint has it. */
int net_registry_manifest(struct net_registry *r, const char *reference, char *buf, size_t cap,
			  size_t *len, char *ctype, size_t ctlen, struct berr *err);

/* Receives blob bytes in order. */
typedef int net_blob_sink(void *arg, const void *buf, size_t len, struct berr *err);
/* Called when the server ignored the Range request and sends from byte 0:
 * the consumer must drop what it has. */
typedef int net_blob_restart(void *arg, struct berr *err);

/* Streams bytes [offset, end) of blob digest to sink. Returns 0 once the
 * whole blob has been delivered, or -errno; what was delivered stays
 * delivered, so the caller can call again from its new offset. */
int net_registry_blob(struct net_registry *r, const char *digest, int64_t offset,
		      net_blob_sink *sink, net_blob_restart *restart, void *arg, struct berr *err);

/* Small blobs (configs): whole blob into buf, verified by the caller. */
int net_registry_blob_small(struct net_registry *r, const char *digest, char *buf, size_t cap,
			    size_t *len, struct berr *err);

/* Checks access to the registry itself (GET /v2/ with the configured
 * credentials, through the token flow when it asks for one). For login
 * initialise with a ref whose path is empty. */
int net_registry_ping(struct net_registry *r, struct berr *err);

/* GETs a JSON document (at most cap-1 bytes) from the registry itself, e.g.
 * "/v2/_catalog" (set r->scope to what the token must allow first). */
int net_registry_get(struct net_registry *r, const char *path, char *buf, size_t cap, size_t *len,
		     struct berr *err);

/* True for errors worth retrying (network, 5xx, 429); false for a missing
 * image, refused credentials, bad data. */
bool net_registry_retryable(int rc);

/* URL-encodes s into out for a query parameter. */
int net_url_encode(const char *s, char *out, size_t len);

#endif
