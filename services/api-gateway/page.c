/* limit/cursor query arguments and next_cursor. */
#include "page.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool page_parse(struct httpd_req *req, struct page *pg)
{
	memset(pg, 0, sizeof(*pg));
	pg->limit = PAGE_LIMIT_DEFAULT;
	const char *limit = httpd_req_query(req, "limit");
	if (limit) {
		long v = 0;
		size_t n = strlen(limit);
		bool ok = n > 0 && n <= 3;
		for (size_t i = 0; ok && i < n; i++) {
			ok = limit[i] >= '0' && limit[i] <= '9';
			v = v * 10 + (limit[i] - '0');
		}
		if (!ok || v < 1 || v > PAGE_LIMIT_MAX) {
			httpd_reply_error(req, 400, "invalid_field", "limit",
					  "limit must be an integer from 1 to 100.");
			return false;
		}
		pg->limit = (int)v;
	}
	snprintf(pg->fetch, sizeof(pg->fetch), "%d", pg->limit + 1);
	const char *cur = httpd_req_query(req, "cursor");
	if (cur) {
		if (cursor_decode(&pg->cur, cur)) {
			httpd_reply_error(req, 400, "invalid_field", "cursor",
					  "cursor is not one this API returned; pass next_cursor "
					  "from the previous page as it is.");
			return false;
		}
		pg->has_cursor = true;
		snprintf(pg->cur_us, sizeof(pg->cur_us), "%lld", (long long)pg->cur.created_us);
	}
	return true;
}

static int page_rows(const struct db_result *res, const struct page *pg)
{
	int rows = db_result_rows(res);
	return rows > pg->limit ? pg->limit : rows;
}

static int page_finish(cJSON *data, const struct db_result *res, const struct page *pg,
		       const char *id_col)
{
	if (db_result_rows(res) <= pg->limit)
		return cJSON_AddNullToObject(data, "next_cursor") ? 0 : ENOMEM;
	char cur[CURSOR_MAX];
	const char *us = db_result_by_name(res, pg->limit - 1, "created_us");
	const char *id = db_result_by_name(res, pg->limit - 1, id_col);
	if (!us || cursor_encode(cur, strtoll(us, NULL, 10), id))
		return EIO;
	return cJSON_AddStringToObject(data, "next_cursor", cur) ? 0 : ENOMEM;
}

int page_json(cJSON **datap, const struct db_result *res, const struct page *pg,
	      const char *name, const char *id_col, page_row_fn *row)
{
	cJSON *data = cJSON_CreateObject();
	cJSON *arr = data ? cJSON_AddArrayToObject(data, name) : NULL;
	int err = arr ? 0 : ENOMEM;
	for (int i = 0; !err && i < page_rows(res, pg); i++) {
		cJSON *o = NULL;
		err = row(&o, res, i);
		if (!err)
			cJSON_AddItemToArray(arr, o);
	}
	if (!err)
		err = page_finish(data, res, pg, id_col);
	if (err)
		cJSON_Delete(data);
	else
		*datap = data;
	return err;
}
