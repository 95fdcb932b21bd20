#pragma once
/* Resolving names of an untrusted tree (a root filesystem being unpacked)
 * without ever leaving it (issue 4, "safe against hostile layers").
 *
 * Every lookup starts at a directory fd for the root and uses
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) when the
 * kernel has it, else an O_NOFOLLOW walk, one component at a time, that
 * applies the same rules by hand.  The rules: a name is relative to the
 * root; a relative symlink met on the way is followed while it stays under
 * the root; a symlink with an absolute target, or one whose ".." would
 * climb above the root, makes the lookup fail with EXDEV.  The host's path
 * resolution never sees a name from the tree, and nothing outside the root
 * is ever opened.
 *
 * These functions behave like system calls: they return an fd (or 0) and
 * set errno on failure, so callers can tell ENOENT (create it) from EXDEV
 * (refuse the entry). */
#include <stdbool.h>
#include <sys/types.h>

#include "base/err.h"

/* Force the component walk even where openat2 exists (unit tests). */
extern bool img_sp_force_walk;

/* Open the directory rel (a clean relative name: no "..", no leading "/";
 * "" or "." is the root itself) under rootfd, following in-root relative
 * symlinks as described above, with O_RDONLY | O_DIRECTORY | O_CLOEXEC.
 * Returns the fd, or -1 with errno (EXDEV: escape; ENOTDIR; ENOENT; ELOOP). */
int img_sp_open_dir(int rootfd, const char *rel);

/* As img_sp_open_dir(), creating missing directories on the way with mode
 * (the caller's ownership).  Each directory created is reported through
 * created(rel_prefix, data) when created is not NULL. */
int img_sp_mkdir_p(int rootfd, const char *rel, mode_t mode,
		   void (*created)(const char *rel, void *data), void *data);

/* Clean an untrusted entry name from a layer: leading "/" and "./" are
 * dropped (absolute names are taken as relative to the root), "//" and "."
 * components collapse, a trailing "/" goes.  A ".." component anywhere is
 * refused with CKT_EFORMAT naming the entry.  *out receives the clean name ("" for the root
 * itself), newly allocated. */
int img_sp_clean_name(const char *name, char **out, struct ckt_err *err);
