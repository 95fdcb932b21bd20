#pragma once
/* Internal to libimg: jansson with the project's error convention.  This
 * header includes jansson and must not be included from public headers. */
#include <jansson.h>
#include <stdint.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "store/store.h"

CKT_DEFINE_CLEANUP(json_t *, json_decref, img_json_decrefp)
#define _cleanup_json_ __attribute__((cleanup(img_json_decrefp)))

/* Parse a JSON document that must be an object.  Errors are CKT_EFORMAT
 * "parse <what>" with jansson's text and line:column as why. */
json_t *img_json_parse(const char *data, size_t len, const char *what, struct ckt_err *err);

/* As img_json_parse() for a document of any JSON type. */
json_t *img_json_parse_any(const char *data, size_t len, const char *what, struct ckt_err *err);

/* Typed getters.  A missing member gives the default (NULL / 0 / false)
 * and returns 0 unless required; a member of the wrong type is CKT_EFORMAT
 * naming it ("<what>: 'field' is not a string"). */
int img_json_str(json_t *obj, const char *key, bool required, const char *what,
		 const char **out, struct ckt_err *err);
int img_json_int(json_t *obj, const char *key, bool required, const char *what, int64_t *out,
		 struct ckt_err *err);
int img_json_obj(json_t *obj, const char *key, bool required, const char *what, json_t **out,
		 struct ckt_err *err);
int img_json_arr(json_t *obj, const char *key, bool required, const char *what, json_t **out,
		 struct ckt_err *err);
/* An array of strings (or null / missing → *out NULL) as a NULL-terminated
 * newly allocated vector. */
int img_json_strv(json_t *obj, const char *key, const char *what, char ***out,
		  struct ckt_err *err);
/* Parse a descriptor object (mediaType, digest, size) into d. */
int img_json_desc(json_t *obj, const char *what, struct store_desc *d, struct ckt_err *err);
/* A descriptor as a JSON object (mediaType, digest, size), new reference. */
json_t *img_json_from_desc(const struct store_desc *d);
/* Compact, order-preserving serialisation (newly allocated). */
char *img_json_dump(const json_t *j, size_t *len);
