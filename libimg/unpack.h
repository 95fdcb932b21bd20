#pragma once
/* Turning an image in the store into a root filesystem (issue 4).
 *
 * Layers are applied in order, as the OCI image spec's layer.md says
 * (whiteouts, opaque directories, hard links, xattrs, ...), by libimg/layer,
 * onto a tree snapshot in the store: $STORE/trees/sha256-<hex>/ (the chain ID with ":" made "-", since
 * overlayfs lowerdir lists split on ":") holds the
 * FULL applied chain up to and including the layer named by chain-id
 * (config.md "Layer ChainID").  A snapshot is built once, under a per-tree
 * lock, in $STORE/tmp/, and published by rename; a later image whose layers
 * start with the same chain starts from the longest existing prefix
 * snapshot (copied with reflinks or copy_file_range) and applies only the
 * rest.  Snapshots are read-only by convention: nobody writes into a
 * published snapshot; ckt-exec overlays them (lowerdir), ckt-unpack copies
 * them.
 *
 * Ownership: as root every entry gets its uid/gid/mode.  Unprivileged (or
 * with IMG_UNPACK_ROOTLESS) files belong to the caller and the original
 * uid/gid are kept in the "user.rootlesscontainers" xattr, umoci's
 * convention (a protobuf message: field 1 uid, field 2 gid, varints; absent
 * when 0:0). */
#include <stdbool.h>

#include "base/err.h"
#include "libimg/image.h"
#include "store/store.h"

enum img_unpack_flags {
	IMG_UNPACK_ROOTLESS = 1 << 0,	/* rootless ownership even when run as root */
	IMG_UNPACK_NO_SNAPSHOT = 1 << 1,	/* img_unpack_dir: apply straight into dir */
	IMG_UNPACK_BUNDLE = 1 << 2,	/* img_unpack_dir: write an OCI runtime bundle */
};

/* Path (newly allocated, *dir) of the read-only snapshot directory holding
 * img's full applied layer chain, $STORE/trees/sha256-<hex>, building it
 * first when it is missing.  The snapshot must not be modified.  A layer
 * whose uncompressed digest differs from the config's diff_id fails with
 * CKT_EVERIFY and nothing is published; a hostile layer (an entry escaping
 * the root, ...) fails with CKT_EFORMAT naming the entry.  flags:
 * IMG_UNPACK_ROOTLESS (implied when not running as root).  Snapshots made
 * rootless and as root differ, so the chain directory's name carries a
 * "-rootless" suffix for the former. */
int img_unpack_snapshot(struct store *s, const struct img_image *img, unsigned flags,
			char **dir, struct ckt_err *err);

/* Write img's root filesystem into dir (created if missing; an existing
 * directory must be empty) as an independent copy that shares no inode with
 * the store.  With IMG_UNPACK_BUNDLE, dir receives an OCI runtime bundle:
 * dir/config.json (libimg/bundle) and dir/rootfs. */
int img_unpack_dir(struct store *s, const struct img_image *img, const char *dir,
		   unsigned flags, struct ckt_err *err);

/* The chain IDs of img's layers (config.md): ChainID(L0) = DiffID(L0),
 * ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).  *out is a
 * NULL-terminated vector of n_diff_ids strings (ckt_strv_free).  An image
 * without layers yields an empty vector. */
int img_chain_ids(const struct img_config *c, char ***out, struct ckt_err *err);

/* The snapshot names (trees/<name>) that refs of s use, both the root and
 * the rootless variant of each image's full chain, for ckt-image gc.
 * NULL-terminated vector in *out (ckt_strv_free).  Refs whose image cannot
 * be loaded are skipped with a warning. */
int img_unpack_live_trees(struct store *s, char ***out, struct ckt_err *err);

/* ckt-image fsck: check every tree of the store against its recorded
 * manifest (trees/<name>.mtree: every path's type, mode, owner, size,
 * sha256, link target, device numbers and xattrs).  Each problem goes to
 * report; *problems receives their count.  Returns 0 when the check ran. */
int img_tree_check(struct store *s, void (*report)(const char *problem, void *data), void *data,
		   size_t *problems, struct ckt_err *err);
