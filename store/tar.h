/* Private to store/: streaming tar reader (pure, fed any chunks), unpack test
 * hook. POSIX.1-2017 pax: ustar format, extended headers; GNU base-256, L/K. */
#ifndef BERTH_TAR_H
#define BERTH_TAR_H

#include <stdbool.h>
#include <stddef.h>

#include "board/err.h"

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

/* Test hook of store/unpack.c, declared here so store/unpack.h stays the
 * layer API. walk: resolve parent directories with the component-by-component
 * walk only, as on kernels (or qemu-user) without openat2. Returns whether
 * openat2 is usable on this system. */
struct store_unpack;
bool store_unpack_test_walk(struct store_unpack *u, bool walk);

#endif
