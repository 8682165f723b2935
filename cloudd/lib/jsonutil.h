/* jsonutil.h -- validating access to JSON documents: typed fields, unknown-field checks, field paths */
#ifndef CLOUDD_JSONUTIL_H
#define CLOUDD_JSONUTIL_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "errmsg.h"

/*
 * Validators walk a document with a field path ("instances[1].nics[0]") and
 * stop at the first error, which names the full path of the field:
 *
 *     char p[JU_PATH_MAX];
 *     ju_path(p, sizeof(p), parent, "mac");           // "instances[1].nics[0].mac"
 *     if (ju_string(obj, parent, "mac", 1, 17, &mac, err) < 0) ...
 *
 * Getters return 1 when the field is present and valid, 0 when absent and not
 * required, -1 (err filled) otherwise.
 */

#define JU_PATH_MAX 256

/* parent + "." + key (or just key at the top level) */
const char *ju_path(char *out, size_t outlen, const char *parent, const char *key);
/* parent + "[index]" */
const char *ju_index(char *out, size_t outlen, const char *parent, size_t index);

/* Rejects any key of obj not in the NULL-terminated allowed list. */
int ju_check_keys(json_t *obj, const char *path, const char *const *allowed, struct errmsg *err);

int ju_object(json_t *parent, const char *path, const char *key, int required, json_t **out,
	      struct errmsg *err);
int ju_array(json_t *parent, const char *path, const char *key, int required, size_t max,
	     json_t **out, struct errmsg *err);
/* A string of at most maxlen bytes, without control characters. */
int ju_string(json_t *parent, const char *path, const char *key, int required, size_t maxlen,
	      const char **out, struct errmsg *err);
/* Like ju_string, copied into out (outlen bytes including the NUL). */
int ju_string_copy(json_t *parent, const char *path, const char *key, int required, char *out,
		   size_t outlen, struct errmsg *err);
int ju_int(json_t *parent, const char *path, const char *key, int required, long long min,
	   long long max, long long *out, struct errmsg *err);
int ju_bool(json_t *parent, const char *path, const char *key, int required, int *out,
	    struct errmsg *err);
/* One of the NULL-terminated choices; *out is its index. */
int ju_enum(json_t *parent, const char *path, const char *key, int required,
	    const char *const *choices, int *out, struct errmsg *err);

/* Parses text (len bytes) as one JSON value; err names line and column. */
json_t *ju_parse(const char *text, size_t len, struct errmsg *err);
/* The same, read from f as it parses (no copy of the whole text); the caller bounds its size. */
json_t *ju_parse_file(FILE *f, struct errmsg *err);

#endif
