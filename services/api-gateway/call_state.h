/*
 * call_state — how a call's row follows its events (DESIGN §4, §5): pure
 * functions, no I/O, so every ordering rule is unit-tested.
 *
 * Status moves forward only:
 *   queued → dialing → ringing → in_progress ⇄ on_hold → terminal
 * (a late call_ringing never moves an answered or ended call back). A
 * terminal status is final; recording_ready still attaches its path and a
 * late call_answered still records answered_at (and turns an unanswered
 * call_ended "failed"/"cancelled" into "completed" when it came first).
 *
 *   call_failed  → data.status (busy, no_answer, …; "failed" if unknown),
 *                  sip_code/sip_reason, end_reason = data.reason or the status
 *   call_ended   → "completed" when answered, else "cancelled" (by local or
 *                  agent) or "failed"; end_reason = data.reason
 *   call_hold    → opens a hold (a second hold while held is a duplicate and
 *                  ignored); hold_count counts holds
 *   call_resume  → closes the open hold, hold_ms += resume.ts - hold.ts (a
 *                  resume without an open hold, or older than it, is ignored)
 *   a call that ends while held closes the hold at ended_at.
 *
 * Hold accounting that must not depend on delivery order is recomputed from
 * the call's stored hold/resume events with call_state_holds().
 */
#ifndef CALLMESH_GATEWAY_CALL_STATE_H
#define CALLMESH_GATEWAY_CALL_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "event/event.h"

#define CALL_STATE_REASON_MAX 256  /* bytes of sip_reason / end_reason, NUL included */
#define CALL_STATE_PATH_MAX   1024 /* bytes of recording_path, NUL included */

enum call_end {
	CALL_END_NONE,   /* not ended */
	CALL_END_FAILED, /* ended by call_failed */
	CALL_END_ENDED,  /* ended by call_ended */
};

/* The event-driven columns of a calls row. Timestamps are ms since the
 * epoch, 0 = NULL; sip_code 0 = NULL; empty strings = NULL. */
struct call_state {
	enum call_status status;
	int sip_code;
	char sip_reason[CALL_STATE_REASON_MAX];
	int64_t answered_at;
	int64_t agent_ready_at;
	int64_t ended_at;
	char end_reason[CALL_STATE_REASON_MAX];
	enum call_end end_event;
	int hold_count;
	int64_t hold_ms;
	int64_t hold_started_at;
	char recording_path[CALL_STATE_PATH_MAX];
};

/* What call_state needs of one event. Strings are borrowed (may be NULL). */
struct call_state_event {
	enum event_type type;
	int64_t ts;             /* ms since the epoch */
	const char *status;     /* call_failed: data.status */
	int sip_code;           /* call_failed: data.sip_code, 0 when absent */
	const char *sip_reason; /* call_failed */
	const char *reason;     /* call_ended (required), call_failed (optional) */
	const char *by;         /* call_ended */
	const char *path;       /* recording_ready */
};

/* A new call: status queued, everything else empty. */
void call_state_init(struct call_state *c);

/* Fills *out from a decoded event (borrows ev's strings). */
void call_state_event_from(struct call_state_event *out, const struct event *ev);

/* True when events of this type can change the row. */
bool call_state_relevant(enum event_type type);

/* Applies one event to *c. Returns true when *c changed. */
bool call_state_apply(struct call_state *c, const struct call_state_event *ev);

/* Field-by-field equality of two rows. */
bool call_state_equal(const struct call_state *a, const struct call_state *b);

/* Hold accounting from a call's hold/resume events in any order (other
 * types in evs are skipped). The array is sorted in place by ts (a hold
 * before a resume of the same ms). Events after ended_at (0: the call has
 * not ended) are ignored, and a hold still open at ended_at is closed there. */
struct call_state_holds {
	int count;
	int64_t ms;
	int64_t open_since; /* 0: not held now */
};
void call_state_holds(struct call_state_holds *h, struct call_state_event *evs, size_t n,
		      int64_t ended_at);

/* Replaces c's hold columns with h and sets in_progress/on_hold to match
 * (a terminal status is left alone). Returns true when *c changed. */
bool call_state_set_holds(struct call_state *c, const struct call_state_holds *h);

#endif
