/* Unit tests for board/err.c: error codes, messages and prefixes. */
#include <errno.h>

#include "board/err.h"
#include "tap.h"

static void test_set_returns_negative_code(void)
{
	struct berr e = { 0 };
	T_EXPECT_INT(berr_set(&e, ENOENT, "open %s", "/x"), -ENOENT);
	T_EXPECT_INT(e.code, ENOENT);
	T_EXPECT_STR(e.msg, "open /x: No such file or directory");
}

static void test_setmsg_has_no_errno_text(void)
{
	struct berr e = { 0 };
	T_EXPECT_INT(berr_setmsg(&e, EINVAL, "bad digest %d", 7), -EINVAL);
	T_EXPECT_STR(e.msg, "bad digest 7");
}

static void test_prefix_builds_a_path_to_the_cause(void)
{
	struct berr e = { 0 };
	berr_setmsg(&e, ECONNRESET, "connection reset");
	T_EXPECT_INT(berr_prefix(&e, "fetch blob %s", "sha256:ab12"), -ECONNRESET);
	berr_prefix(&e, "pull %s", "kit/busybox:1");
	T_EXPECT_STR(e.msg, "pull kit/busybox:1: fetch blob sha256:ab12: connection reset");
}

static void test_long_messages_truncate_safely(void)
{
	struct berr e = { 0 };
	char big[1000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	berr_setmsg(&e, EIO, "%s", big);
	T_EXPECT_INT(strlen(e.msg), BERR_MSG_MAX - 1);
	berr_prefix(&e, "%s", big);
	T_EXPECT_INT(strlen(e.msg), BERR_MSG_MAX - 1);
}

static void test_null_err_and_bad_codes(void)
{
	T_EXPECT_INT(berr_set(NULL, EPERM, "x"), -EPERM);
	struct berr e = { 0 };
	/* A negative code (a returned -errno passed on) is normalised. */
	T_EXPECT_INT(berr_setmsg(&e, -EACCES, "x"), -EACCES);
	T_EXPECT_INT(e.code, EACCES);
	T_EXPECT_INT(berr_setmsg(&e, 0, "x"), -EIO);
	berr_clear(&e);
	T_EXPECT_INT(e.code, 0);
	T_EXPECT_STR(e.msg, "");
}

int main(void)
{
	T_RUN(test_set_returns_negative_code);
	T_RUN(test_setmsg_has_no_errno_text);
	T_RUN(test_prefix_builds_a_path_to_the_cause);
	T_RUN(test_long_messages_truncate_safely);
	T_RUN(test_null_err_and_bad_codes);
	return T_DONE();
}
