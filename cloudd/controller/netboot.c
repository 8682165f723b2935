/* netboot.c -- dnsmasq for DHCP/proxyDHCP + TFTP: generated configuration, supervision, reloads */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "controller.h"
#include "fsutil.h"
#include "text_template.h"

#define NETBOOT_MAX_TEMPLATE (64 * 1024) /* bytes of a dnsmasq template */

struct netboot {
	pid_t pid;
	time_t next_start;	/* when a dead dnsmasq may be restarted */
	unsigned backoff;	/* seconds, doubled per quick death */
	time_t started_at;
	unsigned long long restarts;
	atomic_int hosts_changed;
	char conf_path[PATH_MAX];
	char hosts_path[PATH_MAX];
	char dir[PATH_MAX];
};

static const char *netboot_template_name(enum netboot_mode mode)
{
	return mode == NETBOOT_PROXY ? "dnsmasq-proxy.conf.in" : "dnsmasq.conf.in";
}

int netboot_render(const struct ctl_config *cfg, const char *tmpl, const char *hosts_path,
		   struct buf *out, struct errmsg *err)
{
	const char *names[] = { "INTERFACE", "RANGE", "TFTP_ROOT", "BOOT_URL", "LEASE_DIR" };
	char boot_url[512], lease_dir[PATH_MAX];
	const char *values[5];
	char *slash;

	/* iPXE expands ${netX/mac} in the filename it is given */
	if (fs_path(boot_url, sizeof(boot_url), "%s/boot.ipxe?mac=${netX/mac}", cfg->url) < 0 ||
	    fs_path(lease_dir, sizeof(lease_dir), "%s", hosts_path) < 0) {
		errmsg_set(err, "netboot", "path too long");
		return -1;
	}
	slash = strrchr(lease_dir, '/');
	if (slash)
		*slash = '\0';
	values[0] = cfg->interface;
	values[1] = cfg->dhcp_range;
	values[2] = cfg->ipxe_dir;
	values[3] = boot_url;
	values[4] = lease_dir;
	if (template_render(tmpl, names, values, 5, out, err) < 0)
		return -1;
	if (buf_printf(out, "\n# --- added by cloud-controller\n"
			    "# known machines (MAC, name as hostname); re-read on SIGHUP when machines change\n"
			    "dhcp-hostsfile=%s\n", hosts_path) < 0)
		return -1;
	return 0;
}

/* One "dhcp-host=MAC[,NAME]" line per machine. */
static int netboot_write_hosts(struct controller *ctrl)
{
	struct buf text = BUF_INIT;
	sqlite3_stmt *st;
	int rc = -1;

	if (buf_puts(&text, "") < 0)
		return -1;
	db_lock(&ctrl->db);
	st = db_prepare(&ctrl->db, "SELECT mac, name FROM machines ORDER BY mac");
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		if (db_col_text(st, 1))
			buf_printf(&text, "%s,%s\n", db_col_text(st, 0), db_col_text(st, 1));
		else
			buf_printf(&text, "%s\n", db_col_text(st, 0));
	}
	sqlite3_finalize(st);
	db_unlock(&ctrl->db);
	if (st != NULL)
		rc = fs_write_atomic(ctrl->netboot->hosts_path, text.data, text.len, 0644);
	buf_free(&text);
	return rc;
}

static int netboot_spawn(struct controller *ctrl)
{
	struct netboot *nb = ctrl->netboot;
	char conf_arg[PATH_MAX + 16];
	pid_t pid;

	if (fs_path(conf_arg, sizeof(conf_arg), "--conf-file=%s", nb->conf_path) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execl(ctrl->cfg.dnsmasq, "dnsmasq", "--keep-in-foreground", "--log-facility=-", "--pid-file=",
		      "--user=root", conf_arg, (char *)NULL);
		fprintf(stderr, "cloud-controller: cannot run %s: %s\n", ctrl->cfg.dnsmasq, strerror(errno));
		_exit(127);
	}
	nb->pid = pid;
	nb->started_at = time(NULL);
	log_info("netboot: dnsmasq started (pid %d, %s mode on %s)", (int)pid,
		 ctrl->cfg.netboot == NETBOOT_PROXY ? "proxyDHCP" : "DHCP", ctrl->cfg.interface);
	return 0;
}

/*
 * What netboot needs besides a valid configuration: dnsmasq, the iPXE
 * binaries and the template, which must render. Fills err naming what is
 * missing and where it comes from.
 */
int netboot_check(const struct ctl_config *cfg, struct buf *conf, const char *hosts_path,
		  struct errmsg *err)
{
	const char *const ipxe[] = { "undionly.kpxe", "snponly.efi" };
	struct buf tmpl = BUF_INIT;
	char path[PATH_MAX];
	int rc = -1;

	if (cfg->netboot == NETBOOT_OFF)
		return 0;
	if (access(cfg->dnsmasq, X_OK) < 0) {
		errmsg_set(err, "dnsmasq", "cannot run %s: %s (Debian package dnsmasq-base)", cfg->dnsmasq,
			   strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < 2; i++) {
		if (fs_path(path, sizeof(path), "%s/%s", cfg->ipxe_dir, ipxe[i]) < 0 || access(path, R_OK) < 0) {
			errmsg_set(err, "ipxe-dir", "no %s in %s (Debian package ipxe, or the out/ of build.sh)",
				   ipxe[i], cfg->ipxe_dir);
			return -1;
		}
	}
	if (fs_path(path, sizeof(path), "%s/%s", cfg->pxe_dir, netboot_template_name(cfg->netboot)) < 0 ||
	    fs_read_file(path, NETBOOT_MAX_TEMPLATE, &tmpl) < 0) {
		errmsg_set(err, "pxe-dir", "cannot read the template %s: %s", path, strerror(errno));
		return -1;
	}
	if (netboot_render(cfg, tmpl.data, hosts_path, conf, err) == 0)
		rc = 0;
	buf_free(&tmpl);
	return rc;
}

int netboot_start(struct controller *ctrl)
{
	struct netboot *nb;
	struct buf conf = BUF_INIT;
	struct errmsg err = { 0 };
	char msg[800];

	if (ctrl->cfg.netboot == NETBOOT_OFF)
		return 0;
	nb = calloc(1, sizeof(*nb));
	if (nb == NULL)
		return -1;
	ctrl->netboot = nb;
	nb->pid = -1;
	nb->backoff = 1;
	if (fs_path(nb->dir, sizeof(nb->dir), "%s/dnsmasq", ctrl->cfg.data_dir) < 0 ||
	    fs_path(nb->conf_path, sizeof(nb->conf_path), "%s/dnsmasq.conf", nb->dir) < 0 ||
	    fs_path(nb->hosts_path, sizeof(nb->hosts_path), "%s/hosts", nb->dir) < 0)
		return -1;
	if (netboot_check(&ctrl->cfg, &conf, nb->hosts_path, &err) < 0) {
		log_error("netboot: %s", errmsg_str(&err, msg, sizeof(msg)));
		goto err;
	}
	if (fs_mkdir_p(nb->dir, 0755, 0755) < 0 || netboot_write_hosts(ctrl) < 0 ||
	    fs_write_atomic(nb->conf_path, conf.data, conf.len, 0644) < 0) {
		log_error("netboot: writing %s: %s", nb->dir, strerror(errno));
		goto err;
	}
	buf_free(&conf);
	return netboot_spawn(ctrl);
err:
	buf_free(&conf);
	return -1;
}

int netboot_lease_path(const struct ctl_config *cfg, char *out, size_t outlen)
{
	return fs_path(out, outlen, "%s/dnsmasq/dnsmasq.leases", cfg->data_dir);
}

/* "::ffff:192.0.2.5" (an IPv4 peer of a dual-stack socket) compares as "192.0.2.5". */
static const char *netboot_addr_plain(const char *addr)
{
	return strncasecmp(addr, "::ffff:", 7) == 0 && strchr(addr + 7, '.') ? addr + 7 : addr;
}

int netboot_lease_matches(const char *leases, const char *mac, const char *addr, time_t now, char *leased,
			  size_t leasedlen)
{
	const char *line = leases, *want = netboot_addr_plain(addr);

	if (leasedlen)
		leased[0] = '\0';
	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char text[512], lease_mac[64], lease_addr[64], norm[18];
		long long expiry;

		/* IPv6 leases follow a "duid" line and carry no MAC; anything malformed is skipped */
		if (len < sizeof(text)) {
			memcpy(text, line, len);
			text[len] = '\0';
			if (sscanf(text, "%lld %63s %63s", &expiry, lease_mac, lease_addr) == 3 &&
			    util_mac_parse(lease_mac, norm) == 0 && strcmp(norm, mac) == 0 &&
			    (expiry == 0 || expiry > (long long)now)) {
				if (strcmp(lease_addr, want) == 0)
					return 1;
				if (leasedlen && leased[0] == '\0')
					snprintf(leased, leasedlen, "%s", lease_addr);
			}
		}
		line = end ? end + 1 : NULL;
	}
	return 0;
}

void netboot_hosts_changed(struct controller *ctrl)
{
	if (ctrl->netboot)
		atomic_store(&ctrl->netboot->hosts_changed, 1);
}

/*
 * From the main loop, about once a second: reaps a dead dnsmasq and restarts
 * it (1 s, doubling to CTL_DNSMASQ_BACKOFF_MAX when it keeps dying quickly),
 * and makes it re-read the known machines after a change.
 */
void netboot_tick(struct controller *ctrl)
{
	struct netboot *nb = ctrl->netboot;
	time_t now = time(NULL);
	int status;

	if (nb == NULL)
		return;
	if (nb->pid > 0 && waitpid(nb->pid, &status, WNOHANG) == nb->pid) {
		char how[64];
		if (WIFEXITED(status))
			snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
		else
			snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
		nb->backoff = now - nb->started_at > 60 ? 1 : nb->backoff;
		nb->next_start = now + nb->backoff;
		log_warn("netboot: dnsmasq (pid %d) %s; restarting in %u s", (int)nb->pid, how, nb->backoff);
		db_lock(&ctrl->db);
		if (db_begin(&ctrl->db) == 0) {
			if (db_event(&ctrl->db, "netboot.dnsmasq", NULL, "dnsmasq (pid %d) %s; restarting in %u s",
				     (int)nb->pid, how, nb->backoff) < 0)
				db_rollback(&ctrl->db);
			else
				db_commit(&ctrl->db);
		}
		db_unlock(&ctrl->db);
		nb->backoff = nb->backoff * 2 > CTL_DNSMASQ_BACKOFF_MAX ? CTL_DNSMASQ_BACKOFF_MAX : nb->backoff * 2;
		nb->pid = -1;
		nb->restarts++;
	}
	if (nb->pid < 0 && now >= nb->next_start) {
		atomic_store(&nb->hosts_changed, 0);
		if (netboot_write_hosts(ctrl) < 0 || netboot_spawn(ctrl) < 0) {
			log_error("netboot: cannot restart dnsmasq: %s", strerror(errno));
			nb->next_start = now + nb->backoff;
		}
		return;
	}
	if (nb->pid > 0 && atomic_exchange(&nb->hosts_changed, 0)) {
		if (netboot_write_hosts(ctrl) < 0)
			log_warn("netboot: writing %s: %s", nb->hosts_path, strerror(errno));
		else
			kill(nb->pid, SIGHUP);
	}
}

void netboot_stop(struct controller *ctrl)
{
	struct netboot *nb = ctrl->netboot;

	if (nb == NULL)
		return;
	if (nb->pid > 0) {
		kill(nb->pid, SIGTERM);
		for (int i = 0; i < 50; i++) {
			if (waitpid(nb->pid, NULL, WNOHANG) == nb->pid) {
				nb->pid = -1;
				break;
			}
			usleep(100000);
		}
		if (nb->pid > 0) {
			kill(nb->pid, SIGKILL);
			waitpid(nb->pid, NULL, 0);
		}
	}
	free(nb);
	ctrl->netboot = NULL;
}
