/*
 * realtime_turn — the session's side of a realtime (speech to speech)
 * provider, the counterpart of turn.c for assistant mode "realtime": caller
 * audio batched into appends, "say this" and "respond" requests, cancel on
 * barge-in; the provider's callbacks become struct turn_out for the session
 * inbox, exactly as the pipeline's provider thread hands them back.
 *
 * Threads: append/say/respond/cancel are called from the session thread;
 * the handlers run on the provider's own thread and only copy and hand over.
 */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct realtime_turn {
	const struct realtime_provider *rtp;
	void *ctx;
	struct realtime_handlers h;
	const _Atomic uint64_t *gen;
	turn_out_h *out;
	void *arg;
	char call_id[ID_UUID_LEN + 1];
	int16_t buf[5 * AGENT_FRAME_SAMPLES]; /* caller audio batched per append */
	size_t nbuf;
};

static void emit(struct realtime_turn *rt, int kind, const char *text, int16_t *pcm, size_t n)
{
	struct turn_out *o = calloc(1, sizeof(*o));
	if (!o || (text && !(o->text = strdup(text)))) {
		free(o);
		free(pcm);
		return;
	}
	o->kind = kind;
	o->gen = atomic_load(rt->gen);
	o->purpose = SAY_REPLY;
	o->pcm = pcm;
	o->npcm = n;
	o->index = -1;
	o->started_at = time_now_ms();
	rt->out(o, rt->arg);
}

static void on_audio(int16_t *pcm, size_t n, void *arg)
{
	emit(arg, TURN_AUDIO, NULL, pcm, n);
}

static void on_transcript(bool agent, const char *text, void *arg)
{
	emit(arg, agent ? TURN_AGENT_TEXT : TURN_TRANSCRIPT, text, NULL, 0);
}

static void on_done(void *arg)
{
	emit(arg, TURN_JOB_DONE, NULL, NULL, 0);
}

static void on_speech(const char *over, void *arg)
{
	emit(arg, TURN_SPEECH_START, over, NULL, 0);
}

int realtime_turn_new(struct realtime_turn **rtp, const struct agent_opts *opts,
		      const struct assistant *a, const char *call_id,
		      const _Atomic uint64_t *current_gen, turn_out_h *h, void *arg)
{
	struct realtime_turn *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return ENOMEM;
	rt->rtp = &realtime_openai;
	rt->h = (struct realtime_handlers){ on_audio, on_transcript, on_done, on_speech };
	rt->gen = current_gen;
	rt->out = h;
	rt->arg = arg;
	snprintf(rt->call_id, sizeof(rt->call_id), "%s", call_id);
	struct provider_args pa = { a->llm_config, a, &opts->env };
	int err = rt->rtp->new(&rt->ctx, &pa, &rt->h, rt);
	if (err) {
		free(rt);
		return err;
	}
	*rtp = rt;
	return 0;
}

void realtime_turn_append(struct realtime_turn *rt, const int16_t frame[AGENT_FRAME_SAMPLES])
{
	memcpy(rt->buf + rt->nbuf, frame, AGENT_FRAME_SAMPLES * sizeof(int16_t));
	rt->nbuf += AGENT_FRAME_SAMPLES;
	if (rt->nbuf == CM_ARRAY_LEN(rt->buf)) {
		if (rt->rtp->append(rt->ctx, rt->buf, rt->nbuf))
			log_warn("realtime_append", "call %s: audio dropped", rt->call_id);
		rt->nbuf = 0;
	}
}

int realtime_turn_say(struct realtime_turn *rt, const char *text)
{
	char *instr = NULL;
	if (asprintf(&instr, "Say exactly this and nothing else: %s", text) < 0)
		return ENOMEM;
	int err = rt->rtp->respond(rt->ctx, instr);
	free(instr);
	return err;
}

int realtime_turn_respond(struct realtime_turn *rt, const char *instruction)
{
	return rt->rtp->respond(rt->ctx, instruction);
}

bool realtime_turn_cancel(struct realtime_turn *rt, const char *over)
{
	bool hit = false;
	if (rt->rtp->cancel(rt->ctx, over, &hit))
		log_warn("realtime_cancel", "call %s: not sent", rt->call_id);
	return hit;
}

void realtime_turn_drop_audio(struct realtime_turn *rt)
{
	rt->nbuf = 0;
}

struct realtime_turn *realtime_turn_free(struct realtime_turn *rt)
{
	if (!rt)
		return NULL;
	rt->rtp->free(rt->ctx);
	free(rt);
	return NULL;
}
