/* node_filter_model.c -- fuzz the filter model built from a parsed document, and the nft script generated from it */
#include <stdint.h>
#include <string.h>

#include "filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state_doc doc;
	struct filter_model model, empty;
	struct errmsg err = { 0 };
	struct buf out = BUF_INIT;

	/* the filters' scope: what `cloudd filter --state` reads; a full document is a special case */
	if (state_parse_filters((const char *)data, size, &doc, &err) < 0)
		return 0;
	if (filter_model_from_doc(&doc, &model, &err) == 0) {
		memset(&empty, 0, sizeof(empty));
		filter_gen_full(&model, &out);
		buf_reset(&out);
		filter_gen_update(&empty, &model, &out);
		buf_reset(&out);
		filter_gen_update(&model, &empty, &out);
		filter_model_free(&model);
	}
	buf_free(&out);
	state_free(&doc);
	return 0;
}
