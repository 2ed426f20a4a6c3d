/* libFuzzer target for the OpenAI Realtime adapter's reading of server
 * events (services/agent-worker/provider_realtime.c): a session without a
 * connection (realtime_openai_offline_new) is fed the input line by line:
 * each line is one text frame from the server, except four one-byte lines
 * that are our own calls in between: "\x01" respond, "\x02" cancel,
 * "\x03" append 20 ms of caller audio, "\x04" cancel what the last
 * speech_started named.
 *
 * Besides the sanitizers, a small model of the cancel rule (rt_cancel and
 * response.created in provider_realtime.c) checks that audio and agent
 * transcripts of a response we cancelled never reach the handlers. */
#include "agent-worker/provider.h"
#include "agent-worker/agent_room.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ID_MAX 64 /* provider_realtime.c keeps ids of up to 63 bytes */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct model {
	char active[ID_MAX], cancelled[ID_MAX];
	int requested;
	bool cancel_next;
	const char *frame_rid; /* response_id of the frame being handled */
	unsigned audio, transcripts, done, speech;
	char over[ID_MAX]; /* what the last speech_started named */
	bool heard;
};

static bool is_cancelled(const struct model *m)
{
	return m->frame_rid && m->cancelled[0] && strcmp(m->frame_rid, m->cancelled) == 0;
}

static void on_audio(int16_t *pcm, size_t n, void *arg)
{
	struct model *m = arg;
	volatile int16_t sink = 0;
	/* n may be 0: a delta of one 24 kHz sample resamples to none */
	if (!pcm || is_cancelled(m))
		abort();
	for (size_t i = 0; i < n; i++)
		sink ^= pcm[i];
	(void)sink;
	free(pcm);
	m->audio++;
}

static void on_transcript(bool agent, const char *text, void *arg)
{
	struct model *m = arg;
	if (!text || !text[0] || (agent && is_cancelled(m)))
		abort();
	m->transcripts++;
}

static void on_done(void *arg)
{
	((struct model *)arg)->done++;
}

static void on_speech(const char *over, void *arg)
{
	struct model *m = arg;
	/* the response playing when the caller was heard, as the model has it */
	if (!over || strcmp(over, m->active) != 0)
		abort();
	memcpy(m->over, m->active, ID_MAX);
	m->heard = true;
	m->speech++;
}

static const struct realtime_handlers handlers = { on_audio, on_transcript, on_done, on_speech };

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void copy_id(char out[ID_MAX], const char *id)
{
	size_t n = id ? strnlen(id, ID_MAX - 1) : 0;
	memcpy(out, id ? id : "", n);
	out[n] = '\0';
}

/* A delta that decodes to at least three samples whatever else is odd:
 * unpadded base64 of at least 8 characters. */
static bool plain_delta(const char *b64)
{
	size_t n = b64 ? strlen(b64) : 0;
	if (n < 8 || n % 4)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = b64[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	return true;
}

static void frame(void *ctx, struct model *m, const char *p, size_t n)
{
	cJSON *j = cJSON_ParseWithLength(p, n);
	const char *type = jstr(j, "type");
	m->frame_rid = jstr(j, "response_id");
	/* and the other way: audio of a response not cancelled is not lost */
	bool must_play = type && strcmp(type, "response.audio.delta") == 0 &&
			 plain_delta(jstr(j, "delta")) && !is_cancelled(m);
	unsigned before = m->audio;
	realtime_openai_receive(ctx, p, n);
	if (must_play && m->audio == before)
		abort();
	m->frame_rid = NULL;
	if (type && strcmp(type, "response.created") == 0) {
		copy_id(m->active, jstr(cJSON_GetObjectItemCaseSensitive(j, "response"), "id"));
		if (m->requested > 0)
			m->requested--;
		if (m->cancel_next && m->active[0]) {
			m->cancel_next = false;
			memcpy(m->cancelled, m->active, ID_MAX);
		}
	} else if (type && strcmp(type, "response.done") == 0) {
		m->active[0] = '\0';
	}
	cJSON_Delete(j);
}

/* over: NULL, or what speech_started named */
static void cancel(void *ctx, struct model *m, const char *over)
{
	/* EAGAIN when the queue is full: state moved anyway */
	bool hit = false, target = m->active[0] && (!over || strcmp(over, m->active) == 0);
	(void)realtime_openai.cancel(ctx, over, &hit);
	bool want = false;
	if (target && strcmp(m->active, m->cancelled) != 0) {
		memcpy(m->cancelled, m->active, ID_MAX);
		want = true;
	} else if (!m->active[0] && !over && m->requested > 0) {
		m->cancel_next = want = true;
	}
	if (hit != want)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model m;
	void *ctx = NULL;
	memset(&m, 0, sizeof(m));
	/* an exact-size copy, so sanitizers see reads past the end */
	char *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (realtime_openai_offline_new(&ctx, &handlers, &m) != 0)
		goto out;
	int16_t pcm[AGENT_RATE / 50];
	for (size_t i = 0; i < sizeof(pcm) / sizeof(pcm[0]); i++)
		pcm[i] = (int16_t)(i * 611);
	for (size_t at = 0; at < size;) {
		const char *nl = memchr(copy + at, '\n', size - at);
		size_t n = nl ? (size_t)(nl - (copy + at)) : size - at;
		const char *line = copy + at;
		if (n == 1 && line[0] == 1) {
			if (realtime_openai.respond(ctx, NULL) == 0)
				m.requested++;
		} else if (n == 1 && line[0] == 2) {
			cancel(ctx, &m, NULL);
		} else if (n == 1 && line[0] == 4) {
			if (m.heard)
				cancel(ctx, &m, m.over);
		} else if (n == 1 && line[0] == 3) {
			(void)realtime_openai.append(ctx, pcm, sizeof(pcm) / sizeof(pcm[0]));
		} else {
			frame(ctx, &m, line, n);
		}
		at += n + 1;
	}
out:
	if (ctx)
		realtime_openai.free(ctx);
	free(copy);
	return 0;
}
