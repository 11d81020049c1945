/* berth pull: resolve the manifest, fetch the config, download and unpack
 * the layers in workers, then record and tag the image (see pull.h). */
#include "pull.h"
#include "agent/events.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "board/cleanup.h"
#include "board/fs.h"
#include "net/registry.h"
#include "store/store.h"
#include "store/unpack.h"

struct pull {
	const struct agent_pull_opts *po;
	struct net_ref ref;
	struct store st;
	struct net_registry *reg;
	struct net_registry_config rcfg;
	char basic[512];
	struct store_manifest *man;
	struct store_imgconfig *conf;
	char top_digest[DIGEST_STR_MAX]; /* what the tag points at (index or manifest) */
	bool tty;                        /* progress redrawn in place */
	bool drawing, drawn;             /* the first pass of lines / lines on screen */
	char man_digest[DIGEST_STR_MAX];
};

/* --- one layer, in a worker process --- */

struct layer_job {
	struct pull *p;
	int idx;
	int fd; /* progress pipe */
	struct store_partial part;
	struct store_layer_writer *un;
	long long last_report;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int fd, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* Under PIPE_BUF: one write, never interleaved with other workers. */
	ssize_t w = write(fd, line, (size_t)n);
	(void)w;
}

static int job_unpack_start(struct layer_job *j, struct berr *err)
{
	struct pull *p = j->p;
	store_layer_abort(j->un);
	j->un = store_layer_begin(&p->st, p->conf->diff_ids[j->idx], err);
	return j->un ? 0 : -(err && err->code ? err->code : EIO);
}

/* Unpack errors name where: "disk full" alone does not say which disk. */
static int job_unpack(struct layer_job *j, const void *buf, size_t len, struct berr *err)
{
	int rc = store_layer_feed(j->un, buf, len, err);
	return rc < 0 ? berr_prefix(err, "unpack into %s", store_layer_tmp(j->un)) : 0;
}

static int job_replay(void *arg, const void *buf, size_t len, struct berr *err)
{
	return job_unpack(arg, buf, len, err);
}

static int job_sink(void *arg, const void *buf, size_t len, struct berr *err)
{
	struct layer_job *j = arg;
	int rc = store_partial_append(&j->part, buf, len, err);
	if (rc == 0)
		rc = job_unpack(j, buf, len, err);
	long long t = now_ms();
	if (t - j->last_report >= 100) {
		j->last_report = t;
		report(j->fd, "P %d %lld", j->idx, (long long)j->part.have);
	}
	return rc;
}

static int job_restart(void *arg, struct berr *err)
{
	struct layer_job *j = arg;
	int rc = store_partial_reset(&j->part, err);
	return rc < 0 ? rc : job_unpack_start(j, err);
}

static int layer_fetch(struct layer_job *j, struct berr *err)
{
	struct pull *p = j->p;
	const struct store_desc *d = &p->man->layers[j->idx];
	const char *diff = p->conf->diff_ids[j->idx];
	const struct agent_config *cfg = p->po->cfg;
	bool fresh_retry = false;

	int rc = job_unpack_start(j, err);
	if (rc < 0)
		return rc;
	rc = store_partial_open(&p->st, d->digest, &j->part, job_replay, j, err);
	if (rc < 0)
		return rc;
	bool resumed = j->part.have > 0;
	if (resumed)
		report(j->fd, "R %d %lld", j->idx, (long long)j->part.have);
	for (int attempt = 0;;) {
		if (d->size >= 0 && j->part.have > d->size) {
			rc = job_restart(j, err);
			if (rc < 0)
				return rc;
		}
		rc = j->part.have == d->size && d->size > 0
			     ? 0
			     : net_registry_blob(p->reg, d->digest, j->part.have, job_sink,
						 job_restart, j, err);
		if (rc == -ERANGE) {
			rc = job_restart(j, err);
			if (rc < 0)
				return rc;
			continue;
		}
		if (rc == 0) {
			rc = store_partial_finish(&j->part, d->digest, d->size, err);
			/* A partial file from before a power cut can hold garbage
			 * the kernel never wrote; start over once from nothing. */
			if (rc == -EBADMSG && resumed && !fresh_retry) {
				fresh_retry = true;
				resumed = false;
				store_partial_close(&j->part);
				rc = store_partial_open(&p->st, d->digest, &j->part, NULL, NULL,
							err);
				if (rc == 0)
					rc = job_unpack_start(j, err);
				if (rc < 0)
					return rc;
				continue;
			}
			if (rc < 0)
				return rc;
			break;
		}
		if (!net_registry_retryable(rc) || ++attempt >= cfg->max_download_attempts)
			return rc;
		long long delay = (long long)cfg->retry_base_ms << (attempt - 1);
		if (delay > 10000)
			delay = 10000;
		report(j->fd, "T %d %lld %s", j->idx, delay, err ? err->msg : "");
		net_registry_close(p->reg);
		usleep((useconds_t)delay * 1000);
	}
	char got[DIGEST_STR_MAX];
	struct store_unpack_stats stats;
	rc = store_layer_finish(j->un, got, &stats, err);
	if (rc < 0)
		return berr_prefix(err, "unpack into %s", store_layer_tmp(j->un));
	if (strcmp(got, diff)) {
		store_partial_remove(&j->part);
		return berr_setmsg(err, EBADMSG,
				   "layer %.19s: uncompressed digest %s, config says %s", d->digest,
				   got, diff);
	}
	rc = store_layer_commit(&p->st, j->un, diff, err);
	/* Only now may the download go: until the layer is in place, a crash
	 * must find its bytes on disk. */
	if (rc == 0)
		store_partial_remove(&j->part);
	return rc;
}

static int layer_worker(struct pull *p, int idx, int fd)
{
	struct layer_job j = { .p = p, .idx = idx, .fd = fd };
	struct berr err = { 0 };
	j.part.fd = -1;
	int rc = layer_fetch(&j, &err);
	store_partial_close(&j.part);
	if (rc < 0)
		store_layer_abort(j.un);
	else
		store_layer_free(j.un);
	if (rc < 0) {
		report(fd, "E %d %s", idx, err.msg);
		return 1;
	}
	report(fd, "D %d", idx);
	return 0;
}

/* --- progress display in the parent --- */

struct layer_view {
	pid_t pid;
	int state; /* 0 waiting, 1 downloading, 2 done, 3 failed, 4 existed */
	long long have;
	long long t0, have0; /* for the rate */
};

static void short_id(const char *digest, char out[13])
{
	snprintf(out, 13, "%.12s", digest + 7);
}

/* On a terminal every layer has a line, rewritten in place; otherwise a
 * line is printed per event. */
/* One line of the Docker API's pull progress stream. */
static void json_status(FILE *f, const char *status, const char *id, long long cur, long long total)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "status", status);
	if (cur >= 0) {
		cJSON *d = cJSON_AddObjectToObject(j, "progressDetail");
		cJSON_AddNumberToObject(d, "current", (double)cur);
		if (total > 0)
			cJSON_AddNumberToObject(d, "total", (double)total);
	}
	if (id)
		cJSON_AddStringToObject(j, "id", id);
	char *s = cJSON_PrintUnformatted(j);
	if (s)
		fprintf(f, "%s\r\n", s);
	free(s);
	cJSON_Delete(j);
	fflush(f);
}

static void show_line(struct pull *p, int i, const struct layer_view *v, const char *msg)
{
	if (p->po->quiet)
		return;
	char id[13];
	short_id(p->man->layers[i].digest, id);
	if (p->po->json) {
		json_status(p->po->out, msg, id, -1, -1);
		return;
	}
	if (p->tty && p->drawn) {
		int up = p->man->nlayers - i;
		fprintf(p->po->out, "\033[%dA\r\033[2K%s: %s\033[%dB\r", up, id, msg, up);
	} else if (!p->tty || p->drawing) {
		fprintf(p->po->out, "%s: %s\n", id, msg);
	}
	fflush(p->po->out);
}

static void show_progress(struct pull *p, int i, struct layer_view *v)
{
	if (p->po->json && !p->po->quiet) {
		char id[13];
		short_id(p->man->layers[i].digest, id);
		json_status(p->po->out, "Downloading", id, v->have, p->man->layers[i].size);
		return;
	}
	if (!p->tty)
		return;
	long long t = now_ms();
	if (!v->t0) {
		v->t0 = t;
		v->have0 = v->have;
	}
	long long size = p->man->layers[i].size;
	char a[32], b[32], r[32] = "";
	agent_human_size(v->have, a, sizeof(a));
	agent_human_size(size, b, sizeof(b));
	if (t - v->t0 > 500) {
		agent_human_size((v->have - v->have0) * 1000 / (t - v->t0), r, sizeof(r) - 2);
		strcat(r, "/s");
	}
	char bar[32];
	int w = 24, fill = size > 0 ? (int)(v->have * w / size) : 0;
	for (int k = 0; k < w; k++)
		bar[k] = k < fill ? '=' : (k == fill ? '>' : ' ');
	bar[w] = '\0';
	char msg[160];
	snprintf(msg, sizeof(msg), "Downloading [%s] %s/%s %s", bar, a, b, r);
	show_line(p, i, v, msg);
}

static void handle_msg(struct pull *p, struct layer_view *views, char *line, struct berr *err,
		       int *failed)
{
	int idx = -1;
	long long a = 0;
	char kind = line[0];
	if (sscanf(line + 1, "%d %lld", &idx, &a) < 1 || idx < 0 || idx >= p->man->nlayers)
		return;
	struct layer_view *v = &views[idx];
	char msg[400];
	switch (kind) {
	case 'P':
		v->have = a;
		show_progress(p, idx, v);
		break;
	case 'R':
		snprintf(msg, sizeof(msg), "Resuming from %lld of %lld bytes", a,
			 (long long)p->man->layers[idx].size);
		show_line(p, idx, v, msg);
		break;
	case 'T': {
		const char *why = strchr(line + 2, ' ');
		why = why ? strchr(why + 1, ' ') : NULL;
		snprintf(msg, sizeof(msg), "Retrying in %lld ms (%s)", a, why ? why + 1 : "");
		show_line(p, idx, v, msg);
		break;
	}
	case 'D':
		v->state = 2;
		show_line(p, idx, v, "Pull complete");
		break;
	case 'E': {
		v->state = 3;
		const char *why = strchr(line + 2, ' ');
		if (!*failed) {
			char id[13];
			short_id(p->man->layers[idx].digest, id);
			berr_setmsg(err, EIO, "layer %s: %s", id, why ? why + 1 : "failed");
		}
		*failed = 1;
		break;
	}
	}
}

struct msgbuf {
	char buf[4096];
	size_t have;
};

/* Reads what the workers' pipe holds and handles each whole line; returns
 * what read() returned. */
static ssize_t read_msgs(struct pull *p, struct layer_view *views, int fd, struct msgbuf *m,
			 struct berr *err, int *failed)
{
	ssize_t r = read(fd, m->buf + m->have, sizeof(m->buf) - 1 - m->have);
	if (r <= 0)
		return r;
	m->have += (size_t)r;
	m->buf[m->have] = '\0';
	char *line = m->buf, *nl;
	while ((nl = strchr(line, '\n'))) {
		*nl = '\0';
		handle_msg(p, views, line, err, failed);
		line = nl + 1;
	}
	m->have = strlen(line);
	memmove(m->buf, line, m->have);
	return r;
}

static int fetch_layers(struct pull *p, struct berr *err)
{
	int n = p->man->nlayers;
	struct layer_view views[MANIFEST_MAX_LAYERS] = { 0 };
	int todo[MANIFEST_MAX_LAYERS], ntodo = 0;
	p->drawing = true;
	for (int i = 0; i < n; i++) {
		if (store_layer_exists(&p->st, p->conf->diff_ids[i])) {
			views[i].state = 4;
			show_line(p, i, &views[i], "Already exists");
		} else {
			todo[ntodo++] = i;
			if (p->tty)
				show_line(p, i, &views[i], "Waiting");
		}
	}
	p->drawing = false;
	p->drawn = !p->po->quiet;
	if (!ntodo)
		return 0;

	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe");
	/* Workers start with fresh connections; tokens are inherited. */
	net_registry_close(p->reg);
	fflush(p->po->out);
	int running = 0, next = 0, failed = 0, exitbad = 0;
	struct msgbuf m = { .have = 0 };
	while (next < ntodo || running) {
		while (!failed && next < ntodo && running < p->po->cfg->max_concurrent_downloads) {
			int idx = todo[next++];
			pid_t pid = fork();
			if (pid < 0) {
				failed = 1;
				berr_set(err, errno, "fork");
				break;
			}
			if (pid == 0) {
				close(pfd[0]);
				_exit(layer_worker(p, idx, pfd[1]));
			}
			views[idx].pid = pid;
			views[idx].state = 1;
			running++;
		}
		if (failed && next < ntodo)
			next = ntodo; /* start nothing new after a failure */
		if (!running)
			break;
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		if (poll(&pf, 1, 200) > 0)
			read_msgs(p, views, pfd[0], &m, err, &failed);
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			running--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				exitbad = 1;
		}
	}
	/* Messages still in the pipe (a worker's last words); with our own
	 * write end closed, read ends at EOF. */
	close(pfd[1]);
	while (read_msgs(p, views, pfd[0], &m, err, &failed) > 0)
		;
	close(pfd[0]);
	if (failed)
		return -(err && err->code ? err->code : EIO);
	if (exitbad)
		return berr_setmsg(err, EIO, "a layer worker died");
	return 0;
}

/* --- the pull --- */

static int fetch_manifest(struct pull *p, char *buf, struct berr *err)
{
	char ctype[128];
	size_t len;
	const char *want = p->ref.digest[0] ? p->ref.digest : p->ref.tag;
	int rc = net_registry_manifest(p->reg, want, buf, MANIFEST_MAX_BYTES + 1, &len, ctype,
				       sizeof(ctype), err);
	if (rc < 0)
		return rc;
	struct store_sha256 h;
	store_sha256_init(&h);
	store_sha256_update(&h, buf, len);
	store_sha256_final(&h, p->top_digest);
	if (p->ref.digest[0] && strcmp(p->top_digest, p->ref.digest))
		return berr_setmsg(err, EBADMSG, "manifest digest is %s, asked for %s",
				   p->top_digest, p->ref.digest);
	enum store_mkind kind = store_manifest_kind(ctype, buf, len);
	if (kind == MKIND_SCHEMA1)
		return berr_setmsg(
			err, ENOTSUP,
			"Docker schema 1 manifests are not supported (push the image again with a current client)");
	strcpy(p->man_digest, p->top_digest);
	if (kind == MKIND_INDEX) {
		_cleanup_free_ struct store_index *ix = malloc(sizeof(*ix));
		if (!ix)
			return berr_set(err, ENOMEM, "index");
		rc = store_index_parse(buf, len, ix, err);
		if (rc < 0)
			return rc;
		int i = store_index_select(ix, &p->po->platform, err);
		if (i < 0)
			return i;
		strcpy(p->man_digest, ix->m[i].digest);
		rc = net_registry_manifest(p->reg, p->man_digest, buf, MANIFEST_MAX_BYTES + 1, &len,
					   ctype, sizeof(ctype), err);
		if (rc < 0)
			return rc;
		char got[DIGEST_STR_MAX];
		store_sha256_init(&h);
		store_sha256_update(&h, buf, len);
		store_sha256_final(&h, got);
		if (strcmp(got, p->man_digest))
			return berr_setmsg(err, EBADMSG, "manifest %s has digest %s", p->man_digest,
					   got);
		kind = store_manifest_kind(ctype, buf, len);
	}
	if (kind != MKIND_MANIFEST)
		return berr_setmsg(err, EBADMSG,
				   "registry sent something that is not an image manifest");
	rc = store_manifest_parse(buf, len, p->man, err);
	if (rc < 0)
		return rc;
	return store_blob_put(&p->st, p->man_digest, buf, len, err);
}

static int fetch_config(struct pull *p, char *buf, struct berr *err)
{
	const struct store_desc *c = &p->man->config;
	size_t len;
	_cleanup_free_ char *have = NULL;
	ssize_t n = store_blob_get(&p->st, c->digest, MANIFEST_MAX_BYTES + 1, &have, NULL);
	if (n >= 0) {
		memcpy(buf, have, (size_t)n + 1);
		len = (size_t)n;
	} else {
		int rc = net_registry_blob_small(p->reg, c->digest, buf, MANIFEST_MAX_BYTES + 1,
						 &len, err);
		if (rc < 0)
			return berr_prefix(err, "config %.19s", c->digest);
		rc = store_blob_put(&p->st, c->digest, buf, len, err);
		if (rc < 0)
			return rc;
	}
	int rc = store_config_parse(buf, len, p->conf, err);
	if (rc < 0)
		return berr_prefix(err, "config %.19s", c->digest);
	if (p->conf->ndiff != p->man->nlayers)
		return berr_setmsg(err, EBADMSG, "config lists %d layers, manifest %d",
				   p->conf->ndiff, p->man->nlayers);
	return 0;
}

static int check_space(struct pull *p, struct berr *err)
{
	long long need = 0;
	for (int i = 0; i < p->man->nlayers; i++)
		if (!store_layer_exists(&p->st, p->conf->diff_ids[i]))
			need += p->man->layers[i].size -
				store_partial_size(&p->st, p->man->layers[i].digest);
	struct statvfs sv;
	if (statvfs(p->st.root, &sv) < 0)
		return 0;
	long long free_b = (long long)sv.f_bavail * (long long)sv.f_frsize;
	long long min = p->po->cfg->min_free_space;
	if (min > 0 && free_b - need < min)
		return berr_setmsg(
			err, ENOSPC,
			"data root %s: %lld MiB free, this pull needs about %lld MiB and min-free-space is %lld MiB",
			p->st.root, free_b >> 20, need >> 20, min >> 20);
	return 0;
}

/* Implicit directories take their lower layers' metadata (see
 * store_unpack_fixup); before the image is recorded, and again on every pull
 * of it, so a crash in between only delays it. */
static int fixup_layers(struct pull *p, struct berr *err)
{
	/* squashfs images are read-only: their implicit directories keep
	 * 0755 root:root (see the README) */
	if (strcmp(store_backend_name(&p->st), "overlay"))
		return 0;
	int n = p->man->nlayers;
	_cleanup_free_ char *paths = malloc((size_t)n * PATH_MAX);
	char *layers[MANIFEST_MAX_LAYERS];
	if (!paths)
		return berr_set(err, ENOMEM, "layers");
	for (int i = 0; i < n; i++) {
		layers[i] = paths + (size_t)i * PATH_MAX;
		store_layer_path(&p->st, p->conf->diff_ids[i], layers[i], PATH_MAX);
	}
	for (int i = 1; i < n; i++) {
		int rc = store_unpack_fixup(layers, i, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int record_image(struct pull *p, char id[DIGEST_STR_MAX], bool *fresh, struct berr *err)
{
	_cleanup_free_ struct store_image *img = calloc(1, sizeof(*img));
	if (!img)
		return berr_set(err, ENOMEM, "image record");
	const char *cid = p->man->config.digest;
	*fresh = store_image_get(&p->st, cid, img, NULL) < 0;
	if (*fresh) {
		memset(img, 0, sizeof(*img));
		strcpy(img->id, cid);
	}
	strcpy(img->manifest, p->man_digest);
	img->platform = p->conf->platform;
	img->created = (long long)time(NULL);
	img->size = p->man->config.size;
	img->nlayers = p->man->nlayers;
	for (int i = 0; i < p->man->nlayers; i++) {
		img->size += p->man->layers[i].size;
		strcpy(img->diff_ids[i], p->conf->diff_ids[i]);
	}
	char repo[REF_HOST_MAX + REF_PATH_MAX], rd[sizeof(img->repo_digests[0])];
	net_ref_repo(&p->ref, false, repo, sizeof(repo));
	snprintf(rd, sizeof(rd), "%s@%s", repo, p->top_digest);
	bool known = false;
	for (int i = 0; i < img->nrepo_digests; i++)
		known |= !strcmp(img->repo_digests[i], rd);
	if (!known) {
		if (img->nrepo_digests == STORE_REPO_DIGESTS_MAX)
			img->nrepo_digests--; /* keep the newest */
		memmove(img->repo_digests[1], img->repo_digests[0],
			sizeof(img->repo_digests[0]) * (size_t)img->nrepo_digests);
		strcpy(img->repo_digests[0], rd);
		img->nrepo_digests++;
	}
	int rc = store_image_put(&p->st, img, err);
	if (rc < 0)
		return rc;
	if (p->ref.tag[0]) {
		char name[sizeof(repo) + REF_TAG_MAX + 1], old[DIGEST_STR_MAX];
		snprintf(name, sizeof(name), "%s:%s", repo, p->ref.tag);
		if (store_tag_get(&p->st, name, old, NULL) == 0 && strcmp(old, cid))
			*fresh = true;
		rc = store_tag_set(&p->st, name, cid, err);
		if (rc < 0)
			return rc;
	}
	strcpy(id, cid);
	return 0;
}

int agent_pull(const struct agent_pull_opts *po, const char *refstr, char id[DIGEST_STR_MAX],
	       struct berr *err)
{
	_cleanup_free_ struct pull *p = calloc(1, sizeof(*p));
	_cleanup_free_ char *buf = malloc(MANIFEST_MAX_BYTES + 2);
	_cleanup_free_ struct net_registry *reg = malloc(sizeof(*reg));
	_cleanup_free_ struct store_manifest *man = malloc(sizeof(*man));
	_cleanup_free_ struct store_imgconfig *conf = malloc(sizeof(*conf));
	if (!p || !buf || !reg || !man || !conf)
		return berr_set(err, ENOMEM, "pull %s", refstr);
	p->po = po;
	p->tty = !po->quiet && !po->json && isatty(fileno(po->out));
	p->reg = reg;
	p->man = man;
	p->conf = conf;
	int rc = net_ref_parse(refstr, &p->ref, err);
	if (rc < 0)
		return berr_prefix(err, "pull %s", refstr);
	rc = store_open(&p->st, po->root, STORE_WRITE, err);
	if (rc == 0 && (rc = agent_store_driver(po->cfg, &p->st, err)) < 0)
		store_close(&p->st);
	if (rc < 0)
		return berr_prefix(err, "pull %s", refstr);
	store_recover(&p->st);
	agent_config_registry(po->cfg, &p->ref, &p->rcfg, p->basic, sizeof(p->basic));
	net_registry_init(p->reg, &p->ref, &p->rcfg);

	char familiar[REF_STR_MAX];
	net_ref_format(&p->ref, true, familiar, sizeof(familiar));
	if (!po->quiet) {
		char repo[REF_HOST_MAX + REF_PATH_MAX], line[REF_HOST_MAX + REF_PATH_MAX + 32];
		net_ref_repo(&p->ref, true, repo, sizeof(repo));
		snprintf(line, sizeof(line), "Pulling from %s", repo);
		if (po->json)
			json_status(po->out, line, p->ref.tag[0] ? p->ref.tag : p->ref.digest, -1,
				    -1);
		else
			fprintf(po->out, "%s: %s\n", p->ref.tag[0] ? p->ref.tag : p->ref.digest,
				line);
	}
	rc = fetch_manifest(p, buf, err);
	rc = rc ?: fetch_config(p, buf, err);
	rc = rc ?: check_space(p, err);
	rc = rc ?: fetch_layers(p, err);
	rc = rc ?: fixup_layers(p, err);
	bool fresh = false;
	rc = rc ?: record_image(p, id, &fresh, err);
	if (rc == 0 && !po->quiet) {
		char line[REF_STR_MAX + 64];
		snprintf(line, sizeof(line), "Digest: %s", p->top_digest);
		if (po->json)
			json_status(po->out, line, NULL, -1, -1);
		else
			fprintf(po->out, "%s\n", line);
		snprintf(line, sizeof(line), "Status: %s for %s",
			 fresh ? "Downloaded newer image" : "Image is up to date", familiar);
		if (po->json)
			json_status(po->out, line, NULL, -1, -1);
		else
			fprintf(po->out, "%s\n", line);
	}
	if (rc == 0 && !po->json) {
		char full[REF_STR_MAX];
		net_ref_format(&p->ref, false, full, sizeof(full));
		fprintf(po->out, "%s\n", full);
	}
	net_registry_close(p->reg);
	store_close(&p->st);
	if (rc == 0) {
		char full[REF_STR_MAX];
		net_ref_format(&p->ref, false, full, sizeof(full));
		cJSON *a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "name", full);
		agent_event(po->root, "image", "pull", full, a);
		cJSON_Delete(a);
	}
	return rc < 0 ? berr_prefix(err, "pull %s", refstr) : 0;
}
