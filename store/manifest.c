/* Manifest, index and image config parsing (see manifest.h): OCI image-spec
 * manifest.md, image-index.md, descriptor.md, config.md; Docker schema 2. */
#include "manifest.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "board/cleanup.h"
#include "config.h"

#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"
#define MT_OCI_NONDIST "application/vnd.oci.image.layer.nondistributable."
#define MT_DOCKER_FOREIGN "application/vnd.docker.image.rootfs.foreign."
#define DESC_SIZE_MAX 9007199254740992.0 /* 2^53: larger sizes are not exact in a double */
#define SHOW_MAX 64                      /* document text quoted in an error message */

static void cjson_deletep(cJSON **p)
{
	cJSON_Delete(*p);
}

#define _cleanup_cjson_ __attribute__((cleanup(cjson_deletep)))

static const struct {
	const char *type;
	enum store_compression comp;
} layer_types[] = {
	{ "application/vnd.oci.image.layer.v1.tar", COMP_NONE },
	{ "application/vnd.oci.image.layer.v1.tar+gzip", COMP_GZIP },
	{ "application/vnd.oci.image.layer.v1.tar+zstd", COMP_ZSTD },
	{ "application/vnd.docker.image.rootfs.diff.tar.gzip", COMP_GZIP },
	/* not in Docker's spec, but what containerd calls an uncompressed Docker layer */
	{ "application/vnd.docker.image.rootfs.diff.tar", COMP_NONE },
};

/* Copies document text for an error message: shortened, printable only. */
static const char *show(const char *s, char *buf, size_t size)
{
	size_t n = 0;
	for (; s[n] && n < size - 4 && n < SHOW_MAX; n++)
		buf[n] = (s[n] >= 0x20 && s[n] < 0x7f) ? s[n] : '?';
	if (s[n]) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* cJSON turns "\u0000" into a NUL inside a C string, which would make it read
 * a different string than other parsers of the same (digest-checked) bytes. */
static bool has_nul(const char *body, size_t len)
{
	if (memchr(body, '\0', len))
		return true;
	for (size_t i = 0; i + 1 < len; i++) {
		if (body[i] != '\\')
			continue;
		if (body[i + 1] == 'u' && len - i >= 6 && !memcmp(body + i + 2, "0000", 4))
			return true;
		i++; /* skip the escaped character, so "\\u0000" is not an escape */
	}
	return false;
}

/* Parses a whole document (nothing but whitespace after the value) whose
 * top level must be an object; what names it in errors. */
static int load(const char *body, size_t len, const char *what, cJSON **out, struct berr *err)
{
	*out = NULL;
	if (!body || len == 0)
		return berr_setmsg(err, EBADMSG, "%s is empty", what);
	if (len > MANIFEST_MAX_BYTES)
		return berr_setmsg(err, E2BIG, "%s is %zu bytes, more than the limit of %d", what,
				   len, MANIFEST_MAX_BYTES);
	if (has_nul(body, len))
		return berr_setmsg(err, EBADMSG, "%s contains a NUL character", what);
	const char *end = NULL;
	_cleanup_cjson_ cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (!root) {
		size_t at = end ? (size_t)(end - body) : 0;
		return berr_setmsg(err, EBADMSG, "%s is not valid JSON (at byte %zu)", what, at);
	}
	for (; end < body + len; end++)
		if (!strchr(" \t\r\n", *end))
			return berr_setmsg(err, EBADMSG, "%s has data after the JSON value", what);
	if (!cJSON_IsObject(root))
		return berr_setmsg(err, EBADMSG, "%s is not a JSON object", what);
	*out = steal_ptr(&root);
	return 0;
}

/* Finds key in object o (*out NULL when absent). A key given twice is refused:
 * parsers that keep the first and those that keep the last would disagree. */
static int jget(const cJSON *o, const char *key, const cJSON **out, struct berr *err)
{
	*out = NULL;
	for (const cJSON *c = o->child; c; c = c->next) {
		if (!c->string || strcmp(c->string, key))
			continue;
		if (*out)
			return berr_setmsg(err, EBADMSG, "duplicate key \"%s\"", key);
		*out = c;
	}
	return 0;
}

/* A string member copied into buf; absent is "" unless required. */
static int jstr(const cJSON *o, const char *key, bool required, char *buf, size_t size,
		struct berr *err)
{
	const cJSON *v;
	int r = jget(o, key, &v, err);
	buf[0] = '\0';
	if (r)
		return r;
	if (!v)
		return required ? berr_setmsg(err, EBADMSG, "missing \"%s\"", key) : 0;
	if (!cJSON_IsString(v))
		return berr_setmsg(err, EBADMSG, "\"%s\" is not a string", key);
	size_t n = strlen(v->valuestring);
	if (n >= size)
		return berr_setmsg(err, EBADMSG, "\"%s\" is longer than %zu characters", key,
				   size - 1);
	memcpy(buf, v->valuestring, n + 1);
	return 0;
}

/* Checks a digest string: sha256 only; other algorithms are valid OCI but
 * unsupported here, anything else is malformed. */
static int check_digest(const char *d, struct berr *err)
{
	char sb[SHOW_MAX + 4];
	if (store_digest_valid(d))
		return 0;
	const char *colon = strchr(d, ':');
	if (colon && colon != d && strncmp(d, "sha256:", 7)) {
		const char *a = d;
		while (a < colon &&
		       ((*a >= 'a' && *a <= 'z') || (*a >= '0' && *a <= '9') || strchr("+._-", *a)))
			a++;
		if (a == colon)
			return berr_setmsg(err, ENOTSUP, "unsupported digest algorithm in '%s'",
					   show(d, sb, sizeof(sb)));
	}
	return berr_setmsg(err, EBADMSG, "invalid digest '%s'", show(d, sb, sizeof(sb)));
}

/* descriptor.md: mediaType, digest and size are required. */
static int parse_desc(const cJSON *o, struct store_desc *d, struct berr *err)
{
	memset(d, 0, sizeof(*d));
	if (!cJSON_IsObject(o))
		return berr_setmsg(err, EBADMSG, "descriptor is not an object");
	int r = jstr(o, "mediaType", true, d->media_type, sizeof(d->media_type), err);
	if (r)
		return r;
	const cJSON *v;
	if ((r = jget(o, "digest", &v, err)))
		return r;
	if (!v)
		return berr_setmsg(err, EBADMSG, "missing \"digest\"");
	if (!cJSON_IsString(v))
		return berr_setmsg(err, EBADMSG, "\"digest\" is not a string");
	if ((r = check_digest(v->valuestring, err)))
		return r;
	memcpy(d->digest, v->valuestring, DIGEST_STR_MAX);
	if ((r = jget(o, "size", &v, err)))
		return r;
	if (!v)
		return berr_setmsg(err, EBADMSG, "missing \"size\"");
	double s = cJSON_IsNumber(v) ? v->valuedouble : -1;
	if (!(s >= 0 && s <= DESC_SIZE_MAX && s == (double)(int64_t)s))
		return berr_setmsg(err, EBADMSG, "\"size\" is not a non-negative integer");
	d->size = (int64_t)s;
	return 0;
}

static int parse_layer(const cJSON *o, struct store_desc *d, struct berr *err)
{
	char sb[SHOW_MAX + 4];
	int r = parse_desc(o, d, err);
	if (r)
		return r;
	for (size_t i = 0; i < sizeof(layer_types) / sizeof(layer_types[0]); i++) {
		if (!strcmp(d->media_type, layer_types[i].type)) {
			d->comp = layer_types[i].comp;
			return 0;
		}
	}
	if (!strncmp(d->media_type, MT_OCI_NONDIST, strlen(MT_OCI_NONDIST)) ||
	    !strncmp(d->media_type, MT_DOCKER_FOREIGN, strlen(MT_DOCKER_FOREIGN)))
		return berr_setmsg(err, ENOTSUP,
				   "non-distributable (foreign) layer '%s' is not supported",
				   show(d->media_type, sb, sizeof(sb)));
	return berr_setmsg(err, ENOTSUP, "unsupported layer media type '%s'",
			   show(d->media_type, sb, sizeof(sb)));
}

/* Schema 1 carries "fsLayers" and "schemaVersion": 1; everything else must say 2. */
static int check_schema(const cJSON *root, const char *what, struct berr *err)
{
	const cJSON *v, *fs;
	int r = jget(root, "schemaVersion", &v, err);
	if (r || (r = jget(root, "fsLayers", &fs, err)))
		return r;
	if (fs || (cJSON_IsNumber(v) && v->valuedouble == 1))
		return berr_setmsg(err, ENOTSUP, "Docker schema 1 manifests are not supported");
	if (!v)
		return berr_setmsg(err, EBADMSG, "%s has no \"schemaVersion\"", what);
	if (!cJSON_IsNumber(v) || v->valuedouble != 2)
		return berr_setmsg(err, EBADMSG, "%s has \"schemaVersion\" other than 2", what);
	return 0;
}

static bool has_key(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
}

enum store_mkind store_manifest_kind(const char *content_type, const char *body, size_t len)
{
	static const struct {
		const char *type;
		enum store_mkind kind;
	} types[] = {
		{ MT_OCI_MANIFEST, MKIND_MANIFEST },  { MT_DOCKER_MANIFEST, MKIND_MANIFEST },
		{ MT_OCI_INDEX, MKIND_INDEX },        { MT_DOCKER_LIST, MKIND_INDEX },
		{ MT_DOCKER_SCHEMA1, MKIND_SCHEMA1 }, { MT_DOCKER_SCHEMA1_SIGNED, MKIND_SCHEMA1 },
	};
	if (content_type) {
		/* "type/subtype; params", case-insensitive, maybe padded */
		const char *ct = content_type + strspn(content_type, " \t");
		size_t n = strcspn(ct, ";");
		while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
			n--;
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strlen(types[i].type) == n && !strncasecmp(ct, types[i].type, n))
				return types[i].kind;
	}

	/* Generic, missing or unknown type: go by the shape, never by mediaType. */
	struct berr e = { 0 };
	_cleanup_cjson_ cJSON *root = NULL;
	if (load(body, len, "document", &root, &e))
		return MKIND_UNKNOWN;
	const cJSON *sv = cJSON_GetObjectItemCaseSensitive(root, "schemaVersion");
	if (has_key(root, "fsLayers") || (cJSON_IsNumber(sv) && sv->valuedouble == 1))
		return MKIND_SCHEMA1;
	bool manifests = cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "manifests"));
	bool image = has_key(root, "layers") && has_key(root, "config");
	if (manifests && !image)
		return MKIND_INDEX;
	if (image && !has_key(root, "manifests"))
		return MKIND_MANIFEST;
	return MKIND_UNKNOWN;
}

int store_manifest_parse(const char *body, size_t len, struct store_manifest *m, struct berr *err)
{
	char sb[SHOW_MAX + 4];
	memset(m, 0, sizeof(*m));
	_cleanup_cjson_ cJSON *root = NULL;
	int r = load(body, len, "manifest", &root, err);
	if (r || (r = check_schema(root, "manifest", err)))
		return r;

	/* A document that could be read as both a manifest and an index is refused. */
	if (has_key(root, "manifests"))
		return berr_setmsg(err, EBADMSG, "manifest has \"manifests\": it is an index");
	char mt[128];
	if ((r = jstr(root, "mediaType", false, mt, sizeof(mt), err)))
		return r;
	if (mt[0] && strcmp(mt, MT_OCI_MANIFEST) && strcmp(mt, MT_DOCKER_MANIFEST))
		return berr_setmsg(err, EBADMSG, "manifest has mediaType '%s'",
				   show(mt, sb, sizeof(sb)));

	const cJSON *cfg, *layers;
	if ((r = jget(root, "config", &cfg, err)) || (r = jget(root, "layers", &layers, err)))
		return r;
	if (!cfg)
		return berr_setmsg(err, EBADMSG, "manifest has no \"config\"");
	if ((r = parse_desc(cfg, &m->config, err)))
		return berr_prefix(err, "config");
	bool docker_cfg = !strcmp(m->config.media_type, MT_DOCKER_CONFIG);
	if (!docker_cfg && strcmp(m->config.media_type, MT_OCI_CONFIG))
		return berr_setmsg(err, ENOTSUP, "config media type '%s' is not an image config",
				   show(m->config.media_type, sb, sizeof(sb)));
	m->docker = mt[0] ? !strcmp(mt, MT_DOCKER_MANIFEST) : docker_cfg;

	if (!layers)
		return berr_setmsg(err, EBADMSG, "manifest has no \"layers\"");
	if (!cJSON_IsArray(layers))
		return berr_setmsg(err, EBADMSG, "manifest \"layers\" is not an array");
	int n = cJSON_GetArraySize(layers);
	if (n > MANIFEST_MAX_LAYERS)
		return berr_setmsg(err, E2BIG, "manifest has %d layers, more than the limit of %d",
				   n, MANIFEST_MAX_LAYERS);
	const cJSON *l;
	cJSON_ArrayForEach(l, layers)
	{
		if ((r = parse_layer(l, &m->layers[m->nlayers], err)))
			return berr_prefix(err, "layer %d", m->nlayers);
		m->nlayers++;
	}
	return 0;
}

static int parse_platform(const cJSON *o, struct store_platform *p, struct berr *err)
{
	if (!cJSON_IsObject(o))
		return berr_setmsg(err, EBADMSG, "\"platform\" is not an object");
	int r = jstr(o, "os", false, p->os, sizeof(p->os), err);
	if (r || (r = jstr(o, "architecture", false, p->arch, sizeof(p->arch), err)))
		return r;
	return jstr(o, "variant", false, p->variant, sizeof(p->variant), err);
}

int store_index_parse(const char *body, size_t len, struct store_index *ix, struct berr *err)
{
	char sb[SHOW_MAX + 4];
	memset(ix, 0, sizeof(*ix));
	_cleanup_cjson_ cJSON *root = NULL;
	int r = load(body, len, "index", &root, err);
	if (r || (r = check_schema(root, "index", err)))
		return r;
	if (has_key(root, "layers") || has_key(root, "config"))
		return berr_setmsg(err, EBADMSG,
				   "index has \"layers\" or \"config\": it is a manifest");
	char mt[128];
	if ((r = jstr(root, "mediaType", false, mt, sizeof(mt), err)))
		return r;
	if (mt[0] && strcmp(mt, MT_OCI_INDEX) && strcmp(mt, MT_DOCKER_LIST))
		return berr_setmsg(err, EBADMSG, "index has mediaType '%s'",
				   show(mt, sb, sizeof(sb)));

	const cJSON *list;
	if ((r = jget(root, "manifests", &list, err)))
		return r;
	if (!list)
		return berr_setmsg(err, EBADMSG, "index has no \"manifests\"");
	if (!cJSON_IsArray(list))
		return berr_setmsg(err, EBADMSG, "index \"manifests\" is not an array");
	int n = cJSON_GetArraySize(list);
	if (n > MANIFEST_MAX_ENTRIES)
		return berr_setmsg(err, E2BIG, "index has %d entries, more than the limit of %d", n,
				   MANIFEST_MAX_ENTRIES);
	const cJSON *e;
	cJSON_ArrayForEach(e, list)
	{
		struct store_desc *d = &ix->m[ix->n];
		const cJSON *plat;
		if ((r = parse_desc(e, d, err)) || (r = jget(e, "platform", &plat, err)) ||
		    (plat && (r = parse_platform(plat, &d->platform, err))))
			return berr_prefix(err, "index entry %d", ix->n);
		ix->n++;
	}
	return 0;
}

/* Aliases as Docker and containerd spell them; lower case. Variant digits
 * gain their "v" ("7" -> "v7"). */
static void platform_norm(struct store_platform *p)
{
	static const struct {
		const char *alias, *arch, *variant;
	} aliases[] = {
		{ "x86_64", "amd64", NULL },  { "x86-64", "amd64", NULL },
		{ "aarch64", "arm64", NULL }, { "armhf", "arm", "v7" },
		{ "armel", "arm", "v6" },     { "i386", "386", NULL },
	};
	char *fields[] = { p->os, p->arch, p->variant };
	for (size_t f = 0; f < 3; f++)
		for (char *c = fields[f]; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		if (strcmp(p->arch, aliases[i].alias))
			continue;
		strcpy(p->arch, aliases[i].arch);
		if (aliases[i].variant && !p->variant[0])
			strcpy(p->variant, aliases[i].variant);
		break;
	}
	if (p->variant[0] >= '0' && p->variant[0] <= '9' &&
	    strlen(p->variant) < sizeof(p->variant) - 1) {
		memmove(p->variant + 1, p->variant, strlen(p->variant) + 1);
		p->variant[0] = 'v';
	}
}

int store_platform_parse(const char *s, struct store_platform *p, struct berr *err)
{
	char sb[SHOW_MAX + 4];
	char *fields[] = { p->os, p->arch, p->variant };
	size_t sizes[] = { sizeof(p->os), sizeof(p->arch), sizeof(p->variant) };
	memset(p, 0, sizeof(*p));
	size_t f = 0;
	for (const char *c = s;; f++) {
		size_t n = strcspn(c, "/");
		bool ok = f < 3 && n > 0 && n < sizes[f];
		for (size_t i = 0; ok && i < n; i++)
			ok = (c[i] >= 'a' && c[i] <= 'z') || (c[i] >= 'A' && c[i] <= 'Z') ||
			     (c[i] >= '0' && c[i] <= '9') || strchr("._-", c[i]);
		if (!ok)
			break;
		memcpy(fields[f], c, n);
		c += n;
		if (!*c++) {
			if (f == 0)
				break;
			platform_norm(p);
			/* "linux/arm" means what docker means by it: v7 */
			if (!strcmp(p->arch, "arm") && !p->variant[0])
				strcpy(p->variant, "v7");
			return 0;
		}
	}
	memset(p, 0, sizeof(*p));
	return berr_setmsg(err, EINVAL, "invalid platform '%s': want os/arch[/variant]",
			   show(s, sb, sizeof(sb)));
}

void store_platform_host(struct store_platform *p)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->os, "linux");
	if (CONFIG_ARCH_AARCH64) {
		strcpy(p->arch, "arm64");
		strcpy(p->variant, "v8");
	} else if (CONFIG_ARCH_ARMV7) {
		strcpy(p->arch, "arm");
		strcpy(p->variant, "v7");
	} else {
		strcpy(p->arch, "amd64");
	}
}

/* "vN" -> N, anything else 0. */
static int variant_level(const char *v)
{
	if (v[0] != 'v' || v[1] < '1' || v[1] > '9')
		return 0;
	int n = 0;
	for (const char *c = v + 1; *c; c++) {
		if (*c < '0' || *c > '9' || n > 99)
			return 0;
		n = n * 10 + (*c - '0');
	}
	return n;
}

static bool variant_same(const struct store_platform *a, const struct store_platform *b)
{
	if (!strcmp(a->arch, "arm64")) {
		const char *va = a->variant[0] ? a->variant : "v8";
		const char *vb = b->variant[0] ? b->variant : "v8";
		return !strcmp(va, vb);
	}
	return !strcmp(a->variant, b->variant);
}

static bool is_manifest_type(const char *mt)
{
	return !strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_DOCKER_MANIFEST);
}

static void platform_str(const struct store_platform *p, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s%s%s", p->os, p->arch, p->variant[0] ? "/" : "", p->variant);
}

int store_index_select(const struct store_index *ix, const struct store_platform *want,
		       struct berr *err)
{
	struct store_platform w = *want;
	platform_norm(&w);
	int wlevel = !strcmp(w.arch, "arm") ? variant_level(w.variant) : 0;
	int best = -1, best_score = 0;
	for (int i = 0; i < ix->n; i++) {
		struct store_platform e = ix->m[i].platform;
		platform_norm(&e);
		if (!is_manifest_type(ix->m[i].media_type) || strcmp(e.os, w.os) ||
		    strcmp(e.arch, w.arch))
			continue;
		/* exact variant > the highest lower arm variant > no variant */
		int score = 0, level = variant_level(e.variant);
		if (variant_same(&w, &e))
			score = 1000;
		else if (wlevel && level && level < wlevel)
			score = 100 + level;
		else if (!e.variant[0])
			score = 1;
		if (score > best_score) {
			best = i;
			best_score = score;
		}
	}
	if (best >= 0)
		return best;

	char have[BERR_MSG_MAX] = "", one[sizeof(struct store_platform) + 4];
	size_t used = 0;
	for (int i = 0; i < ix->n && used < sizeof(have); i++) {
		const struct store_platform *p = &ix->m[i].platform;
		if (!p->os[0] || !p->arch[0] || !is_manifest_type(ix->m[i].media_type))
			continue;
		platform_str(p, one, sizeof(one));
		int k = snprintf(have + used, sizeof(have) - used, "%s%s", used ? ", " : "", one);
		used += k > 0 ? (size_t)k : 0;
	}
	char wanted[sizeof(one)];
	platform_str(&w, wanted, sizeof(wanted));
	return berr_setmsg(err, ENOENT, "no image for %s in the index (it has %s)", wanted,
			   have[0] ? have : "no platforms");
}

int store_config_parse(const char *body, size_t len, struct store_imgconfig *c, struct berr *err)
{
	char sb[SHOW_MAX + 4];
	memset(c, 0, sizeof(*c));
	_cleanup_cjson_ cJSON *root = NULL;
	int r = load(body, len, "image config", &root, err);
	if (r)
		return r;
	struct store_platform *p = &c->platform;
	const cJSON *rootfs, *ids;
	if ((r = jstr(root, "architecture", true, p->arch, sizeof(p->arch), err)) ||
	    (r = jstr(root, "os", true, p->os, sizeof(p->os), err)) ||
	    (r = jstr(root, "variant", false, p->variant, sizeof(p->variant), err)) ||
	    (r = jget(root, "rootfs", &rootfs, err)))
		return berr_prefix(err, "image config");
	if (!cJSON_IsObject(rootfs))
		return berr_setmsg(err, EBADMSG, "image config has no \"rootfs\" object");
	char type[16];
	if ((r = jstr(rootfs, "type", true, type, sizeof(type), err)) ||
	    (r = jget(rootfs, "diff_ids", &ids, err)))
		return berr_prefix(err, "image config rootfs");
	if (strcmp(type, "layers"))
		return berr_setmsg(err, EBADMSG, "image config rootfs type is '%s', not 'layers'",
				   show(type, sb, sizeof(sb)));
	if (!cJSON_IsArray(ids))
		return berr_setmsg(err, EBADMSG, "image config has no \"rootfs.diff_ids\" array");
	int n = cJSON_GetArraySize(ids);
	if (n > MANIFEST_MAX_LAYERS)
		return berr_setmsg(err, E2BIG,
				   "image config has %d diff_ids, more than the limit of %d", n,
				   MANIFEST_MAX_LAYERS);
	const cJSON *id;
	cJSON_ArrayForEach(id, ids)
	{
		if (!cJSON_IsString(id))
			return berr_setmsg(err, EBADMSG, "image config diff_id %d is not a string",
					   c->ndiff);
		if ((r = check_digest(id->valuestring, err)))
			return berr_prefix(err, "image config diff_id %d", c->ndiff);
		memcpy(c->diff_ids[c->ndiff++], id->valuestring, DIGEST_STR_MAX);
	}
	return 0;
}
