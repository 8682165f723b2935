/* node_state.c -- fuzz the desired-state document parser and validator */
#include <stdint.h>
#include <string.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state_doc doc;
	struct errmsg err = { 0 };

	memset(&doc, 0, sizeof(doc));
	if (state_parse((const char *)data, size, &doc, &err) == 0)
		state_free(&doc);
	return 0;
}
