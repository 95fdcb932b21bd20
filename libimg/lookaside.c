#include "libimg/lookaside.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "libimg/http_get.h"
#include "libimg/ref.h"
#include "store/digest.h"

/* Lookaside directories are read until the first missing signature-N; cap
 * the walk so a hostile server cannot keep us busy. */
#define MAX_SIGS 64

struct scope {
	char *name;		/* NULL for default-docker */
	char *lookaside;
	char *staging;
	bool attachments;
};

struct img_lookaside {
	struct scope *v;
	size_t n;
};

void img_lookaside_free(struct img_lookaside *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].lookaside);
		free(l->v[i].staging);
	}
	free(l->v);
	free(l);
}

char *img_registries_d_default(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	struct stat st;
	if (geteuid() != 0 && ((xdg && *xdg) || (home && *home))) {
		char *p = xdg && *xdg ? xasprintf("%s/containers/registries.d", xdg)
				      : xasprintf("%s/.config/containers/registries.d", home);
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			return p;
		free(p);
	}
	return xstrdup(IMG_REGISTRIES_D_DEFAULT);
}

/* ---- YAML --------------------------------------------------------------- */

static const char *scalar(yaml_document_t *doc, yaml_node_t *n)
{
	(void)doc;
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int parse_scope(yaml_document_t *doc, yaml_node_t *n, const char *file, const char *name,
		       struct img_lookaside *l, struct ckt_err *err)
{
	for (size_t i = 0; i < l->n; i++)
		if ((!name && !l->v[i].name) || (name && l->v[i].name && !strcmp(name, l->v[i].name)))
			return ckt_err_failw(err, CKT_EFORMAT, "configured more than once",
					     "registries.d '%s': scope '%s'", file,
					     name ? name : "default-docker");
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	struct scope *s = &l->v[l->n++];
	memset(s, 0, sizeof(*s));
	s->name = name ? xstrdup(name) : NULL;
	if (!n || n->type == YAML_SCALAR_NODE)
		return 0; /* "scope:" with nothing under it */
	if (n->type != YAML_MAPPING_NODE)
		return ckt_err_failw(err, CKT_EFORMAT, "not a mapping",
				     "registries.d '%s': scope '%s'", file,
				     name ? name : "default-docker");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(doc, yaml_document_get_node(doc, p->key));
		const char *v = scalar(doc, yaml_document_get_node(doc, p->value));
		if (!k)
			continue;
		char **slot = NULL;
		if (!strcmp(k, "lookaside") || !strcmp(k, "sigstore"))
			slot = &s->lookaside;
		else if (!strcmp(k, "lookaside-staging") || !strcmp(k, "sigstore-staging"))
			slot = &s->staging;
		else if (!strcmp(k, "use-sigstore-attachments"))
			s->attachments = v && (!strcmp(v, "true") || !strcmp(v, "yes"));
		if (slot && v && *v) {
			/* containers/image: the new name wins over the old one. */
			if (*slot && strncmp(k, "lookaside", 9))
				continue;
			free(*slot);
			*slot = xstrdup(v);
		}
	}
	return 0;
}

static int parse_file(const char *path, struct img_lookaside *l, struct ckt_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	yaml_parser_t parser;
	yaml_document_t doc;
	int r = 0;

	if (ckt_read_file(path, 1u << 20, &data, &len, err) < 0)
		return -err->code;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = ckt_err_failw(err, CKT_EFORMAT, parser.problem ? parser.problem : "bad YAML",
				  "parse registries.d '%s' (line %zu)", path,
				  parser.problem_mark.line + 1);
		yaml_parser_delete(&parser);
		return r;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (root && root->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
		     p < root->data.mapping.pairs.top && r >= 0; p++) {
			const char *k = scalar(&doc, yaml_document_get_node(&doc, p->key));
			yaml_node_t *v = yaml_document_get_node(&doc, p->value);
			if (!k)
				continue;
			if (!strcmp(k, "default-docker")) {
				r = parse_scope(&doc, v, path, NULL, l, err);
			} else if (!strcmp(k, "docker") && v && v->type == YAML_MAPPING_NODE) {
				for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
				     q < v->data.mapping.pairs.top && r >= 0; q++) {
					const char *name =
						scalar(&doc, yaml_document_get_node(&doc, q->key));
					if (name)
						r = parse_scope(&doc,
								yaml_document_get_node(&doc, q->value),
								path, name, l, err);
				}
			}
		}
	} else if (root && root->type != YAML_SCALAR_NODE) {
		r = ckt_err_failw(err, CKT_EFORMAT, "not a mapping", "registries.d '%s'", path);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return r;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct img_lookaside *img_lookaside_load(const char *dir, struct ckt_err *err)
{
	_cleanup_free_ char *def = dir ? NULL : img_registries_d_default();
	struct img_lookaside *l = xcalloc(1, sizeof(*l));
	_cleanup_closedir_ DIR *d = opendir(dir ? dir : def);
	char **names = NULL;
	size_t n = 0;
	if (!d) {
		if (errno == ENOENT)
			return l;
		ckt_err_sys(err, CKT_EIO, "open registries.d '%s'", dir ? dir : def);
		img_lookaside_free(l);
		return NULL;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (de->d_name[0] == '.' || nl < 6 || strcmp(de->d_name + nl - 5, ".yaml"))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = ckt_path_join(dir ? dir : def, de->d_name);
	}
	qsort(names, n, sizeof(*names), name_cmp);
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		if (r >= 0)
			r = parse_file(names[i], l, err);
		free(names[i]);
	}
	free(names);
	if (r < 0) {
		img_lookaside_free(l);
		return NULL;
	}
	return l;
}

/* containers/image docker_transport PolicyConfigurationNamespaces, in
 * order: the reference as given, the repository, parent namespaces, the
 * registry. */
static const struct scope *find_scope(const struct img_lookaside *l, const char *ref)
{
	struct img_ref r = IMG_REF_INIT;
	struct ckt_err ignored = CKT_ERR_INIT;
	const struct scope *def = NULL;
	for (size_t i = 0; i < l->n; i++)
		if (!l->v[i].name)
			def = &l->v[i];
	if (img_ref_parse(ref, &r, &ignored) < 0)
		return def;
	_cleanup_free_ char *full = img_ref_string(&r);
	_cleanup_free_ char *name = img_ref_name(&r);
	img_ref_release(&r);
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].name && !strcmp(l->v[i].name, full))
			return &l->v[i];
	for (char *end = name + strlen(name); end;) {
		*end = 0;
		for (size_t i = 0; i < l->n; i++)
			if (l->v[i].name && !strcmp(l->v[i].name, name))
				return &l->v[i];
		end = strrchr(name, '/');
	}
	/* "*.example.com" scopes for the registry's parent domains. */
	name[strcspn(name, ":")] = 0;
	for (char *dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.'))
		for (size_t i = 0; i < l->n; i++)
			if (l->v[i].name && l->v[i].name[0] == '*' && !strcmp(l->v[i].name + 1, dot))
				return &l->v[i];
	return def;
}

const char *img_lookaside_base(const struct img_lookaside *l, const char *ref, bool write)
{
	const struct scope *s = find_scope(l, ref);
	if (!s)
		return NULL;
	if (write && s->staging)
		return s->staging;
	return s->lookaside;
}

bool img_lookaside_use_attachments(const struct img_lookaside *l, const char *ref)
{
	const struct scope *s = find_scope(l, ref);
	return s && s->attachments;
}

/* "base/<repo path>@<alg>=<hex>" (without the signature-N part). */
static int sig_dir(const char *base, const char *ref, const char *digest, char **out,
		   struct ckt_err *err)
{
	struct img_ref r = IMG_REF_INIT;
	const char *colon = strchr(digest, ':');
	if (!store_digest_valid(digest))
		return ckt_err_fail(err, CKT_EFORMAT, "invalid digest '%s'", digest);
	if (img_ref_parse(ref, &r, err) < 0)
		return -err->code;
	size_t bl = strlen(base);
	while (bl > 1 && base[bl - 1] == '/')
		bl--;
	*out = xasprintf("%.*s/%s@%.*s=%s", (int)bl, base, r.path, (int)(colon - digest), digest,
			 colon + 1);
	img_ref_release(&r);
	return 0;
}

static const char *file_path(const char *url)
{
	if (!strncmp(url, "file://", 7))
		return url + 7;
	if (url[0] == '/')
		return url;
	return NULL;
}

/* GET url: 1 with the body, 0 when there is no such signature, < 0 on failure. */
static int http_get(const char *url, char **out, size_t *len, struct ckt_err *err)
{
	/* Lookaside locations come from registries.d, which may name plain http. */
	struct img_http_opts o = { .allow_http = true };
	struct ckt_err nf = CKT_ERR_INIT;

	if (img_http_get(url, &o, -1, IMG_SIG_MAX, out, len, NULL, &nf) == 0)
		return 1;
	if (nf.code == CKT_ENOTFOUND)
		return 0;
	*err = nf;
	return -err->code;
}

int img_lookaside_read(const char *base, const char *ref, const char *digest,
		       struct img_sig **v, size_t *n, struct ckt_err *err)
{
	_cleanup_free_ char *dir = NULL;
	bool http = !strncmp(base, "http://", 7) || !strncmp(base, "https://", 8);
	if (!http && !file_path(base))
		return ckt_err_failw(err, CKT_EUSAGE, "want file://, http:// or https://",
				     "lookaside '%s'", base);
	if (sig_dir(http ? base : file_path(base), ref, digest, &dir, err) < 0)
		return -err->code;
	for (int i = 1; i <= MAX_SIGS; i++) {
		_cleanup_free_ char *url = xasprintf("%s/signature-%d", dir, i);
		_cleanup_free_ char *data = NULL;
		size_t len;
		if (http) {
			int r = http_get(url, &data, &len, err);
			if (r < 0)
				return -err->code;
			if (r == 0)
				break;
		} else {
			struct ckt_err nf = CKT_ERR_INIT;
			if (ckt_read_file(url, IMG_SIG_MAX, &data, &len, &nf) < 0) {
				if (nf.code == CKT_ENOTFOUND)
					break;
				*err = nf;
				return -err->code;
			}
		}
		struct img_sig sig = { IMG_SIG_SIMPLE, data, len, NULL, url };
		img_sigs_add(v, n, &sig);
	}
	return 0;
}

int img_lookaside_write(const char *base, const char *ref, const char *digest, const void *sig,
			size_t len, char **path, struct ckt_err *err)
{
	_cleanup_free_ char *dir = NULL;
	const char *fp = file_path(base);
	if (!fp)
		return ckt_err_failw(err, CKT_EUSAGE, "only file:// lookaside stores can be written",
				     "lookaside '%s'", base);
	if (sig_dir(fp, ref, digest, &dir, err) < 0 || ckt_mkdir_p(dir, 0755, err) < 0)
		return -err->code;
	/* The complete file is written under a temporary name, then linked to
	 * the first free signature-N: never a partial signature, and two
	 * signers racing for one N do not overwrite each other (link fails
	 * with EEXIST). */
	_cleanup_free_ char *tmp = xasprintf("%s/.signature.tmp-XXXXXX", dir);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "create a temporary file in '%s'", dir);
	int r = ckt_write_all(fd, sig, len, err);
	if (r == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
		r = ckt_err_sys(err, CKT_EIO, "write '%s'", tmp);
	close(fd);
	int retries = 0;
	for (int i = 1; r == 0 && i <= MAX_SIGS; i++) {
		_cleanup_free_ char *p = xasprintf("%s/signature-%d", dir, i);
		_cleanup_free_ char *old = NULL;
		size_t olen;
		struct ckt_err nf = CKT_ERR_INIT;
		if (ckt_read_file(p, IMG_SIG_MAX, &old, &olen, &nf) == 0) {
			if (olen != len || memcmp(old, sig, len))
				continue;
		} else if (nf.code != CKT_ENOTFOUND) {
			*err = nf;
			r = -err->code;
			break;
		} else if (link(tmp, p) < 0) {
			if (errno == EEXIST && retries++ < 8) {
				i--; /* someone took it: look at what is there now */
				continue;
			}
			r = ckt_err_sys(err, CKT_EIO, "create '%s'", p);
			break;
		} else {
			r = ckt_fsync_dir(dir, err);
		}
		if (r == 0 && path)
			*path = TAKE_PTR(p);
		unlink(tmp);
		return r;
	}
	unlink(tmp);
	return r < 0 ? r : ckt_err_fail(err, CKT_EIO, "too many signatures in '%s'", dir);
}
