/* guest.h -- one QEMU per instance: command line, run directory, power actions, exit detection, adoption */
#ifndef CLOUDD_GUEST_H
#define CLOUDD_GUEST_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "errmsg.h"
#include "qmp.h"

#define GUEST_ID_MAX 64
#define GUEST_MAX_DISKS 17	       /* the instance's disks and the cloud-init seed */
#define GUEST_MAX_NICS 8
#define GUEST_MIN_MEMORY_MIB 16	       /* MiB: QEMU boots nothing useful with less */
#define GUEST_START_TIMEOUT_MS 30000   /* QEMU's start until it answers on QMP */
#define GUEST_QMP_TIMEOUT_MS 5000      /* one QMP command */
#define GUEST_CONSOLE_MAX (512 * 1024) /* bytes of console.log before it is rotated to console.log.1 */
#define GUEST_UID_COUNT 65536	       /* uids (and gids) from env->uid_base on: one per guest of a node */
#define GUEST_FD_FIRST 3	       /* the first descriptor number a QEMU inherits */
#define GUEST_MAX_FDS (3 * GUEST_MAX_DISKS + GUEST_MAX_NICS + 3) /* disk rw+ro+backing, taps, console, kernel, initrd */

/*
 * The sandbox: QEMU never runs as root. cloudd opens what a guest may use
 * (its disks and their backing templates, its kernel and initrd, its taps,
 * its console log) and hands QEMU the descriptors (-add-fd and /dev/fdset/N,
 * -netdev tap,fd=N, /proc/self/fd/N); it then drops to the guest's own uid
 * and gid (no supplementary group but /dev/kvm's) and execs QEMU, which
 * installs its seccomp filter (GUEST_SANDBOX). QEMU 7.2 installs the filter
 * before -runas or -daemonize act, so it could not drop privileges or fork
 * itself under elevateprivileges=deny and spawn=deny: cloudd does both.
 */
#define GUEST_SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

/*
 * A guest's run directory, <run_dir>/<id>/ (run_dir is e.g. /run/cloudd/guests):
 * owned by the guest's uid, mode 0700 (QEMU creates its socket there):
 *   start.json   how QEMU was started: {"id", "argv": [...], "started_at"} (cloudd's)
 *   pid          QEMU's pid (written by cloudd, its parent)
 *   qmp.sock     QMP socket (QEMU listens, one client at a time)
 *   console.log  serial console (cloudd opens it, QEMU appends; rotated to console.log.1)
 *   qemu.log     QEMU's own messages (stdout and stderr; cloudd opens it)
 */
struct guest_env {
	char qemu[PATH_MAX];	  /* "qemu-system-x86_64" (PATH) or a path */
	char run_dir[PATH_MAX];	  /* parent of the per-guest directories */
	char accel[8];		  /* "kvm" or "tcg": resolved, see guest_accel_resolve */
	size_t console_max;	  /* bytes, 0 = GUEST_CONSOLE_MAX */
	uid_t uid_base;		  /* guests run as uid_base .. uid_base + GUEST_UID_COUNT - 1 */
	gid_t kvm_gid;		  /* QEMU's one supplementary group (/dev/kvm's), 0 = none */
};

struct guest_disk_spec {
	char path[PATH_MAX];
	char format[8];		  /* "qcow2" or "raw" */
	char id[GUEST_ID_MAX];	  /* the drive's name in QMP ("root") */
	int readonly;
	char backing[PATH_MAX];	  /* the qcow2's backing file (its template), "" = none */
	char backing_format[8];	  /* "qcow2" or "raw" */
};

struct guest_nic_spec {
	char ifname[16];	  /* an existing tap (guestnet_tap_ensure) */
	char mac[18];
};

struct guest_spec {
	char id[GUEST_ID_MAX];
	unsigned vcpus;
	unsigned memory_mib;
	char machine[8];	  /* "q35" (default when empty) or "pc" */
	char kernel[PATH_MAX];	  /* "" = boot from the first disk (SeaBIOS) */
	char initrd[PATH_MAX];	  /* optional with kernel */
	char cmdline[1024];	  /* optional with kernel */
	struct guest_disk_spec disks[GUEST_MAX_DISKS];
	size_t n_disks;
	struct guest_nic_spec nics[GUEST_MAX_NICS];
	size_t n_nics;
	uid_t uid;		  /* QEMU's uid and gid (guest_uid_pick); never 0 */
};

/* A descriptor QEMU inherits: number fd, opened by cloudd from path (a file, or a tap's name). */
struct guest_fd {
	int fd;
	int tap;		  /* 1: path is a tap (guestnet_tap_open) */
	int flags;		  /* open(2) flags of a file */
	char path[PATH_MAX];
};

struct guest_fds {
	struct guest_fd fd[GUEST_MAX_FDS];
	size_t n;
};

/* Why a QEMU is no longer running. */
enum guest_exit_kind {
	GUEST_EXIT_NONE = 0,
	GUEST_EXIT_POWEROFF,	  /* the guest shut itself down (SHUTDOWN guest-shutdown) */
	GUEST_EXIT_REQUESTED,	  /* cloudd asked: quit, or powerdown it requested */
	GUEST_EXIT_PANIC,	  /* GUEST_PANICKED, or SHUTDOWN guest-panic */
	GUEST_EXIT_SIGNAL,	  /* QEMU got a signal from outside (SHUTDOWN host-signal) */
	GUEST_EXIT_CRASH,	  /* gone without a SHUTDOWN event: SIGKILL, OOM, crash */
};

struct guest {
	char id[GUEST_ID_MAX];
	char dir[PATH_MAX];
	pid_t pid;
	int running;
	int adopted;		  /* found running by guest_adopt, not started here */
	int stop_requested;	  /* powerdown or quit sent by cloudd */
	struct qmp qmp;
	int have_qmp;
	/* set once QEMU is gone */
	enum guest_exit_kind exit_kind;
	int exit_status_known;	  /* *wait_status is QEMU's real exit status (it was our child) */
	int wait_status;
	char shutdown_reason[32]; /* from the SHUTDOWN event ("" when there was none) */
	char reason[256];	  /* "guest powered off", "QEMU killed from outside (...)", ... */
	char console_tail[256];	  /* last console line when it exited */
};

/* "auto": kvm when /dev/kvm can create a VM, else tcg. Writes "kvm"/"tcg". */
int guest_accel_resolve(const char *wanted, char *out, size_t outlen, char *why, size_t whylen);

/*
 * The QEMU command line for spec (argv NULL-terminated, caller frees with
 * guest_argv_free) and, when fds is not NULL, the descriptors it expects to
 * inherit. Pure: depends only on env and spec.
 */
int guest_build_argv(const struct guest_env *env, const struct guest_spec *spec, const char *dir,
		     char ***argv, struct guest_fds *fds, struct errmsg *err);

/*
 * The uid (and gid) of a guest's QEMU: the owner of its run directory when
 * that is in the guests' range, else the lowest one no other run directory
 * has. -1 ENOSPC when all GUEST_UID_COUNT are taken.
 */
int guest_uid_pick(const struct guest_env *env, const char *id, uid_t *uid);
/*
 * Makes /dev/kvm usable by the guests' uids: 0 and *gid 0 when everyone may
 * open it, its group when that group may (not root's), else it is given to
 * group fallback_gid (mode 0660). -1 with errno when it cannot be.
 */
int guest_kvm_access(const char *dev, gid_t fallback_gid, gid_t *gid);
void guest_argv_free(char **argv);
/* 1 when s is a guest or disk id: [a-z0-9-]+ */
int guest_id_valid(const char *s);

/* <env->run_dir>/<id>; -1 ENAMETOOLONG when it does not fit. */
int guest_dir(const struct guest_env *env, const char *id, char *out, size_t outlen);
/* Creates env->run_dir (and its parents) when missing. */
int guest_run_dir_create(const struct guest_env *env);
/* guest_dir, created when missing (mode 0700). */
int guest_dir_create(const struct guest_env *env, const char *id, char *out, size_t outlen);
/* <env->run_dir>/<id>/console.log, the serial console QEMU appends to. */
int guest_console_path(const struct guest_env *env, const char *id, char *out, size_t outlen);

/*
 * Starts QEMU, sandboxed as spec->uid (its own session, cloudd's child), and
 * waits until it answers on its QMP socket. Returns 0 with g
 * running, or -1 with err (QEMU's own message when it refused to start).
 * A guest whose QEMU is still running is refused (EEXIST).
 */
int guest_start(const struct guest_env *env, const struct guest_spec *spec, struct guest *g,
		struct errmsg *err);

/*
 * After a restart of cloudd: looks at <run_dir>/<id>. Returns 1 when its QEMU
 * runs (pid alive, running as the directory's owner, a guest uid, and
 * /proc/<pid>/cmdline equal to start.json's argv) and g
 * is adopted, 0 when not running (g describes a stopped guest), -1 on error.
 * Never kills anything.
 */
int guest_adopt(const struct guest_env *env, const char *id, struct guest *g, struct errmsg *err);

/* The ids of every run directory (caller frees *ids). */
int guest_scan(const struct guest_env *env, char (**ids)[GUEST_ID_MAX], size_t *n);

/*
 * Observes the guest: reads QMP events, notices QEMU's exit (QMP socket
 * closed, pid gone, or reaped when it is our child), rotates the console.
 * Returns 1 when the guest is running, 0 when it is not (exit_kind, reason
 * filled once), -1 on error.
 */
int guest_poll(const struct guest_env *env, struct guest *g);

/* ACPI power button (graceful stop: the guest decides). */
int guest_powerdown(struct guest *g, struct errmsg *err);
/* Hard reset. */
int guest_reset(struct guest *g, struct errmsg *err);
/* Stops QEMU now: QMP quit, else SIGKILL (only when the pid's cmdline is still ours). */
int guest_force_stop(const struct guest_env *env, struct guest *g, struct errmsg *err);
/* Releases what g holds (QMP connection); the QEMU is left as it is. */
void guest_release(struct guest *g);
/* Removes the run directory of a guest that is not running. */
int guest_remove_dir(const struct guest_env *env, const char *id, struct errmsg *err);

/* Appends the last len bytes of <dir>/<name> to out (nothing when it is absent). */
int guest_console_tail_file(const char *dir, const char *name, size_t len, struct buf *out);
/* The last len bytes of the console (console.log.1 then console.log). */
int guest_console_tail(const char *dir, size_t len, struct buf *out);

/* Restart policy: 1 when a guest that stopped for exit_kind must be started again. */
enum guest_restart { GUEST_RESTART_ON_FAILURE, GUEST_RESTART_ALWAYS, GUEST_RESTART_NEVER };
int guest_should_restart(enum guest_restart policy, enum guest_exit_kind kind);
/* Seconds to wait before restart number n (1, 2, ...): 1, 2, 4 ... 300. */
unsigned guest_restart_delay(unsigned n);

const char *guest_exit_name(enum guest_exit_kind kind);

#endif
