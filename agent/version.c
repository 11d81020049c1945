/* berth version and berth info: what this binary is and which device it runs on. */
#include <string.h>
#include <sys/utsname.h>

#include "board/identity.h"
#include "config.h"
#include "agent.h"
#include "agent/settings.h"

const char *agent_arch(void)
{
	return CONFIG_ARCH_AARCH64 ? "aarch64" : CONFIG_ARCH_ARMV7 ? "armv7" : "x86_64";
}

void agent_print_features(FILE *f)
{
	static const struct {
		const char *name;
		int on;
	} feats[] = {
		{ "daemon", CONFIG_DAEMON },
		{ "heartbeat", CONFIG_HEARTBEAT },
		{ "tls", CONFIG_TLS },
		{ "network", CONFIG_NETWORK },
		{ "squashfs", CONFIG_SQUASHFS },
		{ "cgroup-v1", CONFIG_CGROUP_V1 },
		{ "tcp-tls", CONFIG_DAEMON_TLS },
	};
	for (size_t i = 0; i < sizeof(feats) / sizeof(feats[0]); i++)
		fprintf(f, "%s%c%s", i ? " " : "", feats[i].on ? '+' : '-', feats[i].name);
	fputc('\n', f);
}

static int want_help(int argc, char **argv, const char *usage)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 1;
	}
	return 0;
}

int agent_cmd_version(const struct agent_opts *o, int argc, char **argv)
{
	(void)o;
	if (want_help(argc, argv,
		      "Usage: berth version\n\nShow the version, architecture and features.\n"))
		return AGENT_EXIT_OK;
	int r = agent_no_args(argc, argv);
	if (r)
		return r;
	printf("berth version %s\n", BERTH_VERSION);
	printf("arch:     %s\n", agent_arch());
	printf("board:    %s\n", CONFIG_BOARD_NAME);
	printf("features: ");
	agent_print_features(stdout);
	return AGENT_EXIT_OK;
}

int agent_cmd_info(const struct agent_opts *o, int argc, char **argv)
{
	if (want_help(argc, argv,
		      "Usage: berth info\n\nShow board, device identity and data root.\n"))
		return AGENT_EXIT_OK;
	int r = agent_no_args(argc, argv);
	if (r)
		return r;
	struct utsname u;
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	char id[BOARD_ID_MAX + 1];
	enum board_id_source src;
	struct berr err = { 0 };
	printf("Board:      %s\n", CONFIG_BOARD_NAME);
	printf("Arch:       %s (kernel %s %s)\n", agent_arch(), u.release, u.machine);
	struct agent_config cfg;
	if (agent_load_config(o, &cfg))
		return AGENT_EXIT_FAIL;
	printf("Data root:  %s\n", agent_data_root(o, &cfg));
	agent_config_free(&cfg);
	printf("Features:   ");
	agent_print_features(stdout);
	if (board_identity("", CONFIG_IDENTITY_SOURCE, id, &src, &err) < 0)
		return agent_fail("device identity: %s", err.msg);
	printf("Device ID:  %s (from %s)\n", id, board_id_source_name(src));
	return AGENT_EXIT_OK;
}
