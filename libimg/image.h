#pragma once
/* Images already in the store: finding them by the names users type and
 * loading their manifest and config for tools (inspect, unpack, exec). */
#include <stddef.h>

#include "base/err.h"
#include "libimg/manifest.h"
#include "libimg/platform.h"
#include "store/store.h"

/* Find ref in s: a ref name as the user types it ("alpine" is normalised
 * to docker.io/library/alpine:latest), a pinned "repo@sha256:…", a bare
 * digest, or the literal name of an index.json entry another tool wrote.
 * A pinned reference or digest must name a manifest or index blob in the
 * store.  *name (may be NULL on input) receives the ref name when the image
 * was found by name, else NULL.  Not found: CKT_ENOTFOUND. */
int img_image_resolve(struct store *s, const char *ref, char **name, struct store_desc *out,
		      struct ckt_err *err);

struct img_image {
	char *name;			/* ref name, or NULL when found by digest */
	struct store_desc top;		/* what the ref points at */
	struct store_desc desc;		/* the image manifest (== top unless an index) */
	char *index_json;		/* top's bytes when it is an index, else NULL */
	size_t index_len;
	char *manifest_json;
	size_t manifest_len;
	char *config_json;
	size_t config_len;
	struct img_manifest manifest;
	struct img_config config;
};

/* Resolve ref and load its manifest (chosen for platform from an index; NULL:
 * the host's) and config, each verified against its digest. */
int img_image_load(struct store *s, const char *ref, const struct img_platform *platform,
		   struct img_image *out, struct ckt_err *err);
void img_image_release(struct img_image *img);
