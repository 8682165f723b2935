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

static int main_loop(struct cloudd *d, int sfd)
{
	(void)d;
	for (;;) {
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		struct signalfd_siginfo si;

		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("signal %s: stopping", strsignal((int)si.ssi_signo));
			return 0;
		case SIGHUP:
			log_info("SIGHUP: nothing to reload (no desired-state file)");
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
	char msg[1024], addr[128];
	sigset_t mask;
	int sfd, rc = EXIT_SYSTEM;

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
	log_info("cloudd %s serving HTTP on %s%s%s (port %u)", CLOUDD_VERSION, addr,
		 d.cfg.listen_interface[0] ? " of " : "", d.cfg.listen_interface, httpd_port(d.http));

	if (main_loop(&d, sfd) < 0)
		log_error("main loop: %s", strerror(errno));
	else
		rc = 0;
	httpd_stop(d.http);
	log_info("stopped");
err_http:
	httpd_free(d.http);
	json_decref(d.kvm);
err_sfd:
	close(sfd);
	return rc;
}
