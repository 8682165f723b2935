/* controller_ops_security_groups.c -- security group operations without HTTP: create, rules with their refusals, delete while in use */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops.h"
#include "unit.h"

static char dir[64];

static long long revisions(struct db *db)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT sum(revision) FROM nodes");
	long long v = -1;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static struct controller *setup(void)
{
	static struct controller ctrl;
	struct errmsg err = { 0 };
	char path[128];

	snprintf(dir, sizeof(dir), "/tmp/controller-ops-sg-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/c.db", dir);
	if (db_open(&ctrl.db, path, &err) < 0 ||
	    sqlite3_exec(ctrl.db.h, "INSERT INTO accounts VALUES ('acct-a', 'a', 0), ('acct-b', 'b', 0);"
				   "INSERT INTO nodes (id, mac, state, registered_at, last_heartbeat, state_changed_at, revision)"
				   "  VALUES ('n-1', '52:54:00:00:00:01', 'up', 0, 0, 0, 1), ('n-2', '52:54:00:00:00:02', 'up', 0, 0, 0, 1);",
			 NULL, NULL, NULL) != SQLITE_OK)
		abort();
	return &ctrl;
}

static void teardown(struct controller *ctrl)
{
	char cmd[128];

	db_close(&ctrl->db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		abort();
}

TEST(security_group_create_rules_delete)
{
	struct controller *ctrl = setup();
	struct sg_create_req web = { "acct-a", "web", "web servers" }, db = { "acct-a", "db", NULL }, bweb = { "acct-b", "web", NULL };
	struct sg_rule_req tcp80 = { .direction = "ingress", .protocol = "tcp", .ports = "80", .cidr = "0.0.0.0/0" };
	struct sg_rule_req from_db = { .direction = "ingress", .protocol = "tcp", .ports = "5432", .group = "db" };
	struct sg_rule_req from_b = { .direction = "ingress", .protocol = "tcp", .ports = "22", .group = "bgroup" };
	struct op_ref ref = { "web", "acct-a", "ak-a" }, dbref = { "db", "acct-a", "ak-a" };
	struct op_error err;
	json_t *g = NULL;
	char rule_id[40];
	long long rev;

	CHECK_INT(sg_create(ctrl, &web, &g, &err), 0);
	CHECK_STR(json_string_value(json_object_get(g, "description")), "web servers");
	CHECK_INT((int)json_array_size(json_object_get(g, "rules")), 0);
	json_decref(g);
	CHECK_INT(sg_create(ctrl, &web, &g, &err), -1);
	CHECK_INT(err.status, 409);
	CHECK_STR(err.code, "conflict");
	CHECK_INT(sg_create(ctrl, &bweb, &g, &err), 0); /* names are per account */
	json_decref(g);
	CHECK_INT(sg_create(ctrl, &db, &g, &err), 0);
	json_decref(g);

	/* a rule changes every node's document */
	rev = revisions(&ctrl->db);
	CHECK_INT(sg_rule_add(ctrl, &ref, &tcp80, &g, &err), 0);
	CHECK(revisions(&ctrl->db) == rev + 2);
	CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(g, "rules"), 0), "cidr")), "0.0.0.0/0");
	snprintf(rule_id, sizeof(rule_id), "%s", json_string_value(json_object_get(json_array_get(json_object_get(g, "rules"), 0), "id")));
	json_decref(g);
	CHECK_INT(sg_rule_add(ctrl, &ref, &from_db, &g, &err), 0);
	CHECK_INT((int)json_array_size(json_object_get(g, "rules")), 2);
	json_decref(g);
	/* refusals: another account's group, an unknown group, another account's view of the group */
	CHECK_INT(sg_rule_add(ctrl, &ref, &from_b, &g, &err), -1);
	CHECK_INT(err.status, 422);
	CHECK_STR(err.code, "unknown_group");
	CHECK_INT(sg_rule_add(ctrl, &(struct op_ref){ "web", "acct-c", "ak" }, &tcp80, &g, &err), -1);
	CHECK_INT(err.status, 404);
	CHECK_INT(sqlite3_exec(ctrl->db.h, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1022)"
					  " INSERT INTO security_group_rules SELECT 'r' || i, g.id, 'ingress', 'tcp', '1', NULL, NULL,"
					  " '10.0.0.0/8', NULL, 0 FROM n, security_groups g WHERE g.name = 'web' AND g.account_id = 'acct-a'",
				  NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(sg_rule_add(ctrl, &ref, &tcp80, &g, &err), -1);
	CHECK_INT(err.status, 422);
	CHECK_STR(err.code, "too_many_rules");

	/* db is named by web's rule: not removable until the rule goes */
	CHECK_INT(sg_delete(ctrl, &dbref, &err), -1);
	CHECK_INT(err.status, 409);
	CHECK_CONTAINS(err.message, "named by 1 rule");
	CHECK_INT(sg_rule_delete(ctrl, &ref, "nothere", &err), -1);
	CHECK_INT(err.status, 404);
	rev = revisions(&ctrl->db);
	CHECK_INT(sg_rule_delete(ctrl, &ref, rule_id, &err), 0);
	CHECK(revisions(&ctrl->db) == rev + 2);
	CHECK_INT(sqlite3_exec(ctrl->db.h, "DELETE FROM security_group_rules WHERE remote_group_id IS NOT NULL", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(sg_delete(ctrl, &dbref, &err), 0);
	CHECK_INT(sg_delete(ctrl, &dbref, &err), -1);
	CHECK_INT(err.status, 404);
	teardown(ctrl);
}
