/* A call record in one round trip: the row, and its transcript and events
 * aggregated to JSON by PostgreSQL; and its rendered, cached reply body.
 * Whoever writes a table read here brackets the write with
 * record_cache_write_begin()/_end() (record_cache.h). */
#include "record.h"

#include "call_row.h"
#include "httpd/httpd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char record_sql[] =
	"SELECT " CALL_ROW_SQL_COLS ","
	" (SELECT coalesce(json_agg(json_build_object("
	"    'speaker', t.speaker, 'text', t.text, 'timestamp', " ROW_SQL_TS("t.started_at") ")"
	"    ORDER BY t.seq), '[]'::json)"
	"  FROM transcript_segments t WHERE t.call_id = c.id)::text AS transcripts,"
	" (SELECT coalesce(json_agg(json_build_object("
	"    'id', e.id, 'type', e.type, 'ts', " ROW_SQL_TS("e.ts") ", 'source', e.source,"
	"    'data', e.data) ORDER BY e.ts, e.received_at, e.id), '[]'::json)"
	"  FROM call_events e WHERE e.call_id = c.id)::text AS events"
	" FROM calls c WHERE c.id = $1";

int record_load(struct db *db, cJSON **recordp, const char *call_id)
{
	int err = 0;
	struct db_result *res = NULL;
	cJSON *rec = NULL, *list = NULL;

	if (!db || !recordp || !id_is_uuid(call_id))
		return EINVAL;
	const char *params[] = { call_id };
	err = db_exec(db, &res, record_sql, 1, params);
	if (err)
		goto out;
	if (db_result_rows(res) == 0) {
		err = ENOENT;
		goto out;
	}
	err = call_row_json(&rec, res, 0);
	if (err)
		goto out;
	const char *names[] = { "transcripts", "events" };
	for (size_t i = 0; i < CM_ARRAY_LEN(names); i++) {
		const char *text = db_result_by_name(res, 0, names[i]);
		list = text ? cJSON_Parse(text) : NULL;
		if (!list)
			list = cJSON_CreateArray();
		if (!list || !cJSON_AddItemToObject(rec, names[i], list)) {
			err = ENOMEM;
			goto out;
		}
		list = NULL;
	}
	*recordp = rec;
	rec = NULL;
out:
	cJSON_Delete(list);
	cJSON_Delete(rec);
	db_result_free(res);
	return err;
}

int record_fetch(struct record_body **bodyp, struct db *db, struct record_cache *cache,
		 const char *call_id)
{
	struct record_cache_ticket t;
	cJSON *rec = NULL;
	char *text = NULL;

	/* before the load: a write that begins after this keeps it out */
	record_cache_ticket(cache, call_id, &t);
	int err = record_load(db, &rec, call_id);
	if (err)
		goto out;
	text = httpd_envelope_ok("call", rec); /* takes rec */
	err = text ? record_body_new(bodyp, text, strlen(text)) : ENOMEM;
	if (!err)
		(void)record_cache_put(cache, call_id, &t, *bodyp);
out:
	free(text);
	return err;
}
