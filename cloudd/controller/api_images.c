/* api_images.c -- /v1/images: list, show, publish from a directory (an operation), set default, delete */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller.h"
#include "fsutil.h"

static const char publish_schema[] =
	"{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"source\"],\"properties\":{"
	"\"source\":{\"type\":\"string\",\"description\":\"directory on the controller host with vmlinuz, "
	"initramfs.img, SHA256SUMS and optionally manifest.json, boot.ipxe (e.g. the out/ of build.sh)\"},"
	"\"version\":{\"type\":\"string\",\"description\":\"default: image_version of manifest.json\"}}}";
static const char default_schema[] =
	"{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"version\"],\"properties\":{"
	"\"version\":{\"type\":\"string\"}}}";

#define IMAGE_COLS "i.version, i.kernel_sha256, i.initrd_sha256, i.kernel_size, i.initrd_size, i.created_at," \
		   " (SELECT count(*) FROM machines m WHERE m.image_version = i.version)"

static json_t *image_json(sqlite3_stmt *st, const char *def)
{
	const char *v = db_col_text(st, 0);

	return json_pack("{s:s,s:b,s:{s:{s:I,s:s},s:{s:I,s:s}},s:o,s:I}", "version", v, "default",
			 strcmp(v, def) == 0, "files", "vmlinuz", "size", (json_int_t)sqlite3_column_int64(st, 3),
			 "sha256", db_col_text(st, 1), "initramfs.img", "size",
			 (json_int_t)sqlite3_column_int64(st, 4), "sha256", db_col_text(st, 2), "created_at",
			 util_time_json(sqlite3_column_int64(st, 5)), "pinned_machines",
			 (json_int_t)sqlite3_column_int64(st, 6));
}

static json_t *image_find(struct db *db, const char *version)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " IMAGE_COLS " FROM images i WHERE version = ?");
	char def[80];
	json_t *doc = NULL;

	if (st == NULL)
		return NULL;
	images_default(db, def, sizeof(def));
	db_bind_text(st, 1, version);
	if (sqlite3_step(st) == SQLITE_ROW)
		doc = image_json(st, def);
	sqlite3_finalize(st);
	return doc;
}

static json_t *image_row(struct db *db, sqlite3_stmt *st, void *ctx)
{
	(void)db;
	return image_json(st, ctx);
}

static int images_list(struct controller *ctrl, const struct auth_principal *who,
		       struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "limit", "cursor", NULL };
	char def[80];
	struct api_list l = { "SELECT " IMAGE_COLS ", i.version FROM images i WHERE (?1 IS NULL OR version > ?1)"
			      " ORDER BY version LIMIT ?2", NULL, 0, image_row, NULL, def, 0 };

	(void)who;
	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	db_lock(&ctrl->db);
	images_default(&ctrl->db, def, sizeof(def));
	db_unlock(&ctrl->db);
	return api_list_page(ctrl, req, resp, &l);
}

static int images_show(struct controller *ctrl, const struct auth_principal *who,
		       struct httpd_request *req, struct httpd_response *resp)
{
	const char *version = httpd_param(req, "version");
	json_t *doc;

	(void)who;
	db_lock(&ctrl->db);
	doc = image_find(&ctrl->db, version);
	db_unlock(&ctrl->db);
	if (doc == NULL)
		return httpd_reply_error(resp, 404, "not_found", "no image %.64s", version);
	return httpd_reply_json(resp, 200, doc);
}

/* The version named by manifest.json's image_version, or "" . */
static void images_manifest_version(const char *dir, char *out, size_t outlen)
{
	char path[PATH_MAX];
	struct buf text = BUF_INIT;
	json_t *m;

	out[0] = '\0';
	if (fs_path(path, sizeof(path), "%s/manifest.json", dir) < 0 || fs_read_file(path, 4 << 20, &text) < 0)
		return;
	m = json_loadb(text.data, text.len, 0, NULL);
	if (json_is_string(json_object_get(m, "image_version")))
		snprintf(out, outlen, "%s", json_string_value(json_object_get(m, "image_version")));
	json_decref(m);
	buf_free(&text);
}

static int images_publish(struct controller *ctrl, const struct auth_principal *who,
			  struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "source", "version", NULL };
	json_t *doc, *src, *ver, *op = NULL;
	char version[80], op_id[40];
	const char *source;
	struct stat sb;
	int rc = 0;

	(void)who;
	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0)
		goto out;
	src = json_object_get(doc, "source");
	ver = json_object_get(doc, "version");
	if (src == NULL) {
		httpd_reply_error(resp, 400, "missing_field", "source: required");
		goto out;
	}
	if (!json_is_string(src) || json_string_length(src) >= PATH_MAX - 64 ||
	    strlen(json_string_value(src)) != json_string_length(src)) {
		httpd_reply_error(resp, 400, "bad_field", "source: expected a directory path");
		goto out;
	}
	if (ver && (!json_is_string(ver) || !util_version_valid(json_string_value(ver)))) {
		httpd_reply_error(resp, 400, "bad_field",
				  "version: expected 1-64 of A-Z a-z 0-9 . _ + - starting with a letter or digit (not \"default\")");
		goto out;
	}
	source = json_string_value(src);
	if (source[0] != '/') {
		httpd_reply_error(resp, 422, "bad_source", "source: not an absolute path on the controller host: %.128s", source);
		goto out;
	}
	if (stat(source, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		httpd_reply_error(resp, 422, "bad_source", "source: %.128s is not a directory on the controller host", source);
		goto out;
	}
	if (ver)
		snprintf(version, sizeof(version), "%s", json_string_value(ver));
	else
		images_manifest_version(source, version, sizeof(version));
	if (!util_version_valid(version)) {
		httpd_reply_error(resp, 422, "no_version",
				  "version: not given and %.128s/manifest.json has no usable image_version (\"%.64s\")",
				  source, version);
		goto out;
	}
	db_lock(&ctrl->db);
	op = image_find(&ctrl->db, version);
	if (op) {
		db_unlock(&ctrl->db);
		httpd_reply_error(resp, 409, "conflict", "image %s is already published; versions are immutable", version);
		goto out;
	}
	if (db_begin(&ctrl->db) < 0 || api_operation_create(&ctrl->db, "image.publish", version, op_id) < 0 ||
	    db_commit(&ctrl->db) < 0) {
		db_rollback(&ctrl->db);
		db_unlock(&ctrl->db);
		rc = -1;
		goto out;
	}
	db_unlock(&ctrl->db);
	if (images_import_start(ctrl, version, source, op_id) < 0) {
		int busy = errno == EEXIST;
		db_lock(&ctrl->db);
		if (db_begin(&ctrl->db) == 0) {
			api_operation_finish(&ctrl->db, op_id, 0, busy ? "an import of this version is running" : strerror(errno));
			db_commit(&ctrl->db);
		}
		db_unlock(&ctrl->db);
		if (busy)
			httpd_reply_error(resp, 409, "conflict", "an import of image %s is already running", version);
		else
			rc = -1;
		goto out;
	}
	{
		char loc[80];
		snprintf(loc, sizeof(loc), "/v1/operations/%s", op_id);
		httpd_add_header(resp, "Location", loc);
	}
	rc = httpd_reply_json(resp, 202, json_pack("{s:s,s:s,s:s,s:s}", "id", op_id, "type", "image.publish",
						   "target", version, "state", "pending"));
out:
	json_decref(op);
	json_decref(doc);
	return rc;
}

static int images_set_default(struct controller *ctrl, const struct auth_principal *who,
			      struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "version", NULL };
	json_t *doc, *v, *img = NULL;
	int rc = 0;

	(void)who;
	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0)
		goto out;
	v = json_object_get(doc, "version");
	if (v == NULL) {
		httpd_reply_error(resp, 400, "missing_field", "version: required");
		goto out;
	}
	if (!json_is_string(v) || !util_version_valid(json_string_value(v))) {
		httpd_reply_error(resp, 400, "bad_field", "version: expected an image version string");
		goto out;
	}
	db_lock(&ctrl->db);
	img = image_find(&ctrl->db, json_string_value(v));
	if (img == NULL) {
		db_unlock(&ctrl->db);
		httpd_reply_error(resp, 422, "unknown_image", "version: no published image %s", json_string_value(v));
		goto out;
	}
	{
		const char *p[1] = { json_string_value(v) };
		if (db_begin(&ctrl->db) < 0 ||
		    db_exec(&ctrl->db, "INSERT OR REPLACE INTO settings VALUES ('default_image', ?)", 1, p) < 0 ||
		    db_event(&ctrl->db, "image.default", p[0], "image %s is the default", p[0]) < 0 ||
		    db_commit(&ctrl->db) < 0) {
			db_rollback(&ctrl->db);
			rc = -1;
		}
	}
	json_decref(img);
	img = rc == 0 ? image_find(&ctrl->db, json_string_value(v)) : NULL;
	db_unlock(&ctrl->db);
	if (img) {
		rc = httpd_reply_json(resp, 200, img);
		img = NULL;
	} else {
		rc = -1;
	}
out:
	json_decref(img);
	json_decref(doc);
	return rc;
}

static int images_delete(struct controller *ctrl, const struct auth_principal *who,
			 struct httpd_request *req, struct httpd_response *resp)
{
	const char *version = httpd_param(req, "version");
	char def[80], dir[PATH_MAX], trash[PATH_MAX];
	json_t *img;
	int rc = 0;

	(void)who;
	db_lock(&ctrl->db);
	img = image_find(&ctrl->db, version);
	images_default(&ctrl->db, def, sizeof(def));
	if (img == NULL) {
		db_unlock(&ctrl->db);
		return httpd_reply_error(resp, 404, "not_found", "no image %.64s", version);
	}
	if (strcmp(def, version) == 0 || json_integer_value(json_object_get(img, "pinned_machines")) > 0) {
		db_unlock(&ctrl->db);
		rc = httpd_reply_error(resp, 409, "conflict", "image %s is %s", version,
				       strcmp(def, version) == 0 ? "the default; set another default first"
								 : "pinned by machines; unpin them first");
		json_decref(img);
		return rc;
	}
	{
		const char *p[1] = { version };
		if (db_begin(&ctrl->db) < 0 || db_exec(&ctrl->db, "DELETE FROM images WHERE version = ?", 1, p) < 0 ||
		    db_event(&ctrl->db, "image.deleted", version, "image %s deleted", version) < 0 ||
		    db_commit(&ctrl->db) < 0) {
			db_rollback(&ctrl->db);
			rc = -1;
		}
	}
	db_unlock(&ctrl->db);
	json_decref(img);
	if (rc < 0)
		return -1;
	/* move aside first so that a half-deleted directory is never served */
	if (fs_path(dir, sizeof(dir), "%s/%s", ctrl->images_dir, version) == 0 &&
	    fs_path(trash, sizeof(trash), "%s/.deleted-%s", ctrl->images_dir, version) == 0 &&
	    rename(dir, trash) == 0) {
		char path[PATH_MAX];
		const char *const files[] = { "vmlinuz", "initramfs.img", "SHA256SUMS", "manifest.json", "boot.ipxe" };
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			if (fs_path(path, sizeof(path), "%s/%s", trash, files[i]) == 0)
				unlink(path);
		rmdir(trash);
	}
	resp->status = 204;
	return 0;
}

int api_images_register(struct controller *ctrl)
{
	if (api_route(ctrl, "GET", "/v1/images", images_list, API_ADMIN | API_CACHE,
		      "published image versions with sizes, checksums and which is the default", NULL) < 0 ||
	    api_route(ctrl, "POST", "/v1/images", images_publish, API_ADMIN,
		      "publish an image version from a directory on the controller host; returns an operation (202)",
		      publish_schema) < 0 ||
	    api_route(ctrl, "PUT", "/v1/images/default", images_set_default, API_ADMIN,
		      "set the default image version (machines without a pin boot it)", default_schema) < 0 ||
	    api_route(ctrl, "GET", "/v1/images/{version}", images_show, API_ADMIN, "one image version", NULL) < 0 ||
	    api_route(ctrl, "DELETE", "/v1/images/{version}", images_delete, API_ADMIN,
		      "delete an image version that is neither the default nor pinned (204; 409 otherwise)", NULL) < 0)
		return -1;
	return 0;
}
