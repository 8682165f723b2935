/* api_machines.c -- /v1/machines: netboot profiles keyed by MAC (role, labels, image version) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

#define MACHINE_COLS "id, mac, name, role, labels, image_version, source, created_at, updated_at, state"

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

static json_t *machine_json(sqlite3_stmt *st)
{
	json_t *labels = json_loads(db_col_text(st, 4) ? db_col_text(st, 4) : "{}", 0, NULL);

	return json_pack("{s:s,s:s,s:s?,s:s,s:o,s:s?,s:s,s:s,s:o,s:o}", "id", db_col_text(st, 0), "mac",
			 db_col_text(st, 1), "name", db_col_text(st, 2), "role", db_col_text(st, 3), "labels",
			 labels ? labels : json_object(), "image_version", db_col_text(st, 5), "source",
			 db_col_text(st, 6), "state", db_col_text(st, 9), "created_at",
			 util_time_json(sqlite3_column_int64(st, 7)), "updated_at",
			 util_time_json(sqlite3_column_int64(st, 8)));
}

/* Under the lock: the machine with this id, MAC or name, or NULL. */
static json_t *machine_find(struct db *db, const char *ref)
{
	sqlite3_stmt *st;
	char mac[18];
	json_t *doc = NULL;

	st = db_prepare(db, "SELECT " MACHINE_COLS " FROM machines WHERE id = ?1 OR mac = ?2 OR name = ?1");
	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, ref);
	db_bind_text(st, 2, util_mac_parse(ref, mac) == 0 ? mac : "");
	if (sqlite3_step(st) == SQLITE_ROW)
		doc = machine_json(st);
	sqlite3_finalize(st);
	return doc;
}

static int image_exists(struct db *db, const char *version)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM images WHERE version = ?");
	int found = 0;

	if (st) {
		db_bind_text(st, 1, version);
		found = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return found;
}

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
	json_t *doc, *v, *created = NULL;
	char mac[18], id[40], *labels = NULL;
	const char *name, *role, *image;
	sqlite3_stmt *st;
	int rc = 0, step;

	(void)who;
	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0)
		goto out;
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
	name = json_string_value(json_object_get(doc, "name"));
	role = json_string_value(json_object_get(doc, "role"));
	image = json_string_value(json_object_get(doc, "image_version"));
	if (util_new_id(id, sizeof(id), "m") < 0) {
		rc = -1;
		goto out;
	}
	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0) {
		rc = -1;
		goto out_unlock;
	}
	if (image && !image_exists(&ctrl->db, image)) {
		db_rollback(&ctrl->db);
		httpd_reply_error(resp, 422, "unknown_image", "image_version: no published image %s", image);
		goto out_unlock;
	}
	st = db_prepare(&ctrl->db, "INSERT INTO machines (id, mac, name, role, labels, image_version, source,"
				  " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'api', strftime('%s','now'),"
				  " strftime('%s','now'))");
	if (st == NULL) {
		db_rollback(&ctrl->db);
		rc = -1;
		goto out_unlock;
	}
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, mac);
	db_bind_text(st, 3, name);
	db_bind_text(st, 4, role ? role : ctrl->cfg.default_role);
	db_bind_text(st, 5, labels ? labels : "{}");
	db_bind_text(st, 6, image);
	step = sqlite3_step(st);
	sqlite3_finalize(st);
	if (step == SQLITE_CONSTRAINT) {
		db_rollback(&ctrl->db);
		json_t *other = machine_find(&ctrl->db, mac);
		if (other) {
			httpd_reply_error(resp, 409, "conflict", "a machine with MAC %s exists: %s", mac,
					  json_string_value(json_object_get(other, "id")));
			json_decref(other);
		} else {
			httpd_reply_error(resp, 409, "conflict", "a machine named %s exists", name ? name : "?");
		}
		goto out_unlock;
	}
	if (step != SQLITE_DONE ||
	    db_event(&ctrl->db, "machine.created", id, "machine %s (%s) created, role %s", id, mac,
		     role ? role : ctrl->cfg.default_role) < 0 ||
	    db_commit(&ctrl->db) < 0) {
		db_rollback(&ctrl->db);
		rc = -1;
		goto out_unlock;
	}
	created = machine_find(&ctrl->db, id);
out_unlock:
	db_unlock(&ctrl->db);
	if (created) {
		char loc[80];
		snprintf(loc, sizeof(loc), "/v1/machines/%s", id);
		httpd_add_header(resp, "Location", loc);
		rc = httpd_reply_json(resp, 201, created);
		netboot_hosts_changed(ctrl);
	} else if (rc == 0 && resp->status == 200 && resp->body.len == 0) {
		rc = -1;
	}
out:
	free(labels);
	json_decref(doc);
	return rc;
}

static json_t *machine_row(struct db *db, sqlite3_stmt *st, void *ctx)
{
	(void)db, (void)ctx;
	return machine_json(st);
}

static int machines_list(struct controller *ctrl, const struct auth_principal *who,
			 struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "limit", "cursor", "role", "state", NULL };
	const char *params[2] = { httpd_query(req, "role"), httpd_query(req, "state") };
	struct api_list l = { "SELECT " MACHINE_COLS ", id FROM machines WHERE (?1 IS NULL OR id > ?1)"
			      " AND (?3 IS NULL OR role = ?3) AND (?4 IS NULL OR state = ?4) ORDER BY id LIMIT ?2",
			      params, 2, machine_row, NULL, NULL, 0 };

	(void)who;
	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	if (params[1] && strcmp(params[1], "pending") != 0 && strcmp(params[1], "approved") != 0)
		return httpd_reply_error(resp, 400, "bad_parameter", "state: one of pending, approved");
	return api_list_page(ctrl, req, resp, &l);
}

static int machines_show(struct controller *ctrl, const struct auth_principal *who,
			 struct httpd_request *req, struct httpd_response *resp)
{
	const char *ref = httpd_param(req, "id");
	json_t *doc;

	(void)who;
	db_lock(&ctrl->db);
	doc = machine_find(&ctrl->db, ref);
	db_unlock(&ctrl->db);
	if (doc == NULL)
		return httpd_reply_error(resp, 404, "not_found", "no machine %.64s", ref);
	return httpd_reply_json(resp, 200, doc);
}

static int machines_update(struct controller *ctrl, const struct auth_principal *who,
			   struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "name", "role", "labels", "image_version", "mac", NULL };
	const char *ref = httpd_param(req, "id");
	json_t *doc, *cur = NULL, *updated = NULL, *v;
	char *labels = NULL, changes[256] = "";
	sqlite3_stmt *st;
	const char *id;
	int rc = 0, step;

	(void)who;
	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0)
		goto out;
	if ((rc = machine_check_common(doc, resp, &labels)) < 0) {
		rc = rc == -2 ? -1 : 0;
		goto out;
	}
	db_lock(&ctrl->db);
	cur = machine_find(&ctrl->db, ref);
	if (cur == NULL) {
		httpd_reply_error(resp, 404, "not_found", "no machine %.64s", ref);
		goto out_unlock;
	}
	id = json_string_value(json_object_get(cur, "id"));
	v = json_object_get(doc, "mac");
	if (v) {
		char mac[18];
		if (!json_is_string(v) || util_mac_parse(json_string_value(v), mac) < 0) {
			httpd_reply_error(resp, 400, "bad_field", "mac: not a unicast MAC address like 52:54:00:12:34:56");
			goto out_unlock;
		}
		if (strcmp(mac, json_string_value(json_object_get(cur, "mac"))) != 0) {
			httpd_reply_error(resp, 422, "immutable_field",
					  "mac: a machine's MAC cannot change; delete it and add the new MAC");
			goto out_unlock;
		}
	}
	v = json_object_get(doc, "image_version");
	if (v && json_is_string(v) && !image_exists(&ctrl->db, json_string_value(v))) {
		httpd_reply_error(resp, 422, "unknown_image", "image_version: no published image %s",
				  json_string_value(v));
		goto out_unlock;
	}
	if (db_begin(&ctrl->db) < 0) {
		rc = -1;
		goto out_unlock;
	}
	st = db_prepare(&ctrl->db, "UPDATE machines SET"
				  " name = CASE WHEN ?1 THEN ?2 ELSE name END,"
				  " role = coalesce(?3, role),"
				  " labels = coalesce(?4, labels),"
				  " image_version = CASE WHEN ?5 THEN ?6 ELSE image_version END,"
				  " updated_at = strftime('%s','now') WHERE id = ?7");
	if (st == NULL) {
		db_rollback(&ctrl->db);
		rc = -1;
		goto out_unlock;
	}
	sqlite3_bind_int(st, 1, json_object_get(doc, "name") != NULL);
	db_bind_text(st, 2, json_string_value(json_object_get(doc, "name")));
	db_bind_text(st, 3, json_string_value(json_object_get(doc, "role")));
	db_bind_text(st, 4, labels);
	sqlite3_bind_int(st, 5, json_object_get(doc, "image_version") != NULL);
	db_bind_text(st, 6, json_string_value(json_object_get(doc, "image_version")));
	db_bind_text(st, 7, id);
	step = sqlite3_step(st);
	sqlite3_finalize(st);
	if (step == SQLITE_CONSTRAINT) {
		db_rollback(&ctrl->db);
		httpd_reply_error(resp, 409, "conflict", "another machine is named %s",
				  json_string_value(json_object_get(doc, "name")));
		goto out_unlock;
	}
	{
		const char *key;
		json_t *value;
		size_t len = 0;
		json_object_foreach(doc, key, value) {
			int n = snprintf(changes + len, sizeof(changes) - len, "%s%s", len ? ", " : "", key);
			if (n > 0 && (size_t)n < sizeof(changes) - len)
				len += (size_t)n;
		}
	}
	if (step != SQLITE_DONE ||
	    db_event(&ctrl->db, "machine.updated", id, "machine %s updated: %s", id, changes[0] ? changes : "nothing") < 0 ||
	    db_commit(&ctrl->db) < 0) {
		db_rollback(&ctrl->db);
		rc = -1;
		goto out_unlock;
	}
	updated = machine_find(&ctrl->db, id);
out_unlock:
	db_unlock(&ctrl->db);
	if (updated)
		rc = httpd_reply_json(resp, 200, updated);
	else if (rc == 0 && resp->body.len == 0)
		rc = -1;
out:
	json_decref(cur);
	free(labels);
	json_decref(doc);
	return rc;
}

static int machines_delete(struct controller *ctrl, const struct auth_principal *who,
			   struct httpd_request *req, struct httpd_response *resp)
{
	const char *ref = httpd_param(req, "id");
	json_t *cur;
	const char *p[1];
	int rc = 0;

	(void)who;
	db_lock(&ctrl->db);
	cur = machine_find(&ctrl->db, ref);
	if (cur == NULL) {
		db_unlock(&ctrl->db);
		return httpd_reply_error(resp, 404, "not_found", "no machine %.64s", ref);
	}
	p[0] = json_string_value(json_object_get(cur, "id"));
	if (db_begin(&ctrl->db) < 0 || db_exec(&ctrl->db, "DELETE FROM machines WHERE id = ?", 1, p) < 0 ||
	    db_event(&ctrl->db, "machine.deleted", p[0], "machine %s (%s) deleted", p[0],
		     json_string_value(json_object_get(cur, "mac"))) < 0 ||
	    db_commit(&ctrl->db) < 0) {
		db_rollback(&ctrl->db);
		rc = -1;
	}
	db_unlock(&ctrl->db);
	json_decref(cur);
	if (rc < 0)
		return -1;
	netboot_hosts_changed(ctrl);
	resp->status = 204;
	return 0;
}

/*
 * POST /v1/machines/{id}/approve: a machine awaiting approval
 * (unknown-mac = pending) may now get enrollment tokens. Approving an
 * approved machine changes nothing and answers the same.
 */
static int machines_approve(struct controller *ctrl, const struct auth_principal *who,
			    struct httpd_request *req, struct httpd_response *resp)
{
	const char *ref = httpd_param(req, "id");
	json_t *cur, *updated = NULL;
	const char *p[1];
	int rc = 0;

	if (req->body_len) {
		json_t *doc;
		static const char *const none[] = { NULL };
		if (api_parse_body(req, resp, &doc) < 0)
			return 0;
		rc = api_check_fields(doc, none, resp);
		json_decref(doc);
		if (rc < 0)
			return 0;
	}
	db_lock(&ctrl->db);
	cur = machine_find(&ctrl->db, ref);
	if (cur == NULL) {
		db_unlock(&ctrl->db);
		return httpd_reply_error(resp, 404, "not_found", "no machine %.64s", ref);
	}
	p[0] = json_string_value(json_object_get(cur, "id"));
	if (strcmp(json_string_value(json_object_get(cur, "state")), "pending") == 0 &&
	    (db_begin(&ctrl->db) < 0 ||
	     db_exec(&ctrl->db, "UPDATE machines SET state = 'approved', updated_at = strftime('%s','now') WHERE id = ?",
		     1, p) < 0 ||
	     db_event(&ctrl->db, "machine.approved", p[0], "machine %s (%s) approved by key %s", p[0],
		      json_string_value(json_object_get(cur, "mac")), who->key_id) < 0 ||
	     db_commit(&ctrl->db) < 0)) {
		db_rollback(&ctrl->db);
		rc = -1;
	}
	if (rc == 0)
		updated = machine_find(&ctrl->db, p[0]);
	db_unlock(&ctrl->db);
	json_decref(cur);
	if (updated == NULL)
		return -1;
	return httpd_reply_json(resp, 200, updated);
}

int api_machines_register(struct controller *ctrl)
{
	if (api_route(ctrl, "GET", "/v1/machines", machines_list, API_ADMIN | API_CACHE,
		      "machines (netboot profiles); ?role=, ?state=pending|approved, ?limit=, ?cursor=", NULL) < 0 ||
	    api_route(ctrl, "POST", "/v1/machines", machines_create, API_ADMIN,
		      "register a machine by MAC: role, labels, image version pin (201; 409 when the MAC exists)",
		      machine_schema) < 0 ||
	    api_route(ctrl, "GET", "/v1/machines/{id}", machines_show, API_ADMIN,
		      "one machine, by id, MAC or name", NULL) < 0 ||
	    api_route(ctrl, "PATCH", "/v1/machines/{id}", machines_update, API_ADMIN,
		      "change role, name, labels or image version (null: follow the default)", machine_patch_schema) < 0 ||
	    api_route(ctrl, "DELETE", "/v1/machines/{id}", machines_delete, API_ADMIN,
		      "forget a machine (204)", NULL) < 0 ||
	    api_route(ctrl, "POST", "/v1/machines/{id}/approve", machines_approve, API_ADMIN,
		      "approve a machine awaiting approval (unknown-mac = pending): its boot scripts carry enrollment "
		      "tokens from now on (200; approving an approved machine is fine)", NULL) < 0)
		return -1;
	return 0;
}
