/* Tree snapshots: directories, manifests and build locks under
 * $STORE/trees (see tree.h). */
#include "store/tree.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/xalloc.h"

#define MANIFEST_SUFFIX ".mtree"
#define LOCK_SUFFIX ".lock"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

bool store_tree_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 200 || name[0] == '.')
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
			return false;
	return !ends_with(name, MANIFEST_SUFFIX) && !ends_with(name, LOCK_SUFFIX);
}

static int trees_dir(struct store *s, struct ckt_err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/trees", store_root(s));
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return ckt_err_sys(err, CKT_EIO, "create '%s'", dir);
	return 0;
}

char *store_tree_path(struct store *s, const char *name)
{
	assert(store_tree_name_valid(name));
	return xasprintf("%s/trees/%s", store_root(s), name);
}

bool store_tree_exists(struct store *s, const char *name)
{
	_cleanup_free_ char *dir = store_tree_path(s, name);
	_cleanup_free_ char *man = xasprintf("%s" MANIFEST_SUFFIX, dir);
	struct stat st;
	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && lstat(man, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

int store_tree_lock(struct store *s, const char *name, struct ckt_err *err)
{
	if (trees_dir(s, err) < 0)
		return -1;
	_cleanup_free_ char *path = xasprintf("%s/trees/%s" LOCK_SUFFIX, store_root(s), name);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "open lock '%s'", path);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return ckt_err_sys(err, CKT_EIO, "lock '%s'", path);
	return TAKE_FD(fd);
}

int store_tree_hold(const char *dir, struct ckt_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s" LOCK_SUFFIX, dir);
	return ckt_hold_dir(dir, path, err);
}

char *store_tree_tmpdir(struct store *s, const char *name, struct ckt_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/tmp/tree-%s-XXXXXX", store_root(s), name);
	if (!mkdtemp(path)) {
		ckt_err_sys(err, CKT_EIO, "create a directory in '%s/tmp'", store_root(s));
		return NULL;
	}
	if (chmod(path, 0755) < 0) {
		ckt_err_sys(err, CKT_EIO, "chmod '%s'", path);
		rmdir(path);
		return NULL;
	}
	return TAKE_PTR(path);
}

int store_tree_publish(struct store *s, const char *name, const char *tmpdir,
		       const void *manifest, size_t len, struct ckt_err *err)
{
	if (trees_dir(s, err) < 0)
		return -1;
	if (store_tree_exists(s, name))
		return ckt_err_fail(err, CKT_EINTERNAL, "tree '%s' is already published", name);
	_cleanup_free_ char *dir = store_tree_path(s, name);
	_cleanup_free_ char *man = xasprintf("%s" MANIFEST_SUFFIX, dir);
	/* A directory left by a crash between the two renames of an earlier
	 * publish has no manifest: it goes first. */
	if (store_rm_rf_at(AT_FDCWD, dir) < 0)
		return ckt_err_sys(err, CKT_EIO, "remove stale '%s'", dir);
	/* No fsync: a tree is a cache of its layers, not data of its own.
	 * Syncing thousands of files would cost more than the unpack; a tree
	 * damaged by a crash is found by fsck against its manifest. */
	_cleanup_free_ char *tmpman = xasprintf("%s/.manifest", tmpdir);
	_cleanup_close_ int fd = open(tmpman, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "create '%s'", tmpman);
	if (ckt_write_all(fd, manifest, len, err) < 0)
		return ckt_err_wrap(err, "publish tree '%s'", name);
	if (rename(tmpman, man) < 0)
		return ckt_err_sys(err, CKT_EIO, "rename '%s' to '%s'", tmpman, man);
	if (rename(tmpdir, dir) < 0) {
		int r = ckt_err_sys(err, CKT_EIO, "rename '%s' to '%s'", tmpdir, dir);
		unlink(man);
		return r;
	}
	return 0;
}

int store_tree_manifest(struct store *s, const char *name, char **out, size_t *len,
			struct ckt_err *err)
{
	_cleanup_free_ char *man = xasprintf("%s/trees/%s" MANIFEST_SUFFIX, store_root(s), name);
	return ckt_read_file(man, (size_t)1 << 30, out, len, err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_tree_list(struct store *s, char ***out, size_t *n, struct ckt_err *err)
{
	_cleanup_free_ char *trees = xasprintf("%s/trees", store_root(s));
	_cleanup_closedir_ DIR *d = opendir(trees);
	char **v = xcalloc(1, sizeof(*v));
	size_t nv = 0, alloc = 1;

	if (!d) {
		if (errno != ENOENT) {
			free(v);
			return ckt_err_sys(err, CKT_EIO, "open '%s'", trees);
		}
	} else {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' || ends_with(de->d_name, LOCK_SUFFIX))
				continue;
			_cleanup_free_ char *name = xstrdup(de->d_name);
			if (ends_with(name, MANIFEST_SUFFIX))
				name[strlen(name) - strlen(MANIFEST_SUFFIX)] = '\0';
			bool dup = false;
			for (size_t i = 0; i < nv && !dup; i++)
				dup = !strcmp(v[i], name);
			if (dup)
				continue;
			ALLOC_GROW(v, nv + 2, alloc);
			v[nv++] = TAKE_PTR(name);
			v[nv] = NULL;
		}
	}
	qsort(v, nv, sizeof(*v), cmp_str);
	if (n)
		*n = nv;
	*out = v;
	return 0;
}

int store_rm_rf_at(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == EACCES && fchmodat(dirfd, name, 0700, 0) == 0)
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700 &&
	    fchmod(fd, (st.st_mode & 07777) | 0700) < 0) {
		close(fd);
		return -1;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (store_rm_rf_at(fd, de->d_name) < 0) {
			r = -1;
			break;
		}
	}
	int e = errno;
	closedir(d);
	errno = e;
	if (r == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -1;
	return r;
}

int store_tree_remove(struct store *s, const char *name, struct ckt_err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/trees/%s", store_root(s), name);
	_cleanup_free_ char *man = xasprintf("%s" MANIFEST_SUFFIX, dir);
	_cleanup_free_ char *lock = xasprintf("%s" LOCK_SUFFIX, dir);
	/* manifest first: a half-removed tree is then never taken as present */
	if (unlink(man) < 0 && errno != ENOENT)
		return ckt_err_sys(err, CKT_EIO, "remove '%s'", man);
	if (store_rm_rf_at(AT_FDCWD, dir) < 0)
		return ckt_err_sys(err, CKT_EIO, "remove tree '%s'", dir);
	if (unlink(lock) < 0 && errno != ENOENT)
		return ckt_err_sys(err, CKT_EIO, "remove '%s'", lock);
	return 0;
}

int store_tree_gc(struct store *s, char *const *live, size_t *removed, struct ckt_err *err)
{
	_cleanup_strv_ char **names = NULL;
	size_t n = 0, gone = 0;

	if (store_tree_list(s, &names, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		bool keep = false;
		for (size_t j = 0; live && live[j] && !keep; j++)
			keep = !strcmp(live[j], names[i]);
		if (keep)
			continue;
		/* A running container holds its tree's lock shared
		 * (store_tree_hold); such a tree stays, named or not. */
		_cleanup_free_ char *lpath =
			xasprintf("%s/trees/%s" LOCK_SUFFIX, store_root(s), names[i]);
		_cleanup_close_ int lfd = open(lpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
			continue;
		if (store_tree_remove(s, names[i], err) < 0)
			return ckt_err_wrap(err, "gc");
		gone++;
	}
	if (removed)
		*removed = gone;
	return 0;
}
