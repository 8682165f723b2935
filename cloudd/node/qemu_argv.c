/* qemu_argv.c -- a guest's QEMU command line: accelerator, devices, the descriptors it is handed, the sandbox */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cloudd.h"
#include "guest.h"
#include "log.h"

int guest_accel_resolve(const char *wanted, char *out, size_t outlen, char *why, size_t whylen)
{
	int fd, vm, ver;

	if (strcmp(wanted, "tcg") == 0 || strcmp(wanted, "kvm") == 0) {
		snprintf(out, outlen, "%s", wanted);
		snprintf(why, whylen, "configured");
		return 0;
	}
	if (strcmp(wanted, "auto") != 0) {
		snprintf(why, whylen, "accel must be auto, kvm or tcg, not \"%s\"", wanted);
		errno = EINVAL;
		return -1;
	}
	snprintf(out, outlen, "tcg");
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "/dev/kvm: %s", strerror(errno));
		return 0;
	}
	ver = ioctl(fd, KVM_GET_API_VERSION, 0);
	vm = ver == KVM_API_VERSION ? ioctl(fd, KVM_CREATE_VM, 0) : -1;
	if (vm >= 0) {
		close(vm);
		snprintf(out, outlen, "kvm");
		snprintf(why, whylen, "/dev/kvm creates VMs");
	} else {
		snprintf(why, whylen, "/dev/kvm cannot create a VM: %s",
			 ver != KVM_API_VERSION ? "unexpected API version" : strerror(errno));
	}
	close(fd);
	return 0;
}

/* --- command line -------------------------------------------------------------- */

struct argv_build {
	char **v;
	size_t n, cap;
	int failed;
};

static void argv_add(struct argv_build *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argv_add(struct argv_build *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (a->failed)
		return;
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		char **v = realloc(a->v, cap * sizeof(*v));
		if (v == NULL) {
			a->failed = 1;
			return;
		}
		a->v = v;
		a->cap = cap;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		a->failed = 1;
		va_end(ap);
		return;
	}
	va_end(ap);
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

void guest_argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (size_t i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* Adds a descriptor to the plan; its number, or -1 when the plan is full. */
static int guest_fd_add(struct guest_fds *fds, int tap, int flags, const char *path)
{
	struct guest_fd *f;

	if (fds->n >= GUEST_MAX_FDS || strlen(path) >= sizeof(f->path))
		return -1;
	f = &fds->fd[fds->n];
	f->fd = GUEST_FD_FIRST + (int)fds->n;
	f->tap = tap;
	f->flags = flags;
	memcpy(f->path, path, strlen(path) + 1);
	fds->n++;
	return f->fd;
}

/*
 * A file QEMU reads through an fd set (-add-fd): one descriptor per access
 * mode QEMU may ask for, since it dups the one whose mode matches its open.
 * Returns the set's id, or -1 when the plan is full.
 */
static int guest_fdset(struct argv_build *a, struct guest_fds *fds, const char *path, int writable)
{
	int set = (int)fds->n + 1; /* ids of sets are free numbers: the first descriptor's index + 1 */
	int fd;

	if (writable) {
		if ((fd = guest_fd_add(fds, 0, O_RDWR, path)) < 0)
			return -1;
		argv_add(a, "-add-fd");
		argv_add(a, "fd=%d,set=%d", fd, set);
	}
	if ((fd = guest_fd_add(fds, 0, O_RDONLY, path)) < 0)
		return -1;
	argv_add(a, "-add-fd");
	argv_add(a, "fd=%d,set=%d", fd, set);
	return set;
}

int guest_build_argv(const struct guest_env *env, const struct guest_spec *spec, const char *dir,
		     char ***argv, struct guest_fds *fds_out, struct errmsg *err)
{
	struct argv_build a = { 0 };
	struct guest_fds *fds = calloc(1, sizeof(*fds));
	char path[PATH_MAX];
	const char *machine = spec->machine[0] ? spec->machine : "q35";
	int fd, set, full = 0;

	if (fds == NULL) {
		errmsg_set(err, "", "out of memory building the QEMU command line");
		errno = ENOMEM;
		return -1;
	}
	if (!guest_id_valid(spec->id) || strlen(spec->id) >= GUEST_ID_MAX) {
		errmsg_set(err, "id", "not a valid guest id: \"%s\"", spec->id);
		goto err_inval;
	}
	if (strcmp(machine, "q35") != 0 && strcmp(machine, "pc") != 0) {
		errmsg_set(err, "machine", "must be q35 or pc, not \"%s\"", machine);
		goto err_inval;
	}
	if (spec->vcpus < 1 || spec->memory_mib < GUEST_MIN_MEMORY_MIB) {
		errmsg_set(err, "", "guest %s: vcpus must be >= 1 and memory >= %d MiB", spec->id, GUEST_MIN_MEMORY_MIB);
		goto err_inval;
	}
	if (spec->kernel[0] == '\0' && spec->n_disks == 0) {
		errmsg_set(err, "", "guest %s: nothing to boot (no kernel and no disk)", spec->id);
		goto err_inval;
	}
	if (spec->uid == 0) {
		errmsg_set(err, "", "guest %s: QEMU never runs as root (no guest uid)", spec->id);
		goto err_inval;
	}
	argv_add(&a, "%s", env->qemu);
	argv_add(&a, "-name");
	argv_add(&a, "guest=%s,debug-threads=on", spec->id);
	argv_add(&a, "-sandbox");
	argv_add(&a, "%s", GUEST_SANDBOX);
	argv_add(&a, "-machine");
	argv_add(&a, "%s", machine);
	argv_add(&a, "-accel");
	argv_add(&a, "%s", env->accel);
	if (strcmp(env->accel, "kvm") == 0) {
		argv_add(&a, "-cpu");
		argv_add(&a, "host");
	}
	argv_add(&a, "-smp");
	argv_add(&a, "%u", spec->vcpus);
	argv_add(&a, "-m");
	argv_add(&a, "%u", spec->memory_mib);
	argv_add(&a, "-nodefaults");
	argv_add(&a, "-no-user-config");
	argv_add(&a, "-display");
	argv_add(&a, "none");
	/* the console log is cloudd's file: QEMU gets it open for appending */
	snprintf(path, sizeof(path), "%s/console.log", dir);
	if ((fd = guest_fd_add(fds, 0, O_WRONLY | O_APPEND | O_CREAT, path)) < 0)
		full = 1;
	argv_add(&a, "-add-fd");
	argv_add(&a, "fd=%d,set=%d", fd, (int)fds->n);
	argv_add(&a, "-chardev");
	argv_add(&a, "file,id=console,path=/dev/fdset/%d,append=on", (int)fds->n);
	argv_add(&a, "-serial");
	argv_add(&a, "chardev:console");
	/*
	 * relative to its run directory, its working directory: no parent needs to
	 * let its uid through. No -pidfile (QEMU resolves its path from /): cloudd,
	 * its parent, writes the pid.
	 */
	argv_add(&a, "-chardev");
	argv_add(&a, "socket,id=qmp,path=qmp.sock,server=on,wait=off");
	argv_add(&a, "-mon");
	argv_add(&a, "chardev=qmp,mode=control");
	/* a guest kernel panic stops QEMU (SHUTDOWN guest-panic) instead of leaving a dead guest running */
	argv_add(&a, "-device");
	argv_add(&a, "pvpanic");
	argv_add(&a, "-action");
	argv_add(&a, "panic=shutdown");
	if (spec->kernel[0]) {
		/* -kernel and -initrd take paths only: the inherited descriptor's /proc link */
		argv_add(&a, "-kernel");
		argv_add(&a, "/proc/self/fd/%d", (fd = guest_fd_add(fds, 0, O_RDONLY, spec->kernel)));
		full |= fd < 0;
		if (spec->initrd[0]) {
			argv_add(&a, "-initrd");
			argv_add(&a, "/proc/self/fd/%d", (fd = guest_fd_add(fds, 0, O_RDONLY, spec->initrd)));
			full |= fd < 0;
		}
		if (spec->cmdline[0]) {
			argv_add(&a, "-append");
			argv_add(&a, "%s", spec->cmdline);
		}
	}
	for (size_t i = 0; i < spec->n_disks; i++) {
		const struct guest_disk_spec *d = &spec->disks[i];
		char backing[64] = "";
		if (!guest_id_valid(d->id) || (strcmp(d->format, "qcow2") != 0 && strcmp(d->format, "raw") != 0) ||
		    (d->backing[0] && (strcmp(d->format, "qcow2") != 0 ||
				       (strcmp(d->backing_format, "qcow2") != 0 && strcmp(d->backing_format, "raw") != 0)))) {
			errmsg_set(err, "", "guest %s: disk %zu: bad id \"%s\" or format \"%s\"", spec->id, i,
				   d->id, d->format);
			goto err_inval;
		}
		if (d->backing[0]) {
			/* QEMU would open the backing file by the path in the qcow2 header: give it the template */
			if ((set = guest_fdset(&a, fds, d->backing, 0)) < 0)
				full = 1;
			snprintf(backing, sizeof(backing), ",backing.driver=%s,backing.file.filename=/dev/fdset/%d",
				 d->backing_format, set);
		}
		if ((set = guest_fdset(&a, fds, d->path, !d->readonly)) < 0)
			full = 1;
		argv_add(&a, "-drive");
		argv_add(&a, "file=/dev/fdset/%d,if=none,id=drive-%s,format=%s%s%s", set, d->id, d->format,
			 d->readonly ? ",readonly=on" : ",discard=unmap", backing);
		argv_add(&a, "-device");
		argv_add(&a, "virtio-blk-pci,drive=drive-%s,serial=%s%s", d->id, d->id,
			 i == 0 && spec->kernel[0] == '\0' ? ",bootindex=1" : "");
	}
	for (size_t i = 0; i < spec->n_nics; i++) {
		const struct guest_nic_spec *nic = &spec->nics[i];
		size_t iflen = strlen(nic->ifname);
		if (iflen == 0 || iflen > 15 ||
		    strspn(nic->ifname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != iflen ||
		    strlen(nic->mac) != 17) {
			errmsg_set(err, "", "guest %s: nic %zu: bad interface name or MAC", spec->id, i);
			goto err_inval;
		}
		if ((fd = guest_fd_add(fds, 1, 0, nic->ifname)) < 0)
			full = 1;
		argv_add(&a, "-netdev");
		argv_add(&a, "tap,id=net%zu,fd=%d", i, fd);
		argv_add(&a, "-device");
		argv_add(&a, "virtio-net-pci,netdev=net%zu,mac=%s", i, nic->mac);
	}
	if (full) {
		errmsg_set(err, "", "guest %s: more than %d descriptors or a path too long", spec->id, GUEST_MAX_FDS);
		goto err_inval;
	}
	if (a.failed) {
		guest_argv_free(a.v);
		free(fds);
		errmsg_set(err, "", "out of memory building the QEMU command line");
		errno = ENOMEM;
		return -1;
	}
	*argv = a.v;
	if (fds_out)
		*fds_out = *fds;
	free(fds);
	return 0;

err_inval:
	guest_argv_free(a.v);
	free(fds);
	errno = EINVAL;
	return -1;
}

/* --- run directory -------------------------------------------------------------- */
