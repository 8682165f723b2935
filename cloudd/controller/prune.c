/* prune.c -- bounded history: old events and finished operations deleted in small transactions */
#include <errno.h>
#include <string.h>

#include "controller.h"

/*
 * Events are judged in the order they were recorded (by id): each batch
 * looks at the oldest CTL_PRUNE_BATCH and deletes those past the age limit,
 * so a batch costs what it deletes, never a scan of the table. Time only
 * goes forward in that order unless the clock was set back; an event then
 * waits until the ones before it go.
 */
#define PRUNE_EVENTS_OLD                                                                                               \
	"DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?2) AND time < ?1"
#define PRUNE_EVENTS_OLDEST "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?2)"
/* Finished only: a pending operation is someone's work in progress, whatever its age. */
#define PRUNE_OPERATIONS                                                                                               \
	"DELETE FROM operations WHERE rowid IN (SELECT rowid FROM operations"                                          \
	" WHERE state IN ('success', 'failure') AND updated_at < ?1 ORDER BY rowid LIMIT ?2)"

/* One transaction: sql with ?1 = arg, ?2 = limit; the rows it deleted, or -1. */
static long long prune_batch(struct db *db, const char *sql, long long arg, long long limit)
{
	sqlite3_stmt *st;
	long long n = -1;

	db_lock(db);
	if (db_begin(db) < 0)
		goto out;
	if ((st = db_prepare(db, sql)) == NULL)
		goto rollback;
	sqlite3_bind_int64(st, 1, arg);
	sqlite3_bind_int64(st, 2, limit);
	if (sqlite3_step(st) == SQLITE_DONE)
		n = sqlite3_changes(db->h);
	else
		log_error("database: pruning: %s", sqlite3_errmsg(db->h));
	sqlite3_finalize(st);
	/* nothing deleted: no commit, so cached answers stay valid */
	if (n > 0 && db_commit(db) == 0)
		goto out;
	if (n > 0)
		n = -1;
rollback:
	db_rollback(db);
out:
	db_unlock(db);
	if (n < 0)
		errno = EIO;
	return n;
}

static long long prune_count(struct db *db, const char *sql)
{
	sqlite3_stmt *st;
	long long n = -1;

	db_lock(db);
	if ((st = db_prepare(db, sql)) != NULL && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	db_unlock(db);
	return n;
}

int prune_run(struct db *db, const struct prune_limits *l, time_t now, unsigned max_batches,
	      struct prune_result *out)
{
	long long n, excess = 0;
	int events_old = l->events_keep_days > 0, operations_old = l->operations_keep_days > 0;

	memset(out, 0, sizeof(*out));
	if (l->events_keep_max > 0) {
		if ((n = prune_count(db, "SELECT count(*) FROM events")) < 0)
			return -1;
		excess = n > (long long)l->events_keep_max ? n - (long long)l->events_keep_max : 0;
	}
	for (unsigned b = 0; b < max_batches; b++) {
		if (excess > 0) {
			long long limit = excess < CTL_PRUNE_BATCH ? excess : CTL_PRUNE_BATCH;
			if ((n = prune_batch(db, PRUNE_EVENTS_OLDEST, 0, limit)) < 0)
				return -1;
			excess = n == 0 ? 0 : excess - n;
			out->events += (unsigned long long)n;
		} else if (events_old) {
			if ((n = prune_batch(db, PRUNE_EVENTS_OLD, (long long)now - 86400LL * l->events_keep_days,
					     CTL_PRUNE_BATCH)) < 0)
				return -1;
			events_old = n == CTL_PRUNE_BATCH;
			out->events += (unsigned long long)n;
		} else if (operations_old) {
			if ((n = prune_batch(db, PRUNE_OPERATIONS, (long long)now - 86400LL * l->operations_keep_days,
					     CTL_PRUNE_BATCH)) < 0)
				return -1;
			operations_old = n == CTL_PRUNE_BATCH;
			out->operations += (unsigned long long)n;
		} else {
			return 0;
		}
	}
	out->more = excess > 0 || events_old || operations_old;
	return 0;
}

void prune_tick(struct controller *ctrl, time_t now)
{
	const struct prune_limits l = { ctrl->cfg.events_keep_days, ctrl->cfg.events_keep_max,
					ctrl->cfg.operations_keep_days };
	struct prune_result r;

	/* a clock set back starts the interval again rather than waiting it out */
	if (!ctrl->prune_more && now >= ctrl->pruned_at && now - ctrl->pruned_at < CTL_PRUNE_INTERVAL)
		return;
	ctrl->pruned_at = now;
	if (prune_run(&ctrl->db, &l, now, CTL_PRUNE_BATCHES, &r) < 0) {
		log_warn("pruning old events and operations failed");
		ctrl->prune_more = 0;
		return;
	}
	ctrl->prune_more = r.more;
	if (r.events || r.operations)
		log_info("pruned %llu events and %llu finished operations%s", r.events, r.operations,
			 r.more ? "; more next second" : "");
}
