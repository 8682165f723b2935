/* template_url.h -- a tenant's template URL must not point the nodes at the controller or at internal networks */
#ifndef CLOUDD_TEMPLATE_URL_H
#define CLOUDD_TEMPLATE_URL_H

#include "netaddr.h"

struct controller;
struct op_error;

/*
 * The controller's own networks as far as it knows them: its interfaces'
 * addresses, the listen and url addresses, the provisioning interface's
 * networks and the dhcp-range network (netboot), the guest gateway.
 */
void template_url_own(const struct controller *ctrl, struct netaddr_list *own);

/*
 * 0 when nodes may fetch url (field names it in refusals: "url",
 * "initrd.url"), else -1 with err: 400 bad_field when it has no http origin,
 * 422 forbidden_address when it is at the controller's own origin (always:
 * the nodes trust that origin) or when any address its host resolves to is
 * loopback, unspecified, link-local, multicast, broadcast or one of
 * template_url_own's, and not inside template-allow-cidrs. A host that does
 * not resolve here is let through: the node checks every address it
 * connects to again (node/template.c), so a name that resolves later, or
 * differently, gains nothing.
 */
int template_url_check(const struct controller *ctrl, const char *field, const char *url, struct op_error *err);

#endif
