/* Unit tests for libimg/policy, sign, lookaside and sigstore: strict
 * signature payloads, base64, registries.d scopes and the lookaside
 * layout, cosign-style keys, and policy evaluation on a real store with
 * cosign-style signatures (every refusal reason). */
#include "tests/unit/unit.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "libimg/lookaside.h"
#include "libimg/manifest.h"
#include "libimg/policy.h"
#include "libimg/sign.h"
#include "libimg/sigstore.h"
#include "store/store.h"

#define D1 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_payload_roundtrip(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	struct img_sig_payload p = { 0 };
	size_t len;
	(void)state;
	_cleanup_free_ char *s = img_sig_payload_build("example.com/app:1", D1, IMG_SIG_TYPE_SIMPLE,
						       "ckt", 1700000000, &len);
	assert_string_equal(s, "{\"critical\":{\"identity\":{\"docker-reference\":\"example.com/app:1\"},"
			       "\"image\":{\"docker-manifest-digest\":\"" D1 "\"},"
			       "\"type\":\"atomic container signature\"},"
			       "\"optional\":{\"creator\":\"ckt\",\"timestamp\":1700000000}}");
	assert_ok(img_sig_payload_parse(s, len, IMG_SIG_TYPE_SIMPLE, &p, &err), err);
	assert_string_equal(p.docker_ref, "example.com/app:1");
	assert_string_equal(p.digest, D1);
	img_sig_payload_release(&p);
	assert_err(img_sig_payload_parse(s, len, IMG_SIG_TYPE_COSIGN, &p, &err), err, CKT_EVERIFY);
}

static void test_payload_hostile(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"critical\":{}}",
		"{\"critical\":{\"type\":\"atomic container signature\",\"image\":{\"docker-manifest-digest\":\"" D1 "\"},\"identity\":{\"docker-reference\":\"a/b:1\"}}}",
		"{\"critical\":{\"type\":\"atomic container signature\",\"image\":{\"docker-manifest-digest\":\"" D1 "\"},\"identity\":{\"docker-reference\":\"a/b:1\"},\"extra\":1},\"optional\":{}}",
		"{\"critical\":{\"type\":\"atomic container signature\",\"image\":{\"docker-manifest-digest\":\"sha256:xyz\"},\"identity\":{\"docker-reference\":\"a/b:1\"}},\"optional\":{}}",
		"{\"critical\":{\"type\":\"atomic container signature\",\"image\":{\"docker-manifest-digest\":\"" D1 "\",\"x\":1},\"identity\":{\"docker-reference\":\"a/b:1\"}},\"optional\":{}}",
		"{\"critical\":{\"type\":\"atomic container signature\",\"image\":{\"docker-manifest-digest\":\"" D1 "\"},\"identity\":{\"docker-reference\":5}},\"optional\":{}}",
		"{\"critical\":{\"type\":\"atomic container signature\",\"image\":{\"docker-manifest-digest\":\"" D1 "\"},\"identity\":{\"docker-reference\":\"a/b:1\"}},\"optional\":{\"timestamp\":\"x\"}}",
		"{\"critical\":{\"type\":\"atomic container signature\",\"type\":\"x\",\"image\":{\"docker-manifest-digest\":\"" D1 "\"},\"identity\":{\"docker-reference\":\"a/b:1\"}},\"optional\":{}}",
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		struct img_sig_payload p = { 0 };
		if (img_sig_payload_parse(bad[i], strlen(bad[i]), IMG_SIG_TYPE_SIMPLE, &p, &err) >= 0 ||
		    err.code != CKT_EVERIFY)
			fail_msg("payload %zu accepted (code %d)", i, err.code);
	}
	/* cosign writes "optional": null. */
	const char *ok = "{\"critical\":{\"identity\":{\"docker-reference\":\"a/b\"},\"image\":{\"docker-manifest-digest\":\"" D1 "\"},\"type\":\"cosign container image signature\"},\"optional\":null}";
	struct ckt_err err = CKT_ERR_INIT;
	struct img_sig_payload p = { 0 };
	assert_ok(img_sig_payload_parse(ok, strlen(ok), IMG_SIG_TYPE_COSIGN, &p, &err), err);
	img_sig_payload_release(&p);
}

static void test_base64(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	unsigned char *out;
	size_t len;
	(void)state;
	assert_ok(img_base64_decode("aGVsbG8=", 8, &out, &len, &err), err);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	assert_ok(img_base64_decode("aGVs\nbG8", 8, &out, &len, &err), err);
	assert_int_equal(len, 5);
	free(out);
	assert_ok(img_base64_decode("", 0, &out, &len, &err), err);
	assert_int_equal(len, 0);
	free(out);
	assert_err(img_base64_decode("a$==", 4, &out, &len, &err), err, CKT_EFORMAT);
	ckt_err_clear(&err);
	assert_err(img_base64_decode("a===", 4, &out, &len, &err), err, CKT_EFORMAT);
	_cleanup_free_ char *e = img_base64_encode("hello", 5);
	assert_string_equal(e, "aGVsbG8=");
}

static void test_registries_d(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *dir = tpath(state, "regd");
	_cleanup_free_ char *a = tpath(state, "regd/a.yaml");
	_cleanup_free_ char *b = tpath(state, "regd/b.yaml");
	_cleanup_free_ char *ignored = tpath(state, "regd/c.yml");
	assert_ok(ckt_mkdir_p(dir, 0755, &err), err);
	const char *ya = "default-docker:\n  lookaside: https://default.example/sigs\n"
			 "docker:\n  reg.example:\n    sigstore: file:///old\n"
			 "  reg.example/ns:\n    lookaside: file:///ns\n    lookaside-staging: file:///stage\n";
	const char *yb = "docker:\n  reg.example/ns/app:1:\n    lookaside: file:///tagged\n"
			 "    use-sigstore-attachments: true\n"
			 "  '*.wild.example':\n    lookaside: file:///wild\n";
	assert_ok(ckt_write_file_atomic(a, ya, strlen(ya), 0644, &err), err);
	assert_ok(ckt_write_file_atomic(b, yb, strlen(yb), 0644, &err), err);
	assert_ok(ckt_write_file_atomic(ignored, "x: [", 4, 0644, &err), err);
	struct img_lookaside *l = img_lookaside_load(dir, &err);
	assert_non_null(l);
	assert_string_equal(img_lookaside_base(l, "reg.example/ns/app:1", false), "file:///tagged");
	assert_true(img_lookaside_use_attachments(l, "reg.example/ns/app:1"));
	assert_false(img_lookaside_use_attachments(l, "reg.example/ns/app:2"));
	assert_string_equal(img_lookaside_base(l, "reg.example/ns/app:2", false), "file:///ns");
	assert_string_equal(img_lookaside_base(l, "reg.example/ns/app:2", true), "file:///stage");
	assert_string_equal(img_lookaside_base(l, "reg.example/nsx/app:2", false), "file:///old");
	assert_string_equal(img_lookaside_base(l, "other.example/x", false),
			    "https://default.example/sigs");
	assert_string_equal(img_lookaside_base(l, "a.b.wild.example:5000/x:1", false), "file:///wild");
	assert_string_equal(img_lookaside_base(l, "wild.example/x", false),
			    "https://default.example/sigs");
	img_lookaside_free(l);
	/* A scope configured twice is an error, as in containers/image. */
	assert_ok(ckt_write_file_atomic(b, "docker:\n  reg.example/ns:\n    lookaside: file:///x\n",
					49, 0644, &err), err);
	assert_null(img_lookaside_load(dir, &err));
	assert_int_equal(err.code, CKT_EFORMAT);
	_cleanup_free_ char *none = tpath(state, "missing");
	l = img_lookaside_load(none, &err);
	assert_non_null(l);
	assert_null(img_lookaside_base(l, "reg.example/x", false));
	img_lookaside_free(l);
	tdir_pass(state);
}

static void test_lookaside_layout(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *dir = tpath(state, "la");
	_cleanup_free_ char *base = xasprintf("file://%s", dir);
	_cleanup_free_ char *p1 = NULL, *p2 = NULL, *p3 = NULL;
	assert_ok(img_lookaside_write(base, "reg.example/ns/app:1", D1, "one", 3, &p1, &err), err);
	_cleanup_free_ char *want = xasprintf("%s/ns/app@sha256=%s/signature-1", dir, D1 + 7);
	assert_string_equal(p1, want);
	assert_ok(img_lookaside_write(dir, "reg.example/ns/app:2", D1, "two", 3, &p2, &err), err);
	assert_ok(img_lookaside_write(base, "reg.example/ns/app", D1, "one", 3, &p3, &err), err);
	assert_string_equal(p3, p1);
	struct img_sig *v = NULL;
	size_t n = 0;
	assert_ok(img_lookaside_read(base, "reg.example/ns/app:1", D1, &v, &n, &err), err);
	assert_int_equal(n, 2);
	assert_memory_equal(v[1].data, "two", 3);
	img_sigs_free(v, n);
	assert_err(img_lookaside_write("https://x.example/", "a/b", D1, "x", 1, NULL, &err), err,
		   CKT_EUSAGE);
	ckt_err_clear(&err);
	assert_err(img_lookaside_write(base, "a/b", "sha256:../../x", "x", 1, NULL, &err), err,
		   CKT_EFORMAT);
	tdir_pass(state);
}

static void test_sigstore_keys(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *pub = NULL, *key = NULL, *sig = NULL;
	(void)state;
	assert_ok(img_sigstore_generate("pw", &pub, &key, &err), err);
	assert_contains(key, "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----");
	assert_contains(pub, "-----BEGIN PUBLIC KEY-----");
	assert_ok(img_sigstore_sign(key, strlen(key), "pw", "payload", 7, &sig, &err), err);
	assert_ok(img_sigstore_verify(pub, strlen(pub), "payload", 7, sig, &err), err);
	assert_err(img_sigstore_verify(pub, strlen(pub), "payloaD", 7, sig, &err), err, CKT_EVERIFY);
	assert_string_equal(err.why, "bad signature");
	ckt_err_clear(&err);
	assert_err(img_sigstore_verify(pub, strlen(pub), "payload", 7, "!!", &err), err, CKT_EVERIFY);
	ckt_err_clear(&err);
	assert_err(img_sigstore_verify("junk", 4, "payload", 7, sig, &err), err, CKT_EFORMAT);
	ckt_err_clear(&err);
	char *s2 = NULL;
	assert_err(img_sigstore_sign(key, strlen(key), "wrong", "p", 1, &s2, &err), err, CKT_EVERIFY);
	assert_string_equal(err.why, "wrong password");
	ckt_err_clear(&err);
	assert_err(img_sigstore_sign(pub, strlen(pub), "pw", "p", 1, &s2, &err), err, CKT_EFORMAT);
}

/* ---- policy evaluation on a store ------------------------------------- */

struct fx {
	struct store *s;
	char digest[STORE_DIGEST_MAX];
	char *pub, *key, *policy;
};

static void fx_image(void **state, struct fx *f)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *root = tpath(state, "store");
	const char *cfg = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	struct store_desc c = { (char *)IMG_MT_OCI_CONFIG, "", (int64_t)strlen(cfg) };
	f->s = store_open(root, 0, &err);
	assert_non_null(f->s);
	assert_ok(store_blob_put(f->s, cfg, strlen(cfg), NULL, c.digest, &err), err);
	size_t len;
	_cleanup_free_ char *m = img_manifest_build(&c, NULL, 0, &len);
	struct store_desc md = { (char *)IMG_MT_OCI_MANIFEST, "", (int64_t)len };
	assert_ok(store_blob_put(f->s, m, len, NULL, md.digest, &err), err);
	assert_ok(store_ref_set(f->s, "example.com/app:1", &md, &err), err);
	assert_ok(store_ref_set(f->s, "example.com/mirror:1", &md, &err), err);
	memcpy(f->digest, md.digest, sizeof(f->digest));
	assert_ok(img_sigstore_generate("", &f->pub, &f->key, &err), err);
	f->policy = tpath(state, "policy.json");
}

static void fx_release(struct fx *f)
{
	store_free(f->s);
	free(f->pub);
	free(f->key);
	free(f->policy);
}

static void fx_sign(struct fx *f, const char *identity, const char *digest)
{
	struct ckt_err err = CKT_ERR_INIT;
	size_t len;
	_cleanup_free_ char *payload = img_sig_payload_build(identity, digest, IMG_SIG_TYPE_COSIGN,
							     NULL, -1, &len);
	_cleanup_free_ char *sig = NULL;
	assert_ok(img_sigstore_sign(f->key, strlen(f->key), "", payload, len, &sig, &err), err);
	struct img_sig one = { IMG_SIG_COSIGN, payload, len, sig, NULL };
	assert_ok(img_sig_store_add(f->s, "example.com/app", f->digest, &one, &err), err);
}

static void fx_policy(struct fx *f, const char *reqs)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *pk = img_base64_encode(f->pub, strlen(f->pub));
	/* reqs names the public key as KEY. */
	const char *at = strstr(reqs, "KEY");
	_cleanup_free_ char *body = at ? xasprintf("%.*s%s%s", (int)(at - reqs), reqs, pk, at + 3)
				       : xstrdup(reqs);
	_cleanup_free_ char *doc = xasprintf("{\"default\":[{\"type\":\"reject\"}],"
					     "\"transports\":{\"docker\":{\"example.com\":%s}}}",
					     body);
	assert_ok(ckt_write_file_atomic(f->policy, doc, strlen(doc), 0644, &err), err);
}

static int check(struct fx *f, const char *ref, struct ckt_err *err)
{
	struct img_policy_opts o = { .policy = f->policy, .registries_d = "/nonexistent" };
	return img_policy_check_ref(f->s, ref, &o, err);
}

#define SIGSTORE_REQ "[{\"type\":\"sigstoreSigned\",\"keyData\":\"KEY\"}]"

#define assert_refused(f, ref, reason)                                                             \
	do {                                                                                       \
		struct ckt_err e_ = CKT_ERR_INIT;                                                  \
		assert_err(check(f, ref, &e_), e_, CKT_EVERIFY);                                   \
		if (strcmp(e_.why, reason))                                                        \
			fail_msg("%s: refused for '%s', want '%s' (%s)", ref, e_.why, reason,      \
				 e_.what);                                                         \
	} while (0)

static void test_policy_sigstore(void **state)
{
	struct fx f = { 0 };
	struct ckt_err err = CKT_ERR_INIT;
	fx_image(state, &f);
	fx_policy(&f, SIGSTORE_REQ);
	assert_refused(&f, "example.com/app:1", "no signature");
	fx_sign(&f, "example.com/other:1", f.digest);
	assert_refused(&f, "example.com/app:1", "identity mismatch");
	fx_sign(&f, "example.com/app:1", D1);
	/* The furthest a signature got decides the reason. */
	assert_refused(&f, "example.com/app:1", "identity mismatch");
	fx_sign(&f, "example.com/app:1", f.digest);
	assert_ok(check(&f, "example.com/app:1", &err), err);
	_cleanup_free_ char *pinned = xasprintf("example.com/app@%s", f.digest);
	assert_ok(check(&f, pinned, &err), err);
	assert_refused(&f, "example.com/mirror:1", "identity mismatch");
	fx_policy(&f, "[{\"type\":\"sigstoreSigned\",\"keyData\":\"KEY\",\"signedIdentity\":"
		      "{\"type\":\"remapIdentity\",\"prefix\":\"example.com/mirror\","
		      "\"signedPrefix\":\"example.com/app\"}}]");
	assert_ok(check(&f, "example.com/mirror:1", &err), err);
	fx_policy(&f, "[{\"type\":\"insecureAcceptAnything\"},{\"type\":\"reject\"}]");
	assert_refused(&f, "example.com/app:1", "policy reject");
	fx_release(&f);
	tdir_pass(state);
}

static void test_policy_paths(void **state)
{
	struct fx f = { 0 };
	struct ckt_err err = CKT_ERR_INIT;
	struct img_policy_opts o = { .insecure_image = true };
	fx_image(state, &f);
	/* --insecure-options=image skips even a policy that cannot be read. */
	o.policy = "/nonexistent/policy.json";
	assert_ok(img_policy_check_ref(f.s, "example.com/app:1", &o, &err), err);
	o.insecure_image = false;
	assert_err(img_policy_check_ref(f.s, "example.com/app:1", &o, &err), err, CKT_ENOTFOUND);
	ckt_err_clear(&err);
	assert_ok(ckt_write_file_atomic(f.policy, "{\"default\":", 11, 0644, &err), err);
	o.policy = f.policy;
	assert_err(img_policy_check_ref(f.s, "example.com/app:1", &o, &err), err, CKT_EFORMAT);
	assert_contains(err.what, f.policy);
	/* $CKT_POLICY, empty meaning none; --policy wins over it. */
	setenv("CKT_POLICY", "/from/env.json", 1);
	_cleanup_free_ char *p1 = img_policy_path(&(struct img_policy_opts){ 0 });
	assert_string_equal(p1, "/from/env.json");
	_cleanup_free_ char *p2 = img_policy_path(&o);
	assert_string_equal(p2, f.policy);
	setenv("CKT_POLICY", "", 1);
	assert_null(img_policy_path(&(struct img_policy_opts){ 0 }));
	/* No policy and no trusted key: rkt's default refuses. */
	_cleanup_free_ char *lc = tpath(state, "lc");
	struct img_policy_opts none = { .local_config = lc, .system_config = lc,
					.registries_d = "/nonexistent" };
	ckt_err_clear(&err);
	assert_err(img_policy_check_ref(f.s, "example.com/app:1", &none, &err), err, CKT_EVERIFY);
	unsetenv("CKT_POLICY");
	fx_release(&f);
	tdir_pass(state);
}

static void test_policy_wildcard(void **state)
{
	struct fx f = { 0 };
	struct ckt_err err = CKT_ERR_INIT;
	fx_image(state, &f);
	const char *doc = "{\"default\":[{\"type\":\"reject\"}],\"transports\":{\"docker\":"
			  "{\"*.com\":[{\"type\":\"insecureAcceptAnything\"}],"
			  "\"example.com/mirror\":[{\"type\":\"reject\"}]}}}";
	assert_ok(ckt_write_file_atomic(f.policy, doc, strlen(doc), 0644, &err), err);
	assert_ok(check(&f, "example.com/app:1", &err), err);
	/* A namespace scope is more specific than a wildcard. */
	assert_refused(&f, "example.com/mirror:1", "policy reject");
	fx_release(&f);
	tdir_pass(state);
}

static void quiet_log(enum ckt_log_level level, const char *msg, void *data)
{
	(void)level;
	(void)msg;
	(void)data;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_payload_roundtrip),
		cmocka_unit_test(test_payload_hostile),
		cmocka_unit_test(test_base64),
		TDIR_TEST(test_registries_d),
		TDIR_TEST(test_lookaside_layout),
		cmocka_unit_test(test_sigstore_keys),
		TDIR_TEST(test_policy_sigstore),
		TDIR_TEST(test_policy_paths),
		TDIR_TEST(test_policy_wildcard),
	};
	/* The insecure-options warning is expected here. */
	ckt_log_set(quiet_log, NULL, CKT_LOG_DEBUG);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
