/* config.c -- cloudd's settings: command line over configuration file, validated */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudd.h"
#include "conf.h"
#include "disk.h"
#include "enroll.h"
#include "fsutil.h"

/* Every setting is a config file key and a --key command-line option. */
static const struct conf_option config_options[] = {
	{ "listen", "ADDR:PORT", "HTTP address (default " CLOUDD_DEFAULT_LISTEN ", all IPv4 addresses)" },
	{ "listen-interface", "IFACE", "serve on IFACE's IPv4 address (port from listen)" },
	{ "boot-env", "FILE", "boot facts written by /init (default " CLOUDD_DEFAULT_BOOT_ENV ")" },
	{ "state", "FILE", "desired-state document to converge on (re-read on SIGHUP and change)" },
	{ "run-dir", "DIR", "runtime files: guest sockets, pids, logs (default " CLOUDD_DEFAULT_RUN_DIR ")" },
	{ "data-dir", "DIR", "persistent data: volumes, templates (default " CLOUDD_DEFAULT_DATA_DIR ")" },
	{ "accel", "auto|kvm|tcg", "guest accelerator (default auto: kvm when usable)" },
	{ "disk-policy", "POLICY", "local disks: \"init=never|blank fs=ext4|xfs select=first|largest include=DEVS wipe=DEVS\" or none (default " CLOUDD_DEFAULT_DISK_POLICY ")" },
	{ "converge-interval", "SECONDS", "period of the guest check (default 5, 1..3600)" },
	{ "log-level", "LEVEL", "error, warn, info (default) or debug" },
	{ "syslog", "yes|no", "also log to syslog (default yes)" },
	{ "max-body", "BYTES", "largest HTTP request body, N[K|M] (default 1M)" },
	{ "http-connections", "N", "concurrent HTTP connections (default 8, 1..256)" },
	{ "sysroot", "DIR", "read /proc, /sys and /etc below DIR (for tests; default /)" },
	{ "api-key-file", "FILE", "a key (\"key = ID\", \"secret = S\", mode 0600) that may sign requests, besides the controller's" },
	{ "template-allow-cidrs", "CIDR,..", "internal networks template downloads may connect to all the same (default none: loopback, link-local and this node's addresses are refused, the controller's URL is not)" },
};

static int config_apply(struct conf *c, void *cfg, struct errmsg *err)
{
	return config_from_conf(c, cfg, err);
}

static const struct conf_daemon config_daemon = {
	.about = "cloudd: the node daemon. Serves /health and /metrics to anyone, /v1/sysinfo,\n"
		 "/v1/state, consoles and filters to signed requests of the controller (or of\n"
		 "the api-key-file's key), and converges the node's guests on a desired-state\n"
		 "document.\n",
	.notes = "Signals: SIGTERM/SIGINT stop (guests keep running), SIGHUP re-reads the state file.\n\n",
	.default_path = CLOUDD_DEFAULT_CONFIG,
	.options = config_options,
	.noptions = sizeof(config_options) / sizeof(config_options[0]),
	.apply = config_apply,
	.server = { .syslog = 1, .max_body = CLOUDD_DEFAULT_MAX_BODY, .max_body_max = 64ULL << 20,
		    .connections = CLOUDD_DEFAULT_HTTP_CONNECTIONS, .connections_min = 1, .connections_max = 256,
		    CONF_SERVER_FIELDS(struct cloudd_config) },
};
CONF_SERVER_CHECK(struct cloudd_config);

void config_usage(FILE *out, const char *prog)
{
	conf_daemon_usage(&config_daemon, out, prog);
}

int config_load(int argc, char **argv, struct cloudd_config *cfg, enum config_action *action,
		struct errmsg *err)
{
	memset(cfg, 0, sizeof(*cfg));
	return conf_load_settings(&config_daemon, argc, argv, cfg, cfg->config_path, sizeof(cfg->config_path),
				  action, err);
}

/* The disk policy is checked at start-up; the volumes live where it mounts the disk: data-dir. */
static int config_disk_policy(const char *text, struct conf *c, struct errmsg *err)
{
	struct disk_policy p;
	struct errmsg perr = { 0 };
	char where[512], msg[512];

	if (strcmp(text, "none") == 0)
		return 0;
	if (disk_policy_parse(text, &p, &perr) < 0) {
		errmsg_set(err, conf_where(c, "disk-policy", where, sizeof(where)), "%s",
			   errmsg_str(&perr, msg, sizeof(msg)));
		return -1;
	}
	if (strstr(text, "mountpoint=") != NULL) {
		errmsg_set(err, conf_where(c, "disk-policy", where, sizeof(where)),
			   "mountpoint is not a policy key here: the disk is mounted at data-dir");
		return -1;
	}
	return 0;
}

int config_from_conf(struct conf *c, struct cloudd_config *cfg, struct errmsg *err)
{
	static const char *const accels[] = { "auto", "kvm", "tcg", NULL };
	unsigned long long n;
	const char *v;
	char where[512], bad[256];
	int i;

	conf_get_str(c, "listen", CLOUDD_DEFAULT_LISTEN, &v, err);
	if (conf_copy(c, "listen", v, cfg->listen, sizeof(cfg->listen), err) < 0)
		return -1;
	if (httpd_parse_listen(v, &cfg->listen_addr, &cfg->listen_len,
			       conf_where(c, "listen", where, sizeof(where)), err) < 0)
		return -1;
	conf_get_str(c, "listen-interface", "", &v, err);
	if (strlen(v) >= IF_NAMESIZE || strchr(v, '/') || strchr(v, ' ')) {
		errmsg_set(err, conf_where(c, "listen-interface", where, sizeof(where)),
			   "not an interface name (at most %d characters, no '/' or spaces): \"%s\"",
			   IF_NAMESIZE - 1, v);
		return -1;
	}
	strcpy(cfg->listen_interface, v);
	if (conf_get_path(c, "boot-env", CLOUDD_DEFAULT_BOOT_ENV, cfg->boot_env, sizeof(cfg->boot_env), err) < 0 ||
	    conf_get_path(c, "state", "", cfg->state_path, sizeof(cfg->state_path), err) < 0 ||
	    conf_get_path(c, "run-dir", CLOUDD_DEFAULT_RUN_DIR, cfg->run_dir, sizeof(cfg->run_dir), err) < 0 ||
	    conf_get_path(c, "data-dir", CLOUDD_DEFAULT_DATA_DIR, cfg->data_dir, sizeof(cfg->data_dir), err) < 0 ||
	    conf_get_path(c, "sysroot", "", cfg->sysroot, sizeof(cfg->sysroot), err) < 0 ||
	    conf_get_path(c, "api-key-file", "", cfg->api_key_file, sizeof(cfg->api_key_file), err) < 0)
		return -1;
	if (conf_get_enum(c, "accel", accels, CLOUDD_ACCEL_AUTO, &i, err) < 0)
		return -1;
	cfg->accel = (enum cloudd_accel)i;
	conf_get_str(c, "disk-policy", CLOUDD_DEFAULT_DISK_POLICY, &v, err);
	if (conf_copy(c, "disk-policy", v, cfg->disk_policy, sizeof(cfg->disk_policy), err) < 0 ||
	    config_disk_policy(cfg->disk_policy, c, err) < 0)
		return -1;
	if (conf_get_uint(c, "converge-interval", CLOUDD_DEFAULT_CONVERGE_INTERVAL, 1, 3600, &n, err) < 0)
		return -1;
	cfg->converge_interval = (unsigned)n;
	conf_get_str(c, "template-allow-cidrs", "", &v, err);
	if (netaddr_parse_list(v, &cfg->template_allow, bad, sizeof(bad)) < 0) {
		errmsg_set(err, conf_where(c, "template-allow-cidrs", where, sizeof(where)), "%s", bad);
		return -1;
	}
	return conf_read_server(c, &config_daemon.server, cfg, err);
}

int config_resolve_listen(struct cloudd_config *cfg, struct errmsg *err)
{
	struct ifaddrs *ifa, *i;
	int found = 0;

	if (cfg->listen_interface[0] == '\0')
		return 0;
	if (getifaddrs(&ifa) < 0) {
		errmsg_set(err, "listen-interface", "getifaddrs: %s", strerror(errno));
		return -1;
	}
	for (i = ifa; i; i = i->ifa_next) {
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    strcmp(i->ifa_name, cfg->listen_interface) == 0) {
			struct sockaddr_in *dst = (struct sockaddr_in *)&cfg->listen_addr;
			in_port_t port = cfg->listen_addr.ss_family == AF_INET6
						 ? ((struct sockaddr_in6 *)&cfg->listen_addr)->sin6_port
						 : dst->sin_port;
			memset(&cfg->listen_addr, 0, sizeof(cfg->listen_addr));
			dst->sin_family = AF_INET;
			dst->sin_addr = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
			dst->sin_port = port;
			cfg->listen_len = sizeof(*dst);
			found = 1;
			break;
		}
	}
	freeifaddrs(ifa);
	if (!found) {
		errmsg_set(err, "listen-interface", "interface %s has no IPv4 address (or does not exist)",
			   cfg->listen_interface);
		errno = EADDRNOTAVAIL;
		return -1;
	}
	return 0;
}

int config_controller_url(const struct cloudd_config *cfg, char *out, size_t outlen)
{
	char path[PATH_MAX];
	struct buf cmdline = BUF_INIT;

	out[0] = '\0';
	if (cfg->boot_env[0] && fs_path(path, sizeof(path), "%s%s", cfg->sysroot, cfg->boot_env) == 0 &&
	    fs_env_get(path, "CONTROLLER", out, outlen) > 0 && out[0])
		return 1;
	if (fs_path(path, sizeof(path), "%s/proc/cmdline", cfg->sysroot) == 0 && fs_read_file(path, 65536, &cmdline) == 0 &&
	    enroll_cmdline_arg(cmdline.data, "cloud.controller", out, outlen) > 0 && out[0]) {
		buf_free(&cmdline);
		return 1;
	}
	buf_free(&cmdline);
	out[0] = '\0';
	return 0;
}
