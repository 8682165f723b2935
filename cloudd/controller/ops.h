/* ops.h -- the controller's operations: typed requests in, one typed error out, each owning its transaction */
#ifndef CLOUDD_CONTROLLER_OPS_H
#define CLOUDD_CONTROLLER_OPS_H

#include "controller.h"
#include "defaults.h"

/*
 * An HTTP handler parses and validates its request, calls one operation and
 * renders what it returns. An operation takes the database lock, runs its
 * transaction, wakes the nodes' watches after a commit that changed a
 * document, and returns 0, or -1 with err filled: a refusal (4xx, a stable
 * code, a message naming the field), or an internal failure (status 500,
 * errno kept).
 */
struct op_error {
	int status;	   /* HTTP status: 4xx refused, 500 internal */
	char code[32];	   /* stable machine-readable code ("unknown_type") */
	char message[512]; /* for a human; names the field */
	int errnum;	   /* status 500: the errno of the failure */
};

/* A resource named by id or name in scope (an account, NULL for every one), on behalf of actor (a key id). */
struct op_ref {
	const char *ref;
	const char *scope;
	const char *actor;
};

/* --- ops.c ------------------------------------------------------------------- */

/* Fills err with a refusal; returns -1. */
int op_fail(struct op_error *err, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Fills err with an internal failure from errno (kept); returns -1. */
int op_internal(struct op_error *err, const char *what);
/* The handler's reply for a failed operation: 0 when resp holds a 4xx, -1 with errno for a 500. */
int op_reply_error(struct httpd_response *resp, const struct op_error *err);

/* --- ops_instances.c --------------------------------------------------------- */

#define INSTANCE_MAX_GROUPS 16 /* security groups per instance */
#define INSTANCE_MAX_KEYS 32   /* SSH keys per instance */

struct instance_create_req {
	const char *account;	   /* the owner (tenant_owner) */
	const char *name;	   /* valid name (util_name_valid) */
	const char *type;	   /* instance type name */
	const char *template_ref;  /* template id or name */
	const char *user_data;	   /* NULL: none */
	const char *anti_affinity; /* NULL: none */
	json_t *node_labels;	   /* required labels {k: v}, or NULL */
	json_t *security_groups;   /* names or ids, or NULL */
	json_t *ssh_keys;	   /* names or ids, or NULL */
};

/*
 * Schedules, addresses and inserts an instance. *operation is its operation
 * (pending; or failed with the reason when every node is full, and then
 * *instance is NULL). Refusals: 422 no_guest_network, unknown_template,
 * unknown_type, disk_too_small, unknown_security_group, unknown_ssh_key,
 * no_capacity; 409 template_not_ready, conflict (name), no_address; 413
 * too_large (user_data); 400 bad_field (a list's shape).
 */
int instance_create(struct controller *ctrl, const struct instance_create_req *r, json_t **operation,
		    json_t **instance, struct op_error *err);

enum instance_power_action { INSTANCE_START, INSTANCE_STOP, INSTANCE_REBOOT };


/*
 * start, stop, reboot: what the node must do, followed by *operation (done
 * at once when the instance already is in that state). A reboot raises the
 * instance's reboot generation: the node resets the guest (same QEMU) and the
 * operation succeeds when it reports that generation. 404 not_found, 409
 * conflict (being deleted; reboot of a stopped instance).
 */
int instance_power(struct controller *ctrl, const struct op_ref *r, enum instance_power_action action,
		   json_t **operation, struct op_error *err);
/* Deletes: the address is released at once; the node removes the guest and its volumes. */
int instance_delete(struct controller *ctrl, const struct op_ref *r, json_t **operation, struct op_error *err);
/* Replaces the instance's security groups (names or ids of its account); *instance is the result. */
int instance_set_groups(struct controller *ctrl, const struct op_ref *r, json_t *groups, json_t **instance,
			struct op_error *err);

/* One instance of a node's actual-state report (cloudd's GET /v1/state). */
struct instance_report {
	const char *id;
	const char *status;  /* running, stopped, stopping, pending, error, ... */
	const char *desired; /* the power the node converges to, or NULL */
	const char *error;   /* NULL: none */
	long long reboot;    /* the reboot generation the guest has seen; -1 when not reported */
};

struct node_report {
	const char *node_id;
	const char *document; /* the report as text, kept as the node's actual state */
	const struct instance_report *instances;
	size_t n_instances;
};

/*
 * Records a node's report: each instance's state and reason, the end of its
 * pending operation (its power state reached, its reboot generation seen, or
 * an error), and instances deleted that the node no longer has are forgotten.
 * 404 not_found when there is no such node.
 */
int instance_report(struct controller *ctrl, const struct node_report *r, struct op_error *err);

/*
 * The one derivation of the state a client sees: "deleting" once deletion
 * was asked, "unknown" while the instance's node is not up, otherwise what
 * the node's reports made of it (reported, kept by instance_report).
 */
const char *instance_state(const char *power, const char *reported, const char *node_id, const char *node_state);
/* The instance as the API shows it (under the db lock), or NULL. */
json_t *instance_find(struct db *db, const char *ref, const char *scope);
/* The columns instance_json reads, and a row of them as the API shows it. */
#define INSTANCE_COLS "i.id, i.account_id, i.name, i.type, i.vcpus, i.memory_mib, i.disk_gib, i.template_id, i.node_id," \
		      " i.mac, i.ipv4, i.ipv6, i.power, i.state, i.state_reason, n.state, i.anti_affinity, i.node_labels," \
		      " i.operation_id, i.created_at, i.updated_at, i.reboot_generation, i.reboot_reported"
json_t *instance_json(struct db *db, sqlite3_stmt *st);

/* --- ops_security_groups.c --------------------------------------------------- */

#define SG_MAX_RULES SECGROUP_MAX_RULES /* rules per security group: a node refuses a group with more */

struct sg_create_req {
	const char *account;	 /* the owner */
	const char *name;	 /* valid name */
	const char *description; /* NULL: none */
};

/* A rule, its fields already checked as the node's documents require (sg_rule_check). */
struct sg_rule_req {
	const char *direction, *protocol;
	const char *ports; /* NULL: none */
	const char *cidr;  /* NULL, or group is NULL */
	const char *group; /* a group of the same account by id or name, or NULL */
	int has_icmp_type, has_icmp_code;
	long long icmp_type, icmp_code;
};

/* Creates an empty group (ingress denied); *group its JSON. 409 conflict when the account has the name. */
int sg_create(struct controller *ctrl, const struct sg_create_req *r, json_t **group, struct op_error *err);
/* Removes a group no instance uses and no other group's rule names: 404, 409 in_use. */
int sg_delete(struct controller *ctrl, const struct op_ref *group, struct op_error *err);
/*
 * Adds a rule; every node's document changes. *group is the group with its
 * rules. 404 not_found, 422 unknown_group (the rule's group), too_many_rules.
 */
int sg_rule_add(struct controller *ctrl, const struct op_ref *group, const struct sg_rule_req *rule, json_t **result,
		struct op_error *err);
/* Removes a rule of the group; every node's document changes. 404 for the group or the rule. */
int sg_rule_delete(struct controller *ctrl, const struct op_ref *group, const char *rule_id, struct op_error *err);

/* --- ops_catalog.c: named resources, SSH keys, templates, instance types ----- */

/*
 * A kind of resource named by id or name in an account's scope: one lookup,
 * one show, one list page and one delete serve SSH keys, templates, instance
 * types, instances, security groups, accounts and API keys.
 */
struct named_kind {
	const char *what;   /* in messages: "no SSH key x" */
	const char *a_what; /* "an SSH key named x exists" */
	const char *find;   /* SELECT of the row named ?1 visible to the scope ?2 (NULL: every account), best first */
	const char *list;   /* api_list SQL (pages in its own order), the scope as ?3; NULL: not listed */
	const char *remove; /* DELETE of the row whose id is ?1; NULL: not removed by named_delete */
	json_t *(*json)(struct db *db, sqlite3_stmt *st); /* a row of find or list as the API shows it */
};

extern const struct named_kind ssh_key_kind, template_kind, instance_type_kind, security_group_kind;

/* The resource kind names ref in scope (under the db lock), or NULL. */
json_t *named_find(struct db *db, const struct named_kind *kind, const char *ref, const char *scope);
/* The first column of sql (?1 id) as an integer: a count. -1 on failure. */
int named_count(struct db *db, const char *sql, const char *id);
/* A row inserted by named_insert: the sql's parameters are text (SQLite converts by column affinity). */
struct named_new {
	const char *id;		    /* the new row's id */
	const char *sql;	    /* the INSERT */
	const char *const *params;
	int nparams;
	const char *name;	    /* its name, for the 409 */
	const char *event;	    /* the event type, or NULL: none */
	const char *text;	    /* the event's text */
};
/* Inserts the row and its event in one transaction; *doc is the row read back. 409 conflict (the name is taken). */
int named_insert(struct controller *ctrl, const struct named_kind *kind, const struct named_new *row, json_t **doc,
		 struct op_error *err);
/*
 * Runs sql, a change of one row, and records the event (its text in text)
 * in one transaction: 404 not_found with the message missing when it
 * changes no row.
 */
int named_change(struct controller *ctrl, const char *sql, int nparams, const char *const *params, const char *missing,
		 const char *event, const char *subject, const char *text, struct op_error *err);
/* *doc is the resource r names in its scope: 404 not_found. */
int named_show(struct controller *ctrl, const struct named_kind *kind, const struct op_ref *r, json_t **doc,
	       struct op_error *err);

struct ssh_key_create_req {
	const char *account;	/* the owner */
	const char *name;	/* valid name */
	const char *public_key; /* "TYPE BASE64 [COMMENT]", checked here (ssh_key_check) */
};

/* Registers a key; *key its JSON. 400 bad_field (public_key), 409 conflict (the account has the name). */
int ssh_key_create(struct controller *ctrl, const struct ssh_key_create_req *r, json_t **key, struct op_error *err);
/* Removes a key of the scope: 404 not_found. Instances keep the keys they were created with. */
int ssh_key_delete(struct controller *ctrl, const struct op_ref *r, struct op_error *err);

struct template_create_req {
	const char *account, *name;
	const char *format;		/* raw, qcow2 or kernel */
	const char *url, *sha256;	/* NULL when uploaded */
	const char *initrd_url;		/* NULL: none; "": to be uploaded */
	const char *initrd_sha256;	/* NULL: none */
	const char *cmdline;		/* NULL: none */
	long long size;			/* bytes; -1: not given */
	long long min_disk_gib;
	int public, upload;
};

/* Registers a template (or creates one awaiting its upload); *tpl its JSON. 409 conflict (name). */
int template_create(struct controller *ctrl, const struct template_create_req *r, json_t **tpl, struct op_error *err);
/*
 * Removes a template no instance uses, with its uploaded files. 404
 * not_found, 403 forbidden (a public template, for a user key), 409 in_use.
 */
int template_delete(struct controller *ctrl, const struct op_ref *r, struct op_error *err);
/*
 * The template an upload of part ("file" or "initrd") goes to: its id and
 * format. 404 not_found, 403 forbidden (another account's), 409 conflict
 * (that part is in already, or the template has no such part).
 */
int template_upload_target(struct controller *ctrl, const struct op_ref *r, const char *part, char id[40],
			   char format[16], struct op_error *err);
/* Records an uploaded part (served at url); *tpl the template. */
int template_upload_done(struct controller *ctrl, const char *id, const char *part, const char *url,
			 const char *sha256, unsigned long long size, json_t **tpl, struct op_error *err);
/* The digest of an uploaded part in etag ("\"sha256-HEX\""): 404 not_found while there is none. */
int template_file_etag(struct controller *ctrl, const char *id, const char *part, char *etag, size_t etaglen,
		       struct op_error *err);

struct instance_type_req {
	const char *name; /* valid name */
	long long vcpus, memory_mib, disk_gib;
	const char *actor; /* the key id, for the event */
};

/* Creates or replaces a size (instances keep the size they were created with); *type its JSON. */
int instance_type_set(struct controller *ctrl, const struct instance_type_req *r, json_t **type, struct op_error *err);
/* Removes a size (r->ref its name; r->actor for the event): 404 not_found. */
int instance_type_delete(struct controller *ctrl, const struct op_ref *r, struct op_error *err);

/* --- ops_accounts.c: accounts and API keys ---------------------------------- */

extern const struct named_kind account_kind, api_key_kind;

/* Creates an account; *account its JSON. 409 conflict (name). */
int account_create(struct controller *ctrl, const char *name, json_t **account, struct op_error *err);
/* The account r names (id or name); a scope (a user key's account) sees only itself, by id: 404 not_found. */
int account_show(struct controller *ctrl, const struct op_ref *r, json_t **account, struct op_error *err);
/* The id of the account ref names (id or name) in out, under the lock it takes: 422 unknown_account. */
int account_resolve(struct db *db, const char *ref, char out[40], struct op_error *err);

struct api_key_create_req {
	const char *account; /* the owner */
	const char *role;    /* "user" or "admin"; NULL: user */
	const char *name;    /* NULL: none */
	const char *actor;   /* the creating key, for the event */
};

/* Creates a key: its id and secret (shown once) in key_id and secret. */
int api_key_create(struct controller *ctrl, const struct api_key_create_req *r, char key_id[72], char secret[65],
		   struct op_error *err);
/* Revokes an active key of the scope (r->actor: the revoking key): 409 conflict (itself), 404 not_found. */
int api_key_revoke(struct controller *ctrl, const struct op_ref *r, struct op_error *err);

/* --- api_named.c: the handlers' side of named resources --------------------- */

/* One page of kind's list in scope; the query may hold limit, cursor and the names in extra (NULL: none). */
int named_reply_list(struct controller *ctrl, struct httpd_request *req, struct httpd_response *resp,
		     const struct named_kind *kind, const char *scope, const char *extra);
/* GET {id}: 200 with the resource the key sees, or 404. */
int named_reply_show(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
		     struct httpd_response *resp, const struct named_kind *kind);
/* DELETE {id}: 204 once op removed the resource the key names, or op's error. */
int named_reply_delete(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
		       struct httpd_response *resp,
		       int (*op)(struct controller *ctrl, const struct op_ref *r, struct op_error *err));
/* The owner of a resource being created (tenant_owner) in account, and its name checked: 0, or API_REPLIED. */
int named_create_check(struct controller *ctrl, const struct auth_principal *who, json_t *doc, const char *name,
		       char account[40], struct httpd_response *resp);
/*
 * The reply of an operation (rc its return): status with *doc (what the
 * operation filled: doc is read once rc is known), or its error; 204: no doc.
 */
int op_reply(struct httpd_response *resp, int rc, const struct op_error *err, unsigned status, json_t *const *doc);

/* --- ops_run.c, ops_nodes.c, ops_images.c: machines, nodes, images ---------- */

/*
 * The body of one transaction (op_transaction): 0 to commit, -1 with err
 * filled to roll back, or OP_COMMIT_REFUSAL to commit what it wrote (the
 * event of a refusal) and still fail with err.
 */
#define OP_COMMIT_REFUSAL 1
typedef int (*op_body_fn)(struct controller *ctrl, void *ctx, struct op_error *err);
/* Runs body(ctrl, ctx, err) between BEGIN and COMMIT under the db lock; what names it in an internal error. */
int op_transaction(struct controller *ctrl, op_body_fn body, void *ctx, const char *what, struct op_error *err);
/* The same when the caller holds the db lock. */
int op_transaction_locked(struct controller *ctrl, op_body_fn body, void *ctx, const char *what, struct op_error *err);
/* find(db, ref, scope) under the db lock: a new reference, or NULL. */
json_t *op_get(struct controller *ctrl, json_t *(*find)(struct db *db, const char *ref, const char *scope),
	       const char *ref, const char *scope);
/* A row as the API shows it (a new reference, or NULL). */
typedef json_t *(*op_row_fn)(sqlite3_stmt *st, void *ctx);
/* Under the db lock: the first row of sql (text params; NULL binds NULL) as row(st, ctx) makes it, or NULL. */
json_t *op_find_row(struct db *db, const char *sql, const char *const *params, int nparams, op_row_fn row, void *ctx);
/*
 * A list that ?state= (one of states) and ?role= may filter: the query
 * checked (400 naming the states), then api_list_page with l->sql taking the
 * state as ?3 and the role as ?4.
 */
int op_reply_list_by_state(struct controller *ctrl, struct httpd_request *req, struct httpd_response *resp,
			   const char *const *states, struct api_list *l);
/* A request's body: a JSON object of allowed members only. 0, or API_REPLIED (a 400) with *doc NULL. */
int op_parse_request(struct httpd_request *req, struct httpd_response *resp, const char *const *allowed, json_t **doc);
/*
 * A DELETE handler's work: del() of the path's param, in the key's scope, on
 * behalf of the key; 204, or the refusal.
 */
int op_reply_deleted(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
		     struct httpd_response *resp, const char *param,
		     int (*del)(struct controller *ctrl, const struct op_ref *ref, struct op_error *err));

/* Machines: netboot profiles by MAC, the operator's (admin keys only; scope is ignored). */
#define MACHINE_COLS "id, mac, name, role, labels, image_version, source, created_at, updated_at, state"
json_t *machine_json(sqlite3_stmt *st, void *ctx); /* ctx unused (op_row_fn) */
/* Under the db lock: the machine with this id, MAC or name, or NULL. */
json_t *machine_find(struct db *db, const char *ref, const char *scope);

/* A machine's fields, their shape already checked (names, role, labels, version). */
struct machine_req {
	const char *mac;	   /* create: normalised; update: as given, the machine's own or refused */
	int has_mac;		   /* update: mac was given (NULL mac: not a string) */
	const char *name;	   /* NULL: none */
	int has_name;		   /* update: name given (NULL clears it) */
	const char *role;	   /* NULL: default-role (create), unchanged (update) */
	const char *labels;	   /* compact JSON object text; NULL: {} (create), unchanged (update) */
	const char *image_version; /* NULL: follow the default */
	int has_image_version;	   /* update: image_version given (NULL: follow the default again) */
	const char *changes;	   /* update: the fields given, for the event ("name, labels") */
};

/* Adds a machine; *machine is it. 422 unknown_image, 409 conflict (the MAC or the name exists). */
int machine_create(struct controller *ctrl, const struct machine_req *r, json_t **machine, struct op_error *err);
/*
 * Changes a machine; *machine is the result. 404 not_found, 400 bad_field
 * (mac), 422 immutable_field (another mac), unknown_image, 409 conflict (name).
 */
int machine_update(struct controller *ctrl, const struct op_ref *ref, const struct machine_req *r, json_t **machine,
		   struct op_error *err);
/* Forgets a machine. 404 not_found. */
int machine_delete(struct controller *ctrl, const struct op_ref *ref, struct op_error *err);
/* A pending machine becomes approved (by ref->actor); an approved one stays so. 404 not_found. */
int machine_approve(struct controller *ctrl, const struct op_ref *ref, json_t **machine, struct op_error *err);

/* Nodes: a listing's columns, and a node's with its sysinfo and status. */
#define NODE_LIST_COLS "id, mac, machine_id, hostname, state, role, image_version, cpu_count," \
		       " memory_bytes, address, registered_at, last_heartbeat, state_changed_at"
#define NODE_COLS NODE_LIST_COLS ", sysinfo, status"
/* Under the db lock: the node with this id or MAC, with sysinfo and status (scope is ignored), or NULL. */
json_t *node_find(struct db *db, const char *ref, const char *scope);

struct node_register_req {
	const char *token;  /* the enrollment token as presented */
	size_t token_len;
	json_t *sysinfo;    /* cloudd's /v1/sysinfo (an object) */
	const char *addr;   /* the client's address, "" when unknown */
};

struct node_credentials {
	char node_id[40];
	char key_id[72];
	char secret[65];
	char role[64];
};

/*
 * Trades a one-time enrollment token for the node's own key (docs/trust.md):
 * the token, spent with every other of its MAC, must be one this controller
 * issued, in time, for an approved machine, presented from that MAC (and
 * with netboot = dhcp from the address dnsmasq leased to it), for a node
 * that is not up. 401 token_unknown, token_expired; 409 token_used, node_up;
 * 403 machine_pending, address_mismatch; 422 mac_mismatch. A refusal leaves
 * an event where a token was reused or a node was claimed.
 */
int node_register(struct controller *ctrl, const struct node_register_req *r, struct node_credentials *out,
		  struct op_error *err);
/* A node is alive (status_text: its summary, NULL keeps the last). 404 not_found. */
int node_heartbeat(struct controller *ctrl, const char *node_id, char *status_text, struct op_error *err);
/* Forgets a node that is not up and revokes its keys. 404 not_found, 409 conflict (up). */
int node_delete(struct controller *ctrl, const struct op_ref *ref, struct op_error *err);
/*
 * A node's /init failed in stage (mac normalized, stage and reason checked,
 * client_addr where the report came from): a boot.failed event.
 */
int node_boot_failure(struct controller *ctrl, const char *mac, const char *stage, const char *reason,
		      const char *client_addr, struct op_error *err);

/* Images: published versions. */
#define IMAGE_COLS "i.version, i.kernel_sha256, i.initrd_sha256, i.kernel_size, i.initrd_size, i.created_at," \
		   " (SELECT count(*) FROM machines m WHERE m.image_version = i.version)"
/* A row of IMAGE_COLS; def is the default version (a string). */
json_t *image_json(sqlite3_stmt *st, void *def);
/* Under the db lock: the image of this version (scope is ignored), or NULL. */
json_t *image_find(struct db *db, const char *version, const char *scope);

struct image_publish_req {
	const char *source;  /* a directory on the controller host, as given */
	const char *version; /* NULL: manifest.json's image_version */
};

struct image_publish_started {
	char operation_id[40];
	char version[80];
};

/*
 * Starts importing source as a version (an operation, pending). 422
 * bad_source, no_version; 409 conflict (published, or being imported).
 */
int image_publish(struct controller *ctrl, const struct image_publish_req *r, struct image_publish_started *out,
		  struct op_error *err);
/* Makes version the default; *image is it. 422 unknown_image. */
int image_set_default(struct controller *ctrl, const char *version, json_t **image, struct op_error *err);
/* Deletes a version that is neither the default nor pinned, and its files. 404 not_found, 409 conflict. */
int image_delete(struct controller *ctrl, const struct op_ref *version, struct op_error *err);

#endif
