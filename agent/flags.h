/* Command-line flags in Docker's style: -q, -aq, --name, --name=value,
 * --name value, repeated flags, and "--" to end flags. */
#ifndef BERTH_AGENT_FLAGS_H
#define BERTH_AGENT_FLAGS_H

#include <stdbool.h>

enum agent_flag_type {
	FLAG_BOOL, /* dst: bool * */
	FLAG_STR,  /* dst: const char ** (last one wins) */
	FLAG_INT,  /* dst: int * */
	FLAG_LIST, /* dst: struct agent_strlist * */
};

#define AGENT_LIST_MAX 64

struct agent_strlist {
	int n;
	const char *v[AGENT_LIST_MAX];
};

struct agent_flag {
	const char *name; /* long name without dashes */
	char short_name;  /* 0 for none */
	enum agent_flag_type type;
	void *dst;
};

/* Parses the flags of command argv[0] (anywhere before "--", as Docker does)
 * and moves the operands, in order, to argv[1..n]. Returns n, or -1 when
 * --help printed usage (the command exits 0), or -2 after a one-line usage
 * error (the command exits AGENT_EXIT_USAGE). */
int agent_flags(int argc, char **argv, const struct agent_flag *flags, int nflags,
		const char *usage);
/* Same, but flags end at the first operand (run IMAGE CMD --flag: the
 * command's own flags are operands), as docker run and exec do. */
int agent_flags_head(int argc, char **argv, const struct agent_flag *flags, int nflags,
		     const char *usage);

#endif
