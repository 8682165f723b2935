/* node_filter.c -- unit tests for the filter model and the nftables script generator */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "../../cloudd/node/filter.h"

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long len;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)len + 1);
	if (data && fread(data, 1, (size_t)len, f) != (size_t)len) {
		free(data);
		data = NULL;
	}
	if (data)
		data[len] = '\0';
	fclose(f);
	return data;
}

/* Builds a model from a document's text, parsed as `cloudd filter` parses it; -1 with err when refused. */
static int load_text(const char *text, struct filter_model *model, struct errmsg *err)
{
	struct state_doc doc;
	int rc;

	memset(model, 0, sizeof(*model));
	memset(err, 0, sizeof(*err));
	rc = state_parse_filters(text, strlen(text), &doc, err);
	if (rc < 0)
		return rc;
	rc = filter_model_from_doc(&doc, model, err);
	state_free(&doc);
	return rc;
}

/* Loads a model from a fixture document; returns -1 with err on a validation error. */
static int load_model(const char *fixture, struct filter_model *model, struct errmsg *err)
{
	char *text = read_file(unit_fixture(fixture));
	int rc;

	if (text == NULL) {
		snprintf(err->msg, sizeof(err->msg), "cannot load %s", fixture);
		return -2;
	}
	rc = load_text(text, model, err);
	free(text);
	return rc;
}

/* number of lines of text that start with prefix */
static int count_lines(const char *text, const char *prefix)
{
	const char *p = text;
	int n = 0;

	while (p && *p) {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

TEST(filter_full_matches_golden)
{
	struct filter_model model;
	struct errmsg err;
	struct buf out = BUF_INIT;
	char *golden = read_file(unit_fixture("filter/small.nft"));

	CHECK(golden != NULL);
	CHECK_INT(load_model("filter/small.json", &model, &err), 0);
	CHECK_INT(filter_gen_full(&model, &out), 0);
	if (strcmp(out.data, golden) != 0) {
		FILE *f = fopen("/tmp/node_filter.small.nft", "w");
		if (f) {
			fputs(out.data, f);
			fclose(f);
		}
		UNIT_FAIL("generated table differs from fixtures/filter/small.nft (got: /tmp/node_filter.small.nft)");
	}
	free(golden);
	buf_free(&out);
	filter_model_free(&model);
}

TEST(filter_update_matches_golden)
{
	struct filter_model a, b;
	struct errmsg err;
	struct buf out = BUF_INIT;
	char *golden = read_file(unit_fixture("filter/small-update.nft"));

	CHECK(golden != NULL);
	CHECK_INT(load_model("filter/small.json", &a, &err), 0);
	CHECK_INT(load_model("filter/small-v2.json", &b, &err), 0);
	CHECK_INT(filter_gen_update(&a, &b, &out), 0);
	if (strcmp(out.data, golden) != 0) {
		FILE *f = fopen("/tmp/node_filter.small-update.nft", "w");
		if (f) {
			fputs(out.data, f);
			fclose(f);
		}
		UNIT_FAIL("generated update differs from fixtures/filter/small-update.nft (got: /tmp/node_filter.small-update.nft)");
	}
	free(golden);
	buf_free(&out);
	filter_model_free(&a);
	filter_model_free(&b);
}

TEST(filter_model_reads_nics_and_adds_local_members)
{
	struct filter_model model;
	struct errmsg err;
	const struct filter_port *p;
	const struct secgroup *web;

	CHECK_INT(load_model("filter/small.json", &model, &err), 0);
	CHECK_INT(model.n_ports, 3); /* i-0003 is deleted: no port */
	p = filter_model_port(&model, "cvd1b4dbef");
	CHECK(p != NULL);
	CHECK_STR(p->instance, "i-0001");
	CHECK_INT(p->nic, 0);
	CHECK(p->has_ipv4 && p->has_ipv6);
	CHECK_INT(p->n_groups, 1);
	/* fe80::5054:ff:fe12:3401 */
	CHECK_INT(p->ipv6_ll[0], 0xfe);
	CHECK_INT(p->ipv6_ll[8], 0x50);
	CHECK_INT(p->ipv6_ll[11], 0xff);
	CHECK_INT(p->ipv6_ll[12], 0xfe);
	CHECK_INT(p->ipv6_ll[15], 0x01);
	web = secgroup_find(&model.groups, "web");
	CHECK(web != NULL);
	CHECK_INT(web->n_members, 4); /* 2 listed + i-0001's IPv4 and IPv6 */
	CHECK(filter_model_port(&model, "cvd0b4da5c") == NULL);
	filter_model_free(&model);
}

TEST(filter_model_rejects_bad_nics_naming_the_field)
{
	static const struct {
		const char *doc, *field, *words;
	} cases[] = {
		{ "{\"instances\":[{\"id\":\"i-1\",\"nics\":[{\"mac\":\"52:54:zz:00:00:01\"}]}]}", "instances[0].nics[0].mac", "not a MAC" },
		{ "{\"instances\":[{\"id\":\"i-1\",\"nics\":[{\"mac\":\"01:00:5e:00:00:01\"}]}]}", "instances[0].nics[0].mac", "multicast" },
		{ "{\"instances\":[{\"id\":\"i-1\",\"nics\":[{\"mac\":\"52:54:00:00:00:01\",\"ipv4\":\"2001:db8::1\"}]}]}", "instances[0].nics[0].ipv4", "not an IPv4" },
		{ "{\"instances\":[{\"id\":\"i-1\",\"nics\":[{\"mac\":\"52:54:00:00:00:01\",\"ipv6\":\"198.51.100.1\"}]}]}", "instances[0].nics[0].ipv6", "not an IPv6" },
		{ "{\"instances\":[{\"id\":\"i-1\",\"nics\":[{\"mac\":\"52:54:00:00:00:01\",\"security_groups\":[\"web\"]}]}]}", "instances[0].nics[0].security_groups[0]", "no security group \"web\"" },
		{ "{\"security_groups\":[{\"id\":\"web\"}],\"instances\":[{\"id\":\"i-1\",\"nics\":[{\"mac\":\"52:54:00:00:00:01\",\"security_groups\":[\"web\",\"web\"]}]}]}", "instances[0].nics[0].security_groups[1]", "twice" },
		{ "{\"instances\":[{\"id\":\"I-1\",\"nics\":[]}]}", "instances[0].id", "must match" },
		{ "{\"instances\":[{\"id\":\"i-1\",\"nics\":[]},{\"id\":\"i-2\",\"nics\":{}}]}", "instances[1].nics", "array" },
		{ "{\"instances\":[{\"id\":\"i-1\",\"nics\":[{\"mac\":\"52:54:00:00:00:01\"}]},{\"id\":\"i-1\",\"nics\":[{\"mac\":\"52:54:00:00:00:02\"}]}]}", "instances[1].id", "duplicate instance id" }, /* the parser's check */
		{ "{\"security_groups\":[{\"id\":\"a\",\"rules\":[{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"0\",\"cidr\":\"10.0.0.0/8\"}]}]}", "security_groups[0].rules[0].ports", "out of range" },
		{ "[]", "", "JSON object" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct filter_model model;
		struct errmsg err;

		if (load_text(cases[i].doc, &model, &err) != -1)
			UNIT_FAIL("case %zu accepted", i);
		if (strcmp(err.field, cases[i].field) != 0)
			UNIT_FAIL("case %zu: field \"%s\", want \"%s\" (%s)", i, err.field, cases[i].field, err.msg);
		if (strstr(err.msg, cases[i].words) == NULL)
			UNIT_FAIL("case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].words);
		CHECK(model.ports == NULL && model.groups.groups == NULL);
	}
}

TEST(filter_full_has_the_anti_spoofing_and_dispatch)
{
	struct filter_model model;
	struct errmsg err;
	struct buf out = BUF_INIT;

	CHECK_INT(load_model("filter/small.json", &model, &err), 0);
	CHECK_INT(filter_gen_full(&model, &out), 0);
	/* one transaction that replaces the table */
	CHECK(strncmp(strstr(out.data, "add table bridge cloudd\n"), "add table bridge cloudd\ndelete table bridge cloudd\ntable bridge cloudd {", 70) == 0);
	/* dispatch by port through sets and verdict maps, never a base chain per NIC */
	CHECK_INT(count_lines(out.data, "\t\ttype filter hook "), 3);
	CHECK_CONTAINS(out.data, "iifname @guest_ports jump from_guest");
	CHECK_CONTAINS(out.data, "iifname vmap @port_egress");
	CHECK_CONTAINS(out.data, "oifname vmap @port_ingress");
	CHECK_CONTAINS(out.data, "\"cvd1b4dbef\" : jump g_web_in,");
	/* identity as set elements */
	CHECK_CONTAINS(out.data, "\"cvd1b4dbef\" . 52:54:00:12:34:01,");
	CHECK_CONTAINS(out.data, "\"cvd1b4dbef\" . 198.51.100.10,");
	CHECK_CONTAINS(out.data, "\"cvd1b4dbef\" . fe80::5054:ff:fe12:3401,");
	CHECK_CONTAINS(out.data, "\"cvd1b4dbef\" . 0x20010db8010000000000000000000010,");
	/* anti-spoofing before conntrack: from_guest_ip4 checks the source, then jumps to guest_egress */
	CHECK(strstr(out.data, "iifname . ip saddr != @port_ip4 jump drop_ip4_src") <
	      strstr(out.data, "chain guest_egress {"));
	CHECK_CONTAINS(out.data, "ether type vmap { arp : jump from_guest_arp, ip : jump from_guest_ip4, ip6 : jump from_guest_ip6 }\n\t\tjump drop_ethertype");
	/* each counted drop still drops when the counter set is full */
	CHECK_CONTAINS(out.data, "chain drop_mac {\n\t\tupdate @drops { iifname . \"mac\" }\n\t\tdrop\n\t}");
	CHECK_CONTAINS(out.data, "chain drop_sg_ingress {\n\t\tupdate @drops { oifname . \"sg_ingress\" }\n\t\tdrop\n\t}");
	/* group rules: cidr, group sets per family, icmp, 0.0.0.0/0 */
	CHECK_CONTAINS(out.data, "ether type ip tcp dport 80 accept comment \"rules[0]\"");
	CHECK_CONTAINS(out.data, "ip saddr @g_web_v4 tcp dport 8000-8100 accept");
	CHECK_CONTAINS(out.data, "ip6 saddr @g_web_v6 tcp dport 8000-8100 accept");
	CHECK_CONTAINS(out.data, "ip saddr 192.0.2.0/24 icmp type 8 accept");
	CHECK_CONTAINS(out.data, "ip6 daddr @g_web_v6 icmpv6 type 128 icmpv6 code 0 accept");
	CHECK(strstr(out.data, "ip daddr @g_web_v4 icmpv6") == NULL);
	/* egress: open (accept) unless a group of the port has egress rules; one group: straight to its chain */
	CHECK_CONTAINS(out.data, "\"cvd1b4dbef\" : accept,");
	CHECK_CONTAINS(out.data, "\"cva28ba78e\" : jump g_db_tier_eg,");
	/* ingress: a NIC without groups has no element (everything new falls to the counted drop) */
	CHECK(strstr(out.data, "\"cva38ba921\" : jump") == NULL);
	/* member sets only for groups that rules refer to; no empty chains */
	CHECK(strstr(out.data, "g_db_tier_v4") == NULL);
	CHECK(strstr(out.data, "chain g_web_eg") == NULL);
	buf_free(&out);
	filter_model_free(&model);
}

TEST(filter_update_of_equal_models_is_empty)
{
	struct filter_model a, b;
	struct errmsg err;
	struct buf out = BUF_INIT;

	CHECK_INT(load_model("filter/small.json", &a, &err), 0);
	CHECK_INT(load_model("filter/small.json", &b, &err), 0);
	CHECK_INT(filter_gen_update(&a, &b, &out), 0);
	CHECK_INT(out.len, 0);
	buf_free(&out);
	filter_model_free(&a);
	filter_model_free(&b);
}

/* A document with `ports` NICs all in group g (no egress rules unless egress) and h. */
static char *many_doc(int ports, const char *extra_member, int egress)
{
	struct buf b = BUF_INIT;
	int i;

	buf_printf(&b, "{\"security_groups\":[{\"id\":\"g\",\"rules\":[{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"22\",\"group\":\"h\"}%s]},"
		       "{\"id\":\"h\",\"members\":[%s%s%s]}],\"instances\":[",
		   egress ? ",{\"direction\":\"egress\",\"protocol\":\"udp\",\"ports\":\"53\",\"cidr\":\"198.51.100.1/32\"}" : "",
		   extra_member ? "\"" : "", extra_member ? extra_member : "", extra_member ? "\"" : "");
	for (i = 0; i < ports; i++)
		buf_printf(&b, "%s{\"id\":\"i-%d\",\"nics\":[{\"mac\":\"52:54:00:00:%02x:%02x\",\"ipv4\":\"198.51.%d.%d\",\"security_groups\":[\"g\"]}]}",
			   i ? "," : "", i, i / 256, i % 256, 100 + i / 250, i % 250 + 2);
	buf_puts(&b, "]}");
	return buf_steal(&b);
}

TEST(filter_membership_change_touches_only_set_elements)
{
	struct filter_model a, b;
	struct errmsg err;
	struct buf out = BUF_INIT;
	char *da = many_doc(1000, NULL, 0), *db = many_doc(1000, "192.0.2.77", 0);

	CHECK_INT(load_text(da, &a, &err), 0);
	CHECK_INT(load_text(db, &b, &err), 0);
	CHECK_INT(filter_gen_update(&a, &b, &out), 0);
	/* one element for all 1000 ports' rule "tcp 22 from group h" */
	CHECK_STR(out.data, "add element bridge cloudd g_h_v4 {\n\t192.0.2.77,\n}\n");
	buf_reset(&out);
	CHECK_INT(filter_gen_update(&b, &a, &out), 0);
	CHECK_STR(out.data, "delete element bridge cloudd g_h_v4 {\n\t192.0.2.77,\n}\n");
	buf_free(&out);
	free(da);
	free(db);
	filter_model_free(&a);
	filter_model_free(&b);
}

TEST(filter_first_egress_rule_rewrites_the_members_port_chains)
{
	struct filter_model a, b;
	struct errmsg err;
	struct buf out = BUF_INIT;
	char *da = many_doc(3, NULL, 0), *db = many_doc(3, NULL, 1);

	CHECK_INT(load_text(da, &a, &err), 0);
	CHECK_INT(load_text(db, &b, &err), 0);
	CHECK_INT(filter_gen_update(&a, &b, &out), 0);
	CHECK_INT(count_lines(out.data, "add chain bridge cloudd g_g_eg"), 1);
	CHECK_INT(count_lines(out.data, "add rule bridge cloudd g_g_eg ip daddr 198.51.100.1/32 udp dport 53 accept"), 1);
	/* each member port's egress verdict now jumps to the group's chain instead of accepting */
	CHECK_INT(count_lines(out.data, "delete element bridge cloudd port_egress {"), 3);
	CHECK_INT(count_lines(out.data, "add element bridge cloudd port_egress {"), 3);
	CHECK_INT(count_lines(out.data, "\t\"cv"), 6);
	CHECK(strstr(out.data, "\" : jump g_g_eg,\n") != NULL);
	CHECK(strstr(out.data, "\" : accept") == NULL);
	CHECK(strstr(out.data, "port_ingress") == NULL);
	CHECK(strstr(out.data, "g_g_in") == NULL);
	/* the first egress rule chain comes before the elements that jump to it */
	CHECK(strstr(out.data, "add chain bridge cloudd g_g_eg") < strstr(out.data, "add element"));
	buf_free(&out);
	free(da);
	free(db);
	filter_model_free(&a);
	filter_model_free(&b);
}

TEST(filter_full_is_linear_in_ports)
{
	struct filter_model m;
	struct errmsg err;
	struct buf out = BUF_INIT;
	char *d = many_doc(1000, NULL, 0);

	CHECK_INT(load_text(d, &m, &err), 0);
	CHECK_INT(m.n_ports, 1000);
	CHECK_INT(filter_gen_full(&m, &out), 0);
	/* per port only set and map elements; per group one chain */
	CHECK_INT(count_lines(out.data, "\tchain in_cv"), 0);
	CHECK_INT(count_lines(out.data, "\tchain eg_cv"), 0);
	CHECK_INT(count_lines(out.data, "\t\t\t\"cv"), 1000 * 7); /* ports, mac, ip4, link-local (ip6, nd), egress, ingress */
	CHECK_INT(count_lines(out.data, "\tchain g_"), 1);
	CHECK_INT(count_lines(out.data, "\t\ttype filter hook "), 3);
	buf_free(&out);
	free(d);
	filter_model_free(&m);
}

TEST(filter_rules_to_one_peer_merge_into_one_port_set)
{
	struct filter_model m;
	struct errmsg err;
	struct buf out = BUF_INIT;
	const char *doc =
		"{\"security_groups\":[{\"id\":\"g\",\"rules\":["
		"{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"443\",\"cidr\":\"0.0.0.0/0\"},"
		"{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"8050-8200\",\"cidr\":\"192.0.2.0/24\"},"
		"{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"80\",\"cidr\":\"0.0.0.0/0\"},"
		"{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"8000-8100\",\"cidr\":\"192.0.2.0/24\"},"
		"{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"8201\",\"cidr\":\"192.0.2.0/24\"},"
		"{\"direction\":\"ingress\",\"protocol\":\"udp\",\"ports\":\"53\",\"group\":\"g\"},"
		"{\"direction\":\"ingress\",\"protocol\":\"udp\",\"group\":\"g\"},"
		"{\"direction\":\"ingress\",\"protocol\":\"udp\",\"ports\":\"53\",\"cidr\":\"192.0.2.0/24\"},"
		"{\"direction\":\"egress\",\"protocol\":\"tcp\",\"ports\":\"25\",\"cidr\":\"0.0.0.0/0\"}]}]}";

	CHECK_INT(load_text(doc, &m, &err), 0);
	CHECK_INT(filter_gen_full(&m, &out), 0);
	CHECK_CONTAINS(out.data, "chain g_g_in {\n"
				 "\t\tether type ip tcp dport { 80, 443 } accept comment \"rules[0,2]\"\n"
				 "\t\tip saddr 192.0.2.0/24 tcp dport 8000-8201 accept comment \"rules[1,3,4]\"\n"
				 "\t\tip saddr @g_g_v4 meta l4proto udp accept comment \"rules[5,6]\"\n"
				 "\t\tip6 saddr @g_g_v6 meta l4proto udp accept comment \"rules[5,6]\"\n"
				 "\t\tip saddr 192.0.2.0/24 udp dport 53 accept comment \"rules[7]\"\n"
				 "\t}\n");
	CHECK_CONTAINS(out.data, "chain g_g_eg {\n\t\tether type ip tcp dport 25 accept comment \"rules[8]\"\n\t}\n");
	buf_free(&out);
	filter_model_free(&m);
}

TEST(filter_port_chain_exists_only_with_two_groups_or_more)
{
	struct filter_model one, two;
	struct errmsg err;
	struct buf out = BUF_INIT;
	const char *groups =
		"\"security_groups\":[{\"id\":\"a\",\"rules\":[{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"22\",\"cidr\":\"192.0.2.0/24\"}]},"
		"{\"id\":\"b\",\"rules\":[{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"80\",\"cidr\":\"192.0.2.0/24\"}]}]";
	char doc1[1024], doc2[1024];
	const char *in, *del_elem, *add_elem, *del_chain;

	snprintf(doc1, sizeof(doc1), "{%s,\"instances\":[{\"id\":\"i-1\",\"nics\":[{\"mac\":\"52:54:00:00:00:01\",\"security_groups\":[\"a\"]}]}]}", groups);
	snprintf(doc2, sizeof(doc2), "{%s,\"instances\":[{\"id\":\"i-1\",\"nics\":[{\"mac\":\"52:54:00:00:00:01\",\"security_groups\":[\"a\",\"b\"]}]}]}", groups);
	CHECK_INT(load_text(doc1, &one, &err), 0);
	CHECK_INT(load_text(doc2, &two, &err), 0);
	/* joining a second group: the port chain is created before the element points to it */
	CHECK_INT(filter_gen_update(&one, &two, &out), 0);
	in = strstr(out.data, "add chain bridge cloudd in_cv");
	add_elem = strstr(out.data, "add element bridge cloudd port_ingress");
	CHECK(in != NULL && add_elem != NULL && in < add_elem);
	CHECK_CONTAINS(out.data, "add rule bridge cloudd in_cvf0a9a079 jump g_a_in\nadd rule bridge cloudd in_cvf0a9a079 jump g_b_in\n");
	CHECK_CONTAINS(add_elem, "\"cvf0a9a079\" : jump in_cvf0a9a079,");
	/* leaving it: the element points to the group's chain again before the port chain goes */
	buf_reset(&out);
	CHECK_INT(filter_gen_update(&two, &one, &out), 0);
	del_elem = strstr(out.data, "delete element bridge cloudd port_ingress");
	add_elem = strstr(out.data, "add element bridge cloudd port_ingress");
	del_chain = strstr(out.data, "delete chain bridge cloudd in_cvf0a9a079");
	CHECK(del_elem != NULL && add_elem != NULL && del_chain != NULL);
	CHECK(del_elem < add_elem && add_elem < del_chain);
	CHECK_CONTAINS(add_elem, "\"cvf0a9a079\" : jump g_a_in,");
	buf_free(&out);
	filter_model_free(&one);
	filter_model_free(&two);
}
