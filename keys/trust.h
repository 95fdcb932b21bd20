#pragma once
/* rkt's trust store (APPC-NOTES.md §3; rkt pkg/keystore):
 *
 *   <dir>/trustedkeys/root.d/<fingerprint>
 *   <dir>/trustedkeys/prefix.d/<name prefix>/<fingerprint>
 *
 * under two directories: the system one (keys shipped by the OS vendor,
 * $PREFIX/lib/ckt) and the local one (the administrator's, /etc/ckt as
 * root, ${XDG_CONFIG_HOME:-~/.config}/ckt otherwise).  A key file holds one
 * ASCII-armored public key and is named by its lower-case fingerprint; a
 * file whose key has another fingerprint is refused.  An empty file in the
 * local tree masks the key of the same fingerprint in the system tree.
 *
 * The keys that verify a name are every root key plus the keys of each
 * prefix.d directory from the name's first path component down to the whole
 * name: "example.com" trusts "example.com/app", "example.com/app2" does not,
 * and "example.com/fo" does not trust "example.com/foo" (components are
 * compared, not strings; rkt compared strings). */
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "keys/pgp.h"

struct keys_config {
	char *local;	/* local configuration directory (owned) */
	char *system;	/* system configuration directory (owned) */
};

/* The default directories.  This is the only place keys/ reads the
 * environment (HOME, XDG_CONFIG_HOME) and the effective uid. */
void keys_config_default(struct keys_config *c);
void keys_config_release(struct keys_config *c);

/* Whether p is a valid name prefix: lower-case [a-z0-9] words joined by
 * '.', '-', '_', '~', ':' and '/' (an AC identifier, plus ':' for registry
 * ports), no empty, "." or ".." component, no URL scheme. */
bool keys_prefix_valid(const char *p);

enum keys_scope {
	KEYS_SYSTEM = 0,
	KEYS_LOCAL,
};

struct keys_entry {
	enum keys_scope scope;
	char *prefix;		/* NULL for a root key */
	char fpr[KEYS_FPR_MAX];
	char *path;
	char *uid;		/* first user id, or NULL (and for masks) */
	bool mask;		/* an empty file: masks the system key */
};
void keys_entries_free(struct keys_entry *v, size_t n);

/* Trust the keys in data (armored or binary; stored armored) for prefix
 * (NULL: as root keys) in the local tree.  With want (a fingerprint) only
 * that key is added and it must be in data (else CKT_EVERIFY).  *out (may
 * be NULL) receives the entries written (keys_entries_free).  An invalid
 * prefix is CKT_EUSAGE. */
int keys_trust_add(const struct keys_config *c, const char *prefix, const void *data, size_t len,
		   const char *want, struct keys_entry **out, size_t *n, struct ckt_err *err);

/* Every key file of both trees, system first, sorted by prefix and
 * fingerprint (owned by the caller).  uids are filled. */
int keys_trust_list(const struct keys_config *c, struct keys_entry **out, size_t *n,
		    struct ckt_err *err);

/* Stop trusting fpr for prefix (NULL: root): remove the local key file, and
 * when the system tree has that key, leave an empty local file masking it
 * (*masked true).  Neither tree has it: CKT_ENOTFOUND. */
int keys_trust_remove(const struct keys_config *c, const char *prefix, const char *fpr,
		      bool *masked, struct ckt_err *err);

/* Import into k the keys trusted for name (rkt's loadKeyring): root keys,
 * then each prefix level, system before local, masks applied.  *fprs (may
 * be NULL) receives their fingerprints (NULL-terminated, owned by the
 * caller; empty when nothing is trusted).  A key file that is not armored
 * or whose key does not match its name is CKT_EFORMAT. */
int keys_trust_load(const struct keys_config *c, const char *name, struct keys_pgp *k,
		    char ***fprs, struct ckt_err *err);

