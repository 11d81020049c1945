/* Unit tests for net/proxy.c on loopback: the proxy runs in this process,
 * driven through its poll interface; echo servers run in forked children. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/proxy.h"
#include "tap.h"

#define DEADLINE_MS 10000 /* generous: only a broken proxy takes this long */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static struct in_addr loopback(void)
{
	return (struct in_addr){ .s_addr = htonl(INADDR_LOOPBACK) };
}

static struct sockaddr_in lo_addr(uint16_t port)
{
	return (struct sockaddr_in){ .sin_family = AF_INET,
				     .sin_addr = loopback(),
				     .sin_port = htons(port) };
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &l);
	return ntohs(a.sin_port);
}

/* A socket of type bound to 127.0.0.1 on a port the kernel picks. */
static int bound_socket(int type, uint16_t *port)
{
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = lo_addr(0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		exit(2);
	*port = bound_port(fd);
	return fd;
}

/* One poll round of the proxy alone, waiting at most ms. */
static void pump(struct net_proxy *p, int ms)
{
	if (!p) {
		poll(NULL, 0, ms);
		return;
	}
	struct pollfd fds[NET_PROXY_PORTS_MAX + 2 * NET_PROXY_TCP_MAX + NET_PROXY_UDP_FLOWS];
	int n = net_proxy_pollfds(p, fds, (int)(sizeof(fds) / sizeof(fds[0])));
	int t = net_proxy_timeout_ms(p);
	if (t < 0 || t > ms)
		t = ms;
	int r = poll(fds, (nfds_t)n, t);
	net_proxy_handle(p, fds, r > 0 ? n : 0);
}

/* --- servers --------------------------------------------------------------- */

enum server_mode {
	ECHO,   /* echoes everything, closes at EOF */
	BANNER, /* sends "banner", shuts down its writing side, then passes what
		 * it still reads before EOF on to the result pipe */
};

struct server {
	pid_t pid;
	uint16_t port;
	int result; /* BANNER: what the connections sent after the banner */
	int gate;   /* with gated: connections are not read before a byte here */
};

static void server_run(enum server_mode mode, int lfd, int result, int gate)
{
	enum { MAXC = 1024, FIRST = 2 };
	static struct pollfd fds[MAXC];
	int n = FIRST;
	fds[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	fds[1] = (struct pollfd){ .fd = gate, .events = POLLIN }; /* -1: ignored */
	bool go = gate < 0;
	static char buf[65536];
	for (;;) {
		if (poll(fds, (nfds_t)(go ? n : FIRST), -1) < 0)
			continue;
		for (int i = go ? n - 1 : -1; i >= FIRST; i--) {
			if (!fds[i].revents)
				continue;
			ssize_t r = read(fds[i].fd, buf, sizeof(buf));
			if (r > 0 && mode == ECHO) {
				for (ssize_t off = 0; off < r;) {
					ssize_t w = write(fds[i].fd, buf + off, (size_t)(r - off));
					if (w <= 0)
						break;
					off += w;
				}
				continue;
			}
			if (r > 0) {
				if (write(result, buf, (size_t)r) < 0)
					_exit(1);
				continue;
			}
			close(fds[i].fd);
			fds[i] = fds[--n];
		}
		if (fds[1].revents) {
			go = true;
			fds[1].fd = -1;
		}
		if (fds[0].revents & POLLIN) {
			int c = accept(lfd, NULL, NULL);
			if (c >= 0 && n < MAXC) {
				fds[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
				if (mode == BANNER) {
					if (write(c, "banner", 6) != 6)
						_exit(1);
					shutdown(c, SHUT_WR);
				}
			} else if (c >= 0) {
				close(c);
			}
		}
	}
}

static struct server tcp_server(enum server_mode mode, bool gated)
{
	struct server s = { .result = -1, .gate = -1 };
	int lfd = bound_socket(SOCK_STREAM, &s.port);
	/* A slow reader should not hide behind megabytes of kernel buffer. */
	int small = 16384;
	if (gated)
		setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	int rp[2], gp[2] = { -1, -1 };
	if (listen(lfd, 1024) < 0 || pipe(rp) < 0 || (gated && pipe(gp) < 0))
		exit(2);
	fflush(stdout);
	s.pid = fork();
	if (s.pid < 0)
		exit(2);
	if (s.pid == 0) {
		close(rp[0]);
		if (gated)
			close(gp[1]);
		server_run(mode, lfd, rp[1], gp[0]);
	}
	close(lfd);
	close(rp[1]);
	s.result = rp[0];
	fcntl(s.result, F_SETFL, O_NONBLOCK);
	if (gated) {
		close(gp[0]);
		s.gate = gp[1];
	}
	return s;
}

/* Replies to each datagram with "<payload>@<source port>". */
static pid_t udp_server(uint16_t *port)
{
	int fd = bound_socket(SOCK_DGRAM, port);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		exit(2);
	if (pid > 0) {
		close(fd);
		return pid;
	}
	for (;;) {
		char buf[2048], out[2100];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t r = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &fl);
		if (r < 0)
			continue;
		buf[r] = '\0';
		int l = snprintf(out, sizeof(out), "%s@%u", buf, ntohs(from.sin_port));
		sendto(fd, out, (size_t)l, 0, (struct sockaddr *)&from, fl);
	}
}

static void server_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void tcp_server_stop(struct server *s)
{
	server_stop(s->pid);
	close(s->result);
	if (s->gate >= 0)
		close(s->gate);
}

/* --- clients --------------------------------------------------------------- */

static int tcp_client(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = lo_addr(port);
	/* The kernel completes the handshake from the listen backlog, before
	 * the proxy accepts, so a blocking connect does not need the loop. */
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		exit(2);
	return fd;
}

/* Reads from fd while pumping the proxy until want bytes came, EOF (*eof)
 * or an error (*eof too, since the connection is over) or the deadline.
 * Returns the bytes read. */
static size_t recv_pumped(struct net_proxy *p, int fd, char *buf, size_t want, bool *eof)
{
	size_t got = 0;
	*eof = false;
	int64_t end = mono_ms() + DEADLINE_MS;
	while (got < want && mono_ms() < end) {
		ssize_t r = recv(fd, buf + got, want - got, MSG_DONTWAIT);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			*eof = true;
			break;
		}
		pump(p, 20);
	}
	return got;
}

/* Pumps until the process has want_fds descriptors open (connections the
 * proxy closes); returns the count reached. */
static int settle_fds(struct net_proxy *p, int want_fds)
{
	int64_t end = mono_ms() + DEADLINE_MS;
	int n;
	while ((n = fd_count()) != want_fds && mono_ms() < end)
		pump(p, 20);
	return n;
}

static struct net_proxy *tcp_proxy(uint16_t target_port, uint16_t *port)
{
	struct net_proxy_port pp = { .proto = IPPROTO_TCP,
				     .host_ip = loopback(),
				     .target_ip = loopback(),
				     .target_port = target_port };
	struct berr e = { 0 };
	struct net_proxy *p = net_proxy_new(&pp, 1, &e);
	if (!p) {
		printf("# net_proxy_new: %s\n", e.msg);
		exit(2);
	}
	*port = net_proxy_host_port(p, 0);
	return p;
}

/* --- TCP ------------------------------------------------------------------- */

static void test_tcp_forwards_both_ways(void)
{
	struct server s = tcp_server(ECHO, false);
	uint16_t pport;
	struct net_proxy *p = tcp_proxy(s.port, &pport);
	T_EXPECT(pport != 0);
	int base = fd_count();

	/* 1 MiB both ways, much more than the proxy's buffers, written and read
	 * at once so neither side's buffers have to hold it all. */
	enum { TOTAL = 1 << 20 };
	char *out = malloc(TOTAL), *in = malloc(TOTAL);
	for (size_t i = 0; i < TOTAL; i++)
		out[i] = (char)(i * 7 + i / 4096);
	int c = tcp_client(pport);
	size_t sent = 0, got = 0;
	int64_t end = mono_ms() + DEADLINE_MS;
	while (got < TOTAL && mono_ms() < end) {
		if (sent < TOTAL) {
			ssize_t w = send(c, out + sent, TOTAL - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				sent += (size_t)w;
		}
		ssize_t r = recv(c, in + got, TOTAL - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0)
			break;
		pump(p, 5);
	}
	T_EXPECT_INT(got, TOTAL);
	T_EXPECT(!memcmp(in, out, TOTAL));
	/* While open: client, proxy's client side and target side. */
	T_EXPECT_INT(fd_count(), base + 3);
	close(c);
	/* Client's close travels to the server, the server's back: all closed. */
	T_EXPECT_INT(settle_fds(p, base), base);
	free(out);
	free(in);
	net_proxy_free(p);
	tcp_server_stop(&s);
}

/* Reads want bytes from a server's result pipe while pumping the proxy. */
static size_t result_pumped(struct net_proxy *p, struct server *s, char *buf, size_t want,
			    size_t chunk)
{
	size_t got = 0;
	int64_t end = mono_ms() + DEADLINE_MS;
	while (got < want && mono_ms() < end) {
		ssize_t r = read(s->result, buf + got, want - got < chunk ? want - got : chunk);
		if (r > 0)
			got += (size_t)r;
		pump(p, 5);
	}
	return got;
}

static void test_tcp_half_close_both_directions(void)
{
	struct server s = tcp_server(ECHO, false);
	uint16_t pport;
	struct net_proxy *p = tcp_proxy(s.port, &pport);
	int base = fd_count();
	char buf[64] = { 0 };
	bool eof;

	/* Client to target: the server only closes once it sees our EOF. */
	int c = tcp_client(pport);
	T_EXPECT_INT(send(c, "hello", 5, MSG_NOSIGNAL), 5);
	T_EXPECT_INT(shutdown(c, SHUT_WR), 0);
	T_EXPECT_INT(recv_pumped(p, c, buf, sizeof(buf), &eof), 5);
	T_EXPECT(eof);
	T_EXPECT(!memcmp(buf, "hello", 5));
	close(c);
	T_EXPECT_INT(settle_fds(p, base), base);
	net_proxy_free(p);
	tcp_server_stop(&s);

	/* Target to client: the server says its piece and shuts down writing;
	 * the client sees EOF but can still send, and the server gets it. */
	s = tcp_server(BANNER, false);
	p = tcp_proxy(s.port, &pport);
	base = fd_count();
	c = tcp_client(pport);
	memset(buf, 0, sizeof(buf));
	T_EXPECT_INT(recv_pumped(p, c, buf, sizeof(buf), &eof), 6);
	T_EXPECT(eof);
	T_EXPECT_STR(buf, "banner");
	T_EXPECT_INT(send(c, "after", 5, MSG_NOSIGNAL), 5);
	T_EXPECT_INT(shutdown(c, SHUT_WR), 0);
	memset(buf, 0, sizeof(buf));
	T_EXPECT_INT(result_pumped(p, &s, buf, 5, 5), 5);
	T_EXPECT_STR(buf, "after");
	close(c);
	T_EXPECT_INT(settle_fds(p, base), base);
	net_proxy_free(p);
	tcp_server_stop(&s);
}

static void test_tcp_upload_after_target_finished_sending(void)
{
	/* The target has said all it will and shut down its side, and reads
	 * nothing yet. The client uploads until every buffer on the way is
	 * full (the proxy's too) and closes, so the proxy's client socket is
	 * shut both ways (poll says HUP on it) while data for the target is
	 * still queued behind it. Every byte must reach the target once it
	 * reads. */
	struct server s = tcp_server(BANNER, true);
	uint16_t pport;
	struct net_proxy *p = tcp_proxy(s.port, &pport);
	int base = fd_count();
	int c = tcp_client(pport);
	char buf[64] = { 0 };
	bool eof;
	T_EXPECT_INT(recv_pumped(p, c, buf, sizeof(buf), &eof), 6);
	T_EXPECT(eof);

	enum { CAP = 32 << 20 };
	char *up = malloc(CAP);
	for (size_t i = 0; i < CAP; i++)
		up[i] = (char)(i % 251);
	size_t sent = 0;
	for (int idle = 0; sent < CAP && idle < 20;) {
		ssize_t w = send(c, up + sent, CAP - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
			idle = 0;
		} else {
			idle++;
		}
		pump(p, 5);
	}
	close(c);
	T_EXPECT_INT(write(s.gate, "g", 1), 1);
	/* Drained slowly, so the target stays the bottleneck to the end. */
	char *seen = malloc(sent);
	T_EXPECT_INT(result_pumped(p, &s, seen, sent, 32768), sent);
	T_EXPECT(!memcmp(seen, up, sent));
	T_EXPECT_INT(settle_fds(p, base), base);
	free(up);
	free(seen);
	net_proxy_free(p);
	tcp_server_stop(&s);
}

static void test_tcp_connection_limit(void)
{
	struct server s = tcp_server(ECHO, false);
	uint16_t pport;
	struct net_proxy *p = tcp_proxy(s.port, &pport);
	int base = fd_count();
	static int c[NET_PROXY_TCP_MAX];
	char b;
	bool eof;
	int echoed = 0;
	for (int i = 0; i < NET_PROXY_TCP_MAX; i++) {
		c[i] = tcp_client(pport);
		b = (char)i;
		send(c[i], &b, 1, MSG_NOSIGNAL);
		char r = 0;
		echoed += recv_pumped(p, c[i], &r, 1, &eof) == 1 && r == (char)i;
	}
	T_EXPECT_INT(echoed, NET_PROXY_TCP_MAX);
	T_EXPECT_INT(fd_count(), base + 3 * NET_PROXY_TCP_MAX);

	/* One more: accepted and closed, so the client sees EOF right away. */
	int extra = tcp_client(pport);
	char r;
	T_EXPECT_INT(recv_pumped(p, extra, &r, 1, &eof), 0);
	T_EXPECT(eof);
	close(extra);

	/* A slot freed is a slot for the next client. */
	close(c[0]);
	T_EXPECT_INT(settle_fds(p, base + 3 * (NET_PROXY_TCP_MAX - 1)),
		     base + 3 * (NET_PROXY_TCP_MAX - 1));
	c[0] = tcp_client(pport);
	T_EXPECT_INT(send(c[0], "z", 1, MSG_NOSIGNAL), 1);
	r = 0;
	T_EXPECT_INT(recv_pumped(p, c[0], &r, 1, &eof), 1);
	T_EXPECT_INT(r, 'z');
	/* The others are still served. */
	T_EXPECT_INT(send(c[NET_PROXY_TCP_MAX - 1], "y", 1, MSG_NOSIGNAL), 1);
	r = 0;
	T_EXPECT_INT(recv_pumped(p, c[NET_PROXY_TCP_MAX - 1], &r, 1, &eof), 1);
	T_EXPECT_INT(r, 'y');

	for (int i = 0; i < NET_PROXY_TCP_MAX; i++)
		close(c[i]);
	T_EXPECT_INT(settle_fds(p, base), base);
	net_proxy_free(p);
	tcp_server_stop(&s);
}

static void test_tcp_target_refused_closes_client(void)
{
	/* Bound but not listening: connecting to it is refused. */
	uint16_t dead;
	int hole = bound_socket(SOCK_STREAM, &dead);
	uint16_t pport;
	struct net_proxy *p = tcp_proxy(dead, &pport);
	int base = fd_count();
	int c = tcp_client(pport);
	char buf[8];
	bool eof;
	T_EXPECT_INT(recv_pumped(p, c, buf, sizeof(buf), &eof), 0);
	T_EXPECT(eof);
	close(c);
	T_EXPECT_INT(settle_fds(p, base), base);
	net_proxy_free(p);
	close(hole);
}

static void test_tcp_accept_rests_when_out_of_fds(void)
{
	struct server s = tcp_server(ECHO, false);
	uint16_t pport;
	struct net_proxy *p = tcp_proxy(s.port, &pport);
	int c = tcp_client(pport);
	T_EXPECT_INT(send(c, "m", 1, MSG_NOSIGNAL), 1);

	/* No descriptor left for accept: the client stays in the backlog and
	 * the listener is left out of the poll set for a moment instead of
	 * waking the loop again and again. */
	struct rlimit old, low;
	getrlimit(RLIMIT_NOFILE, &old);
	int lowest = open("/dev/null", O_RDONLY);
	close(lowest);
	low = old;
	low.rlim_cur = (rlim_t)lowest;
	T_EXPECT_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
	pump(p, 1000);
	int t = net_proxy_timeout_ms(p);
	struct pollfd fds[4];
	int n = net_proxy_pollfds(p, fds, 4);
	setrlimit(RLIMIT_NOFILE, &old);
	T_EXPECT(t > 0 && t <= NET_PROXY_ACCEPT_PAUSE_MS);
	T_EXPECT_INT(n, 0);

	/* Afterwards the client is served. */
	char r = 0;
	bool eof;
	T_EXPECT_INT(recv_pumped(p, c, &r, 1, &eof), 1);
	T_EXPECT_INT(r, 'm');
	close(c);
	net_proxy_free(p);
	tcp_server_stop(&s);
}

static void test_free_closes_everything(void)
{
	struct server s = tcp_server(ECHO, false);
	int before = fd_count();
	uint16_t pport;
	struct net_proxy *p = tcp_proxy(s.port, &pport);
	int c = tcp_client(pport);
	char r;
	bool eof;
	T_EXPECT_INT(send(c, "q", 1, MSG_NOSIGNAL), 1);
	T_EXPECT_INT(recv_pumped(p, c, &r, 1, &eof), 1);
	net_proxy_free(p); /* with a connection in flight */
	T_EXPECT_INT(recv_pumped(NULL, c, &r, 1, &eof), 0);
	T_EXPECT(eof);
	close(c);
	T_EXPECT_INT(fd_count(), before);
	tcp_server_stop(&s);
}

/* --- UDP ------------------------------------------------------------------- */

static struct net_proxy *udp_proxy(uint16_t target_port, uint16_t *port)
{
	struct net_proxy_port pp = { .proto = IPPROTO_UDP,
				     .host_ip = loopback(),
				     .target_ip = loopback(),
				     .target_port = target_port };
	struct berr e = { 0 };
	struct net_proxy *p = net_proxy_new(&pp, 1, &e);
	if (!p) {
		printf("# net_proxy_new: %s\n", e.msg);
		exit(2);
	}
	*port = net_proxy_host_port(p, 0);
	return p;
}

static int udp_client(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		exit(2);
	return fd;
}

/* Sends msg to the proxy and returns the reply's source-port part (the
 * flow's port as the server saw it), or -1 when no right reply came. */
static long udp_roundtrip(struct net_proxy *p, int fd, uint16_t pport, const char *msg)
{
	struct sockaddr_in a = lo_addr(pport);
	if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	int64_t end = mono_ms() + DEADLINE_MS;
	while (mono_ms() < end) {
		char buf[128];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t r = recvfrom(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		if (r < 0) {
			pump(p, 20);
			continue;
		}
		buf[r] = '\0';
		char *at = strrchr(buf, '@');
		/* The reply must come from the published port, to this client. */
		if (!at || ntohs(from.sin_port) != pport || (size_t)(at - buf) != strlen(msg) ||
		    memcmp(buf, msg, strlen(msg)))
			return -1;
		return strtol(at + 1, NULL, 10);
	}
	return -1;
}

static void test_udp_two_clients_get_their_own_replies(void)
{
	uint16_t sport, pport;
	pid_t srv = udp_server(&sport);
	struct net_proxy *p = udp_proxy(sport, &pport);
	int a = udp_client(), b = udp_client();
	long fa = udp_roundtrip(p, a, pport, "from-a");
	long fb = udp_roundtrip(p, b, pport, "from-b");
	T_EXPECT(fa > 0);
	T_EXPECT(fb > 0);
	T_EXPECT(fa != fb); /* a flow (socket) per client */
	T_EXPECT_INT(udp_roundtrip(p, a, pport, "again-a"), fa);
	T_EXPECT_INT(udp_roundtrip(p, b, pport, "again-b"), fb);
	/* Nothing stray left for either. */
	char buf[64];
	pump(p, 50);
	T_EXPECT(recv(a, buf, sizeof(buf), MSG_DONTWAIT) < 0);
	T_EXPECT(recv(b, buf, sizeof(buf), MSG_DONTWAIT) < 0);
	close(a);
	close(b);
	net_proxy_free(p);
	server_stop(srv);
}

static void test_udp_replies_come_from_the_address_written_to(void)
{
	/* Listening on every address, reached at 127.0.0.2: the reply must
	 * come from 127.0.0.2 (the route to the client would pick 127.0.0.1),
	 * or a connected client never sees it. */
	uint16_t sport;
	pid_t srv = udp_server(&sport);
	struct net_proxy_port pp = { .proto = IPPROTO_UDP,
				     .host_ip = { htonl(INADDR_ANY) },
				     .target_ip = loopback(),
				     .target_port = sport };
	struct berr e = { 0 };
	struct net_proxy *p = net_proxy_new(&pp, 1, &e);
	T_EXPECT(p != NULL);
	if (!p) {
		server_stop(srv);
		return;
	}
	struct sockaddr_in to = lo_addr(net_proxy_host_port(p, 0));
	to.sin_addr.s_addr = htonl(0x7f000002);
	int c = udp_client();
	T_EXPECT_INT(connect(c, (struct sockaddr *)&to, sizeof(to)), 0);
	T_EXPECT_INT(send(c, "hi", 2, 0), 2);
	char buf[64] = { 0 };
	bool eof;
	T_EXPECT(recv_pumped(p, c, buf, 2, &eof) == 2 && !memcmp(buf, "hi", 2));
	close(c);
	net_proxy_free(p);
	server_stop(srv);
}

static void test_udp_flow_expires_when_idle(void)
{
	uint16_t sport, pport;
	pid_t srv = udp_server(&sport);
	struct net_proxy *p = udp_proxy(sport, &pport);
	net_proxy_set_udp_idle_ms(p, 200);
	int a = udp_client();
	int base = fd_count();
	T_EXPECT_INT(net_proxy_timeout_ms(p), -1);
	T_EXPECT(udp_roundtrip(p, a, pport, "one") > 0);
	T_EXPECT_INT(fd_count(), base + 1); /* the flow's socket */
	int t = net_proxy_timeout_ms(p);
	T_EXPECT(t >= 0 && t <= 200);
	int64_t end = mono_ms() + DEADLINE_MS;
	while (net_proxy_timeout_ms(p) != -1 && mono_ms() < end)
		pump(p, 50);
	T_EXPECT_INT(net_proxy_timeout_ms(p), -1);
	T_EXPECT_INT(fd_count(), base);
	/* The client talks again: a new flow, and it works. */
	T_EXPECT(udp_roundtrip(p, a, pport, "two") > 0);
	T_EXPECT_INT(fd_count(), base + 1);
	close(a);
	net_proxy_free(p);
	server_stop(srv);
}

static void test_udp_flow_table_is_bounded(void)
{
	uint16_t sport, pport;
	pid_t srv = udp_server(&sport);
	struct net_proxy *p = udp_proxy(sport, &pport);
	enum { N = NET_PROXY_UDP_FLOWS + 2 };
	static int c[N];
	int base = fd_count();
	int ok = 0;
	for (int i = 0; i < N; i++) {
		c[i] = udp_client();
		char msg[16];
		snprintf(msg, sizeof(msg), "c%d", i);
		ok += udp_roundtrip(p, c[i], pport, msg) > 0;
	}
	T_EXPECT_INT(ok, N);
	/* N clients, but only NET_PROXY_UDP_FLOWS flow sockets. */
	T_EXPECT_INT(fd_count(), base + N + NET_PROXY_UDP_FLOWS);
	/* The evicted (least recently used) first client still gets through. */
	T_EXPECT(udp_roundtrip(p, c[0], pport, "back") > 0);
	T_EXPECT_INT(fd_count(), base + N + NET_PROXY_UDP_FLOWS);
	for (int i = 0; i < N; i++)
		close(c[i]);
	net_proxy_free(p);
	T_EXPECT_INT(fd_count(), base - 1); /* the proxy's listener is gone too */
	server_stop(srv);
}

/* --- creation -------------------------------------------------------------- */

static void test_port_in_use_leaves_nothing_open(void)
{
	uint16_t busy_tcp, busy_udp, target;
	int t = bound_socket(SOCK_STREAM, &busy_tcp);
	T_EXPECT_INT(listen(t, 1), 0);
	int u = bound_socket(SOCK_DGRAM, &busy_udp);
	int hole = bound_socket(SOCK_STREAM, &target);
	int before = fd_count();
	struct net_proxy_port ports[] = {
		{ IPPROTO_TCP, loopback(), 0, loopback(), target },
		{ IPPROTO_UDP, loopback(), 0, loopback(), target },
		{ IPPROTO_TCP, { htonl(INADDR_ANY) }, busy_tcp, loopback(), target },
	};
	struct berr e = { 0 };
	T_EXPECT(net_proxy_new(ports, 3, &e) == NULL);
	T_EXPECT_INT(e.code, EADDRINUSE);
	char want[128];
	snprintf(want, sizeof(want), "publish 0.0.0.0:%u/tcp: %s", busy_tcp, strerror(EADDRINUSE));
	T_EXPECT_STR(e.msg, want);
	T_EXPECT_INT(fd_count(), before);

	ports[2] = (struct net_proxy_port){ IPPROTO_UDP, loopback(), busy_udp, loopback(), target };
	T_EXPECT(net_proxy_new(ports, 3, &e) == NULL);
	snprintf(want, sizeof(want), "publish 127.0.0.1:%u/udp: %s", busy_udp,
		 strerror(EADDRINUSE));
	T_EXPECT_STR(e.msg, want);
	T_EXPECT_INT(fd_count(), before);

	/* A proxy holds its ports: a second one asking for them fails. */
	struct net_proxy *p = net_proxy_new(ports, 2, &e);
	T_EXPECT(p != NULL);
	int held = fd_count();
	struct net_proxy_port again = { IPPROTO_TCP, loopback(), net_proxy_host_port(p, 0),
					loopback(), target };
	T_EXPECT(net_proxy_new(&again, 1, &e) == NULL);
	T_EXPECT_INT(e.code, EADDRINUSE);
	again = (struct net_proxy_port){ IPPROTO_UDP, loopback(), net_proxy_host_port(p, 1),
					 loopback(), target };
	T_EXPECT(net_proxy_new(&again, 1, &e) == NULL);
	T_EXPECT_INT(e.code, EADDRINUSE);
	T_EXPECT_INT(fd_count(), held);
	net_proxy_free(p);
	T_EXPECT_INT(fd_count(), before);
	close(t);
	close(u);
	close(hole);
}

static void test_bad_arguments(void)
{
	struct berr e = { 0 };
	struct net_proxy_port pp = { IPPROTO_TCP, loopback(), 0, loopback(), 80 };
	T_EXPECT(net_proxy_new(&pp, 0, &e) == NULL);
	T_EXPECT_INT(e.code, EINVAL);
	pp.proto = IPPROTO_SCTP;
	T_EXPECT(net_proxy_new(&pp, 1, &e) == NULL);
	T_EXPECT_INT(e.code, EINVAL);
	pp.proto = IPPROTO_UDP;
	pp.target_port = 0;
	T_EXPECT(net_proxy_new(&pp, 1, &e) == NULL);
	T_EXPECT_INT(e.code, EINVAL);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	/* 256 connections hold three descriptors each here. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2048) {
		rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	T_RUN(test_tcp_forwards_both_ways);
	T_RUN(test_tcp_half_close_both_directions);
	T_RUN(test_tcp_upload_after_target_finished_sending);
	T_RUN(test_tcp_connection_limit);
	T_RUN(test_tcp_target_refused_closes_client);
	T_RUN(test_tcp_accept_rests_when_out_of_fds);
	T_RUN(test_free_closes_everything);
	T_RUN(test_udp_two_clients_get_their_own_replies);
	T_RUN(test_udp_replies_come_from_the_address_written_to);
	T_RUN(test_udp_flow_expires_when_idle);
	T_RUN(test_udp_flow_table_is_bounded);
	T_RUN(test_port_in_use_leaves_nothing_open);
	T_RUN(test_bad_arguments);
	return T_DONE();
}
