/* libFuzzer target for the tar reader (store/tar.h), no file system: input read
 * whole and in three pieces; checks invariants and that cuts change nothing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/tar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

static void check_entry(const struct tar_entry *e)
{
	check(strchr("0123456", e->type) && e->type);
	check(e->mode <= 07777 && e->mtime_nsec < 1000000000u);
	check(e->uid < (1ULL << 63) && e->gid < (1ULL << 63));
	check(e->type == TAR_REG || e->size == 0);
	check(strnlen(e->path, sizeof(e->path)) < sizeof(e->path));
	check(strnlen(e->link, sizeof(e->link)) < sizeof(e->link));
	check(e->link[0] == '\0' || e->type == TAR_LINK || e->type == TAR_SYMLINK);
	check(e->nxattr <= TAR_XATTR_MAX);
	size_t total = 0;
	for (unsigned int i = 0; i < e->nxattr; i++) {
		size_t n = strlen(e->xattr[i].name);
		check(n > 0 && n <= TAR_XATTR_NAME_MAX);
		total += n + 1 + e->xattr[i].len;
	}
	check(total <= TAR_XATTR_BYTES);
}

/* Reads data cut at s1 and s2; returns a digest of every event and result. */
static uint64_t read_all(struct tar_reader *r, const uint8_t *data, size_t size, size_t s1,
			 size_t s2)
{
	const size_t cuts[] = { 0, s1, s2, size };
	uint64_t h = 14695981039346656037ULL;
	unsigned long long left = 0; /* data still owed for the current entry */
	int rc = 0;
	tar_reader_init(r);
	for (int i = 0; i < 3 && rc >= 0; i++) {
		const unsigned char *p = data + cuts[i];
		size_t len = cuts[i + 1] - cuts[i];
		for (;;) {
			const unsigned char *d = NULL;
			size_t dl = 0;
			const unsigned char *before = p;
			struct berr err = { 0 };
			rc = tar_reader_next(r, &p, &len, &d, &dl, &err);
			check(p >= before && p <= data + cuts[i + 1]);
			if (rc < 0) {
				check(err.code == -rc && err.msg[0]);
				/* after an error, only errors */
				check(tar_reader_next(r, &p, &len, &d, &dl, &err) < 0);
				h = mix(h, &rc, sizeof(rc));
				break;
			}
			if (rc == TAR_EV_MORE) {
				check(len == 0);
				break;
			}
			/* How data is split in pieces depends on the cuts: not hashed. */
			if (rc != TAR_EV_DATA)
				h = mix(h, &rc, sizeof(rc));
			if (rc == TAR_EV_ENTRY) {
				const struct tar_entry *e = &r->entry;
				check(left == 0);
				check_entry(e);
				left = e->size;
				h = mix(h, e->path, strlen(e->path) + 1);
				h = mix(h, e->link, strlen(e->link) + 1);
				h = mix(h, &e->type, 1);
				h = mix(h, &e->size, sizeof(e->size));
				h = mix(h, &e->mtime, sizeof(e->mtime));
				for (unsigned int k = 0; k < e->nxattr; k++)
					h = mix(h, e->xattr[k].value, e->xattr[k].len);
			} else if (rc == TAR_EV_DATA) {
				check(d >= data + cuts[i] && d + dl <= p && dl > 0 && dl <= left);
				left -= dl;
				h = mix(h, d, dl);
			} else if (rc == TAR_EV_DONE) {
				check(left == 0);
			}
		}
	}
	if (rc >= 0) {
		struct berr err = { 0 };
		int end = tar_reader_end(r, &err);
		check(end == 0 || (end < 0 && err.msg[0]));
		check(end < 0 || left == 0);
		h = mix(h, &end, sizeof(end));
	}
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tar_reader *r;
	if (!r && !(r = malloc(sizeof(*r))))
		return 0;
	uint64_t whole = read_all(r, data, size, size, size);
	/* Cut points from the content, so mutations move them around. */
	uint64_t k = mix(14695981039346656037ULL, data, size);
	size_t s1 = size ? (size_t)(k % (size + 1)) : 0;
	size_t s2 = s1 + (size_t)((k >> 32) % (size - s1 + 1));
	check(read_all(r, data, size, s1, s2) == whole);
	return 0;
}
