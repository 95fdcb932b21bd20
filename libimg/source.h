#pragma once
/* Internal to libimg: the interface every image source implements for
 * img_fetch().  read() returns small blobs (manifests, configs) verified
 * against their descriptor; copy() streams a blob into the store verified. */
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "libimg/fetch.h"
#include "store/store.h"

struct img_src;

/* Progress and counters shared by a fetch. */
struct img_fetch_ctx {
	const struct img_fetch_opts *opts;
	struct store *store;
	size_t blobs_fetched;
	uint64_t bytes_fetched;
};

struct img_src_ops {
	/* The descriptor of the top-level manifest or index, and the name the
	 * source gives it (ref.name, RepoTag; may be NULL). */
	int (*resolve)(struct img_src *src, struct store_desc *top, char **name,
		       struct ckt_err *err);
	int (*read)(struct img_src *src, const struct store_desc *d, size_t max, char **data,
		    size_t *len, struct ckt_err *err);
	/* Copy d into the store (it is not there yet). */
	int (*copy)(struct img_src *src, struct img_fetch_ctx *ctx, const struct store_desc *d,
		    struct ckt_err *err);
	/* Optional: copy those of d[0..n) not yet in the store, possibly in
	 * parallel, adding what was copied to ctx's counters. */
	int (*copy_many)(struct img_src *src, struct img_fetch_ctx *ctx, const struct store_desc *d,
			 size_t n, struct ckt_err *err);
	void (*free)(struct img_src *src);
};

struct img_src {
	const struct img_src_ops *ops;
	const struct img_source *spec;
};

struct img_src *img_src_oci_open(const struct img_source *spec, struct ckt_err *err);
struct img_src *img_src_docker_open(const struct img_source *spec, const struct img_fetch_opts *o,
				    struct ckt_err *err);
struct img_src *img_src_archive_open(const struct img_source *spec, struct store *s,
				     struct ckt_err *err);
/* aci:FILE: renders the ACI (and its dependencies from the store) into a
 * one-layer image; the layer and the stored ACI go into s at open. */
struct img_src *img_src_aci_open(const struct img_source *spec, const struct img_fetch_opts *o,
				 struct store *s, struct ckt_err *err);

/* Check an oci-layout file's version (shared by the layout and archive sources). */
int img_oci_layout_check(const char *data, size_t len, struct ckt_err *err);
struct img_index;
/* Choose the index.json entry named ref, or the only entry when ref is NULL. */
int img_oci_layout_pick(const struct img_index *idx, const char *ref, struct store_desc *top,
			char **name, struct ckt_err *err);

/* Check that data has descriptor d's digest and size (CKT_EVERIFY if not). */
int img_verify_buf(const struct store_desc *d, const void *data, size_t len, struct ckt_err *err);
/* Copy a blob from fd into the store, verified, reporting progress. */
int img_copy_fd(struct img_fetch_ctx *ctx, int fd, const struct store_desc *d,
		struct ckt_err *err);
