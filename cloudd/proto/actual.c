/* actual.c -- the actual-state report (node -> controller): parse and check into C structs, render back to JSON */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actual.h"
#include "jsonutil.h"

static const char *const actual_statuses[] = { "pending", "running", "stopping", "stopped", "error", NULL };
static const char *const actual_powers[] = { "running", "stopped", "deleted", NULL };
static const char *const actual_formats[] = { "qcow2", "raw", "kernel", NULL };

const char *actual_status_name(enum actual_status status)
{
	return actual_statuses[status];
}

/* --- parsing ----------------------------------------------------------------------- */

/*
 * Free text (an error message, a source): any string of at most
 * ACTUAL_MAX_TEXT bytes, or null / absent (*out stays NULL). 1, 0 or -1.
 */
static int actual_text(json_t *obj, const char *path, const char *key, char **out, struct errmsg *err)
{
	json_t *v = json_object_get(obj, key);
	char p[JU_PATH_MAX];

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	ju_path(p, sizeof(p), path, key);
	if (!json_is_string(v)) {
		errmsg_set(err, p, "must be a string");
		return -1;
	}
	if (json_string_length(v) > ACTUAL_MAX_TEXT) {
		errmsg_set(err, p, "longer than %d bytes", ACTUAL_MAX_TEXT);
		return -1;
	}
	*out = strdup(json_string_value(v));
	if (*out == NULL) {
		errmsg_set(err, p, "out of memory");
		return -1;
	}
	return 1;
}

/* Any JSON value kept as reported (diagnostics the controller only shows); null / absent is NULL. */
static json_t *actual_opaque(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return v == NULL || json_is_null(v) ? NULL : json_incref(v);
}

/* The array at key (absent: size 0) and room for its entries in *items (of size each). */
static int actual_array(json_t *obj, const char *key, size_t max, size_t size, json_t **arr, void **items,
			struct errmsg *err)
{
	*items = NULL;
	if (ju_array(obj, "", key, 0, max, arr, err) < 0) {
		errno = *arr && json_is_array(*arr) ? E2BIG : EINVAL;
		return -1;
	}
	if (*arr == NULL || json_array_size(*arr) == 0)
		return 0;
	*items = calloc(json_array_size(*arr), size);
	if (*items == NULL) {
		errmsg_set(err, key, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static int actual_instance(json_t *obj, const char *path, struct actual_instance *in, struct errmsg *err)
{
	char p[JU_PATH_MAX];
	json_t *v;
	int n, rc;

	if (!json_is_object(obj)) {
		errmsg_set(err, path, "must be an object with id and status");
		return -1;
	}
	if (ju_string_copy(obj, path, "id", 1, in->id, sizeof(in->id), err) < 0 ||
	    ju_enum(obj, path, "status", 1, actual_statuses, &n, err) < 0)
		return -1;
	in->status = (enum actual_status)n;
	rc = ju_enum(obj, path, "desired", 0, actual_powers, &n, err);
	if (rc < 0)
		return -1;
	in->has_desired = rc == 1;
	in->desired = rc == 1 ? (enum state_power)n : STATE_POWER_DELETED;
	if (ju_int(obj, path, "pid", 0, 1, 0x7fffffff, &in->pid, err) < 0)
		return -1;
	rc = ju_int(obj, path, "restarts", 0, 0, 0x7fffffffffffffffLL, &in->restarts, err);
	if (rc < 0 || ju_int(obj, path, "reboot", 0, 0, STATE_MAX_REBOOT, &in->reboot, err) < 0)
		return -1;
	in->has_runtime = rc == 1 || json_object_get(obj, "reboot") != NULL;
	v = json_object_get(obj, "held");
	if (v && !json_is_null(v) && !json_is_string(v)) {
		errmsg_set(err, ju_path(p, sizeof(p), path, "held"), "must be a string (why)");
		return -1;
	}
	in->held = v && json_is_string(v);
	if (actual_text(obj, path, "error", &in->error, err) < 0)
		return -1;
	in->last_exit = actual_opaque(obj, "last_exit");
	return 0;
}

static int actual_template(json_t *obj, const char *path, struct actual_template *t, struct errmsg *err)
{
	int n;

	if (!json_is_object(obj)) {
		errmsg_set(err, path, "must be an object");
		return -1;
	}
	if (ju_string_copy(obj, path, "id", 1, t->id, sizeof(t->id), err) < 0 ||
	    ju_enum(obj, path, "format", 0, actual_formats, &n, err) < 0)
		return -1;
	t->format = ju_enum(obj, path, "format", 0, actual_formats, &n, NULL) == 1 ? (enum state_format)n : STATE_FMT_QCOW2;
	if (ju_bool(obj, path, "ready", 0, &t->ready, err) < 0 || actual_text(obj, path, "error", &t->error, err) < 0)
		return -1;
	return 0;
}

int actual_from_json(json_t *root, struct actual_doc *out, struct errmsg *err)
{
	struct actual_doc doc;
	char p[JU_PATH_MAX];
	json_t *arr, *net;
	void *items;
	size_t i;
	int rc;

	memset(&doc, 0, sizeof(doc));
	memset(out, 0, sizeof(*out));
	errno = EINVAL;
	if (!json_is_object(root)) {
		errmsg_set(err, "", "the report must be a JSON object");
		return -1;
	}
	rc = ju_int(root, "", "revision", 0, 0, 0x7fffffffffffffffLL, &doc.revision, err);
	if (rc < 0)
		goto err;
	doc.has_desired = rc == 1;
	if (actual_text(root, "", "source", &doc.source, err) < 0 ||
	    actual_text(root, "", "applied_at", &doc.applied_at, err) < 0 ||
	    ju_bool(root, "", "converged", 0, &doc.converged, err) < 0 ||
	    ju_int(root, "", "rejected_total", 0, 0, 0x7fffffffffffffffLL, &doc.rejected_total, err) < 0)
		goto err;
	doc.last_error = actual_opaque(root, "last_error");
	doc.events = actual_opaque(root, "events");
	rc = ju_object(root, "", "network", 0, &net, err);
	if (rc < 0)
		goto err;
	if (rc == 1) {
		doc.has_network = 1;
		if (ju_string_copy(net, "network", "bridge", 0, doc.network_bridge, sizeof(doc.network_bridge), err) < 0 ||
		    ju_bool(net, "network", "applied", 0, &doc.network_applied, err) < 0 ||
		    actual_text(net, "network", "error", &doc.network_error, err) < 0)
			goto err;
	}

	if (actual_array(root, "templates", ACTUAL_MAX_TEMPLATES, sizeof(*doc.templates), &arr, &items, err) < 0)
		goto err_errno;
	doc.templates = items;
	for (i = 0; arr && i < json_array_size(arr); i++) {
		doc.n_templates++;
		if (actual_template(json_array_get(arr, i), ju_index(p, sizeof(p), "templates", i), &doc.templates[i], err) < 0)
			goto err;
	}
	if (actual_array(root, "instances", ACTUAL_MAX_INSTANCES, sizeof(*doc.instances), &arr, &items, err) < 0)
		goto err_errno;
	doc.instances = items;
	for (i = 0; arr && i < json_array_size(arr); i++) {
		doc.n_instances++;
		if (actual_instance(json_array_get(arr, i), ju_index(p, sizeof(p), "instances", i), &doc.instances[i], err) < 0)
			goto err;
	}
	if (actual_array(root, "orphan_volumes", ACTUAL_MAX_VOLUMES, sizeof(*doc.orphan_volumes), &arr, &items, err) < 0)
		goto err_errno;
	doc.orphan_volumes = items;
	for (i = 0; arr && i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);
		struct actual_volume *vol = &doc.orphan_volumes[i];

		ju_index(p, sizeof(p), "orphan_volumes", i);
		if (!json_is_object(o)) {
			errmsg_set(err, p, "must be an object with instance and disk");
			goto err;
		}
		if (ju_string_copy(o, p, "instance", 1, vol->instance, sizeof(vol->instance), err) < 0 ||
		    ju_string_copy(o, p, "disk", 1, vol->disk, sizeof(vol->disk), err) < 0)
			goto err;
		doc.n_orphan_volumes++;
	}
	*out = doc;
	return 0;

err:
	errno = EINVAL;
err_errno:
	rc = errno;
	actual_free(&doc);
	errno = rc;
	return -1;
}

int actual_parse(const char *text, size_t len, struct actual_doc *out, struct errmsg *err)
{
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > ACTUAL_MAX_BYTES) {
		errmsg_set(err, "", "report larger than %d bytes", ACTUAL_MAX_BYTES);
		errno = E2BIG;
		return -1;
	}
	root = ju_parse(text, len, err);
	if (root == NULL) {
		errno = EINVAL;
		return -1;
	}
	rc = actual_from_json(root, out, err);
	rc = rc < 0 ? -errno : 0;
	json_decref(root);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

void actual_free(struct actual_doc *doc)
{
	for (size_t i = 0; i < doc->n_instances; i++) {
		free(doc->instances[i].error);
		json_decref(doc->instances[i].last_exit);
	}
	for (size_t i = 0; i < doc->n_templates; i++)
		free(doc->templates[i].error);
	free(doc->instances);
	free(doc->templates);
	free(doc->orphan_volumes);
	free(doc->source);
	free(doc->applied_at);
	free(doc->network_error);
	json_decref(doc->last_error);
	json_decref(doc->events);
	memset(doc, 0, sizeof(*doc));
}

const struct actual_instance *actual_find_instance(const struct actual_doc *doc, const char *id)
{
	for (size_t i = 0; i < doc->n_instances; i++)
		if (strcmp(doc->instances[i].id, id) == 0)
			return &doc->instances[i];
	return NULL;
}

/* --- rendering ---------------------------------------------------------------------- */

/* Sets key to value (a new reference) and counts failures (NULL: out of memory) in *bad. */
static void actual_set(json_t *obj, const char *key, json_t *value, int *bad)
{
	if (obj == NULL || value == NULL) {
		json_decref(value);
		(*bad)++;
	} else if (json_object_set_new(obj, key, value) < 0) {
		(*bad)++;
	}
}

static json_t *actual_string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *actual_instance_json(const struct actual_instance *in, int *bad)
{
	json_t *o = json_object();

	actual_set(o, "id", json_string(in->id), bad);
	actual_set(o, "desired", in->has_desired ? json_string(actual_powers[in->desired]) : json_null(), bad);
	actual_set(o, "status", json_string(actual_statuses[in->status]), bad);
	if (!in->has_runtime)
		return o;
	if (in->pid > 0)
		actual_set(o, "pid", json_integer(in->pid), bad);
	actual_set(o, "restarts", json_integer(in->restarts), bad);
	actual_set(o, "reboot", json_integer(in->reboot), bad);
	if (in->held)
		actual_set(o, "held", json_string("restart policy"), bad);
	if (in->error)
		actual_set(o, "error", json_string(in->error), bad);
	if (in->last_exit)
		actual_set(o, "last_exit", json_incref(in->last_exit), bad);
	return o;
}

json_t *actual_to_json(const struct actual_doc *doc)
{
	json_t *root = json_object(), *arr;
	int bad = 0;

	actual_set(root, "revision", doc->has_desired ? json_integer(doc->revision) : json_null(), &bad);
	actual_set(root, "source", doc->has_desired ? actual_string_or_null(doc->source) : json_null(), &bad);
	actual_set(root, "applied_at", doc->has_desired ? actual_string_or_null(doc->applied_at) : json_null(), &bad);
	actual_set(root, "converged", json_boolean(doc->converged), &bad);
	actual_set(root, "last_error", doc->last_error ? json_incref(doc->last_error) : json_null(), &bad);
	actual_set(root, "rejected_total", json_integer(doc->rejected_total), &bad);
	if (doc->has_network)
		actual_set(root, "network",
			   json_pack("{s:s,s:b,s:o}", "bridge", doc->network_bridge, "applied", doc->network_applied,
				     "error", actual_string_or_null(doc->network_error)),
			   &bad);
	arr = json_array();
	for (size_t i = 0; arr && i < doc->n_templates; i++) {
		const struct actual_template *t = &doc->templates[i];

		if (json_array_append_new(arr, json_pack("{s:s,s:s,s:b,s:o}", "id", t->id, "format",
							 actual_formats[t->format], "ready", t->ready, "error",
							 actual_string_or_null(t->error))) < 0)
			bad++;
	}
	actual_set(root, "templates", arr, &bad);
	arr = json_array();
	for (size_t i = 0; arr && i < doc->n_instances; i++)
		if (json_array_append_new(arr, actual_instance_json(&doc->instances[i], &bad)) < 0)
			bad++;
	actual_set(root, "instances", arr, &bad);
	arr = json_array();
	for (size_t i = 0; arr && i < doc->n_orphan_volumes; i++)
		if (json_array_append_new(arr, json_pack("{s:s,s:s}", "instance", doc->orphan_volumes[i].instance, "disk",
							 doc->orphan_volumes[i].disk)) < 0)
			bad++;
	actual_set(root, "orphan_volumes", arr, &bad);
	actual_set(root, "events", doc->events ? json_deep_copy(doc->events) : json_array(), &bad);
	if (bad || root == NULL || json_object_get(root, "instances") == NULL) {
		json_decref(root);
		errno = ENOMEM;
		return NULL;
	}
	return root;
}
