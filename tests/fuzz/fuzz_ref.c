/* libFuzzer target for net/ref.c: image reference parsing, and that every
 * reference it accepts formats back (full and familiar) to the same thing. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const struct net_ref *ref, bool familiar)
{
	char buf[REF_STR_MAX];
	struct net_ref again;
	struct berr err = { 0 };
	if (net_ref_repo(ref, familiar, buf, sizeof(buf)))
		__builtin_trap();
	if (net_ref_format(ref, familiar, buf, sizeof(buf)) || net_ref_parse(buf, &again, &err) ||
	    memcmp(&again, ref, sizeof(again)))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct net_ref ref;
	struct berr err = { 0 };
	int r = net_ref_parse(s, &ref, &err);
	if (r == 0) {
		if (!ref.host[0] || !ref.path[0] || (!ref.tag[0] && !ref.digest[0]) ||
		    (ref.digest[0] && !store_digest_valid(ref.digest)) ||
		    strlen(ref.host) + 1 + strlen(ref.path) > 255 || !net_ref_api_host(&ref)[0])
			__builtin_trap();
		round_trip(&ref, false);
		round_trip(&ref, true);
	} else if (r != -EINVAL || err.code != EINVAL || !err.msg[0]) {
		__builtin_trap();
	}
	free(s);
	return 0;
}
