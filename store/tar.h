/* Private to store/: streaming tar reader (pure, fed any chunks), the layer
 * stream and entry rules both layer writers share (unpack.c, squashfs.c),
 * unpack test hook. POSIX.1-2017 pax: ustar format, extended headers; GNU
 * base-256, L/K. OCI image-spec layer.md: whiteouts. */
#ifndef BERTH_TAR_H
#define BERTH_TAR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <zlib.h>

#include "board/err.h"
#include "store/digest.h"

#define TAR_BLOCK 512
/* Longest path or link target, in bytes, without the NUL. */
#define TAR_PATH_MAX 4096
/* Longest pax record ("<len> <key>=<value>\n"), and all records of one pax
 * header ('x' or 'g') together. */
#define TAR_PAX_RECORD_MAX (64 * 1024)
#define TAR_PAX_HEADER_MAX (1024 * 1024)
/* SCHILY.xattr.* records per entry, and their names and values together. */
#define TAR_XATTR_MAX 64
#define TAR_XATTR_BYTES (64 * 1024)
#define TAR_XATTR_NAME_MAX 255

/* Entry types as delivered: '\0' and '7' (contiguous) arrive as TAR_REG, and
 * '\0' with a name ending in '/' as TAR_DIR. Other types are refused. */
enum tar_type {
	TAR_REG = '0',
	TAR_LINK = '1',
	TAR_SYMLINK = '2',
	TAR_CHR = '3',
	TAR_BLK = '4',
	TAR_DIR = '5',
	TAR_FIFO = '6',
};

struct tar_xattr {
	const char *name; /* NUL-terminated, without the "SCHILY.xattr." prefix */
	const unsigned char *value;
	size_t len;
};

/* One archive member with pax and GNU overrides applied. Strings are
 * NUL-terminated and never contain a NUL; path may be empty (the caller
 * decides what a valid path is). */
struct tar_entry {
	char type;                   /* enum tar_type */
	unsigned int mode;           /* permission bits incl. setuid/setgid/sticky */
	unsigned long long uid, gid; /* below 2^63 */
	unsigned long long size;     /* data bytes delivered (0 unless TAR_REG) */
	long long mtime;             /* seconds since the epoch */
	unsigned int mtime_nsec;
	unsigned long long devmajor, devminor; /* TAR_CHR and TAR_BLK */
	unsigned int nxattr;
	struct tar_xattr xattr[TAR_XATTR_MAX]; /* point into the reader */
	char path[TAR_PATH_MAX + 1];
	char link[TAR_PATH_MAX + 1]; /* TAR_LINK and TAR_SYMLINK */
};

/* What tar_reader_next found. */
enum tar_event {
	TAR_EV_MORE,  /* all input consumed: feed the next chunk */
	TAR_EV_ENTRY, /* a member's header: see r->entry */
	TAR_EV_DATA,  /* a piece of the member's data, pointing into the input */
	TAR_EV_DONE,  /* the member's data is complete (sent for every member) */
	TAR_EV_END,   /* end-of-archive blocks; later input is consumed unread */
};

/* The reader's state: about 140 KiB, all of it fixed buffers. Allocate it
 * (it is too big for a small stack), do not copy it: entry.xattr points into
 * it. Fields after entry are private. */
struct tar_reader {
	struct tar_entry entry; /* valid from TAR_EV_ENTRY through its TAR_EV_DONE */

	int state;
	bool zero;                   /* one all-zero block seen */
	bool pending;                /* meta headers seen, their entry not yet */
	unsigned int have;           /* which overrides the pending meta headers set */
	char meta;                   /* type of the meta header being read */
	unsigned long long off;      /* tar bytes consumed */
	unsigned long long hdr_off;  /* offset of the current header block */
	unsigned long long left;     /* data bytes of the current member still to come */
	unsigned long long meta_len; /* data size of the current meta header */
	unsigned int pad;            /* padding bytes after it still to come */
	size_t blen;                 /* bytes of blk filled */
	unsigned long long pax_size, pax_uid, pax_gid;
	long long pax_mtime;
	unsigned int pax_nsec;
	size_t rlen;  /* bytes of rec filled */
	size_t rneed; /* length of the record being read, 0 while reading it */
	size_t xused; /* bytes of xbuf used */
	unsigned char blk[TAR_BLOCK];
	char rec[TAR_PAX_RECORD_MAX];
	unsigned char xbuf[TAR_XATTR_BYTES];
};

void tar_reader_init(struct tar_reader *r);

/* Consumes input from *in (advancing *in and *inlen) until something happens,
 * and returns it as an enum tar_event, or -errno with err ("tar header at
 * byte 1024: checksum mismatch"). For TAR_EV_DATA, *data and *dlen give the
 * piece, inside the consumed input. Call again until TAR_EV_MORE before
 * feeding the next chunk. After an error the reader only returns errors. */
int tar_reader_next(struct tar_reader *r, const unsigned char **in, size_t *inlen,
		    const unsigned char **data, size_t *dlen, struct berr *err);

/* At the end of the input: 0 if the archive ended cleanly (end-of-archive
 * blocks, or EOF right after a member or after one zero block), else
 * -EBADMSG with err. */
int tar_reader_end(const struct tar_reader *r, struct berr *err);

/* Copies the name s into out (cap bytes) for a one-line error message:
 * control characters become '?', a long name ends in "...". */
void tar_quote(char *out, size_t cap, const char *s);

/* --- a layer blob: gzip or plain tar, decoded into reader events ------------ */

#define TAR_STREAM_BUF (64 * 1024) /* inflate output */
#define TAR_STREAM_MAGIC 6         /* bytes needed to tell the compression */

/* Called with each TAR_EV_ENTRY (data NULL), TAR_EV_DATA and TAR_EV_DONE
 * (data NULL) of the layer's tar; the entry is s->tar.entry. Returns 0 or
 * -errno with err. */
struct tar_stream;
typedef int (*tar_stream_fn)(void *ctx, int ev, const unsigned char *data, size_t len,
			     struct berr *err);

/* The compression is detected from the first bytes (gzip, or plain tar; zstd
 * and xz are refused as unsupported). Caller-allocated (about 210 KiB, do not
 * copy); sha is the digest of the uncompressed tar so far (the diff_id). */
struct tar_stream {
	tar_stream_fn fn;
	void *ctx;
	struct store_sha256 sha;
	unsigned long long bytes_tar; /* uncompressed tar bytes */
	int mode;
	bool gz_init;
	bool gz_end; /* at a gzip member boundary */
	size_t mlen;
	unsigned char magic[TAR_STREAM_MAGIC];
	z_stream zs;
	unsigned char out[TAR_STREAM_BUF];
	struct tar_reader tar;
};

void tar_stream_init(struct tar_stream *s, tar_stream_fn fn, void *ctx);

/* Feeds the next bytes of the blob. Returns 0 or -errno with err (gzip and
 * tar errors, and whatever fn returned). */
int tar_stream_feed(struct tar_stream *s, const void *buf, size_t len, struct berr *err);

/* At the end of the blob: 0 when the gzip stream and the tar archive ended
 * cleanly, else -errno with err. */
int tar_stream_end(struct tar_stream *s, struct berr *err);

/* Frees the inflate state (not s itself). */
void tar_stream_release(struct tar_stream *s);

/* --- entry rules shared by the layer writers ---------------------------------- */

#define TAR_WH_PREFIX ".wh."
#define TAR_WH_META ".wh..wh."
#define TAR_WH_OPAQUE ".wh..wh..opq"
#define TAR_OPAQUE_XATTR "trusted.overlay.opaque"
/* Directories the layer did not list but needed as parents, and the mark on
 * a layer root that has such directories (see store_unpack_fixup). */
#define TAR_IMPLICIT_XATTR "trusted.berth.implicit"
#define TAR_FIXUP_XATTR "trusted.berth.fixup"

/* What an entry's name says it is. */
enum tar_kind { TAR_KIND_NORMAL, TAR_KIND_SKIP, TAR_KIND_WHITEOUT, TAR_KIND_OPAQUE };

/* "layer entry '<name as in the archive>': <why>[: strerror(code)]" (with
 * sys), returns -code. */
int tar_entry_err(const struct tar_entry *e, struct berr *err, int code, bool sys, const char *fmt,
		  ...) __attribute__((format(printf, 5, 6)));
int tar_entry_verr(const struct tar_entry *e, struct berr *err, int code, bool sys, const char *fmt,
		   va_list ap) __attribute__((format(printf, 5, 0)));

/* Writes in as a clean relative path into out (at least strlen(in) + 1
 * bytes): no leading '/', no "." or empty components, ".." applied to the
 * text. "" is the layer root. Returns 0, or -EPERM when a ".." climbs above
 * the root. */
int tar_clean_path(const char *in, char *out);

/* Owner range and reserved xattrs (trusted.overlay.*, user.overlay.*).
 * Returns 0 or -errno with err. */
int tar_check_entry(const struct tar_entry *e, struct berr *err);

/* Classifies entry e whose clean path is path (not "") and last component
 * base (inside path): whiteout, opaque marker, AUFS metadata to skip, or a
 * normal entry. Refuses whiteout names used as directories, whiteouts that
 * are not regular files or hardlinks, and whiteouts of "", "." or "..". */
int tar_classify(const struct tar_entry *e, const char *path, const char *base, enum tar_kind *kind,
		 struct berr *err);

/* Test hook of store/unpack.c, declared here so store/unpack.h stays the
 * layer API. walk: resolve parent directories with the component-by-component
 * walk only, as on kernels (or qemu-user) without openat2. Returns whether
 * openat2 is usable on this system. */
struct store_unpack;
bool store_unpack_test_walk(struct store_unpack *u, bool walk);

#endif
