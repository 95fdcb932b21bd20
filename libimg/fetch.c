#include "libimg/fetch.h"

#include <ctype.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "libimg/lazy_archive.h"
#include "libimg/lazy_curl.h"
#include "libimg/manifest.h"
#include "libimg/ref.h"
#include "libimg/source.h"

static const struct {
	const char *prefix;
	enum img_transport t;
} transports[] = {
	{ "docker://", IMG_TRANSPORT_DOCKER },
	{ "oci:", IMG_TRANSPORT_OCI },
	{ "oci-archive:", IMG_TRANSPORT_OCI_ARCHIVE },
	{ "docker-archive:", IMG_TRANSPORT_DOCKER_ARCHIVE },
	{ "aci:", IMG_TRANSPORT_ACI },
};

int img_source_parse(const char *s, struct img_source *out, struct ckt_err *err)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < ARRAY_SIZE(transports); i++) {
		size_t n = strlen(transports[i].prefix);
		if (strncmp(s, transports[i].prefix, n))
			continue;
		const char *rest = s + n;
		out->transport = transports[i].t;
		if (out->transport == IMG_TRANSPORT_DOCKER || out->transport == IMG_TRANSPORT_ACI) {
			/* aci:FILE|URL has no :REF part (URLs hold colons). */
			out->path = xstrdup(rest);
		} else {
			const char *colon = strchr(rest, ':');
			out->path = colon ? xstrndup(rest, (size_t)(colon - rest)) : xstrdup(rest);
			out->ref = colon && colon[1] ? xstrdup(colon + 1) : NULL;
		}
		if (!*out->path) {
			img_source_release(out);
			return ckt_err_failw(err, CKT_EUSAGE, "no path or name after the transport",
					     "invalid source '%s'", s);
		}
		return 0;
	}
	/* A bare name is a registry reference (DESIGN.md "The tools").  skopeo's
	 * other transports are refused by name rather than taken for one. */
	static const char *const other[] = { "dir:", "containers-storage:", "docker-daemon:",
					     "ostree:", "sif:", "tarball:" };
	for (size_t i = 0; i < ARRAY_SIZE(other); i++)
		if (!strncmp(s, other[i], strlen(other[i])))
			return ckt_err_failw(err, CKT_EUSAGE, "unsupported transport",
					     "invalid source '%s'", s);
	out->transport = IMG_TRANSPORT_DOCKER;
	out->path = xstrdup(s);
	return 0;
}

void img_fetch_preload(char *const *sources, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct img_source spec;
		struct ckt_err ignored = CKT_ERR_INIT;
		if (img_source_parse(sources[i], &spec, &ignored) < 0)
			continue;
		if (spec.transport == IMG_TRANSPORT_DOCKER || spec.transport == IMG_TRANSPORT_ACI)
			img_curl_preload();
		if (spec.transport != IMG_TRANSPORT_DOCKER && spec.transport != IMG_TRANSPORT_OCI)
			img_archive_preload();
		img_source_release(&spec);
	}
}

void img_source_release(struct img_source *src)
{
	free(src->path);
	free(src->ref);
	memset(src, 0, sizeof(*src));
}

void img_fetch_result_release(struct img_fetch_result *r)
{
	free(r->name);
	free(r->pinned);
	free(r->media_type);
	memset(r, 0, sizeof(*r));
}

static inline void src_freep(struct img_src **p)
{
	if (*p)
		(*p)->ops->free(*p);
}
#define _cleanup_src_ __attribute__((cleanup(src_freep)))

/* Read a blob that img_fetch needs in memory: from the store when present
 * (verified there), else from the source. */
static int read_small(struct img_src *src, struct img_fetch_ctx *ctx, const struct store_desc *d,
		      size_t max, char **data, size_t *len, struct ckt_err *err)
{
	if (d->size > (int64_t)max)
		return ckt_err_fail(err, CKT_EFORMAT, "blob %s of %lld bytes exceeds the limit of %zu",
				    d->digest, (long long)d->size, max);
	if (store_blob_exists(ctx->store, d->digest))
		return store_blob_read(ctx->store, d->digest, max, data, len, err);
	return src->ops->read(src, d, max, data, len, err);
}

/* Put a small blob we hold in memory into the store, counting it when new. */
static int put_small(struct img_fetch_ctx *ctx, const struct store_desc *d, const char *data,
		     size_t len, struct ckt_err *err)
{
	if (store_blob_exists(ctx->store, d->digest))
		return 0;
	if (store_blob_put(ctx->store, data, len, d->digest, NULL, err) < 0)
		return -err->code;
	ctx->blobs_fetched++;
	ctx->bytes_fetched += len;
	return 0;
}

static int copy_blob(struct img_src *src, struct img_fetch_ctx *ctx, const struct store_desc *d,
		     struct ckt_err *err)
{
	if (store_blob_exists(ctx->store, d->digest))
		return 0;
	if (src->ops->copy(src, ctx, d, err) < 0)
		return -err->code;
	ctx->blobs_fetched++;
	ctx->bytes_fetched += (uint64_t)d->size;
	return 0;
}

/* One image manifest: its config and layers, then the manifest itself. */
static int copy_image(struct img_src *src, struct img_fetch_ctx *ctx, const struct store_desc *d,
		      const char *data, size_t len, struct ckt_err *err)
{
	struct img_manifest m;
	struct img_config cfg;
	_cleanup_free_ char *cdata = NULL;
	size_t clen;
	int r = -1;

	if (img_manifest_parse(data, len, d->media_type, &m, err) < 0)
		return ckt_err_wrap(err, "manifest %s", d->digest);
	if (m.config.size > IMG_CONFIG_MAX) {
		ckt_err_fail(err, CKT_EFORMAT, "config %s of %lld bytes exceeds the limit of %u",
			     m.config.digest, (long long)m.config.size, IMG_CONFIG_MAX);
		goto out;
	}
	/* A source that downloads in parallel takes the config with the layers
	 * (one round trip less); it is checked from the store afterwards, and
	 * a bad one leaves only unnamed blobs for gc. */
	bool batch = src->ops->copy_many && !store_blob_exists(ctx->store, m.config.digest);
	if (batch) {
		_cleanup_free_ struct store_desc *all = xcalloc(m.n_layers + 1, sizeof(*all));
		all[0] = m.config;
		for (size_t i = 0; i < m.n_layers; i++)
			all[i + 1] = m.layers[i];
		if (src->ops->copy_many(src, ctx, all, m.n_layers + 1, err) < 0)
			goto out;
	}
	if (read_small(src, ctx, &m.config, IMG_CONFIG_MAX, &cdata, &clen, err) < 0) {
		ckt_err_wrap(err, "config %s", m.config.digest);
		goto out;
	}
	if (img_media_type_kind(m.config.media_type) == IMG_KIND_CONFIG) {
		if (img_config_parse(cdata, clen, &cfg, err) < 0) {
			ckt_err_wrap(err, "config %s", m.config.digest);
			goto out;
		}
		size_t n_diff = cfg.n_diff_ids;
		img_config_release(&cfg);
		if (n_diff != m.n_layers) {
			ckt_err_fail(err, CKT_EFORMAT,
				     "manifest %s lists %zu layers but its config %zu diff_ids",
				     d->digest, m.n_layers, n_diff);
			goto out;
		}
	}
	if (batch) {
		/* done above */
	} else if (src->ops->copy_many) {
		if (src->ops->copy_many(src, ctx, m.layers, m.n_layers, err) < 0)
			goto out;
	} else {
		for (size_t i = 0; i < m.n_layers; i++)
			if (copy_blob(src, ctx, &m.layers[i], err) < 0)
				goto out;
	}
	if (put_small(ctx, &m.config, cdata, clen, err) < 0 || put_small(ctx, d, data, len, err) < 0)
		goto out;
	r = 0;
out:
	img_manifest_release(&m);
	return r;
}

static int copy_index(struct img_src *src, struct img_fetch_ctx *ctx, const struct store_desc *d,
		      const char *data, size_t len, struct store_desc *chosen, struct ckt_err *err)
{
	struct img_index idx;
	const struct img_fetch_opts *o = ctx->opts;
	int r = -1;

	if (img_index_parse(data, len, d->media_type, &idx, err) < 0)
		return ckt_err_wrap(err, "index %s", d->digest);
	if (!(o->flags & IMG_FETCH_ALL_PLATFORMS)) {
		size_t which;
		if (img_index_select(&idx, o->platform, &which, err) < 0)
			goto out;
		d = &idx.entries[which].desc;
	}
	for (size_t i = 0; i < idx.n; i++) {
		const struct store_desc *e = (o->flags & IMG_FETCH_ALL_PLATFORMS) ? &idx.entries[i].desc : d;
		_cleanup_free_ char *mdata = NULL;
		size_t mlen;
		enum img_kind kind;

		if (read_small(src, ctx, e, IMG_MANIFEST_MAX, &mdata, &mlen, err) < 0 ||
		    img_doc_identify(mdata, mlen, e->media_type, &kind, NULL, err) < 0) {
			ckt_err_wrap(err, "manifest %s", e->digest);
			goto out;
		}
		if (kind != IMG_KIND_MANIFEST) {
			ckt_err_fail(err, CKT_EFORMAT, "index entry %s is not an image manifest",
				     e->digest);
			goto out;
		}
		if (copy_image(src, ctx, e, mdata, mlen, err) < 0)
			goto out;
		if (!(o->flags & IMG_FETCH_ALL_PLATFORMS)) {
			*chosen = *e;
			chosen->media_type = e->media_type ? xstrdup(e->media_type) : NULL;
			r = 0;
			goto out;
		}
	}
	*chosen = *d;
	chosen->media_type = d->media_type ? xstrdup(d->media_type) : NULL;
	r = put_small(ctx, d, data, len, err);
out:
	img_index_release(&idx);
	return r;
}

/* A repository name derived from a file name, for sources that give only
 * a tag: lower-case, characters outside [a-z0-9_-] become '-'. */
static char *repo_from_path(const char *path)
{
	_cleanup_free_ char *clean = ckt_path_clean(path);
	const char *base = ckt_path_base(clean);
	size_t n = strcspn(base, ".");
	char *s = xstrndup(base, n);
	for (char *p = s; *p; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			*p = '-';
	}
	size_t len = strlen(s);
	while (len && (s[len - 1] == '-' || s[len - 1] == '_'))
		s[--len] = '\0';
	size_t lead = strspn(s, "-_");
	if (!s[lead]) {
		free(s);
		return xstrdup("image");
	}
	memmove(s, s + lead, strlen(s + lead) + 1);
	return s;
}

/* The name an image gets in the store (DESIGN note in the foundation
 * issue): --name when given; a source name that is a docker reference with
 * a repository ("alpine:3.19", "example.com/app") normalised; a bare tag
 * ("latest", "v1") becomes localhost/<file name>:<tag>. */
static int store_name(const struct img_source *spec, const char *hint, const char *override,
		      struct img_ref *out, struct ckt_err *err)
{
	if (override) {
		if (img_ref_parse(override, out, err) < 0)
			return ckt_err_wrap(err, "name '%s'", override);
		return 0;
	}
	const char *n = hint ? hint : spec->ref;
	/* docker-archive:FILE:@N picks by position; "@N" is no name. */
	if (n == spec->ref && spec->transport == IMG_TRANSPORT_DOCKER_ARCHIVE && n && n[0] == '@')
		n = NULL;
	if (n && (strchr(n, '/') || strchr(n, ':') || strchr(n, '@'))) {
		if (img_ref_parse(n, out, err) < 0)
			return ckt_err_wrap(err, "image name '%s' in the source", n);
		return 0;
	}
	_cleanup_free_ char *repo = repo_from_path(spec->path);
	_cleanup_free_ char *full = xasprintf("localhost/%s:%s", repo, n ? n : "latest");
	if (img_ref_parse(full, out, err) < 0)
		return ckt_err_wrap(err, "derive a name for '%s' (use --name)", spec->path);
	return 0;
}

int img_fetch(struct store *s, const char *source, const struct img_fetch_opts *o,
	      struct img_fetch_result *res, struct ckt_err *err)
{
	struct img_source spec;
	struct img_fetch_ctx ctx = { .opts = o, .store = s };
	struct store_desc top = { 0 }, chosen = { 0 };
	struct img_ref name = IMG_REF_INIT;
	_cleanup_free_ char *hint = NULL, *data = NULL;
	_cleanup_src_ struct img_src *src = NULL;
	size_t len;
	enum img_kind kind;
	int r = -1;

	memset(res, 0, sizeof(*res));
	if (img_source_parse(source, &spec, err) < 0)
		return -err->code;
	switch (spec.transport) {
	case IMG_TRANSPORT_OCI:
		src = img_src_oci_open(&spec, err);
		break;
	case IMG_TRANSPORT_OCI_ARCHIVE:
	case IMG_TRANSPORT_DOCKER_ARCHIVE:
		src = img_src_archive_open(&spec, s, err);
		break;
	case IMG_TRANSPORT_ACI:
		src = img_src_aci_open(&spec, o, s, err);
		break;
	case IMG_TRANSPORT_DOCKER:
		src = img_src_docker_open(&spec, o, err);
		break;
	}
	if (!src)
		goto out;
	if (src->ops->resolve(src, &top, &hint, err) < 0 ||
	    store_name(&spec, hint, o->name, &name, err) < 0 ||
	    read_small(src, &ctx, &top, IMG_MANIFEST_MAX, &data, &len, err) < 0 ||
	    img_doc_identify(data, len, top.media_type, &kind, NULL, err) < 0)
		goto out;
	if (kind == IMG_KIND_INDEX) {
		if (copy_index(src, &ctx, &top, data, len, &chosen, err) < 0)
			goto out;
	} else {
		if (copy_image(src, &ctx, &top, data, len, err) < 0)
			goto out;
		chosen = top;
		chosen.media_type = top.media_type ? xstrdup(top.media_type) : NULL;
	}
	if (!chosen.media_type) {
		/* index.json entries need a media type (image-layout.md). */
		_cleanup_free_ char *cd = NULL;
		size_t cl;
		if (store_blob_read(s, chosen.digest, IMG_MANIFEST_MAX, &cd, &cl, err) < 0 ||
		    img_doc_identify(cd, cl, NULL, &kind, &chosen.media_type, err) < 0)
			goto out;
	}

	res->name = img_ref_string(&name);
	struct store_ref old;
	struct ckt_err ignored = CKT_ERR_INIT;
	if (store_ref_get(s, res->name, &old, &ignored) == 0) {
		res->up_to_date = !strcmp(old.desc.digest, chosen.digest) && ctx.blobs_fetched == 0;
		store_ref_release(&old);
	}
	if (!res->up_to_date && store_ref_set(s, res->name, &chosen, err) < 0)
		goto out;
	memcpy(res->digest, chosen.digest, sizeof(res->digest));
	res->pinned = img_ref_pinned(&name, chosen.digest);
	res->media_type = xstrdup(chosen.media_type);
	res->blobs_fetched = ctx.blobs_fetched;
	res->bytes_fetched = ctx.bytes_fetched;
	r = 0;
out:
	if (r < 0)
		ckt_err_wrap(err, "fetch '%s'", source);
	store_desc_release(&top);
	store_desc_release(&chosen);
	img_ref_release(&name);
	img_source_release(&spec);
	return r < 0 ? -err->code : 0;
}
