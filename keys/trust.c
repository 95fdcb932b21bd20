#include "keys/trust.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/path.h"
#include "base/xalloc.h"

#ifndef CKT_PREFIX
#define CKT_PREFIX "/usr/local"
#endif

/* Key files are small; anything larger is not a public key. */
#define KEY_MAX (1u << 20)

void keys_config_default(struct keys_config *c)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	c->system = xstrdup(CKT_PREFIX "/lib/ckt");
	if (geteuid() == 0)
		c->local = xstrdup("/etc/ckt");
	else if (xdg && *xdg == '/')
		c->local = xasprintf("%s/ckt", xdg);
	else
		c->local = xasprintf("%s/.config/ckt", home && *home ? home : "/");
}

void keys_config_release(struct keys_config *c)
{
	free(c->local);
	free(c->system);
	c->local = c->system = NULL;
}

void keys_entries_free(struct keys_entry *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].prefix);
		free(v[i].path);
		free(v[i].uid);
	}
	free(v);
}

static bool word_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

bool keys_prefix_valid(const char *p)
{
	if (!p || !*p || strstr(p, "://") || strlen(p) > 255)
		return false;
	const char *comp = p;
	for (const char *q = p;; q++) {
		if (*q == '/' || !*q) {
			size_t n = (size_t)(q - comp);
			if (n == 0 || (n == 1 && comp[0] == '.') ||
			    (n == 2 && comp[0] == '.' && comp[1] == '.'))
				return false;
			if (!*q)
				break;
			comp = q + 1;
			continue;
		}
		if (!word_char(*q) && !strchr(".-_~:", *q))
			return false;
	}
	return word_char(p[0]);
}

/* <dir>/trustedkeys/root.d or <dir>/trustedkeys/prefix.d/<prefix>. */
static char *key_dir(const char *dir, const char *prefix)
{
	if (!prefix)
		return xasprintf("%s/trustedkeys/root.d", dir);
	return xasprintf("%s/trustedkeys/prefix.d/%s", dir, prefix);
}

/* ---- loading ------------------------------------------------------------ */

struct keyset {
	struct keys_entry *v;
	size_t n, alloc;
};

static void keyset_release(struct keyset *ks)
{
	keys_entries_free(ks->v, ks->n);
	ks->v = NULL;
	ks->n = ks->alloc = 0;
}

/* Add the key files of one directory to ks in rkt's way: a non-empty file
 * adds (or replaces) its fingerprint, an empty one removes it.  With
 * keep_masks the masks are listed too (for `ckt-trust list`). */
static int scan_dir(struct keyset *ks, const char *dir, enum keys_scope scope, const char *prefix,
		    bool keep_masks, struct ckt_err *err)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	if (!d) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return ckt_err_sys(err, CKT_EIO, "open key directory '%s'", dir);
	}
	while ((de = readdir(d))) {
		char fpr[KEYS_FPR_MAX];
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *path = ckt_path_join(dir, de->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		/* A name that is not a fingerprint cannot be a key file: say so
		 * rather than silently ignoring what an admin put there. */
		if (!keys_fpr_normalize(de->d_name, fpr) || strcmp(fpr, de->d_name))
			return ckt_err_failw(err, CKT_EFORMAT,
					     "key files are named by their lower-case fingerprint",
					     "key file '%s'", path);
		size_t i = ks->n;
		if (!keep_masks)
			for (i = 0; i < ks->n; i++)
				if (!strcmp(ks->v[i].fpr, fpr))
					break;
		if (st.st_size == 0 && !keep_masks) {
			if (i < ks->n) {
				free(ks->v[i].prefix);
				free(ks->v[i].path);
				free(ks->v[i].uid);
				memmove(&ks->v[i], &ks->v[i + 1], (ks->n - i - 1) * sizeof(*ks->v));
				ks->n--;
			}
			continue;
		}
		if (i == ks->n) {
			ALLOC_GROW(ks->v, ks->n + 1, ks->alloc);
			ks->n++;
		} else {
			free(ks->v[i].prefix);
			free(ks->v[i].path);
			free(ks->v[i].uid);
		}
		struct keys_entry *e = &ks->v[i];
		memset(e, 0, sizeof(*e));
		e->scope = scope;
		e->prefix = prefix ? xstrdup(prefix) : NULL;
		memcpy(e->fpr, fpr, sizeof(fpr));
		e->path = TAKE_PTR(path);
		e->mask = st.st_size == 0;
	}
	return 0;
}

/* Read a key file, check it is armored and holds exactly the key its name
 * says, and import it (k may be NULL: check only).  *uid may be NULL. */
static int load_key_file(struct keys_pgp *k, struct keys_pgp *scratch, const struct keys_entry *e,
			 char **uid, struct ckt_err *err)
{
	_cleanup_free_ char *data = NULL;
	_cleanup_strv_ char **fprs = NULL;
	size_t len;
	if (ckt_read_file(e->path, KEY_MAX, &data, &len, err) < 0)
		return -err->code;
	if (!keys_pgp_is_armored(data, len))
		return ckt_err_failw(err, CKT_EFORMAT, "not an ASCII-armored public key",
				     "key file '%s'", e->path);
	if (keys_pgp_inspect(scratch, data, len, &fprs, uid, err) < 0)
		return ckt_err_wrap(err, "key file '%s'", e->path);
	if (strcmp(fprs[0], e->fpr) || fprs[1])
		return ckt_err_failw(err, CKT_EFORMAT, "fingerprint mismatch",
				     "key file '%s' holds key %s", e->path, fprs[0]);
	if (k && keys_pgp_import(k, data, len, NULL, err) < 0)
		return ckt_err_wrap(err, "key file '%s'", e->path);
	return 0;
}

int keys_trust_load(const struct keys_config *c, const char *name, struct keys_pgp *k,
		    char ***fprs, struct ckt_err *err)
{
	struct keyset ks = { 0 };
	const char *dirs[2] = { c->system, c->local };
	int r = 0;

	for (int i = 0; i < 2 && r >= 0; i++) {
		_cleanup_free_ char *dir = key_dir(dirs[i], NULL);
		r = scan_dir(&ks, dir, (enum keys_scope)i, NULL, false, err);
	}
	/* Each prefix level, by whole path components of name. */
	if (name) {
		_cleanup_free_ char *clean = xstrdup(name);
		for (char *p = clean; r >= 0;) {
			char *slash = strchr(p, '/');
			char saved = 0;
			if (slash) {
				saved = *slash;
				*slash = 0;
			}
			if (keys_prefix_valid(clean)) {
				for (int i = 0; i < 2 && r >= 0; i++) {
					_cleanup_free_ char *dir = key_dir(dirs[i], clean);
					r = scan_dir(&ks, dir, (enum keys_scope)i, clean, false,
						     err);
				}
			}
			if (!slash)
				break;
			*slash = saved;
			p = slash + 1;
		}
	}
	if (r >= 0 && ks.n) {
		struct keys_pgp *scratch = keys_pgp_new(err);
		r = scratch ? 0 : -err->code;
		for (size_t i = 0; i < ks.n && r >= 0; i++) {
			char *uid = NULL;
			r = load_key_file(k, scratch, &ks.v[i], &uid, err);
			free(uid);
		}
		keys_pgp_free(scratch);
	}
	if (r >= 0 && fprs) {
		char **v = xcalloc(ks.n + 1, sizeof(*v));
		for (size_t i = 0; i < ks.n; i++)
			v[i] = xstrdup(ks.v[i].fpr);
		*fprs = v;
	}
	keyset_release(&ks);
	return r;
}

/* ---- listing ------------------------------------------------------------ */

static int list_prefixes(struct keyset *ks, const char *base, const char *rel,
			 enum keys_scope scope, struct ckt_err *err)
{
	_cleanup_free_ char *dir = rel ? ckt_path_join(base, rel) : xstrdup(base);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	if (!d)
		return errno == ENOENT || errno == ENOTDIR
			       ? 0
			       : ckt_err_sys(err, CKT_EIO, "open key directory '%s'", dir);
	if (rel && scan_dir(ks, dir, scope, rel, true, err) < 0)
		return -err->code;
	while ((de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = ckt_path_join(dir, de->d_name);
		if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		_cleanup_free_ char *sub = rel ? ckt_path_join(rel, de->d_name)
					       : xstrdup(de->d_name);
		if (list_prefixes(ks, base, sub, scope, err) < 0)
			return -err->code;
	}
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct keys_entry *x = a, *y = b;
	if (x->scope != y->scope)
		return (int)x->scope - (int)y->scope;
	if (!x->prefix != !y->prefix)
		return x->prefix ? 1 : -1;
	int r = x->prefix ? strcmp(x->prefix, y->prefix) : 0;
	return r ? r : strcmp(x->fpr, y->fpr);
}

int keys_trust_list(const struct keys_config *c, struct keys_entry **out, size_t *n,
		    struct ckt_err *err)
{
	struct keyset ks = { 0 };
	const char *dirs[2] = { c->system, c->local };
	int r = 0;
	for (int i = 0; i < 2 && r >= 0; i++) {
		_cleanup_free_ char *root = key_dir(dirs[i], NULL);
		_cleanup_free_ char *pd = xasprintf("%s/trustedkeys/prefix.d", dirs[i]);
		r = scan_dir(&ks, root, (enum keys_scope)i, NULL, true, err);
		if (r >= 0)
			r = list_prefixes(&ks, pd, NULL, (enum keys_scope)i, err);
	}
	if (r >= 0 && ks.n) {
		struct keys_pgp *scratch = keys_pgp_new(err);
		r = scratch ? 0 : -err->code;
		for (size_t i = 0; i < ks.n && r >= 0; i++)
			if (!ks.v[i].mask)
				r = load_key_file(NULL, scratch, &ks.v[i], &ks.v[i].uid, err);
		keys_pgp_free(scratch);
	}
	if (r < 0) {
		keyset_release(&ks);
		return r;
	}
	qsort(ks.v, ks.n, sizeof(*ks.v), entry_cmp);
	*out = ks.v;
	*n = ks.n;
	return 0;
}

/* ---- adding and removing ------------------------------------------------ */

int keys_trust_add(const struct keys_config *c, const char *prefix, const void *data, size_t len,
		   const char *want, struct keys_entry **out, size_t *n, struct ckt_err *err)
{
	char wfpr[KEYS_FPR_MAX];
	_cleanup_strv_ char **fprs = NULL;
	struct keyset ks = { 0 };

	if (prefix && !keys_prefix_valid(prefix))
		return ckt_err_failw(err, CKT_EUSAGE,
				     "lower-case name components separated by '/', no URL",
				     "invalid prefix '%s'", prefix);
	if (want && !keys_fpr_normalize(want, wfpr))
		return ckt_err_failw(err, CKT_EUSAGE, "want 40 hex digits",
				     "invalid fingerprint '%s'", want);
	_cleanup_pgp_ struct keys_pgp *k = keys_pgp_new(err);
	if (!k || keys_pgp_import(k, data, len, &fprs, err) < 0)
		return -err->code;
	_cleanup_free_ char *dir = key_dir(c->local, prefix);
	if (ckt_mkdir_p(dir, 0755, err) < 0)
		return -err->code;
	bool found = false;
	for (char **f = fprs; *f; f++) {
		if (want && strcmp(*f, wfpr))
			continue;
		found = true;
		_cleanup_free_ char *armor = NULL;
		size_t alen;
		if (keys_pgp_export(k, *f, &armor, &alen, err) < 0)
			goto fail;
		_cleanup_free_ char *path = ckt_path_join(dir, *f);
		if (ckt_write_file_atomic(path, armor, alen, 0644, err) < 0)
			goto fail;
		ALLOC_GROW(ks.v, ks.n + 1, ks.alloc);
		struct keys_entry *e = &ks.v[ks.n++];
		memset(e, 0, sizeof(*e));
		e->scope = KEYS_LOCAL;
		e->prefix = prefix ? xstrdup(prefix) : NULL;
		memcpy(e->fpr, *f, strlen(*f) + 1);
		e->path = TAKE_PTR(path);
		e->uid = keys_pgp_uid(k, *f);
	}
	if (!found) {
		ckt_err_failw(err, CKT_EVERIFY, "the key data holds other keys",
			      "key %s not found", wfpr);
		goto fail;
	}
	if (out) {
		*out = ks.v;
		*n = ks.n;
	} else {
		keyset_release(&ks);
	}
	return 0;
fail:
	keyset_release(&ks);
	return -err->code;
}

int keys_trust_remove(const struct keys_config *c, const char *prefix, const char *fpr,
		      bool *masked, struct ckt_err *err)
{
	char f[KEYS_FPR_MAX];
	struct stat st;
	*masked = false;
	if (prefix && !keys_prefix_valid(prefix))
		return ckt_err_failw(err, CKT_EUSAGE, "not a valid name prefix",
				     "invalid prefix '%s'", prefix);
	if (!keys_fpr_normalize(fpr, f))
		return ckt_err_failw(err, CKT_EUSAGE, "want 40 hex digits",
				     "invalid fingerprint '%s'", fpr);
	_cleanup_free_ char *ldir = key_dir(c->local, prefix);
	_cleanup_free_ char *sdir = key_dir(c->system, prefix);
	_cleanup_free_ char *lpath = ckt_path_join(ldir, f);
	_cleanup_free_ char *spath = ckt_path_join(sdir, f);
	bool in_system = stat(spath, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
	bool in_local = stat(lpath, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
	if (!in_system && !in_local)
		return ckt_err_failw(err, CKT_ENOTFOUND, "not trusted",
				     "key %s for %s%s%s", f, prefix ? "prefix '" : "root",
				     prefix ? prefix : "", prefix ? "'" : "");
	if (in_system) {
		/* rkt's masking: an empty local file hides the vendor's key. */
		if (ckt_mkdir_p(ldir, 0755, err) < 0 ||
		    ckt_write_file_atomic(lpath, "", 0, 0644, err) < 0)
			return -err->code;
		*masked = true;
		return 0;
	}
	if (unlink(lpath) < 0)
		return ckt_err_sys(err, CKT_EIO, "remove '%s'", lpath);
	return 0;
}

