/* netaddr.c -- IPv4/IPv6 prefixes ("ADDR/N") and Ethernet MAC addresses parsed from text */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

int netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		memcpy(out->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		out->prefix = 32;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(out->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		out->prefix = 128;
	} else {
		errno = EAFNOSUPPORT;
		return -1;
	}
	out->family = sa->sa_family;
	return 0;
}

const char *netaddr_format(const struct netaddr *a, char *out, size_t outlen)
{
	if (inet_ntop(a->family, a->addr, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "?");
	return out;
}

/*
 * The IPv4 address an IPv6 one carries: ::ffff:a.b.c.d (mapped) or
 * ::a.b.c.d (compatible, but not :: and ::1), which a dual-stack socket
 * connects to as IPv4. 1 and v4 filled, else 0.
 */
static int netaddr_embedded_ipv4(const struct netaddr *a, struct netaddr *v4)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t zero[12];

	if (a->family != AF_INET6 || (memcmp(a->addr, mapped, 12) != 0 && memcmp(a->addr, zero, 12) != 0))
		return 0;
	if (memcmp(a->addr, zero, 12) == 0 && a->addr[12] == 0 && a->addr[13] == 0 && a->addr[14] == 0 &&
	    a->addr[15] <= 1)
		return 0; /* :: and ::1 are IPv6's own */
	memset(v4, 0, sizeof(*v4));
	v4->family = AF_INET;
	memcpy(v4->addr, a->addr + 12, 4);
	v4->prefix = a->prefix > 96 ? a->prefix - 96 : 0;
	return 1;
}

int netaddr_contains(const struct netaddr *net, const struct netaddr *a)
{
	struct netaddr v4;
	int bits = net->prefix;

	if (net->family == AF_INET && netaddr_embedded_ipv4(a, &v4))
		a = &v4;
	if (net->family != a->family)
		return 0;
	if (memcmp(net->addr, a->addr, (size_t)(bits / 8)) != 0)
		return 0;
	if (bits % 8) {
		uint8_t mask = (uint8_t)(0xff00 >> (bits % 8));
		if ((net->addr[bits / 8] & mask) != (a->addr[bits / 8] & mask))
			return 0;
	}
	return 1;
}

const char *netaddr_special(const struct netaddr *a)
{
	struct netaddr v4;
	const uint8_t *b = a->addr;

	if (netaddr_embedded_ipv4(a, &v4))
		return netaddr_special(&v4);
	if (a->family == AF_INET) {
		if (b[0] == 127)
			return "loopback";
		if (b[0] == 0)
			return "unspecified";
		if (b[0] == 169 && b[1] == 254)
			return "link-local";
		if (b[0] >= 224 && b[0] < 240)
			return "multicast";
		if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255)
			return "broadcast";
		return NULL;
	}
	if (a->family != AF_INET6)
		return NULL;
	{
		static const uint8_t zero[15];
		if (memcmp(b, zero, 15) == 0 && b[15] == 1)
			return "loopback";
		if (memcmp(b, zero, 15) == 0 && b[15] == 0)
			return "unspecified";
	}
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "link-local";
	if (b[0] == 0xff)
		return "multicast";
	return NULL;
}

int netaddr_list_add(struct netaddr_list *l, const struct netaddr *net)
{
	if (l->n >= NETADDR_LIST_MAX) {
		errno = E2BIG;
		return -1;
	}
	l->net[l->n++] = *net;
	return 0;
}

int netaddr_parse_list(const char *text, struct netaddr_list *out, char *why, size_t whylen)
{
	const char *p = text;

	memset(out, 0, sizeof(*out));
	snprintf(why, whylen, "%s", "");
	while (*p) {
		char item[INET6_ADDRSTRLEN + 8];
		size_t len = strcspn(p, ", \t");
		struct netaddr net;

		if (len == 0) {
			p++;
			continue;
		}
		if (len >= sizeof(item) || (memcpy(item, p, len), item[len] = '\0', netaddr_parse_cidr(item, &net) < 0) ||
		    netaddr_host_bits(&net)) {
			snprintf(why, whylen, "not a network like 192.0.2.0/24 or 2001:db8::/64 (host bits zero;"
				 " a list is separated by commas): \"%.*s\"", (int)(len > 64 ? 64 : len), p);
			return netaddr_invalid();
		}
		if (netaddr_list_add(out, &net) < 0) {
			snprintf(why, whylen, "more than %d networks (from \"%s\" on)", NETADDR_LIST_MAX, item);
			return -1;
		}
		p += len;
	}
	return 0;
}

int netaddr_list_contains(const struct netaddr_list *l, const struct netaddr *a)
{
	for (int i = 0; l && i < l->n; i++)
		if (netaddr_contains(&l->net[i], a))
			return 1;
	return 0;
}

const char *netaddr_forbidden(const struct netaddr *a, const struct netaddr_list *own, const char *own_what,
			      const struct netaddr_list *allow)
{
	const char *why = netaddr_special(a);

	if (why == NULL && netaddr_list_contains(own, a))
		why = own_what;
	if (why && netaddr_list_contains(allow, a))
		return NULL;
	return why;
}

int netaddr_url_origin(const char *url, struct netaddr_origin *out)
{
	const char *p, *end, *host, *colon = NULL;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (strncmp(url, "http://", 7) == 0) {
		strcpy(out->scheme, "http"), out->port = 80, p = url + 7;
	} else if (strncmp(url, "https://", 8) == 0) {
		strcpy(out->scheme, "https"), out->port = 443, p = url + 8;
	} else {
		return netaddr_invalid();
	}
	end = p + strcspn(p, "/?#");
	host = p;
	for (const char *q = p; q < end; q++) /* user information: the host is after the last '@' */
		if (*q == '@')
			host = q + 1;
	if (*host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));
		if (close == NULL || (close + 1 != end && close[1] != ':'))
			return netaddr_invalid();
		len = (size_t)(close - host - 1);
		host++;
		colon = close + 1 != end ? close + 1 : NULL;
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
		len = (size_t)((colon ? colon : end) - host);
	}
	if (len == 0 || len >= sizeof(out->host))
		return netaddr_invalid();
	for (size_t i = 0; i < len; i++)
		out->host[i] = (char)tolower((unsigned char)host[i]);
	if (colon && colon + 1 < end) {
		unsigned long port = 0;
		for (const char *q = colon + 1; q < end; q++) {
			if (*q < '0' || *q > '9' || (port = port * 10 + (unsigned long)(*q - '0')) > 65535)
				return netaddr_invalid();
		}
		if (port == 0)
			return netaddr_invalid();
		out->port = (unsigned)port;
	}
	return 0;
}

int netaddr_same_origin(const struct netaddr_origin *a, const struct netaddr_origin *b)
{
	return strcmp(a->scheme, b->scheme) == 0 && strcmp(a->host, b->host) == 0 && a->port == b->port;
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
