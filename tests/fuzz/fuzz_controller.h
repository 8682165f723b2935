/* fuzz_controller.h -- a controller with a scratch database and its HTTP routes, for harnesses that post bodies */
#ifndef FUZZ_CONTROLLER_H
#define FUZZ_CONTROLLER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "log.h"

static struct controller fuzz_ctl;
static char fuzz_dir[] = "/dev/shm/fuzz-controller-XXXXXX";

static void fuzz_controller_cleanup(void)
{
	char cmd[64];

	db_close(&fuzz_ctl.db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fuzz_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir);
}

/* Once per process: the database in a scratch directory, settings as the defaults, every route. */
static struct controller *fuzz_controller(void)
{
	static int ready;
	struct errmsg err = { 0 };
	char path[128];

	if (ready)
		return &fuzz_ctl;
	log_init("fuzz", LOG_LEVEL_ERROR, 0);
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/controller.db", fuzz_dir);
	pthread_mutex_init(&fuzz_ctl.counters.lock, NULL);
	pthread_mutex_init(&fuzz_ctl.cache.lock, NULL);
	pthread_mutex_init(&fuzz_ctl.pending_lock, NULL);
	pthread_mutex_init(&fuzz_ctl.waiters_lock, NULL);
	fuzz_ctl.cfg.token_ttl = CTL_DEFAULT_TOKEN_TTL;
	fuzz_ctl.cfg.heartbeat_interval = 5;
	fuzz_ctl.cfg.down_after = 60;
	snprintf(fuzz_ctl.cfg.default_role, sizeof(fuzz_ctl.cfg.default_role), "%s", CTL_DEFAULT_ROLE);
	snprintf(fuzz_ctl.cfg.url, sizeof(fuzz_ctl.cfg.url), "http://127.0.0.1:8080");
	if (db_open(&fuzz_ctl.db, path, &err) < 0 || (fuzz_ctl.http = httpd_new()) == NULL ||
	    api_register(&fuzz_ctl) < 0) {
		fprintf(stderr, "fuzz: controller set-up failed: %s %s\n", err.field, err.msg);
		abort();
	}
	/* a scratch database: no fsync per commit, many more inputs per second */
	if (db_exec(&fuzz_ctl.db, "PRAGMA synchronous = OFF", 0, NULL) < 0)
		abort();
	atexit(fuzz_controller_cleanup);
	ready = 1;
	return &fuzz_ctl;
}

/* POSTs body (NUL-terminated, len bytes) to path as an unsigned client would; the status. */
static unsigned fuzz_post(struct controller *ctrl, const char *path, const char *body, size_t len)
{
	struct httpd_request req = { .method = "POST", .path = path, .body = body, .body_len = len };
	struct httpd_response resp;
	unsigned status;

	httpd_response_init(&resp);
	httpd_dispatch(ctrl->http, &req, &resp);
	status = resp.status;
	if (getenv("FUZZ_SHOW_REPLY")) /* to see how far the seeds get */
		fprintf(stderr, "%s: %u %.*s\n", path, status, (int)resp.body.len, resp.body.data ? resp.body.data : "");
	httpd_response_free(&resp);
	return status;
}

#endif
