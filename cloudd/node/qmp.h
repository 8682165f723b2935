/* qmp.h -- QEMU Machine Protocol client over a unix socket: handshake, commands, queued events */
#ifndef CLOUDD_QMP_H
#define CLOUDD_QMP_H

#include <jansson.h>
#include <stddef.h>

/* Longest QMP message accepted from QEMU (bytes, one line of JSON). */
#define QMP_MESSAGE_MAX (1024 * 1024)
/* Events kept for the caller before the oldest are dropped. */
#define QMP_EVENTS_MAX 256

/*
 * One connection to one QEMU. All calls are synchronous and bounded by a
 * timeout; events that arrive meanwhile (SHUTDOWN, POWERDOWN, RESET, STOP,
 * RESUME, GUEST_PANICKED...) are queued and handed out by qmp_next_event.
 *
 * Errors: -1 with errno
 *   ETIMEDOUT    no answer in time (the connection stays usable)
 *   ECONNRESET   QEMU closed the socket (it exited): qmp_closed() is true
 *   EPROTO       QEMU sent something that is not QMP (the connection is
 *                closed: it cannot be trusted to be in sync any more)
 *   EMSGSIZE     a message longer than QMP_MESSAGE_MAX (closed likewise)
 *   EREMOTEIO    QEMU answered with an error: see qmp_error()
 */
struct qmp_event {
	char name[64];      /* "SHUTDOWN" */
	json_t *data;       /* the event's "data" object, or NULL; owned by the caller */
	long long ts_usec;  /* QEMU's timestamp, microseconds since the epoch */
};

struct qmp {
	int fd;
	char *in;           /* received bytes not yet parsed */
	size_t in_len, in_cap;
	unsigned long next_id;
	int closed;
	char version[32];   /* "7.2.22", from the greeting */
	char error[256];    /* last error: "CommandNotFound: The command x has not been found" */
	struct qmp_event events[QMP_EVENTS_MAX];
	size_t ev_head, ev_count;
	unsigned long events_dropped;
};

/* Connects to the socket, reads the greeting and negotiates capabilities. */
int qmp_connect(struct qmp *q, const char *socket_path, int timeout_ms);
/* The same on an already connected stream socket (takes ownership of fd). */
int qmp_attach(struct qmp *q, int fd, int timeout_ms);
void qmp_close(struct qmp *q);

/*
 * Runs one command. args: NULL or an object (borrowed). On success *result
 * (when result is not NULL) is the "return" value, owned by the caller.
 */
int qmp_command(struct qmp *q, const char *name, json_t *args, int timeout_ms,
		json_t **result);

/*
 * Reads whatever is available within timeout_ms (0: only what is already
 * there) and queues the events. For a caller that polls qmp_fd(). Returns the
 * number of events queued, or -1 (ECONNRESET once QEMU is gone; the events
 * read before the socket closed stay queued).
 */
int qmp_pump(struct qmp *q, int timeout_ms);

/* Takes the oldest queued event: 1 and *ev filled, 0 when there is none. */
int qmp_next_event(struct qmp *q, struct qmp_event *ev);
void qmp_event_free(struct qmp_event *ev);

static inline int qmp_fd(const struct qmp *q) { return q->fd; }
static inline int qmp_closed(const struct qmp *q) { return q->closed; }
static inline const char *qmp_error(const struct qmp *q) { return q->error; }

#endif
