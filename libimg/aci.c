#include "libimg/aci.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/path.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "libimg/aci_tar.h"
#include "libimg/json.h"
#include "libimg/lazy_archive.h"
#include "store/digest.h"

#define ROOTLESS_XATTR "user.rootlesscontainers"

int img_aci_compression_parse(const char *s, enum img_aci_compression *out, struct ckt_err *err)
{
	static const char *const names[] = { "gzip", "xz", "bzip2", "none" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*out = (enum img_aci_compression)i;
			return 0;
		}
	return ckt_err_failw(err, CKT_EUSAGE, "use gzip, xz, bzip2 or none",
			     "unknown ACI compression '%s'", s);
}

const char *img_aci_compression_name(enum img_aci_compression c)
{
	switch (c) {
	case IMG_ACI_GZIP: return "gzip";
	case IMG_ACI_XZ: return "xz";
	case IMG_ACI_BZIP2: return "bzip2";
	case IMG_ACI_NONE: return "none";
	case IMG_ACI_ZSTD: return "zstd";
	}
	return "?";
}

int img_aci_sniff(const void *data, size_t len, enum img_aci_compression *out)
{
	const unsigned char *p = data;
	/* spec:aci/file.go DetectFileType, plus zstd so it can be named when refused. */
	if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		*out = IMG_ACI_GZIP;
	else if (len >= 3 && !memcmp(p, "BZh", 3))
		*out = IMG_ACI_BZIP2;
	else if (len >= 6 && !memcmp(p, "\xfd" "7zXZ\0", 6))
		*out = IMG_ACI_XZ;
	else if (len >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4))
		*out = IMG_ACI_ZSTD;
	else if (len >= 262 && !memcmp(p + 257, "ustar", 5))
		*out = IMG_ACI_NONE;
	else
		return -1;
	return 0;
}

int img_archive_err(struct archive *a, struct ckt_err *err, const char *fmt, ...)
{
	char what[CKT_ERR_WHAT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* The sink may already have filled err (a failed store write); keep that. */
	if (err->code != CKT_EOK)
		return ckt_err_wrap(err, "%s", what);
	const char *why = archive_error_string(a);
	int e = archive_errno(a);
	return ckt_err_failw(err, e == ENOMEM ? CKT_ENOMEM : CKT_EFORMAT, why ? why : "libarchive",
			     "%s", what);
}

/* ---- writer ----------------------------------------------------------- */

#define RING 4
#define CHUNK (1u << 20)

struct img_aci_writer {
	struct archive *tar;	/* pax_restricted, no filter: the stream the ID covers */
	struct archive *raw;	/* raw format + compressor; NULL for none */
	struct store_hasher *h;
	img_aci_sink_fn sink;
	void *sink_data;
	struct ckt_err *err;	/* where a sink failure is recorded */
	bool manifest_done;
	/* hard links: (dev, ino) → first path written */
	struct hl { dev_t dev; ino_t ino; char *path; } *links;
	size_t n_links, alloc_links;
	char *buf;
	/* Compression runs in a thread of its own, fed chunks of the tar
	 * stream through a ring, so archiving and hashing overlap with it (the
	 * way `tar | gzip` does on two cores). */
	pthread_t th;
	bool started, joined;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *ring[RING];
	size_t lens[RING];
	size_t head, tail, count;	/* filled chunks waiting: head..tail */
	size_t fill;			/* bytes in ring[tail] being filled */
	bool done, abandon, failed;
	struct ckt_err cerr;		/* the compressor thread's error */
};

static la_ssize_t raw_write_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	struct img_aci_writer *w = data;
	(void)a;
	if (w->sink(w->sink_data, buf, len, w->err) < 0)
		return -1;
	return (la_ssize_t)len;
}

static la_ssize_t cz_sink_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	struct img_aci_writer *w = data;
	(void)a;
	if (w->sink(w->sink_data, buf, len, &w->cerr) < 0)
		return -1;
	return (la_ssize_t)len;
}

static void *cz_main(void *data)
{
	struct img_aci_writer *w = data;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->count && !w->done && !w->abandon)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->abandon || (!w->count && w->done))
			break;
		size_t i = w->head;
		pthread_mutex_unlock(&w->mu);
		la_ssize_t n = archive_write_data(w->raw, w->ring[i], w->lens[i]);
		bool bad = n < 0 || (size_t)n != w->lens[i];
		if (bad && w->cerr.code == CKT_EOK)
			img_archive_err(w->raw, &w->cerr, "compress");
		pthread_mutex_lock(&w->mu);
		w->head = (w->head + 1) % RING;
		w->count--;
		pthread_cond_broadcast(&w->cv);
		if (bad) {
			w->failed = true;
			break;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Hand the chunk being filled to the compressor and wait for a free one. */
static int cz_submit(struct img_aci_writer *w)
{
	pthread_mutex_lock(&w->mu);
	w->lens[w->tail] = w->fill;
	w->tail = (w->tail + 1) % RING;
	w->count++;
	w->fill = 0;
	pthread_cond_broadcast(&w->cv);
	while (w->count == RING && !w->failed)
		pthread_cond_wait(&w->cv, &w->mu);
	bool failed = w->failed;
	pthread_mutex_unlock(&w->mu);
	return failed ? -1 : 0;
}

static int cz_join(struct img_aci_writer *w, bool abandon)
{
	if (!w->started || w->joined)
		return 0;
	pthread_mutex_lock(&w->mu);
	if (abandon)
		w->abandon = true;
	w->done = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	w->joined = true;
	return w->failed ? -1 : 0;
}

static la_ssize_t tar_write_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	struct img_aci_writer *w = data;
	const char *p = buf;
	size_t left = len;

	store_hasher_update(w->h, buf, len);
	if (!w->raw)
		return raw_write_cb(a, w, buf, len);
	while (left) {
		size_t n = CHUNK - w->fill < left ? CHUNK - w->fill : left;
		memcpy(w->ring[w->tail] + w->fill, p, n);
		w->fill += n;
		p += n;
		left -= n;
		if (w->fill == CHUNK && cz_submit(w) < 0) {
			if (w->err->code == CKT_EOK)
				*w->err = w->cerr;
			return -1;
		}
	}
	return (la_ssize_t)len;
}

struct img_aci_writer *img_aci_writer_new(enum img_aci_compression c, img_aci_sink_fn sink,
					  void *sink_data, struct ckt_err *err)
{
	struct img_aci_writer *w = xcalloc(1, sizeof(*w));
	w->sink = sink;
	w->sink_data = sink_data;
	w->err = err;
	w->h = store_hasher_new(STORE_DIGEST_SHA512);
	w->buf = xmalloc(1 << 17);
	if (c != IMG_ACI_NONE) {
		int r;
		w->raw = archive_write_new();
		archive_write_set_format_raw(w->raw);
		/* Fixed levels and no name/mtime in the header: reproducible bytes. */
		switch (c) {
		case IMG_ACI_GZIP:
			r = archive_write_add_filter_gzip(w->raw);
			if (r == ARCHIVE_OK)
				r = archive_write_set_options(
					w->raw, "gzip:compression-level=6,gzip:!timestamp");
			break;
		case IMG_ACI_XZ:
			r = archive_write_add_filter_xz(w->raw);
			if (r == ARCHIVE_OK)
				r = archive_write_set_options(w->raw,
							      "xz:compression-level=6,xz:threads=1");
			break;
		case IMG_ACI_BZIP2:
			r = archive_write_add_filter_bzip2(w->raw);
			if (r == ARCHIVE_OK)
				r = archive_write_set_options(w->raw, "bzip2:compression-level=9");
			break;
		default:
			r = ARCHIVE_FATAL;
			break;
		}
		if (r != ARCHIVE_OK) {
			img_archive_err(w->raw, err, "set up %s compression",
					img_aci_compression_name(c));
			goto fail;
		}
		archive_write_set_bytes_in_last_block(w->raw, 1);
		if (archive_write_open(w->raw, w, NULL, cz_sink_cb, NULL) != ARCHIVE_OK) {
			img_archive_err(w->raw, err, "start the compressor");
			goto fail;
		}
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, "aci");
		archive_entry_set_filetype(e, AE_IFREG);
		int hr = archive_write_header(w->raw, e);
		archive_entry_free(e);
		if (hr != ARCHIVE_OK) {
			img_archive_err(w->raw, err, "start the compressor");
			goto fail;
		}
		for (size_t i = 0; i < RING; i++)
			w->ring[i] = xmalloc(CHUNK);
		pthread_mutex_init(&w->mu, NULL);
		pthread_cond_init(&w->cv, NULL);
		if (pthread_create(&w->th, NULL, cz_main, w)) {
			ckt_err_fail(err, CKT_EINTERNAL, "start the compressor thread");
			goto fail;
		}
		w->started = true;
	}
	w->tar = archive_write_new();
	archive_write_set_format_pax_restricted(w->tar);
	archive_write_add_filter_none(w->tar);
	if (archive_write_open(w->tar, w, NULL, tar_write_cb, NULL) != ARCHIVE_OK) {
		img_archive_err(w->tar, err, "start the archive");
		goto fail;
	}
	return w;
fail:
	img_aci_writer_free(w);
	return NULL;
}

void img_aci_writer_free(struct img_aci_writer *w)
{
	if (!w)
		return;
	cz_join(w, true);
	if (w->started) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
	}
	for (size_t i = 0; i < RING; i++)
		free(w->ring[i]);
	if (w->tar)
		archive_write_free(w->tar);
	if (w->raw)
		archive_write_free(w->raw);
	store_hasher_free(w->h);
	for (size_t i = 0; i < w->n_links; i++)
		free(w->links[i].path);
	free(w->links);
	free(w->buf);
	free(w);
}

int img_aci_write_entry(struct img_aci_writer *w, struct archive_entry *e, struct ckt_err *err)
{
	if (archive_write_header(w->tar, e) != ARCHIVE_OK)
		return img_archive_err(w->tar, err, "write '%s'", archive_entry_pathname(e));
	return 0;
}

int img_aci_write_data(struct img_aci_writer *w, const void *buf, size_t len, struct ckt_err *err)
{
	la_ssize_t n = archive_write_data(w->tar, buf, len);
	if (n < 0 || (size_t)n != len)
		return img_archive_err(w->tar, err, "write data");
	return 0;
}

/* A generated entry: root-owned, mtime 0 (docker2aci writes the same). */
static struct archive_entry *gen_entry(const char *path, mode_t type, mode_t perm)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, 0, 0);
	return e;
}

int img_aci_writer_manifest(struct img_aci_writer *w, const char *json, size_t len,
			    struct ckt_err *err)
{
	if (w->manifest_done)
		return ckt_err_fail(err, CKT_EINTERNAL, "manifest written twice");
	struct archive_entry *e = gen_entry("manifest", AE_IFREG, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	int r = img_aci_write_entry(w, e, err);
	archive_entry_free(e);
	if (r < 0 || img_aci_write_data(w, json, len, err) < 0)
		return -err->code;
	e = gen_entry("rootfs", AE_IFDIR, 0755);
	r = img_aci_write_entry(w, e, err);
	archive_entry_free(e);
	w->manifest_done = true;
	return r;
}

/* umoci's user.rootlesscontainers: protobuf, field 1 uid, field 2 gid, varints. */
static void rootless_owner(const unsigned char *p, size_t n, uint64_t *uid, uint64_t *gid)
{
	size_t i = 0;
	*uid = *gid = 0;
	while (i < n) {
		unsigned key = p[i++];
		uint64_t v = 0;
		int shift = 0;
		if ((key & 7) != 0)
			return;
		while (i < n && shift < 64) {
			v |= (uint64_t)(p[i] & 0x7f) << shift;
			shift += 7;
			if (!(p[i++] & 0x80))
				break;
		}
		if ((key >> 3) == 1)
			*uid = v;
		else if ((key >> 3) == 2)
			*gid = v;
	}
}

static int add_xattrs(struct archive_entry *e, const char *path, unsigned flags,
		      const struct stat *st, struct ckt_err *err)
{
	ssize_t n = llistxattr(path, NULL, 0);
	if (n < 0) {
		if (errno == ENOTSUP || errno == ENODATA)
			return 0;
		return ckt_err_sys(err, CKT_EIO, "list xattrs of '%s'", path);
	}
	if (n == 0)
		return 0;
	_cleanup_free_ char *names = xmalloc((size_t)n + 1);
	n = llistxattr(path, names, (size_t)n);
	if (n < 0)
		return ckt_err_sys(err, CKT_EIO, "list xattrs of '%s'", path);
	names[n] = '\0';
	/* Sorted, so the pax header is the same whatever order the FS lists. */
	size_t cnt = 0;
	for (char *p = names; p < names + n; p += strlen(p) + 1)
		cnt++;
	_cleanup_free_ char **v = xcalloc(cnt + 1, sizeof(*v));
	cnt = 0;
	for (char *p = names; p < names + n; p += strlen(p) + 1)
		v[cnt++] = p;
	qsort(v, cnt, sizeof(*v), img_strcmp_p);
	for (size_t i = 0; i < cnt; i++) {
		ssize_t vl = lgetxattr(path, v[i], NULL, 0);
		if (vl < 0)
			continue;
		_cleanup_free_ char *val = xmalloc((size_t)vl + 1);
		vl = lgetxattr(path, v[i], val, (size_t)vl);
		if (vl < 0)
			continue;
		if (!strcmp(v[i], ROOTLESS_XATTR)) {
			if (flags & IMG_ACI_TREE_ROOTLESS) {
				uint64_t uid, gid;
				rootless_owner((unsigned char *)val, (size_t)vl, &uid, &gid);
				archive_entry_set_uid(e, (la_int64_t)uid);
				archive_entry_set_gid(e, (la_int64_t)gid);
			}
			continue;
		}
		archive_entry_xattr_add_entry(e, v[i], val, (size_t)vl);
	}
	(void)st;
	return 0;
}

int img_strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int write_file_data(struct img_aci_writer *w, const char *path, int64_t size,
			   struct ckt_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "open '%s'", path);
	int64_t left = size;
	while (left > 0) {
		ssize_t n = read(fd, w->buf, left > (1 << 17) ? (1 << 17) : (size_t)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ckt_err_sys(err, CKT_EIO, "read '%s'", path);
		}
		if (n == 0)
			return ckt_err_fail(err, CKT_EIO, "'%s' shrank while being archived", path);
		if (img_aci_write_data(w, w->buf, (size_t)n, err) < 0)
			return -err->code;
		left -= n;
	}
	return 0;
}

/* Add one tree entry: path on disk, name in the archive. */
static int add_one(struct img_aci_writer *w, const char *path, const char *name, unsigned flags,
		   struct ckt_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return ckt_err_sys(err, CKT_EIO, "stat '%s'", path);
	if (S_ISSOCK(st.st_mode))
		return 0;
	struct archive_entry *e = archive_entry_new();
	int r = -1;
	archive_entry_set_pathname(e, name);
	archive_entry_set_mode(e, st.st_mode);
	archive_entry_set_uid(e, st.st_uid);
	archive_entry_set_gid(e, st.st_gid);
	archive_entry_set_mtime(e, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	if (flags & IMG_ACI_TREE_ROOTLESS) {
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
	}
	if (add_xattrs(e, path, flags, &st, err) < 0)
		goto out;
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		for (size_t i = 0; i < w->n_links; i++)
			if (w->links[i].dev == st.st_dev && w->links[i].ino == st.st_ino) {
				archive_entry_set_hardlink(e, w->links[i].path);
				archive_entry_set_size(e, 0);
				r = img_aci_write_entry(w, e, err);
				goto out;
			}
		ALLOC_GROW(w->links, w->n_links + 1, w->alloc_links);
		w->links[w->n_links++] = (struct hl){ st.st_dev, st.st_ino, xstrdup(name) };
	}
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n < 0) {
			ckt_err_sys(err, CKT_EIO, "read link '%s'", path);
			goto out;
		}
		target[n] = '\0';
		archive_entry_set_symlink(e, target);
	} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		archive_entry_set_rdevmajor(e, major(st.st_rdev));
		archive_entry_set_rdevminor(e, minor(st.st_rdev));
	} else if (S_ISREG(st.st_mode)) {
		archive_entry_set_size(e, st.st_size);
	}
	if (img_aci_write_entry(w, e, err) < 0)
		goto out;
	if (S_ISREG(st.st_mode) && st.st_size > 0 && write_file_data(w, path, st.st_size, err) < 0)
		goto out;
	r = 0;
out:
	archive_entry_free(e);
	return r < 0 ? -err->code : 0;
}

static int walk(struct img_aci_writer *w, struct ckt_buf *path, struct ckt_buf *name,
		unsigned flags, struct ckt_err *err)
{
	_cleanup_closedir_ DIR *d = opendir(ckt_buf_str(path));
	if (!d)
		return ckt_err_sys(err, CKT_EIO, "open directory '%s'", ckt_buf_str(path));
	_cleanup_strv_ char **names = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		ALLOC_GROW(names, n + 2, alloc);
		names[n++] = xstrdup(de->d_name);
		names[n] = NULL;
	}
	if (errno)
		return ckt_err_sys(err, CKT_EIO, "read directory '%s'", ckt_buf_str(path));
	if (!n)
		return 0;
	qsort(names, n, sizeof(*names), img_strcmp_p);
	size_t plen = path->len, nlen = name->len;
	for (size_t i = 0; i < n; i++) {
		ckt_buf_addch(path, '/');
		ckt_buf_adds(path, names[i]);
		ckt_buf_addch(name, '/');
		ckt_buf_adds(name, names[i]);
		if (add_one(w, path->buf, name->buf, flags, err) < 0)
			return -err->code;
		struct stat st;
		if (lstat(path->buf, &st) == 0 && S_ISDIR(st.st_mode) &&
		    walk(w, path, name, flags, err) < 0)
			return -err->code;
		path->len = plen;
		path->buf[plen] = '\0';
		name->len = nlen;
		name->buf[nlen] = '\0';
	}
	return 0;
}

int img_aci_writer_tree(struct img_aci_writer *w, const char *dir, unsigned flags,
			struct ckt_err *err)
{
	_cleanup_buf_ struct ckt_buf path = CKT_BUF_INIT;
	_cleanup_buf_ struct ckt_buf name = CKT_BUF_INIT;
	if (!w->manifest_done)
		return ckt_err_fail(err, CKT_EINTERNAL, "tree written before the manifest");
	ckt_buf_adds(&path, dir);
	while (path.len > 1 && path.buf[path.len - 1] == '/')
		path.buf[--path.len] = '\0';
	ckt_buf_adds(&name, "rootfs");
	if (walk(w, &path, &name, flags, err) < 0)
		return ckt_err_wrap(err, "archive '%s'", dir);
	return 0;
}

int img_aci_writer_finish(struct img_aci_writer *w, char id[IMG_ACI_ID_MAX], struct ckt_err *err)
{
	char d[STORE_DIGEST_MAX];
	if (archive_write_close(w->tar) != ARCHIVE_OK)
		return img_archive_err(w->tar, err, "finish the archive");
	if (w->raw) {
		if (w->fill && cz_submit(w) < 0) {
			cz_join(w, true);
			*err = w->cerr;
			return ckt_err_wrap(err, "finish the archive");
		}
		if (cz_join(w, false) < 0) {
			*err = w->cerr;
			return ckt_err_wrap(err, "finish the archive");
		}
		if (archive_write_close(w->raw) != ARCHIVE_OK) {
			if (w->cerr.code != CKT_EOK)
				*err = w->cerr;
			return img_archive_err(w->raw, err, "finish the compressor");
		}
	}
	store_hasher_final(w->h, d);
	/* "sha512:<hex>" → "sha512-<hex>" (spec/types.md "Image ID Type"). */
	snprintf(id, IMG_ACI_ID_MAX, "sha512-%s", d + strlen("sha512:"));
	return 0;
}

/* ---- reading ---------------------------------------------------------- */

struct img_tar_reader {
	struct archive *raw;	/* decompressor (format raw) */
	struct archive *tar;
	struct store_hasher *h;
	uint64_t size;
	bool eof;
	bool failed;
};

static la_ssize_t tar_read_cb(struct archive *a, void *data, const void **buf)
{
	struct img_tar_reader *r = data;
	const void *b;
	size_t len;
	la_int64_t off;

	if (r->eof)
		return 0;
	int ret = archive_read_data_block(r->raw, &b, &len, &off);
	if (ret == ARCHIVE_EOF) {
		r->eof = true;
		return 0;
	}
	if (ret != ARCHIVE_OK) {
		r->failed = true;
		archive_set_error(a, archive_errno(r->raw), "decompress: %s",
				  archive_error_string(r->raw) ? archive_error_string(r->raw) : "?");
		return -1;
	}
	store_hasher_update(r->h, b, len);
	r->size += len;
	*buf = b;
	return (la_ssize_t)len;
}

static struct img_tar_reader *reader_open(int fd, bool layer, enum img_aci_compression *comp,
					  struct ckt_err *err);

struct img_tar_reader *img_tar_reader_open(int fd, enum img_aci_compression *comp,
					   struct ckt_err *err)
{
	return reader_open(fd, false, comp, err);
}

struct img_tar_reader *img_tar_reader_open_layer(int fd, struct ckt_err *err)
{
	return reader_open(fd, true, NULL, err);
}

static struct img_tar_reader *reader_open(int fd, bool layer, enum img_aci_compression *comp,
					  struct ckt_err *err)
{
	unsigned char head[512];
	off_t at = lseek(fd, 0, SEEK_CUR);
	ssize_t n = at < 0 ? -1 : pread(fd, head, sizeof(head), at);
	enum img_aci_compression c;

	if (n < 0) {
		ckt_err_sys(err, CKT_EIO, "read");
		return NULL;
	}
	if (img_aci_sniff(head, (size_t)n, &c) < 0 && layer)
		c = IMG_ACI_NONE;
	else if (img_aci_sniff(head, (size_t)n, &c) < 0) {
		ckt_err_failw(err, CKT_EFORMAT, "not a tar, nor gzip, bzip2 or xz data",
			      "unrecognised archive format");
		return NULL;
	}
	if (c == IMG_ACI_ZSTD && !layer) {
		ckt_err_failw(err, CKT_EFORMAT, "the appc spec allows gzip, bzip2 and xz",
			      "zstd-compressed ACI");
		return NULL;
	}
	if (comp)
		*comp = c;
	struct img_tar_reader *r = xcalloc(1, sizeof(*r));
	r->h = store_hasher_new(STORE_DIGEST_SHA512);
	r->raw = archive_read_new();
	archive_read_support_format_raw(r->raw);
	switch (c) {
	case IMG_ACI_GZIP: archive_read_support_filter_gzip(r->raw); break;
	case IMG_ACI_BZIP2: archive_read_support_filter_bzip2(r->raw); break;
	case IMG_ACI_XZ: archive_read_support_filter_xz(r->raw); break;
	case IMG_ACI_ZSTD: archive_read_support_filter_zstd(r->raw); break;
	default: archive_read_support_filter_none(r->raw); break;
	}
	struct archive_entry *e;
	if (archive_read_open_fd(r->raw, fd, 1 << 17) != ARCHIVE_OK ||
	    archive_read_next_header(r->raw, &e) != ARCHIVE_OK) {
		img_archive_err(r->raw, err, "open the %s stream", img_aci_compression_name(c));
		img_tar_reader_free(r);
		return NULL;
	}
	r->tar = archive_read_new();
	archive_read_support_format_tar(r->tar);
	archive_read_support_filter_none(r->tar);
	if (archive_read_open(r->tar, r, NULL, tar_read_cb, NULL) != ARCHIVE_OK) {
		img_archive_err(r->tar, err, "read the tar stream");
		img_tar_reader_free(r);
		return NULL;
	}
	return r;
}

struct archive *img_tar_reader_archive(struct img_tar_reader *r)
{
	return r->tar;
}

int img_tar_reader_finish(struct img_tar_reader *r, char id[IMG_ACI_ID_MAX], uint64_t *size,
			  struct ckt_err *err)
{
	char d[STORE_DIGEST_MAX];
	/* The ID covers the whole stream, padding after the end blocks included. */
	while (!r->eof) {
		const void *b;
		if (tar_read_cb(r->tar, r, &b) < 0)
			return img_archive_err(r->tar, err, "read to the end");
	}
	store_hasher_final(r->h, d);
	snprintf(id, IMG_ACI_ID_MAX, "sha512-%s", d + strlen("sha512:"));
	if (size)
		*size = r->size;
	return 0;
}

void img_tar_reader_free(struct img_tar_reader *r)
{
	if (!r)
		return;
	if (r->tar)
		archive_read_free(r->tar);
	if (r->raw)
		archive_read_free(r->raw);
	store_hasher_free(r->h);
	free(r);
}

char *img_aci_member_clean(const char *name)
{
	while (name[0] == '/' || (name[0] == '.' && name[1] == '/'))
		name++;
	if (!*name || !strcmp(name, "."))
		return xstrdup(".");
	if (ckt_path_escapes(name))
		return NULL;
	return ckt_path_clean(name);
}

void img_aci_info_release(struct img_aci_info *info)
{
	free(info->manifest);
	for (size_t i = 0; i < info->n_paths; i++)
		free(info->paths[i]);
	free(info->paths);
	free(info->types);
	memset(info, 0, sizeof(*info));
}

static unsigned char entry_type(struct archive_entry *e)
{
	if (archive_entry_hardlink(e))
		return 'h';
	switch (archive_entry_filetype(e)) {
	case AE_IFDIR: return 'd';
	case AE_IFREG: return 'f';
	case AE_IFLNK: return 'l';
	default: return 'o';
	}
}

static int cmp_idx_path(const void *a, const void *b, void *paths)
{
	char **p = paths;
	return strcmp(p[*(const size_t *)a], p[*(const size_t *)b]);
}

int img_aci_check(int fd, struct img_aci_info *out, struct ckt_err *err)
{
	_cleanup_tar_reader_ struct img_tar_reader *r = NULL;
	struct img_aci_info info = { 0 };
	size_t alloc = 0;
	bool have_rootfs = false;
	int ret = -1;

	r = img_tar_reader_open(fd, &info.compression, err);
	if (!r)
		return -err->code;
	struct archive *a = img_tar_reader_archive(r);
	for (;;) {
		struct archive_entry *e;
		int x = archive_read_next_header(a, &e);
		if (x == ARCHIVE_EOF)
			break;
		if (x != ARCHIVE_OK && x != ARCHIVE_WARN) {
			img_archive_err(a, err, "read the tar stream");
			goto out;
		}
		const char *raw = archive_entry_pathname(e);
		_cleanup_free_ char *name = raw ? img_aci_member_clean(raw) : NULL;
		if (!name) {
			ckt_err_fail(err, CKT_EFORMAT, "entry '%s' escapes the archive",
				     raw ? raw : "");
			goto out;
		}
		if (!strcmp(name, "."))
			continue;
		unsigned char t = entry_type(e);
		if (!strcmp(name, "manifest")) {
			if (info.manifest) {
				ckt_err_fail(err, CKT_EFORMAT, "duplicate entry 'manifest'");
				goto out;
			}
			if (t != 'f') {
				ckt_err_fail(err, CKT_EFORMAT, "'manifest' is not a regular file");
				goto out;
			}
			la_int64_t sz = archive_entry_size(e);
			if (sz < 0 || sz > (16 << 20)) {
				ckt_err_fail(err, CKT_EFORMAT, "'manifest' of %lld bytes is too large",
					     (long long)sz);
				goto out;
			}
			info.manifest = xmalloc((size_t)sz + 1);
			la_ssize_t got = archive_read_data(a, info.manifest, (size_t)sz);
			if (got != sz) {
				img_archive_err(a, err, "read 'manifest'");
				goto out;
			}
			info.manifest[sz] = '\0';
			info.manifest_len = (size_t)sz;
			continue;
		}
		const char *sub;
		if (!strcmp(name, "rootfs")) {
			if (t != 'd') {
				ckt_err_fail(err, CKT_EFORMAT, "'rootfs' is not a directory");
				goto out;
			}
			have_rootfs = true;
			sub = "";
		} else if (!strncmp(name, "rootfs/", 7)) {
			sub = name + 6;
		} else {
			ckt_err_failw(err, CKT_EFORMAT,
				      "an ACI holds only 'manifest' and 'rootfs' at its top level",
				      "unexpected top-level entry '%s'", name);
			goto out;
		}
		if (t == 'h') {
			_cleanup_free_ char *target = img_aci_member_clean(archive_entry_hardlink(e));
			if (!target || strncmp(target, "rootfs/", 7)) {
				ckt_err_fail(err, CKT_EFORMAT,
					     "hard link '%s' points outside rootfs ('%s')", name,
					     archive_entry_hardlink(e));
				goto out;
			}
		}
		ALLOC_GROW(info.paths, info.n_paths + 1, alloc);
		info.types = xreallocarray(info.types, alloc, 1);
		info.paths[info.n_paths] = xstrdup(*sub ? sub : "/");
		info.types[info.n_paths++] = t;
	}
	if (!info.manifest) {
		ckt_err_fail(err, CKT_EFORMAT, "no 'manifest' entry");
		goto out;
	}
	if (!have_rootfs && info.n_paths == 0) {
		ckt_err_fail(err, CKT_EFORMAT, "no 'rootfs' directory");
		goto out;
	}
	if (info.n_paths) {
		/* Duplicates (spec/aci.md: "no duplicate entries"), found by sorting. */
		_cleanup_free_ size_t *idx = xcalloc(info.n_paths, sizeof(*idx));
		for (size_t i = 0; i < info.n_paths; i++)
			idx[i] = i;
		qsort_r(idx, info.n_paths, sizeof(*idx), cmp_idx_path, info.paths);
		for (size_t i = 1; i < info.n_paths; i++)
			if (!strcmp(info.paths[idx[i]], info.paths[idx[i - 1]])) {
				ckt_err_fail(err, CKT_EFORMAT, "duplicate entry 'rootfs%s'",
					     strcmp(info.paths[idx[i]], "/") ? info.paths[idx[i]] : "");
				goto out;
			}
	}
	if (img_aci_manifest_check(info.manifest, info.manifest_len, err) < 0)
		goto out;
	if (img_tar_reader_finish(r, info.id, &info.tar_size, err) < 0)
		goto out;
	*out = info;
	memset(&info, 0, sizeof(info));
	ret = 0;
out:
	img_aci_info_release(&info);
	return ret < 0 ? -err->code : 0;
}

/* ---- a small string → int map (open addressing) ---------------------------- */

static size_t hash_str(const char *s)
{
	size_t h = 1469598103934665603u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

int *img_pmap_slot(struct img_pmap *m, const char *k, bool create)
{
	if (create && (m->n + 1) * 2 > m->cap) {
		struct img_pmap big = { .cap = m->cap ? m->cap * 2 : 1024 };
		big.keys = xcalloc(big.cap, sizeof(char *));
		big.vals = xcalloc(big.cap, sizeof(int));
		for (size_t i = 0; i < m->cap; i++)
			if (m->keys[i]) {
				size_t j = hash_str(m->keys[i]) & (big.cap - 1);
				while (big.keys[j])
					j = (j + 1) & (big.cap - 1);
				big.keys[j] = m->keys[i];
				big.vals[j] = m->vals[i];
			}
		big.n = m->n;
		free(m->keys);
		free(m->vals);
		*m = big;
	}
	if (!m->cap)
		return NULL;
	size_t j = hash_str(k) & (m->cap - 1);
	while (m->keys[j]) {
		if (!strcmp(m->keys[j], k))
			return &m->vals[j];
		j = (j + 1) & (m->cap - 1);
	}
	if (!create)
		return NULL;
	m->keys[j] = xstrdup(k);
	m->n++;
	return &m->vals[j];
}

void img_pmap_release(struct img_pmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ---- manifest and identifiers ----------------------------------------- */

static bool is_sep(char c)
{
	return c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
}

bool img_ac_identifier_valid(const char *s)
{
	/* ^[a-z0-9]+([-._~/][a-z0-9]+)*$ (spec/types.md "AC Identifier Type"). */
	if (!*s || is_sep(*s))
		return false;
	for (const char *p = s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
			continue;
		if (!is_sep(*p) || !p[1] || is_sep(p[1]))
			return false;
	}
	return true;
}

static char *sanitize(const char *s, const char *seps, char repl)
{
	size_t n = strlen(s);
	char *o = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr(seps, c)))
			c = repl;
		o[i] = c;
	}
	o[n] = '\0';
	/* Trim separators (and the replacement) at both ends, as appc's Sanitize* do. */
	size_t b = 0;
	while (o[b] && (strchr(seps, o[b]) || o[b] == repl))
		b++;
	size_t e = n;
	while (e > b && (strchr(seps, o[e - 1]) || o[e - 1] == repl))
		e--;
	memmove(o, o + b, e - b);
	o[e - b] = '\0';
	return o;
}

char *img_ac_identifier_sanitize(const char *s)
{
	return sanitize(s, "-._~/", '_');
}

char *img_ac_name_sanitize(const char *s)
{
	return sanitize(s, "-", '-');
}

/* Lenient on read (APPC-NOTES 1.3): the Go validators only refuse invalid
 * characters and separators at the ends. */
static bool ac_identifier_lenient(const char *s)
{
	if (!*s || is_sep(s[0]) || is_sep(s[strlen(s) - 1]))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || is_sep(*p)))
			return false;
	return true;
}

static int check_name_value_list(json_t *m, const char *key, struct ckt_err *err)
{
	json_t *arr = json_object_get(m, key);
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return ckt_err_fail(err, CKT_EFORMAT, "manifest: '%s' is not an array", key);
	size_t i, j;
	json_t *v, *w;
	json_array_foreach(arr, i, v) {
		json_t *n = json_object_get(v, "name"), *val = json_object_get(v, "value");
		if (!json_is_object(v) || !json_is_string(n) || (val && !json_is_string(val)))
			return ckt_err_fail(err, CKT_EFORMAT,
					    "manifest: %s[%zu] is not a {name, value} pair", key, i);
		if (!ac_identifier_lenient(json_string_value(n)))
			return ckt_err_fail(err, CKT_EFORMAT, "manifest: %s name '%s' is not an AC identifier",
					    key, json_string_value(n));
		if (!strcmp(key, "labels") && !strcmp(json_string_value(n), "name"))
			return ckt_err_fail(err, CKT_EFORMAT, "manifest: a label may not be called 'name'");
		json_array_foreach(arr, j, w) {
			if (j >= i)
				break;
			if (!strcmp(json_string_value(json_object_get(w, "name")), json_string_value(n)))
				return ckt_err_fail(err, CKT_EFORMAT, "manifest: duplicate %s name '%s'",
						    key, json_string_value(n));
		}
	}
	return 0;
}

int img_aci_manifest_check(const char *json, size_t len, struct ckt_err *err)
{
	_cleanup_json_ json_t *m = img_json_parse(json, len, "image manifest", err);
	const char *kind, *ver, *name;
	json_t *app, *deps, *pwl;

	if (!m)
		return -err->code;
	if (img_json_str(m, "acKind", true, "manifest", &kind, err) < 0)
		return -err->code;
	if (strcmp(kind, "ImageManifest"))
		return ckt_err_fail(err, CKT_EFORMAT, "manifest: acKind is '%s', not 'ImageManifest'",
				    kind);
	if (img_json_str(m, "acVersion", true, "manifest", &ver, err) < 0)
		return -err->code;
	if (!*ver)
		return ckt_err_fail(err, CKT_EFORMAT, "manifest: empty acVersion");
	if (img_json_str(m, "name", false, "manifest", &name, err) < 0)
		return -err->code;
	if (!name || !*name)
		return ckt_err_fail(err, CKT_EFORMAT, "manifest: no name");
	if (!ac_identifier_lenient(name))
		return ckt_err_fail(err, CKT_EFORMAT, "manifest: name '%s' is not an AC identifier",
				    name);
	if (check_name_value_list(m, "labels", err) < 0 ||
	    check_name_value_list(m, "annotations", err) < 0)
		return -err->code;
	if (img_json_obj(m, "app", false, "manifest", &app, err) < 0)
		return -err->code;
	if (app) {
		const char *u, *g;
		if (img_json_str(app, "user", false, "manifest app", &u, err) < 0 ||
		    img_json_str(app, "group", false, "manifest app", &g, err) < 0)
			return -err->code;
		if (!u || !*u || !g || !*g)
			return ckt_err_failw(err, CKT_EFORMAT, "the spec requires both",
					     "manifest: app without user or group");
		json_t *sg = json_object_get(app, "supplementaryGIDs");
		if (!sg)
			sg = json_object_get(app, "supplementaryGids");
		if (sg && !json_is_null(sg)) {
			size_t i;
			json_t *v;
			if (!json_is_array(sg))
				return ckt_err_fail(err, CKT_EFORMAT, "manifest: supplementaryGIDs is not an array");
			json_array_foreach(sg, i, v)
				if (!json_is_integer(v) || json_integer_value(v) < 0)
					return ckt_err_fail(err, CKT_EFORMAT, "manifest: supplementaryGIDs[%zu] is not a gid", i);
		}
		json_t *exec = json_object_get(app, "exec");
		if (exec && !json_is_null(exec)) {
			size_t i;
			json_t *v;
			if (!json_is_array(exec))
				return ckt_err_fail(err, CKT_EFORMAT, "manifest: app.exec is not an array");
			json_array_foreach(exec, i, v)
				if (!json_is_string(v))
					return ckt_err_fail(err, CKT_EFORMAT, "manifest: app.exec[%zu] is not a string", i);
		}
	}
	if (img_json_arr(m, "dependencies", false, "manifest", &deps, err) < 0)
		return -err->code;
	if (deps) {
		size_t i;
		json_t *d;
		json_array_foreach(deps, i, d) {
			const char *dn, *did;
			if (!json_is_object(d))
				return ckt_err_fail(err, CKT_EFORMAT, "manifest: dependencies[%zu] is not an object", i);
			if (img_json_str(d, "imageName", true, "manifest dependency", &dn, err) < 0 ||
			    img_json_str(d, "imageID", false, "manifest dependency", &did, err) < 0)
				return -err->code;
			if (!ac_identifier_lenient(dn))
				return ckt_err_fail(err, CKT_EFORMAT, "manifest: dependency name '%s' is not an AC identifier", dn);
			if (did && (strncmp(did, "sha512-", 7) || strlen(did) < 9 || strlen(did) > 135 ||
				    strspn(did + 7, "0123456789abcdef") != strlen(did + 7)))
				return ckt_err_fail(err, CKT_EFORMAT, "manifest: dependency image ID '%s' is not sha512-<hex>", did);
			if (check_name_value_list(d, "labels", err) < 0)
				return -err->code;
		}
	}
	if (img_json_arr(m, "pathWhitelist", false, "manifest", &pwl, err) < 0)
		return -err->code;
	if (pwl) {
		size_t i;
		json_t *v;
		json_array_foreach(pwl, i, v)
			if (!json_is_string(v) || json_string_value(v)[0] != '/')
				return ckt_err_fail(err, CKT_EFORMAT, "manifest: pathWhitelist[%zu] is not an absolute path", i);
	}
	return 0;
}
