/* httpd.c -- HTTP server glue over libmicrohttpd: route table, bounded bodies, JSON replies, counters */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "httpd.h"
#include "log.h"

#define HTTPD_MAX_ROUTES 128
#define HTTPD_STACK_SIZE (256 * 1024)	 /* bytes per polling thread */
#define HTTPD_CONN_MEMORY (16 * 1024)	 /* bytes per connection for headers */
#define HTTPD_ROUTE_UNMATCHED (-1)	 /* counter "route" of requests no route matched */
#define HTTPD_ROUTE_REFUSED (-2)	 /* counter "route" of requests the gate answered */

struct httpd_route {
	char method[8];
	char *pattern;
	httpd_handler_fn fn;
	void *ctx;
	const struct httpd_upload_ops *upload; /* an upload route: fn is unused */
};

struct httpd_counter {
	int route; /* index, or -1 for unmatched */
	char method[8];
	unsigned status;
	unsigned long long count;
};

struct httpd {
	struct httpd_route routes[HTTPD_MAX_ROUTES];
	size_t nroutes;
	struct MHD_Daemon *daemon;
	struct httpd_limits limits;
	unsigned port;
	unsigned threads; /* > 1: a thread pool */
	httpd_handler_fn gate; /* runs before routing (httpd_set_gate) */
	void *gate_ctx;
	pthread_mutex_t lock; /* counters */
	struct httpd_counter *counters;
	size_t ncounters;
};

/* Per-request state kept by libmicrohttpd between the calls of one request. */
struct httpd_conn {
	struct buf body;
	int route;
	int too_large;
	int responded;
	int hold_now;		   /* the handler asked to hold the request */
	void *held;		   /* httpd_hold's ctx */
	void (*held_free)(void *); /* runs when the connection ends */
	struct MHD_Connection *conn;
	int suspended, wake_pending; /* under httpd_hold_lock */
	const struct httpd_upload_ops *upload; /* an upload in progress: its state */
	void *upload_state;
	unsigned long long upload_len;
	int upload_refused; /* data() said no: the rest is discarded */
	struct httpd_request upload_req;
};

/* Orders httpd_wake against the suspension that follows httpd_hold. */
static pthread_mutex_t httpd_hold_lock = PTHREAD_MUTEX_INITIALIZER;

struct httpd *httpd_new(void)
{
	struct httpd *srv = calloc(1, sizeof(*srv));

	if (srv == NULL)
		return NULL;
	pthread_mutex_init(&srv->lock, NULL);
	return srv;
}

static int httpd_pattern_valid(const char *pattern)
{
	const char *p = pattern;

	if (p[0] != '/')
		return 0;
	while (*p) {
		const char *seg = ++p, *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);

		if (len == 0 && end)
			return 0; /* "//" */
		if (len && seg[0] == '{') {
			if (len < 3 || seg[len - 1] != '}' || len - 2 >= sizeof(((struct httpd_param *)0)->name))
				return 0;
		}
		p = seg + len;
	}
	return 1;
}

static int httpd_upload_placeholder(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	(void)req, (void)ctx;
	return httpd_reply_error(resp, 500, "internal", "an upload route called without its body");
}

int httpd_route_upload(struct httpd *srv, const char *method, const char *pattern,
		       const struct httpd_upload_ops *ops, void *ctx)
{
	if (ops == NULL || ops->begin == NULL || ops->data == NULL || ops->end == NULL || ops->release == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (httpd_route(srv, method, pattern, httpd_upload_placeholder, ctx) < 0)
		return -1;
	srv->routes[srv->nroutes - 1].upload = ops;
	return 0;
}

int httpd_route(struct httpd *srv, const char *method, const char *pattern, httpd_handler_fn fn,
		void *ctx)
{
	struct httpd_route *r;

	if (srv->daemon) {
		errno = EBUSY;
		return -1;
	}
	if (srv->nroutes == HTTPD_MAX_ROUTES || strlen(method) >= sizeof(r->method) ||
	    !httpd_pattern_valid(pattern) || fn == NULL) {
		errno = srv->nroutes == HTTPD_MAX_ROUTES ? ENOSPC : EINVAL;
		return -1;
	}
	r = &srv->routes[srv->nroutes];
	r->pattern = strdup(pattern);
	if (r->pattern == NULL)
		return -1;
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->fn = fn;
	r->ctx = ctx;
	srv->nroutes++;
	return 0;
}

/* Matches path against pattern segment by segment, collecting {name} values. */
static int httpd_pattern_match(const char *pattern, const char *path, struct httpd_request *req)
{
	const char *p = pattern, *s = path;
	size_t nparams = 0;

	if (*s != '/')
		return 0;
	while (*p && *s) {
		const char *pe, *se;
		size_t plen, slen;

		p++, s++; /* skip '/' */
		pe = strchr(p, '/');
		se = strchr(s, '/');
		plen = pe ? (size_t)(pe - p) : strlen(p);
		slen = se ? (size_t)(se - s) : strlen(s);
		if (plen && p[0] == '{') {
			if (slen == 0 || slen >= HTTPD_MAX_PARAM_LEN || nparams == HTTPD_MAX_PARAMS)
				return 0;
			if (req) {
				struct httpd_param *prm = &req->params[nparams];
				snprintf(prm->name, sizeof(prm->name), "%.*s", (int)(plen - 2), p + 1);
				memcpy(prm->value, s, slen);
				prm->value[slen] = '\0';
			}
			nparams++;
		} else if (plen != slen || memcmp(p, s, plen) != 0) {
			return 0;
		}
		p += plen;
		s += slen;
	}
	if (*p || *s)
		return 0;
	if (req)
		req->nparams = nparams;
	return 1;
}

int httpd_match(const struct httpd *srv, const char *method, const char *path,
		struct httpd_request *req, char *allow, size_t allowlen)
{
	int path_matched = 0;
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;

	if (allow && allowlen)
		allow[0] = '\0';
	for (size_t i = 0; i < srv->nroutes; i++) {
		const struct httpd_route *r = &srv->routes[i];

		if (!httpd_pattern_match(r->pattern, path, NULL))
			continue;
		if (strcmp(r->method, m) == 0) {
			httpd_pattern_match(r->pattern, path, req);
			req->route = r->pattern;
			return (int)i;
		}
		if (allow && allowlen && !strstr(allow, r->method)) {
			size_t len = strlen(allow);
			snprintf(allow + len, allowlen - len, "%s%s", len ? ", " : "", r->method);
		}
		path_matched = 1;
	}
	return path_matched ? -405 : -404;
}

const char *httpd_param(const struct httpd_request *req, const char *name)
{
	for (size_t i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

const char *httpd_query(const struct httpd_request *req, const char *name)
{
	if (req->connection == NULL)
		return NULL;
	return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, name);
}

const char *httpd_header(const struct httpd_request *req, const char *name)
{
	if (req->connection == NULL)
		return NULL;
	return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
}

struct httpd_args {
	struct sign_query_arg *args;
	size_t max, n;
};

static enum MHD_Result httpd_collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct httpd_args *a = cls;

	(void)kind;
	if (a->n < a->max) {
		a->args[a->n].name = key;
		a->args[a->n].value = value ? value : "";
	}
	a->n++;
	return MHD_YES;
}

size_t httpd_query_args(const struct httpd_request *req, struct sign_query_arg *args, size_t max)
{
	struct httpd_args a = { args, max, 0 };

	if (req->connection == NULL)
		return 0;
	MHD_get_connection_values(req->connection, MHD_GET_ARGUMENT_KIND, httpd_collect_arg, &a);
	return a.n;
}

int httpd_set_gate(struct httpd *srv, httpd_handler_fn gate, void *ctx)
{
	if (srv->daemon) {
		errno = EBUSY;
		return -1;
	}
	srv->gate = gate;
	srv->gate_ctx = ctx;
	return 0;
}

void httpd_response_init(struct httpd_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->fd = -1;
	resp->status = 200;
}

void httpd_response_free(struct httpd_response *resp)
{
	buf_free(&resp->body);
	if (resp->release)
		resp->release(resp->release_ctx);
	resp->release = NULL;
	resp->shared = NULL;
	if (resp->fd >= 0)
		close(resp->fd);
	resp->fd = -1;
}

int httpd_add_header(struct httpd_response *resp, const char *name, const char *value)
{
	if (resp->nheaders == HTTPD_MAX_HEADERS || strlen(name) >= sizeof(resp->headers[0].name) ||
	    strlen(value) >= sizeof(resp->headers[0].value)) {
		errno = ENOSPC;
		return -1;
	}
	strcpy(resp->headers[resp->nheaders].name, name);
	strcpy(resp->headers[resp->nheaders].value, value);
	resp->nheaders++;
	return 0;
}

int httpd_reply_text(struct httpd_response *resp, unsigned status, const char *content_type,
		     const char *text, size_t len)
{
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", content_type);
	buf_reset(&resp->body);
	return buf_append(&resp->body, text, len);
}

int httpd_reply_json(struct httpd_response *resp, unsigned status, json_t *doc)
{
	char *text;
	int rc;

	if (doc == NULL) {
		errno = ENOMEM;
		return -1;
	}
	text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9));
	json_decref(doc);
	if (text == NULL) {
		errno = ENOMEM;
		return -1;
	}
	rc = httpd_reply_text(resp, status, "application/json", text, strlen(text));
	free(text);
	if (rc == 0)
		rc = buf_puts(&resp->body, "\n");
	return rc;
}

int httpd_reply_error(struct httpd_response *resp, unsigned status, const char *code,
		      const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return httpd_reply_json(resp, status,
				json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

static const char *httpd_method_label(const char *method)
{
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(method, known[i]) == 0)
			return known[i];
	return "other";
}

static void httpd_count(struct httpd *srv, int route, const char *method, unsigned status)
{
	const char *label = httpd_method_label(method);
	struct httpd_counter *c;

	pthread_mutex_lock(&srv->lock);
	for (size_t i = 0; i < srv->ncounters; i++) {
		c = &srv->counters[i];
		if (c->route == route && c->status == status && strcmp(c->method, label) == 0) {
			c->count++;
			goto out;
		}
	}
	c = realloc(srv->counters, (srv->ncounters + 1) * sizeof(*c));
	if (c == NULL)
		goto out; /* a lost count is better than a failed request */
	srv->counters = c;
	c = &srv->counters[srv->ncounters++];
	c->route = route;
	snprintf(c->method, sizeof(c->method), "%s", label);
	c->status = status;
	c->count = 1;
out:
	pthread_mutex_unlock(&srv->lock);
}

int httpd_metrics(struct httpd *srv, const char *metric, struct buf *out)
{
	int rc = 0;

	rc |= buf_printf(out, "# HELP %s HTTP requests served, by method, route and status code.\n"
			      "# TYPE %s counter\n", metric, metric);
	pthread_mutex_lock(&srv->lock);
	for (size_t i = 0; i < srv->ncounters && rc == 0; i++) {
		const struct httpd_counter *c = &srv->counters[i];
		rc |= buf_printf(out, "%s{method=\"%s\",route=\"%s\",code=\"%u\"} %llu\n", metric,
				 c->method,
				 c->route >= 0			      ? srv->routes[c->route].pattern
				 : c->route == HTTPD_ROUTE_REFUSED ? "refused"
								      : "unmatched",
				 c->status, c->count);
	}
	pthread_mutex_unlock(&srv->lock);
	return rc ? -1 : 0;
}

int httpd_dispatch(struct httpd *srv, struct httpd_request *req, struct httpd_response *resp)
{
	char allow[64];
	int idx;

	if (srv->gate && req->held == NULL) {
		int passed = srv->gate(req, resp, srv->gate_ctx);

		if (passed < 0) {
			int saved = errno;
			log_warn("%s %s: %s", req->method, req->path, strerror(saved));
			httpd_response_free(resp);
			httpd_response_init(resp);
			httpd_reply_error(resp, 500, "internal", "internal error: %s", strerror(saved));
		}
		if (passed != 0) {
			httpd_count(srv, HTTPD_ROUTE_REFUSED, req->method, resp->status);
			return HTTPD_ROUTE_REFUSED;
		}
	}
	idx = httpd_match(srv, req->method, req->path, req, allow, sizeof(allow));
	if (idx == -404) {
		httpd_reply_error(resp, 404, "not_found", "no such resource: %s", req->path);
	} else if (idx == -405) {
		httpd_reply_error(resp, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
				  req->method, req->path, allow);
		httpd_add_header(resp, "Allow", allow);
	} else if (srv->routes[idx].fn(req, resp, srv->routes[idx].ctx) < 0) {
		int saved = errno;
		log_warn("%s %s: %s", req->method, req->path, strerror(saved));
		if (resp->fd >= 0)
			close(resp->fd);
		resp->fd = -1;
		if (resp->release)
			resp->release(resp->release_ctx);
		resp->release = NULL;
		resp->shared = NULL;
		resp->nheaders = 0;
		httpd_reply_error(resp, 500, "internal", "internal error: %s", strerror(saved));
	}
	httpd_count(srv, idx >= 0 ? idx : HTTPD_ROUTE_UNMATCHED, req->method, resp->status);
	return idx;
}

/* Hands a response to libmicrohttpd; takes over the body buffer and the fd. */
static enum MHD_Result httpd_send(struct MHD_Connection *conn, struct httpd_response *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (resp->fd >= 0) {
		r = MHD_create_response_from_fd_at_offset64(resp->fd_length, resp->fd, resp->fd_offset);
		if (r)
			resp->fd = -1; /* closed by libmicrohttpd */
	} else if (resp->shared) {
		r = MHD_create_response_from_buffer_with_free_callback_cls(
			resp->shared_len, (void *)resp->shared, resp->release, resp->release_ctx);
		if (r)
			resp->release = NULL; /* released by libmicrohttpd */
	} else {
		size_t len = resp->body.len;
		r = MHD_create_response_from_buffer(len, len ? buf_steal(&resp->body) : (void *)"",
						    len ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	}
	if (r == NULL) {
		httpd_response_free(resp);
		return MHD_NO;
	}
	if (resp->content_type[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	for (size_t i = 0; i < resp->nheaders; i++)
		MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
	ret = MHD_queue_response(conn, resp->status, r);
	MHD_destroy_response(r);
	httpd_response_free(resp);
	return ret;
}

static enum MHD_Result httpd_reply_now(struct httpd *srv, struct MHD_Connection *conn,
				       struct httpd_conn *hc, const char *method, unsigned status,
				       const char *code, const char *message)
{
	struct httpd_response resp;

	httpd_response_init(&resp);
	httpd_reply_error(&resp, status, code, "%s", message);
	httpd_count(srv, hc->route, method, status);
	hc->responded = 1;
	return httpd_send(conn, &resp);
}

/* An upload route's first call: headers only. */
static enum MHD_Result httpd_upload_begin(struct httpd *srv, struct MHD_Connection *conn, struct httpd_conn *hc,
					  const struct httpd_route *route, const struct httpd_request *matched,
					  const char *method, const char *url)
{
	struct httpd_response resp;
	int rc;

	hc->upload_req = *matched;
	hc->upload_req.method = method;
	hc->upload_req.path = url;
	hc->upload_req.body = "";
	hc->upload_req.connection = conn;
	hc->upload_req.conn_state = hc;
	httpd_response_init(&resp);
	rc = route->upload->begin(&hc->upload_req, &resp, route->ctx, &hc->upload_state);
	hc->upload = route->upload; /* release() runs from here on */
	if (rc == 0)
		return MHD_YES;
	if (rc < 0) {
		log_warn("%s %s: %s", method, url, strerror(errno));
		httpd_response_free(&resp);
		httpd_response_init(&resp);
		httpd_reply_error(&resp, 500, "internal", "internal error: %s", strerror(errno));
	}
	httpd_count(srv, hc->route, method, resp.status);
	hc->responded = 1;
	return httpd_send(conn, &resp);
}

/* An upload route's later calls: a piece of the body, or its end. */
static enum MHD_Result httpd_upload_more(struct httpd *srv, struct MHD_Connection *conn, struct httpd_conn *hc,
					 const char *data, size_t *len)
{
	struct httpd_response resp;

	if (*len) {
		hc->upload_len += *len;
		if (hc->upload_len > hc->upload->max_body)
			hc->too_large = 1;
		else if (!hc->upload_refused && hc->upload->data(hc->upload_state, data, *len) < 0)
			hc->upload_refused = 1;
		*len = 0;
		return MHD_YES;
	}
	if (hc->too_large)
		return httpd_reply_now(srv, conn, hc, hc->upload_req.method, 413, "payload_too_large",
				       "request body larger than the limit");
	httpd_response_init(&resp);
	if (hc->upload->end(&hc->upload_req, &resp, hc->upload_state) < 0) {
		int saved = errno;
		log_warn("%s %s: %s", hc->upload_req.method, hc->upload_req.path, strerror(saved));
		httpd_response_free(&resp);
		httpd_response_init(&resp);
		httpd_reply_error(&resp, 500, "internal", "internal error: %s", strerror(saved));
	}
	httpd_count(srv, hc->route, hc->upload_req.method, resp.status);
	hc->responded = 1;
	return httpd_send(conn, &resp);
}

static enum MHD_Result httpd_access(void *cls, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *version,
				    const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct httpd *srv = cls;
	struct httpd_conn *hc = *con_cls;
	struct httpd_request req;
	struct httpd_response resp;

	(void)version;
	if (hc == NULL) {
		const char *cl;
		char allow[64];
		int idx;

		hc = calloc(1, sizeof(*hc));
		if (hc == NULL)
			return MHD_NO;
		*con_cls = hc;
		hc->route = -1;
		/* refuse what cannot be served before reading any body */
		memset(&req, 0, sizeof(req));
		idx = httpd_match(srv, method, url, &req, allow, sizeof(allow));
		hc->route = idx >= 0 ? idx : -1;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			char *end;
			unsigned long long n;

			errno = 0;
			n = strtoull(cl, &end, 10);
			if (errno || *end ||
			    n > (idx >= 0 && srv->routes[idx].upload ? srv->routes[idx].upload->max_body : srv->limits.max_body))
				return httpd_reply_now(srv, conn, hc, method, 413, "payload_too_large",
						       "request body larger than the limit");
		}
		if (idx >= 0 && srv->routes[idx].upload)
			return httpd_upload_begin(srv, conn, hc, &srv->routes[idx], &req, method, url);
		/* with a gate, even a request for no route is read whole and shown to the gate first */
		if (idx < 0 && srv->gate == NULL) {
			httpd_response_init(&resp);
			httpd_dispatch(srv, &(struct httpd_request){ .method = method, .path = url,
								      .body = "" },
				       &resp);
			hc->responded = 1;
			return httpd_send(conn, &resp);
		}
		return MHD_YES;
	}
	if (hc->responded) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (hc->upload)
		return httpd_upload_more(srv, conn, hc, upload_data, upload_data_size);
	if (*upload_data_size) {
		if (!hc->too_large && hc->body.len + *upload_data_size <= srv->limits.max_body) {
			if (buf_append(&hc->body, upload_data, *upload_data_size) < 0)
				return MHD_NO;
		} else {
			hc->too_large = 1; /* chunked: discard, answer 413 at the end */
			buf_free(&hc->body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (hc->too_large)
		return httpd_reply_now(srv, conn, hc, method, 413, "payload_too_large",
				       "request body larger than the limit");
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = url;
	req.body = hc->body.data ? hc->body.data : "";
	req.body_len = hc->body.len;
	req.connection = conn;
	req.held = hc->held;
	req.conn_state = hc;
	httpd_response_init(&resp);
	httpd_dispatch(srv, &req, &resp);
	if (hc->hold_now) {
		hc->hold_now = 0;
		httpd_response_free(&resp);
		hc->conn = conn;
		pthread_mutex_lock(&httpd_hold_lock);
		MHD_suspend_connection(conn);
		hc->suspended = 1;
		if (hc->wake_pending) { /* woken before it was suspended */
			hc->wake_pending = 0;
			hc->suspended = 0;
			MHD_resume_connection(conn);
		}
		pthread_mutex_unlock(&httpd_hold_lock);
		return MHD_YES;
	}
	hc->responded = 1;
	return httpd_send(conn, &resp);
}

static void httpd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct httpd_conn *hc = *con_cls;

	(void)cls, (void)conn, (void)toe;
	if (hc) {
		if (hc->held && hc->held_free)
			hc->held_free(hc->held);
		if (hc->upload)
			hc->upload->release(hc->upload_state);
		buf_free(&hc->body);
		free(hc);
		*con_cls = NULL;
	}
}

static void httpd_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_warn("http: %s", line);
}

int httpd_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len,
		       const char *what, struct errmsg *err)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port;
	unsigned long p;
	char *end;

	memset(addr, 0, sizeof(*addr));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':')
			goto err_syntax;
		if ((size_t)(close - text - 1) >= sizeof(host))
			goto err_syntax;
		snprintf(host, sizeof(host), "%.*s", (int)(close - text - 1), text + 1);
		port = close + 2;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
			goto err_syntax;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
		port = colon + 1;
	}
	errno = 0;
	if (port[0] < '0' || port[0] > '9')
		goto err_syntax;
	p = strtoul(port, &end, 10);
	if (errno || *end || p > 65535) {
		errmsg_set(err, what, "port out of range 0..65535: \"%s\"", port);
		errno = EINVAL;
		return -1;
	}
	if (host[0] == '\0' || strcmp(host, "*") == 0) {
		struct sockaddr_in *in = (struct sockaddr_in *)addr;
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_ANY);
		in->sin_port = htons((uint16_t)p);
		*len = sizeof(*in);
	} else if (strchr(host, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			goto err_addr;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)addr;
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			goto err_addr;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)p);
		*len = sizeof(*in);
	}
	return 0;

err_addr:
	errmsg_set(err, what, "not an IPv4 or IPv6 address: \"%s\"", host);
	errno = EINVAL;
	return -1;
err_syntax:
	errmsg_set(err, what, "expected ADDRESS:PORT, :PORT or [IPV6]:PORT, got \"%s\"", text);
	errno = EINVAL;
	return -1;
}

const char *httpd_addr_str(const struct sockaddr *addr, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN];

	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, ntohs(in->sin_port));
	}
	return out;
}

int httpd_start(struct httpd *srv, const struct sockaddr *addr, socklen_t len,
		const struct httpd_limits *limits)
{
	struct sockaddr_storage bound;
	socklen_t boundlen = sizeof(bound);
	unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME;
	int fd, one = 1, saved;

	if (srv->gate) {
		for (size_t i = 0; i < srv->nroutes; i++) {
			if (srv->routes[i].upload) {
				errno = EINVAL; /* an upload's body would reach begin() before the gate */
				return -1;
			}
		}
	}
	srv->limits = *limits;
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto err_close;
	if (bind(fd, addr, len) < 0 || listen(fd, 64) < 0)
		goto err_close;
	if (getsockname(fd, (struct sockaddr *)&bound, &boundlen) < 0)
		goto err_close;
	srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
						      : ((struct sockaddr_in *)&bound)->sin_port);
	if (addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, httpd_access, srv,
		MHD_OPTION_EXTERNAL_LOGGER, httpd_mhd_log, srv,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)limits->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)limits->timeout_seconds,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTPD_CONN_MEMORY,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTPD_STACK_SIZE,
		MHD_OPTION_NOTIFY_COMPLETED, httpd_completed, srv,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(srv->threads > 1 ? srv->threads : 0),
		MHD_OPTION_END);
	if (srv->daemon == NULL) {
		errno = EIO;
		goto err_close;
	}
	return 0;

err_close:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int httpd_hold(struct httpd_request *req, void *ctx, void (*free_fn)(void *ctx))
{
	struct httpd_conn *hc = req->conn_state;

	if (hc == NULL || req->connection == NULL) {
		errno = ENOTSUP;
		return -1;
	}
	if (hc->held && hc->held != ctx && hc->held_free)
		hc->held_free(hc->held);
	hc->held = ctx;
	hc->held_free = free_fn;
	hc->hold_now = 1;
	pthread_mutex_lock(&httpd_hold_lock);
	hc->wake_pending = 0;
	pthread_mutex_unlock(&httpd_hold_lock);
	return 0;
}

void httpd_wake(void *conn_state)
{
	struct httpd_conn *hc = conn_state;

	pthread_mutex_lock(&httpd_hold_lock);
	if (hc->suspended) {
		hc->suspended = 0;
		MHD_resume_connection(hc->conn);
	} else {
		hc->wake_pending = 1;
	}
	pthread_mutex_unlock(&httpd_hold_lock);
}

int httpd_set_threads(struct httpd *srv, unsigned n)
{
	if (srv->daemon) {
		errno = EBUSY;
		return -1;
	}
	srv->threads = n;
	return 0;
}

unsigned httpd_port(const struct httpd *srv)
{
	return srv->port;
}

void httpd_stop(struct httpd *srv)
{
	if (srv->daemon) {
		MHD_stop_daemon(srv->daemon);
		srv->daemon = NULL;
	}
}

void httpd_free(struct httpd *srv)
{
	if (srv == NULL)
		return;
	httpd_stop(srv);
	for (size_t i = 0; i < srv->nroutes; i++)
		free(srv->routes[i].pattern);
	free(srv->counters);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}
