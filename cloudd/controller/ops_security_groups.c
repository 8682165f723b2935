/* ops_security_groups.c -- security group operations: create, delete, add and remove rules */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* a row of the group's id, as the API shows the group (with its rules) */
static json_t *sg_json(struct db *db, sqlite3_stmt *st)
{
	return sg_find(db, db_col_text(st, 0), NULL, 1);
}

const struct named_kind security_group_kind = {
	"security group",
	"a security group",
	"SELECT id FROM security_groups WHERE (id = ?1 OR name = ?1) AND (?2 IS NULL OR account_id = ?2)"
	" ORDER BY id = ?1 DESC LIMIT 1",
	/* the key "ACCOUNT.NAME" (neither holds a '.') compared as the pair it is */
	"SELECT id, account_id || '.' || name FROM security_groups WHERE (?3 IS NULL OR account_id = ?3)"
	" AND (?1 IS NULL OR (account_id, name) > (substr(?1, 1, instr(?1, '.') - 1), substr(?1, instr(?1, '.') + 1)))"
	" ORDER BY account_id, name LIMIT ?2",
	NULL, /* sg_delete: its rules go with it */
	sg_json,
};

int sg_create(struct controller *ctrl, const struct sg_create_req *r, json_t **group, struct op_error *err)
{
	const char *p[4];
	char id[40], text[160];

	*group = NULL;
	if (util_new_id(id, sizeof(id), "sg") < 0)
		return op_internal(err, "drawing a security group id");
	p[0] = id, p[1] = r->account, p[2] = r->name, p[3] = r->description;
	snprintf(text, sizeof(text), "security group %s (%s) created", id, r->name);
	return named_insert(ctrl, &security_group_kind,
			    &(struct named_new){ id, "INSERT INTO security_groups VALUES (?, ?, ?, ?, strftime('%s','now'))",
						 p, 4, r->name, "security_group.created", text }, group, err);
}

int sg_delete(struct controller *ctrl, const struct op_ref *ref, struct op_error *err)
{
	json_t *doc;
	const char *id;
	int rc = -1, members, refs;

	db_lock(&ctrl->db);
	doc = sg_find(&ctrl->db, ref->ref, ref->scope, 0);
	if (doc == NULL) {
		op_fail(err, 404, "not_found", "no security group %.64s", ref->ref);
		goto out;
	}
	id = json_string_value(json_object_get(doc, "id"));
	members = named_count(&ctrl->db, "SELECT count(*) FROM instance_security_groups WHERE group_id = ?", id);
	refs = named_count(&ctrl->db, "SELECT count(*) FROM security_group_rules WHERE remote_group_id = ?1 AND group_id != ?1", id);
	if (members < 0 || refs < 0) {
		op_internal(err, "counting a security group's uses");
	} else if (members > 0) {
		op_fail(err, 409, "in_use", "security group %s has %d instance(s)", id, members);
	} else if (refs > 0) {
		op_fail(err, 409, "in_use", "security group %s is named by %d rule(s) of other groups", id, refs);
	} else if (db_begin(&ctrl->db) < 0 ||
		   db_exec(&ctrl->db, "DELETE FROM security_group_rules WHERE group_id = ?", 1, &id) < 0 ||
		   db_exec(&ctrl->db, "DELETE FROM security_groups WHERE id = ?", 1, &id) < 0 ||
		   db_event(&ctrl->db, "security_group.deleted", id, "security group %s removed", id) < 0 ||
		   db_commit(&ctrl->db) < 0) {
		op_internal(err, "removing a security group");
		db_rollback(&ctrl->db);
	} else {
		rc = 0;
	}
out:
	db_unlock(&ctrl->db);
	json_decref(doc);
	return rc;
}

static int sg_rule_insert(struct db *db, const char *rule_id, const char *group_id, const struct sg_rule_req *rule,
			  const char *remote_id)
{
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO security_group_rules VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, strftime('%s','now'))");
	int step;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, rule_id);
	db_bind_text(st, 2, group_id);
	db_bind_text(st, 3, rule->direction);
	db_bind_text(st, 4, rule->protocol);
	db_bind_text(st, 5, rule->ports);
	if (rule->has_icmp_type)
		sqlite3_bind_int64(st, 6, rule->icmp_type);
	if (rule->has_icmp_code)
		sqlite3_bind_int64(st, 7, rule->icmp_code);
	db_bind_text(st, 8, rule->cidr);
	db_bind_text(st, 9, remote_id);
	step = sqlite3_step(st);
	sqlite3_finalize(st);
	if (step != SQLITE_DONE) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int sg_rule_add(struct controller *ctrl, const struct op_ref *ref, const struct sg_rule_req *rule, json_t **result,
		struct op_error *err)
{
	json_t *group = NULL, *remote = NULL;
	const char *gid, *remote_id = NULL;
	char rid[40];
	int rc = -1, n;

	*result = NULL;
	if (util_new_id(rid, sizeof(rid), "rule") < 0)
		return op_internal(err, "drawing a rule id");
	db_lock(&ctrl->db);
	group = sg_find(&ctrl->db, ref->ref, ref->scope, 0);
	if (group == NULL) {
		op_fail(err, 404, "not_found", "no security group %.64s", ref->ref);
		goto out;
	}
	gid = json_string_value(json_object_get(group, "id"));
	if (rule->group) {
		remote = sg_find(&ctrl->db, rule->group, json_string_value(json_object_get(group, "account")), 0);
		if (remote == NULL) {
			op_fail(err, 422, "unknown_group", "group: no security group %.64s in this account", rule->group);
			goto out;
		}
		remote_id = json_string_value(json_object_get(remote, "id"));
	}
	n = named_count(&ctrl->db, "SELECT count(*) FROM security_group_rules WHERE group_id = ?", gid);
	if (n < 0) {
		op_internal(err, "counting rules");
		goto out;
	}
	if (n >= SG_MAX_RULES) {
		op_fail(err, 422, "too_many_rules", "security group %s has %d rules already (at most %d)", gid, n, SG_MAX_RULES);
		goto out;
	}
	/* the group's rules are in every document that names the group: all of them change */
	if (db_begin(&ctrl->db) < 0 || sg_rule_insert(&ctrl->db, rid, gid, rule, remote_id) < 0 ||
	    desired_touch_all(&ctrl->db) < 0 ||
	    db_event(&ctrl->db, "security_group.rule_added", gid, "rule %s added to %s", rid, gid) < 0 ||
	    db_commit(&ctrl->db) < 0) {
		op_internal(err, "adding a rule");
		db_rollback(&ctrl->db);
		goto out;
	}
	*result = sg_find(&ctrl->db, gid, NULL, 1);
	rc = *result ? 0 : op_internal(err, "reading the security group");
	db_unlock(&ctrl->db);
	watch_notify(ctrl);
	json_decref(group);
	json_decref(remote);
	return rc;
out:
	db_unlock(&ctrl->db);
	json_decref(group);
	json_decref(remote);
	return rc;
}

int sg_rule_delete(struct controller *ctrl, const struct op_ref *ref, const char *rule_id, struct op_error *err)
{
	json_t *group;
	int rc = -1;

	db_lock(&ctrl->db);
	group = sg_find(&ctrl->db, ref->ref, ref->scope, 0);
	if (group == NULL) {
		op_fail(err, 404, "not_found", "no security group %.64s", ref->ref);
	} else {
		const char *p[2] = { rule_id, json_string_value(json_object_get(group, "id")) };
		if (db_begin(&ctrl->db) < 0 ||
		    db_exec(&ctrl->db, "DELETE FROM security_group_rules WHERE id = ? AND group_id = ?", 2, p) < 0) {
			op_internal(err, "removing a rule");
			db_rollback(&ctrl->db);
		} else if (sqlite3_changes(ctrl->db.h) == 0) {
			db_rollback(&ctrl->db);
			op_fail(err, 404, "not_found", "no rule %.64s in security group %s", rule_id, p[1]);
		} else if (desired_touch_all(&ctrl->db) < 0 ||
			   db_event(&ctrl->db, "security_group.rule_removed", p[1], "rule %s removed from %s", rule_id, p[1]) < 0 ||
			   db_commit(&ctrl->db) < 0) {
			op_internal(err, "removing a rule");
			db_rollback(&ctrl->db);
		} else {
			rc = 0;
		}
	}
	db_unlock(&ctrl->db);
	if (rc == 0)
		watch_notify(ctrl);
	json_decref(group);
	return rc;
}
