/* Call events: envelope, JSON encode/decode, per-type validation tables.
 * The tables below are the source of truth for proto/events/<type>.schema.json. */
#include "event.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INT_SAFE_MAX 9007199254740991LL   /* 2^53 - 1: exact in a double */
#define TS_MAX_MS    253402300799999LL    /* 9999-12-31T23:59:59.999Z */

enum field_kind {
	F_STR,   /* string, at least `min` bytes long */
	F_ENUM,  /* string, one of `choices` ("a|b|c") */
	F_INT,   /* integral number within [min, max] */
	F_BOOL,
	F_TIME,  /* RFC 3339 timestamp string */
	F_URL,   /* string starting with http:// or https:// */
};

struct field {
	const char *name;
	enum field_kind kind;
	bool required;
	int64_t min, max;
	const char *choices;
};

#define STR(n, req)         { n, F_STR, req, 0, 0, NULL }
#define NONEMPTY(n, req)    { n, F_STR, req, 1, 0, NULL }
#define ENUM(n, req, c)     { n, F_ENUM, req, 0, 0, c }
#define INT(n, req, lo, hi) { n, F_INT, req, lo, hi, NULL }
#define BOOL(n, req)        { n, F_BOOL, req, 0, 0, NULL }
#define TIME(n, req)        { n, F_TIME, req, 0, 0, NULL }
#define URL(n, req)         { n, F_URL, req, 0, 0, NULL }

#define FAILURE_STATUSES "busy|no_answer|rejected|cancelled|unreachable|timeout|failed"
#define DTMF_DIGITS "0|1|2|3|4|5|6|7|8|9|*|#|A|B|C|D"

static const struct field dialing_fields[] = {
	ENUM("provider", false, "twilio|exotel"),
};
static const struct field ringing_fields[] = {
	INT("sip_code", false, 100, 199),
};
static const struct field answered_fields[] = {
	STR("sip_call_id", false),
	STR("participant_identity", false),
};
static const struct field failed_fields[] = {
	ENUM("status", true, FAILURE_STATUSES),
	INT("sip_code", false, 100, 699),
	STR("sip_reason", false),
	STR("reason", false), /* why, when api-gateway or agent-worker ends it */
};
static const struct field hold_fields[] = {
	ENUM("direction", false, "sendonly|recvonly|inactive"),
	ENUM("method", false, "attribute|connection_address|port_zero"),
};
static const struct field resume_fields[] = {
	ENUM("direction", false, "sendrecv|recvonly"),
};
static const struct field dtmf_fields[] = {
	ENUM("digit", true, DTMF_DIGITS),
	INT("duration_ms", true, 0, INT_SAFE_MAX),
};
static const struct field ended_fields[] = {
	NONEMPTY("reason", true),
	ENUM("by", true, "local|remote|agent|system"),
	INT("duration_ms", true, 0, INT_SAFE_MAX),
};
static const struct field agent_joined_fields[] = {
	STR("identity", false),
};
static const struct field transcript_fields[] = {
	ENUM("speaker", true, "agent|user"),
	STR("text", true),
	BOOL("final", true),
	TIME("started_at", true),
};
static const struct field rec_started_fields[] = {
	STR("recording_id", false),
	STR("path", false),
};
static const struct field rec_failed_fields[] = {
	INT("attempt", true, 1, INT_SAFE_MAX),
	NONEMPTY("error", true),
};
static const struct field rec_ready_fields[] = {
	NONEMPTY("path", true),
	STR("recording_id", false),
};
static const struct field wh_delivered_fields[] = {
	URL("url", true),
	INT("status_code", false, 100, 599),
	INT("attempts", false, 1, INT_SAFE_MAX),
};
static const struct field wh_failed_fields[] = {
	URL("url", true),
	NONEMPTY("error", true),
	INT("status_code", false, 100, 599),
	INT("attempts", false, 1, INT_SAFE_MAX),
};

struct type_desc {
	const char *name;
	const struct field *fields;
	size_t nfields;
};

#define FIELDS(a) a, CM_ARRAY_LEN(a)
static const struct type_desc types[EV_TYPE_COUNT] = {
	[EV_CALL_QUEUED]       = { "call_queued", NULL, 0 },
	[EV_CALL_DIALING]      = { "call_dialing", FIELDS(dialing_fields) },
	[EV_CALL_RINGING]      = { "call_ringing", FIELDS(ringing_fields) },
	[EV_CALL_ANSWERED]     = { "call_answered", FIELDS(answered_fields) },
	[EV_CALL_FAILED]       = { "call_failed", FIELDS(failed_fields) },
	[EV_CALL_HOLD]         = { "call_hold", FIELDS(hold_fields) },
	[EV_CALL_RESUME]       = { "call_resume", FIELDS(resume_fields) },
	[EV_CALL_DTMF]         = { "call_dtmf", FIELDS(dtmf_fields) },
	[EV_CALL_ENDED]        = { "call_ended", FIELDS(ended_fields) },
	[EV_AGENT_JOINED]      = { "agent_joined", FIELDS(agent_joined_fields) },
	[EV_AGENT_READY]       = { "agent_ready", NULL, 0 },
	[EV_AGENT_SPEAKING]    = { "agent_speaking", NULL, 0 },
	[EV_AGENT_LISTENING]   = { "agent_listening", NULL, 0 },
	[EV_TRANSCRIPT]        = { "transcript", FIELDS(transcript_fields) },
	[EV_RECORDING_STARTED] = { "recording_started", FIELDS(rec_started_fields) },
	[EV_RECORDING_FAILED]  = { "recording_failed", FIELDS(rec_failed_fields) },
	[EV_RECORDING_READY]   = { "recording_ready", FIELDS(rec_ready_fields) },
	[EV_WEBHOOK_DELIVERED] = { "webhook_delivered", FIELDS(wh_delivered_fields) },
	[EV_WEBHOOK_FAILED]    = { "webhook_failed", FIELDS(wh_failed_fields) },
};

static const char *const envelope_keys[] = {
	"v", "id", "type", "call_id", "room", "ts", "source", "data",
};

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return EINVAL;
}

const char *event_type_name(enum event_type type)
{
	if ((unsigned)type >= EV_TYPE_COUNT)
		return "unknown";
	return types[type].name;
}

int event_type_parse(enum event_type *typep, const char *s)
{
	if (!s)
		return EINVAL;
	for (size_t i = 0; i < EV_TYPE_COUNT; i++) {
		if (strcmp(types[i].name, s) == 0) {
			*typep = (enum event_type)i;
			return 0;
		}
	}
	return EINVAL;
}

/* room and source: 1..max bytes of visible ASCII (no space, no control). */
static bool label_ok(const char *s, size_t max)
{
	if (!s)
		return false;
	size_t n = 0;
	for (; s[n]; n++) {
		if (n >= max || s[n] < '!' || s[n] > '~')
			return false;
	}
	return n > 0;
}

static bool choice_ok(const char *choices, const char *s)
{
	size_t n = strlen(s);
	const char *p = choices;
	for (;;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && memcmp(p, s, n) == 0)
			return true;
		if (!bar)
			return false;
		p = bar + 1;
	}
}

static bool leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* RFC 3339 via core, plus the day-of-month check that timegm() would
 * otherwise normalise away, within 1970..9999. */
static int ts_parse(int64_t *msp, const char *s)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int64_t ms;
	if (!s || time_parse_iso8601(&ms, s) != 0)
		return EINVAL;
	int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	int mo = (s[5] - '0') * 10 + (s[6] - '0');
	int d = (s[8] - '0') * 10 + (s[9] - '0');
	int max = mdays[mo - 1] + (mo == 2 && leap_year(y));
	if (d > max || ms < 0 || ms > TS_MAX_MS)
		return EINVAL;
	*msp = ms;
	return 0;
}

static bool int_ok(const cJSON *item, int64_t min, int64_t max, int64_t *vp)
{
	if (!cJSON_IsNumber(item))
		return false;
	double d = item->valuedouble;
	if (!isfinite(d) || d != trunc(d) || d < (double)min || d > (double)max)
		return false;
	if (vp)
		*vp = (int64_t)d;
	return true;
}

static int check_field(const struct field *f, const cJSON *item, char *err, size_t errlen)
{
	const char *s = cJSON_IsString(item) ? item->valuestring : NULL;
	int64_t ms;

	switch (f->kind) {
	case F_STR:
		if (!s || strlen(s) < (size_t)f->min)
			return fail(err, errlen, "data.%s: must be a %sstring", f->name,
				    f->min ? "non-empty " : "");
		return 0;
	case F_ENUM:
		if (!s || !choice_ok(f->choices, s))
			return fail(err, errlen, "data.%s: must be one of %s", f->name, f->choices);
		return 0;
	case F_INT:
		if (!int_ok(item, f->min, f->max, NULL)) {
			if (f->max == INT_SAFE_MAX)
				return fail(err, errlen, "data.%s: must be an integer >= %lld",
					    f->name, (long long)f->min);
			return fail(err, errlen, "data.%s: must be an integer %lld..%lld", f->name,
				    (long long)f->min, (long long)f->max);
		}
		return 0;
	case F_BOOL:
		if (!cJSON_IsBool(item))
			return fail(err, errlen, "data.%s: must be true or false", f->name);
		return 0;
	case F_TIME:
		if (!s || ts_parse(&ms, s) != 0)
			return fail(err, errlen, "data.%s: must be an RFC 3339 timestamp", f->name);
		return 0;
	case F_URL:
		if (!s || !((strncmp(s, "http://", 7) == 0 && s[7]) ||
			    (strncmp(s, "https://", 8) == 0 && s[8])))
			return fail(err, errlen, "data.%s: must be an http(s) URL", f->name);
		return 0;
	}
	return fail(err, errlen, "data.%s: unknown field kind", f->name);
}

static size_t count_key(const cJSON *obj, const char *name)
{
	size_t n = 0;
	for (const cJSON *c = obj->child; c; c = c->next)
		n += c->string && strcmp(c->string, name) == 0;
	return n;
}

static int validate_data(enum event_type type, const cJSON *data, char *err, size_t errlen)
{
	if (!cJSON_IsObject(data))
		return fail(err, errlen, "data: must be an object");
	const struct type_desc *t = &types[type];
	for (size_t i = 0; i < t->nfields; i++) {
		const struct field *f = &t->fields[i];
		const cJSON *item = cJSON_GetObjectItemCaseSensitive(data, f->name);
		if (!item) {
			if (f->required)
				return fail(err, errlen, "data.%s: required for %s", f->name,
					    t->name);
			continue;
		}
		if (count_key(data, f->name) > 1)
			return fail(err, errlen, "data.%s: duplicate field", f->name);
		int rc = check_field(f, item, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

int event_validate(const struct event *ev, char *err, size_t errlen)
{
	if (!ev)
		return fail(err, errlen, "event: missing");
	if (!id_is_uuid(ev->id))
		return fail(err, errlen, "id: must be a UUID");
	if ((unsigned)ev->type >= EV_TYPE_COUNT)
		return fail(err, errlen, "type: unknown event type");
	if (!id_is_uuid(ev->call_id))
		return fail(err, errlen, "call_id: must be a UUID");
	if (!label_ok(ev->room, EVENT_ROOM_MAX))
		return fail(err, errlen, "room: must be 1..%d visible ASCII characters",
			    EVENT_ROOM_MAX);
	if (ev->ts_ms < 0 || ev->ts_ms > TS_MAX_MS)
		return fail(err, errlen, "ts: must be between 1970 and 9999");
	if (!label_ok(ev->source, EVENT_SOURCE_MAX))
		return fail(err, errlen, "source: must be 1..%d visible ASCII characters",
			    EVENT_SOURCE_MAX);
	return validate_data(ev->type, ev->data, err, errlen);
}

int event_new(struct event **evp, enum event_type type, const char *call_id,
	      const char *room, const char *source)
{
	if (!evp || (unsigned)type >= EV_TYPE_COUNT || !id_is_uuid(call_id) ||
	    !label_ok(room, EVENT_ROOM_MAX) || !label_ok(source, EVENT_SOURCE_MAX))
		return EINVAL;
	int err = 0;
	struct event *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return ENOMEM;
	err = id_uuid4(ev->id);
	if (err)
		goto out;
	ev->data = cJSON_CreateObject();
	if (!ev->data) {
		err = ENOMEM;
		goto out;
	}
	ev->type = type;
	memcpy(ev->call_id, call_id, ID_UUID_LEN + 1);
	snprintf(ev->room, sizeof(ev->room), "%s", room);
	snprintf(ev->source, sizeof(ev->source), "%s", source);
	ev->ts_ms = time_now_ms();
out:
	if (err)
		ev = event_free(ev);
	else
		*evp = ev;
	return err;
}

struct event *event_free(struct event *ev)
{
	if (ev) {
		cJSON_Delete(ev->data);
		free(ev);
	}
	return NULL;
}

int event_encode(char **jsonp, const struct event *ev)
{
	if (!jsonp || !ev || (unsigned)ev->type >= EV_TYPE_COUNT || !cJSON_IsObject(ev->data) ||
	    ev->ts_ms < 0 || ev->ts_ms > TS_MAX_MS)
		return EINVAL;
	int err = ENOMEM;
	char ts[TIME_ISO_LEN + 1];
	time_iso8601(ts, ev->ts_ms);
	cJSON *root = cJSON_CreateObject();
	/* data is referenced, not copied: deleting root leaves ev->data intact. */
	if (!root || !cJSON_AddNumberToObject(root, "v", 1) ||
	    !cJSON_AddStringToObject(root, "id", ev->id) ||
	    !cJSON_AddStringToObject(root, "type", types[ev->type].name) ||
	    !cJSON_AddStringToObject(root, "call_id", ev->call_id) ||
	    !cJSON_AddStringToObject(root, "room", ev->room) ||
	    !cJSON_AddStringToObject(root, "ts", ts) ||
	    !cJSON_AddStringToObject(root, "source", ev->source) ||
	    !cJSON_AddItemReferenceToObject(root, "data", ev->data))
		goto out;
	char *json = cJSON_PrintUnformatted(root);
	if (!json)
		goto out;
	*jsonp = json;
	err = 0;
out:
	cJSON_Delete(root);
	return err;
}

/* Nesting depth of arrays/objects, ignoring brackets inside strings; stops
 * early once beyond `max`. */
static int json_depth(const char *s, size_t len, int max)
{
	int depth = 0, deepest = 0;
	bool in_str = false, esc = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > deepest)
				deepest = depth;
			if (deepest > max)
				break;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return deepest;
}

static int copy_label(char *dst, size_t dstlen, const cJSON *item)
{
	if (!cJSON_IsString(item) || !label_ok(item->valuestring, dstlen - 1))
		return EINVAL;
	snprintf(dst, dstlen, "%s", item->valuestring);
	return 0;
}

static int decode_envelope(struct event *ev, cJSON *root, char *err, size_t errlen)
{
	if (!cJSON_IsObject(root))
		return fail(err, errlen, "json: must be an object");
	for (const cJSON *c = root->child; c; c = c->next) {
		size_t k = 0;
		while (k < CM_ARRAY_LEN(envelope_keys) && strcmp(c->string, envelope_keys[k]) != 0)
			k++;
		if (k == CM_ARRAY_LEN(envelope_keys))
			return fail(err, errlen, "%.40s: unknown envelope field", c->string);
		if (count_key(root, c->string) > 1)
			return fail(err, errlen, "%s: duplicate field", c->string);
	}

	const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "v");
	if (!item)
		return fail(err, errlen, "v: required");
	if (!int_ok(item, 1, 1, NULL))
		return fail(err, errlen, "v: must be 1");

	item = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (!item)
		return fail(err, errlen, "id: required");
	if (!cJSON_IsString(item) || !id_is_uuid(item->valuestring))
		return fail(err, errlen, "id: must be a UUID");
	memcpy(ev->id, item->valuestring, ID_UUID_LEN + 1);

	item = cJSON_GetObjectItemCaseSensitive(root, "type");
	if (!item)
		return fail(err, errlen, "type: required");
	if (!cJSON_IsString(item))
		return fail(err, errlen, "type: must be a string");
	if (event_type_parse(&ev->type, item->valuestring) != 0)
		return fail(err, errlen, "type: unknown event type \"%.40s\"", item->valuestring);

	item = cJSON_GetObjectItemCaseSensitive(root, "call_id");
	if (!item)
		return fail(err, errlen, "call_id: required");
	if (!cJSON_IsString(item) || !id_is_uuid(item->valuestring))
		return fail(err, errlen, "call_id: must be a UUID");
	memcpy(ev->call_id, item->valuestring, ID_UUID_LEN + 1);

	item = cJSON_GetObjectItemCaseSensitive(root, "room");
	if (!item)
		return fail(err, errlen, "room: required");
	if (copy_label(ev->room, sizeof(ev->room), item) != 0)
		return fail(err, errlen, "room: must be 1..%d visible ASCII characters",
			    EVENT_ROOM_MAX);

	item = cJSON_GetObjectItemCaseSensitive(root, "ts");
	if (!item)
		return fail(err, errlen, "ts: required");
	if (!cJSON_IsString(item) || ts_parse(&ev->ts_ms, item->valuestring) != 0)
		return fail(err, errlen, "ts: must be an RFC 3339 timestamp (1970..9999)");

	item = cJSON_GetObjectItemCaseSensitive(root, "source");
	if (!item)
		return fail(err, errlen, "source: required");
	if (copy_label(ev->source, sizeof(ev->source), item) != 0)
		return fail(err, errlen, "source: must be 1..%d visible ASCII characters",
			    EVENT_SOURCE_MAX);

	item = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (!item)
		return fail(err, errlen, "data: required");
	int rc = validate_data(ev->type, item, err, errlen);
	if (rc)
		return rc;
	ev->data = cJSON_DetachItemFromObjectCaseSensitive(root, "data");
	return 0;
}

int event_decode(struct event **evp, const char *json, size_t len, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!evp || !json)
		return fail(err, errlen, "json: missing");
	if (len > EVENT_JSON_MAX)
		return fail(err, errlen, "json: larger than %d bytes", EVENT_JSON_MAX);
	if (json_depth(json, len, EVENT_DEPTH_MAX) > EVENT_DEPTH_MAX)
		return fail(err, errlen, "json: nested deeper than %d levels", EVENT_DEPTH_MAX);

	int rc = 0;
	struct event *ev = NULL;
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (!root) {
		size_t off = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
		rc = fail(err, errlen, "json: parse error at offset %zu", off);
		goto out;
	}
	for (const char *p = end; p < json + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			rc = fail(err, errlen, "json: trailing data at offset %zu",
				  (size_t)(p - json));
			goto out;
		}
	}
	ev = calloc(1, sizeof(*ev));
	if (!ev) {
		rc = ENOMEM;
		goto out;
	}
	rc = decode_envelope(ev, root, err, errlen);
out:
	cJSON_Delete(root);
	if (rc)
		ev = event_free(ev);
	else
		*evp = ev;
	return rc;
}

int event_subject(char *buf, size_t len, const struct event *ev)
{
	if (!buf || !ev || !id_is_uuid(ev->call_id) || (unsigned)ev->type >= EV_TYPE_COUNT)
		return EINVAL;
	int n = snprintf(buf, len, "calls.%s.%s", ev->call_id, types[ev->type].name);
	if (n < 0 || (size_t)n >= len)
		return ENOSPC;
	return 0;
}

/* Takes ownership of item (deleted on failure). */
static int set_item(struct event *ev, const char *name, cJSON *item)
{
	if (!item)
		return ENOMEM;
	bool ok;
	if (cJSON_GetObjectItemCaseSensitive(ev->data, name))
		ok = cJSON_ReplaceItemInObjectCaseSensitive(ev->data, name, item);
	else
		ok = cJSON_AddItemToObject(ev->data, name, item);
	if (!ok) {
		cJSON_Delete(item);
		return ENOMEM;
	}
	return 0;
}

int event_set_str(struct event *ev, const char *name, const char *value)
{
	if (!ev || !cJSON_IsObject(ev->data) || !name || !value)
		return EINVAL;
	return set_item(ev, name, cJSON_CreateString(value));
}

int event_set_int(struct event *ev, const char *name, int64_t value)
{
	if (!ev || !cJSON_IsObject(ev->data) || !name || value > INT_SAFE_MAX ||
	    value < -INT_SAFE_MAX)
		return EINVAL;
	return set_item(ev, name, cJSON_CreateNumber((double)value));
}

int event_set_bool(struct event *ev, const char *name, bool value)
{
	if (!ev || !cJSON_IsObject(ev->data) || !name)
		return EINVAL;
	return set_item(ev, name, cJSON_CreateBool(value));
}

int event_set_time(struct event *ev, const char *name, int64_t ms)
{
	if (ms < 0 || ms > TS_MAX_MS)
		return EINVAL;
	char ts[TIME_ISO_LEN + 1];
	time_iso8601(ts, ms);
	return event_set_str(ev, name, ts);
}

int event_set_not_dialed(struct event *ev, int64_t waited_ms)
{
	char why[96] = "not dialed: no dialer took the job in time";
	if (waited_ms >= 0)
		snprintf(why, sizeof(why), "not dialed: no dialer took the job in %lld s",
			 (long long)(waited_ms / 1000));
	int err = event_set_str(ev, "status", "failed");
	if (!err)
		err = event_set_str(ev, "reason", "not_dialed");
	if (!err)
		err = event_set_str(ev, "sip_reason", why);
	return err;
}

const char *event_get_str(const struct event *ev, const char *name)
{
	if (!ev || !name)
		return NULL;
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(ev->data, name);
	return cJSON_IsString(item) ? item->valuestring : NULL;
}

int event_get_int(int64_t *valuep, const struct event *ev, const char *name)
{
	if (!valuep || !ev || !name)
		return EINVAL;
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(ev->data, name);
	if (!item)
		return ENOENT;
	return int_ok(item, -INT_SAFE_MAX, INT_SAFE_MAX, valuep) ? 0 : EINVAL;
}

int event_get_bool(bool *valuep, const struct event *ev, const char *name)
{
	if (!valuep || !ev || !name)
		return EINVAL;
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(ev->data, name);
	if (!item)
		return ENOENT;
	if (!cJSON_IsBool(item))
		return EINVAL;
	*valuep = cJSON_IsTrue(item);
	return 0;
}
