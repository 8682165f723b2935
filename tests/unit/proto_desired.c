/* proto_desired.c -- the desired-state renderer writes what the parser reads */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"
#include "fsutil.h"
#include "unit.h"

static int parse_text(const char *text, struct state_doc *doc)
{
	struct errmsg err = { 0 };
	char msg[800];

	if (state_parse(text, strlen(text), doc, &err) < 0) {
		printf("refused: %s\n", errmsg_str(&err, msg, sizeof(msg)));
		return -1;
	}
	return 0;
}

/* The document rendered compactly with sorted keys (a new string). */
static char *render(const struct state_doc *doc)
{
	json_t *j = state_to_json(doc);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(j);
	return text;
}

TEST(rendered_fixture_parses_back_to_the_same_structs)
{
	struct buf text = BUF_INIT;
	struct state_doc doc, again;
	char *first, *second;

	CHECK_INT(fs_read_file(unit_fixture("state/good.json"), STATE_MAX_BYTES, &text), 0);
	CHECK_INT(parse_text(text.data, &doc), 0);
	first = render(&doc);
	CHECK(first != NULL);
	CHECK_INT(parse_text(first, &again), 0);
	second = render(&again);
	CHECK(second != NULL);
	CHECK_STR(second, first);
	/* the renderer's defaults are explicit, so hashes of its output are stable from one render to the next */
	CHECK_INT(again.n_instances, doc.n_instances);
	{
		struct state_doc third;

		CHECK_INT(parse_text(second, &third), 0);
		for (size_t i = 0; i < doc.n_instances; i++) {
			CHECK_STR(third.instances[i].spec_hash, again.instances[i].spec_hash);
			CHECK_INT(again.instances[i].n_nics, doc.instances[i].n_nics);
			CHECK_INT(again.instances[i].reboot, doc.instances[i].reboot);
		}
		CHECK_STR(third.network_hash, again.network_hash);
		state_free(&third);
	}
	CHECK_INT(again.groups.n_groups, doc.groups.n_groups);
	CHECK_INT(again.n_templates, doc.n_templates);
	free(first);
	free(second);
	state_free(&again);
	state_free(&doc);
	buf_free(&text);
}

TEST(renderer_writes_optional_fields_only_when_set)
{
	static const char text[] =
		"{\"version\":1,\"revision\":5,\"network\":{\"bridge\":\"brguest\",\"address\":\"198.51.100.1/24\"},"
		"\"templates\":[{\"id\":\"t\",\"format\":\"qcow2\",\"path\":\"/var/t.qcow2\",\"sha256\":\""
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}],"
		"\"security_groups\":[{\"id\":\"g\",\"members\":[\"198.51.100.20\",\"198.51.100.20\"],\"rules\":["
		"{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"22-22\",\"cidr\":\"192.0.2.0/24\"},"
		"{\"direction\":\"egress\",\"protocol\":\"icmp\",\"icmp_type\":8,\"group\":\"g\"}]}],"
		"\"instances\":[{\"id\":\"i-1\",\"vcpus\":1,\"memory_mib\":64,\"power\":\"running\",\"reboot\":3,\"stop\":\"force\","
		"\"disks\":[{\"id\":\"root\",\"size_mib\":1024,\"template\":\"t\"}],"
		"\"nics\":[{\"mac\":\"52:54:00:00:00:01\",\"ipv4\":\"198.51.100.10\",\"security_groups\":[\"g\"]}]}]}";
	struct state_doc doc;
	json_t *j, *inst, *rule;

	CHECK_INT(parse_text(text, &doc), 0);
	j = state_to_json(&doc);
	CHECK(j != NULL);
	CHECK(json_object_get(json_object_get(j, "network"), "gateway") == NULL);
	CHECK(json_object_get(json_object_get(j, "network"), "uplink") == NULL);
	CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "templates"), 0), "path")), "/var/t.qcow2");
	inst = json_array_get(json_object_get(j, "instances"), 0);
	CHECK_INT(json_integer_value(json_object_get(inst, "reboot")), 3);
	CHECK_STR(json_string_value(json_object_get(inst, "stop")), "force");
	CHECK_STR(json_string_value(json_object_get(inst, "restart")), "on-failure");
	CHECK(json_object_get(inst, "delete_volumes") == NULL);
	CHECK(json_object_get(inst, "cloud_init") == NULL);
	CHECK(json_object_get(inst, "boot") == NULL);
	rule = json_array_get(json_object_get(json_array_get(json_object_get(j, "security_groups"), 0), "rules"), 0);
	CHECK_STR(json_string_value(json_object_get(rule, "ports")), "22");
	CHECK_STR(json_string_value(json_object_get(rule, "cidr")), "192.0.2.0/24");
	CHECK(json_object_get(rule, "icmp_type") == NULL);
	rule = json_array_get(json_object_get(json_array_get(json_object_get(j, "security_groups"), 0), "rules"), 1);
	CHECK_INT(json_integer_value(json_object_get(rule, "icmp_type")), 8);
	CHECK(json_object_get(rule, "icmp_code") == NULL);
	CHECK_STR(json_string_value(json_object_get(rule, "group")), "g");
	/* members: unique */
	CHECK_INT(json_array_size(json_object_get(json_array_get(json_object_get(j, "security_groups"), 0), "members")), 1);
	json_decref(j);
	state_free(&doc);
}

TEST(filters_scope_reads_a_filter_only_document)
{
	static const char text[] =
		"{\"security_groups\":[{\"id\":\"g\"}],\"instances\":[{\"id\":\"i-1\",\"nics\":[{\"mac\":\"52:54:00:00:00:01\","
		"\"security_groups\":[\"g\"]}]}]}";
	struct state_doc doc;
	struct errmsg err = { 0 };

	/* the whole document needs version, hardware, power and a network; the filters' scope does not */
	CHECK_INT(state_parse(text, strlen(text), &doc, &err), -1);
	CHECK_STR(err.field, "version");
	memset(&err, 0, sizeof(err));
	CHECK_INT(state_parse_filters(text, strlen(text), &doc, &err), 0);
	CHECK_INT(doc.n_instances, 1);
	CHECK_INT(doc.instances[0].power, STATE_POWER_RUNNING);
	CHECK_STR(doc.instances[0].nics[0].ipv4, "");
	CHECK_STR(doc.instances[0].nics[0].groups[0], "g");
	state_free(&doc);
	/* but what it reads, it checks as strictly */
	memset(&err, 0, sizeof(err));
	{
		static const char bad[] = "{\"instances\":[{\"id\":\"i-1\",\"vcpus\":0}]}";

		CHECK_INT(state_parse_filters(bad, strlen(bad), &doc, &err), -1);
	}
	CHECK_STR(err.field, "instances[0].vcpus");
}
