/* ops_images.c -- image operations: publish a version from a directory (an operation), set the default, delete */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "ops.h"

json_t *image_json(sqlite3_stmt *st, void *def)
{
	const char *v = db_col_text(st, 0);

	return json_pack("{s:s,s:b,s:{s:{s:I,s:s},s:{s:I,s:s}},s:o,s:I}", "version", v, "default",
			 strcmp(v, def) == 0, "files", "vmlinuz", "size", (json_int_t)sqlite3_column_int64(st, 3),
			 "sha256", db_col_text(st, 1), "initramfs.img", "size",
			 (json_int_t)sqlite3_column_int64(st, 4), "sha256", db_col_text(st, 2), "created_at",
			 util_time_json(sqlite3_column_int64(st, 5)), "pinned_machines",
			 (json_int_t)sqlite3_column_int64(st, 6));
}

json_t *image_find(struct db *db, const char *version, const char *scope)
{
	char def[80];

	(void)scope;
	images_default(db, def, sizeof(def));
	return op_find_row(db, "SELECT " IMAGE_COLS " FROM images i WHERE version = ?", &version, 1, image_json, def);
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

/* Inside the transaction: the publication's operation, unless the version is published. */
static int image_publish_body(struct controller *ctrl, void *ctx, struct op_error *err)
{
	struct image_publish_started *out = ctx;
	json_t *img = image_find(&ctrl->db, out->version, NULL);

	if (img) {
		json_decref(img);
		return op_fail(err, 409, "conflict", "image %s is already published; versions are immutable", out->version);
	}
	if (api_operation_create(&ctrl->db, "image.publish", out->version, out->operation_id) < 0)
		return op_internal(err, "creating the publication's operation");
	return 0;
}

/* Inside the transaction: a publication that could not start ends at once (ctx: why). */
static int image_publish_failed(struct controller *ctrl, void *ctx, struct op_error *err)
{
	const char **why = ctx;

	(void)err;
	return api_operation_finish(&ctrl->db, why[0], 0, why[1]) < 0 ? -1 : 0;
}

int image_publish(struct controller *ctrl, const struct image_publish_req *r, struct image_publish_started *out,
		  struct op_error *err)
{
	struct op_error ignored;
	struct stat sb;
	const char *why[2];
	int saved;

	memset(out, 0, sizeof(*out));
	if (r->source[0] != '/')
		return op_fail(err, 422, "bad_source", "source: not an absolute path on the controller host: %.128s",
			       r->source);
	if (stat(r->source, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return op_fail(err, 422, "bad_source", "source: %.128s is not a directory on the controller host", r->source);
	if (r->version)
		snprintf(out->version, sizeof(out->version), "%s", r->version);
	else
		images_manifest_version(r->source, out->version, sizeof(out->version));
	if (!util_version_valid(out->version))
		return op_fail(err, 422, "no_version",
			       "version: not given and %.128s/manifest.json has no usable image_version (\"%.64s\")",
			       r->source, out->version);
	if (op_transaction(ctrl, image_publish_body, out, "publishing an image", err) < 0)
		return -1;
	if (images_import_start(ctrl, out->version, r->source, out->operation_id) == 0)
		return 0;
	saved = errno;
	why[0] = out->operation_id;
	why[1] = saved == EEXIST ? "an import of this version is running" : strerror(saved);
	op_transaction(ctrl, image_publish_failed, why, "ending the publication's operation", &ignored);
	if (saved == EEXIST)
		return op_fail(err, 409, "conflict", "an import of image %s is already running", out->version);
	errno = saved;
	return op_internal(err, "starting an image import");
}

struct image_default_txn {
	const char *version;
	json_t *image; /* the image once it is the default */
};

static int image_set_default_body(struct controller *ctrl, void *ctx, struct op_error *err)
{
	struct image_default_txn *t = ctx;
	const char *p[1] = { t->version };
	json_t *img = image_find(&ctrl->db, t->version, NULL);

	if (img == NULL)
		return op_fail(err, 422, "unknown_image", "version: no published image %s", t->version);
	json_decref(img);
	if (db_exec(&ctrl->db, "INSERT OR REPLACE INTO settings VALUES ('default_image', ?)", 1, p) < 0 ||
	    db_event(&ctrl->db, "image.default", t->version, "image %s is the default", t->version) < 0)
		return op_internal(err, "setting the default image");
	t->image = image_find(&ctrl->db, t->version, NULL);
	return t->image ? 0 : op_internal(err, "reading the default image");
}

int image_set_default(struct controller *ctrl, const char *version, json_t **image, struct op_error *err)
{
	struct image_default_txn t = { version, NULL };

	*image = NULL;
	if (op_transaction(ctrl, image_set_default_body, &t, "setting the default image", err) < 0) {
		json_decref(t.image);
		return -1;
	}
	*image = t.image;
	return 0;
}

static int image_delete_body(struct controller *ctrl, void *ctx, struct op_error *err)
{
	const char *version = ctx;
	const char *p[1] = { version };
	json_t *img = image_find(&ctrl->db, version, NULL);
	char def[80];
	int pinned;

	if (img == NULL)
		return op_fail(err, 404, "not_found", "no image %.64s", version);
	pinned = json_integer_value(json_object_get(img, "pinned_machines")) > 0;
	json_decref(img);
	images_default(&ctrl->db, def, sizeof(def));
	if (strcmp(def, version) == 0 || pinned)
		return op_fail(err, 409, "conflict", "image %s is %s", version,
			       strcmp(def, version) == 0 ? "the default; set another default first"
							 : "pinned by machines; unpin them first");
	if (db_exec(&ctrl->db, "DELETE FROM images WHERE version = ?", 1, p) < 0 ||
	    db_event(&ctrl->db, "image.deleted", version, "image %s deleted", version) < 0)
		return op_internal(err, "deleting an image");
	return 0;
}

int image_delete(struct controller *ctrl, const struct op_ref *ref, struct op_error *err)
{
	const char *version = ref->ref;
	char dir[PATH_MAX], trash[PATH_MAX];

	if (op_transaction(ctrl, image_delete_body, (void *)version, "deleting an image", err) < 0)
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
	return 0;
}
