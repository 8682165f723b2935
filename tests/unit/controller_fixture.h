/* controller_fixture.h -- a controller over a new database in a directory of its own, for operation tests without HTTP */
#ifndef CONTROLLER_FIXTURE_H
#define CONTROLLER_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "ops.h"

static char fixture_dir[64]; /* the directory: the database c.db and whatever a test puts there */

/* The controller (zeroed configuration) over a new database seeded by the SQL text seed. */
static struct controller *fixture_open(const char *seed)
{
	static struct controller ctrl;
	struct errmsg err = { 0 };
	char path[128];

	memset(&ctrl.cfg, 0, sizeof(ctrl.cfg));
	snprintf(fixture_dir, sizeof(fixture_dir), "/tmp/controller-fixture-XXXXXX");
	if (mkdtemp(fixture_dir) == NULL || fs_path(path, sizeof(path), "%s/c.db", fixture_dir) < 0 ||
	    db_open(&ctrl.db, path, &err) < 0 || sqlite3_exec(ctrl.db.h, seed, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "fixture: cannot open a database in %s: %s\n", fixture_dir, err.msg);
		abort();
	}
	return &ctrl;
}

static int fixture_remove(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

/* Writes the pending heartbeats, closes the database and removes the directory with all it holds. */
static void fixture_close(struct controller *ctrl)
{
	nodes_flush(ctrl);
	db_close(&ctrl->db);
	if (nftw(fixture_dir, fixture_remove, 16, FTW_DEPTH | FTW_PHYS) < 0)
		abort();
}

/* The first column of sql's first row; -1 when there is none. */
static long long fixture_int(struct db *db, const char *sql)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	long long v = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;

	sqlite3_finalize(st);
	return v;
}

/* An operation's refusal: rc -1 with status, code and a message holding part (else says what came instead). */
static int fixture_refused(int rc, const struct op_error *err, int status, const char *code, const char *part)
{
	if (rc == -1 && err->status == status && strcmp(err->code, code) == 0 && strstr(err->message, part))
		return 1;
	printf("rc %d, %d %s \"%s\" (want %d %s \"%s\")\n", rc, err->status, err->code, err->message, status, code, part);
	return 0;
}

#endif
