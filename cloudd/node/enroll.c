/* enroll.c -- cloudd's side of enrollment: register with the one-time token, then heartbeat */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cloudd.h"
#include "enroll.h"
#include "fsutil.h"
#include "httpc.h"

#define ENROLL_TIMEOUT 10 /* seconds per request to the controller */

struct enroll {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int running, stop;
	char sysroot[PATH_MAX], boot_env[PATH_MAX], state_dir[PATH_MAX];
	json_t *kvm;
	json_t *(*status_fn)(void *ctx);
	void *status_ctx;
	void (*credential_fn)(void *ctx, const char *key_id, const char *secret);
	void *credential_ctx;
	char token[160];
	char boot_id[ENROLL_BOOT_ID_MAX]; /* "" when it cannot be read: nothing kept is trusted */
	int have_credential;		  /* loaded by enroll_start, before the thread runs */
	char key_id[80], secret[160];
	unsigned interval;
	struct enroll_status status;
};

static struct enroll enroll = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

int enroll_cmdline_arg(const char *cmdline, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = cmdline;

	while (p && *p) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			const char *v = p + klen + 1;
			size_t len = strcspn(v, " \t\n");
			if (len >= outlen) {
				errno = ENAMETOOLONG;
				return -1;
			}
			memcpy(out, v, len);
			out[len] = '\0';
			return 1;
		}
		p += strcspn(p, " \t\n");
	}
	return 0;
}

unsigned enroll_backoff_next(unsigned current)
{
	if (current == 0)
		return 1;
	return current * 2 > ENROLL_BACKOFF_MAX ? ENROLL_BACKOFF_MAX : current * 2;
}

int enroll_boot_id(const char *sysroot, char *out, size_t outlen)
{
	char path[PATH_MAX];
	size_t len;

	if (outlen == 0 || fs_path(path, sizeof(path), "%s%s", sysroot ? sysroot : "", ENROLL_BOOT_ID_FILE) < 0 ||
	    fs_read_line(path, out, outlen) < 0)
		return -1;
	len = strlen(out);
	while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	/* a UUID: hex digits and dashes */
	if (len < 8 || strspn(out, "0123456789abcdefABCDEF-") != len) {
		out[0] = '\0';
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int enroll_same_boot(const char *kept, const char *now)
{
	return kept && now && kept[0] && now[0] && strcmp(kept, now) == 0;
}

void enroll_get_status(struct enroll_status *out)
{
	pthread_mutex_lock(&enroll.lock);
	*out = enroll.status;
	pthread_mutex_unlock(&enroll.lock);
}

static void enroll_set(const char *state, const char *error)
{
	pthread_mutex_lock(&enroll.lock);
	if (state)
		snprintf(enroll.status.state, sizeof(enroll.status.state), "%s", state);
	if (error)
		snprintf(enroll.status.last_error, sizeof(enroll.status.last_error), "%s", error);
	pthread_mutex_unlock(&enroll.lock);
}

/* Waits seconds or until enroll_stop; returns 1 when asked to stop. */
static int enroll_sleep(unsigned seconds)
{
	struct timespec until;
	int stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&enroll.lock);
	while (!enroll.stop && pthread_cond_timedwait(&enroll.cond, &enroll.lock, &until) == 0)
		;
	stop = enroll.stop;
	pthread_mutex_unlock(&enroll.lock);
	return stop;
}

/* Tells the owner of the node's credential what it is now (NULL: none). */
static void enroll_credential_changed(int valid)
{
	if (enroll.credential_fn)
		enroll.credential_fn(enroll.credential_ctx, valid ? enroll.key_id : NULL, valid ? enroll.secret : NULL);
}

static int enroll_credential_path(char *out, size_t outlen)
{
	return fs_path(out, outlen, "%s/%s", enroll.state_dir, ENROLL_CREDENTIAL_FILE);
}

/*
 * A credential kept by an earlier cloudd of this boot, for the same
 * controller: 0 and loaded. One kept in another boot (or without a boot id)
 * is deleted: after a reboot the node enrolls again with this boot's token,
 * and the controller refuses that while the old boot's node is still up.
 */
static int enroll_load_credential(void)
{
	char path[PATH_MAX];
	struct buf text = BUF_INIT;
	const char *kept_boot;
	json_t *doc;
	int rc = -1;

	if (enroll_credential_path(path, sizeof(path)) < 0 || fs_read_file(path, 4096, &text) < 0) {
		buf_free(&text);
		return -1;
	}
	doc = json_loadb(text.data, text.len, 0, NULL);
	buf_free(&text);
	kept_boot = json_string_value(json_object_get(doc, "boot_id"));
	if (!enroll_same_boot(kept_boot, enroll.boot_id)) {
		log_info("enroll: discarding the credential kept in %s: it is from another boot (boot id %s, now %s);"
			 " enrolling again with this boot's token", path, kept_boot ? kept_boot : "none",
			 enroll.boot_id[0] ? enroll.boot_id : "unknown");
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("enroll: cannot remove %s: %s", path, strerror(errno));
		json_decref(doc);
		return -1;
	}
	if (json_is_string(json_object_get(doc, "node_id")) && json_is_string(json_object_get(doc, "key")) &&
	    json_is_string(json_object_get(doc, "secret")) &&
	    json_is_string(json_object_get(doc, "controller")) &&
	    strcmp(json_string_value(json_object_get(doc, "controller")), enroll.status.controller) == 0) {
		snprintf(enroll.status.node_id, sizeof(enroll.status.node_id), "%s",
			 json_string_value(json_object_get(doc, "node_id")));
		snprintf(enroll.key_id, sizeof(enroll.key_id), "%s", json_string_value(json_object_get(doc, "key")));
		snprintf(enroll.secret, sizeof(enroll.secret), "%s", json_string_value(json_object_get(doc, "secret")));
		rc = 0;
	}
	json_decref(doc);
	return rc;
}

static void enroll_save_credential(void)
{
	char path[PATH_MAX], *text;
	json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:s}", "node_id", enroll.status.node_id, "key", enroll.key_id,
				"secret", enroll.secret, "controller", enroll.status.controller, "boot_id", enroll.boot_id);

	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text == NULL)
		return;
	mkdir(enroll.state_dir, 0700);
	if (enroll_credential_path(path, sizeof(path)) < 0 || fs_write_atomic(path, text, strlen(text), 0600) < 0)
		log_warn("enroll: cannot keep the node credential in %s: %s", enroll.state_dir, strerror(errno));
	free(text);
}

/*
 * Returns 0 registered, 1 refused for good (token unknown, expired or spent,
 * MAC mismatch), 2 refused while the controller sees this node up (node_up:
 * ask again soon), -1 try again with backoff.
 */
static int enroll_register(void)
{
	struct sysinfo_source src = { enroll.sysroot, enroll.boot_env, enroll.kvm };
	struct httpc_cred cred = { enroll.status.controller, NULL, NULL, 0 };
	struct httpc_response r;
	json_t *sys = sysinfo_collect(&src), *body, *doc;
	char *text, msg[256];
	int rc = -1;

	if (sys == NULL)
		return -1;
	body = json_pack("{s:s,s:o}", "token", enroll.token, "sysinfo", sys);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL)
		return -1;
	if (httpc_signed(&cred, "POST", "/v1/nodes/register", NULL, 0, text, strlen(text), ENROLL_TIMEOUT, &r) < 0) {
		enroll_set(NULL, r.error);
		log_warn("enroll: cannot register with %s: %s", enroll.status.controller, r.error);
		goto out;
	}
	doc = json_loadb(r.body.data, r.body.len, 0, NULL);
	if (r.status == 201 && json_is_string(json_object_get(doc, "node_id")) &&
	    json_is_string(json_object_get(doc, "key")) && json_is_string(json_object_get(doc, "secret"))) {
		json_t *iv = json_object_get(doc, "heartbeat_interval");
		pthread_mutex_lock(&enroll.lock);
		snprintf(enroll.status.node_id, sizeof(enroll.status.node_id), "%s",
			 json_string_value(json_object_get(doc, "node_id")));
		pthread_mutex_unlock(&enroll.lock);
		snprintf(enroll.key_id, sizeof(enroll.key_id), "%s", json_string_value(json_object_get(doc, "key")));
		snprintf(enroll.secret, sizeof(enroll.secret), "%s", json_string_value(json_object_get(doc, "secret")));
		if (json_is_integer(iv) && json_integer_value(iv) >= 1 && json_integer_value(iv) <= 300)
			enroll.interval = (unsigned)json_integer_value(iv);
		enroll_save_credential();
		enroll_credential_changed(1);
		log_info("enroll: registered with %s as node %s (heartbeat every %u s)", enroll.status.controller,
			 enroll.status.node_id, enroll.interval);
		rc = 0;
	} else {
		const char *m = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
		const char *code = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));
		snprintf(msg, sizeof(msg), "registration refused (HTTP %ld): %s: %s", r.status, code ? code : "no code",
			 m ? m : "no message");
		enroll_set(NULL, msg);
		if (r.status == 409 && code && strcmp(code, "node_up") == 0) {
			log_info("enroll: %s; asking again in %d s", msg, ENROLL_NODE_UP_RETRY);
			rc = 2;
		} else {
			log_error("enroll: %s", msg);
			rc = r.status == 401 || r.status == 409 || r.status == 422 ? 1 : -1;
		}
	}
	json_decref(doc);
	httpc_response_free(&r);
out:
	free(text);
	return rc;
}

static json_t *enroll_status_doc(void)
{
	char line[256] = "";
	char path[PATH_MAX];
	json_t *doc = json_object(), *extra;

	json_object_set_new(doc, "cloudd_version", json_string(CLOUDD_VERSION));
	if (fs_path(path, sizeof(path), "%s/proc/uptime", enroll.sysroot) == 0 && fs_read_line(path, line, sizeof(line)) == 0)
		json_object_set_new(doc, "uptime_seconds", json_integer(strtoll(line, NULL, 10)));
	if (fs_path(path, sizeof(path), "%s/proc/loadavg", enroll.sysroot) == 0 && fs_read_line(path, line, sizeof(line)) == 0)
		json_object_set_new(doc, "load1", json_real(strtod(line, NULL)));
	if (enroll.status_fn && (extra = enroll.status_fn(enroll.status_ctx)) != NULL) {
		json_object_update(doc, extra);
		json_decref(extra);
	}
	return doc;
}

/* Returns 0 sent, 1 the credential is no longer valid (register again), -1 try again. */
static int enroll_heartbeat(void)
{
	struct httpc_cred cred = { enroll.status.controller, enroll.key_id, enroll.secret, 0 };
	struct httpc_response r;
	char path[128], *text;
	json_t *body = json_pack("{s:o}", "status", enroll_status_doc());
	int rc = -1;

	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL || fs_path(path, sizeof(path), "/v1/nodes/%s/heartbeat", enroll.status.node_id) < 0) {
		free(text);
		return -1;
	}
	if (httpc_signed(&cred, "POST", path, NULL, 0, text, strlen(text), ENROLL_TIMEOUT, &r) < 0) {
		enroll_set(NULL, r.error);
		log_warn("enroll: heartbeat to %s failed: %s", enroll.status.controller, r.error);
	} else if (r.status == 200) {
		rc = 0;
	} else {
		char msg[256];
		snprintf(msg, sizeof(msg), "heartbeat refused (HTTP %ld): %.180s", r.status, r.body.data ? r.body.data : "");
		enroll_set(NULL, msg);
		log_warn("enroll: %s", msg);
		rc = r.status == 401 || r.status == 403 || r.status == 404 ? 1 : -1;
	}
	httpc_response_free(&r);
	free(text);
	pthread_mutex_lock(&enroll.lock);
	if (rc == 0)
		enroll.status.heartbeats_ok++;
	else
		enroll.status.heartbeats_failed++;
	pthread_mutex_unlock(&enroll.lock);
	return rc;
}

static int enroll_stopping(void)
{
	int stop;

	pthread_mutex_lock(&enroll.lock);
	stop = enroll.stop;
	pthread_mutex_unlock(&enroll.lock);
	return stop;
}

static void *enroll_thread(void *arg)
{
	unsigned backoff = 0;
	int have_credential = enroll.have_credential, token_spent = 0;

	(void)arg;
	if (have_credential) {
		log_info("enroll: using the credential of node %s kept in %s", enroll.status.node_id, enroll.state_dir);
		enroll_credential_changed(1);
	}
	while (!enroll_stopping()) {
		if (!have_credential) {
			int r;
			if (token_spent || enroll.token[0] == '\0') {
				enroll_set("refused", enroll.token[0] ? NULL : "no enrollment token (cloud.token= on the kernel command line)");
				/* nothing will change until the node reboots with a new token; say so now and then */
				if (enroll_sleep(ENROLL_BACKOFF_MAX))
					break;
				log_error("enroll: not enrolled and no usable token; reboot the node to get a new one");
				continue;
			}
			enroll_set("registering", NULL);
			r = enroll_register();
			if (r == 0) {
				have_credential = 1;
				backoff = 0;
				token_spent = 1;
				enroll_set("enrolled", "");
			} else if (r == 2) {
				enroll_set("waiting", NULL);
				if (enroll_sleep(ENROLL_NODE_UP_RETRY))
					break;
				continue;
			} else {
				if (r == 1)
					token_spent = 1;
				backoff = enroll_backoff_next(backoff);
				if (enroll_sleep(backoff))
					break;
				continue;
			}
		}
		switch (enroll_heartbeat()) {
		case 0:
			backoff = 0;
			enroll_set("enrolled", NULL);
			if (enroll_sleep(enroll.interval))
				goto out;
			break;
		case 1:
			/* forgotten or re-registered elsewhere: register again (needs an unused token) */
			have_credential = 0;
			enroll_credential_changed(0);
			break;
		default:
			backoff = enroll_backoff_next(backoff);
			if (enroll_sleep(backoff < enroll.interval ? enroll.interval : backoff))
				goto out;
		}
	}
out:
	return NULL;
}

int enroll_start(const struct enroll_config *cfg)
{
	char path[PATH_MAX], controller[256] = "";
	struct buf cmdline = BUF_INIT;
	int rc;

	if (enroll.running) {
		errno = EBUSY;
		return -1;
	}
	snprintf(enroll.sysroot, sizeof(enroll.sysroot), "%s", cfg->sysroot ? cfg->sysroot : "");
	snprintf(enroll.boot_env, sizeof(enroll.boot_env), "%s", cfg->boot_env ? cfg->boot_env : "");
	snprintf(enroll.state_dir, sizeof(enroll.state_dir), "%s", cfg->state_dir ? cfg->state_dir : "/var/lib/cloudd");
	enroll.kvm = cfg->kvm;
	enroll.status_fn = cfg->status_fn;
	enroll.status_ctx = cfg->status_ctx;
	enroll.credential_fn = cfg->credential_fn;
	enroll.credential_ctx = cfg->credential_ctx;
	enroll.interval = ENROLL_DEFAULT_HEARTBEAT;
	enroll.stop = 0;
	enroll.token[0] = '\0';
	memset(&enroll.status, 0, sizeof(enroll.status));
	if (enroll.boot_env[0] && fs_path(path, sizeof(path), "%s%s", enroll.sysroot, enroll.boot_env) == 0) {
		if (fs_env_get(path, "CONTROLLER", controller, sizeof(controller)) <= 0)
			controller[0] = '\0';
		if (fs_env_get(path, "ENROLL_TOKEN", enroll.token, sizeof(enroll.token)) <= 0)
			enroll.token[0] = '\0';
	}
	if (fs_path(path, sizeof(path), "%s/proc/cmdline", enroll.sysroot) == 0 &&
	    fs_read_file(path, 65536, &cmdline) == 0) {
		if (controller[0] == '\0' && enroll_cmdline_arg(cmdline.data, "cloud.controller", controller, sizeof(controller)) <= 0)
			controller[0] = '\0';
		if (enroll.token[0] == '\0' && enroll_cmdline_arg(cmdline.data, "cloud.token", enroll.token, sizeof(enroll.token)) <= 0)
			enroll.token[0] = '\0';
	}
	buf_free(&cmdline);
	if (controller[0] == '\0') {
		snprintf(enroll.status.state, sizeof(enroll.status.state), "standalone");
		log_info("enroll: no controller (cloud.controller= / CONTROLLER in %s): running standalone",
			 enroll.boot_env[0] ? enroll.boot_env : "boot.env");
		return 0;
	}
	if (strncmp(controller, "http://", 7) != 0) {
		snprintf(enroll.status.state, sizeof(enroll.status.state), "standalone");
		log_error("enroll: controller URL \"%s\" is not http://HOST:PORT; running standalone", controller);
		return 0;
	}
	snprintf(enroll.status.controller, sizeof(enroll.status.controller), "%s", controller);
	snprintf(enroll.status.state, sizeof(enroll.status.state), "registering");
	if (enroll_boot_id(enroll.sysroot, enroll.boot_id, sizeof(enroll.boot_id)) < 0) {
		enroll.boot_id[0] = '\0';
		log_warn("enroll: cannot read the boot id %s%s: %s; a kept credential is not used", enroll.sysroot,
			 ENROLL_BOOT_ID_FILE, strerror(errno));
	}
	/* before the watch starts: it must never see a credential of another boot */
	enroll.have_credential = enroll_load_credential() == 0;
	if (httpc_init() < 0) {
		errno = EIO;
		return -1;
	}
	rc = pthread_create(&enroll.thread, NULL, enroll_thread, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	enroll.running = 1;
	return 0;
}

void enroll_stop(void)
{
	if (!enroll.running)
		return;
	pthread_mutex_lock(&enroll.lock);
	enroll.stop = 1;
	pthread_cond_broadcast(&enroll.cond);
	pthread_mutex_unlock(&enroll.lock);
	pthread_join(enroll.thread, NULL);
	enroll.running = 0;
}
