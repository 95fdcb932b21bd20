#include "libimg/manifest.h"

#include <string.h>

#include "base/cleanup.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "libimg/json.h"

static const struct {
	const char *mt;
	enum img_kind kind;
} kinds[] = {
	{ IMG_MT_OCI_MANIFEST, IMG_KIND_MANIFEST },
	{ IMG_MT_DOCKER_MANIFEST, IMG_KIND_MANIFEST },
	{ IMG_MT_OCI_INDEX, IMG_KIND_INDEX },
	{ IMG_MT_DOCKER_LIST, IMG_KIND_INDEX },
	{ IMG_MT_DOCKER_SCHEMA1, IMG_KIND_SCHEMA1 },
	{ IMG_MT_DOCKER_SCHEMA1_SIGNED, IMG_KIND_SCHEMA1 },
	{ IMG_MT_OCI_CONFIG, IMG_KIND_CONFIG },
	{ IMG_MT_DOCKER_CONFIG, IMG_KIND_CONFIG },
};

enum img_kind img_media_type_kind(const char *mt)
{
	if (!mt)
		return IMG_KIND_UNKNOWN;
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (!strcmp(mt, kinds[i].mt))
			return kinds[i].kind;
	if (img_layer_compression(mt) != IMG_COMPRESS_UNKNOWN)
		return IMG_KIND_LAYER;
	return IMG_KIND_UNKNOWN;
}

enum img_compression img_layer_compression(const char *mt)
{
	static const struct {
		const char *mt;
		enum img_compression c;
	} layers[] = {
		{ IMG_MT_OCI_LAYER, IMG_COMPRESS_NONE },
		{ IMG_MT_OCI_LAYER_GZIP, IMG_COMPRESS_GZIP },
		{ IMG_MT_OCI_LAYER_ZSTD, IMG_COMPRESS_ZSTD },
		{ IMG_MT_DOCKER_LAYER, IMG_COMPRESS_NONE },
		{ IMG_MT_DOCKER_LAYER_GZIP, IMG_COMPRESS_GZIP },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", IMG_COMPRESS_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar", IMG_COMPRESS_NONE },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", IMG_COMPRESS_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", IMG_COMPRESS_ZSTD },
	};
	if (!mt)
		return IMG_COMPRESS_UNKNOWN;
	for (size_t i = 0; i < ARRAY_SIZE(layers); i++)
		if (!strcmp(mt, layers[i].mt))
			return layers[i].c;
	return IMG_COMPRESS_UNKNOWN;
}

enum img_compression img_sniff_compression(const void *data, size_t len)
{
	const unsigned char *p = data;
	if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return IMG_COMPRESS_GZIP;
	if (len >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
		return IMG_COMPRESS_ZSTD;
	return IMG_COMPRESS_NONE;
}

static int identify_json(json_t *j, const char *hint, enum img_kind *kind, char **media_type,
			 struct ckt_err *err)
{
	const char *declared;
	int64_t version;

	if (img_json_str(j, "mediaType", false, "document", &declared, err) < 0 ||
	    img_json_int(j, "schemaVersion", false, "document", &version, err) < 0)
		return -CKT_EFORMAT;
	if (version == 1 || img_media_type_kind(declared) == IMG_KIND_SCHEMA1 ||
	    img_media_type_kind(hint) == IMG_KIND_SCHEMA1) {
		*kind = IMG_KIND_SCHEMA1;
		return ckt_err_failw(err, CKT_EFORMAT,
				     "docker schema1 manifests are deprecated and not supported",
				     "refuse manifest");
	}
	/* image-spec manifest.md: a mediaType in the content that differs from
	 * the descriptor's is an error; an unknown hint is ignored. */
	if (declared && hint && img_media_type_kind(hint) != IMG_KIND_UNKNOWN &&
	    strcmp(declared, hint))
		return ckt_err_fail(err, CKT_EFORMAT,
				    "document declares media type '%s' but was described as '%s'",
				    declared, hint);
	const char *mt = declared ? declared : hint;
	enum img_kind k = img_media_type_kind(mt);
	if (k == IMG_KIND_UNKNOWN || !mt) {
		if (json_object_get(j, "manifests"))
			k = IMG_KIND_INDEX, mt = IMG_MT_OCI_INDEX;
		else if (json_object_get(j, "layers") || json_object_get(j, "config"))
			k = IMG_KIND_MANIFEST, mt = IMG_MT_OCI_MANIFEST;
		else
			return ckt_err_fail(err, CKT_EFORMAT,
					    "document is neither a manifest nor an index");
	}
	*kind = k;
	if (media_type)
		*media_type = xstrdup(mt);
	return 0;
}

int img_doc_identify(const char *data, size_t len, const char *hint, enum img_kind *kind,
		     char **media_type, struct ckt_err *err)
{
	_cleanup_json_ json_t *j = img_json_parse(data, len, "manifest", err);
	if (!j)
		return -CKT_EFORMAT;
	return identify_json(j, hint, kind, media_type, err);
}

void img_manifest_release(struct img_manifest *m)
{
	free(m->media_type);
	store_desc_release(&m->config);
	store_descs_free(m->layers, m->n_layers);
	memset(m, 0, sizeof(*m));
}

int img_manifest_parse(const char *data, size_t len, const char *hint, struct img_manifest *out,
		       struct ckt_err *err)
{
	enum img_kind kind;
	json_t *config, *layers, *v;
	size_t i;

	memset(out, 0, sizeof(*out));
	_cleanup_json_ json_t *j = img_json_parse(data, len, "manifest", err);
	if (!j || identify_json(j, hint, &kind, &out->media_type, err) < 0)
		return -CKT_EFORMAT;
	if (kind != IMG_KIND_MANIFEST) {
		ckt_err_fail(err, CKT_EFORMAT, "expected an image manifest, found '%s'",
			     out->media_type);
		goto fail;
	}
	if (img_json_obj(j, "config", true, "manifest", &config, err) < 0 ||
	    img_json_desc(config, "manifest: config", &out->config, err) < 0 ||
	    img_json_arr(j, "layers", true, "manifest", &layers, err) < 0)
		goto fail;
	out->layers = xcalloc(json_array_size(layers) + 1, sizeof(*out->layers));
	json_array_foreach(layers, i, v) {
		char what[64];
		snprintf(what, sizeof(what), "manifest: layers[%zu]", i);
		if (img_json_desc(v, what, &out->layers[i], err) < 0)
			goto fail;
		out->n_layers++;
	}
	return 0;
fail:
	img_manifest_release(out);
	return -CKT_EFORMAT;
}

void img_index_release(struct img_index *idx)
{
	for (size_t i = 0; i < idx->n; i++) {
		store_desc_release(&idx->entries[i].desc);
		img_platform_release(&idx->entries[i].platform);
		free(idx->entries[i].ref_name);
	}
	free(idx->entries);
	free(idx->media_type);
	memset(idx, 0, sizeof(*idx));
}

static int parse_platform(json_t *e, const char *what, struct img_index_entry *out,
			  struct ckt_err *err)
{
	json_t *p;
	const char *os, *arch, *variant;

	if (img_json_obj(e, "platform", false, what, &p, err) < 0)
		return -CKT_EFORMAT;
	if (!p)
		return 0;
	if (img_json_str(p, "os", true, what, &os, err) < 0 ||
	    img_json_str(p, "architecture", true, what, &arch, err) < 0 ||
	    img_json_str(p, "variant", false, what, &variant, err) < 0)
		return -CKT_EFORMAT;
	out->has_platform = true;
	out->platform.os = xstrdup(os);
	out->platform.arch = xstrdup(arch);
	out->platform.variant = variant && *variant ? xstrdup(variant) : NULL;
	return 0;
}

int img_index_parse(const char *data, size_t len, const char *hint, struct img_index *out,
		    struct ckt_err *err)
{
	enum img_kind kind;
	json_t *manifests, *e, *ann;
	size_t i;

	memset(out, 0, sizeof(*out));
	_cleanup_json_ json_t *j = img_json_parse(data, len, "index", err);
	if (!j || identify_json(j, hint, &kind, &out->media_type, err) < 0)
		return -CKT_EFORMAT;
	if (kind != IMG_KIND_INDEX) {
		ckt_err_fail(err, CKT_EFORMAT, "expected an image index, found '%s'",
			     out->media_type);
		goto fail;
	}
	if (img_json_arr(j, "manifests", true, "index", &manifests, err) < 0)
		goto fail;
	out->entries = xcalloc(json_array_size(manifests) + 1, sizeof(*out->entries));
	json_array_foreach(manifests, i, e) {
		char what[64];
		const char *name = NULL;
		struct img_index_entry *ent = &out->entries[i];

		snprintf(what, sizeof(what), "index: manifests[%zu]", i);
		out->n++;
		if (img_json_desc(e, what, &ent->desc, err) < 0 ||
		    parse_platform(e, what, ent, err) < 0 ||
		    img_json_obj(e, "annotations", false, what, &ann, err) < 0 ||
		    (ann && img_json_str(ann, STORE_REF_NAME_ANNOTATION, false, what, &name,
					 err) < 0))
			goto fail;
		ent->ref_name = name ? xstrdup(name) : NULL;
	}
	return 0;
fail:
	img_index_release(out);
	return -CKT_EFORMAT;
}

int img_index_select(const struct img_index *idx, const struct img_platform *want, size_t *which,
		     struct ckt_err *err)
{
	_cleanup_(img_platform_release) struct img_platform host = IMG_PLATFORM_INIT;
	if (!want) {
		img_platform_host(&host);
		want = &host;
	}
	for (size_t i = 0; i < idx->n; i++) {
		const struct img_index_entry *e = &idx->entries[i];
		if (e->has_platform && img_media_type_kind(e->desc.media_type) != IMG_KIND_INDEX &&
		    img_platform_match(want, &e->platform)) {
			*which = i;
			return 0;
		}
	}
	_cleanup_buf_ struct ckt_buf offered = CKT_BUF_INIT;
	for (size_t i = 0; i < idx->n; i++) {
		if (!idx->entries[i].has_platform)
			continue;
		_cleanup_free_ char *p = img_platform_string(&idx->entries[i].platform);
		ckt_buf_addf(&offered, "%s%s", offered.len ? ", " : "", p);
	}
	_cleanup_free_ char *w = img_platform_string(want);
	char why[CKT_ERR_WHY_MAX];
	snprintf(why, sizeof(why), "the index offers %s",
		 offered.len ? ckt_buf_str(&offered) : "no platforms");
	return ckt_err_failw(err, CKT_ENOTFOUND, why, "no image for platform '%s'", w);
}

void img_config_release(struct img_config *c)
{
	img_platform_release(&c->platform);
	ckt_strv_free(c->diff_ids);
	ckt_strv_free(c->entrypoint);
	ckt_strv_free(c->cmd);
	ckt_strv_free(c->env);
	free(c->user);
	free(c->workdir);
	free(c->created);
	free(c->author);
	memset(c, 0, sizeof(*c));
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

int img_config_parse(const char *data, size_t len, struct img_config *out, struct ckt_err *err)
{
	const char *os, *arch, *variant, *user, *wd, *created, *author;
	json_t *rootfs, *cfg;
	const char *w = "image config";

	memset(out, 0, sizeof(*out));
	_cleanup_json_ json_t *j = img_json_parse(data, len, w, err);
	if (!j)
		return -CKT_EFORMAT;
	if (img_json_str(j, "os", false, w, &os, err) < 0 ||
	    img_json_str(j, "architecture", false, w, &arch, err) < 0 ||
	    img_json_str(j, "variant", false, w, &variant, err) < 0 ||
	    img_json_str(j, "created", false, w, &created, err) < 0 ||
	    img_json_str(j, "author", false, w, &author, err) < 0 ||
	    img_json_obj(j, "rootfs", false, w, &rootfs, err) < 0 ||
	    img_json_obj(j, "config", false, w, &cfg, err) < 0)
		goto fail;
	out->platform.os = dup_or_null(os);
	out->platform.arch = dup_or_null(arch);
	out->platform.variant = variant && *variant ? xstrdup(variant) : NULL;
	out->created = dup_or_null(created);
	out->author = dup_or_null(author);
	if (rootfs && img_json_strv(rootfs, "diff_ids", "image config: rootfs", &out->diff_ids,
				    err) < 0)
		goto fail;
	if (!out->diff_ids)
		out->diff_ids = xcalloc(1, sizeof(char *));
	for (char **d = out->diff_ids; *d; d++) {
		if (!store_digest_valid(*d)) {
			ckt_err_fail(err, CKT_EFORMAT, "image config: invalid diff_id '%s'", *d);
			goto fail;
		}
		out->n_diff_ids++;
	}
	if (cfg) {
		const char *c = "image config: config";
		if (img_json_strv(cfg, "Entrypoint", c, &out->entrypoint, err) < 0 ||
		    img_json_strv(cfg, "Cmd", c, &out->cmd, err) < 0 ||
		    img_json_strv(cfg, "Env", c, &out->env, err) < 0 ||
		    img_json_str(cfg, "User", false, c, &user, err) < 0 ||
		    img_json_str(cfg, "WorkingDir", false, c, &wd, err) < 0)
			goto fail;
		out->user = dup_or_null(user);
		out->workdir = dup_or_null(wd);
	}
	return 0;
fail:
	img_config_release(out);
	return -CKT_EFORMAT;
}

char *img_manifest_build(const struct store_desc *config, const struct store_desc *layers,
			 size_t n_layers, size_t *len)
{
	_cleanup_json_ json_t *m = json_object();
	json_t *arr = json_array();

	json_object_set_new(m, "schemaVersion", json_integer(2));
	json_object_set_new(m, "mediaType", json_string(IMG_MT_OCI_MANIFEST));
	json_object_set_new(m, "config", img_json_from_desc(config));
	for (size_t i = 0; i < n_layers; i++)
		json_array_append_new(arr, img_json_from_desc(&layers[i]));
	json_object_set_new(m, "layers", arr);
	return img_json_dump(m, len);
}

static void add_child(struct store_desc **v, size_t *n, size_t *alloc, const struct store_desc *d)
{
	ALLOC_GROW(*v, *n + 1, *alloc);
	struct store_desc *c = &(*v)[(*n)++];
	*c = *d;
	c->media_type = dup_or_null(d->media_type);
}

int img_store_walk(struct store *s, const struct store_desc *d, struct store_desc **children,
		   size_t *n, void *data, struct ckt_err *err)
{
	enum img_kind kind = img_media_type_kind(d->media_type);
	_cleanup_free_ char *buf = NULL;
	size_t len, alloc = 0;

	(void)data;
	*children = NULL;
	*n = 0;
	if (kind == IMG_KIND_LAYER || kind == IMG_KIND_CONFIG)
		return 0;
	if (kind == IMG_KIND_UNKNOWN) {
		/* Signatures and other artifacts: look inside only when small and JSON. */
		if (d->size < 0 || d->size > (int64_t)IMG_MANIFEST_MAX)
			return 0;
	}
	if (store_blob_read(s, d->digest, IMG_MANIFEST_MAX, &buf, &len, err) < 0)
		return -err->code;
	if (kind == IMG_KIND_UNKNOWN) {
		struct ckt_err ignored = CKT_ERR_INIT;
		if (img_doc_identify(buf, len, NULL, &kind, NULL, &ignored) < 0)
			return 0;
	}
	if (kind == IMG_KIND_INDEX) {
		struct img_index idx;
		if (img_index_parse(buf, len, d->media_type, &idx, err) < 0)
			return ckt_err_wrap(err, "blob %s", d->digest);
		for (size_t i = 0; i < idx.n; i++)
			add_child(children, n, &alloc, &idx.entries[i].desc);
		img_index_release(&idx);
	} else if (kind == IMG_KIND_MANIFEST) {
		struct img_manifest m;
		if (img_manifest_parse(buf, len, d->media_type, &m, err) < 0)
			return ckt_err_wrap(err, "blob %s", d->digest);
		add_child(children, n, &alloc, &m.config);
		for (size_t i = 0; i < m.n_layers; i++)
			add_child(children, n, &alloc, &m.layers[i]);
		img_manifest_release(&m);
	}
	return 0;
}
