/* Userland TCP/UDP forwarder for published ports: listeners, a fixed table of
 * spliced TCP connections and one of UDP flows, driven by the owner's poll
 * loop (design in proxy.h). */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DGRAM_MAX 65535 /* the largest UDP payload, so nothing is truncated */
#define BURST 32        /* accepts or datagrams per readiness, for fairness */

enum conn_state { CONN_FREE, CONN_CONNECTING, CONN_SPLICING };

/* What a pollfd entry was for: kind, table index and the slot's generation
 * when it was filled, so a slot closed and reused within one
 * net_proxy_handle call never gets the old socket's revents. */
enum tag_kind { TAG_LISTENER, TAG_CLIENT, TAG_TARGET, TAG_FLOW };
#define TAG(kind, idx, gen) ((uint32_t)(kind) << 30 | (uint32_t)(idx) << 16 | (uint32_t)(gen))
#define TAG_KIND(t) ((t) >> 30)
#define TAG_IDX(t) (((t) >> 16) & 0x3fff)
#define TAG_GEN(t) ((uint16_t)(t))

/* One direction of a connection: bytes buf[off..off+len) wait to be written. */
struct proxy_dir {
	char *buf;
	uint32_t off, len;
	bool eof;  /* the reading side said EOF */
	bool shut; /* and that was passed on with shutdown(SHUT_WR) */
};

struct proxy_conn {
	int cfd, tfd; /* client, target */
	uint16_t gen;
	uint8_t state;
	bool hup_c, hup_t;         /* poll said HUP: the socket is shut both ways */
	struct proxy_dir up, down; /* client to target, target to client */
};

struct proxy_flow {
	int fd; /* connected to the target; -1 when the slot is free */
	uint16_t gen;
	uint16_t lis; /* listener the client talks to */
	struct sockaddr_in client;
	struct in_addr local; /* the address the client wrote to; 0: the listener's own */
	int64_t last_ms;
};

struct proxy_listener {
	int fd;
	struct net_proxy_port port;
};

struct net_proxy {
	int nlis;
	int udp_idle_ms;
	int ntags;
	int64_t accept_pause_until; /* listeners are not polled before this */
	char *dgram;                /* DGRAM_MAX bytes when there are UDP ports */
	struct proxy_conn conns[NET_PROXY_TCP_MAX];
	struct proxy_flow flows[NET_PROXY_UDP_FLOWS];
	uint32_t *tags; /* what each entry of the last pollfds call was */
	struct proxy_listener lis[];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct sockaddr_in sin_of(struct in_addr ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr = ip, .sin_port = htons(port) };
	return a;
}

static const char *proto_name(int proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

/* --- listeners ------------------------------------------------------------ */

static int listener_open(struct proxy_listener *l, struct berr *err)
{
	const struct net_proxy_port *pp = &l->port;
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &pp->host_ip, ip, sizeof(ip));
	if (pp->proto != IPPROTO_TCP && pp->proto != IPPROTO_UDP)
		return berr_setmsg(err, EINVAL, "publish %s:%u: unknown protocol %d", ip,
				   pp->host_port, pp->proto);
	if (!pp->target_port || pp->target_ip.s_addr == htonl(INADDR_ANY))
		return berr_setmsg(err, EINVAL, "publish %s:%u/%s: no target address", ip,
				   pp->host_port, proto_name(pp->proto));
	int tcp = pp->proto == IPPROTO_TCP;
	l->fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return berr_set(err, errno, "publish %s:%u/%s: socket", ip, pp->host_port,
				proto_name(pp->proto));
	/* Only TCP: on UDP, SO_REUSEADDR would let a second proxy bind the same
	 * port and silently share its datagrams. */
	int one = 1;
	if (tcp)
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	else if (pp->host_ip.s_addr == htonl(INADDR_ANY))
		setsockopt(l->fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	struct sockaddr_in a = sin_of(pp->host_ip, pp->host_port);
	if (bind(l->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (tcp && listen(l->fd, SOMAXCONN) < 0)) {
		int e = errno;
		close(l->fd);
		l->fd = -1;
		return berr_set(err, e, "publish %s:%u/%s", ip, pp->host_port,
				proto_name(pp->proto));
	}
	socklen_t al = sizeof(a);
	if (getsockname(l->fd, (struct sockaddr *)&a, &al) == 0)
		l->port.host_port = ntohs(a.sin_port);
	return 0;
}

struct net_proxy *net_proxy_new(const struct net_proxy_port *ports, int n, struct berr *err)
{
	if (n < 1 || n > NET_PROXY_PORTS_MAX) {
		berr_setmsg(err, EINVAL, "proxy: %d ports (1 to %d)", n, NET_PROXY_PORTS_MAX);
		return NULL;
	}
	struct net_proxy *p = calloc(1, sizeof(*p) + (size_t)n * sizeof(p->lis[0]));
	if (!p) {
		berr_set(err, ENOMEM, "proxy");
		return NULL;
	}
	p->udp_idle_ms = NET_PROXY_UDP_IDLE_MS;
	for (int i = 0; i < NET_PROXY_TCP_MAX; i++)
		p->conns[i].cfd = p->conns[i].tfd = -1;
	for (int i = 0; i < NET_PROXY_UDP_FLOWS; i++)
		p->flows[i].fd = -1;
	for (int i = 0; i < n; i++)
		p->lis[i].fd = -1;
	bool udp = false;
	for (int i = 0; i < n; i++)
		udp |= ports[i].proto == IPPROTO_UDP;
	p->tags = malloc((size_t)(n + 2 * NET_PROXY_TCP_MAX + NET_PROXY_UDP_FLOWS) *
			 sizeof(p->tags[0]));
	p->dgram = udp ? malloc(DGRAM_MAX) : NULL;
	if (!p->tags || (udp && !p->dgram)) {
		berr_set(err, ENOMEM, "proxy");
		net_proxy_free(p);
		return NULL;
	}
	for (; p->nlis < n; p->nlis++) {
		p->lis[p->nlis].port = ports[p->nlis];
		if (listener_open(&p->lis[p->nlis], err) < 0) {
			net_proxy_free(p);
			return NULL;
		}
	}
	return p;
}

uint16_t net_proxy_host_port(const struct net_proxy *p, int i)
{
	return i >= 0 && i < p->nlis ? p->lis[i].port.host_port : 0;
}

void net_proxy_set_udp_idle_ms(struct net_proxy *p, int ms)
{
	if (ms > 0)
		p->udp_idle_ms = ms;
}

/* --- TCP ------------------------------------------------------------------- */

static void conn_close(struct proxy_conn *c)
{
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->tfd >= 0)
		close(c->tfd);
	free(c->up.buf); /* down.buf is the other half of the same allocation */
	uint16_t gen = c->gen + 1;
	*c = (struct proxy_conn){ .cfd = -1, .tfd = -1, .gen = gen, .state = CONN_FREE };
}

static void nodelay(int fd)
{
	/* A forwarder must not add Nagle delays on top of the client's own. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Takes a freshly accepted client; closes it when the target cannot even
 * be tried. */
static void conn_start(struct proxy_conn *c, int cfd, const struct net_proxy_port *pp)
{
	c->cfd = cfd;
	c->up.buf = malloc(2 * NET_PROXY_TCP_BUF);
	c->down.buf = c->up.buf ? c->up.buf + NET_PROXY_TCP_BUF : NULL;
	c->tfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!c->up.buf || c->tfd < 0) {
		conn_close(c);
		return;
	}
	nodelay(cfd);
	nodelay(c->tfd);
	struct sockaddr_in a = sin_of(pp->target_ip, pp->target_port);
	if (connect(c->tfd, (struct sockaddr *)&a, sizeof(a)) == 0) {
		c->state = CONN_SPLICING;
	} else if (errno == EINPROGRESS) {
		c->state = CONN_CONNECTING;
	} else {
		conn_close(c);
	}
}

static void tcp_accept(struct net_proxy *p, struct proxy_listener *l, int64_t now)
{
	for (int i = 0; i < BURST; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				/* The client waits in the backlog; without a pause the
				 * still-readable listener would spin the loop. */
				p->accept_pause_until = now + NET_PROXY_ACCEPT_PAUSE_MS;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		struct proxy_conn *c = NULL;
		for (int k = 0; k < NET_PROXY_TCP_MAX && !c; k++)
			if (p->conns[k].state == CONN_FREE)
				c = &p->conns[k];
		if (!c) {
			close(fd); /* over the limit: the client sees EOF at once */
			continue;
		}
		conn_start(c, fd, &l->port);
	}
}

/* Moves what it can of one direction; returns false on an error that ends
 * the connection. */
static bool dir_pump(struct proxy_dir *d, int from, int to, bool readable)
{
	while (readable && !d->eof) {
		if (d->off + d->len == NET_PROXY_TCP_BUF) {
			if (!d->off)
				break;
			memmove(d->buf, d->buf + d->off, d->len);
			d->off = 0;
		}
		ssize_t r = recv(from, d->buf + d->off + d->len,
				 NET_PROXY_TCP_BUF - d->off - d->len, 0);
		if (r > 0)
			d->len += (uint32_t)r;
		else if (r == 0)
			d->eof = true;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		else if (errno != EINTR)
			return false;
	}
	while (d->len) {
		ssize_t w = send(to, d->buf + d->off, d->len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0)
			return false;
		d->off += (uint32_t)w;
		d->len -= (uint32_t)w;
	}
	if (!d->len)
		d->off = 0;
	if (d->eof && !d->len && !d->shut) {
		shutdown(to, SHUT_WR);
		d->shut = true;
	}
	return true;
}

static void conn_event(struct proxy_conn *c, bool target, short rev)
{
	if (c->state == CONN_CONNECTING) {
		if (!target) {
			if (rev & (POLLERR | POLLHUP))
				conn_close(c); /* the client gave up first */
			return;
		}
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(c->tfd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
			conn_close(c); /* refused or unreachable: the client sees EOF */
			return;
		}
		c->state = CONN_SPLICING;
		rev = POLLIN; /* the client may have sent while we connected */
		target = false;
	}
	if (rev & POLLERR) {
		conn_close(c); /* reset: nothing more can go either way */
		return;
	}
	int from = target ? c->tfd : c->cfd, to = target ? c->cfd : c->tfd;
	struct proxy_dir *in = target ? &c->down : &c->up;  /* read from this socket */
	struct proxy_dir *out = target ? &c->up : &c->down; /* written to it */
	if (!dir_pump(in, from, to, rev & (POLLIN | POLLHUP)) || !dir_pump(out, to, from, false)) {
		conn_close(c);
		return;
	}
	if (rev & POLLHUP) {
		/* Shut both ways. Once its input is read to the end, nothing
		 * buffered for it can be delivered any more. And poll reports HUP
		 * every time, so from now on the socket is polled only while
		 * there is something to do on it (net_proxy_pollfds). */
		if (target)
			c->hup_t = true;
		else
			c->hup_c = true;
		if (in->eof && !out->shut) {
			out->len = 0;
			out->eof = out->shut = true;
		}
	}
	if (c->up.shut && c->down.shut)
		conn_close(c);
}

static short dir_events_in(const struct proxy_dir *d)
{
	return !d->eof && d->off + d->len < NET_PROXY_TCP_BUF ? POLLIN : 0;
}

/* --- UDP ------------------------------------------------------------------- */

static void flow_close(struct proxy_flow *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->gen++;
}

static struct proxy_flow *flow_get(struct net_proxy *p, int lis, const struct sockaddr_in *from,
				   int64_t now)
{
	struct proxy_flow *free_slot = NULL, *oldest = NULL;
	for (int i = 0; i < NET_PROXY_UDP_FLOWS; i++) {
		struct proxy_flow *f = &p->flows[i];
		if (f->fd < 0) {
			if (!free_slot)
				free_slot = f;
			continue;
		}
		if (f->lis == lis && f->client.sin_port == from->sin_port &&
		    f->client.sin_addr.s_addr == from->sin_addr.s_addr)
			return f;
		if (!oldest || f->last_ms < oldest->last_ms)
			oldest = f;
	}
	struct proxy_flow *f = free_slot;
	if (!f) {
		f = oldest; /* table full: the least recently used client starts over */
		flow_close(f);
	}
	const struct net_proxy_port *pp = &p->lis[lis].port;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	struct sockaddr_in a = sin_of(pp->target_ip, pp->target_port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return NULL;
	}
	f->fd = fd;
	f->lis = (uint16_t)lis;
	f->client = *from;
	f->local.s_addr = htonl(INADDR_ANY);
	f->last_ms = now;
	return f;
}

/* A listener on INADDR_ANY learns (IP_PKTINFO) which address each datagram
 * was sent to, so replies leave from that address and not from whichever
 * the route picks: on a board with several interfaces or addresses a client
 * drops replies from an address it did not talk to. */
union pktinfo_cmsg {
	struct cmsghdr h;
	char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
};

static void udp_from_clients(struct net_proxy *p, int lis, int64_t now)
{
	for (int i = 0; i < BURST; i++) {
		struct sockaddr_in from;
		struct iovec iov = { p->dgram, DGRAM_MAX };
		union pktinfo_cmsg cm;
		struct msghdr mh = { .msg_name = &from,
				     .msg_namelen = sizeof(from),
				     .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = cm.buf,
				     .msg_controllen = sizeof(cm.buf) };
		ssize_t r = recvmsg(p->lis[lis].fd, &mh, 0);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOMEM)
				return;
			continue; /* EINTR or an error queued by ICMP: next datagram */
		}
		if (mh.msg_namelen != sizeof(from) || from.sin_family != AF_INET)
			continue;
		struct proxy_flow *f = flow_get(p, lis, &from, now);
		if (!f)
			continue;
		f->last_ms = now;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;
				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				f->local = pi.ipi_spec_dst;
			}
		/* An ICMP error from an earlier datagram is reported by this send
		 * instead of sending it; try once more so this one goes out. */
		if (send(f->fd, p->dgram, (size_t)r, 0) < 0 && errno == ECONNREFUSED)
			send(f->fd, p->dgram, (size_t)r, 0);
	}
}

static void udp_reply(struct net_proxy *p, const struct proxy_flow *f, size_t len)
{
	struct iovec iov = { p->dgram, len };
	union pktinfo_cmsg cm;
	memset(&cm, 0, sizeof(cm));
	struct msghdr mh = { .msg_name = (void *)&f->client,
			     .msg_namelen = sizeof(f->client),
			     .msg_iov = &iov,
			     .msg_iovlen = 1 };
	if (f->local.s_addr != htonl(INADDR_ANY)) {
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
		struct in_pktinfo pi = { .ipi_spec_dst = f->local };
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
	sendmsg(p->lis[f->lis].fd, &mh, 0); /* dropped when it cannot go now */
}

static void udp_from_target(struct net_proxy *p, struct proxy_flow *f, int64_t now)
{
	for (int i = 0; i < BURST; i++) {
		ssize_t r = recv(f->fd, p->dgram, DGRAM_MAX, 0);
		if (r < 0) {
			if (errno == EINTR || errno == ECONNREFUSED)
				continue; /* the target's port is closed for now */
			return;
		}
		f->last_ms = now;
		udp_reply(p, f, (size_t)r);
	}
}

static void flows_expire(struct net_proxy *p, int64_t now)
{
	for (int i = 0; i < NET_PROXY_UDP_FLOWS; i++)
		if (p->flows[i].fd >= 0 && now - p->flows[i].last_ms >= p->udp_idle_ms)
			flow_close(&p->flows[i]);
}

/* --- the loop interface ---------------------------------------------------- */

int net_proxy_pollfds_max(const struct net_proxy *p)
{
	return p->nlis + 2 * NET_PROXY_TCP_MAX + NET_PROXY_UDP_FLOWS;
}

static void put(struct net_proxy *p, struct pollfd *out, int max, int fd, short ev, uint32_t tag)
{
	if (p->ntags >= max)
		return;
	out[p->ntags] = (struct pollfd){ .fd = fd, .events = ev };
	p->tags[p->ntags++] = tag;
}

int net_proxy_pollfds(struct net_proxy *p, struct pollfd *out, int max)
{
	p->ntags = 0;
	if (max > net_proxy_pollfds_max(p))
		max = net_proxy_pollfds_max(p);
	if (now_ms() >= p->accept_pause_until)
		for (int i = 0; i < p->nlis; i++)
			put(p, out, max, p->lis[i].fd, POLLIN, TAG(TAG_LISTENER, i, 0));
	for (int i = 0; i < NET_PROXY_TCP_MAX; i++) {
		struct proxy_conn *c = &p->conns[i];
		if (c->state == CONN_FREE)
			continue;
		short cev = 0, tev = POLLOUT; /* connecting: writable when done */
		if (c->state == CONN_SPLICING) {
			cev = dir_events_in(&c->up) | (c->down.len ? POLLOUT : 0);
			tev = dir_events_in(&c->down) | (c->up.len ? POLLOUT : 0);
		}
		/* Events 0 still reports errors; but after a HUP it would report
		 * that again at once, every time: a busy loop. */
		if (cev || !c->hup_c)
			put(p, out, max, c->cfd, cev, TAG(TAG_CLIENT, i, c->gen));
		if (tev || !c->hup_t)
			put(p, out, max, c->tfd, tev, TAG(TAG_TARGET, i, c->gen));
	}
	for (int i = 0; i < NET_PROXY_UDP_FLOWS; i++)
		if (p->flows[i].fd >= 0)
			put(p, out, max, p->flows[i].fd, POLLIN, TAG(TAG_FLOW, i, p->flows[i].gen));
	return p->ntags;
}

void net_proxy_handle(struct net_proxy *p, const struct pollfd *fds, int n)
{
	int64_t now = now_ms();
	if (n > p->ntags)
		n = p->ntags;
	for (int i = 0; i < n; i++) {
		short rev = fds[i].revents;
		uint32_t t = p->tags[i];
		unsigned idx = TAG_IDX(t);
		if (!rev || (rev & POLLNVAL))
			continue;
		switch (TAG_KIND(t)) {
		case TAG_LISTENER: {
			struct proxy_listener *l = &p->lis[idx];
			if (l->fd != fds[i].fd)
				break;
			if (l->port.proto == IPPROTO_TCP)
				tcp_accept(p, l, now);
			else
				udp_from_clients(p, (int)idx, now);
			break;
		}
		case TAG_CLIENT:
		case TAG_TARGET: {
			struct proxy_conn *c = &p->conns[idx];
			bool target = TAG_KIND(t) == TAG_TARGET;
			if (c->state == CONN_FREE || c->gen != TAG_GEN(t) ||
			    fds[i].fd != (target ? c->tfd : c->cfd))
				break;
			conn_event(c, target, rev);
			break;
		}
		case TAG_FLOW: {
			struct proxy_flow *f = &p->flows[idx];
			if (f->fd < 0 || f->gen != TAG_GEN(t) || f->fd != fds[i].fd)
				break;
			udp_from_target(p, f, now);
			break;
		}
		}
	}
	flows_expire(p, now);
}

int net_proxy_timeout_ms(const struct net_proxy *p)
{
	int64_t now = now_ms(), due = -1;
	if (p->accept_pause_until > now)
		due = p->accept_pause_until;
	for (int i = 0; i < NET_PROXY_UDP_FLOWS; i++) {
		const struct proxy_flow *f = &p->flows[i];
		if (f->fd >= 0 && (due < 0 || f->last_ms + p->udp_idle_ms < due))
			due = f->last_ms + p->udp_idle_ms;
	}
	if (due < 0)
		return -1;
	return due <= now ? 0 : (int)(due - now);
}

void net_proxy_free(struct net_proxy *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nlis; i++)
		if (p->lis[i].fd >= 0)
			close(p->lis[i].fd);
	for (int i = 0; i < NET_PROXY_TCP_MAX; i++)
		if (p->conns[i].state != CONN_FREE)
			conn_close(&p->conns[i]);
	for (int i = 0; i < NET_PROXY_UDP_FLOWS; i++)
		flow_close(&p->flows[i]);
	free(p->tags);
	free(p->dgram);
	free(p);
}
