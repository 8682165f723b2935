/* converge.c -- the convergence engine: observe the guests, plan (state_plan), act through the backend */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cloudd.h"
#include "actual.h"
#include "converge.h"
#include "converge_internal.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "log.h"

/* Copies display text (error messages), cutting what does not fit. */
static void conv_text(char *dst, size_t dstlen, const char *src)
{
	size_t len = strlen(src);

	if (len >= dstlen)
		len = dstlen - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

time_t conv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void conv_wallclock(char *out, size_t outlen)
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

struct conv_instance *conv_find(struct converge *c, const char *id)
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

/* --- life cycle ----------------------------------------------------------------- */

struct converge *converge_new(const struct cloudd_config *cfg, const struct converge_backend *backend)
{
	struct converge *c = calloc(1, sizeof(*c));

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
	if (conv_watch_open(c) < 0)
		goto err;
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
