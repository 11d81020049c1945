/* The main test layer both layer writers take (the unpacker's and the
 * squashfs writer's tests): every entry kind and header form, long PAX and
 * GNU names, UTF-8, a 200,000-byte file (big[]), hard links, devices,
 * implicit parents. Header-only: include after tarstream.h; call
 * names_init() first. */
#ifndef BERTH_TEST_LAYERS_H
#define BERTH_TEST_LAYERS_H

#include "tarstream.h"

static char long_pax[320], long_gnu[220], long_target[160], utf8_name[32];
static unsigned char big[200000];

static void names_init(void)
{
	strcpy(long_pax, "long/");
	for (int i = 0; i < 3; i++)
		strcat(long_pax, "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
				 "0123456789abcdefghijklmnopqrstuvwxyz0123/");
	strcat(long_pax, "file");
	strcpy(long_gnu, "gnu/");
	for (int i = 0; i < 20; i++)
		strcat(long_gnu, "0123456789");
	strcpy(long_target, "/target/");
	for (int i = 0; i < 14; i++)
		strcat(long_target, "0123456789");
	strcpy(utf8_name, "data/\xc3\xa9t\xc3\xa9");
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7 + i / 251);
}

static void build_layer(struct buf *b)
{
	struct buf r = { 0 };
	t_dir(b, "./", 0755);
	t_dir(b, "etc/", 0755);
	t_file(b, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
	entry(b,
	      (struct th){ .name = "etc/shadow", .type = '0', .mode = 0640, .gid = 42, .size = 6 },
	      "secret", 6);
	t_dir(b, "usr/", 0755);
	t_dir(b, "usr/bin/", 0755);
	t_file(b, "usr/bin/su", "ELF-su", 04755);
	t_hard(b, "usr/bin/su2", "usr/bin/su");
	entry(b,
	      (struct th){ .name = "usr/bin/sg",
			   .type = '0',
			   .mode = 02755,
			   .uid = 1000,
			   .gid = 1001,
			   .size = 2 },
	      "sg", 2);
	t_dir(b, "tmp/", 01777);
	t_sym(b, "bin", "usr/bin");
	t_sym(b, "abs", "/etc/passwd");
	t_sym(b, "dangling", "../../../../nowhere");
	entry(b, (struct th){ .name = "dev/null", .type = '3', .mode = 0666, .maj = 1, .min = 3 },
	      NULL, 0);
	entry(b,
	      (struct th){
		      .name = "dev/sda", .type = '4', .mode = 0660, .gid = 6, .maj = 8, .min = 0 },
	      NULL, 0);
	entry(b, (struct th){ .name = "run/fifo", .type = '6', .mode = 0600 }, NULL, 0);
	/* pax overrides */
	t_dir(b, "data/", 0755);
	pax_str(&r, "size", "11");
	t_pax(b, 'x', &r);
	entry(b, (struct th){ .name = "data/paxsize", .type = '0', .size = 0 }, "hello world", 11);
	pax_str(&r, "uid", "3000000");
	pax_str(&r, "gid", "3000001");
	t_pax(b, 'x', &r);
	entry(b, (struct th){ .name = "data/bigids", .type = '0', .size = 3 }, "ids", 3);
	pax_str(&r, "mtime", "1234567890.25");
	pax_str(&r, "atime", "1234567890.5");
	pax_str(&r, "comment", "ignored");
	t_pax(b, 'x', &r);
	t_file(b, "data/frac", "frac", 0644);
	pax_str(&r, "SCHILY.xattr.user.foo", "bar");
	pax_rec(&r, "SCHILY.xattr.user.bin", "\0\1\2=\n", 5);
	t_pax(b, 'x', &r);
	t_file(b, "data/xattr", "x", 0600);
	pax_str(&r, "SCHILY.xattr.trusted.berth", "1");
	t_pax(b, 'x', &r);
	t_dir(b, "data/xdir/", 0700);
	pax_str(&r, "SCHILY.xattr.trusted.on-link", "l");
	pax_str(&r, "SCHILY.xattr.user.dropped", "d"); /* the kernel allows no user.* here */
	t_pax(b, 'x', &r);
	t_sym(b, "data/xlink", "xattr");
	/* a global header is checked and ignored */
	pax_str(&r, "path", "global/ignored");
	t_pax(b, 'g', &r);
	/* long names */
	pax_str(&r, "path", long_pax);
	t_pax(b, 'x', &r);
	t_file(b, "short-pax-name", "pax path", 0644);
	t_long(b, 'L', long_gnu);
	t_file(b, "short-gnu-name", "gnu path", 0644);
	t_long(b, 'K', long_target);
	t_sym(b, "data/klink", "short");
	pax_str(&r, "linkpath", long_target);
	t_pax(b, 'x', &r);
	t_sym(b, "data/paxlink", "short");
	/* numbers in base-256, negative time */
	entry(b,
	      (struct th){ .name = "data/b256",
			   .type = '0',
			   .mode = 0644,
			   .uid = 4000000,
			   .gid = 5,
			   .size = 5,
			   .mtime = -1,
			   .b256 = true,
			   .gnu = true },
	      "b-256", 5);
	/* a checksum over signed chars (a UTF-8 name) */
	entry(b, (struct th){ .name = utf8_name, .type = '0', .size = 3, .signed_sum = true },
	      "ete", 3);
	/* the ustar prefix field */
	entry(b, (struct th){ .name = "file", .prefix = "pre/fix", .type = '0', .size = 2 }, "pf",
	      2);
	/* old type bytes */
	entry(b, (struct th){ .name = "data/contig", .type = '7', .size = 1 }, "7", 1);
	entry(b, (struct th){ .name = "data/old", .type = '\0', .size = 1, .v7 = true }, "0", 1);
	entry(b, (struct th){ .name = "data/olddir/", .type = '\0', .mode = 0711, .v7 = true },
	      NULL, 0);
	t_file(b, "data/empty", "", 0400);
	entry(b, (struct th){ .name = "data/big", .type = '0', .size = sizeof(big) }, big,
	      sizeof(big));
	/* a directory root may write into whatever its mode */
	t_dir(b, "locked/", 0500);
	t_file(b, "locked/f", "in locked", 0444);
	/* implicit parents */
	t_file(b, "deep/a/b/file", "deep", 0644);
	t_end(b);
}

#endif
