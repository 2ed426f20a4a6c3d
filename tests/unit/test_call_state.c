/* services/api-gateway/call_state.c: status transitions and hold accounting
 * under in-order, duplicated and out-of-order deliveries. */
#include "../services/api-gateway/call_state.h"
#include "harness/test.h"

#include <stdlib.h>
#include <string.h>

#define T0 1795000000000LL /* 2026-11-18, ms */

static struct call_state_event ev(enum event_type type, int64_t ts)
{
	struct call_state_event e;
	memset(&e, 0, sizeof(e));
	e.type = type;
	e.ts = ts;
	return e;
}

static struct call_state_event failed(int64_t ts, const char *status, int code, const char *reason)
{
	struct call_state_event e = ev(EV_CALL_FAILED, ts);
	e.status = status;
	e.sip_code = code;
	e.sip_reason = reason;
	return e;
}

static struct call_state_event ended(int64_t ts, const char *reason, const char *by)
{
	struct call_state_event e = ev(EV_CALL_ENDED, ts);
	e.reason = reason;
	e.by = by;
	return e;
}

static struct call_state_event ready(int64_t ts, const char *path)
{
	struct call_state_event e = ev(EV_RECORDING_READY, ts);
	e.path = path;
	return e;
}

/* Applies evs[0..n) to a fresh call. */
static struct call_state run(const struct call_state_event *evs, size_t n)
{
	struct call_state c;
	call_state_init(&c);
	for (size_t i = 0; i < n; i++)
		(void)call_state_apply(&c, &evs[i]);
	return c;
}

/* A full answered call with one hold: the reference sequence. */
static void happy(struct call_state_event out[9])
{
	out[0] = ev(EV_CALL_DIALING, T0);
	out[1] = ev(EV_CALL_RINGING, T0 + 1000);
	out[2] = ev(EV_CALL_ANSWERED, T0 + 5000);
	out[3] = ev(EV_AGENT_READY, T0 + 5100);
	out[4] = ev(EV_CALL_HOLD, T0 + 10000);
	out[5] = ev(EV_CALL_RESUME, T0 + 17500);
	out[6] = ended(T0 + 30000, "remote_hangup", "remote");
	out[7] = ready(T0 + 31000, "/rec/a.ogg");
	out[8] = ev(EV_TRANSCRIPT, T0 + 6000);
}

static int check_happy(const struct call_state *c)
{
	int err = 0;
	TEST_EQ_STR(call_status_name(c->status), "completed");
	TEST_EQ_INT(c->answered_at, T0 + 5000);
	TEST_EQ_INT(c->agent_ready_at, T0 + 5100);
	TEST_EQ_INT(c->ended_at, T0 + 30000);
	TEST_EQ_STR(c->end_reason, "remote_hangup");
	TEST_EQ_INT(c->end_event, CALL_END_ENDED);
	TEST_EQ_INT(c->hold_count, 1);
	TEST_EQ_INT(c->hold_ms, 7500);
	TEST_EQ_INT(c->hold_started_at, 0);
	TEST_EQ_STR(c->recording_path, "/rec/a.ogg");
out:
	return err;
}

static int test_forward_path(void)
{
	int err = 0;
	struct call_state_event e[9];
	struct call_state c;
	happy(e);
	call_state_init(&c);
	TEST_EQ_STR(call_status_name(c.status), "queued");
	TEST_ASSERT(call_state_apply(&c, &e[0]));
	TEST_EQ_STR(call_status_name(c.status), "dialing");
	TEST_ASSERT(call_state_apply(&c, &e[1]));
	TEST_EQ_STR(call_status_name(c.status), "ringing");
	TEST_ASSERT(call_state_apply(&c, &e[2]));
	TEST_EQ_STR(call_status_name(c.status), "in_progress");
	TEST_ASSERT(call_state_apply(&c, &e[3]));
	TEST_ASSERT(call_state_apply(&c, &e[4]));
	TEST_EQ_STR(call_status_name(c.status), "on_hold");
	TEST_EQ_INT(c.hold_started_at, T0 + 10000);
	TEST_ASSERT(call_state_apply(&c, &e[5]));
	TEST_EQ_STR(call_status_name(c.status), "in_progress");
	TEST_ASSERT(call_state_apply(&c, &e[6]));
	TEST_ASSERT(call_state_apply(&c, &e[7]));
	TEST_ASSERT(!call_state_apply(&c, &e[8])); /* a transcript changes no column */
	TEST_EQ_INT(check_happy(&c), 0);
out:
	return err;
}

static int test_duplicates_change_nothing(void)
{
	int err = 0;
	struct call_state_event e[9];
	struct call_state c;
	happy(e);
	call_state_init(&c);
	for (int i = 0; i < 9; i++) {
		(void)call_state_apply(&c, &e[i]);
		struct call_state snap = c;
		/* every event delivered a second time right away: no change
		 * (a repeated hold/resume pair would be a second hold, but a lone
		 * duplicate never is) */
		TEST_ASSERT(!call_state_apply(&c, &e[i]));
		TEST_ASSERT(call_state_equal(&snap, &c));
	}
	TEST_EQ_INT(check_happy(&c), 0);
	/* the whole sequence replayed after the end: terminal is final */
	for (int i = 0; i < 9; i++) {
		struct call_state snap = c;
		TEST_ASSERT(!call_state_apply(&c, &e[i]));
		TEST_ASSERT(call_state_equal(&snap, &c));
	}
out:
	return err;
}

static int test_late_ringing_never_moves_back(void)
{
	int err = 0;
	struct call_state_event e[] = {
		ev(EV_CALL_DIALING, T0), ev(EV_CALL_ANSWERED, T0 + 3000),
		ev(EV_CALL_RINGING, T0 + 1000), ev(EV_CALL_DIALING, T0),
	};
	struct call_state c = run(e, 4);
	TEST_EQ_STR(call_status_name(c.status), "in_progress");
	struct call_state_event e2[] = { ev(EV_CALL_ANSWERED, T0 + 3000),
					 ended(T0 + 9000, "bye", "remote"),
					 ev(EV_CALL_RINGING, T0 + 1000), ev(EV_CALL_DIALING, T0),
					 ev(EV_CALL_QUEUED, T0) };
	c = run(e2, 5);
	TEST_EQ_STR(call_status_name(c.status), "completed");
	TEST_EQ_INT(c.ended_at, T0 + 9000);
	/* ringing before dialing: ringing wins, dialing never moves it back */
	struct call_state_event e3[] = { ev(EV_CALL_RINGING, T0 + 1000), ev(EV_CALL_DIALING, T0) };
	c = run(e3, 2);
	TEST_EQ_STR(call_status_name(c.status), "ringing");
out:
	return err;
}

static int test_failure_statuses(void)
{
	int err = 0;
	static const char *const sts[] = { "busy", "no_answer", "rejected", "cancelled",
					   "unreachable", "timeout", "failed" };
	for (size_t i = 0; i < CM_ARRAY_LEN(sts); i++) {
		struct call_state_event e[] = { ev(EV_CALL_DIALING, T0),
						ev(EV_CALL_RINGING, T0 + 100),
						failed(T0 + 2000, sts[i], 486, "Busy Here") };
		struct call_state c = run(e, 3);
		TEST_EQ_STR(call_status_name(c.status), sts[i]);
		TEST_EQ_INT(c.sip_code, 486);
		TEST_EQ_STR(c.sip_reason, "Busy Here");
		TEST_EQ_INT(c.ended_at, T0 + 2000);
		TEST_EQ_STR(c.end_reason, sts[i]);
		TEST_EQ_INT(c.end_event, CALL_END_FAILED);
		TEST_EQ_INT(c.answered_at, 0);
	}
	/* unknown or non-failure status → failed */
	struct call_state_event bad[] = { failed(T0, "completed", 0, NULL) };
	struct call_state c = run(bad, 1);
	TEST_EQ_STR(call_status_name(c.status), "failed");
	TEST_EQ_INT(c.sip_code, 0);
	TEST_EQ_STR(c.sip_reason, "");
	struct call_state_event bad2[] = { failed(T0, "nonsense", 0, NULL) };
	c = run(bad2, 1);
	TEST_EQ_STR(call_status_name(c.status), "failed");
	struct call_state_event bad3[] = { failed(T0, NULL, 0, NULL) };
	c = run(bad3, 1);
	TEST_EQ_STR(call_status_name(c.status), "failed");
out:
	return err;
}

static int test_failed_is_final(void)
{
	int err = 0;
	struct call_state_event e[] = { failed(T0 + 2000, "busy", 486, "Busy Here"),
				ev(EV_CALL_RINGING, T0 + 1000), ended(T0 + 3000, "x", "remote"),
				failed(T0 + 4000, "timeout", 408, "Timeout"),
				ev(EV_CALL_HOLD, T0 + 2500), ready(T0 + 5000, "/r.ogg") };
	struct call_state c = run(e, 6);
	TEST_EQ_STR(call_status_name(c.status), "busy");
	TEST_EQ_INT(c.sip_code, 486);
	TEST_EQ_INT(c.ended_at, T0 + 2000);
	TEST_EQ_INT(c.hold_count, 0);
	TEST_EQ_STR(c.recording_path, "/r.ogg"); /* recordings still attach */
out:
	return err;
}

static int test_owner_lost_on_answered_call(void)
{
	int err = 0;
	struct call_state_event f = failed(T0 + 60000, "failed", 0, "owner lost");
	f.reason = "owner_lost";
	struct call_state_event e[] = { ev(EV_CALL_DIALING, T0), ev(EV_CALL_ANSWERED, T0 + 1000),
				ev(EV_CALL_HOLD, T0 + 50000), f };
	struct call_state c = run(e, 4);
	TEST_EQ_STR(call_status_name(c.status), "failed");
	TEST_EQ_STR(c.end_reason, "owner_lost");
	TEST_EQ_STR(c.sip_reason, "owner lost");
	TEST_EQ_INT(c.hold_count, 1);
	TEST_EQ_INT(c.hold_ms, 10000); /* ending on hold closes the hold */
	TEST_EQ_INT(c.hold_started_at, 0);
out:
	return err;
}

static int test_ended_unanswered(void)
{
	int err = 0;
	struct call_state_event e[] = { ev(EV_CALL_DIALING, T0), ended(T0 + 100, "api", "local") };
	struct call_state c = run(e, 2);
	TEST_EQ_STR(call_status_name(c.status), "cancelled");
	TEST_EQ_STR(c.end_reason, "api");
	struct call_state_event e2[] = { ev(EV_CALL_RINGING, T0),
					 ended(T0 + 100, "room_finished", "system") };
	c = run(e2, 2);
	TEST_EQ_STR(call_status_name(c.status), "failed");
	TEST_EQ_STR(c.end_reason, "room_finished");
	/* the failure came first: call_ended keeps it */
	struct call_state_event e3[] = { failed(T0, "no_answer", 480, NULL),
					 ended(T0 + 100, "x", "remote") };
	c = run(e3, 2);
	TEST_EQ_STR(call_status_name(c.status), "no_answer");
	TEST_EQ_INT(c.ended_at, T0);
out:
	return err;
}

static int test_ended_overtakes_answered(void)
{
	int err = 0;
	struct call_state_event e[] = { ev(EV_CALL_DIALING, T0),
					ended(T0 + 9000, "remote_hangup", "remote"),
					ev(EV_CALL_ANSWERED, T0 + 2000) };
	struct call_state c = run(e, 3);
	TEST_EQ_STR(call_status_name(c.status), "completed");
	TEST_EQ_INT(c.answered_at, T0 + 2000);
	TEST_EQ_INT(c.ended_at, T0 + 9000);
	/* but a real failure is never turned into completed */
	struct call_state_event e2[] = { failed(T0 + 9000, "busy", 486, NULL),
					 ev(EV_CALL_ANSWERED, T0 + 2000) };
	c = run(e2, 2);
	TEST_EQ_STR(call_status_name(c.status), "busy");
	TEST_EQ_INT(c.answered_at, T0 + 2000);
	/* an answer stamped after the end is not believed */
	struct call_state_event e3[] = { ended(T0 + 1000, "x", "remote"),
					 ev(EV_CALL_ANSWERED, T0 + 2000) };
	c = run(e3, 2);
	TEST_EQ_STR(call_status_name(c.status), "failed");
out:
	return err;
}

static int test_hold_rules(void)
{
	int err = 0;
	/* resume without hold ignored; duplicate hold ignored */
	struct call_state_event e[] = { ev(EV_CALL_ANSWERED, T0), ev(EV_CALL_RESUME, T0 + 500),
				ev(EV_CALL_HOLD, T0 + 1000), ev(EV_CALL_HOLD, T0 + 1500),
				ev(EV_CALL_RESUME, T0 + 4000), ev(EV_CALL_RESUME, T0 + 4500) };
	struct call_state c = run(e, 6);
	TEST_EQ_INT(c.hold_count, 1);
	TEST_EQ_INT(c.hold_ms, 3000);
	TEST_EQ_STR(call_status_name(c.status), "in_progress");
	/* two holds */
	struct call_state_event e2[] = { ev(EV_CALL_ANSWERED, T0), ev(EV_CALL_HOLD, T0 + 1000),
				 ev(EV_CALL_RESUME, T0 + 2000), ev(EV_CALL_HOLD, T0 + 5000),
				 ev(EV_CALL_RESUME, T0 + 5250) };
	c = run(e2, 5);
	TEST_EQ_INT(c.hold_count, 2);
	TEST_EQ_INT(c.hold_ms, 1250);
	/* a resume older than the open hold belongs to an earlier one */
	struct call_state_event e3[] = { ev(EV_CALL_ANSWERED, T0), ev(EV_CALL_HOLD, T0 + 5000),
				 ev(EV_CALL_RESUME, T0 + 2000) };
	c = run(e3, 3);
	TEST_EQ_STR(call_status_name(c.status), "on_hold");
	TEST_EQ_INT(c.hold_ms, 0);
	TEST_EQ_INT(c.hold_started_at, T0 + 5000);
	/* ended on hold */
	struct call_state_event e4[] = { ev(EV_CALL_ANSWERED, T0), ev(EV_CALL_HOLD, T0 + 1000),
				 ended(T0 + 4000, "remote_hangup", "remote") };
	c = run(e4, 3);
	TEST_EQ_STR(call_status_name(c.status), "completed");
	TEST_EQ_INT(c.hold_ms, 3000);
	TEST_EQ_INT(c.hold_started_at, 0);
out:
	return err;
}

static int test_timestamps_earliest(void)
{
	int err = 0;
	struct call_state_event e[] = { ev(EV_CALL_ANSWERED, T0 + 3000),
					ev(EV_CALL_ANSWERED, T0 + 2000),
					ev(EV_AGENT_READY, T0 + 4000),
					ev(EV_AGENT_READY, T0 + 3500),
					ev(EV_CALL_ANSWERED, T0 + 9000) };
	struct call_state c = run(e, 5);
	TEST_EQ_INT(c.answered_at, T0 + 2000);
	TEST_EQ_INT(c.agent_ready_at, T0 + 3500);
	/* agent_ready alone does not answer the call */
	struct call_state_event e2[] = { ev(EV_CALL_DIALING, T0), ev(EV_AGENT_READY, T0 + 1) };
	c = run(e2, 2);
	TEST_EQ_STR(call_status_name(c.status), "dialing");
	/* an empty path does not erase a recording */
	struct call_state_event e3[] = { ready(T0, "/a.ogg"), ready(T0 + 1, ""),
					 ready(T0 + 2, NULL) };
	c = run(e3, 3);
	TEST_EQ_STR(c.recording_path, "/a.ogg");
out:
	return err;
}

static int test_long_strings_truncated(void)
{
	int err = 0;
	char *big = malloc(5000);
	TEST_ASSERT(big != NULL);
	memset(big, 'x', 4999);
	big[4999] = '\0';
	struct call_state_event e[] = { failed(T0, "failed", 500, big), ready(T0, big) };
	struct call_state c = run(e, 2);
	TEST_EQ_INT(strlen(c.sip_reason), CALL_STATE_REASON_MAX - 1);
	TEST_EQ_INT(strlen(c.recording_path), CALL_STATE_PATH_MAX - 1);
out:
	free(big);
	return err;
}

/* Every permutation of a hold-bearing sequence gives the same hold
 * accounting through call_state_holds(). */
static int permute(struct call_state_event *a, size_t k, size_t n, int64_t ended_at, int *bad,
		   int *count)
{
	if (k == n) {
		struct call_state_event copy[8];
		struct call_state_holds h;
		memcpy(copy, a, n * sizeof(*a));
		call_state_holds(&h, copy, n, ended_at);
		(*count)++;
		if (h.count != 2 || h.ms != 3000 + 500 || h.open_since != 0)
			(*bad)++;
		return 0;
	}
	for (size_t i = k; i < n; i++) {
		struct call_state_event t = a[k];
		a[k] = a[i];
		a[i] = t;
		permute(a, k + 1, n, ended_at, bad, count);
		a[i] = a[k];
		a[k] = t;
	}
	return 0;
}

static int test_holds_any_order(void)
{
	int err = 0, bad = 0, count = 0;
	struct call_state_event e[] = { ev(EV_CALL_HOLD, T0 + 1000), ev(EV_CALL_RESUME, T0 + 4000),
				ev(EV_CALL_HOLD, T0 + 6000), ev(EV_CALL_RESUME, T0 + 6500),
				ev(EV_CALL_RESUME, T0 + 500), ev(EV_CALL_HOLD, T0 + 2000) };
	permute(e, 0, 6, 0, &bad, &count);
	TEST_EQ_INT(count, 720);
	TEST_EQ_INT(bad, 0);

	/* still held: open_since; ended while held: closed at the end */
	struct call_state_event o[] = { ev(EV_CALL_RESUME, T0 + 3000), ev(EV_CALL_HOLD, T0 + 1000),
				ev(EV_CALL_HOLD, T0 + 5000) };
	struct call_state_holds h;
	call_state_holds(&h, o, 3, 0);
	TEST_EQ_INT(h.count, 2);
	TEST_EQ_INT(h.ms, 2000);
	TEST_EQ_INT(h.open_since, T0 + 5000);
	struct call_state_event o2[] = { ev(EV_CALL_RESUME, T0 + 3000), ev(EV_CALL_HOLD, T0 + 1000),
				 ev(EV_CALL_HOLD, T0 + 5000), ev(EV_CALL_RESUME, T0 + 9000) };
	call_state_holds(&h, o2, 4, T0 + 6000); /* the resume after the end is ignored */
	TEST_EQ_INT(h.count, 2);
	TEST_EQ_INT(h.ms, 3000);
	TEST_EQ_INT(h.open_since, 0);
	/* same millisecond: hold first */
	struct call_state_event o3[] = { ev(EV_CALL_RESUME, T0), ev(EV_CALL_HOLD, T0) };
	call_state_holds(&h, o3, 2, 0);
	TEST_EQ_INT(h.count, 1);
	TEST_EQ_INT(h.ms, 0);
	TEST_EQ_INT(h.open_since, 0);
	call_state_holds(&h, NULL, 0, 0);
	TEST_EQ_INT(h.count, 0);
out:
	return err;
}

static int test_set_holds(void)
{
	int err = 0;
	struct call_state c;
	struct call_state_holds h = { 1, 0, T0 + 100 };
	call_state_init(&c);
	c.status = CALL_IN_PROGRESS;
	TEST_ASSERT(call_state_set_holds(&c, &h));
	TEST_EQ_STR(call_status_name(c.status), "on_hold");
	TEST_ASSERT(!call_state_set_holds(&c, &h));
	h.open_since = 0;
	h.ms = 700;
	TEST_ASSERT(call_state_set_holds(&c, &h));
	TEST_EQ_STR(call_status_name(c.status), "in_progress");
	TEST_EQ_INT(c.hold_ms, 700);
	c.status = CALL_COMPLETED;
	h.ms = 900;
	TEST_ASSERT(call_state_set_holds(&c, &h));
	TEST_EQ_STR(call_status_name(c.status), "completed");
out:
	return err;
}

/* Every permutation of the reference sequence yields the reference record
 * once hold accounting comes from call_state_holds() (what the persister does). */
static int test_full_sequence_any_order(void)
{
	int err = 0;
	struct call_state_event base[9];
	size_t idx[7] = { 0, 1, 2, 3, 4, 5, 6 };
	int bad = 0, n = 0;
	happy(base);
	/* Heap's algorithm over the first 7 events (5040 orders); recording
	 * and transcript go last. */
	size_t cnt[7] = { 0 };
	for (size_t i = 0;;) {
		struct call_state c;
		struct call_state_event seen[9];
		size_t ns = 0;
		call_state_init(&c);
		for (size_t k = 0; k < 7; k++) {
			struct call_state_event e = base[idx[k]];
			(void)call_state_apply(&c, &e);
			seen[ns++] = e;
			struct call_state_holds h;
			struct call_state_event tmp[9];
			memcpy(tmp, seen, ns * sizeof(*seen));
			call_state_holds(&h, tmp, ns,
					call_status_is_terminal(c.status) ? c.ended_at : 0);
			(void)call_state_set_holds(&c, &h);
		}
		(void)call_state_apply(&c, &base[7]);
		(void)call_state_apply(&c, &base[8]);
		n++;
		if (check_happy(&c) != 0)
			bad++;
		/* next permutation */
		while (i < 7 && cnt[i] >= i) {
			cnt[i] = 0;
			i++;
		}
		if (i >= 7)
			break;
		size_t j = (i % 2) ? cnt[i] : 0;
		size_t t = idx[j];
		idx[j] = idx[i];
		idx[i] = t;
		cnt[i]++;
		i = 1;
	}
	TEST_EQ_INT(n, 5040);
	TEST_EQ_INT(bad, 0);
out:
	return err;
}

static int test_event_from(void)
{
	int err = 0;
	struct event *e = NULL;
	struct call_state_event le;
	TEST_EQ_INT(event_new(&e, EV_CALL_FAILED, "0b7c7f4e-3c1a-4a53-9a3e-5f2b1c0d9e8f",
			      "call-x", "test/1"), 0);
	TEST_EQ_INT(event_set_str(e, "status", "busy"), 0);
	TEST_EQ_INT(event_set_int(e, "sip_code", 486), 0);
	TEST_EQ_INT(event_set_str(e, "sip_reason", "Busy Here"), 0);
	call_state_event_from(&le, e);
	TEST_EQ_INT(le.type, EV_CALL_FAILED);
	TEST_EQ_INT(le.ts, e->ts_ms);
	TEST_EQ_STR(le.status, "busy");
	TEST_EQ_INT(le.sip_code, 486);
	TEST_EQ_STR(le.sip_reason, "Busy Here");
	TEST_ASSERT(le.path == NULL);
	TEST_ASSERT(call_state_relevant(EV_CALL_HOLD));
	TEST_ASSERT(call_state_relevant(EV_RECORDING_READY));
	TEST_ASSERT(!call_state_relevant(EV_TRANSCRIPT));
	TEST_ASSERT(!call_state_relevant(EV_WEBHOOK_DELIVERED));
out:
	event_free(e);
	return err;
}

static const struct test tests[] = {
	{ "forward_path", test_forward_path },
	{ "duplicates_change_nothing", test_duplicates_change_nothing },
	{ "late_ringing_never_moves_back", test_late_ringing_never_moves_back },
	{ "failure_statuses", test_failure_statuses },
	{ "failed_is_final", test_failed_is_final },
	{ "owner_lost_on_answered_call", test_owner_lost_on_answered_call },
	{ "ended_unanswered", test_ended_unanswered },
	{ "ended_overtakes_answered", test_ended_overtakes_answered },
	{ "hold_rules", test_hold_rules },
	{ "timestamps_earliest", test_timestamps_earliest },
	{ "long_strings_truncated", test_long_strings_truncated },
	{ "holds_any_order", test_holds_any_order },
	{ "set_holds", test_set_holds },
	{ "full_sequence_any_order", test_full_sequence_any_order },
	{ "event_from", test_event_from },
};

TEST_MAIN(tests)
