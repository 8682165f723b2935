/* lib_sign.c -- fuzz the Authorization header parser and query canonicalisation */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sign_auth auth;
	const char *why;
	char *text = malloc(size + 1);
	char *q;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&auth, 0, sizeof(auth));
	sign_parse_authorization(text, &auth, &why);
	q = sign_canonical_query_string(text);
	free(q);
	free(text);
	return 0;
}
