/*
 * The openai providers against tests/agent/fake_openai.mjs (a separate
 * process that checks request shapes and streams like the real API): the
 * transcription upload, the streamed chat completion spoken sentence by
 * sentence before the stream ends, speech synthesis, and a whole session on
 * a real nats-server running on them.
 */
#include "agent-worker/agent.h"
#include "harness/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define WAIT_MS 15000

struct fake {
	int pid, port;
	char base[64];
};

static int fake_start(struct fake *f)
{
	char port[16];
	f->port = test_free_port();
	snprintf(port, sizeof(port), "%d", f->port);
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d/v1", f->port);
	const char *argv[] = { "node", "tests/agent/fake_openai.mjs", port, "test-key", NULL };
	int err = test_spawn(&f->pid, argv, NULL, NULL);
	if (err)
		return err;
	char url[96];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_health", f->port);
	return test_http_wait(url, 200, 10000);
}

static void fake_stop(struct fake *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		int code;
		if (test_wait_exit(f->pid, 5000, &code))
			test_kill(f->pid);
	}
	f->pid = 0;
}

/* The fake's request log, parsed. */
static cJSON *fake_requests(struct fake *f)
{
	char url[96], *body = NULL;
	long status = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_requests", f->port);
	if (test_http(&status, &body, "GET", url, NULL, NULL) || status != 200) {
		free(body);
		return NULL;
	}
	cJSON *j = cJSON_Parse(body);
	free(body);
	return j;
}

static const cJSON *last_request(const cJSON *log, const char *path)
{
	const cJSON *it, *found = NULL;
	cJSON_ArrayForEach(it, log) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "path");
		if (cJSON_IsString(p) && strcmp(p->valuestring, path) == 0)
			found = it;
	}
	return found;
}

static const char *str_of(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int test_transcription_upload(void)
{
	int err = 0;
	struct fake f = { 0 };
	struct assistant *a = NULL;
	void *ctx = NULL;
	char why[160], *text = NULL;
	int16_t pcm[AGENT_RATE];
	cJSON *cfg = NULL, *log = NULL;
	struct addrinfo *ai = NULL;
	TEST_EQ_INT(fake_start(&f), 0);
	struct provider_env env = { f.base, "test-key", true };
	cfg = cJSON_Parse("{\"stt_config\":{\"provider\":\"openai\",\"model\":\"whisper-1\"}}");
	TEST_EQ_INT(assistant_parse(&a, cfg, why, sizeof(why)), 0);
	struct provider_args pa = { a->stt_config, a, &env };
	TEST_EQ_INT(stt_openai.new(&ctx, &pa), 0);
	for (int i = 0; i < AGENT_RATE; i++)
		pcm[i] = (int16_t)(4000 * sin(i * 0.1));
	TEST_EQ_INT(stt_openai.transcribe(ctx, &text, pcm, AGENT_RATE), 0);
	TEST_EQ_STR(text, "what are your hours");
	log = fake_requests(&f);
	const cJSON *r = last_request(log, "/v1/audio/transcriptions");
	TEST_ASSERT(r);
	TEST_EQ_STR(str_of(r, "model"), "whisper-1");
	TEST_EQ_INT(cJSON_GetObjectItemCaseSensitive(r, "sample_rate")->valueint, 16000);
	TEST_EQ_INT(cJSON_GetObjectItemCaseSensitive(r, "bits")->valueint, 16);
	TEST_EQ_INT(cJSON_GetObjectItemCaseSensitive(r, "bytes")->valueint, 2 * AGENT_RATE);
	/* a wrong key is an error, not a transcript */
	stt_openai.free(ctx);
	ctx = NULL;
	struct provider_env bad = { f.base, "wrong", true };
	pa.env = &bad;
	TEST_EQ_INT(stt_openai.new(&ctx, &pa), 0);
	free(text);
	text = NULL;
	TEST_EQ_INT(stt_openai.transcribe(ctx, &text, pcm, AGENT_RATE), EIO);
	/* issue 13 finding 10: without OUTBOUND_ALLOW_PRIVATE a base URL on
	 * loopback is refused at open, and a name resolving to loopback at
	 * connect time: the fake server sees no request */
	stt_openai.free(ctx);
	ctx = NULL;
	cJSON_Delete(log);
	log = fake_requests(&f);
	int before = cJSON_GetArraySize(log);
	struct provider_env strict = { f.base, "test-key", false };
	pa.env = &strict;
	TEST_EQ_INT(stt_openai.new(&ctx, &pa), EACCES);
	char host[256] = "", named[300];
	const char *port = strrchr(f.base, ':');
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	if (port && gethostname(host, sizeof(host) - 1) == 0 &&
	    getaddrinfo(host, NULL, &hints, &ai) == 0 &&
	    ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
		snprintf(named, sizeof(named), "http://%s%s", host, port);
		struct provider_env by_name = { named, "test-key", false };
		pa.env = &by_name;
		TEST_EQ_INT(stt_openai.new(&ctx, &pa), 0);
		free(text);
		text = NULL;
		TEST_EQ_INT(stt_openai.transcribe(ctx, &text, pcm, AGENT_RATE), EIO);
	}
	cJSON_Delete(log);
	log = fake_requests(&f);
	TEST_EQ_INT(cJSON_GetArraySize(log), before);
out:
	if (ai)
		freeaddrinfo(ai);
	if (ctx)
		stt_openai.free(ctx);
	free(text);
	cJSON_Delete(cfg);
	cJSON_Delete(log);
	assistant_free(a);
	fake_stop(&f);
	return err;
}

struct sentences {
	char text[4][128];
	int64_t at_ms[4];
	int n;
};

static int on_sentence(const char *s, void *arg)
{
	struct sentences *w = arg;
	if (w->n < 4) {
		snprintf(w->text[w->n], sizeof(w->text[0]), "%s", s);
		w->at_ms[w->n] = time_mono_ms();
		w->n++;
	}
	return 0;
}

/* Tokens are spoken as sentences complete: the first sentence is handed on
 * while the stream is still paused before the second. */
static int test_chat_stream_by_sentence(void)
{
	int err = 0;
	struct fake f = { 0 };
	struct assistant *a = NULL;
	void *ctx = NULL;
	char why[160];
	cJSON *cfg = NULL, *log = NULL;
	struct sentences w = { 0 };
	TEST_EQ_INT(fake_start(&f), 0);
	struct provider_env env = { f.base, "test-key", true };
	cfg = cJSON_Parse("{\"llm_config\":{\"provider\":\"openai\",\"model\":\"gpt-test\"}}");
	TEST_EQ_INT(assistant_parse(&a, cfg, why, sizeof(why)), 0);
	struct provider_args pa = { a->llm_config, a, &env };
	TEST_EQ_INT(llm_openai.new(&ctx, &pa), 0);
	struct llm_msg msgs[] = { { "system", "You are the clinic." },
				  { "user", "what are your hours" } };
	int64_t t0 = time_mono_ms();
	TEST_EQ_INT(llm_openai.reply(ctx, msgs, 2, on_sentence, &w), 0);
	int64_t t1 = time_mono_ms();
	TEST_EQ_INT(w.n, 2);
	TEST_EQ_STR(w.text[0], "We are open nine to five.");
	TEST_EQ_STR(w.text[1], "Anything else today?");
	TEST_ASSERT(t1 - t0 >= 600);
	TEST_ASSERT(t1 - w.at_ms[0] >= 500); /* the first sentence did not wait for the pause */
	log = fake_requests(&f);
	const cJSON *r = last_request(log, "/v1/chat/completions");
	TEST_ASSERT(r);
	TEST_EQ_STR(str_of(r, "model"), "gpt-test");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "messages");
	TEST_EQ_INT(cJSON_GetArraySize(m), 2);
	TEST_EQ_STR(str_of(cJSON_GetArrayItem(m, 1), "role"), "user");
	TEST_EQ_STR(str_of(cJSON_GetArrayItem(m, 1), "content"), "what are your hours");
out:
	if (ctx)
		llm_openai.free(ctx);
	cJSON_Delete(cfg);
	cJSON_Delete(log);
	assistant_free(a);
	fake_stop(&f);
	return err;
}

static int test_speech_synthesis(void)
{
	int err = 0;
	struct fake f = { 0 };
	struct assistant *a = NULL;
	void *ctx = NULL;
	char why[160];
	int16_t *pcm = NULL;
	size_t n = 0;
	cJSON *cfg = NULL, *log = NULL;
	TEST_EQ_INT(fake_start(&f), 0);
	struct provider_env env = { f.base, "test-key", true };
	cfg = cJSON_Parse("{\"tts_config\":{\"provider\":\"openai\",\"model\":\"tts-1\",\"voice\":"
			  "\"nova\"}}");
	TEST_EQ_INT(assistant_parse(&a, cfg, why, sizeof(why)), 0);
	struct provider_args pa = { a->tts_config, a, &env };
	TEST_EQ_INT(tts_openai.new(&ctx, &pa), 0);
	TEST_EQ_INT(tts_openai.synth(ctx, &pcm, &n, "Hello."), 0);
	/* 6 characters × 50 ms at 24 kHz, resampled to 16 kHz */
	TEST_EQ_INT(n, 6 * 1200 * 2 / 3);
	TEST_ASSERT(vad_rms(pcm, n) > 4000);
	log = fake_requests(&f);
	const cJSON *r = last_request(log, "/v1/audio/speech");
	TEST_ASSERT(r);
	TEST_EQ_STR(str_of(r, "voice"), "nova");
	TEST_EQ_STR(str_of(r, "input"), "Hello.");
out:
	if (ctx)
		tts_openai.free(ctx);
	free(pcm);
	cJSON_Delete(cfg);
	cJSON_Delete(log);
	assistant_free(a);
	fake_stop(&f);
	return err;
}

/* ---- a whole session on the openai providers ---------------------------- */

struct seen {
	pthread_mutex_t mu;
	char agent[8][128];
	int nagent;
	char user[128];
	int nuser;
};

static void on_event(const struct bus_msg *msg, void *arg)
{
	struct seen *s = arg;
	struct event *ev = NULL;
	if (event_decode(&ev, msg->data, (size_t)msg->len, NULL, 0))
		return;
	if (ev->type == EV_TRANSCRIPT) {
		const char *sp = event_get_str(ev, "speaker"), *tx = event_get_str(ev, "text");
		pthread_mutex_lock(&s->mu);
		if (sp && tx && strcmp(sp, "agent") == 0 && s->nagent < 8)
			snprintf(s->agent[s->nagent++], sizeof(s->agent[0]), "%s", tx);
		else if (sp && tx && strcmp(sp, "user") == 0)
			snprintf(s->user, sizeof(s->user), "%s", tx), s->nuser++;
		pthread_mutex_unlock(&s->mu);
	}
	event_free(ev);
}

static bool wait_agent_lines(struct seen *s, int n, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		int k = s->nagent;
		pthread_mutex_unlock(&s->mu);
		if (k >= n)
			return true;
		if (time_mono_ms() > end)
			return false;
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
}

static int test_session_on_openai(void)
{
	int err = 0;
	struct fake f = { 0 };
	struct test_nats nats = { 0 };
	struct bus *bus = NULL, *tbus = NULL;
	struct bus_sub *sub = NULL;
	struct room_record_hub *hub = NULL;
	struct agent *agent = NULL;
	struct seen seen = { .mu = PTHREAD_MUTEX_INITIALIZER };
	char call_id[ID_UUID_LEN + 1], room[64], *body = NULL, *reply = NULL;
	int16_t speech[AGENT_RATE * 2];
	TEST_EQ_INT(fake_start(&f), 0);
	TEST_EQ_INT(test_nats_start(&nats), 0);
	TEST_EQ_INT(bus_connect(&bus, nats.url, "agent"), 0);
	TEST_EQ_INT(bus_connect(&tbus, nats.url, "test"), 0);
	TEST_EQ_INT(bus_ensure_streams(bus), 0);
	TEST_EQ_INT(room_record_hub_new(&hub), 0);
	TEST_EQ_INT(bus_subscribe(tbus, &sub, "calls.>", NULL, on_event, &seen), 0);
	struct agent_opts opts = {
		.bus = bus,
		.source = "agent-worker/test",
		.room = &room_record_backend,
		.room_ctx = hub,
		.max_sessions = 2,
		.answer_timeout_ms = 10000,
		.env = { f.base, "test-key", true },
		.recording_attempts = 1,
		.recording_backoff_ms = 10,
		.recording_timeout_ms = 200,
	};
	TEST_EQ_INT(agent_new(&agent, &opts), 0);
	TEST_EQ_INT(id_uuid4(call_id), 0);
	snprintf(room, sizeof(room), "call-%s", call_id);
	TEST_ASSERT(asprintf(&body,
			     "{\"v\":1,\"call_id\":\"%s\",\"room\":\"%s\",\"kind\":\"web\","
			     "\"wait_for_answer\":false,\"assistant\":{\"prompt\":\"You are the "
			     "clinic.\","
			     "\"start_instruction\":\"Hi.\",\"interaction_config\":{\"silence_"
			     "timeout_s\":60,"
			     "\"recording\":false,\"fillers_enabled\":false},"
			     "\"stt_config\":{\"provider\":\"openai\"},\"llm_config\":{"
			     "\"provider\":\"openai\"},"
			     "\"tts_config\":{\"provider\":\"openai\"}},\"metadata\":{}}",
			     call_id, room) > 0);
	TEST_EQ_INT(bus_request(tbus, &reply, NULL, "agents.dispatch", body, strlen(body), 5000),
		    0);
	TEST_CONTAINS(reply, "\"ok\":true");
	TEST_ASSERT(wait_agent_lines(&seen, 1, WAIT_MS));
	TEST_EQ_STR(seen.agent[0], "Hi.");
	/* one second of "speech" (a loud tone) then silence: the fake hears its line */
	memset(speech, 0, sizeof(speech));
	for (int i = 0; i < AGENT_RATE; i++)
		speech[i] = (int16_t)(6000 * sin(2 * M_PI * 200.0 * i / AGENT_RATE));
	size_t before = room_record_count(hub, room);
	TEST_EQ_INT(room_record_inject(hub, room, speech, CM_ARRAY_LEN(speech)), 0);
	TEST_ASSERT(wait_agent_lines(&seen, 3, WAIT_MS));
	TEST_EQ_STR(seen.user, "what are your hours");
	TEST_EQ_STR(seen.agent[1], "We are open nine to five.");
	TEST_EQ_STR(seen.agent[2], "Anything else today?");
	TEST_ASSERT(room_record_count(hub, room) > before);
out:
	free(body);
	free(reply);
	agent = agent_free(agent);
	sub = bus_unsubscribe(sub);
	bus = bus_close(bus);
	tbus = bus_close(tbus);
	hub = room_record_hub_free(hub);
	test_nats_destroy(&nats);
	fake_stop(&f);
	return err;
}

static int test_curl_setup(void)
{
	int err = 0;
	TEST_EQ_INT(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
out:
	return err;
}

static const struct test tests[] = {
	{ "curl_setup", test_curl_setup },
	{ "transcription_upload", test_transcription_upload },
	{ "chat_stream_by_sentence", test_chat_stream_by_sentence },
	{ "speech_synthesis", test_speech_synthesis },
	{ "session_on_openai", test_session_on_openai },
};
TEST_MAIN(tests)
