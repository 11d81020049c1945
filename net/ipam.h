/* IPv4 addresses for containers on the default bridge: a small allocator
 * whose leases live in a file ("<ip> <owner>\n" per lease, replaced
 * atomically), so they survive daemon restarts; and the CIDR helpers the
 * bridge setup needs (daemon.json "bip", host route collisions). */
#ifndef BERTH_IPAM_H
#define BERTH_IPAM_H

#include <netinet/in.h>
#include <stdbool.h>

#include "board/err.h"

#define NET_IPAM_LEASES_MAX 1024 /* leases in one file */
#define NET_IPAM_OWNER_MAX 128   /* owner id, with its NUL: [A-Za-z0-9_.-]{1,127} */
#define NET_IPAM_FILE_MAX (NET_IPAM_LEASES_MAX * (INET_ADDRSTRLEN + NET_IPAM_OWNER_MAX))

/* Parses "a.b.c.d/n" (n 0..32, no leading zeros, nothing around it) into
 * the address as written (host bits kept: "bip" names the bridge's own
 * address) and the prefix length. Returns 0 or -EINVAL with err saying why
 * ("invalid CIDR '10.0.0.1/33': prefix length must be 0..32"). */
int net_ipam_parse_cidr(const char *s, struct in_addr *addr, int *prefix, struct berr *err);

/* a with the bits beyond prefix (0..32) cleared: its network address. */
struct in_addr net_ipam_network(struct in_addr a, int prefix);

/* Whether a/pa and b/pb share an address (host bits ignored). */
bool net_ipam_overlaps(struct in_addr a, int pa, struct in_addr b, int pb);

/* Takes an exclusive flock on "<path>.lock" (created 0600 if needed),
 * waiting for another holder. Returns the fd holding it (closing it
 * releases the lock) or -errno. net_ipam_lease and net_ipam_release do not
 * lock: callers that may run concurrently (two starts, a start and a
 * cleanup) hold this lock around them. */
int net_ipam_lock(const char *path, struct berr *err);

/* Gives owner an address of subnet/prefix (prefix 1..30) and records it in
 * the leases file at path (created when missing). Never handed out: the
 * network and broadcast addresses, the gateway (network + 1) and subnet
 * itself when it has host bits set (a "bip" like 172.30.0.5/16). An owner
 * that already holds an address of this subnet gets it back; a lease it
 * holds outside the subnet (the subnet changed) is dropped. New leases take
 * the lowest free address. Returns 0 with *out set, -ENOSPC when the subnet
 * (or the file, NET_IPAM_LEASES_MAX) is full, -EINVAL for a bad owner or
 * prefix, -EBADMSG for a corrupt leases file, or -errno.
 *
 * A corrupt leases file (a malformed line, a duplicate address or owner, no
 * final newline) is an error naming the line, never silently rebuilt: the
 * addresses of running containers would be handed out again. The daemon
 * may rebuild it from the containers it knows (remove it, lease again). */
int net_ipam_lease(const char *path, struct in_addr subnet, int prefix, const char *owner,
		   struct in_addr *out, struct berr *err);

/* Drops owner's lease from the file at path. Returns 0, -ENOENT when owner
 * holds none (a cleanup can take that as done), or -errno as above. */
int net_ipam_release(const char *path, const char *owner, struct berr *err);

#endif
