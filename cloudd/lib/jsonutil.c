/* jsonutil.c -- validating access to JSON documents: typed fields, unknown-field checks, field paths */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "jsonutil.h"

const char *ju_path(char *out, size_t outlen, const char *parent, const char *key)
{
	if (parent == NULL || parent[0] == '\0')
		snprintf(out, outlen, "%s", key);
	else
		snprintf(out, outlen, "%s.%s", parent, key);
	return out;
}

const char *ju_index(char *out, size_t outlen, const char *parent, size_t index)
{
	snprintf(out, outlen, "%s[%zu]", parent ? parent : "", index);
	return out;
}

static const char *ju_type_name(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "something else";
}

int ju_check_keys(json_t *obj, const char *path, const char *const *allowed, struct errmsg *err)
{
	const char *key;
	json_t *v;
	char p[JU_PATH_MAX];

	json_object_foreach(obj, key, v) {
		int ok = 0;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok) {
			struct buf list = BUF_INIT;
			for (size_t i = 0; allowed[i]; i++)
				buf_printf(&list, "%s%s", i ? ", " : "", allowed[i]);
			errmsg_set(err, ju_path(p, sizeof(p), path, key),
				   "unknown field (known: %s)", list.data ? list.data : "none");
			buf_free(&list);
			return -1;
		}
	}
	return 0;
}

/*
 * The field, or NULL; -1 when a required field is absent. null counts as
 * absent. The field's path is written into p only when it is needed, for an
 * error: a document of a thousand instances reads tens of thousands of fields.
 */
static int ju_field(json_t *parent, const char *path, const char *key, int required, json_t **out,
		    struct errmsg *err)
{
	char p[JU_PATH_MAX];

	*out = json_object_get(parent, key);
	if (*out == NULL || json_is_null(*out)) {
		*out = NULL;
		if (required) {
			errmsg_set(err, ju_path(p, sizeof(p), path, key), "required field is missing");
			return -1;
		}
		return 0;
	}
	return 1;
}

static int ju_wrong_type(const char *path, const char *key, const char *want, json_t *v, struct errmsg *err)
{
	char p[JU_PATH_MAX];

	errmsg_set(err, ju_path(p, sizeof(p), path, key), "must be %s, not %s", want, ju_type_name(v));
	return -1;
}

int ju_object(json_t *parent, const char *path, const char *key, int required, json_t **out,
	      struct errmsg *err)
{
	int rc = ju_field(parent, path, key, required, out, err);

	if (rc <= 0)
		return rc;
	if (!json_is_object(*out))
		return ju_wrong_type(path, key, "an object", *out, err);
	return 1;
}

int ju_array(json_t *parent, const char *path, const char *key, int required, size_t max,
	     json_t **out, struct errmsg *err)
{
	char p[JU_PATH_MAX];
	int rc = ju_field(parent, path, key, required, out, err);

	if (rc <= 0)
		return rc;
	if (!json_is_array(*out))
		return ju_wrong_type(path, key, "an array", *out, err);
	if (json_array_size(*out) > max) {
		errmsg_set(err, ju_path(p, sizeof(p), path, key), "more than %zu entries", max);
		return -1;
	}
	return 1;
}

int ju_string(json_t *parent, const char *path, const char *key, int required, size_t maxlen,
	      const char **out, struct errmsg *err)
{
	char p[JU_PATH_MAX];
	json_t *v;
	int rc = ju_field(parent, path, key, required, &v, err);
	size_t len;

	*out = NULL;
	if (rc <= 0)
		return rc;
	if (!json_is_string(v))
		return ju_wrong_type(path, key, "a string", v, err);
	len = json_string_length(v);
	if (len > maxlen) {
		errmsg_set(err, ju_path(p, sizeof(p), path, key), "longer than %zu bytes", maxlen);
		return -1;
	}
	*out = json_string_value(v);
	if (strlen(*out) != len) {
		errmsg_set(err, ju_path(p, sizeof(p), path, key), "contains a NUL character");
		return -1;
	}
	return 1;
}

int ju_string_copy(json_t *parent, const char *path, const char *key, int required, char *out,
		   size_t outlen, struct errmsg *err)
{
	const char *s;
	int rc = ju_string(parent, path, key, required, outlen - 1, &s, err);

	if (rc == 1)
		memcpy(out, s, strlen(s) + 1);
	else
		out[0] = '\0';
	return rc;
}

int ju_int(json_t *parent, const char *path, const char *key, int required, long long min,
	   long long max, long long *out, struct errmsg *err)
{
	char p[JU_PATH_MAX];
	json_t *v;
	int rc = ju_field(parent, path, key, required, &v, err);

	if (rc <= 0)
		return rc;
	if (!json_is_integer(v))
		return ju_wrong_type(path, key, "an integer", v, err);
	*out = json_integer_value(v);
	if (*out < min || *out > max) {
		errmsg_set(err, ju_path(p, sizeof(p), path, key), "%lld is out of range %lld..%lld", *out, min,
			   max);
		return -1;
	}
	return 1;
}

int ju_bool(json_t *parent, const char *path, const char *key, int required, int *out,
	    struct errmsg *err)
{
	json_t *v;
	int rc = ju_field(parent, path, key, required, &v, err);

	if (rc <= 0)
		return rc;
	if (!json_is_boolean(v))
		return ju_wrong_type(path, key, "true or false", v, err);
	*out = json_is_true(v);
	return 1;
}

int ju_enum(json_t *parent, const char *path, const char *key, int required,
	    const char *const *choices, int *out, struct errmsg *err)
{
	char p[JU_PATH_MAX];
	const char *s;
	struct buf list = BUF_INIT;
	int rc = ju_string(parent, path, key, required, 64, &s, err);

	if (rc <= 0)
		return rc;
	for (int i = 0; choices[i]; i++) {
		if (strcmp(s, choices[i]) == 0) {
			*out = i;
			return 1;
		}
	}
	for (int i = 0; choices[i]; i++)
		buf_printf(&list, "%s%s", i ? ", " : "", choices[i]);
	errmsg_set(err, ju_path(p, sizeof(p), path, key), "\"%s\" is not one of: %s", s,
		   list.data ? list.data : "");
	buf_free(&list);
	return -1;
}

static json_t *ju_loaded(json_t *v, const json_error_t *je, struct errmsg *err)
{
	if (v == NULL)
		errmsg_set(err, "", "not valid JSON: line %d, column %d: %s", je->line, je->column, je->text);
	return v;
}

json_t *ju_parse(const char *text, size_t len, struct errmsg *err)
{
	json_error_t je;

	return ju_loaded(json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), &je, err);
}

json_t *ju_parse_file(FILE *f, struct errmsg *err)
{
	json_error_t je;

	return ju_loaded(json_loadf(f, JSON_REJECT_DUPLICATES, &je), &je, err);
}
