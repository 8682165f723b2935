/* state.h -- the desired-state document in C structs: parse, validate, compare with the actual state */
#ifndef CLOUDD_STATE_H
#define CLOUDD_STATE_H

#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>

#include <jansson.h>

#include "errmsg.h"
#include "port.h"
#include "secgroup.h"

/* Limits of one document (see docs/desired-state.md) */
#define STATE_MAX_BYTES (4 * 1024 * 1024) /* bytes of the JSON text */
#define STATE_ID_MAX 64			  /* bytes with the NUL */
#define STATE_MAX_TEMPLATES 256
#define STATE_MAX_INSTANCES 1024
#define STATE_MAX_DISKS 16		 /* per instance */
#define STATE_MAX_NICS 8		 /* per instance */
#define STATE_MAX_NIC_GROUPS 16		 /* security groups per NIC */
#define STATE_MAX_DNS 4
#define STATE_MAX_SSH_KEYS 32
#define STATE_MAX_SSH_KEY_LEN 8192
#define STATE_MAX_USER_DATA (64 * 1024) /* bytes */
#define STATE_MAX_CMDLINE 1024
#define STATE_MAX_URL 1024
#define STATE_MAX_VCPUS 64
#define STATE_MIN_MEMORY_MIB 16
#define STATE_MAX_MEMORY_MIB (1024 * 1024)
#define STATE_MAX_REBOOT 9007199254740991LL /* 2^53 - 1: exact in any JSON reader */
#define STATE_MAX_DISK_MIB (16ULL * 1024 * 1024) /* 16 TiB */

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
	char bridge[16];
	char uplink[16]; /* "" = none */
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
	json_t *root;	       /* the validated document itself (for filter_model_from_doc) */
};

/*
 * Parses and validates a whole document. On error returns -1 with err naming
 * the field ("instances[1].nics[0].mac: not a MAC address: ...") and out
 * left empty (nothing to free); on success the caller frees out.
 */
int state_parse(const char *text, size_t len, struct state_doc *out, struct errmsg *err);
int state_from_json(json_t *root, struct state_doc *out, struct errmsg *err);
void state_free(struct state_doc *doc);

const struct state_template *state_find_template(const struct state_doc *doc, const char *id);
const struct state_instance *state_find_instance(const struct state_doc *doc, const char *id);
const char *state_power_name(enum state_power power);
const char *state_format_name(enum state_format format);
int state_id_valid(const char *id);

/* --- the difference between desired and actual --------------------------------- */

/* What the node has, as far as planning is concerned. */
struct state_actual_template {
	char id[STATE_ID_MAX];
	char sha256[65]; /* of the cached file(s) */
};

struct state_actual_volume {
	char instance[STATE_ID_MAX];
	char disk[STATE_ID_MAX];
};

enum state_run { STATE_RUN_STOPPED, STATE_RUN_RUNNING };

struct state_actual_instance {
	char id[STATE_ID_MAX];
	enum state_run run;
	char spec_hash[17]; /* of the spec it was started with */
	int hold;	    /* do not start: restart policy or back-off after a failure */
	long long reboot_done; /* the last reboot generation the guest has seen */
};

struct state_actual {
	struct state_actual_template *templates;
	size_t n_templates;
	struct state_actual_volume *volumes;
	size_t n_volumes;
	struct state_actual_instance *instances;
	size_t n_instances;
	char network_hash[17]; /* "" = never applied */
};

enum state_action_kind {
	STATE_ACT_INSTANCE_STOP,    /* graceful stop; instance stays known */
	STATE_ACT_INSTANCE_FORGET,  /* stop if running, then forget; volumes are kept */
	STATE_ACT_VOLUME_DELETE,    /* power "deleted" with delete_volumes */
	STATE_ACT_TEMPLATE_FETCH,
	STATE_ACT_VOLUME_CREATE,
	STATE_ACT_NETWORK_APPLY,
	STATE_ACT_INSTANCE_RESTART, /* running with an older spec */
	STATE_ACT_INSTANCE_START,
	STATE_ACT_INSTANCE_REBOOT,  /* running, same spec, a higher reboot generation */
};

struct state_action {
	enum state_action_kind kind;
	char instance[STATE_ID_MAX]; /* "" for templates and the network */
	char object[STATE_ID_MAX];   /* template or disk id */
};

struct state_plan {
	struct state_action *actions;
	size_t n_actions;
};

/*
 * The actions that bring actual to desired, in order: first what goes away
 * (stops, forgets, volume deletions: nothing is deleted under a running
 * guest), then what comes (templates -> volumes -> network -> instances). An
 * empty plan means converged. Pure: the same inputs always give the same plan.
 */
int state_plan(const struct state_doc *desired, const struct state_actual *actual,
	       struct state_plan *out);
void state_plan_free(struct state_plan *plan);
const char *state_action_name(enum state_action_kind kind);

#endif
