/* Unit tests for keys/: fingerprints, name prefixes, and rkt's trust store
 * semantics (APPC-NOTES.md §3) on real key files: prefixes by path
 * component, root keys, masking by an empty local file, key files named by
 * another fingerprint or not armored, adding and removing keys. */
#include "tests/unit/unit.h"

#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "keys/pgp.h"
#include "keys/trust.h"

/* Two ed25519 keys made once with `gpg --quick-gen-key` (public parts only). */
static const char ALICE_ASC[] =
	"-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
	"\n"
	"mDMEawMsoxYJKwYBBAHaRw8BAQdATc1gYLplKK1IpYljmGDDRrcxfGdwl4F06+Sw\n"
	"mdLMs7m0GUFsaWNlIDxhbGljZUBleGFtcGxlLmNvbT6IkAQTFggAOBYhBISpO24u\n"
	"F5crIuQ/fwoBuJ9np3rOBQJrAyyjAhsDBQsJCAcCBhUKCQgLAgQWAgMBAh4BAheA\n"
	"AAoJEAoBuJ9np3rOuZIBAKFHnHwGcRH0mg/ToTUkeQxOWHRQdK9+9XNoQ/S8rajh\n"
	"AQCj0vOI+K9dWVIDI8bB0Mhv8dalQAiqUWDHzvT8gLmWCQ==\n"
	"=AvZW\n"
	"-----END PGP PUBLIC KEY BLOCK-----\n"
;
static const char BOB_ASC[] =
	"-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
	"\n"
	"mDMEawMsoxYJKwYBBAHaRw8BAQdAMZ1p5PqaIztfw/eHx8u8+Xo+//kQQlXF/wA7\n"
	"MjBOdtq0FUJvYiA8Ym9iQGV4YW1wbGUuY29tPoiQBBMWCAA4FiEEbj92E7I21F43\n"
	"oGPfCdsf8rXJlvAFAmsDLKMCGwMFCwkIBwIGFQoJCAsCBBYCAwECHgECF4AACgkQ\n"
	"Cdsf8rXJlvDC4AEA/fliueVbDOQf7fG75taGUg5kZPKwd2ijxQLXbuNkfXMA/2Hd\n"
	"Aqpnk4lkx/gEXyFxolCBRmNP7y+tJhAUizVDlEAI\n"
	"=/Tj5\n"
	"-----END PGP PUBLIC KEY BLOCK-----\n"
;
/* "hello ckt\n" signed by alice: an uncompressed signed message and an
 * armored detached signature. */
static const unsigned char MSG_GPG[] = {
	0x90, 0x0d, 0x03, 0x00, 0x08, 0x16, 0x0a, 0x01, 0xb8, 0x9f, 0x67, 0xa7,
	0x7a, 0xce, 0x01, 0xac, 0x13, 0x62, 0x03, 0x6d, 0x73, 0x67, 0x6b, 0x03,
	0x34, 0x54, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x63, 0x6b, 0x74, 0x0a,
	0x88, 0x75, 0x04, 0x00, 0x16, 0x08, 0x00, 0x1d, 0x16, 0x21, 0x04, 0x84,
	0xa9, 0x3b, 0x6e, 0x2e, 0x17, 0x97, 0x2b, 0x22, 0xe4, 0x3f, 0x7f, 0x0a,
	0x01, 0xb8, 0x9f, 0x67, 0xa7, 0x7a, 0xce, 0x05, 0x02, 0x6b, 0x03, 0x34,
	0x54, 0x00, 0x0a, 0x09, 0x10, 0x0a, 0x01, 0xb8, 0x9f, 0x67, 0xa7, 0x7a,
	0xce, 0xda, 0xfc, 0x01, 0x00, 0xff, 0x39, 0x69, 0x6d, 0xf4, 0x0f, 0xc1,
	0xff, 0x3f, 0x54, 0x4c, 0xb5, 0xe7, 0xaa, 0xa0, 0x16, 0xed, 0xae, 0x41,
	0x20, 0xb2, 0x55, 0x48, 0xeb, 0x46, 0xc1, 0x3f, 0xc6, 0x16, 0x16, 0xdd,
	0xf0, 0x00, 0xff, 0x74, 0x0a, 0xca, 0xc4, 0xb3, 0x58, 0xdb, 0x78, 0xb1,
	0xc4, 0xe9, 0x5d, 0x43, 0xa8, 0x21, 0x16, 0x90, 0xf8, 0x87, 0x6e, 0x71,
	0x12, 0x60, 0x59, 0x3b, 0xf6, 0xdd, 0x54, 0xac, 0x26, 0x98, 0x03,
};
static const char MSG_ASC[] =
	"-----BEGIN PGP SIGNATURE-----\n"
	"\n"
	"iHUEABYIAB0WIQSEqTtuLheXKyLkP38KAbifZ6d6zgUCawM0VAAKCRAKAbifZ6d6\n"
	"ztr8AQD/OWlt9A/B/z9UTLXnqqAW7a5BILJVSOtGwT/GFhbd8AD/dArKxLNY23ix\n"
	"xOldQ6ghFpD4h25xEmBZO/bdVKwmmAM=\n"
	"=hU3h\n"
	"-----END PGP SIGNATURE-----\n";

#define ALICE "84a93b6e2e17972b22e43f7f0a01b89f67a77ace"
#define BOB "6e3f7613b236d45e37a063df09db1ff2b5c996f0"

static void test_fpr_normalize(void **state)
{
	char out[KEYS_FPR_MAX];
	(void)state;
	assert_true(keys_fpr_normalize("84A93B6E2E17972B22E43F7F0A01B89F67A77ACE", out));
	assert_string_equal(out, ALICE);
	assert_true(keys_fpr_normalize("84A9 3B6E 2E17 972B 22E4  3F7F 0A01 B89F 67A7 7ACE", out));
	assert_string_equal(out, ALICE);
	assert_true(keys_fpr_normalize("0x84A93B6E2E17972B22E43F7F0A01B89F67A77ACE", out));
	assert_false(keys_fpr_normalize("84A93B6E2E17972B", out));
	assert_false(keys_fpr_normalize("84A93B6E2E17972B22E43F7F0A01B89F67A77ACG", out));
	assert_false(keys_fpr_normalize("", out));
	assert_false(keys_fpr_normalize(NULL, out));
	assert_false(keys_fpr_normalize("../../../../etc/passwd/84a93b6e2e17972b22e43f7f0a", out));
}

static void test_prefix_valid(void **state)
{
	static const char *const good[] = { "example.com", "example.com/app", "a", "coreos.com/etcd",
					    "localhost:5000/x", "a-b_c~d.e/f" };
	static const char *const bad[] = { "", "/example.com", "example.com/", "example.com//app",
					   "example.com/../x", "./x", "https://example.com",
					   "Example.com", "example.com/app name", "-x", "x/\n" };
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		if (!keys_prefix_valid(good[i]))
			fail_msg("'%s' should be valid", good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (keys_prefix_valid(bad[i]))
			fail_msg("'%s' should be invalid", bad[i]);
}

static void put(void **state, const char *rel, const char *data)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_free_ char *p = tpath(state, rel);
	_cleanup_free_ char *dir = xstrdup(p);
	*strrchr(dir, '/') = 0;
	assert_ok(ckt_mkdir_p(dir, 0755, &err), err);
	assert_ok(ckt_write_file_atomic(p, data, strlen(data), 0644, &err), err);
}

/* The fingerprints trusted for name, space-separated and sorted. */
static char *trusted(void **state, const char *name, struct ckt_err *err)
{
	struct keys_config c = { tpath(state, "local"), tpath(state, "system") };
	_cleanup_strv_ char **fprs = NULL;
	struct keys_pgp *k = keys_pgp_new(err);
	int r = k ? keys_trust_load(&c, name, k, &fprs, err) : -1;
	keys_pgp_free(k);
	keys_config_release(&c);
	if (r < 0)
		return NULL;
	size_t n = 0;
	while (fprs[n])
		n++;
	if (n == 2 && strcmp(fprs[0], fprs[1]) > 0) {
		char *t = fprs[0];
		fprs[0] = fprs[1];
		fprs[1] = t;
	}
	return xasprintf("%s%s%s", n ? fprs[0] : "", n > 1 ? " " : "", n > 1 ? fprs[1] : "");
}

#define assert_trusted(state, name, want)                                                          \
	do {                                                                                       \
		struct ckt_err e_ = CKT_ERR_INIT;                                                  \
		_cleanup_free_ char *got_ = trusted(state, name, &e_);                              \
		assert_ok(got_ ? 0 : -1, e_);                                                      \
		if (strcmp(got_, want))                                                            \
			fail_msg("%s: trusted '%s', want '%s'", name, got_, want);                 \
	} while (0)

static void test_prefix_components(void **state)
{
	put(state, "local/trustedkeys/prefix.d/example.com/app/" ALICE, ALICE_ASC);
	put(state, "local/trustedkeys/prefix.d/example.com/fo/" BOB, BOB_ASC);
	assert_trusted(state, "example.com/app", ALICE);
	assert_trusted(state, "example.com/app/sub", ALICE);
	assert_trusted(state, "example.com/app2", "");
	assert_trusted(state, "example.com", "");
	assert_trusted(state, "example.com/foo", "");
	assert_trusted(state, "example.com/fo", BOB);
	/* A name whose components climb is never looked up above prefix.d. */
	assert_trusted(state, "example.com/../example.com/app", "");
	put(state, "system/trustedkeys/prefix.d/example.com/" BOB, BOB_ASC);
	assert_trusted(state, "example.com/app", BOB " " ALICE);
	tdir_pass(state);
}

static void test_root_and_masks(void **state)
{
	put(state, "system/trustedkeys/root.d/" ALICE, ALICE_ASC);
	assert_trusted(state, "anything.org/x", ALICE);
	put(state, "local/trustedkeys/root.d/" ALICE, "");
	assert_trusted(state, "anything.org/x", "");
	/* A mask in the local prefix tree hides a system prefix key of that level. */
	put(state, "system/trustedkeys/prefix.d/example.com/" BOB, BOB_ASC);
	assert_trusted(state, "example.com/app", BOB);
	put(state, "local/trustedkeys/prefix.d/example.com/" BOB, "");
	assert_trusted(state, "example.com/app", "");
	tdir_pass(state);
}

static void test_bad_key_files(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	put(state, "local/trustedkeys/root.d/" BOB, ALICE_ASC);
	assert_null(trusted(state, "x.org/y", &err));
	assert_int_equal(err.code, CKT_EFORMAT);
	assert_contains(err.why, "fingerprint mismatch");
	_cleanup_free_ char *p = tpath(state, "local/trustedkeys/root.d/" BOB);
	unlink(p);
	put(state, "local/trustedkeys/root.d/" ALICE, "not a key");
	ckt_err_clear(&err);
	assert_null(trusted(state, "x.org/y", &err));
	assert_contains(err.why, "ASCII-armored");
	_cleanup_free_ char *q = tpath(state, "local/trustedkeys/root.d/" ALICE);
	unlink(q);
	/* Two keys in one file: the name covers only one of them. */
	_cleanup_free_ char *both = xasprintf("%s%s", ALICE_ASC, BOB_ASC);
	put(state, "local/trustedkeys/root.d/" ALICE, both);
	ckt_err_clear(&err);
	assert_null(trusted(state, "x.org/y", &err));
	assert_contains(err.why, "fingerprint mismatch");
	tdir_pass(state);
}

static void test_add_list_remove(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	struct keys_config c = { tpath(state, "local"), tpath(state, "system") };
	struct keys_entry *v;
	size_t n;
	bool masked;

	assert_ok(keys_trust_add(&c, "example.com", ALICE_ASC, strlen(ALICE_ASC), NULL, &v, &n,
				 &err), err);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].fpr, ALICE);
	assert_string_equal(v[0].uid, "Alice <alice@example.com>");
	_cleanup_free_ char *want = tpath(state, "local/trustedkeys/prefix.d/example.com/" ALICE);
	assert_string_equal(v[0].path, want);
	keys_entries_free(v, n);
	assert_err(keys_trust_add(&c, "example.com", ALICE_ASC, strlen(ALICE_ASC), BOB, NULL,
				  NULL, &err), err, CKT_EVERIFY);
	ckt_err_clear(&err);
	assert_err(keys_trust_add(&c, "../etc", ALICE_ASC, strlen(ALICE_ASC), NULL, NULL, NULL,
				  &err), err, CKT_EUSAGE);
	ckt_err_clear(&err);
	assert_err(keys_trust_add(&c, NULL, "junk", 4, NULL, NULL, NULL, &err), err, CKT_EFORMAT);
	ckt_err_clear(&err);
	assert_ok(keys_trust_add(&c, NULL, BOB_ASC, strlen(BOB_ASC), BOB, NULL, NULL, &err), err);
	put(state, "system/trustedkeys/prefix.d/example.com/" BOB, BOB_ASC);

	assert_ok(keys_trust_list(&c, &v, &n, &err), err);
	assert_int_equal(n, 3);
	assert_int_equal(v[0].scope, KEYS_SYSTEM);
	assert_string_equal(v[0].prefix, "example.com");
	assert_int_equal(v[1].scope, KEYS_LOCAL);
	assert_null(v[1].prefix);
	assert_string_equal(v[1].fpr, BOB);
	assert_string_equal(v[2].fpr, ALICE);
	keys_entries_free(v, n);

	assert_ok(keys_trust_remove(&c, "example.com", ALICE, &masked, &err), err);
	assert_false(masked);
	assert_ok(keys_trust_remove(&c, "example.com", BOB, &masked, &err), err);
	assert_true(masked);
	struct stat st;
	_cleanup_free_ char *mask = tpath(state, "local/trustedkeys/prefix.d/example.com/" BOB);
	assert_int_equal(stat(mask, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_err(keys_trust_remove(&c, "example.com", ALICE, &masked, &err), err, CKT_ENOTFOUND);
	keys_config_release(&c);
	/* As in rkt, a mask removes the fingerprint from the whole keyring
	 * built so far, root keys included. */
	assert_trusted(state, "example.com/x", "");
	assert_trusted(state, "other.org/x", BOB);
	tdir_pass(state);
}

static void test_verify_rejects_garbage(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	_cleanup_pgp_ struct keys_pgp *k = keys_pgp_new(&err);
	char *plain = NULL;
	size_t len;
	char signer[KEYS_FPR_MAX];
	(void)state;
	assert_non_null(k);
	assert_ok(keys_pgp_import(k, ALICE_ASC, strlen(ALICE_ASC), NULL, &err), err);
	assert_err(keys_pgp_verify_message(k, "hello", 5, &plain, &len, signer, &err), err,
		   CKT_EVERIFY);
	assert_null(plain);
	ckt_err_clear(&err);
	assert_err(keys_pgp_verify_message(k, "", 0, &plain, &len, signer, &err), err,
		   CKT_EVERIFY);
}

static void test_verify_signatures(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	char signer[KEYS_FPR_MAX];
	size_t len;
	(void)state;
	/* Two armored blocks in one buffer: both keys land in the keyring. */
	_cleanup_free_ char *both = xasprintf("%s%s", BOB_ASC, ALICE_ASC);
	_cleanup_pgp_ struct keys_pgp *k = keys_pgp_new(&err);
	assert_non_null(k);
	assert_ok(keys_pgp_import(k, both, strlen(both), NULL, &err), err);
	_cleanup_free_ char *plain = NULL;
	assert_ok(keys_pgp_verify_message(k, MSG_GPG, sizeof(MSG_GPG), &plain, &len, signer, &err),
		  err);
	assert_string_equal(plain, "hello ckt\n");
	assert_string_equal(signer, ALICE);

	/* The signed text altered: a bad signature. */
	unsigned char bad[sizeof(MSG_GPG)];
	memcpy(bad, MSG_GPG, sizeof(bad));
	unsigned char *h = memmem(bad, sizeof(bad), "hello", 5);
	assert_non_null(h);
	h[0] = 'j';
	char *p2 = NULL;
	assert_err(keys_pgp_verify_message(k, bad, sizeof(bad), &p2, &len, signer, &err), err,
		   CKT_EVERIFY);
	assert_string_equal(err.why, "bad signature");
	assert_null(p2);

	/* Only bob trusted: the signer is unknown. */
	_cleanup_pgp_ struct keys_pgp *kb = keys_pgp_new(&err);
	assert_ok(keys_pgp_import(kb, BOB_ASC, strlen(BOB_ASC), NULL, &err), err);
	ckt_err_clear(&err);
	assert_err(keys_pgp_verify_message(kb, MSG_GPG, sizeof(MSG_GPG), &p2, &len, signer, &err),
		   err, CKT_EVERIFY);
	assert_string_equal(err.why, "unknown key");

	/* Detached, over a file. */
	char path[] = "/tmp/ckt-unit-msg-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_ok(ckt_write_all(fd, "hello ckt\n", 10, &err), err);
	lseek(fd, 0, SEEK_SET);
	assert_ok(keys_pgp_verify_detached(k, MSG_ASC, strlen(MSG_ASC), fd, signer, &err), err);
	assert_ok(ckt_write_all(fd, "!", 1, &err), err);
	lseek(fd, 0, SEEK_SET);
	ckt_err_clear(&err);
	assert_err(keys_pgp_verify_detached(k, MSG_ASC, strlen(MSG_ASC), fd, signer, &err), err,
		   CKT_EVERIFY);
	assert_string_equal(err.why, "bad signature");
	close(fd);
	unlink(path);

	/* Not a key at all. */
	ckt_err_clear(&err);
	const char *junk = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n"
			   "-----END PGP PUBLIC KEY BLOCK-----\n";
	assert_err(keys_pgp_import(k, junk, strlen(junk), NULL, &err), err, CKT_EFORMAT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fpr_normalize),
		cmocka_unit_test(test_prefix_valid),
		TDIR_TEST(test_prefix_components),
		TDIR_TEST(test_root_and_masks),
		TDIR_TEST(test_bad_key_files),
		TDIR_TEST(test_add_list_remove),
		cmocka_unit_test(test_verify_rejects_garbage),
		cmocka_unit_test(test_verify_signatures),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
