/* ops_nodes.c -- machine and node operations: machines added, changed, approved, forgotten; node registration, heartbeat, removal */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "ops.h"
#include "sign.h"

/* --- machines ----------------------------------------------------------------- */

json_t *machine_json(sqlite3_stmt *st, void *ctx)
{
	json_t *labels = json_loads(db_col_text(st, 4) ? db_col_text(st, 4) : "{}", 0, NULL);

	(void)ctx;
	return json_pack("{s:s,s:s,s:s?,s:s,s:o,s:s?,s:s,s:s,s:o,s:o}", "id", db_col_text(st, 0), "mac",
			 db_col_text(st, 1), "name", db_col_text(st, 2), "role", db_col_text(st, 3), "labels",
			 labels ? labels : json_object(), "image_version", db_col_text(st, 5), "source",
			 db_col_text(st, 6), "state", db_col_text(st, 9), "created_at",
			 util_time_json(sqlite3_column_int64(st, 7)), "updated_at",
			 util_time_json(sqlite3_column_int64(st, 8)));
}

json_t *machine_find(struct db *db, const char *ref, const char *scope)
{
	char mac[18];
	const char *p[2] = { ref, util_mac_parse(ref, mac) == 0 ? mac : "" };

	(void)scope;
	return op_find_row(db, "SELECT " MACHINE_COLS " FROM machines WHERE id = ?1 OR mac = ?2 OR name = ?1", p, 2,
			   machine_json, NULL);
}

static int image_exists(struct db *db, const char *version)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM images WHERE version = ?");
	int found = 0;

	if (st) {
		db_bind_text(st, 1, version);
		found = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return found;
}

/* A machine's INSERT or UPDATE with text parameters: the step's result (SQLITE_CONSTRAINT: its MAC or name is taken). */
static int machine_write(struct db *db, const char *sql, const char *const *params, int nparams)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	int step;

	if (st == NULL)
		return SQLITE_ERROR;
	for (int i = 0; i < nparams; i++)
		db_bind_text(st, i + 1, params[i]);
	step = sqlite3_step(st);
	sqlite3_finalize(st);
	return step;
}

/* One machine operation's transaction: the request, the machine it names, what it returns. */
struct machine_txn {
	int (*step)(struct controller *ctrl, struct machine_txn *txn, struct op_error *err);
	const struct machine_req *r;
	const struct op_ref *ref; /* the machine, or NULL (create) */
	char id[40];
	json_t *cur;	   /* the machine before */
	json_t *result;	   /* the machine after */
	int hosts_changed; /* a MAC came or went: dnsmasq's list of known MACs is rewritten */
};

/* The transaction: the machine ref names (404 when none), then the step. */
static int machine_body(struct controller *ctrl, void *ctx, struct op_error *err)
{
	struct machine_txn *txn = ctx;

	if (txn->ref) {
		txn->cur = machine_find(&ctrl->db, txn->ref->ref, NULL);
		if (txn->cur == NULL)
			return op_fail(err, 404, "not_found", "no machine %.64s", txn->ref->ref);
		snprintf(txn->id, sizeof(txn->id), "%s", json_string_value(json_object_get(txn->cur, "id")));
	}
	return txn->step(ctrl, txn, err);
}

/* Inside the transaction: the machine as it now is, the operation's result. */
static int machine_txn_result(struct controller *ctrl, struct machine_txn *txn, struct op_error *err)
{
	txn->result = machine_find(&ctrl->db, txn->id, NULL);
	return txn->result ? 0 : op_internal(err, "reading the machine");
}

/* Runs the transaction; *machine is its result (NULL when it failed). */
static int machine_run(struct controller *ctrl, struct machine_txn *txn, const char *what, json_t **machine,
		       struct op_error *err)
{
	int rc = op_transaction(ctrl, machine_body, txn, what, err);

	json_decref(txn->cur);
	if (rc < 0) {
		json_decref(txn->result);
		txn->result = NULL;
	} else if (txn->hosts_changed) {
		netboot_hosts_changed(ctrl);
	}
	if (machine)
		*machine = txn->result;
	else
		json_decref(txn->result);
	return rc;
}

static int machine_insert(struct controller *ctrl, struct machine_txn *txn, struct op_error *err)
{
	const struct machine_req *r = txn->r;
	const char *role = r->role ? r->role : ctrl->cfg.default_role;
	const char *p[6] = { txn->id, r->mac, r->name, role, r->labels ? r->labels : "{}", r->image_version };
	int step;

	if (r->image_version && !image_exists(&ctrl->db, r->image_version))
		return op_fail(err, 422, "unknown_image", "image_version: no published image %s", r->image_version);
	step = machine_write(&ctrl->db, "INSERT INTO machines (id, mac, name, role, labels, image_version, source,"
				       " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'api', strftime('%s','now'),"
				       " strftime('%s','now'))", p, 6);
	if (step == SQLITE_CONSTRAINT) {
		json_t *other = machine_find(&ctrl->db, r->mac, NULL);

		if (other == NULL)
			return op_fail(err, 409, "conflict", "a machine named %s exists", r->name ? r->name : "?");
		op_fail(err, 409, "conflict", "a machine with MAC %s exists: %s", r->mac,
			json_string_value(json_object_get(other, "id")));
		json_decref(other);
		return -1;
	}
	if (step != SQLITE_DONE ||
	    db_event(&ctrl->db, "machine.created", txn->id, "machine %s (%s) created, role %s", txn->id, r->mac, role) < 0)
		return op_internal(err, "adding a machine");
	return machine_txn_result(ctrl, txn, err);
}

int machine_create(struct controller *ctrl, const struct machine_req *r, json_t **machine, struct op_error *err)
{
	struct machine_txn txn = { .step = machine_insert, .r = r, .hosts_changed = 1 };

	*machine = NULL;
	if (util_new_id(txn.id, sizeof(txn.id), "m") < 0)
		return op_internal(err, "drawing a machine id");
	return machine_run(ctrl, &txn, "adding a machine", machine, err);
}

static int machine_change(struct controller *ctrl, struct machine_txn *txn, struct op_error *err)
{
	const struct machine_req *r = txn->r;
	const char *p[7] = { r->has_name ? "1" : NULL, r->name, r->role, r->labels,
			     r->has_image_version ? "1" : NULL, r->image_version, txn->id };
	char mac[18];
	int step;

	if (r->has_mac) {
		if (r->mac == NULL || util_mac_parse(r->mac, mac) < 0)
			return op_fail(err, 400, "bad_field", "mac: not a unicast MAC address like 52:54:00:12:34:56");
		if (strcmp(mac, json_string_value(json_object_get(txn->cur, "mac"))) != 0)
			return op_fail(err, 422, "immutable_field",
				       "mac: a machine's MAC cannot change; delete it and add the new MAC");
	}
	if (r->image_version && !image_exists(&ctrl->db, r->image_version))
		return op_fail(err, 422, "unknown_image", "image_version: no published image %s", r->image_version);
	step = machine_write(&ctrl->db, "UPDATE machines SET"
				       " name = CASE WHEN ?1 IS NULL THEN name ELSE ?2 END,"
				       " role = coalesce(?3, role),"
				       " labels = coalesce(?4, labels),"
				       " image_version = CASE WHEN ?5 IS NULL THEN image_version ELSE ?6 END,"
				       " updated_at = strftime('%s','now') WHERE id = ?7", p, 7);
	if (step == SQLITE_CONSTRAINT)
		return op_fail(err, 409, "conflict", "another machine is named %s", r->name);
	if (step != SQLITE_DONE ||
	    db_event(&ctrl->db, "machine.updated", txn->id, "machine %s updated: %s", txn->id,
		     r->changes && r->changes[0] ? r->changes : "nothing") < 0)
		return op_internal(err, "changing a machine");
	return machine_txn_result(ctrl, txn, err);
}

int machine_update(struct controller *ctrl, const struct op_ref *ref, const struct machine_req *r, json_t **machine,
		   struct op_error *err)
{
	struct machine_txn txn = { .step = machine_change, .r = r, .ref = ref };

	return machine_run(ctrl, &txn, "changing a machine", machine, err);
}

static int machine_forget(struct controller *ctrl, struct machine_txn *txn, struct op_error *err)
{
	const char *p[1] = { txn->id };

	if (db_exec(&ctrl->db, "DELETE FROM machines WHERE id = ?", 1, p) < 0 ||
	    db_event(&ctrl->db, "machine.deleted", txn->id, "machine %s (%s) deleted", txn->id,
		     json_string_value(json_object_get(txn->cur, "mac"))) < 0)
		return op_internal(err, "forgetting a machine");
	return 0;
}

int machine_delete(struct controller *ctrl, const struct op_ref *ref, struct op_error *err)
{
	struct machine_txn txn = { .step = machine_forget, .ref = ref, .hosts_changed = 1 };

	return machine_run(ctrl, &txn, "forgetting a machine", NULL, err);
}

/* Only a pending machine changes (and leaves an event naming the key); an approved one is the answer as it is. */
static int machine_approve_step(struct controller *ctrl, struct machine_txn *txn, struct op_error *err)
{
	const char *p[1] = { txn->id };

	if (strcmp(json_string_value(json_object_get(txn->cur, "state")), "pending") == 0 &&
	    (db_exec(&ctrl->db, "UPDATE machines SET state = 'approved', updated_at = strftime('%s','now') WHERE id = ?",
		     1, p) < 0 ||
	     db_event(&ctrl->db, "machine.approved", txn->id, "machine %s (%s) approved by key %s", txn->id,
		      json_string_value(json_object_get(txn->cur, "mac")), txn->ref->actor) < 0))
		return op_internal(err, "approving a machine");
	return machine_txn_result(ctrl, txn, err);
}

int machine_approve(struct controller *ctrl, const struct op_ref *ref, json_t **machine, struct op_error *err)
{
	struct machine_txn txn = { .step = machine_approve_step, .ref = ref };

	return machine_run(ctrl, &txn, "approving a machine", machine, err);
}

/* --- nodes -------------------------------------------------------------------- */

static json_t *node_json(sqlite3_stmt *st, void *ctx)
{
	json_t *doc = json_pack("{s:s,s:s,s:s?,s:s?,s:s,s:s?,s:s?,s:o,s:o,s:s?,s:o,s:o,s:o}", "id",
				db_col_text(st, 0), "mac", db_col_text(st, 1), "machine_id", db_col_text(st, 2),
				"hostname", db_col_text(st, 3), "state", db_col_text(st, 4), "role",
				db_col_text(st, 5), "image_version", db_col_text(st, 6), "cpu_count",
				sqlite3_column_type(st, 7) == SQLITE_NULL ? json_null()
									  : json_integer(sqlite3_column_int64(st, 7)),
				"memory_bytes",
				sqlite3_column_type(st, 8) == SQLITE_NULL ? json_null()
									  : json_integer(sqlite3_column_int64(st, 8)),
				"address", db_col_text(st, 9), "registered_at",
				util_time_json(sqlite3_column_int64(st, 10)), "last_heartbeat_at",
				util_time_json(sqlite3_column_int64(st, 11)), "state_changed_at",
				util_time_json(sqlite3_column_int64(st, 12)));

	(void)ctx;
	if (doc) {
		json_t *sys = db_col_text(st, 13) ? json_loads(db_col_text(st, 13), 0, NULL) : NULL;
		json_t *status = db_col_text(st, 14) ? json_loads(db_col_text(st, 14), 0, NULL) : NULL;
		json_object_set_new(doc, "sysinfo", sys ? sys : json_null());
		json_object_set_new(doc, "status", status ? status : json_null());
	}
	return doc;
}

json_t *node_find(struct db *db, const char *ref, const char *scope)
{
	char mac[18];
	const char *p[2] = { ref, util_mac_parse(ref, mac) == 0 ? mac : "" };

	(void)scope;
	return op_find_row(db, "SELECT " NODE_COLS " FROM nodes WHERE id = ?1 OR mac = ?2", p, 2, node_json, NULL);
}

static int node_delete_body(struct controller *ctrl, void *ctx, struct op_error *err)
{
	const struct op_ref *ref = ctx;
	json_t *doc = node_find(&ctrl->db, ref->ref, NULL);
	const char *p[1];
	int rc = 0;

	if (doc == NULL)
		return op_fail(err, 404, "not_found", "no node %.64s", ref->ref);
	p[0] = json_string_value(json_object_get(doc, "id"));
	if (strcmp(json_string_value(json_object_get(doc, "state")), "up") == 0)
		rc = op_fail(err, 409, "conflict", "node %s is up; only unknown or down nodes can be forgotten", p[0]);
	else if (db_exec(&ctrl->db, "UPDATE api_keys SET revoked_at = strftime('%s','now') WHERE node_id = ?"
				   " AND revoked_at IS NULL", 1, p) < 0 ||
		 db_exec(&ctrl->db, "DELETE FROM nodes WHERE id = ?", 1, p) < 0 ||
		 db_event(&ctrl->db, "node.deleted", p[0], "node %s forgotten", p[0]) < 0)
		rc = op_internal(err, "forgetting a node");
	json_decref(doc);
	return rc;
}

int node_delete(struct controller *ctrl, const struct op_ref *ref, struct op_error *err)
{
	return op_transaction(ctrl, node_delete_body, (void *)ref, "forgetting a node", err);
}

/* What a node's /init reported (already checked by the handler). */
struct boot_failure {
	const char *mac, *stage, *reason, *client_addr;
};

static int boot_failure_body(struct controller *ctrl, void *ctx, struct op_error *err)
{
	const struct boot_failure *b = ctx;

	if (db_event(&ctrl->db, "boot.failed", b->mac, "node %s (%s) failed in stage %s: %s", b->mac, b->client_addr,
		     b->stage, b->reason) < 0)
		return op_internal(err, "recording a boot failure");
	return 0;
}

int node_boot_failure(struct controller *ctrl, const char *mac, const char *stage, const char *reason,
		      const char *client_addr, struct op_error *err)
{
	struct boot_failure b = { mac, stage, reason, client_addr };

	return op_transaction(ctrl, boot_failure_body, &b, "recording a boot failure", err);
}

struct heartbeat_txn {
	const char *node_id;
	const char *status_text;
	const char *state; /* before */
};

static int node_heartbeat_body(struct controller *ctrl, void *ctx, struct op_error *err)
{
	struct heartbeat_txn *t = ctx;
	const char *p[2] = { t->status_text, t->node_id };

	if (db_exec(&ctrl->db, "UPDATE nodes SET last_heartbeat = strftime('%s','now'), status = coalesce(?1, status),"
			      " state_changed_at = CASE WHEN state = 'up' THEN state_changed_at"
			      " ELSE strftime('%s','now') END, state = 'up' WHERE id = ?2", 2, p) < 0 ||
	    (strcmp(t->state, "up") != 0 &&
	     db_event(&ctrl->db, "node.state", t->node_id, "node %s is up: heartbeat after being %s", t->node_id,
		      t->state) < 0))
		return op_internal(err, "recording a heartbeat");
	return 0;
}

/*
 * A node that is up costs no transaction of its own: its heartbeat is
 * written with the others within a second (nodes_flush). One that was not up
 * is up again at once, with an event.
 */
int node_heartbeat(struct controller *ctrl, const char *node_id, char *status_text, struct op_error *err)
{
	char state[16] = "";
	struct heartbeat_txn t = { node_id, status_text, state };
	sqlite3_stmt *st;
	int rc = 0;

	db_lock(&ctrl->db);
	st = db_prepare(&ctrl->db, "SELECT state FROM nodes WHERE id = ?");
	if (st) {
		db_bind_text(st, 1, node_id);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(state, sizeof(state), "%s", db_col_text(st, 0));
		sqlite3_finalize(st);
	}
	if (st == NULL)
		rc = op_internal(err, "reading a node's state");
	else if (state[0] == '\0')
		rc = op_fail(err, 404, "not_found", "no node %.64s", node_id);
	else if (strcmp(state, "up") != 0 || nodes_heartbeat_later(ctrl, node_id, time(NULL), status_text) < 0)
		rc = op_transaction_locked(ctrl, node_heartbeat_body, &t, "recording a heartbeat", err);
	db_unlock(&ctrl->db);
	return rc;
}

/* dnsmasq's lease file (netboot = dhcp); an absent file is no lease at all. */
static int nodes_read_leases(struct controller *ctrl, struct buf *out)
{
	char path[PATH_MAX];

	if (netboot_lease_path(&ctrl->cfg, path, sizeof(path)) < 0)
		return -1;
	if (fs_read_file(path, CTL_LEASES_MAX, out) < 0) {
		if (errno != ENOENT) {
			log_error("register: reading the DHCP leases %s: %s", path, strerror(errno));
			return -1;
		}
		buf_reset(out);
		return buf_puts(out, "");
	}
	return 0;
}

/* Reads a non-negative integer member path "a.b" of doc, -1 when absent or not one. */
static long long sysinfo_int(json_t *doc, const char *a, const char *b)
{
	json_t *v = json_object_get(doc, a);

	if (b)
		v = json_object_get(v, b);
	return json_is_integer(v) && json_integer_value(v) >= 0 ? (long long)json_integer_value(v) : -1;
}

/* A string member of at most max bytes without NUL, or NULL. */
static const char *sysinfo_str(json_t *doc, const char *key, size_t max)
{
	json_t *v = json_object_get(doc, key);
	const char *s = json_string_value(v);

	return s && strlen(s) <= max && strlen(s) == json_string_length(v) ? s : NULL;
}

struct register_txn {
	const struct node_register_req *r;
	struct node_credentials *out;
	const char *leases; /* dnsmasq's leases (netboot = dhcp), or NULL */
	char digest[SIGN_HEX_LEN + 1];
	char mac[18], machine_id[40];
	char *sys_text;
};

/*
 * Inside the registration's transaction: records why a registration was
 * refused (an event, nothing else), which the commit keeps.
 */
static int register_refused(struct controller *ctrl, const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int register_refused(struct controller *ctrl, const char *subject, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	db_event(&ctrl->db, "node.register_refused", subject, "%s", message);
	return OP_COMMIT_REFUSAL;
}

/* The token: one this controller issued, in time, not spent (a reuse is an event). */
static int register_token(struct controller *ctrl, struct register_txn *t, struct op_error *err)
{
	long long expires = 0, used = 0, now = (long long)time(NULL);
	sqlite3_stmt *st;
	int found = 0;

	st = db_prepare(&ctrl->db, "SELECT mac, machine_id, expires_at, used_at FROM enroll_tokens WHERE token_sha256 = ?");
	if (st == NULL)
		return op_internal(err, "reading an enrollment token");
	db_bind_text(st, 1, t->digest);
	if (sqlite3_step(st) == SQLITE_ROW) {
		found = 1;
		snprintf(t->mac, sizeof(t->mac), "%s", db_col_text(st, 0));
		if (db_col_text(st, 1))
			snprintf(t->machine_id, sizeof(t->machine_id), "%s", db_col_text(st, 1));
		expires = sqlite3_column_int64(st, 2);
		used = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	if (!found)
		return op_fail(err, 401, "token_unknown", "unknown enrollment token (not issued by this controller)");
	if (expires < now)
		return op_fail(err, 401, "token_expired",
			       "the enrollment token of %s expired %lld s ago (token-ttl %u s); reboot the node for a new one",
			       t->mac, now - expires, ctrl->cfg.token_ttl);
	if (used) {
		db_event(&ctrl->db, "node.token_reused", t->mac, "enrollment token of %s presented again from %s; refused",
			 t->mac, t->r->addr);
		op_fail(err, 409, "token_used", "this enrollment token was already used; reboot the node for a new one");
		return OP_COMMIT_REFUSAL;
	}
	return 0;
}

/* The machine that booted: approved, the MAC the token was issued to, with netboot = dhcp at the leased address. */
static int register_machine(struct controller *ctrl, struct register_txn *t, struct op_error *err)
{
	const char *mac = t->mac, *addr = t->r->addr, *sys_mac;
	char norm[18], leased[64];
	sqlite3_stmt *st;
	int pending = 0;

	/* approved: a token of a machine forgotten and pending again is not enough */
	snprintf(t->out->role, sizeof(t->out->role), "%s", ctrl->cfg.default_role);
	st = db_prepare(&ctrl->db, "SELECT role, state FROM machines WHERE mac = ?");
	if (st == NULL)
		return op_internal(err, "reading a machine");
	db_bind_text(st, 1, mac);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(t->out->role, sizeof(t->out->role), "%s", db_col_text(st, 0));
		pending = strcmp(db_col_text(st, 1), "pending") == 0;
	}
	sqlite3_finalize(st);
	if (pending) {
		op_fail(err, 403, "machine_pending", "machine %s awaits approval (cloudctl machines approve %s)", mac, mac);
		return register_refused(ctrl, mac, "machine %s awaits approval; registration from %s refused", mac, addr);
	}
	sys_mac = sysinfo_str(t->r->sysinfo, "boot_mac", 17);
	if (sys_mac == NULL)
		return op_fail(err, 422, "mac_mismatch", "sysinfo.boot_mac: missing; the token was issued to %s", mac);
	if (util_mac_parse(sys_mac, norm) < 0 || strcmp(norm, mac) != 0)
		return op_fail(err, 422, "mac_mismatch", "sysinfo.boot_mac %.32s is not the MAC the token was issued to (%s)",
			       sys_mac, mac);
	if (t->leases && !netboot_lease_matches(t->leases, mac, addr, time(NULL), leased, sizeof(leased))) {
		char why[128];

		if (leased[0])
			snprintf(why, sizeof(why), "dnsmasq leased %s to %s", leased, mac);
		else
			snprintf(why, sizeof(why), "there is no DHCP lease for %s (netboot = dhcp)", mac);
		op_fail(err, 403, "address_mismatch", "registration from %s, but %s", addr, why);
		return register_refused(ctrl, mac, "registration of %s from %s refused: %s", mac, addr, why);
	}
	return 0;
}

/* The node: one that is up keeps its key; one that really rebooted stopped heartbeating. */
static int register_node_id(struct controller *ctrl, struct register_txn *t, struct op_error *err)
{
	json_t *existing = node_find(&ctrl->db, t->mac, NULL);
	const char *id;
	int rc = 0;

	if (existing == NULL)
		return util_new_id(t->out->node_id, sizeof(t->out->node_id), "n") < 0 ? op_internal(err, "drawing a node id")
										       : 0;
	id = json_string_value(json_object_get(existing, "id"));
	if (strcmp(json_string_value(json_object_get(existing, "state")), "up") == 0 || nodes_heartbeat_pending(ctrl, id)) {
		op_fail(err, 409, "node_up",
			"node %s (%s) is up; a node that rebooted has stopped heartbeating and may register once it is"
			" unknown (%d missed heartbeats, %u s)", id, t->mac, CTL_MISSED_HEARTBEATS,
			CTL_MISSED_HEARTBEATS * ctrl->cfg.heartbeat_interval);
		rc = register_refused(ctrl, id, "node %s (%s) is up; registration from %s refused", id, t->mac, t->r->addr);
	} else {
		snprintf(t->out->node_id, sizeof(t->out->node_id), "%s", id);
	}
	json_decref(existing);
	return rc;
}

static int register_body(struct controller *ctrl, void *ctx, struct op_error *err)
{
	struct register_txn *t = ctx;
	json_t *sys = t->r->sysinfo;
	const char *hostname = sysinfo_str(sys, "hostname", 253), *image = sysinfo_str(sys, "image_version", 64);
	long long cpus = sysinfo_int(sys, "cpu", "count"), mem = sysinfo_int(sys, "memory", "total_bytes");
	const char *node_id = t->out->node_id, *addr = t->r->addr;
	const char *p[2] = { t->digest, t->mac }, *q[1] = { node_id };
	sqlite3_stmt *st;
	int rc;

	if ((rc = register_token(ctrl, t, err)) != 0 || (rc = register_machine(ctrl, t, err)) != 0 ||
	    (rc = register_node_id(ctrl, t, err)) != 0)
		return rc;
	t->sys_text = json_dumps(sys, JSON_COMPACT);
	if (t->sys_text == NULL)
		return op_internal(err, "registering a node");
	/* the token is spent, with every other of the MAC; the node's earlier keys are revoked */
	if (db_exec(&ctrl->db, "UPDATE enroll_tokens SET used_at = strftime('%s','now') WHERE token_sha256 = ?1"
			      " OR (mac = ?2 AND used_at IS NULL)", 2, p) < 0 ||
	    db_exec(&ctrl->db, "UPDATE api_keys SET revoked_at = strftime('%s','now') WHERE node_id = ?"
			      " AND revoked_at IS NULL", 1, q) < 0)
		return op_internal(err, "registering a node");
	st = db_prepare(&ctrl->db,
			"INSERT INTO nodes (id, mac, machine_id, hostname, state, role, image_version, cpu_count,"
			" memory_bytes, address, sysinfo, status, registered_at, last_heartbeat, state_changed_at)"
			" VALUES (?1, ?2, ?3, ?4, 'up', ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11, ?11, ?11)"
			" ON CONFLICT(id) DO UPDATE SET machine_id = ?3, hostname = ?4, state = 'up', role = ?5,"
			" image_version = ?6, cpu_count = ?7, memory_bytes = ?8, address = ?9, sysinfo = ?10,"
			" status = NULL, registered_at = ?11, last_heartbeat = ?11,"
			" state_changed_at = CASE WHEN state = 'up' THEN state_changed_at ELSE ?11 END");
	if (st == NULL)
		return op_internal(err, "registering a node");
	db_bind_text(st, 1, node_id);
	db_bind_text(st, 2, t->mac);
	db_bind_text(st, 3, t->machine_id[0] ? t->machine_id : NULL);
	db_bind_text(st, 4, hostname);
	db_bind_text(st, 5, t->out->role);
	db_bind_text(st, 6, image);
	if (cpus >= 0)
		sqlite3_bind_int64(st, 7, cpus);
	if (mem >= 0)
		sqlite3_bind_int64(st, 8, mem);
	db_bind_text(st, 9, addr[0] ? addr : NULL);
	db_bind_text(st, 10, t->sys_text);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE ||
	    auth_key_create(&ctrl->db, AUTH_ROLE_NODE, "acct-admin", node_id, t->out->key_id, t->out->secret) < 0 ||
	    db_event(&ctrl->db, "node.registered", node_id, "node %s (%s, %s) registered from %s: %lld CPUs, %lld bytes",
		     node_id, t->mac, hostname ? hostname : "no hostname", addr, cpus, mem) < 0 ||
	    db_event(&ctrl->db, "node.state", node_id, "node %s is up: registered", node_id) < 0)
		return op_internal(err, "registering a node");
	return 0;
}

int node_register(struct controller *ctrl, const struct node_register_req *r, struct node_credentials *out,
		  struct op_error *err)
{
	struct register_txn t = { .r = r, .out = out };
	struct buf leases = BUF_INIT;
	int rc;

	memset(out, 0, sizeof(*out));
	sign_sha256_hex(r->token, r->token_len, t.digest);
	if (ctrl->cfg.netboot == NETBOOT_DHCP) {
		if (nodes_read_leases(ctrl, &leases) < 0) {
			buf_free(&leases);
			return op_internal(err, "reading the DHCP leases");
		}
		t.leases = leases.data ? leases.data : "";
	}
	rc = op_transaction(ctrl, register_body, &t, "registering a node", err);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	free(t.sys_text);
	buf_free(&leases);
	return rc;
}
