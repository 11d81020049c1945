/* --user resolution (see user.h); passwd(5) and group(5) line formats. */
#include "runtime/user.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Splits the line at p (up to '\n' or NUL) into at most n ':' fields;
 * returns the field count and the start of the next line. */
static const char *fields(const char *p, const char *f[], size_t fl[], int n, int *got)
{
	int k = 0;
	const char *s = p;
	for (;;) {
		const char *e = s;
		while (*e && *e != ':' && *e != '\n')
			e++;
		if (k < n) {
			f[k] = s;
			fl[k] = (size_t)(e - s);
		}
		k++;
		if (*e != ':') {
			*got = k < n ? k : n;
			return *e ? e + 1 : e;
		}
		s = e + 1;
	}
}

static bool is_num(const char *s, size_t len, unsigned long *v)
{
	if (!len || len > 10)
		return false;
	unsigned long x = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (unsigned long)(s[i] - '0');
	}
	if (x > 0xfffffffeUL)
		return false;
	*v = x;
	return true;
}

static bool eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && !memcmp(a, b, alen);
}

/* Looks name (or number) up in a passwd or group buffer. want_field 2 is the
 * id; for passwd, gid and home are filled too. */
static bool lookup(const char *buf, const char *key, size_t klen, bool by_num, unsigned long num,
		   bool passwd, unsigned long *id, unsigned long *gid, char *home, size_t homelen)
{
	for (const char *p = buf; p && *p;) {
		const char *f[7];
		size_t fl[7];
		int n;
		const char *next = fields(p, f, fl, 7, &n);
		unsigned long v, g;
		if (n >= 3 && is_num(f[2], fl[2], &v) &&
		    (by_num ? v == num : eq(f[0], fl[0], key, klen))) {
			*id = v;
			if (passwd) {
				if (n < 4 || !is_num(f[3], fl[3], &g))
					g = 0;
				*gid = g;
				if (home && n >= 6 && fl[5] && fl[5] < homelen) {
					memcpy(home, f[5], fl[5]);
					home[fl[5]] = '\0';
				}
			}
			return true;
		}
		p = next;
	}
	return false;
}

/* Adds the groups whose member list names user. */
static void supplementary(const char *group, const char *user, size_t ulen, struct rt_user *u)
{
	for (const char *p = group; p && *p;) {
		const char *f[4];
		size_t fl[4];
		int n;
		const char *next = fields(p, f, fl, 4, &n);
		unsigned long g;
		if (n == 4 && is_num(f[2], fl[2], &g)) {
			const char *m = f[3], *end = f[3] + fl[3];
			while (m < end) {
				const char *c = memchr(m, ',', (size_t)(end - m));
				if (!c)
					c = end;
				if (eq(m, (size_t)(c - m), user, ulen) &&
				    u->ngroups < RT_GROUPS_MAX) {
					bool dup = false;
					for (int i = 0; i < u->ngroups; i++)
						dup |= u->groups[i] == (gid_t)g;
					if (!dup)
						u->groups[u->ngroups++] = (gid_t)g;
				}
				m = c + 1;
			}
		}
		p = next;
	}
}

int rt_user_resolve(const char *spec, const char *passwd, const char *group, struct rt_user *u,
		    struct berr *err)
{
	memset(u, 0, sizeof(*u));
	strcpy(u->home, "/");
	if (!spec || !*spec)
		spec = "0";
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	const char *gspec = colon ? colon + 1 : NULL;
	if (!ulen || (gspec && !*gspec))
		return berr_setmsg(err, EINVAL, "invalid user '%s'", spec);

	unsigned long num, id, gid = 0;
	bool numeric = is_num(spec, ulen, &num);
	char name[256] = "";
	if (lookup(passwd, spec, ulen, numeric, numeric ? num : 0, true, &id, &gid, u->home,
		   sizeof(u->home))) {
		/* the name, for the supplementary groups */
		for (const char *p = passwd; p && *p;) {
			const char *f[3];
			size_t fl[3];
			int n;
			const char *next = fields(p, f, fl, 3, &n);
			unsigned long v;
			if (n >= 3 && is_num(f[2], fl[2], &v) && v == id && fl[0] < sizeof(name)) {
				memcpy(name, f[0], fl[0]);
				name[fl[0]] = '\0';
				break;
			}
			p = next;
		}
	} else if (numeric) {
		id = num;
		gid = 0;
	} else {
		return berr_setmsg(err, ENOENT,
				   "unable to find user %.*s: no matching entries in passwd file",
				   (int)ulen, spec);
	}
	u->uid = (uid_t)id;
	u->gid = (gid_t)gid;

	if (gspec) {
		unsigned long g;
		bool gnum = is_num(gspec, strlen(gspec), &g);
		unsigned long gid2;
		if (lookup(group, gspec, strlen(gspec), gnum, gnum ? g : 0, false, &gid2, NULL,
			   NULL, 0))
			u->gid = (gid_t)gid2;
		else if (gnum)
			u->gid = (gid_t)g;
		else
			return berr_setmsg(
				err, -ENOENT,
				"unable to find group %s: no matching entries in group file",
				gspec);
	} else if (*name) {
		supplementary(group, name, strlen(name), u);
	}
	return 0;
}
