/* Kernel NAT for published ports and outbound masquerade, through the
 * iptables tool (legacy or nf_tables backend). Why the tool and not nftables
 * over netlink, and the rule layout, are in nat.c's header comment.
 *
 * Rules (nat table; filter for BERTH-FORWARD), every one commented "berth"
 * (shared) or "berth:<container id>" (a published port):
 *   PREROUTING  -m addrtype --dst-type LOCAL -j BERTH
 *   OUTPUT      ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j BERTH
 *   POSTROUTING -j BERTH-POSTROUTING
 *   BERTH-POSTROUTING -s <subnet> ! -o <bridge> -j MASQUERADE
 *   FORWARD (first) -j BERTH-FORWARD
 *   BERTH-FORWARD -o <bridge> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
 *   BERTH-FORWARD -i <bridge> -j ACCEPT
 * and per published port:
 *   BERTH [-d <host ip>] ! -i <bridge> -p <proto> --dport <host port>
 *         -j DNAT --to-destination <container ip>:<port>
 *   BERTH-FORWARD -d <container ip> ! -i <bridge> -o <bridge> -p <proto>
 *         --dport <port> -j ACCEPT
 *
 * Left to the userland proxy (net/proxy.h), which should listen on the same
 * host address and port and so also holds the port against other users:
 * connections to 127.0.0.0/8 (DNAT of loopback traffic needs route_localnet,
 * which exposes the host's 127.0.0.1 services to the bridge) and hairpin
 * traffic from containers to a published port (not DNATed from the bridge).
 *
 * Kernel: CONFIG_NETFILTER_XT_MATCH_ADDRTYPE, _CONNTRACK, _COMMENT,
 * CONFIG_NETFILTER_XT_NAT (DNAT), CONFIG_NETFILTER_XT_TARGET_MASQUERADE and
 * the iptable_nat / nft_compat support of the iptables binary in use. */
#ifndef BERTH_NET_NAT_H
#define BERTH_NET_NAT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "board/err.h"

#define NET_NAT_ID_MAX 64 /* container id length in a rule comment */

struct net_nat_port {
	const char *id;         /* container id: [A-Za-z0-9_.-], up to NET_NAT_ID_MAX */
	const char *bridge;     /* the bridge the container is on, e.g. "berth0" */
	int proto;              /* IPPROTO_TCP or IPPROTO_UDP */
	struct in_addr host_ip; /* INADDR_ANY for every local address */
	uint16_t host_port;     /* host byte order */
	struct in_addr container_ip;
	uint16_t container_port; /* host byte order */
};

/* True when an iptables binary is installed and its nat table can be listed
 * (the kernel has NAT). */
bool net_nat_available(void);

/* Enables IPv4 forwarding and creates berth's chains and shared rules for
 * bridge and its subnet (any address in it; prefix 1..32). Idempotent: rules
 * already present are not added again. A bridge or subnet changed since an
 * earlier setup leaves the old shared rules in place until
 * net_nat_teardown_all. Returns 0 or -errno with err carrying iptables' own
 * error line. */
int net_nat_setup(const char *bridge, struct in_addr subnet, int prefix, struct berr *err);

/* Adds the DNAT and FORWARD rules for one published port (both or neither;
 * an existing identical rule is not duplicated). Needs net_nat_setup first.
 * Returns 0 or -errno ("publish 0.0.0.0:8080/tcp: iptables -t nat -A BERTH:
 * ..."). */
int net_nat_port_add(const struct net_nat_port *p, struct berr *err);

/* Removes the rules net_nat_port_add made for p; rules already gone are
 * fine. Returns 0 or -errno. */
int net_nat_port_del(const struct net_nat_port *p, struct berr *err);

/* Removes every rule commented "berth:<id>" from berth's chains: the cleanup
 * for a container whose ports are not known any more (after a crash).
 * Missing chains mean nothing to remove. Returns 0 or -errno. */
int net_nat_teardown_container(const char *id, struct berr *err);

/* Removes berth's hooks from the built-in chains and berth's chains with all
 * their rules (uninstall, tests). Returns 0 or -errno. */
int net_nat_teardown_all(struct berr *err);

#endif
