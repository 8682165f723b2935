/* desired.h -- the desired-state document (controller -> node) in C structs: one parser, one renderer */
#ifndef CLOUDD_DESIRED_H
#define CLOUDD_DESIRED_H

#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>

#include <jansson.h>

#include "defaults.h"
#include "errmsg.h"
#include "port.h"
#include "secgroup.h"

/* a NIC's group ids and rules' group ids are copied between the two */
_Static_assert(SECGROUP_ID_MAX == STATE_ID_MAX, "security group ids are document ids");

enum state_format { STATE_FMT_QCOW2, STATE_FMT_RAW, STATE_FMT_KERNEL };
enum state_power { STATE_POWER_RUNNING, STATE_POWER_STOPPED, STATE_POWER_DELETED };
enum state_restart { STATE_RESTART_ON_FAILURE, STATE_RESTART_ALWAYS, STATE_RESTART_NEVER };

/* Where a template file comes from: an http URL or a local path, with its checksum. */
struct state_source {
	char url[STATE_MAX_URL]; /* "" when path is set */
	char path[PATH_MAX];	 /* "" when url is set */
	char sha256[65];	 /* lower-case hex */
	unsigned long long size; /* bytes, 0 = not given */
};

struct state_template {
	char id[STATE_ID_MAX];
	enum state_format format;
	struct state_source disk;   /* qcow2 and raw */
	struct state_source kernel; /* kernel */
	struct state_source initrd; /* kernel, optional */
	int has_initrd;
	char cmdline[STATE_MAX_CMDLINE];
};

struct state_network {
	char bridge[GUEST_IFNAME_MAX];
	char uplink[GUEST_IFNAME_MAX]; /* "" = none */
	struct in_addr address;		/* the node's address on the bridge */
	int prefix;			/* of address: the guest subnet */
	struct in_addr gateway;		/* 0 = none */
	struct in_addr dns[STATE_MAX_DNS];
	size_t n_dns;
	int has_address6;
	struct in6_addr address6;
	int prefix6;
	char address_text[24];	/* "198.51.100.1/24" */
	char address6_text[64]; /* "" when absent */
};

struct state_disk {
	char id[STATE_ID_MAX];
	unsigned long long size_mib;
	char template_id[STATE_ID_MAX]; /* "" = blank */
	enum state_format format;	/* STATE_FMT_QCOW2 or STATE_FMT_RAW */
};

struct state_nic {
	char mac[18]; /* lower case */
	char ipv4[16];
	char ipv6[46]; /* "" = none */
	char groups[STATE_MAX_NIC_GROUPS][STATE_ID_MAX];
	size_t n_groups;
	char ifname[PORT_IFNAME_LEN]; /* tap and filter port, from port_ifname() */
};

struct state_cloud_init {
	int present;
	char hostname[254];
	char **ssh_keys;
	size_t n_ssh_keys;
	char *user_data; /* NULL = default #cloud-config with the SSH keys */
};

struct state_instance {
	char id[STATE_ID_MAX];
	char name[STATE_ID_MAX];
	unsigned vcpus;
	unsigned memory_mib;
	enum state_power power;
	enum state_restart restart;
	int delete_volumes;
	long long reboot;  /* reboot generation: raising it resets the guest once */
	int stop_force;    /* "stop": "force": power stopped/deleted quits QEMU at once */
	char boot_template[STATE_ID_MAX]; /* "" = boot from the first disk */
	struct state_disk *disks;
	size_t n_disks;
	struct state_nic *nics;
	size_t n_nics;
	struct state_cloud_init cloud_init;
	char spec_hash[17]; /* of what a change of needs a restart: hardware, boot, cloud-init */
};

struct state_doc {
	long long version;
	long long revision;
	int has_network;
	struct state_network network;
	struct state_template *templates;
	size_t n_templates;
	struct secgroup_set groups;
	struct state_instance *instances;
	size_t n_instances;
	char network_hash[17]; /* network + every NIC: bridge, leases and filters */
	/*
	 * A parsed document's NICs, every instance's in one allocation (its
	 * instances' nics point into it; state_free frees it, not them). NULL in
	 * a document built by hand: each instance's nics is its own allocation.
	 */
	struct state_nic *nic_pool;
	size_t nic_pool_used, nic_pool_size;
};

/*
 * Parses and validates a whole document. On error returns -1 with err naming
 * the field ("instances[1].nics[0].mac: not a MAC address: ...") and out
 * left empty (nothing to free); on success the caller frees out.
 */
int state_parse(const char *text, size_t len, struct state_doc *out, struct errmsg *err);
int state_from_json(json_t *root, struct state_doc *out, struct errmsg *err);
/*
 * Parses the part of a document the filters read (`cloudd filter --state`):
 * the same checks, but version, revision, network, an instance's hardware,
 * power (default running), boot source and a NIC's ipv4 may be absent.
 * The spec and network hashes are left empty: the filters need neither.
 */
int state_parse_filters(const char *text, size_t len, struct state_doc *out, struct errmsg *err);
/* state_parse_filters of the file at path, parsed as it is read; an I/O error is err's message. */
int state_load_filters(const char *path, struct state_doc *out, struct errmsg *err);
/* 64-bit FNV-1a of v's canonical JSON text (compact, keys sorted), as 16 hex digits. */
void state_hash_json(json_t *v, char out[17]);
/*
 * An instance's spec hash: of what a change of needs a restart (hardware,
 * boot source, disks, each NIC's addresses, cloud-init), from the parsed
 * values, never from the JSON text. 0, or -1 (ENOMEM).
 */
int state_spec_hash(const struct state_instance *in, char out[17]);
void state_free(struct state_doc *doc);

/*
 * Renders doc as the JSON document state_parse reads back to the same
 * structs (the controller builds a state_doc and sends this). Hashes are not
 * rendered: the parser computes them. A new reference, or NULL with errno
 * ENOMEM.
 */
json_t *state_to_json(const struct state_doc *doc);

const struct state_template *state_find_template(const struct state_doc *doc, const char *id);
const struct state_instance *state_find_instance(const struct state_doc *doc, const char *id);
const char *state_power_name(enum state_power power);
const char *state_format_name(enum state_format format);
int state_id_valid(const char *id);

#endif
