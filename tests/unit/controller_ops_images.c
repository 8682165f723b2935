/* controller_ops_images.c -- image operations without HTTP: publish's refusals and its operation, the default, delete */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller_fixture.h"
#include "unit.h"

/* A controller with images v1 (the default) and v2, and an images directory. */
static struct controller *setup(void)
{
	struct controller *ctrl = fixture_open("INSERT INTO images VALUES ('v1', 'k1', 'i1', 1, 2, NULL, 0),"
					       " ('v2', 'k2', 'i2', 3, 4, NULL, 0);"
					       "INSERT INTO settings VALUES ('default_image', 'v1');");

	if (fs_path(ctrl->images_dir, sizeof(ctrl->images_dir), "%s/images", fixture_dir) < 0 ||
	    mkdir(ctrl->images_dir, 0755) < 0)
		abort();
	return ctrl;
}

/* Writes text to dir/name. */
static int put(const char *d, const char *name, const char *text)
{
	char path[256];

	if (fs_path(path, sizeof(path), "%s/%s", d, name) < 0)
		return -1;
	return fs_write_atomic(path, text, strlen(text), 0644);
}

/* The operation's state, "" when there is none. */
static const char *op_state(struct controller *ctrl, const char *id, char out[16])
{
	json_t *op;

	db_lock(&ctrl->db);
	op = api_operation_find(&ctrl->db, id);
	db_unlock(&ctrl->db);
	snprintf(out, 16, "%s", op ? json_string_value(json_object_get(op, "state")) : "");
	json_decref(op);
	return out;
}

TEST(image_default_delete)
{
	struct controller *ctrl = setup();
	struct op_ref v1 = { "v1", NULL, "ak-admin" }, v2 = { "v2", NULL, "ak-admin" }, v9 = { "v9", NULL, "ak-admin" };
	struct op_error err = { 0 };
	char path[128];
	json_t *img = NULL;

	CHECK(fixture_refused(image_set_default(ctrl, "v9", &img, &err), &err, 422, "unknown_image", "no published image v9"));
	CHECK(img == NULL);
	CHECK(fixture_refused(image_delete(ctrl, &v9, &err), &err, 404, "not_found", "no image v9"));
	CHECK(fixture_refused(image_delete(ctrl, &v1, &err), &err, 409, "conflict", "the default"));
	CHECK_INT(sqlite3_exec(ctrl->db.h, "INSERT INTO machines (id, mac, role, image_version, created_at, updated_at)"
					   " VALUES ('m-1', '52:54:00:00:00:01', 'hypervisor', 'v2', 0, 0)", NULL, NULL, NULL),
		  SQLITE_OK);
	CHECK(fixture_refused(image_delete(ctrl, &v2, &err), &err, 409, "conflict", "pinned by machines"));

	CHECK_INT(image_set_default(ctrl, "v2", &img, &err), 0);
	CHECK(json_is_true(json_object_get(img, "default")));
	CHECK_INT((int)json_integer_value(json_object_get(img, "pinned_machines")), 1);
	json_decref(img);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'image.default'"), 1);

	/* v1 is neither the default nor pinned now: its row and its files go */
	snprintf(path, sizeof(path), "%s/images/v1", fixture_dir);
	CHECK_INT(mkdir(path, 0755), 0);
	CHECK_INT(put(path, "vmlinuz", "kernel"), 0);
	CHECK_INT(image_delete(ctrl, &v1, &err), 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM images WHERE version = 'v1'"), 0);
	CHECK(access(path, F_OK) < 0);
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM events WHERE type = 'image.deleted'"), 1);
	fixture_close(ctrl);
}

TEST(image_publish_refusals)
{
	struct controller *ctrl = setup();
	struct image_publish_started started;
	struct op_error err = { 0 };
	char src[128], busy[160], state[16];

	snprintf(src, sizeof(src), "%s/src", fixture_dir);
	CHECK_INT(mkdir(src, 0755), 0);
	CHECK(fixture_refused(image_publish(ctrl, &(struct image_publish_req){ "relative/dir", "v3" }, &started, &err), &err, 422,
		      "bad_source", "not an absolute path"));
	CHECK(fixture_refused(image_publish(ctrl, &(struct image_publish_req){ "/nonexistent/dir", "v3" }, &started, &err), &err,
		      422, "bad_source", "is not a directory"));
	/* no version given and no manifest.json naming one */
	CHECK(fixture_refused(image_publish(ctrl, &(struct image_publish_req){ src, NULL }, &started, &err), &err, 422,
		      "no_version", "no usable image_version"));
	CHECK(fixture_refused(image_publish(ctrl, &(struct image_publish_req){ src, "v1" }, &started, &err), &err, 409, "conflict",
		      "already published"));
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM operations"), 0);

	/* an import of the version is running: the new operation fails at once */
	snprintf(busy, sizeof(busy), "%s/images/.import-v3", fixture_dir);
	CHECK_INT(mkdir(busy, 0755), 0);
	CHECK(fixture_refused(image_publish(ctrl, &(struct image_publish_req){ src, "v3" }, &started, &err), &err, 409, "conflict",
		      "an import of image v3 is already running"));
	CHECK_INT((int)fixture_int(&ctrl->db, "SELECT count(*) FROM operations WHERE state = 'failure'"
					  " AND reason = 'an import of this version is running'"), 1);
	CHECK_INT(rmdir(busy), 0);

	/* started: the version from manifest.json, an operation pending until the import ends (here: it fails, no files) */
	CHECK_INT(put(src, "manifest.json", "{\"image_version\":\"v4\"}"), 0);
	CHECK_INT(image_publish(ctrl, &(struct image_publish_req){ src, NULL }, &started, &err), 0);
	CHECK_STR(started.version, "v4");
	CHECK(started.operation_id[0] != '\0');
	for (int i = 0; i < 500 && strcmp(op_state(ctrl, started.operation_id, state), "pending") == 0; i++)
		usleep(10000);
	CHECK_STR(op_state(ctrl, started.operation_id, state), "failure");
	usleep(50000); /* the import thread lets go of the job after it unlocks */
	fixture_close(ctrl);
}
