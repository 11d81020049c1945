/* Fleet heartbeat and desired-state updates (see fleet.h and
 * docs/heartbeat.md for the protocol). */
#include "agent/fleet.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/timex.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/agent.h"
#include "agent/container.h"
#include "agent/events.h"
#include "agent/pull.h"
#include "agent/run.h"
#include "board/cleanup.h"
#include "board/fs.h"
#include "board/identity.h"
#include "config.h"
#include "net/http.h"
#include "net/http_client.h"
#include "net/ref.h"
#include "runtime/state.h"
#include "store/digest.h"
#include "store/store.h"

#define LABEL_SPEC "berth.fleet.spec"
#define LABEL_REV "berth.fleet.revision"
#define PREV_SUFFIX ".prev"

static void fpath(const char *root, const char *file, char *out, size_t len)
{
	snprintf(out, len, "%s/fleet/%s", root, file);
}

static cJSON *load_json(const char *root, const char *file)
{
	char p[4200];
	_cleanup_free_ char *buf = NULL;
	fpath(root, file, p, sizeof(p));
	ssize_t n = fs_read_alloc(p, FLEET_DOC_MAX * 2, &buf, NULL);
	return n > 0 ? cJSON_ParseWithLength(buf, (size_t)n) : NULL;
}

static void save_json(const char *root, const char *file, const cJSON *j, bool durable)
{
	char p[4200], dir[4200];
	snprintf(dir, sizeof(dir), "%s/fleet", root);
	fs_mkdir_p(dir, 0700, NULL);
	fpath(root, file, p, sizeof(p));
	char *s = cJSON_PrintUnformatted(j);
	if (s)
		fs_write_replace(p, s, strlen(s), 0600, durable, &(struct berr){ 0 });
	free(s);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
	return s ? s : "";
}

/* --- status: what the heartbeat reports about revisions --- */

static void status_set(const char *root, const char *rev, const char *state, const char *error,
		       const cJSON *update)
{
	cJSON *st = load_json(root, "status.json");
	if (!st)
		st = cJSON_CreateObject();
	if (rev) {
		cJSON_DeleteItemFromObject(st, "revision");
		cJSON *r = cJSON_AddObjectToObject(st, "revision");
		cJSON_AddStringToObject(r, "id", rev);
		cJSON_AddStringToObject(r, "state", state);
		cJSON_AddStringToObject(r, "error", error ? error : "");
	}
	cJSON_DeleteItemFromObject(st, "update");
	cJSON_AddItemToObject(st, "update",
			      update ? cJSON_Duplicate(update, true) : cJSON_CreateNull());
	if (error && *error) {
		cJSON_DeleteItemFromObject(st, "error");
		cJSON_AddStringToObject(st, "error", error);
	}
	save_json(root, "status.json", st, true);
	cJSON_Delete(st);
}

static void last_error(const char *root, const char *msg)
{
	cJSON *st = load_json(root, "status.json");
	if (!st)
		st = cJSON_CreateObject();
	cJSON_DeleteItemFromObject(st, "error");
	cJSON_AddStringToObject(st, "error", msg);
	save_json(root, "status.json", st, false);
	cJSON_Delete(st);
}

/* --- validation --- */

static bool id_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (!n || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

static bool strings(const cJSON *a)
{
	if (!a)
		return true;
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > 256)
		return false;
	const cJSON *it;
	cJSON_ArrayForEach(it, a) if (!cJSON_IsString(it) ||
				      strlen(it->valuestring) > 4096) return false;
	return true;
}

int agent_fleet_validate(const char *doc, size_t len, struct berr *err)
{
	if (len > FLEET_DOC_MAX)
		return berr_setmsg(err, EINVAL, "desired state larger than %d bytes",
				   FLEET_DOC_MAX);
	cJSON *d = cJSON_ParseWithLength(doc, len);
	int rc = 0;
	if (!cJSON_IsObject(d))
		rc = berr_setmsg(err, EINVAL, "desired state is not a JSON object");
	const char *rev = cJSON_GetStringValue(cJSON_GetObjectItem(d, "revision"));
	if (!rc && (!rev || !id_ok(rev, 64)))
		rc = berr_setmsg(err, EINVAL, "\"revision\" must be [A-Za-z0-9._-]{1,64}");
	const cJSON *pol = cJSON_GetObjectItem(d, "policy");
	if (!rc && pol &&
	    (!cJSON_IsString(pol) || (strcmp(pol->valuestring, "download-then-replace") &&
				      strcmp(pol->valuestring, "replace-then-download"))))
		rc = berr_setmsg(
			err, EINVAL,
			"\"policy\" must be download-then-replace or replace-then-download");
	const cJSON *cs = cJSON_GetObjectItem(d, "containers");
	if (!rc && !cJSON_IsArray(cs))
		rc = berr_setmsg(err, EINVAL, "\"containers\" must be a list");
	if (!rc && cJSON_GetArraySize(cs) > FLEET_CONTAINERS_MAX)
		rc = berr_setmsg(err, EINVAL, "more than %d containers", FLEET_CONTAINERS_MAX);
	const cJSON *c;
	int i = 0;
	cJSON_ArrayForEach(c, cs)
	{
		if (rc)
			break;
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c, "name"));
		const char *image = cJSON_GetStringValue(cJSON_GetObjectItem(c, "image"));
		const char *digest = cJSON_GetStringValue(cJSON_GetObjectItem(c, "digest"));
		struct net_ref r;
		if (!cJSON_IsObject(c))
			rc = berr_setmsg(err, EINVAL, "containers[%d] is not an object", i);
		else if (!name || !id_ok(name, 60) || !isalnum((unsigned char)name[0]) ||
			 strlen(name) < 2 || strstr(name, PREV_SUFFIX))
			rc = berr_setmsg(err, EINVAL, "containers[%d]: invalid name", i);
		else if (!image || net_ref_parse(image, &r, NULL) < 0)
			rc = berr_setmsg(err, EINVAL, "container %s: invalid image reference",
					 name);
		else if (cJSON_GetObjectItem(c, "digest") &&
			 (!digest || !store_digest_valid(digest)))
			rc = berr_setmsg(err, EINVAL, "container %s: invalid digest", name);
		else if (!strings(cJSON_GetObjectItem(c, "cmd")) ||
			 !strings(cJSON_GetObjectItem(c, "env")) ||
			 !strings(cJSON_GetObjectItem(c, "volumes")) ||
			 !strings(cJSON_GetObjectItem(c, "ports")))
			rc = berr_setmsg(
				err, EINVAL,
				"container %s: cmd, env, volumes and ports must be lists of strings",
				name);
		const cJSON *rs = cJSON_GetObjectItem(c, "restart");
		if (!rc && rs &&
		    (!cJSON_IsString(rs) ||
		     (strcmp(rs->valuestring, "no") && strcmp(rs->valuestring, "always") &&
		      strcmp(rs->valuestring, "unless-stopped") &&
		      strncmp(rs->valuestring, "on-failure", 10))))
			rc = berr_setmsg(err, EINVAL, "container %s: invalid restart policy", name);
		const cJSON *mem = cJSON_GetObjectItem(c, "memory"),
			    *cpus = cJSON_GetObjectItem(c, "cpus");
		if (!rc && mem && !cJSON_IsString(mem))
			rc = berr_setmsg(err, EINVAL,
					 "container %s: memory must be a string like \"64m\"",
					 name);
		if (!rc && cpus && (!cJSON_IsNumber(cpus) || cpus->valuedouble <= 0))
			rc = berr_setmsg(err, EINVAL,
					 "container %s: cpus must be a positive number", name);
		const cJSON *hc = cJSON_GetObjectItem(c, "healthcheck");
		if (!rc && hc && (!cJSON_IsObject(hc) || !strings(cJSON_GetObjectItem(hc, "test"))))
			rc = berr_setmsg(err, EINVAL, "container %s: invalid healthcheck", name);
		const cJSON *o;
		int k = 0;
		cJSON_ArrayForEach(o, cs) if (!rc && k++ < i && !strcmp(jstr(o, "name"), name)) rc =
			berr_setmsg(err, EINVAL, "container name %s given twice", name);
		i++;
	}
	cJSON_Delete(d);
	return rc;
}

/* --- the heartbeat --- */

static int clock_synced(void)
{
	struct timex tx = { 0 };
	int st = adjtimex(&tx);
	return st >= 0 && st != TIME_ERROR && !(tx.status & STA_UNSYNC);
}

static cJSON *report(const char *root)
{
	cJSON *j = cJSON_CreateObject();
	char id[BOARD_ID_MAX + 1] = "";
	enum board_id_source src;
	struct berr e = { 0 };
	board_identity("", CONFIG_IDENTITY_SOURCE, id, &src, &e);
	struct utsname u;
	if (uname(&u))
		memset(&u, 0, sizeof(u));
	cJSON_AddNumberToObject(j, "v", 1);
	cJSON_AddStringToObject(j, "id", id);
	cJSON_AddStringToObject(j, "board", CONFIG_BOARD_NAME);
	cJSON_AddStringToObject(j, "arch", agent_arch());
	cJSON_AddStringToObject(j, "kernel", u.release);
	cJSON_AddStringToObject(j, "berth", BERTH_VERSION);
	cJSON *feat = cJSON_AddArrayToObject(j, "features");
	if (CONFIG_TLS)
		cJSON_AddItemToArray(feat, cJSON_CreateString("tls"));
	if (CONFIG_NETWORK)
		cJSON_AddItemToArray(feat, cJSON_CreateString("network"));
	if (CONFIG_SQUASHFS)
		cJSON_AddItemToArray(feat, cJSON_CreateString("squashfs"));
	if (CONFIG_CGROUP_V1)
		cJSON_AddItemToArray(feat, cJSON_CreateString("cgroup-v1"));
	struct sysinfo si;
	if (!sysinfo(&si)) {
		cJSON_AddNumberToObject(j, "uptime", (double)si.uptime);
		cJSON *load = cJSON_AddArrayToObject(j, "load");
		for (int i = 0; i < 3; i++) {
			char l[16];
			snprintf(l, sizeof(l), "%.2f", si.loads[i] / 65536.0);
			cJSON_AddItemToArray(load, cJSON_CreateRaw(l));
		}
		cJSON *mem = cJSON_AddObjectToObject(j, "mem");
		cJSON_AddNumberToObject(mem, "total", (double)si.totalram * si.mem_unit);
		cJSON_AddNumberToObject(mem, "avail",
					(double)(si.freeram + si.bufferram) * si.mem_unit);
	}
	struct statvfs vf;
	cJSON *disk = cJSON_AddObjectToObject(j, "disk");
	long long images = 0;
	cJSON *imgs = agent_images_json(root, true);
	const cJSON *im;
	cJSON_ArrayForEach(im, imgs) images +=
		(long long)cJSON_GetNumberValue(cJSON_GetObjectItem(im, "Size"));
	cJSON_AddNumberToObject(disk, "images", (double)images);
	if (!statvfs(root, &vf))
		cJSON_AddNumberToObject(disk, "free", (double)vf.f_bavail * (double)vf.f_frsize);
	cJSON_AddStringToObject(j, "clock", clock_synced() ? "synced" : "unsynced");
	cJSON *st = load_json(root, "status.json");
	cJSON *rev = cJSON_GetObjectItem(st, "revision");
	cJSON_AddItemToObject(j, "revision", rev ? cJSON_Duplicate(rev, true) : cJSON_CreateNull());
	cJSON *upd = cJSON_GetObjectItem(st, "update");
	cJSON_AddItemToObject(j, "update", upd ? cJSON_Duplicate(upd, true) : cJSON_CreateNull());
	struct agent_ctr *v;
	int n = agent_ctr_list(root, &v, &e);
	cJSON *cs = cJSON_AddArrayToObject(j, "containers");
	for (int i = 0; i < n; i++) {
		struct agent_ctr *c = &v[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", c->name);
		cJSON_AddStringToObject(o, "image",
					jstr(cJSON_GetObjectItem(c->cfg, "Config"), "Image"));
		cJSON_AddStringToObject(o, "digest", jstr(c->cfg, "Image"));
		cJSON_AddStringToObject(o, "state", agent_ctr_state_word(c));
		cJSON_AddNumberToObject(o, "exit", c->st.exit_code);
		cJSON_AddNumberToObject(o, "restarts", c->st.restarts);
		cJSON *h = agent_ctr_running(c) ? agent_ctr_health(c) : NULL;
		const char *hs = cJSON_GetStringValue(cJSON_GetObjectItem(h, "Status"));
		cJSON_AddStringToObject(o, "health", hs ? hs : "");
		cJSON_Delete(h);
		cJSON_AddNumberToObject(o, "started", (double)(c->st.started / 1000000000LL));
		cJSON_AddItemToArray(cs, o);
		agent_ctr_free(c);
	}
	if (n > 0)
		free(v);
	cJSON *is = cJSON_AddArrayToObject(j, "images");
	cJSON_ArrayForEach(im, imgs)
	{
		cJSON *o = cJSON_CreateObject();
		const char *tag = cJSON_GetStringValue(
			cJSON_GetArrayItem(cJSON_GetObjectItem(im, "RepoTags"), 0));
		const char *dg = cJSON_GetStringValue(
			cJSON_GetArrayItem(cJSON_GetObjectItem(im, "RepoDigests"), 0));
		const char *at = dg ? strchr(dg, '@') : NULL;
		cJSON_AddStringToObject(o, "ref", tag ? tag : "");
		cJSON_AddStringToObject(o, "digest", at ? at + 1 : jstr(im, "Id"));
		cJSON_AddNumberToObject(o, "size",
					cJSON_GetNumberValue(cJSON_GetObjectItem(im, "Size")));
		cJSON_AddItemToArray(is, o);
	}
	cJSON_Delete(imgs);
	cJSON_AddStringToObject(j, "error", jstr(st, "error"));
	cJSON_Delete(st);
	return j;
}

static void hb_note(const char *root, int retry_after, const char *error)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "retry_after", retry_after);
	cJSON_AddStringToObject(j, "error", error ? error : "");
	save_json(root, "hb.json", j, false);
	cJSON_Delete(j);
}

int agent_fleet_retry_after(const char *root)
{
	cJSON *j = load_json(root, "hb.json");
	int r = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "retry_after"));
	cJSON_Delete(j);
	return r > 0 ? r : 0;
}

void agent_fleet_hb_error(const char *root, char *out, size_t len)
{
	cJSON *j = load_json(root, "hb.json");
	snprintf(out, len, "%s", jstr(j, "error"));
	cJSON_Delete(j);
}

/* The revision the device applied, refused or rolled back: the portal's
 * If-None-Match, and what is never applied twice. */
static void seen_revision(const char *root, char *out, size_t len)
{
	cJSON *st = load_json(root, "status.json");
	snprintf(out, len, "%s", jstr(cJSON_GetObjectItem(st, "revision"), "id"));
	cJSON_Delete(st);
}

/* What the portal is told the device has (If-None-Match) and what a 200
 * answer is compared with: the revision being applied while an update runs
 * (so the portal does not send the document again on every heartbeat), else
 * the last one applied, refused or rolled back. */
static void etag_revision(const char *root, char *out, size_t len)
{
	cJSON *j = load_json(root, "journal.json");
	const char *r = jstr(j, "revision");
	if (*r)
		snprintf(out, len, "%s", r);
	else
		seen_revision(root, out, len);
	cJSON_Delete(j);
}

/* A 200 answer: a new revision to apply, one already seen, or one refused. */
static int accept_doc(const char *root, const char *doc, size_t n)
{
	cJSON *d = cJSON_ParseWithLength(doc, n);
	const char *rev = cJSON_GetStringValue(cJSON_GetObjectItem(d, "revision"));
	char seen[80], rid[80];
	etag_revision(root, seen, sizeof(seen));
	snprintf(rid, sizeof(rid), "%s", rev && id_ok(rev, 64) ? rev : "");
	cJSON_Delete(d);
	if (*rid && !strcmp(rid, seen))
		return FLEET_HB_NOTHING;
	struct berr e = { 0 };
	if (agent_fleet_validate(doc, n, &e)) {
		/* refused as a whole: nothing changes, the next heartbeat says why */
		status_set(root, *rid ? rid : "invalid", "refused", e.msg, NULL);
		hb_note(root, 0, NULL);
		return FLEET_HB_NOTHING;
	}
	char p[4200], dir[4200];
	snprintf(dir, sizeof(dir), "%s/fleet", root);
	fs_mkdir_p(dir, 0700, NULL);
	fpath(root, "desired.json", p, sizeof(p));
	if (fs_write_atomic(p, doc, n, 0600, &e)) {
		hb_note(root, 0, e.msg);
		return FLEET_HB_FAILED;
	}
	hb_note(root, 0, NULL);
	return FLEET_HB_NEW;
}

int agent_fleet_heartbeat(const char *root, const struct agent_config *cfg)
{
	struct berr e = { 0 };
	struct http_url u;
	char url[2048], id[BOARD_ID_MAX + 1] = "";
	enum board_id_source src;
	if (board_identity("", CONFIG_IDENTITY_SOURCE, id, &src, &e)) {
		hb_note(root, 0, e.msg);
		return FLEET_HB_FAILED;
	}
	const char *base = cfg->fleet.portal;
	size_t bl = strlen(base);
	snprintf(url, sizeof(url), "%.*s/api/v1/devices/%s/heartbeat",
		 (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl), base, id);
	if (http_url_parse(url, &u, &e)) {
		hb_note(root, 0, e.msg);
		return FLEET_HB_FAILED;
	}
	char token[1024] = "";
	if (cfg->fleet.token_file) {
		if (fs_read_file(cfg->fleet.token_file, token, sizeof(token), &e) < 0) {
			hb_note(root, 0, e.msg);
			return FLEET_HB_FAILED;
		}
		token[strcspn(token, "\r\n")] = '\0';
	} else if (cfg->fleet.token) {
		snprintf(token, sizeof(token), "%s", cfg->fleet.token);
	}
	cJSON *rep = report(root);
	char *body = cJSON_PrintUnformatted(rep);
	cJSON_Delete(rep);
	if (!body) {
		hb_note(root, 0, "out of memory");
		return FLEET_HB_FAILED;
	}
	char seen[80], hdr[2048];
	etag_revision(root, seen, sizeof(seen));
	size_t blen = strlen(body);
	int hn = snprintf(
		hdr, sizeof(hdr),
		"Content-Type: application/json\r\nContent-Length: %zu\r\nAccept: application/json\r\n",
		blen);
	if (*token)
		hn += snprintf(hdr + hn, sizeof(hdr) - (size_t)hn, "Authorization: Bearer %s\r\n",
			       token);
	if (*seen)
		snprintf(hdr + hn, sizeof(hdr) - (size_t)hn, "If-None-Match: \"%s\"\r\n", seen);
	char certs_d[4200];
	snprintf(certs_d, sizeof(certs_d), "%s", cfg->certs_d);
	struct net_tls_trust trust = { .certs_d = certs_d };
	struct http_client *hc = calloc(1, sizeof(*hc));
	if (!hc) {
		free(body);
		return FLEET_HB_FAILED;
	}
	http_client_init(hc, &trust, cfg->timeout_ms);
	struct http_resp r;
	int rc = http_client_send(hc, "POST", &u, hdr, body, blen, &r, &e);
	free(body);
	int out = FLEET_HB_FAILED;
	if (!rc && r.status >= 200 && r.status < 400) {
		/* the portal answers again: an earlier heartbeat error is old news */
		cJSON *st = load_json(root, "status.json");
		if (st && !strncmp(jstr(st, "error"), "heartbeat to", 12))
			last_error(root, "");
		cJSON_Delete(st);
	}
	if (rc) {
		berr_prefix(&e, "heartbeat to %s", base);
		hb_note(root, 0, e.msg);
		last_error(root, e.msg);
	} else if (r.status == 204 || r.status == 304) {
		hb_note(root, 0, NULL);
		out = FLEET_HB_NOTHING;
	} else if (r.status == 429 || r.status == 503) {
		int ra = r.retry_after > 0 ? r.retry_after : 0;
		hb_note(root, ra > 3600 ? 3600 : ra, "portal busy");
		out = FLEET_HB_RETRY;
	} else if (r.status == 200) {
		char *doc = malloc(FLEET_DOC_MAX + 1);
		ssize_t n = doc ? http_client_read_all(hc, doc, FLEET_DOC_MAX + 1, &e) : -ENOMEM;
		if (n < 0) {
			berr_prefix(&e, "desired state from %s", base);
			hb_note(root, 0, e.msg);
			last_error(root, e.msg);
		} else {
			out = accept_doc(root, doc, (size_t)n);
		}
		free(doc);
	} else {
		char msg[128];
		snprintf(msg, sizeof(msg), "heartbeat to %s: HTTP %d", base, r.status);
		hb_note(root, 0, msg);
		last_error(root, msg);
	}
	http_client_close(hc);
	free(hc);
	return out;
}

/* --- applying a revision --- */

static int fleet_apply(const char *root, const struct agent_config *cfg);

/* A copy of j with every object's members in key order, so that two
 * documents that differ only in the order of their keys hash the same. */
static cJSON *canonical(const cJSON *j)
{
	if (cJSON_IsArray(j)) {
		cJSON *a = cJSON_CreateArray();
		const cJSON *e;
		cJSON_ArrayForEach(e, j) cJSON_AddItemToArray(a, canonical(e));
		return a;
	}
	if (!cJSON_IsObject(j))
		return cJSON_Duplicate(j, true);
	cJSON *o = cJSON_CreateObject();
	const char *last = NULL;
	for (;;) {
		/* the smallest key above the last one taken (specs are small) */
		const cJSON *e, *min = NULL;
		cJSON_ArrayForEach(e, j)
		{
			if (e->string && (!last || strcmp(e->string, last) > 0) &&
			    (!min || strcmp(e->string, min->string) < 0))
				min = e;
		}
		if (!min)
			return o;
		cJSON_AddItemToObject(o, min->string, canonical(min));
		last = min->string;
	}
}

static void spec_hash(const cJSON *spec, char out[DIGEST_STR_MAX])
{
	cJSON *c = canonical(spec);
	char *s = cJSON_PrintUnformatted(c);
	cJSON_Delete(c);
	struct store_sha256 h;
	store_sha256_init(&h);
	if (s)
		store_sha256_update(&h, s, strlen(s));
	store_sha256_final(&h, out);
	free(s);
}

static void journal(const char *root, const char *rev, const char *prev, const char *step,
		    const char *error)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "revision", rev);
	cJSON_AddStringToObject(j, "prev", prev);
	cJSON_AddStringToObject(j, "step", step);
	cJSON_AddStringToObject(j, "error", error ? error : "");
	save_json(root, "journal.json", j, true);
	cJSON_Delete(j);
}

static void journal_clear(const char *root)
{
	char p[4200];
	fpath(root, "journal.json", p, sizeof(p));
	unlink(p);
	fs_sync_parent(p, NULL);
}

static const char *label(const struct agent_ctr *c, const char *k)
{
	return jstr(cJSON_GetObjectItem(cJSON_GetObjectItem(c->cfg, "Config"), "Labels"), k);
}

static int pull_ref(const char *root, const struct agent_config *cfg, const cJSON *spec,
		    struct berr *err)
{
	char ref[1024];
	const char *digest = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "digest"));
	const char *image = jstr(spec, "image");
	if (digest) {
		/* by digest: the reference without its tag */
		struct net_ref r;
		char repo[REF_HOST_MAX + REF_PATH_MAX];
		if (net_ref_parse(image, &r, err) < 0)
			return -EINVAL;
		net_ref_repo(&r, false, repo, sizeof(repo));
		snprintf(ref, sizeof(ref), "%s@%s", repo, digest);
	} else {
		snprintf(ref, sizeof(ref), "%s", image);
	}
	FILE *null = fopen("/dev/null", "we");
	struct agent_pull_opts po = { .root = root, .cfg = cfg, .quiet = true, .out = null };
	store_platform_host(&po.platform);
	char id[DIGEST_STR_MAX];
	int rc = agent_pull(&po, ref, id, err);
	if (null)
		fclose(null);
	if (!rc && digest && strcmp(ref, image)) {
		/* the reference the document names points at what was pulled */
		struct berr e2 = { 0 };
		agent_image_tag(root, ref, image, &e2);
	}
	return rc;
}

/* The run flags a document entry means (strings live in spec and pool). */
static int spec_flags(const cJSON *spec, const char *rev, const char *hash, struct run_flags *f,
		      char pool[][128], struct berr *err)
{
	memset(f, 0, sizeof(*f));
	f->stop_timeout = -1;
	f->detach = true;
	f->name = jstr(spec, "name");
	const cJSON *it;
	const char *lists[] = { "env", "volumes", "ports" };
	struct agent_strlist *dst[] = { &f->env, &f->volumes, &f->publish };
	for (int i = 0; i < 3; i++)
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(spec, lists[i]))
		{
			if (dst[i]->n == AGENT_LIST_MAX)
				return berr_setmsg(err, EINVAL, "container %s: too many %s",
						   f->name, lists[i]);
			dst[i]->v[dst[i]->n++] = it->valuestring;
		}
	const char *restart = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "restart"));
	f->restart = restart;
	f->memory = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "memory"));
	const cJSON *cpus = cJSON_GetObjectItem(spec, "cpus");
	if (cpus) {
		snprintf(pool[0], 128, "%g", cpus->valuedouble);
		f->cpus = pool[0];
	}
	snprintf(pool[1], 128, LABEL_SPEC "=%s", hash);
	snprintf(pool[2], 128, LABEL_REV "=%s", rev);
	f->labels.v[f->labels.n++] = pool[1];
	f->labels.v[f->labels.n++] = pool[2];
	const cJSON *hc = cJSON_GetObjectItem(spec, "healthcheck");
	const cJSON *test = cJSON_GetObjectItem(hc, "test");
	if (test) {
		const char *kind = cJSON_GetStringValue(cJSON_GetArrayItem(test, 0));
		if (kind && !strcmp(kind, "NONE"))
			f->no_healthcheck = true;
		else if (kind && !strcmp(kind, "CMD-SHELL"))
			f->health_cmd = cJSON_GetStringValue(cJSON_GetArrayItem(test, 1));
		else if (kind) {
			/* CMD: the words joined, for the shell form */
			size_t used = 0;
			pool[3][0] = '\0';
			int k = 0;
			cJSON_ArrayForEach(it, test) if (k++ && used < 120) used +=
				(size_t)snprintf(pool[3] + used, 128 - used, "%s%s",
						 used ? " " : "", it->valuestring);
			f->health_cmd = pool[3];
		}
		const char *dk[] = { "interval", "timeout", "start_period" };
		const char **dd[] = { &f->health_interval, &f->health_timeout,
				      &f->health_start_period };
		for (int i = 0; i < 3; i++) {
			const cJSON *v = cJSON_GetObjectItem(hc, dk[i]);
			if (cJSON_IsNumber(v)) {
				snprintf(pool[4 + i], 128, "%gs", v->valuedouble);
				*dd[i] = pool[4 + i];
			}
		}
		const cJSON *rt = cJSON_GetObjectItem(hc, "retries");
		if (cJSON_IsNumber(rt))
			f->health_retries = rt->valueint;
	}
	return 0;
}

static int create_start(const char *root, const struct agent_config *cfg, const cJSON *spec,
			const char *rev, const char *hash, struct berr *err)
{
	struct run_flags *f = calloc(1, sizeof(*f));
	char pool[8][128];
	if (!f)
		return berr_setmsg(err, ENOMEM, "out of memory");
	char *argv[257];
	int argc = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(spec, "cmd")) if (argc < 256) argv[argc++] =
		it->valuestring;
	argv[argc] = NULL;
	cJSON *ccfg = NULL;
	int rc = spec_flags(spec, rev, hash, f, pool, err);
	const char *digest = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "digest"));
	char ref[1024];
	snprintf(ref, sizeof(ref), "%s", jstr(spec, "image"));
	(void)digest;
	if (!rc)
		rc = agent_run_config(root, f, ref, argc, argv, &ccfg, err);
	free(f);
	if (rc)
		return berr_prefix(err, "container %s", jstr(spec, "name"));
	struct agent_ctr c;
	if ((rc = agent_ctr_create(root, ccfg, &c, err)))
		return berr_prefix(err, "container %s", jstr(spec, "name"));
	struct agent_attach a = { 0 };
	int code;
	if (agent_ctr_start(root, cfg, &c, &a, &code, err) < 0)
		rc = -(err->code ? err->code : EIO);
	agent_ctr_free(&c);
	return rc ? berr_prefix(err, "start %s", jstr(spec, "name")) : 0;
}

/* Stops a container and keeps it as <name>.prev (the one kept before goes). */
static int retire(const char *root, struct agent_ctr *c, struct berr *err)
{
	char prev[AGENT_NAME_MAX + 8];
	snprintf(prev, sizeof(prev), "%s" PREV_SUFFIX, c->name);
	struct agent_ctr old;
	if (!agent_ctr_find_name(root, prev, &old, &(struct berr){ 0 })) {
		agent_ctr_remove(root, &old, true, true, &(struct berr){ 0 });
		agent_ctr_free(&old);
	}
	int rc = agent_ctr_stop(c, SIGTERM, 10, err);
	return rc ? rc : agent_ctr_rename(root, c->id, prev, err);
}

/* Puts the previous revision's containers back: new ones of rev go, the
 * .prev ones take their names back and start. Safe to repeat. */
static void rollback(const char *root, const struct agent_config *cfg, const char *rev)
{
	struct agent_ctr *v;
	struct berr e = { 0 };
	int n = agent_ctr_list(root, &v, &e);
	for (int i = 0; i < n; i++) {
		struct agent_ctr *c = &v[i];
		size_t nl = strlen(c->name), sl = strlen(PREV_SUFFIX);
		bool prev = nl > sl && !strcmp(c->name + nl - sl, PREV_SUFFIX);
		if (!prev && !strcmp(label(c, LABEL_REV), rev))
			agent_ctr_remove(root, c, true, true, &e);
	}
	for (int i = 0; i < n; i++) {
		struct agent_ctr *c = &v[i];
		size_t nl = strlen(c->name), sl = strlen(PREV_SUFFIX);
		if (nl > sl && !strcmp(c->name + nl - sl, PREV_SUFFIX)) {
			char name[AGENT_NAME_MAX];
			snprintf(name, sizeof(name), "%.*s", (int)(nl - sl), c->name);
			if (!agent_ctr_rename(root, c->id, name, &e)) {
				struct agent_ctr r;
				if (!agent_ctr_find(root, c->id, &r, &e)) {
					struct agent_attach a = { 0 };
					int code;
					agent_ctr_start(root, cfg, &r, &a, &code, &e);
					agent_ctr_free(&r);
				}
			}
		} else if (*label(c, LABEL_REV) && strcmp(label(c, LABEL_REV), rev) &&
			   agent_ctr_user_stopped(c)) {
			/* stopped by the update but not yet renamed (a crash in
			 * between), or still stopping: a TERM it was sent may end it
			 * any time, so it is stopped for good and started again */
			struct agent_attach a = { 0 };
			int code;
			if (agent_ctr_running(c))
				agent_ctr_stop(c, SIGKILL, 0, &e);
			agent_ctr_start(root, cfg, c, &a, &code, &e);
		}
		agent_ctr_free(c);
	}
	if (n > 0)
		free(v);
}

/* After success: the .prev containers and the images only they used go. */
static void cleanup(const char *root)
{
	struct agent_ctr *v;
	struct berr e = { 0 };
	int n = agent_ctr_list(root, &v, &e);
	char images[FLEET_CONTAINERS_MAX * 2][DIGEST_STR_MAX];
	int ni = 0;
	for (int i = 0; i < n; i++) {
		struct agent_ctr *c = &v[i];
		size_t nl = strlen(c->name), sl = strlen(PREV_SUFFIX);
		if (nl > sl && !strcmp(c->name + nl - sl, PREV_SUFFIX)) {
			if (ni < FLEET_CONTAINERS_MAX * 2)
				snprintf(images[ni++], DIGEST_STR_MAX, "%s", jstr(c->cfg, "Image"));
			agent_ctr_remove(root, c, true, true, &e);
		}
		agent_ctr_free(c);
	}
	if (n > 0)
		free(v);
	/* images a previous revision brought and nothing uses now; an image
	 * that a container still uses is refused by remove */
	for (int i = 0; i < ni; i++)
		if (!agent_image_in_use(root, images[i], NULL, 0))
			agent_image_remove(root, images[i], true, NULL, &e);
}

static cJSON *progress(const char *rev, const char *step, int pulled, int images)
{
	cJSON *u = cJSON_CreateObject();
	cJSON_AddStringToObject(u, "id", rev);
	cJSON_AddStringToObject(u, "step", step);
	cJSON_AddNumberToObject(u, "pulled", pulled);
	cJSON_AddNumberToObject(u, "images", images);
	return u;
}

/* Waits settle seconds: every new container up (healthy if it checks). */
static int settle(const char *root, const struct agent_config *cfg, char names[][64], int n,
		  struct berr *err)
{
	long long start[FLEET_CONTAINERS_MAX];
	int restarts[FLEET_CONTAINERS_MAX];
	for (int i = 0; i < n; i++) {
		struct agent_ctr c;
		if (agent_ctr_find_name(root, names[i], &c, err))
			return -ENOENT;
		start[i] = c.st.started;
		restarts[i] = c.st.restarts;
		agent_ctr_free(&c);
	}
	long long end = rt_now_ns() + (long long)cfg->fleet.settle * 1000000000LL;
	for (;;) {
		bool last = rt_now_ns() >= end;
		for (int i = 0; i < n; i++) {
			struct agent_ctr c;
			if (agent_ctr_find_name(root, names[i], &c, err))
				return berr_setmsg(err, ENOENT, "container %s vanished", names[i]);
			int rc = 0;
			cJSON *h = agent_ctr_health(&c);
			const char *hs = cJSON_GetStringValue(cJSON_GetObjectItem(h, "Status"));
			bool checks = cJSON_GetObjectItem(cJSON_GetObjectItem(c.cfg, "Config"),
							  "Healthcheck") &&
				      !cJSON_IsNull(cJSON_GetObjectItem(
					      cJSON_GetObjectItem(c.cfg, "Config"), "Healthcheck"));
			if (!agent_ctr_running(&c))
				rc = berr_setmsg(err, EIO, "container %s exited with code %d",
						 names[i], c.st.exit_code);
			else if (c.st.restarts != restarts[i] || c.st.started != start[i])
				rc = berr_setmsg(err, EIO, "container %s restarted (crash loop)",
						 names[i]);
			else if (hs && !strcmp(hs, "unhealthy"))
				rc = berr_setmsg(err, EIO, "container %s is unhealthy", names[i]);
			else if (last && checks && (!hs || strcmp(hs, "healthy")))
				rc = berr_setmsg(err, ETIMEDOUT,
						 "container %s did not become healthy in %d s",
						 names[i], cfg->fleet.settle);
			cJSON_Delete(h);
			agent_ctr_free(&c);
			if (rc)
				return rc;
		}
		if (last)
			return 0;
		usleep(250000);
	}
}

/* Held for a whole update: a daemon restarted while an orphaned update
 * still runs neither recovers under it nor starts another. */
static int update_lock(const char *root, bool wait)
{
	char p[4200], dir[4200];
	snprintf(dir, sizeof(dir), "%s/fleet", root);
	fs_mkdir_p(dir, 0700, NULL);
	fpath(root, "update.lock", p, sizeof(p));
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

int agent_fleet_apply(const char *root, const struct agent_config *cfg)
{
	int lk = update_lock(root, true);
	int ret = fleet_apply(root, cfg);
	if (lk >= 0)
		close(lk);
	return ret;
}

static int fleet_apply(const char *root, const struct agent_config *cfg)
{
	cJSON *d = load_json(root, "desired.json");
	if (!d)
		return 0;
	char rev[80], prev[80], hash[FLEET_CONTAINERS_MAX][DIGEST_STR_MAX];
	char fresh[FLEET_CONTAINERS_MAX][64];
	int nfresh = 0;
	snprintf(rev, sizeof(rev), "%s", jstr(d, "revision"));
	seen_revision(root, prev, sizeof(prev));
	struct berr e = { 0 };
	const cJSON *cs = cJSON_GetObjectItem(d, "containers"), *spec;
	int nimg = cJSON_GetArraySize(cs), pulled = 0, rc = 0;
	bool rtd = !strcmp(jstr(d, "policy"), "replace-then-download");
	long long t0 = rt_now_ns();
	cJSON *u = progress(rev, "pulling", 0, nimg);
	status_set(root, NULL, NULL, NULL, u);
	cJSON_Delete(u);
	journal(root, rev, prev, rtd ? "replacing" : "pulling", NULL);
	int i = 0;
	/* which containers change: by name and spec hash */
	bool change[FLEET_CONTAINERS_MAX];
	cJSON_ArrayForEach(spec, cs)
	{
		spec_hash(spec, hash[i]);
		struct agent_ctr c;
		change[i] = true;
		if (!agent_ctr_find_name(root, jstr(spec, "name"), &c, &e)) {
			change[i] = strcmp(label(&c, LABEL_SPEC), hash[i]) != 0;
			agent_ctr_free(&c);
		}
		i++;
	}
	if (rtd) {
		/* small disks: the old containers stop before the pulls */
		i = 0;
		cJSON_ArrayForEach(spec, cs)
		{
			struct agent_ctr c;
			if (change[i++] && !agent_ctr_find_name(root, jstr(spec, "name"), &c, &e)) {
				rc = rc ?: retire(root, &c, &e);
				agent_ctr_free(&c);
			}
		}
	}
	cJSON_ArrayForEach(spec, cs)
	{
		if (rc)
			break;
		rc = pull_ref(root, cfg, spec, &e);
		u = progress(rev, "pulling", ++pulled, nimg);
		status_set(root, NULL, NULL, rc ? e.msg : NULL, u);
		cJSON_Delete(u);
	}
	if (rc && !rtd && (e.code == ENOENT || e.code == EACCES || e.code == EPERM)) {
		/* an image the registry does not have (or refuses us): the
		 * revision is refused as a whole, nothing changed */
		journal_clear(root);
		status_set(root, rev, "refused", e.msg, NULL);
		cJSON_Delete(d);
		return 1;
	}
	if (rc && !rtd) {
		/* nothing changed: the next heartbeat (at its interval) brings
		 * the revision again */
		journal_clear(root);
		status_set(root, NULL, NULL, e.msg, NULL);
		cJSON_Delete(d);
		return 2;
	}
	if (!rc) {
		journal(root, rev, prev, "replacing", NULL);
		u = progress(rev, "replacing", pulled, nimg);
		status_set(root, NULL, NULL, NULL, u);
		cJSON_Delete(u);
		i = 0;
		cJSON_ArrayForEach(spec, cs)
		{
			if (rc)
				break;
			if (!change[i]) {
				i++;
				continue;
			}
			struct agent_ctr c;
			if (!rtd && !agent_ctr_find_name(root, jstr(spec, "name"), &c, &e)) {
				rc = retire(root, &c, &e);
				agent_ctr_free(&c);
			}
			rc = rc ?: create_start(root, cfg, spec, rev, hash[i], &e);
			if (!rc)
				snprintf(fresh[nfresh++], 64, "%s", jstr(spec, "name"));
			i++;
		}
		/* containers of earlier revisions this one does not name */
		struct agent_ctr *v;
		int n = rc ? 0 : agent_ctr_list(root, &v, &e);
		for (int k = 0; k < n; k++) {
			bool named = false;
			cJSON_ArrayForEach(spec, cs) named |=
				!strcmp(jstr(spec, "name"), v[k].name);
			size_t nl = strlen(v[k].name), sl = strlen(PREV_SUFFIX);
			bool isprev = nl > sl && !strcmp(v[k].name + nl - sl, PREV_SUFFIX);
			if (!rc && !named && !isprev && *label(&v[k], LABEL_REV))
				rc = retire(root, &v[k], &e);
			agent_ctr_free(&v[k]);
		}
		if (n > 0)
			free(v);
	}
	if (!rc) {
		journal(root, rev, prev, "settling", NULL);
		u = progress(rev, "settling", pulled, nimg);
		status_set(root, NULL, NULL, NULL, u);
		cJSON_Delete(u);
		rc = settle(root, cfg, fresh, nfresh, &e);
	}
	if (rc) {
		char why[BERR_MSG_MAX];
		snprintf(why, sizeof(why), "%s", e.msg);
		journal(root, rev, prev, "rolling-back", why);
		rollback(root, cfg, rev);
		status_set(root, rev, "rolled-back", why, NULL);
		journal_clear(root);
		cJSON *a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "error", why);
		agent_event(root, "fleet", "rollback", rev, a);
		cJSON_Delete(a);
		cJSON_Delete(d);
		return 1;
	}
	journal(root, rev, prev, "cleanup", NULL);
	cleanup(root);
	status_set(root, rev, "applied", NULL, NULL);
	journal_clear(root);
	char took[32];
	snprintf(took, sizeof(took), "%lld", (rt_now_ns() - t0) / 1000000);
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "ms", took);
	agent_event(root, "fleet", "apply", rev, a);
	cJSON_Delete(a);
	cJSON_Delete(d);
	return 0;
}

int agent_fleet_recover(const char *root, const struct agent_config *cfg, bool wait)
{
	int lk = update_lock(root, wait);
	if (lk < 0)
		return -EBUSY;
	/* read under the lock: an update that held it may have ended it */
	cJSON *j = load_json(root, "journal.json");
	if (!j) {
		close(lk);
		return 0;
	}
	const char *step = jstr(j, "step"), *rev = jstr(j, "revision");
	int ret = 0;
	if (!strcmp(step, "pulling")) {
		/* nothing had changed: drop it; the portal sends the revision again */
		status_set(root, NULL, NULL, "update interrupted while pulling", NULL);
	} else if (!strcmp(step, "cleanup")) {
		cleanup(root);
		status_set(root, rev, "applied", NULL, NULL);
	} else {
		/* replacing, settling, rolling-back: back to the previous containers */
		rollback(root, cfg, rev);
		status_set(root, rev, "rolled-back", "update interrupted by a restart", NULL);
		ret = 1;
	}
	journal_clear(root);
	cJSON_Delete(j);
	close(lk);
	return ret;
}

int agent_fleet_recover_wait(const char *root, const struct agent_config *cfg)
{
	int r = agent_fleet_recover(root, cfg, true);
	return r < 0 ? 2 : r;
}
