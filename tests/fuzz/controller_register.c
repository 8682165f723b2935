/* controller_register.c -- fuzz POST /v1/nodes/register, the enrollment body (token and sysinfo) of a booting node */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz_controller.h"

#define FUZZ_MAC "52:54:00:12:34:56"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Each input gets a fresh enrollment token for FUZZ_MAC, put in place of
 * every "@TOKEN@" of the input, so that bodies go past the token check into
 * the sysinfo; the node it may register is then marked down so that the next
 * input may register it again.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct controller *ctrl = fuzz_controller();
	struct buf body = BUF_INIT;
	char token[65];
	const char *p = (const char *)data, *end = p + size;
	unsigned status;

	if (nodes_issue_token(ctrl, FUZZ_MAC, NULL, token) < 0)
		abort();
	while (p < end) {
		const char *at = memmem(p, (size_t)(end - p), "@TOKEN@", 7);
		size_t n = at ? (size_t)(at - p) : (size_t)(end - p);

		if (buf_append(&body, p, n) < 0 || (at && buf_puts(&body, token) < 0))
			abort();
		p += n + (at ? 7 : 0);
	}
	if (buf_puts(&body, "") < 0)
		abort();
	status = fuzz_post(ctrl, "/v1/nodes/register", body.data, body.len);
	/* registered, or refused as the client's fault: never a server error */
	if (status != 201 && (status < 400 || status >= 500))
		abort();
	db_lock(&ctrl->db);
	if (db_exec(&ctrl->db, "UPDATE nodes SET state = 'down'", 0, NULL) < 0)
		abort();
	db_unlock(&ctrl->db);
	buf_free(&body);
	return 0;
}
