/* desired.c -- the desired-state document (controller -> node): parse and validate into C structs, render back to JSON */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "desired.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "netaddr.h"
#include "strmap.h"

/* How much of a document a parse requires (state_parse_filters). */
enum state_scope { STATE_SCOPE_FULL, STATE_SCOPE_FILTERS };

static const char *const state_formats[] = { "qcow2", "raw", "kernel", NULL };
static const char *const state_powers[] = { "running", "stopped", "deleted", NULL };
static const char *const state_restarts[] = { "on-failure", "always", "never", NULL };

const char *state_power_name(enum state_power power)
{
	return state_powers[power];
}

const char *state_format_name(enum state_format format)
{
	return state_formats[format];
}

int state_id_valid(const char *id)
{
	size_t len = strlen(id);

	if (len == 0 || len > 63)
		return 0;
	if (!(islower((unsigned char)id[0]) || isdigit((unsigned char)id[0])))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!(islower((unsigned char)id[i]) || isdigit((unsigned char)id[i]) || id[i] == '-'))
			return 0;
	return 1;
}

static int state_id(json_t *obj, const char *path, const char *key, char *out,
		    struct errmsg *err)
{
	char p[JU_PATH_MAX];

	if (ju_string_copy(obj, path, key, 1, out, STATE_ID_MAX, err) < 0)
		return -1;
	if (!state_id_valid(out)) {
		errmsg_set(err, ju_path(p, sizeof(p), path, key),
			   "not an identifier: must match ^[a-z0-9][a-z0-9-]{0,62}$: \"%s\"", out);
		return -1;
	}
	return 0;
}

static int state_ifname(json_t *obj, const char *path, const char *key, int required,
			char *out, struct errmsg *err)
{
	char p[JU_PATH_MAX];
	int rc = ju_string_copy(obj, path, key, required, out, 16, err);

	if (rc <= 0)
		return rc;
	for (const char *c = out; *c; c++) {
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.') {
			errmsg_set(err, ju_path(p, sizeof(p), path, key),
				   "not an interface name: \"%s\"", out);
			return -1;
		}
	}
	if (out[0] == '\0') {
		errmsg_set(err, ju_path(p, sizeof(p), path, key), "empty interface name");
		return -1;
	}
	return 1;
}

static int state_ipv4(json_t *obj, const char *path, const char *key, int required,
		      struct in_addr *out, char *text, size_t textlen, struct errmsg *err)
{
	char p[JU_PATH_MAX], buf[64];
	int rc = ju_string_copy(obj, path, key, required, buf, sizeof(buf), err);

	if (rc <= 0)
		return rc;
	if (inet_pton(AF_INET, buf, out) != 1) {
		errmsg_set(err, ju_path(p, sizeof(p), path, key), "not an IPv4 address: \"%s\"", buf);
		return -1;
	}
	if (text) {
		if (strlen(buf) >= textlen)
			return -1; /* cannot happen: inet_pton accepted it */
		strcpy(text, buf);
	}
	return 1;
}

/* "A.B.C.D/N" with host bits allowed, N from 1 to 30: an interface address and its subnet */
static int state_ifaddr4(const char *text, struct in_addr *addr, int *prefix)
{
	struct netaddr a;

	if (netaddr_parse_cidr(text, &a) < 0 || a.family != AF_INET || a.prefix < 1 || a.prefix > 30)
		return -1;
	memcpy(&addr->s_addr, a.addr, 4);
	*prefix = a.prefix;
	return 0;
}

/* "ADDR/N" with host bits allowed, N from 8 to 128 */
static int state_ifaddr6(const char *text, struct in6_addr *addr, int *prefix)
{
	struct netaddr a;

	if (netaddr_parse_cidr(text, &a) < 0 || a.family != AF_INET6 || a.prefix < 8)
		return -1;
	memcpy(addr->s6_addr, a.addr, 16);
	*prefix = a.prefix;
	return 0;
}

static int state_in_subnet4(struct in_addr a, struct in_addr net, int prefix)
{
	uint32_t mask = prefix ? htonl(~0U << (32 - prefix)) : 0;

	return (a.s_addr & mask) == (net.s_addr & mask);
}

static int state_in_subnet6(const struct in6_addr *a, const struct in6_addr *net, int prefix)
{
	int bytes = prefix / 8, bits = prefix % 8;

	if (memcmp(a->s6_addr, net->s6_addr, (size_t)bytes) != 0)
		return 0;
	if (bits == 0)
		return 1;
	return ((a->s6_addr[bytes] ^ net->s6_addr[bytes]) & (0xff << (8 - bits))) == 0;
}

static int state_network(json_t *obj, struct state_network *net, struct errmsg *err)
{
	static const char *const keys[] = { "bridge", "uplink", "address", "gateway", "dns",
					    "address6", NULL };
	const char *path = "network";
	char buf[64], p[JU_PATH_MAX];
	json_t *dns;
	int rc;

	if (ju_check_keys(obj, path, keys, err) < 0 ||
	    state_ifname(obj, path, "bridge", 1, net->bridge, err) < 0 ||
	    state_ifname(obj, path, "uplink", 0, net->uplink, err) < 0)
		return -1;
	if (net->uplink[0] && strcmp(net->uplink, net->bridge) == 0) {
		errmsg_set(err, "network.uplink", "the same interface as the bridge");
		return -1;
	}
	if (ju_string_copy(obj, path, "address", 1, buf, sizeof(buf), err) < 0)
		return -1;
	if (state_ifaddr4(buf, &net->address, &net->prefix) < 0) {
		errmsg_set(err, "network.address", "not an IPv4 address with a prefix of 1..30 (CIDR): \"%s\"", buf);
		return -1;
	}
	if (strlen(buf) >= sizeof(net->address_text)) {
		errmsg_set(err, "network.address", "too long: \"%s\"", buf);
		return -1;
	}
	strcpy(net->address_text, buf);
	rc = state_ipv4(obj, path, "gateway", 0, &net->gateway, NULL, 0, err);
	if (rc < 0)
		return -1;
	if (rc == 1 && !state_in_subnet4(net->gateway, net->address, net->prefix)) {
		errmsg_set(err, "network.gateway", "outside the subnet of network.address %s",
			   net->address_text);
		return -1;
	}
	if (ju_array(obj, path, "dns", 0, STATE_MAX_DNS, &dns, err) < 0)
		return -1;
	for (size_t i = 0; dns && i < json_array_size(dns); i++) {
		json_t *v = json_array_get(dns, i);
		ju_index(p, sizeof(p), "network.dns", i);
		if (!json_is_string(v) || inet_pton(AF_INET, json_string_value(v), &net->dns[i]) != 1) {
			errmsg_set(err, p, "not an IPv4 address");
			return -1;
		}
		net->n_dns++;
	}
	rc = ju_string_copy(obj, path, "address6", 0, net->address6_text,
			    sizeof(net->address6_text), err);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (state_ifaddr6(net->address6_text, &net->address6, &net->prefix6) < 0) {
			errmsg_set(err, "network.address6",
				   "not an IPv6 address with a prefix of 8..128 (CIDR): \"%s\"",
				   net->address6_text);
			return -1;
		}
		net->has_address6 = 1;
	}
	return 0;
}

static int state_hex64(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f'))
			return 0;
	return 1;
}

/* {url|path, sha256, size} of a template file; obj holds the fields directly */
static int state_source(json_t *obj, const char *path, struct state_source *src,
			struct errmsg *err)
{
	char p[JU_PATH_MAX];
	long long size;
	int has_url, has_path;

	has_url = ju_string_copy(obj, path, "url", 0, src->url, sizeof(src->url), err);
	if (has_url < 0)
		return -1;
	has_path = ju_string_copy(obj, path, "path", 0, src->path, sizeof(src->path), err);
	if (has_path < 0)
		return -1;
	if (has_url == has_path) {
		errmsg_set(err, path[0] ? path : "template", "needs exactly one of url and path");
		return -1;
	}
	if (has_url && strncmp(src->url, "http://", 7) != 0) {
		errmsg_set(err, ju_path(p, sizeof(p), path, "url"), "not an http:// URL: \"%s\"", src->url);
		return -1;
	}
	if (has_url) {
		for (const char *c = src->url; *c; c++) {
			if (*c <= ' ' || *c == 0x7f) {
				errmsg_set(err, ju_path(p, sizeof(p), path, "url"), "contains a space or control character");
				return -1;
			}
		}
	}
	if (has_path && src->path[0] != '/') {
		errmsg_set(err, ju_path(p, sizeof(p), path, "path"), "not an absolute path: \"%s\"", src->path);
		return -1;
	}
	if (ju_string_copy(obj, path, "sha256", 1, src->sha256, sizeof(src->sha256) + 1, err) < 0)
		return -1;
	if (!state_hex64(src->sha256)) {
		errmsg_set(err, ju_path(p, sizeof(p), path, "sha256"),
			   "not a SHA-256 checksum (64 lower-case hex digits)");
		return -1;
	}
	if (ju_int(obj, path, "size", 0, 1, (long long)(STATE_MAX_DISK_MIB << 20), &size, err) < 0)
		return -1;
	src->size = ju_int(obj, path, "size", 0, 1, (long long)(STATE_MAX_DISK_MIB << 20), &size, NULL) == 1
			    ? (unsigned long long)size : 0;
	return 0;
}

static int state_template(json_t *obj, const char *path, struct state_template *t,
			  struct errmsg *err)
{
	static const char *const disk_keys[] = { "id", "format", "url", "path", "sha256", "size", NULL };
	static const char *const kernel_keys[] = { "id", "format", "kernel", "initrd", "cmdline", NULL };
	static const char *const file_keys[] = { "url", "path", "sha256", "size", NULL };
	char p[JU_PATH_MAX];
	json_t *k;
	int fmt, rc;

	if (!json_is_object(obj)) {
		errmsg_set(err, path, "must be an object");
		return -1;
	}
	if (state_id(obj, path, "id", t->id, err) < 0 ||
	    ju_enum(obj, path, "format", 1, state_formats, &fmt, err) < 0)
		return -1;
	t->format = (enum state_format)fmt;
	if (t->format != STATE_FMT_KERNEL) {
		if (ju_check_keys(obj, path, disk_keys, err) < 0)
			return -1;
		return state_source(obj, path, &t->disk, err);
	}
	if (ju_check_keys(obj, path, kernel_keys, err) < 0 ||
	    ju_object(obj, path, "kernel", 1, &k, err) < 0 ||
	    ju_check_keys(k, ju_path(p, sizeof(p), path, "kernel"), file_keys, err) < 0 ||
	    state_source(k, p, &t->kernel, err) < 0)
		return -1;
	rc = ju_object(obj, path, "initrd", 0, &k, err);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (ju_check_keys(k, ju_path(p, sizeof(p), path, "initrd"), file_keys, err) < 0 ||
		    state_source(k, p, &t->initrd, err) < 0)
			return -1;
		t->has_initrd = 1;
	}
	if (ju_string_copy(obj, path, "cmdline", 0, t->cmdline, sizeof(t->cmdline), err) < 0)
		return -1;
	for (const char *c = t->cmdline; *c; c++) {
		if (iscntrl((unsigned char)*c)) {
			errmsg_set(err, ju_path(p, sizeof(p), path, "cmdline"), "contains a control character");
			return -1;
		}
	}
	return 0;
}

/* "xx:xx:xx:xx:xx:xx" of any hex case, written back in lower case */
static int state_mac(const char *text, char out[18])
{
	uint8_t mac[6];

	if (netaddr_parse_mac(text, 0, mac) < 0)
		return -1;
	netaddr_format_mac(mac, out);
	return 0;
}

/* RFC 1123 host name: labels of letters, digits and inner hyphens */
static int state_hostname_valid(const char *s)
{
	size_t label = 0, len = strlen(s);

	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)c) || (c == '-' && label > 0)) {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

static int state_cloud_init(json_t *obj, const char *path, struct state_cloud_init *ci,
			    struct errmsg *err)
{
	static const char *const keys[] = { "hostname", "ssh_keys", "user_data", NULL };
	char p[JU_PATH_MAX];
	const char *ud;
	json_t *keys_arr;
	int rc;

	ci->present = 1;
	if (ju_check_keys(obj, path, keys, err) < 0)
		return -1;
	rc = ju_string_copy(obj, path, "hostname", 0, ci->hostname, sizeof(ci->hostname), err);
	if (rc < 0)
		return -1;
	if (rc == 1 && !state_hostname_valid(ci->hostname)) {
		errmsg_set(err, ju_path(p, sizeof(p), path, "hostname"), "not a host name: \"%s\"", ci->hostname);
		return -1;
	}
	if (ju_array(obj, path, "ssh_keys", 0, STATE_MAX_SSH_KEYS, &keys_arr, err) < 0)
		return -1;
	if (keys_arr && json_array_size(keys_arr)) {
		ci->ssh_keys = calloc(json_array_size(keys_arr), sizeof(char *));
		if (ci->ssh_keys == NULL)
			goto err_nomem;
		for (size_t i = 0; i < json_array_size(keys_arr); i++) {
			json_t *v = json_array_get(keys_arr, i);
			const char *s = json_string_value(v);
			char kp[JU_PATH_MAX];

			ju_index(kp, sizeof(kp), ju_path(p, sizeof(p), path, "ssh_keys"), i);
			if (s == NULL || json_string_length(v) == 0 ||
			    json_string_length(v) > STATE_MAX_SSH_KEY_LEN || strpbrk(s, "\r\n") ||
			    strlen(s) != json_string_length(v)) {
				errmsg_set(err, kp, "not an SSH public key (one line, at most %d bytes)",
					   STATE_MAX_SSH_KEY_LEN);
				return -1;
			}
			if (strncmp(s, "ssh-", 4) != 0 && strncmp(s, "ecdsa-", 6) != 0 &&
			    strncmp(s, "sk-", 3) != 0) {
				errmsg_set(err, kp, "not an SSH public key (must start with ssh-, ecdsa- or sk-)");
				return -1;
			}
			ci->ssh_keys[i] = strdup(s);
			if (ci->ssh_keys[i] == NULL)
				goto err_nomem;
			ci->n_ssh_keys++;
		}
	}
	if (ju_string(obj, path, "user_data", 0, STATE_MAX_USER_DATA, &ud, err) < 0)
		return -1;
	if (ud) {
		ci->user_data = strdup(ud);
		if (ci->user_data == NULL)
			goto err_nomem;
	}
	return 0;
err_nomem:
	errmsg_set(err, path, "out of memory");
	return -1;
}

static int state_nic(json_t *obj, const char *path, const struct state_doc *doc,
		     enum state_scope scope, const char *instance_id, size_t index,
		     struct state_nic *nic, struct errmsg *err)
{
	static const char *const keys[] = { "mac", "ipv4", "ipv6", "security_groups", NULL };
	char buf[64], p[JU_PATH_MAX];
	struct in_addr a4;
	struct in6_addr a6;
	json_t *groups;
	unsigned first;
	int rc;

	if (!json_is_object(obj)) {
		errmsg_set(err, path, "must be an object");
		return -1;
	}
	if (ju_check_keys(obj, path, keys, err) < 0 ||
	    ju_string_copy(obj, path, "mac", 1, buf, sizeof(buf), err) < 0)
		return -1;
	ju_path(p, sizeof(p), path, "mac");
	if (state_mac(buf, nic->mac) < 0) {
		errmsg_set(err, p, "not a MAC address: \"%s\"", buf);
		return -1;
	}
	sscanf(nic->mac, "%2x", &first);
	if (first & 1) {
		errmsg_set(err, p, "a multicast address: \"%s\"", buf);
		return -1;
	}
	if (strcmp(nic->mac, "00:00:00:00:00:00") == 0) {
		errmsg_set(err, p, "the all-zero address");
		return -1;
	}
	if (!doc->has_network && scope == STATE_SCOPE_FULL) {
		errmsg_set(err, "network", "required when instances have NICs");
		return -1;
	}
	rc = state_ipv4(obj, path, "ipv4", scope == STATE_SCOPE_FULL, &a4, nic->ipv4, sizeof(nic->ipv4), err);
	if (rc < 0)
		return -1;
	ju_path(p, sizeof(p), path, "ipv4");
	if (rc == 1 && doc->has_network) { /* only the filters' scope reads a NIC without both */
		uint32_t mask = htonl(~0U << (32 - doc->network.prefix));

		if (!state_in_subnet4(a4, doc->network.address, doc->network.prefix)) {
			errmsg_set(err, p, "%s is outside the guest subnet %s", nic->ipv4, doc->network.address_text);
			return -1;
		}
		if (a4.s_addr == doc->network.address.s_addr || a4.s_addr == doc->network.gateway.s_addr ||
		    (a4.s_addr & ~mask) == 0 || (a4.s_addr & ~mask) == ~mask) {
			errmsg_set(err, p, "%s is the node's, the gateway's, the network or the broadcast address",
				   nic->ipv4);
			return -1;
		}
	}
	if (ju_string_copy(obj, path, "ipv6", 0, nic->ipv6, sizeof(nic->ipv6), err) < 0)
		return -1;
	if (nic->ipv6[0]) {
		ju_path(p, sizeof(p), path, "ipv6");
		if (inet_pton(AF_INET6, nic->ipv6, &a6) != 1) {
			errmsg_set(err, p, "not an IPv6 address: \"%s\"", nic->ipv6);
			return -1;
		}
		if (doc->network.has_address6 &&
		    !state_in_subnet6(&a6, &doc->network.address6, doc->network.prefix6)) {
			errmsg_set(err, p, "%s is outside the guest subnet %s", nic->ipv6,
				   doc->network.address6_text);
			return -1;
		}
	}
	if (ju_array(obj, path, "security_groups", 0, STATE_MAX_NIC_GROUPS, &groups, err) < 0)
		return -1;
	for (size_t i = 0; groups && i < json_array_size(groups); i++) {
		const char *g = json_string_value(json_array_get(groups, i));
		char gp[JU_PATH_MAX];

		ju_index(gp, sizeof(gp), ju_path(p, sizeof(p), path, "security_groups"), i);
		if (g == NULL || secgroup_find(&doc->groups, g) == NULL) {
			errmsg_set(err, gp, "no security group \"%s\" in this document", g ? g : "(not a string)");
			return -1;
		}
		for (size_t j = 0; j < nic->n_groups; j++) {
			if (strcmp(nic->groups[j], g) == 0) {
				errmsg_set(err, gp, "\"%s\" listed twice", g);
				return -1;
			}
		}
		snprintf(nic->groups[nic->n_groups++], STATE_ID_MAX, "%s", g);
	}
	if (port_ifname(instance_id, (int)index, nic->ifname, sizeof(nic->ifname)) < 0) {
		errmsg_set(err, path, "cannot name the tap: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int state_disk(json_t *obj, const char *path, const struct state_doc *doc,
		      struct state_disk *disk, struct errmsg *err)
{
	static const char *const keys[] = { "id", "size_mib", "template", "format", NULL };
	static const char *const disk_formats[] = { "qcow2", "raw", NULL };
	const struct state_template *t;
	char p[JU_PATH_MAX];
	long long size;
	int fmt, rc;

	if (!json_is_object(obj)) {
		errmsg_set(err, path, "must be an object");
		return -1;
	}
	if (ju_check_keys(obj, path, keys, err) < 0 || state_id(obj, path, "id", disk->id, err) < 0 ||
	    ju_int(obj, path, "size_mib", 1, 1, (long long)STATE_MAX_DISK_MIB, &size, err) < 0)
		return -1;
	disk->size_mib = (unsigned long long)size;
	rc = ju_enum(obj, path, "format", 0, disk_formats, &fmt, err);
	if (rc < 0)
		return -1;
	disk->format = rc == 1 ? (enum state_format)fmt : STATE_FMT_QCOW2;
	rc = ju_string_copy(obj, path, "template", 0, disk->template_id, sizeof(disk->template_id), err);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		ju_path(p, sizeof(p), path, "template");
		t = state_find_template(doc, disk->template_id);
		if (t == NULL) {
			errmsg_set(err, p, "no template \"%s\" in this document", disk->template_id);
			return -1;
		}
		if (t->format == STATE_FMT_KERNEL) {
			errmsg_set(err, p, "\"%s\" is a kernel template, not a disk image", disk->template_id);
			return -1;
		}
		if (t->disk.size && disk->size_mib * 1024 * 1024 < t->disk.size) {
			errmsg_set(err, ju_path(p, sizeof(p), path, "size_mib"),
				   "%llu MiB is smaller than template \"%s\" (%llu bytes)", disk->size_mib,
				   t->id, t->disk.size);
			return -1;
		}
	}
	return 0;
}

static int state_instance(json_t *obj, const char *path, struct state_doc *doc,
			  enum state_scope scope, struct state_instance *in, struct errmsg *err)
{
	static const char *const keys[] = { "id", "name", "vcpus", "memory_mib", "power", "restart",
					    "delete_volumes", "reboot", "stop", "boot", "disks", "nics",
					    "cloud_init", NULL };
	static const char *const stops[] = { "graceful", "force", NULL };
	static const char *const boot_keys[] = { "template", NULL };
	char p[JU_PATH_MAX], ip[JU_PATH_MAX];
	json_t *arr, *boot, *ci;
	int full = scope == STATE_SCOPE_FULL;
	long long n;
	int v, rc;

	if (!json_is_object(obj)) {
		errmsg_set(err, path, "must be an object");
		return -1;
	}
	if (ju_check_keys(obj, path, keys, err) < 0 || state_id(obj, path, "id", in->id, err) < 0)
		return -1;
	rc = ju_string_copy(obj, path, "name", 0, in->name, sizeof(in->name), err);
	if (rc < 0)
		return -1;
	if (rc == 1 && !state_hostname_valid(in->name)) {
		errmsg_set(err, ju_path(p, sizeof(p), path, "name"), "not a host name: \"%s\"", in->name);
		return -1;
	}
	/* the filters' scope reads only ids, power and NICs: hardware is optional there */
	n = 0;
	if (ju_int(obj, path, "vcpus", full, 1, STATE_MAX_VCPUS, &n, err) < 0)
		return -1;
	in->vcpus = (unsigned)n;
	n = 0;
	if (ju_int(obj, path, "memory_mib", full, STATE_MIN_MEMORY_MIB, STATE_MAX_MEMORY_MIB, &n, err) < 0)
		return -1;
	in->memory_mib = (unsigned)n;
	rc = ju_enum(obj, path, "power", full, state_powers, &v, err);
	if (rc < 0)
		return -1;
	in->power = rc == 1 ? (enum state_power)v : STATE_POWER_RUNNING;
	rc = ju_enum(obj, path, "restart", 0, state_restarts, &v, err);
	if (rc < 0)
		return -1;
	in->restart = rc == 1 ? (enum state_restart)v : STATE_RESTART_ON_FAILURE;
	if (ju_bool(obj, path, "delete_volumes", 0, &in->delete_volumes, err) < 0)
		return -1;
	if (in->delete_volumes && in->power != STATE_POWER_DELETED) {
		errmsg_set(err, ju_path(p, sizeof(p), path, "delete_volumes"),
			   "only allowed with power \"deleted\"");
		return -1;
	}
	rc = ju_int(obj, path, "reboot", 0, 0, STATE_MAX_REBOOT, &n, err);
	if (rc < 0)
		return -1;
	in->reboot = rc == 1 ? n : 0;
	rc = ju_enum(obj, path, "stop", 0, stops, &v, err);
	if (rc < 0)
		return -1;
	in->stop_force = rc == 1 && v == 1;
	rc = ju_object(obj, path, "boot", 0, &boot, err);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		const struct state_template *t;
		ju_path(p, sizeof(p), path, "boot");
		if (ju_check_keys(boot, p, boot_keys, err) < 0 ||
		    ju_string_copy(boot, p, "template", 1, in->boot_template, sizeof(in->boot_template), err) < 0)
			return -1;
		t = state_find_template(doc, in->boot_template);
		ju_path(ip, sizeof(ip), p, "template");
		if (t == NULL) {
			errmsg_set(err, ip, "no template \"%s\" in this document", in->boot_template);
			return -1;
		}
		if (t->format != STATE_FMT_KERNEL) {
			errmsg_set(err, ip, "\"%s\" is a disk image, not a kernel template", in->boot_template);
			return -1;
		}
	}

	if (ju_array(obj, path, "disks", 0, STATE_MAX_DISKS, &arr, err) < 0)
		return -1;
	if (arr && json_array_size(arr)) {
		in->disks = calloc(json_array_size(arr), sizeof(*in->disks));
		if (in->disks == NULL)
			goto err_nomem;
		for (size_t i = 0; i < json_array_size(arr); i++) {
			ju_index(ip, sizeof(ip), ju_path(p, sizeof(p), path, "disks"), i);
			if (state_disk(json_array_get(arr, i), ip, doc, &in->disks[i], err) < 0)
				return -1;
			for (size_t j = 0; j < i; j++) {
				if (strcmp(in->disks[j].id, in->disks[i].id) == 0) {
					errmsg_set(err, ju_path(p, sizeof(p), ip, "id"),
						   "\"%s\" is also disks[%zu]", in->disks[i].id, j);
					return -1;
				}
			}
			in->n_disks++;
		}
	}
	if (full && in->boot_template[0] == '\0' && in->n_disks == 0 && in->power != STATE_POWER_DELETED) {
		errmsg_set(err, path, "nothing to boot: no boot.template and no disks");
		return -1;
	}

	if (ju_array(obj, path, "nics", 0, STATE_MAX_NICS, &arr, err) < 0)
		return -1;
	if (arr && json_array_size(arr)) {
		/* the pool holds every NIC the instances array has (state_from_json_scope counted them) */
		if (doc->nic_pool_used + json_array_size(arr) > doc->nic_pool_size)
			goto err_nomem;
		in->nics = doc->nic_pool + doc->nic_pool_used;
		doc->nic_pool_used += json_array_size(arr);
		for (size_t i = 0; i < json_array_size(arr); i++) {
			ju_index(ip, sizeof(ip), ju_path(p, sizeof(p), path, "nics"), i);
			if (state_nic(json_array_get(arr, i), ip, doc, scope, in->id, i, &in->nics[i], err) < 0)
				return -1;
			in->n_nics++;
		}
	}

	rc = ju_object(obj, path, "cloud_init", 0, &ci, err);
	if (rc < 0)
		return -1;
	if (rc == 1 && state_cloud_init(ci, ju_path(p, sizeof(p), path, "cloud_init"), &in->cloud_init, err) < 0)
		return -1;

	/* the filters' scope needs neither hash: it applies no guest and no network */
	if (full && state_spec_hash(in, in->spec_hash) < 0)
		goto err_nomem;
	return 0;
err_nomem:
	errmsg_set(err, path, "out of memory");
	return -1;
}

/*
 * Checks that MACs, IPv4 and IPv6 addresses and tap names are unique across
 * all NICs. The error names the first NIC, in document order, that repeats an
 * earlier one, and the earliest NIC it repeats (by mac, ipv4, ipv6, tap name
 * when one NIC repeats another in several), in one pass with a map a field.
 */
static int state_check_unique_nics(const struct state_doc *doc, struct errmsg *err)
{
	enum { U_MAC, U_IPV4, U_IPV6, U_TAP, U_FIELDS };
	static const char *const what[U_FIELDS] = { "mac", "ipv4", "ipv6", "tap name" };
	struct strmap seen[U_FIELDS] = { STRMAP_INIT, STRMAP_INIT, STRMAP_INIT, STRMAP_INIT };
	struct { size_t instance, nic; } *at = NULL;
	size_t total = 0, k = 0;
	int rc = -1;

	for (size_t i = 0; i < doc->n_instances; i++)
		total += doc->instances[i].n_nics;
	if (total && (at = calloc(total, sizeof(*at))) == NULL)
		goto nomem;
	for (size_t i = 0; i < doc->n_instances; i++) {
		for (size_t n = 0; n < doc->instances[i].n_nics; n++, k++) {
			const struct state_nic *x = &doc->instances[i].nics[n];
			/* an absent address (ipv6, or ipv4 in the filters' scope) repeats nothing */
			const char *key[U_FIELDS] = { x->mac, x->ipv4[0] ? x->ipv4 : NULL, x->ipv6[0] ? x->ipv6 : NULL,
						      x->ifname };
			size_t best = k, first;
			int field = -1;

			at[k].instance = i;
			at[k].nic = n;
			for (int f = 0; f < U_FIELDS; f++) {
				if (key[f] == NULL)
					continue;
				int r = strmap_add(&seen[f], key[f], k, &first);
				if (r < 0)
					goto nomem;
				if (r == 1 && first < best) {
					best = first;
					field = f;
				}
			}
			if (field >= 0) {
				char p[JU_PATH_MAX];
				const struct state_instance *b = &doc->instances[at[best].instance];

				snprintf(p, sizeof(p), "instances[%zu].nics[%zu].%s", i, n,
					 field == U_TAP ? "mac" : what[field]);
				errmsg_set(err, p, "%s also used by instances[%zu].nics[%zu] (%s)", what[field],
					   at[best].instance, at[best].nic, b->id);
				goto out;
			}
		}
	}
	rc = 0;
	goto out;
nomem:
	errmsg_set(err, "", "out of memory");
out:
	for (int f = 0; f < U_FIELDS; f++)
		strmap_free(&seen[f]);
	free(at);
	return rc;
}

static int state_from_json_scope(json_t *root, enum state_scope scope, struct state_doc *out,
				 struct errmsg *err)
{
	static const char *const keys[] = { "version", "revision", "network", "templates",
					    "security_groups", "instances", NULL };
	struct strmap ids = STRMAP_INIT;
	struct state_doc doc;
	char p[JU_PATH_MAX];
	json_t *arr, *net;
	size_t first;
	int rc;

	memset(&doc, 0, sizeof(doc));
	memset(out, 0, sizeof(*out));
	if (!json_is_object(root)) {
		errmsg_set(err, "", "the document must be a JSON object");
		return -1;
	}
	doc.version = 1;
	if (ju_check_keys(root, "", keys, err) < 0 ||
	    ju_int(root, "", "version", scope == STATE_SCOPE_FULL, 1, 1000, &doc.version, err) < 0)
		goto err;
	if (doc.version != 1) {
		errmsg_set(err, "version", "unsupported schema version %lld (this cloudd reads 1)", doc.version);
		goto err;
	}
	if (ju_int(root, "", "revision", scope == STATE_SCOPE_FULL, 0, 0x7fffffffffffffffLL, &doc.revision, err) < 0)
		goto err;
	rc = ju_object(root, "", "network", 0, &net, err);
	if (rc < 0 || (rc == 1 && state_network(net, &doc.network, err) < 0))
		goto err;
	doc.has_network = rc == 1;

	if (ju_array(root, "", "templates", 0, STATE_MAX_TEMPLATES, &arr, err) < 0)
		goto err;
	if (arr && json_array_size(arr)) {
		doc.templates = calloc(json_array_size(arr), sizeof(*doc.templates));
		if (doc.templates == NULL)
			goto err_nomem;
		for (size_t i = 0; i < json_array_size(arr); i++) {
			ju_index(p, sizeof(p), "templates", i);
			if (state_template(json_array_get(arr, i), p, &doc.templates[i], err) < 0)
				goto err;
			if (state_find_template(&doc, doc.templates[i].id)) {
				char ip[JU_PATH_MAX];
				errmsg_set(err, ju_path(ip, sizeof(ip), p, "id"), "duplicate template id \"%s\"",
					   doc.templates[i].id);
				goto err;
			}
			doc.n_templates++;
		}
	}

	if (ju_array(root, "", "security_groups", 0, SECGROUP_MAX_GROUPS, &arr, err) < 0 ||
	    secgroup_parse(arr, &doc.groups, err) < 0)
		goto err;

	if (ju_array(root, "", "instances", 0, STATE_MAX_INSTANCES, &arr, err) < 0)
		goto err;
	if (arr && json_array_size(arr)) {
		/* every instance's NICs in one allocation: a thousand small ones cost more than their parsing */
		for (size_t i = 0; i < json_array_size(arr); i++) {
			json_t *nics = json_object_get(json_array_get(arr, i), "nics");
			if (json_is_array(nics))
				doc.nic_pool_size += json_array_size(nics);
		}
		if (doc.nic_pool_size) {
			doc.nic_pool = calloc(doc.nic_pool_size, sizeof(*doc.nic_pool));
			if (doc.nic_pool == NULL)
				goto err_nomem;
		}
		doc.instances = calloc(json_array_size(arr), sizeof(*doc.instances));
		if (doc.instances == NULL)
			goto err_nomem;
		for (size_t i = 0; i < json_array_size(arr); i++) {
			ju_index(p, sizeof(p), "instances", i);
			doc.n_instances++; /* so that state_free frees a half-parsed instance */
			if (state_instance(json_array_get(arr, i), p, &doc, scope, &doc.instances[i], err) < 0)
				goto err;
			rc = strmap_add(&ids, doc.instances[i].id, i, &first);
			if (rc < 0)
				goto err_nomem;
			if (rc == 1) {
				char ip[JU_PATH_MAX];
				errmsg_set(err, ju_path(ip, sizeof(ip), p, "id"),
					   "duplicate instance id \"%s\" (also instances[%zu])", doc.instances[i].id,
					   first);
				goto err;
			}
		}
	}
	strmap_free(&ids);
	if (state_check_unique_nics(&doc, err) < 0)
		goto err;
	if (scope == STATE_SCOPE_FULL) {
		/* network hash: the network and every NIC (leases, taps and filters) */
		json_t *h = json_pack("{s:O?,s:O?,s:[]}", "network", json_object_get(root, "network"),
				      "security_groups", json_object_get(root, "security_groups"), "nics");
		if (h == NULL)
			goto err_nomem;
		for (size_t i = 0; i < doc.n_instances; i++) {
			if (doc.instances[i].power == STATE_POWER_DELETED)
				continue;
			json_array_append(json_object_get(h, "nics"),
					  json_object_get(json_array_get(json_object_get(root, "instances"), i), "nics"));
		}
		state_hash_json(h, doc.network_hash);
		json_decref(h);
	}
	*out = doc;
	return 0;

err_nomem:
	errmsg_set(err, "", "out of memory");
err:
	strmap_free(&ids);
	state_free(&doc);
	return -1;
}

int state_from_json(json_t *root, struct state_doc *out, struct errmsg *err)
{
	return state_from_json_scope(root, STATE_SCOPE_FULL, out, err);
}

static int state_parse_scope(const char *text, size_t len, enum state_scope scope, struct state_doc *out,
			     struct errmsg *err)
{
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > STATE_MAX_BYTES) {
		errmsg_set(err, "", "document larger than %d bytes", STATE_MAX_BYTES);
		return -1;
	}
	root = ju_parse(text, len, err);
	if (root == NULL)
		return -1;
	rc = state_from_json_scope(root, scope, out, err);
	json_decref(root);
	return rc;
}

int state_parse(const char *text, size_t len, struct state_doc *out, struct errmsg *err)
{
	return state_parse_scope(text, len, STATE_SCOPE_FULL, out, err);
}

int state_parse_filters(const char *text, size_t len, struct state_doc *out, struct errmsg *err)
{
	return state_parse_scope(text, len, STATE_SCOPE_FILTERS, out, err);
}

int state_load_filters(const char *path, struct state_doc *out, struct errmsg *err)
{
	FILE *f = fopen(path, "re");
	struct stat st;
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if (f == NULL || fstat(fileno(f), &st) < 0) {
		errmsg_set(err, "", "%s", strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		/* a pipe or device: its size is known only once read, and bounded while read */
		struct buf text = BUF_INIT;

		fclose(f);
		if (fs_read_file(path, STATE_MAX_BYTES + 1, &text) < 0) {
			if (errno == EFBIG)
				errmsg_set(err, "", "document larger than %d bytes", STATE_MAX_BYTES);
			else
				errmsg_set(err, "", "%s", strerror(errno));
			buf_free(&text);
			return -1;
		}
		rc = state_parse_filters(text.data, text.len, out, err);
		buf_free(&text);
		return rc;
	}
	if (st.st_size > STATE_MAX_BYTES) {
		fclose(f);
		errmsg_set(err, "", "document larger than %d bytes", STATE_MAX_BYTES);
		return -1;
	}
	/* parsed as it is read: no copy of the whole text */
	root = ju_parse_file(f, err);
	fclose(f);
	if (root == NULL)
		return -1;
	rc = state_from_json_scope(root, STATE_SCOPE_FILTERS, out, err);
	json_decref(root);
	return rc;
}

void state_free(struct state_doc *doc)
{
	for (size_t i = 0; i < doc->n_instances; i++) {
		struct state_instance *in = &doc->instances[i];
		free(in->disks);
		if (doc->nic_pool == NULL)
			free(in->nics);
		for (size_t k = 0; k < in->cloud_init.n_ssh_keys; k++)
			free(in->cloud_init.ssh_keys[k]);
		free(in->cloud_init.ssh_keys);
		free(in->cloud_init.user_data);
	}
	free(doc->instances);
	free(doc->nic_pool);
	free(doc->templates);
	secgroup_set_free(&doc->groups);
	memset(doc, 0, sizeof(*doc));
}

const struct state_template *state_find_template(const struct state_doc *doc, const char *id)
{
	for (size_t i = 0; i < doc->n_templates; i++)
		if (strcmp(doc->templates[i].id, id) == 0)
			return &doc->templates[i];
	return NULL;
}

const struct state_instance *state_find_instance(const struct state_doc *doc, const char *id)
{
	for (size_t i = 0; i < doc->n_instances; i++)
		if (strcmp(doc->instances[i].id, id) == 0)
			return &doc->instances[i];
	return NULL;
}
