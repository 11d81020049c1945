/* Unit tests for store/digest.c. */
#include "store/digest.h"
#include "tap.h"

static void test_known_vectors(void)
{
	struct store_sha256 h;
	char out[DIGEST_STR_MAX];
	store_sha256_init(&h);
	store_sha256_final(&h, out);
	T_EXPECT_STR(out,
		     "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	store_sha256_update(&h, "ab", 2);
	store_sha256_update(&h, "c", 1);
	store_sha256_final(&h, out);
	T_EXPECT_STR(out,
		     "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	T_EXPECT(store_digest_valid(out));
}

static void test_validity(void)
{
	T_EXPECT(store_digest_valid(
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	/* upper case, short, long, other algorithms, traversal */
	T_EXPECT(!store_digest_valid(
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
	T_EXPECT(!store_digest_valid("sha256:e3b0"));
	T_EXPECT(!store_digest_valid(
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8550"));
	T_EXPECT(!store_digest_valid(
		"sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	T_EXPECT(!store_digest_valid("sha256:../../../../etc/passwd"));
	T_EXPECT(!store_digest_valid(""));
}

int main(void)
{
	T_RUN(test_known_vectors);
	T_RUN(test_validity);
	return T_DONE();
}
