/* Docker Engine API handlers (see api.h). Shapes follow the Docker Engine
 * API reference (v1.45); streams use its multiplexed format (8-byte frame
 * headers) for non-tty containers and raw bytes for tty ones. */
#include "agent/api.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/agent.h"
#include "agent/container.h"
#include "agent/events.h"
#include "agent/network.h"
#include "agent/pull.h"
#include "agent/run.h"
#include "board/cleanup.h"
#include "board/fs.h"
#include "config.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"
#include "runtime/log.h"
#include "runtime/monitor.h"
#include "runtime/state.h"
#include "store/store.h"

struct call {
	const struct agent_api *a;
	struct net_httpd_conn *hc;
	const struct net_httpd_req *rq;
	int fd;
	const char *path; /* without the /v1.xx prefix */
	char arg[1024];   /* the {id} or {name} in the path */
};

typedef enum agent_api_result handler_fn(struct call *c);

/* --- responses --- */

static enum agent_api_result send_json(struct call *c, int status, cJSON *j)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	cJSON_Delete(j);
	size_t n = s ? strlen(s) : 0;
	char *body = malloc(n + 2);
	if (body) {
		memcpy(body, s ? s : "", n);
		body[n++] = '\n';
	}
	free(s);
	int rc = net_httpd_respond(c->fd, status, "application/json", body, body ? n : 0,
				   c->rq->keep_alive, NULL);
	free(body);
	return rc || !c->rq->keep_alive ? API_CLOSE : API_KEEP;
}

static enum agent_api_result fail(struct call *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum agent_api_result fail(struct call *c, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "message", msg);
	return send_json(c, status, j);
}

/* An agent error as an HTTP status: not found, conflict, bad request. */
static enum agent_api_result fail_err(struct call *c, const struct berr *e)
{
	int st = e->code == ENOENT                       ? 404
		 : e->code == EBUSY || e->code == EEXIST ? 409
		 : e->code == EINVAL                     ? 400
							 : 500;
	return fail(c, st, "%s", e->msg);
}

static enum agent_api_result no_content(struct call *c, int status)
{
	int rc = net_httpd_respond(c->fd, status, NULL, NULL, 0, c->rq->keep_alive, NULL);
	return rc || !c->rq->keep_alive ? API_CLOSE : API_KEEP;
}

static bool qbool(struct call *c, const char *k, bool d)
{
	return net_httpd_query_bool(c->rq->query, k, d);
}

static bool qstr(struct call *c, const char *k, char *out, size_t len)
{
	return net_httpd_query(c->rq->query, k, out, len);
}

/* The first value given for key in the filters query: {"key": ["v"]} or
 * {"key": {"v": true}}. */
static bool qfilter(struct call *c, const char *key, char *out, size_t len)
{
	char filters[2048] = "";
	cJSON *fj = qstr(c, "filters", filters, sizeof(filters)) ? cJSON_Parse(filters) : NULL;
	const cJSON *v = cJSON_GetObjectItem(fj, key);
	v = v ? v->child : NULL;
	const char *s = cJSON_IsString(v) ? v->valuestring : v ? v->string : NULL;
	if (s)
		snprintf(out, len, "%s", s);
	cJSON_Delete(fj);
	return s != NULL;
}

static cJSON *body_json(struct call *c)
{
	if (!c->rq->body || !c->rq->body_len)
		return NULL;
	return cJSON_ParseWithLength(c->rq->body, c->rq->body_len);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
	return s ? s : "";
}

/* Runs the rest of the call in a child: true in the child. */
static bool fork_off(struct call *c, enum agent_api_result *res)
{
	pid_t p = c->a->fork_child(c->a->fork_arg);
	if (p < 0) {
		*res = fail(c, 500, "fork: %s", strerror(errno));
		return false;
	}
	if (p > 0) {
		*res = API_FORKED;
		return false;
	}
	return true;
}

static _Noreturn void child_done(struct call *c)
{
	shutdown(c->fd, SHUT_WR);
	close(c->fd);
	_exit(0);
}

static int find_ctr(struct call *c, struct agent_ctr *ctr, enum agent_api_result *res)
{
	struct berr e = { 0 };
	if (agent_ctr_find(c->a->root, c->arg, ctr, &e)) {
		*res = e.code == ENOENT ? fail(c, 404, "No such container: %s", c->arg)
					: fail_err(c, &e);
		return -1;
	}
	return 0;
}

/* Finds the call's container and forks; true in the child, which owns ctr.
 * In the parent *res says what to do with the connection. */
static bool ctr_fork(struct call *c, struct agent_ctr *ctr, enum agent_api_result *res)
{
	if (find_ctr(c, ctr, res))
		return false;
	if (fork_off(c, res))
		return true;
	agent_ctr_free(ctr);
	return false;
}

/* --- system --- */

static enum agent_api_result h_ping(struct call *c)
{
	const char *hdr =
		"Api-Version: " AGENT_API_VERSION "\r\n"
		"Docker-Experimental: false\r\nOstype: linux\r\n"
		"Cache-Control: no-cache, no-store, must-revalidate\r\nPragma: no-cache\r\n";
	bool head = !strcmp(c->rq->method, "HEAD");
	int rc = net_httpd_respond(c->fd, 200, "text/plain; charset=utf-8", head ? NULL : "OK",
				   head ? 0 : 2, c->rq->keep_alive, hdr);
	return rc || !c->rq->keep_alive ? API_CLOSE : API_KEEP;
}

static const char *go_arch(void)
{
	const char *a = agent_arch();
	return !strcmp(a, "x86_64") ? "amd64" : !strcmp(a, "aarch64") ? "arm64" : "arm";
}

static enum agent_api_result h_version(struct call *c)
{
	struct utsname u;
	if (uname(&u))
		memset(&u, 0, sizeof(u));
	cJSON *j = cJSON_CreateObject();
	cJSON *p = cJSON_AddObjectToObject(j, "Platform");
	cJSON_AddStringToObject(p, "Name", "Berth");
	cJSON *comps = cJSON_AddArrayToObject(j, "Components");
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "Name", "Engine");
	cJSON_AddStringToObject(e, "Version", BERTH_VERSION);
	cJSON *det = cJSON_AddObjectToObject(e, "Details");
	cJSON_AddStringToObject(det, "ApiVersion", AGENT_API_VERSION);
	cJSON_AddStringToObject(det, "Arch", go_arch());
	cJSON_AddStringToObject(det, "BuildTime", "");
	cJSON_AddStringToObject(det, "Experimental", "false");
	cJSON_AddStringToObject(det, "GitCommit", "berth");
	cJSON_AddStringToObject(det, "GoVersion", "none (C, musl)");
	cJSON_AddStringToObject(det, "KernelVersion", u.release);
	cJSON_AddStringToObject(det, "MinAPIVersion", AGENT_API_MIN_VERSION);
	cJSON_AddStringToObject(det, "Os", "linux");
	cJSON_AddItemToArray(comps, e);
	cJSON_AddStringToObject(j, "Version", BERTH_VERSION);
	cJSON_AddStringToObject(j, "ApiVersion", AGENT_API_VERSION);
	cJSON_AddStringToObject(j, "MinAPIVersion", AGENT_API_MIN_VERSION);
	cJSON_AddStringToObject(j, "GitCommit", "berth");
	cJSON_AddStringToObject(j, "GoVersion", "none (C, musl)");
	cJSON_AddStringToObject(j, "Os", "linux");
	cJSON_AddStringToObject(j, "Arch", go_arch());
	cJSON_AddStringToObject(j, "KernelVersion", u.release);
	cJSON_AddStringToObject(j, "BuildTime", "");
	return send_json(c, 200, j);
}

static enum agent_api_result h_info(struct call *c)
{
	return send_json(c, 200, agent_info_json(c->a->root));
}

static enum agent_api_result h_df(struct call *c)
{
	struct berr e = { 0 };
	cJSON *j = agent_df_json(c->a->root, &e);
	return j ? send_json(c, 200, j) : fail_err(c, &e);
}

struct ev_out {
	int fd;
};

static int ev_write(void *arg, const char *json, size_t len)
{
	struct ev_out *o = arg;
	if (!json) {
		/* probe: has the client gone? */
		struct pollfd p = { .fd = o->fd, .events = POLLIN };
		if (poll(&p, 1, 0) > 0) {
			char b[256];
			if (recv(o->fd, b, sizeof(b), MSG_DONTWAIT) <= 0)
				return -EPIPE;
		}
		return 0;
	}
	char buf[8192];
	int n = snprintf(buf, sizeof(buf), "%.*s\n", (int)len, json);
	return net_httpd_chunk(o->fd, buf, (size_t)(n < (int)sizeof(buf) ? n : (int)sizeof(buf)));
}

/* "SECONDS[.NANOSECONDS]" exactly (a double would round the nanoseconds). */
static long long unix_ns(const char *s)
{
	char *end, frac[10] = "000000000";
	long long sec = strtoll(s, &end, 10);
	if (end == s)
		return 0;
	if (*end == '.')
		for (int i = 0; i < 9 && isdigit((unsigned char)end[1 + i]); i++)
			frac[i] = end[1 + i];
	return sec * 1000000000LL + atoll(frac);
}

static enum agent_api_result h_events(struct call *c)
{
	struct agent_events_filter f = { 0 };
	char since[64] = "", until[64] = "", filters[2048] = "";
	if (qstr(c, "since", since, sizeof(since)))
		f.since = unix_ns(since);
	if (qstr(c, "until", until, sizeof(until)))
		f.until = unix_ns(until);
	cJSON *fj = NULL;
	if (qstr(c, "filters", filters, sizeof(filters)))
		fj = cJSON_Parse(filters);
	const cJSON *k;
	cJSON_ArrayForEach(k, fj)
	{
		const cJSON *v;
		if (cJSON_IsArray(k)) {
			cJSON_ArrayForEach(v, k) if (cJSON_IsString(v) && f.n < 16)
			{
				f.key[f.n] = k->string;
				f.val[f.n++] = v->valuestring;
			}
		} else if (cJSON_IsObject(k)) {
			cJSON_ArrayForEach(v, k) if (f.n < 16)
			{
				f.key[f.n] = k->string;
				f.val[f.n++] = v->string;
			}
		}
	}
	enum agent_api_result res;
	if (!fork_off(c, &res)) {
		cJSON_Delete(fj);
		return res;
	}
	net_httpd_start_chunked(c->fd, 200, "application/json", NULL);
	struct ev_out o = { .fd = c->fd };
	agent_events_read(c->a->root, &f, !f.until || f.until > rt_now_ns(), ev_write, &o);
	net_httpd_chunk(c->fd, NULL, 0);
	child_done(c);
}

/* --- images --- */

static enum agent_api_result h_images(struct call *c)
{
	cJSON *all = agent_images_json(c->a->root, qbool(c, "all", false));
	char filters[2048] = "";
	cJSON *fj = qstr(c, "filters", filters, sizeof(filters)) ? cJSON_Parse(filters) : NULL;
	const cJSON *refs = cJSON_GetObjectItem(fj, "reference");
	if (refs) {
		/* reference=PATTERN: a tag (or repository) matching any pattern */
		cJSON *out = cJSON_CreateArray();
		cJSON *img;
		while ((img = cJSON_DetachItemFromArray(all, 0))) {
			bool keep = false;
			const cJSON *tag, *pat;
			cJSON_ArrayForEach(tag, cJSON_GetObjectItem(img, "RepoTags"))
				cJSON_ArrayForEach(pat, refs)
			{
				const char *pv =
					cJSON_IsString(pat) ? pat->valuestring : pat->string;
				char repo[700];
				snprintf(repo, sizeof(repo), "%s", cJSON_GetStringValue(tag) ?: "");
				char *colon = strrchr(repo, ':');
				if (!pv)
					continue;
				keep |= !fnmatch(pv, cJSON_GetStringValue(tag) ?: "", 0);
				if (colon && !strchr(colon, '/')) {
					*colon = '\0';
					keep |= !fnmatch(pv, repo, 0);
				}
			}
			if (keep)
				cJSON_AddItemToArray(out, img);
			else
				cJSON_Delete(img);
		}
		cJSON_Delete(all);
		all = out;
	}
	cJSON_Delete(fj);
	return send_json(c, 200, all);
}

static enum agent_api_result h_image_inspect(struct call *c)
{
	cJSON *j = agent_image_json(c->a->root, c->arg);
	if (!j)
		return fail(c, 404, "No such image: %s", c->arg);
	return send_json(c, 200, j);
}

static enum agent_api_result h_image_tag(struct call *c)
{
	char repo[512] = "", tag[128] = "", target[700];
	qstr(c, "repo", repo, sizeof(repo));
	qstr(c, "tag", tag, sizeof(tag));
	snprintf(target, sizeof(target), "%s%s%s", repo, *tag ? ":" : "", tag);
	struct berr e = { 0 };
	if (agent_image_tag(c->a->root, c->arg, target, &e))
		return e.code == ENOENT ? fail(c, 404, "No such image: %s", c->arg)
					: fail_err(c, &e);
	return no_content(c, 201);
}

static enum agent_api_result h_image_delete(struct call *c)
{
	cJSON *res = cJSON_CreateArray();
	struct berr e = { 0 };
	if (agent_image_remove(c->a->root, c->arg, qbool(c, "force", false), res, &e)) {
		cJSON_Delete(res);
		return fail_err(c, &e);
	}
	return send_json(c, 200, res);
}

/* Sends what can be read from rfd (closed here) to the client as chunks,
 * until its end or the client's. */
static void chunks_from(int cfd, int rfd)
{
	char chunk[16384];
	ssize_t n;
	while ((n = read(rfd, chunk, sizeof(chunk))) > 0)
		if (net_httpd_chunk(cfd, chunk, (size_t)n))
			break;
	close(rfd);
}

/* POST /images/create?fromImage=&tag=: pull, streaming JSON progress. */
static enum agent_api_result h_image_create(struct call *c)
{
	char from[700] = "", tag[128] = "", ref[900];
	if (!qstr(c, "fromImage", from, sizeof(from)) || !*from)
		return fail(c, 400, "fromImage is required (importing tarballs is not supported)");
	qstr(c, "tag", tag, sizeof(tag));
	if (*tag && !strchr(from + (strrchr(from, '/') ? strrchr(from, '/') - from : 0), ':') &&
	    !strchr(from, '@'))
		snprintf(ref, sizeof(ref), "%s%s%s", from,
			 tag[0] == '@' || !strncmp(tag, "sha256:", 7) ? "@" : ":", tag);
	else
		snprintf(ref, sizeof(ref), "%s", from);
	enum agent_api_result res;
	if (!fork_off(c, &res))
		return res;
	net_httpd_start_chunked(c->fd, 200, "application/json", NULL);
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = NULL;
	/* progress goes straight to the client as chunks */
	int pfd[2];
	if (pipe(pfd)) {
		child_done(c);
	}
	pid_t p = fork();
	if (p == 0) {
		close(pfd[0]);
		FILE *f = fdopen(pfd[1], "w");
		struct agent_pull_opts po = {
			.root = c->a->root, .cfg = c->a->cfg, .json = true, .out = f
		};
		store_platform_host(&po.platform);
		char id[DIGEST_STR_MAX];
		struct berr e = { 0 };
		int rc = agent_pull(&po, ref, id, &e);
		if (rc) {
			cJSON *j = cJSON_CreateObject();
			cJSON *d = cJSON_AddObjectToObject(j, "errorDetail");
			cJSON_AddStringToObject(d, "message", e.msg);
			cJSON_AddStringToObject(j, "error", e.msg);
			char *s = cJSON_PrintUnformatted(j);
			fprintf(f, "%s\r\n", s ? s : "");
			free(s);
			cJSON_Delete(j);
		}
		fclose(f);
		_exit(rc ? 1 : 0);
	}
	close(pfd[1]);
	chunks_from(c->fd, pfd[0]);
	waitpid(p, NULL, 0);
	(void)buf;
	(void)len;
	(void)mem;
	net_httpd_chunk(c->fd, NULL, 0);
	child_done(c);
}

/* GET /images/search?term=REGISTRY[/TERM]&limit=N: the registry's catalog
 * (there is no search in the distribution API), in a child: it waits on the
 * network. */
static enum agent_api_result h_image_search(struct call *c)
{
	char term[REF_HOST_MAX + REF_PATH_MAX + 2] = "", lim[16] = "";
	if (!qstr(c, "term", term, sizeof(term)) || !*term)
		return fail(c, 400, "term is required");
	int limit = qstr(c, "limit", lim, sizeof(lim)) && *lim ? atoi(lim) : 25;
	if (limit < 1 || limit > 1000)
		return fail(c, 400, "limit must be from 1 to 1000");
	enum agent_api_result res;
	if (!fork_off(c, &res))
		return res;
	cJSON *arr;
	struct berr e = { 0 };
	int st = agent_search_json(c->a->cfg, term, limit, &arr, &e);
	if (st == -EINVAL)
		fail(c, 400, "%s", e.msg);
	else if (st < 0)
		fail(c, 502, "%s", e.msg);
	else
		send_json(c, 200, arr);
	child_done(c);
}

static enum agent_api_result h_image_prune(struct call *c)
{
	char d[8] = "";
	/* filters={"dangling": ["false"]}: every image no container uses (-a) */
	bool all = qfilter(c, "dangling", d, sizeof(d)) && (!strcmp(d, "false") || !strcmp(d, "0"));
	struct berr e = { 0 };
	cJSON *j = agent_images_prune(c->a->root, all, &e);
	return j ? send_json(c, 200, j) : fail_err(c, &e);
}

/* --- containers --- */

static enum agent_api_result h_containers(struct call *c)
{
	char filters[2048] = "";
	cJSON *fj = qstr(c, "filters", filters, sizeof(filters)) ? cJSON_Parse(filters) : NULL;
	struct berr e = { 0 };
	cJSON *arr = agent_containers_json(c->a->root, qbool(c, "all", false), fj, &e);
	cJSON_Delete(fj);
	return arr ? send_json(c, 200, arr) : fail_err(c, &e);
}

/* Docker's create body as the CLI's flags: one builder for both. */
struct flag_pool {
	char buf[16384];
	size_t used;
};

static const char *pool_fmt(struct flag_pool *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *pool_fmt(struct flag_pool *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(p->buf + p->used, sizeof(p->buf) - p->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(p->buf) - p->used)
		return "";
	const char *s = p->buf + p->used;
	p->used += (size_t)n + 1;
	return s;
}

static int list_add(struct agent_strlist *l, const char *v, struct berr *e)
{
	if (l->n == AGENT_LIST_MAX)
		return berr_setmsg(e, EINVAL, "more than %d values in a list", AGENT_LIST_MAX);
	l->v[l->n++] = v;
	return 0;
}

static int strings_into(const cJSON *arr, struct agent_strlist *l, struct berr *e)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) if (cJSON_IsString(it) &&
					list_add(l, it->valuestring, e)) return -EINVAL;
	return 0;
}

static int create_flags(const cJSON *b, struct run_flags *f, struct flag_pool *pool, struct berr *e)
{
	const cJSON *hc = cJSON_GetObjectItem(b, "HostConfig");
	int rc = 0;
	f->stop_timeout = -1;
	f->workdir = cJSON_GetStringValue(cJSON_GetObjectItem(b, "WorkingDir"));
	f->user = cJSON_GetStringValue(cJSON_GetObjectItem(b, "User"));
	f->hostname = cJSON_GetStringValue(cJSON_GetObjectItem(b, "Hostname"));
	if (f->hostname && !*f->hostname)
		f->hostname = NULL;
	if (f->workdir && !*f->workdir)
		f->workdir = NULL;
	if (f->user && !*f->user)
		f->user = NULL;
	f->tty = cJSON_IsTrue(cJSON_GetObjectItem(b, "Tty"));
	f->interactive = cJSON_IsTrue(cJSON_GetObjectItem(b, "OpenStdin"));
	f->stop_signal = cJSON_GetStringValue(cJSON_GetObjectItem(b, "StopSignal"));
	const cJSON *st = cJSON_GetObjectItem(b, "StopTimeout");
	if (cJSON_IsNumber(st))
		f->stop_timeout = st->valueint;
	const cJSON *ep = cJSON_GetObjectItem(b, "Entrypoint");
	if (cJSON_IsArray(ep))
		f->entrypoint_v = ep;
	else if (cJSON_IsString(ep))
		f->entrypoint = ep->valuestring;
	rc = rc ?: strings_into(cJSON_GetObjectItem(b, "Env"), &f->env, e);
	const cJSON *vols = cJSON_GetObjectItem(b, "Volumes"), *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(b, "Labels")) if (!rc && it->string &&
								     cJSON_IsString(it)) rc =
		list_add(&f->labels, pool_fmt(pool, "%s=%s", it->string, it->valuestring), e);
	cJSON_ArrayForEach(it, vols) if (!rc && it->string) rc =
		list_add(&f->volumes, it->string, e);
	const cJSON *ex;
	cJSON_ArrayForEach(ex, cJSON_GetObjectItem(b, "ExposedPorts")) if (!rc && ex->string) rc =
		list_add(&f->expose, ex->string, e);
	if (!hc)
		return rc;
	rc = rc ?: strings_into(cJSON_GetObjectItem(hc, "Binds"), &f->volumes, e);
	rc = rc ?: strings_into(cJSON_GetObjectItem(hc, "VolumesFrom"), &f->volumes_from, e);
	rc = rc ?: strings_into(cJSON_GetObjectItem(hc, "CapAdd"), &f->cap_add, e);
	rc = rc ?: strings_into(cJSON_GetObjectItem(hc, "CapDrop"), &f->cap_drop, e);
	rc = rc ?: strings_into(cJSON_GetObjectItem(hc, "SecurityOpt"), &f->security_opt, e);
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(hc, "Mounts"))
	{
		const char *type = jstr(it, "Type"), *src = jstr(it, "Source"),
			   *dst = jstr(it, "Target");
		bool ro = cJSON_IsTrue(cJSON_GetObjectItem(it, "ReadOnly"));
		bool nocopy = cJSON_IsTrue(
			cJSON_GetObjectItem(cJSON_GetObjectItem(it, "VolumeOptions"), "NoCopy"));
		if (rc)
			break;
		if (!strcmp(type, "tmpfs"))
			rc = list_add(&f->tmpfs, pool_fmt(pool, "%s", dst), e);
		else if (*src)
			rc = list_add(&f->volumes,
				      pool_fmt(pool, "%s:%s:%s%s", src, dst, ro ? "ro" : "rw",
					       nocopy && !strcmp(type, "volume") ? ",nocopy" : ""),
				      e);
		else
			rc = list_add(&f->volumes, pool_fmt(pool, "%s", dst), e);
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(hc, "Tmpfs")) if (!rc && it->string)
	{
		const char *o = cJSON_GetStringValue(it);
		rc = list_add(&f->tmpfs,
			      o && *o ? pool_fmt(pool, "%s:%s", it->string, o)
				      : pool_fmt(pool, "%s", it->string),
			      e);
	}
	double mem = cJSON_GetNumberValue(cJSON_GetObjectItem(hc, "Memory"));
	if (mem > 0)
		f->memory = pool_fmt(pool, "%.0f", mem);
	double swap = cJSON_GetNumberValue(cJSON_GetObjectItem(hc, "MemorySwap"));
	if (swap == -1)
		f->memory_swap = "-1";
	else if (swap > 0)
		f->memory_swap = pool_fmt(pool, "%.0f", swap);
	double cpus = cJSON_GetNumberValue(cJSON_GetObjectItem(hc, "NanoCpus"));
	if (cpus > 0)
		f->cpus = pool_fmt(pool, "%g", cpus / 1e9);
	/* valueint: cJSON's value clamped to int (a cast of 1e30 is undefined) */
	const cJSON *cs = cJSON_GetObjectItem(hc, "CpuShares");
	if (cJSON_IsNumber(cs) && cs->valueint > 0)
		f->cpu_shares = cs->valueint;
	const cJSON *pl = cJSON_GetObjectItem(hc, "PidsLimit");
	if (cJSON_IsNumber(pl) && pl->valuedouble != 0) {
		f->pids_limit = pl->valuedouble < 0 ? -1 : pl->valueint;
		f->pids_set = true;
	}
	f->privileged = cJSON_IsTrue(cJSON_GetObjectItem(hc, "Privileged"));
	f->read_only = cJSON_IsTrue(cJSON_GetObjectItem(hc, "ReadonlyRootfs"));
	f->init = cJSON_IsTrue(cJSON_GetObjectItem(hc, "Init"));
	f->rm = cJSON_IsTrue(cJSON_GetObjectItem(hc, "AutoRemove"));
	f->publish_all = cJSON_IsTrue(cJSON_GetObjectItem(hc, "PublishAllPorts"));
	const char *nm = cJSON_GetStringValue(cJSON_GetObjectItem(hc, "NetworkMode"));
	if (nm && *nm && strcmp(nm, "default"))
		f->network = nm;
	const cJSON *pb;
	cJSON_ArrayForEach(pb, cJSON_GetObjectItem(hc, "PortBindings"))
	{
		const cJSON *bind;
		cJSON_ArrayForEach(bind, pb)
		{
			const char *ip = jstr(bind, "HostIp"), *hp = jstr(bind, "HostPort");
			if (rc || !pb->string)
				break;
			/* "ip:hp:port", "hp:port", "ip::port" or "port", as -p takes them */
			rc = list_add(&f->publish,
				      *ip || *hp ? pool_fmt(pool, "%s%s%s:%s", ip, *ip ? ":" : "",
							    hp, pb->string)
						 : pool_fmt(pool, "%s", pb->string),
				      e);
		}
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(hc, "Links"))
	{
		/* "/web:/me/alias" */
		const char *l = cJSON_GetStringValue(it);
		if (rc || !l)
			continue;
		char name[256];
		snprintf(name, sizeof(name), "%s", l[0] == '/' ? l + 1 : l);
		char *colon = strchr(name, ':');
		const char *alias = NULL;
		if (colon) {
			*colon = '\0';
			alias = strrchr(colon + 1, '/');
			alias = alias ? alias + 1 : colon + 1;
		}
		rc = list_add(&f->links,
			      alias ? pool_fmt(pool, "%s:%s", name, alias)
				    : pool_fmt(pool, "%s", name),
			      e);
	}
	const cJSON *rp = cJSON_GetObjectItem(hc, "RestartPolicy");
	const char *rpn = jstr(rp, "Name");
	if (*rpn) {
		const cJSON *mr = cJSON_GetObjectItem(rp, "MaximumRetryCount");
		int max = cJSON_IsNumber(mr) ? mr->valueint : 0;
		f->restart = !strcmp(rpn, "on-failure") && max > 0
				     ? pool_fmt(pool, "on-failure:%d", max)
				     : rpn;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(cJSON_GetObjectItem(hc, "LogConfig"),
						   "Config")) if (!rc && it->string &&
								  cJSON_IsString(it)) rc =
		list_add(&f->log_opt, pool_fmt(pool, "%s=%s", it->string, it->valuestring), e);
	return rc;
}

static enum agent_api_result h_create(struct call *c)
{
	_cleanup_free_ struct flag_pool *pool = calloc(1, sizeof(*pool));
	struct run_flags *f = calloc(1, sizeof(*f));
	cJSON *b = body_json(c);
	if (!b || !pool || !f) {
		free(f);
		cJSON_Delete(b);
		return fail(c, 400, "invalid JSON body");
	}
	char name[AGENT_NAME_MAX] = "";
	if (qstr(c, "name", name, sizeof(name)) && *name)
		f->name = name;
	struct berr e = { 0 };
	const char *image = jstr(b, "Image");
	const cJSON *cmd = cJSON_GetObjectItem(b, "Cmd");
	char *argv[256];
	int argc = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, cmd) if (cJSON_IsString(it) && argc < 255) argv[argc++] =
		it->valuestring;
	argv[argc] = NULL;
	cJSON *cfg = NULL;
	int rc = create_flags(b, f, pool, &e);
	if (!rc)
		rc = agent_run_config(c->a->root, f, image, argc, argv, &cfg, &e);
	free(f);
	if (!rc) {
		/* the Healthcheck's fields given override the image's, as the
		 * --health-* flags do */
		cJSON *cc = cJSON_GetObjectItem(cfg, "Config");
		cJSON *hc = cJSON_GetObjectItem(cc, "Healthcheck");
		const cJSON *v = cJSON_GetObjectItem(b, "Healthcheck");
		if (!cJSON_IsObject(v))
			v = NULL;
		else if (!hc)
			hc = cJSON_AddObjectToObject(cc, "Healthcheck");
		cJSON_ArrayForEach(it, v)
		{
			if (!it->string || cJSON_IsNull(it) ||
			    (cJSON_IsNumber(it) && it->valuedouble == 0) ||
			    (cJSON_IsArray(it) && !cJSON_GetArraySize(it)))
				continue;
			cJSON_DeleteItemFromObject(hc, it->string);
			cJSON_AddItemToObject(hc, it->string, cJSON_Duplicate(it, true));
		}
	}
	cJSON_Delete(b);
	if (rc)
		return e.code == ENOENT && !strncmp(e.msg, "No such image", 13)
			       ? fail(c, 404, "%s", e.msg)
			       : fail_err(c, &e);
	struct agent_ctr ctr;
	if (agent_ctr_create(c->a->root, cfg, &ctr, &e))
		return fail_err(c, &e);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "Id", ctr.id);
	cJSON_AddArrayToObject(j, "Warnings");
	agent_ctr_free(&ctr);
	return send_json(c, 201, j);
}

static enum agent_api_result h_inspect(struct call *c)
{
	cJSON *j = agent_container_json(c->a->root, c->arg);
	if (!j)
		return fail(c, 404, "No such container: %s", c->arg);
	return send_json(c, 200, j);
}

static void pending_path(const struct agent_ctr *ctr, char *out, size_t len)
{
	snprintf(out, len, "%s/attach-pending", ctr->dir);
}

static enum agent_api_result h_start(struct call *c)
{
	struct agent_ctr ctr;
	enum agent_api_result res;
	if (find_ctr(c, &ctr, &res))
		return res;
	if (agent_ctr_running(&ctr)) {
		agent_ctr_free(&ctr);
		return no_content(c, 304);
	}
	char p[4200];
	pending_path(&ctr, p, sizeof(p));
	/* an attach request came first (docker run): the monitor holds the
	 * start until that client is there, so no output is lost */
	struct agent_attach a = { .hold_for_attach = !access(p, F_OK) };
	unlink(p);
	struct berr e = { 0 };
	int code;
	int rc = agent_ctr_start(c->a->root, c->a->cfg, &ctr, &a, &code, &e);
	agent_ctr_free(&ctr);
	if (rc < 0)
		return fail(c, 400, "%s", e.msg);
	return no_content(c, 204);
}

static int stop_timeout(struct call *c, const struct agent_ctr *ctr)
{
	char t[32];
	if (qstr(c, "t", t, sizeof(t)) || qstr(c, "timeout", t, sizeof(t)))
		return atoi(t);
	const cJSON *st =
		cJSON_GetObjectItem(cJSON_GetObjectItem(ctr->cfg, "Config"), "StopTimeout");
	return cJSON_IsNumber(st) ? st->valueint : 10;
}

static int stop_signal(struct call *c, const struct agent_ctr *ctr)
{
	char s[32];
	if (qstr(c, "signal", s, sizeof(s)) && agent_signal_parse(s))
		return agent_signal_parse(s);
	int sig = agent_signal_parse(jstr(cJSON_GetObjectItem(ctr->cfg, "Config"), "StopSignal"));
	return sig ? sig : SIGTERM;
}

static enum agent_api_result h_stop(struct call *c)
{
	struct agent_ctr ctr;
	enum agent_api_result res;
	if (find_ctr(c, &ctr, &res))
		return res;
	if (!agent_ctr_running(&ctr)) {
		agent_ctr_free(&ctr);
		return no_content(c, 304);
	}
	if (!fork_off(c, &res)) {
		agent_ctr_free(&ctr);
		return res;
	}
	struct berr e = { 0 };
	if (agent_ctr_stop(&ctr, stop_signal(c, &ctr), stop_timeout(c, &ctr), &e))
		fail_err(c, &e);
	else
		no_content(c, 204);
	child_done(c);
}

static enum agent_api_result h_restart(struct call *c)
{
	struct agent_ctr ctr;
	enum agent_api_result res;
	if (!ctr_fork(c, &ctr, &res))
		return res;
	struct berr e = { 0 };
	int code;
	struct agent_attach a = { 0 };
	if (agent_ctr_stop(&ctr, stop_signal(c, &ctr), stop_timeout(c, &ctr), &e) ||
	    agent_ctr_start(c->a->root, c->a->cfg, &ctr, &a, &code, &e) < 0)
		fail_err(c, &e);
	else
		no_content(c, 204);
	child_done(c);
}

static enum agent_api_result h_kill(struct call *c)
{
	struct agent_ctr ctr;
	enum agent_api_result res;
	if (find_ctr(c, &ctr, &res))
		return res;
	char s[32] = "";
	qstr(c, "signal", s, sizeof(s));
	if (!*s)
		snprintf(s, sizeof(s), "KILL");
	int sig = agent_signal_parse(s);
	struct berr e = { 0 };
	int rc = !sig ? berr_setmsg(&e, EINVAL, "invalid signal: %s", s)
		      : agent_ctr_kill(&ctr, sig, &e);
	agent_ctr_free(&ctr);
	if (rc)
		return e.code == EINVAL && strstr(e.msg, "not running") ? fail(c, 409, "%s", e.msg)
									: fail_err(c, &e);
	return no_content(c, 204);
}

static enum agent_api_result h_delete(struct call *c)
{
	struct agent_ctr ctr;
	enum agent_api_result res;
	if (find_ctr(c, &ctr, &res))
		return res;
	bool force = qbool(c, "force", false), vols = qbool(c, "v", false);
	/* a running container without force: agent_ctr_remove says so (409) */
	if (!fork_off(c, &res)) {
		agent_ctr_free(&ctr);
		return res;
	}
	struct berr e = { 0 };
	if (agent_ctr_remove(c->a->root, &ctr, force, vols, &e))
		fail_err(c, &e);
	else
		no_content(c, 204);
	child_done(c);
}

/* Waits for the container's exit through its monitor (as a watcher). */
static bool client_gone(int cfd)
{
	struct pollfd p = { .fd = cfd, .events = POLLIN };
	if (cfd < 0 || poll(&p, 1, 0) <= 0)
		return false;
	char b[64];
	return recv(cfd, b, sizeof(b), MSG_DONTWAIT | MSG_PEEK) == 0 ||
	       (p.revents & (POLLHUP | POLLERR));
}

/* Sleeps *us (1 ms at first, doubling to 20 ms) and returns the ms slept:
 * a start or removal right after the request is seen at once, a long wait
 * costs little. */
static int backoff(int *us)
{
	int t = *us ? *us : 1000;
	usleep((useconds_t)t);
	*us = t < 20000 ? t * 2 : 20000;
	return t / 1000;
}

static int wait_exit(const char *dir, int *code, int timeout_ms, int cfd)
{
	char sock[4200];
	snprintf(sock, sizeof(sock), "%s/attach.sock", dir);
	for (int waited = 0, us = 0; access(sock, F_OK); waited += backoff(&us))
		if (access(dir, F_OK) || (timeout_ms >= 0 && waited >= timeout_ms) ||
		    client_gone(cfd))
			return -ENOENT;
	struct berr e = { 0 };
	int fd = rt_attach_connect(dir, true, &e);
	if (fd < 0)
		return fd;
	unsigned char buf[8 + RT_FRAME_MAX];
	size_t have = 0;
	int rc = -EIO;
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = cfd, .events = POLLIN } };
		if (poll(p, cfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents && client_gone(cfd))
			break;
		if (!p[0].revents)
			continue;
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		while (have >= 8) {
			size_t len = ((size_t)buf[4] << 24) | ((size_t)buf[5] << 16) |
				     ((size_t)buf[6] << 8) | buf[7];
			if (have < 8 + len)
				break;
			if (buf[0] == RT_FRAME_EXIT) {
				char t[16];
				snprintf(t, sizeof(t), "%.*s", (int)(len < 15 ? len : 15),
					 (char *)buf + 8);
				*code = atoi(t);
				rc = 0;
			}
			memmove(buf, buf + 8 + len, have - 8 - len);
			have -= 8 + len;
		}
		if (!rc)
			break;
	}
	close(fd);
	return rc;
}

static enum agent_api_result h_wait(struct call *c)
{
	struct agent_ctr ctr;
	enum agent_api_result res;
	if (find_ctr(c, &ctr, &res))
		return res;
	char cond[32] = "";
	qstr(c, "condition", cond, sizeof(cond));
	if (!*cond)
		snprintf(cond, sizeof(cond), "not-running");
	if (!fork_off(c, &res)) {
		agent_ctr_free(&ctr);
		return res;
	}
	net_httpd_start_chunked(c->fd, 200, "application/json", NULL);
	int code = ctr.st.exit_code;
	bool running = agent_ctr_running(&ctr);
	if (running || strcmp(cond, "not-running")) {
		/* next-exit and removed wait for a start that may still come */
		if (wait_exit(ctr.dir, &code, -1, c->fd)) {
			if (client_gone(c->fd))
				child_done(c);
			agent_ctr_refresh(&ctr);
			code = ctr.st.exit_code;
		}
	}
	if (!strcmp(cond, "removed"))
		for (int waited = 0, us = 0; waited < 10000 && !access(ctr.dir, F_OK);)
			waited += backoff(&us);
	char j[96];
	int n = snprintf(j, sizeof(j), "{\"StatusCode\":%d,\"Error\":null}\n", code);
	net_httpd_chunk(c->fd, j, (size_t)n);
	net_httpd_chunk(c->fd, NULL, 0);
	child_done(c);
}

struct log_out {
	int fd;
	bool tty;
};

static int log_frame(void *arg, enum rt_log_stream s, const char *buf, size_t len)
{
	struct log_out *o = arg;
	char out[8 + 4 * RT_LOG_LINE_MAX + 1];
	size_t n = 0;
	if (len > 4 * RT_LOG_LINE_MAX)
		len = 4 * RT_LOG_LINE_MAX;
	if (!o->tty) {
		unsigned l = (unsigned)len + 1;
		unsigned char h[8] = { s == RT_LOG_STDERR ? 2 : 1,
				       0,
				       0,
				       0,
				       (unsigned char)(l >> 24),
				       (unsigned char)(l >> 16),
				       (unsigned char)(l >> 8),
				       (unsigned char)l };
		memcpy(out, h, 8);
		n = 8;
	}
	memcpy(out + n, buf, len);
	n += len;
	out[n++] = '\n';
	return net_httpd_chunk(o->fd, out, n) ? -EPIPE : 0;
}

static bool log_done(void *arg)
{
	struct agent_ctr *c = arg;
	agent_ctr_refresh(c);
	return !agent_ctr_running(c);
}

static enum agent_api_result h_logs(struct call *c)
{
	static struct agent_ctr ctr;
	enum agent_api_result res;
	if (find_ctr(c, &ctr, &res))
		return res;
	struct rt_log_read_opts o = { .tail = -1, .timestamps = qbool(c, "timestamps", false) };
	if (qbool(c, "stdout", false))
		o.streams |= RT_LOG_STDOUT;
	if (qbool(c, "stderr", false))
		o.streams |= RT_LOG_STDERR;
	if (!o.streams) {
		agent_ctr_free(&ctr);
		return fail(c, 400, "Bad parameters: you must choose at least one stream");
	}
	char t[64];
	if (qstr(c, "tail", t, sizeof(t)) && strcmp(t, "all"))
		o.tail = atol(t);
	if (qstr(c, "since", t, sizeof(t)) && atof(t) > 0) {
		long long ns = unix_ns(t);
		o.since.tv_sec = ns / 1000000000LL;
		o.since.tv_nsec = ns % 1000000000LL;
	}
	if (qstr(c, "until", t, sizeof(t)) && atof(t) > 0) {
		long long ns = unix_ns(t);
		o.until.tv_sec = ns / 1000000000LL;
		o.until.tv_nsec = ns % 1000000000LL;
	}
	o.follow = qbool(c, "follow", false);
	o.done = log_done;
	o.done_arg = &ctr;
	bool tty = cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(ctr.cfg, "Config"), "Tty"));
	if (!fork_off(c, &res)) {
		agent_ctr_free(&ctr);
		return res;
	}
	net_httpd_start_chunked(c->fd, 200,
				tty ? "application/vnd.docker.raw-stream"
				    : "application/vnd.docker.multiplexed-stream",
				NULL);
	struct log_out lo = { .fd = c->fd, .tty = tty };
	char p[4200];
	struct berr e = { 0 };
	snprintf(p, sizeof(p), "%s/container.log", ctr.dir);
	rt_log_read(p, &o, log_frame, &lo, &e);
	net_httpd_chunk(c->fd, NULL, 0);
	child_done(c);
}

/* Relays a hijacked client and a monitor (or exec) stream until either ends. */
static void hijack_relay(int cfd, int mfd, bool stdin_on, const void *pending, size_t plen,
			 bool raw)
{
	if (plen && stdin_on)
		rt_frame_send(mfd, RT_FRAME_STDIN, pending, plen);
	unsigned char buf[8 + RT_FRAME_MAX];
	size_t have = 0;
	bool in_on = stdin_on;
	for (;;) {
		struct pollfd p[2] = { { .fd = mfd, .events = POLLIN },
				       { .fd = in_on ? cfd : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents) {
			char in[4096];
			ssize_t n = read(cfd, in, sizeof(in));
			if (n > 0) {
				rt_frame_send(mfd, RT_FRAME_STDIN, in, (size_t)n);
			} else if (p[1].revents & POLLHUP) {
				/* closed, not half-closed: a client that detached or
				 * died; the container's stdin stays open */
				return;
			} else {
				rt_frame_send(mfd, RT_FRAME_EOF, NULL, 0);
				in_on = false;
			}
		}
		if (!p[0].revents)
			continue;
		ssize_t n = read(mfd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			return;
		have += (size_t)n;
		while (have >= 8) {
			size_t len = ((size_t)buf[4] << 24) | ((size_t)buf[5] << 16) |
				     ((size_t)buf[6] << 8) | buf[7];
			if (len > RT_FRAME_MAX)
				return;
			if (have < 8 + len)
				break;
			if (buf[0] == RT_FRAME_EXIT)
				return;
			/* the monitor's frames are docker's multiplexed format;
			 * a tty stream is raw */
			if ((buf[0] == RT_FRAME_STDOUT || buf[0] == RT_FRAME_STDERR) &&
			    send(cfd, raw ? buf + 8 : buf, raw ? len : 8 + len, MSG_NOSIGNAL) < 0)
				return;
			memmove(buf, buf + 8 + len, have - 8 - len);
			have -= 8 + len;
		}
	}
}

static enum agent_api_result h_attach(struct call *c)
{
	struct agent_ctr ctr;
	enum agent_api_result res;
	if (find_ctr(c, &ctr, &res))
		return res;
	bool in = qbool(c, "stdin", false), stream = qbool(c, "stream", false);
	const cJSON *cc = cJSON_GetObjectItem(ctr.cfg, "Config");
	bool tty = cJSON_IsTrue(cJSON_GetObjectItem(cc, "Tty"));
	bool open_stdin = cJSON_IsTrue(cJSON_GetObjectItem(cc, "OpenStdin"));
	if (!stream) {
		agent_ctr_free(&ctr);
		return fail(c, 400, "attach without stream=1 (logs) is not supported: use /logs");
	}
	bool running = agent_ctr_running(&ctr);
	char p[4200];
	if (!running) {
		pending_path(&ctr, p, sizeof(p));
		fs_write_replace(p, "1\n", 2, 0644, false, &(struct berr){ 0 });
	}
	if (!fork_off(c, &res)) {
		agent_ctr_free(&ctr);
		return res;
	}
	if (c->rq->upgrade)
		net_httpd_hijack(c->fd, tty ? "application/vnd.docker.raw-stream"
					    : "application/vnd.docker.multiplexed-stream");
	else
		net_httpd_respond(c->fd, 200,
				  tty ? "application/vnd.docker.raw-stream"
				      : "application/vnd.docker.multiplexed-stream",
				  NULL, 0, false, NULL);
	char sock[4200];
	snprintf(sock, sizeof(sock), "%s/attach.sock", ctr.dir);
	for (int waited = 0, us = 0; access(sock, F_OK) && waited < 60000; waited += backoff(&us))
		if (access(ctr.dir, F_OK))
			child_done(c);
	struct berr e = { 0 };
	int mfd = rt_attach_connect(ctr.dir, false, &e);
	if (mfd < 0)
		child_done(c);
	const void *pend = NULL;
	size_t plen = net_httpd_pending(c->hc, &pend);
	hijack_relay(c->fd, mfd, in && open_stdin, pend, plen, tty);
	close(mfd);
	child_done(c);
}

static enum agent_api_result h_resize(struct call *c)
{
	struct agent_ctr ctr;
	enum agent_api_result res;
	if (find_ctr(c, &ctr, &res))
		return res;
	char h[16] = "", w[16] = "", b[40];
	qstr(c, "h", h, sizeof(h));
	qstr(c, "w", w, sizeof(w));
	struct berr e = { 0 };
	int fd = agent_ctr_running(&ctr) ? rt_attach_connect(ctr.dir, true, &e) : -1;
	agent_ctr_free(&ctr);
	if (fd < 0)
		return fail(c, 409, "container %s is not running", c->arg);
	int n = snprintf(b, sizeof(b), "%d %d", atoi(h), atoi(w));
	rt_frame_send(fd, RT_FRAME_WINSIZE, b, (size_t)n);
	close(fd);
	return no_content(c, 200);
}

/* top: ps -ef's columns, from /proc, as `berth top` prints them */
static enum agent_api_result h_top(struct call *c)
{
	struct agent_ctr ctr;
	enum agent_api_result res;
	if (find_ctr(c, &ctr, &res))
		return res;
	struct berr e = { 0 };
	cJSON *j = agent_top_json(&ctr, &e);
	agent_ctr_free(&ctr);
	if (!j)
		return fail(c, 409, "%s", e.msg);
	return send_json(c, 200, j);
}

static enum agent_api_result h_stats(struct call *c)
{
	struct agent_ctr ctr;
	enum agent_api_result res;
	if (!ctr_fork(c, &ctr, &res))
		return res;
	bool stream = qbool(c, "stream", true);
	net_httpd_start_chunked(c->fd, 200, "application/json", NULL);
	struct agent_stats_sample prev, cur;
	agent_stats_sample(&ctr, &prev);
	for (;;) {
		usleep(stream ? 1000000 : AGENT_STATS_SAMPLE_MS * 1000);
		agent_ctr_refresh(&ctr);
		agent_stats_sample(&ctr, &cur);
		cJSON *j = agent_stats_json(&ctr, &prev, &cur);
		char *s = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
		int rc = s ? net_httpd_chunk(c->fd, s, strlen(s)) : -ENOMEM;
		if (!rc)
			rc = net_httpd_chunk(c->fd, "\n", 1);
		free(s);
		if (rc || !stream || !cur.running)
			break;
		prev = cur;
	}
	net_httpd_chunk(c->fd, NULL, 0);
	child_done(c);
}

static enum agent_api_result h_rename(struct call *c)
{
	char name[AGENT_NAME_MAX] = "";
	if (!qstr(c, "name", name, sizeof(name)) || !*name)
		return fail(c, 400, "rename: a new name is required");
	struct berr e = { 0 };
	if (agent_ctr_rename(c->a->root, c->arg, name, &e))
		return e.code == ENOENT ? fail(c, 404, "No such container: %s", c->arg)
					: fail_err(c, &e);
	return no_content(c, 204);
}

static enum agent_api_result pause_call(struct call *c, bool on)
{
	struct agent_ctr ctr;
	enum agent_api_result res;
	if (find_ctr(c, &ctr, &res))
		return res;
	struct berr e = { 0 };
	int rc = agent_ctr_pause(&ctr, on, &e);
	agent_ctr_free(&ctr);
	return rc ? fail(c, 409, "%s", e.msg) : no_content(c, 204);
}

static enum agent_api_result h_pause(struct call *c)
{
	return pause_call(c, true);
}

static enum agent_api_result h_unpause(struct call *c)
{
	return pause_call(c, false);
}

static enum agent_api_result h_export(struct call *c)
{
	struct agent_ctr ctr;
	enum agent_api_result res;
	if (!ctr_fork(c, &ctr, &res))
		return res;
	/* chunked, written by a grandchild through a pipe: a failed export
	 * ends without the last chunk, which the client sees as an error */
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC))
		child_done(c);
	pid_t p = fork();
	if (p == 0) {
		close(pfd[0]);
		struct berr e = { 0 };
		_exit(agent_ctr_export(c->a->root, &ctr, pfd[1], &e) ? 1 : 0);
	}
	close(pfd[1]);
	net_httpd_start_chunked(c->fd, 200, "application/x-tar", NULL);
	if (p > 0)
		chunks_from(c->fd, pfd[0]);
	else
		close(pfd[0]);
	int status = -1;
	if (p > 0 && waitpid(p, &status, 0) == p && WIFEXITED(status) && !WEXITSTATUS(status))
		net_httpd_chunk(c->fd, NULL, 0);
	child_done(c);
}

static enum agent_api_result h_containers_prune(struct call *c)
{
	struct berr e = { 0 };
	cJSON *j = agent_containers_prune(c->a->root, &e);
	return j ? send_json(c, 200, j) : fail_err(c, &e);
}

/* --- exec --- */

static void exec_path(const char *root, const char *id, char *out, size_t len)
{
	snprintf(out, len, "%s/execs/%s.json", root, id);
}

static cJSON *exec_load(const char *root, const char *id)
{
	char p[4200];
	_cleanup_free_ char *buf = NULL;
	if (strlen(id) != 64 || strspn(id, "0123456789abcdef") != 64)
		return NULL;
	exec_path(root, id, p, sizeof(p));
	ssize_t n = fs_read_alloc(p, 1 << 20, &buf, NULL);
	return n > 0 ? cJSON_ParseWithLength(buf, (size_t)n) : NULL;
}

static void exec_save(const char *root, const cJSON *j)
{
	char p[4200];
	exec_path(root, jstr(j, "ID"), p, sizeof(p));
	char *s = cJSON_PrintUnformatted(j);
	if (s)
		fs_write_replace(p, s, strlen(s), 0600, false, &(struct berr){ 0 });
	free(s);
}

static enum agent_api_result h_exec_create(struct call *c)
{
	struct agent_ctr ctr;
	enum agent_api_result res;
	if (find_ctr(c, &ctr, &res))
		return res;
	bool running = agent_ctr_running(&ctr), paused = ctr.paused;
	char cid[AGENT_CTR_ID_LEN + 1], name[AGENT_NAME_MAX];
	snprintf(cid, sizeof(cid), "%s", ctr.id);
	snprintf(name, sizeof(name), "%s", ctr.name);
	agent_ctr_free(&ctr);
	/* worded as agent_exec_run words it */
	if (!running || paused)
		return fail(c, 409, "container %s is %s", name,
			    paused ? "paused, unpause it first" : "not running");
	cJSON *b = body_json(c);
	if (!b || !cJSON_IsArray(cJSON_GetObjectItem(b, "Cmd")) ||
	    !cJSON_GetArraySize(cJSON_GetObjectItem(b, "Cmd"))) {
		cJSON_Delete(b);
		return fail(c, 400, "No exec command specified");
	}
	unsigned char r[32];
	char id[65];
	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		cJSON_Delete(b);
		return fail(c, 500, "no randomness for an exec id");
	}
	for (int i = 0; i < 32; i++)
		sprintf(id + 2 * i, "%02x", r[i]);
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/execs", c->a->root);
	fs_mkdir_p(dir, 0700, NULL);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "ID", id);
	cJSON_AddStringToObject(j, "ContainerID", cid);
	const char *keys[] = { "Cmd",         "Env",          "User",         "WorkingDir", "Tty",
			       "AttachStdin", "AttachStdout", "AttachStderr", "Privileged" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		cJSON *v = cJSON_GetObjectItem(b, keys[i]);
		if (v)
			cJSON_AddItemToObject(j, keys[i], cJSON_Duplicate(v, true));
	}
	cJSON_AddBoolToObject(j, "Running", false);
	cJSON_AddNullToObject(j, "ExitCode");
	cJSON_AddNumberToObject(j, "Pid", 0);
	cJSON_Delete(b);
	exec_save(c->a->root, j);
	cJSON_Delete(j);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "Id", id);
	return send_json(c, 201, o);
}

static enum agent_api_result h_exec_json(struct call *c)
{
	cJSON *j = exec_load(c->a->root, c->arg);
	if (!j)
		return fail(c, 404, "No such exec instance: %s", c->arg);
	cJSON *pc = cJSON_AddObjectToObject(j, "ProcessConfig");
	const cJSON *cmd = cJSON_GetObjectItem(j, "Cmd");
	cJSON_AddStringToObject(pc, "entrypoint", jstr(cJSON_GetArrayItem(cmd, 0), "") ?: "");
	cJSON_AddBoolToObject(pc, "tty", cJSON_IsTrue(cJSON_GetObjectItem(j, "Tty")));
	cJSON_AddBoolToObject(j, "OpenStdin", cJSON_IsTrue(cJSON_GetObjectItem(j, "AttachStdin")));
	cJSON_AddBoolToObject(j, "OpenStdout", true);
	cJSON_AddBoolToObject(j, "OpenStderr", true);
	return send_json(c, 200, j);
}

static enum agent_api_result h_exec_resize(struct call *c)
{
	cJSON *j = exec_load(c->a->root, c->arg);
	if (!j)
		return fail(c, 404, "No such exec instance: %s", c->arg);
	char h[16] = "", w[16] = "";
	qstr(c, "h", h, sizeof(h));
	qstr(c, "w", w, sizeof(w));
	const char *pty = jstr(j, "PtyPath");
	int fd = *pty ? open(pty, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
	cJSON_Delete(j);
	if (fd >= 0) {
		struct winsize ws = { .ws_row = (unsigned short)atoi(h),
				      .ws_col = (unsigned short)atoi(w) };
		ioctl(fd, TIOCSWINSZ, &ws);
		close(fd);
	}
	return no_content(c, 201);
}

/* One stream of an exec's output to the client: a frame, or raw for a tty. */
static int exec_out(int cfd, int stream, const char *buf, size_t len, bool raw)
{
	unsigned char h[8] = { (unsigned char)stream,
			       0,
			       0,
			       0,
			       (unsigned char)(len >> 24),
			       (unsigned char)(len >> 16),
			       (unsigned char)(len >> 8),
			       (unsigned char)len };
	if (!raw && send(cfd, h, 8, MSG_NOSIGNAL) != 8)
		return -1;
	return send(cfd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static enum agent_api_result h_exec_start(struct call *c)
{
	cJSON *j = exec_load(c->a->root, c->arg);
	if (!j)
		return fail(c, 404, "No such exec instance: %s", c->arg);
	if (cJSON_IsTrue(cJSON_GetObjectItem(j, "Running")) ||
	    cJSON_IsNumber(cJSON_GetObjectItem(j, "ExitCode"))) {
		cJSON_Delete(j);
		return fail(c, 409, "exec %s has already run", c->arg);
	}
	cJSON *b = body_json(c);
	bool detach = cJSON_IsTrue(cJSON_GetObjectItem(b, "Detach"));
	cJSON_Delete(b);
	struct agent_ctr ctr;
	struct berr e = { 0 };
	if (agent_ctr_find(c->a->root, jstr(j, "ContainerID"), &ctr, &e)) {
		cJSON_Delete(j);
		return fail(c, 404, "No such container: %s", jstr(j, "ContainerID"));
	}
	enum agent_api_result res;
	if (!fork_off(c, &res)) {
		agent_ctr_free(&ctr);
		cJSON_Delete(j);
		return res;
	}
	bool tty = cJSON_IsTrue(cJSON_GetObjectItem(j, "Tty"));
	bool in = cJSON_IsTrue(cJSON_GetObjectItem(j, "AttachStdin")) && !detach;
	const char *ct = tty ? "application/vnd.docker.raw-stream"
			     : "application/vnd.docker.multiplexed-stream";
	if (detach)
		net_httpd_respond(c->fd, 200, NULL, NULL, 0, false, NULL);
	else if (c->rq->upgrade)
		net_httpd_hijack(c->fd, ct);
	else
		net_httpd_respond(c->fd, 200, ct, NULL, 0, false, NULL);
	char *argv[256];
	const char *env[AGENT_LIST_MAX];
	int argc = 0, nenv = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "Cmd")) if (cJSON_IsString(it) && argc < 255)
		argv[argc++] = it->valuestring;
	argv[argc] = NULL;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "Env")) if (cJSON_IsString(it) &&
								  nenv < AGENT_LIST_MAX)
		env[nenv++] = it->valuestring;
	struct agent_exec_opts eo = {
		.argv = argv,
		.env = env,
		.nenv = nenv,
		.user = cJSON_GetStringValue(cJSON_GetObjectItem(j, "User")),
		.workdir = cJSON_GetStringValue(cJSON_GetObjectItem(j, "WorkingDir")),
		.privileged = cJSON_IsTrue(cJSON_GetObjectItem(j, "Privileged")),
		.tty = tty,
	};
	int master = -1, slave = -1, inp[2] = { -1, -1 }, outp[2] = { -1, -1 },
	    errp[2] = { -1, -1 };
	int stdio[3];
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (tty && !agent_pty(&master, &slave, &e)) {
		stdio[0] = stdio[1] = stdio[2] = slave;
		char *name = ptsname(master);
		cJSON_DeleteItemFromObject(j, "PtyPath");
		cJSON_AddStringToObject(j, "PtyPath", name ? name : "");
	} else {
		if (in && !pipe2(inp, O_CLOEXEC))
			stdio[0] = inp[0];
		else
			stdio[0] = nul;
		if (detach || pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
			stdio[1] = stdio[2] = nul;
		} else {
			stdio[1] = outp[1];
			stdio[2] = errp[1];
		}
	}
	pid_t pid;
	int code;
	int rc = agent_exec_run(&ctr, &eo, stdio, &pid, &code, &e);
	if (slave >= 0)
		close(slave);
	if (inp[0] >= 0)
		close(inp[0]);
	if (outp[1] >= 0)
		close(outp[1]);
	if (errp[1] >= 0)
		close(errp[1]);
	if (rc) {
		/* the line the direct path prints */
		char msg[BERR_MSG_MAX + 600];
		int n = snprintf(msg, sizeof(msg), "berth: error: exec %.512s: %s\n",
				 argv[0] ? argv[0] : "", e.msg);
		if (!detach)
			exec_out(c->fd, 2, msg, (size_t)n, tty);
		cJSON_DeleteItemFromObject(j, "ExitCode");
		cJSON_AddNumberToObject(j, "ExitCode", code);
		exec_save(c->a->root, j);
		child_done(c);
	}
	cJSON_DeleteItemFromObject(j, "Running");
	cJSON_AddBoolToObject(j, "Running", true);
	cJSON_DeleteItemFromObject(j, "Pid");
	cJSON_AddNumberToObject(j, "Pid", pid);
	exec_save(c->a->root, j);
	const void *pend = NULL;
	size_t plen = net_httpd_pending(c->hc, &pend);
	int inw = tty ? master : inp[1];
	if (plen && inw >= 0 && in && write(inw, pend, plen) < 0)
		plen = 0;
	bool in_on = in && inw >= 0 && !detach;
	int outs[2] = { tty ? master : outp[0], tty ? -1 : errp[0] };
	while (!detach && (outs[0] >= 0 || outs[1] >= 0)) {
		struct pollfd p[3] = { { .fd = outs[0], .events = POLLIN },
				       { .fd = outs[1], .events = POLLIN },
				       { .fd = in_on ? c->fd : -1, .events = POLLIN } };
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		char buf[16384];
		for (int k = 0; k < 2; k++) {
			if (!p[k].revents)
				continue;
			ssize_t n = read(outs[k], buf, sizeof(buf));
			if (n <= 0) {
				close(outs[k]);
				outs[k] = -1;
				continue;
			}
			if (exec_out(c->fd, k + 1, buf, (size_t)n, tty))
				in_on = false;
		}
		if (p[2].revents) {
			ssize_t n = read(c->fd, buf, sizeof(buf));
			if (n > 0) {
				if (write(inw, buf, (size_t)n) < 0)
					in_on = false;
			} else {
				in_on = false;
				if (!tty && inp[1] >= 0) {
					close(inp[1]);
					inp[1] = -1;
				}
			}
		}
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	cJSON_DeleteItemFromObject(j, "Running");
	cJSON_AddBoolToObject(j, "Running", false);
	cJSON_DeleteItemFromObject(j, "ExitCode");
	cJSON_AddNumberToObject(j, "ExitCode", rt_exit_code(st));
	exec_save(c->a->root, j);
	child_done(c);
}

/* --- volumes --- */

static enum agent_api_result h_volumes(struct call *c)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddItemToObject(j, "Volumes", agent_volumes_json(c->a->root));
	cJSON_AddArrayToObject(j, "Warnings");
	return send_json(c, 200, j);
}

static enum agent_api_result h_volume_create(struct call *c)
{
	cJSON *b = body_json(c);
	char name[128];
	snprintf(name, sizeof(name), "%s", jstr(b, "Name"));
	cJSON_Delete(b);
	if (!*name) {
		unsigned char r[32];
		if (getrandom(r, sizeof(r), 0) != sizeof(r))
			return fail(c, 500, "no randomness for a volume name");
		for (int i = 0; i < 32; i++)
			sprintf(name + 2 * i, "%02x", r[i]);
	}
	struct berr e = { 0 };
	if (agent_volume_create(c->a->root, name, false, &e))
		return fail_err(c, &e);
	cJSON *j = agent_volume_json(c->a->root, name);
	return j ? send_json(c, 201, j) : fail(c, 500, "volume %s vanished", name);
}

static enum agent_api_result h_volume_inspect(struct call *c)
{
	cJSON *j = agent_volume_json(c->a->root, c->arg);
	return j ? send_json(c, 200, j) : fail(c, 404, "get %s: no such volume", c->arg);
}

static enum agent_api_result h_volume_delete(struct call *c)
{
	struct berr e = { 0 };
	if (agent_volume_remove(c->a->root, c->arg, qbool(c, "force", false), &e))
		return e.code == ENOENT ? fail(c, 404, "get %s: no such volume", c->arg)
					: fail_err(c, &e);
	return no_content(c, 204);
}

static enum agent_api_result h_volumes_prune(struct call *c)
{
	char v[8] = "";
	/* filters={"all": ["true"]}: every unused volume, not just anonymous ones */
	bool all = qfilter(c, "all", v, sizeof(v)) && (!strcmp(v, "true") || !strcmp(v, "1"));
	return send_json(c, 200, agent_volumes_prune_json(c->a->root, all));
}

static enum agent_api_result h_auth(struct call *c)
{
	/* credentials are checked when they are used (pull); berth login stores them */
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "Status", "Login Succeeded");
	cJSON_AddStringToObject(j, "IdentityToken", "");
	return send_json(c, 200, j);
}

/* --- routing --- */

enum { FIXED, CTR, IMG, EXEC, VOL };

static const struct route {
	const char *method;
	int kind; /* FIXED: path == pre; otherwise pre + {arg} + post */
	const char *pre, *post;
	handler_fn *fn;
} routes[] = {
	{ "GET", FIXED, "/_ping", NULL, h_ping },
	{ "HEAD", FIXED, "/_ping", NULL, h_ping },
	{ "GET", FIXED, "/version", NULL, h_version },
	{ "GET", FIXED, "/info", NULL, h_info },
	{ "GET", FIXED, "/system/df", NULL, h_df },
	{ "GET", FIXED, "/events", NULL, h_events },
	{ "POST", FIXED, "/auth", NULL, h_auth },
	{ "GET", FIXED, "/images/json", NULL, h_images },
	{ "POST", FIXED, "/images/create", NULL, h_image_create },
	{ "POST", FIXED, "/images/prune", NULL, h_image_prune },
	{ "GET", FIXED, "/images/search", NULL, h_image_search },
	{ "GET", IMG, "/images/", "/json", h_image_inspect },
	{ "POST", IMG, "/images/", "/tag", h_image_tag },
	{ "DELETE", IMG, "/images/", "", h_image_delete },
	{ "GET", FIXED, "/containers/json", NULL, h_containers },
	{ "POST", FIXED, "/containers/create", NULL, h_create },
	{ "POST", FIXED, "/containers/prune", NULL, h_containers_prune },
	{ "GET", CTR, "/containers/", "/json", h_inspect },
	{ "POST", CTR, "/containers/", "/start", h_start },
	{ "POST", CTR, "/containers/", "/stop", h_stop },
	{ "POST", CTR, "/containers/", "/restart", h_restart },
	{ "POST", CTR, "/containers/", "/kill", h_kill },
	{ "POST", CTR, "/containers/", "/wait", h_wait },
	{ "GET", CTR, "/containers/", "/logs", h_logs },
	{ "POST", CTR, "/containers/", "/attach", h_attach },
	{ "POST", CTR, "/containers/", "/resize", h_resize },
	{ "GET", CTR, "/containers/", "/top", h_top },
	{ "GET", CTR, "/containers/", "/stats", h_stats },
	{ "POST", CTR, "/containers/", "/rename", h_rename },
	{ "POST", CTR, "/containers/", "/pause", h_pause },
	{ "POST", CTR, "/containers/", "/unpause", h_unpause },
	{ "GET", CTR, "/containers/", "/export", h_export },
	{ "POST", CTR, "/containers/", "/exec", h_exec_create },
	{ "DELETE", CTR, "/containers/", "", h_delete },
	{ "POST", EXEC, "/exec/", "/start", h_exec_start },
	{ "GET", EXEC, "/exec/", "/json", h_exec_json },
	{ "POST", EXEC, "/exec/", "/resize", h_exec_resize },
	{ "GET", FIXED, "/volumes", NULL, h_volumes },
	{ "POST", FIXED, "/volumes/create", NULL, h_volume_create },
	{ "POST", FIXED, "/volumes/prune", NULL, h_volumes_prune },
	{ "GET", VOL, "/volumes/", "", h_volume_inspect },
	{ "DELETE", VOL, "/volumes/", "", h_volume_delete },
};

/* Matches pre{arg}post; image names may hold '/', ids and names may not. */
static bool match(const struct route *r, const char *path, char *arg, size_t len)
{
	if (r->kind == FIXED)
		return !strcmp(path, r->pre);
	size_t pl = strlen(r->pre), sl = strlen(r->post), n = strlen(path);
	if (n <= pl + sl || strncmp(path, r->pre, pl) || strcmp(path + n - sl, r->post))
		return false;
	size_t al = n - pl - sl;
	if (al >= len)
		return false;
	memcpy(arg, path + pl, al);
	arg[al] = '\0';
	return r->kind == IMG || !strchr(arg, '/');
}

enum agent_api_result agent_api_handle(const struct agent_api *a, struct net_httpd_conn *hc,
				       const struct net_httpd_req *rq, int fd)
{
	struct call c = { .a = a, .hc = hc, .rq = rq, .fd = fd, .path = rq->path };
	/* /v1.45/containers/json: the version prefix is optional */
	if (!strncmp(c.path, "/v", 2) && isdigit((unsigned char)c.path[2])) {
		const char *slash = strchr(c.path + 1, '/');
		int maj = 0, min = 0;
		if (sscanf(c.path + 2, "%d.%d", &maj, &min) == 2) {
			int v = maj * 1000 + min;
			if (v < 1024)
				return fail(
					&c, 400,
					"client version %d.%d is too old. Minimum supported API version is " AGENT_API_MIN_VERSION
					", please upgrade your client to a newer version",
					maj, min);
			if (v > 1045)
				return fail(
					&c, 400,
					"client version %d.%d is too new. Maximum supported API version is " AGENT_API_VERSION,
					maj, min);
		}
		c.path = slash ? slash : "/";
	}
	bool path_known = false;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!match(&routes[i], c.path, c.arg, sizeof(c.arg)))
			continue;
		path_known = true;
		if (strcmp(routes[i].method, rq->method))
			continue;
		return routes[i].fn(&c);
	}
	if (path_known)
		return fail(&c, 405, "method %s not allowed on %s", rq->method, c.path);
	return fail(&c, 404, "page not found: %s %s is not part of berth's Docker API subset",
		    rq->method, c.path);
}
