/* netaddr.h -- IPv4/IPv6 prefixes ("ADDR/N") and Ethernet MAC addresses parsed from text */
#ifndef CLOUDD_NETADDR_H
#define CLOUDD_NETADDR_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* An address and its prefix length, in network byte order as inet_pton writes it. */
struct netaddr {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* 4 bytes used for AF_INET */
	int prefix;	  /* bits: 0..32 or 0..128 */
};

#define NETADDR_MAC_LEN 17 /* characters of "aa:bb:cc:dd:ee:ff" */

/* "ADDR" alone (IPv6 when it has a ':'): prefix is the family's full width. 0, or -1 with EINVAL. */
int netaddr_parse(const char *text, struct netaddr *out);
/*
 * "ADDR/N": N decimal, no sign, no leading zero, at most the family's width.
 * Host bits (past N) may be set: netaddr_host_bits says so. 0, or -1 with EINVAL.
 */
int netaddr_parse_cidr(const char *text, struct netaddr *out);
/* 1 when a bit past the prefix is set (an interface address, not a network), else 0 */
int netaddr_host_bits(const struct netaddr *a);
/* The address as a 32-bit number in host byte order (AF_INET only). */
uint32_t netaddr_ipv4(const struct netaddr *a);

/* The address of an AF_INET or AF_INET6 socket address (full prefix). 0, or -1 with EAFNOSUPPORT. */
int netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out);
/* The address alone as text ("192.0.2.1", "fe80::1"); out is "?" when it does not fit. Returns out. */
const char *netaddr_format(const struct netaddr *a, char *out, size_t outlen);
/* 1 when a is inside net: same family, equal in the first net->prefix bits (IPv4-mapped IPv6 as IPv4). */
int netaddr_contains(const struct netaddr *net, const struct netaddr *a);

/*
 * What makes an address internal on any host, whatever its networks:
 * "loopback" (127/8, ::1), "unspecified" (0/8, ::), "link-local"
 * (169.254/16, fe80::/10), "multicast" (224/4, ff00::/8) or "broadcast"
 * (255.255.255.255); NULL for any other. An IPv4-mapped or IPv4-compatible
 * IPv6 address (::ffff:a.b.c.d, ::a.b.c.d) is judged as the IPv4 address it carries.
 */
const char *netaddr_special(const struct netaddr *a);

/* A short list of networks: an admin's allow list, a host's own networks. */
#define NETADDR_LIST_MAX 32
struct netaddr_list {
	int n;
	struct netaddr net[NETADDR_LIST_MAX];
};

/*
 * "CIDR, CIDR ..." (commas and/or blanks between; "" is the empty list), each
 * an "ADDR/N" of netaddr_parse_cidr without host bits. 0, or -1 with EINVAL
 * (an item is not such a network) or E2BIG (more than NETADDR_LIST_MAX), and
 * why says so naming the item, for a configuration error.
 */
int netaddr_parse_list(const char *text, struct netaddr_list *out, char *why, size_t whylen);
/* Appends net; -1 with E2BIG when the list is full. */
int netaddr_list_add(struct netaddr_list *l, const struct netaddr *net);
/* 1 when a is inside one of the list's networks (l may be NULL: empty). */
int netaddr_list_contains(const struct netaddr_list *l, const struct netaddr *a);

/*
 * Whether a host may be made to connect to a on a tenant's behalf (a template
 * URL): NULL when it may, else why not: netaddr_special's class, or own_what
 * when a is inside one of own (the host's own addresses and networks; may be
 * NULL). An address inside allow (the admin's list; may be NULL) is always
 * allowed: the admin says that internal network serves templates.
 */
const char *netaddr_forbidden(const struct netaddr *a, const struct netaddr_list *own, const char *own_what,
			      const struct netaddr_list *allow);

/*
 * The origin of an "http://" or "https://" URL: scheme, host (lower case,
 * IPv6 without its brackets; user information before an '@' skipped) and
 * port (80 or 443 unless given). 0, or -1 with EINVAL when it is not such a
 * URL or a part does not fit.
 */
struct netaddr_origin {
	char scheme[8];
	char host[256];
	unsigned port;
};
int netaddr_url_origin(const char *url, struct netaddr_origin *out);
/* 1 when both name the same scheme, host and port */
int netaddr_same_origin(const struct netaddr_origin *a, const struct netaddr_origin *b);

/* MAC flags: what a parse accepts beyond "xx:xx:xx:xx:xx:xx" of any hex case */
#define NETADDR_MAC_DASH 1    /* also "xx-xx-xx-xx-xx-xx" (one separator throughout) */
#define NETADDR_MAC_UNICAST 2 /* refuse group (multicast) and all-zero addresses */

/* 0 and mac filled, or -1 with EINVAL. */
int netaddr_parse_mac(const char *text, unsigned flags, uint8_t mac[6]);
/* Lower case "aa:bb:cc:dd:ee:ff". */
void netaddr_format_mac(const uint8_t mac[6], char out[NETADDR_MAC_LEN + 1]);

#endif
