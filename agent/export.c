/* berth export: a container's filesystem as a tar stream (POSIX.1-2001 pax:
 * ustar headers, with pax records for long names and big sizes). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/client.h"
#include "agent/container.h"
#include "agent/flags.h"
#include "agent/settings.h"
#include "board/cleanup.h"
#include "config.h"

#define TAR_DEPTH_MAX 256
#define TAR_LINKS_MAX 4096

struct tarw {
	int out;
	struct berr *err;
	/* hardlinks: the first path seen for each multiply-linked inode */
	int nlinks;
	struct {
		dev_t dev;
		ino_t ino;
		char *path;
	} links[TAR_LINKS_MAX];
};

static int out_all(struct tarw *t, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(t->out, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return berr_set(t->err, w < 0 ? errno : EIO, "write the archive");
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static void octal(char *dst, size_t len, unsigned long long v)
{
	snprintf(dst, len, "%0*llo", (int)len - 1, v);
}

static int pad(struct tarw *t, unsigned long long size)
{
	static const char zero[512];
	size_t r = (size_t)(size % 512);
	return r ? out_all(t, zero, 512 - r) : 0;
}

/* One pax record "<len> key=value\n"; the length counts itself. */
static size_t pax_rec(char *buf, size_t cap, const char *key, const char *val)
{
	size_t body = strlen(key) + strlen(val) + 3; /* ' ' '=' '\n' */
	size_t len = body + 1;
	while (len != body + (size_t)snprintf(NULL, 0, "%zu", len))
		len = body + (size_t)snprintf(NULL, 0, "%zu", len);
	if (len > cap)
		return 0;
	snprintf(buf, cap, "%zu %s=%s\n", len, key, val);
	return len;
}

static int header(struct tarw *t, const char *path, const struct stat *st, char type,
		  const char *link, unsigned long long size)
{
	char h[512], pax[2 * PATH_MAX + 256];
	size_t plen = 0;
	memset(h, 0, sizeof(h));
	if (strlen(path) > 100)
		plen += pax_rec(pax + plen, sizeof(pax) - plen, "path", path);
	if (link && strlen(link) > 100)
		plen += pax_rec(pax + plen, sizeof(pax) - plen, "linkpath", link);
	if (size > 077777777777ULL) {
		char n[32];
		snprintf(n, sizeof(n), "%llu", size);
		plen += pax_rec(pax + plen, sizeof(pax) - plen, "size", n);
	}
	if (plen) {
		char x[512];
		memset(x, 0, sizeof(x));
		snprintf(x, 100, "PaxHeaders/%.80s", path);
		octal(x + 100, 8, 0644);
		octal(x + 108, 8, 0);
		octal(x + 116, 8, 0);
		octal(x + 124, 12, plen);
		octal(x + 136, 12, 0);
		x[156] = 'x';
		memcpy(x + 257, "ustar", 6);
		memcpy(x + 263, "00", 2);
		memset(x + 148, ' ', 8);
		unsigned sum = 0;
		for (int i = 0; i < 512; i++)
			sum += (unsigned char)x[i];
		snprintf(x + 148, 8, "%06o", sum);
		int rc = out_all(t, x, 512);
		if (!rc)
			rc = out_all(t, pax, plen);
		if (!rc)
			rc = pad(t, plen);
		if (rc)
			return rc;
	}
	strncpy(h, path, 100);
	octal(h + 100, 8, st->st_mode & 07777);
	octal(h + 108, 8, st->st_uid <= 07777777 ? st->st_uid : 0);
	octal(h + 116, 8, st->st_gid <= 07777777 ? st->st_gid : 0);
	octal(h + 124, 12, size <= 077777777777ULL ? size : 0);
	octal(h + 136, 12, st->st_mtime > 0 ? (unsigned long long)st->st_mtime : 0);
	h[156] = type;
	if (link)
		strncpy(h + 157, link, 100);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	if (type == '3' || type == '4') {
		octal(h + 329, 8, major(st->st_rdev));
		octal(h + 337, 8, minor(st->st_rdev));
	}
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	return out_all(t, h, 512);
}

static int file_data(struct tarw *t, int fd, unsigned long long size, const char *path)
{
	char buf[65536];
	unsigned long long left = size;
	while (left) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* the file shrank while we read it: keep the archive well-formed */
			if (n < 0)
				return berr_set(t->err, errno, "read %s", path);
			memset(buf, 0, sizeof(buf));
			while (left) {
				size_t k = left < sizeof(buf) ? (size_t)left : sizeof(buf);
				int rc = out_all(t, buf, k);
				if (rc)
					return rc;
				left -= k;
			}
			break;
		}
		int rc = out_all(t, buf, (size_t)n);
		if (rc)
			return rc;
		left -= (unsigned long long)n;
	}
	return pad(t, size);
}

static int walk(struct tarw *t, int dfd, char *path, size_t plen, int depth)
{
	if (depth > TAR_DEPTH_MAX)
		return berr_setmsg(t->err, ELOOP, "%s: directories nested too deep", path);
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return berr_set(t->err, errno, "read directory /%s", path);
	}
	int rc = 0;
	struct dirent *e;
	while (!rc && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		size_t nl = strlen(e->d_name);
		if (plen + nl + 2 >= PATH_MAX) {
			rc = berr_setmsg(t->err, ENAMETOOLONG, "path too long under /%s", path);
			break;
		}
		memcpy(path + plen, e->d_name, nl + 1);
		struct stat st;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			rc = berr_set(t->err, errno, "stat /%s", path);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			path[plen + nl] = '/';
			path[plen + nl + 1] = '\0';
			rc = header(t, path, &st, '5', NULL, 0);
			int sub = rc ? -1
				     : openat(dfd, e->d_name,
					      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (!rc && sub < 0)
				rc = berr_set(t->err, errno, "open /%s", path);
			if (!rc) {
				rc = walk(t, sub, path, plen + nl + 1, depth + 1);
				close(sub);
			}
		} else if (S_ISREG(st.st_mode)) {
			const char *first = NULL;
			if (st.st_nlink > 1) {
				for (int i = 0; i < t->nlinks; i++)
					if (t->links[i].dev == st.st_dev &&
					    t->links[i].ino == st.st_ino)
						first = t->links[i].path;
				if (!first && t->nlinks < TAR_LINKS_MAX) {
					t->links[t->nlinks].dev = st.st_dev;
					t->links[t->nlinks].ino = st.st_ino;
					t->links[t->nlinks].path = strdup(path);
					if (t->links[t->nlinks].path)
						t->nlinks++;
				}
			}
			if (first) {
				rc = header(t, path, &st, '1', first, 0);
				continue;
			}
			int f = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (f < 0) {
				rc = berr_set(t->err, errno, "open /%s", path);
				break;
			}
			rc = header(t, path, &st, '0', NULL, (unsigned long long)st.st_size);
			if (!rc)
				rc = file_data(t, f, (unsigned long long)st.st_size, path);
			close(f);
		} else if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlinkat(dfd, e->d_name, target, sizeof(target) - 1);
			if (n < 0) {
				rc = berr_set(t->err, errno, "readlink /%s", path);
				break;
			}
			target[n] = '\0';
			rc = header(t, path, &st, '2', target, 0);
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
			rc = header(t, path, &st,
				    S_ISCHR(st.st_mode)   ? '3'
				    : S_ISBLK(st.st_mode) ? '4'
							  : '6',
				    NULL, 0);
		}
		/* sockets are not archived, as tar does */
	}
	closedir(d);
	path[plen] = '\0';
	return rc;
}

int agent_tar_tree(int dirfd, int out, struct berr *err)
{
	struct tarw *t = calloc(1, sizeof(*t));
	if (!t)
		return berr_setmsg(err, ENOMEM, "out of memory");
	t->out = out;
	t->err = err;
	char path[PATH_MAX] = "";
	int rc = walk(t, dirfd, path, 0, 0);
	if (!rc) {
		static const char end[1024];
		rc = out_all(t, end, sizeof(end));
	}
	for (int i = 0; i < t->nlinks; i++)
		free(t->links[i].path);
	free(t);
	return rc;
}

/* The daemon's tar stream (GET /containers/{id}/export, already opened)
 * copied to fd. */
static int copy_api(int fd, struct berr *err)
{
	char buf[65536];
	ssize_t n;
	while ((n = agent_api_read(buf, sizeof(buf), err)) > 0)
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w < 0 && errno != EINTR)
				return berr_set(err, errno, "write");
			off += w > 0 ? w : 0;
		}
	return n < 0 ? (int)n : 0;
}

int agent_cmd_export(const struct agent_opts *o, int argc, char **argv)
{
	const char *output = NULL;
	const struct agent_flag flags[] = { { "output", 'o', FLAG_STR, &output } };
	int n = agent_flags(argc, argv, flags, 1,
			    "Usage: berth export [OPTIONS] CONTAINER\n\n"
			    "Write a container's filesystem as a tar archive to stdout.\n\n"
			    "Options:\n"
			    "  -o, --output string   Write to a file instead of stdout\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n != 1)
		return agent_usage("export: needs exactly one container");
	if (!output && isatty(1))
		return agent_usage(
			"export: refusing to write a tar archive to a terminal (use -o or redirect)");
	bool api = CONFIG_DAEMON && o->host;
	char root[PATH_MAX];
	struct agent_ctr c;
	struct berr err = { 0 };
	if (api) {
		char enc[1024], path[1200];
		snprintf(path, sizeof(path), "/containers/%s/export",
			 agent_api_enc(argv[1], enc, sizeof(enc)));
		int st = agent_api_open(o, "GET", path, NULL, AGENT_API_TIMEOUT_MS, &err);
		if (st == 404)
			return agent_fail("export: %s", err.msg);
		if (st != 200)
			return agent_fail("export %s: %s", argv[1], err.msg);
	} else {
		struct agent_config cfg;
		if (agent_load_config(o, &cfg))
			return AGENT_EXIT_FAIL;
		snprintf(root, sizeof(root), "%s", agent_data_root(o, &cfg));
		agent_config_free(&cfg);
		if (agent_ctr_find(root, argv[1], &c, &err))
			return agent_fail("export: %s", err.msg);
	}
	int fd = 1, rc = 0;
	char tmp[PATH_MAX + 16] = "";
	if (output) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", output);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			rc = berr_set(&err, errno, "%s", tmp);
	}
	if (!rc)
		rc = api ? copy_api(fd, &err) : agent_ctr_export(root, &c, fd, &err);
	if (!api)
		agent_ctr_free(&c);
	if (output && fd >= 0) {
		if (!rc && (fsync(fd) || rename(tmp, output)))
			rc = berr_set(&err, errno, "%s", output);
		close(fd);
		if (rc)
			unlink(tmp);
	}
	if (output && fd < 0)
		return agent_fail("export: %s", err.msg);
	return rc ? agent_fail("export %s: %s", argv[1], err.msg) : AGENT_EXIT_OK;
}
