/* Streaming tar reader (see tar.h): ustar, GNU and pax headers, fed any
 * chunks. POSIX.1-2017 pax "ustar Interchange Format", "pax Extended Header". */
#include "tar.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { ST_HDR, ST_DATA, ST_META, ST_PAD, ST_END, ST_FAIL };

/* Overrides collected from meta headers for the next entry. */
#define HAVE_L 0x01u      /* GNU long name */
#define HAVE_K 0x02u      /* GNU long link */
#define HAVE_X 0x04u      /* a pax 'x' header */
#define HAVE_PATH 0x08u   /* pax path */
#define HAVE_LINK 0x10u   /* pax linkpath */
#define HAVE_SIZE 0x20u   /* pax size */
#define HAVE_UID 0x40u    /* pax uid */
#define HAVE_GID 0x80u    /* pax gid */
#define HAVE_MTIME 0x100u /* pax mtime */

#define XATTR_PREFIX "SCHILY.xattr."
#define SPARSE_PREFIX "GNU.sparse."

/* The ustar header block; GNU reuses prefix for other fields. */
struct ustar {
	char name[100], mode[8], uid[8], gid[8], size[12], mtime[12], chksum[8];
	char type, link[100], magic[6], version[2], uname[32], gname[32];
	char devmajor[8], devminor[8], prefix[155], pad[12];
};
_Static_assert(sizeof(struct ustar) == TAR_BLOCK, "ustar header is one block");

void tar_quote(char *out, size_t cap, const char *s)
{
	size_t o = 0, max = cap - 1;
	for (; *s && o < max; s++)
		out[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	if (*s && max >= 3) {
		memcpy(out + max - 3, "...", 3);
		o = max;
	}
	out[o] = '\0';
}

static int fail(struct tar_reader *r, struct berr *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct tar_reader *r, struct berr *err, int code, const char *fmt, ...)
{
	char why[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	r->state = ST_FAIL;
	return berr_setmsg(err, code, "tar header at byte %llu: %s", r->hdr_off, why);
}

/* A header number: octal digits between optional spaces and NULs, or GNU
 * base-256 (top bit of the first byte set, then a two's complement value
 * whose sign is the next bit). Returns 0, or -1 when malformed or beyond
 * 63 bits. */
static int parse_num(const char *field, size_t n, long long *out)
{
	const unsigned char *b = (const unsigned char *)field;
	unsigned long long x = 0;
	if (b[0] & 0x80) {
		unsigned char inv = b[0] & 0x40 ? 0xff : 0;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = b[i] ^ inv;
			if (i == 0)
				c &= 0x7f;
			if (x >> 55)
				return -1;
			x = x << 8 | c;
		}
		*out = inv ? ~(long long)x : (long long)x;
		return 0;
	}
	size_t i = 0, end = n;
	while (i < end && (b[i] == ' ' || b[i] == '\0'))
		i++;
	while (end > i && (b[end - 1] == ' ' || b[end - 1] == '\0'))
		end--;
	for (; i < end; i++) {
		if (b[i] < '0' || b[i] > '7' || x >> 60)
			return -1;
		x = x * 8 + (b[i] - '0');
	}
	*out = (long long)x;
	return 0;
}

static bool checksum_ok(const unsigned char *blk)
{
	const struct ustar *h = (const struct ustar *)blk;
	long long want;
	if (((unsigned char)h->chksum[0] & 0x80) || parse_num(h->chksum, sizeof(h->chksum), &want))
		return false;
	/* The sum is over the block with the checksum field as spaces; old
	 * writers summed signed chars, so both are accepted. */
	long long usum = 0, ssum = 0;
	for (size_t i = 0; i < TAR_BLOCK; i++) {
		unsigned char c = blk[i];
		if (i >= offsetof(struct ustar, chksum) && i < offsetof(struct ustar, type))
			c = ' ';
		usum += c;
		ssum += (signed char)c;
	}
	return want == usum || want == ssum;
}

static bool all_zero(const unsigned char *blk)
{
	for (size_t i = 0; i < TAR_BLOCK; i++)
		if (blk[i])
			return false;
	return true;
}

static unsigned int padding(unsigned long long size)
{
	return (unsigned int)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
}

/* Decimal pax numbers: digits only, below 2^63. */
static int parse_dec(const char *s, size_t n, unsigned long long *out)
{
	unsigned long long x = 0;
	if (!n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || x > (0x7fffffffffffffffULL - 9) / 10)
			return -1;
		x = x * 10 + (unsigned long long)(s[i] - '0');
	}
	*out = x;
	return 0;
}

/* pax times: [-]seconds[.fraction]; digits past nanoseconds are dropped. */
static int parse_time(const char *s, size_t n, long long *sec, unsigned int *nsec)
{
	bool neg = n && s[0] == '-';
	if (neg) {
		s++;
		n--;
	}
	const char *dot = memchr(s, '.', n);
	size_t ilen = dot ? (size_t)(dot - s) : n;
	unsigned long long whole;
	if (parse_dec(s, ilen, &whole))
		return -1;
	unsigned int frac = 0;
	if (dot) {
		size_t flen = n - ilen - 1;
		if (!flen)
			return -1;
		for (size_t i = 0; i < flen; i++) {
			char c = dot[1 + i];
			if (c < '0' || c > '9')
				return -1;
			if (i < 9)
				frac = frac * 10 + (unsigned int)(c - '0');
		}
		for (size_t i = flen; i < 9; i++)
			frac *= 10;
	}
	if (!neg) {
		*sec = (long long)whole;
		*nsec = frac;
	} else if (frac) {
		*sec = -(long long)whole - 1;
		*nsec = 1000000000u - frac;
	} else {
		*sec = -(long long)whole;
		*nsec = 0;
	}
	return 0;
}

static int pax_string(struct tar_reader *r, const char *key, const char *val, size_t vlen,
		      char *dst, unsigned int bit, struct berr *err)
{
	if (!vlen || memchr(val, '\0', vlen))
		return fail(r, err, EBADMSG, "pax %s is empty or holds a NUL", key);
	if (vlen > TAR_PATH_MAX)
		return fail(r, err, ENAMETOOLONG, "pax %s longer than %d bytes", key, TAR_PATH_MAX);
	memcpy(dst, val, vlen);
	dst[vlen] = '\0';
	r->have |= bit;
	return 0;
}

static int pax_xattr(struct tar_reader *r, const char *name, const char *val, size_t vlen,
		     struct berr *err)
{
	struct tar_entry *e = &r->entry;
	size_t nlen = strlen(name);
	if (!nlen || nlen > TAR_XATTR_NAME_MAX)
		return fail(r, err, EBADMSG, "pax xattr name empty or longer than %d bytes",
			    TAR_XATTR_NAME_MAX);
	if (e->nxattr >= TAR_XATTR_MAX)
		return fail(r, err, E2BIG, "more than %d xattrs for one entry", TAR_XATTR_MAX);
	if (nlen + 1 + vlen > sizeof(r->xbuf) - r->xused)
		return fail(r, err, E2BIG, "xattrs of one entry over %d bytes", TAR_XATTR_BYTES);
	unsigned char *p = r->xbuf + r->xused;
	memcpy(p, name, nlen + 1);
	memcpy(p + nlen + 1, val, vlen);
	e->xattr[e->nxattr++] = (struct tar_xattr){ (const char *)p, p + nlen + 1, vlen };
	r->xused += nlen + 1 + vlen;
	return 0;
}

/* One complete record "<len> <key>=<value>\n" in rec[0..rneed). */
static int pax_record(struct tar_reader *r, struct berr *err)
{
	char *rec = r->rec, *end = rec + r->rneed - 1;
	if (*end != '\n')
		return fail(r, err, EBADMSG, "pax record does not end in a newline");
	char *key = (char *)memchr(rec, ' ', r->rneed) + 1;
	char *eq = memchr(key, '=', (size_t)(end - key));
	if (!eq || eq == key || memchr(key, '\0', (size_t)(eq - key)))
		return fail(r, err, EBADMSG, "malformed pax record");
	*eq = '\0';
	const char *val = eq + 1;
	size_t vlen = (size_t)(end - val);
	unsigned long long num;
	struct tar_entry *e = &r->entry;

	/* Global headers would apply to every later entry; layers have no
	 * use for them, so they are checked for form and otherwise ignored. */
	if (r->meta == 'g')
		return 0;
	if (!strcmp(key, "path"))
		return pax_string(r, key, val, vlen, e->path, HAVE_PATH, err);
	if (!strcmp(key, "linkpath"))
		return pax_string(r, key, val, vlen, e->link, HAVE_LINK, err);
	if (!strcmp(key, "size") || !strcmp(key, "uid") || !strcmp(key, "gid")) {
		if (parse_dec(val, vlen, &num))
			return fail(r, err, EBADMSG, "bad pax %s", key);
		if (key[0] == 's') {
			r->pax_size = num;
			r->have |= HAVE_SIZE;
		} else if (key[0] == 'u') {
			r->pax_uid = num;
			r->have |= HAVE_UID;
		} else {
			r->pax_gid = num;
			r->have |= HAVE_GID;
		}
		return 0;
	}
	if (!strcmp(key, "mtime")) {
		if (parse_time(val, vlen, &r->pax_mtime, &r->pax_nsec))
			return fail(r, err, EBADMSG, "bad pax mtime");
		r->have |= HAVE_MTIME;
		return 0;
	}
	if (!strncmp(key, XATTR_PREFIX, strlen(XATTR_PREFIX)))
		return pax_xattr(r, key + strlen(XATTR_PREFIX), val, vlen, err);
	if (!strncmp(key, SPARSE_PREFIX, strlen(SPARSE_PREFIX)))
		return fail(r, err, ENOTSUP, "sparse files are not supported");
	return 0; /* atime, ctime, uname, gname, comment, vendor keys: unused */
}

static int pax_feed(struct tar_reader *r, const unsigned char *p, size_t n, struct berr *err)
{
	while (n) {
		if (!r->rneed) {
			/* The decimal length, up to its space. */
			char c = (char)*p++;
			n--;
			r->rec[r->rlen++] = c;
			if (c != ' ') {
				if (c < '0' || c > '9' || r->rlen > 10)
					return fail(r, err, EBADMSG, "bad pax record length");
				continue;
			}
			unsigned long long len;
			if (parse_dec(r->rec, r->rlen - 1, &len))
				return fail(r, err, EBADMSG, "bad pax record length");
			if (len > TAR_PAX_RECORD_MAX)
				return fail(r, err, EFBIG, "pax record of %llu bytes, limit %d",
					    len, TAR_PAX_RECORD_MAX);
			if (len < r->rlen + 3)
				return fail(r, err, EBADMSG, "pax record length %llu too short",
					    len);
			r->rneed = (size_t)len;
			continue;
		}
		size_t take = r->rneed - r->rlen;
		if (take > n)
			take = n;
		memcpy(r->rec + r->rlen, p, take);
		r->rlen += take;
		p += take;
		n -= take;
		if (r->rlen == r->rneed) {
			int rc = pax_record(r, err);
			if (rc < 0)
				return rc;
			r->rlen = r->rneed = 0;
		}
	}
	return 0;
}

static int meta_consume(struct tar_reader *r, const unsigned char *p, size_t n, struct berr *err)
{
	if (r->meta == 'x' || r->meta == 'g')
		return pax_feed(r, p, n, err);
	char *dst = r->meta == 'L' ? r->entry.path : r->entry.link;
	memcpy(dst + (r->meta_len - r->left), p, n); /* meta_len <= TAR_PATH_MAX + 1 */
	return 0;
}

static int meta_finish(struct tar_reader *r, struct berr *err)
{
	if (r->meta == 'x' || r->meta == 'g') {
		if (r->rlen)
			return fail(r, err, EBADMSG, "pax header ends inside a record");
		return 0;
	}
	char *s = r->meta == 'L' ? r->entry.path : r->entry.link;
	const char *nul = memchr(s, '\0', (size_t)r->meta_len);
	size_t len = nul ? (size_t)(nul - s) : (size_t)r->meta_len;
	const char *what = r->meta == 'L' ? "GNU long name" : "GNU long link";
	if (len > TAR_PATH_MAX)
		return fail(r, err, ENAMETOOLONG, "%s longer than %d bytes", what, TAR_PATH_MAX);
	if (!len)
		return fail(r, err, EBADMSG, "empty %s", what);
	for (size_t i = len; i < r->meta_len; i++)
		if (s[i])
			return fail(r, err, EBADMSG, "%s holds a NUL", what);
	s[len] = '\0';
	return 0;
}

static int start_meta(struct tar_reader *r, const struct ustar *h, struct berr *err)
{
	char t = h->type;
	long long size;
	if (parse_num(h->size, sizeof(h->size), &size) || size < 0)
		return fail(r, err, EBADMSG, "bad size field");
	unsigned long long max = t == 'L' || t == 'K' ? TAR_PATH_MAX + 1 : TAR_PAX_HEADER_MAX;
	const char *what = t == 'L'   ? "GNU long name"
			   : t == 'K' ? "GNU long link"
			   : t == 'x' ? "pax header"
				      : "pax global header";
	if ((unsigned long long)size > max)
		return fail(r, err, t == 'L' || t == 'K' ? ENAMETOOLONG : EFBIG,
			    "%s of %lld bytes, limit %llu", what, size, max);
	unsigned int bit = t == 'L' ? HAVE_L : t == 'K' ? HAVE_K : t == 'x' ? HAVE_X : 0;
	if (r->have & bit)
		return fail(r, err, EBADMSG, "second %s for one entry", what);
	r->have |= bit;
	if (t != 'g')
		r->pending = true;
	r->meta = t;
	r->meta_len = r->left = (unsigned long long)size;
	r->pad = padding((unsigned long long)size);
	r->rlen = r->rneed = 0;
	r->state = ST_META;
	return TAR_EV_MORE;
}

static int header_fields(struct tar_reader *r, const struct ustar *h, long long v[5],
			 struct berr *err)
{
	static const char *const names[] = { "mode", "uid", "gid", "size", "mtime" };
	const char *f[] = { h->mode, h->uid, h->gid, h->size, h->mtime };
	const size_t n[] = { sizeof(h->mode), sizeof(h->uid), sizeof(h->gid), sizeof(h->size),
			     sizeof(h->mtime) };
	for (int i = 0; i < 5; i++)
		if (parse_num(f[i], n[i], &v[i]) || (i < 4 && v[i] < 0))
			return fail(r, err, EBADMSG, "bad %s field", names[i]);
	return 0;
}

static int start_entry(struct tar_reader *r, const struct ustar *h, struct berr *err)
{
	struct tar_entry *e = &r->entry;
	bool ustar = !memcmp(h->magic, "ustar\0", 6);
	bool gnu = !memcmp(h->magic, "ustar ", 6) && !memcmp(h->version, " \0", 2);
	long long v[5], maj = 0, min = 0;
	int rc = header_fields(r, h, v, err);
	if (rc < 0)
		return rc;
	if ((ustar || gnu) && (h->type == TAR_CHR || h->type == TAR_BLK) &&
	    (parse_num(h->devmajor, sizeof(h->devmajor), &maj) || maj < 0 ||
	     parse_num(h->devminor, sizeof(h->devminor), &min) || min < 0))
		return fail(r, err, EBADMSG, "bad device number field");

	if ((r->have & HAVE_L) && (r->have & HAVE_PATH))
		return fail(r, err, EBADMSG, "entry has both a GNU long name and a pax path");
	if ((r->have & HAVE_K) && (r->have & HAVE_LINK))
		return fail(r, err, EBADMSG, "entry has both a GNU long link and a pax linkpath");
	if (!(r->have & (HAVE_L | HAVE_PATH))) {
		size_t nl = strnlen(h->name, sizeof(h->name)), pl = 0;
		if (ustar && h->prefix[0])
			/* star puts a trailer in the prefix field's last bytes */
			pl = strnlen(h->prefix,
				     memcmp(r->blk + 508, "tar\0", 4) ? sizeof(h->prefix) : 131);
		memcpy(e->path, h->prefix, pl);
		if (pl)
			e->path[pl++] = '/';
		memcpy(e->path + pl, h->name, nl);
		e->path[pl + nl] = '\0';
	}
	if (!(r->have & (HAVE_K | HAVE_LINK))) {
		size_t ll = strnlen(h->link, sizeof(h->link));
		memcpy(e->link, h->link, ll);
		e->link[ll] = '\0';
	}

	char t = h->type;
	switch (t) {
	case '\0':
		t = e->path[0] && e->path[strlen(e->path) - 1] == '/' ? TAR_DIR : TAR_REG;
		break;
	case '7':
		t = TAR_REG;
		break;
	case TAR_REG:
	case TAR_LINK:
	case TAR_SYMLINK:
	case TAR_CHR:
	case TAR_BLK:
	case TAR_DIR:
	case TAR_FIFO:
		break;
	case 'S':
		return fail(r, err, ENOTSUP, "GNU sparse files are not supported");
	default:
		if (t > ' ' && t < 0x7f)
			return fail(r, err, ENOTSUP, "unsupported entry type '%c'", t);
		return fail(r, err, ENOTSUP, "unsupported entry type 0x%02x", (unsigned char)t);
	}
	e->type = t;
	e->mode = (unsigned int)v[0] & 07777;
	e->uid = r->have & HAVE_UID ? r->pax_uid : (unsigned long long)v[1];
	e->gid = r->have & HAVE_GID ? r->pax_gid : (unsigned long long)v[2];
	/* Data follows regular files only, whatever the size field says of
	 * other types (as Go's archive/tar reads them). */
	e->size = t != TAR_REG ? 0 : r->have & HAVE_SIZE ? r->pax_size : (unsigned long long)v[3];
	e->mtime = r->have & HAVE_MTIME ? r->pax_mtime : v[4];
	e->mtime_nsec = r->have & HAVE_MTIME ? r->pax_nsec : 0;
	e->devmajor = (unsigned long long)maj;
	e->devminor = (unsigned long long)min;
	if (t != TAR_LINK && t != TAR_SYMLINK)
		e->link[0] = '\0';
	r->pending = false;
	r->left = e->size;
	r->pad = padding(e->size);
	r->state = ST_DATA;
	return TAR_EV_ENTRY;
}

static int parse_block(struct tar_reader *r, struct berr *err)
{
	const struct ustar *h = (const struct ustar *)r->blk;
	if (all_zero(r->blk)) {
		if (r->pending)
			return fail(r, err, EBADMSG, "end of archive after a pax or GNU header");
		if (r->zero) {
			r->state = ST_END;
			return TAR_EV_END;
		}
		r->zero = true;
		return TAR_EV_MORE;
	}
	if (r->zero)
		return fail(r, err, EBADMSG, "header after a zero block");
	if (!checksum_ok(r->blk))
		return fail(r, err, EBADMSG, "checksum mismatch (not a tar archive?)");
	if (!r->pending) {
		/* The previous entry is done: forget its overrides. */
		r->have = 0;
		r->entry.nxattr = 0;
		r->xused = 0;
	}
	switch (h->type) {
	case 'x':
	case 'g':
	case 'L':
	case 'K':
		return start_meta(r, h, err);
	}
	return start_entry(r, h, err);
}

void tar_reader_init(struct tar_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->state = ST_HDR;
}

static void consume(struct tar_reader *r, const unsigned char **in, size_t *inlen, size_t n)
{
	*in += n;
	*inlen -= n;
	r->off += n;
}

int tar_reader_next(struct tar_reader *r, const unsigned char **in, size_t *inlen,
		    const unsigned char **data, size_t *dlen, struct berr *err)
{
	for (;;) {
		size_t n = *inlen;
		int rc;
		switch (r->state) {
		case ST_HDR:
			if (n > TAR_BLOCK - r->blen)
				n = TAR_BLOCK - r->blen;
			memcpy(r->blk + r->blen, *in, n);
			consume(r, in, inlen, n);
			r->blen += n;
			if (r->blen < TAR_BLOCK)
				return TAR_EV_MORE;
			r->blen = 0;
			r->hdr_off = r->off - TAR_BLOCK;
			rc = parse_block(r, err);
			if (rc != TAR_EV_MORE)
				return rc;
			break;
		case ST_DATA:
			if (!r->left) {
				r->state = ST_PAD;
				return TAR_EV_DONE;
			}
			if (!n)
				return TAR_EV_MORE;
			if (n > r->left)
				n = (size_t)r->left;
			*data = *in;
			*dlen = n;
			consume(r, in, inlen, n);
			r->left -= n;
			return TAR_EV_DATA;
		case ST_META:
			if (!r->left) {
				rc = meta_finish(r, err);
				if (rc < 0)
					return rc;
				r->state = ST_PAD;
				break;
			}
			if (!n)
				return TAR_EV_MORE;
			if (n > r->left)
				n = (size_t)r->left;
			rc = meta_consume(r, *in, n, err);
			consume(r, in, inlen, n);
			r->left -= n;
			if (rc < 0)
				return rc;
			break;
		case ST_PAD:
			if (!r->pad) {
				r->state = ST_HDR;
				break;
			}
			if (!n)
				return TAR_EV_MORE;
			if (n > r->pad)
				n = r->pad;
			consume(r, in, inlen, n);
			r->pad -= (unsigned int)n;
			break;
		case ST_END:
			consume(r, in, inlen, n);
			return TAR_EV_MORE;
		default:
			return berr_setmsg(err, EINVAL, "tar reader used after an error");
		}
	}
}

int tar_reader_end(const struct tar_reader *r, struct berr *err)
{
	if (r->state == ST_END)
		return 0;
	if (r->state == ST_FAIL)
		return berr_setmsg(err, EINVAL, "tar reader used after an error");
	bool between = r->state == ST_HDR || (r->state == ST_PAD && !r->pad);
	if (between && !r->blen && !r->pending)
		return 0;
	if (r->state == ST_DATA) {
		char q[100];
		tar_quote(q, sizeof(q), r->entry.path);
		return berr_setmsg(err, EBADMSG,
				   "tar archive truncated at byte %llu, in entry '%s'", r->off, q);
	}
	return berr_setmsg(err, EBADMSG, "tar archive truncated at byte %llu", r->off);
}

/* --- the layer stream ---------------------------------------------------------- */

enum { MODE_DETECT, MODE_TAR, MODE_GZIP };

void tar_stream_init(struct tar_stream *s, tar_stream_fn fn, void *ctx)
{
	memset(s, 0, offsetof(struct tar_stream, out));
	s->fn = fn;
	s->ctx = ctx;
	store_sha256_init(&s->sha);
	tar_reader_init(&s->tar);
}

static int feed_tar(struct tar_stream *s, const unsigned char *p, size_t n, struct berr *err)
{
	s->bytes_tar += n;
	store_sha256_update(&s->sha, p, n);
	for (;;) {
		const unsigned char *d = NULL;
		size_t dlen = 0;
		int rc = tar_reader_next(&s->tar, &p, &n, &d, &dlen, err);
		if (rc == TAR_EV_MORE)
			return 0;
		if (rc == TAR_EV_ENTRY || rc == TAR_EV_DATA || rc == TAR_EV_DONE)
			rc = s->fn(s->ctx, rc, d, dlen, err);
		else if (rc == TAR_EV_END)
			rc = 0;
		if (rc < 0)
			return rc;
	}
}

static int feed_gzip(struct tar_stream *s, const unsigned char *p, size_t n, struct berr *err)
{
	z_stream *zs = &s->zs;
	while (n) {
		/* avail_in is 32 bits */
		uInt chunk = n > (1u << 30) ? 1u << 30 : (uInt)n;
		zs->next_in = (Bytef *)p;
		zs->avail_in = chunk;
		p += chunk;
		n -= chunk;
		for (;;) {
			if (s->gz_end) {
				if (!zs->avail_in)
					break;
				/* Another member of a concatenated stream. */
				if (inflateReset(zs) != Z_OK)
					return berr_setmsg(err, EINVAL, "layer gzip: reset failed");
				s->gz_end = false;
			}
			zs->next_out = s->out;
			zs->avail_out = sizeof(s->out);
			int z = inflate(zs, Z_NO_FLUSH);
			size_t got = sizeof(s->out) - zs->avail_out;
			if (got) {
				int rc = feed_tar(s, s->out, got, err);
				if (rc < 0)
					return rc;
			}
			if (z == Z_STREAM_END) {
				s->gz_end = true;
				continue;
			}
			if (z == Z_OK && (zs->avail_in || !zs->avail_out))
				continue;
			if (z == Z_OK || (z == Z_BUF_ERROR && !zs->avail_in))
				break; /* all input used */
			if (z == Z_MEM_ERROR)
				return berr_set(err, ENOMEM, "layer gzip");
			return berr_setmsg(err, EBADMSG, "layer gzip stream: %s",
					   zs->msg ? zs->msg : "corrupt");
		}
	}
	return 0;
}

static int detect(struct tar_stream *s, struct berr *err)
{
	const unsigned char *m = s->magic;
	if (s->mlen >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
		/* 15 + 16: gzip framing only, 32 KiB window */
		int z = inflateInit2(&s->zs, 15 + 16);
		if (z != Z_OK)
			return berr_set(err, z == Z_MEM_ERROR ? ENOMEM : EINVAL, "layer gzip");
		s->gz_init = true;
		s->mode = MODE_GZIP;
		return 0;
	}
	if (s->mlen >= 4 && !memcmp(m, "\x28\xb5\x2f\xfd", 4))
		return berr_setmsg(err, ENOTSUP, "zstd layers are not supported");
	if (s->mlen >= 6 && !memcmp(m,
				    "\xfd"
				    "7zXZ\0",
				    6))
		return berr_setmsg(err, ENOTSUP, "xz layers are not supported");
	s->mode = MODE_TAR;
	return 0;
}

static int feed_any(struct tar_stream *s, const unsigned char *p, size_t n, struct berr *err)
{
	return s->mode == MODE_GZIP ? feed_gzip(s, p, n, err) : feed_tar(s, p, n, err);
}

int tar_stream_feed(struct tar_stream *s, const void *buf, size_t len, struct berr *err)
{
	const unsigned char *p = buf;
	size_t n = len;
	if (s->mode == MODE_DETECT) {
		size_t take = TAR_STREAM_MAGIC - s->mlen;
		if (take > n)
			take = n;
		memcpy(s->magic + s->mlen, p, take);
		s->mlen += take;
		p += take;
		n -= take;
		if (s->mlen < TAR_STREAM_MAGIC)
			return 0;
		int rc = detect(s, err);
		if (rc == 0)
			rc = feed_any(s, s->magic, s->mlen, err);
		if (rc < 0)
			return rc;
	}
	return n ? feed_any(s, p, n, err) : 0;
}

int tar_stream_end(struct tar_stream *s, struct berr *err)
{
	if (s->mode == MODE_DETECT && s->mlen) {
		int rc = detect(s, err);
		if (rc == 0)
			rc = feed_any(s, s->magic, s->mlen, err);
		if (rc < 0)
			return rc;
	}
	if (s->mode == MODE_GZIP && !s->gz_end)
		return berr_setmsg(err, EBADMSG, "layer gzip stream: truncated");
	return tar_reader_end(&s->tar, err);
}

void tar_stream_release(struct tar_stream *s)
{
	if (s->gz_init)
		inflateEnd(&s->zs);
	s->gz_init = false;
}

/* --- entry rules ------------------------------------------------------------------ */

int tar_entry_verr(const struct tar_entry *e, struct berr *err, int code, bool sys, const char *fmt,
		   va_list ap)
{
	char why[200], name[100];
	vsnprintf(why, sizeof(why), fmt, ap);
	tar_quote(name, sizeof(name), e->path);
	if (sys)
		return berr_set(err, code, "layer entry '%s': %s", name, why);
	return berr_setmsg(err, code, "layer entry '%s': %s", name, why);
}

int tar_entry_err(const struct tar_entry *e, struct berr *err, int code, bool sys, const char *fmt,
		  ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = tar_entry_verr(e, err, code, sys, fmt, ap);
	va_end(ap);
	return rc;
}

int tar_clean_path(const char *in, char *out)
{
	size_t o = 0;
	const char *p = in;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *c = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - c);
		if (n == 1 && c[0] == '.')
			continue;
		if (n == 2 && c[0] == '.' && c[1] == '.') {
			if (!o)
				return -EPERM;
			while (o && out[o - 1] != '/')
				o--;
			if (o)
				o--;
			continue;
		}
		if (o)
			out[o++] = '/';
		memcpy(out + o, c, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

int tar_check_entry(const struct tar_entry *e, struct berr *err)
{
	if (e->uid > 0xfffffffeULL || e->gid > 0xfffffffeULL)
		return tar_entry_err(e, err, EOVERFLOW, false, "owner %llu:%llu out of range",
				     e->uid, e->gid);
	for (unsigned int i = 0; i < e->nxattr; i++) {
		const char *n = e->xattr[i].name;
		if (has_prefix(n, "trusted.overlay.") || has_prefix(n, "user.overlay."))
			return tar_entry_err(e, err, EPERM, false,
					     "xattr %.64s is reserved for overlayfs", n);
	}
	return 0;
}

int tar_classify(const struct tar_entry *e, const char *path, const char *base, enum tar_kind *kind,
		 struct berr *err)
{
	for (const char *c = path; c != base; c = strchr(c, '/') + 1) {
		if (has_prefix(c, TAR_WH_META)) {
			*kind = TAR_KIND_SKIP;
			return 0;
		}
		if (has_prefix(c, TAR_WH_PREFIX))
			return tar_entry_err(e, err, EINVAL, false,
					     "whiteout name used as a directory");
	}
	*kind = TAR_KIND_NORMAL;
	if (!strcmp(base, TAR_WH_OPAQUE))
		*kind = TAR_KIND_OPAQUE;
	else if (has_prefix(base, TAR_WH_META))
		*kind = TAR_KIND_SKIP;
	else if (has_prefix(base, TAR_WH_PREFIX))
		*kind = TAR_KIND_WHITEOUT;
	if (*kind != TAR_KIND_OPAQUE && *kind != TAR_KIND_WHITEOUT)
		return 0;
	if (e->type != TAR_REG && e->type != TAR_LINK)
		return tar_entry_err(e, err, EINVAL, false,
				     "whiteout entry must be a regular file, not type '%c'",
				     e->type);
	const char *victim = base + strlen(TAR_WH_PREFIX);
	if (*kind == TAR_KIND_WHITEOUT &&
	    (!*victim || !strcmp(victim, ".") || !strcmp(victim, "..")))
		return tar_entry_err(e, err, EPERM, false,
				     "whiteout names no entry of its directory");
	return 0;
}
