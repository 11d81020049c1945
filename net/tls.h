/* TLS client over a connected socket, with BearSSL: chain and host name
 * checks against the system CA bundle plus per-registry CAs, SNI, and errors
 * that say what to fix. */
#ifndef BERTH_TLS_H
#define BERTH_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "board/err.h"

/* Where trust comes from. Paths may be NULL to skip a source. */
struct net_tls_trust {
	const char *ca_bundle; /* PEM bundle; default "/etc/ssl/certs/ca-certificates.crt" */
	const char *certs_d;   /* Docker's convention: <certs_d>/<host[:port]>/ca.crt and any
				*.crt there; default "/etc/berth/certs.d" */
};

struct net_tls;

/* Starts a TLS client session on the connected socket fd (which stays owned
 * by the caller) for host (used for SNI and the name check) and hostport
 * (the certs.d directory name, "host" or "host:port"). Loads the trust
 * anchors; the handshake runs on the first read or write, bounded by
 * timeout_ms of inactivity. Returns NULL with err. */
struct net_tls *net_tls_new(int fd, const char *host, const char *hostport,
			    const struct net_tls_trust *trust, int timeout_ms, struct berr *err);

/* Reads up to len bytes; returns the count, 0 on a clean close by the peer,
 * or -errno (-ETIMEDOUT after timeout_ms without progress). Certificate
 * failures are -EPERM with err naming the host and the reason: "unknown
 * certificate authority", "certificate expired", "certificate not valid yet:
 * check the device clock", "name mismatch". */
ssize_t net_tls_read(struct net_tls *t, void *buf, size_t len, struct berr *err);

/* Writes and flushes all of buf; returns 0 or -errno. */
int net_tls_write_all(struct net_tls *t, const void *buf, size_t len, struct berr *err);

/* Sends close_notify (best effort) and frees the session. NULL is allowed. */
void net_tls_free(struct net_tls *t);

#endif
