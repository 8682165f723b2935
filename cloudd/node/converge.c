/* converge.c -- the convergence engine: desired-state sources, plan execution, actual state, guest metrics */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cloudd.h"
#include "actual.h"
#include "converge.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "log.h"

enum conv_status {
	CONV_PENDING,  /* desired, never started by this cloudd */
	CONV_RUNNING,
	CONV_STOPPING, /* asked to power down; forced at stop_deadline */
	CONV_STOPPED,
	CONV_ERROR,    /* the last start failed (see error); retried after back-off */
};

static const char *const conv_status_names[] = { "pending", "running", "stopping", "stopped", "error" };

struct conv_instance {
	char id[STATE_ID_MAX];
	enum conv_status status;
	pid_t pid;
	char spec_hash[17];   /* of the spec it runs with */
	int hold;	      /* the restart policy says: leave it stopped */
	time_t next_attempt;  /* back-off after failures (monotonic seconds) */
	unsigned failures;    /* consecutive failed starts or crashes */
	unsigned restarts;    /* restarts after QEMU exited on its own */
	time_t started_at;
	time_t stop_deadline;
	int stop_forced;      /* QEMU was told to quit: no powerdown, no second force */
	long long reboot_done; /* the last reboot generation done (kept in <id>.reboot) */
	int forget_pending;   /* forget once stopped */
	char error[512];
	json_t *last_exit;
	/* metrics, refreshed every pass */
	double cpu_seconds;
	unsigned long long rss_bytes;
	struct converge_disk_stats disks[STATE_MAX_DISKS];
	size_t n_disks;
	unsigned long long nic_rx[STATE_MAX_NICS], nic_tx[STATE_MAX_NICS];
	size_t n_nics;
};

/* "instance-id" or "template:template-id": what failed during a pass */
typedef char conv_key[STATE_ID_MAX + 16];

struct conv_template {
	char id[STATE_ID_MAX];
	char sha256[65]; /* of the ready cache, "" = not ready */
	char error[512];
	time_t next_attempt;
	unsigned failures;
};

struct converge {
	struct converge_backend be;
	char state_path[PATH_MAX];
	char spec_dir[PATH_MAX];
	unsigned interval;
	pthread_mutex_t lock; /* everything below that handlers read */

	struct state_doc desired;
	int has_desired;
	char desired_source[PATH_MAX];
	char desired_hash[17];
	char rejected_hash[17]; /* of the last rejected text: it is reported once */
	char applied_at[32];
	json_t *last_error;
	unsigned long long rejected;

	struct conv_instance *inst;
	size_t n_inst;
	struct conv_template *tpl;
	size_t n_tpl;
	char network_hash[17];
	char network_error[512];
	struct state_actual_volume *volumes;
	size_t n_volumes;
	int converged;
	json_t *events;
	unsigned long long actions_ok, actions_failed;

	time_t last_pass;    /* monotonic */
	char current[128];   /* what the engine is doing right now */
	time_t current_since;

	int inotify_fd;
};

/* Copies display text (error messages), cutting what does not fit. */
static void conv_text(char *dst, size_t dstlen, const char *src)
{
	size_t len = strlen(src);

	if (len >= dstlen)
		len = dstlen - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static time_t conv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void conv_wallclock(char *out, size_t outlen)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void conv_event(struct converge *c, const char *action, const char *instance,
		       const char *object, const char *error)
{
	char at[32];
	json_t *ev;

	conv_wallclock(at, sizeof(at));
	ev = json_pack("{s:s,s:s,s:s,s:s?,s:s?}", "at", at, "action", action, "result",
		       error ? "error" : "ok", "instance", instance && instance[0] ? instance : NULL,
		       "object", object && object[0] ? object : NULL);
	if (ev && error)
		json_object_set_new(ev, "error", json_string(error));
	pthread_mutex_lock(&c->lock);
	if (ev) {
		json_array_append_new(c->events, ev);
		while (json_array_size(c->events) > CONVERGE_EVENTS)
			json_array_remove(c->events, 0);
	}
	if (error)
		c->actions_failed++;
	else
		c->actions_ok++;
	pthread_mutex_unlock(&c->lock);
	{
		char what[160];
		snprintf(what, sizeof(what), "%s%s%s", instance ? instance : "",
			 instance && instance[0] && object && object[0] ? "/" : "", object ? object : "");
		if (error)
			log_error("converge: %s%s%s: %s", action, what[0] ? " " : "", what, error);
		else
			log_info("converge: %s%s%s: ok", action, what[0] ? " " : "", what);
	}
}

static void conv_doing(struct converge *c, const char *what)
{
	pthread_mutex_lock(&c->lock);
	conv_text(c->current, sizeof(c->current), what);
	c->current_since = conv_now();
	pthread_mutex_unlock(&c->lock);
}

static struct conv_instance *conv_find(struct converge *c, const char *id)
{
	for (size_t i = 0; i < c->n_inst; i++)
		if (strcmp(c->inst[i].id, id) == 0)
			return &c->inst[i];
	return NULL;
}

static struct conv_instance *conv_get(struct converge *c, const char *id)
{
	struct conv_instance *r = conv_find(c, id);

	if (r)
		return r;
	pthread_mutex_lock(&c->lock);
	r = realloc(c->inst, (c->n_inst + 1) * sizeof(*r));
	if (r) {
		c->inst = r;
		r = &c->inst[c->n_inst++];
		memset(r, 0, sizeof(*r));
		snprintf(r->id, sizeof(r->id), "%s", id);
		r->status = CONV_PENDING;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static void conv_drop(struct converge *c, struct conv_instance *r)
{
	pthread_mutex_lock(&c->lock);
	json_decref(r->last_exit);
	memmove(r, r + 1, (size_t)(c->inst + c->n_inst - (r + 1)) * sizeof(*r));
	c->n_inst--;
	pthread_mutex_unlock(&c->lock);
}

static struct conv_template *conv_tpl(struct converge *c, const char *id)
{
	struct conv_template *t;

	for (size_t i = 0; i < c->n_tpl; i++)
		if (strcmp(c->tpl[i].id, id) == 0)
			return &c->tpl[i];
	pthread_mutex_lock(&c->lock);
	t = realloc(c->tpl, (c->n_tpl + 1) * sizeof(*t));
	if (t) {
		c->tpl = t;
		t = &c->tpl[c->n_tpl++];
		memset(t, 0, sizeof(*t));
		snprintf(t->id, sizeof(t->id), "%s", id);
	}
	pthread_mutex_unlock(&c->lock);
	return t;
}

/* Sets a record's error text under the lock; logs only when it changes. */
static void conv_set_error(struct converge *c, char *dst, size_t dstlen, const char *msg)
{
	pthread_mutex_lock(&c->lock);
	conv_text(dst, dstlen, msg ? msg : "");
	pthread_mutex_unlock(&c->lock);
}

static unsigned conv_backoff(unsigned failures)
{
	unsigned s = CONVERGE_BACKOFF_MIN;

	while (failures-- > 1 && s < CONVERGE_BACKOFF_MAX)
		s *= 2;
	return s < CONVERGE_BACKOFF_MAX ? s : CONVERGE_BACKOFF_MAX;
}

/* --- start specs: what each guest was started with, kept across restarts of cloudd */

static void conv_spec_save(struct converge *c, const char *id, const char *hash)
{
	char path[PATH_MAX];

	if (fs_path(path, sizeof(path), "%s/%s.spec", c->spec_dir, id) < 0 ||
	    fs_write_atomic(path, hash, strlen(hash), 0644) < 0)
		log_warn("converge: saving the start spec of %s: %s", id, strerror(errno));
}

static int conv_spec_load(struct converge *c, const char *id, char out[17])
{
	char path[PATH_MAX];

	if (fs_path(path, sizeof(path), "%s/%s.spec", c->spec_dir, id) < 0)
		return -1;
	return fs_read_line(path, out, 17);
}

static void conv_spec_remove(struct converge *c, const char *id)
{
	char path[PATH_MAX];

	if (fs_path(path, sizeof(path), "%s/%s.spec", c->spec_dir, id) == 0)
		unlink(path);
	if (fs_path(path, sizeof(path), "%s/%s.reboot", c->spec_dir, id) == 0)
		unlink(path);
}

/* The reboot generation a guest has seen: a restart of cloudd must not reboot it again. */
static void conv_reboot_save(struct converge *c, const char *id, long long gen)
{
	char path[PATH_MAX], text[32];
	int len = snprintf(text, sizeof(text), "%lld\n", gen);

	if (fs_path(path, sizeof(path), "%s/%s.reboot", c->spec_dir, id) < 0 ||
	    fs_write_atomic(path, text, (size_t)len, 0644) < 0)
		log_warn("converge: saving the reboot generation of %s: %s", id, strerror(errno));
}

static int conv_reboot_load(struct converge *c, const char *id, long long *gen)
{
	char path[PATH_MAX], text[32], *end;

	if (fs_path(path, sizeof(path), "%s/%s.reboot", c->spec_dir, id) < 0 ||
	    fs_read_line(path, text, sizeof(text)) < 0)
		return -1;
	errno = 0;
	*gen = strtoll(text, &end, 10);
	if (errno || end == text || *gen < 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* --- the desired state ---------------------------------------------------------- */

static void conv_reject(struct converge *c, const char *source, long long revision,
			const struct errmsg *err)
{
	char at[32], msg[1024];
	json_t *e;

	conv_wallclock(at, sizeof(at));
	errmsg_str(err, msg, sizeof(msg));
	log_error("desired state from %s rejected: %s (keeping revision %lld)", source, msg,
		  c->has_desired ? c->desired.revision : -1LL);
	e = json_pack("{s:s,s:s,s:s,s:s}", "at", at, "source", source, "field", err->field,
		      "message", err->msg);
	if (e && revision >= 0)
		json_object_set_new(e, "revision", json_integer(revision));
	pthread_mutex_lock(&c->lock);
	json_decref(c->last_error);
	c->last_error = e;
	c->rejected++;
	pthread_mutex_unlock(&c->lock);
}

/* The revision of a document that failed validation, when it can be read at all. */
static long long conv_peek_revision(const char *text, size_t len)
{
	json_t *root = json_loadb(text, len, 0, NULL);
	long long rev = -1;

	if (root && json_is_integer(json_object_get(root, "revision")))
		rev = json_integer_value(json_object_get(root, "revision"));
	json_decref(root);
	return rev;
}

static void conv_hash_text(const char *text, size_t len, char out[17])
{
	unsigned long long h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)text[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(out, 17, "%016llx", h);
}

int converge_submit(struct converge *c, const char *text, size_t len, const char *source,
		    struct errmsg *err)
{
	struct state_doc doc;
	char hash[17];

	conv_hash_text(text, len, hash);
	if (c->has_desired && strcmp(hash, c->desired_hash) == 0) {
		/* back to the applied document: no error stands any more */
		pthread_mutex_lock(&c->lock);
		json_decref(c->last_error);
		c->last_error = NULL;
		c->rejected_hash[0] = '\0';
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (strcmp(hash, c->rejected_hash) == 0) {
		errmsg_set(err, "", "the same document as the one rejected before");
		return -1;
	}
	if (state_parse(text, len, &doc, err) < 0) {
		conv_reject(c, source, conv_peek_revision(text, len), err);
		memcpy(c->rejected_hash, hash, sizeof(hash));
		return -1;
	}
	if (c->has_desired && doc.revision < c->desired.revision) {
		errmsg_set(err, "revision", "%lld is older than the applied revision %lld; ignored",
			   doc.revision, c->desired.revision);
		conv_reject(c, source, doc.revision, err);
		memcpy(c->rejected_hash, hash, sizeof(hash));
		state_free(&doc);
		return -1;
	}
	c->rejected_hash[0] = '\0';
	pthread_mutex_lock(&c->lock);
	if (c->has_desired)
		state_free(&c->desired);
	c->desired = doc;
	c->has_desired = 1;
	snprintf(c->desired_source, sizeof(c->desired_source), "%s", source);
	memcpy(c->desired_hash, hash, sizeof(hash));
	conv_wallclock(c->applied_at, sizeof(c->applied_at));
	json_decref(c->last_error);
	c->last_error = NULL;
	/* a new document is new intent: restart policies and back-offs start over */
	for (size_t i = 0; i < c->n_inst; i++) {
		c->inst[i].hold = 0;
		c->inst[i].next_attempt = 0;
	}
	for (size_t i = 0; i < c->n_tpl; i++)
		c->tpl[i].next_attempt = 0;
	pthread_mutex_unlock(&c->lock);
	log_info("desired state revision %lld from %s accepted: %zu instances, %zu templates",
		 doc.revision, source, doc.n_instances, doc.n_templates);
	return 0;
}

int converge_reload(struct converge *c)
{
	struct buf text = BUF_INIT;
	struct errmsg err = { 0 };
	int rc;

	if (c->state_path[0] == '\0')
		return 0;
	if (fs_read_file(c->state_path, STATE_MAX_BYTES, &text) < 0) {
		errmsg_set(&err, "", "cannot read %s: %s", c->state_path,
			   errno == EFBIG ? "larger than the document limit" : strerror(errno));
		conv_reject(c, c->state_path, -1, &err);
		buf_free(&text);
		return -1;
	}
	rc = converge_submit(c, text.data, text.len, c->state_path, &err);
	buf_free(&text);
	return rc;
}

int converge_watch_fd(struct converge *c)
{
	return c->inotify_fd;
}

int converge_watch_event(struct converge *c)
{
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	char copy[PATH_MAX];
	const char *base;
	int changed = 0;
	ssize_t n;

	snprintf(copy, sizeof(copy), "%s", c->state_path);
	base = basename(copy);
	while ((n = read(c->inotify_fd, events, sizeof(events))) > 0) {
		for (char *p = events; p < events + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->len && strcmp(ev->name, base) == 0)
				changed = 1;
			p += sizeof(*ev) + ev->len;
		}
	}
	return changed;
}

/* --- observing the guests ------------------------------------------------------- */

/* Last bytes of a guest's console, for reports of unexpected exits. */
static json_t *conv_console_tail(struct converge *c, const char *id, size_t max)
{
	char path[PATH_MAX], *text;
	struct stat st;
	json_t *s = NULL;
	ssize_t n;
	int fd;

	if (c->be.console_path == NULL || c->be.console_path(c->be.ctx, id, path, sizeof(path)) < 0)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && (text = malloc(max + 1)) != NULL) {
		off_t off = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
		n = pread(fd, text, max, off);
		if (n > 0) {
			/* the console may hold anything: keep printable ASCII and line breaks */
			for (ssize_t i = 0; i < n; i++) {
				unsigned char ch = (unsigned char)text[i];
				if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch >= 0x7f)
					text[i] = ch == '\r' ? '\n' : '?';
			}
			s = json_stringn(text, (size_t)n);
		}
		free(text);
	}
	close(fd);
	return s;
}

static void conv_observe(struct converge *c, struct conv_instance *r, time_t now)
{
	const struct state_instance *di = state_find_instance(&c->desired, r->id);
	struct converge_guest g;
	struct errmsg err = { 0 };

	if (r->status != CONV_RUNNING && r->status != CONV_STOPPING)
		return;
	memset(&g, 0, sizeof(g));
	if (c->be.instance_poll == NULL || c->be.instance_poll(c->be.ctx, r->id, &g) < 0) {
		log_warn("converge: polling %s: %s", r->id, strerror(errno));
		return;
	}
	if (g.running) {
		r->pid = g.pid;
		if (r->status == CONV_RUNNING && r->failures && now - r->started_at > 60)
			r->failures = 0; /* stayed up: a later crash starts the back-off over */
		if (r->status == CONV_STOPPING && now >= r->stop_deadline) {
			if (c->be.instance_stop(c->be.ctx, r->id, 1, &err) < 0) { /* set: r is running */
				char msg[1024];
				conv_event(c, "instance-force-stop", r->id, NULL, errmsg_str(&err, msg, sizeof(msg)));
			} else {
				conv_event(c, "instance-force-stop", r->id, NULL, NULL);
			}
			r->stop_deadline = now + CONVERGE_STOP_TIMEOUT;
		}
		return;
	}
	if (r->status == CONV_STOPPING) {
		pthread_mutex_lock(&c->lock);
		r->status = CONV_STOPPED;
		r->pid = 0;
		pthread_mutex_unlock(&c->lock);
		conv_event(c, "instance-stopped", r->id, NULL, NULL);
		return;
	}
	/* QEMU went away without being asked to */
	{
		json_t *ex = json_pack("{s:s,s:s}", "reason", g.reason[0] ? g.reason : "QEMU exited",
				       "at", "");
		char at[32];
		int restart;

		conv_wallclock(at, sizeof(at));
		if (ex) {
			json_object_set_new(ex, "at", json_string(at));
			if (g.exit_signal)
				json_object_set_new(ex, "signal", json_integer(g.exit_signal));
			else
				json_object_set_new(ex, "exit_code", json_integer(g.exit_code));
			json_object_set_new(ex, "guest_powered_off", json_boolean(g.powered_off));
			json_t *tail = conv_console_tail(c, r->id, 2048);
			if (tail)
				json_object_set_new(ex, "console_tail", tail);
		}
		if (di == NULL || di->restart == STATE_RESTART_ALWAYS)
			restart = 1;
		else if (di->restart == STATE_RESTART_NEVER)
			restart = 0;
		else
			restart = !(g.powered_off || (g.exit_code == 0 && g.exit_signal == 0));
		pthread_mutex_lock(&c->lock);
		json_decref(r->last_exit);
		r->last_exit = ex;
		r->status = CONV_STOPPED;
		r->pid = 0;
		r->hold = !restart;
		if (restart) {
			r->failures++;
			r->restarts++;
			r->next_attempt = now - r->started_at < 60 ? now + conv_backoff(r->failures) : 0;
		}
		pthread_mutex_unlock(&c->lock);
		log_warn("converge: instance %s exited on its own (%s); restart policy %s: %s", r->id,
			 g.reason[0] ? g.reason : "QEMU exited",
			 di ? (di->restart == STATE_RESTART_ALWAYS ? "always"
			       : di->restart == STATE_RESTART_NEVER ? "never" : "on-failure") : "none",
			 restart ? "restarting" : "leaving it stopped");
		conv_event(c, "instance-exited", r->id, NULL, g.reason[0] ? g.reason : "QEMU exited");
	}
}

/* CPU time and resident memory of a process, from /proc/<pid>/stat. */
static void conv_proc_stats(pid_t pid, double *cpu, unsigned long long *rss)
{
	char path[64];
	struct buf b = BUF_INIT;
	unsigned long long ut, st, pages;
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (fs_read_file(path, 4096, &b) == 0 && (p = strrchr(b.data, ')')) != NULL &&
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu"
			  " %*d %*d %*d %*d %*d %*d %*u %*u %llu", &ut, &st, &pages) == 3) {
		*cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		*rss = pages * (unsigned long long)sysconf(_SC_PAGESIZE);
	}
	buf_free(&b);
}

static void conv_stats(struct converge *c, struct conv_instance *r)
{
	const struct state_instance *di = state_find_instance(&c->desired, r->id);
	struct converge_disk_stats disks[STATE_MAX_DISKS];
	unsigned long long rx[STATE_MAX_NICS] = { 0 }, tx[STATE_MAX_NICS] = { 0 };
	double cpu = r->cpu_seconds;
	unsigned long long rss = r->rss_bytes;
	size_t nd = 0, nn = 0;

	if (r->status != CONV_RUNNING || r->pid <= 0)
		return;
	conv_proc_stats(r->pid, &cpu, &rss);
	if (c->be.disk_stats && c->be.disk_stats(c->be.ctx, r->id, disks, STATE_MAX_DISKS, &nd) < 0)
		nd = 0;
	for (size_t i = 0; di && i < di->n_nics && i < STATE_MAX_NICS; i++, nn++) {
		char path[PATH_MAX];
		/* the tap's transmit is the guest's receive */
		if (fs_path(path, sizeof(path), "/sys/class/net/%s/statistics/tx_bytes", di->nics[i].ifname) == 0)
			fs_read_u64(path, &rx[i]);
		if (fs_path(path, sizeof(path), "/sys/class/net/%s/statistics/rx_bytes", di->nics[i].ifname) == 0)
			fs_read_u64(path, &tx[i]);
	}
	pthread_mutex_lock(&c->lock);
	r->cpu_seconds = cpu;
	r->rss_bytes = rss;
	memcpy(r->disks, disks, nd * sizeof(disks[0]));
	r->n_disks = nd;
	memcpy(r->nic_rx, rx, sizeof(rx));
	memcpy(r->nic_tx, tx, sizeof(tx));
	r->n_nics = nn;
	pthread_mutex_unlock(&c->lock);
}

/* --- acting --------------------------------------------------------------------- */

/*
 * A backend operation this build does not have: fails the action with a
 * message saying so (reported in /v1/state) instead of pretending.
 */
#define conv_missing(fn, what, err) ((fn) == NULL && conv_unavailable(what, err))
static int conv_unavailable(const char *what, struct errmsg *err)
{
	errmsg_set(err, "", "the %s backend is not available in this build of cloudd", what);
	return 1;
}

static int conv_failed(conv_key *failed, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(failed[i], id) == 0)
			return 1;
	return 0;
}

static void conv_instance_error(struct converge *c, struct conv_instance *r, const char *msg,
				time_t now, int backoff)
{
	pthread_mutex_lock(&c->lock);
	conv_text(r->error, sizeof(r->error), msg);
	if (r->status != CONV_RUNNING && r->status != CONV_STOPPING)
		r->status = CONV_ERROR;
	if (backoff) {
		r->failures++;
		r->next_attempt = now + conv_backoff(r->failures);
	}
	pthread_mutex_unlock(&c->lock);
}

/* force: quit QEMU now, also when a graceful stop is already under way. */
static void conv_stop(struct converge *c, struct conv_instance *r, time_t now, const char *why, int force)
{
	struct errmsg err = { 0 };
	char msg[1024];

	if (r->status == CONV_STOPPING && (!force || r->stop_forced))
		return;
	if (force)
		why = "instance-force-stop";
	conv_doing(c, why);
	if (conv_missing(c->be.instance_stop, "guest", &err) ||
	    c->be.instance_stop(c->be.ctx, r->id, force, &err) < 0) {
		conv_event(c, why, r->id, NULL, errmsg_str(&err, msg, sizeof(msg)));
		return;
	}
	pthread_mutex_lock(&c->lock);
	if (r->status != CONV_STOPPING) {
		r->stop_deadline = now + CONVERGE_STOP_TIMEOUT;
		r->stop_forced = 0;
	}
	r->status = CONV_STOPPING;
	if (force)
		r->stop_forced = 1;
	pthread_mutex_unlock(&c->lock);
	conv_event(c, why, r->id, NULL, NULL);
}

static void conv_forget(struct converge *c, struct conv_instance *r)
{
	struct errmsg err = { 0 };
	char msg[1024], id[STATE_ID_MAX];

	snprintf(id, sizeof(id), "%s", r->id);
	if (c->be.instance_forget && c->be.instance_forget(c->be.ctx, id, &err) < 0) {
		conv_event(c, "instance-forget", id, NULL, errmsg_str(&err, msg, sizeof(msg)));
		return;
	}
	conv_spec_remove(c, id);
	conv_drop(c, r);
	conv_event(c, "instance-forget", id, NULL, NULL);
}

/* Runs one action; failed collects instances whose later actions must not run this pass. */
static void conv_act(struct converge *c, const struct state_action *a, time_t now,
		     conv_key *failed, size_t *n_failed, int *network_failed)
{
	const struct state_instance *di = a->instance[0] ? state_find_instance(&c->desired, a->instance) : NULL;
	struct conv_instance *r = a->instance[0] ? conv_find(c, a->instance) : NULL;
	const char *name = state_action_name(a->kind);
	struct errmsg err = { 0 };
	char msg[1024], doing[160];

	snprintf(doing, sizeof(doing), "%s %s%s%s", name, a->instance, a->object[0] && a->instance[0] ? "/" : "", a->object);
	switch (a->kind) {
	case STATE_ACT_INSTANCE_STOP:
		if (r)
			conv_stop(c, r, now, name, di && di->stop_force);
		break;
	case STATE_ACT_INSTANCE_FORGET:
		if (r == NULL)
			break;
		if (r->status == CONV_RUNNING || r->status == CONV_STOPPING) {
			r->forget_pending = 1;
			conv_stop(c, r, now, "instance-stop", di && di->stop_force);
		} else {
			conv_forget(c, r);
		}
		break;
	case STATE_ACT_VOLUME_DELETE:
		if (r && (r->status == CONV_RUNNING || r->status == CONV_STOPPING))
			break; /* after the guest has stopped, in a later pass */
		conv_doing(c, doing);
		if (conv_missing(c->be.volume_delete, "volume", &err) ||
		    c->be.volume_delete(c->be.ctx, a->instance, a->object, &err) < 0)
			conv_event(c, name, a->instance, a->object, errmsg_str(&err, msg, sizeof(msg)));
		else
			conv_event(c, name, a->instance, a->object, NULL);
		break;
	case STATE_ACT_TEMPLATE_FETCH: {
		const struct state_template *t = state_find_template(&c->desired, a->object);
		struct conv_template *ct = conv_tpl(c, a->object);

		if (t == NULL || ct == NULL)
			break;
		if (ct->next_attempt > now) {
			snprintf(failed[(*n_failed)++], sizeof(conv_key), "template:%s", t->id);
			break;
		}
		conv_doing(c, doing);
		if (conv_missing(c->be.template_ensure, "template", &err) ||
		    c->be.template_ensure(c->be.ctx, t, &err) < 0) {
			errmsg_str(&err, msg, sizeof(msg));
			pthread_mutex_lock(&c->lock);
			ct->sha256[0] = '\0';
			conv_text(ct->error, sizeof(ct->error), msg);
			ct->failures++;
			ct->next_attempt = now + conv_backoff(ct->failures);
			pthread_mutex_unlock(&c->lock);
			conv_event(c, name, NULL, t->id, msg);
			snprintf(failed[(*n_failed)++], sizeof(conv_key), "template:%s", t->id);
		} else {
			pthread_mutex_lock(&c->lock);
			snprintf(ct->sha256, sizeof(ct->sha256), "%s",
				 t->format == STATE_FMT_KERNEL ? t->kernel.sha256 : t->disk.sha256);
			ct->error[0] = '\0';
			ct->failures = 0;
			pthread_mutex_unlock(&c->lock);
			conv_event(c, name, NULL, t->id, NULL);
		}
		break;
	}
	case STATE_ACT_VOLUME_CREATE: {
		const struct state_disk *d = NULL;
		char tkey[STATE_ID_MAX + 16];

		for (size_t i = 0; di && i < di->n_disks; i++)
			if (strcmp(di->disks[i].id, a->object) == 0)
				d = &di->disks[i];
		if (d == NULL || conv_failed(failed, *n_failed, a->instance))
			break;
		r = conv_get(c, a->instance);
		snprintf(tkey, sizeof(tkey), "template:%s", d->template_id);
		if (d->template_id[0] && conv_failed(failed, *n_failed, tkey)) {
			struct conv_template *ct = conv_tpl(c, d->template_id);
			snprintf(msg, sizeof(msg), "disk %s: template %s is not available: %s", d->id,
				 d->template_id, ct && ct->error[0] ? ct->error : "not fetched yet");
			if (r)
				conv_instance_error(c, r, msg, now, 0);
			snprintf(failed[(*n_failed)++], sizeof(conv_key), "%s", a->instance);
			break;
		}
		conv_doing(c, doing);
		if (conv_missing(c->be.volume_create, "volume", &err) ||
		    c->be.volume_create(c->be.ctx, &c->desired, di, d, &err) < 0) {
			errmsg_str(&err, msg, sizeof(msg));
			conv_event(c, name, a->instance, a->object, msg);
			if (r)
				conv_instance_error(c, r, msg, now, 1);
			snprintf(failed[(*n_failed)++], sizeof(conv_key), "%s", a->instance);
		} else {
			conv_event(c, name, a->instance, a->object, NULL);
		}
		break;
	}
	case STATE_ACT_NETWORK_APPLY:
		conv_doing(c, doing);
		if (conv_missing(c->be.network_apply, "guest network", &err) ||
		    c->be.network_apply(c->be.ctx, &c->desired, &err) < 0) {
			errmsg_str(&err, msg, sizeof(msg));
			conv_set_error(c, c->network_error, sizeof(c->network_error), msg);
			conv_event(c, name, NULL, NULL, msg);
			*network_failed = 1;
		} else {
			pthread_mutex_lock(&c->lock);
			memcpy(c->network_hash, c->desired.network_hash, sizeof(c->network_hash));
			c->network_error[0] = '\0';
			pthread_mutex_unlock(&c->lock);
			conv_event(c, name, NULL, NULL, NULL);
		}
		break;
	case STATE_ACT_INSTANCE_RESTART:
		if (r)
			conv_stop(c, r, now, "instance-restart", 0);
		break;
	case STATE_ACT_INSTANCE_REBOOT:
		/* a guest on its way down is started afresh, which counts as the reboot */
		if (di == NULL || r == NULL || r->status != CONV_RUNNING || r->next_attempt > now)
			break;
		conv_doing(c, doing);
		if (conv_missing(c->be.instance_reset, "guest", &err) ||
		    c->be.instance_reset(c->be.ctx, r->id, &err) < 0) {
			errmsg_str(&err, msg, sizeof(msg));
			conv_event(c, name, a->instance, NULL, msg);
			conv_instance_error(c, r, msg, now, 1); /* retried after a back-off */
			break;
		}
		pthread_mutex_lock(&c->lock);
		r->reboot_done = di->reboot;
		r->error[0] = '\0';
		r->next_attempt = 0;
		pthread_mutex_unlock(&c->lock);
		conv_reboot_save(c, r->id, di->reboot);
		conv_event(c, name, a->instance, NULL, NULL);
		break;
	case STATE_ACT_INSTANCE_START:
		if (di == NULL || conv_failed(failed, *n_failed, a->instance))
			break;
		r = conv_get(c, a->instance);
		if (r == NULL)
			break;
		if (r->next_attempt > now)
			break;
		if (di->n_nics && (*network_failed || strcmp(c->network_hash, c->desired.network_hash) != 0)) {
			/* a guest never runs without its network and filters */
			snprintf(msg, sizeof(msg), "the guest network is not applied: %s",
				 c->network_error[0] ? c->network_error : "pending");
			conv_instance_error(c, r, msg, now, 0);
			break;
		}
		conv_doing(c, doing);
		if (conv_missing(c->be.instance_start, "guest", &err) ||
		    c->be.instance_start(c->be.ctx, &c->desired, di, &err) < 0) {
			errmsg_str(&err, msg, sizeof(msg));
			conv_event(c, name, a->instance, NULL, msg);
			conv_instance_error(c, r, msg, now, 1);
		} else {
			pthread_mutex_lock(&c->lock);
			r->status = CONV_RUNNING;
			r->error[0] = '\0';
			r->started_at = now;
			memcpy(r->spec_hash, di->spec_hash, sizeof(r->spec_hash));
			r->reboot_done = di->reboot; /* a fresh boot satisfies any reboot asked so far */
			pthread_mutex_unlock(&c->lock);
			conv_spec_save(c, r->id, di->spec_hash);
			conv_reboot_save(c, r->id, di->reboot);
			conv_event(c, name, a->instance, NULL, NULL);
		}
		break;
	}
}

unsigned converge_pass(struct converge *c)
{
	struct state_actual actual = { 0 };
	struct state_plan plan = { 0 };
	struct errmsg err = { 0 };
	struct state_actual_volume *vols = NULL;
	conv_key *failed = NULL;
	size_t n_vols = 0, n_failed = 0;
	int network_failed = 0, busy = 0;
	time_t now = conv_now();

	pthread_mutex_lock(&c->lock);
	c->last_pass = now;
	pthread_mutex_unlock(&c->lock);
	if (!c->has_desired)
		return c->interval;

	conv_doing(c, "observing the guests");
	for (size_t i = 0; i < c->n_inst; i++)
		conv_observe(c, &c->inst[i], now);
	/* forget what was waiting to stop */
	for (size_t i = 0; i < c->n_inst;) {
		struct conv_instance *r = &c->inst[i];
		const struct state_instance *di = state_find_instance(&c->desired, r->id);
		if (r->forget_pending && r->status != CONV_RUNNING && r->status != CONV_STOPPING &&
		    (di == NULL || di->power == STATE_POWER_DELETED)) {
			conv_forget(c, r);
			continue;
		}
		i++;
	}

	/* what the node has */
	if (c->be.volume_list && c->be.volume_list(c->be.ctx, &vols, &n_vols, &err) < 0) {
		char msg[1024];
		log_error("converge: listing volumes: %s", errmsg_str(&err, msg, sizeof(msg)));
		goto out;
	}
	actual.volumes = vols;
	actual.n_volumes = n_vols;
	actual.templates = calloc(c->n_tpl + 1, sizeof(*actual.templates));
	actual.instances = calloc(c->n_inst + 1, sizeof(*actual.instances));
	if (actual.templates == NULL || actual.instances == NULL)
		goto out;
	for (size_t i = 0; i < c->n_tpl; i++) {
		if (c->tpl[i].sha256[0] == '\0')
			continue;
		memcpy(actual.templates[actual.n_templates].id, c->tpl[i].id, STATE_ID_MAX);
		memcpy(actual.templates[actual.n_templates].sha256, c->tpl[i].sha256, 65);
		actual.n_templates++;
	}
	for (size_t i = 0; i < c->n_inst; i++) {
		struct state_actual_instance *ai = &actual.instances[actual.n_instances++];
		const struct conv_instance *r = &c->inst[i];
		memcpy(ai->id, r->id, STATE_ID_MAX);
		ai->run = r->status == CONV_RUNNING || r->status == CONV_STOPPING ? STATE_RUN_RUNNING
										 : STATE_RUN_STOPPED;
		memcpy(ai->spec_hash, r->spec_hash, sizeof(ai->spec_hash));
		ai->hold = r->hold;
		ai->reboot_done = r->reboot_done;
	}
	memcpy(actual.network_hash, c->network_hash, sizeof(actual.network_hash));

	if (state_plan(&c->desired, &actual, &plan) < 0) {
		log_error("converge: planning: %s", strerror(errno));
		goto out;
	}
	failed = calloc(plan.n_actions * 2 + 1, sizeof(*failed));
	if (failed == NULL)
		goto out;
	for (size_t i = 0; i < plan.n_actions; i++)
		conv_act(c, &plan.actions[i], now, failed, &n_failed, &network_failed);

	/* orphans: volumes of instances the document no longer has */
	pthread_mutex_lock(&c->lock);
	free(c->volumes);
	c->volumes = vols;
	c->n_volumes = n_vols;
	vols = NULL;
	pthread_mutex_unlock(&c->lock);

	conv_doing(c, "reading guest counters");
	for (size_t i = 0; i < c->n_inst; i++) {
		conv_stats(c, &c->inst[i]);
		if (c->inst[i].status == CONV_STOPPING)
			busy = 1;
	}
	pthread_mutex_lock(&c->lock);
	c->converged = plan.n_actions == 0 && !busy;
	for (size_t i = 0; i < c->n_inst && c->converged; i++)
		if (c->inst[i].error[0])
			c->converged = 0;
	pthread_mutex_unlock(&c->lock);
out:
	conv_doing(c, "idle");
	free(failed);
	free(vols);
	free(actual.templates);
	free(actual.instances);
	state_plan_free(&plan);
	/* while guests are starting or stopping, look again soon */
	return busy || (plan.n_actions && !c->converged) ? 1 : c->interval;
}

int converge_start(struct converge *c)
{
	char (*ids)[STATE_ID_MAX] = NULL;
	struct errmsg err = { 0 };
	size_t n = 0;

	if (c->be.adopt == NULL)
		return 0;
	if (c->be.adopt(c->be.ctx, &ids, &n, &err) < 0) {
		char msg[1024];
		log_error("converge: finding running guests: %s", errmsg_str(&err, msg, sizeof(msg)));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct conv_instance *r = conv_get(c, ids[i]);
		const struct state_instance *di;

		if (r == NULL)
			continue;
		r->status = CONV_RUNNING;
		r->started_at = conv_now();
		/* an unknown start spec counts as the current one: adopting never restarts a guest */
		if (conv_spec_load(c, r->id, r->spec_hash) < 0) {
			di = state_find_instance(&c->desired, r->id);
			snprintf(r->spec_hash, sizeof(r->spec_hash), "%s", di ? di->spec_hash : "");
		}
		/* likewise an unknown reboot generation: the current one counts as done */
		if (conv_reboot_load(c, r->id, &r->reboot_done) < 0) {
			di = state_find_instance(&c->desired, r->id);
			r->reboot_done = di ? di->reboot : 0;
		}
		log_info("converge: adopted running guest %s", r->id);
		conv_event(c, "instance-adopt", r->id, NULL, NULL);
	}
	free(ids);
	return 0;
}

/* --- reporting ------------------------------------------------------------------ */

_Static_assert((int)CONV_PENDING == (int)ACTUAL_PENDING && (int)CONV_RUNNING == (int)ACTUAL_RUNNING &&
		       (int)CONV_STOPPING == (int)ACTUAL_STOPPING && (int)CONV_STOPPED == (int)ACTUAL_STOPPED &&
		       (int)CONV_ERROR == (int)ACTUAL_ERROR,
	       "an instance's status is reported as it is");

/*
 * The report is an actual_doc (proto/actual.h) rendered by actual_to_json.
 * Its strings and JSON values are borrowed from c under the lock: only its
 * arrays are freed here, never with actual_free.
 */
json_t *converge_actual(struct converge *c)
{
	struct actual_doc a;
	json_t *doc = NULL;
	size_t n = 0;

	memset(&a, 0, sizeof(a));
	pthread_mutex_lock(&c->lock);
	a.has_desired = c->has_desired;
	a.revision = c->desired.revision;
	a.source = c->desired_source;
	a.applied_at = c->applied_at;
	a.converged = c->has_desired && c->converged;
	a.last_error = c->last_error;
	a.rejected_total = (long long)c->rejected;
	a.events = c->events;
	a.templates = calloc(c->desired.n_templates + 1, sizeof(*a.templates));
	a.instances = calloc(c->desired.n_instances + c->n_inst + 1, sizeof(*a.instances));
	a.orphan_volumes = calloc(c->n_volumes + 1, sizeof(*a.orphan_volumes));
	if (a.templates == NULL || a.instances == NULL || a.orphan_volumes == NULL)
		goto out;
	if (c->has_desired && c->desired.has_network) {
		a.has_network = 1;
		snprintf(a.network_bridge, sizeof(a.network_bridge), "%s", c->desired.network.bridge);
		a.network_applied = strcmp(c->network_hash, c->desired.network_hash) == 0;
		a.network_error = c->network_error[0] ? c->network_error : NULL;
	}
	for (size_t i = 0; c->has_desired && i < c->desired.n_templates; i++) {
		const struct state_template *t = &c->desired.templates[i];
		struct actual_template *at = &a.templates[a.n_templates++];
		struct conv_template *ct = NULL;

		for (size_t j = 0; j < c->n_tpl; j++)
			if (strcmp(c->tpl[j].id, t->id) == 0)
				ct = &c->tpl[j];
		memcpy(at->id, t->id, sizeof(at->id));
		at->format = t->format;
		at->ready = ct && ct->sha256[0];
		at->error = ct && ct->error[0] ? ct->error : NULL;
	}
	/* desired instances first, in document order, then what is being forgotten */
	for (size_t i = 0; c->has_desired && i < c->desired.n_instances; i++) {
		const struct state_instance *di = &c->desired.instances[i];
		struct actual_instance *ai = &a.instances[a.n_instances++];
		struct conv_instance *r = NULL;

		for (size_t j = 0; j < c->n_inst; j++)
			if (strcmp(c->inst[j].id, di->id) == 0)
				r = &c->inst[j];
		memcpy(ai->id, di->id, sizeof(ai->id));
		ai->has_desired = 1;
		ai->desired = di->power;
		if (r == NULL) {
			ai->status = di->power == STATE_POWER_RUNNING ? ACTUAL_PENDING : ACTUAL_STOPPED;
			continue;
		}
		ai->status = (enum actual_status)r->status;
		ai->has_runtime = 1;
		ai->pid = r->pid > 0 ? r->pid : 0;
		ai->restarts = r->restarts;
		ai->reboot = r->reboot_done;
		ai->held = r->hold;
		ai->error = r->error[0] ? r->error : NULL;
		ai->last_exit = r->last_exit;
	}
	for (size_t j = 0; j < c->n_inst; j++) {
		struct actual_instance *ai;

		if (c->has_desired && state_find_instance(&c->desired, c->inst[j].id))
			continue;
		ai = &a.instances[a.n_instances++];
		memcpy(ai->id, c->inst[j].id, sizeof(ai->id));
		ai->status = (enum actual_status)c->inst[j].status;
	}
	for (size_t i = 0; i < c->n_volumes; i++) {
		if (c->has_desired && state_find_instance(&c->desired, c->volumes[i].instance))
			continue;
		memcpy(a.orphan_volumes[n].instance, c->volumes[i].instance, sizeof(a.orphan_volumes[n].instance));
		memcpy(a.orphan_volumes[n].disk, c->volumes[i].disk, sizeof(a.orphan_volumes[n].disk));
		n++;
	}
	a.n_orphan_volumes = n;
	doc = actual_to_json(&a);
out:
	pthread_mutex_unlock(&c->lock);
	free(a.templates);
	free(a.instances);
	free(a.orphan_volumes);
	return doc;
}

int converge_metrics(struct converge *c, struct buf *out)
{
	unsigned counts[5] = { 0 };
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_inst; i++)
		counts[c->inst[i].status]++;
	for (size_t i = 0; c->has_desired && i < c->desired.n_instances; i++)
		if (conv_find(c, c->desired.instances[i].id) == NULL)
			counts[c->desired.instances[i].power == STATE_POWER_RUNNING ? CONV_PENDING : CONV_STOPPED]++;
	rc |= buf_printf(out, "# HELP cloudd_instances Instances on this node by state.\n"
			      "# TYPE cloudd_instances gauge\n");
	for (int s = 0; s < 5; s++)
		rc |= buf_printf(out, "cloudd_instances{state=\"%s\"} %u\n", conv_status_names[s], counts[s]);
	rc |= buf_printf(out,
			 "# HELP cloudd_state_revision Revision of the applied desired state (-1: none).\n"
			 "# TYPE cloudd_state_revision gauge\ncloudd_state_revision %lld\n"
			 "# HELP cloudd_state_rejected_total Desired-state documents rejected.\n"
			 "# TYPE cloudd_state_rejected_total counter\ncloudd_state_rejected_total %llu\n"
			 "# HELP cloudd_converge_actions_total Convergence actions by result.\n"
			 "# TYPE cloudd_converge_actions_total counter\n"
			 "cloudd_converge_actions_total{result=\"ok\"} %llu\n"
			 "cloudd_converge_actions_total{result=\"error\"} %llu\n",
			 c->has_desired ? c->desired.revision : -1LL, c->rejected, c->actions_ok,
			 c->actions_failed);
	rc |= buf_printf(out, "# HELP cloudd_instance_cpu_seconds_total CPU time of the guest's QEMU process.\n"
			      "# TYPE cloudd_instance_cpu_seconds_total counter\n");
	for (size_t i = 0; i < c->n_inst; i++)
		rc |= buf_printf(out, "cloudd_instance_cpu_seconds_total{instance=\"%s\"} %.2f\n", c->inst[i].id,
				 c->inst[i].cpu_seconds);
	rc |= buf_printf(out, "# HELP cloudd_instance_memory_resident_bytes Resident memory of the guest's QEMU process.\n"
			      "# TYPE cloudd_instance_memory_resident_bytes gauge\n");
	for (size_t i = 0; i < c->n_inst; i++)
		rc |= buf_printf(out, "cloudd_instance_memory_resident_bytes{instance=\"%s\"} %llu\n",
				 c->inst[i].id, c->inst[i].status == CONV_RUNNING ? c->inst[i].rss_bytes : 0);
	rc |= buf_printf(out, "# HELP cloudd_instance_restarts_total Restarts after QEMU exited on its own.\n"
			      "# TYPE cloudd_instance_restarts_total counter\n");
	for (size_t i = 0; i < c->n_inst; i++)
		rc |= buf_printf(out, "cloudd_instance_restarts_total{instance=\"%s\"} %u\n", c->inst[i].id,
				 c->inst[i].restarts);
	rc |= buf_printf(out, "# HELP cloudd_instance_disk_read_bytes_total Bytes read by the guest from a disk.\n"
			      "# TYPE cloudd_instance_disk_read_bytes_total counter\n");
	for (size_t i = 0; i < c->n_inst; i++)
		for (size_t d = 0; d < c->inst[i].n_disks; d++)
			rc |= buf_printf(out, "cloudd_instance_disk_read_bytes_total{instance=\"%s\",disk=\"%s\"} %llu\n",
					 c->inst[i].id, c->inst[i].disks[d].disk, c->inst[i].disks[d].rd_bytes);
	rc |= buf_printf(out, "# HELP cloudd_instance_disk_written_bytes_total Bytes written by the guest to a disk.\n"
			      "# TYPE cloudd_instance_disk_written_bytes_total counter\n");
	for (size_t i = 0; i < c->n_inst; i++)
		for (size_t d = 0; d < c->inst[i].n_disks; d++)
			rc |= buf_printf(out, "cloudd_instance_disk_written_bytes_total{instance=\"%s\",disk=\"%s\"} %llu\n",
					 c->inst[i].id, c->inst[i].disks[d].disk, c->inst[i].disks[d].wr_bytes);
	rc |= buf_printf(out, "# HELP cloudd_instance_network_receive_bytes_total Bytes received by the guest on a NIC.\n"
			      "# TYPE cloudd_instance_network_receive_bytes_total counter\n");
	for (size_t i = 0; i < c->n_inst; i++)
		for (size_t n = 0; n < c->inst[i].n_nics; n++)
			rc |= buf_printf(out, "cloudd_instance_network_receive_bytes_total{instance=\"%s\",nic=\"%zu\"} %llu\n",
					 c->inst[i].id, n, c->inst[i].nic_rx[n]);
	rc |= buf_printf(out, "# HELP cloudd_instance_network_transmit_bytes_total Bytes sent by the guest on a NIC.\n"
			      "# TYPE cloudd_instance_network_transmit_bytes_total counter\n");
	for (size_t i = 0; i < c->n_inst; i++)
		for (size_t n = 0; n < c->inst[i].n_nics; n++)
			rc |= buf_printf(out, "cloudd_instance_network_transmit_bytes_total{instance=\"%s\",nic=\"%zu\"} %llu\n",
					 c->inst[i].id, n, c->inst[i].nic_tx[n]);
	pthread_mutex_unlock(&c->lock);
	return rc ? -1 : 0;
}

int converge_healthy(struct converge *c, char *why, size_t whylen)
{
	time_t now = conv_now(), limit;
	int ok;

	pthread_mutex_lock(&c->lock);
	/* a template download may legitimately take a while; a stuck loop does not answer for long */
	limit = c->interval * 10 > 120 ? c->interval * 10 : 120;
	ok = now - c->last_pass <= limit;
	if (!ok)
		snprintf(why, whylen, "convergence loop has not run for %lds (busy with: %s for %lds)",
			 (long)(now - c->last_pass), c->current, (long)(now - c->current_since));
	pthread_mutex_unlock(&c->lock);
	return ok;
}

/* --- HTTP ----------------------------------------------------------------------- */

static int conv_http_state(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	(void)req;
	return httpd_reply_json(resp, 200, converge_actual(ctx));
}

static int conv_http_console(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	struct converge *c = ctx;
	const char *id = httpd_param(req, "id"), *q = httpd_query(req, "bytes");
	unsigned long long want = CONVERGE_CONSOLE_TAIL;
	char path[PATH_MAX];
	struct stat st;
	int known, fd;

	pthread_mutex_lock(&c->lock);
	known = conv_find(c, id) != NULL || (c->has_desired && state_find_instance(&c->desired, id));
	pthread_mutex_unlock(&c->lock);
	if (!known || !state_id_valid(id))
		return httpd_reply_error(resp, 404, "not_found", "no instance \"%s\" on this node", id);
	if (q) {
		char *end;
		errno = 0;
		want = strtoull(q, &end, 10);
		if (errno || *end || q[0] < '0' || q[0] > '9' || want == 0 || want > CONVERGE_CONSOLE_MAX)
			return httpd_reply_error(resp, 400, "bad_request",
						 "bytes must be a number from 1 to %d", CONVERGE_CONSOLE_MAX);
	}
	if (c->be.console_path == NULL || c->be.console_path(c->be.ctx, id, path, sizeof(path)) < 0)
		return httpd_reply_error(resp, 404, "not_found", "instance \"%s\" has no console log", id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return httpd_reply_error(resp, 404, "not_found",
						 "instance \"%s\" has no console log yet", id);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "text/plain; charset=utf-8");
	resp->fd = fd;
	resp->fd_length = (unsigned long long)st.st_size > want ? want : (unsigned long long)st.st_size;
	resp->fd_offset = (unsigned long long)st.st_size - resp->fd_length;
	return 0;
}

int converge_register_routes(struct converge *c, struct httpd *http)
{
	if (httpd_route(http, "GET", "/v1/state", conv_http_state, c) < 0 ||
	    httpd_route(http, "GET", "/v1/instances/{id}/console", conv_http_console, c) < 0)
		return -1;
	return 0;
}

/* --- life cycle ----------------------------------------------------------------- */

struct converge *converge_new(const struct cloudd_config *cfg, const struct converge_backend *backend)
{
	struct converge *c = calloc(1, sizeof(*c));
	char dir[PATH_MAX];

	if (c == NULL)
		return NULL;
	c->be = *backend;
	c->interval = cfg->converge_interval;
	c->inotify_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	c->events = json_array();
	if (c->events == NULL)
		goto err;
	snprintf(c->state_path, sizeof(c->state_path), "%s", cfg->state_path);
	if (fs_path(c->spec_dir, sizeof(c->spec_dir), "%s/specs", cfg->run_dir) < 0)
		goto err;
	if ((mkdir(cfg->run_dir, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(c->spec_dir, 0755) < 0 && errno != EEXIST)) {
		log_error("converge: creating %s: %s", c->spec_dir, strerror(errno));
		goto err;
	}
	c->last_pass = conv_now();
	if (c->state_path[0]) {
		snprintf(dir, sizeof(dir), "%s", c->state_path);
		c->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		/* watch the directory: editors and tools replace the file by renaming */
		if (c->inotify_fd < 0 ||
		    inotify_add_watch(c->inotify_fd, dirname(dir),
				      IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM) < 0) {
			log_error("converge: watching %s: %s", c->state_path, strerror(errno));
			goto err;
		}
	}
	return c;
err:
	converge_free(c);
	return NULL;
}

void converge_free(struct converge *c)
{
	if (c == NULL)
		return;
	if (c->inotify_fd >= 0)
		close(c->inotify_fd);
	if (c->has_desired)
		state_free(&c->desired);
	for (size_t i = 0; i < c->n_inst; i++)
		json_decref(c->inst[i].last_exit);
	free(c->inst);
	free(c->tpl);
	free(c->volumes);
	json_decref(c->last_error);
	json_decref(c->events);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
