/* Agent settings: daemon.json (Docker's keys where Docker has them) and the
 * credentials file (Docker's config.json "auths" format). Both live in the
 * config directory: $BERTH_CONFIG, else /etc/berth. */
#ifndef BERTH_AGENT_CONFIG_H
#define BERTH_AGENT_CONFIG_H

#include <limits.h>
#include <stdbool.h>

#include "board/err.h"
#include "net/ref.h"
#include "net/registry.h"

#define AGENT_CONFIG_DIR "/etc/berth"
#define AGENT_MAX_INSECURE 16
#define AGENT_MAX_MIRROR_HOSTS 8
#define AGENT_MAX_HOSTS 8

struct agent_mirrors {
	const char *host; /* "docker.io" for registry-mirrors */
	int n;
	const char *urls[REGISTRY_MAX_MIRRORS];
};

struct agent_config {
	char dir[PATH_MAX - 64];      /* config directory */
	char certs_d[PATH_MAX];       /* <dir>/certs.d */
	const char *data_root;        /* "data-root", NULL when not set */
	int max_concurrent_downloads; /* "max-concurrent-downloads", default 3 */
	int max_download_attempts;    /* "max-download-attempts", default 5 */
	long long min_free_space;     /* "min-free-space" bytes (Berth's key), default 0 */
	int retry_base_ms;            /* first retry delay, doubling; default 500 */
	int timeout_ms;               /* stalled connection timeout; default 30000 */
	int ninsecure;
	const char *insecure[AGENT_MAX_INSECURE]; /* "insecure-registries" */
	int nmirrors;
	struct agent_mirrors mirrors[AGENT_MAX_MIRROR_HOSTS]; /* "registry-mirrors", "mirrors" */
	const char *storage_driver; /* "storage-driver": "overlay" or "squashfs"; NULL: unset */
	const char *bip;            /* "bip": the default bridge's address/prefix; NULL: default */
	bool iptables;              /* "iptables": NAT rules for published ports (default true) */
	bool userland_proxy;        /* "userland-proxy" (default true) */
	int nhosts;
	const char *hosts[AGENT_MAX_HOSTS];       /* "hosts": the daemon's -H (flags win) */
	bool tlsverify;                           /* "tlsverify" */
	const char *tlscacert, *tlscert, *tlskey; /* "tlscacert" ...; NULL: not set */
	struct {
		const char *portal;     /* "fleet": {"portal": URL}; NULL: no heartbeat */
		int interval;           /* seconds, default 60 */
		const char *token;      /* bearer token */
		const char *token_file; /* wins over token */
		int settle;             /* seconds, default 30 */
	} fleet;
	void *doc; /* the parsed daemon.json (cJSON) */
};

/* Loads <dir>/daemon.json, or path when given (--config-file). A missing
 * default file is fine; a missing explicit one, bad JSON or a bad value is an
 * error naming the file and key. */
int agent_config_load(struct agent_config *c, const char *path, struct berr *err);
void agent_config_free(struct agent_config *c);

/* Fills rc for pulling from ref's registry; basic receives the stored
 * credentials (base64) when there are any. */
void agent_config_registry(const struct agent_config *c, const struct net_ref *ref,
			   struct net_registry_config *rc, char *basic, size_t basiclen);

/* Reads a REGISTRY argument (a bare "host[:port]" or a URL; Docker Hub's
 * names become docker.io) into ref, with an empty path. Returns 0 or -EINVAL
 * for something that is not a registry host ("busybox"). */
int agent_registry_host(const char *arg, struct net_ref *ref, struct berr *err);

/* Repositories of the registry named by spec ("REGISTRY[/TERM]") whose name
 * contains TERM, at most limit, each passed to emit with its tags joined by
 * ", ": `berth search` and GET /images/search. -EINVAL when spec names no
 * registry. */
int agent_search(const struct agent_config *cfg, const char *spec, int limit,
		 void (*emit)(void *ctx, const char *host, const char *name, const char *tags),
		 void *ctx, struct berr *err);
/* agent_search's repositories as GET /images/search's answer (*out, caller
 * frees; NULL on error). Returns as agent_search. */
struct cJSON;
int agent_search_json(const struct agent_config *cfg, const char *spec, int limit,
		      struct cJSON **out, struct berr *err);

/* The credentials file and its key for a registry host (Docker Hub's is
 * "https://index.docker.io/v1/"). */
void agent_auth_path(const struct agent_config *c, char *out, size_t len);
const char *agent_auth_key(const char *host);

struct agent_opts;
struct store;
/* Applies daemon.json's storage-driver to a store opened for writing (an
 * error when the store holds layers of the other kind); with none set, a
 * new store gets the build's default (CONFIG_SQUASHFS_DEFAULT). */
int agent_store_driver(const struct agent_config *c, struct store *s, struct berr *err);
/* The data root: --root, else daemon.json's data-root, else the default. */
const char *agent_data_root(const struct agent_opts *o, const struct agent_config *cfg);
/* Loads the config for a command; prints the error and returns
 * AGENT_EXIT_FAIL on failure. */
int agent_load_config(const struct agent_opts *o, struct agent_config *cfg);

#endif
