#include "store/digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

struct store_hasher {
	EVP_MD_CTX *ctx;
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

static const EVP_MD *md_of(enum store_digest_alg alg)
{
	return alg == STORE_DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
}

struct store_hasher *store_hasher_new(enum store_digest_alg alg)
{
	struct store_hasher *h = xcalloc(1, sizeof(*h));
	h->alg = alg;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !EVP_DigestInit_ex(h->ctx, md_of(alg), NULL))
		abort();
	return h;
}

void store_hasher_update(struct store_hasher *h, const void *data, size_t len)
{
	if (len && !EVP_DigestUpdate(h->ctx, data, len))
		abort();
}

void store_hasher_final(struct store_hasher *h, char out[STORE_DIGEST_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	static const char hexd[] = "0123456789abcdef";

	if (!EVP_DigestFinal_ex(h->ctx, md, &n) || !EVP_DigestInit_ex(h->ctx, md_of(h->alg), NULL))
		abort();
	size_t off = (size_t)snprintf(out, STORE_DIGEST_MAX, "%s:", algs[h->alg].name);
	for (unsigned int i = 0; i < n; i++) {
		out[off++] = hexd[md[i] >> 4];
		out[off++] = hexd[md[i] & 15];
	}
	out[off] = '\0';
}

void store_hasher_peek(const struct store_hasher *h, char out[STORE_DIGEST_MAX])
{
	struct store_hasher copy = { EVP_MD_CTX_new(), h->alg };
	if (!copy.ctx || !EVP_MD_CTX_copy_ex(copy.ctx, h->ctx))
		abort();
	store_hasher_final(&copy, out);
	EVP_MD_CTX_free(copy.ctx);
}

void store_hasher_free(struct store_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
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
