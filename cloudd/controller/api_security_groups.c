/* api_security_groups.c -- /v1/security-groups and their rules (semantics of docs/desired-state.md) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "../node/secgroup.h"

#define SG_MAX_RULES 1024

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

static json_t *rules_json(struct db *db, const char *group_id)
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
		json_t *r = json_pack("{s:s,s:s,s:s}", "id", db_col_text(st, 0), "direction", db_col_text(st, 1),
				      "protocol", db_col_text(st, 2));
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
		json_array_append_new(rules, r);
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
			json_t *rules = rules_json(db, db_col_text(st, 0));
			json_object_set_new(doc, "rules", rules ? rules : json_array());
		}
	}
	sqlite3_finalize(st);
	return doc;
}

static int sg_create(struct controller *ctl, const struct auth_principal *who,
		     struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "name", "description", "account", NULL };
	const char *name, *desc, *p[4];
	char account[40], id[40];
	json_t *doc, *created = NULL;
	int rc = 0;

	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0 || api_get_string(doc, "name", 1, 63, &name, resp) < 0 ||
	    api_get_string(doc, "description", 0, 255, &desc, resp) < 0 || tenant_owner(&ctl->db, who, doc, account, resp) < 0)
		goto out;
	if (!util_name_valid(name, 63)) {
		httpd_reply_error(resp, 400, "bad_field", "name: a-z, 0-9 and '-', at most 63");
		goto out;
	}
	if (util_new_id(id, sizeof(id), "sg") < 0) {
		rc = -1;
		goto out;
	}
	p[0] = id, p[1] = account, p[2] = name, p[3] = desc;
	db_lock(&ctl->db);
	if (db_begin(&ctl->db) < 0) {
		rc = -1;
	} else if (db_exec(&ctl->db, "INSERT INTO security_groups VALUES (?, ?, ?, ?, strftime('%s','now'))", 4, p) < 0) {
		db_rollback(&ctl->db);
		if (errno == EEXIST)
			httpd_reply_error(resp, 409, "conflict", "a security group named %s exists", name);
		else
			rc = -1;
	} else if (db_event(&ctl->db, "security_group.created", id, "security group %s (%s) created", id, name) < 0 ||
		   db_commit(&ctl->db) < 0) {
		db_rollback(&ctl->db);
		rc = -1;
	} else {
		created = sg_find(&ctl->db, id, NULL, 1);
	}
	db_unlock(&ctl->db);
	if (created)
		rc = httpd_reply_json(resp, 201, created);
out:
	json_decref(doc);
	return rc;
}

static json_t *sg_row(struct db *db, sqlite3_stmt *st, void *ctx)
{
	(void)ctx;
	return sg_find(db, db_col_text(st, 0), NULL, 1);
}

static json_t *sg_find_full(struct db *db, const char *ref, const char *scope)
{
	return sg_find(db, ref, scope, 1);
}

static int sg_list(struct controller *ctl, const struct auth_principal *who,
		   struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "limit", "cursor", NULL };
	const char *params[1] = { tenant_scope(who) };
	/* the key "ACCOUNT.NAME" (neither holds a '.') compared as the pair it is */
	struct api_list l = { "SELECT id, account_id || '.' || name FROM security_groups WHERE (?3 IS NULL OR account_id = ?3)"
			      " AND (?1 IS NULL OR (account_id, name) > (substr(?1, 1, instr(?1, '.') - 1), substr(?1, instr(?1, '.') + 1)))"
			      " ORDER BY account_id, name LIMIT ?2",
			      params, 1, sg_row, NULL, NULL, 0 };

	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	return api_list_page(ctl, req, resp, &l);
}

static int sg_show(struct controller *ctl, const struct auth_principal *who,
		   struct httpd_request *req, struct httpd_response *resp)
{
	return api_reply_found(ctl, who, req, resp, sg_find_full, "security group");
}

static int sg_count(struct db *db, const char *sql, const char *id)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	int n = -1;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static int sg_rm(struct controller *ctl, const struct auth_principal *who,
		 struct httpd_request *req, struct httpd_response *resp)
{
	json_t *doc;
	const char *id;
	int rc = 0, members, refs;

	db_lock(&ctl->db);
	doc = sg_find(&ctl->db, httpd_param(req, "id"), tenant_scope(who), 0);
	if (doc == NULL) {
		httpd_reply_error(resp, 404, "not_found", "no security group %.64s", httpd_param(req, "id"));
		goto out;
	}
	id = json_string_value(json_object_get(doc, "id"));
	members = sg_count(&ctl->db, "SELECT count(*) FROM instance_security_groups WHERE group_id = ?", id);
	refs = sg_count(&ctl->db, "SELECT count(*) FROM security_group_rules WHERE remote_group_id = ?1 AND group_id != ?1", id);
	if (members < 0 || refs < 0) {
		rc = -1;
	} else if (members > 0) {
		httpd_reply_error(resp, 409, "in_use", "security group %s has %d instance(s)", id, members);
	} else if (refs > 0) {
		httpd_reply_error(resp, 409, "in_use", "security group %s is named by %d rule(s) of other groups", id, refs);
	} else if (db_begin(&ctl->db) < 0 ||
		   db_exec(&ctl->db, "DELETE FROM security_group_rules WHERE group_id = ?", 1, &id) < 0 ||
		   db_exec(&ctl->db, "DELETE FROM security_groups WHERE id = ?", 1, &id) < 0 ||
		   db_event(&ctl->db, "security_group.deleted", id, "security group %s removed", id) < 0 ||
		   db_commit(&ctl->db) < 0) {
		db_rollback(&ctl->db);
		rc = -1;
	} else {
		resp->status = 204;
	}
out:
	db_unlock(&ctl->db);
	json_decref(doc);
	return rc;
}

/* POST /v1/security-groups/{id}/rules: one rule; "group" names a group of the same account. */
static int sg_rule_add(struct controller *ctl, const struct auth_principal *who,
		       struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "direction", "protocol", "ports", "icmp_type", "icmp_code", "cidr", "group", NULL };
	json_t *doc, *group = NULL, *remote = NULL, *v, *result = NULL;
	char why[512], rid[40];
	const char *gid, *remote_id = NULL;
	sqlite3_stmt *st;
	int rc = 0, n;

	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0)
		goto out;
	if (sg_rule_check(doc, why, sizeof(why)) < 0) {
		httpd_reply_error(resp, 400, "bad_field", "%s", why);
		goto out;
	}
	if (util_new_id(rid, sizeof(rid), "rule") < 0) {
		rc = -1;
		goto out;
	}
	db_lock(&ctl->db);
	group = sg_find(&ctl->db, httpd_param(req, "id"), tenant_scope(who), 0);
	if (group == NULL) {
		httpd_reply_error(resp, 404, "not_found", "no security group %.64s", httpd_param(req, "id"));
		goto out_unlock;
	}
	gid = json_string_value(json_object_get(group, "id"));
	if ((v = json_object_get(doc, "group"))) {
		remote = sg_find(&ctl->db, json_string_value(v), json_string_value(json_object_get(group, "account")), 0);
		if (remote == NULL) {
			httpd_reply_error(resp, 422, "unknown_group", "group: no security group %.64s in this account",
					  json_string_value(v));
			goto out_unlock;
		}
		remote_id = json_string_value(json_object_get(remote, "id"));
	}
	n = sg_count(&ctl->db, "SELECT count(*) FROM security_group_rules WHERE group_id = ?", gid);
	if (n >= SG_MAX_RULES) {
		httpd_reply_error(resp, 422, "too_many_rules", "security group %s has %d rules already (at most %d)", gid, n,
				  SG_MAX_RULES);
		goto out_unlock;
	}
	if (db_begin(&ctl->db) < 0 ||
	    (st = db_prepare(&ctl->db, "INSERT INTO security_group_rules VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, strftime('%s','now'))")) == NULL) {
		db_rollback(&ctl->db);
		rc = -1;
		goto out_unlock;
	}
	db_bind_text(st, 1, rid);
	db_bind_text(st, 2, gid);
	db_bind_text(st, 3, json_string_value(json_object_get(doc, "direction")));
	db_bind_text(st, 4, json_string_value(json_object_get(doc, "protocol")));
	db_bind_text(st, 5, json_string_value(json_object_get(doc, "ports")));
	if ((v = json_object_get(doc, "icmp_type")))
		sqlite3_bind_int64(st, 6, json_integer_value(v));
	if ((v = json_object_get(doc, "icmp_code")))
		sqlite3_bind_int64(st, 7, json_integer_value(v));
	db_bind_text(st, 8, json_string_value(json_object_get(doc, "cidr")));
	db_bind_text(st, 9, remote_id);
	n = sqlite3_step(st);
	sqlite3_finalize(st);
	if (n != SQLITE_DONE || desired_touch_all(&ctl->db) < 0 ||
	    db_event(&ctl->db, "security_group.rule_added", gid, "rule %s added to %s", rid, gid) < 0 || db_commit(&ctl->db) < 0) {
		db_rollback(&ctl->db);
		rc = -1;
		goto out_unlock;
	}
	result = sg_find(&ctl->db, gid, NULL, 1);
out_unlock:
	db_unlock(&ctl->db);
	if (result) {
		watch_notify(ctl);
		rc = httpd_reply_json(resp, 201, result);
	}
out:
	json_decref(group);
	json_decref(remote);
	json_decref(doc);
	return rc;
}

static int sg_rule_rm(struct controller *ctl, const struct auth_principal *who,
		      struct httpd_request *req, struct httpd_response *resp)
{
	const char *rid = httpd_param(req, "rule");
	json_t *group;
	int rc = 0, done = 0;

	db_lock(&ctl->db);
	group = sg_find(&ctl->db, httpd_param(req, "id"), tenant_scope(who), 0);
	if (group == NULL) {
		httpd_reply_error(resp, 404, "not_found", "no security group %.64s", httpd_param(req, "id"));
	} else {
		const char *p[2] = { rid, json_string_value(json_object_get(group, "id")) };
		if (db_begin(&ctl->db) < 0 ||
		    db_exec(&ctl->db, "DELETE FROM security_group_rules WHERE id = ? AND group_id = ?", 2, p) < 0) {
			db_rollback(&ctl->db);
			rc = -1;
		} else if (sqlite3_changes(ctl->db.h) == 0) {
			db_rollback(&ctl->db);
			httpd_reply_error(resp, 404, "not_found", "no rule %.64s in security group %s", rid, p[1]);
		} else if (desired_touch_all(&ctl->db) < 0 ||
			   db_event(&ctl->db, "security_group.rule_removed", p[1], "rule %s removed from %s", rid, p[1]) < 0 ||
			   db_commit(&ctl->db) < 0) {
			db_rollback(&ctl->db);
			rc = -1;
		} else {
			resp->status = 204;
			done = 1;
		}
	}
	db_unlock(&ctl->db);
	if (done)
		watch_notify(ctl);
	json_decref(group);
	return rc;
}

int api_security_groups_register(struct controller *ctl)
{
	if (api_route(ctl, "GET", "/v1/security-groups", sg_list, API_ADMIN | API_USER, "security groups with their rules", NULL) < 0 ||
	    api_route(ctl, "POST", "/v1/security-groups", sg_create, API_ADMIN | API_USER, "create a security group (no rules: ingress denied)",
		      "{\"type\":\"object\",\"required\":[\"name\"],\"additionalProperties\":false,\"properties\":{"
		      "\"name\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},\"account\":{\"type\":\"string\"}}}") < 0 ||
	    api_route(ctl, "GET", "/v1/security-groups/{id}", sg_show, API_ADMIN | API_USER, "one group (id or name)", NULL) < 0 ||
	    api_route(ctl, "DELETE", "/v1/security-groups/{id}", sg_rm, API_ADMIN | API_USER,
		      "remove a group no instance uses and no other group's rule names", NULL) < 0 ||
	    api_route(ctl, "POST", "/v1/security-groups/{id}/rules", sg_rule_add, API_ADMIN | API_USER,
		      "add a rule (docs/desired-state.md semantics); takes effect on every node",
		      "{\"type\":\"object\",\"required\":[\"direction\",\"protocol\"],\"additionalProperties\":false,\"properties\":{"
		      "\"direction\":{\"enum\":[\"ingress\",\"egress\"]},\"protocol\":{\"enum\":[\"tcp\",\"udp\",\"icmp\",\"icmpv6\",\"any\"]},"
		      "\"ports\":{\"type\":\"string\"},\"icmp_type\":{\"type\":\"integer\"},\"icmp_code\":{\"type\":\"integer\"},"
		      "\"cidr\":{\"type\":\"string\"},\"group\":{\"type\":\"string\"}}}") < 0 ||
	    api_route(ctl, "DELETE", "/v1/security-groups/{id}/rules/{rule}", sg_rule_rm, API_ADMIN | API_USER, "remove a rule", NULL) < 0)
		return -1;
	return 0;
}
