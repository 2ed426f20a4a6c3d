/* Starting a call, the steps web and outbound calls share: the call row,
 * call_queued, the room, the agent — and, when a step fails, marking the
 * call failed so that nothing is left `queued` (DESIGN §1, §4;
 * proto/COMMANDS.md). */
#ifndef CALLMESH_GATEWAY_LAUNCH_H
#define CALLMESH_GATEWAY_LAUNCH_H

#include "api_priv.h"
#include "command/command.h"

#include <cjson/cJSON.h>

#define LAUNCH_ROOM_MAX 48 /* "call-" + uuid + NUL */

/* One call being started. Strings and JSON are borrowed. */
struct launch {
	char call_id[ID_UUID_LEN + 1];
	char room[LAUNCH_ROOM_MAX];
	const char *kind;          /* "web" | "outbound" */
	const char *provider;      /* "twilio" | "exotel"; NULL for web */
	const char *trunk_id, *from_number, *to_number; /* NULL for web */
	const cJSON *metadata;     /* the request's metadata object, or NULL */
	const cJSON *assistant;    /* assistants_load() view of the assistant */
	char backend[16];          /* rooms.create's `backend` ("local" | "livekit"), or "" */
	char dial_by[TIME_ISO_LEN + 1]; /* outbound: the dial job's dial_by, stored; web: "" */
};

/* New call id and room name (call-<id>). */
int launch_init(struct launch *l) CM_MUST_USE;
/* Inserts the call as `queued` (bracketed on cache, may be NULL). db errors. */
int launch_insert(struct db *db, struct record_cache *cache, const struct launch *l) CM_MUST_USE;
/* Sends call_queued to CALLS without waiting for its ack (bus_js_pub_send):
 * the caller collects it with bus_js_pub_wait() and frees *pubp. EBUSY
 * when the bus has its limit of publishes awaiting acks; EAGAIN etc. */
int launch_queued(struct api *api, const struct launch *l, struct bus_js_pub **pubp) CM_MUST_USE;
/* rooms.create; *urlp = the reply's url (caller frees; may be NULL),
 * l->backend = the reply's backend ("" when it has none). */
int launch_room(struct api *api, struct launch *l, char **urlp, struct cmd_error *ce) CM_MUST_USE;
/* The assistant as agent-worker needs it (proto/COMMANDS.md
 * agents.dispatch `assistant`), prompt and start instruction filled from
 * l->metadata (template.h). E2BIG when filling makes a text too long,
 * ENOMEM. Caller frees *snapp. Pure: run it before anything is written. */
int launch_snapshot(cJSON **snapp, const struct launch *l) CM_MUST_USE;
/* agents.dispatch carrying `snapshot` (borrowed). */
int launch_dispatch(struct api *api, const struct launch *l, const cJSON *snapshot,
		    bool wait_for_answer, struct cmd_error *ce) CM_MUST_USE;

/* The steps both kinds share, in order: id, snapshot (before anything is
 * written), NATS check, call row, call_queued (its ack awaited after the
 * room: 503 overloaded when too many acks are pending), room. On failure it has
 * replied (and marked the call failed when the row exists) and returns
 * non-zero. On success the caller owns *snapp and *urlp. */
int launch_start(struct api *api, struct db *db, struct httpd_req *req, struct launch *l,
		 cJSON **snapp, char **urlp) CM_MUST_USE;

/* A step failed after the row was inserted: marks the call `failed` with
 * end_reason, publishes call_failed (data.status "failed", data.reason =
 * end_reason; best effort), asks room-manager to delete the room when
 * `room_created`, then replies `status` {code, message}: `message` is the
 * sentence for a person (borrowed). Logged once. */
void launch_fail(struct api *api, struct db *db, struct httpd_req *req, const struct launch *l,
		 bool room_created, unsigned status, const char *code, const char *end_reason,
		 const char *message);

/* The HTTP answer and end_reason for a failed command step ("room",
 * "token", "agent"): unavailable → 503 "<step>_unavailable", refused → 502
 * "<step>_failed" with the responder's error in end_reason; the message
 * names the service that did not answer or refused, and why. */
void launch_fail_cmd(struct api *api, struct db *db, struct httpd_req *req, const struct launch *l,
		     bool room_created, const char *step, int err, const struct cmd_error *ce);

#endif
