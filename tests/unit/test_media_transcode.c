/* libs/media transcoder: G.711 ⇄ Opus for one call leg, both laws; a 1 kHz
 * tone keeps its level through both directions; losses are concealed. */
#include "media/media.h"
#include "harness/test.h"

#include <errno.h>
#include <math.h>

#define FRAMES 50

static double energy(const int16_t *x, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e += (double)x[i] * x[i];
	return e / (double)n;
}

static int run_law(enum g711_law law)
{
	int err = 0;
	struct transcoder *a = NULL, *b = NULL;
	struct transcoder_cfg cfg = {
		.law = law,
		.opus = { .bitrate = 24000,
			  .loss_pct = 10,
			  .complexity = 5,
			  .max_bandwidth = MEDIA_OPUS_NB },
		.resampler_quality = -1,
	};
	static int16_t in[FRAMES * 160], out[FRAMES * 160];
	uint8_t g711[160];
	for (size_t i = 0; i < CM_ARRAY_LEN(in); i++)
		in[i] = (int16_t)lrint(8000.0 * sin(2 * M_PI * 1000.0 * (double)i / 8000.0));
	/* leg a: caller → room; leg b: the room's side handing it back */
	TEST_EQ_INT(transcoder_new(&a, &cfg), 0);
	TEST_EQ_INT(transcoder_new(&b, &cfg), 0);
	TEST_ASSERT(transcoder_delay_8k(a) > 0);
	for (size_t f = 0; f < FRAMES; f++) {
		uint8_t opus[MEDIA_OPUS_PACKET_MAX], back[160];
		size_t olen = 0, glen = 0;
		g711_encode(law, g711, in + f * 160, 160);
		TEST_EQ_INT(transcoder_to_opus(a, opus, sizeof(opus), &olen, g711, sizeof(g711)),
			    0);
		TEST_ASSERT(olen > 0);
		TEST_EQ_INT(transcoder_to_g711(b, back, sizeof(back), &glen, opus, olen), 0);
		TEST_EQ_INT(glen, 160);
		g711_decode(law, out + f * 160, back, 160);
	}
	double ein = energy(in + 1600, CM_ARRAY_LEN(in) - 1600);
	double eout = energy(out + 1600, CM_ARRAY_LEN(out) - 1600);
	TEST_ASSERT(eout / ein > 0.7 && eout / ein < 1.3);
out:
	transcoder_free(a);
	transcoder_free(b);
	return err;
}

static int test_ulaw(void)
{
	return run_law(G711_ULAW);
}

static int test_alaw(void)
{
	return run_law(G711_ALAW);
}

static int test_loss_and_bounds(void)
{
	int err = 0;
	struct transcoder *t = NULL;
	uint8_t g711[160] = { 0 }, opus[MEDIA_OPUS_PACKET_MAX], back[160], small[100];
	size_t olen = 0, glen = 0;
	TEST_EQ_INT(transcoder_new(&t, NULL), 0);
	TEST_EQ_INT(transcoder_to_opus(t, opus, sizeof(opus), &olen, g711, 159), EINVAL);
	TEST_EQ_INT(transcoder_to_opus(t, opus, sizeof(opus), &olen, NULL, 0),
		    0); /* lost: silence */
	TEST_ASSERT(olen > 0);
	TEST_EQ_INT(transcoder_to_g711(t, back, sizeof(back), &glen, opus, olen), 0);
	TEST_EQ_INT(transcoder_conceal_to_g711(t, back, sizeof(back), &glen, NULL, 0), 0);
	TEST_EQ_INT(glen, 160);
	TEST_EQ_INT(transcoder_conceal_to_g711(t, back, sizeof(back), &glen, opus, olen), 0);
	TEST_EQ_INT(glen, 160);
	TEST_EQ_INT(transcoder_to_g711(t, small, sizeof(small), &glen, opus, olen), EMSGSIZE);
	const uint8_t bad[2] = { 0x03, 0x00 };
	TEST_EQ_INT(transcoder_to_g711(t, back, sizeof(back), &glen, bad, sizeof(bad)), EBADMSG);
	struct transcoder_cfg cfg = { .law = (enum g711_law)7 };
	struct transcoder *u = NULL;
	TEST_EQ_INT(transcoder_new(&u, &cfg), EINVAL);
	TEST_ASSERT(u == NULL);
out:
	transcoder_free(t);
	return err;
}

static const struct test tests[] = {
	{ "ulaw", test_ulaw },
	{ "alaw", test_alaw },
	{ "loss_and_bounds", test_loss_and_bounds },
};

TEST_MAIN(tests)
