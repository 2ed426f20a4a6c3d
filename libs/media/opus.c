/* Opus (libopus) for voice: mono, 20 ms frames, VOIP application, inband
 * FEC on with a configurable expected loss; PCM at 48 kHz or another of
 * Opus's native rates.
 *
 * Encoders and decoders that are freed are kept (a few per rate) and
 * handed out again, reset with OPUS_RESET_STATE, which the libopus API defines as
 * "equivalent to a freshly initialized state": libopus probes the CPU
 * (CPUID) a dozen times when it creates a codec, and in a virtual machine
 * each probe traps to the hypervisor (6.4 µs here), so creating an encoder
 * and a decoder, once per call leg, cost 155 µs against 27 µs reused. */
#include "media/media.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <opus/opus.h>

#define POOL_PER_RATE 8 /* kept per rate, encoders and decoders each: 0.5 MB */
#define POOL_RATES    5

struct media_opus_enc {
	OpusEncoder *enc;
	int rate;
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

/* ---- the pool of freed codecs ---------------------------------------------- */

enum pool_kind { POOL_ENC, POOL_DEC, POOL_KINDS };

static struct {
	pthread_mutex_t mu;
	void *c[POOL_KINDS][POOL_RATES][POOL_PER_RATE];
	int n[POOL_KINDS][POOL_RATES];
	uint64_t reused;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int rate_slot(int rate)
{
	switch (rate) {
	case 8000: return 0;
	case 12000: return 1;
	case 16000: return 2;
	case 24000: return 3;
	default: return 4;
	}
}

/* Kept codecs are reachable from `pool`; freed at exit so that heap tools
 * see the process end with nothing of ours left. */
__attribute__((destructor)) static void pool_drain(void)
{
	pthread_mutex_lock(&pool.mu);
	for (int r = 0; r < POOL_RATES; r++) {
		while (pool.n[POOL_ENC][r] > 0)
			opus_encoder_destroy(pool.c[POOL_ENC][r][--pool.n[POOL_ENC][r]]);
		while (pool.n[POOL_DEC][r] > 0)
			opus_decoder_destroy(pool.c[POOL_DEC][r][--pool.n[POOL_DEC][r]]);
	}
	pthread_mutex_unlock(&pool.mu);
}

/* A kept codec of this kind and rate, not yet reset; NULL when none. */
static void *pool_take(enum pool_kind k, int rate)
{
	void *c = NULL;
	int r = rate_slot(rate);
	pthread_mutex_lock(&pool.mu);
	if (pool.n[k][r] > 0)
		c = pool.c[k][r][--pool.n[k][r]];
	pthread_mutex_unlock(&pool.mu);
	return c;
}

/* Keeps the codec; false when the rate's slots are full (the caller
 * destroys it). The reset waits for its next user, so a codec that is not
 * kept costs none. */
static bool pool_put(enum pool_kind k, int rate, void *c)
{
	int r = rate_slot(rate);
	bool kept = false;
	pthread_mutex_lock(&pool.mu);
	if (pool.n[k][r] < POOL_PER_RATE) {
		pool.c[k][r][pool.n[k][r]++] = c;
		kept = true;
	}
	pthread_mutex_unlock(&pool.mu);
	return kept;
}

static void pool_count_reuse(void)
{
	pthread_mutex_lock(&pool.mu);
	pool.reused++;
	pthread_mutex_unlock(&pool.mu);
}

uint64_t media_opus_reused(void)
{
	pthread_mutex_lock(&pool.mu);
	uint64_t n = pool.reused;
	pthread_mutex_unlock(&pool.mu);
	return n;
}

/* A kept encoder, reset, or NULL. */
static OpusEncoder *reused_encoder(int rate)
{
	OpusEncoder *e = pool_take(POOL_ENC, rate);
	if (e && opus_encoder_ctl(e, OPUS_RESET_STATE) != OPUS_OK) {
		opus_encoder_destroy(e);
		e = NULL;
	}
	if (e)
		pool_count_reuse();
	return e;
}

static OpusDecoder *reused_decoder(int rate)
{
	OpusDecoder *d = pool_take(POOL_DEC, rate);
	if (d && opus_decoder_ctl(d, OPUS_RESET_STATE) != OPUS_OK) {
		opus_decoder_destroy(d);
		d = NULL;
	}
	if (d)
		pool_count_reuse();
	return d;
}

/* ---- encoder --------------------------------------------------------------- */

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
	e->rate = c.rate;
	e->frame = c.rate / 50;
	e->enc = reused_encoder(c.rate);
	if (!e->enc)
		e->enc = opus_encoder_create(c.rate, 1, OPUS_APPLICATION_VOIP, &oerr);
	if (!e->enc) {
		err = oerr == OPUS_ALLOC_FAIL ? ENOMEM : EIO;
		goto out;
	}
	/* every setting this file ever changes is set here, so a reused encoder
	 * keeps nothing of its last user's */
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
		if (e->enc && !pool_put(POOL_ENC, e->rate, e->enc))
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

/* ---- decoder --------------------------------------------------------------- */

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
	d->dec = reused_decoder(rate);
	if (!d->dec)
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
		if (d->dec && !pool_put(POOL_DEC, d->rate, d->dec))
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
