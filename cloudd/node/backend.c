/* backend.c -- the convergence engine's backend on a real node: templates, volumes, bridge, taps, filters, guest DHCP, cloud-init seeds, guests */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <arpa/inet.h>

#include <jansson.h>

#include "backend.h"
#include "cloudd.h"
#include "cloudinit.h"
#include "converge.h"
#include "filter.h"
#include "guest.h"
#include "guestnet.h"
#include "hostguard.h"
#include "log.h"
#include "port.h"
#include "state.h"
#include "template.h"
#include "volume.h"

struct guest_slot {
	struct guest g;
	int exit_reported;
};

struct backend {
	struct guest_env env;
	char data_dir[PATH_MAX - 64];
	char cache_dir[PATH_MAX];
	struct guestnet_dhcp dhcp;
	struct guest_slot *slots;
	size_t n_slots;
	int skip_filters;
};

/*
 * What the document allows must fit what a guest takes, whole: the copies
 * below never cut an id or drop a disk or NIC. The seed is one disk more.
 */
_Static_assert(GUEST_ID_MAX == STATE_ID_MAX, "guest and instance ids are copied both ways");
_Static_assert(GUEST_MAX_DISKS >= STATE_MAX_DISKS + 1, "every disk of an instance and its seed fit a guest");
_Static_assert(GUEST_MAX_NICS >= STATE_MAX_NICS, "every NIC of an instance fits a guest");
_Static_assert(STATE_MIN_MEMORY_MIB >= GUEST_MIN_MEMORY_MIB, "every memory size the document allows starts a guest");
_Static_assert(CLOUDINIT_MAX_NICS >= STATE_MAX_NICS, "every NIC of an instance fits its cloud-init seed");
_Static_assert(sizeof(((struct guest_spec *)0)->cmdline) >= STATE_MAX_CMDLINE,
	       "a kernel template's command line fits a guest");
_Static_assert(sizeof(((struct guest_nic_spec *)0)->ifname) >= sizeof(((struct state_nic *)0)->ifname),
	       "a NIC's tap name fits a guest");
_Static_assert(sizeof(((struct guest_nic_spec *)0)->mac) >= sizeof(((struct state_nic *)0)->mac),
	       "a NIC's MAC fits a guest");
_Static_assert(sizeof(((struct guestnet_lease *)0)->mac) >= sizeof(((struct state_nic *)0)->mac),
	       "a NIC's MAC fits its DHCP lease");
_Static_assert(sizeof(((struct guestnet_lease *)0)->ipv4) >= sizeof(((struct state_nic *)0)->ipv4),
	       "a NIC's IPv4 address fits its DHCP lease");

static struct guest_slot *backend_find(struct backend *b, const char *id)
{
	for (size_t i = 0; i < b->n_slots; i++)
		if (strcmp(b->slots[i].g.id, id) == 0)
			return &b->slots[i];
	return NULL;
}

static struct guest_slot *backend_slot(struct backend *b, const char *id)
{
	struct guest_slot *s = backend_find(b, id), *n;

	if (s)
		return s;
	n = realloc(b->slots, (b->n_slots + 1) * sizeof(*b->slots));
	if (n == NULL)
		return NULL;
	b->slots = n;
	s = &b->slots[b->n_slots++];
	memset(s, 0, sizeof(*s));
	snprintf(s->g.id, sizeof(s->g.id), "%s", id);
	s->g.qmp.fd = -1;
	s->g.qmp.closed = 1;
	return s;
}

static void backend_drop(struct backend *b, const char *id)
{
	for (size_t i = 0; i < b->n_slots; i++) {
		if (strcmp(b->slots[i].g.id, id) != 0)
			continue;
		guest_release(&b->slots[i].g);
		b->slots[i] = b->slots[--b->n_slots];
		return;
	}
}

static int backend_adopt(void *ctx, char (**ids)[STATE_ID_MAX], size_t *n, struct errmsg *err)
{
	struct backend *b = ctx;
	char (*found)[GUEST_ID_MAX] = NULL;
	size_t nf = 0;

	*ids = NULL;
	*n = 0;
	if (guest_scan(&b->env, &found, &nf) < 0) {
		errmsg_set(err, "", "reading %s: %s", b->env.run_dir, strerror(errno));
		return -1;
	}
	*ids = calloc(nf ? nf : 1, sizeof(**ids));
	if (*ids == NULL) {
		free(found);
		errmsg_set(err, "", "out of memory");
		return -1;
	}
	for (size_t i = 0; i < nf; i++) {
		struct guest g;
		struct errmsg e = { 0 };
		if (guest_adopt(&b->env, found[i], &g, &e) != 1)
			continue;
		struct guest_slot *s = backend_slot(b, found[i]);
		if (s == NULL) {
			guest_release(&g);
			continue;
		}
		guest_release(&s->g);
		s->g = g;
		s->exit_reported = 0;
		memcpy((*ids)[(*n)++], found[i], GUEST_ID_MAX);
	}
	free(found);
	return 0;
}

static const char *backend_format(enum state_format f)
{
	return f == STATE_FMT_RAW ? "raw" : "qcow2";
}

static int backend_template_file(struct backend *b, const struct state_source *src, const char *what,
			    const char *tid, char *out, size_t outlen, struct errmsg *err)
{
	struct errmsg e = { 0 };
	char msg[1024];

	if (template_ensure(b->cache_dir, src->url, src->path, src->sha256, src->size, out, outlen, &e) < 0) {
		errmsg_set(err, "", "template %s%s: %s", tid, what, errmsg_str(&e, msg, sizeof(msg)));
		return -1;
	}
	return 0;
}

static int backend_template_ensure(void *ctx, const struct state_template *t, struct errmsg *err)
{
	struct backend *b = ctx;
	char path[PATH_MAX], msg[1024];
	struct errmsg e = { 0 };

	if (t->format == STATE_FMT_KERNEL) {
		if (backend_template_file(b, &t->kernel, " kernel", t->id, path, sizeof(path), err) < 0)
			return -1;
		if (t->has_initrd && backend_template_file(b, &t->initrd, " initrd", t->id, path, sizeof(path), err) < 0)
			return -1;
		return 0;
	}
	if (backend_template_file(b, &t->disk, "", t->id, path, sizeof(path), err) < 0)
		return -1;
	if (template_check_image(path, backend_format(t->format), &e) < 0) {
		errmsg_set(err, "", "template %s: %s", t->id, errmsg_str(&e, msg, sizeof(msg)));
		return -1;
	}
	return 0;
}

static int backend_volume_create(void *ctx, const struct state_doc *doc, const struct state_instance *in,
			    const struct state_disk *disk, struct errmsg *err)
{
	struct backend *b = ctx;
	const struct state_template *t = NULL;
	char tpath[PATH_MAX] = "";

	if (disk->template_id[0]) {
		t = state_find_template(doc, disk->template_id);
		if (t == NULL || t->format == STATE_FMT_KERNEL ||
		    template_path(b->cache_dir, t->disk.sha256, tpath, sizeof(tpath)) < 0) {
			errmsg_set(err, "", "volume %s/%s: template %s is not a cached disk template", in->id,
				   disk->id, disk->template_id);
			errno = EINVAL;
			return -1;
		}
	}
	return volume_create(b->data_dir, in->id, disk->id, backend_format(disk->format), disk->size_mib,
			     t ? tpath : NULL, t ? backend_format(t->format) : NULL, err);
}

static int backend_volume_delete(void *ctx, const char *instance, const char *disk, struct errmsg *err)
{
	struct backend *b = ctx;

	return volume_delete(b->data_dir, instance, disk, err);
}

static int backend_volume_list(void *ctx, struct state_actual_volume **out, size_t *n, struct errmsg *err)
{
	struct backend *b = ctx;
	struct volume_entry *v = NULL;
	size_t nv = 0;

	*out = NULL;
	*n = 0;
	if (volume_list(b->data_dir, &v, &nv) < 0) {
		errmsg_set(err, "", "listing volumes in %s: %s", b->data_dir, strerror(errno));
		return -1;
	}
	*out = calloc(nv ? nv : 1, sizeof(**out));
	if (*out == NULL) {
		free(v);
		errmsg_set(err, "", "out of memory");
		return -1;
	}
	for (size_t i = 0; i < nv; i++) {
		memcpy((*out)[i].instance, v[i].instance, sizeof((*out)[i].instance));
		memcpy((*out)[i].disk, v[i].disk, sizeof((*out)[i].disk));
	}
	*n = nv;
	free(v);
	return 0;
}

/* Taps named like ports (port_ifname) that no NIC of the document uses any more. */
static void backend_remove_stale_taps(const struct state_doc *doc)
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		int used = 0;
		if (!port_ifname_valid(de->d_name))
			continue;
		for (size_t i = 0; i < doc->n_instances && !used; i++) {
			if (doc->instances[i].power == STATE_POWER_DELETED)
				continue;
			for (size_t k = 0; k < doc->instances[i].n_nics; k++)
				if (strcmp(doc->instances[i].nics[k].ifname, de->d_name) == 0)
					used = 1;
		}
		if (!used) {
			struct errmsg e = { 0 };
			if (guestnet_tap_delete(de->d_name, &e) == 0)
				log_info("guest network: removed tap %s", de->d_name);
		}
	}
	closedir(d);
}

static int backend_network_apply(void *ctx, const struct state_doc *doc, struct errmsg *err)
{
	struct backend *b = ctx;
	const struct state_network *net = &doc->network;
	struct guestnet_lease *leases = NULL;
	struct filter_model model;
	char gw[INET_ADDRSTRLEN] = "", dns_text[STATE_MAX_DNS][INET_ADDRSTRLEN];
	const char *dns[STATE_MAX_DNS];
	size_t n_leases = 0;
	int rc = -1;

	if (!doc->has_network) {
		guestnet_dhcp_stop(&b->dhcp);
		return 0;
	}
	if (guestnet_bridge_ensure(net->bridge, net->address_text, net->address6_text, net->uplink, 0, err) < 0)
		return -1;
	/* the node's own input policy, before any guest port is on the bridge */
	{
		struct errmsg guard = { 0 };
		char msg[768];

		if (hostguard_apply(net->bridge, HOSTGUARD_SYSCTL_DIR, &guard) < 0) {
			errmsg_set(err, "network", "host guard: %s", errmsg_str(&guard, msg, sizeof(msg)));
			return -1;
		}
	}
	/* filters first: a tap is never on the bridge without its filter */
	memset(&model, 0, sizeof(model));
	if (filter_model_from_doc(doc, &model, err) < 0)
		return -1;
	if (b->skip_filters) {
		log_warn("guest network: filters NOT applied (test backend without bridge conntrack)");
	} else if (filter_sync(&model, err) < 0) {
		filter_model_free(&model);
		return -1;
	}
	filter_model_free(&model);
	for (size_t i = 0; i < doc->n_instances; i++)
		n_leases += doc->instances[i].n_nics;
	leases = calloc(n_leases ? n_leases : 1, sizeof(*leases));
	if (leases == NULL) {
		errmsg_set(err, "", "out of memory");
		return -1;
	}
	n_leases = 0;
	for (size_t i = 0; i < doc->n_instances; i++) {
		const struct state_instance *in = &doc->instances[i];
		if (in->power == STATE_POWER_DELETED)
			continue;
		for (size_t k = 0; k < in->n_nics; k++) {
			const struct state_nic *nic = &in->nics[k];
			if (guestnet_tap_ensure(nic->ifname, net->bridge, 0, err) < 0)
				goto out;
			struct guestnet_lease *l = &leases[n_leases++];
			snprintf(l->mac, sizeof(l->mac), "%s", nic->mac);
			snprintf(l->ipv4, sizeof(l->ipv4), "%s", nic->ipv4);
			if (k == 0 && in->cloud_init.present && in->cloud_init.hostname[0] &&
			    strlen(in->cloud_init.hostname) < sizeof(l->hostname) &&
			    strspn(in->cloud_init.hostname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") ==
				    strlen(in->cloud_init.hostname))
				memcpy(l->hostname, in->cloud_init.hostname, strlen(in->cloud_init.hostname) + 1);
		}
	}
	backend_remove_stale_taps(doc);
	if (net->gateway.s_addr)
		inet_ntop(AF_INET, &net->gateway, gw, sizeof(gw));
	for (size_t i = 0; i < net->n_dns; i++) {
		inet_ntop(AF_INET, &net->dns[i], dns_text[i], sizeof(dns_text[i]));
		dns[i] = dns_text[i];
	}
	rc = guestnet_dhcp_apply(&b->dhcp, net->bridge, net->address_text, gw, dns, net->n_dns, leases, n_leases,
				 err);
out:
	free(leases);
	return rc;
}

static int backend_seed(struct backend *b, const struct state_doc *doc, const struct state_instance *in,
		   const char *path, struct errmsg *err)
{
	struct cloudinit_spec s = { .instance_id = in->id };
	char dns_text[STATE_MAX_DNS][INET_ADDRSTRLEN];
	const char *dns[STATE_MAX_DNS];

	(void)b;
	s.hostname = in->cloud_init.present && in->cloud_init.hostname[0] ? in->cloud_init.hostname : in->name;
	s.ssh_keys = (const char *const *)in->cloud_init.ssh_keys;
	s.n_ssh_keys = in->cloud_init.n_ssh_keys;
	s.user_data = in->cloud_init.user_data;
	for (size_t k = 0; k < in->n_nics; k++) {
		s.nics[k].mac = in->nics[k].mac;
		s.nics[k].ipv6 = in->nics[k].ipv6;
		s.nics[k].ipv6_prefix = doc->has_network && doc->network.has_address6 ? doc->network.prefix6 : 64;
		s.n_nics++;
	}
	for (size_t i = 0; doc->has_network && i < doc->network.n_dns; i++) {
		inet_ntop(AF_INET, &doc->network.dns[i], dns_text[i], sizeof(dns_text[i]));
		dns[i] = dns_text[i];
		s.n_dns++;
	}
	s.dns = dns;
	return cloudinit_build(&s, path, err);
}

static int backend_instance_start(void *ctx, const struct state_doc *doc, const struct state_instance *in,
			     struct errmsg *err)
{
	struct backend *b = ctx;
	struct guest_spec *spec = calloc(1, sizeof(*spec));
	struct guest_slot *slot;
	struct guest_disk_spec *seed;
	char dir[PATH_MAX];
	int n, rc = -1;

	if (spec == NULL) {
		errmsg_set(err, "", "out of memory");
		return -1;
	}
	snprintf(spec->id, sizeof(spec->id), "%s", in->id);
	spec->vcpus = in->vcpus;
	spec->memory_mib = in->memory_mib;
	if (in->boot_template[0]) {
		const struct state_template *t = state_find_template(doc, in->boot_template);
		if (t == NULL || t->format != STATE_FMT_KERNEL ||
		    template_path(b->cache_dir, t->kernel.sha256, spec->kernel, sizeof(spec->kernel)) < 0 ||
		    (t->has_initrd && template_path(b->cache_dir, t->initrd.sha256, spec->initrd, sizeof(spec->initrd)) < 0)) {
			errmsg_set(err, "", "instance %s: boot template %s is not a kernel template", in->id,
				   in->boot_template);
			goto out;
		}
		snprintf(spec->cmdline, sizeof(spec->cmdline), "%s", t->cmdline);
	}
	if (in->n_disks + 1 > GUEST_MAX_DISKS || in->n_nics > GUEST_MAX_NICS) {
		errmsg_set(err, "", "instance %s: %zu disks and %zu NICs do not fit a guest (%d and %d at most)",
			   in->id, in->n_disks, in->n_nics, GUEST_MAX_DISKS - 1, GUEST_MAX_NICS);
		errno = E2BIG;
		goto out;
	}
	for (size_t i = 0; i < in->n_disks; i++) {
		struct guest_disk_spec *d = &spec->disks[spec->n_disks++];
		const struct state_template *t = NULL;
		snprintf(d->format, sizeof(d->format), "%s", backend_format(in->disks[i].format));
		snprintf(d->id, sizeof(d->id), "%s", in->disks[i].id);
		if (volume_path(b->data_dir, in->id, in->disks[i].id, d->format, d->path, sizeof(d->path)) < 0) {
			errmsg_set(err, "", "instance %s: bad volume path", in->id);
			goto out;
		}
		/* the volume's backing file, as backend_volume_create made it: QEMU gets it open */
		if (in->disks[i].template_id[0])
			t = state_find_template(doc, in->disks[i].template_id);
		if (t && t->format != STATE_FMT_KERNEL && in->disks[i].format != STATE_FMT_RAW) {
			snprintf(d->backing_format, sizeof(d->backing_format), "%s", backend_format(t->format));
			if (template_path(b->cache_dir, t->disk.sha256, d->backing, sizeof(d->backing)) < 0) {
				errmsg_set(err, "", "instance %s: bad template path", in->id);
				goto out;
			}
		}
	}
	if (guest_uid_pick(&b->env, in->id, &spec->uid) < 0) {
		errmsg_set(err, "", "instance %s: no guest uid free: %s", in->id, strerror(errno));
		goto out;
	}
	if (guest_dir_create(&b->env, in->id, dir, sizeof(dir)) < 0) {
		errmsg_set(err, "", "instance %s: run directory: %s", in->id, strerror(errno));
		goto out;
	}
	/* the seed is the last disk: its path must fit the disk's path field whole */
	seed = &spec->disks[spec->n_disks];
	n = snprintf(seed->path, sizeof(seed->path), "%s/seed.img", dir);
	if (n < 0 || (size_t)n >= sizeof(seed->path)) {
		errmsg_set(err, "", "instance %s: seed path %s/seed.img is longer than %zu bytes", in->id, dir,
			   sizeof(seed->path) - 1);
		errno = ENAMETOOLONG;
		goto out;
	}
	if (backend_seed(b, doc, in, seed->path, err) < 0)
		goto out;
	snprintf(seed->format, sizeof(seed->format), "raw");
	snprintf(seed->id, sizeof(seed->id), "cidata");
	seed->readonly = 1;
	spec->n_disks++;
	for (size_t k = 0; k < in->n_nics; k++) {
		struct guest_nic_spec *nic = &spec->nics[spec->n_nics++];
		snprintf(nic->ifname, sizeof(nic->ifname), "%s", in->nics[k].ifname);
		snprintf(nic->mac, sizeof(nic->mac), "%s", in->nics[k].mac);
		if (doc->has_network && guestnet_tap_ensure(nic->ifname, doc->network.bridge, 0, err) < 0)
			goto out;
	}
	slot = backend_slot(b, in->id);
	if (slot == NULL) {
		errmsg_set(err, "", "out of memory");
		goto out;
	}
	guest_release(&slot->g);
	if (guest_start(&b->env, spec, &slot->g, err) < 0)
		goto out;
	slot->exit_reported = 0;
	rc = 0;
out:
	free(spec);
	return rc;
}

static int backend_instance_stop(void *ctx, const char *id, int force, struct errmsg *err)
{
	struct backend *b = ctx;
	struct guest_slot *s = backend_find(b, id);

	if (s == NULL || !s->g.running)
		return 0;
	if (force)
		return guest_force_stop(&b->env, &s->g, err);
	return guest_powerdown(&s->g, err);
}

static int backend_instance_reset(void *ctx, const char *id, struct errmsg *err)
{
	struct backend *b = ctx;
	struct guest_slot *s = backend_find(b, id);

	if (s == NULL || guest_poll(&b->env, &s->g) != 1) {
		errmsg_set(err, "", "guest %s is not running", id);
		return -1;
	}
	return guest_reset(&s->g, err);
}

static int backend_instance_poll(void *ctx, const char *id, struct converge_guest *out)
{
	struct backend *b = ctx;
	struct guest_slot *s = backend_find(b, id);

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return 0;
	if (guest_poll(&b->env, &s->g) == 1) {
		out->running = 1;
		out->pid = s->g.pid;
		return 0;
	}
	if (s->exit_reported || s->g.exit_kind == GUEST_EXIT_NONE)
		return 0;
	s->exit_reported = 1;
	out->exited = 1;
	out->powered_off = s->g.exit_kind == GUEST_EXIT_POWEROFF;
	snprintf(out->reason, sizeof(out->reason), "%s", s->g.reason);
	if (s->g.exit_status_known && WIFSIGNALED(s->g.wait_status)) {
		out->exit_code = -1;
		out->exit_signal = WTERMSIG(s->g.wait_status);
	} else if (s->g.exit_kind == GUEST_EXIT_SIGNAL) {
		/* QEMU exits 0 on SIGTERM: still not a clean exit */
		out->exit_code = -1;
		out->exit_signal = SIGTERM;
	} else if (s->g.exit_status_known && WIFEXITED(s->g.wait_status) &&
		   (s->g.exit_kind == GUEST_EXIT_POWEROFF || s->g.exit_kind == GUEST_EXIT_REQUESTED ||
		    WEXITSTATUS(s->g.wait_status) != 0)) {
		out->exit_code = WEXITSTATUS(s->g.wait_status);
	} else if (s->g.exit_kind == GUEST_EXIT_POWEROFF || s->g.exit_kind == GUEST_EXIT_REQUESTED) {
		out->exit_code = 0;
	} else {
		out->exit_code = -1; /* crashed or killed, status unknown (not our child) */
	}
	return 0;
}

static int backend_instance_forget(void *ctx, const char *id, struct errmsg *err)
{
	struct backend *b = ctx;
	struct guest_slot *s = backend_find(b, id);

	if (s && s->g.running && guest_poll(&b->env, &s->g) == 1) {
		errmsg_set(err, "", "guest %s is still running", id);
		errno = EBUSY;
		return -1;
	}
	backend_drop(b, id);
	return guest_remove_dir(&b->env, id, err);
}

static int backend_disk_stats(void *ctx, const char *id, struct converge_disk_stats *out, size_t max, size_t *n)
{
	struct backend *b = ctx;
	struct guest_slot *s = backend_find(b, id);
	json_t *ret = NULL, *e;
	size_t i;

	*n = 0;
	if (s == NULL || !s->g.running || !s->g.have_qmp)
		return 0;
	if (qmp_command(&s->g.qmp, "query-blockstats", NULL, GUEST_QMP_TIMEOUT_MS, &ret) < 0)
		return -1;
	json_array_foreach(ret, i, e) {
		const char *dev = json_string_value(json_object_get(e, "device"));
		json_t *st = json_object_get(e, "stats");
		if (dev == NULL || strncmp(dev, "drive-", 6) != 0 || strcmp(dev + 6, "cidata") == 0 || *n >= max)
			continue;
		snprintf(out[*n].disk, sizeof(out[*n].disk), "%s", dev + 6);
		out[*n].rd_bytes = (unsigned long long)json_integer_value(json_object_get(st, "rd_bytes"));
		out[*n].wr_bytes = (unsigned long long)json_integer_value(json_object_get(st, "wr_bytes"));
		(*n)++;
	}
	json_decref(ret);
	return 0;
}

static int backend_console_path(void *ctx, const char *id, char *out, size_t outlen)
{
	struct backend *b = ctx;

	return guest_console_path(&b->env, id, out, outlen);
}

int backend_init(struct converge_backend *be, const struct cloudd_config *cfg, struct errmsg *err)
{
	struct backend *b = calloc(1, sizeof(*b));
	char why[256], dhcp_dir[PATH_MAX];
	const char *accel = cfg->accel == CLOUDD_ACCEL_KVM ? "kvm" : cfg->accel == CLOUDD_ACCEL_TCG ? "tcg" : "auto";
	int n1, n2, n3;

	if (b == NULL) {
		errmsg_set(err, "", "out of memory");
		return -1;
	}
	snprintf(b->env.qemu, sizeof(b->env.qemu), "qemu-system-x86_64");
	n1 = snprintf(b->env.run_dir, sizeof(b->env.run_dir), "%s/guests", cfg->run_dir);
	n2 = snprintf(b->data_dir, sizeof(b->data_dir), "%s", cfg->data_dir);
	n3 = snprintf(b->cache_dir, sizeof(b->cache_dir), "%s/templates", cfg->data_dir);
	if (n1 < 0 || (size_t)n1 >= sizeof(b->env.run_dir) || n2 < 0 || (size_t)n2 >= sizeof(b->data_dir) ||
	    n3 < 0 || (size_t)n3 >= sizeof(b->cache_dir) ||
	    snprintf(dhcp_dir, sizeof(dhcp_dir), "%s/dhcp", cfg->run_dir) >= (int)sizeof(b->dhcp.dir)) {
		errmsg_set(err, "", "run_dir or data_dir too long");
		free(b);
		return -1;
	}
	if (guest_accel_resolve(accel, b->env.accel, sizeof(b->env.accel), why, sizeof(why)) < 0) {
		errmsg_set(err, "accel", "%s", why);
		free(b);
		return -1;
	}
	log_info("guests: accel %s (%s)", b->env.accel, why);
	b->env.uid_base = CLOUDD_GUEST_UID_BASE;
	if (strcmp(b->env.accel, "kvm") == 0 && guest_kvm_access("/dev/kvm", CLOUDD_GUEST_KVM_GID, &b->env.kvm_gid) < 0) {
		errmsg_set(err, "accel", "/dev/kvm: cannot open it to the guests' uids: %s", strerror(errno));
		free(b);
		return -1;
	}
	if (guest_run_dir_create(&b->env) < 0) {
		errmsg_set(err, "", "creating %s: %s", b->env.run_dir, strerror(errno));
		free(b);
		return -1;
	}
	guestnet_dhcp_init(&b->dhcp, dhcp_dir, NULL);
	/* QEMUs are cloudd's children; anything they leave behind is re-parented here: exit statuses */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("guests: PR_SET_CHILD_SUBREAPER: %s (exit statuses of guests unknown)", strerror(errno));
	memset(be, 0, sizeof(*be));
	be->adopt = backend_adopt;
	be->template_ensure = backend_template_ensure;
	be->volume_create = backend_volume_create;
	be->volume_delete = backend_volume_delete;
	be->volume_list = backend_volume_list;
	be->network_apply = backend_network_apply;
	be->instance_start = backend_instance_start;
	be->instance_stop = backend_instance_stop;
	be->instance_reset = backend_instance_reset;
	be->instance_poll = backend_instance_poll;
	be->instance_forget = backend_instance_forget;
	be->disk_stats = backend_disk_stats;
	be->console_path = backend_console_path;
	be->ctx = b;
	return 0;
}

void backend_skip_filters(struct converge_backend *be)
{
	struct backend *b = be->ctx;

	if (b)
		b->skip_filters = 1;
}

void backend_tick(struct converge_backend *be)
{
	struct backend *b = be->ctx;

	if (b)
		guestnet_dhcp_check(&b->dhcp);
}

void backend_free(struct converge_backend *be)
{
	struct backend *b = be->ctx;

	if (b == NULL)
		return;
	guestnet_dhcp_stop(&b->dhcp);
	for (size_t i = 0; i < b->n_slots; i++)
		guest_release(&b->slots[i].g);
	free(b->slots);
	free(b);
	be->ctx = NULL;
}
