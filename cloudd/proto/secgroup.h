/* secgroup.h -- security groups of the desired state: parsed and validated into C structs, rendered back to JSON */
#ifndef CLOUDD_SECGROUP_H
#define CLOUDD_SECGROUP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "defaults.h"
#include "errmsg.h"

enum sg_direction { SG_INGRESS, SG_EGRESS };

enum sg_protocol { SG_PROTO_ANY, SG_PROTO_TCP, SG_PROTO_UDP, SG_PROTO_ICMP, SG_PROTO_ICMPV6 };

/* An IPv4 or IPv6 address; for a CIDR, prefix is its length. */
struct sg_addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int prefix;
};

struct sg_rule {
	enum sg_direction direction;
	enum sg_protocol protocol;
	int port_min, port_max;	 /* 0 and 0: every port (and always for non-tcp/udp) */
	int icmp_type, icmp_code; /* -1: any */
	int has_cidr;		 /* 1: cidr is the peer; 0: group's members are */
	struct sg_addr cidr;
	char group[SECGROUP_ID_MAX];
};

struct secgroup {
	char id[SECGROUP_ID_MAX];
	struct sg_addr *members; /* host addresses (prefix 32 / 128), no duplicates */
	size_t n_members;
	struct sg_rule *rules;
	size_t n_rules;
};

struct secgroup_set {
	struct secgroup *groups; /* in document order */
	size_t n_groups;
	size_t *by_id;		 /* indexes of groups sorted by id, for secgroup_find */
};

/*
 * Parses and validates the `security_groups` array of a desired-state
 * document (array may be NULL: no groups). On error returns -1, fills err
 * with the field path ("security_groups[1].rules[0].ports") and leaves out
 * empty; nothing to free. On success the caller frees out with
 * secgroup_set_free.
 */
int secgroup_parse(json_t *array, struct secgroup_set *out, struct errmsg *err);
void secgroup_set_free(struct secgroup_set *set);
/*
 * Parses one rule object (the API checks a rule alone with it); path prefixes
 * the fields in err. A rule's group is only checked to be an id here:
 * secgroup_parse checks that the document has it. 0, or -1 with err.
 */
int sg_rule_parse(json_t *obj, struct sg_rule *rule, const char *path, struct errmsg *err);

/*
 * The renderers: what they write, secgroup_parse and sg_rule_parse read back
 * to the same structs. A new reference, or NULL on ENOMEM.
 */
json_t *secgroup_to_json(const struct secgroup *group);
json_t *sg_rule_to_json(const struct sg_rule *rule);
struct secgroup *secgroup_find(const struct secgroup_set *set, const char *id);

/* true when group has at least one egress rule (egress becomes default-deny) */
int secgroup_has_egress(const struct secgroup *group);

/*
 * Appends addr (a host address) to group's members; call
 * secgroup_sort_members afterwards to restore the sorted, unique order that
 * the rest of the code relies on. 0 / -1 ENOMEM.
 */
int secgroup_add_member(struct secgroup *group, const struct sg_addr *addr);
/* Sorts members (IPv4 first, then by address) and drops duplicates. */
void secgroup_sort_members(struct secgroup *group);
/* Orders two addresses as secgroup_sort_members does. */
int sg_addr_cmp(const struct sg_addr *a, const struct sg_addr *b);

/* (Re)builds set->by_id after groups were added; 0 or -1 ENOMEM. */
int secgroup_set_index(struct secgroup_set *set);
/* Deep copy; 0 or -1 ENOMEM (dst is then empty). */
int secgroup_set_copy(struct secgroup_set *dst, const struct secgroup_set *src);

/* true when id matches ^[a-z0-9][a-z0-9-]{0,62}$ */
int secgroup_id_valid(const char *id);

/* Text parsers shared with the NIC fields: 0 or -1 (no errno). */
int sg_parse_addr(const char *text, struct sg_addr *out);
/* "ADDR/PREFIX" with no host bits set; *host_bits set to 1 when that was the problem */
int sg_parse_cidr(const char *text, struct sg_addr *out, int *host_bits);
/* "N" or "N-M", 1 <= N <= M <= 65535; why says what was wrong */
int sg_parse_ports(const char *text, int *min, int *max, const char **why);

const char *sg_protocol_name(enum sg_protocol protocol);
/* Formats a field path for an errmsg; a path that does not fit becomes "(field path too long)". */
void sg_field(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* address (and "/prefix" when it is a network) as text; out has room for 50 bytes */
const char *sg_addr_str(const struct sg_addr *addr, int with_prefix, char *out, size_t outlen);
int sg_addr_equal(const struct sg_addr *a, const struct sg_addr *b);

#endif
