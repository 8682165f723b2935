/* controller_boot_failure.c -- fuzz POST /v1/boot-failures, the report an unsigned booting node sends */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_controller.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct controller *ctrl = fuzz_controller();
	char *body = malloc(size + 1);
	unsigned status;

	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	status = fuzz_post(ctrl, "/v1/boot-failures", body, size);
	/* recorded, or refused as the client's fault: never a server error */
	if (status != 202 && (status < 400 || status >= 500))
		abort();
	free(body);
	return 0;
}
