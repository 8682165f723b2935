/* watch.c -- nodes' desired-state long polls (held without a thread) and their actual-state reports */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actual.h"
#include "controller.h"
#include "desired.h"
#include "ops.h"

#define WATCH_WAIT_DEFAULT 30 /* seconds a watch is held without a change */
#define WATCH_WAIT_MAX 60

/* A held watch; owned by its connection (freed when the connection ends). */
struct watch_waiter {
	struct auth_principal who; /* first: api_dispatch reads it when the request runs again */
	struct controller *ctrl;
	struct watch_waiter *next;
	int listed;
	void *conn_state;
	char node_id[40];
	long long after;  /* answer when the revision is above this */
	time_t deadline;
};

static void watch_unlink(struct watch_waiter *w)
{
	struct controller *ctrl = w->ctrl;

	for (struct watch_waiter **p = &ctrl->waiters; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	w->listed = 0;
}

static void watch_free(void *ctx)
{
	struct watch_waiter *w = ctx;

	pthread_mutex_lock(&w->ctrl->waiters_lock);
	if (w->listed)
		watch_unlink(w);
	pthread_mutex_unlock(&w->ctrl->waiters_lock);
	free(w);
}

/* Wakes the waiters that match (all when node_id is NULL, the expired ones when only_expired). */
static void watch_wake(struct controller *ctrl, int only_expired)
{
	time_t now = time(NULL);

	pthread_mutex_lock(&ctrl->waiters_lock);
	for (struct watch_waiter **p = &ctrl->waiters; *p;) {
		struct watch_waiter *w = *p;
		if (only_expired && w->deadline > now && !ctrl->shutting_down) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		w->listed = 0;
		httpd_wake(w->conn_state);
	}
	pthread_mutex_unlock(&ctrl->waiters_lock);
}

/*
 * Wakes are done by a thread of their own, so that the handler that committed
 * a change answers at once instead of walking the list of held watches.
 */
static pthread_mutex_t watch_kick_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watch_kick_cond = PTHREAD_COND_INITIALIZER;
static int watch_kicked, watch_waker_started;
static pthread_t watch_waker_thread;

static void *watch_waker(void *arg)
{
	struct controller *ctrl = arg;

	for (;;) {
		int stop;
		pthread_mutex_lock(&watch_kick_lock);
		while (!watch_kicked)
			pthread_cond_wait(&watch_kick_cond, &watch_kick_lock);
		watch_kicked = 0;
		pthread_mutex_unlock(&watch_kick_lock);
		pthread_mutex_lock(&ctrl->waiters_lock);
		stop = ctrl->shutting_down;
		pthread_mutex_unlock(&ctrl->waiters_lock);
		watch_wake(ctrl, 0);
		if (stop)
			return NULL;
	}
}

void watch_notify(struct controller *ctrl)
{
	pthread_mutex_lock(&watch_kick_lock);
	if (!watch_waker_started) {
		if (pthread_create(&watch_waker_thread, NULL, watch_waker, ctrl) == 0)
			watch_waker_started = 1;
		else
			log_warn("watch: cannot start the waker thread; held watches answer at their deadline");
	}
	watch_kicked = 1;
	pthread_cond_signal(&watch_kick_cond);
	pthread_mutex_unlock(&watch_kick_lock);
}

void watch_tick(struct controller *ctrl)
{
	watch_wake(ctrl, 1);
}

void watch_shutdown(struct controller *ctrl)
{
	int held;

	pthread_mutex_lock(&ctrl->waiters_lock);
	ctrl->shutting_down = 1;
	held = ctrl->waiters != NULL;
	pthread_mutex_unlock(&ctrl->waiters_lock);
	watch_wake(ctrl, 0);
	if (held)
		usleep(200000); /* time for the woken watches to be answered (204) before the server stops */
	pthread_mutex_lock(&watch_kick_lock);
	watch_kicked = 1;
	pthread_cond_signal(&watch_kick_cond);
	pthread_mutex_unlock(&watch_kick_lock);
	if (watch_waker_started)
		pthread_join(watch_waker_thread, NULL);
	watch_waker_started = 0;
}

static long long watch_revision(struct controller *ctrl, const char *node_id, int *has_address)
{
	sqlite3_stmt *st;
	long long rev = -1;

	db_lock(&ctrl->db);
	st = db_prepare(&ctrl->db, "SELECT revision, guest_address FROM nodes WHERE id = ?");
	if (st) {
		db_bind_text(st, 1, node_id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			rev = sqlite3_column_int64(st, 0);
			if (has_address)
				*has_address = db_col_text(st, 1) != NULL;
		}
		sqlite3_finalize(st);
	}
	db_unlock(&ctrl->db);
	return rev;
}

/* The node's own address on the guest network, taken from IPAM the first time it watches. */
static int watch_node_address(struct controller *ctrl, const char *node_id)
{
	char addr[16], addr6[46];
	int rc = 0;

	if (ctrl->cfg.guest_subnet[0] == '\0')
		return 0;
	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0) {
		rc = -1;
	} else if (ipam_allocate(ctrl, node_id, "node", addr) < 0) {
		db_rollback(&ctrl->db);
		log_warn("node %s: no guest address: %s", node_id, errno == ENOSPC ? "the guest subnet is full" : strerror(errno));
		rc = errno == ENOSPC ? 0 : -1;
	} else if (ctrl->cfg.guest_subnet6[0] && ipam6_allocate(ctrl, node_id, "node", addr6) < 0) {
		db_rollback(&ctrl->db);
		log_warn("node %s: no guest IPv6 address: %s", node_id, strerror(errno));
		rc = errno == ENOSPC ? 0 : -1;
	} else {
		const char *p[2] = { addr, node_id };
		if (db_exec(&ctrl->db, "UPDATE nodes SET guest_address = ?, revision = revision + 1 WHERE id = ?", 2, p) < 0 ||
		    db_event(&ctrl->db, "node.guest_address", node_id, "node %s has guest address %s", node_id, addr) < 0 ||
		    db_commit(&ctrl->db) < 0) {
			db_rollback(&ctrl->db);
			rc = -1;
		}
	}
	db_unlock(&ctrl->db);
	return rc;
}

static int watch_reply(struct controller *ctrl, const char *node_id, struct httpd_response *resp)
{
	json_t *doc;

	db_lock(&ctrl->db);
	doc = desired_render(ctrl, node_id);
	db_unlock(&ctrl->db);
	if (doc == NULL)
		return errno == ENOENT ? httpd_reply_error(resp, 404, "not_found", "no node %.64s", node_id) : -1;
	{
		/* the node would refuse it whole: say so here rather than let it keep an old document silently */
		struct state_doc sd;
		struct errmsg err = { 0 };
		char msg[1024];

		memset(&sd, 0, sizeof(sd));
		if (state_from_json(doc, &sd, &err) < 0) {
			errmsg_str(&err, msg, sizeof(msg));
			log_error("node %s: the rendered desired state is invalid: %s", node_id, msg);
			json_decref(doc);
			return httpd_reply_error(resp, 500, "invalid_document", "the controller rendered an invalid document: %s", msg);
		}
		state_free(&sd);
	}
	return httpd_reply_json(resp, 200, doc);
}

/* GET /v1/nodes/{id}/desired-state?revision=N&wait=S */
static int watch_get(struct controller *ctrl, const struct auth_principal *who,
		     struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "revision", "wait", NULL };
	struct watch_waiter *w = req->held;
	const char *id = httpd_param(req, "id");
	long long after = -1, wait = WATCH_WAIT_DEFAULT, rev;
	int has_address = 1;

	if (w == NULL) {
		const char *r = httpd_query(req, "revision"), *s = httpd_query(req, "wait");
		char *end;

		if (who->role == AUTH_ROLE_NODE && strcmp(who->node_id, id) != 0)
			return httpd_reply_error(resp, 403, "forbidden", "a node's key may only watch its own node (%s)",
						 who->node_id);
		if (api_check_query(req, allowed, resp) < 0)
			return 0;
		if (r) {
			errno = 0;
			after = strtoll(r, &end, 10);
			if (errno || *end || r[0] == '\0' || after < 0)
				return httpd_reply_error(resp, 400, "bad_parameter", "revision: expected an integer >= 0");
		}
		if (s) {
			errno = 0;
			wait = strtoll(s, &end, 10);
			if (errno || *end || s[0] == '\0' || wait < 1 || wait > WATCH_WAIT_MAX)
				return httpd_reply_error(resp, 400, "bad_parameter", "wait: expected seconds 1..%d", WATCH_WAIT_MAX);
		}
		rev = watch_revision(ctrl, id, &has_address);
		if (rev < 0)
			return httpd_reply_error(resp, 404, "not_found", "no node %.64s", id);
		if (!has_address && watch_node_address(ctrl, id) < 0)
			return -1;
	} else {
		after = w->after;
	}
	pthread_mutex_lock(&ctrl->waiters_lock);
	rev = watch_revision(ctrl, id, NULL);
	if (rev < 0 || rev > after) {
		pthread_mutex_unlock(&ctrl->waiters_lock);
		return rev < 0 ? httpd_reply_error(resp, 404, "not_found", "no node %.64s", id) : watch_reply(ctrl, id, resp);
	}
	if (w && (time(NULL) >= w->deadline || ctrl->shutting_down)) {
		pthread_mutex_unlock(&ctrl->waiters_lock);
		resp->status = 204;
		return 0;
	}
	if (w == NULL) {
		w = calloc(1, sizeof(*w));
		if (w == NULL) {
			pthread_mutex_unlock(&ctrl->waiters_lock);
			errno = ENOMEM;
			return -1;
		}
		w->who = *who;
		w->ctrl = ctrl;
		w->after = after;
		w->deadline = time(NULL) + wait;
		snprintf(w->node_id, sizeof(w->node_id), "%s", id);
	}
	if (httpd_hold(req, w, watch_free) < 0) {
		/* no server to park the request in (unit tests): answer as a timeout would */
		pthread_mutex_unlock(&ctrl->waiters_lock);
		if (req->held == NULL)
			free(w);
		resp->status = 204;
		return 0;
	}
	w->conn_state = req->conn_state;
	w->next = ctrl->waiters;
	ctrl->waiters = w;
	w->listed = 1;
	pthread_mutex_unlock(&ctrl->waiters_lock);
	return 0;
}

/* PUT /v1/nodes/{id}/actual-state: cloudd's GET /v1/state document; instance_report draws the consequences. */
static int watch_actual(struct controller *ctrl, const struct auth_principal *who,
			struct httpd_request *req, struct httpd_response *resp)
{
	const char *id = httpd_param(req, "id");
	struct instance_report *reps = NULL;
	struct node_report report = { id, NULL, NULL, 0 };
	struct actual_doc actual = { 0 };
	struct errmsg perr = { 0 };
	struct op_error err;
	json_t *doc;
	char *text = NULL, msg[600];
	int rc = 0;

	if (who->role == AUTH_ROLE_NODE && strcmp(who->node_id, id) != 0)
		return httpd_reply_error(resp, 403, "forbidden", "a node's key may only report for its own node (%s)", who->node_id);
	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (actual_from_json(doc, &actual, &perr) < 0) {
		errmsg_str(&perr, msg, sizeof(msg));
		if (errno == E2BIG)
			httpd_reply_error(resp, 413, "too_large", "%s", msg);
		else
			httpd_reply_error(resp, 400, "bad_field", "%s", msg);
		goto out;
	}
	if (actual.n_instances && (reps = calloc(actual.n_instances, sizeof(*reps))) == NULL) {
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < actual.n_instances; i++) {
		const struct actual_instance *in = &actual.instances[i];
		reps[i] = (struct instance_report){ in->id, actual_status_name(in->status),
						    in->has_desired ? state_power_name(in->desired) : NULL, in->error,
						    in->has_runtime ? in->reboot : -1 };
	}
	if ((text = json_dumps(doc, JSON_COMPACT)) == NULL) {
		rc = -1;
		goto out;
	}
	report.document = text;
	report.instances = reps;
	report.n_instances = actual.n_instances;
	if (instance_report(ctrl, &report, &err) < 0)
		rc = op_reply_error(resp, &err);
	else
		resp->status = 204;
out:
	free(reps);
	free(text);
	actual_free(&actual);
	json_decref(doc);
	return rc;
}

int watch_register(struct controller *ctrl)
{
	pthread_mutex_init(&ctrl->waiters_lock, NULL);
	if (api_route(ctrl, "GET", "/v1/nodes/{id}/desired-state", watch_get, API_ADMIN | API_NODE,
		      "the node's desired-state document once its revision is above ?revision= (long poll up to ?wait= s, then 204)",
		      NULL) < 0 ||
	    api_route(ctrl, "PUT", "/v1/nodes/{id}/actual-state", watch_actual, API_ADMIN | API_NODE,
		      "the node reports cloudd's GET /v1/state document; instance states follow from it",
		      "{\"type\":\"object\",\"description\":\"cloudd's /v1/state document\"}") < 0)
		return -1;
	return 0;
}
