/* api_instances.c -- /v1/instances: create (scheduled, addressed), list, show, security groups, start, stop, reboot,
 * delete, console */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "httpc.h"

#define INSTANCE_MAX_GROUPS 16
#define INSTANCE_MAX_KEYS 32
#define INSTANCE_CONSOLE_MAX 65536 /* bytes of console output returned */

#define INSTANCE_COLS "i.id, i.account_id, i.name, i.type, i.vcpus, i.memory_mib, i.disk_gib, i.template_id, i.node_id," \
		      " i.mac, i.ipv4, i.ipv6, i.power, i.state, i.state_reason, n.state, i.anti_affinity, i.node_labels," \
		      " i.operation_id, i.created_at, i.updated_at, i.reboot_count"

static json_t *instance_json(struct db *db, sqlite3_stmt *st)
{
	const char *node_state = db_col_text(st, 8) ? (db_col_text(st, 15) ? db_col_text(st, 15) : "down") : NULL;
	const char *state = db_col_text(st, 13);
	json_t *labels = json_loads(db_col_text(st, 17), 0, NULL), *groups = json_array(), *doc;
	sqlite3_stmt *g;

	if (strcmp(db_col_text(st, 12), "deleted") == 0)
		state = "deleting";
	else if (node_state && strcmp(node_state, "up") != 0)
		state = "unknown";
	g = db_prepare(db, "SELECT g.id, g.name FROM instance_security_groups m JOIN security_groups g ON g.id = m.group_id"
			   " WHERE m.instance_id = ? ORDER BY g.name");
	if (g) {
		db_bind_text(g, 1, db_col_text(st, 0));
		while (sqlite3_step(g) == SQLITE_ROW)
			json_array_append_new(groups, json_pack("{s:s,s:s}", "id", db_col_text(g, 0), "name", db_col_text(g, 1)));
		sqlite3_finalize(g);
	}
	doc = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s?,s:s,s:s?,s:s?,s:s,s:s,s:s?,s:o,s:s?,s:o,s:s?,s:o,s:o}",
			"id", db_col_text(st, 0), "account", db_col_text(st, 1), "name", db_col_text(st, 2), "type",
			db_col_text(st, 3), "vcpus", (json_int_t)sqlite3_column_int64(st, 4), "memory_mib",
			(json_int_t)sqlite3_column_int64(st, 5), "disk_gib", (json_int_t)sqlite3_column_int64(st, 6),
			"template", db_col_text(st, 7), "node", db_col_text(st, 8), "mac", db_col_text(st, 9), "ipv4",
			db_col_text(st, 10), "ipv6", db_col_text(st, 11), "power", db_col_text(st, 12), "state", state,
			"state_reason", db_col_text(st, 14), "security_groups", groups, "anti_affinity", db_col_text(st, 16),
			"node_labels", labels ? labels : json_object(), "operation", db_col_text(st, 18), "created_at",
			util_time_json(sqlite3_column_int64(st, 19)), "updated_at", util_time_json(sqlite3_column_int64(st, 20)));
	if (doc && sqlite3_column_int64(st, 21) > 0)
		json_object_set_new(doc, "rebooting", json_true());
	return doc;
}

static json_t *instance_find(struct db *db, const char *ref, const char *scope)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " INSTANCE_COLS " FROM instances i LEFT JOIN nodes n ON n.id = i.node_id"
					  " WHERE (i.id = ?1 OR (i.name = ?1 AND i.power != 'deleted'))"
					  " AND (?2 IS NULL OR i.account_id = ?2) ORDER BY i.id = ?1 DESC LIMIT 1");
	json_t *doc = NULL;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, ref);
	db_bind_text(st, 2, scope);
	if (sqlite3_step(st) == SQLITE_ROW)
		doc = instance_json(db, st);
	sqlite3_finalize(st);
	return doc;
}

static int instance_mac(char out[18])
{
	char hex[7];

	if (util_random_hex(hex, sizeof(hex), 3) < 0)
		return -1;
	snprintf(out, 18, "52:54:00:%.2s:%.2s:%.2s", hex, hex + 2, hex + 4);
	return 0;
}

/* Resolves an array of group or key references of an account into ids (groups) or key texts (keys). */
static int instance_refs(struct db *db, json_t *arr, const char *what, const char *account, size_t max, json_t *out,
			 struct httpd_response *resp)
{
	json_t *v;
	size_t i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > max) {
		httpd_reply_error(resp, 400, "bad_field", "%s: expected an array of at most %zu names or ids", what, max);
		return -1;
	}
	json_array_foreach(arr, i, v) {
		json_t *found;
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 63) {
			httpd_reply_error(resp, 400, "bad_field", "%s[%zu]: expected a name or id", what, i);
			return -1;
		}
		found = strcmp(what, "security_groups") == 0 ? sg_find(db, json_string_value(v), account, 0) : NULL;
		if (strcmp(what, "ssh_keys") == 0) {
			sqlite3_stmt *st = db_prepare(db, "SELECT public_key FROM ssh_keys WHERE (id = ?1 OR name = ?1) AND account_id = ?2");
			if (st == NULL)
				return -2;
			db_bind_text(st, 1, json_string_value(v));
			db_bind_text(st, 2, account);
			if (sqlite3_step(st) == SQLITE_ROW)
				found = json_pack("{s:s}", "id", db_col_text(st, 0));
			sqlite3_finalize(st);
		}
		if (found == NULL) {
			httpd_reply_error(resp, 422, strcmp(what, "ssh_keys") == 0 ? "unknown_ssh_key" : "unknown_security_group",
					  "%s[%zu]: no %s %.63s in this account", what, i,
					  strcmp(what, "ssh_keys") == 0 ? "SSH key" : "security group", json_string_value(v));
			return -1;
		}
		{
			json_t *idv = json_object_get(found, "id");
			int dup = 0;
			json_t *e;
			size_t j;
			json_array_foreach(out, j, e)
				dup |= json_equal(e, idv);
			if (dup) {
				json_decref(found);
				httpd_reply_error(resp, 400, "bad_field", "%s[%zu]: %.63s is listed twice", what, i, json_string_value(v));
				return -1;
			}
			json_array_append(out, idv);
		}
		json_decref(found);
	}
	return 0;
}

/* Makes the instance a member of each group id in groups (in a transaction). */
static int instance_groups_insert(struct db *db, const char *id, json_t *groups)
{
	json_t *g;
	size_t i;

	json_array_foreach(groups, i, g) {
		const char *p[2] = { id, json_string_value(g) };
		if (db_exec(db, "INSERT INTO instance_security_groups VALUES (?, ?)", 2, p) < 0)
			return -1;
	}
	return 0;
}

struct instance_req {
	const char *name, *type, *template_ref, *user_data, *anti_affinity;
	json_t *labels;
	char account[40];
};

static int instance_validate(struct controller *ctl, const struct auth_principal *who, json_t *doc,
			     struct instance_req *r, struct httpd_response *resp)
{
	static const char *const fields[] = { "name", "type", "template", "security_groups", "ssh_keys", "user_data",
					      "node_labels", "anti_affinity", "account", NULL };
	const char *k;
	json_t *v;

	if (api_check_fields(doc, fields, resp) < 0 || api_get_string(doc, "name", 1, 63, &r->name, resp) < 0 ||
	    api_get_string(doc, "type", 1, 63, &r->type, resp) < 0 ||
	    api_get_string(doc, "template", 1, 63, &r->template_ref, resp) < 0 ||
	    api_get_string(doc, "anti_affinity", 0, 63, &r->anti_affinity, resp) < 0)
		return -1;
	if (!util_name_valid(r->name, 63))
		return httpd_reply_error(resp, 400, "bad_field", "name: a-z, 0-9 and '-', starting with a letter or digit, at most 63"), -1;
	if (r->anti_affinity && !util_name_valid(r->anti_affinity, 63))
		return httpd_reply_error(resp, 400, "bad_field", "anti_affinity: a group name (a-z, 0-9, '-')"), -1;
	v = json_object_get(doc, "user_data");
	if (v) {
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
			return httpd_reply_error(resp, 400, "bad_field", "user_data: expected a string (no NUL)"), -1;
		if (json_string_length(v) > ctl->cfg.user_data_max)
			return httpd_reply_error(resp, 413, "too_large", "user_data: %zu bytes, at most %llu",
						 json_string_length(v), ctl->cfg.user_data_max), -1;
		r->user_data = json_string_value(v);
	}
	r->labels = json_object_get(doc, "node_labels");
	if (r->labels) {
		if (!json_is_object(r->labels) || json_object_size(r->labels) > CTL_MAX_LABELS)
			return httpd_reply_error(resp, 400, "bad_field", "node_labels: expected an object of at most %d labels",
						 CTL_MAX_LABELS), -1;
		json_object_foreach(r->labels, k, v)
			if (!util_name_valid(k, 63) || !json_is_string(v) || json_string_length(v) > 63)
				return httpd_reply_error(resp, 400, "bad_field", "node_labels.%.63s: keys a-z0-9-, string values", k), -1;
	}
	return tenant_owner(&ctl->db, who, doc, r->account, resp);
}

static int instances_create(struct controller *ctl, const struct auth_principal *who,
			    struct httpd_request *req, struct httpd_response *resp)
{
	struct instance_req r = { 0 };
	struct sched_node *nodes = NULL;
	size_t nnodes = 0;
	struct buf why = BUF_INIT;
	json_t *doc, *tpl = NULL, *groups = json_array(), *keys = json_array(), *answer = NULL;
	char id[40], op_id[40], mac[18], ip[16], ip6[46] = "", *keys_text = NULL, *labels_text = NULL;
	long long vcpus = 0, mem = 0, disk = 0;
	int rc = 0, pick = -1, ever = 0, step;
	sqlite3_stmt *st;

	if (api_parse_body(req, resp, &doc) < 0)
		goto out_free;
	if (instance_validate(ctl, who, doc, &r, resp) < 0)
		goto out;
	if (util_new_id(id, sizeof(id), "i") < 0 || instance_mac(mac) < 0) {
		rc = -1;
		goto out;
	}
	if (ctl->cfg.guest_subnet[0] == '\0') {
		httpd_reply_error(resp, 422, "no_guest_network", "the controller has no guest-subnet configured: instances have nowhere to connect");
		goto out;
	}
	db_lock(&ctl->db);
	if (db_begin(&ctl->db) < 0) {
		rc = -1;
		goto out_unlock;
	}
	tpl = template_find(&ctl->db, r.template_ref, r.account);
	if (tpl == NULL) {
		httpd_reply_error(resp, 422, "unknown_template", "template: no template %.63s for this account", r.template_ref);
		goto out_rollback;
	}
	st = db_prepare(&ctl->db, "SELECT vcpus, memory_mib, disk_gib FROM instance_types WHERE name = ?");
	if (st == NULL) {
		rc = -1;
		goto out_rollback;
	}
	db_bind_text(st, 1, r.type);
	if (sqlite3_step(st) == SQLITE_ROW)
		vcpus = sqlite3_column_int64(st, 0), mem = sqlite3_column_int64(st, 1), disk = sqlite3_column_int64(st, 2);
	sqlite3_finalize(st);
	if (vcpus == 0) {
		httpd_reply_error(resp, 422, "unknown_type", "type: no instance type %.63s (see GET /v1/instance-types)", r.type);
		goto out_rollback;
	}
	if (strcmp(json_string_value(json_object_get(tpl, "state")), "ready") != 0) {
		httpd_reply_error(resp, 409, "template_not_ready", "template: %.63s is still awaiting its upload", r.template_ref);
		goto out_rollback;
	}
	if (json_integer_value(json_object_get(tpl, "min_disk_gib")) > disk) {
		httpd_reply_error(resp, 422, "disk_too_small", "type: %s has %lld GiB of disk, template %s needs %lld GiB", r.type,
				  disk, r.template_ref, (long long)json_integer_value(json_object_get(tpl, "min_disk_gib")));
		goto out_rollback;
	}
	if ((step = instance_refs(&ctl->db, json_object_get(doc, "security_groups"), "security_groups", r.account,
				  INSTANCE_MAX_GROUPS, groups, resp)) < 0 ||
	    (step = instance_refs(&ctl->db, json_object_get(doc, "ssh_keys"), "ssh_keys", r.account, INSTANCE_MAX_KEYS,
				  keys, resp)) < 0) {
		rc = step == -2 ? -1 : 0;
		goto out_rollback;
	}
	st = db_prepare(&ctl->db, "SELECT id FROM instances WHERE account_id = ? AND name = ? AND power != 'deleted'");
	if (st == NULL) {
		rc = -1;
		goto out_rollback;
	}
	db_bind_text(st, 1, r.account);
	db_bind_text(st, 2, r.name);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		httpd_reply_error(resp, 409, "conflict", "name: instance %s exists in this account (%s)", r.name, db_col_text(st, 0));
	sqlite3_finalize(st);
	if (step == SQLITE_ROW)
		goto out_rollback;
	/* placement */
	{
		struct sched_request sr = { "hypervisor", vcpus, mem, disk, r.labels, ctl->cfg.cpu_overcommit,
					    ctl->cfg.memory_overcommit, ctl->cfg.disk_overcommit };
		if (sched_load(ctl, r.anti_affinity, r.account, &nodes, &nnodes) < 0) {
			rc = -1;
			goto out_rollback;
		}
		pick = sched_pick(nodes, nnodes, &sr, &why, &ever);
	}
	if (pick < 0 && !ever) {
		httpd_reply_error(resp, 422, "no_capacity", "type %s (%lld vCPUs, %lld MiB, %lld GiB) fits no node even when empty: %s",
				  r.type, vcpus, mem, disk, why.data ? why.data : "no nodes");
		goto out_rollback;
	}
	if (pick < 0) {
		/* nodes are full now: the operation records why, nothing else is kept */
		if (api_operation_create_for(&ctl->db, "instance.create", r.name, r.account, op_id) < 0 ||
		    api_operation_finish(&ctl->db, op_id, 0, why.data) < 0 ||
		    db_event(&ctl->db, "instance.unschedulable", r.name, "instance %s of %s: %s", r.name, r.account, why.data) < 0 ||
		    db_commit(&ctl->db) < 0) {
			rc = -1;
			goto out_rollback;
		}
		answer = json_pack("{s:o,s:n}", "operation", api_operation_find(&ctl->db, op_id), "instance");
		goto out_unlock;
	}
	if (ipam_allocate(ctl, id, "instance", ip) < 0) {
		if (errno == ENOSPC)
			httpd_reply_error(resp, 409, "no_address", "the guest subnet %s has no free address", ctl->cfg.guest_subnet);
		else
			rc = -1;
		goto out_rollback;
	}
	if (ctl->cfg.guest_subnet6[0] && ipam6_allocate(ctl, id, "instance", ip6) < 0) {
		if (errno == ENOSPC)
			httpd_reply_error(resp, 409, "no_address", "the guest subnet %s has no free address", ctl->cfg.guest_subnet6);
		else
			rc = -1;
		goto out_rollback;
	}
	keys_text = json_dumps(keys, JSON_COMPACT);
	labels_text = json_dumps(r.labels ? r.labels : json_object(), JSON_COMPACT);
	if (keys_text == NULL || labels_text == NULL ||
	    api_operation_create_for(&ctl->db, "instance.create", id, r.account, op_id) < 0) {
		rc = -1;
		goto out_rollback;
	}
	st = db_prepare(&ctl->db, "INSERT INTO instances (id, account_id, name, type, vcpus, memory_mib, disk_gib, template_id,"
				  " node_id, mac, ipv4, power, state, ssh_keys, user_data, node_labels, anti_affinity, operation_id,"
				  " created_at, updated_at, ipv6) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'running', 'pending',"
				  " ?12, ?13, ?14, ?15, ?16, strftime('%s','now'), strftime('%s','now'), ?17)");
	if (st == NULL) {
		rc = -1;
		goto out_rollback;
	}
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, r.account);
	db_bind_text(st, 3, r.name);
	db_bind_text(st, 4, r.type);
	sqlite3_bind_int64(st, 5, vcpus);
	sqlite3_bind_int64(st, 6, mem);
	sqlite3_bind_int64(st, 7, disk);
	db_bind_text(st, 8, json_string_value(json_object_get(tpl, "id")));
	db_bind_text(st, 9, nodes[pick].id);
	db_bind_text(st, 10, mac);
	db_bind_text(st, 11, ip);
	db_bind_text(st, 12, keys_text);
	db_bind_text(st, 13, r.user_data);
	db_bind_text(st, 14, labels_text);
	db_bind_text(st, 15, r.anti_affinity);
	db_bind_text(st, 16, op_id);
	db_bind_text(st, 17, ip6[0] ? ip6 : NULL);
	step = sqlite3_step(st);
	sqlite3_finalize(st);
	if (step != SQLITE_DONE) {
		rc = -1;
		goto out_rollback;
	}
	if (instance_groups_insert(&ctl->db, id, groups) < 0) {
		rc = -1;
		goto out_rollback;
	}
	if ((json_array_size(groups) ? desired_touch_all(&ctl->db) : desired_touch_node(&ctl->db, nodes[pick].id)) < 0 ||
	    db_event(&ctl->db, "instance.created", id, "instance %s (%s) of %s on node %s, %s", id, r.name, r.account,
		     nodes[pick].id, ip) < 0 ||
	    db_commit(&ctl->db) < 0) {
		rc = -1;
		goto out_rollback;
	}
	answer = json_pack("{s:o,s:o}", "operation", api_operation_find(&ctl->db, op_id), "instance",
			   instance_find(&ctl->db, id, NULL));
	goto out_unlock;
out_rollback:
	db_rollback(&ctl->db);
out_unlock:
	db_unlock(&ctl->db);
	if (answer) {
		watch_notify(ctl);
		rc = httpd_reply_json(resp, 202, answer);
	}
out:
	json_decref(doc);
out_free:
	sched_free(nodes, nnodes);
	buf_free(&why);
	free(keys_text);
	free(labels_text);
	json_decref(tpl);
	json_decref(groups);
	json_decref(keys);
	return rc;
}

static int instances_list(struct controller *ctl, const struct auth_principal *who,
			  struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "limit", "cursor", "node", "account", NULL };
	const char *cursor, *node = httpd_query(req, "node"), *account = httpd_query(req, "account");
	long long limit, n = 0;
	char next[64] = "";
	sqlite3_stmt *st;
	json_t *items;

	if (api_check_query(req, allowed, resp) < 0 || api_page(req, resp, &limit, &cursor) < 0)
		return 0;
	if (tenant_scope(who))
		account = tenant_scope(who);
	items = json_array();
	db_lock(&ctl->db);
	st = db_prepare(&ctl->db, "SELECT " INSTANCE_COLS " FROM instances i LEFT JOIN nodes n ON n.id = i.node_id"
				  " WHERE i.id > ?1 AND (?2 IS NULL OR i.account_id = ?2) AND (?3 IS NULL OR i.node_id = ?3)"
				  " ORDER BY i.id LIMIT ?4");
	if (st) {
		db_bind_text(st, 1, cursor ? cursor : "");
		db_bind_text(st, 2, account);
		db_bind_text(st, 3, node);
		sqlite3_bind_int64(st, 4, limit + 1);
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (++n > limit)
				break;
			snprintf(next, sizeof(next), "%s", db_col_text(st, 0));
			json_array_append_new(items, instance_json(&ctl->db, st));
		}
		sqlite3_finalize(st);
	}
	db_unlock(&ctl->db);
	if (st == NULL) {
		json_decref(items);
		return -1;
	}
	return api_reply_list(resp, items, n > limit ? next : NULL);
}

static int instances_show(struct controller *ctl, const struct auth_principal *who,
			  struct httpd_request *req, struct httpd_response *resp)
{
	return api_reply_found(ctl, who, req, resp, instance_find, "instance");
}

enum instance_action { ACT_START, ACT_STOP, ACT_REBOOT, ACT_DELETE };

/* start, stop, reboot, delete: change what the node must do, answered with an operation. */
static int instances_act(struct controller *ctl, const struct auth_principal *who, struct httpd_request *req,
			 struct httpd_response *resp, enum instance_action act)
{
	static const char *const names[] = { "start", "stop", "reboot", "delete" };
	json_t *inst, *answer = NULL;
	const char *id, *node, *power, *state, *account;
	char op_id[40], type[32];
	int rc = 0, done_now = 0, groups;

	if (req->body_len && act != ACT_DELETE) {
		json_t *doc;
		if (api_parse_body(req, resp, &doc) < 0)
			return 0;
		rc = json_object_size(doc) ? httpd_reply_error(resp, 400, "unknown_field", "this action takes no fields") : 0;
		json_decref(doc);
		if (resp->status != 200)
			return rc;
	}
	db_lock(&ctl->db);
	inst = instance_find(&ctl->db, httpd_param(req, "id"), tenant_scope(who));
	if (inst == NULL) {
		httpd_reply_error(resp, 404, "not_found", "no instance %.64s", httpd_param(req, "id"));
		goto out;
	}
	id = json_string_value(json_object_get(inst, "id"));
	node = json_string_value(json_object_get(inst, "node"));
	power = json_string_value(json_object_get(inst, "power"));
	state = json_string_value(json_object_get(inst, "state"));
	account = json_string_value(json_object_get(inst, "account"));
	groups = (int)json_array_size(json_object_get(inst, "security_groups"));
	if (strcmp(power, "deleted") == 0) {
		httpd_reply_error(resp, 409, "conflict", "instance %s is being deleted", id);
		goto out;
	}
	if (act == ACT_REBOOT && strcmp(power, "running") != 0) {
		httpd_reply_error(resp, 409, "conflict", "instance %s is stopped: start it instead of rebooting", id);
		goto out;
	}
	snprintf(type, sizeof(type), "instance.%s", names[act]);
	if (db_begin(&ctl->db) < 0 || api_operation_create_for(&ctl->db, type, id, account, op_id) < 0)
		goto err_rollback;
	{
		const char *p[2] = { op_id, id };
		int r = 0;
		switch (act) {
		case ACT_START:
			r = db_exec(&ctl->db, "UPDATE instances SET power = 'running', reboot_count = 0, operation_id = ?,"
					      " updated_at = strftime('%s','now') WHERE id = ?", 2, p);
			done_now = strcmp(state, "running") == 0;
			break;
		case ACT_STOP:
			r = db_exec(&ctl->db, "UPDATE instances SET power = 'stopped', reboot_count = 0, operation_id = ?,"
					      " updated_at = strftime('%s','now') WHERE id = ?", 2, p);
			done_now = strcmp(state, "stopped") == 0;
			break;
		case ACT_REBOOT:
			/* rendered as stopped until the node reports it stopped, then running again */
			r = db_exec(&ctl->db, "UPDATE instances SET reboot_count = 1, operation_id = ?,"
					      " updated_at = strftime('%s','now') WHERE id = ?", 2, p);
			break;
		case ACT_DELETE:
			r = db_exec(&ctl->db, "UPDATE instances SET power = 'deleted', reboot_count = 0, operation_id = ?, ipv4 = NULL,"
					      " ipv6 = NULL, updated_at = strftime('%s','now') WHERE id = ?", 2, p);
			if (r == 0)
				r = ipam_release(&ctl->db, id);
			if (r == 0)
				r = db_exec(&ctl->db, "DELETE FROM instance_security_groups WHERE instance_id = ?", 1, &id);
			if (r == 0 && node == NULL)
				r = db_exec(&ctl->db, "DELETE FROM instances WHERE id = ?", 1, &id), done_now = 1;
			break;
		}
		if (r < 0)
			goto err_rollback;
	}
	if (done_now && api_operation_finish(&ctl->db, op_id, 1, NULL) < 0)
		goto err_rollback;
	if ((groups && act == ACT_DELETE ? desired_touch_all(&ctl->db) : desired_touch_node(&ctl->db, node)) < 0 ||
	    db_event(&ctl->db, type, id, "instance %s: %s requested by %s", id, names[act], who->key_id) < 0 ||
	    db_commit(&ctl->db) < 0)
		goto err_rollback;
	answer = json_pack("{s:o}", "operation", api_operation_find(&ctl->db, op_id));
	goto out;
err_rollback:
	db_rollback(&ctl->db);
	rc = -1;
out:
	db_unlock(&ctl->db);
	if (answer) {
		watch_notify(ctl);
		rc = httpd_reply_json(resp, 202, answer);
	}
	json_decref(inst);
	return rc;
}

static int instances_start(struct controller *ctl, const struct auth_principal *who, struct httpd_request *req,
			   struct httpd_response *resp)
{
	return instances_act(ctl, who, req, resp, ACT_START);
}

static int instances_stop(struct controller *ctl, const struct auth_principal *who, struct httpd_request *req,
			  struct httpd_response *resp)
{
	return instances_act(ctl, who, req, resp, ACT_STOP);
}

static int instances_reboot(struct controller *ctl, const struct auth_principal *who, struct httpd_request *req,
			    struct httpd_response *resp)
{
	return instances_act(ctl, who, req, resp, ACT_REBOOT);
}

static int instances_delete(struct controller *ctl, const struct auth_principal *who, struct httpd_request *req,
			    struct httpd_response *resp)
{
	return instances_act(ctl, who, req, resp, ACT_DELETE);
}

/* PUT /v1/instances/{id}/security-groups {"security_groups": [...]}: the instance's groups, replaced whole.
 * Filters change on every node (the groups' member sets are everywhere), no guest restarts. */
static int instances_set_groups(struct controller *ctl, const struct auth_principal *who, struct httpd_request *req,
				struct httpd_response *resp)
{
	static const char *const fields[] = { "security_groups", NULL };
	json_t *doc, *inst = NULL, *groups = json_array(), *answer = NULL;
	const char *id, *account;
	int rc = 0, step;

	if (api_parse_body(req, resp, &doc) < 0)
		goto out_free;
	if (api_check_fields(doc, fields, resp) < 0)
		goto out_doc;
	if (!json_is_array(json_object_get(doc, "security_groups"))) {
		httpd_reply_error(resp, 400, "bad_field", "security_groups: required, an array of names or ids (may be empty)");
		goto out_doc;
	}
	db_lock(&ctl->db);
	inst = instance_find(&ctl->db, httpd_param(req, "id"), tenant_scope(who));
	if (inst == NULL) {
		httpd_reply_error(resp, 404, "not_found", "no instance %.64s", httpd_param(req, "id"));
		goto out_unlock;
	}
	id = json_string_value(json_object_get(inst, "id"));
	account = json_string_value(json_object_get(inst, "account"));
	if (strcmp(json_string_value(json_object_get(inst, "power")), "deleted") == 0) {
		httpd_reply_error(resp, 409, "conflict", "instance %s is being deleted", id);
		goto out_unlock;
	}
	if (db_begin(&ctl->db) < 0) {
		rc = -1;
		goto out_unlock;
	}
	if ((step = instance_refs(&ctl->db, json_object_get(doc, "security_groups"), "security_groups", account,
				  INSTANCE_MAX_GROUPS, groups, resp)) < 0) {
		rc = step == -2 ? -1 : 0;
		goto out_rollback;
	}
	if (db_exec(&ctl->db, "DELETE FROM instance_security_groups WHERE instance_id = ?", 1, &id) < 0 ||
	    instance_groups_insert(&ctl->db, id, groups) < 0)
		goto err_rollback;
	if (db_exec(&ctl->db, "UPDATE instances SET updated_at = strftime('%s','now') WHERE id = ?", 1, &id) < 0 ||
	    desired_touch_all(&ctl->db) < 0 ||
	    db_event(&ctl->db, "instance.security-groups", id, "instance %s: %zu security groups, set by %s", id,
		     json_array_size(groups), who->key_id) < 0 ||
	    db_commit(&ctl->db) < 0)
		goto err_rollback;
	answer = instance_find(&ctl->db, id, NULL);
	goto out_unlock;
err_rollback:
	rc = -1;
out_rollback:
	db_rollback(&ctl->db);
out_unlock:
	db_unlock(&ctl->db);
	if (answer) {
		watch_notify(ctl);
		rc = httpd_reply_json(resp, 200, answer);
	}
out_doc:
	json_decref(doc);
out_free:
	json_decref(inst);
	json_decref(groups);
	return rc;
}

/* GET /v1/instances/{id}/console: the node's console log of the guest (cloudd, port 8081, a signed request). */
static int instances_console(struct controller *ctl, const struct auth_principal *who, struct httpd_request *req,
			     struct httpd_response *resp)
{
	static const char *const allowed[] = { "bytes", NULL };
	const char *bytes = httpd_query(req, "bytes");
	char path[128], node_id[40] = "";
	struct sign_query_arg arg = { "bytes", NULL };
	struct httpc_response r = { 0 };
	json_t *inst;
	int rc;

	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	if (bytes && (strspn(bytes, "0123456789") != strlen(bytes) || strlen(bytes) == 0 || strlen(bytes) > 6 ||
		      atol(bytes) < 1 || atol(bytes) > INSTANCE_CONSOLE_MAX))
		return httpd_reply_error(resp, 400, "bad_parameter", "bytes: 1..%d", INSTANCE_CONSOLE_MAX);
	arg.value = bytes ? bytes : "16384";
	db_lock(&ctl->db);
	inst = instance_find(&ctl->db, httpd_param(req, "id"), tenant_scope(who));
	db_unlock(&ctl->db);
	if (inst == NULL)
		return httpd_reply_error(resp, 404, "not_found", "no instance %.64s", httpd_param(req, "id"));
	if (json_is_string(json_object_get(inst, "node")))
		snprintf(node_id, sizeof(node_id), "%s", json_string_value(json_object_get(inst, "node")));
	if (snprintf(path, sizeof(path), "/v1/instances/%s/console", json_string_value(json_object_get(inst, "id"))) >=
	    (int)sizeof(path)) {
		json_decref(inst);
		errno = ENAMETOOLONG;
		return -1;
	}
	json_decref(inst);
	if (node_id[0] == '\0')
		return httpd_reply_error(resp, 409, "not_placed", "instance has no node to read its console from");
	if (node_client_get(ctl, node_id, path, &arg, 1, 10, &r) < 0) {
		if (errno == ENOENT || errno == ENXIO || errno == ENOKEY)
			rc = httpd_reply_error(resp, 409, "not_placed", "cannot read the console: %s", r.error);
		else
			rc = httpd_reply_error(resp, 502, "node_unreachable", "the node did not answer: %s", r.error);
	} else if (r.status != 200) {
		rc = httpd_reply_error(resp, r.status == 404 ? 404 : 502, "node_error", "the node answered %ld: %.200s", r.status,
				       r.body.data ? r.body.data : "");
	} else {
		rc = httpd_reply_text(resp, 200, "text/plain; charset=utf-8", r.body.data ? r.body.data : "", r.body.len);
	}
	httpc_response_free(&r);
	return rc;
}

int api_instances_register(struct controller *ctl)
{
	if (api_route(ctl, "GET", "/v1/instances", instances_list, API_ADMIN | API_USER | API_CACHE,
		      "instances (the key's account; admin: all, ?account=), ?node=, ?limit=, ?cursor=", NULL) < 0 ||
	    api_route(ctl, "POST", "/v1/instances", instances_create, API_ADMIN | API_USER,
		      "create an instance: scheduled and addressed now, an operation follows it until running",
		      "{\"type\":\"object\",\"required\":[\"name\",\"type\",\"template\"],\"additionalProperties\":false,"
		      "\"properties\":{\"name\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},\"template\":{\"type\":\"string\"},"
		      "\"security_groups\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
		      "\"ssh_keys\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"user_data\":{\"type\":\"string\"},"
		      "\"node_labels\":{\"type\":\"object\"},\"anti_affinity\":{\"type\":\"string\"},\"account\":{\"type\":\"string\"}}}") < 0 ||
	    api_route(ctl, "GET", "/v1/instances/{id}", instances_show, API_ADMIN | API_USER | API_CACHE,
		      "one instance (id or name): state, node, addresses, groups", NULL) < 0 ||
	    api_route(ctl, "DELETE", "/v1/instances/{id}", instances_delete, API_ADMIN | API_USER,
		      "delete an instance and its volumes; its address is released at once", NULL) < 0 ||
	    api_route(ctl, "POST", "/v1/instances/{id}/start", instances_start, API_ADMIN | API_USER, "start", NULL) < 0 ||
	    api_route(ctl, "POST", "/v1/instances/{id}/stop", instances_stop, API_ADMIN | API_USER, "stop", NULL) < 0 ||
	    api_route(ctl, "POST", "/v1/instances/{id}/reboot", instances_reboot, API_ADMIN | API_USER,
		      "reboot (stopped, then started again)", NULL) < 0 ||
	    api_route(ctl, "PUT", "/v1/instances/{id}/security-groups", instances_set_groups, API_ADMIN | API_USER,
		      "replace the instance's security groups (filters change on the nodes, the guest keeps running)",
		      "{\"type\":\"object\",\"required\":[\"security_groups\"],\"additionalProperties\":false,"
		      "\"properties\":{\"security_groups\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}") < 0 ||
	    api_route(ctl, "GET", "/v1/instances/{id}/console", instances_console, API_ADMIN | API_USER,
		      "console output, read from the instance's node; ?bytes=", NULL) < 0)
		return -1;
	return 0;
}
