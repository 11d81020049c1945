/* A client connection: TCP with deadlines, optionally wrapped in TLS, or a
 * local UNIX socket. */
#ifndef BERTH_CONN_H
#define BERTH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "board/err.h"
#include "net/tls.h"

struct net_conn {
	int fd;
	struct net_tls *tls; /* NULL for plain TCP */
	int timeout_ms;      /* an operation without progress for this long fails */
};

/* Resolves host, connects (each address in turn, bounded by timeout_ms) and,
 * with tls, starts a TLS session checked against trust for host. The
 * certs.d directory used is certs_name ("host:port") when given, else the
 * host's own ("host" for 443, "host:port" otherwise). Returns 0 or -errno
 * with err ("connect 127.0.0.1:5000: Connection refused"). */
int net_conn_open(struct net_conn *c, const char *host, uint16_t port, bool tls,
		  const struct net_tls_trust *trust, const char *certs_name, int timeout_ms,
		  struct berr *err);

/* Connects to the UNIX socket at path (a local daemon's API), waiting at
 * most timeout_ms while its backlog is full. Returns 0 or -errno with err
 * ("connect unix:///run/x.sock: Connection refused"). */
int net_conn_open_unix(struct net_conn *c, const char *path, int timeout_ms, struct berr *err);

/* Reads up to len bytes: count, 0 at EOF, or -errno (-ETIMEDOUT). */
ssize_t net_conn_read(struct net_conn *c, void *buf, size_t len, struct berr *err);

/* Writes all of buf or fails with -errno. */
int net_conn_write_all(struct net_conn *c, const void *buf, size_t len, struct berr *err);

/* Waits for ev (POLLIN/POLLOUT) on fd at most timeout_ms in all, signals
 * included (negative: forever). Returns 0, -ETIMEDOUT or -errno. Used by
 * the TLS layer too. */
int net_wait_fd(int fd, short ev, int timeout_ms);

/* Closes (safe on a closed or zeroed-then-fd=-1 conn). */
void net_conn_close(struct net_conn *c);

#endif
