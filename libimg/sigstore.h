#pragma once
/* Cosign-style key signatures (sigstore), on OpenSSL and libsodium.
 *
 * Keys are ECDSA P-256.  The public key is a PEM "PUBLIC KEY"
 * (SubjectPublicKeyInfo); the private key is cosign's encrypted format
 * (sigstore/pkg/cryptoutils, cosign pkg/cosign/keys.go):
 *
 *   -----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----   (older: ENCRYPTED COSIGN)
 *   base64 of {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1},
 *                      "salt": b64(32 bytes)},
 *              "cipher": {"name": "nacl/secretbox", "nonce": b64(24 bytes)},
 *              "ciphertext": b64(secretbox(PKCS#8 DER of the key))}
 *
 * where the secretbox key is scrypt(password, salt, N, r, p, 32)
 * (theupdateframework/go-tuf encrypted).  The password comes from the
 * caller (COSIGN_PASSWORD for the tools; empty is allowed).
 *
 * A signature is ECDSA-SHA256 (ASN.1 DER) over the payload bytes, carried
 * base64-encoded in the dev.cosignproject.cosign/signature annotation of
 * the payload layer (libimg/sign.h). */
#include <stddef.h>

#include "base/err.h"

/* Generate a key pair: *pub_pem and *key_pem (cosign's encrypted format
 * with password) are newly allocated NUL-terminated strings. */
int img_sigstore_generate(const char *password, char **pub_pem, char **key_pem,
			  struct ckt_err *err);

/* Sign payload with the encrypted private key (key_pem, decrypted with
 * password; a wrong password is CKT_EVERIFY "wrong password").  *sig_b64
 * is the base64 DER signature, newly allocated. */
int img_sigstore_sign(const char *key_pem, size_t key_len, const char *password,
		      const void *payload, size_t len, char **sig_b64, struct ckt_err *err);

/* Verify a base64 signature over payload with a PEM public key.  A bad
 * signature is CKT_EVERIFY "bad signature"; an unusable key CKT_EFORMAT. */
int img_sigstore_verify(const char *pub_pem, size_t pub_len, const void *payload, size_t len,
			const char *sig_b64, struct ckt_err *err);

/* Standard base64 (padding optional on input; whitespace skipped).  Newly
 * allocated; invalid input is CKT_EFORMAT. */
int img_base64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len,
		      struct ckt_err *err);
char *img_base64_encode(const void *in, size_t len);

/* ---- signatures in registries (sigstore attachments) -------------------- */
#include <stdbool.h>

struct img_registry_opts;
struct store;

/* Fetch the cosign signature manifest "sha256-<hex>.sig" of digest from the
 * registry of ref (a docker reference "domain/path[:tag]") with its blobs
 * into s, under the store's signature ref for that repository
 * (libimg/sign.h).  None in the registry is not an error: *found (may be
 * NULL) tells. */
int img_sigstore_pull(struct store *s, const char *ref, const char *digest,
		      const struct img_registry_opts *o, bool *found, struct ckt_err *err);

/* Push the cosign signatures kept in s for digest of the repository of
 * src (a store name) to the registry repository of dest ("docker://…" or a
 * docker reference), tagged sha256-<hex>.sig.  *pushed (may be NULL) tells
 * whether there were any. */
int img_sigstore_push(struct store *s, const char *src, const char *digest, const char *dest,
		      const struct img_registry_opts *o, bool *pushed, struct ckt_err *err);

/* After a fetch from source (a ckt-fetch source name) of the image now
 * named name with top digest: bring into s the signatures that travel with
 * it — the registry's cosign attachments (docker:// sources, when
 * attachments is set or registries.d has use-sigstore-attachments for the
 * reference, as containers/image) and the simple signing signatures in the
 * lookaside store that registries_d (NULL: the default) configures for
 * name.  *n (may be NULL) gets how many signature sets were found.
 * Nothing found is not an error. */
int img_sigs_collect(struct store *s, const char *source, const char *name, const char *digest,
		     const struct img_registry_opts *ro, const char *registries_d, bool attachments,
		     size_t *n, struct ckt_err *err);
