/* One call as a row of `calls` and as JSON: the columns to select and the
 * object built from them. Shared by GET /calls (calls.c) and the call record
 * (record.c, which the persister and webhooks use); knows no HTTP. */
#ifndef CALLMESH_GATEWAY_CALL_ROW_H
#define CALLMESH_GATEWAY_CALL_ROW_H

#include "core/core.h"
#include "db/db.h"
#include "row.h"

#include <cjson/cJSON.h>

/* The columns call_row_json() reads, for a query on `calls c`. */
#define CALL_ROW_SQL_COLS                                                                   \
	" c.id AS call_id, c.kind, c.provider, c.assistant_id, c.trunk_id, c.from_number,"  \
	" c.to_number, c.room, c.status, c.sip_code, c.sip_reason,"                         \
	" " ROW_SQL_TS("c.created_at") " AS created_at,"                                    \
	" " ROW_SQL_TS("c.answered_at") " AS answered_at,"                                  \
	" " ROW_SQL_TS("c.agent_ready_at") " AS agent_ready_at,"                            \
	" " ROW_SQL_TS("c.ended_at") " AS ended_at,"                                        \
	" c.end_reason, c.hold_count, c.hold_ms, c.recording_path, c.metadata::text AS metadata," \
	" (extract(epoch from (c.ended_at - c.answered_at)) * 1000)::bigint AS duration_ms," \
	" " ROW_SQL_US("c.created_at") " AS created_us"

/* Row `row` of a result selected with CALL_ROW_SQL_COLS as the record's
 * columns (without transcripts and events). Caller frees *objp. */
int call_row_json(cJSON **objp, const struct db_result *res, int row) CM_MUST_USE;

#endif
