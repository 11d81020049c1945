/* Unit tests for net/tls_server.c: loading the CA, chain and key files (EC
 * and RSA keys in each PEM form, and what is refused), and handshakes with
 * curl as the client: with the right client certificate the relay carries a
 * request and its answer; without one, or with another CA's, the handshake
 * fails with the reason. Certificates are made at run time by openssl. */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/tls_server.h"
#include "tap.h"

static char dir[64];
static const char *no_tools; /* why the tests that need openssl and curl skip */

static const char gen_script[] =
	"set -e\n"
	"ec() { openssl ecparam -name prime256v1 -genkey -noout -out \"$1\"; }\n"
	"printf 'subjectAltName=IP:127.0.0.1\\n' >srv.ext\n"
	"printf 'extendedKeyUsage=clientAuth\\n' >cli.ext\n"
	"ec ca.key\n"
	"openssl req -x509 -new -key ca.key -sha256 -days 2 -subj /CN=ca -out ca.pem\n"
	"ec other.key\n"
	"openssl req -x509 -new -key other.key -sha256 -days 2 -subj /CN=other -out other.pem\n"
	/* RSA as PKCS#1 ("RSA PRIVATE KEY") */
	"openssl genrsa -traditional -out rsa.key 2048\n"
	"openssl req -new -key rsa.key -subj /CN=rsa -out rsa.csr\n"
	"openssl x509 -req -in rsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
	"-extfile srv.ext -out rsa.pem\n"
	/* EC as SEC1 after an "EC PARAMETERS" block, as openssl ecparam writes it */
	"openssl ecparam -name prime256v1 -genkey -out ec.key\n"
	"openssl req -new -key ec.key -subj /CN=ec -out ec.csr\n"
	"openssl x509 -req -in ec.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
	"-extfile srv.ext -out ec.pem\n"
	/* EC as PKCS#8 ("PRIVATE KEY"), and encrypted */
	"openssl pkcs8 -topk8 -nocrypt -in ec.key -out ec8.key\n"
	"openssl pkcs8 -topk8 -passout pass:x -in ec.key -out enc.key\n"
	"cat ec.pem ca.pem >chain.pem\n"
	"ec cli.key\n"
	"openssl req -new -key cli.key -subj /CN=cli -out cli.csr\n"
	"openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
	"-extfile cli.ext -out cli.pem\n"
	"ec rogue.key\n"
	"openssl req -new -key rogue.key -subj /CN=cli -out rogue.csr\n"
	"openssl x509 -req -in rogue.csr -CA other.pem -CAkey other.key -CAcreateserial -days 2 "
	"-extfile cli.ext -out rogue.pem\n"
	"printf -- '-----BEGIN CERTIFICATE-----\\n!!!\\n' >bad.pem\n";

static const char *in_dir(const char *name)
{
	static char bufs[16][256];
	static unsigned next;
	char *b = bufs[next++ % 16];
	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void cleanup(void)
{
	if (dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Loads; returns the error message ("" when it loaded). */
static const char *load(const char *ca, const char *cert, const char *key)
{
	static struct berr e;
	berr_clear(&e);
	struct net_tls_server *s = net_tls_server_new(in_dir(ca), in_dir(cert), in_dir(key), &e);
	net_tls_server_free(s);
	return s ? "" : e.msg;
}

static void test_load(void)
{
	if (no_tools)
		return t_skip(no_tools);
	T_EXPECT_STR(load("ca.pem", "rsa.pem", "rsa.key"), "");
	T_EXPECT_STR(load("ca.pem", "ec.pem", "ec.key"), "");
	T_EXPECT_STR(load("ca.pem", "ec.pem", "ec8.key"), "");
	T_EXPECT_STR(load("ca.pem", "chain.pem", "ec.key"), "");
}

static bool has(const char *msg, const char *part)
{
	if (strstr(msg, part))
		return true;
	printf("#   got \"%s\"\n", msg);
	return false;
}

static void test_load_errors(void)
{
	if (no_tools)
		return t_skip(no_tools);
	T_EXPECT(has(load("nope.pem", "ec.pem", "ec.key"), "nope.pem"));
	T_EXPECT(has(load("ec.key", "ec.pem", "ec.key"), "no CA certificate"));
	T_EXPECT(has(load("ca.pem", "ec.key", "ec.key"), "no certificate"));
	T_EXPECT(has(load("ca.pem", "ec.pem", "ec.pem"), "no private key"));
	T_EXPECT(has(load("ca.pem", "ec.pem", "cli.key"), "not the key of the certificate"));
	T_EXPECT(has(load("ca.pem", "rsa.pem", "ec.key"), "not the key of the certificate"));
	T_EXPECT(has(load("ca.pem", "ec.pem", "enc.key"), "encrypted keys are not supported"));
	T_EXPECT(has(load("ca.pem", "bad.pem", "ec.key"), "bad.pem"));
}

/* Serves one connection with the given server files: a child accepts, runs
 * the handshake and relays to a backend that answers one request with
 * "HTTP/1.0 200 OK ... hello". curl runs with curl_args; its output is
 * returned in out and the server's error (or "") in msg. */
static int serve_one(const char *cert, const char *key, const char *curl_args, char *out,
		     size_t outlen, char *msg, size_t msglen)
{
	struct berr e = { 0 };
	struct net_tls_server *s =
		net_tls_server_new(in_dir("ca.pem"), in_dir(cert), in_dir(key), &e);
	if (!s) {
		snprintf(msg, msglen, "load: %s", e.msg);
		return -1;
	}
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int rp[2];
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 4) ||
	    getsockname(lfd, (struct sockaddr *)&a, &al) || pipe(rp))
		return -1;
	pid_t srv = fork();
	if (srv == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(rp[0]);
		int fd = accept(lfd, NULL, NULL);
		int sv[2];
		socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
		if (fork() == 0) {
			close(fd);
			close(sv[0]);
			char req[4096];
			size_t n = 0;
			ssize_t r;
			while (n < sizeof(req) - 1 &&
			       (r = read(sv[1], req + n, sizeof(req) - 1 - n)) > 0) {
				n += (size_t)r;
				req[n] = '\0';
				if (strstr(req, "\r\n\r\n"))
					break;
			}
			static const char ans[] =
				"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello";
			if (write(sv[1], ans, sizeof(ans) - 1) < 0)
				_exit(1);
			_exit(0);
		}
		close(sv[1]);
		struct net_tls_session *c = net_tls_server_accept(s, fd, 5000, &e);
		int rc = c ? net_tls_session_relay(c, sv[0], 5000, &e) : -1;
		net_tls_session_free(c);
		dprintf(rp[1], "%s", rc < 0 ? e.msg : "");
		_exit(rc < 0);
	}
	close(rp[1]);
	close(lfd);
	net_tls_server_free(s);
	char cmd[1024];
	snprintf(
		cmd, sizeof(cmd),
		"cd %s && curl -s --max-time 10 --cacert ca.pem %s https://127.0.0.1:%d/x 2>/dev/null",
		dir, curl_args, ntohs(a.sin_port));
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(out, 1, outlen - 1, p) : 0;
	out[n] = '\0';
	int crc = p ? pclose(p) : -1;
	ssize_t m = read(rp[0], msg, msglen - 1);
	msg[m > 0 ? m : 0] = '\0';
	close(rp[0]);
	waitpid(srv, NULL, 0);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return crc;
}

static void test_handshakes(void)
{
	if (no_tools)
		return t_skip(no_tools);
	char out[256], msg[256];
	int rc = serve_one("rsa.pem", "rsa.key", "--cert cli.pem --key cli.key", out, sizeof(out),
			   msg, sizeof(msg));
	T_EXPECT_INT(rc, 0);
	T_EXPECT_STR(out, "hello");
	T_EXPECT_STR(msg, "");
	rc = serve_one("chain.pem", "ec8.key", "--cert cli.pem --key cli.key", out, sizeof(out),
		       msg, sizeof(msg));
	T_EXPECT_INT(rc, 0);
	T_EXPECT_STR(out, "hello");
	rc = serve_one("ec.pem", "ec.key", "", out, sizeof(out), msg, sizeof(msg));
	T_EXPECT(rc != 0);
	T_EXPECT_STR(out, "");
	T_EXPECT_STR(msg, "no client certificate");
	rc = serve_one("ec.pem", "ec.key", "--cert rogue.pem --key rogue.key", out, sizeof(out),
		       msg, sizeof(msg));
	T_EXPECT(rc != 0);
	T_EXPECT_STR(out, "");
	T_EXPECT_STR(msg, "unknown certificate authority");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	strcpy(dir, "/tmp/berth-tlss-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	atexit(cleanup);
	if (system("command -v openssl >/dev/null && command -v curl >/dev/null") != 0) {
		no_tools = "needs the openssl and curl commands";
	} else {
		FILE *f = fopen(in_dir("gen.sh"), "w");
		if (f) {
			fwrite(gen_script, 1, sizeof(gen_script) - 1, f);
			fclose(f);
		}
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "cd %s && sh gen.sh >gen.log 2>&1", dir);
		if (system(cmd) != 0)
			no_tools = "making the certificates with openssl failed";
	}
	T_RUN(test_load);
	T_RUN(test_load_errors);
	T_RUN(test_handshakes);
	return T_DONE();
}
