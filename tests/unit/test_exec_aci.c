/* Unit tests for libimg/exec_aci: Kubernetes quantities of the appc
 * resource isolators, and a manifest turned into what ckt-exec runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "libimg/exec_aci.h"
#include "unit.h"

static void test_quantity(void **state)
{
	static const struct {
		const char *in;
		uint64_t scale, want;
	} good[] = {
		{ "32Mi", 1, 32u << 20 }, { "1G", 1, 1000000000 }, { "1Gi", 1, 1u << 30 },
		{ "512k", 1, 512000 },	  { "1048576", 1, 1048576 }, { "1.5Ki", 1, 1536 },
		{ "2e3", 1, 2000 },	  { "1E3", 1, 1000 },	     { "500m", 1000, 500 },
		{ "1", 1000, 1000 },	  { "0.25", 1000, 250 },     { "1.5", 1000, 1500 },
		{ "100m", 1, 1 },	  /* rounded up */	     { "+2", 1, 2 },
	};
	static const char *const bad[] = { "", "Mi", "1.2.3", "-1", "1Q", "1 Mi", ".", "10E",
					   "1e", "1e99", "0x10" };
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		uint64_t v = 0;
		assert_ok(img_exec_aci_quantity(good[i].in, good[i].scale, &v, &err), err);
		if (v != good[i].want)
			fail_msg("'%s': %llu, want %llu", good[i].in, (unsigned long long)v,
				 (unsigned long long)good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ckt_err err = CKT_ERR_INIT;
		uint64_t v = 0;
		if (img_exec_aci_quantity(bad[i], 1, &v, &err) == 0)
			fail_msg("'%s' accepted as %llu", bad[i], (unsigned long long)v);
		assert_int_equal(err.code, CKT_EFORMAT);
		ckt_err_clear(&err);
	}
}

static const char manifest[] =
	"{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"example.com/My_App\","
	"\"app\":{\"exec\":[\"/x\"],\"user\":\"/owned\",\"group\":\"0\",\"supplementaryGids\":[7,4000],"
	"\"environment\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"AC_APP_NAME\",\"value\":\"no\"}],"
	"\"workingDirectory\":\"/owned\","
	"\"mountPoints\":[{\"name\":\"data\",\"path\":\"/data\",\"readOnly\":true},"
	"{\"name\":\"tmp\",\"path\":\"/t\"}],"
	"\"isolators\":[{\"name\":\"resource/memory\",\"value\":{\"limit\":\"1Mi\"}},"
	"{\"name\":\"os/linux/capabilities-retain-set\",\"value\":{\"set\":[\"CAP_KILL\",\"chown\"]}},"
	"{\"name\":\"os/linux/no-new-privileges\",\"value\":true}]}}";

static void test_load(void **state)
{
	struct ckt_err err = CKT_ERR_INIT;
	struct img_exec_aci a;
	char dir[] = "/tmp/ckt-exec-aci-XXXXXX";
	(void)state;
	assert_non_null(mkdtemp(dir));
	char *owned = xasprintf("%s/owned", dir);
	assert_int_equal(mkdir(owned, 0755), 0);
	struct stat st;
	assert_int_equal(stat(owned, &st), 0);
	const struct img_exec_aci_volume vols[] = { { "data", "/srv", 0 } };
	assert_ok(img_exec_aci_load(manifest, dir, vols, 1, true, &a, &err), err);
	assert_string_equal(a.app_name, "my-app");
	char *user = xasprintf("%u:0", (unsigned)st.st_uid);
	if (geteuid() == 0)
		assert_string_equal(a.user, user);
	free(user);
	assert_string_equal(a.env[0], "A=1");
	assert_string_equal(a.env[1], "AC_APP_NAME=my-app");
	assert_string_equal(a.workdir, "/owned");
	assert_int_equal(a.n_mounts, 2);
	assert_int_equal(a.mounts[0].kind, LAUNCH_MOUNT_BIND);
	assert_string_equal(a.mounts[0].source, "/srv");
	assert_false(a.mounts[0].read_only); /* the volume's readOnly=false wins */
	assert_int_equal(a.mounts[1].kind, LAUNCH_MOUNT_TMPFS);
	assert_string_equal(a.mounts[1].target, "/t");
	assert_int_equal(a.limits.memory, 1u << 20);
	assert_true(a.caps_set);
	assert_int_equal(a.caps, (1u << 5) | 1u);
	assert_true(a.no_new_privs);
	/* supplementaryGids, the spelling of the spec's example, loads too. */
	assert_int_equal(a.n_groups, 2);
	assert_int_equal(a.groups[0], 7);
	assert_int_equal(a.groups[1], 4000);
	img_exec_aci_release(&a);

	/* A group that is not a gid is malformed. */
	static const char bad_gid[] =
		"{\"name\":\"a\",\"app\":{\"exec\":[\"/x\"],\"supplementaryGIDs\":[-1]}}";
	assert_int_equal(img_exec_aci_load(bad_gid, dir, NULL, 0, true, &a, &err), -1);
	assert_int_equal(err.code, CKT_EFORMAT);
	ckt_err_clear(&err);

	/* The workingDirectory must exist; unknown volume names are refused. */
	rmdir(owned);
	assert_int_equal(img_exec_aci_load(manifest, dir, NULL, 0, true, &a, &err), -1);
	assert_int_equal(err.code, CKT_ENOTFOUND);
	ckt_err_clear(&err);
	const struct img_exec_aci_volume nope[] = { { "nope", NULL, -1 } };
	assert_int_equal(mkdir(owned, 0755), 0);
	assert_int_equal(img_exec_aci_load(manifest, dir, nope, 1, true, &a, &err), -1);
	assert_int_equal(err.code, CKT_EUSAGE);
	ckt_err_clear(&err);
	rmdir(owned);
	rmdir(dir);
	free(owned);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantity),
		cmocka_unit_test(test_load),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
