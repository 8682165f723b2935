/* ctl.h -- cloudctl: configuration, API calls, output as tables or JSON */
#ifndef CLOUDD_CTL_H
#define CLOUDD_CTL_H

#include <limits.h>
#include <stdio.h>

#include <jansson.h>

#include "buf.h"
#include "errmsg.h"
#include "httpc.h"

#define EXIT_API 1	 /* the API refused the request (its message is printed) */
#define EXIT_USAGE 100
#define EXIT_SYSTEM 111
#define CTL_TIMEOUT 30	 /* seconds per API request */
#define CTL_UPLOAD_TIMEOUT 86400 /* seconds an upload may take */
#define CTL_WAIT_MAX 900 /* seconds --wait follows an operation */

struct ctl_settings {
	char url[256];
	char key[80];
	char secret[160];
	char config_path[PATH_MAX];
	int json; /* -o json */
};

/*
 * Reads the configuration file (path, or $CLOUDD_CONFIG, or
 * ~/.config/cloudd/config; "url = ..", "key = ..", "secret = .." lines), then
 * lets CLOUDD_URL, CLOUDD_KEY and CLOUDD_SECRET override it. The file may be
 * absent when the environment has everything. envp-style lookups go through
 * getenv_fn so tests can supply their own environment.
 */
int ctl_settings_load(struct ctl_settings *s, const char *path, const char *(*getenv_fn)(const char *),
		      struct errmsg *err);

/* One column of a table: header and a member path "a.b" of each item. */
struct ctl_column {
	const char *header;
	const char *path;
	const char *format; /* NULL, "bytes" (human sizes), "labels" (k=v,k=v) */
};

/* Renders items (an array of objects) as an aligned table. */
int ctl_table(const struct ctl_column *cols, size_t ncols, json_t *items, struct buf *out);
/* A value as table text: strings as is, null "-", numbers, bytes as 2.0G. */
void ctl_cell(json_t *v, const char *format, char *out, size_t outlen);
/* Member by dotted path. */
json_t *ctl_path(json_t *doc, const char *path);

/* --- shared by the command modules (ctl.c, tenant.c) --- */

#define CTL_MAX_ARGS 8

struct ctl_query {
	struct sign_query_arg args[CTL_MAX_ARGS];
	size_t n;
};

void ctl_query_add(struct ctl_query *q, const char *name, const char *value);
/* One API call: 0 and *doc (NULL for 204) on 2xx, else the API's error printed and the exit code. */
int ctl_call(struct ctl_settings *s, const char *method, const char *path, const struct ctl_query *q,
	     json_t *body, json_t **doc);
/* PUTs the file to path, streamed and signed over its SHA-256; the answer as ctl_call's. */
int ctl_upload(struct ctl_settings *s, const char *path, const char *file, json_t **doc);
int ctl_list_all(struct ctl_settings *s, const char *path, struct ctl_query *q, json_t **items);
/* Every page of path (q: filters, or NULL) printed as a table of cols; 0 or an exit code. */
int ctl_list(struct ctl_settings *s, const char *path, struct ctl_query *q, const struct ctl_column *cols, size_t ncols);
/* ctl_list with the filters of argv[start..] (CTL_FLAG_QUERY flags; anything else is a usage error of cmd). */
struct ctl_flag;
int ctl_list_filtered(struct ctl_settings *s, const char *path, const struct ctl_flag *filters, size_t nfilters,
		      int argc, char **argv, int start, const char *cmd, const struct ctl_column *cols, size_t ncols);
void ctl_print_json(json_t *doc);
int ctl_print_list(struct ctl_settings *s, const struct ctl_column *cols, size_t ncols, json_t *items);
void ctl_print_object(struct ctl_settings *s, json_t *doc);
int ctl_usage_error(const char *fmt, const char *arg);
const char *ctl_opt(int argc, char **argv, int *i, const char *name);
/*
 * How a command-line flag lands in a request: each command lists its flags in
 * a table, and ctl_flags/ctl_flag_take apply them to the body (or query).
 * member "a.b" is member b of the object member a (made when first needed).
 */
enum ctl_flag_kind {
	CTL_FLAG_STRING,   /* --flag V: member V */
	CTL_FLAG_INT,	   /* --flag N: member N, an integer */
	CTL_FLAG_NULLABLE, /* --flag V: member V, or null when V is the flag's none word */
	CTL_FLAG_TRUE,	   /* --flag (no value): member true */
	CTL_FLAG_LIST,	   /* --flag V, repeatable: V appended to the array member */
	CTL_FLAG_MAP,	   /* --flag K=V, repeatable: K: V in the object member */
	CTL_FLAG_QUERY,	   /* --flag V: query argument member=V */
	CTL_FLAG_FILE,	   /* --flag FILE: the file's text (at most 1 MiB) as member */
};

struct ctl_flag {
	const char *name; /* "--name" */
	enum ctl_flag_kind kind;
	const char *member;
	const char *none; /* CTL_FLAG_NULLABLE: the value that means null ("-", "default") */
};

#define CTL_NFLAGS(table) (sizeof(table) / sizeof((table)[0]))

/*
 * Applies argv[*i] if it is one of the n flags: 1 (and *i on its value), 0 when
 * it is none of them (or lacks its value), -1 when its value is bad (said on stderr).
 */
int ctl_flag_take(const struct ctl_flag *flags, size_t n, int argc, char **argv, int *i, json_t *body,
		  struct ctl_query *q);
/* Applies argv[start..] as flags; any other argument is a usage error of cmd. 0 or an exit code. */
int ctl_flags(const struct ctl_flag *flags, size_t n, int argc, char **argv, int start, json_t *body,
	      struct ctl_query *q, const char *cmd);
/* The call (body, may be NULL, is consumed), then its answer, if any, printed as an object; 0 or an exit code. */
int ctl_request(struct ctl_settings *s, const char *method, const char *path, json_t *body);

/*
 * An API collection as cloudctl's "list [FILTERS]", "show ID" and "rm ID":
 * every command that has them takes this one path.
 */
struct ctl_resource {
	const char *command;		/* "nodes": names the list in its usage errors */
	const char *path;		/* "/v1/nodes"; an item is path/ID */
	const char *too_long;		/* usage error of an ID too long for a path: "node id too long: %s";
					 * NULL: "argument too long" */
	const struct ctl_column *cols;	/* list's table; NULL: no list */
	size_t ncols;
	const struct ctl_flag *filters; /* list's --flags (CTL_FLAG_QUERY); none: list takes no argument */
	size_t nfilters;
	int show;			/* "show ID" (GET) */
	const char *rm;			/* the word of "rm ID" (DELETE): "rm", "revoke"; NULL: none */
};

/* path/ID of r into out: 0, or the exit code of the usage error it printed. */
int ctl_resource_path(const struct ctl_resource *r, const char *id, char *out, size_t outlen);
/* argv: list, show or rm of r: the exit code; -1 when argv is none of them (the caller goes on). */
int ctl_resource_run(struct ctl_settings *s, const struct ctl_resource *r, int argc, char **argv);

/* Follows an operation until it ends, with progress on stderr; 0 on success. */
int ctl_wait(struct ctl_settings *s, const char *id);

/* tenant.c: accounts, keys, instances, types, templates, SSH keys, security groups; -1 when argv[0] is none of them. */
int ctl_tenant_run(struct ctl_settings *s, int argc, char **argv);
extern const char ctl_tenant_usage[];

/* Runs a command line (argv after global options); returns the exit code. */
int ctl_run(struct ctl_settings *s, int argc, char **argv);
void ctl_usage(FILE *out);

#endif
