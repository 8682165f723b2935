/* node_enroll.c -- enrollment helpers: kernel command line arguments and retry backoff */
#include "enroll.h"
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
