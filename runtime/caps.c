/* Capability sets by name (libcap's names), docker's default set. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>

#include "runtime/container.h"

uint64_t rt_caps_default(void)
{
	static const cap_value_t def[] = {
		CAP_CHOWN,       CAP_DAC_OVERRIDE, CAP_FOWNER,
		CAP_FSETID,      CAP_KILL,         CAP_SETGID,
		CAP_SETUID,      CAP_SETPCAP,      CAP_NET_BIND_SERVICE,
		CAP_NET_RAW,     CAP_SYS_CHROOT,   CAP_MKNOD,
		CAP_AUDIT_WRITE, CAP_SETFCAP,
	};
	uint64_t m = 0;
	for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++)
		m |= 1ULL << def[i];
	return m;
}

uint64_t rt_caps_parse(const char *name, struct berr *err)
{
	char buf[64] = "cap_";
	const char *p = name;
	if (!strcasecmp(name, "ALL"))
		return ~0ULL;
	if (!strncasecmp(p, "CAP_", 4))
		p += 4;
	size_t n = strlen(p);
	if (!n || n + 5 > sizeof(buf)) {
		berr_setmsg(err, EINVAL, "unknown capability '%s'", name);
		return 0;
	}
	for (size_t i = 0; i <= n; i++)
		buf[4 + i] = (char)tolower((unsigned char)p[i]);
	cap_value_t v;
	if (cap_from_name(buf, &v) || v < 0 || v > 63) {
		berr_setmsg(err, EINVAL, "unknown capability '%s'", name);
		return 0;
	}
	return 1ULL << v;
}

void rt_caps_format(uint64_t mask, char *out, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	for (int c = 0; c < 64 && used < len; c++) {
		if (!(mask & (1ULL << c)) || !CAP_IS_SUPPORTED(c))
			continue;
		char *n = cap_to_name(c);
		if (!n)
			continue;
		for (char *q = n; *q; q++)
			*q = (char)toupper((unsigned char)*q);
		int w = snprintf(out + used, len - used, "%s%s", used ? "," : "", n);
		cap_free(n);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}
