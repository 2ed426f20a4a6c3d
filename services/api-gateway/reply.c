/* Replies and request helpers shared by every resource handler. */
#include "api_priv.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct db *api_db_get(struct api *api, struct httpd_req *req)
{
	struct db *db = db_pool_get(api->pool, API_DB_WAIT_MS);
	if (!db)
		httpd_reply_error(
			req, 503, "database_unavailable", NULL,
			errno == ETIMEDOUT
				? "The database is busy; retry in a moment."
				: "The database is unavailable; retry when PostgreSQL is back.");
	return db;
}

void api_db_put(struct api *api, struct db *db)
{
	db_pool_put(api->pool, db);
}

const char *api_clause(char *buf, size_t len, const char *text)
{
	snprintf(buf, len, "%s", text ? text : "");
	size_t n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '.' || buf[n - 1] == ' ' || buf[n - 1] == '\n'))
		buf[--n] = '\0';
	return n ? buf : "no reason given";
}

void api_reply_field_error(struct httpd_req *req, const struct cmd_field_error *e)
{
	httpd_reply_error(req, 400, e->code ? e->code : "invalid_field",
			  e->field[0] ? e->field : NULL, e->message);
}

void api_reply_db_error(struct httpd_req *req, int err)
{
	switch (err) {
	case EIO:
	case ETIMEDOUT:
	case ECONNREFUSED:
	case EAGAIN:
	case ENOMEM:
		httpd_reply_error(req, 503, "database_unavailable", NULL,
				  "The database is unavailable; retry when PostgreSQL is back.");
		return;
	default:
		httpd_reply_error(req, 500, "internal_error", NULL,
				  "The server failed on this request; its log says why.");
		return;
	}
}

void api_reply_list(struct api *api, struct httpd_req *req, const char *sql, const char *name,
		    const char *id_col, page_row_fn *row)
{
	struct page pg;
	struct db_result *res = NULL;
	cJSON *data = NULL;

	if (!page_parse(req, &pg))
		return;
	const char *params[] = { pg.has_cursor ? pg.cur_us : NULL,
				 pg.has_cursor ? pg.cur.id : NULL, pg.fetch };
	struct db *db = api_db_get(api, req);
	if (!db)
		return;
	int err = db_exec(db, &res, sql, 3, params);
	api_db_put(api, db);
	if (!err)
		err = page_json(&data, res, &pg, name, id_col, row);
	db_result_free(res);
	if (err)
		api_reply_db_error(req, err);
	else
		httpd_reply_ok(req, 200, name, data);
}

void api_reply_deleted(struct httpd_req *req, int affected, const char *what, const char *field,
		       const char *id)
{
	char msg[96];
	if (affected == 0) {
		snprintf(msg, sizeof(msg), "No %s has this %s (it may have been deleted already).",
			 what, field);
		httpd_reply_error(req, 404, "not_found", field, msg);
		return;
	}
	cJSON *d = cJSON_CreateObject();
	if (d && !cJSON_AddStringToObject(d, field, id))
		d = (cJSON_Delete(d), NULL);
	snprintf(msg, sizeof(msg), "%s_deleted", what);
	log_info(msg, "%s %s", what, id);
	snprintf(msg, sizeof(msg), "%s deleted", what);
	httpd_reply_ok(req, 200, msg, d);
}

bool api_path_id(struct httpd_req *req, char out[ID_UUID_LEN + 1], const char *field)
{
	const char *id = httpd_req_param(req, "id");
	if (!id_is_uuid(id)) {
		httpd_reply_error(req, 400, "invalid_id", field,
				  "The id in the path must be a UUID.");
		return false;
	}
	for (int i = 0; i <= ID_UUID_LEN; i++)
		out[i] = (char)tolower((unsigned char)id[i]);
	return true;
}

const cJSON *api_body(struct httpd_req *req)
{
	const cJSON *body = httpd_req_json(req);
	if (!body) {
		httpd_reply_error(req, 400, "missing_body", NULL,
				  "A JSON object body is required.");
		return NULL;
	}
	size_t len = 0;
	const char *raw = httpd_req_body(req, &len);
	struct cmd_field_error ve;
	if (raw && cmd_check_no_nul(raw, len, &ve)) {
		api_reply_field_error(req, &ve);
		return NULL;
	}
	return body;
}
