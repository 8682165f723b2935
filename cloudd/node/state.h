/* state.h -- the planner: what the node has, and the actions that bring it to the desired state */
#ifndef CLOUDD_STATE_H
#define CLOUDD_STATE_H

#include <stddef.h>

#include "desired.h"

/* --- the difference between desired and actual --------------------------------- */

/* What the node has, as far as planning is concerned. */
struct state_actual_template {
	char id[STATE_ID_MAX];
	char sha256[65]; /* of the cached file(s) */
};

struct state_actual_volume {
	char instance[STATE_ID_MAX];
	char disk[STATE_ID_MAX];
};

enum state_run { STATE_RUN_STOPPED, STATE_RUN_RUNNING };

struct state_actual_instance {
	char id[STATE_ID_MAX];
	enum state_run run;
	char spec_hash[17]; /* of the spec it was started with */
	int hold;	    /* do not start: restart policy or back-off after a failure */
	long long reboot_done; /* the last reboot generation the guest has seen */
};

struct state_actual {
	struct state_actual_template *templates;
	size_t n_templates;
	struct state_actual_volume *volumes;
	size_t n_volumes;
	struct state_actual_instance *instances;
	size_t n_instances;
	char network_hash[17]; /* "" = never applied */
};

enum state_action_kind {
	STATE_ACT_INSTANCE_STOP,    /* graceful stop; instance stays known */
	STATE_ACT_INSTANCE_FORGET,  /* stop if running, then forget; volumes are kept */
	STATE_ACT_VOLUME_DELETE,    /* power "deleted" with delete_volumes */
	STATE_ACT_TEMPLATE_FETCH,
	STATE_ACT_VOLUME_CREATE,
	STATE_ACT_NETWORK_APPLY,
	STATE_ACT_INSTANCE_RESTART, /* running with an older spec */
	STATE_ACT_INSTANCE_START,
	STATE_ACT_INSTANCE_REBOOT,  /* running, same spec, a higher reboot generation */
};

struct state_action {
	enum state_action_kind kind;
	char instance[STATE_ID_MAX]; /* "" for templates and the network */
	char object[STATE_ID_MAX];   /* template or disk id */
};

struct state_plan {
	struct state_action *actions;
	size_t n_actions;
};

/*
 * The actions that bring actual to desired, in order: first what goes away
 * (stops, forgets, volume deletions: nothing is deleted under a running
 * guest), then what comes (templates -> volumes -> network -> instances). An
 * empty plan means converged. Pure: the same inputs always give the same plan.
 */
int state_plan(const struct state_doc *desired, const struct state_actual *actual,
	       struct state_plan *out);
void state_plan_free(struct state_plan *plan);
const char *state_action_name(enum state_action_kind kind);

#endif
