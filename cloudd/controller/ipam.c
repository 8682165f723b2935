/* ipam.c -- addresses on the zone's guest subnet for instances and nodes, each handed out once */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

int ipam_parse(const char *cidr, const char *gateway, struct ipam_subnet *s)
{
	char addr[32];
	const char *slash = strchr(cidr, '/');
	struct in_addr in;
	char *end;
	long prefix;

	memset(s, 0, sizeof(*s));
	if (slash == NULL || (size_t)(slash - cidr) >= sizeof(addr))
		goto err;
	snprintf(addr, sizeof(addr), "%.*s", (int)(slash - cidr), cidr);
	if (inet_pton(AF_INET, addr, &in) != 1 || slash[1] < '0' || slash[1] > '9')
		goto err;
	errno = 0;
	prefix = strtol(slash + 1, &end, 10);
	if (errno || *end || prefix < 8 || prefix > 29)
		goto err;
	s->network = ntohl(in.s_addr);
	s->prefix = (unsigned)prefix;
	if (s->network & ((1u << (32 - prefix)) - 1))
		goto err; /* host bits set */
	if (gateway) {
		if (inet_pton(AF_INET, gateway, &in) != 1)
			goto err;
		s->gateway = ntohl(in.s_addr);
		if ((s->gateway & ~((1u << (32 - prefix)) - 1)) != s->network || s->gateway == s->network ||
		    s->gateway == (s->network | ((1u << (32 - prefix)) - 1)))
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

/*
 * Walks the subnet from where the last allocation ended (so a freed address
 * is reused last), inserting into ip_addresses until an address is free.
 */
int ipam_allocate(struct controller *ctl, const char *owner, const char *kind, char out[16])
{
	struct ipam_subnet sub;
	sqlite3_stmt *st;
	unsigned long size, start;

	if (ctl->cfg.guest_subnet[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (ipam_parse(ctl->cfg.guest_subnet, ctl->cfg.guest_gateway[0] ? ctl->cfg.guest_gateway : NULL, &sub) < 0)
		return -1;
	size = ipam_size(&sub);
	st = db_prepare(&ctl->db, "INSERT INTO ip_addresses VALUES (?, ?, ?, strftime('%s','now')) ON CONFLICT DO NOTHING");
	if (st == NULL)
		return -1;
	start = ctl->ipam_hint % size;
	for (unsigned long i = 0; i < size; i++) {
		unsigned long n = (start + i) % size;
		if (ipam_nth(&sub, n, out) < 0)
			break;
		sqlite3_reset(st);
		db_bind_text(st, 1, out);
		db_bind_text(st, 2, owner);
		db_bind_text(st, 3, kind);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			errno = EIO;
			return -1;
		}
		if (sqlite3_changes(ctl->db.h) == 1) {
			sqlite3_finalize(st);
			ctl->ipam_hint = n + 1;
			return 0;
		}
	}
	sqlite3_finalize(st);
	errno = ENOSPC;
	return -1;
}

int ipam_release(struct db *db, const char *owner)
{
	return db_exec(db, "DELETE FROM ip_addresses WHERE owner = ?", 1, &owner);
}

int ipam6_parse(const char *cidr, unsigned char net[16], unsigned *prefix)
{
	char addr[64];
	const char *slash = strchr(cidr, '/');
	char *end;
	long len;

	if (slash == NULL || (size_t)(slash - cidr) >= sizeof(addr) || slash[1] < '0' || slash[1] > '9')
		goto err;
	snprintf(addr, sizeof(addr), "%.*s", (int)(slash - cidr), cidr);
	if (inet_pton(AF_INET6, addr, net) != 1)
		goto err;
	errno = 0;
	len = strtol(slash + 1, &end, 10);
	if (errno || *end || len < 64 || len > 120)
		goto err;
	for (int bit = (int)len; bit < 128; bit++)
		if (net[bit / 8] & (0x80 >> (bit % 8)))
			goto err; /* host bits set */
	*prefix = (unsigned)len;
	return 0;
err:
	errno = EINVAL;
	return -1;
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

int ipam6_allocate(struct controller *ctl, const char *owner, const char *kind, char out[46])
{
	unsigned char net[16];
	unsigned prefix;
	sqlite3_stmt *st;

	if (ctl->cfg.guest_subnet6[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (ipam6_parse(ctl->cfg.guest_subnet6, net, &prefix) < 0)
		return -1;
	st = db_prepare(&ctl->db, "INSERT INTO ip_addresses VALUES (?, ?, ?, strftime('%s','now')) ON CONFLICT DO NOTHING");
	if (st == NULL)
		return -1;
	/* a /64 is never walked whole: at most a million tries from the hint */
	for (unsigned long i = 0; i < 1000000; i++) {
		unsigned long n = ctl->ipam6_hint + i;
		if (ipam6_nth(net, prefix, n, out) < 0) {
			if (ctl->ipam6_hint == 0)
				break;
			ctl->ipam6_hint = 0; /* wrap once */
			i = (unsigned long)-1;
			continue;
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
		if (sqlite3_changes(ctl->db.h) == 1) {
			sqlite3_finalize(st);
			ctl->ipam6_hint = n + 1;
			return 0;
		}
	}
	sqlite3_finalize(st);
	errno = ENOSPC;
	return -1;
}
