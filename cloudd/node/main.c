/* main.c -- cloudd: start-up, signal handling and the main loop of the node daemon */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cloudd.h"
#include "converge.h"
#include "enroll.h"
#include "filter.h"

/*
 * The backend operations of the convergence engine (converge.h). Operations
 * left NULL are reported as unavailable in /v1/state when a document needs
 * them; the guest, volume, template and guest-network modules fill them in.
 */
static void main_backend(struct converge_backend *be)
{
	memset(be, 0, sizeof(*be));
}

/* The convergence summary sent with every heartbeat to the controller. */
static json_t *main_heartbeat_status(void *ctx)
{
	struct cloudd *d = ctx;
	json_t *actual, *out;

	if (d->conv == NULL)
		return NULL;
	actual = converge_actual(d->conv);
	if (actual == NULL)
		return NULL;
	out = json_pack("{s:O,s:O,s:O}", "state_revision", json_object_get(actual, "revision"),
			"converged", json_object_get(actual, "converged"), "state_error",
			json_object_get(actual, "last_error"));
	json_decref(actual);
	return out;
}

/* Polls the signals, the state file's directory and the convergence timer. */
static int main_loop(struct cloudd *d, int sfd)
{
	unsigned next = d->conv ? converge_pass(d->conv) : 3600;

	for (;;) {
		struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN },
					 { .fd = d->conv ? converge_watch_fd(d->conv) : -1, .events = POLLIN } };
		struct signalfd_siginfo si;
		int n;

		n = poll(pfd, 2, (int)next * 1000);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			next = d->conv ? converge_pass(d->conv) : 3600;
			continue;
		}
		if (pfd[1].revents & POLLIN) {
			if (converge_watch_event(d->conv)) {
				log_info("%s changed: re-reading it", d->cfg.state_path);
				converge_reload(d->conv);
				next = converge_pass(d->conv);
			}
		}
		if (!(pfd[0].revents & POLLIN) || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("signal %s: stopping (guests keep running)", strsignal((int)si.ssi_signo));
			return 0;
		case SIGHUP:
			if (d->conv == NULL) {
				log_info("SIGHUP: no desired-state file to re-read");
				break;
			}
			log_info("SIGHUP: re-reading %s", d->cfg.state_path);
			converge_reload(d->conv);
			next = converge_pass(d->conv);
			break;
		}
	}
}

int main(int argc, char **argv)
{
	static struct cloudd d;
	struct errmsg err = { 0 };
	enum config_action action;
	struct httpd_limits limits = HTTPD_LIMITS_DEFAULT;
	struct converge_backend backend;
	char msg[1024], addr[128];
	sigset_t mask;
	int sfd, rc = EXIT_SYSTEM;

	/* `cloudd filter ...`: the guest filter tool (filter.h) */
	if (argc > 1 && strcmp(argv[1], "filter") == 0)
		return filter_cli(argc - 1, argv + 1);

	if (config_load(argc, argv, &d.cfg, &action, &err) < 0) {
		fprintf(stderr, "cloudd: %s\n", errmsg_str(&err, msg, sizeof(msg)));
		if (strcmp(err.field, "command line") == 0)
			fprintf(stderr, "cloudd: see cloudd --help\n");
		return EXIT_USAGE;
	}
	switch (action) {
	case CONFIG_HELP:
		config_usage(stdout, "cloudd");
		return 0;
	case CONFIG_VERSION:
		printf("cloudd %s\n", CLOUDD_VERSION);
		return 0;
	case CONFIG_CHECK:
		printf("cloudd: configuration ok (%s)\n",
		       d.cfg.config_path[0] ? d.cfg.config_path : "defaults and command line");
		return 0;
	case CONFIG_RUN:
		break;
	}

	log_init("cloudd", d.cfg.log_level, d.cfg.syslog);
	clock_gettime(CLOCK_MONOTONIC, &d.started);
	d.started_wall = time(NULL);

	/* all threads inherit the mask: signals are only read from the signalfd */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		log_error("signalfd: %s", strerror(errno));
		return EXIT_SYSTEM;
	}
	signal(SIGPIPE, SIG_IGN);

	if (config_resolve_listen(&d.cfg, &err) < 0) {
		log_error("%s", errmsg_str(&err, msg, sizeof(msg)));
		goto err_sfd;
	}
	d.kvm = sysinfo_kvm_probe("/dev/kvm");
	if (d.cfg.state_path[0]) {
		main_backend(&backend);
		d.conv = converge_new(&d.cfg, &backend);
		if (d.conv == NULL)
			goto err_conv;
		/* the last good document is kept: a bad file at start leaves nothing to run */
		converge_reload(d.conv);
		if (converge_start(d.conv) < 0)
			goto err_conv;
	}
	d.http = httpd_new();
	if (d.http == NULL || api_register(&d) < 0) {
		log_error("setting up the HTTP routes: %s", strerror(errno));
		goto err_http;
	}
	limits.max_body = d.cfg.max_body;
	limits.max_connections = d.cfg.http_connections;
	httpd_addr_str((struct sockaddr *)&d.cfg.listen_addr, addr, sizeof(addr));
	if (httpd_start(d.http, (struct sockaddr *)&d.cfg.listen_addr, d.cfg.listen_len, &limits) < 0) {
		log_error("cannot serve HTTP on %s: %s", addr, strerror(errno));
		goto err_http;
	}
	log_info("cloudd %s serving HTTP on %s%s%s (port %u)%s%s", CLOUDD_VERSION, addr,
		 d.cfg.listen_interface[0] ? " of " : "", d.cfg.listen_interface, httpd_port(d.http),
		 d.conv ? "; desired state from " : "", d.conv ? d.cfg.state_path : "");

	{
		struct enroll_config ec = {
			.sysroot = d.cfg.sysroot,
			.boot_env = d.cfg.boot_env,
			.state_dir = d.cfg.data_dir,
			.kvm = d.kvm,
			.status_fn = main_heartbeat_status,
			.status_ctx = &d,
		};
		if (enroll_start(&ec) < 0) {
			log_error("starting the enrollment thread: %s", strerror(errno));
			goto err_run;
		}
	}
	if (main_loop(&d, sfd) < 0)
		log_error("main loop: %s", strerror(errno));
	else
		rc = 0;
	enroll_stop();
err_run:
	httpd_stop(d.http);
	log_info("stopped");
err_http:
	httpd_free(d.http);
err_conv:
	converge_free(d.conv);
	json_decref(d.kvm);
err_sfd:
	close(sfd);
	return rc;
}
