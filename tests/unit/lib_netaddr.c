/* lib_netaddr.c -- CIDR prefixes and MAC addresses: what is accepted, what is refused */
#include <arpa/inet.h>
#include <errno.h>

#include "netaddr.h"
#include "unit.h"

TEST(cidr_ipv4_and_ipv6)
{
	struct netaddr a;

	CHECK_INT(netaddr_parse_cidr("10.1.2.0/24", &a), 0);
	CHECK_INT(a.family, AF_INET);
	CHECK_INT(a.prefix, 24);
	CHECK_INT(netaddr_ipv4(&a), 0x0a010200);
	CHECK_INT(netaddr_host_bits(&a), 0);
	CHECK_INT(netaddr_parse_cidr("10.1.2.7/24", &a), 0);
	CHECK_INT(netaddr_host_bits(&a), 1);
	CHECK_INT(netaddr_parse_cidr("0.0.0.0/0", &a), 0);
	CHECK_INT(a.prefix, 0);
	CHECK_INT(netaddr_parse_cidr("2001:db8::/64", &a), 0);
	CHECK_INT(a.family, AF_INET6);
	CHECK_INT(a.prefix, 64);
	CHECK_INT(netaddr_host_bits(&a), 0);
	CHECK_INT(netaddr_parse_cidr("2001:db8::1/64", &a), 0);
	CHECK_INT(netaddr_host_bits(&a), 1);
	CHECK_INT(netaddr_parse_cidr("::1/128", &a), 0);
	CHECK_INT(netaddr_host_bits(&a), 0);
}

TEST(cidr_refusals)
{
	static const char *const bad[] = {
		"10.1.2.0", "10.1.2.0/", "/24", "10.1.2.0/33", "10.1.2.0/024", "10.1.2.0/+24",
		"10.1.2.0/ 24", "10.1.2.0/24x", "10.1.2/24", "2001:db8::/129", "2001:db8::/1000",
		"10.1.2.0/24/1", "x/8", "",
	};
	struct netaddr a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		if (netaddr_parse_cidr(bad[i], &a) == 0)
			UNIT_FAIL("accepted \"%s\"", bad[i]);
		CHECK_INT(errno, EINVAL);
	}
}

TEST(address_without_prefix)
{
	struct netaddr a;

	CHECK_INT(netaddr_parse("192.0.2.1", &a), 0);
	CHECK_INT(a.prefix, 32);
	CHECK_INT(netaddr_parse("fe80::1", &a), 0);
	CHECK_INT(a.prefix, 128);
	CHECK_INT(netaddr_parse("192.0.2.1/32", &a), -1);
	CHECK_INT(netaddr_parse("fe80::1::2", &a), -1);
}

TEST(mac_parse_and_format)
{
	uint8_t mac[6];
	char text[NETADDR_MAC_LEN + 1];

	CHECK_INT(netaddr_parse_mac("52:54:00:AB:cd:0f", 0, mac), 0);
	netaddr_format_mac(mac, text);
	CHECK_STR(text, "52:54:00:ab:cd:0f");
	CHECK_INT(netaddr_parse_mac("52-54-00-ab-cd-0f", 0, mac), -1);
	CHECK_INT(netaddr_parse_mac("52-54-00-ab-cd-0f", NETADDR_MAC_DASH, mac), 0);
	CHECK_INT(netaddr_parse_mac("52-54:00-ab-cd-0f", NETADDR_MAC_DASH, mac), -1);
	CHECK_INT(netaddr_parse_mac("52:54:00:ab:cd:0", 0, mac), -1);
	CHECK_INT(netaddr_parse_mac("52:54:00:ab:cd:0f0", 0, mac), -1);
	CHECK_INT(netaddr_parse_mac("52:54:00:ab:cd:0g", 0, mac), -1);
	CHECK_INT(netaddr_parse_mac(" 2:54:00:ab:cd:0f", 0, mac), -1);
	CHECK_INT(netaddr_parse_mac("01:00:5e:00:00:01", 0, mac), 0);
	CHECK_INT(netaddr_parse_mac("01:00:5e:00:00:01", NETADDR_MAC_UNICAST, mac), -1);
	CHECK_INT(netaddr_parse_mac("00:00:00:00:00:00", NETADDR_MAC_UNICAST, mac), -1);
	CHECK_INT(netaddr_parse_mac("02:00:00:00:00:00", NETADDR_MAC_UNICAST, mac), 0);
}
