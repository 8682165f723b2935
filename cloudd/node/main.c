/* main.c -- cloudd: start-up, signal handling and the main loop of the node daemon */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "backend.h"
#include "cloudd.h"
#include "converge.h"
#include "daemon.h"
#include "disk.h"
#include "enroll.h"
#include "filter.h"
#include "template.h"
#include "watch.h"

_Static_assert(DAEMON_EXIT_USAGE == EXIT_USAGE, "a configuration error exits with EXIT_USAGE");

/*
 * Claims the node's local disk (disk.h) before anything is stored in
 * data_dir: the policy's disk is mounted there. Every disk and its decision
 * goes to sysinfo. A claim that fails (mkfs or mount) stops cloudd: guests
 * must not get fresh volumes beside a disk that holds their data.
 */
static int main_disks(struct cloudd *d)
{
	char policy[sizeof(d->cfg.disk_policy) + PATH_MAX + 16], msg[1024];
	struct errmsg err = { 0 };
	json_t *report = NULL;
	int claimed = 0, rc, n;

	if (strcmp(d->cfg.disk_policy, "none") == 0) {
		log_info("disks: disk-policy none: no disk discovery, volumes in %s", d->cfg.data_dir);
		return 0;
	}
	n = snprintf(policy, sizeof(policy), "mountpoint=%s %s", d->cfg.data_dir, d->cfg.disk_policy);
	if (n < 0 || (size_t)n >= sizeof(policy)) {
		log_error("disks: data-dir and disk-policy too long");
		return -1;
	}
	rc = disk_claim(policy, "/sys", "/proc/self/mountinfo", 0, &report, &claimed, &err);
	sysinfo_set_disks(report);
	json_decref(report);
	if (rc < 0) {
		log_error("disks: %s", errmsg_str(&err, msg, sizeof(msg)));
		return -1;
	}
	if (!claimed)
		log_warn("disks: no local disk claimed (disk-policy \"%s\"): volumes in %s are not on a disk of this node",
			 d->cfg.disk_policy, d->cfg.data_dir);
	return 0;
}

/*
 * The backend operations of the convergence engine (converge.h): templates,
 * volumes, guest network and one QEMU per instance (guest.h).
 */
static int main_backend(struct cloudd *d, struct converge_backend *be)
{
	char msg[1024];
	struct errmsg err = { 0 };

	if (backend_init(be, &d->cfg, &err) < 0) {
		log_error("guests: %s", errmsg_str(&err, msg, sizeof(msg)));
		return -1;
	}
	d->backend = be;
	return 0;
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

/* The node's credential from registration signs the controller's requests to this node. */
static void main_credential(void *ctx, const char *key_id, const char *secret)
{
	struct cloudd *d = ctx;

	if (node_auth_set(&d->auth, NODE_AUTH_ENROLLED, key_id, secret) < 0)
		log_error("auth: the node key id \"%s\" cannot sign requests to this node", key_id ? key_id : "");
	else if (key_id)
		log_info("auth: the controller's requests signed for node key %s are accepted", key_id);
	else
		log_warn("auth: the controller refused the node credential: no controller request is accepted until the node registers again");
}

/* api-key-file: a key that may sign requests to this node besides the controller's. */
static int main_key_file(struct cloudd *d)
{
	char key_id[SIGN_MAX_KEY_ID + 1], secret[256], msg[1024];
	struct errmsg err = { 0 };
	int rc;

	if (d->cfg.api_key_file[0] == '\0')
		return 0;
	if (node_auth_load_file(d->cfg.api_key_file, key_id, sizeof(key_id), secret, sizeof(secret), &err) < 0) {
		fprintf(stderr, "cloudd: %s\n", errmsg_str(&err, msg, sizeof(msg)));
		return -1;
	}
	rc = node_auth_set(&d->auth, NODE_AUTH_KEY_FILE, key_id, secret);
	explicit_bzero(secret, sizeof(secret));
	return rc;
}

/* Polls the signals, the state file's directory and the convergence timer. */
static int main_loop(struct cloudd *d, int sfd)
{
	unsigned next = d->conv ? converge_pass(d->conv) : 3600;

	for (;;) {
		struct pollfd pfd[3] = { { .fd = sfd, .events = POLLIN },
					 { .fd = d->conv ? converge_watch_fd(d->conv) : -1, .events = POLLIN },
					 { .fd = d->conv ? watch_fd() : -1, .events = POLLIN } };
		struct signalfd_siginfo si;
		int n;

		n = poll(pfd, 3, (int)next * 1000);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (d->backend)
			backend_tick(d->backend);
		if (n == 0) {
			next = d->conv ? converge_pass(d->conv) : 3600;
			continue;
		}
		/* a document from the controller's watch (watch.h) */
		if ((pfd[2].revents & POLLIN) && watch_dispatch(d->conv) > 0) {
			next = converge_pass(d->conv);
			watch_kick();
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
	static struct converge_backend backend;
	char msg[1024], addr[128];
	int sfd, rc = EXIT_SYSTEM, r;

	/* `cloudd filter ...`: the guest filter tool (filter.h) */
	if (argc > 1 && strcmp(argv[1], "filter") == 0)
		return filter_cli(argc - 1, argv + 1);

	r = config_load(argc, argv, &d.cfg, &action, &err);
	if ((r = daemon_config_done("cloudd", r, &err, action, config_usage)) >= 0)
		return r;
	node_auth_init(&d.auth);
	if (main_key_file(&d) < 0)
		return EXIT_USAGE;
	if (action == CONFIG_CHECK) {
		daemon_config_ok("cloudd", d.cfg.config_path);
		return 0;
	}

	log_init("cloudd", d.cfg.log_level, d.cfg.syslog);
	clock_gettime(CLOCK_MONOTONIC, &d.started);
	d.started_wall = time(NULL);

	/* all threads inherit the mask: signals are only read from the signalfd */
	if ((sfd = daemon_signalfd()) < 0) {
		log_error("signalfd: %s", strerror(errno));
		return EXIT_SYSTEM;
	}

	if (config_resolve_listen(&d.cfg, &err) < 0) {
		log_error("%s", errmsg_str(&err, msg, sizeof(msg)));
		goto err_sfd;
	}
	{
		/* before the engine starts: its first pass may already fetch templates */
		char controller[256];
		config_controller_url(&d.cfg, controller, sizeof(controller));
		template_fetch_policy(&d.cfg.template_allow, controller);
	}
	d.kvm = sysinfo_kvm_probe("/dev/kvm");
	/* with a controller, documents come from its watch (and the copy kept in data_dir) */
	if (d.cfg.state_path[0] || watch_wanted(&d.cfg)) {
		if (main_disks(&d) < 0 || main_backend(&d, &backend) < 0)
			goto err_conv;
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
	if (daemon_serve(d.http, &d.cfg.listen_addr, d.cfg.listen_len, d.cfg.max_body, d.cfg.http_connections,
			 addr, sizeof(addr)) < 0)
		goto err_http;
	log_info("cloudd %s serving HTTP on %s%s%s (port %u)%s%s", CLOUDD_VERSION, addr,
		 d.cfg.listen_interface[0] ? " of " : "", d.cfg.listen_interface, httpd_port(d.http),
		 d.conv ? "; desired state from " : "", d.conv ? d.cfg.state_path : "");
	log_info("auth: /health and /metrics answer anyone; every other request must be signed by the controller%s",
		 d.cfg.api_key_file[0] ? " or with the api-key-file's key" : "");

	{
		struct enroll_config ec = {
			.sysroot = d.cfg.sysroot,
			.boot_env = d.cfg.boot_env,
			.state_dir = d.cfg.data_dir,
			.kvm = d.kvm,
			.status_fn = main_heartbeat_status,
			.status_ctx = &d,
			.credential_fn = main_credential,
			.credential_ctx = &d,
		};
		if (enroll_start(&ec) < 0) {
			log_error("starting the enrollment thread: %s", strerror(errno));
			goto err_run;
		}
	}
	if (d.conv && watch_wanted(&d.cfg)) {
		struct watch_config wc = { .data_dir = d.cfg.data_dir, .sysroot = d.cfg.sysroot, .conv = d.conv };
		if (watch_start(&wc) < 0) {
			log_error("starting the desired-state watch: %s", strerror(errno));
			goto err_enroll;
		}
	}
	if (main_loop(&d, sfd) < 0)
		log_error("main loop: %s", strerror(errno));
	else
		rc = 0;
	watch_stop();
err_enroll:
	enroll_stop();
err_run:
	httpd_stop(d.http);
	log_info("stopped");
err_http:
	httpd_free(d.http);
err_conv:
	converge_free(d.conv);
	if (d.backend)
		backend_free(d.backend);
	sysinfo_set_disks(NULL);
	json_decref(d.kvm);
err_sfd:
	close(sfd);
	node_auth_free(&d.auth);
	return rc;
}
