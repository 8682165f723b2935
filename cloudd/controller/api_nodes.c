/* api_nodes.c -- /v1/nodes: registration with a one-time token, heartbeats, the node registry */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "fsutil.h"
#include "sign.h"

#define NODE_LIST_COLS "id, mac, machine_id, hostname, state, role, image_version, cpu_count," \
		       " memory_bytes, address, registered_at, last_heartbeat, state_changed_at"
#define NODE_COLS NODE_LIST_COLS ", sysinfo, status"

static const char register_schema[] =
	"{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"token\",\"sysinfo\"],\"properties\":{"
	"\"token\":{\"type\":\"string\",\"description\":\"one-time enrollment token from the kernel command line (cloud.token=)\"},"
	"\"sysinfo\":{\"type\":\"object\",\"description\":\"cloudd's /v1/sysinfo document\"}}}";
static const char heartbeat_schema[] =
	"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
	"\"status\":{\"type\":\"object\",\"description\":\"status summary of the node\"}}}";

static json_t *node_json(sqlite3_stmt *st, int full)
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

	if (doc && full) {
		json_t *sys = db_col_text(st, 13) ? json_loads(db_col_text(st, 13), 0, NULL) : NULL;
		json_t *status = db_col_text(st, 14) ? json_loads(db_col_text(st, 14), 0, NULL) : NULL;
		json_object_set_new(doc, "sysinfo", sys ? sys : json_null());
		json_object_set_new(doc, "status", status ? status : json_null());
	}
	return doc;
}

static json_t *node_find(struct db *db, const char *ref, int full)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " NODE_COLS " FROM nodes WHERE id = ?1 OR mac = ?2");
	char mac[18];
	json_t *doc = NULL;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, ref);
	db_bind_text(st, 2, util_mac_parse(ref, mac) == 0 ? mac : "");
	if (sqlite3_step(st) == SQLITE_ROW)
		doc = node_json(st, full);
	sqlite3_finalize(st);
	return doc;
}

/* One node of a listing, written directly: listing 1,000 nodes through jansson objects costs 10x more. */
static int node_write(struct buf *out, sqlite3_stmt *st)
{
	/* members in column order; each name with its leading separator */
	static const char *const keys[] = {
		"{\"id\":", ",\"mac\":", ",\"machine_id\":", ",\"hostname\":", ",\"state\":", ",\"role\":",
		",\"image_version\":", ",\"cpu_count\":", ",\"memory_bytes\":", ",\"address\":",
		",\"registered_at\":", ",\"last_heartbeat_at\":", ",\"state_changed_at\":",
	};
	int rc = 0;

	for (int i = 0; i < 13; i++) {
		rc |= buf_puts(out, keys[i]);
		if (i == 7 || i == 8)
			rc |= sqlite3_column_type(st, i) == SQLITE_NULL ? buf_append(out, "null", 4)
									: util_json_int(out, sqlite3_column_int64(st, i));
		else if (i >= 10)
			rc |= util_json_time(out, sqlite3_column_int64(st, i));
		else
			rc |= util_json_string(out, db_col_text(st, i));
	}
	rc |= buf_append(out, "}", 1);
	return rc ? -1 : 0;
}

static int nodes_list(struct controller *ctrl, const struct auth_principal *who,
		      struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "limit", "cursor", "state", "role", NULL };
	static const char *const states[] = { "up", "unknown", "down", NULL };
	const char *params[2] = { httpd_query(req, "state"), httpd_query(req, "role") };
	struct api_list l = { "SELECT " NODE_LIST_COLS ", id FROM nodes WHERE (?1 IS NULL OR id > ?1)"
			      " AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR role = ?4) ORDER BY id LIMIT ?2",
			      params, 2, NULL, node_write, NULL, 0 };

	(void)who;
	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	if (params[0]) {
		int ok = 0;
		for (const char *const *s = states; *s; s++)
			ok |= strcmp(*s, params[0]) == 0;
		if (!ok)
			return httpd_reply_error(resp, 400, "bad_parameter", "state: one of up, unknown, down");
	}
	return api_list_page(ctrl, req, resp, &l);
}

static int nodes_show(struct controller *ctrl, const struct auth_principal *who,
		      struct httpd_request *req, struct httpd_response *resp)
{
	const char *ref = httpd_param(req, "id");
	json_t *doc;

	(void)who;
	db_lock(&ctrl->db);
	doc = node_find(&ctrl->db, ref, 1);
	db_unlock(&ctrl->db);
	if (doc == NULL)
		return httpd_reply_error(resp, 404, "not_found", "no node %.64s", ref);
	return httpd_reply_json(resp, 200, doc);
}

static int nodes_delete(struct controller *ctrl, const struct auth_principal *who,
			struct httpd_request *req, struct httpd_response *resp)
{
	const char *ref = httpd_param(req, "id");
	json_t *doc;
	const char *p[1];
	int rc = 0;

	(void)who;
	db_lock(&ctrl->db);
	doc = node_find(&ctrl->db, ref, 0);
	if (doc == NULL) {
		db_unlock(&ctrl->db);
		return httpd_reply_error(resp, 404, "not_found", "no node %.64s", ref);
	}
	p[0] = json_string_value(json_object_get(doc, "id"));
	if (strcmp(json_string_value(json_object_get(doc, "state")), "up") == 0) {
		db_unlock(&ctrl->db);
		rc = httpd_reply_error(resp, 409, "conflict", "node %s is up; only unknown or down nodes can be forgotten", p[0]);
		json_decref(doc);
		return rc;
	}
	if (db_begin(&ctrl->db) < 0 ||
	    db_exec(&ctrl->db, "UPDATE api_keys SET revoked_at = strftime('%s','now') WHERE node_id = ?"
			      " AND revoked_at IS NULL", 1, p) < 0 ||
	    db_exec(&ctrl->db, "DELETE FROM nodes WHERE id = ?", 1, p) < 0 ||
	    db_event(&ctrl->db, "node.deleted", p[0], "node %s forgotten", p[0]) < 0 || db_commit(&ctrl->db) < 0) {
		db_rollback(&ctrl->db);
		rc = -1;
	}
	db_unlock(&ctrl->db);
	json_decref(doc);
	if (rc == 0)
		resp->status = 204;
	return rc;
}

/* Reads a non-negative integer member path "a.b" of doc, -1 when absent or not one. */
static long long node_int(json_t *doc, const char *a, const char *b)
{
	json_t *v = json_object_get(doc, a);

	if (b)
		v = json_object_get(v, b);
	return json_is_integer(v) && json_integer_value(v) >= 0 ? (long long)json_integer_value(v) : -1;
}

static const char *node_str(json_t *doc, const char *key, size_t max)
{
	json_t *v = json_object_get(doc, key);
	const char *s = json_string_value(v);

	return s && strlen(s) <= max && strlen(s) == json_string_length(v) ? s : NULL;
}

/*
 * Under the lock, inside the registration's transaction: records why a
 * registration was refused (an event, nothing else) and commits it.
 */
static void nodes_refuse(struct controller *ctrl, const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void nodes_refuse(struct controller *ctrl, const char *subject, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (db_event(&ctrl->db, "node.register_refused", subject, "%s", message) < 0 || db_commit(&ctrl->db) < 0)
		db_rollback(&ctrl->db);
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

/*
 * POST /v1/nodes/register: the token proves the node booted a script this
 * controller rendered for an approved machine; it must come from that MAC
 * (and, with netboot = dhcp, from the address dnsmasq leased to it), and the
 * node must not be up: a node that is up keeps its key, so a token fetched by
 * anyone else cannot take its identity. Every refusal changes nothing but an
 * event. The token is spent here, with every other token of the MAC, and the
 * node gets its own key (its earlier keys are revoked).
 */
static int nodes_register(struct controller *ctrl, const struct auth_principal *who,
			  struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "token", "sysinfo", NULL };
	json_t *doc, *token, *sys, *existing = NULL;
	char digest[SIGN_HEX_LEN + 1], mac[18], machine_id[40] = "", node_id[40], key_id[72], secret[65];
	char role[64], addr[64], *sys_text = NULL;
	long long expires = 0, used = 0, cpus, mem;
	const char *sys_mac, *hostname, *image;
	sqlite3_stmt *st;
	char norm[18], leased[64];
	struct buf leases = BUF_INIT;
	int rc = 0, found = 0, pending = 0;

	(void)who;
	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0)
		goto out;
	token = json_object_get(doc, "token");
	sys = json_object_get(doc, "sysinfo");
	if (token == NULL || sys == NULL) {
		httpd_reply_error(resp, 400, "missing_field", "%s: required", token == NULL ? "token" : "sysinfo");
		goto out;
	}
	if (!json_is_string(token) || json_string_length(token) == 0 || json_string_length(token) > 128) {
		httpd_reply_error(resp, 400, "bad_field", "token: expected the enrollment token string");
		goto out;
	}
	if (!json_is_object(sys)) {
		httpd_reply_error(resp, 400, "bad_field", "sysinfo: expected an object (cloudd's /v1/sysinfo)");
		goto out;
	}
	sign_sha256_hex(json_string_value(token), json_string_length(token), digest);
	api_client_addr(req, addr, sizeof(addr));
	if (ctrl->cfg.netboot == NETBOOT_DHCP && nodes_read_leases(ctrl, &leases) < 0) {
		rc = -1;
		goto out;
	}
	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0) {
		rc = -1;
		goto out_unlock;
	}
	/* the token: one this controller issued, in time, not spent */
	st = db_prepare(&ctrl->db, "SELECT mac, machine_id, expires_at, used_at FROM enroll_tokens WHERE token_sha256 = ?");
	if (st == NULL) {
		rc = -1;
		goto out_rollback;
	}
	db_bind_text(st, 1, digest);
	if (sqlite3_step(st) == SQLITE_ROW) {
		found = 1;
		snprintf(mac, sizeof(mac), "%s", db_col_text(st, 0));
		if (db_col_text(st, 1))
			snprintf(machine_id, sizeof(machine_id), "%s", db_col_text(st, 1));
		expires = sqlite3_column_int64(st, 2);
		used = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	if (!found) {
		db_rollback(&ctrl->db);
		httpd_reply_error(resp, 401, "token_unknown", "unknown enrollment token (not issued by this controller)");
		goto out_unlock;
	}
	if (expires < (long long)time(NULL)) {
		db_rollback(&ctrl->db);
		httpd_reply_error(resp, 401, "token_expired",
				  "the enrollment token of %s expired %lld s ago (token-ttl %u s); reboot the node for a new one",
				  mac, (long long)time(NULL) - expires, ctrl->cfg.token_ttl);
		goto out_unlock;
	}
	if (used) {
		db_event(&ctrl->db, "node.token_reused", mac, "enrollment token of %s presented again from %s; refused",
			 mac, addr);
		db_commit(&ctrl->db);
		httpd_reply_error(resp, 409, "token_used", "this enrollment token was already used; reboot the node for a new one");
		goto out_unlock;
	}
	/* the machine: approved (a token of a machine forgotten and pending again is not enough) */
	snprintf(role, sizeof(role), "%s", ctrl->cfg.default_role);
	st = db_prepare(&ctrl->db, "SELECT role, state FROM machines WHERE mac = ?");
	if (st == NULL) {
		rc = -1;
		goto out_rollback;
	}
	db_bind_text(st, 1, mac);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(role, sizeof(role), "%s", db_col_text(st, 0));
		pending = strcmp(db_col_text(st, 1), "pending") == 0;
	}
	sqlite3_finalize(st);
	if (pending) {
		nodes_refuse(ctrl, mac, "machine %s awaits approval; registration from %s refused", mac, addr);
		httpd_reply_error(resp, 403, "machine_pending", "machine %s awaits approval (cloudctl machines approve %s)",
				  mac, mac);
		goto out_unlock;
	}
	/* the machine that booted: the MAC the token was issued to */
	sys_mac = node_str(sys, "boot_mac", 17);
	if (sys_mac == NULL || util_mac_parse(sys_mac, norm) < 0 || strcmp(norm, mac) != 0) {
		db_rollback(&ctrl->db);
		if (sys_mac == NULL)
			httpd_reply_error(resp, 422, "mac_mismatch",
					  "sysinfo.boot_mac: missing; the token was issued to %s", mac);
		else
			httpd_reply_error(resp, 422, "mac_mismatch",
					  "sysinfo.boot_mac %.32s is not the MAC the token was issued to (%s)", sys_mac, mac);
		goto out_unlock;
	}
	/* netboot = dhcp: from the address dnsmasq leased to that MAC */
	if (ctrl->cfg.netboot == NETBOOT_DHCP &&
	    !netboot_lease_matches(leases.data ? leases.data : "", mac, addr, time(NULL), leased, sizeof(leased))) {
		char why[128];
		if (leased[0])
			snprintf(why, sizeof(why), "dnsmasq leased %s to %s", leased, mac);
		else
			snprintf(why, sizeof(why), "there is no DHCP lease for %s (netboot = dhcp)", mac);
		nodes_refuse(ctrl, mac, "registration of %s from %s refused: %s", mac, addr, why);
		httpd_reply_error(resp, 403, "address_mismatch", "registration from %s, but %s", addr, why);
		goto out_unlock;
	}
	hostname = node_str(sys, "hostname", 253);
	image = node_str(sys, "image_version", 64);
	cpus = node_int(sys, "cpu", "count");
	mem = node_int(sys, "memory", "total_bytes");
	/* the node: a node that is up keeps its key; one that really rebooted stopped heartbeating */
	existing = node_find(&ctrl->db, mac, 0);
	if (existing && (strcmp(json_string_value(json_object_get(existing, "state")), "up") == 0 ||
			 nodes_heartbeat_pending(ctrl, json_string_value(json_object_get(existing, "id"))))) {
		const char *id = json_string_value(json_object_get(existing, "id"));
		nodes_refuse(ctrl, id, "node %s (%s) is up; registration from %s refused", id, mac, addr);
		httpd_reply_error(resp, 409, "node_up",
				  "node %s (%s) is up; a node that rebooted has stopped heartbeating and may register once it is"
				  " unknown (%d missed heartbeats, %u s)", id, mac, CTL_MISSED_HEARTBEATS,
				  CTL_MISSED_HEARTBEATS * ctrl->cfg.heartbeat_interval);
		goto out_unlock;
	}
	if (existing) {
		snprintf(node_id, sizeof(node_id), "%s", json_string_value(json_object_get(existing, "id")));
	} else if (util_new_id(node_id, sizeof(node_id), "n") < 0) {
		rc = -1;
		goto out_rollback;
	}
	sys_text = json_dumps(sys, JSON_COMPACT);
	if (sys_text == NULL) {
		rc = -1;
		goto out_rollback;
	}
	{
		const char *p[2] = { digest, mac };
		const char *q[1] = { node_id };
		if (db_exec(&ctrl->db, "UPDATE enroll_tokens SET used_at = strftime('%s','now') WHERE token_sha256 = ?1"
				      " OR (mac = ?2 AND used_at IS NULL)", 2, p) < 0 ||
		    db_exec(&ctrl->db, "UPDATE api_keys SET revoked_at = strftime('%s','now') WHERE node_id = ?"
				      " AND revoked_at IS NULL", 1, q) < 0) {
			rc = -1;
			goto out_rollback;
		}
	}
	st = db_prepare(&ctrl->db,
			"INSERT INTO nodes (id, mac, machine_id, hostname, state, role, image_version, cpu_count,"
			" memory_bytes, address, sysinfo, status, registered_at, last_heartbeat, state_changed_at)"
			" VALUES (?1, ?2, ?3, ?4, 'up', ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11, ?11, ?11)"
			" ON CONFLICT(id) DO UPDATE SET machine_id = ?3, hostname = ?4, state = 'up', role = ?5,"
			" image_version = ?6, cpu_count = ?7, memory_bytes = ?8, address = ?9, sysinfo = ?10,"
			" status = NULL, registered_at = ?11, last_heartbeat = ?11,"
			" state_changed_at = CASE WHEN state = 'up' THEN state_changed_at ELSE ?11 END");
	if (st == NULL) {
		rc = -1;
		goto out_rollback;
	}
	db_bind_text(st, 1, node_id);
	db_bind_text(st, 2, mac);
	db_bind_text(st, 3, machine_id[0] ? machine_id : NULL);
	db_bind_text(st, 4, hostname);
	db_bind_text(st, 5, role);
	db_bind_text(st, 6, image);
	if (cpus >= 0)
		sqlite3_bind_int64(st, 7, cpus);
	if (mem >= 0)
		sqlite3_bind_int64(st, 8, mem);
	db_bind_text(st, 9, addr[0] ? addr : NULL);
	db_bind_text(st, 10, sys_text);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_finalize(st);
		rc = -1;
		goto out_rollback;
	}
	sqlite3_finalize(st);
	if (auth_key_create(&ctrl->db, AUTH_ROLE_NODE, "acct-admin", node_id, key_id, secret) < 0 ||
	    db_event(&ctrl->db, "node.registered", node_id, "node %s (%s, %s) registered from %s: %lld CPUs, %lld bytes",
		     node_id, mac, hostname ? hostname : "no hostname", addr, cpus, mem) < 0 ||
	    db_event(&ctrl->db, "node.state", node_id, "node %s is up: registered", node_id) < 0 ||
	    db_commit(&ctrl->db) < 0) {
		rc = -1;
		goto out_rollback;
	}
	db_unlock(&ctrl->db);
	rc = httpd_reply_json(resp, 201, json_pack("{s:s,s:s,s:s,s:s,s:i}", "node_id", node_id, "key", key_id,
						   "secret", secret, "role", role, "heartbeat_interval",
						   (int)ctrl->cfg.heartbeat_interval));
	goto out;

out_rollback:
	db_rollback(&ctrl->db);
out_unlock:
	db_unlock(&ctrl->db);
out:
	buf_free(&leases);
	free(sys_text);
	json_decref(existing);
	json_decref(doc);
	return rc;
}

static int nodes_heartbeat(struct controller *ctrl, const struct auth_principal *who,
			   struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "status", NULL };
	const char *id = httpd_param(req, "id");
	json_t *doc = NULL, *status;
	char *status_text = NULL, state[16] = "";
	sqlite3_stmt *st;
	int rc = 0;

	if (who->role == AUTH_ROLE_NODE && strcmp(who->node_id, id) != 0)
		return httpd_reply_error(resp, 403, "forbidden", "a node's key may only heartbeat for its own node (%s)",
					 who->node_id);
	if (req->body_len) {
		if (api_parse_body(req, resp, &doc) < 0)
			return 0;
		if (api_check_fields(doc, fields, resp) < 0)
			goto out;
		status = json_object_get(doc, "status");
		if (status && !json_is_object(status)) {
			httpd_reply_error(resp, 400, "bad_field", "status: expected an object");
			goto out;
		}
		if (status && (status_text = json_dumps(status, JSON_COMPACT)) == NULL) {
			rc = -1;
			goto out;
		}
	}
	db_lock(&ctrl->db);
	st = db_prepare(&ctrl->db, "SELECT state FROM nodes WHERE id = ?");
	if (st) {
		db_bind_text(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(state, sizeof(state), "%s", db_col_text(st, 0));
		sqlite3_finalize(st);
	}
	if (st == NULL) {
		rc = -1;
	} else if (state[0] == '\0') {
		httpd_reply_error(resp, 404, "not_found", "no node %.64s", id);
	} else if (strcmp(state, "up") == 0 && nodes_heartbeat_later(ctrl, id, time(NULL), status_text) == 0) {
		/* written with the others within a second (nodes_flush) */
	} else {
		const char *p[2] = { status_text, id };
		if (db_begin(&ctrl->db) < 0 ||
		    db_exec(&ctrl->db, "UPDATE nodes SET last_heartbeat = strftime('%s','now'), status = coalesce(?1, status),"
				      " state_changed_at = CASE WHEN state = 'up' THEN state_changed_at"
				      " ELSE strftime('%s','now') END, state = 'up' WHERE id = ?2", 2, p) < 0 ||
		    (strcmp(state, "up") != 0 &&
		     db_event(&ctrl->db, "node.state", id, "node %s is up: heartbeat after being %s", id, state) < 0) ||
		    db_commit(&ctrl->db) < 0) {
			db_rollback(&ctrl->db);
			rc = -1;
		}
	}
	db_unlock(&ctrl->db);
	if (rc == 0 && state[0])
		rc = httpd_reply_json(resp, 200, json_pack("{s:s,s:i}", "state", "up", "heartbeat_interval",
							   (int)ctrl->cfg.heartbeat_interval));
out:
	free(status_text);
	json_decref(doc);
	return rc;
}

int api_nodes_register(struct controller *ctrl)
{
	if (api_route(ctrl, "GET", "/v1/nodes", nodes_list, API_ADMIN | API_CACHE,
		      "nodes with state, MAC, CPUs, memory; ?state=, ?role=, ?limit=, ?cursor=", NULL) < 0 ||
	    api_route(ctrl, "POST", "/v1/nodes/register", nodes_register, API_PUBLIC,
		      "a booted node trades its one-time enrollment token and sysinfo for its own key (201; "
		      "401 token_unknown / token_expired, 409 token_used / node_up, 403 machine_pending / address_mismatch, "
		      "422 mac_mismatch)", register_schema) < 0 ||
	    api_route(ctrl, "GET", "/v1/nodes/{id}", nodes_show, API_ADMIN | API_CACHE,
		      "one node by id or MAC, with its sysinfo and last status", NULL) < 0 ||
	    api_route(ctrl, "DELETE", "/v1/nodes/{id}", nodes_delete, API_ADMIN,
		      "forget a node that is not up (204; 409 when it is up)", NULL) < 0 ||
	    api_route(ctrl, "POST", "/v1/nodes/{id}/heartbeat", nodes_heartbeat, API_ADMIN | API_NODE,
		      "a node reports it is alive, with a status summary (node key: own node only)",
		      heartbeat_schema) < 0)
		return -1;
	return 0;
}
