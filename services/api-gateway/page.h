/* Keyset pagination of list endpoints: ?limit=1..100 (default 20) and
 * ?cursor=<next_cursor of the previous page>, newest first on
 * (created_at, id). Queries select `created_us` (ROW_SQL_US) for it. */
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
/* The keyset condition, order and limit of a page over table alias `t`:
 * the cursor's created_us and id are parameters `us` and `id` (pg.cur_us,
 * pg.cur.id, NULL without a cursor), the row count `lim` (pg.fetch). */
#define PAGE_SQL(t, us, id, lim)                                                       \
	" AND (" us "::bigint IS NULL OR (" t ".created_at, " t ".id) <"               \
	" (to_timestamp(0) + " us "::bigint * interval '1 microsecond', " id "::uuid))" \
	" ORDER BY " t ".created_at DESC, " t ".id DESC LIMIT " lim "::int"

/* One row of a query result as a JSON object. */
typedef int page_row_fn(cJSON **objp, const struct db_result *res, int row);

/* *datap = {"<name>":[row(0)…],"next_cursor":…} for the rows of res on this
 * page; next_cursor is built from the page's last row (its `created_us` and
 * `id_col`) when the query returned more than limit rows, else null. */
int page_json(cJSON **datap, const struct db_result *res, const struct page *pg,
	      const char *name, const char *id_col, page_row_fn *row) CM_MUST_USE;

#endif
