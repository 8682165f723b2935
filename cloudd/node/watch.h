/* watch.h -- cloudd's desired-state watch: long-poll the controller for the node's document, report actual state */
#ifndef CLOUDD_WATCH_H
#define CLOUDD_WATCH_H

#include <stddef.h>

#include "buf.h"

struct converge;
struct cloudd_config;

/* Limits and timings */
#define WATCH_WAIT_DEFAULT 30	     /* seconds the controller may hold a poll (wait=) */
#define WATCH_REQUEST_SLACK 15	     /* seconds beyond wait= before a held poll counts as lost */
#define WATCH_BACKOFF_MAX 10	     /* seconds between attempts while the controller is away, at most */
#define WATCH_REPORT_INTERVAL 10     /* seconds: the actual state is PUT at least this often */
#define WATCH_REPORT_CHECK 1	     /* seconds between looks for a changed actual state */
#define WATCH_DOCUMENT_FILE "desired-state.json" /* in data_dir: {"boot_id", "document": the last accepted one} */

struct watch_config {
	const char *data_dir;	    /* node credential (enroll.h) and the kept document live here */
	const char *sysroot;	    /* where the boot id is read (enroll_boot_id); NULL: the live system */
	unsigned wait_seconds;	    /* wait= of each poll (1..60; 0 = WATCH_WAIT_DEFAULT) */
	unsigned report_interval;   /* seconds (0 = WATCH_REPORT_INTERVAL) */
	struct converge *conv;	    /* where documents go and actual state comes from (borrowed) */
};

/*
 * Starts the watch: a poll thread that waits for the node credential written
 * by the enrollment thread, then long-polls
 * GET /v1/nodes/{id}/desired-state?revision=N&wait=S and queues every
 * document it gets; and a report thread that PUTs converge_actual() to
 * /v1/nodes/{id}/actual-state when it changed and at least every
 * report_interval seconds. A document kept by an earlier cloudd of this boot
 * (data_dir/desired-state.json, stamped with the boot id) is queued at once,
 * so that a restarted cloudd converges before the controller answers; one
 * kept in another boot is deleted unread: a rebooted node converges only on
 * what the controller answers it now. A controller that is away is
 * retried with exponential backoff (1 s doubling to WATCH_BACKOFF_MAX); nothing
 * on the node changes meanwhile. Returns 0, or -1 with errno.
 */
int watch_start(const struct watch_config *cfg);
/* Stops both threads (prompt: they wait on a condition, a held poll is abandoned). */
void watch_stop(void);

/* Readable (eventfd) when a document waits for watch_dispatch; -1 before watch_start. */
int watch_fd(void);
/*
 * On the thread that runs the convergence engine, when watch_fd() is
 * readable: hands the waiting document to converge_submit and, when it is
 * accepted, keeps it in data_dir. Returns 1 accepted, 0 nothing waiting,
 * -1 rejected (the engine records why; the report carries it).
 */
int watch_dispatch(struct converge *c);
/* Asks the report thread to look at the actual state now (after a convergence pass). */
void watch_kick(void);

/* 1 when a controller is configured (boot.env CONTROLLER or cloud.controller= on the kernel command line). */
int watch_wanted(const struct cloudd_config *cfg);

/* What the watch is doing, for /health, /metrics and the tests. */
struct watch_status {
	char state[24];		 /* "stopped", "enrolling", "connected", "disconnected", "refused" */
	long long revision;	 /* of the last document received, -1 when none */
	unsigned long long polls, documents, poll_failures, reports_ok, reports_failed;
	unsigned backoff;	 /* seconds of the current backoff (0 when connected) */
	char last_error[256];	 /* of the watch */
	char report_error[256];	 /* of the last failed actual-state report */
};
void watch_get_status(struct watch_status *out);

/* Exposed for the unit tests. */
unsigned watch_backoff_next(unsigned current);

#endif
