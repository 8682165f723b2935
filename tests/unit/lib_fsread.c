/* lib_fsread.c -- fs_read_file: whole files in one allocation, bounded, devices and errors */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "unit.h"

TEST(read_file_whole_and_bounded)
{
	char dir[] = "/tmp/lib_fsread.XXXXXX", path[PATH_MAX];
	struct buf b = BUF_INIT;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	/* a regular file: whole, NUL-terminated (7 * 10 + 8 * 90 + 9 * 900 + 10 * 2000 bytes) */
	snprintf(path, sizeof(path), "%s/read", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	for (int i = 0; i < 3000; i++)
		fprintf(f, "line %d\n", i);
	fclose(f);
	CHECK_INT(fs_read_file(path, 1 << 20, &b), 0);
	CHECK_INT((int)b.len, 28890);
	CHECK_INT((int)strlen(b.data), 28890);
	CHECK(strncmp(b.data, "line 0\nline 1\n", 14) == 0);
	CHECK_STR(b.data + b.len - 10, "line 2999\n");
	/* exactly max is read; one byte past it is EFBIG */
	CHECK_INT(fs_read_file(path, 28890, &b), 0);
	CHECK_INT((int)b.len, 28890);
	errno = 0;
	CHECK_INT(fs_read_file(path, 28889, &b), -1);
	CHECK_INT(errno, EFBIG);
	errno = 0;
	CHECK_INT(fs_read_file(path, 100, &b), -1);
	CHECK_INT(errno, EFBIG);
	/* a character device with nothing to read: "" (a buffer, not NULL) */
	CHECK_INT(fs_read_file("/dev/null", 100, &b), 0);
	CHECK(b.data != NULL);
	CHECK_INT((int)b.len, 0);
	CHECK_STR(b.data, "");
	buf_free(&b);
	CHECK_INT(fs_read_file("/dev/null", 100, &b), 0);
	CHECK(b.data != NULL);
	CHECK_STR(b.data, "");
	/* a missing file: ENOENT */
	snprintf(path, sizeof(path), "%s/missing", dir);
	errno = 0;
	CHECK_INT(fs_read_file(path, 100, &b), -1);
	CHECK_INT(errno, ENOENT);
	buf_free(&b);
	snprintf(path, sizeof(path), "%s/read", dir);
	unlink(path);
	rmdir(dir);
}
