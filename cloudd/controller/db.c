/* db.c -- the controller's SQLite store: WAL, versioned migrations, locked transactions, events */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller.h"

/*
 * Migrations, applied in order at start; schema_version holds how many ran.
 * Never edit a released step: add one. Times are Unix seconds; JSON columns
 * hold documents as text.
 */
static const char *const db_migrations[] = {
	/* 1: the controller issue's resources; accounts and roles ready for tenants */
	"CREATE TABLE accounts ("
	"  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);"
	"INSERT INTO accounts VALUES ('acct-admin', 'admin', strftime('%s','now'));"
	"CREATE TABLE api_keys ("
	"  id TEXT PRIMARY KEY, secret TEXT NOT NULL,"
	"  role TEXT NOT NULL CHECK (role IN ('admin','user','node')),"
	"  account_id TEXT NOT NULL REFERENCES accounts(id),"
	"  node_id TEXT, name TEXT, created_at INTEGER NOT NULL, revoked_at INTEGER);"
	"CREATE TABLE images ("
	"  version TEXT PRIMARY KEY, kernel_sha256 TEXT NOT NULL, initrd_sha256 TEXT NOT NULL,"
	"  kernel_size INTEGER NOT NULL, initrd_size INTEGER NOT NULL, manifest TEXT,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE machines ("
	"  id TEXT PRIMARY KEY, mac TEXT NOT NULL UNIQUE, name TEXT UNIQUE, role TEXT NOT NULL,"
	"  labels TEXT NOT NULL DEFAULT '{}', image_version TEXT REFERENCES images(version),"
	"  source TEXT NOT NULL DEFAULT 'api', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
	"CREATE TABLE nodes ("
	"  id TEXT PRIMARY KEY, mac TEXT NOT NULL UNIQUE, machine_id TEXT, hostname TEXT,"
	"  state TEXT NOT NULL CHECK (state IN ('up','unknown','down')), role TEXT,"
	"  image_version TEXT, cpu_count INTEGER, memory_bytes INTEGER, address TEXT,"
	"  sysinfo TEXT, status TEXT, registered_at INTEGER NOT NULL,"
	"  last_heartbeat INTEGER NOT NULL, state_changed_at INTEGER NOT NULL);"
	"CREATE INDEX nodes_state ON nodes(state);"
	"CREATE TABLE enroll_tokens ("
	"  token_sha256 TEXT PRIMARY KEY, mac TEXT NOT NULL, machine_id TEXT,"
	"  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER);"
	"CREATE INDEX enroll_tokens_mac ON enroll_tokens(mac);"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, type TEXT NOT NULL,"
	"  subject TEXT, message TEXT NOT NULL);"
	"CREATE TABLE operations ("
	"  id TEXT PRIMARY KEY, type TEXT NOT NULL, target TEXT,"
	"  state TEXT NOT NULL CHECK (state IN ('pending','success','failure')), reason TEXT,"
	"  account_id TEXT NOT NULL DEFAULT 'acct-admin',"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);",
	/* 2: events by subject (cloudctl events --subject, repeated-boot throttling) */
	"CREATE INDEX events_subject ON events(subject, time);",
	/* 3: tenants: instance types, SSH keys, security groups, templates, instances, IPAM, node revisions */
	"CREATE TABLE instance_types ("
	"  name TEXT PRIMARY KEY, vcpus INTEGER NOT NULL, memory_mib INTEGER NOT NULL,"
	"  disk_gib INTEGER NOT NULL, created_at INTEGER NOT NULL);"
	"INSERT INTO instance_types VALUES"
	"  ('tiny', 1, 64, 1, strftime('%s','now')), ('small', 1, 512, 10, strftime('%s','now')),"
	"  ('medium', 2, 2048, 20, strftime('%s','now')), ('large', 4, 8192, 40, strftime('%s','now')),"
	"  ('xlarge', 8, 16384, 80, strftime('%s','now'));"
	"CREATE TABLE ssh_keys ("
	"  id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), name TEXT NOT NULL,"
	"  public_key TEXT NOT NULL, type TEXT NOT NULL, bits INTEGER, created_at INTEGER NOT NULL,"
	"  UNIQUE (account_id, name));"
	"CREATE TABLE security_groups ("
	"  id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), name TEXT NOT NULL,"
	"  description TEXT, created_at INTEGER NOT NULL, UNIQUE (account_id, name));"
	"CREATE TABLE security_group_rules ("
	"  id TEXT PRIMARY KEY, group_id TEXT NOT NULL REFERENCES security_groups(id) ON DELETE CASCADE,"
	"  direction TEXT NOT NULL, protocol TEXT NOT NULL, ports TEXT, icmp_type INTEGER, icmp_code INTEGER,"
	"  cidr TEXT, remote_group_id TEXT REFERENCES security_groups(id), created_at INTEGER NOT NULL);"
	"CREATE INDEX security_group_rules_group ON security_group_rules(group_id);"
	"CREATE TABLE templates ("
	"  id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), name TEXT NOT NULL,"
	"  format TEXT NOT NULL CHECK (format IN ('raw','qcow2','kernel')), public INTEGER NOT NULL DEFAULT 0,"
	"  url TEXT, sha256 TEXT, size INTEGER, initrd_url TEXT, initrd_sha256 TEXT, cmdline TEXT,"
	"  min_disk_gib INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, UNIQUE (account_id, name));"
	"CREATE TABLE instances ("
	"  id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), name TEXT NOT NULL,"
	"  type TEXT NOT NULL, vcpus INTEGER NOT NULL, memory_mib INTEGER NOT NULL, disk_gib INTEGER NOT NULL,"
	"  template_id TEXT NOT NULL REFERENCES templates(id), node_id TEXT, mac TEXT NOT NULL UNIQUE,"
	"  ipv4 TEXT, ipv6 TEXT, power TEXT NOT NULL CHECK (power IN ('running','stopped','deleted')),"
	"  reboot_count INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'pending', state_reason TEXT,"
	"  ssh_keys TEXT NOT NULL DEFAULT '[]', user_data TEXT, node_labels TEXT NOT NULL DEFAULT '{}',"
	"  anti_affinity TEXT, operation_id TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX instances_name ON instances(account_id, name) WHERE power != 'deleted';"
	"CREATE INDEX instances_node ON instances(node_id);"
	"CREATE TABLE instance_security_groups ("
	"  instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
	"  group_id TEXT NOT NULL REFERENCES security_groups(id), PRIMARY KEY (instance_id, group_id));"
	"CREATE INDEX instance_security_groups_group ON instance_security_groups(group_id);"
	"CREATE TABLE ip_addresses ("
	"  address TEXT PRIMARY KEY, owner TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('instance','node')),"
	"  created_at INTEGER NOT NULL);"
	"CREATE INDEX ip_addresses_owner ON ip_addresses(owner);"
	"ALTER TABLE nodes ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;"
	"ALTER TABLE nodes ADD COLUMN guest_address TEXT;"
	"ALTER TABLE nodes ADD COLUMN actual TEXT;"
	"ALTER TABLE nodes ADD COLUMN actual_at INTEGER;",
	/* 4: machines awaiting approval (unknown-mac = pending): no enrollment token until approved */
	"ALTER TABLE machines ADD COLUMN state TEXT NOT NULL DEFAULT 'approved'"
	"  CHECK (state IN ('pending','approved'));",
	/* 5: reboots through the node's reboot generation (a reset of the same QEMU), not a stop and a start:
	 * the generation asked (rendered as "reboot") and the last one the node reported; a reboot
	 * under way (reboot_count 1) becomes generation 1, which no node has seen */
	"ALTER TABLE instances RENAME COLUMN reboot_count TO reboot_generation;"
	"ALTER TABLE instances ADD COLUMN reboot_reported INTEGER NOT NULL DEFAULT 0;",
};
#define DB_NMIGRATIONS (int)(sizeof(db_migrations) / sizeof(db_migrations[0]))

void db_lock(struct db *db)
{
	pthread_mutex_lock(&db->lock);
}

void db_unlock(struct db *db)
{
	pthread_mutex_unlock(&db->lock);
}

static int db_simple(struct db *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_error("database: %s: %s", sql, msg ? msg : sqlite3_errmsg(db->h));
		sqlite3_free(msg);
		errno = EIO;
		return -1;
	}
	return 0;
}

int db_begin(struct db *db)
{
	return db_simple(db, "BEGIN IMMEDIATE");
}

int db_commit(struct db *db)
{
	if (db_simple(db, "COMMIT") < 0) {
		db_rollback(db);
		return -1;
	}
	__atomic_add_fetch(&db->changes, 1, __ATOMIC_SEQ_CST);
	return 0;
}

void db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3_stmt *db_prepare(struct db *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK) {
		log_error("database: preparing %s: %s", sql, sqlite3_errmsg(db->h));
		errno = EIO;
		return NULL;
	}
	return st;
}

int db_bind_text(sqlite3_stmt *st, int idx, const char *value)
{
	if (value == NULL)
		return sqlite3_bind_null(st, idx) == SQLITE_OK ? 0 : -1;
	return sqlite3_bind_text(st, idx, value, -1, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
}

const char *db_col_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

int db_exec(struct db *db, const char *sql, int nparams, const char *const *params)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	int rc;

	if (st == NULL)
		return -1;
	for (int i = 0; i < nparams; i++)
		db_bind_text(st, i + 1, params[i]);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		log_error("database: %s: %s", sql, sqlite3_errmsg(db->h));
		sqlite3_finalize(st);
		errno = rc == SQLITE_CONSTRAINT ? EEXIST : EIO;
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

int db_event(struct db *db, const char *type, const char *subject, const char *fmt, ...)
{
	char message[1024];
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	st = db_prepare(db, "INSERT INTO events (time, type, subject, message) VALUES (?, ?, ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	db_bind_text(st, 2, type);
	db_bind_text(st, 3, subject);
	db_bind_text(st, 4, message);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	log_info("event %s %s: %s", type, subject ? subject : "-", message);
	if (rc != SQLITE_DONE) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int db_schema_version(struct db *db)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT max(version) FROM schema_version");
	int v = -1;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

int db_integrity_ok(struct db *db)
{
	sqlite3_stmt *st = db_prepare(db, "PRAGMA integrity_check");
	int ok = 0;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		ok = strcmp(db_col_text(st, 0), "ok") == 0;
	sqlite3_finalize(st);
	return ok;
}

static int db_quick_check_ok(struct db *db)
{
	sqlite3_stmt *st = db_prepare(db, "PRAGMA quick_check");
	int ok = 0;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		ok = strcmp(db_col_text(st, 0), "ok") == 0;
	sqlite3_finalize(st);
	return ok;
}

/* Applies the migrations the database has not seen, each in its own transaction. */
static int db_migrate(struct db *db, struct errmsg *err)
{
	int have;

	if (db_simple(db, "CREATE TABLE IF NOT EXISTS schema_version ("
			  " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)") < 0) {
		errmsg_set(err, "database", "cannot create schema_version: %s", sqlite3_errmsg(db->h));
		return -1;
	}
	have = db_schema_version(db);
	if (have < 0)
		have = 0;
	if (have > DB_NMIGRATIONS) {
		errmsg_set(err, "database", "schema version %d is newer than this controller knows (%d); "
			   "run a newer cloud-controller", have, DB_NMIGRATIONS);
		errno = EPROTO;
		return -1;
	}
	for (int v = have + 1; v <= DB_NMIGRATIONS; v++) {
		char *msg = NULL;
		char sql[128];

		if (db_begin(db) < 0)
			goto err;
		if (sqlite3_exec(db->h, db_migrations[v - 1], NULL, NULL, &msg) != SQLITE_OK) {
			errmsg_set(err, "database", "migration %d failed: %s", v, msg ? msg : "?");
			sqlite3_free(msg);
			db_rollback(db);
			errno = EIO;
			return -1;
		}
		snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES (%d, strftime('%%s','now'))", v);
		if (db_simple(db, sql) < 0 || db_commit(db) < 0) {
			db_rollback(db);
			goto err;
		}
		log_info("database: applied migration %d", v);
	}
	return 0;
err:
	errmsg_set(err, "database", "migration failed: %s", sqlite3_errmsg(db->h));
	return -1;
}

int db_open(struct db *db, const char *path, struct errmsg *err)
{
	memset(db, 0, sizeof(*db));
	pthread_mutex_init(&db->lock, NULL);
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		errmsg_set(err, path, "cannot open the database: %s",
			   db->h ? sqlite3_errmsg(db->h) : "out of memory");
		goto err_close;
	}
	sqlite3_busy_timeout(db->h, 5000);
	if (db_simple(db, "PRAGMA journal_mode=WAL") < 0 || db_simple(db, "PRAGMA synchronous=FULL") < 0 ||
	    db_simple(db, "PRAGMA foreign_keys=ON") < 0) {
		errmsg_set(err, path, "cannot set WAL mode: %s", sqlite3_errmsg(db->h));
		goto err_close;
	}
	if (!db_quick_check_ok(db)) {
		errmsg_set(err, path, "the database fails PRAGMA quick_check (restore it from a backup)");
		goto err_close;
	}
	if (db_migrate(db, err) < 0)
		goto err_close;
	return 0;

err_close:
	sqlite3_close(db->h);
	db->h = NULL;
	pthread_mutex_destroy(&db->lock);
	errno = EIO;
	return -1;
}

unsigned long long db_generation(struct db *db)
{
	return __atomic_load_n(&db->changes, __ATOMIC_SEQ_CST);
}

void db_close(struct db *db)
{
	if (db->h) {
		sqlite3_close(db->h);
		db->h = NULL;
		pthread_mutex_destroy(&db->lock);
	}
}
