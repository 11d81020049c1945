/* A container's runtime state, containers/<id>/state: what runs (pid 1 and
 * its monitor), since when, and how it ended. Small "key=value" lines,
 * replaced crash-safely; written by the CLI at create and by the monitor. */
#ifndef BERTH_RT_STATE_H
#define BERTH_RT_STATE_H

#include <stdbool.h>
#include <sys/types.h>

#include "board/err.h"

enum rt_status { RT_CREATED, RT_RUNNING, RT_EXITED };

struct rt_state {
	enum rt_status status;
	pid_t pid;                        /* pid 1 of the container, host view */
	pid_t monitor;                    /* its monitor */
	unsigned long long monitor_start; /* the monitor's start time (/proc stat),
					   * so a reused pid is not mistaken for it */
	long long started, finished;      /* unix time in nanoseconds, 0 if never */
	int exit_code;
	bool oom_killed;
	int restarts;
	char error[256]; /* why the last start failed */
};

const char *rt_status_name(enum rt_status s);

/* Reads dir/state; a missing file reads as a fresh RT_CREATED state. */
int rt_state_read(const char *dir, struct rt_state *st, struct berr *err);
/* durable: fsync'd (a --rm container's state need not survive a crash). */
int rt_state_write(const char *dir, const struct rt_state *st, bool durable, struct berr *err);

/* Start time of a process (clock ticks since boot), 0 when it does not exist. */
unsigned long long rt_proc_start(pid_t pid);

/* True while the monitor recorded in st still runs. */
bool rt_state_monitor_alive(const struct rt_state *st);

/* The current time in nanoseconds since the epoch. */
long long rt_now_ns(void);

#endif
