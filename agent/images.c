/* Image commands, working directly on the store: pull, images, tag, rmi,
 * image inspect/prune, system df. Output follows docker's. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agent/client.h"
#include "agent/settings.h"
#include "agent/flags.h"
#include "agent/pull.h"
#include "agent/container.h"
#include "agent/events.h"
#include "board/cleanup.h"
#include "board/fs.h"
#include "config.h"
#include "net/ref.h"
#include "store/store.h"

const char *agent_data_root(const struct agent_opts *o, const struct agent_config *cfg)
{
	const char *r = o->root_set || !cfg->data_root ? o->root : cfg->data_root;
	/* relative to where berth was started: monitors and containers work
	 * from other directories */
	static char abs[PATH_MAX];
	size_t n;
	if (r[0] == '/' || !getcwd(abs, sizeof(abs)) ||
	    (n = strlen(abs)) + strlen(r) + 2 > sizeof(abs))
		return r;
	snprintf(abs + n, sizeof(abs) - n, "%s%s", abs[n - 1] == '/' ? "" : "/", r);
	return abs;
}

int agent_load_config(const struct agent_opts *o, struct agent_config *cfg)
{
	struct berr err = { 0 };
	if (agent_config_load(cfg, o->config_file, &err) < 0)
		return agent_fail("config: %s", err.msg);
	return 0;
}

cJSON *agent_json_of(const struct agent_opts *o, const char *path,
		     cJSON *(*local)(const char *root, struct berr *err), struct berr *err)
{
	cJSON *j = NULL;
	if (CONFIG_DAEMON && o->host) {
		if (agent_api_call(o, "GET", path, NULL, AGENT_API_TIMEOUT_MS, &j, err) == 200)
			return j;
		cJSON_Delete(j);
		return NULL;
	}
	struct agent_config cfg;
	if (agent_config_load(&cfg, o->config_file, err) < 0) {
		berr_prefix(err, "config");
		return NULL;
	}
	j = local(agent_data_root(o, &cfg), err);
	agent_config_free(&cfg);
	return j;
}

/* One line of the daemon's pull progress, as the direct pull prints it
 * without a terminal; the last error is kept in err. */
static void pull_line(const char *line, size_t len, bool quiet, FILE *out, struct berr *err)
{
	cJSON *j = cJSON_ParseWithLength(line, len);
	const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(j, "error"));
	const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(j, "status"));
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(j, "id"));
	if (e)
		berr_setmsg(err, EIO, "%s", e);
	else if (st && !quiet && !cJSON_GetObjectItem(j, "progressDetail"))
		fprintf(out, "%s%s%s\n", id ? id : "", id ? ": " : "", st);
	fflush(out);
	cJSON_Delete(j);
}

int agent_pull_api(const struct agent_opts *o, const char *ref, bool quiet, FILE *out,
		   struct berr *err)
{
	char enc[1024], path[1200];
	snprintf(path, sizeof(path), "/images/create?fromImage=%s",
		 agent_api_enc(ref, enc, sizeof(enc)));
	int st = agent_api_open(o, "POST", path, NULL, -1, err);
	if (st != 200)
		return st < 0 ? st : -(err->code ? err->code : EIO);
	/* JSON lines, each ending in \r\n; a longer line than buf is dropped */
	char buf[8192];
	size_t have = 0;
	bool skip = false;
	ssize_t n;
	while ((n = agent_api_read(buf + have, sizeof(buf) - have, err)) > 0) {
		have += (size_t)n;
		char *p = buf, *nl;
		while ((nl = memchr(p, '\n', have - (size_t)(p - buf)))) {
			if (!skip)
				pull_line(p, (size_t)(nl - p), quiet, out, err);
			skip = false;
			p = nl + 1;
		}
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
		if (have == sizeof(buf)) {
			have = 0;
			skip = true;
		}
	}
	return n < 0 ? (int)n : err->code ? -err->code : 0;
}

static int pull_api(const struct agent_opts *o, const char *ref, bool quiet)
{
	struct net_ref r;
	struct berr err = { 0 };
	if (net_ref_parse(ref, &r, &err) < 0)
		return agent_fail("pull %s: %s", ref, err.msg);
	if (agent_pull_api(o, ref, quiet, stdout, &err))
		return agent_fail("%s", err.msg);
	char full[REF_STR_MAX];
	net_ref_format(&r, false, full, sizeof(full));
	printf("%s\n", full);
	return AGENT_EXIT_OK;
}

int agent_cmd_pull(const struct agent_opts *o, int argc, char **argv)
{
	bool quiet = false, all = false;
	const char *platform = NULL;
	const struct agent_flag flags[] = {
		{ "quiet", 'q', FLAG_BOOL, &quiet },
		{ "platform", 0, FLAG_STR, &platform },
		{ "all-tags", 'a', FLAG_BOOL, &all },
	};
	int n = agent_flags(argc, argv, flags, 3,
			    "Usage: berth pull [OPTIONS] NAME[:TAG|@DIGEST]\n\n"
			    "Download an image from a registry.\n\n"
			    "Options:\n"
			    "      --platform string   os/arch[/variant] to pull from an index\n"
			    "  -q, --quiet             Print only the image reference\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n != 1)
		return agent_usage("pull: needs exactly one image reference");
	if (all)
		return agent_usage("pull: --all-tags is not supported");
	if (CONFIG_DAEMON && o->host) {
		if (platform)
			return agent_usage(
				"pull: --platform is not supported through the daemon (use --root to pull directly)");
		return pull_api(o, argv[1], quiet);
	}
	struct agent_config cfg;
	if (agent_load_config(o, &cfg))
		return AGENT_EXIT_FAIL;
	struct agent_pull_opts po = {
		.root = agent_data_root(o, &cfg), .cfg = &cfg, .quiet = quiet, .out = stdout
	};
	struct berr err = { 0 };
	if (platform && store_platform_parse(platform, &po.platform, &err) < 0) {
		agent_config_free(&cfg);
		return agent_usage("pull: --platform: %s", err.msg);
	}
	if (!platform)
		store_platform_host(&po.platform);
	char id[DIGEST_STR_MAX];
	int rc = agent_pull(&po, argv[1], id, &err);
	agent_config_free(&cfg);
	return rc < 0 ? agent_fail("%s", err.msg) : AGENT_EXIT_OK;
}

/* --- listing --- */

struct listing {
	struct store_tag *tags;
	int ntags;
	int nimg;
	struct store_image *img; /* all records */
};

static int collect(const struct store_image *img, void *arg)
{
	struct listing *l = arg;
	void *p = realloc(l->img, sizeof(*l->img) * (size_t)(l->nimg + 1));
	if (!p)
		return -ENOMEM;
	l->img = p;
	l->img[l->nimg++] = *img;
	return 0;
}

static void listing_free(struct listing *l)
{
	free(l->tags);
	free(l->img);
}

static int listing_load(const struct store *s, struct listing *l, struct berr *err)
{
	memset(l, 0, sizeof(*l));
	int n = store_tags_load(s, &l->tags, err);
	if (n < 0)
		return n;
	l->ntags = n;
	return store_image_each(s, collect, l, err);
}

/* Opens the store read-only; a root with no store yet reads as empty. */
static int open_read(const char *root, struct store *s, bool *empty)
{
	struct berr err = { 0 };
	*empty = false;
	if (store_open(s, root, STORE_READ, &err) == 0)
		return 0;
	if (err.code == ENOENT) {
		*empty = true;
		return 0;
	}
	return agent_fail("%s", err.msg);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
	return s ? s : "";
}

static void human_age(long long t, char *out, size_t len)
{
	long long d = (long long)time(NULL) - t;
	if (d < 60)
		snprintf(out, len, "%s", "Less than a minute ago");
	else if (d < 3600)
		snprintf(out, len, "%lld minute%s ago", d / 60, d / 60 == 1 ? "" : "s");
	else if (d < 86400)
		snprintf(out, len, "%lld hour%s ago", d / 3600, d / 3600 == 1 ? "" : "s");
	else
		snprintf(out, len, "%lld days ago", d / 86400);
}

/* Splits "host/path:tag" into repository and tag, familiar form. */
static void split_tag(const char *name, char *repo, size_t rlen, char *tag, size_t tlen)
{
	struct net_ref r;
	if (net_ref_parse(name, &r, NULL) < 0) {
		snprintf(repo, rlen, "%s", name);
		snprintf(tag, tlen, "<none>");
		return;
	}
	net_ref_repo(&r, true, repo, rlen);
	snprintf(tag, tlen, "%s", r.tag);
}

/* The digest of repo (familiar form) among an image's RepoDigests. */
static const char *digest_for(const cJSON *img, const char *repo)
{
	const cJSON *d;
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(img, "RepoDigests"))
	{
		const char *v = cJSON_GetStringValue(d), *at = v ? strchr(v, '@') : NULL;
		struct net_ref r;
		char fam[REF_HOST_MAX + REF_PATH_MAX];
		if (at && !net_ref_parse(v, &r, NULL) &&
		    !net_ref_repo(&r, true, fam, sizeof(fam)) && !strcmp(fam, repo))
			return at + 1;
	}
	return "<none>";
}

static bool filter_match(const struct agent_strlist *f, const char *repo, const char *tag,
			 bool dangling, int *bad)
{
	for (int i = 0; i < f->n; i++) {
		const char *v = f->v[i];
		if (!strncmp(v, "dangling=", 9)) {
			bool want = !strcmp(v + 9, "true") || !strcmp(v + 9, "1");
			if (want != dangling)
				return false;
		} else if (!strncmp(v, "reference=", 10)) {
			char both[700];
			snprintf(both, sizeof(both), "%s:%s", repo, tag);
			if (dangling || (fnmatch(v + 10, repo, 0) && fnmatch(v + 10, both, 0)))
				return false;
		} else {
			*bad = i + 1;
			return false;
		}
	}
	return true;
}

/* Loads config, store and listing for a read-only command; returns 0 or the
 * exit code after reporting. An absent store reads as empty. */
static int open_listing(const struct agent_opts *o, const char *cmd, struct store *st,
			struct listing *l)
{
	struct agent_config cfg;
	memset(l, 0, sizeof(*l));
	if (agent_load_config(o, &cfg))
		return AGENT_EXIT_FAIL;
	bool empty;
	int rc = open_read(agent_data_root(o, &cfg), st, &empty);
	agent_config_free(&cfg);
	if (rc)
		return rc;
	struct berr err = { 0 };
	if (!empty && listing_load(st, l, &err) < 0)
		return agent_fail("%s: %s", cmd, err.msg);
	return 0;
}

static cJSON *images_json(const char *root, struct berr *err);

/* One image of GET /images/json as rows of the images table. */
static void images_rows(const cJSON *img, const struct agent_strlist *filters, bool quiet,
			bool digests, bool notrunc, int *bad)
{
	const char *full = jstr(img, "Id");
	char id[DIGEST_STR_MAX], age[64], size[32];
	snprintf(id, sizeof(id), "%s", notrunc || strlen(full) < 7 ? full : full + 7);
	if (!notrunc)
		id[12] = '\0';
	human_age((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(img, "Created")), age,
		  sizeof(age));
	agent_human_size((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(img, "Size")), size,
			 sizeof(size));
	int shown = 0;
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(img, "RepoTags"))
	{
		const char *name = cJSON_GetStringValue(t),
			   *colon = name ? strrchr(name, ':') : NULL;
		if (!colon)
			continue;
		char repo[600];
		snprintf(repo, sizeof(repo), "%.*s", (int)(colon - name), name);
		shown++;
		if (!filter_match(filters, repo, colon + 1, false, bad))
			continue;
		if (quiet) {
			printf("%s\n", id);
			break;
		}
		printf("%-40s %-12s %s%s%-14s %-24s %s\n", repo, colon + 1,
		       digests ? digest_for(img, repo) : "", digests ? " " : "", id, age, size);
	}
	if (!shown && filter_match(filters, "<none>", "<none>", true, bad)) {
		if (quiet)
			printf("%s\n", id);
		else
			printf("%-40s %-12s %s%s%-14s %-24s %s\n", "<none>", "<none>",
			       digests ? "<none>" : "", digests ? " " : "", id, age, size);
	}
}

int agent_cmd_images(const struct agent_opts *o, int argc, char **argv)
{
	bool all = false, quiet = false, digests = false, notrunc = false;
	struct agent_strlist filters = { 0 };
	const struct agent_flag flags[] = {
		{ "all", 'a', FLAG_BOOL, &all },        { "quiet", 'q', FLAG_BOOL, &quiet },
		{ "digests", 0, FLAG_BOOL, &digests },  { "no-trunc", 0, FLAG_BOOL, &notrunc },
		{ "filter", 'f', FLAG_LIST, &filters },
	};
	int n = agent_flags(argc, argv, flags, 5,
			    "Usage: berth images [OPTIONS] [REPOSITORY[:TAG]]\n\n"
			    "List images in the store.\n\n"
			    "Options:\n"
			    "  -a, --all             Show all images\n"
			    "      --digests         Show digests\n"
			    "  -f, --filter filter   dangling=true|false, reference=PATTERN\n"
			    "      --no-trunc        Do not truncate output\n"
			    "  -q, --quiet           Only show image IDs\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n > 1)
		return agent_usage("images: takes at most one repository");
	struct berr err = { 0 };
	cJSON *arr = agent_json_of(o, "/images/json", images_json, &err);
	if (!arr)
		return agent_fail(o->host ? "images: %s" : "%s", err.msg);
	if (n == 1) {
		if (filters.n == AGENT_LIST_MAX) {
			cJSON_Delete(arr);
			return agent_usage("images: too many filters");
		}
		static char pat[400];
		snprintf(pat, sizeof(pat), "reference=%s", argv[1]);
		filters.v[filters.n++] = pat;
	}
	if (!quiet) {
		printf("%-40s %-12s %s%-14s %-24s %s\n", "REPOSITORY", "TAG",
		       digests ? "DIGEST                                                           "
				 "         "
			       : "",
		       "IMAGE ID", "CREATED", "SIZE");
	}
	int bad = 0;
	const cJSON *img;
	cJSON_ArrayForEach(img, arr) images_rows(img, &filters, quiet, digests, notrunc, &bad);
	cJSON_Delete(arr);
	if (bad)
		return agent_usage("images: unknown filter '%s' (use dangling= or reference=)",
				   filters.v[bad - 1]);
	return AGENT_EXIT_OK;
}

/* Resolves NAME[:TAG], NAME@DIGEST, a full or short image id to an image id;
 * tagname gets the tag's full name when the argument was a tag. */
static int resolve(const struct store *s, const struct listing *l, const char *arg,
		   char id[DIGEST_STR_MAX], char *tagname, size_t tlen, struct berr *err)
{
	if (tagname)
		tagname[0] = '\0';
	struct net_ref r;
	if (net_ref_parse(arg, &r, NULL) == 0) {
		char repo[REF_HOST_MAX + REF_PATH_MAX], name[sizeof(repo) + REF_TAG_MAX + 1];
		net_ref_repo(&r, false, repo, sizeof(repo));
		if (r.tag[0] && !r.digest[0]) {
			snprintf(name, sizeof(name), "%s:%s", repo, r.tag);
			if (store_tag_get(s, name, id, NULL) == 0) {
				if (tagname)
					snprintf(tagname, tlen, "%s", name);
				return 0;
			}
		}
		if (r.digest[0]) {
			snprintf(name, sizeof(name), "%s@%s", repo, r.digest);
			for (int i = 0; i < l->nimg; i++)
				for (int k = 0; k < l->img[i].nrepo_digests; k++)
					if (!strcmp(l->img[i].repo_digests[k], name)) {
						strcpy(id, l->img[i].id);
						return 0;
					}
		}
	}
	const char *hex = strncmp(arg, "sha256:", 7) ? arg : arg + 7;
	size_t hl = strlen(hex);
	int found = -1;
	if (hl >= 4 && hl <= 64 && strspn(hex, "0123456789abcdef") == hl) {
		for (int i = 0; i < l->nimg; i++) {
			if (strncmp(l->img[i].id + 7, hex, hl))
				continue;
			if (found >= 0)
				return berr_setmsg(err, EINVAL, "image id '%s' is ambiguous", arg);
			found = i;
		}
	}
	if (found < 0)
		return berr_setmsg(err, ENOENT, "no such image: %s", arg);
	strcpy(id, l->img[found].id);
	return 0;
}

int agent_image_resolve(const struct store *s, const char *arg, char id[DIGEST_STR_MAX],
			struct berr *err)
{
	struct listing l;
	int rc = listing_load(s, &l, err);
	if (!rc)
		rc = resolve(s, &l, arg, id, NULL, 0, err);
	listing_free(&l);
	return rc;
}

static int tags_of(const struct listing *l, const char *id)
{
	int n = 0;
	for (int t = 0; t < l->ntags; t++)
		n += !strcmp(l->tags[t].id, id);
	return n;
}

int agent_cmd_tag(const struct agent_opts *o, int argc, char **argv)
{
	int n = agent_flags(argc, argv, NULL, 0,
			    "Usage: berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n\n"
			    "Give an image another name.\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n != 2)
		return agent_usage("tag: needs a source and a target image");
	struct net_ref target;
	struct berr err = { 0 };
	if (net_ref_parse(argv[2], &target, &err) < 0)
		return agent_usage("tag: %s", err.msg);
	if (target.digest[0])
		return agent_usage("tag: target '%s' must not contain a digest", argv[2]);
	if (CONFIG_DAEMON && o->host) {
		/* repo and tag: the tag follows the last ':' after the last '/' */
		char repo[700], a[1024], b[1024], t[256], path[2600];
		snprintf(repo, sizeof(repo), "%s", argv[2]);
		char *colon = strrchr(repo, ':');
		if (colon && strchr(colon, '/'))
			colon = NULL;
		if (colon)
			*colon = '\0';
		snprintf(path, sizeof(path), "/images/%s/tag?repo=%s&tag=%s",
			 agent_api_enc(argv[1], a, sizeof(a)), agent_api_enc(repo, b, sizeof(b)),
			 agent_api_enc(colon ? colon + 1 : "", t, sizeof(t)));
		int st = agent_api_call(o, "POST", path, NULL, AGENT_API_TIMEOUT_MS, NULL, &err);
		return st >= 200 && st < 300 ? AGENT_EXIT_OK
					     : agent_fail("tag %s: %s", argv[1], err.msg);
	}
	struct agent_config cfg;
	if (agent_load_config(o, &cfg))
		return AGENT_EXIT_FAIL;
	struct store st;
	int rc = store_open(&st, agent_data_root(o, &cfg), STORE_WRITE, &err);
	agent_config_free(&cfg);
	if (rc < 0)
		return agent_fail("tag: %s", err.msg);
	struct listing l;
	char id[DIGEST_STR_MAX], repo[REF_HOST_MAX + REF_PATH_MAX], name[600];
	rc = listing_load(&st, &l, &err);
	rc = rc ?: resolve(&st, &l, argv[1], id, NULL, 0, &err);
	net_ref_repo(&target, false, repo, sizeof(repo));
	snprintf(name, sizeof(name), "%s:%s", repo, target.tag);
	rc = rc ?: store_tag_set(&st, name, id, &err);
	listing_free(&l);
	store_close(&st);
	return rc < 0 ? agent_fail("tag %s: %s", argv[1], err.msg) : AGENT_EXIT_OK;
}

/* "Untagged: repo:tag" / "Deleted: id" to stdout, or into the API's list. */
static void report_rm(cJSON *res, const char *what, const char *a, const char *b)
{
	char v[700];
	snprintf(v, sizeof(v), "%s%s%s", a, b ? ":" : "", b ? b : "");
	if (!res) {
		printf("%s: %s\n", what, v);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, what, v);
	cJSON_AddItemToArray(res, o);
}

static int remove_one(struct store *st, const char *arg, bool force, cJSON *res, struct berr *out)
{
	struct listing l;
	struct berr err = { 0 };
	char id[DIGEST_STR_MAX], tagname[600];
	int rc = listing_load(st, &l, &err);
	rc = rc ?: resolve(st, &l, arg, id, tagname, sizeof(tagname), &err);
	char user[AGENT_NAME_MAX];
	bool in_use = rc == 0 && (!tagname[0] || tags_of(&l, id) <= 1) &&
		      agent_image_in_use(st->root, id, user, sizeof(user));
	/* with -f the tags go; the image itself stays for its container */
	if (in_use && !force)
		rc = berr_setmsg(&err, EBUSY,
				 "image %.19s is used by container %s: remove the container first",
				 id, user);
	if (rc == 0 && !tagname[0] && tags_of(&l, id) > 1 && !force)
		rc = berr_setmsg(&err, EBUSY,
				 "image %.19s is referenced by %d tags: remove the tags or use -f",
				 id, tags_of(&l, id));
	if (rc == 0 && tagname[0]) {
		rc = store_tag_remove(st, tagname, &err);
		if (rc == 0) {
			char repo[600], tag[REF_TAG_MAX];
			split_tag(tagname, repo, sizeof(repo), tag, sizeof(tag));
			report_rm(res, "Untagged", repo, tag);
		}
	} else if (rc == 0) {
		for (int t = 0; t < l.ntags; t++) {
			if (strcmp(l.tags[t].id, id) ||
			    store_tag_remove(st, l.tags[t].name, &err) < 0)
				continue;
			char repo[600], tag[REF_TAG_MAX];
			split_tag(l.tags[t].name, repo, sizeof(repo), tag, sizeof(tag));
			report_rm(res, "Untagged", repo, tag);
		}
	}
	bool last = rc == 0 && (!tagname[0] || tags_of(&l, id) == 1) && !in_use;
	if (last) {
		rc = store_image_delete(st, id, &err);
		if (rc == 0) {
			report_rm(res, "Deleted", id, NULL);
			cJSON *a = cJSON_CreateObject();
			cJSON_AddStringToObject(a, "name", arg);
			agent_event(st->root, "image", "delete", id, a);
			cJSON_Delete(a);
		}
	}
	listing_free(&l);
	if (rc < 0 && !res)
		agent_fail("rmi %s: %s", arg, err.msg);
	if (rc < 0 && out)
		*out = err;
	return rc;
}

/* rmi through the daemon: its [{"Untagged": ...}, {"Deleted": ...}] as
 * the direct path prints them. */
static int rmi_api(const struct agent_opts *o, int n, char **argv, bool force)
{
	int failed = 0;
	for (int i = 1; i <= n; i++) {
		char enc[1024], path[1200];
		snprintf(path, sizeof(path), "/images/%s?force=%d",
			 agent_api_enc(argv[i], enc, sizeof(enc)), force);
		cJSON *j = NULL;
		struct berr err = { 0 };
		int st = agent_api_call(o, "DELETE", path, NULL, AGENT_API_TIMEOUT_MS, &j, &err);
		if (st != 200) {
			failed = agent_fail("rmi %s: %s", argv[i], err.msg);
			continue;
		}
		const cJSON *it;
		cJSON_ArrayForEach(it, j) if (it->child && cJSON_IsString(it->child))
			printf("%s: %s\n", it->child->string, it->child->valuestring);
		cJSON_Delete(j);
	}
	return failed ? AGENT_EXIT_FAIL : AGENT_EXIT_OK;
}

int agent_cmd_rmi(const struct agent_opts *o, int argc, char **argv)
{
	bool force = false, noprune = false;
	const struct agent_flag flags[] = {
		{ "force", 'f', FLAG_BOOL, &force },
		{ "no-prune", 0, FLAG_BOOL, &noprune },
	};
	int n = agent_flags(argc, argv, flags, 2,
			    "Usage: berth rmi [OPTIONS] IMAGE [IMAGE...]\n\n"
			    "Remove images (tags first; the image goes with its last tag).\n\n"
			    "Options:\n"
			    "  -f, --force   Remove an image with several tags\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n < 1)
		return agent_usage("rmi: needs at least one image");
	if (CONFIG_DAEMON && o->host)
		return rmi_api(o, n, argv, force);
	struct agent_config cfg;
	if (agent_load_config(o, &cfg))
		return AGENT_EXIT_FAIL;
	struct store st;
	struct berr err = { 0 };
	int rc = store_open(&st, agent_data_root(o, &cfg), STORE_WRITE, &err);
	agent_config_free(&cfg);
	if (rc < 0)
		return agent_fail("rmi: %s", err.msg);
	int failed = 0;
	for (int i = 1; i <= n; i++)
		failed |= remove_one(&st, argv[i], force, NULL, NULL) < 0;
	store_close(&st);
	return failed ? AGENT_EXIT_FAIL : AGENT_EXIT_OK;
}

/* --- inspect, prune, df --- */

static cJSON *inspect_json(const struct store *st, const struct listing *l,
			   const struct store_image *img)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "Id", img->id);
	cJSON *tags = cJSON_AddArrayToObject(j, "RepoTags");
	for (int t = 0; t < l->ntags; t++) {
		if (strcmp(l->tags[t].id, img->id))
			continue;
		char repo[600], tag[REF_TAG_MAX], name[700];
		split_tag(l->tags[t].name, repo, sizeof(repo), tag, sizeof(tag));
		snprintf(name, sizeof(name), "%s:%s", repo, tag);
		cJSON_AddItemToArray(tags, cJSON_CreateString(name));
	}
	cJSON *rd = cJSON_AddArrayToObject(j, "RepoDigests");
	for (int i = 0; i < img->nrepo_digests; i++) {
		struct net_ref r;
		char name[700];
		if (net_ref_parse(img->repo_digests[i], &r, NULL) == 0 &&
		    net_ref_repo(&r, true, name, sizeof(name) - DIGEST_STR_MAX - 1) == 0) {
			strcat(name, "@");
			strcat(name, r.digest);
			cJSON_AddItemToArray(rd, cJSON_CreateString(name));
		}
	}
	char when[64];
	time_t t = (time_t)img->created;
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	cJSON_AddStringToObject(j, "Pulled", when);
	cJSON_AddStringToObject(j, "Architecture", img->platform.arch);
	if (img->platform.variant[0])
		cJSON_AddStringToObject(j, "Variant", img->platform.variant);
	cJSON_AddStringToObject(j, "Os", img->platform.os);
	cJSON_AddNumberToObject(j, "Size", (double)img->size);
	cJSON_AddStringToObject(j, "ManifestDigest", img->manifest);
	char *cfgtxt = NULL;
	ssize_t n = store_blob_get(st, img->id, MANIFEST_MAX_BYTES + 1, &cfgtxt, NULL);
	cJSON *conf = n >= 0 ? cJSON_ParseWithLength(cfgtxt, (size_t)n) : NULL;
	free(cfgtxt);
	cJSON *c = cJSON_DetachItemFromObjectCaseSensitive(conf, "config");
	cJSON_AddItemToObject(j, "Config", c ? c : cJSON_CreateObject());
	cJSON *created = cJSON_GetObjectItemCaseSensitive(conf, "created");
	if (cJSON_IsString(created))
		cJSON_AddStringToObject(j, "Created", created->valuestring);
	cJSON_Delete(conf);
	cJSON *rootfs = cJSON_AddObjectToObject(j, "RootFS");
	cJSON_AddStringToObject(rootfs, "Type", "layers");
	cJSON *layers = cJSON_AddArrayToObject(rootfs, "Layers");
	for (int i = 0; i < img->nlayers; i++)
		cJSON_AddItemToArray(layers, cJSON_CreateString(img->diff_ids[i]));
	return j;
}

static int inspect_any(const struct agent_opts *o, int argc, char **argv, bool containers);

static int image_inspect(const struct agent_opts *o, int argc, char **argv)
{
	return inspect_any(o, argc, argv, false);
}

/* inspect through the daemon: a container first (when containers), then
 * an image, printed as the direct path prints them. */
static int inspect_api(const struct agent_opts *o, int n, char **argv, const char *format,
		       bool containers)
{
	cJSON *arr = cJSON_CreateArray();
	int failed = 0;
	for (int i = 1; i <= n; i++) {
		char enc[1024], path[1200];
		struct berr err = { 0 };
		cJSON *j = NULL;
		agent_api_enc(argv[i], enc, sizeof(enc));
		int st = 404;
		if (containers) {
			snprintf(path, sizeof(path), "/containers/%s/json", enc);
			st = agent_api_call(o, "GET", path, NULL, AGENT_API_TIMEOUT_MS, &j, &err);
		}
		if (st == 404) {
			snprintf(path, sizeof(path), "/images/%s/json", enc);
			st = agent_api_call(o, "GET", path, NULL, AGENT_API_TIMEOUT_MS, &j, &err);
		}
		if (st == 200 && j) {
			cJSON_AddItemToArray(arr, j);
			continue;
		}
		cJSON_Delete(j);
		failed = 1;
		if (st == 404)
			fprintf(stderr, "berth: error: inspect %s: no such %s\n", argv[i],
				containers ? "container or image" : "image");
		else
			agent_fail("inspect %s: %s", argv[i], err.msg);
	}
	agent_print_json_list(arr, format);
	return failed ? AGENT_EXIT_FAIL : AGENT_EXIT_OK;
}

static int inspect_any(const struct agent_opts *o, int argc, char **argv, bool containers)
{
	const char *format = NULL;
	const struct agent_flag flags[] = { { "format", 'f', FLAG_STR, &format } };
	int n = agent_flags(
		argc, argv, flags, 1,
		containers ? "Usage: berth inspect [OPTIONS] NAME|ID [NAME|ID...]\n\n"
			     "Show containers or images as JSON, like docker inspect.\n\n"
			     "Options:\n"
			     "  -f, --format string   Go-template subset: {{.State.Status}}\n"
			   : "Usage: berth image inspect [OPTIONS] IMAGE [IMAGE...]\n\n"
			     "Show images as JSON, like docker image inspect.\n\n"
			     "Options:\n"
			     "  -f, --format string   Go-template subset: {{.Id}}\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n < 1)
		return agent_usage("inspect: needs at least one image");
	if (CONFIG_DAEMON && o->host)
		return inspect_api(o, n, argv, format, containers);
	struct store st;
	struct listing l;
	struct berr err = { 0 };
	int rc = open_listing(o, "inspect", &st, &l);
	if (rc)
		return rc;
	cJSON *arr = cJSON_CreateArray();
	int failed = 0;
	struct agent_config cfg;
	const char *root = NULL;
	if (containers && !agent_load_config(o, &cfg))
		root = agent_data_root(o, &cfg);
	for (int i = 1; i <= n; i++) {
		char id[DIGEST_STR_MAX];
		int k = -1;
		cJSON *cj = root ? agent_container_json(root, argv[i]) : NULL;
		if (cj) {
			cJSON_AddItemToArray(arr, cj);
			continue;
		}
		if (resolve(&st, &l, argv[i], id, NULL, 0, &err) == 0)
			for (int m = 0; m < l.nimg; m++)
				if (!strcmp(l.img[m].id, id))
					k = m;
		if (k < 0) {
			fprintf(stderr, "berth: error: inspect %s: no such %s\n", argv[i],
				containers ? "container or image" : "image");
			failed = 1;
			continue;
		}
		cJSON_AddItemToArray(arr, inspect_json(&st, &l, &l.img[k]));
	}
	agent_print_json_list(arr, format);
	listing_free(&l);
	if (root)
		agent_config_free(&cfg);
	return failed ? AGENT_EXIT_FAIL : AGENT_EXIT_OK;
}

static bool confirm(const char *what)
{
	printf("WARNING! This will remove %s.\nAre you sure you want to continue? [y/N] ", what);
	fflush(stdout);
	char line[16];
	return fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y');
}

static int image_prune(const struct agent_opts *o, int argc, char **argv)
{
	bool all = false, force = false;
	const struct agent_flag flags[] = {
		{ "all", 'a', FLAG_BOOL, &all },
		{ "force", 'f', FLAG_BOOL, &force },
	};
	int n = agent_flags(
		argc, argv, flags, 2,
		"Usage: berth image prune [OPTIONS]\n\n"
		"Remove images without tags (with -a: all images no container uses).\n\n"
		"Options:\n"
		"  -a, --all     Remove all unused images, not just dangling ones\n"
		"  -f, --force   Do not prompt for confirmation\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n > 0)
		return agent_usage("image prune: takes no arguments");
	if (!force && !confirm(all ? "all images without at least one container associated to them"
				   : "all dangling images"))
		return AGENT_EXIT_OK;
	cJSON *j = NULL;
	struct berr err = { 0 };
	if (CONFIG_DAEMON && o->host) {
		if (agent_api_call(
			    o, "POST",
			    all ? "/images/prune?filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D"
				: "/images/prune",
			    NULL, -1, &j, &err) != 200) {
			cJSON_Delete(j);
			j = NULL;
		}
	} else {
		struct agent_config cfg;
		if (agent_load_config(o, &cfg))
			return AGENT_EXIT_FAIL;
		j = agent_images_prune(agent_data_root(o, &cfg), all, &err);
		agent_config_free(&cfg);
	}
	if (!j)
		return agent_fail("image prune: %s", err.msg);
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "ImagesDeleted"))
	{
		if (jstr(it, "Untagged")[0])
			printf("untagged: %s\n", jstr(it, "Untagged"));
		if (jstr(it, "Deleted")[0])
			printf("deleted: %s\n", jstr(it, "Deleted"));
	}
	char sz[32];
	agent_human_size((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "SpaceReclaimed")),
			 sz, sizeof(sz));
	printf("\nTotal reclaimed space: %s\n", sz);
	cJSON_Delete(j);
	return AGENT_EXIT_OK;
}

cJSON *agent_images_prune(const char *root, bool all, struct berr *err)
{
	struct store st;
	if (store_open(&st, root, STORE_WRITE, err) < 0)
		return NULL;
	struct listing l;
	if (listing_load(&st, &l, err) < 0) {
		store_close(&st);
		return NULL;
	}
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/layers", st.root);
	long long before = fs_du(p);
	cJSON *j = cJSON_CreateObject();
	cJSON *del = cJSON_AddArrayToObject(j, "ImagesDeleted");
	struct berr e = { 0 };
	for (int i = 0; i < l.nimg; i++) {
		const char *id = l.img[i].id;
		if ((tags_of(&l, id) && !all) || agent_image_in_use(st.root, id, NULL, 0))
			continue;
		for (int t = 0; t < l.ntags; t++)
			if (!strcmp(l.tags[t].id, id) &&
			    store_tag_remove(&st, l.tags[t].name, &e) == 0)
				report_rm(del, "Untagged", l.tags[t].name, NULL);
		if (store_image_delete(&st, id, &e) == 0)
			report_rm(del, "Deleted", id, NULL);
	}
	store_gc(&st);
	cJSON_AddNumberToObject(j, "SpaceReclaimed", (double)(before - fs_du(p)));
	listing_free(&l);
	store_close(&st);
	return j;
}

static double jnum(const cJSON *o, const char *k)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItem(o, k));
}

/* One line of system df: count, active, size and reclaimable of a list,
 * an item active when its count field is above 0 (or its State running
 * or paused) and reclaimable its size field otherwise. */
static void df_row(const char *type, const cJSON *list, const char *count, const char *size,
		   long long total)
{
	int n = 0, active = 0;
	long long sum = 0, free_ = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, list)
	{
		const cJSON *u = cJSON_GetObjectItem(it, "UsageData");
		bool used = count ? jnum(u ? u : it, count) > 0
				  : !strcmp(jstr(it, "State"), "running") ||
					    !strcmp(jstr(it, "State"), "paused");
		long long sz = (long long)jnum(u ? u : it, size);
		n++;
		active += used;
		sum += sz;
		if (!used)
			free_ += sz;
	}
	char a1[32], a2[32];
	agent_human_size(total >= 0 ? total : sum, a1, sizeof(a1));
	agent_human_size(free_, a2, sizeof(a2));
	printf("%-16s%-8d%-8d%-12s%s\n", type, n, active, a1, a2);
}

int agent_cmd_system(const struct agent_opts *o, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "df"))
		return agent_usage("system: unknown subcommand '%s' (available: df)",
				   argc > 1 ? argv[1] : "");
	int n = agent_flags(argc - 1, argv + 1, NULL, 0,
			    "Usage: berth system df\n\nShow disk usage of the store.\n");
	if (n < 0)
		return n == -1 ? AGENT_EXIT_OK : AGENT_EXIT_USAGE;
	if (n > 0)
		return agent_usage("system df: takes no arguments");
	struct berr err = { 0 };
	cJSON *j = agent_json_of(o, "/system/df", agent_df_json, &err);
	if (!j)
		return agent_fail("system df: %s", err.msg);
	printf("%-16s%-8s%-8s%-12s%s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
	df_row("Images", cJSON_GetObjectItem(j, "Images"), "Containers", "LayersSize",
	       (long long)jnum(j, "LayersSize"));
	df_row("Containers", cJSON_GetObjectItem(j, "Containers"), NULL, "SizeRw", -1);
	df_row("Local Volumes", cJSON_GetObjectItem(j, "Volumes"), "RefCount", "Size", -1);
	cJSON_Delete(j);
	return AGENT_EXIT_OK;
}

/* Bytes of the unpacked layers of each image, each layer counted once: for
 * the images containers use first, so that what is left for the unused
 * ones ("LayersSize" of an image with no container) is what pruning them
 * would free. Returns the total. */
static long long df_layers(const struct store *st, const struct listing *l, cJSON *imgs)
{
	long long total = 0;
	char(*seen)[DIGEST_STR_MAX] = NULL;
	int nseen = 0;
	char p[PATH_MAX];
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < l->nimg; i++) {
			cJSON *im = NULL, *it;
			cJSON_ArrayForEach(it, imgs) if (!strcmp(jstr(it, "Id"), l->img[i].id)) im =
				it;
			if (!im || (pass == 0) != (jnum(im, "Containers") > 0))
				continue;
			long long size = 0;
			for (int d = 0; d < l->img[i].nlayers; d++) {
				bool dup = false;
				for (int k = 0; k < nseen; k++)
					dup |= !strcmp(seen[k], l->img[i].diff_ids[d]);
				void *np = dup ? NULL
					       : realloc(seen, sizeof(*seen) * (size_t)(nseen + 1));
				if (!np)
					continue;
				seen = np;
				strcpy(seen[nseen++], l->img[i].diff_ids[d]);
				store_layer_path(st, l->img[i].diff_ids[d], p, sizeof(p));
				size += fs_du(p);
			}
			cJSON_AddNumberToObject(im, "LayersSize", (double)size);
			total += size;
		}
	free(seen);
	return total;
}

cJSON *agent_df_json(const char *root, struct berr *err)
{
	struct store st;
	struct listing l = { 0 };
	int rc = store_open(&st, root, STORE_READ, err);
	bool empty = rc < 0 && err->code == ENOENT; /* no store yet: no images */
	if (rc < 0 && !empty)
		return NULL;
	if (!empty && listing_load(&st, &l, err) < 0) {
		store_close(&st);
		return NULL;
	}
	char p[PATH_MAX + 64];
	cJSON *j = cJSON_CreateObject();
	cJSON *imgs = agent_images_json(root, true);
	cJSON_AddItemToObject(j, "Images", imgs);
	struct berr e = { 0 };
	cJSON *cs = agent_containers_json(root, true, NULL, &e), *it, *im;
	if (!cs)
		cs = cJSON_CreateArray();
	cJSON_ArrayForEach(it, cs)
	{
		/* what the container holds: its upper directory, config and log */
		snprintf(p, sizeof(p), "%s/containers/%s", root, jstr(it, "Id"));
		cJSON_AddNumberToObject(it, "SizeRw", (double)fs_du(p));
	}
	cJSON_ArrayForEach(im, imgs)
	{
		/* docker df counts an image as active when containers use it */
		int n = 0;
		cJSON_ArrayForEach(it, cs) n += !strcmp(jstr(it, "ImageID"), jstr(im, "Id"));
		cJSON_DeleteItemFromObject(im, "Containers");
		cJSON_AddNumberToObject(im, "Containers", n);
	}
	long long layers = empty ? 0 : df_layers(&st, &l, imgs);
	snprintf(p, sizeof(p), "%s/blobs", root);
	cJSON_AddNumberToObject(j, "LayersSize", (double)(fs_du(p) + layers));
	cJSON *vs = agent_volumes_json(root);
	cJSON_ArrayForEach(it, vs)
	{
		int refs = 0;
		const cJSON *c, *m;
		cJSON_ArrayForEach(c, cs) cJSON_ArrayForEach(m, cJSON_GetObjectItem(c, "Mounts"))
			refs += !strcmp(jstr(m, "Name"), jstr(it, "Name"));
		snprintf(p, sizeof(p), "%s/volumes/%s", root, jstr(it, "Name"));
		cJSON *u = cJSON_AddObjectToObject(it, "UsageData");
		cJSON_AddNumberToObject(u, "Size", (double)fs_du(p));
		cJSON_AddNumberToObject(u, "RefCount", refs);
	}
	cJSON_AddItemToObject(j, "Containers", cs);
	cJSON_AddItemToObject(j, "Volumes", vs);
	cJSON_AddArrayToObject(j, "BuildCache");
	if (!empty) {
		listing_free(&l);
		store_close(&st);
	}
	return j;
}

int agent_cmd_image(const struct agent_opts *o, int argc, char **argv)
{
	static const struct {
		const char *name;
		agent_cmd_fn *fn;
	} sub[] = {
		{ "inspect", image_inspect }, { "ls", agent_cmd_images }, { "prune", image_prune },
		{ "pull", agent_cmd_pull },   { "rm", agent_cmd_rmi },    { "tag", agent_cmd_tag },
	};
	if (argc < 2 || !strcmp(argv[1], "--help")) {
		fputs("Usage: berth image COMMAND\n\nCommands: inspect, ls, prune, pull, rm, tag\n",
		      argc < 2 ? stderr : stdout);
		return argc < 2 ? AGENT_EXIT_USAGE : AGENT_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
		if (!strcmp(argv[1], sub[i].name))
			return sub[i].fn(o, argc - 1, argv + 1);
	return agent_usage("image: unknown subcommand '%s' (see 'berth image --help')", argv[1]);
}

int agent_cmd_inspect(const struct agent_opts *o, int argc, char **argv)
{
	return inspect_any(o, argc, argv, true);
}

/* --- for the API --- */

/* Images as GET /images/json lists them; an absent store is an empty list,
 * NULL with err when the store cannot be read. */
static cJSON *images_json(const char *root, struct berr *err)
{
	struct store st;
	struct listing l;
	if (store_open(&st, root, STORE_READ, err))
		return err->code == ENOENT ? cJSON_CreateArray() : NULL;
	if (listing_load(&st, &l, err)) {
		store_close(&st);
		return NULL;
	}
	cJSON *arr = cJSON_CreateArray();
	for (int i = 0; i < l.nimg; i++) {
		const struct store_image *img = &l.img[i];
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "Id", img->id);
		cJSON_AddStringToObject(j, "ParentId", "");
		cJSON *tags = cJSON_AddArrayToObject(j, "RepoTags");
		for (int t = 0; t < l.ntags; t++) {
			if (strcmp(l.tags[t].id, img->id))
				continue;
			char repo[600], tag[REF_TAG_MAX], name[700];
			split_tag(l.tags[t].name, repo, sizeof(repo), tag, sizeof(tag));
			snprintf(name, sizeof(name), "%s:%s", repo, tag);
			cJSON_AddItemToArray(tags, cJSON_CreateString(name));
		}
		cJSON *rd = cJSON_AddArrayToObject(j, "RepoDigests");
		for (int k = 0; k < img->nrepo_digests; k++)
			cJSON_AddItemToArray(rd, cJSON_CreateString(img->repo_digests[k]));
		cJSON_AddNumberToObject(j, "Created", (double)img->created);
		cJSON_AddNumberToObject(j, "Size", (double)img->size);
		cJSON_AddNumberToObject(j, "SharedSize", -1);
		cJSON_AddNumberToObject(j, "VirtualSize", (double)img->size);
		cJSON_AddObjectToObject(j, "Labels");
		cJSON_AddNumberToObject(j, "Containers", -1);
		cJSON_AddItemToArray(arr, j);
	}
	listing_free(&l);
	store_close(&st);
	return arr;
}

cJSON *agent_images_json(const char *root, bool all)
{
	struct berr err = { 0 };
	cJSON *arr = images_json(root, &err);
	return arr ? arr : cJSON_CreateArray();
}

cJSON *agent_image_json(const char *root, const char *name)
{
	struct store st;
	struct listing l;
	struct berr err = { 0 };
	if (store_open(&st, root, STORE_READ, &err))
		return NULL;
	cJSON *j = NULL;
	char id[DIGEST_STR_MAX];
	if (!listing_load(&st, &l, &err)) {
		if (!resolve(&st, &l, name, id, NULL, 0, &err))
			for (int m = 0; m < l.nimg; m++)
				if (!strcmp(l.img[m].id, id))
					j = inspect_json(&st, &l, &l.img[m]);
		listing_free(&l);
	}
	store_close(&st);
	return j;
}

int agent_image_tag(const char *root, const char *src, const char *target, struct berr *err)
{
	struct net_ref t;
	if (net_ref_parse(target, &t, err) < 0)
		return -EINVAL;
	if (t.digest[0])
		return berr_setmsg(err, EINVAL, "target '%s' must not contain a digest", target);
	struct store st;
	int rc = store_open(&st, root, STORE_WRITE, err);
	if (rc < 0)
		return rc;
	struct listing l;
	char id[DIGEST_STR_MAX], repo[REF_HOST_MAX + REF_PATH_MAX], name[600];
	rc = listing_load(&st, &l, err);
	rc = rc ?: resolve(&st, &l, src, id, NULL, 0, err);
	net_ref_repo(&t, false, repo, sizeof(repo));
	snprintf(name, sizeof(name), "%s:%s", repo, t.tag);
	rc = rc ?: store_tag_set(&st, name, id, err);
	listing_free(&l);
	store_close(&st);
	return rc;
}

int agent_image_remove(const char *root, const char *name, bool force, cJSON *res, struct berr *err)
{
	struct store st;
	int rc = store_open(&st, root, STORE_WRITE, err);
	if (rc < 0)
		return rc;
	rc = remove_one(&st, name, force, res, err);
	store_close(&st);
	return rc;
}
