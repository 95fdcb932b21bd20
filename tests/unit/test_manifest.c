/* Unit tests for libimg/manifest and libimg/fetch's source names: strict
 * parsing of manifests, indexes and configs, with hostile JSON in tables. */
#include "tests/unit/unit.h"

#include "base/cleanup.h"
#include "libimg/fetch.h"
#include "libimg/manifest.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D1 "sha256:" H64
#define DESC(mt) "{\"mediaType\":\"" mt "\",\"digest\":\"" D1 "\",\"size\":10}"

static const char good_manifest[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\","
	"\"config\":" DESC(IMG_MT_OCI_CONFIG) ",\"layers\":[" DESC(IMG_MT_OCI_LAYER_GZIP) ","
	DESC(IMG_MT_OCI_LAYER_ZSTD) "],\"annotations\":{\"x\":\"y\"},\"unknown\":[1,2]}";

static void test_manifest_good(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	struct img_manifest m;
	(void)state;

	assert_ok(img_manifest_parse(good_manifest, strlen(good_manifest), NULL, &m, &err), err);
	assert_string_equal(m.media_type, IMG_MT_OCI_MANIFEST);
	assert_string_equal(m.config.digest, D1);
	assert_int_equal(m.n_layers, 2);
	assert_int_equal(img_layer_compression(m.layers[1].media_type), IMG_COMPRESS_ZSTD);
	assert_int_equal(m.layers[0].size, 10);
	img_manifest_release(&m);

	/* Without mediaType, the hint decides; docker schema2 is a manifest. */
	static const char docker[] = "{\"schemaVersion\":2,\"config\":" DESC(IMG_MT_DOCKER_CONFIG)
				     ",\"layers\":[]}";
	assert_ok(img_manifest_parse(docker, strlen(docker), IMG_MT_DOCKER_MANIFEST, &m, &err), err);
	assert_string_equal(m.media_type, IMG_MT_DOCKER_MANIFEST);
	assert_int_equal(m.n_layers, 0);
	img_manifest_release(&m);
}

static const struct {
	const char *json, *hint, *msg;
} bad_manifests[] = {
	{ "", NULL, "parse manifest" },
	{ "[]", NULL, "not a JSON object" },
	{ "{\"schemaVersion\":2,", NULL, "parse manifest" },
	{ "{\"schemaVersion\":1,\"fsLayers\":[]}", NULL, "schema1" },
	{ "{\"mediaType\":\"" IMG_MT_DOCKER_SCHEMA1_SIGNED "\"}", NULL, "schema1" },
	{ "{\"config\":" DESC(IMG_MT_OCI_CONFIG) "}", NULL, "'layers'" },
	{ "{\"layers\":[]}", NULL, "'config'" },
	{ "{\"config\":7,\"layers\":[]}", NULL, "'config' is not an object" },
	{ "{\"config\":" DESC(IMG_MT_OCI_CONFIG) ",\"layers\":{}}", NULL, "'layers' is not an array" },
	{ "{\"config\":" DESC(IMG_MT_OCI_CONFIG) ",\"layers\":[3]}", NULL, "not an object" },
	{ "{\"config\":{\"digest\":\"md5:abc\",\"size\":1},\"layers\":[]}", NULL, "md5" },
	{ "{\"config\":{\"digest\":\"sha256:ABC\",\"size\":1},\"layers\":[]}", NULL, "sha256:ABC" },
	{ "{\"config\":{\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}", NULL, "negative size" },
	{ "{\"config\":{\"digest\":\"" D1 "\",\"size\":\"10\"},\"layers\":[]}", NULL,
	  "'size' is not an integer" },
	{ "{\"config\":{\"digest\":\"" D1 "\",\"size\":1.5},\"layers\":[]}", NULL,
	  "'size' is not an integer" },
	{ "{\"config\":{\"digest\":\"" D1 "\"},\"layers\":[]}", NULL, "'size'" },
	{ "{\"config\":{\"digest\":7,\"size\":1},\"layers\":[]}", NULL, "'digest' is not a string" },
	{ "{\"mediaType\":7,\"config\":" DESC(IMG_MT_OCI_CONFIG) ",\"layers\":[]}", NULL,
	  "'mediaType' is not a string" },
	{ "{\"mediaType\":\"" IMG_MT_OCI_INDEX "\",\"manifests\":[]}", NULL,
	  "expected an image manifest" },
	{ "{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"config\":" DESC(IMG_MT_OCI_CONFIG)
	  ",\"layers\":[]}", IMG_MT_DOCKER_MANIFEST, "declares media type" },
	{ "{\"schemaVersion\":2,\"schemaVersion\":2,\"config\":" DESC(IMG_MT_OCI_CONFIG)
	  ",\"layers\":[]}", NULL, "duplicate" },
	{ "{\"foo\":1}", NULL, "neither a manifest nor an index" },
};

static void test_manifest_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_manifests); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		struct img_manifest m;
		char buf[2048];
		int r = img_manifest_parse(bad_manifests[i].json, strlen(bad_manifests[i].json),
					   bad_manifests[i].hint, &m, &err);
		if (r >= 0 || err.code != CKT_EFORMAT)
			fail_msg("manifest %zu accepted (r=%d code=%d)", i, r, err.code);
		assert_contains(ckt_err_str(&err, buf, sizeof(buf)), bad_manifests[i].msg);
	}
}

static const char index_json[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_INDEX "\",\"manifests\":["
	"{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":1,"
	"\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
	"{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"sha256:" H64 "\",\"size\":2,"
	"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"},"
	"\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}},"
	"{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":3,"
	"\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}]}";

static void test_index(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	struct img_index idx;
	struct img_platform want = IMG_PLATFORM_INIT;
	size_t which;
	char buf[2048];
	(void)state;

	assert_ok(img_index_parse(index_json, strlen(index_json), NULL, &idx, &err), err);
	assert_int_equal(idx.n, 3);
	assert_string_equal(idx.entries[1].ref_name, "v1");
	assert_ok(img_platform_parse("linux/arm64", &want, &err), err);
	assert_ok(img_index_select(&idx, &want, &which, &err), err);
	assert_int_equal(which, 1);
	img_platform_release(&want);
	assert_ok(img_platform_parse("linux/s390x", &want, &err), err);
	assert_err(img_index_select(&idx, &want, &which, &err), err, CKT_ENOTFOUND);
	assert_contains(ckt_err_str(&err, buf, sizeof(buf)), "linux/amd64, linux/arm64/v8");
	img_platform_release(&want);
	img_index_release(&idx);

	static const char *const bad[] = {
		"{\"manifests\":7}",
		"{\"manifests\":[{\"digest\":\"" D1 "\",\"size\":1,\"platform\":[]}]}",
		"{\"manifests\":[{\"digest\":\"" D1 "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}]}",
		"{\"manifests\":[{\"digest\":\"" D1 "\",\"size\":1,\"annotations\":{"
		"\"org.opencontainers.image.ref.name\":5}}]}",
		"{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"config\":" DESC(IMG_MT_OCI_CONFIG)
		",\"layers\":[]}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ckt_err_clear(&err);
		assert_err(img_index_parse(bad[i], strlen(bad[i]), NULL, &idx, &err), err,
			   CKT_EFORMAT);
	}
}

static void test_config(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	struct img_config c;
	(void)state;
	static const char good[] =
		"{\"architecture\":\"arm\",\"variant\":\"v7\",\"os\":\"linux\","
		"\"config\":{\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":null,\"Env\":[\"A=1\"],"
		"\"User\":\"app\",\"WorkingDir\":\"/w\"},"
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\"]}}";
	assert_ok(img_config_parse(good, strlen(good), &c, &err), err);
	assert_string_equal(c.platform.arch, "arm");
	assert_string_equal(c.platform.variant, "v7");
	assert_string_equal(c.entrypoint[1], "-c");
	assert_null(c.entrypoint[2]);
	assert_null(c.cmd);
	assert_string_equal(c.env[0], "A=1");
	assert_string_equal(c.user, "app");
	assert_int_equal(c.n_diff_ids, 1);
	img_config_release(&c);

	static const char *const bad[] = {
		"{\"config\":{\"Cmd\":\"echo\"}}",
		"{\"config\":{\"Env\":[1]}}",
		"{\"rootfs\":{\"diff_ids\":[\"sha256:zz\"]}}",
		"{\"rootfs\":[]}",
		"{\"os\":[]}",
		"{\"config\":{\"User\":0}}",
		"nul",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ckt_err_clear(&err);
		assert_err(img_config_parse(bad[i], strlen(bad[i]), &c, &err), err, CKT_EFORMAT);
	}
}

static void test_build_deterministic(void **state)
{
	struct store_desc cfg = { (char *)IMG_MT_OCI_CONFIG, D1, 10 };
	struct store_desc layers[] = { { (char *)IMG_MT_OCI_LAYER, D1, 7 } };
	size_t l1, l2;
	struct img_manifest m;
	struct ckt_err err = CKT_ERR_INIT;
	(void)state;

	_cleanup_free_ char *a = img_manifest_build(&cfg, layers, 1, &l1);
	_cleanup_free_ char *b = img_manifest_build(&cfg, layers, 1, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(a, b, l1);
	assert_ok(img_manifest_parse(a, l1, IMG_MT_OCI_MANIFEST, &m, &err), err);
	assert_int_equal(m.layers[0].size, 7);
	img_manifest_release(&m);
}

static void test_sniff(void **state)
{
	(void)state;
	assert_int_equal(img_sniff_compression("\x1f\x8b\x08", 3), IMG_COMPRESS_GZIP);
	assert_int_equal(img_sniff_compression("\x28\xb5\x2f\xfd", 4), IMG_COMPRESS_ZSTD);
	assert_int_equal(img_sniff_compression("ustar", 5), IMG_COMPRESS_NONE);
	assert_int_equal(img_sniff_compression("\x1f", 1), IMG_COMPRESS_NONE);
	assert_int_equal(img_media_type_kind(IMG_MT_DOCKER_LIST), IMG_KIND_INDEX);
	assert_int_equal(img_media_type_kind("text/plain"), IMG_KIND_UNKNOWN);
	assert_int_equal(img_media_type_kind(NULL), IMG_KIND_UNKNOWN);
}

static void test_source_names(void **state)
{
	static const struct {
		const char *in;
		enum img_transport t;
		const char *path, *ref;
	} good[] = {
		{ "oci:/tmp/x", IMG_TRANSPORT_OCI, "/tmp/x", NULL },
		{ "oci:/tmp/x:latest", IMG_TRANSPORT_OCI, "/tmp/x", "latest" },
		{ "oci:dir:docker.io/library/a:1", IMG_TRANSPORT_OCI, "dir", "docker.io/library/a:1" },
		{ "oci-archive:a.tar:t", IMG_TRANSPORT_OCI_ARCHIVE, "a.tar", "t" },
		{ "docker-archive:a.tar:@1", IMG_TRANSPORT_DOCKER_ARCHIVE, "a.tar", "@1" },
		{ "docker://alpine", IMG_TRANSPORT_DOCKER, "alpine", NULL },
		{ "alpine", IMG_TRANSPORT_DOCKER, "alpine", NULL },
		{ "localhost:5000/a", IMG_TRANSPORT_DOCKER, "localhost:5000/a", NULL },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct img_source s;
		struct ckt_err err = CKT_ERR_INIT;
		assert_ok(img_source_parse(good[i].in, &s, &err), err);
		assert_int_equal(s.transport, good[i].t);
		assert_string_equal(s.path, good[i].path);
		if (good[i].ref)
			assert_string_equal(s.ref, good[i].ref);
		else
			assert_null(s.ref);
		img_source_release(&s);
	}
	static const char *const bad[] = { "oci:", "oci-archive::x", "docker://", "docker-archive:" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct img_source s;
		struct ckt_err err = CKT_ERR_INIT;
		assert_err(img_source_parse(bad[i], &s, &err), err, CKT_EUSAGE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_good),
		cmocka_unit_test(test_manifest_bad),
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_build_deterministic),
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_source_names),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
