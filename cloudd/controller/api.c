/* api.c -- API plumbing: signed routes, body and query checks, pagination, events, operations, metrics */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "ops.h"
#include "sign.h"

#define API_MAX_QUERY_ARGS 32

struct api_query {
	struct sign_query_arg args[API_MAX_QUERY_ARGS];
	size_t n;
	int overflow;
};

static enum MHD_Result api_collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				       const char *value)
{
	struct api_query *q = cls;

	(void)kind;
	if (q->n == API_MAX_QUERY_ARGS) {
		q->overflow = 1;
		return MHD_NO;
	}
	q->args[q->n].name = key;
	q->args[q->n].value = value ? value : "";
	q->n++;
	return MHD_YES;
}

const char *api_client_addr(struct httpd_request *req, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci;

	out[0] = '\0';
	if (req->connection == NULL)
		return out;
	ci = MHD_get_connection_info(req->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return out;
	if (ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, out, (socklen_t)outlen);
	else if (ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, out, (socklen_t)outlen);
	return out;
}

/*
 * The rate limit's key for a client: its IPv4 address, or the /64 of its
 * IPv6 address (a host is handed a whole /64: counted address by address it
 * would have 2^64 buckets). "" when unknown: such callers share one bucket.
 */
static const char *api_client_key(struct httpd_request *req, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci;
	struct in6_addr a;

	out[0] = '\0';
	if (req->connection == NULL)
		return out;
	ci = MHD_get_connection_info(req->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL || ci->client_addr->sa_family != AF_INET6)
		return api_client_addr(req, out, outlen);
	a = ((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr;
	if (!IN6_IS_ADDR_V4MAPPED(&a))
		memset(a.s6_addr + 8, 0, 8);
	inet_ntop(AF_INET6, &a, out, (socklen_t)outlen);
	return out;
}

/* A route counted against public-rate: 0 when the request goes on, else the 429 is in resp. */
static int api_rate_limit(struct controller *ctrl, struct httpd_request *req, struct httpd_response *resp)
{
	char key[INET6_ADDRSTRLEN + 8], after[16];
	struct timespec ts;
	unsigned wait;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	wait = ratelimit_take(ctrl->public_limit, api_client_key(req, key, sizeof(key)),
			      (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
	if (wait == 0)
		return 0;
	snprintf(after, sizeof(after), "%u", wait);
	httpd_add_header(resp, "Retry-After", after);
	httpd_reply_error(resp, 429, "rate_limited",
			  "more than %u requests per second (burst %u) from %s to unsigned routes; retry in %u s",
			  ctrl->cfg.public_rate, ctrl->cfg.public_burst, key[0] ? key : "an unknown address", wait);
	return API_REPLIED;
}

static void api_cache_release(void *ctx)
{
	struct api_cache_body *b = ctx;

	if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

/* Hands a cached answer for key rendered at generation to resp (no copy); 1 on a hit. */
static int api_cache_get(struct api_cache *c, const char *key, unsigned long long generation,
			 struct httpd_response *resp)
{
	struct api_cache_body *b = NULL;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < API_CACHE_SLOTS; i++) {
		if (c->slots[i].key && c->slots[i].generation == generation && strcmp(c->slots[i].key, key) == 0) {
			b = c->slots[i].body;
			__atomic_add_fetch(&b->refs, 1, __ATOMIC_ACQ_REL);
			c->slots[i].used = ++c->clock;
			break;
		}
	}
	if (b)
		c->hits++;
	else
		c->misses++;
	pthread_mutex_unlock(&c->lock);
	if (b == NULL)
		return 0;
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
	resp->shared = b->data;
	resp->shared_len = b->len;
	resp->release = api_cache_release;
	resp->release_ctx = b;
	return 1;
}

static void api_cache_put(struct api_cache *c, const char *key, unsigned long long generation,
			  const struct buf *body)
{
	struct api_cache_body *b;
	char *k;
	size_t victim = 0;

	if (body->len > API_CACHE_MAX_BODY || (b = malloc(sizeof(*b) + body->len + 1)) == NULL)
		return;
	if ((k = strdup(key)) == NULL) {
		free(b);
		return;
	}
	b->refs = 1;
	b->len = body->len;
	memcpy(b->data, body->data, body->len);
	b->data[body->len] = '\0';
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < API_CACHE_SLOTS; i++) {
		if (c->slots[i].key && strcmp(c->slots[i].key, key) == 0) {
			victim = i;
			break;
		}
		if (c->slots[i].used < c->slots[victim].used)
			victim = i;
	}
	free(c->slots[victim].key);
	api_cache_release(c->slots[victim].body);
	c->slots[victim].key = k;
	c->slots[victim].body = b;
	c->slots[victim].generation = generation;
	c->slots[victim].used = ++c->clock;
	pthread_mutex_unlock(&c->lock);
}

/*
 * The cache key of a GET: what the caller may see, then the path and the
 * canonical query. Visibility is the role and, for a tenant, its account
 * (tenant_scope): an admin sees every account whatever its own, a user only
 * its account, so an answer rendered for one visibility is never served to
 * another. Any new input that changes an answer belongs here.
 */
static char *api_cache_key(const struct auth_principal *who, const char *path, const struct api_query *q)
{
	const char *scope = tenant_scope(who);
	char *query = sign_canonical_query(q->args, q->n), *key = NULL;

	if (query == NULL)
		return NULL;
	if (asprintf(&key, "%s:%s %s?%s", auth_role_name(who->role), scope ? scope : "*", path, query) < 0)
		key = NULL;
	free(query);
	return key;
}

/* The httpd handler of every API route: signature, role, then the route's function. */
static int api_dispatch(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	struct api_route *r = ctx;
	struct auth_principal who;
	struct api_query q = { .n = 0 };
	char why[256];

	memset(&who, 0, sizeof(who));
	if ((r->flags & API_LIMITED) && r->ctrl->public_limit && !req->held &&
	    api_rate_limit(r->ctrl, req, resp) == API_REPLIED)
		return 0;
	if (req->connection)
		MHD_get_connection_values(req->connection, MHD_GET_ARGUMENT_KIND, api_collect_arg, &q);
	if (q.overflow)
		return httpd_reply_error(resp, 400, "bad_request", "more than %d query arguments",
					 API_MAX_QUERY_ARGS);
	if (req->held) {
		/* a held long poll called again: verified when it arrived */
		who = *(const struct auth_principal *)req->held;
	} else if (!(r->flags & API_PUBLIC)) {
		if (auth_verify(&r->ctrl->db, httpd_header(req, "Authorization"), req->method, req->path,
				q.args, q.n, req->body, req->body_len, time(NULL), &who, why,
				sizeof(why)) < 0) {
			httpd_add_header(resp, "WWW-Authenticate", SIGN_SCHEME);
			return httpd_reply_error(resp, 401, "unauthorized", "%s", why);
		}
		if (who.role != AUTH_ROLE_ADMIN && !(who.role == AUTH_ROLE_NODE && (r->flags & API_NODE)) &&
		    !(who.role == AUTH_ROLE_USER && (r->flags & API_USER)))
			return httpd_reply_error(resp, 403, "forbidden", "key %s may not %s %s",
						 who.key_id, req->method, r->pattern);
	}
	if ((r->flags & API_CACHE) && r->ctrl->cfg.api_cache) {
		unsigned long long generation = db_generation(&r->ctrl->db);
		char *key = api_cache_key(&who, req->path, &q);
		int rc;

		if (key == NULL)
			return -1;
		if (api_cache_get(&r->ctrl->cache, key, generation, resp)) {
			free(key);
			return 0;
		}
		rc = r->fn(r->ctrl, &who, req, resp);
		if (rc == 0 && resp->status == 200 && resp->fd < 0)
			api_cache_put(&r->ctrl->cache, key, generation, &resp->body);
		free(key);
		return rc;
	}
	return r->fn(r->ctrl, &who, req, resp);
}

int api_upload_authorize(struct controller *ctrl, struct httpd_request *req, struct httpd_response *resp,
			 unsigned flags, struct auth_principal *who)
{
	struct api_query q = { .n = 0 };
	const char *digest = httpd_header(req, API_CONTENT_SHA256);
	char why[256];

	memset(who, 0, sizeof(*who));
	if (req->connection)
		MHD_get_connection_values(req->connection, MHD_GET_ARGUMENT_KIND, api_collect_arg, &q);
	if (q.overflow) {
		httpd_reply_error(resp, 400, "bad_request", "more than %d query arguments", API_MAX_QUERY_ARGS);
		return API_REPLIED;
	}
	if (digest == NULL || strlen(digest) != SIGN_HEX_LEN || strspn(digest, "0123456789abcdef") != SIGN_HEX_LEN) {
		httpd_reply_error(resp, 400, "bad_request",
					 "an upload needs the header " API_CONTENT_SHA256 ": the body's SHA-256, 64 lower-case hex"
					 " digits, signed in place of the body digest");
		return API_REPLIED;
	}
	if (auth_verify_digest(&ctrl->db, httpd_header(req, "Authorization"), req->method, req->path, q.args, q.n, digest,
			       time(NULL), who, why, sizeof(why)) < 0) {
		httpd_add_header(resp, "WWW-Authenticate", SIGN_SCHEME);
		httpd_reply_error(resp, 401, "unauthorized", "%s", why);
		return API_REPLIED;
	}
	if (who->role != AUTH_ROLE_ADMIN && !(who->role == AUTH_ROLE_USER && (flags & API_USER))) {
		httpd_reply_error(resp, 403, "forbidden", "key %s may not %s %s", who->key_id, req->method,
					 req->route);
		return API_REPLIED;
	}
	return 0;
}

/* limit (1..CTL_LIST_MAX) and cursor from the query; 0, or -1 with the 400 filled. */
static int api_page(struct httpd_request *req, struct httpd_response *resp, long long *limit,
	     const char **cursor)
{
	const char *l = httpd_query(req, "limit");

	*limit = CTL_LIST_DEFAULT;
	*cursor = httpd_query(req, "cursor");
	if (*cursor && (strlen(*cursor) == 0 || strlen(*cursor) > API_CURSOR_MAX ||
			strspn(*cursor, API_CURSOR_CHARS) != strlen(*cursor))) {
		httpd_reply_error(resp, 400, "bad_parameter", "cursor: not a cursor returned by this API");
		return -1;
	}
	if (l) {
		char *end;
		errno = 0;
		*limit = strtoll(l, &end, 10);
		if (errno || *end || l[0] == '\0' || l[0] == '-' || l[0] == '+' || *limit < 1 ||
		    *limit > CTL_LIST_MAX) {
			httpd_reply_error(resp, 400, "bad_parameter", "limit: expected an integer 1..%d, got \"%.32s\"",
					  CTL_LIST_MAX, l);
			return -1;
		}
	}
	return 0;
}

int api_list_page(struct controller *ctrl, struct httpd_request *req, struct httpd_response *resp,
		  const struct api_list *l)
{
	struct buf *out = &resp->body;
	const char *cursor;
	char next[API_CURSOR_MAX + 1] = "";
	long long limit, n = 0;
	sqlite3_stmt *st;
	int rc = 0, key;

	if (api_page(req, resp, &limit, &cursor) < 0)
		return 0;
	if (cursor && l->numeric_cursor) {
		char *end;
		long long v;
		errno = 0;
		v = strtoll(cursor, &end, 10);
		if (errno || *end || v < 0 || !(cursor[0] >= '0' && cursor[0] <= '9'))
			return httpd_reply_error(resp, 400, "bad_parameter", "cursor: not a cursor returned by this API");
	}
	buf_reset(out);
	rc |= buf_puts(out, "{\"items\":[");
	db_lock(&ctrl->db);
	st = db_prepare(&ctrl->db, l->sql);
	if (st) {
		key = sqlite3_column_count(st) - 1;
		if (l->numeric_cursor && cursor)
			sqlite3_bind_int64(st, 1, strtoll(cursor, NULL, 10));
		else
			db_bind_text(st, 1, cursor);
		sqlite3_bind_int64(st, 2, limit + 1);
		for (size_t i = 0; i < l->nparams; i++)
			db_bind_text(st, (int)i + 3, l->params[i]);
		while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
			const char *k = db_col_text(st, key);
			if (++n > limit)
				break;
			if (k == NULL || snprintf(next, sizeof(next), "%s", k) >= (int)sizeof(next)) {
				/* a key that could not come back as a cursor would end the list early */
				log_error("list %s: a row's key is %s", req->path, k ? "longer than a cursor" : "NULL");
				errno = ERANGE;
				rc = -1;
				break;
			}
			if (n > 1)
				rc |= buf_append(out, ",", 1);
			if (l->write) {
				rc |= l->write(out, st);
			} else {
				json_t *item = l->row(&ctrl->db, st, l->ctx);
				char *text = item ? json_dumps(item, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
				rc |= text ? buf_puts(out, text) : -1;
				free(text);
				json_decref(item);
			}
		}
		sqlite3_finalize(st);
	}
	db_unlock(&ctrl->db);
	if (st == NULL || rc) {
		buf_reset(out);
		if (errno == 0)
			errno = st == NULL ? EIO : ENOMEM;
		return -1;
	}
	rc |= buf_puts(out, "],\"next_cursor\":");
	rc |= util_json_string(out, n > limit ? next : NULL);
	rc |= buf_puts(out, "}\n");
	if (rc) {
		buf_reset(out);
		errno = ENOMEM;
		return -1;
	}
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
	return 0;
}

int api_reply_found(struct controller *ctrl, const struct auth_principal *who, struct httpd_request *req,
		    struct httpd_response *resp, json_t *(*find)(struct db *db, const char *ref, const char *scope),
		    const char *what)
{
	json_t *doc;

	db_lock(&ctrl->db);
	doc = find(&ctrl->db, httpd_param(req, "id"), tenant_scope(who));
	db_unlock(&ctrl->db);
	if (doc == NULL)
		return httpd_reply_error(resp, 404, "not_found", "no %s %.64s", what, httpd_param(req, "id"));
	return httpd_reply_json(resp, 200, doc);
}

int api_route_upload(struct controller *ctrl, const char *method, const char *pattern,
		     const struct httpd_upload_ops *ops, unsigned flags, const char *summary)
{
	if (ctrl->nroutes == sizeof(ctrl->routes) / sizeof(ctrl->routes[0])) {
		errno = ENOSPC;
		return -1;
	}
	ctrl->routes[ctrl->nroutes] = (struct api_route){ ctrl, NULL, flags, method, pattern, summary, NULL };
	if (httpd_route_upload(ctrl->http, method, pattern, ops, ctrl) < 0)
		return -1;
	ctrl->nroutes++;
	return 0;
}

int api_route(struct controller *ctrl, const char *method, const char *pattern, api_fn fn,
	      unsigned flags, const char *summary, const char *request_schema)
{
	struct api_route *r;

	if (ctrl->nroutes == sizeof(ctrl->routes) / sizeof(ctrl->routes[0])) {
		errno = ENOSPC;
		return -1;
	}
	r = &ctrl->routes[ctrl->nroutes];
	/* an unsigned route that writes is rate-limited whoever registers it */
	if ((flags & API_PUBLIC) && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		flags |= API_LIMITED;
	*r = (struct api_route){ ctrl, fn, flags, method, pattern, summary, request_schema };
	if (httpd_route(ctrl->http, method, pattern, api_dispatch, r) < 0)
		return -1;
	ctrl->nroutes++;
	return 0;
}

int api_route_table(struct controller *ctrl, const struct api_route_def *table, size_t n,
		    const struct httpd_upload_ops *upload)
{
	for (const struct api_route_def *r = table; r < table + n; r++) {
		int rc;

		if (r->fn == NULL && upload == NULL) {
			errno = EINVAL;
			return -1;
		}
		rc = r->fn == NULL ? api_route_upload(ctrl, r->method, r->pattern, upload, r->flags, r->summary)
				   : api_route(ctrl, r->method, r->pattern, r->fn, r->flags, r->summary, r->request_schema);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int api_parse_body(struct httpd_request *req, struct httpd_response *resp, json_t **out)
{
	json_error_t jerr;
	json_t *doc;

	*out = NULL;
	if (req->body_len == 0) {
		httpd_reply_error(resp, 400, "bad_request", "a JSON object is required as the request body");
		return -1;
	}
	if (strlen(req->body) != req->body_len) {
		httpd_reply_error(resp, 400, "bad_json", "the body contains a NUL byte");
		return -1;
	}
	doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		httpd_reply_error(resp, 400, "bad_json", "invalid JSON at line %d column %d: %s",
				  jerr.line, jerr.column, jerr.text);
		return -1;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		httpd_reply_error(resp, 400, "bad_json", "the body must be a JSON object");
		return -1;
	}
	*out = doc;
	return 0;
}

int api_check_fields(json_t *obj, const char *const *allowed, struct httpd_response *resp)
{
	const char *key;
	json_t *value;

	json_object_foreach(obj, key, value) {
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, key) == 0)
				ok = 1;
		if (!ok) {
			httpd_reply_error(resp, 400, "unknown_field", "unknown field \"%.64s\"", key);
			return -1;
		}
	}
	return 0;
}

struct api_query_check {
	const char *const *allowed;
	const char *bad;
};

static enum MHD_Result api_check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct api_query_check *c = cls;

	(void)kind, (void)value;
	for (const char *const *a = c->allowed; *a; a++)
		if (strcmp(*a, key) == 0)
			return MHD_YES;
	c->bad = key;
	return MHD_NO;
}

int api_check_query(struct httpd_request *req, const char *const *allowed,
		    struct httpd_response *resp)
{
	struct api_query_check c = { allowed, NULL };

	if (req->connection)
		MHD_get_connection_values(req->connection, MHD_GET_ARGUMENT_KIND, api_check_arg, &c);
	if (c.bad) {
		httpd_reply_error(resp, 400, "unknown_parameter", "unknown query parameter \"%.64s\"", c.bad);
		return -1;
	}
	return 0;
}


/* --- operations ----------------------------------------------------------------- */

int api_operation_create(struct db *db, const char *type, const char *target, char id[40])
{
	const char *p[3];

	if (util_new_id(id, 40, "op") < 0)
		return -1;
	p[0] = id, p[1] = type, p[2] = target;
	return db_exec(db, "INSERT INTO operations (id, type, target, state, created_at, updated_at)"
			   " VALUES (?, ?, ?, 'pending', strftime('%s','now'), strftime('%s','now'))", 3, p);
}

int api_operation_create_for(struct db *db, const char *type, const char *target, const char *account_id,
			     char id[40])
{
	const char *p[4];

	if (util_new_id(id, 40, "op") < 0)
		return -1;
	p[0] = id, p[1] = type, p[2] = target, p[3] = account_id;
	return db_exec(db, "INSERT INTO operations (id, type, target, state, account_id, created_at, updated_at)"
			   " VALUES (?, ?, ?, 'pending', ?, strftime('%s','now'), strftime('%s','now'))", 4, p);
}

int api_operation_finish(struct db *db, const char *id, int ok, const char *reason)
{
	const char *p[3] = { ok ? "success" : "failure", reason, id };

	return db_exec(db, "UPDATE operations SET state = ?, reason = ?, updated_at = strftime('%s','now')"
			   " WHERE id = ?", 3, p);
}

static json_t *api_operation_json(sqlite3_stmt *st)
{
	return json_pack("{s:s,s:s,s:s?,s:s,s:s?,s:o,s:o}", "id", db_col_text(st, 0), "type",
			 db_col_text(st, 1), "target", db_col_text(st, 2), "state", db_col_text(st, 3),
			 "reason", db_col_text(st, 4), "created_at", util_time_json(sqlite3_column_int64(st, 5)),
			 "updated_at", util_time_json(sqlite3_column_int64(st, 6)));
}

#define API_OPERATION_COLS "id, type, target, state, reason, created_at, updated_at"

json_t *api_operation_find(struct db *db, const char *id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " API_OPERATION_COLS " FROM operations WHERE id = ?");
	json_t *doc = NULL;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		doc = api_operation_json(st);
	sqlite3_finalize(st);
	return doc;
}

static int api_operation_get(struct controller *ctrl, const struct auth_principal *who,
			     struct httpd_request *req, struct httpd_response *resp)
{
	const char *id = httpd_param(req, "id");
	sqlite3_stmt *st;
	json_t *doc = NULL;

	db_lock(&ctrl->db);
	st = db_prepare(&ctrl->db, "SELECT " API_OPERATION_COLS " FROM operations WHERE id = ?1"
				  " AND (?2 IS NULL OR account_id = ?2)");
	if (st) {
		db_bind_text(st, 1, id);
		db_bind_text(st, 2, tenant_scope(who));
		if (sqlite3_step(st) == SQLITE_ROW)
			doc = api_operation_json(st);
	}
	sqlite3_finalize(st);
	db_unlock(&ctrl->db);
	if (st == NULL)
		return -1;
	if (doc == NULL)
		return httpd_reply_error(resp, 404, "not_found", "no operation %.64s", id);
	return httpd_reply_json(resp, 200, doc);
}

static json_t *api_operation_row(struct db *db, sqlite3_stmt *st, void *ctx)
{
	(void)db, (void)ctx;
	return api_operation_json(st);
}

static int api_operation_list(struct controller *ctrl, const struct auth_principal *who,
			      struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "limit", "cursor", "state", NULL };
	const char *params[1] = { httpd_query(req, "state") };
	struct api_list l = { "SELECT " API_OPERATION_COLS ", id FROM operations WHERE (?1 IS NULL OR id > ?1)"
			      " AND (?3 IS NULL OR state = ?3) ORDER BY id LIMIT ?2",
			      params, 1, api_operation_row, NULL, NULL, 0 };

	(void)who;
	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	return api_list_page(ctrl, req, resp, &l);
}

/* --- events ---------------------------------------------------------------------- */

static json_t *api_event_row(struct db *db, sqlite3_stmt *st, void *ctx)
{
	(void)db, (void)ctx;
	return json_pack("{s:I,s:o,s:s,s:s?,s:s}", "id", (json_int_t)sqlite3_column_int64(st, 0), "time",
			 util_time_json(sqlite3_column_int64(st, 1)), "type", db_col_text(st, 2), "subject",
			 db_col_text(st, 3), "message", db_col_text(st, 4));
}

static int api_events_list(struct controller *ctrl, const struct auth_principal *who,
			   struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "limit", "cursor", "type", "subject", NULL };
	const char *params[2] = { httpd_query(req, "type"), httpd_query(req, "subject") };
	struct api_list l = { "SELECT id, time, type, subject, message, id FROM events WHERE (?1 IS NULL OR id > ?1)"
			      " AND (?3 IS NULL OR type = ?3 OR type LIKE ?3 || '.%')"
			      " AND (?4 IS NULL OR subject = ?4) ORDER BY id LIMIT ?2",
			      params, 2, api_event_row, NULL, NULL, 1 };

	(void)who;
	if (api_check_query(req, allowed, resp) < 0)
		return 0;
	return api_list_page(ctrl, req, resp, &l);
}

/* POST /v1/boot-failures: /init reports the stage that failed (unsigned: the node has no key yet). */
static int api_boot_failure(struct controller *ctrl, const struct auth_principal *who,
			    struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "mac", "stage", "reason", NULL };
	json_t *doc, *mac, *stage, *reason;
	char norm[18], addr[64];
	struct op_error err;

	(void)who;
	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0)
		goto out;
	mac = json_object_get(doc, "mac");
	stage = json_object_get(doc, "stage");
	reason = json_object_get(doc, "reason");
	if (!json_is_string(mac) || util_mac_parse(json_string_value(mac), norm) < 0) {
		httpd_reply_error(resp, 400, "bad_field", "mac: expected a MAC address like 52:54:00:12:34:56");
		goto out;
	}
	if (!json_is_string(stage) || !util_name_valid(json_string_value(stage), 32)) {
		httpd_reply_error(resp, 400, "bad_field", "stage: expected a stage name (a-z, 0-9, '-')");
		goto out;
	}
	if (!json_is_string(reason) || json_string_length(reason) > 512) {
		httpd_reply_error(resp, 400, "bad_field", "reason: expected a string of at most 512 bytes");
		goto out;
	}
	if (node_boot_failure(ctrl, norm, json_string_value(stage), json_string_value(reason),
			      api_client_addr(req, addr, sizeof(addr)), &err) < 0) {
		json_decref(doc);
		return op_reply_error(resp, &err);
	}
	httpd_reply_json(resp, 202, json_pack("{s:s}", "status", "recorded"));
out:
	json_decref(doc);
	return 0;
}

/* --- health, metrics, openapi ------------------------------------------------------- */

static int api_health(struct controller *ctrl, const struct auth_principal *who,
		      struct httpd_request *req, struct httpd_response *resp)
{
	(void)who, (void)req;
	return httpd_reply_json(resp, 200, json_pack("{s:s,s:s,s:I}", "status", "ok", "version", CLOUDD_VERSION,
						     "uptime_seconds", (json_int_t)(time(NULL) - ctrl->started)));
}

static int api_metrics(struct controller *ctrl, const struct auth_principal *who,
		       struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const states[] = { "up", "unknown", "down" };
	struct ctl_counters *c = &ctrl->counters;
	long long counts[3] = { 0, 0, 0 };
	struct buf out = BUF_INIT;
	sqlite3_stmt *st;
	int rc = 0;

	(void)who, (void)req;
	db_lock(&ctrl->db);
	st = db_prepare(&ctrl->db, "SELECT state, count(*) FROM nodes GROUP BY state");
	while (st && sqlite3_step(st) == SQLITE_ROW)
		for (int i = 0; i < 3; i++)
			if (strcmp(db_col_text(st, 0), states[i]) == 0)
				counts[i] = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	db_unlock(&ctrl->db);
	rc |= httpd_metrics(ctrl->http, "cloud_controller_http_requests_total", &out);
	rc |= buf_puts(&out, "# HELP cloud_controller_nodes Nodes by state.\n# TYPE cloud_controller_nodes gauge\n");
	for (int i = 0; i < 3; i++)
		rc |= buf_printf(&out, "cloud_controller_nodes{state=\"%s\"} %lld\n", states[i], counts[i]);
	pthread_mutex_lock(&c->lock);
	rc |= buf_printf(&out,
			 "# HELP cloud_controller_boot_script_requests_total Boot scripts served, by what the MAC was.\n"
			 "# TYPE cloud_controller_boot_script_requests_total counter\n"
			 "cloud_controller_boot_script_requests_total{result=\"known\"} %llu\n"
			 "cloud_controller_boot_script_requests_total{result=\"enrolled\"} %llu\n"
			 "cloud_controller_boot_script_requests_total{result=\"ignored\"} %llu\n"
			 "cloud_controller_boot_script_requests_total{result=\"pending\"} %llu\n"
			 "cloud_controller_boot_script_requests_total{result=\"bad_request\"} %llu\n"
			 "# HELP cloud_controller_image_requests_total Image file requests, by result.\n"
			 "# TYPE cloud_controller_image_requests_total counter\n"
			 "cloud_controller_image_requests_total{result=\"ok\"} %llu\n"
			 "cloud_controller_image_requests_total{result=\"partial\"} %llu\n"
			 "cloud_controller_image_requests_total{result=\"not_modified\"} %llu\n"
			 "cloud_controller_image_requests_total{result=\"not_found\"} %llu\n"
			 "# HELP cloud_controller_image_bytes_total Bytes of image files handed to the network.\n"
			 "# TYPE cloud_controller_image_bytes_total counter\n"
			 "cloud_controller_image_bytes_total %llu\n",
			 c->boot_known, c->boot_enrolled, c->boot_ignored, c->boot_pending, c->boot_bad, c->image_ok,
			 c->image_partial, c->image_not_modified, c->image_not_found, c->image_bytes);
	pthread_mutex_unlock(&c->lock);
	if (rc) {
		buf_free(&out);
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_lock(&ctrl->cache.lock);
	rc = buf_printf(&out, "# HELP cloud_controller_api_cache_total Cacheable GETs answered from the cache or rendered.\n"
			      "# TYPE cloud_controller_api_cache_total counter\n"
			      "cloud_controller_api_cache_total{result=\"hit\"} %llu\n"
			      "cloud_controller_api_cache_total{result=\"miss\"} %llu\n", ctrl->cache.hits, ctrl->cache.misses);
	pthread_mutex_unlock(&ctrl->cache.lock);
	rc |= buf_printf(&out, "# HELP cloud_controller_rate_limited_total Unsigned requests refused with 429 (public-rate).\n"
			       "# TYPE cloud_controller_rate_limited_total counter\n"
			       "cloud_controller_rate_limited_total %llu\n",
			 ctrl->public_limit ? ratelimit_limited(ctrl->public_limit) : 0ULL);
	if (rc == 0)
		rc = httpd_reply_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
	buf_free(&out);
	return rc;
}

static int api_openapi_get(struct controller *ctrl, const struct auth_principal *who,
			   struct httpd_request *req, struct httpd_response *resp)
{
	(void)who, (void)req;
	return httpd_reply_json(resp, 200, api_openapi(ctrl));
}

/* Builds the OpenAPI 3 document from the route table, so that it lists every endpoint. */
json_t *api_openapi(struct controller *ctrl)
{
	json_t *paths = json_object(), *doc;

	for (size_t i = 0; i < ctrl->nroutes; i++) {
		const struct api_route *r = &ctrl->routes[i];
		json_t *item = json_object_get(paths, r->pattern), *op, *params = json_array();
		char method[16];

		if (item == NULL) {
			item = json_object();
			json_object_set_new(paths, r->pattern, item);
		}
		for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
			const char *e = strchr(p, '}');
			char name[32];
			snprintf(name, sizeof(name), "%.*s", (int)(e - p - 1), p + 1);
			json_array_append_new(params, json_pack("{s:s,s:s,s:b,s:{s:s}}", "name", name, "in", "path",
								"required", 1, "schema", "type", "string"));
		}
		op = json_pack("{s:s,s:o,s:{s:{s:s},s:{s:s},s:{s:s}}}", "summary", r->summary ? r->summary : "",
			       "parameters", params, "responses", "200", "description", "success", "4XX",
			       "description", "error: {\"error\":{\"code\":...,\"message\":...}}", "5XX",
			       "description", "internal error");
		if (r->flags & API_PUBLIC)
			json_object_set_new(op, "security", json_array());
		else
			json_object_set_new(op, "x-roles", json_pack("[s,s*,s*]", "admin",
								      (r->flags & API_NODE) ? "node" : NULL,
								      (r->flags & API_USER) ? "user" : NULL));
		if (r->request_schema) {
			json_t *schema = json_loads(r->request_schema, 0, NULL);
			if (schema)
				json_object_set_new(op, "requestBody",
						    json_pack("{s:b,s:{s:{s:o}}}", "required", 1, "content",
							      "application/json", "schema", schema));
		}
		snprintf(method, sizeof(method), "%s", r->method);
		for (char *m = method; *m; m++)
			*m = (char)(*m - 'A' + 'a');
		json_object_set_new(item, method, op);
	}
	doc = json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:{s:{s:{s:s,s:s,s:s,s:s}}},s:[{s:[]}]}", "openapi", "3.0.3",
			"info", "title", "cloud-controller API", "version", "v1", "description",
			"Signed JSON API of cloudd's controller; see docs/api.md for the signing scheme.",
			"paths", paths, "components", "securitySchemes", "cloudd-hmac", "type", "apiKey", "in",
			"header", "name", "Authorization", "description",
			"CLOUDD-HMAC-SHA256 key=<id>,expires=<unix>,signature=<hex>", "security", "cloudd-hmac");
	return doc;
}

static const struct api_route_def api_routes[] = {
	{ "GET", "/health", api_health, API_PUBLIC, "liveness of the controller", NULL },
	{ "GET", "/metrics", api_metrics, API_PUBLIC,
	  "Prometheus metrics: requests by route and status, nodes by state, boot and image requests", NULL },
	{ "GET", "/v1/openapi.json", api_openapi_get, API_PUBLIC, "this document", NULL },
	{ "GET", "/v1/events", api_events_list, API_ADMIN | API_CACHE,
	  "events, oldest first; ?type=, ?subject=, ?limit=, ?cursor=", NULL },
	{ "GET", "/v1/operations", api_operation_list, API_ADMIN, "operations; ?state=, ?limit=, ?cursor=", NULL },
	{ "GET", "/v1/operations/{id}", api_operation_get, API_ADMIN | API_USER,
	  "one operation: pending, success or failure with a reason", NULL },
	{ "POST", "/v1/boot-failures", api_boot_failure, API_PUBLIC,
	  "a node's /init reports the boot stage that failed (recorded as an event)",
	  "{\"type\":\"object\",\"required\":[\"mac\",\"stage\",\"reason\"],\"additionalProperties\":false,"
	  "\"properties\":{\"mac\":{\"type\":\"string\"},\"stage\":{\"type\":\"string\"},"
	  "\"reason\":{\"type\":\"string\",\"maxLength\":512}}}" },
};

int api_register(struct controller *ctrl)
{
	if (ctrl->cfg.public_rate > 0 &&
	    (ctrl->public_limit = ratelimit_new(ctrl->cfg.public_rate, ctrl->cfg.public_burst)) == NULL)
		return -1;
	if (API_ROUTE_TABLE(ctrl, api_routes, NULL) < 0)
		return -1;
	if (api_accounts_register(ctrl) < 0 || api_instance_types_register(ctrl) < 0 ||
	    api_ssh_keys_register(ctrl) < 0 || api_security_groups_register(ctrl) < 0 ||
	    api_templates_register(ctrl) < 0 || api_instances_register(ctrl) < 0 || watch_register(ctrl) < 0)
		return -1;
	if (api_nodes_register(ctrl) < 0 || api_machines_register(ctrl) < 0 || api_images_register(ctrl) < 0 ||
	    images_register(ctrl) < 0 || bootscript_register(ctrl) < 0)
		return -1;
	return 0;
}
