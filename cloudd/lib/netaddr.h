/* netaddr.h -- IPv4/IPv6 prefixes ("ADDR/N") and Ethernet MAC addresses parsed from text */
#ifndef CLOUDD_NETADDR_H
#define CLOUDD_NETADDR_H

#include <stdint.h>

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

/* MAC flags: what a parse accepts beyond "xx:xx:xx:xx:xx:xx" of any hex case */
#define NETADDR_MAC_DASH 1    /* also "xx-xx-xx-xx-xx-xx" (one separator throughout) */
#define NETADDR_MAC_UNICAST 2 /* refuse group (multicast) and all-zero addresses */

/* 0 and mac filled, or -1 with EINVAL. */
int netaddr_parse_mac(const char *text, unsigned flags, uint8_t mac[6]);
/* Lower case "aa:bb:cc:dd:ee:ff". */
void netaddr_format_mac(const uint8_t mac[6], char out[NETADDR_MAC_LEN + 1]);

#endif
