/* netaddr.c -- IPv4/IPv6 prefixes ("ADDR/N") and Ethernet MAC addresses parsed from text */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "netaddr.h"

static int netaddr_invalid(void)
{
	errno = EINVAL;
	return -1;
}

int netaddr_parse(const char *text, struct netaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (strchr(text, ':') != NULL) {
		if (inet_pton(AF_INET6, text, out->addr) != 1)
			return netaddr_invalid();
		out->family = AF_INET6;
		out->prefix = 128;
	} else {
		if (inet_pton(AF_INET, text, out->addr) != 1)
			return netaddr_invalid();
		out->family = AF_INET;
		out->prefix = 32;
	}
	return 0;
}

int netaddr_parse_cidr(const char *text, struct netaddr *out)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/'), *p;
	size_t len;
	int prefix = 0;

	memset(out, 0, sizeof(*out));
	if (slash == NULL)
		return netaddr_invalid();
	len = (size_t)(slash - text);
	if (len == 0 || len >= sizeof(addr))
		return netaddr_invalid();
	memcpy(addr, text, len);
	addr[len] = '\0';
	if (netaddr_parse(addr, out) < 0)
		return -1;
	p = slash + 1;
	if (*p == '\0' || strlen(p) > 3 || (p[0] == '0' && p[1] != '\0')) /* no leading zeros: "/024" */
		return netaddr_invalid();
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return netaddr_invalid();
		prefix = prefix * 10 + (*p - '0');
	}
	if (prefix > out->prefix)
		return netaddr_invalid();
	out->prefix = prefix;
	return 0;
}

int netaddr_host_bits(const struct netaddr *a)
{
	int max = a->family == AF_INET ? 32 : 128;

	for (int i = a->prefix; i < max; i++)
		if (a->addr[i / 8] & (0x80 >> (i % 8)))
			return 1;
	return 0;
}

uint32_t netaddr_ipv4(const struct netaddr *a)
{
	return (uint32_t)a->addr[0] << 24 | (uint32_t)a->addr[1] << 16 | (uint32_t)a->addr[2] << 8 |
	       a->addr[3];
}

/* value of a hex digit already checked with isxdigit */
static int netaddr_xdigit(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

int netaddr_parse_mac(const char *text, unsigned flags, uint8_t mac[6])
{
	char sep;
	uint8_t v[6];
	int any = 0;

	if (strlen(text) != NETADDR_MAC_LEN)
		return netaddr_invalid();
	sep = text[2];
	if (sep != ':' && !(sep == '-' && (flags & NETADDR_MAC_DASH)))
		return netaddr_invalid();
	for (int i = 0; i < 6; i++) {
		const char *p = text + 3 * i;

		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) || (i < 5 && p[2] != sep))
			return netaddr_invalid();
		v[i] = (uint8_t)(netaddr_xdigit(p[0]) << 4 | netaddr_xdigit(p[1]));
		any |= v[i];
	}
	/* multicast (group bit) and all-zero MACs are never a NIC's address */
	if ((flags & NETADDR_MAC_UNICAST) && ((v[0] & 1) || !any))
		return netaddr_invalid();
	memcpy(mac, v, sizeof(v));
	return 0;
}

void netaddr_format_mac(const uint8_t mac[6], char out[NETADDR_MAC_LEN + 1])
{
	snprintf(out, NETADDR_MAC_LEN + 1, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
}
