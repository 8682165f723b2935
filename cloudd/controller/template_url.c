/* template_url.c -- a tenant's template URL must not point the nodes at the controller or at internal networks */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "template_url.h"

/* Adds a's network of the given prefix (host bits cleared); a full list keeps what it has. */
static void own_add(struct netaddr_list *own, const struct netaddr *a, int prefix)
{
	struct netaddr net = *a;

	net.prefix = prefix;
	for (int i = prefix; i < (net.family == AF_INET ? 32 : 128); i++)
		net.addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	netaddr_list_add(own, &net);
}

static void own_add_sockaddr(struct netaddr_list *own, const struct sockaddr *sa)
{
	struct netaddr a;

	if (sa && netaddr_from_sockaddr(sa, &a) == 0 && netaddr_special(&a) == NULL)
		own_add(own, &a, a.prefix);
}

/* the prefix length of a netmask socket address (contiguous or not: its leading ones) */
static int mask_prefix(const struct sockaddr *mask)
{
	struct netaddr m;
	int n = 0;

	if (mask == NULL || netaddr_from_sockaddr(mask, &m) < 0)
		return -1;
	while (n < m.prefix && (m.addr[n / 8] & (0x80 >> (n % 8))))
		n++;
	return n;
}

/* Every address getaddrinfo gives for host (numeric or a name); 0, or -1 when it does not resolve. */
static int resolve(const char *host, struct netaddr *out, int max, int *n)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *r;

	*n = 0;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return -1;
	for (r = res; r && *n < max; r = r->ai_next)
		if (netaddr_from_sockaddr(r->ai_addr, &out[*n]) == 0)
			(*n)++;
	freeaddrinfo(res);
	return 0;
}

void template_url_own(const struct controller *ctrl, struct netaddr_list *own)
{
	const struct ctl_config *cfg = &ctrl->cfg;
	struct netaddr_origin o;
	struct netaddr a[8];
	struct ifaddrs *ifa;
	int n;

	memset(own, 0, sizeof(*own));
	own_add_sockaddr(own, (const struct sockaddr *)&cfg->listen_addr);
	if (netaddr_url_origin(cfg->url, &o) == 0 && resolve(o.host, a, 8, &n) == 0)
		for (int i = 0; i < n; i++)
			if (netaddr_special(&a[i]) == NULL)
				own_add(own, &a[i], a[i].prefix);
	if (getifaddrs(&ifa) == 0) {
		for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
			struct netaddr addr;
			int prefix;
			if (i->ifa_addr == NULL || netaddr_from_sockaddr(i->ifa_addr, &addr) < 0 || netaddr_special(&addr))
				continue;
			own_add(own, &addr, addr.prefix);
			/* the provisioning network: where the nodes boot from, with the controller on it */
			if (cfg->netboot != NETBOOT_OFF && strcmp(i->ifa_name, cfg->interface) == 0 &&
			    (prefix = mask_prefix(i->ifa_netmask)) >= 0)
				own_add(own, &addr, prefix);
		}
		freeifaddrs(ifa);
	}
	if (cfg->netboot == NETBOOT_DHCP) { /* FIRST,LAST,NETMASK, checked by config.c */
		char first[64], mask[64];
		struct netaddr f, m;
		if (sscanf(cfg->dhcp_range, "%63[^,],%*[^,],%63s", first, mask) == 2 && netaddr_parse(first, &f) == 0 &&
		    netaddr_parse(mask, &m) == 0) {
			int prefix = 0;
			while (prefix < 32 && (m.addr[prefix / 8] & (0x80 >> (prefix % 8))))
				prefix++;
			own_add(own, &f, prefix);
		}
	}
	/* the guest network's router side, which the nodes' bridges reach */
	if (cfg->guest_gateway[0] && netaddr_parse(cfg->guest_gateway, &a[0]) == 0)
		own_add(own, &a[0], a[0].prefix);
}

int template_url_check(const struct controller *ctrl, const char *field, const char *url, struct op_error *err)
{
	struct netaddr_origin o, self;
	struct netaddr_list own;
	struct netaddr a[16];
	char text[INET6_ADDRSTRLEN];
	int n;

	if (netaddr_url_origin(url, &o) < 0)
		return op_fail(err, 400, "bad_field", "%s: expected an http://HOST[:PORT]/PATH URL", field);
	if (strcmp(o.scheme, "http") != 0 && strcmp(o.scheme, "https") != 0)
		return op_fail(err, 422, "forbidden_scheme", "%s: scheme %s: only http and https", field, o.scheme);
	if (netaddr_url_origin(ctrl->cfg.url, &self) == 0 && netaddr_same_origin(&o, &self))
		return op_fail(err, 422, "forbidden_address",
			       "%s: %s://%s:%u is the controller: upload the template instead", field, o.scheme, o.host,
			       o.port);
	if (resolve(o.host, a, 16, &n) < 0)
		return 0;
	template_url_own(ctrl, &own);
	for (int i = 0; i < n; i++) {
		const char *why = netaddr_forbidden(&a[i], &own, "the controller's own network", &ctrl->cfg.template_allow);
		if (why == NULL)
			continue;
		netaddr_format(&a[i], text, sizeof(text));
		return op_fail(err, 422, "forbidden_address",
			       "%s: address %s%s%s%s is %s: nodes do not fetch templates from there"
			       " (an admin may allow its network with template-allow-cidrs)",
			       field, text, strcmp(text, o.host) ? " (host " : "", strcmp(text, o.host) ? o.host : "",
			       strcmp(text, o.host) ? ")" : "", why);
	}
	return 0;
}
