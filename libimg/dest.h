#pragma once
/* Writing images from the store to files and directories other tools read
 * (ckt-convert --to, ckt-push to a local destination).  Destinations are
 * named as skopeo names them:
 *
 *   oci:DIR[:REF]              an OCI image layout (image-layout.md); created
 *                              when missing, an existing one is added to.  The
 *                              index.json entry is annotated with
 *                              org.opencontainers.image.ref.name = REF (no
 *                              annotation without REF, as skopeo does); an
 *                              entry of the same name is replaced.
 *   oci-archive:FILE[:REF]     a tar of such a layout (one image)
 *   docker-archive:FILE[:REF]  what `docker save` writes and `docker load`
 *                              reads: manifest.json, <config hex>.json,
 *                              uncompressed <diff-id hex>.tar layers and
 *                              repositories; REF is the RepoTag (default: the
 *                              image's tagged name in the store, if any)
 *
 * Files appear atomically (temporary name, fsync, rename): never a partial
 * archive.  Archives are deterministic: sorted entries, uid/gid 0, mode 0644
 * (directories 0755), mtime 0, so the same image gives the same bytes.
 * Every blob copied out is verified against its digest on the way. */
#include <stdbool.h>

#include "base/err.h"
#include "libimg/platform.h"
#include "store/store.h"

enum img_dest_flags {
	/* oci: and oci-archive: only: copy the whole index, every platform
	 * (default: when ref names an index, only the manifest chosen for
	 * platform, as skopeo copy without --all). */
	IMG_DEST_ALL_PLATFORMS = 1 << 0,
};

struct img_dest_opts {
	unsigned flags;
	const struct img_platform *platform;	/* NULL: the host's */
};

/* Write the image ref (anything img_image_resolve() accepts: a name, a
 * pinned reference, a digest) from s to dest.  o may be NULL (defaults).
 * *written (may be NULL) receives the destination in canonical form
 * ("oci-archive:/abs/FILE:REF"), newly allocated.  Errors: CKT_EUSAGE for
 * an unknown transport or an empty path, CKT_ENOTFOUND when ref is not in
 * the store, CKT_EVERIFY when a blob does not match its digest, CKT_EIO for
 * the destination; the destination is left as it was on failure (an oci:
 * layout may keep blobs that no entry references). */
int img_dest_write(struct store *s, const char *ref, const char *dest,
		   const struct img_dest_opts *o, char **written, struct ckt_err *err);

/* Whether dest names a destination transport this module writes. */
bool img_dest_is_known(const char *dest);
