/* Userland forwarder for published ports (TCP and UDP over IPv4), like
 * docker-proxy, as an event-driven component of a single-threaded poll loop.
 *
 * Design. net_proxy_new binds every host port at once (all or nothing), so
 * holding a port and reporting "address already in use" happen before the
 * container starts. The owner's loop then asks for the descriptors the proxy
 * wants (net_proxy_pollfds), polls them together with its own, and hands the
 * results back (net_proxy_handle); all sockets are non-blocking and nothing
 * in here ever waits.
 *
 * TCP: a readable listener is drained with accept4; each client takes a slot
 * in a fixed table of NET_PROXY_TCP_MAX connections (a client beyond it is
 * accepted and closed at once), and a non-blocking connect to the target
 * starts. A refused or failed connect closes the client (one that gets no
 * answer at all ends after the kernel's SYN retries, about two minutes).
 * Once connected, the bytes of each direction pass through one
 * NET_PROXY_TCP_BUF buffer: read from one socket while the buffer has room,
 * written to the other while it holds data (POLLOUT is asked for only then).
 * EOF on one side becomes shutdown(SHUT_WR) on the other once its buffer is
 * drained, so half-closed protocols work; the connection is closed when both
 * directions are done, or at once on an error (reset) on either socket.
 *
 * UDP: a datagram from a new client address opens a flow: its own socket
 * connected to the target, so the target's replies come back on that socket
 * and are sent to the right client from the listener (and, on an INADDR_ANY
 * listener, from the address the client wrote to, learnt with IP_PKTINFO).
 * Flows live in a fixed table of NET_PROXY_UDP_FLOWS (the least recently
 * used one is evicted for a new client) and are closed after
 * NET_PROXY_UDP_IDLE_MS without traffic either way (net_proxy_timeout_ms
 * tells the loop when). A datagram that cannot be sent right away is
 * dropped, as the network would.
 *
 * Memory: about 24 KiB of tables allocated at creation; each TCP connection
 * holds 2 * NET_PROXY_TCP_BUF while it lives (at most NET_PROXY_TCP_MAX of
 * them, 8 MiB in all), and a proxy with UDP ports one 64 KiB datagram
 * buffer. Nothing grows with traffic beyond that. */
#ifndef BERTH_NET_PROXY_H
#define BERTH_NET_PROXY_H

#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>

#include "board/err.h"

#define NET_PROXY_PORTS_MAX 1024      /* ports per proxy (a -p range is many) */
#define NET_PROXY_TCP_MAX 256         /* concurrent TCP connections per proxy */
#define NET_PROXY_TCP_BUF 16384       /* bytes buffered per direction per connection */
#define NET_PROXY_UDP_FLOWS 128       /* UDP client addresses tracked per proxy */
#define NET_PROXY_UDP_IDLE_MS 30000   /* a UDP flow without traffic this long is closed */
#define NET_PROXY_ACCEPT_PAUSE_MS 100 /* listeners rest this long when out of fds */

struct net_proxy;

struct net_proxy_port {
	int proto;                /* IPPROTO_TCP or IPPROTO_UDP */
	struct in_addr host_ip;   /* address to listen on, INADDR_ANY for all */
	uint16_t host_port;       /* host byte order; 0 lets the kernel choose */
	struct in_addr target_ip; /* the container's address */
	uint16_t target_port;     /* host byte order */
};

/* Binds and listens on every port in ports[0..n). On failure nothing is left
 * open, NULL comes back and err says which port and why ("publish
 * 0.0.0.0:8080/tcp: Address already in use"; code EADDRINUSE). The caller
 * keeps ports; the proxy keeps a copy. Free with net_proxy_free. */
struct net_proxy *net_proxy_new(const struct net_proxy_port *ports, int n, struct berr *err);

/* The host port port i was bound to (the kernel's choice when it asked for
 * 0), in host byte order. */
uint16_t net_proxy_host_port(const struct net_proxy *p, int i);

/* Upper bound on the entries net_proxy_pollfds fills; fixed for the life of
 * the proxy, so the caller can size its pollfd array once. */
int net_proxy_pollfds_max(const struct net_proxy *p);

/* Fills out[0..) with the descriptors and events the proxy wants now and
 * returns how many (at most max; pass max >= net_proxy_pollfds_max(p) or some
 * connections are not served this round). Events may be 0 for a socket that is
 * only watched for errors. */
int net_proxy_pollfds(struct net_proxy *p, struct pollfd *out, int max);

/* Processes the revents of fds[0..n), the entries filled by the last
 * net_proxy_pollfds call, in the same order, after poll() returned. Call it
 * after every poll, timeouts included (n may be 0): it also expires idle UDP
 * flows. */
void net_proxy_handle(struct net_proxy *p, const struct pollfd *fds, int n);

/* Milliseconds until the proxy has timed work (a UDP flow to expire, paused
 * listeners to resume), 0 when due, -1 when none: the poll timeout to use
 * when the caller has no earlier deadline of its own. */
int net_proxy_timeout_ms(const struct net_proxy *p);

/* Sets how long a UDP flow may stay idle (default NET_PROXY_UDP_IDLE_MS);
 * ms > 0. For DNS-like services a shorter value frees flows sooner. */
void net_proxy_set_udp_idle_ms(struct net_proxy *p, int ms);

/* Closes every listener, connection and flow and frees p (NULL is fine). */
void net_proxy_free(struct net_proxy *p);

#endif
