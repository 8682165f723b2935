/* enroll.h -- cloudd's side of enrollment: register with the one-time token, then heartbeat */
#ifndef CLOUDD_ENROLL_H
#define CLOUDD_ENROLL_H

#include <stddef.h>

#include <jansson.h>

#define ENROLL_CREDENTIAL_FILE "node-credential.json" /* in state_dir, mode 0600 */
#define ENROLL_BACKOFF_MAX 60			      /* seconds between retries, at most */
#define ENROLL_DEFAULT_HEARTBEAT 5		      /* seconds, until the controller says */

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
 * to ENROLL_BACKOFF_MAX). Returns 0 (also when no controller is configured:
 * cloudd then runs standalone and says so), -1 with errno when the thread
 * cannot start.
 */
int enroll_start(const struct enroll_config *cfg);
/* Stops the thread (prompt: it waits on a condition, not in sleep). */
void enroll_stop(void);

/* What the enrollment thread is doing, for /health and /metrics. */
struct enroll_status {
	char state[16];	      /* "standalone", "registering", "enrolled", "refused" */
	char node_id[40];
	char controller[256];
	unsigned long long heartbeats_ok, heartbeats_failed;
	char last_error[256];
};
void enroll_get_status(struct enroll_status *out);

/* Exposed for the unit tests. */
int enroll_cmdline_arg(const char *cmdline, const char *key, char *out, size_t outlen);
unsigned enroll_backoff_next(unsigned current);

#endif
