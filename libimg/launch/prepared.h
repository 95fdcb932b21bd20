#pragma once
/* Prepared images: what ckt-exec needs to start an image that is already in
 * the store, kept in $STORE/exec-cache/ by ckt-exec-prepare so that
 * ckt-exec itself links none of the fetch, unpack and signature libraries
 * (loading them cost more than the whole container start).  A record is
 * valid while the store's index.json is the one it was made from (device,
 * inode, size and modification time) and its snapshot exists.
 *
 * Format: NUL-terminated strings: "ckt-prepared-1", the key, the index
 * stamp, the snapshot, the image name, the user, the working directory,
 * then three lists (entrypoint, cmd, env), each a count and its strings
 * (a "-" count marks an unset entrypoint or cmd), then the appc image
 * manifest of an ACI ("" for other images). */
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct launch_prepared {
	char *key;
	char *stamp;
	char *snapshot;		/* the image's read-only tree */
	char *image;		/* its name (or digest) */
	char *user;		/* "" when unset */
	char *workdir;		/* "" when unset */
	char **entrypoint;	/* NULL-terminated, or NULL when unset */
	char **cmd;
	char **env;		/* never NULL after a read */
	char *appc;		/* the appc image manifest (JSON) an image rendered
				 * from an ACI runs by (libimg/exec_aci.h); "" when
				 * none */
};

/* The key of ref for a platform ("" for the host's) and for the caller's
 * kind of snapshot (rootless or not), newly allocated. */
char *launch_prepared_key(const char *ref, const char *platform, bool rootless);
/* $STORE/exec-cache/<hash of key>, newly allocated. */
char *launch_prepared_path(const char *store_root, const char *key);
/* The stamp of the store's index.json into buf; false when it cannot be read. */
bool launch_prepared_stamp(const char *store_root, char *buf, size_t len);

/* Write p to path atomically (no fsync: a lost record is only rebuilt). */
int launch_prepared_write(const char *path, const struct launch_prepared *p,
			  struct ckt_err *err);
/* Read the record at path for key; CKT_ENOTFOUND when it is missing, for
 * another key, malformed, or stale (index.json changed, snapshot gone). */
int launch_prepared_read(const char *path, const char *key, const char *store_root,
			 struct launch_prepared *p, struct ckt_err *err);
void launch_prepared_release(struct launch_prepared *p);

/* Hold the snapshot p->snapshot while a container runs on it: a shared
 * lock on "<snapshot>.lock", the protocol of store_tree_hold() (store/tree.h),
 * which gc respects.  Kept here rather than called there so that ckt-exec
 * links no store.o (and, through it, no libcrypto).  Returns the fd holding
 * the lock; CKT_ENOTFOUND when a gc removed the tree first. */
int launch_prepared_hold(const struct launch_prepared *p, struct ckt_err *err);
