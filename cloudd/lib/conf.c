/* conf.c -- "key = value" configuration files and command-line overrides, with typed getters */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "conf.h"
#include "fsutil.h"

#define CONF_MAX_KEY 64
#define CONF_MAX_LINE 4096

static int conf_add(struct conf *c, const char *key, size_t keylen, const char *value,
		    size_t valuelen, const char *source, unsigned line)
{
	struct conf_entry *e;

	e = realloc(c->entries, (c->count + 1) * sizeof(*e));
	if (e == NULL)
		return -1;
	c->entries = e;
	e = &c->entries[c->count];
	memset(e, 0, sizeof(*e));
	e->key = strndup(key, keylen);
	e->value = strndup(value, valuelen);
	if (e->key == NULL || e->value == NULL) {
		free(e->key);
		free(e->value);
		return -1;
	}
	e->source = source;
	e->line = line;
	c->count++;
	return 0;
}

static const char *conf_add_source(struct conf *c, const char *source)
{
	char **s = realloc(c->sources, (c->nsources + 1) * sizeof(*s));

	if (s == NULL)
		return NULL;
	c->sources = s;
	s[c->nsources] = strdup(source);
	if (s[c->nsources] == NULL)
		return NULL;
	return s[c->nsources++];
}

static int conf_key_char(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
	       ch == '.';
}

int conf_parse(struct conf *c, const char *source, const char *text, struct errmsg *err)
{
	const char *src, *p = text;
	unsigned lineno = 0;
	size_t first = c->count;
	char where[512];

	src = conf_add_source(c, source);
	if (src == NULL) {
		errmsg_set(err, source, "out of memory");
		return -1;
	}
	while (*p) {
		const char *eol = strchr(p, '\n');
		const char *end = eol ? eol : p + strlen(p);
		const char *k, *kend, *v, *vend;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u", source, lineno);
		if ((size_t)(end - p) > CONF_MAX_LINE) {
			errmsg_set(err, where, "line longer than %d bytes", CONF_MAX_LINE);
			return -1;
		}
		for (const char *q = p; q < end; q++) {
			if (*q == '\0' || (iscntrl((unsigned char)*q) && *q != '\t' && *q != '\r')) {
				errmsg_set(err, where, "control character in line");
				return -1;
			}
		}
		k = p;
		while (k < end && isspace((unsigned char)*k))
			k++;
		vend = end;
		while (vend > k && isspace((unsigned char)vend[-1]))
			vend--;
		if (k == vend || *k == '#')
			goto next;
		kend = k;
		while (kend < vend && conf_key_char((unsigned char)*kend))
			kend++;
		if (kend == k) {
			errmsg_set(err, where, "expected \"key = value\", got \"%.*s\"",
				   (int)(vend - k > 80 ? 80 : vend - k), k);
			return -1;
		}
		if (kend - k > CONF_MAX_KEY) {
			errmsg_set(err, where, "key longer than %d characters", CONF_MAX_KEY);
			return -1;
		}
		v = kend;
		while (v < vend && (*v == ' ' || *v == '\t'))
			v++;
		if (v == vend || *v != '=') {
			errmsg_set(err, where, "%.*s: expected \"=\" after the key", (int)(kend - k), k);
			return -1;
		}
		v++;
		while (v < vend && (*v == ' ' || *v == '\t'))
			v++;
		if (v == vend) {
			errmsg_set(err, where, "%.*s: missing value", (int)(kend - k), k);
			return -1;
		}
		if (vend - v >= 2 && (*v == '"' || *v == '\'') && vend[-1] == *v) {
			v++;
			vend--;
		}
		for (size_t i = first; i < c->count; i++) {
			if (strlen(c->entries[i].key) == (size_t)(kend - k) &&
			    memcmp(c->entries[i].key, k, (size_t)(kend - k)) == 0) {
				errmsg_set(err, where, "%.*s: set twice (first on line %u)",
					   (int)(kend - k), k, c->entries[i].line);
				return -1;
			}
		}
		if (conf_add(c, k, (size_t)(kend - k), v, (size_t)(vend - v), src, lineno) < 0) {
			errmsg_set(err, where, "out of memory");
			return -1;
		}
next:
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	return 0;
}

int conf_load_file(struct conf *c, const char *path, struct errmsg *err)
{
	struct buf b = BUF_INIT;
	int rc;

	if (fs_read_file(path, CONF_MAX_FILE, &b) < 0) {
		int saved = errno;
		errmsg_set(err, path, "%s", saved == EFBIG ? "file larger than 1 MiB" : strerror(saved));
		buf_free(&b);
		errno = saved;
		return -1;
	}
	if (memchr(b.data, '\0', b.len)) {
		errmsg_set(err, path, "binary file (contains NUL bytes)");
		buf_free(&b);
		errno = EINVAL;
		return -1;
	}
	rc = conf_parse(c, path, b.data, err);
	buf_free(&b);
	if (rc < 0)
		errno = EINVAL;
	return rc;
}

int conf_set(struct conf *c, const char *key, const char *value)
{
	return conf_add(c, key, strlen(key), value, strlen(value), NULL, 0);
}

/* The last setting of key (the command line comes after the file); marks all used. */
static struct conf_entry *conf_find(struct conf *c, const char *key)
{
	struct conf_entry *found = NULL;

	for (size_t i = 0; i < c->count; i++) {
		if (strcmp(c->entries[i].key, key) == 0) {
			c->entries[i].used = 1;
			found = &c->entries[i];
		}
	}
	return found;
}

static const char *conf_entry_where(const struct conf_entry *e, char *out, size_t outlen)
{
	if (e->source)
		snprintf(out, outlen, "%s:%u: %s", e->source, e->line, e->key);
	else
		snprintf(out, outlen, "command line: --%s", e->key);
	return out;
}

const char *conf_where(const struct conf *c, const char *key, char *out, size_t outlen)
{
	const struct conf_entry *found = NULL;

	for (size_t i = 0; i < c->count; i++)
		if (strcmp(c->entries[i].key, key) == 0)
			found = &c->entries[i];
	if (found == NULL) {
		snprintf(out, outlen, "%s", key);
		return out;
	}
	return conf_entry_where(found, out, outlen);
}

int conf_get_str(struct conf *c, const char *key, const char *def, const char **out,
		 struct errmsg *err)
{
	struct conf_entry *e = conf_find(c, key);

	(void)err;
	if (e == NULL) {
		*out = def;
		return 0;
	}
	*out = e->value;
	return 1;
}

static int conf_number(struct conf *c, const char *key, unsigned long long def,
		       unsigned long long min, unsigned long long max, unsigned long long *out,
		       int suffixes, struct errmsg *err)
{
	struct conf_entry *e = conf_find(c, key);
	unsigned long long v, mult = 1;
	char where[512], *end;

	if (e == NULL) {
		*out = def;
		return 0;
	}
	conf_entry_where(e, where, sizeof(where));
	errno = 0;
	if (!isdigit((unsigned char)e->value[0]))
		goto err_syntax;
	v = strtoull(e->value, &end, 10);
	if (errno == ERANGE)
		goto err_range;
	if (suffixes && *end) {
		switch (*end) {
		case 'k': case 'K': mult = 1ULL << 10; break;
		case 'm': case 'M': mult = 1ULL << 20; break;
		case 'g': case 'G': mult = 1ULL << 30; break;
		default: goto err_syntax;
		}
		end++;
		if (*end == 'i' || *end == 'B')
			end += *end == 'i' && end[1] == 'B' ? 2 : 1;
	}
	if (*end)
		goto err_syntax;
	if (v > max / mult)
		goto err_range;
	v *= mult;
	if (v < min || v > max)
		goto err_range;
	*out = v;
	return 1;

err_syntax:
	errmsg_set(err, where, "not a %s: \"%s\"", suffixes ? "size (bytes, or N[K|M|G])" : "number",
		   e->value);
	return -1;
err_range:
	errmsg_set(err, where, "%s is out of range %llu..%llu", e->value, min, max);
	return -1;
}

int conf_get_uint(struct conf *c, const char *key, unsigned long long def,
		  unsigned long long min, unsigned long long max, unsigned long long *out,
		  struct errmsg *err)
{
	return conf_number(c, key, def, min, max, out, 0, err);
}

int conf_get_size(struct conf *c, const char *key, unsigned long long def,
		  unsigned long long min, unsigned long long max, unsigned long long *out,
		  struct errmsg *err)
{
	return conf_number(c, key, def, min, max, out, 1, err);
}

int conf_get_bool(struct conf *c, const char *key, int def, int *out, struct errmsg *err)
{
	static const char *const yes[] = { "yes", "true", "on", "1", NULL };
	static const char *const no[] = { "no", "false", "off", "0", NULL };
	struct conf_entry *e = conf_find(c, key);
	char where[512];

	if (e == NULL) {
		*out = def;
		return 0;
	}
	for (int i = 0; yes[i]; i++) {
		if (strcasecmp(e->value, yes[i]) == 0) {
			*out = 1;
			return 1;
		}
		if (strcasecmp(e->value, no[i]) == 0) {
			*out = 0;
			return 1;
		}
	}
	errmsg_set(err, conf_entry_where(e, where, sizeof(where)),
		   "not a boolean (yes or no): \"%s\"", e->value);
	return -1;
}

int conf_get_enum(struct conf *c, const char *key, const char *const *choices, int def,
		  int *out, struct errmsg *err)
{
	struct conf_entry *e = conf_find(c, key);
	struct buf list = BUF_INIT;
	char where[512];

	if (e == NULL) {
		*out = def;
		return 0;
	}
	for (int i = 0; choices[i]; i++) {
		if (strcmp(e->value, choices[i]) == 0) {
			*out = i;
			return 1;
		}
	}
	for (int i = 0; choices[i]; i++)
		buf_printf(&list, "%s%s", i ? ", " : "", choices[i]);
	errmsg_set(err, conf_entry_where(e, where, sizeof(where)), "\"%s\" is not one of: %s",
		   e->value, list.data ? list.data : "");
	buf_free(&list);
	return -1;
}

int conf_check_unknown(const struct conf *c, struct errmsg *err)
{
	char where[512];

	for (size_t i = 0; i < c->count; i++) {
		if (!c->entries[i].used) {
			errmsg_set(err, conf_entry_where(&c->entries[i], where, sizeof(where)),
				   "unknown key");
			return -1;
		}
	}
	return 0;
}

void conf_free(struct conf *c)
{
	for (size_t i = 0; i < c->count; i++) {
		free(c->entries[i].key);
		free(c->entries[i].value);
	}
	free(c->entries);
	for (size_t i = 0; i < c->nsources; i++)
		free(c->sources[i]);
	free(c->sources);
	memset(c, 0, sizeof(*c));
}

int conf_copy(struct conf *c, const char *key, const char *value, char *dst, size_t dstlen,
	      struct errmsg *err)
{
	char where[512];

	if (strlen(value) >= dstlen) {
		errmsg_set(err, conf_where(c, key, where, sizeof(where)),
			   "longer than %zu characters", dstlen - 1);
		return -1;
	}
	strcpy(dst, value);
	return 0;
}

int conf_get_path(struct conf *c, const char *key, const char *def, char *dst, size_t dstlen,
		  struct errmsg *err)
{
	const char *v;
	char where[512];

	if (conf_get_str(c, key, def, &v, err) < 0)
		return -1;
	if (v[0] && v[0] != '/') {
		errmsg_set(err, conf_where(c, key, where, sizeof(where)),
			   "not an absolute path: \"%s\"", v);
		return -1;
	}
	return conf_copy(c, key, v, dst, dstlen, err);
}

void conf_daemon_usage(const struct conf_daemon *d, FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [OPTIONS]\n"
		"\n"
		"%s"
		"\n"
		"Options:\n"
		"  -c, --config FILE                 configuration file (default %s;\n"
		"                                    the default file may be absent)\n"
		"  -n, --check                       check the configuration and exit\n"
		"  -h, --help                        this text\n"
		"  -V, --version                     print the version and exit\n",
		prog, d->about, d->default_path);
	for (size_t i = 0; i < d->noptions; i++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s %s", d->options[i].key, d->options[i].arg);
		fprintf(out, "      %-28s %s\n", left, d->options[i].help);
	}
	fprintf(out,
		"\n"
		"Every long option is also a key of the configuration file (\"key = value\"\n"
		"lines, '#' comments); the command line wins over the file.\n"
		"\n"
		"%s"
		"Exit codes: 0 success, 100 usage or configuration error, 111 system failure.\n",
		d->notes);
}

/* The file's settings, then the command line's (in *c) over them; *c becomes the result. */
static int conf_merge_file(struct conf *c, const char *config, const char *default_path,
			   char *path, size_t pathlen, struct errmsg *err)
{
	struct conf file = CONF_INIT;
	const char *read = config ? config : default_path;

	if (conf_load_file(&file, read, err) < 0) {
		if (config != NULL || errno != ENOENT) {
			conf_free(&file);
			return -1;
		}
		*err = (struct errmsg){ 0 }; /* the default file may be absent */
		read = "";
	}
	for (size_t i = 0; i < c->count; i++) {
		if (conf_set(&file, c->entries[i].key, c->entries[i].value) < 0) {
			conf_free(&file);
			errmsg_set(err, "command line", "out of memory");
			return -1;
		}
	}
	conf_free(c);
	*c = file;
	if ((size_t)snprintf(path, pathlen, "%s", read) >= pathlen) {
		errmsg_set(err, "command line", "--config: longer than %zu characters", pathlen - 1);
		return -1;
	}
	return 0;
}

int conf_load_args(struct conf *c, int argc, char **argv, const struct conf_option *opts,
		   size_t nopts, const char *default_path, char *path, size_t pathlen,
		   enum config_action *action, struct errmsg *err)
{
	struct option *longopts;
	const char *config = NULL;
	int opt, longindex, rc = -1;
	size_t n = 0;

	*action = CONFIG_RUN;
	longopts = calloc(nopts + 5, sizeof(*longopts));
	if (longopts == NULL) {
		errmsg_set(err, "command line", "out of memory");
		return -1;
	}
	longopts[n++] = (struct option){ "config", required_argument, NULL, 'c' };
	longopts[n++] = (struct option){ "check", no_argument, NULL, 'n' };
	longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[n++] = (struct option){ "version", no_argument, NULL, 'V' };
	for (size_t i = 0; i < nopts; i++)
		longopts[n++] = (struct option){ opts[i].key, required_argument, NULL, 0 };
	longopts[n] = (struct option){ NULL, 0, NULL, 0 };

	optind = 0; /* full reset, so that tests can parse several command lines */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:nhV", longopts, &longindex)) != -1) {
		switch (opt) {
		case 0:
			if (conf_set(c, longopts[longindex].name, optarg) < 0) {
				errmsg_set(err, "command line", "out of memory");
				goto out;
			}
			break;
		case 'c':
			config = optarg;
			break;
		case 'n':
			*action = CONFIG_CHECK;
			break;
		case 'h':
			*action = CONFIG_HELP;
			rc = 0;
			goto out;
		case 'V':
			*action = CONFIG_VERSION;
			rc = 0;
			goto out;
		case ':':
			errmsg_set(err, "command line", "option %s needs a value", argv[optind - 1]);
			goto out;
		default:
			errmsg_set(err, "command line", "unknown option %s", argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc) {
		errmsg_set(err, "command line", "unexpected argument \"%s\"", argv[optind]);
		goto out;
	}
	/* file settings go first so that command-line settings override them */
	rc = conf_merge_file(c, config, default_path, path, pathlen, err);
out:
	free(longopts);
	return rc;
}

int conf_load_settings(const struct conf_daemon *d, int argc, char **argv, void *settings, char *path,
		       size_t pathlen, enum config_action *action, struct errmsg *err)
{
	struct conf c = CONF_INIT;
	int rc;

	rc = conf_load_args(&c, argc, argv, d->options, d->noptions, d->default_path, path, pathlen, action,
			    err);
	if (rc == 0 && (*action == CONFIG_RUN || *action == CONFIG_CHECK))
		rc = d->apply(&c, settings, err);
	conf_free(&c);
	return rc;
}

int conf_read_server(struct conf *c, const struct conf_server *s, void *settings, struct errmsg *err)
{
	static const char *const levels[] = { "error", "warn", "info", "debug", NULL };
	char *base = settings;
	unsigned long long n;
	int i;

	if (conf_get_enum(c, "log-level", levels, LOG_LEVEL_INFO, &i, err) < 0)
		return -1;
	*(enum log_level *)(base + s->log_level_at) = (enum log_level)i;
	if (conf_get_bool(c, "syslog", s->syslog, (int *)(base + s->syslog_at), err) < 0)
		return -1;
	if (conf_get_size(c, "max-body", s->max_body, 1024, s->max_body_max,
			  (unsigned long long *)(base + s->max_body_at), err) < 0)
		return -1;
	if (conf_get_uint(c, "http-connections", s->connections, s->connections_min, s->connections_max, &n,
			  err) < 0)
		return -1;
	*(unsigned *)(base + s->connections_at) = (unsigned)n;
	return conf_check_unknown(c, err);
}
