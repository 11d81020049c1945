/* libFuzzer target for the squashfs layer writer (store/squashfs.h): random
 * layer bytes, fed in three pieces, must give an image or a clean error;
 * an image must start with a squashfs 4.0 superblock whose tables lie
 * inside it. tests/unit/test_squashfs.c checks images with unsquashfs and
 * the kernel. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/squashfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static uint64_t get(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void check_image(const char *path)
{
	unsigned char sb[96];
	FILE *f = fopen(path, "rb");
	check(f != NULL);
	check(fread(sb, 1, sizeof(sb), f) == sizeof(sb));
	fclose(f);
	struct stat st;
	check(stat(path, &st) == 0 && st.st_size % 4096 == 0);
	uint64_t used = get(sb + 40, 8);
	check(get(sb, 4) == 0x73717368 && get(sb + 28, 2) == 4 && get(sb + 30, 2) == 0);
	check(get(sb + 4, 4) >= 1 && get(sb + 26, 2) >= 1); /* inodes, ids */
	check(used <= (uint64_t)st.st_size && used + 4096 > (uint64_t)st.st_size);
	/* inode < directory <= fragment < id table <= the end */
	uint64_t ino = get(sb + 64, 8), dir = get(sb + 72, 8), frag = get(sb + 80, 8);
	uint64_t id = get(sb + 48, 8);
	check(96 <= ino && ino < dir && dir <= frag && frag < id && id < used);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/fuzz_sqfs.%d.img", (int)getpid());
	const struct store_sqfs_opts o = {
		.block_size = 4096, .level = 1, .max_entries = 4096, .max_meta_bytes = 1u << 20
	};
	struct berr err = { 0 };
	struct store_sqfs *s = store_sqfs_new(path, &o, &err);
	check(s != NULL);
	size_t s1 = size / 3, s2 = size - size / 5;
	const size_t cuts[] = { 0, s1, s2, size };
	int rc = 0;
	for (int i = 0; i < 3 && !rc; i++)
		rc = store_sqfs_feed(s, data + cuts[i], cuts[i + 1] - cuts[i], &err);
	char diff[DIGEST_STR_MAX];
	if (!rc)
		rc = store_sqfs_finish(s, diff, NULL, &err);
	check(rc <= 0);
	if (rc < 0)
		check(err.code == -rc && err.msg[0]);
	else
		check_image(path);
	store_sqfs_free(s);
	unlink(path);
	return 0;
}
