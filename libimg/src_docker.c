/* Source: a registry (docker://NAME[:TAG|@DIGEST], or a bare name). */
#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "libimg/manifest.h"
#include "libimg/ref.h"
#include "libimg/registry.h"
#include "libimg/source.h"

struct docker_src {
	struct img_src base;
	struct img_ref ref;
	struct img_registry *reg;
	struct store_desc top;	/* the manifest or index the reference names */
	char *top_data;
	size_t top_len;
};

static int docker_resolve(struct img_src *base, struct store_desc *top, char **name,
			  struct ckt_err *err)
{
	struct docker_src *src = (struct docker_src *)base;
	const char *what = src->ref.digest ? src->ref.digest : src->ref.tag;

	if (img_registry_get_manifest(src->reg, src->ref.path, what, &src->top_data,
				      &src->top_len, &src->top, err) < 0)
		return -err->code;
	*top = src->top;
	top->media_type = src->top.media_type ? xstrdup(src->top.media_type) : NULL;
	*name = img_ref_string(&src->ref);
	return 0;
}

static int docker_read(struct img_src *base, const struct store_desc *d, size_t max, char **data,
		       size_t *len, struct ckt_err *err)
{
	struct docker_src *src = (struct docker_src *)base;
	if (!strcmp(d->digest, src->top.digest) && src->top_data) {
		if (img_verify_buf(d, src->top_data, src->top_len, err) < 0)
			return -err->code;
		*data = xmalloc(src->top_len + 1);
		memcpy(*data, src->top_data, src->top_len + 1);
		*len = src->top_len;
		return 0;
	}
	enum img_kind k = img_media_type_kind(d->media_type);
	if (k == IMG_KIND_MANIFEST || k == IMG_KIND_INDEX || k == IMG_KIND_SCHEMA1) {
		struct store_desc got;
		if (img_registry_get_manifest(src->reg, src->ref.path, d->digest, data, len, &got,
					      err) < 0)
			return -err->code;
		store_desc_release(&got);
		if (img_verify_buf(d, *data, *len, err) < 0) {
			free(*data);
			*data = NULL;
			return -err->code;
		}
		return 0;
	}
	return img_registry_get_blob_mem(src->reg, src->ref.path, d, max, data, len, err);
}

static int docker_copy_many(struct img_src *base, struct img_fetch_ctx *ctx,
			    const struct store_desc *d, size_t n, struct ckt_err *err)
{
	struct docker_src *src = (struct docker_src *)base;
	size_t fetched;
	uint64_t bytes;
	if (img_registry_get_blobs(src->reg, src->ref.path, ctx->store, d, n, &fetched, &bytes,
				   err) < 0)
		return -err->code;
	ctx->blobs_fetched += fetched;
	ctx->bytes_fetched += bytes;
	return 0;
}

static int docker_copy(struct img_src *base, struct img_fetch_ctx *ctx, const struct store_desc *d,
		       struct ckt_err *err)
{
	/* fetch.c counts single copies itself. */
	struct docker_src *src = (struct docker_src *)base;
	return img_registry_get_blobs(src->reg, src->ref.path, ctx->store, d, 1, NULL, NULL, err);
}

static void docker_free(struct img_src *base)
{
	struct docker_src *src = (struct docker_src *)base;
	img_registry_free(src->reg);
	img_ref_release(&src->ref);
	store_desc_release(&src->top);
	free(src->top_data);
	free(src);
}

static const struct img_src_ops docker_ops = {
	.resolve = docker_resolve,
	.read = docker_read,
	.copy = docker_copy,
	.copy_many = docker_copy_many,
	.free = docker_free,
};

struct img_src *img_src_docker_open(const struct img_source *spec, const struct img_fetch_opts *o,
				    struct ckt_err *err)
{
	struct docker_src *src = xcalloc(1, sizeof(*src));
	struct img_registry_opts ro = { 0 };

	src->base.ops = &docker_ops;
	src->base.spec = spec;
	if (img_ref_parse(spec->path, &src->ref, err) < 0) {
		ckt_err_wrap(err, "reference '%s'", spec->path);
		goto fail;
	}
	if (o->registry)
		ro = *o->registry;
	if (!ro.progress) {
		ro.progress = o->progress;
		ro.progress_data = o->progress_data;
	}
	src->reg = img_registry_new(src->ref.domain, &ro, err);
	if (!src->reg)
		goto fail;
	return &src->base;
fail:
	docker_free(&src->base);
	return NULL;
}
