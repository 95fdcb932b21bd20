#include "libimg/json.h"

#include <string.h>

#include "base/xalloc.h"

json_t *img_json_parse_any(const char *data, size_t len, const char *what, struct ckt_err *err)
{
	json_error_t je;
	/* JSON_REJECT_DUPLICATES: a document with two values for one key means
	 * different things to different parsers; refuse it. */
	json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		char why[CKT_ERR_WHY_MAX];
		snprintf(why, sizeof(why), "%s at line %d column %d", je.text, je.line, je.column);
		ckt_err_failw(err, CKT_EFORMAT, why, "parse %s", what);
		return NULL;
	}
	return j;
}

json_t *img_json_parse(const char *data, size_t len, const char *what, struct ckt_err *err)
{
	json_t *j = img_json_parse_any(data, len, what, err);
	if (j && !json_is_object(j)) {
		json_decref(j);
		ckt_err_failw(err, CKT_EFORMAT, "not a JSON object", "parse %s", what);
		return NULL;
	}
	return j;
}

static int get(json_t *obj, const char *key, bool required, const char *what, json_t **v,
	       struct ckt_err *err)
{
	*v = json_object_get(obj, key);
	if (!*v && required)
		return ckt_err_failw(err, CKT_EFORMAT, "a required field is missing",
				     "%s: no '%s'", what, key);
	return 0;
}

static int wrong(const char *what, const char *key, const char *type, struct ckt_err *err)
{
	return ckt_err_fail(err, CKT_EFORMAT, "%s: '%s' is not %s", what, key, type);
}

int img_json_str(json_t *obj, const char *key, bool required, const char *what,
		 const char **out, struct ckt_err *err)
{
	json_t *v;
	*out = NULL;
	if (get(obj, key, required, what, &v, err) < 0)
		return -CKT_EFORMAT;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return wrong(what, key, "a string", err);
	*out = json_string_value(v);
	return 0;
}

int img_json_int(json_t *obj, const char *key, bool required, const char *what, int64_t *out,
		 struct ckt_err *err)
{
	json_t *v;
	*out = 0;
	if (get(obj, key, required, what, &v, err) < 0)
		return -CKT_EFORMAT;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return wrong(what, key, "an integer", err);
	*out = (int64_t)json_integer_value(v);
	return 0;
}

int img_json_obj(json_t *obj, const char *key, bool required, const char *what, json_t **out,
		 struct ckt_err *err)
{
	if (get(obj, key, required, what, out, err) < 0)
		return -CKT_EFORMAT;
	if (*out && json_is_null(*out) && !required)
		*out = NULL;
	if (*out && !json_is_object(*out))
		return wrong(what, key, "an object", err);
	return 0;
}

int img_json_arr(json_t *obj, const char *key, bool required, const char *what, json_t **out,
		 struct ckt_err *err)
{
	if (get(obj, key, required, what, out, err) < 0)
		return -CKT_EFORMAT;
	if (*out && json_is_null(*out) && !required)
		*out = NULL;
	if (*out && !json_is_array(*out))
		return wrong(what, key, "an array", err);
	return 0;
}

int img_json_strv(json_t *obj, const char *key, const char *what, char ***out,
		  struct ckt_err *err)
{
	json_t *a, *v;
	size_t i;

	*out = NULL;
	if (img_json_arr(obj, key, false, what, &a, err) < 0)
		return -CKT_EFORMAT;
	if (!a)
		return 0;
	char **strv = xcalloc(json_array_size(a) + 1, sizeof(char *));
	json_array_foreach(a, i, v) {
		if (!json_is_string(v)) {
			ckt_strv_free(strv);
			return ckt_err_fail(err, CKT_EFORMAT, "%s: '%s'[%zu] is not a string", what,
					    key, i);
		}
		strv[i] = xstrdup(json_string_value(v));
	}
	*out = strv;
	return 0;
}

int img_json_desc(json_t *obj, const char *what, struct store_desc *d, struct ckt_err *err)
{
	const char *mt, *digest;
	int64_t size;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(obj))
		return ckt_err_fail(err, CKT_EFORMAT, "%s: descriptor is not an object", what);
	if (img_json_str(obj, "mediaType", false, what, &mt, err) < 0 ||
	    img_json_str(obj, "digest", true, what, &digest, err) < 0 ||
	    img_json_int(obj, "size", true, what, &size, err) < 0)
		return -CKT_EFORMAT;
	if (size < 0)
		return ckt_err_fail(err, CKT_EFORMAT, "%s: negative size %lld", what,
				    (long long)size);
	if (strlen(digest) >= STORE_DIGEST_MAX || !store_digest_valid(digest)) {
		enum store_digest_alg alg;
		const char *hex;
		store_digest_parse(digest, &alg, &hex, err);
		return ckt_err_wrap(err, "%s", what);
	}
	memcpy(d->digest, digest, strlen(digest) + 1);
	d->media_type = mt ? xstrdup(mt) : NULL;
	d->size = size;
	return 0;
}

json_t *img_json_from_desc(const struct store_desc *d)
{
	json_t *o = json_object();
	if (d->media_type)
		json_object_set_new(o, "mediaType", json_string(d->media_type));
	json_object_set_new(o, "digest", json_string(d->digest));
	json_object_set_new(o, "size", json_integer(d->size));
	return o;
}

char *img_json_dump(const json_t *j, size_t *len)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		abort();
	if (len)
		*len = strlen(s);
	return s;
}
