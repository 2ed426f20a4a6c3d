/* One call leg's transcoder: G.711 8 kHz ⇄ Opus 48 kHz, 20 ms frames.
 * Each direction keeps its own resampler (filter history) and codec state. */
#include "media/media.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RATE_8K   8000
#define RATIO     (MEDIA_OPUS_RATE / RATE_8K)

struct transcoder {
	enum g711_law law;
	struct resampler *up;           /* 8k → 48k */
	struct resampler *down;         /* 48k → 8k */
	struct media_opus_enc *enc;
	struct media_opus_dec *dec;
	int16_t pcm8[MEDIA_OPUS_MAX_FRAME / RATIO];
	int16_t pcm48[MEDIA_OPUS_MAX_FRAME];
};

static const struct transcoder_cfg xcode_defaults = {
	.law = G711_ULAW,
	.opus = { .bitrate = 24000,
		  .loss_pct = 10,
		  .complexity = 5,
		  .max_bandwidth = MEDIA_OPUS_NB },
	.resampler_quality = RESAMPLER_QUALITY_VOIP,
};

int transcoder_new(struct transcoder **tp, const struct transcoder_cfg *cfg)
{
	int err = 0;
	struct transcoder *t = NULL;
	if (!tp)
		return EINVAL;
	const struct transcoder_cfg *c = cfg ? cfg : &xcode_defaults;
	if (c->law != G711_ULAW && c->law != G711_ALAW)
		return EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t) {
		err = ENOMEM;
		goto out;
	}
	t->law = c->law;
	if ((err = resampler_new(&t->up, RATE_8K, MEDIA_OPUS_RATE, c->resampler_quality)) ||
	    (err = resampler_new(&t->down, MEDIA_OPUS_RATE, RATE_8K, c->resampler_quality)) ||
	    (err = media_opus_enc_new(&t->enc, &c->opus)) ||
	    (err = media_opus_dec_new(&t->dec)))
		goto out;
	*tp = t;
	t = NULL;
out:
	transcoder_free(t);
	return err;
}

struct transcoder *transcoder_free(struct transcoder *t)
{
	if (t) {
		resampler_free(t->up);
		resampler_free(t->down);
		media_opus_enc_free(t->enc);
		media_opus_dec_free(t->dec);
		free(t);
	}
	return NULL;
}

int transcoder_to_opus(struct transcoder *t, uint8_t *out, size_t cap, size_t *lenp,
		       const uint8_t *g711, size_t g711_len)
{
	if (!t || !out || !lenp)
		return EINVAL;
	if (g711 && g711_len != G711_FRAME_SAMPLES)
		return EINVAL;
	if (g711)
		g711_decode(t->law, t->pcm8, g711, G711_FRAME_SAMPLES);
	else
		memset(t->pcm8, 0, G711_FRAME_SAMPLES * sizeof(t->pcm8[0]));
	size_t n48 = MEDIA_OPUS_FRAME;
	int err = resampler_process(t->up, t->pcm48, &n48, t->pcm8, G711_FRAME_SAMPLES);
	if (err)
		return err;
	if (n48 < MEDIA_OPUS_FRAME) /* the resampler keeps exact ratios; be safe */
		memset(t->pcm48 + n48, 0, (MEDIA_OPUS_FRAME - n48) * sizeof(t->pcm48[0]));
	return media_opus_encode(t->enc, out, cap, lenp, t->pcm48);
}

static int downlink(struct transcoder *t, uint8_t *out, size_t cap, size_t *lenp, size_t n48)
{
	size_t n8 = CM_ARRAY_LEN(t->pcm8);
	int err = resampler_process(t->down, t->pcm8, &n8, t->pcm48, n48);
	if (err)
		return err;
	if (n8 > cap)
		return EMSGSIZE;
	g711_encode(t->law, out, t->pcm8, n8);
	*lenp = n8;
	return 0;
}

int transcoder_to_g711(struct transcoder *t, uint8_t *out, size_t cap, size_t *lenp,
		       const uint8_t *opus, size_t opus_len)
{
	if (!t || !out || !lenp || !opus || opus_len == 0)
		return EINVAL;
	size_t n48 = 0;
	int err = media_opus_decode(t->dec, t->pcm48, CM_ARRAY_LEN(t->pcm48), &n48, opus, opus_len);
	if (err)
		return err;
	return downlink(t, out, cap, lenp, n48);
}

int transcoder_conceal_to_g711(struct transcoder *t, uint8_t *out, size_t cap, size_t *lenp,
			       const uint8_t *next, size_t next_len)
{
	if (!t || !out || !lenp)
		return EINVAL;
	int err = media_opus_conceal(t->dec, t->pcm48, MEDIA_OPUS_FRAME, next, next_len);
	if (err)
		return err;
	return downlink(t, out, cap, lenp, MEDIA_OPUS_FRAME);
}

int transcoder_delay_8k(const struct transcoder *t)
{
	/* up's latency is in 48 kHz samples, down's in 8 kHz samples */
	return resampler_latency(t->up) / RATIO + resampler_latency(t->down);
}
