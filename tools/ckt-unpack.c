/* ckt-unpack: apply an image's layers to a root filesystem (issue 4). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "libimg/fetch.h"
#include "libimg/image.h"
#include "libimg/platform.h"
#include "libimg/unpack.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-unpack [OPTIONS] REF DIR\n"
	"\n"
	"Write the root filesystem of image REF into DIR (which must not exist or be\n"
	"empty) and print DIR.  The layers are applied once into a snapshot in the\n"
	"store ($STORE/trees/), which later unpacks and ckt-exec reuse; DIR is an\n"
	"independent copy that shares no inode with the store.\n"
	"\n"
	"REF is a name in the store (see ckt-image list) or a source ckt-fetch takes\n"
	"(oci:DIR:TAG, docker://NAME, ...), fetched first when it is not in the store.\n"
	"\n"
	"Options:\n"
	"  --bundle                 write an OCI runtime bundle: DIR/config.json and\n"
	"                           DIR/rootfs (crun run --bundle DIR, runc run -b DIR)\n"
	"  --rootless               files owned by the caller, the image's owners kept in\n"
	"                           the user.rootlesscontainers xattr (default when not\n"
	"                           root); with --bundle, a rootless runtime config\n"
	"  --no-snapshot            apply the layers straight into DIR; no tree in the store\n"
	"  --platform OS/ARCH[/VARIANT]  image to take from an index (default: this host's)\n"
	"  --store DIR              the store (default: $CKT_STORE, /var/lib/ckt for root,\n"
	"                           ~/.local/share/ckt otherwise)\n"
	"  --json                   print {\"dir\":...,\"image\":...} instead of DIR\n"
	"  -q, --quiet              only errors on stderr\n"
	"  -v, --verbose            say more\n"
	"  -h, --help               this text\n"
	"      --version            the version\n"
	"\n"
	"Exit status: 0 success; 1 failure (including a hostile layer, refused with\n"
	"the entry named); 2 usage error; 3 a layer that does not match its digest.\n";

enum { OPT_BUNDLE = CLI_OPT_FIRST_TOOL, OPT_ROOTLESS, OPT_NO_SNAPSHOT, OPT_PLATFORM };

/* Load ref from the store, fetching it first when it names a source. */
static int load(struct cli *c, struct store *s, const char *ref, const struct img_platform *plat,
		struct img_image *img, struct ckt_err *err)
{
	if (img_image_load(s, ref, plat, img, err) == 0)
		return 0;
	if (err->code != CKT_ENOTFOUND || !strchr(ref, ':'))
		return -1;
	struct ckt_err ferr = CKT_ERR_INIT;
	struct img_fetch_opts fo = { .platform = plat };
	struct img_fetch_result r;
	if (img_fetch(s, ref, &fo, &r, &ferr) < 0) {
		if (ferr.code == CKT_EUSAGE)
			return -1;	/* not a source: report "not found" */
		*err = ferr;
		return -1;
	}
	ckt_info("fetched %s", r.pinned);
	ckt_err_clear(err);
	int ret = img_image_load(s, r.pinned, plat, img, err);
	img_fetch_result_release(&r);
	(void)c;
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "bundle", no_argument, NULL, OPT_BUNDLE },
		{ "rootless", no_argument, NULL, OPT_ROOTLESS },
		{ "no-snapshot", no_argument, NULL, OPT_NO_SNAPSHOT },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ 0 },
	};
	struct cli c;
	struct ckt_err err = CKT_ERR_INIT;
	struct img_platform plat = IMG_PLATFORM_INIT;
	const struct img_platform *platp = NULL;
	unsigned flags = 0;
	int opt;

	cli_init(&c, "ckt-unpack", usage, argv);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (cli_common_option(&c, opt, optarg))
			continue;
		if (opt == OPT_BUNDLE) {
			flags |= IMG_UNPACK_BUNDLE;
		} else if (opt == OPT_ROOTLESS) {
			flags |= IMG_UNPACK_ROOTLESS;
		} else if (opt == OPT_NO_SNAPSHOT) {
			flags |= IMG_UNPACK_NO_SNAPSHOT;
		} else if (opt == OPT_PLATFORM) {
			img_platform_release(&plat);
			if (img_platform_parse(optarg, &plat, &err) < 0)
				cli_usage_error(&c, "invalid --platform '%s' (%s)", optarg, err.why);
			platp = &plat;
		}
	}
	cli_options_done(&c);
	size_t n;
	_cleanup_strv_ char **args = cli_args(&c, argc - optind, argv + optind, &n);
	if (n != 2)
		cli_usage_error(&c, "expected REF and DIR, got %zu argument%s", n, n == 1 ? "" : "s");

	_cleanup_store_ struct store *s = cli_store_open(&c, 0, &err);
	if (!s)
		return cli_exit(&c, cli_error(&c, &err));
	struct img_image img = { 0 };
	if (load(&c, s, args[0], platp, &img, &err) < 0 ||
	    img_unpack_dir(s, &img, args[1], flags, &err) < 0) {
		img_image_release(&img);
		img_platform_release(&plat);
		return cli_exit(&c, cli_error(&c, &err));
	}
	if (c.json) {
		json_t *j = json_pack("{s:s,s:s,s:b}", "dir", args[1], "image", img.desc.digest,
				      "bundle", (flags & IMG_UNPACK_BUNDLE) != 0);
		char *out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		cli_out(&c, "%s", out);
		free(out);
		json_decref(j);
	} else {
		cli_out(&c, "%s", args[1]);
	}
	img_image_release(&img);
	img_platform_release(&plat);
	return cli_exit(&c, 0);
}
