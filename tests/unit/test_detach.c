/* Unit tests for agent_detach_keys (agent/container.c): docker's ctrl-p
 * ctrl-q in a terminal's input, found across reads, other bytes kept. */
#include <string.h>

#include "agent/container.h"
#include "tap.h"

static struct agent_detach d;
static unsigned char out[64];
static size_t olen;

static bool feed(const char *in)
{
	return agent_detach_keys(&d, (const unsigned char *)in, strlen(in), out, &olen);
}

static void test_plain_bytes_pass(void)
{
	d = (struct agent_detach){ 0 };
	T_EXPECT(!feed("ls -l\r"));
	T_EXPECT_INT(olen, 6);
	T_EXPECT(!memcmp(out, "ls -l\r", 6));
}

static void test_the_sequence_detaches_and_drops_the_rest(void)
{
	d = (struct agent_detach){ 0 };
	T_EXPECT(feed("ab\x10\x11zz"));
	T_EXPECT_INT(olen, 2);
	T_EXPECT(!memcmp(out, "ab", 2));
}

static void test_ctrl_p_alone_is_passed_on_with_the_next_byte(void)
{
	d = (struct agent_detach){ 0 };
	T_EXPECT(!feed("\x10x"));
	T_EXPECT_INT(olen, 2);
	T_EXPECT(!memcmp(out, "\x10x", 2));
	T_EXPECT(!feed("\x10"));
	T_EXPECT_INT(olen, 0); /* held: the next read says what it was */
	T_EXPECT(!feed("\x10"));
	T_EXPECT_INT(olen, 1); /* the first one was not the sequence */
	T_EXPECT_INT(out[0], 0x10);
}

static void test_the_sequence_across_two_reads(void)
{
	d = (struct agent_detach){ 0 };
	T_EXPECT(!feed("q\x10"));
	T_EXPECT_INT(olen, 1);
	T_EXPECT(feed("\x11"));
	T_EXPECT_INT(olen, 0);
}

int main(void)
{
	T_RUN(test_plain_bytes_pass);
	T_RUN(test_the_sequence_detaches_and_drops_the_rest);
	T_RUN(test_ctrl_p_alone_is_passed_on_with_the_next_byte);
	T_RUN(test_the_sequence_across_two_reads);
	return T_DONE();
}
