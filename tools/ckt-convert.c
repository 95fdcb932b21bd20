/* ckt-convert: write images as ACI, OCI layout, OCI archive or docker
 * archive; recompress layers (DESIGN.md "The tools", issue 6). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "libimg/convert.h"
#include "libimg/dest.h"
#include "libimg/fetch.h"
#include "libimg/image.h"
#include "libimg/platform.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-convert [OPTIONS] REF...\n"
	"       ckt-convert --to aci [-o FILE.aci] REF\n"
	"       ckt-convert --to oci:DIR[:REF] | oci-archive:FILE[:REF] | docker-archive:FILE[:REF] REF...\n"
	"       ckt-convert --compress gzip|zstd|none --tag NAME REF\n"
	"\n"
	"Convert images of the store.  REF is an image name, NAME@DIGEST or digest;\n"
	"with --to oci..., also a stored ACI by image ID (sha512-..., a unique prefix\n"
	"is enough) or AC name.\n"
	"\n"
	"  --to aci        write an appc ACI (squashed: rootfs is the applied image)\n"
	"                  with docker2aci's manifest mapping; print its image ID\n"
	"                  (sha512 of the uncompressed tar).  A copy is kept in the\n"
	"                  store, named by that ID.\n"
	"  --to DEST       write an OCI layout, OCI archive or docker archive; print\n"
	"                  the destination\n"
	"  (no --to)       with --compress and --tag: rewrite the layers with another\n"
	"                  compression into the store; print the new pinned reference\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE           ACI file (default: NAME-TAG.aci in the current\n"
	"                              directory, as docker2aci names it)\n"
	"  --no-squash                 one ACI per layer into the directory -o DIR, the\n"
	"                              top one depending on the others (base first)\n"
	"  --compress ALG              ACI: gzip (default), xz, bzip2, none;\n"
	"                              recompression: gzip, zstd, none\n"
	"  --tag NAME                  name of the recompressed image in the store\n"
	"  --platform OS/ARCH[/VAR]    image to take from an index (default: this host's)\n"
	"  --all-platforms             oci:, oci-archive:: copy every image of an index\n"
	"  --store DIR                 the store (default: $CKT_STORE, /var/lib/ckt for\n"
	"                              root, ~/.local/share/ckt otherwise)\n"
	"  --json                      one JSON object per result\n"
	"  -q, --quiet                 only errors on stderr\n"
	"  -v, --verbose               say more\n"
	"  -h, --help                  this text\n"
	"      --version               the version\n"
	"\n"
	"Exit status: 0 success; 1 failure; 2 usage error; 3 content that does not\n"
	"match its digest.\n";

enum { OPT_TO = CLI_OPT_FIRST_TOOL, OPT_COMPRESS, OPT_TAG, OPT_PLATFORM, OPT_ALL, OPT_NO_SQUASH };

struct conv {
	struct cli c;
	const char *to;
	const char *output;
	const char *compress;
	const char *tag;
	bool no_squash;
	struct img_platform plat;
	bool has_plat;
	struct img_dest_opts dopts;
};

static void print_json(struct cli *c, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cli_out(c, "%s", s);
	free(s);
	json_decref(j);
}

/* docker2aci's file name: the repository with '/' → '-', then the tag. */
static char *default_aci_name(const char *ref)
{
	const char *slash = strrchr(ref, '/');
	const char *base = slash ? slash + 1 : ref;
	char *s = xasprintf("%s.aci", base);
	for (char *p = s; *p; p++)
		if (*p == ':' || *p == '@')
			*p = '-';
	return s;
}

static int to_aci(struct conv *cv, struct store *s, const char *ref, struct ckt_err *err)
{
	struct img_convert_aci_opts o = { 0 };
	struct img_convert_aci_result r;
	_cleanup_free_ char *def = NULL;

	if (cv->compress && img_aci_compression_parse(cv->compress, &o.compression, err) < 0)
		return -err->code;
	o.platform = cv->has_plat ? &cv->plat : NULL;
	if (cv->no_squash)
		o.flags |= IMG_CONVERT_NO_SQUASH;
	const char *out = cv->output;
	if (!out && cv->no_squash)
		cli_usage_error(&cv->c, "--no-squash needs -o DIR");
	if (!out)
		out = def = default_aci_name(ref);
	if (img_convert_to_aci(s, ref, out, &o, &r, err) < 0)
		return -err->code;
	ckt_info("%s: %s written", ref, out);
	if (cv->c.json)
		for (size_t i = 0; r.paths && r.paths[i]; i++)
			print_json(&cv->c, json_pack("{s:s, s:s, s:s, s:s}", "reference", ref, "path",
						     r.paths[i], "id", r.ids[i], "name", r.name));
	else
		for (char **id = r.ids; id && *id; id++)
			cli_out(&cv->c, "%s", *id);
	img_convert_aci_result_release(&r);
	return 0;
}

static int to_dest(struct conv *cv, struct store *s, const char *ref, struct ckt_err *err)
{
	_cleanup_free_ char *written = NULL, *rendered = NULL;
	struct store_desc d;
	char id[IMG_ACI_ID_MAX];
	struct ckt_err e2 = CKT_ERR_INIT;
	/* A stored ACI (by image ID or AC name) is rendered to OCI first;
	 * an OCI image of the same name takes precedence. */
	bool oci = img_image_resolve(s, ref, NULL, &d, &e2) == 0;
	if (oci)
		store_desc_release(&d);
	if (oci && strncmp(ref, "sha512-", 7)) {
		/* an OCI image */
	} else if (img_aci_store_find(s, ref, NULL, &d, id, &e2) == 0) {
		store_desc_release(&d);
		if (img_aci_to_oci(s, id, &rendered, err) < 0)
			return -err->code;
	} else if (!strncmp(ref, "sha512-", 7)) {
		*err = e2;
		return -err->code;
	}
	if (img_dest_write(s, rendered ? rendered : ref, cv->to, &cv->dopts, &written, err) < 0)
		return -err->code;
	if (cv->c.json)
		print_json(&cv->c, json_pack("{s:s, s:s}", "reference", ref, "destination", written));
	else
		cli_out(&cv->c, "%s", written);
	return 0;
}

static int recompress(struct conv *cv, struct store *s, const char *ref, struct ckt_err *err)
{
	enum img_layer_compression c;
	_cleanup_free_ char *pinned = NULL;
	if (!strcmp(cv->compress, "gzip"))
		c = IMG_LAYER_GZIP;
	else if (!strcmp(cv->compress, "zstd"))
		c = IMG_LAYER_ZSTD;
	else if (!strcmp(cv->compress, "none"))
		c = IMG_LAYER_NONE;
	else
		return ckt_err_failw(err, CKT_EUSAGE, "use gzip, zstd or none",
				     "unknown layer compression '%s'", cv->compress);
	if (img_recompress(s, ref, c, cv->tag, cv->has_plat ? &cv->plat : NULL, &pinned, err) < 0)
		return -err->code;
	if (cv->c.json)
		print_json(&cv->c, json_pack("{s:s, s:s}", "reference", ref, "pinned", pinned));
	else
		cli_out(&cv->c, "%s", pinned);
	return 0;
}

static void parse_options(struct conv *cv, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "to", required_argument, NULL, OPT_TO },
		{ "output", required_argument, NULL, 'o' },
		{ "compress", required_argument, NULL, OPT_COMPRESS },
		{ "tag", required_argument, NULL, OPT_TAG },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "all-platforms", no_argument, NULL, OPT_ALL },
		{ "no-squash", no_argument, NULL, OPT_NO_SQUASH },
		{ 0 },
	};
	struct ckt_err err = CKT_ERR_INIT;
	int opt;

	cv->c.shortopts = CLI_COMMON_SHORT "o:";
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT "o:", opts, NULL)) != -1) {
		if (cli_common_option(&cv->c, opt, optarg))
			continue;
		switch (opt) {
		case OPT_TO: cv->to = optarg; break;
		case 'o': cv->output = optarg; break;
		case OPT_COMPRESS: cv->compress = optarg; break;
		case OPT_TAG: cv->tag = optarg; break;
		case OPT_ALL: cv->dopts.flags |= IMG_DEST_ALL_PLATFORMS; break;
		case OPT_NO_SQUASH: cv->no_squash = true; break;
		case OPT_PLATFORM:
			img_platform_release(&cv->plat);
			if (img_platform_parse(optarg, &cv->plat, &err) < 0)
				cli_usage_error(&cv->c, "invalid --platform '%s' (%s)", optarg, err.why);
			cv->has_plat = true;
			cv->dopts.platform = &cv->plat;
			break;
		}
	}
	cli_options_done(&cv->c);
	if (!cv->to && !(cv->compress && cv->tag))
		cli_usage_error(&cv->c, "say what to write: --to, or --compress with --tag");
	if (cv->to && strcmp(cv->to, "aci") && !img_dest_is_known(cv->to))
		cli_usage_error(&cv->c, "unknown destination '%s'", cv->to);
	if ((cv->output || cv->no_squash) && (!cv->to || strcmp(cv->to, "aci")))
		cli_usage_error(&cv->c, "-o and --no-squash go with --to aci");
	if (cv->tag && cv->to)
		cli_usage_error(&cv->c, "--tag goes with recompression (no --to)");
}

int main(int argc, char **argv)
{
	struct conv cv = { .plat = IMG_PLATFORM_INIT };
	struct ckt_err err = CKT_ERR_INIT;
	int status = 0;

	cli_init(&cv.c, "ckt-convert", usage, argv);
	parse_options(&cv, argc, argv);
	size_t n;
	_cleanup_strv_ char **refs = cli_args(&cv.c, argc - optind, argv + optind, &n);
	if (n == 0)
		cli_usage_error(&cv.c, "no image given");
	if ((cv.output || cv.tag || (cv.to && strncmp(cv.to, "oci:", 4))) && n > 1)
		cli_usage_error(&cv.c, "this output takes exactly one image");

	_cleanup_store_ struct store *s = cli_store_open(&cv.c, 0, &err);
	if (!s)
		return cli_exit(&cv.c, cli_error(&cv.c, &err));
	for (size_t i = 0; i < n; i++) {
		int r;
		ckt_err_clear(&err);
		if (cv.to && !strcmp(cv.to, "aci"))
			r = to_aci(&cv, s, refs[i], &err);
		else if (cv.to)
			r = to_dest(&cv, s, refs[i], &err);
		else
			r = recompress(&cv, s, refs[i], &err);
		if (r < 0 && !status)
			status = cli_error(&cv.c, &err);
		else if (r < 0)
			cli_error(&cv.c, &err);
	}
	img_platform_release(&cv.plat);
	return cli_exit(&cv.c, status);
}
