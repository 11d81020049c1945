/* libFuzzer target for runtime/log.c: rt_log_parse on the input and on each
 * of its lines (invariants; an accepted record written back in the writer's
 * form parses the same), and rt_log_read over the input as a log of two
 * files, checking that --tail N gives the last N lines of a full read.
 * Input: an options byte, a byte saying where to cut it into the two files,
 * then the log. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX 32768 /* below the longest record: no line is cut or skipped for length */

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_parse(const char *line, size_t len)
{
	struct rt_log_rec r;
	if (!rt_log_parse(line, len, &r))
		return;
	check(r.stream == RT_LOG_STDOUT || r.stream == RT_LOG_STDERR);
	check(r.stamp == line && r.stamp_len >= 20 && r.stamp_len < 40);
	check(r.text >= line + r.stamp_len + 9 && r.text + r.len == line + len);
	check(r.ts.tv_nsec >= 0 && r.ts.tv_nsec < 1000000000);
	struct tm tm;
	time_t t = r.ts.tv_sec;
	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return;
	static char buf[FUZZ_MAX + 64];
	int n = snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ %s %c ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (long)r.ts.tv_nsec, r.stream == RT_LOG_STDERR ? "stderr" : "stdout",
			 r.partial ? 'P' : 'F');
	memcpy(buf + n, r.text, r.len);
	struct rt_log_rec again;
	check(rt_log_parse(buf, (size_t)n + r.len, &again));
	check(again.ts.tv_sec == r.ts.tv_sec && again.ts.tv_nsec == r.ts.tv_nsec);
	check(again.stream == r.stream && again.partial == r.partial && again.len == r.len);
	check(!memcmp(again.text, r.text, r.len));
}

/* The output of one read: lines as "<stream><text>\n", and where each starts. */
struct fuzz_out {
	char *buf;
	size_t len, cap;
	size_t *start;
	int n, ncap;
};

static int collect(void *arg, enum rt_log_stream s, const char *b, size_t len)
{
	struct fuzz_out *o = arg;
	check(s == RT_LOG_STDOUT || s == RT_LOG_STDERR);
	check(len <= 4 * RT_LOG_LINE_MAX + 40);
	if (o->len + len + 2 > o->cap) {
		o->cap = (o->len + len + 2) * 2;
		o->buf = realloc(o->buf, o->cap);
	}
	if (o->n == o->ncap) {
		o->ncap = o->ncap ? o->ncap * 2 : 64;
		o->start = realloc(o->start, (size_t)o->ncap * sizeof(*o->start));
	}
	check(o->buf && o->start);
	o->start[o->n++] = o->len;
	o->buf[o->len++] = (char)('0' + s);
	memcpy(o->buf + o->len, b, len);
	o->len += len;
	o->buf[o->len++] = '\n';
	return 0;
}

static char dir[64], path[96], path1[100];

static void cleanup(void)
{
	unlink(path);
	unlink(path1);
	rmdir(dir);
}

static void put(const char *p, const uint8_t *d, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	check(fd >= 0);
	while (n) {
		ssize_t w = write(fd, d, n);
		check(w > 0);
		d += w;
		n -= (size_t)w;
	}
	close(fd);
}

/* Whether a selected stream's last record is P: its unfinished line then
 * counts where it ends but comes out last, so tail is a suffix only by count. */
static bool unfinished(const uint8_t *d, size_t split, size_t size, int streams)
{
	char last[3] = { 0, 0, 0 };
	size_t b = 0;
	for (size_t i = 0; i <= size; i++) {
		/* Lines end at a newline, and at the end of the rotated file. */
		bool end = i < size ? d[i] == '\n' : false;
		if (i == split && b < split)
			end = true;
		if (!end)
			continue;
		struct rt_log_rec r;
		if (rt_log_parse((const char *)d + b, i - b, &r))
			last[r.stream] = r.partial ? 'P' : 'F';
		b = i + (i < size && d[i] == '\n');
	}
	if (!streams)
		streams = RT_LOG_STDOUT | RT_LOG_STDERR;
	return ((streams & RT_LOG_STDOUT) && last[1] == 'P') ||
	       ((streams & RT_LOG_STDERR) && last[2] == 'P');
}

static void read_log(const struct rt_log_read_opts *o, struct fuzz_out *out)
{
	struct berr err = { 0 };
	out->len = 0;
	out->n = 0;
	check(rt_log_read(path, o, collect, out, &err) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_out all, part;
	if (size > FUZZ_MAX)
		return 0;
	check_parse((const char *)data, size);
	for (size_t b = 0, i = 0; i < size; i++) {
		if (data[i] == '\n') {
			check_parse((const char *)data + b, i - b);
			b = i + 1;
		}
	}
	if (size < 2)
		return 0;
	if (!dir[0]) {
		strcpy(dir, "/tmp/berth-fuzz-log-XXXXXX");
		check(mkdtemp(dir) != NULL);
		snprintf(path, sizeof(path), "%s/log", dir);
		snprintf(path1, sizeof(path1), "%s/log.1", dir);
		atexit(cleanup);
	}
	uint8_t opt = data[0];
	size_t split = (size - 2) * data[1] / 255;
	data += 2;
	size -= 2;
	/* A line cut by the split ends the rotated file. */
	put(path1, data, split);
	put(path, data + split, size - split);
	struct rt_log_read_opts o = { .tail = -1,
				      .timestamps = opt & 1,
				      .streams = (opt >> 1) & 3 };
	read_log(&o, &all);
	o.tail = opt >> 3;
	read_log(&o, &part);
	int want = o.tail < all.n ? (int)o.tail : all.n;
	check(part.n == want);
	if (!unfinished(data, split, size, o.streams)) {
		size_t from = want ? all.start[all.n - want] : all.len;
		check(part.len == all.len - from && !memcmp(part.buf, all.buf + from, part.len));
	}
	return 0;
}
