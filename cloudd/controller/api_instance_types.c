/* api_instance_types.c -- /v1/instance-types: the sizes instances come in (seeded ladder, admin-editable) */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "controller.h"

static json_t *type_json(struct db *db, sqlite3_stmt *st)
{
	(void)db;
	return json_pack("{s:s,s:I,s:I,s:I}", "name", db_col_text(st, 0), "vcpus", (json_int_t)sqlite3_column_int64(st, 1),
			 "memory_mib", (json_int_t)sqlite3_column_int64(st, 2), "disk_gib",
			 (json_int_t)sqlite3_column_int64(st, 3));
}

static json_t *type_row(struct db *db, sqlite3_stmt *st, void *ctx)
{
	(void)ctx;
	return type_json(db, st);
}

/* smallest first; the key keeps that order as text (sizes zero-padded) */
static int types_list(struct controller *ctrl, const struct auth_principal *who,
		      struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "limit", "cursor", NULL };
	struct api_list l = { "SELECT name, vcpus, memory_mib, disk_gib, k FROM (SELECT *,"
			      " printf('%010d.%010d.%s', memory_mib, vcpus, name) AS k FROM instance_types)"
			      " WHERE (?1 IS NULL OR k > ?1) ORDER BY k LIMIT ?2", NULL, 0, type_row, NULL, NULL, 0 };

	(void)who;
	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	return api_list_page(ctrl, req, resp, &l);
}

static int type_number(json_t *doc, const char *name, long long max, long long *out, struct httpd_response *resp)
{
	json_t *v = json_object_get(doc, name);

	if (v == NULL) {
		httpd_reply_error(resp, 400, "missing_field", "%s: required", name);
		return API_REPLIED;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max) {
		httpd_reply_error(resp, 400, "bad_field", "%s: expected an integer 1..%lld", name, max);
		return API_REPLIED;
	}
	*out = json_integer_value(v);
	return 0;
}

/* PUT /v1/instance-types/{name}: creates or replaces a size (instances keep the size they were created with). */
static int types_put(struct controller *ctrl, const struct auth_principal *who,
		     struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "vcpus", "memory_mib", "disk_gib", NULL };
	const char *name = httpd_param(req, "name");
	long long vcpus, mem, disk;
	sqlite3_stmt *st;
	json_t *doc;
	int rc = 0;

	if (!util_name_valid(name, 63))
		return httpd_reply_error(resp, 400, "bad_parameter", "name: a-z, 0-9 and '-', at most 63");
	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0 || type_number(doc, "vcpus", 256, &vcpus, resp) < 0 ||
	    type_number(doc, "memory_mib", 4 << 20, &mem, resp) < 0 || type_number(doc, "disk_gib", 65536, &disk, resp) < 0)
		goto out;
	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0 ||
	    (st = db_prepare(&ctrl->db, "INSERT INTO instance_types VALUES (?1, ?2, ?3, ?4, strftime('%s','now'))"
				       " ON CONFLICT(name) DO UPDATE SET vcpus = ?2, memory_mib = ?3, disk_gib = ?4")) == NULL) {
		db_rollback(&ctrl->db);
		rc = -1;
	} else {
		db_bind_text(st, 1, name);
		sqlite3_bind_int64(st, 2, vcpus);
		sqlite3_bind_int64(st, 3, mem);
		sqlite3_bind_int64(st, 4, disk);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		sqlite3_finalize(st);
		if (rc < 0 || db_event(&ctrl->db, "instance_type.set", name, "instance type %s: %lld vCPU, %lld MiB, %lld GiB (by %s)",
				       name, vcpus, mem, disk, who->key_id) < 0 || db_commit(&ctrl->db) < 0) {
			db_rollback(&ctrl->db);
			rc = -1;
		}
	}
	db_unlock(&ctrl->db);
	if (rc == 0)
		rc = httpd_reply_json(resp, 200, json_pack("{s:s,s:I,s:I,s:I}", "name", name, "vcpus", (json_int_t)vcpus,
							   "memory_mib", (json_int_t)mem, "disk_gib", (json_int_t)disk));
out:
	json_decref(doc);
	return rc;
}

static int types_delete(struct controller *ctrl, const struct auth_principal *who,
			struct httpd_request *req, struct httpd_response *resp)
{
	const char *name = httpd_param(req, "name");
	int rc = 0;

	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0 || db_exec(&ctrl->db, "DELETE FROM instance_types WHERE name = ?", 1, &name) < 0) {
		db_rollback(&ctrl->db);
		rc = -1;
	} else if (sqlite3_changes(ctrl->db.h) == 0) {
		db_rollback(&ctrl->db);
		httpd_reply_error(resp, 404, "not_found", "no instance type %.64s", name);
	} else if (db_event(&ctrl->db, "instance_type.deleted", name, "instance type %s deleted by %s", name, who->key_id) < 0 ||
		   db_commit(&ctrl->db) < 0) {
		db_rollback(&ctrl->db);
		rc = -1;
	} else {
		resp->status = 204;
	}
	db_unlock(&ctrl->db);
	return rc;
}

int api_instance_types_register(struct controller *ctrl)
{
	if (api_route(ctrl, "GET", "/v1/instance-types", types_list, API_ADMIN | API_USER | API_CACHE,
		      "instance sizes, smallest first", NULL) < 0 ||
	    api_route(ctrl, "PUT", "/v1/instance-types/{name}", types_put, API_ADMIN, "create or change a size (admin)",
		      "{\"type\":\"object\",\"required\":[\"vcpus\",\"memory_mib\",\"disk_gib\"],\"additionalProperties\":false,"
		      "\"properties\":{\"vcpus\":{\"type\":\"integer\"},\"memory_mib\":{\"type\":\"integer\"},"
		      "\"disk_gib\":{\"type\":\"integer\"}}}") < 0 ||
	    api_route(ctrl, "DELETE", "/v1/instance-types/{name}", types_delete, API_ADMIN, "remove a size (admin)", NULL) < 0)
		return -1;
	return 0;
}
