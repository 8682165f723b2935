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

/* A daemon's settings struct as conf_read_server fills it. */
struct test_settings {
	int other;
	enum log_level log_level;
	int syslog;
	unsigned long long max_body;
	unsigned http_connections;
};
CONF_SERVER_CHECK(struct test_settings);

static int test_apply(struct conf *c, void *settings, struct errmsg *err);

static const struct conf_daemon test_daemon = {
	.about = "testd: a daemon of the tests.\n",
	.notes = "Signals: none.\n\n",
	.default_path = "/nonexistent/testd.conf",
	.options = test_options,
	.noptions = TEST_NOPTIONS,
	.apply = test_apply,
	.server = { .syslog = 1, .max_body = 4096, .max_body_max = 1 << 20, .connections = 8,
		    .connections_min = 2, .connections_max = 16, CONF_SERVER_FIELDS(struct test_settings) },
};

static int test_apply(struct conf *c, void *settings, struct errmsg *err)
{
	const char *v;

	conf_get_str(c, "listen", "", &v, err);
	conf_get_str(c, "data-dir", "", &v, err);
	return conf_read_server(c, &test_daemon.server, settings, err);
}

static int read_server(const char *text, struct test_settings *t, struct errmsg *err)
{
	struct conf c = CONF_INIT;
	int rc;

	*t = (struct test_settings){ 0 };
	*err = (struct errmsg){ 0 };
	rc = conf_parse(&c, "t.conf", text, err) < 0 ? -1 : test_apply(&c, t, err);
	conf_free(&c);
	return rc;
}

TEST(conf_server_defaults_and_settings)
{
	struct test_settings t;
	struct errmsg err;
	char msg[1024];

	CHECK_INT(read_server("", &t, &err), 0);
	CHECK_INT(t.log_level, LOG_LEVEL_INFO);
	CHECK_INT(t.syslog, 1);
	CHECK_INT(t.max_body, 4096);
	CHECK_INT(t.http_connections, 8);
	CHECK_INT(t.other, 0);
	CHECK_INT(read_server("log-level = debug\nsyslog = no\nmax-body = 64K\nhttp-connections = 16\n", &t, &err), 0);
	CHECK_INT(t.log_level, LOG_LEVEL_DEBUG);
	CHECK_INT(t.syslog, 0);
	CHECK_INT(t.max_body, 65536);
	CHECK_INT(t.http_connections, 16);
	CHECK_INT(read_server("http-connections = 17\n", &t, &err), -1);
	CHECK_STR(errmsg_str(&err, msg, sizeof(msg)), "t.conf:1: http-connections: 17 is out of range 2..16");
	CHECK_INT(read_server("max-body = 2M\n", &t, &err), -1);
	CHECK_CONTAINS(errmsg_str(&err, msg, sizeof(msg)), "max-body: 2M is out of range 1024..1048576");
	/* the check for unknown keys comes last */
	CHECK_INT(read_server("colour = red\n", &t, &err), -1);
	CHECK_STR(errmsg_str(&err, msg, sizeof(msg)), "t.conf:1: colour: unknown key");
}

TEST(conf_load_settings_applies_to_run_and_check_only)
{
	char *check[] = { "testd", "--check", "--http-connections", "3", NULL };
	char *help[] = { "testd", "--http-connections", "99", "--help", NULL };
	char path[PATH_MAX];
	struct test_settings t = { 0 };
	struct errmsg err = { 0 };
	enum config_action action;

	CHECK_INT(conf_load_settings(&test_daemon, 4, check, &t, path, sizeof(path), &action, &err), -1);
	CHECK_CONTAINS(err.field, "command line"); /* http-connections is no option of testd */
	memset(&err, 0, sizeof(err));
	check[2] = "--listen";
	CHECK_INT(conf_load_settings(&test_daemon, 4, check, &t, path, sizeof(path), &action, &err), 0);
	CHECK_INT(action, CONFIG_CHECK);
	CHECK_INT(t.http_connections, 8);
	CHECK_STR(path, ""); /* the default file is absent */
	t.http_connections = 0;
	help[1] = "--listen";
	CHECK_INT(conf_load_settings(&test_daemon, 4, help, &t, path, sizeof(path), &action, &err), 0);
	CHECK_INT(action, CONFIG_HELP);
	CHECK_INT(t.http_connections, 0); /* not applied */
}

TEST(conf_daemon_usage_frames_the_options)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	CHECK(out != NULL);
	conf_daemon_usage(&test_daemon, out, "testd");
	fclose(out);
	CHECK_CONTAINS(text, "usage: testd [OPTIONS]\n\ntestd: a daemon of the tests.\n\nOptions:\n");
	CHECK_CONTAINS(text, "configuration file (default /nonexistent/testd.conf;\n");
	CHECK_CONTAINS(text, "      --listen ADDR:PORT           where to listen\n"
			     "      --data-dir DIR               where data lives\n\n"
			     "Every long option is also a key");
	CHECK_CONTAINS(text, "the command line wins over the file.\n\nSignals: none.\n\n"
			     "Exit codes: 0 success, 100 usage or configuration error, 111 system failure.\n");
	free(text);
}
