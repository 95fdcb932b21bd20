#pragma once
/* Platforms (os/arch/variant) as OCI image-index.md describes them, with
 * Go's names (amd64, arm64, arm, 386, ppc64le, s390x, riscv64).  Matching
 * normalises the usual aliases (x86_64 → amd64, aarch64 → arm64, armhf →
 * arm/v7, armel → arm/v6, i686 → 386); an image without variant counts as
 * v8 for arm64 and v7 for arm (containerd's defaults). */
#include <stdbool.h>

#include "base/err.h"

struct img_platform {
	char *os;
	char *arch;
	char *variant;	/* NULL when none */
};

#define IMG_PLATFORM_INIT { NULL, NULL, NULL }

/* Parse "os/arch[/variant]" as written (no normalisation).  Empty parts,
 * more than three, or characters outside [A-Za-z0-9_.-] are CKT_EUSAGE.
 * On success out (which must own nothing) gets newly allocated strings; on
 * failure it is left untouched. */
int img_platform_parse(const char *s, struct img_platform *out, struct ckt_err *err);
/* The platform this program runs on (from the compiler's target; uname only
 * for an OS or architecture the compiler macros do not name), normalised.
 * out must own nothing. */
void img_platform_host(struct img_platform *out);
/* Free the strings and reset p to IMG_PLATFORM_INIT (NULL-safe). */
void img_platform_release(struct img_platform *p);
/* Deep copy into dst, which must own nothing. */
void img_platform_copy(struct img_platform *dst, const struct img_platform *src);
/* "os/arch[/variant]" (newly allocated). */
char *img_platform_string(const struct img_platform *p);
/* Rewrite p in place to canonical names: os, arch and variant lower-case,
 * arch aliases to Go's names (adding the variant armhf/armel imply), a bare
 * variant number "7" to "v7", arm64 "v8.0" to "v8".  An absent variant stays
 * absent.  os and arch must be set. */
void img_platform_normalize(struct img_platform *p);
/* Whether an image for `have` runs where `want` was asked for, both
 * normalised first.  os and arch must be equal.  A want without variant
 * matches any variant of the architecture; a want with one needs the same
 * variant, where a have without one takes its architecture's default (arm64
 * v8, arm v7).  No cross-variant compatibility (arm/v7 does not take v6). */
bool img_platform_match(const struct img_platform *want, const struct img_platform *have);
