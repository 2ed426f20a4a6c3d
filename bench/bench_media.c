/*
 * libs/media figures on this machine, one thread:
 *   transcoding cost per 20 ms frame, both directions, with its parts
 *   (G.711, resampling, Opus) — µs of CPU and % of a core per call
 *   (= (uplink + downlink frame cost) / 20 ms);
 *   how many transcoded calls one core sustains, measured by running N
 *   call legs round-robin (N transcoders, so caches are as cold as in the
 *   bridge) rather than extrapolated from one;
 *   the packet path per packet: rtp_parse + jitter buffer + rtp_build, and
 *   SRTP protect + unprotect.
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
		  { G711_ULAW, { 24000, 10, 5, MEDIA_OPUS_NB, false }, -1 } },
		{ "uplink Opus WB 24 kbit/s complexity 5, FEC", "media.calls@wb_c5",
		  { G711_ULAW, { 24000, 10, 5, MEDIA_OPUS_WB, false }, -1 } },
		{ "uplink Opus NB 24 kbit/s complexity 2, FEC", "media.calls@nb_c2",
		  { G711_ULAW, { 24000, 10, 2, MEDIA_OPUS_NB, false }, -1 } },
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
	if ((err = packet_path()) != 0) {
		fprintf(stderr, "bench_media: packet path: %s\n", cm_strerror(err));
		goto out;
	}
	printf("bench_media: %.1f s\n", (wall_us() - start) / 1e6);
out:
	free(a);
	return err ? 1 : 0;
}
