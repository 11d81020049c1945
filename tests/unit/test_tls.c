/* Unit tests for net/tls.c against `openssl s_server`, with CAs and server
 * certificates (good, expired, not yet valid, wrong name, unknown CA, ECDSA) made at run time. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/tls.h"
#include "tap.h"

static char dir[64];  /* temp dir: certificates, bundles, certs.d, server log */
static bool certs_ok; /* the certificates were made */
static const char *no_openssl;
static pid_t server = -1; /* the running s_server */
static int port;

static const char gen_script[] =
	"set -e\n"
	"cat >t.cnf <<'EOF'\n"
	"[ req ]\n"
	"distinguished_name = dn\n"
	"[ dn ]\n"
	"[ v3ca ]\n"
	"basicConstraints = critical,CA:TRUE\n"
	"keyUsage = critical,keyCertSign,cRLSign\n"
	"subjectKeyIdentifier = hash\n"
	"[ ca ]\n"
	"default_ca = tca\n"
	"[ tca ]\n"
	"database = index.txt\n"
	"new_certs_dir = .\n"
	"serial = serial\n"
	"default_md = sha256\n"
	"policy = pol\n"
	"unique_subject = no\n"
	"[ pol ]\n"
	"commonName = supplied\n"
	"[ srv_rsa ]\n"
	"basicConstraints = CA:FALSE\n"
	"keyUsage = critical,digitalSignature,keyEncipherment\n"
	"subjectAltName = DNS:localhost,IP:127.0.0.1\n"
	"[ srv_ec ]\n"
	"basicConstraints = CA:FALSE\n"
	"keyUsage = critical,digitalSignature\n"
	"subjectAltName = DNS:localhost,IP:127.0.0.1\n"
	"[ srv_wrong ]\n"
	"basicConstraints = CA:FALSE\n"
	"keyUsage = critical,digitalSignature,keyEncipherment\n"
	"subjectAltName = DNS:wrong.example\n"
	"EOF\n"
	": >index.txt\n"
	"echo 1000 >serial\n"
	"key() {\n"
	"	if [ \"$2\" = rsa ]; then\n"
	"		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "
	"\"$1.key\"\n"
	"	else\n"
	"		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:\"$2\" -out "
	"\"$1.key\"\n"
	"	fi\n"
	"}\n"
	"mkca() {\n"
	"	key \"$1\" \"$2\"\n"
	"	openssl req -x509 -new -config t.cnf -extensions v3ca -key \"$1.key\" \\\n"
	"		-subj \"/CN=$3\" -days 30 -out \"$1.pem\"\n"
	"}\n"
	"csr() { openssl req -new -config t.cnf -key \"$1.key\" -subj \"/CN=$2\" -out \"$3.csr\"; "
	"}\n"
	"sign() {\n"
	"	c=$1 r=$2 o=$3 x=$4\n"
	"	shift 4\n"
	"	openssl ca -batch -notext -config t.cnf -cert \"$c.pem\" -keyfile \"$c.key\" \\\n"
	"		-in \"$r.csr\" -out \"$o.pem\" -extensions \"$x\" \"$@\"\n"
	"}\n"
	"mkca ca rsa 'Berth Test CA'\n"
	"mkca caec P-384 'Berth Test EC CA'\n"
	"mkca other rsa 'Unknown CA'\n"
	"key srv rsa\n"
	"key srvec P-256\n"
	"csr srv localhost srv\n"
	"csr srv wrong.example wrong\n"
	"csr srvec localhost srvec\n"
	"sign ca srv good srv_rsa -days 30\n"
	/* UTCTime, and GeneralizedTime after 2049 */
	"sign ca srv expired srv_rsa -startdate 20200101000000Z -enddate 20210101000000Z\n"
	"sign ca srv future srv_rsa -startdate 20990101000000Z -enddate 21000101000000Z\n"
	"sign ca wrong wrong srv_wrong -days 30\n"
	"sign other srv unknown srv_rsa -days 30\n"
	"sign caec srvec goodec srv_ec -days 30\n"
	/* self-signed, not a CA: what registries often put in certs.d/ca.crt */
	"openssl req -x509 -new -config t.cnf -extensions srv_rsa -key srv.key -subj /CN=localhost "
	"\\\n"
	"	-days 30 -out self.pem\n"
	"cat ca.pem caec.pem >bundle.pem\n"
	"cp other.pem nobundle.pem\n"
	"mkdir certs.d\n";

/* --- helpers ------------------------------------------------------------------ */

/* A path in dir; the result stays valid for the next 63 calls. */
static const char *in_dir(const char *name)
{
	static char bufs[64][256];
	static unsigned next;
	char *b = bufs[next++ % 64];
	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void stop_server(void)
{
	if (server > 0) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
	}
	server = -1;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void cleanup(void)
{
	stop_server();
	if (dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	dir[0] = '\0';
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0)
		die("free port");
	close(fd);
	return ntohs(a.sin_port);
}

static int connect_to(int p, bool nonblock)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)p),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Starts `openssl s_server -www` with cert and key (names in dir) and extra
 * arguments (NULL-terminated, may be NULL); waits until it listens. */
static bool start_server(const char *cert, const char *key, const char *const *extra)
{
	stop_server();
	for (int attempt = 0; attempt < 5; attempt++) {
		port = free_port();
		char accept[32], crt[256], k[256];
		snprintf(accept, sizeof(accept), "127.0.0.1:%d", port);
		snprintf(crt, sizeof(crt), "%s/%s", dir, cert);
		snprintf(k, sizeof(k), "%s/%s", dir, key);
		const char *argv[24] = { "openssl", "s_server", "-accept", accept, "-cert",
					 crt,       "-key",     k,         "-www" };
		int argc = 9;
		for (int i = 0; extra && extra[i] && argc < 23; i++)
			argv[argc++] = extra[i];
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL); /* even if this test crashes */
			char log_path[256];
			snprintf(log_path, sizeof(log_path), "%s/server.log", dir);
			int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
			int null = open("/dev/null", O_RDONLY);
			dup2(null, 0);
			dup2(log, 1);
			dup2(log, 2);
			execvp(argv[0], (char *const *)argv);
			_exit(127);
		}
		server = pid;
		for (int i = 0; i < 400; i++) {
			if (waitpid(server, NULL, WNOHANG) == server) {
				server = -1;
				break;
			}
			int fd = connect_to(port, false);
			if (fd >= 0) {
				close(fd);
				return true;
			}
			usleep(25000);
		}
		stop_server();
	}
	return false;
}

/* GETs / through TLS on a new connection to the server: 0 when a response was
 * read to its end (into body), else the -errno of the failing call. */
static int fetch(const char *host, const struct net_tls_trust *trust, bool nonblock, char *body,
		 size_t cap, struct berr *e)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	int fd = connect_to(port, nonblock);
	if (fd < 0)
		die("connect to s_server");
	char hostport[300];
	snprintf(hostport, sizeof(hostport), "%s:%d", host, port);
	berr_clear(e);
	body[0] = '\0';
	int rc;
	struct net_tls *t = net_tls_new(fd, host, hostport, trust, 5000, e);
	if (!t) {
		rc = -(e->code ? e->code : 1000);
	} else {
		rc = net_tls_write_all(t, req, sizeof(req) - 1, e);
		size_t len = 0;
		while (rc == 0 && len < cap - 1) {
			ssize_t n = net_tls_read(t, body + len, cap - 1 - len, e);
			if (n < 0)
				rc = (int)n;
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		body[len] = '\0';
		net_tls_free(t);
	}
	close(fd);
	return rc;
}

static void copy_file(const char *from, const char *to)
{
	char buf[8192];
	FILE *in = fopen(from, "r"), *out = fopen(to, "w");
	if (!in || !out)
		die(to);
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	fclose(out);
}

static void write_file(const char *path, const char *s, size_t len)
{
	FILE *f = fopen(path, "w");
	if (!f || fwrite(s, 1, len, f) != len || fclose(f))
		die(path);
}

static bool setup(void)
{
	if (no_openssl) {
		t_skip(no_openssl);
		return false;
	}
	if (!certs_ok) {
		T_EXPECT(certs_ok); /* see gen.log in the temp dir */
		return false;
	}
	return true;
}

static char body[65536];

/* --- tests -------------------------------------------------------------------- */

static void test_rsa_chain(void)
{
	if (!setup())
		return;
	struct net_tls_trust tr = { .ca_bundle = in_dir("bundle.pem") };
	struct berr e;
	T_EXPECT(start_server("good.pem", "srv.key", NULL));
	T_EXPECT_INT(fetch("localhost", &tr, false, body, sizeof(body), &e), 0);
	T_EXPECT(strstr(body, "HTTP/1.0 200 ok") != NULL);
	/* our first choice, ChaCha20, since s_server honours the client's order */
	T_EXPECT(strstr(body, "TLSv1.2, Cipher is ECDHE-RSA-CHACHA20-POLY1305") != NULL);
	T_EXPECT_INT(fetch("localhost", &tr, true, body, sizeof(body), &e), 0);
	T_EXPECT(strstr(body, "HTTP/1.0 200 ok") != NULL);
	T_EXPECT_INT(fetch("LocalHost", &tr, false, body, sizeof(body), &e), 0);
	/* an IP host matches the iPAddress entry */
	T_EXPECT_INT(fetch("127.0.0.1", &tr, true, body, sizeof(body), &e), 0);
	T_EXPECT(strstr(body, "HTTP/1.0 200 ok") != NULL);
	stop_server();
}

static void test_ecdsa_chain(void)
{
	if (!setup())
		return;
	struct net_tls_trust tr = { .ca_bundle = in_dir("bundle.pem") };
	struct berr e;
	T_EXPECT(start_server("goodec.pem", "srvec.key", NULL));
	T_EXPECT_INT(fetch("localhost", &tr, false, body, sizeof(body), &e), 0);
	T_EXPECT(strstr(body, "TLSv1.2, Cipher is ECDHE-ECDSA-CHACHA20-POLY1305") != NULL);
	T_EXPECT_INT(fetch("127.0.0.1", &tr, false, body, sizeof(body), &e), 0);
	stop_server();
}

static void test_other_suites(void)
{
	if (!setup())
		return;
	static const char *const suites[][2] = {
		{ "good.pem", "ECDHE-RSA-AES128-GCM-SHA256" },
		{ "good.pem", "ECDHE-RSA-AES256-GCM-SHA384" },
		{ "goodec.pem", "ECDHE-ECDSA-AES128-GCM-SHA256" },
		{ "goodec.pem", "ECDHE-ECDSA-AES256-GCM-SHA384" },
	};
	struct net_tls_trust tr = { .ca_bundle = in_dir("bundle.pem") };
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		const char *extra[] = { "-cipher", suites[i][1], NULL };
		bool ec = suites[i][0][4] == 'e';
		T_EXPECT(start_server(suites[i][0], ec ? "srvec.key" : "srv.key", extra));
		struct berr e;
		char want[128];
		snprintf(want, sizeof(want), "Cipher is %s\n", suites[i][1]);
		T_EXPECT_INT(fetch("localhost", &tr, false, body, sizeof(body), &e), 0);
		if (!strstr(body, want))
			printf("#   no '%s' in the response (%s)\n", suites[i][1], e.msg);
		T_EXPECT(strstr(body, want) != NULL);
	}
	/* curves: X25519 (BearSSL's first choice), P-256, P-384 */
	const char *const curves[] = { "X25519", "P-256", "P-384" };
	for (size_t i = 0; i < 3; i++) {
		const char *extra[] = { "-curves", curves[i], NULL };
		T_EXPECT(start_server("good.pem", "srv.key", extra));
		struct berr e;
		T_EXPECT_INT(fetch("localhost", &tr, false, body, sizeof(body), &e), 0);
		T_EXPECT(strstr(body, "HTTP/1.0 200 ok") != NULL);
	}
	stop_server();
}

static void expect_fail(const char *cert, const char *host, const struct net_tls_trust *tr,
			int code, const char *msg)
{
	struct berr e;
	T_EXPECT(start_server(cert, "srv.key", NULL));
	T_EXPECT_INT(fetch(host, tr, false, body, sizeof(body), &e), -code);
	T_EXPECT_INT(e.code, code);
	T_EXPECT_STR(e.msg, msg);
	stop_server();
}

static void test_unknown_ca(void)
{
	if (!setup())
		return;
	struct net_tls_trust tr = { .ca_bundle = in_dir("bundle.pem") };
	expect_fail("unknown.pem", "localhost", &tr, EPERM,
		    "TLS with localhost: unknown certificate authority");

	/* with certs.d, the message says where the CA goes; the error sticks */
	tr.certs_d = in_dir("certs.d");
	T_EXPECT(start_server("unknown.pem", "srv.key", NULL));
	char hostport[64], want[512];
	snprintf(hostport, sizeof(hostport), "localhost:%d", port);
	snprintf(want, sizeof(want),
		 "TLS with localhost: unknown certificate authority (put the CA certificate in "
		 "%s/certs.d/%s/ca.crt)",
		 dir, hostport);
	int fd = connect_to(port, false);
	struct berr e = { 0 };
	struct net_tls *t = net_tls_new(fd, "localhost", hostport, &tr, 5000, &e);
	T_EXPECT(t != NULL);
	if (t) {
		T_EXPECT_INT(net_tls_read(t, body, sizeof(body), &e), -EPERM);
		T_EXPECT_STR(e.msg, want);
		berr_clear(&e);
		T_EXPECT_INT(net_tls_write_all(t, "x", 1, &e), -EPERM);
		T_EXPECT_STR(e.msg, want);
		net_tls_free(t);
	}
	close(fd);
	stop_server();
}

static void test_validity(void)
{
	if (!setup())
		return;
	struct net_tls_trust tr = { .ca_bundle = in_dir("bundle.pem") };
	expect_fail("expired.pem", "localhost", &tr, EPERM,
		    "TLS with localhost: certificate expired");
	expect_fail("future.pem", "localhost", &tr, EPERM,
		    "TLS with localhost: certificate not valid yet: check the device clock");
	expect_fail("expired.pem", "127.0.0.1", &tr, EPERM,
		    "TLS with 127.0.0.1: certificate expired");
}

static void test_name_mismatch(void)
{
	if (!setup())
		return;
	struct net_tls_trust tr = { .ca_bundle = in_dir("bundle.pem") };
	expect_fail("wrong.pem", "localhost", &tr, EPERM, "TLS with localhost: name mismatch");
	expect_fail("wrong.pem", "127.0.0.1", &tr, EPERM, "TLS with 127.0.0.1: name mismatch");
	expect_fail("good.pem", "www.localhost", &tr, EPERM,
		    "TLS with www.localhost: name mismatch");
	/* the certificate lists 127.0.0.1 only, not ::1 nor 127.0.0.2 */
	expect_fail("good.pem", "::1", &tr, EPERM, "TLS with ::1: name mismatch");
	expect_fail("good.pem", "127.0.0.2", &tr, EPERM, "TLS with 127.0.0.2: name mismatch");
}

static void test_certs_d(void)
{
	if (!setup())
		return;
	/* the bundle lacks our CAs; certs.d/<host:port>/ has them */
	struct net_tls_trust tr = { .ca_bundle = in_dir("nobundle.pem"),
				    .certs_d = in_dir("certs.d") };
	const char *const certs[][3] = { { "good.pem", "srv.key", "ca.pem" },
					 { "goodec.pem", "srvec.key", "ca.pem" },
					 { "self.pem", "srv.key", "self.pem" } };
	for (int i = 0; i < 3; i++) {
		T_EXPECT(start_server(certs[i][0], certs[i][1], NULL));
		char sub[300], p[400];
		snprintf(sub, sizeof(sub), "%s/localhost:%d", in_dir("certs.d"), port);
		mkdir(sub, 0755);
		snprintf(p, sizeof(p), "%s/ca.crt", sub);
		copy_file(in_dir(certs[i][2]), p);
		snprintf(p, sizeof(p), "%s/z-ec.crt", sub);
		copy_file(in_dir("caec.pem"), p);
		struct berr e;
		T_EXPECT_INT(fetch("localhost", &tr, i == 1, body, sizeof(body), &e), 0);
		T_EXPECT(strstr(body, "HTTP/1.0 200 ok") != NULL);
		/* without the certs.d source, the CA is unknown */
		struct net_tls_trust bundle_only = { .ca_bundle = tr.ca_bundle };
		T_EXPECT_INT(fetch("localhost", &bundle_only, false, body, sizeof(body), &e),
			     -EPERM);
		T_EXPECT_STR(e.msg, "TLS with localhost: unknown certificate authority");
	}
	/* certs.d only, no bundle */
	struct net_tls_trust dir_only = { .certs_d = tr.certs_d };
	struct berr e;
	T_EXPECT_INT(fetch("localhost", &dir_only, false, body, sizeof(body), &e), 0);
	stop_server();
}

static void test_bundle_reload(void)
{
	if (!setup())
		return;
	/* the parsed bundle is cached; a changed file is parsed again */
	const char *path = in_dir("changing.pem");
	struct net_tls_trust tr = { .ca_bundle = path };
	struct berr e;
	copy_file(in_dir("ca.pem"), path);
	T_EXPECT(start_server("good.pem", "srv.key", NULL));
	T_EXPECT_INT(fetch("localhost", &tr, false, body, sizeof(body), &e), 0);
	copy_file(in_dir("other.pem"), path);
	T_EXPECT_INT(fetch("localhost", &tr, false, body, sizeof(body), &e), -EPERM);
	T_EXPECT_STR(e.msg, "TLS with localhost: unknown certificate authority");
	copy_file(in_dir("bundle.pem"), path);
	T_EXPECT_INT(fetch("localhost", &tr, false, body, sizeof(body), &e), 0);
	stop_server();
}

static void test_handshake_failure(void)
{
	if (!setup())
		return;
	struct net_tls_trust tr = { .ca_bundle = in_dir("bundle.pem") };
	struct berr e;
	const char *tls13[] = { "-tls1_3", NULL };
	T_EXPECT(start_server("good.pem", "srv.key", tls13));
	T_EXPECT_INT(fetch("localhost", &tr, false, body, sizeof(body), &e), -EPROTO);
	T_EXPECT_STR(e.msg, "TLS with localhost: handshake failed: server sent alert "
			    "protocol_version (BearSSL error 326)");
	/* CBC suites are left out on purpose */
	const char *cbc[] = { "-cipher", "ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256", NULL };
	T_EXPECT(start_server("good.pem", "srv.key", cbc));
	T_EXPECT_INT(fetch("localhost", &tr, false, body, sizeof(body), &e), -EPROTO);
	T_EXPECT_STR(e.msg, "TLS with localhost: handshake failed: server sent alert "
			    "handshake_failure (BearSSL error 296)");
	stop_server();
}

static void test_sni(void)
{
	if (!setup())
		return;
	/* s_server answers SNI "localhost" with good.pem, anything else (or no
	 * SNI) with unknown.pem */
	struct net_tls_trust tr = { .ca_bundle = in_dir("bundle.pem") };
	char cert2[256], key2[256];
	snprintf(cert2, sizeof(cert2), "%s/good.pem", dir);
	snprintf(key2, sizeof(key2), "%s/srv.key", dir);
	const char *extra[] = { "-servername", "localhost", "-cert2", cert2, "-key2", key2, NULL };
	struct berr e;
	T_EXPECT(start_server("unknown.pem", "srv.key", extra));
	T_EXPECT_INT(fetch("localhost", &tr, false, body, sizeof(body), &e), 0);
	T_EXPECT(strstr(body, "HTTP/1.0 200 ok") != NULL);
	/* no SNI for an IP address */
	T_EXPECT_INT(fetch("127.0.0.1", &tr, false, body, sizeof(body), &e), -EPERM);
	T_EXPECT_STR(e.msg, "TLS with 127.0.0.1: unknown certificate authority");
	stop_server();
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	alarms++;
}

static void test_timeout(void)
{
	if (!setup())
		return;
	/* a TCP server that accepts and never answers */
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) < 0)
		die("listen");
	struct net_tls_trust tr = { .ca_bundle = in_dir("bundle.pem") };
	/* blocking, non-blocking, and non-blocking with a signal every 20 ms
	 * (poll fails with EINTR; the deadline must hold) */
	for (int round = 0; round < 3; round++) {
		struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
		struct itimerval it = { { 0, 20000 }, { 0, 20000 } };
		if (round == 2 &&
		    (sigaction(SIGALRM, &sa, NULL) < 0 || setitimer(ITIMER_REAL, &it, NULL) < 0))
			die("setitimer");
		alarms = 0;
		int fd = connect_to(ntohs(a.sin_port), round > 0);
		int s = accept(l, NULL, NULL);
		struct berr e = { 0 };
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		struct net_tls *t = net_tls_new(fd, "localhost", "localhost", &tr, 300, &e);
		T_EXPECT(t != NULL);
		if (t) {
			T_EXPECT_INT(net_tls_write_all(t, "GET /\r\n\r\n", 9, &e), -ETIMEDOUT);
			T_EXPECT_STR(e.msg, "TLS with localhost: timed out");
			net_tls_free(t);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		T_EXPECT(ms >= 250);
		T_EXPECT(ms < 3000);
		if (round == 2) {
			struct itimerval off = { { 0, 0 }, { 0, 0 } };
			setitimer(ITIMER_REAL, &off, NULL);
			signal(SIGALRM, SIG_DFL);
			T_EXPECT(alarms >= 5);
		}
		close(s);
		close(fd);
	}
	close(l);
}

static void test_trust_errors(void)
{
	if (!setup())
		return;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	struct berr e = { 0 };
	char want[512];

	struct net_tls_trust tr = { .ca_bundle = in_dir("missing.pem") };
	T_EXPECT(net_tls_new(sv[0], "localhost", "localhost", &tr, 1000, &e) == NULL);
	T_EXPECT_INT(e.code, ENOENT);
	snprintf(want, sizeof(want), "TLS with localhost: no CA certificates in %s/missing.pem",
		 dir);
	T_EXPECT_STR(e.msg, want);

	tr.certs_d = in_dir("certs.d");
	T_EXPECT(net_tls_new(sv[0], "localhost", "nowhere:1", &tr, 1000, &e) == NULL);
	snprintf(want, sizeof(want),
		 "TLS with localhost: no CA certificates in %s/missing.pem or "
		 "%s/certs.d/nowhere:1/*.crt",
		 dir, dir);
	T_EXPECT_STR(e.msg, want);

	T_EXPECT(net_tls_new(sv[0], "localhost", "../etc", &tr, 1000, &e) == NULL);
	T_EXPECT_INT(e.code, EINVAL);

	/* a key is not a certificate */
	tr.certs_d = NULL;
	tr.ca_bundle = in_dir("srv.key");
	T_EXPECT(net_tls_new(sv[0], "localhost", "localhost", &tr, 1000, &e) == NULL);
	T_EXPECT_INT(e.code, ENOENT);

	static const char bad[] = "-----BEGIN CERTIFICATE-----\nMII*\n-----END CERTIFICATE-----\n";
	write_file(in_dir("bad.pem"), bad, sizeof(bad) - 1);
	tr.ca_bundle = in_dir("bad.pem");
	T_EXPECT(net_tls_new(sv[0], "localhost", "localhost", &tr, 1000, &e) == NULL);
	T_EXPECT_INT(e.code, EINVAL);
	snprintf(want, sizeof(want), "TLS with localhost: %s/bad.pem: invalid PEM data", dir);
	T_EXPECT_STR(e.msg, want);

	/* bounded: 1 MiB of PEM, 512 certificates */
	static char big[(1 << 20) + 1];
	memset(big, '\n', sizeof(big));
	write_file(in_dir("big.pem"), big, sizeof(big));
	tr.ca_bundle = in_dir("big.pem");
	T_EXPECT(net_tls_new(sv[0], "localhost", "localhost", &tr, 1000, &e) == NULL);
	snprintf(want, sizeof(want), "TLS with localhost: %s/big.pem: larger than 1024 KiB", dir);
	T_EXPECT_STR(e.msg, want);

	FILE *in = fopen(in_dir("caec.pem"), "r");
	size_t n = in ? fread(big, 1, 4096, in) : 0;
	if (in)
		fclose(in);
	FILE *many = fopen(in_dir("many.pem"), "w");
	for (int i = 0; many && i < 513; i++)
		fwrite(big, 1, n, many);
	if (many)
		fclose(many);
	tr.ca_bundle = in_dir("many.pem");
	T_EXPECT(net_tls_new(sv[0], "localhost", "localhost", &tr, 1000, &e) == NULL);
	T_EXPECT_INT(e.code, E2BIG);
	snprintf(want, sizeof(want), "TLS with localhost: %s/many.pem: more than 512 certificates",
		 dir);
	T_EXPECT_STR(e.msg, want);

	/* 512 are fine; a session only reads the file */
	many = fopen(in_dir("many.pem"), "w");
	for (int i = 0; many && i < 512; i++)
		fwrite(big, 1, n, many);
	if (many)
		fclose(many);
	struct net_tls *t = net_tls_new(sv[0], "localhost", "localhost", &tr, 1000, &e);
	T_EXPECT(t != NULL);
	net_tls_free(t);
	net_tls_free(NULL);
	close(sv[0]);
	close(sv[1]);
}

static bool have_openssl(void)
{
	return system("openssl version >/dev/null 2>&1") == 0;
}

int main(void)
{
	strcpy(dir, "/tmp/berth-tls-XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp");
	atexit(cleanup);
	if (!have_openssl()) {
		no_openssl = "the openssl command is not installed";
	} else {
		char cmd[512];
		write_file(in_dir("gen.sh"), gen_script, sizeof(gen_script) - 1);
		snprintf(cmd, sizeof(cmd), "cd %s && sh gen.sh >gen.log 2>&1", dir);
		certs_ok = system(cmd) == 0;
		if (!certs_ok) {
			puts("# making certificates failed:");
			snprintf(cmd, sizeof(cmd), "sed 's/^/#   /' %s/gen.log | tail -20", dir);
			fflush(stdout);
			system(cmd);
		}
	}
	T_RUN(test_rsa_chain);
	T_RUN(test_ecdsa_chain);
	T_RUN(test_other_suites);
	T_RUN(test_unknown_ca);
	T_RUN(test_validity);
	T_RUN(test_name_mismatch);
	T_RUN(test_certs_d);
	T_RUN(test_bundle_reload);
	T_RUN(test_handshake_failure);
	T_RUN(test_sni);
	T_RUN(test_timeout);
	T_RUN(test_trust_errors);
	return T_DONE();
}
