/* Keyset pagination of list endpoints: ?limit=1..100 (default 20) and
 * ?cursor=<next_cursor of the previous page>, newest first on
 * (created_at, id). Queries select `created_us` (API_SQL_US) for it. */
#ifndef CALLMESH_GATEWAY_PAGE_H
#define CALLMESH_GATEWAY_PAGE_H

#include "cursor.h"
#include "db/db.h"
#include "httpd/httpd.h"

#include <cjson/cJSON.h>

#define PAGE_LIMIT_DEFAULT 20
#define PAGE_LIMIT_MAX 100

struct page {
	int limit;
	char fetch[16];        /* limit + 1, as an SQL parameter */
	bool has_cursor;
	struct cursor cur;
	char cur_us[24];       /* cur.created_us as an SQL parameter */
};

/* Reads limit and cursor; replies 400 (field limit / cursor) and returns
 * false when malformed. */
bool page_parse(struct httpd_req *req, struct page *pg);
/* Adds "next_cursor" to data: built from row limit-1 (its `created_us` and
 * `id_col`) when the query returned more than limit rows, else null. */
int page_finish(cJSON *data, const struct db_result *res, const struct page *pg,
		const char *id_col) CM_MUST_USE;
/* Number of rows of res on this page. */
int page_rows(const struct db_result *res, const struct page *pg);

#endif
