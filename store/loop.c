/* Loop devices for squashfs layers (see loop.h). Linux loop(4): attach with
 * LOOP_CONFIGURE, or LOOP_SET_FD + LOOP_SET_STATUS64 on kernels before 5.8. */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "board/cleanup.h"

#define LOOP_MAJOR 7
#define LOOP_TRIES 32 /* free devices taken by others before we give up */

/* Makes sure /dev/loop<nr> exists: boards with a static /dev may ship only
 * a few nodes. The number comes from sysfs (it depends on max_part). */
static int loop_node(int nr, char *dev, size_t cap)
{
	snprintf(dev, cap, "/dev/loop%d", nr);
	struct stat st;
	if (stat(dev, &st) == 0)
		return S_ISBLK(st.st_mode) ? 0 : -ENOTBLK;
	if (errno != ENOENT)
		return -errno;
	char sys[64], num[32] = "";
	unsigned int ma = LOOP_MAJOR, mi = (unsigned int)nr;
	snprintf(sys, sizeof(sys), "/sys/block/loop%d/dev", nr);
	int fd = open(sys, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, num, sizeof(num) - 1);
		num[n > 0 ? n : 0] = '\0';
		close(fd);
		if (sscanf(num, "%u:%u", &ma, &mi) != 2) {
			ma = LOOP_MAJOR;
			mi = (unsigned int)nr;
		}
	}
	if (mknod(dev, S_IFBLK | 0660, makedev(ma, mi)) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int configure(int lfd, int ffd, const char *image)
{
	struct loop_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (__u32)ffd;
	cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", image);
	if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOTTY)
		return -errno;
	/* Before Linux 5.8: two steps, undone if the second fails. */
	if (ioctl(lfd, LOOP_SET_FD, ffd) < 0)
		return -errno;
	if (ioctl(lfd, LOOP_SET_STATUS64, &cfg.info) < 0) {
		int e = errno;
		ioctl(lfd, LOOP_CLR_FD, 0);
		return -e;
	}
	return 0;
}

int store_loop_attach(const char *image, char *dev, size_t cap, struct berr *err)
{
	_cleanup_close_ int ffd = open(image, O_RDONLY | O_CLOEXEC);
	if (ffd < 0)
		return berr_set(err, errno, "loop: open %s", image);
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return berr_set(err, errno, "loop: open /dev/loop-control");
	for (int i = 0; i < LOOP_TRIES; i++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0)
			return berr_set(err, errno, "loop: find a free device");
		int rc = loop_node(nr, dev, cap);
		if (rc < 0)
			return berr_set(err, -rc, "loop: device node %s", dev);
		int lfd = open(dev, O_RDONLY | O_CLOEXEC);
		if (lfd < 0)
			return berr_set(err, errno, "loop: open %s", dev);
		rc = configure(lfd, ffd, image);
		if (rc == 0)
			return lfd;
		close(lfd);
		/* Another process attached the same free device first. */
		if (rc != -EBUSY)
			return berr_set(err, -rc, "loop: attach %s to %s", image, dev);
	}
	return berr_setmsg(err, EBUSY, "loop: attach %s: every free device was taken first", image);
}

int store_sqfs_mount(const char *image, const char *mountpoint, struct berr *err)
{
	char dev[64];
	int lfd = store_loop_attach(image, dev, sizeof(dev), err);
	if (lfd < 0)
		return lfd;
	int rc = mount(dev, mountpoint, "squashfs", MS_RDONLY | MS_NODEV | MS_NOSUID, NULL);
	int e = errno;
	/* Mounted, the device stays in use; else autoclear releases it now. */
	close(lfd);
	if (rc < 0)
		return berr_set(err, e, "mount %s (%s) on %s", image, dev, mountpoint);
	return 0;
}

int store_sqfs_umount(const char *mountpoint, struct berr *err)
{
	if (umount2(mountpoint, UMOUNT_NOFOLLOW) < 0)
		return berr_set(err, errno, "unmount %s", mountpoint);
	return 0;
}
