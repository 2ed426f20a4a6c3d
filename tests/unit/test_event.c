/* libs/event: envelope round trips, validation messages, limits, subjects. */
#include "event/event.h"
#include "harness/test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define CALL_ID "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
#define EV_ID   "7f3c1a2e-5b6d-4c8e-9f01-23456789abcd"

/* Fills the required (and some optional) data of each type. */
static int fill_data(struct event *ev)
{
	int rc = 0;
	switch (ev->type) {
	case EV_CALL_FAILED:
		rc = event_set_str(ev, "status", "no_answer");
		rc = rc ? rc : event_set_int(ev, "sip_code", 480);
		rc = rc ? rc : event_set_str(ev, "sip_reason", "Temporarily Unavailable");
		break;
	case EV_CALL_HOLD:
		rc = event_set_str(ev, "direction", "inactive");
		rc = rc ? rc : event_set_str(ev, "method", "connection_address");
		break;
	case EV_CALL_RESUME:
		rc = event_set_str(ev, "direction", "recvonly");
		break;
	case EV_CALL_DTMF:
		rc = event_set_str(ev, "digit", "#");
		rc = rc ? rc : event_set_int(ev, "duration_ms", 0);
		break;
	case EV_CALL_ENDED:
		rc = event_set_str(ev, "reason", "silence_timeout");
		rc = rc ? rc : event_set_str(ev, "by", "agent");
		rc = rc ? rc : event_set_int(ev, "duration_ms", 61000);
		break;
	case EV_TRANSCRIPT:
		rc = event_set_str(ev, "speaker", "agent");
		rc = rc ? rc : event_set_str(ev, "text", "We are open nine to five, \"sharp\".");
		rc = rc ? rc : event_set_bool(ev, "final", false);
		rc = rc ? rc : event_set_time(ev, "started_at", 1795460400123LL);
		break;
	case EV_RECORDING_FAILED:
		rc = event_set_int(ev, "attempt", 3);
		rc = rc ? rc : event_set_str(ev, "error", "timeout");
		break;
	case EV_RECORDING_READY:
		rc = event_set_str(ev, "path", "/var/rec/a.ogg");
		break;
	case EV_WEBHOOK_DELIVERED:
		rc = event_set_str(ev, "url", "http://127.0.0.1:9/hook");
		break;
	case EV_WEBHOOK_FAILED:
		rc = event_set_str(ev, "url", "https://example.com/h");
		rc = rc ? rc : event_set_str(ev, "error", "connection refused");
		rc = rc ? rc : event_set_int(ev, "attempts", 5);
		break;
	default:
		rc = event_set_str(ev, "note", "extra fields are allowed");
		break;
	}
	return rc;
}

static int test_type_names(void)
{
	int err = 0;
	enum event_type t;
	TEST_EQ_STR(event_type_name(EV_CALL_HOLD), "call_hold");
	TEST_EQ_STR(event_type_name(EV_WEBHOOK_FAILED), "webhook_failed");
	TEST_EQ_STR(event_type_name(EV_TYPE_COUNT), "unknown");
	for (int i = 0; i < EV_TYPE_COUNT; i++) {
		TEST_EQ_INT(event_type_parse(&t, event_type_name((enum event_type)i)), 0);
		TEST_EQ_INT(t, i);
	}
	TEST_EQ_INT(event_type_parse(&t, "call_teleported"), EINVAL);
	TEST_EQ_INT(event_type_parse(&t, "CALL_HOLD"), EINVAL);
	TEST_EQ_INT(event_type_parse(&t, NULL), EINVAL);
out:
	return err;
}

static int test_roundtrip_every_type(void)
{
	int err = 0;
	struct event *ev = NULL, *back = NULL;
	char *json = NULL, *again = NULL;
	char msg[256] = "";
	for (int i = 0; i < EV_TYPE_COUNT; i++) {
		TEST_EQ_INT(event_new(&ev, (enum event_type)i, CALL_ID, "call-room-1", "test/unit"),
			    0);
		TEST_EQ_INT(fill_data(ev), 0);
		TEST_EQ_INT(event_validate(ev, msg, sizeof(msg)), 0);
		TEST_EQ_INT(event_encode(&json, ev), 0);
		TEST_CONTAINS(json, "{\"v\":1,\"id\":\"");
		TEST_EQ_INT(event_decode(&back, json, strlen(json), msg, sizeof(msg)), 0);
		TEST_EQ_STR(back->id, ev->id);
		TEST_EQ_INT(back->type, i);
		TEST_EQ_STR(back->call_id, CALL_ID);
		TEST_EQ_STR(back->room, "call-room-1");
		TEST_EQ_STR(back->source, "test/unit");
		TEST_EQ_INT(back->ts_ms, ev->ts_ms);
		TEST_ASSERT(cJSON_Compare(back->data, ev->data, true));
		TEST_EQ_INT(event_encode(&again, back), 0);
		TEST_EQ_STR(again, json);
		free(json);
		free(again);
		json = again = NULL;
		ev = event_free(ev);
		back = event_free(back);
	}
out:
	if (err)
		fprintf(stderr, "last message: %s\n", msg);
	free(json);
	free(again);
	event_free(ev);
	event_free(back);
	return err;
}

static int test_encode_shape(void)
{
	int err = 0;
	struct event *ev = NULL;
	char *json = NULL;
	TEST_EQ_INT(event_new(&ev, EV_CALL_FAILED, CALL_ID, "r1", "sip-bridge/h1"), 0);
	memcpy(ev->id, EV_ID, sizeof(EV_ID));
	ev->ts_ms = 1795460400123LL; /* 2026-11-23T19:00:00.123Z */
	TEST_EQ_INT(event_set_str(ev, "status", "busy"), 0);
	TEST_EQ_INT(event_set_int(ev, "sip_code", 480), 0);
	TEST_EQ_INT(event_set_int(ev, "sip_code", 486), 0); /* replaces */
	TEST_EQ_INT(event_encode(&json, ev), 0);
	TEST_EQ_STR(
		json,
		"{\"v\":1,\"id\":\"" EV_ID "\",\"type\":\"call_failed\",\"call_id\":\"" CALL_ID
		"\",\"room\":\"r1\",\"ts\":\"2026-11-23T19:00:00.123Z\","
		"\"source\":\"sip-bridge/h1\",\"data\":{\"status\":\"busy\",\"sip_code\":486}}");
	int64_t code = 0;
	bool b = false;
	TEST_EQ_INT(event_get_int(&code, ev, "sip_code"), 0);
	TEST_EQ_INT(code, 486);
	TEST_EQ_STR(event_get_str(ev, "status"), "busy");
	TEST_ASSERT(event_get_str(ev, "sip_code") == NULL);
	TEST_EQ_INT(event_get_int(&code, ev, "missing"), ENOENT);
	TEST_EQ_INT(event_get_int(&code, ev, "status"), EINVAL);
	TEST_EQ_INT(event_get_bool(&b, ev, "status"), EINVAL);
	TEST_EQ_INT(event_set_int(ev, "big", 9007199254740992LL), EINVAL);
out:
	free(json);
	event_free(ev);
	return err;
}

static int test_new_rejects(void)
{
	int err = 0;
	struct event *ev = NULL;
	char room[EVENT_ROOM_MAX + 2];
	memset(room, 'r', sizeof(room) - 1);
	room[sizeof(room) - 1] = '\0';
	TEST_EQ_INT(event_new(&ev, EV_CALL_QUEUED, "nope", "r", "s"), EINVAL);
	TEST_EQ_INT(event_new(&ev, EV_CALL_QUEUED, CALL_ID, "", "s"), EINVAL);
	TEST_EQ_INT(event_new(&ev, EV_CALL_QUEUED, CALL_ID, room, "s"), EINVAL);
	TEST_EQ_INT(event_new(&ev, EV_CALL_QUEUED, CALL_ID, "r", NULL), EINVAL);
	TEST_EQ_INT(event_new(&ev, EV_TYPE_COUNT, CALL_ID, "r", "s"), EINVAL);
	room[EVENT_ROOM_MAX] = '\0'; /* exactly the maximum */
	TEST_EQ_INT(event_new(&ev, EV_CALL_QUEUED, CALL_ID, room, "s"), 0);
	TEST_ASSERT(id_is_uuid(ev->id));
	TEST_ASSERT(cJSON_IsObject(ev->data));
out:
	event_free(ev);
	return err;
}

/* An event's JSON with v, id, type, ts and data spliced in (JSON literals). */
#define ENV(v, id, type, ts, data) \
	"{\"v\":" v ",\"id\":" id ",\"type\":" type ",\"call_id\":\"" CALL_ID "\"," \
	"\"room\":\"r1\",\"ts\":" ts ",\"source\":\"s/1\",\"data\":" data "}"
#define OK_ID "\"" EV_ID "\""
#define OK_TS "\"2026-11-23T19:00:00.123Z\""

struct bad_case {
	const char *json;
	const char *want;
};

static const struct bad_case bad_cases[] = {
	{ "{\"id\":\"" EV_ID "\"}", "v: required" },
	{ ENV("2", OK_ID, "\"call_queued\"", OK_TS, "{}"), "v: must be 1" },
	{ ENV("\"1\"", OK_ID, "\"call_queued\"", OK_TS, "{}"), "v: must be 1" },
	{ "{\"v\":1,\"type\":\"call_queued\"}", "id: required" },
	{ ENV("1", "\"7f3c1a2e-5b6d-4c8e-9f01-23456789abcZ\"", "\"call_queued\"", OK_TS, "{}"),
	  "id: must be a UUID" },
	{ ENV("1", "42", "\"call_queued\"", OK_TS, "{}"), "id: must be a UUID" },
	{ ENV("1", OK_ID, "\"call_teleported\"", OK_TS, "{}"), "type: unknown event type" },
	{ ENV("1", OK_ID, "7", OK_TS, "{}"), "type: must be a string" },
	{ ENV("1", OK_ID, "\"call_queued\"", "\"2026-11-23 19:00\"", "{}"),
	  "ts: must be an RFC 3339" },
	{ ENV("1", OK_ID, "\"call_queued\"", "\"2026-02-30T19:00:00Z\"", "{}"), "ts: must be" },
	{ ENV("1", OK_ID, "\"call_queued\"", "1795460400123", "{}"), "ts: must be" },
	{ ENV("1", OK_ID, "\"call_queued\"", OK_TS, "[]"), "data: must be an object" },
	{ ENV("1", OK_ID, "\"call_queued\"", OK_TS, "null"), "data: must be an object" },
	{ "{\"v\":1,\"id\":" OK_ID ",\"type\":\"call_queued\",\"call_id\":\"x\"}",
	  "call_id: must be a UUID" },
	{ "{\"v\":1,\"id\":" OK_ID ",\"type\":\"call_queued\",\"call_id\":\"" CALL_ID
	  "\",\"room\":\"a b\"}",
	  "room: must be" },
	{ "{\"v\":1,\"id\":" OK_ID ",\"type\":\"call_queued\",\"call_id\":\"" CALL_ID
	  "\",\"room\":\"r\","
	  "\"ts\":" OK_TS ",\"source\":\"\"}",
	  "source: must be" },
	{ "{\"v\":1,\"id\":" OK_ID ",\"type\":\"call_queued\",\"call_id\":\"" CALL_ID
	  "\",\"room\":\"r\","
	  "\"ts\":" OK_TS ",\"source\":\"s\"}",
	  "data: required" },
	{ "{\"v\":1,\"v\":1}", "v: duplicate field" },
	{ "{\"v\":1,\"color\":\"red\"}", "color: unknown envelope field" },
	/* per-type data */
	{ ENV("1", OK_ID, "\"call_failed\"", OK_TS, "{\"sip_code\":486}"),
	  "data.status: required" },
	{ ENV("1", OK_ID, "\"call_failed\"", OK_TS, "{\"status\":\"completed\"}"),
	  "data.status: must be one of busy|no_answer" },
	{ ENV("1", OK_ID, "\"call_failed\"", OK_TS, "{\"status\":\"busy\",\"sip_code\":99}"),
	  "data.sip_code: must be an integer 100..699" },
	{ ENV("1", OK_ID, "\"call_failed\"", OK_TS, "{\"status\":\"busy\",\"sip_code\":486.5}"),
	  "data.sip_code: must be an integer 100..699" },
	{ ENV("1", OK_ID, "\"call_failed\"", OK_TS, "{\"status\":\"busy\",\"sip_code\":\"486\"}"),
	  "data.sip_code: must be an integer 100..699" },
	{ ENV("1", OK_ID, "\"call_failed\"", OK_TS, "{\"status\":\"busy\",\"sip_reason\":5}"),
	  "data.sip_reason: must be a string" },
	{ ENV("1", OK_ID, "\"call_failed\"", OK_TS, "{\"status\":\"busy\",\"status\":\"x\"}"),
	  "data.status: duplicate field" },
	{ ENV("1", OK_ID, "\"call_ringing\"", OK_TS, "{\"sip_code\":200}"),
	  "data.sip_code: must be an integer 100..199" },
	{ ENV("1", OK_ID, "\"call_dialing\"", OK_TS, "{\"provider\":\"plivo\"}"),
	  "data.provider: must be one of twilio|exotel" },
	{ ENV("1", OK_ID, "\"call_hold\"", OK_TS, "{\"direction\":\"sendrecv\"}"),
	  "data.direction: must be one of sendonly|recvonly|inactive" },
	{ ENV("1", OK_ID, "\"call_hold\"", OK_TS, "{\"method\":\"a=sendonly\"}"),
	  "data.method: must be one of" },
	{ ENV("1", OK_ID, "\"call_resume\"", OK_TS, "{\"direction\":\"inactive\"}"),
	  "data.direction:" },
	{ ENV("1", OK_ID, "\"call_dtmf\"", OK_TS, "{\"digit\":\"E\",\"duration_ms\":1}"),
	  "data.digit: must be one of" },
	{ ENV("1", OK_ID, "\"call_dtmf\"", OK_TS, "{\"digit\":\"12\",\"duration_ms\":1}"),
	  "data.digit:" },
	{ ENV("1", OK_ID, "\"call_dtmf\"", OK_TS, "{\"digit\":\"1\"}"),
	  "data.duration_ms: required" },
	{ ENV("1", OK_ID, "\"call_dtmf\"", OK_TS, "{\"digit\":\"1\",\"duration_ms\":-1}"),
	  "data.duration_ms: must be an integer >= 0" },
	{ ENV("1", OK_ID, "\"call_dtmf\"", OK_TS, "{\"digit\":\"1\",\"duration_ms\":1e300}"),
	  "data.duration_ms: must be an integer >= 0" },
	{ ENV("1", OK_ID, "\"call_ended\"", OK_TS,
	      "{\"reason\":\"\",\"by\":\"remote\",\"duration_ms\":1}"),
	  "data.reason: must be a non-empty string" },
	{ ENV("1", OK_ID, "\"call_ended\"", OK_TS,
	      "{\"reason\":\"bye\",\"by\":\"nobody\",\"duration_ms\":1}"),
	  "data.by: must be one of local|remote|agent|system" },
	{ ENV("1", OK_ID, "\"transcript\"", OK_TS,
	      "{\"speaker\":\"bot\",\"text\":\"x\",\"final\":true,\"started_at\":" OK_TS "}"),
	  "data.speaker: must be one of agent|user" },
	{ ENV("1", OK_ID, "\"transcript\"", OK_TS,
	      "{\"speaker\":\"user\",\"text\":\"x\",\"final\":1,\"started_at\":" OK_TS "}"),
	  "data.final: must be true or false" },
	{ ENV("1", OK_ID, "\"transcript\"", OK_TS,
	      "{\"speaker\":\"user\",\"text\":\"x\",\"final\":true,\"started_at\":\"today\"}"),
	  "data.started_at: must be an RFC 3339 timestamp" },
	{ ENV("1", OK_ID, "\"transcript\"", OK_TS, "{\"speaker\":\"user\",\"final\":true}"),
	  "data.text: required" },
	{ ENV("1", OK_ID, "\"recording_failed\"", OK_TS, "{\"attempt\":0,\"error\":\"x\"}"),
	  "data.attempt: must be an integer >= 1" },
	{ ENV("1", OK_ID, "\"recording_failed\"", OK_TS, "{\"attempt\":1}"),
	  "data.error: required" },
	{ ENV("1", OK_ID, "\"call_failed\"", OK_TS, "{\"status\":\"failed\",\"reason\":5}"),
	  "data.reason: must be a string" },
	{ ENV("1", OK_ID, "\"recording_ready\"", OK_TS, "{}"), "data.path: required" },
	{ ENV("1", OK_ID, "\"recording_started\"", OK_TS, "{\"path\":[]}"),
	  "data.path: must be a string" },
	{ ENV("1", OK_ID, "\"call_answered\"", OK_TS, "{\"sip_call_id\":null}"),
	  "data.sip_call_id:" },
	{ ENV("1", OK_ID, "\"webhook_delivered\"", OK_TS, "{\"url\":\"ftp://x\"}"),
	  "data.url: must be an http(s) URL" },
	{ ENV("1", OK_ID, "\"webhook_delivered\"", OK_TS,
	      "{\"url\":\"https://x\",\"status_code\":700}"),
	  "data.status_code: must be an integer 100..599" },
	{ ENV("1", OK_ID, "\"webhook_failed\"", OK_TS, "{\"url\":\"https://x\"}"),
	  "data.error: required" },
	{ ENV("1", OK_ID, "\"webhook_failed\"", OK_TS,
	      "{\"url\":\"https://x\",\"error\":\"e\",\"attempts\":0}"),
	  "data.attempts: must be an integer >= 1" },
	/* syntax */
	{ "", "json: parse error" },
	{ "{\"v\":1,\"id\":", "json: parse error" },
	{ "{\"v\":1} x", "json: trailing data" },
	{ "[1,2]", "json: must be an object" },
	{ "\"call_hold\"", "json: must be an object" },
};

static int test_decode_errors(void)
{
	int err = 0;
	struct event *ev = NULL;
	char msg[256];
	size_t i = 0;
	for (i = 0; i < CM_ARRAY_LEN(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		msg[0] = '\0';
		TEST_EQ_INT(event_decode(&ev, c->json, strlen(c->json), msg, sizeof(msg)), EINVAL);
		TEST_ASSERT(ev == NULL);
		TEST_CONTAINS(msg, c->want);
	}
out:
	if (err && i < CM_ARRAY_LEN(bad_cases))
		fprintf(stderr, "case %zu: %s\n", i, bad_cases[i].json);
	event_free(ev);
	return err;
}

static int test_decode_accepts(void)
{
	int err = 0;
	struct event *ev = NULL;
	char msg[256] = "";
	/* offsets, extra data fields, 1.0 as an integer, surrounding whitespace,
	 * input that is not NUL-terminated */
	const char *ok =
		" " ENV("1.0", OK_ID, "\"call_failed\"", "\"2026-11-23T20:30:00.5+01:30\"",
			"{\"status\":\"busy\",\"sip_code\":486.0,\"x\":{\"y\":[1,2]}}") "\n";
	TEST_EQ_INT(event_decode(&ev, ok, strlen(ok), msg, sizeof(msg)), 0);
	TEST_EQ_INT(ev->ts_ms, 1795460400500LL);
	TEST_EQ_INT(ev->type, EV_CALL_FAILED);
	ev = event_free(ev);

	char buf[512];
	const char *q = ENV("1", OK_ID, "\"call_queued\"", OK_TS, "{}");
	size_t n = strlen(q);
	memcpy(buf, q, n);
	memset(buf + n, 'x', sizeof(buf) - n); /* garbage after len */
	TEST_EQ_INT(event_decode(&ev, buf, n, msg, sizeof(msg)), 0);
	TEST_EQ_INT(ev->ts_ms, 1795460400123LL);
out:
	if (err)
		fprintf(stderr, "message: %s\n", msg);
	event_free(ev);
	return err;
}

static int test_decode_limits(void)
{
	int err = 0;
	struct event *ev = NULL;
	char msg[256] = "";
	size_t n = EVENT_JSON_MAX + 1;
	char *huge = malloc(n);
	TEST_ASSERT(huge != NULL);
	memset(huge, ' ', n);
	huge[0] = '{';
	huge[n - 1] = '}';
	TEST_EQ_INT(event_decode(&ev, huge, n, msg, sizeof(msg)), EINVAL);
	TEST_CONTAINS(msg, "json: larger than 65536 bytes");

	/* deep nesting inside data, and a deep array at top level */
	char deep[1024];
	size_t off = 0;
	off += (size_t)snprintf(deep + off, sizeof(deep) - off, "%s",
				"{\"v\":1,\"id\":" OK_ID ",\"type\":\"call_queued\",\"data\":");
	for (int i = 0; i < 40; i++)
		deep[off++] = '[';
	for (int i = 0; i < 40; i++)
		deep[off++] = ']';
	deep[off++] = '}';
	TEST_EQ_INT(event_decode(&ev, deep, off, msg, sizeof(msg)), EINVAL);
	TEST_CONTAINS(msg, "json: nested deeper than 32 levels");
	memset(huge, '[', n);
	TEST_EQ_INT(event_decode(&ev, huge, EVENT_JSON_MAX, msg, sizeof(msg)), EINVAL);
	TEST_CONTAINS(msg, "json: nested deeper");

	/* brackets inside strings do not count */
	const char *str = ENV("1", OK_ID, "\"call_queued\"", OK_TS,
			      "{\"s\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[\"}");
	TEST_EQ_INT(event_decode(&ev, str, strlen(str), msg, sizeof(msg)), 0);
	ev = event_free(ev);
	TEST_EQ_INT(event_decode(&ev, NULL, 0, msg, sizeof(msg)), EINVAL);
	TEST_EQ_INT(event_decode(&ev, "{}", 2, NULL, 0), EINVAL);
out:
	free(huge);
	event_free(ev);
	return err;
}

static int test_validate_in_memory(void)
{
	int err = 0;
	struct event *ev = NULL;
	char msg[256] = "";
	TEST_EQ_INT(event_new(&ev, EV_CALL_DTMF, CALL_ID, "r", "s"), 0);
	TEST_EQ_INT(event_validate(ev, msg, sizeof(msg)), EINVAL);
	TEST_CONTAINS(msg, "data.digit: required for call_dtmf");
	TEST_EQ_INT(event_set_str(ev, "digit", "*"), 0);
	TEST_EQ_INT(event_set_int(ev, "duration_ms", 120), 0);
	TEST_EQ_INT(event_validate(ev, msg, sizeof(msg)), 0);
	ev->ts_ms = -1;
	TEST_EQ_INT(event_validate(ev, msg, sizeof(msg)), EINVAL);
	TEST_CONTAINS(msg, "ts:");
	ev->ts_ms = 0;
	ev->room[0] = '\0';
	TEST_EQ_INT(event_validate(ev, msg, sizeof(msg)), EINVAL);
	TEST_CONTAINS(msg, "room:");
	TEST_EQ_INT(event_validate(NULL, msg, sizeof(msg)), EINVAL);
out:
	event_free(ev);
	return err;
}

static int test_subject(void)
{
	int err = 0;
	struct event *ev = NULL;
	char buf[EVENT_SUBJECT_MAX];
	TEST_EQ_INT(event_new(&ev, EV_CALL_HOLD, CALL_ID, "r", "s"), 0);
	TEST_EQ_INT(event_subject(buf, sizeof(buf), ev), 0);
	TEST_EQ_STR(buf, "calls." CALL_ID ".call_hold");
	ev->type = EV_WEBHOOK_DELIVERED;
	TEST_EQ_INT(event_subject(buf, sizeof(buf), ev), 0);
	TEST_EQ_STR(buf, "calls." CALL_ID ".webhook_delivered");
	TEST_EQ_INT(event_subject(buf, 20, ev), ENOSPC);
	ev->call_id[0] = '*';
	TEST_EQ_INT(event_subject(buf, sizeof(buf), ev), EINVAL);
out:
	event_free(ev);
	return err;
}

static const struct test tests[] = {
	{ "type_names", test_type_names },
	{ "roundtrip_every_type", test_roundtrip_every_type },
	{ "encode_shape", test_encode_shape },
	{ "new_rejects", test_new_rejects },
	{ "decode_errors", test_decode_errors },
	{ "decode_accepts", test_decode_accepts },
	{ "decode_limits", test_decode_limits },
	{ "validate_in_memory", test_validate_in_memory },
	{ "subject", test_subject },
};

TEST_MAIN(tests)
