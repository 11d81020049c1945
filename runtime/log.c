/* Container logs in the CRI format (kubelet's "CRI logging" layout): the
 * size-rotating writer a monitor feeds, the record parser, and the reader
 * behind `berth logs` (see log.h). */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define LOG_STAMP_MAX 40            /* "2026-11-23T15:04:05.123456789+01:00" and a NUL */
#define LOG_NAME_MAX (4096 + 16)    /* a path and ".<n>" */
#define LOG_REC_MAX (64 * 1024 - 1) /* longest line the reader takes for a record */
#define LOG_JOIN_MAX (4 * RT_LOG_LINE_MAX)
#define LOG_POLL_MS 100   /* follow without inotify: look this often */
#define LOG_NOTIFY_MS 250 /* follow with inotify: ask done() this often */

static void log_name(char *out, size_t len, const char *path, int n)
{
	if (n == 0)
		snprintf(out, len, "%s", path);
	else
		snprintf(out, len, "%s.%d", path, n);
}

/* --- writer --- */

static void log_stamp(char out[LOG_STAMP_MAX], const struct timespec *ts)
{
	struct tm tm;
	time_t t = ts->tv_sec;
	gmtime_r(&t, &tm);
	snprintf(out, LOG_STAMP_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)ts->tv_nsec);
}

int rt_log_open(struct rt_log *l, const char *path, int64_t max_size, int max_file,
		struct berr *err)
{
	l->fd = -1;
	l->size = 0;
	l->plen[0] = l->plen[1] = 0;
	if (max_file < 1 || max_file > RT_LOG_FILES_MAX || max_size < 0)
		return berr_setmsg(err, EINVAL, "log %s: %d files of %lld bytes is out of range",
				   path, max_file, (long long)max_size);
	if (strlen(path) >= sizeof(l->path))
		return berr_setmsg(err, ENAMETOOLONG, "log %s: path too long", path);
	strcpy(l->path, path);
	l->max_size = max_size;
	l->max_file = max_file;
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return berr_set(err, errno, "open log %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return berr_set(err, e, "open log %s", path);
	}
	l->fd = fd;
	l->size = st.st_size;
	/* A crash may have cut the last record short: end it so that the next
	 * record is a line of its own (the cut one is then skipped as malformed
	 * or shown shortened). */
	char c;
	if (l->size > 0 && pread(fd, &c, 1, l->size - 1) == 1 && c != '\n' &&
	    write(fd, "\n", 1) == 1)
		l->size++;
	char p[LOG_NAME_MAX];
	for (int i = max_file; i < RT_LOG_FILES_MAX; i++) {
		log_name(p, sizeof(p), path, i);
		unlink(p);
	}
	return 0;
}

void rt_log_close(struct rt_log *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

static int log_rotate(struct rt_log *l, struct berr *err)
{
	if (l->max_file == 1) {
		if (ftruncate(l->fd, 0) < 0)
			return berr_set(err, errno, "rotate log %s: truncate", l->path);
		l->size = 0;
		return 0;
	}
	/* The one sync: a file is complete on flash before it is renamed away.
	 * The directory is not synced: a lost rename only leaves a longer file. */
	fdatasync(l->fd);
	char from[LOG_NAME_MAX], to[LOG_NAME_MAX];
	for (int i = l->max_file - 1; i >= 1; i--) {
		log_name(from, sizeof(from), l->path, i - 1);
		log_name(to, sizeof(to), l->path, i);
		if (rename(from, to) < 0 && errno != ENOENT)
			return berr_set(err, errno, "rotate log %s: rename to %s", l->path, to);
	}
	/* Until the new file exists, records go on into the renamed one. */
	int fd = open(l->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return berr_set(err, errno, "rotate log %s: create", l->path);
	struct stat st;
	close(l->fd);
	l->fd = fd;
	l->size = fstat(fd, &st) == 0 ? st.st_size : 0;
	return 0;
}

static int log_writev(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
			w -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Writes one record whose text is a then b. Returns 0, or the rotation's
 * error when the record was written anyway, or the write's error. */
static int log_record(struct rt_log *l, int si, bool partial, const char *stamp, const char *a,
		      size_t alen, const char *b, size_t blen, struct berr *err)
{
	char hdr[LOG_STAMP_MAX + 16];
	int hlen = snprintf(hdr, sizeof(hdr), "%s %s %c ", stamp, si ? "stderr" : "stdout",
			    partial ? 'P' : 'F');
	int64_t rec = hlen + (int64_t)alen + (int64_t)blen + 1;
	int rot = 0;
	if (l->max_size > 0 && l->size > 0 && l->size + rec > l->max_size)
		rot = log_rotate(l, err);
	struct iovec iov[4] = {
		{ hdr, (size_t)hlen },
		{ (void *)a, alen },
		{ (void *)b, blen },
		{ "\n", 1 },
	};
	int r = log_writev(l->fd, iov, 4);
	if (r < 0) {
		/* Take back what got out of a record cut short (disk full), so the
		 * file stays a list of whole records. */
		if (ftruncate(l->fd, l->size) < 0) {
			/* nothing better to do: the reader skips the broken line */
		}
		return berr_set(err, -r, "write log %s", l->path);
	}
	l->size += rec;
	return rot;
}

static void log_keep(int *first, struct berr **err, int r)
{
	if (r < 0 && !*first) {
		*first = r;
		*err = NULL; /* the first error's message stays */
	}
}

int rt_log_write(struct rt_log *l, enum rt_log_stream s, const void *buf, size_t len,
		 struct berr *err)
{
	if (s != RT_LOG_STDOUT && s != RT_LOG_STDERR)
		return berr_setmsg(err, EINVAL, "log %s: bad stream %d", l->path, (int)s);
	if (l->fd < 0)
		return berr_setmsg(err, EBADF, "log %s: not open", l->path);
	int si = s == RT_LOG_STDERR;
	char *part = l->part[si];
	const char *p = buf;
	char stamp[LOG_STAMP_MAX];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	log_stamp(stamp, &now);
	int first = 0;
	while (len) {
		const char *nl = memchr(p, '\n', len);
		size_t n = nl ? (size_t)(nl - p) : len;
		len -= n + (nl != NULL);
		while (l->plen[si] + n > RT_LOG_LINE_MAX) {
			size_t take = RT_LOG_LINE_MAX - l->plen[si];
			log_keep(&first, &err,
				 log_record(l, si, true, stamp, part, l->plen[si], p, take, err));
			l->plen[si] = 0;
			p += take;
			n -= take;
		}
		if (nl) {
			log_keep(&first, &err,
				 log_record(l, si, false, stamp, part, l->plen[si], p, n, err));
			l->plen[si] = 0;
			p += n + 1;
		} else {
			memcpy(part + l->plen[si], p, n);
			l->plen[si] += n;
			p += n;
		}
	}
	return first;
}

int rt_log_flush(struct rt_log *l, struct berr *err)
{
	if (l->fd < 0)
		return berr_setmsg(err, EBADF, "log %s: not open", l->path);
	char stamp[LOG_STAMP_MAX];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	log_stamp(stamp, &now);
	int first = 0;
	for (int si = 0; si < 2; si++) {
		if (l->plen[si])
			log_keep(&first, &err,
				 log_record(l, si, true, stamp, l->part[si], l->plen[si], "", 0,
					    err));
		l->plen[si] = 0;
	}
	return first;
}

/* --- parser --- */

static bool log_num(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

/* Leap years in [0, y] of the proleptic Gregorian calendar. */
static int64_t log_leaps(int64_t y)
{
	return y < 0 ? 0 : y / 4 - y / 100 + y / 400 + 1;
}

static bool log_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int64_t log_days(int y, int m, int d)
{
	static const short before[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };
	/* Feb 29 of year y counts only from March on. */
	int64_t leaps = log_leaps(m > 2 ? y : y - 1) - log_leaps(1969);
	return (int64_t)(y - 1970) * 365 + leaps + before[m - 1] + d - 1;
}

static bool log_parse_stamp(const char *s, size_t len, struct timespec *ts)
{
	static const char mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, se;
	if (len < 20 || !log_num(s, 4, &y) || s[4] != '-' || !log_num(s + 5, 2, &mo) ||
	    s[7] != '-' || !log_num(s + 8, 2, &d) || s[10] != 'T' || !log_num(s + 11, 2, &h) ||
	    s[13] != ':' || !log_num(s + 14, 2, &mi) || s[16] != ':' || !log_num(s + 17, 2, &se))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !log_leap(y)) || h > 23 || mi > 59 || se > 60)
		return false;
	size_t i = 19;
	long ns = 0;
	if (s[i] == '.') {
		int nd = 0;
		for (i++; i < len && nd < 9 && s[i] >= '0' && s[i] <= '9'; i++, nd++)
			ns = ns * 10 + (s[i] - '0');
		if (nd == 0)
			return false;
		for (; nd < 9; nd++)
			ns *= 10;
	}
	int64_t off = 0;
	if (i < len && s[i] == 'Z') {
		i++;
	} else if (i + 6 <= len && (s[i] == '+' || s[i] == '-')) {
		int oh, om;
		if (!log_num(s + i + 1, 2, &oh) || s[i + 3] != ':' || !log_num(s + i + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return false;
		off = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
		i += 6;
	} else {
		return false;
	}
	if (i != len)
		return false;
	ts->tv_sec = (time_t)(log_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off);
	ts->tv_nsec = ns;
	return true;
}

bool rt_log_parse(const char *line, size_t len, struct rt_log_rec *r)
{
	const char *sp = memchr(line, ' ', len);
	if (!sp)
		return false;
	size_t sl = (size_t)(sp - line);
	if (sl >= LOG_STAMP_MAX || !log_parse_stamp(line, sl, &r->ts))
		return false;
	const char *p = sp + 1;
	size_t left = len - sl - 1;
	if (left < 8 || p[6] != ' ' || (p[7] != 'F' && p[7] != 'P'))
		return false;
	if (!memcmp(p, "stdout", 6))
		r->stream = RT_LOG_STDOUT;
	else if (!memcmp(p, "stderr", 6))
		r->stream = RT_LOG_STDERR;
	else
		return false;
	r->partial = p[7] == 'P';
	p += 8;
	left -= 8;
	if (left > 0) {
		if (*p != ' ')
			return false;
		p++;
		left--;
	}
	r->text = p;
	r->len = left;
	r->stamp = line;
	r->stamp_len = sl;
	return true;
}

/* --- reader --- */

/* A place in the log: file fi (0 is the oldest of those found at the start,
 * files found later while following count on from there), byte off. */
struct log_pos {
	int fi;
	int64_t off;
};

static int log_pos_cmp(struct log_pos a, struct log_pos b)
{
	if (a.fi != b.fi)
		return a.fi < b.fi ? -1 : 1;
	return a.off < b.off ? -1 : a.off > b.off;
}

/* A line of one stream being joined from its records. */
struct log_join {
	bool open;
	struct timespec ts;
	char stamp[LOG_STAMP_MAX];
	size_t stamp_len;
	struct log_pos last; /* its last record */
	size_t len;
	char buf[LOG_STAMP_MAX + LOG_JOIN_MAX]; /* room for the -t prefix, then the text */
};

struct log_file {
	int fd;
	dev_t dev;
	ino_t ino;
};

typedef int log_out_fn(void *arg, enum rt_log_stream s, const char *buf, size_t len);

struct log_rd {
	const char *path;
	const struct rt_log_read_opts *o;
	int streams;
	log_out_fn *out;
	void *arg;
	int ifd; /* inotify on the directory, or -1 */
	/* The files found at the start, oldest first; taken over one by one. */
	struct log_file f[RT_LOG_FILES_MAX];
	int nf;
	/* Where records of each stream start to count (from --tail). */
	struct log_pos bound[2];
	/* The file being read; buf holds [off - tail, off) of it. */
	struct log_file cur;
	int fi;
	int64_t off;
	size_t head, tail;
	bool skipping; /* in a line longer than any record */
	char buf[LOG_REC_MAX + 1];
	struct log_join j[2];
};

static void log_rd_free(struct log_rd *d)
{
	for (int i = 0; i < d->nf; i++)
		if (d->f[i].fd >= 0)
			close(d->f[i].fd);
	if (d->cur.fd >= 0)
		close(d->cur.fd);
	if (d->ifd >= 0)
		close(d->ifd);
	free(d);
}

static void log_rd_freep(struct log_rd **d)
{
	if (*d)
		log_rd_free(*d);
}

static bool log_same(const struct stat *st, const struct log_file *f)
{
	return st->st_dev == f->dev && st->st_ino == f->ino;
}

/* Opens the current file and the rotated ones, newest first so that a
 * rotation meanwhile shows a file twice rather than hides one; tries again
 * when the current file was replaced while looking. */
static int log_snapshot(struct log_rd *d, struct berr *err)
{
	char p[LOG_NAME_MAX];
	for (int attempt = 0;; attempt++) {
		struct log_file got[RT_LOG_FILES_MAX];
		int n = 0;
		bool live = false;
		for (int i = 0; i < RT_LOG_FILES_MAX; i++) {
			log_name(p, sizeof(p), d->path, i);
			int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			struct stat st;
			if (fd < 0 && errno == ENOENT)
				continue;
			if (fd < 0 || fstat(fd, &st) < 0) {
				int e = errno;
				if (fd >= 0)
					close(fd);
				while (n)
					close(got[--n].fd);
				return berr_set(err, e, "read log %s", p);
			}
			bool dup = false;
			for (int k = 0; k < n; k++)
				dup |= log_same(&st, &got[k]);
			if (dup) {
				close(fd);
				continue;
			}
			live |= i == 0;
			got[n++] = (struct log_file){ fd, st.st_dev, st.st_ino };
		}
		if (n == 0)
			return berr_setmsg(err, ENOENT, "read log %s: no such log", d->path);
		struct stat st;
		bool had = stat(d->path, &st) == 0;
		if ((had == live && (!had || log_same(&st, &got[0]))) || attempt == 3) {
			for (int k = 0; k < n; k++)
				d->f[k] = got[n - 1 - k];
			d->nf = n;
			return 0;
		}
		while (n)
			close(got[--n].fd);
	}
}

static ssize_t log_pread(int fd, char *buf, size_t len, int64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, off + (int64_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* --- tail: where to start, found by reading backwards --- */

/* d->buf as a window [ws, ws + wlen) onto a file read backwards. */
struct log_win {
	int fd;
	int64_t ws;
	size_t wlen;
};

static int log_win_load(struct log_rd *d, struct log_win *w, int64_t end)
{
	int64_t lo = end > (int64_t)sizeof(d->buf) ? end - (int64_t)sizeof(d->buf) : 0;
	ssize_t n = log_pread(w->fd, d->buf, (size_t)(end - lo), lo);
	if (n < 0)
		return (int)n;
	if (n < end - lo)
		return -ESTALE; /* the file was truncated under us */
	w->ws = lo;
	w->wlen = (size_t)n;
	return 0;
}

/* Finds where the line ending at e (at a '\n' or the end of the file) starts.
 * *line points to it in d->buf when it is short enough to be a record. */
static int log_line_start(struct log_rd *d, struct log_win *w, int64_t e, int64_t *b,
			  const char **line)
{
	int64_t end = e;
	*line = NULL;
	for (;;) {
		if (end <= w->ws || end > w->ws + (int64_t)w->wlen) {
			if (end == 0) {
				*b = 0;
				break;
			}
			int r = log_win_load(d, w, end);
			if (r < 0)
				return r;
		}
		const char *nl = memrchr(d->buf, '\n', (size_t)(end - w->ws));
		if (nl) {
			*b = w->ws + (nl - d->buf) + 1;
			break;
		}
		if (w->ws == 0) {
			*b = 0;
			break;
		}
		if (end == e && end - w->ws < (int64_t)sizeof(d->buf)) {
			/* The window does not reach back a record's length: move it. */
			int r = log_win_load(d, w, end);
			if (r < 0)
				return r;
			continue;
		}
		end = w->ws; /* longer than any record: only find where it starts */
	}
	if (end == e && e - *b <= LOG_REC_MAX)
		*line = d->buf + (*b - w->ws);
	return 0;
}

struct log_tail {
	long need;
	bool seen[2], bounded[2];
};

/* One record met going backwards at..after. Lines end at an F record or at
 * the last record of a stream (unfinished). Once need lines are counted, a
 * stream's bound is the end of its line before the first counted one.
 * Returns true when every selected stream has its bound. */
static bool log_tail_rec(struct log_rd *d, struct log_tail *t, const struct rt_log_rec *r,
			 struct log_pos at, struct log_pos after)
{
	int s = r->stream - 1;
	if (!(d->streams & r->stream) || t->bounded[s])
		return false;
	if (t->need > 0) {
		bool ends = !r->partial || !t->seen[s];
		t->seen[s] = true;
		if (ends && --t->need == 0) {
			/* A stream not met yet has nothing after here. */
			for (int x = 0; x < 2; x++) {
				if (!t->seen[x]) {
					d->bound[x] = at;
					t->bounded[x] = true;
				}
			}
		}
	} else if (!r->partial) {
		d->bound[s] = after;
		t->bounded[s] = true;
	}
	return t->need == 0 && t->bounded[0] && t->bounded[1];
}

static int log_find_start(struct log_rd *d, long tail, struct log_pos *start)
{
	struct log_tail t = { .need = tail };
	d->bound[0] = d->bound[1] = *start = (struct log_pos){ 0, 0 };
	if (tail < 0)
		return 0;
	/* Streams not asked for need no bound. */
	for (int x = 0; x < 2; x++)
		t.bounded[x] = !(d->streams & (x + 1));
	for (int fi = d->nf - 1; fi >= 0; fi--) {
		struct log_win w = { d->f[fi].fd, 0, 0 };
		struct stat st;
		if (fstat(w.fd, &st) < 0)
			return -errno;
		int64_t e = st.st_size, b;
		const char *line;
		int r;
		if (fi == d->nf - 1) {
			/* The current file may end in a record being written: what
			 * follows its last newline is not a line yet. */
			if ((r = log_line_start(d, &w, e, &b, &line)) < 0)
				return r == -ESTALE ? 0 : r;
			if (tail == 0) {
				d->bound[0] = d->bound[1] = *start = (struct log_pos){ fi, b };
				return 0;
			}
			if (b == 0)
				continue;
			e = b - 1;
		}
		for (;;) {
			if ((r = log_line_start(d, &w, e, &b, &line)) < 0) {
				if (r == -ESTALE)
					break;
				return r;
			}
			struct rt_log_rec rec;
			if (line && rt_log_parse(line, (size_t)(e - b), &rec) &&
			    log_tail_rec(d, &t, &rec, (struct log_pos){ fi, b },
					 (struct log_pos){ fi, e + 1 }))
				goto found;
			if (b == 0)
				break;
			e = b - 1;
		}
	}
	/* Reached the beginning: streams without a bound start there. */
found:
	*start = d->bound[0];
	if (!(d->streams & RT_LOG_STDOUT) ||
	    ((d->streams & RT_LOG_STDERR) && log_pos_cmp(d->bound[1], *start) < 0))
		*start = d->bound[1];
	return 0;
}

/* --- forward: records to lines --- */

static bool log_ts_set(const struct timespec *t)
{
	return t->tv_sec || t->tv_nsec;
}

static int log_ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

/* Delivers what stream s has joined so far. */
static int log_emit(struct log_rd *d, int s)
{
	struct log_join *j = &d->j[s];
	const struct rt_log_read_opts *o = d->o;
	size_t len = j->len;
	j->len = 0;
	if ((log_ts_set(&o->since) && log_ts_cmp(&j->ts, &o->since) < 0) ||
	    (log_ts_set(&o->until) && log_ts_cmp(&j->ts, &o->until) > 0))
		return 0;
	char *p = j->buf + LOG_STAMP_MAX;
	if (o->timestamps) {
		p -= j->stamp_len + 1;
		memcpy(p, j->stamp, j->stamp_len);
		p[j->stamp_len] = ' ';
		len += j->stamp_len + 1;
	}
	return d->out(d->arg, (enum rt_log_stream)(s + 1), p, len);
}

static int log_line(struct log_rd *d, const char *line, size_t len, struct log_pos at)
{
	struct rt_log_rec r;
	if (!rt_log_parse(line, len, &r) || !(d->streams & r.stream))
		return 0;
	int s = r.stream - 1;
	if (log_pos_cmp(at, d->bound[s]) < 0)
		return 0;
	struct log_join *j = &d->j[s];
	if (!j->open) {
		j->open = true;
		j->ts = r.ts;
		memcpy(j->stamp, r.stamp, r.stamp_len);
		j->stamp_len = r.stamp_len;
		j->len = 0;
	}
	int x;
	if (j->len + r.len > LOG_JOIN_MAX && (x = log_emit(d, s)))
		return x;
	memcpy(j->buf + LOG_STAMP_MAX + j->len, r.text, r.len);
	j->len += r.len;
	j->last = at;
	if (r.partial)
		return 0;
	j->open = false;
	return log_emit(d, s);
}

/* Delivers the unfinished lines, in the order they end. */
static int log_unfinished(struct log_rd *d)
{
	int first = d->j[0].open && d->j[1].open && log_pos_cmp(d->j[1].last, d->j[0].last) < 0;
	for (int k = 0; k < 2; k++) {
		int s = k ^ first;
		if (!d->j[s].open)
			continue;
		d->j[s].open = false;
		int x = log_emit(d, s);
		if (x)
			return x;
	}
	return 0;
}

/* Reads the current file from off to its end, handing on each whole line. */
static int log_pump(struct log_rd *d, struct berr *err)
{
	for (;;) {
		char *nl;
		while ((nl = memchr(d->buf + d->head, '\n', d->tail - d->head))) {
			size_t n = (size_t)(nl - (d->buf + d->head));
			struct log_pos at = { d->fi, d->off - (int64_t)(d->tail - d->head) };
			int x = d->skipping ? 0 : log_line(d, d->buf + d->head, n, at);
			d->skipping = false;
			d->head += n + 1;
			if (x)
				return x;
		}
		if (d->head == 0 && d->tail == sizeof(d->buf)) {
			d->skipping = true; /* longer than any record */
			d->tail = 0;
		}
		memmove(d->buf, d->buf + d->head, d->tail - d->head);
		d->tail -= d->head;
		d->head = 0;
		ssize_t n = pread(d->cur.fd, d->buf + d->tail, sizeof(d->buf) - d->tail, d->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set(err, errno, "read log %s", d->path);
		if (n == 0)
			return 0;
		d->tail += (size_t)n;
		d->off += n;
	}
}

/* Moves on to the next file; the current one is complete, so what is left
 * after its last newline is a line too. */
static int log_switch(struct log_rd *d, struct log_file next)
{
	int x = 0;
	if (!d->skipping && d->tail > d->head)
		x = log_line(d, d->buf + d->head, d->tail - d->head,
			     (struct log_pos){ d->fi, d->off - (int64_t)(d->tail - d->head) });
	d->head = d->tail = 0;
	d->skipping = false;
	close(d->cur.fd);
	d->cur = next;
	d->fi++;
	d->off = 0;
	return x;
}

/* The file that came after the current one, which was rotated away: the
 * name before the one it has now, or the oldest left when it is already
 * gone (the reader fell more than max_file rotations behind). */
static int log_successor(struct log_rd *d, struct log_file *next)
{
	char p[LOG_NAME_MAX], q[LOG_NAME_MAX];
	for (int attempt = 0; attempt < 4; attempt++) {
		int k = 0, oldest = 0;
		struct stat st;
		for (int i = 1; i < RT_LOG_FILES_MAX && !k; i++) {
			log_name(p, sizeof(p), d->path, i);
			if (stat(p, &st) < 0)
				continue;
			oldest = i;
			if (log_same(&st, &d->cur))
				k = i;
		}
		log_name(q, sizeof(q), d->path, k ? k - 1 : oldest);
		int fd = open(q, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0)
			return -errno;
		/* Still where it was, so q was not renamed meanwhile. */
		if ((k && (stat(p, &st) < 0 || !log_same(&st, &d->cur))) || fstat(fd, &st) < 0) {
			close(fd);
			continue;
		}
		*next = (struct log_file){ fd, st.st_dev, st.st_ino };
		return 0;
	}
	return -EAGAIN;
}

static void log_watch(struct log_rd *d)
{
	char dir[LOG_NAME_MAX];
	snprintf(dir, sizeof(dir), "%s", d->path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	d->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->ifd >= 0 && inotify_add_watch(d->ifd, dir,
					     IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |
						     IN_DELETE | IN_CLOSE_WRITE) < 0) {
		close(d->ifd);
		d->ifd = -1;
	}
}

static void log_wait(struct log_rd *d)
{
	if (d->ifd >= 0) {
		struct pollfd p = { d->ifd, POLLIN, 0 };
		char ev[4096] __attribute__((aligned(8)));
		if (poll(&p, 1, LOG_NOTIFY_MS) > 0)
			while (read(d->ifd, ev, sizeof(ev)) > 0)
				;
		return;
	}
	struct timespec t = { 0, LOG_POLL_MS * 1000000L };
	nanosleep(&t, NULL);
}

static bool log_follow_over(struct log_rd *d)
{
	const struct rt_log_read_opts *o = d->o;
	if (o->done && o->done(o->done_arg))
		return true;
	struct timespec now;
	return log_ts_set(&o->until) && clock_gettime(CLOCK_REALTIME, &now) == 0 &&
	       log_ts_cmp(&now, &o->until) > 0;
}

/* One look while following: rotation, truncation, or waiting. Sets *stop
 * when following is over. */
static int log_follow_step(struct log_rd *d, bool *finishing, bool *stop, struct berr *err)
{
	struct stat st;
	if (stat(d->path, &st) == 0 && !log_same(&st, &d->cur)) {
		/* Rotated: what was written before the rename is read first. */
		int x = log_pump(d, err);
		if (x)
			return x;
		struct log_file next;
		int r = log_successor(d, &next);
		if (r == -EAGAIN) {
			log_wait(d);
			return 0;
		}
		if (r < 0)
			return berr_set(err, -r, "read log %s: follow rotation", d->path);
		return log_switch(d, next);
	}
	if (fstat(d->cur.fd, &st) == 0 && st.st_size < d->off) {
		/* Truncated in place (max_file 1): start over at its beginning. */
		d->off = 0;
		d->head = d->tail = 0;
		d->skipping = false;
		return 0;
	}
	if (*finishing)
		*stop = true;
	else if (log_follow_over(d))
		*finishing = true; /* one more round reads what came meanwhile */
	else
		log_wait(d);
	return 0;
}

static int log_run(struct log_rd *d, struct berr *err)
{
	int r = log_snapshot(d, err);
	if (r < 0)
		return r;
	struct log_pos start;
	r = log_find_start(d, d->o->tail, &start);
	if (r < 0)
		return berr_set(err, -r, "read log %s", d->path);
	if (d->o->follow)
		log_watch(d);
	d->fi = start.fi;
	d->cur = d->f[start.fi];
	d->f[start.fi].fd = -1;
	d->off = start.off;
	bool finishing = false, stop = false;
	while (!stop) {
		int x = log_pump(d, err);
		if (x)
			return x;
		if (d->fi < d->nf - 1) {
			struct log_file next = d->f[d->fi + 1];
			d->f[d->fi + 1].fd = -1;
			if ((x = log_switch(d, next)))
				return x;
			continue;
		}
		if (!d->o->follow)
			break;
		if ((x = log_follow_step(d, &finishing, &stop, err)))
			return x;
	}
	return log_unfinished(d);
}

int rt_log_read(const char *path, const struct rt_log_read_opts *o, log_out_fn *out, void *arg,
		struct berr *err)
{
	__attribute__((cleanup(log_rd_freep))) struct log_rd *d = malloc(sizeof(*d));
	if (!d)
		return berr_set(err, ENOMEM, "read log %s", path);
	d->path = path;
	d->o = o;
	d->streams = o->streams & (RT_LOG_STDOUT | RT_LOG_STDERR);
	if (!d->streams)
		d->streams = RT_LOG_STDOUT | RT_LOG_STDERR;
	d->out = out;
	d->arg = arg;
	d->ifd = -1;
	d->nf = 0;
	d->cur.fd = -1;
	d->head = d->tail = 0;
	d->skipping = false;
	d->j[0].open = d->j[1].open = false;
	d->j[0].len = d->j[1].len = 0;
	return log_run(d, err);
}
