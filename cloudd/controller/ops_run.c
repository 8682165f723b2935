/* ops_run.c -- what operations do alike: one transaction under the db lock, a lookup by key, a DELETE handler's call */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

int op_transaction_locked(struct controller *ctrl, op_body_fn body, void *ctx, const char *what, struct op_error *err)
{
	int rc;

	if (db_begin(&ctrl->db) < 0)
		return op_internal(err, "starting a transaction");
	rc = body(ctrl, ctx, err);
	if (rc == OP_COMMIT_REFUSAL) {
		/* the refusal stands whether or not its event could be kept (db_commit rolls back when it fails) */
		db_commit(&ctrl->db);
		return -1;
	}
	if (rc < 0) {
		db_rollback(&ctrl->db);
		return -1;
	}
	if (db_commit(&ctrl->db) < 0)
		return op_internal(err, what);
	return 0;
}

int op_transaction(struct controller *ctrl, op_body_fn body, void *ctx, const char *what, struct op_error *err)
{
	int rc;

	db_lock(&ctrl->db);
	rc = op_transaction_locked(ctrl, body, ctx, what, err);
	db_unlock(&ctrl->db);
	return rc;
}

json_t *op_get(struct controller *ctrl, json_t *(*find)(struct db *db, const char *ref, const char *scope),
	       const char *ref, const char *scope)
{
	json_t *doc;

	db_lock(&ctrl->db);
	doc = find(&ctrl->db, ref, scope);
	db_unlock(&ctrl->db);
	return doc;
}

json_t *op_find_row(struct db *db, const char *sql, const char *const *params, int nparams, op_row_fn row, void *ctx)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	json_t *doc = NULL;

	if (st == NULL)
		return NULL;
	for (int i = 0; i < nparams; i++)
		db_bind_text(st, i + 1, params[i]);
	if (sqlite3_step(st) == SQLITE_ROW)
		doc = row(st, ctx);
	sqlite3_finalize(st);
	return doc;
}

int op_reply_deleted(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
		     struct httpd_response *resp, const char *param,
		     int (*del)(struct controller *ctrl, const struct op_ref *ref, struct op_error *err))
{
	struct op_ref ref = { httpd_param(req, param), tenant_scope(who), who->key_id };
	struct op_error err;

	if (del(ctrl, &ref, &err) < 0)
		return op_reply_error(resp, &err);
	resp->status = 204;
	return 0;
}

int op_parse_request(struct httpd_request *req, struct httpd_response *resp, const char *const *allowed, json_t **doc)
{
	if (api_parse_body(req, resp, doc) < 0)
		return API_REPLIED;
	if (api_check_fields(*doc, allowed, resp) < 0) {
		json_decref(*doc);
		*doc = NULL;
		return API_REPLIED;
	}
	return 0;
}

int op_reply_list_by_state(struct controller *ctrl, struct httpd_request *req, struct httpd_response *resp,
			   const char *const *states, struct api_list *l)
{
	static const char *const allowed[] = { "limit", "cursor", "state", "role", NULL };
	const char *params[2] = { httpd_query(req, "state"), httpd_query(req, "role") };
	char names[128] = "";
	size_t len = 0;
	int known = params[0] == NULL;

	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	for (const char *const *s = states; *s; s++) {
		int n = snprintf(names + len, sizeof(names) - len, "%s%s", len ? ", " : "", *s);

		if (n < 0 || (size_t)n >= sizeof(names) - len) {
			errno = ENAMETOOLONG;
			return -1;
		}
		len += (size_t)n;
		known |= params[0] && strcmp(*s, params[0]) == 0;
	}
	if (!known)
		return httpd_reply_error(resp, 400, "bad_parameter", "state: one of %s", names);
	l->params = params;
	l->nparams = 2;
	return api_list_page(ctrl, req, resp, l);
}
