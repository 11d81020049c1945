/* Container networking glue (see network.h): bridge, veth, leases, NAT and
 * the userland proxy for published ports, links, cleanup. */
#include "agent/network.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/container.h"
#include "agent/settings.h"
#include "board/fs.h"
#include "net/ipam.h"
#include "net/nat.h"
#include "net/netlink.h"
#include "net/proxy.h"

static const char *jstr(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
	return s ? s : "";
}

int agent_port_parse(const char *s, struct agent_port *p, struct berr *err)
{
	char buf[128];
	memset(p, 0, sizeof(*p));
	p->proto = IPPROTO_TCP;
	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
		return berr_setmsg(err, EINVAL, "invalid port spec '%s'", s);
	char *slash = strchr(buf, '/');
	if (slash) {
		*slash++ = '\0';
		if (!strcmp(slash, "udp"))
			p->proto = IPPROTO_UDP;
		else if (strcmp(slash, "tcp"))
			return berr_setmsg(err, EINVAL,
					   "invalid port spec '%s': protocol %s (tcp or udp)", s,
					   slash);
	}
	char *part[3];
	int n = 0;
	for (char *q = buf, *c; n < 3; q = c + 1) {
		part[n++] = q;
		c = strchr(q, ':');
		if (!c)
			break;
		*c = '\0';
		if (n == 3)
			return berr_setmsg(err, EINVAL, "invalid port spec '%s'", s);
	}
	const char *ip = n == 3 ? part[0] : NULL;
	const char *hp = n >= 2 ? part[n - 2] : "";
	const char *cp = part[n - 1];
	p->host_ip.s_addr = htonl(INADDR_ANY);
	if (ip && *ip && inet_pton(AF_INET, ip, &p->host_ip) != 1)
		return berr_setmsg(err, EINVAL,
				   "invalid port spec '%s': '%s' is not an IPv4 address", s, ip);
	char *end;
	long c = strtol(cp, &end, 10);
	if (!*cp || *end || c < 1 || c > 65535)
		return berr_setmsg(err, EINVAL, "invalid port spec '%s': container port '%s'", s,
				   cp);
	p->ctr_port = (uint16_t)c;
	if (*hp) {
		long h = strtol(hp, &end, 10);
		if (*end || h < 1 || h > 65535)
			return berr_setmsg(err, EINVAL, "invalid port spec '%s': host port '%s'", s,
					   hp);
		p->host_port = (uint16_t)h;
	}
	return 0;
}

/* The bridge belongs to the network namespace (the host's, in real use), so
 * do its leases: one file for every data root, in /run (a reboot ends every
 * container, and every lease) */
static void leases_path(char *out, size_t len)
{
	struct stat ns;
	if (stat("/proc/self/ns/net", &ns))
		snprintf(out, len, "%s/leases", AGENT_NET_RUN);
	else
		snprintf(out, len, "%s/%llu/leases", AGENT_NET_RUN, (unsigned long long)ns.st_ino);
}

/* A MAC derived from the address, as docker does (02:42:<ip>): a new
 * container on a released address is reachable at once, no stale ARP. */
static void mac_of(struct in_addr a, unsigned char mac[6])
{
	const unsigned char *b = (const unsigned char *)&a.s_addr;
	mac[0] = 0x02;
	mac[1] = 0x42;
	memcpy(mac + 2, b, 4);
}

/* The bridge with the gateway address, up; refused on a subnet a host route
 * already covers. Called with the leases lock held. */
static int ensure_bridge(struct agent_net *n, struct berr *err)
{
	struct net_nl nl;
	int rc = net_nl_open(&nl, err);
	if (rc)
		return rc;
	int idx = net_nl_ifindex(&nl, AGENT_BRIDGE);
	if (idx < 0) {
		struct net_nl_route routes[256];
		int nr = net_nl_routes4(&nl, routes, 256, err);
		for (int i = 0; rc == 0 && i < nr; i++) {
			if (!routes[i].prefix)
				continue;
			if (net_ipam_overlaps(routes[i].dst, routes[i].prefix, n->subnet,
					      n->prefix)) {
				char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
				inet_ntop(AF_INET, &routes[i].dst, a, sizeof(a));
				inet_ntop(AF_INET, &n->subnet, b, sizeof(b));
				rc = berr_setmsg(
					err, EADDRINUSE,
					"bridge subnet %s/%d collides with the host route %s/%d: set \"bip\" in daemon.json",
					b, n->prefix, a, routes[i].prefix);
			}
		}
		if (!rc)
			rc = net_nl_bridge_add(&nl, AGENT_BRIDGE, err);
		if (!rc)
			rc = net_nl_addr_add(&nl, AGENT_BRIDGE, n->gw, n->prefix, err);
	}
	if (!rc && idx < 0) {
		/* the bridge's own MAC stays put as ports come and go */
		unsigned char mac[6];
		mac_of(n->gw, mac);
		rc = net_nl_link_mac(&nl, AGENT_BRIDGE, mac, err);
	}
	if (!rc && idx >= 0) {
		/* a bridge made with another "bip": say so, do not half-work */
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct ifreq ifr = { 0 };
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", AGENT_BRIDGE);
		if (fd >= 0 && !ioctl(fd, SIOCGIFADDR, &ifr)) {
			struct in_addr have = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr;
			if (have.s_addr != n->gw.s_addr) {
				char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
				inet_ntop(AF_INET, &have, a, sizeof(a));
				inet_ntop(AF_INET, &n->gw, b, sizeof(b));
				rc = berr_setmsg(
					err, EEXIST,
					"bridge %s has address %s, daemon.json's \"bip\" says %s: stop its containers and delete it (ip link del %s), or restore bip",
					AGENT_BRIDGE, a, b, AGENT_BRIDGE);
			}
		}
		if (fd >= 0)
			close(fd);
	}
	if (!rc) {
		struct net_nl_link_opts o = NET_NL_LINK_OPTS_INIT;
		o.up = 1;
		rc = net_nl_link_set(&nl, AGENT_BRIDGE, &o, err);
	}
	net_nl_close(&nl);
	return rc;
}

/* NAT's shared chains, set up once per boot (iptables is slow to run). */
static bool ensure_nat(struct agent_net *n, const struct agent_config *cfg, bool force)
{
	if (!cfg->iptables || !net_nat_available())
		return false;
	/* done once per boot and subnet (iptables is slow to run); a port rule
	 * that fails for want of a chain calls for it again (force) */
	char mark[4200], want[160], boot[64] = "", have[160] = "", sub[INET_ADDRSTRLEN];
	leases_path(mark, sizeof(mark) - 4);
	strcat(mark, ".nat");
	fs_read_file("/proc/sys/kernel/random/boot_id", boot, sizeof(boot), NULL);
	boot[strcspn(boot, "\n")] = '\0';
	inet_ntop(AF_INET, &n->subnet, sub, sizeof(sub));
	/* and per network namespace: each has its own tables */
	struct stat ns;
	unsigned long long nsino =
		stat("/proc/self/ns/net", &ns) ? 0 : (unsigned long long)ns.st_ino;
	snprintf(want, sizeof(want), "%s %s/%d %llu\n", boot, sub, n->prefix, nsino);
	fs_read_file(mark, have, sizeof(have), NULL);
	if (!force && *boot && !strcmp(want, have))
		return true;
	struct berr e = { 0 };
	if (net_nat_setup(AGENT_BRIDGE, n->subnet, n->prefix, &e))
		return false;
	fs_write_replace(mark, want, strlen(want), 0644, false, &e);
	return true;
}

static void hosts_file(struct agent_ctr *c, const struct agent_net *n, const char *links)
{
	const cJSON *cc = cJSON_GetObjectItem(c->cfg, "Config");
	char text[16384], ip[INET_ADDRSTRLEN] = "127.0.0.1", p[4200];
	if (n->mode == NET_MODE_BRIDGE)
		inet_ntop(AF_INET, &n->ip, ip, sizeof(ip));
	snprintf(text, sizeof(text),
		 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		 "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
		 "ff02::2\tip6-allrouters\n%s%s\t%s\n",
		 links, ip, jstr(cc, "Hostname"));
	snprintf(p, sizeof(p), "%s/hosts", c->dir);
	fs_write_replace(p, text, strlen(text), 0644, false, &(struct berr){ 0 });
}

/* The address a running container has on the bridge ("" if none). */
static int ctr_ip(const struct agent_ctr *c, struct in_addr *ip)
{
	char p[4200], buf[64];
	snprintf(p, sizeof(p), "%s/ip", c->dir);
	if (fs_read_file(p, buf, sizeof(buf), NULL) <= 0)
		return -ENOENT;
	buf[strcspn(buf, "\n")] = '\0';
	return inet_pton(AF_INET, buf, ip) == 1 ? 0 : -EINVAL;
}

/* --link name[:alias]: "<ip>\t<alias> <name>" lines. */
static int links_text(const char *root, struct agent_ctr *c, char *out, size_t len,
		      struct berr *err)
{
	size_t used = 0;
	out[0] = '\0';
	const cJSON *l;
	cJSON_ArrayForEach(l,
			   cJSON_GetObjectItem(cJSON_GetObjectItem(c->cfg, "HostConfig"), "Links"))
	{
		char spec[300];
		snprintf(spec, sizeof(spec), "%s", cJSON_GetStringValue(l) ?: "");
		char *alias = strchr(spec, ':');
		if (alias)
			*alias++ = '\0';
		struct agent_ctr o;
		if (agent_ctr_find(root, spec, &o, err))
			return berr_prefix(err, "--link %s", spec);
		struct in_addr ip;
		bool running = agent_ctr_running(&o);
		int rc = running ? ctr_ip(&o, &ip) : -EINVAL;
		char oname[AGENT_NAME_MAX];
		snprintf(oname, sizeof(oname), "%s", o.name);
		char oid[13];
		snprintf(oid, sizeof(oid), "%.12s", o.id);
		agent_ctr_free(&o);
		if (!running)
			return berr_setmsg(err, EINVAL, "--link %s: the container is not running",
					   spec);
		if (rc)
			return berr_setmsg(err, EINVAL,
					   "--link %s: the container is not on the bridge network",
					   spec);
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &ip, a, sizeof(a));
		int w = snprintf(out + used, len - used, "%s\t%s %s %s\n", a,
				 alias && *alias ? alias : oname, oname, oid);
		if (w < 0 || (size_t)w >= len - used)
			return berr_setmsg(err, E2BIG, "too many links");
		used += (size_t)w;
	}
	return 0;
}

static int collect_ports(struct agent_ctr *c, struct agent_net *n, struct berr *err)
{
	const cJSON *hc = cJSON_GetObjectItem(c->cfg, "HostConfig");
	const cJSON *b;
	n->nports = 0;
	cJSON_ArrayForEach(b, cJSON_GetObjectItem(hc, "Ports"))
	{
		if (n->nports == AGENT_PORTS_MAX)
			return berr_setmsg(err, E2BIG, "more than %d published ports",
					   AGENT_PORTS_MAX);
		if (agent_port_parse(cJSON_GetStringValue(b) ?: "", &n->ports[n->nports], err))
			return -EINVAL;
		n->nports++;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItem(hc, "PublishAllPorts"))) {
		const cJSON *e;
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(cJSON_GetObjectItem(c->cfg, "Config"),
							  "ExposedPorts"))
		{
			struct agent_port p;
			if (!e->string || agent_port_parse(e->string, &p, err))
				continue;
			bool dup = false;
			for (int i = 0; i < n->nports; i++)
				dup |= n->ports[i].ctr_port == p.ctr_port &&
				       n->ports[i].proto == p.proto;
			if (!dup && n->nports < AGENT_PORTS_MAX)
				n->ports[n->nports++] = p;
		}
	}
	return 0;
}

int agent_net_prepare(const char *root, const struct agent_config *cfg, struct agent_ctr *c,
		      struct agent_net *n, struct berr *err)
{
	const cJSON *hc = cJSON_GetObjectItem(c->cfg, "HostConfig");
	const char *mode = jstr(hc, "NetworkMode");
	memset(n, 0, sizeof(*n));
	n->netns_fd = -1;
	snprintf(n->root, sizeof(n->root), "%s", root);
	snprintf(n->id, sizeof(n->id), "%s", c->id);
	char links[8192] = "";
	int rc = 0;
	if (!strcmp(mode, "none")) {
		n->mode = NET_MODE_NONE;
	} else if (!strcmp(mode, "host")) {
		n->mode = NET_MODE_HOST;
	} else if (!strncmp(mode, "container:", 10)) {
		n->mode = NET_MODE_CONTAINER;
		struct agent_ctr o;
		if ((rc = agent_ctr_find(root, mode + 10, &o, err)))
			return berr_prefix(err, "--network %s", mode);
		bool running = agent_ctr_running(&o);
		char p[64];
		snprintf(p, sizeof(p), "/proc/%d/ns/net", (int)o.st.pid);
		agent_ctr_free(&o);
		if (!running)
			return berr_setmsg(err, EINVAL,
					   "--network %s: the container is not running", mode);
		n->netns_fd = open(p, O_RDONLY | O_CLOEXEC);
		if (n->netns_fd < 0)
			return berr_set(err, errno, "--network %s", mode);
	} else if (!CONFIG_NETWORK) {
		/* bridge needs the networking build: loopback only, as none */
		n->mode = NET_MODE_NONE;
	} else {
		n->mode = NET_MODE_BRIDGE;
	}
	if (n->mode == NET_MODE_BRIDGE || n->mode == NET_MODE_NONE)
		rc = links_text(root, c, links, sizeof(links), err);
	if (!rc && n->mode == NET_MODE_BRIDGE)
		rc = collect_ports(c, n, err);
	if (rc || n->mode != NET_MODE_BRIDGE) {
		if (!rc && n->mode == NET_MODE_NONE)
			hosts_file(c, n, links);
		return rc;
	}
	if (!CONFIG_NETWORK)
		return 0;

	const char *bip = cfg->bip ? cfg->bip : AGENT_BIP_DEFAULT;
	if ((rc = net_ipam_parse_cidr(bip, &n->gw, &n->prefix, err)))
		return berr_prefix(err, "daemon.json \"bip\"");
	n->subnet = net_ipam_network(n->gw, n->prefix);
	char dir[4200], lp[4200];
	leases_path(lp, sizeof(lp));
	snprintf(dir, sizeof(dir), "%s", lp);
	*strrchr(dir, '/') = '\0';
	if ((rc = fs_mkdir_p(dir, 0700, err)))
		return rc;
	int lk = net_ipam_lock(lp, err);
	if (lk < 0)
		return lk;
	rc = ensure_bridge(n, err);
	if (!rc)
		rc = net_ipam_lease(lp, n->subnet, n->prefix, c->id, &n->ip, err);
	close(lk);
	if (rc)
		return rc;
	/* masquerade and forwarding for every bridge container; DNAT rules only
	 * for published ports */
	bool nat = ensure_nat(n, cfg, false);
	n->nat = n->nports > 0 && nat;
	n->proxy = n->nports > 0 && (cfg->userland_proxy || !n->nat);
	char a[INET_ADDRSTRLEN + 2], p[4200];
	inet_ntop(AF_INET, &n->ip, a, sizeof(a));
	strcat(a, "\n");
	snprintf(p, sizeof(p), "%s/ip", c->dir);
	fs_write_replace(p, a, strlen(a), 0644, false, err);
	hosts_file(c, n, links);
	return 0;
}

int agent_net_setup(void *arg, pid_t pid, struct berr *err)
{
	struct agent_net *n = arg;
	if (!CONFIG_NETWORK || n->mode != NET_MODE_BRIDGE)
		return 0;
	char host[16], nsp[64];
	snprintf(host, sizeof(host), "bv%.10s", n->id);
	snprintf(nsp, sizeof(nsp), "/proc/%d/ns/net", (int)pid);
	struct net_nl nl;
	int rc = net_nl_open(&nl, err);
	if (rc)
		return rc;
	int br = net_nl_ifindex(&nl, AGENT_BRIDGE);
	if (br < 0)
		rc = berr_setmsg(err, ENODEV, "bridge %s is gone", AGENT_BRIDGE);
	int nsfd = rc ? -1 : open(nsp, O_RDONLY | O_CLOEXEC);
	if (!rc && nsfd < 0)
		rc = berr_set(err, errno, "%s", nsp);
	if (!rc) {
		/* the peer is born in the container's namespace as eth0 */
		rc = net_nl_veth_add_ns(&nl, host, br, "eth0", nsfd, err);
		if (rc == -EEXIST) {
			/* a pair a crash left behind under the same name */
			net_nl_link_del(&nl, host, NULL);
			rc = net_nl_veth_add_ns(&nl, host, br, "eth0", nsfd, err);
		}
	}
	if (!rc) {
		struct net_nl in;
		rc = net_nl_open_ns(&in, nsfd, err);
		if (!rc) {
			unsigned char mac[6];
			mac_of(n->ip, mac);
			rc = net_nl_link_mac(&in, "eth0", mac, err);
			struct net_nl_link_opts o = NET_NL_LINK_OPTS_INIT;
			o.up = 1;
			if (!rc)
				rc = net_nl_link_set(&in, "eth0", &o, err);
			if (!rc)
				rc = net_nl_addr_add(&in, "eth0", n->ip, n->prefix, err);
			struct in_addr any = { 0 };
			if (!rc)
				rc = net_nl_route_add(&in, any, 0, n->gw, "eth0", err);
			net_nl_close(&in);
		}
	}
	if (rc)
		net_nl_link_del(&nl, host, NULL);
	if (nsfd >= 0)
		close(nsfd);
	net_nl_close(&nl);
	return rc ? berr_prefix(err, "network of container %.12s", n->id) : 0;
}

static void write_ports(const struct agent_net *n)
{
	char text[AGENT_PORTS_MAX * 64], p[4200];
	size_t used = (size_t)snprintf(text, sizeof(text), "nat=%d\n", n->nat ? 1 : 0);
	for (int i = 0; i < n->nports; i++) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &n->ports[i].host_ip, a, sizeof(a));
		used += (size_t)snprintf(
			text + used, sizeof(text) - used, "%u/%s %s %u\n", n->ports[i].ctr_port,
			n->ports[i].proto == IPPROTO_UDP ? "udp" : "tcp", a, n->ports[i].host_port);
	}
	snprintf(p, sizeof(p), "%s/containers/%s/ports", n->root, n->id);
	fs_write_replace(p, text, used, 0644, false, &(struct berr){ 0 });
}

int agent_net_pre_start(void *arg, struct berr *err)
{
	struct agent_net *n = arg;
	if (!CONFIG_NETWORK || n->mode != NET_MODE_BRIDGE || !n->nports)
		return 0;
	struct net_proxy_port pp[AGENT_PORTS_MAX];
	for (int i = 0; i < n->nports; i++)
		pp[i] = (struct net_proxy_port){ .proto = n->ports[i].proto,
						 .host_ip = n->ports[i].host_ip,
						 .host_port = n->ports[i].host_port,
						 .target_ip = n->ip,
						 .target_port = n->ports[i].ctr_port };
	/* The listeners hold the host ports even when NAT carries the traffic,
	 * as docker-proxy does: a port in use fails here, before anything else
	 * is configured, and 127.0.0.1 (which NAT does not see) still works. */
	n->px = net_proxy_new(pp, n->nports, err);
	if (!n->px)
		return -(err->code ? err->code : EADDRINUSE);
	for (int i = 0; i < n->nports; i++)
		n->ports[i].host_port = net_proxy_host_port(n->px, i);
	for (int i = 0; n->nat && i < n->nports; i++) {
		struct net_nat_port np = { .id = n->id,
					   .bridge = AGENT_BRIDGE,
					   .proto = n->ports[i].proto,
					   .host_ip = n->ports[i].host_ip,
					   .host_port = n->ports[i].host_port,
					   .container_ip = n->ip,
					   .container_port = n->ports[i].ctr_port };
		int rc = net_nat_port_add(&np, err);
		if (rc) {
			/* the rules may have been flushed since: set up again, once */
			struct berr e2 = { 0 };
			struct agent_config c2 = { .iptables = true };
			if (ensure_nat(n, &c2, true))
				rc = net_nat_port_add(&np, &e2);
		}
		if (rc) {
			net_nat_teardown_container(n->id, NULL);
			net_proxy_free(n->px);
			n->px = NULL;
			return rc;
		}
	}
	write_ports(n);
	return 0;
}

int agent_net_pollfds(void *arg, struct pollfd *fds, int max)
{
	struct agent_net *n = arg;
	if (!CONFIG_NETWORK || !n->px)
		return 0;
	return net_proxy_pollfds(n->px, fds, max);
}

void agent_net_handle(void *arg, const struct pollfd *fds, int nfds)
{
	struct agent_net *n = arg;
	if (CONFIG_NETWORK && n->px)
		net_proxy_handle(n->px, fds, nfds);
}

void agent_net_release_id(const char *root, const char *id)
{
	if (!CONFIG_NETWORK)
		return;
	char lp[4200], p[4200];
	leases_path(lp, sizeof(lp));
	if (access(lp, F_OK))
		return;
	struct berr e = { 0 };
	int lk = net_ipam_lock(lp, &e);
	if (lk >= 0) {
		net_ipam_release(lp, id, &e);
		close(lk);
	}
	/* NAT rules are only there for containers that published ports */
	snprintf(p, sizeof(p), "%s/containers/%s/ports", root, id);
	char buf[AGENT_PORTS_MAX * 64];
	if (fs_read_file(p, buf, sizeof(buf), NULL) > 0 && !strncmp(buf, "nat=1", 5))
		net_nat_teardown_container(id, &e);
	unlink(p);
}

void agent_net_release_link(const char *id)
{
	if (!CONFIG_NETWORK)
		return;
	/* normally the pair goes with the container's namespace; after a crash
	 * the host end may remain */
	char host[16];
	struct berr e = { 0 };
	snprintf(host, sizeof(host), "bv%.10s", id);
	struct net_nl nl;
	if (!net_nl_open(&nl, &e)) {
		net_nl_link_del(&nl, host, NULL);
		net_nl_close(&nl);
	}
}

void agent_net_release(struct agent_net *n)
{
	if (n->netns_fd >= 0) {
		close(n->netns_fd);
		n->netns_fd = -1;
	}
	if (!CONFIG_NETWORK || n->mode != NET_MODE_BRIDGE)
		return;
	if (n->px) {
		net_proxy_free(n->px);
		n->px = NULL;
	}
	agent_net_release_id(n->root, n->id);
}

int agent_net_ports(const struct agent_ctr *c, struct agent_port *out, int max)
{
	char p[4200], buf[AGENT_PORTS_MAX * 64];
	snprintf(p, sizeof(p), "%s/ports", c->dir);
	if (fs_read_file(p, buf, sizeof(buf), NULL) <= 0)
		return 0;
	int n = 0;
	for (char *l = buf, *next; l && *l && n < max; l = next) {
		next = strchr(l, '\n');
		if (next)
			*next++ = '\0';
		unsigned cp, hp;
		char proto[8], ip[INET_ADDRSTRLEN];
		if (sscanf(l, "%u/%7s %15s %u", &cp, proto, ip, &hp) != 4)
			continue;
		out[n].ctr_port = (uint16_t)cp;
		out[n].host_port = (uint16_t)hp;
		out[n].proto = strcmp(proto, "udp") ? IPPROTO_TCP : IPPROTO_UDP;
		if (inet_pton(AF_INET, ip, &out[n].host_ip) != 1)
			continue;
		n++;
	}
	return n;
}
