/* ckt-image: list, inspect, tag, rm, gc and fsck the store. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "libimg/image.h"
#include "libimg/manifest.h"
#include "libimg/ref.h"
#include "libimg/unpack.h"
#include "store/tree.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-image [OPTIONS] list\n"
	"       ckt-image [OPTIONS] inspect REF\n"
	"       ckt-image [OPTIONS] tag SRC DST\n"
	"       ckt-image [OPTIONS] rm REF...\n"
	"       ckt-image [OPTIONS] gc\n"
	"       ckt-image [OPTIONS] fsck\n"
	"\n"
	"Manage the store.  REF is a name (alpine means docker.io/library/alpine:latest),\n"
	"a pinned NAME@sha256:..., or a digest; `-` reads REFs from stdin.\n"
	"\n"
	"  list     images: a table on a terminal, one name per line when piped,\n"
	"           pinned references with -q\n"
	"  inspect  the manifest, config and platform of an image (JSON)\n"
	"  tag      give the image SRC a further name DST\n"
	"  rm       remove names; their blobs go at the next gc\n"
	"  gc       remove blobs no name reaches, tree snapshots no name uses, and\n"
	"           temporary files\n"
	"  fsck     re-hash every blob, check every name and every tree snapshot\n"
	"           against its manifest; print each problem\n"
	"\n"
	"Options:\n"
	"  --platform OS/ARCH[/VARIANT]  image of an index to inspect (default: this host's)\n"
	"  --store DIR   the store (default: $CKT_STORE, /var/lib/ckt for root,\n"
	"                ~/.local/share/ckt otherwise)\n"
	"  --json        JSON objects, one per line\n"
	"  -q, --quiet   list: pinned references only; otherwise only errors\n"
	"  -v, --verbose say more\n"
	"  -h, --help, --version\n"
	"\n"
	"Exit status: 0 success; 1 failure (fsck: problems found); 2 usage error;\n"
	"3 content that does not match its digest.\n";

enum { OPT_PLATFORM = CLI_OPT_FIRST_TOOL };

static void print_json(struct cli *c, json_t *j, bool pretty)
{
	char *s = json_dumps(j, pretty ? JSON_INDENT(2) | JSON_PRESERVE_ORDER
				       : JSON_COMPACT | JSON_PRESERVE_ORDER);
	cli_out(c, "%s", s);
	free(s);
	json_decref(j);
}

/* "docker.io/library/alpine:3.19" -> "docker.io/library/alpine@<digest>";
 * a name that is not a docker reference keeps its text. */
static char *pinned_of(const struct store_ref *r)
{
	struct img_ref ref;
	struct ckt_err err = CKT_ERR_INIT;
	if (!r->name || img_ref_parse(r->name, &ref, &err) < 0)
		return xasprintf("%s@%s", r->name ? r->name : "", r->desc.digest);
	char *p = img_ref_pinned(&ref, r->desc.digest);
	img_ref_release(&ref);
	return p;
}

static int cmd_list(struct cli *c, struct store *s, struct ckt_err *err)
{
	struct store_ref *refs;
	size_t n;
	bool table = !c->json && !c->quiet && isatty(STDOUT_FILENO);

	if (store_ref_list(s, &refs, &n, err) < 0)
		return -1;
	if (table)
		printf("%-60s %-19s %s\n", "NAME", "DIGEST", "TYPE");
	for (size_t i = 0; i < n; i++) {
		const struct store_ref *r = &refs[i];
		_cleanup_free_ char *pinned = pinned_of(r);
		const char *type = img_media_type_kind(r->desc.media_type) == IMG_KIND_INDEX ? "index"
											     : "image";
		if (c->json)
			print_json(c, json_pack("{s:s?, s:s, s:s, s:s?, s:I}", "name", r->name,
						"reference", pinned, "digest", r->desc.digest,
						"media_type", r->desc.media_type, "size",
						(json_int_t)r->desc.size),
				   false);
		else if (c->quiet)
			cli_out(c, "%s", pinned);
		else if (table)
			cli_out(c, "%-60s %.19s %s", r->name ? r->name : "<none>", r->desc.digest, type);
		else
			cli_out(c, "%s", r->name ? r->name : r->desc.digest);
	}
	store_refs_free(refs, n);
	return 0;
}

static json_t *load_json(const char *data, size_t len)
{
	return json_loadb(data, len, 0, NULL);
}

static int cmd_inspect(struct cli *c, struct store *s, const char *ref,
		       const struct img_platform *plat, struct ckt_err *err)
{
	struct img_image img;
	if (img_image_load(s, ref, plat, &img, err) < 0)
		return -1;
	_cleanup_free_ char *platform = img_platform_string(&img.config.platform);
	json_t *j = json_pack("{s:s?, s:s, s:s, s:s?, s:s, s:o, s:o}", "name", img.name, "digest",
			      img.top.digest, "manifest_digest", img.desc.digest, "media_type",
			      img.desc.media_type, "platform", platform, "manifest",
			      load_json(img.manifest_json, img.manifest_len), "config",
			      load_json(img.config_json, img.config_len));
	if (img.index_json)
		json_object_set_new(j, "index", load_json(img.index_json, img.index_len));
	print_json(c, j, !c->json);
	img_image_release(&img);
	return 0;
}

static int cmd_tag(struct cli *c, struct store *s, const char *src, const char *dst,
		   struct ckt_err *err)
{
	struct store_desc d;
	struct img_ref r;

	if (img_ref_parse(dst, &r, err) < 0)
		return -1;
	_cleanup_free_ char *name = img_ref_string(&r);
	img_ref_release(&r);
	if (strchr(name, '@')) {
		ckt_err_fail(err, CKT_EUSAGE, "tag '%s': a name cannot carry a digest", dst);
		return -1;
	}
	if (img_image_resolve(s, src, NULL, &d, err) < 0)
		return -1;
	int ret = store_ref_set(s, name, &d, err);
	if (ret == 0)
		cli_out(c, "%s", name);
	store_desc_release(&d);
	return ret;
}

static int cmd_rm(struct cli *c, struct store *s, char **refs, size_t n, struct ckt_err *err)
{
	int status = 0;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *name = NULL;
		struct store_desc d = { 0 };
		ckt_err_clear(err);
		bool failed = img_image_resolve(s, refs[i], &name, &d, err) < 0 ||
			      (!name && ckt_err_fail(err, CKT_EUSAGE, "'%s' is not a name; remove "
						     "names, gc removes blobs", refs[i])) ||
			      store_ref_remove(s, name, err) < 0;
		store_desc_release(&d);
		if (failed) {
			int code = cli_error(c, err); /* every failure is named */
			if (!status)
				status = code;
			continue;
		}
		cli_out(c, "%s", name);
	}
	return status;
}

static int cmd_gc(struct cli *c, struct ckt_err *err)
{
	struct store_gc_stats st = { 0 };
	char b[32];
	size_t trees = 0;
	_cleanup_strv_ char **live = NULL;
	_cleanup_store_ struct store *s = cli_store_open(c, STORE_EXCLUSIVE, err);
	/* tree snapshots no ref's image uses go too (issue 4) */
	if (!s || store_gc(s, img_store_walk, NULL, &st, err) < 0 ||
	    img_unpack_live_trees(s, &live, err) < 0 || store_tree_gc(s, live, &trees, err) < 0)
		return -1;
	if (c->json)
		print_json(c, json_pack("{s:I, s:I, s:I, s:I, s:I}", "blobs_removed",
					(json_int_t)st.blobs_removed, "bytes_removed",
					(json_int_t)st.bytes_removed, "blobs_kept",
					(json_int_t)st.blobs_kept, "tmp_removed",
					(json_int_t)st.tmp_removed, "trees_removed", (json_int_t)trees),
			   false);
	else if (!c->quiet && !trees)
		cli_out(c, "removed %zu blobs (%s), kept %zu", st.blobs_removed,
			cli_bytes(st.bytes_removed, b, sizeof(b)), st.blobs_kept);
	else if (!c->quiet)
		cli_out(c, "removed %zu blobs (%s), kept %zu; removed %zu tree snapshot%s",
			st.blobs_removed, cli_bytes(st.bytes_removed, b, sizeof(b)),
			st.blobs_kept, trees, trees == 1 ? "" : "s");
	return 0;
}

static void fsck_report(const char *problem, void *data)
{
	struct cli *c = data;
	if (c->json)
		print_json(c, json_pack("{s:s}", "problem", problem), false);
	else
		cli_out(c, "%s", problem);
}

static int cmd_fsck(struct cli *c, struct store *s, struct ckt_err *err)
{
	size_t problems = 0;
	size_t tree_problems = 0;
	if (store_fsck(s, img_store_walk, NULL, fsck_report, c, &problems, err) < 0 ||
	    img_tree_check(s, fsck_report, c, &tree_problems, err) < 0)
		return -1;
	problems += tree_problems;
	if (problems) {
		ckt_err_fail(err, CKT_EIO, "the store has %zu problem%s", problems,
			     problems == 1 ? "" : "s");
		return -1;
	}
	return 0;
}

static int run(struct cli *c, const char *cmd, char **args, size_t n,
	       const struct img_platform *plat, struct ckt_err *err)
{
	static const struct {
		const char *name;
		size_t min, max;
	} cmds[] = { { "list", 0, 0 }, { "inspect", 1, 1 }, { "tag", 2, 2 },
		     { "rm", 1, (size_t)-1 }, { "gc", 0, 0 }, { "fsck", 0, 0 } };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(cmd, cmds[i].name))
			break;
	if (i == ARRAY_SIZE(cmds))
		cli_usage_error(c, "unknown command '%s'", cmd);
	if (n < cmds[i].min || n > cmds[i].max)
		cli_usage_error(c, "'%s' takes %s", cmd,
				cmds[i].max == 0 ? "no arguments" :
				cmds[i].min == 2 ? "two arguments" :
				cmds[i].max == 1 ? "one argument" : "at least one argument");
	if (!strcmp(cmd, "gc"))
		return cmd_gc(c, err);

	_cleanup_store_ struct store *s = cli_store_open(c, 0, err);
	if (!s)
		return -1;
	if (!strcmp(cmd, "list"))
		return cmd_list(c, s, err);
	if (!strcmp(cmd, "inspect"))
		return cmd_inspect(c, s, args[0], plat, err);
	if (!strcmp(cmd, "tag"))
		return cmd_tag(c, s, args[0], args[1], err);
	if (!strcmp(cmd, "rm"))
		return cmd_rm(c, s, args, n, err); /* the first failure's exit code */
	return cmd_fsck(c, s, err);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ 0 },
	};
	struct cli c;
	struct ckt_err err = CKT_ERR_INIT;
	struct img_platform plat = IMG_PLATFORM_INIT;
	bool have_plat = false;
	int opt;

	cli_init(&c, "ckt-image", usage, argv);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (cli_common_option(&c, opt, optarg))
			continue;
		if (opt == OPT_PLATFORM) {
			img_platform_release(&plat);
			if (img_platform_parse(optarg, &plat, &err) < 0)
				cli_usage_error(&c, "invalid --platform '%s' (%s)", optarg, err.why);
			have_plat = true;
		}
	}
	cli_options_done(&c);
	if (optind >= argc)
		cli_usage_error(&c, "no command given");
	size_t n;
	_cleanup_strv_ char **args = cli_args(&c, argc - optind - 1, argv + optind + 1, &n);
	int r = run(&c, argv[optind], args, n, have_plat ? &plat : NULL, &err);
	img_platform_release(&plat);
	if (r < 0)
		return cli_exit(&c, cli_error(&c, &err));
	return cli_exit(&c, r);
}
