/* api.c -- cloudd's HTTP routes: /health, /metrics, /v1/sysinfo, /v1/state, /v1/instances/{id}/console, /v1/filters, behind the auth gate */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloudd.h"
#include "converge.h"
#include "filter.h"

double cloudd_uptime(const struct cloudd *d)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - d->started.tv_sec) +
	       (double)(now.tv_nsec - d->started.tv_nsec) / 1e9;
}

static int api_health(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	struct cloudd *d = ctx;
	char why[256] = "";
	int healthy = 1;
	json_t *doc;

	(void)req;
	if (d->conv)
		healthy = converge_healthy(d->conv, why, sizeof(why));
	doc = json_pack("{s:s,s:s,s:f}", "status", healthy ? "ok" : "unhealthy", "version",
			CLOUDD_VERSION, "uptime_seconds", cloudd_uptime(d));
	if (doc && !healthy)
		json_object_set_new(doc, "reason", json_string(why));
	return httpd_reply_json(resp, healthy ? 200 : 503, doc);
}

static int api_metrics(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	(void)req;
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", METRICS_CONTENT_TYPE);
	return metrics_render(ctx, &resp->body);
}

static int api_sysinfo(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	struct cloudd *d = ctx;
	struct sysinfo_source src = {
		.sysroot = d->cfg.sysroot,
		.boot_env = d->cfg.boot_env,
		.kvm = d->kvm,
	};

	(void)req;
	return httpd_reply_json(resp, 200, sysinfo_collect(&src));
}

static int api_state(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	struct cloudd *d = ctx;

	(void)req;
	return httpd_reply_json(resp, 200, converge_actual(d->conv));
}

/* The tail of an instance's serial console: ?bytes=N (default CONVERGE_CONSOLE_TAIL). */
static int api_console(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	struct cloudd *d = ctx;
	const char *id = httpd_param(req, "id"), *q = httpd_query(req, "bytes");
	unsigned long long want = CONVERGE_CONSOLE_TAIL;
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (!converge_has_instance(d->conv, id) || !state_id_valid(id))
		return httpd_reply_error(resp, 404, "not_found", "no instance \"%s\" on this node", id);
	if (q) {
		char *end;
		errno = 0;
		want = strtoull(q, &end, 10);
		if (errno || *end || q[0] < '0' || q[0] > '9' || want == 0 || want > CONVERGE_CONSOLE_MAX)
			return httpd_reply_error(resp, 400, "bad_request",
						 "bytes must be a number from 1 to %d", CONVERGE_CONSOLE_MAX);
	}
	if (converge_console_path(d->conv, id, path, sizeof(path)) < 0)
		return httpd_reply_error(resp, 404, "not_found", "instance \"%s\" has no console log", id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return httpd_reply_error(resp, 404, "not_found",
						 "instance \"%s\" has no console log yet", id);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "text/plain; charset=utf-8");
	resp->fd = fd;
	resp->fd_length = (unsigned long long)st.st_size > want ? want : (unsigned long long)st.st_size;
	resp->fd_offset = (unsigned long long)st.st_size - resp->fd_length;
	return 0;
}

static int api_filters(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	(void)req, (void)ctx;
	return httpd_reply_json(resp, 200, filter_status_json());
}

int api_register(struct cloudd *d)
{
	/* authentication before routing: an unsigned request learns nothing of the routes */
	if (httpd_set_gate(d->http, node_auth_gate, &d->auth) < 0)
		return -1;
	if (httpd_route(d->http, "GET", "/health", api_health, d) < 0 ||
	    httpd_route(d->http, "GET", "/metrics", api_metrics, d) < 0 ||
	    httpd_route(d->http, "GET", "/v1/sysinfo", api_sysinfo, d) < 0)
		return -1;
	if (d->conv && (httpd_route(d->http, "GET", "/v1/state", api_state, d) < 0 ||
			httpd_route(d->http, "GET", "/v1/instances/{id}/console", api_console, d) < 0 ||
			httpd_route(d->http, "GET", "/v1/filters", api_filters, d) < 0))
		return -1;
	return 0;
}
