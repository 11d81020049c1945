/* Internal to net/: what the TLS client (tls.c) and the TLS server
 * (tls_server.c) share: trust anchors from PEM files, the RNG seed and the
 * words for BearSSL's error codes. */
#ifndef BERTH_TLS_INT_H
#define BERTH_TLS_INT_H

#include <bearssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "board/err.h"

#define TLS_PEM_MAX (1 << 20) /* bytes in one PEM file */
#define TLS_SEED_LEN 32

/* Trust anchors parsed from PEM files. Each anchor's DN and key bytes live in
 * one allocation that dn.data points to. Shared by reference count. */
struct tls_anchors {
	unsigned refs;
	size_t n, cap;
	br_x509_trust_anchor *ta;
};

/* Drops a reference; the last one frees the set. NULL is allowed. */
void tls_anchors_put(struct tls_anchors *a);

/* Adds the certificates of one PEM file to a, streamed (no copy of the
 * file); other PEM objects are skipped. Returns 0 or -errno with err naming
 * the file; a missing file is 0 when missing_ok. */
int tls_anchors_load(struct tls_anchors *a, const char *path, bool missing_ok, struct berr *err);

/* Fills seed from getrandom(), which blocks until the kernel's pool is
 * initialised: what a fresh key needs. Returns 0 or -errno. */
int tls_seed(unsigned char *seed, size_t len);

/* Short words for a BearSSL X.509 error, an SSL engine error, a TLS alert
 * number (NULL when it has no name here). */
const char *tls_x509_reason(int e);
const char *tls_ssl_reason(int e);
const char *tls_alert_name(int a);

#endif
