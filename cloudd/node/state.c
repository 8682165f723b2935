/* state.c -- the planner: the actions that bring the node's actual state to the desired-state document */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

const char *state_action_name(enum state_action_kind kind)
{
	static const char *const names[] = { "instance-stop", "instance-forget", "volume-delete",
					     "template-fetch", "volume-create", "network-apply",
					     "instance-restart", "instance-start", "instance-reboot" };
	return names[kind];
}

static int state_plan_add(struct state_plan *plan, enum state_action_kind kind,
			  const char *instance, const char *object)
{
	struct state_action *a = realloc(plan->actions, (plan->n_actions + 1) * sizeof(*a));

	if (a == NULL)
		return -1;
	plan->actions = a;
	a = &plan->actions[plan->n_actions++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	snprintf(a->instance, sizeof(a->instance), "%s", instance ? instance : "");
	snprintf(a->object, sizeof(a->object), "%s", object ? object : "");
	return 0;
}

static const struct state_actual_instance *state_actual_instance(const struct state_actual *a,
								 const char *id)
{
	for (size_t i = 0; i < a->n_instances; i++)
		if (strcmp(a->instances[i].id, id) == 0)
			return &a->instances[i];
	return NULL;
}

static int state_has_volume(const struct state_actual *a, const char *instance, const char *disk)
{
	for (size_t i = 0; i < a->n_volumes; i++)
		if (strcmp(a->volumes[i].instance, instance) == 0 && strcmp(a->volumes[i].disk, disk) == 0)
			return 1;
	return 0;
}

/* The sha256 a template's cache must have (the kernel's for kernel templates). */
static const char *state_template_sum(const struct state_template *t)
{
	return t->format == STATE_FMT_KERNEL ? t->kernel.sha256 : t->disk.sha256;
}

static int state_template_ready(const struct state_actual *a, const struct state_template *t)
{
	for (size_t i = 0; i < a->n_templates; i++)
		if (strcmp(a->templates[i].id, t->id) == 0 &&
		    strcmp(a->templates[i].sha256, state_template_sum(t)) == 0)
			return 1;
	return 0;
}

int state_plan(const struct state_doc *desired, const struct state_actual *actual,
	       struct state_plan *out)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	/* 1. what goes away: instances not in the document, stopped, deleted */
	for (size_t i = 0; i < actual->n_instances && rc == 0; i++) {
		const struct state_actual_instance *ai = &actual->instances[i];
		const struct state_instance *di = state_find_instance(desired, ai->id);

		if (di == NULL || di->power == STATE_POWER_DELETED)
			rc = state_plan_add(out, STATE_ACT_INSTANCE_FORGET, ai->id, NULL);
		else if (di->power == STATE_POWER_STOPPED && ai->run == STATE_RUN_RUNNING)
			rc = state_plan_add(out, STATE_ACT_INSTANCE_STOP, ai->id, NULL);
	}
	for (size_t i = 0; i < actual->n_volumes && rc == 0; i++) {
		const struct state_instance *di = state_find_instance(desired, actual->volumes[i].instance);

		if (di && di->power == STATE_POWER_DELETED && di->delete_volumes)
			rc = state_plan_add(out, STATE_ACT_VOLUME_DELETE, di->id, actual->volumes[i].disk);
	}
	/* 2. what comes: templates -> volumes -> network -> instances */
	for (size_t i = 0; i < desired->n_templates && rc == 0; i++)
		if (!state_template_ready(actual, &desired->templates[i]))
			rc = state_plan_add(out, STATE_ACT_TEMPLATE_FETCH, NULL, desired->templates[i].id);
	for (size_t i = 0; i < desired->n_instances && rc == 0; i++) {
		const struct state_instance *di = &desired->instances[i];
		if (di->power == STATE_POWER_DELETED)
			continue;
		for (size_t d = 0; d < di->n_disks && rc == 0; d++)
			if (!state_has_volume(actual, di->id, di->disks[d].id))
				rc = state_plan_add(out, STATE_ACT_VOLUME_CREATE, di->id, di->disks[d].id);
	}
	if (rc == 0 && desired->has_network && strcmp(desired->network_hash, actual->network_hash) != 0)
		rc = state_plan_add(out, STATE_ACT_NETWORK_APPLY, NULL, NULL);
	for (size_t i = 0; i < desired->n_instances && rc == 0; i++) {
		const struct state_instance *di = &desired->instances[i];
		const struct state_actual_instance *ai = state_actual_instance(actual, di->id);

		if (di->power != STATE_POWER_RUNNING)
			continue;
		if (ai && ai->run == STATE_RUN_RUNNING) {
			if (strcmp(ai->spec_hash, di->spec_hash) != 0)
				rc = state_plan_add(out, STATE_ACT_INSTANCE_RESTART, di->id, NULL);
			else if (di->reboot > ai->reboot_done)
				rc = state_plan_add(out, STATE_ACT_INSTANCE_REBOOT, di->id, NULL);
		} else if (ai == NULL || !ai->hold || di->reboot > ai->reboot_done) {
			/* a reboot asked of a guest held stopped starts it */
			rc = state_plan_add(out, STATE_ACT_INSTANCE_START, di->id, NULL);
		}
	}
	if (rc < 0) {
		state_plan_free(out);
		errno = ENOMEM;
	}
	return rc;
}

void state_plan_free(struct state_plan *plan)
{
	free(plan->actions);
	plan->actions = NULL;
	plan->n_actions = 0;
}
