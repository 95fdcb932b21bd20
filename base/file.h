#pragma once
/* File helpers: full reads and writes, directories, and atomic files.
 *
 * Atomic files give "never a partial result" (DESIGN.md): data goes to a
 * temporary file beside the target; ckt_afile_commit() fsyncs it, renames it
 * over the target and fsyncs the directory.  A struct ckt_afile that is
 * released without a commit unlinks its temporary. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* Write all len bytes to fd, retrying on EINTR and short writes. */
int ckt_write_all(int fd, const void *buf, size_t len, struct ckt_err *err);

/* Read fd to EOF into a new NUL-terminated buffer (*out, owned by caller).
 * Fails with CKT_EFORMAT when the data exceeds max bytes. */
int ckt_read_fd(int fd, size_t max, char **out, size_t *len, struct ckt_err *err);

/* ckt_read_fd() on a path opened relative to dirfd (AT_FDCWD for cwd).
 * A missing file fails with CKT_ENOTFOUND. */
int ckt_read_file_at(int dirfd, const char *path, size_t max, char **out, size_t *len,
		     struct ckt_err *err);
int ckt_read_file(const char *path, size_t max, char **out, size_t *len, struct ckt_err *err);

/* Create path and its missing parents with mode; existing directories are fine. */
int ckt_mkdir_p(const char *path, mode_t mode, struct ckt_err *err);

/* fsync the directory at path. */
int ckt_fsync_dir(const char *path, struct ckt_err *err);

/* Hold dir against removal: a shared flock on its lock file lock (created
 * when missing; opened read-only where it cannot be written), taken before
 * checking that dir still exists, so that a remover holding the lock
 * exclusively either went first (CKT_ENOTFOUND) or waits for us.  Returns
 * the locked fd, to be closed when done. */
int ckt_hold_dir(const char *dir, const char *lock, struct ckt_err *err);

/* Remove path recursively (no symlink is followed).  Missing is fine. */
int ckt_rm_rf(const char *path, struct ckt_err *err);

struct ckt_afile {
	int fd;		/* write here; -1 when unused */
	char *path;	/* final name */
	char *tmp;	/* temporary name in the same directory */
	bool committed;
	bool no_dir_sync; /* the caller fsyncs the directory, once for several files */
};

#define CKT_AFILE_INIT { -1, NULL, NULL, false, false }

/* Open a temporary file beside path (mode applied at commit). */
int ckt_afile_open(struct ckt_afile *af, const char *path, mode_t mode, struct ckt_err *err);
/* fsync, rename over path, fsync the directory; closes fd. */
int ckt_afile_commit(struct ckt_afile *af, struct ckt_err *err);
/* Close, unlink the temporary unless committed, free names.  Safe to call twice. */
void ckt_afile_release(struct ckt_afile *af);
#define _cleanup_afile_ __attribute__((cleanup(ckt_afile_release)))

/* Write data to path atomically with mode. */
int ckt_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			  struct ckt_err *err);
/* The same, leaving the fsync of path's directory (which makes the rename
 * durable) to the caller, who may do it once for several files. */
int ckt_write_file_atomic_nodirsync(const char *path, const void *data, size_t len,
				    mode_t mode, struct ckt_err *err);
