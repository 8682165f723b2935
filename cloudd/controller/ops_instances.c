/* ops_instances.c -- instance operations: create (scheduled, addressed), power, delete, security groups, node reports */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

const char *instance_state(const char *power, const char *reported, const char *node_id, const char *node_state)
{
	if (strcmp(power, "deleted") == 0)
		return "deleting";
	if (node_id && (node_state == NULL || strcmp(node_state, "up") != 0))
		return "unknown";
	return reported ? reported : "pending";
}

/* What a node's report of one instance makes of its state (kept until the next report). */
static const char *instance_reported_state(const char *status, const char *desired)
{
	if (status == NULL)
		return "pending";
	if (strcmp(status, "running") == 0)
		return "running";
	if (strcmp(status, "error") == 0)
		return "error";
	if (strcmp(status, "stopped") == 0)
		return desired && strcmp(desired, "running") == 0 ? "starting" : "stopped";
	if (strcmp(status, "stopping") == 0)
		return "stopping";
	return "starting"; /* pending */
}

json_t *instance_json(struct db *db, sqlite3_stmt *st)
{
	const char *power = db_col_text(st, 12);
	const char *state = instance_state(power, db_col_text(st, 13), db_col_text(st, 8), db_col_text(st, 15));
	json_t *labels = json_loads(db_col_text(st, 17), 0, NULL), *groups = json_array(), *doc;
	sqlite3_stmt *g;

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
			db_col_text(st, 10), "ipv6", db_col_text(st, 11), "power", power, "state", state,
			"state_reason", db_col_text(st, 14), "security_groups", groups, "anti_affinity", db_col_text(st, 16),
			"node_labels", labels ? labels : json_object(), "operation", db_col_text(st, 18), "created_at",
			util_time_json(sqlite3_column_int64(st, 19)), "updated_at", util_time_json(sqlite3_column_int64(st, 20)));
	/* a reboot asked that the node has not reported done yet */
	if (doc && strcmp(power, "running") == 0 && sqlite3_column_int64(st, 21) > sqlite3_column_int64(st, 22))
		json_object_set_new(doc, "rebooting", json_true());
	return doc;
}

/* a deleted instance keeps its row (and name) until its node is done: only its id names it */
static const struct named_kind instance_kind = {
	"instance",
	"an instance",
	"SELECT " INSTANCE_COLS " FROM instances i LEFT JOIN nodes n ON n.id = i.node_id"
	" WHERE (i.id = ?1 OR (i.name = ?1 AND i.power != 'deleted'))"
	" AND (?2 IS NULL OR i.account_id = ?2) ORDER BY i.id = ?1 DESC LIMIT 1",
	NULL, /* api_instances.c: by node too */
	NULL, /* instance_delete */
	instance_json,
};

json_t *instance_find(struct db *db, const char *ref, const char *scope)
{
	return named_find(db, &instance_kind, ref, scope);
}

static int instance_mac(char out[18])
{
	char hex[7];

	if (util_random_hex(hex, sizeof(hex), 3) < 0)
		return -1;
	snprintf(out, 18, "52:54:00:%.2s:%.2s:%.2s", hex, hex + 2, hex + 4);
	return 0;
}

enum instance_ref_kind { REF_SECURITY_GROUP, REF_SSH_KEY };

/*
 * Resolves an array of names or ids of an account (under the lock) into out:
 * group ids, or the keys' public texts. 0, or -1 with err.
 */
static int instance_refs(struct db *db, json_t *arr, enum instance_ref_kind kind, const char *account, json_t *out,
			 struct op_error *err)
{
	const char *what = kind == REF_SSH_KEY ? "ssh_keys" : "security_groups";
	size_t max = kind == REF_SSH_KEY ? INSTANCE_MAX_KEYS : INSTANCE_MAX_GROUPS, i, j;
	json_t *v, *e;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > max)
		return op_fail(err, 400, "bad_field", "%s: expected an array of at most %zu names or ids", what, max);
	json_array_foreach(arr, i, v) {
		json_t *found = NULL, *id;
		int dup = 0;

		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 63)
			return op_fail(err, 400, "bad_field", "%s[%zu]: expected a name or id", what, i);
		if (kind == REF_SECURITY_GROUP) {
			found = sg_find(db, json_string_value(v), account, 0);
		} else {
			sqlite3_stmt *st = db_prepare(db, "SELECT public_key FROM ssh_keys WHERE (id = ?1 OR name = ?1) AND account_id = ?2");
			if (st == NULL)
				return op_internal(err, "looking up an SSH key");
			db_bind_text(st, 1, json_string_value(v));
			db_bind_text(st, 2, account);
			if (sqlite3_step(st) == SQLITE_ROW)
				found = json_pack("{s:s}", "id", db_col_text(st, 0));
			sqlite3_finalize(st);
		}
		if (found == NULL)
			return op_fail(err, 422, kind == REF_SSH_KEY ? "unknown_ssh_key" : "unknown_security_group",
				       "%s[%zu]: no %s %.63s in this account", what, i,
				       kind == REF_SSH_KEY ? "SSH key" : "security group", json_string_value(v));
		id = json_object_get(found, "id");
		json_array_foreach(out, j, e)
			dup |= json_equal(e, id);
		if (dup) {
			json_decref(found);
			return op_fail(err, 400, "bad_field", "%s[%zu]: %.63s is listed twice", what, i, json_string_value(v));
		}
		json_array_append(out, id);
		json_decref(found);
	}
	return 0;
}

/* Makes the instance a member of each group id in groups (in the caller's transaction). */
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

struct instance_type {
	long long vcpus, memory_mib, disk_gib;
};

/* The type's size (vcpus 0 when there is no such type). */
static int instance_type_get(struct db *db, const char *name, struct instance_type *t)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT vcpus, memory_mib, disk_gib FROM instance_types WHERE name = ?");

	memset(t, 0, sizeof(*t));
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, name);
	if (sqlite3_step(st) == SQLITE_ROW)
		t->vcpus = sqlite3_column_int64(st, 0), t->memory_mib = sqlite3_column_int64(st, 1),
		t->disk_gib = sqlite3_column_int64(st, 2);
	sqlite3_finalize(st);
	return 0;
}

/* 1 when the account has a live instance of that name (its id in id), 0 when not, -1 on error. */
static int instance_name_taken(struct db *db, const char *account, const char *name, char id[40])
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id FROM instances WHERE account_id = ? AND name = ? AND power != 'deleted'");
	int taken;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, account);
	db_bind_text(st, 2, name);
	taken = sqlite3_step(st) == SQLITE_ROW;
	if (taken)
		snprintf(id, 40, "%s", db_col_text(st, 0));
	sqlite3_finalize(st);
	return taken;
}

struct instance_row {
	const char *id, *account, *name, *type, *template_id, *node_id, *mac, *ipv4, *ipv6;
	const char *ssh_keys, *user_data, *node_labels, *anti_affinity, *operation_id;
	struct instance_type size;
};

static int instance_insert(struct db *db, const struct instance_row *r)
{
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO instances (id, account_id, name, type, vcpus, memory_mib, disk_gib,"
					  " template_id, node_id, mac, ipv4, power, state, ssh_keys, user_data, node_labels,"
					  " anti_affinity, operation_id, created_at, updated_at, ipv6) VALUES (?1, ?2, ?3, ?4,"
					  " ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'running', 'pending', ?12, ?13, ?14, ?15, ?16,"
					  " strftime('%s','now'), strftime('%s','now'), ?17)");
	int step;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, r->id);
	db_bind_text(st, 2, r->account);
	db_bind_text(st, 3, r->name);
	db_bind_text(st, 4, r->type);
	sqlite3_bind_int64(st, 5, r->size.vcpus);
	sqlite3_bind_int64(st, 6, r->size.memory_mib);
	sqlite3_bind_int64(st, 7, r->size.disk_gib);
	db_bind_text(st, 8, r->template_id);
	db_bind_text(st, 9, r->node_id);
	db_bind_text(st, 10, r->mac);
	db_bind_text(st, 11, r->ipv4);
	db_bind_text(st, 12, r->ssh_keys);
	db_bind_text(st, 13, r->user_data);
	db_bind_text(st, 14, r->node_labels);
	db_bind_text(st, 15, r->anti_affinity);
	db_bind_text(st, 16, r->operation_id);
	db_bind_text(st, 17, r->ipv6);
	step = sqlite3_step(st);
	sqlite3_finalize(st);
	if (step != SQLITE_DONE) {
		errno = step == SQLITE_CONSTRAINT ? EEXIST : EIO;
		return -1;
	}
	return 0;
}

/* The checks and lookups of a create, in the transaction; fills row->template_id (in tpl) and row->size. */
static int instance_create_check(struct controller *ctrl, const struct instance_create_req *r, json_t **tpl,
				 struct instance_row *row, json_t *groups, json_t *keys, struct op_error *err)
{
	char other[40];
	int taken;

	*tpl = template_find(&ctrl->db, r->template_ref, r->account);
	if (*tpl == NULL)
		return op_fail(err, 422, "unknown_template", "template: no template %.63s for this account", r->template_ref);
	if (instance_type_get(&ctrl->db, r->type, &row->size) < 0)
		return op_internal(err, "reading instance types");
	if (row->size.vcpus == 0)
		return op_fail(err, 422, "unknown_type", "type: no instance type %.63s (see GET /v1/instance-types)", r->type);
	if (strcmp(json_string_value(json_object_get(*tpl, "state")), "ready") != 0)
		return op_fail(err, 409, "template_not_ready", "template: %.63s is still awaiting its upload", r->template_ref);
	if (json_integer_value(json_object_get(*tpl, "min_disk_gib")) > row->size.disk_gib)
		return op_fail(err, 422, "disk_too_small", "type: %s has %lld GiB of disk, template %s needs %lld GiB", r->type,
			       row->size.disk_gib, r->template_ref,
			       (long long)json_integer_value(json_object_get(*tpl, "min_disk_gib")));
	if (instance_refs(&ctrl->db, r->security_groups, REF_SECURITY_GROUP, r->account, groups, err) < 0 ||
	    instance_refs(&ctrl->db, r->ssh_keys, REF_SSH_KEY, r->account, keys, err) < 0)
		return -1;
	taken = instance_name_taken(&ctrl->db, r->account, r->name, other);
	if (taken < 0)
		return op_internal(err, "looking up instance names");
	if (taken)
		return op_fail(err, 409, "conflict", "name: instance %s exists in this account (%s)", r->name, other);
	row->template_id = json_string_value(json_object_get(*tpl, "id"));
	return 0;
}

/* Every node is full now: the operation records why and fails; nothing else is kept. */
static int instance_unschedulable(struct controller *ctrl, const struct instance_create_req *r, const char *why,
				  char op_id[40])
{
	if (api_operation_create_for(&ctrl->db, "instance.create", r->name, r->account, op_id) < 0 ||
	    api_operation_finish(&ctrl->db, op_id, 0, why) < 0 ||
	    db_event(&ctrl->db, "instance.unschedulable", r->name, "instance %s of %s: %s", r->name, r->account, why) < 0)
		return -1;
	return 0;
}

/* A create's transaction: its request, the row it builds and what it holds until the end. */
struct instance_create_tx {
	const struct instance_create_req *r;
	struct instance_row row;
	struct sched_node *nodes;
	size_t nnodes;
	struct buf why;
	json_t *tpl, *groups, *keys;
	char id[40], op_id[40], mac[18], ip[16], ip6[46], *keys_text, *labels_text;
	int unschedulable; /* no node has room now: only the failed operation was kept */
};

/* Checks, schedules, addresses and inserts the instance (op_body_fn). */
static int instance_create_body(struct controller *ctrl, void *ctx, struct op_error *err)
{
	struct instance_create_tx *t = ctx;
	const struct instance_create_req *r = t->r;
	struct instance_row *row = &t->row;
	struct sched_request sr;
	int pick, ever = 0;

	if (instance_create_check(ctrl, r, &t->tpl, row, t->groups, t->keys, err) < 0)
		return -1;
	sr = (struct sched_request){ "hypervisor", row->size.vcpus, row->size.memory_mib, row->size.disk_gib,
				     r->node_labels, ctrl->cfg.cpu_overcommit, ctrl->cfg.memory_overcommit,
				     ctrl->cfg.disk_overcommit };
	if (sched_load(ctrl, r->anti_affinity, r->account, &t->nodes, &t->nnodes) < 0)
		return op_internal(err, "loading the nodes");
	pick = sched_pick(t->nodes, t->nnodes, &sr, &t->why, &ever);
	if (pick < 0 && !ever)
		return op_fail(err, 422, "no_capacity", "type %s (%lld vCPUs, %lld MiB, %lld GiB) fits no node even when empty: %s",
			       r->type, row->size.vcpus, row->size.memory_mib, row->size.disk_gib,
			       t->why.data ? t->why.data : "no nodes");
	if (pick < 0) {
		t->unschedulable = 1;
		if (instance_unschedulable(ctrl, r, t->why.data ? t->why.data : "no node fits", t->op_id) < 0)
			return op_internal(err, "recording an unschedulable instance");
		return 0;
	}
	row->node_id = t->nodes[pick].id;
	if (ipam_allocate(ctrl, row->id, "instance", t->ip) < 0) {
		if (errno == ENOSPC)
			return op_fail(err, 409, "no_address", "the guest subnet %s has no free address", ctrl->cfg.guest_subnet);
		return op_internal(err, "allocating an address");
	}
	row->ipv4 = t->ip;
	if (ctrl->cfg.guest_subnet6[0] && ipam6_allocate(ctrl, row->id, "instance", t->ip6) < 0) {
		if (errno == ENOSPC)
			return op_fail(err, 409, "no_address", "the guest subnet %s has no free address",
				       ctrl->cfg.guest_subnet6);
		return op_internal(err, "allocating an IPv6 address");
	}
	row->ipv6 = t->ip6[0] ? t->ip6 : NULL;
	t->keys_text = json_dumps(t->keys, JSON_COMPACT);
	t->labels_text = r->node_labels ? json_dumps(r->node_labels, JSON_COMPACT) : strdup("{}");
	row->ssh_keys = t->keys_text, row->node_labels = t->labels_text;
	if (t->keys_text == NULL || t->labels_text == NULL ||
	    api_operation_create_for(&ctrl->db, "instance.create", row->id, r->account, t->op_id) < 0 ||
	    instance_insert(&ctrl->db, row) < 0 || instance_groups_insert(&ctrl->db, row->id, t->groups) < 0 ||
	    (json_array_size(t->groups) ? desired_touch_all(&ctrl->db) : desired_touch_node(&ctrl->db, row->node_id)) < 0 ||
	    db_event(&ctrl->db, "instance.created", row->id, "instance %s (%s) of %s on node %s, %s", row->id, r->name,
		     r->account, row->node_id, t->ip) < 0)
		return op_internal(err, "creating an instance");
	return 0;
}

int instance_create(struct controller *ctrl, const struct instance_create_req *r, json_t **operation,
		    json_t **instance, struct op_error *err)
{
	struct instance_create_tx t = { .r = r, .why = BUF_INIT, .groups = json_array(), .keys = json_array() };
	int rc = -1;

	*operation = *instance = NULL;
	t.row = (struct instance_row){ .id = t.id, .account = r->account, .name = r->name, .type = r->type,
				       .mac = t.mac, .user_data = r->user_data, .anti_affinity = r->anti_affinity,
				       .operation_id = t.op_id };
	if (t.groups == NULL || t.keys == NULL) {
		errno = ENOMEM;
		op_internal(err, "creating an instance");
		goto out;
	}
	if (r->user_data && strlen(r->user_data) > ctrl->cfg.user_data_max) {
		op_fail(err, 413, "too_large", "user_data: %zu bytes, at most %llu", strlen(r->user_data),
			ctrl->cfg.user_data_max);
		goto out;
	}
	if (util_new_id(t.id, sizeof(t.id), "i") < 0 || instance_mac(t.mac) < 0) {
		op_internal(err, "drawing an instance id");
		goto out;
	}
	if (ctrl->cfg.guest_subnet[0] == '\0') {
		op_fail(err, 422, "no_guest_network",
			"the controller has no guest-subnet configured: instances have nowhere to connect");
		goto out;
	}
	/* the lock is held past the commit: the replies show the rows as this create left them */
	db_lock(&ctrl->db);
	if (op_transaction_locked(ctrl, instance_create_body, &t, "creating an instance", err) < 0) {
		db_unlock(&ctrl->db);
		goto out;
	}
	*operation = api_operation_find(&ctrl->db, t.op_id);
	if (t.unschedulable) {
		db_unlock(&ctrl->db);
		rc = *operation ? 0 : op_internal(err, "reading the operation");
		goto out;
	}
	*instance = instance_find(&ctrl->db, t.id, NULL);
	db_unlock(&ctrl->db);
	watch_notify(ctrl);
	if (*operation == NULL || *instance == NULL) {
		json_decref(*operation);
		json_decref(*instance);
		*operation = *instance = NULL;
		op_internal(err, "reading the new instance");
		goto out;
	}
	rc = 0;
out:
	sched_free(t.nodes, t.nnodes);
	buf_free(&t.why);
	free(t.keys_text);
	free(t.labels_text);
	json_decref(t.tpl);
	json_decref(t.groups);
	json_decref(t.keys);
	return rc;
}

/* What an instance's row says, for a power change. */
struct instance_facts {
	char id[40], node[40], power[16], state[16], account[40];
	int has_node, n_groups;
};

/* Finds the instance under the lock: 0, or -1 with 404, or 409 when it is being deleted. */
static int instance_facts_get(struct db *db, const struct op_ref *r, struct instance_facts *f, struct op_error *err)
{
	json_t *inst = instance_find(db, r->ref, r->scope);

	memset(f, 0, sizeof(*f));
	if (inst == NULL)
		return op_fail(err, 404, "not_found", "no instance %.64s", r->ref);
	snprintf(f->id, sizeof(f->id), "%s", json_string_value(json_object_get(inst, "id")));
	f->has_node = json_is_string(json_object_get(inst, "node"));
	if (f->has_node)
		snprintf(f->node, sizeof(f->node), "%s", json_string_value(json_object_get(inst, "node")));
	snprintf(f->power, sizeof(f->power), "%s", json_string_value(json_object_get(inst, "power")));
	snprintf(f->state, sizeof(f->state), "%s", json_string_value(json_object_get(inst, "state")));
	snprintf(f->account, sizeof(f->account), "%s", json_string_value(json_object_get(inst, "account")));
	f->n_groups = (int)json_array_size(json_object_get(inst, "security_groups"));
	json_decref(inst);
	if (strcmp(f->power, "deleted") == 0)
		return op_fail(err, 409, "conflict", "instance %s is being deleted", f->id);
	return 0;
}

enum instance_act { ACT_START, ACT_STOP, ACT_REBOOT, ACT_DELETE };

/* The row's change for an action (in the transaction); *done_now when the instance already is there. */
static int instance_act_apply(struct db *db, const struct instance_facts *f, enum instance_act act, const char *op_id,
			      int *done_now)
{
	const char *p[2] = { op_id, f->id }, *id = f->id;

	*done_now = 0;
	switch (act) {
	case ACT_START:
		/* a reboot not yet seen is moot: a start boots afresh */
		*done_now = strcmp(f->state, "running") == 0;
		return db_exec(db, "UPDATE instances SET power = 'running', reboot_reported = reboot_generation,"
				   " operation_id = ?, updated_at = strftime('%s','now') WHERE id = ?", 2, p);
	case ACT_STOP:
		*done_now = strcmp(f->state, "stopped") == 0;
		return db_exec(db, "UPDATE instances SET power = 'stopped', reboot_reported = reboot_generation,"
				   " operation_id = ?, updated_at = strftime('%s','now') WHERE id = ?", 2, p);
	case ACT_REBOOT:
		/* the node resets the guest once when the generation rises (docs/desired-state.md) */
		return db_exec(db, "UPDATE instances SET reboot_generation = reboot_generation + 1, operation_id = ?,"
				   " updated_at = strftime('%s','now') WHERE id = ?", 2, p);
	case ACT_DELETE:
		if (db_exec(db, "UPDATE instances SET power = 'deleted', reboot_reported = reboot_generation,"
				" operation_id = ?, ipv4 = NULL, ipv6 = NULL, updated_at = strftime('%s','now') WHERE id = ?",
			    2, p) < 0 ||
		    ipam_release(db, id) < 0 ||
		    db_exec(db, "DELETE FROM instance_security_groups WHERE instance_id = ?", 1, &id) < 0)
			return -1;
		if (!f->has_node) {
			*done_now = 1;
			return db_exec(db, "DELETE FROM instances WHERE id = ?", 1, &id);
		}
		return 0;
	}
	errno = EINVAL;
	return -1;
}

static int instance_act(struct controller *ctrl, const struct op_ref *r, enum instance_act act, json_t **operation,
			struct op_error *err)
{
	static const char *const names[] = { "start", "stop", "reboot", "delete" };
	struct instance_facts f;
	char op_id[40], type[32];
	int done_now;

	*operation = NULL;
	snprintf(type, sizeof(type), "instance.%s", names[act]);
	db_lock(&ctrl->db);
	if (instance_facts_get(&ctrl->db, r, &f, err) < 0)
		goto out_unlock;
	if (act == ACT_REBOOT && strcmp(f.power, "running") != 0) {
		op_fail(err, 409, "conflict", "instance %s is stopped: start it instead of rebooting", f.id);
		goto out_unlock;
	}
	if (db_begin(&ctrl->db) < 0) {
		op_internal(err, "starting a transaction");
		goto out_unlock;
	}
	if (api_operation_create_for(&ctrl->db, type, f.id, f.account, op_id) < 0 ||
	    instance_act_apply(&ctrl->db, &f, act, op_id, &done_now) < 0 ||
	    (done_now && api_operation_finish(&ctrl->db, op_id, 1, NULL) < 0) ||
	    ((f.n_groups && act == ACT_DELETE) ? desired_touch_all(&ctrl->db)
					       : desired_touch_node(&ctrl->db, f.has_node ? f.node : NULL)) < 0 ||
	    db_event(&ctrl->db, type, f.id, "instance %s: %s requested by %s", f.id, names[act], r->actor) < 0 ||
	    db_commit(&ctrl->db) < 0) {
		op_internal(err, type);
		db_rollback(&ctrl->db);
		goto out_unlock;
	}
	*operation = api_operation_find(&ctrl->db, op_id);
	db_unlock(&ctrl->db);
	watch_notify(ctrl);
	return *operation ? 0 : op_internal(err, "reading the operation");
out_unlock:
	db_unlock(&ctrl->db);
	return -1;
}

int instance_power(struct controller *ctrl, const struct op_ref *r, enum instance_power_action action,
		   json_t **operation, struct op_error *err)
{
	static const enum instance_act acts[] = { [INSTANCE_START] = ACT_START, [INSTANCE_STOP] = ACT_STOP,
						  [INSTANCE_REBOOT] = ACT_REBOOT };

	return instance_act(ctrl, r, acts[action], operation, err);
}

int instance_delete(struct controller *ctrl, const struct op_ref *r, json_t **operation, struct op_error *err)
{
	return instance_act(ctrl, r, ACT_DELETE, operation, err);
}

int instance_set_groups(struct controller *ctrl, const struct op_ref *r, json_t *groups_in, json_t **instance,
			struct op_error *err)
{
	struct instance_facts f;
	json_t *groups = json_array();
	const char *id = f.id;
	int rc = -1;

	*instance = NULL;
	if (groups == NULL) {
		errno = ENOMEM;
		return op_internal(err, "setting security groups");
	}
	if (!json_is_array(groups_in)) {
		json_decref(groups);
		return op_fail(err, 400, "bad_field", "security_groups: required, an array of names or ids (may be empty)");
	}
	db_lock(&ctrl->db);
	if (instance_facts_get(&ctrl->db, r, &f, err) < 0)
		goto out_unlock;
	if (db_begin(&ctrl->db) < 0) {
		op_internal(err, "starting a transaction");
		goto out_unlock;
	}
	if (instance_refs(&ctrl->db, groups_in, REF_SECURITY_GROUP, f.account, groups, err) < 0)
		goto out_rollback;
	/* every node's document changes: the groups' member sets are everywhere; the guest keeps running */
	if (db_exec(&ctrl->db, "DELETE FROM instance_security_groups WHERE instance_id = ?", 1, &id) < 0 ||
	    instance_groups_insert(&ctrl->db, id, groups) < 0 ||
	    db_exec(&ctrl->db, "UPDATE instances SET updated_at = strftime('%s','now') WHERE id = ?", 1, &id) < 0 ||
	    desired_touch_all(&ctrl->db) < 0 ||
	    db_event(&ctrl->db, "instance.security-groups", id, "instance %s: %zu security groups, set by %s", id,
		     json_array_size(groups), r->actor) < 0 ||
	    db_commit(&ctrl->db) < 0) {
		op_internal(err, "setting security groups");
		goto out_rollback;
	}
	*instance = instance_find(&ctrl->db, id, NULL);
	db_unlock(&ctrl->db);
	watch_notify(ctrl);
	rc = *instance ? 0 : op_internal(err, "reading the instance");
	goto out;
out_rollback:
	db_rollback(&ctrl->db);
out_unlock:
	db_unlock(&ctrl->db);
out:
	json_decref(groups);
	return rc;
}

static const struct instance_report *report_find(const struct node_report *r, const char *id)
{
	for (size_t i = 0; i < r->n_instances; i++)
		if (strcmp(r->instances[i].id, id) == 0)
			return &r->instances[i];
	return NULL;
}

static int report_operation_end(sqlite3_stmt *op, const char *op_id, int ok, const char *reason)
{
	sqlite3_reset(op);
	db_bind_text(op, 1, ok ? "success" : "failure");
	db_bind_text(op, 2, reason);
	db_bind_text(op, 3, op_id);
	return sqlite3_step(op) == SQLITE_DONE ? 0 : -1;
}

/* One instance of the node's: its state from the report, or gone when deleted and no longer there. */
static int report_instance(struct db *db, const char *node_id, sqlite3_stmt *sel, const struct instance_report *rep,
			   sqlite3_stmt *upd, sqlite3_stmt *op, int *touched)
{
	const char *iid = db_col_text(sel, 0), *power = db_col_text(sel, 1), *opid = db_col_text(sel, 2);
	long long generation = sqlite3_column_int64(sel, 3), seen = sqlite3_column_int64(sel, 4);
	const char *state, *reason;

	if (strcmp(power, "deleted") == 0) {
		/* gone from the node, or stopped there with its volumes removed: forget it */
		if (rep == NULL || (strcmp(rep->status, "stopped") == 0 && rep->desired && strcmp(rep->desired, "deleted") == 0)) {
			if (db_exec(db, "DELETE FROM instances WHERE id = ?", 1, &iid) < 0 ||
			    (opid && report_operation_end(op, opid, 1, NULL) < 0))
				return -1;
			*touched = 1;
		}
		return 0;
	}
	state = instance_reported_state(rep ? rep->status : NULL, rep ? rep->desired : NULL);
	reason = rep ? rep->error : NULL;
	sqlite3_reset(upd);
	db_bind_text(upd, 1, state);
	db_bind_text(upd, 2, reason);
	db_bind_text(upd, 3, iid);
	db_bind_text(upd, 4, node_id);
	if (sqlite3_step(upd) != SQLITE_DONE)
		return -1;
	if (rep && rep->reboot > seen) {
		char gen[24];
		const char *p[2] = { gen, iid };
		snprintf(gen, sizeof(gen), "%lld", rep->reboot);
		if (db_exec(db, "UPDATE instances SET reboot_reported = CAST(? AS INTEGER) WHERE id = ?", 2, p) < 0)
			return -1;
		seen = rep->reboot;
	}
	if (opid == NULL)
		return 0;
	if (strcmp(state, "error") == 0) {
		char why[600];
		snprintf(why, sizeof(why), "%s", reason ? reason : "the node reports an error");
		return report_operation_end(op, opid, 0, why);
	}
	/* the pending operation ends when the instance reaches its power state, its last reboot included */
	if (strcmp(state, power) == 0 && seen >= generation)
		return report_operation_end(op, opid, 1, NULL);
	return 0;
}

struct report_txn {
	const struct node_report *r;
	int touched; /* a document changed: the node's watch wakes */
};

static int report_body(struct controller *ctrl, void *ctx, struct op_error *err)
{
	struct report_txn *t = ctx;
	const struct node_report *r = t->r;
	const char *p[2] = { r->document, r->node_id };
	sqlite3_stmt *upd, *sel, *op;
	int rc = -1;

	if (db_exec(&ctrl->db, "UPDATE nodes SET actual = ?, actual_at = strftime('%s','now') WHERE id = ?", 2, p) < 0)
		return op_internal(err, "recording the actual state");
	if (sqlite3_changes(ctrl->db.h) == 0)
		return op_fail(err, 404, "not_found", "no node %.64s", r->node_id);
	upd = db_prepare(&ctrl->db, "UPDATE instances SET state = ?1, state_reason = ?2, updated_at = strftime('%s','now')"
				   " WHERE id = ?3 AND node_id = ?4 AND (state IS NOT ?1 OR state_reason IS NOT ?2)");
	sel = db_prepare(&ctrl->db, "SELECT id, power, operation_id, reboot_generation, reboot_reported FROM instances"
				   " WHERE node_id = ?");
	op = db_prepare(&ctrl->db, "UPDATE operations SET state = ?1, reason = ?2, updated_at = strftime('%s','now')"
				  " WHERE id = ?3 AND state = 'pending'");
	if (upd == NULL || sel == NULL || op == NULL) {
		op_internal(err, "recording the actual state");
		goto out;
	}
	db_bind_text(sel, 1, r->node_id);
	while (sqlite3_step(sel) == SQLITE_ROW) {
		if (report_instance(&ctrl->db, r->node_id, sel, report_find(r, db_col_text(sel, 0)), upd, op, &t->touched) < 0) {
			op_internal(err, "recording an instance's state");
			goto out;
		}
	}
	rc = 0;
	if (t->touched && desired_touch_node(&ctrl->db, r->node_id) < 0)
		rc = op_internal(err, "recording the actual state");
out:
	sqlite3_finalize(upd);
	sqlite3_finalize(sel);
	sqlite3_finalize(op);
	return rc;
}

int instance_report(struct controller *ctrl, const struct node_report *r, struct op_error *err)
{
	struct report_txn t = { r, 0 };

	if (op_transaction(ctrl, report_body, &t, "recording the actual state", err) < 0)
		return -1;
	if (t.touched)
		watch_notify(ctrl);
	return 0;
}
