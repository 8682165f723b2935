/* qmp.c -- QEMU Machine Protocol client over a unix socket: handshake, commands, queued events */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "qmp.h"

static void qmp_fail(struct qmp *q, int err, const char *fmt, const char *detail)
{
	snprintf(q->error, sizeof(q->error), fmt, detail ? detail : "");
	if (err == EPROTO || err == EMSGSIZE || err == ECONNRESET) {
		if (q->fd >= 0)
			close(q->fd);
		q->fd = -1;
		q->closed = 1;
	}
	errno = err;
}

/* Moves one complete line out of the input buffer: 1 and *line, or 0. */
static int qmp_take_line(struct qmp *q, char **line, size_t *len)
{
	char *nl = q->in_len ? memchr(q->in, '\n', q->in_len) : NULL;

	if (nl == NULL)
		return 0;
	*len = (size_t)(nl - q->in);
	*line = malloc(*len + 1);
	if (*line == NULL)
		return -1;
	memcpy(*line, q->in, *len);
	(*line)[*len] = '\0';
	q->in_len -= *len + 1;
	memmove(q->in, nl + 1, q->in_len);
	return 1;
}

/* Reads once from the socket into the input buffer: 1 read, 0 EAGAIN, -1 error. */
static int qmp_fill(struct qmp *q)
{
	if (q->in_cap - q->in_len < 4096) {
		size_t cap = q->in_cap ? q->in_cap * 2 : 8192;
		if (cap > QMP_MESSAGE_MAX + 8192)
			cap = QMP_MESSAGE_MAX + 8192;
		if (cap - q->in_len < 1) {
			qmp_fail(q, EMSGSIZE, "QEMU sent a message longer than %s bytes", "1048576");
			return -1;
		}
		char *n = realloc(q->in, cap);
		if (n == NULL)
			return -1;
		q->in = n;
		q->in_cap = cap;
	}
	ssize_t r = read(q->fd, q->in + q->in_len, q->in_cap - q->in_len);
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		qmp_fail(q, ECONNRESET, "reading the QMP socket: %s", strerror(errno));
		return -1;
	}
	if (r == 0) {
		qmp_fail(q, ECONNRESET, "QEMU closed the QMP socket%s", NULL);
		return -1;
	}
	q->in_len += (size_t)r;
	if (q->in_len > QMP_MESSAGE_MAX && memchr(q->in, '\n', q->in_len) == NULL) {
		qmp_fail(q, EMSGSIZE, "QEMU sent a message longer than %s bytes", "1048576");
		return -1;
	}
	return 1;
}

static void qmp_queue_event(struct qmp *q, json_t *msg)
{
	struct qmp_event *ev;
	const char *name = json_string_value(json_object_get(msg, "event"));
	json_t *ts = json_object_get(msg, "timestamp");
	json_t *data = json_object_get(msg, "data");

	if (q->ev_count == QMP_EVENTS_MAX) {
		/* the oldest event is dropped: the caller is not keeping up */
		qmp_event_free(&q->events[q->ev_head]);
		q->ev_head = (q->ev_head + 1) % QMP_EVENTS_MAX;
		q->ev_count--;
		q->events_dropped++;
	}
	ev = &q->events[(q->ev_head + q->ev_count) % QMP_EVENTS_MAX];
	snprintf(ev->name, sizeof(ev->name), "%s", name);
	ev->data = json_is_object(data) ? json_incref(data) : NULL;
	ev->ts_usec = json_integer_value(json_object_get(ts, "seconds")) * 1000000LL +
		      json_integer_value(json_object_get(ts, "microseconds"));
	q->ev_count++;
}

/*
 * Reads until one message that is not an event arrives (events are queued
 * on the way), or the deadline passes (0, ETIMEDOUT). 1 and *msg, or -1.
 */
static int qmp_read_message(struct qmp *q, long long deadline, json_t **msg)
{
	for (;;) {
		char *line;
		size_t len;
		int got;

		if (q->closed) {
			errno = ECONNRESET;
			return -1;
		}
		got = qmp_take_line(q, &line, &len);
		if (got < 0)
			return -1;
		if (got == 0) {
			long long left = deadline - proc_now_ms();
			struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
			int r;

			if (left < 0)
				left = 0;
			r = poll(&pfd, 1, (int)(left > 60000 ? 60000 : left));
			if (r < 0 && errno != EINTR)
				return -1;
			if (r == 0 && left == 0) {
				errno = ETIMEDOUT;
				return 0;
			}
			if (r > 0 && qmp_fill(q) < 0)
				return -1;
			continue;
		}
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len == 0) {
			free(line);
			continue;
		}
		json_error_t jerr;
		json_t *m = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
		free(line);
		if (m == NULL || !json_is_object(m)) {
			json_decref(m);
			qmp_fail(q, EPROTO, "QEMU sent a message that is not a JSON object: %s",
				 m ? "" : jerr.text);
			return -1;
		}
		if (json_is_string(json_object_get(m, "event"))) {
			qmp_queue_event(q, m);
			json_decref(m);
			continue;
		}
		*msg = m;
		return 1;
	}
}

static int qmp_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

int qmp_attach(struct qmp *q, int fd, int timeout_ms)
{
	long long deadline = proc_now_ms() + timeout_ms;
	json_t *greeting = NULL, *qmpobj, *ver;
	int r;

	memset(q, 0, sizeof(*q));
	q->fd = fd;
	q->next_id = 1;
	if (qmp_set_nonblock(fd) < 0) {
		qmp_close(q);
		return -1;
	}
	r = qmp_read_message(q, deadline, &greeting);
	if (r <= 0) {
		if (r == 0)
			snprintf(q->error, sizeof(q->error), "no QMP greeting from QEMU in time");
		goto err;
	}
	qmpobj = json_object_get(greeting, "QMP");
	if (!json_is_object(qmpobj)) {
		json_decref(greeting);
		qmp_fail(q, EPROTO, "the first message is not a QMP greeting%s", NULL);
		goto err;
	}
	ver = json_object_get(json_object_get(qmpobj, "version"), "qemu");
	snprintf(q->version, sizeof(q->version), "%lld.%lld.%lld",
		 json_integer_value(json_object_get(ver, "major")),
		 json_integer_value(json_object_get(ver, "minor")),
		 json_integer_value(json_object_get(ver, "micro")));
	json_decref(greeting);
	if (qmp_command(q, "qmp_capabilities", NULL, (int)(deadline - proc_now_ms()), NULL) < 0)
		goto err;
	return 0;

err:
	r = errno;
	qmp_close(q);
	errno = r;
	return -1;
}

int qmp_connect(struct qmp *q, const char *socket_path, int timeout_ms)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, n;

	n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
		memset(q, 0, sizeof(*q));
		q->fd = -1;
		snprintf(q->error, sizeof(q->error), "QMP socket path too long");
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int saved = errno;
		close(fd);
		memset(q, 0, sizeof(*q));
		q->fd = -1;
		q->closed = 1;
		snprintf(q->error, sizeof(q->error), "connecting to %s: %s", socket_path,
			 strerror(saved));
		errno = saved;
		return -1;
	}
	return qmp_attach(q, fd, timeout_ms);
}

void qmp_close(struct qmp *q)
{
	struct qmp_event ev;

	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	q->closed = 1;
	while (qmp_next_event(q, &ev) == 1)
		qmp_event_free(&ev);
	free(q->in);
	q->in = NULL;
	q->in_len = q->in_cap = 0;
}

/* Writes all of buf, waiting for the socket until the deadline. */
static int qmp_write_all(struct qmp *q, const char *buf, size_t len, long long deadline)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = send(q->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			qmp_fail(q, ECONNRESET, "writing to the QMP socket: %s", strerror(errno));
			return -1;
		}
		long long left = deadline - proc_now_ms();
		if (left <= 0) {
			/* a half-written command leaves the stream out of sync */
			qmp_fail(q, EPROTO, "timed out writing a command%s", NULL);
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd pfd = { .fd = q->fd, .events = POLLOUT };
		poll(&pfd, 1, (int)left);
	}
	return 0;
}

int qmp_command(struct qmp *q, const char *name, json_t *args, int timeout_ms,
		json_t **result)
{
	long long deadline = proc_now_ms() + timeout_ms;
	unsigned long id;
	json_t *cmd;
	char *text;
	int r;

	if (q->closed) {
		snprintf(q->error, sizeof(q->error), "QMP connection is closed");
		errno = ECONNRESET;
		return -1;
	}
	if (args != NULL && !json_is_object(args)) {
		errno = EINVAL;
		return -1;
	}
	id = q->next_id++;
	cmd = json_pack("{s:s, s:I}", "execute", name, "id", (json_int_t)id);
	if (cmd == NULL || (args && json_object_set(cmd, "arguments", args) < 0)) {
		json_decref(cmd);
		errno = ENOMEM;
		return -1;
	}
	text = json_dumps(cmd, JSON_COMPACT);
	json_decref(cmd);
	if (text == NULL) {
		errno = ENOMEM;
		return -1;
	}
	size_t len = strlen(text);
	char *line = realloc(text, len + 2);
	if (line == NULL) {
		free(text);
		errno = ENOMEM;
		return -1;
	}
	line[len] = '\n';
	line[len + 1] = '\0';
	r = qmp_write_all(q, line, len + 1, deadline);
	free(line);
	if (r < 0)
		return -1;

	for (;;) {
		json_t *msg = NULL, *err;

		r = qmp_read_message(q, deadline, &msg);
		if (r == 0) {
			snprintf(q->error, sizeof(q->error), "no answer to %s in time", name);
			errno = ETIMEDOUT;
			return -1;
		}
		if (r < 0)
			return -1;
		json_t *jid = json_object_get(msg, "id");
		if (!json_is_integer(jid) || (unsigned long)json_integer_value(jid) != id) {
			/* an answer to an earlier command that timed out: drop it */
			json_decref(msg);
			continue;
		}
		err = json_object_get(msg, "error");
		if (err != NULL) {
			snprintf(q->error, sizeof(q->error), "%s: %s",
				 json_string_value(json_object_get(err, "class")) ?: "Error",
				 json_string_value(json_object_get(err, "desc")) ?: "(no description)");
			json_decref(msg);
			errno = EREMOTEIO;
			return -1;
		}
		json_t *ret = json_object_get(msg, "return");
		if (ret == NULL) {
			json_decref(msg);
			qmp_fail(q, EPROTO, "QEMU answered with neither return nor error%s", NULL);
			return -1;
		}
		if (result)
			*result = json_incref(ret);
		json_decref(msg);
		return 0;
	}
}

int qmp_pump(struct qmp *q, int timeout_ms)
{
	long long deadline = proc_now_ms() + timeout_ms;
	size_t before = q->ev_count;
	json_t *msg = NULL;
	int r;

	for (;;) {
		r = qmp_read_message(q, deadline, &msg);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		/* a stray reply outside a command: nothing waits for it */
		json_decref(msg);
		msg = NULL;
	}
	return (int)(q->ev_count >= before ? q->ev_count - before : 0);
}

int qmp_next_event(struct qmp *q, struct qmp_event *ev)
{
	if (q->ev_count == 0)
		return 0;
	*ev = q->events[q->ev_head];
	memset(&q->events[q->ev_head], 0, sizeof(q->events[0]));
	q->ev_head = (q->ev_head + 1) % QMP_EVENTS_MAX;
	q->ev_count--;
	return 1;
}

void qmp_event_free(struct qmp_event *ev)
{
	json_decref(ev->data);
	ev->data = NULL;
}
