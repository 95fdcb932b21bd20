#pragma once
/* Image references with docker's normalisation (distribution/reference
 * grammar): `alpine` is docker.io/library/alpine:latest, `index.docker.io`
 * is docker.io, the first component is a registry domain only when it holds
 * a '.' or ':', is "localhost", or has upper-case letters.  A reference may
 * carry a tag, a digest, or both (`name:tag@sha256:…`). */
#include <stdbool.h>

#include "base/err.h"

struct img_ref {
	char *domain;	/* "docker.io", "registry.example:5000", "[::1]:5000" */
	char *path;	/* repository path: "library/alpine", "a/b/c" */
	char *tag;	/* "latest" (the default when there is no digest), or NULL */
	char *digest;	/* "sha256:…"/"sha512:…", or NULL */
};

#define IMG_REF_INIT { NULL, NULL, NULL, NULL }

/* Parse and normalise s.  Invalid input (empty, upper-case repository,
 * bad tag, bad or unsupported digest, name over 255 characters, bad domain
 * or port, empty components) fails with CKT_EFORMAT and a reason naming the
 * part that is wrong.  The default tag "latest" is added only when neither
 * tag nor digest is given.  On success out (which must own nothing) gets
 * newly allocated strings, freed by img_ref_release(); on failure out is
 * left untouched.  A 64-character hex string alone is refused as an image
 * ID, as docker does. */
int img_ref_parse(const char *s, struct img_ref *out, struct ckt_err *err);
/* Free the strings and reset r to IMG_REF_INIT (NULL-safe). */
void img_ref_release(struct img_ref *r);
/* Deep copy into dst, which must own nothing. */
void img_ref_copy(struct img_ref *dst, const struct img_ref *src);

/* "domain/path" (newly allocated). */
char *img_ref_name(const struct img_ref *r);
/* The full normalised string: name[:tag][@digest] (newly allocated). */
char *img_ref_string(const struct img_ref *r);
/* "domain/path@digest" (newly allocated); digest NULL means r->digest,
 * which must then be set. */
char *img_ref_pinned(const struct img_ref *r, const char *digest);

/* Validate a tag against [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
bool img_ref_tag_valid(const char *tag);
/* Validate a repository path: lower-case components matching
 * [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* separated by '/'. */
bool img_ref_path_valid(const char *path);
