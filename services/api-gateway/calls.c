/* GET /calls/{id}, GET /calls (filters, keyset pagination), and
 * POST /calls/{id}/hangup. */
#include "calls.h"

#include "api_priv.h"
#include "call_row.h"
#include "page.h"
#include "record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* From memory when the cache holds the call (no database connection is
 * borrowed then), else loaded and cached. */
void calls_get(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	char id[ID_UUID_LEN + 1];
	struct record_body *b = NULL;

	if (!api_path_id(req, id, "call_id"))
		return;
	b = record_cache_get(api->cache, id);
	if (b) {
		metric_add(api->m_cache_hits, 1);
		httpd_reply_raw(req, 200, "application/json", b->text, b->len);
		record_body_unref(b);
		return;
	}
	metric_add(api->m_cache_misses, 1);
	struct db *db = api_db_get(api, req);
	if (!db)
		return;
	int err = record_fetch(&b, db, api->cache, id);
	api_db_put(api, db);
	if (err == ENOENT)
		httpd_reply_error(req, 404, "not_found", "call_id", "No call has this call_id.");
	else if (err)
		api_reply_db_error(req, err);
	else
		httpd_reply_raw(req, 200, "application/json", b->text, b->len);
	record_body_unref(b);
}

static const char list_sql[] =
	"SELECT " CALL_ROW_SQL_COLS " FROM calls c"
	" WHERE ($1::text IS NULL OR c.status = $1)"
	"   AND ($2::uuid IS NULL OR c.assistant_id = $2::uuid)"
	"   AND ($3::timestamptz IS NULL OR c.created_at >= $3::timestamptz)"
	"   AND ($4::timestamptz IS NULL OR c.created_at < $4::timestamptz)"
	PAGE_SQL("c", "$5", "$6", "$7");

#define TIME_MIN_MS (-2208988800000LL)  /* 1900-01-01T00:00:00Z */
#define TIME_MAX_MS 253402300799999LL    /* 9999-12-31T23:59:59.999Z */

/* A query argument as a timestamp, normalised for PostgreSQL. */
static bool query_time(struct httpd_req *req, const char *name, char out[TIME_ISO_LEN + 1],
		       bool *setp)
{
	const char *s = httpd_req_query(req, name);
	int64_t ms = 0;
	*setp = false;
	if (!s)
		return true;
	/* PostgreSQL knows no year 0: keep to years 1900–9999. */
	if (time_parse_iso8601(&ms, s) || ms < TIME_MIN_MS || ms > TIME_MAX_MS) {
		char msg[160];
		snprintf(msg, sizeof(msg),
			 "%s must be an RFC 3339 timestamp from year 1900 to 9999, like "
			 "2026-12-03T10:00:00Z.",
			 name);
		httpd_reply_error(req, 400, "invalid_field", name, msg);
		return false;
	}
	time_iso8601(out, ms);
	*setp = true;
	return true;
}

struct list_args {
	const char *status;
	const char *assistant_id;
	char after[TIME_ISO_LEN + 1], before[TIME_ISO_LEN + 1];
	bool has_after, has_before;
	struct page pg;
};

/* Filters and page of GET /calls; false when already answered (400). */
static bool list_args_parse(struct httpd_req *req, struct list_args *a)
{
	enum call_status st;
	memset(a, 0, sizeof(*a));
	a->status = httpd_req_query(req, "status");
	if (a->status && call_status_parse(&st, a->status)) {
		httpd_reply_error(
			req, 400, "invalid_field", "status",
			"status must be a call status: queued, dialing, ringing, in_progress, "
			"on_hold, completed, busy, no_answer, rejected, cancelled, "
			"unreachable, timeout or failed.");
		return false;
	}
	a->assistant_id = httpd_req_query(req, "assistant_id");
	if (a->assistant_id && !id_is_uuid(a->assistant_id)) {
		httpd_reply_error(req, 400, "invalid_field", "assistant_id",
				  "assistant_id must be a UUID.");
		return false;
	}
	return query_time(req, "created_after", a->after, &a->has_after) &&
	       query_time(req, "created_before", a->before, &a->has_before) &&
	       page_parse(req, &a->pg);
}

void calls_list(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	struct list_args a;
	struct db_result *res = NULL;
	cJSON *data = NULL;

	if (!list_args_parse(req, &a))
		return;
	const char *params[] = {
		a.status, a.assistant_id, a.has_after ? a.after : NULL,
		a.has_before ? a.before : NULL, a.pg.has_cursor ? a.pg.cur_us : NULL,
		a.pg.has_cursor ? a.pg.cur.id : NULL, a.pg.fetch,
	};
	struct db *db = api_db_get(api, req);
	if (!db)
		return;
	int err = db_exec(db, &res, list_sql, (int)CM_ARRAY_LEN(params), params);
	api_db_put(api, db);
	if (!err)
		err = page_json(&data, res, &a.pg, "calls", "call_id", call_row_json);
	db_result_free(res);
	if (err)
		api_reply_db_error(req, err);
	else
		httpd_reply_ok(req, 200, "calls", data);
}

const struct cmd_rule calls_hangup_rules[] = {
	{ "reason", CMD_STR, false, 1, 64, false, NULL, NULL },
	{ 0 },
};

void calls_hangup(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	char id[ID_UUID_LEN + 1], subject[CMD_SUBJECT_MAX], *payload = NULL;
	struct db_result *res = NULL;
	struct cmd_field_error ve;
	cJSON *cmd = NULL, *data = NULL;
	enum call_status st;

	if (!api_path_id(req, id, "call_id"))
		return;
	const cJSON *body = httpd_req_json(req);
	if (body && cmd_check_object(body, calls_hangup_rules, false, NULL, &ve)) {
		api_reply_field_error(req, &ve);
		return;
	}
	const cJSON *reason = body ? cJSON_GetObjectItemCaseSensitive(body, "reason") : NULL;
	struct db *db = api_db_get(api, req);
	if (!db)
		return;
	const char *params[] = { id };
	int err = db_exec(db, &res, "SELECT status FROM calls WHERE id = $1", 1, params);
	api_db_put(api, db);
	if (err) {
		api_reply_db_error(req, err);
		goto out;
	}
	if (db_result_rows(res) == 0) {
		httpd_reply_error(req, 404, "not_found", "call_id", "No call has this call_id.");
		goto out;
	}
	const char *status = db_result_get(res, 0, 0);
	if (call_status_parse(&st, status) == 0 && call_status_is_terminal(st)) {
		httpd_reply_error(req, 409, "call_ended", "call_id",
				  "The call has already ended; there is nothing to hang up.");
		goto out;
	}
	if (!bus_connected(api->bus)) {
		httpd_reply_error(req, 503, "nats_unavailable", NULL,
				  "The message bus (NATS) is unavailable, so the call cannot be "
				  "told to hang up; retry when it is back.");
		goto out;
	}
	cmd = cJSON_CreateObject();
	if (!cmd || !cJSON_AddNumberToObject(cmd, "v", 1) ||
	    !cJSON_AddStringToObject(cmd, "reason",
				     cJSON_IsString(reason) ? reason->valuestring : "api") ||
	    !(payload = cJSON_PrintUnformatted(cmd))) {
		httpd_reply_error(req, 503, "out_of_memory", NULL,
				  "The server is short of memory; retry in a moment.");
		goto out;
	}
	err = cmd_hangup_subject(subject, sizeof(subject), id);
	if (!err)
		err = bus_publish(api->bus, subject, payload, strlen(payload));
	if (err) {
		httpd_reply_error(req, 503, "nats_unavailable", NULL,
				  "The message bus (NATS) is unavailable, so the call cannot be "
				  "told to hang up; retry when it is back.");
		goto out;
	}
	log_info("call_hangup_requested", "call %s (%s)", id, status);
	data = cJSON_CreateObject();
	if (data && (!cJSON_AddStringToObject(data, "call_id", id) ||
		     !cJSON_AddStringToObject(data, "status", status)))
		data = (cJSON_Delete(data), NULL);
	httpd_reply_ok(req, 202, "hangup requested", data);
out:
	free(payload);
	cJSON_Delete(cmd);
	db_result_free(res);
}
