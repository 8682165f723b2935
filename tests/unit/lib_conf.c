/* lib_conf.c -- unit tests for the key = value configuration parser and its typed getters */
#include <errno.h>

#include "conf.h"
#include "unit.h"

TEST(conf_parses_and_types)
{
	struct conf c = CONF_INIT;
	struct errmsg err = { 0 };
	const char *s;
	unsigned long long n;
	int b, e;
	static const char *const colours[] = { "red", "green", NULL };

	CHECK_INT(conf_parse(&c, "t.conf",
			     "# comment\n\n  name = hello world  \nsize=64K\ncount = 7\nflag = off\n"
			     "colour = green\nquoted = \" x \"\n",
			     &err), 0);
	CHECK_INT(conf_get_str(&c, "name", "def", &s, &err), 1);
	CHECK_STR(s, "hello world");
	CHECK_INT(conf_get_size(&c, "size", 0, 0, 1ULL << 30, &n, &err), 1);
	CHECK_INT(n, 65536);
	CHECK_INT(conf_get_uint(&c, "count", 0, 1, 10, &n, &err), 1);
	CHECK_INT(n, 7);
	CHECK_INT(conf_get_bool(&c, "flag", 1, &b, &err), 1);
	CHECK_INT(b, 0);
	CHECK_INT(conf_get_enum(&c, "colour", colours, 0, &e, &err), 1);
	CHECK_INT(e, 1);
	CHECK_INT(conf_get_str(&c, "quoted", NULL, &s, &err), 1);
	CHECK_STR(s, " x ");
	CHECK_INT(conf_get_str(&c, "absent", "def", &s, &err), 0);
	CHECK_STR(s, "def");
	CHECK_INT(conf_check_unknown(&c, &err), 0);
	conf_free(&c);
}

TEST(conf_command_line_overrides_file)
{
	struct conf c = CONF_INIT;
	struct errmsg err = { 0 };
	char msg[1024];
	unsigned long long n;

	CHECK_INT(conf_parse(&c, "t.conf", "count = 3\n", &err), 0);
	CHECK_INT(conf_set(&c, "count", "99"), 0);
	CHECK_INT(conf_get_uint(&c, "count", 0, 0, 50, &n, &err), -1);
	CHECK_STR(errmsg_str(&err, msg, sizeof(msg)),
		  "command line: --count: 99 is out of range 0..50");
	conf_free(&c);
}

TEST(conf_unknown_key_names_file_and_line)
{
	struct conf c = CONF_INIT;
	struct errmsg err = { 0 };
	char msg[1024];
	const char *s;

	CHECK_INT(conf_parse(&c, "/etc/x.conf", "known = 1\n# c\ntypo = 2\n", &err), 0);
	conf_get_str(&c, "known", NULL, &s, &err);
	CHECK_INT(conf_check_unknown(&c, &err), -1);
	CHECK_STR(errmsg_str(&err, msg, sizeof(msg)), "/etc/x.conf:3: typo: unknown key");
	conf_free(&c);
}

TEST(conf_number_overflow_and_suffix_errors)
{
	struct conf c = CONF_INIT;
	struct errmsg err = { 0 };
	char msg[1024];
	unsigned long long n;

	CHECK_INT(conf_parse(&c, "t", "a = 99999999999999999999999\nb = 12X\nc = -1\n", &err), 0);
	CHECK_INT(conf_get_uint(&c, "a", 0, 0, ~0ULL, &n, &err), -1);
	CHECK_CONTAINS(errmsg_str(&err, msg, sizeof(msg)), "t:1: a: ");
	err = (struct errmsg){ 0 };
	CHECK_INT(conf_get_size(&c, "b", 0, 0, ~0ULL, &n, &err), -1);
	CHECK_CONTAINS(errmsg_str(&err, msg, sizeof(msg)), "t:2: b: not a size");
	err = (struct errmsg){ 0 };
	CHECK_INT(conf_get_uint(&c, "c", 0, 0, 10, &n, &err), -1);
	CHECK_CONTAINS(errmsg_str(&err, msg, sizeof(msg)), "t:3: c: not a number: \"-1\"");
	conf_free(&c);
}

TEST(conf_missing_file_is_enoent)
{
	struct conf c = CONF_INIT;
	struct errmsg err = { 0 };

	CHECK_INT(conf_load_file(&c, "/nonexistent/cloudd.conf", &err), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_CONTAINS(err.field, "/nonexistent/cloudd.conf");
	conf_free(&c);
}
