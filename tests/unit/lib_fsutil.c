/* lib_fsutil.c -- mkdir -p with parent and leaf modes, atomic writes, bounded reads */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "unit.h"

static char *scratch(void)
{
	static char dir[64];

	snprintf(dir, sizeof(dir), "/tmp/lib_fsutil.XXXXXX");
	return mkdtemp(dir);
}

TEST(mkdir_p_creates_parents_with_their_mode)
{
	char *dir = scratch(), path[PATH_MAX], mid[PATH_MAX];
	struct stat st;
	mode_t old = umask(0);

	CHECK(dir != NULL);
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	snprintf(mid, sizeof(mid), "%s/a/b", dir);
	CHECK_INT(fs_mkdir_p(path, 0755, 0700), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0700);
	CHECK_INT(stat(mid, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0755);
	CHECK_INT(fs_mkdir_p(path, 0755, 0700), 0); /* exists: fine */
	snprintf(mid, sizeof(mid), "%s/a/b/c/", dir);
	CHECK_INT(fs_mkdir_p(mid, 0755, 0700), 0); /* trailing slash */
	umask(old);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	CHECK_INT(system(path), 0);
}

TEST(mkdir_p_refusals)
{
	char *dir = scratch(), path[PATH_MAX], file[PATH_MAX];
	static char longpath[PATH_MAX + 10];

	CHECK(dir != NULL);
	errno = 0;
	CHECK_INT(fs_mkdir_p("", 0755, 0755), -1);
	CHECK_INT(errno, ENOENT);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	CHECK_INT(fs_mkdir_p(longpath, 0755, 0755), -1);
	CHECK_INT(errno, ENAMETOOLONG);
	snprintf(file, sizeof(file), "%s/file", dir);
	CHECK_INT(fs_write_atomic(file, "x", 1, 0644), 0);
	snprintf(path, sizeof(path), "%s/file/sub", dir);
	CHECK_INT(fs_mkdir_p(path, 0755, 0755), -1);
	CHECK_INT(errno, ENOTDIR);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	CHECK_INT(system(path), 0);
}

TEST(discard_closes_and_removes_keeping_errno)
{
	char *dir = scratch(), path[PATH_MAX];
	int fd;

	CHECK(dir != NULL);
	snprintf(path, sizeof(path), "%s/partial", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	errno = ENOSPC;
	fs_discard(fd, path);
	CHECK_INT(errno, ENOSPC);
	CHECK_INT(access(path, F_OK), -1);
	CHECK_INT(close(fd), -1); /* already closed */
	errno = EIO;
	fs_discard(-1, NULL); /* nothing to undo */
	CHECK_INT(errno, EIO);
	CHECK_INT(rmdir(dir), 0);
}
