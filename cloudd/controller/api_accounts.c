/* api_accounts.c -- /v1/accounts and /v1/api-keys: tenants, their keys, and account scoping helpers */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

const char *tenant_scope(const struct auth_principal *who)
{
	return who->role == AUTH_ROLE_ADMIN ? NULL : who->account_id;
}

/* The id of the account with this id or name: 1 found (id in out), 0 none, -1 database error. */
static int account_resolve(struct db *db, const char *ref, char out[40])
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id FROM accounts WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1");
	int found = 0;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, ref);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(out, 40, "%s", db_col_text(st, 0));
		found = 1;
	}
	sqlite3_finalize(st);
	return found;
}

int tenant_owner(struct db *db, const struct auth_principal *who, json_t *doc, char out[40],
		 struct httpd_response *resp)
{
	json_t *v = json_object_get(doc, "account");
	int found;

	if (v == NULL) {
		snprintf(out, 40, "%s", who->account_id);
		return 0;
	}
	if (who->role != AUTH_ROLE_ADMIN) {
		httpd_reply_error(resp, 403, "forbidden", "account: only admin keys create resources for another account");
		return -1;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 63) {
		httpd_reply_error(resp, 400, "bad_field", "account: expected an account id or name");
		return -1;
	}
	db_lock(db);
	found = account_resolve(db, json_string_value(v), out);
	db_unlock(db);
	if (found < 0) {
		httpd_reply_error(resp, 500, "internal", "account lookup failed");
		return API_REPLIED;
	}
	if (found == 0) {
		httpd_reply_error(resp, 422, "unknown_account", "account: no account %s", json_string_value(v));
		return -1;
	}
	return 0;
}

int api_get_string(json_t *doc, const char *name, int required, size_t max, const char **out,
		   struct httpd_response *resp)
{
	json_t *v = json_object_get(doc, name);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required) {
			httpd_reply_error(resp, 400, "missing_field", "%s: required", name);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		httpd_reply_error(resp, 400, "bad_field", "%s: expected a string", name);
		return -1;
	}
	if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v)) {
		httpd_reply_error(resp, 400, "bad_field", "%s: at most %zu bytes, no NUL", name, max);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* --- accounts ---------------------------------------------------------------------- */

static json_t *account_find(struct db *db, const char *ref)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id, name, created_at,"
					  " (SELECT count(*) FROM instances i WHERE i.account_id = a.id AND power != 'deleted'),"
					  " (SELECT count(*) FROM api_keys k WHERE k.account_id = a.id AND revoked_at IS NULL)"
					  " FROM accounts a WHERE id = ?1 OR name = ?1");
	json_t *doc = NULL;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, ref);
	if (sqlite3_step(st) == SQLITE_ROW)
		doc = json_pack("{s:s,s:s,s:o,s:I,s:I}", "id", db_col_text(st, 0), "name", db_col_text(st, 1),
				"created_at", util_time_json(sqlite3_column_int64(st, 2)), "instances",
				(json_int_t)sqlite3_column_int64(st, 3), "api_keys",
				(json_int_t)sqlite3_column_int64(st, 4));
	sqlite3_finalize(st);
	return doc;
}

static int accounts_create(struct controller *ctrl, const struct auth_principal *who,
			   struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "name", NULL };
	const char *name, *p[2];
	char id[40];
	json_t *doc, *created = NULL;
	int rc = 0;

	(void)who;
	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0 || api_get_string(doc, "name", 1, 63, &name, resp) < 0)
		goto out;
	if (!util_name_valid(name, 63)) {
		httpd_reply_error(resp, 400, "bad_field", "name: expected a-z, 0-9 and '-', starting with a letter or digit, at most 63");
		goto out;
	}
	if (util_new_id(id, sizeof(id), "acct") < 0) {
		rc = -1;
		goto out;
	}
	p[0] = id, p[1] = name;
	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0) {
		rc = -1;
	} else if (db_exec(&ctrl->db, "INSERT INTO accounts (id, name, created_at) VALUES (?, ?, strftime('%s','now'))",
			   2, p) < 0) {
		db_rollback(&ctrl->db);
		if (errno == EEXIST)
			httpd_reply_error(resp, 409, "conflict", "an account named %s exists", name);
		else
			rc = -1;
	} else if (db_event(&ctrl->db, "account.created", id, "account %s (%s) created", id, name) < 0 ||
		   db_commit(&ctrl->db) < 0) {
		db_rollback(&ctrl->db);
		rc = -1;
	} else {
		created = account_find(&ctrl->db, id);
	}
	db_unlock(&ctrl->db);
	if (created)
		rc = httpd_reply_json(resp, 201, created);
out:
	json_decref(doc);
	return rc;
}

static json_t *account_row(struct db *db, sqlite3_stmt *st, void *ctx)
{
	(void)ctx;
	return account_find(db, db_col_text(st, 0));
}

static int accounts_list(struct controller *ctrl, const struct auth_principal *who,
			 struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "limit", "cursor", NULL };
	struct api_list l = { "SELECT id, id FROM accounts WHERE (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2", NULL, 0,
			      account_row, NULL, NULL, 0 };

	(void)who;
	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	return api_list_page(ctrl, req, resp, &l);
}

static int accounts_show(struct controller *ctrl, const struct auth_principal *who,
			 struct httpd_request *req, struct httpd_response *resp)
{
	const char *id = httpd_param(req, "id");
	json_t *doc;

	if (who->role != AUTH_ROLE_ADMIN && strcmp(id, who->account_id) != 0)
		return httpd_reply_error(resp, 404, "not_found", "no account %.64s", id);
	db_lock(&ctrl->db);
	doc = account_find(&ctrl->db, id);
	db_unlock(&ctrl->db);
	if (doc == NULL)
		return httpd_reply_error(resp, 404, "not_found", "no account %.64s", id);
	return httpd_reply_json(resp, 200, doc);
}

/* --- API keys ---------------------------------------------------------------------- */

static json_t *key_json(sqlite3_stmt *st)
{
	return json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:o,s:o}", "id", db_col_text(st, 0), "role", db_col_text(st, 1),
			 "account", db_col_text(st, 2), "node_id", db_col_text(st, 3), "name", db_col_text(st, 4),
			 "created_at", util_time_json(sqlite3_column_int64(st, 5)), "revoked_at",
			 sqlite3_column_type(st, 6) == SQLITE_NULL ? json_null()
								  : util_time_json(sqlite3_column_int64(st, 6)));
}

static int keys_create(struct controller *ctrl, const struct auth_principal *who,
		       struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "account", "role", "name", NULL };
	const char *role = NULL, *name = NULL, *p[2];
	char account[40], key_id[72], secret[65];
	json_t *doc;
	int rc = 0;

	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0 || api_get_string(doc, "role", 0, 16, &role, resp) < 0 ||
	    api_get_string(doc, "name", 0, 63, &name, resp) < 0 || tenant_owner(&ctrl->db, who, doc, account, resp) < 0)
		goto out;
	if (role && strcmp(role, "user") != 0 && strcmp(role, "admin") != 0) {
		httpd_reply_error(resp, 400, "bad_field", "role: user or admin");
		goto out;
	}
	if (role && strcmp(role, "admin") == 0 && who->role != AUTH_ROLE_ADMIN) {
		httpd_reply_error(resp, 403, "forbidden", "role: only admin keys create admin keys");
		goto out;
	}
	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0 ||
	    auth_key_create(&ctrl->db, role && strcmp(role, "admin") == 0 ? AUTH_ROLE_ADMIN : AUTH_ROLE_USER, account,
			    NULL, key_id, secret) < 0) {
		db_rollback(&ctrl->db);
		rc = -1;
	} else {
		p[0] = name, p[1] = key_id;
		if (db_exec(&ctrl->db, "UPDATE api_keys SET name = ? WHERE id = ?", 2, p) < 0 ||
		    db_event(&ctrl->db, "api_key.created", key_id, "%s key %s created for account %s by %s",
			     role ? role : "user", key_id, account, who->key_id) < 0 ||
		    db_commit(&ctrl->db) < 0) {
			db_rollback(&ctrl->db);
			rc = -1;
		}
	}
	db_unlock(&ctrl->db);
	if (rc == 0)
		rc = httpd_reply_json(resp, 201, json_pack("{s:s,s:s,s:s,s:s,s:s?}", "id", key_id, "secret", secret,
							   "role", role ? role : "user", "account", account, "name", name));
out:
	json_decref(doc);
	return rc;
}

static json_t *key_row(struct db *db, sqlite3_stmt *st, void *ctx)
{
	(void)db, (void)ctx;
	return key_json(st);
}

static int keys_list(struct controller *ctrl, const struct auth_principal *who,
		     struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "limit", "cursor", "account", NULL };
	const char *params[1] = { tenant_scope(who) ? tenant_scope(who) : httpd_query(req, "account") };
	struct api_list l = { "SELECT id, role, account_id, node_id, name, created_at, revoked_at, id FROM api_keys"
			      " WHERE (?1 IS NULL OR id > ?1) AND (?3 IS NULL OR account_id = ?3) AND role != 'node'"
			      " ORDER BY id LIMIT ?2", params, 1, key_row, NULL, NULL, 0 };

	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	return api_list_page(ctrl, req, resp, &l);
}

static int keys_revoke(struct controller *ctrl, const struct auth_principal *who,
		       struct httpd_request *req, struct httpd_response *resp)
{
	const char *id = httpd_param(req, "id"), *p[2] = { id, tenant_scope(who) };
	int rc = 0, changed;

	if (strcmp(id, who->key_id) == 0)
		return httpd_reply_error(resp, 409, "conflict", "a key cannot revoke itself (%s)", id);
	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0 ||
	    db_exec(&ctrl->db, "UPDATE api_keys SET revoked_at = strftime('%s','now') WHERE id = ?1 AND role != 'node'"
			      " AND revoked_at IS NULL AND (?2 IS NULL OR account_id = ?2)", 2, p) < 0) {
		db_rollback(&ctrl->db);
		rc = -1;
		goto out;
	}
	changed = sqlite3_changes(ctrl->db.h);
	if (changed == 0) {
		db_rollback(&ctrl->db);
		httpd_reply_error(resp, 404, "not_found", "no active key %.64s", id);
		goto out;
	}
	if (db_event(&ctrl->db, "api_key.revoked", id, "key %s revoked by %s", id, who->key_id) < 0 ||
	    db_commit(&ctrl->db) < 0) {
		db_rollback(&ctrl->db);
		rc = -1;
		goto out;
	}
	resp->status = 204;
out:
	db_unlock(&ctrl->db);
	return rc;
}

int api_accounts_register(struct controller *ctrl)
{
	if (api_route(ctrl, "GET", "/v1/accounts", accounts_list, API_ADMIN, "accounts (admin)", NULL) < 0 ||
	    api_route(ctrl, "POST", "/v1/accounts", accounts_create, API_ADMIN, "create an account (admin)",
		      "{\"type\":\"object\",\"required\":[\"name\"],\"additionalProperties\":false,"
		      "\"properties\":{\"name\":{\"type\":\"string\"}}}") < 0 ||
	    api_route(ctrl, "GET", "/v1/accounts/{id}", accounts_show, API_ADMIN | API_USER,
		      "one account (by id or name); user keys see only their own", NULL) < 0 ||
	    api_route(ctrl, "GET", "/v1/api-keys", keys_list, API_ADMIN | API_USER,
		      "API keys (without secrets); user keys see their account's", NULL) < 0 ||
	    api_route(ctrl, "POST", "/v1/api-keys", keys_create, API_ADMIN | API_USER,
		      "create a key; the secret is in this answer only",
		      "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
		      "\"account\":{\"type\":\"string\"},\"role\":{\"enum\":[\"user\",\"admin\"]},"
		      "\"name\":{\"type\":\"string\"}}}") < 0 ||
	    api_route(ctrl, "DELETE", "/v1/api-keys/{id}", keys_revoke, API_ADMIN | API_USER, "revoke a key", NULL) < 0)
		return -1;
	return 0;
}
