#include "store/store.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/log.h"
#include "base/xalloc.h"

/* OCI image-layout spec, "oci-layout file" and "index.json file". */
#define LAYOUT_FILE "oci-layout"
#define LAYOUT_VERSION "1.0.0"
#define LAYOUT_CONTENT "{\"imageLayoutVersion\": \"" LAYOUT_VERSION "\"}\n"
#define INDEX_FILE "index.json"
#define INDEX_MEDIA_TYPE "application/vnd.oci.image.index.v1+json"
/* What ckt_write_file_atomic() leaves behind when a creator dies mid-write. */
#define LAYOUT_TMP_PREFIX "." LAYOUT_FILE ".tmp-"

/* Both files are small; anything bigger is broken or hostile. */
#define LAYOUT_MAX 4096
#define INDEX_MAX ((size_t)64 << 20)
/* fsck streams blobs of any size through one buffer of this size. */
#define HASH_BUF_SIZE ((size_t)1 << 20)

#define DIR_MODE 0755
#define FILE_MODE 0644

/* jansson's own json_decrefp() is only declared for some compilers. */
CKT_DEFINE_CLEANUP(json_t *, json_decref, json_unrefp)
#define _cleanup_json_ _cleanup_(json_unrefp)

struct store {
	char *root;
	/* The root directory itself.  Its flock serialises layout creation
	 * (LOCK_EX) against other creators and readers (LOCK_SH), and every
	 * read-modify-write of index.json (LOCK_EX). */
	int rootfd;
	/* $STORE/lock, held for the life of the store: shared by anyone who
	 * may add blobs or refs, exclusive for gc.  -1 when a read-only open
	 * meets a layout written by another tool, which has no lock file. */
	int lockfd;
	unsigned flags;
};

/* ---- small helpers ----------------------------------------------------- */

static int lock_fd(int fd, int op, const char *name, struct ckt_err *err)
{
	while (flock(fd, op) < 0) {
		if (errno != EINTR)
			return ckt_err_sys(err, CKT_EIO, "lock '%s'", name);
	}
	return 0;
}

static void unlockp(int *fd)
{
	if (*fd >= 0) {
		int e = errno;
		flock(*fd, LOCK_UN);
		errno = e;
	}
}
#define _cleanup_unlock_ _cleanup_(unlockp)

static int need_writable(struct store *s, struct ckt_err *err)
{
	if (s->flags & STORE_READONLY)
		return ckt_err_failw(err, CKT_EUSAGE, "it was opened read-only", "modify store '%s'",
				     s->root);
	return 0;
}

static char *root_path(const struct store *s, const char *name)
{
	return xasprintf("%s/%s", s->root, name);
}

/* Parse JSON, reporting jansson's position so a hand-edited file can be fixed. */
static json_t *json_parse(const char *buf, size_t len, const char *path, struct ckt_err *err)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, 0, &je);
	if (!j) {
		char why[CKT_ERR_WHY_MAX];
		snprintf(why, sizeof(why), "line %d, column %d: %s", je.line, je.column, je.text);
		ckt_err_failw(err, CKT_EFORMAT, why, "parse '%s'", path);
	}
	return j;
}

static json_t *json_load_path(const char *path, size_t max, struct ckt_err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (ckt_read_file(path, max, &buf, &len, err) < 0)
		return NULL;
	return json_parse(buf, len, path, err);
}

/* A set of strings.  jansson's hashtable is the only one we link, and a
 * digest set is all gc and fsck need.  Returns true when s was new. */
static bool set_add(json_t *set, const char *s)
{
	if (json_object_get(set, s))
		return false;
	if (json_object_set_new(set, s, json_true()) < 0)
		abort(); /* only allocation failure: digests are ASCII */
	return true;
}

/* ---- opening ----------------------------------------------------------- */

/* Whether the directory holds nothing but leftovers of our own interrupted
 * creation (a temporary oci-layout from ckt_write_file_atomic). */
static int dir_is_empty(struct store *s, struct ckt_err *err)
{
	int fd = openat(s->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "open '%s'", s->root);
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return ckt_err_sys(err, CKT_EIO, "open '%s'", s->root);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strncmp(de->d_name, LAYOUT_TMP_PREFIX, sizeof(LAYOUT_TMP_PREFIX) - 1))
			return 0;
	}
	return 1;
}

static int check_layout_version(json_t *j, const char *path, struct ckt_err *err)
{
	const char *v = json_string_value(json_object_get(j, "imageLayoutVersion"));
	if (!v || strcmp(v, LAYOUT_VERSION))
		return ckt_err_failw(err, CKT_EFORMAT, "imageLayoutVersion is not " LAYOUT_VERSION,
				     "unsupported OCI layout '%s'", path);
	return 0;
}

/* 1: an OCI image layout; 0: an empty directory that may become one;
 * < 0: refused (not a layout and not empty, or an unreadable oci-layout). */
static int probe_layout(struct store *s, struct ckt_err *err)
{
	_cleanup_free_ char *path = root_path(s, LAYOUT_FILE);
	struct ckt_err e = CKT_ERR_INIT;
	_cleanup_json_ json_t *j = json_load_path(path, LAYOUT_MAX, &e);

	if (j)
		return check_layout_version(j, path, err) < 0 ? -1 : 1;
	if (e.code != CKT_ENOTFOUND) {
		*err = e;
		return -(int)e.code;
	}
	int r = dir_is_empty(s, err);
	if (r == 0)
		return ckt_err_failw(err, CKT_EFORMAT, "it is not empty and has no oci-layout file",
				     "not an OCI image layout");
	return r < 0 ? r : 0;
}

static int mkdir_in(struct store *s, const char *name, bool *created, struct ckt_err *err)
{
	if (mkdirat(s->rootfd, name, DIR_MODE) == 0) {
		*created = true;
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	return ckt_err_sys(err, CKT_EIO, "create directory '%s/%s'", s->root, name);
}

static int write_new_index(const char *path, bool dir_sync, struct ckt_err *err);

/* Create whatever part of the layout is missing.  oci-layout comes first so
 * that a crash half-way leaves a layout the next open completes, rather
 * than a non-empty directory it would refuse. */
static int create_layout(struct store *s, struct ckt_err *err)
{
	bool created = false;
	int r = probe_layout(s, err);
	if (r < 0)
		return r;
	if (r == 0) {
		_cleanup_free_ char *path = root_path(s, LAYOUT_FILE);
		if (ckt_write_file_atomic_nodirsync(path, LAYOUT_CONTENT, strlen(LAYOUT_CONTENT),
						    FILE_MODE, err) < 0)
			return -1;
		created = true;
	}
	if (mkdir_in(s, "blobs", &created, err) < 0 ||
	    mkdir_in(s, "blobs/sha256", &created, err) < 0 || mkdir_in(s, "tmp", &created, err) < 0)
		return -1;

	_cleanup_free_ char *index = root_path(s, INDEX_FILE);
	if (faccessat(s->rootfd, INDEX_FILE, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return ckt_err_sys(err, CKT_EIO, "access '%s'", index);
		if (write_new_index(index, false, err) < 0)
			return -1;
		created = true;
	}
	/* One fsync of the root makes the new names durable, files and
	 * directories alike (the files' data was fsynced before the renames). */
	return created ? ckt_fsync_dir(s->root, err) : 0;
}

static int open_root(struct store *s, struct ckt_err *err)
{
	if (!(s->flags & STORE_READONLY) && ckt_mkdir_p(s->root, DIR_MODE, err) < 0)
		return -1;
	s->rootfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0)
		return ckt_err_sys(err, errno == ENOENT ? CKT_ENOTFOUND : CKT_EIO, "open '%s'",
				   s->root);
	return 0;
}

/* Validate (read-only) or complete (read-write) the layout while holding
 * the root's flock, so concurrent first opens of a new store see either
 * nothing or a whole layout, never each other's half. */
static int prepare_layout(struct store *s, struct ckt_err *err)
{
	bool ro = s->flags & STORE_READONLY;
	if (lock_fd(s->rootfd, ro ? LOCK_SH : LOCK_EX, s->root, err) < 0)
		return -1;
	_cleanup_unlock_ int locked = s->rootfd;
	if (!ro)
		return create_layout(s, err);

	int r = probe_layout(s, err);
	if (r == 0)
		return ckt_err_failw(err, CKT_ENOTFOUND, "the directory is empty", "no store there");
	return r < 0 ? r : 0;
}

static int take_store_lock(struct store *s, struct ckt_err *err)
{
	_cleanup_free_ char *path = root_path(s, "lock");
	if (s->flags & STORE_READONLY) {
		s->lockfd = open(path, O_RDONLY | O_CLOEXEC);
		/* A layout written by skopeo or umoci has no lock; read it unlocked. */
		if (s->lockfd < 0 && errno == ENOENT)
			return 0;
	} else {
		s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, FILE_MODE);
	}
	if (s->lockfd < 0)
		return ckt_err_sys(err, CKT_EIO, "open '%s'", path);
	return lock_fd(s->lockfd, (s->flags & STORE_EXCLUSIVE) ? LOCK_EX : LOCK_SH, path, err);
}

struct store *store_open(const char *root, unsigned flags, struct ckt_err *err)
{
	_cleanup_store_ struct store *s = xcalloc(1, sizeof(*s));
	s->root = xstrdup(root);
	s->rootfd = s->lockfd = -1;
	s->flags = flags;

	/* The root lock is dropped before the store lock is taken: a process
	 * waiting behind gc must not block index.json updates meanwhile. */
	if (open_root(s, err) < 0 || prepare_layout(s, err) < 0 || take_store_lock(s, err) < 0) {
		ckt_err_wrap(err, "open store '%s'", root);
		return NULL;
	}
	return TAKE_PTR(s);
}

void store_free(struct store *s)
{
	if (!s)
		return;
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->rootfd >= 0)
		close(s->rootfd);
	free(s->root);
	free(s);
}

const char *store_root(const struct store *s)
{
	return s->root;
}

/* ---- descriptors ------------------------------------------------------- */

void store_desc_release(struct store_desc *d)
{
	if (!d)
		return;
	free(d->media_type);
	d->media_type = NULL;
}

void store_descs_free(struct store_desc *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		store_desc_release(&v[i]);
	free(v);
}

static void desc_copy(struct store_desc *dst, const struct store_desc *src)
{
	*dst = *src;
	dst->media_type = src->media_type ? xstrdup(src->media_type) : NULL;
}

/* A LIFO of descriptors still to visit, for the gc and fsck graph walks. */
struct desc_stack {
	struct store_desc *v;
	size_t n, alloc;
};

static void stack_push(struct desc_stack *st, const struct store_desc *d)
{
	ALLOC_GROW(st->v, st->n + 1, st->alloc);
	desc_copy(&st->v[st->n++], d);
}

static bool stack_pop(struct desc_stack *st, struct store_desc *out)
{
	if (!st->n)
		return false;
	*out = st->v[--st->n];
	return true;
}

static void stack_release(struct desc_stack *st)
{
	store_descs_free(st->v, st->n);
	st->v = NULL;
	st->n = st->alloc = 0;
}
#define _cleanup_stack_ _cleanup_(stack_release)

/* ---- blobs ------------------------------------------------------------- */

static char *blob_path_checked(const struct store *s, const char *digest, struct ckt_err *err)
{
	enum store_digest_alg alg;
	const char *hex;
	if (store_digest_parse(digest, &alg, &hex, err) < 0)
		return NULL;
	return xasprintf("%s/blobs/%s/%s", s->root, store_digest_alg_name(alg), hex);
}

char *store_blob_path(struct store *s, const char *digest)
{
	struct ckt_err err = CKT_ERR_INIT;
	char *p = blob_path_checked(s, digest, &err);
	assert(p && "store_blob_path needs a valid digest");
	if (!p)
		abort();
	return p;
}

/* Size of a present blob: 0 and *size, or CKT_ENOTFOUND when absent.
 * lstat, not stat: a symlink under blobs/ was not put there by a writer
 * and could point anywhere, so it does not count as the blob. */
static int blob_stat(struct store *s, const char *digest, int64_t *size, struct ckt_err *err)
{
	_cleanup_free_ char *path = blob_path_checked(s, digest, err);
	struct stat st;
	if (!path)
		return -1;
	if (lstat(path, &st) < 0)
		return ckt_err_sys(err, errno == ENOENT ? CKT_ENOTFOUND : CKT_EIO,
				   "blob %s is not in the store", digest);
	if (!S_ISREG(st.st_mode))
		return ckt_err_failw(err, CKT_EFORMAT, "not a regular file", "blob %s", digest);
	*size = st.st_size;
	return 0;
}

bool store_blob_exists(struct store *s, const char *digest)
{
	struct ckt_err err = CKT_ERR_INIT;
	int64_t size;
	return blob_stat(s, digest, &size, &err) == 0;
}

int store_blob_open(struct store *s, const char *digest, struct ckt_err *err)
{
	_cleanup_free_ char *path = blob_path_checked(s, digest, err);
	if (!path)
		return -1;
	/* Blobs are regular files; a planted symlink is not one of ours. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ckt_err_sys(err, errno == ENOENT ? CKT_ENOTFOUND : CKT_EIO,
				   "blob %s is not in the store", digest);
	return fd;
}

static int fail_mismatch(struct ckt_err *err, const char *expected, const char *got)
{
	char why[CKT_ERR_WHY_MAX];
	snprintf(why, sizeof(why), "content hashes to %s", got);
	return ckt_err_failw(err, CKT_EVERIFY, why, "blob %s does not match its digest", expected);
}

int store_blob_read(struct store *s, const char *digest, size_t max, char **out, size_t *len,
		    struct ckt_err *err)
{
	_cleanup_close_ int fd = store_blob_open(s, digest, err);
	_cleanup_free_ char *buf = NULL;
	enum store_digest_alg alg;
	const char *hex;
	char got[STORE_DIGEST_MAX];

	if (fd < 0)
		return -1;
	if (ckt_read_fd(fd, max, &buf, len, err) < 0)
		return ckt_err_wrap(err, "read blob %s", digest);
	store_digest_parse(digest, &alg, &hex, err); /* valid: the open succeeded */
	store_digest_buf(alg, buf, *len, got);
	if (strcmp(got, digest))
		return fail_mismatch(err, digest, got);
	*out = TAKE_PTR(buf);
	return 0;
}

struct store_writer {
	struct store *s;
	int fd;
	char *tmp; /* under tmp/; unlinked unless renamed into blobs/ */
	struct store_hasher *h;
	char expected[STORE_DIGEST_MAX]; /* "" to accept whatever the data hashes to */
	int64_t expected_size;
	int64_t size;
	bool broken; /* a write failed midway: file and hash may disagree */
	bool done;   /* published or discarded: tmp is gone */
	bool keep;   /* a named partial (store_writer_resume): kept when freed */
	int64_t synced; /* bytes whose writeback was started */
};

#define WRITEBACK_CHUNK (8 << 20)

/* The temporary lives in tmp/, on the same filesystem as blobs/, so the
 * final rename is atomic; it is hashed as written so commit never re-reads. */
struct store_writer *store_writer_new(struct store *s, const char *expected,
				      int64_t expected_size, struct ckt_err *err)
{
	enum store_digest_alg alg = STORE_DIGEST_SHA256;
	const char *hex;

	if (need_writable(s, err) < 0)
		return NULL;
	if (expected && store_digest_parse(expected, &alg, &hex, err) < 0)
		return NULL;
	if (expected_size < -1) {
		ckt_err_fail(err, CKT_EFORMAT, "invalid blob size %lld", (long long)expected_size);
		return NULL;
	}

	_cleanup_store_writer_ struct store_writer *w = xcalloc(1, sizeof(*w));
	w->s = s;
	w->fd = -1;
	w->expected_size = expected_size;
	w->done = true; /* nothing to discard until the file exists */
	snprintf(w->expected, sizeof(w->expected), "%s", expected ? expected : "");
	w->h = store_hasher_new(alg);
	w->tmp = xasprintf("%s/tmp/blob-XXXXXX", s->root);
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		ckt_err_sys(err, CKT_EIO, "create temporary file in '%s/tmp'", s->root);
		return NULL;
	}
	w->done = false;
	/* mkostemp makes 0600; blobs are as readable as the store. */
	if (fchmod(w->fd, FILE_MODE) < 0) {
		ckt_err_sys(err, CKT_EIO, "chmod '%s'", w->tmp);
		return NULL;
	}
	return TAKE_PTR(w);
}

static const char *writer_name(const struct store_writer *w)
{
	return w->expected[0] ? w->expected : "being written";
}

int store_writer_write(struct store_writer *w, const void *data, size_t len,
		       struct ckt_err *err)
{
	if (store_writer_write_data(w, data, len, err) < 0)
		return -1;
	store_writer_hash(w, data, len);
	return 0;
}

void store_writer_hash(struct store_writer *w, const void *data, size_t len)
{
	store_hasher_update(w->h, data, len);
}

int store_writer_write_data(struct store_writer *w, const void *data, size_t len,
			    struct ckt_err *err)
{
	assert(!w->done);
	if (w->broken)
		return ckt_err_failw(err, CKT_EIO, "an earlier write failed", "write blob %s",
				     writer_name(w));
	/* Refuse before writing: a hostile server must not fill the disk. */
	if (w->expected_size >= 0 && len > (uint64_t)(w->expected_size - w->size))
		return ckt_err_fail(err, CKT_EVERIFY, "blob %s is larger than the %lld bytes expected",
				    writer_name(w), (long long)w->expected_size);
	if (len > (uint64_t)(INT64_MAX - w->size))
		return ckt_err_fail(err, CKT_EVERIFY, "blob %s is too large", writer_name(w));
	if (ckt_write_all(w->fd, data, len, err) < 0) {
		w->broken = true;
		return ckt_err_wrap(err, "write blob %s to '%s'", writer_name(w), w->tmp);
	}
	w->size += (int64_t)len;
	/* Start writeback as data arrives so the fsync at commit has little
	 * left to wait for (large downloads: ~2x faster end to end). */
	if (w->size - w->synced >= WRITEBACK_CHUNK) {
		sync_file_range(w->fd, w->synced, w->size - w->synced, SYNC_FILE_RANGE_WRITE);
		w->synced = w->size;
	}
	return 0;
}

int64_t store_writer_size(const struct store_writer *w)
{
	return w->size;
}

void store_writer_digest(const struct store_writer *w, char out[STORE_DIGEST_MAX])
{
	store_hasher_peek(w->h, out);
}

/* Close and, unless it was renamed into blobs/, remove the temporary. */
static void writer_discard(struct store_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (!w->done)
		unlink(w->tmp);
	w->done = true;
}

/* blobs/<alg>/, created on first use for algorithms other than sha256. */
static int ensure_alg_dir(struct store *s, const char *dir, struct ckt_err *err)
{
	if (mkdir(dir, DIR_MODE) < 0) {
		if (errno == EEXIST)
			return 0;
		return ckt_err_sys(err, CKT_EIO, "create directory '%s'", dir);
	}
	_cleanup_free_ char *blobs = root_path(s, "blobs");
	return ckt_fsync_dir(blobs, err);
}

/* Move the verified temporary file to blobs/<alg>/<hex>: fsync before the
 * rename so a crash never leaves a short blob under its digest. */
static int writer_publish(struct store_writer *w, const char *digest, struct ckt_err *err)
{
	enum store_digest_alg alg;
	const char *hex;
	store_digest_parse(digest, &alg, &hex, err); /* ours: always valid */
	_cleanup_free_ char *dir = xasprintf("%s/blobs/%s", w->s->root, store_digest_alg_name(alg));
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, hex);
	struct stat st;

	/* Same name, same content: the copy already there will do. */
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
		writer_discard(w);
		return 0;
	}
	if (fsync(w->fd) < 0)
		return ckt_err_sys(err, CKT_EIO, "fsync '%s'", w->tmp);
	if (ensure_alg_dir(w->s, dir, err) < 0)
		return -1;
	if (rename(w->tmp, path) < 0)
		return ckt_err_sys(err, CKT_EIO, "rename '%s' to '%s'", w->tmp, path);
	w->done = true;
	writer_discard(w);
	return 0; /* the directory: sync_blob_dirs(), before a ref names it */
}

int store_writer_commit(struct store_writer *w, char out[STORE_DIGEST_MAX], struct ckt_err *err)
{
	char got[STORE_DIGEST_MAX];
	int r;

	assert(!w->done);
	if (w->broken)
		r = ckt_err_failw(err, CKT_EIO, "an earlier write failed", "commit blob %s",
				  writer_name(w));
	else if (w->expected_size >= 0 && w->size != w->expected_size)
		r = ckt_err_fail(err, CKT_EVERIFY, "blob %s has %lld bytes, expected %lld",
				 writer_name(w), (long long)w->size, (long long)w->expected_size);
	else {
		store_hasher_final(w->h, got);
		if (w->expected[0] && strcmp(got, w->expected))
			r = fail_mismatch(err, w->expected, got);
		else
			r = writer_publish(w, got, err);
	}
	if (r < 0) {
		writer_discard(w);
		return r;
	}
	if (out)
		memcpy(out, got, STORE_DIGEST_MAX);
	return 0;
}

void store_writer_free(struct store_writer *w)
{
	if (!w)
		return;
	if (w->keep && !w->done && !w->broken) {
		/* Leave the partial file for the next writer of this digest. */
		close(w->fd);
		w->fd = -1;
		w->done = true;
	}
	writer_discard(w);
	store_hasher_free(w->h);
	free(w->tmp);
	free(w);
}

/* The partial is named by its digest so a later process finds it
 * (DESIGN.md "The store": tmp/ holds resumable downloads); the flock keeps
 * two writers from appending to one file.  The bytes already there are
 * re-hashed, so the digest check at commit covers them too. */
struct store_writer *store_writer_resume(struct store *s, const char *expected,
					 int64_t expected_size, struct ckt_err *err)
{
	enum store_digest_alg alg;
	const char *hex;
	struct stat st;

	if (need_writable(s, err) < 0 || store_digest_parse(expected, &alg, &hex, err) < 0)
		return NULL;
	if (expected_size < -1) {
		ckt_err_fail(err, CKT_EFORMAT, "invalid blob size %lld", (long long)expected_size);
		return NULL;
	}
	_cleanup_store_writer_ struct store_writer *w = xcalloc(1, sizeof(*w));
	w->s = s;
	w->expected_size = expected_size;
	w->done = true;
	snprintf(w->expected, sizeof(w->expected), "%s", expected);
	w->h = store_hasher_new(alg);
	w->tmp = xasprintf("%s/tmp/%s-%s.partial", s->root, store_digest_alg_name(alg), hex);
	w->fd = open(w->tmp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, FILE_MODE);
	if (w->fd < 0) {
		ckt_err_sys(err, CKT_EIO, "open '%s'", w->tmp);
		return NULL;
	}
	if (flock(w->fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			ckt_err_sys(err, CKT_EIO, "lock '%s'", w->tmp);
			return NULL;
		}
		/* Another process is writing this partial: use a private file. */
		return store_writer_new(s, expected, expected_size, err);
	}
	w->done = false;
	w->keep = true;
	if (fstat(w->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ckt_err_sys(err, CKT_EIO, "stat '%s'", w->tmp);
		return NULL;
	}
	if (expected_size >= 0 && st.st_size > expected_size) {
		if (store_writer_restart(w, err) < 0)
			return NULL;
		return TAKE_PTR(w);
	}
	_cleanup_free_ char *buf = xmalloc(1u << 20);
	for (;;) {
		ssize_t n = read(w->fd, buf, 1u << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ckt_err_sys(err, CKT_EIO, "read '%s'", w->tmp);
			return NULL;
		}
		if (n == 0)
			break;
		store_hasher_update(w->h, buf, (size_t)n);
		w->size += n;
	}
	return TAKE_PTR(w);
}

int store_writer_restart(struct store_writer *w, struct ckt_err *err)
{
	char dummy[STORE_DIGEST_MAX];
	assert(!w->done);
	if (ftruncate(w->fd, 0) < 0 || lseek(w->fd, 0, SEEK_SET) < 0) {
		w->broken = true;
		return ckt_err_sys(err, CKT_EIO, "truncate '%s'", w->tmp);
	}
	store_hasher_final(w->h, dummy); /* resets the hasher */
	w->size = 0;
	w->synced = 0;
	w->broken = false;
	return 0;
}

int store_blob_put(struct store *s, const void *data, size_t len, const char *expected,
		   char out[STORE_DIGEST_MAX], struct ckt_err *err)
{
	_cleanup_store_writer_ struct store_writer *w = store_writer_new(s, expected, -1, err);
	if (!w || store_writer_write(w, data, len, err) < 0 || store_writer_commit(w, out, err) < 0)
		return -1;
	return 0;
}

/* ---- refs (index.json) ------------------------------------------------- */

void store_ref_release(struct store_ref *r)
{
	if (!r)
		return;
	free(r->name);
	r->name = NULL;
	store_desc_release(&r->desc);
}

void store_refs_free(struct store_ref *refs, size_t n)
{
	for (size_t i = 0; refs && i < n; i++)
		store_ref_release(&refs[i]);
	free(refs);
}

/* index.json, checked to be an object whose "manifests" is an array. */
static json_t *index_load(struct store *s, struct ckt_err *err)
{
	_cleanup_free_ char *path = root_path(s, INDEX_FILE);
	_cleanup_json_ json_t *j = json_load_path(path, INDEX_MAX, err);
	if (!j)
		return NULL;
	if (!json_is_object(j) || !json_is_array(json_object_get(j, "manifests"))) {
		ckt_err_failw(err, CKT_EFORMAT, "no \"manifests\" array", "invalid '%s'", path);
		return NULL;
	}
	return TAKE_PTR(j);
}

/* The ref name of an index.json entry (borrowed), NULL for none. */
static const char *entry_name(json_t *e)
{
	return json_string_value(json_object_get(json_object_get(e, "annotations"),
						 STORE_REF_NAME_ANNOTATION));
}

/* A descriptor from JSON we did not write: every field is checked, since
 * index.json may have been edited by hand or by another tool. */
static int desc_from_json(json_t *e, struct store_desc *d, struct ckt_err *err)
{
	json_t *mt = json_object_get(e, "mediaType");
	json_t *size = json_object_get(e, "size");
	const char *digest = json_string_value(json_object_get(e, "digest"));

	if (!json_is_object(e))
		return ckt_err_fail(err, CKT_EFORMAT, "descriptor is not an object");
	if (!digest)
		return ckt_err_fail(err, CKT_EFORMAT, "descriptor has no digest");
	if (!store_digest_valid(digest)) {
		enum store_digest_alg alg;
		const char *hex;
		return store_digest_parse(digest, &alg, &hex, err);
	}
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return ckt_err_fail(err, CKT_EFORMAT, "descriptor of %s has no valid size", digest);
	if (mt && !json_is_string(mt))
		return ckt_err_fail(err, CKT_EFORMAT, "descriptor of %s has a non-string mediaType",
				    digest);
	d->media_type = mt ? xstrdup(json_string_value(mt)) : NULL;
	memcpy(d->digest, digest, strlen(digest) + 1);
	d->size = json_integer_value(size);
	return 0;
}

static int ref_from_json(json_t *e, struct store_ref *r, struct ckt_err *err)
{
	json_t *ann = json_object_get(e, "annotations");
	json_t *name = json_object_get(ann, STORE_REF_NAME_ANNOTATION);

	if (ann && !json_is_object(ann))
		return ckt_err_fail(err, CKT_EFORMAT, "annotations are not an object");
	if (name && !json_is_string(name))
		return ckt_err_fail(err, CKT_EFORMAT, "%s is not a string",
				    STORE_REF_NAME_ANNOTATION);
	memset(r, 0, sizeof(*r));
	if (desc_from_json(e, &r->desc, err) < 0)
		return -1;
	r->name = name ? xstrdup(json_string_value(name)) : NULL;
	return 0;
}

int store_ref_get(struct store *s, const char *name, struct store_ref *out, struct ckt_err *err)
{
	_cleanup_json_ json_t *idx = index_load(s, err);
	size_t i;
	json_t *e;

	if (!idx)
		return ckt_err_wrap(err, "look up ref '%s'", name);
	/* Only the matching entry is parsed: one broken entry must not hide
	 * every other ref (fsck reports it). */
	json_t *m = json_object_get(idx, "manifests");
	json_array_foreach(m, i, e) {
		const char *n = entry_name(e);
		if (!n || strcmp(n, name))
			continue;
		if (ref_from_json(e, out, err) < 0)
			return ckt_err_wrap(err, "ref '%s' in index.json", name);
		return 0;
	}
	return ckt_err_fail(err, CKT_ENOTFOUND, "ref '%s' is not in the store", name);
}

int store_ref_list(struct store *s, struct store_ref **out, size_t *n, struct ckt_err *err)
{
	_cleanup_json_ json_t *idx = index_load(s, err);
	if (!idx)
		return ckt_err_wrap(err, "list refs");
	json_t *m = json_object_get(idx, "manifests");
	size_t count = json_array_size(m);
	struct store_ref *refs = xcalloc(count ? count : 1, sizeof(*refs));

	for (size_t i = 0; i < count; i++) {
		if (ref_from_json(json_array_get(m, i), &refs[i], err) < 0) {
			store_refs_free(refs, i);
			return ckt_err_wrap(err, "index.json entry %zu", i);
		}
	}
	*out = refs;
	*n = count;
	return 0;
}

/* Two-space indentation keeps index.json readable and diffable by hand;
 * jansson keeps insertion order, so unknown keys stay where they were. */
static int index_write(const char *path, json_t *idx, bool dir_sync, struct ckt_err *err)
{
	_cleanup_free_ char *text = json_dumps(idx, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!text)
		return ckt_err_fail(err, CKT_EINTERNAL, "serialise '%s'", path);
	/* A final newline, as text files have. */
	size_t len = strlen(text);
	_cleanup_free_ char *data = xasprintf("%s\n", text);
	return dir_sync ? ckt_write_file_atomic(path, data, len + 1, FILE_MODE, err)
			: ckt_write_file_atomic_nodirsync(path, data, len + 1, FILE_MODE, err);
}

static json_t *index_new(void)
{
	json_t *j = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType",
			      INDEX_MEDIA_TYPE, "manifests");
	if (!j)
		abort();
	return j;
}

static int write_new_index(const char *path, bool dir_sync, struct ckt_err *err)
{
	_cleanup_json_ json_t *idx = index_new();
	return index_write(path, idx, dir_sync, err);
}

/* Blobs are renamed into blobs/<alg>/ without an fsync of the directory
 * each (their data is fsynced before the rename): a ref is what makes a
 * blob matter, so every index.json update first makes the blob
 * directories durable, once, whoever renamed into them. */
static int sync_blob_dirs(struct store *s, struct ckt_err *err)
{
	for (enum store_digest_alg a = STORE_DIGEST_SHA256; a <= STORE_DIGEST_SHA512; a++) {
		_cleanup_free_ char *dir = xasprintf("%s/blobs/%s", s->root, store_digest_alg_name(a));
		_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			return ckt_err_sys(err, CKT_EIO, "open directory '%s'", dir);
		}
		if (fsync(fd) < 0 && errno != EINVAL)
			return ckt_err_sys(err, CKT_EIO, "fsync directory '%s'", dir);
	}
	return 0;
}

typedef int (*index_edit_fn)(json_t *manifests, void *data, struct ckt_err *err);

/* Read-modify-write of index.json under the root's exclusive flock, so
 * concurrent writers never lose each other's refs. */
static int index_update(struct store *s, index_edit_fn edit, void *data, struct ckt_err *err)
{
	_cleanup_free_ char *path = root_path(s, INDEX_FILE);
	struct ckt_err e = CKT_ERR_INIT;

	if (lock_fd(s->rootfd, LOCK_EX, s->root, err) < 0)
		return -1;
	_cleanup_unlock_ int locked = s->rootfd;
	_cleanup_json_ json_t *idx = index_load(s, &e);
	if (!idx && e.code != CKT_ENOTFOUND) {
		*err = e;
		return -1;
	}
	/* Someone removed index.json: start afresh rather than refuse forever. */
	if (!idx)
		idx = index_new();
	if (edit(json_object_get(idx, "manifests"), data, err) < 0)
		return -1;
	if (sync_blob_dirs(s, err) < 0)
		return -1;
	return index_write(path, idx, true, err);
}

struct ref_edit {
	const char *name;
	json_t *entry; /* borrowed; NULL to remove */
};

/* Replace the first entry named e->name in place (keeping file order) and
 * drop any duplicates; append when there is none. */
static int edit_set(json_t *m, void *data, struct ckt_err *err)
{
	struct ref_edit *e = data;
	bool found = false;
	(void)err;
	for (size_t i = 0; i < json_array_size(m);) {
		const char *n = entry_name(json_array_get(m, i));
		if (!n || strcmp(n, e->name)) {
			i++;
		} else if (!found) {
			json_array_set(m, i++, e->entry);
			found = true;
		} else {
			json_array_remove(m, i);
		}
	}
	if (!found)
		json_array_append(m, e->entry);
	return 0;
}

/* Drop every entry of that name: a duplicate left behind would make the
 * ref reappear after its removal. */
static int edit_remove(json_t *m, void *data, struct ckt_err *err)
{
	struct ref_edit *e = data;
	bool found = false;
	for (size_t i = 0; i < json_array_size(m);) {
		const char *n = entry_name(json_array_get(m, i));
		if (n && !strcmp(n, e->name)) {
			json_array_remove(m, i);
			found = true;
		} else {
			i++;
		}
	}
	if (!found)
		return ckt_err_fail(err, CKT_ENOTFOUND, "ref '%s' is not in the store", e->name);
	return 0;
}

/* {"mediaType", "digest", "size", "annotations": {ref.name}}; NULL when a
 * string is not UTF-8, which JSON cannot carry. */
static json_t *ref_entry_new(const char *name, const struct store_desc *d, int64_t size)
{
	_cleanup_json_ json_t *e = json_object();
	json_t *ann = json_object();
	json_t *jname = json_string(name);
	int r = 0;

	if (d->media_type) {
		json_t *mt = json_string(d->media_type);
		r |= mt ? json_object_set_new(e, "mediaType", mt) : -1;
	}
	r |= json_object_set_new(e, "digest", json_string(d->digest));
	r |= json_object_set_new(e, "size", json_integer(size));
	r |= jname ? json_object_set_new(ann, STORE_REF_NAME_ANNOTATION, jname) : -1;
	r |= json_object_set_new(e, "annotations", ann);
	return r ? NULL : TAKE_PTR(e);
}

int store_ref_set(struct store *s, const char *name, const struct store_desc *desc,
		  struct ckt_err *err)
{
	int64_t size;

	if (need_writable(s, err) < 0)
		return ckt_err_wrap(err, "set ref '%s'", name);
	if (!*name)
		return ckt_err_fail(err, CKT_EUSAGE, "set ref: empty name");
	if (blob_stat(s, desc->digest, &size, err) < 0)
		return ckt_err_wrap(err, "set ref '%s'", name);
	/* index.json must describe the blob truly, or other tools refuse it. */
	if (desc->size >= 0 && desc->size != size)
		return ckt_err_fail(err, CKT_EVERIFY, "set ref '%s': blob %s has %lld bytes, not %lld",
				    name, desc->digest, (long long)size, (long long)desc->size);

	_cleanup_json_ json_t *entry = ref_entry_new(name, desc, size);
	if (!entry)
		return ckt_err_failw(err, CKT_EFORMAT, "not valid UTF-8", "set ref '%s'", name);
	struct ref_edit e = { name, entry };
	if (index_update(s, edit_set, &e, err) < 0)
		return ckt_err_wrap(err, "set ref '%s'", name);
	return 0;
}

int store_ref_remove(struct store *s, const char *name, struct ckt_err *err)
{
	struct ref_edit e = { name, NULL };
	if (need_writable(s, err) < 0 || index_update(s, edit_remove, &e, err) < 0)
		return ckt_err_wrap(err, "remove ref '%s'", name);
	return 0;
}

/* ---- gc ---------------------------------------------------------------- */

static const char *const known_algs[] = { "sha256", "sha512" };

/* Call the walk function for d, wrapping its failure. */
static int walk_one(struct store *s, store_walk_fn walk, void *data, const struct store_desc *d,
		    struct store_desc **children, size_t *n, struct ckt_err *err)
{
	*children = NULL;
	*n = 0;
	if (walk(s, d, children, n, data, err) < 0) {
		store_descs_free(*children, *n);
		*children = NULL;
		return ckt_err_wrap(err, "walk blob %s", d->digest);
	}
	return 0;
}

/* Mark every blob reachable from the queued descriptors in seen.  An
 * explicit stack rather than recursion: a hostile graph may be deep. */
static int gc_mark(struct store *s, store_walk_fn walk, void *data, json_t *seen,
		   struct desc_stack *todo, struct ckt_err *err)
{
	struct store_desc d;
	while (stack_pop(todo, &d)) {
		_cleanup_free_ char *mt = d.media_type; /* d's only owned field */
		struct store_desc *children;
		size_t n;

		if (!set_add(seen, d.digest))
			continue;
		/* Nothing below a missing blob can be found; it protects nothing. */
		if (!store_blob_exists(s, d.digest)) {
			ckt_warn("gc: blob %s is referenced but missing", d.digest);
			continue;
		}
		if (walk_one(s, walk, data, &d, &children, &n, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++) {
			if (!store_digest_valid(children[i].digest)) {
				store_descs_free(children, n);
				return ckt_err_fail(err, CKT_EFORMAT, "blob %s references an invalid digest",
						    d.digest);
			}
			stack_push(todo, &children[i]);
		}
		store_descs_free(children, n);
	}
	return 0;
}

/* Push every index.json entry; a broken one aborts gc, since what it
 * protects cannot be known. */
static int gc_roots(struct store *s, struct desc_stack *todo, struct ckt_err *err)
{
	_cleanup_json_ json_t *idx = index_load(s, err);
	size_t i;
	json_t *e;

	if (!idx)
		return -1;
	json_t *m = json_object_get(idx, "manifests");
	json_array_foreach(m, i, e) {
		struct store_ref r;
		if (ref_from_json(e, &r, err) < 0)
			return ckt_err_wrap(err, "index.json entry %zu", i);
		stack_push(todo, &r.desc);
		store_ref_release(&r);
	}
	return 0;
}

static DIR *opendir_under(const struct store *s, const char *name, struct ckt_err *err)
{
	_cleanup_free_ char *path = root_path(s, name);
	DIR *d = opendir(path);
	if (!d && errno != ENOENT)
		ckt_err_sys(err, CKT_EIO, "open '%s'", path);
	return d;
}

/* Remove unmarked blobs of one algorithm; names that are not digests are
 * not ours to judge (fsck reports them). */
static int gc_sweep_alg(struct store *s, const char *alg, json_t *seen, struct store_gc_stats *st,
			struct ckt_err *err)
{
	_cleanup_free_ char *sub = xasprintf("blobs/%s", alg);
	_cleanup_closedir_ DIR *d = opendir_under(s, sub, err);
	struct dirent *de;

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d))) {
		char digest[STORE_DIGEST_MAX + 256];
		struct stat sb;
		snprintf(digest, sizeof(digest), "%s:%s", alg, de->d_name);
		if (!store_digest_valid(digest))
			continue;
		if (json_object_get(seen, digest)) {
			st->blobs_kept++;
			continue;
		}
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			sb.st_size = 0;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
			return ckt_err_sys(err, CKT_EIO, "remove '%s/%s/%s'", s->root, sub, de->d_name);
		st->blobs_removed++;
		st->bytes_removed += (uint64_t)sb.st_size;
	}
	return 0;
}

/* Everything in tmp/ belongs to a writer, and the exclusive lock proves
 * none is running: what is left is from a process that died. */
static int gc_sweep_tmp(struct store *s, struct store_gc_stats *st, struct ckt_err *err)
{
	_cleanup_closedir_ DIR *d = opendir_under(s, "tmp", err);
	struct dirent *de;

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		_cleanup_free_ char *path = xasprintf("%s/tmp/%s", s->root, de->d_name);
		if (ckt_rm_rf(path, err) < 0)
			return -1;
		st->tmp_removed++;
	}
	return 0;
}

int store_gc(struct store *s, store_walk_fn walk, void *data, struct store_gc_stats *st,
	     struct ckt_err *err)
{
	_cleanup_json_ json_t *seen = json_object();
	_cleanup_stack_ struct desc_stack todo = { 0 };
	struct store_gc_stats local = { 0 };

	assert(walk);
	if (need_writable(s, err) < 0)
		return ckt_err_wrap(err, "gc");
	/* Only the exclusive lock proves no writer is between writing a blob
	 * and referencing it. */
	if (!(s->flags & STORE_EXCLUSIVE))
		return ckt_err_failw(err, CKT_EUSAGE, "the store is not locked exclusively",
				     "gc '%s'", s->root);
	if (gc_roots(s, &todo, err) < 0 || gc_mark(s, walk, data, seen, &todo, err) < 0)
		return ckt_err_wrap(err, "gc '%s'", s->root);
	for (size_t i = 0; i < ARRAY_SIZE(known_algs); i++) {
		if (gc_sweep_alg(s, known_algs[i], seen, &local, err) < 0)
			return ckt_err_wrap(err, "gc '%s'", s->root);
	}
	if (gc_sweep_tmp(s, &local, err) < 0)
		return ckt_err_wrap(err, "gc '%s'", s->root);
	if (st)
		*st = local;
	return 0;
}

/* ---- fsck -------------------------------------------------------------- */

struct fsck {
	struct store *s;
	store_walk_fn walk;
	void *wdata;
	store_report_fn report;
	void *rdata;
	size_t problems;
	char *buf; /* HASH_BUF_SIZE bytes for re-hashing */
};

static void problem(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct fsck *f, const char *fmt, ...)
{
	char msg[CKT_ERR_WHAT_MAX + CKT_ERR_WHY_MAX + 256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f->problems++;
	if (f->report)
		f->report(msg, f->rdata);
}

/* Stream the whole file through the hasher: blobs may be far larger than
 * memory, so fsck never reads one whole. */
static int hash_fd(int fd, enum store_digest_alg alg, char *buf, char out[STORE_DIGEST_MAX],
		   struct ckt_err *err)
{
	_cleanup_hasher_ struct store_hasher *h = store_hasher_new(alg);
	for (;;) {
		ssize_t n = read(fd, buf, HASH_BUF_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ckt_err_sys(err, CKT_EIO, "read");
		if (n == 0)
			break;
		store_hasher_update(h, buf, (size_t)n);
	}
	store_hasher_final(h, out);
	return 0;
}

/* Check one file of blobs/<alg>/: named by a digest, a regular file, and
 * hashing to its name.  Every failure is a problem, never fatal. */
static void fsck_blob(struct fsck *f, DIR *d, const char *alg, const char *name)
{
	char digest[STORE_DIGEST_MAX + 256];
	char got[STORE_DIGEST_MAX], msg[CKT_ERR_WHAT_MAX + CKT_ERR_WHY_MAX];
	struct ckt_err err = CKT_ERR_INIT;
	enum store_digest_alg a;
	const char *hex;
	struct stat st;

	snprintf(digest, sizeof(digest), "%s:%s", alg, name);
	if (store_digest_parse(digest, &a, &hex, &err) < 0) {
		problem(f, "stray file 'blobs/%s/%s' is not named by a digest", alg, name);
		return;
	}
	if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
		problem(f, "blob %s is not a regular file", digest);
		return;
	}
	_cleanup_close_ int fd = openat(dirfd(d), name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		ckt_err_sys(&err, CKT_EIO, "open");
	if (fd < 0 || hash_fd(fd, a, f->buf, got, &err) < 0) {
		problem(f, "blob %s cannot be read (%s)", digest, ckt_err_str(&err, msg, sizeof(msg)));
		return;
	}
	if (strcmp(got, digest))
		problem(f, "blob %s is corrupt (content hashes to %s)", digest, got);
}

static int fsck_alg_dir(struct fsck *f, const char *alg, struct ckt_err *err)
{
	_cleanup_free_ char *sub = xasprintf("blobs/%s", alg);
	_cleanup_closedir_ DIR *d = opendir_under(f->s, sub, err);
	struct dirent *de;

	if (!d)
		return errno == ENOENT ? 0 : -1; /* removed since blobs/ was listed */
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			fsck_blob(f, d, alg, de->d_name);
	}
	return 0;
}

static bool is_known_alg(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(known_algs); i++) {
		if (!strcmp(name, known_algs[i]))
			return true;
	}
	return false;
}

/* Re-hash every blob and report anything under blobs/ that is not one. */
static int fsck_blobs(struct fsck *f, struct ckt_err *err)
{
	_cleanup_closedir_ DIR *d = opendir_under(f->s, "blobs", err);
	struct dirent *de;

	if (!d) {
		if (errno != ENOENT)
			return -1;
		problem(f, "directory 'blobs' is missing");
		return 0;
	}
	while ((de = readdir(d))) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!is_known_alg(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode)) {
			problem(f, "stray file 'blobs/%s' is not a digest algorithm directory",
				de->d_name);
			continue;
		}
		if (fsck_alg_dir(f, de->d_name, err) < 0)
			return -1;
	}
	return 0;
}

/* Check that the blob a descriptor names exists with the size it gives.
 * Returns true when it does (and so may be walked). */
static bool fsck_target(struct fsck *f, const char *from, const struct store_desc *d)
{
	struct ckt_err err = CKT_ERR_INIT;
	char msg[CKT_ERR_WHAT_MAX + CKT_ERR_WHY_MAX];
	int64_t size;

	if (blob_stat(f->s, d->digest, &size, &err) < 0) {
		if (err.code == CKT_ENOTFOUND)
			problem(f, "%s points to missing blob %s", from, d->digest);
		else
			problem(f, "%s points to blob %s: %s", from, d->digest,
				ckt_err_str(&err, msg, sizeof(msg)));
		return false;
	}
	if (d->size >= 0 && d->size != size) {
		problem(f, "%s gives blob %s a size of %lld bytes, but it has %lld", from, d->digest,
			(long long)d->size, (long long)size);
		return false;
	}
	return true;
}

/* Check each entry of index.json and queue the blobs they point to. */
static void fsck_index(struct fsck *f, struct desc_stack *todo)
{
	struct ckt_err err = CKT_ERR_INIT;
	char msg[CKT_ERR_WHAT_MAX + CKT_ERR_WHY_MAX];
	_cleanup_json_ json_t *idx = index_load(f->s, &err);
	_cleanup_json_ json_t *names = json_object();
	size_t i;
	json_t *e;

	if (!idx) {
		problem(f, "index.json: %s", ckt_err_str(&err, msg, sizeof(msg)));
		return;
	}
	json_t *m = json_object_get(idx, "manifests");
	json_array_foreach(m, i, e) {
		struct store_ref r;
		ckt_err_clear(&err);
		if (ref_from_json(e, &r, &err) < 0) {
			problem(f, "index.json entry %zu: %s", i, ckt_err_str(&err, msg, sizeof(msg)));
			continue;
		}
		_cleanup_free_ char *label = r.name ? xasprintf("ref '%s'", r.name)
						    : xasprintf("index.json entry %zu", i);
		if (r.name && !set_add(names, r.name))
			problem(f, "ref '%s' appears more than once in index.json", r.name);
		if (fsck_target(f, label, &r.desc))
			stack_push(todo, &r.desc);
		store_ref_release(&r);
	}
}

static void fsck_children(struct fsck *f, const struct store_desc *parent,
			  struct store_desc *children, size_t n, struct desc_stack *todo)
{
	_cleanup_free_ char *from = xasprintf("blob %s", parent->digest);
	for (size_t i = 0; i < n; i++) {
		if (!store_digest_valid(children[i].digest)) {
			problem(f, "%s references an invalid digest '%.*s'", from,
				(int)sizeof(children[i].digest), children[i].digest);
			continue;
		}
		if (fsck_target(f, from, &children[i]))
			stack_push(todo, &children[i]);
	}
}

/* Walk every queued blob once, checking each reference it makes.  The
 * seen set spans all refs: images sharing layers are checked once. */
static void fsck_graph(struct fsck *f, struct desc_stack *todo)
{
	_cleanup_json_ json_t *seen = json_object();
	char msg[CKT_ERR_WHAT_MAX + CKT_ERR_WHY_MAX];
	struct store_desc d;

	while (stack_pop(todo, &d)) {
		_cleanup_free_ char *mt = d.media_type; /* d's only owned field */
		struct ckt_err err = CKT_ERR_INIT;
		struct store_desc *children;
		size_t n;

		if (!set_add(seen, d.digest))
			continue;
		if (walk_one(f->s, f->walk, f->wdata, &d, &children, &n, &err) < 0) {
			problem(f, "blob %s cannot be walked (%s)", d.digest,
				ckt_err_str(&err, msg, sizeof(msg)));
			continue;
		}
		fsck_children(f, &d, children, n, todo);
		store_descs_free(children, n);
	}
}

int store_fsck(struct store *s, store_walk_fn walk, void *wdata, store_report_fn report,
	       void *rdata, size_t *problems, struct ckt_err *err)
{
	_cleanup_free_ char *buf = xmalloc(HASH_BUF_SIZE);
	_cleanup_stack_ struct desc_stack todo = { 0 };
	struct fsck f = { s, walk, wdata, report, rdata, 0, buf };

	if (fsck_blobs(&f, err) < 0)
		return ckt_err_wrap(err, "fsck '%s'", s->root);
	fsck_index(&f, &todo);
	if (walk)
		fsck_graph(&f, &todo);
	if (problems)
		*problems = f.problems;
	return 0;
}
