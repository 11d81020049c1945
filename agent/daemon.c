/* berth daemon / berthd entry point. The daemon itself is issue #5. */
#include "agent.h"

int agent_cmd_daemon(const struct agent_opts *o, int argc, char **argv)
{
	(void)o;
	(void)argc;
	(void)argv;
	return agent_fail("daemon: not implemented in this version yet");
}
