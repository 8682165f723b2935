/* desired.c -- builds each node's desired-state document (proto/desired.h) from the database and renders it */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "desired.h"

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

/* Copies src into a fixed-size field; a value that does not fit fails the render (ENAMETOOLONG). */
static int desired_copy(char *dst, size_t size, const char *src)
{
	if (src == NULL)
		src = "";
	if (strlen(src) >= size) {
		log_error("desired state: value too long for its field (%zu bytes at most): \"%.64s...\"", size - 1, src);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

/* Adds id to a list of ids (groups or templates wanted by the document) unless it is there. */
static int desired_want(char (**ids)[STATE_ID_MAX], size_t *n, const char *id)
{
	char(*grown)[STATE_ID_MAX];

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*ids)[i], id) == 0)
			return 0;
	grown = realloc(*ids, (*n + 1) * sizeof(**ids));
	if (grown == NULL)
		return -1;
	*ids = grown;
	if (desired_copy(grown[*n], sizeof(grown[*n]), id) < 0)
		return -1;
	(*n)++;
	return 0;
}

static int desired_network(struct controller *ctrl, struct db *db, const char *node_id, const char *address,
			   const char *uplink, struct state_network *net)
{
	const struct ctl_config *cfg = &ctrl->cfg;
	const char *slash = strchr(cfg->guest_subnet, '/'), *slash6 = strchr(cfg->guest_subnet6, '/');
	char list[sizeof(cfg->guest_dns)];
	sqlite3_stmt *st;
	int n;

	if (desired_copy(net->bridge, sizeof(net->bridge), GUEST_BRIDGE) < 0 ||
	    desired_copy(net->uplink, sizeof(net->uplink), uplink) < 0)
		return -1;
	n = snprintf(net->address_text, sizeof(net->address_text), "%s%s", address, slash ? slash : "/24");
	if (n < 0 || (size_t)n >= sizeof(net->address_text)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (cfg->guest_gateway[0] && inet_pton(AF_INET, cfg->guest_gateway, &net->gateway) != 1) {
		log_error("desired state: guest gateway \"%s\" is not an IPv4 address", cfg->guest_gateway);
		errno = EINVAL;
		return -1;
	}
	snprintf(list, sizeof(list), "%s", cfg->guest_dns);
	for (char *save = NULL, *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		if (net->n_dns == STATE_MAX_DNS || inet_pton(AF_INET, t, &net->dns[net->n_dns]) != 1) {
			log_error("desired state: guest DNS \"%s\": at most %d IPv4 addresses", cfg->guest_dns, STATE_MAX_DNS);
			errno = EINVAL;
			return -1;
		}
		net->n_dns++;
	}
	if (!cfg->guest_subnet6[0] || slash6 == NULL)
		return 0;
	st = db_prepare(db, "SELECT address FROM ip_addresses WHERE owner = ? AND kind = 'node' AND instr(address, ':') > 0");
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, node_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		n = snprintf(net->address6_text, sizeof(net->address6_text), "%s%s", db_col_text(st, 0), slash6);
		net->has_address6 = n > 0 && (size_t)n < sizeof(net->address6_text);
	}
	sqlite3_finalize(st);
	return 0;
}

/* Columns of the template SELECT of desired_templates. */
enum { TPL_ID, TPL_FORMAT, TPL_URL, TPL_SHA256, TPL_SIZE, TPL_INITRD_URL, TPL_INITRD_SHA256, TPL_CMDLINE };

static int desired_source(sqlite3_stmt *st, int url, int sha256, struct state_source *src)
{
	if (desired_copy(src->url, sizeof(src->url), db_col_text(st, url)) < 0)
		return -1;
	return desired_copy(src->sha256, sizeof(src->sha256), db_col_text(st, sha256));
}

static int desired_templates(struct db *db, char (*ids)[STATE_ID_MAX], size_t n_ids, struct state_doc *doc)
{
	sqlite3_stmt *st;
	int rc = 0;

	doc->templates = calloc(n_ids ? n_ids : 1, sizeof(*doc->templates));
	st = db_prepare(db, "SELECT id, format, url, sha256, size, initrd_url, initrd_sha256, cmdline FROM templates WHERE id = ?");
	if (doc->templates == NULL || st == NULL) {
		sqlite3_finalize(st);
		return -1;
	}
	for (size_t i = 0; i < n_ids && rc == 0; i++) {
		struct state_template *t = &doc->templates[doc->n_templates];
		const char *format;

		sqlite3_reset(st);
		db_bind_text(st, 1, ids[i]);
		if (sqlite3_step(st) != SQLITE_ROW)
			continue;
		format = db_col_text(st, TPL_FORMAT);
		rc = desired_copy(t->id, sizeof(t->id), db_col_text(st, TPL_ID));
		if (rc == 0 && strcmp(format, "kernel") == 0) {
			t->format = STATE_FMT_KERNEL;
			rc = desired_source(st, TPL_URL, TPL_SHA256, &t->kernel);
			if (rc == 0 && db_col_text(st, TPL_INITRD_URL)) {
				t->has_initrd = 1;
				rc = desired_source(st, TPL_INITRD_URL, TPL_INITRD_SHA256, &t->initrd);
			}
			if (rc == 0)
				rc = desired_copy(t->cmdline, sizeof(t->cmdline), db_col_text(st, TPL_CMDLINE));
		} else if (rc == 0) {
			t->format = strcmp(format, "raw") == 0 ? STATE_FMT_RAW : STATE_FMT_QCOW2;
			rc = desired_source(st, TPL_URL, TPL_SHA256, &t->disk);
			if (sqlite3_column_type(st, TPL_SIZE) != SQLITE_NULL)
				t->disk.size = (unsigned long long)sqlite3_column_int64(st, TPL_SIZE);
		}
		doc->n_templates++;
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * One group: its rules as the API stores them (sg_rules_json, read back with
 * the node's rule parser) and its members cloud-wide. The groups its rules
 * name are added to the wanted list.
 */
static int desired_group(struct db *db, const char *group_id, struct secgroup *g, char (**wanted)[STATE_ID_MAX],
			 size_t *n_wanted)
{
	json_t *rules = sg_rules_json(db, group_id, 0), *r;
	sqlite3_stmt *st;
	struct errmsg err = { 0 };
	char field[64], msg[512];
	size_t i;

	if (rules == NULL || desired_copy(g->id, sizeof(g->id), group_id) < 0)
		goto err;
	g->rules = calloc(json_array_size(rules) ? json_array_size(rules) : 1, sizeof(*g->rules));
	if (g->rules == NULL)
		goto err;
	json_array_foreach(rules, i, r) {
		snprintf(field, sizeof(field), "rules[%zu]", i);
		if (sg_rule_parse(r, &g->rules[i], field, &err) < 0) {
			log_error("security group %s: a stored rule is invalid: %s", group_id, errmsg_str(&err, msg, sizeof(msg)));
			errno = EINVAL;
			goto err;
		}
		g->n_rules++;
		if (!g->rules[i].has_cidr && desired_want(wanted, n_wanted, g->rules[i].group) < 0)
			goto err;
	}
	json_decref(rules);
	rules = NULL;

	st = db_prepare(db, "SELECT i.ipv4, i.ipv6 FROM instance_security_groups m JOIN instances i"
			    " ON i.id = m.instance_id WHERE m.group_id = ? AND i.power != 'deleted'");
	if (st == NULL)
		goto err;
	db_bind_text(st, 1, group_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int col = 0; col < 2; col++) {
			struct sg_addr addr;

			if (db_col_text(st, col) == NULL)
				continue;
			if (sg_parse_addr(db_col_text(st, col), &addr) < 0 || secgroup_add_member(g, &addr) < 0) {
				sqlite3_finalize(st);
				errno = errno ? errno : EINVAL;
				goto err;
			}
		}
	}
	sqlite3_finalize(st);
	secgroup_sort_members(g);
	return 0;
err:
	json_decref(rules);
	return -1;
}

/* Groups the NICs name, then the groups their rules name, until closed. */
static int desired_groups(struct db *db, char (**wanted)[STATE_ID_MAX], size_t *n_wanted, struct secgroup_set *set)
{
	for (size_t i = 0; i < *n_wanted; i++) {
		struct secgroup *grown = realloc(set->groups, (set->n_groups + 1) * sizeof(*grown));

		if (grown == NULL)
			return -1;
		set->groups = grown;
		memset(&set->groups[set->n_groups], 0, sizeof(set->groups[0]));
		set->n_groups++;
		if (desired_group(db, (*wanted)[i], &set->groups[set->n_groups - 1], wanted, n_wanted) < 0)
			return -1;
	}
	return secgroup_set_index(set);
}

/* Columns of the instance SELECT of desired_render. */
enum { INST_ID, INST_NAME, INST_VCPUS, INST_MEMORY_MIB, INST_DISK_GIB, INST_TEMPLATE_ID, INST_MAC, INST_IPV4,
       INST_IPV6, INST_POWER, INST_SSH_KEYS, INST_USER_DATA, INST_TEMPLATE_FORMAT, INST_REBOOT_GENERATION };

static int desired_instance(struct db *db, sqlite3_stmt *st, struct state_instance *in,
			    char (**groups)[STATE_ID_MAX], size_t *n_groups)
{
	const char *power = db_col_text(st, INST_POWER);
	int kernel = strcmp(db_col_text(st, INST_TEMPLATE_FORMAT), "kernel") == 0;
	struct state_disk *disk;
	struct state_nic *nic;
	sqlite3_stmt *g;
	json_t *keys;
	int rc = 0;

	if (desired_copy(in->id, sizeof(in->id), db_col_text(st, INST_ID)) < 0 ||
	    desired_copy(in->name, sizeof(in->name), db_col_text(st, INST_NAME)) < 0)
		return -1;
	in->vcpus = (unsigned)sqlite3_column_int64(st, INST_VCPUS);
	in->memory_mib = (unsigned)sqlite3_column_int64(st, INST_MEMORY_MIB);
	in->power = strcmp(power, "deleted") == 0 ? STATE_POWER_DELETED
		    : strcmp(power, "running") == 0 ? STATE_POWER_RUNNING : STATE_POWER_STOPPED;
	/* the reboot generation: raising it makes the node reset the guest once */
	in->reboot = sqlite3_column_int64(st, INST_REBOOT_GENERATION);
	in->restart = STATE_RESTART_ON_FAILURE;
	in->delete_volumes = in->power == STATE_POWER_DELETED;
	if (kernel && desired_copy(in->boot_template, sizeof(in->boot_template), db_col_text(st, INST_TEMPLATE_ID)) < 0)
		return -1;

	in->disks = disk = calloc(1, sizeof(*disk));
	in->nics = nic = calloc(1, sizeof(*nic));
	if (disk == NULL || nic == NULL)
		return -1;
	in->n_disks = 1;
	snprintf(disk->id, sizeof(disk->id), "root");
	disk->size_mib = (unsigned long long)sqlite3_column_int64(st, INST_DISK_GIB) * 1024;
	disk->format = STATE_FMT_QCOW2;
	if (!kernel && desired_copy(disk->template_id, sizeof(disk->template_id), db_col_text(st, INST_TEMPLATE_ID)) < 0)
		return -1;

	if (desired_copy(nic->mac, sizeof(nic->mac), db_col_text(st, INST_MAC)) < 0 ||
	    desired_copy(nic->ipv4, sizeof(nic->ipv4), db_col_text(st, INST_IPV4)) < 0 ||
	    desired_copy(nic->ipv6, sizeof(nic->ipv6), db_col_text(st, INST_IPV6)) < 0)
		return -1;
	g = db_prepare(db, "SELECT group_id FROM instance_security_groups WHERE instance_id = ? ORDER BY group_id");
	if (g == NULL)
		return -1;
	db_bind_text(g, 1, in->id);
	while (rc == 0 && sqlite3_step(g) == SQLITE_ROW) {
		const char *id = db_col_text(g, 0);

		if (nic->n_groups == STATE_MAX_NIC_GROUPS) {
			log_error("instance %s: more than %d security groups", in->id, STATE_MAX_NIC_GROUPS);
			errno = E2BIG;
			rc = -1;
		} else {
			rc = desired_copy(nic->groups[nic->n_groups++], STATE_ID_MAX, id);
		}
		if (rc == 0)
			rc = desired_want(groups, n_groups, id);
	}
	sqlite3_finalize(g);
	if (rc < 0)
		return -1;
	/* a deleted instance's address is already free: it is stopped and removed without its NIC */
	in->n_nics = in->power == STATE_POWER_DELETED ? 0 : 1;

	in->cloud_init.present = 1;
	if (desired_copy(in->cloud_init.hostname, sizeof(in->cloud_init.hostname), db_col_text(st, INST_NAME)) < 0)
		return -1;
	keys = json_loads(db_col_text(st, INST_SSH_KEYS) ? db_col_text(st, INST_SSH_KEYS) : "[]", 0, NULL);
	if (json_array_size(keys)) {
		in->cloud_init.ssh_keys = calloc(json_array_size(keys), sizeof(char *));
		for (size_t k = 0; in->cloud_init.ssh_keys && k < json_array_size(keys); k++) {
			const char *key = json_string_value(json_array_get(keys, k));

			if (key == NULL)
				continue;
			if ((in->cloud_init.ssh_keys[in->cloud_init.n_ssh_keys] = strdup(key)) == NULL)
				break;
			in->cloud_init.n_ssh_keys++;
		}
		rc = in->cloud_init.ssh_keys == NULL || in->cloud_init.n_ssh_keys < json_array_size(keys) ? -1 : 0;
	}
	json_decref(keys);
	if (rc < 0)
		return -1;
	if (db_col_text(st, INST_USER_DATA) && (in->cloud_init.user_data = strdup(db_col_text(st, INST_USER_DATA))) == NULL)
		return -1;
	return 0;
}

json_t *desired_render(struct controller *ctrl, const char *node_id)
{
	struct db *db = &ctrl->db;
	struct state_doc doc;
	sqlite3_stmt *st;
	char(*groups)[STATE_ID_MAX] = NULL, (*templates)[STATE_ID_MAX] = NULL;
	size_t n_groups = 0, n_templates = 0;
	char address[64] = "", uplink[32];
	json_t *labels = NULL, *v, *out = NULL;
	int rc = 0, saved;

	memset(&doc, 0, sizeof(doc));
	doc.version = 1;
	doc.revision = -1;
	st = db_prepare(db, "SELECT n.revision, n.guest_address, m.labels FROM nodes n LEFT JOIN machines m"
			    " ON m.id = n.machine_id WHERE n.id = ?");
	if (st == NULL)
		goto out;
	db_bind_text(st, 1, node_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		doc.revision = sqlite3_column_int64(st, 0);
		if (db_col_text(st, 1))
			snprintf(address, sizeof(address), "%s", db_col_text(st, 1));
		if (db_col_text(st, 2))
			labels = json_loads(db_col_text(st, 2), 0, NULL);
	}
	sqlite3_finalize(st);
	if (doc.revision < 0) {
		errno = ENOENT;
		goto out;
	}
	v = labels ? json_object_get(labels, "guest-uplink") : NULL;
	snprintf(uplink, sizeof(uplink), "%s", json_is_string(v) ? json_string_value(v) : ctrl->cfg.guest_uplink);

	st = db_prepare(db, "SELECT i.id, i.name, i.vcpus, i.memory_mib, i.disk_gib, i.template_id, i.mac, i.ipv4, i.ipv6,"
			    " i.power, i.ssh_keys, i.user_data, t.format, i.reboot_generation FROM instances i JOIN templates t ON t.id = i.template_id"
			    " WHERE i.node_id = ? ORDER BY i.created_at, i.id");
	if (st == NULL)
		goto out;
	db_bind_text(st, 1, node_id);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct state_instance *grown = realloc(doc.instances, (doc.n_instances + 1) * sizeof(*grown));

		if (grown == NULL) {
			rc = -1;
			break;
		}
		doc.instances = grown;
		memset(&doc.instances[doc.n_instances], 0, sizeof(doc.instances[0]));
		doc.n_instances++; /* so that state_free frees a half-built instance */
		rc = desired_instance(db, st, &doc.instances[doc.n_instances - 1], &groups, &n_groups);
		if (rc == 0)
			rc = desired_want(&templates, &n_templates, db_col_text(st, INST_TEMPLATE_ID));
	}
	sqlite3_finalize(st);
	if (rc < 0 || desired_groups(db, &groups, &n_groups, &doc.groups) < 0 ||
	    desired_templates(db, templates, n_templates, &doc) < 0)
		goto out;
	if (ctrl->cfg.guest_subnet[0] && address[0]) {
		if (desired_network(ctrl, db, node_id, address, uplink, &doc.network) < 0)
			goto out;
		doc.has_network = 1;
	}
	out = state_to_json(&doc);
out:
	saved = errno;
	state_free(&doc);
	free(groups);
	free(templates);
	json_decref(labels);
	errno = saved;
	return out;
}
