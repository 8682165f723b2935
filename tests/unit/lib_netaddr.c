/* lib_netaddr.c -- CIDR prefixes, MAC addresses, URL origins and which addresses a tenant URL may reach: what is accepted, what is refused */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

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

/* netaddr_forbidden of the address in text, or "ok" when it may be connected to */
static const char *forbidden(const char *text, const struct netaddr_list *own, const struct netaddr_list *allow)
{
	struct netaddr a;
	const char *why;

	if (netaddr_parse(text, &a) < 0)
		return "unparsable";
	why = netaddr_forbidden(&a, own, "own", allow);
	return why ? why : "ok";
}

TEST(special_addresses_forbidden)
{
	static const char *const cases[][2] = {
		{ "127.0.0.1", "loopback" }, { "127.255.0.9", "loopback" }, { "::1", "loopback" },
		{ "0.0.0.0", "unspecified" }, { "0.1.2.3", "unspecified" }, { "::", "unspecified" },
		{ "169.254.169.254", "link-local" }, { "fe80::1", "link-local" }, { "febf::1", "link-local" },
		{ "224.0.0.1", "multicast" }, { "239.255.255.250", "multicast" }, { "ff02::1", "multicast" },
		{ "255.255.255.255", "broadcast" },
		/* IPv4 inside IPv6: judged as the IPv4 address a dual-stack socket reaches */
		{ "::ffff:127.0.0.1", "loopback" }, { "::ffff:169.254.169.254", "link-local" },
		{ "::127.0.0.1", "loopback" }, { "::ffff:0.0.0.0", "unspecified" },
		/* ordinary addresses, private ones included (a LAN may serve templates) */
		{ "192.0.2.10", "ok" }, { "10.0.0.1", "ok" }, { "169.253.255.255", "ok" }, { "240.0.0.1", "ok" },
		{ "2001:db8::1", "ok" }, { "fec0::1", "ok" }, { "fd00::1", "ok" }, { "::ffff:192.0.2.1", "ok" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = forbidden(cases[i][0], NULL, NULL);
		if (strcmp(got, cases[i][1]) != 0)
			printf("  %s: %s, want %s\n", cases[i][0], got, cases[i][1]);
		CHECK_STR(got, cases[i][1]);
	}
}

TEST(own_networks_and_allow_list)
{
	struct netaddr_list own, allow;
	char bad[256];

	CHECK_INT(netaddr_parse_list("10.9.0.0/16 2001:db8:9::/48", &own, bad, sizeof(bad)), 0);
	CHECK_INT(own.n, 2);
	CHECK_INT(netaddr_parse_list(" 192.0.2.0/24,127.0.0.0/8 , fe80::/10,10.9.3.0/24", &allow, bad, sizeof(bad)), 0);
	CHECK_INT(allow.n, 4);
	CHECK_STR(forbidden("10.9.1.1", &own, NULL), "own");
	CHECK_STR(forbidden("::ffff:10.9.1.1", &own, NULL), "own");
	CHECK_STR(forbidden("2001:db8:9:1::5", &own, NULL), "own");
	CHECK_STR(forbidden("10.8.1.1", &own, NULL), "ok");
	/* the allow list overrides both kinds of refusal, and only inside its networks */
	CHECK_STR(forbidden("127.0.0.1", &own, &allow), "ok");
	CHECK_STR(forbidden("::ffff:127.0.0.1", &own, &allow), "ok");
	CHECK_STR(forbidden("fe80::2", &own, &allow), "ok");
	CHECK_STR(forbidden("10.9.3.4", &own, &allow), "ok");
	CHECK_STR(forbidden("10.9.4.4", &own, &allow), "own");
	CHECK_STR(forbidden("::1", &own, &allow), "loopback");
	CHECK_STR(forbidden("169.254.1.1", &own, &allow), "link-local");
	CHECK_INT(netaddr_parse_list("", &allow, bad, sizeof(bad)), 0);
	CHECK_INT(allow.n, 0);
	/* refusals name the item: not a network, host bits, too many */
	CHECK_INT(netaddr_parse_list("192.0.2.0/24, 10.0.0.1/8", &allow, bad, sizeof(bad)), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_CONTAINS(bad, "not a network like 192.0.2.0/24");
	CHECK_CONTAINS(bad, "\"10.0.0.1/8\"");
	CHECK_INT(netaddr_parse_list("192.0.2.0/24;10.0.0.0/8", &allow, bad, sizeof(bad)), -1);
	CHECK_CONTAINS(bad, "\"192.0.2.0/24;10.0.0.0/8\"");
	CHECK_INT(netaddr_parse_list("192.0.2.0", &allow, bad, sizeof(bad)), -1);
	CHECK_CONTAINS(bad, "\"192.0.2.0\"");
	{
		char many[40 * 16] = "";
		for (int i = 0; i <= NETADDR_LIST_MAX; i++)
			snprintf(many + strlen(many), sizeof(many) - strlen(many), "10.%d.0.0/16 ", i);
		CHECK_INT(netaddr_parse_list(many, &allow, bad, sizeof(bad)), -1);
		CHECK_INT(errno, E2BIG);
		CHECK_CONTAINS(bad, "more than 32 networks (from \"10.32.0.0/16\" on)");
	}
}

TEST(sockaddr_and_format)
{
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct netaddr a;
	char text[64];

	inet_pton(AF_INET6, "::ffff:169.254.169.254", &in6.sin6_addr);
	CHECK_INT(netaddr_from_sockaddr((struct sockaddr *)&in6, &a), 0);
	CHECK_STR(netaddr_format(&a, text, sizeof(text)), "::ffff:169.254.169.254");
	CHECK_STR(netaddr_special(&a), "link-local");
	inet_pton(AF_INET, "203.0.113.7", &in.sin_addr);
	CHECK_INT(netaddr_from_sockaddr((struct sockaddr *)&in, &a), 0);
	CHECK_STR(netaddr_format(&a, text, sizeof(text)), "203.0.113.7");
	CHECK(netaddr_special(&a) == NULL);
	in.sin_family = AF_UNIX;
	CHECK_INT(netaddr_from_sockaddr((struct sockaddr *)&in, &a), -1);
}

TEST(url_origin)
{
	struct netaddr_origin o, c;

	CHECK_INT(netaddr_url_origin("http://Ctl.Example:8080/templates/t/file", &o), 0);
	CHECK_STR(o.scheme, "http");
	CHECK_STR(o.host, "ctl.example");
	CHECK_INT(o.port, 8080);
	CHECK_INT(netaddr_url_origin("http://ctl.example:8080", &c), 0);
	CHECK_INT(netaddr_same_origin(&o, &c), 1);
	CHECK_INT(netaddr_url_origin("http://ctl.example/x", &c), 0);
	CHECK_INT(c.port, 80);
	CHECK_INT(netaddr_same_origin(&o, &c), 0);
	CHECK_INT(netaddr_url_origin("https://[2001:DB8::1]/x", &o), 0);
	CHECK_STR(o.host, "2001:db8::1");
	CHECK_INT(o.port, 443);
	CHECK_INT(netaddr_url_origin("http://[::1]:81?q", &o), 0);
	CHECK_STR(o.host, "::1");
	CHECK_INT(o.port, 81);
	/* user information is not the host: curl connects to what follows the last '@' */
	CHECK_INT(netaddr_url_origin("http://192.0.2.1:80@127.0.0.1:9/x", &o), 0);
	CHECK_STR(o.host, "127.0.0.1");
	CHECK_INT(o.port, 9);
	CHECK_INT(netaddr_url_origin("ftp://x/y", &o), -1);
	CHECK_INT(netaddr_url_origin("http:///y", &o), -1);
	CHECK_INT(netaddr_url_origin("http://x:65536/", &o), -1);
	CHECK_INT(netaddr_url_origin("http://x:8o/", &o), -1);
	CHECK_INT(netaddr_url_origin("http://[::1/", &o), -1);
	CHECK_INT(netaddr_url_origin("http://[::1]x/", &o), -1);
}
