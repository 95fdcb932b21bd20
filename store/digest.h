#pragma once
/* Content digests "<alg>:<hex>" as the OCI image spec defines them
 * (descriptor.md "Digests").  Only sha256 and sha512 are accepted: a digest
 * with any other algorithm, upper-case or wrong-length hex is refused.
 *
 * Digests live in store/ rather than libimg/ because the store verifies every
 * blob it admits and must not depend on libimg (DESIGN.md "Layout"). */
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

enum store_digest_alg {
	STORE_DIGEST_SHA256 = 0,
	STORE_DIGEST_SHA512,
};

/* Longest digest string: "sha512:" + 128 hex + NUL. */
#define STORE_DIGEST_MAX 136

/* Validate s.  On success *alg is its algorithm and *hex points into s.
 * Fails with CKT_EFORMAT naming what is wrong. */
int store_digest_parse(const char *s, enum store_digest_alg *alg, const char **hex,
		       struct ckt_err *err);
bool store_digest_valid(const char *s);
/* "sha256" or "sha512". */
const char *store_digest_alg_name(enum store_digest_alg alg);

/* Streaming hasher over OpenSSL's EVP interface. */
struct store_hasher;
struct store_hasher *store_hasher_new(enum store_digest_alg alg);
void store_hasher_update(struct store_hasher *h, const void *data, size_t len);
/* Finish and write "<alg>:<hex>" into out (STORE_DIGEST_MAX bytes).  The
 * hasher is reset and may be reused. */
void store_hasher_final(struct store_hasher *h, char out[STORE_DIGEST_MAX]);
/* The digest of the data so far, without finishing: updates may go on. */
void store_hasher_peek(const struct store_hasher *h, char out[STORE_DIGEST_MAX]);
void store_hasher_free(struct store_hasher *h);
static inline void store_hasher_freep(struct store_hasher **h)
{
	store_hasher_free(*h);
}
#define _cleanup_hasher_ __attribute__((cleanup(store_hasher_freep)))

/* Digest of a buffer, into out. */
void store_digest_buf(enum store_digest_alg alg, const void *data, size_t len,
		      char out[STORE_DIGEST_MAX]);
