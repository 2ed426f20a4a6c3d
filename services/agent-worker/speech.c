/*
 * speech — the agent's outgoing speech: a queue of utterances sent one
 * 20 ms frame at a time on the audio clock. Session thread only (it is the
 * one sender of audio); the hold signal it checks before every frame is
 * raised by the NATS thread (modes.h), so a hold stops speech within one
 * frame even before the session handles it.
 */
#include "agent.h"

#include <stdlib.h>
#include <string.h>

#define CATCH_UP_FRAMES 3 /* frames sent at most per wake when late */

struct utterance {
	struct utterance *next;
	int16_t *pcm;
	size_t n, pos;
	bool owned;      /* fillers are borrowed from the session */
	char *text;
	enum say_purpose purpose;
};

void speech_init(struct speech *sp, const struct speech_out *out)
{
	memset(sp, 0, sizeof(*sp));
	sp->out = out;
}

static void utterance_free(struct utterance *u)
{
	if (u->owned)
		free(u->pcm);
	free(u->text);
	free(u);
}

void speech_stop(struct speech *sp)
{
	while (sp->head) {
		struct utterance *u = sp->head;
		sp->head = u->next;
		utterance_free(u);
	}
	sp->tail = NULL;
	if (sp->speaking) {
		sp->speaking = false;
		sp->out->speaking(false, sp->out->arg);
	}
}

void speech_queue(struct speech *sp, int16_t *pcm, size_t n, bool owned, const char *text,
		  enum say_purpose purpose)
{
	struct utterance *u = calloc(1, sizeof(*u));
	if (!u || !n) {
		if (owned)
			free(pcm);
		free(u);
		return;
	}
	u->pcm = pcm;
	u->n = n;
	u->owned = owned;
	u->text = text ? strdup(text) : NULL;
	u->purpose = purpose;
	if (sp->tail)
		sp->tail->next = u;
	else
		sp->head = u;
	sp->tail = u;
}

void speech_pump(struct speech *sp, int64_t now)
{
	const struct speech_out *out = sp->out;
	if (!sp->head)
		return;
	if (!sp->speaking) {
		sp->speaking = true;
		sp->next_frame_at = now;
		out->speaking(true, out->arg);
	}
	if (now - sp->next_frame_at > CATCH_UP_FRAMES * AGENT_FRAME_MS)
		sp->next_frame_at = now;
	for (int i = 0; i < CATCH_UP_FRAMES && sp->head && now >= sp->next_frame_at; i++) {
		struct utterance *u = sp->head;
		int16_t frame[AGENT_FRAME_SAMPLES];
		if (hold_signal_held(out->hold))
			return; /* the hold is being processed: not one more frame */
		if (u->pos == 0 && u->text)
			out->said(u->text, out->arg);
		size_t n = u->n - u->pos < AGENT_FRAME_SAMPLES ? u->n - u->pos
							       : AGENT_FRAME_SAMPLES;
		memset(frame, 0, sizeof(frame));
		memcpy(frame, u->pcm + u->pos, n * sizeof(int16_t));
		if (hold_signal_held(out->hold))
			return; /* it may have come while the transcript was published */
		out->send(frame, out->arg);
		u->pos += n;
		sp->next_frame_at += AGENT_FRAME_MS;
		if (u->pos >= u->n) {
			sp->head = u->next;
			if (!sp->head)
				sp->tail = NULL;
			utterance_free(u);
		}
	}
	if (!sp->head) {
		sp->speaking = false;
		out->speaking(false, out->arg);
	}
}

bool speech_speaking(const struct speech *sp)
{
	return sp->speaking;
}

bool speech_queued(const struct speech *sp)
{
	return sp->head != NULL;
}

int64_t speech_wake(const struct speech *sp, int64_t now, int64_t wake)
{
	if (sp->head && sp->speaking && sp->next_frame_at < wake)
		wake = sp->next_frame_at;
	if (sp->head && !sp->speaking)
		wake = now;
	return wake;
}
