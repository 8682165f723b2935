/* node_client.c -- the controller's requests to a node's cloudd (port NODE_API_PORT), signed with a key derived from the node's secret */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "controller.h"
#include "httpc.h"

/*
 * The node's address and live key, read under the database lock. A node that
 * registered again has one live key (the older ones are revoked in the same
 * transaction), so the newest live one is the one the node holds.
 */
static int node_client_lookup(struct db *db, const char *node_id, char *addr, size_t addrlen, char *key_id,
			      size_t key_id_len, char *secret, size_t secret_len)
{
	sqlite3_stmt *st;
	int found = 0;

	addr[0] = key_id[0] = secret[0] = '\0';
	db_lock(db);
	st = db_prepare(db, "SELECT n.address, k.id, k.secret FROM nodes n"
			    " LEFT JOIN api_keys k ON k.node_id = n.id AND k.role = 'node' AND k.revoked_at IS NULL"
			    " WHERE n.id = ? ORDER BY k.created_at DESC, k.rowid DESC LIMIT 1");
	if (st) {
		db_bind_text(st, 1, node_id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			found = 1;
			if (db_col_text(st, 0))
				snprintf(addr, addrlen, "%s", db_col_text(st, 0));
			if (db_col_text(st, 1) && db_col_text(st, 2) && strlen(db_col_text(st, 1)) < key_id_len &&
			    strlen(db_col_text(st, 2)) < secret_len) {
				strcpy(key_id, db_col_text(st, 1));
				strcpy(secret, db_col_text(st, 2));
			}
		}
		sqlite3_finalize(st);
	}
	db_unlock(db);
	if (st == NULL) {
		errno = EIO;
		return -1;
	}
	return found ? 0 : -1;
}

int node_client_get(struct controller *ctrl, const char *node_id, const char *path, const struct sign_query_arg *args,
		    size_t nargs, long timeout_seconds, struct httpc_response *out)
{
	char addr[64], key_id[80], secret[160], sign_key[SIGN_HEX_LEN + 1], url[128];
	struct httpc_cred cred = { url, key_id, sign_key, NODE_CLIENT_LIFETIME };
	int rc;

	memset(out, 0, sizeof(*out));
	if (node_client_lookup(&ctrl->db, node_id, addr, sizeof(addr), key_id, sizeof(key_id), secret, sizeof(secret)) < 0) {
		snprintf(out->error, sizeof(out->error), "no node %.64s", node_id);
		errno = ENOENT;
		return -1;
	}
	if (addr[0] == '\0') {
		snprintf(out->error, sizeof(out->error), "node %.64s has no address", node_id);
		errno = ENXIO;
		return -1;
	}
	if (key_id[0] == '\0') {
		snprintf(out->error, sizeof(out->error), "node %.64s has no live key: it must register again", node_id);
		errno = ENOKEY;
		return -1;
	}
	sign_node_key(secret, sign_key);
	explicit_bzero(secret, sizeof(secret));
	if (snprintf(url, sizeof(url), "http://%s%s%s:%d", strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "",
		     NODE_API_PORT) >= (int)sizeof(url)) {
		explicit_bzero(sign_key, sizeof(sign_key));
		snprintf(out->error, sizeof(out->error), "node address too long");
		errno = ENAMETOOLONG;
		return -1;
	}
	rc = httpc_signed(&cred, "GET", path, args, nargs, NULL, 0, timeout_seconds, out);
	explicit_bzero(sign_key, sizeof(sign_key));
	if (rc < 0)
		errno = EHOSTUNREACH;
	return rc;
}
