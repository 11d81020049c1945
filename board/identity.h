/* Device identity: a stable id for this device, read from the first source
 * that has one (machine-id, device-tree serial, DMI product uuid, MAC). */
#ifndef BERTH_IDENTITY_H
#define BERTH_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Longest id we hand out, without the NUL. Ids use [A-Za-z0-9._-] only, so
 * they can go into a URL path or a file name as they are. */
#define BOARD_ID_MAX 64

enum board_id_source {
	BOARD_ID_MACHINE_ID, /* /etc/machine-id */
	BOARD_ID_DT_SERIAL,  /* /proc/device-tree/serial-number */
	BOARD_ID_DMI_UUID,   /* /sys/class/dmi/id/product_uuid */
	BOARD_ID_MAC,        /* first universal MAC of a non-loopback link */
	BOARD_ID_NSOURCES
};

/* Name of a source as used in CONFIG_IDENTITY_SOURCE ("machine-id", ...). */
const char *board_id_source_name(enum board_id_source src);

/* Parses a source name; returns false if unknown. */
bool board_id_source_parse(const char *name, size_t len, enum board_id_source *src);

/* Reads one source. root is prepended to every path ("" for the real system;
 * a directory in tests). Fills id (at least BOARD_ID_MAX + 1 bytes).
 * Returns 0, -ENOENT if the source has no usable value, or another -errno;
 * err says why. */
int board_id_read(const char *root, enum board_id_source src, char *id, struct berr *err);

/* Tries each source in the comma-separated list (e.g. CONFIG_IDENTITY_SOURCE)
 * in order; the first usable one wins and *used names it. Returns 0, or
 * -ENOENT when none yields an id, or -EINVAL for an unknown source name. */
int board_identity(const char *root, const char *sources, char *id, enum board_id_source *used,
		   struct berr *err);

#endif
