#include "libimg/sigstore.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "libimg/json.h"

#define PEM_TYPE "ENCRYPTED SIGSTORE PRIVATE KEY"
#define PEM_TYPE_OLD "ENCRYPTED COSIGN PRIVATE KEY"
/* go-tuf encrypted: scrypt "standard" parameters. */
#define SCRYPT_N 32768
#define SCRYPT_R 8
#define SCRYPT_P 1

CKT_DEFINE_CLEANUP(EVP_PKEY *, EVP_PKEY_free, evp_pkey_freep)
CKT_DEFINE_CLEANUP(EVP_MD_CTX *, EVP_MD_CTX_free, evp_md_ctx_freep)
CKT_DEFINE_CLEANUP(BIO *, BIO_free, bio_freep)
CKT_DEFINE_CLEANUP(PKCS8_PRIV_KEY_INFO *, PKCS8_PRIV_KEY_INFO_free, p8_freep)
#define _cleanup_pkey_ __attribute__((cleanup(evp_pkey_freep)))
#define _cleanup_mdctx_ __attribute__((cleanup(evp_md_ctx_freep)))
#define _cleanup_bio_ __attribute__((cleanup(bio_freep)))
#define _cleanup_p8_ __attribute__((cleanup(p8_freep)))

/* The OpenSSL adaptor: drain the error queue into why. */
static int ossl_fail(struct ckt_err *err, enum ckt_errcode code, const char *what)
{
	char why[256] = "";
	unsigned long e, last = 0;
	while ((e = ERR_get_error()))
		last = e;
	if (last)
		ERR_error_string_n(last, why, sizeof(why));
	return ckt_err_failw(err, code, *why ? why : NULL, "%s", what);
}

char *img_base64_encode(const void *in, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

int img_base64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len,
		      struct ckt_err *err)
{
	_cleanup_buf_ struct ckt_buf b = CKT_BUF_INIT;
	size_t pad = 0;
	for (size_t i = 0; i < len; i++) {
		if (isspace((unsigned char)in[i]))
			continue;
		if (!isalnum((unsigned char)in[i]) && !strchr("+/=", in[i]))
			return ckt_err_failw(err, CKT_EFORMAT, "invalid character", "decode base64");
		ckt_buf_addch(&b, in[i]);
	}
	while (b.len % 4)
		ckt_buf_addch(&b, '=');
	for (size_t i = b.len; i > 0 && b.buf[i - 1] == '='; i--)
		pad++;
	if (pad > 2 || b.len > (size_t)1 << 30)
		return ckt_err_failw(err, CKT_EFORMAT, "bad padding", "decode base64");
	unsigned char *o = xmalloc(b.len / 4 * 3 + 1);
	int n = b.len ? EVP_DecodeBlock(o, (unsigned char *)b.buf, (int)b.len) : 0;
	if (n < 0 || (size_t)n < pad) {
		free(o);
		return ckt_err_failw(err, CKT_EFORMAT, "invalid base64", "decode base64");
	}
	*out = o;
	*out_len = (size_t)n - pad;
	return 0;
}

static int sodium_ready(struct ckt_err *err)
{
	if (sodium_init() < 0)
		return ckt_err_fail(err, CKT_EINTERNAL, "initialise libsodium");
	return 0;
}

/* PEM armour around raw bytes (the JSON document of the encrypted key). */
static char *pem_wrap(const char *type, const void *data, size_t len)
{
	_cleanup_free_ char *b64 = img_base64_encode(data, len);
	struct ckt_buf b = CKT_BUF_INIT;
	ckt_buf_addf(&b, "-----BEGIN %s-----\n", type);
	for (size_t i = 0, n = strlen(b64); i < n; i += 64)
		ckt_buf_addf(&b, "%.64s\n", b64 + i);
	ckt_buf_addf(&b, "-----END %s-----\n", type);
	return ckt_buf_detach(&b, NULL);
}

/* The bytes inside the first PEM block of type (or the old type). */
static int pem_unwrap(const char *pem, size_t len, unsigned char **out, size_t *out_len,
		      struct ckt_err *err)
{
	const char *types[] = { PEM_TYPE, PEM_TYPE_OLD };
	for (size_t t = 0; t < ARRAY_SIZE(types); t++) {
		_cleanup_free_ char *begin = xasprintf("-----BEGIN %s-----", types[t]);
		_cleanup_free_ char *end = xasprintf("-----END %s-----", types[t]);
		const char *b = memmem(pem, len, begin, strlen(begin));
		if (!b)
			continue;
		b += strlen(begin);
		const char *e = memmem(b, len - (size_t)(b - pem), end, strlen(end));
		if (!e)
			break;
		return img_base64_decode(b, (size_t)(e - b), out, out_len, err);
	}
	return ckt_err_failw(err, CKT_EFORMAT, "not an encrypted sigstore private key",
			     "read private key");
}

static int scrypt_key(const char *password, const unsigned char *salt, size_t salt_len,
		      uint64_t n, uint32_t r, uint32_t p, unsigned char key[32],
		      struct ckt_err *err)
{
	if (crypto_pwhash_scryptsalsa208sha256_ll((const uint8_t *)password, strlen(password),
						  salt, salt_len, n, r, p, key, 32) != 0)
		return ckt_err_fail(err, CKT_ENOMEM, "derive key with scrypt");
	return 0;
}

int img_sigstore_generate(const char *password, char **pub_pem, char **key_pem,
			  struct ckt_err *err)
{
	_cleanup_pkey_ EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	_cleanup_p8_ PKCS8_PRIV_KEY_INFO *p8 = NULL;
	_cleanup_free_ unsigned char *der = NULL;
	unsigned char salt[32], nonce[crypto_secretbox_NONCEBYTES], key[32];

	if (sodium_ready(err) < 0)
		return -err->code;
	if (!k || !bio || !PEM_write_bio_PUBKEY(bio, k))
		return ossl_fail(err, CKT_EINTERNAL, "generate ECDSA P-256 key");
	p8 = EVP_PKEY2PKCS8(k);
	int dlen = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
	if (dlen <= 0)
		return ossl_fail(err, CKT_EINTERNAL, "encode private key");
	randombytes_buf(salt, sizeof(salt));
	randombytes_buf(nonce, sizeof(nonce));
	if (scrypt_key(password, salt, sizeof(salt), SCRYPT_N, SCRYPT_R, SCRYPT_P, key, err) < 0)
		return -err->code;
	size_t clen = crypto_secretbox_MACBYTES + (size_t)dlen;
	_cleanup_free_ unsigned char *ct = xmalloc(clen);
	crypto_secretbox_easy(ct, der, (size_t)dlen, nonce, key);
	sodium_memzero(key, sizeof(key));
	OPENSSL_cleanse(der, (size_t)dlen);

	_cleanup_free_ char *salt64 = img_base64_encode(salt, sizeof(salt));
	_cleanup_free_ char *nonce64 = img_base64_encode(nonce, sizeof(nonce));
	_cleanup_free_ char *ct64 = img_base64_encode(ct, clen);
	_cleanup_json_ json_t *j = json_pack(
		"{s:{s:s, s:{s:i, s:i, s:i}, s:s}, s:{s:s, s:s}, s:s}", "kdf", "name", "scrypt",
		"params", "N", SCRYPT_N, "r", SCRYPT_R, "p", SCRYPT_P, "salt", salt64, "cipher",
		"name", "nacl/secretbox", "nonce", nonce64, "ciphertext", ct64);
	size_t jlen;
	_cleanup_free_ char *js = img_json_dump(j, &jlen);
	char *mem;
	long mlen = BIO_get_mem_data(bio, &mem);
	*pub_pem = xstrndup(mem, (size_t)mlen);
	*key_pem = pem_wrap(PEM_TYPE, js, jlen);
	return 0;
}

static int b64_field(json_t *o, const char *key, unsigned char **out, size_t *len,
		     struct ckt_err *err)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v))
		return ckt_err_failw(err, CKT_EFORMAT, "missing field", "private key: '%s'", key);
	return img_base64_decode(json_string_value(v), json_string_length(v), out, len, err);
}

/* go-tuf encrypted.Decrypt. */
static EVP_PKEY *decrypt_key(const char *key_pem, size_t key_len, const char *password,
			     struct ckt_err *err)
{
	_cleanup_free_ unsigned char *js = NULL, *salt = NULL, *nonce = NULL, *ct = NULL;
	size_t jlen, slen, nlen, clen;
	unsigned char key[32];
	if (sodium_ready(err) < 0 || pem_unwrap(key_pem, key_len, &js, &jlen, err) < 0)
		return NULL;
	_cleanup_json_ json_t *j = img_json_parse((char *)js, jlen, "private key", err);
	if (!j)
		return NULL;
	json_t *kdf = json_object_get(j, "kdf"), *cipher = json_object_get(j, "cipher");
	json_t *params = kdf ? json_object_get(kdf, "params") : NULL;
	json_t *kn = kdf ? json_object_get(kdf, "name") : NULL;
	json_t *cn = cipher ? json_object_get(cipher, "name") : NULL;
	if (!json_is_string(kn) || strcmp(json_string_value(kn), "scrypt") ||
	    !json_is_string(cn) || strcmp(json_string_value(cn), "nacl/secretbox") ||
	    !json_is_object(params)) {
		ckt_err_failw(err, CKT_EFORMAT, "want scrypt and nacl/secretbox",
			      "read private key");
		return NULL;
	}
	json_int_t n = json_integer_value(json_object_get(params, "N"));
	json_int_t r = json_integer_value(json_object_get(params, "r"));
	json_int_t p = json_integer_value(json_object_get(params, "p"));
	/* Bound the work a hostile key file can ask for. */
	if (n < 2 || n > (1 << 20) || (n & (n - 1)) || r < 1 || r > 32 || p < 1 || p > 16) {
		ckt_err_failw(err, CKT_EFORMAT, "unsupported scrypt parameters",
			      "read private key");
		return NULL;
	}
	if (b64_field(kdf, "salt", &salt, &slen, err) < 0 ||
	    b64_field(cipher, "nonce", &nonce, &nlen, err) < 0 ||
	    b64_field(j, "ciphertext", &ct, &clen, err) < 0)
		return NULL;
	if (nlen != crypto_secretbox_NONCEBYTES || clen < crypto_secretbox_MACBYTES) {
		ckt_err_failw(err, CKT_EFORMAT, "bad nonce or ciphertext", "read private key");
		return NULL;
	}
	if (scrypt_key(password, salt, slen, (uint64_t)n, (uint32_t)r, (uint32_t)p, key, err) < 0)
		return NULL;
	size_t dlen = clen - crypto_secretbox_MACBYTES;
	_cleanup_free_ unsigned char *der = xmalloc(dlen + 1);
	int bad = crypto_secretbox_open_easy(der, ct, clen, nonce, key);
	sodium_memzero(key, sizeof(key));
	if (bad) {
		ckt_err_failw(err, CKT_EVERIFY, "wrong password", "decrypt private key");
		return NULL;
	}
	const unsigned char *pp = der;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &pp, (long)dlen);
	EVP_PKEY *k = p8 ? EVP_PKCS82PKEY(p8) : NULL;
	PKCS8_PRIV_KEY_INFO_free(p8);
	OPENSSL_cleanse(der, dlen);
	if (!k)
		ossl_fail(err, CKT_EFORMAT, "parse private key");
	return k;
}

int img_sigstore_sign(const char *key_pem, size_t key_len, const char *password,
		      const void *payload, size_t len, char **sig_b64, struct ckt_err *err)
{
	_cleanup_pkey_ EVP_PKEY *k = decrypt_key(key_pem, key_len, password, err);
	_cleanup_mdctx_ EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t slen = 0;
	if (!k)
		return -err->code;
	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(ctx, NULL, &slen, payload, len) != 1)
		return ossl_fail(err, CKT_EINTERNAL, "sign");
	_cleanup_free_ unsigned char *sig = xmalloc(slen);
	if (EVP_DigestSign(ctx, sig, &slen, payload, len) != 1)
		return ossl_fail(err, CKT_EINTERNAL, "sign");
	*sig_b64 = img_base64_encode(sig, slen);
	return 0;
}

int img_sigstore_verify(const char *pub_pem, size_t pub_len, const void *payload, size_t len,
			const char *sig_b64, struct ckt_err *err)
{
	_cleanup_bio_ BIO *bio = BIO_new_mem_buf(pub_pem, (int)pub_len);
	_cleanup_pkey_ EVP_PKEY *k = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	_cleanup_mdctx_ EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	_cleanup_free_ unsigned char *sig = NULL;
	size_t slen;
	if (!k)
		return ossl_fail(err, CKT_EFORMAT, "read public key (want PEM PUBLIC KEY)");
	if (!sig_b64 || img_base64_decode(sig_b64, strlen(sig_b64), &sig, &slen, err) < 0)
		return ckt_err_failw(err, CKT_EVERIFY, "bad signature", "signature is not base64");
	if (!ctx || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k) != 1)
		return ossl_fail(err, CKT_EINTERNAL, "verify");
	int r = EVP_DigestVerify(ctx, sig, slen, payload, len);
	ERR_clear_error();
	if (r != 1)
		return ckt_err_failw(err, CKT_EVERIFY, "bad signature", "verify signature");
	return 0;
}
