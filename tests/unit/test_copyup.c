/* Unit tests for runtime/copyup.c: a new volume filled from the image's
 * directory, never through a symlink, never over existing content. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board/fs.h"
#include "runtime/copyup.h"
#include "tap.h"

static char top[PATH_MAX];

static void mk(const char *rel, mode_t mode)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	mkdir(p, mode);
	chmod(p, mode);
}

static void put(const char *rel, const char *text, mode_t mode)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	fs_write_replace(p, text, strlen(text), mode, false, &(struct berr){ 0 });
	chmod(p, mode);
}

static void link_(const char *target, const char *rel)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	symlink(target, p);
}

static int dirfd_of(const char *rel)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	return open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static const char *slurp(const char *rel)
{
	static char buf[256];
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	ssize_t n = fs_read_file(p, buf, sizeof(buf), NULL);
	return n < 0 ? "(none)" : buf;
}

static bool exists(const char *rel)
{
	char p[PATH_MAX * 2];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	return !lstat(p, &st);
}

static mode_t mode_of(const char *rel)
{
	char p[PATH_MAX * 2];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	return lstat(p, &st) ? 0 : st.st_mode;
}

static int copy(const char *path, const char *vol, bool *copied, struct berr *e)
{
	int root = dirfd_of("rootfs"), v = dirfd_of(vol);
	int rc = rt_copyup(root, path, v, copied, e);
	close(root);
	close(v);
	return rc;
}

static void setup(void)
{
	mk("rootfs", 0755);
	mk("rootfs/data", 0750);
	mk("rootfs/data/sub", 0700);
	mk("rootfs/data/ro", 0555);
	put("rootfs/data/a.txt", "alpha", 0640);
	put("rootfs/data/sub/b.txt", "beta", 0600);
	link_("a.txt", "rootfs/data/rel-link");
	link_("/etc/passwd", "rootfs/data/abs-link");
	put("rootfs/data/ro/c.txt", "gamma", 0444);
	char fifo[PATH_MAX * 2];
	snprintf(fifo, sizeof(fifo), "%s/rootfs/data/fifo", top);
	mkfifo(fifo, 0620);
	/* escapes the root if followed: a link to the host's /etc, and one
	 * upwards */
	link_("/etc", "rootfs/esc");
	link_("..", "rootfs/up");
	mk("outside", 0755);
	put("outside/secret", "host", 0600);
	for (int i = 1; i <= 6; i++) {
		char v[16];
		snprintf(v, sizeof(v), "v%d", i);
		mk(v, 0755);
	}
}

static void test_fills_an_empty_volume_with_modes_and_links(void)
{
	struct berr e = { 0 };
	bool copied = false;
	T_EXPECT_INT(copy("/data", "v1", &copied, &e), 0);
	T_EXPECT(copied);
	T_EXPECT_STR(slurp("v1/a.txt"), "alpha");
	T_EXPECT_STR(slurp("v1/sub/b.txt"), "beta");
	T_EXPECT_STR(slurp("v1/ro/c.txt"), "gamma");
	T_EXPECT_INT(mode_of("v1") & 07777, 0750);
	T_EXPECT_INT(mode_of("v1/a.txt") & 07777, 0640);
	T_EXPECT_INT(mode_of("v1/sub") & 07777, 0700);
	T_EXPECT_INT(mode_of("v1/ro") & 07777, 0555);
	T_EXPECT(S_ISFIFO(mode_of("v1/fifo")));
	T_EXPECT(S_ISLNK(mode_of("v1/rel-link")));
	T_EXPECT(S_ISLNK(mode_of("v1/abs-link")));
	char t[64] = "";
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/v1/abs-link", top);
	T_EXPECT_INT((int)readlink(p, t, sizeof(t) - 1), 11);
	T_EXPECT_STR(t, "/etc/passwd");
}

static void test_leaves_a_volume_with_content_alone(void)
{
	put("v2/mine", "keep", 0644);
	struct berr e = { 0 };
	bool copied = true;
	T_EXPECT_INT(copy("/data", "v2", &copied, &e), 0);
	T_EXPECT(!copied);
	T_EXPECT_STR(slurp("v2/mine"), "keep");
	T_EXPECT(!exists("v2/a.txt"));
}

static void test_nothing_in_the_image_means_nothing_copied(void)
{
	struct berr e = { 0 };
	bool copied = true;
	T_EXPECT_INT(copy("/nowhere/at/all", "v3", &copied, &e), 0);
	T_EXPECT(!copied);
	T_EXPECT_INT(copy("/data/a.txt", "v3", &copied, &e), 0); /* a file, not a directory */
	T_EXPECT(!copied);
}

static void test_never_through_a_symlink(void)
{
	struct berr e = { 0 };
	bool copied = true;
	/* /esc -> /etc: followed, it would copy the host's /etc */
	T_EXPECT_INT(copy("/esc", "v4", &copied, &e), 0);
	T_EXPECT(!copied);
	T_EXPECT_INT(copy("/up/outside", "v4", &copied, &e), 0);
	T_EXPECT(!copied);
	T_EXPECT_INT(copy("/../outside", "v4", &copied, &e), 0);
	T_EXPECT(!copied);
	T_EXPECT(!exists("v4/secret"));
	T_EXPECT(!exists("v4/passwd"));
}

static void test_dot_components_stay_inside(void)
{
	struct berr e = { 0 };
	bool copied = false;
	T_EXPECT_INT(copy("/./data/./sub/", "v5", &copied, &e), 0);
	T_EXPECT(copied);
	T_EXPECT_STR(slurp("v5/b.txt"), "beta");
}

int main(void)
{
	snprintf(top, sizeof(top), "/tmp/berth-copyup.XXXXXX");
	if (!mkdtemp(top))
		return 1;
	setup();
	T_RUN(test_fills_an_empty_volume_with_modes_and_links);
	T_RUN(test_leaves_a_volume_with_content_alone);
	T_RUN(test_nothing_in_the_image_means_nothing_copied);
	T_RUN(test_never_through_a_symlink);
	T_RUN(test_dot_components_stay_inside);
	fs_rm_rf(top, &(struct berr){ 0 });
	return T_DONE();
}
