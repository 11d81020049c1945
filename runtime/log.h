/* Container logs: one file per container, a line per record in the CRI
 * format ("<RFC3339Nano UTC> <stdout|stderr> <F|P> <text>\n"), rotated by
 * size into <path>.1 .. <path>.<max_file-1>; and the reader behind
 * `berth logs` (--tail, --since, --until, -t, -f across rotations). */
#ifndef BERTH_RT_LOG_H
#define BERTH_RT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "board/err.h"

#define RT_LOG_LINE_MAX 16384 /* longer lines are split into P records */
#define RT_LOG_DEFAULT_SIZE (2 * 1024 * 1024)
#define RT_LOG_DEFAULT_FILES 2
#define RT_LOG_FILES_MAX 100 /* max_file bound; the reader looks no further */

enum rt_log_stream { RT_LOG_STDOUT = 1, RT_LOG_STDERR = 2 };

/* The writer, owned by a container's monitor. Fixed size; no allocation. */
struct rt_log {
	int fd;
	char path[4096];
	int64_t size;     /* bytes in the current file */
	int64_t max_size; /* rotate when a record would pass it; 0 = never */
	int max_file;     /* files kept including the current one (>= 1) */
	/* Per stream: the unfinished line collected so far. */
	char part[2][RT_LOG_LINE_MAX];
	size_t plen[2];
};

/* Opens (appending) or creates path (not through a symlink). max_file is 1
 * (the file is truncated in place when full) to RT_LOG_FILES_MAX; rotated
 * files left beyond it by an earlier, larger setting are removed. A last
 * record cut short by a crash is ended with a newline. Returns 0 or -errno;
 * on error l->fd is -1. */
int rt_log_open(struct rt_log *l, const char *path, int64_t max_size, int max_file,
		struct berr *err);
/* Writes what the container printed on stream: complete lines become F
 * records stamped now; a line longer than RT_LOG_LINE_MAX is written in P
 * records; an unfinished tail is kept until its newline or rt_log_flush.
 * Rotates when needed: the full file is fdatasync'ed and renamed (the only
 * sync; records are not synced one by one). A write error (disk full) is
 * returned after the rest of buf was tried, the failed record is not left
 * half-written in the file, and the monitor goes on (the container must not
 * block on its log). */
int rt_log_write(struct rt_log *l, enum rt_log_stream s, const void *buf, size_t len,
		 struct berr *err);
/* Writes unfinished lines as P records (at exit). */
int rt_log_flush(struct rt_log *l, struct berr *err);
/* Closes the file; does not flush. */
void rt_log_close(struct rt_log *l);

/* Parses one record line (without its '\n'). Returns false when malformed.
 * The stamp has 0 to 9 fraction digits and ends in Z or +hh:mm/-hh:mm; ts is
 * UTC. "<stamp> <stream> <F|P>" with no text is an empty line. Pure. */
struct rt_log_rec {
	struct timespec ts;
	enum rt_log_stream stream;
	bool partial;     /* P: the line goes on in the next record */
	const char *text; /* points into the line, not NUL-terminated */
	size_t len;
	const char *stamp; /* the timestamp as written */
	size_t stamp_len;
};
bool rt_log_parse(const char *line, size_t len, struct rt_log_rec *r);

struct rt_log_read_opts {
	/* The last N lines of the selected streams (-1: all). Lines are counted
	 * where they end; an unfinished line ends at its last record. */
	long tail;
	bool timestamps; /* prefix each line with its RFC3339Nano stamp and a space */
	/* 0 = unbounded. A line is kept when since <= its stamp <= until; the
	 * stamp of a line is that of its first record. Applied after tail, so
	 * tail N with since gives those of the last N lines written since. With
	 * follow, following ends once the clock passes until. */
	struct timespec since, until;
	int streams; /* RT_LOG_STDOUT | RT_LOG_STDERR; 0 means both */
	bool follow;
	/* With follow: called between polls; returning true ends following once
	 * everything written so far has been delivered (the container exited).
	 * NULL: follow until out returns non-zero. */
	bool (*done)(void *arg);
	void *done_arg;
};

/* Delivers the log's lines (oldest rotated file first) to out, one call per
 * output line with its stream, without the '\n'; P records are joined with
 * what follows on the same stream. A joined line longer than
 * 4 * RT_LOG_LINE_MAX is delivered in pieces of at most that, each a call.
 * Unfinished lines are delivered at the end. Malformed lines are skipped. A
 * record still being written at the end of the log is left for later.
 * Memory is fixed (about 200 KiB) whatever the log size and tail.
 * Returns 0 when done, -ENOENT when there is no log, another negative errno,
 * or out's non-zero return (e.g. -EPIPE when the reader's client left). */
int rt_log_read(const char *path, const struct rt_log_read_opts *o,
		int (*out)(void *arg, enum rt_log_stream s, const char *buf, size_t len), void *arg,
		struct berr *err);

#endif
