/*
 * lkwebhook — POST /livekit/webhook (public route, DESIGN §6): LiveKit's
 * webhooks verified with livekit_webhook_verify() (raw JWT in Authorization,
 * HS256 with the API secret, `sha256` claim of the body) and mapped to call
 * events:
 *
 *   participant_left, identity "sip-<call_id>" → call_ended
 *                                  {reason:"remote_hangup", by:"remote"}
 *   room_finished, room "call-<call_id>"      → call_ended
 *                                  {reason:"room_finished", by:"system"}
 *                                  (a no-op for a call that already ended)
 *   egress_ended, room "call-<call_id>"       → recording_ready {path,
 *                                  recording_id} when EGRESS_COMPLETE, else
 *                                  recording_failed {attempt:1, error}
 *
 * Anything else, or rooms that are not ours, is answered 200 and ignored.
 * Event ids derive from the webhook's id and event type (persist_event_id),
 * so a webhook LiveKit retries is stored once (Nats-Msg-Id, call_events).
 * 401 for a missing or bad signature, 400 for an unusable body, 503 when the
 * event cannot be published (LiveKit retries).
 */
#ifndef CALLMESH_GATEWAY_LKWEBHOOK_H
#define CALLMESH_GATEWAY_LKWEBHOOK_H

#include <cjson/cJSON.h>

#include "bus/bus.h"
#include "core/core.h"
#include "httpd/httpd.h"

struct lkwebhook;

/* Borrows bus (must outlive it); copies the strings. An empty api_key or
 * api_secret is allowed: every webhook is then refused with 401. */
int lkwebhook_new(struct lkwebhook **lkp, struct bus *bus, const char *api_key,
		  const char *api_secret, const char *source) CM_MUST_USE;
/* NULL-safe; returns NULL. */
struct lkwebhook *lkwebhook_free(struct lkwebhook *lk);

/* The route handler; `arg` is the struct lkwebhook. Safe on pool threads. */
void lkwebhook_handle(struct httpd_req *req, void *arg);

/* The mapping alone: the call event for webhook `body` (a parsed
 * WebhookEvent), ts = now_ms. *evp = NULL (and 0) when the webhook is
 * ignored. EINVAL for a body without "event". Caller frees *evp. */
int lkwebhook_map(struct event **evp, const cJSON *body, const char *source,
		  int64_t now_ms) CM_MUST_USE;

#endif
