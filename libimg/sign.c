#include "libimg/sign.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "libimg/json.h"
#include "libimg/manifest.h"
#include "libimg/ref.h"
#include "store/digest.h"

void img_sig_payload_release(struct img_sig_payload *p)
{
	free(p->docker_ref);
	free(p->digest);
	free(p->type);
	memset(p, 0, sizeof(*p));
}

char *img_sig_payload_build(const char *docker_ref, const char *digest, const char *type,
			    const char *creator, int64_t timestamp, size_t *len)
{
	json_t *opt = json_object();
	if (creator)
		json_object_set_new(opt, "creator", json_string(creator));
	if (timestamp >= 0)
		json_object_set_new(opt, "timestamp", json_integer(timestamp));
	_cleanup_json_ json_t *j =
		json_pack("{s:{s:{s:s}, s:{s:s}, s:s}, s:o}", "critical", "identity",
			  "docker-reference", docker_ref, "image", "docker-manifest-digest",
			  digest, "type", type, "optional", opt);
	return img_json_dump(j, len);
}

static int bad_payload(struct ckt_err *err, const char *why)
{
	return ckt_err_failw(err, CKT_EVERIFY, why, "invalid signature payload");
}

/* containers/image signature/internal/json.go ParanoidUnmarshalJSONObject:
 * exactly the listed members, each present once. */
static bool exact_keys(json_t *o, const char *a, const char *b, const char *c)
{
	size_t want = 1 + (b != NULL) + (c != NULL);
	return json_is_object(o) && json_object_size(o) == want && json_object_get(o, a) &&
	       (!b || json_object_get(o, b)) && (!c || json_object_get(o, c));
}

int img_sig_payload_parse(const char *data, size_t len, const char *want_type,
			  struct img_sig_payload *out, struct ckt_err *err)
{
	struct ckt_err perr = CKT_ERR_INIT;
	_cleanup_json_ json_t *j = img_json_parse(data, len, "signature payload", &perr);
	if (!j)
		return bad_payload(err, perr.why);
	json_t *crit = json_object_get(j, "critical"), *opt = json_object_get(j, "optional");
	if (!crit || !opt || json_object_size(j) != 2)
		return bad_payload(err, "want exactly 'critical' and 'optional'");
	/* cosign writes "optional": null. */
	if (!json_is_object(opt) && !json_is_null(opt))
		return bad_payload(err, "'optional' is not an object");
	if (!exact_keys(crit, "type", "image", "identity"))
		return bad_payload(err, "'critical' must hold exactly type, image and identity");
	json_t *type = json_object_get(crit, "type");
	json_t *image = json_object_get(crit, "image");
	json_t *ident = json_object_get(crit, "identity");
	if (!json_is_string(type))
		return bad_payload(err, "'critical.type' is not a string");
	if (strcmp(json_string_value(type), want_type))
		return ckt_err_failw(err, CKT_EVERIFY, "unrecognised signature type",
				     "signature type '%s'", json_string_value(type));
	if (!exact_keys(image, "docker-manifest-digest", NULL, NULL) ||
	    !json_is_string(json_object_get(image, "docker-manifest-digest")))
		return bad_payload(err, "'critical.image' must hold docker-manifest-digest");
	if (!exact_keys(ident, "docker-reference", NULL, NULL) ||
	    !json_is_string(json_object_get(ident, "docker-reference")))
		return bad_payload(err, "'critical.identity' must hold docker-reference");
	const char *dg = json_string_value(json_object_get(image, "docker-manifest-digest"));
	if (!store_digest_valid(dg))
		return bad_payload(err, "'docker-manifest-digest' is not a valid digest");
	json_t *ts = json_is_object(opt) ? json_object_get(opt, "timestamp") : NULL;
	if (ts && !json_is_integer(ts))
		return bad_payload(err, "'optional.timestamp' is not an integer");
	out->type = xstrdup(json_string_value(type));
	out->digest = xstrdup(dg);
	out->docker_ref = xstrdup(json_string_value(json_object_get(ident, "docker-reference")));
	return 0;
}

void img_sigs_free(struct img_sig *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].data);
		free(v[i].cosign_sig);
		free(v[i].origin);
	}
	free(v);
}

void img_sigs_add(struct img_sig **v, size_t *n, const struct img_sig *sig)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	struct img_sig *d = &(*v)[(*n)++];
	d->kind = sig->kind;
	d->data = xmalloc(sig->len + 1);
	memcpy(d->data, sig->data, sig->len);
	d->data[sig->len] = 0;
	d->len = sig->len;
	d->cosign_sig = sig->cosign_sig ? xstrdup(sig->cosign_sig) : NULL;
	d->origin = sig->origin ? xstrdup(sig->origin) : NULL;
}

char *img_sig_ref_name(const char *repo, const char *digest, enum img_sig_kind kind)
{
	const char *colon = strchr(digest, ':');
	return xasprintf("%s:%.*s-%s.%s", repo, (int)(colon - digest), digest, colon + 1,
			 kind == IMG_SIG_COSIGN ? "sig" : "simplesig");
}

/* ---- the signature manifests in the store -------------------------------- */

struct blob_ctx {
	struct store *s;
};

static int store_reader(void *data, const struct store_desc *d, char **out, size_t *len,
			struct ckt_err *err)
{
	struct blob_ctx *b = data;
	if (d->size > (int64_t)IMG_SIG_MAX)
		return ckt_err_fail(err, CKT_EFORMAT, "signature blob %s too large", d->digest);
	return store_blob_read(b->s, d->digest, IMG_SIG_MAX, out, len, err);
}

/* Parse the layers of a signature manifest: each layer's descriptor and,
 * for cosign, its signature annotation. */
static int each_layer(const char *manifest, size_t len, img_blob_reader read_blob, void *data,
		      enum img_sig_kind kind, const char *origin, struct img_sig **v, size_t *n,
		      struct ckt_err *err)
{
	_cleanup_json_ json_t *j = img_json_parse(manifest, len, "signature manifest", err);
	json_t *layers, *l;
	size_t i;
	if (!j || img_json_arr(j, "layers", true, "signature manifest", &layers, err) < 0)
		return -err->code;
	json_array_foreach(layers, i, l) {
		struct store_desc d = { 0 };
		const char *sig = NULL;
		_cleanup_free_ char *blob = NULL;
		size_t blen;
		if (img_json_desc(l, "signature manifest: layer", &d, err) < 0)
			return -err->code;
		const char *mt = d.media_type ? d.media_type : "";
		bool want = kind == IMG_SIG_COSIGN ? !strcmp(mt, IMG_MT_COSIGN_PAYLOAD)
						   : !strcmp(mt, IMG_MT_SIMPLESIG);
		if (kind == IMG_SIG_COSIGN) {
			json_t *ann = json_object_get(l, "annotations");
			json_t *s = ann ? json_object_get(ann, IMG_COSIGN_SIG_ANNOTATION) : NULL;
			sig = json_is_string(s) ? json_string_value(s) : NULL;
			want = want && sig;
		}
		if (!want) {
			store_desc_release(&d);
			continue;
		}
		int r = read_blob(data, &d, &blob, &blen, err);
		store_desc_release(&d);
		if (r < 0)
			return -err->code;
		struct img_sig one = { kind, blob, blen, (char *)sig, (char *)origin };
		img_sigs_add(v, n, &one);
	}
	return 0;
}

int img_sig_cosign_parse(const char *manifest, size_t len, img_blob_reader read_blob,
			 void *data, const char *origin, struct img_sig **v, size_t *n,
			 struct ckt_err *err)
{
	return each_layer(manifest, len, read_blob, data, IMG_SIG_COSIGN, origin, v, n, err);
}

static int list_one(struct store *s, const char *name, enum img_sig_kind k, struct img_sig **v,
		    size_t *n, struct ckt_err *err);

/* The signature refs of digest: "<repo>:sha256-<hex>.sig|.simplesig" of
 * repo, or of any repository when repo is NULL. */
static bool is_sig_ref(const char *name, const char *repo, const char *digest,
		       enum img_sig_kind kind)
{
	_cleanup_free_ char *suffix = img_sig_ref_name("", digest, kind);
	size_t n = strlen(name), sl = strlen(suffix);
	if (n <= sl || strcmp(name + n - sl, suffix))
		return false;
	return !repo || (strlen(repo) == n - sl && !strncmp(name, repo, n - sl));
}

int img_sig_store_list(struct store *s, const char *repo, const char *digest,
		       struct img_sig **v, size_t *n, struct ckt_err *err)
{
	struct store_ref *refs;
	size_t nrefs;
	if (store_ref_list(s, &refs, &nrefs, err) < 0)
		return -err->code;
	int r = 0;
	for (size_t i = 0; i < nrefs && r == 0; i++)
		for (int k = IMG_SIG_SIMPLE; k <= IMG_SIG_COSIGN && r == 0; k++)
			if (refs[i].name &&
			    is_sig_ref(refs[i].name, repo, digest, (enum img_sig_kind)k))
				r = list_one(s, refs[i].name, (enum img_sig_kind)k, v, n, err);
	store_refs_free(refs, nrefs);
	return r;
}

static int list_one(struct store *s, const char *name, enum img_sig_kind k, struct img_sig **v,
		    size_t *n, struct ckt_err *err)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ char *origin = xasprintf("store:%s", name);
	struct store_ref ref = { 0 };
	struct blob_ctx bc = { s };
	size_t len;
	if (store_ref_get(s, name, &ref, err) < 0)
		return -err->code;
	int r = store_blob_read(s, ref.desc.digest, IMG_MANIFEST_MAX, &buf, &len, err);
	store_ref_release(&ref);
	if (r < 0 || each_layer(buf, len, store_reader, &bc, k, origin, v, n, err) < 0)
		return ckt_err_wrap(err, "signatures '%s'", name);
	return 0;
}

int img_sig_cosign_manifest(struct store *s, const char *repo, const char *digest,
			    struct store_desc *desc, struct ckt_err *err)
{
	_cleanup_free_ char *name = img_sig_ref_name(repo, digest, IMG_SIG_COSIGN);
	struct store_ref ref = { 0 };
	if (store_ref_get(s, name, &ref, err) < 0)
		return -err->code;
	*desc = ref.desc;
	ref.desc.media_type = NULL;
	store_ref_release(&ref);
	return 0;
}

static json_t *put_json(struct store *s, json_t *j, const char *mt, struct ckt_err *err)
{
	size_t len;
	_cleanup_free_ char *buf = img_json_dump(j, &len);
	char dg[STORE_DIGEST_MAX];
	if (store_blob_put(s, buf, len, NULL, dg, err) < 0)
		return NULL;
	return json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", dg, "size",
			 (json_int_t)len);
}

static int add_once(struct store *s, const char *repo, const char *digest,
		    const struct img_sig *sig, struct ckt_err *err)
{
	_cleanup_free_ char *name = img_sig_ref_name(repo, digest, sig->kind);
	_cleanup_json_ json_t *layers = json_array();
	struct store_ref ref = { 0 };
	struct ckt_err nf = CKT_ERR_INIT;
	char dg[STORE_DIGEST_MAX];

	/* The layers already there are kept, in order. */
	if (store_ref_get(s, name, &ref, &nf) == 0) {
		_cleanup_free_ char *buf = NULL;
		size_t len;
		int r = store_blob_read(s, ref.desc.digest, IMG_MANIFEST_MAX, &buf, &len, err);
		store_ref_release(&ref);
		if (r < 0)
			return ckt_err_wrap(err, "signatures '%s'", name);
		_cleanup_json_ json_t *old = img_json_parse(buf, len, "signature manifest", err);
		json_t *l = old ? json_object_get(old, "layers") : NULL;
		if (!json_is_array(l))
			return ckt_err_fail(err, CKT_EFORMAT, "signatures '%s': no layers", name);
		json_array_extend(layers, l);
	} else if (nf.code != CKT_ENOTFOUND) {
		*err = nf;
		return -err->code;
	}
	if (store_blob_put(s, sig->data, sig->len, NULL, dg, err) < 0)
		return -err->code;
	json_t *l;
	size_t i;
	json_array_foreach(layers, i, l) {
		json_t *d = json_object_get(l, "digest");
		json_t *ann = json_object_get(l, "annotations");
		json_t *a = ann ? json_object_get(ann, IMG_COSIGN_SIG_ANNOTATION) : NULL;
		if (json_is_string(d) && !strcmp(json_string_value(d), dg) &&
		    (sig->kind != IMG_SIG_COSIGN ||
		     (json_is_string(a) && !strcmp(json_string_value(a), sig->cosign_sig))))
			return 0; /* already there */
	}
	json_t *layer = json_pack("{s:s, s:s, s:I}", "mediaType",
				  sig->kind == IMG_SIG_COSIGN ? IMG_MT_COSIGN_PAYLOAD
							      : IMG_MT_SIMPLESIG,
				  "digest", dg, "size", (json_int_t)sig->len);
	if (sig->kind == IMG_SIG_COSIGN)
		json_object_set_new(layer, "annotations",
				    json_pack("{s:s}", IMG_COSIGN_SIG_ANNOTATION,
					      sig->cosign_sig));
	json_array_append_new(layers, layer);

	/* Config: cosign's (an image config whose diff_ids are the payloads),
	 * or the OCI empty descriptor for simple signing artifacts. */
	_cleanup_json_ json_t *config = NULL;
	if (sig->kind == IMG_SIG_COSIGN) {
		json_t *ids = json_array();
		json_array_foreach(layers, i, l)
			json_array_append(ids, json_object_get(l, "digest"));
		_cleanup_json_ json_t *cfg = json_pack(
			"{s:s, s:s, s:[{s:s}], s:s, s:{s:s, s:o}, s:{}}", "architecture", "",
			"created", "0001-01-01T00:00:00Z", "history", "created",
			"0001-01-01T00:00:00Z", "os", "", "rootfs", "type", "layers", "diff_ids",
			ids, "config");
		config = put_json(s, cfg, IMG_MT_OCI_CONFIG, err);
	} else {
		_cleanup_json_ json_t *empty = json_object();
		config = put_json(s, empty, "application/vnd.oci.empty.v1+json", err);
	}
	if (!config)
		return -err->code;
	_cleanup_json_ json_t *m = json_pack("{s:i, s:s, s:O, s:O}", "schemaVersion", 2,
					     "mediaType", IMG_MT_OCI_MANIFEST, "config", config,
					     "layers", layers);
	if (sig->kind == IMG_SIG_SIMPLE)
		json_object_set_new(m, "artifactType", json_string(IMG_MT_SIMPLESIG));
	size_t mlen;
	_cleanup_free_ char *mbuf = img_json_dump(m, &mlen);
	struct store_desc md = { (char *)IMG_MT_OCI_MANIFEST, "", (int64_t)mlen };
	if (store_blob_put(s, mbuf, mlen, NULL, md.digest, err) < 0 ||
	    store_ref_set(s, name, &md, err) < 0)
		return ckt_err_wrap(err, "store signature '%s'", name);
	return 0;
}

/* Signature manifests are read, extended and replaced: concurrent signers
 * of one store serialise on a lock file in tmp/ (a file there never
 * outlives a gc, which runs only when no writer holds the store), so no
 * signature is lost to a replacement built from an older version. */
int img_sig_store_add(struct store *s, const char *repo, const char *digest,
		      const struct img_sig *sig, struct ckt_err *err)
{
	_cleanup_free_ char *path = ckt_path_join(store_root(s), "tmp/signatures.lock");
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "open '%s'", path);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return ckt_err_sys(err, CKT_EIO, "lock '%s'", path);
	return add_once(s, repo, digest, sig, err);
}
