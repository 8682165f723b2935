/* proc.c -- helper processes: run to completion with captured output, spawn in the background, inspect pids */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "proc.h"

long long proc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Resolves a program name through PATH before fork, so the child only calls
 * async-signal-safe functions (cloudd has threads).
 */
static int proc_resolve(const char *name, char *out, size_t outlen)
{
	const char *path, *p, *colon;
	int n;

	if (strchr(name, '/')) {
		n = snprintf(out, outlen, "%s", name);
		if (n < 0 || (size_t)n >= outlen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		return 0;
	}
	path = getenv("PATH");
	if (path == NULL || *path == '\0')
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (p = path; *p; p = colon + 1) {
		colon = strchr(p, ':');
		if (colon == NULL)
			colon = p + strlen(p);
		n = snprintf(out, outlen, "%.*s/%s", (int)(colon - p), p, name);
		if (n > 0 && (size_t)n < outlen && access(out, X_OK) == 0)
			return 0;
		if (*colon == '\0')
			break;
	}
	errno = ENOENT;
	return -1;
}

/* Closes every fd from `from` up; close_range when the kernel has it. */
static void proc_close_from(int from)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)from, ~0U, 0) == 0)
		return;
#endif
	for (int fd = from; fd < 4096; fd++)
		close(fd);
}

static void proc_child_exec(const char *path, char *const argv[], int in_fd, int out_fd)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
		_exit(127);
	proc_close_from(3);
	execv(path, argv);
	_exit(127);
}

/* Keeps only the last PROC_OUTPUT_MAX bytes in out. */
static void proc_keep_tail(struct buf *out)
{
	if (out->len <= PROC_OUTPUT_MAX)
		return;
	size_t drop = out->len - PROC_OUTPUT_MAX;
	memmove(out->data, out->data + drop, PROC_OUTPUT_MAX);
	out->len = PROC_OUTPUT_MAX;
	out->data[out->len] = '\0';
}

int proc_run(char *const argv[], const char *input, size_t input_len, struct buf *out,
	     int timeout_ms, int *status)
{
	char path[PATH_MAX];
	int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 };
	size_t written = 0;
	long long deadline = proc_now_ms() + timeout_ms;
	pid_t pid;
	int saved, wstatus;

	if (proc_resolve(argv[0], path, sizeof(path)) < 0)
		return -1;
	if (pipe2(in_pipe, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(out_pipe, O_CLOEXEC) < 0)
		goto err_in;
	pid = fork();
	if (pid < 0)
		goto err_out;
	if (pid == 0)
		proc_child_exec(path, argv, in_pipe[0], out_pipe[1]);
	close(in_pipe[0]);
	close(out_pipe[1]);
	in_pipe[0] = out_pipe[1] = -1;
	if (input == NULL || input_len == 0) {
		close(in_pipe[1]);
		in_pipe[1] = -1;
	} else {
		fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
	}

	while (out_pipe[0] >= 0) {
		struct pollfd pfd[2];
		int n = 0, in_idx = -1;
		long long left = deadline - proc_now_ms();

		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			errno = ETIMEDOUT;
			goto err_out;
		}
		pfd[n++] = (struct pollfd){ .fd = out_pipe[0], .events = POLLIN };
		if (in_pipe[1] >= 0) {
			in_idx = n;
			pfd[n++] = (struct pollfd){ .fd = in_pipe[1], .events = POLLOUT };
		}
		if (poll(pfd, (nfds_t)n, (int)(left > INT_MAX ? INT_MAX : left)) < 0) {
			if (errno == EINTR)
				continue;
			saved = errno;
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			errno = saved;
			goto err_out;
		}
		if (in_idx >= 0 && pfd[in_idx].revents) {
			ssize_t w = write(in_pipe[1], input + written, input_len - written);
			if (w > 0)
				written += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input_len) {
				close(in_pipe[1]);
				in_pipe[1] = -1;
			}
		}
		if (pfd[0].revents) {
			char chunk[4096];
			ssize_t r = read(out_pipe[0], chunk, sizeof(chunk));
			if (r > 0) {
				if (out) {
					buf_append(out, chunk, (size_t)r);
					proc_keep_tail(out);
				}
			} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(out_pipe[0]);
				out_pipe[0] = -1;
			}
		}
	}
	if (in_pipe[1] >= 0)
		close(in_pipe[1]);
	/* output closed: the program is exiting; still bounded by the deadline */
	for (;;) {
		pid_t w = waitpid(pid, &wstatus, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -1;
		if (proc_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			errno = ETIMEDOUT;
			return -1;
		}
		usleep(2000);
	}
	if (status)
		*status = wstatus;
	return 0;

err_out:
	fs_discard(out_pipe[0], NULL);
	fs_discard(out_pipe[1], NULL);
err_in:
	fs_discard(in_pipe[0], NULL);
	fs_discard(in_pipe[1], NULL);
	return -1;
}

/* The last non-empty line of s, at most max bytes of it. */
static void proc_last_line(const char *s, size_t len, char *out, size_t outlen)
{
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
		len--;
	size_t start = len;
	while (start > 0 && s[start - 1] != '\n')
		start--;
	snprintf(out, outlen, "%.*s", (int)(len - start), s + start);
}

int proc_run_ok(char *const argv[], const char *input, size_t input_len, int timeout_ms,
		char *why, size_t whylen)
{
	struct buf out = BUF_INIT;
	char st[64], line[256];
	int status;

	if (proc_run(argv, input, input_len, &out, timeout_ms, &status) < 0) {
		int saved = errno;
		snprintf(why, whylen, "%s: %s", argv[0],
			 saved == ETIMEDOUT ? "timed out" : strerror(saved));
		buf_free(&out);
		errno = saved;
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		buf_free(&out);
		return 0;
	}
	proc_last_line(out.data ? out.data : "", out.len, line, sizeof(line));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && out.len == 0)
		snprintf(why, whylen, "%s: could not be executed", argv[0]);
	else
		snprintf(why, whylen, "%s %s%s%s", argv[0], proc_status_str(status, st, sizeof(st)),
			 line[0] ? ": " : "", line);
	buf_free(&out);
	errno = EIO;
	return -1;
}

int proc_run_json(char *const argv[], int timeout_ms, json_t **doc, char *why, size_t whylen)
{
	struct buf out = BUF_INIT;
	int status;

	*doc = NULL;
	if (proc_run(argv, NULL, 0, &out, timeout_ms, &status) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		snprintf(why, whylen, "%s", out.data ? out.data : strerror(errno));
		buf_free(&out);
		errno = EIO;
		return -1;
	}
	*doc = json_loadb(out.data, out.len, 0, NULL);
	buf_free(&out);
	return 0;
}

int proc_spawn(char *const argv[], const char *log_path, pid_t *pid)
{
	char path[PATH_MAX];
	int in_fd, out_fd;
	pid_t p;

	if (proc_resolve(argv[0], path, sizeof(path)) < 0)
		return -1;
	in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in_fd < 0)
		return -1;
	out_fd = open(log_path ? log_path : "/dev/null",
		      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (out_fd < 0)
		goto err; /* out_fd -1: nothing to close */
	p = fork();
	if (p < 0)
		goto err;
	if (p == 0) {
		setsid();
		proc_child_exec(path, argv, in_fd, out_fd);
	}
	close(in_fd);
	close(out_fd);
	*pid = p;
	return 0;

err:
	fs_discard(out_fd, NULL);
	fs_discard(in_fd, NULL);
	return -1;
}

const char *proc_status_str(int status, char *out, size_t outlen)
{
	if (WIFEXITED(status))
		snprintf(out, outlen, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, outlen, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, outlen, "wait status 0x%x", status);
	return out;
}

int proc_alive(pid_t pid)
{
	char path[64], buf[512];
	ssize_t n;
	int fd;
	char *paren;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')' */
	paren = strrchr(buf, ')');
	if (paren == NULL || paren[1] == '\0' || paren[2] == '\0')
		return 0;
	return paren[2] == 'Z' || paren[2] == 'X' ? 0 : 1;
}

int proc_cmdline_matches(pid_t pid, char *const argv[])
{
	char path[64];
	struct buf cmd = BUF_INIT;
	char chunk[4096];
	size_t off = 0;
	ssize_t n;
	int fd, match = 1;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (buf_append(&cmd, chunk, (size_t)n) < 0 || cmd.len > 1024 * 1024) {
			match = 0;
			break;
		}
	}
	close(fd);
	for (size_t i = 0; match && argv[i]; i++) {
		size_t len = strlen(argv[i]) + 1;
		if (off + len > cmd.len || memcmp(cmd.data + off, argv[i], len) != 0)
			match = 0;
		off += len;
	}
	if (match && off != cmd.len)
		match = 0;
	buf_free(&cmd);
	return match;
}

int proc_read_pidfile(const char *path, pid_t *pid)
{
	char buf[32];
	char *end;
	ssize_t n;
	long v;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		errno = EINVAL;
		return -1;
	}
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf || (*end != '\n' && *end != '\0') || v <= 0 || v > INT_MAX) {
		errno = EINVAL;
		return -1;
	}
	*pid = (pid_t)v;
	return 0;
}
