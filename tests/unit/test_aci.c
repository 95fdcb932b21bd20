/* Unit tests for libimg/aci, the docker2aci mapping (convert) and appc
 * discovery parsing: identifiers, sanitising, magic bytes, manifest checks,
 * the writer's determinism and image ID, and hostile manifests. */
#include "unit.h"

#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/strbuf.h"
#include "libimg/aci.h"
#include "libimg/convert.h"
#include "libimg/discovery.h"
#include "store/digest.h"

static void test_identifiers(void **state)
{
	(void)state;
	static const char *const good[] = { "example.com/app", "a", "a-b.c_d~e/f", "registry-1.docker.io/library/busybox" };
	static const char *const bad[] = { "", "A", "-a", "a-", "a--b", "a/_b", "a b", "a:b", "/a" };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_true(img_ac_identifier_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_false(img_ac_identifier_valid(bad[i]));

	char *s = img_ac_identifier_sanitize("Host:5000/Team/App");
	assert_string_equal(s, "host_5000/team/app");
	free(s);
	s = img_ac_identifier_sanitize("//x@y//");
	assert_string_equal(s, "x_y");
	free(s);
	s = img_ac_name_sanitize("80/tcp");
	assert_string_equal(s, "80-tcp");
	free(s);
	s = img_ac_name_sanitize("volume/var/tmp");
	assert_string_equal(s, "volume-var-tmp");
	free(s);
}

static void test_sniff(void **state)
{
	(void)state;
	enum img_aci_compression c;
	char tar[512] = { 0 };
	memcpy(tar + 257, "ustar", 5);
	assert_int_equal(img_aci_sniff("\x1f\x8b\x08", 3, &c), 0);
	assert_int_equal(c, IMG_ACI_GZIP);
	assert_int_equal(img_aci_sniff("BZh9", 4, &c), 0);
	assert_int_equal(c, IMG_ACI_BZIP2);
	assert_int_equal(img_aci_sniff("\xfd" "7zXZ\0", 6, &c), 0);
	assert_int_equal(c, IMG_ACI_XZ);
	assert_int_equal(img_aci_sniff("\x28\xb5\x2f\xfd", 4, &c), 0);
	assert_int_equal(c, IMG_ACI_ZSTD);
	assert_int_equal(img_aci_sniff(tar, sizeof(tar), &c), 0);
	assert_int_equal(c, IMG_ACI_NONE);
	assert_int_equal(img_aci_sniff("PK\3\4", 4, &c), -1);
	assert_int_equal(img_aci_sniff("", 0, &c), -1);
}

static void test_manifest_check(void **state)
{
	(void)state;
	static const struct { const char *json; int ok; const char *msg; } cases[] = {
		{ "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"a/b\"}", 1, NULL },
		{ "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"a\",\"app\":{\"user\":\"0\",\"group\":\"0\",\"supplementaryGids\":[1]}}", 1, NULL },
		{ "{\"acKind\":\"PodManifest\",\"acVersion\":\"0.8.11\",\"name\":\"a\"}", 0, "acKind" },
		{ "{\"acVersion\":\"0.8.11\",\"name\":\"a\"}", 0, "acKind" },
		{ "{\"acKind\":\"ImageManifest\",\"acVersion\":\"\",\"name\":\"a\"}", 0, "acVersion" },
		{ "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\"}", 0, "no name" },
		{ "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"Bad Name\"}", 0, "not an AC identifier" },
		{ "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"a\",\"app\":{\"user\":\"0\"}}", 0, "without user or group" },
		{ "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"a\",\"app\":{\"user\":\"0\",\"group\":\"0\",\"supplementaryGIDs\":[\"x\"]}}", 0, "supplementaryGIDs" },
		{ "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"a\",\"labels\":[{\"name\":\"name\",\"value\":\"x\"}]}", 0, "'name'" },
		{ "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"a\",\"labels\":[{\"name\":\"os\",\"value\":\"linux\"},{\"name\":\"os\",\"value\":\"linux\"}]}", 0, "duplicate" },
		{ "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"a\",\"dependencies\":[{}]}", 0, "imageName" },
		{ "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"a\",\"dependencies\":[{\"imageName\":\"b\",\"imageID\":\"sha256-00\"}]}", 0, "sha512" },
		{ "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"a\",\"pathWhitelist\":[\"rel\"]}", 0, "absolute" },
		{ "[1]", 0, "" },
		{ "{", 0, "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		int r = img_aci_manifest_check(cases[i].json, strlen(cases[i].json), &err);
		if (cases[i].ok) {
			assert_ok(r, err);
		} else {
			assert_err(r, err, CKT_EFORMAT);
			assert_contains(err.what, cases[i].msg);
		}
	}
}

static const char config[] =
	"{\"architecture\":\"arm\",\"variant\":\"v6\",\"os\":\"linux\",\"created\":\"2023-11-14T22:13:20Z\","
	"\"author\":\"me\",\"config\":{\"User\":\"u\",\"Env\":[\"A=1=2\",\"BAD NAME=x\",\"NOEQ\",\"A=3\"],"
	"\"Entrypoint\":[\"/e\"],\"Cmd\":[\"c\"],\"WorkingDir\":\"/w\",\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{},\"x/tcp\":{}},"
	"\"Volumes\":{\"/var/tmp\":{},\"/var-tmp\":{}},\"Labels\":{\"k\":\"v\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";

static const char *ann(json_t *m, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(m, "annotations"), i, v)
		if (!strcmp(json_string_value(json_object_get(v, "name")), name))
			return json_string_value(json_object_get(v, "value"));
	return NULL;
}

static void test_mapping(void **state)
{
	(void)state;
	struct ckt_err err = CKT_ERR_INIT;
	char *j = img_aci_manifest_from_oci("host:5000/a/b:1.2", config, strlen(config), "sha256:m",
					    "sha256:c", &err);
	assert_non_null(j);
	assert_ok(img_aci_manifest_check(j, strlen(j), &err), err);
	json_t *m = json_loads(j, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(m, "name")), "host_5000/a/b");
	json_t *app = json_object_get(m, "app");
	assert_string_equal(json_string_value(json_object_get(app, "user")), "u");
	assert_string_equal(json_string_value(json_object_get(app, "group")), "u");
	char *s = json_dumps(json_object_get(app, "environment"), JSON_COMPACT);
	/* split at the first '=', bad names and no '=' skipped, a later duplicate wins */
	assert_string_equal(s, "[{\"name\":\"A\",\"value\":\"3\"}]");
	free(s);
	s = json_dumps(json_object_get(app, "exec"), JSON_COMPACT);
	assert_string_equal(s, "[\"/e\",\"c\"]");
	free(s);
	s = json_dumps(json_object_get(m, "labels"), JSON_COMPACT);
	assert_string_equal(s, "[{\"name\":\"version\",\"value\":\"1.2\"},{\"name\":\"os\",\"value\":\"linux\"},"
			       "{\"name\":\"arch\",\"value\":\"armv6l\"}]");
	free(s);
	json_t *ports = json_object_get(app, "ports");
	assert_int_equal(json_array_size(ports), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ports, 0), "name")), "53-udp");
	json_t *mps = json_object_get(app, "mountPoints");
	assert_int_equal(json_array_size(mps), 2);
	/* "/var-tmp" and "/var/tmp" both sanitise to volume-var-tmp: the second gets -1 */
	assert_string_equal(json_string_value(json_object_get(json_array_get(mps, 0), "name")), "volume-var-tmp");
	assert_string_equal(json_string_value(json_object_get(json_array_get(mps, 1), "name")), "volume-var-tmp-1");
	assert_string_equal(ann(m, "authors"), "me");
	assert_string_equal(ann(m, "appc.io/docker/registryurl"), "host:5000");
	assert_string_equal(ann(m, "appc.io/docker/repository"), "a/b");
	assert_string_equal(ann(m, "appc.io/docker/imageid"), "sha256:c");
	assert_string_equal(json_string_value(json_object_get(json_object_get(app, "userLabels"), "k")), "v");
	json_decref(m);
	free(j);

	/* By digest: no version label. */
	j = img_aci_manifest_from_oci("a/b@sha256:" "0000000000000000000000000000000000000000000000000000000000000000",
				      config, strlen(config), NULL, NULL, &err);
	assert_non_null(j);
	assert_null(strstr(j, "\"version\""));
	free(j);
}

static int buf_sink(void *data, const void *buf, size_t len, struct ckt_err *err)
{
	(void)err;
	ckt_buf_add(data, buf, len);
	return 0;
}

static void write_tree(const char *root)
{
	char p[256];
	struct ckt_err err = CKT_ERR_INIT;
	snprintf(p, sizeof(p), "%s/t/d", root);
	assert_ok(ckt_mkdir_p(p, 0755, &err), err);
	snprintf(p, sizeof(p), "%s/t/d/f", root);
	assert_ok(ckt_write_file_atomic(p, "hello\n", 6, 0644, &err), err);
	char q[256];
	snprintf(q, sizeof(q), "%s/t/link", root);
	assert_int_equal(link(p, q), 0);
	snprintf(q, sizeof(q), "%s/t/sym", root);
	assert_int_equal(symlink("d/f", q), 0);
}

static void test_writer(void **state)
{
	struct tdir *t = *state;
	struct ckt_err err = CKT_ERR_INIT;
	static const char man[] = "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"x\"}";
	char dir[128], ids[2][IMG_ACI_ID_MAX];
	struct ckt_buf out[2] = { CKT_BUF_INIT, CKT_BUF_INIT };

	write_tree(t->path);
	snprintf(dir, sizeof(dir), "%s/t", t->path);
	for (int i = 0; i < 2; i++) {
		struct img_aci_writer *w = img_aci_writer_new(IMG_ACI_NONE, buf_sink, &out[i], &err);
		assert_non_null(w);
		assert_ok(img_aci_writer_manifest(w, man, strlen(man), &err), err);
		assert_ok(img_aci_writer_tree(w, dir, 0, &err), err);
		assert_ok(img_aci_writer_finish(w, ids[i], &err), err);
		img_aci_writer_free(w);
	}
	assert_int_equal(out[0].len, out[1].len);
	assert_memory_equal(out[0].buf, out[1].buf, out[0].len);
	assert_string_equal(ids[0], ids[1]);
	char d[STORE_DIGEST_MAX];
	store_digest_buf(STORE_DIGEST_SHA512, out[0].buf, out[0].len, d);
	assert_string_equal(ids[0] + 7, d + 7);
	/* manifest first, then rootfs */
	assert_string_equal(out[0].buf, "manifest");

	/* The reader accepts what the writer wrote and finds the same ID. */
	char path[160];
	snprintf(path, sizeof(path), "%s/x.aci", t->path);
	assert_ok(ckt_write_file_atomic(path, out[0].buf, out[0].len, 0644, &err), err);
	int fd = open(path, O_RDONLY);
	struct img_aci_info info;
	assert_ok(img_aci_check(fd, &info, &err), err);
	close(fd);
	assert_string_equal(info.id, ids[0]);
	assert_int_equal(info.compression, IMG_ACI_NONE);
	int hard = 0;
	for (size_t i = 0; i < info.n_paths; i++)
		hard += info.types[i] == 'h';
	assert_int_equal(hard, 1);
	img_aci_info_release(&info);
	ckt_buf_release(&out[0]);
	ckt_buf_release(&out[1]);
	tdir_pass(state);
}

static void test_app_parse(void **state)
{
	(void)state;
	struct img_appc_app a;
	struct ckt_err err = CKT_ERR_INIT;
	assert_ok(img_appc_app_parse("example.com/app:1.0,os=linux,channel=beta", &a, &err), err);
	assert_string_equal(a.name, "example.com/app");
	assert_string_equal(img_appc_app_label(&a, "version"), "1.0");
	assert_string_equal(img_appc_app_label(&a, "channel"), "beta");
	assert_null(img_appc_app_label(&a, "arch"));
	img_appc_app_release(&a);
	static const char *const bad[] = { "", "Ex", "a:1:2", "a,os", "a,os=x,os=y", "a,name=b", "a,x:y=z", "a:" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct ckt_err e = CKT_ERR_INIT;
		assert_err(img_appc_app_parse(bad[i], &a, &e), e, CKT_EUSAGE);
	}
}

static void on_meta(void *data, const char *name, const char *content)
{
	struct ckt_buf *b = data;
	ckt_buf_addf(b, "%s|%s;", name, content);
}

static void test_meta(void **state)
{
	(void)state;
	struct ckt_buf b = CKT_BUF_INIT;
	img_discovery_meta("<html><META name=\"ac-discovery\" content=\"p https://x/{name}.{ext}\">"
			   "<meta content='p2 u' name='ac-discovery-pubkeys'/><meta name=\"other\" content=\"x y\">"
			   "<meta name=ac-discovery content=\"q t\"><meta name=\"ac-x\"",
			   on_meta, &b);
	assert_string_equal(ckt_buf_str(&b), "ac-discovery|p https://x/{name}.{ext};"
					     "ac-discovery-pubkeys|p2 u;ac-discovery|q t;");
	ckt_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identifiers),
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_manifest_check),
		cmocka_unit_test(test_mapping),
		cmocka_unit_test_setup_teardown(test_writer, tdir_setup, tdir_teardown),
		cmocka_unit_test(test_app_parse),
		cmocka_unit_test(test_meta),
	};

	/* The mapping warns about what it skips; the tests check the result. */
	ckt_log_set(NULL, NULL, CKT_LOG_ERROR);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
