#pragma once
/* Tree snapshots in the store (DESIGN.md "The store", issue 4):
 *
 *   $STORE/trees/<name>/       an unpacked tree, never modified once published
 *   $STORE/trees/<name>.mtree  its manifest, written by whoever built it
 *                              (libimg/unpack); opaque to the store
 *   $STORE/trees/<name>.lock   flock held while <name> is being built
 *
 * A tree is built in a fresh directory under $STORE/tmp/ and published with
 * store_tree_publish(): the manifest is renamed into trees/ first, then the
 * directory; a tree counts as present only when both exist.  Trees are a
 * cache of their layers and are not fsynced (fsck checks them).  The store knows names, directories and
 * locks, nothing of what the names mean (libimg uses layer chain IDs). */
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "store/store.h"

/* Whether name is acceptable: 1-200 of [A-Za-z0-9_.-], not starting with
 * "." and not ending in ".mtree" or ".lock". */
bool store_tree_name_valid(const char *name);

/* $STORE/trees/<name> (newly allocated); it need not exist. */
char *store_tree_path(struct store *s, const char *name);

/* Whether tree name is published (directory and manifest present). */
bool store_tree_exists(struct store *s, const char *name);

/* Take the build lock of name (blocking).  Returns the fd holding the
 * flock; closing it releases the lock. */
int store_tree_lock(struct store *s, const char *name, struct ckt_err *err);

/* Mark the published tree at directory dir as in use for as long as the
 * returned fd stays open (a shared flock on its lock file): store_tree_gc()
 * keeps a tree in use even when no ref names it, so a running container's
 * lower directory never disappears.  Needs no open store, so a launcher can
 * call it cheaply.  A tree that is gone: CKT_ENOTFOUND. */
int store_tree_hold(const char *dir, struct ckt_err *err);
/* A new empty directory under $STORE/tmp/ to build name in (newly
 * allocated path).  Removed by the next gc if never published. */
char *store_tree_tmpdir(struct store *s, const char *name, struct ckt_err *err);

/* Publish the directory tmpdir (from store_tree_tmpdir) as tree name with
 * manifest.  A tree of that name already published is an error
 * (CKT_EINTERNAL): callers hold the build lock and check first. */
int store_tree_publish(struct store *s, const char *name, const char *tmpdir,
		       const void *manifest, size_t len, struct ckt_err *err);

/* Read the manifest of name (NUL-terminated, owned by the caller). */
int store_tree_manifest(struct store *s, const char *name, char **out, size_t *len,
			struct ckt_err *err);

/* The names of published trees and of stray entries of trees/ (a
 * directory without manifest or the reverse), sorted, NULL-terminated
 * (ckt_strv_free).  *n may be NULL. */
int store_tree_list(struct store *s, char ***out, size_t *n, struct ckt_err *err);

/* Remove tree name: directory, manifest and lock file.  Directories made
 * read-only (rootless trees) are opened up first.  Missing is fine. */
int store_tree_remove(struct store *s, const char *name, struct ckt_err *err);

/* Remove every tree whose name is not in live (NULL-terminated).  The
 * caller holds the store exclusively (STORE_EXCLUSIVE), so no unpack is
 * building or reading a tree meanwhile; trees held with store_tree_hold()
 * (running containers) are kept.  *removed (may be NULL) receives
 * the count. */
int store_tree_gc(struct store *s, char *const *live, size_t *removed, struct ckt_err *err);

/* Remove name in dirfd recursively without following symlinks, opening up
 * directories that lack owner write or search permission. Missing is fine;
 * returns -1 with errno on failure. */
int store_rm_rf_at(int dirfd, const char *name);
