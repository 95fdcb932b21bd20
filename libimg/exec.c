#include "libimg/exec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/path.h"
#include "base/xalloc.h"

static size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

/* Append copies of v to *out (length *n, NULL-terminated). */
static void strv_append(char ***out, size_t *n, char *const *v)
{
	size_t add = strv_len(v);
	*out = xreallocarray(*out, *n + add + 1, sizeof(char *));
	for (size_t i = 0; i < add; i++)
		(*out)[(*n)++] = xstrdup(v[i]);
	(*out)[*n] = NULL;
}

/* Replace or add KEY=VALUE entries of over in env (docker: --env wins). */
static void env_merge(char ***env, size_t *n, char *const *over)
{
	for (size_t i = 0; over && over[i]; i++) {
		size_t kl = strcspn(over[i], "=");
		size_t j;
		for (j = 0; j < *n; j++)
			if (!strncmp((*env)[j], over[i], kl) && (*env)[j][kl] == '=')
				break;
		if (j < *n) {
			free((*env)[j]);
			(*env)[j] = xstrdup(over[i]);
		} else {
			char *const one[] = { over[i], NULL };
			strv_append(env, n, one);
		}
	}
}

int img_exec_process_build(const struct img_config *c, const struct img_exec_overrides *o,
			   struct img_exec_process *out, struct ckt_err *err)
{
	char **argv = xcalloc(1, sizeof(char *)), **env = xcalloc(1, sizeof(char *));
	size_t na = 0, ne = 0;

	memset(out, 0, sizeof(*out));
	if (o->entrypoint_set) {
		if (*o->entrypoint) {
			char *const one[] = { (char *)o->entrypoint, NULL };
			strv_append(&argv, &na, one);
		}
		strv_append(&argv, &na, o->cmd);
	} else {
		strv_append(&argv, &na, c ? c->entrypoint : NULL);
		strv_append(&argv, &na, o->cmd ? o->cmd : c ? c->cmd : NULL);
	}
	if (!na) {
		ckt_strv_free(argv);
		ckt_strv_free(env);
		return ckt_err_fail(err, CKT_EUSAGE,
				    "no command: the image has neither Entrypoint nor Cmd; give one "
				    "after '--'");
	}
	strv_append(&env, &ne, c ? c->env : NULL);
	env_merge(&env, &ne, o->env);
	out->argv = argv;
	out->env = env;
	const char *user = o->user ? o->user : c ? c->user : NULL;
	const char *cwd = o->workdir ? o->workdir : c ? c->workdir : NULL;
	out->user = user && *user ? xstrdup(user) : NULL;
	out->cwd = cwd && *cwd ? xstrdup(cwd) : NULL;
	return 0;
}

void img_exec_process_release(struct img_exec_process *p)
{
	ckt_strv_free(p->argv);
	ckt_strv_free(p->env);
	free(p->user);
	free(p->cwd);
	memset(p, 0, sizeof(*p));
}

int img_exec_root_prepare(const char *store_root, const char *name, bool on_disk, bool keep,
			  struct img_exec_root *out, struct ckt_err *err)
{
	_cleanup_free_ char *base = ckt_path_join(store_root, "containers");
	memset(out, 0, sizeof(*out));
	if (!*name || strchr(name, '/') || name[0] == '.')
		return ckt_err_fail(err, CKT_EUSAGE, "invalid container name '%s'", name);
	if (!on_disk) {
		out->merged = TAKE_PTR(base);
		if (ckt_mkdir_p(out->merged, 0700, err) < 0) {
			img_exec_root_release(out);
			return -1;
		}
		return 0;
	}
	out->dir = ckt_path_join(base, name);
	out->upper = ckt_path_join(out->dir, "upper");
	out->work = ckt_path_join(out->dir, "work");
	out->merged = ckt_path_join(out->dir, "merged");
	out->keep = true; /* until our own directory exists, never remove one */
	if (ckt_mkdir_p(base, 0700, err) < 0)
		goto fail;
	if (mkdir(out->dir, 0700) < 0) {
		if (errno != EEXIST) {
			ckt_err_sys(err, CKT_EIO, "create container directory '%s'", out->dir);
			goto fail;
		}
		if (!keep) {
			ckt_err_fail(err, CKT_EUSAGE,
				     "container name '%s' is already in use ('%s' exists; "
				     "--keep reuses it)", name, out->dir);
			goto fail;
		}
	} else {
		out->keep = keep;
	}
	if (ckt_mkdir_p(out->upper, 0755, err) < 0 || ckt_mkdir_p(out->work, 0700, err) < 0 ||
	    ckt_mkdir_p(out->merged, 0755, err) < 0)
		goto fail;
	out->keep = keep;
	return 0;
fail:
	img_exec_root_release(out);
	return -1;
}

void img_exec_root_release(struct img_exec_root *r)
{
	if (r->dir && !r->keep) {
		struct ckt_err ignored = CKT_ERR_INIT;
		/* overlayfs leaves work/work with mode 0: without root we could
		 * not empty it. */
		_cleanup_free_ char *ww = ckt_path_join(r->work ? r->work : r->dir, "work");
		if (chmod(ww, 0700) < 0) {
			/* absent when the overlay was never mounted */
		}
		ckt_rm_rf(r->dir, &ignored);
	}
	free(r->dir);
	free(r->upper);
	free(r->work);
	free(r->merged);
	memset(r, 0, sizeof(*r));
}
