/* Layer application (issue 4).  See layer.h for the semantics; the comments
 * here say why the code is shaped as it is.  Spec: OCI image-spec layer.md
 * ("Whiteouts", "Opaque Whiteout", "Hardlinks"). */
#include "libimg/layer.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "libimg/lazy_archive.h"
#include "libimg/safepath.h"
#include "store/tree.h"

CKT_DEFINE_CLEANUP(struct archive *, archive_read_free, img_archive_freep)
#define _cleanup_archive_ __attribute__((cleanup(img_archive_freep)))

/* ---- small string set / map (open addressing, FNV-1a) ----------------- */

struct smap {
	char **keys;
	size_t *vals;
	size_t cap, n;
};

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void smap_clear(struct smap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

static size_t *smap_find(const struct smap *m, const char *k)
{
	if (!m->cap)
		return NULL;
	for (size_t i = fnv(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->keys[i])
			return NULL;
		if (!strcmp(m->keys[i], k))
			return &m->vals[i];
	}
}

/* Insert k (copied) with value v unless present; returns the value slot. */
static size_t *smap_put(struct smap *m, const char *k, size_t v, bool *added)
{
	size_t *slot = smap_find(m, k);
	if (added)
		*added = !slot;
	if (slot)
		return slot;
	if ((m->n + 1) * 2 > m->cap) {
		struct smap old = *m;
		m->cap = old.cap ? old.cap * 2 : 64;
		m->keys = xcalloc(m->cap, sizeof(*m->keys));
		m->vals = xcalloc(m->cap, sizeof(*m->vals));
		m->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.keys[i]) {
				smap_put(m, old.keys[i], old.vals[i], NULL);
				free(old.keys[i]);
			}
		free(old.keys);
		free(old.vals);
	}
	size_t i = fnv(k) & (m->cap - 1);
	while (m->keys[i])
		i = (i + 1) & (m->cap - 1);
	m->keys[i] = xstrdup(k);
	m->vals[i] = v;
	m->n++;
	return &m->vals[i];
}

/* ---- the applier ------------------------------------------------------ */

struct dirfix {
	char *path;
	mode_t mode;
	struct timespec mtime;
	bool dead;	/* removed or replaced since */
};

/* The sha256 of a file the applier wrote, kept raw: trees have tens of
 * thousands of files, and a table of digest strings cost more in page
 * faults than the hashing. */
struct inode_digest {
	ino_t ino;
	bool used;
	unsigned char sha256[32];
};

struct img_apply {
	int rootfd;
	bool rootless;
	struct smap layer_set;	/* paths this layer created or touched */
	struct dirfix *dirs;
	size_t n_dirs, alloc_dirs;
	struct smap dir_idx;	/* path -> index in dirs */
	char *cache_path;	/* parent directory cache (one entry) */
	int cache_fd;
	struct inode_digest *inodes;	/* open addressing on ino */
	size_t inode_cap, n_inodes;
	struct store_hasher *hasher;
	bool warned_dev, warned_xattr;
	mode_t cmask;	/* the process umask (0777: unknown) */
	const char *label;
};

mode_t img_process_umask(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned m;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Umask: %o", &m) == 1)
			return (mode_t)(m & 0777);
	return 0777;
}

struct img_apply *img_apply_new(int rootfd, unsigned flags)
{
	struct img_apply *a = xcalloc(1, sizeof(*a));
	a->rootfd = rootfd;
	a->rootless = (flags & IMG_APPLY_ROOTLESS) || geteuid() != 0;
	/* "already warned" from the start: a quiet applier never warns */
	a->warned_dev = a->warned_xattr = (flags & IMG_APPLY_QUIET) != 0;
	a->cache_fd = -1;
	a->hasher = store_hasher_new(STORE_DIGEST_SHA256);
	a->cmask = img_process_umask();
	return a;
}

static void cache_drop(struct img_apply *a)
{
	if (a->cache_fd >= 0)
		close(a->cache_fd);
	a->cache_fd = -1;
	free(a->cache_path);
	a->cache_path = NULL;
}

void img_apply_free(struct img_apply *a)
{
	if (!a)
		return;
	cache_drop(a);
	smap_clear(&a->layer_set);
	smap_clear(&a->dir_idx);
	for (size_t i = 0; i < a->n_dirs; i++)
		free(a->dirs[i].path);
	free(a->dirs);
	free(a->inodes);
	store_hasher_free(a->hasher);
	free(a);
}

static int unhex(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* digest: "sha256:<64 lower-case hex>", as store_hasher_final() writes. */
static void inode_put(struct img_apply *a, ino_t ino, const char *digest)
{
	if ((a->n_inodes + 1) * 2 > a->inode_cap) {
		struct inode_digest *old = a->inodes;
		size_t oldcap = a->inode_cap;
		a->inode_cap = oldcap ? oldcap * 2 : 1024;
		a->inodes = xcalloc(a->inode_cap, sizeof(*a->inodes));
		a->n_inodes = 0;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].used) {
				size_t j = (size_t)(old[i].ino * 11400714819323198485ull) &
					   (a->inode_cap - 1);
				while (a->inodes[j].used)
					j = (j + 1) & (a->inode_cap - 1);
				a->inodes[j] = old[i];
				a->n_inodes++;
			}
		free(old);
	}
	size_t i = (size_t)(ino * 11400714819323198485ull) & (a->inode_cap - 1);
	while (a->inodes[i].used && a->inodes[i].ino != ino)
		i = (i + 1) & (a->inode_cap - 1);
	if (!a->inodes[i].used)
		a->n_inodes++;
	assert(!strncmp(digest, "sha256:", 7) && strlen(digest) == 7 + 64);
	a->inodes[i].ino = ino;
	a->inodes[i].used = true;
	for (size_t k = 0; k < 32; k++)
		a->inodes[i].sha256[k] =
			(unsigned char)(unhex(digest[7 + 2 * k]) << 4 | unhex(digest[8 + 2 * k]));
}

bool img_apply_file_digest(const struct img_apply *a, ino_t ino, char out[STORE_DIGEST_MAX])
{
	static const char hex[] = "0123456789abcdef";
	if (!a->inode_cap)
		return false;
	size_t i = (size_t)(ino * 11400714819323198485ull) & (a->inode_cap - 1);
	for (; a->inodes[i].used; i = (i + 1) & (a->inode_cap - 1))
		if (a->inodes[i].ino == ino) {
			memcpy(out, "sha256:", 7);
			for (size_t k = 0; k < 32; k++) {
				out[7 + 2 * k] = hex[a->inodes[i].sha256[k] >> 4];
				out[8 + 2 * k] = hex[a->inodes[i].sha256[k] & 15];
			}
			out[7 + 64] = '\0';
			return true;
		}
	return false;
}

/* ---- rootless ownership xattr ------------------------------------------ */

static size_t put_varint(unsigned char *p, uint32_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

/* proto3 leaves fields holding their default (0) out, as umoci's encoder. */
size_t img_rootless_encode(uint32_t uid, uint32_t gid, unsigned char buf[12])
{
	size_t n = 0;
	if (uid) {
		buf[n++] = 0x08;
		n += put_varint(buf + n, uid);
	}
	if (gid) {
		buf[n++] = 0x10;
		n += put_varint(buf + n, gid);
	}
	return n;
}

int img_rootless_decode(const void *buf, size_t len, uint32_t *uid, uint32_t *gid)
{
	const unsigned char *p = buf, *end = p + len;
	*uid = *gid = 0;
	while (p < end) {
		unsigned key = *p++;
		uint64_t v = 0;
		int shift = 0;
		if ((key & 7) != 0)
			return -1;	/* only varint fields are defined */
		do {
			if (p >= end || shift > 35)
				return -1;
			v |= (uint64_t)(*p & 0x7f) << shift;
			shift += 7;
		} while (*p++ & 0x80);
		if (v > UINT32_MAX)
			return -1;
		if (key >> 3 == 1)
			*uid = (uint32_t)v;
		else if (key >> 3 == 2)
			*gid = (uint32_t)v;
	}
	return 0;
}

/* ---- removal and bookkeeping ------------------------------------------- */

/* A directory removed: its pending fix-ups and the parent cache go stale. */
static void forget_dir(struct img_apply *a, const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < a->n_dirs; i++) {
		const char *p = a->dirs[i].path;
		if (!strncmp(p, path, n) && (p[n] == '\0' || p[n] == '/' || n == 0))
			a->dirs[i].dead = true;
	}
	cache_drop(a);
}

static int remove_entry(struct img_apply *a, int pfd, const char *path, const char *base,
			bool isdir, struct ckt_err *err)
{
	/* pfd may be the cached parent: remove first, then drop the cache */
	if (store_rm_rf_at(pfd, base) < 0)
		return ckt_err_sys(err, CKT_EIO, "remove '%s'", path);
	if (isdir)
		forget_dir(a, path);
	return 0;
}

/* Add path and every parent of it to this layer's set. */
static void mark_layer(struct img_apply *a, const char *path)
{
	_cleanup_free_ char *p = xstrdup(path);
	for (;;) {
		bool added;
		smap_put(&a->layer_set, p, 1, &added);
		if (!added)
			return;	/* its parents are in already */
		char *slash = strrchr(p, '/');
		if (!slash)
			return;
		*slash = '\0';
	}
}

static bool in_layer(const struct img_apply *a, const char *path)
{
	return smap_find(&a->layer_set, path) != NULL;
}

static int dirfix_put(struct img_apply *a, const char *path, mode_t mode,
		      const struct timespec *mtime)
{
	bool added;
	size_t *slot = smap_put(&a->dir_idx, path, a->n_dirs, &added);
	if (added) {
		ALLOC_GROW(a->dirs, a->n_dirs + 1, a->alloc_dirs);
		a->dirs[a->n_dirs++] = (struct dirfix){ .path = xstrdup(path) };
	}
	struct dirfix *f = &a->dirs[*slot];
	f->mode = mode & 07777;
	f->mtime = *mtime;
	f->dead = false;
	return 0;
}

/* ---- name resolution ----------------------------------------------------- */

static int refuse_errno(struct ckt_err *err, int e, const char *entry, const char *what)
{
	if (e == EXDEV || e == ELOOP)
		return ckt_err_failw(err, CKT_EFORMAT,
				     "it leads outside the root through a symlink",
				     "refuse entry '%s': %s", entry, what);
	if (e == ENOTDIR)
		return ckt_err_failw(err, CKT_EFORMAT, "a parent is not a directory",
				     "refuse entry '%s': %s", entry, what);
	return ckt_err_errno(err, CKT_EIO, e, "entry '%s': %s", entry, what);
}

static void created_dir(const char *rel, void *data)
{
	(void)rel, (void)data;
}

/* The directory fd for parent (borrowed from the cache; do not close),
 * created with its missing parents when create. */
static int parent_fd(struct img_apply *a, const char *parent, const char *entry, bool create,
		     struct ckt_err *err)
{
	if (a->cache_path && !strcmp(a->cache_path, parent))
		return a->cache_fd;
	cache_drop(a);
	int fd = create ? img_sp_mkdir_p(a->rootfd, parent, 0755, created_dir, a)
			: img_sp_open_dir(a->rootfd, parent);
	if (fd < 0) {
		if (!create && errno == ENOENT)
			return -2;
		return refuse_errno(err, errno, entry, "cannot open its parent directory");
	}
	a->cache_fd = fd;
	a->cache_path = xstrdup(parent);
	return fd;
}

static void split(const char *path, char **parent, const char **base)
{
	const char *slash = strrchr(path, '/');
	*parent = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
	*base = slash ? slash + 1 : path;
}

/* ---- whiteouts ---------------------------------------------------------- */

/* Remove everything under the open directory dfd (path dpath) that this
 * layer did not put there (layer.md: whiteouts hide lower layers only). */
static int make_opaque(struct img_apply *a, int dfd, const char *dpath, struct ckt_err *err)
{
	int fd = dup(dfd);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "open '%s'", dpath);
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return ckt_err_sys(err, CKT_EIO, "open '%s'", dpath);
	}
	rewinddir(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		_cleanup_free_ char *cpath =
			*dpath ? xasprintf("%s/%s", dpath, de->d_name) : xstrdup(de->d_name);
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return ckt_err_sys(err, CKT_EIO, "stat '%s'", cpath);
		if (!in_layer(a, cpath)) {
			if (remove_entry(a, dirfd(d), cpath, de->d_name, S_ISDIR(st.st_mode), err) < 0)
				return -1;
		} else if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int cfd = openat(dirfd(d), de->d_name,
							 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0)
				return ckt_err_sys(err, CKT_EIO, "open '%s'", cpath);
			if (make_opaque(a, cfd, cpath, err) < 0)
				return -1;
		}
	}
	return 0;
}

static int whiteout(struct img_apply *a, const char *entry, const char *parent, const char *name,
		    struct ckt_err *err)
{
	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return ckt_err_failw(err, CKT_EFORMAT, "a whiteout must name an entry of its directory",
				     "refuse entry '%s'", entry);
	_cleanup_free_ char *path = *parent ? xasprintf("%s/%s", parent, name) : xstrdup(name);
	int pfd = parent_fd(a, parent, entry, false, err);
	if (pfd == -2)
		return 0;	/* nothing there to hide */
	if (pfd < 0)
		return -1;
	struct stat st;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : ckt_err_sys(err, CKT_EIO, "stat '%s'", path);
	if (in_layer(a, path)) {
		/* Deleted and re-created in this layer: only the lower layers'
		 * contents go. */
		if (!S_ISDIR(st.st_mode))
			return 0;
		_cleanup_close_ int dfd =
			openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			return ckt_err_sys(err, CKT_EIO, "open '%s'", path);
		return make_opaque(a, dfd, path, err);
	}
	return remove_entry(a, pfd, path, name, S_ISDIR(st.st_mode), err);
}

static int opaque(struct img_apply *a, const char *entry, const char *dir, struct ckt_err *err)
{
	mark_layer(a, dir);
	int pfd = parent_fd(a, dir, entry, true, err);
	if (pfd < 0)
		return -1;
	int r = make_opaque(a, pfd, dir, err);
	cache_drop(a);
	return r;
}

/* ---- metadata ----------------------------------------------------------- */

static void warn_xattr(struct img_apply *a, const char *entry, const char *name, int e)
{
	if (a->warned_xattr)
		return;
	a->warned_xattr = true;
	ckt_warn("layer %s: cannot set xattr '%s' on '%s' (%s); such xattrs are skipped",
		 a->label, name, entry, strerror(e));
}

/* xattrs of a regular file or directory, through its fd. */
static int set_xattrs(struct img_apply *a, struct archive_entry *e, int fd, const char *entry,
		      struct ckt_err *err)
{
	const char *name;
	const void *value;
	size_t size;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (a->rootless && strncmp(name, "user.", 5)) {
			warn_xattr(a, entry, name, EPERM);
			continue;
		}
		if (fsetxattr(fd, name, value, size, 0) < 0) {
			if (errno == EOPNOTSUPP || errno == EPERM || errno == EACCES) {
				warn_xattr(a, entry, name, errno);
				continue;
			}
			return ckt_err_sys(err, CKT_EIO, "entry '%s': set xattr '%s'", entry, name);
		}
	}
	if (a->rootless) {
		unsigned char buf[12];
		size_t n = img_rootless_encode((uint32_t)archive_entry_uid(e),
					       (uint32_t)archive_entry_gid(e), buf);
		if (n && fsetxattr(fd, IMG_ROOTLESS_XATTR, buf, n, 0) < 0) {
			if (errno != EOPNOTSUPP)
				return ckt_err_sys(err, CKT_EIO, "entry '%s': set xattr '%s'", entry,
						   IMG_ROOTLESS_XATTR);
			warn_xattr(a, entry, IMG_ROOTLESS_XATTR, errno);
		}
	}
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		ts[0] = ts[1];
	}
}

/* Owner, mode, xattrs and times of a regular file or directory through fd.
 * chown comes before chmod (it clears setuid/setgid) and before the xattrs
 * (it clears security.capability). */
static int fd_metadata(struct img_apply *a, struct archive_entry *e, int fd, const char *entry,
		       bool isdir, bool mode_set, struct ckt_err *err)
{
	mode_t mode = archive_entry_perm(e) & 07777;
	if (!a->rootless &&
	    fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
		return ckt_err_sys(err, CKT_EIO, "entry '%s': chown", entry);
	if (!mode_set && fchmod(fd, (isdir && a->rootless) ? (mode | 0700) : mode) < 0)
		return ckt_err_sys(err, CKT_EIO, "entry '%s': chmod", entry);
	if (set_xattrs(a, e, fd, entry, err) < 0)
		return -1;
	if (!isdir) {
		struct timespec ts[2];
		entry_times(e, ts);
		if (futimens(fd, ts) < 0)
			return ckt_err_sys(err, CKT_EIO, "entry '%s': set times", entry);
	}
	return 0;
}

/* Metadata of a node that cannot be opened safely (symlink, device, fifo),
 * by name in its trusted parent. */
static int at_metadata(struct img_apply *a, struct archive_entry *e, int pfd, const char *base,
		       const char *entry, bool is_link, struct ckt_err *err)
{
	if (!a->rootless && fchownat(pfd, base, (uid_t)archive_entry_uid(e),
				     (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return ckt_err_sys(err, CKT_EIO, "entry '%s': chown", entry);
	/* base was just created by us as a non-symlink, so fchmodat's
	 * following of a final symlink cannot happen. */
	if (!is_link && fchmodat(pfd, base, archive_entry_perm(e) & 07777, 0) < 0)
		return ckt_err_sys(err, CKT_EIO, "entry '%s': chmod", entry);
	struct timespec ts[2];
	entry_times(e, ts);
	if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return ckt_err_sys(err, CKT_EIO, "entry '%s': set times", entry);
	return 0;
}

/* ---- entries --------------------------------------------------------------- */

static int write_data(struct img_apply *a, struct archive *ar, int fd, const char *entry,
		      struct ckt_err *err)
{
	const void *buf;
	size_t size;
	la_int64_t offset, pos = 0;
	int r;

	while ((r = archive_read_data_block(ar, &buf, &size, &offset)) == ARCHIVE_OK) {
		if (offset != pos) {
			/* sparse entry: a hole, which reads as zeros */
			static const char zeros[4096];
			if (offset < pos)
				return ckt_err_failw(err, CKT_EFORMAT, "sparse map goes backwards",
						     "entry '%s'", entry);
			if (lseek(fd, offset, SEEK_SET) < 0)
				return ckt_err_sys(err, CKT_EIO, "entry '%s': seek", entry);
			for (la_int64_t z = pos; z < offset;) {
				size_t n = (size_t)(offset - z) < sizeof(zeros) ? (size_t)(offset - z)
										: sizeof(zeros);
				store_hasher_update(a->hasher, zeros, n);
				z += (la_int64_t)n;
			}
			pos = offset;
		}
		if (ckt_write_all(fd, buf, size, err) < 0)
			return ckt_err_wrap(err, "entry '%s'", entry);
		store_hasher_update(a->hasher, buf, size);
		pos += (la_int64_t)size;
	}
	if (r != ARCHIVE_EOF)
		return ckt_err_failw(err, CKT_EFORMAT, archive_error_string(ar),
				     "read data of entry '%s'", entry);
	return 0;
}

/* Returns 1 (err untouched) when base exists. */
static int make_file(struct img_apply *a, struct archive *ar, struct archive_entry *e, int pfd,
		     const char *base, const char *entry, struct ckt_err *err)
{
	/* Created with its permissions, which stand unless the umask takes
	 * some away or there are setuid/setgid/sticky bits (fchown clears
	 * the first two): then fd_metadata() chmods. */
	mode_t mode = archive_entry_perm(e) & 07777;
	bool mode_set = !(mode & a->cmask) && !(mode & 07000);
	_cleanup_close_ int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					mode_set ? mode : 0600);
	if (fd < 0 && errno == EEXIST)
		return 1;
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "entry '%s': create", entry);
	if (write_data(a, ar, fd, entry, err) < 0)
		return -1;
	la_int64_t size = archive_entry_size(e);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ckt_err_sys(err, CKT_EIO, "entry '%s': stat", entry);
	if (archive_entry_size_is_set(e) && st.st_size < size) {
		/* a trailing hole: a sparse file's last region */
		static const char zeros[4096];
		for (la_int64_t z = st.st_size; z < size;) {
			size_t n = (size_t)(size - z) < sizeof(zeros) ? (size_t)(size - z) : sizeof(zeros);
			store_hasher_update(a->hasher, zeros, n);
			z += (la_int64_t)n;
		}
		if (ftruncate(fd, size) < 0)
			return ckt_err_sys(err, CKT_EIO, "entry '%s': truncate", entry);
	}
	char digest[STORE_DIGEST_MAX];
	store_hasher_final(a->hasher, digest);
	inode_put(a, st.st_ino, digest);
	return fd_metadata(a, e, fd, entry, false, mode_set, err);
}

static int make_dir(struct img_apply *a, struct archive_entry *e, int pfd, const char *base,
		    const char *path, bool exists, struct ckt_err *err)
{
	if (!exists && mkdirat(pfd, base, 0700) < 0)
		return errno == EEXIST ? 1 : ckt_err_sys(err, CKT_EIO, "entry '%s': mkdir", path);
	_cleanup_close_ int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "entry '%s': open", path);
	if (fd_metadata(a, e, fd, path, true, false, err) < 0)
		return -1;
	struct timespec ts[2];
	entry_times(e, ts);
	return dirfix_put(a, path, archive_entry_perm(e), &ts[1]);
}

static int make_hardlink(struct img_apply *a, struct archive_entry *e, int pfd, const char *base,
			 const char *entry, struct ckt_err *err)
{
	_cleanup_free_ char *target = NULL;
	_cleanup_free_ char *tparent = NULL;
	const char *tbase;

	if (img_sp_clean_name(archive_entry_hardlink(e), &target, err) < 0)
		return ckt_err_wrap(err, "hard link '%s'", entry);
	if (!*target)
		return ckt_err_failw(err, CKT_EFORMAT, "it names the root",
				     "refuse hard link '%s'", entry);
	split(target, &tparent, &tbase);
	_cleanup_close_ int tfd = img_sp_open_dir(a->rootfd, tparent);
	if (tfd < 0) {
		if (errno == ENOENT)
			return ckt_err_failw(err, CKT_EFORMAT, "its target does not exist",
					     "refuse hard link '%s' to '%s'", entry, target);
		return refuse_errno(err, errno, entry, "hard link target");
	}
	struct stat st;
	if (fstatat(tfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ckt_err_failw(err, CKT_EFORMAT, "its target does not exist",
				     "refuse hard link '%s' to '%s'", entry, target);
	if (S_ISDIR(st.st_mode))
		return ckt_err_failw(err, CKT_EFORMAT, "its target is a directory",
				     "refuse hard link '%s' to '%s'", entry, target);
	if (linkat(tfd, tbase, pfd, base, 0) < 0)
		return errno == EEXIST ? 1
				       : ckt_err_sys(err, CKT_EIO, "hard link '%s' to '%s'", entry,
						     target);
	return 0;
}

/* Create base in pfd for entry e (raw: its name in the layer, path: clean)
 * with its metadata; exists: a directory entry meets a directory.  Returns 1
 * (err untouched) when base is taken. */
static int create_node(struct img_apply *a, struct archive *ar, struct archive_entry *e, int pfd,
		       const char *base, const char *raw, const char *path, bool exists,
		       struct ckt_err *err)
{
	mode_t type = archive_entry_filetype(e);
	if (archive_entry_hardlink(e))
		return make_hardlink(a, e, pfd, base, raw, err);
	switch (type) {
	case AE_IFREG:
		return make_file(a, ar, e, pfd, base, raw, err);
	case AE_IFDIR:
		return make_dir(a, e, pfd, base, path, exists, err);
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);
		if (!target)
			return ckt_err_fail(err, CKT_EFORMAT, "symlink '%s' without a target", raw);
		/* A symlink itself is harmless: it is never followed out of
		 * the root, since every lookup goes through safepath. */
		if (symlinkat(target, pfd, base) < 0)
			return errno == EEXIST ? 1
					       : ckt_err_sys(err, CKT_EIO, "entry '%s': symlink", raw);
		return at_metadata(a, e, pfd, base, raw, true, err);
	}
	case AE_IFCHR:
	case AE_IFBLK:
		if (a->rootless) {
			if (!a->warned_dev)
				ckt_warn("layer %s: skipping device node '%s' and any other "
					 "(creating device nodes needs root)",
					 a->label, raw);
			a->warned_dev = true;
			return 0;
		}
		if (mknodat(pfd, base, (type == AE_IFCHR ? S_IFCHR : S_IFBLK) | 0600,
			    makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e))) < 0)
			return errno == EEXIST ? 1
					       : ckt_err_sys(err, CKT_EIO, "entry '%s': mknod", raw);
		return at_metadata(a, e, pfd, base, raw, false, err);
	case AE_IFIFO:
		if (mkfifoat(pfd, base, 0600) < 0)
			return errno == EEXIST ? 1
					       : ckt_err_sys(err, CKT_EIO, "entry '%s': mkfifo", raw);
		return at_metadata(a, e, pfd, base, raw, false, err);
	default:
		ckt_debug("layer %s: skipping '%s' of type 0%o", a->label, raw, (unsigned)type);
		return 0;
	}
}

static int apply_entry(struct img_apply *a, struct archive *ar, struct archive_entry *e,
		       struct ckt_err *err)
{
	const char *raw = archive_entry_pathname(e);
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *parent = NULL;
	const char *base;

	if (!raw)
		return ckt_err_fail(err, CKT_EFORMAT, "entry with an unreadable name");
	if (img_sp_clean_name(raw, &path, err) < 0)
		return -1;
	mode_t type = archive_entry_filetype(e);
	const char *hardlink = archive_entry_hardlink(e);

	if (!*path) {
		/* "./": the root directory's own metadata */
		if (type != AE_IFDIR || hardlink)
			return ckt_err_failw(err, CKT_EFORMAT, "the root must be a directory",
					     "refuse entry '%s'", raw);
		if (fd_metadata(a, e, a->rootfd, raw, true, false, err) < 0)
			return -1;
		struct timespec ts[2];
		entry_times(e, ts);
		return dirfix_put(a, "", archive_entry_perm(e), &ts[1]);
	}
	split(path, &parent, &base);
	if (!strncmp(base, ".wh.", 4)) {
		if (!strcmp(base, ".wh..wh..opq"))
			return opaque(a, raw, parent, err);
		return whiteout(a, raw, parent, base + 4, err);
	}

	mark_layer(a, path);
	int pfd = parent_fd(a, parent, raw, true, err);
	if (pfd < 0)
		return -1;

	/* Create first: only a name that is taken costs a stat, then a
	 * removal (unless a directory meets a directory) and a second try.
	 * Entries that may be skipped (device nodes unprivileged, unknown
	 * types) check first, since they still replace what is there. */
	bool may_skip = !hardlink && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK &&
			type != AE_IFIFO &&
			!((type == AE_IFCHR || type == AE_IFBLK) && !a->rootless);
	if (!may_skip) {
		int r = create_node(a, ar, e, pfd, base, raw, path, false, err);
		if (r != 1)
			return r;
	}
	struct stat st;
	bool exists = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT)
		return ckt_err_sys(err, CKT_EIO, "entry '%s': stat", raw);
	bool newdir = type == AE_IFDIR && !hardlink;
	if (exists && !(newdir && S_ISDIR(st.st_mode))) {
		if (remove_entry(a, pfd, path, base, S_ISDIR(st.st_mode), err) < 0)
			return -1;
		exists = false;
		/* remove_entry may have dropped the cache: reopen */
		pfd = parent_fd(a, parent, raw, true, err);
		if (pfd < 0)
			return -1;
	}
	int r = create_node(a, ar, e, pfd, base, raw, path, exists, err);
	if (r == 1)
		return ckt_err_errno(err, CKT_EIO, EEXIST, "entry '%s': create", raw);
	return r;
}

/* ---- the decompressing producer thread ---------------------------------- */

#define QBUFS 4
#define QBUF_SIZE (1u << 20)

long img_apply_inline_max = IMG_APPLY_INLINE_MAX;

struct decoder;

/* The decompressed stream, read by up to IMG_APPLY_TEE_MAX consumers (one
 * per tree being written).  Buffer k lives in slot k % QBUFS; it may be
 * overwritten once every attached consumer has released it. */
struct stream {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *buf[QBUFS];
	size_t len[QBUFS];
	uint64_t written;			/* buffers filled */
	uint64_t next[IMG_APPLY_TEE_MAX];	/* per consumer: next buffer to take */
	uint64_t done[IMG_APPLY_TEE_MAX];	/* per consumer: buffers < done released */
	bool detached[IMG_APPLY_TEE_MAX];	/* consumer finished or failed */
	size_t n_consumers;
	int first_failed;			/* consumer that failed first, or -1 */
	struct decoder *inline_dec;		/* tiny layers: decoded by the reader */
	size_t chunk;				/* bytes the producer decodes at a time */
	bool eof, stop, failed;
	int fd;
	enum img_compression comp;
	struct store_hasher *hasher;
	struct ckt_err err;
	const char *label;
};

/* Buffers every attached consumer has released (called with mu held). */
static uint64_t released(const struct stream *s)
{
	uint64_t min = UINT64_MAX;
	for (size_t c = 0; c < s->n_consumers; c++)
		if (!s->detached[c] && s->done[c] < min)
			min = s->done[c];
	return min;
}

/* Fill buf with up to cap decompressed bytes; 0 at the end. */
typedef ssize_t (*fill_fn)(void *st, char *buf, size_t cap, struct ckt_err *err);

/* Up to cap bytes of the layer blob; 0 at its end. */
static ssize_t read_layer(struct stream *s, void *buf, size_t cap, struct ckt_err *err)
{
	for (;;) {
		ssize_t n = read(s->fd, buf, cap);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return ckt_err_sys(err, CKT_EIO, "read layer");
	}
}

static ssize_t fill_raw(void *p, char *buf, size_t cap, struct ckt_err *err)
{
	return read_layer(p, buf, cap, err);
}

/* gzip through ISA-L's inflate rather than libarchive's filter (zlib): it
 * decodes twice as fast (busybox's 2 MB: 3.6 ms against 7.7), which is most
 * of a small image's unpack, and the producer thread can start decoding
 * while the consumer is still loading libarchive for the tar format.  The
 * header and the CRC-32 and length trailer are checked.  A layer may be
 * several gzip members one after the other (as `cat a.gz b.gz`); anything
 * else after a member is an error, as for docker. */
#define GZ_IN_SIZE (128u << 10)

struct gz_state {
	struct stream *s;
	struct inflate_state *st;
	unsigned char *in;
	bool in_eof, member_end;
};

static const char *isal_error(int r)
{
	switch (r) {
	case ISAL_INVALID_WRAPPER:
		return "not in gzip format";
	case ISAL_UNSUPPORTED_METHOD:
		return "unknown compression method";
	case ISAL_INCORRECT_CHECKSUM:
		return "gzip checksum mismatch";
	case ISAL_NEED_DICT:
		return "the stream needs a preset dictionary";
	default:
		return "invalid compressed data";
	}
}

static ssize_t fill_gzip(void *p, char *buf, size_t cap, struct ckt_err *err)
{
	struct gz_state *g = p;
	struct inflate_state *st = g->st;
	st->next_out = (uint8_t *)buf;
	st->avail_out = (uint32_t)cap;
	while (st->avail_out) {
		if (!st->avail_in) {
			if (g->in_eof)
				break;
			ssize_t n = read_layer(g->s, g->in, GZ_IN_SIZE, err);
			if (n < 0)
				return -1;
			if (n == 0) {
				g->in_eof = true;
				break;
			}
			st->next_in = g->in;
			st->avail_in = (uint32_t)n;
		}
		if (g->member_end) {
			/* more input: the next member's header must follow */
			isal_inflate_reset(st);
			st->crc_flag = ISAL_GZIP;
			g->member_end = false;
		}
		uint32_t in0 = st->avail_in, out0 = st->avail_out;
		int r = isal_inflate(st);
		if (r < 0 || r == ISAL_NEED_DICT)
			return ckt_err_failw(err, CKT_EFORMAT, isal_error(r), "decompress gzip layer");
		if (st->block_state == ISAL_BLOCK_FINISH)
			g->member_end = true;
		else if (st->avail_in == in0 && st->avail_out == out0 && st->avail_in)
			return ckt_err_failw(err, CKT_EFORMAT, "no progress",
					     "decompress gzip layer");
	}
	size_t got = cap - st->avail_out;
	if (!got && g->in_eof && !g->member_end)
		return ckt_err_failw(err, CKT_EFORMAT, "truncated gzip input",
				     "decompress gzip layer");
	return (ssize_t)got;
}

struct zs_state {
	struct stream *s;
	ZSTD_DCtx *dctx;
	char *in;
	ZSTD_inBuffer ib;
	size_t last;	/* last ZSTD_decompressStream return: 0 at a frame end */
	bool in_eof;
};

static ssize_t fill_zstd(void *p, char *buf, size_t cap, struct ckt_err *err)
{
	struct zs_state *z = p;
	ZSTD_outBuffer ob = { buf, cap, 0 };
	while (ob.pos < ob.size) {
		if (z->ib.pos == z->ib.size) {
			if (z->in_eof)
				break;
			ssize_t n = read_layer(z->s, z->in, ZSTD_DStreamInSize(), err);
			if (n < 0)
				return -1;
			if (n == 0) {
				z->in_eof = true;
				break;
			}
			z->ib = (ZSTD_inBuffer){ z->in, (size_t)n, 0 };
		}
		size_t r = ZSTD_decompressStream(z->dctx, &ob, &z->ib);
		if (ZSTD_isError(r))
			return ckt_err_failw(err, CKT_EFORMAT, ZSTD_getErrorName(r),
					     "decompress zstd layer");
		z->last = r;
	}
	if (ob.pos == 0 && z->in_eof && z->last != 0)
		return ckt_err_failw(err, CKT_EFORMAT, "truncated zstd stream",
				     "decompress zstd layer");
	return (ssize_t)ob.pos;
}

/* The decompressor of a stream: what fills its buffers. */
struct decoder {
	fill_fn fill;
	void *state;
	struct gz_state gz;
	struct zs_state zs;
};

static int decoder_open(struct stream *s, struct decoder *d, struct ckt_err *err)
{
	*d = (struct decoder){ .fill = fill_raw, .state = s };
	d->gz.s = s;
	d->zs.s = s;
	if (s->comp == IMG_COMPRESS_GZIP) {
		d->fill = fill_gzip;
		d->state = &d->gz;
		d->gz.st = xmalloc(sizeof(*d->gz.st));
		isal_inflate_init(d->gz.st);
		d->gz.st->crc_flag = ISAL_GZIP;
		d->gz.in = xmalloc(GZ_IN_SIZE);
	} else if (s->comp == IMG_COMPRESS_ZSTD) {
		d->zs.dctx = ZSTD_createDCtx();
		if (!d->zs.dctx)
			return ckt_err_fail(err, CKT_ENOMEM, "initialise zstd");
		ZSTD_DCtx_setParameter(d->zs.dctx, ZSTD_d_windowLogMax, IMG_ZSTD_WINDOW_LOG_MAX);
		d->zs.in = xmalloc(ZSTD_DStreamInSize());
		d->fill = fill_zstd;
		d->state = &d->zs;
	}
	return 0;
}

static void decoder_close(struct decoder *d)
{
	free(d->gz.st);
	free(d->gz.in);
	if (d->zs.dctx)
		ZSTD_freeDCtx(d->zs.dctx);
	free(d->zs.in);
	d->gz.st = NULL;
	d->gz.in = NULL;
	d->zs.dctx = NULL;
	d->zs.in = NULL;
}

static void *producer(void *p)
{
	struct stream *s = p;
	struct decoder d;
	struct ckt_err err = CKT_ERR_INIT;
	int r = decoder_open(s, &d, &err);

	while (r == 0) {
		pthread_mutex_lock(&s->mu);
		/* a consumer holds the buffer it took last until its next read */
		uint64_t min;
		while (!s->stop && (min = released(s)) != UINT64_MAX && s->written - min >= QBUFS)
			pthread_cond_wait(&s->cv, &s->mu);
		int slot = (int)(s->written % QBUFS);
		bool stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		ssize_t n = d.fill(d.state, s->buf[slot], s->chunk, &err);
		if (n < 0) {
			r = -1;
			break;
		}
		pthread_mutex_lock(&s->mu);
		if (n == 0) {
			s->eof = true;
		} else {
			s->len[slot] = (size_t)n;
			s->written++;
		}
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		if (n == 0)
			break;
	}
	decoder_close(&d);
	pthread_mutex_lock(&s->mu);
	if (r < 0) {
		s->failed = true;
		s->err = err;
	}
	s->eof = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

struct reader {
	struct stream *s;
	size_t c;
};

static la_ssize_t stream_read(struct archive *ar, void *p, const void **out)
{
	struct reader *rd = p;
	struct stream *s = rd->s;
	size_t c = rd->c;
	if (s->inline_dec) {
		/* no threads: decode in the reader's own time */
		if (s->eof || s->failed) {
			if (s->failed && ar)
				archive_set_error(ar, EIO, "layer stream failed");
			return s->failed ? -1 : 0;
		}
		ssize_t n = s->inline_dec->fill(s->inline_dec->state, s->buf[0], QBUF_SIZE, &s->err);
		if (n < 0) {
			s->failed = true;
			if (ar)
				archive_set_error(ar, EIO, "layer stream failed");
			return -1;
		}
		store_hasher_update(s->hasher, s->buf[0], (size_t)n);
		s->eof = n == 0;
		*out = s->buf[0];
		return (la_ssize_t)n;
	}
	pthread_mutex_lock(&s->mu);
	s->done[c] = s->next[c];	/* the buffer taken last is released */
	pthread_cond_broadcast(&s->cv);
	while (s->next[c] == s->written && !s->eof && !s->stop)
		pthread_cond_wait(&s->cv, &s->mu);
	if (s->next[c] == s->written || s->stop) {
		bool failed = s->failed || s->stop;
		pthread_mutex_unlock(&s->mu);
		if (failed) {
			if (ar)
				archive_set_error(ar, EIO, "layer stream failed");
			return -1;
		}
		return 0;
	}
	int slot = (int)(s->next[c]++ % QBUFS);
	size_t n = s->len[slot];
	pthread_mutex_unlock(&s->mu);
	/* The first consumer hashes (it reads every buffer): the producer's
	 * decoding is what the others wait for. */
	if (c == 0)
		store_hasher_update(s->hasher, s->buf[slot], n);
	*out = s->buf[slot];
	return (la_ssize_t)n;
}

static void stream_detach(struct stream *s, size_t c, bool abort)
{
	pthread_mutex_lock(&s->mu);
	s->detached[c] = true;
	if (abort && s->first_failed < 0)
		s->first_failed = (int)c;
	if (abort)
		s->stop = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* ---- one layer -------------------------------------------------------------- */

static int apply_tar(struct img_apply *a, struct reader *rd, struct ckt_err *err)
{
	_cleanup_archive_ struct archive *ar = archive_read_new();
	struct archive_entry *e;
	int r;

	archive_read_support_format_tar(ar);
	archive_read_support_format_empty(ar);
	if (archive_read_open(ar, rd, NULL, stream_read, NULL) != ARCHIVE_OK)
		return ckt_err_failw(err, CKT_EFORMAT, archive_error_string(ar), "read tar");
	while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (apply_entry(a, ar, e, err) < 0)
			return -1;
	}
	if (r != ARCHIVE_EOF)
		return ckt_err_failw(err, CKT_EFORMAT, archive_error_string(ar), "read tar");
	/* Drain what follows the end-of-archive blocks so the digest covers
	 * the whole stream. */
	const void *buf;
	la_ssize_t n;
	while ((n = stream_read(NULL, rd, &buf)) > 0)
		;
	if (n < 0)
		return ckt_err_fail(err, CKT_EFORMAT, "read tar");
	return 0;
}

struct consumer {
	pthread_t thread;
	struct img_apply *a;
	struct reader rd;
	struct ckt_err err;
	int r;
};

static void *consume(void *p)
{
	struct consumer *k = p;
	k->r = apply_tar(k->a, &k->rd, &k->err);
	stream_detach(k->rd.s, k->rd.c, k->r < 0);
	return NULL;
}

int img_apply_layer_tee(struct img_apply **as, size_t n, int fd, enum img_compression comp,
			const char *diff_id, const char *label, struct ckt_err *err)
{
	enum store_digest_alg alg = STORE_DIGEST_SHA256;
	const char *hex;
	unsigned char magic[4];

	assert(n >= 1 && n <= IMG_APPLY_TEE_MAX);
	if (diff_id && store_digest_parse(diff_id, &alg, &hex, err) < 0)
		return ckt_err_wrap(err, "layer %s: diff_id", label);
	ssize_t m = pread(fd, magic, sizeof(magic), lseek(fd, 0, SEEK_CUR));
	if (m < 0)
		return ckt_err_sys(err, CKT_EIO, "read layer %s", label);
	/* The magic bytes decide: media types lie (docker-archive layers
	 * are plain tars whatever the manifest says). */
	(void)comp;
	comp = img_sniff_compression(magic, (size_t)m);

	struct stream s = {
		.fd = fd, .comp = comp, .label = label, .n_consumers = n, .first_failed = -1
	};
	struct consumer ks[IMG_APPLY_TEE_MAX] = { 0 };
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	for (int i = 0; i < QBUFS; i++)
		s.buf[i] = xmalloc(QBUF_SIZE);
	s.hasher = store_hasher_new(alg);

	for (size_t c = 0; c < n; c++) {
		smap_clear(&as[c]->layer_set);
		cache_drop(as[c]);
		as[c]->label = label;
		ks[c] = (struct consumer){ .a = as[c], .rd = { &s, c }, .err = CKT_ERR_INIT };
	}
	/* A tiny layer is not worth a thread; a small one is handed over in
	 * small chunks, so its decoding and writing overlap. */
	struct stat st;
	struct decoder dec;
	int r;
	bool have_size = fstat(fd, &st) == 0;
	s.chunk = have_size && st.st_size < IMG_APPLY_SMALL ? IMG_APPLY_SMALL_CHUNK : QBUF_SIZE;
	if (n == 1 && have_size && st.st_size < img_apply_inline_max) {
		s.inline_dec = &dec;
		r = decoder_open(&s, &dec, &s.err);
		if (r < 0)
			s.failed = true;
		else
			r = apply_tar(as[0], &ks[0].rd, &ks[0].err);
		decoder_close(&dec);
		if (r < 0 && !s.failed)
			s.first_failed = 0;
		goto check;
	}
	r = pthread_create(&s.thread, NULL, producer, &s);
	if (r != 0) {
		r = ckt_err_errno(err, CKT_EINTERNAL, r, "start a thread");
		goto out;
	}
	/* consumers 1.. in threads of their own, consumer 0 in this one */
	size_t started = 1;
	for (; started < n; started++)
		if (pthread_create(&ks[started].thread, NULL, consume, &ks[started]) != 0) {
			ks[started].r = ckt_err_fail(&ks[started].err, CKT_EINTERNAL,
						     "start a thread");
			stream_detach(&s, started, true);
			break;
		}
	consume(&ks[0]);
	for (size_t c = 1; c < started; c++)
		pthread_join(ks[c].thread, NULL);
	pthread_mutex_lock(&s.mu);
	s.stop = true;
	pthread_cond_broadcast(&s.cv);
	pthread_mutex_unlock(&s.mu);
	pthread_join(s.thread, NULL);
check:
	r = 0;
	if (s.failed) {
		*err = s.err;	/* the first cause: a broken stream */
		r = -1;
	} else if (s.first_failed >= 0) {
		/* the others stopped because of it */
		*err = ks[s.first_failed].err;
		r = -1;
	}
	if (r == 0 && diff_id) {
		char got[STORE_DIGEST_MAX];
		store_hasher_final(s.hasher, got);
		if (strcmp(got, diff_id))
			r = ckt_err_failw(err, CKT_EVERIFY, "the config's diff_id does not match",
					  "layer %s: uncompressed content is %s, expected %s", label,
					  got, diff_id);
	} else if (r < 0) {
		ckt_err_wrap(err, "layer %s", label);
	}
out:
	for (size_t c = 0; c < n; c++)
		cache_drop(as[c]);
	store_hasher_free(s.hasher);
	for (int i = 0; i < QBUFS; i++)
		free(s.buf[i]);
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cv);
	return r;
}

int img_apply_layer(struct img_apply *a, int fd, enum img_compression comp, const char *diff_id,
		    const char *label, struct ckt_err *err)
{
	return img_apply_layer_tee(&a, 1, fd, comp, diff_id, label, err);
}

/* ---- finishing -------------------------------------------------------------- */

int img_apply_note_dir(struct img_apply *a, const char *rel, mode_t mode,
		       const struct timespec *mtime, struct ckt_err *err)
{
	(void)err;
	return dirfix_put(a, rel, mode, mtime);
}

static int depth_cmp(const void *x, const void *y)
{
	const struct dirfix *a = x, *b = y;
	size_t da = 0, db = 0;
	for (const char *p = a->path; *p; p++)
		da += *p == '/';
	for (const char *p = b->path; *p; p++)
		db += *p == '/';
	if (!*a->path || !*b->path)
		return (int)!*a->path - (int)!*b->path; /* the root last */
	return da < db ? 1 : da > db ? -1 : 0;
}

int img_apply_finish(struct img_apply *a, struct ckt_err *err)
{
	cache_drop(a);
	smap_clear(&a->dir_idx);
	if (a->n_dirs)
		qsort(a->dirs, a->n_dirs, sizeof(*a->dirs), depth_cmp);
	for (size_t i = 0; i < a->n_dirs; i++) {
		struct dirfix *f = &a->dirs[i];
		if (f->dead)
			continue;
		_cleanup_free_ char *parent = NULL;
		const char *base;
		_cleanup_close_ int fd = -1;
		if (!*f->path) {
			fd = openat(a->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		} else {
			split(f->path, &parent, &base);
			_cleanup_close_ int pfd = img_sp_open_dir(a->rootfd, parent);
			if (pfd >= 0)
				fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0) {
			if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
				continue;	/* replaced since; nothing to restore */
			return ckt_err_sys(err, CKT_EIO, "open directory '%s'", f->path);
		}
		struct timespec ts[2] = { f->mtime, f->mtime };
		if (fchmod(fd, f->mode) < 0 || futimens(fd, ts) < 0)
			return ckt_err_sys(err, CKT_EIO, "set mode and times of '%s'", f->path);
	}
	for (size_t i = 0; i < a->n_dirs; i++)
		free(a->dirs[i].path);
	a->n_dirs = 0;
	return 0;
}
