/* A call's full record as JSON: what GET /calls/{id} returns in `data` and
 * what the end-of-call webhook POSTs. */
#ifndef CALLMESH_GATEWAY_RECORD_H
#define CALLMESH_GATEWAY_RECORD_H

#include "core/core.h"
#include "db/db.h"
#include "record_cache.h"

#include <cjson/cJSON.h>

/*
 * Loads call `call_id` (a UUID; EINVAL when malformed) from `db` (borrowed;
 * the calling thread's connection). On success *recordp is an object the
 * caller frees with cJSON_Delete():
 *
 *   {"call_id","kind","provider","assistant_id","trunk_id","from_number",
 *    "to_number","room","status","sip_code","sip_reason","created_at",
 *    "answered_at","agent_ready_at","ended_at","end_reason","hold_count",
 *    "hold_ms","recording_path","metadata","duration_ms",
 *    "transcripts":[{"speaker","text","timestamp"}…]   (ordered by seq)
 *    "events":[{"id","type","ts","source","data"}…]}    (ordered by ts, id)
 *
 * Timestamps are RFC 3339 UTC with milliseconds; absent values are null.
 * duration_ms = ended_at - answered_at when both are set, else null.
 * Returns 0, ENOENT (no such call), EINVAL, ENOMEM, or a db_exec() error
 * (EIO, ETIMEDOUT…). *recordp is set only on success.
 */
int record_load(struct db *db, cJSON **recordp, const char *call_id) CM_MUST_USE;

/*
 * GET /calls/{id}'s 200 body, {"success":true,"message":"call","data":<the
 * record>}, loaded from `db` (borrowed) and stored in `cache` (may be NULL)
 * unless a write of the call began meanwhile (record_cache.h). The caller
 * looks in the cache first; this is the miss. *bodyp: one reference, the
 * caller's (record_body_unref()). Errors as record_load().
 */
int record_fetch(struct record_body **bodyp, struct db *db, struct record_cache *cache,
		 const char *call_id) CM_MUST_USE;

#endif
