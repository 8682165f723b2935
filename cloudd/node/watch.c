/* watch.c -- cloudd's desired-state watch: long-poll the controller for the node's document, report actual state */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cloudd.h"
#include "converge.h"
#include "enroll.h"
#include "fsutil.h"
#include "httpc.h"
#include "state.h"
#include "watch.h"

#define WATCH_REPORT_TIMEOUT 10 /* seconds per actual-state PUT */
#define WATCH_STOP_GRACE 5	/* seconds watch_stop waits for an aborted poll to return */

struct watch_cred {
	char node_id[40];
	char key_id[80];
	char secret[160];
	char controller[256];
};

static struct watch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t poll_thread, report_thread;
	int running, stop, kicked, poll_done;
	int event_fd;
	char data_dir[PATH_MAX];
	char boot_id[ENROLL_BOOT_ID_MAX]; /* "" when unknown: nothing kept is used */
	unsigned wait_seconds, report_interval;
	struct converge *conv;
	/* the document waiting for watch_dispatch */
	struct buf pending;
	int has_pending;
	char pending_source[300];
	struct watch_status status;
} watch = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .event_fd = -1 };

unsigned watch_backoff_next(unsigned current)
{
	if (current == 0)
		return 1;
	return current * 2 > WATCH_BACKOFF_MAX ? WATCH_BACKOFF_MAX : current * 2;
}

void watch_get_status(struct watch_status *out)
{
	pthread_mutex_lock(&watch.lock);
	*out = watch.status;
	pthread_mutex_unlock(&watch.lock);
}

int watch_fd(void)
{
	return watch.event_fd;
}

static void watch_set(const char *state, const char *error)
{
	pthread_mutex_lock(&watch.lock);
	if (state)
		snprintf(watch.status.state, sizeof(watch.status.state), "%s", state);
	if (error)
		snprintf(watch.status.last_error, sizeof(watch.status.last_error), "%s", error);
	pthread_mutex_unlock(&watch.lock);
}

/* Waits seconds, until watch_stop, or (kickable) until watch_kick; returns 1 when asked to stop. */
static int watch_sleep(unsigned seconds, int kickable)
{
	struct timespec until;
	int stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&watch.lock);
	while (!watch.stop && !(kickable && watch.kicked) &&
	       pthread_cond_timedwait(&watch.cond, &watch.lock, &until) == 0)
		;
	if (kickable)
		watch.kicked = 0;
	stop = watch.stop;
	pthread_mutex_unlock(&watch.lock);
	return stop;
}

static int watch_stopping(void)
{
	int stop;

	pthread_mutex_lock(&watch.lock);
	stop = watch.stop;
	pthread_mutex_unlock(&watch.lock);
	return stop;
}

void watch_kick(void)
{
	pthread_mutex_lock(&watch.lock);
	watch.kicked = 1;
	pthread_cond_broadcast(&watch.cond);
	pthread_mutex_unlock(&watch.lock);
}

/* The node credential the enrollment thread keeps (enroll.h); -1 until there is one. */
static int watch_load_cred(struct watch_cred *cred)
{
	char path[PATH_MAX];
	struct buf text = BUF_INIT;
	const char *f[4] = { "node_id", "key", "secret", "controller" };
	char *out[4] = { cred->node_id, cred->key_id, cred->secret, cred->controller };
	size_t outlen[4] = { sizeof(cred->node_id), sizeof(cred->key_id), sizeof(cred->secret),
			     sizeof(cred->controller) };
	json_t *doc;
	int rc = 0;

	if (fs_path(path, sizeof(path), "%s/%s", watch.data_dir, ENROLL_CREDENTIAL_FILE) < 0 ||
	    fs_read_file(path, 4096, &text) < 0) {
		buf_free(&text);
		return -1;
	}
	doc = json_loadb(text.data, text.len, 0, NULL);
	buf_free(&text);
	/* enroll_start deletes a credential of another boot; never use one anyway */
	if (!enroll_same_boot(json_string_value(json_object_get(doc, "boot_id")), watch.boot_id))
		rc = -1;
	for (int i = 0; i < 4 && rc == 0; i++) {
		const char *v = json_string_value(json_object_get(doc, f[i]));
		if (v == NULL || v[0] == '\0' || strlen(v) >= outlen[i])
			rc = -1;
		else
			memcpy(out[i], v, strlen(v) + 1);
	}
	/* the node id goes into a path: only what the controller hands out */
	if (rc == 0 && strspn(cred->node_id, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(cred->node_id))
		rc = -1;
	json_decref(doc);
	return rc;
}

/* Queues a document for the engine's thread (a newer one replaces one not yet taken). */
static int watch_queue(const char *text, size_t len, const char *source)
{
	uint64_t one = 1;
	int rc;

	pthread_mutex_lock(&watch.lock);
	buf_reset(&watch.pending);
	rc = buf_append(&watch.pending, text, len);
	if (rc == 0) {
		watch.has_pending = 1;
		snprintf(watch.pending_source, sizeof(watch.pending_source), "%s", source);
	}
	pthread_mutex_unlock(&watch.lock);
	if (rc == 0 && write(watch.event_fd, &one, sizeof(one)) != sizeof(one))
		rc = -1;
	return rc;
}

/* The revision field of a document, -1 when it has none. */
static long long watch_revision(const char *text, size_t len)
{
	json_t *doc = json_loadb(text, len, 0, NULL);
	json_t *rev = json_object_get(doc, "revision");
	long long r = json_is_integer(rev) && json_integer_value(rev) >= 0 ? json_integer_value(rev) : -1;

	json_decref(doc);
	return r;
}

/*
 * One long poll. Returns 0 when the controller answered (a document or 204),
 * 1 when the credential was refused (read it again: the node may have
 * registered anew), -1 to back off.
 */
static int watch_poll_once(const struct watch_cred *cred, long long *revision)
{
	struct httpc_cred hc = { cred->controller, cred->key_id, cred->secret, 0 };
	struct sign_query_arg args[2];
	struct httpc_response r;
	char path[128], rev[24], wait[16], msg[256], source[300];
	size_t nargs = 0;
	int rc = -1;

	if (fs_path(path, sizeof(path), "/v1/nodes/%s/desired-state", cred->node_id) < 0)
		return -1;
	snprintf(wait, sizeof(wait), "%u", watch.wait_seconds);
	if (*revision >= 0) {
		snprintf(rev, sizeof(rev), "%lld", *revision);
		args[nargs++] = (struct sign_query_arg){ "revision", rev };
	}
	args[nargs++] = (struct sign_query_arg){ "wait", wait };
	pthread_mutex_lock(&watch.lock);
	watch.status.polls++;
	pthread_mutex_unlock(&watch.lock);
	if (httpc_signed(&hc, "GET", path, args, nargs, NULL, 0, (long)(watch.wait_seconds + WATCH_REQUEST_SLACK),
			 &r) < 0) {
		snprintf(msg, sizeof(msg), "desired-state watch: %.200s", r.error);
		goto out;
	}
	if (r.status == 204) {
		rc = 0;
	} else if (r.status == 200) {
		long long got = watch_revision(r.body.data, r.body.len);
		if (got < 0) {
			snprintf(msg, sizeof(msg), "desired-state watch: the controller's document has no revision");
			goto out;
		}
		if (*revision >= 0 && got <= *revision) {
			snprintf(msg, sizeof(msg), "desired-state watch: the controller answered revision %lld to a watch at %lld",
				 got, *revision);
			goto out;
		}
		snprintf(source, sizeof(source), "controller %s (revision %lld)", cred->controller, got);
		if (watch_queue(r.body.data, r.body.len, source) < 0) {
			snprintf(msg, sizeof(msg), "desired-state watch: queueing revision %lld: %s", got, strerror(errno));
			goto out;
		}
		/* a rejected document is not asked for again: the next change brings a new revision */
		*revision = got;
		pthread_mutex_lock(&watch.lock);
		watch.status.documents++;
		watch.status.revision = got;
		pthread_mutex_unlock(&watch.lock);
		log_info("watch: revision %lld from %s", got, cred->controller);
		rc = 0;
	} else {
		snprintf(msg, sizeof(msg), "desired-state watch refused (HTTP %ld): %.180s", r.status,
			 r.body.data ? r.body.data : "");
		rc = r.status == 401 || r.status == 403 || r.status == 404 ? 1 : -1;
	}
out:
	if (rc != 0) {
		pthread_mutex_lock(&watch.lock);
		watch.status.poll_failures++;
		pthread_mutex_unlock(&watch.lock);
		watch_set(rc == 1 ? "refused" : "disconnected", msg);
	} else {
		watch_set("connected", NULL);
	}
	httpc_response_free(&r);
	return rc;
}

static void *watch_poll_thread(void *arg)
{
	struct watch_cred cred;
	long long revision;
	unsigned backoff = 0, enrolled_logged = 0;
	int have_cred = 0;

	(void)arg;
	httpc_set_abort(&watch.stop);
	pthread_mutex_lock(&watch.lock);
	revision = watch.status.revision;
	pthread_mutex_unlock(&watch.lock);
	while (!watch_stopping()) {
		int rc;

		if (!have_cred) {
			if (watch_load_cred(&cred) < 0) {
				watch_set("enrolling", NULL);
				if (watch_sleep(1, 0))
					break;
				continue;
			}
			have_cred = 1;
			if (!enrolled_logged++)
				log_info("watch: node %s watches its desired state on %s", cred.node_id, cred.controller);
		}
		rc = watch_poll_once(&cred, &revision);
		if (rc == 0) {
			if (backoff)
				log_info("watch: %s answers again", cred.controller);
			backoff = 0;
		} else {
			if (rc == 1)
				have_cred = 0;
			if (backoff == 0) {
				struct watch_status st;
				watch_get_status(&st);
				log_warn("watch: %s; retrying with backoff (guests keep running)", st.last_error);
			}
			backoff = watch_backoff_next(backoff);
		}
		pthread_mutex_lock(&watch.lock);
		watch.status.backoff = backoff;
		pthread_mutex_unlock(&watch.lock);
		if (backoff && watch_sleep(backoff, 0))
			break;
	}
	pthread_mutex_lock(&watch.lock);
	watch.poll_done = 1;
	pthread_cond_broadcast(&watch.cond);
	pthread_mutex_unlock(&watch.lock);
	return NULL;
}

/* PUTs one actual-state document; 0 sent, -1 not. */
static int watch_report(const struct watch_cred *cred, const char *text)
{
	struct httpc_cred hc = { cred->controller, cred->key_id, cred->secret, 0 };
	struct httpc_response r;
	char path[128], msg[256] = "";
	int rc = -1;

	if (fs_path(path, sizeof(path), "/v1/nodes/%s/actual-state", cred->node_id) < 0)
		return -1;
	if (httpc_signed(&hc, "PUT", path, NULL, 0, text, strlen(text), WATCH_REPORT_TIMEOUT, &r) < 0)
		snprintf(msg, sizeof(msg), "actual-state report: %.200s", r.error);
	else if (r.status == 204 || r.status == 200)
		rc = 0;
	else
		snprintf(msg, sizeof(msg), "actual-state report refused (HTTP %ld): %.180s", r.status,
			 r.body.data ? r.body.data : "");
	httpc_response_free(&r);
	pthread_mutex_lock(&watch.lock);
	if (rc == 0) {
		watch.status.reports_ok++;
	} else {
		watch.status.reports_failed++;
		snprintf(watch.status.report_error, sizeof(watch.status.report_error), "%s", msg);
	}
	pthread_mutex_unlock(&watch.lock);
	return rc;
}

/*
 * Looks at the actual state every WATCH_REPORT_CHECK seconds (sooner after
 * watch_kick) and sends it when it differs from what the controller last got,
 * or when report_interval has passed (the controller's sign that the node
 * reports at all).
 */
static void *watch_report_thread(void *arg)
{
	struct watch_cred cred;
	char *last = NULL;
	struct timespec last_at = { 0 }, now;
	unsigned backoff = 0;
	int have_cred = 0;

	(void)arg;
	httpc_set_abort(&watch.stop);
	while (!watch_stopping()) {
		json_t *actual;
		char *text;

		if (!have_cred && watch_load_cred(&cred) == 0)
			have_cred = 1;
		actual = have_cred ? converge_actual(watch.conv) : NULL;
		text = actual ? json_dumps(actual, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(actual);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (text && (last == NULL || strcmp(text, last) != 0 ||
			     now.tv_sec - last_at.tv_sec >= (time_t)watch.report_interval)) {
			if (watch_report(&cred, text) == 0) {
				free(last);
				last = text;
				text = NULL;
				last_at = now;
				backoff = 0;
			} else {
				/* the credential may have been renewed; the controller may be away */
				have_cred = 0;
				backoff = watch_backoff_next(backoff);
			}
		}
		free(text);
		if (watch_sleep(backoff ? backoff : WATCH_REPORT_CHECK, backoff == 0))
			break;
	}
	free(last);
	return NULL;
}

/*
 * A document kept by an earlier cloudd of this boot: queued so that
 * convergence starts before the controller answers. One kept in another boot
 * is deleted: the guests it names may have moved since, and their user-data
 * and keys are the controller's to hand out again.
 */
static void watch_load_kept(void)
{
	char path[PATH_MAX], *doc_text = NULL;
	struct buf text = BUF_INIT;
	const char *kept_boot;
	json_t *kept = NULL, *doc;
	long long rev;

	if (fs_path(path, sizeof(path), "%s/%s", watch.data_dir, WATCH_DOCUMENT_FILE) < 0 ||
	    fs_read_file(path, STATE_MAX_BYTES + 256, &text) < 0) {
		if (errno != ENOENT)
			log_warn("watch: cannot read the kept document %s: %s", path, strerror(errno));
		buf_free(&text);
		return;
	}
	kept = json_loadb(text.data, text.len, 0, NULL);
	buf_free(&text);
	kept_boot = json_string_value(json_object_get(kept, "boot_id"));
	doc = json_object_get(kept, "document");
	if (!enroll_same_boot(kept_boot, watch.boot_id) || !json_is_object(doc)) {
		log_info("watch: discarding the kept document %s: it is from another boot (boot id %s, now %s);"
			 " waiting for the controller's", path, kept_boot ? kept_boot : "none",
			 watch.boot_id[0] ? watch.boot_id : "unknown");
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("watch: cannot remove %s: %s", path, strerror(errno));
		goto out;
	}
	doc_text = json_dumps(doc, JSON_COMPACT);
	rev = doc_text ? watch_revision(doc_text, strlen(doc_text)) : -1;
	if (rev >= 0 && watch_queue(doc_text, strlen(doc_text), path) == 0) {
		watch.status.revision = rev;
		log_info("watch: converging on the kept revision %lld (%s) until the controller answers", rev, path);
	} else {
		log_warn("watch: ignoring the kept document %s: no revision", path);
	}
out:
	free(doc_text);
	json_decref(kept);
}

/* Keeps an accepted document in data_dir, stamped with this boot's id. */
static void watch_keep(const struct buf *text)
{
	static const char tail[] = "}\n";
	char path[PATH_MAX], head[128];
	struct buf out = BUF_INIT;

	if (fs_path(path, sizeof(path), "%s/%s", watch.data_dir, WATCH_DOCUMENT_FILE) < 0 ||
	    fs_path(head, sizeof(head), "{\"boot_id\":\"%s\",\"document\":", watch.boot_id) < 0 ||
	    buf_puts(&out, head) < 0 || buf_append(&out, text->data, text->len) < 0 ||
	    buf_puts(&out, tail) < 0 || fs_write_atomic(path, out.data, out.len, 0600) < 0)
		log_warn("watch: cannot keep the document in %s: %s", watch.data_dir, strerror(errno));
	buf_free(&out);
}

int watch_dispatch(struct converge *c)
{
	struct errmsg err = { 0 };
	struct buf text = BUF_INIT;
	char source[300], msg[1024];
	uint64_t count;
	int rc;

	if (watch.event_fd < 0)
		return 0;
	if (read(watch.event_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return 0;
	pthread_mutex_lock(&watch.lock);
	if (!watch.has_pending) {
		pthread_mutex_unlock(&watch.lock);
		return 0;
	}
	text = watch.pending;
	watch.pending = (struct buf)BUF_INIT;
	watch.has_pending = 0;
	memcpy(source, watch.pending_source, sizeof(source));
	pthread_mutex_unlock(&watch.lock);

	if (converge_submit(c, text.data, text.len, source, &err) < 0) {
		log_warn("watch: document from %s not applied: %s", source, errmsg_str(&err, msg, sizeof(msg)));
		rc = -1;
	} else {
		rc = 1;
		watch_keep(&text);
	}
	buf_free(&text);
	watch_kick();
	return rc;
}

int watch_wanted(const struct cloudd_config *cfg)
{
	char controller[256];

	return config_controller_url(cfg, controller, sizeof(controller));
}

int watch_start(const struct watch_config *cfg)
{
	int rc;

	if (watch.running || cfg->conv == NULL || cfg->data_dir == NULL || cfg->wait_seconds > 60) {
		errno = watch.running ? EBUSY : EINVAL;
		return -1;
	}
	if (fs_path(watch.data_dir, sizeof(watch.data_dir), "%s", cfg->data_dir) < 0)
		return -1;
	if (enroll_boot_id(cfg->sysroot, watch.boot_id, sizeof(watch.boot_id)) < 0)
		watch.boot_id[0] = '\0'; /* enroll_start has said so */
	watch.wait_seconds = cfg->wait_seconds ? cfg->wait_seconds : WATCH_WAIT_DEFAULT;
	watch.report_interval = cfg->report_interval ? cfg->report_interval : WATCH_REPORT_INTERVAL;
	watch.conv = cfg->conv;
	watch.stop = watch.kicked = watch.poll_done = 0;
	watch.has_pending = 0;
	buf_reset(&watch.pending);
	memset(&watch.status, 0, sizeof(watch.status));
	snprintf(watch.status.state, sizeof(watch.status.state), "enrolling");
	watch.status.revision = -1;
	if (httpc_init() < 0) {
		errno = EIO;
		return -1;
	}
	watch.event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (watch.event_fd < 0)
		return -1;
	watch_load_kept();
	rc = pthread_create(&watch.poll_thread, NULL, watch_poll_thread, NULL);
	if (rc != 0)
		goto err_fd;
	rc = pthread_create(&watch.report_thread, NULL, watch_report_thread, NULL);
	if (rc != 0)
		goto err_poll;
	watch.running = 1;
	return 0;

err_poll:
	pthread_mutex_lock(&watch.lock);
	watch.stop = 1;
	pthread_cond_broadcast(&watch.cond);
	pthread_mutex_unlock(&watch.lock);
	pthread_join(watch.poll_thread, NULL);
err_fd:
	close(watch.event_fd);
	watch.event_fd = -1;
	errno = rc;
	return -1;
}

/*
 * A poll held by the controller is aborted (httpc checks the stop flag about
 * once a second); should the client still not return within
 * WATCH_STOP_GRACE seconds, the thread is left to the process's exit.
 */
void watch_stop(void)
{
	struct timespec until;
	int done;

	if (!watch.running)
		return;
	pthread_mutex_lock(&watch.lock);
	watch.stop = 1;
	pthread_cond_broadcast(&watch.cond);
	pthread_mutex_unlock(&watch.lock);
	pthread_join(watch.report_thread, NULL);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WATCH_STOP_GRACE;
	pthread_mutex_lock(&watch.lock);
	while (!watch.poll_done && pthread_cond_timedwait(&watch.cond, &watch.lock, &until) == 0)
		;
	done = watch.poll_done;
	pthread_mutex_unlock(&watch.lock);
	if (!done) {
		log_info("watch: leaving a poll held by the controller");
		pthread_detach(watch.poll_thread);
		return;
	}
	pthread_join(watch.poll_thread, NULL);
	close(watch.event_fd);
	watch.event_fd = -1;
	buf_free(&watch.pending);
	watch.has_pending = 0;
	snprintf(watch.status.state, sizeof(watch.status.state), "stopped");
	watch.running = 0;
}
