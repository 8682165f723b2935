/* port.h -- the host-side interface name of a guest NIC (its tap, and its filter port) */
#ifndef CLOUDD_PORT_H
#define CLOUDD_PORT_H

#include <stddef.h>

#include "defaults.h"

/* "cv" + 8 hex digits + NUL: fits IFNAMSIZ (16) with room to spare */
#define PORT_IFNAME_LEN 11
_Static_assert(PORT_IFNAME_LEN <= GUEST_IFNAME_MAX, "a port name is an interface name");

/*
 * Writes the interface name of NIC nic_index of instance instance_id into out
 * (at least PORT_IFNAME_LEN bytes): "cv" followed by the FNV-1a 32-bit hash of
 * "<instance id>/<nic index>" in lower-case hex. The name is a pure function
 * of the desired state, so a restarted cloudd finds its taps and filter ports
 * again without any saved mapping. Two NICs can collide (1 in 2^32 per pair):
 * the desired-state validator rejects such a document.
 * Returns 0, or -1 with errno EINVAL (NULL id, negative index) or ERANGE
 * (outlen too small).
 */
int port_ifname(const char *instance_id, int nic_index, char *out, size_t outlen);

/* true when name has the form port_ifname produces */
int port_ifname_valid(const char *name);

#endif
