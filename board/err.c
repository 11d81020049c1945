/* Error context helpers (see err.h). */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void berr_clear(struct berr *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

static int berr_vset(struct berr *err, int code, int with_errno, const char *fmt, va_list ap)
{
	if (code <= 0)
		code = code < 0 ? -code : EIO;
	if (!err)
		return -code;
	err->code = code;
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (with_errno && n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(code));
	return -code;
}

int berr_set(struct berr *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = berr_vset(err, code, 1, fmt, ap);
	va_end(ap);
	return r;
}

int berr_setmsg(struct berr *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = berr_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return r;
}

int berr_prefix(struct berr *err, const char *fmt, ...)
{
	if (!err)
		return -EIO;
	char old[BERR_MSG_MAX];
	memcpy(old, err->msg, sizeof(old));
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", old);
	if (err->code <= 0)
		err->code = EIO;
	return -err->code;
}
