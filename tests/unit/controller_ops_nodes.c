/* controller_ops_nodes.c -- machine and node operations without HTTP: each refusal, the happy paths, the events refusals leave */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller_fixture.h"
#include "unit.h"

/* A controller with image v1 published, default-role hypervisor, tokens valid 600 s, no netboot. */
static struct controller *setup(void)
{
	struct controller *ctrl = fixture_open("INSERT INTO images VALUES ('v1', 'k', 'i', 1, 2, NULL, 0);");

	snprintf(ctrl->cfg.default_role, sizeof(ctrl->cfg.default_role), "hypervisor");
	snprintf(ctrl->cfg.data_dir, sizeof(ctrl->cfg.data_dir), "%s", fixture_dir);
	ctrl->cfg.token_ttl = 600;
	ctrl->cfg.heartbeat_interval = 5;
	ctrl->cfg.netboot = NETBOOT_OFF;
	return ctrl;
}

TEST(machine_create_update_refusals)
{
	struct controller *ctrl = setup();
	struct machine_req a = { .mac = "52:54:00:00:00:01", .name = "rack1-a", .labels = "{\"zone\":\"a\"}" };
	struct machine_req b = { .mac = "52:54:00:00:00:02", .name = "rack1-b", .role = "storage", .image_version = "v1" };
	struct machine_req same_mac = { .mac = "52:54:00:00:00:01" }, same_name = { .mac = "52:54:00:00:00:03", .name = "rack1-a" };
	struct machine_req no_image = { .mac = "52:54:00:00:00:04", .image_version = "v9" };
	struct op_ref ref = { "rack1-a", NULL, "ak-admin" };
	struct op_error err = { 0 };
	json_t *m = NULL;
	char id[40];

	CHECK_INT(machine_create(ctrl, &a, &m, &err), 0);
	CHECK_STR(json_string_value(json_object_get(m, "role")), "hypervisor");
	CHECK_STR(json_string_value(json_object_get(json_object_get(m, "labels"), "zone")), "a");
	CHECK(json_is_null(json_object_get(m, "image_version")));
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(m, "id")));
	json_decref(m);
	CHECK_INT(machine_create(ctrl, &b, &m, &err), 0);
	CHECK_STR(json_string_value(json_object_get(m, "image_version")), "v1");
	json_decref(m);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'machine.created'"), 2);
	CHECK(fixture_refused(machine_create(ctrl, &same_mac, &m, &err), &err, 409, "conflict", id));
	CHECK(m == NULL);
	CHECK(fixture_refused(machine_create(ctrl, &same_name, &m, &err), &err, 409, "conflict", "a machine named rack1-a exists"));
	CHECK(fixture_refused(machine_create(ctrl, &no_image, &m, &err), &err, 422, "unknown_image", "v9"));
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM machines"), 2);

	/* update: by name, MAC or id; the MAC may be given only as it is */
	{
		struct machine_req rename = { .has_name = 1, .name = "rack2-a", .has_mac = 1, .mac = "52-54-00-00-00-01",
					      .changes = "name, mac" };
		struct machine_req bad_mac = { .has_mac = 1, .mac = "nope" }, other_mac = { .has_mac = 1, .mac = "52:54:00:00:00:09" };
		struct machine_req mac_not_string = { .has_mac = 1 }, taken = { .has_name = 1, .name = "rack1-b" };
		struct machine_req unknown_image = { .has_image_version = 1, .image_version = "v9" };
		struct machine_req unpin = { .has_image_version = 1, .has_name = 1, .changes = "image_version, name" };
		struct op_ref missing = { "nothere", NULL, "ak-admin" }, by_id = { id, NULL, "ak-admin" };
		struct op_ref b_ref = { "52:54:00:00:00:02", NULL, "ak-admin" };

		CHECK(fixture_refused(machine_update(ctrl, &missing, &rename, &m, &err), &err, 404, "not_found", "no machine nothere"));
		CHECK(fixture_refused(machine_update(ctrl, &ref, &bad_mac, &m, &err), &err, 400, "bad_field", "mac:"));
		CHECK(fixture_refused(machine_update(ctrl, &ref, &mac_not_string, &m, &err), &err, 400, "bad_field", "mac:"));
		CHECK(fixture_refused(machine_update(ctrl, &ref, &other_mac, &m, &err), &err, 422, "immutable_field", "MAC cannot change"));
		CHECK(fixture_refused(machine_update(ctrl, &ref, &taken, &m, &err), &err, 409, "conflict", "another machine is named rack1-b"));
		CHECK(fixture_refused(machine_update(ctrl, &ref, &unknown_image, &m, &err), &err, 422, "unknown_image", "v9"));
		CHECK(m == NULL);
		CHECK_INT(machine_update(ctrl, &ref, &rename, &m, &err), 0);
		CHECK_STR(json_string_value(json_object_get(m, "name")), "rack2-a");
		CHECK_STR(json_string_value(json_object_get(json_object_get(m, "labels"), "zone")), "a"); /* unchanged */
		json_decref(m);
		CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'machine.updated'"
						  " AND message LIKE '%updated: name, mac'"), 1);
		/* null name and image_version: cleared, the machine follows the default again */
		CHECK_INT(machine_update(ctrl, &b_ref, &unpin, &m, &err), 0);
		CHECK(json_is_null(json_object_get(m, "name")));
		CHECK(json_is_null(json_object_get(m, "image_version")));
		CHECK_STR(json_string_value(json_object_get(m, "role")), "storage");
		json_decref(m);
		CHECK_INT(machine_update(ctrl, &by_id, &(struct machine_req){ .role = "gpu" }, &m, &err), 0);
		CHECK_STR(json_string_value(json_object_get(m, "role")), "gpu");
		json_decref(m);
		CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE message LIKE '%updated: nothing'"), 1);
	}
	fixture_close(ctrl);
}

TEST(machine_approve_delete)
{
	struct controller *ctrl = setup();
	struct machine_req a = { .mac = "52:54:00:00:00:01" };
	struct op_ref ref = { "52:54:00:00:00:01", NULL, "ak-operator" }, missing = { "nothere", NULL, "ak-operator" };
	struct op_error err = { 0 };
	json_t *m = NULL;

	CHECK(fixture_refused(machine_approve(ctrl, &missing, &m, &err), &err, 404, "not_found", "no machine nothere"));
	CHECK(fixture_refused(machine_delete(ctrl, &missing, &err), &err, 404, "not_found", "no machine nothere"));
	CHECK_INT(machine_create(ctrl, &a, &m, &err), 0);
	json_decref(m);
	CHECK_INT(sqlite3_exec(ctrl->db.h, "UPDATE machines SET state = 'pending'", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(machine_approve(ctrl, &ref, &m, &err), 0);
	CHECK_STR(json_string_value(json_object_get(m, "state")), "approved");
	json_decref(m);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'machine.approved'"
					  " AND message LIKE '%approved by key ak-operator'"), 1);
	/* approving an approved machine answers the same and records nothing */
	CHECK_INT(machine_approve(ctrl, &ref, &m, &err), 0);
	CHECK_STR(json_string_value(json_object_get(m, "state")), "approved");
	json_decref(m);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'machine.approved'"), 1);
	CHECK_INT(machine_delete(ctrl, &ref, &err), 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM machines"), 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'machine.deleted'"), 1);
	CHECK(fixture_refused(machine_delete(ctrl, &ref, &err), &err, 404, "not_found", "no machine"));
	fixture_close(ctrl);
}

/* A sysinfo document from the machine that booted with mac. */
static json_t *sysinfo(const char *mac)
{
	return mac ? json_pack("{s:s,s:s,s:{s:i},s:{s:I}}", "boot_mac", mac, "hostname", "node-1", "cpu", "count", 4,
			       "memory", "total_bytes", (json_int_t)1 << 30)
		   : json_pack("{s:s}", "hostname", "node-1");
}

static int do_register(struct controller *ctrl, const char *token, json_t *sys, const char *addr,
		       struct node_credentials *cred, struct op_error *err)
{
	struct node_register_req r = { token, strlen(token), sys, addr };
	int rc = node_register(ctrl, &r, cred, err);

	json_decref(sys);
	return rc;
}

TEST(node_register_refusals)
{
	struct controller *ctrl = setup();
	struct node_credentials cred, again;
	struct op_error err = { 0 };
	char token[65], second[65];

	CHECK(fixture_refused(do_register(ctrl, "0123", sysinfo("52:54:00:00:00:01"), "192.0.2.5", &cred, &err), &err, 401,
		      "token_unknown", "not issued by this controller"));
	CHECK_INT(nodes_issue_token(ctrl, "52:54:00:00:00:01", NULL, token), 0);
	CHECK_INT(sqlite3_exec(ctrl->db.h, "UPDATE enroll_tokens SET expires_at = 1", NULL, NULL, NULL), SQLITE_OK);
	CHECK(fixture_refused(do_register(ctrl, token, sysinfo("52:54:00:00:00:01"), "192.0.2.5", &cred, &err), &err, 401,
		      "token_expired", "token-ttl 600 s"));
	CHECK_INT(sqlite3_exec(ctrl->db.h, "UPDATE enroll_tokens SET expires_at = strftime('%s','now') + 600", NULL, NULL, NULL),
		  SQLITE_OK);
	CHECK(fixture_refused(do_register(ctrl, token, sysinfo(NULL), "192.0.2.5", &cred, &err), &err, 422, "mac_mismatch",
		      "boot_mac: missing"));
	CHECK(fixture_refused(do_register(ctrl, token, sysinfo("52:54:00:00:00:02"), "192.0.2.5", &cred, &err), &err, 422,
		      "mac_mismatch", "52:54:00:00:00:02 is not the MAC"));
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM nodes"), 0);

	/* the machine: a pending one may not register; the refusal is an event */
	CHECK_INT(sqlite3_exec(ctrl->db.h, "INSERT INTO machines (id, mac, role, created_at, updated_at, state)"
					   " VALUES ('m-1', '52:54:00:00:00:01', 'storage', 0, 0, 'pending')", NULL, NULL, NULL),
		  SQLITE_OK);
	CHECK(fixture_refused(do_register(ctrl, token, sysinfo("52:54:00:00:00:01"), "192.0.2.5", &cred, &err), &err, 403,
		      "machine_pending", "awaits approval"));
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'node.register_refused'"), 1);
	CHECK_INT(sqlite3_exec(ctrl->db.h, "UPDATE machines SET state = 'approved'", NULL, NULL, NULL), SQLITE_OK);

	/* registered: a node of the machine's role with its own key; the token is spent */
	CHECK_INT(do_register(ctrl, token, sysinfo("52:54:00:00:00:01"), "192.0.2.5", &cred, &err), 0);
	CHECK_STR(cred.role, "storage");
	CHECK(cred.node_id[0] && cred.key_id[0] && strlen(cred.secret) == 64);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM nodes WHERE state = 'up' AND cpu_count = 4"
					  " AND address = '192.0.2.5'"), 1);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM api_keys WHERE role = 'node' AND revoked_at IS NULL"), 1);
	CHECK(fixture_refused(do_register(ctrl, token, sysinfo("52:54:00:00:00:01"), "192.0.2.6", &again, &err), &err, 409,
		      "token_used", "already used"));
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'node.token_reused'"), 1);

	/* a node that is up keeps its key: a new token cannot take its identity */
	CHECK_INT(nodes_issue_token(ctrl, "52:54:00:00:00:01", "m-1", second), 0);
	CHECK(fixture_refused(do_register(ctrl, second, sysinfo("52:54:00:00:00:01"), "192.0.2.6", &again, &err), &err, 409,
		      "node_up", "is up"));
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'node.register_refused'"), 2);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM enroll_tokens WHERE used_at IS NULL"), 1);
	/* once down it registers again: the same node, a new key, the old one revoked */
	CHECK_INT(sqlite3_exec(ctrl->db.h, "UPDATE nodes SET state = 'down'", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(do_register(ctrl, second, sysinfo("52:54:00:00:00:01"), "192.0.2.6", &again, &err), 0);
	CHECK_STR(again.node_id, cred.node_id);
	CHECK(strcmp(again.key_id, cred.key_id) != 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM api_keys WHERE role = 'node' AND revoked_at IS NULL"), 1);
	fixture_close(ctrl);
}

TEST(node_register_dhcp_lease)
{
	struct controller *ctrl = setup();
	struct node_credentials cred;
	struct op_error err = { 0 };
	char token[65], path[160];
	FILE *f;

	ctrl->cfg.netboot = NETBOOT_DHCP;
	snprintf(path, sizeof(path), "%s/dnsmasq", fixture_dir);
	CHECK_INT(mkdir(path, 0755), 0);
	CHECK_INT(nodes_issue_token(ctrl, "52:54:00:00:00:03", NULL, token), 0);
	/* no lease file: no lease at all */
	CHECK(fixture_refused(do_register(ctrl, token, sysinfo("52:54:00:00:00:03"), "192.0.2.99", &cred, &err), &err, 403,
		      "address_mismatch", "there is no DHCP lease for 52:54:00:00:00:03"));
	snprintf(path, sizeof(path), "%s/dnsmasq/dnsmasq.leases", fixture_dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fprintf(f, "0 52:54:00:00:00:03 192.0.2.10 node-3 *\n");
	fclose(f);
	CHECK(fixture_refused(do_register(ctrl, token, sysinfo("52:54:00:00:00:03"), "192.0.2.99", &cred, &err), &err, 403,
		      "address_mismatch", "dnsmasq leased 192.0.2.10 to 52:54:00:00:00:03"));
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'node.register_refused'"), 2);
	CHECK_INT(do_register(ctrl, token, sysinfo("52:54:00:00:00:03"), "192.0.2.10", &cred, &err), 0);
	CHECK_STR(cred.role, "hypervisor");
	fixture_close(ctrl);
}

TEST(node_heartbeat_delete)
{
	struct controller *ctrl = setup();
	struct op_ref ref = { "n-1", NULL, "ak-admin" }, by_mac = { "52:54:00:00:00:01", NULL, "ak-admin" };
	struct op_error err = { 0 };
	char status[] = "{\"instances\":2}";

	CHECK_INT(sqlite3_exec(ctrl->db.h, "INSERT INTO nodes (id, mac, state, registered_at, last_heartbeat, state_changed_at)"
					   " VALUES ('n-1', '52:54:00:00:00:01', 'up', 0, 0, 0);"
					   "INSERT INTO api_keys VALUES ('ak-n1', 's', 'node', 'acct-admin', 'n-1', NULL, 0, NULL);",
				  NULL, NULL, NULL), SQLITE_OK);
	CHECK(fixture_refused(node_heartbeat(ctrl, "n-9", NULL, &err), &err, 404, "not_found", "no node n-9"));
	/* a node that is up: written later, with the others */
	CHECK_INT(node_heartbeat(ctrl, "n-1", status, &err), 0);
	CHECK(nodes_heartbeat_pending(ctrl, "n-1"));
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT last_heartbeat FROM nodes"), 0);
	CHECK_INT(nodes_flush(ctrl), 0);
	CHECK((int)fixture_int(&ctrl->db, "SELECT last_heartbeat FROM nodes") > 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM nodes WHERE status = '{\"instances\":2}'"), 1);

	/* one that is up cannot be forgotten */
	CHECK(fixture_refused(node_delete(ctrl, &ref, &err), &err, 409, "conflict", "node n-1 is up"));
	/* one that was down is up at once, with an event */
	CHECK_INT(sqlite3_exec(ctrl->db.h, "UPDATE nodes SET state = 'down'", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(node_heartbeat(ctrl, "n-1", NULL, &err), 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM nodes WHERE state = 'up' AND status IS NOT NULL"), 1);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'node.state'"
					  " AND message LIKE '%heartbeat after being down'"), 1);

	CHECK_INT(sqlite3_exec(ctrl->db.h, "UPDATE nodes SET state = 'unknown'", NULL, NULL, NULL), SQLITE_OK);
	CHECK(fixture_refused(node_delete(ctrl, &(struct op_ref){ "n-9", NULL, "ak" }, &err), &err, 404, "not_found", "no node n-9"));
	CHECK_INT(node_delete(ctrl, &by_mac, &err), 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM nodes"), 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM api_keys WHERE node_id = 'n-1' AND revoked_at IS NULL"), 0);
	CHECK(fixture_refused(node_delete(ctrl, &ref, &err), &err, 404, "not_found", "no node n-1"));
	fixture_close(ctrl);
}

TEST(node_boot_failure_event)
{
	struct controller *ctrl = setup();
	struct op_error err = { 0 };

	CHECK_INT(node_boot_failure(ctrl, "52:54:00:00:00:07", "network", "no link on eth0", "192.0.2.7", &err), 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'boot.failed'"
					  " AND subject = '52:54:00:00:00:07' AND message ="
					  " 'node 52:54:00:00:00:07 (192.0.2.7) failed in stage network: no link on eth0'"), 1);
	/* an event that cannot be written is an internal error, and nothing is kept */
	CHECK_INT(sqlite3_exec(ctrl->db.h, "CREATE TRIGGER no_events BEFORE INSERT ON events"
					   " BEGIN SELECT RAISE(ABORT, 'full'); END;", NULL, NULL, NULL), SQLITE_OK);
	CHECK(fixture_refused(node_boot_failure(ctrl, "52:54:00:00:00:07", "disk", "x", "192.0.2.7", &err), &err, 500,
			      "internal", "recording a boot failure"));
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'boot.failed'"), 1);
	fixture_close(ctrl);
}
