/* main.c -- cloud-controller: start-up, signal handling and the supervision loop */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller.h"
#include "daemon.h"
#include "fsutil.h"

_Static_assert(DAEMON_EXIT_USAGE == EXIT_USAGE, "a configuration error exits with EXIT_USAGE");

/* Signals, plus once a second: node liveness, dnsmasq supervision and (each minute) pruning history. */
static int main_loop(struct controller *ctrl, int sfd)
{
	for (;;) {
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		struct signalfd_siginfo si;
		int n = poll(&pfd, 1, 1000);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n > 0 && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
				log_info("signal %s: stopping", strsignal((int)si.ssi_signo));
				return 0;
			}
		}
		if (nodes_flush(ctrl) < 0)
			log_warn("writing node heartbeats failed");
		watch_tick(ctrl);
		if (nodes_sweep(ctrl, time(NULL)) < 0)
			log_warn("node liveness check failed");
		netboot_tick(ctrl);
		prune_tick(ctrl, time(NULL));
	}
}

int main(int argc, char **argv)
{
	static struct controller ctrl;
	struct errmsg err = { 0 };
	enum config_action action;
	char msg[1024], addr[128], path[PATH_MAX];
	int sfd, rc = EXIT_SYSTEM, r;

	r = config_load(argc, argv, &ctrl.cfg, &action, &err);
	if ((r = daemon_config_done("cloud-controller", r, &err, action, config_usage)) >= 0)
		return r;
	if (action == CONFIG_CHECK) {
		struct buf conf = BUF_INIT;
		int bad = netboot_check(&ctrl.cfg, &conf, "DATA-DIR/dnsmasq/hosts", &err) < 0;
		buf_free(&conf);
		if (bad) {
			fprintf(stderr, "cloud-controller: netboot: %s\n", errmsg_str(&err, msg, sizeof(msg)));
			return EXIT_USAGE;
		}
		daemon_config_ok("cloud-controller", ctrl.cfg.config_path);
		return 0;
	}

	log_init("cloud-controller", ctrl.cfg.log_level, ctrl.cfg.syslog);
	ctrl.started = time(NULL);
	pthread_mutex_init(&ctrl.counters.lock, NULL);
	pthread_mutex_init(&ctrl.cache.lock, NULL);
	pthread_mutex_init(&ctrl.pending_lock, NULL);

	if ((sfd = daemon_signalfd()) < 0) {
		log_error("signalfd: %s", strerror(errno));
		return EXIT_SYSTEM;
	}

	umask(022);
	if (fs_mkdir_p(ctrl.cfg.data_dir, 0700, 0700) < 0 ||
	    fs_path(ctrl.images_dir, sizeof(ctrl.images_dir), "%s/images", ctrl.cfg.data_dir) < 0 ||
	    fs_mkdir_p(ctrl.images_dir, 0755, 0755) < 0) {
		log_error("data directory %s: %s", ctrl.cfg.data_dir, strerror(errno));
		goto err_sfd;
	}
	if (fs_path(path, sizeof(path), "%s/controller.db", ctrl.cfg.data_dir) < 0 ||
	    db_open(&ctrl.db, path, &err) < 0) {
		log_error("%s", errmsg_str(&err, msg, sizeof(msg)));
		goto err_sfd;
	}
	log_info("database %s: schema version %d", path, db_schema_version(&ctrl.db));
	if (fs_path(path, sizeof(path), "%s/admin.conf", ctrl.cfg.data_dir) < 0 ||
	    (r = auth_bootstrap(&ctrl.db, path, ctrl.cfg.url)) < 0) {
		log_error("creating the first admin key: %s", strerror(errno));
		goto err_db;
	}
	if (r == 1)
		log_info("created the first admin key; cloudctl configuration written to %s (root only)", path);
	else
		log_info("admin key file: %s", path);

	ctrl.http = httpd_new();
	if (ctrl.http == NULL || api_register(&ctrl) < 0) {
		log_error("setting up the HTTP routes: %s", strerror(errno));
		goto err_http;
	}
	httpd_set_threads(ctrl.http, ctrl.cfg.http_threads);
	if (daemon_serve(ctrl.http, &ctrl.cfg.listen_addr, ctrl.cfg.listen_len, ctrl.cfg.max_body,
			 ctrl.cfg.http_connections, addr, sizeof(addr)) < 0)
		goto err_http;
	log_info("cloud-controller %s serving HTTP on %s (port %u), nodes reach it as %s", CLOUDD_VERSION, addr,
		 httpd_port(ctrl.http), ctrl.cfg.url);
	if (netboot_start(&ctrl) < 0) {
		log_error("netboot could not start; fix the configuration above");
		rc = EXIT_USAGE;
		goto err_stop;
	}
	if (main_loop(&ctrl, sfd) < 0)
		log_error("main loop: %s", strerror(errno));
	else
		rc = 0;
err_stop:
	nodes_flush(&ctrl);
	netboot_stop(&ctrl);
	watch_shutdown(&ctrl);
	httpd_stop(ctrl.http);
	log_info("stopped");
err_http:
	httpd_free(ctrl.http);
	ratelimit_free(ctrl.public_limit);
err_db:
	db_close(&ctrl.db);
err_sfd:
	close(sfd);
	return rc;
}
