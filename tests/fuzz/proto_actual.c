/* proto_actual.c -- fuzz the actual-state report parser as the controller runs it (a parsed request body), and its renderer */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actual.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct actual_doc doc, again;
	struct errmsg err = { 0 };
	json_t *body, *rendered;

	/* the controller's request body: any JSON value (api_parse_body) */
	body = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	if (body == NULL)
		return 0;
	if (actual_from_json(body, &doc, &err) < 0) {
		json_decref(body);
		return 0;
	}
	for (size_t i = 0; i < doc.n_instances; i++)
		actual_find_instance(&doc, doc.instances[i].id);
	/* what the node renders, the controller reads back */
	rendered = actual_to_json(&doc);
	if (rendered == NULL)
		abort();
	memset(&err, 0, sizeof(err));
	if (actual_from_json(rendered, &again, &err) < 0) {
		fprintf(stderr, "rendered report refused: %s: %s\n", err.field, err.msg);
		abort();
	}
	if (again.n_instances != doc.n_instances || again.n_templates != doc.n_templates)
		abort();
	actual_free(&again);
	json_decref(rendered);
	actual_free(&doc);
	json_decref(body);
	return 0;
}
