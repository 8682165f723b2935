/* api_nodes.c -- /v1/nodes: registration with a one-time token, heartbeats, the node registry */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static const char register_schema[] =
	"{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"token\",\"sysinfo\"],\"properties\":{"
	"\"token\":{\"type\":\"string\",\"description\":\"one-time enrollment token from the kernel command line (cloud.token=)\"},"
	"\"sysinfo\":{\"type\":\"object\",\"description\":\"cloudd's /v1/sysinfo document\"}}}";
static const char heartbeat_schema[] =
	"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
	"\"status\":{\"type\":\"object\",\"description\":\"status summary of the node\"}}}";

/* One node of a listing, written directly: listing 1,000 nodes through jansson objects costs 10x more. */
static int node_write(struct buf *out, sqlite3_stmt *st)
{
	/* members in column order; each name with its leading separator */
	static const char *const keys[] = {
		"{\"id\":", ",\"mac\":", ",\"machine_id\":", ",\"hostname\":", ",\"state\":", ",\"role\":",
		",\"image_version\":", ",\"cpu_count\":", ",\"memory_bytes\":", ",\"address\":",
		",\"registered_at\":", ",\"last_heartbeat_at\":", ",\"state_changed_at\":",
	};
	int rc = 0;

	for (int i = 0; i < 13; i++) {
		rc |= buf_puts(out, keys[i]);
		if (i == 7 || i == 8)
			rc |= sqlite3_column_type(st, i) == SQLITE_NULL ? buf_append(out, "null", 4)
									: util_json_int(out, sqlite3_column_int64(st, i));
		else if (i >= 10)
			rc |= util_json_time(out, sqlite3_column_int64(st, i));
		else
			rc |= util_json_string(out, db_col_text(st, i));
	}
	rc |= buf_append(out, "}", 1);
	return rc ? -1 : 0;
}

static int nodes_list(struct controller *ctrl, const struct auth_principal *who,
		      struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const states[] = { "up", "unknown", "down", NULL };
	struct api_list l = { "SELECT " NODE_LIST_COLS ", id FROM nodes WHERE (?1 IS NULL OR id > ?1)"
			      " AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR role = ?4) ORDER BY id LIMIT ?2",
			      NULL, 0, NULL, node_write, NULL, 0 };

	(void)who;
	return op_reply_list_by_state(ctrl, req, resp, states, &l);
}

static int nodes_show(struct controller *ctrl, const struct auth_principal *who,
		      struct httpd_request *req, struct httpd_response *resp)
{
	return api_reply_found(ctrl, who, req, resp, node_find, "node");
}

static int nodes_delete(struct controller *ctrl, const struct auth_principal *who,
			struct httpd_request *req, struct httpd_response *resp)
{
	return op_reply_deleted(ctrl, who, req, resp, "id", node_delete);
}

/*
 * POST /v1/nodes/register: a booted node trades its one-time enrollment
 * token (and sysinfo) for its own key; node_register says what it must
 * prove. Every refusal changes nothing but an event.
 */
static int nodes_register(struct controller *ctrl, const struct auth_principal *who,
			  struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "token", "sysinfo", NULL };
	char addr[64];
	json_t *doc, *token, *sys;
	struct node_register_req r;
	struct node_credentials cred;
	struct op_error err;
	int rc = 0;

	(void)who;
	if (op_parse_request(req, resp, fields, &doc) < 0)
		return 0;
	token = json_object_get(doc, "token");
	sys = json_object_get(doc, "sysinfo");
	if (token == NULL || sys == NULL) {
		httpd_reply_error(resp, 400, "missing_field", "%s: required", token == NULL ? "token" : "sysinfo");
		goto out;
	}
	if (!json_is_string(token) || json_string_length(token) == 0 || json_string_length(token) > 128) {
		httpd_reply_error(resp, 400, "bad_field", "token: expected the enrollment token string");
		goto out;
	}
	if (!json_is_object(sys)) {
		httpd_reply_error(resp, 400, "bad_field", "sysinfo: expected an object (cloudd's /v1/sysinfo)");
		goto out;
	}
	r.token = json_string_value(token);
	r.token_len = json_string_length(token);
	r.sysinfo = sys;
	r.addr = api_client_addr(req, addr, sizeof(addr));
	if (node_register(ctrl, &r, &cred, &err) < 0)
		rc = op_reply_error(resp, &err);
	else
		rc = httpd_reply_json(resp, 201, json_pack("{s:s,s:s,s:s,s:s,s:i}", "node_id", cred.node_id, "key",
							   cred.key_id, "secret", cred.secret, "role", cred.role,
							   "heartbeat_interval", (int)ctrl->cfg.heartbeat_interval));
out:
	json_decref(doc);
	return rc;
}

static int nodes_heartbeat(struct controller *ctrl, const struct auth_principal *who,
			   struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "status", NULL };
	const char *id = httpd_param(req, "id");
	json_t *doc = NULL, *status;
	char *status_text = NULL;
	struct op_error err;
	int rc = 0;

	if (who->role == AUTH_ROLE_NODE && strcmp(who->node_id, id) != 0)
		return httpd_reply_error(resp, 403, "forbidden", "a node's key may only heartbeat for its own node (%s)",
					 who->node_id);
	if (req->body_len) {
		if (op_parse_request(req, resp, fields, &doc) < 0)
			return 0;
		status = json_object_get(doc, "status");
		if (status && !json_is_object(status)) {
			httpd_reply_error(resp, 400, "bad_field", "status: expected an object");
			goto out;
		}
		if (status && (status_text = json_dumps(status, JSON_COMPACT)) == NULL) {
			rc = -1;
			goto out;
		}
	}
	if (node_heartbeat(ctrl, id, status_text, &err) < 0)
		rc = op_reply_error(resp, &err);
	else
		rc = httpd_reply_json(resp, 200, json_pack("{s:s,s:i}", "state", "up", "heartbeat_interval",
							   (int)ctrl->cfg.heartbeat_interval));
out:
	free(status_text);
	json_decref(doc);
	return rc;
}

static const struct api_route_def node_routes[] = {
	{ "GET", "/v1/nodes", nodes_list, API_ADMIN | API_CACHE,
	  "nodes with state, MAC, CPUs, memory; ?state=, ?role=, ?limit=, ?cursor=", NULL },
	{ "POST", "/v1/nodes/register", nodes_register, API_PUBLIC,
	  "a booted node trades its one-time enrollment token and sysinfo for its own key (201; "
	  "401 token_unknown / token_expired, 409 token_used / node_up, 403 machine_pending / address_mismatch, "
	  "422 mac_mismatch)",
	  register_schema },
	{ "GET", "/v1/nodes/{id}", nodes_show, API_ADMIN | API_CACHE,
	  "one node by id or MAC, with its sysinfo and last status", NULL },
	{ "DELETE", "/v1/nodes/{id}", nodes_delete, API_ADMIN,
	  "forget a node that is not up (204; 409 when it is up)", NULL },
	{ "POST", "/v1/nodes/{id}/heartbeat", nodes_heartbeat, API_ADMIN | API_NODE,
	  "a node reports it is alive, with a status summary (node key: own node only)", heartbeat_schema },
};

int api_nodes_register(struct controller *ctrl)
{
	return API_ROUTE_TABLE(ctrl, node_routes, NULL);
}
