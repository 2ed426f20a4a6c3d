/* libFuzzer target for api-gateway's request checks (services/api-gateway):
 * the body validator (validate.c: validate_no_nul + validate_object against
 * a field table, as api_body() and the handlers run them) and the parsers
 * of list query arguments (cursor.c cursor_decode for ?cursor=, the
 * RFC 3339 parser for ?created_after=, call_status_parse for ?status=).
 *
 * The first byte picks what the rest is:
 *   bit 7 clear: a JSON body; bits 0-2 pick a table, bit 3 partial (PATCH);
 *   bit 7 set:   a query argument value (up to the first NUL), through
 *                every query parser.
 * The tables have the shapes of the gateway's own (assistants.c,
 * outbound.c, trunks.c, webcall.c, calls.c; static there): every field
 * type, nesting, lists, nullable fields, a prefix. An accepted body is
 * checked again here against the table; a refusal must name its problem. */
#include "api-gateway/cursor.h"
#include "api-gateway/validate.h"
#include "httpd/httpd.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct vfield interaction[] = {
	{ "speaks_first", V_BOOL, false, false, 0, 0, NULL, NULL },
	{ "silence_timeout_s", V_INT, false, false, 1, 600, NULL, NULL },
	{ "reprompt_message", V_STR, false, false, 0, 1000, NULL, NULL },
	{ 0 },
};
static const struct vfield script[] = {
	{ "match", V_STR, true, false, 1, 500, NULL, NULL },
	{ "reply", V_STR, true, false, 1, 4000, NULL, NULL },
	{ 0 },
};
static const struct vfield llm[] = {
	{ "provider", V_ENUM, true, false, 0, 0, "local|openai", NULL },
	{ "temperature", V_NUM, false, false, 0, 2, NULL, NULL },
	{ "max_tokens", V_INT, false, false, 1, 32768, NULL, NULL },
	{ "script", V_OBJ_LIST, false, false, 0, 200, NULL, script },
	{ "base_url", V_URL, false, false, 0, 2048, NULL, NULL },
	{ 0 },
};
static const struct vfield assistant[] = {
	{ "assistant_name", V_STR, true, false, 1, 200, NULL, NULL },
	{ "assistant_prompt", V_STR, true, false, 1, 32768, NULL, NULL },
	{ "assistant_mode", V_ENUM, false, false, 0, 0, "pipeline|realtime", NULL },
	{ "assistant_interaction_config", V_OBJ, false, false, 0, 0, NULL, interaction },
	{ "assistant_llm_config", V_OBJ, false, false, 0, 0, NULL, llm },
	{ "assistant_end_call_url", V_URL, false, true, 0, 2048, NULL, NULL },
	{ 0 },
};
static const struct vfield outbound[] = {
	{ "assistant_id", V_UUID, true, false, 0, 0, NULL, NULL },
	{ "trunk_id", V_UUID, true, false, 0, 0, NULL, NULL },
	{ "to_number", V_E164, true, false, 0, 0, NULL, NULL },
	{ "call_service", V_ENUM, true, false, 0, 0, "twilio|exotel", NULL },
	{ "from_number", V_E164, false, false, 0, 0, NULL, NULL },
	{ "metadata", V_ANY_OBJ, false, true, 0, VALIDATE_KEYS_MAX, NULL, NULL },
	{ 0 },
};
static const struct vfield trunk[] = {
	{ "trunk_name", V_STR, true, false, 1, 200, NULL, NULL },
	{ "trunk_type", V_ENUM, true, false, 0, 0, "twilio|exotel", NULL },
	{ "trunk_config", V_ANY_OBJ, true, false, 0, VALIDATE_KEYS_MAX, NULL, NULL },
	{ 0 },
};
static const struct vfield exotel[] = { /* checked with prefix "trunk_config" */
	{ "sip_host", V_HOST, true, false, 0, 0, NULL, NULL },
	{ "sip_port", V_INT, false, false, 1, 65535, NULL, NULL },
	{ "transport", V_ENUM, false, false, 0, 0, "tcp|tls|udp", NULL },
	{ "username", V_STR, true, false, 1, 128, NULL, NULL },
	{ "numbers", V_E164_LIST, true, false, 1, 100, NULL, NULL },
	{ 0 },
};
static const struct vfield hangup[] = {
	{ "reason", V_STR, false, false, 1, 64, NULL, NULL },
	{ 0 },
};

static const struct {
	const struct vfield *table;
	const char *prefix;
} tables[8] = {
	{ assistant, NULL }, { outbound, NULL },     { trunk, NULL }, { exotel, "trunk_config" },
	{ hangup, NULL },    { interaction, "x.y" }, { script, "" },  { llm, NULL },
};

static void check_accepted(const cJSON *obj, const struct vfield *t, bool partial);

static void check_field(const cJSON *v, const struct vfield *f)
{
	const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
	switch (f->type) {
	case V_STR:
		if (!s || (long)strlen(s) < f->min || (long)strlen(s) > f->max ||
		    !validate_utf8_text(s, strlen(s)))
			abort();
		break;
	case V_ENUM:
		if (!s || !*s || strchr(s, '|') || !strstr(f->choices, s))
			abort();
		break;
	case V_UUID:
		if (!s || !id_is_uuid(s))
			abort();
		break;
	case V_E164:
		if (!s || !validate_e164(s))
			abort();
		break;
	case V_URL:
		if (!s || !validate_url(s, (size_t)f->max))
			abort();
		break;
	case V_HOST:
		if (!s || !*s || strlen(s) > 253)
			abort();
		break;
	case V_INT:
	case V_NUM:
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
		    v->valuedouble < (double)f->min || v->valuedouble > (double)f->max ||
		    (f->type == V_INT && v->valuedouble != floor(v->valuedouble)))
			abort();
		break;
	case V_BOOL:
		if (!cJSON_IsBool(v))
			abort();
		break;
	case V_OBJ:
		check_accepted(v, f->sub, false);
		break;
	case V_OBJ_LIST:
	case V_E164_LIST: {
		int n = cJSON_GetArraySize(v);
		if (!cJSON_IsArray(v) || n < f->min || n > f->max)
			abort();
		for (const cJSON *it = v->child; it; it = it->next) {
			if (f->type == V_OBJ_LIST) {
				check_accepted(it, f->sub, false);
				continue;
			}
			if (!cJSON_IsString(it) || !validate_e164(it->valuestring))
				abort();
			for (const cJSON *p = v->child; p != it; p = p->next)
				if (strcmp(p->valuestring, it->valuestring) == 0)
					abort();
		}
		break;
	}
	case V_ANY_OBJ:
		if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) > f->max)
			abort();
		break;
	}
}

/* What validate_object() accepted, checked from the table's side. */
static void check_accepted(const cJSON *obj, const struct vfield *t, bool partial)
{
	if (!cJSON_IsObject(obj) || cJSON_GetArraySize(obj) > VALIDATE_KEYS_MAX)
		abort();
	for (const cJSON *it = obj->child; it; it = it->next) {
		const struct vfield *f = t;
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
	for (const struct vfield *f = t; f->name && !partial; f++)
		if (f->required && !cJSON_GetObjectItemCaseSensitive(obj, f->name))
			abort();
}

static void check_refusal(const struct verr *e)
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
	struct verr e;
	const struct vfield *t = tables[sel & 7].table;
	const char *prefix = tables[sel & 7].prefix;
	bool partial = sel & 8;
	/* what httpd lets through: nesting capped, one JSON object */
	if (!httpd_json_depth_ok(p, n, HTTPD_JSON_DEPTH_MAX))
		return;
	cJSON *obj = cJSON_ParseWithLength(p, n);
	if (!cJSON_IsObject(obj))
		goto out;
	memset(&e, 0, sizeof(e));
	if (validate_no_nul(p, n, &e)) {
		check_refusal(&e);
		if (!memmem(p, n, "\\u0000", 6))
			abort(); /* refused a body without a NUL */
		goto out;
	}
	memset(&e, 0, sizeof(e));
	if (validate_object(obj, t, partial, prefix, &e))
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
