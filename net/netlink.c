/* rtnetlink client (see netlink.h): RFC 3549 framing, requests and replies
 * as laid out in the kernel's UAPI headers. */
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include "board/cleanup.h"

#define NL_REQ_MAX 512  /* our requests: a header, a few names and addresses */
#define NL_DUMP_TRIES 3 /* a dump the kernel marks inconsistent is redone */

/* ---- reply parsing ---------------------------------------------------------- */

/* Points tb[type] at the last attribute of each type < n found in p[0..len).
 * Returns 0 or -EBADMSG. */
static int nl_attrs(const void *p, size_t len, const struct rtattr **tb, int n)
{
	memset(tb, 0, (size_t)n * sizeof(*tb));
	const char *c = p;
	while (len >= sizeof(struct rtattr)) {
		const struct rtattr *a = (const void *)c;
		if (a->rta_len < sizeof(*a) || a->rta_len > len)
			return -EBADMSG;
		int type = a->rta_type & NLA_TYPE_MASK;
		if (type < n)
			tb[type] = a;
		size_t step = RTA_ALIGN(a->rta_len);
		if (step >= len)
			break;
		c += step;
		len -= step;
	}
	return 0;
}

static size_t nl_payload(const struct rtattr *a)
{
	return a->rta_len - RTA_LENGTH(0);
}

static bool nl_u32(const struct rtattr *a, uint32_t *v)
{
	if (!a || nl_payload(a) < sizeof(*v))
		return false;
	memcpy(v, RTA_DATA(a), sizeof(*v));
	return true;
}

static bool nl_in_addr(const struct rtattr *a, struct in_addr *v)
{
	if (!a || nl_payload(a) != sizeof(*v))
		return false;
	memcpy(v, RTA_DATA(a), sizeof(*v));
	return true;
}

/* Copies a string attribute into out, cut to cap-1 characters when longer. */
static void nl_str(const struct rtattr *a, char *out, size_t cap)
{
	size_t n = strnlen(RTA_DATA(a), nl_payload(a));
	if (n >= cap)
		n = cap - 1;
	memcpy(out, RTA_DATA(a), n);
	out[n] = '\0';
}

/* The kernel's error (code > 0) and the extended ack text found in the TLVs
 * at off in h, as "strerror[: text]". */
static int nl_kernel_error(const struct nlmsghdr *h, int code, size_t off, struct berr *err)
{
	char text[BERR_MSG_MAX / 2] = "";
	const struct rtattr *tb[NLMSGERR_ATTR_MSG + 1] = { 0 };
	if ((h->nlmsg_flags & NLM_F_ACK_TLVS) && off < h->nlmsg_len)
		nl_attrs((const char *)h + off, h->nlmsg_len - off, tb, NLMSGERR_ATTR_MSG + 1);
	if (tb[NLMSGERR_ATTR_MSG])
		nl_str(tb[NLMSGERR_ATTR_MSG], text, sizeof(text));
	if (text[0])
		return berr_setmsg(err, code, "%s: %s", strerror(code), text);
	return berr_setmsg(err, code, "%s", strerror(code));
}

/* NLMSG_ERROR: 1 for an ack, else the kernel's -errno. */
static int nl_error_msg(const struct nlmsghdr *h, struct berr *err)
{
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
		return berr_setmsg(err, EBADMSG, "malformed netlink error message");
	const struct nlmsgerr *e = NLMSG_DATA(h);
	if (e->error == 0)
		return 1;
	if (e->error > 0 || e->error < -4095)
		return berr_setmsg(err, EBADMSG, "netlink error %d out of range", e->error);
	/* Unless capped (NETLINK_CAP_ACK), the failed request comes back
	 * after the header; the ack TLVs follow it. */
	size_t echo = 0;
	if (!(h->nlmsg_flags & NLM_F_CAPPED) && e->msg.nlmsg_len > NLMSG_HDRLEN)
		echo = e->msg.nlmsg_len - NLMSG_HDRLEN;
	if (echo > h->nlmsg_len)
		echo = h->nlmsg_len;
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*e) + echo);
	return nl_kernel_error(h, -e->error, off, err);
}

/* NLMSG_DONE: 1, or the -errno a failed dump ends with. */
static int nl_done_msg(const struct nlmsghdr *h, struct berr *err)
{
	int status;
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(status)))
		return 1;
	memcpy(&status, NLMSG_DATA(h), sizeof(status));
	if (status >= 0)
		return 1;
	if (status < -4095)
		return berr_setmsg(err, EBADMSG, "netlink dump status %d out of range", status);
	return nl_kernel_error(h, -status, NLMSG_LENGTH(NLMSG_ALIGN(sizeof(status))), err);
}

int net_nl_walk(const void *buf, size_t len, uint32_t seq, net_nl_msg_fn fn, void *arg,
		struct berr *err)
{
	const char *p = buf;
	while (len > 0) {
		const struct nlmsghdr *h = (const void *)p;
		if (len < sizeof(*h) || h->nlmsg_len < sizeof(*h) || h->nlmsg_len > len)
			return berr_setmsg(err, EBADMSG, "malformed netlink reply");
		if (h->nlmsg_seq == seq) {
			if (h->nlmsg_type == NLMSG_ERROR)
				return nl_error_msg(h, err);
			if (h->nlmsg_type == NLMSG_DONE)
				return nl_done_msg(h, err);
			if (h->nlmsg_type >= NLMSG_MIN_TYPE && fn) {
				int r = fn(arg, h);
				if (r < 0)
					return berr_set(err, -r, "netlink reply");
			}
		}
		size_t step = NLMSG_ALIGN(h->nlmsg_len);
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return 0;
}

int net_nl_parse_link(const struct nlmsghdr *h, struct net_nl_link *out)
{
	memset(out, 0, sizeof(*out));
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
		return -EBADMSG;
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	const struct rtattr *tb[IFLA_LINKINFO + 1], *info[IFLA_INFO_KIND + 1];
	if (nl_attrs(IFLA_RTA(ifi), h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)), tb,
		     IFLA_LINKINFO + 1) < 0 ||
	    !tb[IFLA_IFNAME])
		return -EBADMSG;
	nl_str(tb[IFLA_IFNAME], out->name, sizeof(out->name));
	out->ifindex = ifi->ifi_index;
	out->up = ifi->ifi_flags & IFF_UP;
	uint32_t v;
	if (nl_u32(tb[IFLA_MASTER], &v))
		out->master = (int)v;
	if (nl_u32(tb[IFLA_MTU], &v))
		out->mtu = (int)v;
	if (tb[IFLA_LINKINFO]) {
		if (nl_attrs(RTA_DATA(tb[IFLA_LINKINFO]), nl_payload(tb[IFLA_LINKINFO]), info,
			     IFLA_INFO_KIND + 1) < 0)
			return -EBADMSG;
		if (info[IFLA_INFO_KIND])
			nl_str(info[IFLA_INFO_KIND], out->kind, sizeof(out->kind));
	}
	return 0;
}

int net_nl_parse_route(const struct nlmsghdr *h, struct net_nl_route *out)
{
	memset(out, 0, sizeof(*out));
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg)))
		return -EBADMSG;
	const struct rtmsg *rt = NLMSG_DATA(h);
	const struct rtattr *tb[RTA_TABLE + 1];
	if (nl_attrs(RTM_RTA(rt), h->nlmsg_len - NLMSG_LENGTH(sizeof(*rt)), tb, RTA_TABLE + 1) < 0)
		return -EBADMSG;
	uint32_t table = rt->rtm_table;
	nl_u32(tb[RTA_TABLE], &table); /* ids above 255 come only here */
	if (rt->rtm_family != AF_INET || table != RT_TABLE_MAIN)
		return 0;
	if (rt->rtm_dst_len > 32 || (tb[RTA_DST] && !nl_in_addr(tb[RTA_DST], &out->dst)) ||
	    (tb[RTA_GATEWAY] && !nl_in_addr(tb[RTA_GATEWAY], &out->gw)))
		return -EBADMSG;
	out->prefix = rt->rtm_dst_len;
	uint32_t oif;
	if (nl_u32(tb[RTA_OIF], &oif))
		out->oif = (int)oif;
	return 1;
}

/* ---- requests --------------------------------------------------------------- */

struct nl_req {
	union {
		struct nlmsghdr h;
		char buf[NL_REQ_MAX];
	} u;
	bool full; /* something did not fit: the request is not sent */
};

/* Appends len zeroed bytes (aligned), or NULL when they do not fit. */
static void *nl_put(struct nl_req *r, size_t len)
{
	size_t off = NLMSG_ALIGN(r->u.h.nlmsg_len);
	if (r->full || off > sizeof(r->u.buf) || NLMSG_ALIGN(len) > sizeof(r->u.buf) - off) {
		r->full = true;
		return NULL;
	}
	char *p = r->u.buf + off;
	memset(p, 0, NLMSG_ALIGN(len));
	r->u.h.nlmsg_len = (uint32_t)(off + NLMSG_ALIGN(len));
	return p;
}

/* Starts a request; returns its zeroed family header of hdrlen bytes. */
static void *nl_req_init(struct nl_req *r, uint16_t type, uint16_t flags, size_t hdrlen)
{
	memset(r, 0, sizeof(*r));
	r->u.h.nlmsg_len = NLMSG_HDRLEN;
	r->u.h.nlmsg_type = type;
	r->u.h.nlmsg_flags = NLM_F_REQUEST | flags;
	return nl_put(r, hdrlen);
}

static struct rtattr *nl_attr(struct nl_req *r, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = nl_put(r, RTA_LENGTH(len));
	if (!a)
		return NULL;
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (data)
		memcpy(RTA_DATA(a), data, len);
	return a;
}

static void nl_attr_u32(struct nl_req *r, unsigned short type, uint32_t v)
{
	nl_attr(r, type, &v, sizeof(v));
}

static void nl_attr_str(struct nl_req *r, unsigned short type, const char *s)
{
	nl_attr(r, type, s, strlen(s) + 1);
}

/* Closes a nest opened with nl_attr(r, type, NULL, 0) (or with a fixed
 * header as its payload): it now spans everything appended since. */
static void nl_nest_end(struct nl_req *r, struct rtattr *nest)
{
	if (nest && !r->full)
		nest->rta_len = (unsigned short)(r->u.buf + r->u.h.nlmsg_len - (char *)nest);
}

static bool nl_name_ok(const char *name)
{
	return name && name[0] && strnlen(name, NET_NL_IFNAME_MAX) < NET_NL_IFNAME_MAX;
}

/* "<what>: invalid interface name '<name>'" (empty, or longer than 15). */
static int nl_bad_name(struct berr *err, const char *what, const char *name)
{
	return berr_setmsg(err, EINVAL, "%s: invalid interface name '%s'", what,
			   name ? name : "(null)");
}

/* Sends r and reads replies until the kernel's ack, error or end of dump,
 * handing each data message to fn. */
static int nl_talk(struct net_nl *nl, struct nl_req *r, net_nl_msg_fn fn, void *arg,
		   struct berr *err)
{
	if (r->full)
		return berr_setmsg(err, EMSGSIZE, "netlink request larger than %d bytes",
				   NL_REQ_MAX);
	if (nl->fd < 0)
		return berr_setmsg(err, EBADF, "netlink socket not open");
	uint32_t seq = ++nl->seq;
	r->u.h.nlmsg_seq = seq;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t n;
	do
		n = sendto(nl->fd, r->u.buf, r->u.h.nlmsg_len, 0, (struct sockaddr *)&kernel,
			   sizeof(kernel));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return berr_set(err, errno, "netlink send");
	if ((size_t)n != r->u.h.nlmsg_len)
		return berr_setmsg(err, EIO, "netlink send: short write");

	_cleanup_free_ char *buf = malloc(NET_NL_BUF_SIZE);
	if (!buf)
		return berr_set(err, ENOMEM, "netlink receive");
	for (;;) {
		struct sockaddr_nl from = { 0 };
		struct iovec iov = { .iov_base = buf, .iov_len = NET_NL_BUF_SIZE };
		struct msghdr mh = { .msg_name = &from,
				     .msg_namelen = sizeof(from),
				     .msg_iov = &iov,
				     .msg_iovlen = 1 };
		n = recvmsg(nl->fd, &mh, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set(err, errno, "netlink receive");
		if (mh.msg_flags & MSG_TRUNC)
			return berr_setmsg(err, EMSGSIZE, "netlink reply larger than %d bytes",
					   NET_NL_BUF_SIZE);
		if (from.nl_pid != 0)
			continue; /* only the kernel answers requests */
		int ret = net_nl_walk(buf, (size_t)n, seq, fn, arg, err);
		if (ret)
			return ret < 0 ? ret : 0;
	}
}

/* ---- sockets ---------------------------------------------------------------- */

int net_nl_open(struct net_nl *nl, struct berr *err)
{
	nl->seq = 0;
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl->fd < 0)
		return berr_set(err, errno, "open rtnetlink socket");
	int one = 1;
	/* Both best effort: before Linux 4.12 (4.2) errors come without the
	 * kernel's text (with the whole request echoed back). */
	setsockopt(nl->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	struct sockaddr_nl self = { .nl_family = AF_NETLINK };
	if (bind(nl->fd, (struct sockaddr *)&self, sizeof(self)) < 0) {
		int e = errno;
		net_nl_close(nl);
		return berr_set(err, e, "bind rtnetlink socket");
	}
	return 0;
}

int net_nl_open_ns(struct net_nl *nl, int netns_fd, struct berr *err)
{
	nl->fd = -1;
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return berr_set(err, errno, "open /proc/thread-self/ns/net");
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return berr_set(err, errno, "enter network namespace");
	/* A socket belongs to the namespace it was created in, for good. */
	int r = net_nl_open(nl, err);
	if (setns(self, CLONE_NEWNET) < 0) {
		int e = errno;
		net_nl_close(nl);
		return berr_set(err, e,
				"return to own network namespace (thread left in the other)");
	}
	return r;
}

void net_nl_close(struct net_nl *nl)
{
	if (nl->fd >= 0)
		close(nl->fd);
	nl->fd = -1;
}

/* ---- links ------------------------------------------------------------------ */

static int nl_ifindex_cb(void *arg, const struct nlmsghdr *h)
{
	if (h->nlmsg_type == RTM_NEWLINK && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifinfomsg)))
		*(int *)arg = ((const struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
	return 0;
}

int net_nl_ifindex(struct net_nl *nl, const char *name)
{
	if (!nl_name_ok(name))
		return -EINVAL;
	struct nl_req r;
	struct ifinfomsg *ifi = nl_req_init(&r, RTM_GETLINK, NLM_F_ACK, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	nl_attr_str(&r, IFLA_IFNAME, name);
	nl_attr_u32(&r, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	int index = 0;
	int ret = nl_talk(nl, &r, nl_ifindex_cb, &index, NULL);
	if (ret < 0)
		return ret;
	return index > 0 ? index : -ENODEV;
}

int net_nl_bridge_add(struct net_nl *nl, const char *name, struct berr *err)
{
	if (!nl_name_ok(name))
		return nl_bad_name(err, "add bridge", name);
	struct nl_req r;
	struct ifinfomsg *ifi =
		nl_req_init(&r, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	nl_attr_str(&r, IFLA_IFNAME, name);
	struct rtattr *info = nl_attr(&r, IFLA_LINKINFO, NULL, 0);
	nl_attr_str(&r, IFLA_INFO_KIND, "bridge");
	nl_nest_end(&r, info);
	int ret = nl_talk(nl, &r, NULL, NULL, err);
	if (ret < 0 && err)
		berr_prefix(err, "add bridge %s", name);
	return ret;
}

int net_nl_veth_add(struct net_nl *nl, const char *name, const char *peer, struct berr *err)
{
	return net_nl_veth_add_ns(nl, name, 0, peer, -1, err);
}

int net_nl_link_mac(struct net_nl *nl, const char *name, const unsigned char mac[6],
		    struct berr *err)
{
	if (!nl_name_ok(name))
		return nl_bad_name(err, "set link", name);
	int index = net_nl_ifindex(nl, name);
	if (index < 0)
		return berr_set(err, -index, "set link %s", name);
	struct nl_req r;
	struct ifinfomsg *ifi = nl_req_init(&r, RTM_SETLINK, NLM_F_ACK, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	nl_attr(&r, IFLA_ADDRESS, mac, 6);
	int ret = nl_talk(nl, &r, NULL, NULL, err);
	if (ret < 0 && err)
		berr_prefix(err, "set the address of %s", name);
	return ret;
}

int net_nl_veth_add_ns(struct net_nl *nl, const char *name, int master, const char *peer,
		       int peer_netns_fd, struct berr *err)
{
	if (!nl_name_ok(name) || !nl_name_ok(peer))
		return nl_bad_name(err, "add veth", nl_name_ok(name) ? peer : name);
	struct nl_req r;
	struct ifinfomsg *ifi =
		nl_req_init(&r, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	if (master > 0) {
		ifi->ifi_flags = IFF_UP;
		ifi->ifi_change = IFF_UP;
		uint32_t m = (uint32_t)master;
		nl_attr(&r, IFLA_MASTER, &m, sizeof(m));
	}
	nl_attr_str(&r, IFLA_IFNAME, name);
	struct rtattr *info = nl_attr(&r, IFLA_LINKINFO, NULL, 0);
	nl_attr_str(&r, IFLA_INFO_KIND, "veth");
	struct rtattr *data = nl_attr(&r, IFLA_INFO_DATA, NULL, 0);
	/* The peer is described like a link of its own: an ifinfomsg, then
	 * its attributes. */
	struct rtattr *p = nl_attr(&r, VETH_INFO_PEER, NULL, sizeof(struct ifinfomsg));
	nl_attr_str(&r, IFLA_IFNAME, peer);
	if (peer_netns_fd >= 0) {
		uint32_t fd = (uint32_t)peer_netns_fd;
		nl_attr(&r, IFLA_NET_NS_FD, &fd, sizeof(fd));
	}
	nl_nest_end(&r, p);
	nl_nest_end(&r, data);
	nl_nest_end(&r, info);
	int ret = nl_talk(nl, &r, NULL, NULL, err);
	if (ret < 0 && err)
		berr_prefix(err, "add veth %s (peer %s)", name, peer);
	return ret;
}

int net_nl_link_set(struct net_nl *nl, const char *name, const struct net_nl_link_opts *o,
		    struct berr *err)
{
	if (!nl_name_ok(name))
		return nl_bad_name(err, "set link", name);
	if (o->name && !nl_name_ok(o->name))
		return nl_bad_name(err, "set link", o->name);
	if (o->mtu < 0)
		return berr_setmsg(err, EINVAL, "set link %s: invalid mtu %d", name, o->mtu);
	int index = net_nl_ifindex(nl, name);
	if (index < 0)
		return berr_set(err, -index, "set link %s", name);
	struct nl_req r;
	struct ifinfomsg *ifi = nl_req_init(&r, RTM_SETLINK, NLM_F_ACK, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	if (o->up >= 0) {
		ifi->ifi_change = IFF_UP;
		ifi->ifi_flags = o->up ? IFF_UP : 0;
	}
	if (o->netns_fd >= 0)
		nl_attr_u32(&r, IFLA_NET_NS_FD, (uint32_t)o->netns_fd);
	if (o->name)
		nl_attr_str(&r, IFLA_IFNAME, o->name);
	if (o->mtu > 0)
		nl_attr_u32(&r, IFLA_MTU, (uint32_t)o->mtu);
	if (o->master >= 0)
		nl_attr_u32(&r, IFLA_MASTER, (uint32_t)o->master);
	int ret = nl_talk(nl, &r, NULL, NULL, err);
	if (ret < 0 && err)
		berr_prefix(err, "set link %s", name);
	return ret;
}

int net_nl_link_del(struct net_nl *nl, const char *name, struct berr *err)
{
	if (!nl_name_ok(name))
		return nl_bad_name(err, "delete link", name);
	struct nl_req r;
	struct ifinfomsg *ifi = nl_req_init(&r, RTM_DELLINK, NLM_F_ACK, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	nl_attr_str(&r, IFLA_IFNAME, name);
	int ret = nl_talk(nl, &r, NULL, NULL, err);
	if (ret < 0 && err)
		berr_prefix(err, "delete link %s", name);
	return ret;
}

/* ---- addresses and routes --------------------------------------------------- */

static uint32_t nl_mask(int prefix)
{
	return prefix <= 0 ? 0 : htonl(0xffffffffu << (32 - prefix));
}

int net_nl_addr_add(struct net_nl *nl, const char *ifname, struct in_addr a, int prefix,
		    struct berr *err)
{
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	if (!nl_name_ok(ifname))
		return nl_bad_name(err, "add address", ifname);
	if (prefix < 0 || prefix > 32)
		return berr_setmsg(err, EINVAL, "add address %s/%d to %s: invalid prefix length",
				   ip, prefix, ifname);
	int index = net_nl_ifindex(nl, ifname);
	if (index < 0)
		return berr_set(err, -index, "add address %s/%d to %s", ip, prefix, ifname);
	struct nl_req r;
	struct ifaddrmsg *ifa =
		nl_req_init(&r, RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)index;
	nl_attr(&r, IFA_LOCAL, &a, sizeof(a));
	nl_attr(&r, IFA_ADDRESS, &a, sizeof(a));
	if (prefix < 31) { /* RFC 3021: /31 and /32 have no broadcast address */
		struct in_addr b = { .s_addr = a.s_addr | ~nl_mask(prefix) };
		nl_attr(&r, IFA_BROADCAST, &b, sizeof(b));
	}
	int ret = nl_talk(nl, &r, NULL, NULL, err);
	if (ret < 0 && err)
		berr_prefix(err, "add address %s/%d to %s", ip, prefix, ifname);
	return ret;
}

int net_nl_route_add(struct net_nl *nl, struct in_addr dst, int prefix, struct in_addr gw,
		     const char *ifname, struct berr *err)
{
	char what[96], d[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &dst, d, sizeof(d));
	inet_ntop(AF_INET, &gw, g, sizeof(g));
	int n = prefix ? snprintf(what, sizeof(what), "add route %s/%d", d, prefix)
		       : snprintf(what, sizeof(what), "add route default");
	if (gw.s_addr && n > 0 && (size_t)n < sizeof(what))
		n += snprintf(what + n, sizeof(what) - (size_t)n, " via %s", g);
	if (ifname && n > 0 && (size_t)n < sizeof(what))
		snprintf(what + n, sizeof(what) - (size_t)n, " dev %.16s", ifname);
	if (prefix < 0 || prefix > 32)
		return berr_setmsg(err, EINVAL, "%s: invalid prefix length", what);
	if (!gw.s_addr && !ifname)
		return berr_setmsg(err, EINVAL, "%s: needs a gateway or a device", what);
	int index = 0;
	if (ifname) {
		if (!nl_name_ok(ifname))
			return nl_bad_name(err, what, ifname);
		index = net_nl_ifindex(nl, ifname);
		if (index < 0)
			return berr_set(err, -index, "%s", what);
	}
	struct nl_req r;
	struct rtmsg *rt =
		nl_req_init(&r, RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, sizeof(*rt));
	rt->rtm_family = AF_INET;
	rt->rtm_dst_len = (unsigned char)prefix;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = gw.s_addr ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rt->rtm_type = RTN_UNICAST;
	if (prefix)
		nl_attr(&r, RTA_DST, &dst, sizeof(dst));
	if (gw.s_addr)
		nl_attr(&r, RTA_GATEWAY, &gw, sizeof(gw));
	if (index)
		nl_attr_u32(&r, RTA_OIF, (uint32_t)index);
	int ret = nl_talk(nl, &r, NULL, NULL, err);
	if (ret < 0 && err)
		berr_prefix(err, "%s", what);
	return ret;
}

/* ---- dumps ------------------------------------------------------------------ */

struct nl_list {
	void *out;
	int max, n;
	bool intr; /* the kernel saw the table change during the dump */
};

static int nl_links_cb(void *arg, const struct nlmsghdr *h)
{
	struct nl_list *l = arg;
	if (h->nlmsg_flags & NLM_F_DUMP_INTR)
		l->intr = true;
	if (h->nlmsg_type != RTM_NEWLINK)
		return 0;
	if (l->n < l->max) {
		int r = net_nl_parse_link(h, (struct net_nl_link *)l->out + l->n);
		if (r < 0)
			return r;
	}
	l->n++;
	return 0;
}

static int nl_routes_cb(void *arg, const struct nlmsghdr *h)
{
	struct nl_list *l = arg;
	if (h->nlmsg_flags & NLM_F_DUMP_INTR)
		l->intr = true;
	if (h->nlmsg_type != RTM_NEWROUTE)
		return 0;
	struct net_nl_route rt;
	int r = net_nl_parse_route(h, &rt);
	if (r <= 0)
		return r;
	if (l->n < l->max)
		((struct net_nl_route *)l->out)[l->n] = rt;
	l->n++;
	return 0;
}

/* Runs a dump request of type with a zeroed family header (family set),
 * collecting into l; redone when the kernel says it was interrupted. */
static int nl_dump(struct net_nl *nl, uint16_t type, size_t hdrlen, unsigned char family,
		   net_nl_msg_fn fn, struct nl_list *l, const char *what, struct berr *err)
{
	for (int try = 0;; try++) {
		struct nl_req r;
		/* The family is the first byte of ifinfomsg and rtmsg alike. */
		unsigned char *hdr = nl_req_init(&r, type, NLM_F_DUMP, hdrlen);
		*hdr = family;
		if (type == RTM_GETLINK)
			nl_attr_u32(&r, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
		l->n = 0;
		l->intr = false;
		int ret = nl_talk(nl, &r, fn, l, err);
		if (ret < 0) {
			if (err)
				berr_prefix(err, "%s", what);
			return ret;
		}
		if (!l->intr)
			break;
		if (try + 1 == NL_DUMP_TRIES)
			return berr_setmsg(err, EAGAIN, "%s: changed during each of %d dumps", what,
					   NL_DUMP_TRIES);
	}
	if (l->n > l->max)
		return berr_setmsg(err, ENOSPC, "%s: more than %d", what, l->max);
	return l->n;
}

int net_nl_routes4(struct net_nl *nl, struct net_nl_route *out, int max, struct berr *err)
{
	struct nl_list l = { .out = out, .max = max < 0 ? 0 : max };
	return nl_dump(nl, RTM_GETROUTE, sizeof(struct rtmsg), AF_INET, nl_routes_cb, &l,
		       "list routes", err);
}

int net_nl_links(struct net_nl *nl, struct net_nl_link *out, int max, struct berr *err)
{
	struct nl_list l = { .out = out, .max = max < 0 ? 0 : max };
	return nl_dump(nl, RTM_GETLINK, sizeof(struct ifinfomsg), AF_UNSPEC, nl_links_cb, &l,
		       "list links", err);
}
