#include "libimg/image.h"

#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "libimg/ref.h"

/* A blob the store holds, described with the media type its content declares. */
static int desc_of_blob(struct store *s, const char *digest, struct store_desc *out,
			struct ckt_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	enum img_kind kind;

	if (!store_blob_exists(s, digest))
		return ckt_err_fail(err, CKT_ENOTFOUND, "no image %s in the store", digest);
	if (store_blob_read(s, digest, IMG_MANIFEST_MAX, &data, &len, err) < 0)
		return -err->code;
	memset(out, 0, sizeof(*out));
	if (img_doc_identify(data, len, NULL, &kind, &out->media_type, err) < 0)
		return ckt_err_wrap(err, "blob %s", digest);
	memcpy(out->digest, digest, strlen(digest) + 1);
	out->size = (int64_t)len;
	return 0;
}

int img_image_resolve(struct store *s, const char *ref, char **name, struct store_desc *out,
		      struct ckt_err *err)
{
	struct img_ref r;
	struct store_ref sr;
	struct ckt_err perr = CKT_ERR_INIT;

	if (name)
		*name = NULL;
	if (store_digest_valid(ref))
		return desc_of_blob(s, ref, out, err);
	if (img_ref_parse(ref, &r, &perr) == 0) {
		int ret;
		if (r.digest) {
			ret = desc_of_blob(s, r.digest, out, err);
		} else {
			_cleanup_free_ char *full = img_ref_string(&r);
			ret = store_ref_get(s, full, &sr, err);
			if (ret == 0) {
				*out = sr.desc;
				sr.desc.media_type = NULL;
				if (name)
					*name = TAKE_PTR(sr.name);
				store_ref_release(&sr);
			}
		}
		img_ref_release(&r);
		if (ret == 0 || err->code != CKT_ENOTFOUND)
			return ret;
	}
	/* Names other tools put in index.json need not be docker references. */
	struct ckt_err lerr = CKT_ERR_INIT;
	if (store_ref_get(s, ref, &sr, &lerr) == 0) {
		*out = sr.desc;
		sr.desc.media_type = NULL;
		if (name)
			*name = TAKE_PTR(sr.name);
		store_ref_release(&sr);
		return 0;
	}
	if (perr.code)
		return ckt_err_failw(err, CKT_ENOTFOUND, perr.why, "no image '%s' in the store", ref);
	return ckt_err_fail(err, CKT_ENOTFOUND, "no image '%s' in the store", ref);
}

void img_image_release(struct img_image *img)
{
	free(img->name);
	store_desc_release(&img->top);
	store_desc_release(&img->desc);
	free(img->index_json);
	free(img->manifest_json);
	free(img->config_json);
	img_manifest_release(&img->manifest);
	img_config_release(&img->config);
	memset(img, 0, sizeof(*img));
}

static int load_index(struct store *s, const struct img_platform *platform, struct img_image *out,
		      struct ckt_err *err)
{
	struct img_index idx;
	size_t which;
	int r;

	if (store_blob_read(s, out->top.digest, IMG_MANIFEST_MAX, &out->index_json, &out->index_len,
			    err) < 0 ||
	    img_index_parse(out->index_json, out->index_len, out->top.media_type, &idx, err) < 0)
		return -err->code;
	r = img_index_select(&idx, platform, &which, err);
	if (r == 0) {
		out->desc = idx.entries[which].desc;
		idx.entries[which].desc.media_type = NULL;
	}
	img_index_release(&idx);
	return r;
}

int img_image_load(struct store *s, const char *ref, const struct img_platform *platform,
		   struct img_image *out, struct ckt_err *err)
{
	enum img_kind kind;

	memset(out, 0, sizeof(*out));
	if (img_image_resolve(s, ref, &out->name, &out->top, err) < 0)
		goto fail;
	kind = img_media_type_kind(out->top.media_type);
	if (kind == IMG_KIND_INDEX) {
		if (load_index(s, platform, out, err) < 0)
			goto fail;
	} else {
		out->desc = out->top;
		out->desc.media_type = out->top.media_type ? xstrdup(out->top.media_type) : NULL;
	}
	if (store_blob_read(s, out->desc.digest, IMG_MANIFEST_MAX, &out->manifest_json,
			    &out->manifest_len, err) < 0 ||
	    img_manifest_parse(out->manifest_json, out->manifest_len, out->desc.media_type,
			       &out->manifest, err) < 0 ||
	    store_blob_read(s, out->manifest.config.digest, IMG_CONFIG_MAX, &out->config_json,
			    &out->config_len, err) < 0 ||
	    img_config_parse(out->config_json, out->config_len, &out->config, err) < 0)
		goto fail;
	return 0;
fail:
	img_image_release(out);
	return ckt_err_wrap(err, "image '%s'", ref);
}
