/* proto_secgroup.c -- unit tests for parsing and validating security groups */
#include <arpa/inet.h>
#include <sys/socket.h>

#include "unit.h"
#include "secgroup.h"

/* Parses text (the security_groups array); returns the parser's result. */
static int parse(const char *text, struct secgroup_set *set, struct errmsg *err)
{
	json_error_t jerr;
	json_t *array = json_loads(text, 0, &jerr);
	int rc;

	memset(err, 0, sizeof(*err));
	if (array == NULL) {
		printf("bad test JSON: %s: %s\n", jerr.text, text);
		return -2;
	}
	rc = secgroup_parse(array, set, err);
	json_decref(array);
	return rc;
}

TEST(secgroup_parses_the_documented_example)
{
	struct secgroup_set set;
	struct errmsg err;
	const struct secgroup *web;
	const struct sg_rule *r;

	CHECK_INT(parse("[{\"id\":\"web\",\"members\":[\"198.51.100.10\",\"198.51.100.11\",\"2001:db8:100::10\",\"198.51.100.10\"],"
			"\"rules\":["
			"{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"80\",\"cidr\":\"0.0.0.0/0\"},"
			"{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"8000-8100\",\"group\":\"web\"},"
			"{\"direction\":\"ingress\",\"protocol\":\"icmp\",\"icmp_type\":8,\"cidr\":\"192.0.2.0/24\"},"
			"{\"direction\":\"egress\",\"protocol\":\"udp\",\"ports\":\"53\",\"cidr\":\"198.51.100.1/32\"},"
			"{\"direction\":\"ingress\",\"protocol\":\"any\",\"cidr\":\"2001:db8::/32\"}]}]",
			&set, &err), 0);
	CHECK_INT(set.n_groups, 1);
	web = secgroup_find(&set, "web");
	CHECK(web != NULL);
	CHECK_INT(web->n_members, 3); /* the duplicate is folded */
	CHECK_INT(web->n_rules, 5);
	r = &web->rules[1];
	CHECK_INT(r->direction, SG_INGRESS);
	CHECK_INT(r->protocol, SG_PROTO_TCP);
	CHECK_INT(r->port_min, 8000);
	CHECK_INT(r->port_max, 8100);
	CHECK(!r->has_cidr);
	CHECK_STR(r->group, "web");
	r = &web->rules[2];
	CHECK_INT(r->icmp_type, 8);
	CHECK_INT(r->icmp_code, -1);
	CHECK_INT(r->cidr.family, AF_INET);
	CHECK_INT(r->cidr.prefix, 24);
	r = &web->rules[4];
	CHECK_INT(r->protocol, SG_PROTO_ANY);
	CHECK_INT(r->cidr.family, AF_INET6);
	CHECK_INT(r->port_min, 0);
	CHECK(secgroup_has_egress(web));
	CHECK(secgroup_find(&set, "db") == NULL);
	secgroup_set_free(&set);
}

TEST(secgroup_absent_or_empty_is_no_groups)
{
	struct secgroup_set set;
	struct errmsg err = { 0 };

	CHECK_INT(secgroup_parse(NULL, &set, &err), 0);
	CHECK_INT(set.n_groups, 0);
	CHECK_INT(parse("[]", &set, &err), 0);
	CHECK_INT(set.n_groups, 0);
	CHECK_INT(parse("[{\"id\":\"empty\"}]", &set, &err), 0);
	CHECK_INT(set.n_groups, 1);
	CHECK(!secgroup_has_egress(&set.groups[0]));
	secgroup_set_free(&set);
}

struct bad_case {
	const char *rule;  /* a rule object, or a whole array when it starts with '[' */
	const char *field; /* the field the error must name */
	const char *words; /* and a piece of its message */
};

static const struct bad_case bad_cases[] = {
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"cidr\":\"10.0.0.0/33\"}", "rules[0].cidr", "not a CIDR" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"cidr\":\"10.0.0.1/8\"}", "rules[0].cidr", "host bits" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"cidr\":\"2001:db8::1/32\"}", "rules[0].cidr", "host bits" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"cidr\":\"10.0.0.300/32\"}", "rules[0].cidr", "not a CIDR" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"cidr\":\"10.0.0.1\"}", "rules[0].cidr", "not a CIDR" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"cidr\":\"10.0.0.0/08\"}", "rules[0].cidr", "not a CIDR" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"cidr\":42}", "rules[0].cidr", "must be a string" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"0\",\"cidr\":\"10.0.0.0/8\"}", "rules[0].ports", "out of range" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"65536\",\"cidr\":\"10.0.0.0/8\"}", "rules[0].ports", "out of range" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"udp\",\"ports\":\"100-99\",\"cidr\":\"10.0.0.0/8\"}", "rules[0].ports", "greater than" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"udp\",\"ports\":\"1-\",\"cidr\":\"10.0.0.0/8\"}", "rules[0].ports", "not a port" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"udp\",\"ports\":\"http\",\"cidr\":\"10.0.0.0/8\"}", "rules[0].ports", "not a port" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"udp\",\"ports\":80,\"cidr\":\"10.0.0.0/8\"}", "rules[0].ports", "must be a string" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"sctp\",\"cidr\":\"10.0.0.0/8\"}", "rules[0].protocol", "unknown protocol \"sctp\"" },
	{ "{\"direction\":\"ingress\",\"cidr\":\"10.0.0.0/8\"}", "rules[0].protocol", "required" },
	{ "{\"direction\":\"inbound\",\"protocol\":\"tcp\",\"cidr\":\"10.0.0.0/8\"}", "rules[0].direction", "ingress" },
	{ "{\"protocol\":\"tcp\",\"cidr\":\"10.0.0.0/8\"}", "rules[0].direction", "required" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"icmp\",\"ports\":\"80\",\"cidr\":\"10.0.0.0/8\"}", "rules[0].ports", "tcp and udp only" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"any\",\"ports\":\"80\",\"cidr\":\"10.0.0.0/8\"}", "rules[0].ports", "tcp and udp only" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"icmp\",\"icmp_type\":256,\"cidr\":\"10.0.0.0/8\"}", "rules[0].icmp_type", "out of range" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"icmp\",\"icmp_type\":-1,\"cidr\":\"10.0.0.0/8\"}", "rules[0].icmp_type", "out of range" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"icmp\",\"icmp_type\":8,\"icmp_code\":300,\"cidr\":\"10.0.0.0/8\"}", "rules[0].icmp_code", "out of range" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"icmp\",\"icmp_code\":0,\"cidr\":\"10.0.0.0/8\"}", "rules[0].icmp_code", "needs icmp_type" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"icmp_type\":8,\"cidr\":\"10.0.0.0/8\"}", "rules[0].icmp_type", "icmp and icmpv6 only" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"icmp\",\"icmp_type\":\"8\",\"cidr\":\"10.0.0.0/8\"}", "rules[0].icmp_type", "integer" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"icmp\",\"cidr\":\"2001:db8::/32\"}", "rules[0].cidr", "never matches" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"icmpv6\",\"cidr\":\"10.0.0.0/8\"}", "rules[0].cidr", "never matches" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"group\":\"nope\"}", "rules[0].group", "no security group \"nope\"" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"group\":\"Bad_Id\"}", "rules[0].group", "not a security group id" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"cidr\":\"10.0.0.0/8\",\"group\":\"g\"}", "rules[0].group", "not both" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\"}", "rules[0].cidr", "required" },
	{ "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"cidr\":\"10.0.0.0/8\",\"port\":\"80\"}", "rules[0].port", "unknown field" },
	{ "\"tcp/80\"", "rules[0]", "must be an object" },
	{ "[{\"id\":\"g\"},{\"id\":\"g\"}]", "security_groups[1].id", "duplicate id \"g\"" },
	{ "[{\"id\":\"G\"}]", "security_groups[0].id", "must match" },
	{ "[{\"name\":\"g\"}]", "security_groups[0].id", "required" },
	{ "[{\"id\":\"g\",\"rule\":[]}]", "security_groups[0].rule", "unknown field" },
	{ "[{\"id\":\"g\",\"members\":[\"198.51.100.300\"]}]", "security_groups[0].members[0]", "not an IPv4 or IPv6 address" },
	{ "[{\"id\":\"g\",\"members\":[\"198.51.100.0/24\"]}]", "security_groups[0].members[0]", "not an IPv4 or IPv6 address" },
	{ "[{\"id\":\"g\",\"members\":\"198.51.100.1\"}]", "security_groups[0].members", "array" },
	{ "[{\"id\":\"g\",\"rules\":{}}]", "security_groups[0].rules", "array" },
	{ "[{\"id\":\"a\",\"rules\":[{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"group\":\"b\"}]},"
	  "{\"id\":\"b\",\"rules\":[{\"direction\":\"egress\",\"protocol\":\"tcp\",\"group\":\"c\"}]}]",
	  "security_groups[1].rules[0].group", "no security group \"c\"" },
	{ "{}", "security_groups", "must be an array" },
	{ "[[]]", "security_groups[0]", "must be an object" },
};

TEST(secgroup_rejects_each_invalid_case_naming_the_field)
{
	size_t i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		char text[2048], field[256];
		struct secgroup_set set;
		struct errmsg err;

		if (c->rule[0] == '[' ||
		    (c->rule[0] == '{' && strstr(c->rule, "direction") == NULL && strstr(c->rule, "protocol") == NULL))
			snprintf(text, sizeof(text), "%s", c->rule);
		else
			snprintf(text, sizeof(text), "[{\"id\":\"g\",\"rules\":[%s]}]", c->rule);
		if (strncmp(c->field, "security_groups", 15) == 0)
			snprintf(field, sizeof(field), "%s", c->field);
		else
			snprintf(field, sizeof(field), "security_groups[0].%s", c->field);
		if (parse(text, &set, &err) != -1)
			UNIT_FAIL("case %zu accepted: %s", i, text);
		if (strcmp(err.field, field) != 0)
			UNIT_FAIL("case %zu: field \"%s\", want \"%s\" (%s)", i, err.field, field, err.msg);
		if (strstr(err.msg, c->words) == NULL)
			UNIT_FAIL("case %zu: message \"%s\" lacks \"%s\"", i, err.msg, c->words);
		CHECK(set.groups == NULL && set.n_groups == 0);
	}
}

TEST(secgroup_port_and_cidr_edges)
{
	struct sg_addr a;
	const char *why;
	int min, max, host;

	CHECK_INT(sg_parse_ports("1", &min, &max, &why), 0);
	CHECK_INT(min, 1);
	CHECK_INT(sg_parse_ports("65535", &min, &max, &why), 0);
	CHECK_INT(max, 65535);
	CHECK_INT(sg_parse_ports("1-65535", &min, &max, &why), 0);
	CHECK_INT(sg_parse_ports("22-22", &min, &max, &why), 0);
	CHECK_INT(min, 22);
	CHECK_INT(sg_parse_ports("080", &min, &max, &why), -1);
	CHECK_INT(sg_parse_ports("-80", &min, &max, &why), -1);
	CHECK_INT(sg_parse_ports("", &min, &max, &why), -1);
	CHECK_INT(sg_parse_cidr("0.0.0.0/0", &a, &host), 0);
	CHECK_INT(a.prefix, 0);
	CHECK_INT(sg_parse_cidr("::/0", &a, &host), 0);
	CHECK_INT(a.family, AF_INET6);
	CHECK_INT(sg_parse_cidr("198.51.100.7/32", &a, &host), 0);
	CHECK_INT(sg_parse_cidr("2001:db8::/129", &a, &host), -1);
	CHECK_INT(host, 0);
	CHECK_INT(sg_parse_cidr("198.51.100.128/25", &a, &host), 0);
	CHECK_INT(sg_parse_cidr("198.51.100.129/25", &a, &host), -1);
	CHECK_INT(host, 1);
	CHECK_INT(sg_parse_cidr("/24", &a, &host), -1);
	CHECK_INT(sg_parse_cidr("10.0.0.0/", &a, &host), -1);
	CHECK_INT(sg_parse_cidr("10.0.0.0/2x", &a, &host), -1);
}

TEST(secgroup_copy_is_deep)
{
	struct secgroup_set set, copy;
	struct errmsg err;

	CHECK_INT(parse("[{\"id\":\"a\",\"members\":[\"192.0.2.1\"],\"rules\":[{\"direction\":\"ingress\",\"protocol\":\"any\",\"group\":\"a\"}]}]",
			&set, &err), 0);
	CHECK_INT(secgroup_set_copy(&copy, &set), 0);
	secgroup_set_free(&set);
	CHECK_INT(copy.n_groups, 1);
	CHECK_INT(copy.groups[0].n_members, 1);
	CHECK_STR(copy.groups[0].rules[0].group, "a");
	secgroup_set_free(&copy);
}
