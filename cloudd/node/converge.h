/* converge.h -- the convergence engine: desired-state sources, plan execution, actual state, guest metrics (converge.c, source.c, report.c) */
#ifndef CLOUDD_CONVERGE_H
#define CLOUDD_CONVERGE_H

#include <sys/types.h>

#include "buf.h"
#include "errmsg.h"
#include "httpd.h"
#include "state.h"

struct cloudd_config;

/* Limits and timings */
#define CONVERGE_STOP_TIMEOUT 30     /* seconds between system_powerdown and a forced stop */
#define CONVERGE_BACKOFF_MIN 2	     /* seconds before retrying a failed start, doubling ... */
#define CONVERGE_BACKOFF_MAX 300     /* ... up to this */
#define CONVERGE_EVENTS 64	     /* recent actions kept for /v1/state */
#define CONVERGE_CONSOLE_TAIL 65536  /* bytes of console served by default */
#define CONVERGE_CONSOLE_MAX (1024 * 1024)

/* What the backend reports about one guest's QEMU process. */
struct converge_guest {
	int running;	   /* the QEMU process is alive */
	pid_t pid;	   /* when running */
	int exited;	   /* it has exited (and was not reaped before) */
	int exit_code;	   /* when exited: exit status, or -1 when killed by a signal */
	int exit_signal;   /* when killed by a signal */
	int powered_off;   /* the guest shut itself down (QMP SHUTDOWN from the guest) */
	char reason[256];  /* human text: "guest powered off", "killed by signal 9", ... */
};

/* Byte counters of one guest disk, read over QMP (query-blockstats). */
struct converge_disk_stats {
	char disk[STATE_ID_MAX];
	unsigned long long rd_bytes, wr_bytes;
};

/*
 * The operations the engine needs from the node's backend (QEMU/QMP, volumes,
 * templates, bridge, guest DHCP, filters). Every call returns 0, or -1 with
 * err saying why (the engine records it against the instance or template).
 * All are idempotent: doing what is already done succeeds quickly. They run
 * on the engine's thread, one at a time.
 */
struct converge_backend {
	/* Finds the guests left running by a previous cloudd (adopts them). */
	int (*adopt)(void *ctx, char (**ids)[STATE_ID_MAX], size_t *n, struct errmsg *err);
	/* Makes a template available in the local cache, verified against its sha256. */
	int (*template_ensure)(void *ctx, const struct state_template *t, struct errmsg *err);
	int (*volume_create)(void *ctx, const struct state_doc *doc, const struct state_instance *in,
			     const struct state_disk *disk, struct errmsg *err);
	int (*volume_delete)(void *ctx, const char *instance, const char *disk, struct errmsg *err);
	/* Every volume on the node's disks (the caller frees *out). */
	int (*volume_list)(void *ctx, struct state_actual_volume **out, size_t *n, struct errmsg *err);
	/* Bridge, taps' filters, guest DHCP leases for the whole document. */
	int (*network_apply)(void *ctx, const struct state_doc *doc, struct errmsg *err);
	int (*instance_start)(void *ctx, const struct state_doc *doc, const struct state_instance *in,
			      struct errmsg *err);
	/* force 0: ask the guest to power down; force 1: stop QEMU now. Does not wait. */
	int (*instance_stop)(void *ctx, const char *id, int force, struct errmsg *err);
	/* Hard reset of a running guest (the same QEMU process boots again). */
	int (*instance_reset)(void *ctx, const char *id, struct errmsg *err);
	int (*instance_poll)(void *ctx, const char *id, struct converge_guest *g);
	/* After a forget: releases what the backend keeps for the instance (run dir). */
	int (*instance_forget)(void *ctx, const char *id, struct errmsg *err);
	int (*disk_stats)(void *ctx, const char *id, struct converge_disk_stats *out, size_t max,
			  size_t *n);
	/* Path of the guest's serial console log. */
	int (*console_path)(void *ctx, const char *id, char *out, size_t outlen);
	void *ctx;
};

struct converge;

/* --- converge.c: the engine ------------------------------------------------------- */

/*
 * Creates the engine: state_path is the desired-state file ("" = none yet),
 * run_dir keeps what must survive a restart of cloudd (start specs).
 */
struct converge *converge_new(const struct cloudd_config *cfg, const struct converge_backend *backend);
void converge_free(struct converge *c);
/* Adopts guests left running by a previous cloudd (call once at start). */
int converge_start(struct converge *c);
/* One pass: observe the guests, plan, act. Returns seconds until the next pass is due. */
unsigned converge_pass(struct converge *c);

/* --- source.c: where the desired state comes from -------------------------------- */

/* The fd to poll for changes of the state file (inotify), or -1. */
int converge_watch_fd(struct converge *c);
/* Call when the watch fd is readable; returns 1 when the state file changed. */
int converge_watch_event(struct converge *c);
/* Re-reads the state file (SIGHUP, start-up, file change); a bad document is rejected whole. */
int converge_reload(struct converge *c);
/* Applies a document received from elsewhere (the controller's watch). */
int converge_submit(struct converge *c, const char *text, size_t len, const char *source,
		    struct errmsg *err);

/* --- report.c: what the engine tells --------------------------------------------- */

/* The actual-state document (caller owns the reference). */
json_t *converge_actual(struct converge *c);
/* Per-instance and per-state metrics, Prometheus text format. */
int converge_metrics(struct converge *c, struct buf *out);
/* 0 with why filled when the engine's loop has not run for a while. */
int converge_healthy(struct converge *c, char *why, size_t whylen);
/* 1 when the instance is in the desired state or still known to the engine (being forgotten). */
int converge_has_instance(struct converge *c, const char *id);
/* Path of an instance's serial console log; -1 with errno when the backend has none. */
int converge_console_path(struct converge *c, const char *id, char *out, size_t outlen);

#endif
