/* lib_daemon.c -- a daemon's start: what its command line asked for, its signals, its HTTP server */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "daemon.h"
#include "unit.h"

static int usage_calls;

static void test_usage(FILE *out, const char *prog)
{
	(void)out;
	if (strcmp(prog, "testd") == 0)
		usage_calls++;
}

TEST(config_done_ends_all_but_run_and_check)
{
	struct errmsg err = { 0 };

	CHECK_INT(daemon_config_done("testd", 0, &err, CONFIG_RUN, test_usage), -1);
	CHECK_INT(daemon_config_done("testd", 0, &err, CONFIG_CHECK, test_usage), -1);
	CHECK_INT(daemon_config_done("testd", 0, &err, CONFIG_HELP, test_usage), 0);
	CHECK_INT(usage_calls, 1);
	CHECK_INT(daemon_config_done("testd", 0, &err, CONFIG_VERSION, test_usage), 0);
	CHECK_INT(usage_calls, 1);
	errmsg_set(&err, "command line", "unknown option --x");
	CHECK_INT(daemon_config_done("testd", -1, &err, CONFIG_RUN, test_usage), DAEMON_EXIT_USAGE);
	CHECK_INT(usage_calls, 1);
}

TEST(signalfd_reads_the_stop_and_reload_signals)
{
	struct signalfd_siginfo si;
	int sfd = daemon_signalfd();

	CHECK(sfd >= 0);
	CHECK_INT(kill(getpid(), SIGHUP), 0); /* blocked: it waits on the signalfd */
	CHECK_INT(read(sfd, &si, sizeof(si)), (int)sizeof(si));
	CHECK_INT(si.ssi_signo, SIGHUP);
	CHECK(signal(SIGPIPE, SIG_IGN) == SIG_IGN); /* it was ignored already */
	close(sfd);
}

TEST(serve_starts_on_the_address_or_says_why_not)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct httpd *srv = httpd_new(), *second = httpd_new();
	char addr[128];

	CHECK(srv != NULL && second != NULL);
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_INT(daemon_serve(srv, &ss, sizeof(*in), 4096, 4, addr, sizeof(addr)), 0);
	CHECK_STR(addr, "127.0.0.1:0");
	CHECK(httpd_port(srv) > 0);
	in->sin_port = htons((unsigned short)httpd_port(srv));
	errno = 0;
	CHECK_INT(daemon_serve(second, &ss, sizeof(*in), 4096, 4, addr, sizeof(addr)), -1);
	CHECK_INT(errno, EADDRINUSE);
	httpd_stop(srv);
	httpd_free(srv);
	httpd_free(second);
}
