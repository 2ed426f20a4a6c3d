/*
 * event — the call events every callmesh service publishes on NATS
 * (DESIGN.md §4): the envelope, its JSON form, and one validation table per
 * event type. The JSON Schemas in proto/ describe the same shapes and are
 * kept in sync with the tables in event.c.
 *
 * Envelope (compact JSON, keys in this order, no other keys allowed):
 *   {"v":1,"id":"<uuid>","type":"call_hold","call_id":"<uuid>",
 *    "room":"<room>","ts":"2026-11-23T19:00:00.123Z",
 *    "source":"sip-bridge/<instance>","data":{…}}
 *   room, source: 1..128 printable ASCII characters (0x21..0x7e, no space).
 *   ts: RFC 3339 (Z or ±hh:mm, fraction optional) on input; always UTC with
 *   milliseconds on output.
 *
 * data, per type (every data object may carry extra, unknown fields):
 *   call_queued, agent_speaking, agent_listening, agent_ready: no fields
 *   call_dialing        provider? "twilio"|"exotel"
 *   call_ringing        sip_code? int 100..199
 *   call_answered       sip_call_id? str, participant_identity? str
 *   call_failed         status  "busy"|"no_answer"|"rejected"|"cancelled"|
 *                               "unreachable"|"timeout"|"failed",
 *                       sip_code? int 100..699, sip_reason? str
 *   call_hold           direction? "sendonly"|"recvonly"|"inactive" (what the
 *                       far end offered), method? "attribute"|
 *                       "connection_address"|"port_zero" (how hold was
 *                       signalled: a=sendonly/inactive, c=0.0.0.0, m= port 0)
 *   call_resume         direction? "sendrecv"|"recvonly"
 *   call_dtmf           digit "0".."9"|"*"|"#"|"A".."D", duration_ms int ≥ 0
 *   call_ended          reason str (non-empty), by "local"|"remote"|"agent"|
 *                       "system", duration_ms int ≥ 0
 *   agent_joined        identity? str
 *   transcript          speaker "agent"|"user", text str, final bool,
 *                       started_at RFC 3339 timestamp
 *   recording_started   recording_id? str, path? str
 *   recording_failed    attempt int ≥ 1, error str (non-empty)
 *   recording_ready     path str (non-empty), recording_id? str
 *   webhook_delivered   url "http(s)://…", status_code? int 100..599,
 *                       attempts? int ≥ 1
 *   webhook_failed      url "http(s)://…", error str (non-empty),
 *                       status_code? int 100..599, attempts? int ≥ 1
 * (`?` = optional; integers are JSON numbers without a fraction, at most
 * 2^53-1.)
 *
 * Ownership: struct event owns `data`; event_free() releases both.
 * Not thread-safe per event; distinct events may be used from any thread.
 */
#ifndef CALLMESH_EVENT_H
#define CALLMESH_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/core.h"

enum event_type {
	EV_CALL_QUEUED, EV_CALL_DIALING, EV_CALL_RINGING, EV_CALL_ANSWERED, EV_CALL_FAILED,
	EV_CALL_HOLD, EV_CALL_RESUME, EV_CALL_DTMF, EV_CALL_ENDED,
	EV_AGENT_JOINED, EV_AGENT_READY, EV_AGENT_SPEAKING, EV_AGENT_LISTENING,
	EV_TRANSCRIPT,
	EV_RECORDING_STARTED, EV_RECORDING_FAILED, EV_RECORDING_READY,
	EV_WEBHOOK_DELIVERED, EV_WEBHOOK_FAILED,
	EV_TYPE_COUNT
};

#define EVENT_ROOM_MAX   128     /* bytes; longer room names are invalid */
#define EVENT_SOURCE_MAX 128     /* bytes; longer sources are invalid */
#define EVENT_JSON_MAX   65536   /* event_decode() rejects larger input */
#define EVENT_DEPTH_MAX  32      /* event_decode() rejects deeper nesting */
/* "calls." + uuid + "." + longest type name + NUL fits in this. */
#define EVENT_SUBJECT_MAX 80

struct event {
	char id[ID_UUID_LEN + 1];
	enum event_type type;
	char call_id[ID_UUID_LEN + 1];
	char room[EVENT_ROOM_MAX + 1];
	int64_t ts_ms;                 /* ms since the epoch, UTC */
	char source[EVENT_SOURCE_MAX + 1];
	cJSON *data;                   /* owned; always an object */
};

/* "call_hold" for EV_CALL_HOLD; "unknown" for an out-of-range value. */
const char *event_type_name(enum event_type type);
/* The inverse of event_type_name(); EINVAL for an unknown name. */
int event_type_parse(enum event_type *typep, const char *s) CM_MUST_USE;

/* A new event: fresh UUID id, ts = now, data = {}. Borrows the strings
 * (copied). EINVAL on a bad type, call_id, room or source; ENOMEM.
 * Caller frees with event_free(). */
int event_new(struct event **evp, enum event_type type, const char *call_id,
	      const char *room, const char *source) CM_MUST_USE;
/* NULL-safe; returns NULL (ev = event_free(ev)). */
struct event *event_free(struct event *ev);

/* Compact JSON of the envelope (see above). Does not validate; call
 * event_validate() first when the event comes from untrusted code.
 * EINVAL for an out-of-range type/ts or non-object data; ENOMEM.
 * Caller frees *jsonp with free(). */
int event_encode(char **jsonp, const struct event *ev) CM_MUST_USE;

/* Parses `len` bytes of `json` (need not be NUL-terminated; at most
 * EVENT_JSON_MAX bytes, nesting at most EVENT_DEPTH_MAX) and validates the
 * envelope and the data of its type. On error returns EINVAL (ENOMEM when
 * out of memory) and writes a message naming the field into err, e.g.
 * "data.sip_code: must be an integer 100..699". err may be NULL.
 * Caller frees *evp with event_free(). */
int event_decode(struct event **evp, const char *json, size_t len,
		 char *err, size_t errlen) CM_MUST_USE;

/* The same checks as event_decode() for an event built in memory. */
int event_validate(const struct event *ev, char *err, size_t errlen) CM_MUST_USE;

/* "calls.<call_id>.<type>" into buf. EINVAL for a bad call_id/type,
 * ENOSPC when buf is too small (EVENT_SUBJECT_MAX always suffices). */
int event_subject(char *buf, size_t len, const struct event *ev) CM_MUST_USE;

/* Set data.<name>, replacing an existing value. Borrow name and value
 * (copied). 0, EINVAL (NULL argument; an int beyond ±(2^53-1); a time
 * outside 1970..9999) or ENOMEM. */
int event_set_str(struct event *ev, const char *name, const char *value) CM_MUST_USE;
int event_set_int(struct event *ev, const char *name, int64_t value) CM_MUST_USE;
int event_set_bool(struct event *ev, const char *name, bool value) CM_MUST_USE;
/* data.<name> = RFC 3339 UTC timestamp with ms of `ms` (e.g. started_at). */
int event_set_time(struct event *ev, const char *name, int64_t ms) CM_MUST_USE;
/* The data of call_failed for an outbound call no dialer took before its
 * dial job's dial_by (proto/COMMANDS.md): status "failed", reason
 * "not_dialed", sip_reason naming how long it waited (`waited_ms` since it
 * was queued; < 0 when unknown). Every service that gives up on a queued
 * call says it the same way. */
int event_set_not_dialed(struct event *ev, int64_t waited_ms) CM_MUST_USE;

/* Read data.<name>. The string is borrowed from the event (NULL when absent
 * or not a string). The others return 0, ENOENT (absent) or EINVAL (wrong
 * type; for ints also a fraction or beyond ±2^53). */
const char *event_get_str(const struct event *ev, const char *name);
int event_get_int(int64_t *valuep, const struct event *ev, const char *name) CM_MUST_USE;
int event_get_bool(bool *valuep, const struct event *ev, const char *name) CM_MUST_USE;

#endif
