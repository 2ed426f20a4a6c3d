/* libs/media resampling (speexdsp): exact 1:6 / 6:1 frame sizes and a
 * 1 kHz sine that survives 8k → 48k → 8k with its energy within 3 %. */
#include "media/media.h"
#include "harness/test.h"

#include <errno.h>
#include <math.h>

#define FRAMES 50 /* 1 s */

static double energy(const int16_t *x, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e += (double)x[i] * x[i];
	return n ? e / (double)n : 0;
}

static int test_sine_roundtrip(void)
{
	int err = 0;
	struct resampler *up = NULL, *down = NULL;
	static int16_t in[FRAMES * 160], mid[FRAMES * 960], back[FRAMES * 160];
	for (size_t i = 0; i < CM_ARRAY_LEN(in); i++)
		in[i] = (int16_t)lrint(10000.0 * sin(2 * M_PI * 1000.0 * (double)i / 8000.0));

	TEST_EQ_INT(resampler_new(&up, 8000, 48000, -1), 0);
	TEST_EQ_INT(resampler_new(&down, 48000, 8000, RESAMPLER_QUALITY_VOIP), 0);
	for (size_t f = 0; f < FRAMES; f++) {
		size_t n48 = 960, n8 = 160;
		TEST_EQ_INT(resampler_process(up, mid + f * 960, &n48, in + f * 160, 160), 0);
		TEST_EQ_INT(n48, 960);
		TEST_EQ_INT(resampler_process(down, back + f * 160, &n8, mid + f * 960, 960), 0);
		TEST_EQ_INT(n8, 160);
	}
	/* skip the filters' start-up (first 100 ms) */
	double e_in = energy(in + 800, CM_ARRAY_LEN(in) - 800);
	double e_mid = energy(mid + 4800, CM_ARRAY_LEN(mid) - 4800);
	double e_out = energy(back + 800, CM_ARRAY_LEN(back) - 800);
	TEST_ASSERT(fabs(e_mid / e_in - 1.0) < 0.03);
	TEST_ASSERT(fabs(e_out / e_in - 1.0) < 0.03);
	/* still 1 kHz at 48 kHz: 2000 zero crossings per second */
	int zc = 0;
	for (size_t i = 4801; i < CM_ARRAY_LEN(mid); i++)
		zc += (mid[i - 1] < 0) != (mid[i] < 0);
	TEST_ASSERT(zc >= 1790 && zc <= 1810); /* 0.9 s of 1 kHz */
	TEST_ASSERT(resampler_latency(up) > 0);
out:
	resampler_free(up);
	resampler_free(down);
	return err;
}

static int test_bounds(void)
{
	int err = 0;
	struct resampler *up = NULL;
	int16_t in[160] = { 0 }, out[960];
	size_t n = 100;
	TEST_EQ_INT(resampler_new(&up, 0, 48000, -1), EINVAL);
	TEST_EQ_INT(resampler_new(&up, 8000, 48000, 11), EINVAL);
	TEST_EQ_INT(resampler_new(&up, 8000, 48000, 3), 0);
	TEST_EQ_INT(resampler_process(up, out, &n, in, 160), EMSGSIZE);
	resampler_reset(up);
	n = 960;
	TEST_EQ_INT(resampler_process(up, out, &n, in, 160), 0);
	TEST_EQ_INT(n, 960);
out:
	resampler_free(up);
	return err;
}

static const struct test tests[] = {
	{ "sine_roundtrip", test_sine_roundtrip },
	{ "bounds", test_bounds },
};

TEST_MAIN(tests)
