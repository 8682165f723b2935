/* nodetool.c -- a small driver of cloudd's node backend modules for the integration tests */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "backend.h"
#include "cloudd.h"
#include "cloudinit.h"
#include "converge.h"
#include "disk.h"
#include "guest.h"
#include "guestnet.h"
#include "log.h"
#include "proc.h"
#include "qmp.h"
#include "template.h"
#include "volume.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: nodetool COMMAND ARGS\n"
		"  guest-start RUNDIR ID KERNEL INITRD CMDLINE [disk=PATH:FMT:ID[:ro]] [nic=IF:MAC] [mem=MIB]\n"
		"  guest-wait RUNDIR ID SECONDS      adopt, then wait until QEMU is gone: prints KIND: REASON\n"
		"  guest-stop RUNDIR ID SECONDS      graceful: powerdown, wait, then force\n"
		"  guest-reset|guest-kill|guest-adopt|guest-remove RUNDIR ID\n"
		"  qmp SOCKET COMMAND                prints the return value\n"
		"  template CACHE URL-OR-PATH SHA256 [ALLOW-CIDRS [CONTROLLER-URL]]  (template-allow-cidrs, the trusted origin)\n"
		"  volume STORE INSTANCE DISK FORMAT SIZE_MIB [TEMPLATE TEMPLATE_FORMAT]\n"
		"  volume-delete STORE INSTANCE DISK | volume-list STORE\n"
		"  seed PATH INSTANCE HOSTNAME [SSH-KEY]\n"
		"  disks SYSFS MOUNTINFO POLICY [apply]\n"
		"  bridge BR CIDR | tap IF BR | tap-delete IF\n"
		"  converge ACTUAL_JSON [--no-filters] CLOUDD-OPTIONS...   the engine with this backend, no HTTP\n"
		"  dhcp DIR BR CIDR GATEWAY LEASEFILE   (MAC=IP lines; SIGHUP re-reads; runs until SIGTERM)\n");
	return 100;
}

static struct guest_env env_for(const char *run_dir)
{
	struct guest_env env = { .qemu = "qemu-system-x86_64", .accel = "tcg", .uid_base = CLOUDD_GUEST_UID_BASE };

	snprintf(env.run_dir, sizeof(env.run_dir), "%s", run_dir);
	return env;
}

static int fail(const struct errmsg *err)
{
	char buf[1024];

	fprintf(stderr, "nodetool: %s\n", errmsg_str(err, buf, sizeof(buf)));
	return 1;
}

static int cmd_guest_start(int argc, char **argv)
{
	struct guest_env env = env_for(argv[0]);
	struct guest_spec s = { .vcpus = 1, .memory_mib = 128 };
	struct guest g;
	struct errmsg err = { 0 };

	snprintf(s.id, sizeof(s.id), "%s", argv[1]);
	snprintf(s.kernel, sizeof(s.kernel), "%s", argv[2]);
	snprintf(s.initrd, sizeof(s.initrd), "%s", argv[3]);
	snprintf(s.cmdline, sizeof(s.cmdline), "%s", argv[4]);
	for (int i = 5; i < argc; i++) {
		if (strncmp(argv[i], "disk=", 5) == 0 && s.n_disks < GUEST_MAX_DISKS) {
			struct guest_disk_spec *d = &s.disks[s.n_disks++];
			char *copy = strdup(argv[i] + 5), *save, *path, *fmt, *id, *ro;
			path = strtok_r(copy, ":", &save);
			fmt = strtok_r(NULL, ":", &save);
			id = strtok_r(NULL, ":", &save);
			ro = strtok_r(NULL, ":", &save);
			snprintf(d->path, sizeof(d->path), "%s", path ? path : "");
			snprintf(d->format, sizeof(d->format), "%s", fmt ? fmt : "");
			snprintf(d->id, sizeof(d->id), "%s", id ? id : "");
			d->readonly = ro && strcmp(ro, "ro") == 0;
			free(copy);
		} else if (strncmp(argv[i], "nic=", 4) == 0 && s.n_nics < GUEST_MAX_NICS) {
			struct guest_nic_spec *n = &s.nics[s.n_nics++];
			const char *colon = strchr(argv[i] + 4, ':');
			if (colon == NULL)
				return usage();
			snprintf(n->ifname, sizeof(n->ifname), "%.*s", (int)(colon - argv[i] - 4), argv[i] + 4);
			snprintf(n->mac, sizeof(n->mac), "%s", colon + 1);
		} else if (strncmp(argv[i], "mem=", 4) == 0) {
			s.memory_mib = (unsigned)atoi(argv[i] + 4);
		} else {
			return usage();
		}
	}
	if (guest_uid_pick(&env, s.id, &s.uid) < 0) {
		fprintf(stderr, "nodetool: no guest uid: %s\n", strerror(errno));
		return 1;
	}
	if (guest_start(&env, &s, &g, &err) < 0)
		return fail(&err);
	printf("%d\n", (int)g.pid);
	guest_release(&g);
	return 0;
}

static int adopt(const char *run_dir, const char *id, struct guest_env *env, struct guest *g)
{
	struct errmsg err = { 0 };
	int r;

	*env = env_for(run_dir);
	r = guest_adopt(env, id, g, &err);
	if (r < 0)
		return fail(&err);
	if (r == 0) {
		printf("not-running: %s\n", g->reason);
		return 3;
	}
	return 0;
}

static int wait_gone(struct guest_env *env, struct guest *g, int seconds)
{
	long long deadline = proc_now_ms() + seconds * 1000LL;

	while (proc_now_ms() < deadline) {
		if (guest_poll(env, g) == 0) {
			printf("%s: %s\n", guest_exit_name(g->exit_kind), g->reason);
			return 0;
		}
		usleep(100000);
	}
	return 2;
}

static int cmd_guest(const char *cmd, char **argv, int argc)
{
	struct guest_env env;
	struct guest g;
	struct errmsg err = { 0 };
	int r;

	if (strcmp(cmd, "guest-remove") == 0) {
		env = env_for(argv[0]);
		return guest_remove_dir(&env, argv[1], &err) < 0 ? fail(&err) : 0;
	}
	r = adopt(argv[0], argv[1], &env, &g);
	if (r)
		return r;
	if (strcmp(cmd, "guest-adopt") == 0) {
		printf("running %d\n", (int)g.pid);
		r = 0;
	} else if (strcmp(cmd, "guest-wait") == 0 && argc >= 3) {
		r = wait_gone(&env, &g, atoi(argv[2]));
		if (r == 2)
			printf("still running\n");
	} else if (strcmp(cmd, "guest-stop") == 0 && argc >= 3) {
		if (guest_powerdown(&g, &err) < 0)
			return fail(&err);
		r = wait_gone(&env, &g, atoi(argv[2]));
		if (r == 2) {
			printf("powerdown timed out: forcing\n");
			if (guest_force_stop(&env, &g, &err) < 0)
				return fail(&err);
			r = wait_gone(&env, &g, 10);
		}
	} else if (strcmp(cmd, "guest-reset") == 0) {
		r = guest_reset(&g, &err) < 0 ? fail(&err) : 0;
	} else if (strcmp(cmd, "guest-kill") == 0) {
		if (guest_force_stop(&env, &g, &err) < 0)
			return fail(&err);
		r = wait_gone(&env, &g, 10);
	} else {
		r = usage();
	}
	guest_release(&g);
	return r;
}

static int cmd_qmp(char **argv)
{
	struct qmp q;
	json_t *ret = NULL;

	if (qmp_connect(&q, argv[0], 5000) < 0) {
		fprintf(stderr, "nodetool: %s\n", qmp_error(&q));
		return 1;
	}
	if (qmp_command(&q, argv[1], NULL, 5000, &ret) < 0) {
		fprintf(stderr, "nodetool: %s\n", qmp_error(&q));
		qmp_close(&q);
		return 1;
	}
	char *text = json_dumps(ret, JSON_COMPACT | JSON_ENCODE_ANY);
	printf("%s\n", text);
	free(text);
	json_decref(ret);
	qmp_close(&q);
	return 0;
}

static volatile sig_atomic_t stop, reload;
static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}
static void on_hup(int sig)
{
	(void)sig;
	reload = 1;
}

/* Reads MAC=IP lines. */
static size_t read_leases(const char *file, struct guestnet_lease *leases, size_t max)
{
	char line[128];
	size_t n = 0;
	FILE *f = fopen(file, "r");

	if (f == NULL)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');
		line[strcspn(line, "\n")] = '\0';
		if (eq == NULL)
			continue;
		memset(&leases[n], 0, sizeof(leases[n]));
		snprintf(leases[n].mac, sizeof(leases[n].mac), "%.*s", (int)(eq - line), line);
		snprintf(leases[n].ipv4, sizeof(leases[n].ipv4), "%s", eq + 1);
		n++;
	}
	fclose(f);
	return n;
}

/* dhcp DIR BR CIDR GATEWAY LEASEFILE: SIGHUP re-reads LEASEFILE, SIGTERM stops. */
static int cmd_dhcp(char **argv)
{
	struct guestnet_dhcp d;
	struct guestnet_lease leases[16];
	struct errmsg err = { 0 };
	size_t n = read_leases(argv[4], leases, 16);

	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGHUP, on_hup);
	guestnet_dhcp_init(&d, argv[0], NULL);
	if (guestnet_dhcp_apply(&d, argv[1], argv[2], argv[3], NULL, 0, leases, n, &err) < 0)
		return fail(&err);
	printf("dnsmasq %d\n", (int)d.pid);
	fflush(stdout);
	while (!stop) {
		if (reload) {
			reload = 0;
			n = read_leases(argv[4], leases, 16);
			if (guestnet_dhcp_apply(&d, argv[1], argv[2], argv[3], NULL, 0, leases, n, &err) < 0)
				fail(&err);
			printf("applied %zu leases, dnsmasq %d\n", n, (int)d.pid);
			fflush(stdout);
		}
		if (guestnet_dhcp_check(&d) == 1) {
			static pid_t last;
			if (last && last != d.pid) {
				printf("dnsmasq %d\n", (int)d.pid);
				fflush(stdout);
			}
			last = d.pid;
		}
		usleep(200000);
	}
	guestnet_dhcp_stop(&d);
	return 0;
}

/* Writes the actual-state document to path atomically. */
static void write_actual(struct converge *c, const char *path)
{
	char tmp[4200];
	json_t *doc = converge_actual(c);

	if (doc == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (json_dump_file(doc, tmp, JSON_INDENT(1)) == 0)
		rename(tmp, path);
	json_decref(doc);
}

/*
 * converge ACTUAL_JSON CLOUDD-OPTIONS...: the convergence engine with this
 * backend, as cloudd runs it but without HTTP: the actual state is written
 * to ACTUAL_JSON after every pass. SIGHUP re-reads the state file, SIGTERM
 * stops (guests keep running).
 */
static int cmd_converge(int argc, char **argv)
{
	struct cloudd_config cfg;
	struct converge_backend be;
	struct converge *c;
	enum config_action action;
	struct errmsg err = { 0 };
	char **cargv = calloc((size_t)argc + 1, sizeof(*cargv));
	int skip_filters = 0, nc = 1;

	cargv[0] = "cloudd";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-filters") == 0)
			skip_filters = 1;
		else
			cargv[nc++] = argv[i];
	}
	if (config_load(nc, cargv, &cfg, &action, &err) < 0) {
		free(cargv);
		return fail(&err);
	}
	free(cargv);
	log_set_level(cfg.log_level);
	if (backend_init(&be, &cfg, &err) < 0)
		return fail(&err);
	if (skip_filters)
		backend_skip_filters(&be);
	c = converge_new(&cfg, &be);
	if (c == NULL)
		return 1;
	converge_reload(c);
	if (converge_start(c) < 0)
		return 1;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGHUP, on_hup);
	while (!stop) {
		unsigned next = converge_pass(c);
		backend_tick(&be);
		write_actual(c, argv[0]);
		for (unsigned t = 0; t < next * 10 && !stop && !reload; t++)
			usleep(100000);
		if (reload) {
			reload = 0;
			converge_reload(c);
		}
	}
	converge_free(c);
	backend_free(&be);
	return 0;
}

int main(int argc, char **argv)
{
	struct errmsg err = { 0 };
	const char *cmd;

	log_init("nodetool", LOG_LEVEL_INFO, 0);
	if (argc < 2)
		return usage();
	cmd = argv[1];
	argv += 2;
	argc -= 2;
	if (strcmp(cmd, "guest-start") == 0 && argc >= 5)
		return cmd_guest_start(argc, argv);
	if (strncmp(cmd, "guest-", 6) == 0 && argc >= 2)
		return cmd_guest(cmd, argv, argc);
	if (strcmp(cmd, "qmp") == 0 && argc == 2)
		return cmd_qmp(argv);
	if (strcmp(cmd, "template") == 0 && argc >= 3 && argc <= 5) {
		struct netaddr_list allow;
		char out[4096];
		if (netaddr_parse_list(argc >= 4 ? argv[3] : "", &allow, out, sizeof(out)) < 0) {
			fprintf(stderr, "nodetool: %s\n", out);
			return 2;
		}
		template_fetch_policy(&allow, argc == 5 ? argv[4] : NULL);
		int is_url = strncmp(argv[1], "http://", 7) == 0 || strncmp(argv[1], "https://", 8) == 0;
		if (template_ensure(argv[0], is_url ? argv[1] : NULL, is_url ? NULL : argv[1], argv[2], 0, out,
				    sizeof(out), &err) < 0)
			return fail(&err);
		printf("%s\n", out);
		return 0;
	}
	if (strcmp(cmd, "volume") == 0 && (argc == 5 || argc == 7)) {
		if (volume_create(argv[0], argv[1], argv[2], argv[3], strtoull(argv[4], NULL, 10),
				  argc == 7 ? argv[5] : NULL, argc == 7 ? argv[6] : NULL, &err) < 0)
			return fail(&err);
		char path[4096];
		volume_path(argv[0], argv[1], argv[2], argv[3], path, sizeof(path));
		printf("%s\n", path);
		return 0;
	}
	if (strcmp(cmd, "volume-delete") == 0 && argc == 3)
		return volume_delete(argv[0], argv[1], argv[2], &err) < 0 ? fail(&err) : 0;
	if (strcmp(cmd, "volume-list") == 0 && argc == 1) {
		struct volume_entry *v;
		size_t n;
		if (volume_list(argv[0], &v, &n) < 0)
			return 1;
		for (size_t i = 0; i < n; i++)
			printf("%s/%s %s\n", v[i].instance, v[i].disk, v[i].format);
		free(v);
		return 0;
	}
	if (strcmp(cmd, "seed") == 0 && (argc == 3 || argc == 4)) {
		const char *keys[1] = { argc == 4 ? argv[3] : NULL };
		struct cloudinit_spec s = { .instance_id = argv[1], .hostname = argv[2], .ssh_keys = keys,
					    .n_ssh_keys = argc == 4 ? 1 : 0 };
		return cloudinit_build(&s, argv[0], &err) < 0 ? fail(&err) : 0;
	}
	if (strcmp(cmd, "disks") == 0 && (argc == 3 || argc == 4)) {
		json_t *rep = NULL;
		int claimed = 0, rc = 0;
		if (disk_claim(argv[2], argv[0], argv[1], !(argc == 4 && strcmp(argv[3], "apply") == 0), &rep,
			       &claimed, &err) < 0)
			rc = fail(&err);
		if (rep) {
			char *text = json_dumps(rep, JSON_INDENT(1));
			printf("%s\n", text);
			free(text);
			json_decref(rep);
		}
		return rc;
	}
	if (strcmp(cmd, "bridge") == 0 && argc == 2)
		return guestnet_bridge_ensure(argv[0], argv[1], NULL, NULL, 0, &err) < 0 ? fail(&err) : 0;
	if (strcmp(cmd, "tap") == 0 && argc == 2)
		return guestnet_tap_ensure(argv[0], argv[1], 0, &err) < 0 ? fail(&err) : 0;
	if (strcmp(cmd, "tap-delete") == 0 && argc == 1)
		return guestnet_tap_delete(argv[0], &err) < 0 ? fail(&err) : 0;
	if (strcmp(cmd, "converge") == 0 && argc >= 2)
		return cmd_converge(argc, argv);
	if (strcmp(cmd, "dhcp") == 0 && argc == 5)
		return cmd_dhcp(argv);
	return usage();
}
