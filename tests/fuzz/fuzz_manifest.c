/* libFuzzer target for store/manifest.c: kind detection, manifest, index
 * (with platform selection) and image config parsing over the same bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store_manifest m;
static struct store_index ix;
static struct store_imgconfig ic;

static void check_desc(const struct store_desc *d)
{
	if (!store_digest_valid(d->digest) || d->size < 0 || !memchr(d->media_type, 0, 128))
		__builtin_trap();
}

static void select_all(void)
{
	static const char *const platforms[] = { "linux/amd64", "linux/arm64", "linux/arm/v7",
						 "linux/arm/v8", "linux/arm/v5" };
	struct store_platform p;
	struct berr err = { 0 };
	store_platform_host(&p);
	int r = store_index_select(&ix, &p, &err);
	if (r >= ix.n || (r < 0 && r != -ENOENT))
		__builtin_trap();
	for (size_t i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++) {
		if (store_platform_parse(platforms[i], &p, &err))
			__builtin_trap();
		r = store_index_select(&ix, &p, &err);
		if (r >= ix.n || (r < 0 && r != -ENOENT))
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct berr err = { 0 };

	store_manifest_kind(NULL, body, size);
	store_manifest_kind("application/json; charset=utf-8", body, size);
	store_manifest_kind(MT_OCI_INDEX, body, size);

	int r = store_manifest_parse(body, size, &m, &err);
	if (r == 0) {
		if (m.nlayers < 0 || m.nlayers > MANIFEST_MAX_LAYERS)
			__builtin_trap();
		check_desc(&m.config);
		for (int i = 0; i < m.nlayers; i++)
			check_desc(&m.layers[i]);
	} else if (r != -EBADMSG && r != -E2BIG && r != -ENOTSUP) {
		__builtin_trap();
	}

	r = store_index_parse(body, size, &ix, &err);
	if (r == 0) {
		if (ix.n < 0 || ix.n > MANIFEST_MAX_ENTRIES)
			__builtin_trap();
		for (int i = 0; i < ix.n; i++)
			check_desc(&ix.m[i]);
		select_all();
	}

	r = store_config_parse(body, size, &ic, &err);
	if (r == 0) {
		for (int i = 0; i < ic.ndiff; i++)
			if (!store_digest_valid(ic.diff_ids[i]))
				__builtin_trap();
	}

	/* the same bytes as a platform string */
	char *s = malloc(size + 1);
	if (s) {
		struct store_platform p;
		memcpy(s, data, size);
		s[size] = '\0';
		store_platform_parse(s, &p, &err);
		free(s);
	}
	return 0;
}
