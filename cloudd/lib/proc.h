/* proc.h -- helper processes: run to completion with captured output, spawn in the background, inspect pids */
#ifndef CLOUDD_PROC_H
#define CLOUDD_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "buf.h"

/* Output kept by proc_run: the last PROC_OUTPUT_MAX bytes of stdout+stderr. */
#define PROC_OUTPUT_MAX (64 * 1024)

/*
 * Runs argv[0] (searched in PATH) with argv, stdin fed from `input` (may be
 * NULL), stdout and stderr captured together into `out` (may be NULL; only the
 * tail is kept). Waits at most timeout_ms (then kills it: -1, ETIMEDOUT).
 * Returns 0 when the program ran (its wait status in *status), -1 with errno
 * when it could not be started (ENOENT: not found) or timed out.
 */
int proc_run(char *const argv[], const char *input, size_t input_len, struct buf *out,
	     int timeout_ms, int *status);

/*
 * Like proc_run, but 0 only when the program exited with status 0; otherwise
 * -1 and `why` ("mkfs.ext4 exited with status 1: <last line of output>").
 */
int proc_run_ok(char *const argv[], const char *input, size_t input_len, int timeout_ms,
		char *why, size_t whylen);

/*
 * Runs argv (no input) for what it prints as JSON (qemu-img info
 * --output=json): 0 and *doc, NULL when the output is not JSON, once it exited
 * with status 0; else -1 with errno EIO and `why`: its output, or why it could
 * not run.
 */
int proc_run_json(char *const argv[], int timeout_ms, json_t **doc, char *why, size_t whylen);

/*
 * Starts argv in the background with stdin from /dev/null and stdout/stderr
 * appended to log_path (or /dev/null when NULL), in its own session. The
 * caller owns the child (waitpid). Returns 0 and *pid, or -1 with errno.
 */
int proc_spawn(char *const argv[], const char *log_path, pid_t *pid);

/* "exited with status N" / "killed by signal N (SIGKILL)" */
const char *proc_status_str(int status, char *out, size_t outlen);

/* 1 when pid exists and is not a zombie, 0 when not, -1 on error. */
int proc_alive(pid_t pid);

/* 1 when /proc/<pid>/cmdline equals argv exactly, 0 when not (or pid gone). */
int proc_cmdline_matches(pid_t pid, char *const argv[]);

/* Reads a pid from a pidfile ("1234\n"); -1 with errno on error or garbage. */
int proc_read_pidfile(const char *path, pid_t *pid);

/* Milliseconds of CLOCK_MONOTONIC, for deadlines. */
long long proc_now_ms(void);

#endif
