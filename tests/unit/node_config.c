/* node_config.c -- cloudd configuration: good files load, every bad file fails naming file:line and key */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>

#include "../../cloudd/node/cloudd.h"
#include "conf.h"
#include "fsutil.h"
#include "unit.h"

static int load(const char *rel, struct cloudd_config *cfg, struct errmsg *err)
{
	struct conf c = CONF_INIT;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	rc = conf_load_file(&c, unit_fixture(rel), err);
	if (rc == 0)
		rc = config_from_conf(&c, cfg, err);
	conf_free(&c);
	return rc;
}

TEST(config_full_file)
{
	struct cloudd_config cfg;
	struct errmsg err = { 0 };
	char msg[1024], addr[64];

	CHECK_INT(load("config/good-full.conf", &cfg, &err), 0);
	(void)msg;
	CHECK_STR(httpd_addr_str((struct sockaddr *)&cfg.listen_addr, addr, sizeof(addr)), "192.0.2.10:8081");
	CHECK_STR(cfg.listen_interface, "eth0");
	CHECK_STR(cfg.state_path, "/etc/cloudd/state.json");
	CHECK_INT(cfg.accel, CLOUDD_ACCEL_TCG);
	CHECK_INT(cfg.converge_interval, 10);
	CHECK_INT(cfg.log_level, LOG_LEVEL_DEBUG);
	CHECK_INT(cfg.syslog, 0);
	CHECK_INT(cfg.max_body, 65536);
	CHECK_INT(cfg.http_connections, 4);
	CHECK_STR(cfg.sysroot, "/srv/root");
}

TEST(config_defaults)
{
	struct cloudd_config cfg;
	struct errmsg err = { 0 };
	char addr[64];

	CHECK_INT(load("config/good-empty.conf", &cfg, &err), 0);
	CHECK_STR(httpd_addr_str((struct sockaddr *)&cfg.listen_addr, addr, sizeof(addr)), "0.0.0.0:8081");
	CHECK_STR(cfg.boot_env, CLOUDD_DEFAULT_BOOT_ENV);
	CHECK_STR(cfg.run_dir, CLOUDD_DEFAULT_RUN_DIR);
	CHECK_STR(cfg.state_path, "");
	CHECK_INT(cfg.accel, CLOUDD_ACCEL_AUTO);
	CHECK_INT(cfg.syslog, 1);
	CHECK_INT(cfg.max_body, CLOUDD_DEFAULT_MAX_BODY);
	CHECK_INT(cfg.converge_interval, CLOUDD_DEFAULT_CONVERGE_INTERVAL);
}

TEST(config_ipv6_listen)
{
	struct cloudd_config cfg;
	struct errmsg err = { 0 };
	char addr[64];

	CHECK_INT(load("config/good-ipv6.conf", &cfg, &err), 0);
	CHECK_STR(httpd_addr_str((struct sockaddr *)&cfg.listen_addr, addr, sizeof(addr)), "[2001:db8::1]:9000");
}

/* Each bad-*.conf starts with "# error: <text the error message must contain>". */
TEST(config_bad_files_name_the_problem)
{
	DIR *d = opendir(unit_fixture("config"));
	struct dirent *de;
	int seen = 0;

	CHECK(d != NULL);
	while ((de = readdir(d)) != NULL) {
		struct cloudd_config cfg;
		struct errmsg err = { 0 };
		char rel[512], first[512], msg[1024];

		if (strncmp(de->d_name, "bad-", 4) != 0)
			continue;
		seen++;
		snprintf(rel, sizeof(rel), "config/%s", de->d_name);
		if (fs_read_line(unit_fixture(rel), first, sizeof(first)) < 0 ||
		    strncmp(first, "# error: ", 9) != 0) {
			closedir(d);
			UNIT_FAIL("%s: first line must be \"# error: ...\"", rel);
		}
		if (load(rel, &cfg, &err) == 0) {
			closedir(d);
			UNIT_FAIL("%s was accepted", rel);
		}
		errmsg_str(&err, msg, sizeof(msg));
		if (strstr(msg, first + 9) == NULL) {
			closedir(d);
			UNIT_FAIL("%s: error \"%s\" does not contain \"%s\"", rel, msg, first + 9);
		}
	}
	closedir(d);
	CHECK(seen >= 15);
}

TEST(config_command_line_wins)
{
	struct cloudd_config cfg;
	struct errmsg err = { 0 };
	enum config_action action;
	char addr[64];
	char *argv[] = { "cloudd", "-n", "--config", (char *)NULL, "--listen", "127.0.0.1:9999",
			 "--log-level", "warn", NULL };
	char path[4096];

	snprintf(path, sizeof(path), "%s", unit_fixture("config/good-full.conf"));
	argv[3] = path;
	CHECK_INT(config_load(8, argv, &cfg, &action, &err), 0);
	CHECK_INT(action, CONFIG_CHECK);
	CHECK_STR(httpd_addr_str((struct sockaddr *)&cfg.listen_addr, addr, sizeof(addr)), "127.0.0.1:9999");
	CHECK_INT(cfg.log_level, LOG_LEVEL_WARN);
	CHECK_INT(cfg.converge_interval, 10); /* from the file */
}

TEST(config_command_line_errors)
{
	struct cloudd_config cfg;
	struct errmsg err = { 0 };
	enum config_action action;
	char msg[1024];
	char *bad_value[] = { "cloudd", "--config", "/nonexistent/x.conf", NULL };
	char *bad_opt[] = { "cloudd", "--frobnicate", NULL };
	char *bad_range[] = { "cloudd", "--config", "/dev/null", "--http-connections", "0", NULL };
	char *stray[] = { "cloudd", "--config", "/dev/null", "extra", NULL };

	CHECK_INT(config_load(3, bad_value, &cfg, &action, &err), -1);
	CHECK_CONTAINS(errmsg_str(&err, msg, sizeof(msg)), "/nonexistent/x.conf: No such file");
	err = (struct errmsg){ 0 };
	CHECK_INT(config_load(2, bad_opt, &cfg, &action, &err), -1);
	CHECK_CONTAINS(errmsg_str(&err, msg, sizeof(msg)), "unknown option --frobnicate");
	err = (struct errmsg){ 0 };
	CHECK_INT(config_load(5, bad_range, &cfg, &action, &err), -1);
	CHECK_STR(errmsg_str(&err, msg, sizeof(msg)),
		  "command line: --http-connections: 0 is out of range 1..256");
	err = (struct errmsg){ 0 };
	CHECK_INT(config_load(4, stray, &cfg, &action, &err), -1);
	CHECK_CONTAINS(errmsg_str(&err, msg, sizeof(msg)), "unexpected argument \"extra\"");
}
