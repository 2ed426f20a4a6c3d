/* The local room recorder: per member a jitter buffer and an Opus decoder,
 * mixed every 20 ms into callers (left) and agents (right), resampled to
 * REC_RATE and appended to a WAV file. Runs on the forwarder thread. */
#include "recorder.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "media/media.h"
#include "room/room.h"

#define REC_OUT_MAX (ROOM_FRAME_SAMPLES) /* resampler output capacity per channel */

struct track {
	bool used, agent;
	uint32_t ssrc;
	struct jbuf *jb;
	struct media_opus_dec *dec;
};

struct recorder {
	struct room_wav *wav;
	struct resampler *rs[REC_CHANNELS];
	struct track tracks[REC_TRACKS_MAX];
	int err;                /* first write error; later frames are not written */
};

int recorder_new(struct recorder **rp, const char *path)
{
	struct recorder *r = calloc(1, sizeof(*r));
	int err = r ? 0 : ENOMEM;
	if (!err)
		err = room_wav_open(&r->wav, path, REC_RATE, REC_CHANNELS);
	for (int c = 0; !err && c < REC_CHANNELS; c++)
		err = resampler_new(&r->rs[c], ROOM_RATE, REC_RATE, RESAMPLER_QUALITY_VOIP);
	if (err) {
		if (r && r->wav && room_wav_close(r->wav))
			log_debug("recording_close_failed", "%s", path);
		if (r)
			r->wav = NULL;
		if (recorder_close(r))
			log_debug("recording_close_failed", "%s", path);
		return err;
	}
	*rp = r;
	return 0;
}

static struct track *track_get(struct recorder *r, uint32_t ssrc, bool agent)
{
	static const struct jbuf_cfg cfg = {
		.clock_rate = MEDIA_OPUS_RATE, .frame_ms = ROOM_FRAME_MS,
		.min_ms = 20, .max_ms = 200, .capacity = 64,
	};
	struct track *free_slot = NULL;
	for (size_t i = 0; i < REC_TRACKS_MAX; i++) {
		struct track *t = &r->tracks[i];
		if (t->used && t->ssrc == ssrc)
			return t;
		if (!t->used && !free_slot)
			free_slot = t;
	}
	if (!free_slot || jbuf_new(&free_slot->jb, &cfg))
		return NULL;
	if (media_opus_dec_new(&free_slot->dec)) {
		free_slot->jb = jbuf_free(free_slot->jb);
		return NULL;
	}
	free_slot->used = true;
	free_slot->ssrc = ssrc;
	free_slot->agent = agent;
	return free_slot;
}

static void track_clear(struct track *t)
{
	jbuf_free(t->jb);
	media_opus_dec_free(t->dec);
	memset(t, 0, sizeof(*t));
}

void recorder_put(struct recorder *r, uint32_t ssrc, bool agent, const uint8_t *pkt, size_t len,
		  int64_t now_us)
{
	struct rtp_packet p;
	if (rtp_parse(&p, pkt, len))
		return;
	struct track *t = track_get(r, ssrc, agent);
	if (t && jbuf_put(t->jb, &p, now_us))
		return; /* duplicate, late or oversized: nothing to record */
}

void recorder_forget(struct recorder *r, uint32_t ssrc)
{
	for (size_t i = 0; i < REC_TRACKS_MAX; i++)
		if (r->tracks[i].used && r->tracks[i].ssrc == ssrc)
			track_clear(&r->tracks[i]);
}

static void clip(int16_t *out, const int32_t *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (int16_t)(in[i] > 32767 ? 32767 : in[i] < -32768 ? -32768 : in[i]);
}

void recorder_tick(struct recorder *r)
{
	int32_t mix[REC_CHANNELS][ROOM_FRAME_SAMPLES];
	int16_t pcm[MEDIA_OPUS_MAX_FRAME], ch[ROOM_FRAME_SAMPLES];
	int16_t out[REC_CHANNELS][REC_OUT_MAX], inter[REC_OUT_MAX * REC_CHANNELS];
	size_t nout[REC_CHANNELS];
	struct jbuf_frame f;
	memset(mix, 0, sizeof(mix));
	for (size_t i = 0; i < REC_TRACKS_MAX; i++) {
		struct track *t = &r->tracks[i];
		if (!t->used)
			continue;
		jbuf_get(t->jb, &f);
		size_t n = 0;
		if (f.status == JBUF_FRAME) {
			if (media_opus_decode(t->dec, pcm, CM_ARRAY_LEN(pcm), &n, f.data, f.len))
				n = 0;
		} else if (f.status == JBUF_LOSS &&
			   media_opus_conceal(t->dec, pcm, ROOM_FRAME_SAMPLES, f.fec_data,
					      f.fec_len) == 0) {
			n = ROOM_FRAME_SAMPLES;
		}
		if (n > ROOM_FRAME_SAMPLES)
			n = ROOM_FRAME_SAMPLES;
		for (size_t k = 0; k < n; k++)
			mix[t->agent ? 1 : 0][k] += pcm[k];
	}
	for (int c = 0; c < REC_CHANNELS; c++) {
		clip(ch, mix[c], ROOM_FRAME_SAMPLES);
		nout[c] = REC_OUT_MAX;
		if (resampler_process(r->rs[c], out[c], &nout[c], ch, ROOM_FRAME_SAMPLES))
			nout[c] = 0;
	}
	size_t frames = nout[0] < nout[1] ? nout[0] : nout[1];
	for (size_t k = 0; k < frames; k++)
		for (int c = 0; c < REC_CHANNELS; c++)
			inter[k * REC_CHANNELS + (size_t)c] = out[c][k];
	if (r->err || frames == 0)
		return;
	r->err = room_wav_write(r->wav, inter, frames);
	if (r->err)
		log_error("recording_write_failed", "%s", cm_strerror(r->err));
}

double recorder_seconds(const struct recorder *r)
{
	return (double)room_wav_frames(r->wav) / REC_RATE;
}

int recorder_close(struct recorder *r)
{
	if (!r)
		return 0;
	int err = room_wav_close(r->wav);
	if (!err)
		err = r->err;
	for (size_t i = 0; i < REC_TRACKS_MAX; i++)
		if (r->tracks[i].used)
			track_clear(&r->tracks[i]);
	for (int c = 0; c < REC_CHANNELS; c++)
		resampler_free(r->rs[c]);
	free(r);
	return err;
}
