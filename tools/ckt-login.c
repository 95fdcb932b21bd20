/* ckt-login: check registry credentials and store them in auth.json
 * (DESIGN.md "The tools": ckt login / ckt logout). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/xalloc.h"
#include "libimg/auth.h"
#include "libimg/ref.h"
#include "libimg/registry.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-login [OPTIONS] REGISTRY\n"
	"\n"
	"Check credentials against REGISTRY (HOST[:PORT]; docker.io for Docker Hub)\n"
	"and store them in auth.json (mode 0600) for ckt-fetch and ckt-push.\n"
	"\n"
	"Options:\n"
	"  -u, --username USER       the user name\n"
	"  -p, --password PASSWORD   the password (visible to other users: prefer\n"
	"                            --password-stdin)\n"
	"      --password-stdin      read the password from stdin\n"
	"      --authfile FILE       auth.json to write (default: $REGISTRY_AUTH_FILE,\n"
	"                            else ${XDG_RUNTIME_DIR}/containers/auth.json)\n"
	"      --cert-dir DIR        CA and client certificates for TLS\n"
	"      --tls-verify=false    allow plain http and unverified TLS\n"
	"      --no-check            store the credentials without contacting the registry\n"
	"  -q, --quiet, -v, --verbose, -h, --help, --version\n"
	"\n"
	"Exit status: 0 success; 1 failure (credentials refused, network); 2 usage error.\n";

enum { OPT_STDIN = CLI_OPT_FIRST_TOOL, OPT_AUTHFILE, OPT_CERT_DIR, OPT_TLS, OPT_NO_CHECK };

static char *read_password(struct cli *c)
{
	struct ckt_buf b = CKT_BUF_INIT;
	char chunk[256];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		ckt_buf_add(&b, chunk, n);
	while (b.len && (b.buf[b.len - 1] == '\n' || b.buf[b.len - 1] == '\r'))
		b.buf[--b.len] = '\0';
	if (!b.len)
		cli_usage_error(c, "no password on stdin");
	return ckt_buf_detach(&b, NULL);
}

/* "HOST[:PORT]" from what the user typed (a URL or a reference is fine). */
static char *registry_domain(struct cli *c, const char *arg)
{
	const char *s = arg;
	if (!strncmp(s, "https://", 8))
		s += 8;
	else if (!strncmp(s, "http://", 7))
		s += 7;
	else if (!strncmp(s, "docker://", 9))
		s += 9;
	_cleanup_free_ char *host = xstrndup(s, strcspn(s, "/"));
	if (!*host)
		cli_usage_error(c, "invalid registry '%s'", arg);
	if (!strcmp(host, "index.docker.io") || !strcmp(host, "registry-1.docker.io"))
		return xstrdup("docker.io");
	return TAKE_PTR(host);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "username", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'p' },
		{ "password-stdin", no_argument, NULL, OPT_STDIN },
		{ "authfile", required_argument, NULL, OPT_AUTHFILE },
		{ "cert-dir", required_argument, NULL, OPT_CERT_DIR },
		{ "tls-verify", optional_argument, NULL, OPT_TLS },
		{ "no-check", no_argument, NULL, OPT_NO_CHECK },
		{ 0 },
	};
	struct cli c;
	struct ckt_err err = CKT_ERR_INIT;
	struct img_registry_opts ro = { 0 };
	const char *user = NULL, *authfile = NULL;
	_cleanup_free_ char *pass = NULL;
	bool pw_stdin = false, check = true;
	int opt;

	cli_init(&c, "ckt-login", usage, argv);
	c.shortopts = CLI_COMMON_SHORT "u:p:";
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT "u:p:", opts, NULL)) != -1) {
		if (cli_common_option(&c, opt, optarg))
			continue;
		switch (opt) {
		case 'u': user = optarg; break;
		case 'p': free(pass); pass = xstrdup(optarg); break;
		case OPT_STDIN: pw_stdin = true; break;
		case OPT_AUTHFILE: authfile = optarg; break;
		case OPT_CERT_DIR: ro.cert_dir = optarg; break;
		case OPT_NO_CHECK: check = false; break;
		case OPT_TLS:
			if (optarg && strcmp(optarg, "true") && strcmp(optarg, "false"))
				cli_usage_error(&c, "--tls-verify takes true or false, not '%s'", optarg);
			ro.insecure = optarg && !strcmp(optarg, "false");
			break;
		}
	}
	cli_options_done(&c);
	if (argc - optind != 1)
		cli_usage_error(&c, "need exactly one registry");
	if (!user)
		cli_usage_error(&c, "no --username");
	if (pw_stdin && pass)
		cli_usage_error(&c, "--password and --password-stdin exclude each other");
	if (pw_stdin)
		pass = read_password(&c);
	if (!pass)
		cli_usage_error(&c, "no password (--password-stdin or --password)");
	_cleanup_free_ char *domain = registry_domain(&c, argv[optind]);

	if (check) {
		_cleanup_free_ char *creds = xasprintf("%s:%s", user, pass);
		ro.creds = creds;
		_cleanup_registry_ struct img_registry *r = img_registry_new(domain, &ro, &err);
		if (!r || img_registry_check_login(r, &err) < 0) {
			ckt_err_wrap(&err, "log in to '%s'", domain);
			return cli_exit(&c, cli_error(&c, &err));
		}
	}
	if (img_auth_login(authfile, domain, user, pass, &err) < 0)
		return cli_exit(&c, cli_error(&c, &err));
	memset(pass, 0, strlen(pass));
	ckt_info("logged in to %s", domain);
	return cli_exit(&c, 0);
}
