/* Layer unpacking (see unpack.h): gzip or plain tar in, one directory tree
 * out, whiteouts in overlayfs form. OCI image-spec layer.md (changesets). */

/* Choices a reader should know:
 * - Paths are made relative: a leading '/' is dropped (as Docker does),
 *   "." and empty components are dropped and ".." is applied to the path
 *   text; a ".." above the layer root is refused. Nothing is ever resolved
 *   through a symlink: parents are opened with openat2(RESOLVE_IN_ROOT |
 *   RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) or, without openat2, one
 *   component at a time with O_NOFOLLOW | O_DIRECTORY, so a leading '/'
 *   cannot escape either way.
 * - An entry replaces what an earlier entry put at its path (a directory
 *   only by a non-directory); a directory entry for an existing directory
 *   updates its metadata. Missing parents are created 0755.
 * - Hardlinks must name a non-directory already in this layer; they add a
 *   name and leave the shared inode's metadata as its own entry set it.
 * - Whiteouts: ".wh.<name>" (a regular file or hardlink entry) becomes a
 *   0/0 character device <name>; if <name> is already a directory of this
 *   layer it is marked opaque instead (the layer keeps its own entries, the
 *   lower ones are hidden), and a non-directory of this layer is left as it
 *   is. A directory entry replacing such a device becomes opaque.
 *   ".wh..wh..opq" sets trusted.overlay.opaque=y on its directory. Other
 *   ".wh..wh.*" names (AUFS metadata) are skipped; other entry types named
 *   ".wh.*", and ".wh." names used as directories, are refused.
 * - Owners: applied when running as root (euid 0). Otherwise chown is
 *   skipped and modes are still applied as given; creating device nodes,
 *   opaque directories and (before Linux 5.8) whiteouts then fails with a
 *   clear error.
 * - Xattrs: trusted.overlay.* and user.overlay.* from the layer are refused
 *   (they would steer overlayfs). An xattr the file system does not support
 *   (ENOTSUP), or that may not be set (EPERM) when not root or because it is
 *   user.* on a symlink or device node, is skipped. Xattrs of symlinks and
 *   device nodes are set through /proc/self/fd/<parent>/<name>.
 * - Crash safety: the caller unpacks into a temporary directory and renames
 *   it when complete. finish makes everything written durable before that
 *   with one syncfs() of the layer's file system (bounded memory: no list of
 *   files to fsync one by one).
 * - Directory times are set once nothing more is written into them: those
 *   on the path of the current entry are kept open (up to DIR_STACK_MAX
 *   deep) and set when the archive moves on: exact for archives written by
 *   a depth-first walk, as image builders write them; best effort else. */
#include "unpack.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "board/cleanup.h"
#include "board/fs.h"
#include "store/tar.h"

#define DIR_STACK_MAX 64 /* directories whose times wait for their entries */

#define WH_PREFIX TAR_WH_PREFIX
#define OPAQUE_XATTR TAR_OPAQUE_XATTR
#define IMPLICIT_XATTR TAR_IMPLICIT_XATTR
#define FIXUP_XATTR TAR_FIXUP_XATTR

/* A directory of this layer whose times are set once its entries are in. */
struct unpack_dir {
	int fd;
	size_t len; /* its path is the first len bytes of dirpath */
	struct timespec mtime;
};

struct store_unpack {
	int rootfd;
	bool root;    /* may chown and mknod */
	bool openat2; /* the kernel has a usable openat2 */
	bool walk;    /* tests: resolve with the component walk only */
	bool marked;  /* the layer root carries FIXUP_XATTR */
	int failed;   /* errno of the first error, then only free is allowed */
	bool finished;
	struct store_unpack_stats st;
	int fd; /* the regular file being written, or -1 */
	int ndirs;
	struct unpack_dir dirs[DIR_STACK_MAX];
	char path[TAR_PATH_MAX + 1];    /* the current entry's path, clean */
	char lpath[TAR_PATH_MAX + 1];   /* its hardlink target, clean */
	char dirpath[TAR_PATH_MAX + 1]; /* path of the deepest of dirs */
	struct tar_stream ts;
};

static int ent_err(struct store_unpack *u, struct berr *err, int code, bool sys, const char *fmt,
		   ...) __attribute__((format(printf, 5, 6)));

/* "layer entry '<name as in the archive>': <why>[: strerror]" */
static int ent_err(struct store_unpack *u, struct berr *err, int code, bool sys, const char *fmt,
		   ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = tar_entry_verr(&u->ts.tar.entry, err, code, sys, fmt, ap);
	va_end(ap);
	return rc;
}

/* --- paths ----------------------------------------------------------------- */

static bool has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static int dup_root(struct store_unpack *u)
{
	int fd = fcntl(u->rootfd, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

static long sys_openat2(int dirfd, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
	};
	return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* One step of the walk: opens directory name in fd, never following a
 * symlink; creates it (0755) when missing and create, marking it implicit
 * when mark (see store_unpack_fixup). -ELOOP: a symlink is in the way;
 * -ENOTDIR: another non-directory. */
static int walk_step(int fd, const char *name, bool create, bool mark)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int nfd = openat(fd, name, flags);
	if (nfd >= 0)
		return nfd;
	if (errno == ENOENT && create) {
		bool made = mkdirat(fd, name, 0755) == 0;
		if (!made && errno != EEXIST)
			return -errno;
		nfd = openat(fd, name, flags);
		if (nfd >= 0) {
			/* exact mode whatever the umask */
			if (made && fchmod(nfd, 0755) < 0) {
				int e = errno;
				close(nfd);
				return -e;
			}
			if (made && mark)
				fsetxattr(nfd, IMPLICIT_XATTR, "1", 1, 0);
			return nfd;
		}
	}
	int e = errno;
	struct stat st;
	if ((e == ENOTDIR || e == ELOOP) && fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return S_ISLNK(st.st_mode) ? -ELOOP : -ENOTDIR;
	return -e;
}

/* The fallback for kernels without openat2: component by component from the
 * root, each opened with O_NOFOLLOW relative to the previous one. */
static int walk_dir(struct store_unpack *u, char *dir, bool create)
{
	int fd = dup_root(u);
	for (char *c = dir; fd >= 0;) {
		char *slash = strchr(c, '/');
		if (slash)
			*slash = '\0';
		int nfd = walk_step(fd, c, create, u->root);
		if (nfd >= 0 && create && u->root && !u->marked &&
		    fgetxattr(nfd, IMPLICIT_XATTR, NULL, 0) > 0) {
			fsetxattr(u->rootfd, FIXUP_XATTR, "1", 1, 0);
			u->marked = true;
		}
		if (slash)
			*slash = '/';
		close(fd);
		fd = nfd;
		if (!slash)
			break;
		c = slash + 1;
	}
	return fd;
}

/* Opens directory dir (clean, relative, "" for the root) below the layer
 * root without following symlinks, creating missing ones when create.
 * Returns an fd or -errno (-ELOOP, -ENOTDIR as for walk_step, -ENOENT). */
static int open_dir(struct store_unpack *u, char *dir, bool create)
{
	if (!*dir)
		return dup_root(u);
	if (u->openat2 && !u->walk) {
		long fd = sys_openat2(u->rootfd, dir);
		if (fd >= 0)
			return (int)fd;
		/* Missing parents are made by the walk, as are paths longer
		 * than the kernel takes in one call. */
		if (!((errno == ENOENT && create) || errno == ENAMETOOLONG))
			return -errno;
	}
	return walk_dir(u, dir, create);
}

/* Opens the directory holding the last component of path (clean, not "")
 * and points *base at that component inside path. */
static int open_parent(struct store_unpack *u, char *path, bool create, const char **base)
{
	char *slash = strrchr(path, '/');
	if (!slash) {
		*base = path;
		return dup_root(u);
	}
	*slash = '\0';
	int fd = open_dir(u, path, create);
	*slash = '/';
	*base = slash + 1;
	return fd;
}

static int path_err(struct store_unpack *u, struct berr *err, int rc, const char *what)
{
	switch (rc) {
	case -ELOOP:
		return ent_err(u, err, EPERM, false, "%s goes through a symlink", what);
	case -ENOTDIR:
		return ent_err(u, err, ENOTDIR, false, "%s goes through a non-directory", what);
	case -ENOENT:
		return ent_err(u, err, ENOENT, false, "%s does not exist in the layer", what);
	case -EXDEV:
		return ent_err(u, err, EXDEV, false, "%s crosses a mount point", what);
	}
	return ent_err(u, err, -rc, true, "open parent of %s", what);
}

/* --- removing what an earlier entry put there ------------------------------- */

/* Removes the entries of directory fd, except that it stops at the first
 * subdirectory that is not empty, copying its name to sub and returning 1.
 * Returns 0 when fd is empty. */
static int rm_entries(int fd, char sub[NAME_MAX + 1])
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = errno;
		close(dfd);
		return -e;
	}
	rewinddir(d); /* the dup shares fd's offset */
	int rc = 0;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		bool dir = de->d_type == DT_DIR;
		struct stat st;
		if (de->d_type == DT_UNKNOWN) {
			if (fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				rc = errno == ENOENT ? 0 : -errno;
				continue;
			}
			dir = S_ISDIR(st.st_mode);
		}
		if (unlinkat(fd, n, dir ? AT_REMOVEDIR : 0) == 0 || errno == ENOENT)
			continue;
		if (!dir || (errno != ENOTEMPTY && errno != EEXIST)) {
			rc = -errno;
			continue;
		}
		snprintf(sub, NAME_MAX + 1, "%s", n);
		rc = 1;
	}
	closedir(d);
	return rc;
}

/* Removes directory name in pfd and all below it, never following a symlink,
 * in constant memory: empties one directory at a time, going down into the
 * first non-empty subdirectory and back up by "..". */
static int rm_tree(int pfd, const char *name)
{
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	unsigned long depth = 0;
	while (fd >= 0) {
		char sub[NAME_MAX + 1];
		int rc = rm_entries(fd, sub);
		if (rc < 0) {
			close(fd);
			return rc;
		}
		if (!rc && !depth)
			break;
		int next = rc ? openat(fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			      : openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int e = errno;
		depth = rc ? depth + 1 : depth - 1;
		close(fd);
		fd = next;
		errno = e;
	}
	if (fd < 0)
		return -errno;
	close(fd);
	return unlinkat(pfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* Looks at what is at base in pfd: fills st and returns 1, or 0 if nothing. */
static int look(struct store_unpack *u, int pfd, const char *base, struct stat *st,
		struct berr *err)
{
	if (fstatat(pfd, base, st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return ent_err(u, err, errno, true, "stat");
}

static int remove_node(struct store_unpack *u, int pfd, const char *base, const struct stat *st,
		       struct berr *err)
{
	int rc = S_ISDIR(st->st_mode) ? rm_tree(pfd, base)
				      : (unlinkat(pfd, base, 0) < 0 ? -errno : 0);
	if (rc < 0)
		return ent_err(u, err, -rc, true, "remove the earlier entry at this path");
	return 0;
}

/* Clears the way for a new non-directory at base. */
static int clear_slot(struct store_unpack *u, int pfd, const char *base, struct berr *err)
{
	struct stat st;
	int rc = look(u, pfd, base, &st, err);
	return rc <= 0 ? rc : remove_node(u, pfd, base, &st, err);
}

/* --- metadata ---------------------------------------------------------------- */

static int set_xattrs(struct store_unpack *u, int fd, int pfd, const char *base, struct berr *err)
{
	const struct tar_entry *e = &u->ts.tar.entry;
	char proc[64 + NAME_MAX];
	/* Symlinks and device nodes cannot be opened to set xattrs on them;
	 * the name is resolved in our own parent fd, never following it. */
	if (fd < 0 && e->nxattr)
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", pfd, base);
	for (unsigned int i = 0; i < e->nxattr; i++) {
		const struct tar_xattr *x = &e->xattr[i];
		int rc = fd >= 0 ? fsetxattr(fd, x->name, x->value, x->len, 0)
				 : lsetxattr(proc, x->name, x->value, x->len, 0);
		/* The kernel allows user.* only on files and directories. */
		bool user_on_node = fd < 0 && has_prefix(x->name, "user.");
		if (rc == 0 || errno == ENOTSUP || (errno == EPERM && (!u->root || user_on_node)))
			continue;
		return ent_err(u, err, errno, true, "set xattr %.64s", x->name);
	}
	return 0;
}

/* Owner, mode and xattrs, through fd when the node is open (files,
 * directories), else by name in pfd without following it. Owner first:
 * chown clears setuid/setgid bits and file capabilities. */
static int set_meta(struct store_unpack *u, int fd, int pfd, const char *base, struct berr *err)
{
	const struct tar_entry *e = &u->ts.tar.entry;
	uid_t uid = (uid_t)e->uid;
	gid_t gid = (gid_t)e->gid;
	if (u->root) {
		int rc = fd >= 0 ? fchown(fd, uid, gid)
				 : fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW);
		if (rc < 0)
			return ent_err(u, err, errno, true, "chown %u:%u", (unsigned)uid,
				       (unsigned)gid);
	}
	if (e->type != TAR_SYMLINK) {
		/* by name: a node this entry just created, not a symlink */
		int rc = fd >= 0 ? fchmod(fd, e->mode) : fchmodat(pfd, base, e->mode, 0);
		if (rc < 0)
			return ent_err(u, err, errno, true, "chmod %04o", e->mode);
	}
	return set_xattrs(u, fd, pfd, base, err);
}

static int set_times(struct store_unpack *u, int fd, int pfd, const char *base, struct berr *err)
{
	const struct tar_entry *e = &u->ts.tar.entry;
	struct timespec ts[2];
	ts[0].tv_sec = ts[1].tv_sec = (time_t)e->mtime;
	ts[0].tv_nsec = ts[1].tv_nsec = (long)e->mtime_nsec;
	int rc = fd >= 0 ? futimens(fd, ts) : utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
	return rc < 0 ? ent_err(u, err, errno, true, "set times") : 0;
}

static int set_opaque(struct store_unpack *u, int fd, struct berr *err)
{
	if (fsetxattr(fd, OPAQUE_XATTR, "y", 1, 0) == 0)
		return 0;
	if (errno == EPERM && !u->root)
		return ent_err(u, err, EPERM, false,
			       "marking a directory opaque needs root (trusted.* xattrs)");
	return ent_err(u, err, errno, true, "set %s", OPAQUE_XATTR);
}

/* --- directory times ---------------------------------------------------------- */

static int dir_settime(struct store_unpack *u, const struct unpack_dir *d, struct berr *err)
{
	struct timespec ts[2] = { d->mtime, d->mtime };
	int rc = futimens(d->fd, ts) < 0 ? errno : 0;
	close(d->fd);
	if (!rc)
		return 0;
	char q[100];
	char p[TAR_PATH_MAX + 1];
	snprintf(p, sizeof(p), "%.*s", (int)d->len, u->dirpath);
	tar_quote(q, sizeof(q), p);
	return berr_set(err, rc, "layer directory '%s': set times", q);
}

/* Sets the times of the directories that path is not below (path "" pops
 * all of them). */
static int dirs_pop(struct store_unpack *u, const char *path, struct berr *err)
{
	size_t plen = strlen(path);
	while (u->ndirs) {
		const struct unpack_dir *d = &u->dirs[u->ndirs - 1];
		bool below = !d->len ? plen > 0
				     : plen > d->len && path[d->len] == '/' &&
					       !memcmp(path, u->dirpath, d->len);
		if (below)
			break;
		u->ndirs--;
		int rc = dir_settime(u, d, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Takes fd, the directory at u->path (below every directory on the stack). */
static int dirs_push(struct store_unpack *u, int fd, struct berr *err)
{
	const struct tar_entry *e = &u->ts.tar.entry;
	struct unpack_dir d = { fd, strlen(u->path), { (time_t)e->mtime, (long)e->mtime_nsec } };
	if (u->ndirs == DIR_STACK_MAX) {
		/* Too deep to wait for: best effort, set them now. */
		struct timespec ts[2] = { d.mtime, d.mtime };
		int rc = futimens(fd, ts) < 0 ? errno : 0;
		close(fd);
		return rc ? ent_err(u, err, rc, true, "set times") : 0;
	}
	memcpy(u->dirpath, u->path, d.len + 1);
	u->dirs[u->ndirs++] = d;
	return 0;
}

/* --- entries ---------------------------------------------------------------- */

static int do_whiteout(struct store_unpack *u, int pfd, const char *base, struct berr *err)
{
	const char *victim = base + strlen(WH_PREFIX);
	struct stat st;
	int rc = look(u, pfd, victim, &st, err);
	if (rc < 0)
		return rc;
	if (rc && S_ISDIR(st.st_mode)) {
		/* This layer has the directory too: keep its entries, hide the
		 * lower ones. */
		_cleanup_close_ int fd =
			openat(pfd, victim, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return ent_err(u, err, errno, true, "open whiteout target");
		return set_opaque(u, fd, err);
	}
	if (rc)
		return 0; /* a non-directory of this layer already hides the lower one */
	if (mknodat(pfd, victim, S_IFCHR, makedev(0, 0)) == 0)
		return 0;
	if (errno == EPERM && !u->root)
		return ent_err(u, err, EPERM, false,
			       "whiteouts need root (they are 0/0 character devices)");
	return ent_err(u, err, errno, true, "mknod whiteout");
}

static int do_dir(struct store_unpack *u, int pfd, const char *base, struct berr *err)
{
	_cleanup_close_ int fd = -1;
	bool opaque = false;
	if (!*u->path) {
		fd = dup_root(u);
		if (fd < 0)
			return ent_err(u, err, -fd, true, "open the layer root");
	} else {
		struct stat st;
		int rc = look(u, pfd, base, &st, err);
		if (rc < 0)
			return rc;
		if (rc && !S_ISDIR(st.st_mode)) {
			/* replacing a whiteout of this layer: lower entries stay hidden */
			opaque = S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
			rc = remove_node(u, pfd, base, &st, err);
			if (rc < 0)
				return rc;
			rc = 0;
		}
		if (!rc && mkdirat(pfd, base, 0700) < 0)
			return ent_err(u, err, errno, true, "mkdir");
		fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return ent_err(u, err, errno, true, "open directory");
	}
	/* Listed after all: its own metadata wins over the lower layers'. */
	if (u->root)
		fremovexattr(fd, IMPLICIT_XATTR);
	int rc = set_meta(u, fd, -1, base, err);
	if (!rc && opaque)
		rc = set_opaque(u, fd, err);
	return rc < 0 ? rc : dirs_push(u, steal_fd(&fd), err);
}

static int do_reg(struct store_unpack *u, int pfd, const char *base, struct berr *err)
{
	int rc = clear_slot(u, pfd, base, err);
	if (rc < 0)
		return rc;
	u->fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (u->fd < 0)
		return ent_err(u, err, errno, true, "create");
	return 0;
}

static int do_symlink(struct store_unpack *u, int pfd, const char *base, struct berr *err)
{
	const struct tar_entry *e = &u->ts.tar.entry;
	if (!e->link[0])
		return ent_err(u, err, EINVAL, false, "symlink without a target");
	int rc = clear_slot(u, pfd, base, err);
	if (rc < 0)
		return rc;
	/* The target is only text: it is stored, never followed here. */
	if (symlinkat(e->link, pfd, base) < 0)
		return ent_err(u, err, errno, true, "symlink");
	rc = set_meta(u, -1, pfd, base, err);
	return rc < 0 ? rc : set_times(u, -1, pfd, base, err);
}

static int do_link(struct store_unpack *u, int pfd, const char *base, struct berr *err)
{
	const struct tar_entry *e = &u->ts.tar.entry;
	char q[100];
	tar_quote(q, sizeof(q), e->link);
	if (!e->link[0])
		return ent_err(u, err, EINVAL, false, "hardlink without a target");
	if (tar_clean_path(e->link, u->lpath) < 0)
		return ent_err(u, err, EPERM, false, "hardlink target '%s' escapes the layer", q);
	if (!u->lpath[0])
		return ent_err(u, err, EPERM, false, "hardlink to the layer root");
	if (!strcmp(u->lpath, u->path))
		return 0; /* a link to itself: the file is already there */
	const char *tbase;
	_cleanup_close_ int tfd = open_parent(u, u->lpath, false, &tbase);
	if (tfd < 0)
		return path_err(u, err, tfd, "hardlink target");
	struct stat st;
	if (fstatat(tfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? path_err(u, err, -ENOENT, "hardlink target")
				       : ent_err(u, err, errno, true, "stat hardlink target");
	if (S_ISDIR(st.st_mode))
		return ent_err(u, err, EPERM, false, "hardlink to a directory '%s'", q);
	int rc = clear_slot(u, pfd, base, err);
	if (rc < 0)
		return rc;
	/* flags 0: a symlink target is linked itself, not followed */
	if (linkat(tfd, tbase, pfd, base, 0) < 0)
		return ent_err(u, err, errno, true, "link to '%s'", q);
	return 0;
}

static int do_node(struct store_unpack *u, int pfd, const char *base, struct berr *err)
{
	const struct tar_entry *e = &u->ts.tar.entry;
	/* what mknod(2) can carry: 12-bit major, 20-bit minor */
	if (e->devmajor > 0xfff || e->devminor > 0xfffff)
		return ent_err(u, err, EOVERFLOW, false, "device %llu:%llu out of range",
			       e->devmajor, e->devminor);
	mode_t type = e->type == TAR_CHR ? S_IFCHR : e->type == TAR_BLK ? S_IFBLK : S_IFIFO;
	int rc = clear_slot(u, pfd, base, err);
	if (rc < 0)
		return rc;
	dev_t dev = makedev((unsigned)e->devmajor, (unsigned)e->devminor);
	if (mknodat(pfd, base, type | 0600, type == S_IFIFO ? 0 : dev) < 0) {
		if (errno == EPERM && !u->root)
			return ent_err(u, err, EPERM, false, "creating a device node needs root");
		return ent_err(u, err, errno, true, "mknod");
	}
	rc = set_meta(u, -1, pfd, base, err);
	return rc < 0 ? rc : set_times(u, -1, pfd, base, err);
}

static int on_entry(struct store_unpack *u, struct berr *err)
{
	const struct tar_entry *e = &u->ts.tar.entry;
	u->st.entries++;
	if (!e->path[0])
		return ent_err(u, err, EINVAL, false, "empty name");
	if (tar_clean_path(e->path, u->path) < 0)
		return ent_err(u, err, EPERM, false, "path escapes the layer");
	int rc = tar_check_entry(&u->ts.tar.entry, err);
	if (rc < 0)
		return rc;
	if (!u->path[0] && e->type != TAR_DIR)
		return ent_err(u, err, EINVAL, false, "the layer root can only be a directory");
	char *slash = strrchr(u->path, '/');
	const char *base = slash ? slash + 1 : u->path;
	enum tar_kind kind = TAR_KIND_NORMAL;
	if (u->path[0]) {
		rc = tar_classify(e, u->path, base, &kind, err);
		if (rc < 0 || kind == TAR_KIND_SKIP)
			return rc;
	}
	rc = dirs_pop(u, u->path, err);
	if (rc < 0)
		return rc;
	_cleanup_close_ int pfd = -1;
	if (u->path[0]) {
		pfd = open_parent(u, u->path, true, &base);
		if (pfd < 0)
			return path_err(u, err, pfd, "path");
	}
	if (kind == TAR_KIND_OPAQUE)
		return set_opaque(u, pfd, err);
	if (kind == TAR_KIND_WHITEOUT)
		return do_whiteout(u, pfd, base, err);
	switch (e->type) {
	case TAR_DIR:
		return do_dir(u, pfd, base, err);
	case TAR_REG:
		return do_reg(u, pfd, base, err);
	case TAR_SYMLINK:
		return do_symlink(u, pfd, base, err);
	case TAR_LINK:
		return do_link(u, pfd, base, err);
	default:
		return do_node(u, pfd, base, err);
	}
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The file's data is in: owner, mode, xattrs, times, close. */
static int file_done(struct store_unpack *u, struct berr *err)
{
	int fd = u->fd;
	u->fd = -1;
	int rc = set_meta(u, fd, -1, NULL, err);
	if (!rc)
		rc = set_times(u, fd, -1, NULL, err);
	if (close(fd) < 0 && !rc)
		rc = ent_err(u, err, errno, true, "close");
	return rc;
}

/* --- the stream ----------------------------------------------------------------- */

static int on_event(void *ctx, int ev, const unsigned char *d, size_t dlen, struct berr *err)
{
	struct store_unpack *u = ctx;
	int rc = 0;
	switch (ev) {
	case TAR_EV_ENTRY:
		rc = on_entry(u, err);
		break;
	case TAR_EV_DATA:
		if (u->fd >= 0 && (rc = write_all(u->fd, d, dlen)) < 0)
			rc = ent_err(u, err, -rc, true, "write");
		break;
	case TAR_EV_DONE:
		rc = u->fd >= 0 ? file_done(u, err) : 0;
		break;
	}
	return rc;
}

struct store_unpack *store_unpack_new(const char *dir, struct berr *err)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		berr_set(err, errno, "layer directory %s", dir);
		return NULL;
	}
	if (fs_dir_empty(fd) != 1) {
		berr_setmsg(err, ENOTEMPTY, "layer directory %s: not empty", dir);
		return NULL;
	}
	_cleanup_free_ struct store_unpack *u = calloc(1, sizeof(*u));
	if (!u) {
		berr_set(err, ENOMEM, "layer directory %s", dir);
		return NULL;
	}
	tar_stream_init(&u->ts, on_event, u);
	u->fd = -1;
	u->root = geteuid() == 0;
	long probe = sys_openat2(fd, ".");
	u->openat2 = probe >= 0;
	if (probe >= 0)
		close((int)probe);
	u->rootfd = steal_fd(&fd);
	return steal_ptr(&u);
}

int store_unpack_feed(struct store_unpack *u, const void *buf, size_t len, struct berr *err)
{
	if (u->failed || u->finished)
		return berr_setmsg(err, EINVAL, "layer unpack: fed after %s",
				   u->failed ? "an error" : "finish");
	u->st.bytes_in += len;
	int rc = tar_stream_feed(&u->ts, buf, len, err);
	if (rc < 0)
		u->failed = -rc;
	return rc;
}

static int finish(struct store_unpack *u, struct berr *err)
{
	int rc = tar_stream_end(&u->ts, err);
	if (rc == 0)
		rc = dirs_pop(u, "", err);
	if (rc < 0)
		return rc;
	/* Everything written, file data and directory entries alike, must be
	 * durable before the caller renames the directory into place. */
	if (syncfs(u->rootfd) < 0) {
		if (errno != ENOSYS)
			return berr_set(err, errno, "layer: sync");
		sync();
	}
	return 0;
}

int store_unpack_finish(struct store_unpack *u, char diff_id[DIGEST_STR_MAX],
			struct store_unpack_stats *stats, struct berr *err)
{
	if (u->failed || u->finished)
		return berr_setmsg(err, EINVAL, "layer unpack: finished after %s",
				   u->failed ? "an error" : "finish");
	int rc = finish(u, err);
	if (rc < 0) {
		u->failed = -rc;
		return rc;
	}
	u->finished = true;
	store_sha256_final(&u->ts.sha, diff_id);
	u->st.bytes_tar = u->ts.bytes_tar;
	if (stats)
		*stats = u->st;
	return 0;
}

void store_unpack_free(struct store_unpack *u)
{
	if (!u)
		return;
	if (u->fd >= 0)
		close(u->fd);
	for (int i = 0; i < u->ndirs; i++)
		close(u->dirs[i].fd);
	tar_stream_release(&u->ts);
	close(u->rootfd);
	free(u);
}

bool store_unpack_test_walk(struct store_unpack *u, bool walk)
{
	u->walk = walk;
	return u->openat2;
}

/* --- implicit directories ---
 * A layer may create "a/b/f" without listing "a/b". Unpacked onto the layers
 * below (as Docker and umoci do), "a/b" keeps the owner and mode it has
 * there; overlayfs shows the upper layer's directory instead. So directories
 * a layer creates implicitly are marked, and once the layers below are
 * unpacked too they take the metadata of the nearest lower directory.
 * Layers unpack in parallel, so this runs after all are in place. */

static struct {
	char *const *layers;
	int below;
	size_t rootlen;
	int rc;
} fix;

/* Opens rel below root without following any symlink. */
static int open_below(const char *root, const char *rel)
{
	_cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return -errno;
	long fd = sys_openat2(rfd, rel);
	if (fd >= 0 || (errno != ENOSYS && errno != EINVAL && errno != EPERM))
		return fd >= 0 ? (int)fd : -errno;
	char tmp[TAR_PATH_MAX + 1];
	snprintf(tmp, sizeof(tmp), "%s", rel);
	int cur = fcntl(rfd, F_DUPFD_CLOEXEC, 0);
	for (char *c = tmp; cur >= 0;) {
		char *slash = strchr(c, '/');
		if (slash)
			*slash = '\0';
		int nfd = walk_step(cur, c, false, false);
		close(cur);
		cur = nfd;
		if (!slash)
			break;
		c = slash + 1;
	}
	return cur;
}

static int fix_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag != FTW_D || lgetxattr(path, IMPLICIT_XATTR, NULL, 0) <= 0)
		return 0;
	const char *rel = path + fix.rootlen;
	while (*rel == '/')
		rel++;
	for (int j = fix.below - 1; j >= 0 && *rel; j--) {
		int fd = open_below(fix.layers[j], rel);
		if (fd < 0)
			continue;
		struct stat lst;
		int ok = fstat(fd, &lst) == 0;
		close(fd);
		if (!ok)
			continue;
		struct timespec ts[2] = { lst.st_atim, lst.st_mtim };
		if (lchown(path, lst.st_uid, lst.st_gid) < 0 ||
		    chmod(path, lst.st_mode & 07777) < 0 ||
		    utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
			fix.rc = -errno;
		break;
	}
	lremovexattr(path, IMPLICIT_XATTR);
	return 0;
}

int store_unpack_fixup(char *const *layers, int i, struct berr *err)
{
	if (i <= 0 || lgetxattr(layers[i], FIXUP_XATTR, NULL, 0) <= 0)
		return 0;
	fix.layers = layers;
	fix.below = i;
	fix.rootlen = strlen(layers[i]);
	fix.rc = 0;
	if (nftw(layers[i], fix_one, 16, FTW_PHYS | FTW_MOUNT) < 0)
		return berr_set(err, errno, "layer %s: fix implicit directories", layers[i]);
	if (fix.rc < 0)
		return berr_set(err, -fix.rc, "layer %s: fix implicit directories", layers[i]);
	if (lremovexattr(layers[i], FIXUP_XATTR) < 0)
		return berr_set(err, errno, "layer %s", layers[i]);
	return fs_sync_dir(layers[i], err);
}
