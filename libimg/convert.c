#include "libimg/convert.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/log.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "libimg/aci_tar.h"
#include "libimg/fetch.h"
#include "libimg/image.h"
#include "libimg/json.h"
#include "libimg/manifest.h"
#include "libimg/ref.h"
#include "libimg/unpack.h"
#include "store/digest.h"
#include <zstd.h>

void img_convert_aci_result_release(struct img_convert_aci_result *r)
{
	free(r->name);
	ckt_strv_free(r->paths);
	ckt_strv_free(r->ids);
	memset(r, 0, sizeof(*r));
}

/* ---- manifest mapping (APPC-NOTES §5.1) ---------------------------------- */

/* Go → appc os/arch (spec:schema/types/labels.go ToAppcOSArch, with the OCI
 * variant honoured for arm); NULL arch when appc has no name for it. */
static const char *appc_arch(const char *os, const char *arch, const char *variant)
{
	static const struct { const char *go, *appc; } linux_tab[] = {
		{ "amd64", "amd64" }, { "386", "i386" }, { "arm64", "aarch64" },
		{ "arm64be", "aarch64_be" }, { "ppc64", "ppc64" }, { "ppc64le", "ppc64le" },
		{ "s390x", "s390x" }, { "armbe", "armv7b" },
	};
	if (!os || !arch)
		return NULL;
	if (!strcmp(os, "linux")) {
		if (!strcmp(arch, "arm"))
			/* A missing variant is v7, as platform.h matches (containerd's default). */
			return variant && !strcmp(variant, "v6") ? "armv6l" : "armv7l";
		for (size_t i = 0; i < ARRAY_SIZE(linux_tab); i++)
			if (!strcmp(arch, linux_tab[i].go))
				return linux_tab[i].appc;
		return NULL;
	}
	if (!strcmp(os, "freebsd"))
		return !strcmp(arch, "amd64") ? "amd64" : !strcmp(arch, "386") ? "i386" :
		       !strcmp(arch, "arm") ? "arm" : NULL;
	if (!strcmp(os, "darwin"))
		return !strcmp(arch, "amd64") ? "x86_64" : !strcmp(arch, "386") ? "i386" : NULL;
	return NULL;
}

static void add_nv(json_t *arr, const char *name, const char *value)
{
	json_array_append_new(arr, json_pack("{s:s, s:s}", "name", name, "value", value));
}

static bool env_name_valid(const char *s, size_t n)
{
	/* ^[A-Za-z_][A-Za-z_0-9.-]*$ (spec 0.8.11, spec#690). */
	if (!n || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("_.-", s[i])))
			return false;
	return true;
}

static json_t *strv_json(json_t *a)
{
	return a && json_is_array(a) && json_array_size(a) ? json_deep_copy(a) : NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys of a JSON object, sorted (borrowed strings; free the array only). */
static const char **sorted_keys(json_t *obj, size_t *n)
{
	*n = obj && json_is_object(obj) ? json_object_size(obj) : 0;
	const char **k = xcalloc(*n + 1, sizeof(*k));
	const char *key;
	json_t *v;
	size_t i = 0;
	if (*n)
		json_object_foreach(obj, key, v)
			k[i++] = key;
	qsort(k, *n, sizeof(*k), cmp_str);
	return k;
}

static json_t *map_app(json_t *cc, struct ckt_err *err)
{
	json_t *app = json_object();
	json_t *ep = json_object_get(cc, "Entrypoint"), *cmd = json_object_get(cc, "Cmd");
	json_t *exec = json_array();
	size_t i;
	json_t *v;
	(void)err;

	if (ep && json_is_array(ep))
		json_array_foreach(ep, i, v)
			if (json_is_string(v))
				json_array_append(exec, v);
	if (cmd && json_is_array(cmd))
		json_array_foreach(cmd, i, v)
			if (json_is_string(v))
				json_array_append(exec, v);
	if (json_array_size(exec))
		json_object_set_new(app, "exec", exec);
	else
		json_decref(exec);

	/* User: "" → 0/0; "u" → u/u (gid = uid string, d2a#175); "u:g" → u/g. */
	const char *user = json_string_value(json_object_get(cc, "User"));
	if (!user || !*user) {
		json_object_set_new(app, "user", json_string("0"));
		json_object_set_new(app, "group", json_string("0"));
	} else {
		const char *colon = strchr(user, ':');
		_cleanup_free_ char *u = colon ? xstrndup(user, (size_t)(colon - user)) : xstrdup(user);
		const char *g = colon && colon[1] ? colon + 1 : (*u ? u : "0");
		json_object_set_new(app, "user", json_string(*u ? u : "0"));
		json_object_set_new(app, "group", json_string(g));
	}

	/* Environment: split at the first '='; no '=' dropped; a later duplicate
	 * wins; names the spec rejects are warned about and skipped (d2a#244). */
	json_t *env = json_object_get(cc, "Env");
	json_t *envs = json_array();
	if (env && json_is_array(env))
		json_array_foreach(env, i, v) {
			const char *kv = json_string_value(v);
			const char *eq = kv ? strchr(kv, '=') : NULL;
			if (!eq)
				continue;
			size_t nl = (size_t)(eq - kv);
			_cleanup_free_ char *name = xstrndup(kv, nl);
			if (!env_name_valid(kv, nl)) {
				ckt_warn("environment variable '%s' skipped: appc does not allow the name",
					 name);
				continue;
			}
			size_t j;
			json_t *w;
			bool replaced = false;
			json_array_foreach(envs, j, w)
				if (!strcmp(json_string_value(json_object_get(w, "name")), name)) {
					json_object_set_new(w, "value", json_string(eq + 1));
					replaced = true;
				}
			if (!replaced)
				add_nv(envs, name, eq + 1);
		}
	if (json_array_size(envs))
		json_object_set_new(app, "environment", envs);
	else
		json_decref(envs);

	const char *wd = json_string_value(json_object_get(cc, "WorkingDir"));
	if (wd && *wd)
		json_object_set_new(app, "workingDirectory", json_string(wd));

	/* Volumes: "/var/tmp" → mountPoint volume-var-tmp; clashes get -<n>. */
	size_t n;
	_cleanup_free_ const char **vk = sorted_keys(json_object_get(cc, "Volumes"), &n);
	if (n) {
		json_t *mps = json_array();
		for (i = 0; i < n; i++) {
			_cleanup_free_ char *base = xasprintf("volume%s%s", vk[i][0] == '/' ? "" : "/", vk[i]);
			_cleanup_free_ char *name = img_ac_name_sanitize(base);
			_cleanup_free_ char *uniq = xstrdup(*name ? name : "volume");
			for (int k = 1;; k++) {
				size_t j;
				json_t *w;
				bool clash = false;
				json_array_foreach(mps, j, w)
					if (!strcmp(json_string_value(json_object_get(w, "name")), uniq))
						clash = true;
				if (!clash)
					break;
				free(uniq);
				uniq = xasprintf("%s-%d", *name ? name : "volume", k);
			}
			json_array_append_new(mps, json_pack("{s:s, s:s, s:b}", "name", uniq, "path",
							     vk[i], "readOnly", 0));
		}
		json_object_set_new(app, "mountPoints", mps);
	}

	/* ExposedPorts: "80/tcp" → {name 80-tcp, protocol tcp, port 80}. */
	_cleanup_free_ const char **pk = sorted_keys(json_object_get(cc, "ExposedPorts"), &n);
	if (n) {
		json_t *ports = json_array();
		for (i = 0; i < n; i++) {
			const char *slash = strchr(pk[i], '/');
			_cleanup_free_ char *num = slash ? xstrndup(pk[i], (size_t)(slash - pk[i]))
							 : xstrdup(pk[i]);
			char *end;
			errno = 0;
			long port = strtol(num, &end, 10);
			if (errno || *end || port < 1 || port > 65535) {
				ckt_warn("exposed port '%s' skipped: not a port number", pk[i]);
				continue;
			}
			_cleanup_free_ char *name = img_ac_name_sanitize(pk[i]);
			json_array_append_new(ports,
					      json_pack("{s:s, s:s, s:i, s:i, s:b}", "name", name,
							"protocol", slash && slash[1] ? slash + 1 : "tcp",
							"port", (int)port, "count", 1, "socketActivated", 0));
		}
		if (json_array_size(ports))
			json_object_set_new(app, "ports", ports);
		else
			json_decref(ports);
	}

	/* Labels → userLabels (docker2aci dropped them for schema2; we do not). */
	json_t *labels = json_object_get(cc, "Labels");
	if (labels && json_is_object(labels) && json_object_size(labels)) {
		_cleanup_free_ const char **lk = sorted_keys(labels, &n);
		json_t *ul = json_object();
		for (i = 0; i < n; i++) {
			const char *val = json_string_value(json_object_get(labels, lk[i]));
			if (val)
				json_object_set_new(ul, lk[i], json_string(val));
		}
		json_object_set_new(app, "userLabels", ul);
	}
	return app;
}

char *img_aci_manifest_from_oci(const char *ref, const char *config_json, size_t config_len,
				const char *manifest_digest, const char *config_digest,
				struct ckt_err *err)
{
	_cleanup_json_ json_t *cfg = img_json_parse(config_json, config_len, "image config", err);
	struct img_ref r = IMG_REF_INIT;
	if (!cfg)
		return NULL;
	if (ref && img_ref_parse(ref, &r, err) < 0) {
		ckt_err_wrap(err, "reference '%s'", ref);
		return NULL;
	}
	/* docker2aci's registry for the Hub is the API host. */
	const char *registry = !r.domain ? "localhost" :
			       !strcmp(r.domain, "docker.io") ? "registry-1.docker.io" : r.domain;
	const char *repo = r.path ? r.path : "image";
	_cleanup_free_ char *raw = xasprintf("%s/%s", registry, repo);
	_cleanup_free_ char *name = img_ac_identifier_sanitize(raw);

	_cleanup_json_ json_t *m = json_object();
	json_object_set_new(m, "acKind", json_string("ImageManifest"));
	json_object_set_new(m, "acVersion", json_string("0.8.11"));
	json_object_set_new(m, "name", json_string(name));

	json_t *labels = json_array();
	/* The tag; none when the image was named by digest (d2a ParseDockerURL). */
	if (r.tag && !r.digest)
		add_nv(labels, "version", r.tag);
	const char *os = json_string_value(json_object_get(cfg, "os"));
	const char *arch = json_string_value(json_object_get(cfg, "architecture"));
	const char *variant = json_string_value(json_object_get(cfg, "variant"));
	const char *aarch = appc_arch(os, arch, variant);
	if (aarch) {
		add_nv(labels, "os", os);
		add_nv(labels, "arch", aarch);
	} else if (os || arch) {
		ckt_warn("platform %s/%s has no appc name: no os/arch labels", os ? os : "?",
			 arch ? arch : "?");
	}
	json_object_set_new(m, "labels", labels);

	json_t *cc = json_object_get(cfg, "config");
	json_object_set_new(m, "app", map_app(cc && json_is_object(cc) ? cc : NULL, err));

	json_t *ann = json_array();
	const char *created = json_string_value(json_object_get(cfg, "created"));
	if (created && *created && strncmp(created, "0001-01-01", 10) && strncmp(created, "1970-01-01T00:00:00Z", 20))
		add_nv(ann, "created", created);
	const char *author = json_string_value(json_object_get(cfg, "author"));
	if (author && *author)
		add_nv(ann, "authors", author);	/* d2a wrote "author", not a spec name */
	json_t *ep = strv_json(cc ? json_object_get(cc, "Entrypoint") : NULL);
	json_t *cmd = strv_json(cc ? json_object_get(cc, "Cmd") : NULL);
	if (ep) {
		_cleanup_free_ char *s = img_json_dump(ep, NULL);
		add_nv(ann, "appc.io/docker/entrypoint", s);
		json_decref(ep);
	}
	if (cmd) {
		_cleanup_free_ char *s = img_json_dump(cmd, NULL);
		add_nv(ann, "appc.io/docker/cmd", s);
		json_decref(cmd);
	}
	add_nv(ann, "appc.io/docker/registryurl", registry);
	add_nv(ann, "appc.io/docker/repository", repo);
	if (ref)
		add_nv(ann, "appc.io/docker/originalname", ref);
	if (manifest_digest)
		add_nv(ann, "appc.io/docker/manifesthash", manifest_digest);
	/* docker's image ID is the config digest (d2a wrote the top layer's). */
	if (config_digest)
		add_nv(ann, "appc.io/docker/imageid", config_digest);
	json_object_set_new(m, "annotations", ann);
	img_ref_release(&r);
	return img_json_dump(m, NULL);
}

/* ---- stored ACIs --------------------------------------------------------- */

struct tee {
	struct ckt_afile *af;		/* may be NULL */
	struct store_writer *sw;
};

static int tee_sink(void *data, const void *buf, size_t len, struct ckt_err *err)
{
	struct tee *t = data;
	if (t->af && ckt_write_all(t->af->fd, buf, len, err) < 0)
		return -err->code;
	return store_writer_write(t->sw, buf, len, err);
}

/* Write the wrapper manifest for an ACI blob already in the store and name
 * it by its ID. */
static int store_wrap(struct store *s, const char *aci_json, size_t aci_len, const char *id,
		      const struct store_desc *aci, const struct store_desc *sig,
		      struct ckt_err *err)
{
	struct store_desc cfg = { .media_type = (char *)IMG_MT_ACI_MANIFEST, .size = (int64_t)aci_len };
	if (store_blob_put(s, aci_json, aci_len, NULL, cfg.digest, err) < 0)
		return -err->code;
	_cleanup_json_ json_t *am = img_json_parse(aci_json, aci_len, "image manifest", err);
	if (!am)
		return -err->code;
	const char *name = json_string_value(json_object_get(am, "name"));
	_cleanup_json_ json_t *layers = json_array();
	json_array_append_new(layers, img_json_from_desc(aci));
	if (sig)
		json_array_append_new(layers, img_json_from_desc(sig));
	_cleanup_json_ json_t *m = json_pack("{s:i, s:s, s:s, s:o, s:O, s:{s:s, s:s}}",
					     "schemaVersion", 2, "mediaType", IMG_MT_OCI_MANIFEST,
					     "artifactType", IMG_MT_ACI, "config",
					     img_json_from_desc(&cfg), "layers", layers,
					     "annotations", IMG_ANNOT_ACI_ID, id, IMG_ANNOT_ACI_NAME,
					     name ? name : "");
	size_t len;
	_cleanup_free_ char *mj = img_json_dump(m, &len);
	struct store_desc md = { .media_type = (char *)IMG_MT_OCI_MANIFEST, .size = (int64_t)len };
	if (store_blob_put(s, mj, len, NULL, md.digest, err) < 0 ||
	    store_ref_set(s, id, &md, err) < 0)
		return -err->code;
	return 0;
}

int img_aci_store_put(struct store *s, int fd, const char *sig, size_t sig_len,
		      struct img_aci_info *info, struct ckt_err *err)
{
	struct img_aci_info local = { 0 };
	struct store_desc aci = { .media_type = (char *)IMG_MT_ACI };
	struct store_desc sd = { .media_type = (char *)IMG_MT_ACI_SIGNATURE };
	_cleanup_store_writer_ struct store_writer *w = NULL;
	_cleanup_free_ char *buf = xmalloc(1 << 17);
	int r = -1;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return ckt_err_sys(err, CKT_EIO, "seek");
	if (img_aci_check(fd, &local, err) < 0)
		return -err->code;
	if (lseek(fd, 0, SEEK_SET) < 0) {
		ckt_err_sys(err, CKT_EIO, "seek");
		goto out;
	}
	w = store_writer_new(s, NULL, -1, err);
	if (!w)
		goto out;
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 17);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ckt_err_sys(err, CKT_EIO, "read the ACI");
			goto out;
		}
		if (n == 0)
			break;
		if (store_writer_write(w, buf, (size_t)n, err) < 0)
			goto out;
	}
	aci.size = store_writer_size(w);
	if (store_writer_commit(w, aci.digest, err) < 0)
		goto out;
	if (sig) {
		sd.size = (int64_t)sig_len;
		if (store_blob_put(s, sig, sig_len, NULL, sd.digest, err) < 0)
			goto out;
	}
	if (store_wrap(s, local.manifest, local.manifest_len, local.id, &aci, sig ? &sd : NULL,
		       err) < 0)
		goto out;
	if (info) {
		*info = local;
		memset(&local, 0, sizeof(local));
	}
	r = 0;
out:
	img_aci_info_release(&local);
	return r < 0 ? -err->code : 0;
}

/* The wrapper's annotations and config for matching. */
static int read_wrapper(struct store *s, const struct store_desc *d, json_t **manifest,
			json_t **aci_manifest, struct ckt_err *err)
{
	_cleanup_free_ char *data = NULL, *cdata = NULL;
	size_t len, clen;
	if (store_blob_read(s, d->digest, IMG_MANIFEST_MAX, &data, &len, err) < 0)
		return -err->code;
	_cleanup_json_ json_t *m = img_json_parse(data, len, "manifest", err);
	if (!m)
		return -err->code;
	const char *at = json_string_value(json_object_get(m, "artifactType"));
	if (!at || strcmp(at, IMG_MT_ACI))
		return ckt_err_fail(err, CKT_ENOTFOUND, "%s is not a stored ACI", d->digest);
	if (aci_manifest) {
		struct store_desc c = { 0 };
		json_t *cj = json_object_get(m, "config");
		if (img_json_desc(cj, "config", &c, err) < 0)
			return -err->code;
		int r = store_blob_read(s, c.digest, IMG_CONFIG_MAX, &cdata, &clen, err);
		store_desc_release(&c);
		if (r < 0)
			return -err->code;
		*aci_manifest = img_json_parse(cdata, clen, "image manifest", err);
		if (!*aci_manifest)
			return -err->code;
	}
	*manifest = TAKE_PTR(m);
	return 0;
}

static bool has_label(json_t *am, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq)
		return false;
	size_t nl = (size_t)(eq - kv), i;
	json_t *l;
	json_array_foreach(json_object_get(am, "labels"), i, l) {
		const char *n = json_string_value(json_object_get(l, "name"));
		const char *v = json_string_value(json_object_get(l, "value"));
		if (n && v && strlen(n) == nl && !strncmp(n, kv, nl) && !strcmp(v, eq + 1))
			return true;
	}
	return false;
}

int img_aci_store_find(struct store *s, const char *q, char *const *labels,
		       struct store_desc *desc, char id[IMG_ACI_ID_MAX], struct ckt_err *err)
{
	struct store_ref *refs = NULL;
	size_t n, found = SIZE_MAX;
	bool by_id = !strncmp(q, "sha512-", 7);

	if (by_id && (strlen(q) < 9 || strspn(q + 7, "0123456789abcdef") != strlen(q + 7)))
		return ckt_err_fail(err, CKT_EUSAGE, "'%s' is not an image ID (sha512-<hex>)", q);
	if (store_ref_list(s, &refs, &n, err) < 0)
		return -err->code;
	for (size_t i = n; i-- > 0;) {
		const char *rn = refs[i].name;
		if (!rn || strncmp(rn, "sha512-", 7) || strlen(rn) != IMG_ACI_ID_MAX - 1)
			continue;
		if (by_id) {
			if (strncmp(rn, q, strlen(q)))
				continue;
			if (found != SIZE_MAX) {
				store_refs_free(refs, n);
				return ckt_err_fail(err, CKT_EUSAGE, "ambiguous image ID '%s'", q);
			}
			found = i;
			continue;
		}
		json_t *m = NULL, *am = NULL;
		struct ckt_err e2 = CKT_ERR_INIT;
		if (read_wrapper(s, &refs[i].desc, &m, &am, &e2) < 0)
			continue;
		bool ok = !strcmp(json_string_value(json_object_get(am, "name")) ?: "", q);
		for (char *const *l = labels; ok && l && *l; l++)
			ok = has_label(am, *l);
		json_decref(m);
		json_decref(am);
		if (ok) {
			found = i;
			break;
		}
	}
	if (found == SIZE_MAX) {
		store_refs_free(refs, n);
		return ckt_err_fail(err, CKT_ENOTFOUND, "no ACI '%s' in the store", q);
	}
	*desc = refs[found].desc;
	desc->media_type = refs[found].desc.media_type ? xstrdup(refs[found].desc.media_type) : NULL;
	snprintf(id, IMG_ACI_ID_MAX, "%s", refs[found].name);
	store_refs_free(refs, n);
	return 0;
}

int img_aci_store_open(struct store *s, const struct store_desc *desc, struct ckt_err *err)
{
	json_t *m = NULL;
	if (read_wrapper(s, desc, &m, NULL, err) < 0)
		return -err->code;
	struct store_desc l = { 0 };
	json_t *layers = json_object_get(m, "layers");
	int r = img_json_desc(json_array_get(layers, 0), "layer", &l, err);
	json_decref(m);
	if (r < 0)
		return -err->code;
	r = store_blob_open(s, l.digest, err);
	store_desc_release(&l);
	return r;
}

int img_aci_to_oci(struct store *s, const char *id_or_name, char **digest, struct ckt_err *err)
{
	struct store_desc d;
	char id[IMG_ACI_ID_MAX];
	if (img_aci_store_find(s, id_or_name, NULL, &d, id, err) < 0)
		return -err->code;
	/* The stored ACI file is a blob: fetch renders it like any aci:FILE. */
	_cleanup_free_ char *path = NULL;
	json_t *m = NULL;
	int r = read_wrapper(s, &d, &m, NULL, err);
	store_desc_release(&d);
	if (r < 0)
		return -err->code;
	struct store_desc l = { 0 };
	r = img_json_desc(json_array_get(json_object_get(m, "layers"), 0), "layer", &l, err);
	json_decref(m);
	if (r < 0)
		return -err->code;
	path = store_blob_path(s, l.digest);
	store_desc_release(&l);
	_cleanup_free_ char *src = xasprintf("aci:%s", path);
	/* A name of its own, so no image the user named is retagged. */
	_cleanup_free_ char *name = xasprintf("localhost/aci/%.19s:latest", id);
	struct img_fetch_opts fo = { .name = name };
	struct img_fetch_result res;
	if (img_fetch(s, src, &fo, &res, err) < 0)
		return ckt_err_wrap(err, "render ACI %s", id);
	*digest = xstrdup(res.digest);
	img_fetch_result_release(&res);
	return 0;
}

/* ---- OCI → ACI ----------------------------------------------------------- */

static int write_squashed(struct store *s, struct img_image *img, const char *ref,
			  const char *out, const struct img_convert_aci_opts *o,
			  struct img_convert_aci_result *res, struct ckt_err *err)
{
	_cleanup_free_ char *tree = NULL;
	_cleanup_free_ char *json = img_aci_manifest_from_oci(ref, img->config_json, img->config_len,
							      img->desc.digest,
							      img->manifest.config.digest, err);
	_cleanup_afile_ struct ckt_afile af = CKT_AFILE_INIT;
	_cleanup_store_writer_ struct store_writer *sw = NULL;
	_cleanup_aci_writer_ struct img_aci_writer *w = NULL;
	unsigned tflags = geteuid() ? IMG_ACI_TREE_ROOTLESS : 0;

	if (!json)
		return -err->code;
	if (img_unpack_snapshot(s, img, 0, &tree, err) < 0)
		return ckt_err_wrap(err, "apply the layers");
	if (ckt_afile_open(&af, out, 0644, err) < 0)
		return -err->code;
	sw = store_writer_new(s, NULL, -1, err);
	if (!sw)
		return -err->code;
	struct tee t = { &af, sw };
	w = img_aci_writer_new(o->compression, tee_sink, &t, err);
	if (!w || img_aci_writer_manifest(w, json, strlen(json), err) < 0 ||
	    img_aci_writer_tree(w, tree, tflags, err) < 0 ||
	    img_aci_writer_finish(w, res->id, err) < 0)
		return -err->code;
	struct store_desc aci = { .media_type = (char *)IMG_MT_ACI, .size = store_writer_size(sw) };
	if (store_writer_commit(sw, aci.digest, err) < 0 ||
	    store_wrap(s, json, strlen(json), res->id, &aci, NULL, err) < 0 ||
	    ckt_afile_commit(&af, err) < 0)
		return -err->code;
	_cleanup_json_ json_t *m = img_json_parse(json, strlen(json), "manifest", err);
	res->name = xstrdup(m ? json_string_value(json_object_get(m, "name")) : "");
	res->paths = xcalloc(2, sizeof(char *));
	res->paths[0] = xstrdup(out);
	res->ids = xcalloc(2, sizeof(char *));
	res->ids[0] = xstrdup(res->id);
	return 0;
}

/* ---- --no-squash: one ACI per layer (docker2aci's v2.2 layout) ------------- */

/* Whether p is q or below q. */
static bool path_under(const char *p, const char *q)
{
	size_t n = strlen(q);
	return !strncmp(p, q, n) && (p[n] == '\0' || p[n] == '/' || (n == 1 && q[0] == '/'));
}

static void set_remove_under(struct img_pmap *set, const char *q, bool keep_self)
{
	for (size_t i = 0; i < set->cap; i++)
		if (set->keys[i] && set->vals[i] && path_under(set->keys[i], q) &&
		    !(keep_self && !strcmp(set->keys[i], q)))
			set->vals[i] = 0;
}

/* Clean a layer entry name to "/a/b"; NULL for the root or an escape. */
static char *layer_path(const char *name)
{
	_cleanup_free_ char *c = img_aci_member_clean(name);
	if (!c || !strcmp(c, "."))
		return NULL;
	return xasprintf("/%s", c);
}

/* Pass 1 over layer d: apply its whiteouts then its paths to set (OCI
 * layer.md: whiteouts hide lower layers only). */
static int layer_scan(struct store *s, const struct store_desc *d, struct img_pmap *set,
		      struct ckt_err *err)
{
	_cleanup_close_ int fd = store_blob_open(s, d->digest, err);
	if (fd < 0)
		return -err->code;
	_cleanup_tar_reader_ struct img_tar_reader *tr = img_tar_reader_open_layer(fd, err);
	if (!tr)
		return -err->code;
	struct archive *a = img_tar_reader_archive(tr);
	_cleanup_strv_ char **adds = NULL;
	size_t n = 0, alloc = 0;
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return img_archive_err(a, err, "read layer %s", d->digest);
		_cleanup_free_ char *p = layer_path(archive_entry_pathname(e));
		if (!p)
			continue;
		char *base = (char *)ckt_path_base(p);
		if (!strcmp(base, ".wh..wh..opq")) {
			base[-1] = '\0';
			set_remove_under(set, *p ? p : "/", true);
			continue;
		}
		if (!strncmp(base, ".wh.", 4)) {
			memmove(base, base + 4, strlen(base + 4) + 1);
			set_remove_under(set, p, false);
			continue;
		}
		ALLOC_GROW(adds, n + 2, alloc);
		adds[n++] = xasprintf("%c%s", archive_entry_filetype(e) == AE_IFDIR ? 'd' : 'f', p);
		adds[n] = NULL;
	}
	for (size_t i = 0; i < n; i++) {
		/* A non-directory replaces whatever tree was at its path. */
		if (adds[i][0] != 'd')
			set_remove_under(set, adds[i] + 1, false);
		*img_pmap_slot(set, adds[i] + 1, true) = 1;
	}
	return 0;
}

static json_t *set_json(const struct img_pmap *set)
{
	size_t n = 0;
	_cleanup_free_ const char **v = xcalloc(set->n + 1, sizeof(*v));
	for (size_t i = 0; i < set->cap; i++)
		if (set->keys[i] && set->vals[i])
			v[n++] = set->keys[i];
	qsort(v, n, sizeof(*v), cmp_str);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* Decompress layer d from fd (any compression libarchive reads), hand
 * every block of the tar to sink, and check the tar against diff_id: a
 * mismatch is CKT_EVERIFY.  Shared by ACI conversion and recompression. */
typedef int (*layer_sink_fn)(void *data, const void *buf, size_t len, struct ckt_err *err);

static int layer_pump(int fd, const struct store_desc *d, const char *diff_id,
		      layer_sink_fn sink, void *data, struct ckt_err *err)
{
	_cleanup_hasher_ struct store_hasher *h = store_hasher_new(STORE_DIGEST_SHA256);
	struct archive *raw = archive_read_new();
	struct archive_entry *e;
	char got[STORE_DIGEST_MAX];
	int ret = -1;

	archive_read_support_format_raw(raw);
	archive_read_support_filter_all(raw);
	if (archive_read_open_fd(raw, fd, 1 << 17) != ARCHIVE_OK ||
	    archive_read_next_header(raw, &e) != ARCHIVE_OK) {
		img_archive_err(raw, err, "layer %s", d->digest);
		goto out;
	}
	for (;;) {
		const void *b;
		size_t len;
		la_int64_t off;
		int x = archive_read_data_block(raw, &b, &len, &off);
		if (x == ARCHIVE_EOF)
			break;
		if (x != ARCHIVE_OK) {
			img_archive_err(raw, err, "decompress layer %s", d->digest);
			goto out;
		}
		store_hasher_update(h, b, len);
		if (sink(data, b, len, err) < 0)
			goto out;
	}
	store_hasher_final(h, got);
	if (strcmp(got, diff_id)) {
		ckt_err_failw(err, CKT_EVERIFY, got, "layer %s does not match its diff_id %s",
			      d->digest, diff_id);
		goto out;
	}
	ret = 0;
out:
	archive_read_free(raw);
	return ret < 0 ? -err->code : 0;
}

static int sink_fd(void *data, const void *buf, size_t len, struct ckt_err *err)
{
	return ckt_write_all(*(int *)data, buf, len, err);
}

/* Pass 2: layer d's entries (whiteouts left out) as rootfs/... of w,
 * checking the uncompressed layer against diff_id. */
static int layer_copy(struct store *s, const struct store_desc *d, const char *diff_id,
		      struct img_aci_writer *w, struct ckt_err *err)
{
	_cleanup_close_ int fd = store_blob_open(s, d->digest, err);
	static char buf[1 << 17];
	if (fd < 0)
		return -err->code;
	struct archive_entry *e;
	int ret = -1;
	struct archive *a = NULL;
	/* Spool the tar so it can be hashed before a byte of it is trusted. */
	_cleanup_close_ int tmp = open(store_root(s), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (tmp < 0) {
		ckt_err_sys(err, CKT_EIO, "temporary file in the store");
		goto out;
	}
	if (layer_pump(fd, d, diff_id, sink_fd, &tmp, err) < 0)
		goto out;
	if (lseek(tmp, 0, SEEK_SET) < 0) {
		ckt_err_sys(err, CKT_EIO, "seek");
		goto out;
	}
	a = archive_read_new();
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, tmp, 1 << 17) != ARCHIVE_OK) {
		img_archive_err(a, err, "layer %s", d->digest);
		goto out;
	}
	for (;;) {
		int x = archive_read_next_header(a, &e);
		if (x == ARCHIVE_EOF)
			break;
		if (x != ARCHIVE_OK && x != ARCHIVE_WARN) {
			img_archive_err(a, err, "read layer %s", d->digest);
			goto out;
		}
		_cleanup_free_ char *p = layer_path(archive_entry_pathname(e));
		if (!p || !strncmp(ckt_path_base(p), ".wh.", 4))
			continue;
		_cleanup_free_ char *name = xasprintf("rootfs%s", p);
		archive_entry_set_pathname(e, name);
		if (archive_entry_hardlink(e)) {
			_cleanup_free_ char *t = layer_path(archive_entry_hardlink(e));
			if (!t) {
				ckt_err_fail(err, CKT_EFORMAT, "hard link '%s' escapes the layer", p);
				goto out;
			}
			_cleanup_free_ char *tn = xasprintf("rootfs%s", t);
			archive_entry_set_hardlink(e, tn);
		}
		if (img_aci_write_entry(w, e, err) < 0)
			goto out;
		if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
			continue;
		for (;;) {
			la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
			if (n < 0) {
				img_archive_err(a, err, "read '%s'", p);
				goto out;
			}
			if (n == 0)
				break;
			if (img_aci_write_data(w, buf, (size_t)n, err) < 0)
				goto out;
		}
	}
	ret = 0;
out:
	if (a)
		archive_read_free(a);
	return ret < 0 ? -err->code : 0;
}

static int write_layers(struct store *s, struct img_image *img, const char *ref,
			const char *dir, const struct img_convert_aci_opts *o,
			struct img_convert_aci_result *res, struct ckt_err *err)
{
	size_t n = img->manifest.n_layers;
	struct img_pmap set = { 0 };
	_cleanup_free_ char *top_json = img_aci_manifest_from_oci(ref, img->config_json,
								  img->config_len, img->desc.digest,
								  img->manifest.config.digest, err);
	_cleanup_json_ json_t *top = NULL, *deps = json_array();
	int r = -1;

	if (!top_json)
		return -err->code;
	top = img_json_parse(top_json, strlen(top_json), "manifest", err);
	if (!top)
		return -err->code;
	if (n == 0 || img->config.n_diff_ids != n)
		return ckt_err_fail(err, CKT_EFORMAT, "%zu layers but %zu diff_ids", n,
				    img->config.n_diff_ids);
	if (ckt_mkdir_p(dir, 0755, err) < 0)
		return -err->code;
	const char *name = json_string_value(json_object_get(top, "name"));
	res->name = xstrdup(name);
	res->paths = xcalloc(n + 1, sizeof(char *));
	res->ids = xcalloc(n + 1, sizeof(char *));
	/* Lower layers carry os/arch only; the top one the image's labels. */
	json_t *lower_labels = json_array();
	size_t i;
	json_t *l;
	json_array_foreach(json_object_get(top, "labels"), i, l)
		if (strcmp(json_string_value(json_object_get(l, "name")), "version"))
			json_array_append(lower_labels, l);
	for (i = 0; i < n; i++) {
		const char *diff = img->config.diff_ids[i];
		const char *hex = strchr(diff, ':') + 1;
		if (layer_scan(s, &img->manifest.layers[i], &set, err) < 0)
			goto out;
		json_t *m;
		if (i + 1 < n) {
			_cleanup_free_ char *raw = xasprintf("%s-sha256-%s", name, hex);
			_cleanup_free_ char *lname = img_ac_identifier_sanitize(raw);
			m = json_pack("{s:s, s:s, s:s, s:O}", "acKind", "ImageManifest", "acVersion",
				      "0.8.11", "name", lname, "labels", lower_labels);
		} else {
			m = json_deep_copy(top);
			if (json_array_size(deps))
				json_object_set(m, "dependencies", deps);
		}
		json_object_set_new(m, "pathWhitelist", set_json(&set));
		size_t mlen;
		_cleanup_free_ char *mj = img_json_dump(m, &mlen);
		_cleanup_free_ char *file = xasprintf("%s/%02zu-%.12s.aci", dir, i, hex);
		_cleanup_afile_ struct ckt_afile af = CKT_AFILE_INIT;
		_cleanup_store_writer_ struct store_writer *sw = NULL;
		_cleanup_aci_writer_ struct img_aci_writer *w = NULL;
		char id[IMG_ACI_ID_MAX];
		if (ckt_afile_open(&af, file, 0644, err) < 0 ||
		    !(sw = store_writer_new(s, NULL, -1, err))) {
			json_decref(m);
			goto out;
		}
		struct tee t = { &af, sw };
		w = img_aci_writer_new(o->compression, tee_sink, &t, err);
		if (!w || img_aci_writer_manifest(w, mj, mlen, err) < 0 ||
		    layer_copy(s, &img->manifest.layers[i], diff, w, err) < 0 ||
		    img_aci_writer_finish(w, id, err) < 0) {
			json_decref(m);
			goto out;
		}
		struct store_desc aci = { .media_type = (char *)IMG_MT_ACI,
					  .size = store_writer_size(sw) };
		if (store_writer_commit(sw, aci.digest, err) < 0 ||
		    store_wrap(s, mj, mlen, id, &aci, NULL, err) < 0 || ckt_afile_commit(&af, err) < 0) {
			json_decref(m);
			goto out;
		}
		json_array_append_new(deps, json_pack("{s:O, s:s, s:O}", "imageName",
						      json_object_get(m, "name"), "imageID", id,
						      "labels", lower_labels));
		json_decref(m);
		res->paths[i] = xstrdup(file);
		res->ids[i] = xstrdup(id);
		snprintf(res->id, sizeof(res->id), "%s", id);
	}
	r = 0;
out:
	/* Never a partial result: the ACIs already written go too. */
	for (size_t k = 0; r < 0 && res->paths && res->paths[k]; k++)
		unlink(res->paths[k]);
	json_decref(lower_labels);
	img_pmap_release(&set);
	return r < 0 ? -err->code : 0;
}

int img_convert_to_aci(struct store *s, const char *ref, const char *out,
		       const struct img_convert_aci_opts *o, struct img_convert_aci_result *res,
		       struct ckt_err *err)
{
	struct img_image img;
	int r;

	memset(res, 0, sizeof(*res));
	if (img_image_load(s, ref, o->platform, &img, err) < 0)
		return -err->code;
	/* The name the mapping starts from: the store's name for it (a pinned
	 * or digest reference keeps its digest, so no version label). */
	const char *named = img.name;
	struct img_ref pr = IMG_REF_INIT;
	struct ckt_err perr = CKT_ERR_INIT;
	if (img_ref_parse(ref, &pr, &perr) == 0 && pr.digest)
		named = ref;
	img_ref_release(&pr);
	if (named && img_ref_parse(named, &pr, &perr) < 0)
		named = NULL;
	img_ref_release(&pr);
	if (o->flags & IMG_CONVERT_NO_SQUASH)
		r = write_layers(s, &img, named, out, o, res, err);
	else
		r = write_squashed(s, &img, named, out, o, res, err);
	img_image_release(&img);
	if (r < 0) {
		img_convert_aci_result_release(res);
		return ckt_err_wrap(err, "convert '%s' to ACI", ref);
	}
	return 0;
}

/* ---- recompression --------------------------------------------------------- */

struct recomp {
	struct store_writer *w;
	struct archive *raw;		/* gzip through libarchive */
	ZSTD_CCtx *z;
	char *zbuf;
	size_t zcap;
	struct ckt_err *err;
};

static la_ssize_t recomp_raw_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	struct recomp *rc = data;
	(void)a;
	return store_writer_write(rc->w, buf, len, rc->err) < 0 ? -1 : (la_ssize_t)len;
}

static int recomp_zstd(struct recomp *rc, const void *buf, size_t len, bool end,
		       struct ckt_err *err)
{
	ZSTD_inBuffer in = { buf, len, 0 };
	for (;;) {
		ZSTD_outBuffer out = { rc->zbuf, rc->zcap, 0 };
		size_t left = ZSTD_compressStream2(rc->z, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left))
			return ckt_err_failw(err, CKT_EINTERNAL, ZSTD_getErrorName(left), "zstd");
		if (out.pos && store_writer_write(rc->w, rc->zbuf, out.pos, err) < 0)
			return -err->code;
		if (end ? left == 0 : in.pos == in.size)
			return 0;
	}
}

static int recomp_write(void *data, const void *buf, size_t len, struct ckt_err *err)
{
	struct recomp *rc = data;
	if (rc->raw) {
		if (archive_write_data(rc->raw, buf, len) != (la_ssize_t)len)
			return img_archive_err(rc->raw, err, "compress");
		return 0;
	}
	if (rc->z)
		return recomp_zstd(rc, buf, len, false, err);
	return store_writer_write(rc->w, buf, len, err);
}

/* Rewrite layer d (whose uncompressed digest must be diff_id) with c into
 * the store; out receives the new descriptor. */
static int recompress_layer(struct store *s, const struct store_desc *d, const char *diff_id,
			    enum img_layer_compression c, bool docker, struct store_desc *out,
			    struct ckt_err *err)
{
	_cleanup_close_ int in = store_blob_open(s, d->digest, err);
	_cleanup_store_writer_ struct store_writer *w = NULL;
	struct recomp rc = { .err = err };
	struct archive_entry *e;
	int r = -1;

	if (in < 0)
		return -err->code;
	w = store_writer_new(s, NULL, -1, err);
	if (!w)
		return -err->code;
	rc.w = w;
	if (c == IMG_LAYER_GZIP) {
		rc.raw = archive_write_new();
		archive_write_set_format_raw(rc.raw);
		archive_write_add_filter_gzip(rc.raw);
		archive_write_set_options(rc.raw, "gzip:compression-level=6,gzip:!timestamp");
		archive_write_set_bytes_in_last_block(rc.raw, 1);
		e = archive_entry_new();
		archive_entry_set_pathname(e, "layer");
		archive_entry_set_filetype(e, AE_IFREG);
		if (archive_write_open(rc.raw, &rc, NULL, recomp_raw_cb, NULL) != ARCHIVE_OK ||
		    archive_write_header(rc.raw, e) != ARCHIVE_OK) {
			archive_entry_free(e);
			img_archive_err(rc.raw, err, "start gzip");
			goto out;
		}
		archive_entry_free(e);
	} else if (c == IMG_LAYER_ZSTD) {
		rc.z = ZSTD_createCCtx();
		ZSTD_CCtx_setParameter(rc.z, ZSTD_c_compressionLevel, 3);
		ZSTD_CCtx_setParameter(rc.z, ZSTD_c_checksumFlag, 1);
		rc.zcap = ZSTD_CStreamOutSize();
		rc.zbuf = xmalloc(rc.zcap);
	}
	if (layer_pump(in, d, diff_id, recomp_write, &rc, err) < 0)
		goto out;
	if (rc.raw && archive_write_close(rc.raw) != ARCHIVE_OK) {
		img_archive_err(rc.raw, err, "finish gzip");
		goto out;
	}
	if (rc.z && recomp_zstd(&rc, NULL, 0, true, err) < 0)
		goto out;
	memset(out, 0, sizeof(*out));
	out->size = store_writer_size(w);
	if (store_writer_commit(w, out->digest, err) < 0)
		goto out;
	out->media_type = xstrdup(c == IMG_LAYER_GZIP ? (docker ? IMG_MT_DOCKER_LAYER_GZIP : IMG_MT_OCI_LAYER_GZIP) :
				  c == IMG_LAYER_ZSTD ? IMG_MT_OCI_LAYER_ZSTD :
				  docker ? IMG_MT_DOCKER_LAYER : IMG_MT_OCI_LAYER);
	r = 0;
out:
	if (rc.raw)
		archive_write_free(rc.raw);
	ZSTD_freeCCtx(rc.z);
	free(rc.zbuf);
	return r < 0 ? -err->code : 0;
}

int img_recompress(struct store *s, const char *ref, enum img_layer_compression c,
		   const char *tag, const struct img_platform *platform, char **pinned,
		   struct ckt_err *err)
{
	struct img_image img;
	struct img_ref tr = IMG_REF_INIT;
	struct store_desc *layers = NULL;
	_cleanup_free_ char *mj = NULL, *full = NULL;
	size_t n = 0, len;
	int r = -1;

	if (img_ref_parse(tag, &tr, err) < 0)
		return ckt_err_wrap(err, "--tag '%s'", tag);
	if (tr.digest) {
		img_ref_release(&tr);
		return ckt_err_fail(err, CKT_EUSAGE, "--tag '%s' names a digest", tag);
	}
	if (img_image_load(s, ref, platform, &img, err) < 0) {
		img_ref_release(&tr);
		return ckt_err_wrap(err, "recompress '%s'", ref);
	}
	if (img.config.n_diff_ids != img.manifest.n_layers) {
		ckt_err_fail(err, CKT_EFORMAT, "%zu layers but %zu diff_ids", img.manifest.n_layers,
			     img.config.n_diff_ids);
		goto out;
	}
	/* Docker schema2 has no zstd layer type: such images become OCI. */
	bool docker = !strcmp(img.manifest.media_type ? img.manifest.media_type : "",
			      IMG_MT_DOCKER_MANIFEST) && c != IMG_LAYER_ZSTD;
	layers = xcalloc(img.manifest.n_layers + 1, sizeof(*layers));
	for (n = 0; n < img.manifest.n_layers; n++)
		if (recompress_layer(s, &img.manifest.layers[n], img.config.diff_ids[n], c, docker,
				     &layers[n], err) < 0)
			goto out;
	struct store_desc cfg = img.manifest.config;
	if (docker) {
		json_t *j = json_pack("{s:i, s:s, s:o, s:[]}", "schemaVersion", 2, "mediaType",
				      IMG_MT_DOCKER_MANIFEST, "config", img_json_from_desc(&cfg),
				      "layers");
		for (size_t i = 0; i < n; i++)
			json_array_append_new(json_object_get(j, "layers"),
					      img_json_from_desc(&layers[i]));
		mj = img_json_dump(j, &len);
		json_decref(j);
	} else {
		mj = img_manifest_build(&cfg, layers, n, &len);
	}
	struct store_desc md = { .media_type = (char *)(docker ? IMG_MT_DOCKER_MANIFEST
							       : IMG_MT_OCI_MANIFEST),
				 .size = (int64_t)len };
	full = img_ref_string(&tr);
	if (store_blob_put(s, mj, len, NULL, md.digest, err) < 0 ||
	    store_ref_set(s, full, &md, err) < 0)
		goto out;
	*pinned = img_ref_pinned(&tr, md.digest);
	r = 0;
out:
	store_descs_free(layers, n);
	img_image_release(&img);
	img_ref_release(&tr);
	return r < 0 ? ckt_err_wrap(err, "recompress '%s'", ref) : 0;
}
