/* lib_httpd.c -- unit tests for the HTTP route table, dispatch, listen addresses and counters */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"
#include "unit.h"

static int handler_calls;

static int echo_handler(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	handler_calls++;
	return httpd_reply_json(resp, 200, json_pack("{s:s,s:s*,s:s*,s:s}", "ctx", (const char *)ctx,
						     "id", httpd_param(req, "id"), "name",
						     httpd_param(req, "name"), "body", req->body));
}

static int failing_handler(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	(void)req, (void)resp, (void)ctx;
	errno = EIO;
	return -1;
}

static struct httpd *make_server(void)
{
	struct httpd *srv = httpd_new();

	if (srv == NULL)
		return NULL;
	httpd_route(srv, "GET", "/health", echo_handler, "health");
	httpd_route(srv, "GET", "/v1/instances/{id}", echo_handler, "get");
	httpd_route(srv, "DELETE", "/v1/instances/{id}", echo_handler, "delete");
	httpd_route(srv, "GET", "/v1/instances/{id}/disks/{name}", echo_handler, "disk");
	httpd_route(srv, "POST", "/v1/fail", failing_handler, NULL);
	return srv;
}

TEST(httpd_match_literals_params_and_methods)
{
	struct httpd *srv = make_server();
	struct httpd_request req = { 0 };
	char allow[64];

	CHECK(srv != NULL);
	CHECK_INT(httpd_match(srv, "GET", "/health", &req, allow, sizeof(allow)), 0);
	CHECK_INT(httpd_match(srv, "HEAD", "/health", &req, allow, sizeof(allow)), 0);
	CHECK_INT(httpd_match(srv, "GET", "/v1/instances/i-1", &req, allow, sizeof(allow)), 1);
	CHECK_STR(httpd_param(&req, "id"), "i-1");
	CHECK_STR(req.route, "/v1/instances/{id}");
	CHECK_INT(httpd_match(srv, "DELETE", "/v1/instances/i-2", &req, allow, sizeof(allow)), 2);
	CHECK_INT(httpd_match(srv, "GET", "/v1/instances/i-3/disks/root", &req, allow, sizeof(allow)), 3);
	CHECK_STR(httpd_param(&req, "id"), "i-3");
	CHECK_STR(httpd_param(&req, "name"), "root");
	CHECK(httpd_param(&req, "other") == NULL);
	CHECK_INT(httpd_match(srv, "PUT", "/v1/instances/i-1", &req, allow, sizeof(allow)), -405);
	CHECK_STR(allow, "GET, DELETE");
	CHECK_INT(httpd_match(srv, "GET", "/v1/instances", &req, allow, sizeof(allow)), -404);
	CHECK_INT(httpd_match(srv, "GET", "/v1/instances/", &req, allow, sizeof(allow)), -404);
	CHECK_INT(httpd_match(srv, "GET", "/health/", &req, allow, sizeof(allow)), -404);
	CHECK_INT(httpd_match(srv, "GET", "/v1/instances/a/b", &req, allow, sizeof(allow)), -404);
	CHECK_INT(httpd_match(srv, "GET", "health", &req, allow, sizeof(allow)), -404);
	httpd_free(srv);
}

TEST(httpd_rejects_bad_patterns)
{
	struct httpd *srv = httpd_new();

	CHECK_INT(httpd_route(srv, "GET", "no-slash", echo_handler, NULL), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(httpd_route(srv, "GET", "/a//b", echo_handler, NULL), -1);
	CHECK_INT(httpd_route(srv, "GET", "/a/{}", echo_handler, NULL), -1);
	CHECK_INT(httpd_route(srv, "GET", "/a/{x", echo_handler, NULL), -1);
	CHECK_INT(httpd_route(srv, "VERYLONGMETHOD", "/a", echo_handler, NULL), -1);
	CHECK_INT(httpd_route(srv, "GET", "/a/{x}", echo_handler, NULL), 0);
	httpd_free(srv);
}

TEST(httpd_param_longer_than_limit_does_not_match)
{
	struct httpd *srv = make_server();
	struct httpd_request req = { 0 };
	char path[512];

	memset(path, 'a', sizeof(path));
	memcpy(path, "/v1/instances/", 14);
	path[14 + HTTPD_MAX_PARAM_LEN] = '\0';
	CHECK_INT(httpd_match(srv, "GET", path, &req, NULL, 0), -404);
	path[14 + HTTPD_MAX_PARAM_LEN - 1] = '\0';
	CHECK_INT(httpd_match(srv, "GET", path, &req, NULL, 0), 1);
	httpd_free(srv);
}

TEST(httpd_dispatch_replies_json_errors_and_counts)
{
	struct httpd *srv = make_server();
	struct httpd_request req = { .method = "GET", .path = "/v1/instances/i-9", .body = "" };
	struct httpd_response resp;
	struct buf m = BUF_INIT;

	handler_calls = 0;
	httpd_response_init(&resp);
	CHECK_INT(httpd_dispatch(srv, &req, &resp), 1);
	CHECK_INT(resp.status, 200);
	CHECK_STR(resp.content_type, "application/json");
	CHECK_STR(resp.body.data, "{\"ctx\":\"get\",\"id\":\"i-9\",\"body\":\"\"}\n");
	httpd_response_free(&resp);

	req = (struct httpd_request){ .method = "GET", .path = "/nope", .body = "" };
	httpd_response_init(&resp);
	CHECK_INT(httpd_dispatch(srv, &req, &resp), -404);
	CHECK_INT(resp.status, 404);
	CHECK_STR(resp.body.data, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such resource: /nope\"}}\n");
	httpd_response_free(&resp);

	req = (struct httpd_request){ .method = "POST", .path = "/health", .body = "" };
	httpd_response_init(&resp);
	CHECK_INT(httpd_dispatch(srv, &req, &resp), -405);
	CHECK_INT(resp.status, 405);
	CHECK_CONTAINS(resp.body.data, "\"method_not_allowed\"");
	CHECK_INT(resp.nheaders, 1);
	CHECK_STR(resp.headers[0].name, "Allow");
	CHECK_STR(resp.headers[0].value, "GET");
	httpd_response_free(&resp);

	req = (struct httpd_request){ .method = "POST", .path = "/v1/fail", .body = "" };
	httpd_response_init(&resp);
	httpd_dispatch(srv, &req, &resp);
	CHECK_INT(resp.status, 500);
	CHECK_CONTAINS(resp.body.data, "\"internal\"");
	httpd_response_free(&resp);
	CHECK_INT(handler_calls, 1);

	CHECK_INT(httpd_metrics(srv, "x_requests_total", &m), 0);
	CHECK_CONTAINS(m.data, "x_requests_total{method=\"GET\",route=\"/v1/instances/{id}\",code=\"200\"} 1\n");
	CHECK_CONTAINS(m.data, "x_requests_total{method=\"GET\",route=\"unmatched\",code=\"404\"} 1\n");
	CHECK_CONTAINS(m.data, "x_requests_total{method=\"POST\",route=\"unmatched\",code=\"405\"} 1\n");
	CHECK_CONTAINS(m.data, "x_requests_total{method=\"POST\",route=\"/v1/fail\",code=\"500\"} 1\n");
	buf_free(&m);
	httpd_free(srv);
}

static int gate_calls;

/* lets /health through, answers 401 for everything else */
static int test_gate(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	(void)ctx;
	gate_calls++;
	if (strcmp(req->path, "/health") == 0)
		return 0;
	return httpd_reply_error(resp, 401, "unauthorized", "not signed") < 0 ? -1 : 1;
}

static int broken_gate(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	(void)req, (void)resp, (void)ctx;
	errno = ENOMEM;
	return -1;
}

TEST(httpd_gate_runs_before_routing)
{
	struct httpd *srv = make_server();
	struct httpd_request req;
	struct httpd_response resp;
	struct buf m = BUF_INIT;

	CHECK(srv != NULL);
	CHECK_INT(httpd_set_gate(srv, test_gate, NULL), 0);
	handler_calls = gate_calls = 0;
	/* a route, an unknown path and a known path with another method: all refused alike */
	const char *const paths[][2] = { { "GET", "/v1/instances/i-1" }, { "GET", "/no/such/path" },
					 { "PUT", "/v1/instances/i-1" } };
	for (size_t i = 0; i < 3; i++) {
		req = (struct httpd_request){ .method = paths[i][0], .path = paths[i][1], .body = "" };
		httpd_response_init(&resp);
		CHECK_INT(httpd_dispatch(srv, &req, &resp), -2);
		CHECK_INT(resp.status, 401);
		CHECK_CONTAINS(resp.body.data, "\"unauthorized\"");
		httpd_response_free(&resp);
	}
	CHECK_INT(handler_calls, 0);
	/* what the gate lets through is routed as before */
	req = (struct httpd_request){ .method = "GET", .path = "/health", .body = "" };
	httpd_response_init(&resp);
	CHECK_INT(httpd_dispatch(srv, &req, &resp), 0);
	CHECK_INT(resp.status, 200);
	httpd_response_free(&resp);
	req = (struct httpd_request){ .method = "POST", .path = "/health", .body = "" };
	httpd_response_init(&resp);
	CHECK_INT(httpd_dispatch(srv, &req, &resp), -405);
	httpd_response_free(&resp);
	/* a held request called again is not gated twice */
	req = (struct httpd_request){ .method = "GET", .path = "/v1/instances/i-2", .body = "", .held = &m };
	httpd_response_init(&resp);
	CHECK_INT(httpd_dispatch(srv, &req, &resp), 1);
	CHECK_INT(resp.status, 200);
	httpd_response_free(&resp);
	CHECK_INT(gate_calls, 5);
	CHECK_INT(httpd_metrics(srv, "g", &m), 0);
	CHECK_CONTAINS(m.data, "g{method=\"GET\",route=\"refused\",code=\"401\"} 2\n");
	CHECK_CONTAINS(m.data, "g{method=\"PUT\",route=\"refused\",code=\"401\"} 1\n");
	CHECK_CONTAINS(m.data, "g{method=\"POST\",route=\"unmatched\",code=\"405\"} 1\n");
	buf_free(&m);
	/* a gate that fails gives 500, never the route */
	CHECK_INT(httpd_set_gate(srv, broken_gate, NULL), 0);
	req = (struct httpd_request){ .method = "GET", .path = "/health", .body = "" };
	httpd_response_init(&resp);
	CHECK_INT(httpd_dispatch(srv, &req, &resp), -2);
	CHECK_INT(resp.status, 500);
	httpd_response_free(&resp);
	httpd_free(srv);
}

static int upload_begin(struct httpd_request *req, struct httpd_response *resp, void *ctx, void **state)
{
	(void)req, (void)resp, (void)ctx, (void)state;
	return 0;
}
static int upload_data(void *state, const void *data, size_t len)
{
	(void)state, (void)data, (void)len;
	return 0;
}
static int upload_end(struct httpd_request *req, struct httpd_response *resp, void *state)
{
	(void)req, (void)state;
	return httpd_reply_text(resp, 200, "text/plain", "", 0);
}
static void upload_release(void *state)
{
	(void)state;
}

TEST(httpd_gate_refuses_upload_routes)
{
	static const struct httpd_upload_ops ops = { upload_begin, upload_data, upload_end, upload_release, 1024 };
	struct httpd *srv = make_server();
	struct httpd_limits limits = HTTPD_LIMITS_DEFAULT;
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	CHECK(srv != NULL);
	CHECK_INT(httpd_route_upload(srv, "PUT", "/file", &ops, NULL), 0);
	CHECK_INT(httpd_set_gate(srv, test_gate, NULL), 0);
	errno = 0;
	CHECK_INT(httpd_start(srv, (struct sockaddr *)&lo, sizeof(lo), &limits), -1);
	CHECK_INT(errno, EINVAL);
	httpd_free(srv);
}

TEST(httpd_unknown_methods_are_one_label)
{
	struct httpd *srv = make_server();
	struct httpd_response resp;
	struct buf m = BUF_INIT;
	char method[16];

	for (int i = 0; i < 50; i++) {
		struct httpd_request req = { .method = method, .path = "/x", .body = "" };
		snprintf(method, sizeof(method), "M%d", i);
		httpd_response_init(&resp);
		httpd_dispatch(srv, &req, &resp);
		httpd_response_free(&resp);
	}
	CHECK_INT(httpd_metrics(srv, "r", &m), 0);
	CHECK_CONTAINS(m.data, "r{method=\"other\",route=\"unmatched\",code=\"404\"} 50\n");
	buf_free(&m);
	httpd_free(srv);
}

TEST(httpd_parse_listen_forms)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct errmsg err = { 0 };
	char out[128];

	CHECK_INT(httpd_parse_listen(":8081", &ss, &len, "listen", &err), 0);
	CHECK_STR(httpd_addr_str((struct sockaddr *)&ss, out, sizeof(out)), "0.0.0.0:8081");
	CHECK_INT(httpd_parse_listen("192.0.2.1:80", &ss, &len, "listen", &err), 0);
	CHECK_STR(httpd_addr_str((struct sockaddr *)&ss, out, sizeof(out)), "192.0.2.1:80");
	CHECK_INT(len, sizeof(struct sockaddr_in));
	CHECK_INT(httpd_parse_listen("[2001:db8::1]:443", &ss, &len, "listen", &err), 0);
	CHECK_STR(httpd_addr_str((struct sockaddr *)&ss, out, sizeof(out)), "[2001:db8::1]:443");
	CHECK_INT(len, sizeof(struct sockaddr_in6));
	CHECK_INT(httpd_parse_listen("8081", &ss, &len, "listen", &err), -1);
	CHECK_STR(err.field, "listen");
	err = (struct errmsg){ 0 };
	CHECK_INT(httpd_parse_listen(":65536", &ss, &len, "listen", &err), -1);
	CHECK_CONTAINS(err.msg, "port out of range");
	err = (struct errmsg){ 0 };
	CHECK_INT(httpd_parse_listen("[::1:80", &ss, &len, "listen", &err), -1);
	err = (struct errmsg){ 0 };
	CHECK_INT(httpd_parse_listen("host.example:80", &ss, &len, "listen", &err), -1);
	CHECK_CONTAINS(err.msg, "not an IPv4 or IPv6 address");
}

TEST(httpd_route_after_start_is_refused)
{
	struct httpd *srv = make_server();
	struct httpd_limits lim = HTTPD_LIMITS_DEFAULT;
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = 0 };

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_INT(httpd_start(srv, (struct sockaddr *)&in, sizeof(in), &lim), 0);
	CHECK(httpd_port(srv) != 0);
	CHECK_INT(httpd_route(srv, "GET", "/late", echo_handler, NULL), -1);
	CHECK_INT(errno, EBUSY);
	httpd_stop(srv);
	httpd_free(srv);
}

/* Sends a raw request to the running server on 127.0.0.1:port; returns the response. */
static int raw_request(unsigned port, const char *request, size_t len, char *out, size_t outlen)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	size_t got = 0;
	ssize_t n;
	int fd;

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&in, sizeof(in)) < 0)
		return -1;
	while (len > 0 && (n = send(fd, request, len, MSG_NOSIGNAL)) > 0) {
		request += n;
		len -= (size_t)n;
	}
	while (got < outlen - 1 && (n = recv(fd, out + got, outlen - 1 - got, 0)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fd);
	return 0;
}

TEST(httpd_live_server_bodies_and_limits)
{
	struct httpd *srv = httpd_new();
	struct httpd_limits lim = { 1024, 4, 5 };
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = 0 };
	static char req[8192], resp[8192];
	struct buf chunked = BUF_INIT;
	int n;

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_INT(httpd_route(srv, "POST", "/echo/{id}", echo_handler, "post"), 0);
	CHECK_INT(httpd_start(srv, (struct sockaddr *)&in, sizeof(in), &lim), 0);

	/* a small body reaches the handler */
	n = snprintf(req, sizeof(req), "POST /echo/a1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
				       "Content-Length: 5\r\n\r\nhello");
	CHECK_INT(raw_request(httpd_port(srv), req, (size_t)n, resp, sizeof(resp)), 0);
	CHECK_CONTAINS(resp, "HTTP/1.1 200");
	CHECK_CONTAINS(resp, "{\"ctx\":\"post\",\"id\":\"a1\",\"body\":\"hello\"}");

	/* a declared length over the limit is refused before the body is read */
	n = snprintf(req, sizeof(req), "POST /echo/a1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
				       "Content-Length: 1000000\r\n\r\n");
	CHECK_INT(raw_request(httpd_port(srv), req, (size_t)n, resp, sizeof(resp)), 0);
	CHECK_CONTAINS(resp, "HTTP/1.1 413");
	CHECK_CONTAINS(resp, "\"payload_too_large\"");

	/* a chunked body that grows over the limit gets 413, not the handler */
	buf_puts(&chunked, "POST /echo/a2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			   "Transfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 3; i++) {
		buf_puts(&chunked, "200\r\n");
		for (int j = 0; j < 0x200; j++)
			buf_puts(&chunked, "y");
		buf_puts(&chunked, "\r\n");
	}
	buf_puts(&chunked, "0\r\n\r\n");
	handler_calls = 0;
	CHECK_INT(raw_request(httpd_port(srv), chunked.data, chunked.len, resp, sizeof(resp)), 0);
	buf_free(&chunked);
	CHECK_CONTAINS(resp, "HTTP/1.1 413");
	CHECK_INT(handler_calls, 0);

	/* a chunked body under the limit is assembled */
	n = snprintf(req, sizeof(req), "POST /echo/a3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
				       "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
	CHECK_INT(raw_request(httpd_port(srv), req, (size_t)n, resp, sizeof(resp)), 0);
	CHECK_CONTAINS(resp, "\"body\":\"abcde\"");
	httpd_free(srv);
}
