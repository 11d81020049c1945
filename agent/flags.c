/* Command-line flags (see flags.h). */
#include "flags.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static void vreport(const char *fmt, va_list ap)
{
	fputs("berth: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int agent_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	return AGENT_EXIT_FAIL;
}

int agent_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	return AGENT_EXIT_USAGE;
}

int agent_no_args(int argc, char **argv)
{
	if (argc > 1)
		return agent_usage("%s: unexpected argument '%s' (see 'berth %s --help')", argv[0],
				   argv[1], argv[0]);
	return 0;
}

static int set(const struct agent_flag *f, const char *cmd, const char *val)
{
	switch (f->type) {
	case FLAG_BOOL:
		if (!val || !strcmp(val, "true"))
			*(bool *)f->dst = true;
		else if (!strcmp(val, "false"))
			*(bool *)f->dst = false;
		else
			return agent_usage("%s: flag --%s takes true or false, not '%s'", cmd,
					   f->name, val);
		return 0;
	case FLAG_STR:
		*(const char **)f->dst = val;
		return 0;
	case FLAG_INT: {
		char *end;
		errno = 0;
		long v = strtol(val, &end, 10);
		if (errno || *end || end == val || v < -2147483647L || v > 2147483647L)
			return agent_usage("%s: flag --%s needs a number, not '%s'", cmd, f->name,
					   val);
		*(int *)f->dst = (int)v;
		return 0;
	}
	case FLAG_LIST: {
		struct agent_strlist *l = f->dst;
		if (l->n == AGENT_LIST_MAX)
			return agent_usage("%s: flag --%s given more than %d times", cmd, f->name,
					   AGENT_LIST_MAX);
		l->v[l->n++] = val;
		return 0;
	}
	}
	return 0;
}

static int parse(int argc, char **argv, const struct agent_flag *flags, int nflags,
		 const char *usage, bool head)
{
	const char *cmd = argv[0];
	int out = 1; /* operands are moved to the front, in order */
	int i = 1;
	for (; i < argc; i++) {
		char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-' || !a[1]) {
			if (head)
				break;
			argv[out++] = a;
			continue;
		}
		bool h_taken = false;
		for (int k = 0; k < nflags; k++)
			h_taken |= flags[k].short_name == 'h';
		if (!strcmp(a, "--help") || (!strcmp(a, "-h") && !h_taken)) {
			fputs(usage, stdout);
			return -1;
		}
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const struct agent_flag *f = NULL;
			for (int k = 0; k < nflags; k++)
				if (strlen(flags[k].name) == len &&
				    !strncmp(flags[k].name, name, len))
					f = &flags[k];
			if (!f) {
				agent_usage("%s: unknown flag '--%.*s' (see 'berth %s --help')",
					    cmd, (int)len, name, cmd);
				return -2;
			}
			const char *val = eq ? eq + 1 : NULL;
			if (!val && f->type != FLAG_BOOL) {
				if (i + 1 >= argc) {
					agent_usage("%s: flag --%s needs a value", cmd, f->name);
					return -2;
				}
				val = argv[++i];
			}
			if (set(f, cmd, val))
				return -2;
			continue;
		}
		for (const char *c = a + 1; *c; c++) {
			const struct agent_flag *f = NULL;
			for (int k = 0; k < nflags; k++)
				if (flags[k].short_name == *c)
					f = &flags[k];
			if (!f) {
				agent_usage("%s: unknown flag '-%c' (see 'berth %s --help')", cmd,
					    *c, cmd);
				return -2;
			}
			if (f->type == FLAG_BOOL) {
				set(f, cmd, NULL);
				continue;
			}
			const char *val = c[1] ? c + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (!val) {
				agent_usage("%s: flag -%c needs a value", cmd, *c);
				return -2;
			}
			if (set(f, cmd, val))
				return -2;
			break;
		}
	}
	for (; i < argc; i++)
		argv[out++] = argv[i];
	argv[out] = NULL;
	return out - 1;
}

int agent_flags(int argc, char **argv, const struct agent_flag *flags, int nflags,
		const char *usage)
{
	return parse(argc, argv, flags, nflags, usage, false);
}

int agent_flags_head(int argc, char **argv, const struct agent_flag *flags, int nflags,
		     const char *usage)
{
	return parse(argc, argv, flags, nflags, usage, true);
}

void agent_human_size(long long b, char *out, size_t len)
{
	if (b < 1000)
		snprintf(out, len, "%lldB", b);
	else if (b < 1000 * 1000)
		snprintf(out, len, "%.3gkB", b / 1000.0);
	else if (b < 1000LL * 1000 * 1000)
		snprintf(out, len, "%.3gMB", b / 1e6);
	else
		snprintf(out, len, "%.3gGB", b / 1e9);
}
