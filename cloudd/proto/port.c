/* port.c -- the host-side interface name of a guest NIC (its tap, and its filter port) */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "port.h"

static uint32_t port_fnv1a(uint32_t hash, const char *s)
{
	for (; *s; s++) {
		hash ^= (unsigned char)*s;
		hash *= 16777619u;
	}
	return hash;
}

int port_ifname(const char *instance_id, int nic_index, char *out, size_t outlen)
{
	char index[16];
	uint32_t hash = 2166136261u;
	int n;

	if (instance_id == NULL || out == NULL || nic_index < 0) {
		errno = EINVAL;
		return -1;
	}
	snprintf(index, sizeof(index), "/%d", nic_index);
	hash = port_fnv1a(hash, instance_id);
	hash = port_fnv1a(hash, index);
	n = snprintf(out, outlen, "cv%08x", hash);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ERANGE;
		return -1;
	}
	return 0;
}

int port_ifname_valid(const char *name)
{
	size_t i;

	if (name == NULL || strlen(name) != PORT_IFNAME_LEN - 1 || strncmp(name, "cv", 2) != 0)
		return 0;
	for (i = 2; i < PORT_IFNAME_LEN - 1; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return 1;
}
