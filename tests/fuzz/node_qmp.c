/* node_qmp.c -- fuzz the QMP client's reading of what QEMU sends: greeting, replies, events */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input is the byte stream QEMU would send: it is written into one end of
 * a socketpair, which is then shut for writing, and the client on the other
 * end attaches (greeting, qmp_capabilities as id 1), runs one command (id 2)
 * and pumps events until the stream ends.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qmp q;
	struct qmp_event ev;
	json_t *result = NULL;
	int sv[2];

	if (size > 65536)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* the socket buffer (at least 64 KiB here) holds the whole input */
	int sndbuf = 256 * 1024;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (size && write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);
	if (qmp_attach(&q, sv[0], 1000) == 0) {
		if (qmp_command(&q, "query-status", NULL, 1000, &result) == 0)
			json_decref(result);
		qmp_pump(&q, 0);
		while (qmp_next_event(&q, &ev) == 1)
			qmp_event_free(&ev);
		qmp_close(&q);
	}
	close(sv[1]);
	return 0;
}
