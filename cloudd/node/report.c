/* report.c -- what the engine tells: the actual-state document, metrics, health, an instance's console */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "converge_internal.h"
#include "log.h"

static const char *const conv_status_names[] = { "pending", "running", "stopping", "stopped", "error" };

json_t *converge_actual(struct converge *c)
{
	json_t *doc, *insts, *tpls, *orph;

	doc = json_object();
	insts = json_array();
	tpls = json_array();
	orph = json_array();
	if (doc == NULL || insts == NULL || tpls == NULL || orph == NULL) {
		json_decref(doc), json_decref(insts), json_decref(tpls), json_decref(orph);
		return NULL;
	}
	pthread_mutex_lock(&c->lock);
	json_object_set_new(doc, "revision", c->has_desired ? json_integer(c->desired.revision) : json_null());
	json_object_set_new(doc, "source", c->has_desired ? json_string(c->desired_source) : json_null());
	json_object_set_new(doc, "applied_at", c->has_desired ? json_string(c->applied_at) : json_null());
	json_object_set_new(doc, "converged", json_boolean(c->has_desired && c->converged));
	json_object_set_new(doc, "last_error", c->last_error ? json_incref(c->last_error) : json_null());
	json_object_set_new(doc, "rejected_total", json_integer((json_int_t)c->rejected));
	if (c->has_desired && c->desired.has_network)
		json_object_set_new(doc, "network",
				    json_pack("{s:s,s:b,s:s?}", "bridge", c->desired.network.bridge, "applied",
					      strcmp(c->network_hash, c->desired.network_hash) == 0, "error",
					      c->network_error[0] ? c->network_error : NULL));
	for (size_t i = 0; c->has_desired && i < c->desired.n_templates; i++) {
		const struct state_template *t = &c->desired.templates[i];
		const struct conv_template *ct = NULL;
		for (size_t j = 0; j < c->n_tpl; j++)
			if (strcmp(c->tpl[j].id, t->id) == 0)
				ct = &c->tpl[j];
		json_array_append_new(tpls, json_pack("{s:s,s:s,s:b,s:s?}", "id", t->id, "format",
						      state_format_name(t->format), "ready",
						      ct && ct->sha256[0], "error",
						      ct && ct->error[0] ? ct->error : NULL));
	}
	json_object_set_new(doc, "templates", tpls);
	/* desired instances first, in document order, then what is being forgotten */
	for (size_t i = 0; c->has_desired && i < c->desired.n_instances; i++) {
		const struct state_instance *di = &c->desired.instances[i];
		const struct conv_instance *r = NULL;
		json_t *o;
		for (size_t j = 0; j < c->n_inst; j++)
			if (strcmp(c->inst[j].id, di->id) == 0)
				r = &c->inst[j];
		o = json_pack("{s:s,s:s,s:s}", "id", di->id, "desired", state_power_name(di->power), "status",
			      r ? conv_status_names[r->status] : (di->power == STATE_POWER_RUNNING ? "pending" : "stopped"));
		if (o && r) {
			if (r->pid > 0)
				json_object_set_new(o, "pid", json_integer(r->pid));
			json_object_set_new(o, "restarts", json_integer(r->restarts));
			json_object_set_new(o, "reboot", json_integer(r->reboot_done));
			if (r->hold)
				json_object_set_new(o, "held", json_string("restart policy"));
			if (r->error[0])
				json_object_set_new(o, "error", json_string(r->error));
			if (r->last_exit)
				json_object_set_new(o, "last_exit", json_incref(r->last_exit));
		}
		if (o)
			json_array_append_new(insts, o);
	}
	for (size_t j = 0; j < c->n_inst; j++) {
		if (c->has_desired && state_find_instance(&c->desired, c->inst[j].id))
			continue;
		json_array_append_new(insts, json_pack("{s:s,s:n,s:s}", "id", c->inst[j].id, "desired",
						       "status", conv_status_names[c->inst[j].status]));
	}
	json_object_set_new(doc, "instances", insts);
	for (size_t i = 0; i < c->n_volumes; i++) {
		const struct state_instance *di = c->has_desired ? state_find_instance(&c->desired, c->volumes[i].instance) : NULL;
		if (di == NULL)
			json_array_append_new(orph, json_pack("{s:s,s:s}", "instance", c->volumes[i].instance,
							      "disk", c->volumes[i].disk));
	}
	json_object_set_new(doc, "orphan_volumes", orph);
	json_object_set_new(doc, "events", json_deep_copy(c->events));
	pthread_mutex_unlock(&c->lock);
	return doc;
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
	rc |= buf_printf(out, "# HELP cloudd_instance_cpu_seconds_total CPU time of the guest's QEMU process.\n"
			      "# TYPE cloudd_instance_cpu_seconds_total counter\n");
	for (size_t i = 0; i < c->n_inst; i++)
		rc |= buf_printf(out, "cloudd_instance_cpu_seconds_total{instance=\"%s\"} %.2f\n", c->inst[i].id,
				 c->inst[i].cpu_seconds);
	rc |= buf_printf(out, "# HELP cloudd_instance_memory_resident_bytes Resident memory of the guest's QEMU process.\n"
			      "# TYPE cloudd_instance_memory_resident_bytes gauge\n");
	for (size_t i = 0; i < c->n_inst; i++)
		rc |= buf_printf(out, "cloudd_instance_memory_resident_bytes{instance=\"%s\"} %llu\n",
				 c->inst[i].id, c->inst[i].status == CONV_RUNNING ? c->inst[i].rss_bytes : 0);
	rc |= buf_printf(out, "# HELP cloudd_instance_restarts_total Restarts after QEMU exited on its own.\n"
			      "# TYPE cloudd_instance_restarts_total counter\n");
	for (size_t i = 0; i < c->n_inst; i++)
		rc |= buf_printf(out, "cloudd_instance_restarts_total{instance=\"%s\"} %u\n", c->inst[i].id,
				 c->inst[i].restarts);
	rc |= buf_printf(out, "# HELP cloudd_instance_disk_read_bytes_total Bytes read by the guest from a disk.\n"
			      "# TYPE cloudd_instance_disk_read_bytes_total counter\n");
	for (size_t i = 0; i < c->n_inst; i++)
		for (size_t d = 0; d < c->inst[i].n_disks; d++)
			rc |= buf_printf(out, "cloudd_instance_disk_read_bytes_total{instance=\"%s\",disk=\"%s\"} %llu\n",
					 c->inst[i].id, c->inst[i].disks[d].disk, c->inst[i].disks[d].rd_bytes);
	rc |= buf_printf(out, "# HELP cloudd_instance_disk_written_bytes_total Bytes written by the guest to a disk.\n"
			      "# TYPE cloudd_instance_disk_written_bytes_total counter\n");
	for (size_t i = 0; i < c->n_inst; i++)
		for (size_t d = 0; d < c->inst[i].n_disks; d++)
			rc |= buf_printf(out, "cloudd_instance_disk_written_bytes_total{instance=\"%s\",disk=\"%s\"} %llu\n",
					 c->inst[i].id, c->inst[i].disks[d].disk, c->inst[i].disks[d].wr_bytes);
	rc |= buf_printf(out, "# HELP cloudd_instance_network_receive_bytes_total Bytes received by the guest on a NIC.\n"
			      "# TYPE cloudd_instance_network_receive_bytes_total counter\n");
	for (size_t i = 0; i < c->n_inst; i++)
		for (size_t n = 0; n < c->inst[i].n_nics; n++)
			rc |= buf_printf(out, "cloudd_instance_network_receive_bytes_total{instance=\"%s\",nic=\"%zu\"} %llu\n",
					 c->inst[i].id, n, c->inst[i].nic_rx[n]);
	rc |= buf_printf(out, "# HELP cloudd_instance_network_transmit_bytes_total Bytes sent by the guest on a NIC.\n"
			      "# TYPE cloudd_instance_network_transmit_bytes_total counter\n");
	for (size_t i = 0; i < c->n_inst; i++)
		for (size_t n = 0; n < c->inst[i].n_nics; n++)
			rc |= buf_printf(out, "cloudd_instance_network_transmit_bytes_total{instance=\"%s\",nic=\"%zu\"} %llu\n",
					 c->inst[i].id, n, c->inst[i].nic_tx[n]);
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
