/* Column values of a result row as JSON members. */
#include "row.h"

#include <stdlib.h>

cJSON *row_json_column(const char *text)
{
	cJSON *v = text ? cJSON_Parse(text) : NULL;
	return v ? v : cJSON_CreateNull();
}

bool row_add_str(cJSON *o, const char *name, const char *s)
{
	return s ? cJSON_AddStringToObject(o, name, s) != NULL
		 : cJSON_AddNullToObject(o, name) != NULL;
}

bool row_add_num(cJSON *o, const char *name, const char *s)
{
	if (!s)
		return cJSON_AddNullToObject(o, name) != NULL;
	char *end = NULL;
	double d = strtod(s, &end);
	if (end == s)
		return cJSON_AddNullToObject(o, name) != NULL;
	return cJSON_AddNumberToObject(o, name, d) != NULL;
}

bool row_add_bool(cJSON *o, const char *name, const char *s)
{
	if (!s)
		return cJSON_AddNullToObject(o, name) != NULL;
	return cJSON_AddBoolToObject(o, name, s[0] == 't') != NULL;
}
