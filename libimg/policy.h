#pragma once
/* Signature policy: containers-policy.json(5) semantics, and rkt's
 * "secure by default" when no policy file exists.
 *
 * Which file: --policy FILE, else $CKT_POLICY (an empty value means "no
 * file"), else <local config>/policy.json (/etc/ckt/policy.json as root,
 * ~/.config/ckt/policy.json otherwise), else /etc/containers/policy.json.
 * With none, an image must carry a valid simple signing signature by a key
 * of the trust store (keys/trust.h) trusted for its repository name, and an
 * ACI a valid .asc by a key trusted for its name — rkt's rule.
 *
 * Policy evaluation (containers/image signature/policy_eval.go): the
 * requirements of the most specific scope of the transport apply ("docker":
 * the reference as given, the repository, each parent namespace, the
 * registry, then ""), else the policy's default; every requirement must
 * accept.  Requirements: insecureAcceptAnything, reject, signedBy (keyType
 * GPGKeys; keyPath, keyPaths or keyData; relative paths are resolved
 * against the policy file's directory) and sigstoreSigned (keyPath or
 * keyData; Fulcio and Rekor are not supported and refuse), each with a
 * signedIdentity: matchRepoDigestOrExact (default), matchExact,
 * matchRepository, exactReference, exactRepository, remapIdentity.
 * signedBaseLayer is refused as containers/image does.
 *
 * ckt extensions: transport "aci" (scopes: the ACI name and its parent
 * path components, then ""), and a signedBy with no key source, which
 * means the trust store keys for the image's name.
 *
 * Images in the store are checked as the "docker" transport, under the
 * name they are known by.  Their signatures are those kept in the store
 * for its manifest digest under any name (libimg/sign.h; each names its
 * identity, which the policy checks) and those in the lookaside stores
 * of registries.d for its name. */
#include <stdbool.h>

#include "base/err.h"
#include "libimg/image.h"
#include "store/store.h"

struct img_policy_opts {
	const char *policy;		/* --policy FILE, or NULL */
	const char *registries_d;	/* --registries.d DIR, or NULL */
	const char *local_config;	/* --local-config DIR, or NULL: the default */
	const char *system_config;	/* --system-config DIR, or NULL: the default */
	bool insecure_image;		/* --insecure-options=image: accept, with a warning */
};

/* Whether the image may run (ckt-exec) or pass (ckt-verify): 0 when the
 * policy accepts it; CKT_EVERIFY when refused, with why one of "no
 * signature", "unknown key", "bad signature", "identity mismatch", "digest
 * mismatch", "policy reject" and what naming the detail.  The image is
 * known by img->name, or when that is NULL by a name in the store that
 * points at it.  With o->insecure_image the check is skipped and a warning
 * logged.  A broken policy file is CKT_EFORMAT. */
int img_policy_check_run(struct store *s, const struct img_image *img,
			 const struct img_policy_opts *o, struct ckt_err *err);

/* As img_policy_check_run() for the image ref names in the store; ref is
 * also the identity the signatures must match (a pinned NAME@DIGEST
 * matches signatures for NAME under matchRepoDigestOrExact). */
int img_policy_check_ref(struct store *s, const char *ref, const struct img_policy_opts *o,
			 struct ckt_err *err);

/* Check an ACI file against its detached signature (armored or binary)
 * under the "aci" transport for name (the name in the ACI's manifest). */
int img_policy_check_aci(const char *aci_path, const char *asc_path, const char *name,
			 const struct img_policy_opts *o, struct ckt_err *err);

/* Check a stored ACI (libimg/convert.h; by image ID "sha512-…", a prefix
 * of one, or AC name) against the signature stored with it, under the
 * "aci" transport for its name.  No stored signature: "no signature". */
int img_policy_check_stored_aci(struct store *s, const char *id_or_name,
				const struct img_policy_opts *o, struct ckt_err *err);

/* The check ckt-fetch --verify makes after fetching source (a ckt-fetch
 * source name) as name: an ACI source (aci:) by its detached signature —
 * a local FILE.aci against FILE.aci.asc beside it, a downloaded one as its
 * stored ACI — else img_policy_check_ref(name). */
int img_policy_check_fetched(struct store *s, const char *source, const char *name,
			     const struct img_policy_opts *o, struct ckt_err *err);

/* The policy file that applies (newly allocated), or NULL when none
 * exists.  Reads $CKT_POLICY, HOME, XDG_CONFIG_HOME and the uid. */
char *img_policy_path(const struct img_policy_opts *o);
