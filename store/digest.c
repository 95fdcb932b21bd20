#include "store/digest.h"

/* The low-level SHA-2 functions, deprecated in OpenSSL 3 but kept: they
 * run the same assembly (SHA-NI where the CPU has it) as EVP, without the
 * provider look-up and configuration loading of a first EVP digest, which
 * cost every tool 0.9 ms. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

struct store_hasher {
	union {
		SHA256_CTX s256;
		SHA512_CTX s512;
	} u;
	enum store_digest_alg alg;
};

static const struct {
	const char *name;
	size_t hexlen;
} algs[] = {
	[STORE_DIGEST_SHA256] = { "sha256", 64 },
	[STORE_DIGEST_SHA512] = { "sha512", 128 },
};

const char *store_digest_alg_name(enum store_digest_alg alg)
{
	return algs[alg].name;
}

int store_digest_parse(const char *s, enum store_digest_alg *alg, const char **hex,
		       struct ckt_err *err)
{
	const char *colon = strchr(s, ':');
	if (!colon)
		return ckt_err_failw(err, CKT_EFORMAT, "no algorithm prefix", "invalid digest '%s'", s);
	size_t alen = (size_t)(colon - s);
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (alen != strlen(algs[i].name) || strncmp(s, algs[i].name, alen))
			continue;
		const char *h = colon + 1;
		size_t n = strspn(h, "0123456789abcdef");
		if (n != algs[i].hexlen || h[n] != '\0')
			return ckt_err_failw(err, CKT_EFORMAT,
					     "expected lower-case hex of the right length",
					     "invalid digest '%s'", s);
		*alg = (enum store_digest_alg)i;
		*hex = h;
		return 0;
	}
	return ckt_err_failw(err, CKT_EFORMAT, "only sha256 and sha512 are supported",
			     "invalid digest '%s'", s);
}

bool store_digest_valid(const char *s)
{
	struct ckt_err err = CKT_ERR_INIT;
	enum store_digest_alg alg;
	const char *hex;
	return store_digest_parse(s, &alg, &hex, &err) == 0;
}

static void hasher_init(struct store_hasher *h)
{
	if (h->alg == STORE_DIGEST_SHA512)
		SHA512_Init(&h->u.s512);
	else
		SHA256_Init(&h->u.s256);
}

struct store_hasher *store_hasher_new(enum store_digest_alg alg)
{
	struct store_hasher *h = xcalloc(1, sizeof(*h));
	h->alg = alg;
	hasher_init(h);
	return h;
}

void store_hasher_update(struct store_hasher *h, const void *data, size_t len)
{
	if (!len)
		return;
	if (h->alg == STORE_DIGEST_SHA512)
		SHA512_Update(&h->u.s512, data, len);
	else
		SHA256_Update(&h->u.s256, data, len);
}

void store_hasher_final(struct store_hasher *h, char out[STORE_DIGEST_MAX])
{
	unsigned char md[SHA512_DIGEST_LENGTH];
	size_t n = SHA256_DIGEST_LENGTH;
	static const char hexd[] = "0123456789abcdef";

	if (h->alg == STORE_DIGEST_SHA512) {
		SHA512_Final(md, &h->u.s512);
		n = SHA512_DIGEST_LENGTH;
	} else {
		SHA256_Final(md, &h->u.s256);
	}
	hasher_init(h);
	size_t off = (size_t)snprintf(out, STORE_DIGEST_MAX, "%s:", algs[h->alg].name);
	for (size_t i = 0; i < n; i++) {
		out[off++] = hexd[md[i] >> 4];
		out[off++] = hexd[md[i] & 15];
	}
	out[off] = '\0';
}

void store_hasher_peek(const struct store_hasher *h, char out[STORE_DIGEST_MAX])
{
	struct store_hasher copy = *h;
	store_hasher_final(&copy, out);
}

void store_hasher_free(struct store_hasher *h)
{
	free(h);
}

void store_digest_buf(enum store_digest_alg alg, const void *data, size_t len,
		      char out[STORE_DIGEST_MAX])
{
	struct store_hasher *h = store_hasher_new(alg);
	store_hasher_update(h, data, len);
	store_hasher_final(h, out);
	store_hasher_free(h);
}
