/* ckt-push: send images from the store to a registry or a local file
 * (DESIGN.md "The tools"). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "libimg/push.h"
#include "libimg/lazylib.h"
#include "libimg/sigstore.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-push [OPTIONS] IMAGE DEST\n"
	"       ckt-push [OPTIONS] IMAGE... docker://HOST[/PREFIX]\n"
	"\n"
	"Send images from the store and print what was pushed, one per line\n"
	"(HOST/NAME@sha256:... for a registry).  IMAGE is a name, a pinned\n"
	"reference or a digest in the store; - reads images from stdin.\n"
	"\n"
	"Destinations (skopeo's names):\n"
	"  docker://HOST/NAME[:TAG]       a registry (default tag: latest)\n"
	"  oci:DIR[:REF]                  an OCI image layout\n"
	"  oci-archive:FILE[:REF]         a tar of an OCI image layout\n"
	"  docker-archive:FILE[:REF]      what `docker load` reads\n"
	"With several images (or -), DEST is docker://HOST[/PREFIX] and each image\n"
	"goes to HOST[/PREFIX]/NAME under its own tag (mirroring); a pinned\n"
	"reference keeps the tag its name has in the store, if any.\n"
	"\n"
	"Options:\n"
	"  --platform OS/ARCH[/VARIANT]  manifest to push from an index (default: this host's)\n"
	"  --all-platforms               push whole indexes\n"
	"  --creds USER[:PASSWORD]       registry credentials (default: auth.json,\n"
	"                                ~/.docker/config.json, credential helpers)\n"
	"  --cert-dir DIR                CA (*.crt) and client certificates for TLS\n"
	"  --tls-verify=false            allow plain http and unverified TLS\n"
	"  --chunk-size BYTES            upload blobs larger than this in chunks\n"
	"                                (K, M, G suffixes; default: one request)\n"
	"  --store DIR                   the store\n"
	"  --json                        one JSON object per image\n"
	"  -q, --quiet                   only errors on stderr\n"
	"  -v, --verbose                 say more\n"
	"  -h, --help                    this text\n"
	"      --version                 the version\n"
	"\n"
	"Exit status: 0 success; 1 failure; 2 usage error; 3 the registry\n"
	"disagrees about a digest.\n";

enum { OPT_PLATFORM = CLI_OPT_FIRST_TOOL, OPT_ALL, OPT_CREDS, OPT_CERT_DIR, OPT_TLS, OPT_CHUNK };

static void progress(void *data, const char *label, uint64_t done, uint64_t total)
{
	char l[32];
	snprintf(l, sizeof(l), "%.19s", label);
	cli_progress(data, l, done, total);
}

static size_t parse_size(struct cli *c, const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10, end++;
	else if (*end == 'M' || *end == 'm')
		shift = 20, end++;
	else if (*end == 'G' || *end == 'g')
		shift = 30, end++;
	if (end == s || *end || v == 0 || v > (1ull << 40) >> shift)
		cli_usage_error(c, "invalid --chunk-size '%s'", s);
	return (size_t)(v << shift);
}

static void report(struct cli *c, const struct img_push_result *r)
{
	if (!c->json) {
		cli_out(c, "%s", r->pushed);
		return;
	}
	json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I}", "reference", r->pushed, "digest",
			      r->digest, "blobs_uploaded", (json_int_t)r->blobs_uploaded,
			      "blobs_mounted", (json_int_t)r->blobs_mounted, "blobs_skipped",
			      (json_int_t)r->blobs_skipped);
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cli_out(c, "%s", s);
	free(s);
	json_decref(j);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "all-platforms", no_argument, NULL, OPT_ALL },
		{ "creds", required_argument, NULL, OPT_CREDS },
		{ "cert-dir", required_argument, NULL, OPT_CERT_DIR },
		{ "tls-verify", optional_argument, NULL, OPT_TLS },
		{ "chunk-size", required_argument, NULL, OPT_CHUNK },
		{ 0 },
	};
	struct cli c;
	struct ckt_err err = CKT_ERR_INIT;
	struct img_registry_opts ro = { .progress = progress };
	struct img_push_opts po = { .registry = &ro };
	struct img_platform plat = IMG_PLATFORM_INIT;
	int opt, status = 0;

	cli_init(&c, "ckt-push", usage, argv);
	ro.progress_data = &c;
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (cli_common_option(&c, opt, optarg))
			continue;
		if (opt == OPT_PLATFORM) {
			img_platform_release(&plat);
			if (img_platform_parse(optarg, &plat, &err) < 0)
				cli_usage_error(&c, "invalid --platform '%s' (%s)", optarg, err.why);
			po.platform = &plat;
		} else if (opt == OPT_ALL) {
			po.flags |= IMG_PUSH_ALL_PLATFORMS;
		} else if (opt == OPT_CREDS) {
			ro.creds = optarg;
		} else if (opt == OPT_CERT_DIR) {
			ro.cert_dir = optarg;
		} else if (opt == OPT_TLS) {
			if (optarg && strcmp(optarg, "true") && strcmp(optarg, "false"))
				cli_usage_error(&c, "--tls-verify takes true or false, not '%s'", optarg);
			ro.insecure = optarg && !strcmp(optarg, "false");
		} else if (opt == OPT_CHUNK) {
			po.chunk_size = parse_size(&c, optarg);
		}
	}
	cli_options_done(&c);
	if (argc - optind < 2)
		cli_usage_error(&c, "need an image and a destination");
	const char *dest = argv[argc - 1];
	size_t n;
	_cleanup_strv_ char **srcs = cli_args(&c, argc - optind - 1, argv + optind, &n);
	if (n == 0)
		cli_usage_error(&c, "no image given");
	bool mirror = n > 1 || !strcmp(argv[optind], "-");
	if (mirror && strncmp(dest, "docker://", 9))
		cli_usage_error(&c, "several images need a docker:// destination");
	if (!c.progress)
		ro.progress = NULL;

	img_push_preload(dest);
	_cleanup_store_ struct store *s = cli_store_open(&c, STORE_READONLY, &err);
	if (!s) {
		img_lazylib_settle();
		return cli_exit(&c, cli_error(&c, &err));
	}
	for (size_t i = 0; i < n; i++) {
		struct img_push_result r;
		_cleanup_free_ char *d = mirror ? img_push_mirror_dest(s, dest, srcs[i], &err)
					       : xstrdup(dest);
		int rc = d ? img_push(s, srcs[i], d, &po, &r, &err) : -1;
		cli_progress_clear(&c);
		if (rc < 0) {
			int code = cli_error(&c, &err);
			if (!status)
				status = code;
			ckt_err_clear(&err);
			continue;
		}
		/* cosign signatures travel with the image (sha256-HEX.sig). */
		bool sent = false;
		if (!strncmp(d, "docker://", 9) &&
		    img_sigstore_push(s, srcs[i], r.digest, d, &ro, &sent, &err) < 0) {
			int code = cli_error(&c, &err);
			if (!status)
				status = code;
			ckt_err_clear(&err);
		} else if (sent) {
			ckt_info("%s: signatures pushed", r.pushed);
		}
		report(&c, &r);
		img_push_result_release(&r);
	}
	img_platform_release(&plat);
	img_lazylib_settle();
	return cli_exit(&c, status);
}
