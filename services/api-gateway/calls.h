/* Calls as the API shows them: GET /calls/{id}, GET /calls, hangup. */
#ifndef CALLMESH_GATEWAY_CALLS_H
#define CALLMESH_GATEWAY_CALLS_H

#include "api_priv.h"

#include <cjson/cJSON.h>

/* The columns calls_row_json() reads, for a query on `calls c`. */
#define CALLS_SQL_COLS                                                                       \
	" c.id AS call_id, c.kind, c.provider, c.assistant_id, c.trunk_id, c.from_number,"   \
	" c.to_number, c.room, c.status, c.sip_code, c.sip_reason,"                           \
	" " API_SQL_TS("c.created_at") " AS created_at,"                                    \
	" " API_SQL_TS("c.answered_at") " AS answered_at,"                                  \
	" " API_SQL_TS("c.agent_ready_at") " AS agent_ready_at,"                            \
	" " API_SQL_TS("c.ended_at") " AS ended_at,"                                        \
	" c.end_reason, c.hold_count, c.hold_ms, c.recording_path, c.metadata::text AS metadata," \
	" (extract(epoch from (c.ended_at - c.answered_at)) * 1000)::bigint AS duration_ms,"  \
	" " API_SQL_US("c.created_at") " AS created_us"

/* Row `row` of a result selected with CALLS_SQL_COLS as the record's
 * columns (without transcripts and events). Caller frees *objp. */
int calls_row_json(cJSON **objp, const struct db_result *res, int row) CM_MUST_USE;

void calls_get(struct httpd_req *req, void *arg);
void calls_list(struct httpd_req *req, void *arg);
void calls_hangup(struct httpd_req *req, void *arg);

#endif
