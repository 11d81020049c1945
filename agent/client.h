/* The CLI's way to a running daemon: Docker Engine API requests over its
 * UNIX socket (CONFIG_DAEMON only). Commands that the daemon can do for them
 * call these when o->host is set and render the same JSON the direct path
 * builds. */
#ifndef BERTH_AGENT_CLIENT_H
#define BERTH_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "agent/agent.h"
#include "board/err.h"
#include "net/conn.h"
#include "net/http.h"

struct cJSON;

#define AGENT_API_BODY_MAX (8 << 20) /* a JSON answer larger than this is refused */
#define AGENT_API_TIMEOUT_MS 60000   /* a request without progress this long fails */

/* Chooses between the daemon and the store for o: host is -H's value (NULL
 * when not given). -H, else (without --root) $BERTH_HOST, names a socket that
 * must answer; with neither and no --root, the default socket is used when it
 * accepts a connection. Sets o->host to the socket path, or leaves it NULL
 * (work on the store). Returns 0, or an exit code after printing one line. */
int agent_client_select(struct agent_opts *o, const char *host);

/* Sends "METHOD /v<api>path" (path already percent-encoded where needed) with
 * an optional JSON body. timeout_ms < 0: wait as long as the daemon takes
 * (stop, wait, follow). Returns the HTTP status, or -errno with err when the
 * daemon could not be reached. On 2xx the body is then read with
 * agent_api_read; on >= 400 it is read here and err gets the daemon's
 * message (code ENOENT for 404, EBUSY for 409, EINVAL for 400, EIO else). */
int agent_api_open(const struct agent_opts *o, const char *method, const char *path,
		   const char *body, int timeout_ms, struct berr *err);

/* Body bytes of the current answer: count, 0 at its end, or -errno. */
ssize_t agent_api_read(void *buf, size_t len, struct berr *err);

/* The Content-Type of the current answer ("" when none). */
const char *agent_api_content_type(void);

/* agent_api_open plus the whole body parsed (*out, may be NULL when the
 * body is empty or out is NULL; caller frees). Returns as agent_api_open. */
int agent_api_call(const struct agent_opts *o, const char *method, const char *path,
		   const char *body, int timeout_ms, struct cJSON **out, struct berr *err);

/* A request on a connection of its own, for answers that outlive the
 * request/answer pattern: attach and exec start (hijacked: a raw stream
 * follows the head) and wait (its answer is read after the stream ends). */
struct agent_api_conn {
	struct net_conn c;
	int status;
	bool raw;     /* application/vnd.docker.raw-stream (a tty): no frames */
	bool chunked; /* the answer's body is chunked */
	size_t have;  /* body or stream bytes already in buf */
	size_t left;  /* data bytes left in the current stream frame */
	int stream;   /* its fd: 1 or 2 */
	char buf[HTTP_HEAD_MAX];
};

/* Sends the request (upgrade: asks for the connection to be hijacked) and
 * reads the answer's head. Returns the status with the connection open for
 * 1xx and 2xx; else the connection is closed and err holds the daemon's
 * message as agent_api_open words it. -errno when it could not be sent. */
int agent_api_conn_open(const struct agent_opts *o, const char *method, const char *path,
			const char *body, bool upgrade, struct agent_api_conn *c, struct berr *err);

/* Reads the rest of the answer (at most sizeof(c->buf)) as JSON (*out, caller
 * frees), waiting as long as the daemon takes; closes the connection.
 * Returns 0 or -errno with err. */
int agent_api_conn_json(struct agent_api_conn *c, struct cJSON **out, struct berr *err);

void agent_api_conn_close(struct agent_api_conn *c);

/* Relays our stdio and a hijacked stream until the daemon ends it: stdin
 * (when stdin_on; its end is a half-close), docker's multiplexed frames to
 * stdout and stderr (raw for a tty). With tty our terminal is raw and its
 * size goes to target's /resize ("/containers/ID" or "/exec/ID"); with
 * sig_proxy, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 go to
 * target's /kill. With tty, docker's detach keys (ctrl-p ctrl-q) end the
 * relay and leave the container running. Returns 0, 1 after a detach, or
 * -errno with err when the stream broke. */
struct agent_relay {
	const char *target;
	bool stdin_on, tty, sig_proxy;
};
int agent_api_relay(const struct agent_opts *o, struct agent_api_conn *c,
		    const struct agent_relay *r, struct berr *err);

/* Pulls ref through the daemon, its progress printed to out as the direct
 * pull prints it (in images.c). Returns 0 or -errno with err. */
int agent_pull_api(const struct agent_opts *o, const char *ref, bool quiet, FILE *out,
		   struct berr *err);

/* Percent-encodes s for a path segment or query value into out (truncated
 * to len, NUL-terminated). Returns out. */
char *agent_api_enc(const char *s, char *out, size_t len);

#endif
