/* Call status transitions and hold accounting (see call_state.h). */
#include "call_state.h"

#include <stdlib.h>
#include <string.h>

/* queued 0 < dialing 1 < ringing 2 < in_progress/on_hold 3 < terminal 4 */
static int rank(enum call_status st)
{
	switch (st) {
	case CALL_QUEUED: return 0;
	case CALL_DIALING: return 1;
	case CALL_RINGING: return 2;
	case CALL_IN_PROGRESS: case CALL_ON_HOLD: return 3;
	default: return 4;
	}
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void call_state_init(struct call_state *c)
{
	memset(c, 0, sizeof(*c));
	c->status = CALL_QUEUED;
	c->end_event = CALL_END_NONE;
}

void call_state_event_from(struct call_state_event *out, const struct event *ev)
{
	int64_t code = 0;
	memset(out, 0, sizeof(*out));
	out->type = ev->type;
	out->ts = ev->ts_ms;
	out->status = event_get_str(ev, "status");
	if (event_get_int(&code, ev, "sip_code") == 0 && code > 0 && code < 1000)
		out->sip_code = (int)code;
	out->sip_reason = event_get_str(ev, "sip_reason");
	out->reason = event_get_str(ev, "reason");
	out->by = event_get_str(ev, "by");
	out->path = event_get_str(ev, "path");
}

bool call_state_relevant(enum event_type type)
{
	switch (type) {
	case EV_CALL_DIALING: case EV_CALL_RINGING: case EV_CALL_ANSWERED:
	case EV_CALL_FAILED: case EV_CALL_HOLD: case EV_CALL_RESUME: case EV_CALL_ENDED:
	case EV_AGENT_READY: case EV_RECORDING_READY:
		return true;
	default:
		return false;
	}
}

bool call_state_equal(const struct call_state *a, const struct call_state *b)
{
	return a->status == b->status && a->sip_code == b->sip_code &&
	       strcmp(a->sip_reason, b->sip_reason) == 0 && a->answered_at == b->answered_at &&
	       a->agent_ready_at == b->agent_ready_at && a->ended_at == b->ended_at &&
	       strcmp(a->end_reason, b->end_reason) == 0 && a->end_event == b->end_event &&
	       a->hold_count == b->hold_count && a->hold_ms == b->hold_ms &&
	       a->hold_started_at == b->hold_started_at &&
	       strcmp(a->recording_path, b->recording_path) == 0;
}

/* Earliest wins: a redelivered or late copy never moves a timestamp later. */
static void set_first(int64_t *at, int64_t ts)
{
	if (ts > 0 && (*at == 0 || ts < *at))
		*at = ts;
}

static void close_hold(struct call_state *c, int64_t ts)
{
	if (!c->hold_started_at)
		return;
	if (ts > c->hold_started_at)
		c->hold_ms += ts - c->hold_started_at;
	c->hold_started_at = 0;
}

static void end_call(struct call_state *c, enum call_status st, int64_t ts, const char *reason,
		     enum call_end how)
{
	c->status = st;
	c->ended_at = ts;
	c->end_event = how;
	copy_str(c->end_reason, sizeof(c->end_reason), reason);
	close_hold(c, ts);
}

static void on_failed(struct call_state *c, const struct call_state_event *ev)
{
	enum call_status st = CALL_FAILED;
	if (!ev->status || call_status_parse(&st, ev->status) != 0 ||
	    !call_status_is_terminal(st) || st == CALL_COMPLETED)
		st = CALL_FAILED;
	if (ev->sip_code)
		c->sip_code = ev->sip_code;
	if (ev->sip_reason)
		copy_str(c->sip_reason, sizeof(c->sip_reason), ev->sip_reason);
	end_call(c, st, ev->ts, ev->reason && *ev->reason ? ev->reason : call_status_name(st),
		 CALL_END_FAILED);
}

static void on_ended(struct call_state *c, const struct call_state_event *ev)
{
	enum call_status st;
	if (c->answered_at || rank(c->status) == 3)
		st = CALL_COMPLETED;
	else if (ev->by && (strcmp(ev->by, "local") == 0 || strcmp(ev->by, "agent") == 0))
		st = CALL_CANCELLED;
	else
		st = CALL_FAILED;
	end_call(c, st, ev->ts, ev->reason && *ev->reason ? ev->reason : "ended", CALL_END_ENDED);
}

static void on_answered(struct call_state *c, const struct call_state_event *ev)
{
	/* failed (owner_lost, not_dialed, ...) before this answer: it stays
	 * unanswered (an answer stamped after the end is not believed) */
	if (c->end_event == CALL_END_FAILED && c->ended_at && ev->ts > c->ended_at)
		return;
	set_first(&c->answered_at, ev->ts);
	if (rank(c->status) < 3) {
		c->status = c->hold_started_at ? CALL_ON_HOLD : CALL_IN_PROGRESS;
		return;
	}
	/* call_ended overtook call_answered: the call was answered after all. */
	if (c->end_event == CALL_END_ENDED &&
	    (c->status == CALL_FAILED || c->status == CALL_CANCELLED) &&
	    (!c->ended_at || ev->ts <= c->ended_at))
		c->status = CALL_COMPLETED;
}

bool call_state_apply(struct call_state *c, const struct call_state_event *ev)
{
	struct call_state before = *c;
	bool terminal = call_status_is_terminal(c->status);

	switch (ev->type) {
	case EV_CALL_DIALING:
		if (rank(c->status) < 1)
			c->status = CALL_DIALING;
		break;
	case EV_CALL_RINGING:
		if (rank(c->status) < 2)
			c->status = CALL_RINGING;
		break;
	case EV_CALL_ANSWERED:
		on_answered(c, ev);
		break;
	case EV_AGENT_READY:
		set_first(&c->agent_ready_at, ev->ts);
		break;
	case EV_CALL_HOLD:
		if (terminal || c->hold_started_at)
			break;
		c->hold_started_at = ev->ts > 0 ? ev->ts : 1;
		c->hold_count++;
		c->status = CALL_ON_HOLD;
		break;
	case EV_CALL_RESUME:
		if (terminal || !c->hold_started_at || ev->ts < c->hold_started_at)
			break;
		close_hold(c, ev->ts);
		if (c->status == CALL_ON_HOLD)
			c->status = CALL_IN_PROGRESS;
		break;
	case EV_CALL_FAILED:
		if (!terminal)
			on_failed(c, ev);
		break;
	case EV_CALL_ENDED:
		if (!terminal)
			on_ended(c, ev);
		break;
	case EV_RECORDING_READY:
		if (ev->path && *ev->path)
			copy_str(c->recording_path, sizeof(c->recording_path), ev->path);
		break;
	default:
		break;
	}
	return !call_state_equal(&before, c);
}

static int hold_cmp(const void *a, const void *b)
{
	const struct call_state_event *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	int rx = x->type == EV_CALL_HOLD ? 0 : 1, ry = y->type == EV_CALL_HOLD ? 0 : 1;
	return rx - ry;
}

void call_state_holds(struct call_state_holds *h, struct call_state_event *evs, size_t n,
		      int64_t ended_at)
{
	memset(h, 0, sizeof(*h));
	if (n > 1)
		qsort(evs, n, sizeof(*evs), hold_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct call_state_event *ev = &evs[i];
		if (ended_at && ev->ts > ended_at)
			break;
		if (ev->type == EV_CALL_HOLD && !h->open_since) {
			h->open_since = ev->ts > 0 ? ev->ts : 1;
			h->count++;
		} else if (ev->type == EV_CALL_RESUME && h->open_since) {
			if (ev->ts > h->open_since)
				h->ms += ev->ts - h->open_since;
			h->open_since = 0;
		}
	}
	if (ended_at && h->open_since) {
		if (ended_at > h->open_since)
			h->ms += ended_at - h->open_since;
		h->open_since = 0;
	}
}

bool call_state_set_holds(struct call_state *c, const struct call_state_holds *h)
{
	struct call_state before = *c;
	c->hold_count = h->count;
	c->hold_ms = h->ms;
	c->hold_started_at = h->open_since;
	if (rank(c->status) == 3)
		c->status = h->open_since ? CALL_ON_HOLD : CALL_IN_PROGRESS;
	else if (rank(c->status) < 3 && h->open_since)
		c->status = CALL_ON_HOLD;
	return !call_state_equal(&before, c);
}
