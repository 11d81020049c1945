/* Event log (see events.h). Docker Engine API: /events message format. */
#include "agent/events.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/container.h"
#include "runtime/state.h"

static void log_path(const char *root, char *out, size_t len, int gen)
{
	snprintf(out, len, "%s/events.log%s", root, gen ? ".1" : "");
}

void agent_event(const char *root, const char *type, const char *action, const char *id,
		 const cJSON *attrs)
{
	long long now = rt_now_ns();
	cJSON *j = cJSON_CreateObject();
	if (!strcmp(type, "container") || !strcmp(type, "image")) {
		/* the older top-level fields the docker CLI still reads */
		char status[128];
		snprintf(status, sizeof(status), "%s", action);
		cJSON_AddStringToObject(j, "status", status);
		cJSON_AddStringToObject(j, "id", id);
		const char *img = cJSON_GetStringValue(cJSON_GetObjectItem(attrs, "image"));
		if (img)
			cJSON_AddStringToObject(j, "from", img);
	}
	cJSON_AddStringToObject(j, "Type", type);
	cJSON_AddStringToObject(j, "Action", action);
	cJSON *actor = cJSON_AddObjectToObject(j, "Actor");
	cJSON_AddStringToObject(actor, "ID", id);
	cJSON_AddItemToObject(actor, "Attributes",
			      attrs ? cJSON_Duplicate(attrs, true) : cJSON_CreateObject());
	cJSON_AddStringToObject(j, "scope", "local");
	/* integers past 2^53 would print as floats, which docker cannot read */
	char num[32];
	snprintf(num, sizeof(num), "%lld", now / 1000000000LL);
	cJSON_AddRawToObject(j, "time", num);
	snprintf(num, sizeof(num), "%lld", now);
	cJSON_AddRawToObject(j, "timeNano", num);
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!s)
		return;
	char p[4200], p1[4200];
	log_path(root, p, sizeof(p), 0);
	struct stat st;
	if (!stat(p, &st) && st.st_size > AGENT_EVENTS_MAX_BYTES) {
		log_path(root, p1, sizeof(p1), 1);
		rename(p, p1);
	}
	int fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		size_t n = strlen(s);
		s[n] = '\n';
		/* one write: O_APPEND keeps concurrent writers' lines whole */
		ssize_t w = write(fd, s, n + 1);
		(void)w;
		close(fd);
	}
	free(s);
}

void agent_event_ctr(const char *root, const char *action, const struct agent_ctr *c,
		     const char *extra_key, const char *extra_val)
{
	cJSON *a = cJSON_CreateObject();
	const char *image = cJSON_GetStringValue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(c->cfg, "Config"), "Image"));
	cJSON_AddStringToObject(a, "image", image ? image : "");
	cJSON_AddStringToObject(a, "name", c->name);
	if (extra_key)
		cJSON_AddStringToObject(a, extra_key, extra_val ? extra_val : "");
	agent_event(root, "container", action, c->id, a);
	cJSON_Delete(a);
}

static bool match(const cJSON *ev, const struct agent_events_filter *f, long long t)
{
	if (f->since && t < f->since)
		return false;
	if (f->until && t > f->until)
		return false;
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "Type"));
	const char *action = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "Action"));
	const cJSON *actor = cJSON_GetObjectItem(ev, "Actor");
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(actor, "ID"));
	const cJSON *at = cJSON_GetObjectItem(actor, "Attributes");
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(at, "name"));
	const char *image = cJSON_GetStringValue(cJSON_GetObjectItem(at, "image"));
	/* filters of one key are alternatives; different keys must all match */
	static const char *const keys[] = { "type", "event", "container", "image" };
	for (int k = 0; k < 4; k++) {
		bool any = false, ok = false;
		for (int i = 0; i < f->n; i++) {
			if (strcmp(f->key[i], keys[k]))
				continue;
			any = true;
			const char *v = f->val[i];
			size_t vl = strlen(v);
			switch (k) {
			case 0:
				ok |= type && !strcmp(type, v);
				break;
			case 1:
				ok |= action && (!strcmp(action, v) ||
						 (!strncmp(action, v, vl) && action[vl] == ':'));
				break;
			case 2:
				ok |= (id && !strncmp(id, v, vl) && vl >= 1) ||
				      (name && !strcmp(name, v));
				break;
			default:
				ok |= (image && !strcmp(image, v)) ||
				      (type && !strcmp(type, "image") && id && !strcmp(id, v));
			}
		}
		if (any && !ok)
			return false;
	}
	return true;
}

/* Delivers the matching lines of one file from offset *off; returns out's
 * non-zero result or 0. */
static int scan(const char *path, long long *off, const struct agent_events_filter *f,
		int (*out)(void *arg, const char *json, size_t len), void *arg)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (lseek(fd, *off, SEEK_SET) < 0) {
		close(fd);
		return 0;
	}
	char buf[8192];
	size_t have = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		char *start = buf, *nl;
		while (!rc && (nl = memchr(start, '\n', have - (size_t)(start - buf)))) {
			*nl = '\0';
			*off += nl - start + 1;
			cJSON *ev = cJSON_Parse(start);
			long long t = ev ? (long long)cJSON_GetNumberValue(
						   cJSON_GetObjectItem(ev, "timeNano"))
					 : 0;
			if (ev && match(ev, f, t))
				rc = out(arg, start, (size_t)(nl - start));
			cJSON_Delete(ev);
			start = nl + 1;
		}
		have -= (size_t)(start - buf);
		memmove(buf, start, have);
		if (rc)
			break;
		if (have == sizeof(buf) - 1) {
			/* a line longer than any event: skip it */
			*off += (long long)have;
			have = 0;
		}
	}
	close(fd);
	return rc;
}

int agent_events_read(const char *root, const struct agent_events_filter *f, bool follow,
		      int (*out)(void *arg, const char *json, size_t len), void *arg)
{
	char p[4200], p1[4200];
	log_path(root, p, sizeof(p), 0);
	log_path(root, p1, sizeof(p1), 1);
	struct agent_events_filter ff = *f;
	long long off = 0, off1 = 0;
	struct stat st;
	ino_t ino = 0;
	int rc = 0;
	if (f->since || !follow) {
		rc = scan(p1, &off1, &ff, out, arg);
		if (!rc)
			rc = scan(p, &off, &ff, out, arg);
	} else if (!stat(p, &st)) {
		off = st.st_size; /* follow from now */
	}
	if (!stat(p, &st))
		ino = st.st_ino;
	while (!rc && follow) {
		if (ff.until && rt_now_ns() > ff.until)
			break;
		struct timespec d = { 0, 200 * 1000000L };
		nanosleep(&d, NULL);
		if (!stat(p, &st) && st.st_ino != ino) {
			/* rotated: finish the old file, then start the new one */
			long long o1 = off;
			rc = scan(p1, &o1, &ff, out, arg);
			off = 0;
			ino = st.st_ino;
		}
		if (!rc)
			rc = scan(p, &off, &ff, out, arg);
		/* a peer that went away: a zero-length write notices it */
		if (!rc)
			rc = out(arg, NULL, 0);
	}
	return rc;
}
