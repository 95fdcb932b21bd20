/* ckt-exec-prepare: make an image ready for ckt-exec — fetch it as --pull
 * says, check it against the trust policy, build its snapshot, and record
 * what ckt-exec needs (libimg/launch/prepared.h).  ckt-exec runs this only
 * when its record is missing or stale, or a policy check is due, so that
 * ckt-exec itself stays free of the fetch, unpack and signature libraries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "libimg/convert.h"
#include "libimg/fetch.h"
#include "libimg/image.h"
#include "libimg/json.h"
#include "libimg/launch/prepared.h"
#include "libimg/policy.h"
#include "libimg/unpack.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-exec-prepare [OPTIONS] REF\n"
	"\n"
	"Make the image REF ready for ckt-exec: fetch it (--pull), check it against the\n"
	"trust policy, build its snapshot in the store, and record its start-up\n"
	"details in $STORE/exec-cache.  Prints the record's path.  ckt-exec runs this\n"
	"itself; REF is as for ckt-exec (`-` reads it from stdin).\n"
	"\n"
	"  --pull missing|always|never  fetch REF first (default: missing)\n"
	"  --platform OS/ARCH[/VARIANT] image of an index (default: this host's)\n"
	CLI_VERIFY_USAGE
	"  --store DIR   the store (default: $CKT_STORE, /var/lib/ckt for root,\n"
	"                ~/.local/share/ckt otherwise)\n"
	"  -q, --quiet, -v, --verbose, -h, --help, --version\n"
	"\n"
	"Exit status: 0 ready; 1 failure (not found, fetch or unpack failed); 2 usage\n"
	"error; 3 the trust policy does not accept the image.\n";

enum { OPT_PULL = CLI_OPT_FIRST_TOOL, OPT_PLATFORM };
enum pull { PULL_MISSING, PULL_ALWAYS, PULL_NEVER };

/* Find ref in the store, fetching it first as pull says.  A source with a
 * transport other than docker:// is always read from (it is local). */
static int load_image(struct store *st, enum pull pull, const char *ref,
		      const struct img_platform *plat, struct img_image *img, struct ckt_err *err)
{
	bool local = !strncmp(ref, "oci:", 4) || !strncmp(ref, "oci-archive:", 12) ||
		     !strncmp(ref, "docker-archive:", 15) || !strncmp(ref, "aci:", 4);
	const char *name = !strncmp(ref, "docker://", 9) ? ref + 9 : ref;
	struct img_fetch_opts fo = { .platform = plat };
	struct img_fetch_result res = { 0 };

	if (!local && pull != PULL_ALWAYS) {
		if (img_image_load(st, name, plat, img, err) == 0 || err->code != CKT_ENOTFOUND ||
		    pull == PULL_NEVER)
			return err->code ? -1 : 0;
		ckt_err_clear(err);
	}
	if (img_fetch(st, ref, &fo, &res, err) < 0)
		return ckt_err_wrap(err, "pull '%s'", ref);
	int ret = img_image_load(st, res.name ? res.name : res.digest, plat, img, err);
	img_fetch_result_release(&res);
	return ret;
}

/* An image rendered from an ACI (its manifest's io.appc.image.id names the
 * stored ACI, convert.h) runs by the appc manifest: *json receives it, or
 * NULL for other images. */
static int appc_manifest(struct store *st, const struct img_image *img, char **json,
			 struct ckt_err *err)
{
	struct store_desc desc = { 0 };
	char id[IMG_ACI_ID_MAX];
	_cleanup_free_ char *wrapper = NULL;
	size_t len;
	_cleanup_json_ json_t *m = json_loads(img->manifest_json, 0, NULL);
	const char *want = json_string_value(
		json_object_get(json_object_get(m, "annotations"), IMG_ANNOT_ACI_ID));

	*json = NULL;
	if (!want)
		return 0;
	if (img_aci_store_find(st, want, NULL, &desc, id, err) < 0)
		return ckt_err_wrap(err, "the ACI %s this image was rendered from", want);
	int ret = store_blob_read(st, desc.digest, IMG_MANIFEST_MAX, &wrapper, &len, err);
	store_desc_release(&desc);
	if (ret < 0)
		return ckt_err_wrap(err, "stored ACI %s", id);
	_cleanup_json_ json_t *w = img_json_parse(wrapper, len, "stored ACI", err);
	json_t *cfg = w ? json_object_get(w, "config") : NULL;
	const char *dg = json_string_value(json_object_get(cfg, "digest"));
	if (!w)
		return -1;
	if (!dg || !store_digest_valid(dg))
		return ckt_err_fail(err, CKT_EFORMAT, "stored ACI %s has no manifest", id);
	if (store_blob_read(st, dg, IMG_MANIFEST_MAX, json, &len, err) < 0)
		return ckt_err_wrap(err, "stored ACI %s", id);
	return 0;
}

static int prepare(struct cli *c, enum pull pull, const char *platform,
		   const struct img_policy_opts *po, const char *ref, struct ckt_err *err)
{
	struct img_platform plat = IMG_PLATFORM_INIT;
	struct img_image img = { 0 };
	_cleanup_free_ char *key = NULL, *path = NULL;
	char stamp[128];
	int ret = -1;

	if (platform && img_platform_parse(platform, &plat, err) < 0) {
		err->code = CKT_EUSAGE;
		return ckt_err_wrap(err, "--platform");
	}
	_cleanup_store_ struct store *st = cli_store_open(c, 0, err);
	if (!st || load_image(st, pull, ref, platform ? &plat : NULL, &img, err) < 0)
		goto out;
	/* One call decides whether the image may run (DESIGN.md, "secure by
	 * default"); the signatures issue owns what it checks. */
	if (img_policy_check_run(st, &img, po, err) < 0)
		goto out;
	struct launch_prepared p = { 0 };
	if (img_unpack_snapshot(st, &img, 0, &p.snapshot, err) < 0)
		goto out;
	/* The stamp is taken after the fetch: the record is for the index.json
	 * that now names the image. */
	if (!launch_prepared_stamp(store_root(st), stamp, sizeof(stamp))) {
		free(p.snapshot);
		ckt_err_sys(err, CKT_EIO, "stat the store's index.json");
		goto out;
	}
	key = launch_prepared_key(ref, platform, geteuid() != 0);
	path = launch_prepared_path(store_root(st), key);
	p.key = key;
	p.stamp = stamp;
	p.image = img.name ? img.name : img.desc.digest;
	p.user = img.config.user ? img.config.user : (char *)"";
	p.workdir = img.config.workdir ? img.config.workdir : (char *)"";
	p.entrypoint = img.config.entrypoint;
	p.cmd = img.config.cmd;
	p.env = img.config.env;
	if (appc_manifest(st, &img, &p.appc, err) < 0) {
		free(p.snapshot);
		goto out;
	}
	ret = launch_prepared_write(path, &p, err);
	free(p.snapshot);
	free(p.appc);
	if (ret == 0)
		cli_out(c, "%s", path);
out:
	img_image_release(&img);
	img_platform_release(&plat);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		CLI_VERIFY_OPTIONS,
		{ "pull", required_argument, NULL, OPT_PULL },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ 0 },
	};
	struct cli c;
	struct img_policy_opts po = { 0 };
	struct ckt_err err = CKT_ERR_INIT;
	enum pull pull = PULL_MISSING;
	const char *platform = NULL;
	int opt;

	/* Run by ckt-exec as "ckt-exec": its messages are ckt-exec's own. */
	cli_init(&c, strcmp(ckt_path_base(argv[0]), "ckt-exec") ? "ckt-exec-prepare" : "ckt-exec",
		 usage, argv);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (opt == OPT_PULL) {
			if (!strcmp(optarg, "missing"))
				pull = PULL_MISSING;
			else if (!strcmp(optarg, "always"))
				pull = PULL_ALWAYS;
			else if (!strcmp(optarg, "never"))
				pull = PULL_NEVER;
			else
				cli_usage_error(&c, "invalid --pull '%s' (missing, always or never)",
						optarg);
		} else if (opt == OPT_PLATFORM) {
			platform = optarg;
		} else if (!cli_verify_option(&c, &po, opt, optarg)) {
			cli_common_option(&c, opt, optarg);
		}
	}
	cli_options_done(&c);
	size_t n;
	_cleanup_strv_ char **refs = cli_args(&c, argc - optind, argv + optind, &n);
	if (n != 1)
		cli_usage_error(&c, "give exactly one image (got %zu)", n);
	if (prepare(&c, pull, platform, &po, refs[0], &err) < 0)
		return cli_exit(&c, cli_error(&c, &err));
	return cli_exit(&c, 0);
}
