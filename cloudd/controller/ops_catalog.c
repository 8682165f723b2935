/* ops_catalog.c -- what instances are made from: named-resource lookups, SSH keys, templates, instance types */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "ops.h"
#include "template_url.h"

/* --- named resources --------------------------------------------------------- */

json_t *named_find(struct db *db, const struct named_kind *kind, const char *ref, const char *scope)
{
	sqlite3_stmt *st = db_prepare(db, kind->find);
	json_t *doc = NULL;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, ref);
	if (sqlite3_bind_parameter_count(st) >= 2)
		db_bind_text(st, 2, scope);
	if (sqlite3_step(st) == SQLITE_ROW)
		doc = kind->json(db, st);
	sqlite3_finalize(st);
	return doc;
}

int named_count(struct db *db, const char *sql, const char *id)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	int n = -1;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

int named_show(struct controller *ctrl, const struct named_kind *kind, const struct op_ref *r, json_t **doc,
	       struct op_error *err)
{
	db_lock(&ctrl->db);
	*doc = named_find(&ctrl->db, kind, r->ref, r->scope);
	db_unlock(&ctrl->db);
	if (*doc == NULL)
		return op_fail(err, 404, "not_found", "no %s %.64s", kind->what, r->ref);
	return 0;
}

int named_insert(struct controller *ctrl, const struct named_kind *kind, const struct named_new *row, json_t **doc,
		 struct op_error *err)
{
	int rc = -1;

	*doc = NULL;
	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0) {
		op_internal(err, "starting a transaction");
	} else if (db_exec(&ctrl->db, row->sql, row->nparams, row->params) < 0) {
		if (errno == EEXIST)
			op_fail(err, 409, "conflict", "%s named %s exists", kind->a_what, row->name);
		else
			op_internal(err, "inserting a row");
		db_rollback(&ctrl->db);
	} else if ((row->event && db_event(&ctrl->db, row->event, row->id, "%s", row->text) < 0) || db_commit(&ctrl->db) < 0) {
		op_internal(err, "inserting a row");
		db_rollback(&ctrl->db);
	} else {
		*doc = named_find(&ctrl->db, kind, row->id, NULL);
		rc = *doc ? 0 : op_internal(err, "reading a new row");
	}
	db_unlock(&ctrl->db);
	return rc;
}

int named_change(struct controller *ctrl, const char *sql, int nparams, const char *const *params, const char *missing,
		 const char *event, const char *subject, const char *text, struct op_error *err)
{
	int rc = -1;

	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0 || db_exec(&ctrl->db, sql, nparams, params) < 0) {
		op_internal(err, "changing a row");
		db_rollback(&ctrl->db);
	} else if (sqlite3_changes(ctrl->db.h) == 0) {
		db_rollback(&ctrl->db);
		op_fail(err, 404, "not_found", "%s", missing);
	} else if (db_event(&ctrl->db, event, subject, "%s", text) < 0 || db_commit(&ctrl->db) < 0) {
		op_internal(err, "changing a row");
		db_rollback(&ctrl->db);
	} else {
		rc = 0;
	}
	db_unlock(&ctrl->db);
	return rc;
}

/*
 * Removes what r names in its scope: under the lock, the lookup (404), the
 * kind's own refusals (check, may be NULL), then the row and the event
 * (NULL: none; its text is deleted, a format of the id) in one transaction.
 * The id removed is copied to removed (may be NULL). 0, or -1 with err.
 */
static int named_delete(struct controller *ctrl, const struct named_kind *kind, const struct op_ref *r,
			int (*check)(struct db *db, const struct op_ref *r, json_t *doc, struct op_error *err),
			const char *event, const char *deleted, char removed[40], struct op_error *err)
{
	json_t *doc;
	const char *id;
	int rc = -1;

	db_lock(&ctrl->db);
	doc = named_find(&ctrl->db, kind, r->ref, r->scope);
	if (doc == NULL) {
		op_fail(err, 404, "not_found", "no %s %.64s", kind->what, r->ref);
		goto out;
	}
	if (check && check(&ctrl->db, r, doc, err) < 0)
		goto out;
	id = json_string_value(json_object_get(doc, "id"));
	if (db_begin(&ctrl->db) < 0 || db_exec(&ctrl->db, kind->remove, 1, &id) < 0 ||
	    (event && db_event(&ctrl->db, event, id, deleted, id) < 0) || db_commit(&ctrl->db) < 0) {
		op_internal(err, "removing a resource");
		db_rollback(&ctrl->db);
		goto out;
	}
	if (removed)
		snprintf(removed, 40, "%s", id);
	rc = 0;
out:
	db_unlock(&ctrl->db);
	json_decref(doc);
	return rc;
}

/* --- SSH keys ------------------------------------------------------------------ */

#define KEY_COLS "id, account_id, name, public_key, type, bits, created_at"

static json_t *key_json(struct db *db, sqlite3_stmt *st)
{
	(void)db;
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:o}", "id", db_col_text(st, 0), "account", db_col_text(st, 1), "name",
			 db_col_text(st, 2), "public_key", db_col_text(st, 3), "type", db_col_text(st, 4), "bits",
			 (json_int_t)sqlite3_column_int64(st, 5), "created_at", util_time_json(sqlite3_column_int64(st, 6)));
}

const struct named_kind ssh_key_kind = {
	"SSH key",
	"an SSH key",
	"SELECT " KEY_COLS " FROM ssh_keys WHERE (id = ?1 OR name = ?1) AND (?2 IS NULL OR account_id = ?2)"
	" ORDER BY id = ?1 DESC LIMIT 1",
	/* the key "ACCOUNT.NAME" (neither holds a '.') compared as the pair it is */
	"SELECT " KEY_COLS ", account_id || '.' || name FROM ssh_keys WHERE (?3 IS NULL OR account_id = ?3)"
	" AND (?1 IS NULL OR (account_id, name) > (substr(?1, 1, instr(?1, '.') - 1), substr(?1, instr(?1, '.') + 1)))"
	" ORDER BY account_id, name LIMIT ?2",
	"DELETE FROM ssh_keys WHERE id = ?",
	key_json,
};

int ssh_key_create(struct controller *ctrl, const struct ssh_key_create_req *r, json_t **key, struct op_error *err)
{
	char id[40], type[32], why[160], bitstr[16];
	const char *p[6];
	int bits;

	*key = NULL;
	if (ssh_key_check(r->public_key, type, &bits, why, sizeof(why)) < 0)
		return op_fail(err, 400, "bad_field", "public_key: %s", why);
	if (util_new_id(id, sizeof(id), "key") < 0)
		return op_internal(err, "drawing an SSH key id");
	snprintf(bitstr, sizeof(bitstr), "%d", bits);
	p[0] = id, p[1] = r->account, p[2] = r->name, p[3] = r->public_key, p[4] = type, p[5] = bitstr;
	return named_insert(ctrl, &ssh_key_kind,
			    &(struct named_new){ id, "INSERT INTO ssh_keys VALUES (?, ?, ?, ?, ?, ?, strftime('%s','now'))",
						 p, 6, r->name, NULL, NULL }, key, err);
}

int ssh_key_delete(struct controller *ctrl, const struct op_ref *r, struct op_error *err)
{
	return named_delete(ctrl, &ssh_key_kind, r, NULL, NULL, NULL, NULL, err);
}

/* --- templates ----------------------------------------------------------------- */

#define TEMPLATE_COLS "id, account_id, name, format, public, url, sha256, size, initrd_url, initrd_sha256," \
		      " cmdline, min_disk_gib, created_at"

static json_t *template_json(struct db *db, sqlite3_stmt *st)
{
	(void)db;
	json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s?,s:s?}", "id", db_col_text(st, 0), "account",
				db_col_text(st, 1), "name", db_col_text(st, 2), "format", db_col_text(st, 3), "public",
				sqlite3_column_int(st, 4), "url", db_col_text(st, 5), "sha256", db_col_text(st, 6));

	if (doc == NULL)
		return NULL;
	json_object_set_new(doc, "size", sqlite3_column_type(st, 7) == SQLITE_NULL ? json_null()
										 : json_integer(sqlite3_column_int64(st, 7)));
	if (db_col_text(st, 8) && db_col_text(st, 8)[0])
		json_object_set_new(doc, "initrd", json_pack("{s:s,s:s?}", "url", db_col_text(st, 8), "sha256",
							     db_col_text(st, 9)));
	if (db_col_text(st, 10))
		json_object_set_new(doc, "cmdline", json_string(db_col_text(st, 10)));
	json_object_set_new(doc, "state", json_string(db_col_text(st, 5) == NULL ||
							    (db_col_text(st, 8) && db_col_text(st, 8)[0] == '\0')
						    ? "awaiting-upload" : "ready"));
	if (db_col_text(st, 8) && db_col_text(st, 8)[0] == '\0')
		json_object_set_new(doc, "initrd", json_pack("{s:n,s:n}", "url", "sha256"));
	json_object_set_new(doc, "min_disk_gib", json_integer(sqlite3_column_int64(st, 11)));
	json_object_set_new(doc, "created_at", util_time_json(sqlite3_column_int64(st, 12)));
	return doc;
}

/* a scope sees its own templates and the public ones; its own first when both have the name */
const struct named_kind template_kind = {
	"template",
	"a template",
	"SELECT " TEMPLATE_COLS " FROM templates WHERE (id = ?1 OR name = ?1)"
	" AND (?2 IS NULL OR account_id = ?2 OR public = 1) ORDER BY id = ?1 DESC, account_id = ?2 DESC LIMIT 1",
	/* the key "NAME.ID" (neither holds a '.') compared as the pair it is */
	"SELECT " TEMPLATE_COLS ", name || '.' || id FROM templates WHERE (?3 IS NULL OR account_id = ?3 OR public = 1)"
	" AND (?1 IS NULL OR (name, id) > (substr(?1, 1, instr(?1, '.') - 1), substr(?1, instr(?1, '.') + 1)))"
	" ORDER BY name, id LIMIT ?2",
	"DELETE FROM templates WHERE id = ?",
	template_json,
};

json_t *template_find(struct db *db, const char *ref, const char *scope)
{
	return named_find(db, &template_kind, ref, scope);
}

int template_create(struct controller *ctrl, const struct template_create_req *r, json_t **tpl, struct op_error *err)
{
	char id[40], size[24], min_disk[24], text[256];
	const char *p[12];

	*tpl = NULL;
	if ((r->url && template_url_check(ctrl, "url", r->url, err) < 0) ||
	    (r->initrd_url && r->initrd_url[0] && template_url_check(ctrl, "initrd.url", r->initrd_url, err) < 0))
		return -1;
	if (util_new_id(id, sizeof(id), "tpl") < 0)
		return op_internal(err, "drawing a template id");
	snprintf(size, sizeof(size), "%lld", r->size);
	snprintf(min_disk, sizeof(min_disk), "%lld", r->min_disk_gib);
	p[0] = id, p[1] = r->account, p[2] = r->name, p[3] = r->format, p[4] = r->public ? "1" : "0", p[5] = r->url;
	p[6] = r->sha256, p[7] = r->size > 0 ? size : NULL, p[8] = r->initrd_url, p[9] = r->initrd_sha256;
	p[10] = r->cmdline, p[11] = min_disk;
	snprintf(text, sizeof(text), "template %s (%s, %s) %s", id, r->name, r->format,
		 r->upload ? "created, awaiting its upload" : "registered");
	return named_insert(ctrl, &template_kind,
			    &(struct named_new){ id, "INSERT INTO templates (" TEMPLATE_COLS ") VALUES"
						     " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, strftime('%s','now'))",
						 p, 12, r->name, "template.created", text }, tpl, err);
}

/* A user key removes only its account's templates, not the public ones; none while an instance uses it. */
static int template_delete_check(struct db *db, const struct op_ref *r, json_t *doc, struct op_error *err)
{
	const char *id = json_string_value(json_object_get(doc, "id"));
	int users;

	if (r->scope && strcmp(json_string_value(json_object_get(doc, "account")), r->scope) != 0)
		return op_fail(err, 403, "forbidden", "template %.64s is public: only admin keys remove it", r->ref);
	users = named_count(db, "SELECT count(*) FROM instances WHERE template_id = ?", id);
	if (users < 0)
		return op_internal(err, "counting a template's instances");
	if (users)
		return op_fail(err, 409, "in_use", "template %s is used by %d instance(s)", id, users);
	return 0;
}

/* Removes an uploaded template's directory (files and partial uploads). */
static void template_files_remove(struct controller *ctrl, const char *id)
{
	static const char *const names[] = { "file", "initrd", "file.part", "initrd.part", NULL };
	char dir[PATH_MAX], path[PATH_MAX];

	if (fs_path(dir, sizeof(dir), "%s/templates/%s", ctrl->cfg.data_dir, id) < 0)
		return;
	for (const char *const *n = names; *n; n++)
		if (fs_path(path, sizeof(path), "%s/%s", dir, *n) == 0)
			unlink(path);
	rmdir(dir);
}

int template_delete(struct controller *ctrl, const struct op_ref *r, struct op_error *err)
{
	char id[40];

	if (named_delete(ctrl, &template_kind, r, template_delete_check, "template.deleted", "template %s removed", id,
			 err) < 0)
		return -1;
	template_files_remove(ctrl, id);
	return 0;
}

int template_upload_target(struct controller *ctrl, const struct op_ref *r, const char *part, char id[40],
			   char format[16], struct op_error *err)
{
	json_t *tpl, *initrd;
	int pending, rc = -1;

	if (named_show(ctrl, &template_kind, r, &tpl, err) < 0)
		return -1;
	initrd = json_object_get(tpl, "initrd");
	if (strcmp(part, "file") == 0)
		pending = json_is_null(json_object_get(tpl, "url")) || json_object_get(tpl, "url") == NULL;
	else
		pending = json_is_object(initrd) && json_is_null(json_object_get(initrd, "url"));
	if (r->scope && strcmp(json_string_value(json_object_get(tpl, "account")), r->scope) != 0) {
		op_fail(err, 403, "forbidden", "template %.64s belongs to another account", r->ref);
	} else if (!pending) {
		int has = strcmp(part, "file") == 0 || json_is_object(initrd);
		op_fail(err, 409, "conflict", has ? "template %s: its %s is in already (templates do not change: create another)"
						  : "template %s has no %s to upload (created without \"initrd\": {\"upload\": true})",
			json_string_value(json_object_get(tpl, "id")), part);
	} else {
		snprintf(id, 40, "%s", json_string_value(json_object_get(tpl, "id")));
		snprintf(format, 16, "%s", json_string_value(json_object_get(tpl, "format")));
		rc = 0;
	}
	json_decref(tpl);
	return rc;
}

int template_upload_done(struct controller *ctrl, const char *id, const char *part, const char *url,
			 const char *sha256, unsigned long long size, json_t **tpl, struct op_error *err)
{
	const char *p[4];
	char bytes[32];
	int rc = 0;

	*tpl = NULL;
	snprintf(bytes, sizeof(bytes), "%llu", size);
	p[0] = url, p[1] = sha256, p[2] = bytes, p[3] = id;
	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0 ||
	    db_exec(&ctrl->db, strcmp(part, "file") == 0 ? "UPDATE templates SET url = ?, sha256 = ?, size = ? WHERE id = ?"
							: "UPDATE templates SET initrd_url = ?1, initrd_sha256 = ?2 WHERE id = ?4", 4, p) < 0 ||
	    db_event(&ctrl->db, "template.uploaded", id, "template %s: %s uploaded, %llu bytes, sha256 %s", id, part, size,
		     sha256) < 0 ||
	    db_commit(&ctrl->db) < 0) {
		rc = op_internal(err, "recording an upload");
		db_rollback(&ctrl->db);
	} else {
		*tpl = named_find(&ctrl->db, &template_kind, id, NULL);
	}
	db_unlock(&ctrl->db);
	return rc;
}

int template_file_etag(struct controller *ctrl, const char *id, const char *part, char *etag, size_t etaglen,
		       struct op_error *err)
{
	sqlite3_stmt *st;

	etag[0] = '\0';
	db_lock(&ctrl->db);
	st = db_prepare(&ctrl->db, strcmp(part, "file") == 0 ? "SELECT sha256 FROM templates WHERE id = ? AND url IS NOT NULL"
							      : "SELECT initrd_sha256 FROM templates WHERE id = ? AND initrd_url != ''");
	if (st) {
		db_bind_text(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW && db_col_text(st, 0))
			snprintf(etag, etaglen, "\"sha256-%s\"", db_col_text(st, 0));
		sqlite3_finalize(st);
	}
	db_unlock(&ctrl->db);
	if (etag[0] == '\0')
		return op_fail(err, 404, "not_found", "no template file %.64s/%.16s", id, part);
	return 0;
}

/* --- instance types ------------------------------------------------------------ */

static json_t *type_json(struct db *db, sqlite3_stmt *st)
{
	(void)db;
	return json_pack("{s:s,s:I,s:I,s:I}", "name", db_col_text(st, 0), "vcpus", (json_int_t)sqlite3_column_int64(st, 1),
			 "memory_mib", (json_int_t)sqlite3_column_int64(st, 2), "disk_gib",
			 (json_int_t)sqlite3_column_int64(st, 3));
}

/* smallest first; the key keeps that order as text (sizes zero-padded) */
const struct named_kind instance_type_kind = {
	"instance type",
	"an instance type",
	"SELECT name, vcpus, memory_mib, disk_gib FROM instance_types WHERE name = ?1",
	"SELECT name, vcpus, memory_mib, disk_gib, k FROM (SELECT *,"
	" printf('%010d.%010d.%s', memory_mib, vcpus, name) AS k FROM instance_types)"
	" WHERE (?1 IS NULL OR k > ?1) ORDER BY k LIMIT ?2",
	NULL, /* by name: instance_type_delete */
	type_json,
};

int instance_type_set(struct controller *ctrl, const struct instance_type_req *r, json_t **type, struct op_error *err)
{
	sqlite3_stmt *st;
	int rc = -1;

	*type = NULL;
	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0 ||
	    (st = db_prepare(&ctrl->db, "INSERT INTO instance_types VALUES (?1, ?2, ?3, ?4, strftime('%s','now'))"
				       " ON CONFLICT(name) DO UPDATE SET vcpus = ?2, memory_mib = ?3, disk_gib = ?4")) == NULL) {
		op_internal(err, "setting an instance type");
		db_rollback(&ctrl->db);
		goto out;
	}
	db_bind_text(st, 1, r->name);
	sqlite3_bind_int64(st, 2, r->vcpus);
	sqlite3_bind_int64(st, 3, r->memory_mib);
	sqlite3_bind_int64(st, 4, r->disk_gib);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	if (rc < 0 || db_event(&ctrl->db, "instance_type.set", r->name, "instance type %s: %lld vCPU, %lld MiB, %lld GiB (by %s)",
			       r->name, r->vcpus, r->memory_mib, r->disk_gib, r->actor) < 0 || db_commit(&ctrl->db) < 0) {
		errno = rc < 0 ? EIO : errno;
		rc = op_internal(err, "setting an instance type");
		db_rollback(&ctrl->db);
		goto out;
	}
	*type = named_find(&ctrl->db, &instance_type_kind, r->name, NULL);
	rc = *type ? 0 : op_internal(err, "reading the instance type");
out:
	db_unlock(&ctrl->db);
	return rc;
}

int instance_type_delete(struct controller *ctrl, const struct op_ref *r, struct op_error *err)
{
	char missing[96], text[160];

	snprintf(missing, sizeof(missing), "no instance type %.64s", r->ref);
	snprintf(text, sizeof(text), "instance type %s deleted by %s", r->ref, r->actor);
	return named_change(ctrl, "DELETE FROM instance_types WHERE name = ?", 1, &r->ref, missing, "instance_type.deleted",
			    r->ref, text, err);
}
