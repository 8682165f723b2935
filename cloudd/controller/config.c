/* config.c -- cloud-controller's settings: command line over configuration file, validated */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "controller.h"

/* Every setting is a config file key and a --key command-line option. */
static const struct conf_option config_options[] = {
	{ "listen", "ADDR:PORT", "HTTP address of the API, boot scripts and images (default " CTL_DEFAULT_LISTEN ")" },
	{ "url", "URL", "how nodes reach the controller, http://HOST:PORT (default from listen)" },
	{ "data-dir", "DIR", "database, images, admin key, dnsmasq files (default " CTL_DEFAULT_DATA_DIR ")" },
	{ "pxe-dir", "DIR", "templates boot.ipxe.in and dnsmasq.conf.in (default " CTL_DEFAULT_PXE_DIR ")" },
	{ "netboot", "off|dhcp|proxy", "run dnsmasq: own a DHCP range, or proxyDHCP beside a site DHCP server (default off)" },
	{ "interface", "IFACE", "provisioning interface dnsmasq serves (netboot dhcp|proxy)" },
	{ "dhcp-range", "RANGE", "dhcp: FIRST,LAST,NETMASK; proxy: the segment's NETWORK address" },
	{ "ipxe-dir", "DIR", "TFTP root with undionly.kpxe, snponly.efi, ipxe.efi (default " CTL_DEFAULT_IPXE_DIR ")" },
	{ "dnsmasq", "PATH", "dnsmasq binary (default " CTL_DEFAULT_DNSMASQ ")" },
	{ "unknown-mac", "ignore|enroll|pending", "machines not registered: ignore them, enroll with default-role, or list them as pending until an admin approves them (default ignore)" },
	{ "default-role", "ROLE", "role of auto-enrolled machines and of new machines (default " CTL_DEFAULT_ROLE ")" },
	{ "kernel-args", "ARGS", "extra kernel arguments for every node" },
	{ "heartbeat-interval", "SECONDS", "node heartbeat period (default 5, 1..300); 3 missed: unknown" },
	{ "down-after", "SECONDS", "without heartbeat before a node is down (default 60)" },
	{ "token-ttl", "SECONDS", "lifetime of an enrollment token (default 600, 10..3600)" },
	{ "log-level", "LEVEL", "error, warn, info (default) or debug" },
	{ "syslog", "yes|no", "also log to syslog (default no)" },
	{ "api-cache", "yes|no", "answer repeated GETs from rendered answers, per path, query and visibility (default yes)" },
	{ "max-body", "BYTES", "largest API request body, N[K|M] (default 64K)" },
	{ "http-connections", "N", "concurrent HTTP connections (default 512, 4..4096)" },
	{ "http-threads", "N", "HTTP worker threads (default 1, 1..64)" },
	{ "guest-subnet", "CIDR", "the zone's guest network, IPv4 (instances and nodes get addresses from it)" },
	{ "guest-gateway", "ADDR", "gateway handed to guests (inside guest-subnet, never handed out)" },
	{ "guest-dns", "ADDR,..", "DNS servers handed to guests" },
	{ "guest-subnet6", "CIDR", "the zone's guest network, IPv6 (/64../120; optional: instances also get an IPv6 address)" },
	{ "guest-uplink", "IFACE", "nodes' guest NIC (default eth1; machine label guest-uplink overrides)" },
	{ "cpu-overcommit-percent", "N", "vCPUs scheduled per 100 node CPUs (default 400)" },
	{ "memory-overcommit-percent", "N", "memory scheduled per 100 MiB of node memory (default 100)" },
	{ "disk-overcommit-percent", "N", "disk scheduled per 100 GiB of node disk (default 100)" },
	{ "user-data-max", "BYTES", "largest user-data of an instance, N[K|M] (default 16K)" },
	/* bounds on unsigned callers and on stored history */
	{ "public-rate", "N", "requests per second per client address to unsigned routes that write: /boot.ipxe, POST /v1/nodes/register, POST /v1/boot-failures; beyond it 429 (default 10, 0 = no limit)" },
	{ "public-burst", "N", "requests an address may send at once before public-rate applies (default 40, 1..100000)" },
	{ "events-keep-days", "DAYS", "events older than this are deleted (default 30, 0 = kept whatever their age)" },
	{ "events-keep-max", "N", "events kept at most, the newest (default 100000, 0 = no limit)" },
	{ "operations-keep-days", "DAYS", "finished operations are deleted this long after they finished; pending ones are kept (default 30, 0 = kept)" },
	{ "template-allow-cidrs", "CIDR,..", "internal networks template URLs may point into all the same (default none: loopback, link-local and the controller's own networks are refused)" },
};

static int config_apply(struct conf *c, void *cfg, struct errmsg *err)
{
	return config_from_conf(c, cfg, err);
}

static const struct conf_daemon config_daemon = {
	.about = "cloud-controller: netboots the fleet (dnsmasq + iPXE), enrolls nodes and serves\n"
		 "the signed JSON API under /v1, boot scripts, images and /metrics.\n",
	.notes = "On first start an admin API key is created and written to DATA-DIR/admin.conf\n"
		 "(mode 0600, cloudctl's configuration format).\n"
		 "\n"
		 "Signals: SIGTERM/SIGINT stop (dnsmasq is stopped too).\n\n",
	.default_path = CTL_DEFAULT_CONFIG,
	.options = config_options,
	.noptions = sizeof(config_options) / sizeof(config_options[0]),
	.apply = config_apply,
	.server = { .syslog = 0, .max_body = CTL_DEFAULT_MAX_BODY, .max_body_max = 16ULL << 20,
		    .connections = CTL_DEFAULT_HTTP_CONNECTIONS, .connections_min = 4, .connections_max = 4096,
		    CONF_SERVER_FIELDS(struct ctl_config) },
};
CONF_SERVER_CHECK(struct ctl_config);

void config_usage(FILE *out, const char *prog)
{
	conf_daemon_usage(&config_daemon, out, prog);
}

int config_load(int argc, char **argv, struct ctl_config *cfg, enum config_action *action,
		struct errmsg *err)
{
	memset(cfg, 0, sizeof(*cfg));
	return conf_load_settings(&config_daemon, argc, argv, cfg, cfg->config_path, sizeof(cfg->config_path),
				  action, err);
}

/* dhcp: FIRST,LAST,NETMASK (IPv4, FIRST <= LAST); proxy: NETWORK */
static int config_check_range(struct ctl_config *cfg, struct conf *c, struct errmsg *err)
{
	char where[512], copy[128], *parts[4], *save = NULL;
	size_t n = 0;
	struct in_addr a[3];

	conf_where(c, "dhcp-range", where, sizeof(where));
	if (cfg->dhcp_range[0] == '\0') {
		errmsg_set(err, "dhcp-range", "required with netboot = %s",
			   cfg->netboot == NETBOOT_DHCP ? "dhcp (FIRST,LAST,NETMASK)" : "proxy (NETWORK)");
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", cfg->dhcp_range);
	for (char *t = strtok_r(copy, ",", &save); t && n < 4; t = strtok_r(NULL, ",", &save))
		parts[n++] = t;
	if (cfg->netboot == NETBOOT_PROXY) {
		if (n != 1 || inet_pton(AF_INET, parts[0], &a[0]) != 1) {
			errmsg_set(err, where, "proxy mode wants the segment's IPv4 network address, got \"%s\"",
				   cfg->dhcp_range);
			return -1;
		}
		return 0;
	}
	if (n != 3) {
		errmsg_set(err, where, "expected FIRST,LAST,NETMASK, got \"%s\"", cfg->dhcp_range);
		return -1;
	}
	for (size_t i = 0; i < 3; i++) {
		if (inet_pton(AF_INET, parts[i], &a[i]) != 1) {
			errmsg_set(err, where, "not an IPv4 address: \"%s\"", parts[i]);
			return -1;
		}
	}
	if (ntohl(a[0].s_addr) > ntohl(a[1].s_addr)) {
		errmsg_set(err, where, "first address %s is after last address %s", parts[0], parts[1]);
		return -1;
	}
	{
		uint32_t m = ntohl(a[2].s_addr);
		if (m == 0 || (~m & (~m + 1)) != 0) {
			errmsg_set(err, where, "not a contiguous netmask: \"%s\"", parts[2]);
			return -1;
		}
		if ((ntohl(a[0].s_addr) & m) != (ntohl(a[1].s_addr) & m)) {
			errmsg_set(err, where, "%s and %s are not in one %s network", parts[0], parts[1], parts[2]);
			return -1;
		}
	}
	return 0;
}

/* http://HOST[:PORT] without a path, or derived from listen when it names an address. */
static int config_url(struct ctl_config *cfg, struct conf *c, struct errmsg *err)
{
	const char *v;
	char where[512];

	if (conf_get_str(c, "url", "", &v, err) < 0)
		return -1;
	conf_where(c, "url", where, sizeof(where));
	if (v[0]) {
		const char *host = v + 7;
		if (strncmp(v, "http://", 7) != 0 || host[0] == '\0' || host[0] == '/' ||
		    strchr(host, '/') || strpbrk(v, " \t\"'\\<>`$")) {
			errmsg_set(err, where, "expected http://HOST[:PORT] without a path, got \"%s\"", v);
			return -1;
		}
		return conf_copy(c, "url", v, cfg->url, sizeof(cfg->url), err);
	}
	if (cfg->listen_addr.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&cfg->listen_addr;
		char host[INET_ADDRSTRLEN];
		if (in->sin_addr.s_addr == htonl(INADDR_ANY)) {
			if (cfg->netboot != NETBOOT_OFF) {
				errmsg_set(err, "url", "required when listen names no address (nodes must know where the controller is)");
				return -1;
			}
			snprintf(cfg->url, sizeof(cfg->url), "http://127.0.0.1:%u", ntohs(in->sin_port));
			return 0;
		}
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(cfg->url, sizeof(cfg->url), "http://%s:%u", host, ntohs(in->sin_port));
		return 0;
	}
	errmsg_set(err, "url", "required when listening on IPv6");
	return -1;
}

/* The zone's guest network and the scheduler's overcommit ratios. */
static int config_guest(struct ctl_config *cfg, struct conf *c, struct errmsg *err)
{
	struct ipam_subnet sub;
	unsigned long long n;
	const char *v;
	char where[512];

	if (conf_get_str(c, "guest-subnet", "", &v, err) < 0 ||
	    conf_copy(c, "guest-subnet", v, cfg->guest_subnet, sizeof(cfg->guest_subnet), err) < 0 ||
	    conf_get_str(c, "guest-gateway", "", &v, err) < 0 ||
	    conf_copy(c, "guest-gateway", v, cfg->guest_gateway, sizeof(cfg->guest_gateway), err) < 0 ||
	    conf_get_str(c, "guest-dns", "", &v, err) < 0 ||
	    conf_copy(c, "guest-dns", v, cfg->guest_dns, sizeof(cfg->guest_dns), err) < 0 ||
	    conf_get_str(c, "guest-uplink", "eth1", &v, err) < 0 ||
	    conf_copy(c, "guest-uplink", v, cfg->guest_uplink, sizeof(cfg->guest_uplink), err) < 0)
		return -1;
	if (cfg->guest_subnet[0] &&
	    ipam_parse(cfg->guest_subnet, cfg->guest_gateway[0] ? cfg->guest_gateway : NULL, &sub) < 0) {
		errmsg_set(err, conf_where(c, "guest-subnet", where, sizeof(where)),
			   "expected an IPv4 network like 198.51.100.0/24 (prefix 8..29, host bits zero) and a"
			   " guest-gateway inside it: \"%s\" / \"%s\"", cfg->guest_subnet, cfg->guest_gateway);
		return -1;
	}
	if (conf_get_str(c, "guest-subnet6", "", &v, err) < 0 ||
	    conf_copy(c, "guest-subnet6", v, cfg->guest_subnet6, sizeof(cfg->guest_subnet6), err) < 0)
		return -1;
	if (cfg->guest_subnet6[0]) {
		unsigned char net[16];
		unsigned prefix;
		if (ipam6_parse(cfg->guest_subnet6, net, &prefix) < 0) {
			errmsg_set(err, conf_where(c, "guest-subnet6", where, sizeof(where)),
				   "expected an IPv6 network like 2001:db8:100::/64 (prefix 64..120, host bits zero): \"%s\"",
				   cfg->guest_subnet6);
			return -1;
		}
		if (cfg->guest_subnet[0] == '\0') {
			errmsg_set(err, conf_where(c, "guest-subnet6", where, sizeof(where)), "needs guest-subnet (IPv4) as well");
			return -1;
		}
	}
	if (cfg->guest_subnet[0] == '\0' && cfg->guest_gateway[0]) {
		errmsg_set(err, conf_where(c, "guest-gateway", where, sizeof(where)), "needs guest-subnet");
		return -1;
	}
	if (conf_get_uint(c, "cpu-overcommit-percent", 400, 100, 10000, &n, err) < 0)
		return -1;
	cfg->cpu_overcommit = (double)n / 100.0;
	if (conf_get_uint(c, "memory-overcommit-percent", 100, 50, 1000, &n, err) < 0)
		return -1;
	cfg->memory_overcommit = (double)n / 100.0;
	if (conf_get_uint(c, "disk-overcommit-percent", 100, 50, 1000, &n, err) < 0)
		return -1;
	cfg->disk_overcommit = (double)n / 100.0;
	if (conf_get_size(c, "user-data-max", 16384, 0, 1 << 20, &cfg->user_data_max, err) < 0)
		return -1;
	return 0;
}

/* What unsigned callers may cost (public-*) and how much history is kept (*-keep-*). */
static int config_bounds(struct ctl_config *cfg, struct conf *c, struct errmsg *err)
{
	unsigned long long n;

	if (conf_get_uint(c, "public-rate", CTL_DEFAULT_PUBLIC_RATE, 0, 100000, &n, err) < 0)
		return -1;
	cfg->public_rate = (unsigned)n;
	if (conf_get_uint(c, "public-burst", CTL_DEFAULT_PUBLIC_BURST, 1, 100000, &n, err) < 0)
		return -1;
	cfg->public_burst = (unsigned)n;
	if (conf_get_uint(c, "events-keep-days", CTL_DEFAULT_EVENTS_KEEP_DAYS, 0, 36500, &n, err) < 0)
		return -1;
	cfg->events_keep_days = (unsigned)n;
	if (conf_get_uint(c, "events-keep-max", CTL_DEFAULT_EVENTS_KEEP_MAX, 0, 1000000000, &n, err) < 0)
		return -1;
	cfg->events_keep_max = n;
	if (conf_get_uint(c, "operations-keep-days", CTL_DEFAULT_OPERATIONS_KEEP_DAYS, 0, 36500, &n, err) < 0)
		return -1;
	cfg->operations_keep_days = (unsigned)n;
	return 0;
}

int config_from_conf(struct conf *c, struct ctl_config *cfg, struct errmsg *err)
{
	static const char *const modes[] = { "off", "dhcp", "proxy", NULL };
	static const char *const policies[] = { "ignore", "enroll", "pending", NULL };
	unsigned long long n;
	const char *v;
	char where[512], bad[256];
	int i;

	if (conf_get_str(c, "listen", CTL_DEFAULT_LISTEN, &v, err) < 0 ||
	    conf_copy(c, "listen", v, cfg->listen, sizeof(cfg->listen), err) < 0 ||
	    httpd_parse_listen(v, &cfg->listen_addr, &cfg->listen_len,
			       conf_where(c, "listen", where, sizeof(where)), err) < 0)
		return -1;
	if (conf_get_path(c, "data-dir", CTL_DEFAULT_DATA_DIR, cfg->data_dir, sizeof(cfg->data_dir), err) < 0 ||
	    conf_get_path(c, "pxe-dir", CTL_DEFAULT_PXE_DIR, cfg->pxe_dir, sizeof(cfg->pxe_dir), err) < 0 ||
	    conf_get_path(c, "ipxe-dir", CTL_DEFAULT_IPXE_DIR, cfg->ipxe_dir, sizeof(cfg->ipxe_dir), err) < 0 ||
	    conf_get_path(c, "dnsmasq", CTL_DEFAULT_DNSMASQ, cfg->dnsmasq, sizeof(cfg->dnsmasq), err) < 0)
		return -1;
	if (cfg->data_dir[0] == '\0') {
		errmsg_set(err, conf_where(c, "data-dir", where, sizeof(where)), "must not be empty");
		return -1;
	}
	if (conf_get_enum(c, "netboot", modes, NETBOOT_OFF, &i, err) < 0)
		return -1;
	cfg->netboot = (enum netboot_mode)i;
	if (conf_get_str(c, "interface", "", &v, err) < 0)
		return -1;
	if (strlen(v) >= IF_NAMESIZE || strpbrk(v, "/ \t,")) {
		errmsg_set(err, conf_where(c, "interface", where, sizeof(where)),
			   "not an interface name (at most %d characters, no '/', ',' or spaces): \"%s\"",
			   IF_NAMESIZE - 1, v);
		return -1;
	}
	strcpy(cfg->interface, v);
	if (conf_get_str(c, "dhcp-range", "", &v, err) < 0 ||
	    conf_copy(c, "dhcp-range", v, cfg->dhcp_range, sizeof(cfg->dhcp_range), err) < 0)
		return -1;
	if (cfg->netboot != NETBOOT_OFF) {
		if (cfg->interface[0] == '\0') {
			errmsg_set(err, "interface", "required with netboot = %s", modes[cfg->netboot]);
			return -1;
		}
		if (config_check_range(cfg, c, err) < 0)
			return -1;
	}
	if (conf_get_enum(c, "unknown-mac", policies, UNKNOWN_IGNORE, &i, err) < 0)
		return -1;
	cfg->unknown_mac = (enum unknown_policy)i;
	if (conf_get_str(c, "default-role", CTL_DEFAULT_ROLE, &v, err) < 0)
		return -1;
	if (!util_name_valid(v, 63)) {
		errmsg_set(err, conf_where(c, "default-role", where, sizeof(where)),
			   "not a role name (a-z, 0-9 and '-', at most 63): \"%s\"", v);
		return -1;
	}
	strcpy(cfg->default_role, v);
	if (conf_get_str(c, "kernel-args", "", &v, err) < 0 ||
	    conf_copy(c, "kernel-args", v, cfg->kernel_args, sizeof(cfg->kernel_args), err) < 0)
		return -1;
	for (const char *p = v; *p; p++) {
		if ((unsigned char)*p < 0x20 || strchr("\"'\\$`{}", *p)) {
			errmsg_set(err, conf_where(c, "kernel-args", where, sizeof(where)),
				   "contains a character not allowed on a kernel command line in an iPXE script: '%c'",
				   *p >= 0x20 ? *p : '?');
			return -1;
		}
	}
	if (conf_get_uint(c, "heartbeat-interval", CTL_DEFAULT_HEARTBEAT, 1, 300, &n, err) < 0)
		return -1;
	cfg->heartbeat_interval = (unsigned)n;
	if (conf_get_uint(c, "down-after", CTL_DEFAULT_DOWN_AFTER, 1, 86400, &n, err) < 0)
		return -1;
	cfg->down_after = (unsigned)n;
	if (cfg->down_after <= CTL_MISSED_HEARTBEATS * cfg->heartbeat_interval) {
		errmsg_set(err, conf_where(c, "down-after", where, sizeof(where)),
			   "%u s must be longer than %d missed heartbeats (%u s)", cfg->down_after,
			   CTL_MISSED_HEARTBEATS, CTL_MISSED_HEARTBEATS * cfg->heartbeat_interval);
		return -1;
	}
	if (conf_get_uint(c, "token-ttl", CTL_DEFAULT_TOKEN_TTL, CTL_TOKEN_TTL_MIN, CTL_TOKEN_TTL_MAX, &n, err) < 0)
		return -1;
	cfg->token_ttl = (unsigned)n;
	if (conf_get_bool(c, "api-cache", 1, &cfg->api_cache, err) < 0)
		return -1;
	if (conf_get_uint(c, "http-threads", 1, 1, 64, &n, err) < 0)
		return -1;
	cfg->http_threads = (unsigned)n;
	if (config_url(cfg, c, err) < 0)
		return -1;
	if (config_guest(cfg, c, err) < 0)
		return -1;
	if (config_bounds(cfg, c, err) < 0)
		return -1;
	if (conf_get_str(c, "template-allow-cidrs", "", &v, err) < 0)
		return -1;
	if (netaddr_parse_list(v, &cfg->template_allow, bad, sizeof(bad)) < 0) {
		errmsg_set(err, conf_where(c, "template-allow-cidrs", where, sizeof(where)), "%s", bad);
		return -1;
	}
	return conf_read_server(c, &config_daemon.server, cfg, err);
}
