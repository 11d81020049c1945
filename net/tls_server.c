/* TLS 1.2 server on BearSSL (see tls_server.h), for the daemon's TCP
 * listener: client certificates required (dockerd's --tlsverify), the same
 * reduced engine set as the client, and a poll-driven relay to a local socket. */
#include "tls_server.h"

#include <bearssl.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "board/fs.h"
#include "net/tls_int.h"

#define TLS_CHAIN_MAX 8 /* certificates in the server's chain file */

struct net_tls_server {
	struct tls_anchors *ca; /* who may issue client certificates */
	br_x509_certificate chain[TLS_CHAIN_MAX];
	size_t nchain;
	br_skey_decoder_context key; /* the decoded key lives in here */
	int key_type;                /* BR_KEYTYPE_EC or BR_KEYTYPE_RSA */
};

struct net_tls_session {
	br_ssl_server_context sc;
	br_x509_minimal_context xm; /* checks the client's chain */
	int fd;
	int first; /* the first byte the client sent, -1 before any */
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

/* --- loading ----------------------------------------------------------------- */

/* One PEM object's DER, growing as the decoder hands it over. */
struct pem_obj {
	unsigned char *p;
	size_t len, cap;
	bool oom;
};

static void pem_obj_add(void *ctx, const void *buf, size_t len)
{
	struct pem_obj *o = ctx;
	if (o->oom)
		return;
	if (o->len + len > o->cap) {
		size_t cap = o->cap ? o->cap : 2048;
		while (cap < o->len + len)
			cap *= 2;
		unsigned char *p = realloc(o->p, cap);
		if (!p) {
			o->oom = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, buf, len);
	o->len += len;
}

/* Calls fn for each object of the PEM file at path, with its name and DER
 * bytes; fn may take o->p (and leave o zeroed). */
static int pem_each(const char *path,
		    int (*fn)(struct net_tls_server *s, const char *name, struct pem_obj *o,
			      const char *path, struct berr *err),
		    struct net_tls_server *s, struct berr *err)
{
	char *text = NULL;
	ssize_t n = fs_read_alloc(path, TLS_PEM_MAX, &text, err);
	if (n < 0)
		return (int)n;
	br_pem_decoder_context pem;
	br_pem_decoder_init(&pem);
	struct pem_obj o = { 0 };
	char name[128] = "";
	int rc = 0;
	const unsigned char *p = (const unsigned char *)text;
	size_t left = (size_t)n;
	bool in_obj = false, nl = false;
	while (rc == 0 && (left > 0 || !nl)) {
		if (left == 0) {
			/* ends a last line that lacks its newline */
			p = (const unsigned char *)"\n";
			left = 1;
			nl = true;
		}
		size_t used = br_pem_decoder_push(&pem, p, left);
		p += used;
		left -= used;
		switch (br_pem_decoder_event(&pem)) {
		case BR_PEM_BEGIN_OBJ:
			snprintf(name, sizeof(name), "%s", br_pem_decoder_name(&pem));
			o.len = 0;
			in_obj = true;
			br_pem_decoder_setdest(&pem, pem_obj_add, &o);
			break;
		case BR_PEM_END_OBJ:
			in_obj = false;
			rc = o.oom ? berr_set(err, ENOMEM, "%s", path) : fn(s, name, &o, path, err);
			break;
		case BR_PEM_ERROR:
			rc = berr_setmsg(err, EINVAL, "%s: invalid PEM data", path);
			break;
		}
	}
	if (rc == 0 && in_obj)
		rc = berr_setmsg(err, EINVAL, "%s: truncated PEM object", path);
	explicit_bzero(text, (size_t)n);
	free(text);
	if (o.p)
		explicit_bzero(o.p, o.cap);
	free(o.p);
	return rc;
}

static int add_cert(struct net_tls_server *s, const char *name, struct pem_obj *o, const char *path,
		    struct berr *err)
{
	if (strcmp(name, "CERTIFICATE") && strcmp(name, "X509 CERTIFICATE"))
		return 0;
	if (s->nchain == TLS_CHAIN_MAX)
		return berr_setmsg(err, E2BIG, "%s: more than %d certificates", path,
				   TLS_CHAIN_MAX);
	br_x509_certificate *c = &s->chain[s->nchain++];
	c->data = o->p; /* taken: the next object gets a new buffer */
	c->data_len = o->len;
	*o = (struct pem_obj){ 0 };
	return 0;
}

static int add_key(struct net_tls_server *s, const char *name, struct pem_obj *o, const char *path,
		   struct berr *err)
{
	if (!strcmp(name, "ENCRYPTED PRIVATE KEY"))
		return berr_setmsg(err, EINVAL, "%s: encrypted keys are not supported", path);
	if (strcmp(name, "PRIVATE KEY") && strcmp(name, "EC PRIVATE KEY") &&
	    strcmp(name, "RSA PRIVATE KEY"))
		return 0; /* "EC PARAMETERS" and the like */
	if (s->key_type)
		return berr_setmsg(err, EINVAL, "%s: more than one private key", path);
	br_skey_decoder_init(&s->key);
	br_skey_decoder_push(&s->key, o->p, o->len);
	int e = br_skey_decoder_last_error(&s->key);
	if (e)
		return berr_setmsg(err, EINVAL,
				   "%s: unsupported or malformed key (BearSSL error %d)", path, e);
	s->key_type = br_skey_decoder_key_type(&s->key);
	return 0;
}

/* The EC key must be the one of the certificate: a mismatch would only
 * show as every client failing the handshake. */
static int key_matches(struct net_tls_server *s, const char *cert, const char *key,
		       struct berr *err)
{
	br_x509_decoder_context dc;
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, s->chain[0].data, s->chain[0].data_len);
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&dc);
	if (!pk)
		return berr_setmsg(err, EINVAL, "%s: malformed certificate (BearSSL error %d)",
				   cert, br_x509_decoder_last_error(&dc));
	if (pk->key_type != s->key_type)
		return berr_setmsg(err, EINVAL, "%s: not the key of the certificate in %s", key,
				   cert);
	if (s->key_type != BR_KEYTYPE_EC)
		return 0;
	const br_ec_private_key *sk = br_skey_decoder_get_ec(&s->key);
	unsigned char q[BR_EC_KBUF_PUB_MAX_SIZE];
	br_ec_public_key pub;
	size_t qlen = br_ec_compute_pub(br_ec_get_default(), &pub, q, sk);
	if (pk->key.ec.curve != sk->curve || qlen != pk->key.ec.qlen ||
	    memcmp(q, pk->key.ec.q, qlen))
		return berr_setmsg(err, EINVAL, "%s: not the key of the certificate in %s", key,
				   cert);
	return 0;
}

struct net_tls_server *net_tls_server_new(const char *ca, const char *cert, const char *key,
					  struct berr *err)
{
	struct net_tls_server *s = calloc(1, sizeof(*s));
	if (!s) {
		berr_set(err, ENOMEM, "TLS server");
		return NULL;
	}
	s->ca = calloc(1, sizeof(*s->ca));
	if (!s->ca) {
		berr_set(err, ENOMEM, "TLS server");
		goto fail;
	}
	s->ca->refs = 1;
	if (tls_anchors_load(s->ca, ca, false, err) < 0)
		goto fail;
	if (s->ca->n == 0) {
		berr_setmsg(err, ENOENT, "%s: no CA certificate", ca);
		goto fail;
	}
	if (pem_each(cert, add_cert, s, err) < 0)
		goto fail;
	if (s->nchain == 0) {
		berr_setmsg(err, ENOENT, "%s: no certificate", cert);
		goto fail;
	}
	if (pem_each(key, add_key, s, err) < 0)
		goto fail;
	if (!s->key_type) {
		berr_setmsg(err, ENOENT, "%s: no private key", key);
		goto fail;
	}
	if (key_matches(s, cert, key, err) < 0)
		goto fail;
	return s;
fail:
	net_tls_server_free(s);
	return NULL;
}

void net_tls_server_free(struct net_tls_server *s)
{
	if (!s)
		return;
	tls_anchors_put(s->ca);
	for (size_t i = 0; i < s->nchain; i++)
		free(s->chain[i].data);
	explicit_bzero(&s->key, sizeof(s->key));
	free(s);
}

/* --- handshake --------------------------------------------------------------- */

/* The client's side of the same reduced profile as tls.c's (TLS 1.2, ECDHE,
 * AEAD); the server key picks the ECDSA or the RSA half. */
static const uint16_t tls_server_suites[] = {
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
};

static void session_engines(struct net_tls_session *c, const struct net_tls_server *s)
{
	br_ssl_server_context *sc = &c->sc;
	br_ssl_engine_context *eng = &sc->eng;
	br_x509_minimal_context *xm = &c->xm;

	br_ssl_server_zero(sc);
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(eng, tls_server_suites,
				 sizeof(tls_server_suites) / sizeof(tls_server_suites[0]));
	br_ssl_engine_add_flags(eng, BR_OPT_NO_RENEGOTIATION);
	br_ssl_engine_set_hash(eng, br_sha256_ID, &br_sha256_vtable);
	br_ssl_engine_set_hash(eng, br_sha384_ID, &br_sha384_vtable);
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
	br_ssl_engine_set_default_chapol(eng);
	br_ssl_engine_set_default_aes_gcm(eng);
	br_ssl_engine_set_default_rsavrfy(eng);
	br_ssl_engine_set_default_ecdsa(eng); /* also sets the EC code for ECDHE */
	if (s->key_type == BR_KEYTYPE_EC)
		br_ssl_server_set_single_ec(
			sc, s->chain, s->nchain, br_skey_decoder_get_ec(&s->key), BR_KEYTYPE_SIGN,
			BR_KEYTYPE_EC, br_ec_get_default(), br_ecdsa_sign_asn1_get_default());
	else
		br_ssl_server_set_single_rsa(
			sc, s->chain, s->nchain, br_skey_decoder_get_rsa(&s->key), BR_KEYTYPE_SIGN,
			br_rsa_private_get_default(), br_rsa_pkcs1_sign_get_default());

	/* A CertificateRequest naming the CA; without
	 * BR_OPT_TOLERATE_NO_CLIENT_AUTH, no certificate or one that fails
	 * the check below aborts the handshake. */
	br_ssl_server_set_trust_anchor_names_alt(sc, s->ca->ta, s->ca->n);
	br_x509_minimal_init(xm, &br_sha256_vtable, s->ca->ta, s->ca->n);
	br_x509_minimal_set_hash(xm, br_sha256_ID, &br_sha256_vtable);
	br_x509_minimal_set_hash(xm, br_sha384_ID, &br_sha384_vtable);
	br_x509_minimal_set_hash(xm, br_sha512_ID, &br_sha512_vtable);
	br_x509_minimal_set_rsa(xm, br_ssl_engine_get_rsavrfy(eng));
	br_x509_minimal_set_ecdsa(xm, br_ssl_engine_get_ec(eng), br_ssl_engine_get_ecdsa(eng));
	br_ssl_engine_set_x509(eng, &xm->vtable);
	br_ssl_engine_set_buffer(eng, c->iobuf, sizeof(c->iobuf), 1);
}

static int session_error(struct net_tls_session *c, int e, struct berr *err)
{
	if (c->first >= 0 && c->first != 0x16 && c->first != 0x15)
		return berr_setmsg(err, EPROTO, "not TLS (plain HTTP?)");
	switch (e) {
	case BR_ERR_NO_CLIENT_AUTH:
		return berr_setmsg(err, EACCES, "no client certificate");
	case BR_ERR_X509_NOT_TRUSTED:
		return berr_setmsg(err, EACCES, "unknown certificate authority");
	case BR_ERR_X509_EXPIRED:
		return berr_setmsg(err, EACCES, "client certificate expired or not valid yet");
	case BR_ERR_UNSUPPORTED_VERSION:
	case BR_ERR_BAD_VERSION:
		return berr_setmsg(err, EPROTO, "the client does not offer TLS 1.2");
	}
	if (e >= BR_ERR_X509_OK && e <= BR_ERR_X509_NOT_TRUSTED)
		return berr_setmsg(err, EACCES,
				   "client certificate rejected: %s (BearSSL error %d)",
				   tls_x509_reason(e), e);
	if (e >= BR_ERR_RECV_FATAL_ALERT && e < BR_ERR_SEND_FATAL_ALERT) {
		const char *name = tls_alert_name(e - BR_ERR_RECV_FATAL_ALERT);
		if (name)
			return berr_setmsg(err, EPROTO, "client sent alert %s", name);
		return berr_setmsg(err, EPROTO, "client sent alert %d",
				   e - BR_ERR_RECV_FATAL_ALERT);
	}
	return berr_setmsg(err, EPROTO, "%s (BearSSL error %d)", tls_ssl_reason(e), e);
}

static long long mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

struct net_tls_session *net_tls_server_accept(const struct net_tls_server *s, int fd,
					      int timeout_ms, struct berr *err)
{
	struct net_tls_session *c = malloc(sizeof(*c));
	if (!c) {
		berr_set(err, ENOMEM, "TLS session");
		return NULL;
	}
	c->fd = fd;
	c->first = -1;
	session_engines(c, s);
	unsigned char seed[TLS_SEED_LEN];
	int rc = tls_seed(seed, sizeof(seed));
	if (rc < 0) {
		berr_set(err, -rc, "getrandom");
		goto fail;
	}
	br_ssl_engine_inject_entropy(&c->sc.eng, seed, sizeof(seed));
	explicit_bzero(seed, sizeof(seed));
	if (!br_ssl_server_reset(&c->sc)) {
		session_error(c, br_ssl_engine_last_error(&c->sc.eng), err);
		goto fail;
	}
	br_ssl_engine_context *eng = &c->sc.eng;
	long long deadline = mono_ms() + timeout_ms;
	for (;;) {
		unsigned st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED) {
			int e = br_ssl_engine_last_error(eng);
			session_error(c, e ? e : BR_ERR_IO, err);
			goto fail;
		}
		if (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))
			return c;
		size_t len;
		unsigned char *buf;
		ssize_t n;
		short ev;
		if (st & BR_SSL_SENDREC) {
			buf = br_ssl_engine_sendrec_buf(eng, &len);
			n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			ev = POLLOUT;
			if (n > 0)
				br_ssl_engine_sendrec_ack(eng, (size_t)n);
		} else {
			buf = br_ssl_engine_recvrec_buf(eng, &len);
			n = recv(fd, buf, len, MSG_DONTWAIT);
			ev = POLLIN;
			if (n > 0) {
				if (c->first < 0)
					c->first = buf[0];
				br_ssl_engine_recvrec_ack(eng, (size_t)n);
			} else if (n == 0) {
				/* The engine's own error (an alert it sent) says more. */
				int e = br_ssl_engine_last_error(eng);
				if (e)
					session_error(c, e, err);
				else
					berr_setmsg(err, ECONNRESET,
						    "connection closed during the handshake");
				goto fail;
			}
		}
		if (n > 0 || (n < 0 && errno == EINTR))
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			berr_set(err, errno, "handshake");
			goto fail;
		}
		long long left = deadline - mono_ms();
		if (left <= 0) {
			berr_setmsg(err, ETIMEDOUT, "handshake timed out");
			goto fail;
		}
		struct pollfd p = { .fd = fd, .events = ev };
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			berr_set(err, errno, "poll");
			goto fail;
		}
	}
fail:
	free(c);
	return NULL;
}

/* --- relay ------------------------------------------------------------------- */

/* One step of moving bytes: the count, 0 at EOF, -EAGAIN, or -errno. */
static ssize_t io(int fd, bool out, unsigned char *buf, size_t len)
{
	for (;;) {
		ssize_t n = out ? send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL)
				: recv(fd, buf, len, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

/* Records from the client pass through a small reader first: BearSSL
 * answers a close_notify by closing both ways (TLS 1.2's rule), but the
 * docker CLI ends stdin of `run -i`/`exec -i`/`attach` with one (Go's
 * CloseWrite) and then reads the rest of the output. So an alert record
 * after the handshake (close_notify, or a fatal alert: either way the client
 * sends nothing more) is kept from the engine and becomes a half-close
 * towards the daemon. */
enum rec_phase {
	REC_HEAD,      /* reading a record header */
	REC_FEED_HEAD, /* giving the header to the engine */
	REC_BODY,      /* passing the body through */
	REC_SKIP,      /* discarding an alert's body */
};

struct rec_reader {
	enum rec_phase phase;
	unsigned char head[5];
	size_t have; /* header bytes read, or fed */
	size_t left; /* body bytes to pass or skip */
};

/* One step of the reader: true when bytes moved. Sets *ev to POLLIN when it
 * waits for the client, and *eof when the client's input ended. */
static bool rec_step(struct net_tls_session *c, struct rec_reader *r, unsigned st, short *ev,
		     bool *eof, int *fail)
{
	br_ssl_engine_context *eng = &c->sc.eng;
	unsigned char scratch[512], *buf;
	size_t len;
	ssize_t n = -EAGAIN;
	switch (r->phase) {
	case REC_HEAD:
		n = io(c->fd, false, r->head + r->have, sizeof(r->head) - r->have);
		if (n > 0 && (r->have += (size_t)n) == sizeof(r->head)) {
			r->left = (size_t)r->head[3] << 8 | r->head[4];
			r->have = 0;
			r->phase = r->head[0] == 21 ? REC_SKIP : REC_FEED_HEAD;
		}
		break;
	case REC_FEED_HEAD:
		if (!(st & BR_SSL_RECVREC))
			return false;
		buf = br_ssl_engine_recvrec_buf(eng, &len);
		if (len > sizeof(r->head) - r->have)
			len = sizeof(r->head) - r->have;
		memcpy(buf, r->head + r->have, len);
		br_ssl_engine_recvrec_ack(eng, len);
		if ((r->have += len) == sizeof(r->head)) {
			r->have = 0;
			r->phase = r->left ? REC_BODY : REC_HEAD;
		}
		return true;
	case REC_BODY:
		if (!(st & BR_SSL_RECVREC))
			return false;
		buf = br_ssl_engine_recvrec_buf(eng, &len);
		n = io(c->fd, false, buf, len < r->left ? len : r->left);
		if (n > 0) {
			br_ssl_engine_recvrec_ack(eng, (size_t)n);
			if ((r->left -= (size_t)n) == 0)
				r->phase = REC_HEAD;
		}
		break;
	case REC_SKIP:
		n = r->left ? io(c->fd, false, scratch,
				 r->left < sizeof(scratch) ? r->left : sizeof(scratch))
			    : 0;
		if (n > 0)
			r->left -= (size_t)n;
		if (n >= 0 && r->left == 0) {
			*eof = true;
			return true;
		}
		break;
	}
	if (n > 0)
		return true;
	if (n == 0) {
		*eof = true; /* a TCP half-close (or a cut record) */
		return true;
	}
	if (n == -EAGAIN)
		*ev |= POLLIN;
	else
		*fail = (int)-n;
	return false;
}

int net_tls_session_relay(struct net_tls_session *c, int ufd, int stall_ms, struct berr *err)
{
	br_ssl_engine_context *eng = &c->sc.eng;
	bool t_in = true, u_in = true; /* each side may still send */
	struct rec_reader rr = { .phase = REC_HEAD };
	long long stall_since = 0;
	for (;;) {
		unsigned st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED) {
			int e = br_ssl_engine_last_error(eng);
			return e == BR_ERR_OK ? 0 : session_error(c, e, err);
		}
		bool moved = false;
		short tev = 0, uev = 0;
		size_t len;
		unsigned char *buf;
		ssize_t n;
		if (st & BR_SSL_SENDREC) {
			buf = br_ssl_engine_sendrec_buf(eng, &len);
			n = io(c->fd, true, buf, len);
			if (n > 0) {
				br_ssl_engine_sendrec_ack(eng, (size_t)n);
				moved = true;
			} else if (n == -EAGAIN) {
				tev |= POLLOUT;
			} else {
				return berr_set(err, n < 0 ? (int)-n : EPIPE, "send to the client");
			}
		}
		if (st & BR_SSL_RECVAPP) {
			buf = br_ssl_engine_recvapp_buf(eng, &len);
			n = io(ufd, true, buf, len);
			if (n > 0) {
				br_ssl_engine_recvapp_ack(eng, (size_t)n);
				moved = true;
			} else if (n == -EAGAIN) {
				uev |= POLLOUT;
			} else {
				return 0; /* the daemon closed: nothing more to say */
			}
		}
		if (t_in) {
			bool eof = false;
			int fail = 0;
			if (rec_step(c, &rr, st, &tev, &eof, &fail))
				moved = true;
			if (fail)
				return berr_set(err, fail, "receive from the client");
			if (eof) {
				/* the answer may still go back */
				t_in = false;
				shutdown(ufd, SHUT_WR);
			}
		}
		if ((st & BR_SSL_SENDAPP) && u_in) {
			buf = br_ssl_engine_sendapp_buf(eng, &len);
			n = io(ufd, false, buf, len);
			if (n > 0) {
				br_ssl_engine_sendapp_ack(eng, (size_t)n);
				br_ssl_engine_flush(eng, 0);
				moved = true;
			} else if (n == -EAGAIN) {
				uev |= POLLIN;
			} else {
				/* the daemon is done (or gone): close_notify */
				u_in = false;
				br_ssl_engine_close(eng);
				moved = true;
			}
		}
		if (moved) {
			stall_since = 0;
			continue;
		}
		/* Our close_notify is out: the peer's is not waited for. */
		if (!u_in && !(st & BR_SSL_SENDREC))
			return 0;
		if (!tev && !uev)
			return 0;
		/* Only bytes a side does not take count against stall_ms: a quiet
		 * stream (logs -f, events) may wait for ever. */
		int timeout = -1;
		if ((tev | uev) & POLLOUT) {
			long long t = mono_ms();
			if (!stall_since)
				stall_since = t;
			if (t - stall_since >= stall_ms)
				return berr_setmsg(err, ETIMEDOUT, "%s stopped reading",
						   tev & POLLOUT ? "the client" : "the daemon");
			timeout = (int)(stall_since + stall_ms - t);
		}
		struct pollfd p[2] = { { .fd = tev ? c->fd : -1, .events = tev },
				       { .fd = uev ? ufd : -1, .events = uev } };
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			return berr_set(err, errno, "poll");
	}
}

void net_tls_session_free(struct net_tls_session *c)
{
	if (!c)
		return;
	br_ssl_engine_context *eng = &c->sc.eng;
	if (!(br_ssl_engine_current_state(eng) & BR_SSL_CLOSED)) {
		br_ssl_engine_close(eng);
		while (br_ssl_engine_current_state(eng) & BR_SSL_SENDREC) {
			size_t len;
			unsigned char *buf = br_ssl_engine_sendrec_buf(eng, &len);
			ssize_t n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n <= 0)
				break;
			br_ssl_engine_sendrec_ack(eng, (size_t)n);
		}
	}
	explicit_bzero(c, sizeof(*c));
	free(c);
}
