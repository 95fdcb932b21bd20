/* ckt-sign: sign images (containers simple signing, cosign-style) and ACIs. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "keys/pgp.h"
#include "libimg/image.h"
#include "libimg/lookaside.h"
#include "libimg/ref.h"
#include "libimg/sign.h"
#include "libimg/sigstore.h"
#include "tools/cli.h"

static const char usage[] =
	"Usage: ckt-sign [OPTIONS] --sign-by FINGERPRINT REF...\n"
	"       ckt-sign [OPTIONS] --sign-by-sigstore-private-key KEYFILE REF...\n"
	"       ckt-sign [OPTIONS] --format aci --sign-by FINGERPRINT FILE.aci...\n"
	"       ckt-sign [OPTIONS] --generate-key NAME\n"
	"\n"
	"Sign images of the store.  A simple signing signature (containers/image, GPG)\n"
	"or a cosign-style signature (ECDSA P-256) names the image's manifest digest\n"
	"and its reference; it is kept in the store beside the image, and simple\n"
	"signing signatures are also written to a lookaside directory when one is\n"
	"given or configured.  --format aci writes FILE.aci.asc, an armored detached\n"
	"OpenPGP signature over the file as it is.  --generate-key writes NAME.pub\n"
	"and NAME.key (cosign's encrypted format, password from $COSIGN_PASSWORD).\n"
	"\n"
	"Options:\n"
	"  --sign-by FPR                    GPG key (fingerprint or id) in $GNUPGHOME\n"
	"  --sign-by-sigstore-private-key F cosign-style private key file\n"
	"  --sign-identity REF              reference written into the signature\n"
	"                                   (default: the image's name)\n"
	"  --sign-to-dir DIR                also write to this lookaside directory\n"
	"  --registries.d DIR               registries.d for lookaside-staging (default:\n"
	"                                   /etc/containers/registries.d)\n"
	"  --passphrase-file FILE           passphrase of the GPG or sigstore key\n"
	"  --format simple|sigstore|aci     what to make (default: from the key option)\n"
	"  --output FILE                    aci: where to write (default: FILE.aci.asc)\n"
	"  --generate-key NAME              write a new sigstore key pair\n"
	"  --store DIR, --json, -q, -v, -h, --version\n"
	"\n"
	"Output: where each signature went, one per line (a store ref as\n"
	"store:NAME:sha256-HEX.simplesig or .sig, a lookaside file, an .asc file).\n"
	"\n"
	"Exit status: 0 success; 1 failure; 2 usage error; 3 wrong passphrase.\n";

enum { OPT_SIGN_BY = CLI_OPT_FIRST_TOOL, OPT_SIGSTORE_KEY, OPT_IDENTITY, OPT_TO_DIR,
       OPT_REGD, OPT_PASSFILE, OPT_FORMAT, OPT_OUTPUT, OPT_GENKEY };

enum fmt { FMT_NONE, FMT_SIMPLE, FMT_SIGSTORE, FMT_ACI };

struct opts {
	enum fmt fmt;
	const char *sign_by, *sigstore_key, *identity, *to_dir, *regd, *output, *genkey;
	char *passphrase;
	char *key_pem;
	size_t key_len;
};

static void out(struct cli *c, const char *kind, const char *ref, const char *where)
{
	if (!c->json) {
		cli_out(c, "%s", where);
		return;
	}
	json_t *j = json_pack("{s:s, s:s?, s:s}", "kind", kind, "reference", ref, "location",
			      where);
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cli_out(c, "%s", s);
	free(s);
	json_decref(j);
}

/* The lookaside copy of a simple signature: --sign-to-dir, else registries.d. */
static int to_lookaside(struct cli *c, const struct opts *o, const char *identity,
			const char *digest, const char *sig, size_t slen, struct ckt_err *err)
{
	_cleanup_lookaside_ struct img_lookaside *la = NULL;
	_cleanup_free_ char *path = NULL;
	const char *base = o->to_dir;
	if (!base) {
		if (!(la = img_lookaside_load(o->regd, err)))
			return -err->code;
		base = img_lookaside_base(la, identity, true);
	}
	if (!base)
		return 0;
	if (img_lookaside_write(base, identity, digest, sig, slen, &path, err) < 0)
		return -err->code;
	out(c, "simple", identity, path);
	return 0;
}

static int sign_loaded(struct cli *c, struct store *s, const struct opts *o,
		       const struct img_image *img, const char *ident, struct ckt_err *err)
{
	struct img_ref ir = IMG_REF_INIT;
	if (img_ref_parse(ident, &ir, err) < 0)
		return ckt_err_wrap(err, "identity '%s'", ident);
	_cleanup_free_ char *identity = img_ref_string(&ir);
	/* Signatures hang off the name the image is known by in the store. */
	_cleanup_free_ char *repo = NULL;
	if (img->name) {
		struct img_ref nr = IMG_REF_INIT;
		struct ckt_err perr = CKT_ERR_INIT;
		repo = img_ref_parse(img->name, &nr, &perr) == 0 ? img_ref_name(&nr) : NULL;
		img_ref_release(&nr);
	}
	if (!repo)
		repo = img_ref_name(&ir);
	img_ref_release(&ir);
	bool sigstore = o->fmt == FMT_SIGSTORE;
	size_t plen, slen = 0;
	_cleanup_free_ char *payload = img_sig_payload_build(
		identity, img->top.digest, sigstore ? IMG_SIG_TYPE_COSIGN : IMG_SIG_TYPE_SIMPLE,
		"ckt " CKT_VERSION, (int64_t)time(NULL), &plen);
	_cleanup_free_ char *sig = NULL;
	struct img_sig one = { sigstore ? IMG_SIG_COSIGN : IMG_SIG_SIMPLE, NULL, 0, NULL, NULL };
	if (sigstore) {
		if (img_sigstore_sign(o->key_pem, o->key_len, o->passphrase ? o->passphrase : "",
				      payload, plen, &sig, err) < 0)
			return -err->code;
		one.data = payload;
		one.len = plen;
		one.cosign_sig = sig;
	} else {
		if (keys_pgp_sign(NULL, o->sign_by, o->passphrase, KEYS_PGP_SIGN_MESSAGE, payload,
				  plen, -1, &sig, &slen, err) < 0)
			return -err->code;
		one.data = sig;
		one.len = slen;
	}
	if (img_sig_store_add(s, repo, img->top.digest, &one, err) < 0)
		return -err->code;
	_cleanup_free_ char *refname = img_sig_ref_name(repo, img->top.digest, one.kind);
	_cleanup_free_ char *where = xasprintf("store:%s", refname);
	out(c, sigstore ? "sigstore" : "simple", identity, where);
	if (!sigstore && to_lookaside(c, o, identity, img->top.digest, sig, slen, err) < 0)
		return -err->code;
	return 0;
}

static int sign_image(struct cli *c, struct store *s, const struct opts *o, const char *arg,
		      struct ckt_err *err)
{
	struct img_image img;
	int r;
	if (img_image_load(s, arg, NULL, &img, err) < 0)
		return -err->code;
	const char *ident = o->identity ? o->identity : img.name;
	if (!ident)
		r = ckt_err_failw(err, CKT_EUSAGE, "give --sign-identity",
				  "image '%s' has no name to sign", arg);
	else
		r = sign_loaded(c, s, o, &img, ident, err);
	img_image_release(&img);
	return r < 0 ? ckt_err_wrap(err, "sign '%s'", arg) : 0;
}

static int sign_aci(struct cli *c, const struct opts *o, const char *file, struct ckt_err *err)
{
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *sig = NULL;
	size_t slen;
	if (fd < 0)
		return ckt_err_sys(err, errno == ENOENT ? CKT_ENOTFOUND : CKT_EIO, "open '%s'", file);
	if (keys_pgp_sign(NULL, o->sign_by, o->passphrase, KEYS_PGP_SIGN_DETACHED_ARMOR, NULL, 0,
			  fd, &sig, &slen, err) < 0)
		return ckt_err_wrap(err, "sign '%s'", file);
	_cleanup_free_ char *path = o->output ? xstrdup(o->output) : xasprintf("%s.asc", file);
	if (ckt_write_file_atomic(path, sig, slen, 0644, err) < 0)
		return -err->code;
	out(c, "aci", NULL, path);
	return 0;
}

static int generate(struct cli *c, const struct opts *o, struct ckt_err *err)
{
	_cleanup_free_ char *pub = NULL, *key = NULL;
	_cleanup_free_ char *pub_path = xasprintf("%s.pub", o->genkey);
	_cleanup_free_ char *key_path = xasprintf("%s.key", o->genkey);
	if (access(key_path, F_OK) == 0)
		return ckt_err_failw(err, CKT_EUSAGE, "remove it first", "'%s' exists", key_path);
	if (img_sigstore_generate(o->passphrase ? o->passphrase : "", &pub, &key, err) < 0 ||
	    ckt_write_file_atomic(key_path, key, strlen(key), 0600, err) < 0 ||
	    ckt_write_file_atomic(pub_path, pub, strlen(pub), 0644, err) < 0)
		return -err->code;
	out(c, "key", NULL, key_path);
	out(c, "key", NULL, pub_path);
	return 0;
}

static void parse_opts(struct cli *c, struct opts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_COMMON_OPTIONS,
		{ "sign-by", required_argument, NULL, OPT_SIGN_BY },
		{ "sign-by-sigstore-private-key", required_argument, NULL, OPT_SIGSTORE_KEY },
		{ "sign-identity", required_argument, NULL, OPT_IDENTITY },
		{ "sign-to-dir", required_argument, NULL, OPT_TO_DIR },
		{ "registries.d", required_argument, NULL, OPT_REGD },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ "sign-passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "generate-key", required_argument, NULL, OPT_GENKEY },
		{ 0 },
	};
	const char *passfile = NULL;
	struct ckt_err err = CKT_ERR_INIT;
	int opt;
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, lopts, NULL)) != -1) {
		if (cli_common_option(c, opt, optarg))
			continue;
		switch (opt) {
		case OPT_SIGN_BY: o->sign_by = optarg; break;
		case OPT_SIGSTORE_KEY: o->sigstore_key = optarg; break;
		case OPT_IDENTITY: o->identity = optarg; break;
		case OPT_TO_DIR: o->to_dir = optarg; break;
		case OPT_REGD: o->regd = optarg; break;
		case OPT_PASSFILE: passfile = optarg; break;
		case OPT_OUTPUT: o->output = optarg; break;
		case OPT_GENKEY: o->genkey = optarg; break;
		case OPT_FORMAT:
			o->fmt = !strcmp(optarg, "simple")     ? FMT_SIMPLE
				 : !strcmp(optarg, "sigstore") ? FMT_SIGSTORE
				 : !strcmp(optarg, "aci")      ? FMT_ACI
							       : FMT_NONE;
			if (o->fmt == FMT_NONE)
				cli_usage_error(c, "unknown --format '%s'", optarg);
			break;
		}
	}
	cli_options_done(c);
	if (o->fmt == FMT_NONE)
		o->fmt = o->sigstore_key ? FMT_SIGSTORE : FMT_SIMPLE;
	if (!o->genkey && (o->fmt == FMT_SIGSTORE ? !o->sigstore_key : !o->sign_by))
		cli_usage_error(c, "give --sign-by or --sign-by-sigstore-private-key");
	if (o->sign_by && o->sigstore_key)
		cli_usage_error(c, "--sign-by and --sign-by-sigstore-private-key exclude each other");
	if (passfile) {
		size_t len;
		if (ckt_read_file(passfile, 4096, &o->passphrase, &len, &err) < 0)
			exit(cli_exit(c, cli_error(c, &err)));
		o->passphrase[strcspn(o->passphrase, "\r\n")] = 0;
	} else if (o->fmt == FMT_SIGSTORE || o->genkey) {
		const char *pw = getenv("COSIGN_PASSWORD");
		o->passphrase = xstrdup(pw ? pw : "");
	}
	if (o->sigstore_key &&
	    ckt_read_file(o->sigstore_key, 1u << 20, &o->key_pem, &o->key_len, &err) < 0)
		exit(cli_exit(c, cli_error(c, &err)));
}

int main(int argc, char **argv)
{
	struct cli c;
	struct ckt_err err = CKT_ERR_INIT;
	struct opts o = { 0 };
	int status = 0;

	cli_init(&c, "ckt-sign", usage, argv);
	parse_opts(&c, &o, argc, argv);
	if (o.genkey) {
		if (optind < argc)
			cli_usage_error(&c, "--generate-key takes no other argument");
		status = generate(&c, &o, &err) < 0 ? cli_error(&c, &err) : 0;
		free(o.passphrase);
		return cli_exit(&c, status);
	}
	size_t n;
	_cleanup_strv_ char **args = cli_args(&c, argc - optind, argv + optind, &n);
	if (n == 0)
		cli_usage_error(&c, "nothing to sign");
	_cleanup_store_ struct store *s = NULL;
	if (o.fmt != FMT_ACI && !(s = cli_store_open(&c, 0, &err)))
		return cli_exit(&c, cli_error(&c, &err));
	for (size_t i = 0; i < n; i++) {
		ckt_err_clear(&err);
		int r = o.fmt == FMT_ACI ? sign_aci(&c, &o, args[i], &err)
					 : sign_image(&c, s, &o, args[i], &err);
		if (r < 0) {
			int code = cli_error(&c, &err);
			status = status ? status : code;
		}
	}
	free(o.passphrase);
	free(o.key_pem);
	return cli_exit(&c, status);
}
