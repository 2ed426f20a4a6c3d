/* What the REST handlers share: the API context and the replies every
 * resource uses. Private to api-gateway. */
#ifndef CALLMESH_GATEWAY_API_PRIV_H
#define CALLMESH_GATEWAY_API_PRIV_H

#include "api.h"
#include "bus/bus.h"
#include "db/db.h"
#include "httpd/httpd.h"
#include "page.h"
#include "record_cache.h"
#include "row.h"
#include "command/command.h"

/* One per process; handlers run on MHD's pool threads at once, so every
 * member is either immutable after start or thread-safe itself (bus, pool,
 * metrics). */
struct api {
	struct httpd *httpd;
	const struct auth *auth;
	service_ready_h *ready;
	void *ready_arg;
	struct service *svc;
	struct bus *bus;        /* borrowed from svc */
	struct db_pool *pool;   /* borrowed */
	struct lkwebhook *lk;   /* borrowed: POST /livekit/webhook */
	struct record_cache *cache; /* borrowed: GET /calls/{id} bodies */
	const struct secret_keys *keys; /* borrowed: trunk passwords (libs/secret) */
	bool allow_private;     /* OUTBOUND_ALLOW_PRIVATE: URLs to private addresses */
	int dial_queue_timeout_s; /* DIAL_QUEUE_TIMEOUT_S: a dial job's dial_by */
	const char *source;     /* "api-gateway/<instance>", events' source */
	struct metric *m_outbound, *m_web, *m_launch_failed;
	struct metric *m_cache_hits, *m_cache_misses;
	const char *console_dir;    /* borrowed: GET / and /console/{file} */
	const char *recordings_dir; /* borrowed: GET /calls/{id}/recording */
	struct events *events;      /* GET /events; freed after the listener stops */
	struct capacity *capacity;  /* how full the workers are (POST /call/outbound) */
};

#define API_BODY_MAX (1 << 20)  /* request bodies; larger → 413 */
#define API_DB_WAIT_MS 2000      /* longest wait for a free connection */
#define API_CMD_TIMEOUT_MS 5000  /* rooms.* requests */
/* agents.dispatch: the agent joins the room before it answers (a LiveKit join
 * may take its whole 4 s timeout plus the engine's 2 s before it fails). */
#define API_DISPATCH_TIMEOUT_MS 10000
#define API_TRUNK_TIMEOUT_MS 15000 /* sip.trunks.create: LiveKit behind it */
#define API_JS_TIMEOUT_MS 5000   /* JetStream acks (dial jobs) */

/* Borrows a connection for this request; when none can be had replies 503
 * database_unavailable and returns NULL. Hand it back with api_db_put(). */
struct db *api_db_get(struct api *api, struct httpd_req *req);
void api_db_put(struct api *api, struct db *db);

/* text (another service's reason) in buf without its closing period or
 * spaces, to end a sentence of ours; "no reason given" when empty. */
const char *api_clause(char *buf, size_t len, const char *text);
/* 400 with the validation error's code and field. */
void api_reply_field_error(struct httpd_req *req, const struct cmd_field_error *e);
/* A database error as HTTP: EIO/ETIMEDOUT/ECONNREFUSED → 503
 * database_unavailable, ENOMEM → 503, anything else → 500. */
void api_reply_db_error(struct httpd_req *req, int err);
/* GET of a list with no filters: `select` (rows where PAGE_SQL("t", "$1",
 * "$2", "$3") is appended) answered as 200 {"<name>":[row…],"next_cursor"}
 * keyed by `id_col`, or the error. */
void api_reply_list(struct api *api, struct httpd_req *req, const char *select, const char *name,
		    const char *id_col, page_row_fn *row);
/* The answer to DELETE of a `what` (e.g. "trunk") whose id is `id` in
 * field `field`: 200 {field: id} when `affected` rows were deactivated,
 * 404 not_found when none was active. */
void api_reply_deleted(struct httpd_req *req, int affected, const char *what, const char *field,
		       const char *id);
/* The {id} path capture as a UUID (lower-cased into out). Replies 400
 * invalid_id (field `field`) and returns false when malformed. */
bool api_path_id(struct httpd_req *req, char out[ID_UUID_LEN + 1], const char *field);
/* The request's JSON body; when there was none replies 400 missing_body
 * and returns NULL. */
const cJSON *api_body(struct httpd_req *req);

#endif
