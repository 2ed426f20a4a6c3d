/* The REST API listener on API_ADDR (DESIGN §6). */
#ifndef CALLMESH_GATEWAY_API_H
#define CALLMESH_GATEWAY_API_H

#include "auth.h"
#include "db/db.h"
#include "lkwebhook.h"
#include "record_cache.h"
#include "service/service.h"

struct api;
struct secret_keys;

/* The console and what it reads besides the REST API (console.h,
 * events.h, recording.h); strings borrowed, must outlive the API. */
struct api_console_cfg {
	const char *console_dir;    /* CONSOLE_DIR: index.html and its modules */
	const char *recordings_dir; /* RECORDINGS_DIR: recordings served from here only */
	unsigned events_max;        /* EVENTS_MAX_CLIENTS: GET /events streams at once */
};

/* How the API treats what it is asked to reach or queue. */
struct api_policy {
	bool allow_private;       /* OUTBOUND_ALLOW_PRIVATE: URLs to private addresses */
	int dial_queue_timeout_s; /* DIAL_QUEUE_TIMEOUT_S: a dial job's dial_by */
};

/* Serves the API on `addr` with `threads` handler threads (each borrows a
 * connection of `pool` while it works, so the pool should hold as many).
 * POST /livekit/webhook (public) goes to lkwebhook_handle(lk). GET
 * /calls/{id} answers from `cache` when it can; the handlers that write
 * calls bracket their writes on it (record_cache.h). Borrows auth, pool,
 * lk, cache, svc and the readiness check, which must outlive the API. */
int api_new(struct api **apip, const char *addr, unsigned threads, const struct auth *auth,
	    struct db_pool *pool, struct lkwebhook *lk, struct record_cache *cache,
	    const struct secret_keys *keys, const struct api_policy *policy, service_ready_h *ready,
	    void *ready_arg, struct service *svc,
	    const struct api_console_cfg *console) CM_MUST_USE;
/* Stops listening and waits for running handlers. NULL-safe; NULL. */
struct api *api_free(struct api *api);

#endif
