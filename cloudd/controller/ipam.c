/* ipam.c -- addresses on the zone's guest subnet for instances and nodes, each handed out once */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "netaddr.h"

int ipam_parse(const char *cidr, const char *gateway, struct ipam_subnet *s)
{
	struct netaddr net;
	struct in_addr in;
	uint32_t host_mask;

	memset(s, 0, sizeof(*s));
	if (netaddr_parse_cidr(cidr, &net) < 0 || net.family != AF_INET || net.prefix < 8 ||
	    net.prefix > 29 || netaddr_host_bits(&net))
		goto err;
	s->network = netaddr_ipv4(&net);
	s->prefix = (unsigned)net.prefix;
	host_mask = (1u << (32 - net.prefix)) - 1;
	if (gateway) {
		if (inet_pton(AF_INET, gateway, &in) != 1)
			goto err;
		s->gateway = ntohl(in.s_addr);
		if ((s->gateway & ~host_mask) != s->network || s->gateway == s->network ||
		    s->gateway == (s->network | host_mask))
			goto err;
	}
	return 0;
err:
	errno = EINVAL;
	return -1;
}

unsigned long ipam_size(const struct ipam_subnet *s)
{
	unsigned long hosts = (1ul << (32 - s->prefix)) - 2;

	return s->gateway ? hosts - 1 : hosts;
}

int ipam_nth(const struct ipam_subnet *s, unsigned long n, char out[16])
{
	unsigned long a;
	struct in_addr in;

	if (n >= ipam_size(s))
		return -1;
	a = s->network + 1 + n;
	if (s->gateway && a >= s->gateway)
		a++;
	in.s_addr = htonl((uint32_t)a);
	inet_ntop(AF_INET, &in, out, 16);
	return 0;
}

/* Writes the n-th address of a subnet into out; -1 past its end. */
typedef int (*ipam_nth_fn)(const void *subnet, unsigned long n, char *out);

/*
 * Walks the subnet from *hint, where the last allocation ended (so a freed
 * address is reused last), wrapping once to its start, and inserts into
 * ip_addresses until an address is free; tries addresses at the most.
 */
static int ipam_claim(struct controller *ctrl, const char *owner, const char *kind, const void *subnet,
		      ipam_nth_fn nth, unsigned long tries, unsigned long *hint, char *out)
{
	sqlite3_stmt *st;
	unsigned long n = *hint;
	int wrapped = 0;

	st = db_prepare(&ctrl->db, "INSERT INTO ip_addresses VALUES (?, ?, ?, strftime('%s','now')) ON CONFLICT DO NOTHING");
	if (st == NULL)
		return -1;
	for (unsigned long i = 0; i < tries; i++, n++) {
		if (nth(subnet, n, out) < 0) {
			if (wrapped || n == 0)
				break;
			wrapped = 1;
			n = 0;
			if (nth(subnet, n, out) < 0)
				break;
		}
		sqlite3_reset(st);
		db_bind_text(st, 1, out);
		db_bind_text(st, 2, owner);
		db_bind_text(st, 3, kind);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			errno = EIO;
			return -1;
		}
		if (sqlite3_changes(ctrl->db.h) == 1) {
			sqlite3_finalize(st);
			*hint = n + 1;
			return 0;
		}
	}
	sqlite3_finalize(st);
	errno = ENOSPC;
	return -1;
}

static int ipam4_nth(const void *subnet, unsigned long n, char *out)
{
	return ipam_nth(subnet, n, out);
}

int ipam_allocate(struct controller *ctrl, const char *owner, const char *kind, char out[16])
{
	struct ipam_subnet sub;

	if (ctrl->cfg.guest_subnet[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (ipam_parse(ctrl->cfg.guest_subnet, ctrl->cfg.guest_gateway[0] ? ctrl->cfg.guest_gateway : NULL, &sub) < 0)
		return -1;
	return ipam_claim(ctrl, owner, kind, &sub, ipam4_nth, ipam_size(&sub), &ctrl->ipam_hint, out);
}

int ipam_release(struct db *db, const char *owner)
{
	return db_exec(db, "DELETE FROM ip_addresses WHERE owner = ?", 1, &owner);
}

int ipam6_parse(const char *cidr, unsigned char net[16], unsigned *prefix)
{
	struct netaddr a;

	if (netaddr_parse_cidr(cidr, &a) < 0 || a.family != AF_INET6 || a.prefix < 64 || a.prefix > 120 ||
	    netaddr_host_bits(&a)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(net, a.addr, 16);
	*prefix = (unsigned)a.prefix;
	return 0;
}

int ipam6_nth(const unsigned char net[16], unsigned prefix, unsigned long n, char out[46])
{
	unsigned char a[16];
	unsigned long long host = (unsigned long long)n + 2, carry;
	unsigned bits = 128 - prefix;

	if (bits < 64 && host + 1 >= (1ULL << bits))
		return -1;
	memcpy(a, net, 16);
	carry = host;
	for (int i = 15; i >= 0 && carry; i--) {
		unsigned v = a[i] + (unsigned)(carry & 0xff);
		a[i] = (unsigned char)v;
		carry = (carry >> 8) + (v >> 8);
	}
	return inet_ntop(AF_INET6, a, out, 46) ? 0 : -1;
}

struct ipam6_subnet {
	unsigned char net[16];
	unsigned prefix;
};

static int ipam6_nth_of(const void *subnet, unsigned long n, char *out)
{
	const struct ipam6_subnet *s = subnet;

	return ipam6_nth(s->net, s->prefix, n, out);
}

int ipam6_allocate(struct controller *ctrl, const char *owner, const char *kind, char out[46])
{
	struct ipam6_subnet sub;

	if (ctrl->cfg.guest_subnet6[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (ipam6_parse(ctrl->cfg.guest_subnet6, sub.net, &sub.prefix) < 0)
		return -1;
	/* a /64 is never walked whole: at most a million tries from the hint */
	return ipam_claim(ctrl, owner, kind, &sub, ipam6_nth_of, 1000000, &ctrl->ipam6_hint, out);
}
