/* Unit tests for agent/flags.c: Docker-style flag parsing. */
#include "agent/agent.h"
#include "agent/flags.h"
#include "tap.h"

static void test_mixed_flags_and_operands(void)
{
	bool q = false, a = false;
	const char *plat = NULL;
	struct agent_strlist f = { 0 };
	const struct agent_flag flags[] = {
		{ "quiet", 'q', FLAG_BOOL, &q },
		{ "all", 'a', FLAG_BOOL, &a },
		{ "platform", 0, FLAG_STR, &plat },
		{ "filter", 'f', FLAG_LIST, &f },
	};
	char *argv[] = { "images", "-aq",           "repo",     "--platform=linux/arm64",
			 "-f",     "dangling=true", "--filter", "reference=x*",
			 "--",     "-notaflag",     NULL };
	int n = agent_flags(10, argv, flags, 4, "usage\n");
	T_EXPECT_INT(n, 2);
	T_EXPECT(q && a);
	T_EXPECT_STR(plat, "linux/arm64");
	T_EXPECT_INT(f.n, 2);
	T_EXPECT_STR(f.v[1], "reference=x*");
	T_EXPECT_STR(argv[1], "repo");
	T_EXPECT_STR(argv[2], "-notaflag");
}

static void test_bad_flags_are_usage_errors(void)
{
	const char *plat = NULL;
	int num = 0;
	const struct agent_flag flags[] = {
		{ "platform", 'p', FLAG_STR, &plat },
		{ "n", 'n', FLAG_INT, &num },
	};
	char *a1[] = { "pull", "--bogus", NULL };
	T_EXPECT_INT(agent_flags(2, a1, flags, 2, ""), -2);
	char *a2[] = { "pull", "--platform", NULL };
	T_EXPECT_INT(agent_flags(2, a2, flags, 2, ""), -2);
	char *a3[] = { "pull", "-n", "12x", NULL };
	T_EXPECT_INT(agent_flags(3, a3, flags, 2, ""), -2);
	char *a4[] = { "pull", "-n7", "-pfoo", NULL };
	T_EXPECT_INT(agent_flags(3, a4, flags, 2, ""), 0);
	T_EXPECT_INT(num, 7);
	T_EXPECT_STR(plat, "foo");
	char *a5[] = { "pull", "--help", NULL };
	T_EXPECT_INT(agent_flags(2, a5, flags, 2, ""), -1);
}

int main(void)
{
	T_RUN(test_mixed_flags_and_operands);
	T_RUN(test_bad_flags_are_usage_errors);
	return T_DONE();
}
