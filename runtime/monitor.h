/* The monitor: one small process per running container (what conmon or
 * containerd-shim are to others). It owns the container's pid 1, its stdio
 * pipes or pty, and its log; serves attach clients on <dir>/attach.sock;
 * records the exit in <dir>/state; and outlives the CLI and the daemon. */
#ifndef BERTH_RT_MONITOR_H
#define BERTH_RT_MONITOR_H

#include <stdbool.h>
#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#include "board/err.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"

/* Attach stream frames, both ways: an 8-byte header (type, 0, 0, 0, length
 * as big-endian u32, as docker's multiplexed streams) and the payload. */
enum rt_frame {
	RT_FRAME_STDIN = 0,
	RT_FRAME_STDOUT = 1,
	RT_FRAME_STDERR = 2,
	RT_FRAME_EXIT = 3,    /* monitor -> client: decimal exit code */
	RT_FRAME_WINSIZE = 4, /* client -> monitor: "rows cols" */
	RT_FRAME_EOF = 5,     /* client -> monitor: close the container's stdin */
	RT_FRAME_HELLO = 6,   /* client -> monitor, first: an attach client (output, stdin) */
	RT_FRAME_WATCH = 7,   /* client -> monitor, first: only the exit code (wait) */
};
#define RT_FRAME_MAX 32768

struct rt_monitor {
	struct rt_spec spec; /* stdio and tty are set by the monitor */
	const char *cgroup;  /* group name ("berth/<id>") */
	struct rt_cg_limits limits;
	bool stdin_open;  /* -i: keep a stdin for attach clients */
	bool wait_attach; /* hold the start until the first client attaches */
	bool ephemeral;   /* --rm: state writes need not be durable */
	int64_t log_max_size;
	int log_max_file;
	/* An fd the monitor keeps open while the container runs (a lock that
	 * says "in use"), closed just before on_exit; -1 for none. */
	int hold_fd;
	int keep_fd; /* another fd the monitor keeps (a namespace to join); -1: none */
	/* Hooks run in the monitor, with hook_arg: pre_start before the
	 * container starts (publishing ports; failing aborts the start), and
	 * extra fds to poll while it runs (the port proxy). May be NULL. */
	int (*pre_start)(void *arg, struct berr *err);
	int (*poll_fds)(void *arg, struct pollfd *fds, int max);
	void (*poll_handle)(void *arg, const struct pollfd *fds, int n);
	void *hook_arg;
	/* Called in the monitor after the exit is recorded (--rm removes the
	 * container here). */
	void (*on_exit)(void *arg, int code);
	void *on_exit_arg;
};

/* Starts a monitor for m (a child of the caller in its own session, so it
 * outlives the caller; a long-lived caller must reap it) and returns once it listens on
 * attach.sock, with *ready a pipe that will deliver the start result (rt_monitor_result). Returns 0
 * or -errno with err. The caller should not hold fds it does not want the monitor to keep: the
 * monitor closes all others at start. */
int rt_monitor_start(const struct rt_monitor *m, pid_t *monitor, int *ready, struct berr *err);

/* Reads the start result from the ready pipe: 0 with the container's pid, or
 * -errno with err and *code the exit code docker gives a failed start. */
int rt_monitor_result(int ready, pid_t *pid, int *code, struct berr *err);

/* Connects to a container's attach socket as an attach client (output and
 * stdin), or with watch as a watcher that only hears the exit code (a
 * watcher does not release a start that waits for its attach client).
 * Returns the fd or -errno. */
int rt_attach_connect(const char *dir, bool watch, struct berr *err);

/* Sends one frame (blocking). Returns 0 or -errno. */
int rt_frame_send(int fd, enum rt_frame type, const void *buf, size_t len);

#endif
