/* A small rtnetlink client for bridge networking: links (bridge, veth),
 * IPv4 addresses and routes. Netlink as in RFC 3549, messages as in the
 * kernel's UAPI headers <linux/netlink.h>, <linux/rtnetlink.h>,
 * <linux/if_link.h>, <linux/veth.h> and <linux/if_addr.h>. Every request
 * carries NLM_F_ACK and its own sequence number; errors carry the kernel's
 * extended ack text (NETLINK_EXT_ACK, NLMSGERR_ATTR_MSG) after strerror. */
#ifndef BERTH_NETLINK_H
#define BERTH_NETLINK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

#define NET_NL_BUF_SIZE 32768 /* receive buffer, one per request; a bigger datagram: -EMSGSIZE */
#define NET_NL_IFNAME_MAX 16  /* IFNAMSIZ: 15 characters and the NUL */
#define NET_NL_KIND_MAX 16

/* A NETLINK_ROUTE socket bound to one network namespace, the one it was
 * opened in. Not for concurrent use by several threads. */
struct net_nl {
	int fd; /* -1 when closed */
	uint32_t seq;
};

/* What net_nl_link_set changes; start from NET_NL_LINK_OPTS_INIT (changes nothing). */
struct net_nl_link_opts {
	int up;           /* 1: up, 0: down, -1: unchanged */
	int master;       /* ifindex of a bridge; 0: detach from its bridge; -1: unchanged */
	int netns_fd;     /* move into this network namespace; -1: stay */
	const char *name; /* new name; NULL: unchanged */
	int mtu;          /* 0: unchanged */
};

#define NET_NL_LINK_OPTS_INIT ((struct net_nl_link_opts){ .up = -1, .master = -1, .netns_fd = -1 })

struct net_nl_link {
	char name[NET_NL_IFNAME_MAX];
	int ifindex;
	int master;                 /* ifindex of its bridge, 0: none */
	int mtu;                    /* 0 when not reported */
	char kind[NET_NL_KIND_MAX]; /* "veth", "bridge", ...; "" for lo and physical devices */
	bool up;                    /* IFF_UP: administratively up */
};

struct net_nl_route {
	struct in_addr dst; /* network order, 0.0.0.0 with prefix 0 for the default route */
	int prefix;
	struct in_addr gw; /* 0.0.0.0 when on-link */
	int oif;           /* output ifindex, 0 when none (multipath) */
};

/* Opens a socket in the calling thread's network namespace. Returns 0 or
 * -errno (nl->fd is -1 then). Close with net_nl_close. */
int net_nl_open(struct net_nl *nl, struct berr *err);

/* Opens a socket in the network namespace netns_fd refers to (an open
 * /proc/<pid>/ns/net; the caller keeps owning it): the thread enters it,
 * creates the socket and returns to its own namespace. The socket keeps
 * working in the target. Needs CAP_SYS_ADMIN. If the thread cannot get back
 * (should not happen) the error says so and the caller should not go on. */
int net_nl_open_ns(struct net_nl *nl, int netns_fd, struct berr *err);

/* Closes the socket; safe on a closed nl. */
void net_nl_close(struct net_nl *nl);

/* The index of the link called name in the socket's namespace: >0,
 * -ENODEV when there is none, -EINVAL for a name that cannot exist, or
 * another -errno. */
int net_nl_ifindex(struct net_nl *nl, const char *name);

/* Creates a bridge, down. An existing link of that name: -EEXIST
 * ("add bridge berth0: File exists"). */
int net_nl_bridge_add(struct net_nl *nl, const char *name, struct berr *err);

/* Creates a veth pair name <-> peer, both down, in the socket's namespace. */
int net_nl_veth_add(struct net_nl *nl, const char *name, const char *peer, struct berr *err);

/* Sets a link's hardware address. */
int net_nl_link_mac(struct net_nl *nl, const char *name, const unsigned char mac[6],
		    struct berr *err);

/* The same in one request, for a container: name enslaved to the bridge
 * master (ifindex) and up, peer created directly in the network namespace
 * peer_netns_fd. Creating the peer there avoids moving a device between
 * namespaces, which waits for an RCU grace period. */
int net_nl_veth_add_ns(struct net_nl *nl, const char *name, int master, const char *peer,
		       int peer_netns_fd, struct berr *err);

/* Changes the link called name as o says, in one request. The kernel
 * applies the parts in this order: moves it (taking o->name on the way, so
 * the new name only has to be free in the target), mtu, name, master,
 * up/down; a master is looked up, and up/down applied, where the link ends
 * up. Unknown link: -ENODEV ("set link x: No such device"). */
int net_nl_link_set(struct net_nl *nl, const char *name, const struct net_nl_link_opts *o,
		    struct berr *err);

/* Deletes a link (for a veth, both ends). -ENODEV when there is no such
 * link: the caller cleaning up can take that as done. */
int net_nl_link_del(struct net_nl *nl, const char *name, struct berr *err);

/* Adds the IPv4 address a/prefix (0..32) to ifname, with the broadcast
 * address of the subnet (none for /31 and /32). An address already there:
 * -EEXIST. */
int net_nl_addr_add(struct net_nl *nl, const char *ifname, struct in_addr a, int prefix,
		    struct berr *err);

/* Adds an IPv4 route to dst/prefix (prefix 0: the default route) in the
 * main table, via gw (0.0.0.0: on-link, then ifname is needed) and/or out
 * of ifname (NULL: the kernel picks by gw). dst must have no bits set
 * beyond prefix (the kernel says so otherwise). */
int net_nl_route_add(struct net_nl *nl, struct in_addr dst, int prefix, struct in_addr gw,
		     const char *ifname, struct berr *err);

/* Lists the IPv4 routes of the main table into out (max entries). Returns
 * how many, or -ENOSPC when there are more than max, or -errno. */
int net_nl_routes4(struct net_nl *nl, struct net_nl_route *out, int max, struct berr *err);

/* Lists the links of the socket's namespace into out (max entries).
 * Returns how many, -ENOSPC when there are more than max, or -errno. */
int net_nl_links(struct net_nl *nl, struct net_nl_link *out, int max, struct berr *err);

/* Reply parsing: pure functions over what the kernel sent, exposed for the
 * unit tests and the fuzz target. */
struct nlmsghdr;

/* Called for each data message of the current request; returns 0 or -errno
 * (that stops the walk and is returned). */
typedef int (*net_nl_msg_fn)(void *arg, const struct nlmsghdr *h);

/* Walks one datagram buf (len bytes, 4-byte aligned) for the request with
 * sequence number seq; messages with another sequence number (late replies
 * to an abandoned request) are skipped. Returns 1 when the request is
 * complete (its ack, or NLMSG_DONE of a dump), 0 when more datagrams are to
 * come, the kernel's -errno with err set to "strerror[: ext ack text]", or
 * -EBADMSG for a malformed datagram. */
int net_nl_walk(const void *buf, size_t len, uint32_t seq, net_nl_msg_fn fn, void *arg,
		struct berr *err);

/* Parses an RTM_NEWLINK message into out. Returns 0 or -EBADMSG. */
int net_nl_parse_link(const struct nlmsghdr *h, struct net_nl_link *out);

/* Parses an RTM_NEWROUTE message into out. Returns 1 for an IPv4 route of
 * the main table, 0 for any other route, -EBADMSG when malformed. */
int net_nl_parse_route(const struct nlmsghdr *h, struct net_nl_route *out);

#endif
