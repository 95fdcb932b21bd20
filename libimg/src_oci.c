/* Source: an OCI image layout directory (image-layout.md). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "libimg/json.h"
#include "libimg/manifest.h"
#include "libimg/source.h"

struct oci_src {
	struct img_src base;
	int dirfd;
	struct img_index index;
};

int img_oci_layout_check(const char *data, size_t len, struct ckt_err *err)
{
	const char *v;
	_cleanup_json_ json_t *j = img_json_parse(data, len, "oci-layout", err);
	if (!j || img_json_str(j, "imageLayoutVersion", true, "oci-layout", &v, err) < 0)
		return -CKT_EFORMAT;
	if (strncmp(v, "1.", 2))
		return ckt_err_fail(err, CKT_EFORMAT, "unsupported image layout version '%s'", v);
	return 0;
}

int img_oci_layout_pick(const struct img_index *idx, const char *ref, struct store_desc *top,
			char **name, struct ckt_err *err)
{
	const struct img_index_entry *found = NULL;

	for (size_t i = 0; i < idx->n; i++) {
		const struct img_index_entry *e = &idx->entries[i];
		if (ref ? (e->ref_name && !strcmp(e->ref_name, ref)) : true) {
			if (found && !ref)
				return ckt_err_failw(err, CKT_EUSAGE, "name one as PATH:REF",
						     "the layout holds %zu images", idx->n);
			found = e;
			if (ref)
				break;
		}
	}
	if (!found) {
		if (ref)
			return ckt_err_fail(err, CKT_ENOTFOUND, "no image named '%s' in the layout",
					    ref);
		return ckt_err_fail(err, CKT_ENOTFOUND, "the layout holds no image");
	}
	*top = found->desc;
	top->media_type = found->desc.media_type ? xstrdup(found->desc.media_type) : NULL;
	*name = found->ref_name ? xstrdup(found->ref_name) : NULL;
	return 0;
}

static int oci_resolve(struct img_src *base, struct store_desc *top, char **name,
		       struct ckt_err *err)
{
	struct oci_src *src = (struct oci_src *)base;
	return img_oci_layout_pick(&src->index, base->spec->ref, top, name, err);
}

static int open_blob(struct oci_src *src, const struct store_desc *d, struct ckt_err *err)
{
	enum store_digest_alg alg;
	const char *hex;
	if (store_digest_parse(d->digest, &alg, &hex, err) < 0)
		return -err->code;
	_cleanup_free_ char *rel = xasprintf("blobs/%s/%s", store_digest_alg_name(alg), hex);
	int fd = openat(src->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ckt_err_sys(err, errno == ENOENT ? CKT_ENOTFOUND : CKT_EIO,
				   "open blob %s in '%s'", d->digest, src->base.spec->path);
	return fd;
}

static int oci_read(struct img_src *base, const struct store_desc *d, size_t max, char **data,
		    size_t *len, struct ckt_err *err)
{
	struct oci_src *src = (struct oci_src *)base;
	_cleanup_close_ int fd = open_blob(src, d, err);
	_cleanup_free_ char *buf = NULL;

	if (fd < 0)
		return -err->code;
	if (ckt_read_fd(fd, max, &buf, len, err) < 0)
		return ckt_err_wrap(err, "read blob %s", d->digest);
	if (img_verify_buf(d, buf, *len, err) < 0)
		return -err->code;
	*data = TAKE_PTR(buf);
	return 0;
}

static int oci_copy(struct img_src *base, struct img_fetch_ctx *ctx, const struct store_desc *d,
		    struct ckt_err *err)
{
	struct oci_src *src = (struct oci_src *)base;
	_cleanup_close_ int fd = open_blob(src, d, err);
	if (fd < 0)
		return -err->code;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return img_copy_fd(ctx, fd, d, err);
}

static void oci_free(struct img_src *base)
{
	struct oci_src *src = (struct oci_src *)base;
	if (src->dirfd >= 0)
		close(src->dirfd);
	img_index_release(&src->index);
	free(src);
}

static const struct img_src_ops oci_ops = {
	.resolve = oci_resolve,
	.read = oci_read,
	.copy = oci_copy,
	.free = oci_free,
};

struct img_src *img_src_oci_open(const struct img_source *spec, struct ckt_err *err)
{
	struct oci_src *src = xcalloc(1, sizeof(*src));
	_cleanup_free_ char *layout = NULL, *index = NULL;
	size_t len;

	src->base.ops = &oci_ops;
	src->base.spec = spec;
	src->dirfd = open(spec->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src->dirfd < 0) {
		ckt_err_sys(err, errno == ENOENT ? CKT_ENOTFOUND : CKT_EIO, "open layout '%s'",
			    spec->path);
		goto fail;
	}
	if (ckt_read_file_at(src->dirfd, "oci-layout", 4096, &layout, &len, err) < 0 ||
	    img_oci_layout_check(layout, len, err) < 0 ||
	    ckt_read_file_at(src->dirfd, "index.json", IMG_MANIFEST_MAX, &index, &len, err) < 0 ||
	    img_index_parse(index, len, NULL, &src->index, err) < 0) {
		ckt_err_wrap(err, "layout '%s'", spec->path);
		goto fail;
	}
	return &src->base;
fail:
	oci_free(&src->base);
	return NULL;
}
