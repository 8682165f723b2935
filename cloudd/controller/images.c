/* images.c -- published node images: import with checksum verification, file serving with Range and ETag */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "controller.h"
#include "fsutil.h"
#include "sign.h"

#define IMAGES_MAX_SUMS (64 * 1024)	/* bytes of SHA256SUMS */
#define IMAGES_MAX_MANIFEST (4 << 20)	/* bytes of manifest.json kept in the database */

/* Files of an image version: the first two are required and must match SHA256SUMS. */
static const char *const image_files[] = { "vmlinuz", "initramfs.img", "SHA256SUMS", "manifest.json", "boot.ipxe", NULL };

int images_sums_lookup(const char *sums, const char *name, char hex[65])
{
	const char *line = sums;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		size_t nlen = strlen(name);

		/* "<64 hex>  name" or "<64 hex> *name" */
		if (len == 66 + nlen && (line[65] == ' ' || line[65] == '*') && line[64] == ' ' &&
		    memcmp(line + 66, name, nlen) == 0) {
			int ok = 1;
			for (int i = 0; i < 64; i++) {
				char c = line[i];
				if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
					ok = 0;
			}
			if (ok) {
				memcpy(hex, line, 64);
				hex[64] = '\0';
				return 0;
			}
		}
		line = end ? end + 1 : NULL;
	}
	errno = ENOENT;
	return -1;
}

int images_default(struct db *db, char *out, size_t outlen)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT value FROM settings WHERE key = 'default_image'");

	out[0] = '\0';
	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW && db_col_text(st, 0))
		snprintf(out, outlen, "%s", db_col_text(st, 0));
	sqlite3_finalize(st);
	return 0;
}

/* Copies src to dst, computing SHA-256 on the way and fsyncing dst. */
static int images_copy(const char *src, const char *dst, char hex[65], unsigned long long *size)
{
	struct sha256_ctx ctx;
	char block[65536];
	int in, out;
	ssize_t n;

	*size = 0;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		goto err_in;
	sha256_init(&ctx);
	while ((n = read(in, block, sizeof(block))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto err_out;
		}
		sha256_update(&ctx, (size_t)n, (const uint8_t *)block);
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, block + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				goto err_out;
			}
			off += w;
		}
		*size += (unsigned long long)n;
	}
	if (fsync(out) < 0)
		goto err_out;
	sign_sha256_final_hex(&ctx, hex);
	close(out);
	close(in);
	return 0;
err_out:
	fs_discard(out, dst);
err_in:
	fs_discard(in, NULL);
	return -1;
}

static void images_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (fs_path(path, sizeof(path), "%s/%s", dir, e->d_name) == 0)
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

struct import_job {
	struct controller *ctrl;
	char version[80];
	char source[PATH_MAX];
	char op_id[40];
	char tmp[PATH_MAX];
};

/*
 * Copies the image into DATA/images/.import-VERSION, checks every file that
 * SHA256SUMS lists, then renames the directory into place and records the
 * version: a half-copied image is never served.
 */
static int images_import(struct import_job *job, char *why, size_t whylen)
{
	struct controller *ctrl = job->ctrl;
	char src[PATH_MAX], dst[PATH_MAX], final[PATH_MAX], hex[65], want[65];
	char kernel_sha[65] = "", initrd_sha[65] = "", def[80];
	unsigned long long size, kernel_size = 0, initrd_size = 0;
	struct buf sums = BUF_INIT, manifest = BUF_INIT;
	sqlite3_stmt *st;
	int rc = -1, dfd;

	if (fs_path(src, sizeof(src), "%s/SHA256SUMS", job->source) < 0 ||
	    fs_read_file(src, IMAGES_MAX_SUMS, &sums) < 0) {
		snprintf(why, whylen, "cannot read %.300s/SHA256SUMS: %s", job->source, strerror(errno));
		goto out;
	}
	for (size_t i = 0; image_files[i]; i++) {
		const char *name = image_files[i];
		int required = i < 3;

		if (fs_path(src, sizeof(src), "%s/%s", job->source, name) < 0 ||
		    fs_path(dst, sizeof(dst), "%s/%s", job->tmp, name) < 0) {
			snprintf(why, whylen, "path too long");
			goto out;
		}
		if (access(src, R_OK) < 0 && !required)
			continue;
		if (images_copy(src, dst, hex, &size) < 0) {
			snprintf(why, whylen, "cannot copy %.300s: %s", src, strerror(errno));
			goto out;
		}
		if (strcmp(name, "SHA256SUMS") == 0)
			continue;
		if (images_sums_lookup(sums.data, name, want) < 0) {
			if (required) {
				snprintf(why, whylen, "SHA256SUMS has no checksum for %s", name);
				goto out;
			}
		} else if (strcmp(want, hex) != 0) {
			snprintf(why, whylen, "checksum mismatch for %s: SHA256SUMS says %.16s..., the file is %.16s...",
				 name, want, hex);
			goto out;
		}
		if (i == 0) {
			memcpy(kernel_sha, hex, sizeof(kernel_sha));
			kernel_size = size;
		} else if (i == 1) {
			memcpy(initrd_sha, hex, sizeof(initrd_sha));
			initrd_size = size;
		}
	}
	if (fs_path(src, sizeof(src), "%s/manifest.json", job->tmp) == 0 &&
	    fs_read_file(src, IMAGES_MAX_MANIFEST, &manifest) == 0) {
		json_t *m = json_loadb(manifest.data, manifest.len, 0, NULL);
		if (m == NULL || !json_is_object(m)) {
			json_decref(m);
			snprintf(why, whylen, "manifest.json is not a JSON object");
			goto out;
		}
		json_decref(m);
	}
	dfd = open(job->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	if (fs_path(final, sizeof(final), "%s/%s", ctrl->images_dir, job->version) < 0 ||
	    rename(job->tmp, final) < 0) {
		snprintf(why, whylen, "cannot move the image into place: %s", strerror(errno));
		goto out;
	}
	dfd = open(ctrl->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	db_lock(&ctrl->db);
	if (db_begin(&ctrl->db) < 0)
		goto out_db;
	st = db_prepare(&ctrl->db, "INSERT INTO images (version, kernel_sha256, initrd_sha256, kernel_size,"
				  " initrd_size, manifest, created_at) VALUES (?, ?, ?, ?, ?, ?, strftime('%s','now'))");
	if (st == NULL)
		goto out_rollback;
	db_bind_text(st, 1, job->version);
	db_bind_text(st, 2, kernel_sha);
	db_bind_text(st, 3, initrd_sha);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)kernel_size);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)initrd_size);
	db_bind_text(st, 6, manifest.data);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_finalize(st);
		goto out_rollback;
	}
	sqlite3_finalize(st);
	images_default(&ctrl->db, def, sizeof(def));
	if (def[0] == '\0') {
		const char *p[1] = { job->version };
		if (db_exec(&ctrl->db, "INSERT OR REPLACE INTO settings VALUES ('default_image', ?)", 1, p) < 0 ||
		    db_event(&ctrl->db, "image.default", job->version, "image %s is the default (first image)",
			     job->version) < 0)
			goto out_rollback;
	}
	if (db_event(&ctrl->db, "image.published", job->version, "image %s published from %s (kernel %llu bytes,"
		     " initramfs %llu bytes)", job->version, job->source, kernel_size, initrd_size) < 0 ||
	    api_operation_finish(&ctrl->db, job->op_id, 1, NULL) < 0 || db_commit(&ctrl->db) < 0)
		goto out_rollback;
	db_unlock(&ctrl->db);
	rc = 0;
	goto out;
out_rollback:
	db_rollback(&ctrl->db);
out_db:
	db_unlock(&ctrl->db);
	images_rmdir(final);
	snprintf(why, whylen, "recording the image in the database failed");
out:
	buf_free(&sums);
	buf_free(&manifest);
	return rc;
}

static void *images_import_thread(void *arg)
{
	struct import_job *job = arg;
	char why[512] = "";

	if (images_import(job, why, sizeof(why)) < 0) {
		log_warn("image import %s from %s failed: %s", job->version, job->source, why);
		images_rmdir(job->tmp);
		db_lock(&job->ctrl->db);
		if (db_begin(&job->ctrl->db) == 0) {
			if (api_operation_finish(&job->ctrl->db, job->op_id, 0, why) < 0 ||
			    db_event(&job->ctrl->db, "image.failed", job->version, "import of %s failed: %s",
				     job->version, why) < 0)
				db_rollback(&job->ctrl->db);
			else
				db_commit(&job->ctrl->db);
		}
		db_unlock(&job->ctrl->db);
	}
	free(job);
	return NULL;
}

int images_import_start(struct controller *ctrl, const char *version, const char *source_dir,
			const char *op_id)
{
	struct import_job *job = calloc(1, sizeof(*job));
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	if (job == NULL)
		return -1;
	job->ctrl = ctrl;
	snprintf(job->version, sizeof(job->version), "%s", version);
	snprintf(job->source, sizeof(job->source), "%s", source_dir);
	snprintf(job->op_id, sizeof(job->op_id), "%s", op_id);
	if (fs_path(job->tmp, sizeof(job->tmp), "%s/.import-%s", ctrl->images_dir, version) < 0)
		goto err;
	if (mkdir(job->tmp, 0755) < 0)
		goto err; /* EEXIST: an import of this version is running */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, images_import_thread, job);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		rmdir(job->tmp);
		errno = rc;
		goto err;
	}
	return 0;
err:
	rc = errno;
	free(job);
	errno = rc;
	return -1;
}

int images_parse_range(const char *value, unsigned long long size, unsigned long long *start,
		       unsigned long long *len)
{
	unsigned long long a = 0, b = 0;
	const char *p;
	char *end;

	if (strncmp(value, "bytes=", 6) != 0 || strchr(value, ','))
		return 1; /* other units and multiple ranges: serve the whole file */
	p = value + 6;
	if (*p == '-') {
		/* suffix: the last N bytes */
		errno = 0;
		b = strtoull(p + 1, &end, 10);
		if (errno || *end || p[1] < '0' || p[1] > '9')
			return 1;
		if (b == 0 || size == 0)
			return -1;
		if (b > size)
			b = size;
		*start = size - b;
		*len = b;
		return 0;
	}
	if (*p < '0' || *p > '9')
		return 1;
	errno = 0;
	a = strtoull(p, &end, 10);
	if (errno || *end != '-')
		return 1;
	p = end + 1;
	if (*p == '\0') {
		b = size ? size - 1 : 0;
	} else {
		if (*p < '0' || *p > '9')
			return 1;
		b = strtoull(p, &end, 10);
		if (errno || *end || b < a)
			return 1;
		if (b >= size)
			b = size ? size - 1 : 0;
	}
	if (a >= size)
		return -1;
	*start = a;
	*len = b - a + 1;
	return 0;
}

static void images_count(struct controller *ctrl, unsigned long long *counter, unsigned long long bytes)
{
	pthread_mutex_lock(&ctrl->counters.lock);
	(*counter)++;
	ctrl->counters.image_bytes += bytes;
	pthread_mutex_unlock(&ctrl->counters.lock);
}

int images_send_fd(struct controller *ctrl, struct httpd_request *req, struct httpd_response *resp, int fd,
		   const char *etag_given, const char *content_type)
{
	const char *inm = httpd_header(req, "If-None-Match"), *range = httpd_header(req, "Range");
	char etag[96], value[128];
	unsigned long long start = 0, len;
	struct stat sb;
	int r;

	if (fstat(fd, &sb) < 0) {
		close(fd);
		return -1;
	}
	if (etag_given)
		snprintf(etag, sizeof(etag), "%s", etag_given);
	else
		snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)sb.st_size,
			 (unsigned long long)sb.st_mtime);
	httpd_add_header(resp, "ETag", etag);
	httpd_add_header(resp, "Cache-Control", "public, max-age=31536000, immutable");
	if (inm && (strcmp(inm, "*") == 0 || strstr(inm, etag))) {
		close(fd);
		images_count(ctrl, &ctrl->counters.image_not_modified, 0);
		resp->status = 304;
		return 0;
	}
	httpd_add_header(resp, "Accept-Ranges", "bytes");
	len = (unsigned long long)sb.st_size;
	r = range ? images_parse_range(range, (unsigned long long)sb.st_size, &start, &len) : 1;
	if (r < 0) {
		close(fd);
		snprintf(value, sizeof(value), "bytes */%llu", (unsigned long long)sb.st_size);
		httpd_add_header(resp, "Content-Range", value);
		return httpd_reply_error(resp, 416, "range_not_satisfiable", "range %.64s is outside the file (%llu bytes)",
					 range, (unsigned long long)sb.st_size);
	}
	if (r == 0) {
		snprintf(value, sizeof(value), "bytes %llu-%llu/%llu", start, start + len - 1,
			 (unsigned long long)sb.st_size);
		httpd_add_header(resp, "Content-Range", value);
		resp->status = 206;
		images_count(ctrl, &ctrl->counters.image_partial, len);
	} else {
		start = 0;
		len = (unsigned long long)sb.st_size;
		resp->status = 200;
		images_count(ctrl, &ctrl->counters.image_ok, len);
	}
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", content_type);
	resp->fd = fd;
	resp->fd_offset = start;
	resp->fd_length = len;
	return 0;
}

/* GET /images/{version}/{file}: sendfile from the published directory. */
static int images_serve(struct controller *ctrl, const struct auth_principal *who,
			struct httpd_request *req, struct httpd_response *resp)
{
	const char *version = httpd_param(req, "version"), *file = httpd_param(req, "file");
	char path[PATH_MAX], etag[96] = "";
	int known = 0, fd;

	(void)who;
	for (size_t i = 0; image_files[i]; i++)
		known |= strcmp(image_files[i], file) == 0;
	if (!known || !util_version_valid(version) ||
	    fs_path(path, sizeof(path), "%s/%s/%s", ctrl->images_dir, version, file) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		images_count(ctrl, &ctrl->counters.image_not_found, 0);
		return httpd_reply_error(resp, 404, "not_found", "no file %.64s in image %.64s", file, version);
	}
	if (strcmp(file, "vmlinuz") == 0 || strcmp(file, "initramfs.img") == 0) {
		sqlite3_stmt *st;
		db_lock(&ctrl->db);
		st = db_prepare(&ctrl->db, file[0] == 'v' ? "SELECT kernel_sha256 FROM images WHERE version = ?"
							 : "SELECT initrd_sha256 FROM images WHERE version = ?");
		if (st) {
			db_bind_text(st, 1, version);
			if (sqlite3_step(st) == SQLITE_ROW)
				snprintf(etag, sizeof(etag), "\"sha256-%s\"", db_col_text(st, 0));
			sqlite3_finalize(st);
		}
		db_unlock(&ctrl->db);
	}
	return images_send_fd(ctrl, req, resp, fd, etag[0] ? etag : NULL,
			      strcmp(file, "manifest.json") == 0 ? "application/json"
			      : strcmp(file, "SHA256SUMS") == 0 || strcmp(file, "boot.ipxe") == 0 ? "text/plain"
												: "application/octet-stream");
}

int images_register(struct controller *ctrl)
{
	return api_route(ctrl, "GET", "/images/{version}/{file}", images_serve, API_PUBLIC,
			 "an image file (vmlinuz, initramfs.img, SHA256SUMS, manifest.json, boot.ipxe): "
			 "sendfile, Range (206/416), ETag and If-None-Match (304)", NULL);
}
