/* berth exec: a new process in a running container's namespaces and cgroup,
 * with the container's environment, user and capabilities. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/agent.h"
#include "agent/client.h"
#include "agent/container.h"
#include "agent/flags.h"
#include "agent/settings.h"
#include "config.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"

static volatile sig_atomic_t winch;

static void on_winch(int sig)
{
	winch = 1;
}

/* Copies between our terminal and the pty master until the process closes it. */
static void pty_relay(int master, bool in_on)
{
	struct termios saved;
	bool raw = agent_term_raw(&saved);
	struct sigaction sa = { .sa_handler = on_winch };
	sigaction(SIGWINCH, &sa, NULL);
	winch = 1;
	for (;;) {
		if (winch) {
			struct winsize ws;
			winch = 0;
			if (!ioctl(0, TIOCGWINSZ, &ws))
				ioctl(master, TIOCSWINSZ, &ws);
		}
		struct pollfd p[2] = { { .fd = master, .events = POLLIN },
				       { .fd = in_on ? 0 : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		char buf[8192];
		if (p[1].revents) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n <= 0)
				in_on = false;
			else if (write(master, buf, (size_t)n) < 0)
				break;
		}
		if (p[0].revents) {
			ssize_t n = read(master, buf, sizeof(buf));
			if (n <= 0)
				break;
			if (write(1, buf, (size_t)n) < 0)
				break;
		}
	}
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
}

static void env_put(char **env, int *n, int max, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *own = NULL;
	if (!eq) {
		const char *v = getenv(kv);
		if (!v || asprintf(&own, "%s=%s", kv, v) < 0)
			return;
		kv = own;
		eq = strchr(kv, '=');
	}
	size_t kl = (size_t)(eq - kv) + 1;
	for (int i = 0; i < *n; i++)
		if (!strncmp(env[i], kv, kl)) {
			env[i] = (char *)kv;
			return;
		}
	if (*n < max)
		env[(*n)++] = (char *)kv;
}

int agent_pty(int *master, int *slave, struct berr *err)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	char *name =
		*master >= 0 && !grantpt(*master) && !unlockpt(*master) ? ptsname(*master) : NULL;
	*slave = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
	if (*slave < 0) {
		int e = errno;
		if (*master >= 0)
			close(*master);
		*master = -1;
		return berr_set(err, e, "allocate a pty");
	}
	return 0;
}

int agent_exec_run(struct agent_ctr *c, const struct agent_exec_opts *o, const int stdio[3],
		   pid_t *pid, int *code, struct berr *err)
{
	*code = RT_EXIT_FAIL;
	agent_ctr_refresh(c);
	if (!agent_ctr_running(c) || c->paused)
		return berr_setmsg(err, EINVAL, "container %s is %s", c->name,
				   c->paused ? "paused, unpause it first" : "not running");
	const cJSON *cc = cJSON_GetObjectItem(c->cfg, "Config");
	const cJSON *hc = cJSON_GetObjectItem(c->cfg, "HostConfig");
	char *env[512];
	int ne = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(cc, "Env")) if (cJSON_IsString(it) && ne < 510)
		env[ne++] = it->valuestring;
	if (o->tty)
		env_put(env, &ne, 510, "TERM=xterm");
	for (int i = 0; i < o->nenv; i++)
		env_put(env, &ne, 510, o->env[i]);
	env[ne] = NULL;
	const char *wd = cJSON_GetStringValue(cJSON_GetObjectItem(cc, "WorkingDir"));
	const char *user = cJSON_GetStringValue(cJSON_GetObjectItem(cc, "User"));
	struct rt_exec x = {
		.target = c->st.pid,
		.argv = o->argv,
		.env = env,
		.cwd = o->workdir && *o->workdir ? o->workdir : wd,
		.user = o->user && *o->user ? o->user : user,
		.caps = (uint64_t)strtoull(
			cJSON_GetStringValue(cJSON_GetObjectItem(hc, "CapMask")) ?: "0", NULL, 16),
		.privileged = o->privileged || cJSON_IsTrue(cJSON_GetObjectItem(hc, "Privileged")),
		.unconfined = agent_ctr_unconfined(c->cfg),
		.stdio = { stdio[0], stdio[1], stdio[2] },
		.tty = o->tty,
	};
	struct rt_cg_host h;
	struct rt_cgroup g;
	char cgname[128];
	struct berr e2 = { 0 };
	agent_ctr_cgroup(c, cgname, sizeof(cgname));
	bool have_cg = !rt_cgroup_detect(&h, "/proc/self/mountinfo", &e2);
	if (have_cg)
		rt_cgroup_init(&g, &h, cgname);
	return rt_exec_spawn(&x, have_cg ? &g : NULL, pid, code, err);
}

/* exec through the daemon (-H): create the exec, start it on a hijacked
 * connection, relay, and the exit code its inspect holds. "-e K" takes K's
 * value from our environment, as the docker CLI does. */
static int exec_api(const struct agent_opts *o, const char *ref, char **cmd,
		    const struct agent_exec_opts *eo, bool interactive, bool detach)
{
	cJSON *b = cJSON_CreateObject();
	cJSON_AddBoolToObject(b, "AttachStdin", interactive && !detach);
	cJSON_AddBoolToObject(b, "AttachStdout", !detach);
	cJSON_AddBoolToObject(b, "AttachStderr", !detach);
	cJSON_AddBoolToObject(b, "Tty", eo->tty);
	cJSON_AddBoolToObject(b, "Privileged", eo->privileged);
	if (eo->user)
		cJSON_AddStringToObject(b, "User", eo->user);
	if (eo->workdir)
		cJSON_AddStringToObject(b, "WorkingDir", eo->workdir);
	cJSON *env = cJSON_AddArrayToObject(b, "Env");
	for (int i = 0; i < eo->nenv; i++) {
		const char *v = strchr(eo->env[i], '=') ? NULL : getenv(eo->env[i]);
		char *kv = NULL;
		if (!v)
			cJSON_AddItemToArray(env, cJSON_CreateString(eo->env[i]));
		else if (asprintf(&kv, "%s=%s", eo->env[i], v) >= 0)
			cJSON_AddItemToArray(env, cJSON_CreateString(kv));
		free(kv);
	}
	cJSON *c = cJSON_AddArrayToObject(b, "Cmd");
	for (int i = 0; cmd[i]; i++)
		cJSON_AddItemToArray(c, cJSON_CreateString(cmd[i]));
	char *body = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	char enc[1024], path[1200], target[120];
	snprintf(path, sizeof(path), "/containers/%s/exec", agent_api_enc(ref, enc, sizeof(enc)));
	struct berr err = { 0 };
	cJSON *j = NULL;
	int st = body ? agent_api_call(o, "POST", path, body, AGENT_API_TIMEOUT_MS, &j, &err)
		      : berr_setmsg(&err, ENOMEM, "out of memory");
	free(body);
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(j, "Id"));
	if (st != 201 || !id) {
		cJSON_Delete(j);
		/* as the direct path: the command named when the container is the cause */
		if (st == 409)
			return agent_fail("exec %s: %s", cmd[0], err.msg), RT_EXIT_FAIL;
		return agent_fail("exec: %s", err.msg), RT_EXIT_FAIL;
	}
	snprintf(target, sizeof(target), "/exec/%s", id);
	cJSON_Delete(j);
	snprintf(path, sizeof(path), "%s/start", target);
	char sb[64];
	snprintf(sb, sizeof(sb), "{\"Detach\":%s,\"Tty\":%s}", detach ? "true" : "false",
		 eo->tty ? "true" : "false");
	if (detach) {
		st = agent_api_call(o, "POST", path, sb, AGENT_API_TIMEOUT_MS, NULL, &err);
		return st >= 200 && st < 300 ? AGENT_EXIT_OK
					     : (agent_fail("exec: %s", err.msg), RT_EXIT_FAIL);
	}
	struct agent_api_conn *ac = calloc(1, sizeof(*ac));
	st = ac ? agent_api_conn_open(o, "POST", path, sb, true, ac, &err)
		: berr_setmsg(&err, ENOMEM, "out of memory");
	if (st != 101 && st != 200) {
		free(ac);
		return agent_fail("exec: %s", err.msg), RT_EXIT_FAIL;
	}
	struct agent_relay r = { target, interactive, eo->tty, false };
	if (agent_api_relay(o, ac, &r, &err))
		agent_fail("exec: %s", err.msg);
	free(ac);
	/* the exit code: the daemon records it when the command's stream ends */
	int code = RT_EXIT_FAIL;
	snprintf(path, sizeof(path), "%s/json", target);
	for (int i = 0; i < 500; i++) {
		if (agent_api_call(o, "GET", path, NULL, AGENT_API_TIMEOUT_MS, &j, &err) != 200)
			break;
		const cJSON *ec = cJSON_GetObjectItem(j, "ExitCode");
		bool running = cJSON_IsTrue(cJSON_GetObjectItem(j, "Running"));
		if (!running && cJSON_IsNumber(ec))
			code = ec->valueint;
		cJSON_Delete(j);
		if (!running)
			break;
		usleep(10000);
	}
	return code;
}

int agent_cmd_exec(const struct agent_opts *o, int argc, char **argv)
{
	bool interactive = false, tty = false, detach = false, privileged = false;
	const char *user = NULL, *workdir = NULL;
	struct agent_strlist envs = { 0 };
	const struct agent_flag flags[] = {
		{ "interactive", 'i', FLAG_BOOL, &interactive },
		{ "tty", 't', FLAG_BOOL, &tty },
		{ "detach", 'd', FLAG_BOOL, &detach },
		{ "privileged", 0, FLAG_BOOL, &privileged },
		{ "user", 'u', FLAG_STR, &user },
		{ "workdir", 'w', FLAG_STR, &workdir },
		{ "env", 'e', FLAG_LIST, &envs },
	};
	int n = agent_flags_head(
		argc, argv, flags, 7,
		"Usage: berth exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\n"
		"Run a command in a running container.\n\n"
		"Options:\n"
		"  -d, --detach           Run the command in the background\n"
		"  -e, --env list         Set environment variables\n"
		"  -i, --interactive      Keep STDIN open\n"
		"      --privileged       All capabilities for the command\n"
		"  -t, --tty              Allocate a pseudo-TTY\n"
		"  -u, --user string      Username or UID (format: <name|uid>[:<group|gid>])\n"
		"  -w, --workdir string   Working directory inside the container\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : RT_EXIT_FAIL;
	if (n < 2) {
		agent_usage("exec: needs a container and a command");
		return RT_EXIT_FAIL;
	}
	struct agent_exec_opts eo = { .argv = argv + 2,
				      .env = envs.v,
				      .nenv = envs.n,
				      .user = user,
				      .workdir = workdir,
				      .privileged = privileged,
				      .tty = tty };
	if (CONFIG_DAEMON && o->host)
		return exec_api(o, argv[1], argv + 2, &eo, interactive, detach);
	struct agent_config cfg;
	if (agent_load_config(o, &cfg))
		return RT_EXIT_FAIL;
	struct agent_ctr c;
	struct berr err = { 0 };
	int rc = agent_ctr_find(agent_data_root(o, &cfg), argv[1], &c, &err);
	agent_config_free(&cfg);
	if (rc) {
		agent_fail("exec: %s", err.msg);
		return RT_EXIT_FAIL;
	}
	int master = -1, slave = -1, nul = -1;
	int stdio[3] = { 0, 1, 2 };
	if (tty) {
		if (agent_pty(&master, &slave, &err)) {
			agent_fail("exec: %s", err.msg);
			agent_ctr_free(&c);
			return RT_EXIT_FAIL;
		}
		stdio[0] = stdio[1] = stdio[2] = slave;
	}
	if (detach || (!interactive && !tty)) {
		nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		stdio[0] = nul;
		if (detach)
			stdio[1] = stdio[2] = nul;
	}
	pid_t pid;
	int code;
	fflush(stdout);
	rc = agent_exec_run(&c, &eo, stdio, &pid, &code, &err);
	if (slave >= 0)
		close(slave);
	if (nul >= 0)
		close(nul);
	agent_ctr_free(&c);
	if (rc) {
		agent_fail("exec %s: %s", argv[2], err.msg);
		return code;
	}
	if (detach)
		return AGENT_EXIT_OK;
	if (tty)
		pty_relay(master, interactive);
	else {
		/* signals for the command go to it through its reaper */
		static const int fwd[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
		for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
			signal(fwd[i], SIG_IGN);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (master >= 0)
		close(master);
	return rt_exit_code(st);
}
