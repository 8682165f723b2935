/* ctl.c -- cloudctl's commands: nodes, machines, images, events, operations over the signed API */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "conf.h"
#include "ctl.h"
#include "fsutil.h"

/* --- settings -------------------------------------------------------------------- */

static int ctl_copy(char *dst, size_t len, const char *v, const char *what, struct errmsg *err)
{
	if (strlen(v) >= len) {
		errmsg_set(err, what, "longer than %zu characters", len - 1);
		return -1;
	}
	strcpy(dst, v);
	return 0;
}

int ctl_settings_load(struct ctl_settings *s, const char *path, const char *(*getenv_fn)(const char *),
		      struct errmsg *err)
{
	struct conf c = CONF_INIT;
	const char *v, *home = getenv_fn("HOME");
	char def[PATH_MAX];
	int explicit = path != NULL, rc = -1;

	memset(s->url, 0, sizeof(s->url));
	s->key[0] = s->secret[0] = '\0';
	if (path == NULL)
		path = getenv_fn("CLOUDD_CONFIG"), explicit = path != NULL;
	if (path == NULL && home) {
		if (snprintf(def, sizeof(def), "%s/.config/cloudd/config", home) >= (int)sizeof(def)) {
			errmsg_set(err, "HOME", "path too long");
			return -1;
		}
		path = def;
	}
	s->config_path[0] = '\0';
	if (path) {
		if (conf_load_file(&c, path, err) < 0) {
			if (explicit || errno != ENOENT)
				goto out;
			*err = (struct errmsg){ 0 };
		} else {
			snprintf(s->config_path, sizeof(s->config_path), "%s", path);
		}
	}
	if (conf_get_str(&c, "url", "", &v, err) < 0 || ctl_copy(s->url, sizeof(s->url), v, "url", err) < 0 ||
	    conf_get_str(&c, "key", "", &v, err) < 0 || ctl_copy(s->key, sizeof(s->key), v, "key", err) < 0 ||
	    conf_get_str(&c, "secret", "", &v, err) < 0 ||
	    ctl_copy(s->secret, sizeof(s->secret), v, "secret", err) < 0 || conf_check_unknown(&c, err) < 0)
		goto out;
	if ((v = getenv_fn("CLOUDD_URL")) && ctl_copy(s->url, sizeof(s->url), v, "CLOUDD_URL", err) < 0)
		goto out;
	if ((v = getenv_fn("CLOUDD_KEY")) && ctl_copy(s->key, sizeof(s->key), v, "CLOUDD_KEY", err) < 0)
		goto out;
	if ((v = getenv_fn("CLOUDD_SECRET")) && ctl_copy(s->secret, sizeof(s->secret), v, "CLOUDD_SECRET", err) < 0)
		goto out;
	if (s->url[0] == '\0' || s->key[0] == '\0' || s->secret[0] == '\0') {
		errmsg_set(err, s->url[0] == '\0' ? "url" : s->key[0] == '\0' ? "key" : "secret",
			   "not set: put url, key and secret in %s or set CLOUDD_URL, CLOUDD_KEY, CLOUDD_SECRET",
			   path ? path : "~/.config/cloudd/config");
		goto out;
	}
	if (strncmp(s->url, "http://", 7) != 0) {
		errmsg_set(err, "url", "expected http://HOST:PORT, got \"%s\"", s->url);
		goto out;
	}
	{
		size_t n = strlen(s->url);
		while (n > 7 && s->url[n - 1] == '/')
			s->url[--n] = '\0';
	}
	rc = 0;
out:
	conf_free(&c);
	return rc;
}

/* --- output ------------------------------------------------------------------------ */

json_t *ctl_path(json_t *doc, const char *path)
{
	char part[64];
	const char *p = path;

	while (doc && *p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (len >= sizeof(part))
			return NULL;
		memcpy(part, p, len);
		part[len] = '\0';
		doc = json_object_get(doc, part);
		p += len + (dot ? 1 : 0);
	}
	return doc;
}

void ctl_cell(json_t *v, const char *format, char *out, size_t outlen)
{
	if (v == NULL || json_is_null(v)) {
		snprintf(out, outlen, "-");
	} else if (format && strcmp(format, "bytes") == 0 && json_is_integer(v)) {
		static const char units[] = "BKMGTP";
		double x = (double)json_integer_value(v);
		int u = 0;
		while (x >= 1024 && u < 5)
			x /= 1024, u++;
		if (u == 0)
			snprintf(out, outlen, "%.0fB", x);
		else
			snprintf(out, outlen, "%.1f%c", x, units[u]);
	} else if (format && strcmp(format, "labels") == 0 && json_is_object(v)) {
		const char *k;
		json_t *val;
		size_t len = 0;
		out[0] = '\0';
		json_object_foreach(v, k, val) {
			int n = snprintf(out + len, outlen - len, "%s%s=%s", len ? "," : "", k,
					 json_is_string(val) ? json_string_value(val) : "?");
			if (n < 0 || (size_t)n >= outlen - len)
				break;
			len += (size_t)n;
		}
		if (len == 0)
			snprintf(out, outlen, "-");
	} else if (json_is_string(v)) {
		snprintf(out, outlen, "%s", json_string_value(v));
	} else if (json_is_integer(v)) {
		snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
	} else if (json_is_true(v)) {
		snprintf(out, outlen, "yes");
	} else if (json_is_false(v)) {
		snprintf(out, outlen, "no");
	} else {
		char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		snprintf(out, outlen, "%s", text ? text : "?");
		free(text);
	}
	/* one line per row */
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
}

int ctl_table(const struct ctl_column *cols, size_t ncols, json_t *items, struct buf *out)
{
	size_t nrows = json_array_size(items), width[16] = { 0 };
	char cell[256];
	int rc = 0;

	if (ncols > 16)
		return -1;
	for (size_t c = 0; c < ncols; c++)
		width[c] = strlen(cols[c].header);
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			ctl_cell(ctl_path(json_array_get(items, r), cols[c].path), cols[c].format, cell, sizeof(cell));
			if (strlen(cell) > width[c])
				width[c] = strlen(cell);
		}
	}
	for (size_t r = 0; r <= nrows && rc == 0; r++) {
		for (size_t c = 0; c < ncols; c++) {
			if (r == 0)
				snprintf(cell, sizeof(cell), "%s", cols[c].header);
			else
				ctl_cell(ctl_path(json_array_get(items, r - 1), cols[c].path), cols[c].format, cell,
					 sizeof(cell));
			if (c + 1 < ncols)
				rc |= buf_printf(out, "%-*s  ", (int)width[c], cell);
			else
				rc |= buf_printf(out, "%s\n", cell);
		}
	}
	return rc ? -1 : 0;
}

/* --- API calls --------------------------------------------------------------------- */


void ctl_query_add(struct ctl_query *q, const char *name, const char *value)
{
	if (value && q->n < CTL_MAX_ARGS)
		q->args[q->n++] = (struct sign_query_arg){ name, value };
}

/*
 * One API call. On a 2xx answer returns 0 and *doc (NULL for 204); otherwise
 * prints the API's error and returns the exit code.
 */
/* A response's outcome: 0 and *doc on 2xx; else the API's error printed and the exit code. Frees r. */
static int ctl_answer(struct httpc_response *r, json_t **doc)
{
	int rc;

	if (r->status >= 200 && r->status < 300) {
		if (r->body.len)
			*doc = json_loadb(r->body.data, r->body.len, 0, NULL);
		httpc_response_free(r);
		if (r->status != 204 && *doc == NULL) {
			fprintf(stderr, "cloudctl: the controller answered %ld with a body that is not JSON\n", r->status);
			return EXIT_SYSTEM;
		}
		return 0;
	}
	{
		json_t *e = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
		const char *msg = json_string_value(ctl_path(e, "error.message"));
		const char *code = json_string_value(ctl_path(e, "error.code"));
		fprintf(stderr, "cloudctl: %s (HTTP %ld%s%s)\n", msg ? msg : "the controller refused the request",
			r->status, code ? " " : "", code ? code : "");
		json_decref(e);
	}
	rc = r->status >= 500 ? EXIT_SYSTEM : EXIT_API;
	httpc_response_free(r);
	return rc;
}

int ctl_call(struct ctl_settings *s, const char *method, const char *path, const struct ctl_query *q,
	     json_t *body, json_t **doc)
{
	struct httpc_cred cred = { s->url, s->key, s->secret, 0 };
	struct httpc_response r;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc;

	*doc = NULL;
	rc = httpc_signed(&cred, method, path, q ? q->args : NULL, q ? q->n : 0, text, text ? strlen(text) : 0,
			  CTL_TIMEOUT, &r);
	free(text);
	if (rc < 0) {
		fprintf(stderr, "cloudctl: cannot reach the controller: %s\n", r.error);
		httpc_response_free(&r);
		return EXIT_SYSTEM;
	}
	return ctl_answer(&r, doc);
}

int ctl_upload(struct ctl_settings *s, const char *path, const char *file, json_t **doc)
{
	struct httpc_cred cred = { s->url, s->key, s->secret, 0 };
	struct httpc_response r;
	struct sha256_ctx sha;
	unsigned char chunk[65536];
	char hex[SIGN_HEX_LEN + 1];
	unsigned long long len = 0;
	size_t n;
	FILE *f;
	int rc;

	*doc = NULL;
	f = fopen(file, "rb");
	if (f == NULL) {
		fprintf(stderr, "cloudctl: %s: %s\n", file, strerror(errno));
		return EXIT_USAGE;
	}
	sha256_init(&sha);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		sha256_update(&sha, n, chunk);
		len += n;
	}
	if (ferror(f) || fseek(f, 0, SEEK_SET) < 0) {
		fprintf(stderr, "cloudctl: reading %s: %s\n", file, strerror(errno));
		fclose(f);
		return EXIT_USAGE;
	}
	sign_sha256_final_hex(&sha, hex);
	if (!s->json)
		fprintf(stderr, "uploading %s: %llu bytes, sha256 %s\n", file, len, hex);
	rc = httpc_signed_upload(&cred, "PUT", path, f, len, hex, CTL_UPLOAD_TIMEOUT, &r);
	fclose(f);
	if (rc < 0) {
		fprintf(stderr, "cloudctl: uploading %s: %s\n", file, r.error);
		httpc_response_free(&r);
		return EXIT_SYSTEM;
	}
	return ctl_answer(&r, doc);
}

/* Follows next_cursor until the end; *items gets every item. */
int ctl_list_all(struct ctl_settings *s, const char *path, struct ctl_query *q, json_t **items)
{
	char cursor[128] = "";
	size_t base = q->n;

	*items = json_array();
	for (;;) {
		json_t *page;
		const char *next;
		int rc;

		q->n = base;
		ctl_query_add(q, "limit", "1000");
		if (cursor[0])
			ctl_query_add(q, "cursor", cursor);
		rc = ctl_call(s, "GET", path, q, NULL, &page);
		if (rc) {
			json_decref(*items);
			*items = NULL;
			return rc;
		}
		json_array_extend(*items, json_object_get(page, "items"));
		next = json_string_value(json_object_get(page, "next_cursor"));
		if (next == NULL || strlen(next) >= sizeof(cursor)) {
			json_decref(page);
			return 0;
		}
		snprintf(cursor, sizeof(cursor), "%s", next);
		json_decref(page);
	}
}

void ctl_print_json(json_t *doc)
{
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (text) {
		puts(text);
		free(text);
	}
}

int ctl_print_list(struct ctl_settings *s, const struct ctl_column *cols, size_t ncols, json_t *items)
{
	struct buf out = BUF_INIT;

	if (s->json) {
		ctl_print_json(items);
		return 0;
	}
	if (ctl_table(cols, ncols, items, &out) < 0) {
		buf_free(&out);
		return EXIT_SYSTEM;
	}
	fputs(out.data ? out.data : "", stdout);
	buf_free(&out);
	return 0;
}

/* "key: value" lines for one object (nested objects as JSON). */
void ctl_print_object(struct ctl_settings *s, json_t *doc)
{
	const char *k;
	json_t *v;
	char cell[4096];

	if (s->json) {
		ctl_print_json(doc);
		return;
	}
	json_object_foreach(doc, k, v) {
		ctl_cell(v, strstr(k, "bytes") || strcmp(k, "size") == 0 ? "bytes" : NULL, cell, sizeof(cell));
		printf("%-18s %s\n", k, cell);
	}
}

int ctl_usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "cloudctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see cloudctl --help)\n");
	return EXIT_USAGE;
}

/* Option "--name VALUE" parsing shared by the commands: returns index past it or -1. */
const char *ctl_opt(int argc, char **argv, int *i, const char *name)
{
	if (strcmp(argv[*i], name) != 0)
		return NULL;
	if (*i + 1 >= argc)
		return NULL;
	*i += 1;
	return argv[*i];
}

int ctl_list(struct ctl_settings *s, const char *path, struct ctl_query *q, const struct ctl_column *cols, size_t ncols)
{
	struct ctl_query none = { .n = 0 };
	json_t *items;
	int rc;

	if ((rc = ctl_list_all(s, path, q ? q : &none, &items)))
		return rc;
	rc = ctl_print_list(s, cols, ncols, items);
	json_decref(items);
	return rc;
}

int ctl_list_filtered(struct ctl_settings *s, const char *path, const struct ctl_flag *filters, size_t nfilters,
		      int argc, char **argv, int start, const char *cmd, const struct ctl_column *cols, size_t ncols)
{
	struct ctl_query q = { .n = 0 };
	int rc = ctl_flags(filters, nfilters, argc, argv, start, NULL, &q, cmd);

	return rc ? rc : ctl_list(s, path, &q, cols, ncols);
}

int ctl_request(struct ctl_settings *s, const char *method, const char *path, json_t *body)
{
	json_t *doc;
	int rc = ctl_call(s, method, path, NULL, body, &doc);

	json_decref(body);
	if (rc)
		return rc;
	if (doc)
		ctl_print_object(s, doc);
	json_decref(doc);
	return 0;
}

int ctl_resource_path(const struct ctl_resource *r, const char *id, char *out, size_t outlen)
{
	if (snprintf(out, outlen, "%s/%s", r->path, id) < (int)outlen)
		return 0;
	if (r->too_long)
		return ctl_usage_error(r->too_long, id);
	fprintf(stderr, "cloudctl: argument too long\n");
	return EXIT_USAGE;
}

int ctl_resource_run(struct ctl_settings *s, const struct ctl_resource *r, int argc, char **argv)
{
	char path[256], cmd[64];
	int rc;

	if (argc < 1)
		return -1;
	if (r->cols && strcmp(argv[0], "list") == 0 && (r->nfilters || argc == 1)) {
		snprintf(cmd, sizeof(cmd), "%s list", r->command);
		return ctl_list_filtered(s, r->path, r->filters, r->nfilters, argc, argv, 1, cmd, r->cols, r->ncols);
	}
	if (argc != 2 || !((r->show && strcmp(argv[0], "show") == 0) || (r->rm && strcmp(argv[0], r->rm) == 0)))
		return -1;
	if ((rc = ctl_resource_path(r, argv[1], path, sizeof(path))))
		return rc;
	return ctl_request(s, strcmp(argv[0], "show") == 0 ? "GET" : "DELETE", path, NULL);
}

/* The object that holds member ("a.b": object a, made when absent) and the last name in key. */
static json_t *ctl_flag_target(json_t *body, const char *member, char *key, size_t keylen)
{
	const char *dot = strchr(member, '.');
	json_t *obj;
	char outer[64];

	if (dot == NULL) {
		snprintf(key, keylen, "%s", member);
		return body;
	}
	snprintf(outer, sizeof(outer), "%.*s", (int)(dot - member), member);
	snprintf(key, keylen, "%s", dot + 1);
	obj = json_object_get(body, outer);
	if (!json_is_object(obj)) {
		obj = json_object();
		json_object_set_new(body, outer, obj);
	}
	return obj;
}

/* The array or object member of target, made when absent. */
static json_t *ctl_flag_container(json_t *target, const char *key, int array)
{
	json_t *c = json_object_get(target, key);

	if (array ? !json_is_array(c) : !json_is_object(c)) {
		c = array ? json_array() : json_object();
		json_object_set_new(target, key, c);
	}
	return c;
}

static int ctl_flag_apply(const struct ctl_flag *f, const char *v, json_t *body, struct ctl_query *q)
{
	char key[128], mkey[128], *end;
	json_t *target;

	if (f->kind == CTL_FLAG_QUERY) {
		ctl_query_add(q, f->member, v);
		return 0;
	}
	target = ctl_flag_target(body, f->member, key, sizeof(key));
	switch (f->kind) {
	case CTL_FLAG_STRING:
		json_object_set_new(target, key, json_string(v));
		return 0;
	case CTL_FLAG_NULLABLE:
		json_object_set_new(target, key, strcmp(v, f->none) == 0 ? json_null() : json_string(v));
		return 0;
	case CTL_FLAG_TRUE:
		json_object_set_new(target, key, json_true());
		return 0;
	case CTL_FLAG_INT: {
		long long n;

		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno || *end || v[0] == '\0') {
			fprintf(stderr, "cloudctl: %s: expected an integer, got \"%s\"\n", f->name, v);
			return -1;
		}
		json_object_set_new(target, key, json_integer(n));
		return 0;
	}
	case CTL_FLAG_LIST:
		json_array_append_new(ctl_flag_container(target, key, 1), json_string(v));
		return 0;
	case CTL_FLAG_MAP: {
		const char *eq = strchr(v, '=');

		if (eq == NULL || eq == v || (size_t)(eq - v) >= sizeof(mkey)) {
			ctl_usage_error("--label: expected KEY=VALUE, got %s", v);
			return -1;
		}
		snprintf(mkey, sizeof(mkey), "%.*s", (int)(eq - v), v);
		json_object_set_new(ctl_flag_container(target, key, 0), mkey, json_string(eq + 1));
		return 0;
	}
	case CTL_FLAG_FILE: {
		struct buf text = BUF_INIT;

		if (fs_read_file(v, 1 << 20, &text) < 0) {
			fprintf(stderr, "cloudctl: %s %s: %s\n", f->name, v, strerror(errno));
			buf_free(&text);
			return -1;
		}
		json_object_set_new(target, key, json_stringn(text.data ? text.data : "", text.len));
		buf_free(&text);
		return 0;
	}
	case CTL_FLAG_QUERY:
		break;
	}
	return 0;
}

int ctl_flag_take(const struct ctl_flag *flags, size_t n, int argc, char **argv, int *i, json_t *body,
		  struct ctl_query *q)
{
	for (size_t k = 0; k < n; k++) {
		const char *v;

		if (flags[k].kind == CTL_FLAG_TRUE) {
			if (strcmp(argv[*i], flags[k].name) != 0)
				continue;
			v = "";
		} else if ((v = ctl_opt(argc, argv, i, flags[k].name)) == NULL) {
			continue;
		}
		return ctl_flag_apply(&flags[k], v, body, q) < 0 ? -1 : 1;
	}
	return 0;
}

int ctl_flags(const struct ctl_flag *flags, size_t n, int argc, char **argv, int start, json_t *body,
	      struct ctl_query *q, const char *cmd)
{
	for (int i = start; i < argc; i++) {
		int r = ctl_flag_take(flags, n, argc, argv, &i, body, q);

		if (r < 0)
			return EXIT_USAGE;
		if (r == 0) {
			char fmt[128];

			snprintf(fmt, sizeof(fmt), "%s: unknown argument %%s", cmd);
			return ctl_usage_error(fmt, argv[i]);
		}
	}
	return 0;
}

/* --- nodes and machines: columns, filters, list/show/rm ------------------------------ */

static const struct ctl_column node_cols[] = {
	{ "ID", "id", NULL },	      { "MAC", "mac", NULL },	       { "STATE", "state", NULL },
	{ "HOSTNAME", "hostname", NULL }, { "CPUS", "cpu_count", NULL },   { "MEMORY", "memory_bytes", "bytes" },
	{ "ROLE", "role", NULL },	  { "IMAGE", "image_version", NULL }, { "ADDRESS", "address", NULL },
	{ "LAST-HEARTBEAT", "last_heartbeat_at", NULL },
};

static const struct ctl_column machine_cols[] = {
	{ "ID", "id", NULL },	  { "MAC", "mac", NULL },	       { "NAME", "name", NULL },
	{ "ROLE", "role", NULL }, { "IMAGE", "image_version", NULL }, { "LABELS", "labels", "labels" },
	{ "SOURCE", "source", NULL }, { "STATE", "state", NULL },
};

static const struct ctl_flag node_filters[] = {
	{ "--state", CTL_FLAG_QUERY, "state", NULL },
	{ "--role", CTL_FLAG_QUERY, "role", NULL },
};
static const struct ctl_flag machine_filters[] = {
	{ "--role", CTL_FLAG_QUERY, "role", NULL },
	{ "--state", CTL_FLAG_QUERY, "state", NULL },
};

/* list, show and rm (ctl_resource_run); their other commands are below */
static const struct ctl_resource nodes = {
	"nodes", "/v1/nodes", "node id too long: %s", node_cols, CTL_NFLAGS(node_cols),
	node_filters, CTL_NFLAGS(node_filters), 1, "rm",
};
static const struct ctl_resource machines = {
	"machines", "/v1/machines", "machine id too long: %s", machine_cols, CTL_NFLAGS(machine_cols),
	machine_filters, CTL_NFLAGS(machine_filters), 1, "rm",
};

static int ctl_nodes(struct ctl_settings *s, int argc, char **argv)
{
	int rc;

	if (argc < 1)
		return ctl_usage_error("nodes: expected list, show ID or rm ID%s", "");
	if ((rc = ctl_resource_run(s, &nodes, argc, argv)) >= 0)
		return rc;
	return ctl_usage_error("nodes: expected list, show ID or rm ID, got %s", argv[0]);
}

/* --- machines ---------------------------------------------------------------------- */

/* --name, --role, --label k=v (repeatable), --image V|default into body. */
static int ctl_machine_opts(int argc, char **argv, int start, json_t *body)
{
	static const struct ctl_flag flags[] = {
		{ "--name", CTL_FLAG_NULLABLE, "name", "-" },
		{ "--role", CTL_FLAG_STRING, "role", NULL },
		{ "--image", CTL_FLAG_NULLABLE, "image_version", "default" },
		{ "--label", CTL_FLAG_MAP, "labels", NULL },
	};

	return ctl_flags(flags, CTL_NFLAGS(flags), argc, argv, start, body, NULL, "machines");
}

static int ctl_machines(struct ctl_settings *s, int argc, char **argv)
{
	char path[256];
	json_t *body;
	int rc;

	if (argc < 1)
		return ctl_usage_error("machines: expected add, list, show, set, approve or rm%s", "");
	if ((rc = ctl_resource_run(s, &machines, argc, argv)) >= 0)
		return rc;
	if (strcmp(argv[0], "add") == 0) {
		if (argc < 2)
			return ctl_usage_error("machines add: expected MAC [--name N] [--role R] [--label K=V].. [--image V]%s", "");
		body = json_pack("{s:s}", "mac", argv[1]);
		if ((rc = ctl_machine_opts(argc, argv, 2, body))) {
			json_decref(body);
			return rc;
		}
		return ctl_request(s, "POST", "/v1/machines", body);
	}
	if (argc >= 2 && (rc = ctl_resource_path(&machines, argv[1], path, sizeof(path))))
		return rc;
	if (strcmp(argv[0], "set") == 0 && argc >= 3) {
		body = json_object();
		if ((rc = ctl_machine_opts(argc, argv, 2, body))) {
			json_decref(body);
			return rc;
		}
		return ctl_request(s, "PATCH", path, body);
	}
	if (strcmp(argv[0], "approve") == 0 && argc == 2) {
		if (strlen(path) + strlen("/approve") >= sizeof(path))
			return ctl_usage_error(machines.too_long, argv[1]);
		strcat(path, "/approve");
		return ctl_request(s, "POST", path, NULL);
	}
	return ctl_usage_error("machines: expected add MAC, list, show ID, set ID OPTIONS, approve ID or rm ID, got %s",
			       argv[0]);
}

/* --- operations ---------------------------------------------------------------------- */

/* Polls an operation until it is no longer pending. */
int ctl_wait(struct ctl_settings *s, const char *id)
{
	char path[128];
	time_t started = time(NULL), deadline = started + CTL_WAIT_MAX, next_progress = 2;
	json_t *op;
	int rc;

	snprintf(path, sizeof(path), "/v1/operations/%.64s", id);
	for (;;) {
		const char *state;
		if ((rc = ctl_call(s, "GET", path, NULL, NULL, &op)))
			return rc;
		state = json_string_value(json_object_get(op, "state"));
		if (state && strcmp(state, "pending") != 0) {
			int ok = strcmp(state, "success") == 0;
			if (s->json)
				ctl_print_json(op);
			else if (ok)
				printf("operation %s: success\n", id);
			if (!ok)
				fprintf(stderr, "cloudctl: operation %s failed: %s\n", id,
					json_string_value(json_object_get(op, "reason")) ?: "no reason given");
			json_decref(op);
			return ok ? 0 : EXIT_API;
		}
		json_decref(op);
		if (!s->json && time(NULL) - started >= next_progress) {
			fprintf(stderr, "operation %s: pending (%lld s)\n", id, (long long)(time(NULL) - started));
			next_progress += 2;
		}
		if (time(NULL) > deadline) {
			fprintf(stderr, "cloudctl: operation %s still pending after %d s\n", id, CTL_WAIT_MAX);
			return EXIT_SYSTEM;
		}
		usleep(300000);
	}
}

static const struct ctl_resource operations = {
	"operations", "/v1/operations", "operation id too long: %s", NULL, 0, NULL, 0, 1, NULL,
};

static int ctl_operations(struct ctl_settings *s, int argc, char **argv)
{
	int rc;

	if ((rc = ctl_resource_run(s, &operations, argc, argv)) >= 0)
		return rc;
	if (argc == 2 && strcmp(argv[0], "wait") == 0)
		return ctl_wait(s, argv[1]);
	return ctl_usage_error("operations: expected show ID or wait ID%s", "");
}

/* --- images -------------------------------------------------------------------------- */

static const struct ctl_column image_cols[] = {
	{ "VERSION", "version", NULL },
	{ "DEFAULT", "default", NULL },
	{ "KERNEL", "files.vmlinuz.size", "bytes" },
	{ "INITRAMFS", "initramfs_size", "bytes" },
	{ "PINNED", "pinned_machines", NULL },
	{ "CREATED", "created_at", NULL },
};

/* list is its own (see ctl_images); show V and rm V */
static const struct ctl_resource images = {
	"images", "/v1/images", "image version too long: %s", NULL, 0, NULL, 0, 1, "rm",
};

static int ctl_images(struct ctl_settings *s, int argc, char **argv)
{
	json_t *doc, *body;
	int rc;

	if (argc < 1)
		return ctl_usage_error("images: expected list, show, default, publish or rm%s", "");
	if (strcmp(argv[0], "list") == 0 && argc == 1) {
		struct ctl_query q = { .n = 0 };
		if ((rc = ctl_list_all(s, "/v1/images", &q, &doc)))
			return rc;
		/* "initramfs.img" has a dot: flatten the size for the table */
		for (size_t i = 0; i < json_array_size(doc); i++) {
			json_t *img = json_array_get(doc, i);
			json_object_set(img, "initramfs_size", ctl_path(json_object_get(json_object_get(img, "files"), "initramfs.img"), "size"));
		}
		{
			struct ctl_column cols[6];
			memcpy(cols, image_cols, sizeof(cols));
			cols[3].path = "initramfs_size";
			if (s->json)
				for (size_t i = 0; i < json_array_size(doc); i++)
					json_object_del(json_array_get(doc, i), "initramfs_size");
			rc = ctl_print_list(s, cols, 6, doc);
		}
		json_decref(doc);
		return rc;
	}
	if ((rc = ctl_resource_run(s, &images, argc, argv)) >= 0)
		return rc;
	if (strcmp(argv[0], "default") == 0 && argc == 2) {
		body = json_pack("{s:s}", "version", argv[1]);
		rc = ctl_call(s, "PUT", "/v1/images/default", NULL, body, &doc);
		json_decref(body);
		if (rc)
			return rc;
		if (!s->json)
			printf("default image: %s\n", argv[1]);
		else
			ctl_print_json(doc);
		json_decref(doc);
		return 0;
	}
	if (strcmp(argv[0], "publish") == 0 && argc >= 2) {
		char dir[PATH_MAX];
		int wait = 1;
		body = json_object();
		if (realpath(argv[1], dir) == NULL) {
			json_decref(body);
			fprintf(stderr, "cloudctl: %s: %s\n", argv[1], strerror(errno));
			return EXIT_USAGE;
		}
		json_object_set_new(body, "source", json_string(dir));
		for (int i = 2; i < argc; i++) {
			const char *v;
			if ((v = ctl_opt(argc, argv, &i, "--version"))) {
				json_object_set_new(body, "version", json_string(v));
			} else if (strcmp(argv[i], "--no-wait") == 0) {
				wait = 0;
			} else {
				json_decref(body);
				return ctl_usage_error("images publish: unknown argument %s", argv[i]);
			}
		}
		rc = ctl_call(s, "POST", "/v1/images", NULL, body, &doc);
		json_decref(body);
		if (rc)
			return rc;
		if (!wait) {
			ctl_print_object(s, doc);
			json_decref(doc);
			return 0;
		}
		{
			char id[64];
			snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(doc, "id")) ?: "");
			if (!s->json)
				printf("publishing image %s (operation %s)\n",
				       json_string_value(json_object_get(doc, "target")) ?: "?", id);
			json_decref(doc);
			return ctl_wait(s, id);
		}
	}
	return ctl_usage_error("images: expected list, show V, default V, publish DIR [--version V] or rm V, got %s", argv[0]);
}

/* --- events -------------------------------------------------------------------------- */

static const struct ctl_column event_cols[] = {
	{ "ID", "id", NULL }, { "TIME", "time", NULL }, { "TYPE", "type", NULL },
	{ "SUBJECT", "subject", NULL }, { "MESSAGE", "message", NULL },
};

static int ctl_events(struct ctl_settings *s, int argc, char **argv)
{
	static const struct ctl_flag flags[] = {
		{ "--type", CTL_FLAG_QUERY, "type", NULL },
		{ "--subject", CTL_FLAG_QUERY, "subject", NULL },
	};
	return ctl_list_filtered(s, "/v1/events", flags, CTL_NFLAGS(flags), argc, argv, 0, "events", event_cols,
				 sizeof(event_cols) / sizeof(event_cols[0]));
}

void ctl_usage(FILE *out)
{
	fprintf(out,
		"usage: cloudctl [-o table|json] [-c CONFIG] COMMAND ...\n"
		"\n"
		"Commands:\n"
		"  nodes list [--state up|unknown|down] [--role R]\n"
		"  nodes show ID|MAC             a node with its sysinfo and last status\n"
		"  nodes rm ID|MAC               forget a node that is not up\n"
		"  machines add MAC [--name N] [--role R] [--label K=V].. [--image V]\n"
		"  machines list [--role R] [--state pending|approved]\n"
		"  machines show ID|MAC|NAME\n"
		"  machines set ID|MAC|NAME [--name N|-] [--role R] [--label K=V].. [--image V|default]\n"
		"  machines approve ID|MAC|NAME   a machine awaiting approval (unknown-mac = pending) may enroll\n"
		"  machines rm ID|MAC|NAME\n"
		"  images list | show V | default V | rm V\n"
		"  images publish DIR [--version V] [--no-wait]\n"
		"                                publish DIR (on the controller host: vmlinuz, initramfs.img,\n"
		"                                SHA256SUMS, manifest.json) and wait for the operation\n"
		"  events [--type T] [--subject ID]\n"
		"  operations show ID | wait ID\n"
		"%s"
		"\n"
		"Settings: url, key and secret from -c CONFIG, $CLOUDD_CONFIG or ~/.config/cloudd/config\n"
		"(\"key = value\" lines; the controller writes one for its admin key to DATA-DIR/admin.conf),\n"
		"overridden by CLOUDD_URL, CLOUDD_KEY and CLOUDD_SECRET.\n"
		"\n"
		"Exit codes: 0 success, 1 the API refused the request (its message is printed),\n"
		"100 usage or configuration error, 111 the controller could not be reached or failed.\n",
		ctl_tenant_usage);
}

int ctl_run(struct ctl_settings *s, int argc, char **argv)
{
	if (argc < 1) {
		ctl_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[0], "nodes") == 0 || strcmp(argv[0], "node") == 0)
		return ctl_nodes(s, argc - 1, argv + 1);
	if (strcmp(argv[0], "machines") == 0 || strcmp(argv[0], "machine") == 0)
		return ctl_machines(s, argc - 1, argv + 1);
	if (strcmp(argv[0], "images") == 0 || strcmp(argv[0], "image") == 0)
		return ctl_images(s, argc - 1, argv + 1);
	if (strcmp(argv[0], "events") == 0)
		return ctl_events(s, argc - 1, argv + 1);
	if (strcmp(argv[0], "operations") == 0 || strcmp(argv[0], "operation") == 0)
		return ctl_operations(s, argc - 1, argv + 1);
	{
		int rc = ctl_tenant_run(s, argc, argv);
		if (rc >= 0)
			return rc;
	}
	return ctl_usage_error("unknown command %s", argv[0]);
}
