/* libs/media G.711: known ITU code values, code → linear → code identity,
 * monotonicity and quantisation error bounds over the whole 16-bit range. */
#include "media/media.h"
#include "harness/test.h"

#include <stdlib.h>

static int test_known_values(void)
{
	int err = 0;
	/* µ-law: 0xFF and 0x7F are ±0, 0x80/0x00 the extremes (±32124) */
	TEST_EQ_INT(g711_ulaw_decode(0xFF), 0);
	TEST_EQ_INT(g711_ulaw_decode(0x7F), 0);
	TEST_EQ_INT(g711_ulaw_decode(0x80), 32124);
	TEST_EQ_INT(g711_ulaw_decode(0x00), -32124);
	TEST_EQ_INT(g711_ulaw_decode(0xFE), 8);
	TEST_EQ_INT(g711_ulaw_decode(0xEF), 132);   /* segment 1, step 0: (132 << 1) - 132 */
	TEST_EQ_INT(g711_ulaw_encode(0), 0xFF);
	TEST_EQ_INT(g711_ulaw_encode(32767), 0x80);
	TEST_EQ_INT(g711_ulaw_encode(-32768), 0x00);
	TEST_EQ_INT(g711_ulaw_encode(1000), 0xCE);
	TEST_EQ_INT(g711_ulaw_encode(-1000), 0x4E);
	/* A-law: even bits inverted; 0xD5/0x55 are ±8, 0xAA/0x2A ±32256 */
	TEST_EQ_INT(g711_alaw_decode(0xD5), 8);
	TEST_EQ_INT(g711_alaw_decode(0x55), -8);
	TEST_EQ_INT(g711_alaw_decode(0xAA), 32256);
	TEST_EQ_INT(g711_alaw_decode(0x2A), -32256);
	TEST_EQ_INT(g711_alaw_encode(0), 0xD5);
	TEST_EQ_INT(g711_alaw_encode(-1), 0x55);
	TEST_EQ_INT(g711_alaw_encode(32767), 0xAA);
	TEST_EQ_INT(g711_alaw_encode(-32768), 0x2A);
	TEST_EQ_INT(g711_alaw_encode(1000), 0xFA);
out:
	return err;
}

static int test_code_identity(void)
{
	int err = 0;
	for (int c = 0; c < 256; c++) {
		uint8_t code = (uint8_t)c;
		if (code != 0x7F) /* -0 encodes as +0 */
			TEST_EQ_INT(g711_ulaw_encode(g711_ulaw_decode(code)), code);
		TEST_EQ_INT(g711_alaw_encode(g711_alaw_decode(code)), code);
		/* symmetric around zero */
		TEST_EQ_INT(g711_ulaw_decode(code), -g711_ulaw_decode((uint8_t)(code ^ 0x80)));
		TEST_EQ_INT(g711_alaw_decode(code), -g711_alaw_decode((uint8_t)(code ^ 0x80)));
	}
out:
	return err;
}

static int test_monotonic_and_error(void)
{
	int err = 0;
	int prev_u = 0, prev_a = -40000;
	for (int x = -32768; x <= 32767; x++) {
		int u = g711_ulaw_decode(g711_ulaw_encode((int16_t)x));
		int a = g711_alaw_decode(g711_alaw_encode((int16_t)x));
		int bound = abs(x) / 16 > 16 ? abs(x) / 16 : 16;
		if (abs(u - x) > bound || abs(a - x) > bound) {
			test_failed(__FILE__, __LINE__, "x=%d ulaw=%d alaw=%d", x, u, a);
			err = 1;
			goto out;
		}
		TEST_ASSERT(a >= prev_a);
		if (x > -32768)
			TEST_ASSERT(u >= prev_u);
		prev_u = u;
		prev_a = a;
	}
out:
	return err;
}

static int test_buffers(void)
{
	int err = 0;
	int16_t pcm[G711_FRAME_SAMPLES], back[G711_FRAME_SAMPLES];
	uint8_t codes[G711_FRAME_SAMPLES];
	for (int i = 0; i < G711_FRAME_SAMPLES; i++)
		pcm[i] = (int16_t)(i * 400 - 32000);
	for (int law = G711_ULAW; law <= G711_ALAW; law++) {
		g711_encode((enum g711_law)law, codes, pcm, G711_FRAME_SAMPLES);
		g711_decode((enum g711_law)law, back, codes, G711_FRAME_SAMPLES);
		for (int i = 0; i < G711_FRAME_SAMPLES; i++) {
			int16_t one = law == G711_ULAW ? g711_ulaw_decode(g711_ulaw_encode(pcm[i]))
						       : g711_alaw_decode(g711_alaw_encode(pcm[i]));
			TEST_EQ_INT(back[i], one);
		}
	}
out:
	return err;
}

static const struct test tests[] = {
	{ "known_values", test_known_values },
	{ "code_identity", test_code_identity },
	{ "monotonic_and_error", test_monotonic_and_error },
	{ "buffers", test_buffers },
};

TEST_MAIN(tests)
