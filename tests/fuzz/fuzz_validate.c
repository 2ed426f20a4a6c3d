/* libFuzzer target for api-gateway's request checks (services/api-gateway):
 * the body validator (libs/command/fields.c: cmd_check_no_nul + cmd_check_object against
 * a field table, as api_body() and the handlers run them) and the parsers
 * of list query arguments (cursor.c cursor_decode for ?cursor=, the
 * RFC 3339 parser for ?created_after=, call_status_parse for ?status=).
 *
 * The first byte picks what the rest is:
 *   bit 7 clear: a JSON body; bits 0-2 pick a table, bit 3 partial (PATCH);
 *   bit 7 set:   a query argument value (up to the first NUL), through
 *                every query parser.
 * The tables are the gateway's own (assistants.c, outbound.c, trunks.c,
 * webcall.c, calls.c), with and without a prefix. An accepted body is
 * checked again here against the table; a refusal must name its problem. */
#include "api-gateway/assistants.h"
#include "api-gateway/calls.h"
#include "api-gateway/cursor.h"
#include "api-gateway/outbound.h"
#include "api-gateway/trunks.h"
#include "api-gateway/webcall.h"
#include "command/command.h"
#include "httpd/httpd.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	const struct cmd_rule *table;
	const char *prefix;
} tables[8] = {
	{ assistants_rules, NULL },   { outbound_rules, NULL },
	{ trunks_rules, NULL },	      { trunks_exotel_rules, "trunk_config" },
	{ calls_hangup_rules, NULL }, { trunks_twilio_rules, "trunk_config" },
	{ webcall_rules, NULL },      { assistants_rules, "x.y" },
};

/* Independent of fields.c: what an accepted string must be. */
static bool text_ok(const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if ((*c < 0x20 && *c != '\t' && *c != '\n' && *c != '\r') || *c == 0x7f)
			return false;
	return true;
}

static bool url_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	return n <= (max ? max : 2048) && ((strncmp(s, "http://", 7) == 0 && n > 7) ||
					   (strncmp(s, "https://", 8) == 0 && n > 8));
}

static void check_accepted(const cJSON *obj, const struct cmd_rule *t, bool partial);

static void check_field(const cJSON *v, const struct cmd_rule *f)
{
	const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
	switch (f->type) {
	case CMD_STR:
		if (!s || (long)strlen(s) < f->min || (long)strlen(s) > f->max ||
		    !text_ok(s))
			abort();
		break;
	case CMD_ENUM:
		if (!s || !*s || strchr(s, '|') || !strstr(f->choices, s))
			abort();
		break;
	case CMD_UUID:
		if (!s || !id_is_uuid(s))
			abort();
		break;
	case CMD_E164:
		if (!s || !e164_valid(s))
			abort();
		break;
	case CMD_URL:
		if (!s || !url_ok(s, (size_t)f->max))
			abort();
		break;
	case CMD_HOST:
		if (!s || !*s || strlen(s) > 253)
			abort();
		break;
	case CMD_INT:
	case CMD_NUM:
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
		    v->valuedouble < (double)f->min || v->valuedouble > (double)f->max ||
		    (f->type == CMD_INT && v->valuedouble != floor(v->valuedouble)))
			abort();
		break;
	case CMD_BOOL:
		if (!cJSON_IsBool(v))
			abort();
		break;
	case CMD_OBJ:
		if (f->sub)
			check_accepted(v, f->sub, false);
		else if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) > f->max)
			abort();
		break;
	case CMD_NAME: /* no API body field is a name */
		abort();
	case CMD_OBJ_LIST:
	case CMD_E164_LIST: {
		int n = cJSON_GetArraySize(v);
		if (!cJSON_IsArray(v) || n < f->min || n > f->max)
			abort();
		for (const cJSON *it = v->child; it; it = it->next) {
			if (f->type == CMD_OBJ_LIST) {
				check_accepted(it, f->sub, false);
				continue;
			}
			if (!cJSON_IsString(it) || !e164_valid(it->valuestring))
				abort();
			for (const cJSON *p = v->child; p != it; p = p->next)
				if (strcmp(p->valuestring, it->valuestring) == 0)
					abort();
		}
		break;
	}
	}
}

/* What cmd_check_object() accepted, checked from the table's side. */
static void check_accepted(const cJSON *obj, const struct cmd_rule *t, bool partial)
{
	if (!cJSON_IsObject(obj) || cJSON_GetArraySize(obj) > CMD_KEYS_MAX)
		abort();
	for (const cJSON *it = obj->child; it; it = it->next) {
		const struct cmd_rule *f = t;
		while (f->name && strcmp(f->name, it->string) != 0)
			f++;
		if (!f->name)
			abort(); /* an unknown key passed */
		for (const cJSON *p = obj->child; p != it; p = p->next)
			if (strcmp(p->string, it->string) == 0)
				abort(); /* a duplicate passed */
		if (cJSON_IsNull(it)) {
			if (!f->nullable)
				abort();
			continue;
		}
		check_field(it, f);
	}
	for (const struct cmd_rule *f = t; f->name && !partial; f++)
		if (f->required && !cJSON_GetObjectItemCaseSensitive(obj, f->name))
			abort();
}

static void check_refusal(const struct cmd_field_error *e)
{
	if (!e->code || (strcmp(e->code, "missing_field") && strcmp(e->code, "invalid_field") &&
			 strcmp(e->code, "unknown_field") && strcmp(e->code, "invalid_json")))
		abort();
	if (strnlen(e->field, sizeof(e->field)) == sizeof(e->field) || !e->message[0] ||
	    strnlen(e->message, sizeof(e->message)) == sizeof(e->message))
		abort();
}

static void body(const char *p, size_t n, unsigned sel)
{
	struct cmd_field_error e;
	const struct cmd_rule *t = tables[sel & 7].table;
	const char *prefix = tables[sel & 7].prefix;
	bool partial = sel & 8;
	/* what httpd lets through: nesting capped, one JSON object */
	if (!httpd_json_depth_ok(p, n, HTTPD_JSON_DEPTH_MAX))
		return;
	cJSON *obj = cJSON_ParseWithLength(p, n);
	if (!cJSON_IsObject(obj))
		goto out;
	memset(&e, 0, sizeof(e));
	if (cmd_check_no_nul(p, n, &e)) {
		check_refusal(&e);
		if (!memmem(p, n, "\\u0000", 6))
			abort(); /* refused a body without a NUL */
		goto out;
	}
	memset(&e, 0, sizeof(e));
	if (cmd_check_object(obj, t, partial, prefix, &e))
		check_refusal(&e);
	else
		check_accepted(obj, t, partial);
out:
	cJSON_Delete(obj);
}

static void query(const char *s)
{
	struct cursor c, back;
	char enc[CURSOR_MAX];
	if (cursor_decode(&c, s) == 0) {
		if (!id_is_uuid(c.id) || c.created_us < 0)
			abort();
		if (cursor_encode(enc, c.created_us, c.id) != 0 || cursor_decode(&back, enc) != 0 ||
		    back.created_us != c.created_us || strcmp(back.id, c.id) != 0)
			abort();
	}
	int64_t ms = 0, again = 0;
	char iso[TIME_ISO_LEN + 1];
	if (time_parse_iso8601(&ms, s) == 0 && ms >= -2208988800000LL && ms <= 253402300799999LL) {
		time_iso8601(iso, ms);
		if (time_parse_iso8601(&again, iso) != 0 || again != ms)
			abort();
	}
	enum call_status st, st2;
	if (call_status_parse(&st, s) == 0 &&
	    (st >= CALL_STATUS_COUNT || call_status_parse(&st2, call_status_name(st)) != 0 ||
	     st2 != st))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	/* an exact-size copy (a NUL-terminated one for the query), so
	 * sanitizers see reads past the end */
	size_t n = size - 1;
	bool q = data[0] & 0x80;
	char *copy = malloc(q ? n + 1 : n ? n : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, n);
	if (q) {
		copy[n] = '\0';
		query(copy);
	} else {
		body(copy, n, data[0]);
	}
	free(copy);
	return 0;
}
