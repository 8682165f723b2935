/* api_templates.c -- /v1/templates: disk (raw, qcow2) and kernel+initrd templates, registered by URL or uploaded */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "fsutil.h"
#include "ops.h"
#include "sign.h"

/*
 * An uploaded template is created with "upload": true and no URL; its files
 * are then PUT to /v1/templates/{id}/file (the disk, or the kernel) and, for a
 * kernel template created with "initrd": {"upload": true}, /initrd. They are
 * streamed to DATA/templates/<id>/<part>.part, hashed on the way, and renamed
 * into place once complete and equal to the digest the client signed; the
 * template's url then points at the controller (GET /templates/<id>/<part>),
 * which is where nodes fetch it. A pending initrd is an empty initrd_url.
 */
#define TEMPLATE_UPLOAD_MAX (64ULL << 30)  /* bytes of one uploaded file */
#define TEMPLATE_UPLOAD_RESERVE (1ULL << 30) /* bytes left free on the data directory's filesystem */

static int url_valid(const char *u)
{
	if (strncmp(u, "http://", 7) != 0 || strlen(u) < 9 || strlen(u) > 1024)
		return 0;
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == '"' || *p == '\\' || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

static int sha_valid(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

static int templates_create(struct controller *ctrl, const struct auth_principal *who,
			    struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "name", "format", "url", "sha256", "size", "initrd", "cmdline",
					      "min_disk_gib", "public", "account", "upload", NULL };
	const char *name, *format, *url = NULL, *sha = NULL, *cmdline, *iurl = NULL, *isha = NULL;
	char account[40];
	struct op_error err;
	json_t *doc, *v, *tpl = NULL;
	long long size = -1, min_disk = 0;
	int pub = 0, rc = 0, upload = 0;

	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if ((v = json_object_get(doc, "upload")) && !json_is_boolean(v)) {
		httpd_reply_error(resp, 400, "bad_field", "upload: expected true or false");
		goto out;
	}
	upload = json_is_true(v);
	if (upload && (json_object_get(doc, "url") || json_object_get(doc, "sha256") || json_object_get(doc, "size"))) {
		httpd_reply_error(resp, 400, "bad_field", "upload: a template is uploaded or has a url, sha256 and size, not both");
		goto out;
	}
	if (api_check_fields(doc, fields, resp) < 0 || api_get_string(doc, "name", 1, 63, &name, resp) < 0 ||
	    api_get_string(doc, "format", 1, 16, &format, resp) < 0 ||
	    (!upload && (api_get_string(doc, "url", 1, 1024, &url, resp) < 0 ||
			 api_get_string(doc, "sha256", 1, 64, &sha, resp) < 0)) ||
	    api_get_string(doc, "cmdline", 0, 1024, &cmdline, resp) < 0 ||
	    named_create_check(ctrl, who, doc, name, account, resp) < 0)
		goto out;
	if (strcmp(format, "raw") != 0 && strcmp(format, "qcow2") != 0 && strcmp(format, "kernel") != 0) {
		httpd_reply_error(resp, 400, "bad_field", "format: raw, qcow2 or kernel, got \"%.16s\"", format);
		goto out;
	}
	if (!upload && !url_valid(url)) {
		httpd_reply_error(resp, 400, "bad_field", "url: expected an http:// URL without spaces or quotes");
		goto out;
	}
	if (!upload && !sha_valid(sha)) {
		httpd_reply_error(resp, 400, "bad_field", "sha256: expected 64 lower-case hex digits");
		goto out;
	}
	if ((v = json_object_get(doc, "size"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			httpd_reply_error(resp, 400, "bad_field", "size: expected a positive integer (bytes)");
			goto out;
		}
		size = json_integer_value(v);
	}
	if ((v = json_object_get(doc, "min_disk_gib"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65536) {
			httpd_reply_error(resp, 400, "bad_field", "min_disk_gib: expected an integer 0..65536");
			goto out;
		}
		min_disk = json_integer_value(v);
	}
	if ((v = json_object_get(doc, "public"))) {
		if (!json_is_boolean(v)) {
			httpd_reply_error(resp, 400, "bad_field", "public: expected true or false");
			goto out;
		}
		pub = json_is_true(v);
		if (pub && who->role != AUTH_ROLE_ADMIN) {
			httpd_reply_error(resp, 403, "forbidden", "public: only admin keys publish templates to every account");
			goto out;
		}
	}
	if ((v = json_object_get(doc, "initrd"))) {
		if (strcmp(format, "kernel") != 0) {
			httpd_reply_error(resp, 400, "bad_field", "initrd: only with format kernel");
			goto out;
		}
		if (upload) {
			if (!json_is_object(v) || json_object_size(v) != 1 || !json_is_true(json_object_get(v, "upload"))) {
				httpd_reply_error(resp, 400, "bad_field", "initrd: an uploaded template's initrd is {\"upload\": true}");
				goto out;
			}
			iurl = ""; /* pending */
			goto initrd_done;
		}
		if (!json_is_object(v) || api_check_fields(v, (const char *const[]){ "url", "sha256", NULL }, resp) < 0) {
			if (resp->body.len == 0)
				httpd_reply_error(resp, 400, "bad_field", "initrd: expected {\"url\":...,\"sha256\":...}");
			goto out;
		}
		iurl = json_string_value(json_object_get(v, "url"));
		isha = json_string_value(json_object_get(v, "sha256"));
		if (iurl == NULL || !url_valid(iurl) || isha == NULL || !sha_valid(isha)) {
			httpd_reply_error(resp, 400, "bad_field", "initrd: url (http://) and sha256 (64 hex digits) required");
			goto out;
		}
	}
initrd_done:
	if (cmdline && strcmp(format, "kernel") != 0) {
		httpd_reply_error(resp, 400, "bad_field", "cmdline: only with format kernel");
		goto out;
	}
	{
		struct template_create_req r = { account, name, format, url, sha, iurl, isha, cmdline, size, min_disk, pub, upload };
		rc = op_reply(resp, template_create(ctrl, &r, &tpl, &err), &err, 201, &tpl);
	}
out:
	json_decref(doc);
	return rc;
}

static int templates_list(struct controller *ctrl, const struct auth_principal *who,
			  struct httpd_request *req, struct httpd_response *resp)
{
	return named_reply_list(ctrl, req, resp, &template_kind, tenant_scope(who), NULL);
}

static int templates_show(struct controller *ctrl, const struct auth_principal *who,
			  struct httpd_request *req, struct httpd_response *resp)
{
	return named_reply_show(ctrl, who, req, resp, &template_kind);
}

static int templates_rm(struct controller *ctrl, const struct auth_principal *who,
			struct httpd_request *req, struct httpd_response *resp)
{
	return named_reply_delete(ctrl, who, req, resp, template_delete);
}

struct template_upload {
	struct controller *ctrl;
	char id[40], part[8], path[PATH_MAX], final[PATH_MAX], declared[SIGN_HEX_LEN + 1], format[16];
	int fd, write_errno, done;
	unsigned long long size;
	unsigned char head[0x210]; /* the first bytes: format checks */
	struct sha256_ctx sha;
};

static const char *template_part(const struct httpd_request *req)
{
	const char *r = req->route ? strrchr(req->route, '/') : NULL;
	return r && strcmp(r, "/initrd") == 0 ? "initrd" : "file";
}

static int template_upload_begin(struct httpd_request *req, struct httpd_response *resp, void *ctx, void **state)
{
	struct controller *ctrl = ctx;
	struct auth_principal who;
	struct template_upload *u;
	struct op_ref ref;
	struct op_error err;
	const char *part = template_part(req), *cl;
	char dir[PATH_MAX], id[40], format[16];

	*state = NULL;
	if (api_upload_authorize(ctrl, req, resp, API_ADMIN | API_USER, &who))
		return 1;
	ref = (struct op_ref){ httpd_param(req, "id"), tenant_scope(&who), who.key_id };
	if (template_upload_target(ctrl, &ref, part, id, format, &err) < 0)
		return op_reply_error(resp, &err) < 0 ? -1 : 1;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return -1;
	u->ctrl = ctrl;
	u->fd = -1;
	snprintf(u->id, sizeof(u->id), "%s", id);
	snprintf(u->format, sizeof(u->format), "%s", format);
	snprintf(u->part, sizeof(u->part), "%s", part);
	snprintf(u->declared, sizeof(u->declared), "%s", httpd_header(req, API_CONTENT_SHA256));
	sha256_init(&u->sha);
	*state = u;
	if (fs_path(dir, sizeof(dir), "%s/templates/%s", ctrl->cfg.data_dir, u->id) < 0 ||
	    fs_path(u->path, sizeof(u->path), "%s/%s.part", dir, part) < 0 ||
	    fs_path(u->final, sizeof(u->final), "%s/%s", dir, part) < 0 || fs_mkdir_p(dir, 0755, 0755) < 0)
		return -1;
	cl = httpd_header(req, "Content-Length");
	if (cl) {
		struct statvfs vfs;
		unsigned long long want = strtoull(cl, NULL, 10);
		if (statvfs(dir, &vfs) == 0 && want + TEMPLATE_UPLOAD_RESERVE > (unsigned long long)vfs.f_bavail * vfs.f_frsize) {
			httpd_reply_error(resp, 507, "insufficient_storage",
						 "%llu bytes do not fit: %llu bytes free on the controller's data directory, %llu kept in reserve",
						 want, (unsigned long long)vfs.f_bavail * vfs.f_frsize, TEMPLATE_UPLOAD_RESERVE);
			return 1;
		}
	}
	u->fd = open(u->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (u->fd < 0)
		return -1;
	if (flock(u->fd, LOCK_EX | LOCK_NB) < 0) {
		close(u->fd);
		u->fd = -1;
		httpd_reply_error(resp, 409, "conflict", "template %s: an upload of its %s is in progress", u->id, part);
		return 1;
	}
	if (ftruncate(u->fd, 0) < 0)
		return -1;
	return 0;
}

static int template_upload_data(void *state, const void *data, size_t len)
{
	struct template_upload *u = state;
	const unsigned char *p = data;
	size_t left = len;

	if (u->size < sizeof(u->head))
		memcpy(u->head + u->size, p, len < sizeof(u->head) - u->size ? len : sizeof(u->head) - u->size);
	sha256_update(&u->sha, len, p);
	u->size += len;
	while (left) {
		ssize_t n = write(u->fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			u->write_errno = errno;
			return -1;
		}
		p += n, left -= (size_t)n;
	}
	return 0;
}

static int template_upload_end(struct httpd_request *req, struct httpd_response *resp, void *state)
{
	struct template_upload *u = state;
	struct controller *ctrl = u->ctrl;
	char hex[SIGN_HEX_LEN + 1], url[1100], dir[PATH_MAX];
	struct op_error err;
	json_t *doc = NULL;

	(void)req;
	if (u->write_errno == ENOSPC || u->write_errno == EDQUOT)
		return httpd_reply_error(resp, 507, "insufficient_storage", "the controller's data directory is full");
	if (u->write_errno) {
		errno = u->write_errno;
		return -1;
	}
	sign_sha256_final_hex(&u->sha, hex);
	if (strcmp(hex, u->declared) != 0)
		return httpd_reply_error(resp, 400, "digest_mismatch",
					 "the body's SHA-256 is %s, the request declared (and signed) %s: nothing kept", hex,
					 u->declared);
	if (u->size == 0)
		return httpd_reply_error(resp, 400, "empty", "an empty %s is not a template", u->part);
	if (strcmp(u->part, "file") == 0 && strcmp(u->format, "qcow2") == 0 && memcmp(u->head, "QFI\xfb", 4) != 0)
		return httpd_reply_error(resp, 422, "bad_format", "format qcow2: the file does not start with the qcow2 magic");
	if (strcmp(u->part, "file") == 0 && strcmp(u->format, "kernel") == 0 &&
	    (u->size < 0x206 || memcmp(u->head + 0x202, "HdrS", 4) != 0))
		return httpd_reply_error(resp, 422, "bad_format", "format kernel: the file is not a Linux kernel (bzImage)");
	if (fsync(u->fd) < 0 || rename(u->path, u->final) < 0)
		return -1;
	if (fs_path(dir, sizeof(dir), "%s/templates/%s", ctrl->cfg.data_dir, u->id) == 0) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	u->done = 1;
	if (snprintf(url, sizeof(url), "%s/templates/%s/%s", ctrl->cfg.url, u->id, u->part) >= (int)sizeof(url)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (template_upload_done(ctrl, u->id, u->part, url, hex, u->size, &doc, &err) < 0) {
		unlink(u->final);
		return op_reply_error(resp, &err);
	}
	return httpd_reply_json(resp, 200, doc);
}

static void template_upload_release(void *state)
{
	struct template_upload *u = state;

	if (u == NULL)
		return;
	if (u->fd >= 0) {
		if (!u->done)
			unlink(u->path); /* still locked: no other upload is writing it */
		close(u->fd);
	}
	free(u);
}

static const struct httpd_upload_ops template_upload_ops = {
	template_upload_begin, template_upload_data, template_upload_end, template_upload_release, TEMPLATE_UPLOAD_MAX,
};

/* GET /templates/{id}/{part}: an uploaded template's file, for the nodes (ids are not guessable). */
static int templates_serve(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
			   struct httpd_response *resp)
{
	const char *id = httpd_param(req, "id"), *part = httpd_param(req, "part");
	char path[PATH_MAX], etag[96];
	struct op_error err;
	int fd;

	(void)who;
	if ((strcmp(part, "file") != 0 && strcmp(part, "initrd") != 0) || strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(id))
		return httpd_reply_error(resp, 404, "not_found", "no template file %.64s/%.16s", id, part);
	if (template_file_etag(ctrl, id, part, etag, sizeof(etag), &err) < 0)
		return op_reply_error(resp, &err);
	if (fs_path(path, sizeof(path), "%s/templates/%s/%s", ctrl->cfg.data_dir, id, part) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return httpd_reply_error(resp, 404, "not_found", "no template file %.64s/%.16s", id, part);
	return images_send_fd(ctrl, req, resp, fd, etag, "application/octet-stream");
}

static const struct api_route_def template_routes[] = {
	{ "GET", "/v1/templates", templates_list, API_ADMIN | API_USER,
	  "templates the key may use (its account's and public ones)", NULL },
	{ "POST", "/v1/templates", templates_create, API_ADMIN | API_USER,
	  "register a template by URL (raw or qcow2 disk, or kernel + initrd, cmdline), or create one to upload",
	  "{\"type\":\"object\",\"required\":[\"name\",\"format\"],\"additionalProperties\":false,"
	  "\"properties\":{\"name\":{\"type\":\"string\"},\"format\":{\"enum\":[\"raw\",\"qcow2\",\"kernel\"]},"
	  "\"url\":{\"type\":\"string\"},\"sha256\":{\"type\":\"string\"},\"size\":{\"type\":\"integer\"},"
	  "\"initrd\":{\"type\":\"object\"},\"cmdline\":{\"type\":\"string\"},\"min_disk_gib\":{\"type\":\"integer\"},"
	  "\"public\":{\"type\":\"boolean\"},\"account\":{\"type\":\"string\"},\"upload\":{\"type\":\"boolean\"}}}" },
	{ "GET", "/v1/templates/{id}", templates_show, API_ADMIN | API_USER, "one template", NULL },
	{ "DELETE", "/v1/templates/{id}", templates_rm, API_ADMIN | API_USER,
	  "remove a template no instance uses", NULL },
	{ "PUT", "/v1/templates/{id}/file", NULL, API_ADMIN | API_USER,
	  "upload the disk (or kernel) of a template created with \"upload\": true: the raw body, streamed;"
	  " header " API_CONTENT_SHA256 " = its SHA-256, signed in place of the body digest",
	  NULL },
	{ "PUT", "/v1/templates/{id}/initrd", NULL, API_ADMIN | API_USER,
	  "upload the initrd of a kernel template created with \"initrd\": {\"upload\": true}",
	  NULL },
	{ "GET", "/templates/{id}/{part}", templates_serve, API_PUBLIC,
	  "an uploaded template's file (part: file or initrd) for the nodes: sendfile, Range, ETag", NULL },
};

int api_templates_register(struct controller *ctrl)
{
	return API_ROUTE_TABLE(ctrl, template_routes, &template_upload_ops);
}
