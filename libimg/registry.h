#pragma once
/* A client for one registry (OCI distribution spec / docker registry API v2)
 * on libcurl.  It speaks for every tool that talks to registries (ckt-fetch,
 * ckt-push, and signature tools pushing or fetching cosign-style
 * `sha256-<hex>.sig` tags): ping, authentication (bearer tokens cached per
 * scope, basic auth), manifests by tag or digest, blobs into store writers
 * (in parallel, resumable, verified while they stream), blob uploads and
 * manifest PUTs.
 *
 * Transport rules (DESIGN.md "Formats"): https is tried first and TLS is
 * always verified, with the CA and client certificates of --cert-dir or
 * certs.d/HOST:PORT; plain http is used for 127.0.0.0/8, ::1 and localhost
 * when the https handshake fails, and for any host when insecure is set
 * (which also turns TLS verification off).  Requests that fail with a
 * connection error, 429 (honouring Retry-After) or 5xx are retried with
 * exponential backoff; interrupted blob downloads resume with Range.
 * Redirects (blob hosts) are followed without the registry's Authorization
 * header.  Proxies come from libcurl's usual environment variables.
 *
 * No curl or OpenSSL type appears here; the client is opaque. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

struct img_registry_opts {
	const char *creds;	/* "USER[:PASSWORD]" overriding the credential files, or NULL */
	const char *cert_dir;	/* directory of *.crt CAs and *.cert and *.key client pairs, or
				 * NULL: certs.d/HOST[:PORT] (see img_registry_certs_dirs) */
	bool insecure;		/* --tls-verify=false: plain http and unverified TLS allowed */
	unsigned max_parallel;	/* concurrent blob transfers; 0: 4 */
	unsigned max_retries;	/* attempts after the first; 0: 4 */
	/* Progress of blob transfers (may be NULL): label is a digest or a
	 * summary such as "3 blobs"; total 0 when unknown. */
	void (*progress)(void *data, const char *label, uint64_t done, uint64_t total);
	void *progress_data;
};

struct img_registry;

/* A client for the registry of a reference's domain ("docker.io" is served
 * by registry-1.docker.io).  Nothing is contacted yet; o (may be NULL) is
 * copied (its strings are borrowed and must outlive the client).  Fails
 * only for an unreadable --cert-dir (CKT_EIO). */
struct img_registry *img_registry_new(const char *domain, const struct img_registry_opts *o,
				      struct ckt_err *err);
void img_registry_free(struct img_registry *r);
static inline void img_registry_freep(struct img_registry **r)
{
	img_registry_free(*r);
}
#define _cleanup_registry_ __attribute__((cleanup(img_registry_freep)))

/* GET /v2/: pick http or https and learn the authentication challenge.
 * Every other call pings first when needed.  CKT_ENET when unreachable or
 * not a registry. */
int img_registry_ping(struct img_registry *r, struct ckt_err *err);

/* Check that the credentials found for the registry (o->creds first) are
 * accepted: basic auth on GET /v2/, or a token from the bearer realm.
 * Refused: CKT_ENET (HTTP 401); none found: CKT_EUSAGE. */
int img_registry_check_login(struct img_registry *r, struct ckt_err *err);

/* The Accept list for manifests and indexes (OCI and docker schema2, and
 * schema1 so it can be refused by name). */
extern const char img_registry_manifest_accept[];

/* GET a manifest or index of repo (a repository path such as
 * "library/alpine") by tag or digest.  The body (at most IMG_MANIFEST_MAX
 * bytes, NUL-terminated, owned by the caller) must hash to the digest asked
 * for, or to the Docker-Content-Digest the registry sent (else
 * CKT_EVERIFY); out->digest is its sha256 (or the digest asked for),
 * out->size its length and out->media_type the Content-Type.  Missing:
 * CKT_ENOTFOUND. */
int img_registry_get_manifest(struct img_registry *r, const char *repo, const char *ref,
			      char **data, size_t *len, struct store_desc *out,
			      struct ckt_err *err);
/* HEAD a manifest: 1 when it exists (out, may be NULL, gets its digest from
 * Docker-Content-Digest and its media type), 0 when not. */
int img_registry_head_manifest(struct img_registry *r, const char *repo, const char *ref,
			       struct store_desc *out, struct ckt_err *err);
/* PUT a manifest or index (media_type is its Content-Type) under ref (a tag,
 * or its digest).  The digest the registry returns must be the body's. */
int img_registry_put_manifest(struct img_registry *r, const char *repo, const char *ref,
			      const char *media_type, const void *data, size_t len,
			      struct ckt_err *err);

/* HEAD a blob: 1 when the registry has it (with d's size when known), 0 when
 * not. */
int img_registry_blob_exists(struct img_registry *r, const char *repo,
			     const struct store_desc *d, struct ckt_err *err);
/* GET a small blob (at most max bytes) into memory, verified. */
int img_registry_get_blob_mem(struct img_registry *r, const char *repo,
			      const struct store_desc *d, size_t max, char **data, size_t *len,
			      struct ckt_err *err);
/* Download blobs d[0..n) of repo into the store, up to max_parallel at a
 * time, each streamed into a resumable store writer (tmp/ partial files
 * named by digest: an interrupted transfer, in this process or an earlier
 * one, continues with a Range request) and published only when its digest
 * and size match.  Blobs already in the store are skipped.  *fetched and
 * *bytes (may be NULL) receive what was actually downloaded.  The first
 * failure is reported (CKT_EVERIFY for content that does not match) and
 * the remaining transfers are stopped. */
int img_registry_get_blobs(struct img_registry *r, const char *repo, struct store *s,
			   const struct store_desc *d, size_t n, size_t *fetched, uint64_t *bytes,
			   struct ckt_err *err);

/* Upload blob d of the store to repo unless the registry has it already:
 * HEAD, then a cross-repository mount from mount_from (a repository on the
 * same registry, or NULL), then a monolithic PUT, or PATCH chunks of
 * chunk_size bytes (0: monolithic) and a closing PUT.  *how (may be NULL)
 * gets "exists", "mounted" or "uploaded". */
int img_registry_put_blob(struct img_registry *r, const char *repo, struct store *s,
			  const struct store_desc *d, const char *mount_from, size_t chunk_size,
			  const char **how, struct ckt_err *err);

/* ---- exposed for tests ------------------------------------------------- */

/* One challenge of a WWW-Authenticate header (RFC 7235): the scheme
 * ("Bearer", "Basic") and its parameters; known ones pulled out. */
struct img_auth_challenge {
	char *scheme;
	char *realm;
	char *service;
	char *scope;
	char *error;
};
/* Parse a WWW-Authenticate value holding one or more challenges, with
 * quoted-string values (backslash escapes) and token values.  *out is
 * owned by the caller (img_auth_challenges_free).  Malformed: CKT_EFORMAT. */
int img_auth_challenges_parse(const char *value, struct img_auth_challenge **out, size_t *n,
			      struct ckt_err *err);
void img_auth_challenges_free(struct img_auth_challenge *c, size_t n);

/* Parse a Retry-After value (delay seconds, or an HTTP date relative to
 * now); -1 when absent or invalid. */
long img_registry_retry_after(const char *value, long now);
