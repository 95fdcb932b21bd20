#include "keys/pgp.h"

#include <ctype.h>
#include <fcntl.h>
#include <errno.h>
#include <gpgme.h>
#include <openssl/evp.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/path.h"
#include "base/strbuf.h"
#include "base/xalloc.h"

CKT_DEFINE_CLEANUP(gpgme_ctx_t, gpgme_release, gpgme_ctx_releasep)
CKT_DEFINE_CLEANUP(gpgme_data_t, gpgme_data_release, gpgme_data_releasep)
CKT_DEFINE_CLEANUP(gpgme_key_t, gpgme_key_unref, gpgme_key_unrefp)
#define _cleanup_gctx_ __attribute__((cleanup(gpgme_ctx_releasep)))
#define _cleanup_gdata_ __attribute__((cleanup(gpgme_data_releasep)))
#define _cleanup_gkey_ __attribute__((cleanup(gpgme_key_unrefp)))

struct keys_pgp {
	gpgme_ctx_t ctx;
	char *home;
};

/* The adaptor: a gpgme error as CKT_E<code> with gpgme's text as why. */
static int gfail(struct ckt_err *err, enum ckt_errcode code, gpgme_error_t e, const char *what)
{
	return ckt_err_failw(err, code, gpgme_strerror(e), "%s", what);
}

static int pgp_init(struct ckt_err *err)
{
	static bool done;
	if (done)
		return 0;
	/* gpgme asks gpgconf where gpg is, then every engine its version: five
	 * processes before any work.  gpg is where the distribution put it. */
	gpgme_set_global_flag("disable-gpgconf", "1");
	if (!gpgme_check_version(NULL))
		return ckt_err_fail(err, CKT_EINTERNAL, "initialise gpgme");
	setlocale(LC_CTYPE, "");
	gpgme_error_t e = gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP);
	if (e)
		return gfail(err, CKT_EINTERNAL, e, "find gpg (is gnupg installed?)");
	done = true;
	return 0;
}

static gpgme_ctx_t ctx_new(const char *home, struct ckt_err *err)
{
	gpgme_ctx_t ctx;
	gpgme_error_t e;
	if (pgp_init(err) < 0)
		return NULL;
	if ((e = gpgme_new(&ctx))) {
		gfail(err, CKT_EINTERNAL, e, "create gpgme context");
		return NULL;
	}
	if ((e = gpgme_set_protocol(ctx, GPGME_PROTOCOL_OpenPGP)) ||
	    (home && (e = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, home)))) {
		gpgme_release(ctx);
		gfail(err, CKT_EINTERNAL, e, "set up gpgme");
		return NULL;
	}
	return ctx;
}

struct keys_pgp *keys_pgp_new(struct ckt_err *err)
{
	const char *tmp = getenv("TMPDIR");
	_cleanup_free_ char *home = xasprintf("%s/ckt-gpg-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(home)) {
		ckt_err_sys(err, CKT_EIO, "create temporary keyring '%s'", home);
		return NULL;
	}
	/* No gpg-agent or dirmngr for a keyring that only verifies: starting
	 * one per verification costs more than the verification. */
	_cleanup_free_ char *conf = ckt_path_join(home, "gpg.conf");
	_cleanup_close_ int cfd = open(conf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	gpgme_ctx_t ctx = NULL;
	/* A throwaway directory: no fsync, nothing to keep atomic. */
	if (cfd < 0)
		ckt_err_sys(err, CKT_EIO, "create '%s'", conf);
	else if (ckt_write_all(cfd, "no-autostart\n", 13, err) == 0)
		ctx = ctx_new(home, err);
	if (!ctx) {
		ckt_rm_rf(home, &(struct ckt_err){ 0 });
		return NULL;
	}
	struct keys_pgp *k = xcalloc(1, sizeof(*k));
	k->ctx = ctx;
	k->home = TAKE_PTR(home);
	return k;
}

void keys_pgp_free(struct keys_pgp *k)
{
	if (!k)
		return;
	gpgme_release(k->ctx);
	struct ckt_err ignored = CKT_ERR_INIT;
	ckt_rm_rf(k->home, &ignored);
	free(k->home);
	free(k);
}

bool keys_fpr_normalize(const char *fpr, char out[KEYS_FPR_MAX])
{
	size_t n = 0;
	if (!fpr)
		return false;
	if (fpr[0] == '0' && (fpr[1] == 'x' || fpr[1] == 'X'))
		fpr += 2;
	for (; *fpr; fpr++) {
		if (*fpr == ' ')
			continue;
		if (!isxdigit((unsigned char)*fpr) || n >= KEYS_FPR_MAX - 1)
			return false;
		out[n++] = (char)tolower((unsigned char)*fpr);
	}
	out[n] = 0;
	return n == 40 || n == 64;
}

bool keys_pgp_is_armored(const void *data, size_t len)
{
	const char *p = data;
	while (len && isspace((unsigned char)*p))
		p++, len--;
	return len >= 14 && !memcmp(p, "-----BEGIN PGP", 14);
}

/* Armored key blocks to binary OpenPGP packets (RFC 4880 §6.2): the
 * base64 lines between the header block's empty line and the checksum
 * line, for every block in data.  Binary data is returned as it is. */
static int dearmor(const char *data, size_t len, struct ckt_buf *out, struct ckt_err *err)
{
	enum { OUTSIDE, HEADERS, BODY, CRC } st = OUTSIDE;
	_cleanup_buf_ struct ckt_buf b64 = CKT_BUF_INIT;
	const char *p = data, *end = data + len;

	if (!keys_pgp_is_armored(data, len)) {
		ckt_buf_add(out, data, len);
		return 0;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *line = p;
		p += n + (nl != NULL);
		while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
			n--;
		bool is_end = n >= 8 && !memcmp(line, "-----END", 8);
		switch (st) {
		case OUTSIDE:
			if (n >= 36 && !memcmp(line, "-----BEGIN PGP PUBLIC KEY BLOCK-----", 36))
				st = HEADERS;
			break;
		case HEADERS:
			if (n == 0)
				st = BODY;
			break;
		case BODY:
		case CRC:
			if (!is_end) {
				if (n && line[0] == '=' && st == BODY)
					st = CRC;
				else if (st == BODY)
					ckt_buf_add(&b64, line, n);
				break;
			}
			/* The end of a block: decode what it held. */
			size_t m = b64.len;
			int pad = (m && b64.buf[m - 1] == '=') + (m > 1 && b64.buf[m - 2] == '=');
			unsigned char *bin = xmalloc(m / 4 * 3 + 3);
			int got = m ? EVP_DecodeBlock(bin, (unsigned char *)b64.buf, (int)m) : 0;
			if (got < pad || m % 4) {
				free(bin);
				return ckt_err_failw(err, CKT_EFORMAT, "bad ASCII armor", "read key");
			}
			ckt_buf_add(out, bin, (size_t)(got - pad));
			free(bin);
			ckt_buf_reset(&b64);
			st = OUTSIDE;
			break;
		}
	}
	return 0;
}

/* Whether the first packet is a public key (tag 6), old or new format. */
static bool starts_with_public_key(const unsigned char *p, size_t len)
{
	if (!len || !(p[0] & 0x80))
		return false;
	unsigned tag = (p[0] & 0x40) ? (p[0] & 0x3fu) : ((p[0] >> 2) & 0x0fu);
	return tag == 6;
}

int keys_pgp_import(struct keys_pgp *k, const void *data, size_t len, char ***fprs,
		    struct ckt_err *err)
{
	_cleanup_gdata_ gpgme_data_t d = NULL;
	gpgme_error_t e;
	_cleanup_free_ char *kbx = ckt_path_join(k->home, "pubring.kbx");
	if (!fprs && access(kbx, F_OK) != 0) {
		/* The fast way: a legacy keyring file is the key packets one
		 * after another, which gpg reads when there is no pubring.kbx;
		 * no gpg process is needed to add to it. */
		_cleanup_buf_ struct ckt_buf bin = CKT_BUF_INIT;
		if (dearmor(data, len, &bin, err) < 0)
			return -err->code;
		if (!starts_with_public_key((const unsigned char *)bin.buf, bin.len))
			return ckt_err_failw(err, CKT_EFORMAT, "no OpenPGP public key found",
					     "import key");
		_cleanup_free_ char *ring = ckt_path_join(k->home, "pubring.gpg");
		_cleanup_close_ int fd = open(ring, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0)
			return ckt_err_sys(err, CKT_EIO, "write '%s'", ring);
		return ckt_write_all(fd, bin.buf, bin.len, err);
	}
	if ((e = gpgme_data_new_from_mem(&d, data, len, 0)))
		return gfail(err, CKT_EINTERNAL, e, "read key data");
	if ((e = gpgme_op_import(k->ctx, d)))
		return gfail(err, CKT_EFORMAT, e, "import key");
	gpgme_import_result_t r = gpgme_op_import_result(k->ctx);
	if (!r || (r->imported + r->unchanged) == 0 || !r->imports)
		return ckt_err_failw(err, CKT_EFORMAT, "no OpenPGP public key found",
				     "import key");
	if (!fprs)
		return 0;
	size_t n = 0, alloc = 0;
	char **v = NULL;
	for (gpgme_import_status_t s = r->imports; s; s = s->next) {
		char f[KEYS_FPR_MAX];
		if (s->result || !s->fpr || !keys_fpr_normalize(s->fpr, f))
			continue;
		bool dup = false;
		for (size_t i = 0; i < n; i++)
			dup |= !strcmp(v[i], f);
		if (dup)
			continue;
		ALLOC_GROW(v, n + 2, alloc);
		v[n++] = xstrdup(f);
		v[n] = NULL;
	}
	if (!v)
		return ckt_err_failw(err, CKT_EFORMAT, "no OpenPGP public key found",
				     "import key");
	*fprs = v;
	return 0;
}

char *keys_pgp_uid(struct keys_pgp *k, const char *fpr)
{
	_cleanup_gkey_ gpgme_key_t key = NULL;
	if (gpgme_get_key(k->ctx, fpr, &key, 0) || !key || !key->uids || !key->uids->uid)
		return NULL;
	return xstrdup(key->uids->uid);
}

/* The first signature's verdict, the way containers/image reads it
 * (mechanism_gpgme.go Verify): exactly one signature, status no error. */
static int check_result(struct keys_pgp *k, char signer[KEYS_FPR_MAX], struct ckt_err *err)
{
	gpgme_verify_result_t r = gpgme_op_verify_result(k->ctx);
	if (!r || !r->signatures)
		return ckt_err_failw(err, CKT_EVERIFY, "no signature", "verify signature");
	gpgme_signature_t sig = r->signatures;
	if (sig->next)
		return ckt_err_failw(err, CKT_EVERIFY, "more than one signature",
				     "verify signature");
	switch (gpgme_err_code(sig->status)) {
	case GPG_ERR_NO_ERROR:
		break;
	case GPG_ERR_NO_PUBKEY:
		return ckt_err_failw(err, CKT_EVERIFY, "unknown key",
				     "signature by key %s", sig->fpr ? sig->fpr : "?");
	case GPG_ERR_BAD_SIGNATURE:
		return ckt_err_failw(err, CKT_EVERIFY, "bad signature", "verify signature");
	case GPG_ERR_KEY_EXPIRED:
	case GPG_ERR_SIG_EXPIRED:
	case GPG_ERR_CERT_REVOKED:
		return ckt_err_failw(err, CKT_EVERIFY, "expired or revoked key",
				     "signature by key %s", sig->fpr ? sig->fpr : "?");
	default:
		return gfail(err, CKT_EVERIFY, sig->status, "verify signature");
	}
	/* sig->fpr may name a signing subkey; the keyring holds only trusted
	 * keys, so any of their (sub)keys is as good (a key lookup would cost
	 * another gpg process). */
	const char *f = sig->fpr;
	(void)k;
	if (!f || !keys_fpr_normalize(f, signer))
		return ckt_err_failw(err, CKT_EVERIFY, "unknown key", "verify signature");
	return 0;
}

int keys_pgp_verify_message(struct keys_pgp *k, const void *sig, size_t sig_len, char **plain,
			    size_t *plain_len, char signer[KEYS_FPR_MAX], struct ckt_err *err)
{
	_cleanup_gdata_ gpgme_data_t s = NULL;
	_cleanup_gdata_ gpgme_data_t p = NULL;
	gpgme_error_t e;
	if ((e = gpgme_data_new_from_mem(&s, sig, sig_len, 0)) || (e = gpgme_data_new(&p)))
		return gfail(err, CKT_EINTERNAL, e, "verify signature");
	if ((e = gpgme_op_verify(k->ctx, s, NULL, p))) {
		if (gpgme_err_code(e) == GPG_ERR_NO_DATA)
			return ckt_err_failw(err, CKT_EVERIFY, "not an OpenPGP signature",
					     "verify signature");
		return gfail(err, CKT_EVERIFY, e, "verify signature");
	}
	if (check_result(k, signer, err) < 0)
		return -err->code;
	size_t n;
	char *buf = gpgme_data_release_and_get_mem(p, &n);
	p = NULL;
	*plain = xmalloc(n + 1);
	if (n)
		memcpy(*plain, buf, n);
	(*plain)[n] = 0;
	gpgme_free(buf);
	*plain_len = n;
	return 0;
}

int keys_pgp_verify_detached(struct keys_pgp *k, const void *sig, size_t sig_len, int fd,
			     char signer[KEYS_FPR_MAX], struct ckt_err *err)
{
	_cleanup_gdata_ gpgme_data_t s = NULL;
	_cleanup_gdata_ gpgme_data_t t = NULL;
	gpgme_error_t e;
	if ((e = gpgme_data_new_from_mem(&s, sig, sig_len, 0)) ||
	    (e = gpgme_data_new_from_fd(&t, fd)))
		return gfail(err, CKT_EINTERNAL, e, "verify signature");
	if ((e = gpgme_op_verify(k->ctx, s, t, NULL))) {
		if (gpgme_err_code(e) == GPG_ERR_NO_DATA)
			return ckt_err_failw(err, CKT_EVERIFY, "not an OpenPGP signature",
					     "verify signature");
		return gfail(err, CKT_EVERIFY, e, "verify signature");
	}
	return check_result(k, signer, err);
}

struct pass {
	const char *passphrase;
};

static gpgme_error_t pass_cb(void *hook, const char *uid_hint, const char *info, int prev_bad,
			     int fd)
{
	const struct pass *p = hook;
	struct ckt_err ignored = CKT_ERR_INIT;
	(void)uid_hint;
	(void)info;
	if (prev_bad)
		return gpgme_error(GPG_ERR_BAD_PASSPHRASE);
	if (ckt_write_all(fd, p->passphrase, strlen(p->passphrase), &ignored) < 0 ||
	    ckt_write_all(fd, "\n", 1, &ignored) < 0)
		return gpgme_error(GPG_ERR_CANCELED);
	return 0;
}

int keys_pgp_sign(const char *homedir, const char *by, const char *passphrase,
		  enum keys_pgp_sign_mode mode, const void *data, size_t len, int fd, char **out,
		  size_t *out_len, struct ckt_err *err)
{
	_cleanup_gctx_ gpgme_ctx_t ctx = ctx_new(homedir, err);
	_cleanup_gkey_ gpgme_key_t key = NULL;
	_cleanup_gdata_ gpgme_data_t in = NULL;
	_cleanup_gdata_ gpgme_data_t sig = NULL;
	struct pass pass = { passphrase };
	gpgme_error_t e;

	if (!ctx)
		return -err->code;
	if ((e = gpgme_get_key(ctx, by, &key, 1)))
		return ckt_err_failw(err, gpgme_err_code(e) == GPG_ERR_EOF ? CKT_ENOTFOUND
									   : CKT_EINTERNAL,
				     gpgme_err_code(e) == GPG_ERR_EOF ? "no such secret key"
								      : gpgme_strerror(e),
				     "find signing key '%s'", by);
	if ((e = gpgme_signers_add(ctx, key)))
		return gfail(err, CKT_EINTERNAL, e, "use signing key");
	if (passphrase) {
		gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_LOOPBACK);
		gpgme_set_passphrase_cb(ctx, pass_cb, &pass);
	}
	gpgme_set_armor(ctx, mode == KEYS_PGP_SIGN_DETACHED_ARMOR);
	if (data)
		e = gpgme_data_new_from_mem(&in, data, len, 0);
	else
		e = gpgme_data_new_from_fd(&in, fd);
	if (e || (e = gpgme_data_new(&sig)))
		return gfail(err, CKT_EINTERNAL, e, "sign");
	e = gpgme_op_sign(ctx, in, sig,
			  mode == KEYS_PGP_SIGN_MESSAGE ? GPGME_SIG_MODE_NORMAL
							: GPGME_SIG_MODE_DETACH);
	if (e)
		return ckt_err_failw(err, gpgme_err_code(e) == GPG_ERR_BAD_PASSPHRASE ? CKT_EVERIFY
										     : CKT_EIO,
				     gpgme_strerror(e), "sign with key '%s'", by);
	gpgme_sign_result_t r = gpgme_op_sign_result(ctx);
	if (!r || !r->signatures || r->invalid_signers)
		return ckt_err_failw(err, CKT_EIO, "gpg made no signature", "sign with key '%s'",
				     by);
	size_t n;
	char *buf = gpgme_data_release_and_get_mem(sig, &n);
	sig = NULL;
	*out = xmalloc(n + 1);
	memcpy(*out, buf, n);
	(*out)[n] = 0;
	gpgme_free(buf);
	*out_len = n;
	return 0;
}

int keys_pgp_inspect(struct keys_pgp *k, const void *data, size_t len, char ***fprs, char **uid,
		     struct ckt_err *err)
{
	_cleanup_gdata_ gpgme_data_t d = NULL;
	gpgme_error_t e;
	size_t n = 0, alloc = 0;
	_cleanup_strv_ char **v = NULL;
	gpgme_key_t key;

	*uid = NULL;
	if ((e = gpgme_data_new_from_mem(&d, data, len, 0)))
		return gfail(err, CKT_EINTERNAL, e, "read key data");
	if ((e = gpgme_op_keylist_from_data_start(k->ctx, d, 0)))
		return gfail(err, CKT_EFORMAT, e, "read key data");
	while (!(e = gpgme_op_keylist_next(k->ctx, &key))) {
		char f[KEYS_FPR_MAX];
		if (key->fpr && keys_fpr_normalize(key->fpr, f)) {
			ALLOC_GROW(v, n + 2, alloc);
			v[n++] = xstrdup(f);
			v[n] = NULL;
			if (!*uid && key->uids && key->uids->uid)
				*uid = xstrdup(key->uids->uid);
		}
		gpgme_key_unref(key);
	}
	gpgme_op_keylist_end(k->ctx);
	if (gpgme_err_code(e) != GPG_ERR_EOF || !v) {
		free(*uid);
		*uid = NULL;
		return ckt_err_failw(err, CKT_EFORMAT, "no OpenPGP public key found",
				     "read key data");
	}
	*fprs = TAKE_PTR(v);
	return 0;
}

int keys_pgp_export(struct keys_pgp *k, const char *fpr, char **out, size_t *len,
		    struct ckt_err *err)
{
	_cleanup_gdata_ gpgme_data_t d = NULL;
	gpgme_error_t e;
	if ((e = gpgme_data_new(&d)))
		return gfail(err, CKT_EINTERNAL, e, "export key");
	gpgme_set_armor(k->ctx, 1);
	e = gpgme_op_export(k->ctx, fpr, 0, d);
	gpgme_set_armor(k->ctx, 0);
	if (e)
		return gfail(err, CKT_EIO, e, "export key");
	size_t n;
	char *buf = gpgme_data_release_and_get_mem(d, &n);
	d = NULL;
	if (!n) {
		gpgme_free(buf);
		return ckt_err_failw(err, CKT_ENOTFOUND, "no such key", "export key %s", fpr);
	}
	*out = xmalloc(n + 1);
	memcpy(*out, buf, n);
	(*out)[n] = 0;
	gpgme_free(buf);
	*len = n;
	return 0;
}
