/* api_named.c -- the handlers' side of named resources: a list page, one resource, an operation's reply */
#include <stdio.h>

#include "ops.h"

/* a row of a named kind's list (the kind is the list's ctx) */
static json_t *named_row(struct db *db, sqlite3_stmt *st, void *ctx)
{
	const struct named_kind *kind = ctx;

	return kind->json(db, st);
}

int named_reply_list(struct controller *ctrl, struct httpd_request *req, struct httpd_response *resp,
		     const struct named_kind *kind, const char *scope, const char *extra)
{
	const char *const allowed[] = { "limit", "cursor", extra, NULL };
	const char *params[1] = { scope };
	/* an unbound ?3 is NULL: a list of every account's needs no parameter */
	struct api_list l = { kind->list, params, scope != NULL, named_row, NULL, (void *)kind, 0 };

	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	return api_list_page(ctrl, req, resp, &l);
}

int named_reply_show(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
		     struct httpd_response *resp, const struct named_kind *kind)
{
	struct op_ref ref = { httpd_param(req, "id"), tenant_scope(who), who->key_id };
	struct op_error err;
	json_t *doc;

	return op_reply(resp, named_show(ctrl, kind, &ref, &doc, &err), &err, 200, &doc);
}

int named_reply_delete(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
		       struct httpd_response *resp,
		       int (*op)(struct controller *ctrl, const struct op_ref *r, struct op_error *err))
{
	struct op_ref ref = { httpd_param(req, "id"), tenant_scope(who), who->key_id };
	struct op_error err;

	return op_reply(resp, op(ctrl, &ref, &err), &err, 204, NULL);
}

int named_create_check(struct controller *ctrl, const struct auth_principal *who, json_t *doc, const char *name,
		       char account[40], struct httpd_response *resp)
{
	if (tenant_owner(&ctrl->db, who, doc, account, resp) < 0)
		return API_REPLIED;
	if (!util_name_valid(name, 63)) {
		httpd_reply_error(resp, 400, "bad_field", "name: a-z, 0-9 and '-', at most 63");
		return API_REPLIED;
	}
	return 0;
}

int op_reply(struct httpd_response *resp, int rc, const struct op_error *err, unsigned status, json_t *const *doc)
{
	if (rc < 0)
		return op_reply_error(resp, err);
	if (status == 204) {
		resp->status = 204;
		return 0;
	}
	return httpd_reply_json(resp, status, *doc);
}
