/* conf.h -- "key = value" configuration files and command-line overrides, with typed getters */
#ifndef CLOUDD_CONF_H
#define CLOUDD_CONF_H

#include <stddef.h>
#include <stdio.h>

#include "errmsg.h"
#include "log.h"

/*
 * A configuration is a list of key = value settings read from a file (one per
 * line, '#' starts a comment line, blank lines ignored) and from the command
 * line (conf_set; a later setting of a key wins over an earlier one, so set the
 * command line after loading the file). Getters look a key up, convert and
 * range-check it, and mark it used; conf_check_unknown then rejects any key no
 * getter asked for, so typos never pass silently. Every error names where the
 * setting came from ("/etc/cloudd/cloudd.conf:3: listen: ...",
 * "command line: --listen: ...").
 *
 * Getters return 1 when the key was set, 0 when it was absent (the default is
 * stored), -1 with err filled when the value is invalid.
 */

struct conf_entry {
	char *key;
	char *value;
	const char *source; /* file path (owned by struct conf) or NULL for the command line */
	unsigned line;
	int used;
};

struct conf {
	struct conf_entry *entries;
	size_t count;
	char **sources; /* file paths the entries point to */
	size_t nsources;
};

#define CONF_INIT { NULL, 0, NULL, 0 }
#define CONF_MAX_FILE (1024 * 1024) /* bytes: larger configuration files are refused */

/* Reads a file; a missing file fails with errno ENOENT and err filled. */
int conf_load_file(struct conf *c, const char *path, struct errmsg *err);
/* Parses text as if it were the file `source` (for tests and embedded defaults). */
int conf_parse(struct conf *c, const char *source, const char *text, struct errmsg *err);
/* A command-line setting; overrides the file. */
int conf_set(struct conf *c, const char *key, const char *value);

int conf_get_str(struct conf *c, const char *key, const char *def, const char **out,
		 struct errmsg *err);
int conf_get_uint(struct conf *c, const char *key, unsigned long long def,
		  unsigned long long min, unsigned long long max, unsigned long long *out,
		  struct errmsg *err);
/* A byte count with an optional K, M or G suffix (powers of 1024). */
int conf_get_size(struct conf *c, const char *key, unsigned long long def,
		  unsigned long long min, unsigned long long max, unsigned long long *out,
		  struct errmsg *err);
/* yes/no, true/false, on/off, 1/0 */
int conf_get_bool(struct conf *c, const char *key, int def, int *out, struct errmsg *err);
/* One of the NULL-terminated choices; *out is its index. */
int conf_get_enum(struct conf *c, const char *key, const char *const *choices, int def,
		  int *out, struct errmsg *err);

/* Where a key was last set: "file:line: key" or "command line: --key". */
const char *conf_where(const struct conf *c, const char *key, char *out, size_t outlen);

/* Copies value (of key) into dst; -1 naming the key when it does not fit. */
int conf_copy(struct conf *c, const char *key, const char *value, char *dst, size_t dstlen,
	      struct errmsg *err);
/* An absolute path (or "") into dst: the setting, else def. */
int conf_get_path(struct conf *c, const char *key, const char *def, char *dst, size_t dstlen,
		  struct errmsg *err);

/* Fails on the first key that no getter has asked for. */
int conf_check_unknown(const struct conf *c, struct errmsg *err);

void conf_free(struct conf *c);

/*
 * A daemon's command line: -c/--config FILE, -n/--check, -h/--help,
 * -V/--version, and one --KEY VALUE per option, each also a key of the file.
 */
struct conf_option {
	const char *key;
	const char *arg;  /* placeholder of the value in --help: "DIR", "yes|no" */
	const char *help;
};

enum config_action { CONFIG_RUN, CONFIG_CHECK, CONFIG_HELP, CONFIG_VERSION };

/*
 * Reads the command line, then the configuration file it names (or
 * default_path, which may be absent), into c: the command line wins. The
 * file read ("" when none) goes to path (pathlen bytes). On --help and
 * --version, *action says so and no file is read. 0, or -1 with err naming the
 * option or file:line; c is left for the caller to conf_free either way.
 */
int conf_load_args(struct conf *c, int argc, char **argv, const struct conf_option *opts,
		   size_t nopts, const char *default_path, char *path, size_t pathlen,
		   enum config_action *action, struct errmsg *err);

/*
 * The settings of every daemon's HTTP server and log: log-level, syslog,
 * max-body and http-connections, with each daemon's defaults and limits,
 * read last by its apply (conf_read_server). They
 * go into the daemon's settings struct at the offsets that CONF_SERVER_FIELDS
 * takes from its members log_level, syslog, max_body and http_connections
 * (CONF_SERVER_CHECK checks their types).
 */
struct conf_server {
	int syslog;					      /* default of syslog */
	unsigned long long max_body, max_body_max;	      /* bytes: default, largest allowed */
	unsigned long long connections, connections_min, connections_max;
	size_t log_level_at, syslog_at, max_body_at, connections_at; /* offsets in the settings */
};

#define CONF_SERVER_FIELDS(type)                                                                         \
	.log_level_at = offsetof(type, log_level), .syslog_at = offsetof(type, syslog),                  \
	.max_body_at = offsetof(type, max_body), .connections_at = offsetof(type, http_connections)
#define CONF_SERVER_CHECK(type)                                                                          \
	_Static_assert(_Generic(((type *)0)->log_level, enum log_level: 1, default: 0) &&                \
			       _Generic(((type *)0)->syslog, int: 1, default: 0) &&                      \
			       _Generic(((type *)0)->max_body, unsigned long long: 1, default: 0) &&     \
			       _Generic(((type *)0)->http_connections, unsigned: 1, default: 0),         \
		       #type ": the server settings have the types conf_read_server writes")

/*
 * A daemon's command line and configuration file, described once: its options
 * (each also a key of the file), its default file, what --help says around
 * the options, and apply, which reads the merged settings into the daemon's
 * settings struct.
 */
struct conf_daemon {
	const char *about;		/* --help before the options: what the daemon is ("...\n" lines) */
	const char *notes;		/* --help after them: files, signals (paragraphs, each ending "\n\n") */
	const char *default_path;
	const struct conf_option *options;
	size_t noptions;
	int (*apply)(struct conf *c, void *settings, struct errmsg *err);
	struct conf_server server;	/* its HTTP server's and log's settings (conf_read_server) */
};

/*
 * conf_load_args with d's options, then (to run or check) d->apply on
 * settings; the whole of a daemon's config_load. The file read goes to path
 * (pathlen bytes). 0 or -1 with err.
 */
int conf_load_settings(const struct conf_daemon *d, int argc, char **argv, void *settings, char *path,
		       size_t pathlen, enum config_action *action, struct errmsg *err);
/* The daemon's --help: usage line, about, the options, how files and options combine, notes, exit codes. */
void conf_daemon_usage(const struct conf_daemon *d, FILE *out, const char *prog);

/*
 * Reads s's settings out of c into settings, then fails on any key that
 * nothing asked for (conf_check_unknown): the last step of a daemon's apply.
 */
int conf_read_server(struct conf *c, const struct conf_server *s, void *settings, struct errmsg *err);

#endif
