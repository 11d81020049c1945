/* A small tar writer for the unpacker's and the squashfs writer's tests:
 * entries of every type, PAX and GNU long names, gzip, and the digests the
 * store checks. Header-only (static functions): included by
 * test_unpack.c and test_squashfs.c. */
#ifndef BERTH_TEST_TARSTREAM_H
#define BERTH_TEST_TARSTREAM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "store/digest.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

#define MT 1600000000LL /* mtime of most entries */

/* --- a small tar writer ------------------------------------------------------- */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		unsigned char *p = realloc(b->p, cap);
		if (!p)
			abort();
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put_zeros(struct buf *b, size_t n)
{
	static const unsigned char z[512];
	while (n) {
		size_t k = n < sizeof(z) ? n : sizeof(z);
		put(b, z, k);
		n -= k;
	}
}

static void pad(struct buf *b)
{
	put_zeros(b, (512 - b->len % 512) % 512);
}

static void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* One header's fields; zero values mean the usual. */
struct th {
	const char *name;
	char type;
	unsigned int mode;
	unsigned long long uid, gid, size;
	long long mtime;
	const char *link;
	unsigned int maj, min;
	const char *prefix;
	bool b256;       /* uid, gid, size, mtime in GNU base-256 */
	bool signed_sum; /* checksum over signed chars */
	bool gnu;        /* GNU magic */
	bool v7;         /* no magic */
};

static void put_octal(unsigned char *f, size_t n, unsigned long long v)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%0*llo", (int)(n - 1), v);
	memcpy(f, tmp, n - 1);
	f[n - 1] = '\0';
}

static void put_b256(unsigned char *f, size_t n, long long v)
{
	for (size_t i = n; i-- > 0;) {
		f[i] = (unsigned char)(v & 0xff);
		v >>= 8; /* arithmetic: keeps the sign */
	}
	f[0] |= 0x80;
}

static void put_str(unsigned char *f, size_t n, const char *s)
{
	size_t l = strlen(s);
	memcpy(f, s, l < n ? l : n);
}

static void header(struct buf *b, const struct th *h)
{
	unsigned char blk[512];
	memset(blk, 0, sizeof(blk));
	put_str(blk, 100, h->name);
	put_octal(blk + 100, 8, h->mode ? h->mode : 0644);
	if (h->b256) {
		put_b256(blk + 108, 8, (long long)h->uid);
		put_b256(blk + 116, 8, (long long)h->gid);
		put_b256(blk + 124, 12, (long long)h->size);
		put_b256(blk + 136, 12, h->mtime);
	} else {
		put_octal(blk + 108, 8, h->uid);
		put_octal(blk + 116, 8, h->gid);
		put_octal(blk + 124, 12, h->size);
		put_octal(blk + 136, 12, (unsigned long long)(h->mtime ? h->mtime : MT));
	}
	blk[156] = (unsigned char)h->type;
	if (h->link)
		put_str(blk + 157, 100, h->link);
	if (h->gnu)
		memcpy(blk + 257, "ustar  ", 8);
	else if (!h->v7)
		memcpy(blk + 257,
		       "ustar\0"
		       "00",
		       8);
	if (!h->v7) {
		put_str(blk + 265, 32, "root");
		put_str(blk + 297, 32, "root");
		put_octal(blk + 329, 8, h->maj);
		put_octal(blk + 337, 8, h->min);
	}
	if (h->prefix)
		put_str(blk + 345, 155, h->prefix);
	memset(blk + 148, ' ', 8);
	long sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h->signed_sum ? (signed char)blk[i] : blk[i];
	char ck[8];
	snprintf(ck, sizeof(ck), "%06lo", (unsigned long)sum);
	memcpy(blk + 148, ck, 7);
	put(b, blk, sizeof(blk));
}

static void t_pax(struct buf *b, char type, struct buf *r);
static void pax_str(struct buf *r, const char *key, const char *val);

/* A member; names too long for the header go in a pax record first. */
static void entry(struct buf *b, struct th h, const void *data, size_t len)
{
	struct buf r = { 0 };
	if (strlen(h.name) > 100)
		pax_str(&r, "path", h.name);
	if (h.link && strlen(h.link) > 100)
		pax_str(&r, "linkpath", h.link);
	if (r.len)
		t_pax(b, 'x', &r);
	header(b, &h);
	put(b, data, len);
	pad(b);
}

static void t_file(struct buf *b, const char *name, const char *data, unsigned int mode)
{
	entry(b, (struct th){ .name = name, .type = '0', .mode = mode, .size = strlen(data) }, data,
	      strlen(data));
}

static void t_dir(struct buf *b, const char *name, unsigned int mode)
{
	entry(b, (struct th){ .name = name, .type = '5', .mode = mode }, NULL, 0);
}

static void t_sym(struct buf *b, const char *name, const char *target)
{
	entry(b, (struct th){ .name = name, .type = '2', .mode = 0777, .link = target }, NULL, 0);
}

static void t_hard(struct buf *b, const char *name, const char *target)
{
	entry(b, (struct th){ .name = name, .type = '1', .link = target }, NULL, 0);
}

static void t_end(struct buf *b)
{
	put_zeros(b, 1024);
}

/* "<len> <key>=<value>\n", the length counting itself. */
static void pax_rec(struct buf *r, const char *key, const void *val, size_t vlen)
{
	size_t body = 1 + strlen(key) + 1 + vlen + 1, len = body + 1;
	char num[24];
	for (;;) {
		int d = snprintf(num, sizeof(num), "%zu", len);
		if ((size_t)d + body == len)
			break;
		len = (size_t)d + body;
	}
	put(r, num, strlen(num));
	put(r, " ", 1);
	put(r, key, strlen(key));
	put(r, "=", 1);
	put(r, val, vlen);
	put(r, "\n", 1);
}

static void pax_str(struct buf *r, const char *key, const char *val)
{
	pax_rec(r, key, val, strlen(val));
}

/* A pax header ('x' or 'g') holding the records in r (freed). */
static void t_pax(struct buf *b, char type, struct buf *r)
{
	entry(b, (struct th){ .name = "PaxHeaders/x", .type = type, .size = r->len }, r->p, r->len);
	buf_free(r);
}

/* A GNU long name ('L') or link ('K') record. */
static void t_long(struct buf *b, char type, const char *s)
{
	entry(b,
	      (struct th){
		      .name = "././@LongLink", .type = type, .size = strlen(s) + 1, .gnu = true },
	      s, strlen(s) + 1);
}

/* gzip of in, as `members` concatenated members. */
static void gzip(const struct buf *in, struct buf *out, int members)
{
	size_t part = in->len / (size_t)members + 1;
	for (size_t off = 0; off < in->len || off == 0; off += part) {
		z_stream zs;
		memset(&zs, 0, sizeof(zs));
		if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			abort();
		size_t n = in->len - off < part ? in->len - off : part;
		unsigned char tmp[16384];
		zs.next_in = in->p ? in->p + off : NULL;
		zs.avail_in = (uInt)n;
		int z;
		do {
			zs.next_out = tmp;
			zs.avail_out = sizeof(tmp);
			z = deflate(&zs, Z_FINISH);
			put(out, tmp, sizeof(tmp) - zs.avail_out);
		} while (z == Z_OK);
		deflateEnd(&zs);
		if (!in->len)
			break;
	}
}

static void sha_of(const void *p, size_t n, char out[DIGEST_STR_MAX])
{
	struct store_sha256 h;
	store_sha256_init(&h);
	store_sha256_update(&h, p, n);
	store_sha256_final(&h, out);
}

#pragma GCC diagnostic pop

#endif
