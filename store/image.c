/* Image records and tags (see store.h). Records are small JSON files, one per
 * image; tags live in one JSON table replaced atomically. */
#include "store.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board/cleanup.h"
#include "board/fs.h"

static void cleanup_cjsonp(cJSON **j)
{
	cJSON_Delete(*j);
}
#define _cleanup_json_ __attribute__((cleanup(cleanup_cjsonp)))

static void record_path(const struct store *s, const char *id, char *out, size_t len)
{
	snprintf(out, len, "%s/images/%s.json", s->root, id + 7);
}

static int write_json(const char *path, cJSON *j, struct berr *err)
{
	_cleanup_free_ char *txt = cJSON_PrintUnformatted(j);
	if (!txt)
		return berr_setmsg(err, ENOMEM, "%s: out of memory", path);
	return fs_write_atomic(path, txt, strlen(txt), 0600, err);
}

int store_image_put(struct store *s, const struct store_image *img, struct berr *err)
{
	_cleanup_json_ cJSON *j = cJSON_CreateObject();
	cJSON *rd = cJSON_CreateArray(), *layers = cJSON_CreateArray();
	cJSON_AddStringToObject(j, "id", img->id);
	cJSON_AddStringToObject(j, "manifest", img->manifest);
	cJSON_AddItemToObject(j, "repoDigests", rd);
	for (int i = 0; i < img->nrepo_digests; i++)
		cJSON_AddItemToArray(rd, cJSON_CreateString(img->repo_digests[i]));
	cJSON_AddStringToObject(j, "os", img->platform.os);
	cJSON_AddStringToObject(j, "architecture", img->platform.arch);
	cJSON_AddStringToObject(j, "variant", img->platform.variant);
	cJSON_AddNumberToObject(j, "created", (double)img->created);
	cJSON_AddNumberToObject(j, "size", (double)img->size);
	cJSON_AddItemToObject(j, "layers", layers);
	for (int i = 0; i < img->nlayers; i++)
		cJSON_AddItemToArray(layers, cJSON_CreateString(img->diff_ids[i]));
	char p[PATH_MAX];
	record_path(s, img->id, p, sizeof(p));
	return write_json(p, j, err);
}

static void copy_str(char *dst, size_t len, const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	snprintf(dst, len, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

int store_image_get(const struct store *s, const char *id, struct store_image *img,
		    struct berr *err)
{
	char p[PATH_MAX];
	if (!store_digest_valid(id))
		return berr_setmsg(err, EINVAL, "invalid image id '%s'", id);
	record_path(s, id, p, sizeof(p));
	_cleanup_free_ char *txt = NULL;
	ssize_t n = fs_read_alloc(p, STORE_RECORD_MAX_BYTES, &txt, err);
	if (n < 0)
		return (int)n;
	_cleanup_json_ cJSON *j = cJSON_ParseWithLength(txt, (size_t)n);
	if (!cJSON_IsObject(j))
		return berr_setmsg(err, EBADMSG, "image record %s is corrupt", p);
	memset(img, 0, sizeof(*img));
	copy_str(img->id, sizeof(img->id), j, "id");
	copy_str(img->manifest, sizeof(img->manifest), j, "manifest");
	copy_str(img->platform.os, sizeof(img->platform.os), j, "os");
	copy_str(img->platform.arch, sizeof(img->platform.arch), j, "architecture");
	copy_str(img->platform.variant, sizeof(img->platform.variant), j, "variant");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "created");
	img->created = cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
	v = cJSON_GetObjectItemCaseSensitive(j, "size");
	img->size = cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "repoDigests"))
	{
		if (cJSON_IsString(e) && img->nrepo_digests < STORE_REPO_DIGESTS_MAX)
			snprintf(img->repo_digests[img->nrepo_digests++],
				 sizeof(img->repo_digests[0]), "%s", e->valuestring);
	}
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "layers"))
	{
		if (!cJSON_IsString(e) || !store_digest_valid(e->valuestring) ||
		    img->nlayers >= MANIFEST_MAX_LAYERS)
			return berr_setmsg(err, EBADMSG, "image record %s: bad layer list", p);
		strcpy(img->diff_ids[img->nlayers++], e->valuestring);
	}
	if (strcmp(img->id, id))
		return berr_setmsg(err, EBADMSG, "image record %s: id mismatch", p);
	return 0;
}

int store_image_each(const struct store *s, int (*fn)(const struct store_image *, void *),
		     void *arg, struct berr *err)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/images", s->root);
	_cleanup_closedir_ DIR *d = opendir(p);
	if (!d)
		return errno == ENOENT ? 0 : berr_set(err, errno, "open %s", p);
	_cleanup_free_ struct store_image *img = malloc(sizeof(*img));
	if (!img)
		return berr_set(err, ENOMEM, "list images");
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l != 64 + 5 || strcmp(de->d_name + 64, ".json"))
			continue;
		char id[DIGEST_STR_MAX];
		snprintf(id, sizeof(id), "sha256:%.64s", de->d_name);
		if (store_image_get(s, id, img, NULL) < 0)
			continue;
		int r = fn(img, arg);
		if (r)
			return r;
	}
	return 0;
}

/* --- tags --- */

static void tags_path(const struct store *s, char *out, size_t len)
{
	snprintf(out, len, "%s/repositories.json", s->root);
}

static cJSON *tags_read(const struct store *s, struct berr *err)
{
	char p[PATH_MAX];
	tags_path(s, p, sizeof(p));
	_cleanup_free_ char *txt = NULL;
	struct berr e2 = { 0 };
	ssize_t n = fs_read_alloc(p, STORE_TAGS_MAX_BYTES, &txt, &e2);
	if (n < 0 && e2.code == ENOENT)
		return cJSON_CreateObject();
	if (n < 0) {
		if (err)
			*err = e2;
		return NULL;
	}
	cJSON *j = cJSON_ParseWithLength(txt, (size_t)n);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		berr_setmsg(err, EBADMSG, "%s is corrupt", p);
		return NULL;
	}
	return j;
}

int store_tags_load(const struct store *s, struct store_tag **out, struct berr *err)
{
	*out = NULL;
	_cleanup_json_ cJSON *j = tags_read(s, err);
	if (!j)
		return -(err && err->code ? err->code : EBADMSG);
	int n = cJSON_GetArraySize(j), i = 0;
	struct store_tag *t = calloc((size_t)n + 1, sizeof(*t));
	if (!t)
		return berr_set(err, ENOMEM, "load tags");
	const cJSON *e;
	cJSON_ArrayForEach(e, j)
	{
		if (!cJSON_IsString(e) || !store_digest_valid(e->valuestring) ||
		    strlen(e->string) >= sizeof(t[i].name))
			continue;
		strcpy(t[i].name, e->string);
		strcpy(t[i].id, e->valuestring);
		i++;
	}
	*out = t;
	return i;
}

int store_tag_get(const struct store *s, const char *name, char id[DIGEST_STR_MAX],
		  struct berr *err)
{
	_cleanup_json_ cJSON *j = tags_read(s, err);
	if (!j)
		return -(err && err->code ? err->code : EBADMSG);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	if (!cJSON_IsString(v) || !store_digest_valid(v->valuestring))
		return berr_setmsg(err, ENOENT, "no such image: %s", name);
	strcpy(id, v->valuestring);
	return 0;
}

int store_tag_set(struct store *s, const char *name, const char *id, struct berr *err)
{
	_cleanup_json_ cJSON *j = tags_read(s, err);
	if (!j)
		return -(err && err->code ? err->code : EBADMSG);
	cJSON_DeleteItemFromObjectCaseSensitive(j, name);
	cJSON_AddStringToObject(j, name, id);
	char p[PATH_MAX];
	tags_path(s, p, sizeof(p));
	return write_json(p, j, err);
}

int store_tag_remove(struct store *s, const char *name, struct berr *err)
{
	_cleanup_json_ cJSON *j = tags_read(s, err);
	if (!j)
		return -(err && err->code ? err->code : EBADMSG);
	if (!cJSON_GetObjectItemCaseSensitive(j, name))
		return berr_setmsg(err, ENOENT, "no such image: %s", name);
	cJSON_DeleteItemFromObjectCaseSensitive(j, name);
	char p[PATH_MAX];
	tags_path(s, p, sizeof(p));
	return write_json(p, j, err);
}

/* --- deletion and garbage collection --- */

/* The set of digests images still use: diff_ids, configs and manifests. */
struct used {
	size_t n, cap;
	char (*d)[DIGEST_STR_MAX];
};

static int used_add(struct used *u, const char *digest)
{
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 64;
		void *p = realloc(u->d, cap * sizeof(*u->d));
		if (!p)
			return -ENOMEM;
		u->d = p;
		u->cap = cap;
	}
	strcpy(u->d[u->n++], digest);
	return 0;
}

static bool used_has(const struct used *u, const char *digest)
{
	for (size_t i = 0; i < u->n; i++)
		if (!strcmp(u->d[i], digest))
			return true;
	return false;
}

static int collect_used(const struct store_image *img, void *arg)
{
	struct used *u = arg;
	if (used_add(u, img->id) < 0 || used_add(u, img->manifest) < 0)
		return -ENOMEM;
	for (int i = 0; i < img->nlayers; i++)
		if (used_add(u, img->diff_ids[i]) < 0)
			return -ENOMEM;
	return 0;
}

/* Removes entries of dir (named by hex digest) not in u. */
static long long sweep(const struct store *s, const char *sub, const struct used *u)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", s->root, sub);
	_cleanup_closedir_ DIR *d = opendir(p);
	long long freed = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strlen(de->d_name) != 64)
			continue;
		char dg[DIGEST_STR_MAX];
		snprintf(dg, sizeof(dg), "sha256:%s", de->d_name);
		if (!store_digest_valid(dg) || used_has(u, dg))
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", p, de->d_name);
		freed += fs_du(path);
		fs_rm_rf(path, NULL);
	}
	return freed;
}

static bool layer_used(const char *diff_id, void *arg)
{
	return used_has(arg, diff_id);
}

/* Squashfs layers no image uses: unmounted, then removed. */
static long long sweep_sqfs(struct store *s, const struct used *u)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/layers/sqfs", s->root);
	if (access(p, F_OK))
		return 0;
	store_layers_release(s, layer_used, (void *)u, NULL);
	_cleanup_closedir_ DIR *d = opendir(p);
	long long freed = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strlen(de->d_name) != 69 || strcmp(de->d_name + 64, ".sqfs"))
			continue;
		char dg[DIGEST_STR_MAX], path[PATH_MAX];
		snprintf(dg, sizeof(dg), "sha256:%.64s", de->d_name);
		if (!store_digest_valid(dg) || used_has(u, dg))
			continue;
		snprintf(path, sizeof(path), "%s/%s", p, de->d_name);
		freed += fs_du(path);
		unlink(path);
	}
	return freed;
}

static long long gc_unused(struct store *s)
{
	struct used u = { 0 };
	long long freed = -1;
	if (store_image_each(s, collect_used, &u, NULL) == 0) {
		/* Manifests of an index are kept while any image is from it: the
		 * index blob itself is not recorded, so blobs only go with the
		 * image ids and manifests named above. */
		freed = sweep(s, "layers/sha256", &u) + sweep_sqfs(s, &u) +
			sweep(s, "blobs/sha256", &u);
	}
	free(u.d);
	return freed;
}

int store_image_delete(struct store *s, const char *id, struct berr *err)
{
	char p[PATH_MAX];
	record_path(s, id, p, sizeof(p));
	/* The record goes first: a crash after this leaves unused layers,
	 * which the next gc removes, never an image with missing layers. */
	if (unlink(p) < 0)
		return berr_set(err, errno, "remove image %s", id);
	int r = fs_sync_parent(p, err);
	if (r < 0)
		return r;
	gc_unused(s);
	return 0;
}

long long store_gc(struct store *s)
{
	struct used none = { 0 };
	/* Under the writer lock no pull is running: partials are leftovers. */
	long long partial = sweep(s, "blobs/partial", &none);
	return gc_unused(s) + partial;
}
