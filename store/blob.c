/* The store's files: layout and lock, verified blobs, resumable partial
 * downloads, layer directories (see store.h). */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board/cleanup.h"
#include "board/fs.h"

#define PARTIAL_SYNC_EVERY (32 << 20) /* a power cut loses at most this much */

static const char *const layout[] = {
	"blobs/sha256", "blobs/partial", "layers/sha256", "layers/tmp", "images",
};

int store_open(struct store *s, const char *root, int mode, struct berr *err)
{
	bool create = mode == STORE_WRITE;
	s->lockfd = -1;
	if (strlen(root) >= sizeof(s->root))
		return berr_setmsg(err, ENAMETOOLONG, "data root %s: path too long", root);
	strcpy(s->root, root);
	s->be = NULL;
	s->driver_unknown = false;
	char p[PATH_MAX];
	if (create) {
		for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++) {
			snprintf(p, sizeof(p), "%s/%s", root, layout[i]);
			int r = fs_mkdir_p(p, 0700, err);
			if (r < 0)
				return berr_prefix(err, "data root %s", root);
		}
	}
	store_driver_load(s);
	if (s->driver_unknown)
		return berr_setmsg(
			err, EINVAL,
			"data root %s: its storage driver (%s/driver) is not in this build", root,
			root);
	snprintf(p, sizeof(p), "%s/images", root);
	if (!create)
		return access(p, F_OK) == 0
			       ? 0
			       : berr_setmsg(err, ENOENT, "data root %s: no images", root);
	snprintf(p, sizeof(p), "%s/lock", root);
	s->lockfd = open(p, O_RDWR | O_CLOEXEC | O_CREAT, 0600);
	if (s->lockfd < 0)
		return berr_set(err, errno, "data root %s", root);
	while (flock(s->lockfd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int e = errno;
			store_close(s);
			return berr_set(err, e, "data root %s: lock", root);
		}
	}
	return 0;
}

void store_close(struct store *s)
{
	if (s->lockfd >= 0)
		close(s->lockfd);
	s->lockfd = -1;
}

void store_recover(struct store *s)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/layers/tmp", s->root);
	_cleanup_closedir_ DIR *d = opendir(p);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s/%s", p, de->d_name);
		fs_rm_rf(sub, NULL);
	}
}

static const char *hex_of(const char *digest)
{
	return digest + 7; /* callers pass validated "sha256:" digests */
}

void store_blob_path(const struct store *s, const char *digest, char *out, size_t len)
{
	snprintf(out, len, "%s/blobs/sha256/%s", s->root, hex_of(digest));
}

bool store_blob_exists(const struct store *s, const char *digest)
{
	char p[PATH_MAX];
	if (!store_digest_valid(digest))
		return false;
	store_blob_path(s, digest, p, sizeof(p));
	return access(p, F_OK) == 0;
}

static void digest_of(const void *data, size_t len, char out[DIGEST_STR_MAX])
{
	struct store_sha256 h;
	store_sha256_init(&h);
	store_sha256_update(&h, data, len);
	store_sha256_final(&h, out);
}

int store_blob_put(struct store *s, const char *digest, const void *data, size_t len,
		   struct berr *err)
{
	char got[DIGEST_STR_MAX], p[PATH_MAX];
	if (!store_digest_valid(digest))
		return berr_setmsg(err, EINVAL, "invalid digest '%s'", digest);
	digest_of(data, len, got);
	if (strcmp(got, digest))
		return berr_setmsg(err, EBADMSG, "blob %s: content has digest %s", digest, got);
	store_blob_path(s, digest, p, sizeof(p));
	return fs_write_atomic(p, data, len, 0600, err);
}

ssize_t store_blob_get(const struct store *s, const char *digest, size_t max, char **out,
		       struct berr *err)
{
	char p[PATH_MAX], got[DIGEST_STR_MAX];
	*out = NULL;
	if (!store_digest_valid(digest))
		return berr_setmsg(err, EINVAL, "invalid digest '%s'", digest);
	store_blob_path(s, digest, p, sizeof(p));
	char *buf;
	ssize_t n = fs_read_alloc(p, max, &buf, err);
	if (n < 0)
		return n;
	digest_of(buf, (size_t)n, got);
	if (strcmp(got, digest)) {
		free(buf);
		return berr_setmsg(err, EBADMSG, "blob %s is corrupt on disk (digest %s)", digest,
				   got);
	}
	*out = buf;
	return n;
}

/* --- partial downloads --- */

static void partial_path(const struct store *s, const char *digest, char *out, size_t len)
{
	snprintf(out, len, "%s/blobs/partial/%s", s->root, hex_of(digest));
}

int64_t store_partial_size(const struct store *s, const char *digest)
{
	char p[PATH_MAX];
	struct stat st;
	partial_path(s, digest, p, sizeof(p));
	return stat(p, &st) == 0 ? (int64_t)st.st_size : 0;
}

int store_partial_open(struct store *s, const char *digest, struct store_partial *p,
		       store_replay_fn *replay, void *arg, struct berr *err)
{
	p->fd = -1;
	p->have = p->synced = 0;
	store_sha256_init(&p->hash);
	if (!store_digest_valid(digest))
		return berr_setmsg(err, EINVAL, "invalid digest '%s'", digest);
	partial_path(s, digest, p->path, sizeof(p->path));
	p->fd = open(p->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (p->fd < 0)
		return berr_set(err, errno, "open %s", p->path);
	char buf[64 << 10];
	for (;;) {
		ssize_t n = read(p->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set(err, errno, "read %s", p->path);
		if (n == 0)
			break;
		store_sha256_update(&p->hash, buf, (size_t)n);
		if (replay) {
			int r = replay(arg, buf, (size_t)n, err);
			if (r < 0)
				return r;
		}
		p->have += n;
	}
	p->synced = p->have;
	return 0;
}

int store_partial_append(struct store_partial *p, const void *buf, size_t len, struct berr *err)
{
	const char *c = buf;
	size_t left = len;
	while (left) {
		ssize_t n = write(p->fd, c, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set(err, errno, "write %s", p->path);
		c += n;
		left -= (size_t)n;
	}
	store_sha256_update(&p->hash, buf, len);
	p->have += (int64_t)len;
	if (p->have - p->synced >= PARTIAL_SYNC_EVERY) {
		if (fdatasync(p->fd) < 0)
			return berr_set(err, errno, "sync %s", p->path);
		p->synced = p->have;
	}
	return 0;
}

int store_partial_reset(struct store_partial *p, struct berr *err)
{
	if (ftruncate(p->fd, 0) < 0 || lseek(p->fd, 0, SEEK_SET) < 0)
		return berr_set(err, errno, "truncate %s", p->path);
	store_sha256_init(&p->hash);
	p->have = p->synced = 0;
	return 0;
}

int store_partial_finish(struct store_partial *p, const char *digest, int64_t size,
			 struct berr *err)
{
	char got[DIGEST_STR_MAX];
	store_sha256_final(&p->hash, got);
	int r = 0;
	if (size >= 0 && p->have != size)
		r = berr_setmsg(err, EBADMSG, "blob %s: got %lld bytes, manifest says %lld", digest,
				(long long)p->have, (long long)size);
	else if (strcmp(got, digest))
		r = berr_setmsg(err, EBADMSG, "blob %s: content has digest %s", digest, got);
	if (r < 0)
		unlink(p->path);
	return r;
}

void store_partial_remove(struct store_partial *p)
{
	unlink(p->path);
}

void store_partial_close(struct store_partial *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

/* --- layers --- */

int store_layer_tmpdir(struct store *s, const char *diff_id, char *out, size_t len,
		       struct berr *err)
{
	snprintf(out, len, "%s/layers/tmp/%.12s.%d", s->root, hex_of(diff_id), (int)getpid());
	int r = fs_rm_rf(out, err);
	if (r < 0)
		return r;
	if (mkdir(out, 0755) < 0)
		return berr_set(err, errno, "mkdir %s", out);
	return 0;
}
