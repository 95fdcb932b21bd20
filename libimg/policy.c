#include "libimg/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "base/log.h"
#include "base/path.h"
#include "base/xalloc.h"
#include "keys/pgp.h"
#include "keys/trust.h"
#include "libimg/aci.h"
#include "libimg/convert.h"
#include "libimg/fetch.h"
#include "libimg/json.h"
#include "libimg/lookaside.h"
#include "libimg/ref.h"
#include "libimg/sign.h"
#include "libimg/sigstore.h"
#include "store/digest.h"

#define POLICY_MAX (4u << 20)
#define KEYFILE_MAX (4u << 20)

/* ---- the parsed policy --------------------------------------------------- */

enum req_type { REQ_ACCEPT, REQ_REJECT, REQ_SIGNED_BY, REQ_SIGSTORE };
enum ident_type {
	ID_REPO_DIGEST_OR_EXACT = 0,
	ID_EXACT,
	ID_REPOSITORY,
	ID_EXACT_REFERENCE,
	ID_EXACT_REPOSITORY,
	ID_REMAP,
};

struct req {
	enum req_type type;
	char **key_paths;	/* absolute paths */
	unsigned char *key_data;
	size_t key_data_len;
	enum ident_type ident;
	char *ident_ref;	/* exactReference / exactRepository */
	char *prefix, *signed_prefix;	/* remapIdentity */
};

struct reqs {
	struct req *v;
	size_t n;
};

struct scope {
	char *transport;
	char *name;
	struct reqs reqs;
};

struct policy {
	char *path;		/* NULL: the built-in rkt default */
	struct reqs def;
	struct scope *scopes;
	size_t n;
};

static void reqs_release(struct reqs *r)
{
	for (size_t i = 0; i < r->n; i++) {
		ckt_strv_free(r->v[i].key_paths);
		free(r->v[i].key_data);
		free(r->v[i].ident_ref);
		free(r->v[i].prefix);
		free(r->v[i].signed_prefix);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static void policy_release(struct policy *p)
{
	reqs_release(&p->def);
	for (size_t i = 0; i < p->n; i++) {
		free(p->scopes[i].transport);
		free(p->scopes[i].name);
		reqs_release(&p->scopes[i].reqs);
	}
	free(p->scopes);
	free(p->path);
	memset(p, 0, sizeof(*p));
}

static int bad(struct ckt_err *err, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(struct ckt_err *err, const char *path, const char *fmt, ...)
{
	char why[CKT_ERR_WHY_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return ckt_err_failw(err, CKT_EFORMAT, why, "policy '%s'", path);
}

static bool only_keys(json_t *o, const char *const *allowed, const char **extra)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok |= !strcmp(*a, k);
		if (!ok) {
			*extra = k;
			return false;
		}
	}
	return true;
}

static char *resolve_path(const char *policy_path, const char *p)
{
	if (p[0] == '/' || !policy_path)
		return xstrdup(p);
	_cleanup_free_ char *dir = xstrdup(policy_path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return xstrdup(p);
	*slash = 0;
	return ckt_path_join(*dir ? dir : "/", p);
}

static int parse_identity(json_t *j, struct req *r, const char *path, struct ckt_err *err)
{
	static const char *const names[] = { "matchRepoDigestOrExact", "matchExact",
					     "matchRepository", "exactReference",
					     "exactRepository", "remapIdentity" };
	json_t *t = json_object_get(j, "type");
	if (!json_is_object(j) || !json_is_string(t))
		return bad(err, path, "signedIdentity needs a %s", "\"type\"");
	size_t i;
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(names[i], json_string_value(t)))
			break;
	if (i == ARRAY_SIZE(names))
		return bad(err, path, "unknown signedIdentity type '%s'", json_string_value(t));
	r->ident = (enum ident_type)i;
	const char *field = r->ident == ID_EXACT_REFERENCE ? "dockerReference"
			    : r->ident == ID_EXACT_REPOSITORY ? "dockerRepository" : NULL;
	if (field) {
		json_t *v = json_object_get(j, field);
		struct img_ref ref = IMG_REF_INIT;
		struct ckt_err perr = CKT_ERR_INIT;
		if (!json_is_string(v) || img_ref_parse(json_string_value(v), &ref, &perr) < 0)
			return bad(err, path, "signedIdentity needs a valid \"%s\"", field);
		img_ref_release(&ref);
		r->ident_ref = xstrdup(json_string_value(v));
	}
	if (r->ident == ID_REMAP) {
		json_t *p = json_object_get(j, "prefix"), *sp = json_object_get(j, "signedPrefix");
		if (!json_is_string(p) || !json_is_string(sp))
			return bad(err, path, "remapIdentity needs %s", "prefix and signedPrefix");
		r->prefix = xstrdup(json_string_value(p));
		r->signed_prefix = xstrdup(json_string_value(sp));
	}
	return 0;
}

static int parse_req(json_t *j, struct req *r, const char *path, struct ckt_err *err)
{
	static const char *const signed_by[] = { "type", "keyType", "keyPath", "keyPaths",
						 "keyData", "signedIdentity", NULL };
	static const char *const sigstore[] = { "type", "keyPath", "keyData", "signedIdentity",
						"fulcio", "rekorPublicKeyPath",
						"rekorPublicKeyData", NULL };
	const char *extra = NULL;
	json_t *t = json_is_object(j) ? json_object_get(j, "type") : NULL;
	if (!json_is_string(t))
		return bad(err, path, "a requirement without %s", "\"type\"");
	const char *type = json_string_value(t);
	memset(r, 0, sizeof(*r));
	if (!strcmp(type, "insecureAcceptAnything")) {
		r->type = REQ_ACCEPT;
		return json_object_size(j) == 1 ? 0 : bad(err, path, "%s takes no options", type);
	}
	if (!strcmp(type, "reject")) {
		r->type = REQ_REJECT;
		return json_object_size(j) == 1 ? 0 : bad(err, path, "%s takes no options", type);
	}
	if (!strcmp(type, "signedBaseLayer")) {
		/* containers/image never implemented it: it always refuses. */
		r->type = REQ_REJECT;
		return 0;
	}
	bool sbo = !strcmp(type, "signedBy");
	if (!sbo && strcmp(type, "sigstoreSigned"))
		return bad(err, path, "unknown requirement type '%s'", type);
	r->type = sbo ? REQ_SIGNED_BY : REQ_SIGSTORE;
	if (!only_keys(j, sbo ? signed_by : sigstore, &extra))
		return bad(err, path, "unknown field '%s' in a requirement", extra);
	if (!sbo && json_object_get(j, "fulcio"))
		return bad(err, path, "%s", "sigstoreSigned with fulcio is not supported");
	json_t *kt = json_object_get(j, "keyType");
	if (sbo && (!json_is_string(kt) || strcmp(json_string_value(kt), "GPGKeys")))
		return bad(err, path, "signedBy needs %s", "\"keyType\": \"GPGKeys\"");
	json_t *kp = json_object_get(j, "keyPath"), *kps = json_object_get(j, "keyPaths");
	json_t *kd = json_object_get(j, "keyData");
	if ((kp != NULL) + (kps != NULL) + (kd != NULL) > 1)
		return bad(err, path, "%s", "keyPath, keyPaths and keyData exclude each other");
	if (!sbo && !kp && !kd)
		return bad(err, path, "%s", "sigstoreSigned needs keyPath or keyData");
	if (kp) {
		if (!json_is_string(kp))
			return bad(err, path, "%s is not a string", "keyPath");
		r->key_paths = xcalloc(2, sizeof(char *));
		r->key_paths[0] = resolve_path(path, json_string_value(kp));
	} else if (kps) {
		size_t i;
		json_t *v;
		if (!json_is_array(kps) || !json_array_size(kps))
			return bad(err, path, "%s is not a non-empty array", "keyPaths");
		r->key_paths = xcalloc(json_array_size(kps) + 1, sizeof(char *));
		json_array_foreach(kps, i, v) {
			if (!json_is_string(v))
				return bad(err, path, "%s holds a non-string", "keyPaths");
			r->key_paths[i] = resolve_path(path, json_string_value(v));
		}
	} else if (kd) {
		if (!json_is_string(kd) ||
		    img_base64_decode(json_string_value(kd), json_string_length(kd), &r->key_data,
				      &r->key_data_len, err) < 0)
			return bad(err, path, "%s is not base64", "keyData");
	}
	json_t *id = json_object_get(j, "signedIdentity");
	if (id && parse_identity(id, r, path, err) < 0)
		return -err->code;
	return 0;
}

static int parse_reqs(json_t *j, struct reqs *out, const char *path, const char *where,
		      struct ckt_err *err)
{
	size_t i;
	json_t *v;
	if (!json_is_array(j) || json_array_size(j) == 0)
		return bad(err, path, "%s needs a non-empty array of requirements", where);
	out->v = xcalloc(json_array_size(j), sizeof(*out->v));
	json_array_foreach(j, i, v) {
		if (parse_req(v, &out->v[i], path, err) < 0) {
			out->n = i + 1;
			return -err->code;
		}
	}
	out->n = i;
	return 0;
}

static int policy_parse(const char *path, const char *data, size_t len, struct policy *p,
			struct ckt_err *err)
{
	_cleanup_json_ json_t *j = img_json_parse(data, len, "policy", err);
	if (!j)
		return ckt_err_wrap(err, "policy '%s'", path);
	p->path = xstrdup(path);
	json_t *def = json_object_get(j, "default");
	if (!def)
		return bad(err, path, "%s", "no \"default\"");
	if (parse_reqs(def, &p->def, path, "default", err) < 0)
		return -err->code;
	json_t *tr = json_object_get(j, "transports");
	if (!tr)
		return 0;
	if (!json_is_object(tr))
		return bad(err, path, "%s is not an object", "transports");
	const char *tname, *sname;
	json_t *scopes, *reqs;
	json_object_foreach(tr, tname, scopes) {
		if (!json_is_object(scopes))
			return bad(err, path, "transport '%s' is not an object", tname);
		json_object_foreach(scopes, sname, reqs) {
			p->scopes = xreallocarray(p->scopes, p->n + 1, sizeof(*p->scopes));
			struct scope *s = &p->scopes[p->n++];
			memset(s, 0, sizeof(*s));
			s->transport = xstrdup(tname);
			s->name = xstrdup(sname);
			if (parse_reqs(reqs, &s->reqs, path, "a scope", err) < 0)
				return ckt_err_wrap(err, "scope '%s' of transport '%s'", sname,
						    tname);
		}
	}
	return 0;
}

char *img_policy_path(const struct img_policy_opts *o)
{
	struct stat st;
	if (o && o->policy)
		return xstrdup(o->policy);
	const char *env = getenv("CKT_POLICY");
	if (env)
		return *env ? xstrdup(env) : NULL;
	struct keys_config kc;
	keys_config_default(&kc);
	char *p = ckt_path_join(o && o->local_config ? o->local_config : kc.local, "policy.json");
	keys_config_release(&kc);
	if (stat(p, &st) == 0)
		return p;
	free(p);
	if (stat("/etc/containers/policy.json", &st) == 0)
		return xstrdup("/etc/containers/policy.json");
	return NULL;
}

static int policy_load(const struct img_policy_opts *o, struct policy *p, struct ckt_err *err)
{
	_cleanup_free_ char *path = img_policy_path(o);
	_cleanup_free_ char *data = NULL;
	size_t len;
	memset(p, 0, sizeof(*p));
	if (!path) {
		/* rkt's default: a signature by a trusted key, matchRepoDigestOrExact. */
		p->def.v = xcalloc(1, sizeof(*p->def.v));
		p->def.n = 1;
		p->def.v[0].type = REQ_SIGNED_BY;
		return 0;
	}
	if (ckt_read_file(path, POLICY_MAX, &data, &len, err) < 0)
		return ckt_err_wrap(err, "read policy");
	if (policy_parse(path, data, len, p, err) < 0) {
		policy_release(p);
		return -err->code;
	}
	return 0;
}

/* The requirements for transport and the scopes of ref, most specific
 * first (containers/image PolicyConfigurationNamespaces). */
static const struct reqs *find_reqs(const struct policy *p, const char *transport,
				    const char *const *scopes)
{
	for (const char *const *sc = scopes; *sc; sc++)
		for (size_t i = 0; i < p->n; i++)
			if (!strcmp(p->scopes[i].transport, transport) &&
			    !strcmp(p->scopes[i].name, *sc))
				return &p->scopes[i].reqs;
	return &p->def;
}

/* Scopes of a name: as given (full), then every parent by path component,
 * then, with wildcards (the docker transport), "*.<parent domain>" for each
 * parent domain of the registry without its port (containers/image
 * docker_transport PolicyConfigurationNamespaces), then "".  Returns a
 * NULL-terminated vector. */
static char **scopes_of(const char *full, const char *name, bool wildcards)
{
	size_t n = 0;
	char **v = xcalloc(2 * strlen(name) + 4, sizeof(char *));
	if (full && strcmp(full, name))
		v[n++] = xstrdup(full);
	if (*name) {
		_cleanup_free_ char *t = xstrdup(name);
		for (char *end = t + strlen(t); end;) {
			*end = 0;
			v[n++] = xstrdup(t);
			end = strrchr(t, '/');
		}
		if (wildcards) {
			/* t is now the registry (first component). */
			t[strcspn(t, ":")] = 0;
			for (char *dot = strchr(t, '.'); dot; dot = strchr(dot + 1, '.'))
				v[n++] = xasprintf("*%s", dot);
		}
	}
	v[n++] = xstrdup("");
	return v;
}

/* ---- identities (signature/policy_reference_match.go) -------------------- */

static bool ref_has_prefix(const char *name, const char *prefix)
{
	size_t n = strlen(name), pl = strlen(prefix);
	if (n < pl)
		return false;
	if (n == pl)
		return !strcmp(name, prefix);
	return !strncmp(name, prefix, pl) && name[pl] == '/';
}

static bool match_repo_digest_or_exact(const struct img_ref *in, const struct img_ref *sig)
{
	if (in->tag) {
		_cleanup_free_ char *a = img_ref_string(in);
		_cleanup_free_ char *b = img_ref_string(sig);
		return !strcmp(a, b);
	}
	if (in->digest) {
		_cleanup_free_ char *a = img_ref_name(in);
		_cleanup_free_ char *b = img_ref_name(sig);
		return !strcmp(a, b);
	}
	return false;
}

/* 0 when the signature's docker-reference satisfies r for the image known
 * as intended (may be NULL); else CKT_EVERIFY "identity mismatch". */
static int match_identity(const struct req *r, const char *intended, const char *signed_ref,
			  struct ckt_err *err)
{
	struct img_ref in = IMG_REF_INIT, sig = IMG_REF_INIT, pol = IMG_REF_INIT;
	struct ckt_err perr = CKT_ERR_INIT;
	bool ok = false;
	if (img_ref_parse(signed_ref, &sig, &perr) < 0)
		return ckt_err_failw(err, CKT_EVERIFY, "identity mismatch",
				     "signature names '%s', not a valid reference", signed_ref);
	switch (r->ident) {
	case ID_EXACT_REFERENCE:
	case ID_EXACT_REPOSITORY:
		if (img_ref_parse(r->ident_ref, &pol, &perr) == 0) {
			_cleanup_free_ char *a = r->ident == ID_EXACT_REFERENCE
							 ? img_ref_string(&pol)
							 : img_ref_name(&pol);
			_cleanup_free_ char *b = r->ident == ID_EXACT_REFERENCE
							 ? img_ref_string(&sig)
							 : img_ref_name(&sig);
			ok = !strcmp(a, b);
		}
		break;
	default:
		if (!intended || img_ref_parse(intended, &in, &perr) < 0)
			break;
		if (r->ident == ID_EXACT) {
			_cleanup_free_ char *a = img_ref_string(&in);
			_cleanup_free_ char *b = img_ref_string(&sig);
			ok = !strcmp(a, b);
		} else if (r->ident == ID_REPOSITORY) {
			_cleanup_free_ char *a = img_ref_name(&in);
			_cleanup_free_ char *b = img_ref_name(&sig);
			ok = !strcmp(a, b);
		} else if (r->ident == ID_REMAP) {
			_cleanup_free_ char *name = img_ref_name(&in);
			if (ref_has_prefix(name, r->prefix)) {
				struct img_ref re = IMG_REF_INIT;
				_cleanup_free_ char *s = xasprintf(
					"%s%s%s%s%s%s", r->signed_prefix, name + strlen(r->prefix),
					in.tag ? ":" : "", in.tag ? in.tag : "",
					in.digest ? "@" : "", in.digest ? in.digest : "");
				if (img_ref_parse(s, &re, &perr) == 0)
					ok = match_repo_digest_or_exact(&re, &sig);
				img_ref_release(&re);
			} else {
				ok = match_repo_digest_or_exact(&in, &sig);
			}
		} else {
			ok = match_repo_digest_or_exact(&in, &sig);
		}
	}
	img_ref_release(&in);
	img_ref_release(&sig);
	img_ref_release(&pol);
	if (ok)
		return 0;
	return ckt_err_failw(err, CKT_EVERIFY, "identity mismatch",
			     "signature is for '%s', image is '%s'", signed_ref,
			     intended ? intended : "(unnamed)");
}

/* ---- evaluation --------------------------------------------------------- */

struct subject {
	const char *identity;		/* docker reference, or NULL */
	const char *trust_name;		/* name for the trust store */
	const char *digests[2];		/* manifest digests the signature may name */
	struct img_sig *sigs;
	size_t n;
	const struct img_policy_opts *o;
};

/* How far a refused signature got: the furthest one gives the reason. */
static int rank(const struct ckt_err *e)
{
	if (!strcmp(e->why, "identity mismatch"))
		return 5;
	if (!strcmp(e->why, "digest mismatch"))
		return 4;
	if (!strcmp(e->why, "bad signature") || !strcmp(e->why, "invalid signature payload"))
		return 3;
	if (!strcmp(e->why, "unknown key") || !strcmp(e->why, "expired or revoked key"))
		return 2;
	return 1;
}

static void keep_best(struct ckt_err *best, const struct ckt_err *e)
{
	if (best->code == CKT_EOK || rank(e) > rank(best))
		*best = *e;
}

static int check_payload(const struct subject *sub, const struct req *r, const char *payload,
			 size_t len, const char *type, struct ckt_err *err)
{
	struct img_sig_payload p = { 0 };
	if (img_sig_payload_parse(payload, len, type, &p, err) < 0)
		return -err->code;
	bool dg = false;
	for (int i = 0; i < 2; i++)
		dg |= sub->digests[i] && !strcmp(sub->digests[i], p.digest);
	int ret = 0;
	if (!dg)
		ret = ckt_err_failw(err, CKT_EVERIFY, "digest mismatch",
				    "signature is for manifest %s, image is %s", p.digest,
				    sub->digests[0]);
	else
		ret = match_identity(r, sub->identity, p.docker_ref, err);
	img_sig_payload_release(&p);
	return ret;
}

static int load_gpg_keys(const struct subject *sub, const struct req *r, struct keys_pgp *k,
			 struct ckt_err *err)
{
	if (r->key_data)
		return keys_pgp_import(k, r->key_data, r->key_data_len, NULL, err);
	if (r->key_paths) {
		for (char **p = r->key_paths; *p; p++) {
			_cleanup_free_ char *data = NULL;
			size_t len;
			if (ckt_read_file(*p, KEYFILE_MAX, &data, &len, err) < 0 ||
			    keys_pgp_import(k, data, len, NULL, err) < 0)
				return ckt_err_wrap(err, "policy key");
		}
		return 0;
	}
	/* No key source: the trust store, as rkt. */
	struct keys_config kc;
	_cleanup_strv_ char **fprs = NULL;
	keys_config_default(&kc);
	if (sub->o && sub->o->local_config) {
		free(kc.local);
		kc.local = xstrdup(sub->o->local_config);
	}
	if (sub->o && sub->o->system_config) {
		free(kc.system);
		kc.system = xstrdup(sub->o->system_config);
	}
	int ret = keys_trust_load(&kc, sub->trust_name, k, &fprs, err);
	keys_config_release(&kc);
	if (ret < 0)
		return ckt_err_wrap(err, "trust store");
	if (!fprs[0])
		return ckt_err_failw(err, CKT_EVERIFY, "unknown key",
				     "no key is trusted for '%s' (see ckt-trust)",
				     sub->trust_name ? sub->trust_name : "(unnamed)");
	return 0;
}

static int eval_signed_by(const struct subject *sub, const struct req *r, struct ckt_err *err)
{
	struct ckt_err best = CKT_ERR_INIT;
	_cleanup_pgp_ struct keys_pgp *k = keys_pgp_new(err);
	if (!k)
		return -err->code;
	size_t tried = 0;
	for (size_t i = 0; i < sub->n; i++) {
		if (sub->sigs[i].kind != IMG_SIG_SIMPLE)
			continue;
		if (tried++ == 0 && load_gpg_keys(sub, r, k, err) < 0)
			return -err->code;
		struct ckt_err e = CKT_ERR_INIT;
		_cleanup_free_ char *plain = NULL;
		size_t plen;
		char signer[KEYS_FPR_MAX];
		if (keys_pgp_verify_message(k, sub->sigs[i].data, sub->sigs[i].len, &plain, &plen,
					    signer, &e) == 0 &&
		    check_payload(sub, r, plain, plen, IMG_SIG_TYPE_SIMPLE, &e) == 0) {
			ckt_debug("accepted signature %s by key %s", sub->sigs[i].origin, signer);
			return 0;
		}
		ckt_err_wrap(&e, "%s", sub->sigs[i].origin ? sub->sigs[i].origin : "signature");
		keep_best(&best, &e);
	}
	if (!tried)
		return ckt_err_failw(err, CKT_EVERIFY, "no signature",
				     "no simple signing signature found");
	*err = best;
	return -err->code;
}

static int eval_sigstore(const struct subject *sub, const struct req *r, struct ckt_err *err)
{
	struct ckt_err best = CKT_ERR_INIT;
	_cleanup_free_ char *pub = NULL;
	size_t plen = 0, tried = 0;
	for (size_t i = 0; i < sub->n; i++) {
		if (sub->sigs[i].kind != IMG_SIG_COSIGN)
			continue;
		if (tried++ == 0) {
			if (r->key_data) {
				pub = xmalloc(r->key_data_len + 1);
				memcpy(pub, r->key_data, r->key_data_len);
				pub[r->key_data_len] = 0;
				plen = r->key_data_len;
			} else if (ckt_read_file(r->key_paths[0], KEYFILE_MAX, &pub, &plen, err) <
				   0) {
				return ckt_err_wrap(err, "policy key");
			}
		}
		struct ckt_err e = CKT_ERR_INIT;
		if (img_sigstore_verify(pub, plen, sub->sigs[i].data, sub->sigs[i].len,
					sub->sigs[i].cosign_sig, &e) == 0 &&
		    check_payload(sub, r, sub->sigs[i].data, sub->sigs[i].len,
				  IMG_SIG_TYPE_COSIGN, &e) == 0)
			return 0;
		ckt_err_wrap(&e, "%s", sub->sigs[i].origin ? sub->sigs[i].origin : "signature");
		keep_best(&best, &e);
	}
	if (!tried)
		return ckt_err_failw(err, CKT_EVERIFY, "no signature",
				     "no sigstore signature found");
	*err = best;
	return -err->code;
}

static int evaluate(const struct reqs *rs, const struct subject *sub, struct ckt_err *err)
{
	for (size_t i = 0; i < rs->n; i++) {
		const struct req *r = &rs->v[i];
		int ret = 0;
		switch (r->type) {
		case REQ_ACCEPT:
			break;
		case REQ_REJECT:
			return ckt_err_failw(err, CKT_EVERIFY, "policy reject",
					     "the policy rejects this image");
		case REQ_SIGNED_BY:
			ret = eval_signed_by(sub, r, err);
			break;
		case REQ_SIGSTORE:
			ret = eval_sigstore(sub, r, err);
			break;
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- entry points -------------------------------------------------------- */

/* A name in the store pointing at digest (not a signature ref). */
static char *name_for_digest(struct store *s, const char *digest)
{
	struct store_ref *refs;
	size_t n;
	struct ckt_err ignored = CKT_ERR_INIT;
	char *found = NULL;
	if (store_ref_list(s, &refs, &n, &ignored) < 0)
		return NULL;
	for (size_t i = 0; i < n && !found; i++)
		if (refs[i].name && !strcmp(refs[i].desc.digest, digest))
			found = xstrdup(refs[i].name);
	store_refs_free(refs, n);
	return found;
}

static int check_image(struct store *s, const struct img_image *img, const char *identity,
		       const struct img_policy_opts *o, struct ckt_err *err)
{
	struct policy p;
	struct img_sig *sigs = NULL;
	size_t n = 0;
	struct img_ref ref = IMG_REF_INIT;
	struct ckt_err perr = CKT_ERR_INIT;
	int ret = 0;
	_cleanup_strv_ char **scopes = NULL;

	if (o && o->insecure_image) {
		ckt_warn("image signature verification has been disabled");
		return 0;
	}
	if (identity && img_ref_parse(identity, &ref, &perr) < 0)
		identity = NULL;
	_cleanup_free_ char *full = identity ? img_ref_string(&ref) : NULL;
	_cleanup_free_ char *name = identity ? img_ref_name(&ref) : NULL;
	img_ref_release(&ref);
	if (policy_load(o, &p, err) < 0)
		return -err->code;

	/* Signatures: the store's, then the lookaside stores'. */
	const char *digests[2] = { img->top.digest,
				   strcmp(img->desc.digest, img->top.digest) ? img->desc.digest
									     : NULL };
	_cleanup_lookaside_ struct img_lookaside *la = NULL;
	if (name) {
		la = img_lookaside_load(o ? o->registries_d : NULL, err);
		if (!la) {
			policy_release(&p);
			return -err->code;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (!digests[i])
			continue;
		if (img_sig_store_list(s, NULL, digests[i], &sigs, &n, err) < 0) {
			ret = -err->code;
			goto out;
		}
		if (!name)
			continue;
		const char *base = img_lookaside_base(la, full, false);
		if (base && img_lookaside_read(base, full, digests[i], &sigs, &n, err) < 0) {
			ret = ckt_err_wrap(err, "read signatures");
			goto out;
		}
	}
	scopes = scopes_of(full, name ? name : "", true);
	struct subject sub = { full, name, { digests[0], digests[1] }, sigs, n, o };
	ret = evaluate(find_reqs(&p, "docker", (const char *const *)scopes), &sub, err);
	if (ret < 0)
		ckt_err_wrap(err, "verify '%s'%s%s", full ? full : img->top.digest,
			     p.path ? " under policy " : "", p.path ? p.path : "");
out:
	img_sigs_free(sigs, n);
	policy_release(&p);
	return ret;
}

int img_policy_check_run(struct store *s, const struct img_image *img,
			 const struct img_policy_opts *o, struct ckt_err *err)
{
	_cleanup_free_ char *found = img->name ? NULL : name_for_digest(s, img->top.digest);
	return check_image(s, img, img->name ? img->name : found, o, err);
}

int img_policy_check_ref(struct store *s, const char *ref, const struct img_policy_opts *o,
			 struct ckt_err *err)
{
	struct img_image img;
	struct img_ref r = IMG_REF_INIT;
	struct ckt_err perr = CKT_ERR_INIT;
	if (img_image_load(s, ref, NULL, &img, err) < 0)
		return -err->code;
	_cleanup_free_ char *identity = NULL;
	if (img.name)
		identity = xstrdup(img.name);
	else if (!store_digest_valid(ref) && img_ref_parse(ref, &r, &perr) == 0)
		identity = img_ref_string(&r);
	else
		identity = name_for_digest(s, img.top.digest);
	img_ref_release(&r);
	int ret = check_image(s, &img, identity, o, err);
	img_image_release(&img);
	return ret;
}

/* Check the ACI open at fd (what of it for messages) against the detached
 * signature sig (NULL: none) under the "aci" transport for name. */
static int check_aci_fd(int fd, const char *what, const char *sig, size_t slen, const char *name,
			const struct img_policy_opts *o, struct ckt_err *err)
{
	struct policy p;
	int ret = 0;
	if (o && o->insecure_image) {
		ckt_warn("image signature verification has been disabled");
		return 0;
	}
	if (policy_load(o, &p, err) < 0)
		return -err->code;
	_cleanup_strv_ char **scopes = scopes_of(NULL, name, false);
	const struct reqs *rs = find_reqs(&p, "aci", (const char *const *)scopes);
	for (size_t i = 0; i < rs->n && ret == 0; i++) {
		const struct req *r = &rs->v[i];
		if (r->type == REQ_ACCEPT)
			continue;
		if (r->type == REQ_REJECT) {
			ret = ckt_err_failw(err, CKT_EVERIFY, "policy reject",
					    "the policy rejects this image");
			break;
		}
		if (r->type == REQ_SIGSTORE) {
			ret = ckt_err_failw(err, CKT_EVERIFY, "no signature",
					    "ACIs carry no sigstore signatures");
			break;
		}
		if (!sig) {
			ret = ckt_err_failw(err, CKT_EVERIFY, "no signature",
					    "no detached signature (.aci.asc)");
			break;
		}
		struct subject sub = { NULL, name, { NULL, NULL }, NULL, 0, o };
		_cleanup_pgp_ struct keys_pgp *k = keys_pgp_new(err);
		char signer[KEYS_FPR_MAX];
		if (!k || load_gpg_keys(&sub, r, k, err) < 0) {
			ret = -err->code;
			break;
		}
		if (lseek(fd, 0, SEEK_SET) < 0) {
			ret = ckt_err_sys(err, CKT_EIO, "seek '%s'", what);
			break;
		}
		/* The bytes signed are the ACI as distributed (rkt). */
		ret = keys_pgp_verify_detached(k, sig, slen, fd, signer, err);
		if (ret == 0)
			ckt_debug("'%s' signed by key %s", what, signer);
	}
	if (ret < 0)
		ckt_err_wrap(err, "verify '%s' (%s)%s%s", what, name, p.path ? " under policy " : "",
			     p.path ? p.path : "");
	policy_release(&p);
	return ret;
}

int img_policy_check_aci(const char *aci_path, const char *asc_path, const char *name,
			 const struct img_policy_opts *o, struct ckt_err *err)
{
	_cleanup_free_ char *sig = NULL;
	_cleanup_close_ int fd = -1;
	size_t slen = 0;
	struct ckt_err nf = CKT_ERR_INIT;
	if (ckt_read_file(asc_path, IMG_SIG_MAX, &sig, &slen, &nf) < 0 &&
	    nf.code != CKT_ENOTFOUND) {
		*err = nf;
		return -err->code;
	}
	fd = open(aci_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ckt_err_sys(err, errno == ENOENT ? CKT_ENOTFOUND : CKT_EIO, "open '%s'",
				   aci_path);
	return check_aci_fd(fd, aci_path, sig, slen, name, o, err);
}

int img_policy_check_stored_aci(struct store *s, const char *id_or_name,
				const struct img_policy_opts *o, struct ckt_err *err)
{
	struct store_desc desc = { 0 };
	char id[IMG_ACI_ID_MAX];
	_cleanup_free_ char *wrapper = NULL, *sig = NULL, *name = NULL;
	size_t wlen, slen = 0;
	int ret = 0;

	if (img_aci_store_find(s, id_or_name, NULL, &desc, id, err) < 0)
		return -err->code;
	if (store_blob_read(s, desc.digest, IMG_MANIFEST_MAX, &wrapper, &wlen, err) < 0) {
		store_desc_release(&desc);
		return ckt_err_wrap(err, "stored ACI %s", id);
	}
	/* convert.h: the name annotation, layers[0] the ACI as distributed,
	 * an optional layer with its .aci.asc. */
	json_t *m = img_json_parse(wrapper, wlen, "stored ACI", err), *l;
	json_t *ann = m ? json_object_get(m, "annotations") : NULL;
	const char *nm = json_string_value(json_object_get(ann, IMG_ANNOT_ACI_NAME));
	size_t i;
	if (!m)
		ret = -err->code;
	else if (!nm)
		ret = ckt_err_fail(err, CKT_EFORMAT, "stored ACI %s has no name", id);
	else
		name = xstrdup(nm);
	json_array_foreach(m ? json_object_get(m, "layers") : NULL, i, l) {
		const char *mt = json_string_value(json_object_get(l, "mediaType"));
		const char *dg = json_string_value(json_object_get(l, "digest"));
		if (ret == 0 && !sig && mt && dg && !strcmp(mt, IMG_MT_ACI_SIGNATURE) &&
		    store_digest_valid(dg) && store_blob_read(s, dg, IMG_SIG_MAX, &sig, &slen, err) < 0)
			ret = -err->code;
	}
	json_decref(m);
	int fd = ret == 0 ? img_aci_store_open(s, &desc, err) : -1;
	store_desc_release(&desc);
	if (ret < 0 || fd < 0)
		return ckt_err_wrap(err, "stored ACI %s", id);
	ret = check_aci_fd(fd, id, sig, slen, name, o, err);
	close(fd);
	return ret;
}

int img_policy_check_fetched(struct store *s, const char *source, const char *name,
			     const struct img_policy_opts *o, struct ckt_err *err)
{
	struct img_source src = { 0 };
	struct stat st;
	if (img_source_parse(source, &src, err) < 0)
		return -err->code;
	if (src.transport != IMG_TRANSPORT_ACI) {
		img_source_release(&src);
		return img_policy_check_ref(s, name, o, err);
	}
	int ret;
	if (stat(src.path, &st) == 0 && S_ISREG(st.st_mode)) {
		/* A local file: its own .asc beside it (rkt ascPathFromImgPath). */
		size_t n = strlen(src.path);
		_cleanup_free_ char *asc = n > 4 && !strcmp(src.path + n - 4, ".aci")
						   ? xasprintf("%s.asc", src.path)
						   : xasprintf("%s.aci.asc", src.path);
		_cleanup_close_ int fd = open(src.path, O_RDONLY | O_CLOEXEC);
		struct img_aci_info info = { 0 };
		if (fd < 0 || img_aci_check(fd, &info, err) < 0) {
			img_source_release(&src);
			return fd < 0 ? ckt_err_sys(err, CKT_EIO, "open '%s'", src.path)
				      : -(int)err->code;
		}
		_cleanup_json_ json_t *m = img_json_parse(info.manifest, info.manifest_len,
							  "ACI manifest", err);
		const char *acname = m ? json_string_value(json_object_get(m, "name")) : NULL;
		if (!m)
			ret = -err->code;
		else if (!acname)
			ret = ckt_err_fail(err, CKT_EFORMAT, "ACI '%s' has no name", src.path);
		else
			ret = img_policy_check_aci(src.path, asc, acname, o, err);
		img_aci_info_release(&info);
	} else {
		/* Fetched over the network: the stored ACI of that AC name, the
		 * newest being the one just fetched.  The AC name is the store
		 * name without its tag (docker's normalisation undone for a
		 * single-component name). */
		struct img_ref r = IMG_REF_INIT;
		if (img_ref_parse(name, &r, err) < 0) {
			img_source_release(&src);
			return -err->code;
		}
		_cleanup_free_ char *acname = img_ref_name(&r);
		img_ref_release(&r);
		const char *q = acname;
		if (!strncmp(q, "docker.io/library/", 18) && !strstr(src.path, "docker.io"))
			q += 18;
		ret = img_policy_check_stored_aci(s, q, o, err);
	}
	img_source_release(&src);
	return ret;
}
