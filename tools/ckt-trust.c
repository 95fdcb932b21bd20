/* ckt-trust: add, list and remove trusted keys by name prefix (rkt trust). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "keys/trust.h"
#include "libimg/discovery.h"
#include "libimg/http_get.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-trust [OPTIONS] --prefix PREFIX [KEYFILE|URL...]\n"
	"       ckt-trust [OPTIONS] --root KEYFILE|URL...\n"
	"       ckt-trust [OPTIONS] list\n"
	"       ckt-trust [OPTIONS] rm (--prefix PREFIX | --root) FINGERPRINT...\n"
	"\n"
	"Manage the keys trusted to sign images (rkt's trust store).  A key trusted\n"
	"for a prefix verifies every image whose name is that prefix or lies below it\n"
	"by whole path components (example.com trusts example.com/app); a root key\n"
	"verifies every image.  Keys are written to the local configuration directory\n"
	"as trustedkeys/prefix.d/PREFIX/FINGERPRINT or trustedkeys/root.d/FINGERPRINT.\n"
	"With --prefix and no key, the keys are discovered through the prefix's\n"
	"ac-discovery-pubkeys (appc discovery) and shown for confirmation.\n"
	"\n"
	"Options:\n"
	"  --prefix PREFIX        the name prefix the keys are trusted for\n"
	"  --root                 trust the keys for every name\n"
	"  --fingerprint FPR      add only the key with this fingerprint; the key is\n"
	"                         checked against it instead of asking (for scripts)\n"
	"  --yes                  accept the keys without asking\n"
	"  --insecure-allow-http  allow fetching keys (and discovery) over plain http\n"
	"  --discovery-port PORT  appc discovery: query this port (tests)\n"
	"  --local-config DIR     local configuration directory (default: /etc/ckt as\n"
	"                         root, ~/.config/ckt otherwise)\n"
	"  --system-config DIR    system configuration directory (default: " CKT_PREFIX
	"/lib/ckt)\n"
	"  --json                 one JSON object per key\n"
	"  -q, --quiet            only errors on stderr\n"
	"  -v, --verbose          say more\n"
	"  -h, --help, --version\n"
	"\n"
	"Output: the path of each key file written (add), one key per line as\n"
	"SCOPE PREFIX FINGERPRINT UID (list; PREFIX is '/' for root keys), the\n"
	"path removed or masked (rm).\n"
	"\n"
	"Exit status: 0 success; 1 failure; 2 usage error; 3 the key does not have\n"
	"the fingerprint given, or was refused at the prompt.\n";

enum { OPT_PREFIX = CLI_OPT_FIRST_TOOL, OPT_ROOT, OPT_FPR, OPT_YES, OPT_HTTP, OPT_LOCAL,
       OPT_SYSTEM, OPT_DISC_PORT };

struct opts {
	const char *prefix;
	bool root, yes, http;
	const char *fpr;
	int port;
};

static void print_entry(struct cli *c, const struct keys_entry *e, const char *verb)
{
	if (c->json) {
		json_t *j = json_pack("{s:s, s:s?, s:s, s:s, s:s?, s:b}", "scope",
				      e->scope == KEYS_SYSTEM ? "system" : "local", "prefix",
				      e->prefix, "fingerprint", e->fpr, "path", e->path, "uid",
				      e->uid, "mask", e->mask);
		if (verb)
			json_object_set_new(j, "action", json_string(verb));
		char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		cli_out(c, "%s", s);
		free(s);
		json_decref(j);
	} else if (verb) {
		cli_out(c, "%s", e->path);
	} else {
		cli_out(c, "%s %s %s %s", e->scope == KEYS_SYSTEM ? "system" : "local",
			e->prefix ? e->prefix : "/", e->fpr,
			e->mask ? "(masked)" : e->uid ? e->uid : "");
	}
}

/* rkt shows each key and asks; --yes and --fingerprint answer for scripts. */
static bool confirm(struct cli *c, const struct opts *o, const char *src, const char *fpr,
		    const char *uid)
{
	char line[16];
	if (o->yes || o->fpr)
		return true;
	if (!isatty(STDIN_FILENO)) {
		cli_warn(c, "not a terminal to ask on: give --yes or --fingerprint");
		return false;
	}
	fprintf(stderr, "Key from '%s'\n  fingerprint: %s\n  uid: %s\nTrust it for %s%s%s? [y/N] ",
		src, fpr, uid ? uid : "", o->prefix ? "prefix '" : "every name (root)",
		o->prefix ? o->prefix : "", o->prefix ? "'" : "");
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

static int add_data(struct cli *c, const struct keys_config *kc, const struct opts *o,
		    const char *src, const char *data, size_t len, struct ckt_err *err)
{
	size_t n;
	struct keys_entry *v = NULL;

	if (!o->yes && !o->fpr) {
		/* Show before writing anything. */
		_cleanup_pgp_ struct keys_pgp *k = keys_pgp_new(err);
		_cleanup_strv_ char **fprs = NULL;
		_cleanup_free_ char *uid = NULL;
		if (!k || keys_pgp_inspect(k, data, len, &fprs, &uid, err) < 0)
			return ckt_err_wrap(err, "key '%s'", src);
		for (char **f = fprs; *f; f++)
			if (!confirm(c, o, src, *f, uid))
				return ckt_err_failw(err, CKT_EVERIFY, "not accepted",
						     "key %s from '%s'", *f, src);
	}
	if (keys_trust_add(kc, o->prefix, data, len, o->fpr, &v, &n, err) < 0)
		return ckt_err_wrap(err, "trust key '%s'", src);
	for (size_t i = 0; i < n; i++) {
		ckt_info("added key %s for %s%s%s", v[i].fpr, o->prefix ? "prefix '" : "root",
			 o->prefix ? o->prefix : "", o->prefix ? "'" : "");
		print_entry(c, &v[i], "added");
	}
	keys_entries_free(v, n);
	return 0;
}

static int add_one(struct cli *c, const struct keys_config *kc, const struct opts *o,
		   const char *src, struct ckt_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct img_http_opts ho = { .allow_http = o->http };
	int r;
	if (!strncmp(src, "https://", 8) || !strncmp(src, "http://", 7))
		r = img_http_get(src, &ho, -1, 1u << 20, &data, &len, NULL, err);
	else
		r = ckt_read_file(src, 1u << 20, &data, &len, err);
	if (r < 0)
		return ckt_err_wrap(err, "read key '%s'", src);
	return add_data(c, kc, o, src, data, len, err);
}

/* rkt trust --prefix P with no key: the keys of P's ac-discovery-pubkeys. */
static int discover(struct cli *c, const struct keys_config *kc, const struct opts *o,
		    struct ckt_err *err)
{
	struct img_appc_app app = { 0 };
	struct img_discovery d = { 0 };
	struct img_http_opts ho = { .allow_http = o->http };
	int r = img_appc_app_parse(o->prefix, &app, err);
	if (r == 0)
		r = img_discover(&app, &ho, o->port, &d, err);
	img_appc_app_release(&app);
	if (r < 0)
		return ckt_err_wrap(err, "discover keys for '%s'", o->prefix);
	if (!d.pubkeys || !d.pubkeys[0])
		r = ckt_err_failw(err, CKT_ENOTFOUND, "no ac-discovery-pubkeys",
				  "discover keys for '%s'", o->prefix);
	for (char **u = d.pubkeys; r == 0 && u && *u; u++) {
		_cleanup_free_ char *data = NULL;
		size_t len;
		ckt_info("discovered key %s", *u);
		r = img_http_get(*u, &ho, -1, 1u << 20, &data, &len, NULL, err);
		if (r == 0)
			r = add_data(c, kc, o, *u, data, len, err);
	}
	img_discovery_release(&d);
	return r;
}

static int cmd_list(struct cli *c, const struct keys_config *kc, struct ckt_err *err)
{
	struct keys_entry *v;
	size_t n;
	if (keys_trust_list(kc, &v, &n, err) < 0)
		return -err->code;
	for (size_t i = 0; i < n; i++)
		print_entry(c, &v[i], NULL);
	keys_entries_free(v, n);
	return 0;
}

static int cmd_rm(struct cli *c, const struct keys_config *kc, const struct opts *o,
		  char **args, size_t n, struct ckt_err *err)
{
	int status = 0;
	for (size_t i = 0; i < n; i++) {
		bool masked;
		ckt_err_clear(err);
		if (keys_trust_remove(kc, o->prefix, args[i], &masked, err) < 0) {
			int code = cli_error(c, err);
			status = status ? status : code;
			continue;
		}
		char f[KEYS_FPR_MAX];
		keys_fpr_normalize(args[i], f);
		_cleanup_free_ char *path = o->prefix
			? xasprintf("%s/trustedkeys/prefix.d/%s/%s", kc->local, o->prefix, f)
			: xasprintf("%s/trustedkeys/root.d/%s", kc->local, f);
		ckt_info("%s key %s", masked ? "masked system" : "removed", f);
		cli_out(c, "%s", path);
	}
	return status;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_COMMON_OPTIONS,
		{ "prefix", required_argument, NULL, OPT_PREFIX },
		{ "root", no_argument, NULL, OPT_ROOT },
		{ "fingerprint", required_argument, NULL, OPT_FPR },
		{ "yes", no_argument, NULL, OPT_YES },
		{ "skip-fingerprint-review", no_argument, NULL, OPT_YES },
		{ "insecure-allow-http", no_argument, NULL, OPT_HTTP },
		{ "local-config", required_argument, NULL, OPT_LOCAL },
		{ "system-config", required_argument, NULL, OPT_SYSTEM },
		{ "discovery-port", required_argument, NULL, OPT_DISC_PORT },
		{ 0 },
	};
	struct cli c;
	struct ckt_err err = CKT_ERR_INIT;
	struct opts o = { 0 };
	struct keys_config kc;
	int opt, status = 0;

	cli_init(&c, "ckt-trust", usage, argv);
	keys_config_default(&kc);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, lopts, NULL)) != -1) {
		if (cli_common_option(&c, opt, optarg))
			continue;
		switch (opt) {
		case OPT_PREFIX: o.prefix = optarg; break;
		case OPT_ROOT: o.root = true; break;
		case OPT_FPR: o.fpr = optarg; break;
		case OPT_YES: o.yes = true; break;
		case OPT_HTTP: o.http = true; break;
		case OPT_LOCAL: free(kc.local); kc.local = xstrdup(optarg); break;
		case OPT_SYSTEM: free(kc.system); kc.system = xstrdup(optarg); break;
		case OPT_DISC_PORT: {
			char *end;
			long p = strtol(optarg, &end, 10);
			if (*end || p < 1 || p > 65535)
				cli_usage_error(&c, "invalid --discovery-port '%s'", optarg);
			o.port = (int)p;
			break;
		}
		}
	}
	cli_options_done(&c);
	char **rest = argv + optind;
	int nrest = argc - optind;
	if (nrest > 0 && !strcmp(rest[0], "list")) {
		if (nrest > 1)
			cli_usage_error(&c, "list takes no arguments");
		status = cmd_list(&c, &kc, &err) < 0 ? cli_error(&c, &err) : 0;
		keys_config_release(&kc);
		return cli_exit(&c, status);
	}
	bool rm = nrest > 0 && !strcmp(rest[0], "rm");
	if (rm)
		rest++, nrest--;
	if (o.root && o.prefix)
		cli_usage_error(&c, "--root and --prefix exclude each other");
	if (!o.root && !o.prefix)
		cli_usage_error(&c, "implicit unbounded trust (root domain): give --prefix or --root");
	if (o.prefix && !keys_prefix_valid(o.prefix))
		cli_usage_error(&c, "invalid prefix '%s' (lower-case name components, no URL)",
				o.prefix);
	size_t n;
	_cleanup_strv_ char **args = cli_args(&c, nrest, rest, &n);
	if (n == 0 && (rm || o.root))
		cli_usage_error(&c, rm ? "no fingerprint given" : "--root needs a KEYFILE or URL");
	if (n == 0) {
		status = discover(&c, &kc, &o, &err) < 0 ? cli_error(&c, &err) : 0;
	} else if (rm) {
		status = cmd_rm(&c, &kc, &o, args, n, &err);
	} else {
		for (size_t i = 0; i < n; i++) {
			ckt_err_clear(&err);
			if (add_one(&c, &kc, &o, args[i], &err) < 0) {
				int code = cli_error(&c, &err);
				status = status ? status : code;
			}
		}
	}
	keys_config_release(&kc);
	return cli_exit(&c, status);
}
