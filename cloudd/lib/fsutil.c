/* fsutil.c -- small bounded file helpers: read a file whole, read one line, key=value env files */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

int fs_read_file(const char *path, size_t max, struct buf *out)
{
	struct stat st;
	ssize_t n;
	int fd;

	buf_reset(out);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* a regular file's size is known: one allocation, not a doubling series of copies */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (size_t)st.st_size <= max &&
	    buf_reserve(out, (size_t)st.st_size + 1) < 0)
		goto err_close;
	for (;;) {
		/* read straight into the buffer; the +1 byte keeps room to see EOF without growing */
		if (out->len + 1 >= out->cap && buf_reserve(out, 4096) < 0)
			goto err_close;
		n = read(fd, out->data + out->len, out->cap - out->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto err_close;
		}
		if (n == 0)
			break;
		if (out->len + (size_t)n > max) {
			errno = EFBIG;
			goto err_close;
		}
		out->len += (size_t)n;
	}
	close(fd);
	if (out->data)
		out->data[out->len] = '\0';
	if (out->data == NULL && buf_append(out, "", 0) < 0)
		return -1;
	return 0;

err_close:
	n = errno;
	close(fd);
	errno = (int)n;
	return -1;
}

int fs_read_line(const char *path, char *out, size_t outlen)
{
	struct buf b = BUF_INIT;
	size_t len;
	char *nl;

	if (fs_read_file(path, 65536, &b) < 0) {
		buf_free(&b);
		return -1;
	}
	nl = strchr(b.data, '\n');
	len = nl ? (size_t)(nl - b.data) : b.len;
	while (len > 0 && (b.data[len - 1] == ' ' || b.data[len - 1] == '\t' || b.data[len - 1] == '\r'))
		len--;
	if (len >= outlen) {
		buf_free(&b);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, b.data, len);
	out[len] = '\0';
	buf_free(&b);
	return 0;
}

int fs_read_u64(const char *path, unsigned long long *out)
{
	char line[64], *end;

	if (fs_read_line(path, line, sizeof(line)) < 0)
		return -1;
	errno = 0;
	if (line[0] < '0' || line[0] > '9') {
		errno = EINVAL;
		return -1;
	}
	*out = strtoull(line, &end, 10);
	if (errno || *end) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int fs_env_get(const char *path, const char *key, char *out, size_t outlen)
{
	struct buf b = BUF_INIT;
	size_t keylen = strlen(key);
	char *line, *save = NULL;
	int found = 0;

	if (fs_read_file(path, 65536, &b) < 0) {
		buf_free(&b);
		return errno == ENOENT ? 0 : -1;
	}
	for (line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v;
		size_t len;

		while (*line == ' ' || *line == '\t')
			line++;
		if (strncmp(line, "export ", 7) == 0)
			line += 7;
		if (strncmp(line, key, keylen) != 0 || line[keylen] != '=')
			continue;
		v = line + keylen + 1;
		len = strlen(v);
		while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\r'))
			len--;
		if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
			v++;
			len -= 2;
		}
		if (len >= outlen) {
			buf_free(&b);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(out, v, len);
		out[len] = '\0';
		found = 1; /* the last assignment wins, as in the shell */
	}
	buf_free(&b);
	return found;
}

int fs_path(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = str_vprintf(out, outlen, NULL, fmt, ap);
	va_end(ap);
	if (rc < 0)
		errno = ENAMETOOLONG;
	return rc;
}

int fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[4096];
	const char *p = data;
	int fd;

	if (fs_path(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) < 0)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto err_unlink;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		goto err_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto err_unlink;
	return 0;

err_unlink:
	fs_discard(fd, tmp);
	return -1;
}

void fs_discard(int fd, const char *path)
{
	int saved = errno;

	if (fd >= 0)
		close(fd);
	if (path)
		unlink(path);
	errno = saved;
}

int fs_mkdir_p(const char *path, unsigned parent_mode, unsigned mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp)) {
		errno = len ? ENAMETOOLONG : ENOENT;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, (mode_t)parent_mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}
