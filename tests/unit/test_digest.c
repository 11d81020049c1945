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

/* Whatever implementation store_sha256 picked must agree with BearSSL's
 * portable one for every length and every way of splitting the input. */
static void test_matches_portable_for_all_lengths_and_splits(void)
{
	static unsigned char data[1100];
	unsigned x = 12345;
	for (size_t i = 0; i < sizeof(data); i++) {
		x = x * 1103515245 + 12345;
		data[i] = (unsigned char)(x >> 16);
	}
	struct store_sha256 probe;
	store_sha256_init(&probe);
	printf("# sha256 with %s\n", probe.hw ? "CPU instructions" : "portable code");
	int bad = 0;
	for (size_t len = 0; len <= sizeof(data); len += (len < 200 ? 1 : 37)) {
		br_sha256_context ref;
		unsigned char bin[32];
		char want[DIGEST_STR_MAX], got[DIGEST_STR_MAX];
		br_sha256_init(&ref);
		br_sha256_update(&ref, data, len);
		br_sha256_out(&ref, bin);
		static const char hex[] = "0123456789abcdef";
		memcpy(want, "sha256:", 7);
		for (int i = 0; i < 32; i++) {
			want[7 + 2 * i] = hex[bin[i] >> 4];
			want[8 + 2 * i] = hex[bin[i] & 15];
		}
		want[71] = 0;
		for (size_t split = 0; split <= len; split += (split < 130 ? 1 : 61)) {
			struct store_sha256 h;
			store_sha256_init(&h);
			store_sha256_update(&h, data, split);
			store_sha256_update(&h, data + split, len - split);
			store_sha256_final(&h, got);
			if (strcmp(got, want) && bad++ < 3)
				printf("#   len %zu split %zu: %s != %s\n", len, split, got, want);
		}
	}
	T_EXPECT_INT(bad, 0);
}

int main(void)
{
	T_RUN(test_known_vectors);
	T_RUN(test_validity);
	T_RUN(test_matches_portable_for_all_lengths_and_splits);
	return T_DONE();
}
