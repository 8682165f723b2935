/* proto_unique.c -- NIC and instance uniqueness across a desired-state document: which NIC the error names */
#include <string.h>

#include "desired.h"
#include "unit.h"

/* parses a filters-scope document; returns the error text, or "" when it parses */
static const char *parse(const char *json)
{
	static char msg[800];
	struct errmsg err = { 0 };
	struct state_doc doc;

	if (state_parse_filters(json, strlen(json), &doc, &err) == 0) {
		state_free(&doc);
		return "";
	}
	return errmsg_str(&err, msg, sizeof(msg));
}

#define NIC(mac, ip) "{\"mac\":\"52:54:00:00:00:" mac "\",\"ipv4\":\"198.51.100." ip "\"}"
#define INST(id, nics) "{\"id\":\"" id "\",\"nics\":[" nics "]}"
#define DOC(insts) "{\"instances\":[" insts "]}"

TEST(nic_repeats_name_the_earliest_nic)
{
	CHECK_STR(parse(DOC(INST("a", NIC("01", "1")) "," INST("b", NIC("02", "2")))), "");
	CHECK_STR(parse(DOC(INST("a", NIC("01", "1")) "," INST("b", NIC("02", "1")))),
		  "instances[1].nics[0].ipv4: ipv4 also used by instances[0].nics[0] (a)");
	/* c repeats a's mac and b's address: a comes first */
	CHECK_STR(parse(DOC(INST("a", NIC("01", "1")) "," INST("b", NIC("02", "2")) "," INST("c", NIC("01", "2")))),
		  "instances[2].nics[0].mac: mac also used by instances[0].nics[0] (a)");
	/* c repeats b's mac and a's address: a still comes first */
	CHECK_STR(parse(DOC(INST("a", NIC("01", "1")) "," INST("b", NIC("02", "2")) "," INST("c", NIC("02", "1")))),
		  "instances[2].nics[0].ipv4: ipv4 also used by instances[0].nics[0] (a)");
	/* one NIC repeating another in two fields: the mac is named */
	CHECK_STR(parse(DOC(INST("a", NIC("01", "1")) "," INST("b", NIC("01", "1")))),
		  "instances[1].nics[0].mac: mac also used by instances[0].nics[0] (a)");
	/* within one instance */
	CHECK_STR(parse(DOC(INST("a", NIC("01", "1") "," NIC("01", "2")))),
		  "instances[0].nics[1].mac: mac also used by instances[0].nics[0] (a)");
	/* the first repeating NIC in document order is the one named */
	CHECK_STR(parse(DOC(INST("a", NIC("01", "1")) "," INST("b", NIC("02", "2")) "," INST("c", NIC("03", "2")) ","
				INST("d", NIC("01", "4")))),
		  "instances[2].nics[0].ipv4: ipv4 also used by instances[1].nics[0] (b)");
}

TEST(absent_addresses_repeat_nothing)
{
	/* the filters' scope lets a NIC go without ipv4: two such NICs do not clash */
	CHECK_STR(parse(DOC(INST("a", "{\"mac\":\"52:54:00:00:00:01\"}") "," INST("b", "{\"mac\":\"52:54:00:00:00:02\"}"))),
		  "");
	CHECK_STR(parse(DOC(INST("a", "{\"mac\":\"52:54:00:00:00:01\"}") "," INST("b", "{\"mac\":\"52:54:00:00:00:01\"}"))),
		  "instances[1].nics[0].mac: mac also used by instances[0].nics[0] (a)");
}

TEST(duplicate_instance_id_names_the_first)
{
	CHECK_STR(parse(DOC(INST("a", NIC("01", "1")) "," INST("b", NIC("02", "2")) "," INST("a", NIC("03", "3")))),
		  "instances[2].id: duplicate instance id \"a\" (also instances[0])");
}

TEST(filters_scope_leaves_the_hashes_empty)
{
	const char *json = DOC(INST("a", NIC("01", "1")));
	struct errmsg err = { 0 };
	struct state_doc doc;

	CHECK_INT(state_parse_filters(json, strlen(json), &doc, &err), 0);
	CHECK_STR(doc.network_hash, "");
	CHECK_STR(doc.instances[0].spec_hash, "");
	state_free(&doc);
}
