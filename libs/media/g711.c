/* G.711 µ-law and A-law (ITU-T G.711), in the segment/quantisation form of
 * the ITU reference tables: 8 segments of 16 steps, sign in the top bit,
 * µ-law bias 0x84 and all bits inverted, A-law even bits inverted (0x55). */
#include "media/media.h"

#define SIGN_BIT   0x80
#define QUANT_MASK 0x0f
#define SEG_SHIFT  4
#define SEG_MASK   0x70
#define ULAW_BIAS  0x84
#define ULAW_CLIP  8159

static const int16_t seg_uend[8] = { 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF };
static const int16_t seg_aend[8] = { 0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF };

static int segment(int v, const int16_t *end)
{
	for (int i = 0; i < 8; i++)
		if (v <= end[i])
			return i;
	return 8;
}

uint8_t g711_ulaw_encode(int16_t pcm)
{
	int v = pcm >> 2, mask = 0xFF;
	if (v < 0) {
		v = -v;
		mask = 0x7F;
	}
	if (v > ULAW_CLIP)
		v = ULAW_CLIP;
	v += ULAW_BIAS >> 2;
	int seg = segment(v, seg_uend);
	if (seg >= 8)
		return (uint8_t)(0x7F ^ mask);
	return (uint8_t)(((seg << SEG_SHIFT) | ((v >> (seg + 1)) & QUANT_MASK)) ^ mask);
}

int16_t g711_ulaw_decode(uint8_t code)
{
	unsigned u = (uint8_t)~code;
	int t = (int)(((u & QUANT_MASK) << 3) + ULAW_BIAS);
	t <<= (u & SEG_MASK) >> SEG_SHIFT;
	return (int16_t)((u & SIGN_BIT) ? ULAW_BIAS - t : t - ULAW_BIAS);
}

uint8_t g711_alaw_encode(int16_t pcm)
{
	int v = pcm >> 3, mask = 0xD5;
	if (v < 0) {
		v = -v - 1;
		mask = 0x55;
	}
	int seg = segment(v, seg_aend);
	if (seg >= 8)
		return (uint8_t)(0x7F ^ mask);
	int a = seg << SEG_SHIFT;
	a |= seg < 2 ? (v >> 1) & QUANT_MASK : (v >> seg) & QUANT_MASK;
	return (uint8_t)(a ^ mask);
}

int16_t g711_alaw_decode(uint8_t code)
{
	unsigned a = code ^ 0x55u;
	int t = (int)((a & QUANT_MASK) << 4);
	unsigned seg = (a & SEG_MASK) >> SEG_SHIFT;
	if (seg == 0)
		t += 8;
	else
		t = (t + 0x108) << (seg - 1);
	return (int16_t)((a & SIGN_BIT) ? t : -t);
}

void g711_encode(enum g711_law law, uint8_t *out, const int16_t *pcm, size_t n)
{
	if (law == G711_ALAW) {
		for (size_t i = 0; i < n; i++)
			out[i] = g711_alaw_encode(pcm[i]);
	} else {
		for (size_t i = 0; i < n; i++)
			out[i] = g711_ulaw_encode(pcm[i]);
	}
}

void g711_decode(enum g711_law law, int16_t *out, const uint8_t *codes, size_t n)
{
	if (law == G711_ALAW) {
		for (size_t i = 0; i < n; i++)
			out[i] = g711_alaw_decode(codes[i]);
	} else {
		for (size_t i = 0; i < n; i++)
			out[i] = g711_ulaw_decode(codes[i]);
	}
}
