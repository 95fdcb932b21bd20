#pragma once
/* Image signatures: containers/image "simple signing" payloads
 * (containers-signature(5), docs/containers-signature.5.md) and the
 * signatures kept in the store beside their image.
 *
 * Payload (JSON, signed as an OpenPGP message for simple signing, or
 * signed with ECDSA for cosign-style signatures):
 *
 *   {"critical": {"identity": {"docker-reference": "registry/repo:tag"},
 *                 "image": {"docker-manifest-digest": "sha256:…"},
 *                 "type": "atomic container signature"},
 *    "optional": {"creator": "ckt 0.1.0", "timestamp": 1700000000}}
 *
 * Signatures in the store: every signature is a blob; the blobs of one
 * image are the layers of a small OCI artifact manifest, and index.json
 * names that manifest "<repository>:sha256-<hex>.<suffix>" (suffix "sig"
 * for cosign-style signatures, cosign's own tag convention, and "simplesig"
 * for simple signing).  gc keeps signatures because they hang off a ref
 * like any image, and `ckt-image rm` of an image leaves its signatures
 * (remove the signature refs to drop them).  The cosign manifest is the
 * one pushed to registries as-is.  Adding a signature rewrites its
 * manifest under an exclusive flock of $STORE/tmp/signatures.lock, so
 * concurrent signers lose nothing. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

#define IMG_SIG_TYPE_SIMPLE "atomic container signature"
#define IMG_SIG_TYPE_COSIGN "cosign container image signature"

#define IMG_MT_SIMPLESIG "application/vnd.ckt.simple-signing.signature.v1"
#define IMG_MT_COSIGN_PAYLOAD "application/vnd.dev.cosign.simplesigning.v1+json"
#define IMG_COSIGN_SIG_ANNOTATION "dev.cosignproject.cosign/signature"

/* Signatures larger than this are refused (containers/image uses 4 MiB). */
#define IMG_SIG_MAX (4u << 20)

struct img_sig_payload {
	char *docker_ref;	/* critical.identity.docker-reference */
	char *digest;		/* critical.image.docker-manifest-digest */
	char *type;		/* critical.type */
};
void img_sig_payload_release(struct img_sig_payload *p);

/* Build a payload (compact JSON, fixed key order).  creator may be NULL;
 * timestamp < 0 leaves it out.  Newly allocated. */
char *img_sig_payload_build(const char *docker_ref, const char *digest, const char *type,
			    const char *creator, int64_t timestamp, size_t *len);

/* Parse a payload strictly as containers/image does: critical holds exactly
 * type, image and identity; image exactly docker-manifest-digest; identity
 * exactly docker-reference; type must equal want_type.  Violations are
 * CKT_EVERIFY "invalid signature payload". */
int img_sig_payload_parse(const char *data, size_t len, const char *want_type,
			  struct img_sig_payload *out, struct ckt_err *err);

enum img_sig_kind {
	IMG_SIG_SIMPLE = 0,	/* OpenPGP signed message */
	IMG_SIG_COSIGN,		/* payload + base64 ECDSA signature */
};

struct img_sig {
	enum img_sig_kind kind;
	char *data;		/* simple: the signature blob; cosign: the payload */
	size_t len;
	char *cosign_sig;	/* cosign: base64 signature (annotation), else NULL */
	char *origin;		/* where it was found (store, a lookaside URL), for messages */
};
void img_sigs_free(struct img_sig *v, size_t n);

/* The store ref name of the signatures of digest in repo
 * ("domain/path:sha256-<hex>.sig"); newly allocated. */
char *img_sig_ref_name(const char *repo, const char *digest, enum img_sig_kind kind);

/* Add a signature for image digest of repository repo (domain/path) to the
 * store; a signature already there is not added twice.  For cosign,
 * data/len is the payload and cosign_sig the base64 signature. */
int img_sig_store_add(struct store *s, const char *repo, const char *digest,
		      const struct img_sig *sig, struct ckt_err *err);

/* Append to *v the signatures of digest kept in the store for repository
 * repo, or for any repository when repo is NULL (a signature names its
 * identity itself, and the policy checks it).  None is not an error. */
int img_sig_store_list(struct store *s, const char *repo, const char *digest,
		       struct img_sig **v, size_t *n, struct ckt_err *err);

/* Read the cosign signature manifest ref of repo/digest: its bytes
 * (*manifest, newly allocated) and descriptor, for pushing.  Missing:
 * CKT_ENOTFOUND. */
int img_sig_cosign_manifest(struct store *s, const char *repo, const char *digest,
			    struct store_desc *desc, struct ckt_err *err);

/* Parse a cosign signature manifest (from a registry or the store) whose
 * blobs are read through read_blob, appending its signatures to *v. */
typedef int (*img_blob_reader)(void *data, const struct store_desc *d, char **out, size_t *len,
			       struct ckt_err *err);
int img_sig_cosign_parse(const char *manifest, size_t len, img_blob_reader read_blob,
			 void *data, const char *origin, struct img_sig **v, size_t *n,
			 struct ckt_err *err);

/* Add sig to *v (copying it). */
void img_sigs_add(struct img_sig **v, size_t *n, const struct img_sig *sig);
