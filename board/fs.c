/* File system helpers (see fs.h). */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

int fs_sync_dir(const char *dir, struct berr *err)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return berr_set(err, errno, "sync %s", dir);
	return 0;
}

int fs_sync_parent(const char *path, struct berr *err)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return fs_sync_dir(".", err);
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return fs_sync_dir(dir, err);
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct berr *err)
{
	return fs_write_replace(path, data, len, mode, true, err);
}

int fs_write_replace(const char *path, const void *data, size_t len, mode_t mode, bool durable,
		     struct berr *err)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp))
		return berr_setmsg(err, ENAMETOOLONG, "%s: path too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return berr_set(err, errno, "create %s", tmp);
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			unlink(tmp);
			return berr_set(err, e, "write %s", tmp);
		}
		p += n;
		left -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || (durable && fsync(fd) < 0)) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return berr_set(err, e, "sync %s", tmp);
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return berr_set(err, e, "rename %s", tmp);
	}
	return durable ? fs_sync_parent(path, err) : 0;
}

ssize_t fs_read_file(const char *path, char *buf, size_t cap, struct berr *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open %s", path);
	size_t len = 0;
	for (;;) {
		if (len + 1 >= cap) {
			char probe;
			if (read(fd, &probe, 1) > 0)
				return berr_setmsg(err, EFBIG, "%s: larger than %zu bytes", path,
						   cap - 1);
			break;
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set(err, errno, "read %s", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

ssize_t fs_read_alloc(const char *path, size_t max, char **out, struct berr *err)
{
	struct stat st;
	*out = NULL;
	if (stat(path, &st) < 0)
		return berr_set(err, errno, "stat %s", path);
	if ((unsigned long long)st.st_size >= max)
		return berr_setmsg(err, EFBIG, "%s: larger than %zu bytes", path, max);
	size_t cap = (size_t)st.st_size + 2;
	_cleanup_free_ char *buf = malloc(cap);
	if (!buf)
		return berr_set(err, ENOMEM, "read %s", path);
	ssize_t n = fs_read_file(path, buf, cap, err);
	if (n < 0)
		return n;
	*out = steal_ptr(&buf);
	return n;
}

int fs_mkdir_p(const char *path, mode_t mode, struct berr *err)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s", path) >= sizeof(tmp))
		return berr_setmsg(err, ENAMETOOLONG, "%s: path too long", path);
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return berr_set(err, errno, "mkdir %s", tmp);
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP)
		return rmdir(p) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(p) < 0 && errno != ENOENT ? -1 : 0;
}

int fs_rm_rf(const char *path, struct berr *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : berr_set(err, errno, "remove %s", path);
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? berr_set(err, errno, "remove %s", path) : 0;
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		return berr_set(err, errno ? errno : EIO, "remove %s", path);
	return 0;
}

static long long du_total;

static int du_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	du_total += (long long)st->st_blocks * 512;
	return 0;
}

long long fs_du(const char *path)
{
	du_total = 0;
	nftw(path, du_one, 32, FTW_PHYS | FTW_MOUNT);
	return du_total;
}

int fs_dir_empty(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		int e = errno;
		if (dfd >= 0)
			close(dfd);
		return -e;
	}
	struct dirent *de;
	int empty = 1;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}
