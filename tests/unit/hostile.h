/* The hostile archives both layer writers must refuse or contain (the
 * unpacker's and the squashfs writer's tests): escapes through "..",
 * symlinks and hard links, bad whiteouts, overlayfs xattrs, malformed and
 * truncated headers, each with the error it must give. Header-only: include
 * it after tarstream.h and the test's big[] (a 200,000-byte pattern). */
#ifndef BERTH_TEST_HOSTILE_H
#define BERTH_TEST_HOSTILE_H

#include <errno.h>

#include "tarstream.h"

struct hostile {
	const char *name;
	void (*build)(struct buf *b, const char *base);
	int code;        /* expected -errno, 0: accepted but contained */
	const char *msg; /* expected in the error */
};

static void h_dotdot(struct buf *b, const char *base)
{
	t_file(b, "../x", "bad", 0644);
}

static void h_dotdot_sentinel(struct buf *b, const char *base)
{
	t_file(b, "ok", "fine", 0644);
	t_file(b, "../sentinel/x", "bad", 0644);
}

static void h_dotdot_mid(struct buf *b, const char *base)
{
	t_file(b, "a/../../sentinel/x", "bad", 0644);
}

static void h_dotdot_dir(struct buf *b, const char *base)
{
	t_dir(b, "./a/./../../sentinel/d/", 0755);
}

static void h_symlink_root(struct buf *b, const char *base)
{
	char p[256];
	t_sym(b, "a", "/");
	snprintf(p, sizeof(p), "a%s/sentinel/x", base);
	t_file(b, p, "bad", 0644);
}

static void h_symlink_up(struct buf *b, const char *base)
{
	t_sym(b, "a", "..");
	t_file(b, "a/sentinel/x", "bad", 0644);
}

static void h_symlink_abs_dir(struct buf *b, const char *base)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/sentinel", base);
	t_sym(b, "a", p);
	t_file(b, "a/x", "bad", 0644);
}

static void h_symlink_chain(struct buf *b, const char *base)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/sentinel", base);
	t_sym(b, "a", "b");
	t_sym(b, "b", "c");
	t_sym(b, "c", p);
	t_file(b, "a/x", "bad", 0644);
}

static void h_symlink_mkdir(struct buf *b, const char *base)
{
	t_sym(b, "a", base);
	t_dir(b, "a/sentinel/d/", 0755);
}

static void h_symlink_deep(struct buf *b, const char *base)
{
	t_dir(b, "d/", 0755);
	t_dir(b, "d/e/", 0755);
	t_sym(b, "d/e/up", "../../..");
	t_file(b, "d/e/up/sentinel/x", "bad", 0644);
}

static void h_symlink_replaces_dir(struct buf *b, const char *base)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/sentinel", base);
	t_dir(b, "d/", 0755);
	t_file(b, "d/ok", "ok", 0644);
	t_sym(b, "d", p);
	t_file(b, "d/x", "bad", 0644);
}

static void h_symlink_then_hardlink_into(struct buf *b, const char *base)
{
	t_file(b, "f", "f", 0644);
	t_sym(b, "a", base);
	t_hard(b, "a/sentinel/x", "f");
}

static void h_write_over_symlink(struct buf *b, const char *base)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/outside", base);
	t_sym(b, "s", p);
	t_file(b, "s", "pwned", 0644); /* replaces the symlink, not its target */
	t_sym(b, "s2", p);
	t_dir(b, "s2/", 0755);
	t_sym(b, "s3", p);
	entry(b, (struct th){ .name = "s3", .type = '6', .mode = 0666 }, NULL, 0);
}

static void h_hardlink_outside(struct buf *b, const char *base)
{
	t_hard(b, "h", "../outside");
}

static void h_hardlink_abs(struct buf *b, const char *base)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/outside", base);
	t_hard(b, "h", p); /* a layer path: not in this layer */
}

static void h_hardlink_via_symlink(struct buf *b, const char *base)
{
	t_sym(b, "d", base);
	t_hard(b, "h", "d/outside");
}

static void h_hardlink_via_symlink_leaf(struct buf *b, const char *base)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/outside", base);
	t_sym(b, "s", p);
	t_hard(b, "h", "s"); /* links the symlink itself: harmless */
	t_file(b, "h", "pwned", 0644);
}

static void h_hardlink_dir(struct buf *b, const char *base)
{
	t_dir(b, "dir/", 0755);
	t_hard(b, "h", "dir");
}

static void h_hardlink_root(struct buf *b, const char *base)
{
	t_hard(b, "h", "./");
}

static void h_hardlink_missing(struct buf *b, const char *base)
{
	t_hard(b, "h", "nothing");
}

static void h_pax_linkpath(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	pax_str(&r, "linkpath", "../outside");
	t_pax(b, 'x', &r);
	t_hard(b, "h", "innocent");
}

static void h_whiteout_dotdot(struct buf *b, const char *base)
{
	t_file(b, ".wh...", "", 0644);
}

static void h_whiteout_dot(struct buf *b, const char *base)
{
	t_file(b, "a/.wh..", "", 0644);
}

static void h_whiteout_empty(struct buf *b, const char *base)
{
	t_file(b, "a/.wh.", "", 0644);
}

static void h_whiteout_path(struct buf *b, const char *base)
{
	t_file(b, "../.wh.outside", "", 0644);
}

static void h_whiteout_symlink(struct buf *b, const char *base)
{
	t_sym(b, "a", base);
	t_file(b, "a/.wh.outside", "", 0644);
}

static void h_opaque_symlink(struct buf *b, const char *base)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/sentinel", base);
	t_sym(b, "a", p);
	t_file(b, "a/.wh..wh..opq", "", 0644);
}

static void h_whiteout_device(struct buf *b, const char *base)
{
	entry(b, (struct th){ .name = ".wh.x", .type = '3', .maj = 1, .min = 3 }, NULL, 0);
}

static void h_whiteout_dirname(struct buf *b, const char *base)
{
	t_file(b, ".wh.x/y", "", 0644);
}

static void h_pax_path(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	pax_str(&r, "path", "../sentinel/x");
	t_pax(b, 'x', &r);
	t_file(b, "innocent", "bad", 0644);
}

static void h_gnu_longname(struct buf *b, const char *base)
{
	t_long(b, 'L', "../sentinel/x");
	t_file(b, "innocent", "bad", 0644);
}

static void h_gnu_longlink(struct buf *b, const char *base)
{
	t_long(b, 'K', "../outside");
	t_hard(b, "h", "innocent");
}

static void h_pax_nul(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	pax_rec(&r, "path", "ok\0/../../sentinel/x", 20);
	t_pax(b, 'x', &r);
	t_file(b, "innocent", "bad", 0644);
}

static void h_gnu_nul(struct buf *b, const char *base)
{
	entry(b, (struct th){ .name = "././@LongLink", .type = 'L', .size = 20, .gnu = true },
	      "ok\0/../../sentinel/x", 20);
	t_file(b, "innocent", "bad", 0644);
}

static void h_empty_name(struct buf *b, const char *base)
{
	t_file(b, "", "bad", 0644);
}

static void h_root_file(struct buf *b, const char *base)
{
	t_file(b, "./", "bad", 0644);
}

static void h_root_symlink(struct buf *b, const char *base)
{
	t_sym(b, ".", base);
	t_file(b, "sentinel/x", "bad", 0644);
}

static void h_parent_file(struct buf *b, const char *base)
{
	t_file(b, "f", "f", 0644);
	t_file(b, "f/x", "bad", 0644);
}

static void h_overlay_xattr(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	pax_str(&r, "SCHILY.xattr.trusted.overlay.redirect", "/etc");
	t_pax(b, 'x', &r);
	t_dir(b, "d/", 0755);
}

static void h_overlay_user_xattr(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	pax_str(&r, "SCHILY.xattr.user.overlay.opaque", "y");
	t_pax(b, 'x', &r);
	t_dir(b, "d/", 0755);
}

static void h_truncated_data(struct buf *b, const char *base)
{
	t_file(b, "ok", "fine", 0644);
	entry(b, (struct th){ .name = "big", .type = '0', .size = sizeof(big) }, big, sizeof(big));
	b->len -= 70000;
}

static void h_truncated_header(struct buf *b, const char *base)
{
	t_file(b, "ok", "fine", 0644);
	t_file(b, "next", "x", 0644);
	b->len = 1024 + 200; /* inside the second header */
}

static void h_truncated_pax(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	pax_str(&r, "path", "x");
	t_pax(b, 'x', &r);
}

static void h_bad_checksum(struct buf *b, const char *base)
{
	t_file(b, "ok", "fine", 0644);
	size_t at = b->len;
	t_file(b, "x", "x", 0644);
	b->p[at + 100] ^= 1; /* one bit of the mode */
}

static void h_pax_record_big(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	char *v = malloc(70000);
	memset(v, 'c', 70000);
	pax_rec(&r, "comment", v, 70000);
	free(v);
	t_pax(b, 'x', &r);
	t_file(b, "x", "x", 0644);
}

static void h_pax_header_big(struct buf *b, const char *base)
{
	header(b, &(struct th){ .name = "PaxHeaders/x", .type = 'x', .size = 2u << 20 });
	put_zeros(b, 2u << 20);
}

static void h_pax_bad_length(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	put(&r, "99 path=x\n", 10);
	t_pax(b, 'x', &r);
	t_file(b, "x", "x", 0644);
}

static void h_gnu_longname_big(struct buf *b, const char *base)
{
	char *n = malloc(5001);
	memset(n, 'n', 5000);
	n[5000] = '\0';
	t_long(b, 'L', n);
	free(n);
	t_file(b, "x", "x", 0644);
}

static void h_too_many_xattrs(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	for (int i = 0; i < TAR_XATTR_MAX + 1; i++) {
		char k[64];
		snprintf(k, sizeof(k), "SCHILY.xattr.user.x%d", i);
		pax_str(&r, k, "v");
	}
	t_pax(b, 'x', &r);
	t_file(b, "x", "x", 0644);
}

static void h_two_pax(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	pax_str(&r, "path", "ok");
	t_pax(b, 'x', &r);
	pax_str(&r, "path", "../sentinel/x");
	t_pax(b, 'x', &r);
	t_file(b, "x", "x", 0644);
}

static void h_longname_and_pax(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	t_long(b, 'L', "ok");
	pax_str(&r, "path", "../sentinel/x");
	t_pax(b, 'x', &r);
	t_file(b, "x", "x", 0644);
}

static void h_sparse(struct buf *b, const char *base)
{
	entry(b, (struct th){ .name = "s", .type = 'S', .size = 0, .gnu = true }, NULL, 0);
}

static void h_pax_sparse(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	pax_str(&r, "GNU.sparse.major", "1");
	t_pax(b, 'x', &r);
	t_file(b, "x", "x", 0644);
}

static void h_unknown_type(struct buf *b, const char *base)
{
	entry(b, (struct th){ .name = "v", .type = 'V' }, NULL, 0);
}

static void h_uid_range(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	pax_str(&r, "uid", "4294967296");
	t_pax(b, 'x', &r);
	t_file(b, "x", "x", 0644);
}

static void h_zero_then_header(struct buf *b, const char *base)
{
	t_file(b, "ok", "fine", 0644);
	put_zeros(b, 512);
	t_file(b, "x", "x", 0644);
}

static void h_pax_then_end(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	pax_str(&r, "path", "x");
	t_pax(b, 'x', &r);
	t_end(b);
}

static void h_bad_octal(struct buf *b, const char *base)
{
	size_t at = b->len;
	t_file(b, "x", "x", 0644);
	memcpy(b->p + at + 124, "0000000008x", 11); /* size: not octal */
	memset(b->p + at + 148, ' ', 8);
	long sum = 0;
	for (int i = 0; i < 512; i++)
		sum += b->p[at + i];
	char ck[8];
	snprintf(ck, sizeof(ck), "%06lo", (unsigned long)sum);
	memcpy(b->p + at + 148, ck, 7);
}

static void h_device_range(struct buf *b, const char *base)
{
	entry(b, (struct th){ .name = "d", .type = '3', .maj = 4096, .min = 1 }, NULL, 0);
}

/* Compressed-stream cases replace the tar with other bytes. */
static void h_gzip_garbage(struct buf *b, const char *base)
{
	static const char g[] = "\x1f\x8b\x08\x00garbage that is not deflate at all";
	put(b, g, sizeof(g) - 1);
}

static void h_gzip_truncated(struct buf *b, const char *base)
{
	struct buf tar = { 0 };
	t_file(&tar, "f", "f", 0644);
	entry(&tar, (struct th){ .name = "big", .type = '0', .size = sizeof(big) }, big,
	      sizeof(big));
	t_end(&tar);
	gzip(&tar, b, 1);
	b->len /= 2;
	buf_free(&tar);
}

static void h_gzip_trailing(struct buf *b, const char *base)
{
	struct buf tar = { 0 };
	t_file(&tar, "f", "f", 0644);
	t_end(&tar);
	gzip(&tar, b, 1);
	put(b, "junk after the gzip member", 26);
	buf_free(&tar);
}

static void h_gzip_bad_crc(struct buf *b, const char *base)
{
	struct buf tar = { 0 };
	t_file(&tar, "f", "f", 0644);
	t_end(&tar);
	gzip(&tar, b, 1);
	b->p[b->len - 8] ^= 0xff;
	buf_free(&tar);
}

static void h_zstd(struct buf *b, const char *base)
{
	static const char z[] = "\x28\xb5\x2f\xfd\x00\x58\x61\x00\x00";
	put(b, z, sizeof(z) - 1);
}

static const struct hostile hostile[] = {
	{ "../x", h_dotdot, -EPERM, "layer entry '../x': path escapes the layer" },
	{ "../sentinel/x", h_dotdot_sentinel, -EPERM, "path escapes the layer" },
	{ "a/../../sentinel/x", h_dotdot_mid, -EPERM, "path escapes the layer" },
	{ "dir with ./a/./../../", h_dotdot_dir, -EPERM, "path escapes the layer" },
	{ "symlink a -> / then a/...", h_symlink_root, -EPERM, "path goes through a symlink" },
	{ "symlink a -> .. then a/x", h_symlink_up, -EPERM, "path goes through a symlink" },
	{ "symlink a -> outside dir then a/x", h_symlink_abs_dir, -EPERM,
	  "path goes through a symlink" },
	{ "symlink chain a -> b -> c -> outside", h_symlink_chain, -EPERM,
	  "path goes through a symlink" },
	{ "mkdir through a symlink", h_symlink_mkdir, -EPERM, "path goes through a symlink" },
	{ "deep symlink d/e/up -> ../../..", h_symlink_deep, -EPERM,
	  "path goes through a symlink" },
	{ "symlink replaces a directory, then d/x", h_symlink_replaces_dir, -EPERM,
	  "path goes through a symlink" },
	{ "hardlink placed through a symlink", h_symlink_then_hardlink_into, -EPERM,
	  "path goes through a symlink" },
	{ "entries replacing symlinks to outside", h_write_over_symlink, 0, NULL },
	{ "hardlink to ../outside", h_hardlink_outside, -EPERM, "escapes the layer" },
	{ "hardlink to an absolute outside path", h_hardlink_abs, -ENOENT,
	  "hardlink target does not exist in the layer" },
	{ "hardlink through a symlinked dir", h_hardlink_via_symlink, -EPERM,
	  "hardlink target goes through a symlink" },
	{ "hardlink to a symlink to outside", h_hardlink_via_symlink_leaf, 0, NULL },
	{ "hardlink to a directory", h_hardlink_dir, -EPERM, "hardlink to a directory" },
	{ "hardlink to the root", h_hardlink_root, -EPERM, "hardlink to the layer root" },
	{ "hardlink to a missing file", h_hardlink_missing, -ENOENT, "does not exist" },
	{ "pax linkpath ../outside", h_pax_linkpath, -EPERM, "escapes the layer" },
	{ "GNU long link ../outside", h_gnu_longlink, -EPERM, "escapes the layer" },
	{ "whiteout .wh... (..)", h_whiteout_dotdot, -EPERM, "whiteout names no entry" },
	{ "whiteout a/.wh.. (.)", h_whiteout_dot, -EPERM, "whiteout names no entry" },
	{ "whiteout a/.wh. (empty)", h_whiteout_empty, -EPERM, "whiteout names no entry" },
	{ "whiteout ../.wh.outside", h_whiteout_path, -EPERM, "path escapes the layer" },
	{ "whiteout through a symlink", h_whiteout_symlink, -EPERM, "path goes through a symlink" },
	{ "opaque marker through a symlink", h_opaque_symlink, -EPERM,
	  "path goes through a symlink" },
	{ "device node named like a whiteout", h_whiteout_device, -EINVAL,
	  "whiteout entry must be a regular file" },
	{ "whiteout name as a directory", h_whiteout_dirname, -EINVAL,
	  "whiteout name used as a directory" },
	{ "pax path ../sentinel/x", h_pax_path, -EPERM,
	  "layer entry '../sentinel/x': path escapes the layer" },
	{ "GNU long name ../sentinel/x", h_gnu_longname, -EPERM,
	  "layer entry '../sentinel/x': path escapes the layer" },
	{ "NUL in a pax path", h_pax_nul, -EBADMSG, "pax path is empty or holds a NUL" },
	{ "NUL in a GNU long name", h_gnu_nul, -EBADMSG, "GNU long name holds a NUL" },
	{ "empty name", h_empty_name, -EINVAL, "empty name" },
	{ "root as a file", h_root_file, -EINVAL, "the layer root can only be a directory" },
	{ "root as a symlink", h_root_symlink, -EINVAL, "the layer root can only be a directory" },
	{ "file used as a directory", h_parent_file, -ENOTDIR,
	  "path goes through a non-directory" },
	{ "trusted.overlay.* xattr", h_overlay_xattr, -EPERM, "reserved for overlayfs" },
	{ "user.overlay.* xattr", h_overlay_user_xattr, -EPERM, "reserved for overlayfs" },
	{ "truncated in data", h_truncated_data, -EBADMSG, "truncated at byte" },
	{ "truncated in a header", h_truncated_header, -EBADMSG, "truncated at byte" },
	{ "truncated after a pax header", h_truncated_pax, -EBADMSG, "truncated at byte" },
	{ "bad checksum", h_bad_checksum, -EBADMSG, "tar header at byte 1024: checksum mismatch" },
	{ "bad octal number", h_bad_octal, -EBADMSG, "bad size field" },
	{ "oversized pax record", h_pax_record_big, -EFBIG, "pax record of 70015 bytes" },
	{ "oversized pax header", h_pax_header_big, -EFBIG, "pax header of 2097152 bytes" },
	{ "pax record length past its header", h_pax_bad_length, -EBADMSG,
	  "pax header ends inside a record" },
	{ "oversized GNU long name", h_gnu_longname_big, -ENAMETOOLONG, "GNU long name of 5001" },
	{ "too many xattrs", h_too_many_xattrs, -E2BIG, "more than 64 xattrs" },
	{ "two pax headers for one entry", h_two_pax, -EBADMSG, "second pax header" },
	{ "GNU long name and pax path", h_longname_and_pax, -EBADMSG,
	  "both a GNU long name and a pax path" },
	{ "GNU sparse entry", h_sparse, -ENOTSUP, "sparse files are not supported" },
	{ "pax sparse entry", h_pax_sparse, -ENOTSUP, "sparse files are not supported" },
	{ "unknown entry type", h_unknown_type, -ENOTSUP, "unsupported entry type 'V'" },
	{ "uid beyond 32 bits", h_uid_range, -EOVERFLOW, "owner 4294967296:0 out of range" },
	{ "device number beyond mknod", h_device_range, -EOVERFLOW, "out of range" },
	{ "header after one zero block", h_zero_then_header, -EBADMSG,
	  "header after a zero block" },
	{ "pax header then end of archive", h_pax_then_end, -EBADMSG,
	  "end of archive after a pax or GNU header" },
	{ "gzip garbage", h_gzip_garbage, -EBADMSG, "layer gzip stream:" },
	{ "gzip truncated", h_gzip_truncated, -EBADMSG, "layer gzip stream: truncated" },
	{ "gzip with trailing junk", h_gzip_trailing, -EBADMSG, "layer gzip stream:" },
	{ "gzip with a bad CRC", h_gzip_bad_crc, -EBADMSG, "incorrect data check" },
	{ "zstd magic", h_zstd, -ENOTSUP, "zstd layers are not supported" },
};

#endif
