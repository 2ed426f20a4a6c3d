/* libs/media Opus: encode → decode keeps a speech-like energy envelope,
 * at 48 kHz and with 8 kHz PCM both sides (160-sample frames, no
 * resampler), inband FEC is present with loss configured, PLC and FEC
 * render a frame, corrupt packets and rates Opus does not take are refused. */
#include "media/media.h"
#include "harness/test.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define FRAMES 100 /* 2 s */

/* A voiced-speech stand-in: 140 Hz fundamental with decaying harmonics,
 * syllable-rate (4 Hz) amplitude modulation and pauses. */
static void speechlike(int16_t *x, size_t n, uint32_t rate)
{
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / rate;
		double env = sin(2 * M_PI * 2.0 * t);
		env = env > 0 ? env : 0;
		double v = 0;
		for (int h = 1; h <= 12; h++) {
			double f = 140.0 * h;
			if (f < rate / 2.2)
				v += sin(2 * M_PI * f * t + h) / h;
		}
		x[i] = (int16_t)lrint(6000.0 * env * v);
	}
}

static void frame_rms(double *out, const int16_t *x, size_t frames, size_t len)
{
	for (size_t f = 0; f < frames; f++) {
		double e = 0;
		for (size_t i = 0; i < len; i++)
			e += (double)x[f * len + i] * x[f * len + i];
		out[f] = sqrt(e / (double)len);
	}
}

static double correlation(const double *a, const double *b, size_t n)
{
	double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
	for (size_t i = 0; i < n; i++) {
		ma += a[i];
		mb += b[i];
	}
	ma /= (double)n;
	mb /= (double)n;
	for (size_t i = 0; i < n; i++) {
		sab += (a[i] - ma) * (b[i] - mb);
		saa += (a[i] - ma) * (a[i] - ma);
		sbb += (b[i] - mb) * (b[i] - mb);
	}
	return sab / sqrt(saa * sbb);
}

static int test_envelope(void)
{
	int err = 0;
	struct media_opus_enc *enc = NULL;
	struct media_opus_dec *dec = NULL;
	static int16_t in[FRAMES * MEDIA_OPUS_FRAME], out[FRAMES * MEDIA_OPUS_FRAME];
	double rin[FRAMES], rout[FRAMES];
	speechlike(in, CM_ARRAY_LEN(in), MEDIA_OPUS_RATE);
	TEST_EQ_INT(media_opus_enc_new(&enc, NULL), 0);
	TEST_EQ_INT(media_opus_dec_new(&dec), 0);
	size_t fec_packets = 0;
	for (size_t f = 0; f < FRAMES; f++) {
		uint8_t pkt[MEDIA_OPUS_PACKET_MAX];
		size_t len = 0, n = 0;
		TEST_EQ_INT(media_opus_encode(enc, pkt, sizeof(pkt), &len,
					      in + f * MEDIA_OPUS_FRAME),
			    0);
		TEST_ASSERT(len > 0 && len < 200); /* ~24 kbit/s = 60 bytes */
		fec_packets += media_opus_has_fec(pkt, len);
		TEST_EQ_INT(media_opus_decode(dec, out + f * MEDIA_OPUS_FRAME, MEDIA_OPUS_FRAME, &n,
					      pkt, len),
			    0);
		TEST_EQ_INT(n, MEDIA_OPUS_FRAME);
	}
	/* the codec delays by its lookahead (6.5 ms); 20 ms frames smooth it out */
	frame_rms(rin, in, FRAMES, MEDIA_OPUS_FRAME);
	frame_rms(rout, out, FRAMES, MEDIA_OPUS_FRAME);
	double c = correlation(rin + 5, rout + 5, FRAMES - 5);
	TEST_ASSERT(c > 0.9);
	double ein = 0, eout = 0;
	for (size_t f = 5; f < FRAMES; f++) {
		ein += rin[f] * rin[f];
		eout += rout[f] * rout[f];
	}
	TEST_ASSERT(eout / ein > 0.6 && eout / ein < 1.4);
	TEST_ASSERT(fec_packets > FRAMES / 4);
out:
	media_opus_enc_free(enc);
	media_opus_dec_free(dec);
	return err;
}

static int test_conceal(void)
{
	int err = 0;
	struct media_opus_enc *enc = NULL;
	struct media_opus_dec *dec = NULL;
	static int16_t in[10 * MEDIA_OPUS_FRAME];
	int16_t pcm[MEDIA_OPUS_FRAME];
	uint8_t pkts[10][MEDIA_OPUS_PACKET_MAX];
	size_t lens[10];
	struct media_opus_enc_cfg cfg = { .bitrate = 24000, .loss_pct = 20, .complexity = 5,
					  .max_bandwidth = MEDIA_OPUS_NB };
	speechlike(in, CM_ARRAY_LEN(in), MEDIA_OPUS_RATE);
	TEST_EQ_INT(media_opus_enc_new(&enc, &cfg), 0);
	TEST_EQ_INT(media_opus_enc_set_loss(enc, 30), 0);
	TEST_EQ_INT(media_opus_enc_set_loss(enc, 101), EINVAL);
	TEST_EQ_INT(media_opus_dec_new(&dec), 0);
	for (int f = 0; f < 10; f++)
		TEST_EQ_INT(media_opus_encode(enc, pkts[f], sizeof(pkts[f]), &lens[f],
					      in + f * MEDIA_OPUS_FRAME),
			    0);
	size_t n;
	TEST_EQ_INT(media_opus_decode(dec, pcm, MEDIA_OPUS_FRAME, &n, pkts[0], lens[0]), 0);
	TEST_EQ_INT(media_opus_decode(dec, pcm, MEDIA_OPUS_FRAME, &n, pkts[1], lens[1]), 0);
	/* frame 2 lost: packet 3 carries its FEC */
	TEST_ASSERT(media_opus_has_fec(pkts[3], lens[3]));
	TEST_EQ_INT(media_opus_conceal(dec, pcm, MEDIA_OPUS_FRAME, pkts[3], lens[3]), 0);
	TEST_EQ_INT(media_opus_decode(dec, pcm, MEDIA_OPUS_FRAME, &n, pkts[3], lens[3]), 0);
	/* frames 4 and 5 lost: plain PLC */
	TEST_EQ_INT(media_opus_conceal(dec, pcm, MEDIA_OPUS_FRAME, NULL, 0), 0);
	TEST_EQ_INT(media_opus_conceal(dec, pcm, MEDIA_OPUS_FRAME, NULL, 0), 0);
	TEST_EQ_INT(media_opus_decode(dec, pcm, MEDIA_OPUS_FRAME, &n, pkts[6], lens[6]), 0);
	TEST_EQ_INT(media_opus_conceal(dec, pcm, 100, NULL, 0), EINVAL);
	/* corrupt: code 3 with a frame count of 0 */
	const uint8_t bad[2] = { 0x03, 0x00 };
	TEST_EQ_INT(media_opus_decode(dec, pcm, MEDIA_OPUS_FRAME, &n, bad, sizeof(bad)), EBADMSG);
	TEST_ASSERT(!media_opus_has_fec(bad, sizeof(bad)));
	/* too small an output buffer for the packet */
	TEST_EQ_INT(media_opus_decode(dec, pcm, 480, &n, pkts[7], lens[7]), EMSGSIZE);
	uint8_t tiny[2];
	size_t len;
	TEST_EQ_INT(media_opus_encode(enc, tiny, sizeof(tiny), &len, in), EINVAL);
out:
	media_opus_enc_free(enc);
	media_opus_dec_free(dec);
	return err;
}

/* 8 kHz in, 8 kHz out: 160 samples a frame both ways, the envelope kept;
 * the packets are ordinary Opus (a 48 kHz decoder renders 960 samples). */
static int test_rate_8k(void)
{
	int err = 0;
	struct media_opus_enc *enc = NULL;
	struct media_opus_dec *dec = NULL, *dec48 = NULL;
	enum { F8 = 160 };
	static int16_t in[FRAMES * F8], out[FRAMES * F8];
	int16_t pcm48[MEDIA_OPUS_FRAME];
	double rin[FRAMES], rout[FRAMES];
	struct media_opus_enc_cfg cfg = { .bitrate = 32000, .loss_pct = 5, .complexity = 5,
					  .max_bandwidth = MEDIA_OPUS_FB, .rate = 8000 };
	speechlike(in, CM_ARRAY_LEN(in), 8000);
	TEST_EQ_INT(media_opus_enc_new(&enc, &cfg), 0);
	TEST_EQ_INT(media_opus_dec_new_rate(&dec, 8000), 0);
	TEST_EQ_INT(media_opus_dec_new(&dec48), 0);
	for (int f = 0; f < FRAMES; f++) {
		uint8_t pkt[MEDIA_OPUS_PACKET_MAX];
		size_t len = 0, n = 0, n48 = 0;
		TEST_EQ_INT(media_opus_encode(enc, pkt, sizeof(pkt), &len, in + f * F8), 0);
		TEST_EQ_INT(media_opus_decode(dec, out + f * F8, F8, &n, pkt, len), 0);
		TEST_EQ_INT((int)n, F8);
		TEST_EQ_INT(media_opus_decode(dec48, pcm48, MEDIA_OPUS_FRAME, &n48, pkt, len), 0);
		TEST_EQ_INT((int)n48, MEDIA_OPUS_FRAME);
	}
	frame_rms(rin, in, FRAMES, F8);
	frame_rms(rout, out, FRAMES, F8);
	double c = correlation(rin + 2, rout + 2, FRAMES - 4); /* codec delay < 1 frame */
	printf("    8 kHz envelope correlation %.3f\n", c);
	TEST_ASSERT(c > 0.9);
	/* 2.5 ms at 8 kHz is 20 samples: 160 conceals, 150 does not */
	TEST_EQ_INT(media_opus_conceal(dec, out, F8, NULL, 0), 0);
	TEST_EQ_INT(media_opus_conceal(dec, out, 150, NULL, 0), EINVAL);
	TEST_EQ_INT(media_opus_conceal(dec, out, MEDIA_OPUS_FRAME * 2, NULL, 0), EINVAL);
out:
	media_opus_enc_free(enc);
	media_opus_dec_free(dec);
	media_opus_dec_free(dec48);
	return err;
}

static int test_bad_config(void)
{
	int err = 0;
	struct media_opus_enc *enc = NULL;
	struct media_opus_enc_cfg cfg = { .bitrate = 1000 };
	TEST_EQ_INT(media_opus_enc_new(&enc, &cfg), EINVAL);
	cfg = (struct media_opus_enc_cfg){ .bitrate = 0, .loss_pct = -1 };
	TEST_EQ_INT(media_opus_enc_new(&enc, &cfg), EINVAL);
	TEST_ASSERT(enc == NULL);
	cfg = (struct media_opus_enc_cfg){ .rate = 44100 };
	TEST_EQ_INT(media_opus_enc_new(&enc, &cfg), EINVAL);
	struct media_opus_dec *dec = NULL;
	TEST_EQ_INT(media_opus_dec_new_rate(&dec, 11025), EINVAL);
	TEST_ASSERT(dec == NULL);
out:
	media_opus_enc_free(enc);
	return err;
}

/* A freed codec comes back reset: the next user gets it, set as it asks, and
 * it encodes (decodes) exactly what a freshly created one does, whatever its
 * last user set or fed it. */
#define HOLD 16 /* more than the pool keeps per rate: every one taken */
#define REUSE_FRAMES 50

static int encode_all(struct media_opus_enc *e, const int16_t *pcm, uint8_t pkt[][200],
		      size_t len[])
{
	for (size_t f = 0; f < REUSE_FRAMES; f++)
		if (media_opus_encode(e, pkt[f], 200, &len[f], pcm + f * 160))
			return -1;
	return 0;
}

static int test_reused_is_fresh(void)
{
	int err = 0;
	static int16_t pcm[REUSE_FRAMES * 160], out_ref[160], out[160];
	static uint8_t ref[REUSE_FRAMES][200], got[REUSE_FRAMES][200];
	size_t ref_len[REUSE_FRAMES], got_len[REUSE_FRAMES];
	struct media_opus_enc *hold[HOLD] = { 0 }, *fresh = NULL, *again = NULL;
	struct media_opus_dec *dhold[HOLD] = { 0 }, *dfresh = NULL, *dagain = NULL;
	const struct media_opus_enc_cfg want = { .bitrate = 16000, .loss_pct = 20,
						 .complexity = 1, .max_bandwidth = MEDIA_OPUS_NB,
						 .dtx = true, .rate = 8000 };
	const struct media_opus_enc_cfg other = { .bitrate = 64000, .loss_pct = 0,
						  .complexity = 9, .rate = 8000 };
	speechlike(pcm, CM_ARRAY_LEN(pcm), 8000);
	for (int i = 0; i < HOLD; i++) {
		TEST_EQ_INT(media_opus_enc_new(&hold[i], &other), 0);
		TEST_EQ_INT(media_opus_dec_new_rate(&dhold[i], 8000), 0);
	}
	uint64_t r0 = media_opus_reused();
	TEST_EQ_INT(media_opus_enc_new(&fresh, &want), 0);
	TEST_EQ_INT(media_opus_dec_new_rate(&dfresh, 8000), 0);
	TEST_EQ_INT((int)(media_opus_reused() - r0), 0); /* nothing kept: both created */
	TEST_EQ_INT(encode_all(fresh, pcm, ref, ref_len), 0);

	/* its last user: other settings, other audio, a loss change */
	TEST_EQ_INT(encode_all(hold[0], pcm + 80, got, got_len), 0);
	TEST_EQ_INT(media_opus_enc_set_loss(hold[0], 50), 0);
	for (size_t f = 0; f < REUSE_FRAMES; f++) {
		size_t n = 0;
		TEST_EQ_INT(media_opus_decode(dhold[0], out, 160, &n, got[f], got_len[f]), 0);
	}
	hold[0] = media_opus_enc_free(hold[0]);
	dhold[0] = media_opus_dec_free(dhold[0]);
	TEST_EQ_INT(media_opus_enc_new(&again, &want), 0);
	TEST_EQ_INT(media_opus_dec_new_rate(&dagain, 8000), 0);
	TEST_EQ_INT((int)(media_opus_reused() - r0), 2); /* both handed back out */

	TEST_EQ_INT(encode_all(again, pcm, got, got_len), 0);
	for (size_t f = 0; f < REUSE_FRAMES; f++) {
		TEST_EQ_INT((int)got_len[f], (int)ref_len[f]);
		TEST_ASSERT(memcmp(got[f], ref[f], ref_len[f]) == 0);
		size_t n1 = 0, n2 = 0;
		TEST_EQ_INT(media_opus_decode(dfresh, out_ref, 160, &n1, ref[f], ref_len[f]), 0);
		TEST_EQ_INT(media_opus_decode(dagain, out, 160, &n2, ref[f], ref_len[f]), 0);
		TEST_EQ_INT((int)n2, (int)n1);
		TEST_ASSERT(memcmp(out, out_ref, n1 * sizeof(int16_t)) == 0);
	}
	printf("    a reused encoder and decoder: %d packets and their PCM identical to fresh "
	       "ones\n",
	       REUSE_FRAMES);
out:
	for (int i = 0; i < HOLD; i++) {
		media_opus_enc_free(hold[i]);
		media_opus_dec_free(dhold[i]);
	}
	media_opus_enc_free(fresh);
	media_opus_enc_free(again);
	media_opus_dec_free(dfresh);
	media_opus_dec_free(dagain);
	return err;
}

static const struct test tests[] = {
	{ "envelope", test_envelope },
	{ "conceal", test_conceal },
	{ "rate_8k", test_rate_8k },
	{ "bad_config", test_bad_config },
	{ "reused_is_fresh", test_reused_is_fresh },
};

TEST_MAIN(tests)
