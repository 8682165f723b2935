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

static int gen_rule(const struct sg_rule *rule, size_t index, struct buf *lines)
{
	const char *dir = rule->direction == SG_INGRESS ? "saddr" : "daddr";
	char proto[96] = "", peer[128], group[96];
	int family;

	switch (rule->protocol) {
	case SG_PROTO_TCP:
	case SG_PROTO_UDP: {
		const char *name = sg_protocol_name(rule->protocol);

		if (rule->port_min == 0)
			snprintf(proto, sizeof(proto), " meta l4proto %s", name);
		else if (rule->port_min == rule->port_max)
			snprintf(proto, sizeof(proto), " %s dport %d", name, rule->port_min);
		else
			snprintf(proto, sizeof(proto), " %s dport %d-%d", name, rule->port_min, rule->port_max);
		break;
	}
	case SG_PROTO_ICMP:
	case SG_PROTO_ICMPV6: {
		const char *name = rule->protocol == SG_PROTO_ICMP ? "icmp" : "icmpv6";

		if (rule->icmp_type < 0)
			snprintf(proto, sizeof(proto), " meta l4proto %s", rule->protocol == SG_PROTO_ICMP ? "icmp" : "ipv6-icmp");
		else if (rule->icmp_code < 0)
			snprintf(proto, sizeof(proto), " %s type %d", name, rule->icmp_type);
		else
			snprintf(proto, sizeof(proto), " %s type %d %s code %d", name, rule->icmp_type, name,
				 rule->icmp_code);
		break;
	}
	case SG_PROTO_ANY:
		break;
	}

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
		if (buf_printf(lines, "%s%s accept comment \"rules[%zu]\"\n", peer, proto, index) < 0)
			return -1;
	}
	return 0;
}

/* the rules of a group in one direction, each accepting what it allows */
static int gen_group_body(const struct secgroup *group, enum sg_direction dir, struct buf *lines)
{
	size_t i;

	for (i = 0; i < group->n_rules; i++)
		if (group->rules[i].direction == dir && gen_rule(&group->rules[i], i, lines) < 0)
			return -1;
	return 0;
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
 * A port's chain jumps to the chains of its groups that have rules in that
 * direction. Egress ends in accept when none of them has an egress rule
 * (egress is open until a group restricts it); otherwise the chain returns
 * and the caller drops (sg_egress / sg_ingress).
 */
static int gen_port_body(const struct filter_model *model, const struct filter_port *port,
			 enum sg_direction dir, struct buf *lines)
{
	char name[96];
	size_t i;
	int restricted = 0;

	for (i = 0; i < port->n_groups; i++) {
		const struct secgroup *group = secgroup_find(&model->groups, port->groups[i]);

		if (group == NULL || !gen_group_has(group, dir))
			continue;
		restricted = 1;
		gen_group_name(name, sizeof(name), group->id, dir == SG_INGRESS ? "in" : "eg");
		if (buf_printf(lines, "jump %s\n", name) < 0)
			return -1;
	}
	if (dir == SG_EGRESS && !restricted && buf_puts(lines, "accept\n") < 0)
		return -1;
	return 0;
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
static int gen_port_elements(const struct filter_port *port, enum gen_set which, int keys_only, struct buf *lines)
{
	char a[INET6_ADDRSTRLEN + 40], b[INET6_ADDRSTRLEN + 40];
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
		if (keys_only)
			return buf_printf(lines, "\"%s\"\n", ifn);
		return buf_printf(lines, "\"%s\" : jump %s_%s\n", ifn, which == GEN_PORT_EGRESS ? "eg" : "in", ifn);
	case GEN_NSETS:
		break;
	}
	return 0;
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
	"\t\tether type arp accept\n"
	"\t\tether type != { ip, ip6 } drop\n"
	"\t\tudp sport 67 udp dport 68 accept comment \"DHCP server\"\n"
	"\t\tudp sport 547 udp dport 546 accept comment \"DHCPv6 server\"\n"
	"\t\ticmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query } accept\n"
	"\t\tct state established,related accept\n"
	"\t\tct state invalid jump drop_invalid_in\n"
	"\t\toifname vmap @port_ingress\n"
	"\t\tjump drop_sg_ingress\n"
	"\t}\n"
	"\tchain hook_prerouting {\n"
	"\t\ttype filter hook prerouting priority 0; policy accept;\n"
	"\t\tiifname @guest_ports jump from_guest\n"
	"\t}\n"
	"\tchain hook_forward {\n"
	"\t\ttype filter hook forward priority 0; policy accept;\n"
	"\t\toifname @guest_ports jump to_guest\n"
	"\t}\n"
	"\tchain hook_output {\n"
	"\t\ttype filter hook output priority 0; policy accept;\n"
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
	char name[128];
	size_t i, p;
	int s, dir;

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
			if (gen_port_elements(&model->ports[p], (enum gen_set)s, 0, &lines) < 0)
				goto err;
		if (gen_set_block(out, "set", gen_set_names[s], gen_set_types[s], &lines) < 0)
			goto err;
	}
	if (buf_printf(out, "\tset drops {\n\t\ttype ifname . ifname\n\t\tsize %d\n\t\tflags dynamic\n\t\tcounter\n\t}\n",
		       FILTER_DROPS_SET_SIZE) < 0)
		goto err;
	for (i = 0; i < model->groups.n_groups; i++) {
		const struct secgroup *group = &model->groups.groups[i];

		for (s = 0; s < 2; s++) {
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
			if (gen_port_elements(&model->ports[p], (enum gen_set)s, 0, &lines) < 0)
				goto err;
		if (gen_set_block(out, "map", gen_set_names[s], gen_set_types[s], &lines) < 0)
			goto err;
	}
	if (gen_drop_chains(out) < 0 || buf_puts(out, gen_shared_chains) < 0 || buf_puts(out, "}\n") < 0)
		goto err;
	buf_free(&lines);
	return 0;

err:
	buf_free(&lines);
	return -1;
}

/* --- incremental ------------------------------------------------------------- */

static int gen_member_present(const struct secgroup *group, const struct sg_addr *addr)
{
	size_t i;

	for (i = 0; i < group->n_members; i++)
		if (sg_addr_equal(&group->members[i], addr))
			return 1;
	return 0;
}

/* members of a that are not in b, of one family */
static int gen_member_diff(const struct secgroup *a, const struct secgroup *b, int family, struct buf *lines)
{
	char text[INET6_ADDRSTRLEN];
	size_t i;

	for (i = 0; i < a->n_members; i++) {
		const struct sg_addr *m = &a->members[i];

		if (m->family == family && !gen_member_present(b, m) &&
		    buf_printf(lines, "%s\n", gen_ip(family, m->addr, text, sizeof(text))) < 0)
			return -1;
	}
	return 0;
}

/* "flush chain" (when it exists) and "add rule" for a chain whose body changed */
static int gen_chain_cmds(struct buf *out, const char *name, int exists, const struct buf *lines)
{
	char prefix[160];

	if (exists && buf_printf(out, "flush chain " T " %s\n", name) < 0)
		return -1;
	if (!exists && buf_printf(out, "add chain " T " %s\n", name) < 0)
		return -1;
	snprintf(prefix, sizeof(prefix), "add rule " T " %s ", name);
	return gen_emit_lines(out, prefix, lines, "");
}

/* Rewrites chain `name` when its body differs between old (NULL: absent) and new. */
static int gen_chain_update(struct buf *out, const char *name, const struct buf *old_lines, const struct buf *new_lines)
{
	const char *o = old_lines && old_lines->data ? old_lines->data : "";
	const char *n = new_lines->data ? new_lines->data : "";

	if (old_lines != NULL && strcmp(o, n) == 0)
		return 0;
	return gen_chain_cmds(out, name, old_lines != NULL, new_lines);
}

static int gen_port_identity_equal(const struct filter_port *a, const struct filter_port *b, enum gen_set which)
{
	switch (which) {
	case GEN_PORT_MAC:
	case GEN_PORT_IP6:
	case GEN_PORT_ND_TARGET:
		if (memcmp(a->mac, b->mac, 6) != 0)
			return 0;
		if (which == GEN_PORT_MAC)
			return 1;
		return a->has_ipv6 == b->has_ipv6 && (!a->has_ipv6 || memcmp(a->ipv6, b->ipv6, 16) == 0);
	case GEN_PORT_IP4:
		return a->has_ipv4 == b->has_ipv4 && (!a->has_ipv4 || memcmp(a->ipv4, b->ipv4, 4) == 0);
	default:
		return 1;
	}
}

int filter_gen_update(const struct filter_model *old, const struct filter_model *new, struct buf *out)
{
	struct buf lines = BUF_INIT, olines = BUF_INIT;
	char name[128];
	size_t i, p;
	int s, dir;

	/* a. sets of new groups, b. membership of the others */
	for (i = 0; i < new->groups.n_groups; i++) {
		const struct secgroup *group = &new->groups.groups[i];
		const struct secgroup *prev = secgroup_find(&old->groups, group->id);

		for (s = 0; s < 2; s++) {
			int family = s ? AF_INET6 : AF_INET;

			gen_group_name(name, sizeof(name), group->id, s ? "v6" : "v4");
			if (prev == NULL && buf_printf(out, "add set " T " %s { type %s; }\n", name,
						       s ? "ipv6_addr" : "ipv4_addr") < 0)
				goto err;
			if (prev != NULL) {
				buf_reset(&lines);
				if (gen_member_diff(prev, group, family, &lines) < 0 ||
				    gen_elements_cmd(out, "delete", name, &lines) < 0)
					goto err;
			}
			buf_reset(&lines);
			if (prev != NULL ? gen_member_diff(group, prev, family, &lines) < 0
					 : gen_member_elements(group, family, &lines) < 0)
				goto err;
			if (gen_elements_cmd(out, "add", name, &lines) < 0)
				goto err;
		}
	}
	/* c, d. group chains: created for new groups, rewritten where their rules changed */
	for (i = 0; i < new->groups.n_groups; i++) {
		const struct secgroup *group = &new->groups.groups[i];

		if (secgroup_find(&old->groups, group->id) != NULL)
			continue;
		for (dir = SG_INGRESS; dir <= SG_EGRESS; dir++) {
			gen_group_name(name, sizeof(name), group->id, dir == SG_INGRESS ? "in" : "eg");
			if (buf_printf(out, "add chain " T " %s\n", name) < 0)
				goto err;
		}
	}
	for (i = 0; i < new->groups.n_groups; i++) {
		const struct secgroup *group = &new->groups.groups[i];
		const struct secgroup *prev = secgroup_find(&old->groups, group->id);

		for (dir = SG_INGRESS; dir <= SG_EGRESS; dir++) {
			buf_reset(&lines);
			buf_reset(&olines);
			if (gen_group_body(group, (enum sg_direction)dir, &lines) < 0 ||
			    (prev && gen_group_body(prev, (enum sg_direction)dir, &olines) < 0))
				goto err;
			gen_group_name(name, sizeof(name), group->id, dir == SG_INGRESS ? "in" : "eg");
			/* a new group's chain was just added, empty */
			if (prev == NULL) {
				char prefix[160];

				snprintf(prefix, sizeof(prefix), "add rule " T " %s ", name);
				if (gen_emit_lines(out, prefix, &lines, "") < 0)
					goto err;
			} else if (gen_chain_update(out, name, &olines, &lines) < 0) {
				goto err;
			}
		}
	}

	/* e. ports that are gone: their elements, then their chains */
	for (p = 0; p < old->n_ports; p++) {
		const struct filter_port *port = &old->ports[p];

		if (filter_model_port(new, port->ifname) != NULL)
			continue;
		for (s = GEN_NSETS - 1; s >= GEN_GUEST_PORTS; s--) {
			buf_reset(&lines);
			if (gen_port_elements(port, (enum gen_set)s, 1, &lines) < 0 ||
			    gen_elements_cmd(out, "delete", gen_set_names[s], &lines) < 0)
				goto err;
		}
		for (dir = SG_INGRESS; dir <= SG_EGRESS; dir++)
			if (buf_printf(out, "flush chain " T " %s_%s\ndelete chain " T " %s_%s\n",
				       dir == SG_INGRESS ? "in" : "eg", port->ifname,
				       dir == SG_INGRESS ? "in" : "eg", port->ifname) < 0)
				goto err;
	}
	/* f, g. ports that changed or are new */
	for (p = 0; p < new->n_ports; p++) {
		const struct filter_port *port = &new->ports[p];
		const struct filter_port *prev = filter_model_port(old, port->ifname);

		for (dir = SG_INGRESS; dir <= SG_EGRESS; dir++) {
			buf_reset(&lines);
			buf_reset(&olines);
			if (gen_port_body(new, port, (enum sg_direction)dir, &lines) < 0 ||
			    (prev && gen_port_body(old, prev, (enum sg_direction)dir, &olines) < 0))
				goto err;
			snprintf(name, sizeof(name), "%s_%s", dir == SG_INGRESS ? "in" : "eg", port->ifname);
			if (gen_chain_update(out, name, prev ? &olines : NULL, &lines) < 0)
				goto err;
		}
		for (s = GEN_GUEST_PORTS; s < GEN_NSETS; s++) {
			if (prev != NULL && gen_port_identity_equal(prev, port, (enum gen_set)s))
				continue;
			if (prev != NULL) {
				buf_reset(&lines);
				if (gen_port_elements(prev, (enum gen_set)s, 1, &lines) < 0 ||
				    gen_elements_cmd(out, "delete", gen_set_names[s], &lines) < 0)
					goto err;
			}
			buf_reset(&lines);
			if (gen_port_elements(port, (enum gen_set)s, 0, &lines) < 0 ||
			    gen_elements_cmd(out, "add", gen_set_names[s], &lines) < 0)
				goto err;
		}
	}

	/* h. groups that are gone, now that nothing refers to them */
	for (i = 0; i < old->groups.n_groups; i++) {
		const struct secgroup *group = &old->groups.groups[i];

		if (secgroup_find(&new->groups, group->id) != NULL)
			continue;
		for (dir = SG_INGRESS; dir <= SG_EGRESS; dir++) {
			gen_group_name(name, sizeof(name), group->id, dir == SG_INGRESS ? "in" : "eg");
			if (buf_printf(out, "flush chain " T " %s\ndelete chain " T " %s\n", name, name) < 0)
				goto err;
		}
		for (s = 0; s < 2; s++) {
			gen_group_name(name, sizeof(name), group->id, s ? "v6" : "v4");
			if (buf_printf(out, "delete set " T " %s\n", name) < 0)
				goto err;
		}
	}
	buf_free(&lines);
	buf_free(&olines);
	return 0;

err:
	buf_free(&lines);
	buf_free(&olines);
	return -1;
}
