/* actual.h -- the actual-state report (node -> controller, cloudd's GET /v1/state) in C structs: one parser, one renderer */
#ifndef CLOUDD_ACTUAL_H
#define CLOUDD_ACTUAL_H

#include <stddef.h>

#include <jansson.h>

#include "defaults.h"
#include "desired.h"
#include "errmsg.h"

/* What the node sees of a guest (docs/desired-state.md, "Reporting"). */
enum actual_status { ACTUAL_PENDING, ACTUAL_RUNNING, ACTUAL_STOPPING, ACTUAL_STOPPED, ACTUAL_ERROR };

struct actual_instance {
	char id[STATE_ID_MAX];
	int has_desired;	  /* 0: no longer in the document, being forgotten ("desired": null) */
	enum state_power desired;
	enum actual_status status;
	int has_runtime;	  /* the node runs or ran it: restarts and reboot are reported */
	long long pid;		  /* of its QEMU, 0 = none */
	long long restarts;	  /* after QEMU exited on its own */
	long long reboot;	  /* the last reboot generation the guest has seen */
	int held;		  /* left stopped by the restart policy */
	char *error;		  /* NULL = none */
	json_t *last_exit;	  /* how QEMU last exited (reason, at, signal...), NULL = never */
};

struct actual_template {
	char id[STATE_ID_MAX];
	enum state_format format;
	int ready;
	char *error; /* NULL = none */
};

struct actual_volume {
	char instance[STATE_ID_MAX];
	char disk[STATE_ID_MAX];
};

struct actual_doc {
	int has_desired;	 /* a desired state was applied: revision, source, applied_at are set */
	long long revision;
	char *source;		 /* where the document came from (URL or file) */
	char *applied_at;	 /* RFC 3339 */
	int converged;
	json_t *last_error;	 /* the last rejected document's error, NULL = none */
	long long rejected_total; /* documents refused since start */
	int has_network;
	char network_bridge[GUEST_IFNAME_MAX];
	int network_applied;
	char *network_error;	 /* NULL = none */
	struct actual_template *templates;
	size_t n_templates;
	struct actual_instance *instances; /* desired ones in document order, then forgotten ones */
	size_t n_instances;
	struct actual_volume *orphan_volumes; /* volumes of instances no longer desired */
	size_t n_orphan_volumes;
	json_t *events;		 /* recent engine events, as the node recorded them; NULL = none */
};

/*
 * Parses a report. Every field is optional (an old node reports less), known
 * fields are type-checked and bounded (ACTUAL_MAX_*), unknown fields are
 * ignored (a newer node reports more). On error returns -1 with err naming
 * the field ("instances[0].status") and errno E2BIG (a list over its limit)
 * or EINVAL; out is then empty. On success the caller frees out.
 */
int actual_parse(const char *text, size_t len, struct actual_doc *out, struct errmsg *err);
int actual_from_json(json_t *root, struct actual_doc *out, struct errmsg *err);
void actual_free(struct actual_doc *doc);

/* The report as cloudd serves it; actual_from_json reads it back. A new reference, or NULL (ENOMEM). */
json_t *actual_to_json(const struct actual_doc *doc);

const struct actual_instance *actual_find_instance(const struct actual_doc *doc, const char *id);
const char *actual_status_name(enum actual_status status);

#endif
