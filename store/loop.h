/* Loop devices for the squashfs layer store: attach an image read-only with
 * autoclear, mount it, unmount it. Linux loop(4): /dev/loop-control
 * LOOP_CTL_GET_FREE, LOOP_CONFIGURE (Linux 5.8), else LOOP_SET_FD and
 * LOOP_SET_STATUS64. */
#ifndef BERTH_LOOP_H
#define BERTH_LOOP_H

#include <stddef.h>

#include "board/err.h"

/* Attaches image read-only to a free loop device with autoclear, so the
 * device is released when its last user goes. Creates the /dev/loopN node
 * when the board's /dev lacks it; tries another device when a concurrent
 * attach took the free one. Writes the device's path into dev (cap bytes)
 * and returns an open fd of the device (close it once the device is
 * mounted: with autoclear, closing it unused releases the device), or
 * -errno with err. Needs CAP_SYS_ADMIN. */
int store_loop_attach(const char *image, char *dev, size_t cap, struct berr *err);

/* Mounts image (a squashfs file) on mountpoint: read-only, nodev, nosuid,
 * through a loop device that unmounting releases. Returns 0 or -errno. */
int store_sqfs_mount(const char *image, const char *mountpoint, struct berr *err);

/* Unmounts mountpoint (never following a symlink there); its loop device
 * goes with it. A busy mount is an error (-EBUSY). Returns 0 or -errno. */
int store_sqfs_umount(const char *mountpoint, struct berr *err);

#endif
