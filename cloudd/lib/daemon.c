/* daemon.c -- what every daemon does to start: its command line's outcome, signals, serving HTTP */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>

#include "daemon.h"
#include "log.h"

int daemon_config_done(const char *prog, int load_rc, const struct errmsg *err,
		       enum config_action action, void (*usage)(FILE *out, const char *prog))
{
	char msg[1024];

	if (load_rc < 0) {
		fprintf(stderr, "%s: %s\n", prog, errmsg_str(err, msg, sizeof(msg)));
		if (strcmp(err->field, "command line") == 0)
			fprintf(stderr, "%s: see %s --help\n", prog, prog);
		return DAEMON_EXIT_USAGE;
	}
	switch (action) {
	case CONFIG_HELP:
		usage(stdout, prog);
		return 0;
	case CONFIG_VERSION:
		printf("%s %s\n", prog, CLOUDD_VERSION);
		return 0;
	case CONFIG_CHECK:
	case CONFIG_RUN:
		break;
	}
	return -1;
}

void daemon_config_ok(const char *prog, const char *config_path)
{
	printf("%s: configuration ok (%s)\n", prog, config_path[0] ? config_path : "defaults and command line");
}

int daemon_signalfd(void)
{
	sigset_t mask;
	int sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return sfd;
}

int daemon_serve(struct httpd *srv, const struct sockaddr_storage *listen, socklen_t listen_len,
		 unsigned long long max_body, unsigned max_connections, char *addr, size_t addrlen)
{
	struct httpd_limits limits = HTTPD_LIMITS_DEFAULT;

	limits.max_body = (size_t)max_body;
	limits.max_connections = max_connections;
	httpd_addr_str((const struct sockaddr *)listen, addr, addrlen);
	if (httpd_start(srv, (const struct sockaddr *)listen, listen_len, &limits) < 0) {
		int saved = errno;

		log_error("cannot serve HTTP on %s: %s", addr, strerror(saved));
		errno = saved;
		return -1;
	}
	return 0;
}
