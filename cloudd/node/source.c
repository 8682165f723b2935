/* source.c -- where the desired state comes from: a submitted document (the controller's watch) or the state file (inotify), checked before it replaces the applied one */
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "converge_internal.h"
#include "fsutil.h"
#include "log.h"

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

int conv_watch_open(struct converge *c)
{
	char dir[PATH_MAX];

	if (c->state_path[0] == '\0')
		return 0;
	snprintf(dir, sizeof(dir), "%s", c->state_path);
	c->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	/* watch the directory: editors and tools replace the file by renaming */
	if (c->inotify_fd < 0 ||
	    inotify_add_watch(c->inotify_fd, dirname(dir), IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM) < 0) {
		log_error("converge: watching %s: %s", c->state_path, strerror(errno));
		return -1;
	}
	return 0;
}
