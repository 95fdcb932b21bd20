/* Unit tests for libimg/fetch: source names, blob verification, and
 * img_fetch() from small OCI layouts built here (good and hostile), checking
 * that a refused fetch leaves the store as it was. */
#include "tests/unit/unit.h"

#include <dirent.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "libimg/fetch.h"
#include "libimg/manifest.h"
#include "libimg/source.h"
#include "store/store.h"

#define ZERO256 "sha256:0000000000000000000000000000000000000000000000000000000000000000"

/* ---- source names ------------------------------------------------------ */

static const struct {
	const char *in;
	enum img_transport t;
	const char *path, *ref;
} good_sources[] = {
	{ "oci:/srv/layout", IMG_TRANSPORT_OCI, "/srv/layout", NULL },
	{ "oci:/srv/layout:", IMG_TRANSPORT_OCI, "/srv/layout", NULL },
	{ "oci:layout:v1", IMG_TRANSPORT_OCI, "layout", "v1" },
	/* skopeo: the path ends at the first ':' after the transport */
	{ "oci:dir:example.com/a/b:2", IMG_TRANSPORT_OCI, "dir", "example.com/a/b:2" },
	{ "oci-archive:/tmp/x.tar:tiny", IMG_TRANSPORT_OCI_ARCHIVE, "/tmp/x.tar", "tiny" },
	{ "docker-archive:saved.tar", IMG_TRANSPORT_DOCKER_ARCHIVE, "saved.tar", NULL },
	{ "docker-archive:saved.tar:@3", IMG_TRANSPORT_DOCKER_ARCHIVE, "saved.tar", "@3" },
	{ "docker-archive:s.tar:alpine:3.19", IMG_TRANSPORT_DOCKER_ARCHIVE, "s.tar", "alpine:3.19" },
	{ "docker://alpine:3.19", IMG_TRANSPORT_DOCKER, "alpine:3.19", NULL },
	{ "alpine", IMG_TRANSPORT_DOCKER, "alpine", NULL },
	{ "localhost:5000/a/b", IMG_TRANSPORT_DOCKER, "localhost:5000/a/b", NULL },
};

static const char *const bad_sources[] = {
	"oci:", "oci::tag", "oci-archive:", "docker-archive:", "docker://",
	"dir:/tmp/x", "containers-storage:alpine", "docker-daemon:alpine:latest",
	"ostree:x", "sif:x", "tarball:x",
};

static void test_source_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good_sources); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		struct img_source s;
		assert_ok(img_source_parse(good_sources[i].in, &s, &err), err);
		if (s.transport != good_sources[i].t || strcmp(s.path, good_sources[i].path) ||
		    (good_sources[i].ref ? !s.ref || strcmp(s.ref, good_sources[i].ref) : !!s.ref))
			fail_msg("'%s': got transport %d path '%s' ref '%s'", good_sources[i].in,
				 (int)s.transport, s.path, s.ref ? s.ref : "(null)");
		img_source_release(&s);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_sources); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		struct img_source s;
		int r = img_source_parse(bad_sources[i], &s, &err);
		if (r >= 0 || err.code != CKT_EUSAGE)
			fail_msg("'%s' was accepted", bad_sources[i]);
		assert_contains(err.what, bad_sources[i]);
	}
}

/* ---- blob verification ------------------------------------------------- */

static void test_verify_buf(void **state)
{
	static const char data[] = "hello";
	struct store_desc d = { .size = 5 };
	struct ckt_err err = CKT_ERR_INIT;

	(void)state;
	store_digest_buf(STORE_DIGEST_SHA256, data, 5, d.digest);
	assert_ok(img_verify_buf(&d, data, 5, &err), err);
	d.size = -1;
	assert_ok(img_verify_buf(&d, data, 5, &err), err);

	d.size = 6;
	assert_err(img_verify_buf(&d, data, 5, &err), err, CKT_EVERIFY);
	assert_contains(err.what, "its descriptor says 6");
	ckt_err_clear(&err);

	d.size = 5;
	assert_err(img_verify_buf(&d, "hellO", 5, &err), err, CKT_EVERIFY);
	assert_contains(err.what, d.digest);
	ckt_err_clear(&err);

	store_digest_buf(STORE_DIGEST_SHA512, data, 5, d.digest);
	assert_ok(img_verify_buf(&d, data, 5, &err), err);
	assert_err(img_verify_buf(&d, "hellO", 5, &err), err, CKT_EVERIFY);
	ckt_err_clear(&err);

	snprintf(d.digest, sizeof(d.digest), "md5:5d41402abc4b2a76b9719d911017c592");
	assert_err(img_verify_buf(&d, data, 5, &err), err, CKT_EFORMAT);
}

/* ---- layouts ------------------------------------------------------------ */

struct image {
	char layer[STORE_DIGEST_MAX], config[STORE_DIGEST_MAX], manifest[STORE_DIGEST_MAX];
	size_t layer_len, config_len, manifest_len;
};

static void write_file(const char *path, const char *data, size_t len)
{
	struct ckt_err err = CKT_ERR_INIT;
	assert_ok(ckt_write_file_atomic(path, data, len, 0644, &err), err);
}

static void put_blob(const char *root, const char *data, size_t len, char out[STORE_DIGEST_MAX])
{
	store_digest_buf(STORE_DIGEST_SHA256, data, len, out);
	_cleanup_free_ char *p = xasprintf("%s/blobs/sha256/%s", root, out + 7);
	write_file(p, data, len);
}

static char *blob_path(const char *root, const char *digest)
{
	return xasprintf("%s/blobs/sha256/%s", root, digest + 7);
}

/* Tweaks to the documents make_layout writes. */
struct tweak {
	int64_t layer_size_delta;	/* added to the layer's size in the manifest */
	int extra_diff_ids;		/* diff_ids the config lists beyond the layer's */
	const char *arch;		/* config architecture (default amd64) */
};

/* A layout at root holding one image: an uncompressed "layer" (any bytes
 * will do, fetch does not read tars), its config, the manifest; index.json
 * names it ref (no annotation when ref is NULL). */
static void make_layout(const char *root, const char *ref, const struct tweak *tw,
			struct image *img)
{
	static const char layer[] = "not really a tar, but fetch does not care";
	struct ckt_err err = CKT_ERR_INIT;
	struct tweak none = { 0 };
	char buf[4096];
	_cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", root);

	if (!tw)
		tw = &none;
	assert_ok(ckt_mkdir_p(blobs, 0755, &err), err);
	_cleanup_free_ char *ol = xasprintf("%s/oci-layout", root);
	write_file(ol, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);

	img->layer_len = sizeof(layer) - 1;
	put_blob(root, layer, img->layer_len, img->layer);
	int n = snprintf(buf, sizeof(buf),
			 "{\"architecture\":\"%s\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
			 "\"diff_ids\":[\"%s\"%s]},\"config\":{\"Cmd\":[\"/bin/sh\"]}}",
			 tw->arch ? tw->arch : "amd64", img->layer,
			 tw->extra_diff_ids ? ",\"" ZERO256 "\"" : "");
	img->config_len = (size_t)n;
	put_blob(root, buf, img->config_len, img->config);
	n = snprintf(buf, sizeof(buf),
		     "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\","
		     "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\","
		     "\"digest\":\"%s\",\"size\":%lld}]}",
		     IMG_MT_OCI_MANIFEST, IMG_MT_OCI_CONFIG, img->config, img->config_len,
		     IMG_MT_OCI_LAYER, img->layer, (long long)img->layer_len + tw->layer_size_delta);
	img->manifest_len = (size_t)n;
	put_blob(root, buf, img->manifest_len, img->manifest);

	char ann[256] = "";
	if (ref)
		snprintf(ann, sizeof(ann), ",\"annotations\":{\"%s\":\"%s\"}",
			 STORE_REF_NAME_ANNOTATION, ref);
	n = snprintf(buf, sizeof(buf),
		     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
		     "\"size\":%zu%s}]}",
		     IMG_MT_OCI_MANIFEST, img->manifest, img->manifest_len, ann);
	_cleanup_free_ char *ij = xasprintf("%s/index.json", root);
	write_file(ij, buf, (size_t)n);
}

static struct store *open_store(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *root = tpath(state, "store");
	struct store *s = store_open(root, 0, &err);
	if (!s)
		assert_ok(-1, err);
	return s;
}

static size_t count_files(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	return n;
}

/* The store holds no ref, no blob, nothing in tmp/. */
static void assert_store_empty(struct store *s)
{
	struct ckt_err err = CKT_ERR_INIT;
	struct store_ref *refs;
	size_t n;
	_cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", store_root(s));
	_cleanup_free_ char *tmp = xasprintf("%s/tmp", store_root(s));

	assert_ok(store_ref_list(s, &refs, &n, &err), err);
	store_refs_free(refs, n);
	assert_int_equal(n, 0);
	assert_int_equal(count_files(blobs), 0);
	assert_int_equal(count_files(tmp), 0);
}

struct progress {
	uint64_t last_done, last_total;
	size_t calls;
};

static void on_progress(void *data, const char *digest, uint64_t done, uint64_t total)
{
	struct progress *p = data;
	(void)digest;
	p->last_done = done;
	p->last_total = total;
	p->calls++;
}

static void test_fetch_layout(void **state)
{
	_cleanup_free_ char *dir = tpath(state, "my.Layout");
	_cleanup_store_ struct store *s = open_store(state);
	struct ckt_err err = CKT_ERR_INIT;
	struct progress p = { 0 };
	struct img_fetch_opts o = { .progress = on_progress, .progress_data = &p };
	struct img_fetch_result r;
	struct image img;

	make_layout(dir, "v1", NULL, &img);
	_cleanup_free_ char *src = xasprintf("oci:%s:v1", dir);
	assert_ok(img_fetch(s, src, &o, &r, &err), err);
	assert_string_equal(r.name, "localhost/my:v1");
	_cleanup_free_ char *pinned = xasprintf("localhost/my@%s", img.manifest);
	assert_string_equal(r.pinned, pinned);
	assert_string_equal(r.digest, img.manifest);
	assert_string_equal(r.media_type, IMG_MT_OCI_MANIFEST);
	assert_int_equal(r.blobs_fetched, 3);
	assert_int_equal(r.bytes_fetched, img.layer_len + img.config_len + img.manifest_len);
	assert_false(r.up_to_date);
	assert_true(p.calls >= 1);
	assert_int_equal(p.last_done, img.layer_len);
	assert_int_equal(p.last_total, img.layer_len);
	assert_true(store_blob_exists(s, img.layer));
	assert_true(store_blob_exists(s, img.config));
	assert_true(store_blob_exists(s, img.manifest));
	img_fetch_result_release(&r);

	struct store_ref ref;
	assert_ok(store_ref_get(s, "localhost/my:v1", &ref, &err), err);
	assert_string_equal(ref.desc.digest, img.manifest);
	assert_string_equal(ref.desc.media_type, IMG_MT_OCI_MANIFEST);
	assert_int_equal(ref.desc.size, img.manifest_len);
	store_ref_release(&ref);

	/* again: nothing copied, up to date */
	assert_ok(img_fetch(s, src, &o, &r, &err), err);
	assert_int_equal(r.blobs_fetched, 0);
	assert_int_equal(r.bytes_fetched, 0);
	assert_true(r.up_to_date);
	img_fetch_result_release(&r);

	/* under another name: nothing copied, but not up to date */
	o.name = "example.org/x";
	assert_ok(img_fetch(s, src, &o, &r, &err), err);
	assert_string_equal(r.name, "example.org/x:latest");
	assert_int_equal(r.blobs_fetched, 0);
	assert_false(r.up_to_date);
	img_fetch_result_release(&r);
	tdir_pass(state);
}

/* The name an image gets: from the layout's ref when it is a reference,
 * else localhost/<file name>:<ref or latest>. */
static void test_fetch_names(void **state)
{
	static const struct {
		const char *dir, *ann, *src_ref, *want;
	} cases[] = {
		{ "layout", "example.com/a/b:2", "example.com/a/b:2", "example.com/a/b:2" },
		{ "layout", "alpine:3.19", "alpine:3.19", "docker.io/library/alpine:3.19" },
		{ "Some_Dir.v2", "t", "t", "localhost/some_dir:t" },
		{ "x y", "t", NULL, "localhost/x-y:t" },
		{ "unnamed", NULL, NULL, "localhost/unnamed:latest" },
		{ "__", "t", "t", "localhost/image:t" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *sub = xasprintf("%zu", i);
		_cleanup_free_ char *d = tpath(state, sub);
		_cleanup_free_ char *dir = xasprintf("%s/%s", d, cases[i].dir);
		_cleanup_store_ struct store *s = open_store(state);
		struct ckt_err err = CKT_ERR_INIT;
		struct img_fetch_opts o = { 0 };
		struct img_fetch_result r;
		struct image img;

		make_layout(dir, cases[i].ann, NULL, &img);
		_cleanup_free_ char *src = cases[i].src_ref ?
			xasprintf("oci:%s:%s", dir, cases[i].src_ref) : xasprintf("oci:%s", dir);
		assert_ok(img_fetch(s, src, &o, &r, &err), err);
		if (strcmp(r.name, cases[i].want))
			fail_msg("'%s': named '%s', want '%s'", src, r.name, cases[i].want);
		img_fetch_result_release(&r);
	}
	tdir_pass(state);
}

/* Fetching oci:DIR:REF fails with code, the error names the source and
 * contains needle, and the store is left empty. */
static void fetch_refused(void **state, const char *dir, const char *ref, enum ckt_errcode code,
			  const char *needle)
{
	_cleanup_store_ struct store *s = open_store(state);
	struct ckt_err err = CKT_ERR_INIT;
	struct img_fetch_opts o = { 0 };
	struct img_fetch_result r;
	char buf[2048];

	_cleanup_free_ char *src = xasprintf("oci:%s:%s", dir, ref);
	assert_err(img_fetch(s, src, &o, &r, &err), err, code);
	assert_contains(ckt_err_str(&err, buf, sizeof(buf)), needle);
	assert_contains(err.what, src);
	assert_store_empty(s);
}

static void test_fetch_corrupt_layer(void **state)
{
	_cleanup_free_ char *dir = tpath(state, "layout");
	struct image img;

	make_layout(dir, "v1", NULL, &img);
	_cleanup_free_ char *lp = blob_path(dir, img.layer);
	write_file(lp, "not really a tar, but fetch does not CARE", img.layer_len);
	_cleanup_free_ char *want = xasprintf("blob %s does not match its digest", img.layer);
	fetch_refused(state, dir, "v1", CKT_EVERIFY, want);
	tdir_pass(state);
}

static void test_fetch_wrong_sizes(void **state)
{
	static const int64_t deltas[] = { 1, -1, 1 << 30 };
	for (size_t i = 0; i < ARRAY_SIZE(deltas); i++) {
		_cleanup_free_ char *sub = xasprintf("layout%zu", i);
		_cleanup_free_ char *dir = tpath(state, sub);
		struct tweak tw = { .layer_size_delta = deltas[i] };
		struct image img;

		make_layout(dir, "v1", &tw, &img);
		fetch_refused(state, dir, "v1", CKT_EVERIFY, img.layer);
	}
	tdir_pass(state);
}

static void test_fetch_missing_blob(void **state)
{
	_cleanup_free_ char *dir = tpath(state, "layout");
	struct image img;

	make_layout(dir, "v1", NULL, &img);
	_cleanup_free_ char *lp = blob_path(dir, img.layer);
	assert_int_equal(unlink(lp), 0);
	fetch_refused(state, dir, "v1", CKT_ENOTFOUND, img.layer);
	fetch_refused(state, dir, "v2", CKT_ENOTFOUND, "no image named 'v2'");
	tdir_pass(state);
}

static void test_fetch_diff_id_count(void **state)
{
	_cleanup_free_ char *dir = tpath(state, "layout");
	struct tweak tw = { .extra_diff_ids = 1 };
	struct image img;

	make_layout(dir, "v1", &tw, &img);
	fetch_refused(state, dir, "v1", CKT_EFORMAT, "lists 1 layers but its config 2 diff_ids");
	tdir_pass(state);
}

/* Hostile index.json and manifests: each refused as CKT_EFORMAT. */
static void test_fetch_hostile_json(void **state)
{
	static const struct {
		const char *index, *needle;
	} cases[] = {
		{ "", "parse" },
		{ "[]", "not a JSON object" },
		{ "{\"schemaVersion\":2,\"manifests\":{}}", "'manifests' is not an array" },
		{ "{\"schemaVersion\":2,\"manifests\":[{\"digest\":7,\"size\":1}]}",
		  "'digest' is not a string" },
		{ "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:abc\",\"size\":1}]}",
		  "invalid digest" },
		{ "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha1:"
		  "0000000000000000000000000000000000000000\",\"size\":1}]}", "sha1" },
		{ "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\","
		  "\"digest\":\"" ZERO256 "\","
		  "\"size\":99999999999999}]}", "exceeds the limit" },
		{ "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\","
		  "\"digest\":\"" ZERO256 "\","
		  "\"size\":\"12\"}]}", "'size' is not an integer" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *sub = xasprintf("layout%zu", i);
		_cleanup_free_ char *dir = tpath(state, sub);
		struct image img;
		make_layout(dir, NULL, NULL, &img);
		_cleanup_free_ char *ij = xasprintf("%s/index.json", dir);
		write_file(ij, cases[i].index, strlen(cases[i].index));
		_cleanup_store_ struct store *s = open_store(state);
		struct ckt_err err = CKT_ERR_INIT;
		struct img_fetch_opts o = { 0 };
		struct img_fetch_result r;
		char buf[2048];
		_cleanup_free_ char *src = xasprintf("oci:%s", dir);
		int ret = img_fetch(s, src, &o, &r, &err);
		if (ret >= 0 || err.code != CKT_EFORMAT || !strstr(ckt_err_str(&err, buf, sizeof(buf)),
								     cases[i].needle))
			fail_msg("index.json '%s': r=%d code=%d '%s', want '%s'", cases[i].index, ret,
				 (int)err.code, buf, cases[i].needle);
		assert_store_empty(s);
	}
	tdir_pass(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_parse),
		cmocka_unit_test(test_verify_buf),
		TDIR_TEST(test_fetch_layout),
		TDIR_TEST(test_fetch_names),
		TDIR_TEST(test_fetch_corrupt_layer),
		TDIR_TEST(test_fetch_wrong_sizes),
		TDIR_TEST(test_fetch_missing_blob),
		TDIR_TEST(test_fetch_diff_id_count),
		TDIR_TEST(test_fetch_hostile_json),
	};
	ckt_log_set(NULL, NULL, CKT_LOG_ERROR);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
