/* Device identity from the platform (see identity.h). */
#include "identity.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

static const char *const source_names[BOARD_ID_NSOURCES] = {
	[BOARD_ID_MACHINE_ID] = "machine-id",
	[BOARD_ID_DT_SERIAL] = "dt-serial",
	[BOARD_ID_DMI_UUID] = "dmi-uuid",
	[BOARD_ID_MAC] = "mac",
};

static const char *const source_paths[BOARD_ID_NSOURCES] = {
	[BOARD_ID_MACHINE_ID] = "/etc/machine-id",
	[BOARD_ID_DT_SERIAL] = "/proc/device-tree/serial-number",
	[BOARD_ID_DMI_UUID] = "/sys/class/dmi/id/product_uuid",
	[BOARD_ID_MAC] = "/sys/class/net",
};

const char *board_id_source_name(enum board_id_source src)
{
	return src < BOARD_ID_NSOURCES ? source_names[src] : "?";
}

bool board_id_source_parse(const char *name, size_t len, enum board_id_source *src)
{
	for (int i = 0; i < BOARD_ID_NSOURCES; i++) {
		if (strlen(source_names[i]) == len && !memcmp(source_names[i], name, len)) {
			*src = (enum board_id_source)i;
			return true;
		}
	}
	return false;
}

/* Reads a small file into buf, NUL-terminated, trailing whitespace and NULs
 * (device-tree strings end in one) removed. */
static int read_small(const char *path, char *buf, size_t len, struct berr *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open %s", path);
	ssize_t n = read(fd, buf, len - 1);
	if (n < 0)
		return berr_set(err, errno, "read %s", path);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\0' || isspace((unsigned char)buf[n - 1])))
		buf[--n] = '\0';
	return 0;
}

static bool id_charset_ok(const char *s)
{
	if (!*s || strlen(s) > BOARD_ID_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

static bool all_same(const char *s, const char *chars)
{
	for (; *s; s++)
		if (!strchr(chars, *s))
			return false;
	return true;
}

/* Universal (not locally administered), not multicast, not all zero. */
static bool mac_usable(const char *mac)
{
	unsigned b[6];
	if (sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return false;
	if (b[0] & 0x03)
		return false;
	return (b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) != 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lowest-named interface with a usable MAC, so the choice does not depend
 * on readdir order or on links that come and go (veths are local MACs). */
static int read_mac(const char *dirpath, char *id, struct berr *err)
{
	_cleanup_closedir_ DIR *d = opendir(dirpath);
	if (!d)
		return berr_set(err, errno, "open %s", dirpath);
	enum { MAX_LINKS = 64 };
	char names[MAX_LINKS][32];
	char *sorted[MAX_LINKS];
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < MAX_LINKS) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "lo") || strlen(de->d_name) >= 32)
			continue;
		strcpy(names[n], de->d_name);
		sorted[n] = names[n];
		n++;
	}
	qsort(sorted, (size_t)n, sizeof(sorted[0]), cmp_str);
	for (int i = 0; i < n; i++) {
		char path[512], mac[64];
		snprintf(path, sizeof(path), "%s/%s/address", dirpath, sorted[i]);
		if (read_small(path, mac, sizeof(mac), NULL) < 0 || !mac_usable(mac))
			continue;
		char *o = id;
		for (const char *p = mac; *p; p++)
			if (*p != ':')
				*o++ = (char)tolower((unsigned char)*p);
		*o = '\0';
		return 0;
	}
	return berr_setmsg(err, ENOENT, "%s: no interface with a universal MAC address", dirpath);
}

int board_id_read(const char *root, enum board_id_source src, char *id, struct berr *err)
{
	if (src >= BOARD_ID_NSOURCES)
		return berr_setmsg(err, EINVAL, "unknown identity source %d", (int)src);
	char path[512];
	if ((size_t)snprintf(path, sizeof(path), "%s%s", root, source_paths[src]) >= sizeof(path))
		return berr_setmsg(err, ENAMETOOLONG, "identity path under %s too long", root);
	if (src == BOARD_ID_MAC)
		return read_mac(path, id, err);

	char buf[BOARD_ID_MAX * 2];
	int r = read_small(path, buf, sizeof(buf), err);
	if (r < 0)
		return r;
	if (src == BOARD_ID_DMI_UUID)
		for (char *p = buf; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	/* Firmware often leaves placeholders: all zeros, all ones, or empty. */
	if (!id_charset_ok(buf) || all_same(buf, "0-") || all_same(buf, "f-"))
		return berr_setmsg(err, ENOENT, "%s: no usable id in it", path);
	if (src == BOARD_ID_MACHINE_ID && (strlen(buf) != 32 || !all_same(buf, "0123456789abcdef")))
		return berr_setmsg(err, ENOENT, "%s: not a 32-digit hex machine id", path);
	strcpy(id, buf);
	return 0;
}

int board_identity(const char *root, const char *sources, char *id, enum board_id_source *used,
		   struct berr *err)
{
	enum board_id_source src;
	/* A typo in the list is a config error even if an earlier source works. */
	for (const char *p = sources; *p; p += *p == ',') {
		size_t len = strcspn(p, ",");
		if (!board_id_source_parse(p, len, &src))
			return berr_setmsg(err, EINVAL, "unknown identity source '%.*s'", (int)len,
					   p);
		p += len;
	}
	const char *p = sources;
	while (*p) {
		size_t len = strcspn(p, ",");
		board_id_source_parse(p, len, &src);
		if (board_id_read(root, src, id, NULL) == 0) {
			if (used)
				*used = src;
			return 0;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return berr_setmsg(err, ENOENT, "no device identity from any of: %s", sources);
}
