/* controller_ops_instances.c -- instance operations without HTTP: every refusal of a create, power, reboot generation, groups, reports */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops.h"
#include "unit.h"

static char dir[64];

static int sql(struct db *db, const char *text)
{
	char *msg = NULL;

	if (sqlite3_exec(db->h, text, NULL, NULL, &msg) != SQLITE_OK) {
		printf("sql: %s: %s\n", text, msg);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static long long sql_int(struct db *db, const char *text)
{
	sqlite3_stmt *st = db_prepare(db, text);
	long long v = -1;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/*
 * Two accounts; n-small (1 CPU, 1 GiB, 20 GiB, rack r1) and n-big (4 CPUs,
 * 4 GiB, 100 GiB, rack r2), both up; a public ready template, one of b's,
 * one awaiting its upload, one needing 50 GiB; a group and a key in a, a
 * group in b.
 */
static const char fixture[] =
	"INSERT INTO accounts VALUES ('acct-a', 'a', 0), ('acct-b', 'b', 0);"
	"INSERT INTO machines (id, mac, role, labels, created_at, updated_at) VALUES"
	"  ('m-1', '52:54:00:00:00:01', 'hypervisor', '{\"rack\":\"r1\"}', 0, 0),"
	"  ('m-2', '52:54:00:00:00:02', 'hypervisor', '{\"rack\":\"r2\"}', 0, 0);"
	"INSERT INTO nodes (id, mac, machine_id, state, role, cpu_count, memory_bytes, sysinfo, registered_at, last_heartbeat,"
	"  state_changed_at, revision) VALUES"
	"  ('n-small', '52:54:00:00:00:01', 'm-1', 'up', 'hypervisor', 1, 1073741824,"
	"   '{\"block_devices\":[{\"size_bytes\":21474836480}]}', 0, 0, 0, 1),"
	"  ('n-big', '52:54:00:00:00:02', 'm-2', 'up', 'hypervisor', 4, 4294967296,"
	"   '{\"block_devices\":[{\"size_bytes\":107374182400}]}', 0, 0, 0, 1);"
	"INSERT INTO templates (id, account_id, name, format, public, url, sha256, size, min_disk_gib, created_at) VALUES"
	"  ('tpl-pub', 'acct-admin', 'tiny', 'qcow2', 1, 'http://c/t', '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 1, 0, 0),"
	"  ('tpl-b', 'acct-b', 'bonly', 'qcow2', 0, 'http://c/b', '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 1, 0, 0),"
	"  ('tpl-wait', 'acct-a', 'waiting', 'qcow2', 0, NULL, NULL, NULL, 0, 0),"
	"  ('tpl-big', 'acct-a', 'big', 'qcow2', 0, 'http://c/g', '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 1, 50, 0);"
	"INSERT INTO security_groups VALUES ('sg-web', 'acct-a', 'web', NULL, 0), ('sg-b', 'acct-b', 'bgroup', NULL, 0);"
	"INSERT INTO ssh_keys VALUES ('k-1', 'acct-a', 'me', 'ssh-ed25519 AAAA me', 'ssh-ed25519', NULL, 0);";

static struct controller *setup(const char *subnet)
{
	static struct controller ctrl;
	struct errmsg err = { 0 };
	char path[128];

	memset(&ctrl.cfg, 0, sizeof(ctrl.cfg));
	ctrl.ipam_hint = ctrl.ipam6_hint = 0;
	snprintf(dir, sizeof(dir), "/tmp/controller-ops-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/c.db", dir);
	if (db_open(&ctrl.db, path, &err) < 0 || sql(&ctrl.db, fixture) < 0)
		abort();
	snprintf(ctrl.cfg.guest_subnet, sizeof(ctrl.cfg.guest_subnet), "%s", subnet);
	snprintf(ctrl.cfg.guest_gateway, sizeof(ctrl.cfg.guest_gateway), "198.51.100.1");
	snprintf(ctrl.cfg.guest_uplink, sizeof(ctrl.cfg.guest_uplink), "eth1");
	ctrl.cfg.cpu_overcommit = ctrl.cfg.memory_overcommit = ctrl.cfg.disk_overcommit = 1.0;
	ctrl.cfg.user_data_max = 16;
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

/* A create of name with type and template by account a, and nothing else. */
static struct instance_create_req req(const char *name, const char *type, const char *tpl)
{
	return (struct instance_create_req){ .account = "acct-a", .name = name, .type = type, .template_ref = tpl };
}

/* Runs a create that must be refused with status and code; nothing may be left behind. */
static int refused(struct controller *ctrl, const struct instance_create_req *r, int status, const char *code,
		   const char *message_part)
{
	struct op_error err = { 0 };
	json_t *op = NULL, *inst = NULL;
	long long before = sql_int(&ctrl->db, "SELECT count(*) FROM instances") + sql_int(&ctrl->db, "SELECT count(*) FROM operations") +
			   sql_int(&ctrl->db, "SELECT count(*) FROM ip_addresses");
	int rc = instance_create(ctrl, r, &op, &inst, &err);
	long long after = sql_int(&ctrl->db, "SELECT count(*) FROM instances") + sql_int(&ctrl->db, "SELECT count(*) FROM operations") +
			  sql_int(&ctrl->db, "SELECT count(*) FROM ip_addresses");

	if (rc != -1 || op || inst || err.status != status || strcmp(err.code, code) != 0 ||
	    strstr(err.message, message_part) == NULL || before != after) {
		printf("create %s: rc %d, %d %s \"%s\" (want %d %s \"%s\"), rows %lld -> %lld\n", r->name, rc, err.status,
		       err.code, err.message, status, code, message_part, before, after);
		json_decref(op);
		json_decref(inst);
		return 0;
	}
	return 1;
}

/* Creates; the instance's id in id (or "" when the operation failed at once). */
static int create(struct controller *ctrl, const struct instance_create_req *r, char id[40], char op_id[40], json_t **inst_out)
{
	struct op_error err = { 0 };
	json_t *op = NULL, *inst = NULL;

	if (instance_create(ctrl, r, &op, &inst, &err) < 0) {
		printf("create %s: %d %s %s\n", r->name, err.status, err.code, err.message);
		return -1;
	}
	snprintf(id, 40, "%s", inst ? json_string_value(json_object_get(inst, "id")) : "");
	snprintf(op_id, 40, "%s", json_string_value(json_object_get(op, "id")));
	if (inst_out)
		*inst_out = json_incref(inst);
	json_decref(op);
	json_decref(inst);
	return 0;
}

static const char *op_state(struct controller *ctrl, const char *op_id)
{
	static char state[16];
	json_t *op = api_operation_find(&ctrl->db, op_id);

	snprintf(state, sizeof(state), "%s", op ? json_string_value(json_object_get(op, "state")) : "(none)");
	json_decref(op);
	return state;
}

static json_t *show(struct controller *ctrl, const char *ref)
{
	return instance_find(&ctrl->db, ref, NULL);
}

TEST(create_refuses_each_reason_and_keeps_nothing)
{
	struct controller *ctrl = setup("198.51.100.0/24");
	struct instance_create_req r;
	char id[40], op[40];

	ctrl->cfg.guest_subnet[0] = '\0';
	r = req("x", "tiny", "tiny");
	CHECK(refused(ctrl, &r, 422, "no_guest_network", "guest-subnet"));
	snprintf(ctrl->cfg.guest_subnet, sizeof(ctrl->cfg.guest_subnet), "198.51.100.0/24");
	r.user_data = "#cloud-config\nmore than sixteen bytes";
	CHECK(refused(ctrl, &r, 413, "too_large", "user_data"));
	r = req("x", "tiny", "nothere");
	CHECK(refused(ctrl, &r, 422, "unknown_template", "template: no template nothere"));
	r = req("x", "tiny", "bonly"); /* b's private template */
	CHECK(refused(ctrl, &r, 422, "unknown_template", "bonly"));
	r = req("x", "huge", "tiny");
	CHECK(refused(ctrl, &r, 422, "unknown_type", "type: no instance type huge"));
	r = req("x", "tiny", "waiting");
	CHECK(refused(ctrl, &r, 409, "template_not_ready", "awaiting its upload"));
	r = req("x", "tiny", "big");
	CHECK(refused(ctrl, &r, 422, "disk_too_small", "needs 50 GiB"));

	r = req("x", "tiny", "tiny");
	r.security_groups = json_pack("[s]", "nothere");
	CHECK(refused(ctrl, &r, 422, "unknown_security_group", "security_groups[0]: no security group nothere"));
	json_decref(r.security_groups);
	r.security_groups = json_pack("[s,s]", "web", "bgroup"); /* b's group */
	CHECK(refused(ctrl, &r, 422, "unknown_security_group", "security_groups[1]"));
	json_decref(r.security_groups);
	r.security_groups = json_pack("[s,s]", "web", "sg-web");
	CHECK(refused(ctrl, &r, 400, "bad_field", "listed twice"));
	json_decref(r.security_groups);
	r.security_groups = json_array();
	for (int i = 0; i < INSTANCE_MAX_GROUPS + 1; i++)
		json_array_append_new(r.security_groups, json_string("web"));
	CHECK(refused(ctrl, &r, 400, "bad_field", "at most 16"));
	json_decref(r.security_groups);
	r.security_groups = json_string("web");
	CHECK(refused(ctrl, &r, 400, "bad_field", "expected an array"));
	json_decref(r.security_groups);
	r.security_groups = NULL;
	r.ssh_keys = json_pack("[s]", "nokey");
	CHECK(refused(ctrl, &r, 422, "unknown_ssh_key", "ssh_keys[0]: no SSH key nokey"));
	json_decref(r.ssh_keys);
	r.ssh_keys = json_pack("[i]", 1);
	CHECK(refused(ctrl, &r, 400, "bad_field", "ssh_keys[0]: expected a name or id"));
	json_decref(r.ssh_keys);

	/* capacity: bigger than any node, or labels no node has */
	r = req("x", "xlarge", "tiny");
	CHECK(refused(ctrl, &r, 422, "no_capacity", "fits no node even when empty"));
	r = req("x", "tiny", "tiny");
	r.node_labels = json_pack("{s:s}", "rack", "r9");
	CHECK(refused(ctrl, &r, 422, "no_capacity", "fits no node"));
	json_decref(r.node_labels);

	/* a name is taken once per account */
	r = req("x", "tiny", "tiny");
	CHECK_INT(create(ctrl, &r, id, op, NULL), 0);
	CHECK(refused(ctrl, &r, 409, "conflict", "name: instance x exists"));
	r.account = "acct-b";
	CHECK_INT(create(ctrl, &r, id, op, NULL), 0);

	teardown(ctrl);
}

TEST(create_places_addresses_and_touches_documents)
{
	struct controller *ctrl = setup("198.51.100.0/24");
	struct instance_create_req r = req("web-1", "small", "tiny");
	json_t *inst = NULL, *doc;
	char id[40], op[40];

	r.security_groups = json_pack("[s]", "web");
	r.ssh_keys = json_pack("[s]", "me");
	r.user_data = "#cloud-config\n";
	CHECK_INT(create(ctrl, &r, id, op, &inst), 0);
	json_decref(r.security_groups);
	json_decref(r.ssh_keys);
	CHECK(inst != NULL);
	CHECK_STR(json_string_value(json_object_get(inst, "node")), "n-big"); /* 512 MiB: the node with most room */
	CHECK_STR(json_string_value(json_object_get(inst, "state")), "pending");
	CHECK_STR(json_string_value(json_object_get(inst, "power")), "running");
	CHECK_STR(json_string_value(json_object_get(inst, "ipv4")), "198.51.100.2");
	CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(inst, "security_groups"), 0), "name")), "web");
	json_decref(inst);
	CHECK_STR(op_state(ctrl, op), "pending");
	/* a group member changes every node's document */
	CHECK_INT(sql_int(&ctrl->db, "SELECT min(revision) FROM nodes"), 2);
	doc = desired_render(ctrl, "n-big");
	CHECK(doc != NULL);
	CHECK_INT((int)json_array_size(json_object_get(doc, "instances")), 1);
	CHECK(json_object_get(json_array_get(json_object_get(doc, "instances"), 0), "reboot") == NULL);
	json_decref(doc);
	CHECK_INT(sql_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'instance.created'"), 1);
	teardown(ctrl);
}

TEST(create_when_full_fails_its_operation_with_a_reason_per_node)
{
	struct controller *ctrl = setup("198.51.100.0/24");
	struct instance_create_req r;
	char id[40], op[40], n1[40], n2[40];
	json_t *o;

	/* anti-affinity: two nodes, a third member has nowhere to go */
	r = req("db1", "tiny", "tiny");
	r.anti_affinity = "db";
	CHECK_INT(create(ctrl, &r, id, op, NULL), 0);
	CHECK(id[0] != '\0');
	snprintf(n1, sizeof(n1), "%s", id);
	r.name = "db2";
	CHECK_INT(create(ctrl, &r, id, op, NULL), 0);
	snprintf(n2, sizeof(n2), "%s", id);
	CHECK(sql_int(&ctrl->db, "SELECT count(DISTINCT node_id) FROM instances") == 2);
	r.name = "db3";
	CHECK_INT(create(ctrl, &r, id, op, NULL), 0);
	CHECK_STR(id, "");
	CHECK_STR(op_state(ctrl, op), "failure");
	o = api_operation_find(&ctrl->db, op);
	CHECK_CONTAINS(json_string_value(json_object_get(o, "reason")), "anti-affinity");
	json_decref(o);
	CHECK_INT(sql_int(&ctrl->db, "SELECT count(*) FROM instances"), 2);
	CHECK_INT(sql_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'instance.unschedulable'"), 1);
	/* another account's group of the same name does not count */
	r.account = "acct-b";
	CHECK_INT(create(ctrl, &r, id, op, NULL), 0);
	CHECK(id[0] != '\0');
	/* memory: 3 GiB fits n-big once */
	CHECK_INT(sql(&ctrl->db, "INSERT INTO instance_types VALUES ('m3', 1, 3072, 1, 0)"), 0);
	r = req("m3", "m3", "tiny");
	CHECK_INT(create(ctrl, &r, id, op, NULL), 0);
	CHECK(id[0] != '\0');
	r.name = "m3b";
	CHECK_INT(create(ctrl, &r, id, op, NULL), 0);
	CHECK_STR(id, "");
	o = api_operation_find(&ctrl->db, op);
	CHECK_CONTAINS(json_string_value(json_object_get(o, "reason")), "no node with 3 GiB free");
	CHECK_CONTAINS(json_string_value(json_object_get(o, "reason")), "n-small");
	json_decref(o);
	teardown(ctrl);
}

TEST(create_without_a_free_address_is_refused)
{
	/* a /29 with its gateway and four nodes' addresses: one left for instances */
	struct controller *ctrl = setup("198.51.100.0/29");
	struct instance_create_req r = req("one", "tiny", "tiny");
	char id[40], op[40];

	CHECK_INT(sql(&ctrl->db, "INSERT INTO ip_addresses VALUES ('198.51.100.2', 'n-1', 'node', 0), ('198.51.100.3', 'n-2', 'node', 0),"
				"  ('198.51.100.4', 'n-3', 'node', 0), ('198.51.100.5', 'n-4', 'node', 0)"), 0);
	CHECK_INT(create(ctrl, &r, id, op, NULL), 0);
	r.name = "two";
	CHECK(refused(ctrl, &r, 409, "no_address", "no free address"));
	teardown(ctrl);
}

static int report1(struct controller *ctrl, const char *node, const char *id, const char *status, const char *desired,
		   long long reboot, const char *error)
{
	struct instance_report rep = { id, status, desired, error, reboot };
	struct node_report nr = { node, "{}", &rep, id ? 1 : 0 };
	struct op_error err = { 0 };
	int rc = instance_report(ctrl, &nr, &err);

	if (rc < 0)
		printf("report: %d %s %s\n", err.status, err.code, err.message);
	return rc;
}

static int power(struct controller *ctrl, const char *ref, enum instance_power_action a, char op[40], struct op_error *err)
{
	struct op_ref r = { ref, NULL, "ak-test" };
	json_t *o = NULL;

	memset(err, 0, sizeof(*err));
	if (instance_power(ctrl, &r, a, &o, err) < 0)
		return -1;
	snprintf(op, 40, "%s", json_string_value(json_object_get(o, "id")));
	json_decref(o);
	return 0;
}

static json_t *rendered(struct controller *ctrl, const char *node, const char *id)
{
	json_t *doc = desired_render(ctrl, node), *inst = NULL, *v;
	size_t i;

	json_array_foreach(json_object_get(doc, "instances"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "id")), id) == 0)
			inst = json_incref(v);
	json_decref(doc);
	return inst;
}

TEST(power_reboot_generation_and_reports)
{
	struct controller *ctrl = setup("198.51.100.0/24");
	struct instance_create_req r = req("a1", "small", "tiny");
	struct op_error err;
	char id[40], op[40], node[40];
	json_t *inst, *d;

	CHECK_INT(create(ctrl, &r, id, op, &inst), 0);
	snprintf(node, sizeof(node), "%s", json_string_value(json_object_get(inst, "node")));
	json_decref(inst);

	/* the create's operation ends when the node runs it */
	CHECK_INT(report1(ctrl, node, id, "pending", "running", -1, NULL), 0);
	CHECK_STR(op_state(ctrl, op), "pending");
	inst = show(ctrl, id);
	CHECK_STR(json_string_value(json_object_get(inst, "state")), "starting");
	json_decref(inst);
	CHECK_INT(report1(ctrl, node, id, "running", "running", 0, NULL), 0);
	CHECK_STR(op_state(ctrl, op), "success");

	/* start of a running instance is done at once */
	CHECK_INT(power(ctrl, "a1", INSTANCE_START, op, &err), 0);
	CHECK_STR(op_state(ctrl, op), "success");

	/* stop, then reboot refused, start */
	CHECK_INT(power(ctrl, "a1", INSTANCE_STOP, op, &err), 0);
	CHECK_STR(op_state(ctrl, op), "pending");
	d = rendered(ctrl, node, id);
	CHECK_STR(json_string_value(json_object_get(d, "power")), "stopped");
	json_decref(d);
	CHECK_INT(report1(ctrl, node, id, "stopping", "stopped", 0, NULL), 0);
	CHECK_STR(op_state(ctrl, op), "pending");
	CHECK_INT(report1(ctrl, node, id, "stopped", "stopped", 0, NULL), 0);
	CHECK_STR(op_state(ctrl, op), "success");
	CHECK_INT(power(ctrl, "a1", INSTANCE_REBOOT, op, &err), -1);
	CHECK_INT(err.status, 409);
	CHECK_CONTAINS(err.message, "start it instead");
	CHECK_INT(power(ctrl, "a1", INSTANCE_START, op, &err), 0);
	CHECK_INT(report1(ctrl, node, id, "running", "running", 0, NULL), 0);
	CHECK_STR(op_state(ctrl, op), "success");

	/* reboot: the generation rises, the guest stays running in the document */
	CHECK_INT(power(ctrl, "a1", INSTANCE_REBOOT, op, &err), 0);
	d = rendered(ctrl, node, id);
	CHECK_STR(json_string_value(json_object_get(d, "power")), "running");
	CHECK_INT(json_integer_value(json_object_get(d, "reboot")), 1);
	json_decref(d);
	inst = show(ctrl, id);
	CHECK(json_is_true(json_object_get(inst, "rebooting")));
	json_decref(inst);
	CHECK_INT(report1(ctrl, node, id, "running", "running", 0, NULL), 0);
	CHECK_STR(op_state(ctrl, op), "pending"); /* the node has not reset it yet */
	CHECK_INT(report1(ctrl, node, id, "running", "running", -1, NULL), 0);
	CHECK_STR(op_state(ctrl, op), "pending");
	CHECK_INT(report1(ctrl, node, id, "running", "running", 1, NULL), 0);
	CHECK_STR(op_state(ctrl, op), "success");
	inst = show(ctrl, id);
	CHECK(json_object_get(inst, "rebooting") == NULL);
	json_decref(inst);
	CHECK_INT(power(ctrl, "a1", INSTANCE_REBOOT, op, &err), 0);
	d = rendered(ctrl, node, id);
	CHECK_INT(json_integer_value(json_object_get(d, "reboot")), 2);
	json_decref(d);
	/* a stop cancels a reboot the node has not done: not rebooting while stopped */
	CHECK_INT(power(ctrl, "a1", INSTANCE_STOP, op, &err), 0);
	inst = show(ctrl, id);
	CHECK(json_object_get(inst, "rebooting") == NULL);
	json_decref(inst);
	CHECK_INT(report1(ctrl, node, id, "stopped", "stopped", 1, NULL), 0);
	CHECK_STR(op_state(ctrl, op), "success");
	CHECK_INT(power(ctrl, "a1", INSTANCE_START, op, &err), 0);
	CHECK_STR(op_state(ctrl, op), "pending");

	/* an error fails the pending operation with the node's reason */
	CHECK_INT(report1(ctrl, node, id, "error", "running", 2, "qemu exited with status 1"), 0);
	CHECK_STR(op_state(ctrl, op), "failure");
	inst = show(ctrl, id);
	CHECK_STR(json_string_value(json_object_get(inst, "state")), "error");
	CHECK_STR(json_string_value(json_object_get(inst, "state_reason")), "qemu exited with status 1");
	json_decref(inst);

	/* not found, and not another account's */
	CHECK_INT(power(ctrl, "nothere", INSTANCE_STOP, op, &err), -1);
	CHECK_INT(err.status, 404);
	{
		struct op_ref other = { "a1", "acct-b", "ak-b" };
		json_t *o = NULL;
		CHECK_INT(instance_power(ctrl, &other, INSTANCE_STOP, &o, &err), -1);
		CHECK_INT(err.status, 404);
		CHECK_INT(instance_delete(ctrl, &other, &o, &err), -1);
		CHECK_INT(err.status, 404);
	}

	/* unknown while the node is not up */
	CHECK_INT(sql(&ctrl->db, "UPDATE nodes SET state = 'down'"), 0);
	inst = show(ctrl, id);
	CHECK_STR(json_string_value(json_object_get(inst, "state")), "unknown");
	json_decref(inst);
	CHECK_INT(sql(&ctrl->db, "UPDATE nodes SET state = 'up'"), 0);

	/* delete: address released at once, deleting until the node no longer has it */
	{
		struct op_ref ref = { "a1", "acct-a", "ak-a" };
		json_t *o = NULL;
		CHECK_INT(instance_delete(ctrl, &ref, &o, &err), 0);
		snprintf(op, sizeof(op), "%s", json_string_value(json_object_get(o, "id")));
		json_decref(o);
		CHECK_INT(instance_delete(ctrl, &(struct op_ref){ id, NULL, "ak" }, &o, &err), -1);
		CHECK_INT(err.status, 409);
		CHECK_INT(power(ctrl, id, INSTANCE_START, op + 0, &err), -1);
		CHECK_INT(err.status, 409);
	}
	CHECK_INT(sql_int(&ctrl->db, "SELECT count(*) FROM ip_addresses WHERE kind = 'instance'"), 0);
	inst = show(ctrl, id);
	CHECK_STR(json_string_value(json_object_get(inst, "state")), "deleting");
	json_decref(inst);
	d = rendered(ctrl, node, id);
	CHECK_STR(json_string_value(json_object_get(d, "power")), "deleted");
	json_decref(d);
	CHECK_INT(report1(ctrl, node, NULL, NULL, NULL, -1, NULL), 0);
	inst = show(ctrl, id);
	CHECK(inst == NULL);
	CHECK_INT(report1(ctrl, "n-none", NULL, NULL, NULL, -1, NULL), -1);
	teardown(ctrl);
}

TEST(delete_of_an_unplaced_instance_is_done_at_once)
{
	struct controller *ctrl = setup("198.51.100.0/24");
	struct instance_create_req r = req("a1", "tiny", "tiny");
	struct op_error err;
	char id[40], op[40];
	json_t *o = NULL;

	CHECK_INT(create(ctrl, &r, id, op, NULL), 0);
	CHECK_INT(sql(&ctrl->db, "UPDATE instances SET node_id = NULL"), 0);
	CHECK_INT(instance_delete(ctrl, &(struct op_ref){ "a1", "acct-a", "ak" }, &o, &err), 0);
	CHECK_STR(json_string_value(json_object_get(o, "state")), "success");
	json_decref(o);
	CHECK_INT(sql_int(&ctrl->db, "SELECT count(*) FROM instances"), 0);
	teardown(ctrl);
}

TEST(set_groups_replaces_and_refuses)
{
	struct controller *ctrl = setup("198.51.100.0/24");
	struct instance_create_req r = req("a1", "tiny", "tiny");
	struct op_ref ref = { "a1", "acct-a", "ak-a" };
	struct op_error err;
	char id[40], op[40];
	json_t *inst = NULL, *groups;
	long long rev;

	CHECK_INT(create(ctrl, &r, id, op, NULL), 0);
	rev = sql_int(&ctrl->db, "SELECT revision FROM nodes WHERE id = 'n-small'");
	groups = json_pack("[s]", "web");
	CHECK_INT(instance_set_groups(ctrl, &ref, groups, &inst, &err), 0);
	CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(inst, "security_groups"), 0), "id")), "sg-web");
	json_decref(inst);
	/* every node's document changes, the other node's too */
	CHECK(sql_int(&ctrl->db, "SELECT revision FROM nodes WHERE id = 'n-small'") > rev);
	json_decref(groups);
	groups = json_pack("[s]", "bgroup");
	CHECK_INT(instance_set_groups(ctrl, &ref, groups, &inst, &err), -1);
	CHECK_INT(err.status, 422);
	CHECK_STR(err.code, "unknown_security_group");
	json_decref(groups);
	groups = json_string("web");
	CHECK_INT(instance_set_groups(ctrl, &ref, groups, &inst, &err), -1);
	CHECK_INT(err.status, 400);
	json_decref(groups);
	groups = json_array();
	CHECK_INT(instance_set_groups(ctrl, &(struct op_ref){ "nothere", NULL, "ak" }, groups, &inst, &err), -1);
	CHECK_INT(err.status, 404);
	CHECK_INT(instance_set_groups(ctrl, &ref, groups, &inst, &err), 0);
	CHECK_INT((int)json_array_size(json_object_get(inst, "security_groups")), 0);
	json_decref(inst);
	CHECK_INT(sql(&ctrl->db, "UPDATE instances SET power = 'deleted'"), 0);
	CHECK_INT(instance_set_groups(ctrl, &(struct op_ref){ id, NULL, "ak" }, groups, &inst, &err), -1);
	CHECK_INT(err.status, 409);
	json_decref(groups);
	teardown(ctrl);
}

TEST(state_derivation)
{
	CHECK_STR(instance_state("deleted", "running", "n-1", "up"), "deleting");
	CHECK_STR(instance_state("running", "running", "n-1", "down"), "unknown");
	CHECK_STR(instance_state("running", "running", "n-1", NULL), "unknown");
	CHECK_STR(instance_state("running", NULL, "n-1", "up"), "pending");
	CHECK_STR(instance_state("stopped", "stopped", "n-1", "up"), "stopped");
	CHECK_STR(instance_state("running", "pending", NULL, NULL), "pending");
}
