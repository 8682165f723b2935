/* fsutil.h -- small bounded file helpers: read a file whole, read one line, key=value env files */
#ifndef CLOUDD_FSUTIL_H
#define CLOUDD_FSUTIL_H

#include <stddef.h>

#include "buf.h"

/*
 * Reads the whole file into out (replacing its contents). Files larger than
 * max bytes fail with EFBIG so that a runaway /proc or /sys file, or a hostile
 * state file, never makes the daemon allocate without bound.
 */
int fs_read_file(const char *path, size_t max, struct buf *out);

/* Reads the first line of a small file (trailing newline and spaces removed). */
int fs_read_line(const char *path, char *out, size_t outlen);

/* Reads a decimal unsigned integer from a one-line file. */
int fs_read_u64(const char *path, unsigned long long *out);

/*
 * Looks up KEY in a shell-style env file of KEY=value lines (optionally
 * quoted with ' or "). Returns 1 and fills out when found, 0 when the file or
 * key is absent, -1 on error (ENAMETOOLONG when the value does not fit).
 */
int fs_env_get(const char *path, const char *key, char *out, size_t outlen);

/* snprintf that fails with ENAMETOOLONG instead of truncating. */
int fs_path(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Creates the directory path and every missing parent (mkdir -p): parents
 * with parent_mode, path itself with mode. An existing directory is fine.
 */
int fs_mkdir_p(const char *path, unsigned parent_mode, unsigned mode);

/*
 * Undoes what an error path must not leave behind: closes fd (when >= 0) and
 * removes path (when not NULL), keeping the errno of the failure.
 */
void fs_discard(int fd, const char *path);

/* Writes data to path atomically (temporary file in the same directory + rename). */
int fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

#endif
