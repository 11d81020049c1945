/* Container records and lifecycle (see container.h). */
#include "agent/container.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/agent.h"
#include "agent/network.h"
#include "agent/events.h"
#include "board/cleanup.h"
#include "board/fs.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"
#include "runtime/monitor.h"
#include "store/store.h"

void agent_ctr_root(const char *root, char *out, size_t len)
{
	snprintf(out, len, "%s/containers", root);
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

void agent_ctr_free(struct agent_ctr *c)
{
	if (c && c->cfg) {
		cJSON_Delete(c->cfg);
		c->cfg = NULL;
	}
}

void agent_ctr_refresh(struct agent_ctr *c)
{
	struct berr e;
	char p[PATH_MAX + 16];
	rt_state_read(c->dir, &c->st, &e);
	snprintf(p, sizeof(p), "%s/paused", c->dir);
	c->paused = !access(p, F_OK);
	/* a monitor that died without recording the exit (power cut, kill -9) */
	if (c->st.status == RT_RUNNING && !rt_state_monitor_alive(&c->st)) {
		c->st.status = RT_EXITED;
		c->st.exit_code = 255;
		c->paused = false;
		c->dead = true;
	}
}

bool agent_ctr_running(const struct agent_ctr *c)
{
	return c->st.status == RT_RUNNING && rt_state_monitor_alive(&c->st);
}

static int load(const char *cdir, const char *id, struct agent_ctr *c, struct berr *err)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->dir, sizeof(c->dir), "%s/%s", cdir, id);
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/config.json", c->dir);
	_cleanup_free_ char *buf = NULL;
	ssize_t n = fs_read_alloc(p, AGENT_CTR_CONFIG_MAX, &buf, err);
	if (n < 0)
		return (int)n;
	c->cfg = cJSON_ParseWithLength(buf, (size_t)n);
	if (!c->cfg)
		return berr_setmsg(err, EBADMSG, "container %.12s: config.json is not valid JSON",
				   id);
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c->cfg, "Name"));
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "");
	agent_ctr_refresh(c);
	return 0;
}

/* Calls fn for each container id in the store. */
static int each_id(const char *cdir, int (*fn)(const char *id, void *arg), void *arg)
{
	_cleanup_closedir_ DIR *d = opendir(cdir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strlen(e->d_name) != AGENT_CTR_ID_LEN || !is_hex(e->d_name, AGENT_CTR_ID_LEN))
			continue;
		int rc = fn(e->d_name, arg);
		if (rc)
			return rc;
	}
	return 0;
}

struct find {
	const char *cdir, *ref;
	size_t rlen;
	char id[AGENT_CTR_ID_LEN + 1];
	int prefix_hits;
	bool by_name;
	bool names_only; /* ids and prefixes do not count */
};

static int find_one(const char *id, void *arg)
{
	struct find *f = arg;
	if (!f->names_only && f->rlen <= AGENT_CTR_ID_LEN && !strncmp(id, f->ref, f->rlen)) {
		if (f->rlen == AGENT_CTR_ID_LEN) {
			strcpy(f->id, id);
			return 1;
		}
		if (!f->by_name) {
			f->prefix_hits++;
			strcpy(f->id, id);
		}
	}
	char p[PATH_MAX], name[AGENT_NAME_MAX + 8];
	snprintf(p, sizeof(p), "%s/%s/name", f->cdir, id);
	if (fs_read_file(p, name, sizeof(name), NULL) > 0) {
		name[strcspn(name, "\n")] = '\0';
		if (!strcmp(name, f->ref)) {
			strcpy(f->id, id);
			f->by_name = true;
			f->prefix_hits = 1;
			return 1;
		}
	}
	return 0;
}

static int find_ctr(const char *root, const char *ref, bool names_only, struct agent_ctr *c,
		    struct berr *err)
{
	char cdir[PATH_MAX];
	agent_ctr_root(root, cdir, sizeof(cdir));
	if (ref[0] == '/')
		ref++;
	struct find f = { .cdir = cdir, .ref = ref, .rlen = strlen(ref), .names_only = names_only };
	if (!f.rlen)
		return berr_setmsg(err, ENOENT, "no such container: %s", ref);
	int rc = each_id(cdir, find_one, &f);
	if (rc < 0)
		return berr_set(err, -rc, "%s", cdir);
	if (rc == 0 && f.prefix_hits > 1)
		return berr_setmsg(err, EINVAL, "container id prefix '%s' is ambiguous", ref);
	if (rc == 0 && f.prefix_hits == 0)
		return berr_setmsg(err, ENOENT, "no such container: %s", ref);
	return load(cdir, f.id, c, err);
}

int agent_ctr_find(const char *root, const char *ref, struct agent_ctr *c, struct berr *err)
{
	return find_ctr(root, ref, false, c, err);
}

int agent_ctr_find_name(const char *root, const char *name, struct agent_ctr *c, struct berr *err)
{
	return find_ctr(root, name, true, c, err);
}

static void remove_files(const char *root, struct agent_ctr *c, bool volumes);
static bool jbool(const cJSON *o, const char *k);

struct listing {
	const char *root;
	const char *cdir;
	struct agent_ctr *v;
	int n;
};

static int list_one(const char *id, void *arg)
{
	struct listing *l = arg;
	struct agent_ctr c;
	struct berr e;
	if (load(l->cdir, id, &c, &e))
		return 0; /* being created or removed right now */
	if (c.dead && jbool(cJSON_GetObjectItem(c.cfg, "HostConfig"), "AutoRemove")) {
		/* a --rm container whose monitor died: what docker would have removed */
		remove_files(l->root, &c, true);
		agent_ctr_free(&c);
		return 0;
	}
	void *p = realloc(l->v, sizeof(*l->v) * (size_t)(l->n + 1));
	if (!p) {
		agent_ctr_free(&c);
		return -ENOMEM;
	}
	l->v = p;
	l->v[l->n++] = c;
	return 0;
}

static double created_of(const struct agent_ctr *c)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItem(c->cfg, "CreatedNs"));
}

static int newest_first(const void *a, const void *b)
{
	double x = created_of(a), y = created_of(b);
	return x < y ? 1 : x > y ? -1 : 0;
}

int agent_ctr_list(const char *root, struct agent_ctr **out, struct berr *err)
{
	char cdir[PATH_MAX];
	agent_ctr_root(root, cdir, sizeof(cdir));
	struct listing l = { .root = root, .cdir = cdir };
	int rc = each_id(cdir, list_one, &l);
	if (rc < 0) {
		for (int i = 0; i < l.n; i++)
			agent_ctr_free(&l.v[i]);
		free(l.v);
		return berr_set(err, -rc, "%s", cdir);
	}
	if (l.n > 1)
		qsort(l.v, (size_t)l.n, sizeof(*l.v), newest_first);
	*out = l.v;
	return l.n;
}

/* --- names --- */

static bool name_ok(const char *n)
{
	size_t len = strlen(n);
	if (len < 2 || len >= AGENT_NAME_MAX || !isalnum((unsigned char)n[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!isalnum((unsigned char)n[i]) && !strchr("_.-", n[i]))
			return false;
	return true;
}

bool agent_volume_name_ok(const char *name)
{
	return name_ok(name);
}

static void random_hex(char *out, size_t nbytes)
{
	unsigned char b[64];
	size_t got = 0;
	while (got < nbytes) {
		ssize_t n = getrandom(b + got, nbytes - got, 0);
		if (n <= 0) {
			/* getrandom missing (very old kernels): time and pid still differ */
			for (; got < nbytes; got++)
				b[got] = (unsigned char)(rt_now_ns() >> (got % 8) ^ getpid() ^
							 got * 131);
			break;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void generate_name(char *out, size_t len)
{
	static const char *const adj[] = { "brave", "calm",  "eager", "fond",  "gentle",
					   "happy", "keen",  "lucid", "merry", "nimble",
					   "proud", "quiet", "sharp", "swift", "tender",
					   "vivid", "wise",  "bold",  "cool",  "jolly" };
	static const char *const noun[] = { "anchor",  "beacon",   "buoy",   "cutter", "dock",
					    "ferry",   "galley",   "harbor", "jetty",  "keel",
					    "lantern", "mast",     "pier",   "quay",   "rudder",
					    "sail",    "schooner", "tug",    "wharf",  "yacht" };
	unsigned char r[2];
	if (getrandom(r, 2, 0) != 2)
		r[0] = (unsigned char)getpid(), r[1] = (unsigned char)rt_now_ns();
	snprintf(out, len, "%s_%s", adj[r[0] % 20], noun[r[1] % 20]);
}

struct name_used {
	const char *cdir, *name;
};

static int name_taken(const char *id, void *arg)
{
	struct name_used *u = arg;
	char p[PATH_MAX], name[AGENT_NAME_MAX + 8];
	snprintf(p, sizeof(p), "%s/%s/name", u->cdir, id);
	if (fs_read_file(p, name, sizeof(name), NULL) > 0) {
		name[strcspn(name, "\n")] = '\0';
		if (!strcmp(name, u->name))
			return 1;
	}
	return 0;
}

static int lock_containers(const char *cdir, struct berr *err)
{
	char p[PATH_MAX + 8];
	int rc = fs_mkdir_p(cdir, 0700, err);
	if (rc)
		return rc;
	snprintf(p, sizeof(p), "%s/.lock", cdir);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return berr_set(err, errno, "%s", p);
	while (flock(fd, LOCK_EX) && errno == EINTR)
		;
	return fd;
}

static int write_small(const char *dir, const char *file, const char *text, struct berr *err)
{
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return berr_set(err, errno, "create %s", p);
	size_t len = strlen(text);
	ssize_t w = write(fd, text, len);
	int e = errno;
	close(fd);
	if (w != (ssize_t)len)
		return berr_set(err, w < 0 ? e : EIO, "write %s", p);
	return 0;
}

/* The host's resolv.conf without loopback nameservers (they mean nothing in
 * the container's network namespace), with a public fallback when none is
 * left, as docker does. */
static void resolv_conf(char *out, size_t len)
{
	char host[8192];
	size_t used = 0;
	bool ns = false;
	out[0] = '\0';
	if (fs_read_file("/etc/resolv.conf", host, sizeof(host), NULL) > 0) {
		for (char *l = host, *next; l && *l; l = next) {
			next = strchr(l, '\n');
			if (next)
				*next++ = '\0';
			if (!strncmp(l, "nameserver", 10)) {
				const char *a = l + 10;
				while (*a == ' ' || *a == '\t')
					a++;
				if (!strncmp(a, "127.", 4) || !strcmp(a, "::1"))
					continue;
				ns = true;
			}
			int w = snprintf(out + used, len - used, "%s\n", l);
			if (w < 0 || (size_t)w >= len - used)
				break;
			used += (size_t)w;
		}
	}
	if (!ns)
		snprintf(out + used, len - used, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
}

/* The anonymous volumes made for a container that was never created. */
static void drop_anon_volumes(const char *root, const cJSON *cfg)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(cfg, "Mounts"))
	{
		if (!cJSON_IsTrue(cJSON_GetObjectItem(m, "Anonymous")))
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/volumes/%s", root,
			 cJSON_GetStringValue(cJSON_GetObjectItem(m, "Name")) ?: "");
		fs_rm_rf(p, &(struct berr){ 0 });
	}
}

int agent_ctr_create(const char *root, cJSON *cfg, struct agent_ctr *c, struct berr *err)
{
	char cdir[PATH_MAX], tmp[PATH_MAX + 80], name[AGENT_NAME_MAX];
	memset(c, 0, sizeof(*c));
	agent_ctr_root(root, cdir, sizeof(cdir));
	int lk = lock_containers(cdir, err);
	if (lk < 0) {
		drop_anon_volumes(root, cfg);
		cJSON_Delete(cfg);
		return lk;
	}
	int rc = 0;
	/* creations a crash interrupted (we hold the lock: none is in progress) */
	DIR *d = opendir(cdir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, ".new-", 5) || !strncmp(de->d_name, ".gone-", 6)) {
			char p[PATH_MAX + 300];
			snprintf(p, sizeof(p), "%s/%s", cdir, de->d_name);
			fs_rm_rf(p, &(struct berr){ 0 });
		}
	if (d)
		closedir(d);
	const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(cfg, "Name"));
	struct name_used u = { .cdir = cdir, .name = name };
	if (want && *want) {
		snprintf(name, sizeof(name), "%s", want[0] == '/' ? want + 1 : want);
		if (!name_ok(name))
			rc = berr_setmsg(
				err, EINVAL,
				"invalid container name '%s': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
				name);
		else if (each_id(cdir, name_taken, &u) > 0)
			rc = berr_setmsg(err, EEXIST,
					 "the container name \"/%s\" is already in use", name);
	} else {
		for (int i = 0; i < 50; i++) {
			generate_name(name, sizeof(name));
			if (i >= 20)
				snprintf(name + strlen(name), sizeof(name) - strlen(name), "%d", i);
			if (each_id(cdir, name_taken, &u) == 0)
				break;
		}
	}
	if (rc) {
		close(lk);
		drop_anon_volumes(root, cfg);
		cJSON_Delete(cfg);
		return rc;
	}
	random_hex(c->id, AGENT_CTR_ID_LEN / 2);
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->dir, sizeof(c->dir), "%s/%s", cdir, c->id);
	cJSON_DeleteItemFromObject(cfg, "Name");
	cJSON_AddStringToObject(cfg, "Name", name);
	cJSON_DeleteItemFromObject(cfg, "Id");
	cJSON_AddStringToObject(cfg, "Id", c->id);
	c->cfg = cfg;

	cJSON *ccfg = cJSON_GetObjectItem(cfg, "Config");
	const char *hn = cJSON_GetStringValue(cJSON_GetObjectItem(ccfg, "Hostname"));
	if (ccfg && (!hn || !*hn)) {
		char h[13];
		snprintf(h, sizeof(h), "%.12s", c->id);
		cJSON_DeleteItemFromObject(ccfg, "Hostname");
		hn = cJSON_GetStringValue(cJSON_AddStringToObject(ccfg, "Hostname", h));
	}
	cJSON *env = cJSON_GetObjectItem(ccfg, "Env");
	if (env && hn) {
		char kv[160];
		snprintf(kv, sizeof(kv), "HOSTNAME=%s", hn);
		cJSON *it;
		bool have = false;
		cJSON_ArrayForEach(it, env) have |=
			cJSON_IsString(it) && !strncmp(it->valuestring, "HOSTNAME=", 9);
		if (!have)
			cJSON_InsertItemInArray(env, 0, cJSON_CreateString(kv));
	}

	/* a --rm container's files need not survive a power cut: the next
	 * start finds it dead and removes it */
	bool durable = !cJSON_IsTrue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "HostConfig"), "AutoRemove"));

	/* built under a temporary name, renamed into place when complete */
	snprintf(tmp, sizeof(tmp), "%s/.new-%s", cdir, c->id);
	static const char *const sub[] = { "upper", "work", "rootfs" };
	if (mkdir(tmp, 0700))
		rc = berr_set(err, errno, "create %s", tmp);
	for (int i = 0; !rc && i < 3; i++) {
		char p[PATH_MAX + 100];
		snprintf(p, sizeof(p), "%s/%s", tmp, sub[i]);
		if (mkdir(p, 0755))
			rc = berr_set(err, errno, "create %s", p);
	}
	char text[8192];
	if (!rc) {
		snprintf(text, sizeof(text), "%s\n", hn ? hn : "");
		rc = write_small(tmp, "hostname", text, err);
	}
	if (!rc) {
		snprintf(text, sizeof(text),
			 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
			 "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
			 "ff02::2\tip6-allrouters\n127.0.0.1\t%s\n",
			 hn ? hn : "");
		rc = write_small(tmp, "hosts", text, err);
	}
	if (!rc) {
		resolv_conf(text, sizeof(text));
		rc = write_small(tmp, "resolv.conf", text, err);
	}
	if (!rc) {
		snprintf(text, sizeof(text), "%s\n", name);
		rc = write_small(tmp, "name", text, err);
	}
	if (!rc) {
		char *json = cJSON_PrintUnformatted(cfg);
		char p[PATH_MAX + 100];
		snprintf(p, sizeof(p), "%s/config.json", tmp);
		rc = json ? fs_write_replace(p, json, strlen(json), 0600, durable, err)
			  : berr_setmsg(err, ENOMEM, "config.json");
		free(json);
	}
	if (!rc) {
		struct rt_state st = { .status = RT_CREATED };
		rc = rt_state_write(tmp, &st, durable, err);
	}
	if (!rc && rename(tmp, c->dir))
		rc = berr_set(err, errno, "rename %s", tmp);
	if (!rc && durable)
		rc = fs_sync_dir(cdir, err);
	close(lk);
	if (rc) {
		fs_rm_rf(tmp, &(struct berr){ 0 });
		fs_rm_rf(c->dir, &(struct berr){ 0 });
		drop_anon_volumes(root, c->cfg);
		agent_ctr_free(c);
		return rc;
	}
	c->st.status = RT_CREATED;
	agent_event_ctr(root, "create", c, NULL, NULL);
	return 0;
}

void agent_ctr_cgroup(const struct agent_ctr *c, char *out, size_t len)
{
	snprintf(out, len, "berth/%s", c->id);
}

int agent_signal_parse(const char *s)
{
	static const struct {
		const char *n;
		int v;
	} sigs[] = {
		{ "HUP", SIGHUP },       { "INT", SIGINT },   { "QUIT", SIGQUIT },
		{ "ILL", SIGILL },       { "TRAP", SIGTRAP }, { "ABRT", SIGABRT },
		{ "BUS", SIGBUS },       { "FPE", SIGFPE },   { "KILL", SIGKILL },
		{ "USR1", SIGUSR1 },     { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
		{ "PIPE", SIGPIPE },     { "ALRM", SIGALRM }, { "TERM", SIGTERM },
		{ "CHLD", SIGCHLD },     { "CONT", SIGCONT }, { "STOP", SIGSTOP },
		{ "TSTP", SIGTSTP },     { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },
		{ "URG", SIGURG },       { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
		{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
		{ "IO", SIGIO },         { "PWR", SIGPWR },   { "SYS", SIGSYS },
	};
	if (!s || !*s)
		return 0;
	if (isdigit((unsigned char)s[0])) {
		char *end;
		long v = strtol(s, &end, 10);
		return (*end || v <= 0 || v >= NSIG) ? 0 : (int)v;
	}
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (!strcasecmp(s, sigs[i].n))
			return sigs[i].v;
	return 0;
}

/* --- volumes --- */

int agent_volume_path(const char *root, const char *name, char *out, size_t len)
{
	if ((size_t)snprintf(out, len, "%s/volumes/%s/_data", root, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int agent_volume_create(const char *root, const char *name, bool anonymous, struct berr *err)
{
	char p[PATH_MAX], meta[PATH_MAX + 16];
	if (!name_ok(name))
		return berr_setmsg(
			err, EINVAL,
			"invalid volume name '%s': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
			name);
	if (agent_volume_path(root, name, p, sizeof(p)))
		return berr_setmsg(err, ENAMETOOLONG, "volume %s: name too long", name);
	if (!access(p, F_OK))
		return 0;
	int rc = fs_mkdir_p(p, 0755, err);
	if (rc)
		return rc;
	snprintf(meta, sizeof(meta), "%s/volumes/%s/meta", root, name);
	char text[128];
	int n = snprintf(text, sizeof(text), "created=%lld\nanonymous=%d\n", (long long)time(NULL),
			 anonymous ? 1 : 0);
	return fs_write_atomic(meta, text, (size_t)n, 0644, err);
}

/* --- start and attach --- */

/* What the spec points into, kept alive until the monitor is forked. */
struct start_buf {
	char **argv, **env, **layers;
	struct rt_mount mounts[RT_MOUNTS_MAX];
	char vol[RT_MOUNTS_MAX][PATH_MAX];
	struct store_image img;
};

static void start_buf_free(struct start_buf *b)
{
	free(b->argv);
	free(b->env);
	if (b->layers)
		for (int i = 0; b->layers[i]; i++)
			free(b->layers[i]);
	free(b->layers);
}

static char **strv(const cJSON *arr)
{
	int n = cJSON_GetArraySize(arr);
	char **v = calloc((size_t)n + 1, sizeof(char *));
	if (!v)
		return NULL;
	int i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) if (cJSON_IsString(it)) v[i++] = it->valuestring;
	return v;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
	return s ? s : "";
}

static bool jbool(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItem(o, k));
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItem(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

bool agent_ctr_unconfined(const cJSON *cfg)
{
	const cJSON *it;
	cJSON_ArrayForEach(
		it, cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "HostConfig"), "SecurityOpt"))
	{
		const char *o = cJSON_GetStringValue(it);
		if (o && (!strcmp(o, "seccomp=unconfined") || !strcmp(o, "seccomp:unconfined")))
			return true;
	}
	return false;
}

static int build_spec(const char *root, const struct agent_ctr *c, struct rt_spec *s,
		      struct rt_monitor *m, struct start_buf *b, struct berr *err)
{
	const cJSON *cfg = c->cfg;
	const cJSON *hc = cJSON_GetObjectItem(cfg, "HostConfig");
	struct store st;
	int rc = store_open(&st, root, STORE_READ, err);
	if (rc)
		return rc;
	rc = store_image_get(&st, jstr(cfg, "Image"), &b->img, err);
	if (rc) {
		store_close(&st);
		return berr_prefix(err, "image of container %s", c->name), rc;
	}
	b->layers = calloc((size_t)b->img.nlayers + 1, sizeof(char *));
	for (int i = 0; b->layers && i < b->img.nlayers; i++) {
		b->layers[i] = malloc(PATH_MAX);
		if (!b->layers[i])
			break;
		rc = store_layer_lower(&st, b->img.diff_ids[i], b->layers[i], PATH_MAX, err);
		if (rc) {
			berr_prefix(err, "image %.19s", b->img.id);
			break;
		}
	}
	store_close(&st);
	if (rc)
		return rc;
	/* the command: Entrypoint + Cmd as resolved at create */
	const cJSON *args = cJSON_GetObjectItem(cfg, "Args");
	b->argv = calloc((size_t)cJSON_GetArraySize(args) + 2, sizeof(char *));
	if (b->argv && *jstr(cfg, "Path")) {
		int i = 0;
		const cJSON *it;
		b->argv[i++] = (char *)jstr(cfg, "Path");
		cJSON_ArrayForEach(it, args) if (cJSON_IsString(it)) b->argv[i++] = it->valuestring;
	}
	b->env = strv(cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "Config"), "Env"));
	if (!b->argv || !b->env || !b->layers)
		return berr_setmsg(err, ENOMEM, "out of memory");
	if (!b->argv[0])
		return berr_setmsg(err, EINVAL, "container %s: no command specified", c->name);
	const cJSON *ccfg = cJSON_GetObjectItem(cfg, "Config");
	int nm = 0;
	const cJSON *mnt;
	cJSON_ArrayForEach(mnt, cJSON_GetObjectItem(cfg, "Mounts"))
	{
		if (nm == RT_MOUNTS_MAX)
			return berr_setmsg(err, E2BIG, "more than %d mounts", RT_MOUNTS_MAX);
		struct rt_mount *x = &b->mounts[nm];
		const char *type = jstr(mnt, "Type");
		x->dst = jstr(mnt, "Destination");
		x->ro = !jbool(mnt, "RW");
		if (!strcmp(type, "tmpfs")) {
			x->kind = RT_MNT_TMPFS;
			x->opts = jstr(mnt, "Options");
		} else if (!strcmp(type, "volume")) {
			x->kind = RT_MNT_BIND;
			agent_volume_path(root, jstr(mnt, "Name"), b->vol[nm], PATH_MAX);
			x->src = b->vol[nm];
			x->copy_up = jbool(mnt, "CopyUp");
		} else {
			x->kind = RT_MNT_BIND;
			x->src = jstr(mnt, "Source");
		}
		nm++;
	}
	*s = (struct rt_spec){
		.dir = c->dir,
		.layers = (const char *const *)b->layers,
		.nlayers = b->img.nlayers,
		.argv = b->argv,
		.env = b->env,
		.cwd = jstr(ccfg, "WorkingDir"),
		.user = jstr(ccfg, "User"),
		.hostname = jstr(ccfg, "Hostname"),
		.mounts = b->mounts,
		.nmounts = nm,
		.readonly_rootfs = jbool(hc, "ReadonlyRootfs"),
		.privileged = jbool(hc, "Privileged"),
		.unconfined = agent_ctr_unconfined(c->cfg),
		.host_net = !strcmp(jstr(hc, "NetworkMode"), "host"),
		.netns_fd = -1,
		.init = jbool(hc, "Init"),
		.caps = (uint64_t)strtoull(jstr(hc, "CapMask"), NULL, 16),
		.tty = jbool(ccfg, "Tty"),
	};
	*m = (struct rt_monitor){
		.spec = *s,
		.limits = {
			.memory = (int64_t)jnum(hc, "Memory"),
			.memory_swap = (int64_t)jnum(hc, "MemorySwap"),
			.cpu_milli = (int64_t)(jnum(hc, "NanoCpus") / 1e6),
			.cpu_shares = (uint64_t)jnum(hc, "CpuShares"),
			.pids = (int64_t)jnum(hc, "PidsLimit"),
		},
		.stdin_open = jbool(ccfg, "OpenStdin"),
		.log_max_size = (int64_t)jnum(hc, "LogMaxSize"),
		.log_max_file = (int)jnum(hc, "LogMaxFile"),
		.hold_fd = -1,
	};
	return 0;
}

static void mark_stopped(const struct agent_ctr *c, bool on);

/* --- squashfs layers' implicit directories --- */

/* A layer written as a squashfs image keeps the directories it only implies
 * (parents of its entries) as 0755 root:root, marked trusted.berth.implicit;
 * its root is marked trusted.berth.fixup. In the stack the topmost copy of a
 * directory gives its owner and mode, so such a directory would hide the
 * real one below. The container's upper directory gets the right metadata
 * for those paths, once, before its first start. */

#define IMPLICIT_MAX 4096
#define WALK_DEPTH_MAX 64

struct implicit {
	int n;
	char **path; /* relative, no leading '/' */
};

static void implicit_walk(int dfd, char *path, size_t len, int depth, struct implicit *im)
{
	if (depth > WALK_DEPTH_MAX || im->n >= IMPLICIT_MAX)
		return;
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) && im->n < IMPLICIT_MAX) {
		if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		size_t nl = strlen(e->d_name);
		if (len + nl + 2 >= PATH_MAX)
			continue;
		int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		memcpy(path + len, e->d_name, nl + 1);
		char v[4];
		if (fgetxattr(sub, "trusted.berth.implicit", v, sizeof(v)) >= 0) {
			char **np = realloc(im->path, sizeof(char *) * (size_t)(im->n + 1));
			if (np) {
				im->path = np;
				im->path[im->n] = strdup(path);
				if (im->path[im->n])
					im->n++;
			}
		}
		path[len + nl] = '/';
		path[len + nl + 1] = '\0';
		implicit_walk(sub, path, len + nl + 1, depth + 1, im);
		path[len] = '\0';
		close(sub);
	}
	closedir(d);
}

/* The metadata a path has in the stack without the implicit copies: from
 * the topmost layer where it is real (or the topmost at all). */
static bool real_meta(char *const *layers, int nl, const char *rel, struct stat *out)
{
	bool any = false;
	for (int i = nl - 1; i >= 0; i--) {
		char p[PATH_MAX * 2];
		snprintf(p, sizeof(p), "%s/%s", layers[i], rel);
		struct stat st;
		if (lstat(p, &st))
			continue;
		if (!S_ISDIR(st.st_mode))
			return any;
		char v[4];
		bool imp = lgetxattr(p, "trusted.berth.implicit", v, sizeof(v)) >= 0;
		if (!any || !imp) {
			*out = st;
			any = true;
		}
		if (!imp)
			return true;
	}
	return any;
}

static void fix_implicit_dirs(const struct agent_ctr *c, char *const *layers, int nl)
{
	char marker[PATH_MAX + 16], upper[PATH_MAX + 16];
	snprintf(marker, sizeof(marker), "%s/implicit-fixed", c->dir);
	if (!access(marker, F_OK))
		return;
	snprintf(upper, sizeof(upper), "%s/upper", c->dir);
	for (int i = 0; i < nl; i++) {
		char v[4];
		/* directory layers were fixed in place when pulled */
		if (!strstr(layers[i], "/layers/mnt/") ||
		    lgetxattr(layers[i], "trusted.berth.fixup", v, sizeof(v)) < 0)
			continue;
		struct implicit im = { 0 };
		char path[PATH_MAX] = "";
		int fd = open(layers[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			implicit_walk(fd, path, 0, 0, &im);
			close(fd);
		}
		for (int k = 0; k < im.n; k++) {
			/* each component, as the merged view should have it */
			char rel[PATH_MAX];
			snprintf(rel, sizeof(rel), "%s", im.path[k]);
			for (char *sl = rel;; sl++) {
				bool end = !*sl;
				if (*sl != '/' && !end)
					continue;
				char save = *sl;
				*sl = '\0';
				struct stat st;
				char up[PATH_MAX * 2];
				snprintf(up, sizeof(up), "%s/%s", upper, rel);
				if (real_meta(layers, nl, rel, &st) &&
				    (mkdir(up, 0755) == 0 || errno == EEXIST)) {
					if (lchown(up, st.st_uid, st.st_gid) == 0)
						chmod(up, st.st_mode & 07777);
					struct timespec ts[2] = { st.st_atim, st.st_mtim };
					utimensat(AT_FDCWD, up, ts, AT_SYMLINK_NOFOLLOW);
				}
				*sl = save;
				if (end)
					break;
			}
			free(im.path[k]);
		}
		free(im.path);
	}
	fs_write_replace(marker, "1\n", 2, 0644, false, &(struct berr){ 0 });
}

/* A container with a healthcheck is "starting" from its start on; the
 * daemon's checks take it from there. */
static void health_starting(const struct agent_ctr *c)
{
	const cJSON *hc = cJSON_GetObjectItem(cJSON_GetObjectItem(c->cfg, "Config"), "Healthcheck");
	const char *t0 =
		cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(hc, "Test"), 0));
	if (!t0 || !strcmp(t0, "NONE"))
		return;
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/health", c->dir);
	static const char text[] = "{\"Status\":\"starting\",\"FailingStreak\":0,\"Log\":[]}";
	fs_write_replace(p, text, sizeof(text) - 1, 0644, false, &(struct berr){ 0 });
}

struct exit_ctx {
	char root[PATH_MAX];
	struct agent_ctr *c;
	bool autoremove;
	struct agent_net net;
};

/* Takes containers/<id>/hold shared: held from before the layers are
 * mounted until the monitor is gone, so nothing unmounts them meanwhile. */
static int hold_open(const struct agent_ctr *c)
{
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/hold", c->dir);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		while (flock(fd, LOCK_SH) && errno == EINTR)
			;
	return fd;
}

static bool held(const struct agent_ctr *c)
{
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/hold", c->dir);
	int fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool busy = flock(fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

struct layers_in_use {
	int n;
	char (*d)[DIGEST_STR_MAX];
};

static bool layer_in_use(const char *diff_id, void *arg)
{
	struct layers_in_use *u = arg;
	for (int i = 0; i < u->n; i++)
		if (!strcmp(u->d[i], diff_id))
			return true;
	return false;
}

/* Unmounts the squashfs layers no starting or running container holds. */
static void release_layers(const char *root)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/layers/mnt", root);
	if (access(p, F_OK))
		return;
	struct store st;
	struct berr e = { 0 };
	if (store_open(&st, root, STORE_READ, &e))
		return;
	struct agent_ctr *v;
	int n = agent_ctr_list(root, &v, &e);
	struct layers_in_use u = { 0 };
	struct store_image *img = malloc(sizeof(*img));
	for (int i = 0; i < n; i++) {
		if (img && held(&v[i]) && !store_image_get(&st, jstr(v[i].cfg, "Image"), img, &e)) {
			void *np = realloc(u.d, sizeof(*u.d) * (size_t)(u.n + img->nlayers));
			if (np) {
				u.d = np;
				for (int k = 0; k < img->nlayers; k++)
					strcpy(u.d[u.n++], img->diff_ids[k]);
			}
		}
		agent_ctr_free(&v[i]);
	}
	if (n > 0)
		free(v);
	free(img);
	store_layers_release(&st, layer_in_use, &u, &e);
	free(u.d);
	store_close(&st);
}

static void remove_files(const char *root, struct agent_ctr *c, bool volumes)
{
	struct berr e;
	if (volumes) {
		const cJSON *mnt;
		cJSON_ArrayForEach(mnt, cJSON_GetObjectItem(c->cfg, "Mounts"))
		{
			if (strcmp(jstr(mnt, "Type"), "volume") || !jbool(mnt, "Anonymous"))
				continue;
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "%s/volumes/%s", root, jstr(mnt, "Name"));
			fs_rm_rf(p, &e);
		}
	}
	/* rename first: a crash mid-way leaves no half container visible */
	char gone[PATH_MAX + 16];
	snprintf(gone, sizeof(gone), "%s", c->dir);
	char *slash = strrchr(gone, '/');
	snprintf(slash ? slash + 1 : gone, sizeof(gone) - (size_t)(slash ? slash + 1 - gone : 0),
		 ".gone-%s", c->id);
	if (!rename(c->dir, gone))
		fs_rm_rf(gone, &e);
	else
		fs_rm_rf(c->dir, &e);
}

static void on_exit_cb(void *arg, int code)
{
	struct exit_ctx *x = arg;
	char c[16];
	snprintf(c, sizeof(c), "%d", code);
	agent_event_ctr(x->root, "die", x->c, "exitCode", c);
	agent_net_release(&x->net);
	if (x->autoremove) {
		remove_files(x->root, x->c, true);
		agent_event_ctr(x->root, "destroy", x->c, NULL, NULL);
	}
	release_layers(x->root);
}

static volatile sig_atomic_t winch, fwd_sig;

static void on_winch(int sig)
{
	winch = 1;
}

static void on_fwd(int sig)
{
	fwd_sig = sig;
}

static void send_winsize(int fd)
{
	struct winsize ws;
	if (ioctl(0, TIOCGWINSZ, &ws))
		return;
	char b[32];
	int n = snprintf(b, sizeof(b), "%u %u", ws.ws_row, ws.ws_col);
	rt_frame_send(fd, RT_FRAME_WINSIZE, b, (size_t)n);
}

int agent_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Relays between our stdio and an attach connection; returns the exit code
 * from the EXIT frame, or -1 when the connection ended without one. */
bool agent_term_raw(struct termios *saved)
{
	if (!isatty(0) || tcgetattr(0, saved))
		return false;
	struct termios t = *saved;
	cfmakeraw(&t);
	return !tcsetattr(0, TCSANOW, &t);
}

bool agent_detach_keys(struct agent_detach *d, const unsigned char *in, size_t n,
		       unsigned char *out, size_t *olen)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (d->held) {
			d->held = false;
			if (in[i] == 0x11) {
				*olen = o;
				return true;
			}
			out[o++] = 0x10;
		}
		if (in[i] == 0x10)
			d->held = true;
		else
			out[o++] = in[i];
	}
	*olen = o;
	return false;
}

#define RELAY_DETACHED (-2)

static int relay(int fd, const struct agent_attach *a, pid_t pid)
{
	struct agent_detach dk = { 0 };
	struct termios saved;
	bool raw = a->tty && agent_term_raw(&saved);
	if (raw) {
		struct sigaction sa = { .sa_handler = on_winch };
		sigaction(SIGWINCH, &sa, NULL);
		send_winsize(fd);
	}
	static const int fwd[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	if (a->sig_proxy)
		for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++) {
			struct sigaction sa = { .sa_handler = on_fwd };
			sigaction(fwd[i], &sa, NULL);
		}
	bool in_on = a->stdin_on;
	static unsigned char buf[8 + RT_FRAME_MAX];
	size_t have = 0;
	int code = -1;
	for (;;) {
		if (winch) {
			winch = 0;
			send_winsize(fd);
		}
		if (fwd_sig) {
			if (pid > 0)
				kill(pid, fwd_sig);
			fwd_sig = 0;
		}
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = in_on ? 0 : -1, .events = POLLIN } };
		int n = poll(p, 2, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents) {
			unsigned char ib[4096], ob[4097];
			ssize_t r = read(0, ib, sizeof(ib));
			size_t on = (size_t)(r > 0 ? r : 0);
			if (r > 0 && a->tty && agent_detach_keys(&dk, ib, (size_t)r, ob, &on)) {
				code = RELAY_DETACHED; /* ctrl-p ctrl-q: the container runs on */
				break;
			} else if (r > 0) {
				rt_frame_send(fd, RT_FRAME_STDIN, a->tty ? ob : ib, on);
			} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
				rt_frame_send(fd, RT_FRAME_EOF, NULL, 0);
				in_on = false;
			}
		}
		if (!p[0].revents)
			continue;
		ssize_t r = read(fd, buf + have, sizeof(buf) - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		bool done = false;
		while (have >= 8) {
			size_t len = ((size_t)buf[4] << 24) | ((size_t)buf[5] << 16) |
				     ((size_t)buf[6] << 8) | buf[7];
			if (len > RT_FRAME_MAX) {
				done = true;
				break;
			}
			if (have < 8 + len)
				break;
			if (buf[0] == RT_FRAME_STDOUT || buf[0] == RT_FRAME_STDERR) {
				agent_write_all(buf[0] == RT_FRAME_STDOUT ? 1 : 2, buf + 8, len);
			} else if (buf[0] == RT_FRAME_EXIT) {
				char t[16];
				snprintf(t, sizeof(t), "%.*s", (int)(len < 15 ? len : 15),
					 (char *)buf + 8);
				code = atoi(t);
				done = true;
			}
			memmove(buf, buf + 8 + len, have - 8 - len);
			have -= 8 + len;
		}
		if (done)
			break;
	}
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
	return code;
}

int agent_ctr_start(const char *root, const struct agent_config *cfg, struct agent_ctr *c,
		    const struct agent_attach *a, int *code, struct berr *err)
{
	*code = RT_EXIT_FAIL;
	agent_ctr_refresh(c);
	if (agent_ctr_running(c))
		return berr_setmsg(err, EBUSY, "container %s is already running", c->name), -1;
	struct start_buf *b = calloc(1, sizeof(*b));
	if (!b)
		return berr_setmsg(err, ENOMEM, "out of memory"), -1;
	struct rt_spec s;
	struct rt_monitor m;
	char cg[128];
	static struct exit_ctx xc;
	mark_stopped(c, false);
	if (a && a->policy_restart >= 0 && c->st.restarts != a->policy_restart) {
		/* the count of restarts the policy made; a manual start resets it */
		c->st.restarts = a->policy_restart;
		rt_state_write(c->dir, &c->st, true, &(struct berr){ 0 });
	}
	int hold = hold_open(c);
	int rc = build_spec(root, c, &s, &m, b, err);
	bool net = false;
	if (!rc)
		fix_implicit_dirs(c, b->layers, b->img.nlayers);
	if (!rc)
		rc = agent_net_prepare(root, cfg, c, &xc.net, err);
	net = !rc;
	if (!rc) {
		m.spec.netns_fd = xc.net.netns_fd;
		m.keep_fd = xc.net.netns_fd;
		if (xc.net.mode == NET_MODE_BRIDGE) {
			m.spec.net_setup = agent_net_setup;
			m.spec.net_arg = &xc.net;
			m.pre_start = agent_net_pre_start;
			m.hook_arg = &xc.net;
			if (xc.net.nports) {
				m.poll_fds = agent_net_pollfds;
				m.poll_handle = agent_net_handle;
			}
		}
		agent_ctr_cgroup(c, cg, sizeof(cg));
		m.cgroup = cg;
		m.wait_attach = a && (a->attach || a->hold_for_attach);
		m.hold_fd = hold;
		m.ephemeral = jbool(cJSON_GetObjectItem(c->cfg, "HostConfig"), "AutoRemove");
		snprintf(xc.root, sizeof(xc.root), "%s", root);
		xc.c = c;
		xc.autoremove = jbool(cJSON_GetObjectItem(c->cfg, "HostConfig"), "AutoRemove");
		m.on_exit = on_exit_cb;
		m.on_exit_arg = &xc;
		fflush(stdout);
		fflush(stderr);
		int ready;
		pid_t mon;
		rc = rt_monitor_start(&m, &mon, &ready, err);
		if (rc) {
			agent_net_release(&xc.net);
			net = false;
		}
		/* the monitor holds the lock and the network now */
		if (xc.net.netns_fd >= 0)
			close(xc.net.netns_fd);
		if (hold >= 0)
			close(hold);
		hold = -1;
		if (!rc) {
			int fd = -1;
			if (a && a->attach) {
				fd = rt_attach_connect(c->dir, false, err);
				if (fd < 0)
					rc = fd;
			}
			pid_t pid = 0;
			if (!rc)
				rc = rt_monitor_result(ready, &pid, code, err);
			close(ready);
			if (!rc) {
				agent_event_ctr(root, "start", c, NULL, NULL);
				health_starting(c);
			}
			if (!rc && fd >= 0) {
				int x = relay(fd, a, pid);
				if (x == RELAY_DETACHED)
					x = 0;
				else if (x < 0) {
					agent_ctr_refresh(c);
					x = c->st.exit_code;
				}
				*code = x;
			}
			if (fd >= 0)
				close(fd);
		}
	}
	if (hold >= 0) {
		/* no monitor took over */
		if (net)
			agent_net_release(&xc.net);
		close(hold);
		release_layers(root);
	}
	start_buf_free(b);
	free(b);
	if (rc)
		return -1;
	return a && a->attach ? *code : 0;
}

int agent_ctr_attach(struct agent_ctr *c, const struct agent_attach *a, struct berr *err)
{
	agent_ctr_refresh(c);
	if (!agent_ctr_running(c))
		return berr_setmsg(err, EINVAL,
				   "cannot attach to a stopped container, start it first"),
		       -1;
	int fd = rt_attach_connect(c->dir, false, err);
	if (fd < 0)
		return -1;
	int code = relay(fd, a, c->st.pid);
	close(fd);
	if (code == RELAY_DETACHED)
		code = 0;
	else if (code < 0) {
		agent_ctr_refresh(c);
		code = c->st.exit_code;
	}
	return code;
}

/* The data root a container lives under (<root>/containers/<id>). */
static void root_of_ctr(const struct agent_ctr *c, char *out, size_t len)
{
	snprintf(out, len, "%s", c->dir);
	for (int i = 0; i < 2; i++) {
		char *sl = strrchr(out, '/');
		if (sl)
			*sl = '\0';
	}
}

/* Marks a container stopped by the user: restart policies leave it down. */
static void mark_stopped(const struct agent_ctr *c, bool on)
{
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/stopped", c->dir);
	if (on)
		fs_write_replace(p, "1\n", 2, 0644, false, &(struct berr){ 0 });
	else
		unlink(p);
}

bool agent_ctr_user_stopped(const struct agent_ctr *c)
{
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/stopped", c->dir);
	return !access(p, F_OK);
}

int agent_ctr_kill(struct agent_ctr *c, int sig, struct berr *err)
{
	agent_ctr_refresh(c);
	if (!agent_ctr_running(c))
		return berr_setmsg(err, EINVAL, "container %s is not running", c->name);
	if (sig == SIGKILL || sig == SIGTERM)
		mark_stopped(c, true);
	if (kill(c->st.pid, sig))
		return berr_set(err, errno, "signal container %s", c->name);
	char root[PATH_MAX], sn[16];
	root_of_ctr(c, root, sizeof(root));
	snprintf(sn, sizeof(sn), "%d", sig);
	agent_event_ctr(root, "kill", c, "signal", sn);
	return 0;
}

/* Waits up to ms (-1: forever) for the monitor to finish. */
static bool wait_monitor(struct agent_ctr *c, long ms)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (!rt_state_monitor_alive(&c->st))
			break;
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= 0 && el >= ms)
			return false;
		/* short sleeps first: most containers stop at once */
		usleep(el < 100 ? 2000 : 20000);
	}
	agent_ctr_refresh(c);
	return true;
}

static void thaw(struct agent_ctr *c)
{
	if (!c->paused)
		return;
	struct rt_cg_host h;
	struct rt_cgroup g;
	struct berr e;
	char name[128], p[PATH_MAX + 16];
	if (rt_cgroup_detect(&h, "/proc/self/mountinfo", &e))
		return;
	agent_ctr_cgroup(c, name, sizeof(name));
	rt_cgroup_init(&g, &h, name);
	rt_cgroup_freeze(&g, false, &e);
	snprintf(p, sizeof(p), "%s/paused", c->dir);
	unlink(p);
	c->paused = false;
}

int agent_ctr_stop(struct agent_ctr *c, int sig, int timeout, struct berr *err)
{
	agent_ctr_refresh(c);
	if (!agent_ctr_running(c))
		return 0;
	mark_stopped(c, true);
	thaw(c);
	if (sig && kill(c->st.pid, sig) && errno != ESRCH)
		return berr_set(err, errno, "signal container %s", c->name);
	char root[PATH_MAX];
	root_of_ctr(c, root, sizeof(root));
	if (sig && wait_monitor(c, timeout < 0 ? -1 : timeout * 1000L)) {
		agent_event_ctr(root, "stop", c, NULL, NULL);
		return 0;
	}
	if (kill(c->st.pid, SIGKILL) && errno != ESRCH)
		return berr_set(err, errno, "kill container %s", c->name);
	if (!wait_monitor(c, 30000))
		return berr_setmsg(err, ETIMEDOUT, "container %s did not exit after SIGKILL",
				   c->name);
	agent_event_ctr(root, "stop", c, NULL, NULL);
	return 0;
}

int agent_ctr_wait(struct agent_ctr *c, struct berr *err)
{
	agent_ctr_refresh(c);
	wait_monitor(c, -1);
	return c->st.exit_code;
}

int agent_ctr_remove(const char *root, struct agent_ctr *c, bool force, bool volumes,
		     struct berr *err)
{
	agent_ctr_refresh(c);
	if (agent_ctr_running(c)) {
		if (!force)
			return berr_setmsg(
				err, EBUSY,
				"cannot remove container %s: it is running (stop it first, or use rm -f)",
				c->name);
		int rc = agent_ctr_stop(c, 0, 0, err);
		if (rc)
			return rc;
	}
	/* a group a crashed monitor left behind */
	struct rt_cg_host h;
	struct berr e;
	if (!rt_cgroup_detect(&h, "/proc/self/mountinfo", &e)) {
		struct rt_cgroup g;
		char name[128];
		agent_ctr_cgroup(c, name, sizeof(name));
		rt_cgroup_init(&g, &h, name);
		rt_cgroup_remove(&g, &e);
	}
	agent_net_release_id(root, c->id);
	if (c->dead)
		agent_net_release_link(c->id);
	remove_files(root, c, volumes);
	release_layers(root);
	agent_event_ctr(root, "destroy", c, NULL, NULL);
	return 0;
}

bool agent_image_in_use(const char *root, const char *id, char *name, size_t len)
{
	struct agent_ctr *v;
	struct berr e;
	int n = agent_ctr_list(root, &v, &e);
	bool used = false;
	for (int i = 0; i < n; i++) {
		if (!used && !strcmp(jstr(v[i].cfg, "Image"), id)) {
			used = true;
			if (name)
				snprintf(name, len, "%s", v[i].name);
		}
		agent_ctr_free(&v[i]);
	}
	if (n > 0)
		free(v);
	return used;
}

int agent_ctr_rename(const char *root, const char *ref, const char *name, struct berr *err)
{
	char cdir[PATH_MAX];
	if (name[0] == '/')
		name++;
	if (!name_ok(name))
		return berr_setmsg(
			err, EINVAL,
			"invalid container name '%s': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
			name);
	agent_ctr_root(root, cdir, sizeof(cdir));
	int lk = lock_containers(cdir, err);
	if (lk < 0)
		return lk;
	struct agent_ctr c;
	int rc = agent_ctr_find(root, ref, &c, err);
	if (rc) {
		close(lk);
		return rc;
	}
	struct name_used u = { .cdir = cdir, .name = name };
	if (!strcmp(c.name, name))
		rc = berr_setmsg(err, EINVAL,
				 "renaming a container with the same name as its current name");
	else if (each_id(cdir, name_taken, &u) > 0)
		rc = berr_setmsg(err, EEXIST, "the container name \"/%s\" is already in use", name);
	if (!rc) {
		cJSON_DeleteItemFromObject(c.cfg, "Name");
		cJSON_AddStringToObject(c.cfg, "Name", name);
		char *json = cJSON_PrintUnformatted(c.cfg);
		char p[PATH_MAX + 32], text[AGENT_NAME_MAX + 2];
		snprintf(p, sizeof(p), "%s/config.json", c.dir);
		rc = json ? fs_write_atomic(p, json, strlen(json), 0600, err)
			  : berr_setmsg(err, ENOMEM, "config.json");
		free(json);
		int n = snprintf(text, sizeof(text), "%s\n", name);
		snprintf(p, sizeof(p), "%s/name", c.dir);
		if (!rc)
			rc = fs_write_atomic(p, text, (size_t)n, 0644, err);
	}
	agent_ctr_free(&c);
	close(lk);
	return rc;
}

int agent_ctr_export(const char *root, struct agent_ctr *c, int out, struct berr *err)
{
	struct start_buf *b = calloc(1, sizeof(*b));
	if (!b)
		return berr_setmsg(err, ENOMEM, "out of memory");
	struct rt_spec s;
	struct rt_monitor m;
	int hold = hold_open(c);
	int rc = build_spec(root, c, &s, &m, b, err);
	if (!rc)
		fix_implicit_dirs(c, b->layers, b->img.nlayers);
	int ep[2] = { -1, -1 };
	if (!rc && pipe2(ep, O_CLOEXEC))
		rc = berr_set(err, errno, "pipe");
	pid_t p = rc ? -1 : fork();
	if (!rc && p < 0)
		rc = berr_set(err, errno, "fork");
	if (p == 0) {
		struct berr e = { 0 };
		close(ep[0]);
		int r = unshare(CLONE_NEWNS) ? berr_set(&e, errno, "new mount namespace")
			: mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)
				? berr_set(&e, errno, "private mounts")
				: rt_rootfs_mount_ro(&s, &e);
		int dfd = r ? -1 : open("rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (!r && dfd < 0)
			r = berr_set(&e, errno, "open the container's filesystem");
		if (!r)
			r = agent_tar_tree(dfd, out, &e);
		if (r) {
			ssize_t w = write(ep[1], &e, sizeof(e));
			(void)w;
		}
		_exit(r ? 1 : 0);
	}
	if (p > 0) {
		close(ep[1]);
		ep[1] = -1;
		struct berr e;
		ssize_t n = read(ep[0], &e, sizeof(e));
		int st;
		while (waitpid(p, &st, 0) < 0 && errno == EINTR)
			;
		if (n == (ssize_t)sizeof(e)) {
			*err = e;
			rc = -(e.code ? e.code : EIO);
		} else if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			rc = berr_setmsg(err, EIO, "the export process failed");
		}
	}
	for (int i = 0; i < 2; i++)
		if (ep[i] >= 0)
			close(ep[i]);
	if (hold >= 0)
		close(hold);
	release_layers(root);
	start_buf_free(b);
	free(b);
	return rc;
}
