/* controller.h -- cloud-controller: configuration, store, API, netboot, images, enrollment */
#ifndef CLOUDD_CONTROLLER_H
#define CLOUDD_CONTROLLER_H

#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "buf.h"
#include "conf.h"
#include "defaults.h"
#include "errmsg.h"
#include "httpd.h"
#include "log.h"
#include "netaddr.h"

/* Defaults (paths, limits and their units) */
#define CTL_DEFAULT_CONFIG "/etc/cloudd/controller.conf"
#define CTL_DEFAULT_LISTEN ":8080"
#define CTL_DEFAULT_DATA_DIR "/var/lib/cloud-controller"
#define CTL_DEFAULT_IPXE_DIR "/usr/lib/ipxe"	  /* undionly.kpxe, snponly.efi, ipxe.efi */
#define CTL_DEFAULT_PXE_DIR "/usr/share/cloudd/pxe" /* boot.ipxe.in, dnsmasq.conf.in */
#define CTL_DEFAULT_DNSMASQ "/usr/sbin/dnsmasq"
#define CTL_DEFAULT_ROLE "hypervisor"
#define CTL_DEFAULT_MAX_BODY (64 * 1024)	/* bytes of an API request body */
#define CTL_DEFAULT_HTTP_CONNECTIONS 512	/* concurrent HTTP connections */
#define CTL_DEFAULT_HEARTBEAT 5			/* seconds between node heartbeats */
#define CTL_DEFAULT_DOWN_AFTER 60		/* seconds without heartbeat before "down" */
#define CTL_DEFAULT_TOKEN_TTL 600		/* seconds an enrollment token stays valid */
#define CTL_TOKEN_TTL_MIN 10			/* seconds: token-ttl range */
#define CTL_TOKEN_TTL_MAX 3600
#define CTL_PENDING_RETRY 15			/* seconds a pending machine's boot script waits before asking again */
#define CTL_LEASES_MAX (4 << 20)		/* bytes of dnsmasq's lease file the controller reads */
#define CTL_MISSED_HEARTBEATS 3			/* missed heartbeats before "unknown" */
#define CTL_LIST_DEFAULT 100			/* items per page of a list */
#define CTL_LIST_MAX 1000			/* largest page a client may ask for */
#define CTL_MAX_LABELS 32			/* labels per machine */
#define CTL_DNSMASQ_BACKOFF_MAX 30		/* seconds between dnsmasq restarts, at most */

/* Bounds on what unsigned callers can make the controller do and store (ratelimit.c, prune.c) */
#define CTL_DEFAULT_PUBLIC_RATE 10		/* requests per second per client address to unsigned routes that write */
#define CTL_DEFAULT_PUBLIC_BURST 40		/* requests an address may send at once before the rate applies */
#define CTL_DEFAULT_EVENTS_KEEP_DAYS 30		/* days an event is kept */
#define CTL_DEFAULT_EVENTS_KEEP_MAX 100000	/* events kept at most (the newest) */
#define CTL_DEFAULT_OPERATIONS_KEEP_DAYS 30	/* days a finished operation is kept after it finished */
#define CTL_PRUNE_INTERVAL 60			/* seconds between prunes of events and operations */
#define CTL_PRUNE_BATCH 500			/* rows deleted per transaction (the db lock is held that long) */
#define CTL_PRUNE_BATCHES 20			/* transactions per prune; a backlog continues at the next tick */

#define EXIT_USAGE 100
#define EXIT_SYSTEM 111

/* --- config.c ---------------------------------------------------------------- */

enum netboot_mode { NETBOOT_OFF, NETBOOT_DHCP, NETBOOT_PROXY };
/* What the boot script does for a MAC that is not a machine. */
enum unknown_policy {
	UNKNOWN_IGNORE,	 /* a script that exits to the next boot device */
	UNKNOWN_ENROLL,	 /* a machine with default-role, and a token at once */
	UNKNOWN_PENDING, /* a machine awaiting approval: a script that waits; no token until approved */
};

struct ctl_config {
	char config_path[PATH_MAX];
	char listen[128];
	struct sockaddr_storage listen_addr;
	socklen_t listen_len;
	char url[256];		   /* how nodes reach the controller: http://HOST:PORT */
	char data_dir[PATH_MAX];
	char pxe_dir[PATH_MAX];	   /* templates boot.ipxe.in, dnsmasq.conf.in */
	enum netboot_mode netboot;
	char interface[IF_NAMESIZE];
	char dhcp_range[128];	   /* dhcp: "FIRST,LAST,NETMASK"; proxy: "NETWORK" */
	char ipxe_dir[PATH_MAX];
	char dnsmasq[PATH_MAX];
	enum unknown_policy unknown_mac;
	char default_role[64];
	char kernel_args[512];	   /* extra kernel arguments for every node */
	unsigned heartbeat_interval;
	unsigned down_after;
	unsigned token_ttl;
	enum log_level log_level;
	int syslog;
	int api_cache; /* answer repeated GETs from the rendered-answer cache */
	unsigned long long max_body;
	unsigned http_connections;
	unsigned http_threads;
	/* the zone's guest network (desired-state documents, IPAM) */
	char guest_subnet[64];	/* "198.51.100.0/24"; "" = no guest network */
	char guest_gateway[64];
	char guest_dns[128];	/* comma-separated */
	char guest_subnet6[64];	/* "2001:db8:100::/64"; "" = IPv4 only */
	char guest_uplink[16];
	double cpu_overcommit, memory_overcommit, disk_overcommit;
	unsigned long long user_data_max; /* bytes */
	/* bounds on unsigned callers and on stored history (0 disables each) */
	unsigned public_rate;	     /* requests per second per address */
	unsigned public_burst;
	unsigned events_keep_days;
	unsigned long long events_keep_max;
	unsigned operations_keep_days;
	/* internal networks a template URL may still point into (template_url_check) */
	struct netaddr_list template_allow;
};

/* Command line over configuration file, validated (err names file:line or option). */
int config_load(int argc, char **argv, struct ctl_config *cfg, enum config_action *action,
		struct errmsg *err);
struct conf;
int config_from_conf(struct conf *c, struct ctl_config *cfg, struct errmsg *err);
void config_usage(FILE *out, const char *prog);

/* --- util.c ------------------------------------------------------------------ */

/* "prefix-" + 16 random hex digits */
int util_new_id(char *out, size_t outlen, const char *prefix);
/* n random bytes as 2n hex digits */
int util_random_hex(char *out, size_t outlen, size_t nbytes);
/* RFC 3339 UTC "2026-01-02T03:04:05Z" */
const char *util_time_str(time_t t, char *out, size_t outlen);
json_t *util_time_json(long long t);
/* Normalises a MAC ("AA-BB-..", "aa:bb:..") to lower case with colons; -1 when not one. */
int util_mac_parse(const char *text, char out[18]);
/* [a-z0-9][a-z0-9-]{0,62}: roles, names, label keys */
int util_name_valid(const char *s, size_t max);
/* [A-Za-z0-9][A-Za-z0-9._+-]{0,63}: image versions */
int util_version_valid(const char *s);
int util_ipv4_valid(const char *s);
/* Appends s as a JSON string (NULL as null); s must be valid UTF-8 (it came through jansson). */
int util_json_string(struct buf *out, const char *s);
/* Appends a decimal integer. */
int util_json_int(struct buf *out, long long v);
/* Appends a time as a JSON RFC 3339 string (null when t <= 0). */
int util_json_time(struct buf *out, long long t);

/* --- db.c -------------------------------------------------------------------- */

/*
 * One SQLite connection in WAL mode, shared by the HTTP thread, the main loop
 * and background operations under db->lock. Every write is one transaction,
 * committed (synchronous=FULL) before the caller answers.
 */
struct db {
	sqlite3 *h;
	pthread_mutex_t lock;
	unsigned long long changes; /* bumped on every committed write (caches key on it) */
};

int db_open(struct db *db, const char *path, struct errmsg *err);
void db_close(struct db *db);
/* The schema version after migrations. */
int db_schema_version(struct db *db);
void db_lock(struct db *db);
void db_unlock(struct db *db);
/* Under the lock: BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);
/* Runs one statement with text parameters (NULL binds NULL); -1 and logs on error. */
int db_exec(struct db *db, const char *sql, int nparams, const char *const *params);
/* Prepares, logs on failure. */
sqlite3_stmt *db_prepare(struct db *db, const char *sql);
/* Binds a text parameter or NULL. */
int db_bind_text(sqlite3_stmt *st, int idx, const char *value);
const char *db_col_text(sqlite3_stmt *st, int col);
/* Records an event (inside the caller's transaction). */
int db_event(struct db *db, const char *type, const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Bumped by every committed write: what a cached answer was rendered from. */
unsigned long long db_generation(struct db *db);
/* "PRAGMA integrity_check" == "ok" */
int db_integrity_ok(struct db *db);

/* --- auth.c ------------------------------------------------------------------ */

enum auth_role { AUTH_ROLE_ADMIN, AUTH_ROLE_NODE, AUTH_ROLE_USER };

/* "admin", "node" or "user", as stored in api_keys.role */
const char *auth_role_name(enum auth_role role);

struct auth_principal {
	char key_id[72];
	enum auth_role role;
	char account_id[40];
	char node_id[40]; /* for AUTH_ROLE_NODE */
};

/*
 * Creates the first admin key when there is none and writes it (URL, key,
 * secret in cloudctl's config format) to path with mode 0600. Returns 1 when a
 * key was created, 0 when one existed, -1 on error.
 */
int auth_bootstrap(struct db *db, const char *path, const char *url);
/* Creates a key; secret must hold 65 bytes. */
int auth_key_create(struct db *db, enum auth_role role, const char *account_id,
		    const char *node_id, char key_id[72], char secret[65]);
/*
 * Verifies a signed request. Returns 0 and fills who, or -1 with why (a
 * message for the 401).
 */
struct sign_query_arg;
int auth_verify(struct db *db, const char *authorization, const char *method, const char *path,
		const struct sign_query_arg *args, size_t nargs, const char *body, size_t body_len,
		time_t now, struct auth_principal *who, char *why, size_t whylen);
/* The same with the body's digest given (uploads: the digest the client declared and signed). */
int auth_verify_digest(struct db *db, const char *authorization, const char *method, const char *path,
		       const struct sign_query_arg *args, size_t nargs, const char *body_sha256_hex, time_t now,
		       struct auth_principal *who, char *why, size_t whylen);

/* --- images.c ---------------------------------------------------------------- */
struct controller;
/*
 * Sends the open file fd (taken over) with ETag (etag, or size-mtime), 304 on
 * If-None-Match, Range (206/416); counted as image requests.
 */
int images_send_fd(struct controller *ctrl, struct httpd_request *req, struct httpd_response *resp, int fd,
		   const char *etag, const char *content_type);

#define IMAGE_FILES { "vmlinuz", "initramfs.img", "SHA256SUMS", "manifest.json" }

/* Parses SHA256SUMS text; finds the digest of name. */
int images_sums_lookup(const char *sums, const char *name, char hex[65]);
/* Starts an import of source_dir as version in the background (op_id tracks it). */
int images_import_start(struct controller *ctrl, const char *version, const char *source_dir,
			const char *op_id);
/* The default version ("" when none). */
int images_default(struct db *db, char *out, size_t outlen);
/* Registers GET /images/{version}/{file}. */
int images_register(struct controller *ctrl);
/* Parses a Range value for a file of size bytes: 0 ok, -1 unsatisfiable, 1 ignore (serve whole). */
int images_parse_range(const char *value, unsigned long long size, unsigned long long *start,
		       unsigned long long *len);

/* --- bootscript.c ------------------------------------------------------------ */

struct bootscript_vars {
	const char *image_url;
	const char *controller;
	const char *role;
	const char *kernel_args;
};

int bootscript_render(const char *tmpl, const struct bootscript_vars *v, struct buf *out,
		      struct errmsg *err);
int bootscript_register(struct controller *ctrl);

/* --- netboot.c --------------------------------------------------------------- */

/* Renders dnsmasq's configuration for cfg from the template text. */
int netboot_render(const struct ctl_config *cfg, const char *tmpl, const char *hosts_path,
		   struct buf *out, struct errmsg *err);
/* dnsmasq, the iPXE binaries and the template are there and render (into conf). */
int netboot_check(const struct ctl_config *cfg, struct buf *conf, const char *hosts_path,
		  struct errmsg *err);
/* Writes the configuration and starts dnsmasq (no-op when netboot is off). */
int netboot_start(struct controller *ctrl);
/* Called from the main loop: restarts dnsmasq if it died (with backoff), reloads hosts if asked. */
void netboot_tick(struct controller *ctrl);
/*
 * The address dnsmasq leased to mac, from the text of its lease file
 * ("EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID" lines; expiry 0 never ends): 1
 * when addr is among the unexpired leases of mac, else 0 with leased set to
 * the first unexpired address of mac ("" when it has none).
 */
int netboot_lease_matches(const char *leases, const char *mac, const char *addr, time_t now, char *leased,
			  size_t leasedlen);
/* DATA-DIR/dnsmasq/dnsmasq.leases: the lease file of the dnsmasq the controller runs. */
int netboot_lease_path(const struct ctl_config *cfg, char *out, size_t outlen);
/* Asks for the known-MAC list to be rewritten and dnsmasq to re-read it. */
void netboot_hosts_changed(struct controller *ctrl);
void netboot_stop(struct controller *ctrl);

/* --- nodes.c ----------------------------------------------------------------- */

/* Marks nodes unknown / down from their last heartbeat; one event per change. */
int nodes_sweep(struct controller *ctrl, time_t now);
/*
 * Heartbeats of nodes that are already up are kept in memory and written in
 * one transaction per second (nodes_flush), so 1,000 nodes cost one commit a
 * second rather than 200, and cached listings stay valid in between.
 * Returns 0, or -1 with ENOMEM (the caller then writes it directly).
 */
int nodes_heartbeat_later(struct controller *ctrl, const char *node_id, time_t when, char *status_text);
/* A heartbeat arrived after the last flush: the node is alive whatever the table says. */
int nodes_heartbeat_pending(struct controller *ctrl, const char *node_id);
/* Writes the pending heartbeats (main loop, before nodes_sweep). */
int nodes_flush(struct controller *ctrl);
/* Issues a one-time enrollment token for mac (stored hashed). */
int nodes_issue_token(struct controller *ctrl, const char *mac, const char *machine_id,
		      char token[65]);

/* --- ratelimit.c ------------------------------------------------------------ */

/*
 * Token buckets keyed by client address: each address may spend burst
 * requests at once, refilled at rate per second, in a table of
 * RATELIMIT_SETS * RATELIMIT_WAYS buckets (least recently used evicted).
 * Thread-safe. now is seconds on any clock that does not jump (tests pass
 * their own).
 */
#define RATELIMIT_SETS 256
#define RATELIMIT_WAYS 8
#define RATELIMIT_KEY_MAX 64 /* bytes of an address key, with its NUL */
struct ratelimit;
/* NULL with errno (EINVAL unless rate > 0 and burst >= 1). */
struct ratelimit *ratelimit_new(double rate, double burst);
void ratelimit_free(struct ratelimit *rl);
/* Takes a token for key: 0 when the request may go on, else the seconds until it may (>= 1). */
unsigned ratelimit_take(struct ratelimit *rl, const char *key, double now);
/* Addresses in the table; requests refused so far. */
size_t ratelimit_tracked(struct ratelimit *rl);
unsigned long long ratelimit_limited(struct ratelimit *rl);

/* --- prune.c ----------------------------------------------------------------- */

struct prune_limits {
	unsigned events_keep_days;	 /* 0: no age limit */
	unsigned long long events_keep_max; /* 0: no count limit */
	unsigned operations_keep_days;	 /* 0: finished operations are kept */
};

struct prune_result {
	unsigned long long events, operations; /* rows deleted */
	int more;			       /* stopped at max_batches with rows left to delete */
};

/*
 * Deletes events older than the age limit and beyond the newest
 * events_keep_max, and operations finished (success, failure) longer than
 * operations_keep_days ago; a pending operation stays whatever its age.
 * Takes the db lock for one transaction of at most CTL_PRUNE_BATCH rows at
 * a time, max_batches of them. 0, or -1 when a statement failed.
 */
int prune_run(struct db *db, const struct prune_limits *l, time_t now, unsigned max_batches,
	      struct prune_result *out);
/* Main loop: prunes every CTL_PRUNE_INTERVAL seconds (every second while a backlog remains). */
void prune_tick(struct controller *ctrl, time_t now);

/* --- node_client.c ----------------------------------------------------------- */

#define NODE_CLIENT_LIFETIME 60	  /* seconds a signature on a node request is valid (the node allows clock skew) */

/*
 * GET http://NODE-ADDRESS:NODE_API_PORT + path (+ the query args) from cloudd,
 * signed (sign.h) with the node's key id and sign_node_key() of its secret:
 * cloudd accepts nothing else but /health and /metrics. Returns 0 when an
 * answer arrived (any status), or -1 with out->error and errno: ENOENT no
 * such node, ENXIO no address, ENOKEY no live key, EHOSTUNREACH no answer.
 */
struct httpc_response;
struct sign_query_arg;
int node_client_get(struct controller *ctrl, const char *node_id, const char *path, const struct sign_query_arg *args,
		    size_t nargs, long timeout_seconds, struct httpc_response *out);

/* --- api.c and api_*.c ------------------------------------------------------- */

/*
 * "I already replied", one convention everywhere:
 * - a handler (api_fn) returns 0 once resp holds its answer, whatever the
 *   status, and -1 with errno only when it has none (the server answers 500);
 * - a helper that checks part of a request (api_parse_body, api_check_*,
 *   api_get_string, tenant_owner, api_upload_authorize, ...)
 *   returns 0 when the request goes on, API_REPLIED when it has filled resp
 *   (a refusal, or a 500 it wrote itself): the handler then returns 0 (an
 *   upload's begin() returns httpd's 1);
 * - an operation (ops.h) never replies: it returns -1 with a struct op_error
 *   that the handler renders with op_reply_error.
 */
#define API_REPLIED (-1)

#define API_PUBLIC 0x1 /* no signature needed */
#define API_ADMIN 0x2  /* admin keys only */
#define API_NODE 0x4   /* node credentials allowed */
#define API_USER 0x10  /* user keys allowed (handlers scope by account) */
#define API_CACHE 0x8  /* GET whose 200 answer depends only on the database: cached per query until the next write */
/*
 * An unsigned route counted against public-rate per client address (429
 * beyond it). Every API_PUBLIC route with a method other than GET or HEAD
 * gets it; a GET that writes (/boot.ipxe) asks for it.
 */
#define API_LIMITED 0x20

typedef int (*api_fn)(struct controller *ctrl, const struct auth_principal *who,
		      struct httpd_request *req, struct httpd_response *resp);

struct api_route {
	struct controller *ctrl;
	api_fn fn;
	unsigned flags;
	const char *method, *pattern;
	const char *summary;	   /* for /v1/openapi.json */
	const char *request_schema; /* JSON Schema text of the body, or NULL */
};

/* Registers a handler behind signature checking (unless API_PUBLIC) and role checks. */
int api_route(struct controller *ctrl, const char *method, const char *pattern, api_fn fn,
	      unsigned flags, const char *summary, const char *request_schema);
/*
 * An upload route (httpd_route_upload; ops->begin gets ctrl as its ctx): listed
 * in /v1/openapi.json, its begin() calls api_upload_authorize first.
 */
int api_route_upload(struct controller *ctrl, const char *method, const char *pattern,
		     const struct httpd_upload_ops *ops, unsigned flags, const char *summary);
/*
 * A route as data, api_route's arguments: a file's routes as one table, in
 * the order of /v1/openapi.json. fn NULL: an upload route
 * (api_route_upload) with the table's upload handlers.
 */
struct api_route_def {
	const char *method, *pattern;
	api_fn fn;
	unsigned flags;
	const char *summary;
	const char *request_schema; /* JSON Schema text, or NULL */
};
/*
 * Registers the n routes of table, in order: 0, or -1 at the first that
 * fails. upload: the handlers of the table's upload routes (NULL: it has
 * none; an upload route then fails with EINVAL).
 */
int api_route_table(struct controller *ctrl, const struct api_route_def *table, size_t n,
		    const struct httpd_upload_ops *upload);
#define API_ROUTE_TABLE(ctrl, table, upload) api_route_table((ctrl), (table), sizeof(table) / sizeof((table)[0]), (upload))
/*
 * An upload's signature, before its body is read: the client declares the
 * body's SHA-256 in the header API_CONTENT_SHA256 and signs that digest (the
 * receiver compares it with what arrives). Returns 0 (who filled), or
 * API_REPLIED (400, 401, 403).
 */
#define API_CONTENT_SHA256 "X-Cloudd-Content-Sha256"
int api_upload_authorize(struct controller *ctrl, struct httpd_request *req, struct httpd_response *resp,
			 unsigned flags, struct auth_principal *who);
/* The client's IP address as text ("" when unknown). */
const char *api_client_addr(struct httpd_request *req, char *out, size_t outlen);
int api_register(struct controller *ctrl);
int api_nodes_register(struct controller *ctrl);
int api_machines_register(struct controller *ctrl);
int api_images_register(struct controller *ctrl);

/* Body helpers: 0 ok; -1 when the reply (4xx) is already filled. */
int api_parse_body(struct httpd_request *req, struct httpd_response *resp, json_t **out);
/* Rejects members not in the NULL-terminated list allowed (400). */
int api_check_fields(json_t *obj, const char *const *allowed, struct httpd_response *resp);
/* Rejects query arguments not in allowed (400). */
int api_check_query(struct httpd_request *req, const char *const *allowed,
		    struct httpd_response *resp);
/*
 * One page of a list: the pagination of every list endpoint (docs/api.md).
 * The query's limit (1..CTL_LIST_MAX, default CTL_LIST_DEFAULT) and cursor
 * (a next_cursor of this list) are checked (400 naming the parameter). sql
 * selects the rows in the list's order; its LAST column is the row's key:
 * unique, in that order, URL-safe and at most API_CURSOR_MAX bytes (it is the
 * cursor). It takes ?1 the cursor (NULL on the first page; write
 * "(?1 IS NULL OR KEY > ?1)"), ?2 the rows to read ("LIMIT ?2"), and params
 * as ?3, ?4, ... Each row is rendered by write (appending JSON text) or by row.
 * A handler: 0 when resp holds the page or the 400, -1 with errno.
 */
#define API_CURSOR_MAX 120 /* bytes of a cursor (cloudctl keeps 127) */
#define API_CURSOR_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+" /* versions may hold '+' */
struct api_list {
	const char *sql;
	const char *const *params; /* text; NULL binds NULL */
	size_t nparams;
	json_t *(*row)(struct db *db, sqlite3_stmt *st, void *ctx);
	int (*write)(struct buf *out, sqlite3_stmt *st);
	void *ctx;
	int numeric_cursor; /* the key is an integer >= 0 */
};
int api_list_page(struct controller *ctrl, struct httpd_request *req, struct httpd_response *resp,
		  const struct api_list *l);
/* One tenant resource by its {id} (an id or name) in the key's scope: 200, or 404 "no WHAT ...". */
int api_reply_found(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
		    struct httpd_response *resp, json_t *(*find)(struct db *db, const char *ref, const char *scope),
		    const char *what);
/* Creates an operation row (pending). */
int api_operation_create(struct db *db, const char *type, const char *target, char id[40]);
int api_operation_finish(struct db *db, const char *id, int ok, const char *reason);
json_t *api_openapi(struct controller *ctrl);
/* Like api_operation_create, owned by an account (its keys may read it). */
int api_operation_create_for(struct db *db, const char *type, const char *target, const char *account_id,
			     char id[40]);
/* Operation as JSON (NULL when absent). */
json_t *api_operation_find(struct db *db, const char *id);

/* --- tenants (api_accounts.c) -------------------------------------------------- */

/* The account a principal's queries are scoped to; NULL for admin keys (all accounts). */
const char *tenant_scope(const struct auth_principal *who);
/* The account a created resource belongs to: the admin's choice of "account" (when given) or the key's. */
int tenant_owner(struct db *db, const struct auth_principal *who, json_t *doc, char out[40],
		 struct httpd_response *resp);
/* A required or optional string member; 0 ok, -1 with the 400 filled in. */
int api_get_string(json_t *doc, const char *name, int required, size_t max, const char **out,
		   struct httpd_response *resp);
int api_accounts_register(struct controller *ctrl);
int api_instance_types_register(struct controller *ctrl);
int api_ssh_keys_register(struct controller *ctrl);
int api_security_groups_register(struct controller *ctrl);
int api_templates_register(struct controller *ctrl);
int api_instances_register(struct controller *ctrl);
/* Security-group rule fields checked as the node's documents require; 0 or -1 with why. */
int sg_rule_check(json_t *rule, char *why, size_t whylen);
int ssh_key_check(const char *text, char type[32], int *bits, char *why, size_t whylen);
json_t *template_find(struct db *db, const char *ref, const char *scope);
json_t *sg_find(struct db *db, const char *ref, const char *scope, int with_rules);
/*
 * A group's rules as stored, in creation order: with their ids for the API,
 * without them (with_ids 0) in the node's format (desired.c reads them with
 * sg_rule_parse). A new reference, or NULL.
 */
json_t *sg_rules_json(struct db *db, const char *group_id, int with_ids);

/* --- ipam.c ---------------------------------------------------------------------- */

struct ipam_subnet {
	unsigned int network, prefix, gateway; /* host order */
};

int ipam_parse(const char *cidr, const char *gateway, struct ipam_subnet *s);
/* The n-th usable host address (skipping network, broadcast and gateway); -1 past the end. */
int ipam_nth(const struct ipam_subnet *s, unsigned long n, char out[16]);
unsigned long ipam_size(const struct ipam_subnet *s);
/*
 * Takes a free address for owner inside the caller's transaction (the
 * address is the table's primary key, so it is never handed out twice).
 * ENOSPC when the subnet is full, ENOENT without a guest subnet.
 */
int ipam_allocate(struct controller *ctrl, const char *owner, const char *kind, char out[16]);
int ipam_release(struct db *db, const char *owner);
/* IPv6: "PREFIX/LEN" with LEN 64..120 and no host bits. */
int ipam6_parse(const char *cidr, unsigned char net[16], unsigned *prefix);
/* The n-th address (network + 2 + n; ::1 of the subnet is left to a router); -1 past the end. */
int ipam6_nth(const unsigned char net[16], unsigned prefix, unsigned long n, char out[46]);
/* As ipam_allocate, from guest-subnet6 (ENOENT when it is not set). */
int ipam6_allocate(struct controller *ctrl, const char *owner, const char *kind, char out[46]);

/* --- scheduler.c ------------------------------------------------------------------- */

struct sched_node {
	char id[40];
	char state[16];
	char role[64];
	long long vcpus, memory_mib, disk_gib;		/* capacity */
	long long used_vcpus, used_memory_mib, used_disk_gib;
	json_t *labels;	  /* machine labels (borrowed) */
	int has_anti_affinity; /* hosts an instance of the request's anti-affinity group */
};

struct sched_request {
	const char *role;
	long long vcpus, memory_mib, disk_gib;
	json_t *labels; /* required labels (may be NULL) */
	double cpu_overcommit, memory_overcommit, disk_overcommit;
};

/*
 * Picks the node with the most free memory that fits; -1 with why
 * ("no node with 4 GiB free: n-1 2 GiB free, n-2 down") when none does.
 * Returns the index. ever_fits is set when some node could hold the request empty.
 */
int sched_pick(const struct sched_node *nodes, size_t n, const struct sched_request *r, struct buf *why,
	       int *ever_fits);
/* Loads the candidates (under the db lock). */
int sched_load(struct controller *ctrl, const char *anti_affinity, const char *account_id,
	       struct sched_node **out, size_t *n);
void sched_free(struct sched_node *nodes, size_t n);

/* --- desired.c and watch.c ------------------------------------------------------- */

/* Renders a node's desired-state document (under the db lock). */
json_t *desired_render(struct controller *ctrl, const char *node_id);
/* Bumps the revision of one node / of every node (inside the caller's transaction). */
int desired_touch_node(struct db *db, const char *node_id);
int desired_touch_all(struct db *db);
/* Called after a commit that touched revisions: wakes the held watches. */
void watch_notify(struct controller *ctrl);
/* Main loop: answers the watches whose wait is over. */
void watch_tick(struct controller *ctrl);
void watch_shutdown(struct controller *ctrl);
int watch_register(struct controller *ctrl);

/* --- the controller ---------------------------------------------------------- */

struct netboot;

/*
 * Rendered answers of cacheable GETs (API_CACHE), keyed by path and canonical
 * query, valid while the database's write generation is unchanged. Listing
 * 1,000 nodes costs milliseconds to render and microseconds to copy.
 */
#define API_CACHE_SLOTS 16
#define API_CACHE_MAX_BODY (8 << 20) /* bytes: larger answers are not kept */

struct api_cache_body {
	unsigned refs; /* the slot's and one per response in flight (atomic) */
	size_t len;
	char data[];
};

struct api_cache {
	pthread_mutex_t lock;
	struct {
		char *key;
		unsigned long long generation;
		unsigned long long used;  /* for LRU */
		struct api_cache_body *body; /* shared with responses being sent */
	} slots[API_CACHE_SLOTS];
	unsigned long long clock, hits, misses;
};

struct ctl_counters {
	pthread_mutex_t lock;
	unsigned long long boot_known, boot_enrolled, boot_ignored, boot_pending, boot_bad;
	unsigned long long image_ok, image_partial, image_not_modified, image_not_found;
	unsigned long long image_bytes;
};

struct controller {
	struct ctl_config cfg;
	struct db db;
	struct httpd *http;
	struct netboot *netboot;
	struct ctl_counters counters;
	struct api_cache cache;
	struct nodes_pending *pending; /* heartbeats not yet written (nodes.c) */
	pthread_mutex_t pending_lock;
	time_t started;
	char images_dir[PATH_MAX];
	char boot_template[PATH_MAX];
	struct api_route routes[160];
	struct watch_waiter *waiters; /* held desired-state watches (watch.c) */
	pthread_mutex_t waiters_lock;
	int shutting_down;
	unsigned long ipam_hint, ipam6_hint;
	size_t nroutes;
	struct ratelimit *public_limit; /* unsigned routes that write (NULL: public-rate = 0) */
	time_t pruned_at;		/* last prune (prune.c) */
	int prune_more;			/* the last prune left rows to delete */
};

#endif
