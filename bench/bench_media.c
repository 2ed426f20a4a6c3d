/*
 * libs/media figures on this machine, one thread:
 *   transcoding cost per 20 ms frame, both directions, with its parts
 *   (G.711, resampling, Opus) — µs of CPU and % of a core per call
 *   (= (uplink + downlink frame cost) / 20 ms);
 *   how many transcoded calls one core sustains, measured by running N
 *   call legs round-robin (N transcoders, so caches are as cold as in the
 *   bridge) rather than extrapolated from one;
 *   the packet path per packet: rtp_parse + jitter buffer + rtp_build, and
 *   SRTP protect + unprotect;
 *   the bridge's own path (its room membership at 8 kHz, libs/room local:
 *   G.711 → Opus 32 kbit/s from 8 kHz PCM, Opus → 8 kHz PCM → G.711) against
 *   the 48 kHz one it replaced (8k→48k, Opus FB, 48k→8k), for encoder
 *   complexity 0..5: µs per frame and a quality figure, the segmental SNR
 *   of what the room decodes against what the carrier sent (see seg_snr).
 * Target (issue #5): ≤ 1 % of a core per transcoded call. Bounded in time
 * (< 30 s); prints figures, never fails on them.
 */
#include "harness/bench.h"
#include "media/media.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AUDIO_FRAMES   500              /* 10 s of test audio, looped */
#define SINGLE_FRAMES  1500             /* 30 s of audio per measurement */
#define MULTI_CALLS    200
#define MULTI_FRAMES   100              /* 2 s of audio for each of them */
#define PKT_N          100000
#define TARGET_PCT     1.0
#define TARGET_CALLS   200
#define BRIDGE_BITRATE 32000            /* libs/room local's, what the bridge sends */
#define MAX_LAG        400              /* samples at 8 kHz searched for the codec delay */
#define SEG_MIN_RMS    300.0            /* frames quieter than this are not scored */

static double cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Voiced-speech stand-in: 140 Hz with harmonics, syllable envelope,
 * pauses, a little noise. */
static void speechlike(int16_t *x, size_t n, uint32_t rate)
{
	uint32_t seed = 12345;
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / rate;
		double env = sin(2 * M_PI * 2.0 * t);
		env = env > 0 ? env : 0.02;
		double v = 0;
		for (int h = 1; h <= 20; h++) {
			double f = (130.0 + 20.0 * sin(2 * M_PI * 0.5 * t)) * h;
			if (f < rate / 2.2)
				v += sin(2 * M_PI * f * t + h) / h;
		}
		seed = seed * 1103515245u + 12345u;
		double noise = ((double)(seed >> 16 & 0x7fff) / 16384.0 - 1.0) * 0.05;
		x[i] = (int16_t)lrint(7000.0 * env * (v + noise));
	}
}

struct audio {
	uint8_t g711[AUDIO_FRAMES][G711_FRAME_SAMPLES];
	uint8_t opus[AUDIO_FRAMES][MEDIA_OPUS_PACKET_MAX];
	size_t opus_len[AUDIO_FRAMES];
	int16_t pcm8[AUDIO_FRAMES * G711_FRAME_SAMPLES];
	int16_t pcm48[AUDIO_FRAMES * MEDIA_OPUS_FRAME];
};

/* G.711 frames of the caller, Opus packets of the room (the agent's voice,
 * 48 kHz fullband as a WebRTC sender makes it). */
static int prepare(struct audio *a)
{
	struct media_opus_enc *enc = NULL;
	int err = 0;
	speechlike(a->pcm8, CM_ARRAY_LEN(a->pcm8), 8000);
	speechlike(a->pcm48, CM_ARRAY_LEN(a->pcm48), 48000);
	for (size_t f = 0; f < AUDIO_FRAMES; f++)
		g711_encode(G711_ULAW, a->g711[f], a->pcm8 + f * G711_FRAME_SAMPLES,
			    G711_FRAME_SAMPLES);
	struct media_opus_enc_cfg room = { .bitrate = 32000, .loss_pct = 5, .complexity = 9,
					   .max_bandwidth = MEDIA_OPUS_FB };
	if ((err = media_opus_enc_new(&enc, &room)) != 0)
		goto out;
	for (size_t f = 0; f < AUDIO_FRAMES; f++)
		if ((err = media_opus_encode(enc, a->opus[f], MEDIA_OPUS_PACKET_MAX,
					     &a->opus_len[f], a->pcm48 + f * MEDIA_OPUS_FRAME)) !=
		    0)
			goto out;
out:
	media_opus_enc_free(enc);
	return err;
}

struct dir_cost {
	double mean, p50, p99, max;
};

static void summarize(struct dir_cost *c, double *samples, size_t n)
{
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += samples[i];
	qsort(samples, n, sizeof(*samples), cmp_double);
	c->mean = sum / (double)n;
	c->p50 = samples[n / 2];
	c->p99 = samples[(size_t)((double)n * 0.99)];
	c->max = samples[n - 1];
}

/* One call leg, frame by frame: per-frame thread CPU time for each
 * direction (robust against other load on the machine). */
static int single_leg(const struct audio *a, const struct transcoder_cfg *cfg, struct dir_cost *up,
		      struct dir_cost *down)
{
	int err = 0;
	struct transcoder *t = NULL;
	static double s_up[SINGLE_FRAMES], s_down[SINGLE_FRAMES];
	if ((err = transcoder_new(&t, cfg)) != 0)
		goto out;
	for (size_t i = 0; i < SINGLE_FRAMES; i++) {
		size_t f = i % AUDIO_FRAMES, len;
		uint8_t opus[MEDIA_OPUS_PACKET_MAX], g711[G711_FRAME_SAMPLES];
		double t0 = cpu_us();
		if ((err = transcoder_to_opus(t, opus, sizeof(opus), &len, a->g711[f],
					      G711_FRAME_SAMPLES)))
			goto out;
		double t1 = cpu_us();
		if ((err = transcoder_to_g711(t, g711, sizeof(g711), &len, a->opus[f],
					      a->opus_len[f])))
			goto out;
		double t2 = cpu_us();
		s_up[i] = t1 - t0;
		s_down[i] = t2 - t1;
	}
	summarize(up, s_up, SINGLE_FRAMES);
	summarize(down, s_down, SINGLE_FRAMES);
out:
	transcoder_free(t);
	return err;
}

/* The parts, mean µs per 20 ms frame. */
static int parts(const struct audio *a)
{
	int err = 0;
	struct resampler *up = NULL, *down = NULL;
	struct media_opus_enc *enc = NULL;
	struct media_opus_dec *dec = NULL;
	struct media_opus_enc_cfg nb = { .bitrate = 24000, .loss_pct = 10, .complexity = 5,
					 .max_bandwidth = MEDIA_OPUS_NB };
	int16_t pcm8[G711_FRAME_SAMPLES], pcm48[MEDIA_OPUS_MAX_FRAME];
	uint8_t codes[G711_FRAME_SAMPLES], pkt[MEDIA_OPUS_PACKET_MAX];
	size_t n, len;
	double t_g711 = 0, t_up = 0, t_down = 0, t_enc = 0, t_dec = 0;
	if ((err = resampler_new(&up, 8000, 48000, -1)) ||
	    (err = resampler_new(&down, 48000, 8000, -1)) ||
	    (err = media_opus_enc_new(&enc, &nb)) || (err = media_opus_dec_new(&dec)))
		goto out;
	for (size_t i = 0; i < SINGLE_FRAMES; i++) {
		size_t f = i % AUDIO_FRAMES;
		double t0 = cpu_us();
		g711_decode(G711_ULAW, pcm8, a->g711[f], G711_FRAME_SAMPLES);
		g711_encode(G711_ULAW, codes, pcm8, G711_FRAME_SAMPLES);
		double t1 = cpu_us();
		n = MEDIA_OPUS_FRAME;
		if ((err = resampler_process(up, pcm48, &n, pcm8, G711_FRAME_SAMPLES)))
			goto out;
		double t2 = cpu_us();
		if ((err = media_opus_encode(enc, pkt, sizeof(pkt), &len, pcm48)))
			goto out;
		double t3 = cpu_us();
		if ((err = media_opus_decode(dec, pcm48, MEDIA_OPUS_MAX_FRAME, &n, a->opus[f],
					     a->opus_len[f])))
			goto out;
		double t4 = cpu_us();
		n = G711_FRAME_SAMPLES;
		if ((err = resampler_process(down, pcm8, &n, pcm48, MEDIA_OPUS_FRAME)))
			goto out;
		double t5 = cpu_us();
		t_g711 += t1 - t0;
		t_up += t2 - t1;
		t_enc += t3 - t2;
		t_dec += t4 - t3;
		t_down += t5 - t4;
	}
	double k = SINGLE_FRAMES;
	printf("  parts, mean µs/frame: G.711 dec+enc %.2f · resample 8→48k %.1f · Opus encode "
	       "(NB, c5) %.1f"
	       " · Opus decode (FB 32k) %.1f · resample 48→8k %.1f\n",
	       t_g711 / k, t_up / k, t_enc / k, t_dec / k, t_down / k);
out:
	resampler_free(up);
	resampler_free(down);
	media_opus_enc_free(enc);
	media_opus_dec_free(dec);
	return err;
}

/* N call legs round-robin, both directions, for MULTI_FRAMES frames each:
 * CPU per call and the calls one core sustains. */
static int many_legs(const struct audio *a, const struct transcoder_cfg *cfg, double *pct_per_callp,
		     double *callsp)
{
	int err = 0;
	struct transcoder **legs = calloc(MULTI_CALLS, sizeof(*legs));
	if (!legs)
		return ENOMEM;
	for (size_t c = 0; c < MULTI_CALLS; c++)
		if ((err = transcoder_new(&legs[c], cfg)) != 0)
			goto out;
	double t0 = cpu_us();
	for (size_t i = 0; i < MULTI_FRAMES; i++) {
		for (size_t c = 0; c < MULTI_CALLS; c++) {
			size_t f = (i + c * 7) % AUDIO_FRAMES, len;
			uint8_t opus[MEDIA_OPUS_PACKET_MAX], g711[G711_FRAME_SAMPLES];
			if ((err = transcoder_to_opus(legs[c], opus, sizeof(opus), &len, a->g711[f],
						      G711_FRAME_SAMPLES)) ||
			    (err = transcoder_to_g711(legs[c], g711, sizeof(g711), &len, a->opus[f],
						      a->opus_len[f])))
				goto out;
		}
	}
	double cpu = cpu_us() - t0;
	double audio_us = MULTI_FRAMES * 20000.0;
	double per_call = cpu / MULTI_CALLS / audio_us * 100.0;
	*pct_per_callp = per_call;
	*callsp = 100.0 / per_call;
out:
	for (size_t c = 0; c < MULTI_CALLS; c++)
		transcoder_free(legs[c]);
	free(legs);
	return err;
}

/* Segmental SNR in dB of `out` against `ref` (n samples at 8 kHz): `out`
 * is first aligned on `ref` (the lag 0..MAX_LAG with the largest
 * cross-correlation: the codec's and resamplers' delay), then every 20 ms
 * frame of `ref` louder than SEG_MIN_RMS scores 10·log10(signal / error),
 * clamped to [-10, 40] dB, and the scores are averaged. A waveform figure:
 * it punishes every change of the signal, so it is a floor on what a
 * listener (or a recogniser) gets, and comparable between paths and
 * settings on the same input. *lagp = the lag found. */
static double seg_snr(const int16_t *ref, const int16_t *out, size_t n, int *lagp)
{
	int best = 0;
	double best_c = -1e300;
	for (int lag = 0; lag <= MAX_LAG; lag++) {
		double c = 0;
		for (size_t i = 0; i + (size_t)lag < n; i += 2)
			c += (double)ref[i] * out[i + (size_t)lag];
		if (c > best_c) {
			best_c = c;
			best = lag;
		}
	}
	double sum = 0;
	size_t frames = 0;
	for (size_t f = 0; (f + 1) * G711_FRAME_SAMPLES + (size_t)best <= n; f++) {
		double sig = 0, noise = 0;
		for (size_t i = f * G711_FRAME_SAMPLES; i < (f + 1) * G711_FRAME_SAMPLES; i++) {
			double d = (double)ref[i] - out[i + (size_t)best];
			sig += (double)ref[i] * ref[i];
			noise += d * d;
		}
		if (sqrt(sig / G711_FRAME_SAMPLES) < SEG_MIN_RMS)
			continue;
		double db = noise > 0 ? 10.0 * log10(sig / noise) : 40.0;
		sum += db < -10 ? -10 : db > 40 ? 40 : db;
		frames++;
	}
	*lagp = best;
	return frames ? sum / (double)frames : 0;
}

/* Log-spectral distance in dB of `out` (aligned by `lag`) against `ref`:
 * per 20 ms frame of `ref` louder than SEG_MIN_RMS, the RMS over the bins
 * of 50..4000 Hz (a Hann-windowed 160-point DFT) of the difference of the
 * two power spectra in dB, averaged. Deaf to phase, which Opus does not
 * keep, so nearer to what is heard than seg_snr; lower is better. */
static double log_spectral_distance(const int16_t *ref, const int16_t *out, size_t n, int lag)
{
	enum { N = G711_FRAME_SAMPLES };
	double sum = 0;
	size_t frames = 0;
	for (size_t f = 0; (f + 1) * N + (size_t)lag <= n; f++) {
		const int16_t *a = ref + f * N, *b = out + f * N + lag;
		double e = 0;
		for (size_t i = 0; i < N; i++)
			e += (double)a[i] * a[i];
		if (sqrt(e / N) < SEG_MIN_RMS)
			continue;
		double d2 = 0;
		int bins = 0;
		for (int k = 1; k < N / 2; k++) {
			double ar = 0, ai = 0, br = 0, bi = 0;
			for (int i = 0; i < N; i++) {
				double w = 0.5 - 0.5 * cos(2 * M_PI * i / N);
				double c = cos(2 * M_PI * k * i / N), s = sin(2 * M_PI * k * i / N);
				ar += w * a[i] * c;
				ai -= w * a[i] * s;
				br += w * b[i] * c;
				bi -= w * b[i] * s;
			}
			/* a floor 60 dB under a full-scale bin keeps silent bins finite */
			double pa = ar * ar + ai * ai + 1e3, pb = br * br + bi * bi + 1e3;
			double d = 10.0 * log10(pa / pb);
			d2 += d * d;
			bins++;
		}
		sum += sqrt(d2 / bins);
		frames++;
	}
	return frames ? sum / (double)frames : 0;
}

struct bridge_cost {
	double up_us;       /* per frame: (resample +) encode */
	double snr_db;      /* seg_snr of the room's decoded audio, at 8 kHz */
	double lsd_db;      /* log_spectral_distance of the same */
	int lag;
};

/* The carrier's audio into the room at `complexity`, once as the bridge
 * sends it now (rate 8000: 8 kHz PCM straight into Opus) and once as before
 * (rate 48000: 8k→48k, Opus FB from 48 kHz); the room member decodes at the
 * same rate (the quality is then taken at 8 kHz, after 48k→8k for the
 * latter). The cost is the bridge's part only (what it runs per frame). */
static int bridge_uplink(const struct audio *a, int rate, int complexity, struct bridge_cost *bc)
{
	int err = 0;
	struct resampler *up = NULL, *down = NULL;
	struct media_opus_enc *enc = NULL;
	struct media_opus_dec *dec = NULL;
	struct media_opus_enc_cfg ec = { .bitrate = BRIDGE_BITRATE, .loss_pct = 5,
					 .complexity = complexity,
					 .max_bandwidth = MEDIA_OPUS_FB, .rate = rate };
	size_t frame = (size_t)rate / 50;
	static int16_t ref[SINGLE_FRAMES * G711_FRAME_SAMPLES], got[SINGLE_FRAMES *
								   G711_FRAME_SAMPLES];
	int16_t pcm[MEDIA_OPUS_MAX_FRAME], pcm8[G711_FRAME_SAMPLES * 2];
	uint8_t pkt[MEDIA_OPUS_PACKET_MAX];
	double t_up = 0;
	if ((err = media_opus_enc_new(&enc, &ec)) || (err = media_opus_dec_new_rate(&dec, rate)) ||
	    (rate != 8000 && ((err = resampler_new(&up, 8000, (uint32_t)rate, -1)) ||
			      (err = resampler_new(&down, (uint32_t)rate, 8000, -1)))))
		goto out;
	for (size_t i = 0; i < SINGLE_FRAMES; i++) {
		size_t f = i % AUDIO_FRAMES, n = 0, len = 0;
		int16_t *r8 = ref + i * G711_FRAME_SAMPLES;
		g711_decode(G711_ULAW, r8, a->g711[f], G711_FRAME_SAMPLES);
		double t0 = cpu_us();
		const int16_t *in = r8;
		if (up) {
			n = CM_ARRAY_LEN(pcm);
			if ((err = resampler_process(up, pcm, &n, r8, G711_FRAME_SAMPLES)))
				goto out;
			in = pcm;
		}
		if ((err = media_opus_encode(enc, pkt, sizeof(pkt), &len, in)))
			goto out;
		t_up += cpu_us() - t0;
		if ((err = media_opus_decode(dec, pcm, CM_ARRAY_LEN(pcm), &n, pkt, len)))
			goto out;
		if (n != frame) {
			err = EPROTO;
			goto out;
		}
		int16_t *o8 = got + i * G711_FRAME_SAMPLES;
		if (down) {
			size_t n8 = CM_ARRAY_LEN(pcm8);
			if ((err = resampler_process(down, pcm8, &n8, pcm, n)))
				goto out;
			memset(o8, 0, G711_FRAME_SAMPLES * sizeof(*o8));
			memcpy(o8, pcm8, (n8 < G711_FRAME_SAMPLES ? n8 : G711_FRAME_SAMPLES) *
						 sizeof(*o8));
		} else {
			memcpy(o8, pcm, G711_FRAME_SAMPLES * sizeof(*o8));
		}
	}
	bc->up_us = t_up / SINGLE_FRAMES;
	bc->snr_db = seg_snr(ref, got, CM_ARRAY_LEN(ref), &bc->lag);
	bc->lsd_db = log_spectral_distance(ref, got, AUDIO_FRAMES * G711_FRAME_SAMPLES, bc->lag);
out:
	resampler_free(up);
	resampler_free(down);
	media_opus_enc_free(enc);
	media_opus_dec_free(dec);
	return err;
}

/* The room's Opus (48 kHz fullband, as a WebRTC sender makes it) to the
 * carrier's 8 kHz: decoded at 8 kHz, or at 48 kHz then resampled. */
static int bridge_downlink(const struct audio *a, int rate, double *usp)
{
	int err = 0;
	struct resampler *down = NULL;
	struct media_opus_dec *dec = NULL;
	int16_t pcm[MEDIA_OPUS_MAX_FRAME], pcm8[G711_FRAME_SAMPLES * 2];
	double t = 0;
	if ((err = media_opus_dec_new_rate(&dec, rate)) ||
	    (rate != 8000 && (err = resampler_new(&down, (uint32_t)rate, 8000, -1))))
		goto out;
	for (size_t i = 0; i < SINGLE_FRAMES; i++) {
		size_t f = i % AUDIO_FRAMES, n = 0, n8 = CM_ARRAY_LEN(pcm8);
		double t0 = cpu_us();
		if ((err = media_opus_decode(dec, pcm, CM_ARRAY_LEN(pcm), &n, a->opus[f],
					     a->opus_len[f])) ||
		    (down && (err = resampler_process(down, pcm8, &n8, pcm, n))))
			goto out;
		t += cpu_us() - t0;
	}
	*usp = t / SINGLE_FRAMES;
out:
	resampler_free(down);
	media_opus_dec_free(dec);
	return err;
}

static int bridge_paths(const struct audio *a)
{
	struct bridge_cost bc;
	double dn8 = 0, dn48 = 0;
	int err;
	printf("the bridge's path, Opus %d kbit/s into the room, FEC; quality of the room's "
	       "decoded audio against the carrier's (G.711-decoded) audio at 8 kHz after delay "
	       "alignment, frames above %.0f RMS: segSNR (segmental SNR, dB, higher is better) "
	       "and LSD (log-spectral distance 50-4000 Hz, dB, lower is better):\n",
	       BRIDGE_BITRATE / 1000, SEG_MIN_RMS);
	if ((err = bridge_uplink(a, 48000, 5, &bc)))
		return err;
	printf("  before: 8k→48k + Opus from 48 kHz (FB), complexity 5: %.1f µs/frame, segSNR %.1f "
	       "dB, LSD %.2f dB (delay %d samples)\n",
	       bc.up_us, bc.snr_db, bc.lsd_db, bc.lag);
	bench_figure("media.bridge_uplink_us@48k_c5", bc.up_us, NULL, 0, "µs",
		     "8k->48k + Opus encode from 48 kHz, the former path");
	for (int c = 0; c <= 5; c++) {
		if ((err = bridge_uplink(a, 8000, c, &bc)))
			return err;
		printf("  8 kHz member: Opus from 8 kHz (NB), complexity %d: %.1f µs/frame, segSNR "
		       "%.1f dB, LSD %.2f dB (delay %d samples)\n",
		       c, bc.up_us, bc.snr_db, bc.lsd_db, bc.lag);
		char name[48], note[64];
		snprintf(name, sizeof(name), "media.bridge_uplink_us@8k_c%d", c);
		snprintf(note, sizeof(note), "Opus encode from 8 kHz; segSNR %.1f dB, LSD %.2f dB",
			 bc.snr_db, bc.lsd_db);
		bench_figure(name, bc.up_us, NULL, 0, "µs", note);
		snprintf(name, sizeof(name), "media.bridge_uplink_snr@8k_c%d", c);
		bench_figure(name, bc.snr_db, NULL, 0, "dB", "segmental SNR, delay aligned");
		snprintf(name, sizeof(name), "media.bridge_uplink_lsd@8k_c%d", c);
		bench_figure(name, bc.lsd_db, NULL, 0, "dB",
			     "log-spectral distance, delay aligned");
	}
	if ((err = bridge_downlink(a, 48000, &dn48)) || (err = bridge_downlink(a, 8000, &dn8)))
		return err;
	printf("  room → carrier, Opus (FB 32k) to 8 kHz PCM: decode at 48 kHz + 48k→8k %.1f "
	       "µs/frame, decode at 8 kHz %.1f µs/frame\n",
	       dn48, dn8);
	bench_figure("media.bridge_downlink_us@8k", dn8, NULL, 0, "µs",
		     "Opus decode to 8 kHz (48 kHz + resample: see above)");
	return 0;
}

static int packet_path(void)
{
	int err = 0;
	struct jbuf *jb = NULL;
	struct media_srtp *tx = NULL, *rx = NULL;
	struct sdes_crypto k1, k2;
	uint8_t payload[160], wire[RTP_PACKET_MAX + MEDIA_SRTP_TRAILER_MAX], out[RTP_PACKET_MAX];
	memset(payload, 0xFF, sizeof(payload));
	if ((err = jbuf_new(&jb, NULL)) ||
	    (err = sdes_crypto_generate(&k1, 1, SDES_AES_CM_128_HMAC_SHA1_80)) ||
	    (err = sdes_crypto_generate(&k2, 1, SDES_AES_CM_128_HMAC_SHA1_80)) ||
	    (err = media_srtp_new(&tx, &k1, &k2)) || (err = media_srtp_new(&rx, &k2, &k1)))
		goto out;
	double t_rtp = 0, t_srtp = 0;
	for (uint32_t i = 0; i < PKT_N; i++) {
		struct rtp_hdr h = { .pt = 0, .seq = (uint16_t)i, .ts = i * 160, .ssrc = 42 };
		size_t len;
		if ((err = rtp_build(&len, wire, sizeof(wire), &h, payload, sizeof(payload))))
			goto out;
		double t0 = cpu_us();
		if ((err = media_srtp_protect(tx, wire, sizeof(wire), &len)) ||
		    (err = media_srtp_unprotect(rx, wire, &len)))
			goto out;
		double t1 = cpu_us();
		struct rtp_packet p;
		struct jbuf_frame f;
		if ((err = rtp_parse(&p, wire, len)) ||
		    (err = jbuf_put(jb, &p, (int64_t)i * 20000)))
			goto out;
		jbuf_get(jb, &f);
		size_t olen;
		if (f.status == JBUF_FRAME &&
		    (err = rtp_build(&olen, out, sizeof(out), &h, f.data, f.len)))
			goto out;
		double t2 = cpu_us();
		t_srtp += t1 - t0;
		t_rtp += t2 - t1;
	}
	printf("packet path, per 160-byte packet: rtp_parse + jbuf_put/get + rtp_build %.2f µs · "
	       "SRTP protect + unprotect (AES_CM_128_HMAC_SHA1_80) %.2f µs\n",
	       t_rtp / PKT_N, t_srtp / PKT_N);
out:
	jbuf_free(jb);
	media_srtp_free(tx);
	media_srtp_free(rx);
	return err;
}

int main(void)
{
	int err = 0;
	double start = wall_us();
	struct audio *a = calloc(1, sizeof(*a));
	if (!a || (err = prepare(a)) != 0) {
		fprintf(stderr, "bench_media: cannot prepare audio: %s\n",
			cm_strerror(err ? err : ENOMEM));
		free(a);
		return 1;
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (cores < 1)
		cores = 1;
	printf("# bench_media: G.711 µ-law 8 kHz ⇄ Opus 48 kHz mono, 20 ms frames, speech-like "
	       "audio,"
	       " one thread\n");

	struct {
		const char *name, *fig;
		struct transcoder_cfg cfg;
	} configs[] = {
		{ "default: uplink Opus NB 24 kbit/s complexity 5, FEC", "media.calls@nb_c5",
		  { G711_ULAW, { 24000, 10, 5, MEDIA_OPUS_NB, false, 0 }, -1 } },
		{ "uplink Opus WB 24 kbit/s complexity 5, FEC", "media.calls@wb_c5",
		  { G711_ULAW, { 24000, 10, 5, MEDIA_OPUS_WB, false, 0 }, -1 } },
		{ "uplink Opus NB 24 kbit/s complexity 2, FEC", "media.calls@nb_c2",
		  { G711_ULAW, { 24000, 10, 2, MEDIA_OPUS_NB, false, 0 }, -1 } },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(configs); i++) {
		struct dir_cost up, down;
		double pct = 0, calls = 0;
		if ((err = single_leg(a, &configs[i].cfg, &up, &down)) != 0 ||
		    (err = many_legs(a, &configs[i].cfg, &pct, &calls)) != 0) {
			fprintf(stderr, "bench_media: %s\n", cm_strerror(err));
			goto out;
		}
		double single_pct = (up.mean + down.mean) / 20000.0 * 100.0;
		printf("transcoding, %s:\n", configs[i].name);
		printf("  G.711→Opus per frame: mean %.1f µs, p50 %.1f, p99 %.1f, max %.1f\n",
		       up.mean, up.p50, up.p99, up.max);
		printf("  Opus→G.711 per frame: mean %.1f µs, p50 %.1f, p99 %.1f, max %.1f\n",
		       down.mean, down.p50, down.p99, down.max);
		printf("  one call: %.2f %% of a core (both directions / 20 ms) [target ≤ %.1f %%: "
		       "%s]\n",
		       single_pct, TARGET_PCT, single_pct <= TARGET_PCT ? "met" : "NOT met");
		printf("  %d calls round-robin: %.2f %% of a core per call [target ≤ %.1f %%: %s] "
		       "→ %.0f"
		       " transcoded calls per core, ~%.0f on this machine's %ld cores (transcoding "
		       "only)"
		       " [target ≥ %d: %s]\n",
		       MULTI_CALLS, pct, TARGET_PCT, pct <= TARGET_PCT ? "met" : "NOT met", calls,
		       calls * (double)cores, cores, TARGET_CALLS,
		       calls * (double)cores >= TARGET_CALLS ? "met" : "NOT met");
		char note[96];
		snprintf(note, sizeof(note), "transcoding only, no I/O, %ld cores: %.0f per core",
			 cores, calls);
		bench_figure(configs[i].fig, calls * (double)cores, ">=", TARGET_CALLS, "calls",
			     note);
		if (i == 0 && (err = parts(a)) != 0)
			goto out;
	}
	if ((err = bridge_paths(a)) != 0) {
		fprintf(stderr, "bench_media: the bridge's path: %s\n", cm_strerror(err));
		goto out;
	}
	if ((err = packet_path()) != 0) {
		fprintf(stderr, "bench_media: packet path: %s\n", cm_strerror(err));
		goto out;
	}
	printf("bench_media: %.1f s\n", (wall_us() - start) / 1e6);
out:
	free(a);
	return err ? 1 : 0;
}
