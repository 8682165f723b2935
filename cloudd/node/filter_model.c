/* filter_model.c -- the filter model (ports and groups) built from a desired-state document */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "filter.h"
#include "port.h"

void filter_ipv6_link_local(const uint8_t mac[6], uint8_t out[16])
{
	memset(out, 0, 16);
	out[0] = 0xfe;
	out[1] = 0x80;
	out[8] = mac[0] ^ 0x02;
	out[9] = mac[1];
	out[10] = mac[2];
	out[11] = 0xff;
	out[12] = 0xfe;
	out[13] = mac[3];
	out[14] = mac[4];
	out[15] = mac[5];
}

static int filter_parse_mac(const char *text, uint8_t mac[6])
{
	unsigned v[6];
	char end;
	size_t i;

	if (strlen(text) != 17)
		return -1;
	for (i = 0; i < 17; i++) {
		char c = text[i];
		if (i % 3 == 2 ? c != ':' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return -1;
	}
	if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &end) != 6)
		return -1;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

void filter_model_free(struct filter_model *model)
{
	if (model == NULL)
		return;
	free(model->ports);
	secgroup_set_free(&model->groups);
	memset(model, 0, sizeof(*model));
}

int filter_model_copy(struct filter_model *dst, const struct filter_model *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src->n_ports) {
		dst->ports = malloc(src->n_ports * sizeof(*dst->ports));
		if (dst->ports == NULL)
			return -1;
		memcpy(dst->ports, src->ports, src->n_ports * sizeof(*dst->ports));
		dst->n_ports = src->n_ports;
	}
	if (secgroup_set_copy(&dst->groups, &src->groups) < 0) {
		filter_model_free(dst);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

const struct filter_port *filter_model_port(const struct filter_model *model, const char *ifname)
{
	size_t lo = 0, hi = model->n_ports;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(model->ports[mid].ifname, ifname);

		if (c == 0)
			return &model->ports[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int filter_port_cmp(const void *a, const void *b)
{
	return strcmp(((const struct filter_port *)a)->ifname, ((const struct filter_port *)b)->ifname);
}

/* Reads the filter-relevant fields of one NIC. */
static int filter_parse_nic(json_t *nic, const struct secgroup_set *groups, struct filter_port *port,
			    const char *path, struct errmsg *err)
{
	char field[256];
	json_t *v, *item;
	struct sg_addr addr;
	size_t k;

	if (!json_is_object(nic)) {
		errmsg_set(err, path, "must be an object");
		return -1;
	}
	sg_field(field, sizeof(field), "%s.mac", path);
	v = json_object_get(nic, "mac");
	if (!json_is_string(v) || filter_parse_mac(json_string_value(v), port->mac) < 0) {
		errmsg_set(err, field, "not a MAC address%s%.40s%s", json_is_string(v) ? ": \"" : "",
			   json_is_string(v) ? json_string_value(v) : "", json_is_string(v) ? "\"" : "");
		return -1;
	}
	if (port->mac[0] & 0x01) {
		errmsg_set(err, field, "a multicast MAC address cannot be a NIC's: \"%s\"", json_string_value(v));
		return -1;
	}
	if (memcmp(port->mac, "\0\0\0\0\0\0", 6) == 0) {
		errmsg_set(err, field, "the all-zero MAC address cannot be a NIC's");
		return -1;
	}
	filter_ipv6_link_local(port->mac, port->ipv6_ll);

	v = json_object_get(nic, "ipv4");
	if (v != NULL) {
		sg_field(field, sizeof(field), "%s.ipv4", path);
		if (!json_is_string(v) || sg_parse_addr(json_string_value(v), &addr) < 0 || addr.family != AF_INET) {
			errmsg_set(err, field, "not an IPv4 address");
			return -1;
		}
		memcpy(port->ipv4, addr.addr, 4);
		port->has_ipv4 = 1;
	}
	v = json_object_get(nic, "ipv6");
	if (v != NULL) {
		sg_field(field, sizeof(field), "%s.ipv6", path);
		if (!json_is_string(v) || sg_parse_addr(json_string_value(v), &addr) < 0 || addr.family != AF_INET6) {
			errmsg_set(err, field, "not an IPv6 address");
			return -1;
		}
		memcpy(port->ipv6, addr.addr, 16);
		port->has_ipv6 = 1;
	}
	v = json_object_get(nic, "security_groups");
	if (v != NULL) {
		sg_field(field, sizeof(field), "%s.security_groups", path);
		if (!json_is_array(v)) {
			errmsg_set(err, field, "must be an array of security group ids");
			return -1;
		}
		if (json_array_size(v) > FILTER_MAX_GROUPS_PER_NIC) {
			errmsg_set(err, field, "more than %d groups", FILTER_MAX_GROUPS_PER_NIC);
			return -1;
		}
		json_array_foreach(v, k, item) {
			const char *id = json_string_value(item);
			size_t j;

			sg_field(field, sizeof(field), "%s.security_groups[%zu]", path, k);
			if (id == NULL || !secgroup_id_valid(id)) {
				errmsg_set(err, field, "not a security group id");
				return -1;
			}
			if (secgroup_find(groups, id) == NULL) {
				errmsg_set(err, field, "no security group \"%s\" in this document", id);
				return -1;
			}
			for (j = 0; j < port->n_groups; j++) {
				if (strcmp(port->groups[j], id) == 0) {
					errmsg_set(err, field, "group \"%s\" listed twice", id);
					return -1;
				}
			}
			snprintf(port->groups[port->n_groups++], SECGROUP_ID_MAX, "%s", id);
		}
	}
	return 0;
}

int filter_model_from_doc(json_t *doc, struct filter_model *out, struct errmsg *err)
{
	char field[256];
	json_t *instances, *inst, *nics, *nic, *v;
	size_t i, j, n = 0, cap = 0;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(doc)) {
		errmsg_set(err, "", "the desired state must be a JSON object");
		return -1;
	}
	if (secgroup_parse(json_object_get(doc, "security_groups"), &out->groups, err) < 0)
		return -1;

	instances = json_object_get(doc, "instances");
	if (instances != NULL && !json_is_array(instances)) {
		errmsg_set(err, "instances", "must be an array");
		goto err_free;
	}
	json_array_foreach(instances, i, inst) {
		const char *id;

		sg_field(field, sizeof(field), "instances[%zu]", i);
		if (!json_is_object(inst)) {
			errmsg_set(err, field, "must be an object");
			goto err_free;
		}
		sg_field(field, sizeof(field), "instances[%zu].id", i);
		id = json_string_value(json_object_get(inst, "id"));
		if (id == NULL || !secgroup_id_valid(id)) {
			errmsg_set(err, field, "must match ^[a-z0-9][a-z0-9-]{0,62}$");
			goto err_free;
		}
		v = json_object_get(inst, "power");
		if (json_is_string(v) && strcmp(json_string_value(v), "deleted") == 0)
			continue;
		nics = json_object_get(inst, "nics");
		if (nics == NULL)
			continue;
		if (!json_is_array(nics)) {
			sg_field(field, sizeof(field), "instances[%zu].nics", i);
			errmsg_set(err, field, "must be an array");
			goto err_free;
		}
		json_array_foreach(nics, j, nic) {
			struct filter_port *port;

			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct filter_port *grown = realloc(out->ports, ncap * sizeof(*grown));

				if (grown == NULL) {
					errmsg_set(err, "instances", "out of memory");
					goto err_free;
				}
				out->ports = grown;
				cap = ncap;
			}
			sg_field(field, sizeof(field), "instances[%zu].nics[%zu]", i, j);
			if (n >= FILTER_MAX_PORTS) {
				errmsg_set(err, field, "more than %d NICs on one node", FILTER_MAX_PORTS);
				goto err_free;
			}
			port = &out->ports[n];
			memset(port, 0, sizeof(*port));
			snprintf(port->instance, sizeof(port->instance), "%s", id);
			port->nic = (int)j;
			if (port_ifname(id, (int)j, port->ifname, sizeof(port->ifname)) < 0) {
				errmsg_set(err, field, "cannot name its port");
				goto err_free;
			}
			n++;
			out->n_ports = n;
			if (filter_parse_nic(nic, &out->groups, port, field, err) < 0)
				goto err_free;
		}
	}
	if (n > 1)
		qsort(out->ports, n, sizeof(*out->ports), filter_port_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(out->ports[i - 1].ifname, out->ports[i].ifname) == 0) {
			const struct filter_port *a = &out->ports[i - 1], *b = &out->ports[i];

			if (strcmp(a->instance, b->instance) == 0) {
				sg_field(field, sizeof(field), "instances[id=%s]", a->instance);
				errmsg_set(err, field, "instance id used twice");
			} else {
				sg_field(field, sizeof(field), "instances[id=%s].nics[%d]", b->instance, b->nic);
				errmsg_set(err, field, "its port name %s collides with instance %s NIC %d; change an instance id",
					   b->ifname, a->instance, a->nic);
			}
			goto err_free;
		}
	}
	/* this node's NICs are members of their groups */
	for (i = 0; i < n; i++) {
		const struct filter_port *port = &out->ports[i];

		for (j = 0; j < port->n_groups; j++) {
			struct secgroup *group = secgroup_find(&out->groups, port->groups[j]);
			struct sg_addr addr;

			memset(&addr, 0, sizeof(addr));
			if (port->has_ipv4) {
				addr.family = AF_INET;
				addr.prefix = 32;
				memcpy(addr.addr, port->ipv4, 4);
				if (secgroup_add_member(group, &addr) < 0)
					goto err_nomem;
			}
			if (port->has_ipv6) {
				addr.family = AF_INET6;
				addr.prefix = 128;
				memcpy(addr.addr, port->ipv6, 16);
				if (secgroup_add_member(group, &addr) < 0)
					goto err_nomem;
			}
		}
	}
	for (i = 0; i < out->groups.n_groups; i++)
		secgroup_sort_members(&out->groups.groups[i]);
	return 0;

err_nomem:
	errmsg_set(err, "security_groups", "out of memory");
err_free:
	filter_model_free(out);
	return -1;
}
