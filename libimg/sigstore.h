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
