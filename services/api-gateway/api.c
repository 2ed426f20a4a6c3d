/* Routes of the REST API (DESIGN §6). Health, readiness and metrics are
 * public here as on every HEALTH_ADDR; everything else needs a bearer key. */
#include "api_priv.h"

#include "assistants.h"
#include "calls.h"
#include "capacity.h"
#include "console.h"
#include "events.h"
#include "outbound.h"
#include "recording.h"
#include "trunks.h"
#include "webcall.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		httpd_reply_error(req, 500, "out_of_memory", NULL,
				  "The metrics cannot be rendered: the server is short of memory.");
		return;
	}
	httpd_reply_raw(req, 200, "text/plain; version=0.0.4", text, strlen(text));
	free(text);
}

/* LiveKit signs its webhooks itself: public route, lkwebhook verifies. */
static void on_livekit_webhook(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	lkwebhook_handle(req, api->lk);
}

static void on_console_index(struct httpd_req *req, void *arg)
{
	console_index(req, ((struct api *)arg)->console_dir);
}

static void on_console_file(struct httpd_req *req, void *arg)
{
	console_file(req, ((struct api *)arg)->console_dir);
}

static void on_console_vendor(struct httpd_req *req, void *arg)
{
	console_vendor(req, ((struct api *)arg)->console_dir);
}

static void on_events(struct httpd_req *req, void *arg)
{
	events_serve(req, ((struct api *)arg)->events);
}

static const struct httpd_route api_routes[] = {
	{ "GET", "/", on_console_index, true },
	{ "GET", "/console/{file}", on_console_file, true },
	{ "GET", "/console/vendor/{file}", on_console_vendor, true },
	{ "GET", "/events", on_events, false },
	{ "GET", "/calls/{id}/recording", recording_get, false },
	{ "GET", "/healthz", on_healthz, true },
	{ "GET", "/readyz", on_readyz, true },
	{ "GET", "/metrics", on_metrics, true },
	{ "POST", "/livekit/webhook", on_livekit_webhook, true },
	{ "POST", "/assistants", assistants_create, false },
	{ "GET", "/assistants", assistants_list, false },
	{ "GET", "/assistants/{id}", assistants_get, false },
	{ "PATCH", "/assistants/{id}", assistants_patch, false },
	{ "DELETE", "/assistants/{id}", assistants_delete, false },
	{ "POST", "/trunks", trunks_create, false },
	{ "GET", "/trunks", trunks_list, false },
	{ "GET", "/trunks/{id}", trunks_get, false },
	{ "PATCH", "/trunks/{id}", trunks_patch, false },
	{ "DELETE", "/trunks/{id}", trunks_delete, false },
	{ "POST", "/web_call/get_token", webcall_get_token, false },
	{ "POST", "/call/outbound", outbound_call, false },
	{ "GET", "/calls", calls_list, false },
	{ "GET", "/calls/{id}", calls_get, false },
	{ "POST", "/calls/{id}/hangup", calls_hangup, false },
};

static bool api_auth(const char *bearer, void *arg)
{
	struct api *api = arg;
	return auth_check(api->auth, bearer);
}

int api_new(struct api **apip, const char *addr, unsigned threads, const struct auth *auth,
	    struct db_pool *pool, struct lkwebhook *lk, struct record_cache *cache,
	    const struct secret_keys *keys, const struct api_policy *policy, service_ready_h *ready,
	    void *ready_arg, struct service *svc, const struct api_console_cfg *console)
{
	struct api *api = calloc(1, sizeof(*api));
	if (!api)
		return ENOMEM;
	api->auth = auth;
	api->ready = ready;
	api->ready_arg = ready_arg;
	api->svc = svc;
	api->bus = service_bus(svc);
	api->pool = pool;
	api->lk = lk;
	api->cache = cache;
	api->keys = keys;
	api->allow_private = policy->allow_private;
	api->dial_queue_timeout_s = policy->dial_queue_timeout_s;
	api->source = service_source(svc);
	api->console_dir = console->console_dir;
	api->recordings_dir = console->recordings_dir;
	api->m_outbound = metric_counter("api_outbound_calls_total", "outbound calls queued");
	api->m_web = metric_counter("api_web_calls_total", "web calls started");
	api->m_launch_failed = metric_counter("api_call_start_failures_total",
					      "calls marked failed while starting");
	api->m_cache_hits = metric_counter("api_record_cache_hits_total",
					   "GET /calls/{id} answered from memory");
	api->m_cache_misses = metric_counter("api_record_cache_misses_total",
					     "GET /calls/{id} loaded from PostgreSQL");
	static const struct httpd_opts no_limits; /* zeros: httpd's defaults */
	const struct httpd_opts *limits = svc ? service_http_limits(svc) : &no_limits;
	struct httpd_opts opts = { .max_body = API_BODY_MAX, .auth = api_auth, .auth_arg = api,
				   .threads = threads, .max_conns = limits->max_conns,
				   .max_per_client = limits->max_per_client,
				   .request_timeout_s = limits->request_timeout_s };
	int err = events_new(&api->events, api->bus, console->events_max);
	if (!err)
		err = capacity_new(&api->capacity, api->bus);
	if (!err)
		err = httpd_new(&api->httpd, addr, api_routes, CM_ARRAY_LEN(api_routes), api,
				  &opts);
	if (err) {
		log_error("api_listen_failed", "API_ADDR %s: %s", addr, cm_strerror(err));
		api->capacity = capacity_free(api->capacity);
		api->events = events_free(api->events);
		free(api);
		api = NULL;
	} else {
		log_info("api_listening", "REST API on http://%s, console at http://%s/", addr,
			 addr);
	}
	*apip = api;
	return err;
}

struct api *api_free(struct api *api)
{
	if (!api)
		return NULL;
	api->httpd = httpd_free(api->httpd); /* ends every event stream */
	api->events = events_free(api->events);
	api->capacity = capacity_free(api->capacity);
	free(api);
	return NULL;
}
