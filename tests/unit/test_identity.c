/* Unit tests for board/identity.c against a fake root filesystem. */
#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board/identity.h"
#include "tap.h"

static char root[64];

static void put(const char *rel, const char *content, size_t len)
{
	char path[256], dir[256];
	snprintf(path, sizeof(path), "%s%s", root, rel);
	for (char *p = strchr(path + strlen(root) + 1, '/'); p; p = strchr(p + 1, '/')) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(p - path), path);
		mkdir(dir, 0755);
	}
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	fwrite(content, 1, len, f);
	fclose(f);
}

#define PUT(rel, s) put(rel, s, sizeof(s) - 1)

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void fresh_root(void)
{
	if (root[0])
		nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	strcpy(root, "/tmp/berth-id-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		exit(2);
	}
}

static void test_machine_id_first(void)
{
	fresh_root();
	PUT("/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
	PUT("/sys/class/dmi/id/product_uuid", "4C4C4544-0042-4210-8058-B4C04F4E3332\n");
	char id[BOARD_ID_MAX + 1];
	enum board_id_source used = BOARD_ID_NSOURCES;
	struct berr e = { 0 };
	T_EXPECT_INT(board_identity(root, "machine-id,dmi-uuid", id, &used, &e), 0);
	T_EXPECT_STR(id, "0123456789abcdef0123456789abcdef");
	T_EXPECT_INT(used, BOARD_ID_MACHINE_ID);
	/* Order is the caller's: dmi-uuid first wins, lower-cased. */
	T_EXPECT_INT(board_identity(root, "dmi-uuid,machine-id", id, &used, &e), 0);
	T_EXPECT_STR(id, "4c4c4544-0042-4210-8058-b4c04f4e3332");
	T_EXPECT_INT(used, BOARD_ID_DMI_UUID);
}

static void test_dt_serial_strips_nul(void)
{
	fresh_root();
	put("/proc/device-tree/serial-number", "10000000b1c2d3e4\0", 17);
	char id[BOARD_ID_MAX + 1];
	T_EXPECT_INT(board_id_read(root, BOARD_ID_DT_SERIAL, id, NULL), 0);
	T_EXPECT_STR(id, "10000000b1c2d3e4");
}

static void test_placeholders_are_refused(void)
{
	fresh_root();
	PUT("/etc/machine-id", "uninitialized\n");
	PUT("/sys/class/dmi/id/product_uuid", "00000000-0000-0000-0000-000000000000\n");
	put("/proc/device-tree/serial-number", "0000000000000000\0", 17);
	char id[BOARD_ID_MAX + 1];
	struct berr e = { 0 };
	T_EXPECT_INT(board_id_read(root, BOARD_ID_MACHINE_ID, id, &e), -ENOENT);
	T_EXPECT_INT(board_id_read(root, BOARD_ID_DMI_UUID, id, &e), -ENOENT);
	T_EXPECT_INT(board_id_read(root, BOARD_ID_DT_SERIAL, id, &e), -ENOENT);
	T_EXPECT_INT(board_identity(root, "machine-id,dmi-uuid,dt-serial", id, NULL, &e), -ENOENT);
	T_EXPECT(strstr(e.msg, "no device identity") != NULL);
}

static void test_hostile_characters_are_refused(void)
{
	fresh_root();
	put("/proc/device-tree/serial-number", "../../etc\0", 10);
	char id[BOARD_ID_MAX + 1];
	T_EXPECT_INT(board_id_read(root, BOARD_ID_DT_SERIAL, id, NULL), -ENOENT);
	PUT("/proc/device-tree/serial-number",
	    "0123456789012345678901234567890123456789012345678901234567890123456789");
	T_EXPECT_INT(board_id_read(root, BOARD_ID_DT_SERIAL, id, NULL), -ENOENT);
}

static void test_mac_skips_loopback_and_local(void)
{
	fresh_root();
	PUT("/sys/class/net/lo/address", "00:00:00:00:00:00\n");
	PUT("/sys/class/net/berth0/address", "02:42:ac:11:00:01\n"); /* locally administered */
	PUT("/sys/class/net/wlan0/address", "b8:27:eb:00:00:02\n");
	PUT("/sys/class/net/eth0/address", "B8:27:EB:12:34:56\n");
	char id[BOARD_ID_MAX + 1];
	T_EXPECT_INT(board_id_read(root, BOARD_ID_MAC, id, NULL), 0);
	T_EXPECT_STR(id, "b827eb123456"); /* eth0 sorts before wlan0 */
}

static void test_missing_and_unknown_sources(void)
{
	fresh_root();
	char id[BOARD_ID_MAX + 1];
	struct berr e = { 0 };
	T_EXPECT_INT(board_id_read(root, BOARD_ID_MACHINE_ID, id, &e), -ENOENT);
	T_EXPECT(strstr(e.msg, "/etc/machine-id") != NULL);
	T_EXPECT_INT(board_id_read(root, BOARD_ID_MAC, id, &e), -ENOENT);
	T_EXPECT_INT(board_identity(root, "machine-id,mac", id, NULL, &e), -ENOENT);
	T_EXPECT_INT(board_identity(root, "machine-id,serial", id, NULL, &e), -EINVAL);
	PUT("/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
	T_EXPECT_INT(board_identity(root, "bogus,machine-id", id, NULL, &e), -EINVAL);
	T_EXPECT_STR(e.msg, "unknown identity source 'bogus'");
}

int main(void)
{
	T_RUN(test_machine_id_first);
	T_RUN(test_dt_serial_strips_nul);
	T_RUN(test_placeholders_are_refused);
	T_RUN(test_hostile_characters_are_refused);
	T_RUN(test_mac_skips_loopback_and_local);
	T_RUN(test_missing_and_unknown_sources);
	fresh_root();
	rmdir(root);
	return T_DONE();
}
