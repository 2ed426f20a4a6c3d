/*
 * Realtime mode (speech to speech) against tests/agent/fake_realtime.mjs, a
 * WebSocket server that checks the client's events and answers like the
 * OpenAI Realtime API: session configuration, the greeting through
 * response.create, caller audio appended and answered, and response.cancel
 * with no further audio on hold and on barge-in — on a real nats-server.
 */
#include "agent-worker/agent.h"
#include "harness/test.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MS 15000

struct h {
	int fake_pid, fake_port;
	char base[64];
	struct test_nats nats;
	struct bus *bus, *tbus;
	struct bus_sub *sub;
	struct room_record_hub *hub;
	struct agent *agent;
	pthread_mutex_t mu;
	char agent_lines[16][160];
	int nagent;
	char user_line[160];
	int nuser;
	int nspeaking, nlistening; /* agent_speaking / agent_listening events seen */
	char call_id[ID_UUID_LEN + 1];
	char room[64];
};

static void on_event(const struct bus_msg *msg, void *arg)
{
	struct h *h = arg;
	struct event *ev = NULL;
	if (event_decode(&ev, msg->data, (size_t)msg->len, NULL, 0))
		return;
	if (ev->type == EV_TRANSCRIPT) {
		const char *sp = event_get_str(ev, "speaker"), *tx = event_get_str(ev, "text");
		pthread_mutex_lock(&h->mu);
		if (sp && tx && strcmp(sp, "agent") == 0 && h->nagent < 16)
			snprintf(h->agent_lines[h->nagent++], sizeof(h->agent_lines[0]), "%s", tx);
		else if (sp && tx && strcmp(sp, "user") == 0) {
			snprintf(h->user_line, sizeof(h->user_line), "%s", tx);
			h->nuser++;
		}
		pthread_mutex_unlock(&h->mu);
	} else if (ev->type == EV_AGENT_SPEAKING || ev->type == EV_AGENT_LISTENING) {
		pthread_mutex_lock(&h->mu);
		if (ev->type == EV_AGENT_SPEAKING)
			h->nspeaking++;
		else
			h->nlistening++;
		pthread_mutex_unlock(&h->mu);
	}
	event_free(ev);
}

/* The agent has spoken and fallen silent again: its last utterance is out. */
static bool agent_quiet(void *arg)
{
	struct h *h = arg;
	pthread_mutex_lock(&h->mu);
	bool quiet = h->nlistening >= 1 && h->nlistening == h->nspeaking;
	pthread_mutex_unlock(&h->mu);
	return quiet;
}

static int h_start(struct h *h)
{
	char port[16], url[96];
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	h->fake_port = test_free_port();
	snprintf(port, sizeof(port), "%d", h->fake_port);
	snprintf(h->base, sizeof(h->base), "ws://127.0.0.1:%d/v1", h->fake_port);
	const char *argv[] = { "node", "tests/agent/fake_realtime.mjs", port, "test-key", NULL };
	if (test_spawn(&h->fake_pid, argv, NULL, NULL))
		return 1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_health", h->fake_port);
	if (test_http_wait(url, 200, 10000) || test_nats_start(&h->nats) ||
	    bus_connect(&h->bus, h->nats.url, "agent") ||
	    bus_connect(&h->tbus, h->nats.url, "test") || bus_ensure_streams(h->bus) ||
	    room_record_hub_new(&h->hub) ||
	    bus_subscribe(h->tbus, &h->sub, "calls.>", NULL, on_event, h))
		return 1;
	struct agent_opts opts = {
		.bus = h->bus,
		.source = "agent-worker/test",
		.room = &room_record_backend,
		.room_ctx = h->hub,
		.max_sessions = 2,
		.answer_timeout_ms = 10000,
		.env = { h->base, "test-key", true },
		.recording_attempts = 1,
		.recording_backoff_ms = 10,
		.recording_timeout_ms = 200,
	};
	if (agent_new(&h->agent, &opts) || id_uuid4(h->call_id))
		return 1;
	snprintf(h->room, sizeof(h->room), "call-%s", h->call_id);
	return 0;
}

static void h_stop(struct h *h)
{
	h->agent = agent_free(h->agent);
	h->sub = bus_unsubscribe(h->sub);
	h->bus = bus_close(h->bus);
	h->tbus = bus_close(h->tbus);
	h->hub = room_record_hub_free(h->hub);
	test_nats_destroy(&h->nats);
	if (h->fake_pid > 0) {
		int code;
		kill(h->fake_pid, SIGTERM);
		if (test_wait_exit(h->fake_pid, 5000, &code))
			test_kill(h->fake_pid);
	}
	pthread_mutex_destroy(&h->mu);
}

/* `more`: further interaction_config members, each after a comma */
static int dispatch_with(struct h *h, bool wait, const char *start, const char *more)
{
	char *body = NULL, *reply = NULL;
	int err;
	if (asprintf(
		    &body,
		    "{\"v\":1,\"call_id\":\"%s\",\"room\":\"%s\",\"kind\":\"%s\",\"wait_for_"
		    "answer\":%s,"
		    "\"assistant\":{\"mode\":\"realtime\",\"prompt\":\"You are the clinic.\","
		    "\"start_instruction\":\"%s\",\"interaction_config\":{\"silence_timeout_s\":60,"
		    "\"recording\":false%s},\"llm_config\":{\"provider\":\"openai\","
		    "\"base_url\":\"%s\",\"model\":\"gpt-realtime-test\"}},\"metadata\":{}}",
		    h->call_id, h->room, wait ? "outbound" : "web", wait ? "true" : "false", start,
		    more, h->base) < 0)
		return ENOMEM;
	err = bus_request(h->tbus, &reply, NULL, "agents.dispatch", body, strlen(body), 5000);
	if (!err && !strstr(reply, "\"ok\":true"))
		err = EINVAL;
	free(body);
	free(reply);
	return err;
}

static int dispatch(struct h *h, bool wait, const char *start)
{
	return dispatch_with(h, wait, start, "");
}

static int publish(struct h *h, enum event_type type)
{
	struct event *ev = NULL;
	int err = event_new(&ev, type, h->call_id, h->room, "sip-bridge/test");
	if (!err)
		err = bus_publish_event(h->tbus, ev);
	event_free(ev);
	return err;
}

static cJSON *fake_log(struct h *h)
{
	char url[96], *body = NULL;
	long status = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_log", h->fake_port);
	if (test_http(&status, &body, "GET", url, NULL, NULL) || status != 200) {
		free(body);
		return NULL;
	}
	cJSON *j = cJSON_Parse(body);
	free(body);
	return j;
}

static int log_int(struct h *h, const char *name)
{
	cJSON *j = fake_log(h);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	int n = cJSON_IsNumber(v) ? v->valueint : -1;
	cJSON_Delete(j);
	return n;
}

static bool wait_lines(struct h *h, int nagent, int nuser, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	for (;;) {
		pthread_mutex_lock(&h->mu);
		bool ok = h->nagent >= nagent && h->nuser >= nuser;
		pthread_mutex_unlock(&h->mu);
		if (ok)
			return true;
		if (time_mono_ms() > end)
			return false;
		test_nap_ms(5);
	}
}

/* The caller's lines so far and the last of them, read under the lock: the
 * bus thread writes the next one in place. */
static int user_lines(struct h *h)
{
	pthread_mutex_lock(&h->mu);
	int n = h->nuser;
	pthread_mutex_unlock(&h->mu);
	return n;
}

static const char *last_user_line(struct h *h, char *out, size_t size)
{
	pthread_mutex_lock(&h->mu);
	snprintf(out, size, "%s", h->user_line);
	pthread_mutex_unlock(&h->mu);
	return out;
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

/* One second of loud caller audio, then a second of silence. */
static int inject_caller(struct h *h)
{
	static int16_t pcm[AGENT_RATE * 2];
	for (int i = 0; i < AGENT_RATE; i++)
		pcm[i] = (int16_t)(6000 * sin(2 * M_PI * 200.0 * i / AGENT_RATE));
	return room_record_inject(h->hub, h->room, pcm, CM_ARRAY_LEN(pcm));
}

#define GREETING "Hello Ada, this is the clinic."

static int test_realtime_conversation(void)
{
	int err = 0;
	struct h h;
	cJSON *log = NULL;
	char line[sizeof(h.user_line)];
	TEST_EQ_INT(h_start(&h), 0);
	TEST_EQ_INT(dispatch(&h, true, GREETING), 0);
	TEST_ASSERT(wait_state(&h, SESSION_WAITING_FOR_ANSWER, WAIT_MS));
	TEST_EQ_INT(publish(&h, EV_CALL_ANSWERED), 0);
	TEST_ASSERT(wait_lines(&h, 1, 0, WAIT_MS));
	TEST_EQ_STR(h.agent_lines[0], GREETING);
	/* 80 ms per character of greeting went out as 20 ms frames */
	TEST_ASSERT(wait_frames(&h, 30 * 4, WAIT_MS));
	log = fake_log(&h);
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(log, "session");
	TEST_EQ_STR(cJSON_GetObjectItemCaseSensitive(s, "instructions")->valuestring,
		    "You are the clinic.");
	const cJSON *creates = cJSON_GetObjectItemCaseSensitive(log, "creates");
	TEST_CONTAINS(cJSON_GetArrayItem(creates, 0)->valuestring, GREETING);
	TEST_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(log, "errors")), 0);
	cJSON_Delete(log);
	log = NULL;
	/* the caller speaks (once the greeting is out): appended, heard, answered */
	TEST_ASSERT(test_wait_until(agent_quiet, &h, WAIT_MS));
	size_t before = room_record_count(h.hub, h.room);
	TEST_EQ_INT(inject_caller(&h), 0);
	TEST_ASSERT(wait_lines(&h, 2, 1, WAIT_MS));
	TEST_EQ_STR(last_user_line(&h, line, sizeof(line)), "what are your hours");
	TEST_EQ_STR(h.agent_lines[1], "We are open nine to five.");
	TEST_ASSERT(wait_frames(&h, before + 80, WAIT_MS)); /* 2 s of reply audio */
	log = fake_log(&h);
	TEST_ASSERT(cJSON_GetObjectItemCaseSensitive(log, "appends")->valueint >= 15);
	/* 100 ms per append at 24 kHz, 16 bit */
	TEST_EQ_INT(cJSON_GetObjectItemCaseSensitive(log, "append_bytes")->valueint %
		    4800, 0);
	TEST_EQ_INT(cJSON_GetObjectItemCaseSensitive(log, "odd_appends")->valueint, 0);
	TEST_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(log, "errors")), 0);
out:
	cJSON_Delete(log);
	h_stop(&h);
	return err;
}

#define LONG_GREETING "Hello Ada, this is the clinic calling about your appointment next week, " \
	"we wanted to confirm the time and the address with you."

/* Hold: response.cancel, not a frame after it, nothing appended while on hold. */
static int test_realtime_hold(void)
{
	int err = 0;
	struct h h;
	TEST_EQ_INT(h_start(&h), 0);
	TEST_EQ_INT(dispatch(&h, false, LONG_GREETING), 0);
	TEST_ASSERT(wait_frames(&h, 25, WAIT_MS));
	int64_t before = time_mono_us();
	TEST_EQ_INT(publish(&h, EV_CALL_HOLD), 0);
	int64_t published = time_mono_us();
	TEST_ASSERT(wait_state(&h, SESSION_ON_HOLD, WAIT_MS));
	TEST_ASSERT(frames_after(&h, before) <= 1);
	TEST_EQ_INT(frames_after(&h, published + 20000), 0);
	int64_t end = time_mono_ms() + WAIT_MS;
	while (log_int(&h, "cancels") < 1 && time_mono_ms() < end)
		test_nap_ms(10);
	TEST_EQ_INT(log_int(&h, "cancels"), 1);
	int appends = log_int(&h, "appends");
	TEST_EQ_INT(inject_caller(&h), 0);
	test_nap_ms(800); /* the window in which nothing may happen */
	TEST_EQ_INT(log_int(&h, "appends"), appends);
	TEST_EQ_INT(frames_after(&h, published + 20000), 0);
	TEST_EQ_INT(user_lines(&h), 0);
	TEST_EQ_INT(publish(&h, EV_CALL_RESUME), 0);
	TEST_ASSERT(wait_state(&h, SESSION_ACTIVE, WAIT_MS));
	TEST_EQ_INT(inject_caller(&h), 0);
	TEST_ASSERT(wait_lines(&h, 1, 1, WAIT_MS)); /* heard again and answered */
out:
	h_stop(&h);
	return err;
}

/* Barge-in: the caller talks over the greeting; it is cancelled and stops,
 * and what the caller says reaches the server whole (340 ms: the barge-in
 * comes with caller audio batched for the next append). */
static int test_realtime_barge_in(void)
{
	int err = 0;
	struct h h;
	cJSON *log = NULL;
	TEST_EQ_INT(h_start(&h), 0);
	TEST_EQ_INT(dispatch_with(&h, false, LONG_GREETING, ",\"barge_in_min_ms\":340"), 0);
	TEST_ASSERT(wait_frames(&h, 25, WAIT_MS));
	TEST_EQ_INT(inject_caller(&h), 0);
	int64_t end = time_mono_ms() + WAIT_MS;
	while (log_int(&h, "cancels") < 1 && time_mono_ms() < end)
		test_nap_ms(10);
	TEST_ASSERT(log_int(&h, "cancels") >= 1);
	/* then the answer to what the caller said */
	TEST_ASSERT(wait_lines(&h, 1, 1, WAIT_MS));
	TEST_EQ_STR(h.agent_lines[0], "We are open nine to five.");
	/* every frame the caller said reached the server, the ones batched
	 * when the barge-in came too: 2 s at 24 kHz, 16 bit */
	log = fake_log(&h);
	TEST_ASSERT(log);
	TEST_EQ_INT(cJSON_GetObjectItemCaseSensitive(log, "append_bytes")->valueint, 96000);
	/* the greeting was cut: far fewer frames than its 80 ms per character */
	TEST_ASSERT(frames_after(&h, 0) < (sizeof(LONG_GREETING) - 1) * 4 + 100);
out:
	cJSON_Delete(log);
	h_stop(&h);
	return err;
}

/* The provider alone: a cancel after the cancelled response has ended (our
 * barge-in, then the server's speech_started) cancels nothing, so the
 * server's answer to the caller's next words is heard. */
struct rt_rec {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int audio, done;
	char agent_line[160];
	char over[64]; /* what the last speech_started named */
	/* realtime_cancel_waits_for_audio: the first delta is held in the
	 * handler while a cancel is made from another thread */
	bool hold_audio, in_handler, cancel_returned, cancel_overtook;
};

static void rec_audio(int16_t *pcm, size_t n, void *arg)
{
	struct rt_rec *r = arg;
	(void)n;
	free(pcm);
	pthread_mutex_lock(&r->mu);
	r->audio++;
	if (r->hold_audio) {
		r->hold_audio = false;
		r->in_handler = true;
		pthread_cond_broadcast(&r->cond);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 300 * 1000000L; /* long enough for a cancel to overtake */
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (!r->cancel_returned &&
		       pthread_cond_timedwait(&r->cond, &r->mu, &until) != ETIMEDOUT)
			;
		r->cancel_overtook = r->cancel_returned;
	}
	pthread_mutex_unlock(&r->mu);
}

static void rec_transcript(bool agent, const char *text, void *arg)
{
	struct rt_rec *r = arg;
	pthread_mutex_lock(&r->mu);
	if (agent)
		snprintf(r->agent_line, sizeof(r->agent_line), "%s", text);
	pthread_mutex_unlock(&r->mu);
}

static void rec_done(void *arg)
{
	struct rt_rec *r = arg;
	pthread_mutex_lock(&r->mu);
	r->done++;
	pthread_mutex_unlock(&r->mu);
}

static void rec_speech(const char *over, void *arg)
{
	struct rt_rec *r = arg;
	pthread_mutex_lock(&r->mu);
	snprintf(r->over, sizeof(r->over), "%s", over);
	pthread_mutex_unlock(&r->mu);
}

static const struct realtime_handlers rec_handlers = { rec_audio, rec_transcript, rec_done,
						       rec_speech };

static int rec_audio_count(struct rt_rec *r)
{
	pthread_mutex_lock(&r->mu);
	int n = r->audio;
	pthread_mutex_unlock(&r->mu);
	return n;
}

static bool rec_wait(struct rt_rec *r, const int *field, int n)
{
	int64_t end = time_mono_ms() + WAIT_MS;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		bool ok = *field >= n;
		pthread_mutex_unlock(&r->mu);
		if (ok)
			return true;
		if (time_mono_ms() > end)
			return false;
		test_nap_ms(5);
	}
}

/* A realtime assistant on the fake (its base_url); caller frees *ap. */
static int realtime_assistant(struct assistant **ap, const struct h *h)
{
	char why[160], *json = NULL;
	if (asprintf(&json,
		     "{\"mode\":\"realtime\",\"llm_config\":{\"provider\":\"openai\","
		     "\"base_url\":\"%s\",\"model\":\"gpt-realtime-test\"}}",
		     h->base) < 0)
		return ENOMEM;
	cJSON *j = cJSON_Parse(json);
	int err = j ? assistant_parse(ap, j, why, sizeof(why)) : EINVAL;
	cJSON_Delete(j);
	free(json);
	return err;
}

static int test_realtime_stale_cancel(void)
{
	int err = 0;
	struct h h;
	struct rt_rec rec = { .mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct assistant *a = NULL;
	void *rt = NULL;
	int16_t frame[AGENT_FRAME_SAMPLES];
	TEST_EQ_INT(h_start(&h), 0);
	TEST_EQ_INT(realtime_assistant(&a, &h), 0);
	struct provider_env env = { h.base, "test-key", true };
	struct provider_args pa = { a->llm_config, a, &env };
	TEST_EQ_INT(realtime_openai.new(&rt, &pa, &rec_handlers, &rec), 0);
	TEST_EQ_INT(realtime_openai.respond(rt,
					    "Say exactly this and nothing else: " LONG_GREETING),
		    0);
	TEST_ASSERT(rec_wait(&rec, &rec.audio, 1));
	TEST_EQ_INT(realtime_openai.cancel(rt, NULL, NULL), 0);
	TEST_ASSERT(rec_wait(&rec, &rec.done, 1));
	/* stale: nothing plays, nothing asked */
	TEST_EQ_INT(realtime_openai.cancel(rt, NULL, NULL), 0);
	/* the caller speaks (400 ms of tone, then 600 ms of silence): the
	 * server's VAD answers with a response of its own */
	for (int i = 0; i < 50; i++) {
		for (int k = 0; k < AGENT_FRAME_SAMPLES; k++)
			frame[k] = i < 20 ? (int16_t)(6000 * sin(2 * M_PI * 200.0 *
								 (i * AGENT_FRAME_SAMPLES + k) /
								 AGENT_RATE))
					  : 0;
		TEST_EQ_INT(realtime_openai.append(rt, frame, AGENT_FRAME_SAMPLES), 0);
	}
	TEST_ASSERT(rec_wait(&rec, &rec.done, 2));
	pthread_mutex_lock(&rec.mu);
	char line[160];
	snprintf(line, sizeof(line), "%s", rec.agent_line);
	pthread_mutex_unlock(&rec.mu);
	TEST_EQ_STR(line, "We are open nine to five.");
	cJSON *log = fake_log(&h);
	TEST_ASSERT(log);
	int cancels = cJSON_GetObjectItemCaseSensitive(log, "cancels")->valueint;
	int errors = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(log, "errors"));
	cJSON_Delete(log);
	TEST_EQ_INT(cancels, 1);
	TEST_EQ_INT(errors, 0);
out:
	if (rt)
		realtime_openai.free(rt);
	assistant_free(a);
	h_stop(&h);
	return err;
}

static void rt_feed(void *rt, const char *frame)
{
	realtime_openai_receive(rt, frame, strlen(frame));
}

#define CREATED(id) "{\"type\":\"response.created\",\"response\":{\"id\":\"" id "\"}}"
#define DELTA(id)                                                                          \
	"{\"type\":\"response.audio.delta\",\"response_id\":\"" id "\","                 \
	"\"delta\":\"AAAAAAAAAAAAAAAA\"}"
#define DONE "{\"type\":\"response.done\"}"
#define SPEECH_STARTED "{\"type\":\"input_audio_buffer.speech_started\"}"

/* The server hears the caller over the greeting and, before the session
 * acts on it, ends the greeting and creates its answer: the session's
 * cancel names the greeting, so the answer plays (and the cancel says it
 * cancelled nothing, so the session keeps the generation the answer's first
 * audio carries). While the greeting still plays, the same cancel stops it. */
static int test_realtime_speech_cancel_spares_answer(void)
{
	int err = 0;
	struct rt_rec rec = { .mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	void *rt = NULL;
	bool hit = true;
	TEST_EQ_INT(realtime_openai_offline_new(&rt, &rec_handlers, &rec), 0);
	rt_feed(rt, CREATED("greeting"));
	rt_feed(rt, SPEECH_STARTED);
	TEST_EQ_STR(rec.over, "greeting");
	rt_feed(rt, DONE);
	rt_feed(rt, CREATED("answer"));
	TEST_EQ_INT(realtime_openai.cancel(rt, rec.over, &hit), 0);
	TEST_ASSERT(!hit);
	rt_feed(rt, DELTA("answer"));
	TEST_EQ_INT(rec_audio_count(&rec), 1);
	rt_feed(rt, DONE);
	/* over the answer this time, and the cancel comes while it plays */
	rt_feed(rt, CREATED("second"));
	rt_feed(rt, SPEECH_STARTED);
	TEST_EQ_STR(rec.over, "second");
	TEST_EQ_INT(realtime_openai.cancel(rt, rec.over, &hit), 0);
	TEST_ASSERT(hit);
	rt_feed(rt, DELTA("second"));
	TEST_EQ_INT(rec_audio_count(&rec), 1);
	/* nothing played when the caller spoke: the next response is spared */
	rt_feed(rt, DONE);
	rt_feed(rt, SPEECH_STARTED);
	TEST_EQ_STR(rec.over, "");
	rt_feed(rt, CREATED("third"));
	TEST_EQ_INT(realtime_openai.cancel(rt, rec.over, &hit), 0);
	TEST_ASSERT(!hit);
	rt_feed(rt, DELTA("third"));
	TEST_EQ_INT(rec_audio_count(&rec), 2);
	/* and so is one asked for and not created yet: it may be the answer */
	rt_feed(rt, DONE);
	TEST_EQ_INT(realtime_openai.respond(rt, NULL), 0);
	rt_feed(rt, SPEECH_STARTED);
	TEST_EQ_INT(realtime_openai.cancel(rt, rec.over, &hit), 0);
	TEST_ASSERT(!hit);
	rt_feed(rt, CREATED("fourth"));
	rt_feed(rt, DELTA("fourth"));
	TEST_EQ_INT(rec_audio_count(&rec), 3);
out:
	if (rt)
		realtime_openai.free(rt);
	return err;
}

static void *cancel_when_in_handler(void *arg)
{
	void **a = arg;
	struct rt_rec *r = a[1];
	pthread_mutex_lock(&r->mu);
	while (!r->in_handler)
		pthread_cond_wait(&r->cond, &r->mu);
	pthread_mutex_unlock(&r->mu);
	(void)realtime_openai.cancel(a[0], NULL, NULL);
	pthread_mutex_lock(&r->mu);
	r->cancel_returned = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* A cancel made while a delta is being handed over waits until it has
 * been: the session cancels, then moves its generation on, so the delta it
 * raced carries the old generation and is dropped there, never played. */
static int test_realtime_cancel_waits_for_audio(void)
{
	int err = 0;
	struct rt_rec rec = { .mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	void *rt = NULL;
	pthread_t t;
	bool started = false;
	TEST_EQ_INT(realtime_openai_offline_new(&rt, &rec_handlers, &rec), 0);
	rt_feed(rt, CREATED("greeting"));
	rec.hold_audio = true;
	void *args[2] = { rt, &rec };
	TEST_EQ_INT(pthread_create(&t, NULL, cancel_when_in_handler, args), 0);
	started = true;
	rt_feed(rt, DELTA("greeting")); /* the handler holds it while the cancel is made */
	pthread_join(t, NULL);
	started = false;
	TEST_ASSERT(!rec.cancel_overtook);
	rt_feed(rt, DELTA("greeting"));
	TEST_EQ_INT(rec_audio_count(&rec), 1);
out:
	if (started)
		pthread_join(t, NULL);
	if (rt)
		realtime_openai.free(rt);
	return err;
}

/* An assistant whose base_url names another server than OPENAI_BASE_URL:
 * the deployment's key is not sent there (the fake, which wants it, refuses
 * the upgrade and says that no Authorization came). */
static int test_realtime_key_only_where_configured(void)
{
	int err = 0;
	struct h h;
	struct rt_rec rec = { .mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct assistant *a = NULL;
	void *rt = NULL;
	char *errors = NULL;
	TEST_EQ_INT(h_start(&h), 0);
	TEST_EQ_INT(realtime_assistant(&a, &h), 0);
	struct provider_env env = { "https://api.openai.com/v1", "test-key", true };
	struct provider_args pa = { a->llm_config, a, &env };
	if (realtime_openai.new(&rt, &pa, &rec_handlers, &rec) == 0)
		(void)realtime_openai.respond(rt, "Say hello.");
	int64_t deadline = time_mono_ms() + WAIT_MS;
	while (!errors && time_mono_ms() < deadline) {
		cJSON *log = fake_log(&h);
		cJSON *e = log ? cJSON_GetObjectItemCaseSensitive(log, "errors") : NULL;
		if (cJSON_GetArraySize(e) > 0)
			errors = cJSON_PrintUnformatted(e);
		cJSON_Delete(log);
		if (!errors)
			test_nap_ms(50);
	}
	TEST_ASSERT(errors);
	printf("    the fake saw: %s\n", errors);
	TEST_ASSERT(strstr(errors, "authorization absent"));
out:
	if (rt)
		realtime_openai.free(rt);
	free(errors);
	assistant_free(a);
	h_stop(&h);
	return err;
}

static const struct test tests[] = {
	{ "realtime_conversation", test_realtime_conversation },
	{ "realtime_hold", test_realtime_hold },
	{ "realtime_barge_in", test_realtime_barge_in },
	{ "realtime_stale_cancel", test_realtime_stale_cancel },
	{ "realtime_speech_cancel_spares_answer", test_realtime_speech_cancel_spares_answer },
	{ "realtime_cancel_waits_for_audio", test_realtime_cancel_waits_for_audio },
	{ "realtime_key_only_where_configured", test_realtime_key_only_where_configured },
};
TEST_MAIN(tests)
