/*
 * One agent session (DESIGN.md §7): waiting_for_answer → ready → active ⇄
 * on_hold → ending → ended — the state machine and its inputs. What each
 * state lets the agent hear, say and run is not decided here but asked of
 * the rule table in modes.c; outgoing speech is speech.c, the realtime
 * provider's side realtime_turn.c.
 *
 * Threads: the session thread (session_thread) owns every field below
 * "session thread only" and is the only sender of audio. NATS, room and
 * provider threads only push into its inbox (inbox.c: items and the
 * caller-audio ring); the NATS thread also raises the hold signal (modes.h)
 * as it queues a call_hold, so at most the frame being sent at that instant
 * leaves after the hold.
 */
#include "agent.h"
#include "command/command.h"
#include "outbox/outbox.h"
#include "room/room.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUDIO_RING_FRAMES 512   /* ~10 s of caller audio waiting for the session */
#define INBOX_MAX         1024
#define IDLE_TICK_MS      10
#define ENDING_MAX_MS     15000 /* the goodbye may take this long at most */
#define REASON_MAX        64

enum inbox_kind { IN_EVENT, IN_TURN, IN_RECORDING, IN_STOP, IN_MEMBER, IN_ROOM_LOST, IN_HANGUP };

struct inbox_item {
	enum inbox_kind kind;
	enum event_type type;
	char reason[REASON_MAX];
	struct turn_out *out;
	bool started;
	bool joined;                        /* IN_MEMBER */
	char identity[ROOM_IDENTITY_MAX + 1]; /* IN_MEMBER */
	char why[160];                      /* IN_ROOM_LOST */
	uint32_t hold_word;                 /* IN_EVENT call_hold: the hold signal it raised */
};

struct session {
	const struct agent_opts *opts;
	struct session_params p;
	char identity[ID_UUID_LEN + 16];
	pthread_t thread;

	/* shared with NATS, room and provider threads */
	struct inbox *inbox;      /* struct inbox_item and caller frames (inbox.c) */
	struct hold_signal hold;  /* raised/lowered by the NATS thread; see modes.h */
	atomic_bool done;
	atomic_int pub_state; /* the state, for other threads */
	_Atomic uint64_t gen;

	struct agent_room *room;
	struct bus_sub *sub;
	struct bus_sub *hangup_sub;   /* web calls: cmd.calls.<id>.hangup is ours to carry out */
	struct turn *turn;            /* pipeline mode */
	struct realtime_turn *rt;     /* realtime mode */
	struct recording *rec;

	/* session thread only */
	int64_t last_audio_ms;  /* when the last caller frame was handled (monotonic) */
	enum session_state state, held_from;
	char end_reason[REASON_MAX];
	char caller[ROOM_IDENTITY_MAX + 1]; /* web: the participant the agent talks to */
	bool wait_for_caller;               /* web: the backend tells when the caller joins */
	int64_t answer_deadline, started_at, greet_deadline, ending_deadline;
	bool recording_done;
	struct speech speech;
	struct speech_out speech_out;
	bool turn_pending;
	uint64_t turn_gen;
	int64_t turn_since;
	int jobs_pending;      /* say/reply/generate jobs not done yet */
	bool end_say_pending;
	uint64_t end_gen;
	struct vad vad;
	struct watchdog wd;
	struct filler filler;
	int16_t *filler_pcm[ASSISTANT_LIST_MAX];
	size_t filler_n[ASSISTANT_LIST_MAX];
	char *filler_text[ASSISTANT_LIST_MAX];
};

/* ---- inputs (any thread) ---------------------------------------------------- */

static void inbox_item_free(void *p)
{
	struct inbox_item *it = p;
	if (it->out) {
		free(it->out->text);
		free(it->out->pcm);
		free(it->out);
	}
	free(it);
}

/* A stop is never refused for a full inbox. */
static void post(struct session *s, struct inbox_item *it)
{
	if (inbox_push(s->inbox, it, it->kind == IN_STOP) == 0)
		return;
	log_warn("session_inbox_full", "call %s: input dropped", s->p.call_id);
	inbox_item_free(it);
}

/* Web calls: every event of the call reaches the browser as a data packet on
 * topic "call_events", the event's JSON unchanged (the one path; README). The
 * room is joined before this subscription exists and left after it is gone. */
static void forward_to_room(struct session *s, const struct bus_msg *msg)
{
	if (!s->p.web || !s->opts->room->send_data || msg->len <= 0)
		return;
	int err = s->opts->room->send_data(s->room, "call_events", (const uint8_t *)msg->data,
					   (size_t)msg->len);
	if (err && err != ENOTSUP)
		log_debug("call_event_data", "call %s: %s", s->p.call_id, cm_strerror(err));
}

static void on_call_event(const struct bus_msg *msg, void *arg)
{
	struct session *s = arg;
	struct event *ev = NULL;
	if (event_decode(&ev, msg->data, (size_t)msg->len, NULL, 0) != 0)
		return;
	forward_to_room(s, msg);
	uint32_t hold_word = 0;
	switch (ev->type) {
	case EV_CALL_HOLD: case EV_CALL_RESUME:
		/* speech stops now, not when the session wakes */
		hold_word = hold_signal_set(&s->hold, ev->type == EV_CALL_HOLD);
		break;
	case EV_CALL_ANSWERED: case EV_CALL_ENDED: case EV_CALL_FAILED:
		break;
	default:
		event_free(ev);
		return;
	}
	struct inbox_item *it = calloc(1, sizeof(*it));
	if (it) {
		it->kind = IN_EVENT;
		it->type = ev->type;
		it->hold_word = hold_word;
		const char *reason =
			event_get_str(ev, ev->type == EV_CALL_FAILED ? "status" : "reason");
		snprintf(it->reason, sizeof(it->reason), "%s", reason ? reason : "remote");
		post(s, it);
	}
	event_free(ev);
}

/* cmd.calls.<id>.hangup of a web call (POST /calls/{id}/hangup): the agent
 * owns that call, so it ends it. */
static void on_hangup(const struct bus_msg *msg, void *arg)
{
	struct session *s = arg;
	struct inbox_item *it = calloc(1, sizeof(*it));
	if (!it)
		return;
	it->kind = IN_HANGUP;
	snprintf(it->reason, sizeof(it->reason), "hangup");
	cJSON *j = msg->len > 0 && msg->len < 4096
			   ? cJSON_ParseWithLength(msg->data, (size_t)msg->len)
			   : NULL;
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "reason");
	if (cJSON_IsString(r) && r->valuestring[0])
		snprintf(it->reason, sizeof(it->reason), "%s", r->valuestring);
	cJSON_Delete(j);
	post(s, it);
}

static void on_room_member(const char *identity, bool joined, void *arg)
{
	struct session *s = arg;
	if (!identity || strncmp(identity, "agent-", 6) == 0)
		return; /* other agents are not callers */
	struct inbox_item *it = calloc(1, sizeof(*it));
	if (!it)
		return;
	it->kind = IN_MEMBER;
	it->joined = joined;
	snprintf(it->identity, sizeof(it->identity), "%s", identity);
	post(s, it);
}

static void on_room_closed(int err, const char *reason, void *arg)
{
	struct session *s = arg;
	struct inbox_item *it = calloc(1, sizeof(*it));
	if (!it)
		return;
	it->kind = IN_ROOM_LOST;
	snprintf(it->why, sizeof(it->why), "%s", reason && *reason ? reason : cm_strerror(err));
	post(s, it);
}

static void on_room_frame(const int16_t pcm[AGENT_FRAME_SAMPLES], void *arg)
{
	struct session *s = arg;
	if (hold_signal_held(&s->hold))
		return; /* caller audio during hold is not kept, not even queued */
	inbox_put_frame(s->inbox, pcm);
}

static const struct agent_room_handlers room_handlers = {
	.frame = on_room_frame, .member = on_room_member, .closed = on_room_closed,
};

static void on_turn_out(struct turn_out *out, void *arg)
{
	struct session *s = arg;
	struct inbox_item *it = calloc(1, sizeof(*it));
	if (!it) {
		free(out->text);
		free(out->pcm);
		free(out);
		return;
	}
	it->kind = IN_TURN;
	it->out = out;
	post(s, it);
}

static void on_recording_done(bool started, void *arg)
{
	struct session *s = arg;
	struct inbox_item *it = calloc(1, sizeof(*it));
	if (!it)
		return;
	it->kind = IN_RECORDING;
	it->started = started;
	post(s, it);
}

void session_stop(struct session *s, const char *reason)
{
	struct inbox_item *it = calloc(1, sizeof(*it));
	if (!it)
		return;
	it->kind = IN_STOP;
	snprintf(it->reason, sizeof(it->reason), "%s", reason);
	post(s, it);
}

/* ---- speech out ------------------------------------------------------------- */

static void publish(struct session *s, enum event_type type)
{
	agent_publish_simple(s->opts->outbox, s->opts->source, s->p.call_id, s->p.room, type);
}

/* The speech queue's outlets (speech.c calls them on the session thread). */
static void speech_send(const int16_t frame[AGENT_FRAME_SAMPLES], void *arg)
{
	struct session *s = arg;
	int err = s->opts->room->send_frame(s->room, frame);
	if (err)
		log_warn("room_send", "call %s: %s", s->p.call_id, cm_strerror(err));
}

static void speech_speaking_changed(bool on, void *arg)
{
	publish(arg, on ? EV_AGENT_SPEAKING : EV_AGENT_LISTENING);
}

static void speech_said(const char *text, void *arg)
{
	struct session *s = arg;
	transcript_publish(s->opts->outbox, s->opts->source, s->p.call_id, s->p.room, "agent", text,
			   time_now_ms());
}

/* ---- what the agent says: pipeline or realtime ------------------------------ */

static int say(struct session *s, uint64_t gen, enum say_purpose purpose, const char *text)
{
	if (s->turn)
		return turn_say(s->turn, gen, purpose, text);
	return s->rt ? realtime_turn_say(s->rt, text) : EIO;
}

/* Realtime: cancels the response on the server (`over` as
 * realtime_turn_cancel). Called before the generation moves on, so no audio
 * of that response carries the new one. */
static bool cancel_response(struct session *s, const char *over)
{
	return s->rt && realtime_turn_cancel(s->rt, over);
}

/* ---- state changes ------------------------------------------------------------ */

static void hangup(struct session *s, const char *reason)
{
	char subject[CMD_SUBJECT_MAX], *body = NULL;
	int err = cmd_hangup_subject(subject, sizeof(subject), s->p.call_id);
	if (err) {
		log_warn("hangup_publish", "call %s: %s", s->p.call_id, cm_strerror(err));
		return;
	}
	cJSON *j = cJSON_CreateObject();
	if (j && cJSON_AddNumberToObject(j, "v", 1) &&
	    cJSON_AddStringToObject(j, "reason", reason) && (body = cJSON_PrintUnformatted(j))) {
		outbox_raw(s->opts->outbox, subject, body, strlen(body)); /* after our events */
	}
	cJSON_Delete(j);
	free(body);
}

/* Every state change goes through here, and with it the watchdog and the
 * fillers start or stop as the new state's rules say (mode_enter). */
static void set_state(struct session *s, enum session_state st, int64_t now)
{
	if (s->state == st)
		return;
	log_info("session_state", "call %s: %s -> %s", s->p.call_id, session_state_name(s->state),
		 session_state_name(st));
	mode_enter(s->state, st, &s->wd, &s->filler, now);
	s->state = st;
	atomic_store(&s->pub_state, (int)st);
}

/* The end of a call the agent owns (a web call: no SIP leg, nobody else
 * tells of its end) or that it cannot carry on (its room was lost):
 * call_ended / call_failed with the reason, once. */
static void publish_end(struct session *s, enum event_type type, const char *reason, const char *by)
{
	struct event *ev = NULL;
	int64_t ms = s->started_at ? time_mono_ms() - s->started_at : 0;
	int err = event_new(&ev, type, s->p.call_id, s->p.room, s->opts->source);
	if (!err)
		err = event_set_str(ev, "reason", reason);
	if (!err && type == EV_CALL_ENDED) {
		if (!(err = event_set_str(ev, "by", by)))
			err = event_set_int(ev, "duration_ms", ms > 0 ? ms : 0);
	} else if (!err) {
		err = event_set_str(ev, "status", "failed");
	}
	if (!err) {
		outbox_event(s->opts->outbox, ev);
		return;
	}
	log_warn("call_end_publish", "call %s: %s", s->p.call_id, cm_strerror(err));
	event_free(ev);
}

static void end_now(struct session *s, const char *reason, bool send_hangup)
{
	atomic_fetch_add(&s->gen, 1);
	speech_stop(&s->speech);
	if (send_hangup && s->p.web)
		publish_end(s, EV_CALL_ENDED, reason, "agent"); /* no leg owner to ask */
	else if (send_hangup)
		hangup(s, reason);
	if (reason != s->end_reason) /* an ending session ends with its own reason */
		snprintf(s->end_reason, sizeof(s->end_reason), "%s", reason);
	log_info("session_end", "call %s: reason %s", s->p.call_id, s->end_reason);
	set_state(s, SESSION_ENDED, time_mono_ms());
}

/* Says `message`, then hangs up with `reason`. */
static void begin_ending(struct session *s, const char *reason, const char *message)
{
	cancel_response(s, NULL);
	uint64_t g = atomic_fetch_add(&s->gen, 1) + 1;
	speech_stop(&s->speech);
	s->turn_pending = false;
	snprintf(s->end_reason, sizeof(s->end_reason), "%s", reason);
	s->end_gen = g;
	s->end_say_pending = message && message[0] && say(s, g, SAY_END, message) == 0;
	if (s->end_say_pending)
		s->jobs_pending++;
	int64_t now = time_mono_ms();
	s->ending_deadline = now + ENDING_MAX_MS;
	set_state(s, SESSION_ENDING, now);
}

static void enter_ready(struct session *s, int64_t now)
{
	set_state(s, SESSION_READY, now);
	s->started_at = now;
	if (s->p.web)
		publish(s, EV_CALL_ANSWERED); /* the agent owns a web call: its caller is here */
	publish(s, EV_AGENT_READY);
	s->greet_deadline = now + s->p.assistant->recording_wait_ms;
	s->recording_done = true;
	if (s->p.assistant->recording) {
		if (recording_new(&s->rec, s->opts, s->p.call_id, s->p.room, on_recording_done,
				  s) == 0)
			s->recording_done = false;
		else
			log_warn("recording_start", "call %s: cannot start the retry thread",
				 s->p.call_id);
	}
}

static void deliver_greeting(struct session *s, int64_t now)
{
	const struct assistant *a = s->p.assistant;
	uint64_t g = atomic_load(&s->gen);
	if (a->speaks_first && a->start_instruction[0]) {
		int err;
		if (!a->start_generate)
			err = say(s, g, SAY_GREETING, a->start_instruction);
		else if (s->turn)
			err = turn_generate(s->turn, g, a->start_instruction);
		else
			err = s->rt ? realtime_turn_respond(s->rt, a->start_instruction) : EIO;
		if (err)
			log_warn("greeting", "call %s: %s", s->p.call_id, cm_strerror(err));
		else
			s->jobs_pending++;
	}
	set_state(s, SESSION_ACTIVE, now); /* the watchdog starts (modes.c) */
}

/* call_hold as modes.c rules it; what the agent then does or does not do
 * on hold (hear, say, watchdog, fillers) is that table's on_hold row. */
static void enter_hold(struct session *s, uint32_t hold_word, int64_t now)
{
	switch (mode_of(s->state)->on_hold_event) {
	case HOLD_NOTHING_TO_HOLD:
		hold_signal_ignore(&s->hold, hold_word); /* no media yet */
		return;
	case HOLD_IGNORED:
		return;
	case HOLD_ENTERS:
		break;
	}
	cancel_response(s, NULL);
	if (s->rt)
		realtime_turn_drop_audio(s->rt);
	atomic_fetch_add(&s->gen, 1); /* replies in the making are not spoken */
	speech_stop(&s->speech);
	vad_reset(&s->vad);
	s->turn_pending = false;
	s->held_from = s->state;
	set_state(s, SESSION_ON_HOLD, now);
}

/* call_resume: back to the state the hold interrupted (the NATS thread has
 * already lowered the hold signal; the watchdog restarts from zero). */
static void leave_hold(struct session *s, int64_t now)
{
	if (s->state != SESSION_ON_HOLD)
		return;
	vad_reset(&s->vad);
	set_state(s, s->held_from, now);
}

/* ---- inputs on the session thread ------------------------------------------- */

static void handle_event(struct session *s, const struct inbox_item *it, int64_t now)
{
	switch (it->type) {
	case EV_CALL_ANSWERED:
		if (gate_opens(s->state, true, false))
			enter_ready(s, now);
		break;
	case EV_CALL_HOLD:
		enter_hold(s, it->hold_word, now);
		break;
	case EV_CALL_RESUME:
		leave_hold(s, now);
		break;
	case EV_CALL_ENDED: case EV_CALL_FAILED:
		end_now(s, it->reason, false);
		break;
	default:
		break;
	}
}

/* Web calls: the session starts when its caller joins and the call ends when
 * that caller leaves. Other sessions only log who comes and goes (the leg's
 * owner tells of a phone caller's end). */
static void handle_member(struct session *s, const struct inbox_item *it, int64_t now)
{
	log_info(it->joined ? "participant_joined" : "participant_left", "call %s: %s",
		 s->p.call_id, it->identity);
	if (!s->p.web)
		return;
	if (it->joined && !s->caller[0]) {
		snprintf(s->caller, sizeof(s->caller), "%s", it->identity);
		if (gate_opens(s->state, false, true))
			enter_ready(s, now);
	} else if (!it->joined && strcmp(it->identity, s->caller) == 0) {
		publish_end(s, EV_CALL_ENDED, "remote_hangup", "remote");
		end_now(s, "remote_hangup", false);
	}
}

static void handle_transcript(struct session *s, struct turn_out *o)
{
	bool current = o->gen == atomic_load(&s->gen) && mode_of(s->state)->transcribes;
	if (!current || !o->text || !o->text[0]) {
		if (o->gen == s->turn_gen)
			s->turn_pending = false;
		return;
	}
	/* what a caller says is theirs: in the record, in logs only at debug */
	log_debug("caller_said", "call %s: \"%s\"", s->p.call_id, o->text);
	transcript_publish(s->opts->outbox, s->opts->source, s->p.call_id, s->p.room, "user",
			   o->text, o->started_at);
	const struct assistant *a = s->p.assistant;
	for (int i = 0; i < a->nend_call_phrases; i++) {
		if (provider_phrase_in(o->text, a->end_call_phrases[i])) {
			begin_ending(s, "end_call_phrase", a->end_call_message);
			return;
		}
	}
	if (!s->turn)
		return; /* realtime: the server answers by itself */
	if (turn_reply(s->turn, o->gen, o->text))
		s->turn_pending = false;
	else
		s->jobs_pending++;
}

static void handle_turn(struct session *s, struct turn_out *o)
{
	switch (o->kind) {
	case TURN_FILLER:
		if (o->index >= 0 && o->index < ASSISTANT_LIST_MAX && !s->filler_pcm[o->index]) {
			s->filler_pcm[o->index] = o->pcm;
			s->filler_n[o->index] = o->npcm;
			s->filler_text[o->index] = o->text;
			o->pcm = NULL;
			o->text = NULL;
		}
		break;
	case TURN_TRANSCRIPT:
		handle_transcript(s, o);
		break;
	case TURN_AUDIO:
		if (o->gen != atomic_load(&s->gen) || !mode_says(s->state, (int)o->purpose))
			break;
		if (o->purpose == SAY_REPLY && o->gen == s->turn_gen)
			s->turn_pending = false;
		speech_queue(&s->speech, o->pcm, o->npcm, true, o->text, o->purpose);
		o->pcm = NULL;
		break;
	case TURN_AGENT_TEXT:
		/* not a line of a response cancelled before it was handed over */
		if (o->gen == atomic_load(&s->gen) && mode_of(s->state)->agent_text)
			transcript_publish(s->opts->outbox, s->opts->source, s->p.call_id,
					   s->p.room, "agent", o->text, o->started_at);
		break;
	case TURN_SPEECH_START:
		if (speech_speaking(&s->speech) && mode_of(s->state)->server_barge_in) {
			log_info("barge_in", "call %s: the server heard the caller", s->p.call_id);
			/* The generation moves on only when the response spoken over
			 * still ran: once it had ended, the server's answer may already
			 * wait behind this in the inbox, in the same generation. */
			if (cancel_response(s, o->text ? o->text : ""))
				atomic_fetch_add(&s->gen, 1);
			speech_stop(&s->speech);
		}
		break;
	case TURN_JOB_DONE:
		if (o->purpose != SAY_NONE && s->jobs_pending > 0)
			s->jobs_pending--;
		if (s->state == SESSION_ENDING && o->gen == s->end_gen)
			s->end_say_pending = false;
		break;
	}
	free(o->text);
	free(o->pcm);
	free(o);
}

static void handle_audio(struct session *s, const int16_t *frame, int64_t now)
{
	if (!mode_of(s->state)->hears)
		return; /* gating, hold, ending: caller audio is not speech */
	if (s->rt)
		realtime_turn_append(s->rt, frame);
	switch (vad_feed(&s->vad, frame, speech_speaking(&s->speech), time_now_ms())) {
	case VAD_BARGE_IN:
		log_info("barge_in", "call %s", s->p.call_id);
		cancel_response(s, NULL);
		atomic_fetch_add(&s->gen, 1);
		speech_stop(&s->speech);
		s->turn_pending = false;
		break;
	case VAD_SEGMENT: {
		log_debug("caller_speech", "call %s: %zu ms segment", s->p.call_id,
			  s->vad.nsegment * 1000 / AGENT_RATE);
		if (!s->turn) {
			watchdog_caller_spoke(&s->wd, now);
			break;
		}
		int16_t *pcm = malloc(s->vad.nsegment * sizeof(int16_t));
		if (!pcm)
			break;
		memcpy(pcm, s->vad.segment, s->vad.nsegment * sizeof(int16_t));
		watchdog_caller_spoke(&s->wd, now);
		uint64_t g = atomic_load(&s->gen);
		if (turn_transcribe(s->turn, g, pcm, s->vad.nsegment, s->vad.started_at) == 0) {
			s->turn_pending = true;
			s->turn_gen = g;
			s->turn_since = now;
			filler_turn(&s->filler);
		}
		break;
	}
	case VAD_NONE: case VAD_DROPPED:
		break;
	}
}

/* ---- timers ------------------------------------------------------------------ */

/* The timers the rule table turns on (modes.c): max_duration, fillers and
 * the silence watchdog. */
static void mode_timers(struct session *s, int64_t now)
{
	const struct assistant *a = s->p.assistant;
	const struct session_mode *m = mode_of(s->state);
	if (m->max_duration != MAXDUR_NONE && now - s->started_at >= a->max_duration_ms) {
		if (m->max_duration == MAXDUR_SAY_GOODBYE)
			begin_ending(s, "max_duration", a->end_call_message);
		else
			end_now(s, "max_duration", true);
		return;
	}
	bool busy = speech_speaking(&s->speech) || speech_queued(&s->speech);
	if (m->fillers && s->turn_pending) {
		int i = filler_due(&s->filler, now - s->turn_since, busy);
		if (i >= 0 && s->filler_pcm[i]) {
			speech_queue(&s->speech, s->filler_pcm[i], s->filler_n[i], false,
				     s->filler_text[i], SAY_FILLER);
			busy = true;
		}
	}
	if (!m->watchdog)
		return;
	bool quiet = !busy && !s->turn_pending && !s->jobs_pending && !s->vad.in_speech;
	switch (watchdog_tick(&s->wd, now, quiet)) {
	case WD_REPROMPT:
		if (say(s, atomic_load(&s->gen), SAY_REPROMPT, a->reprompt_message) == 0)
			s->jobs_pending++;
		break;
	case WD_GOODBYE:
		begin_ending(s, "silence_timeout", a->goodbye_message);
		break;
	case WD_NONE:
		break;
	}
}

static void timers(struct session *s, int64_t now)
{
	switch (s->state) {
	case SESSION_WAITING_FOR_ANSWER:
		if (now >= s->answer_deadline)
			end_now(s, gate_timeout_reason(s->wait_for_caller), true);
		break;
	case SESSION_READY:
		if (s->recording_done || now >= s->greet_deadline)
			deliver_greeting(s, now);
		break;
	case SESSION_ENDING:
		if ((!s->end_say_pending && !speech_queued(&s->speech)) ||
		    now >= s->ending_deadline)
			end_now(s, s->end_reason, true);
		break;
	case SESSION_ACTIVE: case SESSION_ON_HOLD: case SESSION_ENDED:
		mode_timers(s, now);
		break;
	}
}

/* A caller stream can simply stop — WebRTC's DTX, a far end that played
 * its sentence and sends nothing more — and then no silent frames arrive to
 * end the utterance. While speech is open, each 20 ms without a frame counts
 * as a silent one, so the end of speech still comes on time. */
static void fill_silence(struct session *s, int64_t now)
{
	static const int16_t silence[AGENT_FRAME_SAMPLES];
	for (int i = 0; s->vad.in_speech && i < 8 && now - s->last_audio_ms >= 3 * AGENT_FRAME_MS;
	     i++) {
		s->last_audio_ms += AGENT_FRAME_MS;
		handle_audio(s, silence, now);
	}
}

/* ---- the thread ---------------------------------------------------------------- */

static void wait_for_work(struct session *s, int64_t now)
{
	int64_t wake = speech_wake(&s->speech, now, now + IDLE_TICK_MS);
	inbox_wait(s->inbox, (int)(wake - now));
}

static void drain_audio(struct session *s)
{
	int16_t frames[32][AGENT_FRAME_SAMPLES];
	for (int guard = 0; guard < AUDIO_RING_FRAMES / 32 + 1; guard++) {
		size_t n = inbox_take_frames(s->inbox, frames, 32);
		for (size_t i = 0; i < n; i++)
			handle_audio(s, frames[i], time_mono_ms());
		if (n)
			s->last_audio_ms = time_mono_ms();
		if (n < 32)
			break;
	}
}

static void handle_item(void *item, void *arg)
{
	struct session *s = arg;
	struct inbox_item *it = item;
	int64_t now = time_mono_ms();
	if (s->state == SESSION_ENDED) {
		inbox_item_free(it); /* what came after the end is dropped */
		return;
	}
	if (it->kind == IN_EVENT) {
			handle_event(s, it, now);
	} else if (it->kind == IN_TURN) {
		handle_turn(s, it->out);
		it->out = NULL; /* handle_turn freed it */
	} else if (it->kind == IN_RECORDING) {
		s->recording_done = true;
	} else if (it->kind == IN_STOP) {
		end_now(s, it->reason, false);
	} else if (it->kind == IN_HANGUP) {
		publish_end(s, EV_CALL_ENDED, it->reason, "local");
		end_now(s, it->reason, false);
	} else if (it->kind == IN_MEMBER) {
		handle_member(s, it, now);
	} else if (it->kind == IN_ROOM_LOST) {
		char reason[REASON_MAX + 160];
		snprintf(reason, sizeof(reason), "room_lost: %s", it->why);
		log_warn("room_lost", "call %s: %s", s->p.call_id, it->why);
		publish_end(s, EV_CALL_FAILED, reason, NULL);
		end_now(s, "room_lost",
			!s->p.web); /* a phone leg is hung up; a web call just ended */
	}
	inbox_item_free(it);
}

/* Caller audio first: what is in the ring arrived before the events now in
 * the inbox were handled (audio arriving during hold is not queued at all). */
static void drain_inputs(struct session *s)
{
	drain_audio(s);
	inbox_drain(s->inbox, handle_item, s);
}

static void *session_thread(void *arg)
{
	struct session *s = arg;
	int64_t now = time_mono_ms();
	if (gate_waits(s->p.web, s->p.wait_for_answer, s->wait_for_caller)) {
		set_state(s, SESSION_WAITING_FOR_ANSWER, now);
		s->answer_deadline = now + s->opts->answer_timeout_ms;
	} else {
		enter_ready(s, now);
	}
	while (s->state != SESSION_ENDED) {
		wait_for_work(s, time_mono_ms());
		drain_inputs(s);
		if (s->state == SESSION_ENDED)
			break;
		now = time_mono_ms();
		fill_silence(s, now);
		timers(s, now);
		if (s->state != SESSION_ENDED)
			speech_pump(&s->speech, time_mono_ms());
	}
	uint64_t frames_in, dropped;
	inbox_counts(s->inbox, &frames_in, &dropped);
	log_info("session_audio", "call %s: %llu caller frames received, %llu dropped",
		 s->p.call_id, (unsigned long long)frames_in, (unsigned long long)dropped);
	s->sub = bus_unsubscribe(s->sub);
	s->hangup_sub = bus_unsubscribe(s->hangup_sub);
	s->rec = recording_free(s->rec);
	s->turn = turn_free(s->turn);
	s->rt = realtime_turn_free(s->rt);
	s->opts->room->leave(s->room);
	s->room = NULL;
	speech_stop(&s->speech);
	atomic_store(&s->done, true);
	return NULL;
}

/* ---- life cycle ------------------------------------------------------------------ */

static void session_release(struct session *s)
{
	s->inbox = inbox_free(s->inbox);
	for (int i = 0; i < ASSISTANT_LIST_MAX; i++) {
		free(s->filler_pcm[i]);
		free(s->filler_text[i]);
	}
	vad_fini(&s->vad);
	assistant_free(s->p.assistant);
	free(s);
}

int session_new(struct session **sp, const struct agent_opts *opts, struct session_params *p,
		  char *why, size_t whylen)
{
	int err = ENOMEM;
	char subject[EVENT_SUBJECT_MAX], cmd_subject[CMD_SUBJECT_MAX];
	struct event *ev = NULL;
	struct session *s = calloc(1, sizeof(*s));
	if (!s) {
		assistant_free(p->assistant);
		return ENOMEM;
	}
	s->opts = opts;
	s->state = SESSION_ENDED; /* until the thread enters the first state */
	atomic_store(&s->pub_state, (int)SESSION_READY);
	s->p = *p;
	p->assistant = NULL;
	const struct assistant *a = s->p.assistant;
	snprintf(s->identity, sizeof(s->identity), "agent-%s", s->p.call_id);
	s->speech_out = (struct speech_out){ speech_send, speech_speaking_changed, speech_said,
					     &s->hold, s };
	speech_init(&s->speech, &s->speech_out);
	watchdog_init(&s->wd, a->silence_timeout_ms, a->max_reprompts);
	filler_init(&s->filler, a->fillers_enabled, a->filler_after_ms, a->nfillers,
		    (uint32_t)time_mono_us());
	if ((err = inbox_new(&s->inbox, INBOX_MAX, AUDIO_RING_FRAMES, inbox_item_free)) ||
	    (err = vad_init(&s->vad, a->vad_threshold, a->barge_in_min_ms, a->end_of_speech_ms)))
		goto fail;
	s->wait_for_caller = s->p.web && opts->room->members && opts->room->members(opts->room_ctx);
	if ((err = opts->room->join(&s->room, opts->room_ctx, s->p.room, s->identity,
				    &room_handlers, s, why, whylen))) {
		log_error("room_join", "call %s: %s: %s", s->p.call_id, opts->room->name,
			  why && *why ? why : cm_strerror(err));
		goto fail;
	}
	snprintf(subject, sizeof(subject), "calls.%s.>", s->p.call_id);
	if ((err = bus_subscribe(opts->bus, &s->sub, subject, NULL, on_call_event, s)))
		goto fail;
	if (s->p.web &&
	    ((err = cmd_hangup_subject(cmd_subject, sizeof(cmd_subject), s->p.call_id)) ||
	     (err = bus_subscribe(opts->bus, &s->hangup_sub, cmd_subject, NULL, on_hangup, s))))
		goto fail;
	if (a->realtime) {
		if ((err = realtime_turn_new(&s->rt, opts, a, s->p.call_id, &s->gen, on_turn_out,
					     s)))
			goto fail;
	} else if ((err = turn_new(&s->turn, opts, a, &s->gen, on_turn_out, s))) {
		goto fail;
	}
	if (event_new(&ev, EV_AGENT_JOINED, s->p.call_id, s->p.room, opts->source) == 0 &&
	    event_set_str(ev, "identity", s->identity) == 0) {
		outbox_event(opts->outbox, ev);
		ev = NULL;
	}
	ev = event_free(ev);
	if ((err = pthread_create(&s->thread, NULL, session_thread, s)))
		goto fail;
	log_info("session_start", "call %s room %s kind %s", s->p.call_id, s->p.room,
		 s->p.web ? "web" : "outbound");
	*sp = s;
	return 0;
fail:
	s->sub = bus_unsubscribe(s->sub);
	s->hangup_sub = bus_unsubscribe(s->hangup_sub);
	s->turn = turn_free(s->turn);
	s->rt = realtime_turn_free(s->rt);
	if (s->room)
		opts->room->leave(s->room);
	session_release(s);
	return err;
}

enum session_state session_state(struct session *s)
{
	return (enum session_state)atomic_load(&s->pub_state);
}

bool session_done(struct session *s)
{
	return atomic_load(&s->done);
}

const char *session_call_id(const struct session *s)
{
	return s->p.call_id;
}

bool session_web(const struct session *s)
{
	return s->p.web;
}

struct session *session_free(struct session *s)
{
	if (!s)
		return NULL;
	if (!atomic_load(&s->done))
		session_stop(s, "shutdown");
	pthread_join(s->thread, NULL);
	session_release(s);
	return NULL;
}
