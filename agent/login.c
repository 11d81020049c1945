/* berth login / logout: credentials in Docker's config.json "auths" format,
 * checked against the registry before they are stored (mode 0600). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "agent/settings.h"
#include "agent/flags.h"
#include "board/cleanup.h"
#include "board/fs.h"
#include "net/auth.h"
#include "net/registry.h"

static cJSON *auth_doc(const char *path)
{
	char *txt = NULL;
	ssize_t n = fs_read_alloc(path, 256 << 10, &txt, NULL);
	cJSON *doc = n >= 0 ? cJSON_ParseWithLength(txt, (size_t)n) : NULL;
	free(txt);
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		doc = cJSON_CreateObject();
	}
	if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "auths"))) {
		cJSON_DeleteItemFromObjectCaseSensitive(doc, "auths");
		cJSON_AddObjectToObject(doc, "auths");
	}
	return doc;
}

static int auth_save(const struct agent_config *cfg, cJSON *doc, struct berr *err)
{
	char path[PATH_MAX];
	agent_auth_path(cfg, path, sizeof(path));
	int rc = fs_mkdir_p(cfg->dir, 0700, err);
	if (rc < 0)
		return rc;
	_cleanup_free_ char *txt = cJSON_Print(doc);
	if (!txt)
		return berr_set(err, ENOMEM, "%s", path);
	return fs_write_atomic(path, txt, strlen(txt), 0600, err);
}

static int read_password_stdin(char *out, size_t len)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(0, out + n, len - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == len - 1)
			return -1;
	}
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		n--;
	out[n] = '\0';
	return 0;
}

/* login and logout stay direct even when a daemon answers (o->host): the
 * credentials are the client's, kept in its own config.json, and are not
 * handed to the daemon (its POST /auth only acknowledges). */
int agent_cmd_login(const struct agent_opts *o, int argc, char **argv)
{
	const char *user = NULL, *pass = NULL;
	bool pass_stdin = false;
	const struct agent_flag flags[] = {
		{ "username", 'u', FLAG_STR, &user },
		{ "password", 'p', FLAG_STR, &pass },
		{ "password-stdin", 0, FLAG_BOOL, &pass_stdin },
	};
	int n = agent_flags(
		argc, argv, flags, 3,
		"Usage: berth login [-u USER] [-p PASSWORD | --password-stdin] REGISTRY\n\n"
		"Check credentials against a registry and store them.\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n != 1)
		return agent_usage("login: needs the registry (e.g. registry.example.com:5000)");
	if (pass && pass_stdin)
		return agent_usage("login: --password and --password-stdin are exclusive");
	if (!user)
		return agent_usage("login: needs -u USER");
	static char pw[1024];
	if (pass_stdin) {
		if (read_password_stdin(pw, sizeof(pw)) < 0)
			return agent_usage("login: password on stdin too long");
		pass = pw;
	}
	if (!pass || !*pass)
		return agent_usage("login: needs a password (-p or --password-stdin)");
	struct net_ref ref;
	struct berr err = { 0 };
	if (agent_registry_host(argv[1], &ref, &err) < 0)
		return agent_usage("login: %s", err.msg);

	struct agent_config cfg;
	if (agent_config_load(&cfg, o->config_file, &err) < 0)
		return agent_fail("config: %s", err.msg);
	char cred[1200], b64[1700], dummy[8];
	snprintf(cred, sizeof(cred), "%s:%s", user, pass);
	if (net_b64_encode(cred, strlen(cred), b64, sizeof(b64)) < 0) {
		agent_config_free(&cfg);
		return agent_usage("login: credentials too long");
	}
	struct net_registry_config rc;
	agent_config_registry(&cfg, &ref, &rc, dummy, sizeof(dummy));
	rc.basic = b64;
	rc.nmirrors = 0;
	_cleanup_free_ struct net_registry *r = malloc(sizeof(*r));
	int st = r ? 0 : berr_set(&err, ENOMEM, "login");
	if (st == 0) {
		net_registry_init(r, &ref, &rc);
		st = net_registry_ping(r, &err);
		net_registry_close(r);
	}
	if (st == 0) {
		char path[PATH_MAX];
		agent_auth_path(&cfg, path, sizeof(path));
		cJSON *doc = auth_doc(path);
		cJSON *auths = cJSON_GetObjectItemCaseSensitive(doc, "auths");
		cJSON_DeleteItemFromObjectCaseSensitive(auths, agent_auth_key(ref.host));
		cJSON *e = cJSON_AddObjectToObject(auths, agent_auth_key(ref.host));
		cJSON_AddStringToObject(e, "auth", b64);
		st = auth_save(&cfg, doc, &err);
		cJSON_Delete(doc);
	}
	agent_config_free(&cfg);
	if (st < 0)
		return agent_fail("login %s: %s", argv[1], err.msg);
	printf("Login Succeeded\n");
	return AGENT_EXIT_OK;
}

int agent_cmd_logout(const struct agent_opts *o, int argc, char **argv)
{
	int n = agent_flags(argc, argv, NULL, 0,
			    "Usage: berth logout REGISTRY\n\nRemove stored credentials.\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n != 1)
		return agent_usage("logout: needs the registry");
	struct net_ref ref;
	struct berr err = { 0 };
	if (agent_registry_host(argv[1], &ref, &err) < 0)
		return agent_usage("logout: %s", err.msg);
	struct agent_config cfg;
	if (agent_config_load(&cfg, o->config_file, &err) < 0)
		return agent_fail("config: %s", err.msg);
	char path[PATH_MAX];
	agent_auth_path(&cfg, path, sizeof(path));
	cJSON *doc = auth_doc(path);
	cJSON *auths = cJSON_GetObjectItemCaseSensitive(doc, "auths");
	int st = 0;
	if (!cJSON_GetObjectItemCaseSensitive(auths, agent_auth_key(ref.host))) {
		printf("Not logged in to %s\n", ref.host);
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(auths, agent_auth_key(ref.host));
		st = auth_save(&cfg, doc, &err);
		if (st == 0)
			printf("Removing login credentials for %s\n", ref.host);
	}
	cJSON_Delete(doc);
	agent_config_free(&cfg);
	return st < 0 ? agent_fail("logout %s: %s", argv[1], err.msg) : AGENT_EXIT_OK;
}
