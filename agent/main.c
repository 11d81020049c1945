/* berth: entry point, global flags and command dispatch. Started as berthd,
 * the binary runs the daemon. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "agent.h"
#include "agent/client.h"
#include "board/title.h"

struct agent_cmd {
	const char *name;
	agent_cmd_fn *fn;
	const char *summary;
};

static const struct agent_cmd commands[] = {
	{ "attach", agent_cmd_attach, "Attach to a running container" },
	{ "container", agent_cmd_container, "Manage containers" },
	{ "create", agent_cmd_create, "Create a new container" },
	{ "daemon", CONFIG_DAEMON ? agent_cmd_daemon : NULL,
	  "Run the daemon (also started as berthd)" },
	{ "events", agent_cmd_events, "Show events as they happen" },
	{ "exec", agent_cmd_exec, "Run a command in a running container" },
	{ "export", agent_cmd_export, "Write a container's filesystem as a tar archive" },
	{ "image", agent_cmd_image, "Manage images (inspect, ls, prune, pull, rm, tag)" },
	{ "images", agent_cmd_images, "List images" },
	{ "info", agent_cmd_info, "Show board, device identity and data root" },
	{ "inspect", agent_cmd_inspect, "Show containers or images as JSON" },
	{ "kill", agent_cmd_kill, "Kill one or more running containers" },
	{ "login", agent_cmd_login, "Store credentials for a registry" },
	{ "logout", agent_cmd_logout, "Remove stored credentials for a registry" },
	{ "logs", agent_cmd_logs, "Fetch the logs of a container" },
	{ "pause", agent_cmd_pause, "Freeze all processes of containers" },
	{ "port", agent_cmd_port, "List a container's published ports" },
	{ "ps", agent_cmd_ps, "List containers" },
	{ "pull", agent_cmd_pull, "Download an image from a registry" },
	{ "rename", agent_cmd_rename, "Rename a container" },
	{ "restart", agent_cmd_restart, "Restart containers" },
	{ "rm", agent_cmd_rm, "Remove containers" },
	{ "rmi", agent_cmd_rmi, "Remove images" },
	{ "run", agent_cmd_run, "Create and run a new container from an image" },
	{ "search", agent_cmd_search, "List a registry's repositories and tags" },
	{ "start", agent_cmd_start, "Start stopped containers" },
	{ "stats", agent_cmd_stats, "Show containers' resource usage" },
	{ "stop", agent_cmd_stop, "Stop running containers" },
	{ "system", agent_cmd_system, "Store information (df)" },
	{ "tag", agent_cmd_tag, "Give an image another name" },
	{ "top", agent_cmd_top, "Show the processes of a container" },
	{ "unpause", agent_cmd_unpause, "Thaw all processes of containers" },
	{ "version", agent_cmd_version, "Show the version, architecture and features" },
	{ "volume", agent_cmd_volume, "Manage volumes" },
	{ "wait", agent_cmd_wait, "Wait for containers to stop, print exit codes" },
};

static void print_help(FILE *f)
{
	fputs("Usage: berth [OPTIONS] COMMAND [ARG...]\n\n"
	      "A container agent for embedded Linux fleets.\n\n"
	      "Options:\n"
	      "  --config-file F daemon.json to read (default $BERTH_CONFIG/daemon.json,\n"
	      "                  $BERTH_CONFIG defaulting to /etc/berth)\n",
	      f);
	if (CONFIG_DAEMON)
		fputs("  -H, --host unix:///PATH\n"
		      "                  Go through the daemon's API on this socket (also\n"
		      "                  $BERTH_HOST); an error when it does not answer\n",
		      f);
	fputs("  --root DIR      Data root (default " AGENT_DEFAULT_ROOT ")\n"
	      "  -h, --help      Print this help\n"
	      "  -v, --version   Print the version\n\n",
	      f);
	if (CONFIG_DAEMON)
		fputs("ps, images, inspect, start, stop, restart, kill, rm, rmi, tag, pull, rename,\n"
		      "pause, unpause, logs, wait and volume go through the daemon's API when -H\n"
		      "names its socket, else (without --root) when $BERTH_HOST does, else when\n"
		      "none of the three is given and unix://" AGENT_SOCK_DEFAULT "\n"
		      "answers. --root without -H works on the store directly, as do all other\n"
		      "commands.\n\n",
		      f);
	fputs("Commands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].fn)
			fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\nRun 'berth COMMAND --help' for more on a command.\n", f);
}

static const struct agent_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].fn && !strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	board_title_init(argc, argv);
	struct agent_opts o = { .root = AGENT_DEFAULT_ROOT };
	const char *self = argc > 0 ? strrchr(argv[0], '/') : NULL;
	self = self ? self + 1 : (argc > 0 ? argv[0] : "berth");

	if (!strcmp(self, "berthd")) {
		if (!CONFIG_DAEMON)
			return agent_fail(
				"berthd: the daemon is not part of this build (CONFIG_DAEMON)");
		argv[0] = "daemon";
		return agent_cmd_daemon(&o, argc, argv);
	}

	const char *host = NULL;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			print_help(stdout);
			return AGENT_EXIT_OK;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--version")) {
			printf("berth version %s, %s\n", BERTH_VERSION, agent_arch());
			return AGENT_EXIT_OK;
		} else if (!strcmp(a, "--root") && i + 1 < argc) {
			o.root = argv[++i];
			o.root_set = true;
		} else if (!strncmp(a, "--root=", 7)) {
			o.root = a + 7;
			o.root_set = true;
		} else if (!strcmp(a, "--root")) {
			return agent_usage("flag --root needs a directory");
		} else if ((!strcmp(a, "-H") || !strcmp(a, "--host")) && i + 1 < argc) {
			host = argv[++i];
		} else if (!strncmp(a, "--host=", 7)) {
			host = a + 7;
		} else if (!strcmp(a, "-H") || !strcmp(a, "--host")) {
			return agent_usage("flag %s needs unix:///path", a);
		} else if (!strcmp(a, "--config-file") && i + 1 < argc) {
			o.config_file = argv[++i];
		} else if (!strncmp(a, "--config-file=", 14)) {
			o.config_file = a + 14;
		} else if (!strcmp(a, "--config-file")) {
			return agent_usage("flag --config-file needs a file");
		} else {
			return agent_usage("unknown flag '%s' (see 'berth --help')", a);
		}
	}
	if (i == argc) {
		print_help(stderr);
		return AGENT_EXIT_USAGE;
	}
	if (!o.root[0])
		return agent_usage("flag --root needs a directory");
	if (!strcmp(argv[i], "help")) {
		print_help(stdout);
		return AGENT_EXIT_OK;
	}
	const struct agent_cmd *c = find_cmd(argv[i]);
	if (!c)
		return agent_usage("unknown command '%s' (see 'berth --help')", argv[i]);
	if (host && !CONFIG_DAEMON)
		return agent_usage(
			"-H %s: this build has no daemon client (CONFIG_DAEMON): use --root to work on a store",
			host);
	if (CONFIG_DAEMON && strcmp(argv[i], "daemon")) {
		int rc = agent_client_select(&o, host);
		if (rc)
			return rc;
	}
	return c->fn(&o, argc - i, argv + i);
}
