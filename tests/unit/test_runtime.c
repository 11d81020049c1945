/* Unit tests for runtime/user.c (--user resolution), runtime/caps.c
 * (capability names and docker's default set) and runtime/state.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board/fs.h"
#include "runtime/container.h"
#include "runtime/state.h"
#include "runtime/user.h"
#include "tap.h"

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
			     "daemon:x:1:1::/usr/sbin:/bin/false\n"
			     "app:x:1000:1000:App:/home/app:/bin/sh\n"
			     "broken line without fields\n"
			     "nobody:x:65534:65534::/nonexistent:/bin/false";
static const char group[] = "root:x:0:\n"
			    "audio:x:29:app,other\n"
			    "video:x:44:other,app\n"
			    "app:x:1000:\n"
			    "staff:x:50:appx\n";

static void test_user_by_name_sets_home_and_groups(void)
{
	struct rt_user u;
	struct berr e = { 0 };
	T_EXPECT_INT(rt_user_resolve("app", passwd, group, &u, &e), 0);
	T_EXPECT_INT(u.uid, 1000);
	T_EXPECT_INT(u.gid, 1000);
	T_EXPECT_STR(u.home, "/home/app");
	T_EXPECT_INT(u.ngroups, 2);
	T_EXPECT_INT(u.groups[0], 29);
	T_EXPECT_INT(u.groups[1], 44);
}

static void test_user_numeric_forms(void)
{
	struct rt_user u;
	struct berr e = { 0 };
	T_EXPECT_INT(rt_user_resolve("1000", passwd, group, &u, &e), 0);
	T_EXPECT_INT(u.uid, 1000);
	T_EXPECT_INT(u.gid, 1000);
	/* a uid not in passwd is used as is, with gid 0, as docker does */
	T_EXPECT_INT(rt_user_resolve("4242", passwd, group, &u, &e), 0);
	T_EXPECT_INT(u.uid, 4242);
	T_EXPECT_INT(u.gid, 0);
	T_EXPECT_STR(u.home, "/");
	T_EXPECT_INT(rt_user_resolve("4242:77", NULL, NULL, &u, &e), 0);
	T_EXPECT_INT(u.gid, 77);
	T_EXPECT_INT(rt_user_resolve("app:video", passwd, group, &u, &e), 0);
	T_EXPECT_INT(u.uid, 1000);
	T_EXPECT_INT(u.gid, 44);
	/* an explicit group replaces the supplementary ones */
	T_EXPECT_INT(u.ngroups, 0);
	T_EXPECT_INT(rt_user_resolve("", passwd, group, &u, &e), 0);
	T_EXPECT_INT(u.uid, 0);
	T_EXPECT_STR(u.home, "/root");
}

static void test_user_errors(void)
{
	struct rt_user u;
	struct berr e = { 0 };
	T_EXPECT_INT(rt_user_resolve("ghost", passwd, group, &u, &e), -ENOENT);
	T_EXPECT_STR(e.msg, "unable to find user ghost: no matching entries in passwd file");
	T_EXPECT_INT(rt_user_resolve("app:ghosts", passwd, group, &u, &e), -ENOENT);
	T_EXPECT_STR(e.msg, "unable to find group ghosts: no matching entries in group file");
	T_EXPECT_INT(rt_user_resolve("ghost", NULL, NULL, &u, &e), -ENOENT);
	T_EXPECT_INT(rt_user_resolve(":1", passwd, group, &u, &e), -EINVAL);
	T_EXPECT_INT(rt_user_resolve("app:", passwd, group, &u, &e), -EINVAL);
	/* a prefix of a name is not the name; "appx" is not "app" */
	T_EXPECT_INT(rt_user_resolve("ap", passwd, group, &u, &e), -ENOENT);
	T_EXPECT_INT(rt_user_resolve("app", passwd, group, &u, &e), 0);
	for (int i = 0; i < u.ngroups; i++)
		T_EXPECT(u.groups[i] != 50);
	/* 2^32 - 1 is not a valid id */
	T_EXPECT_INT(rt_user_resolve("4294967295", NULL, NULL, &u, &e), -ENOENT);
}

static void test_caps_default_is_dockers(void)
{
	T_EXPECT_INT(rt_caps_default(), 0xa80425fbULL);
}

static void test_caps_parse_names(void)
{
	struct berr e = { 0 };
	T_EXPECT_INT(rt_caps_parse("NET_ADMIN", &e), 1ULL << 12);
	T_EXPECT_INT(rt_caps_parse("CAP_NET_ADMIN", &e), 1ULL << 12);
	T_EXPECT_INT(rt_caps_parse("sys_admin", &e), 1ULL << 21);
	T_EXPECT(rt_caps_parse("ALL", &e) == ~0ULL);
	T_EXPECT_INT(rt_caps_parse("NET_WIZARD", &e), 0);
	T_EXPECT_STR(e.msg, "unknown capability 'NET_WIZARD'");
	T_EXPECT_INT(rt_caps_parse("", &e), 0);
	char out[512];
	rt_caps_format((1ULL << 0) | (1ULL << 12), out, sizeof(out));
	T_EXPECT_STR(out, "CAP_CHOWN,CAP_NET_ADMIN");
}

static void test_state_round_trip(void)
{
	char dir[] = "/tmp/berth-test-state-XXXXXX";
	T_EXPECT(mkdtemp(dir) != NULL);
	struct berr e = { 0 };
	struct rt_state st = { .status = RT_EXITED,
			       .pid = 123,
			       .monitor = 45,
			       .monitor_start = 678,
			       .started = 1700000000123456789LL,
			       .finished = 1700000001000000000LL,
			       .exit_code = 137,
			       .oom_killed = true,
			       .restarts = 2 };
	strcpy(st.error, "line one\nline two");
	T_EXPECT_INT(rt_state_write(dir, &st, true, &e), 0);
	struct rt_state r;
	T_EXPECT_INT(rt_state_read(dir, &r, &e), 0);
	T_EXPECT_INT(r.status, RT_EXITED);
	T_EXPECT_INT(r.pid, 123);
	T_EXPECT_INT(r.monitor_start, 678);
	T_EXPECT_INT(r.started, 1700000000123456789LL);
	T_EXPECT_INT(r.exit_code, 137);
	T_EXPECT(r.oom_killed);
	T_EXPECT_INT(r.restarts, 2);
	/* a message cannot break the line format */
	T_EXPECT_STR(r.error, "line one line two");
	/* a monitor that is not running is not alive */
	T_EXPECT(!rt_state_monitor_alive(&r));
	r.monitor = getpid();
	r.monitor_start = rt_proc_start(getpid());
	T_EXPECT(r.monitor_start != 0);
	T_EXPECT(rt_state_monitor_alive(&r));
	r.monitor_start++;
	T_EXPECT(!rt_state_monitor_alive(&r));
	char p[300];
	snprintf(p, sizeof(p), "%s/state", dir);
	unlink(p);
	T_EXPECT_INT(rt_state_read(dir, &r, &e), 0);
	T_EXPECT_INT(r.status, RT_CREATED);
	rmdir(dir);
}

int main(void)
{
	T_RUN(test_user_by_name_sets_home_and_groups);
	T_RUN(test_user_numeric_forms);
	T_RUN(test_user_errors);
	T_RUN(test_caps_default_is_dockers);
	T_RUN(test_caps_parse_names);
	T_RUN(test_state_round_trip);
	return T_DONE();
}
