/* defaults.h -- defaults and limits shared by cloudd and cloud-controller, with their units */
#ifndef CLOUDD_DEFAULTS_H
#define CLOUDD_DEFAULTS_H

/*
 * Both sides of the controller <-> node contract read these: a value that
 * one program assumes and the other enforces lives here, once. Limits are
 * documented in docs/desired-state.md; a change here is a change of the
 * contract.
 */

/* --- the node's HTTP endpoint ------------------------------------------------ */

#define NODE_API_PORT 8081	   /* TCP port of cloudd's /health, /metrics, /v1/state */
#define NODE_API_LISTEN ":8081"	   /* cloudd's default listen address (all addresses, NODE_API_PORT) */

/* --- the guest network ------------------------------------------------------- */

#define GUEST_BRIDGE "brguest"	   /* the Linux bridge of the guests' NICs on every node */
#define GUEST_IFNAME_MAX 16	   /* bytes of an interface name with the NUL (IFNAMSIZ) */

/* --- the desired-state document (controller -> node) ------------------------- */

#define STATE_MAX_BYTES (4 * 1024 * 1024) /* bytes of the JSON text */
#define STATE_ID_MAX 64			  /* bytes of an id with the NUL: ^[a-z0-9][a-z0-9-]{0,62}$ */
#define STATE_MAX_TEMPLATES 256		  /* templates per document */
#define STATE_MAX_INSTANCES 1024	  /* instances per document */
#define STATE_MAX_DISKS 16		  /* disks per instance */
#define STATE_MAX_NICS 8		  /* NICs per instance */
#define STATE_MAX_NIC_GROUPS 16		  /* security groups per NIC */
#define STATE_MAX_DNS 4			  /* DNS servers of the guest network */
#define STATE_MAX_SSH_KEYS 32		  /* SSH keys per instance */
#define STATE_MAX_SSH_KEY_LEN 8192	  /* bytes of one SSH public key */
#define STATE_MAX_USER_DATA (64 * 1024)	  /* bytes of an instance's cloud-init user data */
#define STATE_MAX_CMDLINE 1024		  /* bytes of a kernel template's command line with the NUL */
#define STATE_MAX_URL 1024		  /* bytes of a template URL with the NUL */
#define STATE_MAX_VCPUS 64		  /* virtual CPUs per instance */
#define STATE_MIN_MEMORY_MIB 16		  /* MiB of memory per instance, at least */
#define STATE_MAX_MEMORY_MIB (1024 * 1024) /* MiB of memory per instance, at most (1 TiB) */
#define STATE_MAX_REBOOT 9007199254740991LL /* reboot generation, 2^53 - 1: exact in any JSON reader */
#define STATE_MAX_DISK_MIB (16ULL * 1024 * 1024) /* MiB of one disk (16 TiB) */

/* --- security groups (in the desired state) ---------------------------------- */

#define SECGROUP_ID_MAX 64	   /* bytes with the NUL: ids are ^[a-z0-9][a-z0-9-]{0,62}$ */
#define SECGROUP_MAX_GROUPS 4096   /* groups per document */
#define SECGROUP_MAX_RULES 1024	   /* rules per group */
#define SECGROUP_MAX_MEMBERS 65536 /* member addresses per group */

/* --- the actual-state report (node -> controller) ---------------------------- */

#define ACTUAL_MAX_BYTES (4 * 1024 * 1024) /* bytes of the JSON text */
#define ACTUAL_MAX_INSTANCES 4096	   /* instances per report: desired ones and those being forgotten */
#define ACTUAL_MAX_TEMPLATES STATE_MAX_TEMPLATES
#define ACTUAL_MAX_VOLUMES 65536	   /* orphan volumes per report */
#define ACTUAL_MAX_TEXT 4096		   /* bytes of an error message or other free text */

#endif
