/* node_enroll.c -- enrollment helpers: kernel command line arguments, retry backoff, the boot id */
#include <stdlib.h>
#include <unistd.h>

#include "enroll.h"
#include "fsutil.h"
#include "unit.h"

TEST(cmdline_args)
{
	char v[64];
	const char *cmdline = "BOOT_IMAGE=vmlinuz console=ttyS0 cloud.controller=http://192.0.2.1:8080 "
			      "cloud.token=abcdef cloud.tokenx=no\n";

	CHECK_INT(enroll_cmdline_arg(cmdline, "cloud.controller", v, sizeof(v)), 1);
	CHECK_STR(v, "http://192.0.2.1:8080");
	CHECK_INT(enroll_cmdline_arg(cmdline, "cloud.token", v, sizeof(v)), 1);
	CHECK_STR(v, "abcdef");
	CHECK_INT(enroll_cmdline_arg(cmdline, "cloud.role", v, sizeof(v)), 0);
	CHECK_INT(enroll_cmdline_arg(cmdline, "cloud", v, sizeof(v)), 0);
	CHECK_INT(enroll_cmdline_arg(cmdline, "cloud.controller", v, 8), -1);
}

TEST(backoff_doubles_to_the_cap)
{
	unsigned b = 0;

	b = enroll_backoff_next(b);
	CHECK_INT(b, 1);
	b = enroll_backoff_next(b);
	CHECK_INT(b, 2);
	for (int i = 0; i < 10; i++)
		b = enroll_backoff_next(b);
	CHECK_INT(b, ENROLL_BACKOFF_MAX);
}

TEST(boot_id_is_read_and_checked)
{
	char dir[] = "/tmp/node_enroll.XXXXXX", path[256], id[ENROLL_BOOT_ID_MAX];
	const char *good = "0b6f1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b\n";

	CHECK(mkdtemp(dir) != NULL);
	/* no such file: unknown */
	CHECK_INT(enroll_boot_id(dir, id, sizeof(id)), -1);
	snprintf(path, sizeof(path), "mkdir -p %s/proc/sys/kernel/random", dir);
	CHECK_INT(system(path), 0);
	snprintf(path, sizeof(path), "%s%s", dir, ENROLL_BOOT_ID_FILE);
	CHECK_INT(fs_write_atomic(path, good, strlen(good), 0644), 0);
	CHECK_INT(enroll_boot_id(dir, id, sizeof(id)), 0);
	CHECK_STR(id, "0b6f1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b");
	/* not a UUID: refused, out emptied */
	CHECK_INT(fs_write_atomic(path, "../etc\n", 7, 0644), 0);
	CHECK_INT(enroll_boot_id(dir, id, sizeof(id)), -1);
	CHECK_STR(id, "");
	CHECK_INT(fs_write_atomic(path, "", 0, 0644), 0);
	CHECK_INT(enroll_boot_id(dir, id, sizeof(id)), -1);
	/* too long for out */
	CHECK_INT(fs_write_atomic(path, good, strlen(good), 0644), 0);
	CHECK_INT(enroll_boot_id(dir, id, 8), -1);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	CHECK_INT(system(path), 0);
}

TEST(same_boot_needs_two_equal_known_ids)
{
	CHECK_INT(enroll_same_boot("a-1", "a-1"), 1);
	CHECK_INT(enroll_same_boot("a-1", "a-2"), 0);
	CHECK_INT(enroll_same_boot(NULL, "a-1"), 0);
	CHECK_INT(enroll_same_boot("", ""), 0);
	CHECK_INT(enroll_same_boot("a-1", ""), 0);
}
