/* cloudinit.h -- NoCloud seed for a guest: meta-data, user-data, network-config on a vfat image labelled CIDATA */
#ifndef CLOUDD_CLOUDINIT_H
#define CLOUDD_CLOUDINIT_H

#include <stddef.h>

#include "buf.h"
#include "defaults.h"
#include "errmsg.h"

#define CLOUDINIT_MAX_NICS STATE_MAX_NICS /* every NIC a document may give an instance */
#define CLOUDINIT_TOOL_TIMEOUT_MS 30000

/*
 * The seed is built with mkfs.fat (dosfstools) and mcopy (mtools), without
 * mounting anything: both must be in the node image.
 */
struct cloudinit_nic {
	const char *mac;       /* "52:54:00:12:34:01" */
	const char *ipv6;      /* "" or NULL: none; with ipv6_prefix */
	int ipv6_prefix;
};

struct cloudinit_spec {
	const char *instance_id;
	const char *hostname;
	const char *const *ssh_keys;
	size_t n_ssh_keys;
	const char *user_data; /* NULL: a #cloud-config with the SSH keys */
	struct cloudinit_nic nics[CLOUDINIT_MAX_NICS];
	size_t n_nics;
	const char *const *dns; /* nameservers handed to the guest */
	size_t n_dns;
};

/*
 * The three files' contents (JSON, which is YAML: no YAML escaping to get
 * wrong). meta-data: instance-id, local-hostname, public-keys. user-data: as
 * given, or "#cloud-config" with ssh_authorized_keys. network-config:
 * version 2, each NIC matched by MAC, DHCPv4, static IPv6 when given.
 */
int cloudinit_meta_data(const struct cloudinit_spec *s, struct buf *out);
int cloudinit_user_data(const struct cloudinit_spec *s, struct buf *out);
int cloudinit_network_config(const struct cloudinit_spec *s, struct buf *out);

/*
 * Writes the seed image to path (built as path.tmp, renamed when complete).
 * Replaces an existing seed only when its content differs.
 */
int cloudinit_build(const struct cloudinit_spec *s, const char *path, struct errmsg *err);

#endif
