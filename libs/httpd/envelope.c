/* The JSON envelope every callmesh API response uses, and the body checks
 * that run before a handler sees a request. Pure functions. */
#include "httpd/httpd.h"

#include <stdlib.h>

char *httpd_envelope_ok(const char *message, cJSON *data)
{
	char *out = NULL;
	cJSON *env = cJSON_CreateObject();
	if (!env)
		goto out;
	if (!cJSON_AddTrueToObject(env, "success") ||
	    !cJSON_AddStringToObject(env, "message", message ? message : ""))
		goto out;
	if (data) {
		if (!cJSON_AddItemToObject(env, "data", data))
			goto out;
		data = NULL; /* env owns it now */
	} else if (!cJSON_AddNullToObject(env, "data")) {
		goto out;
	}
	out = cJSON_PrintUnformatted(env);
out:
	cJSON_Delete(data);
	cJSON_Delete(env);
	return out;
}

char *httpd_envelope_error(const char *code, const char *field, const char *message)
{
	char *out = NULL;
	cJSON *env = cJSON_CreateObject(), *error = NULL;
	if (!env)
		goto out;
	if (!cJSON_AddFalseToObject(env, "success") ||
	    !cJSON_AddStringToObject(env, "message", message ? message : "") ||
	    !cJSON_AddNullToObject(env, "data"))
		goto out;
	error = cJSON_AddObjectToObject(env, "error");
	if (!error || !cJSON_AddStringToObject(error, "code", code ? code : "error"))
		goto out;
	if (!(field ? cJSON_AddStringToObject(error, "field", field)
		    : cJSON_AddNullToObject(error, "field")))
		goto out;
	out = cJSON_PrintUnformatted(env);
out:
	cJSON_Delete(env);
	return out;
}

bool httpd_json_depth_ok(const char *s, size_t len, int max)
{
	int depth = 0;
	bool in_str = false, esc = false;
	/* Counted on the raw text so a hostile body never reaches the
	 * recursive parser with thousands of levels. */
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				return false;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return true;
}
