/* node_watch.c -- the desired-state watch against a live in-test controller endpoint (lib/httpd) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../cloudd/lib/fsutil.h"
#include "../../cloudd/lib/sign.h"
#include "../../cloudd/node/cloudd.h"
#include "../../cloudd/node/converge.h"
#include "../../cloudd/node/enroll.h"
#include "../../cloudd/node/watch.h"
#include "unit.h"

#define NODE_ID "node-7"
#define NODE_KEY "nk-node-7"
#define NODE_SECRET "s3cret-of-node-7"

/*
 * The controller's two node endpoints as the contract (docs/api.md) states
 * them: GET desired-state answers at once when its revision is newer than
 * ?revision=, else holds the request up to ?wait= seconds (woken by a
 * change) and answers 204; PUT actual-state keeps the body. Requests must
 * carry the node key's signature. A thread pool lets a held poll and a
 * report be served at once.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct httpd *srv;
	unsigned port;
	long long revision; /* of doc */
	char doc[1024];
	int refuse;	    /* answer 401 */
	unsigned polls, held, bad_signatures, reports;
	long long last_asked; /* ?revision= of the last poll (-1 none) */
	char last_report[8192];
} ctl = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static int ctl_signed(struct httpd_request *req, const struct sign_query_arg *args, size_t n)
{
	const char *auth = httpd_header(req, "Authorization"), *why;
	struct sign_auth a;
	char sig[SIGN_HEX_LEN + 1], *query;
	int ok;

	if (auth == NULL || sign_parse_authorization(auth, &a, &why) < 0 || strcmp(a.key_id, NODE_KEY) != 0)
		return 0;
	query = sign_canonical_query(args, n);
	ok = query && sign_request(NODE_SECRET, req->method, req->path, query, req->body, req->body_len,
				   a.expires, sig) == 0 && sign_equal(sig, a.signature, SIGN_HEX_LEN);
	free(query);
	return ok;
}

static int ctl_desired(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	const char *rev = httpd_query(req, "revision"), *wait = httpd_query(req, "wait");
	struct sign_query_arg args[2];
	size_t n = 0;
	long long asked = rev ? atoll(rev) : -1;
	struct timespec until;

	(void)ctx;
	if (rev)
		args[n++] = (struct sign_query_arg){ "revision", rev };
	if (wait)
		args[n++] = (struct sign_query_arg){ "wait", wait };
	pthread_mutex_lock(&ctl.lock);
	ctl.polls++;
	ctl.last_asked = asked;
	if (!ctl_signed(req, args, n) || strcmp(httpd_param(req, "id"), NODE_ID) != 0) {
		ctl.bad_signatures++;
		pthread_mutex_unlock(&ctl.lock);
		return httpd_reply_error(resp, 401, "unauthorized", "bad signature");
	}
	if (ctl.refuse) {
		pthread_mutex_unlock(&ctl.lock);
		return httpd_reply_error(resp, 401, "unauthorized", "unknown node key");
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait ? atoi(wait) : 30;
	ctl.held++;
	while (ctl.revision <= asked && pthread_cond_timedwait(&ctl.cond, &ctl.lock, &until) == 0)
		;
	ctl.held--;
	if (ctl.revision <= asked) {
		pthread_mutex_unlock(&ctl.lock);
		resp->status = 204;
		return 0;
	}
	httpd_reply_text(resp, 200, "application/json", ctl.doc, strlen(ctl.doc));
	pthread_mutex_unlock(&ctl.lock);
	return 0;
}

static int ctl_actual(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&ctl.lock);
	if (!ctl_signed(req, NULL, 0)) {
		ctl.bad_signatures++;
		pthread_mutex_unlock(&ctl.lock);
		return httpd_reply_error(resp, 401, "unauthorized", "bad signature");
	}
	ctl.reports++;
	snprintf(ctl.last_report, sizeof(ctl.last_report), "%s", req->body);
	pthread_mutex_unlock(&ctl.lock);
	resp->status = 204;
	return 0;
}

static void ctl_set_doc(long long revision)
{
	pthread_mutex_lock(&ctl.lock);
	ctl.revision = revision;
	snprintf(ctl.doc, sizeof(ctl.doc), "{\"version\":1,\"revision\":%lld}", revision);
	pthread_cond_broadcast(&ctl.cond);
	pthread_mutex_unlock(&ctl.lock);
}

/* Starts the endpoint on port (0: any free one). */
static int ctl_start(unsigned port)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct httpd_limits lim = HTTPD_LIMITS_DEFAULT;

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ctl.srv = httpd_new();
	if (ctl.srv == NULL || httpd_set_threads(ctl.srv, 4) < 0 ||
	    httpd_route(ctl.srv, "GET", "/v1/nodes/{id}/desired-state", ctl_desired, NULL) < 0 ||
	    httpd_route(ctl.srv, "PUT", "/v1/nodes/{id}/actual-state", ctl_actual, NULL) < 0 ||
	    httpd_start(ctl.srv, (struct sockaddr *)&in, sizeof(in), &lim) < 0)
		return -1;
	ctl.port = httpd_port(ctl.srv);
	return 0;
}

static void ctl_stop(void)
{
	pthread_mutex_lock(&ctl.lock);
	ctl.revision = 1LL << 40; /* releases held polls */
	pthread_cond_broadcast(&ctl.cond);
	pthread_mutex_unlock(&ctl.lock);
	httpd_stop(ctl.srv);
	httpd_free(ctl.srv);
	ctl.srv = NULL;
}

static void ctl_reset(void)
{
	pthread_mutex_lock(&ctl.lock);
	ctl.polls = ctl.bad_signatures = ctl.reports = 0;
	ctl.refuse = 0;
	ctl.last_asked = -2;
	ctl.last_report[0] = '\0';
	pthread_mutex_unlock(&ctl.lock);
}

/* A port nothing listens on (bound, then released). */
static unsigned free_port(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t len = sizeof(in);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port = 0;

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&in, &len) == 0)
		port = ntohs(in.sin_port);
	close(fd);
	return port;
}

static char data_dir[128], sysroot[160];
static struct converge *conv;

#define BOOT_ID "0b6f1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b"	      /* this boot (sysroot's boot_id) */
#define OTHER_BOOT_ID "5e1d9c3b-0000-4000-8000-000000000001" /* an earlier one */

static const struct converge_backend no_backend;

/*
 * A fresh data dir with a sysroot that has a boot id, the credential the
 * enrollment thread would have kept (with_cred 1: in this boot, 2: in another
 * boot), and an engine.
 */
static int node_setup(unsigned port, int with_cred)
{
	struct cloudd_config cfg = { 0 };
	char path[256], text[512];

	snprintf(data_dir, sizeof(data_dir), "/tmp/node_watch.XXXXXX");
	if (mkdtemp(data_dir) == NULL)
		return -1;
	snprintf(sysroot, sizeof(sysroot), "%s/sysroot", data_dir);
	snprintf(path, sizeof(path), "mkdir -p '%s/proc/sys/kernel/random'", sysroot);
	if (system(path) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/proc/sys/kernel/random/boot_id", sysroot);
	if (fs_write_atomic(path, BOOT_ID "\n", strlen(BOOT_ID) + 1, 0644) < 0)
		return -1;
	snprintf(cfg.run_dir, sizeof(cfg.run_dir), "%s/run", data_dir);
	cfg.converge_interval = 5;
	conv = converge_new(&cfg, &no_backend);
	if (conv == NULL)
		return -1;
	if (!with_cred)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", data_dir, ENROLL_CREDENTIAL_FILE);
	snprintf(text, sizeof(text),
		 "{\"node_id\":\"" NODE_ID "\",\"key\":\"" NODE_KEY "\",\"secret\":\"" NODE_SECRET
		 "\",\"controller\":\"http://127.0.0.1:%u\",\"boot_id\":\"%s\"}", port,
		 with_cred == 2 ? OTHER_BOOT_ID : BOOT_ID);
	return fs_write_atomic(path, text, strlen(text), 0600);
}

static void node_teardown(void)
{
	char cmd[256];

	converge_free(conv);
	conv = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", data_dir);
}

static int start_watch(unsigned report_interval)
{
	struct watch_config wc = { .data_dir = data_dir, .sysroot = sysroot, .wait_seconds = 2,
				   .report_interval = report_interval, .conv = conv };
	return watch_start(&wc);
}

/* Waits up to seconds for a document from the watch and applies it; returns what watch_dispatch did. */
static int wait_dispatch(int seconds)
{
	struct pollfd p = { .fd = watch_fd(), .events = POLLIN };

	if (poll(&p, 1, seconds * 1000) != 1)
		return 0;
	return watch_dispatch(conv);
}

static long long applied_revision(void)
{
	json_t *a = converge_actual(conv);
	long long r = json_is_integer(json_object_get(a, "revision")) ? json_integer_value(json_object_get(a, "revision")) : -1;

	json_decref(a);
	return r;
}

/* Polls cond (an expression over the watch status st) for up to seconds. */
#define WAIT_STATUS(cond, seconds)                                              \
	do {                                                                    \
		for (int w_ = 0; w_ < (seconds) * 10; w_++) {                   \
			watch_get_status(&st);                                  \
			if (cond)                                               \
				break;                                          \
			usleep(100 * 1000);                                     \
		}                                                               \
		watch_get_status(&st);                                          \
	} while (0)

TEST(watch_backoff_doubles_to_the_limit)
{
	unsigned b = 0, seen[6];

	for (int i = 0; i < 6; i++)
		seen[i] = b = watch_backoff_next(b);
	CHECK_INT(seen[0], 1);
	CHECK_INT(seen[1], 2);
	CHECK_INT(seen[2], 4);
	CHECK_INT(seen[3], 8);
	CHECK_INT(seen[4], WATCH_BACKOFF_MAX);
	CHECK_INT(seen[5], WATCH_BACKOFF_MAX);
}

TEST(watch_applies_new_revisions_and_keeps_them)
{
	struct watch_status st;
	struct buf kept = BUF_INIT;
	char path[256];
	int ok;

	ctl_reset();
	ctl_set_doc(3);
	CHECK_INT(ctl_start(0), 0);
	CHECK_INT(node_setup(ctl.port, 1), 0);
	CHECK_INT(start_watch(1), 0);

	ok = wait_dispatch(20);
	CHECK_INT(ok, 1);
	CHECK_INT(applied_revision(), 3);
	snprintf(path, sizeof(path), "%s/%s", data_dir, WATCH_DOCUMENT_FILE);
	CHECK_INT(fs_read_file(path, 4096, &kept), 0);
	CHECK_STR(kept.data, "{\"boot_id\":\"" BOOT_ID "\",\"document\":{\"version\":1,\"revision\":3}}\n");
	buf_free(&kept);

	/* the next poll names the revision it has and is held until the controller changes */
	WAIT_STATUS(ctl.last_asked == 3 && ctl.held > 0, 20);
	CHECK_INT(ctl.last_asked, 3);
	ctl_set_doc(4);
	CHECK_INT(wait_dispatch(20), 1);
	CHECK_INT(applied_revision(), 4);
	CHECK_INT(st.poll_failures, 0);
	CHECK_INT(ctl.bad_signatures, 0);

	/* an invalid document is refused by the engine, not kept, and not asked for again */
	pthread_mutex_lock(&ctl.lock);
	ctl.revision = 5;
	snprintf(ctl.doc, sizeof(ctl.doc), "{\"version\":1,\"revision\":5,\"bogus\":1}");
	pthread_cond_broadcast(&ctl.cond);
	pthread_mutex_unlock(&ctl.lock);
	CHECK_INT(wait_dispatch(20), -1);
	CHECK_INT(applied_revision(), 4);
	CHECK_INT(fs_read_file(path, 4096, &kept), 0);
	CHECK_STR(kept.data, "{\"boot_id\":\"" BOOT_ID "\",\"document\":{\"version\":1,\"revision\":4}}\n");
	buf_free(&kept);
	WAIT_STATUS(ctl.last_asked == 5 && ctl.held > 0, 20);
	CHECK_INT(ctl.last_asked, 5);
	CHECK_INT(st.documents, 3);

	watch_stop();
	ctl_stop();
	node_teardown();
}

TEST(watch_204_changes_nothing)
{
	struct watch_status st;
	unsigned polls;

	ctl_reset();
	ctl_set_doc(1);
	CHECK_INT(ctl_start(0), 0);
	CHECK_INT(node_setup(ctl.port, 1), 0);
	CHECK_INT(start_watch(10), 0);
	CHECK_INT(wait_dispatch(20), 1);
	/* three held polls answered 204 (wait=2 each) */
	pthread_mutex_lock(&ctl.lock);
	polls = ctl.polls;
	pthread_mutex_unlock(&ctl.lock);
	WAIT_STATUS(st.polls >= polls + 3, 30);
	CHECK(st.polls >= polls + 3);
	CHECK_STR(st.state, "connected");
	CHECK_INT(st.poll_failures, 0);
	CHECK_INT(st.documents, 1);
	CHECK_INT(st.revision, 1);
	CHECK_INT(wait_dispatch(0), 0);
	CHECK_INT(applied_revision(), 1);
	watch_stop();
	ctl_stop();
	node_teardown();
}

TEST(watch_backs_off_while_the_controller_is_away_then_connects)
{
	struct watch_status st;
	unsigned port = free_port();

	ctl_reset();
	CHECK(port != 0);
	CHECK_INT(node_setup(port, 1), 0);
	CHECK_INT(start_watch(1), 0);
	WAIT_STATUS(st.poll_failures >= 3, 30);
	CHECK(st.poll_failures >= 3);
	CHECK_STR(st.state, "disconnected");
	CHECK(st.backoff >= 2 && st.backoff <= WATCH_BACKOFF_MAX);
	CHECK_CONTAINS(st.last_error, "desired-state watch");
	CHECK_INT(wait_dispatch(0), 0);
	/* nothing to report to either */
	WAIT_STATUS(st.reports_failed >= 1, 20);
	CHECK_CONTAINS(st.report_error, "actual-state report");

	ctl_set_doc(9);
	CHECK_INT(ctl_start(port), 0);
	CHECK_INT(wait_dispatch(WATCH_BACKOFF_MAX + 10), 1);
	CHECK_INT(applied_revision(), 9);
	WAIT_STATUS(strcmp(st.state, "connected") == 0 && st.backoff == 0, 10);
	CHECK_STR(st.state, "connected");
	CHECK_INT(st.backoff, 0);
	watch_stop();
	ctl_stop();
	node_teardown();
}

TEST(watch_kept_document_converges_before_the_controller_answers)
{
	struct watch_status st;
	char path[256];
	const char *doc = "{\"boot_id\":\"" BOOT_ID "\",\"document\":{\"version\":1,\"revision\":12}}";
	json_t *a;

	ctl_reset();
	CHECK_INT(node_setup(free_port(), 1), 0);
	snprintf(path, sizeof(path), "%s/%s", data_dir, WATCH_DOCUMENT_FILE);
	CHECK_INT(fs_write_atomic(path, doc, strlen(doc), 0600), 0);
	CHECK_INT(start_watch(1), 0);
	watch_get_status(&st);
	CHECK_INT(st.revision, 12);
	CHECK_INT(wait_dispatch(0), 1);
	a = converge_actual(conv);
	CHECK_INT(json_integer_value(json_object_get(a, "revision")), 12);
	CHECK_CONTAINS(json_string_value(json_object_get(a, "source")), WATCH_DOCUMENT_FILE);
	json_decref(a);
	watch_stop();
	node_teardown();
}

/* After a reboot: a document kept in another boot (or unstamped) is deleted, never applied. */
TEST(watch_kept_document_of_another_boot_is_discarded)
{
	static const char *const docs[] = {
		"{\"boot_id\":\"" OTHER_BOOT_ID "\",\"document\":{\"version\":1,\"revision\":12}}",
		"{\"version\":1,\"revision\":12}", /* kept by a cloudd that did not stamp it */
	};
	struct watch_status st;
	char path[256];
	json_t *a;

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		ctl_reset();
		CHECK_INT(node_setup(free_port(), 1), 0);
		snprintf(path, sizeof(path), "%s/%s", data_dir, WATCH_DOCUMENT_FILE);
		CHECK_INT(fs_write_atomic(path, docs[i], strlen(docs[i]), 0600), 0);
		CHECK_INT(start_watch(1), 0);
		watch_get_status(&st);
		CHECK_INT(st.revision, -1);
		CHECK_INT(wait_dispatch(0), 0);
		CHECK(access(path, F_OK) < 0);
		a = converge_actual(conv);
		CHECK(json_integer_value(json_object_get(a, "revision")) != 12);
		json_decref(a);
		watch_stop();
		node_teardown();
	}
}

/* A credential kept in another boot is not used: the watch waits for the new enrollment. */
TEST(watch_ignores_a_credential_of_another_boot)
{
	struct watch_status st;

	ctl_reset();
	ctl_set_doc(1);
	CHECK_INT(ctl_start(0), 0);
	CHECK_INT(node_setup(ctl.port, 2), 0);
	CHECK_INT(start_watch(1), 0);
	usleep(1500 * 1000);
	watch_get_status(&st);
	CHECK_STR(st.state, "enrolling");
	CHECK_INT(ctl.polls, 0);
	watch_stop();
	ctl_stop();
	node_teardown();
}

TEST(watch_waits_for_the_credential)
{
	struct watch_status st;

	ctl_reset();
	ctl_set_doc(1);
	CHECK_INT(ctl_start(0), 0);
	CHECK_INT(node_setup(ctl.port, 0), 0);
	CHECK_INT(start_watch(1), 0);
	usleep(1500 * 1000);
	watch_get_status(&st);
	CHECK_STR(st.state, "enrolling");
	CHECK_INT(st.polls, 0);
	CHECK_INT(ctl.polls, 0);
	watch_stop();
	ctl_stop();
	node_teardown();
}

TEST(watch_refused_credential_is_reported)
{
	struct watch_status st;

	ctl_reset();
	ctl_set_doc(1);
	ctl.refuse = 1;
	CHECK_INT(ctl_start(0), 0);
	CHECK_INT(node_setup(ctl.port, 1), 0);
	CHECK_INT(start_watch(1), 0);
	WAIT_STATUS(st.poll_failures >= 1, 20);
	CHECK_STR(st.state, "refused");
	CHECK_CONTAINS(st.last_error, "HTTP 401");
	CHECK_INT(wait_dispatch(0), 0);
	watch_stop();
	ctl_stop();
	node_teardown();
}

TEST(watch_reports_actual_state_on_change_and_periodically)
{
	struct watch_status st;
	unsigned reports;
	json_t *r;

	ctl_reset();
	ctl_set_doc(5);
	CHECK_INT(ctl_start(0), 0);
	CHECK_INT(node_setup(ctl.port, 1), 0);
	CHECK_INT(start_watch(1), 0);
	CHECK_INT(wait_dispatch(20), 1);
	/* the report that follows the change names the applied revision */
	WAIT_STATUS(strstr(ctl.last_report, "\"revision\":5") != NULL, 20);
	pthread_mutex_lock(&ctl.lock);
	r = json_loads(ctl.last_report, 0, NULL);
	reports = ctl.reports;
	pthread_mutex_unlock(&ctl.lock);
	CHECK(r != NULL);
	CHECK_INT(json_integer_value(json_object_get(r, "revision")), 5);
	CHECK(json_is_array(json_object_get(r, "instances")));
	json_decref(r);
	/* nothing changes: still reported every report_interval (1 s here) */
	WAIT_STATUS(st.reports_ok >= reports + 2, 20);
	CHECK(st.reports_ok >= reports + 2);
	CHECK_INT(ctl.bad_signatures, 0);
	watch_stop();
	ctl_stop();
	node_teardown();
}
