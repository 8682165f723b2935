/* secgroup.c -- security groups of the desired state: parsed and validated into C structs, rendered back to JSON */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "netaddr.h"
#include "secgroup.h"

int secgroup_id_valid(const char *id)
{
	size_t i, len;

	if (id == NULL)
		return 0;
	len = strlen(id);
	if (len < 1 || len > SECGROUP_ID_MAX - 1)
		return 0;
	for (i = 0; i < len; i++) {
		char c = id[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && c == '-');
		if (!ok)
			return 0;
	}
	return 1;
}

_Static_assert(sizeof(((struct sg_addr *)0)->addr) == sizeof(((struct netaddr *)0)->addr),
	       "a group's address holds what netaddr parses");

static void sg_addr_from(const struct netaddr *a, struct sg_addr *out)
{
	out->family = a->family;
	memcpy(out->addr, a->addr, sizeof(out->addr));
	out->prefix = a->prefix;
}

int sg_parse_addr(const char *text, struct sg_addr *out)
{
	struct netaddr a;

	memset(out, 0, sizeof(*out));
	if (netaddr_parse(text, &a) < 0)
		return -1;
	sg_addr_from(&a, out);
	return 0;
}

int sg_parse_cidr(const char *text, struct sg_addr *out, int *host_bits)
{
	struct netaddr a;

	memset(out, 0, sizeof(*out));
	*host_bits = 0;
	if (netaddr_parse_cidr(text, &a) < 0)
		return -1;
	sg_addr_from(&a, out);
	if (netaddr_host_bits(&a)) {
		*host_bits = 1;
		return -1;
	}
	return 0;
}

static int sg_parse_port(const char *s, size_t len, int *port)
{
	size_t i;
	long v = 0;

	if (len == 0 || len > 5 || (s[0] == '0' && len > 1))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*port = (int)v;
	return 0;
}

int sg_parse_ports(const char *text, int *min, int *max, const char **why)
{
	const char *dash = strchr(text, '-');
	int a, b;

	*why = "not a port or port range (\"N\" or \"N-M\")";
	if (dash == NULL) {
		if (sg_parse_port(text, strlen(text), &a) < 0)
			return -1;
		b = a;
	} else {
		if (sg_parse_port(text, (size_t)(dash - text), &a) < 0 ||
		    sg_parse_port(dash + 1, strlen(dash + 1), &b) < 0)
			return -1;
	}
	if (a < 1 || a > 65535 || b < 1 || b > 65535) {
		*why = "port out of range 1-65535";
		return -1;
	}
	if (a > b) {
		*why = "range start is greater than its end";
		return -1;
	}
	*min = a;
	*max = b;
	return 0;
}

void sg_field(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	str_vprintf(out, outlen, "(field path too long)", fmt, ap);
	va_end(ap);
}

/*
 * Sets err for field name of path ("PATH.NAME") and returns -1. The path is
 * written only here, on failure: a document's thousands of rules pay nothing
 * for the paths of their valid fields.
 */
static int sg_fail(struct errmsg *err, const char *path, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int sg_fail(struct errmsg *err, const char *path, const char *name, const char *fmt, ...)
{
	char field[256], msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sg_field(field, sizeof(field), "%s.%s", path, name);
	errmsg_set(err, field, "%s", msg);
	return -1;
}

const char *sg_protocol_name(enum sg_protocol protocol)
{
	switch (protocol) {
	case SG_PROTO_TCP: return "tcp";
	case SG_PROTO_UDP: return "udp";
	case SG_PROTO_ICMP: return "icmp";
	case SG_PROTO_ICMPV6: return "icmpv6";
	case SG_PROTO_ANY: break;
	}
	return "any";
}

const char *sg_addr_str(const struct sg_addr *addr, int with_prefix, char *out, size_t outlen)
{
	char text[INET6_ADDRSTRLEN];

	if (inet_ntop(addr->family, addr->addr, text, sizeof(text)) == NULL)
		snprintf(text, sizeof(text), "?");
	if (with_prefix)
		snprintf(out, outlen, "%s/%d", text, addr->prefix);
	else
		snprintf(out, outlen, "%s", text);
	return out;
}

int sg_addr_equal(const struct sg_addr *a, const struct sg_addr *b)
{
	size_t len = a->family == AF_INET ? 4 : 16;

	return a->family == b->family && a->prefix == b->prefix && memcmp(a->addr, b->addr, len) == 0;
}

/* for qsort_r-free sorting of group indexes: the set being indexed */
static const struct secgroup_set *sg_index_set;

static int sg_index_cmp(const void *a, const void *b)
{
	return strcmp(sg_index_set->groups[*(const size_t *)a].id, sg_index_set->groups[*(const size_t *)b].id);
}

int secgroup_set_index(struct secgroup_set *set)
{
	size_t i;

	free(set->by_id);
	set->by_id = NULL;
	if (set->n_groups == 0)
		return 0;
	set->by_id = malloc(set->n_groups * sizeof(*set->by_id));
	if (set->by_id == NULL)
		return -1;
	for (i = 0; i < set->n_groups; i++)
		set->by_id[i] = i;
	sg_index_set = set;
	qsort(set->by_id, set->n_groups, sizeof(*set->by_id), sg_index_cmp);
	sg_index_set = NULL;
	return 0;
}

struct secgroup *secgroup_find(const struct secgroup_set *set, const char *id)
{
	size_t lo = 0, hi = set->n_groups, i;

	if (set->by_id == NULL) {
		for (i = 0; i < set->n_groups; i++)
			if (strcmp(set->groups[i].id, id) == 0)
				return &set->groups[i];
		return NULL;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct secgroup *g = &set->groups[set->by_id[mid]];
		int c = strcmp(g->id, id);

		if (c == 0)
			return g;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int secgroup_has_egress(const struct secgroup *group)
{
	size_t i;

	for (i = 0; i < group->n_rules; i++)
		if (group->rules[i].direction == SG_EGRESS)
			return 1;
	return 0;
}

int secgroup_add_member(struct secgroup *group, const struct sg_addr *addr)
{
	struct sg_addr *grown;

	grown = realloc(group->members, (group->n_members + 1) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	group->members = grown;
	group->members[group->n_members++] = *addr;
	return 0;
}

int sg_addr_cmp(const struct sg_addr *a, const struct sg_addr *b)
{
	int c;

	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	c = memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
	if (c != 0)
		return c;
	return a->prefix - b->prefix;
}

static int sg_member_cmp(const void *a, const void *b)
{
	return sg_addr_cmp(a, b);
}

void secgroup_sort_members(struct secgroup *group)
{
	size_t i, n = 0;

	if (group->n_members < 2)
		return;
	qsort(group->members, group->n_members, sizeof(*group->members), sg_member_cmp);
	for (i = 0; i < group->n_members; i++)
		if (n == 0 || sg_addr_cmp(&group->members[n - 1], &group->members[i]) != 0)
			group->members[n++] = group->members[i];
	group->n_members = n;
}

static void secgroup_free(struct secgroup *group)
{
	free(group->members);
	free(group->rules);
	memset(group, 0, sizeof(*group));
}

void secgroup_set_free(struct secgroup_set *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n_groups; i++)
		secgroup_free(&set->groups[i]);
	free(set->groups);
	free(set->by_id);
	set->groups = NULL;
	set->by_id = NULL;
	set->n_groups = 0;
}

int secgroup_set_copy(struct secgroup_set *dst, const struct secgroup_set *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	if (src->n_groups == 0)
		return 0;
	dst->groups = calloc(src->n_groups, sizeof(*dst->groups));
	if (dst->groups == NULL)
		return -1;
	for (i = 0; i < src->n_groups; i++) {
		const struct secgroup *s = &src->groups[i];
		struct secgroup *d = &dst->groups[i];

		memcpy(d->id, s->id, sizeof(d->id));
		dst->n_groups = i + 1;
		if (s->n_members) {
			d->members = malloc(s->n_members * sizeof(*d->members));
			if (d->members == NULL)
				goto err_free;
			memcpy(d->members, s->members, s->n_members * sizeof(*d->members));
			d->n_members = s->n_members;
		}
		if (s->n_rules) {
			d->rules = malloc(s->n_rules * sizeof(*d->rules));
			if (d->rules == NULL)
				goto err_free;
			memcpy(d->rules, s->rules, s->n_rules * sizeof(*d->rules));
			d->n_rules = s->n_rules;
		}
	}
	if (secgroup_set_index(dst) < 0)
		goto err_free;
	return 0;

err_free:
	secgroup_set_free(dst);
	errno = ENOMEM;
	return -1;
}

/* --- parsing ----------------------------------------------------------------- */

static int sg_check_fields(json_t *obj, const char *const *known, const char *path, struct errmsg *err)
{
	const char *key;
	json_t *value;
	char field[256];

	json_object_foreach(obj, key, value) {
		size_t i;
		int found = 0;

		for (i = 0; known[i]; i++)
			if (strcmp(key, known[i]) == 0)
				found = 1;
		if (!found) {
			sg_field(field, sizeof(field), "%s.%s", path, key);
			errmsg_set(err, field, "unknown field");
			return -1;
		}
	}
	return 0;
}

/* An integer 0-255 or absent (-1). */
static int sg_parse_byte(json_t *rule, const char *name, int *out, const char *path, struct errmsg *err)
{
	json_t *v = json_object_get(rule, name);

	*out = -1;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return sg_fail(err, path, name, "must be an integer 0-255");
	if (json_integer_value(v) < 0 || json_integer_value(v) > 255)
		return sg_fail(err, path, name, "out of range 0-255: %lld", (long long)json_integer_value(v));
	*out = (int)json_integer_value(v);
	return 0;
}

int sg_rule_parse(json_t *obj, struct sg_rule *rule, const char *path, struct errmsg *err)
{
	static const char *const known[] = { "direction", "protocol", "ports", "icmp_type",
					     "icmp_code", "cidr", "group", "description", NULL };
	json_t *v, *cidr, *group;
	const char *s;

	memset(rule, 0, sizeof(*rule));
	if (!json_is_object(obj)) {
		errmsg_set(err, path, "must be an object");
		return -1;
	}
	if (sg_check_fields(obj, known, path, err) < 0)
		return -1;

	v = json_object_get(obj, "direction");
	s = json_string_value(v);
	if (v == NULL)
		return sg_fail(err, path, "direction", "required (\"ingress\" or \"egress\")");
	else if (s && strcmp(s, "ingress") == 0)
		rule->direction = SG_INGRESS;
	else if (s && strcmp(s, "egress") == 0)
		rule->direction = SG_EGRESS;
	else
		return sg_fail(err, path, "direction", "must be \"ingress\" or \"egress\"");

	v = json_object_get(obj, "protocol");
	s = json_string_value(v);
	if (v == NULL)
		return sg_fail(err, path, "protocol", "required (tcp, udp, icmp, icmpv6 or any)");
	else if (s == NULL)
		return sg_fail(err, path, "protocol", "must be a string: tcp, udp, icmp, icmpv6 or any");
	else if (strcmp(s, "tcp") == 0)
		rule->protocol = SG_PROTO_TCP;
	else if (strcmp(s, "udp") == 0)
		rule->protocol = SG_PROTO_UDP;
	else if (strcmp(s, "icmp") == 0)
		rule->protocol = SG_PROTO_ICMP;
	else if (strcmp(s, "icmpv6") == 0)
		rule->protocol = SG_PROTO_ICMPV6;
	else if (strcmp(s, "any") == 0)
		rule->protocol = SG_PROTO_ANY;
	else
		return sg_fail(err, path, "protocol", "unknown protocol \"%.64s\" (tcp, udp, icmp, icmpv6 or any)", s);

	v = json_object_get(obj, "ports");
	if (v != NULL) {
		const char *why;

		if (rule->protocol != SG_PROTO_TCP && rule->protocol != SG_PROTO_UDP)
			return sg_fail(err, path, "ports", "ports apply to tcp and udp only, not %s",
				       sg_protocol_name(rule->protocol));
		if (!json_is_string(v))
			return sg_fail(err, path, "ports", "must be a string \"N\" or \"N-M\"");
		if (sg_parse_ports(json_string_value(v), &rule->port_min, &rule->port_max, &why) < 0)
			return sg_fail(err, path, "ports", "%s: \"%.32s\"", why, json_string_value(v));
	}

	if (sg_parse_byte(obj, "icmp_type", &rule->icmp_type, path, err) < 0 ||
	    sg_parse_byte(obj, "icmp_code", &rule->icmp_code, path, err) < 0)
		return -1;
	if ((rule->icmp_type >= 0 || rule->icmp_code >= 0) && rule->protocol != SG_PROTO_ICMP &&
	    rule->protocol != SG_PROTO_ICMPV6)
		return sg_fail(err, path, rule->icmp_type >= 0 ? "icmp_type" : "icmp_code",
			       "applies to icmp and icmpv6 only, not %s", sg_protocol_name(rule->protocol));
	if (rule->icmp_code >= 0 && rule->icmp_type < 0)
		return sg_fail(err, path, "icmp_code", "needs icmp_type");

	cidr = json_object_get(obj, "cidr");
	group = json_object_get(obj, "group");
	if ((cidr == NULL) == (group == NULL))
		return sg_fail(err, path, cidr ? "group" : "cidr", "%s",
			       cidr ? "give either cidr or group, not both" : "required: a cidr or a group");
	if (cidr != NULL) {
		int host_bits;

		if (!json_is_string(cidr))
			return sg_fail(err, path, "cidr", "must be a string (\"ADDRESS/PREFIX\")");
		if (sg_parse_cidr(json_string_value(cidr), &rule->cidr, &host_bits) < 0)
			return sg_fail(err, path, "cidr",
				       host_bits ? "host bits set in \"%.64s\" (the network is not that address)"
						 : "not a CIDR (ADDRESS/PREFIX): \"%.64s\"",
				       json_string_value(cidr));
		if ((rule->protocol == SG_PROTO_ICMP && rule->cidr.family != AF_INET) ||
		    (rule->protocol == SG_PROTO_ICMPV6 && rule->cidr.family != AF_INET6))
			return sg_fail(err, path, "cidr", "an %s cidr never matches protocol %s",
				       rule->cidr.family == AF_INET ? "IPv4" : "IPv6",
				       sg_protocol_name(rule->protocol));
		rule->has_cidr = 1;
	} else {
		if (!json_is_string(group) || !secgroup_id_valid(json_string_value(group)))
			return sg_fail(err, path, "group", "not a security group id");
		snprintf(rule->group, sizeof(rule->group), "%s", json_string_value(group));
	}
	v = json_object_get(obj, "description");
	if (v != NULL && !json_is_string(v))
		return sg_fail(err, path, "description", "must be a string");
	return 0;
}

static int sg_parse_group(json_t *obj, struct secgroup *group, const char *path, struct errmsg *err)
{
	static const char *const known[] = { "id", "name", "description", "members", "rules", NULL };
	char field[256];
	json_t *v, *item;
	size_t i;

	if (!json_is_object(obj)) {
		errmsg_set(err, path, "must be an object");
		return -1;
	}
	if (sg_check_fields(obj, known, path, err) < 0)
		return -1;
	sg_field(field, sizeof(field), "%s.id", path);
	v = json_object_get(obj, "id");
	if (v == NULL) {
		errmsg_set(err, field, "required");
		return -1;
	}
	if (!json_is_string(v) || !secgroup_id_valid(json_string_value(v))) {
		errmsg_set(err, field, "must match ^[a-z0-9][a-z0-9-]{0,62}$");
		return -1;
	}
	snprintf(group->id, sizeof(group->id), "%s", json_string_value(v));
	for (i = 0; i < 2; i++) {
		const char *name = i ? "description" : "name";

		v = json_object_get(obj, name);
		if (v != NULL && !json_is_string(v)) {
			sg_field(field, sizeof(field), "%s.%s", path, name);
			errmsg_set(err, field, "must be a string");
			return -1;
		}
	}

	v = json_object_get(obj, "members");
	if (v != NULL) {
		sg_field(field, sizeof(field), "%s.members", path);
		if (!json_is_array(v)) {
			errmsg_set(err, field, "must be an array of addresses");
			return -1;
		}
		if (json_array_size(v) > SECGROUP_MAX_MEMBERS) {
			errmsg_set(err, field, "more than %d members", SECGROUP_MAX_MEMBERS);
			return -1;
		}
		json_array_foreach(v, i, item) {
			struct sg_addr addr;

			sg_field(field, sizeof(field), "%s.members[%zu]", path, i);
			if (!json_is_string(item) || sg_parse_addr(json_string_value(item), &addr) < 0) {
				errmsg_set(err, field, "not an IPv4 or IPv6 address%s%.64s%s",
					   json_is_string(item) ? ": \"" : "",
					   json_is_string(item) ? json_string_value(item) : "",
					   json_is_string(item) ? "\"" : "");
				return -1;
			}
			if (secgroup_add_member(group, &addr) < 0) {
				errmsg_set(err, field, "out of memory");
				return -1;
			}
		}
		secgroup_sort_members(group);
	}

	v = json_object_get(obj, "rules");
	if (v != NULL) {
		sg_field(field, sizeof(field), "%s.rules", path);
		if (!json_is_array(v)) {
			errmsg_set(err, field, "must be an array of rules");
			return -1;
		}
		if (json_array_size(v) > SECGROUP_MAX_RULES) {
			errmsg_set(err, field, "more than %d rules", SECGROUP_MAX_RULES);
			return -1;
		}
		if (json_array_size(v) > 0) {
			group->rules = calloc(json_array_size(v), sizeof(*group->rules));
			if (group->rules == NULL) {
				errmsg_set(err, field, "out of memory");
				return -1;
			}
		}
		json_array_foreach(v, i, item) {
			sg_field(field, sizeof(field), "%s.rules[%zu]", path, i);
			if (sg_rule_parse(item, &group->rules[i], field, err) < 0)
				return -1;
			group->n_rules = i + 1;
		}
	}
	return 0;
}

int secgroup_parse(json_t *array, struct secgroup_set *out, struct errmsg *err)
{
	char field[256];
	json_t *item;
	size_t i, j, k;

	memset(out, 0, sizeof(*out));
	if (array == NULL || json_is_null(array))
		return 0;
	if (!json_is_array(array)) {
		errmsg_set(err, "security_groups", "must be an array");
		return -1;
	}
	if (json_array_size(array) > SECGROUP_MAX_GROUPS) {
		errmsg_set(err, "security_groups", "more than %d groups", SECGROUP_MAX_GROUPS);
		return -1;
	}
	if (json_array_size(array) == 0)
		return 0;
	out->groups = calloc(json_array_size(array), sizeof(*out->groups));
	if (out->groups == NULL) {
		errmsg_set(err, "security_groups", "out of memory");
		return -1;
	}
	json_array_foreach(array, i, item) {
		sg_field(field, sizeof(field), "security_groups[%zu]", i);
		out->n_groups = i + 1;
		if (sg_parse_group(item, &out->groups[i], field, err) < 0)
			goto err_free;
	}
	if (secgroup_set_index(out) < 0) {
		errmsg_set(err, "security_groups", "out of memory");
		goto err_free;
	}
	/* duplicate ids are neighbours in id order; name the later of the two */
	for (i = 1; i < out->n_groups; i++) {
		size_t a = out->by_id[i - 1], b = out->by_id[i];

		if (strcmp(out->groups[a].id, out->groups[b].id) == 0) {
			j = a < b ? a : b;
			k = a < b ? b : a;
			sg_field(field, sizeof(field), "security_groups[%zu].id", k);
			errmsg_set(err, field, "duplicate id \"%s\" (also security_groups[%zu])", out->groups[k].id, j);
			goto err_free;
		}
	}
	/* group references, once every id is known */
	for (i = 0; i < out->n_groups; i++) {
		for (k = 0; k < out->groups[i].n_rules; k++) {
			const struct sg_rule *rule = &out->groups[i].rules[k];

			if (rule->has_cidr || secgroup_find(out, rule->group) != NULL)
				continue;
			sg_field(field, sizeof(field), "security_groups[%zu].rules[%zu].group", i, k);
			errmsg_set(err, field, "no security group \"%s\" in this document", rule->group);
			goto err_free;
		}
	}
	return 0;

err_free:
	secgroup_set_free(out);
	return -1;
}

/* --- rendering ----------------------------------------------------------------- */

/* Sets key to value (a new reference) unless value is NULL; counts failures in *bad. */
static void sg_set(json_t *obj, const char *key, json_t *value, int *bad)
{
	if (obj == NULL || value == NULL) {
		json_decref(value);
		(*bad)++;
	} else if (json_object_set_new(obj, key, value) < 0) {
		(*bad)++;
	}
}

static void sg_append(json_t *arr, json_t *value, int *bad)
{
	if (arr == NULL || value == NULL) {
		json_decref(value);
		(*bad)++;
	} else if (json_array_append_new(arr, value) < 0) {
		(*bad)++;
	}
}

json_t *sg_rule_to_json(const struct sg_rule *rule)
{
	json_t *obj = json_object();
	char text[64];
	int bad = 0;

	sg_set(obj, "direction", json_string(rule->direction == SG_EGRESS ? "egress" : "ingress"), &bad);
	sg_set(obj, "protocol", json_string(sg_protocol_name(rule->protocol)), &bad);
	if (rule->port_min > 0) {
		if (rule->port_min == rule->port_max)
			snprintf(text, sizeof(text), "%d", rule->port_min);
		else
			snprintf(text, sizeof(text), "%d-%d", rule->port_min, rule->port_max);
		sg_set(obj, "ports", json_string(text), &bad);
	}
	if (rule->icmp_type >= 0)
		sg_set(obj, "icmp_type", json_integer(rule->icmp_type), &bad);
	if (rule->icmp_code >= 0)
		sg_set(obj, "icmp_code", json_integer(rule->icmp_code), &bad);
	if (rule->has_cidr)
		sg_set(obj, "cidr", json_string(sg_addr_str(&rule->cidr, 1, text, sizeof(text))), &bad);
	else
		sg_set(obj, "group", json_string(rule->group), &bad);
	if (bad) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

json_t *secgroup_to_json(const struct secgroup *g)
{
	json_t *obj = json_object(), *members = json_array(), *rules = json_array();
	char text[64];
	int n_bad = 0, *bad = &n_bad;

	sg_set(obj, "id", json_string(g->id), bad);
	for (size_t i = 0; i < g->n_members; i++)
		sg_append(members, json_string(sg_addr_str(&g->members[i], 0, text, sizeof(text))), bad);
	sg_set(obj, "members", members, bad);
	for (size_t i = 0; i < g->n_rules; i++)
		sg_append(rules, sg_rule_to_json(&g->rules[i]), bad);
	sg_set(obj, "rules", rules, bad);
	if (n_bad) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}
