/* Unit tests for store/digest: parsing (OCI descriptor.md "Digests") and
 * hashing. */
#include "tests/unit/unit.h"

#include "base/cleanup.h"
#include "store/digest.h"

#define HEX64_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX64_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HEX128_EMPTY                                                                               \
	"cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"                         \
	"47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
#define HEX128_ABC                                                                                 \
	"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"                         \
	"2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

static void test_digest_valid(void **state)
{
	static const struct {
		const char *s;
		enum store_digest_alg alg;
	} cases[] = {
		{ "sha256:" HEX64_EMPTY, STORE_DIGEST_SHA256 },
		{ "sha256:" HEX64_ABC, STORE_DIGEST_SHA256 },
		{ "sha512:" HEX128_EMPTY, STORE_DIGEST_SHA512 },
		{ "sha256:0000000000000000000000000000000000000000000000000000000000000000",
		  STORE_DIGEST_SHA256 },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		enum store_digest_alg alg = 99;
		const char *hex = NULL;
		assert_ok(store_digest_parse(cases[i].s, &alg, &hex, &err), err);
		assert_int_equal(alg, cases[i].alg);
		assert_ptr_equal(hex, strchr(cases[i].s, ':') + 1);
		assert_true(store_digest_valid(cases[i].s));
		assert_true(strlen(cases[i].s) < STORE_DIGEST_MAX);
	}
	assert_string_equal(store_digest_alg_name(STORE_DIGEST_SHA256), "sha256");
	assert_string_equal(store_digest_alg_name(STORE_DIGEST_SHA512), "sha512");
}

static void test_digest_refused(void **state)
{
	static const char *const cases[] = {
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"SHA256:" HEX64_ABC,
		"sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
		"sha256:" HEX64_ABC "0",
		"sha256" HEX64_ABC,
		HEX64_ABC,
		"",
		"sha256:",
		":" HEX64_ABC,
		"sha256:gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg",
		"sha256::" HEX64_ABC,
		" sha256:" HEX64_ABC,
		"sha256:" HEX64_ABC " ",
		"sha256:" HEX64_ABC "\n",
		"sha256:" HEX128_ABC,	/* sha512 length under sha256 */
		"sha512:" HEX64_ABC,	/* sha256 length under sha512 */
		"sha384:" HEX64_ABC,
		"sha256+b64u:" HEX64_ABC,
		"sha256:../../../etc/passwd",
		"sha256:" HEX64_ABC "/x",
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		enum store_digest_alg alg;
		const char *hex;
		assert_err(store_digest_parse(cases[i], &alg, &hex, &err), err, CKT_EFORMAT);
		assert_true(err.what[0] != '\0');
		assert_false(store_digest_valid(cases[i]));
	}
}

static void test_digest_vectors(void **state)
{
	char out[STORE_DIGEST_MAX];
	(void)state;

	store_digest_buf(STORE_DIGEST_SHA256, "", 0, out);
	assert_string_equal(out, "sha256:" HEX64_EMPTY);
	store_digest_buf(STORE_DIGEST_SHA256, "abc", 3, out);
	assert_string_equal(out, "sha256:" HEX64_ABC);
	store_digest_buf(STORE_DIGEST_SHA512, "", 0, out);
	assert_string_equal(out, "sha512:" HEX128_EMPTY);
	store_digest_buf(STORE_DIGEST_SHA512, "abc", 3, out);
	assert_string_equal(out, "sha512:" HEX128_ABC);
	assert_true(store_digest_valid(out));
}

static void test_digest_streaming(void **state)
{
	size_t len = 3 * 1000 * 1000 + 17;
	_cleanup_free_ unsigned char *data = xmalloc(len);
	char one[STORE_DIGEST_MAX], pieces[STORE_DIGEST_MAX], again[STORE_DIGEST_MAX];
	(void)state;

	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	for (int a = STORE_DIGEST_SHA256; a <= STORE_DIGEST_SHA512; a++) {
		_cleanup_hasher_ struct store_hasher *h = store_hasher_new(a);
		store_digest_buf(a, data, len, one);

		/* Uneven pieces, including empty ones. */
		size_t off = 0, step = 0;
		while (off < len) {
			size_t n = step % 7 == 3 ? 0 : (step * 7919) % 65537 + 1;
			if (n > len - off)
				n = len - off;
			store_hasher_update(h, data + off, n);
			off += n;
			step++;
		}
		store_hasher_final(h, pieces);
		assert_string_equal(one, pieces);

		/* peek gives the digest so far and leaves the hasher going. */
		char peek[STORE_DIGEST_MAX];
		store_hasher_update(h, data, 1000);
		store_hasher_peek(h, peek);
		store_digest_buf(a, data, 1000, again);
		assert_string_equal(peek, again);
		store_hasher_update(h, data + 1000, len - 1000);
		store_hasher_peek(h, peek);
		store_hasher_final(h, again);
		assert_string_equal(peek, one);
		assert_string_equal(again, one);

		/* final resets the hasher for reuse. */
		store_hasher_update(h, data, len);
		store_hasher_final(h, again);
		assert_string_equal(one, again);
	}
	store_hasher_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_valid),
		cmocka_unit_test(test_digest_refused),
		cmocka_unit_test(test_digest_vectors),
		cmocka_unit_test(test_digest_streaming),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
