/* filter_model.c -- the filter model (ports and groups) built from a parsed desired-state document */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "filter.h"
#include "netaddr.h"
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

/* The filter-relevant fields of one NIC, checked already by the parser. */
static void filter_port_from_nic(const struct state_nic *nic, struct filter_port *port)
{
	(void)netaddr_parse_mac(nic->mac, 0, port->mac); /* checked by the parser: cannot fail */
	filter_ipv6_link_local(port->mac, port->ipv6_ll);
	port->has_ipv4 = nic->ipv4[0] && inet_pton(AF_INET, nic->ipv4, port->ipv4) == 1;
	port->has_ipv6 = nic->ipv6[0] && inet_pton(AF_INET6, nic->ipv6, port->ipv6) == 1;
	for (size_t k = 0; k < nic->n_groups; k++)
		memcpy(port->groups[k], nic->groups[k], sizeof(port->groups[k]));
	port->n_groups = nic->n_groups;
}

/* take: doc's own groups, which the model takes (no copy); NULL: the model copies them */
static int filter_model_build(const struct state_doc *doc, struct secgroup_set *take, struct filter_model *out,
			      struct errmsg *err)
{
	char field[256];
	size_t i, j, n = 0;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < doc->n_instances; i++)
		if (doc->instances[i].power != STATE_POWER_DELETED)
			n += doc->instances[i].n_nics;
	if (n > FILTER_MAX_PORTS) {
		errmsg_set(err, "instances", "more than %d NICs on one node", FILTER_MAX_PORTS);
		return -1;
	}
	if (take) {
		out->groups = *take;
		memset(take, 0, sizeof(*take));
	} else if (secgroup_set_copy(&out->groups, &doc->groups) < 0) {
		errmsg_set(err, "security_groups", "out of memory");
		return -1;
	}
	if (n > 0) {
		out->ports = calloc(n, sizeof(*out->ports));
		if (out->ports == NULL)
			goto err_nomem;
	}
	for (i = 0; i < doc->n_instances; i++) {
		const struct state_instance *in = &doc->instances[i];

		if (in->power == STATE_POWER_DELETED)
			continue;
		for (j = 0; j < in->n_nics; j++) {
			struct filter_port *port = &out->ports[out->n_ports++];

			memcpy(port->instance, in->id, sizeof(port->instance));
			port->nic = (int)j;
			memcpy(port->ifname, in->nics[j].ifname, sizeof(in->nics[j].ifname));
			filter_port_from_nic(&in->nics[j], port);
		}
	}
	/* the parser refused two NICs with one port name: sorted, they are unique */
	if (out->n_ports > 1)
		qsort(out->ports, out->n_ports, sizeof(*out->ports), filter_port_cmp);
	/* this node's NICs are members of their groups */
	for (i = 0; i < out->n_ports; i++) {
		const struct filter_port *port = &out->ports[i];

		for (j = 0; j < port->n_groups; j++) {
			struct secgroup *group = secgroup_find(&out->groups, port->groups[j]);
			struct sg_addr addr;

			if (group == NULL) { /* cannot happen: the parser checked the reference */
				sg_field(field, sizeof(field), "instances[id=%s].nics[%d].security_groups[%zu]",
					 port->instance, port->nic, j);
				errmsg_set(err, field, "no security group \"%s\" in this document", port->groups[j]);
				goto err_free;
			}
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

int filter_model_from_doc(const struct state_doc *doc, struct filter_model *out, struct errmsg *err)
{
	return filter_model_build(doc, NULL, out, err);
}

int filter_model_take_doc(struct state_doc *doc, struct filter_model *out, struct errmsg *err)
{
	return filter_model_build(doc, &doc->groups, out, err);
}
