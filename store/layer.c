/* Layer backends: how a layer blob becomes something overlayfs can stack.
 * "overlay": unpacked directories (layers/sha256/<hex>); "squashfs": one
 * zlib squashfs image per layer (layers/sqfs/<hex>.sqfs) written as the blob
 * streams in, loop-mounted on layers/mnt/<hex> while containers use it.
 * The rest of the store and the agent only see the table. */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "board/cleanup.h"
#include "board/fs.h"
#include "config.h"
#include "store/loop.h"
#include "store/squashfs.h"
#include "store/unpack.h"

#define SQUASHFS_MAGIC_FS 0x73717368

struct store_layer_writer {
	const struct store_backend *be;
	void *w; /* struct store_unpack or struct store_sqfs */
	char tmp[PATH_MAX];
};

static const char *hex(const char *digest)
{
	const char *c = strchr(digest, ':');
	return c ? c + 1 : digest;
}

/* --- overlay: unpacked directories --- */

static void *dir_begin(struct store *s, const char *diff_id, char *tmp, size_t len,
		       struct berr *err)
{
	if (store_layer_tmpdir(s, diff_id, tmp, len, err) < 0)
		return NULL;
	return store_unpack_new(tmp, err);
}

static int dir_feed(void *w, const void *buf, size_t len, struct berr *err)
{
	return store_unpack_feed(w, buf, len, err);
}

static int dir_finish(void *w, char diff_id[DIGEST_STR_MAX], struct store_unpack_stats *st,
		      struct berr *err)
{
	return store_unpack_finish(w, diff_id, st, err);
}

static void dir_free(void *w)
{
	store_unpack_free(w);
}

static void dir_path(const struct store *s, const char *diff_id, char *out, size_t len)
{
	snprintf(out, len, "%s/layers/sha256/%s", s->root, hex(diff_id));
}

static int dir_lower(struct store *s, const char *diff_id, char *out, size_t len, struct berr *err)
{
	dir_path(s, diff_id, out, len);
	if (access(out, F_OK))
		return berr_setmsg(err, ENOENT, "layer %s is missing from the store", diff_id);
	return 0;
}

/* --- squashfs: one image per layer --- */

static void sqfs_path(const struct store *s, const char *diff_id, char *out, size_t len)
{
	snprintf(out, len, "%s/layers/sqfs/%s.sqfs", s->root, hex(diff_id));
}

static void *sqfs_begin(struct store *s, const char *diff_id, char *tmp, size_t len,
			struct berr *err)
{
	if (!CONFIG_SQUASHFS)
		return NULL;
	snprintf(tmp, len, "%s/layers/tmp/%.12s.%d.sqfs", s->root, hex(diff_id), (int)getpid());
	unlink(tmp);
	return store_sqfs_new(tmp, NULL, err);
}

static int sqfs_feed(void *w, const void *buf, size_t len, struct berr *err)
{
	if (!CONFIG_SQUASHFS)
		return -ENOTSUP;
	return store_sqfs_feed(w, buf, len, err);
}

static int sqfs_finish(void *w, char diff_id[DIGEST_STR_MAX], struct store_unpack_stats *st,
		       struct berr *err)
{
	if (!CONFIG_SQUASHFS)
		return -ENOTSUP;
	return store_sqfs_finish(w, diff_id, st, err);
}

static void sqfs_free(void *w)
{
	if (CONFIG_SQUASHFS)
		store_sqfs_free(w);
}

static bool is_squashfs_mount(const char *path)
{
	struct statfs f;
	return !statfs(path, &f) && (unsigned long)f.f_type == SQUASHFS_MAGIC_FS;
}

/* Mounting and unmounting are serialised across processes by a lock file. */
static int mnt_lock(const struct store *s, struct berr *err)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/layers/mnt", s->root);
	int rc = fs_mkdir_p(p, 0700, err);
	if (rc)
		return rc;
	snprintf(p, sizeof(p), "%s/layers/mnt/.lock", s->root);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return berr_set(err, errno, "%s", p);
	while (flock(fd, LOCK_EX) && errno == EINTR)
		;
	return fd;
}

static int sqfs_lower(struct store *s, const char *diff_id, char *out, size_t len, struct berr *err)
{
	char img[PATH_MAX];
	sqfs_path(s, diff_id, img, sizeof(img));
	if (access(img, F_OK))
		return berr_setmsg(err, ENOENT, "layer %s is missing from the store", diff_id);
	snprintf(out, len, "%s/layers/mnt/%s", s->root, hex(diff_id));
	int lk = mnt_lock(s, err);
	if (lk < 0)
		return lk;
	int rc = 0;
	if (!CONFIG_SQUASHFS)
		rc = berr_setmsg(err, ENOTSUP, "squashfs layers are not in this build");
	else if (!is_squashfs_mount(out)) {
		if (mkdir(out, 0755) && errno != EEXIST)
			rc = berr_set(err, errno, "mount point %s", out);
		if (!rc)
			rc = store_sqfs_mount(img, out, err);
	}
	close(lk);
	return rc;
}

/* --- the table --- */

struct store_backend {
	const char *name;
	void *(*begin)(struct store *s, const char *diff_id, char *tmp, size_t len,
		       struct berr *err);
	int (*feed)(void *w, const void *buf, size_t len, struct berr *err);
	int (*finish)(void *w, char diff_id[DIGEST_STR_MAX], struct store_unpack_stats *st,
		      struct berr *err);
	void (*free)(void *w);
	void (*path)(const struct store *s, const char *diff_id, char *out, size_t len);
	int (*lower)(struct store *s, const char *diff_id, char *out, size_t len, struct berr *err);
};

static const struct store_backend backends[] = {
	{ "overlay", dir_begin, dir_feed, dir_finish, dir_free, dir_path, dir_lower },
	{ "squashfs", sqfs_begin, sqfs_feed, sqfs_finish, sqfs_free, sqfs_path, sqfs_lower },
};

const struct store_backend *store_backend_find(const char *name)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(backends[i].name, name) && (i == 0 || CONFIG_SQUASHFS))
			return &backends[i];
	return NULL;
}

const char *store_backend_name(const struct store *s)
{
	return s->be ? s->be->name : backends[0].name;
}

static const struct store_backend *be_of(const struct store *s)
{
	return s->be ? s->be : &backends[0];
}

void store_layer_path(const struct store *s, const char *diff_id, char *out, size_t len)
{
	be_of(s)->path(s, diff_id, out, len);
}

bool store_layer_exists(const struct store *s, const char *diff_id)
{
	char p[PATH_MAX];
	struct stat st;
	if (!store_digest_valid(diff_id))
		return false;
	store_layer_path(s, diff_id, p, sizeof(p));
	return lstat(p, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode));
}

int store_layer_lower(struct store *s, const char *diff_id, char *out, size_t len, struct berr *err)
{
	return be_of(s)->lower(s, diff_id, out, len, err);
}

struct store_layer_writer *store_layer_begin(struct store *s, const char *diff_id, struct berr *err)
{
	struct store_layer_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		berr_setmsg(err, ENOMEM, "out of memory");
		return NULL;
	}
	w->be = be_of(s);
	w->w = w->be->begin(s, diff_id, w->tmp, sizeof(w->tmp), err);
	if (!w->w) {
		if (w->tmp[0])
			fs_rm_rf(w->tmp, NULL);
		free(w);
		return NULL;
	}
	return w;
}

int store_layer_feed(struct store_layer_writer *w, const void *buf, size_t len, struct berr *err)
{
	return w->be->feed(w->w, buf, len, err);
}

int store_layer_finish(struct store_layer_writer *w, char diff_id[DIGEST_STR_MAX],
		       struct store_unpack_stats *st, struct berr *err)
{
	return w->be->finish(w->w, diff_id, st, err);
}

const char *store_layer_tmp(const struct store_layer_writer *w)
{
	return w->tmp;
}

int store_layer_commit(struct store *s, struct store_layer_writer *w, const char *diff_id,
		       struct berr *err)
{
	char dst[PATH_MAX];
	store_layer_path(s, diff_id, dst, sizeof(dst));
	w->be->free(w->w);
	w->w = NULL;
	int r = w->be == &backends[0] ? fs_sync_dir(w->tmp, err) : 0;
	if (r < 0)
		return r;
	if (w->be != &backends[0]) {
		char d[PATH_MAX];
		snprintf(d, sizeof(d), "%s/layers/sqfs", s->root);
		if ((r = fs_mkdir_p(d, 0700, err)))
			return r;
	}
	if (rename(w->tmp, dst) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			return fs_rm_rf(w->tmp, err);
		return berr_set(err, errno, "rename %s", w->tmp);
	}
	w->tmp[0] = '\0';
	return fs_sync_parent(dst, err);
}

void store_layer_abort(struct store_layer_writer *w)
{
	if (!w)
		return;
	if (w->w)
		w->be->free(w->w);
	if (w->tmp[0])
		fs_rm_rf(w->tmp, NULL);
	free(w);
}

void store_layer_free(struct store_layer_writer *w)
{
	if (!w)
		return;
	if (w->w)
		w->be->free(w->w);
	free(w);
}

int store_layers_release(struct store *s, bool (*in_use)(const char *diff_id, void *arg), void *arg,
			 struct berr *err)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/layers/mnt", s->root);
	if (access(p, F_OK))
		return 0;
	int lk = mnt_lock(s, err);
	if (lk < 0)
		return lk;
	_cleanup_closedir_ DIR *d = opendir(p);
	struct dirent *de;
	int rc = 0;
	while (d && (de = readdir(d))) {
		if (strlen(de->d_name) != 64)
			continue;
		char dg[DIGEST_STR_MAX], m[PATH_MAX];
		snprintf(dg, sizeof(dg), "sha256:%s", de->d_name);
		if (in_use && in_use(dg, arg))
			continue;
		snprintf(m, sizeof(m), "%s/%s", p, de->d_name);
		if (CONFIG_SQUASHFS && is_squashfs_mount(m)) {
			int r = store_sqfs_umount(m, err);
			if (r) {
				rc = r;
				continue;
			}
		}
		rmdir(m);
	}
	close(lk);
	return rc;
}

int store_driver_set(struct store *s, const char *want, struct berr *err)
{
	const struct store_backend *be = store_backend_find(want);
	if (!be)
		return berr_setmsg(err, EINVAL,
				   "storage driver '%s' is not in this build (overlay%s)", want,
				   CONFIG_SQUASHFS ? ", squashfs" : "");
	if (be == be_of(s))
		return 0;
	/* switching is fine while the store holds no layer of the other kind */
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", s->root,
		 be_of(s) == &backends[0] ? "layers/sha256" : "layers/sqfs");
	_cleanup_closedir_ DIR *d = opendir(p);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			return berr_setmsg(
				err, EEXIST,
				"data root %s holds %s layers; storage-driver %s cannot use them: remove the images (berth image prune -a) or use another data-root",
				s->root, be_of(s)->name, want);
	snprintf(p, sizeof(p), "%s/driver", s->root);
	char text[32];
	int n = snprintf(text, sizeof(text), "%s\n", be->name);
	int rc = fs_write_atomic(p, text, (size_t)n, 0644, err);
	if (!rc)
		s->be = be;
	return rc;
}

void store_driver_load(struct store *s)
{
	char p[PATH_MAX], buf[32];
	snprintf(p, sizeof(p), "%s/driver", s->root);
	s->be = &backends[0];
	if (fs_read_file(p, buf, sizeof(buf), NULL) > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		const struct store_backend *be = store_backend_find(buf);
		if (be)
			s->be = be;
		else
			s->be = NULL; /* unknown: store_open reports it */
		s->driver_unknown = !be;
	}
}
