/* ckt-push: images from the store to a registry (spec.md "Push") or to a
 * local destination. */
#include "libimg/push.h"

#include <pthread.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "libimg/dest.h"
#include "libimg/image.h"
#include "libimg/lazy_archive.h"
#include "libimg/lazy_curl.h"
#include "libimg/manifest.h"
#include "libimg/ref.h"

void img_push_result_release(struct img_push_result *r)
{
	free(r->pushed);
	memset(r, 0, sizeof(*r));
}

struct push {
	struct store *s;
	struct img_registry *reg;
	const char *domain;
	const struct img_push_opts *o;
	const char *repo;	/* destination repository path */
	const char *mount_from;	/* source repository on the same registry, or NULL */
	struct img_push_result *res;
};

static int push_blob(struct push *p, const struct store_desc *d, struct ckt_err *err)
{
	const char *how = NULL;
	if (img_registry_put_blob(p->reg, p->repo, p->s, d, p->mount_from, p->o->chunk_size, &how,
				  err) < 0)
		return ckt_err_wrap(err, "push blob %s", d->digest);
	ckt_debug("blob %s: %s", d->digest, how);
	if (!strcmp(how, "exists"))
		p->res->blobs_skipped++;
	else if (!strcmp(how, "mounted"))
		p->res->blobs_mounted++;
	else
		p->res->blobs_uploaded++;
	return 0;
}

/* Blobs of one manifest, shared by the uploading threads. */
struct upload_set {
	struct push *p;
	const struct store_desc **blobs;
	size_t n, next;
	pthread_mutex_t mu;
	struct ckt_err err;	/* the first failure */
	bool failed;
};

/* Take blobs off the set and push them with reg until none is left or one
 * failed somewhere. */
static void upload_loop(struct upload_set *u, struct img_registry *reg)
{
	struct push p = *u->p;
	struct img_push_result counts = { 0 };
	p.reg = reg;
	p.res = &counts;
	for (;;) {
		pthread_mutex_lock(&u->mu);
		size_t i = u->failed ? u->n : u->next++;
		pthread_mutex_unlock(&u->mu);
		if (i >= u->n)
			break;
		struct ckt_err e = CKT_ERR_INIT;
		if (push_blob(&p, u->blobs[i], &e) < 0) {
			pthread_mutex_lock(&u->mu);
			if (!u->failed)
				u->err = e;
			u->failed = true;
			pthread_mutex_unlock(&u->mu);
			break;
		}
	}
	pthread_mutex_lock(&u->mu);
	u->p->res->blobs_skipped += counts.blobs_skipped;
	u->p->res->blobs_mounted += counts.blobs_mounted;
	u->p->res->blobs_uploaded += counts.blobs_uploaded;
	pthread_mutex_unlock(&u->mu);
}

static void *upload_thread(void *data)
{
	struct upload_set *u = data;
	struct img_registry_opts ro = { 0 };
	if (u->p->o->registry)
		ro = *u->p->o->registry;
	ro.progress = NULL; /* the tool's progress line is not thread-safe */
	struct ckt_err e = CKT_ERR_INIT;
	_cleanup_registry_ struct img_registry *reg = img_registry_new(u->p->domain, &ro, &e);
	if (!reg) {
		pthread_mutex_lock(&u->mu);
		if (!u->failed)
			u->err = e;
		u->failed = true;
		pthread_mutex_unlock(&u->mu);
		return NULL;
	}
	upload_loop(u, reg);
	return NULL;
}

/* Upload up to PUSH_THREADS blobs at once, each thread with its own client
 * (connections and tokens), when there is enough to gain from it. */
#define PUSH_THREADS 4
#define PUSH_PARALLEL_MIN (4 << 20)
static int push_blobs(struct push *p, const struct store_desc **blobs, size_t n,
		      struct ckt_err *err)
{
	struct upload_set u = { .p = p, .blobs = blobs, .n = n };
	pthread_t th[PUSH_THREADS - 1];
	size_t nth = 0, big = 0;
	for (size_t i = 0; i < n; i++)
		big += blobs[i]->size >= PUSH_PARALLEL_MIN;
	pthread_mutex_init(&u.mu, NULL);
	for (; big > 1 && nth < big - 1 && nth < ARRAY_SIZE(th); nth++)
		if (pthread_create(&th[nth], NULL, upload_thread, &u))
			break;
	upload_loop(&u, p->reg);
	for (size_t i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&u.mu);
	if (u.failed) {
		*err = u.err;
		return -err->code;
	}
	return 0;
}

/* An image manifest: its blobs, then the manifest under tag (or its digest). */
static int push_manifest(struct push *p, const struct store_desc *d, const char *data, size_t len,
			 const char *media_type, const char *tag, struct ckt_err *err)
{
	struct img_manifest m;
	int r = -1;
	if (img_manifest_parse(data, len, media_type, &m, err) < 0)
		return ckt_err_wrap(err, "manifest %s", d->digest);
	const struct store_desc **blobs = xcalloc(m.n_layers + 1, sizeof(*blobs));
	for (size_t i = 0; i < m.n_layers; i++)
		blobs[i] = &m.layers[i];
	blobs[m.n_layers] = &m.config;
	int br = push_blobs(p, blobs, m.n_layers + 1, err);
	free(blobs);
	if (br < 0)
		goto out;
	if (img_registry_put_manifest(p->reg, p->repo, tag ? tag : d->digest,
				      media_type ? media_type : m.media_type, data, len, err) < 0)
		goto out;
	r = 0;
out:
	img_manifest_release(&m);
	return r < 0 ? -err->code : 0;
}

static int push_docker(struct store *s, const char *ref, const char *dest,
		       const struct img_push_opts *o, struct img_push_result *res,
		       struct ckt_err *err)
{
	struct img_ref dref = IMG_REF_INIT, sref = IMG_REF_INIT;
	struct store_desc top = { 0 };
	_cleanup_free_ char *name = NULL, *data = NULL, *mt = NULL;
	_cleanup_registry_ struct img_registry *reg = NULL;
	struct img_index idx = { 0 };
	size_t len;
	enum img_kind kind;
	int r = -1;

	if (img_ref_parse(dest, &dref, err) < 0) {
		ckt_err_wrap(err, "destination 'docker://%s'", dest);
		return -err->code;
	}
	if (img_image_resolve(s, ref, &name, &top, err) < 0 ||
	    store_blob_read(s, top.digest, IMG_MANIFEST_MAX, &data, &len, err) < 0 ||
	    img_doc_identify(data, len, top.media_type, &kind, &mt, err) < 0)
		goto out;
	reg = img_registry_new(dref.domain, o->registry, err);
	if (!reg)
		goto out;
	struct push p = { .s = s, .reg = reg, .domain = dref.domain, .o = o, .repo = dref.path,
			  .res = res };
	struct ckt_err ignored = CKT_ERR_INIT;
	if (!(o->flags & IMG_PUSH_NO_MOUNT) && name && img_ref_parse(name, &sref, &ignored) == 0 &&
	    !strcmp(sref.domain, dref.domain) && strcmp(sref.path, dref.path))
		p.mount_from = sref.path;
	const char *tag = dref.digest ? dref.digest : dref.tag;

	if (kind == IMG_KIND_INDEX) {
		if (img_index_parse(data, len, mt, &idx, err) < 0)
			goto out;
		if (o->flags & IMG_PUSH_ALL_PLATFORMS) {
			for (size_t i = 0; i < idx.n; i++) {
				const struct store_desc *e = &idx.entries[i].desc;
				_cleanup_free_ char *md = NULL, *emt = NULL;
				size_t ml;
				enum img_kind ek;
				if (store_blob_read(s, e->digest, IMG_MANIFEST_MAX, &md, &ml, err) < 0 ||
				    img_doc_identify(md, ml, e->media_type, &ek, &emt, err) < 0)
					goto out;
				if (ek != IMG_KIND_MANIFEST) {
					ckt_err_fail(err, CKT_EFORMAT, "index entry %s is not an image manifest",
						     e->digest);
					goto out;
				}
				if (push_manifest(&p, e, md, ml, emt, NULL, err) < 0)
					goto out;
			}
			if (img_registry_put_manifest(reg, p.repo, tag, mt, data, len, err) < 0)
				goto out;
			memcpy(res->digest, top.digest, sizeof(res->digest));
		} else {
			size_t which;
			if (img_index_select(&idx, o->platform, &which, err) < 0)
				goto out;
			const struct store_desc *e = &idx.entries[which].desc;
			_cleanup_free_ char *md = NULL, *emt = NULL;
			size_t ml;
			enum img_kind ek;
			if (store_blob_read(s, e->digest, IMG_MANIFEST_MAX, &md, &ml, err) < 0 ||
			    img_doc_identify(md, ml, e->media_type, &ek, &emt, err) < 0 ||
			    push_manifest(&p, e, md, ml, emt, tag, err) < 0)
				goto out;
			memcpy(res->digest, e->digest, sizeof(res->digest));
		}
	} else {
		if (push_manifest(&p, &top, data, len, mt, tag, err) < 0)
			goto out;
		memcpy(res->digest, top.digest, sizeof(res->digest));
	}
	res->pushed = img_ref_pinned(&dref, res->digest);
	r = 0;
out:
	img_index_release(&idx);
	store_desc_release(&top);
	img_ref_release(&dref);
	img_ref_release(&sref);
	return r < 0 ? -err->code : 0;
}

void img_push_preload(const char *dest)
{
	if (!strncmp(dest, "docker://", 9))
		img_curl_preload();
	else if (!strncmp(dest, "oci-archive:", 12) || !strncmp(dest, "docker-archive:", 15))
		img_archive_preload();
}

int img_push(struct store *s, const char *ref, const char *dest, const struct img_push_opts *o,
	     struct img_push_result *res, struct ckt_err *err)
{
	static const struct img_push_opts defaults = { 0 };
	int r;

	memset(res, 0, sizeof(*res));
	if (!o)
		o = &defaults;
	if (!strncmp(dest, "docker://", 9)) {
		r = push_docker(s, ref, dest + 9, o, res, err);
	} else if (img_dest_is_known(dest)) {
		struct img_dest_opts d = { .platform = o->platform };
		if (o->flags & IMG_PUSH_ALL_PLATFORMS)
			d.flags |= IMG_DEST_ALL_PLATFORMS;
		struct store_desc top = { 0 };
		r = img_dest_write(s, ref, dest, &d, &res->pushed, err);
		if (r == 0 && img_image_resolve(s, ref, NULL, &top, err) == 0) {
			memcpy(res->digest, top.digest, sizeof(res->digest));
			store_desc_release(&top);
		}
	} else {
		r = ckt_err_failw(err, CKT_EUSAGE,
				  "use docker://, oci:, oci-archive: or docker-archive:",
				  "unknown destination transport");
	}
	if (r < 0) {
		img_push_result_release(res);
		return ckt_err_wrap(err, "push '%s' to '%s'", ref, dest);
	}
	return 0;
}

char *img_push_mirror_dest(struct store *s, const char *prefix, const char *src,
			   struct ckt_err *err)
{
	struct img_ref r = IMG_REF_INIT;
	if (img_ref_parse(src, &r, err) < 0) {
		ckt_err_wrap(err, "image '%s' (mirroring needs image names)", src);
		return NULL;
	}
	_cleanup_free_ char *tag = r.tag ? xstrdup(r.tag) : NULL;
	if (!tag) {
		struct store_ref *refs = NULL;
		size_t n = 0;
		struct ckt_err ignored = CKT_ERR_INIT;
		_cleanup_free_ char *repo = img_ref_name(&r);
		if (store_ref_list(s, &refs, &n, &ignored) == 0) {
			for (size_t i = 0; i < n && !tag; i++) {
				struct img_ref e = IMG_REF_INIT;
				if (!refs[i].name || strcmp(refs[i].desc.digest, r.digest) ||
				    img_ref_parse(refs[i].name, &e, &ignored) < 0)
					continue;
				_cleanup_free_ char *er = img_ref_name(&e);
				if (e.tag && !e.digest && !strcmp(er, repo))
					tag = xstrdup(e.tag);
				img_ref_release(&e);
			}
			store_refs_free(refs, n);
		}
	}
	size_t n = strlen(prefix);
	while (n && prefix[n - 1] == '/')
		n--;
	char *d = tag ? xasprintf("%.*s/%s:%s", (int)n, prefix, r.path, tag)
		      : xasprintf("%.*s/%s@%s", (int)n, prefix, r.path, r.digest);
	img_ref_release(&r);
	return d;
}
