/* PostgreSQL state for integration tests: one value, or waiting for it. */
#include "harness/test.h"

#include "core/core.h"
#include "db/db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *test_db_query1(struct db *db, const char *sql, const char *arg)
{
	struct db_result *res = NULL;
	const char *params[] = { arg };
	if (db_exec(db, &res, sql, arg ? 1 : 0, arg ? params : NULL) != 0)
		return NULL;
	const char *v = db_result_rows(res) > 0 ? db_result_get(res, 0, 0) : NULL;
	char *out = strdup(v ? v : "");
	db_result_free(res);
	return out;
}

int test_db_wait_value(struct db *db, const char *sql, const char *arg, const char *want,
		       int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	for (;;) {
		char *v = test_db_query1(db, sql, arg);
		bool ok = v && strcmp(v, want) == 0;
		free(v);
		if (ok)
			return 0;
		if (time_mono_ms() >= end)
			return ETIMEDOUT;
		test_nap_ms(25);
	}
}
