/* /assistants: create, list, get, update, soft delete (DESIGN §6). */
#ifndef CALLMESH_GATEWAY_ASSISTANTS_H
#define CALLMESH_GATEWAY_ASSISTANTS_H

#include "db/db.h"
#include "httpd/httpd.h"
#include "row.h"

#include <cjson/cJSON.h>
#include "command/fields.h"

void assistants_create(struct httpd_req *req, void *arg);
void assistants_list(struct httpd_req *req, void *arg);
void assistants_get(struct httpd_req *req, void *arg);
void assistants_patch(struct httpd_req *req, void *arg);
void assistants_delete(struct httpd_req *req, void *arg);

/* The active assistant `id` as the API shows it (assistant_id,
 * assistant_name, …). ENOENT when absent or deleted; db errors as they
 * come. Caller frees *ap. */
int assistants_load(struct db *db, cJSON **ap, const char *id) CM_MUST_USE;

/* The columns assistants_from_row() reads, of `assistants a` (for a query
 * that selects other tables beside it; their names must not clash). */
#define ASSISTANTS_SELECT_COLS                                                                 \
	" a.id AS assistant_id, a.name, a.prompt, a.mode, a.start_instruction,"                \
	" a.interaction_config::text AS interaction_config, a.stt_config::text AS stt_config," \
	" a.llm_config::text AS llm_config, a.tts_config::text AS tts_config, a.end_call_url," \
	" a.active, " ROW_SQL_TS("a.created_at") " AS created_at, " ROW_SQL_TS(                \
		"a.updated_at") " AS updated_at, " ROW_SQL_US("a.created_at") " AS created_us"
/* The assistant of a row selected with ASSISTANTS_SELECT_COLS, as
 * assistants_load() gives it; ENOENT when its columns are null (an outer
 * join that matched none). Caller frees *ap. */
int assistants_from_row(cJSON **ap, const struct db_result *res, int row) CM_MUST_USE;

/* The request body's fields (libs/command/fields.h; also read by tests/fuzz). */
extern const struct cmd_rule assistants_rules[];

#endif
