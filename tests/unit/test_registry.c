/* Unit tests for libimg/registry (WWW-Authenticate, Retry-After), libimg/auth
 * (credential files and helpers' absence, certs.d, login/logout) and the
 * store's resumable partials the registry client writes through. */
#include "tests/unit/unit.h"

#include <sys/stat.h>

#include "base/cleanup.h"
#include "libimg/auth.h"
#include "libimg/registry.h"
#include "store/store.h"

static void test_challenges_good(void **state)
{
	(void)state;
	struct ckt_err err = CKT_ERR_INIT;
	struct img_auth_challenge *c;
	size_t n;

	assert_ok(img_auth_challenges_parse(
			  "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
			  "scope=\"repository:samalba/my-app:pull,push\"",
			  &c, &n, &err),
		  err);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].scheme, "Bearer");
	assert_string_equal(c[0].realm, "https://auth.docker.io/token");
	assert_string_equal(c[0].service, "registry.docker.io");
	assert_string_equal(c[0].scope, "repository:samalba/my-app:pull,push");
	assert_null(c[0].error);
	img_auth_challenges_free(c, n);

	/* several challenges, case-insensitive keys, escapes, token values, spaces */
	assert_ok(img_auth_challenges_parse(
			  "Basic realm=\"a \\\"quoted\\\" realm\" , BEARER Realm=http://t/x , "
			  "Service = svc,error=\"insufficient_scope\", Negotiate",
			  &c, &n, &err),
		  err);
	assert_int_equal(n, 3);
	assert_string_equal(c[0].scheme, "Basic");
	assert_string_equal(c[0].realm, "a \"quoted\" realm");
	assert_string_equal(c[1].scheme, "BEARER");
	assert_string_equal(c[1].realm, "http://t/x");
	assert_string_equal(c[1].service, "svc");
	assert_string_equal(c[1].error, "insufficient_scope");
	assert_string_equal(c[2].scheme, "Negotiate");
	assert_null(c[2].realm);
	img_auth_challenges_free(c, n);
}

static void test_challenges_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"   ",
		"realm=\"x\"",			/* a parameter before any scheme */
		"Bearer realm=\"unterminated",
		"Bearer realm=\"x\" junk\"",
		"Bearer =x",
		"\"Bearer\"",
		"Bearer realm=\"x\"; service=y",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		struct img_auth_challenge *c = NULL;
		size_t n = 0;
		int r = img_auth_challenges_parse(bad[i], &c, &n, &err);
		if (r >= 0)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(err.code, CKT_EFORMAT);
	}
}

static void test_retry_after(void **state)
{
	(void)state;
	assert_int_equal(img_registry_retry_after("3", 0), 3);
	assert_int_equal(img_registry_retry_after(" 0 ", 0), 0);
	assert_int_equal(img_registry_retry_after(NULL, 0), -1);
	assert_int_equal(img_registry_retry_after("-1", 0), -1);
	assert_int_equal(img_registry_retry_after("3x", 0), -1);
	assert_int_equal(img_registry_retry_after("soon", 0), -1);
	/* 1994-11-06T08:49:37Z = 784111777 (RFC 9110's example) */
	assert_int_equal(img_registry_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111770), 7);
	assert_int_equal(img_registry_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111800), 0);
}

static void write_file(void **state, const char *name, const char *text)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *p = tpath(state, name);
	assert_ok(ckt_write_file_atomic(p, text, strlen(text), 0600, &err), err);
}

static void test_creds_files(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	struct img_creds c;
	_cleanup_free_ char *dir = tpath(state, "");
	_cleanup_free_ char *auth = tpath(state, "auth.json");

	setenv("HOME", dir, 1);
	setenv("DOCKER_CONFIG", dir, 1);
	setenv("REGISTRY_AUTH_FILE", auth, 1);
	unsetenv("XDG_RUNTIME_DIR");

	assert_int_equal(img_creds_lookup("r.example", NULL, &c, &err), 0);

	/* "dXNlcjpwYTpzcw==" is user:pa:ss — the password may hold ':' */
	write_file(state, "config.json",
		   "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwYTpzcw==\"},"
		   "\"http://r.example/v2/\":{\"username\":\"u2\",\"password\":\"p2\"}}}");
	assert_int_equal(img_creds_lookup("docker.io", NULL, &c, &err), 1);
	assert_string_equal(c.user, "user");
	assert_string_equal(c.pass, "pa:ss");
	img_creds_release(&c);
	assert_int_equal(img_creds_lookup("r.example", NULL, &c, &err), 1);
	assert_string_equal(c.user, "u2");
	img_creds_release(&c);
	assert_int_equal(img_creds_lookup("r.example:5000", NULL, &c, &err), 0);

	/* auth.json comes first; --creds before everything */
	assert_ok(img_auth_login(NULL, "r.example", "a", "b", &err), err);
	struct stat st;
	assert_int_equal(stat(auth, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(img_creds_lookup("r.example", NULL, &c, &err), 1);
	assert_string_equal(c.user, "a");
	assert_string_equal(c.pass, "b");
	img_creds_release(&c);
	assert_int_equal(img_creds_lookup("r.example", "x:y", &c, &err), 1);
	assert_string_equal(c.user, "x");
	assert_string_equal(c.from, "--creds");
	img_creds_release(&c);
	assert_int_equal(img_auth_logout(NULL, "r.example", &err), 1);
	assert_int_equal(img_auth_logout(NULL, "r.example", &err), 0);
	assert_int_equal(img_creds_lookup("r.example", NULL, &c, &err), 1);
	assert_string_equal(c.user, "u2");
	img_creds_release(&c);

	/* hostile files */
	write_file(state, "auth.json", "{\"auths\":{\"r.example\":{\"auth\":\"bm9jb2xvbg==\"}}}");
	assert_err(img_creds_lookup("r.example", NULL, &c, &err), err, CKT_EFORMAT);
	ckt_err_clear(&err);
	write_file(state, "auth.json", "{\"auths\":{\"r.example\":{\"auth\":\"%%%\"}}}");
	assert_err(img_creds_lookup("r.example", NULL, &c, &err), err, CKT_EFORMAT);
	ckt_err_clear(&err);
	write_file(state, "auth.json", "{\"auths\":[]}");
	assert_err(img_creds_lookup("r.example", NULL, &c, &err), err, CKT_EFORMAT);
	ckt_err_clear(&err);
	write_file(state, "auth.json", "{\"credHelpers\":{\"r.example\":\"ckt-no-such-helper\"}}");
	assert_err(img_creds_lookup("r.example", NULL, &c, &err), err, CKT_EIO);
	assert_contains(err.what, "docker-credential-ckt-no-such-helper");
	tdir_pass(state);
}

static void test_certs_dirs(void **state)
{
	(void)state;
	setenv("CKT_CERTS_D", "/a::/b/", 1);
	_cleanup_strv_ char **v = img_certs_dirs("h:5000");
	assert_string_equal(v[0], "/a/h:5000");
	assert_string_equal(v[1], "/b/h:5000");
	assert_null(v[2]);
	unsetenv("CKT_CERTS_D");
	_cleanup_strv_ char **d = img_certs_dirs("h");
	assert_string_equal(d[0], "/etc/containers/certs.d/h");
	assert_string_equal(d[1], "/etc/docker/certs.d/h");
	assert_null(d[2]);
}

/* A resumable partial survives its writer and is re-hashed by the next. */
static void test_writer_resume(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *root = tpath(state, "store");
	_cleanup_store_ struct store *s = store_open(root, 0, &err);
	assert_non_null(s);
	/* sha256("hello world") */
	const char *d = "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

	struct store_writer *w = store_writer_resume(s, d, 11, &err);
	assert_non_null(w);
	assert_int_equal(store_writer_size(w), 0);
	assert_ok(store_writer_write(w, "hello ", 6, &err), err);
	store_writer_free(w);
	_cleanup_free_ char *partial = xasprintf("%s/tmp/sha256-%s.partial", root, d + 7);
	struct stat st;
	assert_int_equal(stat(partial, &st), 0);
	assert_int_equal(st.st_size, 6);

	w = store_writer_resume(s, d, 11, &err);
	assert_non_null(w);
	assert_int_equal(store_writer_size(w), 6);
	/* too much is refused before it is written */
	assert_err(store_writer_write(w, "world!", 6, &err), err, CKT_EVERIFY);
	ckt_err_clear(&err);
	assert_ok(store_writer_write(w, "world", 5, &err), err);
	assert_ok(store_writer_commit(w, NULL, &err), err);
	store_writer_free(w);
	assert_true(store_blob_exists(s, d));
	assert_int_equal(stat(partial, &st), -1);

	/* a corrupt partial fails at commit and is removed */
	write_file(state, "x", "");
	w = store_writer_resume(s, "sha256:" "0000000000000000000000000000000000000000000000000000000000000000", 3, &err);
	assert_non_null(w);
	assert_ok(store_writer_write(w, "abc", 3, &err), err);
	assert_err(store_writer_commit(w, NULL, &err), err, CKT_EVERIFY);
	store_writer_free(w);
	_cleanup_free_ char *p0 = xasprintf("%s/tmp/sha256-%064d.partial", root, 0);
	assert_int_equal(stat(p0, &st), -1);

	/* restart drops what was there */
	ckt_err_clear(&err);
	w = store_writer_resume(s, d, 11, &err);
	assert_ok(store_writer_write(w, "xxxx", 4, &err), err);
	assert_ok(store_writer_restart(w, &err), err);
	assert_ok(store_writer_write(w, "hello world", 11, &err), err);
	assert_ok(store_writer_commit(w, NULL, &err), err);
	store_writer_free(w);
	tdir_pass(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_challenges_good),
		cmocka_unit_test(test_challenges_bad),
		cmocka_unit_test(test_retry_after),
		TDIR_TEST(test_creds_files),
		cmocka_unit_test(test_certs_dirs),
		TDIR_TEST(test_writer_resume),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
