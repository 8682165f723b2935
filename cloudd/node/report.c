/* report.c -- what the engine tells: the actual-state document, metrics, health, an instance's console */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actual.h"
#include "converge_internal.h"
#include "log.h"

static const char *const conv_status_names[] = { "pending", "running", "stopping", "stopped", "error" };

_Static_assert((int)CONV_PENDING == (int)ACTUAL_PENDING && (int)CONV_RUNNING == (int)ACTUAL_RUNNING &&
		       (int)CONV_STOPPING == (int)ACTUAL_STOPPING && (int)CONV_STOPPED == (int)ACTUAL_STOPPED &&
		       (int)CONV_ERROR == (int)ACTUAL_ERROR,
	       "an instance's status is reported as it is");

/*
 * The report is an actual_doc (proto/actual.h) rendered by actual_to_json.
 * Its strings and JSON values are borrowed from c under the lock: only its
 * arrays are freed here, never with actual_free.
 */
json_t *converge_actual(struct converge *c)
{
	struct actual_doc a;
	json_t *doc = NULL;
	size_t n = 0;

	memset(&a, 0, sizeof(a));
	pthread_mutex_lock(&c->lock);
	a.has_desired = c->has_desired;
	a.revision = c->desired.revision;
	a.source = c->desired_source;
	a.applied_at = c->applied_at;
	a.converged = c->has_desired && c->converged;
	a.last_error = c->last_error;
	a.rejected_total = (long long)c->rejected;
	a.events = c->events;
	a.templates = calloc(c->desired.n_templates + 1, sizeof(*a.templates));
	a.instances = calloc(c->desired.n_instances + c->n_inst + 1, sizeof(*a.instances));
	a.orphan_volumes = calloc(c->n_volumes + 1, sizeof(*a.orphan_volumes));
	if (a.templates == NULL || a.instances == NULL || a.orphan_volumes == NULL)
		goto out;
	if (c->has_desired && c->desired.has_network) {
		a.has_network = 1;
		snprintf(a.network_bridge, sizeof(a.network_bridge), "%s", c->desired.network.bridge);
		a.network_applied = strcmp(c->network_hash, c->desired.network_hash) == 0;
		a.network_error = c->network_error[0] ? c->network_error : NULL;
	}
	for (size_t i = 0; c->has_desired && i < c->desired.n_templates; i++) {
		const struct state_template *t = &c->desired.templates[i];
		struct actual_template *at = &a.templates[a.n_templates++];
		struct conv_template *ct = NULL;

		for (size_t j = 0; j < c->n_tpl; j++)
			if (strcmp(c->tpl[j].id, t->id) == 0)
				ct = &c->tpl[j];
		memcpy(at->id, t->id, sizeof(at->id));
		at->format = t->format;
		at->ready = ct && ct->sha256[0];
		at->error = ct && ct->error[0] ? ct->error : NULL;
	}
	/* desired instances first, in document order, then what is being forgotten */
	for (size_t i = 0; c->has_desired && i < c->desired.n_instances; i++) {
		const struct state_instance *di = &c->desired.instances[i];
		struct actual_instance *ai = &a.instances[a.n_instances++];
		struct conv_instance *r = NULL;

		for (size_t j = 0; j < c->n_inst; j++)
			if (strcmp(c->inst[j].id, di->id) == 0)
				r = &c->inst[j];
		memcpy(ai->id, di->id, sizeof(ai->id));
		ai->has_desired = 1;
		ai->desired = di->power;
		if (r == NULL) {
			ai->status = di->power == STATE_POWER_RUNNING ? ACTUAL_PENDING : ACTUAL_STOPPED;
			continue;
		}
		ai->status = (enum actual_status)r->status;
		ai->has_runtime = 1;
		ai->pid = r->pid > 0 ? r->pid : 0;
		ai->restarts = r->restarts;
		ai->reboot = r->reboot_done;
		ai->held = r->hold;
		ai->error = r->error[0] ? r->error : NULL;
		ai->last_exit = r->last_exit;
	}
	for (size_t j = 0; j < c->n_inst; j++) {
		struct actual_instance *ai;

		if (c->has_desired && state_find_instance(&c->desired, c->inst[j].id))
			continue;
		ai = &a.instances[a.n_instances++];
		memcpy(ai->id, c->inst[j].id, sizeof(ai->id));
		ai->status = (enum actual_status)c->inst[j].status;
	}
	for (size_t i = 0; i < c->n_volumes; i++) {
		if (c->has_desired && state_find_instance(&c->desired, c->volumes[i].instance))
			continue;
		memcpy(a.orphan_volumes[n].instance, c->volumes[i].instance, sizeof(a.orphan_volumes[n].instance));
		memcpy(a.orphan_volumes[n].disk, c->volumes[i].disk, sizeof(a.orphan_volumes[n].disk));
		n++;
	}
	a.n_orphan_volumes = n;
	doc = actual_to_json(&a);
out:
	pthread_mutex_unlock(&c->lock);
	free(a.templates);
	free(a.instances);
	free(a.orphan_volumes);
	return doc;
}

/* The series with one sample per instance, or per disk or NIC of each instance. */
enum instance_metric {
	METRIC_CPU,
	METRIC_MEMORY,
	METRIC_RESTARTS,
	METRIC_DISK_READ,
	METRIC_DISK_WRITTEN,
	METRIC_NIC_RECEIVE,
	METRIC_NIC_TRANSMIT,
};

static const struct {
	const char *name, *type, *help;
} instance_series[] = {
	[METRIC_CPU] = { "cloudd_instance_cpu_seconds_total", "counter", "CPU time of the guest's QEMU process." },
	[METRIC_MEMORY] = { "cloudd_instance_memory_resident_bytes", "gauge", "Resident memory of the guest's QEMU process." },
	[METRIC_RESTARTS] = { "cloudd_instance_restarts_total", "counter", "Restarts after QEMU exited on its own." },
	[METRIC_DISK_READ] = { "cloudd_instance_disk_read_bytes_total", "counter", "Bytes read by the guest from a disk." },
	[METRIC_DISK_WRITTEN] = { "cloudd_instance_disk_written_bytes_total", "counter", "Bytes written by the guest to a disk." },
	[METRIC_NIC_RECEIVE] = { "cloudd_instance_network_receive_bytes_total", "counter", "Bytes received by the guest on a NIC." },
	[METRIC_NIC_TRANSMIT] = { "cloudd_instance_network_transmit_bytes_total", "counter", "Bytes sent by the guest on a NIC." },
};

/* One sample of metric m: instance r's, or of its disk or NIC k. */
static int metric_sample(struct buf *out, const char *name, const struct conv_instance *r,
			 enum instance_metric m, size_t k)
{
	switch (m) {
	case METRIC_CPU:
		return buf_printf(out, "%s{instance=\"%s\"} %.2f\n", name, r->id, r->cpu_seconds);
	case METRIC_MEMORY:
		return buf_printf(out, "%s{instance=\"%s\"} %llu\n", name, r->id,
				  r->status == CONV_RUNNING ? r->rss_bytes : 0);
	case METRIC_RESTARTS:
		return buf_printf(out, "%s{instance=\"%s\"} %u\n", name, r->id, r->restarts);
	case METRIC_DISK_READ:
	case METRIC_DISK_WRITTEN:
		return buf_printf(out, "%s{instance=\"%s\",disk=\"%s\"} %llu\n", name, r->id, r->disks[k].disk,
				  m == METRIC_DISK_READ ? r->disks[k].rd_bytes : r->disks[k].wr_bytes);
	case METRIC_NIC_RECEIVE:
	case METRIC_NIC_TRANSMIT:
		return buf_printf(out, "%s{instance=\"%s\",nic=\"%zu\"} %llu\n", name, r->id, k,
				  m == METRIC_NIC_RECEIVE ? r->nic_rx[k] : r->nic_tx[k]);
	}
	return -1;
}

/* The HELP and TYPE lines of metric m, then its samples for every instance (and device). */
static int metric_instance_series(struct buf *out, const struct converge *c, enum instance_metric m)
{
	const char *name = instance_series[m].name;
	int rc = buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, instance_series[m].help, name,
			    instance_series[m].type);

	for (size_t i = 0; i < c->n_inst; i++) {
		const struct conv_instance *r = &c->inst[i];
		size_t n = 1;

		if (m == METRIC_DISK_READ || m == METRIC_DISK_WRITTEN)
			n = r->n_disks;
		else if (m == METRIC_NIC_RECEIVE || m == METRIC_NIC_TRANSMIT)
			n = r->n_nics;

		for (size_t k = 0; k < n; k++)
			rc |= metric_sample(out, name, r, m, k);
	}
	return rc;
}

int converge_metrics(struct converge *c, struct buf *out)
{
	unsigned counts[5] = { 0 };
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_inst; i++)
		counts[c->inst[i].status]++;
	for (size_t i = 0; c->has_desired && i < c->desired.n_instances; i++)
		if (conv_find(c, c->desired.instances[i].id) == NULL)
			counts[c->desired.instances[i].power == STATE_POWER_RUNNING ? CONV_PENDING : CONV_STOPPED]++;
	rc |= buf_printf(out, "# HELP cloudd_instances Instances on this node by state.\n"
			      "# TYPE cloudd_instances gauge\n");
	for (int s = 0; s < 5; s++)
		rc |= buf_printf(out, "cloudd_instances{state=\"%s\"} %u\n", conv_status_names[s], counts[s]);
	rc |= buf_printf(out,
			 "# HELP cloudd_state_revision Revision of the applied desired state (-1: none).\n"
			 "# TYPE cloudd_state_revision gauge\ncloudd_state_revision %lld\n"
			 "# HELP cloudd_state_rejected_total Desired-state documents rejected.\n"
			 "# TYPE cloudd_state_rejected_total counter\ncloudd_state_rejected_total %llu\n"
			 "# HELP cloudd_converge_actions_total Convergence actions by result.\n"
			 "# TYPE cloudd_converge_actions_total counter\n"
			 "cloudd_converge_actions_total{result=\"ok\"} %llu\n"
			 "cloudd_converge_actions_total{result=\"error\"} %llu\n",
			 c->has_desired ? c->desired.revision : -1LL, c->rejected, c->actions_ok,
			 c->actions_failed);
	for (size_t m = 0; m < sizeof(instance_series) / sizeof(instance_series[0]); m++)
		rc |= metric_instance_series(out, c, (enum instance_metric)m);
	pthread_mutex_unlock(&c->lock);
	return rc ? -1 : 0;
}

int converge_healthy(struct converge *c, char *why, size_t whylen)
{
	time_t now = conv_now(), limit;
	int ok;

	pthread_mutex_lock(&c->lock);
	/* a template download may legitimately take a while; a stuck loop does not answer for long */
	limit = c->interval * 10 > 120 ? c->interval * 10 : 120;
	ok = now - c->last_pass <= limit;
	if (!ok)
		snprintf(why, whylen, "convergence loop has not run for %lds (busy with: %s for %lds)",
			 (long)(now - c->last_pass), c->current, (long)(now - c->current_since));
	pthread_mutex_unlock(&c->lock);
	return ok;
}

int converge_has_instance(struct converge *c, const char *id)
{
	int known;

	pthread_mutex_lock(&c->lock);
	known = conv_find(c, id) != NULL || (c->has_desired && state_find_instance(&c->desired, id));
	pthread_mutex_unlock(&c->lock);
	return known;
}

int converge_console_path(struct converge *c, const char *id, char *out, size_t outlen)
{
	if (c->be.console_path == NULL) {
		errno = ENOTSUP;
		return -1;
	}
	return c->be.console_path(c->be.ctx, id, out, outlen);
}
