/* httpd.h -- HTTP server glue over libmicrohttpd: route table, bounded bodies, JSON replies, counters */
#ifndef CLOUDD_HTTPD_H
#define CLOUDD_HTTPD_H

#include <stddef.h>
#include <sys/socket.h>

#include <jansson.h>

#include "buf.h"
#include "errmsg.h"
#include "sign.h"

/*
 * Modules register routes on a server before it starts:
 *
 *     httpd_route(srv, "GET", "/v1/instances/{id}/console", console_get, ctx);
 *
 * A pattern is a path whose segments are literals or {name} (any one
 * non-empty segment, available as httpd_param(req, "name")). The first
 * registered route whose pattern and method match wins; HEAD is served by GET
 * routes. A path that matches no pattern gets 404, a path that matches only
 * with another method gets 405 (with Allow), a body larger than the limit
 * gets 413 before it is read whole; all of these are JSON errors
 * {"error":{"code":"...","message":"..."}}.
 *
 * Handlers run on the server's one polling thread, one at a time (or, after
 * httpd_set_threads(srv, N > 1), on a pool of N threads, concurrently): they must
 * be quick and must lock whatever they share with the rest of the program.
 */

#define HTTPD_MAX_PARAMS 4
#define HTTPD_MAX_PARAM_LEN 128 /* bytes of a {name} path segment */

struct httpd;

struct httpd_param {
	char name[32];
	char value[HTTPD_MAX_PARAM_LEN];
};

struct httpd_request {
	const char *method;
	const char *path;
	const char *route; /* the matched pattern, as registered */
	size_t nparams;
	struct httpd_param params[HTTPD_MAX_PARAMS];
	const char *body; /* NUL-terminated; "" when there is none */
	size_t body_len;
	void *connection; /* struct MHD_Connection *, NULL in unit tests */
	void *held;	  /* a held request called again: the ctx given to httpd_hold, else NULL */
	void *conn_state; /* the server's per-connection state (httpd_hold) */
};

#define HTTPD_MAX_HEADERS 4

struct httpd_response {
	unsigned status;
	char content_type[80];
	struct buf body;
	int fd;		    /* >= 0: send this file instead of body (closed afterwards) */
	unsigned long long fd_offset, fd_length;
	size_t nheaders;
	struct {
		char name[48];
		char value[256];
	} headers[HTTPD_MAX_HEADERS];
	/*
	 * Instead of body: a buffer shared with the caller (e.g. a cache) that
	 * is sent without a copy; release(release_ctx) runs once it is no
	 * longer needed (after sending, or by httpd_response_free).
	 */
	const char *shared;
	size_t shared_len;
	void (*release)(void *ctx);
	void *release_ctx;
};

/* Returns 0, or -1 for an internal failure (the client gets a 500 JSON error). */
typedef int (*httpd_handler_fn)(struct httpd_request *req, struct httpd_response *resp, void *ctx);

struct httpd_limits {
	size_t max_body;	  /* bytes; larger request bodies get 413 */
	unsigned max_connections; /* concurrent connections */
	unsigned timeout_seconds; /* idle connection timeout */
};

#define HTTPD_LIMITS_DEFAULT { 1024 * 1024, 16, 15 }

struct httpd *httpd_new(void);
/* Registers a route; fails with EBUSY once the server runs, EINVAL on a bad pattern. */
int httpd_route(struct httpd *srv, const char *method, const char *pattern, httpd_handler_fn fn,
		void *ctx);

/*
 * Uploads: a route whose body is handed over piece by piece instead of being
 * held in memory (files of any size). begin() runs once the headers are in,
 * before any of the body is read: it returns 0 to take the body, 1 when it has
 * replied already (the body is then refused), -1 for an internal error (500).
 * data() gets each piece in order and returns -1 to refuse the rest (end() is
 * still called and answers). A body over max_body gets 413 without end().
 * release() runs last, always, also when the client goes away midway.
 */
struct httpd_upload_ops {
	int (*begin)(struct httpd_request *req, struct httpd_response *resp, void *ctx, void **state);
	int (*data)(void *state, const void *data, size_t len);
	int (*end)(struct httpd_request *req, struct httpd_response *resp, void *state);
	void (*release)(void *state);
	unsigned long long max_body;
};

int httpd_route_upload(struct httpd *srv, const char *method, const char *pattern,
		       const struct httpd_upload_ops *ops, void *ctx);

/*
 * Parses "[ADDR]:PORT", "ADDR:PORT", ":PORT" (all IPv4 addresses) or
 * "[IPV6]:PORT" into addr. Fills err (field `what`) when it is not one.
 */
int httpd_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len,
		       const char *what, struct errmsg *err);
/* "ADDR:PORT" / "[ADDR]:PORT" */
const char *httpd_addr_str(const struct sockaddr *addr, char *out, size_t outlen);

/*
 * A gate runs on every request before routing, once its body is in (bounded
 * by max_body), so that a request it refuses learns nothing about the routes:
 * an unknown path gets the gate's answer, not 404. It returns 0 to let the
 * request through to routing, 1 when it has replied itself (e.g. 401), -1 for
 * an internal error (500). A held request called again does not pass the gate
 * twice. Requests the gate answers are counted under route="refused". A
 * server with a gate has no upload routes (httpd_start fails with EINVAL):
 * their bodies are not read before the route's begin().
 */
int httpd_set_gate(struct httpd *srv, httpd_handler_fn gate, void *ctx);

/* Before httpd_start: serve with a pool of n threads (default 1). */
int httpd_set_threads(struct httpd *srv, unsigned n);
/* Binds and starts serving on a polling thread; errno says why it could not. */
int httpd_start(struct httpd *srv, const struct sockaddr *addr, socklen_t len,
		const struct httpd_limits *limits);
/* The bound port (useful after binding port 0). */
unsigned httpd_port(const struct httpd *srv);
void httpd_stop(struct httpd *srv);
void httpd_free(struct httpd *srv);

/*
 * Finds the route for method and path, filling req->route and req->params.
 * Returns the route's index, -404 when no pattern matches the path, -405 when
 * one matches only with another method (allow then lists the methods that do).
 */
int httpd_match(const struct httpd *srv, const char *method, const char *path,
		struct httpd_request *req, char *allow, size_t allowlen);
/* Runs a request through routing and the handler, as the server would. */
int httpd_dispatch(struct httpd *srv, struct httpd_request *req, struct httpd_response *resp);

const char *httpd_param(const struct httpd_request *req, const char *name);
/* A query-string argument (NULL when absent or in unit tests). */
const char *httpd_query(const struct httpd_request *req, const char *name);
const char *httpd_header(const struct httpd_request *req, const char *name);
/*
 * The query-string arguments (decoded), in the order sent, into args: returns
 * how many the request has, which may be more than max (only max stored); 0
 * in unit tests. The strings live as long as the request.
 */
size_t httpd_query_args(const struct httpd_request *req, struct sign_query_arg *args, size_t max);

void httpd_response_init(struct httpd_response *resp);
void httpd_response_free(struct httpd_response *resp);
int httpd_add_header(struct httpd_response *resp, const char *name, const char *value);
/* Replies with a JSON document (steals the reference to doc). */
int httpd_reply_json(struct httpd_response *resp, unsigned status, json_t *doc);
/* Replies {"error":{"code":code,"message":...}}. */
int httpd_reply_error(struct httpd_response *resp, unsigned status, const char *code,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int httpd_reply_text(struct httpd_response *resp, unsigned status, const char *content_type,
		     const char *text, size_t len);

/*
 * Long polls: a handler calls httpd_hold(req, ctx, free_fn) instead of
 * replying; the connection is then parked (no thread is held) until someone
 * calls httpd_wake(req->conn_state) (from any thread; a wake that comes before
 * the suspension is not lost), after which the handler runs again with
 * req->held == ctx and either replies or holds again. free_fn(ctx) runs when
 * the connection ends (also when the server stops). Returns 0, or -1 (ENOTSUP)
 * outside a real server, e.g. in unit tests.
 */
int httpd_hold(struct httpd_request *req, void *ctx, void (*free_fn)(void *ctx));
void httpd_wake(void *conn_state);

/*
 * Appends the request counters in Prometheus text format under `metric`
 * (e.g. "cloudd_http_requests_total"), labelled method, route and code;
 * requests that matched no route are counted under route="unmatched", those a
 * gate answered under route="refused".
 */
int httpd_metrics(struct httpd *srv, const char *metric, struct buf *out);

#endif
