/* Resolving docker's --user ("name", "uid", "uid:gid", "name:group") against
 * the container's /etc/passwd and /etc/group, as docker does: a number not in
 * passwd is used as is with gid 0; a name not found is an error. Pure
 * functions over buffers, for tests and fuzzing. */
#ifndef BERTH_RT_USER_H
#define BERTH_RT_USER_H

#include <stddef.h>
#include <sys/types.h>

#include "board/err.h"

#define RT_GROUPS_MAX 64

struct rt_user {
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[RT_GROUPS_MAX]; /* supplementary groups the user is listed in */
	char home[256];              /* "/" when unknown */
};

/* passwd and group are the files' contents (NUL-terminated, may be NULL when
 * the file does not exist). Returns 0 or -ENOENT/-EINVAL with err
 * ("unable to find user app: no matching entries in passwd file"). */
int rt_user_resolve(const char *spec, const char *passwd, const char *group, struct rt_user *u,
		    struct berr *err);

#endif
