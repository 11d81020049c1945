/* Tests of the layer unpacker (store/unpack.h) and its tar reader (store/tar.h):
 * tar streams built here (ustar, pax, GNU), plain and gzip, hostile ones too. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include "store/digest.h"
#include "store/tar.h"
#include "store/unpack.h"
#include "tap.h"

#include "tarstream.h"

/* --- fixture: <base>/layer (unpacked into; tests may add layer2...),
 * <base>/sentinel (must stay empty), <base>/outside (must stay as it is) --- */

struct fx {
	char base[64];
	char layer[128], sentinel[128], outside[128];
	struct stat out_st;
};

static bool fx_setup(struct fx *f)
{
	snprintf(f->base, sizeof(f->base), "/tmp/berth-unpack-XXXXXX");
	if (!mkdtemp(f->base))
		return false;
	chmod(f->base, 0755);
	snprintf(f->layer, sizeof(f->layer), "%s/layer", f->base);
	snprintf(f->sentinel, sizeof(f->sentinel), "%s/sentinel", f->base);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->base);
	if (mkdir(f->layer, 0755) || mkdir(f->sentinel, 0755))
		return false;
	int fd = open(f->outside, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0 || write(fd, "keep", 4) != 4) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	return lstat(f->outside, &f->out_st) == 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

/* nopenfd above the deepest test tree: musl's nftw does not go deeper. */
static void fx_teardown(struct fx *f)
{
	if (f->base[0])
		nftw(f->base, rm_one, 512, FTW_DEPTH | FTW_PHYS);
	f->base[0] = '\0';
}

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("#   ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	tap_cur_failed++;
}

/* Nothing outside the layer directory changed. */
static void fx_check_contained(struct fx *f)
{
	DIR *d = opendir(f->sentinel);
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			failf("sentinel holds '%s'", de->d_name), n++;
	if (d)
		closedir(d);
	struct stat st;
	char got[16] = "";
	int fd = open(f->outside, O_RDONLY | O_NOFOLLOW);
	ssize_t r = fd >= 0 ? read(fd, got, sizeof(got) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (r != 4 || memcmp(got, "keep", 4))
		failf("outside file changed");
	if (lstat(f->outside, &st) || st.st_ino != f->out_st.st_ino || st.st_nlink != 1 ||
	    st.st_mode != f->out_st.st_mode || st.st_uid != f->out_st.st_uid ||
	    st.st_mtim.tv_sec != f->out_st.st_mtim.tv_sec)
		failf("outside file's inode, links, mode, owner or time changed");
	d = opendir(f->base);
	while (d && (de = readdir(d))) {
		const char *nm = de->d_name;
		if (strcmp(nm, ".") && strcmp(nm, "..") && strncmp(nm, "layer", 5) &&
		    strcmp(nm, "sentinel") && strcmp(nm, "outside"))
			failf("new entry next to the layer: '%s'", nm);
	}
	if (d)
		closedir(d);
	char x[64];
	if (lgetxattr(f->sentinel, "trusted.overlay.opaque", x, sizeof(x)) >= 0 ||
	    lgetxattr(f->base, "trusted.overlay.opaque", x, sizeof(x)) >= 0)
		failf("a directory outside the layer got an opaque xattr");
}

/* --- running the unpacker ------------------------------------------------------- */

static bool have_openat2;

static int unpack(const char *dir, const void *data, size_t len, size_t chunk, bool walk,
		  char diff[DIGEST_STR_MAX], struct store_unpack_stats *st, struct berr *err)
{
	berr_clear(err);
	struct store_unpack *u = store_unpack_new(dir, err);
	if (!u)
		return -err->code;
	have_openat2 = store_unpack_test_walk(u, walk);
	int rc = 0;
	const unsigned char *p = data;
	for (size_t off = 0; off < len && rc == 0; off += chunk)
		rc = store_unpack_feed(u, p + off, len - off < chunk ? len - off : chunk, err);
	char dummy[DIGEST_STR_MAX];
	if (rc == 0)
		rc = store_unpack_finish(u, diff ? diff : dummy, st, err);
	store_unpack_free(u);
	return rc;
}

/* --- checks on the unpacked tree ------------------------------------------------- */

static bool is_root(void)
{
	return geteuid() == 0;
}

static bool lst(const char *dir, const char *rel, struct stat *st)
{
	char p[8192];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	if (lstat(p, st) == 0)
		return true;
	failf("%s: missing (%s)", rel, strerror(errno));
	return false;
}

static void expect_mode(const char *rel, const struct stat *st, mode_t type, mode_t mode)
{
	if ((st->st_mode & S_IFMT) != type)
		failf("%s: type %o, expected %o", rel, st->st_mode & S_IFMT, type);
	if (type != S_IFLNK && (st->st_mode & 07777) != mode)
		failf("%s: mode %04o, expected %04o", rel, st->st_mode & 07777, mode);
}

static void expect_owner(const char *rel, const struct stat *st, uid_t uid, gid_t gid)
{
	if (is_root() && (st->st_uid != uid || st->st_gid != gid))
		failf("%s: owner %u:%u, expected %u:%u", rel, st->st_uid, st->st_gid, uid, gid);
}

static void expect_file(const char *dir, const char *rel, const void *content, size_t len,
			mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st;
	if (!lst(dir, rel, &st))
		return;
	expect_mode(rel, &st, S_IFREG, mode);
	expect_owner(rel, &st, uid, gid);
	if ((size_t)st.st_size != len) {
		failf("%s: size %lld, expected %zu", rel, (long long)st.st_size, len);
		return;
	}
	char p[8192];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	int fd = open(p, O_RDONLY | O_NOFOLLOW);
	unsigned char *got = malloc(len + 1);
	ssize_t r = fd >= 0 && got ? read(fd, got, len + 1) : -1;
	if (r != (ssize_t)len || memcmp(got, content, len))
		failf("%s: content differs", rel);
	free(got);
	if (fd >= 0)
		close(fd);
}

static void expect_text(const char *dir, const char *rel, const char *content, mode_t mode)
{
	expect_file(dir, rel, content, strlen(content), mode, 0, 0);
}

static void expect_dir(const char *dir, const char *rel, mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st;
	if (!lst(dir, rel, &st))
		return;
	expect_mode(rel, &st, S_IFDIR, mode);
	expect_owner(rel, &st, uid, gid);
}

static void expect_symlink(const char *dir, const char *rel, const char *target)
{
	struct stat st;
	if (!lst(dir, rel, &st))
		return;
	expect_mode(rel, &st, S_IFLNK, 0);
	char p[8192], got[8192];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	ssize_t n = readlink(p, got, sizeof(got) - 1);
	got[n < 0 ? 0 : n] = '\0';
	if (strcmp(got, target))
		failf("%s: link to '%s', expected '%s'", rel, got, target);
}

static void expect_node(const char *dir, const char *rel, mode_t type, unsigned int maj,
			unsigned int min, mode_t mode)
{
	struct stat st;
	if (!lst(dir, rel, &st))
		return;
	expect_mode(rel, &st, type, mode);
	if (type != S_IFIFO && (major(st.st_rdev) != maj || minor(st.st_rdev) != min))
		failf("%s: device %u:%u, expected %u:%u", rel, major(st.st_rdev), minor(st.st_rdev),
		      maj, min);
}

static void expect_whiteout(const char *dir, const char *rel)
{
	expect_node(dir, rel, S_IFCHR, 0, 0, 0);
}

static void expect_xattr(const char *dir, const char *rel, const char *name, const void *val,
			 size_t len)
{
	char p[8192], got[256];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	ssize_t n = lgetxattr(p, name, got, sizeof(got));
	if (n != (ssize_t)len || memcmp(got, val, len))
		failf("%s: xattr %s is %zd bytes, not the expected value (%s)", rel, name, n,
		      n < 0 ? strerror(errno) : "differs");
}

static void expect_no_xattr(const char *dir, const char *rel, const char *name)
{
	char p[8192], got[64];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	if (lgetxattr(p, name, got, sizeof(got)) >= 0)
		failf("%s: unexpected xattr %s", rel, name);
}

static void expect_missing(const char *dir, const char *rel)
{
	char p[8192];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	if (lstat(p, &st) == 0)
		failf("%s: exists, expected nothing", rel);
}

static void expect_mtime(const char *dir, const char *rel, long long sec, long nsec)
{
	struct stat st;
	if (!lst(dir, rel, &st))
		return;
	if (st.st_mtim.tv_sec != sec || st.st_mtim.tv_nsec != nsec)
		failf("%s: mtime %lld.%09ld, expected %lld.%09ld", rel,
		      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, sec, nsec);
}

/* --- the main layer: every entry kind and header form --------------------------- */

#include "layers.h"

static void check_layer(const char *d)
{
	struct stat a, b2;
	expect_dir(d, ".", 0755, 0, 0);
	expect_dir(d, "etc", 0755, 0, 0);
	expect_mtime(d, "etc", MT, 0);
	expect_text(d, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
	expect_file(d, "etc/shadow", "secret", 6, 0640, 0, 42);
	expect_mtime(d, "etc/shadow", MT, 0);
	expect_dir(d, "usr/bin", 0755, 0, 0);
	expect_mtime(d, "usr/bin", MT, 0);
	expect_mtime(d, "usr", MT, 0);
	expect_text(d, "usr/bin/su", "ELF-su", 04755);
	expect_text(d, "usr/bin/su2", "ELF-su", 04755);
	if (lst(d, "usr/bin/su", &a) && lst(d, "usr/bin/su2", &b2) &&
	    (a.st_ino != b2.st_ino || a.st_nlink != 2))
		failf("usr/bin/su2 is not a hardlink of usr/bin/su");
	expect_file(d, "usr/bin/sg", "sg", 2, 02755, 1000, 1001);
	expect_dir(d, "tmp", 01777, 0, 0);
	expect_symlink(d, "bin", "usr/bin");
	expect_symlink(d, "abs", "/etc/passwd");
	expect_symlink(d, "dangling", "../../../../nowhere");
	expect_mtime(d, "bin", MT, 0);
	expect_node(d, "dev/null", S_IFCHR, 1, 3, 0666);
	expect_node(d, "dev/sda", S_IFBLK, 8, 0, 0660);
	if (lst(d, "dev/sda", &a))
		expect_owner("dev/sda", &a, 0, 6);
	expect_dir(d, "dev", 0755, 0, 0);
	expect_node(d, "run/fifo", S_IFIFO, 0, 0, 0600);
	expect_text(d, "data/paxsize", "hello world", 0644);
	expect_file(d, "data/bigids", "ids", 3, 0644, 3000000, 3000001);
	expect_mtime(d, "data/frac", 1234567890, 250000000);
	expect_xattr(d, "data/xattr", "user.foo", "bar", 3);
	expect_xattr(d, "data/xattr", "user.bin", "\0\1\2=\n", 5);
	expect_dir(d, "data/xdir", 0700, 0, 0);
	expect_xattr(d, "data/xdir", "trusted.berth", "1", 1);
	expect_symlink(d, "data/xlink", "xattr");
	expect_xattr(d, "data/xlink", "trusted.on-link", "l", 1);
	expect_no_xattr(d, "data/xlink", "user.dropped");
	expect_missing(d, "global");
	expect_text(d, long_pax, "pax path", 0644);
	expect_missing(d, "short-pax-name");
	expect_text(d, long_gnu, "gnu path", 0644);
	expect_missing(d, "short-gnu-name");
	expect_symlink(d, "data/klink", long_target);
	expect_symlink(d, "data/paxlink", long_target);
	expect_file(d, "data/b256", "b-256", 5, 0644, 4000000, 5);
	expect_mtime(d, "data/b256", -1, 0);
	expect_text(d, utf8_name, "ete", 0644);
	expect_text(d, "pre/fix/file", "pf", 0644);
	expect_text(d, "data/contig", "7", 0644);
	expect_text(d, "data/old", "0", 0644);
	expect_dir(d, "data/olddir", 0711, 0, 0);
	expect_text(d, "data/empty", "", 0400);
	expect_file(d, "data/big", big, sizeof(big), 0644, 0, 0);
	expect_dir(d, "locked", 0500, 0, 0);
	expect_text(d, "locked/f", "in locked", 0444);
	expect_mtime(d, "locked", MT, 0);
	expect_dir(d, "deep", 0755, 0, 0);
	expect_dir(d, "deep/a/b", 0755, 0, 0);
	expect_text(d, "deep/a/b/file", "deep", 0644);
}

struct variant {
	const char *name;
	bool gz;
	int members;
	size_t chunk;
	bool walk;
};

static const struct variant variants[] = {
	{ "plain, one feed", false, 1, SIZE_MAX, false },
	{ "plain, 1-byte feeds", false, 1, 1, false },
	{ "plain, 513-byte feeds", false, 1, 513, false },
	{ "gzip, one feed", true, 1, SIZE_MAX, false },
	{ "gzip, 1-byte feeds", true, 1, 1, false },
	{ "gzip, 3 members, 1000-byte feeds", true, 3, 1000, false },
	{ "plain, component walk", false, 1, 4096, true },
	{ "gzip, 2 members, component walk", true, 2, 65536, true },
};
static const struct variant *cur_variant;

static void test_layer(void)
{
	const struct variant *v = cur_variant;
	if (!is_root()) {
		t_skip("needs root (owners, device nodes, trusted.* xattrs)");
		return;
	}
	struct buf tar = { 0 }, gz = { 0 };
	struct fx f = { 0 };
	build_layer(&tar);
	if (v->gz)
		gzip(&tar, &gz, v->members);
	const struct buf *in = v->gz ? &gz : &tar;
	if (fx_setup(&f)) {
		struct berr err;
		char diff[DIGEST_STR_MAX], want[DIGEST_STR_MAX];
		struct store_unpack_stats st;
		int rc = unpack(f.layer, in->p, in->len, v->chunk, v->walk, diff, &st, &err);
		T_EXPECT_INT(rc, 0);
		if (rc)
			printf("#   error: %s\n", err.msg);
		sha_of(tar.p, tar.len, want);
		T_EXPECT_STR(diff, want);
		T_EXPECT_INT(st.bytes_tar, tar.len);
		T_EXPECT_INT(st.bytes_in, in->len);
		T_EXPECT_INT(st.entries, 38);
		check_layer(f.layer);
		fx_check_contained(&f);
	} else {
		failf("fixture: %s", strerror(errno));
	}
	fx_teardown(&f);
	buf_free(&tar);
	buf_free(&gz);
}

/* --- smaller behaviours ------------------------------------------------------------ */

/* Unpacks b (freed) into a fresh fixture and runs check on the layer dir;
 * expects success. */
static void run_ok(struct buf *b, bool walk, void (*check)(const char *dir))
{
	struct fx f = { 0 };
	if (fx_setup(&f)) {
		struct berr err;
		int rc = unpack(f.layer, b->p, b->len, 777, walk, NULL, NULL, &err);
		T_EXPECT_INT(rc, 0);
		if (rc)
			printf("#   error: %s\n", err.msg);
		else
			check(f.layer);
		fx_check_contained(&f);
	} else {
		failf("fixture: %s", strerror(errno));
	}
	fx_teardown(&f);
	buf_free(b);
}

static void check_replace(const char *d)
{
	expect_text(d, "x", "now a file", 0644);
	expect_dir(d, "y", 0755, 0, 0);
	expect_text(d, "y/in", "in y", 0644);
	expect_dir(d, "z", 0750, 0, 0);
	expect_dir(d, "s", 0755, 0, 0);
	expect_text(d, "s/in-s", "s", 0644);
	expect_text(d, "f", "two", 0600);
	expect_text(d, "h1", "first", 0644);
	expect_text(d, "h2", "new", 0644);
	struct stat st;
	if (lst(d, "h1", &st) && st.st_nlink != 1)
		failf("h1 still has %lu links", (unsigned long)st.st_nlink);
	expect_symlink(d, "l", "y");
	expect_text(d, "top/t", "t", 0644);
}

static void test_replace(void)
{
	struct buf b = { 0 };
	t_dir(&b, "x/", 0755);
	t_file(&b, "x/child", "c", 0644);
	t_dir(&b, "x/sub/", 0755);
	t_file(&b, "x/sub/deep", "d", 0644);
	t_dir(&b, "x/sub/sub2/", 0755);
	t_sym(&b, "x/sub/link", "/");
	t_file(&b, "x", "now a file", 0644); /* directory tree replaced by a file */
	t_file(&b, "y", "file y", 0644);
	t_dir(&b, "y/", 0755); /* file replaced by a directory */
	t_file(&b, "y/in", "in y", 0644);
	t_dir(&b, "z/", 0700);
	t_dir(&b, "z/", 0750); /* an existing directory: metadata updated */
	t_sym(&b, "s", "x");
	t_dir(&b, "s/", 0755); /* the symlink is replaced, never followed */
	t_file(&b, "s/in-s", "s", 0644);
	t_file(&b, "f", "one", 0644);
	t_file(&b, "f", "two", 0600);
	t_file(&b, "h1", "first", 0644);
	t_hard(&b, "h2", "h1");
	t_file(&b, "h2", "new", 0644); /* replaces the link, not h1's content */
	t_file(&b, "l", "file", 0644);
	t_sym(&b, "l", "y");
	t_file(&b, "top/t", "t", 0644);
	t_end(&b);
	run_ok(&b, false, check_replace);
}

static void check_whiteouts(const char *d)
{
	expect_whiteout(d, "gone");
	expect_missing(d, ".wh.gone");
	expect_dir(d, "etc", 0755, 0, 0);
	expect_xattr(d, "etc", "trusted.overlay.opaque", "y", 1);
	expect_missing(d, "etc/.wh..wh..opq");
	expect_dir(d, "keep", 0755, 0, 0);
	expect_text(d, "keep/a", "a", 0644);
	expect_xattr(d, "keep", "trusted.overlay.opaque", "y", 1);
	expect_dir(d, "later", 0755, 0, 0);
	expect_xattr(d, "later", "trusted.overlay.opaque", "y", 1);
	expect_text(d, "file", "f", 0644);
	expect_text(d, "f2", "f2", 0644);
	expect_missing(d, ".wh..wh.plnk");
	expect_whiteout(d, "sub/x");
	expect_no_xattr(d, "sub", "trusted.overlay.opaque");
	expect_no_xattr(d, ".", "trusted.overlay.opaque");
	expect_whiteout(d, "linked");
	expect_xattr(d, "root-opq", "trusted.overlay.opaque", "y", 1);
}

static void test_whiteouts(void)
{
	if (!is_root()) {
		t_skip("needs root (whiteout devices, trusted.overlay.opaque)");
		return;
	}
	struct buf b = { 0 };
	t_file(&b, ".wh.gone", "", 0644);
	t_dir(&b, "etc/", 0755);
	t_file(&b, "etc/.wh..wh..opq", "", 0644);
	t_dir(&b, "keep/", 0755);
	t_file(&b, "keep/a", "a", 0644);
	t_file(&b, ".wh.keep", "", 0644); /* a directory of this layer: made opaque */
	t_file(&b, ".wh.later", "", 0644);
	t_dir(&b, "later/", 0755); /* replaces the whiteout: opaque */
	t_file(&b, "file", "f", 0644);
	t_file(&b, ".wh.file", "", 0644); /* a file of this layer stays */
	t_file(&b, ".wh.f2", "", 0644);
	t_file(&b, "f2", "f2", 0644);
	t_dir(&b, ".wh..wh.plnk/", 0700); /* AUFS metadata: skipped */
	t_file(&b, ".wh..wh.plnk/123.456", "aufs", 0644);
	t_file(&b, "sub/.wh.x", "data is ignored", 0644);
	t_file(&b, "first", "", 0644);
	t_hard(&b, ".wh.linked", "first"); /* hardlink-typed whiteouts exist in the wild */
	t_dir(&b, "root-opq/", 0755);
	t_file(&b, "./root-opq/./.wh..wh..opq", "", 0644);
	t_end(&b);
	run_ok(&b, false, check_whiteouts);
}

static void check_links(const char *d)
{
	struct stat a, b2;
	if (lst(d, "s", &a) && lst(d, "hs", &b2) && (a.st_ino != b2.st_ino || !S_ISLNK(b2.st_mode)))
		failf("hs is not a hardlink of the symlink s");
	expect_text(d, "dir/f", "f", 0644);
	if (lst(d, "dir/f", &a) && lst(d, "other/g", &b2) && a.st_ino != b2.st_ino)
		failf("other/g is not a hardlink of dir/f");
	expect_text(d, "self", "self", 0644);
	expect_text(d, "abs", "f", 0644);
}

static void test_hardlinks(void)
{
	struct buf b = { 0 };
	t_sym(&b, "s", "/etc/passwd");
	t_hard(&b, "hs", "s"); /* links the symlink itself */
	t_file(&b, "dir/f", "f", 0644);
	t_hard(&b, "other/g", "./dir/../dir/f");
	t_file(&b, "self", "self", 0644);
	t_hard(&b, "self", "self");
	t_hard(&b, "abs", "/dir/f"); /* absolute targets are layer paths too */
	t_end(&b);
	run_ok(&b, false, check_links);
	memset(&b, 0, sizeof(b));
	t_sym(&b, "s", "/etc/passwd");
	t_hard(&b, "hs", "s");
	t_file(&b, "dir/f", "f", 0644);
	t_hard(&b, "other/g", "./dir/../dir/f");
	t_file(&b, "self", "self", 0644);
	t_hard(&b, "self", "self");
	t_hard(&b, "abs", "/dir/f");
	t_end(&b);
	run_ok(&b, true, check_links);
}

static char abs_name[256];

static void check_abs(const char *d)
{
	expect_text(d, abs_name + 1, "abs", 0644);
	expect_text(d, "etc/x", "etc", 0644);
	expect_text(d, "b", "dotdot inside", 0644);
}

/* A leading '/' is relative to the layer root (the choice documented in
 * unpack.c); it cannot reach the real root. */
static void test_absolute_paths(void)
{
	/* a path that would hit a real directory if the root were not the layer */
	snprintf(abs_name, sizeof(abs_name), "/tmp/berth-abs-%d", (int)getpid());
	struct buf b = { 0 };
	t_file(&b, abs_name, "abs", 0644);
	t_file(&b, "//etc/x", "etc", 0644);
	t_file(&b, "/a/../b", "dotdot inside", 0644);
	t_end(&b);
	run_ok(&b, false, check_abs);
	struct stat st;
	T_EXPECT(lstat(abs_name, &st) < 0);
}

static void check_times(const char *d)
{
	expect_mtime(d, "a", MT, 0);
	expect_mtime(d, "a/b", MT, 0);
	expect_mtime(d, "a/b/c", MT, 0);
	expect_mtime(d, ".", MT, 0);
	expect_mtime(d, "w", MT, 0);
}

/* Directory times survive the entries written into them later. */
static void test_dir_times(void)
{
	struct buf b = { 0 };
	t_dir(&b, ".", 0755);
	t_dir(&b, "a/", 0755);
	t_dir(&b, "a/b/", 0755);
	t_dir(&b, "a/b/c/", 0755);
	t_file(&b, "a/b/c/f", "f", 0644);
	t_file(&b, "a/b/g", "g", 0644);
	t_file(&b, "a/h", "h", 0644);
	t_dir(&b, "w/", 0755);
	t_file(&b, "w/x/y/z", "implicit parents", 0644);
	t_file(&b, "top", "t", 0644);
	t_end(&b);
	run_ok(&b, false, check_times);
}

static void check_deep(const char *d)
{
	char p[1024] = "n";
	for (int i = 1; i < 70; i++)
		strcat(p, "/n");
	strcat(p, "/f");
	expect_text(d, p, "bottom", 0644);
	expect_mtime(d, "n", MT, 0);
	expect_mtime(d, "n/n/n", MT, 0);
	expect_text(d, "t", "replaced a 100-deep tree", 0644);
	expect_dir(d, "t2", 0755, 0, 0);
	expect_text(d, "t2/t", "", 0644);
	expect_text(d, "t2/h", "", 0644);
}

/* Deeper than the directory-time stack, and a deep tree replaced (removal
 * runs in constant memory). */
static void test_deep_trees(void)
{
	struct buf b = { 0 };
	char p[1024] = "";
	for (int i = 0; i < 70; i++) {
		strcat(p, "n/");
		t_dir(&b, p, 0755);
	}
	strcat(p, "f");
	t_file(&b, p, "bottom", 0644);
	p[0] = '\0';
	for (int i = 0; i < 100; i++) {
		strcat(p, "t/");
		t_dir(&b, p, 0755);
		char f[1024];
		snprintf(f, sizeof(f), "%sfile", p);
		t_file(&b, f, "x", 0644);
		snprintf(f, sizeof(f), "%slink", p);
		t_sym(&b, f, "/");
	}
	t_file(&b, "t", "replaced a 100-deep tree", 0644);
	t_file(&b, "t2/t/t/t/f", "x", 0644);
	t_dir(&b, "t2/", 0755);
	t_file(&b, "t2/t", "file over a directory", 0644);
	t_dir(&b, "t2/", 0755);
	t_file(&b, "t2/t", "", 0644);
	t_sym(&b, "t2/t", "x");
	t_file(&b, "t2/t", "", 0644);
	t_hard(&b, "t2/h", "t2/t");
	t_file(&b, "t2/.wh.t", "", 0644); /* t2/t is this layer's: stays */
	t_end(&b);
	run_ok(&b, true, check_deep);
}

static void check_eof(const char *d)
{
	expect_text(d, "f", "f", 0644);
}

/* Endings that are clean: end-of-archive, EOF after a member, EOF after one
 * zero block, data after the end-of-archive blocks, nothing at all. */
static void test_eof_forms(void)
{
	struct buf b = { 0 };
	for (int form = 0; form < 4; form++) {
		t_file(&b, "f", "f", 0644);
		if (form == 1)
			put_zeros(&b, 512);
		if (form == 2) {
			t_end(&b);
			put(&b, "trailing junk, ignored", 22);
		}
		if (form == 3)
			put_zeros(&b, 10240 - b.len);
		struct buf copy = { 0 };
		put(&copy, b.p, b.len);
		struct fx f = { 0 };
		if (fx_setup(&f)) {
			struct berr err;
			char diff[DIGEST_STR_MAX], want[DIGEST_STR_MAX];
			T_EXPECT_INT(
				unpack(f.layer, copy.p, copy.len, 100, false, diff, NULL, &err), 0);
			sha_of(copy.p, copy.len, want);
			T_EXPECT_STR(diff, want);
			check_eof(f.layer);
		}
		fx_teardown(&f);
		buf_free(&copy);
		buf_free(&b);
	}
	struct fx f = { 0 };
	if (fx_setup(&f)) {
		struct berr err;
		char diff[DIGEST_STR_MAX], want[DIGEST_STR_MAX];
		T_EXPECT_INT(unpack(f.layer, "", 0, 1, false, diff, NULL, &err), 0);
		sha_of("", 0, want);
		T_EXPECT_STR(diff, want);
		struct buf e = { 0 }, gz = { 0 };
		gzip(&e, &gz, 1);
		T_EXPECT_INT(unpack(f.layer, gz.p, gz.len, 1, false, diff, NULL, &err), 0);
		T_EXPECT_STR(diff, want);
		buf_free(&gz);
	}
	fx_teardown(&f);
}

static void test_api_misuse(void)
{
	struct fx f = { 0 };
	struct berr err;
	if (!fx_setup(&f)) {
		failf("fixture");
		return;
	}
	berr_clear(&err);
	T_EXPECT(store_unpack_new(f.base, &err) == NULL); /* not empty */
	T_EXPECT_INT(err.code, ENOTEMPTY);
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/missing", f.base);
	berr_clear(&err);
	T_EXPECT(store_unpack_new(missing, &err) == NULL);
	T_EXPECT_INT(err.code, ENOENT);

	struct store_unpack *u = store_unpack_new(f.layer, &err);
	T_EXPECT(u != NULL);
	if (u) {
		char junk[1024];
		memset(junk, 'j', sizeof(junk));
		T_EXPECT(store_unpack_feed(u, junk, sizeof(junk), &err) < 0);
		T_EXPECT(strstr(err.msg, "checksum") != NULL);
		berr_clear(&err);
		T_EXPECT_INT(store_unpack_feed(u, junk, 1, &err), -EINVAL);
		char diff[DIGEST_STR_MAX];
		T_EXPECT_INT(store_unpack_finish(u, diff, NULL, &err), -EINVAL);
		store_unpack_free(u);
	}
	fx_teardown(&f);
	if (!fx_setup(&f))
		return;
	u = store_unpack_new(f.layer, &err);
	if (u) {
		struct buf b = { 0 };
		t_file(&b, "f", "f", 0644);
		t_end(&b);
		char diff[DIGEST_STR_MAX];
		T_EXPECT_INT(store_unpack_feed(u, b.p, b.len, &err), 0);
		T_EXPECT_INT(store_unpack_finish(u, diff, NULL, &err), 0);
		T_EXPECT_INT(store_unpack_feed(u, b.p, 1, &err), -EINVAL);
		store_unpack_free(u);
		buf_free(&b);
	}
	store_unpack_free(NULL);
	fx_teardown(&f);
}

/* Without root: owners are skipped, modes kept; device nodes and opaque
 * directories fail clearly. Whiteouts (0/0 character devices) need no
 * privilege since Linux 5.8; before that they fail clearly too. Runs in a
 * child that drops to nobody. */
static void test_not_root(void)
{
	if (!is_root()) {
		t_skip("needs root to switch to an unprivileged user");
		return;
	}
	struct fx f = { 0 };
	if (!fx_setup(&f)) {
		failf("fixture");
		return;
	}
	char l2[160], l3[160], l4[160];
	snprintf(l2, sizeof(l2), "%s/layer2", f.base);
	snprintf(l3, sizeof(l3), "%s/layer3", f.base);
	snprintf(l4, sizeof(l4), "%s/layer4", f.base);
	const char *dirs[] = { f.layer, l2, l3, l4 };
	for (int i = 0; i < 4; i++)
		if ((i && mkdir(dirs[i], 0755)) || chown(dirs[i], 65534, 65534))
			failf("%s: %s", dirs[i], strerror(errno));
	struct buf ok = { 0 }, dev = { 0 }, opq = { 0 }, wh = { 0 };
	entry(&ok, (struct th){ .name = "f", .type = '0', .mode = 04604, .uid = 1000, .size = 1 },
	      "f", 1);
	t_dir(&ok, "d/", 0711);
	entry(&ok, (struct th){ .name = "d/fifo", .type = '6', .mode = 0640 }, NULL, 0);
	t_end(&ok);
	entry(&dev, (struct th){ .name = "null", .type = '3', .mode = 0666, .maj = 1, .min = 3 },
	      NULL, 0);
	t_end(&dev);
	t_file(&opq, "d/.wh..wh..opq", "", 0644);
	t_end(&opq);
	t_file(&wh, ".wh.x", "", 0644);
	t_end(&wh);
	pid_t pid = fork();
	if (pid == 0) {
		int bad = 0;
		struct berr err;
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(100);
		if (unpack(f.layer, ok.p, ok.len, 4096, false, NULL, NULL, &err))
			bad |= 1;
		if (unpack(l2, dev.p, dev.len, 4096, false, NULL, NULL, &err) != -EPERM ||
		    !strstr(err.msg, "layer entry 'null': creating a device node needs root"))
			bad |= 2;
		if (unpack(l3, opq.p, opq.len, 4096, false, NULL, NULL, &err) != -EPERM ||
		    !strstr(err.msg, "marking a directory opaque needs root"))
			bad |= 4;
		int rc = unpack(l4, wh.p, wh.len, 4096, false, NULL, NULL, &err);
		if (rc && (rc != -EPERM || !strstr(err.msg, "whiteouts need root")))
			bad |= 8;
		_exit(bad);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	T_EXPECT(WIFEXITED(status));
	T_EXPECT_INT(WEXITSTATUS(status), 0);
	struct stat st;
	if (lst(f.layer, "f", &st)) {
		T_EXPECT_INT(st.st_uid, 65534);
		/* modes are applied as given, the owner is whoever unpacked */
		T_EXPECT_INT(st.st_mode & 07777, 04604);
	}
	expect_dir(f.layer, "d", 0711, 65534, 65534);
	expect_node(f.layer, "d/fifo", S_IFIFO, 0, 0, 0640);
	char x[200];
	snprintf(x, sizeof(x), "%s/x", l4);
	if (lstat(x, &st) == 0 && (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(0, 0)))
		failf("layer4/x is not a whiteout");
	fx_check_contained(&f);
	fx_teardown(&f);
	buf_free(&ok);
	buf_free(&dev);
	buf_free(&opq);
	buf_free(&wh);
}

/* --- hostile archives (they use layers.h's big[]) --- */
#include "hostile.h"

static const struct hostile *cur_hostile;
static bool cur_walk;

static bool is_stream_case(const struct hostile *h)
{
	return h->build == h_gzip_garbage || h->build == h_gzip_truncated ||
	       h->build == h_gzip_trailing || h->build == h_gzip_bad_crc || h->build == h_zstd;
}

static void test_hostile(void)
{
	const struct hostile *h = cur_hostile;
	if (!cur_walk && !have_openat2) {
		t_skip("no openat2 here (the walk variant covers this case)");
		return;
	}
	struct fx f = { 0 };
	if (!fx_setup(&f)) {
		failf("fixture: %s", strerror(errno));
		return;
	}
	struct buf b = { 0 };
	h->build(&b, f.base);
	if (!is_stream_case(h) && h->build != h_truncated_data && h->build != h_truncated_header &&
	    h->build != h_truncated_pax && h->build != h_pax_header_big &&
	    h->build != h_pax_then_end)
		t_end(&b);
	/* Feed in odd pieces: the refusal must not depend on chunking. */
	size_t chunks[] = { SIZE_MAX, 1, 700 };
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		if (chunks[i] == 1 && b.len > 100000)
			continue;
		struct berr err;
		int rc = unpack(f.layer, b.p, b.len, chunks[i], cur_walk, NULL, NULL, &err);
		if (rc != h->code || (h->msg && !strstr(err.msg, h->msg)))
			failf("chunk %zu: rc %d (%s), expected %d with \"%s\"", chunks[i], rc,
			      rc ? err.msg : "ok", h->code, h->msg ? h->msg : "");
		fx_check_contained(&f);
		/* a fresh layer directory for the next feed pattern */
		nftw(f.layer, rm_one, 512, FTW_DEPTH | FTW_PHYS);
		mkdir(f.layer, 0755);
	}
	buf_free(&b);
	fx_teardown(&f);
}

/* --- the pure reader ----------------------------------------------------------------- */

static unsigned long long fnv(unsigned long long h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* Reads the archive in pieces split at the given offsets and describes the
 * events in out. */
static void summarize(const struct buf *b, size_t s1, size_t s2, struct buf *out)
{
	struct tar_reader *r = malloc(sizeof(*r));
	tar_reader_init(r);
	size_t cuts[] = { 0, s1, s2, b->len };
	unsigned long long h = 14695981039346656037ULL, n = 0;
	char line[TAR_PATH_MAX * 2 + 200];
	int rc = 0;
	for (int i = 0; i < 3 && rc >= 0; i++) {
		const unsigned char *p = b->p + cuts[i];
		size_t len = cuts[i + 1] - cuts[i];
		for (;;) {
			const unsigned char *d;
			size_t dl;
			struct berr err;
			rc = tar_reader_next(r, &p, &len, &d, &dl, &err);
			const struct tar_entry *e = &r->entry;
			if (rc == TAR_EV_MORE || rc < 0)
				break;
			if (rc == TAR_EV_ENTRY) {
				snprintf(line, sizeof(line),
					 "E %c %s -> %s size %llu mode %o %llu:%llu t %lld.%u "
					 "dev %llu:%llu x%u\n",
					 e->type, e->path, e->link, e->size, e->mode, e->uid,
					 e->gid, e->mtime, e->mtime_nsec, e->devmajor, e->devminor,
					 e->nxattr);
				put(out, line, strlen(line));
				for (unsigned int k = 0; k < e->nxattr; k++) {
					snprintf(line, sizeof(line), " xattr %s %zu %llx\n",
						 e->xattr[k].name, e->xattr[k].len,
						 fnv(1, e->xattr[k].value, e->xattr[k].len));
					put(out, line, strlen(line));
				}
				h = 14695981039346656037ULL;
				n = 0;
			} else if (rc == TAR_EV_DATA) {
				h = fnv(h, d, dl);
				n += dl;
			} else if (rc == TAR_EV_DONE) {
				snprintf(line, sizeof(line), "D %llu %llx\n", n, h);
				put(out, line, strlen(line));
			} else if (rc == TAR_EV_END) {
				put(out, "END\n", 4);
			}
		}
	}
	struct berr err;
	snprintf(line, sizeof(line), "rc %d end %d\n", rc < 0 ? rc : 0,
		 rc < 0 ? 0 : tar_reader_end(r, &err));
	put(out, line, strlen(line));
	free(r);
}

/* The reader's events do not depend on where the input is cut. */
static void test_reader_splits(void)
{
	struct buf b = { 0 }, r = { 0 };
	pax_str(&r, "path", "pax/name");
	pax_str(&r, "mtime", "-1.25");
	pax_rec(&r, "SCHILY.xattr.user.v", "a\0b", 3);
	t_pax(&b, 'x', &r);
	t_file(&b, "short", "data of pax/name", 0640);
	t_long(&b, 'L', "gnu/long/name");
	t_long(&b, 'K', "gnu/long/link");
	t_sym(&b, "s", "t");
	entry(&b, (struct th){ .name = "f", .type = '0', .size = 1000 }, big, 1000);
	entry(&b, (struct th){ .name = "c", .type = '3', .maj = 5, .min = 7 }, NULL, 0);
	entry(&b, (struct th){ .name = "d/", .type = '5', .size = 77 }, NULL, 0);
	t_end(&b);
	struct buf whole = { 0 };
	summarize(&b, 0, 0, &whole);
	put(&whole, "", 1);
	const char *w = (const char *)whole.p;
	T_EXPECT(strstr(w, "E 0 pax/name ->  size 16 mode 640 0:0 t -2.750000000 dev 0:0 x1\n") !=
		 NULL);
	T_EXPECT(strstr(w, " xattr user.v 3 ") != NULL);
	T_EXPECT(strstr(w, "E 2 gnu/long/name -> gnu/long/link size 0") != NULL);
	T_EXPECT(strstr(w, "E 3 c ->  size 0 mode 644 0:0 t 1600000000.0 dev 5:7") != NULL);
	T_EXPECT(strstr(w, "E 5 d/ ->  size 0") != NULL); /* size of a directory: no data */
	T_EXPECT(strstr(w, "END\nrc 0 end 0\n") != NULL);
	if (tap_cur_failed)
		printf("# whole:\n%s", w);
	int bad = 0;
	for (size_t s1 = 0; s1 <= b.len && bad < 3; s1 += 1) {
		size_t s2 = s1 + (s1 * 7919) % (b.len - s1 + 1);
		struct buf part = { 0 };
		summarize(&b, s1, s2, &part);
		put(&part, "", 1);
		if (strcmp((const char *)part.p, w)) {
			failf("split at %zu and %zu differs:\n%s", s1, s2, (const char *)part.p);
			bad++;
		}
		buf_free(&part);
	}
	buf_free(&whole);
	buf_free(&b);
}

/* Truncation anywhere is noticed at the end, never taken as a clean end. */
static void test_reader_truncation(void)
{
	struct buf b = { 0 };
	t_file(&b, "a", "aaaa", 0644);
	struct buf r = { 0 };
	pax_str(&r, "path", "p");
	t_pax(&b, 'x', &r);
	t_file(&b, "b", "bbbb", 0644);
	size_t ends[] = { 1024, 3072 }; /* clean: after a member */
	struct tar_reader *t = malloc(sizeof(*t));
	for (size_t cut = 0; cut <= b.len; cut++) {
		tar_reader_init(t);
		const unsigned char *p = b.p;
		size_t len = cut;
		int rc;
		struct berr err;
		do {
			const unsigned char *d;
			size_t dl;
			rc = tar_reader_next(t, &p, &len, &d, &dl, &err);
		} while (rc > TAR_EV_MORE);
		bool clean = cut == 0 || cut == ends[0] || cut == ends[1];
		int end = rc < 0 ? rc : tar_reader_end(t, &err);
		if ((end == 0) != clean)
			failf("cut at %zu: end %d, expected %s", cut, end,
			      clean ? "clean" : "error");
	}
	free(t);
	buf_free(&b);
}

int main(void)
{
	names_init();
	{
		/* learn whether openat2 works here */
		struct fx f = { 0 };
		struct berr err;
		if (fx_setup(&f))
			unpack(f.layer, "", 0, 1, false, NULL, NULL, &err);
		fx_teardown(&f);
		printf("# openat2 %s\n", have_openat2 ? "available" : "not available");
	}
	T_RUN(test_reader_splits);
	T_RUN(test_reader_truncation);
	char name[160];
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		cur_variant = &variants[i];
		snprintf(name, sizeof(name), "test_layer (%s)", variants[i].name);
		tap_run(test_layer, name);
	}
	T_RUN(test_replace);
	T_RUN(test_whiteouts);
	T_RUN(test_hardlinks);
	T_RUN(test_absolute_paths);
	T_RUN(test_dir_times);
	T_RUN(test_deep_trees);
	T_RUN(test_eof_forms);
	T_RUN(test_api_misuse);
	T_RUN(test_not_root);
	for (int walk = 0; walk < 2; walk++) {
		for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
			cur_hostile = &hostile[i];
			cur_walk = walk;
			snprintf(name, sizeof(name), "hostile, %s: %s",
				 walk ? "component walk" : "openat2", hostile[i].name);
			tap_run(test_hostile, name);
		}
	}
	return T_DONE();
}
