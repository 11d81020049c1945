/* Container runtime state files (see state.h). */
#include "runtime/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "board/fs.h"

static const char *const names[] = { "created", "running", "exited" };

const char *rt_status_name(enum rt_status s)
{
	return (unsigned)s < 3 ? names[s] : "unknown";
}

long long rt_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int rt_state_read(const char *dir, struct rt_state *st, struct berr *err)
{
	char path[4096], buf[1024];
	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "%s/state", dir);
	ssize_t n = fs_read_file(path, buf, sizeof(buf), err);
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return (int)n;
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *v = strchr(line, '=');
		if (!v)
			continue;
		*v++ = '\0';
		if (!strcmp(line, "status")) {
			for (int i = 0; i < 3; i++)
				if (!strcmp(v, names[i]))
					st->status = (enum rt_status)i;
		} else if (!strcmp(line, "pid")) {
			st->pid = (pid_t)atoi(v);
		} else if (!strcmp(line, "monitor")) {
			st->monitor = (pid_t)atoi(v);
		} else if (!strcmp(line, "monitor_start")) {
			st->monitor_start = strtoull(v, NULL, 10);
		} else if (!strcmp(line, "started")) {
			st->started = strtoll(v, NULL, 10);
		} else if (!strcmp(line, "finished")) {
			st->finished = strtoll(v, NULL, 10);
		} else if (!strcmp(line, "exit_code")) {
			st->exit_code = atoi(v);
		} else if (!strcmp(line, "oom_killed")) {
			st->oom_killed = atoi(v) != 0;
		} else if (!strcmp(line, "restarts")) {
			st->restarts = atoi(v);
		} else if (!strcmp(line, "error")) {
			snprintf(st->error, sizeof(st->error), "%s", v);
		}
	}
	return 0;
}

int rt_state_write(const char *dir, const struct rt_state *st, bool durable, struct berr *err)
{
	char path[4096], buf[1024], msg[256];
	snprintf(msg, sizeof(msg), "%s", st->error);
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	int n = snprintf(buf, sizeof(buf),
			 "status=%s\npid=%d\nmonitor=%d\nmonitor_start=%llu\nstarted=%lld\n"
			 "finished=%lld\nexit_code=%d\noom_killed=%d\nrestarts=%d\nerror=%s\n",
			 rt_status_name(st->status), (int)st->pid, (int)st->monitor,
			 st->monitor_start, st->started, st->finished, st->exit_code,
			 st->oom_killed ? 1 : 0, st->restarts, msg);
	snprintf(path, sizeof(path), "%s/state", dir);
	return fs_write_replace(path, buf, (size_t)n, 0644, durable, err);
}

unsigned long long rt_proc_start(pid_t pid)
{
	char path[64], buf[1024];
	if (pid <= 0)
		return 0;
	/* relative to /proc: qemu-user fakes "/proc/<own pid>/stat" (with a
	 * start time of its own making) but not a path it cannot recognise */
	snprintf(path, sizeof(path), "%d/stat", (int)pid);
	int dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = dfd < 0 ? -1 : openat(dfd, path, O_RDONLY | O_CLOEXEC);
	if (dfd >= 0)
		close(dfd);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* the command name may hold spaces and ')': fields start after the last ')' */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* field 3 (state) follows; start time is field 22. A zombie has ended. */
	if (p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	int field = 2;
	for (p++; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	return strtoull(p, NULL, 10);
}

bool rt_state_monitor_alive(const struct rt_state *st)
{
	if (st->monitor <= 0)
		return false;
	unsigned long long s = rt_proc_start(st->monitor);
	return s && s == st->monitor_start;
}
