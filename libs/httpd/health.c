/* /healthz, /readyz and /metrics: the listener every service runs so that
 * Kubernetes probes and Prometheus find the same three paths everywhere. */
#include "httpd/httpd_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct health {
	httpd_ready_h *ready;
	void *arg;
};

static void reply_status(struct httpd_req *req, unsigned code, const char *status,
			 const char *reason)
{
	cJSON *o = cJSON_CreateObject();
	char *body = NULL;
	if (o && cJSON_AddStringToObject(o, "status", status) &&
	    (!reason || cJSON_AddStringToObject(o, "reason", reason)))
		body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!body) {
		httpd_reply_error(req, 500, "out_of_memory", NULL,
				  "The server is short of memory.");
		return;
	}
	httpd_reply_raw(req, code, "application/json", body, strlen(body));
	free(body);
}

static void on_healthz(struct httpd_req *req, void *arg)
{
	(void)arg;
	reply_status(req, 200, "ok", NULL);
}

static void on_readyz(struct httpd_req *req, void *arg)
{
	const struct health *hc = arg;
	char why[256] = "";
	if (!hc->ready || hc->ready(why, sizeof(why), hc->arg)) {
		reply_status(req, 200, "ready", NULL);
		return;
	}
	why[sizeof(why) - 1] = '\0';
	reply_status(req, 503, "not_ready", why[0] ? why : "not ready");
}

static void on_metrics(struct httpd_req *req, void *arg)
{
	(void)arg;
	char *text = metrics_render();
	if (!text) {
		httpd_reply_error(req, 500, "out_of_memory", NULL,
				  "The server is short of memory.");
		return;
	}
	httpd_reply_raw(req, 200, "text/plain; version=0.0.4", text, strlen(text));
	free(text);
}

static const struct httpd_route health_routes[] = {
	{ "GET", "/healthz", on_healthz, true },
	{ "GET", "/readyz", on_readyz, true },
	{ "GET", "/metrics", on_metrics, true },
};

int httpd_health_new(struct httpd **hp, const char *addr, httpd_ready_h *ready, void *arg,
		       const struct httpd_opts *limits)
{
	struct health *hc = calloc(1, sizeof(*hc));
	if (!hc)
		return ENOMEM;
	hc->ready = ready;
	hc->arg = arg;
	struct httpd_opts opts = { .threads = 1 };
	if (limits) {
		opts.max_conns = limits->max_conns;
		opts.max_per_client = limits->max_per_client;
		opts.request_timeout_s = limits->request_timeout_s;
	}
	return httpd_start_ex(hp, addr, health_routes, CM_ARRAY_LEN(health_routes), hc, &opts,
			      false, hc);
}
