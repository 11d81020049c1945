/* berth search: repositories of a registry matching a term, from the
 * registry's _catalog and tags list (distribution-spec "content discovery"). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent/client.h"
#include "agent/flags.h"
#include "agent/settings.h"
#include "board/cleanup.h"
#include "config.h"
#include "net/registry.h"

#define SEARCH_MAX_BYTES (1 << 20)

int agent_search(const struct agent_config *cfg, const char *spec, int limit,
		 void (*emit)(void *ctx, const char *host, const char *name, const char *tags),
		 void *ctx, struct berr *err)
{
	char host[REF_HOST_MAX + 8], term[REF_PATH_MAX] = "";
	snprintf(host, sizeof(host), "%s", spec);
	char *slash = strchr(host, '/');
	if (slash) {
		snprintf(term, sizeof(term), "%s", slash + 1);
		*slash = '\0';
	}
	struct net_ref ref;
	if (agent_registry_host(host, &ref, err) < 0)
		return -EINVAL;
	struct net_registry_config rc;
	char basic[512];
	agent_config_registry(cfg, &ref, &rc, basic, sizeof(basic));
	_cleanup_free_ struct net_registry *r = malloc(sizeof(*r));
	_cleanup_free_ char *buf = malloc(SEARCH_MAX_BYTES);
	_cleanup_free_ char *tbuf = malloc(SEARCH_MAX_BYTES);
	if (!r || !buf || !tbuf)
		return berr_set(err, ENOMEM, "search");
	size_t len = 0;
	net_registry_init(r, &ref, &rc);
	strcpy(r->scope, "registry:catalog:*");
	int st = net_registry_get(r, "/v2/_catalog?n=1000", buf, SEARCH_MAX_BYTES, &len, err);
	cJSON *doc = st == 0 ? cJSON_ParseWithLength(buf, len) : NULL;
	const cJSON *repos = cJSON_GetObjectItemCaseSensitive(doc, "repositories");
	if (st == 0 && !cJSON_IsArray(repos))
		st = berr_setmsg(err, EBADMSG, "%s sent a catalog without \"repositories\"", host);
	const cJSON *e;
	int shown = 0;
	cJSON_ArrayForEach(e, repos)
	{
		if (st || shown >= limit)
			break;
		if (!cJSON_IsString(e) || !strstr(e->valuestring, term) ||
		    strlen(e->valuestring) >= REF_PATH_MAX)
			continue;
		char path[REF_PATH_MAX + 32], tags[512] = "";
		snprintf(r->scope, sizeof(r->scope), "repository:%s:pull", e->valuestring);
		snprintf(path, sizeof(path), "/v2/%s/tags/list", e->valuestring);
		size_t tl;
		if (net_registry_get(r, path, tbuf, SEARCH_MAX_BYTES, &tl, NULL) == 0) {
			cJSON *tj = cJSON_ParseWithLength(tbuf, tl);
			const cJSON *t;
			cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(tj, "tags"))
			{
				if (!cJSON_IsString(t) ||
				    strlen(tags) + strlen(t->valuestring) + 8 > sizeof(tags))
					continue;
				if (tags[0])
					strcat(tags, ", ");
				strcat(tags, t->valuestring);
			}
			cJSON_Delete(tj);
		}
		emit(ctx, host, e->valuestring, tags);
		shown++;
	}
	cJSON_Delete(doc);
	net_registry_close(r);
	return st;
}

/* One repository as an item of GET /images/search's answer (docker's
 * fields, and Berth's "tags": the repository's tags, comma separated). */
static void search_item(void *ctx, const char *host, const char *name, const char *tags)
{
	cJSON *o = cJSON_CreateObject();
	char full[REF_HOST_MAX + REF_PATH_MAX + 2], desc[600];
	snprintf(full, sizeof(full), "%s/%s", host, name);
	snprintf(desc, sizeof(desc), "tags: %s", *tags ? tags : "(none)");
	cJSON_AddStringToObject(o, "name", full);
	cJSON_AddStringToObject(o, "description", desc);
	cJSON_AddNumberToObject(o, "star_count", 0);
	cJSON_AddBoolToObject(o, "is_official", false);
	cJSON_AddBoolToObject(o, "is_automated", false);
	cJSON_AddStringToObject(o, "tags", tags);
	cJSON_AddItemToArray(ctx, o);
}

int agent_search_json(const struct agent_config *cfg, const char *spec, int limit, cJSON **out,
		      struct berr *err)
{
	*out = cJSON_CreateArray();
	int st = agent_search(cfg, spec, limit, search_item, *out, err);
	if (st < 0) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	return st;
}

int agent_cmd_search(const struct agent_opts *o, int argc, char **argv)
{
	int limit = 25;
	const struct agent_flag flags[] = { { "limit", 0, FLAG_INT, &limit } };
	int n = agent_flags(
		argc, argv, flags, 1,
		"Usage: berth search [--limit N] REGISTRY[/TERM]\n\n"
		"List repositories of a registry whose name contains TERM, with their tags.\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n != 1)
		return agent_usage(
			"search: needs REGISTRY[/TERM], e.g. registry.example.com:5000/app");
	if (limit < 1 || limit > 1000)
		return agent_usage("search: --limit must be from 1 to 1000");
	cJSON *arr = NULL;
	struct berr err = { 0 };
	int st;
	if (CONFIG_DAEMON && o->host) {
		char enc[1024], path[1200];
		snprintf(path, sizeof(path), "/images/search?term=%s&limit=%d",
			 agent_api_enc(argv[1], enc, sizeof(enc)), limit);
		st = agent_api_call(o, "GET", path, NULL, AGENT_API_TIMEOUT_MS, &arr, &err);
		st = st == 200 && arr ? 0 : st == 400 ? -EINVAL : -EIO;
	} else {
		struct agent_config cfg;
		if (agent_config_load(&cfg, o->config_file, &err) < 0)
			return agent_fail("config: %s", err.msg);
		st = agent_search_json(&cfg, argv[1], limit, &arr, &err);
		agent_config_free(&cfg);
	}
	if (st == -EINVAL)
		return agent_usage("search: %s", err.msg);
	if (st < 0)
		return agent_fail("search %s: %s", argv[1], err.msg);
	printf("%-50s %s\n", "NAME", "TAGS");
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		printf("%-50s %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(it, "name")) ?: "",
		       cJSON_GetStringValue(cJSON_GetObjectItem(it, "tags")) ?: "");
	}
	cJSON_Delete(arr);
	return AGENT_EXIT_OK;
}
