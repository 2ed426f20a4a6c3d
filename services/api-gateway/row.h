/* A database row as JSON: the column readers every row renderer uses (REST
 * lists, the call record) and the SQL that selects timestamps for them.
 * Knows neither HTTP nor the API context. */
#ifndef CALLMESH_GATEWAY_ROW_H
#define CALLMESH_GATEWAY_ROW_H

#include <cjson/cJSON.h>
#include <stdbool.h>

/* SQL: a timestamptz column as RFC 3339 UTC with milliseconds. */
#define ROW_SQL_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
/* SQL: a timestamptz column as whole microseconds since the epoch (cursors). */
#define ROW_SQL_US(col) "(extract(epoch from " col ") * 1000000)::bigint"

/* A JSON value from a jsonb/json column text (NULL → JSON null; text that
 * does not parse → null). Caller owns the result. */
cJSON *row_json_column(const char *text);
/* Adds `s` as a string, or null when s is NULL. False on ENOMEM. */
bool row_add_str(cJSON *o, const char *name, const char *s);
/* Adds the decimal text `s` as a number, or null when NULL. */
bool row_add_num(cJSON *o, const char *name, const char *s);
/* Adds the SQL boolean text "t"/"f" as a JSON bool. */
bool row_add_bool(cJSON *o, const char *name, const char *s);

#endif
