/* Squashfs 4.0 image writer (see squashfs.h): a layer's tar stream in, one
 * zlib-compressed image out. Format: Linux Documentation/filesystems/
 * squashfs.rst and the on-disk structures it names (superblock, metadata
 * blocks, inode, directory, fragment, id and xattr tables), little-endian. */

/* Choices a reader should know:
 * - Entries follow the directory unpacker's rules (unpack.c) on an
 *   in-memory tree instead of a directory, with the shared checks of tar.h:
 *   the same inputs are refused in the same words, later entries replace
 *   earlier ones, hardlinks share an inode, missing parents are made 0755
 *   root:root and marked trusted.berth.implicit (and the root
 *   trusted.berth.fixup), whiteouts become 0/0 character devices and opaque
 *   markers trusted.overlay.opaque=y. The writer keeps what the unpacker
 *   keeps as root: owners, devices, trusted.* xattrs. Squashfs stores only
 *   user.*, trusted.* and security.* xattrs; others are dropped as on a
 *   file system without them, and user.* on symlinks and device nodes are
 *   dropped as the kernel refuses them there.
 * - Times are 32-bit seconds: before 1970 becomes 0, fractions are dropped.
 *   Whiteouts, implicit directories and an unlisted root take the time of
 *   the entry that made them (the newest time for the root): images are
 *   reproducible from the same layer.
 * - Layout: superblock, data and fragment blocks as they arrive, inode
 *   table, directory table, fragment table, id table, xattr tables, zero
 *   padding to 4 KiB for loop devices. Data of entries replaced later stays
 *   in the image, unreferenced.
 * - Memory: one data block, one fragment block and one compressed block
 *   buffer, plus the layer's metadata tree (bounded by the options). The
 *   directory table is spilled to an unlinked file beside the image while
 *   the inode table goes into it, then copied after it.
 * - Directory entries are sorted by strcmp; a directory header starts on
 *   each metadata block, and each such start gets an index entry, so a
 *   lookup reads about one block whatever the directory's size. */
#include "squashfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "board/cleanup.h"
#include "store/tar.h"

#define NONE UINT32_MAX
#define NOREF UINT64_MAX
#define META_SIZE 8192 /* uncompressed metadata block */
#define META_RAW 0x8000u
#define BLOCK_RAW (1u << 24)
#define SB_SIZE 96
#define SQ_MAGIC 0x73717368u
#define SQ_ZLIB 1
#define SQ_NO_XATTRS 0x0200u
#define SQ_NAME_MAX 255
#define SQ_DIR_COUNT 256
#define SQ_MAX_IDS 65536u
#define PAD_TO 4096

/* Basic inode types; the extended ones are 7 more. */
enum { SQ_DIR = 1, SQ_REG, SQ_SYMLINK, SQ_BLKDEV, SQ_CHRDEV, SQ_FIFO };
enum { XA_USER, XA_TRUSTED, XA_SECURITY };

/* A name in the tree. Dead nodes (ino NONE) stay in their parent's list
 * until finish drops them. */
struct sq_node {
	uint32_t parent, child, sibling, hnext;
	uint32_t name; /* arena offset, NUL-terminated */
	uint32_t ino;  /* index in inodes, NONE when removed */
};

struct sq_inode {
	uint8_t type;      /* basic SQ_* */
	uint16_t mode;     /* permission bits (the kernel refuses type bits here) */
	uint16_t uid, gid; /* id table indexes */
	uint32_t mtime;
	uint32_t nlink;  /* names of a non-directory; subdirectories + 2 at finish */
	uint32_t xattrs; /* arena offset of its xattr set, or NONE */
	uint32_t data;   /* arena offset: symlink target, or a file's block list */
	uint32_t rdev;   /* squashfs (Linux new_encode_dev) form */
	uint32_t frag, frag_off;
	uint32_t number; /* inode number, 0 until finish numbers it */
	uint32_t xid;    /* xattr id, NONE without */
	uint64_t size, start, sparse;
	uint64_t ref; /* where written: block << 16 | offset */
};

/* A metadata stream: 8 KiB blocks, each compressed or stored as is behind
 * a 16-bit header, written at base onwards in fd. */
struct sq_meta {
	int fd;
	uint64_t base;
	uint64_t flushed; /* bytes written */
	uint64_t blocks;  /* blocks written */
	size_t fill;
	unsigned char buf[META_SIZE];
};

struct sq_frag {
	uint64_t start;
	uint32_t size;
};

struct store_sqfs {
	int fd;
	int failed;
	bool finished;
	bool zinit;
	bool any_implicit;
	bool root_listed;
	unsigned int bs, blog;
	unsigned int max_entries, max_meta;
	char *path;
	struct store_unpack_stats st;
	z_stream zs;
	uint64_t pos; /* end of what the image holds so far */
	uint32_t mtime_max;

	/* the regular file whose data is streaming in */
	uint32_t cur;
	size_t bfill, ffill;
	unsigned char *block, *frag, *zout;

	struct sq_frag *frags;
	uint32_t nfrags, capfrags;

	struct sq_node *nodes;
	uint32_t nnodes, capnodes;
	struct sq_inode *inodes;
	uint32_t ninodes, capinodes;
	uint32_t *buckets;
	uint32_t nbuckets;
	unsigned char *arena;
	size_t alen, acap;

	uint32_t *ids, *idhash;
	uint32_t nids, capids, idhcap;

	char path_buf[TAR_PATH_MAX + 1];
	char lpath[TAR_PATH_MAX + 1];
	struct tar_stream ts;
};

static int ent_err(struct store_sqfs *s, struct berr *err, int code, bool sys, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int ent_err(struct store_sqfs *s, struct berr *err, int code, bool sys, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = tar_entry_verr(&s->ts.tar.entry, err, code, sys, fmt, ap);
	va_end(ap);
	return rc;
}

/* --- little-endian output ------------------------------------------------------- */

static unsigned char *le16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	return p + 2;
}

static unsigned char *le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	return p + 4;
}

static unsigned char *le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	return p + 8;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* --- writing --------------------------------------------------------------------- */

static int pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	const unsigned char *p = buf;
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int io_err(struct store_sqfs *s, struct berr *err, int rc, const char *what)
{
	return berr_set(err, -rc, "squashfs image %s: %s", s->path, what);
}

/* Compresses in into s->zout; returns the compressed length, or 0 when
 * compression does not make it smaller. */
static size_t squeeze(struct store_sqfs *s, const unsigned char *in, size_t len)
{
	if (deflateReset(&s->zs) != Z_OK)
		return 0;
	s->zs.next_in = (Bytef *)in;
	s->zs.avail_in = (uInt)len;
	s->zs.next_out = s->zout;
	s->zs.avail_out = (uInt)len;
	if (deflate(&s->zs, Z_FINISH) != Z_STREAM_END)
		return 0;
	size_t n = len - s->zs.avail_out;
	return n < len ? n : 0;
}

/* Writes one data or fragment block at s->pos; *size is its entry in the
 * block list (or fragment table). */
static int put_block(struct store_sqfs *s, const unsigned char *b, size_t len, uint32_t *size,
		     struct berr *err)
{
	size_t c = squeeze(s, b, len);
	int rc = pwrite_all(s->fd, c ? s->zout : b, c ? c : len, s->pos);
	if (rc < 0)
		return io_err(s, err, rc, "write");
	s->pos += c ? c : len;
	*size = c ? (uint32_t)c : (uint32_t)len | BLOCK_RAW;
	return 0;
}

static int meta_flush(struct store_sqfs *s, struct sq_meta *m, struct berr *err)
{
	if (!m->fill)
		return 0;
	size_t c = squeeze(s, m->buf, m->fill);
	unsigned char hdr[2];
	le16(hdr, c ? (uint32_t)c : (uint32_t)m->fill | META_RAW);
	int rc = pwrite_all(m->fd, hdr, 2, m->base + m->flushed);
	if (!rc)
		rc = pwrite_all(m->fd, c ? s->zout : m->buf, c ? c : m->fill,
				m->base + m->flushed + 2);
	if (rc < 0)
		return io_err(s, err, rc, "write metadata");
	m->flushed += 2 + (c ? c : m->fill);
	m->blocks++;
	m->fill = 0;
	return 0;
}

/* Appends to the stream; a full block is written at once, so the current
 * position (meta_ref) always lies in the block being filled. */
static int meta_put(struct store_sqfs *s, struct sq_meta *m, const void *p, size_t n,
		    struct berr *err)
{
	const unsigned char *b = p;
	while (n) {
		size_t k = META_SIZE - m->fill < n ? META_SIZE - m->fill : n;
		memcpy(m->buf + m->fill, b, k);
		m->fill += k;
		b += k;
		n -= k;
		if (m->fill == META_SIZE) {
			int rc = meta_flush(s, m, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static uint64_t meta_ref(const struct sq_meta *m)
{
	return m->flushed << 16 | m->fill;
}

/* Uncompressed position in the stream. */
static uint64_t meta_upos(const struct sq_meta *m)
{
	return m->blocks * META_SIZE + m->fill;
}

/* Writes a table (len bytes of entries) as metadata blocks at s->pos, then
 * hdr (hlen bytes) and the array of the blocks' locations; *at is where hdr
 * starts, which the superblock points at. */
static int put_table(struct store_sqfs *s, const unsigned char *data, size_t len,
		     const unsigned char *hdr, size_t hlen, uint64_t *at, struct berr *err)
{
	size_t nblk = (len + META_SIZE - 1) / META_SIZE;
	_cleanup_free_ unsigned char *locs = malloc(hlen + nblk * 8 + 1);
	if (!locs)
		return berr_set(err, ENOMEM, "squashfs image %s", s->path);
	if (hlen)
		memcpy(locs, hdr, hlen);
	struct sq_meta *m = calloc(1, sizeof(*m));
	if (!m)
		return berr_set(err, ENOMEM, "squashfs image %s", s->path);
	m->fd = s->fd;
	int rc = 0;
	for (size_t i = 0; i < nblk && !rc; i++) {
		size_t k = len - i * META_SIZE < META_SIZE ? len - i * META_SIZE : META_SIZE;
		m->base = s->pos;
		m->flushed = 0;
		le64(locs + hlen + i * 8, s->pos);
		memcpy(m->buf, data + i * META_SIZE, k);
		m->fill = k;
		rc = meta_flush(s, m, err);
		s->pos += m->flushed;
	}
	free(m);
	if (rc < 0)
		return rc;
	*at = s->pos;
	rc = pwrite_all(s->fd, locs, hlen + nblk * 8, s->pos);
	if (rc < 0)
		return io_err(s, err, rc, "write");
	s->pos += hlen + nblk * 8;
	return 0;
}

/* --- bounded metadata memory ----------------------------------------------------- */

static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	uint32_t n = *cap ? *cap : 64;
	while (n < need)
		n = n > UINT32_MAX / 2 ? need : n * 2;
	void *q = realloc(*p, (size_t)n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* Reserves n bytes of the arena; returns their offset or -errno. */
static int64_t arena_take(struct store_sqfs *s, size_t n, struct berr *err)
{
	if (n > s->max_meta || s->alen > s->max_meta - n)
		return ent_err(
			s, err, E2BIG, false,
			"the layer's metadata exceeds %u bytes (names, link targets, xattrs, "
			"block lists): too big for the squashfs store",
			s->max_meta);
	if (s->alen + n > s->acap) {
		size_t cap = s->acap ? s->acap : 64 * 1024;
		while (cap < s->alen + n)
			cap *= 2;
		unsigned char *p = realloc(s->arena, cap);
		if (!p)
			return berr_set(err, ENOMEM, "squashfs metadata");
		s->arena = p;
		s->acap = cap;
	}
	int64_t off = (int64_t)s->alen;
	s->alen += n;
	return off;
}

static const char *name_of(const struct store_sqfs *s, uint32_t n)
{
	return (const char *)s->arena + s->nodes[n].name;
}

static uint32_t hash_name(uint32_t parent, const char *name, size_t len)
{
	uint32_t h = 2166136261u ^ (parent * 0x9e3779b1u);
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	return h;
}

static uint32_t lookup(const struct store_sqfs *s, uint32_t parent, const char *name, size_t len)
{
	uint32_t h = hash_name(parent, name, len) & (s->nbuckets - 1);
	for (uint32_t n = s->buckets[h]; n != NONE; n = s->nodes[n].hnext) {
		const char *nm = name_of(s, n);
		if (s->nodes[n].parent == parent && !strncmp(nm, name, len) && !nm[len])
			return n;
	}
	return NONE;
}

static void hash_insert(struct store_sqfs *s, uint32_t n)
{
	const char *nm = name_of(s, n);
	uint32_t h = hash_name(s->nodes[n].parent, nm, strlen(nm)) & (s->nbuckets - 1);
	s->nodes[n].hnext = s->buckets[h];
	s->buckets[h] = n;
}

static int rehash(struct store_sqfs *s)
{
	uint32_t nb = s->nbuckets * 2;
	uint32_t *b = malloc((size_t)nb * sizeof(*b));
	if (!b)
		return -ENOMEM;
	memset(b, 0xff, (size_t)nb * sizeof(*b));
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = nb;
	for (uint32_t n = 0; n < s->nnodes; n++)
		if (s->nodes[n].ino != NONE && n != 0)
			hash_insert(s, n);
	return 0;
}

static bool is_dir(const struct store_sqfs *s, uint32_t n)
{
	return s->inodes[s->nodes[n].ino].type == SQ_DIR;
}

static uint32_t clamp_time(long long t)
{
	return t < 0 ? 0 : t > (long long)UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* The index of id in the id table, adding it. */
static int id_index(struct store_sqfs *s, uint32_t id, uint16_t *out, struct berr *err)
{
	if (s->idhcap < 2 * (s->nids + 1)) {
		uint32_t cap = s->idhcap ? s->idhcap * 2 : 64;
		uint32_t *h = calloc(cap, sizeof(*h));
		if (!h)
			return berr_set(err, ENOMEM, "squashfs ids");
		for (uint32_t i = 0; i < s->nids; i++) {
			uint32_t k = (s->ids[i] * 0x9e3779b1u) & (cap - 1);
			while (h[k])
				k = (k + 1) & (cap - 1);
			h[k] = i + 1;
		}
		free(s->idhash);
		s->idhash = h;
		s->idhcap = cap;
	}
	uint32_t k = (id * 0x9e3779b1u) & (s->idhcap - 1);
	for (; s->idhash[k]; k = (k + 1) & (s->idhcap - 1)) {
		if (s->ids[s->idhash[k] - 1] == id) {
			*out = (uint16_t)(s->idhash[k] - 1);
			return 0;
		}
	}
	if (s->nids == SQ_MAX_IDS)
		return ent_err(s, err, EOVERFLOW, false,
			       "more than %u distinct owners in one layer: too many for squashfs",
			       SQ_MAX_IDS);
	if (grow((void **)&s->ids, &s->capids, s->nids + 1, sizeof(*s->ids)) < 0)
		return berr_set(err, ENOMEM, "squashfs ids");
	s->ids[s->nids] = id;
	s->idhash[k] = ++s->nids;
	*out = (uint16_t)(s->nids - 1);
	return 0;
}

/* A new inode of the given type, owned by uid:gid; returns its index. */
static int64_t new_inode(struct store_sqfs *s, int type, unsigned int mode, uint32_t uid,
			 uint32_t gid, uint32_t mtime, struct berr *err)
{
	if (grow((void **)&s->inodes, &s->capinodes, s->ninodes + 1, sizeof(*s->inodes)) < 0)
		return berr_set(err, ENOMEM, "squashfs inodes");
	struct sq_inode *in = &s->inodes[s->ninodes];
	memset(in, 0, sizeof(*in));
	in->type = (uint8_t)type;
	in->mode = (uint16_t)(mode & 07777);
	in->mtime = mtime;
	in->nlink = 1;
	in->xattrs = in->data = in->frag = in->xid = NONE;
	in->ref = NOREF;
	int rc = id_index(s, uid, &in->uid, err);
	if (!rc)
		rc = id_index(s, gid, &in->gid, err);
	if (rc < 0)
		return rc;
	return s->ninodes++;
}

/* Adds name (len bytes) in parent for inode ino; returns the node. */
static int64_t new_node(struct store_sqfs *s, uint32_t parent, const char *name, size_t len,
			uint32_t ino, struct berr *err)
{
	if (s->nnodes >= s->max_entries)
		return ent_err(
			s, err, E2BIG, false,
			"the layer has more than %u entries: too many for the squashfs store",
			s->max_entries);
	int64_t off = arena_take(s, len + 1, err);
	if (off < 0)
		return off;
	memcpy(s->arena + off, name, len);
	s->arena[off + (int64_t)len] = '\0';
	if (grow((void **)&s->nodes, &s->capnodes, s->nnodes + 1, sizeof(*s->nodes)) < 0 ||
	    (s->nnodes >= s->nbuckets && rehash(s) < 0))
		return berr_set(err, ENOMEM, "squashfs tree");
	uint32_t n = s->nnodes++;
	struct sq_node *nd = &s->nodes[n];
	nd->parent = parent;
	nd->child = NONE;
	nd->name = (uint32_t)off;
	nd->ino = ino;
	nd->sibling = s->nodes[parent].child;
	s->nodes[parent].child = n;
	hash_insert(s, n);
	return n;
}

static void unhash(struct store_sqfs *s, uint32_t n)
{
	const char *nm = name_of(s, n);
	uint32_t h = hash_name(s->nodes[n].parent, nm, strlen(nm)) & (s->nbuckets - 1);
	for (uint32_t *pp = &s->buckets[h]; *pp != NONE; pp = &s->nodes[*pp].hnext) {
		if (*pp == n) {
			*pp = s->nodes[n].hnext;
			return;
		}
	}
}

/* Removes node top and everything below it, in time linear in their number:
 * a directory's list is consumed from its head while it is taken apart. */
static void remove_tree(struct store_sqfs *s, uint32_t top)
{
	uint32_t n = top;
	for (;;) {
		struct sq_node *nd = &s->nodes[n];
		uint32_t c = is_dir(s, n) ? nd->child : NONE;
		if (c != NONE) {
			nd->child = s->nodes[c].sibling;
			if (s->nodes[c].ino != NONE)
				n = c;
			continue;
		}
		struct sq_inode *in = &s->inodes[nd->ino];
		if (in->nlink)
			in->nlink--;
		unhash(s, n);
		nd->ino = NONE;
		if (n == top)
			break;
		n = nd->parent;
	}
}

/* --- xattrs -----------------------------------------------------------------------
 * A set lives in the arena as u32 byte length, u16 count, then per xattr: u8
 * type (XA_*), u8 name length, name without its prefix, u32 value length,
 * value. A changed set is written anew; the old one stays as garbage,
 * counted against the metadata limit. */

struct xa {
	uint8_t type;
	uint8_t nlen;
	const char *name;
	const unsigned char *val;
	uint32_t vlen;
	bool del;
};

static const char *const xa_prefix[] = { "user.", "trusted.", "security." };

/* Splits a full name into type and suffix; false for other namespaces. */
static bool xa_split(const char *full, struct xa *x)
{
	for (unsigned int t = 0; t < 3; t++) {
		size_t pl = strlen(xa_prefix[t]);
		if (!strncmp(full, xa_prefix[t], pl)) {
			x->type = (uint8_t)t;
			x->name = full + pl;
			x->nlen = (uint8_t)strlen(full + pl);
			return true;
		}
	}
	return false;
}

/* Whether x is replaced by a later add (or one of adds[from..n)). */
static bool xa_shadowed(const struct xa *adds, unsigned int from, unsigned int n, uint8_t type,
			uint8_t nlen, const void *name)
{
	for (unsigned int i = from; i < n; i++)
		if (adds[i].type == type && adds[i].nlen == nlen &&
		    !memcmp(adds[i].name, name, nlen))
			return true;
	return false;
}

/* Bytes and count of the old set's entries that survive adds (copied to w
 * when not NULL). */
static size_t xa_keep(const struct store_sqfs *s, uint32_t old, const struct xa *adds,
		      unsigned int n, unsigned int *count, unsigned char *w)
{
	size_t need = 0;
	if (old == NONE)
		return 0;
	size_t off = old + 6, end = old + 4 + get32(s->arena + old);
	while (off < end) {
		const unsigned char *p = s->arena + off;
		size_t el = 2u + p[1] + 4 + get32(p + 2 + p[1]);
		if (!xa_shadowed(adds, 0, n, p[0], p[1], p + 2)) {
			if (w)
				memcpy(w + need, p, el);
			need += el;
			(*count)++;
		}
		off += el;
	}
	return need;
}

/* Replaces inode ino's set by the old one with adds applied in order (a
 * later add of the same name wins; del removes). */
static int xa_update(struct store_sqfs *s, uint32_t ino, const struct xa *adds, unsigned int n,
		     struct berr *err)
{
	uint32_t old = s->inodes[ino].xattrs;
	unsigned int count = 0;
	size_t need = 6 + xa_keep(s, old, adds, n, &count, NULL);
	for (unsigned int i = 0; i < n; i++) {
		if (!adds[i].del &&
		    !xa_shadowed(adds, i + 1, n, adds[i].type, adds[i].nlen, adds[i].name)) {
			need += 2u + adds[i].nlen + 4 + adds[i].vlen;
			count++;
		}
	}
	if (!count) {
		s->inodes[ino].xattrs = NONE;
		return 0;
	}
	int64_t at = arena_take(s, need, err);
	if (at < 0)
		return (int)at;
	unsigned char *w = s->arena + at;
	w = le32(w, (uint32_t)(need - 4));
	w = le16(w, count);
	unsigned int dummy = 0;
	w += xa_keep(s, old, adds, n, &dummy, w);
	for (unsigned int i = 0; i < n; i++) {
		if (adds[i].del ||
		    xa_shadowed(adds, i + 1, n, adds[i].type, adds[i].nlen, adds[i].name))
			continue;
		*w++ = adds[i].type;
		*w++ = adds[i].nlen;
		memcpy(w, adds[i].name, adds[i].nlen);
		w = le32(w + adds[i].nlen, adds[i].vlen);
		memcpy(w, adds[i].val, adds[i].vlen);
		w += adds[i].vlen;
	}
	s->inodes[ino].xattrs = (uint32_t)at;
	return 0;
}

static int xa_set1(struct store_sqfs *s, uint32_t ino, const char *full, const char *val, bool del,
		   struct berr *err)
{
	struct xa x = { 0 };
	xa_split(full, &x);
	x.val = (const unsigned char *)val;
	x.vlen = val ? (uint32_t)strlen(val) : 0;
	x.del = del;
	return xa_update(s, ino, &x, 1, err);
}

/* security.capability as the kernel lets root in the initial namespace set
 * it (cap_convert_nscap): a v2 value of 20 bytes or a v3 value of 24 with a
 * valid root id, no flag but "effective". Else EINVAL, as the unpacker
 * reports. */
#define CAP_XATTR "security.capability"
#define CAP_REV_MASK 0xff000000u
#define CAP_REV2 0x02000000u
#define CAP_REV3 0x03000000u
#define CAP_EFFECTIVE 0x1u

static bool caps_valid(const unsigned char *v, size_t len)
{
	uint32_t magic = len >= 4 ? get32(v) : 0;
	if (magic & ~(CAP_REV_MASK | CAP_EFFECTIVE))
		return false;
	if (len == 20)
		return (magic & CAP_REV_MASK) == CAP_REV2;
	return len == 24 && (magic & CAP_REV_MASK) == CAP_REV3 && get32(v + 20) != UINT32_MAX;
}

/* The entry's xattrs onto inode ino; node: a symlink or device node, which
 * cannot carry user.* xattrs. */
static int xa_apply(struct store_sqfs *s, uint32_t ino, bool node, struct berr *err)
{
	const struct tar_entry *e = &s->ts.tar.entry;
	struct xa adds[TAR_XATTR_MAX];
	unsigned int n = 0;
	for (unsigned int i = 0; i < e->nxattr; i++) {
		const struct tar_xattr *t = &e->xattr[i];
		struct xa x = { 0 };
		if (!xa_split(t->name, &x) || (node && x.type == XA_USER))
			continue;
		x.val = t->value;
		x.vlen = (uint32_t)t->len;
		if (!x.nlen || (!strcmp(t->name, CAP_XATTR) && !caps_valid(t->value, t->len)))
			return ent_err(s, err, EINVAL, true, "set xattr %.64s", t->name);
		adds[n++] = x;
	}
	return n ? xa_update(s, ino, adds, n, err) : 0;
}

/* --- the tree, as the unpacker sees a directory ------------------------------------ */

static int path_err(struct store_sqfs *s, struct berr *err, int rc, const char *what)
{
	switch (rc) {
	case -ELOOP:
		return ent_err(s, err, EPERM, false, "%s goes through a symlink", what);
	case -ENOTDIR:
		return ent_err(s, err, ENOTDIR, false, "%s goes through a non-directory", what);
	case -ENOENT:
		return ent_err(s, err, ENOENT, false, "%s does not exist in the layer", what);
	}
	return ent_err(s, err, -rc, true, "open parent of %s", what);
}

/* A directory made as a parent: 0755 root:root, marked implicit. */
static int64_t implicit_dir(struct store_sqfs *s, uint32_t parent, const char *name, size_t len,
			    struct berr *err)
{
	const struct tar_entry *e = &s->ts.tar.entry;
	int64_t ino = new_inode(s, SQ_DIR, 0755, 0, 0, clamp_time(e->mtime), err);
	if (ino < 0)
		return ino;
	int rc = xa_set1(s, (uint32_t)ino, TAR_IMPLICIT_XATTR, "1", false, err);
	if (rc < 0)
		return rc;
	s->any_implicit = true;
	return new_node(s, parent, name, len, (uint32_t)ino, err);
}

/* Finds the directory holding the last component of path (clean, not ""),
 * making missing ones when create; *base points at that component. Errors
 * in the unpacker's words, what naming the path ("path", "hardlink
 * target"). */
static int walk_parent(struct store_sqfs *s, const char *path, bool create, const char *what,
		       uint32_t *parent, const char **base, struct berr *err)
{
	uint32_t cur = 0;
	const char *c = path;
	for (const char *slash; (slash = strchr(c, '/')); c = slash + 1) {
		size_t len = (size_t)(slash - c);
		if (len > SQ_NAME_MAX)
			return path_err(s, err, -ENAMETOOLONG, what);
		uint32_t n = lookup(s, cur, c, len);
		if (n == NONE) {
			if (!create)
				return path_err(s, err, -ENOENT, what);
			int64_t m = implicit_dir(s, cur, c, len, err);
			if (m < 0)
				return (int)m;
			n = (uint32_t)m;
		} else if (s->inodes[s->nodes[n].ino].type == SQ_SYMLINK) {
			return path_err(s, err, -ELOOP, what);
		} else if (!is_dir(s, n)) {
			return path_err(s, err, -ENOTDIR, what);
		}
		cur = n;
	}
	*parent = cur;
	*base = c;
	return 0;
}

/* What is at name in parent: a node, NONE, or -ENAMETOOLONG with err as
 * fstatat would fail. */
static int64_t look(struct store_sqfs *s, uint32_t parent, const char *name, const char *what,
		    struct berr *err)
{
	if (strlen(name) > SQ_NAME_MAX)
		return ent_err(s, err, ENAMETOOLONG, true, "%s", what);
	return lookup(s, parent, name, strlen(name));
}

/* Clears the way for a new non-directory at name in parent. */
static int clear_slot(struct store_sqfs *s, uint32_t parent, const char *name, struct berr *err)
{
	int64_t n = look(s, parent, name, "stat", err);
	if (n < 0)
		return (int)n;
	if (n != NONE)
		remove_tree(s, (uint32_t)n);
	return 0;
}

static int set_opaque(struct store_sqfs *s, uint32_t node, struct berr *err)
{
	return xa_set1(s, s->nodes[node].ino, TAR_OPAQUE_XATTR, "y", false, err);
}

static int do_whiteout(struct store_sqfs *s, uint32_t parent, const char *base, struct berr *err)
{
	const char *victim = base + strlen(TAR_WH_PREFIX);
	int64_t n = look(s, parent, victim, "stat", err);
	if (n < 0)
		return (int)n;
	if (n != NONE)
		/* a directory of this layer keeps its entries and hides the lower
		 * ones; a non-directory of this layer already hides them */
		return is_dir(s, (uint32_t)n) ? set_opaque(s, (uint32_t)n, err) : 0;
	int64_t ino = new_inode(s, SQ_CHRDEV, 0, 0, 0, clamp_time(s->ts.tar.entry.mtime), err);
	if (ino < 0)
		return (int)ino;
	n = new_node(s, parent, victim, strlen(victim), (uint32_t)ino, err);
	return n < 0 ? (int)n : 0;
}

/* Owner, mode and time of the entry onto inode ino. */
static int set_meta(struct store_sqfs *s, uint32_t ino, struct berr *err)
{
	const struct tar_entry *e = &s->ts.tar.entry;
	struct sq_inode *in = &s->inodes[ino];
	in->mode = (uint16_t)(e->mode & 07777);
	in->mtime = clamp_time(e->mtime);
	int rc = id_index(s, (uint32_t)e->uid, &in->uid, err);
	return rc < 0 ? rc : id_index(s, (uint32_t)e->gid, &in->gid, err);
}

static int do_dir(struct store_sqfs *s, uint32_t parent, const char *base, struct berr *err)
{
	uint32_t n = 0;
	bool opaque = false;
	if (!*s->path_buf) {
		s->root_listed = true;
	} else {
		int64_t m = look(s, parent, base, "stat", err);
		if (m < 0)
			return (int)m;
		if (m != NONE && !is_dir(s, (uint32_t)m)) {
			/* replacing a whiteout of this layer: lower entries stay hidden */
			const struct sq_inode *in = &s->inodes[s->nodes[m].ino];
			opaque = in->type == SQ_CHRDEV && in->rdev == 0;
			remove_tree(s, (uint32_t)m);
			m = NONE;
		}
		if (m == NONE) {
			int64_t ino = new_inode(s, SQ_DIR, 0700, 0, 0, 0, err);
			if (ino < 0)
				return (int)ino;
			m = new_node(s, parent, base, strlen(base), (uint32_t)ino, err);
			if (m < 0)
				return (int)m;
		}
		n = (uint32_t)m;
	}
	uint32_t ino = s->nodes[n].ino;
	/* Listed after all: its own metadata wins over the lower layers'. */
	int rc = xa_set1(s, ino, TAR_IMPLICIT_XATTR, NULL, true, err);
	if (!rc)
		rc = set_meta(s, ino, err);
	if (!rc)
		rc = xa_apply(s, ino, false, err);
	if (!rc && opaque)
		rc = set_opaque(s, n, err);
	return rc;
}

/* A new non-directory node at base in parent, replacing what is there. */
static int64_t new_leaf(struct store_sqfs *s, uint32_t parent, const char *base, int type,
			struct berr *err)
{
	const struct tar_entry *e = &s->ts.tar.entry;
	int rc = clear_slot(s, parent, base, err);
	if (rc < 0)
		return rc;
	int64_t ino = new_inode(s, type, type == SQ_SYMLINK ? 0777 : e->mode, (uint32_t)e->uid,
				(uint32_t)e->gid, clamp_time(e->mtime), err);
	if (ino < 0)
		return ino;
	rc = xa_apply(s, (uint32_t)ino, type != SQ_REG, err);
	if (rc < 0)
		return rc;
	int64_t n = new_node(s, parent, base, strlen(base), (uint32_t)ino, err);
	return n < 0 ? n : ino;
}

static int do_reg(struct store_sqfs *s, uint32_t parent, const char *base, struct berr *err)
{
	int64_t ino = new_leaf(s, parent, base, SQ_REG, err);
	if (ino < 0)
		return (int)ino;
	struct sq_inode *in = &s->inodes[ino];
	in->size = s->ts.tar.entry.size;
	in->start = s->pos;
	in->data = (uint32_t)s->alen; /* the block list grows here */
	s->cur = (uint32_t)ino;
	s->bfill = 0;
	return 0;
}

static int do_symlink(struct store_sqfs *s, uint32_t parent, const char *base, struct berr *err)
{
	const struct tar_entry *e = &s->ts.tar.entry;
	if (!e->link[0])
		return ent_err(s, err, EINVAL, false, "symlink without a target");
	int64_t ino = new_leaf(s, parent, base, SQ_SYMLINK, err);
	if (ino < 0)
		return (int)ino;
	size_t len = strlen(e->link);
	int64_t off = arena_take(s, len, err);
	if (off < 0)
		return (int)off;
	memcpy(s->arena + off, e->link, len);
	s->inodes[ino].data = (uint32_t)off;
	s->inodes[ino].size = len;
	return 0;
}

static int do_link(struct store_sqfs *s, uint32_t parent, const char *base, struct berr *err)
{
	const struct tar_entry *e = &s->ts.tar.entry;
	char q[100];
	tar_quote(q, sizeof(q), e->link);
	if (!e->link[0])
		return ent_err(s, err, EINVAL, false, "hardlink without a target");
	if (tar_clean_path(e->link, s->lpath) < 0)
		return ent_err(s, err, EPERM, false, "hardlink target '%s' escapes the layer", q);
	if (!s->lpath[0])
		return ent_err(s, err, EPERM, false, "hardlink to the layer root");
	if (!strcmp(s->lpath, s->path_buf))
		return 0; /* a link to itself: the file is already there */
	uint32_t tparent;
	const char *tbase;
	int rc = walk_parent(s, s->lpath, false, "hardlink target", &tparent, &tbase, err);
	if (rc < 0)
		return rc;
	int64_t t = look(s, tparent, tbase, "stat hardlink target", err);
	if (t < 0)
		return (int)t;
	if (t == NONE)
		return path_err(s, err, -ENOENT, "hardlink target");
	if (is_dir(s, (uint32_t)t))
		return ent_err(s, err, EPERM, false, "hardlink to a directory '%s'", q);
	rc = clear_slot(s, parent, base, err);
	if (rc < 0)
		return rc;
	uint32_t ino = s->nodes[t].ino;
	if (ino == NONE) /* it was below what the new name replaced */
		return ent_err(s, err, ENOENT, true, "link to '%s'", q);
	int64_t n = new_node(s, parent, base, strlen(base), ino, err);
	if (n < 0)
		return (int)n;
	s->inodes[ino].nlink++;
	return 0;
}

static int do_node(struct store_sqfs *s, uint32_t parent, const char *base, struct berr *err)
{
	const struct tar_entry *e = &s->ts.tar.entry;
	/* what mknod(2) can carry: 12-bit major, 20-bit minor */
	if (e->devmajor > 0xfff || e->devminor > 0xfffff)
		return ent_err(s, err, EOVERFLOW, false, "device %llu:%llu out of range",
			       e->devmajor, e->devminor);
	int type = e->type == TAR_CHR ? SQ_CHRDEV : e->type == TAR_BLK ? SQ_BLKDEV : SQ_FIFO;
	int64_t ino = new_leaf(s, parent, base, type, err);
	if (ino < 0)
		return (int)ino;
	if (type != SQ_FIFO) {
		uint32_t ma = (uint32_t)e->devmajor, mi = (uint32_t)e->devminor;
		s->inodes[ino].rdev = (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
	}
	return 0;
}

static int on_entry(struct store_sqfs *s, struct berr *err)
{
	const struct tar_entry *e = &s->ts.tar.entry;
	s->st.entries++;
	s->cur = NONE;
	if (!e->path[0])
		return ent_err(s, err, EINVAL, false, "empty name");
	if (tar_clean_path(e->path, s->path_buf) < 0)
		return ent_err(s, err, EPERM, false, "path escapes the layer");
	int rc = tar_check_entry(e, err);
	if (rc < 0)
		return rc;
	if (!s->path_buf[0] && e->type != TAR_DIR)
		return ent_err(s, err, EINVAL, false, "the layer root can only be a directory");
	const char *slash = strrchr(s->path_buf, '/');
	const char *base = slash ? slash + 1 : s->path_buf;
	enum tar_kind kind = TAR_KIND_NORMAL;
	if (s->path_buf[0]) {
		rc = tar_classify(e, s->path_buf, base, &kind, err);
		if (rc < 0 || kind == TAR_KIND_SKIP)
			return rc;
	}
	if (clamp_time(e->mtime) > s->mtime_max)
		s->mtime_max = clamp_time(e->mtime);
	uint32_t parent = 0;
	if (s->path_buf[0]) {
		rc = walk_parent(s, s->path_buf, true, "path", &parent, &base, err);
		if (rc < 0)
			return rc;
	}
	if (kind == TAR_KIND_OPAQUE)
		return set_opaque(s, parent, err);
	if (kind == TAR_KIND_WHITEOUT)
		return do_whiteout(s, parent, base, err);
	switch (e->type) {
	case TAR_DIR:
		return do_dir(s, parent, base, err);
	case TAR_REG:
		return do_reg(s, parent, base, err);
	case TAR_SYMLINK:
		return do_symlink(s, parent, base, err);
	case TAR_LINK:
		return do_link(s, parent, base, err);
	default:
		return do_node(s, parent, base, err);
	}
}

/* --- file data ----------------------------------------------------------------------- */

static bool all_zero(const unsigned char *b, size_t n)
{
	return !b[0] && !memcmp(b, b + 1, n - 1);
}

static int flush_frag(struct store_sqfs *s, struct berr *err)
{
	if (!s->ffill)
		return 0;
	if (grow((void **)&s->frags, &s->capfrags, s->nfrags + 1, sizeof(*s->frags)) < 0)
		return berr_set(err, ENOMEM, "squashfs fragments");
	struct sq_frag *f = &s->frags[s->nfrags];
	f->start = s->pos;
	int rc = put_block(s, s->frag, s->ffill, &f->size, err);
	if (rc < 0)
		return rc;
	s->nfrags++;
	s->ffill = 0;
	return 0;
}

/* A full block of the current file: a hole when all zero. */
static int file_block(struct store_sqfs *s, struct berr *err)
{
	struct sq_inode *in = &s->inodes[s->cur];
	uint32_t size = 0;
	if (all_zero(s->block, s->bs))
		in->sparse += s->bs;
	else if (put_block(s, s->block, s->bs, &size, err) < 0)
		return -err->code;
	int64_t off = arena_take(s, 4, err);
	if (off < 0)
		return (int)off;
	le32(s->arena + off, size);
	s->bfill = 0;
	return 0;
}

static int file_data(struct store_sqfs *s, const unsigned char *d, size_t n, struct berr *err)
{
	while (n) {
		size_t k = s->bs - s->bfill < n ? s->bs - s->bfill : n;
		memcpy(s->block + s->bfill, d, k);
		s->bfill += k;
		d += k;
		n -= k;
		if (s->bfill == s->bs) {
			int rc = file_block(s, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* The tail shorter than a block goes into the fragment block. */
static int file_done(struct store_sqfs *s, struct berr *err)
{
	struct sq_inode *in = &s->inodes[s->cur];
	s->cur = NONE;
	if (!s->bfill)
		return 0;
	if (s->ffill + s->bfill > s->bs) {
		int rc = flush_frag(s, err);
		if (rc < 0)
			return rc;
	}
	in->frag = s->nfrags;
	in->frag_off = (uint32_t)s->ffill;
	memcpy(s->frag + s->ffill, s->block, s->bfill);
	s->ffill += s->bfill;
	s->bfill = 0;
	return 0;
}

static int on_event(void *ctx, int ev, const unsigned char *d, size_t dlen, struct berr *err)
{
	struct store_sqfs *s = ctx;
	if (ev == TAR_EV_ENTRY)
		return on_entry(s, err);
	if (s->cur == NONE)
		return 0;
	return ev == TAR_EV_DATA ? file_data(s, d, dlen, err) : file_done(s, err);
}

/* --- finish: tables ------------------------------------------------------------------ */

/* Sorts a sibling list by name (merge sort), dropping removed nodes. */
static uint32_t sort_list(struct store_sqfs *s, uint32_t head)
{
	/* bottom-up: runs of width 1, 2, 4... merged pairwise */
	uint32_t live = NONE, *tail = &live;
	for (uint32_t n = head; n != NONE; n = s->nodes[n].sibling) {
		if (s->nodes[n].ino != NONE) {
			*tail = n;
			tail = &s->nodes[n].sibling;
		}
	}
	*tail = NONE;
	head = live;
	for (size_t width = 1;; width *= 2) {
		uint32_t out = NONE, *ot = &out, p = head;
		unsigned int merges = 0;
		while (p != NONE) {
			merges++;
			uint32_t q = p;
			size_t ps = 0;
			while (ps < width && q != NONE) {
				ps++;
				q = s->nodes[q].sibling;
			}
			size_t qs = width;
			while (ps || (qs && q != NONE)) {
				uint32_t take;
				if (!ps) {
					take = q;
					q = s->nodes[q].sibling;
					qs--;
				} else if (!qs || q == NONE ||
					   strcmp(name_of(s, p), name_of(s, q)) <= 0) {
					take = p;
					p = s->nodes[p].sibling;
					ps--;
				} else {
					take = q;
					q = s->nodes[q].sibling;
					qs--;
				}
				*ot = take;
				ot = &s->nodes[take].sibling;
			}
			p = q;
		}
		*ot = NONE;
		head = out;
		if (merges <= 1)
			return head;
	}
}

static uint32_t next_dir(const struct store_sqfs *s, uint32_t n)
{
	while (n != NONE && !is_dir(s, n))
		n = s->nodes[n].sibling;
	return n;
}

static uint32_t deepest(const struct store_sqfs *s, uint32_t n)
{
	for (uint32_t c; (c = next_dir(s, s->nodes[n].child)) != NONE;)
		n = c;
	return n;
}

/* Calls visit on each directory, children before parents, root last. */
static int post_order(struct store_sqfs *s, int (*visit)(struct store_sqfs *, uint32_t, void *),
		      void *arg)
{
	uint32_t n = deepest(s, 0);
	for (;;) {
		int rc = visit(s, n, arg);
		if (rc < 0 || n == 0)
			return rc;
		uint32_t sib = next_dir(s, s->nodes[n].sibling);
		n = sib != NONE ? deepest(s, sib) : s->nodes[n].parent;
	}
}

struct number_ctx {
	uint32_t count;
	uint32_t *xsets; /* arena offsets of distinct xattr sets */
	uint32_t nx, capx;
	uint32_t *xhash; /* open addressing: index + 1 */
	uint32_t xhcap;
};

static uint32_t set_hash(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Gives inode ino its xattr id, sharing ids between equal sets. */
static int number_xattrs(struct store_sqfs *s, struct number_ctx *c, uint32_t ino)
{
	struct sq_inode *in = &s->inodes[ino];
	if (in->xattrs == NONE)
		return 0;
	if (c->xhcap < 2 * (c->nx + 1)) {
		uint32_t cap = c->xhcap ? c->xhcap * 2 : 64;
		uint32_t *h = calloc(cap, sizeof(*h));
		if (!h)
			return -ENOMEM;
		for (uint32_t i = 0; i < c->nx; i++) {
			const unsigned char *p = s->arena + c->xsets[i];
			uint32_t k = set_hash(p, 4 + get32(p)) & (cap - 1);
			while (h[k])
				k = (k + 1) & (cap - 1);
			h[k] = i + 1;
		}
		free(c->xhash);
		c->xhash = h;
		c->xhcap = cap;
	}
	const unsigned char *p = s->arena + in->xattrs;
	size_t len = 4 + get32(p);
	uint32_t k = set_hash(p, len) & (c->xhcap - 1);
	for (; c->xhash[k]; k = (k + 1) & (c->xhcap - 1)) {
		const unsigned char *q = s->arena + c->xsets[c->xhash[k] - 1];
		if (get32(q) + 4 == len && !memcmp(p, q, len)) {
			in->xid = c->xhash[k] - 1;
			return 0;
		}
	}
	if (grow((void **)&c->xsets, &c->capx, c->nx + 1, sizeof(*c->xsets)) < 0)
		return -ENOMEM;
	c->xsets[c->nx] = in->xattrs;
	in->xid = c->nx;
	c->xhash[k] = ++c->nx;
	return 0;
}

/* Pass 1 over a directory: sorts it, numbers its new non-directories and
 * then itself, counts its subdirectories. */
static int number_dir(struct store_sqfs *s, uint32_t n, void *arg)
{
	struct number_ctx *c = arg;
	uint32_t subdirs = 0;
	for (uint32_t k = s->nodes[n].child; k != NONE; k = s->nodes[k].sibling) {
		struct sq_inode *in = &s->inodes[s->nodes[k].ino];
		if (in->type == SQ_DIR) {
			subdirs++;
		} else if (!in->number) {
			in->number = ++c->count;
			if (number_xattrs(s, c, s->nodes[k].ino) < 0)
				return -ENOMEM;
		}
	}
	struct sq_inode *in = &s->inodes[s->nodes[n].ino];
	in->number = ++c->count;
	in->nlink = subdirs + 2;
	return number_xattrs(s, c, s->nodes[n].ino) < 0 ? -ENOMEM : 0;
}

static void sort_all(struct store_sqfs *s)
{
	for (uint32_t n = 0; n < s->nnodes; n++)
		if (s->nodes[n].ino != NONE && is_dir(s, n))
			s->nodes[n].child = sort_list(s, s->nodes[n].child);
}

struct write_ctx {
	struct sq_meta *im, *dm;
	struct berr *err;
	uint32_t count;   /* inodes in all */
	unsigned char *x; /* a directory's index, being built */
	size_t xlen, xcap;
	unsigned int xn;
};

static int write_inode(struct store_sqfs *s, struct write_ctx *w, uint32_t ino,
		       const unsigned char *dirpart, size_t dirlen)
{
	struct sq_inode *in = &s->inodes[ino];
	unsigned char b[64], *p;
	bool xa = in->xid != NONE;
	int type = in->type;
	bool ext = xa;
	uint32_t nblocks = 0;
	if (type == SQ_REG) {
		nblocks = (uint32_t)(in->size / s->bs);
		ext = ext || in->nlink > 1 || in->sparse || in->size > UINT32_MAX ||
		      in->start > UINT32_MAX;
	}
	if (type == SQ_DIR)
		ext = dirpart[0];
	in->ref = meta_ref(w->im);
	p = le16(b, (uint32_t)(ext ? type + 7 : type));
	p = le16(p, in->mode);
	p = le16(p, in->uid);
	p = le16(p, in->gid);
	p = le32(p, in->mtime);
	p = le32(p, in->number);
	switch (type) {
	case SQ_REG:
		if (ext) {
			p = le64(p, in->start);
			p = le64(p, in->size);
			p = le64(p, in->sparse);
			p = le32(p, in->nlink);
			p = le32(p, in->frag);
			p = le32(p, in->frag_off);
			p = le32(p, in->xid);
		} else {
			p = le32(p, (uint32_t)in->start);
			p = le32(p, in->frag);
			p = le32(p, in->frag_off);
			p = le32(p, (uint32_t)in->size);
		}
		break;
	case SQ_SYMLINK:
		p = le32(p, in->nlink);
		p = le32(p, (uint32_t)in->size);
		break;
	case SQ_BLKDEV:
	case SQ_CHRDEV:
		p = le32(p, in->nlink);
		p = le32(p, in->rdev);
		break;
	case SQ_FIFO:
		p = le32(p, in->nlink);
		break;
	case SQ_DIR:
		/* dirpart: [0] extended, then the fields as written below */
		memcpy(p, dirpart + 1, dirlen - 1);
		p += dirlen - 1;
		break;
	}
	int rc = meta_put(s, w->im, b, (size_t)(p - b), w->err);
	if (!rc && type == SQ_REG)
		rc = meta_put(s, w->im, s->arena + in->data, (size_t)nblocks * 4, w->err);
	if (!rc && type == SQ_SYMLINK)
		rc = meta_put(s, w->im, s->arena + in->data, (size_t)in->size, w->err);
	if (!rc && type == SQ_SYMLINK && ext) {
		le32(b, in->xid);
		rc = meta_put(s, w->im, b, 4, w->err);
	}
	if (!rc && type != SQ_REG && type != SQ_SYMLINK && type != SQ_DIR && ext) {
		le32(b, in->xid);
		rc = meta_put(s, w->im, b, 4, w->err);
	}
	if (!rc && type == SQ_DIR && ext)
		rc = meta_put(s, w->im, w->x, w->xlen, w->err);
	return rc;
}

static int index_add(struct store_sqfs *s, struct write_ctx *w, uint32_t index, uint32_t start,
		     const char *name)
{
	size_t len = strlen(name);
	if (w->xlen + 12 + len > w->xcap) {
		size_t cap = w->xcap ? w->xcap * 2 : 4096;
		while (cap < w->xlen + 12 + len)
			cap *= 2;
		unsigned char *p = realloc(w->x, cap);
		if (!p)
			return berr_set(w->err, ENOMEM, "squashfs directory index");
		w->x = p;
		w->xcap = cap;
	}
	unsigned char *p = w->x + w->xlen;
	p = le32(p, index);
	p = le32(p, start);
	p = le32(p, (uint32_t)len - 1);
	memcpy(p, name, len);
	w->xlen += 12 + len;
	w->xn++;
	return 0;
}

/* Pass 2 over a directory: the inodes of its new non-directories, its
 * listing (headers of up to 256 entries whose inodes share a metadata
 * block, restarted on each listing block, which gets an index entry), its
 * own inode. */
static int write_dir(struct store_sqfs *s, uint32_t n, void *arg)
{
	struct write_ctx *w = arg;
	struct sq_meta *dm = w->dm;
	int rc = 0;
	for (uint32_t k = s->nodes[n].child; k != NONE && !rc; k = s->nodes[k].sibling) {
		uint32_t ino = s->nodes[k].ino;
		if (s->inodes[ino].type != SQ_DIR && s->inodes[ino].ref == NOREF)
			rc = write_inode(s, w, ino, NULL, 0);
	}
	if (rc < 0)
		return rc;
	uint64_t start_upos = meta_upos(dm), start_blk = dm->flushed;
	uint32_t start_off = (uint32_t)dm->fill;
	uint64_t last_blk = start_upos / META_SIZE;
	w->xlen = 0;
	w->xn = 0;
	uint32_t k = s->nodes[n].child;
	while (k != NONE) {
		const struct sq_inode *first = &s->inodes[s->nodes[k].ino];
		uint64_t hdr_upos = meta_upos(dm);
		uint32_t blk = (uint32_t)(first->ref >> 16), base = first->number;
		uint64_t q = hdr_upos + 12;
		uint32_t count = 0, end = k;
		while (end != NONE && count < SQ_DIR_COUNT) {
			const struct sq_inode *in = &s->inodes[s->nodes[end].ino];
			long long d = (long long)in->number - base;
			if ((uint32_t)(in->ref >> 16) != blk || d < -32768 || d > 32767 ||
			    (count && q / META_SIZE != hdr_upos / META_SIZE))
				break;
			q += 8 + strlen(name_of(s, end));
			count++;
			end = s->nodes[end].sibling;
		}
		if (hdr_upos / META_SIZE != last_blk) {
			rc = index_add(s, w, (uint32_t)(hdr_upos - start_upos),
				       (uint32_t)dm->flushed, name_of(s, k));
			if (rc < 0)
				return rc;
			last_blk = hdr_upos / META_SIZE;
		}
		unsigned char h[12 + 8];
		le32(le32(le32(h, count - 1), blk), base);
		rc = meta_put(s, dm, h, 12, w->err);
		for (; k != end && !rc; k = s->nodes[k].sibling) {
			const struct sq_inode *in = &s->inodes[s->nodes[k].ino];
			const char *nm = name_of(s, k);
			size_t len = strlen(nm);
			unsigned char *p = le16(h, (uint32_t)(in->ref & 0xffff));
			p = le16(p, (uint32_t)(uint16_t)(int16_t)((long long)in->number - base));
			p = le16(p, in->type);
			le16(p, (uint32_t)len - 1);
			rc = meta_put(s, dm, h, 8, w->err);
			if (!rc)
				rc = meta_put(s, dm, nm, len, w->err);
		}
		if (rc < 0)
			return rc;
	}
	uint64_t size = meta_upos(dm) - start_upos + 3;
	struct sq_inode *in = &s->inodes[s->nodes[n].ino];
	uint32_t parent = n ? s->inodes[s->nodes[s->nodes[n].parent].ino].number : w->count + 1;
	bool ext = in->xid != NONE || w->xn || size > 0xffff;
	unsigned char d[32], *p = d + 1;
	d[0] = ext;
	if (ext) {
		p = le32(p, in->nlink);
		p = le32(p, (uint32_t)size);
		p = le32(p, (uint32_t)start_blk);
		p = le32(p, parent);
		p = le16(p, w->xn);
		p = le16(p, start_off);
		p = le32(p, in->xid);
	} else {
		p = le32(p, (uint32_t)start_blk);
		p = le32(p, in->nlink);
		p = le16(p, (uint32_t)size);
		p = le16(p, start_off);
		p = le32(p, parent);
	}
	return write_inode(s, w, s->nodes[n].ino, d, (size_t)(p - d));
}

/* The xattr key/value stream, then the id table pointing into it. */
static int put_xattrs(struct store_sqfs *s, const struct number_ctx *c, uint64_t *at,
		      struct berr *err)
{
	struct sq_meta *m = calloc(1, sizeof(*m));
	unsigned char *ids = malloc((size_t)c->nx * 16 + 1);
	int rc = m && ids ? 0 : berr_set(err, ENOMEM, "squashfs xattrs");
	uint64_t kv = s->pos;
	if (m) {
		m->fd = s->fd;
		m->base = kv;
	}
	for (uint32_t i = 0; i < c->nx && !rc; i++) {
		const unsigned char *set = s->arena + c->xsets[i];
		uint32_t count = set[4] | (uint32_t)set[5] << 8;
		uint64_t ref = meta_ref(m), before = meta_upos(m);
		size_t off = 6;
		for (uint32_t j = 0; j < count && !rc; j++) {
			/* re-read: the arena does not move while writing */
			const unsigned char *p = s->arena + c->xsets[i] + off;
			uint32_t nlen = p[1], vlen = get32(p + 2 + nlen);
			unsigned char h[4];
			le16(le16(h, p[0]), nlen);
			rc = meta_put(s, m, h, 4, err);
			if (!rc)
				rc = meta_put(s, m, p + 2, nlen, err);
			if (!rc)
				rc = meta_put(s, m, p + 2 + nlen, 4 + (size_t)vlen, err);
			off += 2u + nlen + 4 + vlen;
		}
		unsigned char *e = ids + (size_t)i * 16;
		le32(le32(le64(e, ref), count), (uint32_t)(meta_upos(m) - before));
	}
	if (!rc)
		rc = meta_flush(s, m, err);
	if (!rc) {
		unsigned char hdr[16];
		le32(le32(le64(hdr, kv), c->nx), 0);
		s->pos += m->flushed;
		rc = put_table(s, ids, (size_t)c->nx * 16, hdr, sizeof(hdr), at, err);
	}
	free(m);
	free(ids);
	return rc;
}

/* Copies the spilled directory table (len bytes of fd) to s->pos. */
static int copy_in(struct store_sqfs *s, int fd, uint64_t len, struct berr *err)
{
	for (uint64_t off = 0; off < len;) {
		size_t k = len - off < s->bs ? (size_t)(len - off) : s->bs;
		ssize_t r = pread(fd, s->block, k, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return io_err(s, err, r < 0 ? -errno : -EIO, "read directory table");
		int rc = pwrite_all(s->fd, s->block, (size_t)r, s->pos);
		if (rc < 0)
			return io_err(s, err, rc, "write");
		s->pos += (uint64_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* An unlinked file beside the image. */
static int spill_file(struct store_sqfs *s, struct berr *err)
{
	char dir[TAR_PATH_MAX + 1];
	snprintf(dir, sizeof(dir), "%s", s->path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	char tmp[TAR_PATH_MAX + 32];
	snprintf(tmp, sizeof(tmp), "%s.dir-XXXXXX", s->path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "squashfs image %s: temporary file", s->path);
	unlink(tmp);
	return fd;
}

static int put_superblock(struct store_sqfs *s, uint32_t inodes, uint64_t root,
			  const uint64_t at[5], struct berr *err)
{
	unsigned char sb[SB_SIZE], *p = sb;
	p = le32(p, SQ_MAGIC);
	p = le32(p, inodes);
	p = le32(p, s->mtime_max);
	p = le32(p, s->bs);
	p = le32(p, s->nfrags);
	p = le16(p, SQ_ZLIB);
	p = le16(p, s->blog);
	p = le16(p, at[1] == NOREF ? SQ_NO_XATTRS : 0);
	p = le16(p, s->nids);
	p = le16(p, 4);
	p = le16(p, 0);
	p = le64(p, root);
	p = le64(p, s->pos); /* bytes used */
	p = le64(p, at[0]);  /* id table */
	p = le64(p, at[1]);  /* xattr id table */
	p = le64(p, at[2]);  /* inode table */
	p = le64(p, at[3]);  /* directory table */
	p = le64(p, at[4]);  /* fragment table */
	le64(p, NOREF);      /* no export table */
	int rc = pwrite_all(s->fd, sb, sizeof(sb), 0);
	if (rc < 0)
		return io_err(s, err, rc, "write superblock");
	/* Loop devices see whole 512-byte sectors; pad as mksquashfs does. */
	off_t end = (off_t)((s->pos + PAD_TO - 1) / PAD_TO * PAD_TO);
	if (ftruncate(s->fd, end) < 0)
		return io_err(s, err, -errno, "pad");
	if (fsync(s->fd) < 0)
		return io_err(s, err, -errno, "fsync");
	return 0;
}

/* Inode and directory tables (pass 1 numbers, pass 2 writes), then the
 * fragment, id and xattr tables. */
static int put_tables(struct store_sqfs *s, struct number_ctx *nc, struct berr *err)
{
	uint64_t at[5]; /* id, xattr, inode, directory, fragment */
	sort_all(s);
	if (post_order(s, number_dir, nc) < 0)
		return berr_set(err, ENOMEM, "squashfs tables");
	struct write_ctx w = { .err = err, .count = nc->count };
	_cleanup_free_ struct sq_meta *im = calloc(1, sizeof(*im));
	_cleanup_free_ struct sq_meta *dm = calloc(1, sizeof(*dm));
	if (!im || !dm)
		return berr_set(err, ENOMEM, "squashfs tables");
	_cleanup_close_ int tfd = spill_file(s, err);
	if (tfd < 0)
		return tfd;
	im->fd = s->fd;
	im->base = at[2] = s->pos;
	dm->fd = tfd;
	w.im = im;
	w.dm = dm;
	int rc = post_order(s, write_dir, &w);
	free(w.x);
	if (!rc)
		rc = meta_flush(s, im, err);
	if (!rc)
		rc = meta_flush(s, dm, err);
	if (rc < 0)
		return rc;
	s->pos += im->flushed;
	at[3] = s->pos;
	rc = copy_in(s, tfd, dm->flushed, err);
	if (rc < 0)
		return rc;

	size_t flen = (size_t)s->nfrags * 16, ilen = (size_t)s->nids * 4;
	_cleanup_free_ unsigned char *tab = malloc((flen > ilen ? flen : ilen) + 1);
	if (!tab)
		return berr_set(err, ENOMEM, "squashfs tables");
	for (uint32_t i = 0; i < s->nfrags; i++)
		le32(le32(le64(tab + (size_t)i * 16, s->frags[i].start), s->frags[i].size), 0);
	rc = put_table(s, tab, flen, NULL, 0, &at[4], err);
	for (uint32_t i = 0; i < s->nids; i++)
		le32(tab + (size_t)i * 4, s->ids[i]);
	if (!rc)
		rc = put_table(s, tab, ilen, NULL, 0, &at[0], err);
	at[1] = NOREF;
	if (!rc && nc->nx)
		rc = put_xattrs(s, nc, &at[1], err);
	if (rc < 0)
		return rc;
	return put_superblock(s, nc->count, s->inodes[s->nodes[0].ino].ref, at, err);
}

static int finish(struct store_sqfs *s, struct berr *err)
{
	int rc = tar_stream_end(&s->ts, err);
	if (!rc)
		rc = flush_frag(s, err);
	if (rc < 0)
		return rc;
	uint32_t root = s->nodes[0].ino;
	if (!s->root_listed)
		s->inodes[root].mtime = s->mtime_max;
	if (s->any_implicit) {
		rc = xa_set1(s, root, TAR_FIXUP_XATTR, "1", false, err);
		if (rc < 0)
			return rc;
	}
	struct number_ctx nc = { 0 };
	rc = put_tables(s, &nc, err);
	free(nc.xsets);
	free(nc.xhash);
	return rc;
}

struct store_sqfs *store_sqfs_new(const char *path, const struct store_sqfs_opts *o,
				  struct berr *err)
{
	struct store_sqfs_opts d = { 0 };
	if (!o)
		o = &d;
	unsigned int bs = o->block_size ? o->block_size : SQFS_BLOCK_SIZE_DEFAULT;
	int level = o->level ? o->level : 9;
	if (bs < 4096 || bs > (1u << 20) || (bs & (bs - 1)) || level < 1 || level > 9) {
		berr_setmsg(err, EINVAL, "squashfs image %s: block size %u or level %d invalid",
			    path, bs, level);
		return NULL;
	}
	struct store_sqfs *s = calloc(1, sizeof(*s));
	if (!s) {
		berr_set(err, ENOMEM, "squashfs image %s", path);
		return NULL;
	}
	s->fd = -1;
	s->cur = NONE;
	s->bs = bs;
	while ((1u << s->blog) < bs)
		s->blog++;
	s->max_entries = o->max_entries ? o->max_entries : SQFS_MAX_ENTRIES_DEFAULT;
	s->max_meta = o->max_meta_bytes ? o->max_meta_bytes : SQFS_MAX_META_BYTES_DEFAULT;
	s->pos = SB_SIZE;
	tar_stream_init(&s->ts, on_event, s);
	s->path = strdup(path);
	s->block = malloc(bs);
	s->frag = malloc(bs);
	s->zout = malloc(bs > META_SIZE ? bs : META_SIZE);
	s->nbuckets = 1024;
	s->buckets = malloc(s->nbuckets * sizeof(*s->buckets));
	if (!s->path || !s->block || !s->frag || !s->zout || !s->buckets) {
		berr_set(err, ENOMEM, "squashfs image %s", path);
		goto fail;
	}
	memset(s->buckets, 0xff, s->nbuckets * sizeof(*s->buckets));
	int z = deflateInit2(&s->zs, level, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY);
	if (z != Z_OK) {
		berr_set(err, z == Z_MEM_ERROR ? ENOMEM : EINVAL, "squashfs image %s: zlib", path);
		goto fail;
	}
	s->zinit = true;
	int64_t root = new_inode(s, SQ_DIR, 0755, 0, 0, 0, err);
	if (root < 0 || grow((void **)&s->nodes, &s->capnodes, 1, sizeof(*s->nodes)) < 0 ||
	    arena_take(s, 1, err) < 0) {
		berr_set(err, ENOMEM, "squashfs image %s", path);
		goto fail;
	}
	s->arena[0] = '\0';
	s->nodes[0] = (struct sq_node){ 0, NONE, NONE, NONE, 0, (uint32_t)root };
	s->nnodes = 1;
	s->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (s->fd < 0) {
		berr_set(err, errno, "squashfs image %s", path);
		goto fail;
	}
	return s;
fail:
	store_sqfs_free(s);
	return NULL;
}

int store_sqfs_feed(struct store_sqfs *s, const void *buf, size_t len, struct berr *err)
{
	if (s->failed || s->finished)
		return berr_setmsg(err, EINVAL, "squashfs layer: fed after %s",
				   s->failed ? "an error" : "finish");
	s->st.bytes_in += len;
	int rc = tar_stream_feed(&s->ts, buf, len, err);
	if (rc < 0)
		s->failed = -rc;
	return rc;
}

int store_sqfs_finish(struct store_sqfs *s, char diff_id[DIGEST_STR_MAX],
		      struct store_unpack_stats *stats, struct berr *err)
{
	if (s->failed || s->finished)
		return berr_setmsg(err, EINVAL, "squashfs layer: finished after %s",
				   s->failed ? "an error" : "finish");
	int rc = finish(s, err);
	if (rc < 0) {
		s->failed = -rc;
		return rc;
	}
	s->finished = true;
	store_sha256_final(&s->ts.sha, diff_id);
	s->st.bytes_tar = s->ts.bytes_tar;
	if (stats)
		*stats = s->st;
	return 0;
}

void store_sqfs_free(struct store_sqfs *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->zinit)
		deflateEnd(&s->zs);
	tar_stream_release(&s->ts);
	free(s->path);
	free(s->block);
	free(s->frag);
	free(s->zout);
	free(s->frags);
	free(s->nodes);
	free(s->inodes);
	free(s->buckets);
	free(s->arena);
	free(s->ids);
	free(s->idhash);
	free(s);
}
