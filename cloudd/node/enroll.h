/* enroll.h -- cloudd's side of enrollment: register with the one-time token, then heartbeat */
#ifndef CLOUDD_ENROLL_H
#define CLOUDD_ENROLL_H

#include <stddef.h>

#include <jansson.h>

#define ENROLL_CREDENTIAL_FILE "node-credential.json" /* in state_dir, mode 0600 */
#define ENROLL_BACKOFF_MAX 60			      /* seconds between retries, at most */
#define ENROLL_DEFAULT_HEARTBEAT 5		      /* seconds, until the controller says */
#define ENROLL_NODE_UP_RETRY 5			      /* seconds between registrations refused with node_up */
#define ENROLL_BOOT_ID_FILE "/proc/sys/kernel/random/boot_id" /* below sysroot */
#define ENROLL_BOOT_ID_MAX 64			      /* bytes of a boot id, with the NUL */

struct enroll_config {
	const char *sysroot;   /* "" for the live system (also where /proc/cmdline is read) */
	const char *boot_env;  /* /run/cloudd/boot.env: CONTROLLER, ENROLL_TOKEN (optional) */
	const char *state_dir; /* where the node credential is kept (e.g. /var/lib/cloudd) */
	json_t *kvm;	       /* KVM probe for sysinfo (borrowed, may be NULL) */
	/* optional: extra members of the heartbeat status (new reference or NULL) */
	json_t *(*status_fn)(void *ctx);
	void *status_ctx;
	/*
	 * optional: told the node's credential whenever it changes (kept from an
	 * earlier start, issued at registration; key_id and secret NULL when the
	 * controller no longer accepts it), from the enrollment thread
	 */
	void (*credential_fn)(void *ctx, const char *key_id, const char *secret);
	void *credential_ctx;
};

/*
 * Starts the enrollment thread: it finds the controller URL and the token
 * (boot.env CONTROLLER / ENROLL_TOKEN, else cloud.controller= / cloud.token=
 * on the kernel command line), registers with its sysinfo, keeps the node
 * credential it gets, then heartbeats every few seconds with a status summary.
 * An unreachable controller is retried with exponential backoff (1 s doubling
 * to ENROLL_BACKOFF_MAX); a registration refused because the controller still
 * sees the node up (409 node_up: the heartbeats of the previous boot have not
 * timed out yet) is retried every ENROLL_NODE_UP_RETRY seconds.
 *
 * The kept credential is stamped with the kernel's boot id. A cloudd
 * restarted within the same boot uses it; one from another boot (data_dir is
 * on a disk and survives reboots) is deleted before the thread starts, so a
 * rebooted node always enrolls again with the token of this boot. Returns 0
 * (also when no controller is configured: cloudd then runs standalone and
 * says so), -1 with errno when the thread cannot start.
 */
int enroll_start(const struct enroll_config *cfg);
/* Stops the thread (prompt: it waits on a condition, not in sleep). */
void enroll_stop(void);

/* What the enrollment thread is doing, for /health and /metrics. */
struct enroll_status {
	char state[16];	      /* "standalone", "registering", "waiting" (node_up), "enrolled", "refused" */
	char node_id[40];
	char controller[256];
	unsigned long long heartbeats_ok, heartbeats_failed;
	char last_error[256];
};
void enroll_get_status(struct enroll_status *out);

/*
 * The kernel's boot id (sysroot + ENROLL_BOOT_ID_FILE, a fresh UUID every
 * boot) into out; -1 with errno when it cannot be read or is not one.
 */
int enroll_boot_id(const char *sysroot, char *out, size_t outlen);
/* 1 when what was kept under boot id kept may be used now: both known and equal. */
int enroll_same_boot(const char *kept, const char *now);

/* Exposed for the unit tests. */
int enroll_cmdline_arg(const char *cmdline, const char *key, char *out, size_t outlen);
unsigned enroll_backoff_next(unsigned current);

#endif
