/* ckt-fetch: bring images into the store (DESIGN.md "The tools"). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "base/log.h"
#include "libimg/fetch.h"
#include "libimg/platform.h"
#include "libimg/policy.h"
#include "libimg/lazylib.h"
#include "libimg/sigstore.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-fetch [OPTIONS] SOURCE...\n"
	"\n"
	"Copy images into the store, every blob verified against its digest, and\n"
	"print one pinned reference (NAME@sha256:...) per image.\n"
	"\n"
	"Sources (skopeo's names):\n"
	"  oci:DIR[:REF]                  an OCI image layout\n"
	"  oci-archive:FILE[:REF]         a tar of an OCI image layout\n"
	"  docker://NAME[:TAG|@DIGEST]    a registry (a bare NAME means the same;\n"
	"                                 `alpine` is docker.io/library/alpine:latest)\n"
	"  docker-archive:FILE[:REF|:@N]  what `docker save` writes\n"
	"  aci:FILE|URL                   an appc ACI (dependencies from the store),\n"
	"                                 rendered into a one-layer image; FILE.aci.asc\n"
	"                                 is kept with it\n"
	"  aci:NAME[:VERSION][,L=V]...    an appc name found by meta discovery\n"
	"  -                              read sources from stdin, one per line\n"
	"\n"
	"Options:\n"
	"  --platform OS/ARCH[/VARIANT]  image to take from an index (default: this host's)\n"
	"  --all-platforms               copy every image of an index\n"
	"  --name REF                    name to give the image in the store\n"
	"  --creds USER[:PASSWORD]       registry credentials (default: auth.json,\n"
	"                                ~/.docker/config.json, credential helpers)\n"
	"  --cert-dir DIR                CA (*.crt) and client certificates for TLS\n"
	"                                (default: /etc/containers/certs.d/HOST:PORT)\n"
	"  --tls-verify=false            allow plain http and unverified TLS\n"
	"  --insecure-options=LIST       aci: URLs and discovery: allow plain http (http),\n"
	"                                do not check TLS certificates (tls); image: skip\n"
	"                                --verify with a warning; all-fetch: all three\n"
	"  --discovery-port PORT         appc discovery: query this port (tests)\n"
	"  --verify                      check signatures with the policy (as ckt-verify);\n"
	"                                a refused image keeps no name, exit status 3\n"
	CLI_VERIFY_USAGE
	"  --store DIR                   the store (default: $CKT_STORE, /var/lib/ckt for root,\n"
	"                                ~/.local/share/ckt otherwise)\n"
	"  --json                        one JSON object per image\n"
	"  -q, --quiet                   only errors on stderr\n"
	"  -v, --verbose                 say more (\"up to date\" and what was copied)\n"
	"  -h, --help                    this text\n"
	"      --version                 the version\n"
	"\n"
	"Signatures travel with images: a registry's cosign attachments\n"
	"(sha256-HEX.sig; with --verify or registries.d use-sigstore-attachments)\n"
	"and the lookaside stores of registries.d are copied into the store.\n"
	"\n"
	"Exit status: 0 success; 1 failure; 2 usage error; 3 content that does not\n"
	"match its digest, or (--verify) signatures the policy refuses.\n";

enum { OPT_PLATFORM = CLI_OPT_FIRST_TOOL, OPT_ALL, OPT_NAME, OPT_CREDS, OPT_CERT_DIR, OPT_TLS,
       OPT_VERIFY, OPT_INSECURE, OPT_DISC_PORT };

static void progress(void *data, const char *digest, uint64_t done, uint64_t total)
{
	char label[32];
	snprintf(label, sizeof(label), "%.19s", digest);
	cli_progress(data, label, done, total);
}

static void report(struct cli *c, const struct img_fetch_result *r)
{
	char b[32];
	if (r->up_to_date)
		ckt_info("%s: up to date", r->name);
	else
		ckt_info("%s: %zu blobs copied (%s)", r->name, r->blobs_fetched,
			 cli_bytes(r->bytes_fetched, b, sizeof(b)));
	if (!c->json) {
		cli_out(c, "%s", r->pinned);
		return;
	}
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b}", "reference", r->pinned,
			      "name", r->name, "digest", r->digest, "media_type", r->media_type,
			      "blobs_fetched", (json_int_t)r->blobs_fetched, "bytes_fetched",
			      (json_int_t)r->bytes_fetched, "up_to_date", r->up_to_date);
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cli_out(c, "%s", s);
	free(s);
	json_decref(j);
}

/* Copy the signatures that travel with the image, then (--verify) check
 * it; a refused image that was not already there loses its name. */
static int check_signatures(struct store *s, const char *src, const struct img_fetch_result *r,
			    const struct img_registry_opts *ro, const struct img_policy_opts *po,
			    bool verify, struct ckt_err *err)
{
	struct ckt_err serr = CKT_ERR_INIT;
	if (img_sigs_collect(s, src, r->name, r->digest, ro, po->registries_d, verify, NULL,
			     &serr) < 0)
		ckt_warn("%s: signatures not copied: %s%s%s%s", r->name, serr.what,
			 *serr.why ? " (" : "", serr.why, *serr.why ? ")" : "");
	if (!verify || img_policy_check_fetched(s, src, r->name, po, err) == 0)
		return 0;
	if (!r->up_to_date) {
		struct ckt_err ignored = CKT_ERR_INIT;
		store_ref_remove(s, r->name, &ignored);
	}
	return -err->code;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "all-platforms", no_argument, NULL, OPT_ALL },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "creds", required_argument, NULL, OPT_CREDS },
		{ "cert-dir", required_argument, NULL, OPT_CERT_DIR },
		{ "tls-verify", optional_argument, NULL, OPT_TLS },
		{ "insecure-options", required_argument, NULL, OPT_INSECURE },
		{ "discovery-port", required_argument, NULL, OPT_DISC_PORT },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		CLI_VERIFY_OPTIONS,
		{ 0 },
	};
	struct cli c;
	struct ckt_err err = CKT_ERR_INIT;
	struct img_registry_opts ro = { 0 };
	struct img_fetch_opts fo = { .registry = &ro };
	struct img_platform plat = IMG_PLATFORM_INIT;
	struct img_policy_opts po = { 0 };
	bool verify = false;
	int opt, status = 0;

	cli_init(&c, "ckt-fetch", usage, argv);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (cli_common_option(&c, opt, optarg) || cli_verify_option(&c, &po, opt, optarg))
			continue;
		if (opt == OPT_VERIFY)
			verify = true;
		if (opt == OPT_PLATFORM) {
			img_platform_release(&plat);
			if (img_platform_parse(optarg, &plat, &err) < 0)
				cli_usage_error(&c, "invalid --platform '%s' (%s)", optarg, err.why);
			fo.platform = &plat;
		} else if (opt == OPT_ALL) {
			fo.flags |= IMG_FETCH_ALL_PLATFORMS;
		} else if (opt == OPT_NAME) {
			fo.name = optarg;
		} else if (opt == OPT_CREDS) {
			ro.creds = optarg;
		} else if (opt == OPT_INSECURE) {
			_cleanup_free_ char *list = xstrdup(optarg);
			char *save = NULL;
			for (char *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
				bool all = !strcmp(w, "all") || !strcmp(w, "all-fetch");
				if (!strcmp(w, "http") || all)
					fo.aci_allow_http = true;
				if (!strcmp(w, "tls") || all)
					fo.aci_insecure_tls = true;
				/* image: --verify is skipped with a warning (issue 7). */
				if (!strcmp(w, "image") || all || !strcmp(w, "all-run"))
					po.insecure_image = true;
				if (!all && strcmp(w, "http") && strcmp(w, "tls") && strcmp(w, "image") &&
				    strcmp(w, "all-run") && strcmp(w, "none") && strcmp(w, "pubkey") &&
				    strcmp(w, "ondisk"))
					cli_usage_error(&c, "--insecure-options takes http, tls, image, "
						       "all-fetch, all, not '%s'", w);
			}
		} else if (opt == OPT_DISC_PORT) {
			char *end;
			long p = strtol(optarg, &end, 10);
			if (*end || p < 1 || p > 65535)
				cli_usage_error(&c, "invalid --discovery-port '%s'", optarg);
			fo.aci_discovery_port = (int)p;
		} else if (opt == OPT_CERT_DIR) {
			ro.cert_dir = optarg;
		} else if (opt == OPT_TLS) {
			if (!optarg || !strcmp(optarg, "true"))
				ro.insecure = false;
			else if (!strcmp(optarg, "false"))
				ro.insecure = true;
			else
				cli_usage_error(&c, "--tls-verify takes true or false, not '%s'", optarg);
		}
	}
	cli_options_done(&c);
	size_t n;
	_cleanup_strv_ char **srcs = cli_args(&c, argc - optind, argv + optind, &n);
	if (n == 0)
		cli_usage_error(&c, "no source given");
	if (fo.name && n > 1)
		cli_usage_error(&c, "--name needs exactly one source");
	fo.progress = progress;
	fo.progress_data = &c;

	img_fetch_preload(srcs, n);
	_cleanup_store_ struct store *s = cli_store_open(&c, 0, &err);
	if (!s) {
		img_lazylib_settle();
		return cli_exit(&c, cli_error(&c, &err));
	}
	for (size_t i = 0; i < n; i++) {
		struct img_fetch_result r;
		ckt_err_clear(&err);
		if (img_fetch(s, srcs[i], &fo, &r, &err) < 0) {
			int code = cli_error(&c, &err);
			if (!status)
				status = code;
			continue;
		}
		cli_progress_clear(&c);
		if (check_signatures(s, srcs[i], &r, &ro, &po, verify, &err) < 0) {
			int code = cli_error(&c, &err);
			if (!status)
				status = code;
			img_fetch_result_release(&r);
			continue;
		}
		report(&c, &r);
		img_fetch_result_release(&r);
	}
	img_platform_release(&plat);
	img_lazylib_settle();
	return cli_exit(&c, status);
}
