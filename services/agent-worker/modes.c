/*
 * modes — the rule table of the session states, answer gating and the
 * early hold signal (modes.h has the table as a picture). Owns no thread:
 * the table and the gate are constants and pure functions; the hold signal
 * is one atomic word written by the NATS thread.
 */
#include "agent.h"

static const char *const state_names[] = {
	"waiting_for_answer", "ready", "active", "on_hold", "ending", "ended",
};

const char *session_state_name(enum session_state st)
{
	return (unsigned)st < CM_ARRAY_LEN(state_names) ? state_names[st] : "unknown";
}

static const struct session_mode modes[] = {
	[SESSION_WAITING_FOR_ANSWER] = {
		.says = SAYS_ANYTHING, .on_hold_event = HOLD_NOTHING_TO_HOLD,
	},
	[SESSION_READY] = {
		.hears = true, .transcribes = true, .says = SAYS_ANYTHING, .agent_text = true,
		.on_hold_event = HOLD_ENTERS,
	},
	[SESSION_ACTIVE] = {
		.hears = true, .transcribes = true, .says = SAYS_ANYTHING, .agent_text = true,
		.watchdog = true, .fillers = true, .server_barge_in = true,
		.max_duration = MAXDUR_SAY_GOODBYE, .on_hold_event = HOLD_ENTERS,
	},
	[SESSION_ON_HOLD] = {
		.says = SAYS_NOTHING, .max_duration = MAXDUR_END_NOW, .on_hold_event = HOLD_IGNORED,
	},
	[SESSION_ENDING] = {
		.says = SAYS_GOODBYE_ONLY, .agent_text = true, .on_hold_event = HOLD_IGNORED,
	},
	[SESSION_ENDED] = {
		.says = SAYS_NOTHING, .on_hold_event = HOLD_IGNORED,
	},
};

const struct session_mode *mode_of(enum session_state st)
{
	return (unsigned)st < CM_ARRAY_LEN(modes) ? &modes[st] : &modes[SESSION_ENDED];
}

bool mode_says(enum session_state st, int purpose)
{
	switch (mode_of(st)->says) {
	case SAYS_ANYTHING:
		return true;
	case SAYS_GOODBYE_ONLY:
		return purpose == SAY_END;
	case SAYS_NOTHING:
		break;
	}
	return false;
}

void mode_enter(enum session_state from, enum session_state to, struct watchdog *wd,
		struct filler *f, int64_t now)
{
	const struct session_mode *was = mode_of(from), *is = mode_of(to);
	if (is->watchdog && !was->watchdog)
		watchdog_start(wd, now);
	else if (!is->watchdog)
		watchdog_stop(wd);
	if (is->fillers && !was->fillers)
		filler_start(f);
	else if (!is->fillers)
		filler_stop(f);
}

/* ---- answer gating ---------------------------------------------------------- */

bool gate_waits(bool web, bool wait_for_answer, bool wait_for_caller)
{
	/* a web call has no leg to answer: only its caller's arrival gates it */
	return (wait_for_answer && !web) || wait_for_caller;
}

bool gate_opens(enum session_state st, bool call_answered, bool first_caller)
{
	return st == SESSION_WAITING_FOR_ANSWER && (call_answered || first_caller);
}

const char *gate_timeout_reason(bool wait_for_caller)
{
	return wait_for_caller ? "no_participant" : "no_answer";
}

/* ---- the early hold signal -------------------------------------------------- */

uint32_t hold_signal_set(struct hold_signal *h, bool held)
{
	/* one writer: a plain load and store cannot lose an update */
	uint32_t w = atomic_load(&h->word);
	uint32_t next = (((w >> 1) + 1) << 1) | (held ? 1u : 0u);
	atomic_store(&h->word, next);
	return next;
}

bool hold_signal_held(const struct hold_signal *h)
{
	return atomic_load(&h->word) & 1u;
}

void hold_signal_ignore(struct hold_signal *h, uint32_t word)
{
	uint32_t expect = word;
	if (word & 1u) /* fails, leaving the newer word, when another event came since */
		atomic_compare_exchange_strong(&h->word, &expect, word & ~1u);
}
