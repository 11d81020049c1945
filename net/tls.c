/* TLS 1.2 client on BearSSL (see tls.h): a reduced engine set, trust anchors
 * from PEM files (system bundle and Docker's certs.d), and errors that say what to fix. */
#include "tls.h"

#include <arpa/inet.h>
#include <bearssl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/tls_int.h"

#define TLS_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define TLS_CERTS_D "/etc/berth/certs.d"
#define TLS_ANCHORS_MAX 512 /* anchors from the bundle, and again from one certs.d dir */
#define TLS_DN_MAX 1024     /* bytes in an anchor's subject DN */
#define TLS_CERT_KEEP 8192  /* bytes of each server certificate kept for our own checks */

/* BearSSL counts validation days from January 1st, 0 AD; 1970-01-01 is day 719528. */
#define TLS_EPOCH_DAYS 719528

enum tls_time_fault { TLS_TIME_OK, TLS_TIME_EXPIRED, TLS_TIME_NOT_YET };

/* br_x509_minimal wrapped, so that we see each certificate: BearSSL reports
 * "expired" and "not valid yet" as one error, and checks only dNSName. */
struct tls_x509 {
	const br_x509_class *vtable; /* first: BearSSL hands us &vtable */
	br_x509_minimal_context min;
	bool is_ip; /* host is an IP address: match iPAddress entries ourselves */
	unsigned char ip[16];
	size_t ip_len;
	time_t now;
	uint32_t ncert;            /* index of the certificate being received; 0 = server's */
	uint32_t len;              /* its length */
	size_t kept;               /* how much of it is in keep[] */
	enum tls_time_fault fault; /* of the first certificate out of its validity */
	bool ip_ok, ee_cut;
	unsigned char keep[TLS_CERT_KEEP];
};

struct net_tls {
	br_ssl_client_context cc;
	struct tls_x509 x509;
	unsigned char *iobuf; /* BR_SSL_BUFSIZE_BIDI */
	int fd;
	int timeout_ms;
	bool established; /* handshake done */
	bool eof;
	struct tls_anchors *sys, *own; /* system bundle (shared), certs.d (ours) */
	br_x509_trust_anchor *ta;      /* own then sys, shallow copies */
	size_t nta;
	char *certs_dir;  /* <certs_d>/<hostport>, for the unknown-CA hint */
	struct berr fail; /* sticky: once set, every call returns it */
	char host[256];
};

/* --- trust anchors ---------------------------------------------------------- */

void tls_anchors_put(struct tls_anchors *a)
{
	if (!a || --a->refs)
		return;
	for (size_t i = 0; i < a->n; i++)
		free(a->ta[i].dn.data);
	free(a->ta);
	free(a);
}

/* One certificate on its way from the PEM decoder into the X.509 decoder. */
struct pem_cert {
	br_x509_decoder_context dc;
	unsigned char dn[TLS_DN_MAX];
	size_t dn_len;
	bool dn_long;
};

static void pem_cert_dn(void *ctx, const void *buf, size_t len)
{
	struct pem_cert *pc = ctx;
	if (len > sizeof(pc->dn) - pc->dn_len) {
		pc->dn_long = true;
		return;
	}
	memcpy(pc->dn + pc->dn_len, buf, len);
	pc->dn_len += len;
}

static void pem_cert_der(void *ctx, const void *buf, size_t len)
{
	struct pem_cert *pc = ctx;
	br_x509_decoder_push(&pc->dc, buf, len);
}

/* Adds the decoded certificate as an anchor. Every anchor is a CA anchor: a
 * file of trusted certificates vouches for each, which lets v1 roots and a
 * registry's self-signed certificate in ca.crt work. Certificates BearSSL
 * cannot decode (unsupported key types) are skipped. */
static int anchors_add(struct tls_anchors *a, struct pem_cert *pc, const char *path,
		       struct berr *err)
{
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&pc->dc);
	if (!pk || pc->dn_long || (pk->key_type != BR_KEYTYPE_RSA && pk->key_type != BR_KEYTYPE_EC))
		return 0;
	if (a->n == TLS_ANCHORS_MAX)
		return berr_setmsg(err, E2BIG, "%s: more than %d certificates", path,
				   TLS_ANCHORS_MAX);
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		br_x509_trust_anchor *ta = realloc(a->ta, cap * sizeof(*ta));
		if (!ta)
			return berr_set(err, ENOMEM, "%s", path);
		a->ta = ta;
		a->cap = cap;
	}
	bool rsa = pk->key_type == BR_KEYTYPE_RSA;
	size_t klen = rsa ? pk->key.rsa.nlen + pk->key.rsa.elen : pk->key.ec.qlen;
	unsigned char *mem = malloc(pc->dn_len + klen + 1);
	if (!mem)
		return berr_set(err, ENOMEM, "%s", path);
	br_x509_trust_anchor *ta = &a->ta[a->n++];
	ta->dn.data = mem;
	ta->dn.len = pc->dn_len;
	ta->flags = BR_X509_TA_CA;
	ta->pkey = *pk;
	memcpy(mem, pc->dn, pc->dn_len);
	unsigned char *k = mem + pc->dn_len;
	if (rsa) {
		memcpy(k, pk->key.rsa.n, pk->key.rsa.nlen);
		ta->pkey.key.rsa.n = k;
		k += pk->key.rsa.nlen;
		memcpy(k, pk->key.rsa.e, pk->key.rsa.elen);
		ta->pkey.key.rsa.e = k;
	} else {
		memcpy(k, pk->key.ec.q, pk->key.ec.qlen);
		ta->pkey.key.ec.q = k;
	}
	return 0;
}

/* Feeds PEM text to the decoder; certificates become anchors, other objects
 * (keys, CRLs) are ignored. */
static int pem_feed(struct tls_anchors *a, br_pem_decoder_context *pem, struct pem_cert *pc,
		    bool *in_cert, const unsigned char *p, size_t len, const char *path,
		    struct berr *err)
{
	while (len > 0) {
		size_t used = br_pem_decoder_push(pem, p, len);
		p += used;
		len -= used;
		switch (br_pem_decoder_event(pem)) {
		case BR_PEM_BEGIN_OBJ: {
			const char *name = br_pem_decoder_name(pem);
			*in_cert =
				!strcmp(name, "CERTIFICATE") || !strcmp(name, "X509 CERTIFICATE");
			if (*in_cert) {
				br_x509_decoder_init(&pc->dc, pem_cert_dn, pc);
				pc->dn_len = 0;
				pc->dn_long = false;
				br_pem_decoder_setdest(pem, pem_cert_der, pc);
			} else {
				br_pem_decoder_setdest(pem, NULL, NULL);
			}
			break;
		}
		case BR_PEM_END_OBJ:
			if (*in_cert) {
				*in_cert = false;
				int rc = anchors_add(a, pc, path, err);
				if (rc < 0)
					return rc;
			}
			break;
		case BR_PEM_ERROR:
			return berr_setmsg(err, EINVAL, "%s: invalid PEM data", path);
		}
	}
	return 0;
}

int tls_anchors_load(struct tls_anchors *a, const char *path, bool missing_ok, struct berr *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return missing_ok && errno == ENOENT ? 0 : berr_set(err, errno, "open %s", path);
	struct pem_cert *pc = malloc(sizeof(*pc));
	br_pem_decoder_context pem;
	br_pem_decoder_init(&pem);
	unsigned char buf[4096];
	size_t total = 0;
	bool in_cert = false, eof = false;
	int rc = pc ? 0 : berr_set(err, ENOMEM, "%s", path);
	while (rc == 0 && !eof) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = berr_set(err, errno, "read %s", path);
			break;
		}
		if (n == 0) {
			/* ends a last line that lacks its newline */
			buf[0] = '\n';
			n = 1;
			eof = true;
		} else if ((total += (size_t)n) > TLS_PEM_MAX) {
			rc = berr_setmsg(err, EFBIG, "%s: larger than %d KiB", path,
					 TLS_PEM_MAX >> 10);
			break;
		}
		rc = pem_feed(a, &pem, pc, &in_cert, buf, (size_t)n, path, err);
	}
	if (rc == 0 && in_cert)
		rc = berr_setmsg(err, EINVAL, "%s: truncated certificate", path);
	free(pc);
	close(fd);
	return rc;
}

/* The system bundle, parsed once and kept while the file is unchanged (same
 * device, inode, size and mtime): parsing Debian's 144 CAs takes about 30 ms
 * on a desktop x86_64 and several times that on an ARM board, for every
 * connection otherwise. Cost: the anchors stay allocated for the life of the
 * process, about 75 KiB for that bundle (at most TLS_ANCHORS_MAX from
 * TLS_PEM_MAX bytes). Sessions hold a reference, so a reload never frees
 * anchors a session still uses. Not thread-safe: Berth runs TLS from one
 * thread. */
static struct {
	struct tls_anchors *set;
	struct stat st;
	char *path;
} tls_sys;

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Returns a reference to the bundle's anchors in *out (NULL if the file does
 * not exist). */
static int system_anchors(const char *path, struct tls_anchors **out, struct berr *err)
{
	*out = NULL;
	struct stat st;
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : berr_set(err, errno, "stat %s", path);
	if (tls_sys.set && !strcmp(tls_sys.path, path) && same_file(&tls_sys.st, &st)) {
		tls_sys.set->refs++;
		*out = tls_sys.set;
		return 0;
	}
	struct tls_anchors *a = calloc(1, sizeof(*a));
	if (!a)
		return berr_set(err, ENOMEM, "%s", path);
	a->refs = 1;
	int rc = tls_anchors_load(a, path, false, err);
	if (rc < 0) {
		tls_anchors_put(a);
		return rc;
	}
	if (a->n > 0 && a->n < a->cap) { /* it is kept long */
		br_x509_trust_anchor *ta = realloc(a->ta, a->n * sizeof(*ta));
		if (ta) {
			a->ta = ta;
			a->cap = a->n;
		}
	}
	char *copy = strdup(path);
	if (copy) {
		tls_anchors_put(tls_sys.set);
		free(tls_sys.path);
		tls_sys.set = a;
		a->refs++;
		tls_sys.st = st;
		tls_sys.path = copy;
	}
	*out = a;
	return 0;
}

static int crt_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 4 && !strcmp(d->d_name + n - 4, ".crt") &&
	       strcmp(d->d_name, "ca.crt");
}

/* Docker's certs.d: dir/ca.crt first, then the other *.crt in name order. A
 * missing directory adds nothing. (Client certificates, *.cert and *.key, are
 * not supported yet.) */
static int certs_d_anchors(struct tls_anchors *a, const char *dir, struct berr *err)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/ca.crt", dir) >= sizeof(path))
		return berr_setmsg(err, ENAMETOOLONG, "%s: path too long", dir);
	int rc = tls_anchors_load(a, path, true, err);
	if (rc < 0)
		return rc;
	struct dirent **names;
	int n = scandir(dir, &names, crt_file, alphasort);
	if (n < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0
							   : berr_set(err, errno, "scan %s", dir);
	for (int i = 0; i < n; i++) {
		if (rc == 0) {
			if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) >=
			    sizeof(path))
				rc = berr_setmsg(err, ENAMETOOLONG, "%s: path too long", dir);
			else
				rc = tls_anchors_load(a, path, false, err);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* Loads the session's anchors: certs.d first, then the system bundle. */
static int tls_trust(struct net_tls *t, const char *hostport, const struct net_tls_trust *trust,
		     struct berr *err)
{
	int rc = trust->ca_bundle ? system_anchors(trust->ca_bundle, &t->sys, err) : 0;
	if (rc < 0)
		return rc;
	if (trust->certs_d) {
		if (!hostport || !*hostport || strchr(hostport, '/') || !strcmp(hostport, ".") ||
		    !strcmp(hostport, ".."))
			return berr_setmsg(err, EINVAL, "invalid registry name '%s' for certs.d",
					   hostport ? hostport : "");
		if (asprintf(&t->certs_dir, "%s/%s", trust->certs_d, hostport) < 0) {
			t->certs_dir = NULL;
			return berr_set(err, ENOMEM, "certs.d");
		}
		t->own = calloc(1, sizeof(*t->own));
		if (!t->own)
			return berr_set(err, ENOMEM, "certs.d");
		t->own->refs = 1;
		rc = certs_d_anchors(t->own, t->certs_dir, err);
		if (rc < 0)
			return rc;
	}
	size_t ns = t->sys ? t->sys->n : 0, no = t->own ? t->own->n : 0;
	if (ns + no == 0) {
		if (trust->ca_bundle && t->certs_dir)
			return berr_setmsg(err, ENOENT, "no CA certificates in %s or %s/*.crt",
					   trust->ca_bundle, t->certs_dir);
		if (trust->ca_bundle || t->certs_dir)
			return berr_setmsg(err, ENOENT, "no CA certificates in %s%s",
					   trust->ca_bundle ? trust->ca_bundle : t->certs_dir,
					   trust->ca_bundle ? "" : "/*.crt");
		return berr_setmsg(err, ENOENT, "no CA certificates configured");
	}
	t->ta = malloc((ns + no) * sizeof(*t->ta));
	if (!t->ta)
		return berr_set(err, ENOMEM, "trust anchors");
	if (no)
		memcpy(t->ta, t->own->ta, no * sizeof(*t->ta));
	if (ns)
		memcpy(t->ta + no, t->sys->ta, ns * sizeof(*t->ta));
	t->nta = ns + no;
	return 0;
}

/* --- certificate fields BearSSL does not give us ---------------------------- */

/* Reads the DER header at p: tag and content start and length. The content
 * may run past end (a certificate cut at TLS_CERT_KEEP): callers check. */
static int der_head(const unsigned char *p, const unsigned char *end, unsigned *tag,
		    const unsigned char **val, size_t *len)
{
	if (end - p < 2 || (p[0] & 0x1f) == 0x1f)
		return -1;
	*tag = p[0];
	size_t l = p[1];
	p += 2;
	if (l & 0x80) {
		size_t nb = l & 0x7f;
		if (nb == 0 || nb > 3 || (size_t)(end - p) < nb)
			return -1;
		for (l = 0; nb > 0; nb--)
			l = l << 8 | *p++;
	}
	*val = p;
	*len = l;
	return 0;
}

/* Takes the whole element at *p, which must have tag want, and moves past it. */
static int der_take(const unsigned char **p, const unsigned char *end, unsigned want,
		    const unsigned char **val, size_t *len)
{
	unsigned tag;
	if (der_head(*p, end, &tag, val, len) < 0 || tag != want || *len > (size_t)(end - *val))
		return -1;
	*p = *val + *len;
	return 0;
}

/* Enters Certificate and TBSCertificate (which may be cut short) and skips
 * the version: leaves *p at the serial number. */
static int der_tbs(const unsigned char **p, const unsigned char **end)
{
	unsigned tag;
	const unsigned char *v;
	size_t len;
	for (int i = 0; i < 2; i++) {
		if (der_head(*p, *end, &tag, &v, &len) < 0 || tag != 0x30)
			return -1;
		*p = v;
		if (len < (size_t)(*end - v))
			*end = v + len;
	}
	if (der_head(*p, *end, &tag, &v, &len) < 0)
		return -1;
	return tag == 0xa0 ? der_take(p, *end, 0xa0, &v, &len) : 0;
}

/* Days from 1970-01-01 to y-m-d, for y >= 1; the year is counted from March so
 * that the leap day comes last. */
static int64_t civil_days(int64_t y, int m, int d)
{
	if (m <= 2) {
		y--;
		m += 12;
	}
	return 365 * y + y / 4 - y / 100 + y / 400 + (153 * (m - 3) + 2) / 5 + d - 1 - 719468;
}

static int two_digits(const unsigned char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* Parses the Time at *p (RFC 5280: UTCTime YYMMDDHHMMSSZ or GeneralizedTime
 * YYYYMMDDHHMMSSZ) into seconds since 1970. */
static int der_time(const unsigned char **p, const unsigned char *end, int64_t *t)
{
	unsigned tag;
	const unsigned char *v;
	size_t len;
	if (der_head(*p, end, &tag, &v, &len) < 0 || (tag != 0x17 && tag != 0x18) ||
	    len > (size_t)(end - v))
		return -1;
	*p = v + len;
	size_t digits = tag == 0x17 ? 12 : 14;
	if (len != digits + 1 || v[digits] != 'Z')
		return -1;
	for (size_t i = 0; i < digits; i++)
		if (v[i] < '0' || v[i] > '9')
			return -1;
	int64_t year = two_digits(v);
	if (tag == 0x17)
		year += year < 50 ? 2000 : 1900;
	else
		year = year * 100 + two_digits(v + 2);
	const unsigned char *s = v + digits - 10;
	int mon = two_digits(s), day = two_digits(s + 2), hh = two_digits(s + 4),
	    mi = two_digits(s + 6), ss = two_digits(s + 8);
	if (year < 1 || mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mi > 59 || ss > 60)
		return -1;
	*t = civil_days(year, mon, day) * 86400 + hh * 3600 + mi * 60 + ss;
	return 0;
}

/* notBefore and notAfter of a certificate of which n bytes are at hand (the
 * validity comes early, after the issuer). */
static int cert_validity(const unsigned char *c, size_t n, int64_t *nb, int64_t *na)
{
	const unsigned char *p = c, *end = c + n, *v;
	size_t len;
	if (der_tbs(&p, &end) < 0 || der_take(&p, end, 0x02, &v, &len) < 0 || /* serial */
	    der_take(&p, end, 0x30, &v, &len) < 0 ||                          /* signature */
	    der_take(&p, end, 0x30, &v, &len) < 0 ||                          /* issuer */
	    der_take(&p, end, 0x30, &v, &len) < 0)                            /* validity */
		return -1;
	const unsigned char *q = v;
	return der_time(&q, v + len, nb) < 0 || der_time(&q, v + len, na) < 0 ? -1 : 0;
}

/* Whether the subjectAltName of the whole certificate c lists iPAddress ip. */
static bool cert_has_ip(const unsigned char *c, size_t n, const unsigned char *ip, size_t ip_len)
{
	static const unsigned char san_oid[] = { 0x55, 0x1d, 0x11 }; /* 2.5.29.17 */
	const unsigned char *p = c, *end = c + n, *v;
	size_t len;
	unsigned tag;
	if (der_tbs(&p, &end) < 0 || der_take(&p, end, 0x02, &v, &len) < 0)
		return false;
	for (int i = 0; i < 5; i++) /* signature, issuer, validity, subject, key */
		if (der_take(&p, end, 0x30, &v, &len) < 0)
			return false;
	while (p < end) { /* issuerUniqueID [1], subjectUniqueID [2], extensions [3] */
		if (der_head(p, end, &tag, &v, &len) < 0 || len > (size_t)(end - v))
			return false;
		p = v + len;
		if (tag != 0xa3)
			continue;
		const unsigned char *e = v, *e_end = v + len;
		if (der_take(&e, e_end, 0x30, &v, &len) < 0)
			return false;
		for (e = v, e_end = v + len; e < e_end;) {
			if (der_take(&e, e_end, 0x30, &v, &len) < 0)
				return false;
			const unsigned char *x = v, *x_end = v + len, *oid;
			size_t oid_len;
			if (der_take(&x, x_end, 0x06, &oid, &oid_len) < 0)
				return false;
			if (oid_len != sizeof(san_oid) || memcmp(oid, san_oid, sizeof(san_oid)))
				continue;
			if (x < x_end && *x == 0x01 && der_take(&x, x_end, 0x01, &v, &len) < 0)
				return false;
			if (der_take(&x, x_end, 0x04, &v, &len) < 0)
				return false;
			const unsigned char *g = v, *g_end = v + len;
			if (der_take(&g, g_end, 0x30, &v, &len) < 0)
				return false;
			for (g = v, g_end = v + len; g < g_end;) {
				if (der_head(g, g_end, &tag, &v, &len) < 0 ||
				    len > (size_t)(g_end - v))
					return false;
				g = v + len;
				if (tag == 0x87 && len == ip_len && !memcmp(v, ip, ip_len))
					return true;
			}
			return false;
		}
	}
	return false;
}

/* --- the X.509 wrapper ------------------------------------------------------- */

static struct tls_x509 *x509_of(const br_x509_class *const *ctx)
{
	return (struct tls_x509 *)(void *)ctx;
}

static void x509_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct tls_x509 *x = x509_of(ctx);
	/* The real clock, set explicitly rather than left to BearSSL's build. */
	time_t now = time(NULL);
	x->now = now < 0 ? 0 : now;
	br_x509_minimal_set_time(&x->min, (uint32_t)(x->now / 86400 + TLS_EPOCH_DAYS),
				 (uint32_t)(x->now % 86400));
	x->ncert = 0;
	x->fault = TLS_TIME_OK;
	x->ip_ok = x->ee_cut = false;
	x->min.vtable->start_chain(&x->min.vtable, x->is_ip ? NULL : server_name);
}

static void x509_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct tls_x509 *x = x509_of(ctx);
	x->len = length;
	x->kept = 0;
	x->min.vtable->start_cert(&x->min.vtable, length);
}

static void x509_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct tls_x509 *x = x509_of(ctx);
	size_t n = sizeof(x->keep) - x->kept;
	if (n > len)
		n = len;
	memcpy(x->keep + x->kept, buf, n);
	x->kept += n;
	x->min.vtable->append(&x->min.vtable, buf, len);
}

static void x509_end_cert(const br_x509_class **ctx)
{
	struct tls_x509 *x = x509_of(ctx);
	int64_t nb, na;
	/* BearSSL checks the chain in this order and stops at the first bad
	 * validity, so the first one we find is the one it reports. */
	if (x->fault == TLS_TIME_OK && cert_validity(x->keep, x->kept, &nb, &na) == 0) {
		if (x->now < nb)
			x->fault = TLS_TIME_NOT_YET;
		else if (x->now > na)
			x->fault = TLS_TIME_EXPIRED;
	}
	if (x->ncert == 0 && x->is_ip) {
		x->ee_cut = x->kept < x->len;
		x->ip_ok = !x->ee_cut && cert_has_ip(x->keep, x->kept, x->ip, x->ip_len);
	}
	x->ncert++;
	x->min.vtable->end_cert(&x->min.vtable);
}

static unsigned x509_end_chain(const br_x509_class **ctx)
{
	struct tls_x509 *x = x509_of(ctx);
	unsigned r = x->min.vtable->end_chain(&x->min.vtable);
	if (r == 0 && x->is_ip && !x->ip_ok)
		r = x->ee_cut ? BR_ERR_X509_LIMIT_EXCEEDED : BR_ERR_X509_BAD_SERVER_NAME;
	return r;
}

static const br_x509_pkey *x509_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct tls_x509 *x = x509_of(ctx);
	return x->min.vtable->get_pkey(&x->min.vtable, usages);
}

static const br_x509_class tls_x509_vtable = {
	.context_size = sizeof(struct tls_x509),
	.start_chain = x509_start_chain,
	.start_cert = x509_start_cert,
	.append = x509_append,
	.end_cert = x509_end_cert,
	.end_chain = x509_end_chain,
	.get_pkey = x509_get_pkey,
};

/* --- engine set-up ------------------------------------------------------------ */

/* The reduced client profile, instead of br_ssl_client_init_full (which
 * costs 24 KiB more on x86_64, 13 KiB more on armv7):
 * - TLS 1.2 only, ECDHE only (forward secrecy), with ECDSA or RSA server
 *   keys: what registries, CDNs and the portal all offer. No RSA or
 *   static-ECDH key exchange, no TLS 1.0/1.1 (and their MD5/SHA-1 PRF), no
 *   3DES or CCM: none is needed by a current server.
 * - AEAD only. ChaCha20-Poly1305 first: fast in software on ARM boards
 *   without AES instructions. Then AES-GCM: AES-NI and PCLMUL on x86 when
 *   the CPU has them, constant-time code otherwise (12 KiB). Not AES-CBC
 *   with HMAC-SHA256/384: it would cost 8 KiB more, and a server with those
 *   suites but without GCM is a TLS 1.2 server that predates GCM, which
 *   hardly exists.
 * - Hashes: SHA-256 and SHA-384 (PRF, handshake, signatures), plus SHA-512
 *   for certificate signatures (it shares SHA-384's code, so costs nothing).
 * - Curves from BearSSL's default EC code: X25519 and P-256 (dedicated code),
 *   P-384 and P-521 (generic prime-curve code). RSA verification is
 *   BearSSL's default (i62 where 64-bit multiplies exist, else i31); ECDSA
 *   verification i31.
 * Measured in a static musl binary (-Os, gc-sections, stripped), this file
 * and the BearSSL code it pulls in add 112 KiB on x86_64, 72 KiB on armv7. */
static const uint16_t tls_suites[] = {
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
};

static void tls_engines(struct net_tls *t)
{
	br_ssl_engine_context *eng = &t->cc.eng;
	br_x509_minimal_context *xm = &t->x509.min;

	br_ssl_client_zero(&t->cc);
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(eng, tls_suites, sizeof(tls_suites) / sizeof(tls_suites[0]));
	br_ssl_engine_add_flags(eng, BR_OPT_NO_RENEGOTIATION);
	br_ssl_engine_set_hash(eng, br_sha256_ID, &br_sha256_vtable);
	br_ssl_engine_set_hash(eng, br_sha384_ID, &br_sha384_vtable);
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
	br_ssl_engine_set_default_chapol(eng);
	br_ssl_engine_set_default_aes_gcm(eng);
	br_ssl_engine_set_default_rsavrfy(eng);
	br_ssl_engine_set_default_ecdsa(eng); /* also sets the EC code for ECDHE */

	br_x509_minimal_init(xm, &br_sha256_vtable, t->ta, t->nta);
	br_x509_minimal_set_hash(xm, br_sha256_ID, &br_sha256_vtable);
	br_x509_minimal_set_hash(xm, br_sha384_ID, &br_sha384_vtable);
	br_x509_minimal_set_hash(xm, br_sha512_ID, &br_sha512_vtable);
	br_x509_minimal_set_rsa(xm, br_ssl_engine_get_rsavrfy(eng));
	br_x509_minimal_set_ecdsa(xm, br_ssl_engine_get_ec(eng), br_ssl_engine_get_ecdsa(eng));
	t->x509.vtable = &tls_x509_vtable;
	br_ssl_engine_set_x509(eng, &t->x509.vtable);
	br_ssl_engine_set_buffer(eng, t->iobuf, BR_SSL_BUFSIZE_BIDI, 1);
}

int tls_seed(unsigned char *seed, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = getrandom(seed + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	return 0;
}

/* --- errors ------------------------------------------------------------------ */

const char *tls_x509_reason(int e)
{
	switch (e) {
	case BR_ERR_X509_BAD_SIGNATURE:
		return "bad signature";
	case BR_ERR_X509_WEAK_PUBLIC_KEY:
		return "key too small";
	case BR_ERR_X509_NOT_CA:
		return "issuer is not a CA";
	case BR_ERR_X509_FORBIDDEN_KEY_USAGE:
		return "key usage does not allow TLS";
	case BR_ERR_X509_CRITICAL_EXTENSION:
		return "unsupported critical extension";
	case BR_ERR_X509_UNSUPPORTED:
		return "unsupported algorithm";
	case BR_ERR_X509_LIMIT_EXCEEDED:
		return "certificate too large";
	case BR_ERR_X509_EMPTY_CHAIN:
		return "no certificate sent";
	case BR_ERR_X509_DN_MISMATCH:
		return "chain out of order";
	case BR_ERR_X509_TIME_UNKNOWN:
		return "no clock";
	default:
		return "malformed certificate";
	}
}

const char *tls_ssl_reason(int e)
{
	switch (e) {
	case BR_ERR_UNSUPPORTED_VERSION:
	case BR_ERR_BAD_VERSION:
		return "the server does not offer TLS 1.2";
	case BR_ERR_BAD_CIPHER_SUITE:
		return "no common cipher suite";
	case BR_ERR_BAD_MAC:
		return "record authentication failed";
	case BR_ERR_NO_RANDOM:
		return "no random seed";
	case BR_ERR_INVALID_ALGORITHM:
		return "unsupported signature algorithm or curve";
	case BR_ERR_BAD_SIGNATURE:
		return "bad key exchange signature";
	case BR_ERR_WRONG_KEY_USAGE:
		return "certificate key does not fit the cipher suite";
	case BR_ERR_TOO_LARGE:
	case BR_ERR_LIMIT_EXCEEDED:
		return "message too large";
	default:
		return "protocol error";
	}
}

const char *tls_alert_name(int a)
{
	switch (a) {
	case 10:
		return "unexpected_message";
	case 40:
		return "handshake_failure";
	case 42:
		return "bad_certificate";
	case 46:
		return "certificate_unknown";
	case 48:
		return "unknown_ca";
	case 47:
		return "illegal_parameter";
	case 50:
		return "decode_error";
	case 70:
		return "protocol_version";
	case 71:
		return "insufficient_security";
	case 80:
		return "internal_error";
	case 112:
		return "unrecognized_name";
	default:
		return NULL;
	}
}

/* The engine failed with BearSSL error e: sets t->fail and returns -errno. */
static int tls_engine_error(struct net_tls *t, int e)
{
	const char *h = t->host, *stage = t->established ? "connection" : "handshake";
	struct tls_x509 *x = &t->x509;
	switch (e) {
	case BR_ERR_X509_NOT_TRUSTED:
		if (t->certs_dir)
			return berr_setmsg(
				&t->fail, EPERM,
				"TLS with %s: unknown certificate authority (put the CA certificate in %s/ca.crt)",
				h, t->certs_dir);
		return berr_setmsg(&t->fail, EPERM, "TLS with %s: unknown certificate authority",
				   h);
	case BR_ERR_X509_BAD_SERVER_NAME:
		return berr_setmsg(&t->fail, EPERM, "TLS with %s: name mismatch", h);
	case BR_ERR_X509_EXPIRED:
		if (x->fault == TLS_TIME_EXPIRED)
			return berr_setmsg(&t->fail, EPERM, "TLS with %s: certificate expired", h);
		if (x->fault == TLS_TIME_NOT_YET)
			return berr_setmsg(
				&t->fail, EPERM,
				"TLS with %s: certificate not valid yet: check the device clock",
				h);
		return berr_setmsg(
			&t->fail, EPERM,
			"TLS with %s: certificate expired or not valid yet: check the device clock",
			h);
	}
	if (e >= BR_ERR_X509_OK && e <= BR_ERR_X509_NOT_TRUSTED)
		return berr_setmsg(&t->fail, EPERM,
				   "TLS with %s: certificate rejected: %s (BearSSL error %d)", h,
				   tls_x509_reason(e), e);
	if (e >= BR_ERR_RECV_FATAL_ALERT && e < BR_ERR_SEND_FATAL_ALERT) {
		const char *name = tls_alert_name(e - BR_ERR_RECV_FATAL_ALERT);
		if (name)
			return berr_setmsg(
				&t->fail, EPROTO,
				"TLS with %s: %s failed: server sent alert %s (BearSSL error %d)",
				h, stage, name, e);
		return berr_setmsg(
			&t->fail, EPROTO,
			"TLS with %s: %s failed: server sent alert %d (BearSSL error %d)", h, stage,
			e - BR_ERR_RECV_FATAL_ALERT, e);
	}
	return berr_setmsg(&t->fail, EPROTO, "TLS with %s: %s failed: %s (BearSSL error %d)", h,
			   stage, tls_ssl_reason(e), e);
}

static int tls_io_error(struct net_tls *t, int rc, const char *what)
{
	if (rc == -ETIMEDOUT)
		return berr_setmsg(&t->fail, ETIMEDOUT, "TLS with %s: timed out", t->host);
	return berr_set(&t->fail, -rc, "TLS with %s: %s", t->host, what);
}

static int tls_failed(struct net_tls *t, struct berr *err)
{
	if (err)
		*err = t->fail;
	return -t->fail.code;
}

/* --- I/O ---------------------------------------------------------------------- */

/* Moves bytes between buf and the socket: the count, 0 at EOF, or -errno.
 * MSG_DONTWAIT makes a blocking socket behave like a non-blocking one, so
 * that poll() bounds every wait. */
static ssize_t tls_io(struct net_tls *t, bool out, unsigned char *buf, size_t len)
{
	for (;;) {
		ssize_t n = out ? send(t->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL)
				: recv(t->fd, buf, len, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int rc = net_wait_fd(t->fd, out ? POLLOUT : POLLIN, t->timeout_ms);
		if (rc < 0)
			return rc;
	}
}

/* Moves records between the engine and the socket until the engine's state
 * has one of the want bits. Returns that state, 0 when the stream ended
 * cleanly, or -errno with t->fail set. */
static int tls_pump(struct net_tls *t, unsigned want)
{
	br_ssl_engine_context *eng = &t->cc.eng;
	for (;;) {
		unsigned st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED) {
			int e = br_ssl_engine_last_error(eng);
			return e == BR_ERR_OK ? 0 : tls_engine_error(t, e);
		}
		if (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))
			t->established = true;
		unsigned char *buf;
		size_t len;
		if (st & BR_SSL_SENDREC) {
			buf = br_ssl_engine_sendrec_buf(eng, &len);
			ssize_t n = tls_io(t, true, buf, len);
			if (n > 0) {
				br_ssl_engine_sendrec_ack(eng, (size_t)n);
				continue;
			}
			/* A failing engine's last words (an alert) may not get out:
			 * its error says more than ours. */
			if (br_ssl_engine_last_error(eng) != BR_ERR_OK)
				return tls_engine_error(t, br_ssl_engine_last_error(eng));
			/* Reading, the only record we send is the reply to the
			 * server's close_notify: the server may be gone already. */
			if (t->established && (want & BR_SSL_RECVAPP) && n != -ETIMEDOUT) {
				t->eof = true;
				return 0;
			}
			return tls_io_error(t, n < 0 ? (int)n : -EPIPE, "send");
		}
		if (st & want)
			return (int)st;
		if (st & BR_SSL_RECVREC) {
			buf = br_ssl_engine_recvrec_buf(eng, &len);
			ssize_t n = tls_io(t, false, buf, len);
			if (n > 0) {
				br_ssl_engine_recvrec_ack(eng, (size_t)n);
				continue;
			}
			if (n < 0)
				return tls_io_error(t, (int)n, "receive");
			if (!t->established)
				return berr_setmsg(
					&t->fail, ECONNRESET,
					"TLS with %s: handshake failed: connection closed by the server",
					t->host);
			/* EOF without close_notify ends the stream like one; the
			 * HTTP framing (Content-Length, chunked) catches a cut body. */
			t->eof = true;
			return 0;
		}
		if ((want & BR_SSL_RECVAPP) && (st & BR_SSL_SENDAPP)) {
			br_ssl_engine_flush(eng, 0);
			if (br_ssl_engine_current_state(eng) != st)
				continue;
		}
		return berr_setmsg(&t->fail, EPROTO, "TLS with %s: engine stalled in state %#x",
				   t->host, st);
	}
}

/* --- API ---------------------------------------------------------------------- */

static void tls_release(struct net_tls *t)
{
	tls_anchors_put(t->sys);
	tls_anchors_put(t->own);
	free(t->ta);
	free(t->certs_dir);
	free(t->iobuf);
	free(t);
}

struct net_tls *net_tls_new(int fd, const char *host, const char *hostport,
			    const struct net_tls_trust *trust, int timeout_ms, struct berr *err)
{
	static const struct net_tls_trust defaults = { TLS_CA_BUNDLE, TLS_CERTS_D };
	unsigned char seed[TLS_SEED_LEN];
	if (!trust)
		trust = &defaults;
	size_t hl = strlen(host);
	if (hl == 0 || hl > 255) {
		berr_setmsg(err, EINVAL, "TLS with %.64s: host name empty or too long", host);
		return NULL;
	}
	struct net_tls *t = calloc(1, sizeof(*t));
	if (!t) {
		berr_set(err, ENOMEM, "TLS with %s", host);
		return NULL;
	}
	t->fd = fd;
	t->timeout_ms = timeout_ms;
	memcpy(t->host, host, hl + 1);
	t->iobuf = malloc(BR_SSL_BUFSIZE_BIDI);
	if (!t->iobuf) {
		berr_set(err, ENOMEM, "TLS with %s", host);
		goto fail;
	}
	/* RFC 6066 forbids IP literals in SNI: for an IP host we send none,
	 * and the name check looks only at the certificate's iPAddress
	 * entries (not dNSName nor the CN), as browsers and Go do. */
	struct tls_x509 *x = &t->x509;
	if (inet_pton(AF_INET, host, x->ip) == 1)
		x->ip_len = 4;
	else if (inet_pton(AF_INET6, host, x->ip) == 1)
		x->ip_len = 16;
	x->is_ip = x->ip_len > 0;

	if (tls_trust(t, hostport, trust, err) < 0) {
		berr_prefix(err, "TLS with %s", host);
		goto fail;
	}
	tls_engines(t);
	int rc = tls_seed(seed, sizeof(seed));
	if (rc < 0) {
		berr_set(err, -rc, "TLS with %s: getrandom", host);
		goto fail;
	}
	br_ssl_engine_inject_entropy(&t->cc.eng, seed, sizeof(seed));
	explicit_bzero(seed, sizeof(seed));
	if (!br_ssl_client_reset(&t->cc, x->is_ip ? NULL : t->host, 0)) {
		tls_engine_error(t, br_ssl_engine_last_error(&t->cc.eng));
		tls_failed(t, err);
		goto fail;
	}
	return t;
fail:
	tls_release(t);
	return NULL;
}

ssize_t net_tls_read(struct net_tls *t, void *buf, size_t len, struct berr *err)
{
	if (t->fail.code)
		return tls_failed(t, err);
	if (t->eof || len == 0)
		return 0;
	int st = tls_pump(t, BR_SSL_RECVAPP);
	if (st < 0)
		return tls_failed(t, err);
	if (st == 0)
		return 0;
	size_t alen;
	unsigned char *p = br_ssl_engine_recvapp_buf(&t->cc.eng, &alen);
	if (alen > len)
		alen = len;
	memcpy(buf, p, alen);
	br_ssl_engine_recvapp_ack(&t->cc.eng, alen);
	return (ssize_t)alen;
}

int net_tls_write_all(struct net_tls *t, const void *buf, size_t len, struct berr *err)
{
	const unsigned char *src = buf;
	br_ssl_engine_context *eng = &t->cc.eng;
	bool flushed = false;
	for (;;) {
		if (t->fail.code)
			return tls_failed(t, err);
		int st = t->eof ? 0 : tls_pump(t, BR_SSL_SENDAPP);
		if (st < 0)
			return tls_failed(t, err);
		if (st == 0) {
			t->eof = true;
			return berr_setmsg(err, EPIPE,
					   "TLS with %s: connection closed by the server", t->host);
		}
		if (len == 0) {
			if (flushed)
				return 0;
			/* makes a record of what is buffered; the next pump sends it */
			br_ssl_engine_flush(eng, 0);
			flushed = true;
			continue;
		}
		size_t alen;
		unsigned char *p = br_ssl_engine_sendapp_buf(eng, &alen);
		if (alen > len)
			alen = len;
		memcpy(p, src, alen);
		br_ssl_engine_sendapp_ack(eng, alen);
		src += alen;
		len -= alen;
	}
}

void net_tls_free(struct net_tls *t)
{
	if (!t)
		return;
	br_ssl_engine_context *eng = &t->cc.eng;
	if (t->established && !t->fail.code && !t->eof) {
		/* close_notify, best effort: whatever the socket takes now */
		br_ssl_engine_close(eng);
		while (br_ssl_engine_current_state(eng) & BR_SSL_SENDREC) {
			size_t len;
			unsigned char *buf = br_ssl_engine_sendrec_buf(eng, &len);
			ssize_t n = send(t->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n <= 0)
				break;
			br_ssl_engine_sendrec_ack(eng, (size_t)n);
		}
	}
	tls_release(t);
}
