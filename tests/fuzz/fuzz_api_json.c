/* libFuzzer target for the daemon's JSON request bodies (Docker Engine API
 * v1.45): the bytes after the first are the body of a request answered by
 * agent_api_handle; the first byte picks the endpoint among those that read
 * a body and answer without forking. The data root is a temp directory with
 * one image (tagged fuzzimg) and one container (fuzzbox) that looks running;
 * what a call adds to it is removed before the next. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/api.h"
#include "agent/container.h"
#include "board/fs.h"
#include "runtime/state.h"
#include "store/store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

/* The image's config: every field the container builder takes over. */
static const char image_config[] =
	"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
	"\"Env\":[\"PATH=/usr/bin:/bin\",\"LANG=C\"],\"Entrypoint\":[\"/bin/sh\",\"-c\"],"
	"\"Cmd\":[\"echo hi\"],\"WorkingDir\":\"/srv\",\"User\":\"1000\",\"StopSignal\":\"SIGINT\","
	"\"Volumes\":{\"/data\":{}},\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}},"
	"\"Healthcheck\":{\"Test\":[\"CMD\",\"true\"],\"Interval\":30000000000,\"Retries\":3},"
	"\"Labels\":{\"org.example.kind\":\"fuzz\"}},"
	"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}";

static char root[64];
static int out_fd = -1, drain_fd = -1;
static char kept[16][80]; /* containers/ and volumes/ entries of the setup */
static int nkept;

static pid_t no_fork(void *arg)
{
	errno = EAGAIN; /* a forking handler answers 500 instead */
	return -1;
}

static const struct agent_config cfg;
static const struct agent_api api = { .root = root, .cfg = &cfg, .fork_child = no_fork };

static void die(const char *what, const struct berr *e)
{
	fprintf(stderr, "fuzz_api_json: setup: %s: %s\n", what, e ? e->msg : strerror(errno));
	exit(2);
}

/* A one-file layer ("hello", 6 bytes) through the store's writer; its diff_id. */
static void make_layer(struct store *st, char diff[DIGEST_STR_MAX])
{
	static unsigned char tar[2048];
	memcpy(tar, "hello", 5);
	memcpy(tar + 100, "0000644", 7);      /* mode */
	memcpy(tar + 124, "00000000006", 11); /* size; uid, gid, mtime 0 */
	memset(tar + 148, ' ', 8);
	tar[156] = '0';
	memcpy(tar + 257, "ustar", 6);
	memcpy(tar + 263, "00", 2);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += tar[i];
	snprintf((char *)tar + 148, 8, "%06o", sum);
	memcpy(tar + 512, "hello\n", 6);
	struct berr e = { 0 };
	struct store_layer_writer *w = store_layer_begin(st, "sha256:0", &e);
	if (!w || store_layer_feed(w, tar, sizeof(tar), &e) ||
	    store_layer_finish(w, diff, NULL, &e) || store_layer_commit(st, w, diff, &e))
		die("layer", &e);
	store_layer_free(w);
}

static void make_image(void)
{
	struct store st;
	struct berr e = { 0 };
	if (store_open(&st, root, STORE_WRITE, &e))
		die("store", &e);
	struct store_image img = { .nlayers = 1 };
	make_layer(&st, img.diff_ids[0]);
	char conf[2048];
	int n = snprintf(conf, sizeof(conf), image_config, img.diff_ids[0]);
	struct store_sha256 h;
	store_sha256_init(&h);
	store_sha256_update(&h, conf, (size_t)n);
	store_sha256_final(&h, img.id);
	strcpy(img.manifest, img.id); /* no manifest blob: nothing here reads it */
	store_platform_host(&img.platform);
	if (store_blob_put(&st, img.id, conf, (size_t)n, &e) || store_image_put(&st, &img, &e) ||
	    store_tag_set(&st, "docker.io/library/fuzzimg:latest", img.id, &e))
		die("image", &e);
	store_close(&st);
}

/* Drains and checks what a handler sent: one response with a status line. */
static int drain(void)
{
	char buf[4096], head[16] = "";
	size_t got = 0;
	ssize_t n;
	while ((n = read(drain_fd, buf, sizeof(buf))) > 0) {
		if (got < sizeof(head) - 1) {
			size_t k = (size_t)n < sizeof(head) - 1 - got ? (size_t)n
								      : sizeof(head) - 1 - got;
			memcpy(head + got, buf, k);
		}
		got += (size_t)n;
	}
	CHECK(got >= 12 && !strncmp(head, "HTTP/1.1 ", 9));
	return atoi(head + 9);
}

static void call(const char *path, const char *query, const uint8_t *body, size_t len,
		 struct net_httpd_conn *hc)
{
	static struct net_httpd_req rq;
	memset(&rq, 0, sizeof(rq));
	strcpy(rq.method, "POST");
	snprintf(rq.path, sizeof(rq.path), "%s", path);
	snprintf(rq.query, sizeof(rq.query), "%s", query);
	rq.minor = 1;
	rq.keep_alive = true;
	rq.content_length = (long long)len;
	strcpy(rq.content_type, "application/json");
	/* as the parser hands it over: NUL-terminated, NULL when empty */
	char *b = len ? malloc(len + 1) : NULL;
	if (b) {
		memcpy(b, body, len);
		b[len] = '\0';
	}
	rq.body = b;
	rq.body_len = b ? len : 0;
	enum agent_api_result r = agent_api_handle(&api, hc, &rq, out_fd);
	CHECK(r == API_KEEP || r == API_CLOSE);
	free(b);
}

static bool is_kept(const char *sub, const char *name)
{
	char k[80];
	snprintf(k, sizeof(k), "%s/%s", sub, name);
	for (int i = 0; i < nkept; i++)
		if (!strcmp(kept[i], k))
			return true;
	return false;
}

/* Entries of root/sub not kept from the setup: counted, removed when rm. */
static int sweep(const char *sub, bool rm)
{
	char dir[128], p[512];
	snprintf(dir, sizeof(dir), "%s/%s", root, sub);
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    is_kept(sub, de->d_name))
			continue;
		n++;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (rm)
			fs_rm_rf(p, NULL);
	}
	if (d)
		closedir(d);
	return n;
}

/* New volumes named as anonymous ones are (64 hex digits) but not in the body. */
static int anon_volumes(const uint8_t *body, size_t len)
{
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/volumes", root);
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)))
		n += strlen(de->d_name) == 64 && strspn(de->d_name, "0123456789abcdef") == 64 &&
		     !is_kept("volumes", de->d_name) && !memmem(body, len, de->d_name, 64);
	if (d)
		closedir(d);
	return n;
}

static void keep(const char *sub)
{
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/%s", root, sub);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)) && nkept < 16)
		snprintf(kept[nkept++], sizeof(kept[0]), "%s/%s", sub, de->d_name);
	if (d)
		closedir(d);
}

static void reset(void)
{
	char p[128];
	sweep("containers", true);
	sweep("volumes", true);
	static const char *const gone[] = { "execs", "events.log", "events.log.1" };
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, gone[i]);
		fs_rm_rf(p, NULL);
	}
}

static void cleanup(void)
{
	fs_rm_rf(root, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* tmpfs when there is one: every create fsyncs */
	snprintf(root, sizeof(root), "%s/berth-fuzz-api-XXXXXX",
		 access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
	if (!mkdtemp(root))
		die(root, NULL);
	atexit(cleanup);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		die("socketpair", NULL);
	out_fd = sv[0];
	drain_fd = sv[1];
	make_image();

	/* fuzzbox: its state says running, its monitor is us (exec create needs that) */
	struct net_httpd_conn *hc = net_httpd_conn_new();
	static const char body[] = "{\"Image\":\"fuzzimg\",\"Cmd\":[\"sleep\",\"1d\"]}";
	call("/containers/create", "name=fuzzbox", (const uint8_t *)body, strlen(body), hc);
	net_httpd_conn_free(hc);
	if (drain() != 201)
		die("create fuzzbox", NULL);
	struct agent_ctr c;
	struct berr e = { 0 };
	if (agent_ctr_find(root, "fuzzbox", &c, &e))
		die("fuzzbox", &e);
	struct rt_state st = { .status = RT_RUNNING, .pid = getpid(), .monitor = getpid() };
	st.monitor_start = rt_proc_start(getpid());
	st.started = 1;
	if (rt_state_write(c.dir, &st, false, &e))
		die("fuzzbox state", &e);
	agent_ctr_free(&c);
	keep("containers");
	keep("volumes");
	reset();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > NET_HTTPD_BODY_MAX)
		return 0;
	static const struct {
		const char *path, *query;
	} ends[] = {
		{ "/containers/create", "" },
		{ "/v1.45/containers/create", "name=fuzzed" },
		{ "/volumes/create", "" },
		{ "/containers/fuzzbox/exec", "" },
		{ "/exec/0000000000000000000000000000000000000000000000000000000000000000/start",
		  "" },
	};
	size_t k = data[0] % (sizeof(ends) / sizeof(ends[0]));
	struct net_httpd_conn *hc = net_httpd_conn_new();
	CHECK(hc);
	call(ends[k].path, ends[k].query, data + 1, size - 1, hc);
	net_httpd_conn_free(hc);
	int status = drain();
	/* a create makes one container when it answers 201, none otherwise, and
	 * a failed one leaves no anonymous volume behind */
	if (k <= 1)
		CHECK(sweep("containers", false) == (status == 201));
	else
		CHECK(sweep("containers", false) == 0);
	if (k <= 1 && status != 201)
		CHECK(anon_volumes(data + 1, size - 1) == 0);
	if (k == 4)
		CHECK(status == 404);
	reset();
	return 0;
}
