/* controller_desired.c -- a node's desired-state document: network, templates, groups with members cloud-wide, instances, deleted ones */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller.h"
#include "unit.h"

/* the node's own parser (proto/desired.c, linked into both): whatever the controller renders, cloudd must accept */
#include "desired.h"

static int node_accepts(json_t *doc)
{
	struct state_doc sd;
	struct errmsg err = { 0 };
	char msg[1024];

	memset(&sd, 0, sizeof(sd));
	if (state_from_json(doc, &sd, &err) < 0) {
		printf("the node refuses the document: %s\n", errmsg_str(&err, msg, sizeof(msg)));
		return 0;
	}
	state_free(&sd);
	return 1;
}

/* Member by dotted path; numeric parts index arrays. */
static json_t *ctl_json_path(json_t *doc, const char *path)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *t = strtok_r(buf, ".", &save); t && doc; t = strtok_r(NULL, ".", &save))
		doc = json_is_array(doc) ? json_array_get(doc, (size_t)atoi(t)) : json_object_get(doc, t);
	return doc;
}

static int sql(struct db *db, const char *text)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db->h, text, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		printf("sql: %s: %s\n", text, msg);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static const char fixture[] =
	"INSERT INTO accounts VALUES ('acct-a', 'a', 0);"
	"INSERT INTO machines (id, mac, role, labels, created_at, updated_at) VALUES"
	"  ('m-1', '52:54:00:00:00:01', 'hypervisor', '{\"guest-uplink\":\"eth2\"}', 0, 0);"
	"INSERT INTO nodes (id, mac, machine_id, state, registered_at, last_heartbeat, state_changed_at, revision, guest_address)"
	"  VALUES ('n-1', '52:54:00:00:00:01', 'm-1', 'up', 0, 0, 0, 7, '198.51.100.2'),"
	"         ('n-2', '52:54:00:00:00:02', NULL, 'up', 0, 0, 0, 3, '198.51.100.3');"
	"INSERT INTO templates (id, account_id, name, format, public, url, sha256, size, created_at) VALUES"
	"  ('tpl-disk', 'acct-admin', 'disk', 'qcow2', 1, 'http://c/t.qcow2', '" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" "', 100, 0);"
	"INSERT INTO templates (id, account_id, name, format, public, url, sha256, initrd_url, initrd_sha256, cmdline, created_at)"
	"  VALUES ('tpl-k', 'acct-admin', 'k', 'kernel', 1, 'http://c/vmlinuz', '" "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" "',"
	"  'http://c/initrd', '" "2123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" "', 'console=ttyS0', 0);"
	"INSERT INTO security_groups VALUES ('sg-web', 'acct-a', 'web', NULL, 0), ('sg-db', 'acct-a', 'db', NULL, 0);"
	"INSERT INTO security_group_rules VALUES ('r1', 'sg-web', 'ingress', 'tcp', '80', NULL, NULL, '0.0.0.0/0', NULL, 1),"
	"  ('r2', 'sg-web', 'ingress', 'tcp', '5432', NULL, NULL, NULL, 'sg-db', 2), ('r3', 'sg-db', 'ingress', 'tcp', '22', NULL, NULL, NULL, 'sg-db', 3);"
	"INSERT INTO instances (id, account_id, name, type, vcpus, memory_mib, disk_gib, template_id, node_id, mac, ipv4, power,"
	"  ssh_keys, user_data, created_at, updated_at) VALUES"
	"  ('i-1', 'acct-a', 'web-1', 'tiny', 1, 64, 1, 'tpl-disk', 'n-1', '52:54:00:aa:00:01', '198.51.100.10', 'running', '[\"ssh-ed25519 AAAA x\"]', '#cloud-config', 1, 1),"
	"  ('i-2', 'acct-a', 'db-1', 'tiny', 1, 64, 1, 'tpl-k', 'n-2', '52:54:00:aa:00:02', '198.51.100.11', 'running', '[]', NULL, 2, 2),"
	"  ('i-3', 'acct-a', 'old', 'tiny', 1, 64, 1, 'tpl-disk', 'n-1', '52:54:00:aa:00:03', NULL, 'deleted', '[]', NULL, 3, 3),"
	"  ('i-4', 'acct-a', 'db-2', 'tiny', 1, 64, 1, 'tpl-k', 'n-1', '52:54:00:aa:00:04', '198.51.100.12', 'stopped', '[]', NULL, 4, 4);"
	"INSERT INTO instance_security_groups VALUES ('i-1', 'sg-web'), ('i-2', 'sg-db'), ('i-4', 'sg-db');";

TEST(renders_a_nodes_document)
{
	static struct controller ctrl;
	struct errmsg err = { 0 };
	char dir[] = "/tmp/controller-desired-XXXXXX", path[128], cmd[160];
	json_t *doc, *inst, *g;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/c.db", dir);
	CHECK_INT(db_open(&ctrl.db, path, &err), 0);
	snprintf(ctrl.cfg.guest_subnet, sizeof(ctrl.cfg.guest_subnet), "198.51.100.0/24");
	snprintf(ctrl.cfg.guest_gateway, sizeof(ctrl.cfg.guest_gateway), "198.51.100.1");
	snprintf(ctrl.cfg.guest_dns, sizeof(ctrl.cfg.guest_dns), "198.51.100.1, 192.0.2.53");
	snprintf(ctrl.cfg.guest_uplink, sizeof(ctrl.cfg.guest_uplink), "eth1");
	CHECK_INT(sql(&ctrl.db, fixture), 0);

	doc = desired_render(&ctrl, "n-1");
	CHECK(doc != NULL);
	CHECK_INT((int)json_integer_value(json_object_get(doc, "version")), 1);
	CHECK_INT((int)json_integer_value(json_object_get(doc, "revision")), 7);
	CHECK(node_accepts(doc));
	CHECK_STR(json_string_value(ctl_json_path(doc, "network.address")), "198.51.100.2/24");
	CHECK_STR(json_string_value(ctl_json_path(doc, "network.uplink")), "eth2"); /* the machine's label */
	CHECK_STR(json_string_value(ctl_json_path(doc, "network.gateway")), "198.51.100.1");
	CHECK_INT((int)json_array_size(ctl_json_path(doc, "network.dns")), 2);
	CHECK_INT((int)json_array_size(json_object_get(doc, "instances")), 3);
	inst = json_array_get(json_object_get(doc, "instances"), 0);
	CHECK_STR(json_string_value(json_object_get(inst, "id")), "i-1");
	CHECK_STR(json_string_value(ctl_json_path(inst, "disks.0.template")), "tpl-disk");
	CHECK_INT((int)json_integer_value(ctl_json_path(inst, "disks.0.size_mib")), 1024);
	CHECK_STR(json_string_value(ctl_json_path(inst, "nics.0.ipv4")), "198.51.100.10");
	CHECK_STR(json_string_value(ctl_json_path(inst, "nics.0.security_groups.0")), "sg-web");
	CHECK_STR(json_string_value(ctl_json_path(inst, "cloud_init.user_data")), "#cloud-config");
	inst = json_array_get(json_object_get(doc, "instances"), 1);
	CHECK_STR(json_string_value(json_object_get(inst, "power")), "deleted");
	CHECK(json_is_true(json_object_get(inst, "delete_volumes")));
	inst = json_array_get(json_object_get(doc, "instances"), 2);
	CHECK_STR(json_string_value(json_object_get(inst, "power")), "stopped");
	CHECK_STR(json_string_value(ctl_json_path(inst, "boot.template")), "tpl-k");
	CHECK(ctl_json_path(inst, "disks.0.template") == NULL);
	/* both templates, and sg-db because sg-web's rule names it; members cloud-wide (i-2 is on n-2) */
	CHECK_INT((int)json_array_size(json_object_get(doc, "templates")), 2);
	CHECK_INT((int)json_array_size(json_object_get(doc, "security_groups")), 2);
	for (size_t i = 0; i < 2; i++) {
		g = json_array_get(json_object_get(doc, "security_groups"), i);
		if (strcmp(json_string_value(json_object_get(g, "id")), "sg-db") == 0) {
			CHECK_INT((int)json_array_size(json_object_get(g, "members")), 2);
			CHECK_STR(json_string_value(ctl_json_path(g, "rules.0.group")), "sg-db");
			CHECK(ctl_json_path(g, "rules.0.id") == NULL); /* the node's format has no rule ids */
		} else {
			CHECK_STR(json_string_value(ctl_json_path(g, "rules.1.group")), "sg-db");
			CHECK_STR(json_string_value(ctl_json_path(g, "members.0")), "198.51.100.10");
		}
	}
	json_decref(doc);

	CHECK_INT(db_begin(&ctrl.db), 0);
	CHECK_INT(desired_touch_node(&ctrl.db, "n-2"), 0);
	CHECK_INT(db_commit(&ctrl.db), 0);
	doc = desired_render(&ctrl, "n-2");
	CHECK_INT((int)json_integer_value(json_object_get(doc, "revision")), 4);
	CHECK(node_accepts(doc));
	CHECK_STR(json_string_value(ctl_json_path(doc, "network.uplink")), "eth1");
	json_decref(doc);
	CHECK(desired_render(&ctrl, "n-none") == NULL);
	db_close(&ctrl.db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}
