/* node_guest.c -- unit tests for the QEMU command line, the restart policy, console tails and adoption */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "guest.h"
#include "unit.h"

static struct guest_env test_env(void)
{
	struct guest_env env = { .qemu = "qemu-system-x86_64", .run_dir = "/run/cloudd/guests", .accel = "tcg" };
	return env;
}

static struct guest_spec kernel_spec(void)
{
	struct guest_spec s = { .id = "i-0001", .vcpus = 2, .memory_mib = 128, .uid = 1000007 };

	snprintf(s.kernel, sizeof(s.kernel), "/var/lib/cloudd/templates/k");
	snprintf(s.initrd, sizeof(s.initrd), "/var/lib/cloudd/templates/i");
	snprintf(s.cmdline, sizeof(s.cmdline), "console=ttyS0 quiet");
	s.n_disks = 2;
	snprintf(s.disks[0].path, sizeof(s.disks[0].path), "/var/lib/cloudd/volumes/i-0001/root.qcow2");
	snprintf(s.disks[0].format, sizeof(s.disks[0].format), "qcow2");
	snprintf(s.disks[0].id, sizeof(s.disks[0].id), "root");
	snprintf(s.disks[1].path, sizeof(s.disks[1].path), "/run/cloudd/guests/i-0001/seed,1.img");
	snprintf(s.disks[1].format, sizeof(s.disks[1].format), "raw");
	snprintf(s.disks[1].id, sizeof(s.disks[1].id), "cidata");
	s.disks[1].readonly = 1;
	s.n_nics = 1;
	snprintf(s.nics[0].ifname, sizeof(s.nics[0].ifname), "cv0a1b2c3d");
	snprintf(s.nics[0].mac, sizeof(s.nics[0].mac), "52:54:00:12:34:01");
	return s;
}

/* The command line joined with spaces. */
static char *joined(char **argv)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; argv[i]; i++)
		len += strlen(argv[i]) + 1;
	s = calloc(1, len);
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

TEST(guest_argv_direct_kernel_boot)
{
	struct guest_env env = test_env();
	struct guest_spec s = kernel_spec();
	struct guest_fds fds;
	struct errmsg err = { 0 };
	char **argv = NULL;

	CHECK_INT(guest_build_argv(&env, &s, "/run/cloudd/guests/i-0001", &argv, &fds, &err), 0);
	char *cmd = joined(argv);
	CHECK_STR(argv[0], "qemu-system-x86_64");
	CHECK_CONTAINS(cmd, " -name guest=i-0001,debug-threads=on ");
	/* the seccomp sandbox, whole; cloudd drops to the guest's uid itself (no -runas, no -daemonize) */
	CHECK_CONTAINS(cmd, " -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny ");
	CHECK(strstr(cmd, "-runas") == NULL);
	CHECK(strstr(cmd, "-daemonize") == NULL);
	CHECK_CONTAINS(cmd, " -machine q35 -accel tcg -smp 2 -m 128 ");
	CHECK(strstr(cmd, "-cpu host") == NULL);
	/* every file and tap is a descriptor cloudd opened: QEMU opens no path of the node */
	CHECK_CONTAINS(cmd, "-add-fd fd=3,set=1 -chardev file,id=console,path=/dev/fdset/1,append=on"
			    " -serial chardev:console");
	CHECK_CONTAINS(cmd, " -kernel /proc/self/fd/4 -initrd /proc/self/fd/5 -append console=ttyS0 quiet ");
	CHECK_CONTAINS(cmd, "-add-fd fd=6,set=4 -add-fd fd=7,set=4 -drive file=/dev/fdset/4,if=none,id=drive-root,"
			    "format=qcow2,discard=unmap -device virtio-blk-pci,drive=drive-root,serial=root ");
	/* the seed is read-only: one read-only descriptor; no bootindex with a kernel */
	CHECK_CONTAINS(cmd, "-add-fd fd=8,set=6 -drive file=/dev/fdset/6,if=none,id=drive-cidata,format=raw,readonly=on");
	CHECK(strstr(cmd, "bootindex") == NULL);
	CHECK_CONTAINS(cmd, "-netdev tap,id=net0,fd=9 -device virtio-net-pci,netdev=net0,mac=52:54:00:12:34:01");
	CHECK(strstr(cmd, "ifname=") == NULL);
	/* QEMU's working directory is its run directory */
	CHECK_CONTAINS(cmd, "-chardev socket,id=qmp,path=qmp.sock,server=on,wait=off -mon chardev=qmp,mode=control");
	CHECK(strstr(cmd, "-pidfile") == NULL);
	/* the descriptor plan: numbers from 3 on, what cloudd opens for each, and how */
	CHECK_INT((int)fds.n, 7);
	CHECK_INT(fds.fd[0].fd, 3);
	CHECK_STR(fds.fd[0].path, "/run/cloudd/guests/i-0001/console.log");
	CHECK_INT(fds.fd[0].flags, O_WRONLY | O_APPEND | O_CREAT);
	CHECK_STR(fds.fd[1].path, "/var/lib/cloudd/templates/k");
	CHECK_INT(fds.fd[3].flags, O_RDWR);
	CHECK_INT(fds.fd[4].flags, O_RDONLY);
	CHECK_STR(fds.fd[4].path, "/var/lib/cloudd/volumes/i-0001/root.qcow2");
	CHECK_STR(fds.fd[5].path, "/run/cloudd/guests/i-0001/seed,1.img");
	CHECK_INT(fds.fd[5].flags, O_RDONLY);
	CHECK_INT(fds.fd[6].fd, 9);
	CHECK_INT(fds.fd[6].tap, 1);
	CHECK_STR(fds.fd[6].path, "cv0a1b2c3d");
	CHECK_CONTAINS(cmd, "-nodefaults -no-user-config -display none");
	CHECK_CONTAINS(cmd, "-device pvpanic -action panic=shutdown");
	/* the -append value is one argument */
	int found = 0;
	for (size_t i = 0; argv[i]; i++)
		if (strcmp(argv[i], "console=ttyS0 quiet") == 0)
			found = 1;
	CHECK(found);
	free(cmd);
	guest_argv_free(argv);
}

TEST(guest_argv_disk_boot_with_kvm)
{
	struct guest_env env = test_env();
	struct guest_spec s = kernel_spec();
	struct errmsg err = { 0 };
	char **argv = NULL;

	snprintf(env.accel, sizeof(env.accel), "kvm");
	s.kernel[0] = s.initrd[0] = s.cmdline[0] = '\0';
	snprintf(s.machine, sizeof(s.machine), "pc");
	CHECK_INT(guest_build_argv(&env, &s, "/run/g", &argv, NULL, &err), 0);
	char *cmd = joined(argv);
	CHECK_CONTAINS(cmd, "-machine pc -accel kvm -cpu host ");
	CHECK_CONTAINS(cmd, "virtio-blk-pci,drive=drive-root,serial=root,bootindex=1 ");
	CHECK(strstr(cmd, "-kernel") == NULL);
	CHECK(strstr(cmd, "drive-cidata,serial=cidata,bootindex") == NULL);
	free(cmd);
	guest_argv_free(argv);
}

TEST(guest_argv_backing_template_and_root_refused)
{
	struct guest_env env = test_env();
	struct guest_spec s = kernel_spec();
	struct guest_fds fds;
	struct errmsg err = { 0 };
	char **argv = NULL;

	/* the qcow2's template is handed over too: QEMU would open its header's path */
	snprintf(s.disks[0].backing, sizeof(s.disks[0].backing), "/var/lib/cloudd/templates/abc");
	snprintf(s.disks[0].backing_format, sizeof(s.disks[0].backing_format), "qcow2");
	CHECK_INT(guest_build_argv(&env, &s, "/run/g", &argv, &fds, &err), 0);
	char *cmd = joined(argv);
	CHECK_CONTAINS(cmd, "-add-fd fd=6,set=4 -add-fd fd=7,set=5 -add-fd fd=8,set=5 -drive file=/dev/fdset/5,"
			    "if=none,id=drive-root,format=qcow2,discard=unmap,backing.driver=qcow2,"
			    "backing.file.filename=/dev/fdset/4 ");
	CHECK_STR(fds.fd[3].path, "/var/lib/cloudd/templates/abc");
	CHECK_INT(fds.fd[3].flags, O_RDONLY);
	free(cmd);
	guest_argv_free(argv);

	/* never root */
	s = kernel_spec();
	s.uid = 0;
	CHECK_INT(guest_build_argv(&env, &s, "/run/g", &argv, NULL, &err), -1);
	CHECK_CONTAINS(err.msg, "never runs as root");
}

TEST(guest_argv_rejects_bad_specs)
{
	struct guest_env env = test_env();
	struct errmsg err = { 0 };
	char **argv = NULL;
	struct guest_spec s = kernel_spec();

	snprintf(s.id, sizeof(s.id), "../etc");
	CHECK_INT(guest_build_argv(&env, &s, "/run/g", &argv, NULL, &err), -1);
	CHECK_CONTAINS(err.msg, "not a valid guest id");

	s = kernel_spec();
	memset(&err, 0, sizeof(err));
	snprintf(s.machine, sizeof(s.machine), "virt");
	CHECK_INT(guest_build_argv(&env, &s, "/run/g", &argv, NULL, &err), -1);
	CHECK_STR(err.field, "machine");

	s = kernel_spec();
	memset(&err, 0, sizeof(err));
	s.kernel[0] = '\0';
	s.n_disks = 0;
	CHECK_INT(guest_build_argv(&env, &s, "/run/g", &argv, NULL, &err), -1);
	CHECK_CONTAINS(err.msg, "nothing to boot");

	s = kernel_spec();
	memset(&err, 0, sizeof(err));
	snprintf(s.nics[0].ifname, sizeof(s.nics[0].ifname), "tap0,evil=1");
	CHECK_INT(guest_build_argv(&env, &s, "/run/g", &argv, NULL, &err), -1);
	CHECK_CONTAINS(err.msg, "bad interface name");

	s = kernel_spec();
	memset(&err, 0, sizeof(err));
	snprintf(s.disks[0].format, sizeof(s.disks[0].format), "vmdk");
	CHECK_INT(guest_build_argv(&env, &s, "/run/g", &argv, NULL, &err), -1);
	CHECK_CONTAINS(err.msg, "format");
	CHECK(argv == NULL);
}

TEST(guest_restart_policy)
{
	CHECK_INT(guest_should_restart(GUEST_RESTART_ON_FAILURE, GUEST_EXIT_CRASH), 1);
	CHECK_INT(guest_should_restart(GUEST_RESTART_ON_FAILURE, GUEST_EXIT_SIGNAL), 1);
	CHECK_INT(guest_should_restart(GUEST_RESTART_ON_FAILURE, GUEST_EXIT_PANIC), 1);
	CHECK_INT(guest_should_restart(GUEST_RESTART_ON_FAILURE, GUEST_EXIT_POWEROFF), 0);
	CHECK_INT(guest_should_restart(GUEST_RESTART_ON_FAILURE, GUEST_EXIT_REQUESTED), 0);
	CHECK_INT(guest_should_restart(GUEST_RESTART_ALWAYS, GUEST_EXIT_POWEROFF), 1);
	CHECK_INT(guest_should_restart(GUEST_RESTART_ALWAYS, GUEST_EXIT_REQUESTED), 0);
	CHECK_INT(guest_should_restart(GUEST_RESTART_NEVER, GUEST_EXIT_CRASH), 0);
	CHECK_INT(guest_restart_delay(1), 1);
	CHECK_INT(guest_restart_delay(2), 2);
	CHECK_INT(guest_restart_delay(5), 16);
	CHECK_INT(guest_restart_delay(40), 300);
}

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/node_guest.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		abort();
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void remove_tree(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TEST(guest_console_tail_spans_rotation)
{
	struct buf b = BUF_INIT;

	make_tmpdir();
	write_file(tmpdir, "console.log.1", "old-part-1\nold-part-2\n");
	write_file(tmpdir, "console.log", "new-line\n");
	CHECK_INT(guest_console_tail(tmpdir, 15, &b), 0);
	CHECK_STR(b.data, "art-2\nnew-line\n");
	buf_reset(&b);
	CHECK_INT(guest_console_tail(tmpdir, 4, &b), 0);
	CHECK_STR(b.data, "ine\n");
	buf_free(&b);
	remove_tree(tmpdir);
}

/* Adoption compares /proc/<pid>/cmdline with start.json: use this test's own process. */
TEST(guest_adopt_matches_command_line)
{
	struct guest_env env = test_env();
	struct guest g;
	struct errmsg err = { 0 };
	char dir[600], buf[32], self[4096];
	json_t *argv = json_array();
	FILE *f;
	size_t n;

	make_tmpdir();
	snprintf(env.run_dir, sizeof(env.run_dir), "%s", tmpdir);
	snprintf(dir, sizeof(dir), "%s/i-self", tmpdir);
	mkdir(dir, 0700);
	f = fopen("/proc/self/cmdline", "r");
	n = fread(self, 1, sizeof(self), f);
	fclose(f);
	for (size_t off = 0; off < n; off += strlen(self + off) + 1)
		json_array_append_new(argv, json_string(self + off));
	json_t *doc = json_pack("{s:s,s:o}", "id", "i-self", "argv", argv);
	char path[700];
	snprintf(path, sizeof(path), "%s/start.json", dir);
	json_dump_file(doc, path, 0);
	json_decref(doc);
	snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	write_file(dir, "pid", buf);

	/* a process that does not run as a guest uid is never adopted (nor killed) */
	env.uid_base = getuid() + 1;
	CHECK_INT(guest_adopt(&env, "i-self", &g, &err), 0);
	CHECK(!g.running);
	/* this process runs as the directory's owner, here taken as the guests' uid */
	env.uid_base = getuid();
	CHECK_INT(guest_adopt(&env, "i-self", &g, &err), 1);
	CHECK(g.running);
	CHECK(g.adopted);
	CHECK_INT(g.pid, getpid());
	guest_release(&g);

	/* same pid, another command line: a reused pid is not our guest */
	write_file(dir, "start.json", "{\"id\":\"i-self\",\"argv\":[\"qemu-system-x86_64\",\"-name\",\"x\"]}");
	CHECK_INT(guest_adopt(&env, "i-self", &g, &err), 0);
	CHECK(!g.running);

	/* a pid that does not exist */
	write_file(dir, "pid", "999999999\n");
	CHECK_INT(guest_adopt(&env, "i-self", &g, &err), 0);

	char (*ids)[GUEST_ID_MAX] = NULL;
	CHECK_INT(guest_scan(&env, &ids, &n), 0);
	CHECK_INT(n, 1);
	CHECK_STR(ids[0], "i-self");
	free(ids);
	CHECK_INT(guest_remove_dir(&env, "i-self", &err), 0);
	CHECK_INT(access(dir, F_OK), -1);
	remove_tree(tmpdir);
}

TEST(guest_accel_resolve_values)
{
	char out[8], why[128];

	CHECK_INT(guest_accel_resolve("tcg", out, sizeof(out), why, sizeof(why)), 0);
	CHECK_STR(out, "tcg");
	CHECK_INT(guest_accel_resolve("auto", out, sizeof(out), why, sizeof(why)), 0);
	CHECK(strcmp(out, "tcg") == 0 || strcmp(out, "kvm") == 0);
	CHECK_INT(guest_accel_resolve("hvf", out, sizeof(out), why, sizeof(why)), -1);
	CHECK_CONTAINS(why, "auto, kvm or tcg");
}
