/* Tree snapshots and unpacking (issue 4).  See unpack.h. */
#include "libimg/unpack.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "libimg/bundle.h"
#include "libimg/layer.h"
#include "libimg/safepath.h"
#include "store/digest.h"
#include "store/tree.h"

static bool want_rootless(unsigned flags)
{
	return (flags & IMG_UNPACK_ROOTLESS) || geteuid() != 0;
}

int img_chain_ids(const struct img_config *c, char ***out, struct ckt_err *err)
{
	char **v = xcalloc(c->n_diff_ids + 1, sizeof(*v));
	for (size_t i = 0; i < c->n_diff_ids; i++) {
		if (!store_digest_valid(c->diff_ids[i])) {
			ckt_strv_free(v);
			return ckt_err_fail(err, CKT_EFORMAT, "config: invalid diff_id '%s'",
					    c->diff_ids[i]);
		}
		if (i == 0) {
			v[i] = xstrdup(c->diff_ids[i]);
			continue;
		}
		_cleanup_free_ char *s = xasprintf("%s %s", v[i - 1], c->diff_ids[i]);
		char d[STORE_DIGEST_MAX];
		store_digest_buf(STORE_DIGEST_SHA256, s, strlen(s), d);
		v[i] = xstrdup(d);
	}
	*out = v;
	return 0;
}

/* trees/<name>: the chain ID with ":" made "-" (overlayfs lowerdir lists
 * split on ":"), "-rootless" for the rootless variant. */
static char *tree_name(const char *chain, bool rootless)
{
	char *n = xasprintf("%s%s", chain ? chain : "empty", rootless ? "-rootless" : "");
	char *colon = strchr(n, ':');
	if (colon)
		*colon = '-';
	return n;
}

/* ---- the tree listing (trees/<name>.mtree) ------------------------------ */

/* mtree-style escaping: bytes outside printable ASCII, space, '\\' and '='
 * as \ooo. */
static void add_escaped(struct ckt_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '=')
			ckt_buf_addf(b, "\\%03o", c);
		else
			ckt_buf_addch(b, (char)c);
	}
}

static int hash_fd(int fd, char out[STORE_DIGEST_MAX], struct ckt_err *err)
{
	_cleanup_hasher_ struct store_hasher *h = store_hasher_new(STORE_DIGEST_SHA256);
	static __thread char buf[1 << 17];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ckt_err_sys(err, CKT_EIO, "read");
		}
		store_hasher_update(h, buf, (size_t)n);
	}
	store_hasher_final(h, out);
	return 0;
}

/* The xattrs of name in the trusted directory dirfd, sorted by name, as
 * " xattr.NAME=hex" words.  Through /proc/self/fd so the final component
 * is never followed. */
static int add_xattrs(struct ckt_buf *b, int dirfd, const char *name, struct ckt_err *err)
{
	char path[64 + 256];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	char list[65536];
	ssize_t n = llistxattr(path, list, sizeof(list));
	if (n < 0)
		return errno == ENOTSUP ? 0 : ckt_err_sys(err, CKT_EIO, "list xattrs of '%s'", name);
	/* names are NUL-separated; sort them */
	const char *names[512];
	size_t k = 0;
	for (char *p = list; p < list + n && k < ARRAY_SIZE(names); p += strlen(p) + 1)
		names[k++] = p;
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			const char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	for (size_t i = 0; i < k; i++) {
		unsigned char val[65536];
		ssize_t vn = lgetxattr(path, names[i], val, sizeof(val));
		if (vn < 0)
			return ckt_err_sys(err, CKT_EIO, "read xattr '%s' of '%s'", names[i], name);
		ckt_buf_adds(b, " xattr.");
		add_escaped(b, names[i], strlen(names[i]));
		ckt_buf_addch(b, '=');
		for (ssize_t j = 0; j < vn; j++)
			ckt_buf_addf(b, "%02x", val[j]);
	}
	return 0;
}

struct list_ctx {
	struct img_apply *apply;	/* digests it already knows, or NULL */
	struct ckt_buf *out;
};

static int cmp_dirent(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in directory fd. */
static char **read_names(int fd, size_t *n, struct ckt_err *err)
{
	int dfd = dup(fd);
	if (dfd < 0) {
		ckt_err_sys(err, CKT_EIO, "open directory");
		return NULL;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		ckt_err_sys(err, CKT_EIO, "open directory");
		return NULL;
	}
	rewinddir(d);
	char **v = NULL;
	size_t nv = 0, alloc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		ALLOC_GROW(v, nv + 2, alloc);
		v[nv++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (!v)
		v = xcalloc(1, sizeof(*v));
	v[nv] = NULL;
	qsort(v, nv, sizeof(*v), cmp_dirent);
	*n = nv;
	return v;
}

static int list_entry(struct list_ctx *c, int dirfd, const char *name, const char *rel,
		      struct ckt_err *err);

static int list_dir(struct list_ctx *c, int fd, const char *rel, struct ckt_err *err)
{
	size_t n;
	_cleanup_strv_ char **names = read_names(fd, &n, err);
	if (!names)
		return ckt_err_wrap(err, "list '%s'", *rel ? rel : ".");
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *crel = *rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
		if (list_entry(c, fd, names[i], crel, err) < 0)
			return -1;
	}
	return 0;
}

static int list_entry(struct list_ctx *c, int dirfd, const char *name, const char *rel,
		      struct ckt_err *err)
{
	struct stat st;
	struct ckt_buf *b = c->out;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ckt_err_sys(err, CKT_EIO, "stat '%s'", rel);
	const char *type = S_ISREG(st.st_mode)	 ? "file"
			   : S_ISDIR(st.st_mode) ? "dir"
			   : S_ISLNK(st.st_mode) ? "link"
			   : S_ISCHR(st.st_mode) ? "char"
			   : S_ISBLK(st.st_mode) ? "block"
			   : S_ISFIFO(st.st_mode) ? "fifo"
						  : "socket";
	if (*rel)
		add_escaped(b, rel, strlen(rel));
	else
		ckt_buf_addch(b, '.');
	ckt_buf_addf(b, " type=%s mode=%04o uid=%u gid=%u", type, (unsigned)(st.st_mode & 07777),
		     (unsigned)st.st_uid, (unsigned)st.st_gid);
	if (S_ISREG(st.st_mode)) {
		char d[STORE_DIGEST_MAX];
		if (!c->apply || !img_apply_file_digest(c->apply, st.st_ino, d)) {
			_cleanup_close_ int fd =
				openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
			if (fd < 0 && errno == EPERM)
				fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return ckt_err_sys(err, CKT_EIO, "open '%s'", rel);
			if (hash_fd(fd, d, err) < 0)
				return ckt_err_wrap(err, "'%s'", rel);
		}
		ckt_buf_addf(b, " size=%lld %s", (long long)st.st_size, d);
		if (st.st_nlink > 1)
			ckt_buf_addf(b, " nlink=%lu", (unsigned long)st.st_nlink);
	} else if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
		if (n < 0)
			return ckt_err_sys(err, CKT_EIO, "readlink '%s'", rel);
		ckt_buf_adds(b, " link=");
		add_escaped(b, target, (size_t)n);
	} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		ckt_buf_addf(b, " rdev=%u,%u", major(st.st_rdev), minor(st.st_rdev));
	}
	if (add_xattrs(b, dirfd, *rel ? name : ".", err) < 0)
		return -1;
	ckt_buf_addch(b, '\n');
	if (!S_ISDIR(st.st_mode))
		return 0;
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "open '%s'", rel);
	return list_dir(c, fd, rel, err);
}

/* The listing of the tree at rootfd: one line per path, root first, names
 * sorted: "PATH type=T mode=M uid=U gid=G [size=N sha256:H [nlink=N]]
 * [link=TARGET] [rdev=MAJ,MIN] [xattr.NAME=HEX]...". */
static int tree_listing(int rootfd, struct img_apply *a, struct ckt_buf *out, struct ckt_err *err)
{
	struct list_ctx c = { a, out };
	ckt_buf_adds(out, "#ckt-tree v1\n");
	return list_entry(&c, rootfd, ".", "", err);
}

/* ---- copying a tree ------------------------------------------------------- */

/* A tree is copied by COPY_THREADS threads taking directories from a shared
 * stack: a thread creates the entries of one directory (its subdirectories
 * are made there and pushed for whichever thread is free).  What has to wait
 * for all entries -- the further names of hard-linked files and the
 * directories' modes and times -- is done afterwards by the calling thread.
 * The copy is ours alone until it is published, so names in it are
 * trusted; the source is a published snapshot, opened with safepath. */
#define COPY_THREADS 2

struct ino_map {
	dev_t dev;
	ino_t ino;
	char *rel;
};

struct link_todo {
	char *rel;	/* a further name of a hard-linked file */
	char *target;	/* the name its first copy has */
};

struct dir_todo {
	char *rel;
	mode_t mode;
	struct timespec atime, mtime;
};

struct copy_ctx {
	bool root;		/* preserve ownership and every xattr */
	struct img_apply *apply;	/* building: note directories instead of setting them */
	int src_root, dst_root;
	mode_t cmask;		/* the process's umask (0777: unknown) */
	pthread_mutex_t mu;	/* guards everything below */
	pthread_cond_t cv;
	char **queue;		/* directories whose entries are still to copy */
	size_t n_queue, alloc_queue;
	size_t busy;		/* threads copying a directory's entries */
	bool failed;
	struct ckt_err err;	/* the first failure */
	struct ino_map *links;	/* hard-linked files copied so far */
	size_t n_links, alloc_links;
	struct link_todo *todo;
	size_t n_todo, alloc_todo;
	struct dir_todo *dirs;	/* every directory, each before its entries */
	size_t n_dirs, alloc_dirs;
	bool warned_xattr;
};

static int copy_xattrs(struct copy_ctx *c, int sfd, int dfd, const char *rel, struct ckt_err *err)
{
	char list[65536];
	ssize_t n = flistxattr(sfd, list, sizeof(list));
	if (n < 0)
		return errno == ENOTSUP ? 0 : ckt_err_sys(err, CKT_EIO, "list xattrs of '%s'", rel);
	for (char *p = list; p < list + n; p += strlen(p) + 1) {
		unsigned char val[65536];
		ssize_t vn = fgetxattr(sfd, p, val, sizeof(val));
		if (vn < 0)
			return ckt_err_sys(err, CKT_EIO, "read xattr '%s' of '%s'", p, rel);
		if (fsetxattr(dfd, p, val, (size_t)vn, 0) < 0) {
			int e = errno;
			if (e != EPERM && e != ENOTSUP)
				return ckt_err_sys(err, CKT_EIO, "set xattr '%s' on '%s'", p, rel);
			pthread_mutex_lock(&c->mu);
			bool warn = !c->warned_xattr;
			c->warned_xattr = true;
			pthread_mutex_unlock(&c->mu);
			if (warn)
				ckt_warn("cannot copy xattr '%s' of '%s' (%s); such xattrs are skipped",
					 p, rel, strerror(e));
		}
	}
	return 0;
}

/* Copy file data: a reflink when the filesystem offers one, else
 * copy_file_range (in-kernel), else read/write. */
static int copy_data(int sfd, int dfd, off_t size, const char *rel, struct ckt_err *err)
{
	/* after the first refusal, this filesystem has no reflinks */
	static __thread bool no_reflink;
	if (size == 0)
		return 0;
	if (!no_reflink) {
		if (ioctl(dfd, FICLONE, sfd) == 0)
			return 0;
		no_reflink = errno == EOPNOTSUPP || errno == ENOTTY || errno == EINVAL ||
			     errno == EXDEV || errno == ENOSYS;
	}
	off_t left = size;
	while (left > 0) {
		ssize_t n = copy_file_range(sfd, NULL, dfd, NULL, (size_t)left, 0);
		if (n > 0) {
			left -= n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return ckt_err_sys(err, CKT_EIO, "copy '%s'", rel);
		static __thread char buf[1 << 17];
		for (;;) {
			ssize_t r = read(sfd, buf, sizeof(buf));
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return ckt_err_sys(err, CKT_EIO, "read '%s'", rel);
			if (r == 0)
				return 0;
			if (ckt_write_all(dfd, buf, (size_t)r, err) < 0)
				return ckt_err_wrap(err, "copy '%s'", rel);
		}
	}
	return 0;
}

static int copy_file(struct copy_ctx *c, int sdir, int ddir, const char *name, const char *rel,
		     const struct stat *st, struct ckt_err *err)
{
	if (st->st_nlink > 1) {
		/* a further name of a file copied already becomes a link
		 * once every thread is done */
		bool first = true;
		pthread_mutex_lock(&c->mu);
		for (size_t i = 0; i < c->n_links && first; i++)
			if (c->links[i].ino == st->st_ino && c->links[i].dev == st->st_dev) {
				ALLOC_GROW(c->todo, c->n_todo + 1, c->alloc_todo);
				c->todo[c->n_todo++] =
					(struct link_todo){ xstrdup(rel), xstrdup(c->links[i].rel) };
				first = false;
			}
		if (first) {
			ALLOC_GROW(c->links, c->n_links + 1, c->alloc_links);
			c->links[c->n_links++] =
				(struct ino_map){ st->st_dev, st->st_ino, xstrdup(rel) };
		}
		pthread_mutex_unlock(&c->mu);
		if (!first)
			return 0;
	}
	mode_t mode = st->st_mode & 07777;
	_cleanup_close_ int sfd = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0 && errno == EACCES && st->st_uid == geteuid()) {
		/* our own unreadable file (rootless): open it up briefly */
		if (fchmodat(sdir, name, mode | 0400, 0) == 0) {
			sfd = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			int e = errno;
			if (fchmodat(sdir, name, mode, 0) < 0)
				ckt_warn("cannot restore the mode of '%s'", rel);
			errno = e;
		}
	}
	if (sfd < 0)
		return ckt_err_sys(err, CKT_EIO, "open '%s'", rel);
	/* Created with its permissions, which stand unless the umask takes
	 * some away or there are setuid/setgid/sticky bits (fchown clears
	 * the first two): then an fchmod follows. */
	_cleanup_close_ int dfd = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					 mode & 0777);
	if (dfd < 0)
		return ckt_err_sys(err, CKT_EIO, "create '%s'", rel);
	if (copy_data(sfd, dfd, st->st_size, rel, err) < 0)
		return -1;
	if (c->root && fchown(dfd, st->st_uid, st->st_gid) < 0)
		return ckt_err_sys(err, CKT_EIO, "chown '%s'", rel);
	if (((mode & c->cmask) || (mode & 07000)) && fchmod(dfd, mode) < 0)
		return ckt_err_sys(err, CKT_EIO, "chmod '%s'", rel);
	if (copy_xattrs(c, sfd, dfd, rel, err) < 0)
		return -1;
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	if (futimens(dfd, ts) < 0)
		return ckt_err_sys(err, CKT_EIO, "set times of '%s'", rel);
	return 0;
}

/* Create name of sdir in ddir; a directory is created empty and queued. */
static int copy_entry(struct copy_ctx *c, int sdir, int ddir, const char *name, const char *rel,
		      struct ckt_err *err)
{
	struct stat st;
	if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ckt_err_sys(err, CKT_EIO, "stat '%s'", rel);
	struct timespec ts[2] = { st.st_atim, st.st_mtim };

	if (S_ISREG(st.st_mode))
		return copy_file(c, sdir, ddir, name, rel, &st, err);
	if (S_ISDIR(st.st_mode)) {
		if (mkdirat(ddir, name, 0700) < 0)
			return ckt_err_sys(err, CKT_EIO, "mkdir '%s'", rel);
		pthread_mutex_lock(&c->mu);
		ALLOC_GROW(c->dirs, c->n_dirs + 1, c->alloc_dirs);
		c->dirs[c->n_dirs++] =
			(struct dir_todo){ xstrdup(rel), st.st_mode & 07777, st.st_atim, st.st_mtim };
		ALLOC_GROW(c->queue, c->n_queue + 1, c->alloc_queue);
		c->queue[c->n_queue++] = xstrdup(rel);
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);
		if (n < 0)
			return ckt_err_sys(err, CKT_EIO, "readlink '%s'", rel);
		target[n] = '\0';
		if (symlinkat(target, ddir, name) < 0)
			return ckt_err_sys(err, CKT_EIO, "symlink '%s'", rel);
	} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
		if (mknodat(ddir, name, (st.st_mode & S_IFMT) | 0600, st.st_rdev) < 0)
			return ckt_err_sys(err, CKT_EIO, "mknod '%s'", rel);
		if (fchmodat(ddir, name, st.st_mode & 07777, 0) < 0)
			return ckt_err_sys(err, CKT_EIO, "chmod '%s'", rel);
	} else {
		return 0;	/* sockets are not copied */
	}
	if (c->root && fchownat(ddir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return ckt_err_sys(err, CKT_EIO, "chown '%s'", rel);
	if (utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return ckt_err_sys(err, CKT_EIO, "set times of '%s'", rel);
	return 0;
}

/* Copy the entries of directory rel (which exists in the copy), then its
 * owner and xattrs (after its entries are created, so a default ACL is not
 * inherited by them). */
static int copy_dir(struct copy_ctx *c, const char *rel, struct ckt_err *err)
{
	const char *what = *rel ? rel : ".";
	_cleanup_close_ int sfd = img_sp_open_dir(c->src_root, rel);
	if (sfd < 0)
		return ckt_err_sys(err, CKT_EIO, "open '%s'", what);
	_cleanup_close_ int dfd = img_sp_open_dir(c->dst_root, rel);
	if (dfd < 0)
		return ckt_err_sys(err, CKT_EIO, "open the copy of '%s'", what);
	size_t n;
	_cleanup_strv_ char **names = read_names(sfd, &n, err);
	if (!names)
		return ckt_err_wrap(err, "list '%s'", what);
	for (size_t i = 0; i < n; i++) {
		if (__atomic_load_n(&c->failed, __ATOMIC_RELAXED))
			return 0;	/* another thread failed: stop early */
		_cleanup_free_ char *crel = *rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
		if (copy_entry(c, sfd, dfd, names[i], crel, err) < 0)
			return -1;
	}
	struct stat st;
	if (c->root && (fstat(sfd, &st) < 0 || fchown(dfd, st.st_uid, st.st_gid) < 0))
		return ckt_err_sys(err, CKT_EIO, "chown '%s'", what);
	return copy_xattrs(c, sfd, dfd, what, err);
}

static void *copy_worker(void *p)
{
	struct copy_ctx *c = p;
	struct ckt_err err = CKT_ERR_INIT;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->failed && !c->n_queue && c->busy)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->failed || !c->n_queue)
			break;	/* failed, or nothing queued and nobody busy: done */
		char *rel = c->queue[--c->n_queue];
		c->busy++;
		pthread_mutex_unlock(&c->mu);
		int r = copy_dir(c, rel, &err);
		free(rel);
		pthread_mutex_lock(&c->mu);
		c->busy--;
		if (r < 0 && !c->failed) {
			__atomic_store_n(&c->failed, true, __ATOMIC_RELAXED);
			c->err = err;
		}
		pthread_cond_broadcast(&c->cv);
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Mode and times of a directory, once everything is in it (or noted for
 * the applier, which sets them when its layers are applied). */
static int dir_meta(struct copy_ctx *c, const struct dir_todo *d, struct ckt_err *err)
{
	const char *rel = *d->rel ? d->rel : ".";
	if (c->apply) {
		if (fchmodat(c->dst_root, rel, d->mode | (c->root ? 0 : 0700), 0) < 0)
			return ckt_err_sys(err, CKT_EIO, "chmod '%s'", rel);
		return img_apply_note_dir(c->apply, d->rel, d->mode, &d->mtime, err);
	}
	struct timespec ts[2] = { d->atime, d->mtime };
	if (fchmodat(c->dst_root, rel, d->mode, 0) < 0 ||
	    utimensat(c->dst_root, rel, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return ckt_err_sys(err, CKT_EIO, "set mode and times of '%s'", rel);
	return 0;
}

/* Copy the tree at sfd into the (empty, existing) directory dfd, the root
 * directory's metadata included. */
static int copy_tree(int sfd, int dfd, struct img_apply *apply, bool rootless,
		     struct ckt_err *err)
{
	struct copy_ctx c = { .root = !rootless, .apply = apply, .src_root = sfd,
			      .dst_root = dfd, .cmask = img_process_umask(), .err = CKT_ERR_INIT };
	struct stat st;
	if (fstat(sfd, &st) < 0)
		return ckt_err_sys(err, CKT_EIO, "stat tree");
	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	ALLOC_GROW(c.dirs, 1, c.alloc_dirs);
	c.dirs[c.n_dirs++] = (struct dir_todo){ xstrdup(""), st.st_mode & 07777, st.st_atim, st.st_mtim };
	ALLOC_GROW(c.queue, 1, c.alloc_queue);
	c.queue[c.n_queue++] = xstrdup("");

	pthread_t threads[COPY_THREADS - 1];
	size_t started = 0;
	while (started < COPY_THREADS - 1 &&
	       pthread_create(&threads[started], NULL, copy_worker, &c) == 0)
		started++;	/* with fewer threads, the same work gets done */
	copy_worker(&c);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);

	int r = 0;
	if (c.failed) {
		*err = c.err;
		r = -1;
	}
	for (size_t i = 0; r == 0 && i < c.n_todo; i++)
		if (linkat(dfd, c.todo[i].target, dfd, c.todo[i].rel, 0) < 0)
			r = ckt_err_sys(err, CKT_EIO, "link '%s'", c.todo[i].rel);
	/* backwards: every directory after its subdirectories */
	for (size_t i = c.n_dirs; r == 0 && i-- > 0;)
		r = dir_meta(&c, &c.dirs[i], err);

	for (size_t i = 0; i < c.n_queue; i++)
		free(c.queue[i]);
	free(c.queue);
	for (size_t i = 0; i < c.n_links; i++)
		free(c.links[i].rel);
	free(c.links);
	for (size_t i = 0; i < c.n_todo; i++) {
		free(c.todo[i].rel);
		free(c.todo[i].target);
	}
	free(c.todo);
	for (size_t i = 0; i < c.n_dirs; i++)
		free(c.dirs[i].rel);
	free(c.dirs);
	pthread_mutex_destroy(&c.mu);
	pthread_cond_destroy(&c.cv);
	return r;
}

/* ---- snapshots -------------------------------------------------------------- */

static int check_layers(const struct img_image *img, struct ckt_err *err)
{
	if (img->manifest.n_layers != img->config.n_diff_ids)
		return ckt_err_fail(err, CKT_EFORMAT,
				    "image has %zu layers but its config lists %zu diff_ids",
				    img->manifest.n_layers, img->config.n_diff_ids);
	return 0;
}

/* Build tree `names[n-1]` in a temporary directory starting from the
 * longest existing prefix, and publish it.  When extra_fd >= 0, the same
 * tree is written there too, from the same decompressed layer streams
 * (the cold path of img_unpack_dir: one pass, two trees). */
static int build_tree(struct store *s, const struct img_image *img, char **names, size_t n,
		      bool rootless, int extra_fd, bool *filled, struct ckt_err *err)
{
	size_t start = 0;
	size_t nlayers = img->config.n_diff_ids;
	for (size_t k = nlayers ? nlayers - 1 : 0; k-- > 0;)
		if (store_tree_exists(s, names[k])) {
			start = k + 1;
			break;
		}
	_cleanup_free_ char *tmp = store_tree_tmpdir(s, names[n - 1], err);
	if (!tmp)
		return -1;
	int r = -1;
	unsigned aflags = rootless ? IMG_APPLY_ROOTLESS : 0;
	_cleanup_close_ int rootfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_(img_apply_freep) struct img_apply *a = NULL;
	_cleanup_(img_apply_freep) struct img_apply *b = NULL;
	if (rootfd < 0) {
		ckt_err_sys(err, CKT_EIO, "open '%s'", tmp);
		goto out;
	}
	a = img_apply_new(rootfd, aflags);
	/* Small images: one thread and a copy afterwards beat a tee. */
	int64_t todo = 0;
	for (size_t i = start; i < nlayers; i++)
		todo += img->manifest.layers[i].size > 0 ? img->manifest.layers[i].size : 0;
	if (todo < IMG_APPLY_SMALL)
		extra_fd = -1;
	if (extra_fd >= 0)
		b = img_apply_new(extra_fd, aflags | IMG_APPLY_QUIET);
	struct img_apply *as[2] = { a, b };
	size_t nas = b ? 2 : 1;
	if (start > 0) {
		_cleanup_free_ char *src = store_tree_path(s, names[start - 1]);
		_cleanup_close_ int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ckt_debug("starting from tree %s", names[start - 1]);
		if (sfd < 0) {
			ckt_err_sys(err, CKT_EIO, "open '%s'", src);
			goto out;
		}
		for (size_t i = 0; i < nas; i++)
			if (copy_tree(sfd, i ? extra_fd : rootfd, as[i], rootless, err) < 0) {
				ckt_err_wrap(err, "copy tree '%s'", names[start - 1]);
				goto out;
			}
	}
	for (size_t i = start; i < nlayers; i++) {
		const struct store_desc *l = &img->manifest.layers[i];
		_cleanup_close_ int fd = store_blob_open(s, l->digest, err);
		if (fd < 0)
			goto out;
		if (img_apply_layer_tee(as, nas, fd, img_layer_compression(l->media_type),
					img->config.diff_ids[i], l->digest, err) < 0)
			goto out;
	}
	for (size_t i = 0; i < nas; i++)
		if (img_apply_finish(as[i], err) < 0)
			goto out;
	struct ckt_buf listing = CKT_BUF_INIT;
	if (tree_listing(rootfd, a, &listing, err) < 0) {
		ckt_buf_release(&listing);
		goto out;
	}
	r = store_tree_publish(s, names[n - 1], tmp, listing.buf, listing.len, err);
	ckt_buf_release(&listing);
	*filled = r == 0 && b;
out:
	if (r < 0 && store_rm_rf_at(AT_FDCWD, tmp) < 0)
		ckt_warn("cannot remove '%s': %s", tmp, strerror(errno));
	return r;
}

/* img_unpack_snapshot(), also writing the tree to extra_fd (>= 0) when it
 * has to be built; *filled says whether it was. */
static int snapshot(struct store *s, const struct img_image *img, unsigned flags, int extra_fd,
		    char **dir, bool *filled, struct ckt_err *err)
{
	bool rootless = want_rootless(flags);
	_cleanup_strv_ char **chains = NULL;

	*filled = false;
	if (check_layers(img, err) < 0 || img_chain_ids(&img->config, &chains, err) < 0)
		return -1;
	size_t n = img->config.n_diff_ids;
	_cleanup_strv_ char **names = xcalloc(n + 2, sizeof(*names));
	for (size_t i = 0; i < n; i++)
		names[i] = tree_name(chains[i], rootless);
	if (n == 0)
		names[n++] = tree_name(NULL, rootless);
	const char *top = names[n - 1];

	if (!store_tree_exists(s, top)) {
		_cleanup_close_ int lock = store_tree_lock(s, top, err);
		if (lock < 0)
			return -1;
		/* built by another process while we waited? */
		if (!store_tree_exists(s, top)) {
			if (build_tree(s, img, names, n, rootless, extra_fd, filled, err) < 0)
				return -1;
		}
	}
	*dir = store_tree_path(s, top);
	return 0;
}

int img_unpack_snapshot(struct store *s, const struct img_image *img, unsigned flags,
			char **dir, struct ckt_err *err)
{
	bool filled;
	return snapshot(s, img, flags, -1, dir, &filled, err);
}

/* ---- unpacking into a directory ------------------------------------------- */

/* dir must not exist or be an empty directory; the result is built in a
 * temporary sibling and renamed over it (rename(2) replaces an empty
 * directory), so DIR never holds a partial tree. */
static char *sibling_tmp(const char *dir, struct ckt_err *err)
{
	_cleanup_free_ char *clean = xstrdup(dir);
	size_t n = strlen(clean);
	while (n > 1 && clean[n - 1] == '/')
		clean[--n] = '\0';
	const char *slash = strrchr(clean, '/');
	char *tmp = slash ? xasprintf("%.*s/.%s.tmp-XXXXXX", (int)(slash - clean), clean, slash + 1)
			  : xasprintf(".%s.tmp-XXXXXX", clean);
	if (!mkdtemp(tmp)) {
		ckt_err_sys(err, CKT_EIO, "create a directory beside '%s'", dir);
		free(tmp);
		return NULL;
	}
	if (chmod(tmp, 0755) < 0) {
		ckt_err_sys(err, CKT_EIO, "chmod '%s'", tmp);
		rmdir(tmp);
		free(tmp);
		return NULL;
	}
	return tmp;
}

static int check_target(const char *dir, struct ckt_err *err)
{
	struct stat st;
	if (lstat(dir, &st) < 0)
		return errno == ENOENT ? 0 : ckt_err_sys(err, CKT_EIO, "stat '%s'", dir);
	if (!S_ISDIR(st.st_mode))
		return ckt_err_failw(err, CKT_EUSAGE, "it exists and is not a directory",
				     "unpack into '%s'", dir);
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return ckt_err_sys(err, CKT_EIO, "open '%s'", dir);
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			return ckt_err_failw(err, CKT_EUSAGE, "it is not empty",
					     "unpack into '%s'", dir);
	return 0;
}

static int fill_rootfs(struct store *s, const struct img_image *img, int rootfd, unsigned flags,
		       struct ckt_err *err)
{
	bool rootless = want_rootless(flags);
	if (flags & IMG_UNPACK_NO_SNAPSHOT) {
		if (check_layers(img, err) < 0)
			return -1;
		_cleanup_(img_apply_freep) struct img_apply *a =
			img_apply_new(rootfd, rootless ? IMG_APPLY_ROOTLESS : 0);
		for (size_t i = 0; i < img->manifest.n_layers; i++) {
			const struct store_desc *l = &img->manifest.layers[i];
			_cleanup_close_ int fd = store_blob_open(s, l->digest, err);
			if (fd < 0 || img_apply_layer(a, fd, img_layer_compression(l->media_type),
						      img->config.diff_ids[i], l->digest, err) < 0)
				return -1;
		}
		return img_apply_finish(a, err);
	}
	_cleanup_free_ char *snap = NULL;
	bool filled;
	if (snapshot(s, img, flags, rootfd, &snap, &filled, err) < 0)
		return -1;
	if (filled)
		return 0;
	_cleanup_close_ int sfd = open(snap, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0)
		return ckt_err_sys(err, CKT_EIO, "open '%s'", snap);
	return copy_tree(sfd, rootfd, NULL, rootless, err);
}

int img_unpack_dir(struct store *s, const struct img_image *img, const char *dir,
		   unsigned flags, struct ckt_err *err)
{
	if (check_target(dir, err) < 0)
		return -1;
	_cleanup_free_ char *tmp = sibling_tmp(dir, err);
	if (!tmp)
		return -1;
	int r = -1;
	_cleanup_free_ char *rootfs =
		(flags & IMG_UNPACK_BUNDLE) ? xasprintf("%s/rootfs", tmp) : xstrdup(tmp);
	_cleanup_close_ int rootfd = -1;
	if ((flags & IMG_UNPACK_BUNDLE) && mkdir(rootfs, 0755) < 0) {
		ckt_err_sys(err, CKT_EIO, "create '%s'", rootfs);
		goto out;
	}
	rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		ckt_err_sys(err, CKT_EIO, "open '%s'", rootfs);
		goto out;
	}
	if (fill_rootfs(s, img, rootfd, flags, err) < 0)
		goto out;
	if (flags & IMG_UNPACK_BUNDLE) {
		_cleanup_free_ char *json = NULL;
		size_t len;
		_cleanup_free_ char *cfg = xasprintf("%s/config.json", tmp);
		if (img_bundle_config(&img->config, rootfd, want_rootless(flags), &json, &len,
				      err) < 0 ||
		    ckt_write_file_atomic(cfg, json, len, 0644, err) < 0)
			goto out;
	}
	if (rename(tmp, dir) < 0) {
		ckt_err_sys(err, CKT_EIO, "rename '%s' to '%s'", tmp, dir);
		goto out;
	}
	r = 0;
out:
	if (r < 0 && store_rm_rf_at(AT_FDCWD, tmp) < 0)
		ckt_warn("cannot remove '%s': %s", tmp, strerror(errno));
	return r < 0 ? ckt_err_wrap(err, "unpack into '%s'", dir) : 0;
}

/* ---- gc and fsck ------------------------------------------------------------ */

static void add_live(struct store *s, const struct store_desc *d, int depth, char ***v,
		     size_t *n, size_t *alloc)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct ckt_err err = CKT_ERR_INIT;
	enum img_kind kind;

	if (depth > 4 || store_blob_read(s, d->digest, IMG_MANIFEST_MAX, &data, &len, &err) < 0 ||
	    img_doc_identify(data, len, d->media_type, &kind, NULL, &err) < 0)
		return;
	if (kind == IMG_KIND_INDEX) {
		struct img_index idx = { 0 };
		if (img_index_parse(data, len, d->media_type, &idx, &err) == 0)
			for (size_t i = 0; i < idx.n; i++)
				add_live(s, &idx.entries[i].desc, depth + 1, v, n, alloc);
		img_index_release(&idx);
		return;
	}
	if (kind != IMG_KIND_MANIFEST)
		return;
	struct img_manifest m = { 0 };
	struct img_config c = { 0 };
	_cleanup_free_ char *cdata = NULL;
	_cleanup_strv_ char **chains = NULL;
	if (img_manifest_parse(data, len, d->media_type, &m, &err) == 0 &&
	    store_blob_read(s, m.config.digest, IMG_CONFIG_MAX, &cdata, &len, &err) == 0 &&
	    img_config_parse(cdata, len, &c, &err) == 0 && img_chain_ids(&c, &chains, &err) == 0) {
		const char *top = c.n_diff_ids ? chains[c.n_diff_ids - 1] : NULL;
		ALLOC_GROW(*v, *n + 3, *alloc);
		(*v)[(*n)++] = tree_name(top, false);
		(*v)[(*n)++] = tree_name(top, true);
		(*v)[*n] = NULL;
	}
	img_manifest_release(&m);
	img_config_release(&c);
}

int img_unpack_live_trees(struct store *s, char ***out, struct ckt_err *err)
{
	struct store_ref *refs = NULL;
	size_t nrefs = 0, n = 0, alloc = 1;
	char **v = xcalloc(1, sizeof(*v));

	if (store_ref_list(s, &refs, &nrefs, err) < 0) {
		free(v);
		return -1;
	}
	for (size_t i = 0; i < nrefs; i++)
		add_live(s, &refs[i].desc, 0, &v, &n, &alloc);
	store_refs_free(refs, nrefs);
	*out = v;
	return 0;
}

int img_tree_check(struct store *s, void (*report)(const char *problem, void *data), void *data,
		   size_t *problems, struct ckt_err *err)
{
	_cleanup_strv_ char **names = NULL;
	size_t n;
	*problems = 0;
	if (store_tree_list(s, &names, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!store_tree_exists(s, names[i])) {
			_cleanup_free_ char *msg =
				xasprintf("tree %s: incomplete (directory or manifest missing)", names[i]);
			report(msg, data);
			(*problems)++;
			continue;
		}
		_cleanup_free_ char *want = NULL;
		size_t wlen;
		struct ckt_err e = CKT_ERR_INIT;
		_cleanup_free_ char *path = store_tree_path(s, names[i]);
		_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct ckt_buf got = CKT_BUF_INIT;
		if (store_tree_manifest(s, names[i], &want, &wlen, &e) < 0 || fd < 0 ||
		    tree_listing(fd, NULL, &got, &e) < 0) {
			char buf[1024];
			if (fd < 0)
				ckt_err_sys(&e, CKT_EIO, "open '%s'", path);
			_cleanup_free_ char *msg =
				xasprintf("tree %s: %s", names[i], ckt_err_str(&e, buf, sizeof(buf)));
			report(msg, data);
			(*problems)++;
			ckt_buf_release(&got);
			continue;
		}
		if (got.len != wlen || memcmp(got.buf, want, wlen)) {
			/* name the first line that differs */
			const char *a = want, *b = ckt_buf_str(&got);
			while (*a && *a == *b)
				a++, b++;
			while (a > want && a[-1] != '\n')
				a--;
			const char *nl = strchr(a, '\n');
			_cleanup_free_ char *msg = xasprintf(
				"tree %s: differs from its manifest at '%.*s'", names[i],
				(int)(nl ? nl - a : (ptrdiff_t)strlen(a)), a);
			report(msg, data);
			(*problems)++;
		}
		ckt_buf_release(&got);
	}
	return 0;
}
