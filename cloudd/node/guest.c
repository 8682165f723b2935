/* guest.c -- one QEMU per instance: run directory, start as its own uid, power, exit detection, adoption */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grp.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cloudd.h"
#include "fsutil.h"
#include "guest.h"
#include "guestnet.h"
#include "log.h"
#include "proc.h"

int guest_id_valid(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return 0;
	return 1;
}

int guest_dir(const struct guest_env *env, const char *id, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s", env->run_dir, id);

	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int guest_path(char *out, size_t outlen, const char *dir, const char *name)
{
	int n = snprintf(out, outlen, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int guest_run_dir_create(const struct guest_env *env)
{
	return fs_mkdir_p(env->run_dir, 0755, 0700);
}

int guest_dir_create(const struct guest_env *env, const char *id, char *out, size_t outlen)
{
	const char *stale[] = { "seed.img", ".start.json.tmp", "pid", "qmp.sock" };
	char path[PATH_MAX];

	if (guest_dir(env, id, out, outlen) < 0 || fs_mkdir_p(out, 0755, 0700) < 0)
		return -1;
	/* back to root while cloudd writes the seed: what an earlier QEMU left there goes */
	if (lchown(out, 0, 0) < 0 || chmod(out, 0700) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++)
		if (guest_path(path, sizeof(path), out, stale[i]) == 0)
			unlink(path);
	return 0;
}

int guest_console_path(const struct guest_env *env, const char *id, char *out, size_t outlen)
{
	char dir[PATH_MAX];

	if (guest_dir(env, id, dir, sizeof(dir)) < 0)
		return -1;
	return guest_path(out, outlen, dir, "console.log");
}

/* Writes start.json atomically: the command line adoption compares with. */
static int guest_write_start(const char *dir, const char *id, char **argv)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	json_t *arr = json_array(), *doc;
	int rc;

	for (size_t i = 0; argv[i]; i++)
		json_array_append_new(arr, json_string(argv[i]));
	doc = json_pack("{s:s,s:o,s:I}", "id", id, "argv", arr, "started_at", (json_int_t)time(NULL));
	if (doc == NULL || guest_path(path, sizeof(path), dir, "start.json") < 0 ||
	    guest_path(tmp, sizeof(tmp), dir, ".start.json.tmp") < 0) {
		json_decref(doc);
		errno = ENOMEM;
		return -1;
	}
	rc = json_dump_file(doc, tmp, JSON_INDENT(1));
	json_decref(doc);
	if (rc < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Reads start.json's argv (NULL-terminated, caller frees). */
static char **guest_read_start(const char *dir)
{
	char path[PATH_MAX];
	json_t *doc, *arr;
	char **argv;
	size_t n;

	if (guest_path(path, sizeof(path), dir, "start.json") < 0)
		return NULL;
	doc = json_load_file(path, 0, NULL);
	arr = json_object_get(doc, "argv");
	n = json_array_size(arr);
	if (!json_is_array(arr) || n == 0 || n > 4096) {
		json_decref(doc);
		return NULL;
	}
	argv = calloc(n + 1, sizeof(*argv));
	for (size_t i = 0; argv && i < n; i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		argv[i] = strdup(s ? s : "");
		if (argv[i] == NULL) {
			guest_argv_free(argv);
			argv = NULL;
		}
	}
	json_decref(doc);
	return argv;
}

static void guest_init(struct guest *g, const char *id, const char *dir)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->id, sizeof(g->id), "%s", id);
	snprintf(g->dir, sizeof(g->dir), "%s", dir);
	g->qmp.fd = -1;
	g->qmp.closed = 1;
}

/* The last line of qemu.log, for an error message. */
static void guest_last_log_line(const char *dir, const char *name, char *out, size_t outlen)
{
	struct buf b = BUF_INIT;
	size_t end, start;

	out[0] = '\0';
	if (guest_console_tail_file(dir, name, 2048, &b) < 0 || b.len == 0) {
		buf_free(&b);
		return;
	}
	end = b.len;
	while (end > 0 && (b.data[end - 1] == '\n' || b.data[end - 1] == '\r'))
		end--;
	start = end;
	while (start > 0 && b.data[start - 1] != '\n')
		start--;
	snprintf(out, outlen, "%.*s", (int)(end - start), b.data + start);
	buf_free(&b);
}

/* The real uid of pid (from /proc/<pid>/status), or -1. */
static long long guest_proc_uid(pid_t pid)
{
	char path[64], line[256];
	long long uid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Uid:", 4) == 0) {
			uid = strtoll(line + 4, NULL, 10);
			break;
		}
	fclose(f);
	return uid;
}

static int guest_uid_in_range(const struct guest_env *env, long long uid)
{
	return uid >= (long long)env->uid_base &&
	       uid < (long long)env->uid_base + GUEST_UID_COUNT;
}

/*
 * 1 when pid is the guest's QEMU: it runs as the owner of the run directory
 * (a guest uid; QEMU owns the directory and could point cloudd elsewhere with
 * its pidfile, but only at a process of its own uid) with start.json's argv.
 */
static int guest_pid_is_ours(const struct guest_env *env, const char *dir, pid_t pid, char **argv)
{
	struct stat st;
	long long uid = guest_proc_uid(pid);

	return stat(dir, &st) == 0 && guest_uid_in_range(env, st.st_uid) && uid == (long long)st.st_uid &&
	       proc_cmdline_matches(pid, argv);
}

int guest_uid_pick(const struct guest_env *env, const char *id, uid_t *uid)
{
	char (*ids)[GUEST_ID_MAX] = NULL, dir[PATH_MAX];
	unsigned char *used;
	struct stat st;
	size_t n = 0;

	if (env->uid_base == 0 || (uid_t)(env->uid_base + GUEST_UID_COUNT) < env->uid_base) {
		errno = EINVAL;
		return -1;
	}
	if (guest_dir(env, id, dir, sizeof(dir)) == 0 && stat(dir, &st) == 0 && guest_uid_in_range(env, st.st_uid)) {
		*uid = st.st_uid;
		return 0;
	}
	used = calloc(GUEST_UID_COUNT, 1);
	if (used == NULL || guest_scan(env, &ids, &n) < 0) {
		free(used);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (guest_dir(env, ids[i], dir, sizeof(dir)) == 0 && stat(dir, &st) == 0 &&
		    guest_uid_in_range(env, st.st_uid))
			used[st.st_uid - env->uid_base] = 1;
	free(ids);
	for (size_t i = 0; i < GUEST_UID_COUNT; i++)
		if (!used[i]) {
			free(used);
			*uid = env->uid_base + (uid_t)i;
			return 0;
		}
	free(used);
	errno = ENOSPC;
	return -1;
}

int guest_kvm_access(const char *dev, gid_t fallback_gid, gid_t *gid)
{
	struct stat st;

	*gid = 0;
	if (stat(dev, &st) < 0)
		return -1;
	if ((st.st_mode & 0006) == 0006)
		return 0;
	if (st.st_gid != 0 && (st.st_mode & 0060) == 0060) {
		*gid = st.st_gid;
		return 0;
	}
	/* devtmpfs makes it root's, 0600: give it to the guests' group */
	if (chown(dev, (uid_t)-1, fallback_gid) < 0 || chmod(dev, (st.st_mode & 07777) | 0660) < 0)
		return -1;
	*gid = fallback_gid;
	return 0;
}

/* Opens what the plan names, at descriptors of its own (O_CLOEXEC); -1 with err. */
static int guest_open_fds(const struct guest_fds *fds, int *opened, const char *id, struct errmsg *err)
{
	for (size_t i = 0; i < fds->n; i++) {
		const struct guest_fd *f = &fds->fd[i];
		opened[i] = f->tap ? guestnet_tap_open(f->path, err)
				   : open(f->path, f->flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
		struct stat st;
		/* QEMU owns the run directory: a planted link must not point cloudd at another file */
		if (opened[i] >= 0 && !f->tap && (f->flags & O_ACCMODE) != O_RDONLY &&
		    (fstat(opened[i], &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)) {
			close(opened[i]);
			opened[i] = -1;
			errno = EPERM;
		}
		if (opened[i] < 0) {
			if (!f->tap)
				errmsg_set(err, "", "guest %s: %s: %s", id, f->path, strerror(errno));
			while (i-- > 0)
				close(opened[i]);
			return -1;
		}
	}
	return 0;
}

static void guest_child_fail(const char *what)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "cloudd: starting QEMU: %s: %s\n", what, strerror(errno));

	if (n > 0 && write(2, msg, (size_t)n) < 0)
		_exit(127);
	_exit(127);
}

/*
 * In the child: the planned descriptors at their numbers, stdin /dev/null,
 * stdout and stderr to qemu.log, nothing else open; its own session; the
 * guest's uid and gid; then QEMU. Never returns.
 */
static void guest_child_exec(const struct guest_env *env, const struct guest_fds *fds, const int *opened,
			     int null_fd, int log_fd, uid_t uid, const char *dir, char **argv)
{
	int top = GUEST_FD_FIRST + (int)fds->n, moved[GUEST_MAX_FDS];
	sigset_t none;
	gid_t groups[1] = { env->kvm_gid };

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* first above the planned numbers, so that no dup2 below overwrites a source */
	for (size_t i = 0; i < fds->n; i++)
		if ((moved[i] = fcntl(opened[i], F_DUPFD_CLOEXEC, top)) < 0)
			guest_child_fail("dup");
	if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		_exit(127);
	for (size_t i = 0; i < fds->n; i++)
		if (dup2(moved[i], fds->fd[i].fd) < 0)
			guest_child_fail("dup2");
	/* everything else was O_CLOEXEC or goes here */
	for (int fd = top; fd < 1024; fd++)
		close(fd);
	setsid();
	if (chdir(dir) < 0)
		guest_child_fail(dir);
	if (setgroups(env->kvm_gid ? 1 : 0, groups) < 0 || setgid((gid_t)uid) < 0 || setuid(uid) < 0)
		guest_child_fail("dropping privileges");
	if (getuid() != uid || geteuid() != uid || setuid(0) == 0)
		guest_child_fail("privileges not dropped");
	execvp(argv[0], argv);
	guest_child_fail(argv[0]);
}

/*
 * Waits until QEMU answers a QMP command (it runs the main loop: its
 * devices and sandbox are set up) or exits. 0 ready, -1 with err.
 */
static int guest_wait_ready(struct guest *g, const char *id, pid_t pid, struct errmsg *err)
{
	char path[PATH_MAX], line[300], why[128];
	long long deadline = proc_now_ms() + GUEST_START_TIMEOUT_MS;
	int status;

	if (guest_path(path, sizeof(path), g->dir, "qmp.sock") < 0)
		return -1;
	for (;;) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			guest_last_log_line(g->dir, "qemu.log", line, sizeof(line));
			errmsg_set(err, "", "guest %s: QEMU %s: %s", id, proc_status_str(status, why, sizeof(why)),
				   line[0] ? line : "(no message)");
			errno = EIO;
			return -1;
		}
		if (qmp_connect(&g->qmp, path, 1000) == 0) {
			if (qmp_command(&g->qmp, "query-status", NULL, GUEST_START_TIMEOUT_MS, NULL) == 0)
				return 0;
			qmp_close(&g->qmp);
		}
		if (proc_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			errmsg_set(err, "", "guest %s: QEMU did not answer on QMP within %d ms", id,
				   GUEST_START_TIMEOUT_MS);
			errno = ETIMEDOUT;
			return -1;
		}
		usleep(20000);
	}
}

int guest_start(const struct guest_env *env, const struct guest_spec *spec, struct guest *g,
		struct errmsg *err)
{
	char dir[PATH_MAX], path[PATH_MAX], line[32];
	char **argv = NULL;
	struct guest_fds *fds = NULL;
	int opened[GUEST_MAX_FDS], null_fd = -1, log_fd = -1, go[2] = { -1, -1 }, rc = -1;
	pid_t pid;

	if (guest_dir(env, spec->id, dir, sizeof(dir)) < 0) {
		errmsg_set(err, "", "guest %s: run directory path too long", spec->id);
		return -1;
	}
	guest_init(g, spec->id, dir);
	if (guest_path(path, sizeof(path), dir, "pid") == 0 && proc_read_pidfile(path, &pid) == 0 &&
	    proc_alive(pid) == 1) {
		char **old = guest_read_start(dir);
		int mine = old && guest_pid_is_ours(env, dir, pid, old);
		guest_argv_free(old);
		if (mine) {
			errmsg_set(err, "", "guest %s: its QEMU (pid %d) is still running", spec->id, (int)pid);
			errno = EEXIST;
			return -1;
		}
	}
	/* root's while cloudd writes into it; the guest's once QEMU creates its socket and pidfile there */
	if (fs_mkdir_p(dir, 0755, 0700) < 0 || lchown(dir, 0, 0) < 0 || chmod(dir, 0700) < 0) {
		errmsg_set(err, "", "guest %s: creating %s: %s", spec->id, dir, strerror(errno));
		return -1;
	}
	fds = calloc(1, sizeof(*fds));
	if (fds == NULL) {
		errmsg_set(err, "", "out of memory");
		return -1;
	}
	if (guest_build_argv(env, spec, dir, &argv, fds, err) < 0)
		goto out;
	const char *stale[] = { "pid", "qmp.sock" };
	for (size_t i = 0; i < 2; i++)
		if (guest_path(path, sizeof(path), dir, stale[i]) == 0)
			unlink(path);
	if (guest_path(path, sizeof(path), dir, ".start.json.tmp") == 0)
		unlink(path);
	if (guest_write_start(dir, spec->id, argv) < 0) {
		errmsg_set(err, "", "guest %s: writing start.json: %s", spec->id, strerror(errno));
		goto out;
	}
	if (guest_open_fds(fds, opened, spec->id, err) < 0)
		goto out;
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	log_fd = guest_path(path, sizeof(path), dir, "qemu.log") < 0 ? -1 :
		 open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (null_fd < 0 || log_fd < 0 || pipe2(go, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		errmsg_set(err, "", "guest %s: starting %s: %s", spec->id, env->qemu, strerror(errno));
		goto out_fds;
	}
	if (pid == 0) {
		char c;
		/* the pidfile is cloudd's, written while the directory is still root's */
		close(go[1]);
		if (read(go[0], &c, 1) != 1 || chown(dir, spec->uid, (gid_t)spec->uid) < 0)
			_exit(127);
		guest_child_exec(env, fds, opened, null_fd, log_fd, spec->uid, dir, argv);
	}
	close(go[0]);
	go[0] = -1;
	snprintf(line, sizeof(line), "%d\n", (int)pid);
	if (guest_path(path, sizeof(path), dir, "pid") < 0 || fs_write_atomic(path, line, strlen(line), 0600) < 0 ||
	    write(go[1], "", 1) != 1) {
		errmsg_set(err, "", "guest %s: writing its pidfile: %s", spec->id, strerror(errno));
		close(go[1]);
		go[1] = -1;
		waitpid(pid, NULL, 0);
		goto out_fds;
	}
	close(go[1]);
	go[1] = -1;
	if (guest_wait_ready(g, spec->id, pid, err) < 0)
		goto out_fds;
	g->pid = pid;
	g->running = 1;
	g->have_qmp = 1;
	log_info("guest %s: QEMU started (pid %d, uid %u, accel %s)", spec->id, (int)g->pid, (unsigned)spec->uid,
		 env->accel);
	rc = 0;
out_fds:
	for (size_t i = 0; i < fds->n; i++)
		close(opened[i]);
	if (null_fd >= 0)
		close(null_fd);
	if (log_fd >= 0)
		close(log_fd);
	for (int i = 0; i < 2; i++)
		if (go[i] >= 0)
			close(go[i]);
out:
	free(fds);
	guest_argv_free(argv);
	return rc;
}

int guest_adopt(const struct guest_env *env, const char *id, struct guest *g, struct errmsg *err)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char **argv;
	pid_t pid;

	if (guest_dir(env, id, dir, sizeof(dir)) < 0) {
		errmsg_set(err, "", "guest %s: run directory path too long", id);
		return -1;
	}
	guest_init(g, id, dir);
	if (guest_path(path, sizeof(path), dir, "pid") < 0 || proc_read_pidfile(path, &pid) < 0)
		return 0;
	argv = guest_read_start(dir);
	if (argv == NULL) {
		log_warn("guest %s: pid %d recorded but start.json unreadable: not adopted", id, (int)pid);
		return 0;
	}
	if (proc_alive(pid) != 1 || !guest_pid_is_ours(env, dir, pid, argv)) {
		guest_argv_free(argv);
		snprintf(g->reason, sizeof(g->reason), "not running when cloudd started");
		return 0;
	}
	guest_argv_free(argv);
	g->pid = pid;
	g->running = 1;
	g->adopted = 1;
	if (guest_path(path, sizeof(path), dir, "qmp.sock") == 0 &&
	    qmp_connect(&g->qmp, path, GUEST_QMP_TIMEOUT_MS) == 0)
		g->have_qmp = 1;
	else
		log_warn("guest %s: adopted pid %d, but QMP: %s", id, (int)pid, qmp_error(&g->qmp));
	log_info("guest %s: adopted running QEMU (pid %d)", id, (int)pid);
	return 1;
}

int guest_scan(const struct guest_env *env, char (**ids)[GUEST_ID_MAX], size_t *n)
{
	DIR *d = opendir(env->run_dir);
	struct dirent *de;
	size_t cap = 0;

	*ids = NULL;
	*n = 0;
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !guest_id_valid(de->d_name) || strlen(de->d_name) >= GUEST_ID_MAX)
			continue;
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			void *p = realloc(*ids, nc * sizeof(**ids));
			if (p == NULL) {
				closedir(d);
				free(*ids);
				*ids = NULL;
				*n = 0;
				errno = ENOMEM;
				return -1;
			}
			*ids = p;
			cap = nc;
		}
		memcpy((*ids)[*n], de->d_name, strlen(de->d_name) + 1);
		(*n)++;
	}
	closedir(d);
	return 0;
}

/* --- observing ------------------------------------------------------------------ */

static void guest_note_event(struct guest *g, const struct qmp_event *ev)
{
	if (strcmp(ev->name, "SHUTDOWN") == 0) {
		const char *r = json_string_value(json_object_get(ev->data, "reason"));
		snprintf(g->shutdown_reason, sizeof(g->shutdown_reason), "%s", r ? r : "unknown");
	} else if (strcmp(ev->name, "GUEST_PANICKED") == 0) {
		snprintf(g->shutdown_reason, sizeof(g->shutdown_reason), "guest-panic");
	}
	log_debug("guest %s: QMP event %s", g->id, ev->name);
}

static void guest_classify_exit(struct guest *g)
{
	char st[64];
	const char *r = g->shutdown_reason;

	if (strcmp(r, "guest-shutdown") == 0) {
		g->exit_kind = g->stop_requested ? GUEST_EXIT_REQUESTED : GUEST_EXIT_POWEROFF;
		snprintf(g->reason, sizeof(g->reason), "%s", g->stop_requested ?
			 "stopped: the guest powered off when asked" : "guest powered off");
	} else if (strcmp(r, "host-qmp-quit") == 0 || (g->stop_requested && r[0] == '\0')) {
		g->exit_kind = GUEST_EXIT_REQUESTED;
		snprintf(g->reason, sizeof(g->reason), "stopped by cloudd");
	} else if (strcmp(r, "guest-panic") == 0) {
		g->exit_kind = GUEST_EXIT_PANIC;
		snprintf(g->reason, sizeof(g->reason), "guest kernel panicked");
	} else if (strcmp(r, "host-signal") == 0) {
		g->exit_kind = GUEST_EXIT_SIGNAL;
		snprintf(g->reason, sizeof(g->reason), "QEMU terminated by a signal from outside cloudd");
	} else if (r[0]) {
		g->exit_kind = GUEST_EXIT_CRASH;
		snprintf(g->reason, sizeof(g->reason), "QEMU shut down (%s)", r);
	} else {
		g->exit_kind = GUEST_EXIT_CRASH;
		snprintf(g->reason, sizeof(g->reason),
			 "QEMU exited without a SHUTDOWN event (killed with SIGKILL, out of memory, or crashed)");
	}
	if (g->exit_status_known) {
		size_t l = strlen(g->reason);
		snprintf(g->reason + l, sizeof(g->reason) - l, "; QEMU %s",
			 proc_status_str(g->wait_status, st, sizeof(st)));
	}
	guest_last_log_line(g->dir, "console.log", g->console_tail, sizeof(g->console_tail));
}

/* Moves console.log to console.log.1 once it is larger than max. */
static void guest_console_rotate(const char *dir, size_t max)
{
	char path[PATH_MAX], old[PATH_MAX];
	struct stat st;
	int in, outfd;

	if (guest_path(path, sizeof(path), dir, "console.log") < 0 ||
	    guest_path(old, sizeof(old), dir, "console.log.1") < 0 || stat(path, &st) < 0 ||
	    (size_t)st.st_size <= max)
		return;
	/* QEMU keeps console.log open in append mode: copy, then truncate in place */
	in = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return;
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(in);
		return;
	}
	unlink(old);
	outfd = open(old, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (outfd >= 0) {
		char chunk[65536];
		ssize_t r;
		while ((r = read(in, chunk, sizeof(chunk))) > 0)
			if (write(outfd, chunk, (size_t)r) != r)
				break;
		close(outfd);
		if (ftruncate(in, 0) < 0)
			log_warn("truncating %s: %s", path, strerror(errno));
	}
	close(in);
}

int guest_poll(const struct guest_env *env, struct guest *g)
{
	struct qmp_event ev;
	int status, gone = 0;

	if (!g->running)
		return 0;
	if (g->have_qmp) {
		qmp_pump(&g->qmp, 0);
		while (qmp_next_event(&g->qmp, &ev) == 1) {
			guest_note_event(g, &ev);
			qmp_event_free(&ev);
		}
		if (qmp_closed(&g->qmp))
			gone = 1;
	}
	/* our child when cloudd is a child subreaper and started it */
	pid_t w = waitpid(g->pid, &status, WNOHANG);
	if (w == g->pid) {
		g->exit_status_known = 1;
		g->wait_status = status;
		gone = 2;
	} else if (proc_alive(g->pid) != 1) {
		gone = 2;
	}
	if (gone == 1) {
		/* the socket closes a moment before the process is gone */
		for (int i = 0; i < 200 && proc_alive(g->pid) == 1; i++)
			usleep(10000);
		if (waitpid(g->pid, &status, WNOHANG) == g->pid) {
			g->exit_status_known = 1;
			g->wait_status = status;
		}
		if (proc_alive(g->pid) == 1) {
			/* QMP broke but QEMU runs: reconnect next time */
			qmp_close(&g->qmp);
			g->have_qmp = 0;
			return 1;
		}
	}
	if (!gone) {
		if (!g->have_qmp) {
			char path[PATH_MAX];
			if (guest_path(path, sizeof(path), g->dir, "qmp.sock") == 0 &&
			    qmp_connect(&g->qmp, path, 1000) == 0)
				g->have_qmp = 1;
		}
		guest_console_rotate(g->dir, env->console_max ? env->console_max : GUEST_CONSOLE_MAX);
		return 1;
	}
	g->running = 0;
	qmp_close(&g->qmp);
	g->have_qmp = 0;
	guest_classify_exit(g);
	if (g->exit_kind == GUEST_EXIT_REQUESTED)
		log_info("guest %s: %s", g->id, g->reason);
	else
		log_warn("guest %s: %s; console: %s", g->id, g->reason, g->console_tail);
	return 0;
}

/* --- power actions ---------------------------------------------------------------- */

static int guest_command(struct guest *g, const char *cmd, struct errmsg *err)
{
	if (!g->running) {
		errmsg_set(err, "", "guest %s is not running", g->id);
		errno = ESRCH;
		return -1;
	}
	if (!g->have_qmp) {
		char path[PATH_MAX];
		if (guest_path(path, sizeof(path), g->dir, "qmp.sock") < 0 ||
		    qmp_connect(&g->qmp, path, GUEST_QMP_TIMEOUT_MS) < 0) {
			errmsg_set(err, "", "guest %s: %s", g->id, qmp_error(&g->qmp));
			return -1;
		}
		g->have_qmp = 1;
	}
	if (qmp_command(&g->qmp, cmd, NULL, GUEST_QMP_TIMEOUT_MS, NULL) < 0) {
		errmsg_set(err, "", "guest %s: %s: %s", g->id, cmd, qmp_error(&g->qmp));
		return -1;
	}
	return 0;
}

int guest_powerdown(struct guest *g, struct errmsg *err)
{
	g->stop_requested = 1;
	return guest_command(g, "system_powerdown", err);
}

int guest_reset(struct guest *g, struct errmsg *err)
{
	return guest_command(g, "system_reset", err);
}

int guest_force_stop(const struct guest_env *env, struct guest *g, struct errmsg *err)
{
	struct errmsg qerr = { 0 };
	char **argv;

	g->stop_requested = 1;
	if (!g->running)
		return 0;
	if (guest_command(g, "quit", &qerr) == 0 || (g->have_qmp && qmp_closed(&g->qmp)))
		return 0;
	/* no QMP: SIGKILL, but only the process that is still our QEMU */
	argv = guest_read_start(g->dir);
	if (argv && guest_pid_is_ours(env, g->dir, g->pid, argv)) {
		guest_argv_free(argv);
		if (kill(g->pid, SIGKILL) < 0 && errno != ESRCH) {
			errmsg_set(err, "", "guest %s: kill %d: %s", g->id, (int)g->pid, strerror(errno));
			return -1;
		}
		log_warn("guest %s: QMP unusable (%s): killed pid %d", g->id, qerr.msg, (int)g->pid);
		return 0;
	}
	guest_argv_free(argv);
	return 0;
}

void guest_release(struct guest *g)
{
	qmp_close(&g->qmp);
	g->have_qmp = 0;
}

int guest_remove_dir(const struct guest_env *env, const char *id, struct errmsg *err)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (guest_dir(env, id, dir, sizeof(dir)) < 0) {
		errmsg_set(err, "", "guest %s: run directory path too long", id);
		return -1;
	}
	/* everything in it is cloudd's: start.json, pid, sockets, logs, the seed */
	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : (errmsg_set(err, "", "guest %s: %s: %s", id, dir, strerror(errno)), -1);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (guest_path(path, sizeof(path), dir, de->d_name) == 0 && unlink(path) < 0 && errno == EISDIR)
			rmdir(path);
	}
	closedir(d);
	if (rmdir(dir) < 0 && errno != ENOENT) {
		errmsg_set(err, "", "guest %s: removing %s: %s", id, dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* --- console --------------------------------------------------------------------- */

/* Appends the last len bytes of dir/name to out. */
int guest_console_tail_file(const char *dir, const char *name, size_t len, struct buf *out)
{
	char path[PATH_MAX], chunk[65536];
	struct stat st;
	ssize_t r;
	int fd;

	if (guest_path(path, sizeof(path), dir, name) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(fd);
		return 0;
	}
	if (fstat(fd, &st) == 0 && (size_t)st.st_size > len)
		lseek(fd, st.st_size - (off_t)len, SEEK_SET);
	while (len > 0 && (r = read(fd, chunk, len < sizeof(chunk) ? len : sizeof(chunk))) > 0) {
		if (buf_append(out, chunk, (size_t)r) < 0)
			break;
		len -= (size_t)r;
	}
	close(fd);
	return 0;
}

int guest_console_tail(const char *dir, size_t len, struct buf *out)
{
	struct buf cur = BUF_INIT, old = BUF_INIT;
	int rc = 0;

	if (guest_console_tail_file(dir, "console.log", len, &cur) < 0)
		rc = -1;
	if (rc == 0 && cur.len < len && guest_console_tail_file(dir, "console.log.1", len - cur.len, &old) < 0)
		rc = -1;
	if (rc == 0 && (buf_append(out, old.data ? old.data : "", old.len) < 0 ||
			buf_append(out, cur.data ? cur.data : "", cur.len) < 0))
		rc = -1;
	buf_free(&cur);
	buf_free(&old);
	return rc;
}

/* --- restart policy -------------------------------------------------------------- */

int guest_should_restart(enum guest_restart policy, enum guest_exit_kind kind)
{
	if (kind == GUEST_EXIT_NONE || kind == GUEST_EXIT_REQUESTED)
		return 0;
	switch (policy) {
	case GUEST_RESTART_ALWAYS:
		return 1;
	case GUEST_RESTART_NEVER:
		return 0;
	case GUEST_RESTART_ON_FAILURE:
		return kind != GUEST_EXIT_POWEROFF;
	}
	return 0;
}

unsigned guest_restart_delay(unsigned n)
{
	unsigned d = 1;

	while (n > 1 && d < 300) {
		d *= 2;
		n--;
	}
	return d > 300 ? 300 : d;
}

const char *guest_exit_name(enum guest_exit_kind kind)
{
	switch (kind) {
	case GUEST_EXIT_NONE: return "none";
	case GUEST_EXIT_POWEROFF: return "poweroff";
	case GUEST_EXIT_REQUESTED: return "requested";
	case GUEST_EXIT_PANIC: return "panic";
	case GUEST_EXIT_SIGNAL: return "signal";
	case GUEST_EXIT_CRASH: return "crash";
	}
	return "unknown";
}
