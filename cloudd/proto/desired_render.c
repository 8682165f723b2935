/* desired_render.c -- the desired-state document rendered from its C structs, and the hashes the node compares */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "desired.h"

/*
 * The renderer writes what the parser reads: every field the struct holds,
 * optional ones only when set, so that state_from_json(state_to_json(doc))
 * gives doc back. Any allocation failure makes the whole render fail.
 */

/* Sets key to value (a new reference) unless value is NULL; counts failures in *bad. */
static void state_set(json_t *obj, const char *key, json_t *value, int *bad)
{
	if (obj == NULL || value == NULL) {
		json_decref(value);
		(*bad)++;
	} else if (json_object_set_new(obj, key, value) < 0) {
		(*bad)++;
	}
}

static void state_append(json_t *arr, json_t *value, int *bad)
{
	if (arr == NULL || value == NULL) {
		json_decref(value);
		(*bad)++;
	} else if (json_array_append_new(arr, value) < 0) {
		(*bad)++;
	}
}

static json_t *state_source_json(const struct state_source *src, json_t *obj, int *bad)
{
	if (src->url[0])
		state_set(obj, "url", json_string(src->url), bad);
	else
		state_set(obj, "path", json_string(src->path), bad);
	state_set(obj, "sha256", json_string(src->sha256), bad);
	if (src->size)
		state_set(obj, "size", json_integer((json_int_t)src->size), bad);
	return obj;
}

static json_t *state_template_json(const struct state_template *t, int *bad)
{
	json_t *obj = json_object();

	state_set(obj, "id", json_string(t->id), bad);
	state_set(obj, "format", json_string(state_format_name(t->format)), bad);
	if (t->format != STATE_FMT_KERNEL)
		return state_source_json(&t->disk, obj, bad);
	state_set(obj, "kernel", state_source_json(&t->kernel, json_object(), bad), bad);
	if (t->has_initrd)
		state_set(obj, "initrd", state_source_json(&t->initrd, json_object(), bad), bad);
	if (t->cmdline[0])
		state_set(obj, "cmdline", json_string(t->cmdline), bad);
	return obj;
}

static json_t *state_network_json(const struct state_network *net, int *bad)
{
	json_t *obj = json_object();
	char text[INET_ADDRSTRLEN];

	state_set(obj, "bridge", json_string(net->bridge), bad);
	if (net->uplink[0])
		state_set(obj, "uplink", json_string(net->uplink), bad);
	state_set(obj, "address", json_string(net->address_text), bad);
	if (net->gateway.s_addr && inet_ntop(AF_INET, &net->gateway, text, sizeof(text)))
		state_set(obj, "gateway", json_string(text), bad);
	if (net->n_dns) {
		json_t *dns = json_array();

		for (size_t i = 0; i < net->n_dns; i++)
			if (inet_ntop(AF_INET, &net->dns[i], text, sizeof(text)))
				state_append(dns, json_string(text), bad);
		state_set(obj, "dns", dns, bad);
	}
	if (net->has_address6)
		state_set(obj, "address6", json_string(net->address6_text), bad);
	return obj;
}

static json_t *state_instance_json(const struct state_instance *in, int *bad)
{
	static const char *const restarts[] = { "on-failure", "always", "never" };
	json_t *obj = json_object(), *disks = json_array(), *nics = json_array();

	state_set(obj, "id", json_string(in->id), bad);
	if (in->name[0])
		state_set(obj, "name", json_string(in->name), bad);
	state_set(obj, "vcpus", json_integer(in->vcpus), bad);
	state_set(obj, "memory_mib", json_integer(in->memory_mib), bad);
	state_set(obj, "power", json_string(state_power_name(in->power)), bad);
	state_set(obj, "restart", json_string(restarts[in->restart]), bad);
	if (in->delete_volumes)
		state_set(obj, "delete_volumes", json_true(), bad);
	if (in->reboot > 0)
		state_set(obj, "reboot", json_integer(in->reboot), bad);
	if (in->stop_force)
		state_set(obj, "stop", json_string("force"), bad);
	if (in->boot_template[0])
		state_set(obj, "boot", json_pack("{s:s}", "template", in->boot_template), bad);
	for (size_t i = 0; i < in->n_disks; i++) {
		const struct state_disk *d = &in->disks[i];
		json_t *disk = json_pack("{s:s,s:I,s:s}", "id", d->id, "size_mib", (json_int_t)d->size_mib, "format",
					 state_format_name(d->format));

		if (d->template_id[0])
			state_set(disk, "template", json_string(d->template_id), bad);
		state_append(disks, disk, bad);
	}
	state_set(obj, "disks", disks, bad);
	for (size_t i = 0; i < in->n_nics; i++) {
		const struct state_nic *n = &in->nics[i];
		json_t *nic = json_pack("{s:s}", "mac", n->mac), *groups = json_array();

		if (n->ipv4[0])
			state_set(nic, "ipv4", json_string(n->ipv4), bad);
		if (n->ipv6[0])
			state_set(nic, "ipv6", json_string(n->ipv6), bad);
		for (size_t g = 0; g < n->n_groups; g++)
			state_append(groups, json_string(n->groups[g]), bad);
		state_set(nic, "security_groups", groups, bad);
		state_append(nics, nic, bad);
	}
	state_set(obj, "nics", nics, bad);
	if (in->cloud_init.present) {
		const struct state_cloud_init *ci = &in->cloud_init;
		json_t *c = json_object(), *keys = json_array();

		if (ci->hostname[0])
			state_set(c, "hostname", json_string(ci->hostname), bad);
		for (size_t k = 0; k < ci->n_ssh_keys; k++)
			state_append(keys, json_string(ci->ssh_keys[k]), bad);
		state_set(c, "ssh_keys", keys, bad);
		if (ci->user_data)
			state_set(c, "user_data", json_string(ci->user_data), bad);
		state_set(obj, "cloud_init", c, bad);
	}
	return obj;
}

json_t *state_to_json(const struct state_doc *doc)
{
	json_t *root = json_object(), *arr;
	int bad = 0;

	state_set(root, "version", json_integer(doc->version ? doc->version : 1), &bad);
	state_set(root, "revision", json_integer(doc->revision), &bad);
	if (doc->has_network)
		state_set(root, "network", state_network_json(&doc->network, &bad), &bad);
	arr = json_array();
	for (size_t i = 0; i < doc->n_templates; i++)
		state_append(arr, state_template_json(&doc->templates[i], &bad), &bad);
	state_set(root, "templates", arr, &bad);
	arr = json_array();
	for (size_t i = 0; i < doc->groups.n_groups; i++)
		state_append(arr, secgroup_to_json(&doc->groups.groups[i]), &bad);
	state_set(root, "security_groups", arr, &bad);
	arr = json_array();
	for (size_t i = 0; i < doc->n_instances; i++)
		state_append(arr, state_instance_json(&doc->instances[i], &bad), &bad);
	state_set(root, "instances", arr, &bad);
	if (bad) {
		json_decref(root);
		errno = ENOMEM;
		return NULL;
	}
	return root;
}

/* --- hashes: what the node compares to know what changed ------------------- */

void state_hash_json(json_t *v, char out[17])
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	unsigned long long h = 0xcbf29ce484222325ULL;

	for (const char *p = text ? text : ""; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ULL;
	}
	free(text);
	snprintf(out, 17, "%016llx", h);
}

/*
 * What a change of needs a restart, built from the parsed instance (never
 * from its JSON text): hardware, boot source, disks, each NIC's addresses and
 * cloud-init. Name, power, policies, reboot and the NICs' security groups are
 * left out (only the filters change). Two spellings of one value (a default
 * left out or written, a MAC's case, key order) give the same spec. Its
 * shape is the document the controller has always sent, so that the hash a
 * node saved before stays the same.
 */
static json_t *state_spec_json(const struct state_instance *in)
{
	json_t *spec = json_object(), *disks = json_array(), *nics = json_array();
	char text[INET6_ADDRSTRLEN];
	int bad = 0;

	state_set(spec, "id", json_string(in->id), &bad);
	state_set(spec, "vcpus", json_integer(in->vcpus), &bad);
	state_set(spec, "memory_mib", json_integer(in->memory_mib), &bad);
	if (in->boot_template[0])
		state_set(spec, "boot", json_pack("{s:s}", "template", in->boot_template), &bad);
	for (size_t i = 0; i < in->n_disks; i++) {
		const struct state_disk *d = &in->disks[i];
		json_t *disk = json_pack("{s:s,s:I,s:s}", "id", d->id, "size_mib", (json_int_t)d->size_mib, "format",
					 state_format_name(d->format));

		if (disk && d->template_id[0])
			state_set(disk, "template", json_string(d->template_id), &bad);
		state_append(disks, disk, &bad);
	}
	state_set(spec, "disks", disks, &bad);
	for (size_t i = 0; i < in->n_nics; i++) {
		const struct state_nic *n = &in->nics[i];
		json_t *nic = json_pack("{s:s}", "mac", n->mac);
		struct in_addr a4;
		struct in6_addr a6;

		if (n->ipv4[0] && inet_pton(AF_INET, n->ipv4, &a4) == 1 && inet_ntop(AF_INET, &a4, text, sizeof(text)))
			state_set(nic, "ipv4", json_string(text), &bad);
		if (n->ipv6[0] && inet_pton(AF_INET6, n->ipv6, &a6) == 1 && inet_ntop(AF_INET6, &a6, text, sizeof(text)))
			state_set(nic, "ipv6", json_string(text), &bad);
		state_append(nics, nic, &bad);
	}
	state_set(spec, "nics", nics, &bad);
	if (in->cloud_init.present) {
		const struct state_cloud_init *ci = &in->cloud_init;
		json_t *c = json_object(), *keys = json_array();

		if (ci->hostname[0])
			state_set(c, "hostname", json_string(ci->hostname), &bad);
		for (size_t k = 0; k < ci->n_ssh_keys; k++)
			state_append(keys, json_string(ci->ssh_keys[k]), &bad);
		state_set(c, "ssh_keys", keys, &bad);
		if (ci->user_data)
			state_set(c, "user_data", json_string(ci->user_data), &bad);
		state_set(spec, "cloud_init", c, &bad);
	}
	if (bad) {
		json_decref(spec);
		return NULL;
	}
	return spec;
}

int state_spec_hash(const struct state_instance *in, char out[17])
{
	json_t *spec = state_spec_json(in);

	if (spec == NULL)
		return -1;
	state_hash_json(spec, out);
	json_decref(spec);
	return 0;
}
