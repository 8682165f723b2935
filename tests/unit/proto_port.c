/* proto_port.c -- unit tests for the guest NIC port names */
#include <errno.h>

#include "unit.h"
#include "port.h"

TEST(port_name_is_fnv1a_of_instance_and_index)
{
	char name[PORT_IFNAME_LEN];

	/* FNV-1a-32("i-0001/0") = 0xd1b4dbef, computed independently */
	CHECK_INT(port_ifname("i-0001", 0, name, sizeof(name)), 0);
	CHECK_STR(name, "cvd1b4dbef");
	CHECK_INT(port_ifname("i-0001", 1, name, sizeof(name)), 0);
	CHECK_STR(name, "cvd0b4da5c");
	CHECK_INT(port_ifname("a", 0, name, sizeof(name)), 0);
	CHECK_STR(name, "cve88df4ab");
}

TEST(port_name_fits_ifnamsiz_and_is_recognised)
{
	char name[PORT_IFNAME_LEN];
	const char *long_id = "a23456789012345678901234567890123456789012345678901234567890123";

	CHECK_INT(port_ifname(long_id, 4095, name, sizeof(name)), 0);
	CHECK(strlen(name) <= 15);
	CHECK(port_ifname_valid(name));
	CHECK(!port_ifname_valid("cv1234567"));
	CHECK(!port_ifname_valid("cv1234567g"));
	CHECK(!port_ifname_valid("eth0"));
	CHECK(!port_ifname_valid(NULL));
}

TEST(port_name_rejects_bad_arguments)
{
	char small[10];
	char name[PORT_IFNAME_LEN];

	errno = 0;
	CHECK_INT(port_ifname("i-1", 0, small, sizeof(small)), -1);
	CHECK_INT(errno, ERANGE);
	CHECK_INT(port_ifname(NULL, 0, name, sizeof(name)), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(port_ifname("i-1", -1, name, sizeof(name)), -1);
	CHECK_INT(errno, EINVAL);
}

TEST(port_names_differ_across_nics_and_instances)
{
	char a[PORT_IFNAME_LEN], b[PORT_IFNAME_LEN];
	int i, j, distinct = 1;

	/* no collision among 200 instances x 4 NICs (the hash spreads) */
	static char names[800][PORT_IFNAME_LEN];
	for (i = 0; i < 200; i++) {
		char id[16];
		snprintf(id, sizeof(id), "i-%04d", i);
		for (j = 0; j < 4; j++)
			CHECK_INT(port_ifname(id, j, names[i * 4 + j], PORT_IFNAME_LEN), 0);
	}
	for (i = 0; i < 800 && distinct; i++)
		for (j = i + 1; j < 800; j++)
			if (strcmp(names[i], names[j]) == 0)
				distinct = 0;
	CHECK(distinct);
	CHECK_INT(port_ifname("web-1", 0, a, sizeof(a)), 0);
	CHECK_INT(port_ifname("web-10", 0, b, sizeof(b)), 0);
	CHECK(strcmp(a, b) != 0);
}
