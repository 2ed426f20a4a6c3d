/* Energy voice activity detection on the caller's frames, cut into turns;
 * caller speech over the agent stops it only after barge_in_min_ms, so a
 * short "mm-hmm" never does (and is dropped, not transcribed). */
#include "agent.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEGMENT_MAX_SAMPLES ((size_t)VAD_SEGMENT_MAX_MS * AGENT_RATE / 1000)
#define MIN_TURN_MS 100 /* shorter voiced audio is a click, not a word */
#define LEAD_SAMPLES \
	((size_t)VAD_LEAD_MS * AGENT_RATE / 1000 / AGENT_FRAME_SAMPLES * AGENT_FRAME_SAMPLES)

int32_t vad_rms(const int16_t *pcm, size_t n)
{
	double acc = 0;
	for (size_t i = 0; i < n; i++)
		acc += (double)pcm[i] * pcm[i];
	return n ? (int32_t)sqrt(acc / (double)n) : 0;
}

int vad_init(struct vad *v, int threshold, int barge_in_min_ms, int end_of_speech_ms)
{
	memset(v, 0, sizeof(*v));
	v->threshold = threshold;
	v->barge_in_min_ms = barge_in_min_ms;
	v->end_of_speech_ms = end_of_speech_ms;
	v->segment = malloc(SEGMENT_MAX_SAMPLES * sizeof(int16_t));
	v->lead = malloc(LEAD_SAMPLES * sizeof(int16_t));
	if (!v->segment || !v->lead) {
		vad_fini(v);
		return ENOMEM;
	}
	return 0;
}

void vad_fini(struct vad *v)
{
	free(v->segment);
	free(v->lead);
	v->segment = v->lead = NULL;
}

/* An unvoiced frame outside speech: the newest of the lead. */
static void lead_keep(struct vad *v, const int16_t *pcm)
{
	if (v->nlead + AGENT_FRAME_SAMPLES > LEAD_SAMPLES) {
		size_t drop = v->nlead + AGENT_FRAME_SAMPLES - LEAD_SAMPLES;
		memmove(v->lead, v->lead + drop, (v->nlead - drop) * sizeof(int16_t));
		v->nlead -= drop;
	}
	memcpy(v->lead + v->nlead, pcm, AGENT_FRAME_SAMPLES * sizeof(int16_t));
	v->nlead += AGENT_FRAME_SAMPLES;
}

void vad_reset(struct vad *v)
{
	v->in_speech = v->barged = v->over_agent = false;
	v->voiced_ms = v->silence_ms = 0;
	v->nsegment = 0;
	v->nlead = 0;
}

enum vad_result vad_feed(struct vad *v, const int16_t pcm[AGENT_FRAME_SAMPLES], bool agent_speaking,
			 int64_t now_wall_ms)
{
	bool voiced = vad_rms(pcm, AGENT_FRAME_SAMPLES) >= v->threshold;
	if (!v->in_speech) {
		if (!voiced) {
			lead_keep(v, pcm);
			return VAD_NONE;
		}
		size_t nlead = v->nlead;
		v->nlead = 0;
		vad_reset(v);
		v->in_speech = true;
		v->over_agent = agent_speaking;
		v->started_at = now_wall_ms;
		memcpy(v->segment, v->lead, nlead * sizeof(int16_t)); /* lead < segment */
		v->nsegment = nlead;
	}
	if (v->nsegment + AGENT_FRAME_SAMPLES <= SEGMENT_MAX_SAMPLES) {
		memcpy(v->segment + v->nsegment, pcm, AGENT_FRAME_SAMPLES * sizeof(int16_t));
		v->nsegment += AGENT_FRAME_SAMPLES;
	}
	if (voiced) {
		v->voiced_ms += AGENT_FRAME_MS;
		v->silence_ms = 0;
	} else {
		v->silence_ms += AGENT_FRAME_MS;
	}
	if (agent_speaking)
		v->over_agent = true;
	if (agent_speaking && !v->barged && v->voiced_ms >= v->barge_in_min_ms) {
		v->barged = true;
		return VAD_BARGE_IN;
	}
	bool full = v->nsegment + AGENT_FRAME_SAMPLES > SEGMENT_MAX_SAMPLES;
	if (v->silence_ms < v->end_of_speech_ms && !full)
		return VAD_NONE;
	v->in_speech = false;
	if (v->voiced_ms < MIN_TURN_MS ||
	    (v->over_agent && !v->barged && v->voiced_ms < v->barge_in_min_ms))
		return VAD_DROPPED;
	return VAD_SEGMENT;
}
