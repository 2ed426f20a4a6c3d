/*
 * agent-worker internals: the worker (dispatch.c) that takes agents.dispatch
 * and runs one session (session.c) per call, and the small parts a session is
 * made of — what each state does (modes.h: hold, answer gating, the rule
 * table), voice activity and barge-in (bargein.c), the silence watchdog
 * (watchdog.c), fillers (filler.c), outgoing speech (speech.c), transcripts
 * (transcript.c), its inputs (inbox.c), the managed recording retry
 * (recording.c), the provider thread (turn.c) and the realtime provider's
 * adapter (realtime_turn.c).
 *
 * Threads: each session runs on its own thread, which owns all of its state
 * and is the only one that sends audio. NATS handlers and the room backend
 * only enqueue into the session (and raise its hold signal, so that speech
 * stops before the session thread even wakes). Each session has one provider
 * thread for STT → LLM → TTS work, so slow providers never stall the 20 ms
 * audio clock.
 */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent_room.h"
#include "assistant.h"
#include "bus/bus.h"
#include "core/core.h"
#include "modes.h"
#include "provider.h"

/* What a piece of speech is for. SAY_NONE: a transcription job (nothing to say). */
enum say_purpose { SAY_GREETING, SAY_REPLY, SAY_REPROMPT, SAY_FILLER, SAY_END, SAY_NONE };

/* ---- the worker ------------------------------------------------------------ */

struct agent_opts {
	struct bus *bus;                   /* borrowed; outlives the agent */
	struct outbox *outbox;             /* set by agent_new: the sessions' events and
					      hangups, in order, kept while NATS is away */
	const char *source;                /* "agent-worker/<instance>", borrowed */
	const struct room_backend *room;   /* how sessions join rooms */
	void *room_ctx;                    /* the backend's context, borrowed */
	int max_sessions;                  /* MAX_SESSIONS */
	int answer_timeout_ms;             /* ANSWER_TIMEOUT_S, in ms */
	struct provider_env env;           /* borrowed strings */
	int recording_attempts;            /* recordings.start tries [3] */
	int recording_backoff_ms;          /* delay before the 2nd try, doubling [250] */
	int recording_timeout_ms;          /* per request [2000] */
};

struct agent;

/* Subscribes to agents.dispatch in queue group "agent-worker". Caller frees
 * with agent_free(). */
int agent_new(struct agent **agentp, const struct agent_opts *opts) CM_MUST_USE;
/* Sessions that have not ended yet. */
int agent_sessions(struct agent *agent);
/* The state of the newest session of `call_id` not yet reaped; ENOENT when
 * there is none. */
int agent_session_state(struct agent *agent, const char *call_id,
			enum session_state *statep) CM_MUST_USE;
/* Frees the sessions that ended (joins their threads). */
void agent_reap(struct agent *agent);
/* Publishes owners.heartbeat listing the web calls this worker runs. */
void agent_heartbeat(struct agent *agent);
/* Stops taking dispatches, ends every session (reason "shutdown"), frees.
 * NULL-safe; returns NULL. */
struct agent *agent_free(struct agent *agent);

/* ---- sessions ---------------------------------------------------------------- */

struct session;

struct session_params {
	char call_id[ID_UUID_LEN + 1];
	char room[EVENT_ROOM_MAX + 1];
	bool web;              /* kind "web": starts at once */
	bool wait_for_answer;  /* gate on call_answered */
	struct assistant *assistant; /* ownership passes to the session */
};

/* Joins the room, subscribes to calls.<call_id>.>, publishes agent_joined and
 * starts the session thread. On failure the assistant is freed too, and
 * `why` (may be NULL) says in a sentence what failed when the room join did.
 * A web session on a backend that tells of members waits (state
 * waiting_for_answer, up to answer_timeout_ms) for its caller to join, and
 * ends the call when that caller leaves. */
int session_new(struct session **sp, const struct agent_opts *opts, struct session_params *p,
		  char *why, size_t whylen) CM_MUST_USE;
bool session_done(struct session *s);
enum session_state session_state(struct session *s); /* any thread */
const char *session_call_id(const struct session *s);
bool session_web(const struct session *s);
/* Asks the session to end (reason borrowed, copied). */
void session_stop(struct session *s, const char *reason);
/* Joins the session thread and frees. NULL-safe; returns NULL. */
struct session *session_free(struct session *s);

/* ---- the session inbox (inbox.c) ---------------------------------------------- */

struct inbox;
/* At most max_items queued items (a small reserve above that for the
 * pushes that must not be refused) and a ring of ring_frames caller frames.
 * item_free (may be NULL) frees what is still queued at inbox_free. */
int inbox_new(struct inbox **ibp, size_t max_items, size_t ring_frames,
	      void (*item_free)(void *)) CM_MUST_USE;
/* Any thread. Takes ownership of item on 0; ENOSPC when max_items are
 * queued (`must`: only when the reserve is gone too). */
int inbox_push(struct inbox *ib, void *item, bool must) CM_MUST_USE;
/* Any thread: copies one frame (borrowed) into the ring; when it is full
 * the frame is dropped and counted. */
void inbox_put_frame(struct inbox *ib, const int16_t pcm[AGENT_FRAME_SAMPLES]);
/* Session thread: returns when an item or a frame waits, or after timeout_ms. */
void inbox_wait(struct inbox *ib, int timeout_ms);
/* Session thread: copies up to `max` frames out, oldest first; returns how many. */
size_t inbox_take_frames(struct inbox *ib, int16_t (*frames)[AGENT_FRAME_SAMPLES], size_t max);
/* Session thread: hands every queued item to h (which takes ownership);
 * returns how many. */
size_t inbox_drain(struct inbox *ib, mqueue_h *h, void *arg);
/* Caller frames received and dropped (ring full) so far. */
void inbox_counts(struct inbox *ib, uint64_t *frames_in, uint64_t *dropped);
/* Nobody may put any more. NULL-safe; returns NULL. */
struct inbox *inbox_free(struct inbox *ib);

/* ---- voice activity and barge-in (bargein.c) -------------------------------- */

#define VAD_SEGMENT_MAX_MS 15000
/* A word's onset ("wh…") is quieter than the threshold: a turn keeps this
 * much audio from before its first voiced frame. */
#define VAD_LEAD_MS        400

enum vad_result {
	VAD_NONE,
	VAD_BARGE_IN,      /* caller has spoken barge_in_min_ms over the agent */
	VAD_SEGMENT,       /* a caller turn ended: segment holds it */
	VAD_DROPPED,       /* a short sound over the agent ("mm-hmm") or a click */
};

struct vad {
	int threshold, barge_in_min_ms, end_of_speech_ms;
	bool in_speech, barged, over_agent;
	int voiced_ms, silence_ms;
	int64_t started_at; /* wall clock ms of the first voiced frame */
	int16_t *segment;   /* VAD_SEGMENT_MAX_MS of samples */
	size_t nsegment;
	int16_t *lead;      /* the last VAD_LEAD_MS before speech, which a turn begins with */
	size_t nlead;
};

int vad_init(struct vad *v, int threshold, int barge_in_min_ms, int end_of_speech_ms) CM_MUST_USE;
void vad_fini(struct vad *v);
/* Forgets a segment in progress (hold, gating). */
void vad_reset(struct vad *v);
/* One 20 ms frame. `agent_speaking`: the agent's audio is going out now. */
enum vad_result vad_feed(struct vad *v, const int16_t pcm[AGENT_FRAME_SAMPLES], bool agent_speaking,
			 int64_t now_wall_ms);
int32_t vad_rms(const int16_t *pcm, size_t n);

/* ---- silence watchdog (watchdog.c) ------------------------------------------ */

enum watchdog_action { WD_NONE, WD_REPROMPT, WD_GOODBYE };

struct watchdog {
	bool running;
	int64_t quiet_since; /* monotonic ms when the line last went quiet */
	int reprompts;       /* spoken since the caller last spoke */
	int timeout_ms, max_reprompts;
};

void watchdog_init(struct watchdog *w, int timeout_ms, int max_reprompts);
/* Starts (or restarts) counting from now; the reprompt count is kept. */
void watchdog_start(struct watchdog *w, int64_t now);
void watchdog_stop(struct watchdog *w);
/* The caller spoke: reprompts start over. */
void watchdog_caller_spoke(struct watchdog *w, int64_t now);
/* Called often. `quiet`: nobody speaks and nothing is being prepared. */
enum watchdog_action watchdog_tick(struct watchdog *w, int64_t now, bool quiet);

/* ---- fillers (filler.c) ------------------------------------------------------ */

struct filler {
	bool enabled, running;  /* running: between filler_start and filler_stop */
	int after_ms;
	int last;               /* index spoken last, -1 none */
	int n;
	uint32_t rnd;
	bool used_this_turn;
};

/* Not running until filler_start(), like the watchdog. */
void filler_init(struct filler *f, bool enabled, int after_ms, int n, uint32_t seed);
void filler_start(struct filler *f);
void filler_stop(struct filler *f);
/* A new caller turn started waiting for its reply. */
void filler_turn(struct filler *f);
/* Index of the filler to speak now, or -1: only when enabled, running,
 * the reply has been late for after_ms, the agent is silent and this turn
 * had none yet; never the same index twice in a row. */
int filler_due(struct filler *f, int64_t waited_ms, bool agent_speaking);

/* ---- outgoing speech (speech.c) ---------------------------------------------- */

/* Where the speech queue's frames and news go (borrowed; session thread). */
struct speech_out {
	void (*send)(const int16_t frame[AGENT_FRAME_SAMPLES], void *arg);
	void (*speaking)(bool on, void *arg); /* agent_speaking / agent_listening */
	void (*said)(const char *text, void *arg); /* an utterance's first frame goes out */
	const struct hold_signal *hold;       /* checked before every frame */
	void *arg;
};

struct utterance;
struct speech {
	const struct speech_out *out;
	struct utterance *head, *tail;
	bool speaking;
	int64_t next_frame_at;
};

void speech_init(struct speech *sp, const struct speech_out *out);
/* Queues an utterance. pcm ownership passes when `owned` (else borrowed
 * until it is sent or dropped); text (may be NULL) is copied. */
void speech_queue(struct speech *sp, int16_t *pcm, size_t n, bool owned, const char *text,
		  enum say_purpose purpose);
/* Sends the frames that are due at `now` (monotonic ms). */
void speech_pump(struct speech *sp, int64_t now);
/* Drops every queued utterance; the agent falls silent at once. */
void speech_stop(struct speech *sp);
bool speech_speaking(const struct speech *sp);
bool speech_queued(const struct speech *sp);
/* `wake` moved earlier to when the next frame is due. */
int64_t speech_wake(const struct speech *sp, int64_t now, int64_t wake);

/* ---- transcripts (transcript.c) --------------------------------------------- */

/* Both queue on the outbox, for CALLS (the call goes on without them when
 * one cannot be built). */
void transcript_publish(struct outbox *ob, const char *source, const char *call_id,
			const char *room, const char *speaker, const char *text,
			int64_t started_at_ms);
/* An event with no data fields (agent_ready, agent_speaking, …). */
void agent_publish_simple(struct outbox *ob, const char *source, const char *call_id,
			  const char *room, enum event_type type);

/* ---- recording (recording.c) ------------------------------------------------- */

struct recording;
/* Result of the managed retry: started (true) or given up. */
typedef void (recording_done_h)(bool started, void *arg);
/* Starts the retry on its own thread: recordings.start up to `attempts`
 * times, waiting backoff_ms, 2×, 4×… between them; publishes
 * recording_started, or recording_failed {attempt, error} per failed try. */
int recording_new(struct recording **rp, const struct agent_opts *opts, const char *call_id,
		    const char *room, recording_done_h *done, void *arg) CM_MUST_USE;
/* Cancels the remaining tries, joins the thread, stops a recording that
 * started (recordings.stop, so the file is closed and recording_ready
 * published), frees. NULL-safe; returns NULL. */
struct recording *recording_free(struct recording *r);

/* ---- the provider thread (turn.c) -------------------------------------------- */

/* What the provider thread hands back to the session (ownership passes). */
struct turn_out {
	enum { TURN_AUDIO, TURN_TRANSCRIPT, TURN_JOB_DONE, TURN_FILLER,
	       TURN_AGENT_TEXT,  /* realtime: what the agent said */
	       TURN_SPEECH_START /* realtime: the server heard the caller begin */ } kind;
	uint64_t gen;              /* the session generation the job belongs to */
	enum say_purpose purpose;
	char *text;                /* sentence spoken / caller transcript */
	int16_t *pcm;              /* TURN_AUDIO, TURN_FILLER */
	size_t npcm;
	int index;                 /* TURN_FILLER: which filler */
	int64_t started_at;        /* TURN_TRANSCRIPT: wall ms the caller began */
};
typedef void (turn_out_h)(struct turn_out *out, void *arg);

struct turn;
/* Opens the providers on the new thread (reporting failures to the log);
 * synthesises the fillers first. `current_gen` is read to skip stale jobs. */
int turn_new(struct turn **tp, const struct agent_opts *opts, const struct assistant *a,
	       const _Atomic uint64_t *current_gen, turn_out_h *h, void *arg) CM_MUST_USE;
/* Queue work. Texts are borrowed (copied); pcm ownership passes. Each job
 * ends with a TURN_JOB_DONE. */
int turn_transcribe(struct turn *t, uint64_t gen, int16_t *pcm, size_t n,
		    int64_t started_at) CM_MUST_USE;
int turn_reply(struct turn *t, uint64_t gen, const char *user_text) CM_MUST_USE;
int turn_say(struct turn *t, uint64_t gen, enum say_purpose purpose, const char *text) CM_MUST_USE;
/* The opening through the LLM (start_mode "generate"). */
int turn_generate(struct turn *t, uint64_t gen, const char *instruction) CM_MUST_USE;
/* Stops the thread (the job in progress finishes), frees. NULL-safe. */
struct turn *turn_free(struct turn *t);

/* ---- the realtime provider's adapter (realtime_turn.c) ------------------------ */

struct realtime_turn;
/* Opens realtime_openai for assistant `a` (borrowed, outlives it); its
 * results reach `h` as struct turn_out stamped with *current_gen, on the
 * provider's thread. */
int realtime_turn_new(struct realtime_turn **rtp, const struct agent_opts *opts,
		      const struct assistant *a, const char *call_id,
		      const _Atomic uint64_t *current_gen, turn_out_h *h, void *arg) CM_MUST_USE;
/* One caller frame (borrowed); sent in batches of 100 ms. */
void realtime_turn_append(struct realtime_turn *rt, const int16_t frame[AGENT_FRAME_SAMPLES]);
/* Speaks `text` word for word. */
int realtime_turn_say(struct realtime_turn *rt, const char *text) CM_MUST_USE;
/* A response following `instruction`. */
int realtime_turn_respond(struct realtime_turn *rt, const char *instruction) CM_MUST_USE;
/* Cancels the response in progress (`over` NULL), or the one the server's
 * speech_started named (TURN_SPEECH_START's text) if it still plays; true
 * when a response is cancelled. Call it before moving the generation on:
 * audio handed over before it carries the old generation, none of the
 * cancelled response is handed over after it. Batched caller audio stays:
 * a caller who barges in is heard whole. */
bool realtime_turn_cancel(struct realtime_turn *rt, const char *over);
/* Forgets batched caller audio (on hold: what comes after is not the same
 * speech). */
void realtime_turn_drop_audio(struct realtime_turn *rt);
/* Closes the provider. NULL-safe; returns NULL. */
struct realtime_turn *realtime_turn_free(struct realtime_turn *rt);

#endif
