/* auth.c -- API keys: the first admin key, node credentials, verification of signed requests */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller.h"
#include "fsutil.h"
#include "sign.h"

static const char *const auth_role_names[] = { "admin", "node", "user" };

const char *auth_role_name(enum auth_role role)
{
	return auth_role_names[role];
}

int auth_key_create(struct db *db, enum auth_role role, const char *account_id,
		    const char *node_id, char key_id[72], char secret[65])
{
	sqlite3_stmt *st;
	int rc;

	if (util_new_id(key_id, 72, "ak") < 0 || util_random_hex(secret, 65, 32) < 0)
		return -1;
	st = db_prepare(db, "INSERT INTO api_keys (id, secret, role, account_id, node_id, created_at)"
			    " VALUES (?, ?, ?, ?, ?, strftime('%s','now'))");
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, key_id);
	db_bind_text(st, 2, secret);
	db_bind_text(st, 3, auth_role_names[role]);
	db_bind_text(st, 4, account_id);
	db_bind_text(st, 5, node_id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int auth_bootstrap(struct db *db, const char *path, const char *url)
{
	char key_id[72], secret[65];
	struct buf text = BUF_INIT;
	sqlite3_stmt *st;
	int have = 0, rc = -1;

	db_lock(db);
	st = db_prepare(db, "SELECT count(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL");
	if (st && sqlite3_step(st) == SQLITE_ROW)
		have = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (st == NULL)
		goto out;
	if (have) {
		rc = 0;
		goto out;
	}
	if (db_begin(db) < 0)
		goto out;
	if (auth_key_create(db, AUTH_ROLE_ADMIN, "acct-admin", NULL, key_id, secret) < 0 ||
	    db_event(db, "api_key.created", key_id, "first admin key created, written to %s", path) < 0) {
		db_rollback(db);
		goto out;
	}
	if (buf_printf(&text, "# cloudctl configuration with the controller's first admin key\n"
			      "url = %s\nkey = %s\nsecret = %s\n", url, key_id, secret) < 0 ||
	    fs_write_atomic(path, text.data, text.len, 0600) < 0) {
		int saved = errno;
		log_error("writing the admin key to %s: %s", path, strerror(saved));
		db_rollback(db);
		errno = saved;
		goto out;
	}
	if (db_commit(db) < 0) {
		unlink(path);
		goto out;
	}
	rc = 1;
out:
	db_unlock(db);
	buf_free(&text);
	return rc;
}

int auth_verify(struct db *db, const char *authorization, const char *method, const char *path,
		const struct sign_query_arg *args, size_t nargs, const char *body, size_t body_len,
		time_t now, struct auth_principal *who, char *why, size_t whylen)
{
	char digest[SIGN_HEX_LEN + 1];

	sign_sha256_hex(body, body_len, digest);
	return auth_verify_digest(db, authorization, method, path, args, nargs, digest, now, who, why, whylen);
}

int auth_verify_digest(struct db *db, const char *authorization, const char *method, const char *path,
		       const struct sign_query_arg *args, size_t nargs, const char *body_sha256_hex, time_t now,
		       struct auth_principal *who, char *why, size_t whylen)
{
	struct sign_auth auth;
	const char *reason = NULL;
	char secret[128] = "", expected[SIGN_HEX_LEN + 1], role[16] = "";
	char *query = NULL, *sts;
	sqlite3_stmt *st;
	int found = 0;

	memset(who, 0, sizeof(*who));
	if (sign_parse_authorization(authorization, &auth, &reason) < 0) {
		snprintf(why, whylen, "%s", reason);
		return -1;
	}
	if (auth.expires < (long long)now) {
		snprintf(why, whylen, "signature expired at %lld (now %lld)", auth.expires, (long long)now);
		return -1;
	}
	if (auth.expires > (long long)now + SIGN_MAX_LIFETIME) {
		snprintf(why, whylen, "expires is more than %d s in the future", SIGN_MAX_LIFETIME);
		return -1;
	}
	db_lock(db);
	st = db_prepare(db, "SELECT secret, role, account_id, node_id FROM api_keys"
			    " WHERE id = ? AND revoked_at IS NULL");
	if (st) {
		db_bind_text(st, 1, auth.key_id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			snprintf(secret, sizeof(secret), "%s", db_col_text(st, 0));
			snprintf(role, sizeof(role), "%s", db_col_text(st, 1));
			snprintf(who->account_id, sizeof(who->account_id), "%s", db_col_text(st, 2));
			if (db_col_text(st, 3))
				snprintf(who->node_id, sizeof(who->node_id), "%s", db_col_text(st, 3));
			found = 1;
		}
		sqlite3_finalize(st);
	}
	db_unlock(db);
	/* an unknown key is checked against a dummy secret: same work, same answer */
	query = sign_canonical_query(args, nargs);
	sts = query ? sign_string(method, path, query, body_sha256_hex, auth.expires) : NULL;
	if (sts == NULL) {
		free(query);
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	{
		const char *key = found ? secret : "unknown-key-dummy-secret";
		sign_hmac_hex(key, strlen(key), sts, strlen(sts), expected);
	}
	log_debug("auth: key %s method %s path %s query \"%s\" body digest %s expires %lld", auth.key_id, method, path,
		  query, body_sha256_hex, auth.expires);
	free(sts);
	free(query);
	if (!sign_equal(expected, auth.signature, SIGN_HEX_LEN) || !found) {
		snprintf(why, whylen, "bad signature or unknown key");
		return -1;
	}
	snprintf(who->key_id, sizeof(who->key_id), "%s", auth.key_id);
	who->role = strcmp(role, "admin") == 0 ? AUTH_ROLE_ADMIN
		    : strcmp(role, "node") == 0 ? AUTH_ROLE_NODE
						: AUTH_ROLE_USER;
	return 0;
}
