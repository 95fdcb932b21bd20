/* Source: an appc ACI file (aci:FILE), rendered into a single-layer OCI
 * image (issue 6; appc spec/ace.md "Filesystem Setup", pkg/acirenderer).
 *
 * Opening the source checks the ACI (img_aci_check), keeps it in the store
 * as a stored ACI (convert.h) with its FILE.aci.asc when one lies beside it,
 * resolves its dependencies from the store (by image ID when given, the ID
 * checked; else by name and labels), renders them and the image into one
 * gzip layer written to the store, and builds the config and manifest in
 * memory; read() and copy() then serve those. */
#include <dirent.h>
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
#include "libimg/convert.h"
#include "libimg/discovery.h"
#include "libimg/http_get.h"
#include "libimg/registry.h"
#include "libimg/json.h"
#include "libimg/manifest.h"
#include "libimg/platform.h"
#include "libimg/ref.h"
#include "libimg/source.h"
#include "store/digest.h"

#define MAX_DEPTH 32
#define MAX_IMAGES 256

struct rimg {
	int fd;
	struct img_aci_info info;
	json_t *manifest;
	size_t n_wl;			/* whitelists that filter this image */
	json_t *wl[MAX_DEPTH + 1];	/* borrowed from ancestors' manifests */
};

struct aci_src {
	struct img_src base;
	struct store_desc mdesc;
	char *manifest;
	size_t manifest_len;
	struct store_desc cdesc;
	char *config;
	size_t config_len;
	char *name;
};

/* ---- dependencies ------------------------------------------------------------ */

struct wlmap {
	json_t *j;
	struct img_pmap m;
};

struct render {
	struct store *s;
	struct wlmap *wls;
	size_t n_wls;
	struct rimg *imgs;	/* override order: lowest priority first, the top last */
	size_t n, alloc;
	char *stack[MAX_DEPTH + 1];
	size_t depth;
};

static void render_release(struct render *r)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->imgs[i].fd >= 0)
			close(r->imgs[i].fd);
		img_aci_info_release(&r->imgs[i].info);
		json_decref(r->imgs[i].manifest);
	}
	free(r->imgs);
	for (size_t i = 0; i < r->n_wls; i++)
		img_pmap_release(&r->wls[i].m);
	free(r->wls);
}

/* Add image (fd, checked info) and, before it, its dependencies depth-first
 * (spec/ace.md: B, D, C, A for A→[B,C], C→[D]).  wl/n_wl: the whitelists of
 * the images above it. */
static int add_image(struct render *r, int fd, struct img_aci_info *info, json_t *const *wl,
		     size_t n_wl, struct ckt_err *err)
{
	_cleanup_close_ int owned = fd;
	_cleanup_json_ json_t *m = img_json_parse(info->manifest, info->manifest_len, "manifest", err);
	if (!m)
		return -err->code;
	for (size_t i = 0; i < r->depth; i++)
		if (!strcmp(r->stack[i], info->id))
			return ckt_err_fail(err, CKT_EFORMAT, "dependency loop through %s", info->id);
	if (r->depth >= MAX_DEPTH || r->n >= MAX_IMAGES)
		return ckt_err_fail(err, CKT_EFORMAT, "dependencies nest deeper than %d", MAX_DEPTH);
	json_t *own[MAX_DEPTH + 1];
	size_t n_own = n_wl;
	if (n_wl)
		memcpy(own, wl, n_wl * sizeof(*wl));
	json_t *pwl = json_object_get(m, "pathWhitelist");
	if (pwl && json_array_size(pwl))
		own[n_own++] = pwl;
	r->stack[r->depth++] = info->id;
	size_t i;
	json_t *dep;
	json_array_foreach(json_object_get(m, "dependencies"), i, dep) {
		const char *dn = json_string_value(json_object_get(dep, "imageName"));
		const char *did = json_string_value(json_object_get(dep, "imageID"));
		_cleanup_strv_ char **labels = xcalloc(json_array_size(json_object_get(dep, "labels")) + 1,
							sizeof(char *));
		size_t j;
		json_t *l;
		json_array_foreach(json_object_get(dep, "labels"), j, l)
			labels[j] = xasprintf("%s=%s", json_string_value(json_object_get(l, "name")),
					      json_string_value(json_object_get(l, "value")) ?: "");
		struct store_desc d;
		char id[IMG_ACI_ID_MAX];
		if (img_aci_store_find(r->s, did ? did : dn, did ? NULL : labels, &d, id, err) < 0) {
			r->depth--;
			return ckt_err_wrap(err, "dependency '%s'", dn);
		}
		int dfd = img_aci_store_open(r->s, &d, err);
		store_desc_release(&d);
		struct img_aci_info dinfo = { 0 };
		if (dfd < 0 || img_aci_check(dfd, &dinfo, err) < 0) {
			if (dfd >= 0)
				close(dfd);
			r->depth--;
			return ckt_err_wrap(err, "dependency '%s'", dn);
		}
		/* spec/aci.md: the imageID, when given, MUST match. */
		if (did && strncmp(dinfo.id, did, strlen(did))) {
			close(dfd);
			img_aci_info_release(&dinfo);
			r->depth--;
			return ckt_err_fail(err, CKT_EVERIFY, "dependency '%s' has image ID %s, not %s",
					    dn, dinfo.id, did);
		}
		int x = add_image(r, dfd, &dinfo, own, n_own, err);
		img_aci_info_release(&dinfo);
		if (x < 0) {
			r->depth--;
			return ckt_err_wrap(err, "dependency '%s'", dn);
		}
	}
	r->depth--;
	ALLOC_GROW(r->imgs, r->n + 1, r->alloc);
	struct rimg *ri = &r->imgs[r->n++];
	memset(ri, 0, sizeof(*ri));
	ri->fd = TAKE_FD(owned);
	ri->info = *info;
	memset(info, 0, sizeof(*info));
	ri->manifest = TAKE_PTR(m);
	ri->n_wl = n_own;
	memcpy(ri->wl, own, n_own * sizeof(*own));
	return 0;
}

/* A whitelist as a map: its paths (1) and their ancestors (2), built once. */
static struct img_pmap *wl_map(struct render *r, json_t *wl)
{
	for (size_t i = 0; i < r->n_wls; i++)
		if (r->wls[i].j == wl)
			return &r->wls[i].m;
	r->wls = xreallocarray(r->wls, r->n_wls + 1, sizeof(*r->wls));
	struct wlmap *w = &r->wls[r->n_wls++];
	memset(w, 0, sizeof(*w));
	w->j = wl;
	size_t i;
	json_t *v;
	json_array_foreach(wl, i, v) {
		_cleanup_free_ char *c = ckt_path_clean(json_string_value(v));
		*img_pmap_slot(&w->m, c, true) = 1;
		for (char *sl = strrchr(c, '/'); sl && sl != c; sl = strrchr(c, '/')) {
			*sl = '\0';
			int *x = img_pmap_slot(&w->m, c, true);
			if (*x)
				break;
			*x = 2;
		}
	}
	return &w->m;
}

/* spec/ace.md: with a pathWhitelist, paths not in it are removed.  A
 * directory not listed stays when something listed lies below it
 * (acirenderer keeps every directory; an emptied directory a whitelist
 * deleted is not brought back). */
static bool whitelisted(struct render *r, const struct rimg *ri, const char *path, bool dir)
{
	for (size_t k = 0; k < ri->n_wl; k++) {
		int *v = img_pmap_slot(wl_map(r, ri->wl[k]), path, false);
		if (!v || (*v == 2 && !dir))
			return false;
	}
	return true;
}

/* Decide which image supplies each path: the highest image wins;
 * directories are always kept; a file under a non-directory of a higher
 * image is dropped (acirenderer, rkt#903). */
static void choose(struct render *r, struct img_pmap *win)
{
	for (size_t x = r->n; x-- > 0;) {
		struct rimg *ri = &r->imgs[x];
		for (size_t i = 0; i < ri->info.n_paths; i++) {
			const char *p = ri->info.paths[i];
			unsigned char t = ri->info.types[i];
			if (img_pmap_slot(win, p, false))
				continue;
			if (strcmp(p, "/") && !whitelisted(r, ri, p, t == 'd'))
				continue;
			bool blocked = false;
			_cleanup_free_ char *parent = xstrdup(p);
			for (char *sl = strrchr(parent, '/'); sl && sl != parent; sl = strrchr(parent, '/')) {
				*sl = '\0';
				int *w = img_pmap_slot(win, parent, false);
				if (w && *w >= 0) {
					/* The parent's type in its winning image. */
					struct rimg *pi = &r->imgs[*w];
					for (size_t k = 0; k < pi->info.n_paths; k++)
						if (!strcmp(pi->info.paths[k], parent)) {
							blocked = pi->info.types[k] != 'd';
							break;
						}
					if (blocked)
						break;
				}
			}
			if (blocked)
				continue;
			*img_pmap_slot(win, p, true) = (int)x;
		}
	}
}

/* ---- the layer ----------------------------------------------------------------- */

struct layer_out {
	struct store_writer *w;
	struct store_hasher *diff;
	struct archive *raw;
	struct ckt_err *err;
};

static la_ssize_t raw_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	struct layer_out *lo = data;
	(void)a;
	return store_writer_write(lo->w, buf, len, lo->err) < 0 ? -1 : (la_ssize_t)len;
}

static la_ssize_t tar_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	struct layer_out *lo = data;
	store_hasher_update(lo->diff, buf, len);
	if (archive_write_data(lo->raw, buf, len) != (la_ssize_t)len) {
		archive_copy_error(a, lo->raw);
		return -1;
	}
	return (la_ssize_t)len;
}

static int emit_image(struct render *r, size_t x, struct img_pmap *win, struct archive *out,
		      struct ckt_err *err)
{
	struct rimg *ri = &r->imgs[x];
	if (lseek(ri->fd, 0, SEEK_SET) < 0)
		return ckt_err_sys(err, CKT_EIO, "seek");
	_cleanup_tar_reader_ struct img_tar_reader *tr = img_tar_reader_open(ri->fd, NULL, err);
	if (!tr)
		return -err->code;
	struct archive *a = img_tar_reader_archive(tr);
	static char buf[1 << 17];
	for (;;) {
		struct archive_entry *e;
		int rr = archive_read_next_header(a, &e);
		if (rr == ARCHIVE_EOF)
			break;
		if (rr != ARCHIVE_OK && rr != ARCHIVE_WARN)
			return img_archive_err(a, err, "read %s", ri->info.id);
		_cleanup_free_ char *name = img_aci_member_clean(archive_entry_pathname(e));
		if (!name || strncmp(name, "rootfs/", 7))
			continue;
		const char *p = name + 6;
		int *w = img_pmap_slot(win, p, false);
		if (!w || *w != (int)x)
			continue;
		const char *base = ckt_path_base(p);
		if (!strncmp(base, ".wh.", 4)) {
			ckt_warn("'%s' skipped: the name would be an OCI whiteout", p);
			continue;
		}
		if (archive_entry_hardlink(e)) {
			_cleanup_free_ char *t = img_aci_member_clean(archive_entry_hardlink(e));
			int *tw = t ? img_pmap_slot(win, t + 6, false) : NULL;
			if (!tw || *tw != (int)x) {
				ckt_warn("hard link '%s' skipped: its target '%s' is not rendered", p,
					 t ? t + 6 : "?");
				continue;
			}
			archive_entry_set_hardlink(e, t + 7);
		}
		archive_entry_set_pathname(e, p + 1);
		archive_entry_set_uname(e, NULL);
		archive_entry_set_gname(e, NULL);
		if (archive_write_header(out, e) != ARCHIVE_OK)
			return img_archive_err(out, err, "write '%s'", p);
		if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
			continue;
		for (;;) {
			la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
			if (n < 0)
				return img_archive_err(a, err, "read '%s'", p);
			if (n == 0)
				break;
			if (archive_write_data(out, buf, (size_t)n) != n)
				return img_archive_err(out, err, "write '%s'", p);
		}
	}
	return 0;
}

static int render_layer(struct render *r, struct store *s, struct store_desc *layer,
			char diff_id[STORE_DIGEST_MAX], struct ckt_err *err)
{
	struct img_pmap win = { 0 };
	_cleanup_store_writer_ struct store_writer *w = store_writer_new(s, NULL, -1, err);
	_cleanup_hasher_ struct store_hasher *h = store_hasher_new(STORE_DIGEST_SHA256);
	struct layer_out lo = { .w = w, .diff = h, .err = err };
	struct archive *tar = NULL;
	struct archive_entry *e;
	int ret = -1;

	if (!w)
		return -err->code;
	choose(r, &win);
	lo.raw = archive_write_new();
	archive_write_set_format_raw(lo.raw);
	archive_write_add_filter_gzip(lo.raw);
	archive_write_set_options(lo.raw, "gzip:compression-level=6,gzip:!timestamp");
	archive_write_set_bytes_in_last_block(lo.raw, 1);
	e = archive_entry_new();
	archive_entry_set_pathname(e, "layer");
	archive_entry_set_filetype(e, AE_IFREG);
	if (archive_write_open(lo.raw, &lo, NULL, raw_cb, NULL) != ARCHIVE_OK ||
	    archive_write_header(lo.raw, e) != ARCHIVE_OK) {
		archive_entry_free(e);
		img_archive_err(lo.raw, err, "start the layer");
		goto out;
	}
	archive_entry_free(e);
	tar = archive_write_new();
	archive_write_set_format_pax_restricted(tar);
	archive_write_add_filter_none(tar);
	if (archive_write_open(tar, &lo, NULL, tar_cb, NULL) != ARCHIVE_OK) {
		img_archive_err(tar, err, "start the layer");
		goto out;
	}
	for (size_t x = 0; x < r->n; x++)
		if (emit_image(r, x, &win, tar, err) < 0)
			goto out;
	if (archive_write_close(tar) != ARCHIVE_OK || archive_write_close(lo.raw) != ARCHIVE_OK) {
		img_archive_err(tar, err, "finish the layer");
		goto out;
	}
	store_hasher_final(h, diff_id);
	memset(layer, 0, sizeof(*layer));
	layer->size = store_writer_size(w);
	if (store_writer_commit(w, layer->digest, err) < 0)
		goto out;
	layer->media_type = xstrdup(IMG_MT_OCI_LAYER_GZIP);
	ret = 0;
out:
	if (tar)
		archive_write_free(tar);
	archive_write_free(lo.raw);
	img_pmap_release(&win);
	return ret < 0 ? -err->code : 0;
}

/* ---- config from the appc manifest -------------------------------------------- */

/* The value named name in the appc name/value list m[list] (labels,
 * annotations), or NULL. */
static const char *named_value(json_t *m, const char *list, const char *name)
{
	size_t i;
	json_t *l;
	json_array_foreach(json_object_get(m, list), i, l)
		if (!strcmp(json_string_value(json_object_get(l, "name")) ?: "", name))
			return json_string_value(json_object_get(l, "value"));
	return NULL;
}

static const char *label(json_t *m, const char *name)
{
	return named_value(m, "labels", name);
}

static const char *annotation(json_t *m, const char *name)
{
	return named_value(m, "annotations", name);
}

/* A JSON array of strings from an annotation, or NULL. */
static json_t *strv_annotation(json_t *m, const char *name)
{
	const char *v = annotation(m, name);
	json_t *j = v ? json_loads(v, 0, NULL) : NULL;
	size_t i;
	json_t *x;
	if (!j || !json_is_array(j)) {
		json_decref(j);
		return NULL;
	}
	json_array_foreach(j, i, x)
		if (!json_is_string(x)) {
			json_decref(j);
			return NULL;
		}
	return j;
}

static char *build_config(json_t *m, const char *diff_id, size_t *len)
{
	json_t *app = json_object_get(m, "app");
	json_t *cc = json_object();
	json_t *exec = json_object_get(app, "exec");
	/* Converted from docker: Entrypoint and Cmd come back apart (d2a#122). */
	json_t *ep = strv_annotation(m, "appc.io/docker/entrypoint");
	json_t *cmd = strv_annotation(m, "appc.io/docker/cmd");
	if (ep || cmd) {
		if (ep)
			json_object_set_new(cc, "Entrypoint", ep);
		if (cmd)
			json_object_set_new(cc, "Cmd", cmd);
	} else if (exec && json_array_size(exec)) {
		json_object_set(cc, "Entrypoint", exec);
	}
	const char *u = json_string_value(json_object_get(app, "user"));
	const char *g = json_string_value(json_object_get(app, "group"));
	if (u && g) {
		_cleanup_free_ char *ug = strcmp(u, g) ? xasprintf("%s:%s", u, g) : xstrdup(u);
		json_object_set_new(cc, "User", json_string(ug));
	}
	size_t i;
	json_t *v;
	json_t *env = json_array();
	json_array_foreach(json_object_get(app, "environment"), i, v) {
		_cleanup_free_ char *kv = xasprintf("%s=%s", json_string_value(json_object_get(v, "name")) ?: "",
						    json_string_value(json_object_get(v, "value")) ?: "");
		json_array_append_new(env, json_string(kv));
	}
	if (json_array_size(env))
		json_object_set_new(cc, "Env", env);
	else
		json_decref(env);
	const char *wd = json_string_value(json_object_get(app, "workingDirectory"));
	if (wd && *wd)
		json_object_set_new(cc, "WorkingDir", json_string(wd));
	json_t *ports = json_object();
	json_array_foreach(json_object_get(app, "ports"), i, v) {
		json_int_t p = json_integer_value(json_object_get(v, "port"));
		json_int_t n = json_integer_value(json_object_get(v, "count"));
		const char *proto = json_string_value(json_object_get(v, "protocol"));
		for (json_int_t k = 0; k < (n > 0 ? n : 1) && p + k <= 65535; k++) {
			char key[64];
			snprintf(key, sizeof(key), "%lld/%s", (long long)(p + k), proto ? proto : "tcp");
			json_object_set_new(ports, key, json_object());
		}
	}
	if (json_object_size(ports))
		json_object_set_new(cc, "ExposedPorts", ports);
	else
		json_decref(ports);
	json_t *vols = json_object();
	json_array_foreach(json_object_get(app, "mountPoints"), i, v) {
		const char *p = json_string_value(json_object_get(v, "path"));
		if (p)
			json_object_set_new(vols, p, json_object());
	}
	if (json_object_size(vols))
		json_object_set_new(cc, "Volumes", vols);
	else
		json_decref(vols);
	json_t *labels = json_object();
	const char *key;
	json_object_foreach(json_object_get(app, "userLabels"), key, v)
		if (json_is_string(v))
			json_object_set(labels, key, v);
	json_array_foreach(json_object_get(m, "labels"), i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));
		if (n && strcmp(n, "os") && strcmp(n, "arch") && !json_object_get(labels, n))
			json_object_set(labels, n, json_object_get(v, "value"));
	}
	if (json_object_size(labels))
		json_object_set_new(cc, "Labels", labels);
	else
		json_decref(labels);

	/* appc os/arch → OCI (the inverse of ToAppcOSArch). */
	const char *os = label(m, "os"), *arch = label(m, "arch"), *variant = NULL;
	struct img_platform host = IMG_PLATFORM_INIT;
	img_platform_host(&host);
	if (!os)
		os = host.os;
	if (!arch)
		arch = host.arch;
	else if (!strcmp(arch, "i386"))
		arch = "386";
	else if (!strcmp(arch, "aarch64"))
		arch = "arm64";
	else if (!strcmp(arch, "x86_64"))
		arch = "amd64";
	else if (!strcmp(arch, "armv7l"))
		arch = "arm", variant = "v7";
	else if (!strcmp(arch, "armv6l"))
		arch = "arm", variant = "v6";
	json_t *cfg = json_object();
	const char *created = annotation(m, "created");
	if (created)
		json_object_set_new(cfg, "created", json_string(created));
	const char *authors = annotation(m, "authors");
	if (authors)
		json_object_set_new(cfg, "author", json_string(authors));
	json_object_set_new(cfg, "architecture", json_string(arch));
	if (variant)
		json_object_set_new(cfg, "variant", json_string(variant));
	json_object_set_new(cfg, "os", json_string(os));
	json_object_set_new(cfg, "config", cc);
	json_object_set_new(cfg, "rootfs", json_pack("{s:s, s:[s]}", "type", "layers", "diff_ids",
						     diff_id));
	img_platform_release(&host);
	char *out = img_json_dump(cfg, len);
	json_decref(cfg);
	return out;
}

/* The appc annotations as the OCI manifest's annotations (issue 6: "labels
 * and annotations → Labels/annotations"), plus the image ID it came from. */
static char *with_annotations(char *manifest, json_t *m, const char *id, size_t *len)
{
	json_t *ann = json_object_get(m, "annotations");
	_cleanup_json_ json_t *j = json_loads(manifest, 0, NULL);
	if (!j)
		return manifest;
	json_t *o = json_object();
	size_t i;
	json_t *v;
	json_array_foreach(ann, i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));
		const char *val = json_string_value(json_object_get(v, "value"));
		if (n && val)
			json_object_set_new(o, n, json_string(val));
	}
	json_object_set_new(o, IMG_ANNOT_ACI_ID, json_string(id));
	json_object_set_new(j, "annotations", o);
	free(manifest);
	return img_json_dump(j, len);
}

/* ---- the source ------------------------------------------------------------------ */

static int aci_resolve(struct img_src *base, struct store_desc *top, char **name,
		       struct ckt_err *err)
{
	struct aci_src *src = (struct aci_src *)base;
	(void)err;
	*top = src->mdesc;
	top->media_type = xstrdup(IMG_MT_OCI_MANIFEST);
	*name = src->name ? xstrdup(src->name) : NULL;
	return 0;
}

static int aci_read(struct img_src *base, const struct store_desc *d, size_t max, char **data,
		    size_t *len, struct ckt_err *err)
{
	struct aci_src *src = (struct aci_src *)base;
	const char *p = NULL;
	size_t n = 0;
	if (!strcmp(d->digest, src->mdesc.digest))
		p = src->manifest, n = src->manifest_len;
	else if (!strcmp(d->digest, src->cdesc.digest))
		p = src->config, n = src->config_len;
	if (!p)
		return ckt_err_fail(err, CKT_ENOTFOUND, "no blob %s in the ACI", d->digest);
	if (n > max)
		return ckt_err_fail(err, CKT_EFORMAT, "blob %s too large", d->digest);
	*data = xmalloc(n + 1);
	memcpy(*data, p, n);
	(*data)[n] = '\0';
	*len = n;
	return 0;
}

static int aci_copy(struct img_src *base, struct img_fetch_ctx *ctx, const struct store_desc *d,
		    struct ckt_err *err)
{
	(void)base;
	/* The layer went into the store while the source was opened. */
	if (store_blob_exists(ctx->store, d->digest))
		return 0;
	return ckt_err_fail(err, CKT_ENOTFOUND, "no blob %s in the ACI", d->digest);
}

static void aci_free(struct img_src *base)
{
	struct aci_src *src = (struct aci_src *)base;
	free(src->manifest);
	free(src->config);
	free(src->name);
	free(src);
}

static const struct img_src_ops aci_ops = {
	.resolve = aci_resolve,
	.read = aci_read,
	.copy = aci_copy,
	.free = aci_free,
};

/* "<path without .aci>.aci.asc" (rkt ascPathFromImgPath). */
static char *asc_name(const char *path)
{
	size_t n = strlen(path);
	return n > 4 && !strcmp(path + n - 4, ".aci") ? xasprintf("%s.asc", path)
						       : xasprintf("%s.aci.asc", path);
}

static bool is_url(const char *p)
{
	return !strncmp(p, "https://", 8) || !strncmp(p, "http://", 7);
}

/* A file unless it looks like an appc name: a path that exists, or that
 * starts with '/' or '.', or ends in .aci, is a file. */
static bool is_file(const char *p)
{
	size_t n = strlen(p);
	return p[0] == '/' || p[0] == '.' || (n > 4 && !strcmp(p + n - 4, ".aci")) ||
	       access(p, F_OK) == 0;
}

/* Download url into an unlinked temporary file in the store. */
static int download(struct store *s, const char *url, const struct img_http_opts *ho,
		    struct ckt_err *err)
{
	_cleanup_free_ char *tmpdir = ckt_path_join(store_root(s), "tmp");
	if (ckt_mkdir_p(tmpdir, 0755, err) < 0)
		return -err->code;
	_cleanup_close_ int fd = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "temporary file in '%s'", tmpdir);
	if (img_http_get(url, ho, fd, 0, NULL, NULL, NULL, err) < 0)
		return -err->code;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return ckt_err_sys(err, CKT_EIO, "seek");
	return TAKE_FD(fd);
}

/* The signature beside an image: absent (404) is fine, with a note. */
static char *get_sig(const char *url, const struct img_http_opts *ho, size_t *len,
		     struct ckt_err *err, bool *failed)
{
	char *body = NULL;
	struct ckt_err e2 = CKT_ERR_INIT;
	*failed = false;
	if (img_http_get(url, ho, -1, 1 << 20, &body, len, NULL, &e2) == 0)
		return body;
	if (e2.code == CKT_ENOTFOUND) {
		ckt_info("no signature at %s", url);
		return NULL;
	}
	*err = e2;
	*failed = true;
	return NULL;
}

/* spec/discovery.md "Validation": the fetched manifest's name and the
 * requested labels must match the request. */
static int check_request(const struct img_appc_app *app, const struct img_aci_info *info,
			 struct ckt_err *err)
{
	_cleanup_json_ json_t *m = img_json_parse(info->manifest, info->manifest_len, "manifest", err);
	if (!m)
		return -err->code;
	const char *name = json_string_value(json_object_get(m, "name"));
	if (!name || strcmp(name, app->name))
		return ckt_err_fail(err, CKT_EVERIFY, "the image is named '%s', not '%s'",
				    name ? name : "", app->name);
	for (char **l = app->labels; l && *l; l++) {
		const char *eq = strchr(*l, '=');
		_cleanup_free_ char *k = xstrndup(*l, (size_t)(eq - *l));
		const char *v = label(m, k);
		if (!v || strcmp(v, eq + 1))
			return ckt_err_fail(err, CKT_EVERIFY, "label %s is '%s', not '%s'", k,
					    v ? v : "(none)", eq + 1);
	}
	return 0;
}

/* Open the ACI named by spec: fd (offset 0), its signature, and for
 * discovered names the app to check the manifest against. */
static int open_aci(const struct img_source *spec, const struct img_fetch_opts *o,
		    struct store *s, char **sig, size_t *sig_len, struct img_appc_app *app,
		    bool *have_app, struct ckt_err *err)
{
	struct img_http_opts ho = { 0 };
	bool failed;
	*have_app = false;
	if (o) {
		ho.allow_http = o->aci_allow_http;
		ho.insecure_tls = o->aci_insecure_tls;
		ho.ca_file = o->aci_ca_file;
		if (o->registry && o->registry->insecure)
			ho.allow_http = ho.insecure_tls = true;
	}
	/* --cert-dir: its first *.crt is the CA bundle for aci: URLs. */
	_cleanup_free_ char *ca = NULL;
	if (!ho.ca_file && o && o->registry && o->registry->cert_dir) {
		_cleanup_closedir_ DIR *d = opendir(o->registry->cert_dir);
		struct dirent *de;
		while (d && !ca && (de = readdir(d))) {
			size_t n = strlen(de->d_name);
			if (n > 4 && !strcmp(de->d_name + n - 4, ".crt"))
				ca = ckt_path_join(o->registry->cert_dir, de->d_name);
		}
		ho.ca_file = ca;
	}
	if (is_url(spec->path)) {
		_cleanup_free_ char *asc = asc_name(spec->path);
		*sig = get_sig(asc, &ho, sig_len, err, &failed);
		if (failed)
			return -err->code;
		return download(s, spec->path, &ho, err);
	}
	if (is_file(spec->path)) {
		_cleanup_free_ char *asc = asc_name(spec->path);
		struct ckt_err e2 = CKT_ERR_INIT;
		if (ckt_read_file(asc, 1 << 20, sig, sig_len, &e2) < 0)
			*sig = NULL;
		int fd = open(spec->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return ckt_err_sys(err, errno == ENOENT ? CKT_ENOTFOUND : CKT_EIO, "open '%s'",
					   spec->path);
		return fd;
	}
	struct img_discovery d;
	if (img_appc_app_parse(spec->path, app, err) < 0)
		return -err->code;
	*have_app = true;
	if (img_discover(app, &ho, o ? o->aci_discovery_port : 0, &d, err) < 0)
		return -err->code;
	ckt_info("%s: discovered %s", spec->path, d.aci_url);
	*sig = get_sig(d.asc_url, &ho, sig_len, err, &failed);
	int fd = failed ? -(int)err->code : download(s, d.aci_url, &ho, err);
	img_discovery_release(&d);
	return fd;
}

struct img_src *img_src_aci_open(const struct img_source *spec, const struct img_fetch_opts *o,
				 struct store *s, struct ckt_err *err)
{
	struct aci_src *src = xcalloc(1, sizeof(*src));
	struct render r = { .s = s };
	struct img_aci_info info = { 0 };
	struct store_desc layer = { 0 };
	struct img_appc_app app = { 0 };
	bool have_app = false;
	char diff_id[STORE_DIGEST_MAX];
	_cleanup_free_ char *sig = NULL, *hint = NULL;
	size_t sig_len = 0;
	int fd;

	src->base.ops = &aci_ops;
	src->base.spec = spec;
	fd = open_aci(spec, o, s, &sig, &sig_len, &app, &have_app, err);
	if (fd < 0)
		goto fail;
	if (have_app) {
		/* Check the name before anything goes into the store. */
		if (img_aci_check(fd, &info, err) < 0 || check_request(&app, &info, err) < 0 ||
		    lseek(fd, 0, SEEK_SET) < 0) {
			close(fd);
			goto fail;
		}
		img_aci_info_release(&info);
	}
	if (img_aci_store_put(s, fd, sig, sig_len, &info, err) < 0) {
		close(fd);
		goto fail;
	}
	if (add_image(&r, fd, &info, NULL, 0, err) < 0 ||
	    render_layer(&r, s, &layer, diff_id, err) < 0)
		goto fail;
	json_t *m = r.imgs[r.n - 1].manifest;
	src->config = build_config(m, diff_id, &src->config_len);
	src->cdesc.size = (int64_t)src->config_len;
	src->cdesc.media_type = (char *)IMG_MT_OCI_CONFIG;
	store_digest_buf(STORE_DIGEST_SHA256, src->config, src->config_len, src->cdesc.digest);
	src->manifest = with_annotations(img_manifest_build(&src->cdesc, &layer, 1,
							    &src->manifest_len),
					 m, r.imgs[r.n - 1].info.id, &src->manifest_len);
	src->cdesc.media_type = NULL;
	src->mdesc.size = (int64_t)src->manifest_len;
	store_digest_buf(STORE_DIGEST_SHA256, src->manifest, src->manifest_len, src->mdesc.digest);
	/* The store name: the AC name with its version (default latest), when
	 * that is a docker reference; else fetch derives one from the file. */
	const char *ver = label(m, "version");
	hint = xasprintf("%s:%s", json_string_value(json_object_get(m, "name")),
					      ver ? ver : "latest");
	struct img_ref ref = IMG_REF_INIT;
	struct ckt_err e2 = CKT_ERR_INIT;
	if (img_ref_parse(hint, &ref, &e2) == 0)
		src->name = TAKE_PTR(hint);
	img_ref_release(&ref);
	ckt_info("%s: ACI %s", spec->path, r.imgs[r.n - 1].info.id);
	img_appc_app_release(&app);
	store_desc_release(&layer);
	render_release(&r);
	return &src->base;
fail:
	img_appc_app_release(&app);
	img_aci_info_release(&info);
	store_desc_release(&layer);
	render_release(&r);
	aci_free(&src->base);
	return NULL;
}
