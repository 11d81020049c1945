/* Fills an empty volume with the image's content at its mount point, as
 * docker does for a new volume (see copyup.h). Everything goes through
 * directory fds opened with O_NOFOLLOW, so no symlink in the image can lead
 * the copy out of the container's root or out of the volume. */
#include "runtime/copyup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "board/fs.h"

#define COPYUP_DEPTH 64 /* directories deeper than this are refused */

/* Opens the directory at path below root, one component at a time, never
 * following a symlink. -ENOENT when a component is missing, -ENOTDIR or
 * -ELOOP when one is not a plain directory. */
static int open_below(int root, const char *path)
{
	int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char comp[NAME_MAX + 1];
	for (const char *p = path; fd >= 0 && *p;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (!n)
			break;
		if (n > NAME_MAX || (n == 2 && !strncmp(p, "..", 2))) {
			close(fd);
			return -EINVAL;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		if (!strcmp(comp, "."))
			continue;
		int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		close(fd);
		if (next < 0)
			return -e;
		fd = next;
	}
	return fd < 0 ? -errno : fd;
}

/* Owner, mode and times of st onto name in dir (the entry itself). */
static int copy_meta(int dir, const char *name, const struct stat *st)
{
	if (fchownat(dir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (!S_ISLNK(st->st_mode) && fchmodat(dir, name, st->st_mode & 07777, 0))
		return -errno;
	struct timespec t[2] = { st->st_atim, st->st_mtim };
	if (utimensat(dir, name, t, AT_SYMLINK_NOFOLLOW))
		return -errno;
	return 0;
}

static int copy_file(int sdir, int ddir, const char *name, struct berr *err)
{
	int in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return berr_set(err, errno, "read %s", name);
	int out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		int e = errno;
		close(in);
		return berr_set(err, e, "create %s", name);
	}
	char buf[16384];
	ssize_t n;
	int rc = 0;
	while (!rc && (n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno != EINTR)
				rc = berr_set(err, errno, "read %s", name);
			continue;
		}
		for (ssize_t off = 0; !rc && off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno != EINTR)
				rc = berr_set(err, errno, "write %s", name);
			else if (w > 0)
				off += w;
		}
	}
	close(in);
	if (close(out) && !rc)
		rc = berr_set(err, errno, "write %s", name);
	return rc;
}

/* Copies the entries of sdir into ddir, recursively. */
static int copy_tree(int sdir, int ddir, int depth, struct berr *err)
{
	if (depth > COPYUP_DEPTH)
		return berr_setmsg(err, ELOOP, "deeper than %d directories", COPYUP_DEPTH);
	int dfd = openat(sdir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return berr_set(err, errno, "read directory");
	}
	int rc = 0;
	struct dirent *de;
	while (!rc && (errno = 0, de = readdir(d))) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		struct stat st;
		if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW)) {
			rc = berr_set(err, errno, "%s", name);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			if (mkdirat(ddir, name, 0700))
				rc = berr_set(err, errno, "mkdir %s", name);
			int s2 = rc ? -1
				    : openat(sdir, name,
					     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int d2 = s2 < 0 ? -1
					: openat(ddir, name,
						 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (!rc && d2 < 0)
				rc = berr_set(err, errno, "open %s", name);
			if (!rc)
				rc = copy_tree(s2, d2, depth + 1, err);
			if (s2 >= 0)
				close(s2);
			if (d2 >= 0)
				close(d2);
			if (rc)
				berr_prefix(err, "%s", name);
		} else if (S_ISREG(st.st_mode)) {
			rc = copy_file(sdir, ddir, name, err);
		} else if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);
			if (n < 0)
				rc = berr_set(err, errno, "readlink %s", name);
			target[n < 0 ? 0 : n] = '\0';
			if (!rc && symlinkat(target, ddir, name))
				rc = berr_set(err, errno, "symlink %s", name);
		} else if (mknodat(ddir, name, st.st_mode & (S_IFMT | 0600), st.st_rdev)) {
			/* fifos, sockets and devices are made again, not opened */
			rc = berr_set(err, errno, "mknod %s", name);
		}
		if (!rc) {
			int e = copy_meta(ddir, name, &st);
			if (e)
				rc = berr_set(err, -e, "owner and mode of %s", name);
		}
	}
	if (!rc && errno)
		rc = berr_set(err, errno, "read directory");
	closedir(d);
	return rc;
}

/* Removes everything in dir (what a failed copy left in an empty volume). */
static void empty_dir(int dir, int depth)
{
	int dfd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!unlinkat(dir, de->d_name, 0) || errno != EISDIR)
			continue;
		int sub = openat(dir, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0 && depth <= COPYUP_DEPTH)
			empty_dir(sub, depth + 1);
		if (sub >= 0)
			close(sub);
		unlinkat(dir, de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

int rt_copyup(int root, const char *path, int vol, bool *copied, struct berr *err)
{
	*copied = false;
	int dst = openat(vol, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dst < 0)
		return berr_set(err, errno, "volume for %s", path);
	int empty = fs_dir_empty(dst);
	if (empty < 0) {
		close(dst);
		return berr_set(err, -empty, "volume for %s", path);
	}
	int src = empty ? open_below(root, path) : -ENOENT;
	if (src < 0) {
		/* nothing there in the image, or not a plain directory */
		close(dst);
		return src == -ENOENT || src == -ENOTDIR || src == -ELOOP || src == -EINVAL
			       ? 0
			       : berr_set(err, -src, "image content at %s", path);
	}
	struct stat st;
	int rc = fstat(src, &st) ? berr_set(err, errno, "image content at %s", path) : 0;
	if (!rc)
		rc = copy_tree(src, dst, 0, err);
	if (!rc && (fchown(dst, st.st_uid, st.st_gid) || fchmod(dst, st.st_mode & 07777)))
		rc = berr_set(err, errno, "owner and mode of the volume");
	if (rc)
		empty_dir(dst, 0); /* the volume stays as it was: empty */
	close(src);
	close(dst);
	if (rc)
		return berr_prefix(err, "copy the image's %s into its volume", path);
	*copied = true;
	return 0;
}
