/* proto_actual.c -- the actual-state report: what the node renders, the controller parses */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "actual.h"
#include "buf.h"
#include "unit.h"

static const char report[] =
	"{\"revision\":7,\"source\":\"http://192.0.2.1:8080/x\",\"applied_at\":\"2026-12-07T14:00:00Z\",\"converged\":false,"
	"\"last_error\":null,\"rejected_total\":1,\"network\":{\"bridge\":\"brguest\",\"applied\":true,\"error\":null},"
	"\"templates\":[{\"id\":\"t\",\"format\":\"kernel\",\"ready\":false,\"error\":\"fetch failed\"}],"
	"\"instances\":[{\"id\":\"i-1\",\"desired\":\"running\",\"status\":\"running\",\"pid\":42,\"restarts\":0,\"reboot\":2,"
	"\"last_exit\":{\"reason\":\"QEMU exited\",\"exit_code\":1}},"
	"{\"id\":\"i-2\",\"desired\":\"stopped\",\"status\":\"stopped\",\"restarts\":3,\"reboot\":0,\"held\":\"restart policy\","
	"\"error\":\"qemu exited\\nwith status 1\"},{\"id\":\"i-3\",\"desired\":null,\"status\":\"stopping\"}],"
	"\"orphan_volumes\":[{\"instance\":\"i-9\",\"disk\":\"root\"}],\"events\":[{\"action\":\"instance-start\"}],\"future\":1}";

TEST(report_parses_renders_and_parses_back)
{
	struct actual_doc doc, again;
	struct errmsg err = { 0 };
	const struct actual_instance *in;
	json_t *j;
	char *a, *b;

	CHECK_INT(actual_parse(report, strlen(report), &doc, &err), 0);
	CHECK(doc.has_desired && doc.revision == 7);
	CHECK_INT(doc.n_instances, 3);
	in = actual_find_instance(&doc, "i-2");
	CHECK(in != NULL && in->status == ACTUAL_STOPPED && in->held && in->has_desired);
	CHECK_STR(in->error, "qemu exited\nwith status 1");
	in = actual_find_instance(&doc, "i-3");
	CHECK(in != NULL && !in->has_desired && in->status == ACTUAL_STOPPING && in->error == NULL);
	CHECK_INT(doc.n_orphan_volumes, 1);
	CHECK_STR(doc.templates[0].error, "fetch failed");
	j = actual_to_json(&doc);
	CHECK(j != NULL);
	CHECK(json_is_null(json_object_get(json_array_get(json_object_get(j, "instances"), 2), "desired")));
	CHECK(json_object_get(json_array_get(json_object_get(j, "instances"), 2), "restarts") == NULL);
	CHECK(json_object_get(j, "future") == NULL); /* unknown fields are read past, not kept */
	a = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	memset(&err, 0, sizeof(err));
	CHECK_INT(actual_from_json(j, &again, &err), 0);
	json_decref(j);
	j = actual_to_json(&again);
	b = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR(b, a);
	free(a);
	free(b);
	json_decref(j);
	actual_free(&again);
	actual_free(&doc);
}

TEST(bad_reports_are_refused_naming_the_field)
{
	static const struct {
		const char *text, *field;
		int err;
	} cases[] = {
		{ "[]", "", EINVAL },
		{ "{\"instances\":{}}", "instances", EINVAL },
		{ "{\"instances\":[{\"id\":1}]}", "instances[0].id", EINVAL },
		{ "{\"instances\":[{\"id\":\"i-1\"}]}", "instances[0].status", EINVAL },
		{ "{\"instances\":[{\"id\":\"i-1\",\"status\":\"booting\"}]}", "instances[0].status", EINVAL },
		{ "{\"instances\":[{\"id\":\"i-1\",\"status\":\"running\",\"error\":7}]}", "instances[0].error", EINVAL },
		{ "{\"instances\":[{\"id\":\"i-1\",\"status\":\"running\",\"desired\":\"gone\"}]}", "instances[0].desired", EINVAL },
		{ "{\"revision\":-1}", "revision", EINVAL },
		{ "{\"orphan_volumes\":[{\"instance\":\"i-1\"}]}", "orphan_volumes[0].disk", EINVAL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct actual_doc doc;
		struct errmsg err = { 0 };

		errno = 0;
		if (actual_parse(cases[i].text, strlen(cases[i].text), &doc, &err) != -1)
			UNIT_FAIL("case %zu accepted", i);
		if (strcmp(err.field, cases[i].field) != 0)
			UNIT_FAIL("case %zu: field \"%s\", want \"%s\" (%s)", i, err.field, cases[i].field, err.msg);
		CHECK_INT(errno, cases[i].err);
		CHECK(doc.instances == NULL);
	}
}

TEST(too_many_instances_is_e2big)
{
	struct buf b = BUF_INIT;
	struct actual_doc doc;
	struct errmsg err = { 0 };

	buf_puts(&b, "{\"instances\":[");
	for (int i = 0; i <= ACTUAL_MAX_INSTANCES; i++)
		buf_printf(&b, "%s{\"id\":\"i-%d\",\"status\":\"running\"}", i ? "," : "", i);
	buf_puts(&b, "]}");
	CHECK_INT(actual_parse(b.data, b.len, &doc, &err), -1);
	CHECK_INT(errno, E2BIG);
	CHECK_STR(err.field, "instances");
	buf_free(&b);
}
