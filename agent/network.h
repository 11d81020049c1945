/* Container networking as the agent sets it up: --network bridge (the
 * default bridge berth0, a veth per container, an address from the leases
 * file, NAT and published ports), none, host and container:<name>; links;
 * and the cleanup when the container goes. Built with CONFIG_NETWORK; the
 * stubs below keep host and none working without it. */
#ifndef BERTH_AGENT_NETWORK_H
#define BERTH_AGENT_NETWORK_H

#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "board/err.h"
#include "config.h"

struct agent_ctr;
struct agent_config;

#define AGENT_BRIDGE "berth0"
#define AGENT_BIP_DEFAULT "172.30.0.1/16"
/* Leases live in AGENT_NET_RUN/<inode of the network namespace>/leases: a
 * bridge and its addresses belong to one network namespace, the host's in
 * real use (a test in a namespace of its own gets its own). */
#define AGENT_NET_RUN "/run/berth/network"
#define AGENT_PORTS_MAX 64

struct agent_port {
	int proto;              /* IPPROTO_TCP or IPPROTO_UDP */
	struct in_addr host_ip; /* INADDR_ANY for all */
	uint16_t host_port;     /* 0: a free one, chosen at start */
	uint16_t ctr_port;
};

enum agent_net_mode { NET_MODE_NONE, NET_MODE_HOST, NET_MODE_BRIDGE, NET_MODE_CONTAINER };

/* One container's network while it starts and runs (lives in the monitor). */
struct agent_net {
	enum agent_net_mode mode;
	int netns_fd; /* container:<name>: the other container's namespace */
	char root[4096];
	char id[65];
	struct in_addr ip, gw, subnet;
	int prefix;
	bool nat;   /* kernel NAT rules for the published ports */
	bool proxy; /* the userland proxy runs for them */
	int nports;
	struct agent_port ports[AGENT_PORTS_MAX];
	void *px; /* struct net_proxy */
};

/* Parses -p: "[ip:][hostPort:]containerPort[/tcp|/udp]". Returns 0 or -EINVAL. */
int agent_port_parse(const char *s, struct agent_port *p, struct berr *err);

/* Before the monitor starts: reads the container's NetworkMode, leases an
 * address and makes sure the bridge (and NAT) is there, writes /etc/hosts
 * (with --link entries). Fills n. Returns 0 or -errno (nothing left held). */
int agent_net_prepare(const char *root, const struct agent_config *cfg, struct agent_ctr *c,
		      struct agent_net *n, struct berr *err);

/* The runtime's net_setup hook (in the monitor): the veth pair, moved into
 * pid's network namespace as eth0, with its address and default route. */
int agent_net_setup(void *arg, pid_t pid, struct berr *err);

/* The monitor's hooks: publish the ports (proxy listeners bound first, so a
 * port in use fails the start cleanly; then NAT rules) and poll the proxy. */
int agent_net_pre_start(void *arg, struct berr *err);
int agent_net_pollfds(void *arg, struct pollfd *fds, int max);
void agent_net_handle(void *arg, const struct pollfd *fds, int n);

/* After the container is gone (or a crashed one is removed): NAT rules,
 * the proxy, the address lease, the ports file. Safe to repeat. */
void agent_net_release(struct agent_net *n);
void agent_net_release_id(const char *root, const char *id);
/* Deletes the host end of a veth a crashed container left. */
void agent_net_release_link(const char *id);

/* The ports a running container published, one "80/tcp 0.0.0.0 8080" line
 * each, from containers/<id>/ports; returns the count. */
int agent_net_ports(const struct agent_ctr *c, struct agent_port *out, int max);

#endif
