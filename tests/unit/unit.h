#pragma once
/* Shared helpers for the cmocka unit tests: error assertions that print the
 * error on failure, and a per-test temporary directory that is removed
 * when the test passes and kept (its path printed) when it fails, as
 * libarchive's tests do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/file.h"
#include "base/xalloc.h"

#define assert_ok(r, err)                                                                          \
	do {                                                                                       \
		long long r_ = (long long)(r);                                                     \
		if (r_ < 0) {                                                                      \
			char b_[2048];                                                             \
			print_error("unexpected failure %lld: %s\n", r_,                           \
				    ckt_err_str(&(err), b_, sizeof(b_)));                          \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

#define assert_err(r, err, want)                                                                   \
	do {                                                                                       \
		long long r_ = (long long)(r);                                                     \
		if (r_ >= 0 || (err).code != (want)) {                                             \
			char b_[2048];                                                             \
			print_error("expected code %d, got r=%lld code=%d: %s\n", (int)(want), r_, \
				    (int)(err).code, ckt_err_str(&(err), b_, sizeof(b_)));         \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		if (!h_ || !strstr(h_, n_)) {                                                      \
			print_error("'%s' does not contain '%s'\n", h_ ? h_ : "(null)", n_);       \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

struct tdir {
	char path[64];
	int passed;
};

/* cmocka setup: a fresh directory under /tmp in *state. */
static inline int tdir_setup(void **state)
{
	struct tdir *t = xcalloc(1, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "/tmp/ckt-unit-XXXXXX");
	if (!mkdtemp(t->path)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

/* Mark the test passed; call as the last statement of a test. */
static inline void tdir_pass(void **state)
{
	((struct tdir *)*state)->passed = 1;
}

static inline int tdir_teardown(void **state)
{
	struct tdir *t = *state;
	struct ckt_err err = CKT_ERR_INIT;
	if (t->passed)
		ckt_rm_rf(t->path, &err);
	else
		fprintf(stderr, "# kept '%s' for inspection\n", t->path);
	free(t);
	return 0;
}

/* Newly allocated path under the test directory. */
static inline char *tpath(void **state, const char *name)
{
	return xasprintf("%s/%s", ((struct tdir *)*state)->path, name);
}

#define TDIR_TEST(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)
