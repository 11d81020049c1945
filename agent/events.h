/* Events as docker reports them (create, start, die, destroy, pull, ...):
 * appended as JSON lines to <data root>/events.log by whichever process did
 * the thing (CLI, daemon, a container's monitor), rotated at a fixed size,
 * and read back by `berth events` and the API's /events stream. */
#ifndef BERTH_AGENT_EVENTS_H
#define BERTH_AGENT_EVENTS_H

#include <stdbool.h>

#include "board/err.h"

#define AGENT_EVENTS_MAX_BYTES (512 * 1024) /* events.log, then events.log.1 */

struct cJSON;

/* Records one event. type: "container", "image", "volume", "network";
 * action: "start", "die", "health_status: healthy", ...; id: the object's
 * id; attrs: extra actor attributes (name, image, exitCode; may be NULL;
 * borrowed). Errors are ignored: events are best effort. */
void agent_event(const char *root, const char *type, const char *action, const char *id,
		 const struct cJSON *attrs);

/* Convenience for containers: adds name and image from the container's config. */
struct agent_ctr;
void agent_event_ctr(const char *root, const char *action, const struct agent_ctr *c,
		     const char *extra_key, const char *extra_val);

struct agent_events_filter {
	long long since, until; /* unix ns; 0 = unbounded (since 0 with follow: from now) */
	int n;
	const char *key[16], *val[16]; /* type=, event=, container=, image= ... */
};

/* Streams events to out (one JSON object per call) from since, following the
 * log when follow is set until until passes or out returns non-zero. */
int agent_events_read(const char *root, const struct agent_events_filter *f, bool follow,
		      int (*out)(void *arg, const char *json, size_t len), void *arg);

#endif
