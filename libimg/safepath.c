/* In-root name resolution for unpacking untrusted layers (issue 4).  See
 * safepath.h for the rules; openat2(2) enforces them in the kernel, and the
 * walk below is the fallback for kernels before 5.6. */
#include "libimg/safepath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strbuf.h"
#include "base/xalloc.h"

#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

bool img_sp_force_walk;

#define MAX_SYMLINKS 40
#define MAX_DEPTH 512

/* 1: openat2 gave ENOSYS, walk from now on. */
static int no_openat2 = -1;

static int try_openat2(int rootfd, const char *rel, int flags)
{
#ifdef SYS_openat2
	struct open_how how = {
		.flags = (unsigned long long)flags,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	for (int tries = 0; tries < 16; tries++) {
		int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			return fd;
	}
	return -1;
#else
	(void)rootfd, (void)rel, (void)flags;
	errno = ENOSYS;
	return -1;
#endif
}

/* The walk: a stack of directory fds from the root down, and the list of
 * components still to resolve.  A symlink's target is pushed in front of
 * the remaining components; its ".." pops the stack, never past the root. */
static int walk_open(int rootfd, const char *rel, bool create, mode_t mode,
		     void (*created)(const char *, void *), void *data)
{
	int stack[MAX_DEPTH];
	int depth = 0, links = 0, ret = -1;
	struct ckt_buf todo = CKT_BUF_INIT;	/* remaining path */
	struct ckt_buf done = CKT_BUF_INIT;	/* resolved prefix, for created() */

	stack[0] = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (stack[0] < 0)
		return -1;
	ckt_buf_adds(&todo, rel);
	ckt_buf_adds(&done, "");
	size_t pos = 0;
	while (pos < todo.len) {
		const char *p = todo.buf + pos;
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		_cleanup_free_ char *comp = xstrndup(p, n);
		pos += n + (slash ? 1 : 0);
		if (!*comp || !strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			if (depth == 0) {
				errno = EXDEV;
				goto out;
			}
			close(stack[depth--]);
			/* done loses its last component */
			char *ls = strrchr(done.buf, '/');
			done.len = ls ? (size_t)(ls - done.buf) : 0;
			done.buf[done.len] = '\0';
			continue;
		}
		if (depth + 1 >= MAX_DEPTH) {
			errno = ENAMETOOLONG;
			goto out;
		}
		int fd = openat(stack[depth], comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && create) {
			if (mkdirat(stack[depth], comp, mode) < 0 && errno != EEXIST)
				goto out;
			if (created) {
				_cleanup_free_ char *r = done.len ? xasprintf("%s/%s", done.buf, comp)
								  : xstrdup(comp);
				created(r, data);
			}
			fd = openat(stack[depth], comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0)
			goto out;
		struct stat st;
		if (fstat(fd, &st) < 0) {
			close(fd);
			goto out;
		}
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t tl = readlinkat(fd, "", target, sizeof(target) - 1);
			close(fd);
			if (tl < 0)
				goto out;
			target[tl] = '\0';
			if (++links > MAX_SYMLINKS) {
				errno = ELOOP;
				goto out;
			}
			if (target[0] == '/') {
				errno = EXDEV;
				goto out;
			}
			/* todo = target + "/" + rest */
			struct ckt_buf nt = CKT_BUF_INIT;
			ckt_buf_adds(&nt, target);
			if (pos < todo.len) {
				ckt_buf_addch(&nt, '/');
				ckt_buf_adds(&nt, todo.buf + pos);
			}
			ckt_buf_release(&todo);
			todo = nt;
			pos = 0;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			errno = ENOTDIR;
			goto out;
		}
		stack[++depth] = fd;
		if (done.len)
			ckt_buf_addch(&done, '/');
		ckt_buf_adds(&done, comp);
	}
	ret = openat(stack[depth], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
out:
	for (int i = 0; i <= depth; i++) {
		int e = errno;
		close(stack[i]);
		errno = e;
	}
	int e = errno;
	ckt_buf_release(&todo);
	ckt_buf_release(&done);
	errno = e;
	return ret;
}

int img_sp_open_dir(int rootfd, const char *rel)
{
	if (!*rel)
		rel = ".";
	/* relaxed atomics: applier threads share what the kernel offers */
	if (!img_sp_force_walk && __atomic_load_n(&no_openat2, __ATOMIC_RELAXED) != 1) {
		int fd = try_openat2(rootfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 || errno != ENOSYS)
			return fd;
		__atomic_store_n(&no_openat2, 1, __ATOMIC_RELAXED);
	}
	return walk_open(rootfd, rel, false, 0, NULL, NULL);
}

int img_sp_mkdir_p(int rootfd, const char *rel, mode_t mode,
		   void (*created)(const char *rel, void *data), void *data)
{
	int fd = img_sp_open_dir(rootfd, rel);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	return walk_open(rootfd, rel, true, mode, created, data);
}

int img_sp_clean_name(const char *name, char **out, struct ckt_err *err)
{
	struct ckt_buf b = CKT_BUF_INIT;
	const char *p = name;

	while (*p) {
		while (*p == '/')
			p++;
		const char *e = strchrnul(p, '/');
		size_t n = (size_t)(e - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			ckt_buf_release(&b);
			return ckt_err_failw(err, CKT_EFORMAT, "'..' in the name",
					     "refuse entry '%s'", name);
		}
		if (n && !(n == 1 && p[0] == '.')) {
			if (b.len)
				ckt_buf_addch(&b, '/');
			ckt_buf_add(&b, p, n);
		}
		p = e;
	}
	*out = ckt_buf_detach(&b, NULL);
	return 0;
}
