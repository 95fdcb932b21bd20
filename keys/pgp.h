#pragma once
/* OpenPGP through gpgme: the one adaptor for gpgme's errors (STYLE.md).
 *
 * Verification never consults the user's keyring: keys_pgp_new() makes an
 * ephemeral GnuPG home in a temporary directory, the caller imports exactly
 * the keys it trusts, and a signature verifies only when it was made by one
 * of them.  This is how containers/image verifies (signature/mechanism_gpgme.go
 * newEphemeralGPGSigningMechanism) and how rkt builds a keyring per name
 * prefix.  Signing uses the user's own keyring ($GNUPGHOME or ~/.gnupg). */
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

/* 40 lower-case hex digits of a v4 fingerprint, plus NUL (v5 keys: 64). */
#define KEYS_FPR_MAX 65

struct keys_pgp;

/* An ephemeral keyring in a new temporary directory (removed by
 * keys_pgp_free). */
struct keys_pgp *keys_pgp_new(struct ckt_err *err);
void keys_pgp_free(struct keys_pgp *k);
static inline void keys_pgp_freep(struct keys_pgp **k)
{
	keys_pgp_free(*k);
}
#define _cleanup_pgp_ __attribute__((cleanup(keys_pgp_freep)))

/* Import public keys (armored or binary) from data.  *fprs (may be NULL)
 * receives the lower-case fingerprints of the keys imported, a
 * NULL-terminated vector owned by the caller.  No key in data:
 * CKT_EFORMAT. */
int keys_pgp_import(struct keys_pgp *k, const void *data, size_t len, char ***fprs,
		    struct ckt_err *err);

/* User id of the first key with fingerprint fpr in k (newly allocated), or
 * NULL when it has none. */
char *keys_pgp_uid(struct keys_pgp *k, const char *fpr);

/* Whether data starts with an ASCII armor header ("-----BEGIN PGP"). */
bool keys_pgp_is_armored(const void *data, size_t len);

/* Verify a signed OpenPGP message (simple signing): on success *plain gets
 * the signed payload (NUL-terminated, owned by the caller) and signer the
 * signing key's primary fingerprint.  Failures are CKT_EVERIFY with why
 * "unknown key" (signed by a key not in k), "bad signature", "expired key",
 * "no signature", or CKT_EFORMAT for data that is not OpenPGP. */
int keys_pgp_verify_message(struct keys_pgp *k, const void *sig, size_t sig_len, char **plain,
			    size_t *plain_len, char signer[KEYS_FPR_MAX], struct ckt_err *err);

/* Verify a detached signature (armored or binary) over the file open at fd
 * (read from its current offset).  Failures as keys_pgp_verify_message(). */
int keys_pgp_verify_detached(struct keys_pgp *k, const void *sig, size_t sig_len, int fd,
			     char signer[KEYS_FPR_MAX], struct ckt_err *err);

enum keys_pgp_sign_mode {
	KEYS_PGP_SIGN_MESSAGE = 0,	/* binary signed message (simple signing) */
	KEYS_PGP_SIGN_DETACHED_ARMOR,	/* armored detached signature (.aci.asc) */
};

/* Sign data (or, when data is NULL, the file open at fd) with the secret key
 * of fingerprint (or any key id gpg accepts) by in the user's keyring
 * (homedir NULL: $GNUPGHOME or ~/.gnupg).  passphrase may be NULL (agent
 * or empty passphrase).  *out is newly allocated.  A missing secret key is
 * CKT_ENOTFOUND. */
int keys_pgp_sign(const char *homedir, const char *by, const char *passphrase,
		  enum keys_pgp_sign_mode mode, const void *data, size_t len, int fd, char **out,
		  size_t *out_len, struct ckt_err *err);

/* Lower-case a fingerprint into out; false when fpr is not 40 or 64 hex
 * digits (spaces are dropped, as gpg prints them in groups). */
bool keys_fpr_normalize(const char *fpr, char out[KEYS_FPR_MAX]);

/* Inspect key data without importing it: the primary fingerprints of the
 * keys it holds (NULL-terminated, owned by the caller) and the first key's
 * first user id (*uid may be NULL on return).  No key: CKT_EFORMAT. */
int keys_pgp_inspect(struct keys_pgp *k, const void *data, size_t len, char ***fprs, char **uid,
		     struct ckt_err *err);

/* The public key fpr in k as an ASCII-armored block (newly allocated). */
int keys_pgp_export(struct keys_pgp *k, const char *fpr, char **out, size_t *len,
		    struct ckt_err *err);
