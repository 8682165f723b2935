/* daemon.h -- what every daemon does to start: its command line's outcome, signals, serving HTTP */
#ifndef CLOUDD_DAEMON_H
#define CLOUDD_DAEMON_H

#include <stdio.h>
#include <sys/socket.h>

#include "conf.h"
#include "errmsg.h"
#include "httpd.h"

#define DAEMON_EXIT_USAGE 100 /* every program's EXIT_USAGE */

/*
 * Ends what the command line asked for other than running: a configuration
 * error (load_rc < 0, from config_load) is printed on stderr, with a pointer to
 * --help when the command line is at fault, and gives DAEMON_EXIT_USAGE;
 * --help prints usage(stdout, prog) and --version "prog VERSION", both 0.
 * -1 when the daemon goes on: to run, or to check its configuration.
 */
int daemon_config_done(const char *prog, int load_rc, const struct errmsg *err,
		       enum config_action action, void (*usage)(FILE *out, const char *prog));

/* --check passed: "prog: configuration ok (FILE)" on stdout. */
void daemon_config_ok(const char *prog, const char *config_path);

/*
 * Blocks SIGTERM, SIGINT and SIGHUP (before any thread starts, so that all
 * inherit the mask and the signals are only read here) and returns a signalfd
 * that reads them; SIGPIPE is ignored. -1 with errno.
 */
int daemon_signalfd(void);

/*
 * Starts srv on the configured address with the configured body and connection
 * limits; the address as text goes to addr (for the log). 0, or -1 with errno
 * and the failure logged.
 */
int daemon_serve(struct httpd *srv, const struct sockaddr_storage *listen, socklen_t listen_len,
		 unsigned long long max_body, unsigned max_connections, char *addr, size_t addrlen);

#endif
