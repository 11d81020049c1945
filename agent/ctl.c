/* Container commands on existing containers: ps, stop, restart, kill, rm,
 * wait, logs, rename, pause, unpause, top, stats, inspect, container prune,
 * and the `container` command group. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/agent.h"
#include "agent/client.h"
#include "agent/container.h"
#include "agent/flags.h"
#include "agent/network.h"
#include "agent/events.h"
#include "agent/settings.h"
#include "board/fs.h"
#include "config.h"
#include "runtime/cgroup.h"
#include "runtime/log.h"
#include "runtime/state.h"

/* The data root for a command; prints the error when the config is bad. */
static int root_of(const struct agent_opts *o, char *root, size_t len)
{
	struct agent_config cfg;
	if (agent_load_config(o, &cfg))
		return -1;
	snprintf(root, len, "%s", agent_data_root(o, &cfg));
	agent_config_free(&cfg);
	return 0;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
	return s ? s : "";
}

/* "3 seconds", "About a minute", "2 hours", as docker's units.HumanDuration. */
static void human_duration(long long secs, char *out, size_t len)
{
	if (secs < 1)
		snprintf(out, len, "Less than a second");
	else if (secs == 1)
		snprintf(out, len, "1 second");
	else if (secs < 60)
		snprintf(out, len, "%lld seconds", secs);
	else if (secs / 60 == 1)
		snprintf(out, len, "About a minute");
	else if (secs < 3600)
		snprintf(out, len, "%lld minutes", secs / 60);
	else if ((secs + 1800) / 3600 == 1)
		snprintf(out, len, "About an hour");
	else if (secs < 48 * 3600)
		snprintf(out, len, "%lld hours", (secs + 1800) / 3600);
	else if (secs < 7 * 2 * 86400)
		snprintf(out, len, "%lld days", secs / 86400);
	else if (secs < 30 * 3 * 86400)
		snprintf(out, len, "%lld weeks", secs / (7 * 86400));
	else if (secs < 365 * 2 * 86400)
		snprintf(out, len, "%lld months", secs / (30 * 86400));
	else
		snprintf(out, len, "%lld years", secs / (365 * 86400));
}

cJSON *agent_ctr_health(const struct agent_ctr *c)
{
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/health", c->dir);
	char *buf = NULL;
	ssize_t n = fs_read_alloc(p, 1 << 20, &buf, NULL);
	cJSON *j = n > 0 ? cJSON_ParseWithLength(buf, (size_t)n) : NULL;
	free(buf);
	return j;
}

void agent_ctr_status_text(const struct agent_ctr *c, char *out, size_t len)
{
	char d[64];
	long long now = rt_now_ns();
	if (c->st.status == RT_RUNNING) {
		human_duration((now - c->st.started) / 1000000000LL, d, sizeof(d));
		cJSON *h = agent_ctr_health(c);
		const char *hs = cJSON_GetStringValue(cJSON_GetObjectItem(h, "Status"));
		char hp[32] = "";
		if (hs)
			snprintf(hp, sizeof(hp), " (%s)",
				 !strcmp(hs, "starting") ? "health: starting" : hs);
		cJSON_Delete(h);
		snprintf(out, len, "Up %s%s%s", d, c->paused ? " (Paused)" : "", hp);
	} else if (c->st.status == RT_EXITED && !c->st.finished) {
		/* its monitor died without recording when */
		snprintf(out, len, "Exited (%d)", c->st.exit_code);
	} else if (c->st.status == RT_EXITED) {
		human_duration((now - c->st.finished) / 1000000000LL, d, sizeof(d));
		snprintf(out, len, "Exited (%d) %s ago", c->st.exit_code, d);
	} else {
		snprintf(out, len, "Created");
	}
}

const char *agent_ctr_state_word(const struct agent_ctr *c)
{
	if (c->st.status == RT_RUNNING)
		return c->paused ? "paused" : "running";
	return rt_status_name(c->st.status);
}

static void fmt_time(long long ns, char *out, size_t len)
{
	if (!ns) {
		snprintf(out, len, "0001-01-01T00:00:00Z");
		return;
	}
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;
	strftime(out, len, "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
	snprintf(out + strlen(out), len - strlen(out), ".%09lldZ", ns % 1000000000LL);
}

/* port's lines from a container's inspect JSON (NetworkSettings.Ports);
 * want (NULL: all) is the one port asked for. Returns how many it printed. */
static int port_print(const cJSON *ctr, const struct agent_port *want)
{
	int shown = 0;
	const cJSON *key, *b;
	cJSON_ArrayForEach(
		key, cJSON_GetObjectItem(cJSON_GetObjectItem(ctr, "NetworkSettings"), "Ports"))
	{
		unsigned port = 0;
		char proto[8] = "";
		if (sscanf(key->string, "%u/%7s", &port, proto) != 2)
			continue;
		if (want && (port != want->ctr_port ||
			     strcmp(proto, want->proto == IPPROTO_UDP ? "udp" : "tcp")))
			continue;
		cJSON_ArrayForEach(b, key)
		{
			if (want)
				printf("%s:%s\n", jstr(b, "HostIp"), jstr(b, "HostPort"));
			else
				printf("%s -> %s:%s\n", key->string, jstr(b, "HostIp"),
				       jstr(b, "HostPort"));
			shown++;
		}
	}
	return shown;
}

int agent_cmd_port(const struct agent_opts *o, int argc, char **argv)
{
	int n = agent_flags(argc, argv, NULL, 0,
			    "Usage: berth port CONTAINER [PRIVATE_PORT[/PROTO]]\n\n"
			    "List a container's published ports.\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n < 1 || n > 2)
		return agent_usage("port: needs a container and at most one port");
	cJSON *j = NULL;
	struct berr err = { 0 };
	if (CONFIG_DAEMON && o->host) {
		char enc[1024], path[1200];
		snprintf(path, sizeof(path), "/containers/%s/json",
			 agent_api_enc(argv[1], enc, sizeof(enc)));
		int st = agent_api_call(o, "GET", path, NULL, AGENT_API_TIMEOUT_MS, &j, &err);
		if (st != 200 && st != 404) {
			cJSON_Delete(j);
			return agent_fail("port %s: %s", argv[1], err.msg);
		}
	} else {
		char root[PATH_MAX];
		if (root_of(o, root, sizeof(root)))
			return AGENT_EXIT_FAIL;
		j = agent_container_json(root, argv[1]);
	}
	if (!j)
		return agent_fail("port: no such container: %s", argv[1]);
	struct agent_port want;
	if (n == 2 && agent_port_parse(argv[2], &want, &err)) {
		cJSON_Delete(j);
		return agent_usage("port: %s", err.msg);
	}
	int shown = port_print(j, n == 2 ? &want : NULL);
	cJSON_Delete(j);
	if (n == 2 && !shown)
		return agent_fail("port: no public port '%s' published for %s", argv[2], argv[1]);
	return AGENT_EXIT_OK;
}

static cJSON *ports_json(const struct agent_ctr *ctr)
{
	cJSON *a = cJSON_CreateArray();
	struct agent_port p[AGENT_PORTS_MAX];
	int n = agent_ctr_running(ctr) ? agent_net_ports(ctr, p, AGENT_PORTS_MAX) : 0;
	for (int i = 0; i < n; i++) {
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &p[i].host_ip, ip, sizeof(ip));
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "IP", ip);
		cJSON_AddNumberToObject(o, "PrivatePort", p[i].ctr_port);
		cJSON_AddNumberToObject(o, "PublicPort", p[i].host_port);
		cJSON_AddStringToObject(o, "Type", p[i].proto == IPPROTO_UDP ? "udp" : "tcp");
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

/* One filter value against a container; unknown keys match. */
static bool filter_one(const struct agent_ctr *ct, const char *key, const char *val)
{
	if (!strcmp(key, "status"))
		return !strcmp(val, agent_ctr_state_word(ct));
	if (!strcmp(key, "name"))
		return strstr(ct->name, val[0] == '/' ? val + 1 : val) != NULL;
	if (!strcmp(key, "id"))
		return !strncmp(ct->id, val, strlen(val));
	if (!strcmp(key, "exited"))
		return ct->st.status == RT_EXITED && ct->st.exit_code == atoi(val);
	if (!strcmp(key, "ancestor")) {
		const char *img = jstr(ct->cfg, "Image");
		return !strcmp(jstr(cJSON_GetObjectItem(ct->cfg, "Config"), "Image"), val) ||
		       (strlen(img) > 7 && !strncmp(img + 7, val, strlen(val)));
	}
	return true;
}

static bool ctr_wanted(const struct agent_ctr *ct, bool all, const cJSON *filters)
{
	bool keep = all || agent_ctr_running(ct);
	const cJSON *fk;
	cJSON_ArrayForEach(fk, filters)
	{
		bool any = false, ok = false;
		const cJSON *fv;
		cJSON_ArrayForEach(fv, fk)
		{
			const char *val = cJSON_IsString(fv) ? fv->valuestring : fv->string;
			if (!val || !fk->string)
				continue;
			any = true;
			ok |= filter_one(ct, fk->string, val);
		}
		if (any && !ok)
			keep = false;
		/* asking for a status shows stopped containers too */
		if (any && !strcmp(fk->string, "status"))
			keep = keep || ok;
	}
	return keep;
}

cJSON *agent_containers_json(const char *root, bool all, const cJSON *filters, struct berr *err)
{
	struct agent_ctr *v;
	int n = agent_ctr_list(root, &v, err);
	if (n < 0)
		return NULL;
	cJSON *arr = cJSON_CreateArray();
	for (int i = 0; i < n; i++) {
		struct agent_ctr *ct = &v[i];
		if (!ctr_wanted(ct, all, filters)) {
			agent_ctr_free(ct);
			continue;
		}
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "Id", ct->id);
		cJSON *names = cJSON_AddArrayToObject(j, "Names");
		char nm[AGENT_NAME_MAX + 1], cmd[1024], status[128];
		snprintf(nm, sizeof(nm), "/%s", ct->name);
		cJSON_AddItemToArray(names, cJSON_CreateString(nm));
		const cJSON *cc = cJSON_GetObjectItem(ct->cfg, "Config");
		cJSON_AddStringToObject(j, "Image", jstr(cc, "Image"));
		cJSON_AddStringToObject(j, "ImageID", jstr(ct->cfg, "Image"));
		size_t used = (size_t)snprintf(cmd, sizeof(cmd), "%s", jstr(ct->cfg, "Path"));
		const cJSON *it;
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(ct->cfg, "Args")) if (used < sizeof(cmd))
			used += (size_t)snprintf(cmd + used, sizeof(cmd) - used, " %s",
						 cJSON_GetStringValue(it) ?: "");
		cJSON_AddStringToObject(j, "Command", cmd);
		cJSON_AddNumberToObject(
			j, "Created",
			(double)((long long)cJSON_GetNumberValue(
					 cJSON_GetObjectItem(ct->cfg, "CreatedNs")) /
				 1000000000LL));
		cJSON_AddItemToObject(j, "Ports", ports_json(ct));
		cJSON_AddItemToObject(j, "Labels",
				      cJSON_Duplicate(cJSON_GetObjectItem(cc, "Labels"), true)
					      ?: cJSON_CreateObject());
		cJSON_AddStringToObject(j, "State", agent_ctr_state_word(ct));
		agent_ctr_status_text(ct, status, sizeof(status));
		cJSON_AddStringToObject(j, "Status", status);
		cJSON *hc = cJSON_AddObjectToObject(j, "HostConfig");
		cJSON_AddStringToObject(
			hc, "NetworkMode",
			jstr(cJSON_GetObjectItem(ct->cfg, "HostConfig"), "NetworkMode"));
		cJSON *ns = cJSON_AddObjectToObject(j, "NetworkSettings");
		cJSON_AddObjectToObject(ns, "Networks");
		cJSON_AddItemToObject(j, "Mounts",
				      cJSON_Duplicate(cJSON_GetObjectItem(ct->cfg, "Mounts"), true)
					      ?: cJSON_CreateArray());
		cJSON_AddItemToArray(arr, j);
		agent_ctr_free(ct);
	}
	free(v);
	return arr;
}

/* One row of ps from one item of GET /containers/json. */
static void ps_row(const cJSON *c, bool notrunc, bool quiet, const char *format)
{
	char id[AGENT_CTR_ID_LEN + 1];
	snprintf(id, sizeof(id), "%.*s", notrunc ? AGENT_CTR_ID_LEN : 12, jstr(c, "Id"));
	if (quiet) {
		printf("%s\n", id);
		return;
	}
	char cmd[1100], created[80], ports[256] = "";
	snprintf(cmd, sizeof(cmd) - 4, "\"%s", jstr(c, "Command"));
	if (!notrunc && strlen(cmd) > 19)
		strcpy(cmd + 16, "…");
	strcat(cmd, "\"");
	long long secs = (long long)time(NULL) -
			 (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(c, "Created"));
	human_duration(secs, created, sizeof(created) - 5);
	strcat(created, " ago");
	size_t used = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(c, "Ports"))
	{
		int w = snprintf(ports + used, sizeof(ports) - used, "%s%s:%d->%d/%s",
				 used ? ", " : "", jstr(p, "IP"),
				 (int)cJSON_GetNumberValue(cJSON_GetObjectItem(p, "PublicPort")),
				 (int)cJSON_GetNumberValue(cJSON_GetObjectItem(p, "PrivatePort")),
				 jstr(p, "Type"));
		if (w < 0 || (size_t)w >= sizeof(ports) - used)
			break;
		used += (size_t)w;
	}
	const char *name =
		cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "Names"), 0));
	name = name ? name + (name[0] == '/') : "";
	if (format) {
		cJSON *row = cJSON_CreateObject();
		cJSON_AddStringToObject(row, "ID", id);
		cJSON_AddStringToObject(row, "Image", jstr(c, "Image"));
		cJSON_AddStringToObject(row, "Command", cmd);
		cJSON_AddStringToObject(row, "RunningFor", created);
		cJSON_AddStringToObject(row, "Status", jstr(c, "Status"));
		cJSON_AddStringToObject(row, "State", jstr(c, "State"));
		cJSON_AddStringToObject(row, "Ports", ports);
		cJSON_AddStringToObject(row, "Names", name);
		agent_print_format(row, format);
		cJSON_Delete(row);
		return;
	}
	printf("%-14s %-20s %-22s %-18s %-28s %-8s %s\n", id, jstr(c, "Image"), cmd, created,
	       jstr(c, "Status"), ports, name);
}

int agent_cmd_ps(const struct agent_opts *o, int argc, char **argv)
{
	bool all = false, quiet = false, notrunc = false, latest = false, size = false;
	const char *format = NULL;
	int last = -1;
	struct agent_strlist filters = { 0 };
	const struct agent_flag flags[] = {
		{ "all", 'a', FLAG_BOOL, &all },        { "quiet", 'q', FLAG_BOOL, &quiet },
		{ "no-trunc", 0, FLAG_BOOL, &notrunc }, { "filter", 'f', FLAG_LIST, &filters },
		{ "format", 0, FLAG_STR, &format },     { "last", 'n', FLAG_INT, &last },
		{ "latest", 'l', FLAG_BOOL, &latest },  { "size", 's', FLAG_BOOL, &size },
	};
	int n = agent_flags(
		argc, argv, flags, 8,
		"Usage: berth ps [OPTIONS]\n\n"
		"List containers.\n\n"
		"Options:\n"
		"  -a, --all             Show all containers (default shows just running)\n"
		"  -f, --filter filter   status=, name=, id=, exited=, ancestor=\n"
		"      --format string   Go-template subset: {{.Names}} {{.Status}}\n"
		"  -n, --last int        Show n last created containers\n"
		"  -l, --latest          Show the latest created container\n"
		"      --no-trunc        Do not truncate output\n"
		"  -q, --quiet           Only display container IDs\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n > 0)
		return agent_usage("ps: takes no arguments");
	/* docker's filters JSON, {"status": ["exited"], ...}, for both paths */
	cJSON *fj = cJSON_CreateObject();
	for (int i = 0; i < filters.n; i++) {
		static const char *const keys[] = { "status", "name", "id", "exited", "ancestor" };
		const char *eq = strchr(filters.v[i], '=');
		int k = 0;
		while (eq && k < 5 &&
		       (strlen(keys[k]) != (size_t)(eq - filters.v[i]) ||
			strncmp(filters.v[i], keys[k], strlen(keys[k]))))
			k++;
		if (!eq || k == 5) {
			cJSON_Delete(fj);
			return agent_usage("ps: unsupported filter '%s'", filters.v[i]);
		}
		cJSON *vals = cJSON_GetObjectItem(fj, keys[k]);
		if (!vals)
			vals = cJSON_AddArrayToObject(fj, keys[k]);
		cJSON_AddItemToArray(vals, cJSON_CreateString(eq + 1));
	}
	if (latest)
		last = 1;
	if (last > 0 || filters.n)
		all = true;
	cJSON *arr = NULL;
	struct berr err = { 0 };
	if (CONFIG_DAEMON && o->host) {
		char *fs = cJSON_PrintUnformatted(fj), path[4096], enc[3072];
		snprintf(path, sizeof(path), "/containers/json?all=%d&filters=%s", all,
			 agent_api_enc(fs ? fs : "{}", enc, sizeof(enc)));
		free(fs);
		if (agent_api_call(o, "GET", path, NULL, AGENT_API_TIMEOUT_MS, &arr, &err) != 200) {
			cJSON_Delete(arr);
			arr = NULL;
		}
	} else {
		char root[PATH_MAX];
		if (root_of(o, root, sizeof(root))) {
			cJSON_Delete(fj);
			return AGENT_EXIT_FAIL;
		}
		arr = agent_containers_json(root, all, fj, &err);
	}
	cJSON_Delete(fj);
	if (!arr)
		return agent_fail("ps: %s", err.msg);
	if (!quiet && !format)
		printf("%-14s %-20s %-22s %-18s %-28s %-8s %s\n", "CONTAINER ID", "IMAGE",
		       "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES");
	int shown = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, arr)
	{
		if (last > 0 && shown >= last)
			break;
		shown++;
		ps_row(c, notrunc, quiet, format);
	}
	cJSON_Delete(arr);
	return AGENT_EXIT_OK;
}

/* The API call that does what each_arg's fn does: METHOD, the path's rest
 * after /containers/{id}, and how long the daemon may take. */
struct api_op {
	const char *method;
	char rest[160];
	int timeout_ms;
	bool wait; /* print the StatusCode of the answer */
};

static int each_api(const struct agent_opts *o, int n, char **argv, const struct api_op *op,
		    bool echo)
{
	int ret = AGENT_EXIT_OK;
	for (int i = 1; i <= n; i++) {
		char enc[1024], path[1200];
		snprintf(path, sizeof(path), "/containers/%s%s",
			 agent_api_enc(argv[i], enc, sizeof(enc)), op->rest);
		cJSON *j = NULL;
		struct berr err = { 0 };
		int st = agent_api_call(o, op->method, path, NULL, op->timeout_ms, &j, &err);
		if (st == 404)
			ret = agent_fail("%s: %s", argv[0], err.msg);
		else if (st < 200 || st >= 400)
			ret = agent_fail("%s %s: %s", argv[0], argv[i], err.msg);
		else if (op->wait)
			printf("%d\n",
			       (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "StatusCode")));
		else if (echo)
			printf("%s\n", argv[i]);
		fflush(stdout);
		cJSON_Delete(j);
	}
	return ret;
}

/* Runs fn on each container argument (or, through the daemon, op); prints
 * the argument on success as docker does. Returns 0, or 1 when any failed. */
static int each_arg(const struct agent_opts *o, int n, char **argv,
		    int (*fn)(const char *root, struct agent_ctr *c, void *arg, struct berr *err),
		    void *arg, bool echo, const struct api_op *op)
{
	if (CONFIG_DAEMON && o->host)
		return each_api(o, n, argv, op, echo);
	char root[PATH_MAX];
	if (root_of(o, root, sizeof(root)))
		return AGENT_EXIT_FAIL;
	int ret = AGENT_EXIT_OK;
	for (int i = 1; i <= n; i++) {
		struct agent_ctr c;
		struct berr err = { 0 };
		if (agent_ctr_find(root, argv[i], &c, &err)) {
			ret = agent_fail("%s: %s", argv[0], err.msg);
			continue;
		}
		if (fn(root, &c, arg, &err) < 0)
			ret = agent_fail("%s %s: %s", argv[0], argv[i], err.msg);
		else if (echo)
			printf("%s\n", argv[i]);
		agent_ctr_free(&c);
	}
	return ret;
}

struct stop_args {
	int timeout; /* -1: the container's own, else 10 */
	const char *signal;
	const struct agent_config *cfg; /* restart */
};

static int stop_one(const char *root, struct agent_ctr *c, void *arg, struct berr *err)
{
	struct stop_args *a = arg;
	const cJSON *cc = cJSON_GetObjectItem(c->cfg, "Config");
	int t = a->timeout;
	if (t < 0) {
		const cJSON *st = cJSON_GetObjectItem(cc, "StopTimeout");
		t = cJSON_IsNumber(st) ? st->valueint : 10;
	}
	int sig = agent_signal_parse(a->signal ? a->signal : jstr(cc, "StopSignal"));
	return agent_ctr_stop(c, sig ? sig : SIGTERM, t, err);
}

/* "/stop?t=5&signal=HUP": what stop and restart ask the daemon. */
static void stop_query(const struct stop_args *a, const char *verb, char *out, size_t len)
{
	char t[16] = "", sig[64] = "";
	if (!CONFIG_DAEMON)
		return;
	if (a->timeout >= 0)
		snprintf(t, sizeof(t), "%d", a->timeout);
	if (a->signal)
		agent_api_enc(a->signal, sig, sizeof(sig));
	snprintf(out, len, "%s%s%s%s%s%s", verb, *t || *sig ? "?" : "", *t ? "t=" : "", t,
		 *t && *sig ? "&" : "", *sig ? "signal=" : "");
	snprintf(out + strlen(out), len - strlen(out), "%s", sig);
}

static int parse_stop(int argc, char **argv, struct stop_args *a, const char *what)
{
	a->timeout = -1;
	a->signal = NULL;
	const struct agent_flag flags[] = {
		{ "time", 't', FLAG_INT, &a->timeout },
		{ "timeout", 0, FLAG_INT, &a->timeout },
		{ "signal", 's', FLAG_STR, &a->signal },
	};
	char usage[512];
	snprintf(usage, sizeof(usage),
		 "Usage: berth %s [OPTIONS] CONTAINER [CONTAINER...]\n\n"
		 "%s\n\n"
		 "Options:\n"
		 "  -s, --signal string   Signal to send (default: the image's StopSignal, "
		 "SIGTERM)\n"
		 "  -t, --time int        Seconds to wait before killing it (default 10)\n",
		 argv[0], what);
	int n = agent_flags(argc, argv, flags, 3, usage);
	if (n < 0)
		return n;
	if (n < 1) {
		agent_usage("%s: needs at least one container", argv[0]);
		return -2;
	}
	if (a->signal && !agent_signal_parse(a->signal)) {
		agent_usage("%s: unknown signal '%s'", argv[0], a->signal);
		return -2;
	}
	return n;
}

int agent_cmd_stop(const struct agent_opts *o, int argc, char **argv)
{
	struct stop_args a;
	int n = parse_stop(argc, argv, &a, "Stop one or more running containers.");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	struct api_op op = { "POST", "", -1, false };
	stop_query(&a, "/stop", op.rest, sizeof(op.rest));
	return each_arg(o, n, argv, stop_one, &a, true, &op);
}

static int restart_one(const char *root, struct agent_ctr *c, void *arg, struct berr *err)
{
	int rc = stop_one(root, c, arg, err);
	if (rc)
		return rc;
	int code;
	struct agent_attach none = { 0 };
	return agent_ctr_start(root, ((struct stop_args *)arg)->cfg, c, &none, &code, err) < 0 ? -1
											       : 0;
}

int agent_cmd_restart(const struct agent_opts *o, int argc, char **argv)
{
	struct stop_args a;
	int n = parse_stop(argc, argv, &a, "Restart one or more containers.");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	struct api_op op = { "POST", "", -1, false };
	stop_query(&a, "/restart", op.rest, sizeof(op.rest));
	if (CONFIG_DAEMON && o->host)
		return each_arg(o, n, argv, restart_one, &a, true, &op);
	struct agent_config cfg;
	if (agent_load_config(o, &cfg))
		return AGENT_EXIT_FAIL;
	a.cfg = &cfg;
	int rc = each_arg(o, n, argv, restart_one, &a, true, &op);
	agent_config_free(&cfg);
	return rc;
}

static int kill_one(const char *root, struct agent_ctr *c, void *arg, struct berr *err)
{
	return agent_ctr_kill(c, *(int *)arg, err);
}

int agent_cmd_kill(const struct agent_opts *o, int argc, char **argv)
{
	const char *sig = "KILL";
	const struct agent_flag flags[] = { { "signal", 's', FLAG_STR, &sig } };
	int n = agent_flags(argc, argv, flags, 1,
			    "Usage: berth kill [OPTIONS] CONTAINER [CONTAINER...]\n\n"
			    "Kill one or more running containers.\n\n"
			    "Options:\n"
			    "  -s, --signal string   Signal to send (default \"KILL\")\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n < 1)
		return agent_usage("kill: needs at least one container");
	int s = agent_signal_parse(sig);
	if (!s)
		return agent_usage("kill: unknown signal '%s'", sig);
	struct api_op op = { "POST", "", AGENT_API_TIMEOUT_MS, false };
	char enc[64];
	if (CONFIG_DAEMON)
		snprintf(op.rest, sizeof(op.rest), "/kill?signal=%s",
			 agent_api_enc(sig, enc, sizeof(enc)));
	return each_arg(o, n, argv, kill_one, &s, true, &op);
}

struct rm_args {
	bool force, volumes;
};

static int rm_one(const char *root, struct agent_ctr *c, void *arg, struct berr *err)
{
	struct rm_args *a = arg;
	return agent_ctr_remove(root, c, a->force, a->volumes, err);
}

int agent_cmd_rm(const struct agent_opts *o, int argc, char **argv)
{
	struct rm_args a = { 0 };
	bool link = false;
	const struct agent_flag flags[] = {
		{ "force", 'f', FLAG_BOOL, &a.force },
		{ "volumes", 'v', FLAG_BOOL, &a.volumes },
		{ "link", 'l', FLAG_BOOL, &link },
	};
	int n = agent_flags(argc, argv, flags, 3,
			    "Usage: berth rm [OPTIONS] CONTAINER [CONTAINER...]\n\n"
			    "Remove one or more containers.\n\n"
			    "Options:\n"
			    "  -f, --force     Kill a running container first\n"
			    "  -v, --volumes   Remove its anonymous volumes\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n < 1)
		return agent_usage("rm: needs at least one container");
	if (link)
		return agent_usage("rm: --link is not supported");
	struct api_op op = { "DELETE", "", -1, false };
	snprintf(op.rest, sizeof(op.rest), "?force=%d&v=%d", a.force, a.volumes);
	return each_arg(o, n, argv, rm_one, &a, true, &op);
}

static int wait_one(const char *root, struct agent_ctr *c, void *arg, struct berr *err)
{
	printf("%d\n", agent_ctr_wait(c, err));
	fflush(stdout);
	return 0;
}

int agent_cmd_wait(const struct agent_opts *o, int argc, char **argv)
{
	int n = agent_flags(argc, argv, NULL, 0,
			    "Usage: berth wait CONTAINER [CONTAINER...]\n\n"
			    "Block until containers stop, then print their exit codes.\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n < 1)
		return agent_usage("wait: needs at least one container");
	const struct api_op op = { "POST", "/wait", -1, true };
	return each_arg(o, n, argv, wait_one, NULL, false, &op);
}

static int pause_one(const char *root, struct agent_ctr *c, void *arg, struct berr *err)
{
	return agent_ctr_pause(c, *(bool *)arg, err);
}

static int pause_cmd(const struct agent_opts *o, int argc, char **argv, bool freeze)
{
	char usage[160];
	snprintf(
		usage, sizeof(usage),
		"Usage: berth %s CONTAINER [CONTAINER...]\n\n%s all processes of one or more containers.\n",
		argv[0], freeze ? "Freeze" : "Thaw");
	int n = agent_flags(argc, argv, NULL, 0, usage);
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n < 1)
		return agent_usage("%s: needs at least one container", argv[0]);
	struct api_op op = { "POST", "", AGENT_API_TIMEOUT_MS, false };
	snprintf(op.rest, sizeof(op.rest), "/%s", freeze ? "pause" : "unpause");
	return each_arg(o, n, argv, pause_one, &freeze, true, &op);
}

int agent_cmd_pause(const struct agent_opts *o, int argc, char **argv)
{
	return pause_cmd(o, argc, argv, true);
}

int agent_cmd_unpause(const struct agent_opts *o, int argc, char **argv)
{
	return pause_cmd(o, argc, argv, false);
}

int agent_cmd_rename(const struct agent_opts *o, int argc, char **argv)
{
	int n = agent_flags(argc, argv, NULL, 0,
			    "Usage: berth rename CONTAINER NEW_NAME\n\nRename a container.\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n != 2)
		return agent_usage("rename: needs a container and a new name");
	struct berr err = { 0 };
	if (CONFIG_DAEMON && o->host) {
		char a[1024], b[1024], path[2200];
		snprintf(path, sizeof(path), "/containers/%s/rename?name=%s",
			 agent_api_enc(argv[1], a, sizeof(a)),
			 agent_api_enc(argv[2], b, sizeof(b)));
		int st = agent_api_call(o, "POST", path, NULL, AGENT_API_TIMEOUT_MS, NULL, &err);
		return st >= 200 && st < 300 ? AGENT_EXIT_OK
					     : agent_fail("rename %s: %s", argv[1], err.msg);
	}
	char root[PATH_MAX];
	if (root_of(o, root, sizeof(root)))
		return AGENT_EXIT_FAIL;
	if (agent_ctr_rename(root, argv[1], argv[2], &err))
		return agent_fail("rename %s: %s", argv[1], err.msg);
	return AGENT_EXIT_OK;
}

/* --- logs --- */

static bool log_done(void *arg)
{
	struct agent_ctr *c = arg;
	agent_ctr_refresh(c);
	return !agent_ctr_running(c);
}

static int log_out(void *arg, enum rt_log_stream s, const char *buf, size_t len)
{
	FILE *f = s == RT_LOG_STDERR ? stderr : stdout;
	if (fwrite(buf, 1, len, f) != len || fputc('\n', f) == EOF || fflush(f))
		return -EPIPE;
	return 0;
}

/* --since/--until: RFC 3339, unix seconds, or a duration back from now
 * ("10m", "1h30m", "45s"). */
static int parse_when(const char *s, struct timespec *ts)
{
	char *end;
	double v = strtod(s, &end);
	if (end != s && !*end) {
		ts->tv_sec = (time_t)v;
		ts->tv_nsec = (long)((v - (double)ts->tv_sec) * 1e9);
		return 0;
	}
	struct tm tm = { 0 };
	const char *r = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!r)
		r = strptime(s, "%Y-%m-%d", &tm);
	if (r) {
		ts->tv_sec = timegm(&tm);
		ts->tv_nsec = 0;
		if (*r == '.') {
			double frac = strtod(r, &end);
			ts->tv_nsec = (long)(frac * 1e9);
			r = end;
		}
		return (*r == 'Z' || !*r) ? 0 : -1;
	}
	long long total = 0;
	const char *p = s;
	while (*p) {
		char *e;
		double x = strtod(p, &e);
		if (e == p)
			return -1;
		if (*e == 'h')
			total += (long long)(x * 3600);
		else if (*e == 'm' && e[1] == 's')
			total += 0, e++;
		else if (*e == 'm')
			total += (long long)(x * 60);
		else if (*e == 's')
			total += (long long)x;
		else
			return -1;
		p = e + 1;
	}
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec -= total;
	return 0;
}

/* logs through the daemon: docker's stream (8-byte frame headers, stream 1
 * stdout, 2 stderr; raw bytes for a tty container) to our stdout and stderr. */
static int logs_api(const struct agent_opts *o, const char *ref, const struct rt_log_read_opts *ro)
{
	char enc[1024], path[1400], since[40] = "", until[40] = "";
	if (ro->since.tv_sec)
		snprintf(since, sizeof(since), "&since=%lld.%09ld", (long long)ro->since.tv_sec,
			 ro->since.tv_nsec);
	if (ro->until.tv_sec)
		snprintf(until, sizeof(until), "&until=%lld.%09ld", (long long)ro->until.tv_sec,
			 ro->until.tv_nsec);
	snprintf(path, sizeof(path),
		 "/containers/%s/logs?stdout=1&stderr=1&follow=%d&timestamps=%d&tail=%ld%s%s",
		 agent_api_enc(ref, enc, sizeof(enc)), ro->follow, ro->timestamps, ro->tail, since,
		 until);
	struct berr err = { 0 };
	int st = agent_api_open(o, "GET", path, NULL, ro->follow ? -1 : AGENT_API_TIMEOUT_MS, &err);
	if (st == 404)
		return agent_fail("logs: %s", err.msg);
	if (st != 200)
		return agent_fail("logs %s: %s", ref, err.msg);
	bool raw = !strcmp(agent_api_content_type(), "application/vnd.docker.raw-stream");
	unsigned char h[8];
	size_t hn = 0, left = 0;
	FILE *f = stdout;
	char buf[16384];
	ssize_t n;
	while ((n = agent_api_read(buf, sizeof(buf), &err)) > 0) {
		for (size_t i = 0; i < (size_t)n;) {
			if (raw) {
				left = (size_t)n;
			} else if (!left) {
				h[hn++] = (unsigned char)buf[i++];
				if (hn < 8)
					continue;
				hn = 0;
				f = h[0] == 2 ? stderr : stdout;
				left = ((size_t)h[4] << 24) | ((size_t)h[5] << 16) |
				       ((size_t)h[6] << 8) | h[7];
				continue;
			}
			size_t k = (size_t)n - i < left ? (size_t)n - i : left;
			if (fwrite(buf + i, 1, k, f) != k)
				return AGENT_EXIT_OK; /* a closed pipe ends logs quietly */
			i += k;
			left -= k;
		}
		if (fflush(stdout) || fflush(stderr))
			return AGENT_EXIT_OK;
	}
	return n < 0 ? agent_fail("logs %s: %s", ref, err.msg) : AGENT_EXIT_OK;
}

int agent_cmd_logs(const struct agent_opts *o, int argc, char **argv)
{
	bool follow = false, timestamps = false, details = false;
	const char *tail = "all", *since = NULL, *until = NULL;
	const struct agent_flag flags[] = {
		{ "follow", 'f', FLAG_BOOL, &follow },
		{ "timestamps", 't', FLAG_BOOL, &timestamps },
		{ "tail", 'n', FLAG_STR, &tail },
		{ "since", 0, FLAG_STR, &since },
		{ "until", 0, FLAG_STR, &until },
		{ "details", 0, FLAG_BOOL, &details },
	};
	int n = agent_flags(
		argc, argv, flags, 6,
		"Usage: berth logs [OPTIONS] CONTAINER\n\n"
		"Fetch the logs of a container.\n\n"
		"Options:\n"
		"  -f, --follow         Follow log output\n"
		"      --since string   Show logs since a time (2026-11-23T15:04:05Z, unix\n"
		"                       seconds) or for a duration back (10m, 1h)\n"
		"  -n, --tail string    Number of lines from the end (default \"all\")\n"
		"  -t, --timestamps     Show timestamps\n"
		"      --until string   Show logs before a time or duration back\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n != 1)
		return agent_usage("logs: needs exactly one container");
	struct rt_log_read_opts ro = { .tail = -1,
				       .timestamps = timestamps,
				       .streams = RT_LOG_STDOUT | RT_LOG_STDERR,
				       .follow = follow };
	if (strcmp(tail, "all")) {
		char *end;
		long t = strtol(tail, &end, 10);
		if (*end || end == tail || t < -1)
			return agent_usage("logs: --tail %s: a number or \"all\"", tail);
		ro.tail = t;
	}
	if (since && parse_when(since, &ro.since))
		return agent_usage("logs: --since %s: not a time or duration", since);
	if (until && parse_when(until, &ro.until))
		return agent_usage("logs: --until %s: not a time or duration", until);
	if (CONFIG_DAEMON && o->host)
		return logs_api(o, argv[1], &ro);
	char root[PATH_MAX];
	if (root_of(o, root, sizeof(root)))
		return AGENT_EXIT_FAIL;
	struct agent_ctr c;
	struct berr err = { 0 };
	if (agent_ctr_find(root, argv[1], &c, &err))
		return agent_fail("logs: %s", err.msg);
	ro.done = log_done;
	ro.done_arg = &c;
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/container.log", c.dir);
	int rc = rt_log_read(path, &ro, log_out, NULL, &err);
	agent_ctr_free(&c);
	if (rc == -ENOENT || rc == -EPIPE)
		return AGENT_EXIT_OK;
	return rc < 0 ? agent_fail("logs %s: %s", argv[1], err.msg) : AGENT_EXIT_OK;
}

/* --- top and stats --- */

struct proc_info {
	int pid, ppid;
	unsigned long long utime, stime, start;
	char cmd[512];
	unsigned uid;
};

static int proc_read(int pid, struct proc_info *p)
{
	char path[64], buf[2048];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (fs_read_file(path, buf, sizeof(buf), NULL) <= 0)
		return -1;
	char *r = strrchr(buf, ')');
	if (!r)
		return -1;
	/* fields after ") ": state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime ... starttime (22) */
	char state;
	unsigned long long f[20];
	if (sscanf(r + 2,
		   "%c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
		   "%llu %llu %llu %llu",
		   &state, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9],
		   &f[10], &f[11], &f[12], &f[13], &f[14], &f[15], &f[16], &f[17], &f[18]) < 20)
		return -1;
	p->ppid = (int)f[0];
	p->utime = f[10];
	p->stime = f[11];
	p->start = f[18];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	ssize_t n = fs_read_file(path, p->cmd, sizeof(p->cmd), NULL);
	if (n <= 0) {
		char *l = strchr(buf, '('), *e = strrchr(buf, ')');
		snprintf(p->cmd, sizeof(p->cmd), "[%.*s]", l && e ? (int)(e - l - 1) : 0,
			 l ? l + 1 : "");
	} else {
		for (ssize_t i = 0; i < n - 1; i++)
			if (!p->cmd[i])
				p->cmd[i] = ' ';
	}
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (fs_read_file(path, buf, sizeof(buf), NULL) > 0) {
		char *u = strstr(buf, "\nUid:");
		if (u)
			p->uid = (unsigned)strtoul(u + 5, NULL, 10);
	}
	return 0;
}

static int container_cgroup(const struct agent_ctr *c, struct rt_cg_host *h, struct rt_cgroup *g,
			    struct berr *err)
{
	int rc = rt_cgroup_detect(h, "/proc/self/mountinfo", err);
	if (rc)
		return rc;
	char name[128];
	agent_ctr_cgroup(c, name, sizeof(name));
	rt_cgroup_init(g, h, name);
	return 0;
}

cJSON *agent_top_json(struct agent_ctr *c, struct berr *err)
{
	if (!agent_ctr_running(c)) {
		berr_setmsg(err, EINVAL, "container %s is not running", c->name);
		return NULL;
	}
	struct rt_cg_host h;
	struct rt_cgroup g;
	pid_t pids[1024];
	int np = container_cgroup(c, &h, &g, err);
	if (!np)
		np = rt_cgroup_pids(&g, pids, 1024, err);
	if (np < 0)
		return NULL;
	cJSON *j = cJSON_CreateObject();
	cJSON *titles = cJSON_AddArrayToObject(j, "Titles");
	static const char *const t[] = { "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD" };
	for (int i = 0; i < 8; i++)
		cJSON_AddItemToArray(titles, cJSON_CreateString(t[i]));
	cJSON *procs = cJSON_AddArrayToObject(j, "Processes");
	long hz = sysconf(_SC_CLK_TCK);
	for (int i = 0; i < np; i++) {
		struct proc_info p;
		if (proc_read(pids[i], &p))
			continue;
		struct passwd *pw = getpwuid(p.uid);
		char f[8][64];
		unsigned long long tm = (p.utime + p.stime) / (unsigned long long)hz;
		snprintf(f[0], sizeof(f[0]), "%s", pw ? pw->pw_name : "");
		if (!pw)
			snprintf(f[0], sizeof(f[0]), "%u", p.uid);
		snprintf(f[1], sizeof(f[1]), "%d", p.pid);
		snprintf(f[2], sizeof(f[2]), "%d", p.ppid);
		snprintf(f[3], sizeof(f[3]), "0");
		snprintf(f[4], sizeof(f[4]), "-");
		snprintf(f[5], sizeof(f[5]), "?");
		snprintf(f[6], sizeof(f[6]), "%02llu:%02llu:%02llu", tm / 3600, tm / 60 % 60,
			 tm % 60);
		cJSON *row = cJSON_CreateArray();
		for (int k = 0; k < 7; k++)
			cJSON_AddItemToArray(row, cJSON_CreateString(f[k]));
		cJSON_AddItemToArray(row, cJSON_CreateString(p.cmd));
		cJSON_AddItemToArray(procs, row);
	}
	return j;
}

/* top's table from {"Titles", "Processes"}. */
static void top_print(const cJSON *j)
{
	printf("%-10s %-8s %-8s %-3s %-6s %-6s %-10s %s\n", "UID", "PID", "PPID", "C", "STIME",
	       "TTY", "TIME", "CMD");
	const cJSON *row;
	cJSON_ArrayForEach(row, cJSON_GetObjectItem(j, "Processes"))
	{
		const char *f[8];
		for (int k = 0; k < 8; k++)
			f[k] = cJSON_GetStringValue(cJSON_GetArrayItem(row, k)) ?: "";
		printf("%-10s %-8s %-8s %-3s %-6s %-6s %-10s %s\n", f[0], f[1], f[2], f[3], f[4],
		       f[5], f[6], f[7]);
	}
}

int agent_cmd_top(const struct agent_opts *o, int argc, char **argv)
{
	int n = agent_flags(argc, argv, NULL, 0,
			    "Usage: berth top CONTAINER\n\nShow the processes of a container.\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n < 1)
		return agent_usage("top: needs a container");
	cJSON *j = NULL;
	struct berr err = { 0 };
	if (CONFIG_DAEMON && o->host) {
		char enc[1024], path[1200];
		snprintf(path, sizeof(path), "/containers/%s/top",
			 agent_api_enc(argv[1], enc, sizeof(enc)));
		int st = agent_api_call(o, "GET", path, NULL, AGENT_API_TIMEOUT_MS, &j, &err);
		if (st == 404)
			return agent_fail("top: %s", err.msg);
		if (st != 200) {
			cJSON_Delete(j);
			j = NULL;
		}
	} else {
		char root[PATH_MAX];
		if (root_of(o, root, sizeof(root)))
			return AGENT_EXIT_FAIL;
		struct agent_ctr c;
		if (agent_ctr_find(root, argv[1], &c, &err))
			return agent_fail("top: %s", err.msg);
		j = agent_top_json(&c, &err);
		agent_ctr_free(&c);
	}
	if (!j)
		return agent_fail("top %s: %s", argv[1], err.msg);
	top_print(j);
	cJSON_Delete(j);
	return AGENT_EXIT_OK;
}

/* Bytes in and out of each interface but lo in pid's network namespace,
 * as the stats JSON's "networks". */
static cJSON *net_json(pid_t pid)
{
	char path[64], buf[8192];
	cJSON *j = cJSON_CreateObject();
	snprintf(path, sizeof(path), "/proc/%d/net/dev", (int)pid);
	if (pid <= 0 || fs_read_file(path, buf, sizeof(buf), NULL) <= 0)
		return j;
	for (char *l = strchr(buf, '\n'); l; l = strchr(l + 1, '\n')) {
		char name[32];
		unsigned long long r, x, d;
		if (sscanf(l + 1, " %31[^:]: %llu %llu %llu %llu %llu %llu %llu %llu %llu", name,
			   &r, &d, &d, &d, &d, &d, &d, &d, &x) == 10 &&
		    strcmp(name, "lo")) {
			cJSON *n = cJSON_AddObjectToObject(j, name);
			cJSON_AddNumberToObject(n, "rx_bytes", (double)r);
			cJSON_AddNumberToObject(n, "tx_bytes", (double)x);
		}
	}
	return j;
}

/* The host's CPU time in ns (all CPUs, idle included), /proc/stat's first line. */
static unsigned long long system_ns(void)
{
	char buf[512];
	unsigned long long v[8] = { 0 }, sum = 0;
	if (fs_read_file("/proc/stat", buf, sizeof(buf), NULL) > 0 &&
	    sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) >= 4)
		for (int i = 0; i < 8; i++)
			sum += v[i];
	return sum * (1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK));
}

void agent_stats_sample(const struct agent_ctr *c, struct agent_stats_sample *s)
{
	struct rt_cg_host h;
	struct rt_cgroup g;
	struct rt_cg_stats cg = { 0 };
	struct berr err = { 0 };
	memset(s, 0, sizeof(*s));
	s->running = agent_ctr_running(c);
	if (s->running && !container_cgroup(c, &h, &g, &err))
		rt_cgroup_stats(&g, &cg, &err);
	s->cpu_ns = cg.cpu_usage_ns;
	s->mem_usage = cg.mem_usage;
	s->mem_limit = cg.mem_limit;
	s->pids = cg.pids;
	s->system_ns = system_ns();
}

static cJSON *cpu_json(const struct agent_stats_sample *s)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *u = cJSON_AddObjectToObject(j, "cpu_usage");
	cJSON_AddNumberToObject(u, "total_usage", (double)s->cpu_ns);
	cJSON_AddNumberToObject(j, "system_cpu_usage", (double)s->system_ns);
	cJSON_AddNumberToObject(j, "online_cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
	return j;
}

cJSON *agent_stats_json(const struct agent_ctr *c, const struct agent_stats_sample *prev,
			const struct agent_stats_sample *cur)
{
	cJSON *j = cJSON_CreateObject();
	char t[64], nm[AGENT_NAME_MAX + 2];
	time_t now = time(NULL);
	struct tm tm;
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	cJSON_AddStringToObject(j, "read", t);
	cJSON_AddStringToObject(j, "preread", t);
	snprintf(nm, sizeof(nm), "/%s", c->name);
	cJSON_AddStringToObject(j, "name", nm);
	cJSON_AddStringToObject(j, "id", c->id);
	cJSON *pids = cJSON_AddObjectToObject(j, "pids_stats");
	cJSON_AddNumberToObject(pids, "current", (double)cur->pids);
	cJSON_AddItemToObject(j, "cpu_stats", cpu_json(cur));
	cJSON_AddItemToObject(j, "precpu_stats", cpu_json(prev));
	cJSON *mem = cJSON_AddObjectToObject(j, "memory_stats");
	cJSON_AddNumberToObject(mem, "usage", (double)cur->mem_usage);
	unsigned long long total = (unsigned long long)sysconf(_SC_PHYS_PAGES) *
				   (unsigned long long)sysconf(_SC_PAGESIZE);
	cJSON_AddNumberToObject(
		mem, "limit",
		(double)(cur->mem_limit && cur->mem_limit < total ? cur->mem_limit : total));
	cJSON_AddObjectToObject(mem, "stats");
	cJSON_AddObjectToObject(j, "blkio_stats");
	cJSON_AddItemToObject(j, "networks", net_json(cur->running ? c->st.pid : 0));
	return j;
}

static double jnum(const cJSON *o, const char *path)
{
	char k[64];
	for (const char *dot; (dot = strchr(path, '.')); path = dot + 1) {
		snprintf(k, sizeof(k), "%.*s", (int)(dot - path), path);
		o = cJSON_GetObjectItem(o, k);
	}
	return cJSON_GetNumberValue(cJSON_GetObjectItem(o, path));
}

/* One row of stats from one stats JSON, CPU % as docker computes it: the
 * container's share of the host's CPU time between the two samples. */
static void stats_row(const cJSON *j, bool notrunc)
{
	double cpu = 0, d = jnum(j, "cpu_stats.cpu_usage.total_usage") -
			    jnum(j, "precpu_stats.cpu_usage.total_usage");
	double sys =
		jnum(j, "cpu_stats.system_cpu_usage") - jnum(j, "precpu_stats.system_cpu_usage");
	double ncpu = jnum(j, "cpu_stats.online_cpus");
	if (d > 0 && sys > 0)
		cpu = d / sys * ncpu * 100.0;
	if (ncpu > 0 && cpu > 100.0 * ncpu)
		cpu = 100.0 * ncpu;
	double use = jnum(j, "memory_stats.usage"), lim = jnum(j, "memory_stats.limit");
	double rx = 0, tx = 0;
	const cJSON *n;
	cJSON_ArrayForEach(n, cJSON_GetObjectItem(j, "networks"))
	{
		rx += jnum(n, "rx_bytes");
		tx += jnum(n, "tx_bytes");
	}
	char a[32], b[32], mem[64], net[64];
	agent_human_size((long long)use, a, sizeof(a));
	agent_human_size((long long)lim, b, sizeof(b));
	snprintf(mem, sizeof(mem), "%s / %s", a, b);
	agent_human_size((long long)rx, a, sizeof(a));
	agent_human_size((long long)tx, b, sizeof(b));
	snprintf(net, sizeof(net), "%s / %s", a, b);
	const char *name = jstr(j, "name");
	printf("%-14.*s %-20s %-8.2f %-22s %-7.2f %-18s %-14s %llu\n",
	       notrunc ? AGENT_CTR_ID_LEN : 12, jstr(j, "id"), name + (name[0] == '/'), cpu, mem,
	       lim > 0 ? use * 100.0 / lim : 0.0, net, "-",
	       (unsigned long long)jnum(j, "pids_stats.current"));
}

/* stats through the daemon: one GET /containers/{id}/stats?stream=0 per
 * container (the named ones, or those GET /containers/json lists) into arr.
 * Returns 0 or an exit code after printing the error. */
static int stats_api(const struct agent_opts *o, int n, char **argv, bool all, cJSON *arr)
{
	cJSON *list = NULL;
	struct berr err = { 0 };
	char path[1300], enc[1024];
	if (!n) {
		snprintf(path, sizeof(path), "/containers/json?all=%d", all);
		if (agent_api_call(o, "GET", path, NULL, AGENT_API_TIMEOUT_MS, &list, &err) !=
		    200) {
			cJSON_Delete(list);
			return agent_fail("stats: %s", err.msg);
		}
	}
	int count = n ? n : cJSON_GetArraySize(list);
	for (int i = 0; i < count; i++) {
		const char *ref = n ? argv[i + 1] : jstr(cJSON_GetArrayItem(list, i), "Id");
		snprintf(path, sizeof(path), "/containers/%s/stats?stream=0",
			 agent_api_enc(ref, enc, sizeof(enc)));
		cJSON *j = NULL;
		int st = agent_api_call(o, "GET", path, NULL, AGENT_API_TIMEOUT_MS, &j, &err);
		if (st != 200 || !j) {
			cJSON_Delete(j);
			cJSON_Delete(list);
			return agent_fail("stats: %s", err.msg);
		}
		cJSON_AddItemToArray(arr, j);
	}
	cJSON_Delete(list);
	return 0;
}

/* stats on the store: two samples of each container AGENT_STATS_SAMPLE_MS
 * apart, as the daemon takes them, into arr. */
static int stats_direct(const struct agent_opts *o, int n, char **argv, bool all, cJSON *arr)
{
	char root[PATH_MAX];
	if (root_of(o, root, sizeof(root)))
		return AGENT_EXIT_FAIL;
	struct agent_ctr *v = NULL;
	struct berr err = { 0 };
	int nc;
	if (n > 0) {
		v = calloc((size_t)n, sizeof(*v));
		nc = 0;
		for (int i = 1; v && i <= n; i++) {
			if (agent_ctr_find(root, argv[i], &v[nc], &err)) {
				for (int k = 0; k < nc; k++)
					agent_ctr_free(&v[k]);
				free(v);
				return agent_fail("stats: %s", err.msg);
			}
			nc++;
		}
	} else {
		nc = agent_ctr_list(root, &v, &err);
		if (nc < 0)
			return agent_fail("stats: %s", err.msg);
	}
	struct agent_stats_sample *s0 = calloc((size_t)nc + 1, sizeof(*s0)), s1;
	for (int i = 0; s0 && i < nc; i++)
		agent_stats_sample(&v[i], &s0[i]);
	struct timespec d = { 0, AGENT_STATS_SAMPLE_MS * 1000000L };
	nanosleep(&d, NULL);
	for (int i = 0; s0 && i < nc; i++) {
		if (n || all || agent_ctr_running(&v[i])) {
			agent_stats_sample(&v[i], &s1);
			cJSON_AddItemToArray(arr, agent_stats_json(&v[i], &s0[i], &s1));
		}
	}
	for (int i = 0; i < nc; i++)
		agent_ctr_free(&v[i]);
	free(v);
	free(s0);
	return s0 ? 0 : agent_fail("stats: out of memory");
}

int agent_cmd_stats(const struct agent_opts *o, int argc, char **argv)
{
	bool no_stream = false, all = false, notrunc = false;
	const struct agent_flag flags[] = {
		{ "no-stream", 0, FLAG_BOOL, &no_stream },
		{ "all", 'a', FLAG_BOOL, &all },
		{ "no-trunc", 0, FLAG_BOOL, &notrunc },
	};
	int n = agent_flags(
		argc, argv, flags, 3,
		"Usage: berth stats [OPTIONS] [CONTAINER...]\n\n"
		"Show containers' resource usage, refreshed every second until interrupted.\n\n"
		"Options:\n"
		"  -a, --all         Show all containers (default shows just running)\n"
		"      --no-stream   Print one sample and exit\n"
		"      --no-trunc    Do not truncate output\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	/* streaming: a sample (each takes AGENT_STATS_SAMPLE_MS) about every
	 * second, the screen cleared first on a terminal, as docker stats */
	bool tty = isatty(1);
	for (;;) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		cJSON *arr = cJSON_CreateArray();
		int rc = CONFIG_DAEMON && o->host ? stats_api(o, n, argv, all, arr)
						  : stats_direct(o, n, argv, all, arr);
		if (!rc) {
			if (!no_stream && tty)
				fputs("\033[2J\033[H", stdout);
			printf("%-14s %-20s %-8s %-22s %-7s %-18s %-14s %s\n", "CONTAINER ID",
			       "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O",
			       "BLOCK I/O", "PIDS");
			const cJSON *j;
			cJSON_ArrayForEach(j, arr) stats_row(j, notrunc);
			fflush(stdout);
		}
		cJSON_Delete(arr);
		if (rc || no_stream)
			return rc;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms < 1000) {
			struct timespec d = { 0, (1000 - ms) * 1000000L };
			nanosleep(&d, NULL);
		}
	}
}

/* --- inspect --- */

cJSON *agent_container_json(const char *root, const char *ref)
{
	struct agent_ctr c;
	struct berr err = { 0 };
	if (agent_ctr_find(root, ref, &c, &err))
		return NULL;
	cJSON *j = cJSON_CreateObject();
	char t[64], p[PATH_MAX + 32];
	cJSON_AddStringToObject(j, "Id", c.id);
	cJSON_AddStringToObject(j, "Created", jstr(c.cfg, "Created"));
	cJSON_AddStringToObject(j, "Path", jstr(c.cfg, "Path"));
	cJSON_AddItemToObject(j, "Args", cJSON_Duplicate(cJSON_GetObjectItem(c.cfg, "Args"), true));
	cJSON *st = cJSON_AddObjectToObject(j, "State");
	bool running = c.st.status == RT_RUNNING;
	cJSON_AddStringToObject(st, "Status", agent_ctr_state_word(&c));
	cJSON_AddBoolToObject(st, "Running", running);
	cJSON_AddBoolToObject(st, "Paused", running && c.paused);
	cJSON_AddBoolToObject(st, "Restarting", false);
	cJSON_AddBoolToObject(st, "OOMKilled", c.st.oom_killed);
	cJSON_AddBoolToObject(st, "Dead", false);
	cJSON_AddNumberToObject(st, "Pid", running ? c.st.pid : 0);
	cJSON_AddNumberToObject(st, "ExitCode", c.st.exit_code);
	cJSON_AddStringToObject(st, "Error", c.st.error);
	fmt_time(c.st.started, t, sizeof(t));
	cJSON_AddStringToObject(st, "StartedAt", t);
	fmt_time(c.st.status == RT_EXITED ? c.st.finished : 0, t, sizeof(t));
	cJSON_AddStringToObject(st, "FinishedAt", t);
	cJSON_AddNumberToObject(st, "MonitorPid", running ? c.st.monitor : 0);
	cJSON *health = running ? agent_ctr_health(&c) : NULL;
	if (health)
		cJSON_AddItemToObject(st, "Health", health);
	cJSON_AddStringToObject(j, "Image", jstr(c.cfg, "Image"));
	static const char *const files[][2] = { { "ResolvConfPath", "resolv.conf" },
						{ "HostnamePath", "hostname" },
						{ "HostsPath", "hosts" },
						{ "LogPath", "container.log" } };
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", c.dir, files[i][1]);
		cJSON_AddStringToObject(j, files[i][0], p);
	}
	char name[AGENT_NAME_MAX + 1];
	snprintf(name, sizeof(name), "/%s", c.name);
	cJSON_AddStringToObject(j, "Name", name);
	cJSON_AddNumberToObject(j, "RestartCount", c.st.restarts);
	cJSON_AddStringToObject(j, "Driver", "overlay");
	cJSON_AddStringToObject(j, "Platform", "linux");
	cJSON_AddItemToObject(j, "HostConfig",
			      cJSON_Duplicate(cJSON_GetObjectItem(c.cfg, "HostConfig"), true));
	cJSON *mounts = cJSON_Duplicate(cJSON_GetObjectItem(c.cfg, "Mounts"), true);
	cJSON *m;
	cJSON_ArrayForEach(m, mounts)
	{
		if (strcmp(jstr(m, "Type"), "volume"))
			continue;
		agent_volume_path(root, jstr(m, "Name"), p, sizeof(p));
		cJSON_DeleteItemFromObject(m, "Source");
		cJSON_AddStringToObject(m, "Source", p);
		cJSON_AddStringToObject(m, "Driver", "local");
	}
	cJSON_AddItemToObject(j, "Mounts", mounts);
	cJSON_AddItemToObject(j, "Config",
			      cJSON_Duplicate(cJSON_GetObjectItem(c.cfg, "Config"), true));
	cJSON *ns = cJSON_AddObjectToObject(j, "NetworkSettings");
	char ip[64] = "";
	snprintf(p, sizeof(p), "%s/ip", c.dir);
	if (running && fs_read_file(p, ip, sizeof(ip), NULL) > 0)
		ip[strcspn(ip, "\n")] = '\0';
	else
		ip[0] = '\0';
	cJSON_AddStringToObject(ns, "IPAddress", ip);
	cJSON *ports = cJSON_AddObjectToObject(ns, "Ports");
	struct agent_port pt[AGENT_PORTS_MAX];
	int np = running ? agent_net_ports(&c, pt, AGENT_PORTS_MAX) : 0;
	for (int i = 0; i < np; i++) {
		char key[32], a[INET_ADDRSTRLEN], hp[8];
		snprintf(key, sizeof(key), "%u/%s", pt[i].ctr_port,
			 pt[i].proto == IPPROTO_UDP ? "udp" : "tcp");
		inet_ntop(AF_INET, &pt[i].host_ip, a, sizeof(a));
		snprintf(hp, sizeof(hp), "%u", pt[i].host_port);
		cJSON *arr = cJSON_GetObjectItem(ports, key);
		if (!arr)
			arr = cJSON_AddArrayToObject(ports, key);
		cJSON *b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "HostIp", a);
		cJSON_AddStringToObject(b, "HostPort", hp);
		cJSON_AddItemToArray(arr, b);
	}
	agent_ctr_free(&c);
	return j;
}

/* --- format --- */

static void print_value(const cJSON *v)
{
	if (!v || cJSON_IsNull(v)) {
		fputs("<no value>", stdout);
	} else if (cJSON_IsString(v)) {
		fputs(v->valuestring, stdout);
	} else if (cJSON_IsBool(v)) {
		fputs(cJSON_IsTrue(v) ? "true" : "false", stdout);
	} else if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d == (double)(long long)d)
			printf("%lld", (long long)d);
		else
			printf("%g", d);
	} else if (cJSON_IsArray(v)) {
		fputc('[', stdout);
		const cJSON *it;
		bool first = true;
		cJSON_ArrayForEach(it, v)
		{
			if (!first)
				fputc(' ', stdout);
			first = false;
			print_value(it);
		}
		fputc(']', stdout);
	} else {
		char *s = cJSON_PrintUnformatted(v);
		if (s)
			fputs(s, stdout);
		free(s);
	}
}

static const cJSON *walk(const cJSON *j, const char *path, size_t len)
{
	const char *p = path, *end = path + len;
	if (p < end && *p == '.')
		p++;
	while (p < end && j) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t kl = dot ? (size_t)(dot - p) : (size_t)(end - p);
		if (!kl)
			break;
		char key[128];
		snprintf(key, sizeof(key), "%.*s", (int)kl, p);
		j = cJSON_GetObjectItemCaseSensitive(j, key);
		p += kl + (dot ? 1 : 0);
	}
	return j;
}

void agent_print_format(const cJSON *j, const char *fmt)
{
	const char *p = fmt;
	while (*p) {
		const char *open = strstr(p, "{{");
		if (!open) {
			fputs(p, stdout);
			break;
		}
		fwrite(p, 1, (size_t)(open - p), stdout);
		const char *close = strstr(open, "}}");
		if (!close) {
			fputs(open, stdout);
			break;
		}
		const char *a = open + 2, *b = close;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		bool json = false;
		if (b - a > 5 && !strncmp(a, "json ", 5)) {
			json = true;
			a += 5;
			while (a < b && isspace((unsigned char)*a))
				a++;
		}
		const cJSON *v = walk(j, a, (size_t)(b - a));
		if (json) {
			char *s = v ? cJSON_PrintUnformatted(v) : NULL;
			fputs(s ? s : "null", stdout);
			free(s);
		} else {
			print_value(v);
		}
		p = close + 2;
	}
	fputc('\n', stdout);
}

/* --- prune and the container group --- */

cJSON *agent_containers_prune(const char *root, struct berr *err)
{
	struct agent_ctr *v;
	int n = agent_ctr_list(root, &v, err);
	if (n < 0)
		return NULL;
	cJSON *j = cJSON_CreateObject();
	cJSON *del = cJSON_AddArrayToObject(j, "ContainersDeleted");
	long long freed = 0;
	for (int i = 0; i < n; i++) {
		if (!agent_ctr_running(&v[i])) {
			long long sz = fs_du(v[i].dir);
			if (!agent_ctr_remove(root, &v[i], false, false, err)) {
				cJSON_AddItemToArray(del, cJSON_CreateString(v[i].id));
				freed += sz;
			}
		}
		agent_ctr_free(&v[i]);
	}
	free(v);
	cJSON_AddNumberToObject(j, "SpaceReclaimed", (double)freed);
	return j;
}

void agent_prune_print(const cJSON *j, const char *key, const char *title)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, key))
	{
		if (it == cJSON_GetObjectItem(j, key)->child)
			printf("%s:\n", title);
		printf("%s\n", cJSON_GetStringValue(it) ?: "");
	}
	char sz[32];
	agent_human_size((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "SpaceReclaimed")),
			 sz, sizeof(sz));
	printf("%sTotal reclaimed space: %s\n",
	       cJSON_GetArraySize(cJSON_GetObjectItem(j, key)) ? "\n" : "", sz);
}

static int container_prune(const struct agent_opts *o, int argc, char **argv)
{
	bool force = false;
	const struct agent_flag flags[] = { { "force", 'f', FLAG_BOOL, &force } };
	int n = agent_flags(argc, argv, flags, 1,
			    "Usage: berth container prune [OPTIONS]\n\n"
			    "Remove all stopped containers.\n\n"
			    "Options:\n"
			    "  -f, --force   Do not prompt for confirmation\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n > 0)
		return agent_usage("container prune: takes no arguments");
	if (!force) {
		fputs("WARNING! This will remove all stopped containers.\n"
		      "Are you sure you want to continue? [y/N] ",
		      stdout);
		fflush(stdout);
		char line[16];
		if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y'))
			return AGENT_EXIT_OK;
	}
	cJSON *j = NULL;
	struct berr err = { 0 };
	if (CONFIG_DAEMON && o->host) {
		if (agent_api_call(o, "POST", "/containers/prune", NULL, -1, &j, &err) != 200) {
			cJSON_Delete(j);
			j = NULL;
		}
	} else {
		char root[PATH_MAX];
		if (root_of(o, root, sizeof(root)))
			return AGENT_EXIT_FAIL;
		j = agent_containers_prune(root, &err);
	}
	if (!j)
		return agent_fail("container prune: %s", err.msg);
	agent_prune_print(j, "ContainersDeleted", "Deleted Containers");
	cJSON_Delete(j);
	return AGENT_EXIT_OK;
}

static int container_ls(const struct agent_opts *o, int argc, char **argv)
{
	return agent_cmd_ps(o, argc, argv);
}

static int container_inspect(const struct agent_opts *o, int argc, char **argv)
{
	const char *format = NULL;
	const struct agent_flag flags[] = { { "format", 'f', FLAG_STR, &format } };
	int n = agent_flags(argc, argv, flags, 1,
			    "Usage: berth container inspect [OPTIONS] CONTAINER [CONTAINER...]\n\n"
			    "Show containers as JSON.\n\n"
			    "Options:\n"
			    "  -f, --format string   Go-template subset: {{.State.Status}}\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n < 1)
		return agent_usage("container inspect: needs at least one container");
	char root[PATH_MAX];
	bool api = CONFIG_DAEMON && o->host;
	if (!api && root_of(o, root, sizeof(root)))
		return AGENT_EXIT_FAIL;
	int ret = AGENT_EXIT_OK;
	cJSON *arr = cJSON_CreateArray();
	for (int i = 1; i <= n; i++) {
		cJSON *j = NULL;
		if (api) {
			char enc[1024], path[1200];
			struct berr err = { 0 };
			snprintf(path, sizeof(path), "/containers/%s/json",
				 agent_api_enc(argv[i], enc, sizeof(enc)));
			int st = agent_api_call(o, "GET", path, NULL, AGENT_API_TIMEOUT_MS, &j,
						&err);
			if (st != 200 && st != 404) {
				ret = agent_fail("container inspect %s: %s", argv[i], err.msg);
				continue;
			}
		} else {
			j = agent_container_json(root, argv[i]);
		}
		if (!j)
			ret = agent_fail("container inspect: no such container: %s", argv[i]);
		else
			cJSON_AddItemToArray(arr, j);
	}
	agent_print_json_list(arr, format);
	return ret;
}

void agent_print_json_list(cJSON *arr, const char *format)
{
	if (format) {
		const cJSON *it;
		cJSON_ArrayForEach(it, arr) agent_print_format(it, format);
	} else {
		char *s = cJSON_Print(arr);
		if (s)
			printf("%s\n", s);
		free(s);
	}
	cJSON_Delete(arr);
}

int agent_cmd_container(const struct agent_opts *o, int argc, char **argv)
{
	static const struct {
		const char *name;
		agent_cmd_fn *fn;
	} sub[] = {
		{ "attach", agent_cmd_attach },   { "create", agent_cmd_create },
		{ "exec", agent_cmd_exec },       { "export", agent_cmd_export },
		{ "inspect", container_inspect }, { "kill", agent_cmd_kill },
		{ "logs", agent_cmd_logs },       { "ls", container_ls },
		{ "list", container_ls },         { "pause", agent_cmd_pause },
		{ "prune", container_prune },     { "ps", container_ls },
		{ "rename", agent_cmd_rename },   { "restart", agent_cmd_restart },
		{ "rm", agent_cmd_rm },           { "run", agent_cmd_run },
		{ "start", agent_cmd_start },     { "stats", agent_cmd_stats },
		{ "stop", agent_cmd_stop },       { "top", agent_cmd_top },
		{ "unpause", agent_cmd_unpause }, { "wait", agent_cmd_wait },
	};
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs("Usage: berth container COMMAND\n\nManage containers.\n\nCommands:\n",
		      stdout);
		for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
			printf("  %s\n", sub[i].name);
		return argc < 2 ? AGENT_EXIT_USAGE : AGENT_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
		if (!strcmp(argv[1], sub[i].name))
			return sub[i].fn(o, argc - 1, argv + 1);
	return agent_usage("container: unknown command '%s' (see 'berth container --help')",
			   argv[1]);
}

int agent_ctr_pause(struct agent_ctr *c, bool freeze, struct berr *err)
{
	agent_ctr_refresh(c);
	if (!agent_ctr_running(c))
		return berr_setmsg(err, EINVAL, "container %s is not running", c->name);
	if (freeze == c->paused)
		return berr_setmsg(err, EINVAL, "container %s is %s paused", c->name,
				   freeze ? "already" : "not");
	struct rt_cg_host h;
	struct rt_cgroup g;
	char p[PATH_MAX + 16];
	int rc = container_cgroup(c, &h, &g, err);
	if (rc)
		return rc;
	snprintf(p, sizeof(p), "%s/paused", c->dir);
	if (freeze) {
		rc = rt_cgroup_freeze(&g, true, err);
		if (!rc)
			rc = fs_write_atomic(p, "1\n", 2, 0644, err);
	} else {
		rc = rt_cgroup_freeze(&g, false, err);
		if (!rc && unlink(p) && errno != ENOENT)
			rc = berr_set(err, errno, "%s", p);
	}
	if (!rc) {
		char root[PATH_MAX];
		snprintf(root, sizeof(root), "%s", c->dir);
		for (int i = 0; i < 2; i++) {
			char *sl = strrchr(root, '/');
			if (sl)
				*sl = '\0';
		}
		agent_event_ctr(root, freeze ? "pause" : "unpause", c, NULL, NULL);
	}
	return rc;
}

static int events_print(void *arg, const char *json, size_t len)
{
	const char *format = arg;
	if (!json)
		return ferror(stdout) ? -EPIPE : 0;
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (!j)
		return 0;
	if (format) {
		agent_print_format(j, format);
	} else {
		long long ns = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "timeNano"));
		char t[64];
		fmt_time(ns, t, sizeof(t));
		const cJSON *actor = cJSON_GetObjectItem(j, "Actor");
		printf("%s %s %s %s (", t, jstr(j, "Type"), jstr(j, "Action"), jstr(actor, "ID"));
		const cJSON *a;
		bool first = true;
		cJSON_ArrayForEach(a, cJSON_GetObjectItem(actor, "Attributes"))
		{
			printf("%s%s=%s", first ? "" : ", ", a->string,
			       cJSON_IsString(a) ? a->valuestring : "");
			first = false;
		}
		printf(")\n");
	}
	cJSON_Delete(j);
	return fflush(stdout) ? -EPIPE : 0;
}

/* events through the daemon: GET /events with the same bounds and filters
 * (docker's filters JSON), each line of its stream through events_print. */
static int events_api(const struct agent_opts *o, const struct agent_events_filter *f,
		      const char *format)
{
	cJSON *fj = cJSON_CreateObject();
	for (int i = 0; i < f->n; i++) {
		cJSON *vals = cJSON_GetObjectItem(fj, f->key[i]);
		if (!vals)
			vals = cJSON_AddArrayToObject(fj, f->key[i]);
		cJSON_AddItemToArray(vals, cJSON_CreateString(f->val[i]));
	}
	char *fs = cJSON_PrintUnformatted(fj), path[4096], enc[3072];
	cJSON_Delete(fj);
	size_t used = (size_t)snprintf(path, sizeof(path), "/events?filters=%s",
				       agent_api_enc(fs ? fs : "{}", enc, sizeof(enc)));
	free(fs);
	if (f->since && used < sizeof(path))
		used += (size_t)snprintf(path + used, sizeof(path) - used, "&since=%lld.%09lld",
					 f->since / 1000000000LL, f->since % 1000000000LL);
	if (f->until && used < sizeof(path))
		snprintf(path + used, sizeof(path) - used, "&until=%lld.%09lld",
			 f->until / 1000000000LL, f->until % 1000000000LL);
	struct berr err = { 0 };
	int st = agent_api_open(o, "GET", path, NULL, -1, &err);
	if (st != 200)
		return agent_fail("events: %s", err.msg);
	char buf[16384];
	size_t len = 0;
	ssize_t n;
	while ((n = agent_api_read(buf + len, sizeof(buf) - len, &err)) > 0) {
		len += (size_t)n;
		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', len - (size_t)(start - buf)))) {
			if (events_print((void *)format, start, (size_t)(nl - start)))
				return AGENT_EXIT_OK; /* a closed pipe ends events quietly */
			start = nl + 1;
		}
		len -= (size_t)(start - buf);
		memmove(buf, start, len);
		if (len == sizeof(buf))
			len = 0; /* a line longer than any event: dropped */
	}
	return n < 0 ? agent_fail("events: %s", err.msg) : AGENT_EXIT_OK;
}

int agent_cmd_events(const struct agent_opts *o, int argc, char **argv)
{
	const char *since = NULL, *until = NULL, *format = NULL;
	struct agent_strlist filters = { 0 };
	const struct agent_flag flags[] = {
		{ "since", 0, FLAG_STR, &since },
		{ "until", 0, FLAG_STR, &until },
		{ "filter", 'f', FLAG_LIST, &filters },
		{ "format", 0, FLAG_STR, &format },
	};
	int n = agent_flags(
		argc, argv, flags, 4,
		"Usage: berth events [OPTIONS]\n\n"
		"Show events (create, start, die, destroy, pull, ...) as they happen.\n\n"
		"Options:\n"
		"  -f, --filter filter   type=, event=, container=, image=\n"
		"      --format string   Go-template subset: {{.Action}} {{.Actor.ID}}\n"
		"      --since string    Show events since a time or duration back (10m)\n"
		"      --until string    Stop at a time or duration back\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n > 0)
		return agent_usage("events: takes no arguments");
	struct agent_events_filter f = { 0 };
	struct timespec ts;
	if (since) {
		if (parse_when(since, &ts))
			return agent_usage("events: --since %s: not a time or duration", since);
		f.since = ts.tv_sec * 1000000000LL + ts.tv_nsec;
	}
	if (until) {
		if (parse_when(until, &ts))
			return agent_usage("events: --until %s: not a time or duration", until);
		f.until = ts.tv_sec * 1000000000LL + ts.tv_nsec;
	}
	static char kv[16][256];
	for (int i = 0; i < filters.n && i < 16; i++) {
		snprintf(kv[i], sizeof(kv[i]), "%s", filters.v[i]);
		char *eq = strchr(kv[i], '=');
		if (!eq)
			return agent_usage("events: --filter %s: KEY=VALUE", filters.v[i]);
		*eq = '\0';
		f.key[f.n] = kv[i];
		f.val[f.n++] = eq + 1;
	}
	if (CONFIG_DAEMON && o->host)
		return events_api(o, &f, format);
	char root[PATH_MAX];
	if (root_of(o, root, sizeof(root)))
		return AGENT_EXIT_FAIL;
	/* an --until still ahead is waited for, as the daemon's /events does */
	agent_events_read(root, &f, !f.until || f.until > rt_now_ns(), events_print,
			  (void *)format);
	return AGENT_EXIT_OK;
}
