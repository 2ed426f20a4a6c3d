/*
 * modes — what an agent session does in each of its states (DESIGN.md §7),
 * written once: hold mode, answer gating, and the rule table every other
 * part of the session asks ("may I speak?", "does the watchdog run?", "is
 * this caller audio speech?").
 *
 *   state               hears  stt  says         text  wdog  fill  barge  max_duration  call_hold
 *   waiting_for_answer  no     no   anything     no    no    no    no     —             ignored
 *   ready               yes    yes  anything     yes   no    no    no     —             holds
 *   active              yes    yes  anything     yes   yes   yes   yes    say goodbye   holds
 *   on_hold             no     no   nothing      no    no    no    no     end at once   —
 *   ending              no     no   the goodbye  yes   no    no    no     —             —
 *   ended               no     no   nothing      no    no    no    no     —             —
 *   (stt: caller audio transcribed; text: the agent's realtime text published;
 *   wdog: silence watchdog; fill: fillers; barge: server-side barge-in)
 *
 * Threads: the table and the gate are pure (any thread). The hold signal is
 * written by the NATS thread that delivers calls.<id>.> (hold_signal_set)
 * and read by the room thread (caller audio) and the session thread (the
 * sender); the session thread never sets it, it may only clear the one hold
 * it ignores (hold_signal_ignore), which cannot undo a newer event.
 */
#ifndef AGENT_MODES_H
#define AGENT_MODES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum session_state {
	SESSION_WAITING_FOR_ANSWER, SESSION_READY, SESSION_ACTIVE, SESSION_ON_HOLD,
	SESSION_ENDING, SESSION_ENDED,
};

const char *session_state_name(enum session_state st);

/* What the agent may send: provider audio of any purpose, only the goodbye
 * (SAY_END), or nothing. */
enum mode_says { SAYS_ANYTHING, SAYS_GOODBYE_ONLY, SAYS_NOTHING };
/* When max_duration_s runs out: nothing (not counted), say the end-call
 * message and hang up, or hang up at once. */
enum mode_max_duration { MAXDUR_NONE, MAXDUR_SAY_GOODBYE, MAXDUR_END_NOW };
/* What a call_hold does: nothing (no media yet: the early hold signal is
 * cleared), enter on_hold, or nothing at all. */
enum mode_hold { HOLD_NOTHING_TO_HOLD, HOLD_ENTERS, HOLD_IGNORED };

struct session_mode {
	bool hears;           /* caller audio goes to voice detection, barge-in and the provider */
	bool transcribes;     /* caller transcripts are published and answered */
	enum mode_says says;  /* provider audio that is queued for sending */
	bool agent_text;      /* what the realtime agent said is published as a transcript */
	bool watchdog;        /* the silence watchdog runs */
	bool fillers;         /* fillers may be spoken */
	bool server_barge_in; /* the realtime server hearing the caller stops the agent */
	enum mode_max_duration max_duration;
	enum mode_hold on_hold_event;
};

/* The rules of `st` (never NULL; an unknown state gets ended's rules). */
const struct session_mode *mode_of(enum session_state st);
/* May provider audio for `purpose` (enum say_purpose) be queued in `st`? */
bool mode_says(enum session_state st, int purpose);

struct watchdog;
struct filler;
/* Session thread, on every state change: starts or stops the silence
 * watchdog and the fillers as the rules of `to` say. This is where hold and
 * ending stop the watchdog and the fillers, and where resume (or the
 * greeting) restarts the watchdog, counting from `now`. */
void mode_enter(enum session_state from, enum session_state to, struct watchdog *wd,
		struct filler *f, int64_t now);

/* ---- answer gating ------------------------------------------------------------
 * A session waits in waiting_for_answer — nothing sent, caller audio dropped
 * before voice detection — until the call is answered: call_answered for a
 * phone leg dispatched with wait_for_answer, the caller's participant
 * joining for a web call on a backend that tells of members. Otherwise it
 * starts in ready at once. */
bool gate_waits(bool web, bool wait_for_answer, bool wait_for_caller);
/* Does this input open the gate? `call_answered`: that event arrived;
 * `first_caller`: a web call's first caller participant joined. */
bool gate_opens(enum session_state st, bool call_answered, bool first_caller);
/* The end reason when nobody answered within ANSWER_TIMEOUT_S. */
const char *gate_timeout_reason(bool wait_for_caller);

/* ---- hold mode: the early signal -----------------------------------------------
 * call_hold must stop speech within one frame, before the session thread
 * even wakes: the NATS thread raises this signal as it queues the event.
 * One atomic word: a count of hold/resume events << 1 | held. */
struct hold_signal {
	_Atomic uint32_t word;
};

/* NATS thread only (one writer): records call_hold (true) or call_resume;
 * returns the word to pass along with the event. */
uint32_t hold_signal_set(struct hold_signal *h, bool held);
/* Any thread: speech and caller audio stop while this is true. */
bool hold_signal_held(const struct hold_signal *h);
/* Session thread: the hold event carrying `word` found nothing to hold;
 * clears the signal unless a newer event has been recorded since. */
void hold_signal_ignore(struct hold_signal *h, uint32_t word);

#endif
