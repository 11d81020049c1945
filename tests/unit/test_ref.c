/* Unit tests for net/ref.c: Docker image reference grammar, normalisation
 * to docker.io and formatting. */
#include <errno.h>

#include "net/ref.h"
#include "tap.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIG "sha256:" HEX64

struct good {
	const char *in, *host, *path, *tag, *digest, *full, *familiar;
};

static const struct good goods[] = {
	{ "busybox", "docker.io", "library/busybox", "latest", "",
	  "docker.io/library/busybox:latest", "busybox:latest" },
	{ "busybox:1.36", "docker.io", "library/busybox", "1.36", "",
	  "docker.io/library/busybox:1.36", "busybox:1.36" },
	{ "library/busybox", "docker.io", "library/busybox", "latest", "",
	  "docker.io/library/busybox:latest", "busybox:latest" },
	{ "docker.io/busybox", "docker.io", "library/busybox", "latest", "",
	  "docker.io/library/busybox:latest", "busybox:latest" },
	{ "index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", "",
	  "docker.io/library/busybox:latest", "busybox:latest" },
	{ "registry-1.docker.io/busybox:musl", "docker.io", "library/busybox", "musl", "",
	  "docker.io/library/busybox:musl", "busybox:musl" },
	{ "user/app:1", "docker.io", "user/app", "1", "", "docker.io/user/app:1", "user/app:1" },
	{ "library/a/b", "docker.io", "library/a/b", "latest", "", "docker.io/library/a/b:latest",
	  "library/a/b:latest" },
	{ "localhost:5000/a/b:c", "localhost:5000", "a/b", "c", "", "localhost:5000/a/b:c",
	  "localhost:5000/a/b:c" },
	{ "localhost/x", "localhost", "x", "latest", "", "localhost/x:latest",
	  "localhost/x:latest" },
	{ "LOCALHOST:5000/x", "LOCALHOST:5000", "x", "latest", "", "LOCALHOST:5000/x:latest",
	  "LOCALHOST:5000/x:latest" },
	{ "[::1]:5000/x", "[::1]:5000", "x", "latest", "", "[::1]:5000/x:latest",
	  "[::1]:5000/x:latest" },
	{ "[fe80::1]/x:v1", "[fe80::1]", "x", "v1", "", "[fe80::1]/x:v1", "[fe80::1]/x:v1" },
	{ "Host.Example.COM/x", "Host.Example.COM", "x", "latest", "", "Host.Example.COM/x:latest",
	  "Host.Example.COM/x:latest" },
	{ "10.0.0.1:443/team/app", "10.0.0.1:443", "team/app", "latest", "",
	  "10.0.0.1:443/team/app:latest", "10.0.0.1:443/team/app:latest" },
	{ "x@" DIG, "docker.io", "library/x", "", DIG, "docker.io/library/x@" DIG, "x@" DIG },
	{ "x:tag@" DIG, "docker.io", "library/x", "tag", DIG, "docker.io/library/x:tag@" DIG,
	  "x:tag@" DIG },
	{ "ab_c__d---e/f-g.h", "docker.io", "ab_c__d---e/f-g.h", "latest", "",
	  "docker.io/ab_c__d---e/f-g.h:latest", "ab_c__d---e/f-g.h:latest" },
	{ "docker.io/foo.bar/x", "docker.io", "foo.bar/x", "latest", "",
	  "docker.io/foo.bar/x:latest", "docker.io/foo.bar/x:latest" },
	{ "ghcr.io/o/r:_T.a-g", "ghcr.io", "o/r", "_T.a-g", "", "ghcr.io/o/r:_T.a-g",
	  "ghcr.io/o/r:_T.a-g" },
	{ "example.com", "docker.io", "library/example.com", "latest", "",
	  "docker.io/library/example.com:latest", "example.com:latest" },
	/* a host-like first component on Docker Hub keeps its host when shortened */
	{ "docker.io/localhost/x", "docker.io", "localhost/x", "latest", "",
	  "docker.io/localhost/x:latest", "docker.io/localhost/x:latest" },
	{ "localhost:5000", "docker.io", "library/localhost", "5000", "",
	  "docker.io/library/localhost:5000", "localhost:5000" },
};

static void test_good_references(void)
{
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct net_ref r;
		struct berr e = { 0 };
		char buf[REF_STR_MAX];
		int rc = net_ref_parse(g->in, &r, &e);
		if (rc)
			printf("#   %s: %s\n", g->in, e.msg);
		T_EXPECT_INT(rc, 0);
		T_EXPECT_STR(r.host, g->host);
		T_EXPECT_STR(r.path, g->path);
		T_EXPECT_STR(r.tag, g->tag);
		T_EXPECT_STR(r.digest, g->digest);
		T_EXPECT_INT(net_ref_format(&r, false, buf, sizeof(buf)), 0);
		T_EXPECT_STR(buf, g->full);
		T_EXPECT_INT(net_ref_format(&r, true, buf, sizeof(buf)), 0);
		T_EXPECT_STR(buf, g->familiar);
		/* both forms parse back to the same reference */
		struct net_ref again;
		T_EXPECT_INT(net_ref_parse(buf, &again, &e), 0);
		T_EXPECT(!memcmp(&again, &r, sizeof(r)));
		T_EXPECT_INT(net_ref_format(&r, false, buf, sizeof(buf)), 0);
		T_EXPECT_INT(net_ref_parse(buf, &again, &e), 0);
		T_EXPECT(!memcmp(&again, &r, sizeof(r)));
	}
}

struct bad {
	const char *in, *why;
};

static const struct bad bads[] = {
	{ "", "empty" },
	{ "Busybox", "repository name must be lowercase" },
	{ "user/App:1", "repository name must be lowercase" },
	{ "LOCALHOST/x", "repository name must be lowercase" },
	{ "Foo/bar", "repository name must be lowercase" },
	{ "ghcr.io/Org/app", "repository name must be lowercase" },
	{ "a//b", "invalid repository name" },
	{ "a/", "invalid repository name" },
	{ "/a", "invalid repository name" },
	{ "a/-b", "invalid repository name" },
	{ "a-/b", "invalid repository name" },
	{ "a___b", "invalid repository name" },
	{ "a._b", "invalid repository name" },
	{ "a..b", "invalid repository name" },
	{ "a b", "invalid repository name" },
	{ "localhost:5000/", "invalid repository name" },
	{ ":tag", "empty repository name" },
	{ "@" DIG, "empty repository name" },
	{ "a:", "invalid tag" },
	{ "a:-x", "invalid tag" },
	{ "a:.x", "invalid tag" },
	{ "a:t/ag", "invalid registry host" }, /* a ":" before a "/" is a port */
	{ "a:t%g", "invalid tag" },
	{ "a:t ag", "invalid tag" },
	{ "a:b:c", "invalid repository name" },
	{ "a.b_c/x", "invalid registry host" },
	{ "a@", "invalid digest" },
	{ "a@sha256", "invalid digest" },
	{ "a@sha256:", "invalid digest" },
	{ "a@sha256:" HEX64 "0", "invalid digest" },
	{ "a@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	  "invalid digest" },
	{ "a@sha256:xyz", "invalid digest" },
	{ "a@" DIG "@" DIG, "invalid digest" },
	{ "a@sha512:" HEX64 HEX64, "unsupported digest algorithm" },
	{ "a@sha384:abc", "unsupported digest algorithm" },
	{ "a@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm" },
	{ "-bad.host/x", "invalid registry host" },
	{ "bad-.host/x", "invalid registry host" },
	{ "a..b.com/x", "invalid registry host" },
	{ "host.com:/x", "invalid registry host" },
	{ "host.com:0/x", "invalid registry host" },
	{ "host.com:65536/x", "invalid registry host" },
	{ "host.com:5x/x", "invalid registry host" },
	{ "[::1/x", "invalid registry host" },
	{ "[]:5000/x", "invalid registry host" },
	{ "[::g]/x", "invalid registry host" },
	{ "ho_st.com/x", "invalid registry host" },
};

static void test_bad_references(void)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct net_ref r;
		struct berr e = { 0 };
		char want[BERR_MSG_MAX];
		T_EXPECT_INT(net_ref_parse(bads[i].in, &r, &e), -EINVAL);
		T_EXPECT_INT(e.code, EINVAL);
		if (strlen(bads[i].in) <= 96) {
			snprintf(want, sizeof(want), "invalid reference '%s': %s", bads[i].in,
				 bads[i].why);
			T_EXPECT_STR(e.msg, want);
		} else {
			/* long input is shortened in the message, the reason is not */
			snprintf(want, sizeof(want), "...': %s", bads[i].why);
			T_EXPECT(strlen(e.msg) > strlen(want) &&
				 !strcmp(e.msg + strlen(e.msg) - strlen(want), want));
		}
	}
}

static void test_tag_length(void)
{
	char s[4 + 130], want[4 + 130];
	struct net_ref r;
	struct berr e = { 0 };
	memset(want, 'x', 128);
	want[128] = '\0';
	snprintf(s, sizeof(s), "a:%s", want);
	T_EXPECT_INT(net_ref_parse(s, &r, &e), 0);
	T_EXPECT_STR(r.tag, want);
	strcat(s, "x");
	T_EXPECT_INT(net_ref_parse(s, &r, &e), -EINVAL);
	T_EXPECT(strstr(e.msg, ": invalid tag") != NULL);
}

static void test_name_length(void)
{
	/* 255 characters counts docker.io/ and library/ when they are implied */
	char s[600], want[300];
	struct net_ref r;
	struct berr e = { 0 };
	size_t n = 255 - strlen("docker.io/library/");
	memset(s, 'a', n);
	s[n] = '\0';
	T_EXPECT_INT(net_ref_parse(s, &r, &e), 0);
	snprintf(want, sizeof(want), "library/%s", s);
	T_EXPECT_STR(r.path, want);
	strcat(s, "a");
	T_EXPECT_INT(net_ref_parse(s, &r, &e), -EINVAL);
	T_EXPECT(strstr(e.msg, ": name too long") != NULL);

	/* registry host counts too */
	memcpy(s, "registry.example.com/", 21);
	n = 255 - 21;
	memset(s + 21, 'b', n);
	s[21 + n] = '\0';
	T_EXPECT_INT(net_ref_parse(s, &r, &e), 0);
	strcat(s, "b:tag");
	T_EXPECT_INT(net_ref_parse(s, &r, &e), -EINVAL);
	T_EXPECT(strstr(e.msg, ": name too long") != NULL);

	/* a host longer than any name */
	memset(s, 'h', 300);
	memcpy(s + 300, ".com/x", 7);
	T_EXPECT_INT(net_ref_parse(s, &r, &e), -EINVAL);
	T_EXPECT(strstr(e.msg, ": name too long") != NULL);
	/* the quoted input is shortened so the reason still fits */
	T_EXPECT(strstr(e.msg, "...'") != NULL);
}

static void test_message_is_printable(void)
{
	struct net_ref r;
	struct berr e = { 0 };
	T_EXPECT_INT(net_ref_parse("a\x1b[2jb", &r, &e), -EINVAL);
	T_EXPECT_STR(e.msg, "invalid reference 'a?[2jb': invalid repository name");
}

static void test_api_host(void)
{
	struct net_ref r;
	T_EXPECT_INT(net_ref_parse("busybox", &r, NULL), 0);
	T_EXPECT_STR(net_ref_api_host(&r), "registry-1.docker.io");
	T_EXPECT_INT(net_ref_parse("Docker.IO/x/y", &r, NULL), 0);
	T_EXPECT_STR(r.host, "docker.io");
	T_EXPECT_STR(net_ref_api_host(&r), "registry-1.docker.io");
	T_EXPECT_INT(net_ref_parse("localhost:5000/x", &r, NULL), 0);
	T_EXPECT_STR(net_ref_api_host(&r), "localhost:5000");
	/* a look-alike is not Docker Hub */
	T_EXPECT_INT(net_ref_parse("docker.io.evil.com/x", &r, NULL), 0);
	T_EXPECT_STR(net_ref_api_host(&r), "docker.io.evil.com");
}

static void test_repo_and_short_buffers(void)
{
	struct net_ref r;
	char buf[REF_STR_MAX];
	T_EXPECT_INT(net_ref_parse("busybox:1@" DIG, &r, NULL), 0);
	T_EXPECT_INT(net_ref_repo(&r, false, buf, sizeof(buf)), 0);
	T_EXPECT_STR(buf, "docker.io/library/busybox");
	T_EXPECT_INT(net_ref_repo(&r, true, buf, sizeof(buf)), 0);
	T_EXPECT_STR(buf, "busybox");
	T_EXPECT_INT(net_ref_parse("quay.io/org/app", &r, NULL), 0);
	T_EXPECT_INT(net_ref_repo(&r, true, buf, sizeof(buf)), 0);
	T_EXPECT_STR(buf, "quay.io/org/app");

	/* "busybox:latest" needs 15 bytes */
	T_EXPECT_INT(net_ref_parse("busybox", &r, NULL), 0);
	T_EXPECT_INT(net_ref_format(&r, true, buf, 15), 0);
	T_EXPECT_STR(buf, "busybox:latest");
	T_EXPECT_INT(net_ref_format(&r, true, buf, 14), -ENAMETOOLONG);
	T_EXPECT_INT(net_ref_format(&r, true, buf, 7), -ENAMETOOLONG);
	T_EXPECT_INT(net_ref_repo(&r, true, buf, 8), 0);
	T_EXPECT_INT(net_ref_repo(&r, true, buf, 7), -ENAMETOOLONG);
	T_EXPECT_INT(net_ref_format(&r, false, buf, 0), -ENAMETOOLONG);
}

int main(void)
{
	T_RUN(test_good_references);
	T_RUN(test_bad_references);
	T_RUN(test_tag_length);
	T_RUN(test_name_length);
	T_RUN(test_message_is_printable);
	T_RUN(test_api_host);
	T_RUN(test_repo_and_short_buffers);
	return T_DONE();
}
