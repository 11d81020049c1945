/* Minimal test protocol shared by the unit tests: each test prints one line,
 * "ok - name", "not ok - name: why" or "skip - name: why", which
 * scripts/testrun counts. Header-only; include once per test program. */
#ifndef BERTH_TAP_H
#define BERTH_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_failed_total;
static int tap_cur_failed;
static const char *tap_cur_skip;

/* Records a failed expectation in the current test; the test goes on. */
#define T_EXPECT(cond) tap_expect((cond), #cond, __FILE__, __LINE__)
#define T_EXPECT_INT(a, b) tap_expect_int((long long)(a), (long long)(b), #a, __FILE__, __LINE__)
#define T_EXPECT_STR(a, b) tap_expect_str((a), (b), #a, __FILE__, __LINE__)

static inline void tap_expect(int ok, const char *what, const char *file, int line)
{
	if (!ok) {
		fprintf(stdout, "#   %s:%d: expected %s\n", file, line, what);
		tap_cur_failed++;
	}
}

static inline void tap_expect_int(long long a, long long b, const char *what, const char *file,
				  int line)
{
	if (a != b) {
		fprintf(stdout, "#   %s:%d: %s is %lld, expected %lld\n", file, line, what, a, b);
		tap_cur_failed++;
	}
}

static inline void tap_expect_str(const char *a, const char *b, const char *what, const char *file,
				  int line)
{
	if (!a || strcmp(a, b)) {
		fprintf(stdout, "#   %s:%d: %s is \"%s\", expected \"%s\"\n", file, line, what,
			a ? a : "(null)", b);
		tap_cur_failed++;
	}
}

/* Marks the current test skipped; the test function should return after it. */
static inline void t_skip(const char *why)
{
	tap_cur_skip = why;
}

static inline void tap_run(void (*fn)(void), const char *name)
{
	tap_cur_failed = 0;
	tap_cur_skip = NULL;
	fn();
	if (tap_cur_failed) {
		printf("not ok - %s: %d expectation(s) failed\n", name, tap_cur_failed);
		tap_failed_total++;
	} else if (tap_cur_skip) {
		printf("skip - %s: %s\n", name, tap_cur_skip);
	} else {
		printf("ok - %s\n", name);
	}
	fflush(stdout);
}

#define T_RUN(fn) tap_run(fn, #fn)
#define T_DONE() (tap_failed_total ? 1 : 0)

#endif
