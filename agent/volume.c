/* berth volume ls/create/rm/inspect/prune: named volumes under
 * <data root>/volumes/<name>/_data, kept after their containers go. */
#include <dirent.h>
#include <errno.h>
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
#include "agent/settings.h"
#include "board/cleanup.h"
#include "board/fs.h"
#include "config.h"

static int vol_root(const struct agent_opts *o, char *root, size_t len)
{
	struct agent_config cfg;
	if (agent_load_config(o, &cfg))
		return -1;
	snprintf(root, len, "%s", agent_data_root(o, &cfg));
	agent_config_free(&cfg);
	return 0;
}

struct vol_meta {
	long long created;
	bool anonymous;
};

static int vol_meta(const char *root, const char *name, struct vol_meta *m)
{
	char p[PATH_MAX], buf[256];
	memset(m, 0, sizeof(*m));
	snprintf(p, sizeof(p), "%s/volumes/%s/_data", root, name);
	if (access(p, F_OK))
		return -ENOENT;
	snprintf(p, sizeof(p), "%s/volumes/%s/meta", root, name);
	if (fs_read_file(p, buf, sizeof(buf), NULL) > 0) {
		char *c = strstr(buf, "created="), *a = strstr(buf, "anonymous=");
		if (c)
			m->created = atoll(c + 8);
		if (a)
			m->anonymous = atoi(a + 10) != 0;
	}
	return 0;
}

/* Names of containers using volume name (first one into who). */
static int vol_users(const char *root, const char *name, char *who, size_t len)
{
	struct agent_ctr *v;
	struct berr err;
	int n = agent_ctr_list(root, &v, &err), users = 0;
	for (int i = 0; i < n; i++) {
		const cJSON *m;
		cJSON_ArrayForEach(m, cJSON_GetObjectItem(v[i].cfg, "Mounts"))
		{
			const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(m, "Type"));
			const char *nm = cJSON_GetStringValue(cJSON_GetObjectItem(m, "Name"));
			if (t && nm && !strcmp(t, "volume") && !strcmp(nm, name)) {
				if (!users++ && who)
					snprintf(who, len, "%s", v[i].name);
				break;
			}
		}
		agent_ctr_free(&v[i]);
	}
	if (n > 0)
		free(v);
	return users;
}

static int vol_each(const char *root, int (*fn)(const char *root, const char *name, void *arg),
		    void *arg)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/volumes", root);
	_cleanup_closedir_ DIR *d = opendir(p);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *e;
	while ((e = readdir(d))) {
		struct vol_meta m;
		if (e->d_name[0] == '.' || vol_meta(root, e->d_name, &m))
			continue;
		int rc = fn(root, e->d_name, arg);
		if (rc)
			return rc;
	}
	return 0;
}

/* The volume table from GET /volumes' list (freed here). */
static void volume_ls(cJSON *vols, bool quiet)
{
	if (!quiet)
		printf("%-10s %s\n", "DRIVER", "VOLUME NAME");
	const cJSON *v;
	cJSON_ArrayForEach(v, vols)
	{
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(v, "Name"));
		if (quiet)
			printf("%s\n", name ? name : "");
		else
			printf("%-10s %s\n", "local", name ? name : "");
	}
	cJSON_Delete(vols);
}

int agent_volume_remove(const char *root, const char *name, bool force, struct berr *err)
{
	struct vol_meta m;
	char who[AGENT_NAME_MAX] = "", p[PATH_MAX];
	if (!agent_volume_name_ok(name) || vol_meta(root, name, &m))
		return berr_setmsg(err, ENOENT, "no such volume: %s", name);
	if (vol_users(root, name, who, sizeof(who)) && !force)
		return berr_setmsg(err, EBUSY, "volume %s is in use by container %s", name, who);
	snprintf(p, sizeof(p), "%s/volumes/%s", root, name);
	char gone[PATH_MAX + 16];
	snprintf(gone, sizeof(gone), "%s/volumes/.gone-%s", root, name);
	if (rename(p, gone))
		return berr_set(err, errno, "remove volume %s", name);
	return fs_rm_rf(gone, err);
}

struct prune {
	bool all;
	long long freed;
	cJSON *names;
};

static int prune_one(const char *root, const char *name, void *arg)
{
	struct prune *pr = arg;
	struct vol_meta m;
	struct berr err;
	if (vol_meta(root, name, &m) || (!m.anonymous && !pr->all) ||
	    vol_users(root, name, NULL, 0))
		return 0;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/volumes/%s", root, name);
	long long sz = fs_du(p);
	if (agent_volume_remove(root, name, false, &err))
		return 0;
	cJSON_AddItemToArray(pr->names, cJSON_CreateString(name));
	pr->freed += sz;
	return 0;
}

cJSON *agent_volumes_prune_json(const char *root, bool all)
{
	cJSON *j = cJSON_CreateObject();
	struct prune pr = { .all = all, .names = cJSON_AddArrayToObject(j, "VolumesDeleted") };
	vol_each(root, prune_one, &pr);
	cJSON_AddNumberToObject(j, "SpaceReclaimed", (double)pr.freed);
	return j;
}

cJSON *agent_volumes_prune(const char *root, bool all)
{
	cJSON *j = agent_volumes_prune_json(root, all);
	cJSON *names = cJSON_DetachItemFromObject(j, "VolumesDeleted");
	cJSON_Delete(j);
	return names;
}

/* volume prune, through the daemon or on the store, printed as docker does. */
static int volume_prune(const struct agent_opts *o, int n, bool all, bool force)
{
	if (n)
		return agent_usage("volume prune: takes no arguments");
	if (!force) {
		printf("WARNING! This will remove %s volumes not used by any container.\n"
		       "Are you sure you want to continue? [y/N] ",
		       all ? "all" : "anonymous");
		fflush(stdout);
		char line[16];
		if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y'))
			return AGENT_EXIT_OK;
	}
	cJSON *j = NULL;
	if (CONFIG_DAEMON && o->host) {
		struct berr err = { 0 };
		int st = agent_api_call(
			o, "POST",
			all ? "/volumes/prune?filters=%7B%22all%22%3A%5B%22true%22%5D%7D"
			    : "/volumes/prune",
			NULL, -1, &j, &err);
		if (st != 200) {
			cJSON_Delete(j);
			return agent_fail("volume prune: %s", err.msg);
		}
	} else {
		char root[PATH_MAX];
		if (vol_root(o, root, sizeof(root)))
			return AGENT_EXIT_FAIL;
		j = agent_volumes_prune_json(root, all);
	}
	agent_prune_print(j, "VolumesDeleted", "Deleted Volumes");
	cJSON_Delete(j);
	return AGENT_EXIT_OK;
}

cJSON *agent_volume_json(const char *root, const char *name)
{
	struct vol_meta m;
	if (!agent_volume_name_ok(name) || vol_meta(root, name, &m))
		return NULL;
	cJSON *j = cJSON_CreateObject();
	char when[64], p[PATH_MAX];
	time_t t = (time_t)m.created;
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	cJSON_AddStringToObject(j, "CreatedAt", when);
	cJSON_AddStringToObject(j, "Driver", "local");
	cJSON_AddNullToObject(j, "Labels");
	agent_volume_path(root, name, p, sizeof(p));
	cJSON_AddStringToObject(j, "Mountpoint", p);
	cJSON_AddStringToObject(j, "Name", name);
	cJSON_AddNullToObject(j, "Options");
	cJSON_AddStringToObject(j, "Scope", "local");
	return j;
}

/* volume ls, create, rm and inspect through the daemon. */
static int volume_api(const struct agent_opts *o, const char *sub, int n, char **argv, bool quiet,
		      bool force, const char *format)
{
	struct berr err = { 0 };
	cJSON *j = NULL;
	char enc[512], path[700];
	int st;
	if (!strcmp(sub, "ls") || !strcmp(sub, "list")) {
		if (n)
			return agent_usage("volume ls: takes no arguments");
		st = agent_api_call(o, "GET", "/volumes", NULL, AGENT_API_TIMEOUT_MS, &j, &err);
		if (st != 200)
			return agent_fail("volume ls: %s", err.msg);
		volume_ls(cJSON_DetachItemFromObject(j, "Volumes"), quiet);
		cJSON_Delete(j);
		return AGENT_EXIT_OK;
	}
	if (!strcmp(sub, "create")) {
		if (n > 1)
			return agent_usage("volume create: takes at most one name");
		cJSON *b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "Name", n ? argv[1] : "");
		char *body = cJSON_PrintUnformatted(b);
		cJSON_Delete(b);
		st = agent_api_call(o, "POST", "/volumes/create", body ? body : "{}",
				    AGENT_API_TIMEOUT_MS, &j, &err);
		free(body);
		if (st == 201)
			printf("%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(j, "Name")) ?: "");
		cJSON_Delete(j);
		return st == 201 ? AGENT_EXIT_OK : agent_fail("volume create: %s", err.msg);
	}
	bool rm = !strcmp(sub, "rm") || !strcmp(sub, "remove");
	if (!rm && strcmp(sub, "inspect"))
		return agent_usage("volume: unknown command '%s' (see 'berth volume --help')", sub);
	if (n < 1)
		return agent_usage("volume %s: needs at least one volume", sub);
	int ret = AGENT_EXIT_OK;
	cJSON *arr = cJSON_CreateArray();
	for (int i = 1; i <= n; i++) {
		snprintf(path, sizeof(path), "/volumes/%s%s",
			 agent_api_enc(argv[i], enc, sizeof(enc)), rm && force ? "?force=1" : "");
		st = agent_api_call(o, rm ? "DELETE" : "GET", path, NULL, AGENT_API_TIMEOUT_MS, &j,
				    &err);
		if (st == 404 && rm)
			ret = agent_fail("volume rm %s: no such volume: %s", argv[i], argv[i]);
		else if (st == 404)
			ret = agent_fail("volume inspect: no such volume: %s", argv[i]);
		else if (st < 200 || st >= 300)
			ret = agent_fail("volume %s %s: %s", sub, argv[i], err.msg);
		else if (rm)
			printf("%s\n", argv[i]);
		if (!rm && st == 200 && j)
			cJSON_AddItemToArray(arr, j);
		else
			cJSON_Delete(j);
	}
	if (rm)
		cJSON_Delete(arr);
	else
		agent_print_json_list(arr, format);
	return ret;
}

int agent_cmd_volume(const struct agent_opts *o, int argc, char **argv)
{
	static const char usage[] =
		"Usage: berth volume COMMAND\n\n"
		"Manage volumes.\n\n"
		"Commands:\n"
		"  create [NAME]          Create a volume\n"
		"  inspect NAME...        Show volumes as JSON\n"
		"  ls [-q]                List volumes\n"
		"  prune [-a] [-f]        Remove unused anonymous (-a: all unused) volumes\n"
		"  rm [-f] NAME...        Remove volumes\n";
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? AGENT_EXIT_USAGE : AGENT_EXIT_OK;
	}
	const char *sub = argv[1];
	argc--;
	argv++;
	bool quiet = false, force = false, all = false;
	const char *format = NULL;
	/* -f is --format for inspect, --force elsewhere, as with docker */
	bool insp = !strcmp(sub, "inspect");
	const struct agent_flag flags[] = {
		{ "quiet", 'q', FLAG_BOOL, &quiet },
		{ "force", insp ? 0 : 'f', FLAG_BOOL, &force },
		{ "all", 'a', FLAG_BOOL, &all },
		{ "format", insp ? 'f' : 0, FLAG_STR, &format },
	};
	int n = agent_flags(argc, argv, flags, 4, usage);
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (!strcmp(sub, "prune"))
		return volume_prune(o, n, all, force);
	if (CONFIG_DAEMON && o->host)
		return volume_api(o, sub, n, argv, quiet, force, format);
	char root[PATH_MAX];
	if (vol_root(o, root, sizeof(root)))
		return AGENT_EXIT_FAIL;
	struct berr err = { 0 };
	if (!strcmp(sub, "ls") || !strcmp(sub, "list")) {
		if (n)
			return agent_usage("volume ls: takes no arguments");
		volume_ls(agent_volumes_json(root), quiet);
		return AGENT_EXIT_OK;
	}
	if (!strcmp(sub, "create")) {
		if (n > 1)
			return agent_usage("volume create: takes at most one name");
		char name[65];
		if (n == 1) {
			snprintf(name, sizeof(name), "%s", argv[1]);
			if (strlen(argv[1]) >= sizeof(name))
				return agent_usage("volume create: name too long");
		} else {
			FILE *f = fopen("/proc/sys/kernel/random/uuid", "re");
			char u[64] = "";
			if (!f || !fgets(u, sizeof(u), f))
				snprintf(u, sizeof(u), "%lld", (long long)time(NULL));
			if (f)
				fclose(f);
			int j = 0;
			for (int i = 0; u[i] && j < 64; i++)
				if (u[i] != '-' && u[i] != '\n')
					name[j++] = u[i];
			name[j] = '\0';
		}
		if (agent_volume_create(root, name, false, &err))
			return agent_fail("volume create: %s", err.msg);
		printf("%s\n", name);
		return AGENT_EXIT_OK;
	}
	if (!strcmp(sub, "rm") || !strcmp(sub, "remove")) {
		if (n < 1)
			return agent_usage("volume rm: needs at least one volume");
		int ret = AGENT_EXIT_OK;
		for (int i = 1; i <= n; i++) {
			if (agent_volume_remove(root, argv[i], force, &err))
				ret = agent_fail("volume rm %s: %s", argv[i], err.msg);
			else
				printf("%s\n", argv[i]);
		}
		return ret;
	}
	if (!strcmp(sub, "inspect")) {
		if (n < 1)
			return agent_usage("volume inspect: needs at least one volume");
		cJSON *arr = cJSON_CreateArray();
		int ret = AGENT_EXIT_OK;
		for (int i = 1; i <= n; i++) {
			cJSON *j = agent_volume_json(root, argv[i]);
			if (!j)
				ret = agent_fail("volume inspect: no such volume: %s", argv[i]);
			else
				cJSON_AddItemToArray(arr, j);
		}
		agent_print_json_list(arr, format);
		return ret;
	}
	return agent_usage("volume: unknown command '%s' (see 'berth volume --help')", sub);
}

static int json_one(const char *root, const char *name, void *arg)
{
	cJSON *j = agent_volume_json(root, name);
	if (j)
		cJSON_AddItemToArray(arg, j);
	return 0;
}

cJSON *agent_volumes_json(const char *root)
{
	cJSON *a = cJSON_CreateArray();
	vol_each(root, json_one, a);
	return a;
}
