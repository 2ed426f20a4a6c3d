/* Opus (libopus) for voice: mono, 20 ms frames, VOIP application, inband
 * FEC on with a configurable expected loss; PCM at 48 kHz or another of
 * Opus's native rates. */
#include "media/media.h"

#include <errno.h>
#include <stdlib.h>

#include <opus/opus.h>

struct media_opus_enc {
	OpusEncoder *enc;
	int frame; /* samples per 20 ms at the input rate */
};

struct media_opus_dec {
	OpusDecoder *dec;
	int rate;
};

bool media_opus_rate_ok(int rate)
{
	return rate == 8000 || rate == 12000 || rate == 16000 || rate == 24000 || rate == 48000;
}

static const struct media_opus_enc_cfg enc_defaults = {
	.bitrate = 24000, .loss_pct = 10, .complexity = 5, .max_bandwidth = MEDIA_OPUS_FB,
};

static int bandwidth(enum media_opus_bandwidth bw)
{
	switch (bw) {
	case MEDIA_OPUS_NB:
		return OPUS_BANDWIDTH_NARROWBAND;
	case MEDIA_OPUS_WB:
		return OPUS_BANDWIDTH_WIDEBAND;
	case MEDIA_OPUS_FB:
		break;
	}
	return OPUS_BANDWIDTH_FULLBAND;
}

int media_opus_enc_new(struct media_opus_enc **ep, const struct media_opus_enc_cfg *cfg)
{
	int err = 0;
	struct media_opus_enc *e = NULL;
	if (!ep)
		return EINVAL;
	struct media_opus_enc_cfg c = cfg ? *cfg : enc_defaults;
	if (c.bitrate == 0)
		c.bitrate = enc_defaults.bitrate;
	if (c.complexity < 0)
		c.complexity = enc_defaults.complexity;
	if (c.rate == 0)
		c.rate = MEDIA_OPUS_RATE;
	if (c.bitrate < 6000 || c.bitrate > 510000 || c.loss_pct < 0 || c.loss_pct > 100 ||
	    c.complexity > 10 || !media_opus_rate_ok(c.rate))
		return EINVAL;

	e = calloc(1, sizeof(*e));
	if (!e) {
		err = ENOMEM;
		goto out;
	}
	int oerr = OPUS_OK;
	e->frame = c.rate / 50;
	e->enc = opus_encoder_create(c.rate, 1, OPUS_APPLICATION_VOIP, &oerr);
	if (!e->enc) {
		err = oerr == OPUS_ALLOC_FAIL ? ENOMEM : EIO;
		goto out;
	}
	if (opus_encoder_ctl(e->enc, OPUS_SET_BITRATE(c.bitrate)) != OPUS_OK ||
	    opus_encoder_ctl(e->enc, OPUS_SET_COMPLEXITY(c.complexity)) != OPUS_OK ||
	    opus_encoder_ctl(e->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) != OPUS_OK ||
	    opus_encoder_ctl(e->enc, OPUS_SET_INBAND_FEC(1)) != OPUS_OK ||
	    opus_encoder_ctl(e->enc, OPUS_SET_PACKET_LOSS_PERC(c.loss_pct)) != OPUS_OK ||
	    opus_encoder_ctl(e->enc, OPUS_SET_MAX_BANDWIDTH(bandwidth(c.max_bandwidth))) !=
		    OPUS_OK ||
	    opus_encoder_ctl(e->enc, OPUS_SET_DTX(c.dtx ? 1 : 0)) != OPUS_OK) {
		err = EIO;
		goto out;
	}
	*ep = e;
	e = NULL;
out:
	media_opus_enc_free(e);
	return err;
}

struct media_opus_enc *media_opus_enc_free(struct media_opus_enc *e)
{
	if (e) {
		if (e->enc)
			opus_encoder_destroy(e->enc);
		free(e);
	}
	return NULL;
}

int media_opus_enc_set_loss(struct media_opus_enc *e, int loss_pct)
{
	if (!e || loss_pct < 0 || loss_pct > 100)
		return EINVAL;
	return opus_encoder_ctl(e->enc, OPUS_SET_PACKET_LOSS_PERC(loss_pct)) == OPUS_OK ? 0 : EIO;
}

int media_opus_encode(struct media_opus_enc *e, uint8_t *out, size_t cap, size_t *lenp,
		      const int16_t *pcm)
{
	if (!e || !out || !lenp || !pcm || cap < 3)
		return EINVAL;
	opus_int32 max = cap > MEDIA_OPUS_PACKET_MAX ? MEDIA_OPUS_PACKET_MAX : (opus_int32)cap;
	opus_int32 n = opus_encode(e->enc, pcm, e->frame, out, max);
	if (n == OPUS_BUFFER_TOO_SMALL)
		return EMSGSIZE;
	if (n < 0)
		return EIO;
	*lenp = (size_t)n;
	return 0;
}

int media_opus_dec_new(struct media_opus_dec **dp)
{
	return media_opus_dec_new_rate(dp, MEDIA_OPUS_RATE);
}

int media_opus_dec_new_rate(struct media_opus_dec **dp, int rate)
{
	int err = 0;
	struct media_opus_dec *d = NULL;
	if (!dp || !media_opus_rate_ok(rate))
		return EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d) {
		err = ENOMEM;
		goto out;
	}
	int oerr = OPUS_OK;
	d->rate = rate;
	d->dec = opus_decoder_create(rate, 1, &oerr);
	if (!d->dec) {
		err = oerr == OPUS_ALLOC_FAIL ? ENOMEM : EIO;
		goto out;
	}
	*dp = d;
	d = NULL;
out:
	media_opus_dec_free(d);
	return err;
}

struct media_opus_dec *media_opus_dec_free(struct media_opus_dec *d)
{
	if (d) {
		if (d->dec)
			opus_decoder_destroy(d->dec);
		free(d);
	}
	return NULL;
}

int media_opus_decode(struct media_opus_dec *d, int16_t *pcm, size_t cap, size_t *np,
		      const uint8_t *data, size_t len)
{
	if (!d || !pcm || !np || !data || len == 0)
		return EINVAL;
	if (len > MEDIA_OPUS_PACKET_MAX * 6)
		return EBADMSG;
	int samples = opus_decoder_get_nb_samples(d->dec, data, (opus_int32)len);
	if (samples < 0)
		return EBADMSG;
	if ((size_t)samples > cap)
		return EMSGSIZE;
	int n = opus_decode(d->dec, data, (opus_int32)len, pcm, samples, 0);
	if (n < 0)
		return n == OPUS_INVALID_PACKET || n == OPUS_BAD_ARG ? EBADMSG : EIO;
	*np = (size_t)n;
	return 0;
}

int media_opus_conceal(struct media_opus_dec *d, int16_t *pcm, size_t frame, const uint8_t *next,
		       size_t next_len)
{
	/* frame: a multiple of 2.5 ms, at most 120 ms, at the decoder's rate */
	if (!d || !pcm || frame == 0 || frame > (size_t)d->rate / 1000 * 120 ||
	    frame % ((size_t)d->rate / 400))
		return EINVAL;
	int n;
	if (next && next_len && next_len <= MEDIA_OPUS_PACKET_MAX * 6 &&
	    media_opus_has_fec(next, next_len))
		n = opus_decode(d->dec, next, (opus_int32)next_len, pcm, (int)frame, 1);
	else
		n = opus_decode(d->dec, NULL, 0, pcm, (int)frame, 0);
	if (n < 0)
		return EIO;
	/* FEC and PLC both render exactly `frame` samples */
	return 0;
}

bool media_opus_has_fec(const uint8_t *data, size_t len)
{
	if (!data || len < 2 || len > MEDIA_OPUS_PACKET_MAX * 6)
		return false;
	unsigned config = data[0] >> 3;
	if (config >= 16)               /* CELT-only: no LBRR */
		return false;
	const unsigned char *frames[48];
	opus_int16 sizes[48];
	int nf = opus_packet_parse(data, (opus_int32)len, NULL, frames, sizes, NULL);
	if (nf <= 0 || sizes[0] == 0)
		return false;
	int fsize = opus_packet_get_samples_per_frame(data, MEDIA_OPUS_RATE);
	int silk_frames = fsize > 960 ? fsize / 960 : 1;
	bool lbrr = (frames[0][0] >> (7 - silk_frames)) & 1;
	if (opus_packet_get_nb_channels(data) == 2)
		lbrr = lbrr || ((frames[0][0] >> (6 - 2 * silk_frames)) & 1);
	return lbrr;
}
