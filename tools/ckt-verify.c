/* ckt-verify: check images against the signature policy and trusted keys. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "libimg/aci.h"
#include "libimg/json.h"
#include "libimg/policy.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-verify [OPTIONS] REF...\n"
	"       ckt-verify [OPTIONS] FILE.aci...\n"
	"\n"
	"Check that each image of the store (REF: a name, NAME@sha256:..., a digest)\n"
	"is accepted by the signature policy, with its signatures from the store and\n"
	"from the lookaside stores of registries.d, and print each REF that passed.\n"
	"An ACI file (a name ending in .aci, or aci:FILE) is checked against its\n"
	"detached signature FILE.asc (armored or binary) with the keys trusted for\n"
	"the name in its manifest; a stored ACI (its image ID sha512-HEX, as\n"
	"`ckt-image list` shows) against the signature fetched with it.\n"
	"`-` reads REFs from stdin, one per line, so\n"
	"`ckt-fetch ... | ckt-verify - | ckt-exec -` gates a pipeline.\n"
	"\n"
	"Options:\n" CLI_VERIFY_USAGE
	"  --signature FILE        ACI: the detached signature (default: FILE.asc)\n"
	"  --store DIR             the store (default: $CKT_STORE, /var/lib/ckt for root,\n"
	"                          ~/.local/share/ckt otherwise)\n"
	"  --json                  one JSON object per REF, passed or not\n"
	"  -q, --quiet             only errors on stderr\n"
	"  -v, --verbose           say which signature was accepted\n"
	"  -h, --help, --version\n"
	"\n"
	"Exit status: 0 all passed; 1 failure; 2 usage error; 3 a REF was refused\n"
	"(no signature, unknown key, bad signature, identity mismatch, digest\n"
	"mismatch, policy reject).\n";

enum { OPT_SIGNATURE = CLI_OPT_FIRST_TOOL };

static bool is_aci(const char *arg, const char **file)
{
	size_t n = strlen(arg);
	if (!strncmp(arg, "aci:", 4)) {
		*file = arg + 4;
		return true;
	}
	*file = arg;
	return n > 4 && !strcmp(arg + n - 4, ".aci");
}

/* The name in the ACI's manifest (rkt checks the signature against the
 * keys trusted for it). */
static int aci_name(const char *file, char **name, struct ckt_err *err)
{
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
	struct img_aci_info info = { 0 };
	if (fd < 0)
		return ckt_err_sys(err, errno == ENOENT ? CKT_ENOTFOUND : CKT_EIO, "open '%s'",
				   file);
	if (img_aci_check(fd, &info, err) < 0)
		return ckt_err_wrap(err, "ACI '%s'", file);
	json_t *j = json_loadb(info.manifest, info.manifest_len, 0, NULL);
	json_t *nm = j ? json_object_get(j, "name") : NULL;
	int r = 0;
	if (json_is_string(nm))
		*name = xstrdup(json_string_value(nm));
	else
		r = ckt_err_fail(err, CKT_EFORMAT, "ACI '%s': manifest has no name", file);
	json_decref(j);
	img_aci_info_release(&info);
	return r;
}

static int verify_one(struct store *s, const struct img_policy_opts *po, const char *sigfile,
		      const char *arg, struct ckt_err *err)
{
	const char *file;
	if (!strncmp(arg, "sha512-", 7))
		return img_policy_check_stored_aci(s, arg, po, err);
	if (!is_aci(arg, &file))
		return img_policy_check_ref(s, arg, po, err);
	_cleanup_free_ char *name = NULL;
	_cleanup_free_ char *asc = sigfile ? xstrdup(sigfile) : xasprintf("%s.asc", file);
	if (aci_name(file, &name, err) < 0)
		return -err->code;
	return img_policy_check_aci(file, asc, name, po, err);
}

static void report(struct cli *c, const char *arg, const struct ckt_err *err)
{
	if (!c->json) {
		if (!err)
			cli_out(c, "%s", arg);
		return;
	}
	json_t *j = json_pack("{s:s, s:b}", "reference", arg, "verified", err == NULL);
	if (err) {
		json_object_set_new(j, "reason", json_string(err->why));
		json_object_set_new(j, "detail", json_string(err->what));
	}
	char *str = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cli_out(c, "%s", str);
	free(str);
	json_decref(j);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_COMMON_OPTIONS,
		CLI_VERIFY_OPTIONS,
		{ "signature", required_argument, NULL, OPT_SIGNATURE },
		{ 0 },
	};
	struct cli c;
	struct ckt_err err = CKT_ERR_INIT;
	struct img_policy_opts po = { 0 };
	const char *sigfile = NULL;
	int opt, status = 0;

	cli_init(&c, "ckt-verify", usage, argv);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, lopts, NULL)) != -1) {
		if (cli_common_option(&c, opt, optarg) || cli_verify_option(&c, &po, opt, optarg))
			continue;
		if (opt == OPT_SIGNATURE)
			sigfile = optarg;
	}
	cli_options_done(&c);
	size_t n;
	_cleanup_strv_ char **args = cli_args(&c, argc - optind, argv + optind, &n);
	if (n == 0)
		cli_usage_error(&c, "nothing to verify");
	if (sigfile && n > 1)
		cli_usage_error(&c, "--signature needs exactly one ACI");
	_cleanup_store_ struct store *s = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *file;
		ckt_err_clear(&err);
		if (!is_aci(args[i], &file) && !s && !(s = cli_store_open(&c, 0, &err)))
			return cli_exit(&c, cli_error(&c, &err));
		if (verify_one(s, &po, sigfile, args[i], &err) < 0) {
			int code = cli_error(&c, &err);
			report(&c, args[i], &err);
			status = status ? status : code;
			continue;
		}
		report(&c, args[i], NULL);
	}
	return cli_exit(&c, status);
}
