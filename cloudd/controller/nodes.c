/* nodes.c -- node liveness (up / unknown / down from heartbeats) and one-time enrollment tokens */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "sign.h"

/* One pending heartbeat per node (a later one replaces an earlier one). */
struct nodes_pending {
	struct nodes_pending *next;
	char node_id[40];
	time_t when;
	char *status_text; /* NULL: keep the stored status */
};

int nodes_heartbeat_later(struct controller *ctrl, const char *node_id, time_t when, char *status_text)
{
	struct nodes_pending *p;

	pthread_mutex_lock(&ctrl->pending_lock);
	for (p = ctrl->pending; p; p = p->next)
		if (strcmp(p->node_id, node_id) == 0)
			break;
	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		if (p == NULL) {
			pthread_mutex_unlock(&ctrl->pending_lock);
			return -1;
		}
		snprintf(p->node_id, sizeof(p->node_id), "%s", node_id);
		p->next = ctrl->pending;
		ctrl->pending = p;
	}
	p->when = when;
	if (status_text) {
		free(p->status_text);
		p->status_text = strdup(status_text);
	}
	pthread_mutex_unlock(&ctrl->pending_lock);
	return 0;
}

int nodes_heartbeat_pending(struct controller *ctrl, const char *node_id)
{
	struct nodes_pending *p;

	pthread_mutex_lock(&ctrl->pending_lock);
	for (p = ctrl->pending; p; p = p->next)
		if (strcmp(p->node_id, node_id) == 0)
			break;
	pthread_mutex_unlock(&ctrl->pending_lock);
	return p != NULL;
}

int nodes_flush(struct controller *ctrl)
{
	struct nodes_pending *list, *p, *next;
	int rc = 0;

	pthread_mutex_lock(&ctrl->pending_lock);
	list = ctrl->pending;
	ctrl->pending = NULL;
	pthread_mutex_unlock(&ctrl->pending_lock);
	if (list == NULL)
		return 0;
	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0) {
		rc = -1;
	} else {
		sqlite3_stmt *st = db_prepare(&ctrl->db, "UPDATE nodes SET last_heartbeat = max(last_heartbeat, ?1),"
							" status = coalesce(?2, status) WHERE id = ?3");
		for (p = list; p && st; p = p->next) {
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, (sqlite3_int64)p->when);
			db_bind_text(st, 2, p->status_text);
			db_bind_text(st, 3, p->node_id);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = -1;
		}
		if (st == NULL)
			rc = -1;
		sqlite3_finalize(st);
		if (rc == 0)
			rc = db_commit(&ctrl->db);
		else
			db_rollback(&ctrl->db);
	}
	db_unlock(&ctrl->db);
	for (p = list; p; p = next) {
		next = p->next;
		free(p->status_text);
		free(p);
	}
	return rc;
}

int nodes_issue_token(struct controller *ctrl, const char *mac, const char *machine_id,
		      char token[65])
{
	char digest[SIGN_HEX_LEN + 1];
	sqlite3_stmt *st;
	time_t now = time(NULL);
	int rc = -1;

	if (util_random_hex(token, 65, 32) < 0)
		return -1;
	sign_sha256_hex(token, strlen(token), digest);
	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0)
		goto out;
	st = db_prepare(&ctrl->db, "DELETE FROM enroll_tokens WHERE expires_at < ?");
	if (st) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)now - 86400);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	st = db_prepare(&ctrl->db, "INSERT INTO enroll_tokens (token_sha256, mac, machine_id, created_at,"
				  " expires_at) VALUES (?, ?, ?, ?, ?)");
	if (st == NULL) {
		db_rollback(&ctrl->db);
		goto out;
	}
	db_bind_text(st, 1, digest);
	db_bind_text(st, 2, mac);
	db_bind_text(st, 3, machine_id);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)now + ctrl->cfg.token_ttl);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_finalize(st);
		db_rollback(&ctrl->db);
		errno = EIO;
		goto out;
	}
	sqlite3_finalize(st);
	rc = db_commit(&ctrl->db);
out:
	db_unlock(&ctrl->db);
	return rc;
}

/*
 * A node that missed CTL_MISSED_HEARTBEATS heartbeats is "unknown" (it may be
 * busy or the network may be flaky), one silent for down_after seconds is
 * "down". Every change is an event, in the same transaction.
 */
int nodes_sweep(struct controller *ctrl, time_t now)
{
	struct change {
		char id[40];
		const char *state;
		long long silent;
	} changes[64];
	size_t n = 0;
	long long unknown_after = (long long)CTL_MISSED_HEARTBEATS * ctrl->cfg.heartbeat_interval;
	sqlite3_stmt *st;
	int rc = 0;

	db_lock(&ctrl->db);
	st = db_prepare(&ctrl->db, "SELECT id, state, last_heartbeat FROM nodes WHERE state != 'down'"
				  " AND last_heartbeat < ? LIMIT 64");
	if (st == NULL) {
		db_unlock(&ctrl->db);
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)(now - unknown_after));
	while (sqlite3_step(st) == SQLITE_ROW && n < 64) {
		const char *state = db_col_text(st, 1);
		long long silent = (long long)now - sqlite3_column_int64(st, 2);
		const char *next = silent > (long long)ctrl->cfg.down_after ? "down" : "unknown";

		if (strcmp(state, next) == 0 || nodes_heartbeat_pending(ctrl, db_col_text(st, 0)))
			continue;
		snprintf(changes[n].id, sizeof(changes[n].id), "%s", db_col_text(st, 0));
		changes[n].state = next;
		changes[n].silent = silent;
		n++;
	}
	sqlite3_finalize(st);
	if (n == 0)
		goto out;
	if (db_begin(&ctrl->db) < 0) {
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *p[2] = { changes[i].state, changes[i].id };
		if (db_exec(&ctrl->db, "UPDATE nodes SET state = ?, state_changed_at = strftime('%s','now')"
				      " WHERE id = ?", 2, p) < 0 ||
		    db_event(&ctrl->db, "node.state", changes[i].id, "node %s is %s: no heartbeat for %lld s",
			     changes[i].id, changes[i].state, changes[i].silent) < 0) {
			db_rollback(&ctrl->db);
			rc = -1;
			goto out;
		}
	}
	rc = db_commit(&ctrl->db);
out:
	db_unlock(&ctrl->db);
	return rc;
}
