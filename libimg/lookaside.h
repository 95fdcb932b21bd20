#pragma once
/* Lookaside signature stores and registries.d (containers-registries.d(5),
 * containers/image docker/registries_d.go).
 *
 * registries.d is a directory of *.yaml files:
 *
 *   default-docker:
 *     lookaside: file:///var/lib/containers/sigstore
 *   docker:
 *     registry.example.com/ns:
 *       lookaside: https://sigs.example.com/sigstore
 *       lookaside-staging: file:///srv/sigstore-staging
 *       use-sigstore-attachments: true
 *
 * (the older names sigstore / sigstore-staging are read too).  The most
 * specific scope wins: the full reference, then the repository, then each
 * parent namespace, then the registry; default-docker last.  A scope named
 * twice, in one file or two, is an error, as in containers/image.
 *
 * The signatures of manifest digest D in repository path P (the reference
 * without domain, tag or digest) under base URL B are B/P@<alg>=<hex>/signature-N,
 * N = 1, 2, … up to the first one missing. */
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "libimg/sign.h"

#define IMG_REGISTRIES_D_DEFAULT "/etc/containers/registries.d"

struct img_lookaside;

/* Load every *.yaml in dir (NULL: the default, see img_registries_d_default).
 * A missing directory is an empty configuration. */
struct img_lookaside *img_lookaside_load(const char *dir, struct ckt_err *err);
void img_lookaside_free(struct img_lookaside *l);
static inline void img_lookaside_freep(struct img_lookaside **l)
{
	img_lookaside_free(*l);
}
#define _cleanup_lookaside_ __attribute__((cleanup(img_lookaside_freep)))

/* The default registries.d: ~/.config/containers/registries.d when it
 * exists and we are not root, else IMG_REGISTRIES_D_DEFAULT.  Reads the
 * environment (HOME, XDG_CONFIG_HOME). */
char *img_registries_d_default(void);

/* The base URL configured for the docker reference ref (normalised,
 * "domain/path[:tag][@digest]"): for writing lookaside-staging, else
 * lookaside; NULL when none.  Borrowed from l. */
const char *img_lookaside_base(const struct img_lookaside *l, const char *ref, bool write);
/* Whether use-sigstore-attachments is set for ref. */
bool img_lookaside_use_attachments(const struct img_lookaside *l, const char *ref);

/* Append to *v every signature of digest in repository ref (domain/path…)
 * under base (file:// or http(s)://).  None found is not an error. */
int img_lookaside_read(const char *base, const char *ref, const char *digest,
		       struct img_sig **v, size_t *n, struct ckt_err *err);

/* Write sig as the next free signature-N under base, which must be a
 * file:// URL or a plain directory; *path (may be NULL) receives the file
 * written.  A signature with the same bytes already there is not written
 * again (*path names it). */
int img_lookaside_write(const char *base, const char *ref, const char *digest, const void *sig,
			size_t len, char **path, struct ckt_err *err);
