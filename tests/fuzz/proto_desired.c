/* proto_desired.c -- fuzz the desired-state parser, and check that what it accepts renders and parses back the same */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Renders doc compactly with sorted keys (a new string) or aborts. */
static char *render(const struct state_doc *doc)
{
	json_t *j = state_to_json(doc);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(j);
	if (text == NULL)
		abort();
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state_doc doc, again;
	struct errmsg err = { 0 };
	char *first, *second;

	memset(&doc, 0, sizeof(doc));
	if (state_parse((const char *)data, size, &doc, &err) < 0)
		return 0;
	/* the renderer writes what the parser reads: a second round changes nothing */
	first = render(&doc);
	memset(&err, 0, sizeof(err));
	if (state_parse(first, strlen(first), &again, &err) < 0) {
		fprintf(stderr, "rendered document refused: %s: %s\n%s\n", err.field, err.msg, first);
		abort();
	}
	second = render(&again);
	if (strcmp(first, second) != 0) {
		fprintf(stderr, "render is not stable:\n%s\n%s\n", first, second);
		abort();
	}
	free(first);
	free(second);
	state_free(&again);
	state_free(&doc);
	return 0;
}
