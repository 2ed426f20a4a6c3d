/* Routes of the REST API. Resource handlers arrive with the API issue (#3);
 * health, readiness and metrics are public here as on every HEALTH_ADDR. */
#include "api.h"

#include "httpd/httpd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct api {
	struct httpd *httpd;
	const struct auth *auth;
	service_ready_h *ready;
	void *ready_arg;
	struct service *svc;
};

static void on_healthz(struct httpd_req *req, void *arg)
{
	(void)arg;
	static const char body[] = "{\"status\":\"ok\"}";
	httpd_reply_raw(req, 200, "application/json", body, sizeof(body) - 1);
}

static void on_readyz(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	char why[256] = "", body[400];
	bool ok = service_bus_ready(api->svc);
	if (!ok)
		snprintf(why, sizeof(why), "nats: not ready");
	else
		ok = api->ready(why, sizeof(why), api->ready_arg);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", ok ? "ready" : "not_ready");
	if (!ok)
		cJSON_AddStringToObject(o, "reason", why);
	if (!cJSON_PrintPreallocated(o, body, sizeof(body), false))
		snprintf(body, sizeof(body), "{\"status\":\"not_ready\"}");
	cJSON_Delete(o);
	httpd_reply_raw(req, ok ? 200 : 503, "application/json", body, strlen(body));
}

static void on_metrics(struct httpd_req *req, void *arg)
{
	(void)arg;
	char *text = metrics_render();
	if (!text) {
		httpd_reply_error(req, 500, "out_of_memory", NULL, "cannot render metrics");
		return;
	}
	httpd_reply_raw(req, 200, "text/plain; version=0.0.4", text, strlen(text));
	free(text);
}

static const struct httpd_route api_routes[] = {
	{ "GET", "/healthz", on_healthz, true },
	{ "GET", "/readyz", on_readyz, true },
	{ "GET", "/metrics", on_metrics, true },
};

static bool api_auth(const char *bearer, void *arg)
{
	struct api *api = arg;
	return auth_check(api->auth, bearer);
}

int api_start(struct api **apip, const char *addr, const struct auth *auth,
	      service_ready_h *ready, void *ready_arg, struct service *svc)
{
	struct api *api = calloc(1, sizeof(*api));
	if (!api)
		return ENOMEM;
	api->auth = auth;
	api->ready = ready;
	api->ready_arg = ready_arg;
	api->svc = svc;
	struct httpd_opts opts = { .max_body = 1 << 20, .auth = api_auth, .auth_arg = api };
	int err = httpd_start(&api->httpd, addr, api_routes, CM_ARRAY_LEN(api_routes), api, &opts);
	if (err) {
		log_error("api_listen_failed", "API_ADDR %s: %s", addr, cm_strerror(err));
		free(api);
		api = NULL;
	} else {
		log_info("api_listening", "REST API on http://%s", addr);
	}
	*apip = api;
	return err;
}

struct api *api_stop(struct api *api)
{
	if (!api)
		return NULL;
	api->httpd = httpd_stop(api->httpd);
	free(api);
	return NULL;
}
