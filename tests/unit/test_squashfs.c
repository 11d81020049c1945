/* Tests of the squashfs layer writer (store/squashfs.h) and loop mounting
 * (store/loop.h): tar streams built here are written both as an image and,
 * with the directory unpacker, as a directory; the image must read back as
 * the directory, through unsquashfs (-lln listing, -d extraction) and,
 * as root, through a kernel loop mount. Hostile streams must be refused in
 * the unpacker's words. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "store/digest.h"
#include "store/loop.h"
#include "store/squashfs.h"
#include "store/tar.h"
#include "store/unpack.h"
#include "tap.h"

#include "tarstream.h"

/* --- fixture: <base>/layer (the unpacker's), <base>/img, <base>/x (unsquashfs
 * -d), <base>/mnt (loop mount) ----------------------------------------------------- */

struct fx {
	char base[64];
	char layer[128], img[128], x[128], mnt[128];
	bool mounted;
};

static bool fx_setup(struct fx *f)
{
	snprintf(f->base, sizeof(f->base), "/tmp/berth-sqfs-XXXXXX");
	if (!mkdtemp(f->base))
		return false;
	chmod(f->base, 0755);
	snprintf(f->layer, sizeof(f->layer), "%s/layer", f->base);
	snprintf(f->img, sizeof(f->img), "%s/img", f->base);
	snprintf(f->x, sizeof(f->x), "%s/x", f->base);
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->base);
	f->mounted = false;
	return mkdir(f->layer, 0755) == 0 && mkdir(f->mnt, 0755) == 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void fx_teardown(struct fx *f)
{
	struct berr err;
	if (f->mounted && store_sqfs_umount(f->mnt, &err) < 0)
		umount2(f->mnt, MNT_DETACH);
	f->mounted = false;
	if (f->base[0])
		nftw(f->base, rm_one, 512, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
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

static bool is_root(void)
{
	return geteuid() == 0;
}

static int unpack(const char *dir, const void *data, size_t len, size_t chunk,
		  char diff[DIGEST_STR_MAX], struct berr *err)
{
	berr_clear(err);
	struct store_unpack *u = store_unpack_new(dir, err);
	if (!u)
		return -err->code;
	int rc = 0;
	const unsigned char *p = data;
	for (size_t off = 0; off < len && rc == 0; off += chunk)
		rc = store_unpack_feed(u, p + off, len - off < chunk ? len - off : chunk, err);
	char dummy[DIGEST_STR_MAX];
	if (rc == 0)
		rc = store_unpack_finish(u, diff ? diff : dummy, NULL, err);
	store_unpack_free(u);
	return rc;
}

static int sqfs(const char *img, const struct store_sqfs_opts *o, const void *data, size_t len,
		size_t chunk, char diff[DIGEST_STR_MAX], struct store_unpack_stats *st,
		struct berr *err)
{
	berr_clear(err);
	struct store_sqfs *s = store_sqfs_new(img, o, err);
	if (!s)
		return -err->code;
	int rc = 0;
	const unsigned char *p = data;
	for (size_t off = 0; off < len && rc == 0; off += chunk)
		rc = store_sqfs_feed(s, p + off, len - off < chunk ? len - off : chunk, err);
	char dummy[DIGEST_STR_MAX];
	if (rc == 0)
		rc = store_sqfs_finish(s, diff ? diff : dummy, st, err);
	store_sqfs_free(s);
	return rc;
}

/* Runs a shell command; returns its exit status (or -1). */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return st < 0 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

static bool have_unsquashfs(void)
{
	return run("command -v unsquashfs >/dev/null 2>&1") == 0;
}

/* --- comparing trees ---------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "name=value;..." of a node's xattrs, sorted, in out. */
static void xattr_list(const char *p, char *out, size_t cap)
{
	char names[8192], *v[128];
	size_t o = 0;
	out[0] = '\0';
	ssize_t n = llistxattr(p, names, sizeof(names));
	int k = 0;
	for (ssize_t i = 0; i < n && k < 128; i += (ssize_t)strlen(names + i) + 1)
		v[k++] = names + i;
	qsort(v, (size_t)k, sizeof(v[0]), cmp_str);
	for (int i = 0; i < k; i++) {
		unsigned char val[1024];
		ssize_t vl = lgetxattr(p, v[i], val, sizeof(val));
		o += (size_t)snprintf(out + o, cap - o, "%s=", v[i]);
		for (ssize_t j = 0; j < vl && o + 4 < cap; j++)
			o += (size_t)snprintf(out + o, cap - o, "%02x", val[j]);
		o += (size_t)snprintf(out + o, cap - o, ";");
		if (o >= cap)
			break;
	}
}

static bool same_content(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	bool same = fa && fb;
	static unsigned char ba[65536], bb[65536];
	while (same) {
		size_t na = fread(ba, 1, sizeof(ba), fa), nb = fread(bb, 1, sizeof(bb), fb);
		same = na == nb && !memcmp(ba, bb, na);
		if (!na)
			break;
	}
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return same;
}

static int tree_entries;
static time_t t_start;

/* b must hold what a holds, at rel below both: types, modes, owners, sizes,
 * contents, link targets, devices, link counts, xattrs, mtimes (seconds; not
 * for the root, implicit directories or whiteouts, whose times the unpacker
 * takes from the clock). */
static void compare_at(const char *a, const char *b, const char *rel, int depth)
{
	char pa[8192], pb[8192];
	snprintf(pa, sizeof(pa), "%s/%s", a, rel);
	snprintf(pb, sizeof(pb), "%s/%s", b, rel);
	struct stat sa, sb;
	if (lstat(pa, &sa) < 0) {
		failf("%s: missing in the reference (%s)", rel, strerror(errno));
		return;
	}
	if (lstat(pb, &sb) < 0) {
		failf("%s: missing in %s (%s)", rel, b, strerror(errno));
		return;
	}
	tree_entries++;
	if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
		failf("%s: type %o, expected %o", rel, sb.st_mode & S_IFMT, sa.st_mode & S_IFMT);
		return;
	}
	if (!S_ISLNK(sa.st_mode) && (sa.st_mode & 07777) != (sb.st_mode & 07777))
		failf("%s: mode %04o, expected %04o", rel, sb.st_mode & 07777, sa.st_mode & 07777);
	if (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid)
		failf("%s: owner %u:%u, expected %u:%u", rel, sb.st_uid, sb.st_gid, sa.st_uid,
		      sa.st_gid);
	char xa[8192], xb[8192];
	xattr_list(pa, xa, sizeof(xa));
	xattr_list(pb, xb, sizeof(xb));
	if (strcmp(xa, xb))
		failf("%s: xattrs '%s', expected '%s'", rel, xb, xa);
	bool whiteout = S_ISCHR(sa.st_mode) && sa.st_rdev == 0;
	bool implicit = strstr(xa, "trusted.berth.implicit=") != NULL;
	long long ta = sa.st_mtim.tv_sec < 0 ? 0 : sa.st_mtim.tv_sec;
	/* The unpacker sets a directory's time once the archive moves on from
	 * it: later entries in it (not depth-first) leave the clock's time. */
	bool clock = S_ISDIR(sa.st_mode) && sa.st_mtim.tv_sec >= t_start;
	if (depth && !whiteout && !implicit && !clock && ta != sb.st_mtim.tv_sec)
		failf("%s: mtime %lld, expected %lld", rel, (long long)sb.st_mtim.tv_sec, ta);
	if (S_ISREG(sa.st_mode)) {
		if (sa.st_size != sb.st_size)
			failf("%s: size %lld, expected %lld", rel, (long long)sb.st_size,
			      (long long)sa.st_size);
		else if (!same_content(pa, pb))
			failf("%s: content differs", rel);
	}
	if (!S_ISDIR(sa.st_mode) && sa.st_nlink != sb.st_nlink)
		failf("%s: %lu links, expected %lu", rel, (unsigned long)sb.st_nlink,
		      (unsigned long)sa.st_nlink);
	if ((S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) && sa.st_rdev != sb.st_rdev)
		failf("%s: device %u:%u, expected %u:%u", rel, major(sb.st_rdev), minor(sb.st_rdev),
		      major(sa.st_rdev), minor(sa.st_rdev));
	if (S_ISLNK(sa.st_mode)) {
		char la[8192], lb[8192];
		ssize_t na = readlink(pa, la, sizeof(la) - 1),
			nb = readlink(pb, lb, sizeof(lb) - 1);
		la[na < 0 ? 0 : na] = '\0';
		lb[nb < 0 ? 0 : nb] = '\0';
		if (strcmp(la, lb))
			failf("%s: link to '%s', expected '%s'", rel, lb, la);
	}
	if (!S_ISDIR(sa.st_mode))
		return;
	DIR *d = opendir(pa);
	int na = 0, nb = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		na++;
		char r[8192];
		snprintf(r, sizeof(r), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		compare_at(a, b, r, depth + 1);
	}
	if (d)
		closedir(d);
	d = opendir(pb);
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			nb++;
	if (d)
		closedir(d);
	if (na != nb)
		failf("%s/: %d entries, expected %d", rel, nb, na);
}

static int count_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	tree_entries++;
	return 0;
}

static void count_tree(const char *dir)
{
	tree_entries = 0;
	nftw(dir, count_one, 512, FTW_PHYS);
}

static void compare_trees(const char *a, const char *b)
{
	tree_entries = 0;
	compare_at(a, b, "", 0);
}

/* --- the unsquashfs listing ---------------------------------------------------------- */

static void mode_string(mode_t m, char out[11])
{
	const char *t = "?";
	switch (m & S_IFMT) {
	case S_IFDIR:
		t = "d";
		break;
	case S_IFREG:
		t = "-";
		break;
	case S_IFLNK:
		t = "l";
		break;
	case S_IFCHR:
		t = "c";
		break;
	case S_IFBLK:
		t = "b";
		break;
	case S_IFIFO:
		t = "p";
		break;
	}
	snprintf(out, 11, "%s%c%c%c%c%c%c%c%c%c", t, m & 0400 ? 'r' : '-', m & 0200 ? 'w' : '-',
		 m & 04000 ? (m & 0100 ? 's' : 'S') : (m & 0100 ? 'x' : '-'), m & 040 ? 'r' : '-',
		 m & 020 ? 'w' : '-', m & 02000 ? (m & 010 ? 's' : 'S') : (m & 010 ? 'x' : '-'),
		 m & 04 ? 'r' : '-', m & 02 ? 'w' : '-',
		 m & 01000 ? (m & 01 ? 't' : 'T') : (m & 01 ? 'x' : '-'));
}

/* Each line of `unsquashfs -lln` against the reference tree dir: type and
 * mode, numeric owner, size (or device numbers), link target; and as many
 * lines as the tree has entries. */
static void check_listing(const char *img, const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "unsquashfs -lln -d /R %s 2>&1", img);
	FILE *p = popen(cmd, "r");
	if (!p) {
		failf("popen unsquashfs");
		return;
	}
	char line[9000];
	int lines = 0;
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		char *path = strstr(line, " /R");
		if (!path || line[0] == 'P' || !strchr("-dlcbps", line[0]))
			continue;
		lines++;
		path += 3;
		char *arrow = strstr(path, " -> ");
		if (arrow)
			*arrow = '\0';
		char perms[16];
		unsigned int uid, gid;
		if (sscanf(line, "%15s %u/%u", perms, &uid, &gid) != 3) {
			failf("unparsed listing line '%s'", line);
			continue;
		}
		char ref[8192];
		snprintf(ref, sizeof(ref), "%s%s", dir, path);
		struct stat st;
		if (lstat(ref, &st) < 0) {
			failf("listing has '%s', the reference does not", path);
			continue;
		}
		char want[11];
		mode_string(st.st_mode, want);
		if (S_ISLNK(st.st_mode))
			strcpy(want, "lrwxrwxrwx");
		if (strcmp(perms, want))
			failf("listing '%s': %s, expected %s", path, perms, want);
		if (uid != st.st_uid || gid != st.st_gid)
			failf("listing '%s': owner %u/%u, expected %u/%u", path, uid, gid,
			      st.st_uid, st.st_gid);
		/* the field before the date: size, or "major,minor" (maybe spaced) */
		char *date = strstr(line + 10, "-");
		while (date && !(date[-5] == ' ' && date[3] == '-'))
			date = strstr(date + 1, "-");
		if (!date) {
			failf("no date in '%s'", line);
			continue;
		}
		char *f = date - 5;
		while (f > line && f[-1] == ' ')
			f--;
		char *fs = f;
		while (fs > line && fs[-1] != ' ' && fs[-1] != '/')
			fs--;
		if ((S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && major(st.st_rdev) < 256 &&
		    minor(st.st_rdev) < 256) {
			/* unsquashfs prints larger numbers wrongly (as for mksquashfs's
			 * images); the extraction checks them */
			char *comma = strrchr(line, ',');
			unsigned int ma = 0, mi = 0;
			char *mb = comma;
			while (mb > line && mb[-1] != ' ')
				mb--;
			while (mb > line && mb[-1] == ' ' && mb[-2] != '/')
				mb--;
			if (!comma || sscanf(mb, "%u ,", &ma) != 1 ||
			    sscanf(comma + 1, "%u", &mi) != 1 || ma != major(st.st_rdev) ||
			    mi != minor(st.st_rdev))
				failf("listing '%s': device in '%s', expected %u,%u", path, line,
				      major(st.st_rdev), minor(st.st_rdev));
		} else if (!S_ISDIR(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
			long long size = atoll(fs);
			if (size != (long long)st.st_size)
				failf("listing '%s': size %lld, expected %lld", path, size,
				      (long long)st.st_size);
		}
		if (S_ISLNK(st.st_mode)) {
			char t[8192];
			ssize_t n = readlink(ref, t, sizeof(t) - 1);
			t[n < 0 ? 0 : n] = '\0';
			if (!arrow || strcmp(arrow + 4, t))
				failf("listing '%s': target '%s', expected '%s'", path,
				      arrow ? arrow + 4 : "", t);
		}
	}
	int st = pclose(p);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		failf("unsquashfs -lln %s failed", img);
	if (lines != tree_entries)
		failf("listing has %d entries, the reference %d", lines, tree_entries);
}

/* Writes b both ways and compares: the unsquashfs listing and extraction,
 * and as root a loop mount. */
static void check_both(struct fx *f, const struct buf *b, const struct store_sqfs_opts *o,
		       size_t chunk)
{
	struct berr err;
	char d1[DIGEST_STR_MAX] = "", d2[DIGEST_STR_MAX] = "";
	int rc = unpack(f->layer, b->p, b->len, chunk, d1, &err);
	if (rc) {
		failf("unpack: %s", err.msg);
		return;
	}
	struct store_unpack_stats st;
	rc = sqfs(f->img, o, b->p, b->len, chunk, d2, &st, &err);
	if (rc) {
		failf("squashfs: %d %s", rc, err.msg);
		return;
	}
	char want[DIGEST_STR_MAX];
	if (b->len && b->p[0] != 0x1f) { /* plain tar: its own digest */
		sha_of(b->p, b->len, want);
		T_EXPECT_STR(d2, want);
	}
	T_EXPECT_STR(d2, d1);
	T_EXPECT_INT(st.bytes_in, b->len);
	if (!have_unsquashfs()) {
		printf("# unsquashfs missing: image not read back with it\n");
	} else {
		if (run("unsquashfs -st -n -d %s %s >/dev/null 2>&1", f->x, f->img) != 0)
			failf("unsquashfs -d failed on %s", f->img);
		else
			compare_trees(f->layer, f->x);
		count_tree(f->layer);
		check_listing(f->img, f->layer);
	}
	if (!is_root())
		return;
	rc = store_sqfs_mount(f->img, f->mnt, &err);
	if (rc) {
		failf("mount: %s", err.msg);
		return;
	}
	f->mounted = true;
	compare_trees(f->layer, f->mnt);
	rc = store_sqfs_umount(f->mnt, &err);
	if (rc)
		failf("umount: %s", err.msg);
	else
		f->mounted = false;
}

/* Runs check_both on b (freed) in a fresh fixture. */
static void both(struct buf *b, const struct store_sqfs_opts *o, size_t chunk)
{
	struct fx f = { 0 };
	if (fx_setup(&f))
		check_both(&f, b, o, chunk);
	else
		failf("fixture: %s", strerror(errno));
	fx_teardown(&f);
	buf_free(b);
}

static bool need_root(void)
{
	if (is_root())
		return true;
	t_skip("needs root (the reference unpack keeps owners, devices, trusted.* xattrs)");
	return false;
}

/* --- the layers ----------------------------------------------------------------------- */

#include "layers.h"

/* --- hostile archives (they use layers.h's big[]) --- */
#include "hostile.h"

static const struct hostile *cur_hostile;

static bool is_stream_case(const struct hostile *h)
{
	return h->build == h_gzip_garbage || h->build == h_gzip_truncated ||
	       h->build == h_gzip_trailing || h->build == h_gzip_bad_crc || h->build == h_zstd;
}

/* --- tests ---------------------------------------------------------------------------- */

static bool can_mount(const char **why)
{
	*why = NULL;
	if (!is_root())
		*why = "needs root for loop devices and mount";
	else if (access("/dev/loop-control", F_OK) < 0)
		*why = "no /dev/loop-control (kernel without loop devices)";
	else if (run("grep -qw squashfs /proc/filesystems") != 0 &&
		 run("modprobe squashfs >/dev/null 2>&1") != 0)
		*why = "kernel without squashfs";
	return !*why;
}

static bool mount_ok;

static void test_mount_support(void)
{
	const char *why;
	mount_ok = can_mount(&why);
	if (!mount_ok)
		t_skip(why);
	if (!have_unsquashfs())
		printf("# unsquashfs not installed: images are only checked by mounting\n");
}

static void test_layer(void)
{
	if (!need_root())
		return;
	struct buf b = { 0 };
	build_layer(&b);
	both(&b, NULL, SIZE_MAX);
}

static void test_layer_gzip_4k(void)
{
	if (!need_root())
		return;
	struct buf t = { 0 }, gz = { 0 };
	build_layer(&t);
	gzip(&t, &gz, 3);
	buf_free(&t);
	both(&gz, &(struct store_sqfs_opts){ .block_size = 4096, .level = 1 }, 1);
}

static void test_empty(void)
{
	if (!need_root())
		return;
	struct buf b = { 0 };
	both(&b, NULL, 1);
	t_end(&b);
	both(&b, NULL, 1);
	struct buf t = { 0 }, gz = { 0 };
	gzip(&t, &gz, 1);
	both(&gz, NULL, 7);
}

static void test_whiteouts(void)
{
	if (!need_root())
		return;
	struct buf b = { 0 };
	t_file(&b, ".wh.gone", "", 0644);
	t_dir(&b, "etc/", 0755);
	t_file(&b, "etc/.wh..wh..opq", "", 0644);
	t_dir(&b, "keep/", 0755);
	t_file(&b, "keep/a", "a", 0644);
	t_file(&b, ".wh.keep", "", 0644);
	t_file(&b, ".wh.later", "", 0644);
	t_dir(&b, "later/", 0755);
	t_file(&b, "file", "f", 0644);
	t_file(&b, ".wh.file", "", 0644);
	t_file(&b, ".wh.f2", "", 0644);
	t_file(&b, "f2", "f2", 0644);
	t_dir(&b, ".wh..wh.plnk/", 0700);
	t_file(&b, ".wh..wh.plnk/123.456", "aufs", 0644);
	t_file(&b, "sub/.wh.x", "data is ignored", 0644);
	t_file(&b, "first", "", 0644);
	t_hard(&b, ".wh.linked", "first");
	t_dir(&b, "root-opq/", 0755);
	t_file(&b, "./root-opq/./.wh..wh..opq", "", 0644);
	t_file(&b, "imp/lic/it/.wh..wh..opq", "", 0644);
	t_file(&b, ".wh..wh..opq", "", 0644); /* the layer root itself */
	t_end(&b);
	both(&b, NULL, 512);
}

static void test_replace(void)
{
	if (!need_root())
		return;
	struct buf b = { 0 };
	t_dir(&b, "x/", 0755);
	t_file(&b, "x/child", "c", 0644);
	t_dir(&b, "x/sub/", 0755);
	t_file(&b, "x/sub/deep", "d", 0644);
	t_dir(&b, "x/sub/sub2/", 0755);
	t_sym(&b, "x/sub/link", "/");
	t_file(&b, "x", "now a file", 0644);
	t_file(&b, "y", "file y", 0644);
	t_dir(&b, "y/", 0755);
	t_file(&b, "y/in", "in y", 0644);
	t_dir(&b, "z/", 0700);
	t_dir(&b, "z/", 0750);
	t_sym(&b, "s", "x");
	t_dir(&b, "s/", 0755);
	t_file(&b, "s/in-s", "s", 0644);
	t_file(&b, "f", "one", 0644);
	t_file(&b, "f", "two", 0600);
	t_file(&b, "h1", "first", 0644);
	t_hard(&b, "h2", "h1");
	t_file(&b, "h2", "new", 0644);
	t_file(&b, "l", "file", 0644);
	t_sym(&b, "l", "y");
	t_file(&b, "top/t", "t", 0644);
	t_dir(&b, "top/", 0711); /* an implicit directory listed later */
	struct buf r = { 0 };
	pax_str(&r, "SCHILY.xattr.user.a", "1");
	t_pax(&b, 'x', &r);
	t_dir(&b, "xd/", 0755);
	pax_str(&r, "SCHILY.xattr.user.a", "2");
	pax_str(&r, "SCHILY.xattr.user.b", "3");
	t_pax(&b, 'x', &r);
	t_dir(&b, "xd/", 0755); /* xattrs merge, the later value wins */
	t_end(&b);
	both(&b, NULL, 100);
}

static void test_links_and_nodes(void)
{
	if (!need_root())
		return;
	struct buf b = { 0 };
	t_sym(&b, "s", "/etc/passwd");
	t_hard(&b, "hs", "s");
	t_file(&b, "dir/f", "f", 0644);
	t_hard(&b, "other/g", "./dir/../dir/f");
	t_hard(&b, "other/g2", "dir/f");
	t_hard(&b, "other/g3", "other/g2");
	t_file(&b, "self", "self", 0644);
	t_hard(&b, "self", "self");
	t_hard(&b, "abs", "/dir/f");
	entry(&b, (struct th){ .name = "dev/null", .type = '3', .mode = 0666, .maj = 1, .min = 3 },
	      NULL, 0);
	/* the largest device number the kernel takes; qemu-arm (32-bit guests)
	 * refuses it with EINVAL, so there a large 16-bit one */
	unsigned bigmaj = sizeof(void *) == 4 ? 255 : 4095,
		 bigmin = sizeof(void *) == 4 ? 65535 : 1048575;
	entry(&b,
	      (struct th){
		      .name = "dev/big", .type = '4', .mode = 0600, .maj = bigmaj, .min = bigmin },
	      NULL, 0);
	entry(&b, (struct th){ .name = "dev/zero0", .type = '3', .mode = 0600, .maj = 0, .min = 0 },
	      NULL, 0);
	entry(&b, (struct th){ .name = "fifo", .type = '6', .mode = 0620, .uid = 7, .gid = 8 },
	      NULL, 0);
	t_hard(&b, "fifo2", "fifo");
	t_hard(&b, "null2", "dev/null");
	t_end(&b);
	both(&b, NULL, 4096);
}

static void test_deep(void)
{
	if (!need_root())
		return;
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
	t_hard(&b, "t2/h", "t2/t");
	t_file(&b, "t2/.wh.t", "", 0644);
	t_end(&b);
	both(&b, NULL, 10000);
}

/* Names of 255 bytes, link targets of 4000, a path of 4000. */
static void test_long_names(void)
{
	if (!need_root())
		return;
	struct buf b = { 0 };
	char n255[256], dir[300], target[4001], path[4096], w[300];
	memset(n255, 'n', 255);
	n255[255] = '\0';
	t_file(&b, n255, "255", 0644);
	snprintf(dir, sizeof(dir), "d/%s/", n255);
	t_dir(&b, dir, 0755);
	snprintf(path, sizeof(path), "d/%s/%s", n255, n255);
	t_sym(&b, path, n255);
	memset(target, 't', 4000);
	target[4000] = '\0';
	t_sym(&b, "longlink", target);
	path[0] = '\0';
	while (strlen(path) < 3800)
		strcat(path,
		       "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz/");
	strcat(path, "end");
	t_file(&b, path, "deep path", 0644);
	/* a whiteout of a 251-byte name: ".wh." makes the entry 255 */
	memset(w, 'w', 251);
	w[251] = '\0';
	char wh[300];
	snprintf(wh, sizeof(wh), ".wh.%s", w);
	t_file(&b, wh, "", 0644);
	t_end(&b);
	both(&b, NULL, 3000);
}

static unsigned long long rng = 88172645463325252ULL;

static unsigned char rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned char)(rng >> 32);
}

static long long file_size(const char *p)
{
	struct stat st;
	return stat(p, &st) < 0 ? -1 : (long long)st.st_size;
}

/* Data in blocks, tails in fragments, holes, incompressible blocks. */
static void test_file_data(void)
{
	if (!need_root())
		return;
	const size_t bs = 128 * 1024;
	size_t nbig = 5 * bs + 1000, nsparse = 6 * bs + 4096, nrand = 300000;
	unsigned char *bigd = malloc(nbig), *sp = calloc(1, nsparse), *rd = malloc(nrand);
	for (size_t i = 0; i < nbig; i++)
		bigd[i] = (unsigned char)("squashfs layer "[i % 15] + (i / 4096) % 7);
	for (size_t i = 0; i < bs; i++)
		sp[i] = sp[4 * bs + i] = (unsigned char)(i % 251);
	for (size_t i = 0; i < nrand; i++)
		rd[i] = rnd();
	struct buf b = { 0 };
	entry(&b, (struct th){ .name = "big", .type = '0', .size = nbig }, bigd, nbig);
	entry(&b, (struct th){ .name = "sparse", .type = '0', .size = nsparse }, sp, nsparse);
	entry(&b, (struct th){ .name = "zeros", .type = '0', .size = 2 * bs }, sp + bs, 2 * bs);
	entry(&b, (struct th){ .name = "one-block", .type = '0', .size = bs }, bigd, bs);
	entry(&b, (struct th){ .name = "random", .type = '0', .size = nrand }, rd, nrand);
	for (int i = 0; i < 60; i++) {
		char n[32];
		snprintf(n, sizeof(n), "small/%02d", i);
		entry(&b, (struct th){ .name = n, .type = '0', .size = 5000 + (size_t)i }, bigd + i,
		      5000 + (size_t)i);
	}
	t_file(&b, "empty", "", 0644);
	t_end(&b);
	struct fx f = { 0 };
	if (fx_setup(&f)) {
		check_both(&f, &b, NULL, 65536);
		/* The random file is stored as is, the zeros not at all. */
		long long size = file_size(f.img);
		if (size < (long long)nrand || size > (long long)nrand + 60000)
			failf("image of %lld bytes for %zu random bytes and compressible rest",
			      size, nrand);
		if (mount_ok && store_sqfs_mount(f.img, f.mnt, &(struct berr){ 0 }) == 0) {
			f.mounted = true;
			char p[256];
			struct stat st;
			snprintf(p, sizeof(p), "%s/zeros", f.mnt);
			if (lstat(p, &st) || st.st_blocks > 8)
				failf("zeros: %lld blocks, expected a hole",
				      (long long)st.st_blocks);
			snprintf(p, sizeof(p), "%s/sparse", f.mnt);
			if (lstat(p, &st) || st.st_blocks * 512 > (long long)(2 * bs + 4096 + 512))
				failf("sparse: %lld blocks, holes not recorded",
				      (long long)st.st_blocks);
		}
	}
	fx_teardown(&f);
	buf_free(&b);
	free(bigd);
	free(sp);
	/* one 4 KiB block size: many blocks and fragments */
	b = (struct buf){ 0 };
	entry(&b, (struct th){ .name = "r", .type = '0', .size = 20000 }, rd, 20000);
	entry(&b, (struct th){ .name = "s", .type = '0', .size = 5000 }, rd + 100, 5000);
	t_end(&b);
	both(&b, &(struct store_sqfs_opts){ .block_size = 4096 }, 999);
	free(rd);
}

/* More entries than a directory header holds, and a listing over many
 * metadata blocks: the directory gets an index; every name must be found
 * through it, missing names not. */
static void test_big_dir(void)
{
	if (!need_root())
		return;
	struct buf b = { 0 };
	char n[128];
	for (int i = 0; i < 3000; i++) {
		snprintf(n, sizeof(n), "big/entry-%05d-%.*s", (i * 7919) % 3000, i % 40,
			 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnop");
		if (i % 500 == 0) {
			strcat(n, "/");
			t_dir(&b, n, 0755);
		} else if (i % 3) {
			t_file(&b, n, "x", 0644);
		} else {
			t_sym(&b, n, "target");
		}
	}
	for (int i = 0; i < 300; i++) {
		snprintf(n, sizeof(n), "mid/%03d", i);
		t_file(&b, n, "m", 0644);
	}
	t_end(&b);
	struct fx f = { 0 };
	if (fx_setup(&f)) {
		check_both(&f, &b, NULL, 65536);
		if (mount_ok && store_sqfs_mount(f.img, f.mnt, &(struct berr){ 0 }) == 0) {
			f.mounted = true;
			int found = 0, bad = 0;
			for (int i = 0; i < 3000; i++) {
				char p[300];
				struct stat st;
				snprintf(p, sizeof(p), "%s/big/entry-%05d-%.*s", f.mnt,
					 (i * 7919) % 3000, i % 40,
					 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnop");
				found += lstat(p, &st) == 0;
				snprintf(p, sizeof(p), "%s/big/entry-%05d-%.*sX", f.mnt,
					 (i * 7919) % 3000, i % 40,
					 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnop");
				bad += lstat(p, &st) == 0 || errno != ENOENT;
			}
			T_EXPECT_INT(found, 3000);
			T_EXPECT_INT(bad, 0);
			const char *edge[] = { "a", "big", "entry-", "zzzz", "\xff" };
			for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
				char p[300];
				struct stat st;
				snprintf(p, sizeof(p), "%s/big/%s", f.mnt, edge[i]);
				if (lstat(p, &st) == 0)
					failf("big/%s found", edge[i]);
			}
		}
	}
	fx_teardown(&f);
	buf_free(&b);
}

/* xattrs: the namespaces squashfs stores, others dropped as the unpacker's
 * file system drops them, equal sets shared. */
static void test_xattrs(void)
{
	if (!need_root())
		return;
	struct buf b = { 0 }, r = { 0 };
	for (int i = 0; i < 20; i++) {
		char n[32];
		pax_rec(&r, "SCHILY.xattr.security.capability",
			"\1\0\0\2\0\x20\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
		pax_str(&r, "SCHILY.xattr.user.mime", "text/plain");
		t_pax(&b, 'x', &r);
		snprintf(n, sizeof(n), "f%02d", i);
		t_file(&b, n, "x", 0755);
	}
	pax_str(&r, "SCHILY.xattr.foo.bar", "unknown namespace");
	pax_str(&r, "SCHILY.xattr.trusted.big", "0123456789012345678901234567890123456789");
	t_pax(&b, 'x', &r);
	t_dir(&b, "d/", 0755);
	pax_str(&r, "SCHILY.xattr.user.x", "on a fifo");
	pax_str(&r, "SCHILY.xattr.trusted.x", "on a fifo");
	t_pax(&b, 'x', &r);
	entry(&b, (struct th){ .name = "d/fifo", .type = '6', .mode = 0600 }, NULL, 0);
	t_end(&b);
	both(&b, NULL, 1000);
}

/* The same stream gives the same image, byte for byte. */
static void test_reproducible(void)
{
	struct fx f = { 0 };
	if (!fx_setup(&f)) {
		failf("fixture");
		return;
	}
	struct buf b = { 0 };
	build_layer(&b);
	struct berr err;
	char a[160];
	snprintf(a, sizeof(a), "%s/a", f.base);
	T_EXPECT_INT(sqfs(f.img, NULL, b.p, b.len, 100000, NULL, NULL, &err), 0);
	T_EXPECT_INT(sqfs(a, NULL, b.p, b.len, 333, NULL, NULL, &err), 0);
	T_EXPECT(run("cmp -s %s %s", f.img, a) == 0);
	T_EXPECT_INT(file_size(a) % 4096, 0);
	buf_free(&b);
	fx_teardown(&f);
}

static void test_limits(void)
{
	struct fx f = { 0 };
	if (!fx_setup(&f)) {
		failf("fixture");
		return;
	}
	struct buf b = { 0 };
	for (int i = 0; i < 20; i++) {
		char n[32];
		snprintf(n, sizeof(n), "d%d/f", i);
		t_file(&b, n, "x", 0644);
	}
	t_end(&b);
	struct berr err;
	T_EXPECT_INT(sqfs(f.img, &(struct store_sqfs_opts){ .max_entries = 30 }, b.p, b.len, 512,
			  NULL, NULL, &err),
		     -E2BIG);
	T_EXPECT(strstr(err.msg, "layer entry 'd14/f': the layer has more than 30 entries") !=
		 NULL);
	T_EXPECT_INT(sqfs(f.img, &(struct store_sqfs_opts){ .max_entries = 41 }, b.p, b.len, 512,
			  NULL, NULL, &err),
		     0);
	T_EXPECT_INT(sqfs(f.img, &(struct store_sqfs_opts){ .max_meta_bytes = 40 }, b.p, b.len, 512,
			  NULL, NULL, &err),
		     -E2BIG);
	T_EXPECT(strstr(err.msg, "metadata exceeds 40 bytes") != NULL);
	buf_free(&b);
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
	T_EXPECT(store_sqfs_new(f.img, &(struct store_sqfs_opts){ .block_size = 5000 }, &err) ==
		 NULL);
	T_EXPECT_INT(err.code, EINVAL);
	char missing[200];
	snprintf(missing, sizeof(missing), "%s/no/img", f.base);
	T_EXPECT(store_sqfs_new(missing, NULL, &err) == NULL);
	T_EXPECT_INT(err.code, ENOENT);
	struct store_sqfs *s = store_sqfs_new(f.img, NULL, &err);
	T_EXPECT(s != NULL);
	if (s) {
		char junk[1024], diff[DIGEST_STR_MAX];
		memset(junk, 'j', sizeof(junk));
		T_EXPECT(store_sqfs_feed(s, junk, sizeof(junk), &err) < 0);
		T_EXPECT(strstr(err.msg, "checksum") != NULL);
		T_EXPECT_INT(store_sqfs_feed(s, junk, 1, &err), -EINVAL);
		T_EXPECT_INT(store_sqfs_finish(s, diff, NULL, &err), -EINVAL);
		store_sqfs_free(s);
	}
	s = store_sqfs_new(f.img, NULL, &err);
	if (s) {
		struct buf b = { 0 };
		t_file(&b, "f", "f", 0644);
		t_end(&b);
		char diff[DIGEST_STR_MAX];
		T_EXPECT_INT(store_sqfs_feed(s, b.p, b.len, &err), 0);
		T_EXPECT_INT(store_sqfs_finish(s, diff, NULL, &err), 0);
		T_EXPECT_INT(store_sqfs_feed(s, b.p, 1, &err), -EINVAL);
		T_EXPECT_INT(store_sqfs_finish(s, diff, NULL, &err), -EINVAL);
		store_sqfs_free(s);
		buf_free(&b);
	}
	store_sqfs_free(NULL);
	fx_teardown(&f);
}

/* Refused in the unpacker's words; what it accepts, accepted (and, as root,
 * read back the same). Names too long for a directory entry too. */
static void h_name_256(struct buf *b, const char *base)
{
	char n[300];
	memset(n, 'n', 256);
	n[256] = '\0';
	t_file(b, n, "x", 0644);
}

static void h_dir_256(struct buf *b, const char *base)
{
	char n[300];
	memset(n, 'n', 256);
	strcpy(n + 256, "/f");
	t_file(b, n, "x", 0644);
}

static void h_whiteout_256(struct buf *b, const char *base)
{
	char n[300] = ".wh.";
	memset(n + 4, 'n', 256);
	n[260] = '\0';
	t_file(b, n, "", 0644);
}

static void h_link_over_target(struct buf *b, const char *base)
{
	t_file(b, "d/f", "f", 0644);
	t_hard(b, "d", "d/f"); /* the new name removes what it would link to */
}

static void h_bad_caps(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	pax_rec(&r, "SCHILY.xattr.security.capability", "\1\0\0\2\0", 5);
	t_pax(b, 'x', &r);
	t_file(b, "f", "x", 0755);
}

static void h_caps_v3(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	/* v3, effective, root id 1000 */
	pax_rec(&r, "SCHILY.xattr.security.capability",
		"\1\0\0\3\0\x20\0\0\0\0\0\0\0\0\0\0\0\0\0\0\xe8\3\0\0", 24);
	t_pax(b, 'x', &r);
	t_file(b, "f", "x", 0755);
}

static void h_caps_flags(struct buf *b, const char *base)
{
	struct buf r = { 0 };
	pax_rec(&r, "SCHILY.xattr.security.capability",
		"\3\0\0\2\0\x20\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	t_pax(b, 'x', &r);
	t_file(b, "f", "x", 0755);
}

static const struct hostile extra[] = {
	{ "security.capability with an unknown flag", h_caps_flags, -EINVAL,
	  "set xattr security.capability" },
	{ "invalid security.capability", h_bad_caps, -EINVAL, "set xattr security.capability" },
	{ "v3 security.capability", h_caps_v3, 0, NULL },
	{ "256-byte name", h_name_256, -ENAMETOOLONG, NULL },          /* strerror: libc words */
	{ "256-byte directory name", h_dir_256, -ENAMETOOLONG, NULL }, /* strerror: libc words */
	{ "whiteout of a 256-byte name", h_whiteout_256, -ENAMETOOLONG,
	  NULL }, /* strerror: libc words */
	{ "hardlink replacing its target's directory", h_link_over_target, -ENOENT,
	  "No such file or directory" },
};

static void test_hostile(void)
{
	const struct hostile *h = cur_hostile;
	if (!is_root()) {
		t_skip("needs root (without it the unpacker refuses devices and opaque "
		       "directories)");
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
	struct berr eu, es;
	int ru = unpack(f.layer, b.p, b.len, 700, NULL, &eu);
	int rs = sqfs(f.img, NULL, b.p, b.len, 700, NULL, NULL, &es);
	if (ru != rs || (ru && strcmp(eu.msg, es.msg)))
		failf("squashfs: %d '%s', unpack: %d '%s'", rs, rs ? es.msg : "", ru,
		      ru ? eu.msg : "");
	/* errno texts differ between libcs ("File name too long" in glibc,
	 * "Filename too long" in musl) */
	const char *want = h->msg ? h->msg : h->code < 0 ? strerror(-h->code) : NULL;
	if (ru != h->code || (want && !strstr(eu.msg, want)))
		failf("unpack: %d '%s', the table expects %d '%s'", ru, ru ? eu.msg : "", h->code,
		      want ? want : "");
	if (!ru && !rs && is_root() && mount_ok) {
		/* accepted: read back as unpacked */
		if (store_sqfs_mount(f.img, f.mnt, &es) == 0) {
			f.mounted = true;
			compare_trees(f.layer, f.mnt);
		} else {
			failf("mount: %s", es.msg);
		}
	}
	buf_free(&b);
	fx_teardown(&f);
}

int main(void)
{
	names_init();
	t_start = time(NULL) - 1;
	T_RUN(test_mount_support);
	T_RUN(test_empty);
	T_RUN(test_layer);
	T_RUN(test_layer_gzip_4k);
	T_RUN(test_whiteouts);
	T_RUN(test_replace);
	T_RUN(test_links_and_nodes);
	T_RUN(test_deep);
	T_RUN(test_long_names);
	T_RUN(test_file_data);
	T_RUN(test_big_dir);
	T_RUN(test_xattrs);
	T_RUN(test_reproducible);
	T_RUN(test_limits);
	T_RUN(test_api_misuse);
	char name[200];
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		cur_hostile = &hostile[i];
		snprintf(name, sizeof(name), "hostile: %s", hostile[i].name);
		tap_run(test_hostile, name);
	}
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		cur_hostile = &extra[i];
		snprintf(name, sizeof(name), "hostile: %s", extra[i].name);
		tap_run(test_hostile, name);
	}
	return T_DONE();
}
