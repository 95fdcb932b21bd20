#pragma once
/* Sending images from the store out (ckt-push): to a registry
 * (docker://HOST/NAME[:TAG]) with the registry client, or to the local
 * destinations of libimg/dest.h (oci:, oci-archive:, docker-archive:).
 *
 * For a registry: each blob is HEADed and skipped when present, mounted
 * from the image's own repository when that is on the same registry,
 * otherwise uploaded (monolithic, or in chunks of chunk_size); then the
 * manifests go up by digest and the top one under the destination's tag,
 * so a tag never points at something incomplete.  The bytes of every
 * manifest and index are sent unchanged: the pushed digest is the
 * store's. */
#include <stddef.h>

#include "base/err.h"
#include "libimg/platform.h"
#include "libimg/registry.h"
#include "store/store.h"

enum img_push_flags {
	IMG_PUSH_ALL_PLATFORMS = 1 << 0, /* push a whole index, not one platform's manifest */
	IMG_PUSH_NO_MOUNT = 1 << 1,	 /* never try a cross-repository mount */
};

struct img_push_opts {
	unsigned flags;
	const struct img_platform *platform;	 /* from an index; NULL: the host's */
	const struct img_registry_opts *registry; /* NULL: defaults */
	size_t chunk_size;			 /* 0: monolithic uploads */
};

struct img_push_result {
	char *pushed;		/* "HOST/NAME@sha256:…", or the local destination written */
	char digest[STORE_DIGEST_MAX];
	size_t blobs_uploaded;
	size_t blobs_mounted;
	size_t blobs_skipped;	/* already in the registry */
};
void img_push_result_release(struct img_push_result *r);

/* Start loading, in the background, the library that pushing to dest
 * needs (libcurl for docker://, libarchive for archives; libimg/lazylib.h). */
void img_push_preload(const char *dest);

/* Push the image ref (a name, pinned reference or digest in s) to dest.
 * dest "docker://…" is a registry; oci:, oci-archive: and docker-archive:
 * go through img_dest_write().  When ref names an index, only the manifest
 * for o->platform is pushed unless IMG_PUSH_ALL_PLATFORMS.  Errors:
 * CKT_EUSAGE for a bad destination, CKT_ENOTFOUND when ref is not in the
 * store, CKT_ENET for the registry, CKT_EVERIFY when it disagrees about a
 * digest. */
int img_push(struct store *s, const char *ref, const char *dest, const struct img_push_opts *o,
	     struct img_push_result *res, struct ckt_err *err);

/* Where image src (a reference in the store) goes when several images are
 * mirrored under prefix ("docker://HOST[/PREFIX]"): prefix/PATH:TAG, or
 * prefix/PATH@DIGEST for a pinned reference unless a name in the store
 * with the same repository points at that digest and has a tag, which is
 * then kept (so `ckt-fetch NAME:TAG | ckt-push - docker://mirror` keeps
 * TAG).  Newly allocated; CKT_EFORMAT when src is not an image name. */
char *img_push_mirror_dest(struct store *s, const char *prefix, const char *src,
			   struct ckt_err *err);
