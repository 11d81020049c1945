/* daemon.json and credentials (see config.h). */
#include "settings.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board/fs.h"
#include "config.h"
#include "store/store.h"

#define CONFIG_MAX_BYTES (256 << 10)

void agent_config_free(struct agent_config *c)
{
	cJSON_Delete(c->doc);
	c->doc = NULL;
}

static int get_int(const cJSON *doc, const char *key, int *out, int lo, int hi, const char *file,
		   struct berr *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi)
		return berr_setmsg(err, EINVAL, "%s: \"%s\" must be a number from %d to %d", file,
				   key, lo, hi);
	*out = v->valueint;
	return 0;
}

static int get_strings(const cJSON *arr, const char **out, int max, int *n, const char *file,
		       const char *key, struct berr *err)
{
	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return berr_setmsg(err, EINVAL, "%s: \"%s\" must be a list of strings", file, key);
	const cJSON *e;
	cJSON_ArrayForEach(e, arr)
	{
		if (!cJSON_IsString(e))
			return berr_setmsg(err, EINVAL, "%s: \"%s\" must be a list of strings",
					   file, key);
		if (*n == max)
			return berr_setmsg(err, E2BIG, "%s: \"%s\" has more than %d entries", file,
					   key, max);
		out[(*n)++] = e->valuestring;
	}
	return 0;
}

static int add_mirrors(struct agent_config *c, const char *host, const cJSON *arr, const char *file,
		       struct berr *err)
{
	if (c->nmirrors == AGENT_MAX_MIRROR_HOSTS)
		return berr_setmsg(err, E2BIG, "%s: mirrors for more than %d registries", file,
				   AGENT_MAX_MIRROR_HOSTS);
	struct agent_mirrors *m = &c->mirrors[c->nmirrors++];
	m->host = host;
	int rc = get_strings(arr, m->urls, REGISTRY_MAX_MIRRORS, &m->n, file, "mirrors", err);
	for (int i = 0; rc == 0 && i < m->n; i++) {
		struct http_url u;
		if (http_url_parse(m->urls[i], &u, NULL) < 0)
			rc = berr_setmsg(err, EINVAL, "%s: mirror '%s' is not an http(s) URL", file,
					 m->urls[i]);
	}
	return rc;
}

int agent_config_load(struct agent_config *c, const char *path, struct berr *err)
{
	memset(c, 0, sizeof(*c));
	c->max_concurrent_downloads = 3;
	c->max_download_attempts = 5;
	c->retry_base_ms = 500;
	c->timeout_ms = 30000;
	c->iptables = true;
	c->userland_proxy = true;
	const char *dir = getenv("BERTH_CONFIG");
	snprintf(c->dir, sizeof(c->dir), "%s", dir && *dir ? dir : AGENT_CONFIG_DIR);
	snprintf(c->certs_d, sizeof(c->certs_d), "%s/certs.d", c->dir);
	char def[PATH_MAX];
	snprintf(def, sizeof(def), "%s/daemon.json", c->dir);
	const char *file = path ? path : def;

	char *txt = NULL;
	struct berr e2 = { 0 };
	ssize_t n = fs_read_alloc(file, CONFIG_MAX_BYTES, &txt, &e2);
	if (n < 0) {
		if (e2.code == ENOENT && !path)
			return 0;
		if (err)
			*err = e2;
		return -e2.code;
	}
	cJSON *doc = cJSON_ParseWithLength(txt, (size_t)n);
	free(txt);
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		return berr_setmsg(err, EINVAL, "%s: not a JSON object", file);
	}
	c->doc = doc;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "data-root");
	if (v && !cJSON_IsString(v))
		return berr_setmsg(err, EINVAL, "%s: \"data-root\" must be a string", file);
	c->data_root = v ? v->valuestring : NULL;
	int rc = get_int(doc, "max-concurrent-downloads", &c->max_concurrent_downloads, 1, 16, file,
			 err);
	rc = rc
		     ?: get_int(doc, "max-download-attempts", &c->max_download_attempts, 1, 100,
				file, err);
	rc = rc ?: get_int(doc, "retry-base-ms", &c->retry_base_ms, 1, 60000, file, err);
	rc = rc ?: get_int(doc, "timeout-ms", &c->timeout_ms, 100, 600000, file, err);
	int mib = 0;
	rc = rc ?: get_int(doc, "min-free-space-mb", &mib, 0, 1 << 30, file, err);
	c->min_free_space = (long long)mib << 20;
	rc = rc
		     ?: get_strings(cJSON_GetObjectItemCaseSensitive(doc, "insecure-registries"),
				    c->insecure, AGENT_MAX_INSECURE, &c->ninsecure, file,
				    "insecure-registries", err);
	const cJSON *drv = cJSON_GetObjectItemCaseSensitive(doc, "storage-driver");
	if (rc == 0 && drv) {
		const char *d = cJSON_GetStringValue(drv);
		if (d && (!strcmp(d, "overlay") || !strcmp(d, "overlay2")))
			c->storage_driver = "overlay";
		else if (d && !strcmp(d, "squashfs"))
			c->storage_driver = "squashfs";
		else
			rc = berr_setmsg(
				err, EINVAL,
				"%s: \"storage-driver\" must be \"overlay\" or \"squashfs\"", file);
	}
	const cJSON *bip = cJSON_GetObjectItemCaseSensitive(doc, "bip");
	if (rc == 0 && bip && !cJSON_IsString(bip))
		rc = berr_setmsg(err, EINVAL, "%s: \"bip\" must be a string like \"172.30.0.1/16\"",
				 file);
	c->bip = bip ? bip->valuestring : NULL;
	rc = rc
		     ?: get_strings(cJSON_GetObjectItemCaseSensitive(doc, "hosts"), c->hosts,
				    AGENT_MAX_HOSTS, &c->nhosts, file, "hosts", err);
	static const char *const tkeys[] = { "tlscacert", "tlscert", "tlskey" };
	const char **tdst[] = { &c->tlscacert, &c->tlscert, &c->tlskey };
	for (int i = 0; rc == 0 && i < 3; i++) {
		const cJSON *tv = cJSON_GetObjectItemCaseSensitive(doc, tkeys[i]);
		if (tv && !cJSON_IsString(tv))
			rc = berr_setmsg(err, EINVAL, "%s: \"%s\" must be a string", file,
					 tkeys[i]);
		else if (tv)
			*tdst[i] = tv->valuestring;
	}
	static const char *const bools[] = { "iptables", "userland-proxy", "tlsverify" };
	bool *dst[] = { &c->iptables, &c->userland_proxy, &c->tlsverify };
	for (int i = 0; rc == 0 && i < 3; i++) {
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(doc, bools[i]);
		if (b && !cJSON_IsBool(b))
			rc = berr_setmsg(err, EINVAL, "%s: \"%s\" must be true or false", file,
					 bools[i]);
		else if (b)
			*dst[i] = cJSON_IsTrue(b);
	}
	const cJSON *fl = cJSON_GetObjectItemCaseSensitive(doc, "fleet");
	c->fleet.interval = 60;
	c->fleet.settle = 30;
	if (rc == 0 && fl && !cJSON_IsObject(fl))
		rc = berr_setmsg(err, EINVAL, "%s: \"fleet\" must be an object", file);
	if (rc == 0 && fl) {
		static const char *const skeys[] = { "portal", "token", "token-file" };
		const char **sdst[] = { &c->fleet.portal, &c->fleet.token, &c->fleet.token_file };
		for (int i = 0; rc == 0 && i < 3; i++) {
			const cJSON *fv = cJSON_GetObjectItemCaseSensitive(fl, skeys[i]);
			if (fv && !cJSON_IsString(fv))
				rc = berr_setmsg(err, EINVAL,
						 "%s: \"fleet\".\"%s\" must be a string", file,
						 skeys[i]);
			else if (fv)
				*sdst[i] = fv->valuestring;
		}
		rc = rc ?: get_int(fl, "interval", &c->fleet.interval, 1, 86400, file, err);
		rc = rc ?: get_int(fl, "settle-time", &c->fleet.settle, 0, 3600, file, err);
		if (rc == 0 && c->fleet.portal && strncmp(c->fleet.portal, "http://", 7) &&
		    strncmp(c->fleet.portal, "https://", 8))
			rc = berr_setmsg(
				err, EINVAL,
				"%s: \"fleet\".\"portal\" must be an http:// or https:// URL",
				file);
	}
	const cJSON *hub = cJSON_GetObjectItemCaseSensitive(doc, "registry-mirrors");
	if (rc == 0 && hub)
		rc = add_mirrors(c, "docker.io", hub, file, err);
	const cJSON *per = cJSON_GetObjectItemCaseSensitive(doc, "mirrors");
	if (rc == 0 && per && !cJSON_IsObject(per))
		rc = berr_setmsg(err, EINVAL, "%s: \"mirrors\" must map registries to URL lists",
				 file);
	const cJSON *e;
	if (rc == 0 && per) {
		cJSON_ArrayForEach(e, per)
		{
			rc = add_mirrors(c, e->string, e, file, err);
			if (rc)
				break;
		}
	}
	return rc;
}

void agent_auth_path(const struct agent_config *c, char *out, size_t len)
{
	snprintf(out, len, "%s/config.json", c->dir);
}

const char *agent_auth_key(const char *host)
{
	return strcmp(host, "docker.io") ? host : "https://index.docker.io/v1/";
}

static void load_basic(const struct agent_config *c, const char *host, char *basic, size_t len)
{
	char path[PATH_MAX];
	basic[0] = '\0';
	agent_auth_path(c, path, sizeof(path));
	char *txt = NULL;
	ssize_t n = fs_read_alloc(path, CONFIG_MAX_BYTES, &txt, NULL);
	if (n < 0)
		return;
	cJSON *doc = cJSON_ParseWithLength(txt, (size_t)n);
	free(txt);
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "auths"),
						 agent_auth_key(host)),
		"auth");
	if (cJSON_IsString(a) && strlen(a->valuestring) < len)
		strcpy(basic, a->valuestring);
	cJSON_Delete(doc);
}

void agent_config_registry(const struct agent_config *c, const struct net_ref *ref,
			   struct net_registry_config *rc, char *basic, size_t basiclen)
{
	memset(rc, 0, sizeof(*rc));
	rc->timeout_ms = c->timeout_ms;
	rc->trust.certs_d = c->certs_d;
	rc->trust.ca_bundle = "/etc/ssl/certs/ca-certificates.crt";
	for (int i = 0; i < c->ninsecure; i++)
		if (!strcmp(c->insecure[i], ref->host))
			rc->insecure = true;
	for (int i = 0; i < c->nmirrors; i++) {
		if (strcmp(c->mirrors[i].host, ref->host))
			continue;
		for (int j = 0; j < c->mirrors[i].n && rc->nmirrors < REGISTRY_MAX_MIRRORS; j++)
			rc->mirrors[rc->nmirrors++] = c->mirrors[i].urls[j];
	}
	load_basic(c, ref->host, basic, basiclen);
	rc->basic = basic[0] ? basic : NULL;
}

/* "host[:port]" from a registry argument (a URL or a bare host). */
int agent_registry_host(const char *arg, struct net_ref *ref, struct berr *err)
{
	char tmp[REF_HOST_MAX + 32];
	const char *h = arg;
	if (!strncmp(h, "https://", 8))
		h += 8;
	else if (!strncmp(h, "http://", 7))
		h += 7;
	snprintf(tmp, sizeof(tmp), "%s", h);
	tmp[strcspn(tmp, "/")] = '\0';
	if (!strcmp(tmp, "index.docker.io") || !strcmp(tmp, "registry-1.docker.io"))
		strcpy(tmp, "docker.io");
	char probe[REF_HOST_MAX + 48];
	snprintf(probe, sizeof(probe), "%s/x/y", tmp);
	int rc = net_ref_parse(probe, ref, err);
	if (rc < 0 || strcmp(ref->host, tmp))
		return berr_setmsg(err, EINVAL, "'%s' is not a registry host", arg);
	ref->path[0] = '\0';
	return 0;
}

int agent_store_driver(const struct agent_config *c, struct store *s, struct berr *err)
{
	if (c->storage_driver)
		return store_driver_set(s, c->storage_driver, err);
	/* a store that has no driver yet gets the build's default, if it is empty */
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/driver", s->root);
	if (!access(p, F_OK))
		return 0;
	const char *def = CONFIG_SQUASHFS_DEFAULT ? "squashfs" : "overlay";
	struct berr e = { 0 };
	int rc = store_driver_set(s, def, &e);
	return rc == -EEXIST ? 0 : rc < 0 ? (*err = e, rc) : 0;
}
