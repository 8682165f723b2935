/* filter_gen.c -- the nftables script for a filter model: whole table, or the difference between two */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "filter.h"

#define T FILTER_TABLE_FAMILY " " FILTER_TABLE_NAME

/*
 * Drop reasons, each with its own counting chain drop_<reason>. The counter
 * key is (port, reason) in the dynamic set `drops`: from the guest the port is
 * iifname, towards it oifname.
 */
const char *const filter_drop_reasons[] = {
	"mac",		/* source MAC is not the NIC's */
	"ethertype",	/* not ARP, IPv4 or IPv6 */
	"arp_format",	/* ARP that is not Ethernet/IPv4 */
	"arp_mac",	/* ARP sender MAC is not the NIC's */
	"arp_ip",	/* ARP sender IP is not the NIC's */
	"ip4_src",	/* IPv4 source is not the NIC's */
	"dhcp_server",	/* DHCP server message (udp sport 67) */
	"ip6_src",	/* IPv6 source is neither the NIC's nor its link-local */
	"nd_target",	/* neighbour advertisement for an address not the NIC's */
	"ra",		/* router advertisement or redirect */
	"dhcp6_server", /* DHCPv6 server message (udp sport 547) */
	"invalid",	/* conntrack state invalid, either direction */
	"sg_egress",	/* no egress rule of the NIC's groups allows it */
	"sg_ingress",	/* no ingress rule of the NIC's groups allows it */
	NULL,
};

/* reasons counted against the receiving port (oifname) */
static int gen_reason_is_ingress(const char *reason)
{
	return strcmp(reason, "sg_ingress") == 0;
}

/* --- names and values ------------------------------------------------------ */

/* Group ids may contain '-', which nft identifiers handle badly; ids never contain '_'. */
static void gen_group_name(char *out, size_t outlen, const char *id, const char *suffix)
{
	size_t i, n = 0;

	n += (size_t)snprintf(out, outlen, "g_");
	for (i = 0; id[i] && n + 1 < outlen; i++)
		out[n++] = id[i] == '-' ? '_' : id[i];
	out[n] = '\0';
	snprintf(out + n, outlen - n, "_%s", suffix);
}

static const char *gen_mac(const uint8_t *mac, char *out, size_t outlen)
{
	snprintf(out, outlen, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return out;
}

static const char *gen_ip(int family, const uint8_t *addr, char *out, size_t outlen)
{
	if (inet_ntop(family, addr, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "?");
	return out;
}

/* a 128-bit address as the integer that a raw payload match (@th,64,128) compares */
static const char *gen_ip6_int(const uint8_t *addr, char *out, size_t outlen)
{
	size_t i, n = 0;

	n += (size_t)snprintf(out, outlen, "0x");
	for (i = 0; i < 16 && n + 3 <= outlen; i++)
		n += (size_t)snprintf(out + n, outlen - n, "%02x", addr[i]);
	return out;
}

/* --- chain bodies: one rule per line, no indentation ------------------------ */

/* the protocol part of a rule's match, with a leading space ("" for any) */
static void gen_proto(const struct sg_rule *rule, char *out, size_t outlen)
{
	out[0] = '\0';
	switch (rule->protocol) {
	case SG_PROTO_TCP:
	case SG_PROTO_UDP: {
		const char *name = sg_protocol_name(rule->protocol);

		if (rule->port_min == 0)
			snprintf(out, outlen, " meta l4proto %s", name);
		else if (rule->port_min == rule->port_max)
			snprintf(out, outlen, " %s dport %d", name, rule->port_min);
		else
			snprintf(out, outlen, " %s dport %d-%d", name, rule->port_min, rule->port_max);
		break;
	}
	case SG_PROTO_ICMP:
	case SG_PROTO_ICMPV6: {
		const char *name = rule->protocol == SG_PROTO_ICMP ? "icmp" : "icmpv6";

		if (rule->icmp_type < 0)
			snprintf(out, outlen, " meta l4proto %s", rule->protocol == SG_PROTO_ICMP ? "icmp" : "ipv6-icmp");
		else if (rule->icmp_code < 0)
			snprintf(out, outlen, " %s type %d", name, rule->icmp_type);
		else
			snprintf(out, outlen, " %s type %d %s code %d", name, rule->icmp_type, name, rule->icmp_code);
		break;
	}
	case SG_PROTO_ANY:
		break;
	}
}

/* One accept rule per address family that the rule's peer and protocol allow. */
static int gen_emit_rule(const struct sg_rule *rule, const char *proto, const char *comment, struct buf *lines)
{
	const char *dir = rule->direction == SG_INGRESS ? "saddr" : "daddr";
	char peer[128], group[96];
	int family;

	for (family = AF_INET; family != 0; family = family == AF_INET ? AF_INET6 : 0) {
		const char *ipname = family == AF_INET ? "ip" : "ip6";

		if ((rule->protocol == SG_PROTO_ICMP && family != AF_INET) ||
		    (rule->protocol == SG_PROTO_ICMPV6 && family != AF_INET6))
			continue;
		if (rule->has_cidr) {
			char addr[INET6_ADDRSTRLEN];

			if (rule->cidr.family != family)
				continue;
			if (rule->cidr.prefix == 0)
				snprintf(peer, sizeof(peer), "ether type %s", ipname);
			else
				snprintf(peer, sizeof(peer), "%s %s %s/%d", ipname, dir,
					 gen_ip(family, rule->cidr.addr, addr, sizeof(addr)), rule->cidr.prefix);
		} else {
			gen_group_name(group, sizeof(group), rule->group, family == AF_INET ? "v4" : "v6");
			snprintf(peer, sizeof(peer), "%s %s @%s", ipname, dir, group);
		}
		if (buf_printf(lines, "%s%s accept comment \"%s\"\n", peer, proto, comment) < 0)
			return -1;
	}
	return 0;
}

/* tcp/udp rules of one direction towards the same peer differ only in ports: one rule serves them */
static int gen_same_key(const struct sg_rule *a, const struct sg_rule *b)
{
	if (a->direction != b->direction || a->protocol != b->protocol || a->has_cidr != b->has_cidr)
		return 0;
	if (a->protocol != SG_PROTO_TCP && a->protocol != SG_PROTO_UDP)
		return 0;
	return a->has_cidr ? sg_addr_equal(&a->cidr, &b->cidr) : strcmp(a->group, b->group) == 0;
}

struct gen_range {
	int min, max;
};

static int gen_range_cmp(const void *a, const void *b)
{
	return ((const struct gen_range *)a)->min - ((const struct gen_range *)b)->min;
}

/*
 * The rules of a group in one direction, each accepting what it allows. Their
 * order does not matter (every rule accepts), so tcp/udp rules towards the
 * same peer are merged into one rule with a port set, overlapping and
 * adjacent ranges coalesced (an nft interval set refuses overlaps): fewer
 * rules to load and to walk per packet. The comment names the rules merged.
 */
static int gen_group_body(const struct secgroup *group, enum sg_direction dir, struct buf *lines)
{
	struct gen_range *ranges = NULL;
	struct buf proto = BUF_INIT;
	char comment[112], one_proto[96];
	size_t i, j, n, k, m;
	int rc = -1;

	if (group->n_rules) {
		ranges = malloc(group->n_rules * sizeof(*ranges));
		if (ranges == NULL)
			return -1;
	}
	for (i = 0; i < group->n_rules; i++) {
		const struct sg_rule *rule = &group->rules[i];
		int all_ports = 0, merged = 0, ported;
		size_t clen;

		if (rule->direction != dir)
			continue;
		for (j = 0; j < i && !merged; j++)
			merged = gen_same_key(&group->rules[j], rule);
		if (merged)
			continue; /* emitted with an earlier rule */
		ported = rule->protocol == SG_PROTO_TCP || rule->protocol == SG_PROTO_UDP;
		n = 0;
		clen = (size_t)snprintf(comment, sizeof(comment), "rules[%zu", i);
		for (j = i; ported && j < group->n_rules; j++) {
			const struct sg_rule *other = &group->rules[j];

			if (j != i && !gen_same_key(rule, other))
				continue;
			if (other->port_min == 0)
				all_ports = 1;
			ranges[n++] = (struct gen_range){ other->port_min, other->port_max };
			if (j == i)
				continue;
			if (clen + 12 < sizeof(comment))
				clen += (size_t)snprintf(comment + clen, sizeof(comment) - clen, ",%zu", j);
			else if (clen + 5 < sizeof(comment) && comment[clen - 1] != '.')
				clen += (size_t)snprintf(comment + clen, sizeof(comment) - clen, ",...");
		}
		snprintf(comment + clen, sizeof(comment) - clen, "]");
		if (n <= 1 || all_ports) {
			struct sg_rule one = *rule;

			if (all_ports)
				one.port_min = one.port_max = 0;
			gen_proto(&one, one_proto, sizeof(one_proto));
			if (gen_emit_rule(rule, one_proto, comment, lines) < 0)
				goto out;
			continue;
		}
		qsort(ranges, n, sizeof(*ranges), gen_range_cmp);
		for (k = 1, m = 0; k < n; k++) {
			if (ranges[k].min <= ranges[m].max + 1) {
				if (ranges[k].max > ranges[m].max)
					ranges[m].max = ranges[k].max;
			} else {
				ranges[++m] = ranges[k];
			}
		}
		buf_reset(&proto);
		if (buf_printf(&proto, " %s dport %s", sg_protocol_name(rule->protocol), m ? "{ " : "") < 0)
			goto out;
		for (k = 0; k <= m; k++) {
			int r = ranges[k].min == ranges[k].max
					? buf_printf(&proto, "%s%d", k ? ", " : "", ranges[k].min)
					: buf_printf(&proto, "%s%d-%d", k ? ", " : "", ranges[k].min, ranges[k].max);
			if (r < 0)
				goto out;
		}
		if ((m && buf_puts(&proto, " }") < 0) || gen_emit_rule(rule, proto.data, comment, lines) < 0)
			goto out;
	}
	rc = 0;
out:
	free(ranges);
	buf_free(&proto);
	return rc;
}

static int gen_group_has(const struct secgroup *group, enum sg_direction dir)
{
	size_t i;

	for (i = 0; i < group->n_rules; i++)
		if (group->rules[i].direction == dir)
			return 1;
	return 0;
}

/*
 * The group chains a port's traffic in one direction goes through: those of
 * its groups with rules in that direction. With none, egress is open and
 * ingress closed; with one, the port's verdict map element jumps straight to
 * the group's chain; with several, to a per-port chain that jumps to each.
 * A packet no chain accepts returns and is dropped (sg_egress / sg_ingress).
 */
static size_t gen_port_targets(const struct filter_model *model, const struct filter_port *port,
			       enum sg_direction dir, char targets[][96])
{
	size_t i, n = 0;

	for (i = 0; i < port->n_groups; i++) {
		const struct secgroup *group = secgroup_find(&model->groups, port->groups[i]);

		if (group != NULL && gen_group_has(group, dir))
			gen_group_name(targets[n++], 96, group->id, dir == SG_INGRESS ? "in" : "eg");
	}
	return n;
}

static int gen_port_chain_needed(const struct filter_model *model, const struct filter_port *port,
				 enum sg_direction dir)
{
	char targets[FILTER_MAX_GROUPS_PER_NIC][96];

	return gen_port_targets(model, port, dir, targets) > 1;
}

/* the per-port chain (when gen_port_chain_needed): a jump to each group chain */
static int gen_port_body(const struct filter_model *model, const struct filter_port *port,
			 enum sg_direction dir, struct buf *lines)
{
	char targets[FILTER_MAX_GROUPS_PER_NIC][96];
	size_t i, n = gen_port_targets(model, port, dir, targets);

	for (i = 0; i < n; i++)
		if (buf_printf(lines, "jump %s\n", targets[i]) < 0)
			return -1;
	return 0;
}

/* the port's verdict in port_egress / port_ingress; "" when it has no element */
static void gen_port_verdict(const struct filter_model *model, const struct filter_port *port,
			     enum sg_direction dir, char *out, size_t outlen)
{
	char targets[FILTER_MAX_GROUPS_PER_NIC][96];
	size_t n = gen_port_targets(model, port, dir, targets);
	const char *d = dir == SG_INGRESS ? "in" : "eg";

	if (n > 1)
		snprintf(out, outlen, "jump %s_%s", d, port->ifname);
	else if (n == 1)
		snprintf(out, outlen, "jump %s", targets[0]);
	else
		snprintf(out, outlen, "%s", dir == SG_EGRESS ? "accept" : "");
}

/* Appends each line of lines to out with prefix before and suffix after. */
static int gen_emit_lines(struct buf *out, const char *prefix, const struct buf *lines, const char *suffix)
{
	const char *p = lines->data, *nl;

	if (p == NULL)
		return 0;
	while (*p) {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		if (buf_printf(out, "%s%.*s%s\n", prefix, (int)(nl - p), p, suffix) < 0)
			return -1;
		p = *nl ? nl + 1 : nl;
	}
	return 0;
}

/* --- set elements ---------------------------------------------------------- */

enum gen_set {
	GEN_GUEST_PORTS,
	GEN_PORT_MAC,
	GEN_PORT_IP4,
	GEN_PORT_IP6,
	GEN_PORT_ND_TARGET,
	GEN_PORT_EGRESS,
	GEN_PORT_INGRESS,
	GEN_NSETS,
};

static const char *const gen_set_names[GEN_NSETS] = {
	"guest_ports", "port_mac", "port_ip4", "port_ip6", "port_nd_target", "port_egress", "port_ingress",
};

/* Appends the elements a port puts in set `which`, each as "ELEMENT\n"; keys_only drops map values. */
static int gen_port_elements(const struct filter_model *model, const struct filter_port *port, enum gen_set which,
			     int keys_only, struct buf *lines)
{
	char a[128], b[128];
	const char *ifn = port->ifname;

	switch (which) {
	case GEN_GUEST_PORTS:
		return buf_printf(lines, "\"%s\"\n", ifn);
	case GEN_PORT_MAC:
		return buf_printf(lines, "\"%s\" . %s\n", ifn, gen_mac(port->mac, a, sizeof(a)));
	case GEN_PORT_IP4:
		if (!port->has_ipv4)
			return 0;
		return buf_printf(lines, "\"%s\" . %s\n", ifn, gen_ip(AF_INET, port->ipv4, a, sizeof(a)));
	case GEN_PORT_IP6:
		if (port->has_ipv6 && buf_printf(lines, "\"%s\" . %s\n", ifn, gen_ip(AF_INET6, port->ipv6, a, sizeof(a))) < 0)
			return -1;
		return buf_printf(lines, "\"%s\" . %s\n", ifn, gen_ip(AF_INET6, port->ipv6_ll, b, sizeof(b)));
	case GEN_PORT_ND_TARGET:
		if (port->has_ipv6 && buf_printf(lines, "\"%s\" . %s\n", ifn, gen_ip6_int(port->ipv6, a, sizeof(a))) < 0)
			return -1;
		return buf_printf(lines, "\"%s\" . %s\n", ifn, gen_ip6_int(port->ipv6_ll, b, sizeof(b)));
	case GEN_PORT_EGRESS:
	case GEN_PORT_INGRESS:
		gen_port_verdict(model, port, which == GEN_PORT_EGRESS ? SG_EGRESS : SG_INGRESS, a, sizeof(a));
		if (a[0] == '\0')
			return 0;
		if (keys_only)
			return buf_printf(lines, "\"%s\"\n", ifn);
		return buf_printf(lines, "\"%s\" : %s\n", ifn, a);
	case GEN_NSETS:
		break;
	}
	return 0;
}

/* Which groups' members some rule refers to (only those need member sets): one flag per group. */
static unsigned char *gen_referenced(const struct filter_model *model)
{
	unsigned char *flags = calloc(model->groups.n_groups ? model->groups.n_groups : 1, 1);
	size_t i, k;

	if (flags == NULL)
		return NULL;
	for (i = 0; i < model->groups.n_groups; i++) {
		const struct secgroup *group = &model->groups.groups[i];

		for (k = 0; k < group->n_rules; k++) {
			const struct secgroup *ref;

			if (group->rules[k].has_cidr)
				continue;
			ref = secgroup_find(&model->groups, group->rules[k].group);
			if (ref != NULL)
				flags[ref - model->groups.groups] = 1;
		}
	}
	return flags;
}

static int gen_member_elements(const struct secgroup *group, int family, struct buf *lines)
{
	char a[INET6_ADDRSTRLEN];
	size_t i;

	for (i = 0; i < group->n_members; i++)
		if (group->members[i].family == family &&
		    buf_printf(lines, "%s\n", gen_ip(family, group->members[i].addr, a, sizeof(a))) < 0)
			return -1;
	return 0;
}

/* "elements = { a, b, ... }" inside a set block, nothing when lines is empty */
static int gen_elements_block(struct buf *out, const struct buf *lines)
{
	if (lines->len == 0)
		return 0;
	if (buf_puts(out, "\t\telements = {\n") < 0 || gen_emit_lines(out, "\t\t\t", lines, ",") < 0 ||
	    buf_puts(out, "\t\t}\n") < 0)
		return -1;
	return 0;
}

/* "add|delete element TABLE SET { a, b, ... }" when lines is not empty */
static int gen_elements_cmd(struct buf *out, const char *verb, const char *set, const struct buf *lines)
{
	if (lines->len == 0)
		return 0;
	if (buf_printf(out, "%s element " T " %s {\n", verb, set) < 0 || gen_emit_lines(out, "\t", lines, ",") < 0 ||
	    buf_puts(out, "}\n") < 0)
		return -1;
	return 0;
}

/* --- the shared chains ----------------------------------------------------- */

/*
 * The fixed part of the table: base chains, anti-spoofing and the dispatch to
 * per-port chains through verdict maps. Anti-spoofing comes before conntrack,
 * so a spoofed packet cannot ride on another guest's established flow.
 */
static const char gen_shared_chains[] =
	"\tchain from_guest_arp {\n"
	"\t\tarp htype != 1 jump drop_arp_format\n"
	"\t\tarp ptype != ip jump drop_arp_format\n"
	"\t\tarp hlen != 6 jump drop_arp_format\n"
	"\t\tarp plen != 4 jump drop_arp_format\n"
	"\t\tiifname . arp saddr ether != @port_mac jump drop_arp_mac\n"
	"\t\tarp operation request arp saddr ip 0.0.0.0 accept comment \"address probe (RFC 5227)\"\n"
	"\t\tiifname . arp saddr ip != @port_ip4 jump drop_arp_ip\n"
	"\t\taccept\n"
	"\t}\n"
	"\tchain from_guest_ip4 {\n"
	"\t\tudp sport 67 jump drop_dhcp_server\n"
	"\t\tip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept comment \"DHCP discover/request\"\n"
	"\t\tiifname . ip saddr != @port_ip4 jump drop_ip4_src\n"
	"\t\tudp sport 68 udp dport 67 accept comment \"DHCP renew\"\n"
	"\t\tjump guest_egress\n"
	"\t}\n"
	"\tchain from_guest_ip6 {\n"
	"\t\ticmpv6 type { nd-router-advert, nd-redirect } jump drop_ra\n"
	"\t\tudp sport 547 jump drop_dhcp6_server\n"
	"\t\tip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld-listener-report, mld2-listener-report } accept comment \"duplicate address detection\"\n"
	"\t\tiifname . ip6 saddr != @port_ip6 jump drop_ip6_src\n"
	"\t\ticmpv6 type nd-neighbor-advert iifname . @th,64,128 != @port_nd_target jump drop_nd_target\n"
	"\t\ticmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld-listener-reduction, mld2-listener-report } accept\n"
	"\t\tudp sport 546 udp dport 547 accept comment \"DHCPv6 client\"\n"
	"\t\tjump guest_egress\n"
	"\t}\n"
	"\tchain from_guest {\n"
	"\t\tiifname . ether saddr != @port_mac jump drop_mac\n"
	"\t\tether type vmap { arp : jump from_guest_arp, ip : jump from_guest_ip4, ip6 : jump from_guest_ip6 }\n"
	"\t\tjump drop_ethertype\n"
	"\t}\n"
	"\tchain guest_egress {\n"
	"\t\tct state established,related accept\n"
	"\t\tct state invalid jump drop_invalid\n"
	"\t\tiifname vmap @port_egress\n"
	"\t\tjump drop_sg_egress\n"
	"\t}\n"
	"\tchain to_guest {\n"
	"\t\tct state established,related accept comment \"most packets: first\"\n"
	"\t\tether type arp accept\n"
	"\t\tether type != { ip, ip6 } drop\n"
	"\t\tudp sport 67 udp dport 68 accept comment \"DHCP server\"\n"
	"\t\tudp sport 547 udp dport 546 accept comment \"DHCPv6 server\"\n"
	"\t\ticmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query } accept\n"
	"\t\tct state invalid jump drop_invalid_in\n"
	"\t\toifname vmap @port_ingress\n"
	"\t\tjump drop_sg_ingress\n"
	"\t}\n"
	"\tchain hook_prerouting {\n"
	"\t\ttype filter hook prerouting priority " FILTER_PRIORITY "; policy accept;\n"
	"\t\tiifname @guest_ports jump from_guest\n"
	"\t}\n"
	"\tchain hook_forward {\n"
	"\t\ttype filter hook forward priority " FILTER_PRIORITY "; policy accept;\n"
	"\t\toifname @guest_ports jump to_guest\n"
	"\t}\n"
	"\tchain hook_output {\n"
	"\t\ttype filter hook output priority " FILTER_PRIORITY "; policy accept;\n"
	"\t\toifname @guest_ports jump to_guest\n"
	"\t}\n";

/*
 * One counting chain per reason: the counter update and the drop are two
 * rules, so a full counter set (the update fails) still drops.
 */
static int gen_drop_chains(struct buf *out)
{
	size_t i;

	for (i = 0; filter_drop_reasons[i]; i++) {
		const char *r = filter_drop_reasons[i];

		if (buf_printf(out, "\tchain drop_%s {\n\t\tupdate @drops { %s . \"%s\" }\n\t\tdrop\n\t}\n", r,
			       gen_reason_is_ingress(r) ? "oifname" : "iifname", r) < 0)
			return -1;
	}
	/* conntrack-invalid towards a guest: counted under "invalid" for the receiving port */
	return buf_puts(out, "\tchain drop_invalid_in {\n\t\tupdate @drops { oifname . \"invalid\" }\n\t\tdrop\n\t}\n");
}

static const char *const gen_set_types[GEN_NSETS] = {
	"type ifname",
	"type ifname . ether_addr",
	"type ifname . ipv4_addr",
	"type ifname . ipv6_addr",
	"typeof iifname . @th,64,128",
	"type ifname : verdict",
	"type ifname : verdict",
};

static int gen_chain_block(struct buf *out, const char *name, const struct buf *lines)
{
	if (buf_printf(out, "\tchain %s {\n", name) < 0 || gen_emit_lines(out, "\t\t", lines, "") < 0 ||
	    buf_puts(out, "\t}\n") < 0)
		return -1;
	return 0;
}

static int gen_set_block(struct buf *out, const char *kind, const char *name, const char *type,
			 const struct buf *elements)
{
	if (buf_printf(out, "\t%s %s {\n\t\t%s\n", kind, name, type) < 0 || gen_elements_block(out, elements) < 0 ||
	    buf_puts(out, "\t}\n") < 0)
		return -1;
	return 0;
}

int filter_gen_full(const struct filter_model *model, struct buf *out)
{
	struct buf lines = BUF_INIT;
	unsigned char *referenced = gen_referenced(model);
	char name[128];
	size_t i, p;
	int s, dir;

	if (referenced == NULL)
		return -1;
	if (buf_puts(out, "# cloudd guest filters, generated from the desired state (docs/filters.md).\n"
			  "# Replaces the table whole in one transaction.\n"
			  "add table " T "\n"
			  "delete table " T "\n"
			  "table " T " {\n") < 0)
		goto err;

	/* sets first, then chains in the order they are referenced */
	for (s = GEN_GUEST_PORTS; s <= GEN_PORT_ND_TARGET; s++) {
		buf_reset(&lines);
		for (p = 0; p < model->n_ports; p++)
			if (gen_port_elements(model, &model->ports[p], (enum gen_set)s, 0, &lines) < 0)
				goto err;
		if (gen_set_block(out, "set", gen_set_names[s], gen_set_types[s], &lines) < 0)
			goto err;
	}
	if (buf_printf(out, "\tset drops {\n\t\ttype ifname . ifname\n\t\tsize %d\n\t\tflags dynamic\n\t\tcounter\n\t}\n",
		       FILTER_DROPS_SET_SIZE) < 0)
		goto err;
	for (i = 0; i < model->groups.n_groups; i++) {
		const struct secgroup *group = &model->groups.groups[i];

		for (s = 0; s < 2 && referenced[i]; s++) {
			buf_reset(&lines);
			if (gen_member_elements(group, s ? AF_INET6 : AF_INET, &lines) < 0)
				goto err;
			gen_group_name(name, sizeof(name), group->id, s ? "v6" : "v4");
			if (gen_set_block(out, "set", name, s ? "type ipv6_addr" : "type ipv4_addr", &lines) < 0)
				goto err;
		}
	}
	for (i = 0; i < model->groups.n_groups; i++) {
		const struct secgroup *group = &model->groups.groups[i];

		for (dir = SG_INGRESS; dir <= SG_EGRESS; dir++) {
			if (!gen_group_has(group, (enum sg_direction)dir))
				continue;
			buf_reset(&lines);
			if (gen_group_body(group, (enum sg_direction)dir, &lines) < 0)
				goto err;
			gen_group_name(name, sizeof(name), group->id, dir == SG_INGRESS ? "in" : "eg");
			if (gen_chain_block(out, name, &lines) < 0)
				goto err;
		}
	}
	for (p = 0; p < model->n_ports; p++) {
		const struct filter_port *port = &model->ports[p];

		for (dir = SG_INGRESS; dir <= SG_EGRESS; dir++) {
			if (!gen_port_chain_needed(model, port, (enum sg_direction)dir))
				continue;
			buf_reset(&lines);
			if (gen_port_body(model, port, (enum sg_direction)dir, &lines) < 0)
				goto err;
			snprintf(name, sizeof(name), "%s_%s", dir == SG_INGRESS ? "in" : "eg", port->ifname);
			if (gen_chain_block(out, name, &lines) < 0)
				goto err;
		}
	}
	for (s = GEN_PORT_EGRESS; s <= GEN_PORT_INGRESS; s++) {
		buf_reset(&lines);
		for (p = 0; p < model->n_ports; p++)
			if (gen_port_elements(model, &model->ports[p], (enum gen_set)s, 0, &lines) < 0)
				goto err;
		if (gen_set_block(out, "map", gen_set_names[s], gen_set_types[s], &lines) < 0)
			goto err;
	}
	if (gen_drop_chains(out) < 0 || buf_puts(out, gen_shared_chains) < 0 || buf_puts(out, "}\n") < 0)
		goto err;
	free(referenced);
	buf_free(&lines);
	return 0;

err:
	free(referenced);
	buf_free(&lines);
	return -1;
}

/* --- incremental ------------------------------------------------------------- */

/* members of a that are not in b, of one family (both sorted: secgroup_sort_members) */
static int gen_member_diff(const struct secgroup *a, const struct secgroup *b, int family, struct buf *lines)
{
	char text[INET6_ADDRSTRLEN];
	size_t i = 0, j = 0;

	while (i < a->n_members) {
		const struct sg_addr *m = &a->members[i];
		int c = j < b->n_members ? sg_addr_cmp(m, &b->members[j]) : -1;

		if (c > 0) {
			j++;
			continue;
		}
		if (c < 0 && m->family == family && buf_printf(lines, "%s\n", gen_ip(family, m->addr, text, sizeof(text))) < 0)
			return -1;
		if (c == 0)
			j++;
		i++;
	}
	return 0;
}

static int gen_rules_equal(const struct secgroup *a, const struct secgroup *b)
{
	return a->n_rules == b->n_rules && (a->n_rules == 0 || memcmp(a->rules, b->rules, a->n_rules * sizeof(*a->rules)) == 0);
}

/* "add chain" or (when it exists) "flush chain", then "add rule" for each line */
static int gen_chain_cmds(struct buf *out, const char *name, int exists, const struct buf *lines)
{
	char prefix[160];

	if (buf_printf(out, "%s chain " T " %s\n", exists ? "flush" : "add", name) < 0)
		return -1;
	snprintf(prefix, sizeof(prefix), "add rule " T " %s ", name);
	return gen_emit_lines(out, prefix, lines, "");
}

static int gen_chain_delete(struct buf *out, const char *name)
{
	return buf_printf(out, "flush chain " T " %s\ndelete chain " T " %s\n", name, name);
}

/*
 * The update runs in this order inside one transaction, so that everything
 * exists before it is referred to and nothing is deleted while referred to:
 * member sets (new ones, then element changes); group chains (new and
 * changed); ports that are gone; ports that changed or are new (their
 * chains, then their elements); at last group chains and sets nothing refers
 * to any more.
 */
int filter_gen_update(const struct filter_model *old, const struct filter_model *new, struct buf *out)
{
	struct buf lines = BUF_INIT, olines = BUF_INIT;
	unsigned char *oref = gen_referenced(old), *nref = gen_referenced(new);
	unsigned char *flipped = calloc(new->groups.n_groups ? new->groups.n_groups : 1, 1);
	char name[128];
	size_t i, p;
	int s, dir, rc = -1;

	if (oref == NULL || nref == NULL || flipped == NULL)
		goto out;

	/* member sets */
	for (i = 0; i < new->groups.n_groups; i++) {
		const struct secgroup *group = &new->groups.groups[i];
		const struct secgroup *prev = secgroup_find(&old->groups, group->id);
		int had = prev != NULL && oref[prev - old->groups.groups];

		for (s = 0; s < 2 && nref[i]; s++) {
			int family = s ? AF_INET6 : AF_INET;

			gen_group_name(name, sizeof(name), group->id, s ? "v6" : "v4");
			if (!had && buf_printf(out, "add set " T " %s { type %s; }\n", name, s ? "ipv6_addr" : "ipv4_addr") < 0)
				goto out;
			buf_reset(&lines);
			if (had && (gen_member_diff(prev, group, family, &lines) < 0 ||
				    gen_elements_cmd(out, "delete", name, &lines) < 0))
				goto out;
			buf_reset(&lines);
			if (had ? gen_member_diff(group, prev, family, &lines) < 0 : gen_member_elements(group, family, &lines) < 0)
				goto out;
			if (gen_elements_cmd(out, "add", name, &lines) < 0)
				goto out;
		}
	}
	/* group chains: created with their first rule in a direction, rewritten when their rules changed */
	for (i = 0; i < new->groups.n_groups; i++) {
		const struct secgroup *group = &new->groups.groups[i];
		const struct secgroup *prev = secgroup_find(&old->groups, group->id);

		if (prev != NULL && gen_rules_equal(prev, group))
			continue;
		for (dir = SG_INGRESS; dir <= SG_EGRESS; dir++) {
			int had = prev != NULL && gen_group_has(prev, (enum sg_direction)dir);

			if (!gen_group_has(group, (enum sg_direction)dir))
				continue;
			buf_reset(&lines);
			buf_reset(&olines);
			if (gen_group_body(group, (enum sg_direction)dir, &lines) < 0 ||
			    (had && gen_group_body(prev, (enum sg_direction)dir, &olines) < 0))
				goto out;
			if (had && strcmp(lines.data ? lines.data : "", olines.data ? olines.data : "") == 0)
				continue;
			gen_group_name(name, sizeof(name), group->id, dir == SG_INGRESS ? "in" : "eg");
			if (gen_chain_cmds(out, name, had, &lines) < 0)
				goto out;
		}
	}

	/* ports that are gone: their elements, then their chains */
	for (p = 0; p < old->n_ports; p++) {
		const struct filter_port *port = &old->ports[p];

		if (filter_model_port(new, port->ifname) != NULL)
			continue;
		for (s = GEN_NSETS - 1; s >= GEN_GUEST_PORTS; s--) {
			buf_reset(&lines);
			if (gen_port_elements(old, port, (enum gen_set)s, 1, &lines) < 0 ||
			    gen_elements_cmd(out, "delete", gen_set_names[s], &lines) < 0)
				goto out;
		}
		for (dir = SG_INGRESS; dir <= SG_EGRESS; dir++) {
			if (!gen_port_chain_needed(old, port, (enum sg_direction)dir))
				continue;
			snprintf(name, sizeof(name), "%s_%s", dir == SG_INGRESS ? "in" : "eg", port->ifname);
			if (gen_chain_delete(out, name) < 0)
				goto out;
		}
	}
	/* groups whose chains appeared or went: their ports' verdicts change */
	for (i = 0; i < new->groups.n_groups; i++) {
		const struct secgroup *group = &new->groups.groups[i];
		const struct secgroup *prev = secgroup_find(&old->groups, group->id);

		flipped[i] = prev == NULL || gen_group_has(prev, SG_INGRESS) != gen_group_has(group, SG_INGRESS) ||
			     gen_group_has(prev, SG_EGRESS) != gen_group_has(group, SG_EGRESS);
	}
	/* ports that changed or are new */
	for (p = 0; p < new->n_ports; p++) {
		const struct filter_port *port = &new->ports[p];
		const struct filter_port *prev = filter_model_port(old, port->ifname);

		if (prev != NULL && memcmp(prev, port, sizeof(*port)) == 0) {
			size_t g, changed = 0;

			for (g = 0; g < port->n_groups && !changed; g++) {
				const struct secgroup *group = secgroup_find(&new->groups, port->groups[g]);

				changed = group == NULL || flipped[group - new->groups.groups];
			}
			if (!changed)
				continue; /* same addresses, groups and verdicts: nothing to do */
		}

		for (dir = SG_INGRESS; dir <= SG_EGRESS; dir++) {
			int had = prev != NULL && gen_port_chain_needed(old, prev, (enum sg_direction)dir);

			if (!gen_port_chain_needed(new, port, (enum sg_direction)dir))
				continue;
			buf_reset(&lines);
			buf_reset(&olines);
			if (gen_port_body(new, port, (enum sg_direction)dir, &lines) < 0 ||
			    (had && gen_port_body(old, prev, (enum sg_direction)dir, &olines) < 0))
				goto out;
			if (had && strcmp(lines.data ? lines.data : "", olines.data ? olines.data : "") == 0)
				continue;
			snprintf(name, sizeof(name), "%s_%s", dir == SG_INGRESS ? "in" : "eg", port->ifname);
			if (gen_chain_cmds(out, name, had, &lines) < 0)
				goto out;
		}
		for (s = GEN_GUEST_PORTS; s < GEN_NSETS; s++) {
			buf_reset(&lines);
			buf_reset(&olines);
			if (gen_port_elements(new, port, (enum gen_set)s, 0, &lines) < 0 ||
			    (prev && gen_port_elements(old, prev, (enum gen_set)s, 0, &olines) < 0))
				goto out;
			if (prev && strcmp(lines.data ? lines.data : "", olines.data ? olines.data : "") == 0)
				continue;
			if (prev != NULL) {
				buf_reset(&olines);
				if (gen_port_elements(old, prev, (enum gen_set)s, 1, &olines) < 0 ||
				    gen_elements_cmd(out, "delete", gen_set_names[s], &olines) < 0)
					goto out;
			}
			if (gen_elements_cmd(out, "add", gen_set_names[s], &lines) < 0)
				goto out;
		}
		for (dir = SG_INGRESS; dir <= SG_EGRESS && prev != NULL; dir++) {
			if (!gen_port_chain_needed(old, prev, (enum sg_direction)dir) ||
			    gen_port_chain_needed(new, port, (enum sg_direction)dir))
				continue;
			snprintf(name, sizeof(name), "%s_%s", dir == SG_INGRESS ? "in" : "eg", port->ifname);
			if (gen_chain_delete(out, name) < 0)
				goto out;
		}
	}

	/* group chains and member sets nothing refers to any more */
	for (i = 0; i < old->groups.n_groups; i++) {
		const struct secgroup *group = &old->groups.groups[i];
		const struct secgroup *next = secgroup_find(&new->groups, group->id);

		for (dir = SG_INGRESS; dir <= SG_EGRESS; dir++) {
			if (!gen_group_has(group, (enum sg_direction)dir) ||
			    (next != NULL && gen_group_has(next, (enum sg_direction)dir)))
				continue;
			gen_group_name(name, sizeof(name), group->id, dir == SG_INGRESS ? "in" : "eg");
			if (gen_chain_delete(out, name) < 0)
				goto out;
		}
		if (!oref[i] || (next != NULL && nref[next - new->groups.groups]))
			continue;
		for (s = 0; s < 2; s++) {
			gen_group_name(name, sizeof(name), group->id, s ? "v6" : "v4");
			if (buf_printf(out, "delete set " T " %s\n", name) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	free(oref);
	free(nref);
	free(flipped);
	buf_free(&lines);
	buf_free(&olines);
	return rc;
}
