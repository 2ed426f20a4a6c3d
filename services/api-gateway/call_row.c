/* A `calls` row as the call's JSON object. */
#include "call_row.h"

#include <errno.h>

int call_row_json(cJSON **objp, const struct db_result *res, int row)
{
	static const char *const strs[] = {
		"call_id", "kind", "provider", "assistant_id", "trunk_id", "from_number",
		"to_number", "room", "status",
	};
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;
	for (size_t i = 0; ok && i < CM_ARRAY_LEN(strs); i++)
		ok = row_add_str(o, strs[i], db_result_by_name(res, row, strs[i]));
	ok = ok && row_add_num(o, "sip_code", db_result_by_name(res, row, "sip_code")) &&
	     row_add_str(o, "sip_reason", db_result_by_name(res, row, "sip_reason")) &&
	     row_add_str(o, "created_at", db_result_by_name(res, row, "created_at")) &&
	     row_add_str(o, "answered_at", db_result_by_name(res, row, "answered_at")) &&
	     row_add_str(o, "agent_ready_at", db_result_by_name(res, row, "agent_ready_at")) &&
	     row_add_str(o, "ended_at", db_result_by_name(res, row, "ended_at")) &&
	     row_add_str(o, "end_reason", db_result_by_name(res, row, "end_reason")) &&
	     row_add_num(o, "hold_count", db_result_by_name(res, row, "hold_count")) &&
	     row_add_num(o, "hold_ms", db_result_by_name(res, row, "hold_ms")) &&
	     row_add_str(o, "recording_path", db_result_by_name(res, row, "recording_path"));
	if (ok) {
		cJSON *meta = row_json_column(db_result_by_name(res, row, "metadata"));
		ok = meta && cJSON_AddItemToObject(o, "metadata", meta);
		if (!ok)
			cJSON_Delete(meta);
	}
	ok = ok && row_add_num(o, "duration_ms", db_result_by_name(res, row, "duration_ms"));
	if (!ok) {
		cJSON_Delete(o);
		return ENOMEM;
	}
	*objp = o;
	return 0;
}
