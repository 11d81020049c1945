/* IPv4 address leases in a file, and CIDR helpers (see ipam.h). */
#include "ipam.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "board/cleanup.h"
#include "board/fs.h"

/* Host-order netmask of prefix (clamped to 0..32). */
static uint32_t ipam_mask(int prefix)
{
	if (prefix <= 0)
		return 0;
	return prefix >= 32 ? 0xffffffffu : 0xffffffffu << (32 - prefix);
}

struct in_addr net_ipam_network(struct in_addr a, int prefix)
{
	struct in_addr n = { .s_addr = a.s_addr & htonl(ipam_mask(prefix)) };
	return n;
}

bool net_ipam_overlaps(struct in_addr a, int pa, struct in_addr b, int pb)
{
	/* Two prefixes share an address exactly when one contains the other. */
	uint32_t m = htonl(ipam_mask(pa < pb ? pa : pb));
	return (a.s_addr & m) == (b.s_addr & m);
}

int net_ipam_parse_cidr(const char *s, struct in_addr *addr, int *prefix, struct berr *err)
{
	const char *slash = s ? strchr(s, '/') : NULL;
	char ip[INET_ADDRSTRLEN];
	if (!slash)
		return berr_setmsg(err, EINVAL, "invalid CIDR '%.64s': expected a.b.c.d/n",
				   s ? s : "");
	size_t n = (size_t)(slash - s);
	if (n >= sizeof(ip))
		return berr_setmsg(err, EINVAL, "invalid CIDR '%.64s': bad address", s);
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, addr) != 1)
		return berr_setmsg(err, EINVAL, "invalid CIDR '%.64s': bad address", s);
	const char *p = slash + 1;
	size_t digits = strspn(p, "0123456789");
	int v = digits == 1 ? p[0] - '0' : digits == 2 ? (p[0] - '0') * 10 + p[1] - '0' : -1;
	if (p[digits] || v < 0 || v > 32 || (digits == 2 && p[0] == '0'))
		return berr_setmsg(err, EINVAL, "invalid CIDR '%.64s': prefix length must be 0..32",
				   s);
	*prefix = v;
	return 0;
}

int net_ipam_lock(const char *path, struct berr *err)
{
	char lock[PATH_MAX];
	if ((size_t)snprintf(lock, sizeof(lock), "%s.lock", path) >= sizeof(lock))
		return berr_setmsg(err, ENAMETOOLONG, "%s: path too long", path);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return berr_set(err, errno, "open %s", lock);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		return berr_set(err, e, "lock %s", lock);
	}
	return fd;
}

/* ---- the leases file ---------------------------------------------------------- */

struct ipam_lease {
	uint32_t ip;       /* host order */
	const char *owner; /* into the file's text (or the caller's string), not NUL-ended */
	size_t len;
};

struct ipam_table {
	char *text; /* the file as read */
	struct ipam_lease *l;
	int n;
};

static void ipam_table_free(struct ipam_table *t)
{
	free(t->text);
	free(t->l);
}

static bool ipam_owner_ok(const char *s, size_t len)
{
	if (len == 0 || len >= NET_IPAM_OWNER_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static int ipam_find_owner(const struct ipam_table *t, const char *owner, size_t len)
{
	for (int i = 0; i < t->n; i++)
		if (t->l[i].len == len && !memcmp(t->l[i].owner, owner, len))
			return i;
	return -1;
}

static bool ipam_used(const struct ipam_table *t, uint32_t ip)
{
	for (int i = 0; i < t->n; i++)
		if (t->l[i].ip == ip)
			return true;
	return false;
}

static int ipam_corrupt(struct berr *err, const char *path, int line, const char *why)
{
	return berr_setmsg(err, EBADMSG, "leases file %s line %d: %s", path, line, why);
}

/* Reads and checks the leases file; a missing file has no leases. */
static int ipam_load(const char *path, struct ipam_table *t, struct berr *err)
{
	ssize_t len = fs_read_alloc(path, NET_IPAM_FILE_MAX, &t->text, err);
	if (len == -ENOENT) {
		berr_clear(err);
		len = 0;
	} else if (len < 0) {
		return (int)len;
	}
	t->l = calloc(NET_IPAM_LEASES_MAX + 1, sizeof(*t->l)); /* + 1: room for a new lease */
	if (!t->l)
		return berr_set(err, ENOMEM, "read %s", path);
	const char *p = t->text, *end = p + len;
	for (int line = 1; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return ipam_corrupt(err, path, line, "no final newline");
		if (t->n == NET_IPAM_LEASES_MAX)
			return ipam_corrupt(err, path, line, "too many leases");
		const char *sp = memchr(p, ' ', (size_t)(nl - p));
		char ip[INET_ADDRSTRLEN];
		struct in_addr a;
		if (!sp || (size_t)(sp - p) >= sizeof(ip))
			return ipam_corrupt(err, path, line, "expected \"<ip> <owner>\"");
		memcpy(ip, p, (size_t)(sp - p));
		ip[sp - p] = '\0';
		if (inet_pton(AF_INET, ip, &a) != 1)
			return ipam_corrupt(err, path, line, "bad address");
		struct ipam_lease *l = &t->l[t->n];
		l->ip = ntohl(a.s_addr);
		l->owner = sp + 1;
		l->len = (size_t)(nl - l->owner);
		if (!ipam_owner_ok(l->owner, l->len))
			return ipam_corrupt(err, path, line, "bad owner");
		if (ipam_used(t, l->ip))
			return ipam_corrupt(err, path, line, "address leased twice");
		if (ipam_find_owner(t, l->owner, l->len) >= 0)
			return ipam_corrupt(err, path, line, "owner has two leases");
		t->n++;
		p = nl + 1;
	}
	return 0;
}

static int ipam_store(const char *path, const struct ipam_table *t, struct berr *err)
{
	size_t cap = (size_t)t->n * (INET_ADDRSTRLEN + NET_IPAM_OWNER_MAX) + 1, len = 0;
	_cleanup_free_ char *out = malloc(cap);
	if (!out)
		return berr_set(err, ENOMEM, "write %s", path);
	for (int i = 0; i < t->n; i++) {
		char ip[INET_ADDRSTRLEN];
		struct in_addr a = { .s_addr = htonl(t->l[i].ip) };
		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		len += (size_t)snprintf(out + len, cap - len, "%s %.*s\n", ip, (int)t->l[i].len,
					t->l[i].owner);
	}
	return fs_write_atomic(path, out, len, 0644, err);
}

static void ipam_remove(struct ipam_table *t, int i)
{
	memmove(&t->l[i], &t->l[i + 1], (size_t)(t->n - i - 1) * sizeof(*t->l));
	t->n--;
}

int net_ipam_lease(const char *path, struct in_addr subnet, int prefix, const char *owner,
		   struct in_addr *out, struct berr *err)
{
	char sub[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &subnet, sub, sizeof(sub));
	if (prefix < 1 || prefix > 30)
		return berr_setmsg(err, EINVAL, "lease an address in %s/%d: prefix must be 1..30",
				   sub, prefix);
	size_t olen = owner ? strlen(owner) : 0;
	if (!ipam_owner_ok(owner, olen))
		return berr_setmsg(err, EINVAL, "lease an address in %s/%d: invalid owner '%.64s'",
				   sub, prefix, owner ? owner : "");
	__attribute__((cleanup(ipam_table_free))) struct ipam_table t = { 0 };
	int r = ipam_load(path, &t, err);
	if (r < 0)
		return r;

	uint32_t mask = ipam_mask(prefix), self = ntohl(subnet.s_addr);
	uint32_t net = self & mask, bcast = net | ~mask;
	int mine = ipam_find_owner(&t, owner, olen);
	if (mine >= 0) {
		uint32_t ip = t.l[mine].ip;
		if ((ip & mask) == net && ip != net && ip != bcast && ip != net + 1 && ip != self) {
			out->s_addr = htonl(ip);
			return 0;
		}
		ipam_remove(&t, mine); /* from another subnet: the bridge's changed */
	}
	if (t.n >= NET_IPAM_LEASES_MAX)
		return berr_setmsg(err, ENOSPC, "lease an address in %s/%d: %d leases already", sub,
				   prefix, t.n);
	/* Lowest free address: each skipped candidate is a lease (or self),
	 * so this takes at most t.n + 2 steps. */
	uint32_t ip = net + 2;
	while (ip < bcast && (ip == self || ipam_used(&t, ip)))
		ip++;
	if (ip >= bcast)
		return berr_setmsg(err, ENOSPC, "lease an address in %s/%d: no free address", sub,
				   prefix);
	t.l[t.n++] = (struct ipam_lease){ .ip = ip, .owner = owner, .len = olen };
	r = ipam_store(path, &t, err);
	if (r < 0)
		return r;
	out->s_addr = htonl(ip);
	return 0;
}

int net_ipam_release(const char *path, const char *owner, struct berr *err)
{
	__attribute__((cleanup(ipam_table_free))) struct ipam_table t = { 0 };
	int r = ipam_load(path, &t, err);
	if (r < 0)
		return r;
	int i = owner ? ipam_find_owner(&t, owner, strlen(owner)) : -1;
	if (i < 0)
		return berr_setmsg(err, ENOENT, "release address of %.64s: no lease",
				   owner ? owner : "(null)");
	ipam_remove(&t, i);
	return ipam_store(path, &t, err);
}
