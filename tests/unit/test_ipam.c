/* Unit tests for net/ipam.c: leases in a file under a temp directory, CIDR
 * parsing and overlap checks. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "board/fs.h"
#include "net/ipam.h"
#include "tap.h"

static char dir[64], leases[128];

static void fresh(void)
{
	if (dir[0])
		fs_rm_rf(dir, NULL);
	strcpy(dir, "/tmp/berth-ipam-XXXXXX");
	if (!mkdtemp(dir))
		exit(2);
	snprintf(leases, sizeof(leases), "%s/leases", dir);
}

static struct in_addr ip(const char *s)
{
	struct in_addr a = { 0 };
	if (inet_pton(AF_INET, s, &a) != 1)
		exit(2);
	return a;
}

/* Leases owner an address of cidr and returns it as text ("" on failure,
 * with the code in *r). */
static const char *lease(const char *cidr, const char *owner, int *r, struct berr *e)
{
	static char buf[INET_ADDRSTRLEN];
	struct in_addr sub, out = { 0 };
	int prefix;
	if (net_ipam_parse_cidr(cidr, &sub, &prefix, e))
		exit(2);
	*r = net_ipam_lease(leases, sub, prefix, owner, &out, e);
	if (*r < 0)
		return "";
	return inet_ntop(AF_INET, &out, buf, sizeof(buf));
}

static const char *file_text(void)
{
	static char buf[4096];
	if (fs_read_file(leases, buf, sizeof(buf), NULL) < 0)
		return "(unreadable)";
	return buf;
}

static void test_sequential_and_reuse(void)
{
	fresh();
	struct berr e = { 0 };
	int r;
	T_EXPECT_STR(lease("172.30.0.1/16", "aaa", &r, &e), "172.30.0.2");
	T_EXPECT_STR(lease("172.30.0.1/16", "bbb", &r, &e), "172.30.0.3");
	T_EXPECT_STR(lease("172.30.0.1/16", "ccc", &r, &e), "172.30.0.4");
	/* The same owner gets its lease back, nothing new is written. */
	T_EXPECT_STR(lease("172.30.0.1/16", "bbb", &r, &e), "172.30.0.3");
	T_EXPECT_INT(r, 0);
	T_EXPECT_STR(file_text(), "172.30.0.2 aaa\n172.30.0.3 bbb\n172.30.0.4 ccc\n");
}

static void test_release(void)
{
	fresh();
	struct berr e = { 0 };
	int r;
	lease("10.9.0.0/24", "a", &r, &e);
	lease("10.9.0.0/24", "b", &r, &e);
	lease("10.9.0.0/24", "c", &r, &e);
	T_EXPECT_INT(net_ipam_release(leases, "b", &e), 0);
	T_EXPECT_STR(file_text(), "10.9.0.2 a\n10.9.0.4 c\n");
	T_EXPECT_INT(net_ipam_release(leases, "b", &e), -ENOENT);
	T_EXPECT(strstr(e.msg, "no lease") != NULL);
	/* The freed address is the lowest free one again. */
	T_EXPECT_STR(lease("10.9.0.0/24", "d", &r, &e), "10.9.0.3");
	T_EXPECT_INT(net_ipam_release(leases, "a", &e), 0);
	T_EXPECT_INT(net_ipam_release(leases, "c", &e), 0);
	T_EXPECT_INT(net_ipam_release(leases, "d", &e), 0);
	T_EXPECT_STR(file_text(), "");
	/* No file at all: nothing to release. */
	unlink(leases);
	T_EXPECT_INT(net_ipam_release(leases, "a", &e), -ENOENT);
}

static void test_reserved_and_full(void)
{
	fresh();
	struct berr e = { 0 };
	int r;
	/* 10.0.0.0/29: .0 network, .1 gateway, .7 broadcast; .2-.6 free. */
	const char *want[] = { "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6" };
	char owner[8];
	for (int i = 0; i < 5; i++) {
		snprintf(owner, sizeof(owner), "c%d", i);
		T_EXPECT_STR(lease("10.0.0.0/29", owner, &r, &e), want[i]);
	}
	T_EXPECT_STR(lease("10.0.0.0/29", "c5", &r, &e), "");
	T_EXPECT_INT(r, -ENOSPC);
	T_EXPECT_INT(e.code, ENOSPC);
	T_EXPECT(strstr(e.msg, "no free address") != NULL);
	/* Those already in still get theirs. */
	T_EXPECT_STR(lease("10.0.0.0/29", "c2", &r, &e), "10.0.0.4");
	T_EXPECT_INT(net_ipam_release(leases, "c3", &e), 0);
	T_EXPECT_STR(lease("10.0.0.0/29", "c5", &r, &e), "10.0.0.5");

	/* A bip with host bits (the bridge is .3) keeps .3 out too. */
	fresh();
	const char *want2[] = { "10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6" };
	for (int i = 0; i < 4; i++) {
		snprintf(owner, sizeof(owner), "c%d", i);
		T_EXPECT_STR(lease("10.0.0.3/29", owner, &r, &e), want2[i]);
	}
	T_EXPECT_STR(lease("10.0.0.3/29", "c4", &r, &e), "");
	T_EXPECT_INT(r, -ENOSPC);

	/* /30 has one address to give, /31 none. */
	fresh();
	T_EXPECT_STR(lease("10.0.0.0/30", "x", &r, &e), "10.0.0.2");
	T_EXPECT_STR(lease("10.0.0.0/30", "y", &r, &e), "");
	T_EXPECT_INT(r, -ENOSPC);
	T_EXPECT_STR(lease("10.0.0.0/31", "y", &r, &e), "");
	T_EXPECT_INT(r, -EINVAL);
}

static void test_survives_restart(void)
{
	fresh();
	struct berr e = { 0 };
	int r;
	lease("192.168.7.1/24", "web", &r, &e);
	lease("192.168.7.1/24", "db", &r, &e);
	/* Nothing is kept in memory: a new daemon reading the file (here a
	 * child process) sees the same leases. */
	pid_t pid = fork();
	if (pid == 0) {
		struct berr ce = { 0 };
		int cr;
		bool ok = !strcmp(lease("192.168.7.1/24", "db", &cr, &ce), "192.168.7.3") &&
			  !strcmp(lease("192.168.7.1/24", "cache", &cr, &ce), "192.168.7.4");
		_exit(ok ? 0 : 1);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	T_EXPECT_INT(st, 0);
	T_EXPECT_STR(lease("192.168.7.1/24", "web", &r, &e), "192.168.7.2");
	T_EXPECT_STR(file_text(), "192.168.7.2 web\n192.168.7.3 db\n192.168.7.4 cache\n");
	/* No temp files left beside it. */
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s/leases.tmp.%d", dir, (int)getpid());
	T_EXPECT(access(tmp, F_OK) < 0);
}

static void test_subnet_change(void)
{
	fresh();
	struct berr e = { 0 };
	int r;
	lease("172.30.0.1/16", "a", &r, &e);
	lease("172.30.0.1/16", "b", &r, &e);
	/* bip changed: a's old lease is dropped for one in the new subnet,
	 * b's stays until b asks again or is released. */
	T_EXPECT_STR(lease("10.5.0.1/24", "a", &r, &e), "10.5.0.2");
	T_EXPECT_STR(file_text(), "172.30.0.3 b\n10.5.0.2 a\n");
}

static void expect_corrupt(const char *text, const char *why)
{
	struct berr e = { 0 };
	int r;
	T_EXPECT_INT(fs_write_atomic(leases, text, strlen(text), 0644, &e), 0);
	T_EXPECT_STR(lease("10.0.0.0/24", "new", &r, &e), "");
	T_EXPECT_INT(r, -EBADMSG);
	if (!strstr(e.msg, why))
		printf("#   message: %s (expected '%s')\n", e.msg, why);
	T_EXPECT(strstr(e.msg, why) != NULL);
	T_EXPECT(strstr(e.msg, leases) != NULL);
	T_EXPECT_INT(net_ipam_release(leases, "a", &e), -EBADMSG);
	/* Left as it was, for a human (or the daemon's rebuild) to decide. */
	T_EXPECT_STR(file_text(), text);
}

static void test_corrupt_file(void)
{
	fresh();
	expect_corrupt("10.0.0.2 a\nnotanaddress\n", "line 2: expected");
	expect_corrupt("10.0.0.2 a\n10.0.0.300 b\n", "line 2: bad address");
	expect_corrupt("10.0.0.2 a\n10.0.0.3 b", "line 2: no final newline");
	expect_corrupt("10.0.0.2 a\n10.0.0.2 b\n", "line 2: address leased twice");
	expect_corrupt("10.0.0.2 a\n10.0.0.3 a\n", "line 2: owner has two leases");
	expect_corrupt("10.0.0.2 a b\n", "line 1: bad owner");
	expect_corrupt("10.0.0.2 \n", "line 1: bad owner");
	expect_corrupt("\n", "line 1: expected");
	/* Bigger than any valid file: refused before parsing. */
	struct berr e = { 0 };
	int r;
	size_t big = NET_IPAM_FILE_MAX + 1;
	char *junk = malloc(big);
	memset(junk, '\n', big);
	T_EXPECT_INT(fs_write_atomic(leases, junk, big, 0644, &e), 0);
	free(junk);
	lease("10.0.0.0/24", "new", &r, &e);
	T_EXPECT_INT(r, -EFBIG);
	/* Removing it starts over. */
	unlink(leases);
	T_EXPECT_STR(lease("10.0.0.0/24", "new", &r, &e), "10.0.0.2");
}

static void test_bad_input(void)
{
	fresh();
	struct berr e = { 0 };
	struct in_addr out, sub = ip("10.0.0.0");
	T_EXPECT_INT(net_ipam_lease(leases, sub, 24, "", &out, &e), -EINVAL);
	T_EXPECT_INT(net_ipam_lease(leases, sub, 24, NULL, &out, &e), -EINVAL);
	T_EXPECT_INT(net_ipam_lease(leases, sub, 24, "a b", &out, &e), -EINVAL);
	T_EXPECT_INT(net_ipam_lease(leases, sub, 24, "a\n10.0.0.9 b", &out, &e), -EINVAL);
	T_EXPECT(strstr(e.msg, "invalid owner") != NULL);
	char longname[NET_IPAM_OWNER_MAX + 1];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[NET_IPAM_OWNER_MAX] = '\0';
	T_EXPECT_INT(net_ipam_lease(leases, sub, 24, longname, &out, &e), -EINVAL);
	longname[NET_IPAM_OWNER_MAX - 1] = '\0';
	T_EXPECT_INT(net_ipam_lease(leases, sub, 24, longname, &out, &e), 0);
	T_EXPECT_INT(net_ipam_lease(leases, sub, 0, "a", &out, &e), -EINVAL);
	T_EXPECT_INT(net_ipam_lease(leases, sub, 33, "a", &out, &e), -EINVAL);
	T_EXPECT(strstr(e.msg, "prefix must be 1..30") != NULL);
	/* A directory that does not exist: the write fails with its errno. */
	T_EXPECT_INT(net_ipam_lease("/nonexistent-berth/leases", sub, 24, "a", &out, &e), -ENOENT);
}

static void test_lock(void)
{
	fresh();
	struct berr e = { 0 };
	int fd = net_ipam_lock(leases, &e);
	T_EXPECT(fd >= 0);
	char lock[160];
	snprintf(lock, sizeof(lock), "%s.lock", leases);
	/* Another open file (as another process would have) cannot take it. */
	int other = open(lock, O_RDWR);
	T_EXPECT(other >= 0);
	T_EXPECT(flock(other, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK);
	close(fd);
	T_EXPECT_INT(flock(other, LOCK_EX | LOCK_NB), 0);
	close(other);
	T_EXPECT_INT(net_ipam_lock("/nonexistent-berth/leases", &e), -ENOENT);
}

static void cidr_ok(const char *s, const char *want_ip, int want_prefix)
{
	struct berr e = { 0 };
	struct in_addr a = { 0 };
	int p = -1;
	char buf[INET_ADDRSTRLEN];
	T_EXPECT_INT(net_ipam_parse_cidr(s, &a, &p, &e), 0);
	T_EXPECT_STR(inet_ntop(AF_INET, &a, buf, sizeof(buf)), want_ip);
	T_EXPECT_INT(p, want_prefix);
}

static void cidr_bad(const char *s)
{
	struct berr e = { 0 };
	struct in_addr a;
	int p;
	int r = net_ipam_parse_cidr(s, &a, &p, &e);
	if (r != -EINVAL)
		printf("#   '%s' accepted\n", s ? s : "(null)");
	T_EXPECT_INT(r, -EINVAL);
	T_EXPECT(strstr(e.msg, "invalid CIDR") != NULL);
}

static void test_parse_cidr(void)
{
	cidr_ok("172.30.0.1/16", "172.30.0.1", 16);
	cidr_ok("10.0.0.0/8", "10.0.0.0", 8);
	cidr_ok("0.0.0.0/0", "0.0.0.0", 0);
	cidr_ok("192.168.1.7/32", "192.168.1.7", 32);
	const char *bad[] = { "",
			      "172.30.0.1",
			      "172.30.0.1/",
			      "172.30.0.1/33",
			      "172.30.0.1/-1",
			      "172.30.0.1/+8",
			      "172.30.0.1/16x",
			      "172.30.0.1/016",
			      "172.30.0.1/08",
			      "172.30.0.1/100",
			      "256.0.0.1/8",
			      "1.2.3/8",
			      "01.2.3.4/8",
			      " 1.2.3.4/8",
			      "1.2.3.4 /8",
			      "1.2.3.4/8 ",
			      "::1/128",
			      "172.30.0.1/16/1",
			      "1111.2.3.4.5.6.7.8/8",
			      NULL };
	for (int i = 0; bad[i]; i++)
		cidr_bad(bad[i]);
	cidr_bad(NULL);
}

static void test_overlaps_and_network(void)
{
	T_EXPECT(net_ipam_overlaps(ip("10.0.0.0"), 8, ip("10.1.0.0"), 16));
	T_EXPECT(net_ipam_overlaps(ip("10.1.0.0"), 16, ip("10.0.0.0"), 8));
	T_EXPECT(!net_ipam_overlaps(ip("172.30.0.0"), 16, ip("172.31.0.0"), 16));
	T_EXPECT(net_ipam_overlaps(ip("172.30.0.1"), 16, ip("172.30.5.0"), 24)); /* host bits */
	T_EXPECT(net_ipam_overlaps(ip("0.0.0.0"), 0, ip("192.168.1.0"), 24));    /* default */
	T_EXPECT(!net_ipam_overlaps(ip("192.168.1.1"), 32, ip("192.168.1.2"), 32));
	T_EXPECT(net_ipam_overlaps(ip("192.168.1.1"), 32, ip("192.168.1.0"), 30));
	T_EXPECT(!net_ipam_overlaps(ip("192.168.1.4"), 30, ip("192.168.1.0"), 30));
	char buf[INET_ADDRSTRLEN];
	struct in_addr n = net_ipam_network(ip("172.30.9.1"), 16);
	T_EXPECT_STR(inet_ntop(AF_INET, &n, buf, sizeof(buf)), "172.30.0.0");
	n = net_ipam_network(ip("172.30.9.1"), 32);
	T_EXPECT_STR(inet_ntop(AF_INET, &n, buf, sizeof(buf)), "172.30.9.1");
	n = net_ipam_network(ip("172.30.9.1"), 0);
	T_EXPECT_STR(inet_ntop(AF_INET, &n, buf, sizeof(buf)), "0.0.0.0");
}

int main(void)
{
	T_RUN(test_sequential_and_reuse);
	T_RUN(test_release);
	T_RUN(test_reserved_and_full);
	T_RUN(test_survives_restart);
	T_RUN(test_subnet_change);
	T_RUN(test_corrupt_file);
	T_RUN(test_bad_input);
	T_RUN(test_lock);
	T_RUN(test_parse_cidr);
	T_RUN(test_overlaps_and_network);
	if (dir[0])
		fs_rm_rf(dir, NULL);
	return T_DONE();
}
