/*
 * The agent session on a real nats-server: a dispatch request on
 * agents.dispatch, call events published as the sip-bridge publishes them,
 * recordings.start served by a stand-in room-manager, and the session's audio
 * observed frame by frame (with send times) through the recording room
 * backend. Local providers throughout: espeak-ng speaks, pocketsphinx hears.
 */
#include "agent-worker/agent.h"
#include "harness/test.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MS   15000
#define CAPS_MAX  1024

struct cap {
	enum event_type type;
	int64_t t_us;          /* time_mono_us() when the test saw it */
	char speaker[8];
	char text[256];
	char reason[96];
	char by[16];
	int64_t attempt;
	bool has_started_at;
};

struct h {
	struct test_nats nats;
	struct bus *bus, *tbus;
	struct room_record_hub *hub;
	struct agent *agent;
	struct agent_opts opts;
	struct bus_sub *ev_sub, *hangup_sub, *rec_sub, *rec_stop_sub;
	atomic_int rec_stops;
	char rec_stop_body[512];
	pthread_mutex_t mu;
	struct cap caps[CAPS_MAX];
	int ncaps;
	char hangup_reason[64];
	atomic_int hangups;
	atomic_int rec_requests;
	int rec_fail_first;     /* the first N recordings.start fail */
	bool rec_silent;        /* never answer recordings.start */
	char call_id[ID_UUID_LEN + 1];
	char room[64];
	char dispatch_reply[1024];
	int16_t *speech;        /* "what are your hours" + 800 ms of silence */
	size_t nspeech;
	void *tts;
	struct assistant *tts_assistant;
};

static void on_event(const struct bus_msg *msg, void *arg)
{
	struct h *h = arg;
	struct event *ev = NULL;
	char why[160];
	if (event_decode(&ev, msg->data, (size_t)msg->len, why, sizeof(why)) != 0) {
		fprintf(stderr, "# invalid event on %s: %s\n", msg->subject, why);
		struct cap bad = { .type = EV_TYPE_COUNT };
		pthread_mutex_lock(&h->mu);
		if (h->ncaps < CAPS_MAX)
			h->caps[h->ncaps++] = bad;
		pthread_mutex_unlock(&h->mu);
		return;
	}
	struct cap c = { .type = ev->type, .t_us = time_mono_us() };
	const char *sp = event_get_str(ev, "speaker");
	const char *tx = event_get_str(ev, "text");
	snprintf(c.speaker, sizeof(c.speaker), "%s", sp ? sp : "");
	snprintf(c.text, sizeof(c.text), "%s", tx ? tx : "");
	const char *rs = event_get_str(ev, "reason"), *by = event_get_str(ev, "by");
	snprintf(c.reason, sizeof(c.reason), "%s", rs ? rs : "");
	snprintf(c.by, sizeof(c.by), "%s", by ? by : "");
	if (event_get_int(&c.attempt, ev, "attempt"))
		c.attempt = 0;
	c.has_started_at = event_get_str(ev, "started_at") != NULL;
	pthread_mutex_lock(&h->mu);
	if (h->ncaps < CAPS_MAX)
		h->caps[h->ncaps++] = c;
	pthread_mutex_unlock(&h->mu);
	event_free(ev);
}

static void on_hangup(const struct bus_msg *msg, void *arg)
{
	struct h *h = arg;
	cJSON *j = cJSON_ParseWithLength(msg->data, (size_t)msg->len);
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "reason");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "v");
	pthread_mutex_lock(&h->mu);
	snprintf(h->hangup_reason, sizeof(h->hangup_reason), "%s",
		 cJSON_IsString(r) && cJSON_IsNumber(v) && v->valueint == 1 ? r->valuestring
									    : "(malformed)");
	pthread_mutex_unlock(&h->mu);
	atomic_fetch_add(&h->hangups, 1);
	cJSON_Delete(j);
}

static void on_recordings_start(const struct bus_msg *msg, void *arg)
{
	struct h *h = arg;
	int n = atomic_fetch_add(&h->rec_requests, 1) + 1;
	const char *body;
	if (h->rec_silent)
		return;
	if (n <= h->rec_fail_first)
		body = "{\"ok\":false,\"error\":{\"code\":\"upstream_error\",\"message\":\"egress "
		       "busy\"}}";
	else
		body = "{\"ok\":true,\"data\":{\"recording_id\":\"rec-1\",\"path\":\"var/"
		       "recordings/rec-1.ogg\"}}";
	if (bus_respond(h->tbus, msg, body, strlen(body)))
		fprintf(stderr, "# cannot answer recordings.start\n");
}

static void on_recordings_stop(const struct bus_msg *msg, void *arg)
{
	struct h *h = arg;
	static const char body[] = "{\"ok\":true,\"data\":{}}";
	pthread_mutex_lock(&h->mu);
	snprintf(h->rec_stop_body, sizeof(h->rec_stop_body), "%.*s", msg->len, msg->data);
	pthread_mutex_unlock(&h->mu);
	atomic_fetch_add(&h->rec_stops, 1);
	if (bus_respond(h->tbus, msg, body, sizeof(body) - 1))
		fprintf(stderr, "# cannot answer recordings.stop\n");
}

/* ---- set-up ------------------------------------------------------------- */

struct setup {
	int answer_timeout_ms;
	int max_sessions;
	int rec_fail_first;
	bool rec_silent;
	int recording_timeout_ms;
};

static int h_start(struct h *h, const struct setup *su)
{
	char why[160];
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	h->rec_fail_first = su->rec_fail_first;
	h->rec_silent = su->rec_silent;
	if (test_nats_start(&h->nats) || bus_connect(&h->bus, h->nats.url, "agent") ||
	    bus_connect(&h->tbus, h->nats.url, "bridge") || bus_ensure_streams(h->bus) ||
	    room_record_hub_new(&h->hub))
		return 1;
	if (bus_subscribe(h->tbus, &h->ev_sub, "calls.>", NULL, on_event, h) ||
	    bus_subscribe(h->tbus, &h->hangup_sub, "cmd.calls.*.hangup", NULL, on_hangup, h) ||
	    bus_subscribe(h->tbus, &h->rec_sub, "recordings.start", "room-manager",
			  on_recordings_start, h) ||
	    bus_subscribe(h->tbus, &h->rec_stop_sub, "recordings.stop", "room-manager",
			  on_recordings_stop, h))
		return 1;
	h->opts = (struct agent_opts){
		.bus = h->bus,
		.source = "agent-worker/test",
		.room = &room_record_backend,
		.room_ctx = h->hub,
		.max_sessions = su->max_sessions ? su->max_sessions : 4,
		.answer_timeout_ms = su->answer_timeout_ms ? su->answer_timeout_ms : 10000,
		.env = { "http://127.0.0.1:9", NULL, true },
		.recording_attempts = 3,
		.recording_backoff_ms = 50,
		.recording_timeout_ms = su->recording_timeout_ms ? su->recording_timeout_ms : 1000,
	};
	if (agent_new(&h->agent, &h->opts))
		return 1;
	if (id_uuid4(h->call_id))
		return 1;
	snprintf(h->room, sizeof(h->room), "call-%s", h->call_id);
	/* The caller's line, spoken by espeak-ng, then 800 ms of silence. */
	cJSON *empty = cJSON_CreateObject();
	struct provider_env env = { "http://127.0.0.1:9", NULL, true };
	if (assistant_parse(&h->tts_assistant, empty, why, sizeof(why)))
		return 1;
	cJSON_Delete(empty);
	struct provider_args pa = { h->tts_assistant->tts_config, h->tts_assistant, &env };
	int16_t *pcm = NULL;
	size_t n = 0;
	if (tts_local.new(&h->tts, &pa) || tts_local.synth(h->tts, &pcm, &n, "what are your hours"))
		return 1;
	h->nspeech = n + AGENT_RATE * 8 / 10;
	h->speech = calloc(h->nspeech, sizeof(int16_t));
	if (!h->speech)
		return 1;
	memcpy(h->speech, pcm, n * sizeof(int16_t));
	free(pcm);
	return 0;
}

static void h_stop(struct h *h)
{
	h->agent = agent_free(h->agent);
	h->ev_sub = bus_unsubscribe(h->ev_sub);
	h->hangup_sub = bus_unsubscribe(h->hangup_sub);
	h->rec_sub = bus_unsubscribe(h->rec_sub);
	h->rec_stop_sub = bus_unsubscribe(h->rec_stop_sub);
	h->bus = bus_close(h->bus);
	h->tbus = bus_close(h->tbus);
	h->hub = room_record_hub_free(h->hub);
	test_nats_destroy(&h->nats);
	if (h->tts)
		tts_local.free(h->tts);
	assistant_free(h->tts_assistant);
	free(h->speech);
	pthread_mutex_destroy(&h->mu);
}

/* Frames of 20 ms the local TTS makes of `text` (what a full utterance costs). */
static size_t tts_frames(struct h *h, const char *text)
{
	int16_t *pcm = NULL;
	size_t n = 0;
	if (tts_local.synth(h->tts, &pcm, &n, text))
		return 0;
	free(pcm);
	return (n + AGENT_FRAME_SAMPLES - 1) / AGENT_FRAME_SAMPLES;
}

/* espeak-ng's output for the same text varies by a few ms between runs:
 * "the whole utterance went out" is a frame count within 3 frames of it. */
#define TEST_NEAR_FRAMES(got, want)                                                               \
	do {                                                                                      \
		long long g_ = (long long)(got), w_ = (long long)(want);                          \
		if (w_ <= 0 || g_ < w_ - 3 || g_ > w_ + 3) {                                      \
			test_failed(__FILE__, __LINE__, "%s ~ %s: %lld vs %lld", #got, #want, g_, \
				    w_);                                                          \
			err = 1;                                                                  \
			goto out;                                                                 \
		}                                                                                 \
	} while (0)

/* agents.dispatch with `assistant` (JSON object text). */
static int dispatch(struct h *h, const char *kind, bool wait, const char *assistant)
{
	char *body = NULL, *reply = NULL;
	size_t len = 0;
	int err = 0;
	if (asprintf(&body,
		     "{\"v\":1,\"call_id\":\"%s\",\"room\":\"%s\",\"kind\":\"%s\",\"provider\":%s,"
		     "\"wait_for_answer\":%s,\"assistant\":%s,\"metadata\":{}}",
		     h->call_id, h->room, kind, strcmp(kind, "web") == 0 ? "null" : "\"exotel\"",
		     wait ? "true" : "false", assistant) < 0)
		return ENOMEM;
	err = bus_request(h->tbus, &reply, &len, "agents.dispatch", body, strlen(body), 5000);
	if (!err)
		snprintf(h->dispatch_reply, sizeof(h->dispatch_reply), "%s", reply);
	free(body);
	free(reply);
	return err;
}

static int publish(struct h *h, enum event_type type)
{
	struct event *ev = NULL;
	int err = event_new(&ev, type, h->call_id, h->room, "sip-bridge/test");
	if (!err && type == EV_CALL_HOLD)
		err = event_set_str(ev, "direction", "sendonly");
	if (!err && type == EV_CALL_RESUME)
		err = event_set_str(ev, "direction", "sendrecv");
	if (!err && type == EV_CALL_ENDED) {
		if (!(err = event_set_str(ev, "reason", "hangup")) &&
		    !(err = event_set_str(ev, "by", "remote")))
			err = event_set_int(ev, "duration_ms", 1000);
	}
	if (!err)
		err = bus_publish_event(h->tbus, ev);
	event_free(ev);
	return err;
}

/* Events of `type` (and, when given, `speaker`) seen so far. */
static int count(struct h *h, enum event_type type, const char *speaker)
{
	int n = 0;
	pthread_mutex_lock(&h->mu);
	for (int i = 0; i < h->ncaps; i++)
		if (h->caps[i].type == type &&
		    (!speaker || strcmp(h->caps[i].speaker, speaker) == 0))
			n++;
	pthread_mutex_unlock(&h->mu);
	return n;
}

static bool wait_count(struct h *h, enum event_type type, const char *speaker, int n,
		       int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	while (count(h, type, speaker) < n) {
		if (time_mono_ms() > end)
			return false;
		test_nap_ms(2);
	}
	return true;
}

/* The i-th (0-based) event of type/speaker; false when there is none. */
static bool nth(struct h *h, enum event_type type, const char *speaker, int i, struct cap *out)
{
	bool found = false;
	pthread_mutex_lock(&h->mu);
	for (int k = 0; k < h->ncaps; k++) {
		if (h->caps[k].type == type &&
		    (!speaker || strcmp(h->caps[k].speaker, speaker) == 0) && i-- == 0) {
			*out = h->caps[k];
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&h->mu);
	return found;
}

static bool wait_frames(struct h *h, size_t n, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	while (room_record_count(h->hub, h->room) < n) {
		if (time_mono_ms() > end)
			return false;
		test_nap_ms(2);
	}
	return true;
}

/* Frames sent after t_us. */
static size_t frames_after(struct h *h, int64_t t_us)
{
	static struct room_record_frame f[ROOM_RECORD_PCM_MAX];
	size_t n = room_record_frames(h->hub, h->room, 0, f, CM_ARRAY_LEN(f)), k = 0;
	for (size_t i = 0; i < n; i++)
		if (f[i].t_us > t_us)
			k++;
	return k;
}

static bool wait_state(struct h *h, enum session_state want, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	for (;;) {
		enum session_state st;
		if (agent_session_state(h->agent, h->call_id, &st) == 0 && st == want)
			return true;
		if (time_mono_ms() > end)
			return false;
		test_nap_ms(2);
	}
}

static bool wait_hangup(struct h *h, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	while (atomic_load(&h->hangups) == 0) {
		if (time_mono_ms() > end)
			return false;
		test_nap_ms(2);
	}
	return true;
}

/* The reason of the last hangup command, read under the lock: the bus
 * thread writes it in place should another come. */
static const char *hangup_reason(struct h *h, char *out, size_t size)
{
	pthread_mutex_lock(&h->mu);
	snprintf(out, size, "%s", h->hangup_reason);
	pthread_mutex_unlock(&h->mu);
	return out;
}

/* A web call the agent ends itself: call_ended by agent (no hangup command:
 * a web call has no leg owner to ask). *ended gets the event. */
static bool wait_agent_ended(struct h *h, struct cap *ended, int timeout_ms)
{
	return wait_count(h, EV_CALL_ENDED, NULL, 1, timeout_ms) &&
	       nth(h, EV_CALL_ENDED, NULL, 0, ended) && strcmp(ended->by, "agent") == 0 &&
	       atomic_load(&h->hangups) == 0;
}

static bool wait_no_sessions(struct h *h, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	while (agent_sessions(h->agent) > 0) {
		if (time_mono_ms() > end)
			return false;
		test_nap_ms(2);
	}
	return true;
}

static int inject_speech(struct h *h)
{
	return room_record_inject(h->hub, h->room, h->speech, h->nspeech);
}

/* Nothing of `type` arrives for `ms` (how absence is shown: a bounded
 * window after the cause, not a sleep standing in for a condition). */
static bool none_for(struct h *h, enum event_type type, const char *speaker, int ms)
{
	int before = count(h, type, speaker);
	int64_t end = time_mono_ms() + ms;
	while (time_mono_ms() < end) {
		if (count(h, type, speaker) != before)
			return false;
		test_nap_ms(5);
	}
	return true;
}

#define GREETING "Hello Ada, this is the clinic."
#define LONG_GREETING "Hello Ada, this is the clinic calling about your appointment next week. " \
	"We wanted to confirm the time and the address with you, and tell you what to bring along."
#define SCRIPT "\"llm_config\":{\"provider\":\"local\",\"script\":[{\"match\":\"hours\"," \
	"\"reply\":\"We are open nine to five.\"}]}"

/* ---- the tests ------------------------------------------------------------ */

/* Dispatch → agent_joined (waiting_for_answer) → call_answered → ready
 * (agent_ready, recording) → active (greeting) ⇄ on_hold → call_ended → ended. */
static int test_states_and_events(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(dispatch(&h, "outbound", true,
			     "{\"id\":\"a1\",\"start_instruction\":\"" GREETING "\"," SCRIPT "}"),
		    0);
	TEST_CONTAINS(h.dispatch_reply, "\"ok\":true");
	TEST_CONTAINS(h.dispatch_reply, "\"worker\":\"agent-worker/test\"");
	TEST_ASSERT(wait_count(&h, EV_AGENT_JOINED, NULL, 1, WAIT_MS));
	TEST_ASSERT(wait_state(&h, SESSION_WAITING_FOR_ANSWER, WAIT_MS));
	TEST_EQ_INT(room_record_joins(h.hub, h.room), 1);
	TEST_EQ_INT(publish(&h, EV_CALL_ANSWERED), 0);
	TEST_ASSERT(wait_count(&h, EV_AGENT_READY, NULL, 1, WAIT_MS));
	TEST_ASSERT(wait_count(&h, EV_RECORDING_STARTED, NULL, 1, WAIT_MS));
	TEST_ASSERT(wait_state(&h, SESSION_ACTIVE, WAIT_MS));
	TEST_ASSERT(wait_count(&h, EV_AGENT_SPEAKING, NULL, 1, WAIT_MS));
	TEST_ASSERT(wait_count(&h, EV_TRANSCRIPT, "agent", 1, WAIT_MS));
	struct cap c;
	TEST_ASSERT(nth(&h, EV_TRANSCRIPT, "agent", 0, &c));
	TEST_EQ_STR(c.text, GREETING);
	TEST_ASSERT(c.has_started_at);
	TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 1, WAIT_MS));
	TEST_NEAR_FRAMES(room_record_count(h.hub, h.room), tts_frames(&h, GREETING));
	TEST_EQ_INT(publish(&h, EV_CALL_HOLD), 0);
	TEST_ASSERT(wait_state(&h, SESSION_ON_HOLD, WAIT_MS));
	TEST_EQ_INT(publish(&h, EV_CALL_RESUME), 0);
	TEST_ASSERT(wait_state(&h, SESSION_ACTIVE, WAIT_MS));
	TEST_EQ_INT(publish(&h, EV_CALL_ENDED), 0);
	TEST_ASSERT(wait_no_sessions(&h, WAIT_MS));
	TEST_EQ_INT(room_record_leaves(h.hub, h.room), 1);
	TEST_EQ_INT(atomic_load(&h.hangups), 0); /* the far end hung up: nothing to hang up */
	TEST_EQ_INT(count(&h, EV_TYPE_COUNT, NULL), 0); /* every event valid */
out:
	h_stop(&h);
	return err;
}

/* Before call_answered: not a frame out, and caller audio (ringback, early
 * media — here real speech) is not treated as speech. */
static int test_gating_until_answered(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(dispatch(&h, "outbound", true,
			     "{\"start_instruction\":\"" GREETING "\"," SCRIPT "}"),
		    0);
	TEST_ASSERT(wait_state(&h, SESSION_WAITING_FOR_ANSWER, WAIT_MS));
	/* early media right before the answer: were it taken for speech, its
	 * transcript and reply would come after the answer */
	TEST_EQ_INT(inject_speech(&h), 0);
	TEST_ASSERT(none_for(&h, EV_AGENT_SPEAKING, NULL, 100));
	TEST_EQ_INT(room_record_count(h.hub, h.room), 0);
	TEST_EQ_INT(count(&h, EV_AGENT_READY, NULL), 0);
	int64_t answered = time_mono_us();
	TEST_EQ_INT(publish(&h, EV_CALL_ANSWERED), 0);
	TEST_ASSERT(wait_frames(&h, 1, WAIT_MS));
	struct room_record_frame f;
	TEST_EQ_INT(room_record_frames(h.hub, h.room, 0, &f, 1), 1);
	TEST_ASSERT(f.t_us > answered);
	TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 1, WAIT_MS));
	/* only the greeting was said; the early-media speech got no reply */
	TEST_ASSERT(none_for(&h, EV_TRANSCRIPT, NULL, 1500));
	TEST_EQ_INT(count(&h, EV_TRANSCRIPT, "user"), 0);
	TEST_EQ_INT(count(&h, EV_TRANSCRIPT, "agent"), 1);
out:
	h_stop(&h);
	return err;
}

/* The caller's stream stops right after the words (DTX, a far end playing
 * a file): no silent frames follow, yet the utterance ends and is heard. */
static int test_speech_heard_when_stream_stops(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(dispatch(&h, "web", false,
			     "{\"start_instruction\":\"" GREETING "\"," SCRIPT "}"),
		    0);
	TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 1, WAIT_MS));
	TEST_EQ_INT(room_record_inject(h.hub, h.room, h.speech, h.nspeech - AGENT_RATE * 8 / 10),
		    0);
	TEST_ASSERT(wait_count(&h, EV_TRANSCRIPT, "user", 1, WAIT_MS));
	struct cap c;
	TEST_ASSERT(nth(&h, EV_TRANSCRIPT, "user", 0, &c));
	TEST_CONTAINS(c.text, "hours");
out:
	h_stop(&h);
	return err;
}

/* No answer within the timeout: hang up (cmd.calls.<id>.hangup) and end. */
static int test_answer_timeout_hangs_up(void)
{
	int err = 0;
	struct h h;
	struct setup su = { .answer_timeout_ms = 700 };
	char why[sizeof(h.hangup_reason)];
	TEST_EQ_INT(h_start(&h, &su), 0);
	int64_t t0 = time_mono_ms();
	TEST_EQ_INT(dispatch(&h, "outbound", true, "{\"start_instruction\":\"" GREETING "\"}"), 0);
	TEST_ASSERT(wait_hangup(&h, WAIT_MS));
	TEST_ASSERT(time_mono_ms() - t0 >= 700);
	TEST_EQ_STR(hangup_reason(&h, why, sizeof(why)), "no_answer");
	TEST_ASSERT(wait_no_sessions(&h, WAIT_MS));
	TEST_EQ_INT(room_record_leaves(h.hub, h.room), 1);
	TEST_EQ_INT(room_record_count(h.hub, h.room), 0);
	TEST_EQ_INT(count(&h, EV_AGENT_READY, NULL), 0);
out:
	h_stop(&h);
	return err;
}

/* A web call starts at once: nobody else tells of its answer, so the agent
 * publishes call_answered itself (the record then says in_progress). */
static int test_web_call_starts_at_once(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(dispatch(&h, "web", false, "{\"start_instruction\":\"" GREETING "\"}"), 0);
	TEST_ASSERT(wait_count(&h, EV_AGENT_READY, NULL, 1, WAIT_MS));
	TEST_EQ_INT(count(&h, EV_CALL_ANSWERED, NULL), 1);
	TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 1, WAIT_MS));
	TEST_NEAR_FRAMES(room_record_count(h.hub, h.room), tts_frames(&h, GREETING));
out:
	h_stop(&h);
	return err;
}

/* On a backend that tells of members a web agent waits for its caller:
 * silent until a non-agent participant joins, greets it, and ends the call
 * (call_ended, by remote) when that caller leaves. */
static int test_web_call_waits_for_its_caller(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	struct cap ended;
	char caller[80];
	TEST_EQ_INT(h_start(&h, &su), 0);
	room_record_hub_members(h.hub, true);
	TEST_EQ_INT(dispatch(&h, "web", false, "{\"start_instruction\":\"" GREETING "\"}"), 0);
	TEST_ASSERT(wait_state(&h, SESSION_WAITING_FOR_ANSWER, WAIT_MS));
	TEST_EQ_INT(room_record_member(h.hub, h.room, "agent-someone-else", true), 0);
	TEST_ASSERT(none_for(&h, EV_AGENT_READY, NULL, 400));
	TEST_EQ_INT(count(&h, EV_CALL_ANSWERED, NULL), 0);
	TEST_EQ_INT(room_record_count(h.hub, h.room), 0);
	snprintf(caller, sizeof(caller), "web-%s", h.call_id);
	TEST_EQ_INT(room_record_member(h.hub, h.room, caller, true), 0);
	TEST_ASSERT(wait_count(&h, EV_AGENT_READY, NULL, 1, WAIT_MS));
	TEST_EQ_INT(count(&h, EV_CALL_ANSWERED, NULL), 1);
	TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 1, WAIT_MS));
	TEST_NEAR_FRAMES(room_record_count(h.hub, h.room), tts_frames(&h, GREETING));
	TEST_EQ_INT(room_record_member(h.hub, h.room, "agent-someone-else", false), 0);
	TEST_ASSERT(none_for(&h, EV_CALL_ENDED, NULL, 300));
	TEST_EQ_INT(room_record_member(h.hub, h.room, caller, false), 0);
	TEST_ASSERT(wait_count(&h, EV_CALL_ENDED, NULL, 1, WAIT_MS));
	TEST_ASSERT(nth(&h, EV_CALL_ENDED, NULL, 0, &ended));
	TEST_EQ_STR(ended.reason, "remote_hangup");
	TEST_EQ_STR(ended.by, "remote");
	TEST_ASSERT(wait_no_sessions(&h, WAIT_MS));
	TEST_EQ_INT(atomic_load(&h.hangups), 0);
out:
	h_stop(&h);
	return err;
}

/* POST /calls/{id}/hangup of a web call reaches the agent as
 * cmd.calls.<id>.hangup: it ends the call itself (call_ended, by local). */
static int test_web_call_hangup_command(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	struct cap ended;
	char subject[96];
	static const char body[] = "{\"v\":1,\"reason\":\"api_hangup\"}";
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(dispatch(&h, "web", false, "{\"start_instruction\":\"" GREETING "\"}"), 0);
	TEST_ASSERT(wait_count(&h, EV_AGENT_READY, NULL, 1, WAIT_MS));
	snprintf(subject, sizeof(subject), "cmd.calls.%s.hangup", h.call_id);
	TEST_EQ_INT(bus_publish(h.tbus, subject, body, sizeof(body) - 1), 0);
	TEST_ASSERT(wait_count(&h, EV_CALL_ENDED, NULL, 1, WAIT_MS));
	TEST_ASSERT(nth(&h, EV_CALL_ENDED, NULL, 0, &ended));
	TEST_EQ_STR(ended.reason, "api_hangup");
	TEST_EQ_STR(ended.by, "local");
	TEST_ASSERT(wait_no_sessions(&h, WAIT_MS));
	TEST_EQ_INT(atomic_load(&h.hangups), 1); /* only the test's own command */
out:
	h_stop(&h);
	return err;
}

/* A web caller that never joins: the agent gives up after the answer timeout
 * and ends the call itself (call_ended by agent, reason no_participant). */
static int test_web_caller_never_joins(void)
{
	int err = 0;
	struct h h;
	struct setup su = { .answer_timeout_ms = 600 };
	struct cap ended;
	TEST_EQ_INT(h_start(&h, &su), 0);
	room_record_hub_members(h.hub, true);
	TEST_EQ_INT(dispatch(&h, "web", false, "{\"start_instruction\":\"" GREETING "\"}"), 0);
	TEST_ASSERT(wait_count(&h, EV_CALL_ENDED, NULL, 1, WAIT_MS));
	TEST_ASSERT(nth(&h, EV_CALL_ENDED, NULL, 0, &ended));
	TEST_EQ_STR(ended.reason, "no_participant");
	TEST_EQ_STR(ended.by, "agent");
	TEST_EQ_INT(count(&h, EV_AGENT_READY, NULL), 0);
	TEST_EQ_INT(room_record_count(h.hub, h.room), 0);
	TEST_EQ_INT(atomic_load(&h.hangups), 0); /* a web call has no leg to hang up */
out:
	h_stop(&h);
	return err;
}

/* The room is lost mid-call (LiveKit gone): the call fails with a reason
 * naming the cause, the leg is hung up, the session ends. */
static int test_room_lost_fails_the_call(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	struct cap failed;
	char why[sizeof(h.hangup_reason)];
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(dispatch(&h, "outbound", true, "{\"start_instruction\":\"" GREETING "\"}"), 0);
	TEST_EQ_INT(publish(&h, EV_CALL_ANSWERED), 0);
	TEST_ASSERT(wait_count(&h, EV_AGENT_READY, NULL, 1, WAIT_MS));
	TEST_EQ_INT(room_record_close(h.hub, h.room, ECONNRESET,
				      "the LiveKit server closed the connection"),
		    0);
	TEST_ASSERT(wait_count(&h, EV_CALL_FAILED, NULL, 1, WAIT_MS));
	TEST_ASSERT(nth(&h, EV_CALL_FAILED, NULL, 0, &failed));
	TEST_EQ_STR(failed.reason, "room_lost: the LiveKit server closed the connection");
	TEST_ASSERT(wait_hangup(&h, WAIT_MS));
	TEST_EQ_STR(hangup_reason(&h, why, sizeof(why)), "room_lost");
	TEST_ASSERT(wait_no_sessions(&h, WAIT_MS));
out:
	h_stop(&h);
	return err;
}

/* recordings.start fails once, then works: recording_failed {attempt:1},
 * recording_started, greeting. */
static int test_recording_retry(void)
{
	int err = 0;
	struct h h;
	struct setup su = { .rec_fail_first = 1 };
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(dispatch(&h, "web", false, "{\"start_instruction\":\"" GREETING "\"}"), 0);
	TEST_ASSERT(wait_count(&h, EV_RECORDING_STARTED, NULL, 1, WAIT_MS));
	TEST_EQ_INT(count(&h, EV_RECORDING_FAILED, NULL), 1);
	struct cap c;
	TEST_ASSERT(nth(&h, EV_RECORDING_FAILED, NULL, 0, &c));
	TEST_EQ_INT(c.attempt, 1);
	TEST_EQ_INT(atomic_load(&h.rec_requests), 2);
	TEST_ASSERT(wait_count(&h, EV_TRANSCRIPT, "agent", 1, WAIT_MS));
out:
	h_stop(&h);
	return err;
}

/* The session's end stops the recording it started (recordings.stop with
 * its recording_id), so the file is closed and recording_ready follows. */
static int test_recording_stopped_at_end(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(dispatch(&h, "web", false, "{\"start_instruction\":\"" GREETING "\"}"), 0);
	TEST_ASSERT(wait_count(&h, EV_RECORDING_STARTED, NULL, 1, WAIT_MS));
	TEST_EQ_INT(atomic_load(&h.rec_stops), 0);
	TEST_EQ_INT(publish(&h, EV_CALL_ENDED), 0);
	TEST_ASSERT(wait_no_sessions(&h, WAIT_MS));
	TEST_EQ_INT(atomic_load(&h.rec_stops), 1);
	pthread_mutex_lock(&h.mu);
	bool has_id = strstr(h.rec_stop_body, "\"recording_id\":\"rec-1\"") != NULL &&
		      strstr(h.rec_stop_body, h.call_id) != NULL;
	pthread_mutex_unlock(&h.mu);
	TEST_ASSERT(has_id);
out:
	h_stop(&h);
	return err;
}

/* recordings.start never answers: the greeting still comes after the
 * bounded wait, and the tries go on to their limit. */
static int test_recording_does_not_delay_greeting(void)
{
	int err = 0;
	struct h h;
	struct setup su = { .rec_silent = true, .recording_timeout_ms = 1500 };
	TEST_EQ_INT(h_start(&h, &su), 0);
	int64_t t0 = time_mono_us();
	TEST_EQ_INT(dispatch(&h, "web", false, "{\"start_instruction\":\"" GREETING "\","
			     "\"interaction_config\":{\"recording_wait_ms\":300}}"), 0);
	TEST_ASSERT(wait_frames(&h, 1, WAIT_MS));
	struct room_record_frame f;
	TEST_EQ_INT(room_record_frames(h.hub, h.room, 0, &f, 1), 1);
	/* after the 300 ms wait, long before the first try times out */
	TEST_ASSERT(f.t_us - t0 >= 300000);
	TEST_ASSERT(f.t_us - t0 < 1400000);
	TEST_EQ_INT(count(&h, EV_RECORDING_FAILED, NULL), 0);
	TEST_ASSERT(wait_count(&h, EV_RECORDING_FAILED, NULL, 3, WAIT_MS));
	struct cap c;
	for (int i = 0; i < 3; i++) {
		TEST_ASSERT(nth(&h, EV_RECORDING_FAILED, NULL, i, &c));
		TEST_EQ_INT(c.attempt, i + 1);
	}
	TEST_ASSERT(none_for(&h, EV_RECORDING_FAILED, NULL, 500)); /* bounded: no 4th */
	TEST_EQ_INT(count(&h, EV_RECORDING_STARTED, NULL), 0);
out:
	h_stop(&h);
	return err;
}

/* Hold: speech stops within one frame, no reprompt however long (3 × the
 * silence timeout), no filler, caller audio yields no transcript, the call
 * stays up; resume restores the watchdog and transcripts. */
static int test_hold_and_resume(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(
		dispatch(&h, "outbound", true,
			 "{\"start_instruction\":\"" LONG_GREETING "\","
			 "\"interaction_config\":{\"silence_timeout_s\":0.4,\"max_reprompts\":2,"
			 "\"reprompt_message\":\"Are you still "
			 "there?\",\"filler_after_ms\":100}," SCRIPT "}"),
		0);
	TEST_ASSERT(wait_state(&h, SESSION_WAITING_FOR_ANSWER, WAIT_MS));
	TEST_EQ_INT(publish(&h, EV_CALL_ANSWERED), 0);
	TEST_ASSERT(wait_frames(&h, 25, WAIT_MS)); /* half a second into the greeting */
	int64_t before = time_mono_us();
	TEST_EQ_INT(publish(&h, EV_CALL_HOLD), 0);
	int64_t published = time_mono_us();
	TEST_ASSERT(wait_state(&h, SESSION_ON_HOLD, WAIT_MS));
	/* at most the frame on the wire when the hold came, and nothing 20 ms after */
	TEST_ASSERT(frames_after(&h, before) <= 1);
	TEST_EQ_INT(frames_after(&h, published + 20000), 0);
	size_t at_hold = room_record_count(h.hub, h.room);
	TEST_ASSERT(at_hold < tts_frames(&h, LONG_GREETING));
	TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 1, WAIT_MS));
	/* 3 × the silence timeout and more: no reprompt, no hangup */
	TEST_ASSERT(none_for(&h, EV_TRANSCRIPT, NULL, 1600));
	TEST_EQ_INT(room_record_count(h.hub, h.room), at_hold);
	TEST_EQ_INT(atomic_load(&h.hangups), 0);
	enum session_state st;
	TEST_EQ_INT(agent_session_state(h.agent, h.call_id, &st), 0);
	TEST_EQ_INT(st, SESSION_ON_HOLD);
	/* caller audio at the end of the hold: were it processed, its
	 * transcript (and reply) would arrive after the resume below */
	TEST_EQ_INT(inject_speech(&h), 0);
	/* resume: the watchdog runs again */
	TEST_EQ_INT(publish(&h, EV_CALL_RESUME), 0);
	TEST_ASSERT(wait_count(&h, EV_TRANSCRIPT, "agent", 2, WAIT_MS));
	struct cap c;
	TEST_ASSERT(nth(&h, EV_TRANSCRIPT, "agent", 1, &c));
	TEST_EQ_STR(c.text, "Are you still there?");
	TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 2, WAIT_MS));
	TEST_EQ_INT(count(&h, EV_TRANSCRIPT, "user"), 0); /* the hold's audio left no trace */
	/* and transcripts: the caller is heard and answered */
	TEST_EQ_INT(inject_speech(&h), 0);
	TEST_ASSERT(wait_count(&h, EV_TRANSCRIPT, "user", 1, WAIT_MS));
	TEST_ASSERT(nth(&h, EV_TRANSCRIPT, "user", 0, &c));
	TEST_CONTAINS(c.text, "hours");
	TEST_ASSERT(c.has_started_at);
out:
	h_stop(&h);
	return err;
}

/* Silence: max_reprompts reprompts, each spoken in full, then the goodbye
 * and a hangup. */
static int test_silence_watchdog(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(
		dispatch(&h, "web", false,
			 "{\"start_instruction\":\"" GREETING "\","
			 "\"interaction_config\":{\"silence_timeout_s\":0.3,\"max_reprompts\":2,"
			 "\"reprompt_message\":\"Are you still there?\","
			 "\"goodbye_message\":\"I will hang up now. Goodbye.\"}}"),
		0);
	struct cap ended;
	TEST_ASSERT(wait_agent_ended(&h, &ended, WAIT_MS));
	TEST_EQ_STR(ended.reason, "silence_timeout");
	TEST_ASSERT(wait_no_sessions(&h, WAIT_MS));
	TEST_EQ_INT(count(&h, EV_TRANSCRIPT, "agent"), 4);
	struct cap c;
	const char *want[] = { GREETING, "Are you still there?", "Are you still there?",
			       "I will hang up now. Goodbye." };
	for (int i = 0; i < 4; i++) {
		TEST_ASSERT(nth(&h, EV_TRANSCRIPT, "agent", i, &c));
		TEST_EQ_STR(c.text, want[i]);
	}
	/* all of it went out: the greeting, both reprompts and the goodbye */
	size_t want_frames = tts_frames(&h, GREETING) + 2 * tts_frames(&h, "Are you still there?") +
			     tts_frames(&h, "I will hang up now. Goodbye.");
	TEST_NEAR_FRAMES(room_record_count(h.hub, h.room), want_frames);
out:
	h_stop(&h);
	return err;
}

/* A late reply gets one filler, a different one on the next turn, none
 * during hold. */
static int test_fillers_when_late(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	struct cap c;
	char first[256];
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(
		dispatch(&h, "web", false,
			 "{\"start_instruction\":\"Hi.\","
			 "\"interaction_config\":{\"silence_timeout_s\":60,\"filler_after_ms\":300,"
			 "\"fillers\":[\"One moment.\",\"Let me check.\"]},"
			 "\"llm_config\":{\"script\":[{\"match\":\"hours\",\"reply\":\"We are open "
			 "nine to five.\","
			 "\"delay_ms\":1200}]}}"),
		0);
	TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 1, WAIT_MS));
	for (int turn = 0; turn < 2; turn++) {
		TEST_EQ_INT(inject_speech(&h), 0);
		TEST_ASSERT(wait_count(&h, EV_TRANSCRIPT, "agent", 3 + 2 * turn, WAIT_MS));
		TEST_ASSERT(nth(&h, EV_TRANSCRIPT, "agent", 1 + 2 * turn, &c));
		if (turn == 0) {
			TEST_ASSERT(strcmp(c.text, "One moment.") == 0 ||
				    strcmp(c.text, "Let me check.") == 0);
			snprintf(first, sizeof(first), "%s", c.text);
		} else {
			TEST_ASSERT(strcmp(c.text, first) != 0); /* never the same twice in a row */
		}
		TEST_ASSERT(nth(&h, EV_TRANSCRIPT, "agent", 2 + 2 * turn, &c));
		TEST_EQ_STR(c.text, "We are open nine to five.");
		TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 3 + 2 * turn, WAIT_MS));
	}
	/* a late turn put on hold: no filler, no reply */
	TEST_EQ_INT(inject_speech(&h), 0);
	TEST_EQ_INT(publish(&h, EV_CALL_HOLD), 0);
	TEST_ASSERT(wait_state(&h, SESSION_ON_HOLD, WAIT_MS));
	size_t frames = room_record_count(h.hub, h.room);
	TEST_ASSERT(none_for(&h, EV_AGENT_SPEAKING, NULL, 1800));
	TEST_EQ_INT(room_record_count(h.hub, h.room), frames);
out:
	h_stop(&h);
	return err;
}

/* Caller speech over the agent stops it; a short "mm-hmm" does not. */
static int test_barge_in(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	int16_t mmhmm[AGENT_RATE]; /* 200 ms of voice, then silence */
	TEST_EQ_INT(h_start(&h, &su), 0);
	memset(mmhmm, 0, sizeof(mmhmm));
	for (int i = 0; i < AGENT_RATE / 5; i++)
		mmhmm[i] = (int16_t)(6000 * sin(2 * M_PI * 220.0 * i / AGENT_RATE));
	TEST_EQ_INT(dispatch(&h, "web", false, "{\"start_instruction\":\"" LONG_GREETING "\","
			     "\"interaction_config\":{\"silence_timeout_s\":60}," SCRIPT "}"), 0);
	TEST_ASSERT(wait_frames(&h, 25, WAIT_MS));
	/* mm-hmm: the greeting goes on to its end */
	TEST_EQ_INT(room_record_inject(h.hub, h.room, mmhmm, CM_ARRAY_LEN(mmhmm)), 0);
	TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 1, WAIT_MS * 2));
	size_t full = tts_frames(&h, LONG_GREETING);
	TEST_NEAR_FRAMES(room_record_count(h.hub, h.room), full);
	TEST_EQ_INT(count(&h, EV_TRANSCRIPT, "user"), 0);
out:
	h_stop(&h);
	return err;
}

/* Barge-in proper: real speech over the greeting cuts it. */
static int test_barge_in_stops_agent(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	struct cap c;
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(dispatch(&h, "web", false,
			     "{\"start_instruction\":\"" LONG_GREETING "\","
			     "\"interaction_config\":{\"silence_timeout_s\":60,\"fillers_enabled\":"
			     "false}," SCRIPT "}"),
		    0);
	TEST_ASSERT(wait_frames(&h, 25, WAIT_MS));
	TEST_EQ_INT(inject_speech(&h), 0);
	int64_t injected = time_mono_us();
	TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 1, WAIT_MS));
	TEST_ASSERT(wait_count(&h, EV_TRANSCRIPT, "user", 1, WAIT_MS));
	TEST_ASSERT(nth(&h, EV_TRANSCRIPT, "user", 0, &c));
	/* between the barge-in and the caller's transcript, not one agent frame */
	size_t n = room_record_count(h.hub, h.room);
	static struct room_record_frame f[ROOM_RECORD_PCM_MAX];
	TEST_EQ_INT(room_record_frames(h.hub, h.room, 0, f, n), n);
	size_t during = 0;
	for (size_t i = 0; i < n; i++)
		if (f[i].t_us > injected + 20000 && f[i].t_us < c.t_us)
			during++;
	TEST_EQ_INT(during, 0);
	TEST_ASSERT(n < tts_frames(&h, LONG_GREETING));
	/* then the reply */
	TEST_ASSERT(wait_count(&h, EV_TRANSCRIPT, "agent", 2, WAIT_MS));
	TEST_ASSERT(nth(&h, EV_TRANSCRIPT, "agent", 1, &c));
	TEST_EQ_STR(c.text, "We are open nine to five.");
out:
	h_stop(&h);
	return err;
}

/* The whole local pipeline offline: speech in → pocketsphinx → scripted
 * reply → espeak-ng frames out, with both speakers' transcripts. */
static int test_pipeline_offline(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	struct cap c;
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(dispatch(&h, "outbound", true, "{\"start_instruction\":\"" GREETING "\","
			     "\"interaction_config\":{\"fillers_enabled\":false}," SCRIPT "}"), 0);
	TEST_ASSERT(wait_state(&h, SESSION_WAITING_FOR_ANSWER, WAIT_MS));
	TEST_EQ_INT(publish(&h, EV_CALL_ANSWERED), 0);
	TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 1, WAIT_MS));
	size_t greeting = room_record_count(h.hub, h.room);
	TEST_EQ_INT(inject_speech(&h), 0);
	TEST_ASSERT(wait_count(&h, EV_TRANSCRIPT, "user", 1, WAIT_MS));
	TEST_ASSERT(nth(&h, EV_TRANSCRIPT, "user", 0, &c));
	TEST_CONTAINS(c.text, "hours");
	TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 2, WAIT_MS));
	TEST_ASSERT(nth(&h, EV_TRANSCRIPT, "agent", 1, &c));
	TEST_EQ_STR(c.text, "We are open nine to five.");
	size_t reply = tts_frames(&h, "We are open nine to five.");
	TEST_NEAR_FRAMES(room_record_count(h.hub, h.room), greeting + reply);
	/* the reply frames carry speech */
	static struct room_record_frame f[ROOM_RECORD_PCM_MAX];
	size_t got = room_record_frames(h.hub, h.room, greeting, f, reply);
	TEST_ASSERT(got + 3 >= reply);
	int voiced = 0;
	for (size_t i = 0; i < got; i++)
		voiced += f[i].rms > 500;
	TEST_ASSERT(voiced > (int)reply / 3);
out:
	h_stop(&h);
	return err;
}

/* The caller's end-call phrase: end message, then hangup. */
static int test_end_call_phrase(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	struct cap c;
	int16_t *bye = NULL;
	size_t n = 0;
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(dispatch(&h, "web", false,
			     "{\"start_instruction\":\"Hi.\","
			     "\"interaction_config\":{\"silence_timeout_s\":60,\"fillers_enabled\":"
			     "false,"
			     "\"end_call_phrases\":[\"bye\"],"
			     "\"end_call_message\":\"Thanks for calling.\"}}"),
		    0);
	TEST_ASSERT(wait_count(&h, EV_AGENT_LISTENING, NULL, 1, WAIT_MS));
	TEST_EQ_INT(tts_local.synth(h.tts, &bye, &n, "bye bye"), 0);
	int16_t *buf = calloc(n + AGENT_RATE, sizeof(int16_t));
	TEST_ASSERT(buf);
	memcpy(buf, bye, n * sizeof(int16_t));
	TEST_EQ_INT(room_record_inject(h.hub, h.room, buf, n + AGENT_RATE), 0);
	free(buf);
	struct cap ended;
	TEST_ASSERT(wait_agent_ended(&h, &ended, WAIT_MS));
	TEST_EQ_STR(ended.reason, "end_call_phrase");
	TEST_ASSERT(nth(&h, EV_TRANSCRIPT, "agent", 1, &c));
	TEST_EQ_STR(c.text, "Thanks for calling.");
	TEST_ASSERT(wait_no_sessions(&h, WAIT_MS));
out:
	free(bye);
	h_stop(&h);
	return err;
}

/* Maximum call duration: end message, then hangup. */
static int test_max_duration(void)
{
	int err = 0;
	struct h h;
	struct setup su = { 0 };
	struct cap c;
	TEST_EQ_INT(h_start(&h, &su), 0);
	int64_t t0 = time_mono_ms();
	TEST_EQ_INT(dispatch(&h, "web", false,
			     "{\"start_instruction\":\"" LONG_GREETING "\","
			     "\"interaction_config\":{\"max_duration_s\":1.5,\"end_call_message\":"
			     "\"Time is up.\"}}"),
		    0);
	struct cap ended;
	TEST_ASSERT(wait_agent_ended(&h, &ended, WAIT_MS));
	TEST_ASSERT(time_mono_ms() - t0 >= 1500);
	TEST_EQ_STR(ended.reason, "max_duration");
	TEST_ASSERT(nth(&h, EV_TRANSCRIPT, "agent", 1, &c));
	TEST_EQ_STR(c.text, "Time is up.");
out:
	h_stop(&h);
	return err;
}

/* agents.dispatch replies: capacity, duplicates, bad payloads. */
static int test_dispatch_replies(void)
{
	int err = 0;
	struct h h;
	struct setup su = { .max_sessions = 1 };
	TEST_EQ_INT(h_start(&h, &su), 0);
	TEST_EQ_INT(dispatch(&h, "outbound", true, "{}"), 0);
	TEST_CONTAINS(h.dispatch_reply, "\"ok\":true");
	TEST_EQ_INT(dispatch(&h, "outbound", true, "{}"), 0);
	TEST_CONTAINS(h.dispatch_reply, "\"ok\":false");
	TEST_ASSERT(strstr(h.dispatch_reply, "\"conflict\"") ||
		    strstr(h.dispatch_reply, "\"unavailable\""));
	char first[ID_UUID_LEN + 1];
	memcpy(first, h.call_id, sizeof(first));
	TEST_EQ_INT(id_uuid4(h.call_id), 0);
	TEST_EQ_INT(dispatch(&h, "outbound", true, "{}"), 0);
	TEST_CONTAINS(h.dispatch_reply, "\"code\":\"unavailable\"");
	TEST_EQ_INT(dispatch(&h, "carrier-pigeon", true, "{}"), 0);
	TEST_CONTAINS(h.dispatch_reply, "\"field\":\"kind\"");
	TEST_EQ_INT(dispatch(&h, "web", false, "{\"interaction_config\":{\"max_reprompts\":-1}}"),
		    0);
	TEST_CONTAINS(h.dispatch_reply, "max_reprompts");
	TEST_EQ_INT(agent_sessions(h.agent), 1);
out:
	h_stop(&h);
	return err;
}

static const struct test tests[] = {
	{ "states_and_events", test_states_and_events },
	{ "gating_until_answered", test_gating_until_answered },
	{ "answer_timeout_hangs_up", test_answer_timeout_hangs_up },
	{ "web_call_starts_at_once", test_web_call_starts_at_once },
	{ "web_call_waits_for_its_caller", test_web_call_waits_for_its_caller },
	{ "web_caller_never_joins", test_web_caller_never_joins },
	{ "web_call_hangup_command", test_web_call_hangup_command },
	{ "room_lost_fails_the_call", test_room_lost_fails_the_call },
	{ "speech_heard_when_stream_stops", test_speech_heard_when_stream_stops },
	{ "recording_retry", test_recording_retry },
	{ "recording_stopped_at_end", test_recording_stopped_at_end },
	{ "recording_does_not_delay_greeting", test_recording_does_not_delay_greeting },
	{ "hold_and_resume", test_hold_and_resume },
	{ "silence_watchdog", test_silence_watchdog },
	{ "fillers_when_late", test_fillers_when_late },
	{ "mm_hmm_does_not_barge_in", test_barge_in },
	{ "barge_in_stops_agent", test_barge_in_stops_agent },
	{ "pipeline_offline", test_pipeline_offline },
	{ "end_call_phrase", test_end_call_phrase },
	{ "max_duration", test_max_duration },
	{ "dispatch_replies", test_dispatch_replies },
};
TEST_MAIN(tests)
