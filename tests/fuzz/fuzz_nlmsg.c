/* libFuzzer target for net/netlink.c's reply parsing: a datagram as the
 * kernel would send it, walked for sequence number 1 with every data
 * message parsed as a link and as a route. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>

#include "net/netlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_msg(void *arg, const struct nlmsghdr *h)
{
	struct net_nl_link l;
	struct net_nl_route r;
	int n = net_nl_parse_link(h, &l);
	if (n == 0 && (strnlen(l.name, sizeof(l.name)) >= sizeof(l.name) ||
		       strnlen(l.kind, sizeof(l.kind)) >= sizeof(l.kind)))
		__builtin_trap();
	if (n != 0 && n != -EBADMSG)
		__builtin_trap();
	n = net_nl_parse_route(h, &r);
	if (n == 1 && (r.prefix < 0 || r.prefix > 32))
		__builtin_trap();
	if (n != 0 && n != 1 && n != -EBADMSG)
		__builtin_trap();
	(*(int *)arg)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > NET_NL_BUF_SIZE)
		return 0;
	/* As recvmsg would leave it: in an aligned buffer of its own size. */
	void *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct berr err = { 0 };
	int msgs = 0;
	int r = net_nl_walk(buf, size, 1, check_msg, &msgs, &err);
	if (r < 0 ? (err.code != -r || !err.msg[0] ||
		     strnlen(err.msg, BERR_MSG_MAX) >= BERR_MSG_MAX)
		  : r > 1)
		__builtin_trap();
	free(buf);
	return 0;
}
