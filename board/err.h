/* Error context carried up the call chain: a code and a message each layer
 * may prefix, so the final text reads like a path to the cause. */
#ifndef BERTH_ERR_H
#define BERTH_ERR_H

#include <stddef.h>

#define BERR_MSG_MAX 256

/* Caller-owned; zero it (or berr_clear) before use. code is a positive errno. */
struct berr {
	int code;
	char msg[BERR_MSG_MAX];
};

/* Sets code and message (printf-style, truncated to fit) and returns -code,
 * so an action can `return berr_set(err, ENOENT, "open %s", path);`. When the
 * message is built from errno, pass the code explicitly: this appends
 * ": strerror(code)". err may be NULL; the code is still returned. */
int berr_set(struct berr *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like berr_set, without the strerror suffix: for errors that are not errno. */
int berr_setmsg(struct berr *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepends "<context>: " to the message; returns -code. */
int berr_prefix(struct berr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void berr_clear(struct berr *err);

#endif
