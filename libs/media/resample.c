/* 8 kHz ⇄ 48 kHz (any rates) with the speexdsp resampler; one object per
 * direction since it carries the filter history across frames. */
#include "media/media.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <speex/speex_resampler.h>

struct resampler {
	SpeexResamplerState *st;
	uint32_t in_rate, out_rate;
};

int resampler_new(struct resampler **rp, uint32_t in_rate, uint32_t out_rate, int quality)
{
	int err = 0;
	struct resampler *r = NULL;
	if (!rp || in_rate == 0 || out_rate == 0 || quality > SPEEX_RESAMPLER_QUALITY_MAX)
		return EINVAL;
	if (quality < 0)
		quality = RESAMPLER_QUALITY_VOIP;
	r = calloc(1, sizeof(*r));
	if (!r) {
		err = ENOMEM;
		goto out;
	}
	int serr = 0;
	r->st = speex_resampler_init(1, in_rate, out_rate, quality, &serr);
	if (!r->st) {
		err = serr == RESAMPLER_ERR_ALLOC_FAILED ? ENOMEM : EINVAL;
		goto out;
	}
	r->in_rate = in_rate;
	r->out_rate = out_rate;
	*rp = r;
	r = NULL;
out:
	resampler_free(r);
	return err;
}

struct resampler *resampler_free(struct resampler *r)
{
	if (r) {
		if (r->st)
			speex_resampler_destroy(r->st);
		free(r);
	}
	return NULL;
}

int resampler_process(struct resampler *r, int16_t *out, size_t *out_lenp, const int16_t *in,
		      size_t in_len)
{
	if (!r || !out || !out_lenp || (in_len && !in) || in_len > UINT32_MAX ||
	    *out_lenp > UINT32_MAX)
		return EINVAL;
	spx_uint32_t ilen = (spx_uint32_t)in_len, olen = (spx_uint32_t)*out_lenp;
	int serr = speex_resampler_process_int(r->st, 0, in, &ilen, out, &olen);
	if (serr != RESAMPLER_ERR_SUCCESS)
		return EIO;
	if (ilen != in_len)
		return EMSGSIZE;
	*out_lenp = olen;
	return 0;
}

int resampler_latency(const struct resampler *r)
{
	return speex_resampler_get_output_latency(r->st);
}

void resampler_reset(struct resampler *r)
{
	speex_resampler_reset_mem(r->st);
}
