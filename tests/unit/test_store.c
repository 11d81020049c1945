/* Unit tests for store/blob.c, store/image.c and board/fs.c on a temp root. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board/fs.h"
#include "store/store.h"
#include "tap.h"

static char root[64];

static void digest_of(const char *s, char out[DIGEST_STR_MAX])
{
	struct store_sha256 h;
	store_sha256_init(&h);
	store_sha256_update(&h, s, strlen(s));
	store_sha256_final(&h, out);
}

static void fresh(struct store *st)
{
	if (root[0])
		fs_rm_rf(root, NULL);
	strcpy(root, "/tmp/berth-store-XXXXXX");
	if (!mkdtemp(root))
		exit(2);
	struct berr e = { 0 };
	if (store_open(st, root, STORE_WRITE, &e) < 0) {
		printf("# store_open: %s\n", e.msg);
		exit(2);
	}
}

static void test_blob_roundtrip_and_verification(void)
{
	struct store st;
	fresh(&st);
	char d[DIGEST_STR_MAX], other[DIGEST_STR_MAX];
	digest_of("{\"a\":1}", d);
	digest_of("something else", other);
	struct berr e = { 0 };
	T_EXPECT(!store_blob_exists(&st, d));
	T_EXPECT_INT(store_blob_put(&st, other, "{\"a\":1}", 7, &e), -EBADMSG);
	T_EXPECT(!store_blob_exists(&st, other));
	T_EXPECT_INT(store_blob_put(&st, d, "{\"a\":1}", 7, &e), 0);
	T_EXPECT(store_blob_exists(&st, d));
	char *buf = NULL;
	T_EXPECT_INT(store_blob_get(&st, d, 100, &buf, &e), 7);
	T_EXPECT_STR(buf, "{\"a\":1}");
	free(buf);
	/* Corruption on disk is detected when reading. */
	char p[PATH_MAX];
	store_blob_path(&st, d, p, sizeof(p));
	int fd = open(p, O_WRONLY);
	T_EXPECT(write(fd, "X", 1) == 1);
	close(fd);
	T_EXPECT_INT(store_blob_get(&st, d, 100, &buf, &e), -EBADMSG);
	T_EXPECT(strstr(e.msg, "corrupt") != NULL);
	T_EXPECT_INT(store_blob_put(&st, "sha256:../../etc", "x", 1, &e), -EINVAL);
	store_close(&st);
}

struct collected {
	char data[256];
	size_t len;
};

static int collect(void *arg, const void *buf, size_t len, struct berr *err)
{
	struct collected *c = arg;
	memcpy(c->data + c->len, buf, len);
	c->len += len;
	return 0;
}

static void test_partial_resume(void)
{
	struct store st;
	fresh(&st);
	const char *full = "hello, resumable world";
	char d[DIGEST_STR_MAX];
	digest_of(full, d);
	struct store_partial p;
	struct berr e = { 0 };
	T_EXPECT_INT(store_partial_open(&st, d, &p, NULL, NULL, &e), 0);
	T_EXPECT_INT(store_partial_append(&p, full, 7, &e), 0);
	store_partial_close(&p); /* as if killed here */
	T_EXPECT_INT(store_partial_size(&st, d), 7);

	struct collected c = { 0 };
	T_EXPECT_INT(store_partial_open(&st, d, &p, collect, &c, &e), 0);
	T_EXPECT_INT(p.have, 7);
	T_EXPECT_INT(c.len, 7);
	T_EXPECT(!memcmp(c.data, full, 7));
	T_EXPECT_INT(store_partial_append(&p, full + 7, strlen(full) - 7, &e), 0);
	T_EXPECT_INT(store_partial_finish(&p, d, (int64_t)strlen(full), &e), 0);
	/* Kept until what was made from it is stored. */
	T_EXPECT_INT(store_partial_size(&st, d), (int64_t)strlen(full));
	store_partial_remove(&p);
	store_partial_close(&p);
	T_EXPECT_INT(store_partial_size(&st, d), 0);

	/* Wrong size and wrong content both fail and leave nothing behind. */
	T_EXPECT_INT(store_partial_open(&st, d, &p, NULL, NULL, &e), 0);
	T_EXPECT_INT(store_partial_append(&p, full, strlen(full), &e), 0);
	T_EXPECT_INT(store_partial_finish(&p, d, 5, &e), -EBADMSG);
	store_partial_close(&p);
	T_EXPECT_INT(store_partial_open(&st, d, &p, NULL, NULL, &e), 0);
	T_EXPECT_INT(store_partial_append(&p, "Hello", 5, &e), 0);
	T_EXPECT_INT(store_partial_reset(&p, &e), 0);
	T_EXPECT_INT(store_partial_append(&p, "jello, resumable world", strlen(full), &e), 0);
	T_EXPECT_INT(store_partial_finish(&p, d, -1, &e), -EBADMSG);
	T_EXPECT(strstr(e.msg, "content has digest") != NULL);
	store_partial_close(&p);
	T_EXPECT_INT(store_partial_size(&st, d), 0);
	store_close(&st);
}

/* A layer written through the driver's writer from a small tar stream (one
 * file), committed under the given name. */
static void make_layer(struct store *st, const char *diff)
{
	unsigned char tar[2048] = { 0 };
	memcpy(tar, "file", 4);
	memcpy(tar + 100, "0000644", 7);
	memcpy(tar + 108, "0000000", 7);
	memcpy(tar + 116, "0000000", 7);
	memcpy(tar + 124, "00000000001", 11);
	memcpy(tar + 136, "00000000000", 11);
	tar[156] = '0';
	memcpy(tar + 257, "ustar", 6);
	memcpy(tar + 263, "00", 2);
	memset(tar + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += tar[i];
	snprintf((char *)tar + 148, 8, "%06o", sum);
	tar[512] = 'x';
	struct berr e = { 0 };
	char got[DIGEST_STR_MAX];
	struct store_layer_writer *w = store_layer_begin(st, diff, &e);
	T_EXPECT(w != NULL);
	if (!w)
		return;
	T_EXPECT_INT(store_layer_feed(w, tar, sizeof(tar), &e), 0);
	T_EXPECT_INT(store_layer_finish(w, got, NULL, &e), 0);
	T_EXPECT_INT(store_layer_commit(st, w, diff, &e), 0);
	store_layer_free(w);
}

static void test_images_tags_and_gc(void)
{
	struct store st;
	fresh(&st);
	struct berr e = { 0 };
	char l1[DIGEST_STR_MAX], l2[DIGEST_STR_MAX], l3[DIGEST_STR_MAX];
	digest_of("layer1", l1);
	digest_of("layer2", l2);
	digest_of("layer3", l3);
	make_layer(&st, l1);
	make_layer(&st, l2);
	make_layer(&st, l3);
	/* A second commit of an existing layer is fine (another pull won). */
	make_layer(&st, l1);
	T_EXPECT(store_layer_exists(&st, l1));

	struct store_image a = { 0 }, b = { 0 }, got;
	const char *ca = "{\"config\":\"a\"}", *cb = "{\"config\":\"b\"}";
	digest_of(ca, a.id);
	digest_of(cb, b.id);
	T_EXPECT_INT(store_blob_put(&st, a.id, ca, strlen(ca), &e), 0);
	T_EXPECT_INT(store_blob_put(&st, b.id, cb, strlen(cb), &e), 0);
	strcpy(a.manifest, l3); /* any digest will do for the test */
	strcpy(b.manifest, l3);
	a.nlayers = 2;
	strcpy(a.diff_ids[0], l1);
	strcpy(a.diff_ids[1], l2);
	b.nlayers = 2;
	strcpy(b.diff_ids[0], l1);
	strcpy(b.diff_ids[1], l3);
	a.nrepo_digests = 1;
	strcpy(a.repo_digests[0], "docker.io/library/a@sha256:1");
	T_EXPECT_INT(store_image_put(&st, &a, &e), 0);
	T_EXPECT_INT(store_image_put(&st, &b, &e), 0);
	T_EXPECT_INT(store_image_get(&st, a.id, &got, &e), 0);
	T_EXPECT_INT(got.nlayers, 2);
	T_EXPECT_STR(got.diff_ids[1], l2);
	T_EXPECT_STR(got.repo_digests[0], "docker.io/library/a@sha256:1");

	char id[DIGEST_STR_MAX];
	T_EXPECT_INT(store_tag_set(&st, "docker.io/library/a:1", a.id, &e), 0);
	T_EXPECT_INT(store_tag_set(&st, "docker.io/library/b:1", b.id, &e), 0);
	T_EXPECT_INT(store_tag_get(&st, "docker.io/library/a:1", id, &e), 0);
	T_EXPECT_STR(id, a.id);
	T_EXPECT_INT(store_tag_get(&st, "docker.io/library/zz:1", id, &e), -ENOENT);
	struct store_tag *tags;
	T_EXPECT_INT(store_tags_load(&st, &tags, &e), 2);
	free(tags);

	/* Deleting a keeps the layer b shares and drops the one only a used. */
	T_EXPECT_INT(store_tag_remove(&st, "docker.io/library/a:1", &e), 0);
	T_EXPECT_INT(store_image_delete(&st, a.id, &e), 0);
	T_EXPECT(store_layer_exists(&st, l1));
	T_EXPECT(!store_layer_exists(&st, l2));
	T_EXPECT(store_layer_exists(&st, l3));
	T_EXPECT(!store_blob_exists(&st, a.id));
	T_EXPECT(store_blob_exists(&st, b.id));
	T_EXPECT_INT(store_image_get(&st, a.id, &got, &e), -ENOENT);
	store_close(&st);
}

static void test_recover_removes_unfinished_layers(void)
{
	struct store st;
	fresh(&st);
	char l1[DIGEST_STR_MAX], tmp[PATH_MAX];
	struct berr e = { 0 };
	digest_of("half", l1);
	T_EXPECT_INT(store_layer_tmpdir(&st, l1, tmp, sizeof(tmp), &e), 0);
	store_recover(&st);
	T_EXPECT(access(tmp, F_OK) < 0);
	T_EXPECT(!store_layer_exists(&st, l1));
	store_close(&st);
}

static void test_reader_on_missing_store(void)
{
	struct store st;
	struct berr e = { 0 };
	T_EXPECT_INT(store_open(&st, "/tmp/berth-no-such-store", STORE_READ, &e), -ENOENT);
	T_EXPECT(strstr(e.msg, "/tmp/berth-no-such-store") != NULL);
}

static void test_fs_read_bounds(void)
{
	char p[] = "/tmp/berth-fs-XXXXXX";
	int fd = mkstemp(p);
	T_EXPECT(write(fd, "0123456789", 10) == 10);
	close(fd);
	char buf[11], small[5];
	struct berr e = { 0 };
	T_EXPECT_INT(fs_read_file(p, buf, sizeof(buf), &e), 10);
	T_EXPECT_STR(buf, "0123456789");
	T_EXPECT_INT(fs_read_file(p, small, sizeof(small), &e), -EFBIG);
	char *a = NULL;
	T_EXPECT_INT(fs_read_alloc(p, 5, &a, &e), -EFBIG);
	T_EXPECT(a == NULL);
	T_EXPECT_INT(fs_read_alloc(p, 100, &a, &e), 10);
	free(a);
	unlink(p);
	T_EXPECT_INT(fs_read_file(p, buf, sizeof(buf), &e), -ENOENT);
}

int main(void)
{
	T_RUN(test_blob_roundtrip_and_verification);
	T_RUN(test_partial_resume);
	T_RUN(test_images_tags_and_gc);
	T_RUN(test_recover_removes_unfinished_layers);
	T_RUN(test_reader_on_missing_store);
	T_RUN(test_fs_read_bounds);
	if (root[0])
		fs_rm_rf(root, NULL);
	return T_DONE();
}
