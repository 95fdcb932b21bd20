#include "libimg/launch/prepared.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/path.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "libimg/launch/state.h"

#define MAGIC "ckt-prepared-1"
#define RECORD_MAX (4u << 20)

char *launch_prepared_key(const char *ref, const char *platform, bool rootless)
{
	return xasprintf("%s|%s|%s", ref, platform ? platform : "", rootless ? "rootless" : "root");
}

char *launch_prepared_path(const char *store_root, const char *key)
{
	/* FNV-1a, 64 bits: a file name, not a security boundary (the record
	 * holds its full key and is checked against it). */
	uint64_t h = 1469598103934665603ull;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return xasprintf("%s/exec-cache/%016" PRIx64, store_root, h);
}

bool launch_prepared_stamp(const char *store_root, char *buf, size_t len)
{
	struct stat st;
	_cleanup_free_ char *p = ckt_path_join(store_root, "index.json");
	if (stat(p, &st) < 0)
		return false;
	snprintf(buf, len, "%ju:%ju:%jd:%jd.%09ld", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino,
		 (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	return true;
}

static void put(struct ckt_buf *b, const char *s)
{
	ckt_buf_add(b, s ? s : "", strlen(s ? s : "") + 1);
}

static void put_list(struct ckt_buf *b, char *const *v)
{
	size_t n = 0;
	char num[32];
	if (!v) {
		put(b, "-");
		return;
	}
	while (v[n])
		n++;
	snprintf(num, sizeof(num), "%zu", n);
	put(b, num);
	for (size_t i = 0; i < n; i++)
		put(b, v[i]);
}

int launch_prepared_write(const char *path, const struct launch_prepared *p,
			  struct ckt_err *err)
{
	_cleanup_buf_ struct ckt_buf b = CKT_BUF_INIT;
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (ckt_mkdir_p(dir, 0755, err) < 0)
		return -1;
	put(&b, MAGIC);
	put(&b, p->key);
	put(&b, p->stamp);
	put(&b, p->snapshot);
	put(&b, p->image);
	put(&b, p->user);
	put(&b, p->workdir);
	put_list(&b, p->entrypoint);
	put_list(&b, p->cmd);
	put_list(&b, p->env);
	put(&b, p->appc);
	return launch_write_runtime(path, b.buf, b.len, err);
}

struct reader {
	const char *p, *end;
	bool bad;
};

static char *take(struct reader *r)
{
	const char *nul = r->p < r->end ? memchr(r->p, '\0', (size_t)(r->end - r->p)) : NULL;
	if (!nul) {
		r->bad = true;
		return xstrdup("");
	}
	char *s = xstrdup(r->p);
	r->p = nul + 1;
	return s;
}

static char **take_list(struct reader *r, bool may_unset)
{
	_cleanup_free_ char *num = take(r);
	char *end;
	if (!strcmp(num, "-")) {
		r->bad |= !may_unset;
		return may_unset ? NULL : xcalloc(1, sizeof(char *));
	}
	unsigned long n = strtoul(num, &end, 10);
	if (*end || end == num || n > (size_t)(r->end - r->p)) {
		r->bad = true;
		return xcalloc(1, sizeof(char *));
	}
	char **v = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		v[i] = take(r);
	return v;
}

int launch_prepared_read(const char *path, const char *key, const char *store_root,
			 struct launch_prepared *p, struct ckt_err *err)
{
	_cleanup_free_ char *data = NULL, *magic = NULL;
	char stamp[128];
	size_t len;
	struct stat st;

	memset(p, 0, sizeof(*p));
	if (ckt_read_file(path, RECORD_MAX, &data, &len, err) < 0)
		return -1;
	struct reader r = { data, data + len, false };
	magic = take(&r);
	p->key = take(&r);
	p->stamp = take(&r);
	p->snapshot = take(&r);
	p->image = take(&r);
	p->user = take(&r);
	p->workdir = take(&r);
	p->entrypoint = take_list(&r, true);
	p->cmd = take_list(&r, true);
	p->env = take_list(&r, false);
	p->appc = take(&r);
	if (r.bad || strcmp(magic, MAGIC) || strcmp(p->key, key) ||
	    !launch_prepared_stamp(store_root, stamp, sizeof(stamp)) || strcmp(stamp, p->stamp) ||
	    stat(p->snapshot, &st) < 0 || !S_ISDIR(st.st_mode)) {
		launch_prepared_release(p);
		return ckt_err_fail(err, CKT_ENOTFOUND, "no valid prepared record '%s'", path);
	}
	return 0;
}

void launch_prepared_release(struct launch_prepared *p)
{
	free(p->key);
	free(p->stamp);
	free(p->snapshot);
	free(p->image);
	free(p->user);
	free(p->workdir);
	ckt_strv_free(p->entrypoint);
	ckt_strv_free(p->cmd);
	ckt_strv_free(p->env);
	free(p->appc);
	memset(p, 0, sizeof(*p));
}

int launch_prepared_hold(const struct launch_prepared *p, struct ckt_err *err)
{
	/* store_tree_hold()'s protocol (store/tree.h), without linking the store */
	_cleanup_free_ char *path = xasprintf("%s.lock", p->snapshot);
	return ckt_hold_dir(p->snapshot, path, err);
}
