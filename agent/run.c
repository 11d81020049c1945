/* berth run, create, start, attach: docker's flags turned into a
 * container's config.json (image config merged as docker merges it). */
#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/agent.h"
#include "agent/client.h"
#include "agent/container.h"
#include "agent/flags.h"
#include "agent/network.h"
#include "agent/run.h"
#include "agent/pull.h"
#include "agent/settings.h"
#include "board/cleanup.h"
#include "board/fs.h"
#include "config.h"
#include "runtime/container.h"
#include "runtime/log.h"
#include "store/store.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char run_usage[] =
	"Usage: berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
	"Create and run a new container from an image.\n\n"
	"Options:\n"
	"      --cap-add list       Add Linux capabilities\n"
	"      --cap-drop list      Drop Linux capabilities\n"
	"      --cpu-shares int     CPU shares (relative weight)\n"
	"      --cpus decimal       Number of CPUs\n"
	"  -d, --detach             Run in the background and print the container ID\n"
	"      --entrypoint string  Overwrite the image's ENTRYPOINT\n"
	"  -e, --env list           Set environment variables\n"
	"      --env-file list      Read environment variables from a file\n"
	"      --health-cmd string  Command to check health (CMD-SHELL)\n"
	"      --health-interval d  Time between checks (30s)\n"
	"      --health-retries int Failures in a row to be unhealthy (3)\n"
	"      --health-start-period d  Failures do not count for this long\n"
	"      --health-timeout d   Longest a check may run (30s)\n"
	"  -h, --hostname string    Container host name\n"
	"      --init               Run a tiny init as pid 1 that reaps processes\n"
	"  -i, --interactive        Keep STDIN open\n"
	"      --log-opt list       max-size=SIZE, max-file=N\n"
	"  -l, --label list         Set metadata (KEY=VALUE)\n"
	"  -m, --memory bytes       Memory limit\n"
	"      --no-healthcheck     Disable the image's HEALTHCHECK\n"
	"      --memory-swap bytes  Memory plus swap limit; -1 for unlimited swap\n"
	"      --name string        Name the container\n"
	"      --link list          Add a link to another container (NAME[:ALIAS])\n"
	"      --network string     bridge (default), none, host or container:NAME\n"
	"  -p, --publish list       Publish a port ([IP:][HOST_PORT:]PORT[/udp])\n"
	"  -P, --publish-all        Publish every EXPOSEd port on a free host port\n"
	"      --pids-limit int     Tasks limit; -1 for unlimited\n"
	"      --privileged         All capabilities, no masked paths\n"
	"      --read-only          Mount the root filesystem read-only\n"
	"      --restart string     Restart policy (applied by the daemon)\n"
	"      --rm                 Remove the container when it exits\n"
	"      --security-opt list  seccomp=unconfined: no seccomp filter\n"
	"      --stop-signal string Signal to stop the container\n"
	"      --stop-timeout int   Seconds to wait before killing it on stop\n"
	"  -t, --tty                Allocate a pseudo-TTY\n"
	"      --tmpfs list         Mount a tmpfs (PATH[:OPTIONS])\n"
	"  -u, --user string        Username or UID (format: <name|uid>[:<group|gid>])\n"
	"  -v, --volume list        Bind mount or volume (SRC:DST[:ro], NAME:DST, DST)\n"
	"      --volumes-from list  Mount volumes from a container (NAME[:ro|rw])\n"
	"  -w, --workdir string     Working directory inside the container\n";

/* Sizes as docker reads them: "512", "512k", "64m", "1g" (binary units). */
static int parse_bytes(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -1;
	double mul = 1;
	switch (tolower((unsigned char)*end)) {
	case '\0':
		break;
	case 'b':
		break;
	case 'k':
		mul = 1024.0;
		break;
	case 'm':
		mul = 1024.0 * 1024;
		break;
	case 'g':
		mul = 1024.0 * 1024 * 1024;
		break;
	default:
		return -1;
	}
	if (*end) {
		end++;
		if (tolower((unsigned char)*end) == 'b' || tolower((unsigned char)*end) == 'i')
			end++;
		if (*end)
			return -1;
	}
	/* out of int64_t's range (or NaN), the cast would be undefined */
	if (!(v * mul < 9223372036854775807.0))
		return -1;
	*out = (int64_t)(v * mul);
	return 0;
}

static cJSON *strarray(int n, char *const *v)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

/* Adds or replaces "K=V" (or K from our environment when there is no '=') in env. */
static void env_set(cJSON *env, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char buf[8192];
	if (!eq) {
		const char *v = getenv(kv);
		if (!v)
			return;
		snprintf(buf, sizeof(buf), "%s=%s", kv, v);
		kv = buf;
		eq = strchr(kv, '=');
	}
	size_t klen = (size_t)(eq - kv);
	int i = 0;
	cJSON *it;
	cJSON_ArrayForEach(it, env)
	{
		if (cJSON_IsString(it) && !strncmp(it->valuestring, kv, klen) &&
		    it->valuestring[klen] == '=') {
			cJSON_ReplaceItemInArray(env, i, cJSON_CreateString(kv));
			return;
		}
		i++;
	}
	cJSON_AddItemToArray(env, cJSON_CreateString(kv));
}

static int env_file(cJSON *env, const char *path, struct berr *err)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return berr_set(err, errno, "--env-file %s", path);
	char line[8192];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		const char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		env_set(env, p);
	}
	return 0;
}

static bool has_mount_at(cJSON *mounts, const char *dst)
{
	cJSON *m;
	cJSON_ArrayForEach(m, mounts)
	{
		const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(m, "Destination"));
		if (d && !strcmp(d, dst))
			return true;
	}
	return false;
}

static cJSON *mount_obj(const char *type, const char *name, const char *src, const char *dst,
			bool rw)
{
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "Type", type);
	if (name)
		cJSON_AddStringToObject(m, "Name", name);
	if (src)
		cJSON_AddStringToObject(m, "Source", src);
	cJSON_AddStringToObject(m, "Destination", dst);
	cJSON_AddBoolToObject(m, "RW", rw);
	return m;
}

static void anon_name(char out[65])
{
	FILE *f = fopen("/proc/sys/kernel/random/uuid", "re");
	char u[64] = "";
	if (f) {
		if (!fgets(u, sizeof(u), f))
			u[0] = '\0';
		fclose(f);
	}
	int j = 0;
	for (int i = 0; u[i] && j < 32; i++)
		if (isxdigit((unsigned char)u[i]))
			out[j++] = u[i];
	for (int i = 0; j < 64; i++)
		out[j++] = "0123456789abcdef"[(rt_now_ns() >> (i % 60)) & 15];
	out[64] = '\0';
}

static bool abs_clean(const char *p)
{
	return p[0] == '/' && !strstr(p, "/../") &&
	       strcmp(p + strlen(p) - (strlen(p) > 2 ? 3 : 0), "/..");
}

/* -v SRC:DST[:ro|rw], NAME:DST[:opts], DST. */
static int add_volume(const char *root, cJSON *mounts, const char *spec, struct berr *err)
{
	char buf[PATH_MAX * 2];
	snprintf(buf, sizeof(buf), "%s", spec);
	char *part[3] = { buf, NULL, NULL };
	int n = 1;
	for (char *p = buf; *p && n < 3; p++)
		if (*p == ':') {
			*p = '\0';
			part[n++] = p + 1;
		}
	/* the mode: ro or rw, and nocopy, comma-separated as docker takes them */
	bool rw = true, copy = true;
	for (char *m = n == 3 ? part[2] : NULL, *next; m; m = next) {
		next = strchr(m, ',');
		if (next)
			*next++ = '\0';
		if (!strcmp(m, "ro"))
			rw = false;
		else if (!strcmp(m, "nocopy"))
			copy = false;
		else if (strcmp(m, "rw") && strcmp(m, "z") && strcmp(m, "Z"))
			return berr_setmsg(err, EINVAL,
					   "-v %s: unknown mode '%s' (ro, rw or nocopy)", spec, m);
	}
	struct berr e2 = { 0 };
	if (n == 1) {
		if (!abs_clean(part[0]))
			return berr_setmsg(err, EINVAL,
					   "-v %s: the path in the container must be absolute",
					   spec);
		char name[65];
		anon_name(name);
		if (agent_volume_create(root, name, true, &e2))
			return berr_setmsg(err, EINVAL, "volume %s: %s", spec, e2.msg);
		cJSON *m = mount_obj("volume", name, NULL, part[0], true);
		cJSON_AddBoolToObject(m, "Anonymous", true);
		cJSON_AddBoolToObject(m, "CopyUp", true);
		cJSON_AddItemToArray(mounts, m);
		return 0;
	}
	const char *src = part[0], *dst = part[1];
	if (!abs_clean(dst))
		return berr_setmsg(err, EINVAL, "-v %s: the path in the container must be absolute",
				   spec);
	if (has_mount_at(mounts, dst))
		return berr_setmsg(err, EINVAL, "-v %s: duplicate mount point %s", spec, dst);
	if (src[0] == '/') {
		struct stat st;
		if (stat(src, &st))
			return berr_setmsg(err, EINVAL, "volume %s: host path %s: %s", spec, src,
					   strerror(errno));
		char real[PATH_MAX];
		if (!copy)
			return berr_setmsg(err, EINVAL,
					   "-v %s: nocopy is for volumes, not host paths", spec);
		if (!realpath(src, real))
			return berr_setmsg(err, EINVAL, "volume %s: %s", spec, strerror(errno));
		cJSON_AddItemToArray(mounts, mount_obj("bind", NULL, real, dst, rw));
		return 0;
	}
	if (!agent_volume_name_ok(src))
		return berr_setmsg(err, EINVAL,
				   "-v %s: '%s' is neither an absolute host path nor a volume name",
				   spec, src);
	if (agent_volume_create(root, src, false, &e2))
		return berr_setmsg(err, EINVAL, "volume %s: %s", spec, e2.msg);
	cJSON *m = mount_obj("volume", src, NULL, dst, rw);
	cJSON_AddBoolToObject(m, "CopyUp", copy);
	cJSON_AddItemToArray(mounts, m);
	return 0;
}

static int volumes_from(const char *root, cJSON *mounts, const char *spec, struct berr *err)
{
	char name[AGENT_NAME_MAX + 8];
	snprintf(name, sizeof(name), "%s", spec);
	char *mode = strchr(name, ':');
	int force_rw = -1;
	if (mode) {
		*mode++ = '\0';
		if (!strcmp(mode, "ro"))
			force_rw = 0;
		else if (!strcmp(mode, "rw"))
			force_rw = 1;
		else
			return berr_setmsg(err, EINVAL, "--volumes-from %s: unknown mode '%s'",
					   spec, mode);
	}
	struct agent_ctr o;
	struct berr e2 = { 0 };
	if (agent_ctr_find(root, name, &o, &e2))
		return berr_setmsg(err, EINVAL, "--volumes-from %s: %s", spec, e2.msg);
	cJSON *m;
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(o.cfg, "Mounts"))
	{
		const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(m, "Type"));
		const char *dst = cJSON_GetStringValue(cJSON_GetObjectItem(m, "Destination"));
		if (!type || !dst || !strcmp(type, "tmpfs") || has_mount_at(mounts, dst))
			continue;
		cJSON *c = cJSON_Duplicate(m, true);
		cJSON_DeleteItemFromObject(c, "Anonymous"); /* belongs to the other container */
		cJSON_DeleteItemFromObject(c, "CopyUp"); /* filled, if at all, by the other one */
		if (force_rw >= 0) {
			cJSON_DeleteItemFromObject(c, "RW");
			cJSON_AddBoolToObject(c, "RW", force_rw);
		}
		cJSON_AddItemToArray(mounts, c);
	}
	agent_ctr_free(&o);
	return 0;
}

static int caps_mask(const struct run_flags *f, uint64_t *mask, struct berr *err)
{
	uint64_t m = rt_caps_default();
	struct berr e2 = { 0 };
	for (int i = 0; i < f->cap_drop.n; i++) {
		uint64_t c = rt_caps_parse(f->cap_drop.v[i], &e2);
		if (!c)
			return berr_setmsg(err, EINVAL, "--cap-drop: %s", e2.msg);
		m &= ~c;
	}
	for (int i = 0; i < f->cap_add.n; i++) {
		uint64_t c = rt_caps_parse(f->cap_add.v[i], &e2);
		if (!c)
			return berr_setmsg(err, EINVAL, "--cap-add: %s", e2.msg);
		m |= c;
	}
	*mask = m;
	return 0;
}

/* Durations as docker takes them: "30s", "1m30s", "500ms", "2h". */
static int parse_duration(const char *s, double *ns)
{
	double total = 0;
	const char *p = s;
	if (!*p)
		return -1;
	while (*p) {
		char *e;
		double v = strtod(p, &e);
		if (e == p || v < 0)
			return -1;
		if (!strncmp(e, "ms", 2))
			total += v * 1e6, e += 2;
		else if (!strncmp(e, "us", 2))
			total += v * 1e3, e += 2;
		else if (!strncmp(e, "ns", 2))
			total += v, e += 2;
		else if (*e == 's')
			total += v * 1e9, e++;
		else if (*e == 'm')
			total += v * 60e9, e++;
		else if (*e == 'h')
			total += v * 3600e9, e++;
		else
			return -1;
		p = e;
	}
	*ns = total;
	return 0;
}

/* --health-* flags over the image's HEALTHCHECK. */
static int health_flags(const struct run_flags *f, cJSON **hc, struct berr *err)
{
	if (f->no_healthcheck) {
		cJSON_Delete(*hc);
		*hc = cJSON_CreateObject();
		cJSON *t = cJSON_AddArrayToObject(*hc, "Test");
		cJSON_AddItemToArray(t, cJSON_CreateString("NONE"));
		return 0;
	}
	if (!f->health_cmd && !f->health_interval && !f->health_timeout &&
	    !f->health_start_period && !f->health_retries)
		return 0;
	if (!*hc)
		*hc = cJSON_CreateObject();
	if (f->health_cmd) {
		cJSON_DeleteItemFromObject(*hc, "Test");
		cJSON *t = cJSON_AddArrayToObject(*hc, "Test");
		cJSON_AddItemToArray(t, cJSON_CreateString("CMD-SHELL"));
		cJSON_AddItemToArray(t, cJSON_CreateString(f->health_cmd));
	}
	const char *names[] = { "Interval", "Timeout", "StartPeriod" };
	const char *vals[] = { f->health_interval, f->health_timeout, f->health_start_period };
	for (int i = 0; i < 3; i++) {
		double ns;
		if (!vals[i])
			continue;
		if (parse_duration(vals[i], &ns) || (i < 2 && ns < 1e6))
			return berr_setmsg(err, EINVAL, "--health-%s %s: not a duration like 30s",
					   i == 0   ? "interval"
					   : i == 1 ? "timeout"
						    : "start-period",
					   vals[i]);
		cJSON_DeleteItemFromObject(*hc, names[i]);
		cJSON_AddNumberToObject(*hc, names[i], ns);
	}
	if (f->health_retries < 0)
		return berr_setmsg(err, EINVAL, "--health-retries %d: must be positive",
				   f->health_retries);
	if (f->health_retries) {
		cJSON_DeleteItemFromObject(*hc, "Retries");
		cJSON_AddNumberToObject(*hc, "Retries", f->health_retries);
	}
	return 0;
}

/* The image's config section (Env, Cmd, Entrypoint, ...) from the store. */
static cJSON *image_config(const struct store *st, const char *id, struct berr *err)
{
	_cleanup_free_ char *buf = NULL;
	ssize_t n = store_blob_get(st, id, 4 << 20, &buf, err);
	if (n < 0)
		return NULL;
	cJSON *doc = cJSON_ParseWithLength(buf, (size_t)n);
	if (!doc) {
		berr_setmsg(err, EBADMSG, "image config %s is not valid JSON", id);
		return NULL;
	}
	cJSON *c = cJSON_DetachItemFromObject(doc, "config");
	cJSON_Delete(doc);
	return c ? c : cJSON_CreateObject();
}

/* -m, --memory-swap and --cpus as numbers (0 when not given), checked. */
static int limit_flags(const struct run_flags *f, int64_t *mem, int64_t *swap, double *cpus,
		       struct berr *err)
{
	*mem = *swap = 0;
	*cpus = 0;
	if (f->memory && (parse_bytes(f->memory, mem) || *mem < 6 * 1024 * 1024))
		return berr_setmsg(err, EINVAL,
				   "--memory %s: needs a size of at least 6MB (like 64m)",
				   f->memory);
	if (f->memory_swap) {
		if (!strcmp(f->memory_swap, "-1"))
			*swap = -1;
		else if (parse_bytes(f->memory_swap, swap))
			return berr_setmsg(err, EINVAL, "--memory-swap %s: not a size",
					   f->memory_swap);
		else if (!*mem)
			return berr_setmsg(err, EINVAL, "--memory-swap needs --memory");
		else if (*swap < *mem)
			return berr_setmsg(err, EINVAL, "--memory-swap must be at least --memory");
	}
	if (f->cpus) {
		char *end;
		*cpus = strtod(f->cpus, &end);
		if (*end || end == f->cpus || *cpus <= 0 || *cpus > 1024)
			return berr_setmsg(err, EINVAL, "--cpus %s: needs a positive number",
					   f->cpus);
	}
	if (f->pids_set && f->pids_limit == 0)
		return berr_setmsg(err, EINVAL, "--pids-limit 0: use -1 for unlimited");
	return 0;
}

/* Finds the image, pulling it when it is not in the store (as docker run). */
static int find_image(const struct agent_config *cfg, const char *root, const char *ref,
		      char id[DIGEST_STR_MAX], cJSON **icfg)
{
	struct store st;
	struct berr err = { 0 };
	int rc = store_open(&st, root, STORE_READ, &err);
	if (!rc) {
		rc = agent_image_resolve(&st, ref, id, &err);
		store_close(&st);
	}
	if (rc == -ENOENT) {
		fprintf(stderr, "Unable to find image '%s' locally\n", ref);
		struct agent_pull_opts po = { .root = root, .cfg = cfg, .out = stderr };
		store_platform_host(&po.platform);
		berr_clear(&err);
		rc = agent_pull(&po, ref, id, &err);
	}
	if (!rc)
		rc = store_open(&st, root, STORE_READ, &err);
	if (rc)
		return agent_fail("%s", err.msg);
	*icfg = image_config(&st, id, &err);
	store_close(&st);
	if (!*icfg)
		return agent_fail("image %s: %s", ref, err.msg);
	return 0;
}

static cJSON *jarr_or_null(cJSON *o, const char *k)
{
	cJSON *a = cJSON_GetObjectItem(o, k);
	return cJSON_IsArray(a) ? a : NULL;
}

/* Builds config.json from the flags and the image. */
static int build_config(const char *root, struct run_flags *f, const char *image, int argc,
			char **argv, const char *id, cJSON *icfg, cJSON **out, struct berr *err)
{
	cJSON *cfg = cJSON_CreateObject();
	cJSON *cc = cJSON_AddObjectToObject(cfg, "Config");
	cJSON *hc = cJSON_AddObjectToObject(cfg, "HostConfig");
	cJSON *mounts = cJSON_AddArrayToObject(cfg, "Mounts");
	int rc = 0;
	*out = NULL;

	long long now = rt_now_ns();
	char when[64];
	time_t t = (time_t)(now / 1000000000LL);
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%09lldZ", now % 1000000000LL);
	cJSON_AddStringToObject(cfg, "Created", when);
	cJSON_AddNumberToObject(cfg, "CreatedNs", (double)now);
	cJSON_AddStringToObject(cfg, "Image", id);
	if (f->name)
		cJSON_AddStringToObject(cfg, "Name", f->name);

	/* environment: the image's, then --env-file, then -e */
	cJSON *env = cJSON_Duplicate(jarr_or_null(icfg, "Env"), true);
	if (!env)
		env = cJSON_CreateArray();
	bool has_path = false;
	cJSON *it;
	cJSON_ArrayForEach(it, env) has_path |=
		cJSON_IsString(it) && !strncmp(it->valuestring, "PATH=", 5);
	if (!has_path)
		cJSON_InsertItemInArray(env, 0, cJSON_CreateString(DEFAULT_PATH));
	if (f->tty)
		env_set(env, "TERM=xterm");
	for (int i = 0; !rc && i < f->env_file.n; i++)
		rc = env_file(env, f->env_file.v[i], err);
	for (int i = 0; i < f->env.n; i++)
		env_set(env, f->env.v[i]);
	cJSON_AddStringToObject(cc, "Hostname", f->hostname ? f->hostname : "");
	cJSON_AddItemToObject(cc, "Env", env);

	/* command: entrypoint + cmd, docker's rules */
	cJSON *ep = NULL, *cmd = NULL;
	if (f->entrypoint_v) {
		ep = cJSON_Duplicate(f->entrypoint_v, true);
	} else if (f->entrypoint) {
		ep = cJSON_CreateArray();
		if (*f->entrypoint)
			cJSON_AddItemToArray(ep, cJSON_CreateString(f->entrypoint));
	} else {
		ep = cJSON_Duplicate(jarr_or_null(icfg, "Entrypoint"), true);
	}
	if (argc > 0)
		cmd = strarray(argc, argv);
	else if (!f->entrypoint && !f->entrypoint_v)
		cmd = cJSON_Duplicate(jarr_or_null(icfg, "Cmd"), true);
	cJSON *full = cJSON_CreateArray();
	cJSON_ArrayForEach(it, ep) cJSON_AddItemToArray(full, cJSON_Duplicate(it, false));
	cJSON_ArrayForEach(it, cmd) cJSON_AddItemToArray(full, cJSON_Duplicate(it, false));
	if (!rc && !cJSON_GetArraySize(full))
		rc = berr_setmsg(
			err, EINVAL,
			"run %s: no command specified (the image has no CMD or ENTRYPOINT)", image);
	if (!rc) {
		cJSON *first = cJSON_DetachItemFromArray(full, 0);
		cJSON_AddItemToObject(cfg, "Path", first);
	}
	cJSON_AddItemToObject(cfg, "Args", full);
	cJSON_AddItemToObject(cc, "Cmd", cmd ? cmd : cJSON_CreateNull());
	cJSON_AddItemToObject(cc, "Entrypoint", ep ? ep : cJSON_CreateNull());
	cJSON_AddStringToObject(cc, "Image", image);
	const char *wd = f->workdir ? f->workdir
				    : cJSON_GetStringValue(cJSON_GetObjectItem(icfg, "WorkingDir"));
	if (wd && *wd && wd[0] != '/' && !rc)
		rc = berr_setmsg(err, EINVAL, "the working directory '%s' is not an absolute path",
				 wd);
	cJSON_AddStringToObject(cc, "WorkingDir", wd ? wd : "");
	const char *user =
		f->user ? f->user : cJSON_GetStringValue(cJSON_GetObjectItem(icfg, "User"));
	cJSON_AddStringToObject(cc, "User", user ? user : "");
	cJSON_AddBoolToObject(cc, "Tty", f->tty);
	cJSON_AddBoolToObject(cc, "OpenStdin", f->interactive);
	cJSON_AddBoolToObject(cc, "AttachStdin", f->interactive && !f->detach);
	cJSON_AddBoolToObject(cc, "AttachStdout", !f->detach);
	cJSON_AddBoolToObject(cc, "AttachStderr", !f->detach);
	const char *ss = f->stop_signal
				 ? f->stop_signal
				 : cJSON_GetStringValue(cJSON_GetObjectItem(icfg, "StopSignal"));
	if (ss && !agent_signal_parse(ss) && !rc)
		rc = berr_setmsg(err, EINVAL, "--stop-signal: unknown signal '%s'", ss);
	cJSON_AddStringToObject(cc, "StopSignal", ss ? ss : "SIGTERM");
	if (f->stop_timeout >= 0)
		cJSON_AddNumberToObject(cc, "StopTimeout", f->stop_timeout);
	cJSON *labels = cJSON_Duplicate(cJSON_GetObjectItem(icfg, "Labels"), true);
	if (!cJSON_IsObject(labels)) {
		cJSON_Delete(labels);
		labels = cJSON_CreateObject();
	}
	for (int i = 0; i < f->labels.n; i++) {
		char k[256];
		snprintf(k, sizeof(k), "%s", f->labels.v[i]);
		char *eq = strchr(k, '=');
		if (eq)
			*eq = '\0';
		cJSON_DeleteItemFromObject(labels, k);
		cJSON_AddStringToObject(labels, k, eq ? f->labels.v[i] + (eq - k) + 1 : "");
	}
	cJSON_AddItemToObject(cc, "Labels", labels);
	cJSON *hcheck = cJSON_Duplicate(cJSON_GetObjectItem(icfg, "Healthcheck"), true);
	if (!rc)
		rc = health_flags(f, &hcheck, err);
	if (hcheck)
		cJSON_AddItemToObject(cc, "Healthcheck", hcheck);
	cJSON *exposed = cJSON_GetObjectItem(icfg, "ExposedPorts");
	if (exposed)
		cJSON_AddItemToObject(cc, "ExposedPorts", cJSON_Duplicate(exposed, true));

	/* mounts: -v, --volumes-from, --tmpfs, then the image's VOLUMEs not covered */
	for (int i = 0; !rc && i < f->volumes.n; i++)
		rc = add_volume(root, mounts, f->volumes.v[i], err);
	for (int i = 0; !rc && i < f->volumes_from.n; i++)
		rc = volumes_from(root, mounts, f->volumes_from.v[i], err);
	for (int i = 0; !rc && i < f->tmpfs.n; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s", f->tmpfs.v[i]);
		char *opts = strchr(p, ':');
		if (opts)
			*opts++ = '\0';
		if (!abs_clean(p)) {
			rc = berr_setmsg(err, EINVAL, "--tmpfs %s: the path must be absolute",
					 f->tmpfs.v[i]);
			break;
		}
		if (has_mount_at(mounts, p)) {
			rc = berr_setmsg(err, EINVAL, "--tmpfs %s: duplicate mount point",
					 f->tmpfs.v[i]);
			break;
		}
		cJSON *m = mount_obj("tmpfs", NULL, NULL, p, !(opts && strstr(opts, "ro")));
		cJSON_AddStringToObject(m, "Options", opts ? opts : "");
		cJSON_AddItemToArray(mounts, m);
	}
	cJSON *iv = cJSON_GetObjectItem(icfg, "Volumes");
	cJSON *v;
	cJSON_ArrayForEach(v, iv)
	{
		if (rc || !v->string || has_mount_at(mounts, v->string))
			continue;
		rc = add_volume(root, mounts, v->string, err);
	}
	cJSON_AddItemToObject(cc, "Volumes", iv ? cJSON_Duplicate(iv, true) : cJSON_CreateNull());

	/* host config */
	uint64_t caps = 0;
	if (!rc)
		rc = caps_mask(f, &caps, err);
	char hex[32];
	snprintf(hex, sizeof(hex), "%llx", (unsigned long long)caps);
	cJSON_AddStringToObject(hc, "CapMask", hex);
	cJSON_AddItemToObject(hc, "CapAdd", strarray(f->cap_add.n, (char **)f->cap_add.v));
	cJSON_AddItemToObject(hc, "CapDrop", strarray(f->cap_drop.n, (char **)f->cap_drop.v));
	cJSON_AddBoolToObject(hc, "AutoRemove", f->rm);
	cJSON_AddBoolToObject(hc, "Privileged", f->privileged);
	cJSON_AddBoolToObject(hc, "ReadonlyRootfs", f->read_only);
	cJSON_AddBoolToObject(hc, "Init", f->init);
	/* seccomp=unconfined, and docker's no-new-privileges (always so here) */
	cJSON *so = cJSON_AddArrayToObject(hc, "SecurityOpt");
	for (int i = 0; !rc && i < f->security_opt.n; i++) {
		const char *o = f->security_opt.v[i];
		if (strcmp(o, "seccomp=unconfined") && strcmp(o, "seccomp:unconfined") &&
		    strcmp(o, "no-new-privileges") && strcmp(o, "no-new-privileges=true") &&
		    strcmp(o, "no-new-privileges:true"))
			rc = berr_setmsg(
				err, EINVAL,
				"--security-opt %s: only seccomp=unconfined and no-new-privileges",
				o);
		else
			cJSON_AddItemToArray(so, cJSON_CreateString(o));
	}
	const char *net = f->network ? f->network : "default";
	if (!strcmp(net, "default"))
		net = "bridge";
	if (!rc && strcmp(net, "none") && strcmp(net, "host") && strcmp(net, "bridge") &&
	    (strncmp(net, "container:", 10) || !net[10]))
		rc = berr_setmsg(err, EINVAL, "--network %s: bridge, none, host or container:NAME",
				 net);
	cJSON_AddStringToObject(hc, "NetworkMode", net);
	cJSON *ports = cJSON_AddArrayToObject(hc, "Ports");
	for (int i = 0; !rc && i < f->publish.n; i++) {
		struct agent_port pt;
		struct berr pe = { 0 };
		if (agent_port_parse(f->publish.v[i], &pt, &pe))
			rc = berr_setmsg(err, EINVAL, "-p: %s", pe.msg);
		else
			cJSON_AddItemToArray(ports, cJSON_CreateString(f->publish.v[i]));
	}
	cJSON_AddBoolToObject(hc, "PublishAllPorts", f->publish_all);
	if (!rc && (f->publish.n || f->publish_all) && strcmp(net, "bridge")) {
		if (!strcmp(net, "host"))
			fprintf(stderr,
				"WARNING: Published ports are discarded when using host network mode\n");
		else
			rc = berr_setmsg(err, EINVAL, "publishing ports needs --network bridge");
	}
	if (!rc && (f->publish.n || f->publish_all) && !CONFIG_NETWORK)
		rc = berr_setmsg(
			err, EINVAL,
			"publishing ports needs bridge networking, which this build leaves out (CONFIG_NETWORK)");
	cJSON *links = cJSON_AddArrayToObject(hc, "Links");
	for (int i = 0; !rc && i < f->links.n; i++) {
		if (strcmp(net, "bridge"))
			rc = berr_setmsg(err, EINVAL, "--link needs --network bridge");
		else
			cJSON_AddItemToArray(links, cJSON_CreateString(f->links.v[i]));
	}
	for (int i = 0; !rc && i < f->expose.n; i++) {
		struct agent_port pt;
		struct berr pe = { 0 };
		char key[32];
		if (agent_port_parse(f->expose.v[i], &pt, &pe) || pt.host_port) {
			rc = berr_setmsg(err, EINVAL, "--expose %s: PORT[/tcp|/udp]",
					 f->expose.v[i]);
			break;
		}
		cJSON *ex = cJSON_GetObjectItem(cc, "ExposedPorts");
		if (!ex)
			ex = cJSON_AddObjectToObject(cc, "ExposedPorts");
		snprintf(key, sizeof(key), "%u/%s", pt.ctr_port,
			 pt.proto == IPPROTO_UDP ? "udp" : "tcp");
		if (!cJSON_GetObjectItem(ex, key))
			cJSON_AddObjectToObject(ex, key);
	}
	int64_t mem = 0, swap = 0;
	double cpus = 0;
	if (!rc)
		rc = limit_flags(f, &mem, &swap, &cpus, err);
	cJSON_AddNumberToObject(hc, "Memory", (double)mem);
	cJSON_AddNumberToObject(hc, "MemorySwap", (double)swap);
	cJSON_AddNumberToObject(hc, "NanoCpus", cpus * 1e9);
	if (!rc && f->cpu_shares && (f->cpu_shares < 2 || f->cpu_shares > 262144))
		rc = berr_setmsg(err, EINVAL, "--cpu-shares %d: out of range 2..262144",
				 f->cpu_shares);
	cJSON_AddNumberToObject(hc, "CpuShares", f->cpu_shares);
	cJSON_AddNumberToObject(hc, "PidsLimit", f->pids_set ? f->pids_limit : 0);
	const char *rs = f->restart ? f->restart : "no";
	if (!rc && strcmp(rs, "no") && strcmp(rs, "always") && strcmp(rs, "unless-stopped") &&
	    strncmp(rs, "on-failure", 10))
		rc = berr_setmsg(err, EINVAL,
				 "--restart %s: no, always, unless-stopped or on-failure[:N]", rs);
	if (!rc && f->rm && strcmp(rs, "no"))
		rc = berr_setmsg(err, EINVAL, "--restart and --rm conflict");
	cJSON *rp = cJSON_AddObjectToObject(hc, "RestartPolicy");
	cJSON_AddStringToObject(rp, "Name", strncmp(rs, "on-failure", 10) ? rs : "on-failure");
	cJSON_AddNumberToObject(rp, "MaximumRetryCount",
				!strncmp(rs, "on-failure:", 11) ? atoi(rs + 11) : 0);
	int64_t log_size = RT_LOG_DEFAULT_SIZE;
	int log_files = RT_LOG_DEFAULT_FILES;
	/* --log-opt max-size=4k --log-opt max-file=2, or comma-separated in one */
	for (int i = 0; !rc && i < f->log_opt.n; i++) {
		for (const char *p = f->log_opt.v[i]; !rc && *p;) {
			char lo[256];
			size_t l = strcspn(p, ",");
			snprintf(lo, sizeof(lo), "%.*s", (int)l, p);
			p += l + (p[l] == ',');
			int64_t x;
			if (!strncmp(lo, "max-size=", 9) && !parse_bytes(lo + 9, &x) && x >= 4096)
				log_size = x;
			else if (!strncmp(lo, "max-file=", 9) && atoi(lo + 9) >= 1 &&
				 atoi(lo + 9) <= 100)
				log_files = atoi(lo + 9);
			else
				rc = berr_setmsg(
					err, EINVAL,
					"--log-opt %s: max-size=SIZE (>= 4k) or max-file=1..100",
					lo);
		}
	}
	cJSON_AddNumberToObject(hc, "LogMaxSize", (double)log_size);
	cJSON_AddNumberToObject(hc, "LogMaxFile", log_files);
	if (rc) {
		/* anonymous volumes made for this container go with it */
		cJSON *m;
		cJSON_ArrayForEach(m, mounts) if (cJSON_IsTrue(cJSON_GetObjectItem(m, "Anonymous")))
		{
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "%s/volumes/%s", root,
				 cJSON_GetStringValue(cJSON_GetObjectItem(m, "Name")));
			fs_rm_rf(p, &(struct berr){ 0 });
		}
		cJSON_Delete(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

static int parse_run(int argc, char **argv, struct run_flags *f, const char *usage)
{
	memset(f, 0, sizeof(*f));
	f->stop_timeout = -1;
	f->pids_limit = 0;
	const struct agent_flag flags[] = {
		{ "detach", 'd', FLAG_BOOL, &f->detach },
		{ "interactive", 'i', FLAG_BOOL, &f->interactive },
		{ "tty", 't', FLAG_BOOL, &f->tty },
		{ "rm", 0, FLAG_BOOL, &f->rm },
		{ "read-only", 0, FLAG_BOOL, &f->read_only },
		{ "privileged", 0, FLAG_BOOL, &f->privileged },
		{ "init", 0, FLAG_BOOL, &f->init },
		{ "publish-all", 'P', FLAG_BOOL, &f->publish_all },
		{ "name", 0, FLAG_STR, &f->name },
		{ "entrypoint", 0, FLAG_STR, &f->entrypoint },
		{ "workdir", 'w', FLAG_STR, &f->workdir },
		{ "user", 'u', FLAG_STR, &f->user },
		{ "hostname", 'h', FLAG_STR, &f->hostname },
		{ "memory", 'm', FLAG_STR, &f->memory },
		{ "memory-swap", 0, FLAG_STR, &f->memory_swap },
		{ "cpus", 0, FLAG_STR, &f->cpus },
		{ "cpu-shares", 'c', FLAG_INT, &f->cpu_shares },
		{ "pids-limit", 0, FLAG_INT, &f->pids_limit },
		{ "restart", 0, FLAG_STR, &f->restart },
		{ "network", 0, FLAG_STR, &f->network },
		{ "net", 0, FLAG_STR, &f->network },
		{ "pull", 0, FLAG_STR, &f->pull },
		{ "platform", 0, FLAG_STR, &f->platform },
		{ "stop-signal", 0, FLAG_STR, &f->stop_signal },
		{ "stop-timeout", 0, FLAG_INT, &f->stop_timeout },
		{ "env", 'e', FLAG_LIST, &f->env },
		{ "env-file", 0, FLAG_LIST, &f->env_file },
		{ "volume", 'v', FLAG_LIST, &f->volumes },
		{ "volumes-from", 0, FLAG_LIST, &f->volumes_from },
		{ "tmpfs", 0, FLAG_LIST, &f->tmpfs },
		{ "cap-add", 0, FLAG_LIST, &f->cap_add },
		{ "cap-drop", 0, FLAG_LIST, &f->cap_drop },
		{ "log-opt", 0, FLAG_LIST, &f->log_opt },
		{ "publish", 'p', FLAG_LIST, &f->publish },
		{ "label", 'l', FLAG_LIST, &f->labels },
		{ "attach", 'a', FLAG_LIST, &f->attach },
		{ "expose", 0, FLAG_LIST, &f->expose },
		{ "link", 0, FLAG_LIST, &f->links },
		{ "security-opt", 0, FLAG_LIST, &f->security_opt },
		{ "health-cmd", 0, FLAG_STR, &f->health_cmd },
		{ "health-interval", 0, FLAG_STR, &f->health_interval },
		{ "health-timeout", 0, FLAG_STR, &f->health_timeout },
		{ "health-start-period", 0, FLAG_STR, &f->health_start_period },
		{ "health-retries", 0, FLAG_INT, &f->health_retries },
		{ "no-healthcheck", 0, FLAG_BOOL, &f->no_healthcheck },
	};
	/* -h is --hostname here, as in docker run; --help prints usage */
	f->pids_limit = INT_MIN;
	int n = agent_flags_head(argc, argv, flags, (int)(sizeof(flags) / sizeof(flags[0])), usage);
	f->pids_set = f->pids_limit != INT_MIN;
	if (!f->pids_set)
		f->pids_limit = 0;
	return n;
}

int agent_run_config(const char *root, struct run_flags *f, const char *image, int argc,
		     char **argv, cJSON **out, struct berr *err)
{
	struct store st;
	char id[DIGEST_STR_MAX];
	int rc = store_open(&st, root, STORE_READ, err);
	if (rc)
		return rc == -ENOENT ? berr_setmsg(err, ENOENT, "No such image: %s", image) : rc;
	rc = agent_image_resolve(&st, image, id, err);
	cJSON *icfg = rc ? NULL : image_config(&st, id, err);
	store_close(&st);
	if (rc)
		return rc;
	if (!icfg)
		return -(err->code ? err->code : EIO);
	rc = build_config(root, f, image, argc, argv, id, icfg, out, err);
	cJSON_Delete(icfg);
	return rc;
}

/* The flags as docker's create body: the daemon builds the container from it
 * with the same builder (agent/api.c's create_flags reads it back). What
 * needs our side is done here: --env-file is read and "-e K" takes K's value
 * from our environment, as the docker CLI does. */
static cJSON *create_body(const struct run_flags *f, const char *image, int argc, char **argv,
			  struct berr *err)
{
	int64_t mem, swap;
	double cpus;
	cJSON *hcheck = NULL;
	if (limit_flags(f, &mem, &swap, &cpus, err) || health_flags(f, &hcheck, err))
		return NULL;
	cJSON *b = cJSON_CreateObject();
	cJSON *hc = cJSON_AddObjectToObject(b, "HostConfig");
	cJSON_AddStringToObject(b, "Image", image);
	if (argc)
		cJSON_AddItemToObject(b, "Cmd", strarray(argc, argv));
	const char *sk[] = { "Entrypoint", "Hostname", "User", "WorkingDir", "StopSignal" };
	const char *sv[] = { f->entrypoint, f->hostname, f->user, f->workdir, f->stop_signal };
	for (int i = 0; i < 5; i++)
		if (sv[i])
			cJSON_AddStringToObject(b, sk[i], sv[i]);
	if (f->stop_timeout >= 0)
		cJSON_AddNumberToObject(b, "StopTimeout", f->stop_timeout);
	cJSON_AddBoolToObject(b, "Tty", f->tty);
	cJSON_AddBoolToObject(b, "OpenStdin", f->interactive);
	cJSON_AddBoolToObject(b, "StdinOnce", f->interactive);
	cJSON_AddBoolToObject(b, "AttachStdin", f->interactive && !f->detach);
	cJSON_AddBoolToObject(b, "AttachStdout", !f->detach);
	cJSON_AddBoolToObject(b, "AttachStderr", !f->detach);
	cJSON *env = cJSON_AddArrayToObject(b, "Env");
	int rc = 0;
	for (int i = 0; !rc && i < f->env_file.n; i++)
		rc = env_file(env, f->env_file.v[i], err);
	for (int i = 0; i < f->env.n; i++)
		env_set(env, f->env.v[i]);
	cJSON *labels = cJSON_AddObjectToObject(b, "Labels");
	for (int i = 0; i < f->labels.n; i++) {
		const char *l = f->labels.v[i], *eq = strchr(l, '=');
		char k[256];
		snprintf(k, sizeof(k), "%.*s", eq ? (int)(eq - l) : (int)strlen(l), l);
		cJSON_DeleteItemFromObject(labels, k);
		cJSON_AddStringToObject(labels, k, eq ? eq + 1 : "");
	}
	if (hcheck)
		cJSON_AddItemToObject(b, "Healthcheck", hcheck);
	cJSON *ex = cJSON_AddObjectToObject(b, "ExposedPorts");
	for (int i = 0; i < f->expose.n; i++)
		if (!cJSON_GetObjectItem(ex, f->expose.v[i]))
			cJSON_AddObjectToObject(ex, f->expose.v[i]);
	const struct agent_strlist *lists[] = { &f->volumes,  &f->volumes_from, &f->cap_add,
						&f->cap_drop, &f->links,        &f->security_opt };
	const char *lk[] = { "Binds", "VolumesFrom", "CapAdd", "CapDrop", "Links", "SecurityOpt" };
	for (int i = 0; i < 6; i++)
		cJSON_AddItemToObject(hc, lk[i], strarray(lists[i]->n, (char **)lists[i]->v));
	cJSON *tmpfs = cJSON_AddObjectToObject(hc, "Tmpfs");
	for (int i = 0; i < f->tmpfs.n; i++) {
		const char *t = f->tmpfs.v[i], *colon = strchr(t, ':');
		char k[PATH_MAX];
		snprintf(k, sizeof(k), "%.*s", colon ? (int)(colon - t) : (int)strlen(t), t);
		cJSON_AddStringToObject(tmpfs, k, colon ? colon + 1 : "");
	}
	cJSON_AddNumberToObject(hc, "Memory", (double)mem);
	cJSON_AddNumberToObject(hc, "MemorySwap", (double)swap);
	cJSON_AddNumberToObject(hc, "NanoCpus", cpus * 1e9);
	cJSON_AddNumberToObject(hc, "CpuShares", f->cpu_shares);
	if (f->pids_set)
		cJSON_AddNumberToObject(hc, "PidsLimit", f->pids_limit);
	cJSON_AddBoolToObject(hc, "Privileged", f->privileged);
	cJSON_AddBoolToObject(hc, "ReadonlyRootfs", f->read_only);
	cJSON_AddBoolToObject(hc, "Init", f->init);
	cJSON_AddBoolToObject(hc, "AutoRemove", f->rm);
	cJSON_AddBoolToObject(hc, "PublishAllPorts", f->publish_all);
	if (f->network)
		cJSON_AddStringToObject(hc, "NetworkMode", f->network);
	cJSON *pb = cJSON_AddObjectToObject(hc, "PortBindings");
	for (int i = 0; !rc && i < f->publish.n; i++) {
		struct agent_port pt;
		struct berr pe = { 0 };
		char k[32], ip[INET_ADDRSTRLEN] = "", hp[8] = "";
		if (agent_port_parse(f->publish.v[i], &pt, &pe)) {
			rc = berr_setmsg(err, EINVAL, "-p: %s", pe.msg);
			break;
		}
		snprintf(k, sizeof(k), "%u/%s", pt.ctr_port,
			 pt.proto == IPPROTO_UDP ? "udp" : "tcp");
		if (pt.host_ip.s_addr != INADDR_ANY)
			inet_ntop(AF_INET, &pt.host_ip, ip, sizeof(ip));
		if (pt.host_port)
			snprintf(hp, sizeof(hp), "%u", pt.host_port);
		cJSON *arr = cJSON_GetObjectItem(pb, k);
		if (!arr)
			arr = cJSON_AddArrayToObject(pb, k);
		cJSON *one = cJSON_CreateObject();
		cJSON_AddStringToObject(one, "HostIp", ip);
		cJSON_AddStringToObject(one, "HostPort", hp);
		cJSON_AddItemToArray(arr, one);
	}
	const char *rs = f->restart ? f->restart : "no";
	cJSON *rp = cJSON_AddObjectToObject(hc, "RestartPolicy");
	char rn[64];
	snprintf(rn, sizeof(rn), "%.*s", (int)strcspn(rs, ":"), rs);
	cJSON_AddStringToObject(rp, "Name", rn);
	cJSON_AddNumberToObject(rp, "MaximumRetryCount",
				rs[strlen(rn)] ? atoi(rs + strlen(rn) + 1) : 0);
	cJSON *lc = cJSON_AddObjectToObject(cJSON_AddObjectToObject(hc, "LogConfig"), "Config");
	for (int i = 0; i < f->log_opt.n; i++)
		for (const char *p = f->log_opt.v[i]; *p;) {
			size_t l = strcspn(p, ","), kl = strcspn(p, "=,");
			char k[128], v[128];
			snprintf(k, sizeof(k), "%.*s", (int)kl, p);
			snprintf(v, sizeof(v), "%.*s", kl < l ? (int)(l - kl - 1) : 0, p + kl + 1);
			cJSON_DeleteItemFromObject(lc, k);
			cJSON_AddStringToObject(lc, k, v);
			p += l + (p[l] == ',');
		}
	if (rc) {
		cJSON_Delete(b);
		return NULL;
	}
	return b;
}

/* POST /containers/create from the flags, pulling a missing image first as
 * docker run does. Fills id; returns 0, or 125 after printing the error. */
static int create_api(const struct agent_opts *o, const struct run_flags *f, int n, char **argv,
		      char id[80], char name[AGENT_NAME_MAX])
{
	struct berr err = { 0 };
	cJSON *b = create_body(f, argv[1], n - 1, argv + 2, &err);
	if (!b)
		return agent_fail("%s", err.msg), RT_EXIT_FAIL;
	char *body = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	char enc[1024], path[1200];
	snprintf(path, sizeof(path), "/containers/create%s%s", f->name ? "?name=" : "",
		 f->name ? agent_api_enc(f->name, enc, sizeof(enc)) : "");
	cJSON *j = NULL;
	int st = body ? agent_api_call(o, "POST", path, body, AGENT_API_TIMEOUT_MS, &j, &err)
		      : berr_setmsg(&err, ENOMEM, "out of memory");
	if (st == 404 && !strncmp(err.msg, "no such image", 13)) {
		fprintf(stderr, "Unable to find image '%s' locally\n", argv[1]);
		berr_clear(&err);
		st = agent_pull_api(o, argv[1], false, stderr, &err);
		if (!st)
			st = agent_api_call(o, "POST", path, body, AGENT_API_TIMEOUT_MS, &j, &err);
	}
	free(body);
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(j, "Id"));
	if (st == 201 && s)
		snprintf(id, 80, "%s", s);
	cJSON_Delete(j);
	j = NULL;
	if (st != 201 || !s)
		return agent_fail("%s", err.msg), RT_EXIT_FAIL;
	/* the name the daemon gave, for messages (it may be gone after a start) */
	snprintf(name, AGENT_NAME_MAX, "%s", f->name ? f->name : id);
	snprintf(path, sizeof(path), "/containers/%s/json", id);
	if (!f->name &&
	    agent_api_call(o, "GET", path, NULL, AGENT_API_TIMEOUT_MS, &j, &err) == 200) {
		const char *nm = cJSON_GetStringValue(cJSON_GetObjectItem(j, "Name"));
		if (nm)
			snprintf(name, AGENT_NAME_MAX, "%s", nm + (*nm == '/'));
	}
	cJSON_Delete(j);
	return 0;
}

/* After a start the daemon refused: its message as the direct path words it
 * (name: the container's), the container removed for --rm, and for run the
 * exit code the docker CLI takes from the text: 127 for a command not found,
 * 126 for one that cannot run, else 125. */
static int start_failed(const struct agent_opts *o, const char *target, const char *name, bool run,
			bool rm, const struct berr *why)
{
	agent_fail("start container %s: %s", name, why->msg);
	if (rm) {
		char path[1200];
		snprintf(path, sizeof(path), "%s?force=1", target);
		agent_api_call(o, "DELETE", path, NULL, AGENT_API_TIMEOUT_MS, NULL,
			       &(struct berr){ 0 });
	}
	if (!run)
		return AGENT_EXIT_FAIL;
	const char *m = why->msg;
	if (strstr(m, "executable file not found") || strstr(m, "no such file or directory"))
		return RT_EXIT_NOTFOUND;
	if (strstr(m, "permission denied") || strstr(m, "is a directory") ||
	    strstr(m, "exec format error"))
		return RT_EXIT_NOEXEC;
	return RT_EXIT_FAIL;
}

enum start_how { START_NOT, START_CMD, START_RUN };

/* Attaches to the container at target ("/containers/ID"), starts it (as
 * berth start or run say), relays until it ends and returns the exit code
 * its wait answers (wait condition cond, asked before the start so no exit
 * is missed). */
static int attach_api(const struct agent_opts *o, const char *target, const char *name,
		      const struct agent_relay *r, const char *cond, enum start_how start, bool rm)
{
	struct agent_api_conn *att = calloc(1, sizeof(*att)), *w = calloc(1, sizeof(*w));
	char path[1200];
	struct berr err = { 0 };
	int code = RT_EXIT_FAIL, st = -ENOMEM;
	if (att && w) {
		snprintf(path, sizeof(path), "%s/attach?stream=1&stdout=1&stderr=1&stdin=%d",
			 target, r->stdin_on);
		st = agent_api_conn_open(o, "POST", path, NULL, true, att, &err);
	}
	if (st == 101 || st == 200) {
		snprintf(path, sizeof(path), "%s/wait?condition=%s", target, cond);
		st = agent_api_conn_open(o, "POST", path, NULL, false, w, &err);
		if (st != 200)
			agent_api_conn_close(att);
	}
	if (st != 200 && st != 101) {
		agent_fail("attach: %s", st == -ENOMEM ? "out of memory" : err.msg);
	} else if (start && (snprintf(path, sizeof(path), "%s/start", target),
			     st = agent_api_call(o, "POST", path, NULL, AGENT_API_TIMEOUT_MS, NULL,
						 &err)) >= 400) {
		agent_api_conn_close(att);
		agent_api_conn_close(w);
		code = start_failed(o, target, name, start == START_RUN, rm, &err);
	} else if ((st = agent_api_relay(o, att, r, &err)) == 1) {
		agent_api_conn_close(w); /* detached: the container runs on */
		code = AGENT_EXIT_OK;
	} else {
		if (st)
			agent_fail("%s", err.msg);
		cJSON *j = NULL;
		if (agent_api_conn_json(w, &j, &err))
			agent_fail("wait: %s", err.msg);
		const cJSON *sc = cJSON_GetObjectItem(j, "StatusCode");
		if (cJSON_IsNumber(sc))
			code = sc->valueint;
		cJSON_Delete(j);
	}
	free(att);
	free(w);
	return code;
}

/* start -a / attach through the daemon: the container's settings from its
 * inspect, then attach_api. */
static int attach_ref_api(const struct agent_opts *o, const char *ref, bool start, bool in,
			  bool sig_proxy)
{
	char enc[1024], target[1200];
	snprintf(target, sizeof(target), "/containers/%s", agent_api_enc(ref, enc, sizeof(enc)));
	cJSON *j = NULL;
	struct berr err = { 0 };
	char jpath[1300];
	snprintf(jpath, sizeof(jpath), "%s/json", target);
	if (agent_api_call(o, "GET", jpath, NULL, AGENT_API_TIMEOUT_MS, &j, &err) != 200)
		return agent_fail(start ? "%s" : "attach: %s", err.msg);
	const cJSON *cc = cJSON_GetObjectItem(j, "Config");
	bool running =
		cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "State"), "Running"));
	bool rm = cJSON_IsTrue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(j, "HostConfig"), "AutoRemove"));
	const char *nm = cJSON_GetStringValue(cJSON_GetObjectItem(j, "Name"));
	char name[AGENT_NAME_MAX];
	snprintf(name, sizeof(name), "%s", nm ? nm + (*nm == '/') : ref);
	struct agent_relay r = { target, in && cJSON_IsTrue(cJSON_GetObjectItem(cc, "OpenStdin")),
				 cJSON_IsTrue(cJSON_GetObjectItem(cc, "Tty")), sig_proxy };
	cJSON_Delete(j);
	if (!start && !running)
		return agent_fail("attach: cannot attach to a stopped container, start it first");
	return attach_api(o, target, name, &r,
			  rm        ? "removed"
			  : running ? "not-running"
				    : "next-exit",
			  start && !running ? START_CMD : START_NOT, false);
}

/* run and create through the daemon (-H): the same steps the docker CLI
 * takes, so the container is the daemon's from its start. */
static int run_api(const struct agent_opts *o, const struct run_flags *f, int n, char **argv,
		   bool run)
{
	char id[80], target[100], name[AGENT_NAME_MAX];
	int rc = create_api(o, f, n, argv, id, name);
	if (rc)
		return rc;
	snprintf(target, sizeof(target), "/containers/%s", id);
	if (run && !f->detach) {
		struct agent_relay r = { target, f->interactive, f->tty, true };
		return attach_api(o, target, name, &r, f->rm ? "removed" : "next-exit", START_RUN,
				  f->rm);
	}
	struct berr err = { 0 };
	char path[120];
	snprintf(path, sizeof(path), "%s/start", target);
	if (run && agent_api_call(o, "POST", path, NULL, AGENT_API_TIMEOUT_MS, NULL, &err) >= 400)
		return start_failed(o, target, name, true, f->rm, &err);
	printf("%s\n", id);
	return AGENT_EXIT_OK;
}

#define HELP_SHOWN 1000
#define API_DONE 2000 /* + the exit code: the daemon did it */

/* create + (start): the shared part of run and create. Returns 0, HELP_SHOWN,
 * or 125 after printing the error (docker run's code for its own failures). */
static int do_create(const struct agent_opts *o, int argc, char **argv, struct run_flags *f,
		     struct agent_config *cfg, struct agent_ctr *c)
{
	int n = parse_run(argc, argv, f, run_usage);
	if (n < 0)
		return n == -1 ? HELP_SHOWN : RT_EXIT_FAIL;
	if (n < 1) {
		agent_usage("%s: needs an image (see 'berth %s --help')", argv[0], argv[0]);
		return RT_EXIT_FAIL;
	}
	if (f->pull && strcmp(f->pull, "missing")) {
		agent_usage("%s: --pull %s: only 'missing' is supported", argv[0], f->pull);
		return RT_EXIT_FAIL;
	}
	if (f->platform) {
		agent_usage("%s: --platform is not supported; pull the platform first", argv[0]);
		return RT_EXIT_FAIL;
	}
	if (CONFIG_DAEMON && o->host)
		return API_DONE + run_api(o, f, n, argv, !strcmp(argv[0], "run"));
	if (agent_load_config(o, cfg))
		return RT_EXIT_FAIL;
	const char *root = agent_data_root(o, cfg);
	char id[DIGEST_STR_MAX];
	cJSON *icfg = NULL, *ccfg = NULL;
	struct berr err = { 0 };
	int rc = find_image(cfg, root, argv[1], id, &icfg);
	if (!rc && build_config(root, f, argv[1], n - 1, argv + 2, id, icfg, &ccfg, &err))
		rc = agent_fail("%s", err.msg);
	cJSON_Delete(icfg);
	if (!rc && agent_ctr_create(root, ccfg, c, &err))
		rc = agent_fail("%s", err.msg);
	if (rc)
		agent_config_free(cfg);
	return rc ? RT_EXIT_FAIL : 0;
}

int agent_cmd_run(const struct agent_opts *o, int argc, char **argv)
{
	struct run_flags f;
	struct agent_config cfg;
	struct agent_ctr c;
	int rc = do_create(o, argc, argv, &f, &cfg, &c);
	if (rc)
		return rc == HELP_SHOWN ? AGENT_EXIT_OK : rc >= API_DONE ? rc - API_DONE : rc;
	const char *root = agent_data_root(o, &cfg);
	struct agent_attach a = { .attach = !f.detach,
				  .stdin_on = f.interactive && !f.detach,
				  .tty = f.tty,
				  .sig_proxy = true };
	struct berr err = { 0 };
	int code;
	int x = agent_ctr_start(root, &cfg, &c, &a, &code, &err);
	if (x < 0) {
		agent_fail("start container %s: %s", c.name, err.msg);
		if (f.rm)
			agent_ctr_remove(root, &c, true, true, &err);
		agent_ctr_free(&c);
		agent_config_free(&cfg);
		return code;
	}
	if (f.detach)
		printf("%s\n", c.id);
	agent_ctr_free(&c);
	agent_config_free(&cfg);
	return f.detach ? AGENT_EXIT_OK : x;
}

int agent_cmd_create(const struct agent_opts *o, int argc, char **argv)
{
	struct run_flags f;
	struct agent_config cfg;
	struct agent_ctr c;
	int rc = do_create(o, argc, argv, &f, &cfg, &c);
	if (rc)
		return rc == HELP_SHOWN ? AGENT_EXIT_OK : rc >= API_DONE ? rc - API_DONE : rc;
	printf("%s\n", c.id);
	agent_ctr_free(&c);
	agent_config_free(&cfg);
	return AGENT_EXIT_OK;
}

/* start (detached) through the daemon. */
static int start_api(const struct agent_opts *o, int n, char **argv)
{
	int ret = AGENT_EXIT_OK;
	for (int i = 1; i <= n; i++) {
		char enc[1024], path[1200];
		snprintf(path, sizeof(path), "/containers/%s/start",
			 agent_api_enc(argv[i], enc, sizeof(enc)));
		struct berr err = { 0 };
		int st = agent_api_call(o, "POST", path, NULL, AGENT_API_TIMEOUT_MS, NULL, &err);
		if (st == 404)
			ret = agent_fail("%s", err.msg);
		else if (st < 200 || st >= 400)
			ret = agent_fail("start container %s: %s", argv[i], err.msg);
		else
			printf("%s\n", argv[i]);
	}
	return ret;
}

int agent_cmd_start(const struct agent_opts *o, int argc, char **argv)
{
	bool attach = false, interactive = false;
	const struct agent_flag flags[] = {
		{ "attach", 'a', FLAG_BOOL, &attach },
		{ "interactive", 'i', FLAG_BOOL, &interactive },
	};
	int n = agent_flags(argc, argv, flags, 2,
			    "Usage: berth start [OPTIONS] CONTAINER [CONTAINER...]\n\n"
			    "Start one or more stopped containers.\n\n"
			    "Options:\n"
			    "  -a, --attach        Attach stdout/stderr and forward signals\n"
			    "  -i, --interactive   Attach the container's stdin\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n < 1)
		return agent_usage("start: needs at least one container");
	if ((attach || interactive) && n > 1)
		return agent_usage("start: you cannot attach to more than one container");
	if (CONFIG_DAEMON && o->host)
		return attach || interactive ? attach_ref_api(o, argv[1], true, interactive, true)
					     : start_api(o, n, argv);
	struct agent_config cfg;
	if (agent_load_config(o, &cfg))
		return AGENT_EXIT_FAIL;
	const char *root = agent_data_root(o, &cfg);
	int ret = AGENT_EXIT_OK;
	for (int i = 1; i <= n; i++) {
		struct agent_ctr c;
		struct berr err = { 0 };
		if (agent_ctr_find(root, argv[i], &c, &err)) {
			ret = agent_fail("%s", err.msg);
			continue;
		}
		const cJSON *cc = cJSON_GetObjectItem(c.cfg, "Config");
		struct agent_attach a = { .attach = attach || interactive,
					  .stdin_on = interactive &&
						      cJSON_IsTrue(
							      cJSON_GetObjectItem(cc, "OpenStdin")),
					  .tty = cJSON_IsTrue(cJSON_GetObjectItem(cc, "Tty")),
					  .sig_proxy = true };
		agent_ctr_refresh(&c);
		int code = 0;
		if (agent_ctr_running(&c)) {
			if (a.attach)
				ret = agent_ctr_attach(&c, &a, &err);
			else
				printf("%s\n", argv[i]);
			agent_ctr_free(&c);
			continue;
		}
		int x = agent_ctr_start(root, &cfg, &c, &a, &code, &err);
		if (x < 0)
			ret = agent_fail("start container %s: %s", c.name, err.msg);
		else if (a.attach)
			ret = x;
		else
			printf("%s\n", argv[i]);
		agent_ctr_free(&c);
	}
	agent_config_free(&cfg);
	return ret;
}

int agent_cmd_attach(const struct agent_opts *o, int argc, char **argv)
{
	bool no_stdin = false;
	bool sig_proxy = true;
	const struct agent_flag flags[] = {
		{ "no-stdin", 0, FLAG_BOOL, &no_stdin },
		{ "sig-proxy", 0, FLAG_BOOL, &sig_proxy },
	};
	int n = agent_flags(
		argc, argv, flags, 2,
		"Usage: berth attach [OPTIONS] CONTAINER\n\n"
		"Attach our stdin, stdout and stderr to a running container.\n\n"
		"Options:\n"
		"      --no-stdin    Do not attach stdin\n"
		"      --sig-proxy   Forward signals to the container (default true)\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n != 1)
		return agent_usage("attach: needs exactly one container");
	if (CONFIG_DAEMON && o->host)
		return attach_ref_api(o, argv[1], false, !no_stdin, sig_proxy);
	struct agent_config cfg;
	if (agent_load_config(o, &cfg))
		return AGENT_EXIT_FAIL;
	struct agent_ctr c;
	struct berr err = { 0 };
	int rc = agent_ctr_find(agent_data_root(o, &cfg), argv[1], &c, &err);
	agent_config_free(&cfg);
	if (rc)
		return agent_fail("%s", err.msg);
	const cJSON *cc = cJSON_GetObjectItem(c.cfg, "Config");
	struct agent_attach a = {
		.attach = true,
		.stdin_on = !no_stdin && cJSON_IsTrue(cJSON_GetObjectItem(cc, "OpenStdin")),
		.tty = cJSON_IsTrue(cJSON_GetObjectItem(cc, "Tty")),
		.sig_proxy = sig_proxy,
	};
	int code = agent_ctr_attach(&c, &a, &err);
	agent_ctr_free(&c);
	if (code < 0)
		return agent_fail("attach: %s", err.msg);
	return code;
}
