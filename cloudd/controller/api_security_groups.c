/* api_security_groups.c -- /v1/security-groups and their rules (semantics of docs/desired-state.md) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "secgroup.h"

int sg_rule_check(json_t *rule, char *why, size_t whylen)
{
	struct secgroup_set set;
	struct errmsg err = { 0 };
	json_t *doc, *r = json_deep_copy(rule);
	const char *prefix = "[0].rules[0].";
	int rc;

	if (r == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	/* a referenced group is checked by the API; here it stands for a valid id */
	if (json_object_get(r, "group"))
		json_object_set_new(r, "group", json_string("g1"));
	doc = json_pack("[{s:s,s:[o]},{s:s,s:[]}]", "id", "g0", "rules", r, "id", "g1", "rules");
	memset(&set, 0, sizeof(set));
	rc = secgroup_parse(doc, &set, &err);
	json_decref(doc);
	if (rc == 0) {
		secgroup_set_free(&set);
		return 0;
	}
	snprintf(why, whylen, "%s%s%s", strncmp(err.field, prefix, strlen(prefix)) == 0 ? err.field + strlen(prefix) : err.field,
		 err.field[0] ? ": " : "", err.msg);
	return -1;
}

json_t *sg_rules_json(struct db *db, const char *group_id, int with_ids)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id, direction, protocol, ports, icmp_type, icmp_code, cidr, remote_group_id"
					  " FROM security_group_rules WHERE group_id = ? ORDER BY created_at, id");
	json_t *rules = json_array();

	if (st == NULL) {
		json_decref(rules);
		return NULL;
	}
	db_bind_text(st, 1, group_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *r = with_ids ? json_pack("{s:s,s:s,s:s}", "id", db_col_text(st, 0), "direction", db_col_text(st, 1),
						 "protocol", db_col_text(st, 2))
				     : json_pack("{s:s,s:s}", "direction", db_col_text(st, 1), "protocol", db_col_text(st, 2));

		if (r == NULL || json_array_append_new(rules, r) < 0) {
			sqlite3_finalize(st);
			json_decref(rules);
			errno = ENOMEM;
			return NULL;
		}
		if (db_col_text(st, 3))
			json_object_set_new(r, "ports", json_string(db_col_text(st, 3)));
		if (sqlite3_column_type(st, 4) != SQLITE_NULL)
			json_object_set_new(r, "icmp_type", json_integer(sqlite3_column_int(st, 4)));
		if (sqlite3_column_type(st, 5) != SQLITE_NULL)
			json_object_set_new(r, "icmp_code", json_integer(sqlite3_column_int(st, 5)));
		if (db_col_text(st, 6))
			json_object_set_new(r, "cidr", json_string(db_col_text(st, 6)));
		if (db_col_text(st, 7))
			json_object_set_new(r, "group", json_string(db_col_text(st, 7)));
	}
	sqlite3_finalize(st);
	return rules;
}

json_t *sg_find(struct db *db, const char *ref, const char *scope, int with_rules)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id, account_id, name, description, created_at,"
					  " (SELECT count(*) FROM instance_security_groups m WHERE m.group_id = g.id)"
					  " FROM security_groups g WHERE (id = ?1 OR name = ?1) AND (?2 IS NULL OR account_id = ?2)"
					  " ORDER BY id = ?1 DESC LIMIT 1");
	json_t *doc = NULL;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, ref);
	db_bind_text(st, 2, scope);
	if (sqlite3_step(st) == SQLITE_ROW) {
		doc = json_pack("{s:s,s:s,s:s,s:s?,s:o,s:I}", "id", db_col_text(st, 0), "account", db_col_text(st, 1),
				"name", db_col_text(st, 2), "description", db_col_text(st, 3), "created_at",
				util_time_json(sqlite3_column_int64(st, 4)), "instances", (json_int_t)sqlite3_column_int64(st, 5));
		if (doc && with_rules) {
			json_t *rules = sg_rules_json(db, db_col_text(st, 0), 1);
			json_object_set_new(doc, "rules", rules ? rules : json_array());
		}
	}
	sqlite3_finalize(st);
	return doc;
}

static int security_groups_create(struct controller *ctrl, const struct auth_principal *who,
				  struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "name", "description", "account", NULL };
	struct sg_create_req r = { NULL, NULL, NULL };
	struct op_error err;
	char account[40];
	json_t *doc, *group = NULL;
	int rc = 0;

	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0 || api_get_string(doc, "name", 1, 63, &r.name, resp) < 0 ||
	    api_get_string(doc, "description", 0, 255, &r.description, resp) < 0 ||
	    named_create_check(ctrl, who, doc, r.name, account, resp) < 0)
		goto out;
	r.account = account;
	rc = op_reply(resp, sg_create(ctrl, &r, &group, &err), &err, 201, &group);
out:
	json_decref(doc);
	return rc;
}

static int sg_list(struct controller *ctrl, const struct auth_principal *who,
		   struct httpd_request *req, struct httpd_response *resp)
{
	return named_reply_list(ctrl, req, resp, &security_group_kind, tenant_scope(who), NULL);
}

static int sg_show(struct controller *ctrl, const struct auth_principal *who,
		   struct httpd_request *req, struct httpd_response *resp)
{
	return named_reply_show(ctrl, who, req, resp, &security_group_kind);
}

static int security_groups_delete(struct controller *ctrl, const struct auth_principal *who,
				  struct httpd_request *req, struct httpd_response *resp)
{
	return named_reply_delete(ctrl, who, req, resp, sg_delete);
}

/* POST /v1/security-groups/{id}/rules: one rule; "group" names a group of the same account. */
static int security_groups_rule_add(struct controller *ctrl, const struct auth_principal *who,
				    struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "direction", "protocol", "ports", "icmp_type", "icmp_code", "cidr", "group", NULL };
	struct op_ref ref = { httpd_param(req, "id"), tenant_scope(who), who->key_id };
	struct sg_rule_req rule;
	struct op_error err;
	json_t *doc, *v, *group = NULL;
	char why[512];
	int rc = 0;

	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0)
		goto out;
	if (sg_rule_check(doc, why, sizeof(why)) < 0) {
		httpd_reply_error(resp, 400, "bad_field", "%s", why);
		goto out;
	}
	memset(&rule, 0, sizeof(rule));
	rule.direction = json_string_value(json_object_get(doc, "direction"));
	rule.protocol = json_string_value(json_object_get(doc, "protocol"));
	rule.ports = json_string_value(json_object_get(doc, "ports"));
	rule.cidr = json_string_value(json_object_get(doc, "cidr"));
	rule.group = json_string_value(json_object_get(doc, "group"));
	if ((v = json_object_get(doc, "icmp_type")))
		rule.has_icmp_type = 1, rule.icmp_type = json_integer_value(v);
	if ((v = json_object_get(doc, "icmp_code")))
		rule.has_icmp_code = 1, rule.icmp_code = json_integer_value(v);
	rc = op_reply(resp, sg_rule_add(ctrl, &ref, &rule, &group, &err), &err, 201, &group);
out:
	json_decref(doc);
	return rc;
}

static int security_groups_rule_delete(struct controller *ctrl, const struct auth_principal *who,
				       struct httpd_request *req, struct httpd_response *resp)
{
	struct op_ref ref = { httpd_param(req, "id"), tenant_scope(who), who->key_id };
	struct op_error err;

	return op_reply(resp, sg_rule_delete(ctrl, &ref, httpd_param(req, "rule"), &err), &err, 204, NULL);
}

static const struct api_route_def security_group_routes[] = {
	{ "GET", "/v1/security-groups", sg_list, API_ADMIN | API_USER, "security groups with their rules", NULL },
	{ "POST", "/v1/security-groups", security_groups_create, API_ADMIN | API_USER,
	  "create a security group (no rules: ingress denied)",
	  "{\"type\":\"object\",\"required\":[\"name\"],\"additionalProperties\":false,\"properties\":{"
	  "\"name\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},\"account\":{\"type\":\"string\"}}}" },
	{ "GET", "/v1/security-groups/{id}", sg_show, API_ADMIN | API_USER, "one group (id or name)", NULL },
	{ "DELETE", "/v1/security-groups/{id}", security_groups_delete, API_ADMIN | API_USER,
	  "remove a group no instance uses and no other group's rule names", NULL },
	{ "POST", "/v1/security-groups/{id}/rules", security_groups_rule_add, API_ADMIN | API_USER,
	  "add a rule (docs/desired-state.md semantics); takes effect on every node",
	  "{\"type\":\"object\",\"required\":[\"direction\",\"protocol\"],\"additionalProperties\":false,\"properties\":{"
	  "\"direction\":{\"enum\":[\"ingress\",\"egress\"]},\"protocol\":{\"enum\":[\"tcp\",\"udp\",\"icmp\",\"icmpv6\",\"any\"]},"
	  "\"ports\":{\"type\":\"string\"},\"icmp_type\":{\"type\":\"integer\"},\"icmp_code\":{\"type\":\"integer\"},"
	  "\"cidr\":{\"type\":\"string\"},\"group\":{\"type\":\"string\"}}}" },
	{ "DELETE", "/v1/security-groups/{id}/rules/{rule}", security_groups_rule_delete, API_ADMIN | API_USER,
	  "remove a rule", NULL },
};

int api_security_groups_register(struct controller *ctrl)
{
	return API_ROUTE_TABLE(ctrl, security_group_routes, NULL);
}
