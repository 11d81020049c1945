/* Client connections: TCP with poll() deadlines, TLS through net/tls. */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int net_wait_fd(int fd, short ev, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		int left = timeout_ms;
		if (timeout_ms > 0) {
			int64_t d = deadline - now_ms();
			left = d < 0 ? 0 : (int)d;
		}
		struct pollfd p = { .fd = fd, .events = ev };
		int r = poll(&p, 1, left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		r = errno == EINPROGRESS ? net_wait_fd(fd, POLLOUT, timeout_ms) : -errno;
		if (r == 0) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
			r = -soerr;
		}
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int net_conn_open(struct net_conn *c, const char *host, uint16_t port, bool tls,
		  const struct net_tls_trust *trust, const char *certs_name, int timeout_ms,
		  struct berr *err)
{
	c->fd = -1;
	c->tls = NULL;
	c->timeout_ms = timeout_ms;
	if (tls && !CONFIG_TLS)
		return berr_setmsg(err, ENOTSUP, "https://%s: TLS is not part of this build", host);

	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%u", port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int g = getaddrinfo(host, portstr, &hints, &res);
	if (g != 0)
		return berr_setmsg(err, EHOSTUNREACH, "resolve %s: %s", host, gai_strerror(g));
	int fd = -ETIMEDOUT;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, timeout_ms);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return berr_set(err, -fd, "connect %s:%u", host, port);
	c->fd = fd;
	if (tls && CONFIG_TLS) {
		char hostport[300];
		if (certs_name)
			snprintf(hostport, sizeof(hostport), "%s", certs_name);
		else if (port == 443)
			snprintf(hostport, sizeof(hostport), "%s", host);
		else
			snprintf(hostport, sizeof(hostport), "%s:%u", host, port);
		c->tls = net_tls_new(fd, host, hostport, trust, timeout_ms, err);
		if (!c->tls) {
			net_conn_close(c);
			return -(err && err->code ? err->code : EPROTO);
		}
	}
	return 0;
}

int net_conn_open_unix(struct net_conn *c, const char *path, int timeout_ms, struct berr *err)
{
	c->tls = NULL;
	c->timeout_ms = timeout_ms;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return berr_setmsg(err, ENAMETOOLONG, "unix://%s: socket path too long", path);
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return berr_set(err, errno, "socket");
	/* a full backlog is EAGAIN on a UNIX socket: try again until the deadline */
	int64_t deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	while (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (e == EINTR || (e == EAGAIN && now_ms() < deadline)) {
			poll(NULL, 0, 10);
			continue;
		}
		net_conn_close(c);
		return berr_set(err, e, "connect unix://%s", path);
	}
	return 0;
}

ssize_t net_conn_read(struct net_conn *c, void *buf, size_t len, struct berr *err)
{
	if (CONFIG_TLS && c->tls)
		return net_tls_read(c->tls, buf, len, err);
	for (;;) {
		ssize_t n = read(c->fd, buf, len);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return berr_set(err, errno, "read");
		int r = net_wait_fd(c->fd, POLLIN, c->timeout_ms);
		if (r < 0)
			return berr_set(err, -r, "read");
	}
}

int net_conn_write_all(struct net_conn *c, const void *buf, size_t len, struct berr *err)
{
	if (CONFIG_TLS && c->tls)
		return net_tls_write_all(c->tls, buf, len, err);
	const char *p = buf;
	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return berr_set(err, errno, "write");
		int r = net_wait_fd(c->fd, POLLOUT, c->timeout_ms);
		if (r < 0)
			return berr_set(err, -r, "write");
	}
	return 0;
}

void net_conn_close(struct net_conn *c)
{
	if (CONFIG_TLS && c->tls)
		net_tls_free(c->tls);
	c->tls = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}
