/* api_templates.c -- /v1/templates: disk (raw, qcow2) and kernel+initrd templates registered by URL */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

#define TEMPLATE_COLS "id, account_id, name, format, public, url, sha256, size, initrd_url, initrd_sha256," \
		      " cmdline, min_disk_gib, created_at"

static json_t *template_json(sqlite3_stmt *st)
{
	json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s?,s:s?}", "id", db_col_text(st, 0), "account",
				db_col_text(st, 1), "name", db_col_text(st, 2), "format", db_col_text(st, 3), "public",
				sqlite3_column_int(st, 4), "url", db_col_text(st, 5), "sha256", db_col_text(st, 6));

	if (doc == NULL)
		return NULL;
	json_object_set_new(doc, "size", sqlite3_column_type(st, 7) == SQLITE_NULL ? json_null()
										 : json_integer(sqlite3_column_int64(st, 7)));
	if (db_col_text(st, 8))
		json_object_set_new(doc, "initrd", json_pack("{s:s,s:s?}", "url", db_col_text(st, 8), "sha256",
							     db_col_text(st, 9)));
	if (db_col_text(st, 10))
		json_object_set_new(doc, "cmdline", json_string(db_col_text(st, 10)));
	json_object_set_new(doc, "min_disk_gib", json_integer(sqlite3_column_int64(st, 11)));
	json_object_set_new(doc, "created_at", util_time_json(sqlite3_column_int64(st, 12)));
	return doc;
}

/* A template visible to the scope (its own, or public ones), by id or name. */
json_t *template_find(struct db *db, const char *ref, const char *scope)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " TEMPLATE_COLS " FROM templates WHERE (id = ?1 OR name = ?1)"
					  " AND (?2 IS NULL OR account_id = ?2 OR public = 1)"
					  " ORDER BY id = ?1 DESC, account_id = ?2 DESC LIMIT 1");
	json_t *doc = NULL;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, ref);
	db_bind_text(st, 2, scope);
	if (sqlite3_step(st) == SQLITE_ROW)
		doc = template_json(st);
	sqlite3_finalize(st);
	return doc;
}

static int url_valid(const char *u)
{
	if (strncmp(u, "http://", 7) != 0 || strlen(u) < 9 || strlen(u) > 1024)
		return 0;
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == '"' || *p == '\\' || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

static int sha_valid(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

static int templates_create(struct controller *ctl, const struct auth_principal *who,
			    struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "name", "format", "url", "sha256", "size", "initrd", "cmdline",
					      "min_disk_gib", "public", "account", NULL };
	const char *name, *format, *url, *sha, *cmdline, *iurl = NULL, *isha = NULL;
	char account[40], id[40];
	json_t *doc, *v, *created = NULL;
	long long size = -1, min_disk = 0;
	int pub = 0, rc = 0;
	sqlite3_stmt *st;

	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0 || api_get_string(doc, "name", 1, 63, &name, resp) < 0 ||
	    api_get_string(doc, "format", 1, 16, &format, resp) < 0 || api_get_string(doc, "url", 1, 1024, &url, resp) < 0 ||
	    api_get_string(doc, "sha256", 1, 64, &sha, resp) < 0 || api_get_string(doc, "cmdline", 0, 1024, &cmdline, resp) < 0 ||
	    tenant_owner(&ctl->db, who, doc, account, resp) < 0)
		goto out;
	if (!util_name_valid(name, 63)) {
		httpd_reply_error(resp, 400, "bad_field", "name: a-z, 0-9 and '-', at most 63");
		goto out;
	}
	if (strcmp(format, "raw") != 0 && strcmp(format, "qcow2") != 0 && strcmp(format, "kernel") != 0) {
		httpd_reply_error(resp, 400, "bad_field", "format: raw, qcow2 or kernel, got \"%.16s\"", format);
		goto out;
	}
	if (!url_valid(url)) {
		httpd_reply_error(resp, 400, "bad_field", "url: expected an http:// URL without spaces or quotes");
		goto out;
	}
	if (!sha_valid(sha)) {
		httpd_reply_error(resp, 400, "bad_field", "sha256: expected 64 lower-case hex digits");
		goto out;
	}
	if ((v = json_object_get(doc, "size"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			httpd_reply_error(resp, 400, "bad_field", "size: expected a positive integer (bytes)");
			goto out;
		}
		size = json_integer_value(v);
	}
	if ((v = json_object_get(doc, "min_disk_gib"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65536) {
			httpd_reply_error(resp, 400, "bad_field", "min_disk_gib: expected an integer 0..65536");
			goto out;
		}
		min_disk = json_integer_value(v);
	}
	if ((v = json_object_get(doc, "public"))) {
		if (!json_is_boolean(v)) {
			httpd_reply_error(resp, 400, "bad_field", "public: expected true or false");
			goto out;
		}
		pub = json_is_true(v);
		if (pub && who->role != AUTH_ROLE_ADMIN) {
			httpd_reply_error(resp, 403, "forbidden", "public: only admin keys publish templates to every account");
			goto out;
		}
	}
	if ((v = json_object_get(doc, "initrd"))) {
		if (strcmp(format, "kernel") != 0) {
			httpd_reply_error(resp, 400, "bad_field", "initrd: only with format kernel");
			goto out;
		}
		if (!json_is_object(v) || api_check_fields(v, (const char *const[]){ "url", "sha256", NULL }, resp) < 0) {
			if (resp->body.len == 0)
				httpd_reply_error(resp, 400, "bad_field", "initrd: expected {\"url\":...,\"sha256\":...}");
			goto out;
		}
		iurl = json_string_value(json_object_get(v, "url"));
		isha = json_string_value(json_object_get(v, "sha256"));
		if (iurl == NULL || !url_valid(iurl) || isha == NULL || !sha_valid(isha)) {
			httpd_reply_error(resp, 400, "bad_field", "initrd: url (http://) and sha256 (64 hex digits) required");
			goto out;
		}
	}
	if (cmdline && strcmp(format, "kernel") != 0) {
		httpd_reply_error(resp, 400, "bad_field", "cmdline: only with format kernel");
		goto out;
	}
	if (util_new_id(id, sizeof(id), "tpl") < 0) {
		rc = -1;
		goto out;
	}
	db_lock(&ctl->db);
	if (db_begin(&ctl->db) < 0 || (st = db_prepare(&ctl->db, "INSERT INTO templates (" TEMPLATE_COLS ") VALUES"
								" (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, strftime('%s','now'))")) == NULL) {
		db_rollback(&ctl->db);
		rc = -1;
	} else {
		int step;
		db_bind_text(st, 1, id);
		db_bind_text(st, 2, account);
		db_bind_text(st, 3, name);
		db_bind_text(st, 4, format);
		sqlite3_bind_int(st, 5, pub);
		db_bind_text(st, 6, url);
		db_bind_text(st, 7, sha);
		if (size > 0)
			sqlite3_bind_int64(st, 8, size);
		db_bind_text(st, 9, iurl);
		db_bind_text(st, 10, isha);
		db_bind_text(st, 11, cmdline);
		sqlite3_bind_int64(st, 12, min_disk);
		step = sqlite3_step(st);
		sqlite3_finalize(st);
		if (step == SQLITE_CONSTRAINT) {
			db_rollback(&ctl->db);
			httpd_reply_error(resp, 409, "conflict", "a template named %s exists", name);
		} else if (step != SQLITE_DONE ||
			   db_event(&ctl->db, "template.created", id, "template %s (%s, %s) registered", id, name, format) < 0 ||
			   db_commit(&ctl->db) < 0) {
			db_rollback(&ctl->db);
			rc = -1;
		} else {
			created = template_find(&ctl->db, id, NULL);
		}
	}
	db_unlock(&ctl->db);
	if (created)
		rc = httpd_reply_json(resp, 201, created);
out:
	json_decref(doc);
	return rc;
}

static int templates_list(struct controller *ctl, const struct auth_principal *who,
			  struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "limit", "cursor", NULL }; /* accepted; the whole list is one page */
	sqlite3_stmt *st;
	json_t *items;

	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	items = json_array();
	db_lock(&ctl->db);
	st = db_prepare(&ctl->db, "SELECT " TEMPLATE_COLS " FROM templates WHERE ?1 IS NULL OR account_id = ?1 OR public = 1"
				  " ORDER BY name, id");
	if (st) {
		db_bind_text(st, 1, tenant_scope(who));
		while (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(items, template_json(st));
		sqlite3_finalize(st);
	}
	db_unlock(&ctl->db);
	if (st == NULL) {
		json_decref(items);
		return -1;
	}
	return api_reply_list(resp, items, NULL);
}

static int templates_show(struct controller *ctl, const struct auth_principal *who,
			  struct httpd_request *req, struct httpd_response *resp)
{
	json_t *doc;

	db_lock(&ctl->db);
	doc = template_find(&ctl->db, httpd_param(req, "id"), tenant_scope(who));
	db_unlock(&ctl->db);
	if (doc == NULL)
		return httpd_reply_error(resp, 404, "not_found", "no template %.64s", httpd_param(req, "id"));
	return httpd_reply_json(resp, 200, doc);
}

static int templates_rm(struct controller *ctl, const struct auth_principal *who,
			struct httpd_request *req, struct httpd_response *resp)
{
	const char *ref = httpd_param(req, "id");
	sqlite3_stmt *st;
	json_t *doc;
	int rc = 0, users = 0;

	db_lock(&ctl->db);
	doc = template_find(&ctl->db, ref, tenant_scope(who));
	if (doc && tenant_scope(who) && strcmp(json_string_value(json_object_get(doc, "account")), who->account_id) != 0) {
		httpd_reply_error(resp, 403, "forbidden", "template %.64s is public: only admin keys remove it", ref);
		goto out;
	}
	if (doc == NULL) {
		httpd_reply_error(resp, 404, "not_found", "no template %.64s", ref);
		goto out;
	}
	const char *id = json_string_value(json_object_get(doc, "id"));
	st = db_prepare(&ctl->db, "SELECT count(*) FROM instances WHERE template_id = ?");
	if (st == NULL) {
		rc = -1;
		goto out;
	}
	db_bind_text(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		users = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (users) {
		httpd_reply_error(resp, 409, "in_use", "template %s is used by %d instance(s)", id, users);
		goto out;
	}
	if (db_begin(&ctl->db) < 0 || db_exec(&ctl->db, "DELETE FROM templates WHERE id = ?", 1, &id) < 0 ||
	    db_event(&ctl->db, "template.deleted", id, "template %s removed", id) < 0 || db_commit(&ctl->db) < 0) {
		db_rollback(&ctl->db);
		rc = -1;
	} else {
		resp->status = 204;
	}
out:
	db_unlock(&ctl->db);
	json_decref(doc);
	return rc;
}

int api_templates_register(struct controller *ctl)
{
	if (api_route(ctl, "GET", "/v1/templates", templates_list, API_ADMIN | API_USER,
		      "templates the key may use (its account's and public ones)", NULL) < 0 ||
	    api_route(ctl, "POST", "/v1/templates", templates_create, API_ADMIN | API_USER,
		      "register a template by URL: raw or qcow2 disk, or kernel (+ initrd, cmdline)",
		      "{\"type\":\"object\",\"required\":[\"name\",\"format\",\"url\",\"sha256\"],\"additionalProperties\":false,"
		      "\"properties\":{\"name\":{\"type\":\"string\"},\"format\":{\"enum\":[\"raw\",\"qcow2\",\"kernel\"]},"
		      "\"url\":{\"type\":\"string\"},\"sha256\":{\"type\":\"string\"},\"size\":{\"type\":\"integer\"},"
		      "\"initrd\":{\"type\":\"object\"},\"cmdline\":{\"type\":\"string\"},\"min_disk_gib\":{\"type\":\"integer\"},"
		      "\"public\":{\"type\":\"boolean\"},\"account\":{\"type\":\"string\"}}}") < 0 ||
	    api_route(ctl, "GET", "/v1/templates/{id}", templates_show, API_ADMIN | API_USER, "one template", NULL) < 0 ||
	    api_route(ctl, "DELETE", "/v1/templates/{id}", templates_rm, API_ADMIN | API_USER,
		      "remove a template no instance uses", NULL) < 0)
		return -1;
	return 0;
}
