/* api_images.c -- /v1/images: list, show, publish from a directory (an operation), set default, delete */
#include <stdio.h>
#include <string.h>

#include "ops.h"

static const char publish_schema[] =
	"{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"source\"],\"properties\":{"
	"\"source\":{\"type\":\"string\",\"description\":\"directory on the controller host with vmlinuz, "
	"initramfs.img, SHA256SUMS and optionally manifest.json, boot.ipxe (e.g. the out/ of build.sh)\"},"
	"\"version\":{\"type\":\"string\",\"description\":\"default: image_version of manifest.json\"}}}";
static const char default_schema[] =
	"{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"version\"],\"properties\":{"
	"\"version\":{\"type\":\"string\"}}}";

/* A row of a listing: the default version is read once, under the listing's lock. */
struct image_list_ctx {
	int loaded;
	char def[80];
};

static json_t *image_row(struct db *db, sqlite3_stmt *st, void *ctx)
{
	struct image_list_ctx *l = ctx;

	if (!l->loaded) {
		images_default(db, l->def, sizeof(l->def));
		l->loaded = 1;
	}
	return image_json(st, l->def);
}

static int images_list(struct controller *ctrl, const struct auth_principal *who,
		       struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "limit", "cursor", NULL };
	struct image_list_ctx ctx = { 0, "" };
	struct api_list l = { "SELECT " IMAGE_COLS ", i.version FROM images i WHERE (?1 IS NULL OR version > ?1)"
			      " ORDER BY version LIMIT ?2", NULL, 0, image_row, NULL, &ctx, 0 };

	(void)who;
	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	return api_list_page(ctrl, req, resp, &l);
}

static int images_show(struct controller *ctrl, const struct auth_principal *who,
		       struct httpd_request *req, struct httpd_response *resp)
{
	const char *version = httpd_param(req, "version");
	json_t *doc;

	(void)who;
	doc = op_get(ctrl, image_find, version, NULL);
	if (doc == NULL)
		return httpd_reply_error(resp, 404, "not_found", "no image %.64s", version);
	return httpd_reply_json(resp, 200, doc);
}

static int images_publish(struct controller *ctrl, const struct auth_principal *who,
			  struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "source", "version", NULL };
	struct image_publish_req r;
	struct image_publish_started started;
	struct op_error err;
	json_t *doc, *src, *ver;
	char loc[80];
	int rc = 0;

	(void)who;
	if (op_parse_request(req, resp, fields, &doc) < 0)
		return 0;
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
	r.source = json_string_value(src);
	r.version = json_string_value(ver);
	if (image_publish(ctrl, &r, &started, &err) < 0) {
		rc = op_reply_error(resp, &err);
		goto out;
	}
	snprintf(loc, sizeof(loc), "/v1/operations/%s", started.operation_id);
	httpd_add_header(resp, "Location", loc);
	rc = httpd_reply_json(resp, 202, json_pack("{s:s,s:s,s:s,s:s}", "id", started.operation_id, "type",
						   "image.publish", "target", started.version, "state", "pending"));
out:
	json_decref(doc);
	return rc;
}

static int images_set_default(struct controller *ctrl, const struct auth_principal *who,
			      struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "version", NULL };
	struct op_error err;
	json_t *doc, *v, *img;
	int rc = 0;

	(void)who;
	if (op_parse_request(req, resp, fields, &doc) < 0)
		return 0;
	v = json_object_get(doc, "version");
	if (v == NULL)
		httpd_reply_error(resp, 400, "missing_field", "version: required");
	else if (!json_is_string(v) || !util_version_valid(json_string_value(v)))
		httpd_reply_error(resp, 400, "bad_field", "version: expected an image version string");
	else if (image_set_default(ctrl, json_string_value(v), &img, &err) < 0)
		rc = op_reply_error(resp, &err);
	else
		rc = httpd_reply_json(resp, 200, img);
	json_decref(doc);
	return rc;
}

static int images_delete(struct controller *ctrl, const struct auth_principal *who,
			 struct httpd_request *req, struct httpd_response *resp)
{
	return op_reply_deleted(ctrl, who, req, resp, "version", image_delete);
}

static const struct api_route_def image_routes[] = {
	{ "GET", "/v1/images", images_list, API_ADMIN | API_CACHE,
	  "published image versions with sizes, checksums and which is the default", NULL },
	{ "POST", "/v1/images", images_publish, API_ADMIN,
	  "publish an image version from a directory on the controller host; returns an operation (202)",
	  publish_schema },
	{ "PUT", "/v1/images/default", images_set_default, API_ADMIN,
	  "set the default image version (machines without a pin boot it)", default_schema },
	{ "GET", "/v1/images/{version}", images_show, API_ADMIN, "one image version", NULL },
	{ "DELETE", "/v1/images/{version}", images_delete, API_ADMIN,
	  "delete an image version that is neither the default nor pinned (204; 409 otherwise)", NULL },
};

int api_images_register(struct controller *ctrl)
{
	return API_ROUTE_TABLE(ctrl, image_routes, NULL);
}
