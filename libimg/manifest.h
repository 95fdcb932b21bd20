#pragma once
/* Manifests, indexes and image configs: OCI image-spec manifest.md,
 * image-index.md and config.md, and docker's schema2 manifest and manifest
 * list.  Schema1 is recognised only to be refused with a clear error.
 *
 * Parsing is strict about types (a field of the wrong JSON type is
 * CKT_EFORMAT naming the field), digests (store_digest_parse) and sizes (a
 * non-negative integer).  Unknown fields are ignored as the spec asks. */
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "libimg/platform.h"
#include "store/store.h"

#define IMG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define IMG_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define IMG_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define IMG_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMG_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define IMG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMG_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define IMG_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define IMG_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define IMG_MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define IMG_MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* Manifests and indexes larger than this are refused (the distribution
 * spec lets registries refuse manifests over 4 MiB). */
#define IMG_MANIFEST_MAX (4u << 20)
/* Image configs larger than this are refused. */
#define IMG_CONFIG_MAX (16u << 20)

enum img_kind {
	IMG_KIND_UNKNOWN = 0,
	IMG_KIND_MANIFEST,	/* OCI manifest or docker schema2 */
	IMG_KIND_INDEX,		/* OCI index or docker manifest list */
	IMG_KIND_SCHEMA1,	/* docker schema1: refused */
	IMG_KIND_CONFIG,
	IMG_KIND_LAYER,
};

/* Kind of a media type (NULL or unknown: IMG_KIND_UNKNOWN). */
enum img_kind img_media_type_kind(const char *media_type);

/* Layer compression named by a layer media type. */
enum img_compression {
	IMG_COMPRESS_NONE = 0,
	IMG_COMPRESS_GZIP,
	IMG_COMPRESS_ZSTD,
	IMG_COMPRESS_UNKNOWN,
};
enum img_compression img_layer_compression(const char *media_type);
/* Compression recognised from the first bytes of a blob (gzip 1f 8b, zstd
 * 28 b5 2f fd); IMG_COMPRESS_NONE otherwise. */
enum img_compression img_sniff_compression(const void *data, size_t len);

/* Identify a manifest-like document: its declared mediaType, else the hint
 * (the descriptor's media type), else its shape ("manifests" → index,
 * "layers"/"config" → manifest, schemaVersion 1 → schema1).  A declared
 * type that contradicts the hint is CKT_EFORMAT.  *media_type (may be NULL
 * on input) receives the resolved media type, newly allocated. */
int img_doc_identify(const char *data, size_t len, const char *hint, enum img_kind *kind,
		     char **media_type, struct ckt_err *err);

struct img_manifest {
	char *media_type;
	struct store_desc config;
	struct store_desc *layers;
	size_t n_layers;
};
int img_manifest_parse(const char *data, size_t len, const char *hint, struct img_manifest *out,
		       struct ckt_err *err);
void img_manifest_release(struct img_manifest *m);

struct img_index_entry {
	struct store_desc desc;
	bool has_platform;
	struct img_platform platform;
	char *ref_name;		/* org.opencontainers.image.ref.name, or NULL */
};
struct img_index {
	char *media_type;
	struct img_index_entry *entries;
	size_t n;
};
/* Parse an OCI index / docker manifest list (also an OCI layout's index.json). */
int img_index_parse(const char *data, size_t len, const char *hint, struct img_index *out,
		    struct ckt_err *err);
void img_index_release(struct img_index *idx);
/* Pick the entry for platform want (NULL: the host's).  Entries without a
 * platform are skipped;
 * attestation manifests (platform unknown/unknown) never match.  No match is
 * CKT_ENOTFOUND listing the platforms the index offers. */
int img_index_select(const struct img_index *idx, const struct img_platform *want, size_t *which,
		     struct ckt_err *err);

struct img_config {
	struct img_platform platform;
	char **diff_ids;	/* NULL-terminated; never NULL after a parse */
	size_t n_diff_ids;
	char **entrypoint;	/* NULL-terminated, or NULL when unset */
	char **cmd;
	char **env;
	char *user;
	char *workdir;
	char *created;
	char *author;
};
int img_config_parse(const char *data, size_t len, struct img_config *out, struct ckt_err *err);
void img_config_release(struct img_config *c);

/* Build an OCI image manifest for config and layers (compact JSON with a
 * fixed key order, so the same input always gives the same bytes).  *out is
 * newly allocated. */
char *img_manifest_build(const struct store_desc *config, const struct store_desc *layers,
			 size_t n_layers, size_t *len);

/* store_walk_fn for gc and fsck: children of manifests and indexes, read
 * from the store; other blobs have none.  data is unused. */
int img_store_walk(struct store *s, const struct store_desc *d, struct store_desc **children,
		   size_t *n, void *data, struct ckt_err *err);
