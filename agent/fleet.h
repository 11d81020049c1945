/* Fleet: the heartbeat to a management portal and the desired state it
 * answers with (docs/heartbeat.md). The daemon runs each heartbeat and each
 * update in a child process; their outcome comes back in files under
 * <data root>/fleet/ and in the child's exit code. */
#ifndef BERTH_AGENT_FLEET_H
#define BERTH_AGENT_FLEET_H

#include <stdbool.h>

#include "agent/settings.h"
#include "board/err.h"

#define FLEET_DOC_MAX (64 * 1024)
#define FLEET_CONTAINERS_MAX 32

/* What a heartbeat child's exit code says. */
enum {
	FLEET_HB_NOTHING = 0, /* 204/304, or a revision already seen */
	FLEET_HB_NEW = 10,    /* a new desired state is in fleet/desired.json */
	FLEET_HB_RETRY = 20,  /* 429/503: Retry-After seconds in fleet/hb.json */
	FLEET_HB_FAILED = 30, /* no answer or an error; the reason in fleet/hb.json */
};

/* One heartbeat (in a child of the daemon). Returns a FLEET_HB_* code. */
int agent_fleet_heartbeat(const char *root, const struct agent_config *cfg);

/* The Retry-After seconds a FLEET_HB_RETRY heartbeat recorded (0 if none). */
int agent_fleet_retry_after(const char *root);
/* Why the last heartbeat failed ("" when it did not). */
void agent_fleet_hb_error(const char *root, char *out, size_t len);

/* Applies fleet/desired.json (in a child of the daemon): pull, replace,
 * settle, and roll back on failure; every step journaled. Returns 0 when the
 * revision was applied, 1 when it was refused or rolled back, 2 when a pull
 * failed and the next heartbeat brings it again. */
int agent_fleet_apply(const char *root, const struct agent_config *cfg);

/* At daemon start: finishes or rolls back an update a crash interrupted.
 * Returns 0 (nothing to do, or finished), 1 (rolled back), or -EBUSY when
 * another process holds the update lock and wait is false: an update that
 * outlived its daemon, or one still dying; the daemon then waits for the lock
 * in a child (agent_fleet_recover_wait) and recovers whatever that left. */
int agent_fleet_recover(const char *root, const struct agent_config *cfg, bool wait);
int agent_fleet_recover_wait(const char *root, const struct agent_config *cfg);

/* Checks a desired-state document; 0 or -EINVAL with the reason. Pure, for
 * tests and fuzzing. */
int agent_fleet_validate(const char *doc, size_t len, struct berr *err);

#endif
