/* converge_internal.h -- the convergence engine's own state, shared by its files (converge.c, source.c, specs.c, report.c); not for other modules */
#ifndef CLOUDD_CONVERGE_INTERNAL_H
#define CLOUDD_CONVERGE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <time.h>

#include <jansson.h>

#include "converge.h"
#include "state.h"

enum conv_status {
	CONV_PENDING,  /* desired, never started by this cloudd */
	CONV_RUNNING,
	CONV_STOPPING, /* asked to power down; forced at stop_deadline */
	CONV_STOPPED,
	CONV_ERROR,    /* the last start failed (see error); retried after back-off */
};

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

/* --- converge.c ------------------------------------------------------------------ */

/* Monotonic seconds. */
time_t conv_now(void);
/* UTC now as "2024-01-02T03:04:05Z". */
void conv_wallclock(char *out, size_t outlen);
/* The engine's record of an instance, NULL when it has none: on the engine's thread or with c->lock held. */
struct conv_instance *conv_find(struct converge *c, const char *id);

/* --- source.c -------------------------------------------------------------------- */

/* Watches the state file's directory (inotify) when there is a state file; 0 or -1 (logged). */
int conv_watch_open(struct converge *c);

/* --- specs.c: what each guest was started with, kept in <run_dir>/specs across restarts of cloudd */

void conv_spec_save(struct converge *c, const char *id, const char *hash);
int conv_spec_load(struct converge *c, const char *id, char out[17]);
/* Removes the start spec and the reboot generation of a forgotten instance. */
void conv_spec_remove(struct converge *c, const char *id);
/* The reboot generation a guest has seen: a restart of cloudd must not reboot it again. */
void conv_reboot_save(struct converge *c, const char *id, long long gen);
int conv_reboot_load(struct converge *c, const char *id, long long *gen);

#endif
