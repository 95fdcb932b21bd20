#include "libimg/dest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "libimg/aci_tar.h"
#include "libimg/image.h"
#include "libimg/json.h"
#include "libimg/lazy_archive.h"
#include "libimg/manifest.h"
#include "libimg/ref.h"
#include "store/digest.h"

enum dest_kind { DEST_OCI, DEST_OCI_ARCHIVE, DEST_DOCKER_ARCHIVE };

static const struct {
	const char *prefix;
	enum dest_kind kind;
} kinds[] = {
	{ "oci:", DEST_OCI },
	{ "oci-archive:", DEST_OCI_ARCHIVE },
	{ "docker-archive:", DEST_DOCKER_ARCHIVE },
};

bool img_dest_is_known(const char *dest)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (!strncmp(dest, kinds[i].prefix, strlen(kinds[i].prefix)))
			return true;
	return false;
}

/* The blobs an image needs, children before parents. */
struct blobs {
	struct store_desc *v;
	size_t n, alloc;
};

static void blobs_add(struct blobs *b, const struct store_desc *d)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->v[i].digest, d->digest))
			return;
	ALLOC_GROW(b->v, b->n + 1, b->alloc);
	b->v[b->n] = *d;
	b->v[b->n].media_type = d->media_type ? xstrdup(d->media_type) : NULL;
	b->n++;
}

static int collect(struct store *s, const struct store_desc *d, struct blobs *b,
		   struct ckt_err *err)
{
	struct store_desc *kids = NULL;
	size_t n = 0;
	if (img_store_walk(s, d, &kids, &n, NULL, err) < 0)
		return -err->code;
	for (size_t i = 0; i < n; i++) {
		if (collect(s, &kids[i], b, err) < 0) {
			store_descs_free(kids, n);
			return -err->code;
		}
	}
	store_descs_free(kids, n);
	blobs_add(b, d);
	return 0;
}

/* Copy blob d from the store to fd, checking its digest on the way. */
static int copy_verified(struct store *s, const struct store_desc *d, int fd,
			 struct archive *a, struct ckt_err *err)
{
	_cleanup_close_ int in = store_blob_open(s, d->digest, err);
	enum store_digest_alg alg;
	const char *hex;
	char got[STORE_DIGEST_MAX];
	static char buf[1 << 17];

	if (in < 0)
		return -err->code;
	if (store_digest_parse(d->digest, &alg, &hex, err) < 0)
		return -err->code;
	_cleanup_hasher_ struct store_hasher *h = store_hasher_new(alg);
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ckt_err_sys(err, CKT_EIO, "read blob %s", d->digest);
		if (n == 0)
			break;
		store_hasher_update(h, buf, (size_t)n);
		if (fd >= 0 && ckt_write_all(fd, buf, (size_t)n, err) < 0)
			return -err->code;
		if (a && archive_write_data(a, buf, (size_t)n) != n)
			return img_archive_err(a, err, "write blob %s", d->digest);
	}
	store_hasher_final(h, got);
	if (strcmp(got, d->digest))
		return ckt_err_failw(err, CKT_EVERIFY, got, "blob %s does not match its digest",
				     d->digest);
	return 0;
}

static char *blob_rel(const char *digest)
{
	const char *colon = strchr(digest, ':');
	return xasprintf("blobs/%.*s/%s", (int)(colon - digest), digest, colon + 1);
}

/* index.json for a layout holding top, named ref (may be NULL), merged
 * with existing (may be NULL). */
static char *layout_index(const char *existing, size_t elen, const struct store_desc *top,
			  const char *ref, size_t *len, struct ckt_err *err)
{
	_cleanup_json_ json_t *idx = NULL;
	if (existing) {
		idx = img_json_parse(existing, elen, "index.json", err);
		if (!idx)
			return NULL;
	} else {
		idx = json_pack("{s:i, s:[]}", "schemaVersion", 2, "manifests");
	}
	json_t *arr = json_object_get(idx, "manifests");
	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(idx, "manifests", arr);
	}
	for (size_t i = json_array_size(arr); i-- > 0;) {
		json_t *e = json_array_get(arr, i);
		const char *rn = json_string_value(
			json_object_get(json_object_get(e, "annotations"), STORE_REF_NAME_ANNOTATION));
		const char *dg = json_string_value(json_object_get(e, "digest"));
		if ((ref && rn && !strcmp(rn, ref)) || (!ref && !rn && dg && !strcmp(dg, top->digest)))
			json_array_remove(arr, i);
	}
	json_t *e = img_json_from_desc(top);
	if (ref)
		json_object_set_new(e, "annotations",
				    json_pack("{s:s}", STORE_REF_NAME_ANNOTATION, ref));
	json_array_append_new(arr, e);
	return img_json_dump(idx, len);
}

static int write_oci_dir(struct store *s, const char *dir, const char *ref,
			 const struct store_desc *top, const struct blobs *b, struct ckt_err *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	if (ckt_mkdir_p(dir, 0755, err) < 0)
		return -err->code;
	_cleanup_free_ char *olpath = ckt_path_join(dir, "oci-layout");
	if (access(olpath, F_OK) < 0 &&
	    ckt_write_file_atomic(olpath, layout, strlen(layout), 0644, err) < 0)
		return -err->code;
	for (size_t i = 0; i < b->n; i++) {
		_cleanup_free_ char *rel = blob_rel(b->v[i].digest);
		_cleanup_free_ char *path = ckt_path_join(dir, rel);
		if (access(path, F_OK) == 0)
			continue;
		_cleanup_free_ char *pdir = xstrndup(path, (size_t)(ckt_path_base(path) - path));
		_cleanup_afile_ struct ckt_afile af = CKT_AFILE_INIT;
		if (ckt_mkdir_p(pdir, 0755, err) < 0 || ckt_afile_open(&af, path, 0644, err) < 0 ||
		    copy_verified(s, &b->v[i], af.fd, NULL, err) < 0 ||
		    ckt_afile_commit(&af, err) < 0)
			return -err->code;
	}
	_cleanup_free_ char *ipath = ckt_path_join(dir, "index.json");
	_cleanup_free_ char *old = NULL;
	size_t olen = 0, len;
	struct ckt_err e2 = CKT_ERR_INIT;
	if (ckt_read_file(ipath, IMG_MANIFEST_MAX, &old, &olen, &e2) < 0 && e2.code != CKT_ENOTFOUND)
		return ckt_err_failw(err, e2.code, e2.why, "read '%s'", ipath);
	_cleanup_free_ char *idx = layout_index(old, olen, top, ref, &len, err);
	if (!idx || ckt_write_file_atomic(ipath, idx, len, 0644, err) < 0)
		return -err->code;
	return 0;
}

/* ---- archives ------------------------------------------------------------ */

static la_ssize_t afile_write_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	struct ckt_afile *af = data;
	struct ckt_err e = CKT_ERR_INIT;
	if (ckt_write_all(af->fd, buf, len, &e) < 0) {
		archive_set_error(a, e.errnum, "%s", e.why);
		return -1;
	}
	return (la_ssize_t)len;
}

static int ar_header(struct archive *a, const char *name, bool dir, int64_t size,
		     struct ckt_err *err)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, dir ? 0755 : 0644);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, 0, 0);
	if (!dir)
		archive_entry_set_size(e, size);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return img_archive_err(a, err, "write '%s'", name);
	return 0;
}

static int ar_mem(struct archive *a, const char *name, const void *data, size_t len,
		  struct ckt_err *err)
{
	if (ar_header(a, name, false, (int64_t)len, err) < 0)
		return -err->code;
	if (archive_write_data(a, data, len) != (la_ssize_t)len)
		return img_archive_err(a, err, "write '%s'", name);
	return 0;
}

static int cmp_desc(const void *x, const void *y)
{
	return strcmp(((const struct store_desc *)x)->digest, ((const struct store_desc *)y)->digest);
}

static int write_oci_archive(struct archive *a, struct store *s, const char *ref,
			     const struct store_desc *top, struct blobs *b, struct ckt_err *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	size_t len;
	_cleanup_free_ char *idx = layout_index(NULL, 0, top, ref, &len, err);
	if (!idx)
		return -err->code;
	qsort(b->v, b->n, sizeof(*b->v), cmp_desc);
	if (ar_header(a, "blobs", true, 0, err) < 0)
		return -err->code;
	const char *last_alg = "";
	for (size_t i = 0; i < b->n; i++) {
		_cleanup_free_ char *rel = blob_rel(b->v[i].digest);
		size_t al = (size_t)(strchr(b->v[i].digest, ':') - b->v[i].digest);
		if (strncmp(last_alg, b->v[i].digest, al) || last_alg[al] != ':') {
			_cleanup_free_ char *d = xasprintf("blobs/%.*s", (int)al, b->v[i].digest);
			if (ar_header(a, d, true, 0, err) < 0)
				return -err->code;
			last_alg = b->v[i].digest;
		}
		struct stat st;
		_cleanup_free_ char *p = store_blob_path(s, b->v[i].digest);
		if (stat(p, &st) < 0)
			return ckt_err_sys(err, CKT_ENOTFOUND, "blob %s", b->v[i].digest);
		if (ar_header(a, rel, false, st.st_size, err) < 0 ||
		    copy_verified(s, &b->v[i], -1, a, err) < 0)
			return -err->code;
	}
	if (ar_mem(a, "index.json", idx, len, err) < 0 ||
	    ar_mem(a, "oci-layout", layout, strlen(layout), err) < 0)
		return -err->code;
	return 0;
}

/* Decompress layer d into the unlinked temporary fd tmp, checking that the
 * uncompressed bytes hash to diff_id.  Returns the size. */
static int64_t layer_to_tar(struct store *s, const struct store_desc *d, const char *diff_id,
			    int tmp, struct ckt_err *err)
{
	_cleanup_close_ int in = store_blob_open(s, d->digest, err);
	if (in < 0)
		return -err->code;
	struct archive *a = archive_read_new();
	archive_read_support_format_raw(a);
	archive_read_support_filter_all(a);
	struct archive_entry *e;
	int64_t total = -1;
	_cleanup_hasher_ struct store_hasher *h = store_hasher_new(STORE_DIGEST_SHA256);
	if (archive_read_open_fd(a, in, 1 << 17) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		img_archive_err(a, err, "layer %s", d->digest);
		goto out;
	}
	total = 0;
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			img_archive_err(a, err, "decompress layer %s", d->digest);
			total = -1;
			goto out;
		}
		store_hasher_update(h, buf, len);
		if (ckt_write_all(tmp, buf, len, err) < 0) {
			total = -1;
			goto out;
		}
		total += (int64_t)len;
	}
	char got[STORE_DIGEST_MAX];
	store_hasher_final(h, got);
	if (strcmp(got, diff_id)) {
		ckt_err_failw(err, CKT_EVERIFY, got, "layer %s does not match its diff_id %s",
			      d->digest, diff_id);
		total = -1;
	}
out:
	archive_read_free(a);
	return total < 0 ? -err->code : total;
}

static int write_docker_archive(struct archive *a, struct store *s, const char *tmpdir,
				const struct img_image *img, const char *tag, struct ckt_err *err)
{
	const char *chex = strchr(img->manifest.config.digest, ':') + 1;
	_cleanup_free_ char *cname = xasprintf("%s.json", chex);
	_cleanup_json_ json_t *layers = json_array();
	static char buf[1 << 17];

	if (img->config.n_diff_ids != img->manifest.n_layers)
		return ckt_err_fail(err, CKT_EFORMAT, "%zu layers but %zu diff_ids",
				    img->manifest.n_layers, img->config.n_diff_ids);
	if (ar_mem(a, cname, img->config_json, img->config_len, err) < 0)
		return -err->code;
	for (size_t i = 0; i < img->manifest.n_layers; i++) {
		const char *diff = img->config.diff_ids[i];
		_cleanup_free_ char *lname = xasprintf("%s.tar", strchr(diff, ':') + 1);
		bool dup = false;
		size_t j;
		json_t *v;
		json_array_foreach(layers, j, v)
			if (!strcmp(json_string_value(v), lname))
				dup = true;
		json_array_append_new(layers, json_string(lname));
		if (dup)
			continue;
		_cleanup_close_ int tmp = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (tmp < 0)
			return ckt_err_sys(err, CKT_EIO, "temporary file in '%s'", tmpdir);
		int64_t size = layer_to_tar(s, &img->manifest.layers[i], diff, tmp, err);
		if (size < 0)
			return -err->code;
		if (lseek(tmp, 0, SEEK_SET) < 0)
			return ckt_err_sys(err, CKT_EIO, "seek");
		if (ar_header(a, lname, false, size, err) < 0)
			return -err->code;
		for (;;) {
			ssize_t n = read(tmp, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return ckt_err_sys(err, CKT_EIO, "read temporary layer");
			if (n == 0)
				break;
			if (archive_write_data(a, buf, (size_t)n) != n)
				return img_archive_err(a, err, "write '%s'", lname);
		}
	}
	_cleanup_json_ json_t *m = json_pack("[{s:s, s:[], s:O}]", "Config", cname, "RepoTags",
					     "Layers", layers);
	if (tag)
		json_array_append_new(json_object_get(json_array_get(m, 0), "RepoTags"),
				      json_string(tag));
	size_t len;
	_cleanup_free_ char *mj = img_json_dump(m, &len);
	return ar_mem(a, "manifest.json", mj, len, err);
}

static int write_archive(struct store *s, enum dest_kind kind, const char *path, const char *ref,
			 const struct store_desc *top, struct blobs *b, const struct img_image *img,
			 struct ckt_err *err)
{
	_cleanup_afile_ struct ckt_afile af = CKT_AFILE_INIT;
	if (ckt_afile_open(&af, path, 0644, err) < 0)
		return -err->code;
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_none(a);
	int r = -1;
	if (archive_write_open(a, &af, NULL, afile_write_cb, NULL) != ARCHIVE_OK) {
		img_archive_err(a, err, "start '%s'", path);
		goto out;
	}
	if (kind == DEST_OCI_ARCHIVE) {
		if (write_oci_archive(a, s, ref, top, b, err) < 0)
			goto out;
	} else {
		_cleanup_free_ char *tmpdir = xstrndup(af.tmp, (size_t)(ckt_path_base(af.tmp) - af.tmp));
		if (!*tmpdir) {
			free(tmpdir);
			tmpdir = xstrdup(".");
		}
		if (write_docker_archive(a, s, tmpdir, img, ref, err) < 0)
			goto out;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		img_archive_err(a, err, "finish '%s'", path);
		goto out;
	}
	r = ckt_afile_commit(&af, err);
out:
	archive_write_free(a);
	return r < 0 ? -err->code : 0;
}

/* The RepoTag docker-archive gets without an explicit one: the store name,
 * when it is a tagged reference. */
static char *default_tag(const char *name)
{
	struct img_ref r = IMG_REF_INIT;
	struct ckt_err e = CKT_ERR_INIT;
	if (!name || img_ref_parse(name, &r, &e) < 0)
		return NULL;
	char *t = NULL;
	if (r.tag && !r.digest) {
		_cleanup_free_ char *n = img_ref_name(&r);
		t = xasprintf("%s:%s", n, r.tag);
	}
	img_ref_release(&r);
	return t;
}

int img_dest_write(struct store *s, const char *ref, const char *dest,
		   const struct img_dest_opts *o, char **written, struct ckt_err *err)
{
	static const struct img_dest_opts defaults = { 0 };
	enum dest_kind kind = DEST_OCI;
	const char *rest = NULL;
	struct img_image img;
	struct blobs b = { 0 };
	struct store_desc top;
	int r = -1;

	if (!o)
		o = &defaults;
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (!strncmp(dest, kinds[i].prefix, strlen(kinds[i].prefix))) {
			kind = kinds[i].kind;
			rest = dest + strlen(kinds[i].prefix);
		}
	if (!rest)
		return ckt_err_failw(err, CKT_EUSAGE, "use oci:, oci-archive: or docker-archive:",
				     "unknown destination '%s'", dest);
	const char *colon = strchr(rest, ':');
	_cleanup_free_ char *path = colon ? xstrndup(rest, (size_t)(colon - rest)) : xstrdup(rest);
	_cleanup_free_ char *dref = colon && colon[1] ? xstrdup(colon + 1) : NULL;
	if (!*path)
		return ckt_err_failw(err, CKT_EUSAGE, "no path", "invalid destination '%s'", dest);

	if (img_image_load(s, ref, o->platform, &img, err) < 0)
		return ckt_err_wrap(err, "write '%s' to '%s'", ref, dest);
	if (kind != DEST_DOCKER_ARCHIVE && (o->flags & IMG_DEST_ALL_PLATFORMS) && img.index_json)
		top = img.top;
	else
		top = img.desc;
	if (collect(s, &top, &b, err) < 0)
		goto out;
	if (kind == DEST_DOCKER_ARCHIVE && !dref)
		dref = default_tag(img.name);
	if (kind == DEST_OCI)
		r = write_oci_dir(s, path, dref, &top, &b, err);
	else
		r = write_archive(s, kind, path, dref, &top, &b, &img, err);
	if (r == 0 && written) {
		_cleanup_free_ char *abs = path[0] == '/' ? xstrdup(path) : NULL;
		if (!abs) {
			char cwd[4096];
			abs = getcwd(cwd, sizeof(cwd)) ? ckt_path_join(cwd, path) : xstrdup(path);
		}
		*written = dref ? xasprintf("%s%s:%s", kinds[kind].prefix, abs, dref)
				: xasprintf("%s%s", kinds[kind].prefix, abs);
	}
out:
	store_descs_free(b.v, b.n);
	img_image_release(&img);
	if (r < 0)
		return ckt_err_wrap(err, "write '%s' to '%s'", ref, dest);
	return 0;
}
