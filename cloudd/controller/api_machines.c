/* api_machines.c -- /v1/machines: netboot profiles keyed by MAC (role, labels, image version) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static const char machine_schema[] =
	"{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"mac\"],\"properties\":{"
	"\"mac\":{\"type\":\"string\",\"pattern\":\"^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$\"},"
	"\"name\":{\"type\":[\"string\",\"null\"],\"pattern\":\"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$\"},"
	"\"role\":{\"type\":\"string\",\"pattern\":\"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$\"},"
	"\"labels\":{\"type\":\"object\",\"maxProperties\":32,\"additionalProperties\":{\"type\":\"string\",\"maxLength\":128}},"
	"\"image_version\":{\"type\":[\"string\",\"null\"],\"description\":\"pinned image version; null follows the default\"}}}";

static const char machine_patch_schema[] =
	"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
	"\"name\":{\"type\":[\"string\",\"null\"]},\"role\":{\"type\":\"string\"},"
	"\"labels\":{\"type\":\"object\"},\"image_version\":{\"type\":[\"string\",\"null\"]}}}";

/*
 * Validates the optional fields shared by create and update; fills labels
 * text. Returns 0, or -1 with the 400 reply filled.
 */
static int machine_check_common(json_t *doc, struct httpd_response *resp, char **labels_text)
{
	json_t *v;

	*labels_text = NULL;
	v = json_object_get(doc, "name");
	if (v && !json_is_null(v) && (!json_is_string(v) || !util_name_valid(json_string_value(v), 63))) {
		httpd_reply_error(resp, 400, "bad_field",
				  "name: expected a name of a-z, 0-9 and '-' (at most 63, not starting or ending with '-') or null");
		return -1;
	}
	v = json_object_get(doc, "role");
	if (v && (!json_is_string(v) || !util_name_valid(json_string_value(v), 63))) {
		httpd_reply_error(resp, 400, "bad_field", "role: expected a role name of a-z, 0-9 and '-' (at most 63)");
		return -1;
	}
	v = json_object_get(doc, "image_version");
	if (v && !json_is_null(v) && (!json_is_string(v) || !util_version_valid(json_string_value(v)))) {
		httpd_reply_error(resp, 400, "bad_field", "image_version: expected an image version string or null");
		return -1;
	}
	v = json_object_get(doc, "labels");
	if (v) {
		const char *key;
		json_t *value;

		if (!json_is_object(v)) {
			httpd_reply_error(resp, 400, "bad_field", "labels: expected an object of strings");
			return -1;
		}
		if (json_object_size(v) > CTL_MAX_LABELS) {
			httpd_reply_error(resp, 400, "bad_field", "labels: at most %d labels", CTL_MAX_LABELS);
			return -1;
		}
		json_object_foreach(v, key, value) {
			if (!util_name_valid(key, 63)) {
				httpd_reply_error(resp, 400, "bad_field", "labels: bad key \"%.64s\" (a-z, 0-9, '-')", key);
				return -1;
			}
			if (!json_is_string(value) || json_string_length(value) > 128 ||
			    strlen(json_string_value(value)) != json_string_length(value)) {
				httpd_reply_error(resp, 400, "bad_field", "labels.%s: expected a string of at most 128 bytes", key);
				return -1;
			}
			for (const unsigned char *p = (const unsigned char *)json_string_value(value); *p; p++) {
				if (*p < 0x20 || *p == 0x7f) {
					httpd_reply_error(resp, 400, "bad_field", "labels.%s: control characters are not allowed", key);
					return -1;
				}
			}
		}
		*labels_text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
		if (*labels_text == NULL) {
			errno = ENOMEM;
			return -2;
		}
	}
	return 0;
}

static int machines_create(struct controller *ctrl, const struct auth_principal *who,
			   struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "mac", "name", "role", "labels", "image_version", NULL };
	struct machine_req r = { 0 };
	struct op_error err;
	json_t *doc, *v, *created;
	char mac[18], *labels = NULL, loc[80];
	int rc = 0;

	(void)who;
	if (op_parse_request(req, resp, fields, &doc) < 0)
		return 0;
	v = json_object_get(doc, "mac");
	if (v == NULL) {
		httpd_reply_error(resp, 400, "missing_field", "mac: required");
		goto out;
	}
	if (!json_is_string(v) || util_mac_parse(json_string_value(v), mac) < 0) {
		httpd_reply_error(resp, 400, "bad_field", "mac: not a unicast MAC address like 52:54:00:12:34:56");
		goto out;
	}
	if ((rc = machine_check_common(doc, resp, &labels)) < 0) {
		rc = rc == -2 ? -1 : 0;
		goto out;
	}
	r.mac = mac;
	r.name = json_string_value(json_object_get(doc, "name"));
	r.role = json_string_value(json_object_get(doc, "role"));
	r.labels = labels;
	r.image_version = json_string_value(json_object_get(doc, "image_version"));
	if (machine_create(ctrl, &r, &created, &err) < 0) {
		rc = op_reply_error(resp, &err);
		goto out;
	}
	snprintf(loc, sizeof(loc), "/v1/machines/%s", json_string_value(json_object_get(created, "id")));
	httpd_add_header(resp, "Location", loc);
	rc = httpd_reply_json(resp, 201, created);
out:
	free(labels);
	json_decref(doc);
	return rc;
}

static json_t *machine_row(struct db *db, sqlite3_stmt *st, void *ctx)
{
	(void)db;
	return machine_json(st, ctx);
}

static int machines_list(struct controller *ctrl, const struct auth_principal *who,
			 struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const states[] = { "pending", "approved", NULL };
	struct api_list l = { "SELECT " MACHINE_COLS ", id FROM machines WHERE (?1 IS NULL OR id > ?1)"
			      " AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR role = ?4) ORDER BY id LIMIT ?2",
			      NULL, 0, machine_row, NULL, NULL, 0 };

	(void)who;
	return op_reply_list_by_state(ctrl, req, resp, states, &l);
}

static int machines_show(struct controller *ctrl, const struct auth_principal *who,
			 struct httpd_request *req, struct httpd_response *resp)
{
	return api_reply_found(ctrl, who, req, resp, machine_find, "machine");
}

/* The fields a change names, for its event: "name, labels". */
static void machine_changes(json_t *doc, char *out, size_t outlen)
{
	const char *key;
	json_t *value;
	size_t len = 0;

	out[0] = '\0';
	json_object_foreach(doc, key, value) {
		int n = snprintf(out + len, outlen - len, "%s%s", len ? ", " : "", key);
		if (n > 0 && (size_t)n < outlen - len)
			len += (size_t)n;
	}
}

static int machines_update(struct controller *ctrl, const struct auth_principal *who,
			   struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "name", "role", "labels", "image_version", "mac", NULL };
	struct op_ref ref = { httpd_param(req, "id"), NULL, who->key_id };
	struct machine_req r = { 0 };
	struct op_error err;
	json_t *doc, *updated;
	char *labels = NULL, changes[256];
	int rc = 0;

	if (op_parse_request(req, resp, fields, &doc) < 0)
		return 0;
	if ((rc = machine_check_common(doc, resp, &labels)) < 0) {
		rc = rc == -2 ? -1 : 0;
		goto out;
	}
	machine_changes(doc, changes, sizeof(changes));
	r.has_mac = json_object_get(doc, "mac") != NULL;
	r.mac = json_string_value(json_object_get(doc, "mac"));
	r.has_name = json_object_get(doc, "name") != NULL;
	r.name = json_string_value(json_object_get(doc, "name"));
	r.role = json_string_value(json_object_get(doc, "role"));
	r.labels = labels;
	r.has_image_version = json_object_get(doc, "image_version") != NULL;
	r.image_version = json_string_value(json_object_get(doc, "image_version"));
	r.changes = changes;
	if (machine_update(ctrl, &ref, &r, &updated, &err) < 0)
		rc = op_reply_error(resp, &err);
	else
		rc = httpd_reply_json(resp, 200, updated);
out:
	free(labels);
	json_decref(doc);
	return rc;
}

static int machines_delete(struct controller *ctrl, const struct auth_principal *who,
			   struct httpd_request *req, struct httpd_response *resp)
{
	return op_reply_deleted(ctrl, who, req, resp, "id", machine_delete);
}

/*
 * POST /v1/machines/{id}/approve: a machine awaiting approval
 * (unknown-mac = pending) may now get enrollment tokens. Approving an
 * approved machine changes nothing and answers the same.
 */
static int machines_approve(struct controller *ctrl, const struct auth_principal *who,
			    struct httpd_request *req, struct httpd_response *resp)
{
	struct op_ref ref = { httpd_param(req, "id"), NULL, who->key_id };
	struct op_error err;
	json_t *approved;

	if (req->body_len) {
		static const char *const none[] = { NULL };
		json_t *doc;

		if (op_parse_request(req, resp, none, &doc) < 0)
			return 0;
		json_decref(doc);
	}
	if (machine_approve(ctrl, &ref, &approved, &err) < 0)
		return op_reply_error(resp, &err);
	return httpd_reply_json(resp, 200, approved);
}

static const struct api_route_def machine_routes[] = {
	{ "GET", "/v1/machines", machines_list, API_ADMIN | API_CACHE,
	  "machines (netboot profiles); ?role=, ?state=pending|approved, ?limit=, ?cursor=", NULL },
	{ "POST", "/v1/machines", machines_create, API_ADMIN,
	  "register a machine by MAC: role, labels, image version pin (201; 409 when the MAC exists)", machine_schema },
	{ "GET", "/v1/machines/{id}", machines_show, API_ADMIN, "one machine, by id, MAC or name", NULL },
	{ "PATCH", "/v1/machines/{id}", machines_update, API_ADMIN,
	  "change role, name, labels or image version (null: follow the default)", machine_patch_schema },
	{ "DELETE", "/v1/machines/{id}", machines_delete, API_ADMIN, "forget a machine (204)", NULL },
	{ "POST", "/v1/machines/{id}/approve", machines_approve, API_ADMIN,
	  "approve a machine awaiting approval (unknown-mac = pending): its boot scripts carry enrollment "
	  "tokens from now on (200; approving an approved machine is fine)",
	  NULL },
};

int api_machines_register(struct controller *ctrl)
{
	return API_ROUTE_TABLE(ctrl, machine_routes, NULL);
}
