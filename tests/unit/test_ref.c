/* Unit tests for libimg/ref: docker's normalisation (distribution/reference
 * normalize_test.go, reference_test.go) and hostile references. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "libimg/ref.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H128 H64 H64
#define D256 "sha256:" H64
#define D512 "sha512:" H128
#define A10 "aaaaaaaaaa"
#define A50 A10 A10 A10 A10 A10
#define A250 A50 A50 A50 A50 A50
#define T128 A50 A50 "aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
_Static_assert(sizeof(A250) == 251 && sizeof(T128) == 129, "fixture lengths");

static void check_str(const char *input, const char *field, const char *want, const char *got)
{
	if (!want && !got)
		return;
	if (!want || !got || strcmp(want, got))
		fail_msg("'%s': %s is '%s', want '%s'", input, field, got ? got : "(null)",
			 want ? want : "(null)");
}

static const struct {
	const char *in, *domain, *path, *tag, *digest, *string;
} good[] = {
	{ "alpine", "docker.io", "library/alpine", "latest", NULL, "docker.io/library/alpine:latest" },
	{ "library/alpine", "docker.io", "library/alpine", "latest", NULL,
	  "docker.io/library/alpine:latest" },
	{ "docker.io/alpine", "docker.io", "library/alpine", "latest", NULL,
	  "docker.io/library/alpine:latest" },
	{ "docker.io/library/alpine:latest", "docker.io", "library/alpine", "latest", NULL,
	  "docker.io/library/alpine:latest" },
	{ "index.docker.io/alpine", "docker.io", "library/alpine", "latest", NULL,
	  "docker.io/library/alpine:latest" },
	{ "index.docker.io/foo/bar", "docker.io", "foo/bar", "latest", NULL,
	  "docker.io/foo/bar:latest" },
	{ "ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", NULL,
	  "docker.io/library/ubuntu:22.04" },
	{ "foo/bar", "docker.io", "foo/bar", "latest", NULL, "docker.io/foo/bar:latest" },
	{ "a", "docker.io", "library/a", "latest", NULL, "docker.io/library/a:latest" },
	{ "localhost/foo", "localhost", "foo", "latest", NULL, "localhost/foo:latest" },
	{ "localhost:5000/foo/bar:1", "localhost:5000", "foo/bar", "1", NULL,
	  "localhost:5000/foo/bar:1" },
	/* No '/': a familiar name, so "localhost" is a repository and 5000 a tag. */
	{ "localhost", "docker.io", "library/localhost", "latest", NULL,
	  "docker.io/library/localhost:latest" },
	{ "localhost:5000", "docker.io", "library/localhost", "5000", NULL,
	  "docker.io/library/localhost:5000" },
	{ "127.0.0.1:5000/a/b@" D256, "127.0.0.1:5000", "a/b", NULL, D256,
	  "127.0.0.1:5000/a/b@" D256 },
	{ "quay.io/a/b:v1@" D256, "quay.io", "a/b", "v1", D256, "quay.io/a/b:v1@" D256 },
	{ "alpine@" D512, "docker.io", "library/alpine", NULL, D512,
	  "docker.io/library/alpine@" D512 },
	{ "quay.io/a/b.c_d__e-f---g", "quay.io", "a/b.c_d__e-f---g", "latest", NULL,
	  "quay.io/a/b.c_d__e-f---g:latest" },
	{ "[::1]:5000/x", "[::1]:5000", "x", "latest", NULL, "[::1]:5000/x:latest" },
	{ "[::1]/x", "[::1]", "x", "latest", NULL, "[::1]/x:latest" },
	{ "[2001:DB8::1]:5000/x:t", "[2001:DB8::1]:5000", "x", "t", NULL,
	  "[2001:DB8::1]:5000/x:t" },
	{ "Example.com/foo", "Example.com", "foo", "latest", NULL, "Example.com/foo:latest" },
	{ "Foo/bar", "Foo", "bar", "latest", NULL, "Foo/bar:latest" },
	{ "xn--80ak6aa92e.com/foo", "xn--80ak6aa92e.com", "foo", "latest", NULL,
	  "xn--80ak6aa92e.com/foo:latest" },
	{ "registry.example:5000/ns/repo:Tag_1.0-rc", "registry.example:5000", "ns/repo",
	  "Tag_1.0-rc", NULL, "registry.example:5000/ns/repo:Tag_1.0-rc" },
	{ "a-b/c__d/e.f/0", "docker.io", "a-b/c__d/e.f/0", "latest", NULL,
	  "docker.io/a-b/c__d/e.f/0:latest" },
	{ "alpine:" T128, "docker.io", "library/alpine", T128, NULL,
	  "docker.io/library/alpine:" T128 },
	{ "alpine:_", "docker.io", "library/alpine", "_", NULL, "docker.io/library/alpine:_" },
	/* 5 + 250 = 255 characters: the longest name allowed. */
	{ "r.io/" A250, "r.io", A250, "latest", NULL, "r.io/" A250 ":latest" },
	{ "docker.io/" H64, "docker.io", "library/" H64, "latest", NULL,
	  "docker.io/library/" H64 ":latest" },
};

static void test_parse_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		struct img_ref r = IMG_REF_INIT;
		const char *in = good[i].in;

		if (img_ref_parse(in, &r, &err) < 0)
			fail_msg("'%s': refused: %s (%s)", in, err.what, err.why);
		assert_int_equal(err.code, CKT_EOK);
		check_str(in, "domain", good[i].domain, r.domain);
		check_str(in, "path", good[i].path, r.path);
		check_str(in, "tag", good[i].tag, r.tag);
		check_str(in, "digest", good[i].digest, r.digest);

		_cleanup_free_ char *s = img_ref_string(&r);
		check_str(in, "string", good[i].string, s);
		_cleanup_free_ char *name = img_ref_name(&r);
		_cleanup_free_ char *want_name = xasprintf("%s/%s", good[i].domain, good[i].path);
		check_str(in, "name", want_name, name);

		/* The normalised string parses to itself. */
		struct img_ref again = IMG_REF_INIT;
		if (img_ref_parse(s, &again, &err) < 0)
			fail_msg("'%s': reparse refused: %s (%s)", s, err.what, err.why);
		_cleanup_free_ char *s2 = img_ref_string(&again);
		check_str(s, "reparsed string", s, s2);
		img_ref_release(&again);
		img_ref_release(&r);
	}
}

/* why: a substring the reason must hold, or NULL for any non-empty one. */
static const struct {
	const char *in, *why;
} bad[] = {
	{ "", "empty reference" },
	{ "Alpine", "must be lowercase" },
	{ "docker.io/Alpine", "must be lowercase" },
	{ "example.com/Foo/bar", "must be lowercase" },
	{ "alpine:", "empty tag" },
	{ ":tag", "empty repository name" },
	{ "a//b", "empty path component" },
	{ "a/", "empty path component" },
	{ "/a", "empty path component" },
	{ "localhost:5000/", "empty repository name" },
	{ "alpine/", "empty path component" },
	{ "alpine@sha256:short", NULL },
	{ "alpine@sha256:", NULL },
	{ "alpine@md5:0123456789abcdef0123456789abcdef", "sha256 and sha512" },
	{ "alpine@sha256:0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF", NULL },
	{ "alpine@" D256 "0", NULL },
	{ "alpine@" D256 "@" D256, NULL },
	{ "alpine@" H64, NULL },
	{ "alpine@", "empty digest" },
	{ "alpine:latest@", "empty digest" },
	{ "@" D256, "empty name" },
	{ "@", "empty name" },
	{ "alpine:" T128 "a", "invalid tag" },
	{ "alpine:-x", "invalid tag" },
	{ "alpine:.x", "invalid tag" },
	{ "alpine:x y", "invalid tag" },
	{ "a/b:x/y", "invalid tag" },
	{ "a:b:c", "invalid tag 'b:c'" },
	{ "r.io/" A250 "a", "name longer than 255 characters" },
	/* docker.io/library/ + 250 is over the limit after normalisation. */
	{ A250, "name longer than 255 characters" },
	{ "host:x5/y", "port is not a number" },
	{ "host:/y", "empty port" },
	{ "a:b/c", "invalid domain" },
	{ "alpine:1.0/foo", "invalid domain" },
	{ "-bad.com/foo", "invalid domain" },
	{ "bad-.com/foo", "invalid domain" },
	{ "a..com/foo", "invalid domain" },
	{ ".com/foo", "invalid domain" },
	{ "a.com./foo", "invalid domain" },
	{ "ex ample.com/foo", "invalid domain" },
	{ "ex_ample.com/foo", "invalid domain" },
	{ "[::1/x", "invalid domain" },
	{ "[]:5000/x", "invalid domain" },
	{ "[zz::1]:5000/x", "invalid domain" },
	{ "[::1]x/y", "invalid domain" },
	{ "[::1]:/y", "invalid domain" },
	{ "-a", "start with" },
	{ "a-", "end with" },
	{ "a.", "end with" },
	{ "_a", "start with" },
	{ "a..b", "invalid separator" },
	{ "a___b", "invalid separator" },
	{ "a._b", "invalid separator" },
	{ "a-.b", "invalid separator" },
	{ "a b", "invalid character" },
	{ " alpine", "invalid character" },
	{ "alpine ", "invalid character" },
	{ "alpine\n", "invalid character" },
	{ "alpine\t:latest", "invalid character" },
	{ "alp\xc3\xafne", "invalid character" },
	{ "foo/b\\ar", "invalid character" },
	{ "foo/../bar", "start with" },
	{ H64, "image ID" },
};

static void test_parse_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		struct img_ref r = IMG_REF_INIT;
		const char *in = bad[i].in;

		int rc = img_ref_parse(in, &r, &err);
		if (rc >= 0) {
			_cleanup_free_ char *s = img_ref_string(&r);
			fail_msg("'%s': accepted as '%s'", in, s);
		}
		if (err.code != CKT_EFORMAT || rc != -CKT_EFORMAT)
			fail_msg("'%s': code %d, rc %d, want CKT_EFORMAT", in, err.code, rc);
		if (strncmp(err.what, "invalid reference '", strlen("invalid reference '")))
			fail_msg("'%s': what is '%s'", in, err.what);
		if (!err.why[0] || (bad[i].why && !strstr(err.why, bad[i].why)))
			fail_msg("'%s': why is '%s', want '%s'", in, err.why,
				 bad[i].why ? bad[i].why : "(non-empty)");
		/* out is untouched on failure. */
		assert_null(r.domain);
		assert_null(r.path);
		assert_null(r.tag);
		assert_null(r.digest);
	}
}

static void test_digest_error_context(void **state)
{
	(void)state;
	struct ckt_err err = CKT_ERR_INIT;
	struct img_ref r = IMG_REF_INIT;

	assert_int_equal(img_ref_parse("alpine@sha256:short", &r, &err), -CKT_EFORMAT);
	assert_string_equal(err.what,
			    "invalid reference 'alpine@sha256:short': invalid digest 'sha256:short'");
	assert_string_equal(err.why, "expected lower-case hex of the right length");
}

static void test_tag_valid(void **state)
{
	(void)state;
	static const char *ok[] = { "latest", "1", "_", "A", "v1.2.3-rc.1_x", "3.19", T128 };
	static const char *no[] = { "", "-", ".", "-a", ".a", "a b", "a:b", "a/b", "a@b",
				    "\xc3\xa9", T128 "a" };
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		if (!img_ref_tag_valid(ok[i]))
			fail_msg("tag '%s' refused", ok[i]);
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (img_ref_tag_valid(no[i]))
			fail_msg("tag '%s' accepted", no[i]);
	assert_false(img_ref_tag_valid(NULL));
}

static void test_path_valid(void **state)
{
	(void)state;
	static const char *ok[] = { "a", "library/alpine", "a/b/c", "a.b", "a_b", "a__b",
				    "a-b", "a---b", "0", "a0/1b", "a.b_c__d-e" };
	static const char *no[] = { "", "A", "a/B", "/a", "a/", "a//b", ".a", "a.", "a..b",
				    "a___b", "a_.b", "-a", "a-", "a b", "a:b", "a@b", "a\\b" };
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		if (!img_ref_path_valid(ok[i]))
			fail_msg("path '%s' refused", ok[i]);
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (img_ref_path_valid(no[i]))
			fail_msg("path '%s' accepted", no[i]);
	assert_false(img_ref_path_valid(NULL));
}

static void test_copy_pinned_release(void **state)
{
	(void)state;
	struct ckt_err err = CKT_ERR_INIT;
	struct img_ref r = IMG_REF_INIT, c = IMG_REF_INIT;

	assert_int_equal(img_ref_parse("quay.io/a/b:v1", &r, &err), 0);
	img_ref_copy(&c, &r);
	assert_ptr_not_equal(c.path, r.path);
	assert_string_equal(c.domain, "quay.io");
	assert_string_equal(c.path, "a/b");
	assert_string_equal(c.tag, "v1");
	assert_null(c.digest);

	_cleanup_free_ char *pinned = img_ref_pinned(&r, D256);
	assert_string_equal(pinned, "quay.io/a/b@" D256);
	img_ref_release(&r);
	assert_null(r.domain);
	assert_null(r.tag);
	img_ref_release(&r); /* twice is harmless */
	img_ref_release(NULL);

	assert_int_equal(img_ref_parse("alpine:3@" D512, &r, &err), 0);
	_cleanup_free_ char *own = img_ref_pinned(&r, NULL);
	assert_string_equal(own, "docker.io/library/alpine@" D512);
	img_ref_release(&r);
	img_ref_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_digest_error_context),
		cmocka_unit_test(test_tag_valid),
		cmocka_unit_test(test_path_valid),
		cmocka_unit_test(test_copy_pinned_release),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
