/* lib_proc.c -- helper processes: JSON read from what a program prints */
#include <errno.h>

#include "proc.h"
#include "unit.h"

TEST(run_json_parses_the_output)
{
	char *argv[] = { "sh", "-c", "echo '{\"virtual-size\": 1048576}'", NULL };
	char why[128] = "";
	json_t *doc;

	CHECK_INT(proc_run_json(argv, 10000, &doc, why, sizeof(why)), 0);
	CHECK(doc != NULL);
	CHECK_INT(json_integer_value(json_object_get(doc, "virtual-size")), 1048576);
	json_decref(doc);
}

TEST(run_json_output_not_json_is_no_document)
{
	char *argv[] = { "sh", "-c", "echo not json", NULL };
	char why[128] = "";
	json_t *doc;

	CHECK_INT(proc_run_json(argv, 10000, &doc, why, sizeof(why)), 0);
	CHECK(doc == NULL);
}

TEST(run_json_failure_says_what_it_printed)
{
	char *argv[] = { "sh", "-c", "echo 'no such image' >&2; exit 1", NULL };
	char why[128] = "";
	json_t *doc;

	errno = 0;
	CHECK_INT(proc_run_json(argv, 10000, &doc, why, sizeof(why)), -1);
	CHECK_INT(errno, EIO);
	CHECK(doc == NULL);
	CHECK_STR(why, "no such image\n");
}

TEST(run_json_program_missing)
{
	char *argv[] = { "/nonexistent/qemu-img", "info", NULL };
	char why[128] = "";
	json_t *doc;

	CHECK_INT(proc_run_json(argv, 10000, &doc, why, sizeof(why)), -1);
	CHECK_INT(errno, EIO);
	CHECK(why[0] != '\0');
}
