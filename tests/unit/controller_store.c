/* controller_store.c -- SQLite store (WAL, migrations, reopen) and signed-request verification */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller.h"
#include "fsutil.h"
#include "sign.h"
#include "unit.h"

static char dir[64];

static void fresh_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/controller-store-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
}

static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		abort();
}

TEST(open_migrates_and_reopens)
{
	struct db db;
	struct errmsg err = { 0 };
	char path[128];
	sqlite3_stmt *st;

	fresh_dir();
	snprintf(path, sizeof(path), "%s/c.db", dir);
	CHECK_INT(db_open(&db, path, &err), 0);
	CHECK_INT(db_schema_version(&db), 5);
	st = db_prepare(&db, "PRAGMA journal_mode");
	CHECK(st && sqlite3_step(st) == SQLITE_ROW);
	CHECK_STR(db_col_text(st, 0), "wal");
	sqlite3_finalize(st);
	CHECK(db_integrity_ok(&db));
	CHECK_INT(db_begin(&db), 0);
	CHECK_INT(db_event(&db, "test.event", "s-1", "hello %d", 42), 0);
	CHECK_INT(db_commit(&db), 0);
	db_close(&db);
	/* reopening applies nothing again and keeps the data */
	CHECK_INT(db_open(&db, path, &err), 0);
	CHECK_INT(db_schema_version(&db), 5);
	st = db_prepare(&db, "SELECT message FROM events WHERE type = 'test.event'");
	CHECK(st && sqlite3_step(st) == SQLITE_ROW);
	CHECK_STR(db_col_text(st, 0), "hello 42");
	sqlite3_finalize(st);
	db_close(&db);
	cleanup();
}

TEST(newer_schema_is_refused)
{
	struct db db;
	struct errmsg err = { 0 };
	char path[128];

	fresh_dir();
	snprintf(path, sizeof(path), "%s/c.db", dir);
	CHECK_INT(db_open(&db, path, &err), 0);
	CHECK_INT(db_exec(&db, "INSERT INTO schema_version VALUES (99, 0)", 0, NULL), 0);
	db_close(&db);
	CHECK_INT(db_open(&db, path, &err), -1);
	CHECK_CONTAINS(err.msg, "newer");
	cleanup();
}

struct signed_case {
	const char *method, *path, *body;
	long long expires;
};

static int verify(struct db *db, const char *key, const char *secret, const struct signed_case *sc,
		  const char *sent_body, time_t now, struct auth_principal *who)
{
	char sig[SIGN_HEX_LEN + 1], hdr[SIGN_MAX_HEADER], why[256];
	struct sign_query_arg args[] = { { "limit", "10" } };

	sign_request(secret, sc->method, sc->path, "limit=10", sc->body, strlen(sc->body), sc->expires, sig);
	sign_authorization(hdr, sizeof(hdr), key, sc->expires, sig);
	return auth_verify(db, hdr, sc->method, sc->path, args, 1, sent_body, strlen(sent_body), now, who, why,
			   sizeof(why));
}

TEST(bootstrap_and_verify)
{
	struct db db;
	struct errmsg err = { 0 };
	struct auth_principal who;
	struct buf text = BUF_INIT;
	char path[128], conf[128], key[72], secret[65], why[256];
	struct signed_case sc = { "POST", "/v1/machines", "{\"mac\":\"52:54:00:00:00:01\"}", 2000000000 };
	time_t now = 2000000000 - 100;
	struct stat sb;

	fresh_dir();
	snprintf(path, sizeof(path), "%s/c.db", dir);
	snprintf(conf, sizeof(conf), "%s/admin.conf", dir);
	CHECK_INT(db_open(&db, path, &err), 0);
	CHECK_INT(auth_bootstrap(&db, conf, "http://192.0.2.1:8080"), 1);
	CHECK_INT(auth_bootstrap(&db, conf, "http://192.0.2.1:8080"), 0); /* only once */
	CHECK_INT(stat(conf, &sb), 0);
	CHECK_INT(sb.st_mode & 0777, 0600);
	CHECK_INT(fs_read_file(conf, 4096, &text), 0);
	CHECK_INT(fs_env_get(conf, "key", key, sizeof(key)), 0); /* "key = v" is not env syntax */
	{
		char *k = strstr(text.data, "key = "), *s = strstr(text.data, "secret = ");
		CHECK(k && s);
		sscanf(k, "key = %71s", key);
		sscanf(s, "secret = %64s", secret);
	}
	buf_free(&text);
	CHECK_INT(verify(&db, key, secret, &sc, sc.body, now, &who), 0);
	CHECK_INT(who.role, AUTH_ROLE_ADMIN);
	CHECK_STR(who.key_id, key);
	/* expired */
	CHECK_INT(verify(&db, key, secret, &sc, sc.body, 2000000000 + 1, &who), -1);
	/* too far in the future */
	CHECK_INT(verify(&db, key, secret, &sc, sc.body, 2000000000 - SIGN_MAX_LIFETIME - 10, &who), -1);
	/* tampered body */
	CHECK_INT(verify(&db, key, secret, &sc, "{\"mac\":\"52:54:00:00:00:02\"}", now, &who), -1);
	/* wrong secret, unknown key */
	CHECK_INT(verify(&db, key, "0000", &sc, sc.body, now, &who), -1);
	CHECK_INT(verify(&db, "ak-0000000000000000", secret, &sc, sc.body, now, &who), -1);
	/* no header */
	CHECK_INT(auth_verify(&db, NULL, "GET", "/v1/nodes", NULL, 0, "", 0, now, &who, why, sizeof(why)), -1);
	CHECK_CONTAINS(why, "Authorization");
	/* revoked */
	{
		const char *p[1] = { key };
		CHECK_INT(db_exec(&db, "UPDATE api_keys SET revoked_at = 1 WHERE id = ?", 1, p), 0);
		CHECK_INT(verify(&db, key, secret, &sc, sc.body, now, &who), -1);
	}
	/* a node key */
	{
		char nkey[72], nsecret[65];
		CHECK_INT(auth_key_create(&db, AUTH_ROLE_NODE, "acct-admin", "n-1", nkey, nsecret), 0);
		CHECK_INT(verify(&db, nkey, nsecret, &sc, sc.body, now, &who), 0);
		CHECK_INT(who.role, AUTH_ROLE_NODE);
		CHECK_STR(who.node_id, "n-1");
	}
	db_close(&db);
	cleanup();
}
