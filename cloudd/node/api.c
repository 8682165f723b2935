/* api.c -- cloudd's HTTP routes: /health, /metrics, /v1/sysinfo, /v1/filters (state routes live in converge.c), behind the auth gate */
#include <errno.h>
#include <string.h>

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
	if (d->conv && (converge_register_routes(d->conv, d->http) < 0 ||
			httpd_route(d->http, "GET", "/v1/filters", api_filters, d) < 0))
		return -1;
	return 0;
}
