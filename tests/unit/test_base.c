/* Unit tests for base/: errors, string buffers, paths, files. */
#include "tests/unit/unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/strbuf.h"

/* ---- err --------------------------------------------------------------- */

static void test_err_fail(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	char buf[256];
	(void)state;

	assert_int_equal(ckt_err_fail(&err, CKT_EFORMAT, "parse '%s'", "x"), -CKT_EFORMAT);
	assert_int_equal(err.code, CKT_EFORMAT);
	assert_int_equal(err.errnum, 0);
	assert_string_equal(err.what, "parse 'x'");
	assert_string_equal(err.why, "");
	assert_string_equal(ckt_err_str(&err, buf, sizeof(buf)), "parse 'x'");

	assert_int_equal(ckt_err_failw(&err, CKT_EVERIFY, "bad", "check %d", 7), -CKT_EVERIFY);
	assert_string_equal(ckt_err_str(&err, buf, sizeof(buf)), "check 7 (bad)");
	assert_int_equal(ckt_err_failw(&err, CKT_EIO, NULL, "no why"), -CKT_EIO);
	assert_string_equal(err.why, "");

	ckt_err_clear(&err);
	assert_int_equal(err.code, CKT_EOK);
	assert_string_equal(err.what, "");
}

static void test_err_sys(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	(void)state;

	errno = ENOENT;
	assert_int_equal(ckt_err_sys(&err, CKT_ENOTFOUND, "open '%s'", "f"), -CKT_ENOTFOUND);
	assert_int_equal(err.errnum, ENOENT);
	assert_string_equal(err.what, "open 'f'");
	assert_string_equal(err.why, strerror(ENOENT));

	assert_int_equal(ckt_err_errno(&err, CKT_EIO, EACCES, "write"), -CKT_EIO);
	assert_int_equal(err.errnum, EACCES);
	assert_string_equal(err.why, strerror(EACCES));
}

static void test_err_wrap(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	char buf[CKT_ERR_WHAT_MAX];
	(void)state;

	ckt_err_failw(&err, CKT_ENET, "refused", "connect");
	assert_int_equal(ckt_err_wrap(&err, "fetch '%s'", "alpine"), -CKT_ENET);
	assert_int_equal(ckt_err_wrap(&err, "pull"), -CKT_ENET);
	assert_string_equal(err.what, "pull: fetch 'alpine': connect");
	assert_string_equal(err.why, "refused"); /* the root cause is kept */

	/* Wrapping an unfilled error still yields a failure code. */
	ckt_err_clear(&err);
	assert_int_equal(ckt_err_wrap(&err, "ctx"), -CKT_EINTERNAL);
	assert_string_equal(err.what, "ctx");

	/* An over-long chain is truncated, never overflowed. */
	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	ckt_err_fail(&err, CKT_EIO, "%s", buf);
	for (int i = 0; i < 4; i++)
		ckt_err_wrap(&err, "%s", buf + 100);
	assert_true(strlen(err.what) < sizeof(err.what));
}

static void test_err_exit_code(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	static const struct {
		enum ckt_errcode code;
		int exit;
	} cases[] = {
		{ CKT_EOK, 0 },	      { CKT_EUSAGE, 2 },    { CKT_EVERIFY, 3 },
		{ CKT_EIO, 1 },	      { CKT_ENET, 1 },	    { CKT_ENOTFOUND, 1 },
		{ CKT_EFORMAT, 1 },   { CKT_ENOMEM, 1 },    { CKT_EINTERNAL, 1 },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		err.code = cases[i].code;
		assert_int_equal(ckt_err_exit_code(&err), cases[i].exit);
	}
}

/* ---- strbuf ------------------------------------------------------------ */

static void test_strbuf(void **state)
{
	_cleanup_buf_ struct ckt_buf b = CKT_BUF_INIT;
	(void)state;

	assert_string_equal(ckt_buf_str(&b), "");
	ckt_buf_adds(&b, "ab");
	ckt_buf_addch(&b, 'c');
	ckt_buf_addf(&b, "-%d-%s", 42, "x");
	assert_string_equal(ckt_buf_str(&b), "abc-42-x");
	assert_int_equal(b.len, 8);

	ckt_buf_add(&b, "\0z", 2); /* binary data with a NUL */
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.buf + 8, "\0z", 2);
	assert_int_equal(b.buf[10], '\0');

	ckt_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(ckt_buf_str(&b), "");
	for (int i = 0; i < 100000; i++)
		ckt_buf_addch(&b, (char)('a' + i % 26));
	assert_int_equal(b.len, 100000);
	assert_int_equal(strlen(b.buf), 100000);

	size_t len = 1;
	_cleanup_free_ char *s = ckt_buf_detach(&b, &len);
	assert_int_equal(len, 100000);
	assert_null(b.buf);

	/* Detaching an empty buffer gives "", never NULL. */
	_cleanup_free_ char *e = ckt_buf_detach(&b, &len);
	assert_string_equal(e, "");
	assert_int_equal(len, 0);
}

/* ---- path -------------------------------------------------------------- */

static void test_path_clean(void **state)
{
	static const char *const cases[][2] = {
		{ "a/./b//c", "a/b/c" }, { "", "." },		  { "/abs/../..", "/" },
		{ "a/../../x", "../x" }, { "/", "/" },		  { "//", "/" },
		{ "a/b/", "a/b" },	 { "./a", "a" },	  { "a/..", "." },
		{ "../..", "../.." },	 { "/../etc", "/etc" },	  { "a/b/../c/.", "a/c" },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *c = ckt_path_clean(cases[i][0]);
		assert_string_equal(c, cases[i][1]);
	}
}

static void test_path_join_under(void **state)
{
	static const char *const ok[][2] = {
		{ "a/./b//c", "/r/a/b/c" }, { "", "/r" },	 { "/etc/passwd", "/r/etc/passwd" },
		{ "a/..", "/r" },	    { "///x", "/r/x" },	 { "a/b/../c", "/r/a/c" },
		{ ".", "/r" },		    { "..a", "/r/..a" }, { "a/../b/..", "/r" },
	};
	static const char *const refused[] = {
		"../x", "a/../../x", "/abs/../..", "..", "/..", "a/b/../../..", "./../x", "x/../../",
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		_cleanup_free_ char *out = NULL;
		assert_ok(ckt_path_join_under("/r", ok[i][0], &out, &err), err);
		assert_string_equal(out, ok[i][1]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		char *out = NULL;
		assert_err(ckt_path_join_under("/r", refused[i], &out, &err), err, CKT_EFORMAT);
		assert_null(out);
		assert_true(ckt_path_escapes(refused[i]));
	}
	assert_false(ckt_path_escapes("a/../b"));
}

static void test_path_join_base(void **state)
{
	static const char *const cases[][3] = {
		{ "/", "x", "/x" },	{ "a/", "/b", "a/b" }, { "a", "", "a" },
		{ "a//", "b", "a/b" },	{ "/", "", "/" },      { "a", "b/c", "a/b/c" },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *j = ckt_path_join(cases[i][0], cases[i][1]);
		assert_string_equal(j, cases[i][2]);
	}
	assert_string_equal(ckt_path_base("/a/b/c"), "c");
	assert_string_equal(ckt_path_base("c"), "c");
	assert_string_equal(ckt_path_base("a/"), "");
}

/* ---- files ------------------------------------------------------------- */

static size_t count_entries(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	assert_non_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	return n;
}

static void test_afile_commit(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *path = tpath(state, "out");
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct stat st;

	{
		_cleanup_afile_ struct ckt_afile af = CKT_AFILE_INIT;
		assert_ok(ckt_afile_open(&af, path, 0640, &err), err);
		assert_ok(ckt_write_all(af.fd, "hello", 5, &err), err);
		assert_int_equal(access(path, F_OK), -1); /* nothing visible before commit */
		assert_ok(ckt_afile_commit(&af, &err), err);
	}
	assert_ok(ckt_read_file(path, 100, &data, &len, &err), err);
	assert_string_equal(data, "hello");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(count_entries(((struct tdir *)*state)->path), 1);

	/* Overwrite atomically. */
	free(data);
	data = NULL;
	assert_ok(ckt_write_file_atomic(path, "bye", 3, 0644, &err), err);
	assert_ok(ckt_read_file(path, 100, &data, &len, &err), err);
	assert_string_equal(data, "bye");
	assert_int_equal(count_entries(((struct tdir *)*state)->path), 1);
	tdir_pass(state);
}

static void test_afile_release(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *path = tpath(state, "never");
	struct ckt_afile af = CKT_AFILE_INIT;

	assert_ok(ckt_afile_open(&af, path, 0644, &err), err);
	assert_ok(ckt_write_all(af.fd, "partial", 7, &err), err);
	assert_int_equal(count_entries(((struct tdir *)*state)->path), 1); /* the temporary */
	ckt_afile_release(&af);
	ckt_afile_release(&af); /* safe twice */
	assert_int_equal(count_entries(((struct tdir *)*state)->path), 0);

	/* Opening in a missing directory fails cleanly. */
	_cleanup_free_ char *bad = tpath(state, "no/such/file");
	_cleanup_afile_ struct ckt_afile af2 = CKT_AFILE_INIT;
	assert_err(ckt_afile_open(&af2, bad, 0644, &err), err, CKT_EIO);
	tdir_pass(state);
}

static void test_mkdir_p(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *deep = tpath(state, "a/b/c/");
	_cleanup_free_ char *file = tpath(state, "f");
	_cleanup_free_ char *under_file = tpath(state, "f/x");
	struct stat st;

	assert_ok(ckt_mkdir_p(deep, 0755, &err), err);
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_ok(ckt_mkdir_p(deep, 0755, &err), err); /* existing is fine */

	assert_ok(ckt_write_file_atomic(file, "", 0, 0644, &err), err);
	assert_err(ckt_mkdir_p(file, 0755, &err), err, CKT_EIO);
	assert_int_equal(err.errnum, ENOTDIR);
	assert_err(ckt_mkdir_p(under_file, 0755, &err), err, CKT_EIO);
	assert_err(ckt_mkdir_p("", 0755, &err), err, CKT_EIO);
	assert_ok(ckt_mkdir_p("/", 0755, &err), err);
	tdir_pass(state);
}

static void test_read_file_limits(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *path = tpath(state, "ten");
	_cleanup_free_ char *missing = tpath(state, "missing");
	char *data = NULL;
	size_t len = 0;

	assert_ok(ckt_write_file_atomic(path, "0123456789", 10, 0644, &err), err);
	assert_ok(ckt_read_file(path, 10, &data, &len, &err), err);
	assert_int_equal(len, 10);
	assert_string_equal(data, "0123456789");
	free(data);
	data = NULL;

	assert_err(ckt_read_file(path, 9, &data, &len, &err), err, CKT_EFORMAT);
	assert_null(data);
	assert_err(ckt_read_file(missing, 9, &data, &len, &err), err, CKT_ENOTFOUND);

	/* A pipe has no size up front: the limit applies while reading. */
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "0123456789", 10), 10);
	close(p[1]);
	assert_err(ckt_read_fd(p[0], 5, &data, &len, &err), err, CKT_EFORMAT);
	close(p[0]);

	/* An empty file reads as "". */
	assert_ok(ckt_write_file_atomic(path, "", 0, 0644, &err), err);
	assert_ok(ckt_read_file(path, 0, &data, &len, &err), err);
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
	free(data);
	tdir_pass(state);
}

static void test_rm_rf(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *tree = tpath(state, "tree");
	_cleanup_free_ char *deep = tpath(state, "tree/a/b/c");
	_cleanup_free_ char *f = tpath(state, "tree/a/b/c/file");
	_cleanup_free_ char *outside = tpath(state, "outside");
	_cleanup_free_ char *keep = tpath(state, "outside/keep");
	_cleanup_free_ char *link = tpath(state, "tree/a/link");

	assert_ok(ckt_mkdir_p(deep, 0755, &err), err);
	assert_ok(ckt_mkdir_p(outside, 0755, &err), err);
	assert_ok(ckt_write_file_atomic(f, "x", 1, 0644, &err), err);
	assert_ok(ckt_write_file_atomic(keep, "x", 1, 0644, &err), err);
	/* A symlink to a directory outside must be removed, not followed. */
	assert_int_equal(symlink(outside, link), 0);

	assert_ok(ckt_rm_rf(tree, &err), err);
	assert_int_equal(access(tree, F_OK), -1);
	assert_int_equal(access(keep, F_OK), 0);
	assert_ok(ckt_rm_rf(tree, &err), err); /* missing is fine */
	assert_ok(ckt_rm_rf(keep, &err), err); /* a plain file */
	assert_int_equal(access(keep, F_OK), -1);
	tdir_pass(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_fail),
		cmocka_unit_test(test_err_sys),
		cmocka_unit_test(test_err_wrap),
		cmocka_unit_test(test_err_exit_code),
		cmocka_unit_test(test_strbuf),
		cmocka_unit_test(test_path_clean),
		cmocka_unit_test(test_path_join_under),
		cmocka_unit_test(test_path_join_base),
		TDIR_TEST(test_afile_commit),
		TDIR_TEST(test_afile_release),
		TDIR_TEST(test_mkdir_p),
		TDIR_TEST(test_read_file_limits),
		TDIR_TEST(test_rm_rf),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
