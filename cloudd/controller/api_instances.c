/* api_instances.c -- /v1/instances: create (scheduled, addressed), list, show, security groups, start, stop, reboot,
 * delete, console */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "ops.h"

#define INSTANCE_CONSOLE_MAX 65536 /* bytes of console output returned */

/* The create body's fields, checked for shape; the operation checks what they refer to. */
static int instance_create_parse(struct controller *ctrl, const struct auth_principal *who, json_t *doc,
				 struct instance_create_req *r, char account[40], struct httpd_response *resp)
{
	static const char *const fields[] = { "name", "type", "template", "security_groups", "ssh_keys", "user_data",
					      "node_labels", "anti_affinity", "account", NULL };
	const char *k;
	json_t *v;

	if (api_check_fields(doc, fields, resp) < 0 || api_get_string(doc, "name", 1, 63, &r->name, resp) < 0 ||
	    api_get_string(doc, "type", 1, 63, &r->type, resp) < 0 ||
	    api_get_string(doc, "template", 1, 63, &r->template_ref, resp) < 0 ||
	    api_get_string(doc, "anti_affinity", 0, 63, &r->anti_affinity, resp) < 0)
		return API_REPLIED;
	if (!util_name_valid(r->name, 63)) {
		httpd_reply_error(resp, 400, "bad_field", "name: a-z, 0-9 and '-', starting with a letter or digit, at most 63");
		return API_REPLIED;
	}
	if (r->anti_affinity && !util_name_valid(r->anti_affinity, 63)) {
		httpd_reply_error(resp, 400, "bad_field", "anti_affinity: a group name (a-z, 0-9, '-')");
		return API_REPLIED;
	}
	v = json_object_get(doc, "user_data");
	if (v) {
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
			httpd_reply_error(resp, 400, "bad_field", "user_data: expected a string (no NUL)");
			return API_REPLIED;
		}
		r->user_data = json_string_value(v);
	}
	r->node_labels = json_object_get(doc, "node_labels");
	if (r->node_labels) {
		if (!json_is_object(r->node_labels) || json_object_size(r->node_labels) > CTL_MAX_LABELS) {
			httpd_reply_error(resp, 400, "bad_field", "node_labels: expected an object of at most %d labels",
					  CTL_MAX_LABELS);
			return API_REPLIED;
		}
		json_object_foreach(r->node_labels, k, v)
			if (!util_name_valid(k, 63) || !json_is_string(v) || json_string_length(v) > 63) {
				httpd_reply_error(resp, 400, "bad_field", "node_labels.%.63s: keys a-z0-9-, string values", k);
				return API_REPLIED;
			}
	}
	r->security_groups = json_object_get(doc, "security_groups");
	r->ssh_keys = json_object_get(doc, "ssh_keys");
	if (tenant_owner(&ctrl->db, who, doc, account, resp) < 0)
		return API_REPLIED;
	r->account = account;
	return 0;
}

static int instances_create(struct controller *ctrl, const struct auth_principal *who,
			    struct httpd_request *req, struct httpd_response *resp)
{
	struct instance_create_req r = { 0 };
	struct op_error err;
	char account[40];
	json_t *doc, *operation, *instance;
	int rc;

	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (instance_create_parse(ctrl, who, doc, &r, account, resp) < 0)
		rc = 0;
	else if (instance_create(ctrl, &r, &operation, &instance, &err) < 0)
		rc = op_reply_error(resp, &err);
	else
		rc = httpd_reply_json(resp, 202, json_pack("{s:o,s:o}", "operation", operation, "instance",
							   instance ? instance : json_null()));
	json_decref(doc);
	return rc;
}

static json_t *instance_row(struct db *db, sqlite3_stmt *st, void *ctx)
{
	(void)ctx;
	return instance_json(db, st);
}

static int instances_list(struct controller *ctrl, const struct auth_principal *who,
			  struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "limit", "cursor", "node", "account", NULL };
	const char *params[2] = { tenant_scope(who) ? tenant_scope(who) : httpd_query(req, "account"), httpd_query(req, "node") };
	struct api_list l = { "SELECT " INSTANCE_COLS ", i.id FROM instances i LEFT JOIN nodes n ON n.id = i.node_id"
			      " WHERE (?1 IS NULL OR i.id > ?1) AND (?3 IS NULL OR i.account_id = ?3) AND (?4 IS NULL OR i.node_id = ?4)"
			      " ORDER BY i.id LIMIT ?2", params, 2, instance_row, NULL, NULL, 0 };

	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	return api_list_page(ctrl, req, resp, &l);
}

static int instances_show(struct controller *ctrl, const struct auth_principal *who,
			  struct httpd_request *req, struct httpd_response *resp)
{
	return api_reply_found(ctrl, who, req, resp, instance_find, "instance");
}

/* start, stop, reboot and delete take no fields (an empty object, or no body). */
static int instance_action_parse(struct httpd_request *req, struct httpd_response *resp)
{
	json_t *doc;

	if (req->body_len == 0)
		return 0;
	if (api_parse_body(req, resp, &doc) < 0)
		return API_REPLIED;
	if (json_object_size(doc)) {
		httpd_reply_error(resp, 400, "unknown_field", "this action takes no fields");
		json_decref(doc);
		return API_REPLIED;
	}
	json_decref(doc);
	return 0;
}

static int instances_power(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
			   struct httpd_response *resp, enum instance_power_action action)
{
	struct op_ref ref = { httpd_param(req, "id"), tenant_scope(who), who->key_id };
	struct op_error err;
	json_t *operation;

	if (instance_action_parse(req, resp) < 0)
		return 0;
	if (instance_power(ctrl, &ref, action, &operation, &err) < 0)
		return op_reply_error(resp, &err);
	return httpd_reply_json(resp, 202, json_pack("{s:o}", "operation", operation));
}

static int instances_start(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
			   struct httpd_response *resp)
{
	return instances_power(ctrl, who, req, resp, INSTANCE_START);
}

static int instances_stop(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
			  struct httpd_response *resp)
{
	return instances_power(ctrl, who, req, resp, INSTANCE_STOP);
}

static int instances_reboot(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
			    struct httpd_response *resp)
{
	return instances_power(ctrl, who, req, resp, INSTANCE_REBOOT);
}

static int instances_delete(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
			    struct httpd_response *resp)
{
	struct op_ref ref = { httpd_param(req, "id"), tenant_scope(who), who->key_id };
	struct op_error err;
	json_t *operation;

	if (instance_delete(ctrl, &ref, &operation, &err) < 0)
		return op_reply_error(resp, &err);
	return httpd_reply_json(resp, 202, json_pack("{s:o}", "operation", operation));
}

/* PUT /v1/instances/{id}/security-groups {"security_groups": [...]}: the instance's groups, replaced whole. */
static int instances_set_groups(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
				struct httpd_response *resp)
{
	static const char *const fields[] = { "security_groups", NULL };
	struct op_ref ref = { httpd_param(req, "id"), tenant_scope(who), who->key_id };
	struct op_error err;
	json_t *doc, *instance;
	int rc;

	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0)
		rc = 0;
	else if (instance_set_groups(ctrl, &ref, json_object_get(doc, "security_groups"), &instance, &err) < 0)
		rc = op_reply_error(resp, &err);
	else
		rc = httpd_reply_json(resp, 200, instance);
	json_decref(doc);
	return rc;
}

/* GET /v1/instances/{id}/console: the node's console log of the guest (cloudd, port 8081, a signed request). */
static int instances_console(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
			     struct httpd_response *resp)
{
	static const char *const allowed[] = { "bytes", NULL };
	const char *bytes = httpd_query(req, "bytes");
	char path[128], node_id[40] = "";
	struct sign_query_arg arg = { "bytes", NULL };
	struct httpc_response r = { 0 };
	json_t *inst;
	int rc;

	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	if (bytes && (strspn(bytes, "0123456789") != strlen(bytes) || strlen(bytes) == 0 || strlen(bytes) > 6 ||
		      atol(bytes) < 1 || atol(bytes) > INSTANCE_CONSOLE_MAX))
		return httpd_reply_error(resp, 400, "bad_parameter", "bytes: 1..%d", INSTANCE_CONSOLE_MAX);
	arg.value = bytes ? bytes : "16384";
	db_lock(&ctrl->db);
	inst = instance_find(&ctrl->db, httpd_param(req, "id"), tenant_scope(who));
	db_unlock(&ctrl->db);
	if (inst == NULL)
		return httpd_reply_error(resp, 404, "not_found", "no instance %.64s", httpd_param(req, "id"));
	if (json_is_string(json_object_get(inst, "node")))
		snprintf(node_id, sizeof(node_id), "%s", json_string_value(json_object_get(inst, "node")));
	if (snprintf(path, sizeof(path), "/v1/instances/%s/console", json_string_value(json_object_get(inst, "id"))) >=
	    (int)sizeof(path)) {
		json_decref(inst);
		errno = ENAMETOOLONG;
		return -1;
	}
	json_decref(inst);
	if (node_id[0] == '\0')
		return httpd_reply_error(resp, 409, "not_placed", "instance has no node to read its console from");
	if (node_client_get(ctrl, node_id, path, &arg, 1, 10, &r) < 0) {
		if (errno == ENOENT || errno == ENXIO || errno == ENOKEY)
			rc = httpd_reply_error(resp, 409, "not_placed", "cannot read the console: %s", r.error);
		else
			rc = httpd_reply_error(resp, 502, "node_unreachable", "the node did not answer: %s", r.error);
	} else if (r.status != 200) {
		rc = httpd_reply_error(resp, r.status == 404 ? 404 : 502, "node_error", "the node answered %ld: %.200s", r.status,
				       r.body.data ? r.body.data : "");
	} else {
		rc = httpd_reply_text(resp, 200, "text/plain; charset=utf-8", r.body.data ? r.body.data : "", r.body.len);
	}
	httpc_response_free(&r);
	return rc;
}

static const struct api_route_def instance_routes[] = {
	{ "GET", "/v1/instances", instances_list, API_ADMIN | API_USER | API_CACHE,
	  "instances (the key's account; admin: all, ?account=), ?node=, ?limit=, ?cursor=", NULL },
	{ "POST", "/v1/instances", instances_create, API_ADMIN | API_USER,
	  "create an instance: scheduled and addressed now, an operation follows it until running",
	  "{\"type\":\"object\",\"required\":[\"name\",\"type\",\"template\"],\"additionalProperties\":false,"
	  "\"properties\":{\"name\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},\"template\":{\"type\":\"string\"},"
	  "\"security_groups\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
	  "\"ssh_keys\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"user_data\":{\"type\":\"string\"},"
	  "\"node_labels\":{\"type\":\"object\"},\"anti_affinity\":{\"type\":\"string\"},\"account\":{\"type\":\"string\"}}}" },
	{ "GET", "/v1/instances/{id}", instances_show, API_ADMIN | API_USER | API_CACHE,
	  "one instance (id or name): state, node, addresses, groups", NULL },
	{ "DELETE", "/v1/instances/{id}", instances_delete, API_ADMIN | API_USER,
	  "delete an instance and its volumes; its address is released at once", NULL },
	{ "POST", "/v1/instances/{id}/start", instances_start, API_ADMIN | API_USER, "start", NULL },
	{ "POST", "/v1/instances/{id}/stop", instances_stop, API_ADMIN | API_USER, "stop", NULL },
	{ "POST", "/v1/instances/{id}/reboot", instances_reboot, API_ADMIN | API_USER,
	  "reboot: the node resets the guest (same QEMU process)", NULL },
	{ "PUT", "/v1/instances/{id}/security-groups", instances_set_groups, API_ADMIN | API_USER,
	  "replace the instance's security groups (filters change on the nodes, the guest keeps running)",
	  "{\"type\":\"object\",\"required\":[\"security_groups\"],\"additionalProperties\":false,"
	  "\"properties\":{\"security_groups\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}" },
	{ "GET", "/v1/instances/{id}/console", instances_console, API_ADMIN | API_USER,
	  "console output, read from the instance's node; ?bytes=", NULL },
};

int api_instances_register(struct controller *ctrl)
{
	return API_ROUTE_TABLE(ctrl, instance_routes, NULL);
}
