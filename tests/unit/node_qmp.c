/* node_qmp.c -- unit tests for the QMP client: recorded QEMU transcripts replayed over a socketpair */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp.h"
#include "unit.h"

/*
 * The peer replays a transcript (tests/unit/fixtures/qmp/README): "< " lines
 * are written to the client, a "> " line waits for the client's next command
 * and checks that it names the same command; replies that carry the recorded
 * id get the client's id instead. The end of the transcript closes the socket.
 * `chunk` > 0 writes everything in pieces of that many bytes (partial reads).
 */
struct peer {
	int fd;
	char **lines;
	size_t nlines;
	size_t chunk;
	int hold_open;     /* keep the socket open at the end (timeouts) */
	char mismatch[256];
	pthread_t thread;
};

static void peer_write(struct peer *p, const char *s, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t n = p->chunk ? p->chunk : len - off;
		if (n > len - off)
			n = len - off;
		ssize_t w = send(p->fd, s + off, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static int peer_read_line(struct peer *p, char *out, size_t outlen)
{
	size_t n = 0;
	char c;

	while (read(p->fd, &c, 1) == 1) {
		if (c == '\n') {
			out[n] = '\0';
			return 0;
		}
		if (n + 1 < outlen)
			out[n++] = c;
	}
	return -1;
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	long long recorded_id = -1, client_id = -1;

	for (size_t i = 0; i < p->nlines; i++) {
		char *l = p->lines[i];
		if (strncmp(l, "> ", 2) == 0) {
			char got[4096];
			json_t *want = json_loads(l + 2, 0, NULL), *have;
			if (peer_read_line(p, got, sizeof(got)) < 0) {
				snprintf(p->mismatch, sizeof(p->mismatch), "client closed before line %zu", i + 1);
				json_decref(want);
				break;
			}
			have = json_loads(got, 0, NULL);
			const char *w = json_string_value(json_object_get(want, "execute"));
			const char *h = json_string_value(json_object_get(have, "execute"));
			if (!w || !h || strcmp(w, h) != 0)
				snprintf(p->mismatch, sizeof(p->mismatch), "line %zu: want %s, client sent %.100s",
					 i + 1, w ? w : "?", got);
			recorded_id = json_integer_value(json_object_get(want, "id"));
			client_id = json_integer_value(json_object_get(have, "id"));
			json_decref(want);
			json_decref(have);
		} else if (strncmp(l, "< ", 2) == 0) {
			json_t *msg = json_loads(l + 2, 0, NULL);
			char *text;
			if (msg && json_integer_value(json_object_get(msg, "id")) == recorded_id &&
			    json_object_get(msg, "id"))
				json_object_set_new(msg, "id", json_integer(client_id));
			text = msg ? json_dumps(msg, JSON_COMPACT) : strdup(l + 2);
			peer_write(p, text, strlen(text));
			peer_write(p, "\r\n", 2);
			free(text);
			json_decref(msg);
		} else if (strncmp(l, "RAW ", 4) == 0) {
			peer_write(p, l + 4, strlen(l + 4));
		} else if (strcmp(l, "READ") == 0) {
			char got[4096];
			peer_read_line(p, got, sizeof(got));
		}
	}
	if (p->hold_open) {
		char c;
		while (read(p->fd, &c, 1) == 1)
			;
	}
	close(p->fd);
	return NULL;
}

static void peer_add(struct peer *p, const char *line)
{
	p->lines = realloc(p->lines, (p->nlines + 1) * sizeof(*p->lines));
	p->lines[p->nlines++] = strdup(line);
}

static int peer_load(struct peer *p, const char *fixture)
{
	char line[8192];
	FILE *f = fopen(unit_fixture(fixture), "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		peer_add(p, line);
	}
	fclose(f);
	return 0;
}

/* Starts the peer; returns the client's end of the socketpair. */
static int peer_start(struct peer *p)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	p->fd = sv[1];
	pthread_create(&p->thread, NULL, peer_main, p);
	return sv[0];
}

static void peer_finish(struct peer *p)
{
	pthread_join(p->thread, NULL);
	for (size_t i = 0; i < p->nlines; i++)
		free(p->lines[i]);
	free(p->lines);
}

static void replay_session(size_t chunk)
{
	struct peer p = { .chunk = chunk };
	struct qmp q;
	struct qmp_event ev;
	json_t *ret = NULL;

	CHECK_INT(peer_load(&p, "qmp/session.txt"), 0);
	int fd = peer_start(&p);
	CHECK_INT(qmp_attach(&q, fd, 5000), 0);
	CHECK_STR(q.version, "7.2.22");

	CHECK_INT(qmp_command(&q, "query-status", NULL, 5000, &ret), 0);
	CHECK_STR(json_string_value(json_object_get(ret, "status")), "running");
	json_decref(ret);
	CHECK_INT(qmp_command(&q, "query-version", NULL, 5000, NULL), 0);

	errno = 0;
	CHECK_INT(qmp_command(&q, "no-such-command", NULL, 5000, NULL), -1);
	CHECK_INT(errno, EREMOTEIO);
	CHECK_CONTAINS(qmp_error(&q), "CommandNotFound");
	json_t *args = json_pack("{s:i}", "bogus", 1);
	CHECK_INT(qmp_command(&q, "query-block", args, 5000, NULL), -1);
	json_decref(args);
	CHECK_CONTAINS(qmp_error(&q), "Parameter 'bogus' is unexpected");
	CHECK(!qmp_closed(&q));

	CHECK_INT(qmp_command(&q, "stop", NULL, 5000, NULL), 0);
	CHECK_INT(qmp_next_event(&q, &ev), 1);
	CHECK_STR(ev.name, "STOP");
	CHECK_INT(ev.ts_usec, 1795494834421754LL);
	qmp_event_free(&ev);
	CHECK_INT(qmp_command(&q, "cont", NULL, 5000, NULL), 0);
	CHECK_INT(qmp_command(&q, "system_reset", NULL, 5000, NULL), 0);
	CHECK_INT(qmp_command(&q, "system_powerdown", NULL, 5000, NULL), 0);
	const char *want[] = { "RESUME", "RESET", "RESET", "RESET", "POWERDOWN" };
	for (size_t i = 0; i < 5; i++) {
		CHECK_INT(qmp_next_event(&q, &ev), 1);
		CHECK_STR(ev.name, want[i]);
		if (i == 1)
			CHECK_STR(json_string_value(json_object_get(ev.data, "reason")),
				  "host-qmp-system-reset");
		qmp_event_free(&ev);
	}
	CHECK_INT(qmp_next_event(&q, &ev), 0);

	/* QEMU got SIGTERM: a SHUTDOWN event, then the socket closes */
	CHECK_INT(qmp_pump(&q, 5000), -1);
	CHECK_INT(errno, ECONNRESET);
	CHECK(qmp_closed(&q));
	CHECK_INT(qmp_next_event(&q, &ev), 1);
	CHECK_STR(ev.name, "SHUTDOWN");
	CHECK_STR(json_string_value(json_object_get(ev.data, "reason")), "host-signal");
	qmp_event_free(&ev);
	CHECK_INT(qmp_command(&q, "query-status", NULL, 100, NULL), -1);
	CHECK_INT(errno, ECONNRESET);
	qmp_close(&q);
	peer_finish(&p);
	CHECK_STR(p.mismatch, "");
}

TEST(qmp_session_transcript)
{
	replay_session(0);
}

TEST(qmp_session_transcript_one_byte_at_a_time)
{
	replay_session(1);
}

TEST(qmp_session_transcript_odd_chunks)
{
	replay_session(7);
}

TEST(qmp_quit_transcript)
{
	struct peer p = { 0 };
	struct qmp q;
	struct qmp_event ev;

	CHECK_INT(peer_load(&p, "qmp/quit.txt"), 0);
	CHECK_INT(qmp_attach(&q, peer_start(&p), 5000), 0);
	CHECK_INT(qmp_command(&q, "quit", NULL, 5000, NULL), 0);
	CHECK_INT(qmp_pump(&q, 5000), -1);
	CHECK(qmp_closed(&q));
	CHECK_INT(qmp_next_event(&q, &ev), 1);
	CHECK_STR(ev.name, "SHUTDOWN");
	CHECK_STR(json_string_value(json_object_get(ev.data, "reason")), "host-qmp-quit");
	qmp_event_free(&ev);
	qmp_close(&q);
	peer_finish(&p);
	CHECK_STR(p.mismatch, "");
}

TEST(qmp_guest_powerdown_transcript)
{
	struct peer p = { 0 };
	struct qmp q;
	struct qmp_event ev;

	CHECK_INT(peer_load(&p, "qmp/powerdown.txt"), 0);
	CHECK_INT(qmp_attach(&q, peer_start(&p), 5000), 0);
	CHECK_INT(qmp_command(&q, "system_powerdown", NULL, 5000, NULL), 0);
	qmp_pump(&q, 5000);
	CHECK_INT(qmp_next_event(&q, &ev), 1);
	CHECK_STR(ev.name, "POWERDOWN");
	qmp_event_free(&ev);
	CHECK_INT(qmp_next_event(&q, &ev), 1);
	CHECK_STR(ev.name, "SHUTDOWN");
	CHECK_STR(json_string_value(json_object_get(ev.data, "reason")), "guest-shutdown");
	CHECK(json_is_true(json_object_get(ev.data, "guest")));
	qmp_event_free(&ev);
	qmp_close(&q);
	peer_finish(&p);
}

static const char greeting[] =
	"< {\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
	"\"package\": \"\"}, \"capabilities\": [\"oob\"]}}";

static void setup_negotiated(struct peer *p)
{
	peer_add(p, greeting);
	peer_add(p, "> {\"execute\": \"qmp_capabilities\", \"id\": 1}");
	peer_add(p, "< {\"return\": {}, \"id\": 1}");
}

TEST(qmp_rejects_garbage)
{
	struct peer p = { 0 };
	struct qmp q;

	setup_negotiated(&p);
	peer_add(&p, "READ");
	peer_add(&p, "RAW this is not json\r\n");
	CHECK_INT(qmp_attach(&q, peer_start(&p), 5000), 0);
	CHECK_INT(qmp_command(&q, "query-status", NULL, 5000, NULL), -1);
	CHECK_INT(errno, EPROTO);
	CHECK(qmp_closed(&q));
	CHECK_CONTAINS(qmp_error(&q), "not a JSON object");
	qmp_close(&q);
	peer_finish(&p);
}

TEST(qmp_rejects_non_object_and_reply_without_return)
{
	struct peer p = { 0 };
	struct qmp q;

	setup_negotiated(&p);
	peer_add(&p, "READ");
	peer_add(&p, "RAW [1, 2, 3]\n");
	CHECK_INT(qmp_attach(&q, peer_start(&p), 5000), 0);
	CHECK_INT(qmp_command(&q, "query-status", NULL, 5000, NULL), -1);
	CHECK_INT(errno, EPROTO);
	qmp_close(&q);
	peer_finish(&p);

	struct peer p2 = { 0 };
	setup_negotiated(&p2);
	peer_add(&p2, "> {\"execute\": \"query-status\", \"id\": 2}");
	peer_add(&p2, "< {\"id\": 2, \"something\": 1}");
	CHECK_INT(qmp_attach(&q, peer_start(&p2), 5000), 0);
	CHECK_INT(qmp_command(&q, "query-status", NULL, 5000, NULL), -1);
	CHECK_INT(errno, EPROTO);
	qmp_close(&q);
	peer_finish(&p2);
}

TEST(qmp_rejects_missing_greeting)
{
	struct peer p = { 0 };
	struct qmp q;

	peer_add(&p, "< {\"return\": {}}");
	CHECK_INT(qmp_attach(&q, peer_start(&p), 5000), -1);
	CHECK_INT(errno, EPROTO);
	CHECK_CONTAINS(qmp_error(&q), "greeting");
	qmp_close(&q);
	peer_finish(&p);
}

TEST(qmp_rejects_oversized_message)
{
	struct peer p = { 0 };
	struct qmp q;
	size_t big = QMP_MESSAGE_MAX + 100000;
	char *line = malloc(big + 8);

	setup_negotiated(&p);
	peer_add(&p, "READ");
	memcpy(line, "RAW {\"a\":\"", 10);
	memset(line + 10, 'x', big - 10);
	line[big] = '\0';
	peer_add(&p, line);
	free(line);
	p.hold_open = 1;
	CHECK_INT(qmp_attach(&q, peer_start(&p), 5000), 0);
	CHECK_INT(qmp_command(&q, "query-status", NULL, 10000, NULL), -1);
	CHECK_INT(errno, EMSGSIZE);
	CHECK(qmp_closed(&q));
	qmp_close(&q);
	peer_finish(&p);
}

TEST(qmp_timeout_then_late_reply_is_dropped)
{
	struct peer p = { 0 };
	struct qmp q;
	json_t *ret = NULL;

	setup_negotiated(&p);
	/* the first command gets no answer in time; its late answer comes
	 * before the answer to the second one */
	peer_add(&p, "> {\"execute\": \"query-status\", \"id\": 2}");
	peer_add(&p, "> {\"execute\": \"query-version\", \"id\": 3}");
	peer_add(&p, "RAW {\"return\": {\"status\": \"late\"}, \"id\": 2}\n");
	peer_add(&p, "< {\"return\": {\"v\": 3}, \"id\": 3}");
	p.hold_open = 1;
	CHECK_INT(qmp_attach(&q, peer_start(&p), 5000), 0);
	CHECK_INT(qmp_command(&q, "query-status", NULL, 100, NULL), -1);
	CHECK_INT(errno, ETIMEDOUT);
	CHECK(!qmp_closed(&q));
	CHECK_INT(qmp_command(&q, "query-version", NULL, 5000, &ret), 0);
	CHECK_INT(json_integer_value(json_object_get(ret, "v")), 3);
	json_decref(ret);
	qmp_close(&q);
	peer_finish(&p);
	CHECK_STR(p.mismatch, "");
}

TEST(qmp_event_queue_is_bounded)
{
	struct peer p = { 0 };
	struct qmp q;
	struct qmp_event ev;
	char line[256];
	int n = 0;

	setup_negotiated(&p);
	for (int i = 0; i < QMP_EVENTS_MAX + 44; i++) {
		snprintf(line, sizeof(line),
			 "< {\"timestamp\": {\"seconds\": %d, \"microseconds\": 0}, \"event\": \"RESET\"}", i);
		peer_add(&p, line);
	}
	CHECK_INT(qmp_attach(&q, peer_start(&p), 5000), 0);
	while (qmp_pump(&q, 2000) >= 0)
		;
	CHECK_INT(q.events_dropped, 44);
	CHECK_INT(qmp_next_event(&q, &ev), 1);
	CHECK_INT(ev.ts_usec, 44 * 1000000LL);
	qmp_event_free(&ev);
	n = 1;
	while (qmp_next_event(&q, &ev) == 1) {
		qmp_event_free(&ev);
		n++;
	}
	CHECK_INT(n, QMP_EVENTS_MAX);
	qmp_close(&q);
	peer_finish(&p);
}

TEST(qmp_connect_to_missing_socket_fails_cleanly)
{
	struct qmp q;

	CHECK_INT(qmp_connect(&q, "/nonexistent/cloudd-test/qmp.sock", 100), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_CONTAINS(qmp_error(&q), "connecting to");
	qmp_close(&q);
}
