/* desired.c -- renders each node's desired-state document (docs/desired-state.md) from the database */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

int desired_touch_node(struct db *db, const char *node_id)
{
	if (node_id == NULL)
		return 0;
	return db_exec(db, "UPDATE nodes SET revision = revision + 1 WHERE id = ?", 1, &node_id);
}

int desired_touch_all(struct db *db)
{
	return db_exec(db, "UPDATE nodes SET revision = revision + 1", 0, NULL);
}

static json_t *desired_network(struct controller *ctl, const char *address, const char *uplink)
{
	const struct ctl_config *cfg = &ctl->cfg;
	const char *slash = strchr(cfg->guest_subnet, '/');
	json_t *net, *dns = json_array();
	char cidr[80], list[sizeof(cfg->guest_dns)];

	snprintf(cidr, sizeof(cidr), "%s%s", address, slash ? slash : "/24");
	net = json_pack("{s:s,s:s,s:s}", "bridge", "brguest", "uplink", uplink, "address", cidr);
	if (cfg->guest_gateway[0])
		json_object_set_new(net, "gateway", json_string(cfg->guest_gateway));
	snprintf(list, sizeof(list), "%s", cfg->guest_dns);
	for (char *save = NULL, *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
		json_array_append_new(dns, json_string(t));
	if (json_array_size(dns))
		json_object_set_new(net, "dns", dns);
	else
		json_decref(dns);
	return net;
}

static json_t *desired_template(sqlite3_stmt *st)
{
	/* id, format, url, sha256, size, initrd_url, initrd_sha256, cmdline */
	const char *format = db_col_text(st, 1);
	json_t *t;

	if (strcmp(format, "kernel") == 0) {
		t = json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", db_col_text(st, 0), "format", "kernel", "kernel", "url",
			      db_col_text(st, 2), "sha256", db_col_text(st, 3));
		if (t && db_col_text(st, 5))
			json_object_set_new(t, "initrd", json_pack("{s:s,s:s}", "url", db_col_text(st, 5), "sha256",
								   db_col_text(st, 6)));
		if (t && db_col_text(st, 7))
			json_object_set_new(t, "cmdline", json_string(db_col_text(st, 7)));
	} else {
		t = json_pack("{s:s,s:s,s:s,s:s}", "id", db_col_text(st, 0), "format", format, "url", db_col_text(st, 2),
			      "sha256", db_col_text(st, 3));
		if (t && sqlite3_column_type(st, 4) != SQLITE_NULL)
			json_object_set_new(t, "size", json_integer(sqlite3_column_int64(st, 4)));
	}
	return t;
}

/* Rules of a group as the node's document wants them (no ids). */
static json_t *desired_rules(struct db *db, const char *group_id, json_t *wanted)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT direction, protocol, ports, icmp_type, icmp_code, cidr, remote_group_id"
					  " FROM security_group_rules WHERE group_id = ? ORDER BY created_at, id");
	json_t *rules = json_array();

	if (st == NULL) {
		json_decref(rules);
		return NULL;
	}
	db_bind_text(st, 1, group_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *r = json_pack("{s:s,s:s}", "direction", db_col_text(st, 0), "protocol", db_col_text(st, 1));
		if (db_col_text(st, 2))
			json_object_set_new(r, "ports", json_string(db_col_text(st, 2)));
		if (sqlite3_column_type(st, 3) != SQLITE_NULL)
			json_object_set_new(r, "icmp_type", json_integer(sqlite3_column_int(st, 3)));
		if (sqlite3_column_type(st, 4) != SQLITE_NULL)
			json_object_set_new(r, "icmp_code", json_integer(sqlite3_column_int(st, 4)));
		if (db_col_text(st, 5))
			json_object_set_new(r, "cidr", json_string(db_col_text(st, 5)));
		if (db_col_text(st, 6)) {
			json_object_set_new(r, "group", json_string(db_col_text(st, 6)));
			if (json_object_get(wanted, db_col_text(st, 6)) == NULL)
				json_object_set_new(wanted, db_col_text(st, 6), json_true());
		}
		json_array_append_new(rules, r);
	}
	sqlite3_finalize(st);
	return rules;
}

static json_t *desired_members(struct db *db, const char *group_id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT i.ipv4, i.ipv6 FROM instance_security_groups m JOIN instances i"
					  " ON i.id = m.instance_id WHERE m.group_id = ? AND i.power != 'deleted'"
					  " ORDER BY i.ipv4");
	json_t *members = json_array();

	if (st == NULL) {
		json_decref(members);
		return NULL;
	}
	db_bind_text(st, 1, group_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (db_col_text(st, 0))
			json_array_append_new(members, json_string(db_col_text(st, 0)));
		if (db_col_text(st, 1))
			json_array_append_new(members, json_string(db_col_text(st, 1)));
	}
	sqlite3_finalize(st);
	return members;
}

static json_t *desired_instance(struct db *db, sqlite3_stmt *st, json_t *groups_wanted, json_t *templates_wanted,
				int kernel)
{
	/* id, name, vcpus, memory_mib, disk_gib, template_id, mac, ipv4, ipv6, power, ssh_keys, user_data, format, reboot */
	const char *id = db_col_text(st, 0), *tpl = db_col_text(st, 5), *power = db_col_text(st, 9);
	sqlite3_stmt *g;
	json_t *inst, *disk, *nic, *sgs = json_array(), *ci, *keys;

	g = db_prepare(db, "SELECT group_id FROM instance_security_groups WHERE instance_id = ? ORDER BY group_id");
	if (g == NULL) {
		json_decref(sgs);
		return NULL;
	}
	db_bind_text(g, 1, id);
	while (sqlite3_step(g) == SQLITE_ROW) {
		json_array_append_new(sgs, json_string(db_col_text(g, 0)));
		if (json_object_get(groups_wanted, db_col_text(g, 0)) == NULL)
			json_object_set_new(groups_wanted, db_col_text(g, 0), json_true());
	}
	sqlite3_finalize(g);
	json_object_set_new(templates_wanted, tpl, json_true());
	disk = json_pack("{s:s,s:I,s:s}", "id", "root", "size_mib", (json_int_t)sqlite3_column_int64(st, 4) * 1024,
			 "format", "qcow2");
	if (!kernel)
		json_object_set_new(disk, "template", json_string(tpl));
	nic = json_pack("{s:s,s:o}", "mac", db_col_text(st, 6), "security_groups", sgs);
	if (db_col_text(st, 7))
		json_object_set_new(nic, "ipv4", json_string(db_col_text(st, 7)));
	if (db_col_text(st, 8))
		json_object_set_new(nic, "ipv6", json_string(db_col_text(st, 8)));
	keys = json_loads(db_col_text(st, 10), 0, NULL);
	ci = json_pack("{s:s,s:o}", "hostname", db_col_text(st, 1), "ssh_keys", keys ? keys : json_array());
	if (db_col_text(st, 11))
		json_object_set_new(ci, "user_data", json_string(db_col_text(st, 11)));
	/* a deleted instance's address is already free: it is stopped and removed without its NIC */
	inst = json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:[o],s:o,s:o}", "id", id, "name", db_col_text(st, 1), "vcpus",
			 (json_int_t)sqlite3_column_int64(st, 2), "memory_mib", (json_int_t)sqlite3_column_int64(st, 3),
			 "power", power, "restart", "on-failure", "disks", disk, "nics",
			 strcmp(power, "deleted") == 0 ? (json_decref(nic), json_array()) : json_pack("[o]", nic),
			 "cloud_init", ci);
	if (inst && kernel)
		json_object_set_new(inst, "boot", json_pack("{s:s}", "template", tpl));
	/* the reboot generation: raising it makes the node reset the guest once */
	if (inst && sqlite3_column_int64(st, 13) > 0)
		json_object_set_new(inst, "reboot", json_integer(sqlite3_column_int64(st, 13)));
	if (inst && strcmp(power, "deleted") == 0)
		json_object_set_new(inst, "delete_volumes", json_true());
	return inst;
}

json_t *desired_render(struct controller *ctl, const char *node_id)
{
	struct db *db = &ctl->db;
	sqlite3_stmt *st;
	json_t *doc = NULL, *instances = json_array(), *groups = json_array(), *templates = json_array();
	json_t *groups_wanted = json_object(), *templates_wanted = json_object(), *labels = NULL;
	char address[64] = "", uplink[32];
	long long revision = -1;
	const char *k;
	json_t *v;

	st = db_prepare(db, "SELECT n.revision, n.guest_address, m.labels FROM nodes n LEFT JOIN machines m"
			    " ON m.id = n.machine_id WHERE n.id = ?");
	if (st == NULL)
		goto err;
	db_bind_text(st, 1, node_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		revision = sqlite3_column_int64(st, 0);
		if (db_col_text(st, 1))
			snprintf(address, sizeof(address), "%s", db_col_text(st, 1));
		if (db_col_text(st, 2))
			labels = json_loads(db_col_text(st, 2), 0, NULL);
	}
	sqlite3_finalize(st);
	if (revision < 0) {
		errno = ENOENT;
		goto err;
	}
	v = labels ? json_object_get(labels, "guest-uplink") : NULL;
	snprintf(uplink, sizeof(uplink), "%s", json_is_string(v) ? json_string_value(v) : ctl->cfg.guest_uplink);

	st = db_prepare(db, "SELECT i.id, i.name, i.vcpus, i.memory_mib, i.disk_gib, i.template_id, i.mac, i.ipv4, i.ipv6,"
			    " i.power, i.ssh_keys, i.user_data, t.format, i.reboot_generation FROM instances i JOIN templates t ON t.id = i.template_id"
			    " WHERE i.node_id = ? ORDER BY i.created_at, i.id");
	if (st == NULL)
		goto err;
	db_bind_text(st, 1, node_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *inst = desired_instance(db, st, groups_wanted, templates_wanted,
						strcmp(db_col_text(st, 12), "kernel") == 0);
		if (inst == NULL) {
			sqlite3_finalize(st);
			goto err;
		}
		json_array_append_new(instances, inst);
	}
	sqlite3_finalize(st);

	/* groups the NICs name, then the groups their rules name, until closed */
	for (int changed = 1; changed;) {
		changed = 0;
		json_object_foreach(groups_wanted, k, v) {
			json_t *g, *rules, *members;
			if (json_is_false(v))
				continue;
			json_object_set(groups_wanted, k, json_false()); /* rendered */
			rules = desired_rules(db, k, groups_wanted);
			members = desired_members(db, k);
			if (rules == NULL || members == NULL) {
				json_decref(rules);
				json_decref(members);
				goto err;
			}
			g = json_pack("{s:s,s:o,s:o}", "id", k, "members", members, "rules", rules);
			json_array_append_new(groups, g);
			changed = 1;
			break; /* the object may have grown: iterate again */
		}
	}
	st = db_prepare(db, "SELECT id, format, url, sha256, size, initrd_url, initrd_sha256, cmdline FROM templates WHERE id = ?");
	if (st == NULL)
		goto err;
	json_object_foreach(templates_wanted, k, v) {
		sqlite3_reset(st);
		db_bind_text(st, 1, k);
		if (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(templates, desired_template(st));
	}
	sqlite3_finalize(st);

	doc = json_pack("{s:i,s:I}", "version", 1, "revision", (json_int_t)revision);
	if (doc == NULL)
		goto err;
	if (ctl->cfg.guest_subnet[0] && address[0]) {
		json_t *net = desired_network(ctl, address, uplink);
		const char *slash6 = strchr(ctl->cfg.guest_subnet6, '/');

		st = ctl->cfg.guest_subnet6[0] ? db_prepare(db, "SELECT address FROM ip_addresses WHERE owner = ?"
								" AND kind = 'node' AND instr(address, ':') > 0") : NULL;
		if (st) {
			db_bind_text(st, 1, node_id);
			if (sqlite3_step(st) == SQLITE_ROW && slash6) {
				char a6[80];
				snprintf(a6, sizeof(a6), "%s%s", db_col_text(st, 0), slash6);
				json_object_set_new(net, "address6", json_string(a6));
			}
			sqlite3_finalize(st);
		}
		json_object_set_new(doc, "network", net);
	}
	json_object_set_new(doc, "templates", templates);
	json_object_set_new(doc, "security_groups", groups);
	json_object_set_new(doc, "instances", instances);
	json_decref(groups_wanted);
	json_decref(templates_wanted);
	json_decref(labels);
	return doc;
err:
	json_decref(instances);
	json_decref(groups);
	json_decref(templates);
	json_decref(groups_wanted);
	json_decref(templates_wanted);
	json_decref(labels);
	return NULL;
}
