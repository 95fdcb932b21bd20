#pragma once
/* Path arithmetic.  Lexical only: nothing here touches the filesystem, so
 * these helpers cannot protect against symlinks; code that creates files
 * under an untrusted tree opens them with img's in-root resolution instead. */
#include <stdbool.h>

#include "err.h"

/* Return a + "/" + b (one slash between), newly allocated. */
char *ckt_path_join(const char *a, const char *b);

/* Lexically clean p: collapse "//" and "/./", drop a trailing "/", resolve
 * "name/.." pairs.  Leading ".." of a relative path are kept; ".." above "/"
 * stays at "/".  "" becomes ".".  Newly allocated. */
char *ckt_path_clean(const char *p);

/* Join an untrusted relative (or absolute) name under root.  The name is
 * cleaned as if it were rooted at root; a name that would climb out of root
 * (a ".." that cannot be resolved inside it) or contains a NUL is refused
 * with CKT_EFORMAT.  On success *out is root or root/<clean name>. */
int ckt_path_join_under(const char *root, const char *name, char **out, struct ckt_err *err);

/* True when the cleaned relative name would climb above its starting point. */
bool ckt_path_escapes(const char *name);

/* Pointer to the last component of p (borrowed). */
const char *ckt_path_base(const char *p);
