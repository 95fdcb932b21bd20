/* Unit tests for libimg/platform: parsing, alias normalisation, matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "libimg/platform.h"

static void parse_ok(const char *s, struct img_platform *p)
{
	struct ckt_err err = CKT_ERR_INIT;
	if (img_platform_parse(s, p, &err) < 0)
		fail_msg("'%s': refused: %s (%s)", s, err.what, err.why);
}

static const struct {
	const char *in, *os, *arch, *variant;
} good[] = {
	{ "linux/amd64", "linux", "amd64", NULL },
	{ "linux/arm64/v8", "linux", "arm64", "v8" },
	{ "linux/arm/v7", "linux", "arm", "v7" },
	{ "windows/amd64", "windows", "amd64", NULL },
	/* Kept as written; normalisation is separate. */
	{ "Linux/x86_64", "Linux", "x86_64", NULL },
	{ "linux/ppc64le", "linux", "ppc64le", NULL },
	{ "freebsd/riscv64", "freebsd", "riscv64", NULL },
};

static void test_parse_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct img_platform p = IMG_PLATFORM_INIT;
		parse_ok(good[i].in, &p);
		assert_string_equal(p.os, good[i].os);
		assert_string_equal(p.arch, good[i].arch);
		if (good[i].variant)
			assert_string_equal(p.variant, good[i].variant);
		else
			assert_null(p.variant);
		_cleanup_free_ char *s = img_platform_string(&p);
		assert_string_equal(s, good[i].in);
		img_platform_release(&p);
	}
}

static const char *bad[] = {
	"",		 "linux",	  "linux/",	"/amd64",	  "/",
	"//",		 "linux//v7",	  "linux/arm/", "linux/arm/v7/x", "linux/arm/v7/",
	"linux/amd 64",	 "linux/amd64\n", " linux/amd64", "linux/amd64:1", "linux\\amd64",
	"linux/\xc3\xa9", "a/b/c/d/e",
};

static void test_parse_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		struct img_platform p = IMG_PLATFORM_INIT;
		int rc = img_platform_parse(bad[i], &p, &err);
		if (rc >= 0)
			fail_msg("'%s': accepted", bad[i]);
		if (rc != -CKT_EUSAGE || err.code != CKT_EUSAGE)
			fail_msg("'%s': code %d, rc %d, want CKT_EUSAGE", bad[i], err.code, rc);
		if (!strstr(err.what, "invalid platform '") || !err.why[0])
			fail_msg("'%s': message '%s' (%s)", bad[i], err.what, err.why);
		assert_null(p.os);
		assert_null(p.arch);
		assert_null(p.variant);
	}
}

static const struct {
	const char *in, *want;
} norm[] = {
	{ "linux/amd64", "linux/amd64" },
	{ "Linux/X86_64", "linux/amd64" },
	{ "linux/x86-64", "linux/amd64" },
	{ "linux/aarch64", "linux/arm64" },
	{ "linux/aarch64/8", "linux/arm64/v8" },
	{ "linux/arm64/v8.0", "linux/arm64/v8" },
	{ "linux/armhf", "linux/arm/v7" },
	{ "linux/armel", "linux/arm/v6" },
	{ "linux/armhf/v6", "linux/arm/v6" },
	{ "linux/arm/7", "linux/arm/v7" },
	{ "linux/arm/V7", "linux/arm/v7" },
	{ "linux/i386", "linux/386" },
	{ "linux/i686", "linux/386" },
	{ "linux/ppc64el", "linux/ppc64le" },
	{ "linux/s390x", "linux/s390x" },
};

static void test_normalize(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(norm); i++) {
		struct img_platform p = IMG_PLATFORM_INIT;
		parse_ok(norm[i].in, &p);
		img_platform_normalize(&p);
		_cleanup_free_ char *s = img_platform_string(&p);
		if (strcmp(s, norm[i].want))
			fail_msg("'%s' normalised to '%s', want '%s'", norm[i].in, s, norm[i].want);
		img_platform_normalize(&p); /* idempotent */
		_cleanup_free_ char *s2 = img_platform_string(&p);
		assert_string_equal(s2, s);
		img_platform_release(&p);
	}
}

static const struct {
	const char *want, *have;
	bool match;
} matches[] = {
	{ "linux/amd64", "linux/amd64", true },
	{ "linux/x86_64", "linux/amd64", true },
	{ "linux/amd64", "linux/x86-64", true },
	{ "Linux/AMD64", "linux/amd64", true },
	{ "linux/amd64", "linux/arm64", false },
	{ "linux/amd64", "windows/amd64", false },
	{ "linux/386", "linux/amd64", false },
	{ "linux/i386", "linux/386", true },
	{ "linux/i686", "linux/386", true },
	{ "linux/aarch64", "linux/arm64/v8", true },
	{ "linux/arm64", "linux/arm64/v8", true },
	{ "linux/arm64/v8", "linux/arm64", true },
	{ "linux/arm64/v8", "linux/aarch64", true },
	{ "linux/arm64/v8", "linux/arm64/v9", false },
	{ "linux/arm64", "linux/arm64/v9", true },
	{ "linux/arm", "linux/arm/v6", true },
	{ "linux/arm", "linux/arm/v7", true },
	{ "linux/arm/v7", "linux/arm", true },
	{ "linux/arm/v6", "linux/arm", false },
	{ "linux/arm/v7", "linux/arm/v6", false },
	{ "linux/arm/v7", "linux/arm/7", true },
	{ "linux/armhf", "linux/arm/v7", true },
	{ "linux/armhf", "linux/arm/v6", false },
	{ "linux/armel", "linux/arm/v6", true },
	{ "linux/armel", "linux/armhf", false },
	{ "linux/arm", "linux/arm64", false },
	{ "linux/amd64/v2", "linux/amd64", false },
	{ "linux/amd64", "linux/amd64/v3", true },
	{ "linux/ppc64el", "linux/ppc64le", true },
	{ "linux/s390x", "linux/ppc64le", false },
};

static void test_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(matches); i++) {
		struct img_platform w = IMG_PLATFORM_INIT, h = IMG_PLATFORM_INIT;
		parse_ok(matches[i].want, &w);
		parse_ok(matches[i].have, &h);
		bool got = img_platform_match(&w, &h);
		if (got != matches[i].match)
			fail_msg("want '%s', have '%s': match %d, expected %d", matches[i].want,
				 matches[i].have, got, matches[i].match);
		/* match leaves its arguments alone */
		_cleanup_free_ char *ws = img_platform_string(&w);
		assert_string_equal(ws, matches[i].want);
		img_platform_release(&w);
		img_platform_release(&h);
	}
}

static void test_host(void **state)
{
	(void)state;
	struct img_platform h = IMG_PLATFORM_INIT, c = IMG_PLATFORM_INIT;

	img_platform_host(&h);
	assert_non_null(h.os);
	assert_non_null(h.arch);
	assert_true(h.os[0] && h.arch[0]);
	assert_true(img_platform_match(&h, &h));
#if defined(__linux__) && defined(__x86_64__)
	assert_string_equal(h.os, "linux");
	assert_string_equal(h.arch, "amd64");
	assert_null(h.variant);
#elif defined(__linux__) && defined(__aarch64__)
	assert_string_equal(h.arch, "arm64");
	assert_string_equal(h.variant, "v8");
#endif

	/* The string parses back to the same platform. */
	_cleanup_free_ char *s = img_platform_string(&h);
	parse_ok(s, &c);
	_cleanup_free_ char *s2 = img_platform_string(&c);
	assert_string_equal(s, s2);
	assert_true(img_platform_match(&c, &h));

	img_platform_release(&c);
	img_platform_copy(&c, &h);
	assert_ptr_not_equal(c.os, h.os);
	assert_string_equal(c.arch, h.arch);
	img_platform_release(&c);
	img_platform_release(&h);
	assert_null(h.os);
	img_platform_release(&h);
	img_platform_release(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good), cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_normalize),  cmocka_unit_test(test_match),
		cmocka_unit_test(test_host),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
