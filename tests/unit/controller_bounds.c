/* controller_bounds.c -- what unsigned callers may cost (per-address token buckets) and how much history is kept (pruning) */
#include <stdlib.h>

#include "conf.h"
#include "controller_fixture.h"
#include "unit.h"

/* --- the rate limiter, on a clock the test turns ------------------------------ */

TEST(ratelimit_burst_then_rate)
{
	struct ratelimit *rl = ratelimit_new(2, 5);
	double t = 1000;

	CHECK(rl != NULL);
	/* a new address spends its burst at once */
	for (int i = 0; i < 5; i++)
		CHECK_INT(ratelimit_take(rl, "192.0.2.1", t), 0);
	/* then waits for a token: 1 / rate = 0.5 s, told as whole seconds, rounded up */
	CHECK_INT(ratelimit_take(rl, "192.0.2.1", t), 1);
	CHECK_INT(ratelimit_take(rl, "192.0.2.1", t + 0.4), 1);
	/* a refused request costs nothing: half a second later one token is there */
	CHECK_INT(ratelimit_take(rl, "192.0.2.1", t + 0.5), 0);
	CHECK_INT(ratelimit_take(rl, "192.0.2.1", t + 0.5), 1);
	/* refills stop at the burst: after an hour, 5 again, not 7,200 */
	t += 3600;
	for (int i = 0; i < 5; i++)
		CHECK_INT(ratelimit_take(rl, "192.0.2.1", t), 0);
	CHECK(ratelimit_take(rl, "192.0.2.1", t) > 0);
	/* a clock going back refills nothing and breaks nothing */
	CHECK(ratelimit_take(rl, "192.0.2.1", t - 100) > 0);
	CHECK_INT((int)ratelimit_limited(rl), 5);
	ratelimit_free(rl);
}

TEST(ratelimit_addresses_apart)
{
	struct ratelimit *rl = ratelimit_new(1, 3);
	double t = 50;

	for (int i = 0; i < 3; i++)
		CHECK_INT(ratelimit_take(rl, "192.0.2.1", t), 0);
	CHECK(ratelimit_take(rl, "192.0.2.1", t) > 0);
	/* another address has its own bucket */
	CHECK_INT(ratelimit_take(rl, "192.0.2.2", t), 0);
	CHECK_INT(ratelimit_take(rl, "2001:db8::", t), 0);
	/* a slow rate says how long: (1 - tokens) / rate, here 0.1 tokens a second */
	ratelimit_free(rl);
	rl = ratelimit_new(0.1, 1);
	CHECK_INT(ratelimit_take(rl, "192.0.2.1", t), 0);
	CHECK_INT(ratelimit_take(rl, "192.0.2.1", t), 10);
	CHECK_INT(ratelimit_take(rl, "192.0.2.1", t + 4), 6);
	ratelimit_free(rl);
}

/* A boot storm: 100 nodes from distinct addresses, each asking a few times, is never limited. */
TEST(ratelimit_boot_storm_passes)
{
	struct ratelimit *rl = ratelimit_new(CTL_DEFAULT_PUBLIC_RATE, CTL_DEFAULT_PUBLIC_BURST);
	char addr[32];

	for (int round = 0; round < 4; round++) {
		for (int n = 0; n < 100; n++) {
			snprintf(addr, sizeof(addr), "10.0.%d.%d", n / 250, 10 + n % 250);
			/* boot script, registration, and a boot failure or retry: in the same second */
			for (int k = 0; k < 3; k++)
				CHECK_INT(ratelimit_take(rl, addr, 10 + round), 0);
		}
	}
	CHECK_INT((int)ratelimit_limited(rl), 0);
	ratelimit_free(rl);
}

/* The table holds RATELIMIT_SETS * RATELIMIT_WAYS addresses whatever arrives; the least recently used go. */
TEST(ratelimit_table_is_bounded)
{
	struct ratelimit *rl = ratelimit_new(1, 2);
	char addr[32];

	CHECK_INT(ratelimit_take(rl, "198.51.100.7", 0), 0);
	CHECK_INT(ratelimit_take(rl, "198.51.100.7", 0), 0);
	CHECK(ratelimit_take(rl, "198.51.100.7", 0) > 0);
	for (unsigned i = 0; i < 200000; i++) {
		snprintf(addr, sizeof(addr), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
		ratelimit_take(rl, addr, 0);
		/* the hammering address stays in the table while it keeps asking */
		if (i % 4 == 0)
			CHECK(ratelimit_take(rl, "198.51.100.7", 0) > 0);
	}
	CHECK_INT((int)ratelimit_tracked(rl), RATELIMIT_SETS * RATELIMIT_WAYS);
	ratelimit_free(rl);
	CHECK(ratelimit_new(0, 10) == NULL);
	CHECK(ratelimit_new(1, 0) == NULL);
}

/* --- the settings ---------------------------------------------------------------- */

/* The settings from one key (NULL: none set), as on the command line. */
static int settings_with(const char *key, const char *value, struct ctl_config *cfg, struct errmsg *err)
{
	struct conf c = CONF_INIT;
	int rc = key ? conf_set(&c, key, value) : 0;

	memset(cfg, 0, sizeof(*cfg));
	memset(err, 0, sizeof(*err));
	if (rc == 0)
		rc = config_from_conf(&c, cfg, err);
	conf_free(&c);
	return rc;
}

TEST(bounds_settings)
{
	static const char *const bad[][2] = {
		{ "public-rate", "-1" },	    { "public-rate", "fast" },	     { "public-rate", "100001" },
		{ "public-burst", "0" },	    { "events-keep-days", "x" },    { "events-keep-max", "1e6" },
		{ "operations-keep-days", "36501" },
	};
	struct ctl_config cfg;
	struct errmsg err;

	CHECK_INT(settings_with(NULL, NULL, &cfg, &err), 0);
	CHECK_INT(cfg.public_rate, 10);
	CHECK_INT(cfg.public_burst, 40);
	CHECK_INT(cfg.events_keep_days, 30);
	CHECK_INT((int)cfg.events_keep_max, 100000);
	CHECK_INT(cfg.operations_keep_days, 30);
	CHECK_INT(settings_with("public-rate", "0", &cfg, &err), 0);
	CHECK_INT(cfg.public_rate, 0);
	CHECK_INT(settings_with("events-keep-max", "0", &cfg, &err), 0);
	CHECK_INT((int)cfg.events_keep_max, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (settings_with(bad[i][0], bad[i][1], &cfg, &err) == 0)
			UNIT_FAIL("accepted: %s = %s", bad[i][0], bad[i][1]);
		else if (strstr(err.field, bad[i][0]) == NULL && strstr(err.msg, bad[i][0]) == NULL)
			UNIT_FAIL("error for %s = %s does not name the key: %s: %s", bad[i][0], bad[i][1], err.field,
				  err.msg);
	}
}

/* --- pruning ------------------------------------------------------------------------ */

#define DAY 86400LL
#define NOW 2000000000LL

/* n events, one a minute, the last (newest) at time last. */
static void add_events(struct controller *ctrl, int n, long long last)
{
	char sql[256];

	for (int i = 0; i < n; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO events (time, type, subject, message) VALUES (%lld, 't', 's', 'm');",
			 last - 60LL * (n - 1 - i));
		if (sqlite3_exec(ctrl->db.h, sql, NULL, NULL, NULL) != SQLITE_OK)
			abort();
	}
}

static void add_operation(struct controller *ctrl, const char *id, const char *state, long long updated)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "INSERT INTO operations (id, type, target, state, created_at, updated_at)"
				   " VALUES ('%s', 'x', NULL, '%s', %lld, %lld);", id, state, updated - DAY, updated);
	if (sqlite3_exec(ctrl->db.h, sql, NULL, NULL, NULL) != SQLITE_OK)
		abort();
}

TEST(prune_events_by_age_and_count)
{
	struct controller *ctrl = fixture_open("");
	struct prune_limits l = { .events_keep_days = 30, .events_keep_max = 0, .operations_keep_days = 0 };
	struct prune_result r;

	/* 1,200 events 40 days old, then 700 of the last hours */
	add_events(ctrl, 1200, NOW - 40 * DAY);
	add_events(ctrl, 700, NOW - 3600);
	CHECK_INT(prune_run(&ctrl->db, &l, NOW, 1, &r), 0);
	/* one batch at a time: the rest waits for the next run */
	CHECK_INT((int)r.events, CTL_PRUNE_BATCH);
	CHECK_INT(r.more, 1);
	CHECK_INT(prune_run(&ctrl->db, &l, NOW, 100, &r), 0);
	CHECK_INT((int)r.events, 1200 - CTL_PRUNE_BATCH);
	CHECK_INT(r.more, 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events"), 700);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE time < 2000000000 - 30 * 86400"), 0);
	/* the count bound keeps the newest */
	l.events_keep_max = 600;
	CHECK_INT(prune_run(&ctrl->db, &l, NOW, 100, &r), 0);
	CHECK_INT((int)r.events, 100);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events"), 600);
	CHECK(fixture_int(&ctrl->db, "SELECT max(time) FROM events") == NOW - 3600);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT min(id) FROM events"), 1200 + 100 + 1);
	/* nothing to do: nothing deleted, nothing committed (cached answers stay valid) */
	{
		unsigned long long generation = db_generation(&ctrl->db);
		CHECK_INT(prune_run(&ctrl->db, &l, NOW, 100, &r), 0);
		CHECK_INT((int)r.events, 0);
		CHECK(db_generation(&ctrl->db) == generation);
	}
	/* 0 disables both bounds */
	l.events_keep_days = 0, l.events_keep_max = 0;
	CHECK_INT(prune_run(&ctrl->db, &l, NOW + 1000 * DAY, 100, &r), 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events"), 600);
	fixture_close(ctrl);
}

TEST(prune_operations_finished_only)
{
	struct controller *ctrl = fixture_open("");
	struct prune_limits l = { .events_keep_days = 0, .events_keep_max = 0, .operations_keep_days = 30 };
	struct prune_result r;

	add_operation(ctrl, "op-old-pending", "pending", NOW - 400 * DAY);
	add_operation(ctrl, "op-old-success", "success", NOW - 31 * DAY);
	add_operation(ctrl, "op-old-failure", "failure", NOW - 90 * DAY);
	add_operation(ctrl, "op-new-success", "success", NOW - 29 * DAY);
	add_operation(ctrl, "op-new-pending", "pending", NOW);
	CHECK_INT(prune_run(&ctrl->db, &l, NOW, 100, &r), 0);
	CHECK_INT((int)r.operations, 2);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM operations WHERE id IN"
					      " ('op-old-pending', 'op-new-success', 'op-new-pending')"), 3);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM operations"), 3);
	/* a pending operation survives any age */
	CHECK_INT(prune_run(&ctrl->db, &l, NOW + 100000 * DAY, 100, &r), 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM operations"), 2);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM operations WHERE state = 'pending'"), 2);
	/* 0 keeps finished ones too */
	l.operations_keep_days = 0;
	add_operation(ctrl, "op-ancient", "failure", 1);
	CHECK_INT(prune_run(&ctrl->db, &l, NOW, 100, &r), 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM operations"), 3);
	fixture_close(ctrl);
}

/* The main loop's tick prunes once a minute, and every tick while a backlog remains. */
TEST(prune_tick_interval)
{
	struct controller *ctrl = fixture_open("");

	(void)fixture_refused; /* the fixture's, for operation tests */
	ctrl->cfg.events_keep_days = 1;
	ctrl->pruned_at = 0, ctrl->prune_more = 0;
	add_events(ctrl, 10, NOW - 2 * DAY);
	prune_tick(ctrl, NOW);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events"), 0);
	add_events(ctrl, 10, NOW - 2 * DAY);
	prune_tick(ctrl, NOW + CTL_PRUNE_INTERVAL - 1);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events"), 10);
	prune_tick(ctrl, NOW + CTL_PRUNE_INTERVAL);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events"), 0);
	fixture_close(ctrl);
}
