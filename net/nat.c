/* Kernel NAT for published ports and outbound masquerade, by running the
 * iptables tool (rule layout in nat.h).
 *
 * Why the iptables tool and not nftables over netlink: nf_tables netlink
 * means writing, without libmnl/libnftnl, the batch protocol and rules as
 * expression bytecode (payload, cmp, meta, ct, nat, masq, with register
 * allocation) plus listing and deleting by handle: well over a thousand lines
 * and tens of KiB in a binary that counts its bytes, for a path the boards
 * exercise rarely. The tool costs a fork+execve runner and argv building, a
 * few KiB. It is on practically every image that has netfilter at all
 * (Debian and Raspberry Pi OS, Buildroot and Yocto packages), its rule
 * syntax has been stable for twenty years, and with either backend (legacy
 * x_tables or nf_tables) our rules live where the board's own firewall and
 * Docker's live, so they compose with them instead of being dropped by
 * another base chain. It costs a process per rule (a handful per container
 * start). Where it is missing, net_nat_available() says so and the caller
 * falls back to the userland proxy.
 *
 * Every rule carries a comment ("berth", or "berth:<id>" for a container's
 * port) so a crashed daemon's rules can be found and removed by listing
 * (iptables -S) and deleting the matching lines. */
#include "nat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "board/cleanup.h"

#define IPT_ARGS_MAX 40
#define IPT_OUT_MAX 1024          /* output kept from one command: its error lines */
#define IPT_LIST_MAX (256 * 1024) /* iptables -S of one chain */
#define IPT_TOKENS_MAX 64         /* words in one listed rule */
#define CHAIN_NAT "BERTH"
#define CHAIN_POST "BERTH-POSTROUTING"
#define CHAIN_FWD "BERTH-FORWARD"
#define COMMENT "berth"

static const char *const ipt_paths[] = {
	"/usr/sbin/iptables", "/sbin/iptables", "/usr/local/sbin/iptables",
	"/usr/bin/iptables",  "/bin/iptables",
};

static const char *ipt_path(void)
{
	for (size_t i = 0; i < sizeof(ipt_paths) / sizeof(ipt_paths[0]); i++)
		if (access(ipt_paths[i], X_OK) == 0)
			return ipt_paths[i];
	return NULL;
}

/* Runs "iptables -w args..." and collects stdout and stderr into out (at
 * most cap - 1 bytes, NUL-terminated; *trunc says whether more came).
 * Returns the exit status (128 + signal when killed) or -errno when it could
 * not be run. */
static int ipt_exec(const char *const *args, int n, char *out, size_t cap, bool *trunc)
{
	const char *path = ipt_path();
	if (!path)
		return -ENOENT;
	const char *argv[IPT_ARGS_MAX + 3] = { "iptables", "-w" };
	if (n > IPT_ARGS_MAX)
		return -E2BIG;
	memcpy(argv + 2, args, (size_t)n * sizeof(args[0]));
	argv[n + 2] = NULL;
	static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };

	int op[2], ep[2];
	if (pipe2(op, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(ep, O_CLOEXEC) < 0) {
		int e = errno;
		close(op[0]);
		close(op[1]);
		return -e;
	}
	pid_t pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(op[1], 1);
		dup2(op[1], 2);
		execve(path, (char *const *)argv, envp);
		int e = errno;
		_exit(write(ep[1], &e, sizeof(e)) == sizeof(e) ? 127 : 126);
	}
	int fork_errno = errno;
	close(op[1]);
	close(ep[1]);
	if (pid < 0) {
		close(op[0]);
		close(ep[0]);
		return -fork_errno;
	}
	size_t len = 0;
	*trunc = false;
	for (;;) {
		char sink[512];
		bool room = len + 1 < cap;
		ssize_t r = room ? read(op[0], out + len, cap - 1 - len)
				 : read(op[0], sink, sizeof(sink));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (room)
			len += (size_t)r;
		else
			*trunc = true;
	}
	out[len] = '\0';
	close(op[0]);
	int exec_errno = 0;
	ssize_t er;
	do
		er = read(ep[0], &exec_errno, sizeof(exec_errno));
	while (er < 0 && errno == EINTR);
	close(ep[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (er == (ssize_t)sizeof(exec_errno))
		return -exec_errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs a command that must succeed; the error names the command (its first
 * words) and quotes iptables' first output line. */
static int ipt_must(const char *const *args, int n, char *out, size_t cap, struct berr *err)
{
	bool trunc;
	int st = ipt_exec(args, n, out, cap, &trunc);
	if (st == 0)
		return 0;
	char what[96] = "iptables";
	for (int i = 0; i < n && i < 4; i++) {
		size_t l = strlen(what);
		snprintf(what + l, sizeof(what) - l, " %s", args[i]);
	}
	if (st < 0)
		return berr_set(err, -st, "%s", what);
	char *line = out;
	while (*line == '\n')
		line++;
	line[strcspn(line, "\n")] = '\0';
	if (*line)
		return berr_setmsg(err, EIO, "%s: %s", what, line);
	return berr_setmsg(err, EIO, "%s: exit status %d", what, st);
}

/* Exit status of a query (-C, -S, -L) whose output does not matter. */
static int ipt_status(const char *const *args, int n)
{
	char out[IPT_OUT_MAX];
	bool trunc;
	return ipt_exec(args, n, out, sizeof(out), &trunc);
}

bool net_nat_available(void)
{
	const char *const args[] = { "-t", "nat", "-L", "-n" };
	return ipt_path() && ipt_status(args, 4) == 0;
}

/* --- rules ----------------------------------------------------------------- */

/* A rule spec: table, chain and match/target words, with room for the words
 * it formats itself. Not to be copied (args point into pool). */
struct ipt_rule {
	const char *table, *chain;
	int n;
	const char *arg[IPT_ARGS_MAX - 6];
	char pool[256];
	size_t used;
};

static void rule_init(struct ipt_rule *r, const char *table, const char *chain)
{
	r->table = table;
	r->chain = chain;
	r->n = 0;
	r->used = 0;
}

/* Adds words, up to a NULL. */
__attribute__((sentinel)) static void rule_add(struct ipt_rule *r, ...)
{
	va_list ap;
	va_start(ap, r);
	for (const char *w; (w = va_arg(ap, const char *));)
		if (r->n < (int)(sizeof(r->arg) / sizeof(r->arg[0])))
			r->arg[r->n++] = w;
	va_end(ap);
}

/* Adds one formatted word (the pool is sized for the rules built here). */
__attribute__((format(printf, 2, 3))) static void rule_addf(struct ipt_rule *r, const char *fmt,
							    ...)
{
	char *w = r->pool + r->used;
	va_list ap;
	va_start(ap, fmt);
	int l = vsnprintf(w, sizeof(r->pool) - r->used, fmt, ap);
	va_end(ap);
	if (l < 0 || (size_t)l >= sizeof(r->pool) - r->used)
		return;
	r->used += (size_t)l + 1;
	rule_add(r, w, NULL);
}

/* Runs op ("-A", "-C", "-D", "-I") on r; pos is "1" for -I, else NULL. */
static int rule_args(const struct ipt_rule *r, const char *op, const char *pos, const char **args)
{
	int n = 0;
	args[n++] = "-t";
	args[n++] = r->table;
	args[n++] = op;
	args[n++] = r->chain;
	if (pos)
		args[n++] = pos;
	for (int i = 0; i < r->n; i++)
		args[n++] = r->arg[i];
	return n;
}

static bool rule_present(const struct ipt_rule *r)
{
	const char *args[IPT_ARGS_MAX];
	return ipt_status(args, rule_args(r, "-C", NULL, args)) == 0;
}

/* Adds r unless an identical rule is there: at the end, or first with insert. */
static int rule_ensure(const struct ipt_rule *r, bool insert, struct berr *err)
{
	if (rule_present(r))
		return 0;
	const char *args[IPT_ARGS_MAX];
	char out[IPT_OUT_MAX];
	int n = rule_args(r, insert ? "-I" : "-A", insert ? "1" : NULL, args);
	return ipt_must(args, n, out, sizeof(out), err);
}

/* Deletes every copy of r (there should be one; a few are tolerated). */
static int rule_remove(const struct ipt_rule *r, struct berr *err)
{
	for (int i = 0; i < 8 && rule_present(r); i++) {
		const char *args[IPT_ARGS_MAX];
		char out[IPT_OUT_MAX];
		int rc = ipt_must(args, rule_args(r, "-D", NULL, args), out, sizeof(out), err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static bool chain_exists(const char *table, const char *chain)
{
	const char *const args[] = { "-t", table, "-S", chain };
	return ipt_status(args, 4) == 0;
}

static int chain_ensure(const char *table, const char *chain, struct berr *err)
{
	if (chain_exists(table, chain))
		return 0;
	const char *const args[] = { "-t", table, "-N", chain };
	char out[IPT_OUT_MAX];
	return ipt_must(args, 4, out, sizeof(out), err);
}

/* Splits a line of iptables -S output into words in place, removing the
 * double quotes (and backslash escapes inside them) iptables puts around
 * comments. Returns the count or -1 when there are more than max. */
static int tokenize(char *s, char **tok, int max)
{
	int n = 0;
	for (;;) {
		while (*s == ' ')
			s++;
		if (!*s)
			return n;
		if (n == max)
			return -1;
		char *w = s;
		tok[n++] = w;
		bool quoted = false;
		while (*s && (quoted || *s != ' ')) {
			if (*s == '"') {
				quoted = !quoted;
				s++;
				continue;
			}
			if (quoted && *s == '\\' && s[1])
				s++;
			*w++ = *s++;
		}
		char end = *s;
		*w = '\0';
		if (end)
			s++;
	}
}

typedef bool rule_match_fn(char **tok, int n, const char *arg);

static bool has_comment(char **tok, int n, const char *comment)
{
	for (int i = 0; i + 1 < n; i++)
		if (!strcmp(tok[i], "--comment") && !strcmp(tok[i + 1], comment))
			return true;
	return false;
}

static bool jumps_to_berth(char **tok, int n, const char *unused)
{
	for (int i = 0; i + 1 < n; i++)
		if (!strcmp(tok[i], "-j") &&
		    (!strcmp(tok[i + 1], CHAIN_NAT) || !strcmp(tok[i + 1], CHAIN_POST) ||
		     !strcmp(tok[i + 1], CHAIN_FWD)))
			return true;
	return false;
}

/* Deletes the rules of table/chain that match says are ours. A chain that
 * cannot be listed (missing) holds nothing to delete. */
static int chain_delete_matching(const char *table, const char *chain, rule_match_fn *match,
				 const char *arg, struct berr *err)
{
	_cleanup_free_ char *list = malloc(IPT_LIST_MAX);
	if (!list)
		return berr_set(err, ENOMEM, "iptables -t %s -S %s", table, chain);
	const char *const largs[] = { "-t", table, "-S", chain };
	bool trunc;
	int st = ipt_exec(largs, 4, list, IPT_LIST_MAX, &trunc);
	if (st < 0)
		return berr_set(err, -st, "iptables -t %s -S %s", table, chain);
	if (st > 0)
		return 0;
	if (trunc)
		return berr_setmsg(err, EFBIG, "iptables -t %s -S %s: listing longer than %d KiB",
				   table, chain, IPT_LIST_MAX / 1024);
	for (char *line = list, *next; *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		char *tok[IPT_TOKENS_MAX];
		int n = tokenize(line, tok, IPT_TOKENS_MAX);
		if (n < 2 || strcmp(tok[0], "-A") || strcmp(tok[1], chain) || !match(tok, n, arg))
			continue;
		if (n - 2 + 4 > IPT_ARGS_MAX)
			return berr_setmsg(err, E2BIG, "iptables -t %s -D %s: rule too long", table,
					   chain);
		const char *args[IPT_ARGS_MAX] = { "-t", table, "-D", chain };
		for (int i = 2; i < n; i++)
			args[i + 2] = tok[i];
		char out[IPT_OUT_MAX];
		int rc = ipt_must(args, n + 2, out, sizeof(out), err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* --- the API --------------------------------------------------------------- */

static bool name_ok(const char *s, size_t max)
{
	size_t l = s ? strlen(s) : 0;
	if (!l || l > max)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

static int ip_forward_enable(struct berr *err)
{
	static const char path[] = "/proc/sys/net/ipv4/ip_forward";
	char c = 0;
	_cleanup_close_ int rfd = open(path, O_RDONLY | O_CLOEXEC);
	if (rfd >= 0 && read(rfd, &c, 1) == 1 && c == '1')
		return 0; /* also where /proc/sys is read-only but already right */
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1\n", 2) != 2)
		return berr_set(err, errno, "enable IPv4 forwarding: write %s", path);
	return 0;
}

int net_nat_setup(const char *bridge, struct in_addr subnet, int prefix, struct berr *err)
{
	if (!name_ok(bridge, 15))
		return berr_setmsg(err, EINVAL, "NAT setup: bad bridge name \"%s\"",
				   bridge ? bridge : "");
	if (prefix < 1 || prefix > 32)
		return berr_setmsg(err, EINVAL, "NAT setup for %s: bad prefix length %d", bridge,
				   prefix);
	int rc = ip_forward_enable(err);
	if (rc < 0)
		return rc;
	struct in_addr net = { .s_addr = subnet.s_addr & htonl(~0u << (32 - prefix)) };
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &net, ip, sizeof(ip));

	struct ipt_rule masq, est, out, pre, loc, post, fwd;
	rule_init(&masq, "nat", CHAIN_POST);
	rule_add(&masq, "-s", NULL);
	rule_addf(&masq, "%s/%d", ip, prefix);
	rule_add(&masq, "!", "-o", bridge, "-m", "comment", "--comment", COMMENT, "-j",
		 "MASQUERADE", NULL);
	rule_init(&est, "filter", CHAIN_FWD);
	rule_add(&est, "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-m",
		 "comment", "--comment", COMMENT, "-j", "ACCEPT", NULL);
	rule_init(&out, "filter", CHAIN_FWD);
	rule_add(&out, "-i", bridge, "-m", "comment", "--comment", COMMENT, "-j", "ACCEPT", NULL);
	rule_init(&pre, "nat", "PREROUTING");
	rule_add(&pre, "-m", "addrtype", "--dst-type", "LOCAL", "-m", "comment", "--comment",
		 COMMENT, "-j", CHAIN_NAT, NULL);
	/* Not 127.0.0.0/8: DNAT of loopback traffic would need route_localnet on
	 * the bridge; the userland proxy serves those connections instead. */
	rule_init(&loc, "nat", "OUTPUT");
	rule_add(&loc, "!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-m",
		 "comment", "--comment", COMMENT, "-j", CHAIN_NAT, NULL);
	rule_init(&post, "nat", "POSTROUTING");
	rule_add(&post, "-m", "comment", "--comment", COMMENT, "-j", CHAIN_POST, NULL);
	rule_init(&fwd, "filter", "FORWARD");
	rule_add(&fwd, "-m", "comment", "--comment", COMMENT, "-j", CHAIN_FWD, NULL);

	if ((rc = chain_ensure("nat", CHAIN_NAT, err)) < 0 ||
	    (rc = chain_ensure("nat", CHAIN_POST, err)) < 0 ||
	    (rc = chain_ensure("filter", CHAIN_FWD, err)) < 0 ||
	    (rc = rule_ensure(&masq, false, err)) < 0 || (rc = rule_ensure(&est, false, err)) < 0 ||
	    (rc = rule_ensure(&out, false, err)) < 0 || (rc = rule_ensure(&pre, false, err)) < 0 ||
	    (rc = rule_ensure(&loc, false, err)) < 0 || (rc = rule_ensure(&post, false, err)) < 0 ||
	    (rc = rule_ensure(&fwd, true, err)) < 0)
		return berr_prefix(err, "NAT setup for %s", bridge);
	return 0;
}

/* Builds a port's DNAT and FORWARD rules; returns 0 or -EINVAL (err set). */
static int port_rules(const struct net_nat_port *p, struct ipt_rule *dnat, struct ipt_rule *fwd,
		      struct berr *err)
{
	char hip[INET_ADDRSTRLEN], cip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &p->host_ip, hip, sizeof(hip));
	inet_ntop(AF_INET, &p->container_ip, cip, sizeof(cip));
	const char *proto = p->proto == IPPROTO_TCP   ? "tcp"
			    : p->proto == IPPROTO_UDP ? "udp"
						      : NULL;
	if (!proto)
		return berr_setmsg(err, EINVAL, "publish %s:%u: unknown protocol %d", hip,
				   p->host_port, p->proto);
	if (!name_ok(p->id, NET_NAT_ID_MAX) || !name_ok(p->bridge, 15) || !p->host_port ||
	    !p->container_port)
		return berr_setmsg(err, EINVAL,
				   "publish %s:%u/%s: bad container id, bridge or port", hip,
				   p->host_port, proto);

	rule_init(dnat, "nat", CHAIN_NAT);
	if (p->host_ip.s_addr != htonl(INADDR_ANY)) {
		rule_add(dnat, "-d", NULL);
		rule_addf(dnat, "%s/32", hip);
	}
	rule_add(dnat, "!", "-i", p->bridge, "-p", proto, "-m", proto, NULL);
	rule_add(dnat, "--dport", NULL);
	rule_addf(dnat, "%u", p->host_port);
	rule_add(dnat, "-m", "comment", "--comment", NULL);
	rule_addf(dnat, COMMENT ":%s", p->id);
	rule_add(dnat, "-j", "DNAT", "--to-destination", NULL);
	rule_addf(dnat, "%s:%u", cip, p->container_port);

	rule_init(fwd, "filter", CHAIN_FWD);
	rule_add(fwd, "-d", NULL);
	rule_addf(fwd, "%s/32", cip);
	rule_add(fwd, "!", "-i", p->bridge, "-o", p->bridge, "-p", proto, "-m", proto, NULL);
	rule_add(fwd, "--dport", NULL);
	rule_addf(fwd, "%u", p->container_port);
	rule_add(fwd, "-m", "comment", "--comment", NULL);
	rule_addf(fwd, COMMENT ":%s", p->id);
	rule_add(fwd, "-j", "ACCEPT", NULL);
	return 0;
}

static int port_prefix(const struct net_nat_port *p, struct berr *err)
{
	char hip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &p->host_ip, hip, sizeof(hip));
	return berr_prefix(err, "publish %s:%u/%s", hip, p->host_port,
			   p->proto == IPPROTO_TCP ? "tcp" : "udp");
}

int net_nat_port_add(const struct net_nat_port *p, struct berr *err)
{
	struct ipt_rule dnat, fwd;
	int rc = port_rules(p, &dnat, &fwd, err);
	if (rc < 0)
		return rc;
	if ((rc = rule_ensure(&dnat, false, err)) < 0)
		return port_prefix(p, err);
	if ((rc = rule_ensure(&fwd, false, err)) < 0) {
		rule_remove(&dnat, NULL);
		return port_prefix(p, err);
	}
	return 0;
}

int net_nat_port_del(const struct net_nat_port *p, struct berr *err)
{
	struct ipt_rule dnat, fwd;
	int rc = port_rules(p, &dnat, &fwd, err);
	if (rc < 0)
		return rc;
	if (rule_remove(&dnat, err) < 0 || rule_remove(&fwd, err) < 0)
		return port_prefix(p, err);
	return 0;
}

int net_nat_teardown_container(const char *id, struct berr *err)
{
	if (!name_ok(id, NET_NAT_ID_MAX))
		return berr_setmsg(err, EINVAL, "remove NAT rules: bad container id \"%s\"",
				   id ? id : "");
	char comment[sizeof(COMMENT) + 1 + NET_NAT_ID_MAX];
	snprintf(comment, sizeof(comment), COMMENT ":%s", id);
	int rc = chain_delete_matching("nat", CHAIN_NAT, has_comment, comment, err);
	if (rc == 0)
		rc = chain_delete_matching("filter", CHAIN_FWD, has_comment, comment, err);
	if (rc < 0)
		return berr_prefix(err, "remove NAT rules of %s", id);
	return 0;
}

int net_nat_teardown_all(struct berr *err)
{
	static const char *const hooks[][2] = {
		{ "nat", "PREROUTING" },
		{ "nat", "OUTPUT" },
		{ "nat", "POSTROUTING" },
		{ "filter", "FORWARD" },
	};
	static const char *const chains[][2] = {
		{ "nat", CHAIN_NAT },
		{ "nat", CHAIN_POST },
		{ "filter", CHAIN_FWD },
	};
	int rc;
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++)
		if ((rc = chain_delete_matching(hooks[i][0], hooks[i][1], jumps_to_berth, NULL,
						err)) < 0)
			return berr_prefix(err, "remove NAT setup");
	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
		if (!chain_exists(chains[i][0], chains[i][1]))
			continue;
		const char *fl[] = { "-t", chains[i][0], "-F", chains[i][1] };
		const char *rm[] = { "-t", chains[i][0], "-X", chains[i][1] };
		char out[IPT_OUT_MAX];
		if ((rc = ipt_must(fl, 4, out, sizeof(out), err)) < 0 ||
		    (rc = ipt_must(rm, 4, out, sizeof(out), err)) < 0)
			return berr_prefix(err, "remove NAT setup");
	}
	return 0;
}
