/* The subjects and payloads every service forms alike: the hangup command's
 * subject, the call id a subject names, the owners.heartbeat payload. */
#include "command/command.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_hangup_subject(char *buf, size_t len, const char *call_id)
{
	if (!buf || !call_id || !call_id[0] || strpbrk(call_id, ".*> \t\r\n"))
		return EINVAL;
	int n = snprintf(buf, len, "cmd.calls.%s.hangup", call_id);
	if (n < 0 || (size_t)n >= len)
		return ENOSPC;
	return 0;
}

int cmd_subject_call_id(char *id, size_t len, const char *subject)
{
	static const char *const prefixes[] = { "cmd.calls.", "calls." };
	const char *start = NULL;

	if (!id || !subject || len < ID_UUID_LEN + 1)
		return EINVAL;
	for (size_t i = 0; i < CM_ARRAY_LEN(prefixes) && !start; i++)
		if (strncmp(subject, prefixes[i], strlen(prefixes[i])) == 0)
			start = subject + strlen(prefixes[i]);
	if (!start || strlen(start) < ID_UUID_LEN + 2 || start[ID_UUID_LEN] != '.')
		return EINVAL;
	char tmp[ID_UUID_LEN + 1];
	memcpy(tmp, start, ID_UUID_LEN);
	tmp[ID_UUID_LEN] = '\0';
	if (!id_is_uuid(tmp))
		return EINVAL;
	memcpy(id, tmp, sizeof(tmp));
	return 0;
}

char *cmd_heartbeat_json(const char *source, const char *const *call_ids, size_t n,
			 long max_calls)
{
	char ts[TIME_ISO_LEN + 1];
	char *json = NULL;
	cJSON *root = cJSON_CreateObject();
	cJSON *calls = NULL;

	time_iso8601(ts, time_now_ms());
	if (!root || !cJSON_AddNumberToObject(root, "v", 1) ||
	    !cJSON_AddStringToObject(root, "source", source ? source : "") ||
	    !(calls = cJSON_AddArrayToObject(root, "calls")))
		goto out;
	for (size_t i = 0; i < n; i++) {
		cJSON *s = cJSON_CreateString(call_ids[i]);
		if (!s || !cJSON_AddItemToArray(calls, s)) {
			cJSON_Delete(s);
			goto out;
		}
	}
	if (max_calls > 0 && !cJSON_AddNumberToObject(root, "max_calls", (double)max_calls))
		goto out;
	if (cJSON_AddStringToObject(root, "ts", ts))
		json = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return json;
}
