/* ops_accounts.c -- account and API key operations: create, show, resolve, revoke */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

static json_t *account_json(struct db *db, sqlite3_stmt *st)
{
	(void)db;
	return json_pack("{s:s,s:s,s:o,s:I,s:I}", "id", db_col_text(st, 0), "name", db_col_text(st, 1), "created_at",
			 util_time_json(sqlite3_column_int64(st, 2)), "instances", (json_int_t)sqlite3_column_int64(st, 3),
			 "api_keys", (json_int_t)sqlite3_column_int64(st, 4));
}

/* an account with the number of its instances and active keys */
#define ACCOUNT_COLS "id, name, created_at," \
		     " (SELECT count(*) FROM instances i WHERE i.account_id = a.id AND power != 'deleted')," \
		     " (SELECT count(*) FROM api_keys k WHERE k.account_id = a.id AND revoked_at IS NULL)"

const struct named_kind account_kind = {
	"account",
	"an account",
	"SELECT " ACCOUNT_COLS " FROM accounts a WHERE id = ?1 OR name = ?1",
	"SELECT " ACCOUNT_COLS ", id FROM accounts a WHERE (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2",
	NULL,
	account_json,
};

int account_create(struct controller *ctrl, const char *name, json_t **account, struct op_error *err)
{
	const char *p[2];
	char id[40], text[160];

	*account = NULL;
	if (util_new_id(id, sizeof(id), "acct") < 0)
		return op_internal(err, "drawing an account id");
	p[0] = id, p[1] = name;
	snprintf(text, sizeof(text), "account %s (%s) created", id, name);
	return named_insert(ctrl, &account_kind,
			    &(struct named_new){ id, "INSERT INTO accounts (id, name, created_at) VALUES (?, ?, strftime('%s','now'))",
						 p, 2, name, "account.created", text }, account, err);
}

int account_show(struct controller *ctrl, const struct op_ref *r, json_t **account, struct op_error *err)
{
	*account = NULL;
	if (r->scope && strcmp(r->ref, r->scope) != 0)
		return op_fail(err, 404, "not_found", "no account %.64s", r->ref);
	return named_show(ctrl, &account_kind, r, account, err);
}

int account_resolve(struct db *db, const char *ref, char out[40], struct op_error *err)
{
	sqlite3_stmt *st;
	int rc;

	db_lock(db);
	st = db_prepare(db, "SELECT id FROM accounts WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1");
	if (st == NULL) {
		rc = op_internal(err, "looking up an account");
	} else {
		db_bind_text(st, 1, ref);
		if (sqlite3_step(st) == SQLITE_ROW)
			rc = 0, snprintf(out, 40, "%s", db_col_text(st, 0)); /* ids are util_new_id's, shorter */
		else
			rc = op_fail(err, 422, "unknown_account", "account: no account %s", ref);
		sqlite3_finalize(st);
	}
	db_unlock(db);
	return rc;
}

/* --- API keys ---------------------------------------------------------------------- */

static json_t *api_key_json(struct db *db, sqlite3_stmt *st)
{
	(void)db;
	return json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:o,s:o}", "id", db_col_text(st, 0), "role", db_col_text(st, 1),
			 "account", db_col_text(st, 2), "node_id", db_col_text(st, 3), "name", db_col_text(st, 4),
			 "created_at", util_time_json(sqlite3_column_int64(st, 5)), "revoked_at",
			 sqlite3_column_type(st, 6) == SQLITE_NULL ? json_null()
								  : util_time_json(sqlite3_column_int64(st, 6)));
}

/* node keys are the nodes' business: never listed nor revoked here */
const struct named_kind api_key_kind = {
	"API key",
	"an API key",
	NULL, /* keys are listed and revoked, not shown one by one */
	"SELECT id, role, account_id, node_id, name, created_at, revoked_at, id FROM api_keys"
	" WHERE (?1 IS NULL OR id > ?1) AND (?3 IS NULL OR account_id = ?3) AND role != 'node'"
	" ORDER BY id LIMIT ?2",
	NULL,
	api_key_json,
};

int api_key_create(struct controller *ctrl, const struct api_key_create_req *r, char key_id[72], char secret[65],
		   struct op_error *err)
{
	const char *role = r->role ? r->role : "user", *p[2];
	int rc = -1;

	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0 ||
	    auth_key_create(&ctrl->db, strcmp(role, "admin") == 0 ? AUTH_ROLE_ADMIN : AUTH_ROLE_USER, r->account, NULL,
			    key_id, secret) < 0) {
		op_internal(err, "creating a key");
		db_rollback(&ctrl->db);
		goto out;
	}
	p[0] = r->name, p[1] = key_id;
	if (db_exec(&ctrl->db, "UPDATE api_keys SET name = ? WHERE id = ?", 2, p) < 0 ||
	    db_event(&ctrl->db, "api_key.created", key_id, "%s key %s created for account %s by %s", role, key_id,
		     r->account, r->actor) < 0 ||
	    db_commit(&ctrl->db) < 0) {
		op_internal(err, "creating a key");
		db_rollback(&ctrl->db);
		goto out;
	}
	rc = 0;
out:
	db_unlock(&ctrl->db);
	return rc;
}

int api_key_revoke(struct controller *ctrl, const struct op_ref *r, struct op_error *err)
{
	const char *p[2] = { r->ref, r->scope };
	char missing[96], text[200];

	if (strcmp(r->ref, r->actor) == 0)
		return op_fail(err, 409, "conflict", "a key cannot revoke itself (%s)", r->ref);
	snprintf(missing, sizeof(missing), "no active key %.64s", r->ref);
	snprintf(text, sizeof(text), "key %s revoked by %s", r->ref, r->actor);
	return named_change(ctrl, "UPDATE api_keys SET revoked_at = strftime('%s','now') WHERE id = ?1 AND role != 'node'"
				  " AND revoked_at IS NULL AND (?2 IS NULL OR account_id = ?2)", 2, p, missing,
			    "api_key.revoked", r->ref, text, err);
}
