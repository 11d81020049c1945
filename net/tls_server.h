/* TLS server for the daemon's TCP listener, with BearSSL: the server's
 * certificate chain and key from PEM files, a client certificate required
 * and checked against a CA file, then a relay between the TLS stream and a
 * local socket. */
#ifndef BERTH_TLS_SERVER_H
#define BERTH_TLS_SERVER_H

#include "board/err.h"

struct net_tls_server;
struct net_tls_session;

/* Loads ca (PEM: clients must present a certificate issued by one of these),
 * cert (PEM: the server's certificate first, then any intermediates) and key
 * (PEM: an EC or RSA key, "EC PRIVATE KEY", "RSA PRIVATE KEY" or PKCS#8
 * "PRIVATE KEY"; not encrypted). Returns the loaded set, owned by the
 * caller, or NULL with err naming the file and the reason. */
struct net_tls_server *net_tls_server_new(const char *ca, const char *cert, const char *key,
					  struct berr *err);

/* Frees (and wipes the key). NULL is allowed. */
void net_tls_server_free(struct net_tls_server *s);

/* Runs the server handshake on the accepted socket fd (owned by the caller;
 * blocking or not), within timeout_ms in all. A client that sends no
 * certificate, or one that does not chain to the CA file, is refused during
 * the handshake. Returns the session (about 38 KiB), or NULL with err: "no
 * client certificate", "unknown certificate authority", "handshake timed
 * out", "not TLS (plain HTTP?)", ... s must outlive the session. */
struct net_tls_session *net_tls_server_accept(const struct net_tls_server *s, int fd,
					      int timeout_ms, struct berr *err);

/* Relays until either side is done: what the client sends goes to ufd (a
 * connected stream socket, owned by the caller) and what ufd sends goes to
 * the client, through the engine's buffers only. The end of the client's
 * input (TCP EOF, or its close_notify: a half-close, as Go's CloseWrite
 * does) shuts ufd's write side and the answer still goes back; EOF from ufd
 * sends close_notify and ends the relay. A side that takes none of the
 * pending bytes for stall_ms ends it too; a quiet stream waits for ever.
 * Returns 0 or -errno with err. */
int net_tls_session_relay(struct net_tls_session *c, int ufd, int stall_ms, struct berr *err);

/* Sends close_notify if still open (best effort) and frees. NULL is allowed. */
void net_tls_session_free(struct net_tls_session *c);

#endif
