/* File system helpers every module uses: crash-safe replacement of small
 * files (temp, fsync, rename, fsync the directory), bounded reads, mkdir -p,
 * rm -rf that never crosses mounts or follows links. */
#ifndef BERTH_FS_H
#define BERTH_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "board/err.h"

/* Replaces path with data: writes "<path>.tmp.<pid>", fsyncs it, renames it
 * over path and fsyncs the directory. Readers see the old or the new
 * content, never a mix, whatever happens. Returns 0 or -errno. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct berr *err);

/* The same replacement, without the fsyncs when durable is false: for
 * state that need not survive a power cut (a --rm container's), where the
 * rename still keeps readers from seeing a partial file. */
int fs_write_replace(const char *path, const void *data, size_t len, mode_t mode, bool durable,
		     struct berr *err);

/* fsyncs the directory that contains path (or path itself with self). */
int fs_sync_parent(const char *path, struct berr *err);
int fs_sync_dir(const char *dir, struct berr *err);

/* Reads a whole file of at most cap-1 bytes into buf, NUL-terminated.
 * Returns its length, -ENOENT, -EFBIG when larger, or another -errno. */
ssize_t fs_read_file(const char *path, char *buf, size_t cap, struct berr *err);

/* Like fs_read_file, into a malloc'd buffer of the file's size (bounded by
 * max); *out is owned by the caller. */
ssize_t fs_read_alloc(const char *path, size_t max, char **out, struct berr *err);

/* mkdir -p with mode for each created component. */
int fs_mkdir_p(const char *path, mode_t mode, struct berr *err);

/* Whether the directory open at fd has no entries: 1 empty, 0 not, or
 * -errno. fd's own offset is left alone. */
int fs_dir_empty(int fd);

/* Removes a tree without following symlinks or crossing mount points; a
 * missing path is fine. */
int fs_rm_rf(const char *path, struct berr *err);

/* Size in bytes of what a tree occupies on disk (st_blocks), not following
 * links; hardlinked files counted once per tree walk only roughly. */
long long fs_du(const char *path);

#endif
