/* Sources: oci-archive (a tar of an OCI layout) and docker-archive (what
 * `docker save` and `skopeo copy … docker-archive:` write: manifest.json
 * naming a config file and layer tars by path).
 *
 * The archive is read once, front to back, because a tar cannot be indexed
 * and both writers put the index (index.json, manifest.json) anywhere,
 * often last.  Small entries are kept in memory; large ones are streamed at
 * once into uncommitted store writers under tmp/ ("staged").  When the scan
 * is done the index decides which entries the image needs: those are
 * committed (each verified against its digest), the rest are discarded with
 * their writers, so a failed or partial fetch publishes nothing. */
#include <string.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "libimg/json.h"
#include "libimg/lazy_archive.h"
#include "libimg/manifest.h"
#include "libimg/ref.h"
#include "libimg/source.h"

/* Entries up to this size stay in memory, up to MEM_MAX in all. */
#define SMALL_MAX (256u << 10)
#define MEM_MAX (64u << 20)
#define READ_BUF (1u << 20)

struct entry {
	char *name;			/* cleaned path in the archive; NULL for generated */
	char digest[STORE_DIGEST_MAX];	/* known from the name or computed; "" otherwise */
	int64_t size;
	char *data;			/* in memory, or NULL */
	struct store_writer *w;		/* staged, or NULL */
	bool in_store;			/* a blob the store already holds: data skipped */
	unsigned char magic[4];
	size_t magic_len;
	long alias;			/* a hard link: index of the entry it names, else -1 */
};

struct archive_src {
	struct img_src base;
	struct store *store;
	bool docker;
	struct entry *e;
	size_t n, alloc;
	uint64_t mem_total;
	struct img_index index;		/* oci-archive: index.json */
};

CKT_DEFINE_CLEANUP(struct archive *, archive_read_free, archive_read_freep)

static int archive_fail(struct archive *a, const char *path, struct ckt_err *err)
{
	const char *why = archive_error_string(a);
	return ckt_err_failw(err, CKT_EFORMAT, why ? why : "unknown error", "read archive '%s'",
			     path);
}

/* The entry named name, following a hard link to the entry holding the data. */
static struct entry *find_name(struct archive_src *src, const char *name)
{
	for (size_t i = 0; i < src->n; i++)
		if (src->e[i].name && !strcmp(src->e[i].name, name))
			return src->e[i].alias >= 0 ? &src->e[src->e[i].alias] : &src->e[i];
	return NULL;
}

static struct entry *new_entry(struct archive_src *src, char *name)
{
	ALLOC_GROW(src->e, src->n + 1, src->alloc);
	struct entry *e = &src->e[src->n++];
	memset(e, 0, sizeof(*e));
	e->name = name;
	e->alias = -1;
	return e;
}

static struct entry *find_digest(struct archive_src *src, const char *digest)
{
	for (size_t i = 0; i < src->n; i++)
		if (src->e[i].alias < 0 && !strcmp(src->e[i].digest, digest))
			return &src->e[i];
	return NULL;
}

/* "blobs/<alg>/<hex>" names its own digest. */
static bool blob_name_digest(const char *name, char out[STORE_DIGEST_MAX])
{
	if (strncmp(name, "blobs/", 6))
		return false;
	const char *alg = name + 6, *slash = strchr(alg, '/');
	if (!slash || (size_t)(slash - alg) > 8 || strlen(slash + 1) > 128)
		return false;
	snprintf(out, STORE_DIGEST_MAX, "%.*s:%s", (int)(slash - alg), alg, slash + 1);
	return store_digest_valid(out);
}

/* Whether an entry is worth keeping at all. */
static bool wanted(struct archive_src *src, const char *name, bool is_blob)
{
	if (src->docker)
		return true;
	return is_blob || !strcmp(name, "index.json") || !strcmp(name, "oci-layout");
}

static int read_entry(struct archive_src *src, struct archive *a, struct entry *e,
		      struct ckt_err *err)
{
	bool keep = e->size >= 0 && (uint64_t)e->size <= SMALL_MAX &&
		    src->mem_total + (uint64_t)e->size <= MEM_MAX;
	_cleanup_free_ char *buf = keep ? NULL : xmalloc(READ_BUF);
	size_t len = 0, cap = keep ? (size_t)e->size : 0;

	if (keep) {
		e->data = xmalloc(cap + 1);
		src->mem_total += cap;
	} else {
		e->w = store_writer_new(src->store, e->digest[0] ? e->digest : NULL, e->size, err);
		if (!e->w)
			return -err->code;
	}
	for (;;) {
		char *dst = keep ? e->data + len : buf;
		size_t room = keep ? cap - len : READ_BUF;
		la_ssize_t n = archive_read_data(a, dst, keep && room == 0 ? 1 : room);
		if (n < 0)
			return archive_fail(a, src->base.spec->path, err);
		if (n == 0)
			break;
		if (keep && (size_t)n > room)
			return ckt_err_fail(err, CKT_EFORMAT, "entry '%s' is longer than its header says",
					    e->name);
		if (e->magic_len < sizeof(e->magic)) {
			size_t m = sizeof(e->magic) - e->magic_len;
			m = m < (size_t)n ? m : (size_t)n;
			memcpy(e->magic + e->magic_len, dst, m);
			e->magic_len += m;
		}
		if (!keep && store_writer_write(e->w, dst, (size_t)n, err) < 0)
			return ckt_err_wrap(err, "entry '%s'", e->name);
		len += (size_t)n;
	}
	if (keep) {
		e->data[len] = '\0';
		e->size = (int64_t)len;
	}
	return 0;
}

static int scan(struct archive_src *src, struct ckt_err *err)
{
	const char *path = src->base.spec->path;
	_cleanup_(archive_read_freep) struct archive *a = archive_read_new();
	struct archive_entry *ae;
	int r;

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, READ_BUF) != ARCHIVE_OK)
		return ckt_err_failw(err, CKT_ENOTFOUND, archive_error_string(a),
				     "open archive '%s'", path);
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *raw = archive_entry_pathname(ae);
		_cleanup_free_ char *name = ckt_path_clean(raw ? raw : "");
		char digest[STORE_DIGEST_MAX] = "";
		const char *link = archive_entry_hardlink(ae);

		if (link) {
			/* A hard link shares an earlier entry's content. */
			_cleanup_free_ char *target = ckt_path_clean(link);
			struct entry *t = find_name(src, target);
			if (t && !find_name(src, name)) {
				long to = (long)(t - src->e);
				new_entry(src, TAKE_PTR(name))->alias = to;
			}
			continue;
		}
		if (archive_entry_filetype(ae) != AE_IFREG)
			continue;
		bool is_blob = blob_name_digest(name, digest);
		if (!wanted(src, name, is_blob))
			continue;
		if (find_name(src, name))
			return ckt_err_fail(err, CKT_EFORMAT, "archive '%s' holds '%s' twice", path,
					    name);
		struct entry *e = new_entry(src, TAKE_PTR(name));
		memcpy(e->digest, digest, sizeof(digest));
		e->size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : -1;
		if (is_blob && store_blob_exists(src->store, digest)) {
			e->in_store = true;
			continue;
		}
		if (read_entry(src, a, e, err) < 0)
			return ckt_err_wrap(err, "archive '%s'", path);
	}
	if (r != ARCHIVE_EOF)
		return archive_fail(a, path, err);
	return 0;
}

/* Make e's content a committed store blob; its digest is known afterwards. */
static int commit_entry(struct archive_src *src, struct entry *e, struct ckt_err *err)
{
	if (e->in_store)
		return 0;
	if (e->data) {
		char got[STORE_DIGEST_MAX];
		if (store_blob_put(src->store, e->data, (size_t)e->size, e->digest[0] ? e->digest : NULL,
				   got, err) < 0)
			return -err->code;
		memcpy(e->digest, got, sizeof(got));
	} else {
		char got[STORE_DIGEST_MAX];
		if (store_writer_commit(e->w, got, err) < 0)
			return -err->code;
		memcpy(e->digest, got, sizeof(got));
		store_writer_free(e->w);
		e->w = NULL;
	}
	e->in_store = true;
	return 0;
}

/* The digest of an entry whose name does not tell it (docker-archive). */
static void entry_digest(struct entry *e)
{
	if (e->digest[0])
		return;
	if (e->data)
		store_digest_buf(STORE_DIGEST_SHA256, e->data, (size_t)e->size, e->digest);
	else if (e->w)
		store_writer_digest(e->w, e->digest);
}

static int ar_read(struct img_src *base, const struct store_desc *d, size_t max, char **data,
		   size_t *len, struct ckt_err *err)
{
	struct archive_src *src = (struct archive_src *)base;
	struct entry *e = find_digest(src, d->digest);

	if (e && e->data) {
		if ((uint64_t)e->size > max)
			return ckt_err_fail(err, CKT_EFORMAT, "blob %s exceeds the limit of %zu bytes",
					    d->digest, max);
		if (img_verify_buf(d, e->data, (size_t)e->size, err) < 0)
			return -err->code;
		*data = xmalloc((size_t)e->size + 1);
		memcpy(*data, e->data, (size_t)e->size + 1);
		*len = (size_t)e->size;
		return 0;
	}
	if (e && commit_entry(src, e, err) < 0)
		return -err->code;
	if (!store_blob_exists(src->store, d->digest))
		return ckt_err_fail(err, CKT_ENOTFOUND, "blob %s is not in archive '%s'", d->digest,
				    base->spec->path);
	return store_blob_read(src->store, d->digest, max, data, len, err);
}

static int ar_copy(struct img_src *base, struct img_fetch_ctx *ctx, const struct store_desc *d,
		   struct ckt_err *err)
{
	struct archive_src *src = (struct archive_src *)base;
	struct entry *e = find_digest(src, d->digest);

	(void)ctx;
	if (!e)
		return ckt_err_fail(err, CKT_ENOTFOUND, "blob %s is not in archive '%s'", d->digest,
				    base->spec->path);
	if (e->size >= 0 && d->size >= 0 && e->size != d->size)
		return ckt_err_fail(err, CKT_EVERIFY, "blob %s has %lld bytes, its descriptor says %lld",
				    d->digest, (long long)e->size, (long long)d->size);
	return commit_entry(src, e, err);
}

static int oci_resolve(struct archive_src *src, struct store_desc *top, char **name,
		       struct ckt_err *err)
{
	struct entry *layout = find_name(src, "oci-layout"), *index = find_name(src, "index.json");
	if (!layout || !index || !layout->data || !index->data)
		return ckt_err_failw(err, CKT_EFORMAT, "no oci-layout or index.json in it",
				     "archive '%s' is not an OCI layout", src->base.spec->path);
	if (img_oci_layout_check(layout->data, (size_t)layout->size, err) < 0 ||
	    img_index_parse(index->data, (size_t)index->size, NULL, &src->index, err) < 0)
		return -err->code;
	return img_oci_layout_pick(&src->index, src->base.spec->ref, top, name, err);
}

/* docker-archive: choose the manifest.json item for the ref: "@N" by
 * position, a reference by its RepoTags, or the only item. */
static int docker_pick(struct archive_src *src, json_t *items, json_t **item, char **tag,
		       struct ckt_err *err)
{
	const char *ref = src->base.spec->ref;
	size_t i;
	json_t *it, *tags, *t;

	*tag = NULL;
	if (ref && ref[0] == '@') {
		char *end;
		unsigned long n = strtoul(ref + 1, &end, 10);
		if (!ref[1] || *end || n >= json_array_size(items))
			return ckt_err_fail(err, CKT_ENOTFOUND, "no image '%s' in the archive", ref);
		*item = json_array_get(items, n);
		/* The image is named by its first RepoTag, as without a ref. */
		if (json_is_object(*item)) {
			t = json_array_get(json_object_get(*item, "RepoTags"), 0);
			*tag = json_is_string(t) ? xstrdup(json_string_value(t)) : NULL;
		}
		return 0;
	}
	_cleanup_free_ char *want = NULL;
	if (ref) {
		struct img_ref r;
		if (img_ref_parse(ref, &r, err) < 0)
			return -err->code;
		want = img_ref_string(&r);
		img_ref_release(&r);
	}
	json_array_foreach(items, i, it) {
		size_t k;
		if (!json_is_object(it))
			return ckt_err_fail(err, CKT_EFORMAT, "manifest.json: item %zu is not an object", i);
		if (img_json_arr(it, "RepoTags", false, "manifest.json", &tags, err) < 0)
			return -err->code;
		if (!want) {
			if (json_array_size(items) > 1)
				return ckt_err_failw(err, CKT_EUSAGE, "name one as FILE:REF or FILE:@N",
						     "the archive holds %zu images",
						     json_array_size(items));
			*item = it;
			t = tags ? json_array_get(tags, 0) : NULL;
			*tag = json_is_string(t) ? xstrdup(json_string_value(t)) : NULL;
			return 0;
		}
		json_array_foreach(tags, k, t) {
			struct img_ref r;
			struct ckt_err ignored = CKT_ERR_INIT;
			if (!json_is_string(t) || img_ref_parse(json_string_value(t), &r, &ignored) < 0)
				continue;
			_cleanup_free_ char *s = img_ref_string(&r);
			img_ref_release(&r);
			if (!strcmp(s, want)) {
				*item = it;
				*tag = xstrdup(s);
				return 0;
			}
		}
	}
	if (!ref)
		return ckt_err_fail(err, CKT_ENOTFOUND, "manifest.json lists no image");
	return ckt_err_fail(err, CKT_ENOTFOUND, "no image '%s' in the archive", ref);
}

static struct entry *docker_entry(struct archive_src *src, const char *path, struct ckt_err *err)
{
	_cleanup_free_ char *clean = ckt_path_clean(path);
	struct entry *e = find_name(src, clean);
	if (!e)
		ckt_err_fail(err, CKT_EFORMAT, "manifest.json names '%s', which is not in the archive",
			     path);
	return e;
}

static const char *layer_media_type(struct archive_src *src, struct entry *e)
{
	unsigned char head[4];
	size_t n = e->magic_len;
	memcpy(head, e->magic, n);
	if (e->in_store && n == 0) {
		/* Data was skipped because the store has it; read its first bytes there. */
		_cleanup_close_ int fd = store_blob_open(src->store, e->digest, &(struct ckt_err){ 0 });
		ssize_t r = fd >= 0 ? read(fd, head, sizeof(head)) : -1;
		n = r > 0 ? (size_t)r : 0;
	}
	switch (img_sniff_compression(head, n)) {
	case IMG_COMPRESS_GZIP:
		return IMG_MT_OCI_LAYER_GZIP;
	case IMG_COMPRESS_ZSTD:
		return IMG_MT_OCI_LAYER_ZSTD;
	default:
		return IMG_MT_OCI_LAYER;
	}
}

static int docker_resolve(struct archive_src *src, struct store_desc *top, char **name,
			  struct ckt_err *err)
{
	struct entry *mj = find_name(src, "manifest.json"), *ce;
	json_t *item = NULL, *layers, *l;
	const char *config;
	struct img_config cfg;
	size_t i;
	int r = -1;

	if (!mj || !mj->data)
		return ckt_err_failw(err, CKT_EFORMAT, "no manifest.json in it",
				     "archive '%s' is not a docker archive", src->base.spec->path);
	_cleanup_json_ json_t *items = img_json_parse_any(mj->data, (size_t)mj->size,
							   "manifest.json", err);
	if (!items)
		return -err->code;
	if (!json_is_array(items))
		return ckt_err_fail(err, CKT_EFORMAT, "manifest.json is not an array");
	if (docker_pick(src, items, &item, name, err) < 0 ||
	    img_json_str(item, "Config", true, "manifest.json", &config, err) < 0 ||
	    img_json_arr(item, "Layers", true, "manifest.json", &layers, err) < 0 ||
	    !(ce = docker_entry(src, config, err)))
		return -err->code;

	/* The config is parsed from memory: committing it now would leave a
	 * blob behind when a layer below fails its diff_id.  Only a config too
	 * large to keep in memory is committed first, to read it back. */
	_cleanup_free_ char *cdata = NULL;
	size_t clen;
	entry_digest(ce);
	if (ce->data) {
		clen = (size_t)ce->size;
		cdata = xmalloc(clen + 1);
		memcpy(cdata, ce->data, clen + 1);
	} else if (commit_entry(src, ce, err) < 0 ||
		   store_blob_read(src->store, ce->digest, IMG_CONFIG_MAX, &cdata, &clen, err) < 0) {
		return ckt_err_wrap(err, "config '%s'", config);
	}
	if (img_config_parse(cdata, clen, &cfg, err) < 0)
		return ckt_err_wrap(err, "config '%s'", config);

	struct store_desc cdesc = { .media_type = (char *)IMG_MT_OCI_CONFIG, .size = (int64_t)clen };
	memcpy(cdesc.digest, ce->digest, sizeof(cdesc.digest));
	struct store_desc *ld = xcalloc(json_array_size(layers) + 1, sizeof(*ld));
	if (json_array_size(layers) != cfg.n_diff_ids) {
		ckt_err_fail(err, CKT_EFORMAT, "manifest.json lists %zu layers but the config %zu diff_ids",
			     json_array_size(layers), cfg.n_diff_ids);
		goto out;
	}
	json_array_foreach(layers, i, l) {
		struct entry *le;
		if (!json_is_string(l)) {
			ckt_err_fail(err, CKT_EFORMAT, "manifest.json: Layers[%zu] is not a string", i);
			goto out;
		}
		if (!(le = docker_entry(src, json_string_value(l), err)))
			goto out;
		entry_digest(le);
		ld[i].media_type = (char *)layer_media_type(src, le);
		memcpy(ld[i].digest, le->digest, sizeof(ld[i].digest));
		ld[i].size = le->size;
		/* An uncompressed layer's digest is its diff_id (config.md): check
		 * it here, since nothing else names these files by digest. */
		if (!strcmp(ld[i].media_type, IMG_MT_OCI_LAYER) && strcmp(le->digest, cfg.diff_ids[i])) {
			ckt_err_failw(err, CKT_EVERIFY, "content does not match the config's diff_id",
				      "layer '%s' hashes to %s, not %s", le->name, le->digest,
				      cfg.diff_ids[i]);
			goto out;
		}
	}

	size_t mlen;
	char *m = img_manifest_build(&cdesc, ld, json_array_size(layers), &mlen);
	struct entry *me = new_entry(src, NULL);
	me->data = m;
	me->size = (int64_t)mlen;
	store_digest_buf(STORE_DIGEST_SHA256, m, mlen, me->digest);
	top->media_type = xstrdup(IMG_MT_OCI_MANIFEST);
	memcpy(top->digest, me->digest, sizeof(top->digest));
	top->size = (int64_t)mlen;
	r = 0;
out:
	free(ld);
	img_config_release(&cfg);
	return r;
}

static int ar_resolve(struct img_src *base, struct store_desc *top, char **name,
		      struct ckt_err *err)
{
	struct archive_src *src = (struct archive_src *)base;
	return src->docker ? docker_resolve(src, top, name, err) : oci_resolve(src, top, name, err);
}

static void ar_free(struct img_src *base)
{
	struct archive_src *src = (struct archive_src *)base;
	for (size_t i = 0; i < src->n; i++) {
		free(src->e[i].name);
		free(src->e[i].data);
		store_writer_free(src->e[i].w);
	}
	free(src->e);
	img_index_release(&src->index);
	free(src);
}

static const struct img_src_ops archive_ops = {
	.resolve = ar_resolve,
	.read = ar_read,
	.copy = ar_copy,
	.free = ar_free,
};

struct img_src *img_src_archive_open(const struct img_source *spec, struct store *s,
				     struct ckt_err *err)
{
	struct archive_src *src = xcalloc(1, sizeof(*src));
	src->base.ops = &archive_ops;
	src->base.spec = spec;
	src->store = s;
	src->docker = spec->transport == IMG_TRANSPORT_DOCKER_ARCHIVE;
	if (scan(src, err) < 0) {
		ar_free(&src->base);
		return NULL;
	}
	return &src->base;
}
