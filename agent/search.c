/* berth search: repositories of a registry matching a term, from the
 * registry's _catalog and tags list (distribution-spec "content discovery"). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent/flags.h"
#include "agent/settings.h"
#include "board/cleanup.h"
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

static void print_repo(void *ctx, const char *host, const char *name, const char *tags)
{
	bool *header = ctx;
	if (!*header)
		printf("%-50s %s\n", "NAME", "TAGS");
	*header = true;
	printf("%s/%-*s %s\n", host, (int)(49 - strlen(host)), name, tags);
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
	struct agent_config cfg;
	struct berr err = { 0 };
	if (agent_config_load(&cfg, o->config_file, &err) < 0)
		return agent_fail("config: %s", err.msg);
	bool header = false;
	int st = agent_search(&cfg, argv[1], limit, print_repo, &header, &err);
	if (st == 0 && !header)
		printf("%-50s %s\n", "NAME", "TAGS");
	agent_config_free(&cfg);
	if (st == -EINVAL)
		return agent_usage("search: %s", err.msg);
	return st < 0 ? agent_fail("search %s: %s", argv[1], err.msg) : AGENT_EXIT_OK;
}
