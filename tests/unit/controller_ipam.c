/* controller_ipam.c -- guest subnet parsing, address enumeration, allocation that never repeats and reuses released addresses */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller.h"
#include "unit.h"

TEST(parse_and_enumerate)
{
	struct ipam_subnet s;
	char a[16];

	CHECK_INT(ipam_parse("198.51.100.0/24", "198.51.100.1", &s), 0);
	CHECK_INT((int)ipam_size(&s), 253);
	CHECK_INT(ipam_nth(&s, 0, a), 0);
	CHECK_STR(a, "198.51.100.2"); /* .1 is the gateway */
	CHECK_INT(ipam_nth(&s, 252, a), 0);
	CHECK_STR(a, "198.51.100.254");
	CHECK_INT(ipam_nth(&s, 253, a), -1);
	CHECK_INT(ipam_parse("192.0.2.0/29", NULL, &s), 0);
	CHECK_INT((int)ipam_size(&s), 6);
	CHECK_INT(ipam_parse("192.0.2.0/29", "192.0.2.5", &s), 0);
	CHECK_INT(ipam_nth(&s, 4, a), 0);
	CHECK_STR(a, "192.0.2.6"); /* skips .5 */
}

TEST(parse_rejects)
{
	struct ipam_subnet s;

	CHECK_INT(ipam_parse("198.51.100.1/24", NULL, &s), -1);    /* host bits */
	CHECK_INT(ipam_parse("198.51.100.0/31", NULL, &s), -1);    /* too small */
	CHECK_INT(ipam_parse("198.51.100.0/7", NULL, &s), -1);
	CHECK_INT(ipam_parse("198.51.100.0", NULL, &s), -1);
	CHECK_INT(ipam_parse("198.51.100.0/24x", NULL, &s), -1);
	CHECK_INT(ipam_parse("300.0.0.0/24", NULL, &s), -1);
	CHECK_INT(ipam_parse("198.51.100.0/24", "203.0.113.1", &s), -1); /* gateway outside */
	CHECK_INT(ipam_parse("198.51.100.0/24", "198.51.100.255", &s), -1);
}

TEST(allocate_until_full_then_reuse)
{
	static struct controller ctrl;
	struct errmsg err = { 0 };
	char dir[] = "/tmp/controller-ipam-XXXXXX", path[128], a[16], owner[16], cmd[160];
	char seen[8][16];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/c.db", dir);
	CHECK_INT(db_open(&ctrl.db, path, &err), 0);
	snprintf(ctrl.cfg.guest_subnet, sizeof(ctrl.cfg.guest_subnet), "192.0.2.0/29");
	snprintf(ctrl.cfg.guest_gateway, sizeof(ctrl.cfg.guest_gateway), "192.0.2.1");
	for (int i = 0; i < 5; i++) {
		snprintf(owner, sizeof(owner), "i-%d", i);
		CHECK_INT(ipam_allocate(&ctrl, owner, "instance", seen[i]), 0);
		for (int j = 0; j < i; j++)
			CHECK(strcmp(seen[i], seen[j]) != 0);
	}
	CHECK_INT(ipam_allocate(&ctrl, "i-full", "instance", a), -1);
	CHECK_INT(errno, ENOSPC);
	CHECK_INT(ipam_release(&ctrl.db, "i-2"), 0);
	CHECK_INT(ipam_allocate(&ctrl, "i-new", "instance", a), 0);
	CHECK_STR(a, seen[2]);
	ctrl.cfg.guest_subnet[0] = '\0';
	CHECK_INT(ipam_allocate(&ctrl, "i-x", "instance", a), -1);
	CHECK_INT(errno, ENOENT);
	db_close(&ctrl.db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

TEST(ipv6_parse_enumerate_allocate)
{
	static struct controller ctrl;
	struct errmsg err = { 0 };
	unsigned char net[16];
	unsigned prefix;
	char dir[] = "/tmp/controller-ipam6-XXXXXX", path[128], a[46], b[46], cmd[160];

	CHECK_INT(ipam6_parse("2001:db8:100::/64", net, &prefix), 0);
	CHECK_INT((int)prefix, 64);
	CHECK_INT(ipam6_nth(net, prefix, 0, a), 0);
	CHECK_STR(a, "2001:db8:100::2");
	CHECK_INT(ipam6_nth(net, prefix, 0xfffe, a), 0);
	CHECK_STR(a, "2001:db8:100::1:0");
	CHECK_INT(ipam6_parse("2001:db8:100::1/64", net, &prefix), -1); /* host bits */
	CHECK_INT(ipam6_parse("2001:db8:100::/48", net, &prefix), -1);
	CHECK_INT(ipam6_parse("2001:db8:100::/121", net, &prefix), -1);
	CHECK_INT(ipam6_parse("198.51.100.0/24", net, &prefix), -1);
	CHECK_INT(ipam6_parse("2001:db8:100::/120", net, &prefix), 0);
	CHECK_INT(ipam6_nth(net, prefix, 252, a), 0);
	CHECK_STR(a, "2001:db8:100::fe");
	CHECK_INT(ipam6_nth(net, prefix, 253, a), -1); /* ::ff is the last: left out like a broadcast */

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/c.db", dir);
	CHECK_INT(db_open(&ctrl.db, path, &err), 0);
	snprintf(ctrl.cfg.guest_subnet6, sizeof(ctrl.cfg.guest_subnet6), "2001:db8:100::/64");
	CHECK_INT(ipam6_allocate(&ctrl, "i-1", "instance", a), 0);
	CHECK_INT(ipam6_allocate(&ctrl, "i-2", "instance", b), 0);
	CHECK(strcmp(a, b) != 0);
	CHECK_STR(a, "2001:db8:100::2");
	db_close(&ctrl.db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}
