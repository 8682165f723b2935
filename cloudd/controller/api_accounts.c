/* api_accounts.c -- /v1/accounts and /v1/api-keys: tenants, their keys, and account scoping helpers */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

const char *tenant_scope(const struct auth_principal *who)
{
	return who->role == AUTH_ROLE_ADMIN ? NULL : who->account_id;
}

int tenant_owner(struct db *db, const struct auth_principal *who, json_t *doc, char out[40],
		 struct httpd_response *resp)
{
	json_t *v = json_object_get(doc, "account");
	struct op_error err;

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
	if (account_resolve(db, json_string_value(v), out, &err) == 0)
		return 0;
	if (err.status == 500)
		httpd_reply_error(resp, 500, "internal", "account lookup failed");
	else
		httpd_reply_error(resp, (unsigned)err.status, err.code, "%s", err.message);
	return API_REPLIED;
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

static int accounts_create(struct controller *ctrl, const struct auth_principal *who,
			   struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "name", NULL };
	const char *name;
	struct op_error err;
	json_t *doc, *account = NULL;
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
	rc = op_reply(resp, account_create(ctrl, name, &account, &err), &err, 201, &account);
out:
	json_decref(doc);
	return rc;
}

static int accounts_list(struct controller *ctrl, const struct auth_principal *who,
			 struct httpd_request *req, struct httpd_response *resp)
{
	(void)who;
	return named_reply_list(ctrl, req, resp, &account_kind, NULL, NULL);
}

static int accounts_show(struct controller *ctrl, const struct auth_principal *who,
			 struct httpd_request *req, struct httpd_response *resp)
{
	struct op_ref ref = { httpd_param(req, "id"), tenant_scope(who), who->key_id };
	struct op_error err;
	json_t *account = NULL;

	return op_reply(resp, account_show(ctrl, &ref, &account, &err), &err, 200, &account);
}

/* --- API keys ---------------------------------------------------------------------- */

static int keys_create(struct controller *ctrl, const struct auth_principal *who,
		       struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "account", "role", "name", NULL };
	struct api_key_create_req r = { NULL, NULL, NULL, who->key_id };
	char account[40], key_id[72], secret[65];
	struct op_error err;
	json_t *doc;
	int rc = 0;

	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0 || api_get_string(doc, "role", 0, 16, &r.role, resp) < 0 ||
	    api_get_string(doc, "name", 0, 63, &r.name, resp) < 0 || tenant_owner(&ctrl->db, who, doc, account, resp) < 0)
		goto out;
	if (r.role && strcmp(r.role, "user") != 0 && strcmp(r.role, "admin") != 0) {
		httpd_reply_error(resp, 400, "bad_field", "role: user or admin");
		goto out;
	}
	if (r.role && strcmp(r.role, "admin") == 0 && who->role != AUTH_ROLE_ADMIN) {
		httpd_reply_error(resp, 403, "forbidden", "role: only admin keys create admin keys");
		goto out;
	}
	r.account = account;
	if (api_key_create(ctrl, &r, key_id, secret, &err) < 0)
		rc = op_reply_error(resp, &err);
	else
		rc = httpd_reply_json(resp, 201, json_pack("{s:s,s:s,s:s,s:s,s:s?}", "id", key_id, "secret", secret,
							   "role", r.role ? r.role : "user", "account", account, "name", r.name));
out:
	json_decref(doc);
	return rc;
}

/* an admin key lists every account's keys, or one account's (?account=) */
static int keys_list(struct controller *ctrl, const struct auth_principal *who,
		     struct httpd_request *req, struct httpd_response *resp)
{
	const char *scope = tenant_scope(who) ? tenant_scope(who) : httpd_query(req, "account");

	return named_reply_list(ctrl, req, resp, &api_key_kind, scope, "account");
}

static int keys_revoke(struct controller *ctrl, const struct auth_principal *who,
		       struct httpd_request *req, struct httpd_response *resp)
{
	return named_reply_delete(ctrl, who, req, resp, api_key_revoke);
}

static const struct api_route_def account_routes[] = {
	{ "GET", "/v1/accounts", accounts_list, API_ADMIN, "accounts (admin)", NULL },
	{ "POST", "/v1/accounts", accounts_create, API_ADMIN,
	  "create an account (admin)",
	  "{\"type\":\"object\",\"required\":[\"name\"],\"additionalProperties\":false,"
	  "\"properties\":{\"name\":{\"type\":\"string\"}}}" },
	{ "GET", "/v1/accounts/{id}", accounts_show, API_ADMIN | API_USER,
	  "one account (by id or name); user keys see only their own", NULL },
	{ "GET", "/v1/api-keys", keys_list, API_ADMIN | API_USER,
	  "API keys (without secrets); user keys see their account's", NULL },
	{ "POST", "/v1/api-keys", keys_create, API_ADMIN | API_USER,
	  "create a key; the secret is in this answer only",
	  "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
	  "\"account\":{\"type\":\"string\"},\"role\":{\"enum\":[\"user\",\"admin\"]},"
	  "\"name\":{\"type\":\"string\"}}}" },
	{ "DELETE", "/v1/api-keys/{id}", keys_revoke, API_ADMIN | API_USER, "revoke a key", NULL },
};

int api_accounts_register(struct controller *ctrl)
{
	return API_ROUTE_TABLE(ctrl, account_routes, NULL);
}
