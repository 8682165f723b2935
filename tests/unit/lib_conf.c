/* lib_conf.c -- unit tests for the key = value configuration parser and its typed getters */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

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

static const struct conf_option test_options[] = {
	{ "listen", "ADDR:PORT", "where to listen" },
	{ "data-dir", "DIR", "where data lives" },
};
#define TEST_NOPTIONS (sizeof(test_options) / sizeof(test_options[0]))

static int load_args(struct conf *c, char **argv, const char *default_path, char *path,
		     enum config_action *action, struct errmsg *err)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return conf_load_args(c, argc, argv, test_options, TEST_NOPTIONS, default_path, path,
			      PATH_MAX, action, err);
}

TEST(conf_args_command_line_over_file)
{
	char file[] = "/tmp/lib_conf.XXXXXX", path[PATH_MAX];
	char *argv[] = { "prog", "--listen", "0.0.0.0:1", "-c", file, "-n", NULL };
	struct conf c = CONF_INIT;
	struct errmsg err = { 0 };
	enum config_action action;
	const char *v;
	int fd = mkstemp(file);

	CHECK(fd >= 0);
	CHECK(write(fd, "listen = 127.0.0.1:2\ndata-dir = /d\n", 35) == 35);
	close(fd);
	CHECK_INT(load_args(&c, argv, "/nonexistent/default.conf", path, &action, &err), 0);
	CHECK_INT(action, CONFIG_CHECK);
	CHECK_STR(path, file);
	CHECK_INT(conf_get_str(&c, "listen", NULL, &v, &err), 1);
	CHECK_STR(v, "0.0.0.0:1");
	CHECK_INT(conf_get_str(&c, "data-dir", NULL, &v, &err), 1);
	CHECK_STR(v, "/d");
	conf_free(&c);
	unlink(file);
	/* a named file must exist; the default one may be absent */
	CHECK_INT(load_args(&c, argv, "/nonexistent/default.conf", path, &action, &err), -1);
	CHECK_CONTAINS(err.field, file);
	conf_free(&c);
	err = (struct errmsg){ 0 };
	CHECK_INT(load_args(&c, (char *[]){ "prog", NULL }, "/nonexistent/default.conf", path, &action,
			    &err), 0);
	CHECK_INT(action, CONFIG_RUN);
	CHECK_STR(path, "");
	conf_free(&c);
}

TEST(conf_args_errors_and_actions)
{
	char path[PATH_MAX];
	struct conf c = CONF_INIT;
	struct errmsg err = { 0 };
	enum config_action action;

	CHECK_INT(load_args(&c, (char *[]){ "prog", "--bogus", "1", NULL }, "/nonexistent", path, &action,
			    &err), -1);
	CHECK_CONTAINS(err.msg, "unknown option --bogus");
	conf_free(&c);
	err = (struct errmsg){ 0 };
	CHECK_INT(load_args(&c, (char *[]){ "prog", "--listen", NULL }, "/nonexistent", path, &action, &err),
		  -1);
	CHECK_CONTAINS(err.msg, "--listen needs a value");
	conf_free(&c);
	err = (struct errmsg){ 0 };
	CHECK_INT(load_args(&c, (char *[]){ "prog", "extra", NULL }, "/nonexistent", path, &action, &err), -1);
	CHECK_CONTAINS(err.msg, "unexpected argument \"extra\"");
	conf_free(&c);
	err = (struct errmsg){ 0 };
	CHECK_INT(load_args(&c, (char *[]){ "prog", "-h", NULL }, "/nonexistent", path, &action, &err), 0);
	CHECK_INT(action, CONFIG_HELP);
	conf_free(&c);
	err = (struct errmsg){ 0 };
	CHECK_INT(load_args(&c, (char *[]){ "prog", "--version", NULL }, "/nonexistent", path, &action, &err), 0);
	CHECK_INT(action, CONFIG_VERSION);
	conf_free(&c);
}

TEST(conf_path_and_copy)
{
	struct conf c = CONF_INIT;
	struct errmsg err = { 0 };
	char dst[8];

	CHECK_INT(conf_parse(&c, "t.conf", "dir = relative\nlong = /abcdefghij\nok = /a\n", &err), 0);
	CHECK_INT(conf_get_path(&c, "dir", "/x", dst, sizeof(dst), &err), -1);
	CHECK_CONTAINS(err.msg, "not an absolute path");
	err = (struct errmsg){ 0 };
	CHECK_INT(conf_get_path(&c, "long", "/x", dst, sizeof(dst), &err), -1);
	CHECK_CONTAINS(err.msg, "longer than 7 characters");
	CHECK_CONTAINS(err.field, "t.conf:2");
	CHECK_INT(conf_get_path(&c, "ok", "/x", dst, sizeof(dst), &err), 0);
	CHECK_STR(dst, "/a");
	CHECK_INT(conf_get_path(&c, "absent", "/x", dst, sizeof(dst), &err), 0);
	CHECK_STR(dst, "/x");
	conf_free(&c);
}
