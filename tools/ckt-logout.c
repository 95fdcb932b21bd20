/* ckt-logout: remove registry credentials from auth.json. */
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "libimg/auth.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-logout [OPTIONS] REGISTRY\n"
	"\n"
	"Remove the credentials for REGISTRY (HOST[:PORT]; docker.io for Docker Hub)\n"
	"from auth.json.\n"
	"\n"
	"Options:\n"
	"      --authfile FILE       auth.json to edit (default: $REGISTRY_AUTH_FILE,\n"
	"                            else ${XDG_RUNTIME_DIR}/containers/auth.json)\n"
	"  -q, --quiet, -v, --verbose, -h, --help, --version\n"
	"\n"
	"Exit status: 0 success; 1 not logged in, or the file cannot be written;\n"
	"2 usage error.\n";

enum { OPT_AUTHFILE = CLI_OPT_FIRST_TOOL };

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "authfile", required_argument, NULL, OPT_AUTHFILE },
		{ 0 },
	};
	struct cli c;
	struct ckt_err err = CKT_ERR_INIT;
	const char *authfile = NULL;
	int opt;

	cli_init(&c, "ckt-logout", usage, argv);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (cli_common_option(&c, opt, optarg))
			continue;
		if (opt == OPT_AUTHFILE)
			authfile = optarg;
	}
	cli_options_done(&c);
	if (argc - optind != 1)
		cli_usage_error(&c, "need exactly one registry");
	const char *s = argv[optind];
	if (!strncmp(s, "https://", 8))
		s += 8;
	else if (!strncmp(s, "http://", 7))
		s += 7;
	_cleanup_free_ char *domain = xstrndup(s, strcspn(s, "/"));
	if (!strcmp(domain, "index.docker.io") || !strcmp(domain, "registry-1.docker.io")) {
		free(domain);
		domain = xstrdup("docker.io");
	}
	int r = img_auth_logout(authfile, domain, &err);
	if (r < 0)
		return cli_exit(&c, cli_error(&c, &err));
	if (r == 0) {
		ckt_err_fail(&err, CKT_ENOTFOUND, "not logged in to '%s'", domain);
		return cli_exit(&c, cli_error(&c, &err));
	}
	ckt_info("logged out of %s", domain);
	return cli_exit(&c, 0);
}
