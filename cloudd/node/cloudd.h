/* cloudd.h -- the node daemon: configuration, system inventory, metrics and HTTP API */
#ifndef CLOUDD_NODE_H
#define CLOUDD_NODE_H

#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"
#include "conf.h"
#include "defaults.h"
#include "errmsg.h"
#include "httpd.h"
#include "log.h"
#include "netaddr.h"
#include "sign.h"

/* Defaults (paths, limits and their units) */
#define CLOUDD_DEFAULT_CONFIG "/etc/cloudd/cloudd.conf"
#define CLOUDD_DEFAULT_LISTEN NODE_API_LISTEN /* defaults.h */
#define CLOUDD_DEFAULT_BOOT_ENV "/run/cloudd/boot.env" /* written by the image's /init */
#define CLOUDD_DEFAULT_RUN_DIR "/run/cloudd"
#define CLOUDD_DEFAULT_DATA_DIR "/var/lib/cloudd"
#define CLOUDD_DEFAULT_MAX_BODY (1024 * 1024)	/* bytes of a request body */
#define CLOUDD_DEFAULT_HTTP_CONNECTIONS 8	/* concurrent HTTP connections */
#define CLOUDD_DEFAULT_CONVERGE_INTERVAL 5	/* seconds between checks of the guests */
#define CLOUDD_DEFAULT_DISK_POLICY "init=never"	/* use a disk labelled CLOUDD, initialise none */
#define CLOUDD_GUEST_UID_BASE 1000000	/* guests' QEMUs run as uid=gid 1000000.. (guest.h GUEST_UID_COUNT); no passwd entry needed */
#define CLOUDD_GUEST_KVM_GID 999999	/* /dev/kvm's group when it has none the guests may use */

#define EXIT_USAGE 100
#define EXIT_SYSTEM 111

/* --- config.c ---------------------------------------------------------------- */

enum cloudd_accel { CLOUDD_ACCEL_AUTO, CLOUDD_ACCEL_KVM, CLOUDD_ACCEL_TCG };

struct cloudd_config {
	char config_path[PATH_MAX];
	char listen[128];		/* as configured */
	struct sockaddr_storage listen_addr; /* resolved (address part replaced by listen_interface) */
	socklen_t listen_len;
	char listen_interface[IF_NAMESIZE]; /* "" = the address in listen */
	char boot_env[PATH_MAX];
	char sysroot[PATH_MAX];		/* where /proc, /sys and /etc are read from ("" = /) */
	char state_path[PATH_MAX];	/* desired-state file ("" = none) */
	char run_dir[PATH_MAX];
	char data_dir[PATH_MAX];
	enum log_level log_level;
	int syslog;
	unsigned long long max_body;
	unsigned http_connections;
	unsigned converge_interval;
	enum cloudd_accel accel;
	char disk_policy[512];		/* disk.h policy text, "none" = no disk discovery */
	char api_key_file[PATH_MAX];	/* a key that may sign requests to this node ("" = none) */
	struct netaddr_list template_allow; /* internal networks template downloads may connect to */
};

/*
 * Reads the command line and the configuration file it names (or the default
 * one, which may be absent); the command line wins. Fills cfg with validated
 * settings, or err with what is wrong (naming file:line or the option).
 */
int config_load(int argc, char **argv, struct cloudd_config *cfg, enum config_action *action,
		struct errmsg *err);
/* Fills cfg from parsed settings (file and overrides), validating each. */
struct conf;
int config_from_conf(struct conf *c, struct cloudd_config *cfg, struct errmsg *err);
void config_usage(FILE *out, const char *prog);
/* Resolves listen_interface to its first IPv4 address (keeping the port). */
int config_resolve_listen(struct cloudd_config *cfg, struct errmsg *err);
/*
 * The controller's URL as enrollment finds it (boot.env CONTROLLER, else
 * cloud.controller= on the kernel command line, below sysroot): 1 and out
 * filled, or 0 and out "" when there is none (standalone).
 */
int config_controller_url(const struct cloudd_config *cfg, char *out, size_t outlen);

/* --- sysinfo.c --------------------------------------------------------------- */

struct sysinfo_source {
	const char *sysroot;  /* "" or "/" for the live system */
	const char *boot_env; /* /run/cloudd/boot.env: BOOT_MAC, BOOT_IF, IMAGE_VERSION */
	json_t *kvm;	      /* result of sysinfo_kvm_probe, borrowed (NULL: not probed) */
};

/*
 * The local disks and the decision taken for each at start-up (disk_claim's
 * report; reference taken). Set once before the HTTP and enrollment threads
 * start; NULL = no disk discovery.
 */
void sysinfo_set_disks(json_t *report);
/* The node's inventory as a JSON object (see docs/cloudd.md), or NULL with errno. */
json_t *sysinfo_collect(const struct sysinfo_source *src);
/* {"usable":bool,"api_version":N,"reason":"..."}: opens dev and creates a VM. */
json_t *sysinfo_kvm_probe(const char *dev);
/* Parsers, exposed for the unit tests. */
int sysinfo_parse_cpuinfo(const char *text, char *model, size_t modellen, unsigned *count);
int sysinfo_parse_meminfo(const char *text, const char *key, unsigned long long *bytes);
int sysinfo_bootif_mac(const char *cmdline, char *mac, size_t maclen);

/* --- metrics.c --------------------------------------------------------------- */

struct cloudd;
/* The whole /metrics page (Prometheus text format 0.0.4). */
int metrics_render(struct cloudd *d, struct buf *out);
/* process_* metrics of this process, read from procdir ("/proc/self"). */
int metrics_process(const char *procdir, struct buf *out);

/* --- auth.c ------------------------------------------------------------------ */

/*
 * Every request but GET /health and /metrics must be signed (docs/api.md,
 * "Signing requests") with a node key: the key id of the node's credential
 * (from registration, or the api-key-file) and, as HMAC key, sign_node_key()
 * of its secret. The check runs before routing (httpd_set_gate): an unsigned
 * request learns nothing, not even which paths exist.
 *
 * `expires` is accepted from NODE_AUTH_PAST seconds before now to
 * NODE_AUTH_FUTURE seconds after: the controller signs with expires = its
 * clock + NODE_AUTH_LIFETIME, so the node's clock may be up to 180 s ahead or
 * 120 s behind the controller's.
 */
#define NODE_AUTH_PAST 120	/* seconds an expires may lie in the past */
#define NODE_AUTH_FUTURE 180	/* seconds an expires may lie in the future */
#define NODE_AUTH_LIFETIME 60	/* seconds: what signers of node requests use */

enum node_auth_source {
	NODE_AUTH_KEY_FILE,	/* api-key-file */
	NODE_AUTH_ENROLLED,	/* the credential from registration with the controller */
	NODE_AUTH_SOURCES
};

struct node_auth_key {
	char key_id[SIGN_MAX_KEY_ID + 1];
	char sign_key[SIGN_HEX_LEN + 1]; /* sign_node_key(secret) */
	int set;
};

struct node_auth {
	pthread_mutex_t lock; /* keys: set by the enrollment thread, read by the HTTP thread */
	struct node_auth_key keys[NODE_AUTH_SOURCES];
};

void node_auth_init(struct node_auth *a);
void node_auth_free(struct node_auth *a);
/* Sets (or with key_id or secret NULL, clears) the key of a source; -1 EINVAL on a bad key id or empty secret. */
int node_auth_set(struct node_auth *a, enum node_auth_source source, const char *key_id, const char *secret);
/*
 * Reads an api-key-file: "key = ID" and "secret = SECRET" lines (cloudctl's
 * configuration format; other keys are refused), mode 0600 or stricter.
 */
int node_auth_load_file(const char *path, char *key_id, size_t key_id_len, char *secret, size_t secret_len,
			struct errmsg *err);
/* 1 for the paths anyone may call: /health, /metrics. */
int node_auth_anonymous(const char *path);
/* Verifies a signed request at time now: 0, or -1 with why filled. */
int node_auth_check(struct node_auth *a, const char *authorization, const char *method, const char *path,
		    const struct sign_query_arg *args, size_t nargs, const void *body, size_t body_len, time_t now,
		    char *why, size_t whylen);
/* The gate of cloudd's HTTP server (httpd_set_gate; ctx: struct node_auth): 0 pass, 1 answered 401. */
int node_auth_gate(struct httpd_request *req, struct httpd_response *resp, void *ctx);

/* --- api.c ------------------------------------------------------------------- */

struct converge;
struct converge_backend;

struct cloudd {
	struct cloudd_config cfg;
	struct httpd *http;
	struct timespec started; /* CLOCK_MONOTONIC */
	time_t started_wall;
	json_t *kvm;		 /* cached KVM probe */
	struct converge *conv;	 /* NULL when no desired state is converged */
	struct converge_backend *backend; /* the backend of conv (backend.h) */
	struct node_auth auth;		 /* who may call the HTTP API */
};

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Registers /health, /metrics, /v1/sysinfo and the state routes on d->http, behind node_auth_gate. */
int api_register(struct cloudd *d);
double cloudd_uptime(const struct cloudd *d);

#endif
