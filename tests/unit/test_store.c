/* Unit tests for store/: layout, blobs, refs, gc, fsck, concurrency.
 * Each test runs in its own temporary directory (kept when it fails). */
#include "tests/unit/unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "store/store.h"

#define INDEX_MT "application/vnd.oci.image.index.v1+json"
#define MANIFEST_MT "application/vnd.oci.image.manifest.v1+json"

/* ---- helpers ----------------------------------------------------------- */

static char *store_dir(void **state)
{
	return tpath(state, "store");
}

static struct store *open_ok(void **state, unsigned flags)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *root = store_dir(state);
	struct store *s = store_open(root, flags, &err);
	if (!s)
		assert_ok(-1, err);
	return s;
}

static char *spath_root(const char *root, const char *name)
{
	return xasprintf("%s/%s", root, name);
}

static char *spath(struct store *s, const char *name)
{
	return xasprintf("%s/%s", store_root(s), name);
}

static char *slurp(const char *path)
{
	struct ckt_err err = CKT_ERR_INIT;
	char *data = NULL;
	size_t len;
	assert_ok(ckt_read_file(path, 1 << 24, &data, &len, &err), err);
	return data;
}

static void spew(const char *path, const char *data)
{
	struct ckt_err err = CKT_ERR_INIT;
	assert_ok(ckt_write_file_atomic(path, data, strlen(data), 0644, &err), err);
}

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

static size_t count_in(struct store *s, const char *sub)
{
	_cleanup_free_ char *p = spath(s, sub);
	return count_entries(p);
}

static void put(struct store *s, const char *data, char out[STORE_DIGEST_MAX])
{
	struct ckt_err err = CKT_ERR_INIT;
	assert_ok(store_blob_put(s, data, strlen(data), NULL, out, &err), err);
}

static void set_ref(struct store *s, const char *name, const char *digest)
{
	struct ckt_err err = CKT_ERR_INIT;
	struct store_desc d = { (char *)MANIFEST_MT, "", -1 };
	snprintf(d.digest, sizeof(d.digest), "%s", digest);
	assert_ok(store_ref_set(s, name, &d, &err), err);
}

static json_t *load_json(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		fail_msg("%s:%d:%d: %s", path, je.line, je.column, je.text);
	return j;
}

/* The walk used by gc and fsck tests: a blob whose content starts with
 * "children:" lists child digests, each optionally "=<size>"; the token
 * "!fail" makes the walk fail.  *data, when not NULL, counts calls. */
static int test_walk(struct store *s, const struct store_desc *d, struct store_desc **children,
		     size_t *n, void *data, struct ckt_err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len, alloc = 0;
	char *save = NULL;

	if (data)
		(*(int *)data)++;
	if (store_blob_read(s, d->digest, 1 << 20, &buf, &len, err) < 0)
		return -1;
	if (strncmp(buf, "children:", 9))
		return 0;
	for (char *t = strtok_r(buf + 9, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
		if (!strcmp(t, "!fail")) {
			store_descs_free(*children, *n);
			*children = NULL;
			*n = 0;
			return ckt_err_fail(err, CKT_EFORMAT, "walk refused %s", d->digest);
		}
		ALLOC_GROW(*children, *n + 1, alloc);
		struct store_desc *c = &(*children)[(*n)++];
		char *eq = strchr(t, '=');
		c->media_type = NULL;
		c->size = eq ? strtoll(eq + 1, NULL, 10) : -1;
		if (eq)
			*eq = '\0';
		snprintf(c->digest, sizeof(c->digest), "%s", t);
	}
	return 0;
}

struct problems {
	char *v[64];
	size_t n;
};

static void collect(const char *problem, void *data)
{
	struct problems *p = data;
	if (p->n < ARRAY_SIZE(p->v))
		p->v[p->n++] = xstrdup(problem);
}

static void problems_release(struct problems *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	p->n = 0;
}

static bool has_problem(const struct problems *p, const char *needle)
{
	for (size_t i = 0; i < p->n; i++) {
		if (strstr(p->v[i], needle))
			return true;
	}
	for (size_t i = 0; i < p->n; i++)
		print_message("# problem: %s\n", p->v[i]);
	print_message("# no problem mentions '%s'\n", needle);
	return false;
}

static size_t fsck_count(struct store *s, struct problems *p)
{
	struct ckt_err err = CKT_ERR_INIT;
	size_t n = 99;
	assert_ok(store_fsck(s, test_walk, NULL, collect, p, &n, &err), err);
	assert_int_equal(n, p->n);
	return n;
}

/* ---- opening ----------------------------------------------------------- */

static void test_create_open_reopen(void **state)
{
	_cleanup_free_ char *root = store_dir(state);
	_cleanup_store_ struct store *s = open_ok(state, 0);
	struct stat st;

	assert_string_equal(store_root(s), root);
	{
		_cleanup_free_ char *p = spath(s, "oci-layout");
		json_t *j = load_json(p);
		assert_string_equal(json_string_value(json_object_get(j, "imageLayoutVersion")),
				    "1.0.0");
		json_decref(j);
	}
	_cleanup_free_ char *index = spath(s, "index.json");
	_cleanup_free_ char *text = slurp(index);
	json_t *j = load_json(index);
	assert_int_equal(json_integer_value(json_object_get(j, "schemaVersion")), 2);
	assert_string_equal(json_string_value(json_object_get(j, "mediaType")), INDEX_MT);
	assert_true(json_is_array(json_object_get(j, "manifests")));
	assert_int_equal(json_array_size(json_object_get(j, "manifests")), 0);
	json_decref(j);
	static const char *const dirs[] = { "blobs", "blobs/sha256", "tmp" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *p = spath(s, dirs[i]);
		assert_int_equal(stat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
	}
	_cleanup_free_ char *lock = spath(s, "lock");
	assert_int_equal(stat(lock, &st), 0);

	/* The shared lock is held: an exclusive one cannot be had meanwhile. */
	_cleanup_close_ int fd = open(lock, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_int_equal(flock(fd, LOCK_SH | LOCK_NB), 0);
	flock(fd, LOCK_UN);

	/* Reopening, even twice at once and read-only, changes nothing. */
	_cleanup_store_ struct store *s2 = open_ok(state, 0);
	_cleanup_store_ struct store *s3 = open_ok(state, STORE_READONLY);
	_cleanup_free_ char *text2 = slurp(index);
	assert_string_equal(text, text2);
	store_free(s);
	store_free(s2);
	store_free(s3);
	s = s2 = s3 = NULL;
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0); /* store_free dropped the locks */
	flock(fd, LOCK_UN);
	_cleanup_store_ struct store *s4 = open_ok(state, STORE_EXCLUSIVE);
	tdir_pass(state);
}

static void test_open_readonly(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *root = store_dir(state);
	_cleanup_free_ char *dir = tpath(state, "");
	char digest[STORE_DIGEST_MAX];

	/* Missing or empty: not found, and nothing is created. */
	assert_null(store_open(root, STORE_READONLY, &err));
	assert_int_equal(err.code, CKT_ENOTFOUND);
	assert_int_equal(count_entries(dir), 0);
	assert_int_equal(mkdir(root, 0755), 0);
	assert_null(store_open(root, STORE_READONLY, &err));
	assert_int_equal(err.code, CKT_ENOTFOUND);
	assert_int_equal(count_entries(root), 0);

	{
		_cleanup_store_ struct store *w = open_ok(state, 0);
		put(w, "data", digest);
		set_ref(w, "r", digest);
	}
	_cleanup_store_ struct store *s = open_ok(state, STORE_READONLY);
	struct store_ref ref;
	assert_ok(store_ref_get(s, "r", &ref, &err), err);
	assert_string_equal(ref.desc.digest, digest);
	store_ref_release(&ref);
	_cleanup_free_ char *data = NULL;
	size_t len;
	assert_ok(store_blob_read(s, digest, 100, &data, &len, &err), err);

	/* Nothing may be modified through it. */
	assert_null(store_writer_new(s, NULL, -1, &err));
	assert_int_equal(err.code, CKT_EUSAGE);
	assert_err(store_blob_put(s, "x", 1, NULL, NULL, &err), err, CKT_EUSAGE);
	struct store_desc d = { NULL, "", -1 };
	memcpy(d.digest, digest, sizeof(digest));
	assert_err(store_ref_set(s, "x", &d, &err), err, CKT_EUSAGE);
	assert_err(store_ref_remove(s, "r", &err), err, CKT_EUSAGE);
	assert_err(store_gc(s, test_walk, NULL, NULL, &err), err, CKT_EUSAGE);

	/* A layout from another tool has no lock file: it is read unlocked. */
	store_free(TAKE_PTR(s));
	_cleanup_free_ char *lock = spath_root(root, "lock");
	assert_int_equal(unlink(lock), 0);
	s = open_ok(state, STORE_READONLY);
	assert_int_equal(access(lock, F_OK), -1);
	assert_true(store_blob_exists(s, digest));
	tdir_pass(state);
}

static void test_open_refuses_non_layout(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *root = store_dir(state);
	_cleanup_free_ char *other = spath_root(root, "precious");
	_cleanup_free_ char *layout = spath_root(root, "oci-layout");

	assert_int_equal(mkdir(root, 0755), 0);
	spew(other, "do not touch");
	for (unsigned flags = 0; flags <= STORE_READONLY; flags += STORE_READONLY) {
		assert_null(store_open(root, flags, &err));
		assert_int_equal(err.code, CKT_EFORMAT);
		assert_contains(err.what, root);
		assert_int_equal(count_entries(root), 1); /* nothing was added */
	}

	/* A wrong or broken oci-layout is refused too. */
	static const char *const bad[] = {
		"{\"imageLayoutVersion\": \"2.0.0\"}", "{\"imageLayoutVersion\": 1}", "[]", "{", "",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		spew(layout, bad[i]);
		assert_null(store_open(root, 0, &err));
		assert_int_equal(err.code, CKT_EFORMAT);
	}

	/* A regular file is no store. */
	assert_null(store_open(other, 0, &err));
	assert_true(err.code == CKT_EIO);
	tdir_pass(state);
}

static void test_open_completes_layout(void **state)
{
	_cleanup_free_ char *root = store_dir(state);
	_cleanup_free_ char *layout = spath_root(root, "oci-layout");
	_cleanup_free_ char *index = spath_root(root, "index.json");
	_cleanup_free_ char *stale = spath_root(root, ".oci-layout.tmp-AbCdEf");
	const char *foreign = "{\"schemaVersion\":2,\"manifests\":[],\"x-other\":true}";

	/* A crashed creation's temporary does not make the directory foreign. */
	assert_int_equal(mkdir(root, 0755), 0);
	spew(stale, "{\"imageLayo");
	{
		_cleanup_store_ struct store *s = open_ok(state, 0);
		assert_true(count_in(s, "blobs/sha256") == 0);
	}

	/* A layout written by another tool (no lock, no tmp/) gets completed
	 * without its index.json being touched. */
	struct ckt_err err = CKT_ERR_INIT;
	assert_ok(ckt_rm_rf(root, &err), err);
	assert_int_equal(mkdir(root, 0755), 0);
	spew(layout, "{\"imageLayoutVersion\": \"1.0.0\"}");
	spew(index, foreign);
	_cleanup_store_ struct store *s = open_ok(state, 0);
	_cleanup_free_ char *text = slurp(index);
	assert_string_equal(text, foreign);
	assert_int_equal(count_in(s, "tmp"), 0);
	_cleanup_free_ char *lock = spath(s, "lock");
	assert_int_equal(access(lock, F_OK), 0);
	tdir_pass(state);
}

/* ---- blobs ------------------------------------------------------------- */

static void test_writer_commit(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_store_ struct store *s = open_ok(state, 0);
	const char *msg = "hello, store";
	char want[STORE_DIGEST_MAX], got[STORE_DIGEST_MAX];

	store_digest_buf(STORE_DIGEST_SHA256, msg, strlen(msg), want);
	{
		_cleanup_store_writer_ struct store_writer *w =
			store_writer_new(s, want, (int64_t)strlen(msg), &err);
		assert_non_null(w);
		store_writer_digest(w, got);
		assert_string_equal(got, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
		assert_ok(store_writer_write(w, msg, 5, &err), err);
		assert_ok(store_writer_write(w, msg + 5, 0, &err), err);
		assert_ok(store_writer_write(w, msg + 5, strlen(msg) - 5, &err), err);
		assert_int_equal(store_writer_size(w), strlen(msg));
		store_writer_digest(w, got); /* a peek: commit still works after it */
		assert_string_equal(got, want);
		assert_int_equal(count_in(s, "tmp"), 1);
		assert_false(store_blob_exists(s, want));
		assert_ok(store_writer_commit(w, got, &err), err);
		assert_string_equal(got, want);
	}
	assert_int_equal(count_in(s, "tmp"), 0);
	assert_true(store_blob_exists(s, want));
	_cleanup_free_ char *path = store_blob_path(s, want);
	_cleanup_free_ char *expect_path =
		xasprintf("%s/blobs/sha256/%s", store_root(s), want + strlen("sha256:"));
	assert_string_equal(path, expect_path);
	_cleanup_free_ char *content = slurp(path);
	assert_string_equal(content, msg);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	_cleanup_close_ int fd = store_blob_open(s, want, &err);
	assert_ok(fd, err);

	/* Same content again, unnamed: already there, still a success. */
	put(s, msg, got);
	assert_string_equal(got, want);
	assert_int_equal(count_in(s, "tmp"), 0);
	assert_int_equal(count_in(s, "blobs/sha256"), 1);

	/* A sha512 digest creates blobs/sha512 on demand. */
	char want512[STORE_DIGEST_MAX];
	store_digest_buf(STORE_DIGEST_SHA512, msg, strlen(msg), want512);
	assert_ok(store_blob_put(s, msg, strlen(msg), want512, got, &err), err);
	assert_string_equal(got, want512);
	assert_true(store_blob_exists(s, want512));
	assert_int_equal(count_in(s, "blobs/sha512"), 1);

	/* The empty blob is a blob. */
	put(s, "", got);
	assert_string_equal(got, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	tdir_pass(state);
}

static void test_writer_wrong_digest(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_store_ struct store *s = open_ok(state, 0);
	char want[STORE_DIGEST_MAX], actual[STORE_DIGEST_MAX], out[STORE_DIGEST_MAX] = "";

	store_digest_buf(STORE_DIGEST_SHA256, "abc", 3, want);
	store_digest_buf(STORE_DIGEST_SHA256, "abd", 3, actual);
	_cleanup_store_writer_ struct store_writer *w = store_writer_new(s, want, 3, &err);
	assert_non_null(w);
	assert_ok(store_writer_write(w, "abd", 3, &err), err);
	assert_err(store_writer_commit(w, out, &err), err, CKT_EVERIFY);
	assert_contains(err.what, want);
	assert_contains(err.what, "does not match its digest");
	assert_contains(err.why, "content hashes to");
	assert_contains(err.why, actual);
	assert_string_equal(out, "");
	assert_int_equal(count_in(s, "tmp"), 0); /* removed at once, before the free */
	assert_int_equal(count_in(s, "blobs/sha256"), 0);
	assert_false(store_blob_exists(s, want));
	assert_false(store_blob_exists(s, actual));

	/* The same through blob_put. */
	assert_err(store_blob_put(s, "abd", 3, want, NULL, &err), err, CKT_EVERIFY);
	assert_int_equal(count_in(s, "tmp"), 0);
	assert_int_equal(count_in(s, "blobs/sha256"), 0);
	tdir_pass(state);
}

static void test_writer_sizes(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_store_ struct store *s = open_ok(state, 0);

	{
		_cleanup_store_writer_ struct store_writer *w = store_writer_new(s, NULL, 4, &err);
		assert_non_null(w);
		assert_ok(store_writer_write(w, "abc", 3, &err), err);
		/* Refused before anything is written. */
		assert_err(store_writer_write(w, "de", 2, &err), err, CKT_EVERIFY);
		assert_contains(err.what, "larger than the 4 bytes expected");
		assert_int_equal(store_writer_size(w), 3);
		_cleanup_free_ char *tmpdir = spath(s, "tmp");
		_cleanup_closedir_ DIR *d = opendir(tmpdir);
		struct dirent *de;
		struct stat st = { 0 };
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				assert_int_equal(fstatat(dirfd(d), de->d_name, &st, 0), 0);
		assert_int_equal(st.st_size, 3);
		/* Short of the expected size: refused at commit. */
		assert_err(store_writer_commit(w, NULL, &err), err, CKT_EVERIFY);
		assert_contains(err.what, "has 3 bytes, expected 4");
	}
	assert_int_equal(count_in(s, "tmp"), 0);
	assert_int_equal(count_in(s, "blobs/sha256"), 0);

	/* A huge expected size is only a limit. */
	{
		_cleanup_store_writer_ struct store_writer *w = store_writer_new(s, NULL, INT64_MAX, &err);
		assert_non_null(w);
		assert_ok(store_writer_write(w, "abc", 3, &err), err);
		assert_err(store_writer_commit(w, NULL, &err), err, CKT_EVERIFY);
	}
	/* A size of zero allows only the empty blob. */
	{
		_cleanup_store_writer_ struct store_writer *w = store_writer_new(s, NULL, 0, &err);
		assert_err(store_writer_write(w, "a", 1, &err), err, CKT_EVERIFY);
		assert_ok(store_writer_commit(w, NULL, &err), err);
	}
	/* Nonsense arguments. */
	assert_null(store_writer_new(s, NULL, -2, &err));
	assert_int_equal(err.code, CKT_EFORMAT);
	assert_null(store_writer_new(s, "sha256:abc", -1, &err));
	assert_int_equal(err.code, CKT_EFORMAT);
	assert_null(store_writer_new(s, "md5:d41d8cd98f00b204e9800998ecf8427e", -1, &err));
	assert_int_equal(err.code, CKT_EFORMAT);
	assert_int_equal(count_in(s, "tmp"), 0);
	tdir_pass(state);
}

static void test_writer_free_uncommitted(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_store_ struct store *s = open_ok(state, 0);
	char big[1 << 16];

	memset(big, 'x', sizeof(big));
	struct store_writer *w = store_writer_new(s, NULL, -1, &err);
	assert_non_null(w);
	for (int i = 0; i < 32; i++)
		assert_ok(store_writer_write(w, big, sizeof(big), &err), err);
	assert_int_equal(store_writer_size(w), 32 * sizeof(big));
	assert_int_equal(count_in(s, "tmp"), 1);
	store_writer_free(w);
	store_writer_free(NULL);
	assert_int_equal(count_in(s, "tmp"), 0);
	assert_int_equal(count_in(s, "blobs/sha256"), 0);
	tdir_pass(state);
}

static void test_blob_read_verify(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_store_ struct store *s = open_ok(state, 0);
	char digest[STORE_DIGEST_MAX];
	char *data = NULL;
	size_t len = 0;

	put(s, "original content", digest);
	assert_ok(store_blob_read(s, digest, 100, &data, &len, &err), err);
	assert_int_equal(len, 16);
	assert_string_equal(data, "original content");
	free(data);
	data = NULL;

	assert_err(store_blob_read(s, digest, 15, &data, &len, &err), err, CKT_EFORMAT);
	assert_null(data);

	/* Corrupt it by hand. */
	_cleanup_free_ char *path = store_blob_path(s, digest);
	spew(path, "tampered content");
	assert_err(store_blob_read(s, digest, 100, &data, &len, &err), err, CKT_EVERIFY);
	assert_contains(err.what, digest);
	assert_contains(err.why, "content hashes to sha256:");
	assert_null(data);

	/* Missing, invalid, hostile digests. */
	char missing[STORE_DIGEST_MAX];
	store_digest_buf(STORE_DIGEST_SHA256, "nope", 4, missing);
	assert_err(store_blob_read(s, missing, 100, &data, &len, &err), err, CKT_ENOTFOUND);
	assert_err(store_blob_open(s, missing, &err), err, CKT_ENOTFOUND);
	assert_false(store_blob_exists(s, missing));
	static const char *const bad[] = { "sha256:../../oci-layout", "", "sha256:", "lock" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_err(store_blob_read(s, bad[i], 100, &data, &len, &err), err, CKT_EFORMAT);
		assert_err(store_blob_open(s, bad[i], &err), err, CKT_EFORMAT);
		assert_false(store_blob_exists(s, bad[i]));
	}
	tdir_pass(state);
}

/* ---- refs -------------------------------------------------------------- */

static void test_refs(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_store_ struct store *s = open_ok(state, 0);
	char a[STORE_DIGEST_MAX], b[STORE_DIGEST_MAX];
	struct store_ref r;
	struct store_ref *refs = NULL;
	size_t n = 0;

	put(s, "blob a", a);
	put(s, "blob bb", b);
	assert_ok(store_ref_list(s, &refs, &n, &err), err);
	assert_int_equal(n, 0);
	store_refs_free(refs, n);

	set_ref(s, "docker.io/library/alpine:latest", a);
	set_ref(s, "other", b);
	assert_ok(store_ref_get(s, "docker.io/library/alpine:latest", &r, &err), err);
	assert_string_equal(r.name, "docker.io/library/alpine:latest");
	assert_string_equal(r.desc.digest, a);
	assert_int_equal(r.desc.size, 6); /* filled in from the blob */
	assert_string_equal(r.desc.media_type, MANIFEST_MT);
	store_ref_release(&r);
	store_ref_release(&r); /* safe twice */

	/* Replacing keeps one entry, in its place. */
	set_ref(s, "docker.io/library/alpine:latest", b);
	assert_ok(store_ref_list(s, &refs, &n, &err), err);
	assert_int_equal(n, 2);
	assert_string_equal(refs[0].name, "docker.io/library/alpine:latest");
	assert_string_equal(refs[0].desc.digest, b);
	assert_int_equal(refs[0].desc.size, 7);
	assert_string_equal(refs[1].name, "other");
	store_refs_free(refs, n);

	/* The written entry is the OCI descriptor with the ref.name annotation. */
	_cleanup_free_ char *index = spath(s, "index.json");
	json_t *j = load_json(index);
	json_t *e = json_array_get(json_object_get(j, "manifests"), 0);
	json_t *want = json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType", MANIFEST_MT, "digest", b,
				 "size", (json_int_t)7, "annotations", STORE_REF_NAME_ANNOTATION,
				 "docker.io/library/alpine:latest");
	assert_true(json_equal(e, want));
	json_decref(want);
	json_decref(j);

	/* A descriptor without media type is written without one. */
	struct store_desc d = { NULL, "", 7 };
	memcpy(d.digest, b, sizeof(b));
	assert_ok(store_ref_set(s, "plain", &d, &err), err);
	assert_ok(store_ref_get(s, "plain", &r, &err), err);
	assert_null(r.desc.media_type);
	store_ref_release(&r);

	assert_ok(store_ref_remove(s, "docker.io/library/alpine:latest", &err), err);
	assert_err(store_ref_remove(s, "docker.io/library/alpine:latest", &err), err,
		   CKT_ENOTFOUND);
	assert_err(store_ref_get(s, "docker.io/library/alpine:latest", &r, &err), err,
		   CKT_ENOTFOUND);
	assert_contains(err.what, "'docker.io/library/alpine:latest'");
	assert_ok(store_ref_list(s, &refs, &n, &err), err);
	assert_int_equal(n, 2);
	store_refs_free(refs, n);

	/* Refused: a missing blob, a wrong or huge size, a bad digest, no name. */
	char missing[STORE_DIGEST_MAX];
	store_digest_buf(STORE_DIGEST_SHA256, "absent", 6, missing);
	memcpy(d.digest, missing, sizeof(missing));
	d.size = -1;
	assert_err(store_ref_set(s, "x", &d, &err), err, CKT_ENOTFOUND);
	memcpy(d.digest, a, sizeof(a));
	d.size = 5;
	assert_err(store_ref_set(s, "x", &d, &err), err, CKT_EVERIFY);
	d.size = INT64_MAX;
	assert_err(store_ref_set(s, "x", &d, &err), err, CKT_EVERIFY);
	d.size = -1;
	assert_err(store_ref_set(s, "", &d, &err), err, CKT_EUSAGE);
	assert_err(store_ref_set(s, "bad\xff utf8", &d, &err), err, CKT_EFORMAT);
	snprintf(d.digest, sizeof(d.digest), "sha256:../../x");
	assert_err(store_ref_set(s, "x", &d, &err), err, CKT_EFORMAT);
	assert_err(store_ref_get(s, "x", &r, &err), err, CKT_ENOTFOUND);
	tdir_pass(state);
}

static void test_refs_preserve_unknown(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_store_ struct store *s = open_ok(state, 0);
	char a[STORE_DIGEST_MAX], b[STORE_DIGEST_MAX];

	put(s, "blob a", a);
	put(s, "blob bb", b);
	_cleanup_free_ char *index = spath(s, "index.json");
	_cleanup_free_ char *text = xasprintf(
		"{\"schemaVersion\": 2, \"manifests\": ["
		"{\"mediaType\": \"m\", \"digest\": \"%s\", \"size\": 6,"
		" \"platform\": {\"os\": \"linux\", \"architecture\": \"arm64\"}},"
		"{\"mediaType\": \"m\", \"digest\": \"%s\", \"size\": 6, \"urls\": [\"u\"],"
		" \"annotations\": {\"" STORE_REF_NAME_ANNOTATION "\": \"x\", \"org.example\": \"1\"}},"
		"{\"mediaType\": \"m\", \"digest\": \"%s\", \"size\": 6,"
		" \"annotations\": {\"" STORE_REF_NAME_ANNOTATION "\": \"y\"}},"
		"{\"mediaType\": \"m\", \"digest\": \"%s\", \"size\": 6,"
		" \"annotations\": {\"" STORE_REF_NAME_ANNOTATION "\": \"y\"}}"
		"], \"annotations\": {\"top\": \"level\"}, \"x-extra\": [1, 2.5, null]}",
		a, a, a, a);
	spew(index, text);
	json_t *before = load_json(index);

	set_ref(s, "y", b);   /* replaces the first "y", drops the duplicate */
	set_ref(s, "new", a); /* appended */

	json_t *after = load_json(index);
	json_t *mb = json_object_get(before, "manifests"), *ma = json_object_get(after, "manifests");
	assert_int_equal(json_array_size(ma), 4);
	assert_true(json_equal(json_array_get(ma, 0), json_array_get(mb, 0)));
	assert_true(json_equal(json_array_get(ma, 1), json_array_get(mb, 1)));
	assert_string_equal(json_string_value(json_object_get(json_array_get(ma, 2), "digest")), b);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(ma, 3), "annotations"),
				    STORE_REF_NAME_ANNOTATION)),
			    "new");
	assert_true(json_equal(json_object_get(after, "annotations"),
			       json_object_get(before, "annotations")));
	assert_true(json_equal(json_object_get(after, "x-extra"), json_object_get(before, "x-extra")));
	/* Key order is kept. */
	const char *first = json_object_iter_key(json_object_iter(after));
	assert_string_equal(first, "schemaVersion");
	json_decref(before);
	json_decref(after);

	/* The unnamed entry is listed with a NULL name. */
	struct store_ref *refs;
	size_t n;
	assert_ok(store_ref_list(s, &refs, &n, &err), err);
	assert_int_equal(n, 4);
	assert_null(refs[0].name);
	assert_string_equal(refs[1].name, "x");
	store_refs_free(refs, n);

	/* Removing drops every entry of that name and nothing else. */
	assert_ok(store_ref_remove(s, "x", &err), err);
	after = load_json(index);
	assert_int_equal(json_array_size(json_object_get(after, "manifests")), 3);
	json_decref(after);
	tdir_pass(state);
}

static void test_index_malformed(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_store_ struct store *s = open_ok(state, 0);
	_cleanup_free_ char *index = spath(s, "index.json");
	char a[STORE_DIGEST_MAX];
	struct store_ref r;
	struct store_ref *refs;
	size_t n;
	static const char *const bad[] = {
		"{\"schemaVersion\": 2,\n \"manifests\": [",
		"[]",
		"{\"manifests\": {}}",
		"{\"schemaVersion\": 2}",
		"",
		"{\"manifests\": [{\"size\": 99999999999999999999999}]}",
	};

	put(s, "a", a);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		spew(index, bad[i]);
		assert_err(store_ref_get(s, "r", &r, &err), err, CKT_EFORMAT);
		assert_err(store_ref_list(s, &refs, &n, &err), err, CKT_EFORMAT);
		struct store_desc d = { NULL, "", -1 };
		memcpy(d.digest, a, sizeof(a));
		assert_err(store_ref_set(s, "r", &d, &err), err, CKT_EFORMAT);
		_cleanup_free_ char *text = slurp(index);
		assert_string_equal(text, bad[i]); /* untouched */
	}
	/* jansson's position is in the message. */
	spew(index, bad[0]);
	assert_err(store_ref_get(s, "r", &r, &err), err, CKT_EFORMAT);
	assert_contains(err.why, "line 2");
	assert_contains(err.what, "index.json");

	/* A store whose index.json vanished starts a new one on the next set. */
	assert_int_equal(unlink(index), 0);
	assert_err(store_ref_get(s, "r", &r, &err), err, CKT_ENOTFOUND);
	set_ref(s, "r", a);
	assert_ok(store_ref_get(s, "r", &r, &err), err);
	store_ref_release(&r);
	tdir_pass(state);
}

static void test_index_hostile_entries(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_store_ struct store *s = open_ok(state, 0);
	_cleanup_free_ char *index = spath(s, "index.json");
	char a[STORE_DIGEST_MAX];
	struct store_ref r;
	struct store_ref *refs;
	size_t n;

	put(s, "good", a);
	_cleanup_free_ char *text = xasprintf(
		"{\"schemaVersion\": 2, \"manifests\": ["
		"{\"digest\": \"%s\", \"size\": 4, \"annotations\": {\"" STORE_REF_NAME_ANNOTATION
		"\": \"good\"}},"
		"{\"digest\": \"sha256:../../../etc/passwd\", \"size\": 4,"
		" \"annotations\": {\"" STORE_REF_NAME_ANNOTATION "\": \"bad-digest\"}},"
		"{\"digest\": \"%s\", \"size\": -4,"
		" \"annotations\": {\"" STORE_REF_NAME_ANNOTATION "\": \"neg-size\"}},"
		"{\"digest\": \"%s\", \"size\": \"4\"},"
		"{\"digest\": \"%s\", \"size\": 9223372036854775807,"
		" \"annotations\": {\"" STORE_REF_NAME_ANNOTATION "\": \"huge\"}},"
		"{\"digest\": \"%s\", \"size\": 1e300},"
		"{\"digest\": \"%s\", \"size\": 4, \"annotations\": {\"" STORE_REF_NAME_ANNOTATION
		"\": 7}},"
		"{\"digest\": \"%s\", \"size\": 4, \"annotations\": \"str\"},"
		"{\"digest\": \"%s\", \"size\": 4, \"mediaType\": {}},"
		"{\"size\": 4},"
		"{\"digest\": 5, \"size\": 4},"
		"42, null, \"x\", []"
		"]}",
		a, a, a, a, a, a, a, a);
	spew(index, text);

	/* The good ref is still usable; the broken ones are refused. */
	assert_ok(store_ref_get(s, "good", &r, &err), err);
	store_ref_release(&r);
	assert_err(store_ref_get(s, "bad-digest", &r, &err), err, CKT_EFORMAT);
	assert_err(store_ref_get(s, "neg-size", &r, &err), err, CKT_EFORMAT);
	assert_err(store_ref_list(s, &refs, &n, &err), err, CKT_EFORMAT);
	assert_ok(store_ref_get(s, "huge", &r, &err), err); /* well-formed, but wrong: fsck */
	store_ref_release(&r);

	/* fsck reports each, without crashing. */
	struct problems p = { 0 };
	assert_int_equal(fsck_count(s, &p), 14);
	assert_true(has_problem(&p, "invalid digest 'sha256:../../../etc/passwd'"));
	assert_true(has_problem(&p, "ref 'huge' gives blob"));
	assert_true(has_problem(&p, "index.json entry 11"));
	problems_release(&p);

	/* gc cannot know what they protect: it refuses and removes nothing. */
	char orphan[STORE_DIGEST_MAX];
	put(s, "orphan", orphan);
	{
		_cleanup_store_ struct store *x = NULL;
		store_free(TAKE_PTR(s));
		x = open_ok(state, STORE_EXCLUSIVE);
		assert_err(store_gc(x, test_walk, NULL, NULL, &err), err, CKT_EFORMAT);
		assert_true(store_blob_exists(x, orphan));
	}
	s = open_ok(state, 0);

	/* Setting a ref keeps the broken entries as they were. */
	set_ref(s, "good", a);
	json_t *j = load_json(index);
	assert_int_equal(json_array_size(json_object_get(j, "manifests")), 15);
	json_decref(j);
	tdir_pass(state);
}

/* ---- concurrency ------------------------------------------------------- */

#define NCHILD 8
#define NREFS 20

static int child_work(const char *root, int id)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_store_ struct store *s = store_open(root, 0, &err);
	if (!s)
		goto fail;
	for (int j = 0; j < NREFS; j++) {
		char shared[STORE_DIGEST_MAX], own[STORE_DIGEST_MAX];
		_cleanup_free_ char *sd = xasprintf("shared blob %d", j % 5);
		_cleanup_free_ char *od = xasprintf("child %d ref %d", id, j);
		_cleanup_free_ char *name = xasprintf("example.org/c%d:r%d", id, j);
		if (store_blob_put(s, sd, strlen(sd), NULL, shared, &err) < 0 ||
		    store_blob_put(s, od, strlen(od), NULL, own, &err) < 0)
			goto fail;
		struct store_desc d = { (char *)MANIFEST_MT, "", -1 };
		memcpy(d.digest, j % 2 ? own : shared, STORE_DIGEST_MAX);
		if (store_ref_set(s, name, &d, &err) < 0)
			goto fail;
	}
	return 0;
fail:;
	char buf[2048];
	fprintf(stderr, "# child %d: %s\n", id, ckt_err_str(&err, buf, sizeof(buf)));
	return 1;
}

static void test_concurrent_writers(void **state)
{
	_cleanup_free_ char *root = store_dir(state);
	pid_t pids[NCHILD];
	int go[2];

	/* All children wait on the pipe, then race to create the store. */
	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < NCHILD; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			char c;
			close(go[1]);
			if (read(go[0], &c, 1) < 0)
				_exit(2);
			_exit(child_work(root, i));
		}
	}
	close(go[0]);
	close(go[1]);
	for (int i = 0; i < NCHILD; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}

	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_store_ struct store *s = open_ok(state, 0);
	struct store_ref *refs;
	size_t n;
	assert_ok(store_ref_list(s, &refs, &n, &err), err);
	assert_int_equal(n, NCHILD * NREFS);
	for (int i = 0; i < NCHILD; i++) {
		for (int j = 0; j < NREFS; j++) {
			_cleanup_free_ char *name = xasprintf("example.org/c%d:r%d", i, j);
			struct store_ref r;
			assert_ok(store_ref_get(s, name, &r, &err), err);
			store_ref_release(&r);
		}
	}
	store_refs_free(refs, n);
	assert_int_equal(count_in(s, "blobs/sha256"), 5 + NCHILD * NREFS);
	assert_int_equal(count_in(s, "tmp"), 0);
	struct problems p = { 0 };
	assert_int_equal(fsck_count(s, &p), 0);
	tdir_pass(state);
}

/* ---- gc ---------------------------------------------------------------- */

static void test_gc(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	char r[STORE_DIGEST_MAX], a[STORE_DIGEST_MAX], b[STORE_DIGEST_MAX], c[STORE_DIGEST_MAX];
	char d[STORE_DIGEST_MAX], e[STORE_DIGEST_MAX], c512[STORE_DIGEST_MAX];
	_cleanup_free_ char *stray = NULL, *tmpfile = NULL, *tmpdir = NULL;

	{
		_cleanup_store_ struct store *s = open_ok(state, 0);
		put(s, "leaf c", c);
		put(s, "leaf b", b);
		_cleanup_free_ char *ca = xasprintf("children: %s", c);
		put(s, ca, a);
		_cleanup_free_ char *cr = xasprintf("children: %s %s", a, b);
		put(s, cr, r);
		/* Unreferenced: d (which points at c) and e. */
		put(s, ca + 0, d); /* same content as a: same blob */
		assert_string_equal(d, a);
		_cleanup_free_ char *cd = xasprintf("children: %s\n", c);
		put(s, cd, d);
		put(s, "leaf e", e);
		assert_ok(store_blob_put(s, "leaf e", 6, NULL, NULL, &err), err);
		store_digest_buf(STORE_DIGEST_SHA512, "sha512 leaf", 11, c512);
		assert_ok(store_blob_put(s, "sha512 leaf", 11, c512, NULL, &err), err);
		set_ref(s, "root", r);

		stray = spath(s, "blobs/sha256/not-a-digest");
		spew(stray, "mine");
		tmpfile = spath(s, "tmp/partial");
		spew(tmpfile, "half a download");
		tmpdir = spath(s, "tmp/dir/sub");
		assert_ok(ckt_mkdir_p(tmpdir, 0755, &err), err);

		/* gc needs the exclusive lock. */
		assert_err(store_gc(s, test_walk, NULL, NULL, &err), err, CKT_EUSAGE);
	}
	_cleanup_store_ struct store *s = open_ok(state, STORE_EXCLUSIVE);
	struct store_gc_stats st = { 0 };
	int calls = 0;
	assert_ok(store_gc(s, test_walk, &calls, &st, &err), err);
	assert_int_equal(calls, 4); /* r, a, b, c: each once */
	assert_int_equal(st.blobs_kept, 4);
	assert_int_equal(st.blobs_removed, 3);
	assert_int_equal(st.bytes_removed, strlen("leaf e") + strlen(c) + 11 + 11);
	assert_int_equal(st.tmp_removed, 2);
	assert_true(store_blob_exists(s, r) && store_blob_exists(s, a));
	assert_true(store_blob_exists(s, b) && store_blob_exists(s, c));
	assert_false(store_blob_exists(s, d) || store_blob_exists(s, e));
	assert_false(store_blob_exists(s, c512));
	assert_int_equal(access(stray, F_OK), 0); /* not ours to judge */
	assert_int_equal(count_in(s, "tmp"), 0);

	/* Again: nothing more to do. */
	calls = 0;
	assert_ok(store_gc(s, test_walk, &calls, NULL, &err), err);
	assert_int_equal(calls, 4);

	/* A missing blob protects nothing below it, but gc goes on. */
	_cleanup_free_ char *apath = store_blob_path(s, a);
	assert_int_equal(unlink(apath), 0);
	assert_ok(store_gc(s, test_walk, NULL, &st, &err), err);
	assert_false(store_blob_exists(s, c));
	assert_true(store_blob_exists(s, b));
	tdir_pass(state);
}

static void test_gc_walk_failure(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_store_ struct store *s = open_ok(state, STORE_EXCLUSIVE);
	char bad[STORE_DIGEST_MAX], inval[STORE_DIGEST_MAX], orphan[STORE_DIGEST_MAX];
	char corrupt[STORE_DIGEST_MAX];

	put(s, "orphan", orphan);
	_cleanup_free_ char *tmpfile = spath(s, "tmp/partial");
	spew(tmpfile, "x");

	put(s, "children: !fail", bad);
	set_ref(s, "bad", bad);
	assert_err(store_gc(s, test_walk, NULL, NULL, &err), err, CKT_EFORMAT);
	assert_contains(err.what, bad);
	assert_true(store_blob_exists(s, orphan));
	assert_int_equal(access(tmpfile, F_OK), 0);

	/* A walk that yields an invalid digest aborts too. */
	put(s, "children: sha256:../../../x", inval);
	set_ref(s, "bad", inval);
	assert_err(store_gc(s, test_walk, NULL, NULL, &err), err, CKT_EFORMAT);
	assert_true(store_blob_exists(s, orphan));

	/* So does a corrupt blob the walk must read. */
	put(s, "children:", corrupt);
	set_ref(s, "bad", corrupt);
	_cleanup_free_ char *cpath = store_blob_path(s, corrupt);
	spew(cpath, "children: x");
	assert_err(store_gc(s, test_walk, NULL, NULL, &err), err, CKT_EVERIFY);
	assert_true(store_blob_exists(s, orphan));
	tdir_pass(state);
}

/* ---- fsck -------------------------------------------------------------- */

static void test_fsck(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_store_ struct store *s = open_ok(state, 0);
	char r[STORE_DIGEST_MAX], a[STORE_DIGEST_MAX], b[STORE_DIGEST_MAX];
	char gone[STORE_DIGEST_MAX], child_gone[STORE_DIGEST_MAX], corrupt[STORE_DIGEST_MAX];
	struct problems p = { 0 };
	size_t n = 99;

	put(s, "leaf a", a);
	put(s, "leaf b", b);
	_cleanup_free_ char *cr = xasprintf("children: %s=6 %s=6", a, b);
	put(s, cr, r);
	set_ref(s, "docker.io/library/alpine:latest", r);
	assert_int_equal(fsck_count(s, &p), 0);
	assert_ok(store_fsck(s, NULL, NULL, NULL, NULL, &n, &err), err); /* all optional */
	assert_int_equal(n, 0);

	/* A corrupt blob. */
	put(s, "will be corrupted", corrupt);
	_cleanup_free_ char *cpath = store_blob_path(s, corrupt);
	spew(cpath, "corrupted");
	char hashed[STORE_DIGEST_MAX];
	store_digest_buf(STORE_DIGEST_SHA256, "corrupted", 9, hashed);
	/* A ref to a missing blob. */
	put(s, "deleted", gone);
	set_ref(s, "example.org/gone:1", gone);
	_cleanup_free_ char *gpath = store_blob_path(s, gone);
	assert_int_equal(unlink(gpath), 0);
	/* Stray files. */
	_cleanup_free_ char *stray = spath(s, "blobs/sha256/junk");
	spew(stray, "junk");
	_cleanup_free_ char *stray2 = spath(s, "blobs/md5");
	assert_int_equal(mkdir(stray2, 0755), 0);
	/* A graph with a missing child and a size mismatch. */
	store_digest_buf(STORE_DIGEST_SHA256, "never stored", 12, child_gone);
	char g[STORE_DIGEST_MAX];
	_cleanup_free_ char *cg = xasprintf("children: %s %s=999 !nothing sha256:zz", child_gone, a);
	put(s, cg, g);
	set_ref(s, "graph", g);

	assert_int_equal(fsck_count(s, &p), 8);
	_cleanup_free_ char *m1 = xasprintf("blob %s is corrupt (content hashes to %s)", corrupt, hashed);
	_cleanup_free_ char *m2 = xasprintf("ref 'example.org/gone:1' points to missing blob %s", gone);
	_cleanup_free_ char *m3 = xasprintf("blob %s points to missing blob %s", g, child_gone);
	_cleanup_free_ char *m4 = xasprintf("blob %s gives blob %s a size of 999 bytes, but it has 6", g, a);
	_cleanup_free_ char *m5 = xasprintf("blob %s references an invalid digest '!nothing'", g);
	assert_true(has_problem(&p, m1));
	assert_true(has_problem(&p, m2));
	assert_true(has_problem(&p, m3));
	assert_true(has_problem(&p, m4));
	assert_true(has_problem(&p, m5));
	assert_true(has_problem(&p, "stray file 'blobs/sha256/junk' is not named by a digest"));
	assert_true(has_problem(&p, "stray file 'blobs/md5'"));
	problems_release(&p);

	/* A ref whose walk fails, and a broken index.json. */
	char walkfail[STORE_DIGEST_MAX];
	put(s, "children: !fail", walkfail);
	set_ref(s, "walkfail", walkfail);
	assert_int_equal(fsck_count(s, &p), 9);
	_cleanup_free_ char *m6 = xasprintf("blob %s cannot be walked", walkfail);
	assert_true(has_problem(&p, m6));
	problems_release(&p);

	_cleanup_free_ char *index = spath(s, "index.json");
	spew(index, "{\"manifests\": [}");
	assert_int_equal(fsck_count(s, &p), 4); /* corrupt, 2 strays, index */
	assert_true(has_problem(&p, "index.json: parse"));
	problems_release(&p);
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
		TDIR_TEST(test_create_open_reopen),
		TDIR_TEST(test_open_readonly),
		TDIR_TEST(test_open_refuses_non_layout),
		TDIR_TEST(test_open_completes_layout),
		TDIR_TEST(test_writer_commit),
		TDIR_TEST(test_writer_wrong_digest),
		TDIR_TEST(test_writer_sizes),
		TDIR_TEST(test_writer_free_uncommitted),
		TDIR_TEST(test_blob_read_verify),
		TDIR_TEST(test_refs),
		TDIR_TEST(test_refs_preserve_unknown),
		TDIR_TEST(test_index_malformed),
		TDIR_TEST(test_index_hostile_entries),
		TDIR_TEST(test_concurrent_writers),
		TDIR_TEST(test_gc),
		TDIR_TEST(test_gc_walk_failure),
		TDIR_TEST(test_fsck),
	};
	/* gc warns about missing blobs on purpose here. */
	ckt_log_set(quiet_log, NULL, CKT_LOG_DEBUG);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
