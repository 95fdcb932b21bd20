/* Cosign signatures travelling with their image: the "sha256-<hex>.sig" tag
 * of the image's repository (cosign's and containers/image's sigstore
 * attachments).  The manifest is copied byte for byte both ways (so its
 * digest is the same in the store and the registry), except that a fetch
 * into a store that has signatures of its own for the image merges the
 * registry's into them. */
#include "libimg/sigstore.h"

#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "libimg/fetch.h"
#include "libimg/json.h"
#include "libimg/lookaside.h"
#include "libimg/manifest.h"
#include "libimg/ref.h"
#include "libimg/registry.h"
#include "libimg/sign.h"
#include "store/store.h"

static int store_reader(void *data, const struct store_desc *d, char **out, size_t *len,
			struct ckt_err *err)
{
	return store_blob_read(data, d->digest, IMG_SIG_MAX, out, len, err);
}

static char *sig_tag(const char *digest)
{
	const char *colon = strchr(digest, ':');
	return xasprintf("%.*s-%s.sig", (int)(colon - digest), digest, colon + 1);
}

int img_sigstore_pull(struct store *s, const char *ref, const char *digest,
		      const struct img_registry_opts *o, bool *found, struct ckt_err *err)
{
	struct img_ref r = IMG_REF_INIT;
	struct img_manifest m = { 0 };
	struct store_desc md = { 0 };
	_cleanup_free_ char *data = NULL;
	_cleanup_free_ char *tag = sig_tag(digest);
	size_t len;
	int ret;

	if (found)
		*found = false;
	if (img_ref_parse(ref, &r, err) < 0)
		return -err->code;
	_cleanup_free_ char *name = img_ref_name(&r);
	_cleanup_registry_ struct img_registry *reg = img_registry_new(r.domain, o, err);
	if (!reg) {
		img_ref_release(&r);
		return -err->code;
	}
	struct ckt_err nf = CKT_ERR_INIT;
	ret = img_registry_get_manifest(reg, r.path, tag, &data, &len, &md, &nf);
	if (ret < 0) {
		img_ref_release(&r);
		if (nf.code == CKT_ENOTFOUND)
			return 0;
		*err = nf;
		return ckt_err_wrap(err, "signatures of '%s'", name);
	}
	ret = img_manifest_parse(data, len, md.media_type, &m, err);
	if (ret == 0) {
		struct store_desc *all = xcalloc(m.n_layers + 1, sizeof(*all));
		all[0] = m.config;
		memcpy(all + 1, m.layers, m.n_layers * sizeof(*all));
		ret = img_registry_get_blobs(reg, r.path, s, all, m.n_layers + 1, NULL, NULL, err);
		free(all);
	}
	if (ret == 0) {
		_cleanup_free_ char *sref = img_sig_ref_name(name, digest, IMG_SIG_COSIGN);
		struct store_ref local = { 0 };
		struct ckt_err nf2 = CKT_ERR_INIT;
		if (store_ref_get(s, sref, &local, &nf2) == 0) {
			/* Signatures made here and not pushed yet are kept: the
			 * registry's are added to them one by one. */
			struct img_sig *v = NULL;
			size_t nv = 0;
			store_ref_release(&local);
			ret = img_sig_cosign_parse(data, len, store_reader, s, NULL, &v, &nv, err);
			for (size_t i = 0; ret == 0 && i < nv; i++)
				ret = img_sig_store_add(s, name, digest, &v[i], err);
			img_sigs_free(v, nv);
		} else {
			struct store_desc d = { (char *)IMG_MT_OCI_MANIFEST, "", (int64_t)len };
			ret = store_blob_put(s, data, len, NULL, d.digest, err);
			if (ret == 0)
				ret = store_ref_set(s, sref, &d, err);
		}
		if (ret == 0 && found)
			*found = true;
	}
	img_manifest_release(&m);
	store_desc_release(&md);
	img_ref_release(&r);
	return ret < 0 ? ckt_err_wrap(err, "signatures of '%s'", name) : 0;
}

int img_sigstore_push(struct store *s, const char *src, const char *digest, const char *dest,
		      const struct img_registry_opts *o, bool *pushed, struct ckt_err *err)
{
	struct img_ref sr = IMG_REF_INIT, dr = IMG_REF_INIT;
	struct store_desc md = { 0 };
	struct img_manifest m = { 0 };
	_cleanup_free_ char *data = NULL;
	_cleanup_free_ char *tag = sig_tag(digest);
	size_t len;
	int ret;

	if (pushed)
		*pushed = false;
	if (!strncmp(dest, "docker://", 9))
		dest += 9;
	/* A digest or a name that is no docker reference has no signatures. */
	struct ckt_err perr = CKT_ERR_INIT;
	if (img_ref_parse(src, &sr, &perr) < 0)
		return 0;
	_cleanup_free_ char *sname = img_ref_name(&sr);
	img_ref_release(&sr);
	struct ckt_err nf = CKT_ERR_INIT;
	if (img_sig_cosign_manifest(s, sname, digest, &md, &nf) < 0) {
		if (nf.code == CKT_ENOTFOUND)
			return 0;
		*err = nf;
		return -err->code;
	}
	if (img_ref_parse(dest, &dr, err) < 0) {
		store_desc_release(&md);
		return -err->code;
	}
	_cleanup_registry_ struct img_registry *reg = img_registry_new(dr.domain, o, err);
	ret = reg ? store_blob_read(s, md.digest, IMG_MANIFEST_MAX, &data, &len, err) : -1;
	if (ret == 0)
		ret = img_manifest_parse(data, len, IMG_MT_OCI_MANIFEST, &m, err);
	if (ret == 0)
		ret = img_registry_put_blob(reg, dr.path, s, &m.config, NULL, 0, NULL, err);
	for (size_t i = 0; ret == 0 && i < m.n_layers; i++)
		ret = img_registry_put_blob(reg, dr.path, s, &m.layers[i], NULL, 0, NULL, err);
	if (ret == 0)
		ret = img_registry_put_manifest(reg, dr.path, tag, IMG_MT_OCI_MANIFEST, data, len,
						err);
	if (ret == 0 && pushed)
		*pushed = true;
	img_manifest_release(&m);
	store_desc_release(&md);
	img_ref_release(&dr);
	return ret < 0 ? ckt_err_wrap(err, "push signatures to '%s'", dest) : 0;
}

int img_sigs_collect(struct store *s, const char *source, const char *name, const char *digest,
		     const struct img_registry_opts *ro, const char *registries_d, bool attachments,
		     size_t *n, struct ckt_err *err)
{
	struct img_source src = { 0 };
	struct img_ref r = IMG_REF_INIT;
	struct img_sig *sigs = NULL;
	size_t nsigs = 0, found = 0;
	int ret = 0;

	if (n)
		*n = 0;
	if (img_ref_parse(name, &r, err) < 0)
		return -err->code;
	_cleanup_free_ char *repo = img_ref_name(&r);
	img_ref_release(&r);
	_cleanup_lookaside_ struct img_lookaside *la = img_lookaside_load(registries_d, err);
	if (!la || img_source_parse(source, &src, err) < 0)
		return -err->code;
	/* As containers/image: a registry's sigstore attachments are read when
	 * registries.d says use-sigstore-attachments (or the caller insists,
	 * as ckt-fetch --verify does), sparing every other fetch a request. */
	if (src.transport == IMG_TRANSPORT_DOCKER &&
	    (attachments || img_lookaside_use_attachments(la, src.path))) {
		bool got = false;
		ret = img_sigstore_pull(s, src.path, digest, ro, &got, err);
		found += got;
	}
	img_source_release(&src);
	if (ret < 0)
		return ret;
	const char *base = img_lookaside_base(la, name, false);
	if (base && img_lookaside_read(base, name, digest, &sigs, &nsigs, err) < 0)
		return -err->code;
	for (size_t i = 0; i < nsigs && ret == 0; i++)
		ret = img_sig_store_add(s, repo, digest, &sigs[i], err);
	found += nsigs > 0;
	img_sigs_free(sigs, nsigs);
	if (n)
		*n = found;
	return ret;
}
