/* Unit tests for store/manifest.c: kind detection, OCI and Docker manifests,
 * indexes, platform selection and image configs. */
#include <errno.h>

#include "config.h"
#include "store/manifest.h"
#include "tap.h"

#define HEX(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define D1 "sha256:" HEX("b1")
#define D2 "sha256:" HEX("c2")
#define D3 "sha256:" HEX("d3")
#define D4 "sha256:" HEX("e4")
#define D5 "sha256:" HEX("f5")
#define D6 "sha256:" HEX("a6")

#define OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define OCI_TGZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define DOCKER_TGZ "application/vnd.docker.image.rootfs.diff.tar.gzip"

static const char oci_manifest[] =
	"{\n"
	"  \"schemaVersion\": 2,\n"
	"  \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n"
	"  \"config\": {\"mediaType\": \"" OCI_CONFIG "\", \"digest\": \"" D1
	"\", \"size\": 1469},\n"
	"  \"layers\": [\n"
	"    {\"mediaType\": \"" OCI_TGZ "\", \"digest\": \"" D2 "\", \"size\": 2811478},\n"
	"    {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+zstd\", \"digest\": \"" D3
	"\", \"size\": 100},\n"
	"    {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar\", \"digest\": \"" D4
	"\", \"size\": 0}\n"
	"  ],\n"
	"  \"annotations\": {\"org.opencontainers.image.created\": \"2024-01-01T00:00:00Z\"}\n"
	"}\n";

static const char docker_manifest[] =
	"{\"schemaVersion\":2,"
	"\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"config\":{\"mediaType\":\"" DOCKER_CONFIG "\",\"size\":7023,\"digest\":\"" D1 "\"},"
	"\"layers\":[{\"mediaType\":\"" DOCKER_TGZ "\",\"size\":32654,\"digest\":\"" D2 "\"},"
	"{\"mediaType\":\"" DOCKER_TGZ "\",\"size\":16724,\"digest\":\"" D3 "\"}]}";

#define ENTRY(d, arch, variant)                                                                 \
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" d         \
	"\",\"size\":1234,\"platform\":{\"architecture\":\"" arch "\",\"os\":\"linux\"" variant \
	"}}"

#define V(v) ",\"variant\":\"" v "\""
#define E_ARM_NONE ENTRY(D1, "arm", "")
#define E_AMD64 ENTRY(D1, "amd64", "")
#define E_ARM64_V8 ENTRY(D2, "arm64", V("v8"))
#define E_ARM_V7 ENTRY(D3, "arm", V("v7"))
#define E_ARM_V6 ENTRY(D4, "arm", V("v6"))
/* buildkit's attestation entry */
#define E_ATTEST                                                                     \
	"{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D5 "\",\"size\":566," \
	"\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"},"  \
	"\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}}"
/* an entry without platform */
#define E_NOPLAT "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D6 "\",\"size\":10}"

static const char oci_index[] = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\","
				"\"manifests\":[" E_AMD64 "," E_ARM64_V8 "," E_ARM_V7 "," E_ARM_V6
				"," E_ATTEST "," E_NOPLAT "]}";

static const char docker_list[] =
	"{\"schemaVersion\":2,"
	"\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\","
	"\"manifests\":[{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"size\":528,\"digest\":\"" D1
	"\",\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\","
	"\"variant\":\"v5\"}},"
	"{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"size\":528,"
	"\"digest\":\"" D2 "\",\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"size\":528,"
	"\"digest\":\"" D3 "\",\"platform\":{\"architecture\":\"ppc64le\",\"os\":\"linux\"}}]}";

static const char schema1[] =
	"{\"schemaVersion\":1,\"name\":\"library/"
	"busybox\",\"tag\":\"1\",\"architecture\":\"amd64\","
	"\"fsLayers\":[{\"blobSum\":\"" D1 "\"}],\"history\":[{\"v1Compatibility\":\"{}\"}]}";

static const char image_config[] =
	"{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\","
	"\"config\":{\"Env\":[\"PATH=/bin\"],\"Cmd\":[\"sh\"]},"
	"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\",\"" D3 "\"]},"
	"\"history\":[{\"created_by\":\"ADD rootfs\"}]}";

#define S(x) x, strlen(x)

static struct store_manifest m; /* large: keep it off the stack */
static struct store_index ix;
static struct store_imgconfig ic;

static void test_kind_from_content_type(void)
{
	T_EXPECT_INT(store_manifest_kind(MT_OCI_MANIFEST, S(oci_manifest)), MKIND_MANIFEST);
	T_EXPECT_INT(store_manifest_kind(MT_DOCKER_MANIFEST, S(docker_manifest)), MKIND_MANIFEST);
	T_EXPECT_INT(store_manifest_kind(MT_OCI_INDEX, S(oci_index)), MKIND_INDEX);
	T_EXPECT_INT(store_manifest_kind(MT_DOCKER_LIST, S(docker_list)), MKIND_INDEX);
	T_EXPECT_INT(
		store_manifest_kind("application/vnd.docker.distribution.manifest.v1+prettyjws",
				    S(schema1)),
		MKIND_SCHEMA1);
	T_EXPECT_INT(store_manifest_kind(" Application/VND.oci.image.index.v1+json ; charset=utf-8",
					 S(oci_index)),
		     MKIND_INDEX);
	/* a specific type is believed even without a body; parsing checks it later */
	T_EXPECT_INT(store_manifest_kind(MT_OCI_MANIFEST, NULL, 0), MKIND_MANIFEST);
}

static void test_kind_from_shape(void)
{
	const char *generic[] = { NULL,
				  "",
				  "application/json",
				  "text/plain; charset=utf-8",
				  "application/octet-stream",
				  "application/x-unknown" };
	for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++) {
		const char *ct = generic[i];
		T_EXPECT_INT(store_manifest_kind(ct, S(oci_manifest)), MKIND_MANIFEST);
		T_EXPECT_INT(store_manifest_kind(ct, S(docker_manifest)), MKIND_MANIFEST);
		T_EXPECT_INT(store_manifest_kind(ct, S(oci_index)), MKIND_INDEX);
		T_EXPECT_INT(store_manifest_kind(ct, S(docker_list)), MKIND_INDEX);
		T_EXPECT_INT(store_manifest_kind(ct, S(schema1)), MKIND_SCHEMA1);
	}
	/* mediaType alone decides nothing */
	T_EXPECT_INT(
		store_manifest_kind(NULL, S("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
					    "\",\"config\":{},\"layers\":[]}")),
		MKIND_MANIFEST);
	T_EXPECT_INT(store_manifest_kind(
			     NULL, S("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\"}")),
		     MKIND_UNKNOWN);
	/* both shapes at once is ambiguous */
	T_EXPECT_INT(
		store_manifest_kind(
			NULL,
			S("{\"schemaVersion\":2,\"manifests\":[],\"config\":{},\"layers\":[]}")),
		MKIND_UNKNOWN);
	T_EXPECT_INT(store_manifest_kind(NULL, S("{\"fsLayers\":[]}")), MKIND_SCHEMA1);
	T_EXPECT_INT(store_manifest_kind(NULL, S("{\"layers\":[]}")), MKIND_UNKNOWN);
	T_EXPECT_INT(store_manifest_kind(NULL, S("[1,2]")), MKIND_UNKNOWN);
	T_EXPECT_INT(store_manifest_kind(NULL, S("{\"manifests\":[]")), MKIND_UNKNOWN);
	T_EXPECT_INT(store_manifest_kind(NULL, S("<html>404</html>")), MKIND_UNKNOWN);
	T_EXPECT_INT(store_manifest_kind("application/json", NULL, 0), MKIND_UNKNOWN);
}

static void test_oci_manifest(void)
{
	struct berr e = { 0 };
	int r = store_manifest_parse(S(oci_manifest), &m, &e);
	if (r)
		printf("#   %s\n", e.msg);
	T_EXPECT_INT(r, 0);
	T_EXPECT(!m.docker);
	T_EXPECT_STR(m.config.media_type, OCI_CONFIG);
	T_EXPECT_STR(m.config.digest, D1);
	T_EXPECT_INT(m.config.size, 1469);
	T_EXPECT_INT(m.nlayers, 3);
	T_EXPECT_STR(m.layers[0].digest, D2);
	T_EXPECT_INT(m.layers[0].size, 2811478);
	T_EXPECT_INT(m.layers[0].comp, COMP_GZIP);
	T_EXPECT_INT(m.layers[1].comp, COMP_ZSTD);
	T_EXPECT_STR(m.layers[2].digest, D4);
	T_EXPECT_INT(m.layers[2].size, 0);
	T_EXPECT_INT(m.layers[2].comp, COMP_NONE);
}

static void test_docker_manifest(void)
{
	struct berr e = { 0 };
	T_EXPECT_INT(store_manifest_parse(S(docker_manifest), &m, &e), 0);
	T_EXPECT(m.docker);
	T_EXPECT_STR(m.config.media_type, DOCKER_CONFIG);
	T_EXPECT_INT(m.nlayers, 2);
	T_EXPECT_INT(m.layers[0].comp, COMP_GZIP);
	T_EXPECT_INT(m.layers[1].comp, COMP_GZIP);
	T_EXPECT_STR(m.layers[1].digest, D3);
	T_EXPECT_INT(m.layers[1].size, 16724);

	/* without the optional mediaType, the config type tells Docker from OCI */
	T_EXPECT_INT(store_manifest_parse(
			     S("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" DOCKER_CONFIG
			       "\",\"size\":1,\"digest\":\"" D1 "\"},\"layers\":[]}"),
			     &m, &e),
		     0);
	T_EXPECT(m.docker);
	T_EXPECT_INT(m.nlayers, 0);
	T_EXPECT_INT(store_manifest_parse(
			     S("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" OCI_CONFIG
			       "\",\"size\":1,\"digest\":\"" D1 "\"},\"layers\":[]}"),
			     &m, &e),
		     0);
	T_EXPECT(!m.docker);
}

/* A manifest with one layer whose descriptor is given. */
#define ONE_LAYER(layer)                                                             \
	"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" OCI_CONFIG               \
	"\",\"size\":1,\"digest\":\"" D1 "\"},\"layers\":[{\"mediaType\":\"" OCI_TGZ \
	"\",\"size\":5,\"digest\":\"" D2 "\"}," layer "]}"

struct bad_doc {
	const char *doc;
	int code;
	const char *msg;
};

static const struct bad_doc bad_manifests[] = {
	{ ONE_LAYER("{\"mediaType\":\"" OCI_TGZ "\",\"size\":5,\"digest\":\"sha256:abc\"}"),
	  -EBADMSG, "layer 1: invalid digest 'sha256:abc'" },
	{ ONE_LAYER("{\"mediaType\":\"" OCI_TGZ
		    "\",\"size\":5,\"digest\":\"sha256:" HEX("AB") "\"}"),
	  -EBADMSG, "layer 1: invalid digest" },
	{ ONE_LAYER("{\"mediaType\":\"" OCI_TGZ "\",\"size\":5,\"digest\":\"" D3 "0\"}"), -EBADMSG,
	  "layer 1: invalid digest" },
	{ ONE_LAYER("{\"mediaType\":\"" OCI_TGZ "\",\"size\":5,\"digest\":\"sha512:" HEX("ab")
			    HEX("cd") "\"}"),
	  -ENOTSUP, "layer 1: unsupported digest algorithm" },
	{ ONE_LAYER("{\"mediaType\":\"" OCI_TGZ "\",\"size\":5}"), -EBADMSG,
	  "layer 1: missing \"digest\"" },
	{ ONE_LAYER("{\"mediaType\":\"" OCI_TGZ "\",\"size\":5,\"digest\":7}"), -EBADMSG,
	  "layer 1: \"digest\" is not a string" },
	{ ONE_LAYER("{\"mediaType\":\"" OCI_TGZ "\",\"size\":-1,\"digest\":\"" D3 "\"}"), -EBADMSG,
	  "layer 1: \"size\" is not a non-negative integer" },
	{ ONE_LAYER("{\"mediaType\":\"" OCI_TGZ "\",\"size\":1.5,\"digest\":\"" D3 "\"}"), -EBADMSG,
	  "layer 1: \"size\" is not a non-negative integer" },
	{ ONE_LAYER("{\"mediaType\":\"" OCI_TGZ "\",\"size\":\"5\",\"digest\":\"" D3 "\"}"),
	  -EBADMSG, "layer 1: \"size\" is not a non-negative integer" },
	{ ONE_LAYER("{\"mediaType\":\"" OCI_TGZ "\",\"size\":1e300,\"digest\":\"" D3 "\"}"),
	  -EBADMSG, "layer 1: \"size\" is not a non-negative integer" },
	{ ONE_LAYER("{\"mediaType\":\"" OCI_TGZ "\",\"digest\":\"" D3 "\"}"), -EBADMSG,
	  "layer 1: missing \"size\"" },
	{ ONE_LAYER("{\"size\":5,\"digest\":\"" D3 "\"}"), -EBADMSG,
	  "layer 1: missing \"mediaType\"" },
	{ ONE_LAYER("[]"), -EBADMSG, "layer 1: descriptor is not an object" },
	{ ONE_LAYER("{\"mediaType\":\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\","
		    "\"size\":5,\"digest\":\"" D3 "\",\"urls\":[\"https://example.com/l\"]}"),
	  -ENOTSUP,
	  "layer 1: non-distributable (foreign) layer "
	  "'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip' is not supported" },
	{ ONE_LAYER(
		  "{\"mediaType\":\"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip\","
		  "\"size\":5,\"digest\":\"" D3 "\"}"),
	  -ENOTSUP, "layer 1: non-distributable (foreign) layer" },
	{ ONE_LAYER("{\"mediaType\":\"application/vnd.cncf.helm.chart.content.v1.tar+gzip\","
		    "\"size\":5,\"digest\":\"" D3 "\"}"),
	  -ENOTSUP,
	  "layer 1: unsupported layer media type "
	  "'application/vnd.cncf.helm.chart.content.v1.tar+gzip'" },
	{ ONE_LAYER("{\"mediaType\":\"" OCI_TGZ "\",\"size\":5,\"digest\":\"" D3 "\",\"size\":6}"),
	  -EBADMSG, "layer 1: duplicate key \"size\"" },
	/* cJSON would read the digest up to the NUL; other parsers would not */
	{ ONE_LAYER("{\"mediaType\":\"" OCI_TGZ "\",\"size\":5,\"digest\":\"" D3 "\\u0000x\"}"),
	  -EBADMSG, "manifest contains a NUL character" },
	{ "{\"schemaVersion\":2,\"layers\":[]}", -EBADMSG, "manifest has no \"config\"" },
	{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" OCI_CONFIG
	  "\",\"size\":1,\"digest\":\"" D1 "\"}}",
	  -EBADMSG, "manifest has no \"layers\"" },
	{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" OCI_CONFIG
	  "\",\"size\":1,\"digest\":\"" D1 "\"},\"layers\":{}}",
	  -EBADMSG, "manifest \"layers\" is not an array" },
	{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" OCI_CONFIG
	  "\",\"size\":-5,\"digest\":\"" D1 "\"},\"layers\":[]}",
	  -EBADMSG, "config: \"size\" is not a non-negative integer" },
	{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/"
	  "vnd.cncf.helm.config.v1+json\","
	  "\"size\":1,\"digest\":\"" D1 "\"},\"layers\":[]}",
	  -ENOTSUP,
	  "config media type 'application/vnd.cncf.helm.config.v1+json' is not an image config" },
	{ "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
	  "\",\"config\":{\"mediaType\":\"" OCI_CONFIG "\",\"size\":1,\"digest\":\"" D1
	  "\"},\"layers\":[]}",
	  -EBADMSG, "manifest has mediaType 'application/vnd.oci.image.index.v1+json'" },
	{ "{\"schemaVersion\":2,\"manifests\":[],\"config\":{\"mediaType\":\"" OCI_CONFIG
	  "\",\"size\":1,\"digest\":\"" D1 "\"},\"layers\":[]}",
	  -EBADMSG, "manifest has \"manifests\": it is an index" },
	{ schema1, -ENOTSUP, "Docker schema 1 manifests are not supported" },
	{ "{\"schemaVersion\":3,\"config\":{},\"layers\":[]}", -EBADMSG,
	  "manifest has \"schemaVersion\" other than 2" },
	{ "{\"schemaVersion\":\"2\",\"config\":{},\"layers\":[]}", -EBADMSG,
	  "manifest has \"schemaVersion\" other than 2" },
	{ "{\"config\":{},\"layers\":[]}", -EBADMSG, "manifest has no \"schemaVersion\"" },
	{ "{\"schemaVersion\":2,\"schemaVersion\":1}", -EBADMSG,
	  "duplicate key \"schemaVersion\"" },
	{ "[]", -EBADMSG, "manifest is not a JSON object" },
	{ "{\"schemaVersion\":2,", -EBADMSG, "manifest is not valid JSON" },
	{ "{\"schemaVersion\":2} {}", -EBADMSG, "manifest has data after the JSON value" },
	{ "", -EBADMSG, "manifest is empty" },
};

static void test_bad_manifests(void)
{
	for (size_t i = 0; i < sizeof(bad_manifests) / sizeof(bad_manifests[0]); i++) {
		const struct bad_doc *b = &bad_manifests[i];
		struct berr e = { 0 };
		int r = store_manifest_parse(S(b->doc), &m, &e);
		T_EXPECT_INT(r, b->code);
		T_EXPECT_INT(e.code, -b->code);
		if (!strstr(e.msg, b->msg)) {
			printf("#   bad manifest %zu: message \"%s\", expected \"%s\"\n", i, e.msg,
			       b->msg);
			T_EXPECT(strstr(e.msg, b->msg) != NULL);
		}
	}
}

static void test_odd_but_valid_manifests(void)
{
	struct berr e = { 0 };
	/* an escaped backslash before "u0000" is not a NUL; trailing whitespace is fine */
	T_EXPECT_INT(store_manifest_parse(
			     S("{\"schemaVersion\":2,\"annotations\":{\"a\":\"\\\\u0000\"},"
			       "\"config\":{\"mediaType\":\"" OCI_CONFIG
			       "\",\"size\":1,\"digest\":\"" D1 "\"},\"layers\":[]}\r\n\t "),
			     &m, &e),
		     0);
	/* a Docker manifest may carry OCI layers (and the other way round) */
	T_EXPECT_INT(store_manifest_parse(
			     S("{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_MANIFEST
			       "\",\"config\":{\"mediaType\":\"" OCI_CONFIG
			       "\",\"size\":1,\"digest\":\"" D1 "\"},\"layers\":[{"
			       "\"mediaType\":\"" OCI_TGZ "\",\"size\":5,\"digest\":\"" D2 "\"}]}"),
			     &m, &e),
		     0);
	T_EXPECT(m.docker);
	T_EXPECT_INT(m.layers[0].comp, COMP_GZIP);
	/* the largest exact size */
	T_EXPECT_INT(store_manifest_parse(
			     S(ONE_LAYER("{\"mediaType\":\"" OCI_TGZ
					 "\",\"size\":9007199254740992,\"digest\":\"" D3 "\"}")),
			     &m, &e),
		     0);
	T_EXPECT_INT(m.layers[1].size, 9007199254740992LL);
}

/* A manifest with n layers, in a malloc'd buffer. */
static char *manifest_with_layers(int n)
{
	size_t cap = 512 + (size_t)n * 256;
	char *s = malloc(cap);
	size_t len = (size_t)snprintf(s, cap,
				      "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" OCI_CONFIG
				      "\",\"size\":1,\"digest\":\"" D1 "\"},\"layers\":[");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len,
					"%s{\"mediaType\":\"" OCI_TGZ
					"\",\"size\":%d,\"digest\":\"sha256:%064x\"}",
					i ? "," : "", i, i);
	snprintf(s + len, cap - len, "]}");
	return s;
}

static void test_layer_limit(void)
{
	struct berr e = { 0 };
	char *s = manifest_with_layers(MANIFEST_MAX_LAYERS);
	T_EXPECT_INT(store_manifest_parse(S(s), &m, &e), 0);
	T_EXPECT_INT(m.nlayers, MANIFEST_MAX_LAYERS);
	T_EXPECT_INT(m.layers[MANIFEST_MAX_LAYERS - 1].size, MANIFEST_MAX_LAYERS - 1);
	T_EXPECT_STR(m.layers[MANIFEST_MAX_LAYERS - 1].digest,
		     "sha256:000000000000000000000000000000000000000000000000000000000000007f");
	free(s);
	s = manifest_with_layers(MANIFEST_MAX_LAYERS + 1);
	T_EXPECT_INT(store_manifest_parse(S(s), &m, &e), -E2BIG);
	T_EXPECT_STR(e.msg, "manifest has 129 layers, more than the limit of 128");
	free(s);
}

static void test_size_limit(void)
{
	struct berr e = { 0 };
	size_t n = MANIFEST_MAX_BYTES + 1;
	char *s = malloc(n);
	memset(s, ' ', n);
	s[0] = '{';
	s[n - 1] = '}';
	T_EXPECT_INT(store_manifest_parse(s, n, &m, &e), -E2BIG);
	T_EXPECT(strstr(e.msg, "more than the limit") != NULL);
	T_EXPECT_INT(store_index_parse(s, n, &ix, &e), -E2BIG);
	T_EXPECT_INT(store_config_parse(s, n, &ic, &e), -E2BIG);
	T_EXPECT_INT(store_manifest_kind(NULL, s, n), MKIND_UNKNOWN);
	/* just under the limit is only whitespace away from a real document */
	n--;
	memcpy(s, oci_manifest, strlen(oci_manifest));
	T_EXPECT_INT(store_manifest_parse(s, n, &m, &e), 0);
	free(s);
}

static void test_index(void)
{
	struct berr e = { 0 };
	int r = store_index_parse(S(oci_index), &ix, &e);
	if (r)
		printf("#   %s\n", e.msg);
	T_EXPECT_INT(r, 0);
	T_EXPECT_INT(ix.n, 6);
	T_EXPECT_STR(ix.m[0].digest, D1);
	T_EXPECT_INT(ix.m[0].size, 1234);
	T_EXPECT_STR(ix.m[0].platform.os, "linux");
	T_EXPECT_STR(ix.m[0].platform.arch, "amd64");
	T_EXPECT_STR(ix.m[0].platform.variant, "");
	T_EXPECT_STR(ix.m[1].platform.arch, "arm64");
	T_EXPECT_STR(ix.m[1].platform.variant, "v8");
	T_EXPECT_STR(ix.m[3].platform.variant, "v6");
	T_EXPECT_STR(ix.m[4].platform.os, "unknown");
	T_EXPECT_STR(ix.m[5].digest, D6);
	T_EXPECT_STR(ix.m[5].platform.os, "");
	T_EXPECT_STR(ix.m[5].platform.arch, "");

	T_EXPECT_INT(store_index_parse(S(docker_list), &ix, &e), 0);
	T_EXPECT_INT(ix.n, 3);
	T_EXPECT_STR(ix.m[0].media_type, MT_DOCKER_MANIFEST);
	T_EXPECT_STR(ix.m[0].platform.variant, "v5");

	T_EXPECT_INT(store_index_parse(S("{\"schemaVersion\":2,\"manifests\":[]}"), &ix, &e), 0);
	T_EXPECT_INT(ix.n, 0);
}

#define INDEX_OF(entries) "{\"schemaVersion\":2,\"manifests\":[" entries "]}"

static const struct bad_doc bad_indexes[] = {
	{ INDEX_OF(ENTRY("sha256:1234", "amd64", "")), -EBADMSG,
	  "index entry 0: invalid digest 'sha256:1234'" },
	{ INDEX_OF(ENTRY(D1, "amd64", "") "," ENTRY("sha384:abcd", "arm64", "")), -ENOTSUP,
	  "index entry 1: unsupported digest algorithm" },
	{ INDEX_OF("{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":-3}"),
	  -EBADMSG, "index entry 0: \"size\" is not a non-negative integer" },
	{ INDEX_OF("{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D1
		   "\",\"size\":3,\"platform\":\"linux/amd64\"}"),
	  -EBADMSG, "index entry 0: \"platform\" is not an object" },
	{ INDEX_OF(ENTRY(D1, "arm", ",\"variant\":\"v7-but-much-longer\"")), -EBADMSG,
	  "index entry 0: \"variant\" is longer than 15 characters" },
	{ INDEX_OF(ENTRY(D1, "arm", ",\"variant\":7")), -EBADMSG,
	  "index entry 0: \"variant\" is not a string" },
	{ "{\"schemaVersion\":2,\"manifests\":{}}", -EBADMSG,
	  "index \"manifests\" is not an array" },
	{ "{\"schemaVersion\":2}", -EBADMSG, "index has no \"manifests\"" },
	{ "{\"schemaVersion\":2,\"manifests\":[],\"layers\":[]}", -EBADMSG,
	  "index has \"layers\" or \"config\": it is a manifest" },
	{ "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"manifests\":[]}", -EBADMSG,
	  "index has mediaType 'application/vnd.oci.image.manifest.v1+json'" },
	{ schema1, -ENOTSUP, "Docker schema 1 manifests are not supported" },
	{ "{\"schemaVersion\":2,\"manifests\":[]}}", -EBADMSG,
	  "index has data after the JSON value" },
};

static void test_bad_indexes(void)
{
	for (size_t i = 0; i < sizeof(bad_indexes) / sizeof(bad_indexes[0]); i++) {
		const struct bad_doc *b = &bad_indexes[i];
		struct berr e = { 0 };
		T_EXPECT_INT(store_index_parse(S(b->doc), &ix, &e), b->code);
		if (!strstr(e.msg, b->msg)) {
			printf("#   bad index %zu: message \"%s\", expected \"%s\"\n", i, e.msg,
			       b->msg);
			T_EXPECT(strstr(e.msg, b->msg) != NULL);
		}
	}
	/* the entry limit */
	size_t cap = 300 * (MANIFEST_MAX_ENTRIES + 2);
	char *s = malloc(cap);
	for (int n = MANIFEST_MAX_ENTRIES; n <= MANIFEST_MAX_ENTRIES + 1; n++) {
		size_t len = (size_t)snprintf(s, cap, "{\"schemaVersion\":2,\"manifests\":[");
		for (int i = 0; i < n; i++)
			len += (size_t)snprintf(s + len, cap - len, "%s" ENTRY(D1, "amd64", ""),
						i ? "," : "");
		snprintf(s + len, cap - len, "]}");
		struct berr e = { 0 };
		int r = store_index_parse(S(s), &ix, &e);
		T_EXPECT_INT(r, n > MANIFEST_MAX_ENTRIES ? -E2BIG : 0);
		if (r)
			T_EXPECT_STR(e.msg, "index has 65 entries, more than the limit of 64");
		else
			T_EXPECT_INT(ix.n, MANIFEST_MAX_ENTRIES);
	}
	free(s);
}

static int select_for(const char *platform, struct berr *e)
{
	struct store_platform p;
	int r = store_platform_parse(platform, &p, e);
	if (r) {
		printf("#   %s\n", e->msg);
		return -1000;
	}
	return store_index_select(&ix, &p, e);
}

static void test_select(void)
{
	struct berr e = { 0 };
	T_EXPECT_INT(store_index_parse(S(oci_index), &ix, &e), 0);
	T_EXPECT_INT(select_for("linux/amd64", &e), 0);
	T_EXPECT_INT(select_for("linux/x86_64", &e), 0);
	T_EXPECT_INT(select_for("linux/arm64", &e), 1);
	T_EXPECT_INT(select_for("linux/arm64/v8", &e), 1);
	T_EXPECT_INT(select_for("linux/aarch64", &e), 1);
	T_EXPECT_INT(select_for("linux/arm/v7", &e), 2);
	T_EXPECT_INT(select_for("linux/arm", &e), 2);
	T_EXPECT_INT(select_for("linux/armhf", &e), 2);
	T_EXPECT_INT(select_for("linux/arm/v6", &e), 3);
	T_EXPECT_INT(select_for("linux/armel", &e), 3);
	/* arm v8 in 32-bit mode runs v7 code: the highest lower variant wins */
	T_EXPECT_INT(select_for("linux/arm/v8", &e), 2);
	T_EXPECT_INT(select_for("linux/arm/v5", &e), -ENOENT);
	T_EXPECT_STR(e.msg, "no image for linux/arm/v5 in the index (it has linux/amd64, "
			    "linux/arm64/v8, linux/arm/v7, linux/arm/v6, unknown/unknown)");
	T_EXPECT_INT(select_for("windows/amd64", &e), -ENOENT);
	T_EXPECT_INT(select_for("linux/riscv64", &e), -ENOENT);
	T_EXPECT_INT(select_for("linux/arm64/v9", &e), -ENOENT);

	/* the host platform picks its own entry */
	struct store_platform host;
	store_platform_host(&host);
	int want = !strcmp(host.arch, "amd64") ? 0 : !strcmp(host.arch, "arm64") ? 1 : 2;
	T_EXPECT_INT(store_index_select(&ix, &host, &e), want);

	/* Docker list: arm64 without variant is v8; arm v5 serves v6 and v7 */
	T_EXPECT_INT(store_index_parse(S(docker_list), &ix, &e), 0);
	T_EXPECT_INT(select_for("linux/arm64/v8", &e), 1);
	T_EXPECT_INT(select_for("linux/arm64", &e), 1);
	T_EXPECT_INT(select_for("linux/arm/v7", &e), 0);
	T_EXPECT_INT(select_for("linux/arm/v6", &e), 0);
	T_EXPECT_INT(select_for("linux/arm/v5", &e), 0);
	T_EXPECT_INT(select_for("linux/ppc64le", &e), 2);
	T_EXPECT_INT(select_for("linux/amd64", &e), -ENOENT);
	T_EXPECT_STR(e.msg, "no image for linux/amd64 in the index (it has linux/arm/v5, "
			    "linux/arm64, linux/ppc64le)");
}

#define IX_ARM_MIX \
	INDEX_OF(ENTRY(D1, "arm", "") "," ENTRY(D2, "arm", V("v5")) "," ENTRY(D3, "arm", V("v6")))
#define E_ARM_V8 ENTRY(D1, "arm", V("v8"))
#define E_ARM_7_UPPER ENTRY(D2, "ARM", V("7"))
#define E_AARCH64 ENTRY(D3, "aarch64", "")
#define IX_ODD_NAMES INDEX_OF(E_ARM_V8 "," E_ARM_7_UPPER "," E_AARCH64)
#define E_NESTED                                                                \
	"{\"mediaType\":\"" MT_OCI_INDEX "\",\"digest\":\"" D4 "\",\"size\":1," \
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}"
#define IX_SKIP INDEX_OF(E_NESTED "," ENTRY(D1, "amd64", "") "," ENTRY(D2, "amd64", ""))

static void test_select_fallbacks(void)
{
	struct berr e = { 0 };
	/* exact beats lower beats no variant, whatever the order */
	T_EXPECT_INT(store_index_parse(S(IX_ARM_MIX), &ix, &e), 0);
	T_EXPECT_INT(select_for("linux/arm/v7", &e), 2);
	T_EXPECT_INT(select_for("linux/arm/v6", &e), 2);
	T_EXPECT_INT(select_for("linux/arm/v5", &e), 1);

	/* only an entry without variant: it serves every arm */
	T_EXPECT_INT(store_index_parse(S(INDEX_OF(E_ARM_NONE)), &ix, &e), 0);
	T_EXPECT_INT(select_for("linux/arm/v7", &e), 0);
	T_EXPECT_INT(select_for("linux/arm/v5", &e), 0);

	/* a higher variant never serves a lower one; unusual spellings normalise */
	T_EXPECT_INT(store_index_parse(S(IX_ODD_NAMES), &ix, &e), 0);
	T_EXPECT_INT(select_for("linux/arm/v7", &e), 1);
	T_EXPECT_INT(select_for("linux/arm/v6", &e), -ENOENT);
	T_EXPECT_INT(select_for("linux/arm64/v8", &e), 2);

	/* first of equals wins; entries that are not image manifests are skipped */
	T_EXPECT_INT(store_index_parse(S(IX_SKIP), &ix, &e), 0);
	T_EXPECT_INT(select_for("linux/amd64", &e), 1);

	/* empty index */
	T_EXPECT_INT(store_index_parse(S(INDEX_OF("")), &ix, &e), 0);
	T_EXPECT_INT(select_for("linux/amd64", &e), -ENOENT);
	T_EXPECT_STR(e.msg, "no image for linux/amd64 in the index (it has no platforms)");
}

static void test_platform_parse(void)
{
	static const struct {
		const char *in, *os, *arch, *variant;
	} goods[] = {
		{ "linux/amd64", "linux", "amd64", "" },
		{ "linux/arm64", "linux", "arm64", "" },
		{ "linux/arm64/v8", "linux", "arm64", "v8" },
		{ "linux/arm/v7", "linux", "arm", "v7" },
		{ "linux/arm/6", "linux", "arm", "v6" },
		{ "linux/arm", "linux", "arm", "v7" },
		{ "linux/aarch64", "linux", "arm64", "" },
		{ "linux/x86_64", "linux", "amd64", "" },
		{ "Linux/AMD64", "linux", "amd64", "" },
		{ "linux/armel", "linux", "arm", "v6" },
		{ "windows/amd64", "windows", "amd64", "" },
	};
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		struct store_platform p;
		struct berr e = { 0 };
		T_EXPECT_INT(store_platform_parse(goods[i].in, &p, &e), 0);
		T_EXPECT_STR(p.os, goods[i].os);
		T_EXPECT_STR(p.arch, goods[i].arch);
		T_EXPECT_STR(p.variant, goods[i].variant);
	}
	static const char *bads[] = { "",
				      "linux",
				      "linux/",
				      "/amd64",
				      "linux//v7",
				      "linux/arm/v7/x",
				      "linux/am d64",
				      "linux/arm/",
				      "linux/arm/v7-but-much-longer",
				      "an-operating-system-name-too-long/amd64" };
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct store_platform p;
		struct berr e = { 0 };
		char want[BERR_MSG_MAX];
		snprintf(want, sizeof(want), "invalid platform '%s': want os/arch[/variant]",
			 bads[i]);
		T_EXPECT_INT(store_platform_parse(bads[i], &p, &e), -EINVAL);
		T_EXPECT_STR(e.msg, want);
		T_EXPECT_STR(p.os, "");
	}
}

static void test_platform_host(void)
{
	struct store_platform p;
	store_platform_host(&p);
	T_EXPECT_STR(p.os, "linux");
	const char *arch = CONFIG_ARCH_AARCH64 ? "arm64" : CONFIG_ARCH_ARMV7 ? "arm" : "amd64";
	const char *variant = CONFIG_ARCH_AARCH64 ? "v8" : CONFIG_ARCH_ARMV7 ? "v7" : "";
	T_EXPECT_STR(p.arch, arch);
	T_EXPECT_STR(p.variant, variant);
}

static void test_config(void)
{
	struct berr e = { 0 };
	int r = store_config_parse(S(image_config), &ic, &e);
	if (r)
		printf("#   %s\n", e.msg);
	T_EXPECT_INT(r, 0);
	T_EXPECT_STR(ic.platform.os, "linux");
	T_EXPECT_STR(ic.platform.arch, "arm");
	T_EXPECT_STR(ic.platform.variant, "v7");
	T_EXPECT_INT(ic.ndiff, 3);
	T_EXPECT_STR(ic.diff_ids[0], D1);
	T_EXPECT_STR(ic.diff_ids[2], D3);

	/* an image without layers */
	T_EXPECT_INT(store_config_parse(S("{\"architecture\":\"amd64\",\"os\":\"linux\","
					  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}"),
					&ic, &e),
		     0);
	T_EXPECT_INT(ic.ndiff, 0);
	T_EXPECT_STR(ic.platform.variant, "");
}

#define CONFIG_WITH(rootfs) "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":" rootfs "}"

static const struct bad_doc bad_configs[] = {
	{ CONFIG_WITH("{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"sha256:nothex\"]}"),
	  -EBADMSG, "image config diff_id 1: invalid digest 'sha256:nothex'" },
	{ CONFIG_WITH("{\"type\":\"layers\",\"diff_ids\":[\"sha512:" HEX("00") HEX("11") "\"]}"),
	  -ENOTSUP, "image config diff_id 0: unsupported digest algorithm" },
	{ CONFIG_WITH("{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",42]}"), -EBADMSG,
	  "image config diff_id 1 is not a string" },
	{ CONFIG_WITH("{\"type\":\"snapshot\",\"diff_ids\":[]}"), -EBADMSG,
	  "image config rootfs type is 'snapshot', not 'layers'" },
	{ CONFIG_WITH("{\"diff_ids\":[]}"), -EBADMSG, "image config rootfs: missing \"type\"" },
	{ CONFIG_WITH("{\"type\":\"layers\"}"), -EBADMSG,
	  "image config has no \"rootfs.diff_ids\" array" },
	{ CONFIG_WITH("{\"type\":\"layers\",\"diff_ids\":\"" D1 "\"}"), -EBADMSG,
	  "image config has no \"rootfs.diff_ids\" array" },
	{ CONFIG_WITH("[]"), -EBADMSG, "image config has no \"rootfs\" object" },
	{ "{\"architecture\":\"amd64\",\"os\":\"linux\"}", -EBADMSG,
	  "image config has no \"rootfs\" object" },
	{ "{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", -EBADMSG,
	  "image config: missing \"architecture\"" },
	{ "{\"architecture\":\"amd64\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", -EBADMSG,
	  "image config: missing \"os\"" },
	{ "{\"architecture\":\"amd64\",\"os\":\"linux\",\"os\":\"windows\"}", -EBADMSG,
	  "image config: duplicate key \"os\"" },
	{ "{\"architecture\":", -EBADMSG, "image config is not valid JSON" },
};

static void test_bad_configs(void)
{
	for (size_t i = 0; i < sizeof(bad_configs) / sizeof(bad_configs[0]); i++) {
		const struct bad_doc *b = &bad_configs[i];
		struct berr e = { 0 };
		T_EXPECT_INT(store_config_parse(S(b->doc), &ic, &e), b->code);
		if (strcmp(e.msg, b->msg) && !strstr(e.msg, b->msg)) {
			printf("#   bad config %zu: message \"%s\", expected \"%s\"\n", i, e.msg,
			       b->msg);
			T_EXPECT(0);
		}
	}
	/* more diff_ids than layers a manifest may have */
	size_t cap = 128 + 100 * (MANIFEST_MAX_LAYERS + 1);
	char *s = malloc(cap);
	size_t len = (size_t)snprintf(s, cap,
				      "{\"architecture\":\"amd64\",\"os\":\"linux\","
				      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
	for (int i = 0; i <= MANIFEST_MAX_LAYERS; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s\"" D1 "\"", i ? "," : "");
	snprintf(s + len, cap - len, "]}}");
	struct berr e = { 0 };
	T_EXPECT_INT(store_config_parse(S(s), &ic, &e), -E2BIG);
	T_EXPECT_STR(e.msg, "image config has 129 diff_ids, more than the limit of 128");
	free(s);
}

int main(void)
{
	T_RUN(test_kind_from_content_type);
	T_RUN(test_kind_from_shape);
	T_RUN(test_oci_manifest);
	T_RUN(test_docker_manifest);
	T_RUN(test_bad_manifests);
	T_RUN(test_odd_but_valid_manifests);
	T_RUN(test_layer_limit);
	T_RUN(test_size_limit);
	T_RUN(test_index);
	T_RUN(test_bad_indexes);
	T_RUN(test_select);
	T_RUN(test_select_fallbacks);
	T_RUN(test_platform_parse);
	T_RUN(test_platform_host);
	T_RUN(test_config);
	T_RUN(test_bad_configs);
	return T_DONE();
}
