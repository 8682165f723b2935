/* volume.c -- guest volumes as files on the claimed filesystem: qcow2 over a template, or raw preallocated */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "log.h"
#include "proc.h"
#include "volume.h"

static int vol_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= VOLUME_ID_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int vol_format_ok(const char *f)
{
	return strcmp(f, "qcow2") == 0 || strcmp(f, "raw") == 0;
}

int volume_path(const char *store, const char *instance, const char *disk, const char *format,
		char *out, size_t outlen)
{
	int n;

	if (!vol_name_ok(instance) || !vol_name_ok(disk) || !vol_format_ok(format)) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(out, outlen, "%s/volumes/%s/%s.%s", store, instance, disk, format);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* The virtual size of an image in bytes, from qemu-img info. */
static int vol_virtual_size(const char *file, const char *format, unsigned long long *size,
			    struct errmsg *err)
{
	char *argv[] = { "qemu-img", "info", "--output=json", "-U", "-f", (char *)format, (char *)file, NULL };
	char why[sizeof(err->msg)];
	json_t *info;

	if (proc_run_json(argv, 30000, &info, why, sizeof(why)) < 0) {
		errmsg_set(err, "", "qemu-img info %s: %s", file, why);
		errno = EIO;
		return -1;
	}
	if (!json_is_integer(json_object_get(info, "virtual-size"))) {
		json_decref(info);
		errmsg_set(err, "", "qemu-img info %s: no virtual size", file);
		errno = EIO;
		return -1;
	}
	*size = (unsigned long long)json_integer_value(json_object_get(info, "virtual-size"));
	json_decref(info);
	return 0;
}

static int vol_fallocate(const char *file, unsigned long long bytes, struct errmsg *err)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		errmsg_set(err, "", "creating %s: %s", file, strerror(errno));
		return -1;
	}
	int rc = posix_fallocate(fd, 0, (off_t)bytes);
	if (rc != 0 || fsync(fd) < 0) {
		if (rc == 0)
			rc = errno;
		errmsg_set(err, "", "allocating %llu MiB: %s", bytes >> 20, strerror(rc));
		close(fd);
		errno = rc;
		return -1;
	}
	close(fd);
	return 0;
}

int volume_create(const char *store, const char *instance, const char *disk, const char *format,
		  unsigned long long size_mib, const char *template_file, const char *template_format,
		  struct errmsg *err)
{
	char final[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX], size_arg[32], why[512];
	unsigned long long bytes = size_mib << 20, tsize = 0;
	struct stat st;
	int n;

	if (volume_path(store, instance, disk, format, final, sizeof(final)) < 0) {
		errmsg_set(err, "", errno == EINVAL ? "bad volume name or format: %s/%s (%s)" : "path too long: %s/%s (%s)",
			   instance, disk, format);
		return -1;
	}
	if (stat(final, &st) == 0)
		return 0;
	if (size_mib == 0 || size_mib > (1ULL << 44)) {
		errmsg_set(err, "", "volume %s/%s: size %llu MiB out of range", instance, disk, size_mib);
		errno = EINVAL;
		return -1;
	}
	if (template_file && *template_file) {
		if (template_format == NULL || !vol_format_ok(template_format)) {
			errmsg_set(err, "", "volume %s/%s: template format must be qcow2 or raw", instance, disk);
			errno = EINVAL;
			return -1;
		}
		if (access(template_file, R_OK) < 0) {
			errmsg_set(err, "", "volume %s/%s: template %s: %s", instance, disk, template_file,
				   strerror(errno));
			return -1;
		}
		if (vol_virtual_size(template_file, template_format, &tsize, err) < 0)
			return -1;
		if (tsize > bytes) {
			errmsg_set(err, "", "volume %s/%s: %llu MiB is smaller than its template (%llu MiB)",
				   instance, disk, size_mib, (tsize + (1 << 20) - 1) >> 20);
			errno = EINVAL;
			return -1;
		}
	}
	snprintf(dir, sizeof(dir), "%s/volumes/%s", store, instance);
	n = snprintf(tmp, sizeof(tmp), "%s/.tmp-%s.%s", dir, disk, format);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errmsg_set(err, "", "volume path too long");
		errno = ENAMETOOLONG;
		return -1;
	}
	char vols[PATH_MAX];
	snprintf(vols, sizeof(vols), "%s/volumes", store);
	if ((mkdir(vols, 0700) < 0 && errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
		errmsg_set(err, "", "creating %s: %s", dir, strerror(errno));
		return -1;
	}
	unlink(tmp);
	snprintf(size_arg, sizeof(size_arg), "%lluM", size_mib);

	if (strcmp(format, "qcow2") == 0) {
		char *with_t[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F", (char *)template_format,
				   "-b", (char *)template_file, tmp, size_arg, NULL };
		char *blank[] = { "qemu-img", "create", "-q", "-f", "qcow2", tmp, size_arg, NULL };
		if (proc_run_ok(template_file && *template_file ? with_t : blank, NULL, 0, 60000, why,
				sizeof(why)) < 0) {
			errmsg_set(err, "", "volume %s/%s: %s", instance, disk, why);
			goto err_tmp;
		}
	} else if (template_file && *template_file) {
		/* a full, non-sparse copy, then grown to its size */
		char *conv[] = { "qemu-img", "convert", "-q", "-S", "0", "-f", (char *)template_format,
				 "-O", "raw", (char *)template_file, tmp, NULL };
		if (proc_run_ok(conv, NULL, 0, VOLUME_TOOL_TIMEOUT_MS, why, sizeof(why)) < 0) {
			errmsg_set(err, "", "volume %s/%s: %s", instance, disk, why);
			goto err_tmp;
		}
		if (vol_fallocate(tmp, bytes, err) < 0)
			goto err_tmp;
	} else if (vol_fallocate(tmp, bytes, err) < 0) {
		goto err_tmp;
	}
	if (rename(tmp, final) < 0) {
		errmsg_set(err, "", "volume %s/%s: rename: %s", instance, disk, strerror(errno));
		goto err_tmp;
	}
	log_info("volume %s/%s: created %s, %llu MiB%s%s", instance, disk, format, size_mib,
		 template_file && *template_file ? " from " : "", template_file ? template_file : "");
	return 0;

err_tmp:
	n = errno;
	unlink(tmp);
	rmdir(dir); /* only when empty */
	errno = n;
	return -1;
}

int volume_delete(const char *store, const char *instance, const char *disk, struct errmsg *err)
{
	static const char *const formats[] = { "qcow2", "raw" };
	char path[PATH_MAX];

	for (size_t i = 0; i < 2; i++) {
		if (volume_path(store, instance, disk, formats[i], path, sizeof(path)) < 0) {
			errmsg_set(err, "", "bad volume name %s/%s", instance, disk);
			return -1;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			errmsg_set(err, "", "removing %s: %s", path, strerror(errno));
			return -1;
		}
	}
	snprintf(path, sizeof(path), "%s/volumes/%s", store, instance);
	rmdir(path);
	return 0;
}

int volume_list(const char *store, struct volume_entry **out, size_t *n)
{
	char path[PATH_MAX];
	DIR *top, *d;
	struct dirent *ie, *de;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/volumes", store);
	top = opendir(path);
	if (top == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((ie = readdir(top)) != NULL) {
		if (!vol_name_ok(ie->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/volumes/%s", store, ie->d_name);
		d = opendir(path);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			char name[VOLUME_ID_MAX + 8], *dot;
			struct stat st;
			if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(name))
				continue;
			memcpy(name, de->d_name, strlen(de->d_name) + 1);
			dot = strrchr(name, '.');
			if (dot == NULL)
				continue;
			*dot++ = '\0';
			if (!vol_name_ok(name) || !vol_format_ok(dot))
				continue;
			if (*n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				void *p = realloc(*out, nc * sizeof(**out));
				if (p == NULL) {
					closedir(d);
					closedir(top);
					free(*out);
					*out = NULL;
					*n = 0;
					errno = ENOMEM;
					return -1;
				}
				*out = p;
				cap = nc;
			}
			struct volume_entry *v = &(*out)[(*n)++];
			memset(v, 0, sizeof(*v));
			memcpy(v->instance, ie->d_name, strlen(ie->d_name) + 1);
			memcpy(v->disk, name, strlen(name) + 1);
			snprintf(v->format, sizeof(v->format), "%s", dot);
			if (fstatat(dirfd(d), de->d_name, &st, 0) == 0)
				v->bytes = (unsigned long long)st.st_blocks * 512;
		}
		closedir(d);
	}
	closedir(top);
	return 0;
}
