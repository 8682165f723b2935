/* controller_config.c -- cloud-controller settings: valid files pass, each kind of mistake fails naming the key */
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "controller.h"
#include "unit.h"

static int parse(const char *text, struct ctl_config *cfg, struct errmsg *err)
{
	struct conf c = CONF_INIT;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	memset(err, 0, sizeof(*err));
	rc = conf_parse(&c, "controller.conf", text, err);
	if (rc == 0)
		rc = config_from_conf(&c, cfg, err);
	conf_free(&c);
	return rc;
}

TEST(defaults)
{
	struct ctl_config cfg;
	struct errmsg err;

	CHECK_INT(parse("", &cfg, &err), 0);
	CHECK_INT(cfg.netboot, NETBOOT_OFF);
	CHECK_INT(cfg.unknown_mac, UNKNOWN_IGNORE);
	CHECK_STR(cfg.default_role, "hypervisor");
	CHECK_INT(cfg.heartbeat_interval, 5);
	CHECK_INT(cfg.down_after, 60);
	CHECK_INT(cfg.token_ttl, 600);
	CHECK_STR(cfg.url, "http://127.0.0.1:8080");
	CHECK_STR(cfg.data_dir, CTL_DEFAULT_DATA_DIR);
}

TEST(dhcp_mode)
{
	struct ctl_config cfg;
	struct errmsg err;

	CHECK_INT(parse("listen = 192.0.2.1:8080\nnetboot = dhcp\ninterface = prov0\n"
			"dhcp-range = 192.0.2.100,192.0.2.200,255.255.255.0\nunknown-mac = enroll\n",
			&cfg, &err), 0);
	CHECK_INT(cfg.netboot, NETBOOT_DHCP);
	CHECK_STR(cfg.url, "http://192.0.2.1:8080");
	CHECK_STR(cfg.interface, "prov0");
	CHECK_INT(cfg.unknown_mac, UNKNOWN_ENROLL);
}

TEST(pending_policy_and_token_ttl)
{
	struct ctl_config cfg;
	struct errmsg err;

	CHECK_INT(parse("unknown-mac = pending\ntoken-ttl = 10\n", &cfg, &err), 0);
	CHECK_INT(cfg.unknown_mac, UNKNOWN_PENDING);
	CHECK_INT(cfg.token_ttl, 10);
	CHECK_INT(parse("token-ttl = 3600\n", &cfg, &err), 0);
	CHECK_INT(cfg.token_ttl, 3600);
}

TEST(proxy_mode)
{
	struct ctl_config cfg;
	struct errmsg err;

	CHECK_INT(parse("url = http://192.0.2.1:8080\nnetboot = proxy\ninterface = prov0\ndhcp-range = 192.0.2.0\n",
			&cfg, &err), 0);
	CHECK_INT(cfg.netboot, NETBOOT_PROXY);
	CHECK_STR(cfg.dhcp_range, "192.0.2.0");
}

TEST(template_allow_cidrs)
{
	struct ctl_config cfg;
	struct errmsg err;
	struct netaddr a;

	CHECK_INT(parse("template-allow-cidrs = 192.0.2.0/24, 2001:db8::/64\n", &cfg, &err), 0);
	CHECK_INT(cfg.template_allow.n, 2);
	CHECK_INT(netaddr_parse("2001:db8::7", &a), 0);
	CHECK_INT(netaddr_list_contains(&cfg.template_allow, &a), 1);
	CHECK_INT(parse("", &cfg, &err), 0);
	CHECK_INT(cfg.template_allow.n, 0);
}

TEST(bad_settings_fail_naming_the_key)
{
	static const struct {
		const char *text, *field_has;
	} bad[] = {
		{ "netboot = maybe\n", "netboot" },
		{ "listen = nowhere\n", "listen" },
		{ "url = ftp://x\n", "url" },
		{ "url = http://host/path\n", "url" },
		{ "netboot = dhcp\ninterface = p0\nurl = http://192.0.2.1:8080\n", "dhcp-range" },
		{ "netboot = dhcp\ndhcp-range = 192.0.2.10,192.0.2.20,255.255.255.0\nurl = http://192.0.2.1:8080\n", "interface" },
		{ "netboot = dhcp\ninterface = p0\nurl = http://192.0.2.1:8080\ndhcp-range = 192.0.2.20,192.0.2.10,255.255.255.0\n", "dhcp-range" },
		{ "netboot = dhcp\ninterface = p0\nurl = http://192.0.2.1:8080\ndhcp-range = 192.0.2.10,192.0.2.20,255.0.255.0\n", "dhcp-range" },
		{ "netboot = dhcp\ninterface = p0\nurl = http://192.0.2.1:8080\ndhcp-range = 192.0.2.10,198.51.100.20,255.255.255.0\n", "dhcp-range" },
		{ "netboot = proxy\ninterface = p0\nurl = http://192.0.2.1:8080\ndhcp-range = 192.0.2.1,192.0.2.9\n", "dhcp-range" },
		{ "netboot = dhcp\ninterface = p0\ndhcp-range = 192.0.2.10,192.0.2.20,255.255.255.0\n", "url" },
		{ "interface = has space\n", "interface" },
		{ "default-role = Bad_Role\n", "default-role" },
		{ "heartbeat-interval = 0\n", "heartbeat-interval" },
		{ "heartbeat-interval = 10\ndown-after = 20\n", "down-after" },
		{ "data-dir = relative/dir\n", "data-dir" },
		{ "kernel-args = a=${evil}\n", "kernel-args" },
		{ "max-body = 12Q\n", "max-body" },
		{ "token-ttl = 9\n", "token-ttl" },
		{ "token-ttl = 3601\n", "token-ttl" },
		{ "unknown-mac = approve\n", "unknown-mac" },
		{ "no-such-key = 1\n", "no-such-key" },
		{ "template-allow-cidrs = 192.0.2.0/24, 10.0.0.1/8\n", "template-allow-cidrs" },
		{ "template-allow-cidrs = localhost\n", "template-allow-cidrs" },
	};
	struct ctl_config cfg;
	struct errmsg err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i].text, &cfg, &err) == 0)
			UNIT_FAIL("accepted: %s", bad[i].text);
		if (strstr(err.field, bad[i].field_has) == NULL && strstr(err.msg, bad[i].field_has) == NULL)
			UNIT_FAIL("error for \"%s\" does not name %s: %s: %s", bad[i].text, bad[i].field_has, err.field, err.msg);
	}
}

TEST(command_line_overrides_file)
{
	char path[] = "/tmp/controller-config-XXXXXX";
	int fd = mkstemp(path);
	struct ctl_config cfg;
	struct errmsg err = { 0 };
	enum config_action action;
	char *argv[] = { "cloud-controller", "-c", path, "--heartbeat-interval", "7", "-n", NULL };
	FILE *f;

	CHECK(fd >= 0);
	f = fdopen(fd, "w");
	fputs("heartbeat-interval = 3\ndefault-role = storage\n", f);
	fclose(f);
	CHECK_INT(config_load(6, argv, &cfg, &action, &err), 0);
	unlink(path);
	CHECK_INT(action, CONFIG_CHECK);
	CHECK_INT(cfg.heartbeat_interval, 7);
	CHECK_STR(cfg.default_role, "storage");
}

TEST(util_mac_and_names)
{
	char mac[18];

	CHECK_INT(util_mac_parse("52:54:00:AB:cd:Ef", mac), 0);
	CHECK_STR(mac, "52:54:00:ab:cd:ef");
	CHECK_INT(util_mac_parse("52-54-00-ab-cd-ef", mac), 0);
	CHECK_STR(mac, "52:54:00:ab:cd:ef");
	CHECK_INT(util_mac_parse("52:54:00:ab:cd", mac), -1);
	CHECK_INT(util_mac_parse("52:54:00:ab:cd:eg", mac), -1);
	CHECK_INT(util_mac_parse("52:54-00:ab:cd:ef", mac), -1);
	CHECK_INT(util_mac_parse("01:00:5e:00:00:01", mac), -1); /* multicast */
	CHECK_INT(util_mac_parse("00:00:00:00:00:00", mac), -1);
	CHECK_INT(util_mac_parse("", mac), -1);
	CHECK(util_name_valid("node-a1", 63));
	CHECK(!util_name_valid("-node", 63));
	CHECK(!util_name_valid("node-", 63));
	CHECK(!util_name_valid("Node", 63));
	CHECK(!util_name_valid("", 63));
	CHECK(util_version_valid("2026.11.24-g1234abc"));
	CHECK(!util_version_valid("default"));
	CHECK(!util_version_valid("../etc"));
	CHECK(!util_version_valid(".hidden"));
	CHECK(!util_version_valid("a/b"));
}

TEST(json_writer_escapes)
{
	struct buf out = BUF_INIT;
	json_t *doc;

	CHECK_INT(util_json_string(&out, "a\"b\\c\n\x01 é"), 0);
	CHECK_STR(out.data, "\"a\\\"b\\\\c\\u000a\\u0001 é\"");
	doc = json_loads(out.data, JSON_DECODE_ANY, NULL);
	CHECK(doc != NULL);
	CHECK_STR(json_string_value(doc), "a\"b\\c\n\x01 é");
	json_decref(doc);
	buf_reset(&out);
	CHECK_INT(util_json_string(&out, NULL), 0);
	CHECK_STR(out.data, "null");
	buf_reset(&out);
	CHECK_INT(util_json_time(&out, 1700000000), 0);
	CHECK_STR(out.data, "\"2023-11-14T22:13:20Z\"");
	buf_reset(&out);
	CHECK_INT(util_json_time(&out, 0), 0);
	CHECK_STR(out.data, "null");
	buf_free(&out);
}

TEST(json_writer_numbers_and_times)
{
	struct buf out = BUF_INIT;

	CHECK_INT(util_json_int(&out, 0), 0);
	CHECK_INT(util_json_int(&out, -42), 0);
	CHECK_INT(util_json_int(&out, 274877906944LL), 0);
	CHECK_STR(out.data, "0-42274877906944");
	buf_reset(&out);
	CHECK_INT(util_json_time(&out, 951782400), 0); /* leap day */
	CHECK_STR(out.data, "\"2000-02-29T00:00:00Z\"");
	buf_reset(&out);
	CHECK_INT(util_json_time(&out, 4102444799LL), 0);
	CHECK_STR(out.data, "\"2099-12-31T23:59:59Z\"");
	buf_free(&out);
}
