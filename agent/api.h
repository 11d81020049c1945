/* The Docker Engine API subset berthd answers (Docker Engine API v1.41+:
 * /_ping, /version, /info, /events, images, containers, exec, volumes).
 * Each handler calls the same agent_* function the CLI uses. */
#ifndef BERTH_AGENT_API_H
#define BERTH_AGENT_API_H

#include <stdbool.h>
#include <sys/types.h>

#include "agent/settings.h"
#include "net/httpd.h"

#define AGENT_API_VERSION "1.45"
#define AGENT_API_MIN_VERSION "1.24"

enum agent_api_result {
	API_KEEP,   /* answered; the connection may serve another request */
	API_CLOSE,  /* answered (or not); close the connection */
	API_FORKED, /* a child process owns the connection now */
};

struct agent_api {
	const char *root;
	const struct agent_config *cfg;
	/* Forks a child for a long or streaming request (the daemon's own state
	 * cleaned up in the child). Returns as fork() does. */
	pid_t (*fork_child)(void *arg);
	void *fork_arg;
};

/* Answers one parsed request on fd. */
enum agent_api_result agent_api_handle(const struct agent_api *a, struct net_httpd_conn *hc,
				       const struct net_httpd_req *rq, int fd);

#endif
