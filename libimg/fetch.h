#pragma once
/* Bringing images into the store (ckt-fetch).  Sources are named as skopeo
 * names them: oci:DIR[:REF], oci-archive:FILE[:REF],
 * docker-archive:FILE[:REF|:@N], and docker://NAME or a bare NAME.
 *
 * Every blob is verified against its digest (and size) while it is copied
 * and only then published; manifests and configs go in after the blobs they
 * reference, and the ref last, so a ref never points to an incomplete image
 * and a failed fetch leaves index.json unchanged. */
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "libimg/platform.h"
#include "libimg/registry.h"
#include "store/store.h"

enum img_transport {
	IMG_TRANSPORT_DOCKER = 0,
	IMG_TRANSPORT_OCI,
	IMG_TRANSPORT_OCI_ARCHIVE,
	IMG_TRANSPORT_DOCKER_ARCHIVE,
	IMG_TRANSPORT_ACI,	/* aci:FILE, an appc image (libimg/src_aci.c) */
};

struct img_source {
	enum img_transport transport;
	char *path;	/* directory or file; for docker: the reference as given */
	char *ref;	/* the part after "PATH:", or NULL */
};

/* Split a source name into transport, path and ref (the path ends at the
 * first ':' after the transport, as skopeo does).  An unknown transport
 * prefix or an empty path is CKT_EUSAGE. */
int img_source_parse(const char *s, struct img_source *out, struct ckt_err *err);
void img_source_release(struct img_source *src);

enum img_fetch_flags {
	IMG_FETCH_ALL_PLATFORMS = 1 << 0,
};

struct img_fetch_opts {
	unsigned flags;
	const struct img_platform *platform;	/* NULL: the host's */
	const char *name;			/* name in the store, overriding the source's */
	/* Called as bytes of a blob are copied (may be NULL). */
	void (*progress)(void *data, const char *digest, uint64_t done, uint64_t total);
	void *progress_data;
	/* Registry sources: credentials, TLS, parallelism (NULL: defaults). */
	const struct img_registry_opts *registry;
	/* aci: URLs and appc discovery: --insecure-options=http,tls; a CA file;
	 * a port forced on discovery URLs (0: none; tests on loopback). */
	bool aci_allow_http;
	bool aci_insecure_tls;
	const char *aci_ca_file;
	int aci_discovery_port;
};

struct img_fetch_result {
	char *name;		/* normalised reference set in the store */
	char *pinned;		/* repository@digest */
	char digest[STORE_DIGEST_MAX];
	char *media_type;
	size_t blobs_fetched;	/* blobs that were not in the store before */
	uint64_t bytes_fetched;
	bool up_to_date;	/* the ref already pointed here and nothing was fetched */
};
void img_fetch_result_release(struct img_fetch_result *r);

/* Start loading, in the background, the libraries that fetching these
 * sources will need (libcurl for registries and URLs, libarchive for
 * archives; libimg/lazylib.h), so that it overlaps opening the store. */
void img_fetch_preload(char *const *sources, size_t n);

/* Copy the image named by source into s and point its name at it.  Errors:
 * CKT_EUSAGE for a bad source name, CKT_ENOTFOUND when the image is not in
 * the source, CKT_EFORMAT for malformed documents, CKT_EVERIFY when content
 * does not match its digest (nothing is published then). */
int img_fetch(struct store *s, const char *source, const struct img_fetch_opts *o,
	      struct img_fetch_result *res, struct ckt_err *err);
