/* node_state.c -- desired-state parsing and validation (one good document, many bad ones) and planning */
#include <ctype.h>
#include <stdlib.h>

#include "../../cloudd/node/state.h"
#include "fsutil.h"
#include "unit.h"

static json_t *load_good(void)
{
	return json_load_file(unit_fixture("state/good.json"), 0, NULL);
}

TEST(state_good_document)
{
	struct buf text = BUF_INIT;
	struct state_doc doc;
	struct errmsg err = { 0 };
	char msg[1024];
	const struct state_instance *in;

	CHECK_INT(fs_read_file(unit_fixture("state/good.json"), STATE_MAX_BYTES, &text), 0);
	if (state_parse(text.data, text.len, &doc, &err) < 0) {
		buf_free(&text);
		UNIT_FAIL("good.json rejected: %s", errmsg_str(&err, msg, sizeof(msg)));
	}
	buf_free(&text);
	CHECK_INT(doc.revision, 7);
	CHECK(doc.has_network);
	CHECK_STR(doc.network.bridge, "brguest");
	CHECK_INT(doc.network.prefix, 24);
	CHECK_INT(doc.network.n_dns, 1);
	CHECK(doc.network.has_address6);
	CHECK_INT(doc.n_templates, 3);
	CHECK_INT(doc.templates[2].format, STATE_FMT_KERNEL);
	CHECK(doc.templates[2].has_initrd);
	CHECK_STR(doc.templates[2].kernel.path, "/srv/vmlinuz");
	CHECK_STR(doc.templates[2].initrd.url, "http://192.0.2.1:8080/t/initrd");
	CHECK_STR(doc.templates[2].cmdline, "console=ttyS0 quiet");
	CHECK_INT(doc.templates[0].disk.size, 1048576);
	CHECK_INT(doc.groups.n_groups, 2);
	CHECK_INT(doc.n_instances, 3);
	in = state_find_instance(&doc, "i-0001");
	CHECK(in != NULL);
	CHECK_STR(in->boot_template, "tinykernel");
	CHECK_INT(in->n_disks, 2);
	CHECK_INT(in->disks[1].format, STATE_FMT_RAW);
	CHECK_STR(in->disks[1].template_id, "");
	CHECK_INT(in->n_nics, 1);
	CHECK_STR(in->nics[0].mac, "52:54:00:12:34:01");
	CHECK_INT(in->nics[0].n_groups, 2);
	CHECK(port_ifname_valid(in->nics[0].ifname));
	CHECK(in->cloud_init.present);
	CHECK_STR(in->cloud_init.hostname, "web-1");
	CHECK_INT(in->cloud_init.n_ssh_keys, 1);
	CHECK_CONTAINS(in->cloud_init.user_data, "runcmd");
	CHECK_INT(in->restart, STATE_RESTART_ON_FAILURE);
	in = state_find_instance(&doc, "i-0002");
	CHECK_INT(in->power, STATE_POWER_STOPPED);
	CHECK_INT(in->restart, STATE_RESTART_ALWAYS);
	CHECK_INT(in->disks[0].format, STATE_FMT_RAW);
	in = state_find_instance(&doc, "i-0003");
	CHECK(in->delete_volumes);
	CHECK_INT(strlen(in->spec_hash), 16);
	state_free(&doc);
}

/* Walks "a.0.b" to the parent of the last component; returns it and the last key. */
static json_t *walk(json_t *root, const char *path, char *last, size_t lastlen)
{
	char buf[256], *save = NULL, *tok, *next;
	json_t *node = root;

	snprintf(buf, sizeof(buf), "%s", path);
	tok = strtok_r(buf, ".", &save);
	while (tok && (next = strtok_r(NULL, ".", &save)) != NULL) {
		node = isdigit((unsigned char)tok[0]) ? json_array_get(node, strtoul(tok, NULL, 10))
						      : json_object_get(node, tok);
		if (node == NULL)
			return NULL;
		tok = next;
	}
	snprintf(last, lastlen, "%s", tok ? tok : "");
	return node;
}

static int mutate(json_t *root, const char *path, const char *value)
{
	char last[64];
	json_t *parent = walk(root, path, last, sizeof(last)), *v;

	if (parent == NULL)
		return -1;
	if (strcmp(value, "DELETE") == 0)
		return json_is_array(parent) ? json_array_remove(parent, strtoul(last, NULL, 10))
					     : json_object_del(parent, last);
	if (value[0] == '@') {
		char l2[64];
		json_t *p2 = walk(root, value + 1, l2, sizeof(l2));
		v = json_deep_copy(isdigit((unsigned char)l2[0]) ? json_array_get(p2, strtoul(l2, NULL, 10))
								 : json_object_get(p2, l2));
	} else {
		v = json_loads(value, JSON_DECODE_ANY, NULL);
	}
	if (v == NULL)
		return -1;
	if (json_is_array(parent))
		return json_array_set_new(parent, strtoul(last, NULL, 10), v);
	return json_object_set_new(parent, last, v);
}

TEST(state_invalid_documents_name_the_field)
{
	struct buf list = BUF_INIT;
	char *line, *save = NULL;
	int cases = 0;
	static char failmsg[4096];

	CHECK_INT(fs_read_file(unit_fixture("state/invalid.txt"), 1 << 20, &list), 0);
	for (line = strtok_r(list.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *path, *value, *want, msg[1024];
		struct state_doc doc;
		struct errmsg err = { 0 };
		json_t *root;
		char *text;

		if (line[0] == '#')
			continue;
		path = line;
		value = strchr(path, '\t');
		want = value ? strchr(value + 1, '\t') : NULL;
		if (want == NULL) {
			snprintf(failmsg, sizeof(failmsg), "invalid.txt: malformed line \"%s\"", line);
			buf_free(&list);
			UNIT_FAIL("%s", failmsg);
		}
		*value++ = '\0';
		*want++ = '\0';
		root = load_good();
		if (root == NULL || mutate(root, path, value) < 0) {
			json_decref(root);
			snprintf(failmsg, sizeof(failmsg), "cannot apply %s = %s", path, value);
			buf_free(&list);
			UNIT_FAIL("%s", failmsg);
		}
		text = json_dumps(root, 0);
		json_decref(root);
		if (state_parse(text, strlen(text), &doc, &err) == 0) {
			state_free(&doc);
			free(text);
			snprintf(failmsg, sizeof(failmsg), "%s = %s was accepted", path, value);
			buf_free(&list);
			UNIT_FAIL("%s", failmsg);
		}
		free(text);
		errmsg_str(&err, msg, sizeof(msg));
		if (strstr(msg, want) == NULL) {
			snprintf(failmsg, sizeof(failmsg), "%s = %s: error \"%s\" does not contain \"%s\"",
				 path, value, msg, want);
			buf_free(&list);
			UNIT_FAIL("%s", failmsg);
		}
		cases++;
	}
	buf_free(&list);
	CHECK(cases >= 30);
	printf("    %d invalid documents rejected with the field named\n", cases);
}

TEST(state_rejects_non_documents)
{
	struct state_doc doc;
	struct errmsg err = { 0 };
	static char big[STATE_MAX_BYTES + 2];

	CHECK_INT(state_parse("{\"version\": 1,", 14, &doc, &err), -1);
	CHECK_CONTAINS(err.msg, "not valid JSON: line 1");
	err = (struct errmsg){ 0 };
	CHECK_INT(state_parse("[]", 2, &doc, &err), -1);
	CHECK_CONTAINS(err.msg, "must be a JSON object");
	err = (struct errmsg){ 0 };
	CHECK_INT(state_parse("{\"version\":1,\"revision\":1,\"version\":1}", 37, &doc, &err), -1);
	CHECK_CONTAINS(err.msg, "duplicate");
	err = (struct errmsg){ 0 };
	memset(big, ' ', sizeof(big) - 1);
	CHECK_INT(state_parse(big, sizeof(big) - 1, &doc, &err), -1);
	CHECK_CONTAINS(err.msg, "larger than");
	err = (struct errmsg){ 0 };
	CHECK_INT(state_parse("{\"version\":1,\"revision\":0}", 26, &doc, &err), 0);
	CHECK_INT(doc.n_instances, 0);
	state_free(&doc);
}

TEST(state_spec_hash_ignores_power_name_and_groups)
{
	json_t *a = load_good(), *b;
	struct state_doc da, db;
	struct errmsg err = { 0 };
	char *ta, *tb;

	b = json_deep_copy(a);
	mutate(b, "instances.0.power", "\"stopped\"");
	mutate(b, "instances.0.name", "\"other\"");
	ta = json_dumps(a, 0);
	tb = json_dumps(b, 0);
	CHECK_INT(state_parse(ta, strlen(ta), &da, &err), 0);
	CHECK_INT(state_parse(tb, strlen(tb), &db, &err), 0);
	CHECK_STR(da.instances[0].spec_hash, db.instances[0].spec_hash);
	CHECK_STR(da.network_hash, db.network_hash);
	state_free(&db);
	free(tb);
	/* other groups: the filters change (network), the guest keeps running (spec) */
	mutate(b, "instances.0.nics.0.security_groups", "[]");
	tb = json_dumps(b, 0);
	CHECK_INT(state_parse(tb, strlen(tb), &db, &err), 0);
	CHECK_STR(da.instances[0].spec_hash, db.instances[0].spec_hash);
	state_free(&db);
	free(tb);
	mutate(b, "instances.0.memory_mib", "512");
	mutate(b, "instances.0.nics.0.ipv4", "\"198.51.100.20\"");
	tb = json_dumps(b, 0);
	CHECK_INT(state_parse(tb, strlen(tb), &db, &err), 0);
	CHECK(strcmp(da.instances[0].spec_hash, db.instances[0].spec_hash) != 0);
	CHECK(strcmp(da.network_hash, db.network_hash) != 0);
	state_free(&da);
	state_free(&db);
	free(ta);
	free(tb);
	json_decref(a);
	json_decref(b);
}

static struct state_doc parse_good(void)
{
	struct state_doc doc;
	struct errmsg err = { 0 };
	json_t *root = load_good();

	state_from_json(root, &doc, &err);
	json_decref(root);
	return doc;
}

static void plan_str(const struct state_plan *plan, char *out, size_t outlen)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < plan->n_actions && len < outlen; i++) {
		const struct state_action *a = &plan->actions[i];
		len += (size_t)snprintf(out + len, outlen - len, "%s%s%s%s%s", i ? " " : "",
					state_action_name(a->kind), a->instance[0] || a->object[0] ? ":" : "",
					a->instance, a->object[0] ? (a->instance[0] ? "/" : "") : "");
		if (a->object[0] && len < outlen)
			len += (size_t)snprintf(out + len, outlen - len, "%s", a->object);
	}
}

TEST(state_plan_from_nothing_is_ordered)
{
	struct state_doc doc = parse_good();
	struct state_actual actual = { 0 };
	struct state_plan plan;
	char s[1024];

	CHECK_INT(state_plan(&doc, &actual, &plan), 0);
	plan_str(&plan, s, sizeof(s));
	CHECK_STR(s, "template-fetch:tiny template-fetch:rawdisk template-fetch:tinykernel "
		     "volume-create:i-0001/root volume-create:i-0001/data volume-create:i-0002/root "
		     "network-apply instance-start:i-0001");
	state_plan_free(&plan);
	state_free(&doc);
}

TEST(state_plan_converged_is_empty_and_changes_are_minimal)
{
	struct state_doc doc = parse_good();
	struct state_actual_template t[3];
	struct state_actual_volume v[] = { { "i-0001", "root" }, { "i-0001", "data" }, { "i-0002", "root" },
					   { "i-0003", "root" }, { "gone", "root" } };
	struct state_actual_instance inst[3];
	struct state_actual actual = { t, 3, v, 3, inst, 1, "" };
	struct state_plan plan;
	char s[1024];

	for (int i = 0; i < 3; i++) {
		snprintf(t[i].id, sizeof(t[i].id), "%s", doc.templates[i].id);
		snprintf(t[i].sha256, sizeof(t[i].sha256), "%s",
			 doc.templates[i].format == STATE_FMT_KERNEL ? doc.templates[i].kernel.sha256
								     : doc.templates[i].disk.sha256);
	}
	snprintf(actual.network_hash, sizeof(actual.network_hash), "%s", doc.network_hash);
	inst[0] = (struct state_actual_instance){ .id = "i-0001", .run = STATE_RUN_RUNNING };
	snprintf(inst[0].spec_hash, sizeof(inst[0].spec_hash), "%s", doc.instances[0].spec_hash);
	CHECK_INT(state_plan(&doc, &actual, &plan), 0);
	CHECK_INT(plan.n_actions, 0);
	state_plan_free(&plan);

	/* a new spec restarts; a changed checksum refetches; the network is re-applied */
	strcpy(inst[0].spec_hash, "0000000000000000");
	t[1].sha256[0] = 'f';
	actual.network_hash[0] = '\0';
	CHECK_INT(state_plan(&doc, &actual, &plan), 0);
	plan_str(&plan, s, sizeof(s));
	CHECK_STR(s, "template-fetch:rawdisk network-apply instance-restart:i-0001");
	state_plan_free(&plan);
	state_free(&doc);
}

TEST(state_plan_teardown_comes_first)
{
	struct state_doc doc = parse_good();
	struct state_actual_volume v[] = { { "i-0003", "root" }, { "gone", "root" }, { "i-0001", "root" },
					   { "i-0001", "data" }, { "i-0002", "root" } };
	struct state_actual_instance inst[] = {
		{ .id = "gone", .run = STATE_RUN_RUNNING },
		{ .id = "i-0002", .run = STATE_RUN_RUNNING },
		{ .id = "i-0003", .run = STATE_RUN_RUNNING },
		{ .id = "i-0001", .run = STATE_RUN_STOPPED, .hold = 1 },
	};
	struct state_actual actual = { NULL, 0, v, 5, inst, 4, "" };
	struct state_plan plan;
	char s[2048];

	snprintf(actual.network_hash, sizeof(actual.network_hash), "%s", doc.network_hash);
	CHECK_INT(state_plan(&doc, &actual, &plan), 0);
	plan_str(&plan, s, sizeof(s));
	/* the orphan's volumes ("gone") are kept; i-0001 is held by its restart policy */
	CHECK_STR(s, "instance-forget:gone instance-stop:i-0002 instance-forget:i-0003 "
		     "volume-delete:i-0003/root template-fetch:tiny template-fetch:rawdisk "
		     "template-fetch:tinykernel");
	state_plan_free(&plan);
	state_free(&doc);
}

TEST(state_reboot_and_stop_fields)
{
	struct state_doc doc = parse_good();
	json_t *root = load_good();
	json_t *in = json_array_get(json_object_get(root, "instances"), 0);
	struct state_doc doc2;
	struct errmsg err = { 0 };

	CHECK_INT(doc.instances[0].reboot, 0);
	CHECK_INT(doc.instances[0].stop_force, 0);
	json_object_set_new(in, "reboot", json_integer(7));
	json_object_set_new(in, "stop", json_string("force"));
	CHECK_INT(state_from_json(root, &doc2, &err), 0);
	CHECK_INT(doc2.instances[0].reboot, 7);
	CHECK_INT(doc2.instances[0].stop_force, 1);
	/* neither is part of the start spec: changing them never restarts the guest */
	CHECK_STR(doc2.instances[0].spec_hash, doc.instances[0].spec_hash);
	state_free(&doc2);
	json_object_set_new(in, "stop", json_string("graceful"));
	CHECK_INT(state_from_json(root, &doc2, &err), 0);
	CHECK_INT(doc2.instances[0].stop_force, 0);
	state_free(&doc2);
	json_decref(root);
	state_free(&doc);
}

/* The plan of a node that has everything good.json asks for, i-0001 running. */
static const char *plan_spec; /* the spec i-0001 runs with; NULL = the document's */
static void plan_converged(struct state_doc *doc, struct state_actual_instance *inst, long long done,
			   enum state_run run, int hold, char *s, size_t slen)
{
	struct state_actual_template t[3];
	struct state_actual_volume v[] = { { "i-0001", "root" }, { "i-0001", "data" }, { "i-0002", "root" } };
	struct state_actual actual = { t, 3, v, 3, inst, 1, "" };
	struct state_plan plan;

	for (int i = 0; i < 3; i++) {
		snprintf(t[i].id, sizeof(t[i].id), "%s", doc->templates[i].id);
		snprintf(t[i].sha256, sizeof(t[i].sha256), "%s",
			 doc->templates[i].format == STATE_FMT_KERNEL ? doc->templates[i].kernel.sha256
								      : doc->templates[i].disk.sha256);
	}
	snprintf(actual.network_hash, sizeof(actual.network_hash), "%s", doc->network_hash);
	inst[0] = (struct state_actual_instance){ .id = "i-0001", .run = run, .hold = hold, .reboot_done = done };
	snprintf(inst[0].spec_hash, sizeof(inst[0].spec_hash), "%s",
		 plan_spec ? plan_spec : doc->instances[0].spec_hash);
	s[0] = '\0';
	if (state_plan(doc, &actual, &plan) == 0)
		plan_str(&plan, s, slen);
	state_plan_free(&plan);
}

TEST(state_plan_reboot_generation)
{
	struct state_doc doc = parse_good();
	struct state_actual_instance inst[1];
	char s[1024];

	/* a raised generation reboots a running guest once */
	doc.instances[0].reboot = 3;
	plan_converged(&doc, inst, 2, STATE_RUN_RUNNING, 0, s, sizeof(s));
	CHECK_STR(s, "instance-reboot:i-0001");
	/* done: nothing more */
	plan_converged(&doc, inst, 3, STATE_RUN_RUNNING, 0, s, sizeof(s));
	CHECK_STR(s, "");
	/* lowered below what was done: ignored */
	plan_converged(&doc, inst, 5, STATE_RUN_RUNNING, 0, s, sizeof(s));
	CHECK_STR(s, "");
	/* a guest held stopped (restart policy) is started by a reboot ... */
	plan_converged(&doc, inst, 2, STATE_RUN_STOPPED, 1, s, sizeof(s));
	CHECK_STR(s, "instance-start:i-0001");
	/* ... but not without one */
	plan_converged(&doc, inst, 3, STATE_RUN_STOPPED, 1, s, sizeof(s));
	CHECK_STR(s, "");
	/* a new spec restarts: that boot is the reboot too, no reset first */
	plan_spec = "0000000000000000";
	plan_converged(&doc, inst, 2, STATE_RUN_RUNNING, 0, s, sizeof(s));
	plan_spec = NULL;
	CHECK_STR(s, "instance-restart:i-0001");
	/* power stopped: a raised generation does not start or reset anything */
	doc.instances[0].power = STATE_POWER_STOPPED;
	plan_converged(&doc, inst, 2, STATE_RUN_STOPPED, 0, s, sizeof(s));
	CHECK_STR(s, "");
	plan_converged(&doc, inst, 2, STATE_RUN_RUNNING, 0, s, sizeof(s));
	CHECK_STR(s, "instance-stop:i-0001");
	state_free(&doc);
}

/*
 * The spec is of the parsed values, not of their spelling: a document with
 * its defaults left out and the same document with them written out (and
 * a MAC in upper case, an IPv6 address not in its shortest form) give the
 * same spec hashes, and a guest started from one is left alone by the other.
 */
TEST(state_spec_hash_ignores_spelling_and_defaults)
{
	json_t *a = load_good(), *b;
	struct state_doc da, db;
	struct state_actual_instance inst = { .id = "i-0001", .run = STATE_RUN_RUNNING };
	struct state_actual actual = { NULL, 0, NULL, 0, &inst, 1, "" };
	struct state_plan plan;
	struct errmsg err = { 0 };
	char *ta, *tb, msg[1024];

	/* i-0001 without the defaults of its first disk's format and its restart policy */
	CHECK_INT(mutate(a, "instances.0.disks.0.format", "DELETE"), 0);
	CHECK_INT(mutate(a, "instances.0.restart", "DELETE"), 0);
	b = json_deep_copy(a);
	CHECK_INT(mutate(b, "instances.0.disks.0.format", "\"qcow2\""), 0);
	CHECK_INT(mutate(b, "instances.0.restart", "\"on-failure\""), 0);
	CHECK_INT(mutate(b, "instances.0.reboot", "0"), 0);
	CHECK_INT(mutate(b, "instances.0.stop", "\"graceful\""), 0);
	CHECK_INT(mutate(b, "instances.0.delete_volumes", "false"), 0);
	CHECK_INT(mutate(b, "instances.1.disks.0.format", "\"raw\""), 0);
	ta = json_dumps(a, JSON_COMPACT);
	tb = json_dumps(b, JSON_INDENT(3) | JSON_SORT_KEYS);
	if (state_parse(ta, strlen(ta), &da, &err) < 0 || state_parse(tb, strlen(tb), &db, &err) < 0)
		UNIT_FAIL("rejected: %s", errmsg_str(&err, msg, sizeof(msg)));
	for (size_t i = 0; i < da.n_instances; i++)
		CHECK_STR(da.instances[i].spec_hash, db.instances[i].spec_hash);
	/* and it is the hash earlier nodes computed from the written-out text: an upgrade restarts nothing */
	CHECK_STR(db.instances[0].spec_hash, "f8a0372cbc9e0557");

	/* started from one, planned against the other: nothing to do for the guest */
	snprintf(inst.spec_hash, sizeof(inst.spec_hash), "%s", da.instances[0].spec_hash);
	CHECK_INT(state_plan(&db, &actual, &plan), 0);
	for (size_t i = 0; i < plan.n_actions; i++)
		CHECK(plan.actions[i].kind != STATE_ACT_INSTANCE_RESTART && plan.actions[i].kind != STATE_ACT_INSTANCE_START);
	state_plan_free(&plan);
	state_free(&db);
	free(tb);

	/* a MAC in upper case and an IPv6 address spelled long are the same NIC */
	CHECK_INT(mutate(b, "instances.0.nics.0.mac", "\"52:54:00:AB:CD:01\""), 0);
	CHECK_INT(mutate(a, "instances.0.nics.0.mac", "\"52:54:00:ab:cd:01\""), 0);
	CHECK_INT(mutate(b, "instances.0.nics.0.ipv6", "\"2001:0db8:0100:0000:0000:0000:0000:0010\""), 0);
	state_free(&da);
	free(ta);
	ta = json_dumps(a, JSON_COMPACT);
	tb = json_dumps(b, JSON_COMPACT);
	if (state_parse(ta, strlen(ta), &da, &err) < 0 || state_parse(tb, strlen(tb), &db, &err) < 0)
		UNIT_FAIL("rejected: %s", errmsg_str(&err, msg, sizeof(msg)));
	CHECK_STR(da.instances[0].spec_hash, db.instances[0].spec_hash);
	state_free(&db);
	free(tb);

	/* a real change still restarts */
	CHECK_INT(mutate(b, "instances.0.disks.0.format", "\"raw\""), 0);
	tb = json_dumps(b, JSON_COMPACT);
	CHECK_INT(state_parse(tb, strlen(tb), &db, &err), 0);
	CHECK(strcmp(da.instances[0].spec_hash, db.instances[0].spec_hash) != 0);
	state_free(&da);
	state_free(&db);
	free(ta);
	free(tb);
	json_decref(a);
	json_decref(b);
}
