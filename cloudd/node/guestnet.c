/* guestnet.c -- the node's guest network: bridge, persistent taps, and a supervised dnsmasq with static leases */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "dnsmasq_guests_conf.h" /* guestnet_dnsmasq_template (pxe/dnsmasq-guests.conf.in) */
#include "guestnet.h"
#include "log.h"
#include "netaddr.h"
#include "proc.h"
#include "text_template.h"

static int ifname_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < IFNAMSIZ &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

/* Parses "a.b.c.d/n" into address and prefix. */
/* "A.B.C.D/N", N from 1 to 30: the node's address on the bridge and the guest subnet */
static int parse_cidr4(const char *cidr, struct in_addr *addr, int *prefix)
{
	struct netaddr a;

	if (netaddr_parse_cidr(cidr, &a) < 0 || a.family != AF_INET || a.prefix < 1 || a.prefix > 30)
		return -1;
	memcpy(&addr->s_addr, a.addr, 4);
	*prefix = a.prefix;
	return 0;
}

/* Runs `ip -batch -` with the commands; -1 and err with ip's message. */
static int ip_batch(const struct buf *cmds, struct errmsg *err)
{
	char *argv[] = { "ip", "-batch", "-", NULL };
	struct buf out = BUF_INIT;
	int status;

	if (cmds->len == 0)
		return 0;
	if (proc_run(argv, cmds->data, cmds->len, &out, GUESTNET_IP_TIMEOUT_MS, &status) < 0) {
		errmsg_set(err, "", "ip: %s", strerror(errno));
		buf_free(&out);
		return -1;
	}
	if (status != 0) {
		/* ip names the failing command and why on separate lines: keep both */
		for (size_t i = 0; i < out.len; i++)
			if (out.data[i] == '\n')
				out.data[i] = i + 1 == out.len ? '\0' : ';';
		errmsg_set(err, "", "ip -batch failed: %s", out.data ? out.data : "(no output)");
		buf_free(&out);
		errno = EIO;
		return -1;
	}
	buf_free(&out);
	return 0;
}

/* The addresses of family ("inet"/"inet6") on dev, as "addr/prefix" in a JSON array. */
static json_t *ip_addrs(const char *dev, const char *family)
{
	char *argv[] = { "ip", "-j", "addr", "show", "dev", (char *)dev, NULL };
	struct buf out = BUF_INIT;
	json_t *doc, *res = json_array();
	size_t i, k;
	json_t *link, *ai;
	int status;

	if (proc_run(argv, NULL, 0, &out, GUESTNET_IP_TIMEOUT_MS, &status) < 0 || status != 0) {
		buf_free(&out);
		return res;
	}
	doc = json_loadb(out.data, out.len, 0, NULL);
	buf_free(&out);
	json_array_foreach(doc, i, link) {
		json_array_foreach(json_object_get(link, "addr_info"), k, ai) {
			const char *fam = json_string_value(json_object_get(ai, "family"));
			const char *local = json_string_value(json_object_get(ai, "local"));
			const char *scope = json_string_value(json_object_get(ai, "scope"));
			char a[80];
			if (!fam || !local || strcmp(fam, family) != 0 || (scope && strcmp(scope, "link") == 0))
				continue;
			snprintf(a, sizeof(a), "%s/%lld", local,
				 json_integer_value(json_object_get(ai, "prefixlen")));
			json_array_append_new(res, json_string(a));
		}
	}
	json_decref(doc);
	return res;
}

int guestnet_bridge_ensure(const char *bridge, const char *cidr, const char *cidr6, const char *uplink,
			   unsigned mtu, struct errmsg *err)
{
	struct buf cmds = BUF_INIT;
	struct in_addr addr;
	int prefix, rc;
	size_t i;
	json_t *have, *a;

	if (!ifname_ok(bridge)) {
		errmsg_set(err, "network.bridge", "not an interface name: \"%s\"", bridge);
		errno = EINVAL;
		return -1;
	}
	if (cidr && *cidr && parse_cidr4(cidr, &addr, &prefix) < 0) {
		errmsg_set(err, "network.address", "not an IPv4 address/prefix: \"%s\"", cidr);
		errno = EINVAL;
		return -1;
	}
	if (uplink && *uplink && !ifname_ok(uplink)) {
		errmsg_set(err, "network.uplink", "not an interface name: \"%s\"", uplink);
		errno = EINVAL;
		return -1;
	}
	if (if_nametoindex(bridge) == 0)
		buf_printf(&cmds, "link add name %s type bridge\n", bridge);
	if (mtu)
		buf_printf(&cmds, "link set dev %s mtu %u\n", bridge, mtu);
	buf_printf(&cmds, "link set dev %s up\n", bridge);
	if (uplink && *uplink) {
		if (if_nametoindex(uplink) == 0) {
			errmsg_set(err, "network.uplink", "no such interface: %s", uplink);
			buf_free(&cmds);
			errno = ENODEV;
			return -1;
		}
		buf_printf(&cmds, "link set dev %s master %s up\n", uplink, bridge);
	}
	/* exactly the desired addresses: others from an earlier document go */
	have = ip_addrs(bridge, "inet");
	json_array_foreach(have, i, a) {
		if (!cidr || strcmp(json_string_value(a), cidr) != 0)
			buf_printf(&cmds, "addr del %s dev %s\n", json_string_value(a), bridge);
	}
	json_decref(have);
	if (cidr && *cidr)
		buf_printf(&cmds, "addr replace %s dev %s\n", cidr, bridge);
	have = ip_addrs(bridge, "inet6");
	json_array_foreach(have, i, a) {
		if (!cidr6 || strcmp(json_string_value(a), cidr6) != 0)
			buf_printf(&cmds, "addr del %s dev %s\n", json_string_value(a), bridge);
	}
	json_decref(have);
	if (cidr6 && *cidr6)
		buf_printf(&cmds, "addr replace %s dev %s nodad\n", cidr6, bridge);
	rc = ip_batch(&cmds, err);
	buf_free(&cmds);
	return rc;
}

/* A descriptor attached to the tap ifname (created when missing), or -1 with err. */
static int tap_attach(const char *ifname, struct errmsg *err)
{
	struct ifreq ifr = { 0 };
	int fd;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		errmsg_set(err, "", "tap %s: /dev/net/tun: %s", ifname, strerror(errno));
		return -1;
	}
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		errmsg_set(err, "", "tap %s: %s", ifname, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Makes the tap ifname persistent (it outlives this process, for QEMU to
 * open) or not (it goes once nothing holds it; fails while QEMU still has it open).
 */
static int tap_persist(const char *ifname, int persist, struct errmsg *err)
{
	int fd = tap_attach(ifname, err);

	if (fd < 0)
		return -1;
	if (ioctl(fd, TUNSETPERSIST, persist) < 0) {
		errmsg_set(err, "", "tap %s: %s", ifname, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int guestnet_tap_open(const char *ifname, struct errmsg *err)
{
	if (!ifname_ok(ifname)) {
		errmsg_set(err, "", "bad tap name: \"%s\"", ifname);
		errno = EINVAL;
		return -1;
	}
	if (if_nametoindex(ifname) == 0) {
		errmsg_set(err, "", "tap %s does not exist", ifname);
		errno = ENODEV;
		return -1;
	}
	return tap_attach(ifname, err);
}

int guestnet_tap_ensure(const char *ifname, const char *bridge, unsigned mtu, struct errmsg *err)
{
	struct buf cmds = BUF_INIT;
	int rc;

	if (!ifname_ok(ifname) || !ifname_ok(bridge)) {
		errmsg_set(err, "", "bad tap or bridge name: \"%s\", \"%s\"", ifname, bridge);
		errno = EINVAL;
		return -1;
	}
	if (if_nametoindex(ifname) == 0 && tap_persist(ifname, 1, err) < 0)
		return -1;
	buf_printf(&cmds, "link set dev %s master %s\n", ifname, bridge);
	if (mtu)
		buf_printf(&cmds, "link set dev %s mtu %u\n", ifname, mtu);
	buf_printf(&cmds, "link set dev %s up\n", ifname);
	rc = ip_batch(&cmds, err);
	buf_free(&cmds);
	return rc;
}

int guestnet_tap_delete(const char *ifname, struct errmsg *err)
{
	if (!ifname_ok(ifname)) {
		errmsg_set(err, "", "bad tap name: \"%s\"", ifname);
		errno = EINVAL;
		return -1;
	}
	if (if_nametoindex(ifname) == 0)
		return 0;
	return tap_persist(ifname, 0, err);
}

/* --- dnsmasq ------------------------------------------------------------------ */

void guestnet_dhcp_init(struct guestnet_dhcp *d, const char *dir, const char *dnsmasq)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	snprintf(d->dnsmasq, sizeof(d->dnsmasq), "%s", dnsmasq && *dnsmasq ? dnsmasq : "dnsmasq");
}

int guestnet_dhcp_conf(const char *dir, const char *bridge, const char *subnet_cidr, const char *gateway,
		       const char *const *dns, size_t n_dns, struct buf *out, struct errmsg *err)
{
	const char *names[] = { "BRIDGE", "NETWORK", "NETMASK", "LEASE_TIME", "DIR" };
	struct in_addr addr, net, mask;
	char nets[INET_ADDRSTRLEN], masks[INET_ADDRSTRLEN];
	int prefix;

	if (!ifname_ok(bridge)) {
		errmsg_set(err, "network.bridge", "not an interface name: \"%s\"", bridge);
		errno = EINVAL;
		return -1;
	}
	if (parse_cidr4(subnet_cidr, &addr, &prefix) < 0) {
		errmsg_set(err, "network.address", "not an IPv4 address/prefix: \"%s\"", subnet_cidr);
		errno = EINVAL;
		return -1;
	}
	if (gateway && *gateway && inet_pton(AF_INET, gateway, &net) != 1) {
		errmsg_set(err, "network.gateway", "not an IPv4 address: \"%s\"", gateway);
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < n_dns; i++) {
		if (inet_pton(AF_INET, dns[i], &net) != 1) {
			errmsg_set(err, "network.dns", "not an IPv4 address: \"%s\"", dns[i]);
			errno = EINVAL;
			return -1;
		}
	}
	mask.s_addr = htonl(0xffffffffu << (32 - prefix));
	net.s_addr = addr.s_addr & mask.s_addr;
	inet_ntop(AF_INET, &net, nets, sizeof(nets));
	inet_ntop(AF_INET, &mask, masks, sizeof(masks));
	const char *values[] = { bridge, nets, masks, GUESTNET_LEASE_TIME, dir };
	if (template_render(guestnet_dnsmasq_template, names, values, 5, out, err) < 0)
		return -1;
	/* the options the document may leave out */
	if (gateway && *gateway && buf_printf(out, "dhcp-option=option:router,%s\n", gateway) < 0)
		return -1;
	if (n_dns) {
		if (buf_puts(out, "dhcp-option=option:dns-server") < 0)
			return -1;
		for (size_t i = 0; i < n_dns; i++)
			if (buf_printf(out, ",%s", dns[i]) < 0)
				return -1;
		if (buf_puts(out, "\n") < 0)
			return -1;
	}
	return 0;
}

/* FNV-1a 64 as 16 hex digits. */
static void hash_text(const char *s, char out[17])
{
	unsigned long long h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	snprintf(out, 17, "%016llx", h);
}

/* Writes path atomically; returns 1 when the content changed, 0 when not, -1 on error. */
static int write_if_changed(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8];
	struct buf old = BUF_INIT;
	FILE *f;
	size_t len = strlen(text);

	f = fopen(path, "re");
	if (f) {
		char chunk[4096];
		size_t r;
		while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0 && old.len <= len)
			buf_append(&old, chunk, r);
		fclose(f);
		if (old.len == len && (len == 0 || memcmp(old.data, text, len) == 0)) {
			buf_free(&old);
			return 0;
		}
	}
	buf_free(&old);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (f == NULL)
		return -1;
	if (fwrite(text, 1, len, f) != len) {
		fclose(f);
		unlink(tmp);
		return -1;
	}
	if (fclose(f) != 0 || chmod(tmp, 0644) < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 1;
}

/* Stops a dnsmasq a previous cloudd left behind (recorded pid, same command line). */
static void dhcp_stop_orphan(struct guestnet_dhcp *d, char **argv)
{
	char path[PATH_MAX + 16];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/dnsmasq.pid", d->dir);
	if (proc_read_pidfile(path, &pid) < 0 || pid == d->pid)
		return;
	if (proc_alive(pid) == 1 && proc_cmdline_matches(pid, argv)) {
		log_info("guest DHCP: stopping dnsmasq pid %d left by a previous cloudd", (int)pid);
		kill(pid, SIGTERM);
		for (int i = 0; i < 300 && proc_alive(pid) == 1; i++)
			usleep(10000);
		if (proc_alive(pid) == 1)
			kill(pid, SIGKILL);
	}
	unlink(path);
}

static int dhcp_start(struct guestnet_dhcp *d, struct errmsg *err)
{
	char conf_arg[PATH_MAX + 16], log_path[PATH_MAX + 16], pid_path[PATH_MAX + 16], pidtext[32];
	char *argv[] = { d->dnsmasq, "--keep-in-foreground", "--pid-file=", "--user=root", conf_arg, NULL };
	pid_t pid;

	snprintf(conf_arg, sizeof(conf_arg), "--conf-file=%s/dnsmasq.conf", d->dir);
	snprintf(log_path, sizeof(log_path), "%s/dnsmasq.log", d->dir);
	snprintf(pid_path, sizeof(pid_path), "%s/dnsmasq.pid", d->dir);
	dhcp_stop_orphan(d, argv);
	if (proc_spawn(argv, log_path, &pid) < 0) {
		errmsg_set(err, "", "starting %s: %s", d->dnsmasq, strerror(errno));
		return -1;
	}
	d->pid = pid;
	snprintf(pidtext, sizeof(pidtext), "%d\n", (int)pid);
	if (write_if_changed(pid_path, pidtext) < 0)
		log_warn("guest DHCP: writing %s: %s", pid_path, strerror(errno));
	/* dnsmasq checks its configuration and binds before it settles: catch an early exit */
	for (int i = 0; i < 50; i++) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			char st[64], line[300] = "";
			FILE *f = fopen(log_path, "re");
			if (f) {
				char l[300];
				while (fgets(l, sizeof(l), f))
					if (l[0] != '\n')
						memcpy(line, l, sizeof(line));
				fclose(f);
				line[strcspn(line, "\n")] = '\0';
			}
			d->pid = 0;
			errmsg_set(err, "", "dnsmasq %s: %s", proc_status_str(status, st, sizeof(st)), line);
			errno = EIO;
			return -1;
		}
		usleep(10000);
	}
	log_info("guest DHCP: dnsmasq started (pid %d)", (int)pid);
	return 0;
}

void guestnet_dhcp_stop(struct guestnet_dhcp *d)
{
	char pid_path[PATH_MAX + 16];

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid)
			break;
		usleep(10000);
		if (i == 299) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
		}
	}
	d->pid = 0;
	snprintf(pid_path, sizeof(pid_path), "%s/dnsmasq.pid", d->dir);
	unlink(pid_path);
}

int guestnet_dhcp_apply(struct guestnet_dhcp *d, const char *bridge, const char *subnet_cidr,
			const char *gateway, const char *const *dns, size_t n_dns,
			const struct guestnet_lease *leases, size_t n_leases, struct errmsg *err)
{
	char hash[17], path[PATH_MAX + 16];
	struct buf conf = BUF_INIT, hosts = BUF_INIT;
	int hosts_changed, rc = -1;

	if (guestnet_dhcp_conf(d->dir, bridge, subnet_cidr, gateway, dns, n_dns, &conf, err) < 0) {
		if (errno == ENOMEM)
			errmsg_set(err, "", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_leases; i++) {
		struct in_addr a;
		if (strlen(leases[i].mac) != 17 || strspn(leases[i].mac, "0123456789abcdefABCDEF:") != 17 ||
		    inet_pton(AF_INET, leases[i].ipv4, &a) != 1 ||
		    strspn(leases[i].hostname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") !=
			    strlen(leases[i].hostname)) {
			errmsg_set(err, "", "lease %zu: bad MAC, address or hostname", i);
			errno = EINVAL;
			goto out;
		}
		buf_printf(&hosts, "%s,%s%s%s\n", leases[i].mac, leases[i].ipv4, leases[i].hostname[0] ? "," : "",
			   leases[i].hostname);
	}
	if (mkdir(d->dir, 0755) < 0 && errno != EEXIST) {
		errmsg_set(err, "", "creating %s: %s", d->dir, strerror(errno));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/hosts", d->dir);
	hosts_changed = write_if_changed(path, hosts.data ? hosts.data : "");
	snprintf(path, sizeof(path), "%s/dnsmasq.conf", d->dir);
	if (hosts_changed < 0 || write_if_changed(path, conf.data) < 0) {
		errmsg_set(err, "", "writing the guest DHCP configuration in %s: %s", d->dir, strerror(errno));
		goto out;
	}
	hash_text(conf.data, hash);
	if (d->pid > 0 && strcmp(hash, d->conf_hash) != 0) {
		log_info("guest DHCP: configuration changed: restarting dnsmasq");
		guestnet_dhcp_stop(d);
	}
	if (d->pid > 0 && waitpid(d->pid, NULL, WNOHANG) == d->pid)
		d->pid = 0;
	if (d->pid <= 0) {
		if (dhcp_start(d, err) < 0)
			goto out;
		memcpy(d->conf_hash, hash, sizeof(hash));
		d->restarts = 0;
	} else if (hosts_changed == 1) {
		log_info("guest DHCP: leases changed: reloading dnsmasq");
		kill(d->pid, SIGHUP);
	}
	rc = 0;
out:
	buf_free(&conf);
	buf_free(&hosts);
	return rc;
}

int guestnet_dhcp_check(struct guestnet_dhcp *d)
{
	struct errmsg err = { 0 };
	char st[64];
	int status;

	if (d->conf_hash[0] == '\0')
		return 0; /* never configured */
	if (d->pid > 0) {
		if (waitpid(d->pid, &status, WNOHANG) != d->pid)
			return 1;
		log_warn("guest DHCP: dnsmasq (pid %d) %s", (int)d->pid, proc_status_str(status, st, sizeof(st)));
		d->pid = 0;
		long long delay = 1000LL << (d->restarts < 6 ? d->restarts : 6);
		if (delay > GUESTNET_DHCP_BACKOFF_MAX_MS)
			delay = GUESTNET_DHCP_BACKOFF_MAX_MS;
		d->next_start_ms = proc_now_ms() + (d->restarts ? delay : 0);
		d->restarts++;
	}
	if (proc_now_ms() < d->next_start_ms)
		return 0;
	if (dhcp_start(d, &err) < 0) {
		log_error("guest DHCP: %s", err.msg);
		d->next_start_ms = proc_now_ms() + GUESTNET_DHCP_BACKOFF_MAX_MS / 4;
		return 0;
	}
	return 1;
}
