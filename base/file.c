#include "file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "strbuf.h"
#include "xalloc.h"

int ckt_write_all(int fd, const void *buf, size_t len, struct ckt_err *err)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ckt_err_sys(err, CKT_EIO, "write");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ckt_read_fd(int fd, size_t max, char **out, size_t *len, struct ckt_err *err)
{
	_cleanup_buf_ struct ckt_buf b = CKT_BUF_INIT;
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		if ((unsigned long long)st.st_size > max)
			return ckt_err_fail(err, CKT_EFORMAT, "file of %lld bytes exceeds the limit of %zu",
					    (long long)st.st_size, max);
		ckt_buf_grow(&b, (size_t)st.st_size);
	}
	for (;;) {
		ckt_buf_grow(&b, 65536);
		ssize_t n = read(fd, b.buf + b.len, b.alloc - b.len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ckt_err_sys(err, CKT_EIO, "read");
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
		if (b.len > max)
			return ckt_err_fail(err, CKT_EFORMAT, "data exceeds the limit of %zu bytes", max);
	}
	b.buf[b.len] = '\0';
	*out = ckt_buf_detach(&b, len);
	return 0;
}

int ckt_read_file_at(int dirfd, const char *path, size_t max, char **out, size_t *len,
		     struct ckt_err *err)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ckt_err_sys(err, errno == ENOENT ? CKT_ENOTFOUND : CKT_EIO, "open '%s'", path);
	if (ckt_read_fd(fd, max, out, len, err) < 0)
		return ckt_err_wrap(err, "read '%s'", path);
	return 0;
}

int ckt_read_file(const char *path, size_t max, char **out, size_t *len, struct ckt_err *err)
{
	return ckt_read_file_at(AT_FDCWD, path, max, out, len, err);
}

int ckt_mkdir_p(const char *path, mode_t mode, struct ckt_err *err)
{
	_cleanup_free_ char *p = xstrdup(path);
	size_t n = strlen(p);

	/* The loop below starts past the first byte, beyond the NUL of "". */
	if (n == 0)
		return ckt_err_errno(err, CKT_EIO, ENOENT, "create directory ''");
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	for (char *s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return ckt_err_sys(err, CKT_EIO, "create directory '%s'", p);
		*s = c;
		if (c == '\0')
			break;
	}
	struct stat st;
	if (stat(p, &st) < 0)
		return ckt_err_sys(err, CKT_EIO, "stat '%s'", p);
	if (!S_ISDIR(st.st_mode))
		return ckt_err_errno(err, CKT_EIO, ENOTDIR, "create directory '%s'", p);
	return 0;
}

int ckt_fsync_dir(const char *path, struct ckt_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "open directory '%s'", path);
	if (fsync(fd) < 0 && errno != EINVAL)
		return ckt_err_sys(err, CKT_EIO, "fsync directory '%s'", path);
	return 0;
}

int ckt_hold_dir(const char *dir, const char *lock, struct ckt_err *err)
{
	_cleanup_close_ int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 && (errno == EACCES || errno == EROFS))
		fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "open lock '%s'", lock);
	while (flock(fd, LOCK_SH) < 0)
		if (errno != EINTR)
			return ckt_err_sys(err, CKT_EIO, "lock '%s'", lock);
	/* A remover that won the race took dir before we held it. */
	if (access(dir, F_OK) < 0)
		return ckt_err_sys(err, CKT_ENOTFOUND, "'%s'", dir);
	return TAKE_FD(fd);
}

static int rm_rf_at(int atfd, const char *name, struct ckt_err *err)
{
	if (unlinkat(atfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return ckt_err_sys(err, CKT_EIO, "remove '%s'", name);

	int fd = openat(atfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ckt_err_sys(err, CKT_EIO, "open '%s'", name);
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return ckt_err_sys(err, CKT_EIO, "open '%s'", name);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (rm_rf_at(dirfd(d), de->d_name, err) < 0)
			return ckt_err_wrap(err, "in '%s'", name);
	}
	if (unlinkat(atfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return ckt_err_sys(err, CKT_EIO, "remove directory '%s'", name);
	return 0;
}

int ckt_rm_rf(const char *path, struct ckt_err *err)
{
	return rm_rf_at(AT_FDCWD, path, err);
}

int ckt_afile_open(struct ckt_afile *af, const char *path, mode_t mode, struct ckt_err *err)
{
	const char *slash = strrchr(path, '/');
	af->fd = -1;
	af->committed = false;
	af->path = xstrdup(path);
	if (slash)
		af->tmp = xasprintf("%.*s/.%s.tmp-XXXXXX", (int)(slash - path), path, slash + 1);
	else
		af->tmp = xasprintf(".%s.tmp-XXXXXX", path);
	af->fd = mkostemp(af->tmp, O_CLOEXEC);
	if (af->fd < 0) {
		int r = ckt_err_sys(err, CKT_EIO, "create temporary file for '%s'", path);
		free(af->tmp);
		af->tmp = NULL;
		return r;
	}
	if (fchmod(af->fd, mode) < 0)
		return ckt_err_sys(err, CKT_EIO, "chmod '%s'", af->tmp);
	return 0;
}

int ckt_afile_commit(struct ckt_afile *af, struct ckt_err *err)
{
	if (fsync(af->fd) < 0)
		return ckt_err_sys(err, CKT_EIO, "fsync '%s'", af->tmp);
	if (close(af->fd) < 0) {
		af->fd = -1;
		return ckt_err_sys(err, CKT_EIO, "close '%s'", af->tmp);
	}
	af->fd = -1;
	if (rename(af->tmp, af->path) < 0)
		return ckt_err_sys(err, CKT_EIO, "rename '%s' to '%s'", af->tmp, af->path);
	af->committed = true;
	if (af->no_dir_sync)
		return 0;

	_cleanup_free_ char *dir = xstrdup(af->path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		memcpy(dir, ".", 2); /* path is non-empty, so dir has room */
	return ckt_fsync_dir(dir, err);
}

void ckt_afile_release(struct ckt_afile *af)
{
	int e = errno;
	if (af->fd >= 0)
		close(af->fd);
	af->fd = -1;
	if (af->tmp && !af->committed)
		unlink(af->tmp);
	free(af->tmp);
	free(af->path);
	af->tmp = af->path = NULL;
	errno = e;
}

static int write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			bool dir_sync, struct ckt_err *err)
{
	_cleanup_afile_ struct ckt_afile af = CKT_AFILE_INIT;
	if (ckt_afile_open(&af, path, mode, err) < 0)
		return ckt_err_wrap(err, "write '%s'", path);
	af.no_dir_sync = !dir_sync;
	if (ckt_write_all(af.fd, data, len, err) < 0 || ckt_afile_commit(&af, err) < 0)
		return ckt_err_wrap(err, "write '%s'", path);
	return 0;
}

int ckt_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			  struct ckt_err *err)
{
	return write_atomic(path, data, len, mode, true, err);
}

int ckt_write_file_atomic_nodirsync(const char *path, const void *data, size_t len,
				    mode_t mode, struct ckt_err *err)
{
	return write_atomic(path, data, len, mode, false, err);
}
