/* Unit tests for runtime/log.c: the CRI record format, the writer's line
 * splitting and rotation, and the reader (tail, since/until, -t, streams,
 * joining, follow across rotation and truncation) on a temp directory. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "board/fs.h"
#include "runtime/log.h"
#include "tap.h"

static char dir[64], lp[128];
static struct rt_log wl; /* large: not on the stack */

static void fresh(void)
{
	if (dir[0])
		fs_rm_rf(dir, NULL);
	strcpy(dir, "/tmp/berth-log-XXXXXX");
	if (!mkdtemp(dir))
		exit(2);
	snprintf(lp, sizeof(lp), "%s/ctr.log", dir);
}

static void name(char *out, int n)
{
	if (n)
		snprintf(out, 160, "%s.%d", lp, n);
	else
		snprintf(out, 160, "%s", lp);
}

/* Writes the log file n (0 the current, else lp.n) with s. */
static void put(int n, const char *s)
{
	char p[160];
	name(p, n);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		exit(2);
	close(fd);
}

static long long fsize(int n)
{
	char p[160];
	struct stat st;
	name(p, n);
	return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* Reads log file n into a NUL-terminated malloc'd string. */
static char *slurp(int n)
{
	char p[160], *buf = NULL;
	name(p, n);
	if (fs_read_alloc(p, 4 << 20, &buf, NULL) < 0)
		return strdup("");
	return buf;
}

/* Handcrafted records: "2026-11-23T15:04:<sec>.000000000Z <stream> <tag> <text>". */
static char file[1 << 16];

static void add(int sec, const char *stream, char tag, const char *text)
{
	size_t n = strlen(file);
	snprintf(file + n, sizeof(file) - n, "2026-11-23T15:04:%02d.000000000Z %s %c %s\n", sec,
		 stream, tag, text);
}

static struct timespec at(int sec)
{
	struct tm tm = { .tm_year = 126, .tm_mon = 10, .tm_mday = 23, .tm_hour = 15, .tm_min = 4 };
	tm.tm_sec = sec;
	return (struct timespec){ timegm(&tm), 0 };
}

/* Output collected as "o|text\n" / "e|text\n". */
struct coll {
	char *buf;
	size_t len, cap;
	int n;
	size_t maxpiece;
	int rc;
};
static struct coll got;

static int collect(void *arg, enum rt_log_stream s, const char *b, size_t len)
{
	struct coll *c = arg;
	if (c->len + len + 4 > c->cap) {
		c->cap = (c->len + len + 4) * 2;
		c->buf = realloc(c->buf, c->cap);
		if (!c->buf)
			exit(2);
	}
	c->buf[c->len++] = s == RT_LOG_STDERR ? 'e' : s == RT_LOG_STDOUT ? 'o' : '?';
	c->buf[c->len++] = '|';
	memcpy(c->buf + c->len, b, len);
	c->len += len;
	c->buf[c->len++] = '\n';
	c->buf[c->len] = '\0';
	c->n++;
	if (len > c->maxpiece)
		c->maxpiece = len;
	return 0;
}

static const char *rd(struct rt_log_read_opts o)
{
	struct berr e = { 0 };
	got.len = 0;
	got.n = 0;
	got.maxpiece = 0;
	collect(&got, RT_LOG_STDOUT, "", 0); /* make buf a string */
	got.len = 0;
	got.n = 0;
	got.buf[0] = '\0';
	got.rc = rt_log_read(lp, &o, collect, &got, &e);
	if (got.rc)
		printf("# rt_log_read: %d %s\n", got.rc, e.msg);
	return got.buf;
}

static const char *rd_tail(long tail)
{
	return rd((struct rt_log_read_opts){ .tail = tail });
}

static void test_parse(void)
{
	struct rt_log_rec r;
	const char *l = "2026-11-23T15:04:05.123456789Z stdout F hello  world\t";
	T_EXPECT(rt_log_parse(l, strlen(l), &r));
	T_EXPECT_INT(r.ts.tv_sec, at(5).tv_sec);
	T_EXPECT_INT(r.ts.tv_nsec, 123456789);
	T_EXPECT_INT(r.stream, RT_LOG_STDOUT);
	T_EXPECT(!r.partial);
	T_EXPECT_INT(r.len, 13);
	T_EXPECT(r.text == l + 40 && !memcmp(r.text, "hello  world\t", 13));
	T_EXPECT(r.stamp == l && r.stamp_len == 30);
	/* The length bounds the line, not a NUL. */
	T_EXPECT(rt_log_parse(l, 43, &r) && r.len == 3 && !memcmp(r.text, "hel", 3));

	l = "1970-01-01T00:00:01.5Z stderr P x";
	T_EXPECT(rt_log_parse(l, strlen(l), &r));
	T_EXPECT_INT(r.ts.tv_sec, 1);
	T_EXPECT_INT(r.ts.tv_nsec, 500000000);
	T_EXPECT_INT(r.stream, RT_LOG_STDERR);
	T_EXPECT(r.partial && r.len == 1 && r.stamp_len == 22);

	struct tm tm = { .tm_year = 100, .tm_mon = 1, .tm_mday = 28, .tm_hour = 23, .tm_min = 30 };
	l = "2000-02-29T00:30:00+01:00 stdout F ";
	T_EXPECT(rt_log_parse(l, strlen(l), &r) && r.len == 0);
	T_EXPECT_INT(r.ts.tv_sec, timegm(&tm));
	T_EXPECT_INT(r.ts.tv_nsec, 0);
	/* No space after the tag: an empty line too. */
	l = "2000-03-01T00:00:00-00:30 stdout F";
	T_EXPECT(rt_log_parse(l, strlen(l), &r) && r.len == 0);
	tm = (struct tm){ .tm_year = 100, .tm_mon = 2, .tm_mday = 1, .tm_min = 30 };
	T_EXPECT_INT(r.ts.tv_sec, timegm(&tm));
	l = "1999-12-31T23:59:60Z stdout F leap";
	tm = (struct tm){ .tm_year = 100, .tm_mday = 1 };
	T_EXPECT(rt_log_parse(l, strlen(l), &r));
	T_EXPECT_INT(r.ts.tv_sec, timegm(&tm));
	l = "2400-02-29T12:00:00.000000001Z stdout F far";
	tm = (struct tm){ .tm_year = 500, .tm_mon = 1, .tm_mday = 29, .tm_hour = 12 };
	T_EXPECT(rt_log_parse(l, strlen(l), &r));
	T_EXPECT_INT(r.ts.tv_sec, timegm(&tm));
	T_EXPECT_INT(r.ts.tv_nsec, 1);

	static const char *const bad[] = {
		"",
		"garbage",
		"2026-11-23T15:04:05Z",
		"2026-11-23T15:04:05Z stdout",
		"2026-11-23T15:04:05Z stdout ",
		"2026-11-23T15:04:05Z stdin F x",
		"2026-11-23T15:04:05Z stdout X x",
		"2026-11-23T15:04:05Z stdout Fx",
		"2026-11-23T15:04:05Z stdout  F x",
		"2026-11-23T15:04:05Z  stdout F x",
		" 2026-11-23T15:04:05Z stdout F x",
		"2026-13-23T15:04:05Z stdout F x",
		"2026-00-23T15:04:05Z stdout F x",
		"2026-04-31T15:04:05Z stdout F x",
		"2026-02-29T15:04:05Z stdout F x",
		"1900-02-29T15:04:05Z stdout F x",
		"2026-11-23T24:04:05Z stdout F x",
		"2026-11-23T15:60:05Z stdout F x",
		"2026-11-23T15:04:61Z stdout F x",
		"2026-11-23T15:04:05.Z stdout F x",
		"2026-11-23T15:04:05.1234567890Z stdout F x",
		"2026-11-23T15:04:05 stdout F x",
		"2026-11-23t15:04:05Z stdout F x",
		"2026-11-23T15:04:05z stdout F x",
		"2026-11-23T15:04:05+0100 stdout F x",
		"2026-11-23T15:04:05+01:00Z stdout F x",
		"2026-11-23T15:04:05+24:00 stdout F x",
		"2026-11-2xT15:04:05Z stdout F x",
		"+026-11-23T15:04:05Z stdout F x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool ok = rt_log_parse(bad[i], strlen(bad[i]), &r);
		if (ok)
			printf("#   accepted: \"%s\"\n", bad[i]);
		T_EXPECT(!ok);
	}
}

/* Splits a log file into records; returns how many, checking each parses. */
struct recs {
	int n;
	char tag[64];
	int stream[64];
	size_t len[64];
	char text[64][64];
};

static void records(int file_n, struct recs *rs)
{
	char *s = slurp(file_n), *p = s, *nl;
	memset(rs, 0, sizeof(*rs));
	while ((nl = strchr(p, '\n')) && rs->n < 64) {
		struct rt_log_rec r;
		if (!rt_log_parse(p, (size_t)(nl - p), &r)) {
			printf("#   unparsable record: %.*s\n", (int)(nl - p > 80 ? 80 : nl - p),
			       p);
			T_EXPECT(!"record parses");
		} else {
			rs->tag[rs->n] = r.partial ? 'P' : 'F';
			rs->stream[rs->n] = r.stream;
			rs->len[rs->n] = r.len;
			snprintf(rs->text[rs->n], 64, "%.*s", (int)(r.len > 63 ? 63 : r.len),
				 r.text);
		}
		rs->n++;
		p = nl + 1;
	}
	T_EXPECT(*p == '\0'); /* whole records only */
	free(s);
}

static bool stamp_shape(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddddddddZ";
	for (int i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return false;
	return true;
}

static void test_write_format(void)
{
	fresh();
	struct berr e = { 0 };
	struct timespec t0, t1;
	clock_gettime(CLOCK_REALTIME, &t0);
	t0.tv_nsec = 0;
	T_EXPECT_INT(rt_log_open(&wl, lp, 0, 1, &e), 0);
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, "hello\n", 6, &e), 0);
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDERR, "oops\n", 5, &e), 0);
	clock_gettime(CLOCK_REALTIME, &t1);
	T_EXPECT_INT(wl.size, 46 + 45);
	rt_log_close(&wl);
	char *s = slurp(0);
	T_EXPECT_INT(strlen(s), 91);
	T_EXPECT(stamp_shape(s) && stamp_shape(s + 46));
	T_EXPECT(!memcmp(s + 30, " stdout F hello\n", 16));
	T_EXPECT(!memcmp(s + 46 + 30, " stderr F oops\n", 15));
	struct rt_log_rec r;
	T_EXPECT(rt_log_parse(s, 45, &r));
	T_EXPECT(r.ts.tv_sec >= t0.tv_sec && r.ts.tv_sec <= t1.tv_sec);
	free(s);
	/* Read back. */
	T_EXPECT_STR(rd_tail(-1), "o|hello\ne|oops\n");
	T_EXPECT_INT(got.rc, 0);
}

static void test_write_split(void)
{
	fresh();
	struct berr e = { 0 };
	T_EXPECT_INT(rt_log_open(&wl, lp, 0, 1, &e), 0);
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, "hel", 3, &e), 0);
	T_EXPECT_INT(fsize(0), 0); /* nothing until the newline */
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, "lo\nwor", 6, &e), 0);
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDERR, "E1\n", 3, &e), 0);
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, "ld\n\n", 4, &e), 0);
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, "x\r\ny", 4, &e), 0);
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDERR, "", 0, &e), 0);
	T_EXPECT_INT(rt_log_write(&wl, 3, "z\n", 2, &e), -EINVAL);
	T_EXPECT_INT(rt_log_flush(&wl, &e), 0);
	T_EXPECT_INT(rt_log_flush(&wl, &e), 0); /* nothing left */
	rt_log_close(&wl);
	struct recs rs;
	records(0, &rs);
	T_EXPECT_INT(rs.n, 6);
	static const char *const text[] = { "hello", "E1", "world", "", "x\r", "y" };
	static const char tag[] = "FFFFFP";
	static const int stream[] = { 1, 2, 1, 1, 1, 1 };
	for (int i = 0; i < 6 && i < rs.n; i++) {
		T_EXPECT_STR(rs.text[i], text[i]);
		T_EXPECT_INT(rs.tag[i], tag[i]);
		T_EXPECT_INT(rs.stream[i], stream[i]);
	}
	T_EXPECT_STR(rd_tail(-1), "o|hello\ne|E1\no|world\no|\no|x\r\no|y\n");
	/* Reopening appends. */
	T_EXPECT_INT(rt_log_open(&wl, lp, 0, 1, &e), 0);
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, "more\n", 5, &e), 0);
	rt_log_close(&wl);
	/* The flushed P record joins with what came next (CRI semantics). */
	T_EXPECT_STR(rd_tail(2), "o|x\r\no|ymore\n");
}

static void pattern(char *buf, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + (i * 7 + (size_t)seed) % 26);
}

static void test_long_lines(void)
{
	fresh();
	struct berr e = { 0 };
	static char line[100001];
	T_EXPECT_INT(rt_log_open(&wl, lp, 0, 1, &e), 0);
	pattern(line, 40000, 1);
	line[40000] = '\n';
	for (size_t off = 0; off < 40001; off += 7000)
		T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, line + off,
					  off + 7000 > 40001 ? 40001 - off : 7000, &e),
			     0);
	pattern(line, RT_LOG_LINE_MAX, 2);
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDERR, line, RT_LOG_LINE_MAX, &e), 0);
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDERR, "\n", 1, &e), 0);
	pattern(line, RT_LOG_LINE_MAX + 1, 3);
	line[RT_LOG_LINE_MAX + 1] = '\n';
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, line, RT_LOG_LINE_MAX + 2, &e), 0);
	rt_log_close(&wl);
	struct recs rs;
	records(0, &rs);
	T_EXPECT_INT(rs.n, 6);
	static const char tag[] = "PPFFPF";
	static const size_t len[] = { 16384, 16384, 7232, 16384, 16384, 1 };
	for (int i = 0; i < 6 && i < rs.n; i++) {
		T_EXPECT_INT(rs.tag[i], tag[i]);
		T_EXPECT_INT(rs.len[i], len[i]);
	}
	rd_tail(-1);
	T_EXPECT_INT(got.n, 3);
	char *p = got.buf;
	pattern(line, 40000, 1);
	T_EXPECT(!strncmp(p, "o|", 2) && !memcmp(p + 2, line, 40000) && p[40002] == '\n');
	p += 40003;
	pattern(line, RT_LOG_LINE_MAX, 2);
	T_EXPECT(!strncmp(p, "e|", 2) && !memcmp(p + 2, line, RT_LOG_LINE_MAX));
	p += RT_LOG_LINE_MAX + 3;
	pattern(line, RT_LOG_LINE_MAX + 1, 3);
	T_EXPECT(!strncmp(p, "o|", 2) && !memcmp(p + 2, line, RT_LOG_LINE_MAX + 1));
	T_EXPECT_INT(strlen(p), RT_LOG_LINE_MAX + 4);
}

/* Joined lines longer than 4 * RT_LOG_LINE_MAX come in pieces; memory stays
 * bounded however long a line without a newline gets. */
static void test_pieces(void)
{
	fresh();
	struct berr e = { 0 };
	static char line[100001];
	T_EXPECT_INT(rt_log_open(&wl, lp, 0, 1, &e), 0);
	pattern(line, 100000, 4);
	line[100000] = '\n';
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, line, 100001, &e), 0);
	/* 1 MiB without a newline, then flushed: all P records. */
	for (int i = 0; i < 16; i++)
		T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDERR, line, 65536, &e), 0);
	T_EXPECT_INT(rt_log_flush(&wl, &e), 0);
	rt_log_close(&wl);
	rd_tail(-1);
	T_EXPECT_INT(got.rc, 0);
	T_EXPECT_INT(got.n, 2 + 16);
	T_EXPECT_INT(got.maxpiece, 4 * RT_LOG_LINE_MAX);
	char *p = got.buf;
	T_EXPECT(!memcmp(p, "o|", 2) && !memcmp(p + 2, line, 65536) && p[65538] == '\n');
	p += 65539;
	T_EXPECT(!memcmp(p, "o|", 2) && !memcmp(p + 2, line + 65536, 100000 - 65536));
	p += 2 + 100000 - 65536 + 1;
	bool same = true;
	for (int i = 0; i < 16; i++, p += 65539)
		same &= !memcmp(p, "e|", 2) && !memcmp(p + 2, line, 65536) && p[65538] == '\n';
	T_EXPECT(same);
	/* tail counts the joined line once, whatever its pieces. */
	rd_tail(1);
	T_EXPECT_INT(got.n, 16);
	rd_tail(2);
	T_EXPECT_INT(got.n, 18);
}

static void wline(int i)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "r%02d-xxxxx\n", i);
	struct berr e = { 0 };
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, b, (size_t)n, &e), 0);
}

static void first_text(int file_n, const char *want, int nrec)
{
	struct recs rs;
	records(file_n, &rs);
	T_EXPECT_INT(rs.n, nrec);
	T_EXPECT_STR(rs.text[0], want);
}

static void test_rotation(void)
{
	fresh();
	struct berr e = { 0 };
	/* Records are 50 bytes: 4 fit in 200. */
	T_EXPECT_INT(rt_log_open(&wl, lp, 200, 3, &e), 0);
	for (int i = 1; i <= 12; i++)
		wline(i);
	T_EXPECT_INT(fsize(0), 200);
	T_EXPECT_INT(fsize(1), 200);
	T_EXPECT_INT(fsize(2), 200);
	T_EXPECT_INT(fsize(3), -1);
	first_text(0, "r09-xxxxx", 4);
	first_text(1, "r05-xxxxx", 4);
	first_text(2, "r01-xxxxx", 4);
	wline(13);
	T_EXPECT_INT(fsize(0), 50);
	T_EXPECT_INT(wl.size, 50);
	first_text(0, "r13-xxxxx", 1);
	first_text(1, "r09-xxxxx", 4);
	first_text(2, "r05-xxxxx", 4); /* r01..r04 dropped */
	T_EXPECT_INT(fsize(3), -1);
	rt_log_close(&wl);
	rd_tail(-1);
	T_EXPECT_INT(got.n, 9);
	T_EXPECT(!strncmp(got.buf, "o|r05-xxxxx\no|r06-xxxxx\n", 24));
	T_EXPECT(strstr(got.buf, "o|r12-xxxxx\no|r13-xxxxx\n") != NULL);

	/* Reopened with fewer files: the extra rotated ones go. */
	put(5, "stale\n");
	T_EXPECT_INT(rt_log_open(&wl, lp, 200, 2, &e), 0);
	T_EXPECT_INT(fsize(1), 200);
	T_EXPECT_INT(fsize(2), -1);
	T_EXPECT_INT(fsize(5), -1);
	rt_log_close(&wl);

	/* max_file 1: truncated in place. */
	fresh();
	T_EXPECT_INT(rt_log_open(&wl, lp, 200, 1, &e), 0);
	for (int i = 1; i <= 5; i++)
		wline(i);
	T_EXPECT_INT(fsize(0), 50);
	T_EXPECT_INT(fsize(1), -1);
	first_text(0, "r05-xxxxx", 1);
	rt_log_close(&wl);

	/* A record larger than max_size still goes into an empty file. */
	fresh();
	T_EXPECT_INT(rt_log_open(&wl, lp, 20, 2, &e), 0);
	wline(1);
	T_EXPECT_INT(fsize(0), 50);
	wline(2);
	first_text(0, "r02-xxxxx", 1);
	first_text(1, "r01-xxxxx", 1);
	rt_log_close(&wl);
	/* max_size 0: never rotated. */
	fresh();
	T_EXPECT_INT(rt_log_open(&wl, lp, 0, 2, &e), 0);
	for (int i = 1; i <= 30; i++)
		wline(i);
	T_EXPECT_INT(fsize(0), 1500);
	T_EXPECT_INT(fsize(1), -1);
	rt_log_close(&wl);
}

static void test_open_errors_and_repair(void)
{
	fresh();
	struct berr e = { 0 };
	T_EXPECT_INT(rt_log_open(&wl, lp, 100, 0, &e), -EINVAL);
	T_EXPECT_INT(wl.fd, -1);
	T_EXPECT_INT(rt_log_open(&wl, lp, 100, RT_LOG_FILES_MAX + 1, &e), -EINVAL);
	T_EXPECT_INT(rt_log_open(&wl, lp, -1, 2, &e), -EINVAL);
	T_EXPECT(strstr(e.msg, lp) != NULL);
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, "x\n", 2, &e), -EBADF);
	char target[160];
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	T_EXPECT_INT(symlink(target, lp), 0);
	T_EXPECT_INT(rt_log_open(&wl, lp, 100, 2, &e), -ELOOP);
	unlink(lp);
	T_EXPECT_INT(rt_log_read(lp, &(struct rt_log_read_opts){ .tail = -1 }, collect, &got, &e),
		     -ENOENT);
	T_EXPECT_INT(e.code, ENOENT);
	/* A record cut short by a crash is ended before the next one. */
	put(0, "2026-11-23T15:04:01.000000000Z stdout F before\n"
	       "2026-11-23T15:04:02.000000000Z stdout F cut sh");
	T_EXPECT_INT(rt_log_open(&wl, lp, 0, 1, &e), 0);
	T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, "after\n", 6, &e), 0);
	rt_log_close(&wl);
	T_EXPECT_STR(rd_tail(-1), "o|before\no|cut sh\no|after\n");
}

/* 11 lines over three files: 4 in .2, 4 in .1, 3 in the current one. */
static void eleven(void)
{
	fresh();
	struct berr e = { 0 };
	T_EXPECT_INT(rt_log_open(&wl, lp, 200, 3, &e), 0);
	for (int i = 1; i <= 11; i++)
		wline(i);
	rt_log_close(&wl);
	T_EXPECT_INT(fsize(2), 200);
}

static void expect_range(const char *s, int from, int to)
{
	char want[1024] = "";
	for (int i = from; i <= to; i++) {
		size_t n = strlen(want);
		snprintf(want + n, sizeof(want) - n, "o|r%02d-xxxxx\n", i);
	}
	T_EXPECT_STR(s, want);
}

static void test_tail(void)
{
	eleven();
	expect_range(rd_tail(0), 1, 0);
	T_EXPECT_INT(got.rc, 0);
	expect_range(rd_tail(1), 11, 11);
	expect_range(rd_tail(3), 9, 11);
	expect_range(rd_tail(4), 8, 11);
	expect_range(rd_tail(5), 7, 11);
	expect_range(rd_tail(9), 3, 11);
	expect_range(rd_tail(11), 1, 11);
	expect_range(rd_tail(1000), 1, 11);
	expect_range(rd_tail(-1), 1, 11);
	/* A record still being written at the end is not a line yet. */
	char *cur = slurp(0);
	size_t n = strlen(cur);
	cur = realloc(cur, n + 64);
	strcpy(cur + n, "2026-11-23T15:04:05.000000000Z stdout F half");
	put(0, cur);
	free(cur);
	expect_range(rd_tail(1), 11, 11);
	expect_range(rd_tail(2), 10, 11);
	expect_range(rd_tail(-1), 1, 11);
	/* An empty current file (just rotated). */
	put(0, "");
	expect_range(rd_tail(2), 7, 8);
	expect_range(rd_tail(0), 1, 0);
	/* Only rotated files (the current one is being renamed). */
	unlink(lp);
	expect_range(rd_tail(5), 4, 8);
}

static void interleaved(void)
{
	fresh();
	file[0] = '\0';
	add(1, "stdout", 'P', "a1");
	add(2, "stderr", 'F', "e1");
	add(3, "stdout", 'F', "a2");
	add(4, "stderr", 'P', "e2");
	add(5, "stdout", 'F', "b");
	add(6, "stderr", 'F', "e3");
	put(0, file);
}

static const char *rd_ts(long tail, int streams)
{
	return rd((struct rt_log_read_opts){ .tail = tail, .streams = streams });
}

static void test_tail_interleaved(void)
{
	interleaved();
	T_EXPECT_STR(rd_tail(-1), "e|e1\no|a1a2\no|b\ne|e2e3\n");
	T_EXPECT_STR(rd_tail(1), "e|e2e3\n");
	T_EXPECT_STR(rd_tail(2), "o|b\ne|e2e3\n");
	T_EXPECT_STR(rd_tail(3), "o|a1a2\no|b\ne|e2e3\n");
	T_EXPECT_STR(rd_tail(4), "e|e1\no|a1a2\no|b\ne|e2e3\n");
	T_EXPECT_STR(rd_tail(5), "e|e1\no|a1a2\no|b\ne|e2e3\n");
	T_EXPECT_STR(rd_ts(1, RT_LOG_STDOUT), "o|b\n");
	T_EXPECT_STR(rd_ts(2, RT_LOG_STDOUT), "o|a1a2\no|b\n");
	T_EXPECT_STR(rd_ts(1, RT_LOG_STDERR), "e|e2e3\n");
	T_EXPECT_STR(rd_ts(-1, RT_LOG_STDERR), "e|e1\ne|e2e3\n");
	T_EXPECT_STR(rd_ts(-1, RT_LOG_STDOUT), "o|a1a2\no|b\n");
	T_EXPECT_STR(rd_ts(0, RT_LOG_STDOUT), "");
	/* Unfinished lines at the end count where they end. */
	add(7, "stdout", 'P', "c1");
	add(8, "stderr", 'P', "f1");
	add(9, "stdout", 'P', "c2");
	put(0, file);
	T_EXPECT_STR(rd_tail(-1), "e|e1\no|a1a2\no|b\ne|e2e3\ne|f1\no|c1c2\n");
	T_EXPECT_STR(rd_tail(1), "o|c1c2\n");
	T_EXPECT_STR(rd_tail(2), "e|f1\no|c1c2\n");
	T_EXPECT_STR(rd_tail(3), "e|e2e3\ne|f1\no|c1c2\n");
	T_EXPECT_STR(rd_ts(1, RT_LOG_STDERR), "e|f1\n");
	/* A line joined across a rotation. */
	fresh();
	file[0] = '\0';
	add(1, "stdout", 'F', "one");
	add(2, "stdout", 'P', "tw");
	put(1, file);
	file[0] = '\0';
	add(3, "stdout", 'F', "o");
	add(4, "stdout", 'F', "three");
	put(0, file);
	T_EXPECT_STR(rd_tail(-1), "o|one\no|two\no|three\n");
	T_EXPECT_STR(rd_tail(2), "o|two\no|three\n");
	T_EXPECT_STR(rd_tail(1), "o|three\n");
}

static void test_since_until_and_timestamps(void)
{
	fresh();
	file[0] = '\0';
	char t[8];
	for (int i = 1; i <= 10; i++) {
		snprintf(t, sizeof(t), "L%d", i);
		add(i, "stdout", 'F', t);
	}
	add(11, "stderr", 'P', "x1"); /* a line is as old as its first record */
	add(20, "stderr", 'F', "x2");
	put(0, file);
	struct rt_log_read_opts o = { .tail = -1, .since = at(3), .until = at(7) };
	T_EXPECT_STR(rd(o), "o|L3\no|L4\no|L5\no|L6\no|L7\n");
	o.since.tv_nsec = 1;
	o.until.tv_nsec = 999999999;
	T_EXPECT_STR(rd(o), "o|L4\no|L5\no|L6\no|L7\n");
	o = (struct rt_log_read_opts){ .tail = -1, .since = at(9) };
	T_EXPECT_STR(rd(o), "o|L9\no|L10\ne|x1x2\n");
	o = (struct rt_log_read_opts){ .tail = -1, .since = at(12) };
	T_EXPECT_STR(rd(o), "");
	o = (struct rt_log_read_opts){ .tail = -1, .until = at(2) };
	T_EXPECT_STR(rd(o), "o|L1\no|L2\n");
	o = (struct rt_log_read_opts){ .tail = -1, .until = at(11) };
	rd(o);
	T_EXPECT_INT(got.n, 11);
	/* tail first, then since. */
	o = (struct rt_log_read_opts){ .tail = 5, .since = at(8) };
	T_EXPECT_STR(rd(o), "o|L8\no|L9\no|L10\ne|x1x2\n");
	o = (struct rt_log_read_opts){ .tail = 3, .since = at(2), .until = at(9) };
	T_EXPECT_STR(rd(o), "o|L9\n");

	/* -t: the stamp as written, of the line's first record. */
	file[0] = '\0';
	add(1, "stdout", 'F', "plain");
	add(2, "stderr", 'P', "jo");
	add(3, "stderr", 'F', "ined");
	strcat(file, "2026-11-23T16:04:05.5+01:00 stdout F offset\n");
	put(0, file);
	o = (struct rt_log_read_opts){ .tail = -1, .timestamps = true };
	T_EXPECT_STR(rd(o), "o|2026-11-23T15:04:01.000000000Z plain\n"
			    "e|2026-11-23T15:04:02.000000000Z joined\n"
			    "o|2026-11-23T16:04:05.5+01:00 offset\n");
	o = (struct rt_log_read_opts){ .tail = 1, .timestamps = true, .since = at(5) };
	T_EXPECT_STR(rd(o), "o|2026-11-23T16:04:05.5+01:00 offset\n");
	o.since = at(6);
	T_EXPECT_STR(rd(o), "");
}

static void test_streams(void)
{
	fresh();
	file[0] = '\0';
	add(1, "stdout", 'F', "o1");
	add(2, "stderr", 'F', "e1");
	add(3, "stdout", 'F', "o2");
	add(4, "stderr", 'F', "e2");
	put(0, file);
	T_EXPECT_STR(rd_ts(-1, RT_LOG_STDOUT), "o|o1\no|o2\n");
	T_EXPECT_STR(rd_ts(-1, RT_LOG_STDERR), "e|e1\ne|e2\n");
	T_EXPECT_STR(rd_ts(-1, RT_LOG_STDOUT | RT_LOG_STDERR), "o|o1\ne|e1\no|o2\ne|e2\n");
	T_EXPECT_STR(rd_ts(-1, 0), "o|o1\ne|e1\no|o2\ne|e2\n");
	T_EXPECT_STR(rd_ts(1, RT_LOG_STDOUT), "o|o2\n");
	T_EXPECT_STR(rd_ts(3, 0), "e|e1\no|o2\ne|e2\n");
}

static void test_malformed(void)
{
	fresh();
	static char big[200000];
	file[0] = '\0';
	add(1, "stdout", 'F', "old1");
	strcat(file, "2026-11-23T15:04:02.000000000Z stdout F old-fragment"); /* no newline */
	put(2, file);
	file[0] = '\0';
	add(3, "stdout", 'F', "L1");
	strcat(file, "garbage\n\n\x01\xff\xfe binary\n");
	add(4, "stdin", 'F', "bad stream");
	add(5, "stdout", 'X', "bad tag");
	strcat(file, "2026-11-23T15:04:06Z stdout F no-fraction-ok\n");
	strcat(file, "2026-02-30T15:04:06Z stdout F bad date\n");
	put(1, file);
	/* A line of 100000 bytes without a record in it, and a record too long
	 * to be one of ours. */
	file[0] = '\0';
	add(7, "stdout", 'F', "L2");
	size_t n = strlen(file);
	memset(big, 'x', 100000);
	memcpy(big + 100000, "\n", 2);
	strcpy(big + 100001, file);
	n = strlen(big);
	n += (size_t)snprintf(big + n, sizeof(big) - n,
			      "2026-11-23T15:04:08.000000000Z stdout F %070000d\n", 0);
	strcpy(big + n, "2026-11-23T15:04:09.000000000Z stderr F L3\n");
	put(0, big);
	T_EXPECT_STR(rd_tail(-1), "o|old1\no|old-fragment\no|L1\no|no-fraction-ok\no|L2\ne|L3\n");
	T_EXPECT_INT(got.rc, 0);
	T_EXPECT_STR(rd_tail(1), "e|L3\n");
	T_EXPECT_STR(rd_tail(2), "o|L2\ne|L3\n");
	T_EXPECT_STR(rd_tail(3), "o|no-fraction-ok\no|L2\ne|L3\n");
	T_EXPECT_STR(rd_tail(5), "o|old-fragment\no|L1\no|no-fraction-ok\no|L2\ne|L3\n");
	T_EXPECT_STR(rd_ts(1, RT_LOG_STDOUT), "o|L2\n");
	/* A long run with no newline at all, then a record. */
	memset(big, 'y', 150000);
	strcpy(big + 150000, "\n2026-11-23T15:04:09.000000000Z stderr F end\n");
	put(0, big);
	T_EXPECT_STR(rd_tail(1), "e|end\n");
	memset(big, 'y', 150000);
	strcpy(big + 150000, "2026-11-23T15:04:09.000000000Z stderr F glued\n");
	put(0, big);
	T_EXPECT_STR(rd_tail(1), "o|no-fraction-ok\n");
	/* What follows the first 64 KiB of an overlong line is not a record
	 * even when it looks like one. */
	memset(big, 'z', 65536);
	strcpy(big + 65536, "2026-11-23T15:04:09.000000000Z stderr F glued\n"
			    "2026-11-23T15:04:10.000000000Z stderr F after\n");
	put(0, big);
	T_EXPECT_STR(rd_tail(-1), "o|old1\no|old-fragment\no|L1\no|no-fraction-ok\ne|after\n");
	T_EXPECT_STR(rd_tail(2), "o|no-fraction-ok\ne|after\n");
}

/* --- follow --- */

/* The follow test: a forked writer and this process reading, in lockstep
 * where it matters so that every path is taken whatever the scheduling:
 * - lines are acked (fw_ack) and the writer keeps at most a few unacked, so
 *   the reader is never so far behind that files it has not opened yet are
 *   rotated away;
 * - after line FW_HOLD2 (FW_HOLD3) the reader stops inside out() until the
 *   writer has rotated twice (three times) with one long line (fw_hold): the
 *   reader then finds its file at .2 (gone) and must go on from .1 (.2);
 * - the last lines are written only once done() was asked (fw_go) and are
 *   read by the final round after it returned true. */
#define FW_LINES 600
#define FW_LAST 10 /* written unthrottled after done() was asked */
#define FW_HOLD2 200
#define FW_HOLD3 400

static pid_t fw_pid;
static bool fw_exited;
static int fw_status;
static int fw_ack[2], fw_hold[2], fw_go[2];

struct fw_check {
	int next, bad;
	bool truncating, went;
};

static bool fw_done(void *arg)
{
	struct fw_check *c = arg;
	if (!c->truncating && !c->went && c->next == FW_LINES - FW_LAST) {
		char g = 1;
		c->went = write(fw_go[1], &g, 1) == 1;
		if (!fw_exited && waitpid(fw_pid, &fw_status, 0) == fw_pid)
			fw_exited = true;
	}
	if (!fw_exited && waitpid(fw_pid, &fw_status, WNOHANG) == fw_pid)
		fw_exited = true;
	return fw_exited;
}

/* Line i of the follow test: some on stderr, some longer than a record; the
 * ones after the holds rotate 2 and 3 times (records above max_size). */
static size_t fw_line(int i, char *buf, int *stream)
{
	*stream = i % 7 == 3 ? RT_LOG_STDERR : RT_LOG_STDOUT;
	size_t n = 0;
	if (i % 97 == 50)
		n = 20000 + (size_t)(i % 5) * 1000;
	if (i == FW_HOLD2 + 1)
		n = RT_LOG_LINE_MAX + 100; /* P, F */
	if (i == FW_HOLD3 + 1)
		n = 2 * RT_LOG_LINE_MAX + 100; /* P, P, F */
	if (!n)
		return (size_t)sprintf(buf, "line %d of the follow test", i);
	pattern(buf, n, i);
	return n;
}

static void fw_wait_acks(int *acked, int upto)
{
	char c;
	while (*acked < upto && read(fw_ack[0], &c, 1) == 1)
		(*acked)++;
}

static void fw_writer(void)
{
	static char buf[40000];
	struct berr e = { 0 };
	int acked = 0, fails = 0;
	char c = 1;
	alarm(60);
	close(fw_ack[1]);
	close(fw_hold[0]);
	close(fw_go[1]);
	if (rt_log_open(&wl, lp, 8192, 3, &e) < 0)
		_exit(3);
	for (int i = 0; i < FW_LINES; i++) {
		int s;
		size_t n = fw_line(i, buf, &s);
		bool big = n > 1000;
		if (i == FW_LINES - FW_LAST) {
			fw_wait_acks(&acked, i);
			fails += read(fw_go[0], &c, 1) != 1;
		}
		if (i < FW_LINES - FW_LAST)
			fw_wait_acks(&acked, big ? i : i - 8);
		buf[n] = '\n';
		size_t half = n / 2;
		fails += rt_log_write(&wl, s, buf, half, &e) < 0;
		fails += rt_log_write(&wl, s, buf + half, n + 1 - half, &e) < 0;
		if (i == FW_HOLD2 + 1 || i == FW_HOLD3 + 1)
			fails += write(fw_hold[1], &c, 1) != 1;
		if (big && i < FW_LINES - FW_LAST)
			fw_wait_acks(&acked, i + 1);
	}
	fails += rt_log_write(&wl, RT_LOG_STDOUT, "no newline at exit", 18, &e) < 0;
	fails += rt_log_flush(&wl, &e) < 0;
	rt_log_close(&wl);
	_exit(fails ? 4 : 0);
}

static int fw_out(void *arg, enum rt_log_stream s, const char *b, size_t len)
{
	struct fw_check *c = arg;
	static char want[40000];
	int ws;
	size_t n;
	if (c->truncating) {
		ws = RT_LOG_STDOUT;
		n = (size_t)sprintf(want, "t%03d", c->next);
	} else if (c->next < FW_LINES) {
		n = fw_line(c->next, want, &ws);
	} else {
		ws = RT_LOG_STDOUT;
		n = (size_t)sprintf(want, "no newline at exit");
	}
	if ((int)s != ws || len != n || memcmp(b, want, n)) {
		if (c->bad++ < 3)
			printf("#   line %d: got %.*s (stream %d)\n", c->next,
			       (int)(len > 60 ? 60 : len), b, (int)s);
	}
	char a = 1;
	if (write(fw_ack[1], &a, 1) != 1)
		c->bad++;
	if (!c->truncating && (c->next == FW_HOLD2 || c->next == FW_HOLD3) &&
	    read(fw_hold[0], &a, 1) != 1)
		c->bad++;
	c->next++;
	return 0;
}

static void fw_start(void)
{
	fw_exited = false;
	if (pipe(fw_ack) < 0 || pipe(fw_hold) < 0 || pipe(fw_go) < 0)
		exit(2);
	/* The log exists before the reader starts. */
	struct berr e = { 0 };
	if (rt_log_open(&wl, lp, 0, 1, &e) < 0)
		exit(2);
	rt_log_close(&wl);
	fflush(stdout);
}

static void fw_forked(void)
{
	close(fw_hold[1]); /* a dead writer shows as EOF, not a hang */
	close(fw_go[0]);
}

static void fw_finish(void)
{
	if (!fw_exited)
		waitpid(fw_pid, &fw_status, 0);
	int fds[] = { fw_ack[0], fw_ack[1], fw_hold[0], fw_go[1] };
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	T_EXPECT(WIFEXITED(fw_status) && WEXITSTATUS(fw_status) == 0);
}

static void test_follow_rotation(void)
{
	fresh();
	fw_start();
	fw_pid = fork();
	if (fw_pid == 0)
		fw_writer();
	fw_forked();
	struct fw_check c = { 0 };
	struct berr e = { 0 };
	struct rt_log_read_opts o = { .tail = -1, .follow = true, .done = fw_done, .done_arg = &c };
	T_EXPECT_INT(rt_log_read(lp, &o, fw_out, &c, &e), 0);
	fw_finish();
	T_EXPECT_INT(c.next, FW_LINES + 1);
	T_EXPECT_INT(c.bad, 0);
	T_EXPECT(c.went);
	T_EXPECT(fsize(1) > 0 && fsize(2) > 0 && fsize(3) == -1); /* it did rotate */
	/* Done already: what is there is delivered, then it returns. */
	o.tail = 2;
	rd(o);
	T_EXPECT_INT(got.rc, 0);
	T_EXPECT_INT(got.n, 2);
}

/* The truncating writer: max_file 1, each line waits for the one before. */
static void ft_writer(void)
{
	struct berr e = { 0 };
	char b[16];
	int acked = 0, fails = 0;
	alarm(60);
	close(fw_ack[1]);
	if (rt_log_open(&wl, lp, 300, 1, &e) < 0)
		_exit(3);
	for (int i = 0; i < 60; i++) {
		fw_wait_acks(&acked, i);
		int n = sprintf(b, "t%03d\n", i);
		fails += rt_log_write(&wl, RT_LOG_STDOUT, b, (size_t)n, &e) < 0;
	}
	rt_log_close(&wl);
	_exit(fails ? 4 : 0);
}

static void test_follow_truncation(void)
{
	fresh();
	fw_start();
	fw_pid = fork();
	if (fw_pid == 0)
		ft_writer();
	fw_forked();
	struct fw_check c = { .truncating = true };
	struct berr e = { 0 };
	struct rt_log_read_opts o = { .tail = -1, .follow = true, .done = fw_done, .done_arg = &c };
	T_EXPECT_INT(rt_log_read(lp, &o, fw_out, &c, &e), 0);
	fw_finish();
	T_EXPECT_INT(c.next, 60);
	T_EXPECT_INT(c.bad, 0);
	T_EXPECT(fsize(0) < 300 && fsize(1) == -1);
}

static bool never(void *arg)
{
	return false;
}

static int stop_out(void *arg, enum rt_log_stream s, const char *b, size_t len)
{
	int *calls = arg;
	return ++*calls == 2 ? *(calls + 1) : 0;
}

static void test_follow_stops_on_out(void)
{
	eleven();
	struct berr e = { 0 };
	struct rt_log_read_opts o = { .tail = 3, .follow = true, .done = never };
	int st[2] = { 0, -EPIPE };
	T_EXPECT_INT(rt_log_read(lp, &o, stop_out, st, &e), -EPIPE);
	T_EXPECT_INT(st[0], 2);
	st[0] = 0;
	st[1] = 7;
	o.follow = false;
	T_EXPECT_INT(rt_log_read(lp, &o, stop_out, st, &e), 7);
}

/* Disk full, simulated with RLIMIT_FSIZE (writes past it fail with EFBIG,
 * the same path as ENOSPC): the error is returned, no half record stays in
 * the file, and writing works again once there is room. */
static void test_disk_full(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_FSIZE, &rl) < 0 ||
	    (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 4096)) {
		t_skip("RLIMIT_FSIZE cannot be raised back");
		return;
	}
	fresh();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct berr e = { 0 };
		signal(SIGXFSZ, SIG_IGN);
		rl.rlim_cur = 300; /* records of 48 bytes: 6 fit, the 7th is cut */
		setrlimit(RLIMIT_FSIZE, &rl);
		T_EXPECT_INT(rt_log_open(&wl, lp, 0, 1, &e), 0);
		for (int i = 0; i < 6; i++)
			T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, "abcdefg\n", 8, &e), 0);
		T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDOUT, "seventh\nand8th\n", 15, &e), -EFBIG);
		T_EXPECT(strstr(e.msg, "write log") != NULL);
		T_EXPECT_INT(fsize(0), 288);
		T_EXPECT_INT(wl.size, 288);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_FSIZE, &rl);
		T_EXPECT_INT(rt_log_write(&wl, RT_LOG_STDERR, "room again\n", 11, &e), 0);
		rt_log_close(&wl);
		struct recs rs;
		records(0, &rs);
		T_EXPECT_INT(rs.n, 7);
		T_EXPECT_STR(rs.text[6], "room again");
		fflush(stdout);
		_exit(tap_cur_failed ? 1 : 0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	T_EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	T_RUN(test_parse);
	T_RUN(test_write_format);
	T_RUN(test_write_split);
	T_RUN(test_long_lines);
	T_RUN(test_pieces);
	T_RUN(test_rotation);
	T_RUN(test_open_errors_and_repair);
	T_RUN(test_tail);
	T_RUN(test_tail_interleaved);
	T_RUN(test_since_until_and_timestamps);
	T_RUN(test_streams);
	T_RUN(test_malformed);
	T_RUN(test_follow_rotation);
	T_RUN(test_follow_truncation);
	T_RUN(test_follow_stops_on_out);
	T_RUN(test_disk_full);
	if (dir[0])
		fs_rm_rf(dir, NULL);
	free(got.buf);
	return T_DONE();
}
