/* Unit tests for net/nat.c: as root, each test runs in a child in its own
 * network namespace, whose netfilter tables start empty; the host's tables
 * are never touched. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/nat.h"
#include "tap.h"

#define SKIP_NO_NETNS 77
#define SKIP_NO_NAT 78

static const char *const tool_paths[] = { "/usr/sbin/iptables", "/sbin/iptables",
					  "/usr/local/sbin/iptables", "/usr/bin/iptables",
					  "/bin/iptables" };

/* Runs body in a forked child inside a new network namespace; the child's
 * failed expectations count in the parent's current test. */
static void in_netns(void (*body)(void))
{
	if (geteuid() != 0) {
		t_skip("needs root");
		return;
	}
	bool tool = false;
	for (size_t i = 0; i < sizeof(tool_paths) / sizeof(tool_paths[0]); i++)
		tool |= access(tool_paths[i], X_OK) == 0;
	if (!tool) {
		t_skip("no iptables installed");
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		t_skip("fork failed");
		return;
	}
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(SKIP_NO_NETNS);
		if (!net_nat_available())
			_exit(SKIP_NO_NAT);
		body();
		fflush(stdout);
		_exit(tap_cur_failed > 50 ? 50 : tap_cur_failed);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			tap_cur_failed++;
			return;
		}
	if (!WIFEXITED(st)) {
		printf("#   child killed by signal %d\n", WTERMSIG(st));
		tap_cur_failed++;
	} else if (WEXITSTATUS(st) == SKIP_NO_NETNS) {
		t_skip("unshare(CLONE_NEWNET) refused");
	} else if (WEXITSTATUS(st) == SKIP_NO_NAT) {
		t_skip("iptables cannot use the nat table here");
	} else {
		tap_cur_failed += WEXITSTATUS(st);
	}
}

/* iptables -S of one table, as text. */
static const char *rules(const char *table, char *buf, size_t cap)
{
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "iptables -w -t %s -S 2>&1", table);
	FILE *f = popen(cmd, "r");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		pclose(f);
	return buf;
}

static struct in_addr ip(const char *s)
{
	struct in_addr a;
	inet_pton(AF_INET, s, &a);
	return a;
}

static char ip_forward(void)
{
	char c = '?';
	int fd = open("/proc/sys/net/ipv4/ip_forward", O_RDONLY);
	if (fd >= 0 && read(fd, &c, 1) != 1)
		c = '?';
	if (fd >= 0)
		close(fd);
	return c;
}

static struct net_nat_port p1, p2, p1x;

static void ports_init(void)
{
	p1 = (struct net_nat_port){ "c1", "berth0", IPPROTO_TCP, { 0 }, 8080, ip("10.88.0.2"), 80 };
	p2 = (struct net_nat_port){ "c2", "berth0",        IPPROTO_UDP, ip("192.0.2.1"),
				    5353, ip("10.88.0.3"), 53 };
	/* An id that starts like c1's: must survive c1's teardown. */
	p1x =
		(struct net_nat_port){ "c1x", "berth0",        IPPROTO_TCP, { 0 },
				       9090,  ip("10.88.0.4"), 90 };
}

static const char nat_shared_head[] =
	"-P PREROUTING ACCEPT\n"
	"-P INPUT ACCEPT\n"
	"-P OUTPUT ACCEPT\n"
	"-P POSTROUTING ACCEPT\n"
	"-N BERTH\n"
	"-N BERTH-POSTROUTING\n"
	"-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment berth -j BERTH\n"
	"-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment berth -j "
	"BERTH\n"
	"-A POSTROUTING -m comment --comment berth -j BERTH-POSTROUTING\n";
static const char nat_masq[] = "-A BERTH-POSTROUTING -s 10.88.0.0/16 ! -o berth0 -m comment "
			       "--comment berth -j MASQUERADE\n";
static const char dnat_c1[] = "-A BERTH ! -i berth0 -p tcp -m tcp --dport 8080 -m comment "
			      "--comment \"berth:c1\" -j DNAT --to-destination 10.88.0.2:80\n";
static const char dnat_c2[] = "-A BERTH -d 192.0.2.1/32 ! -i berth0 -p udp -m udp --dport 5353 "
			      "-m comment --comment \"berth:c2\" -j DNAT --to-destination "
			      "10.88.0.3:53\n";
static const char dnat_c1x[] = "-A BERTH ! -i berth0 -p tcp -m tcp --dport 9090 -m comment "
			       "--comment \"berth:c1x\" -j DNAT --to-destination 10.88.0.4:90\n";
static const char filter_shared[] =
	"-P INPUT ACCEPT\n"
	"-P FORWARD ACCEPT\n"
	"-P OUTPUT ACCEPT\n"
	"-N BERTH-FORWARD\n"
	"-A FORWARD -m comment --comment berth -j BERTH-FORWARD\n"
	"-A BERTH-FORWARD -o berth0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment "
	"--comment berth -j ACCEPT\n"
	"-A BERTH-FORWARD -i berth0 -m comment --comment berth -j ACCEPT\n";
static const char fwd_c1[] = "-A BERTH-FORWARD -d 10.88.0.2/32 ! -i berth0 -o berth0 -p tcp -m "
			     "tcp --dport 80 -m comment --comment \"berth:c1\" -j ACCEPT\n";
static const char fwd_c2[] = "-A BERTH-FORWARD -d 10.88.0.3/32 ! -i berth0 -o berth0 -p udp -m "
			     "udp --dport 53 -m comment --comment \"berth:c2\" -j ACCEPT\n";
static const char fwd_c1x[] = "-A BERTH-FORWARD -d 10.88.0.4/32 ! -i berth0 -o berth0 -p tcp -m "
			      "tcp --dport 90 -m comment --comment \"berth:c1x\" -j ACCEPT\n";

static char want[8192], got[8192];

static void expect_nat(const char *dnat_rules)
{
	snprintf(want, sizeof(want), "%s%s%s", nat_shared_head, dnat_rules, nat_masq);
	T_EXPECT_STR(rules("nat", got, sizeof(got)), want);
}

static void expect_filter(const char *fwd_rules)
{
	snprintf(want, sizeof(want), "%s%s", filter_shared, fwd_rules);
	T_EXPECT_STR(rules("filter", got, sizeof(got)), want);
}

static void cat3(char *out, size_t cap, const char *a, const char *b, const char *c)
{
	snprintf(out, cap, "%s%s%s", a, b, c);
}

static void body_setup_ports_teardown(void)
{
	static char nat0[4096], filter0[4096], r[1024];
	struct berr e = { 0 };
	ports_init();
	rules("nat", nat0, sizeof(nat0));
	rules("filter", filter0, sizeof(filter0));

	int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY);
	T_EXPECT(fd >= 0 && write(fd, "0\n", 2) == 2);
	close(fd);
	T_EXPECT_INT(ip_forward(), '0');
	T_EXPECT_INT(net_nat_setup("berth0", ip("10.88.0.1"), 16, &e), 0);
	T_EXPECT_INT(ip_forward(), '1');
	expect_nat("");
	expect_filter("");
	/* Idempotent. */
	T_EXPECT_INT(net_nat_setup("berth0", ip("10.88.0.1"), 16, &e), 0);
	expect_nat("");
	expect_filter("");

	T_EXPECT_INT(net_nat_port_add(&p1, &e), 0);
	T_EXPECT_INT(net_nat_port_add(&p2, &e), 0);
	T_EXPECT_INT(net_nat_port_add(&p1x, &e), 0);
	T_EXPECT_INT(net_nat_port_add(&p2, &e), 0); /* not twice */
	cat3(r, sizeof(r), dnat_c1, dnat_c2, dnat_c1x);
	expect_nat(r);
	cat3(r, sizeof(r), fwd_c1, fwd_c2, fwd_c1x);
	expect_filter(r);

	T_EXPECT_INT(net_nat_port_del(&p2, &e), 0);
	T_EXPECT_INT(net_nat_port_del(&p2, &e), 0); /* already gone is fine */
	cat3(r, sizeof(r), dnat_c1, dnat_c1x, "");
	expect_nat(r);
	cat3(r, sizeof(r), fwd_c1, fwd_c1x, "");
	expect_filter(r);

	/* After a crash only the id is known: every rule of c1, none of c1x. */
	T_EXPECT_INT(net_nat_port_add(&p2, &e), 0);
	T_EXPECT_INT(net_nat_teardown_container("c1", &e), 0);
	cat3(r, sizeof(r), dnat_c1x, dnat_c2, "");
	expect_nat(r);
	cat3(r, sizeof(r), fwd_c1x, fwd_c2, "");
	expect_filter(r);
	T_EXPECT_INT(net_nat_teardown_container("c1", &e), 0);

	T_EXPECT_INT(net_nat_teardown_all(&e), 0);
	T_EXPECT_STR(rules("nat", got, sizeof(got)), nat0);
	T_EXPECT_STR(rules("filter", got, sizeof(got)), filter0);
	/* Nothing left to remove is not an error. */
	T_EXPECT_INT(net_nat_teardown_all(&e), 0);
	T_EXPECT_INT(net_nat_teardown_container("c2", &e), 0);
	if (tap_cur_failed)
		printf("#   last error: %s\n", e.msg);
}

static void test_setup_ports_and_teardown(void)
{
	in_netns(body_setup_ports_teardown);
}

static void body_failures(void)
{
	static char nat0[4096], filter0[4096], nat1[4096];
	struct berr e = { 0 };
	ports_init();
	rules("nat", nat0, sizeof(nat0));
	rules("filter", filter0, sizeof(filter0));

	/* Before setup the chain is missing: iptables' own words come back. */
	T_EXPECT_INT(net_nat_port_add(&p1, &e), -EIO);
	const char *pre = "publish 0.0.0.0:8080/tcp: iptables -t nat -A BERTH: ";
	T_EXPECT(!strncmp(e.msg, pre, strlen(pre)));
	T_EXPECT(strstr(e.msg, "No chain/target/match") != NULL);
	T_EXPECT_STR(rules("nat", got, sizeof(got)), nat0);

	/* Bad input never reaches iptables. */
	struct net_nat_port bad = p1;
	bad.id = "a b";
	T_EXPECT_INT(net_nat_port_add(&bad, &e), -EINVAL);
	bad.id = "c1";
	bad.bridge = "much-too-long-bridge";
	T_EXPECT_INT(net_nat_port_add(&bad, &e), -EINVAL);
	bad = p1;
	bad.proto = IPPROTO_SCTP;
	T_EXPECT_INT(net_nat_port_add(&bad, &e), -EINVAL);
	T_EXPECT_INT(net_nat_teardown_container("../x", &e), -EINVAL);
	T_EXPECT_INT(net_nat_setup("berth0", ip("10.88.0.0"), 0, &e), -EINVAL);
	T_EXPECT_INT(net_nat_setup("bad bridge", ip("10.88.0.0"), 16, &e), -EINVAL);

	/* Both rules or neither: with BERTH-FORWARD gone, the DNAT rule that
	 * went in first is taken out again. */
	T_EXPECT_INT(net_nat_setup("berth0", ip("10.88.0.0"), 16, &e), 0);
	rules("nat", nat1, sizeof(nat1));
	T_EXPECT(system("iptables -w -t filter -D FORWARD -m comment --comment berth "
			"-j BERTH-FORWARD && iptables -w -t filter -F BERTH-FORWARD && "
			"iptables -w -t filter -X BERTH-FORWARD") == 0);
	T_EXPECT_INT(net_nat_port_add(&p1, &e), -EIO);
	T_EXPECT(strstr(e.msg, "iptables -t filter -A BERTH-FORWARD: ") != NULL);
	T_EXPECT_STR(rules("nat", got, sizeof(got)), nat1);

	T_EXPECT_INT(net_nat_teardown_all(&e), 0);
	T_EXPECT_STR(rules("nat", got, sizeof(got)), nat0);
	T_EXPECT_STR(rules("filter", got, sizeof(got)), filter0);
}

static void test_failures_are_clear_and_leave_nothing(void)
{
	in_netns(body_failures);
}

int main(void)
{
	T_RUN(test_setup_ports_and_teardown);
	T_RUN(test_failures_are_clear_and_leave_nothing);
	return T_DONE();
}
