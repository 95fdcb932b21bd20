#pragma once
/* Converting images in the store (ckt-convert): OCI/docker → appc ACI with
 * docker2aci's manifest mapping (APPC-NOTES §5, its bugs fixed), and layer
 * recompression.
 *
 * Stored ACIs.  Every ACI ckt writes or fetches is also kept in the store,
 * wrapped in an OCI image manifest so the store stays a plain OCI layout
 * that gc, fsck, skopeo and umoci walk like any other image:
 *
 *   manifest  mediaType application/vnd.oci.image.manifest.v1+json,
 *             artifactType application/vnd.appc.aci,
 *             annotations io.appc.image.id = "sha512-<128 hex>" (the image
 *             ID: sha512 of the uncompressed tar), io.appc.image.name
 *   config    the appc image manifest JSON,
 *             mediaType application/vnd.appc.image.manifest.v1+json
 *   layers[0] the .aci file exactly as written or downloaded (compressed
 *             or not), mediaType application/vnd.appc.aci
 *   layers[1] (optional) its detached signature, the .aci.asc as fetched,
 *             mediaType application/vnd.appc.aci.signature
 *
 * and index.json names it by its image ID ("sha512-<128 hex>"), so every
 * stored ACI is a gc root and several images of one AC name coexist, as in
 * rkt's store.  img_aci_store_find() looks them up by ID prefix or by AC
 * name and labels. */
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "libimg/aci.h"
#include "libimg/platform.h"
#include "store/store.h"

#define IMG_MT_ACI "application/vnd.appc.aci"
#define IMG_MT_ACI_MANIFEST "application/vnd.appc.image.manifest.v1+json"
#define IMG_MT_ACI_SIGNATURE "application/vnd.appc.aci.signature"
#define IMG_ANNOT_ACI_ID "io.appc.image.id"
#define IMG_ANNOT_ACI_NAME "io.appc.image.name"

enum img_convert_flags {
	/* One ACI per layer into a directory instead of one squashed ACI. */
	IMG_CONVERT_NO_SQUASH = 1 << 0,
};

struct img_convert_aci_opts {
	unsigned flags;
	enum img_aci_compression compression;
	const struct img_platform *platform;	/* NULL: the host's */
};

struct img_convert_aci_result {
	char id[IMG_ACI_ID_MAX];	/* the (top) image ID */
	char *name;			/* the AC name */
	char **paths;			/* files written, top image last (ckt_strv_free) */
	char **ids;			/* their image IDs, same order */
};
void img_convert_aci_result_release(struct img_convert_aci_result *r);

/* Write the image ref of s as an ACI to out (a file, or with NO_SQUASH a
 * directory that is created if missing), atomically, and keep a copy in the
 * store as described above.  Errors: CKT_ENOTFOUND (no such image),
 * CKT_EVERIFY (a layer not matching its digest), CKT_EFORMAT, CKT_EIO. */
int img_convert_to_aci(struct store *s, const char *ref, const char *out,
		       const struct img_convert_aci_opts *o, struct img_convert_aci_result *res,
		       struct ckt_err *err);

/* The appc image manifest for an image (config JSON as in the store),
 * following docker2aci's mapping: exposed for tests.  ref is what the user
 * named the image by (gives name, version label and annotations); may be
 * NULL.  Newly allocated JSON text. */
char *img_aci_manifest_from_oci(const char *ref, const char *config_json, size_t config_len,
				const char *manifest_digest, const char *config_digest,
				struct ckt_err *err);

/* Store an ACI file (fd, read from offset 0) with its optional signature
 * (sig may be NULL) as a stored ACI (above), after img_aci_check().  info
 * (may be NULL) receives what the check found. */
int img_aci_store_put(struct store *s, int fd, const char *sig, size_t sig_len,
		      struct img_aci_info *info, struct ckt_err *err);

/* Find a stored ACI: by image ID or a prefix of it ("sha512-" + at least 2
 * hex; an ambiguous prefix is CKT_EUSAGE), else by AC name and labels
 * (each "name=value"; an image must carry every one; newest entry of
 * index.json wins).  desc receives the wrapper manifest's descriptor, id
 * the full image ID.  Not found: CKT_ENOTFOUND. */
int img_aci_store_find(struct store *s, const char *id_or_name, char *const *labels,
		       struct store_desc *desc, char id[IMG_ACI_ID_MAX], struct ckt_err *err);

/* Open the stored ACI file of the wrapper manifest desc (read-only fd). */
int img_aci_store_open(struct store *s, const struct store_desc *desc, struct ckt_err *err);

/* Render the stored ACI named id_or_name (as img_aci_store_find) and its
 * dependencies into a one-layer OCI image in the store (as ckt-fetch
 * aci:FILE does), named localhost/aci/sha512-<12 hex>:latest so that no
 * name the user gave is retagged; *digest receives the image manifest's
 * digest (a reference img_image_resolve takes), newly allocated. */
int img_aci_to_oci(struct store *s, const char *id_or_name, char **digest, struct ckt_err *err);

enum img_layer_compression {
	IMG_LAYER_GZIP = 0,
	IMG_LAYER_ZSTD,
	IMG_LAYER_NONE,
};
/* Rewrite every layer of ref with compression c (configs and diff_ids
 * unchanged; manifests, and an index around them, rewritten with the new
 * digests and media types) and point tag at the result.  *pinned receives
 * "name@digest" (newly allocated). */
int img_recompress(struct store *s, const char *ref, enum img_layer_compression c,
		   const char *tag, const struct img_platform *platform, char **pinned,
		   struct ckt_err *err);
