/* libs/media RFC 4733: payload format, one event per digit despite the
 * redundant end packets, reordering, lost end packets, timestamp
 * wrap-around, long-event segments; and the sender's packet sequence. */
#include "media/media.h"
#include "harness/test.h"

#include <errno.h>

struct feed {
	struct dtmf_rx rx;
	struct dtmf_event ev[16];
	size_t n;
};

static int feed(struct feed *fd, uint32_t ts, uint8_t event, bool end, uint16_t duration)
{
	uint8_t pl[DTMF_PAYLOAD_LEN];
	struct dtmf_payload p = { .event = event, .end = end, .volume = 10, .duration = duration };
	struct dtmf_event out[DTMF_RX_OUT_MAX];
	size_t n = 0;
	dtmf_build(pl, &p);
	int err = dtmf_rx_input(&fd->rx, out, &n, ts, pl, sizeof(pl));
	for (size_t i = 0; i < n && fd->n < CM_ARRAY_LEN(fd->ev); i++)
		fd->ev[fd->n++] = out[i];
	return err;
}

static int test_payload(void)
{
	int err = 0;
	uint8_t buf[4];
	struct dtmf_payload p = { .event = 11, .end = true, .volume = 63, .duration = 0xABCD }, q;
	dtmf_build(buf, &p);
	TEST_EQ_INT(buf[0], 11);
	TEST_EQ_INT(buf[1], 0x80 | 63);
	TEST_EQ_INT(buf[2], 0xAB);
	TEST_EQ_INT(dtmf_parse(&q, buf, 4), 0);
	TEST_EQ_INT(q.event, 11);
	TEST_ASSERT(q.end);
	TEST_EQ_INT(q.volume, 63);
	TEST_EQ_INT(q.duration, 0xABCD);
	buf[1] |= 0x40; /* reserved bit: ignored */
	TEST_EQ_INT(dtmf_parse(&q, buf, 4), 0);
	TEST_EQ_INT(q.volume, 63);
	TEST_EQ_INT(dtmf_parse(&q, buf, 3), EBADMSG);
	uint8_t code = 0;
	TEST_EQ_INT(dtmf_code_from_digit(&code, '#'), 0);
	TEST_EQ_INT(code, 11);
	TEST_EQ_INT(dtmf_code_from_digit(&code, 'd'), 0);
	TEST_EQ_INT(code, 15);
	TEST_EQ_INT(dtmf_code_from_digit(&code, 'x'), EINVAL);
	TEST_EQ_INT(dtmf_code_from_digit(&code, '\0'), EINVAL);
	TEST_EQ_INT(dtmf_digit_from_code(10), '*');
	TEST_EQ_INT(dtmf_digit_from_code(16), '!');
	TEST_EQ_INT(dtmf_digit_from_code(17), '\0');
out:
	return err;
}

static int test_sender_to_receiver(void)
{
	int err = 0;
	struct dtmf_tx_packet pk[64];
	size_t n = 0;
	struct feed fd = { 0 };
	dtmf_rx_init(&fd.rx, 8000);
	TEST_EQ_INT(dtmf_tx_packets(pk, 64, &n, '7', 100, 10, 8000, 20), 0);
	TEST_EQ_INT(n, 4 + 3);                        /* 20,40,60,80 then 3 × end at 100 */
	TEST_ASSERT(pk[0].marker);
	TEST_ASSERT(!pk[1].marker);
	TEST_ASSERT(!pk[3].end);
	TEST_ASSERT(pk[4].end && pk[5].end && pk[6].end);
	TEST_EQ_INT(pk[6].offset_ms, 120);
	struct dtmf_payload p;
	TEST_EQ_INT(dtmf_parse(&p, pk[0].payload, 4), 0);
	TEST_EQ_INT(p.duration, 160);
	TEST_EQ_INT(dtmf_parse(&p, pk[6].payload, 4), 0);
	TEST_EQ_INT(p.duration, 800);
	TEST_EQ_INT(p.event, 7);
	for (size_t i = 0; i < n; i++) {
		struct dtmf_event out[DTMF_RX_OUT_MAX];
		size_t k = 0;
		TEST_EQ_INT(dtmf_rx_input(&fd.rx, out, &k, 5000, pk[i].payload, 4), 0);
		TEST_EQ_INT(k, i == 4 ? 1u : 0u);          /* once, on the first end packet */
		if (k)
			fd.ev[fd.n++] = out[0];
	}
	TEST_EQ_INT(fd.n, 1);
	TEST_EQ_INT(fd.ev[0].digit, '7');
	TEST_EQ_INT(fd.ev[0].duration_ms, 100);
	TEST_EQ_INT(fd.ev[0].volume, 10);
	TEST_EQ_INT(dtmf_tx_packets(pk, 5, &n, '1', 100, 10, 8000, 20), EMSGSIZE);
	TEST_EQ_INT(dtmf_tx_packets(pk, 64, &n, 'Z', 100, 10, 8000, 20), EINVAL);
	TEST_EQ_INT(dtmf_tx_packets(pk, 64, &n, '1', 9000, 10, 8000, 20),
		    EINVAL); /* > 0xFFFF units */
	TEST_EQ_INT(dtmf_tx_packets(pk, 64, &n, '1', 10, 10, 8000, 20), 0);
	TEST_EQ_INT(n, 3);                            /* shorter than a packet: only ends */
out:
	return err;
}

static int test_redundant_ends_and_reorder(void)
{
	int err = 0;
	struct feed fd = { 0 };
	dtmf_rx_init(&fd.rx, 8000);
	TEST_EQ_INT(feed(&fd, 1000, 1, false, 160), 0);
	TEST_EQ_INT(feed(&fd, 1000, 1, false, 480), 0);
	TEST_EQ_INT(feed(&fd, 1000, 1, true, 800), 0);   /* reported here */
	TEST_EQ_INT(feed(&fd, 1000, 1, false, 320), 0);  /* reordered update after end */
	TEST_EQ_INT(feed(&fd, 1000, 1, true, 800), 0);
	TEST_EQ_INT(feed(&fd, 1000, 1, true, 800), 0);
	/* the next digit; then a very late end packet of the first */
	TEST_EQ_INT(feed(&fd, 3000, 2, false, 160), 0);
	TEST_EQ_INT(feed(&fd, 1000, 1, true, 800), 0);
	TEST_EQ_INT(feed(&fd, 3000, 2, true, 640), 0);
	TEST_EQ_INT(feed(&fd, 3000, 2, true, 640), 0);
	TEST_EQ_INT(fd.n, 2);
	TEST_EQ_INT(fd.ev[0].digit, '1');
	TEST_EQ_INT(fd.ev[0].duration_ms, 100);
	TEST_EQ_INT(fd.ev[1].digit, '2');
	TEST_EQ_INT(fd.ev[1].duration_ms, 80);
	/* only end packets arrive (start lost): still one event */
	TEST_EQ_INT(feed(&fd, 5000, 11, true, 400), 0);
	TEST_EQ_INT(feed(&fd, 5000, 11, true, 400), 0);
	TEST_EQ_INT(fd.n, 3);
	TEST_EQ_INT(fd.ev[2].digit, '#');
	TEST_EQ_INT(fd.ev[2].duration_ms, 50);
	/* the same digit again is a new event (new timestamp) */
	TEST_EQ_INT(feed(&fd, 6000, 11, true, 400), 0);
	TEST_EQ_INT(fd.n, 4);
	/* non-digit events (tones) are ignored */
	TEST_EQ_INT(feed(&fd, 7000, 40, true, 400), 0);
	TEST_EQ_INT(fd.n, 4);
	uint8_t shortp[2] = { 0 };
	struct dtmf_event out[DTMF_RX_OUT_MAX];
	size_t k;
	TEST_EQ_INT(dtmf_rx_input(&fd.rx, out, &k, 8000, shortp, 2), EBADMSG);
out:
	return err;
}

static int test_new_event_without_end(void)
{
	int err = 0;
	struct feed fd = { 0 };
	dtmf_rx_init(&fd.rx, 8000);
	TEST_EQ_INT(feed(&fd, 100, 5, false, 160), 0);
	TEST_EQ_INT(feed(&fd, 100, 5, false, 480), 0);
	/* every end packet of '5' lost; '6' begins */
	TEST_EQ_INT(feed(&fd, 2000, 6, false, 160), 0);
	TEST_EQ_INT(fd.n, 1);
	TEST_EQ_INT(fd.ev[0].digit, '5');
	TEST_EQ_INT(fd.ev[0].duration_ms, 60);
	/* '6' ends without updates in between, one end packet arriving first */
	TEST_EQ_INT(feed(&fd, 2000, 6, true, 960), 0);
	TEST_EQ_INT(fd.n, 2);
	TEST_EQ_INT(fd.ev[1].duration_ms, 120);
	/* a lone start, then nothing: flush (the caller's timeout) reports it once */
	TEST_EQ_INT(feed(&fd, 4000, 9, false, 160), 0);
	struct dtmf_event ev;
	TEST_ASSERT(dtmf_rx_flush(&fd.rx, &ev));
	TEST_EQ_INT(ev.digit, '9');
	TEST_EQ_INT(ev.duration_ms, 20);
	TEST_ASSERT(!dtmf_rx_flush(&fd.rx, &ev));
	TEST_EQ_INT(feed(&fd, 4000, 9, true, 800), 0);  /* its late end: ignored */
	TEST_EQ_INT(fd.n, 2);
	/* a new event without end, when the next one arrives already ended */
	TEST_EQ_INT(feed(&fd, 6000, 1, false, 160), 0);
	TEST_EQ_INT(feed(&fd, 8000, 2, true, 160), 0);
	TEST_EQ_INT(fd.n, 4);
	TEST_EQ_INT(fd.ev[2].digit, '1');
	TEST_EQ_INT(fd.ev[3].digit, '2');
out:
	return err;
}

static int test_wraparound(void)
{
	int err = 0;
	struct feed fd = { 0 };
	dtmf_rx_init(&fd.rx, 8000);
	/* first event just before the 32-bit timestamp wraps */
	TEST_EQ_INT(feed(&fd, 0xFFFFFE00u, 3, false, 160), 0);
	TEST_EQ_INT(feed(&fd, 0xFFFFFE00u, 3, true, 640), 0);
	TEST_EQ_INT(feed(&fd, 0xFFFFFE00u, 3, true, 640), 0);
	/* the next one after the wrap: newer despite the smaller number */
	TEST_EQ_INT(feed(&fd, 0x00000300u, 4, false, 160), 0);
	TEST_EQ_INT(feed(&fd, 0xFFFFFE00u, 3, true, 640), 0);  /* redundant end of '3' */
	TEST_EQ_INT(feed(&fd, 0x00000300u, 4, true, 320), 0);
	TEST_EQ_INT(feed(&fd, 0x00000300u, 4, true, 320), 0);
	TEST_EQ_INT(fd.n, 2);
	TEST_EQ_INT(fd.ev[0].digit, '3');
	TEST_EQ_INT(fd.ev[0].duration_ms, 80);
	TEST_EQ_INT(fd.ev[1].digit, '4');
	TEST_EQ_INT(fd.ev[1].duration_ms, 40);
	/* a timestamp almost half the space ahead is still newer */
	TEST_EQ_INT(feed(&fd, 0x7FFFFFF0u, 0, false, 160), 0);
	TEST_EQ_INT(feed(&fd, 0x7FFFFFF0u, 0, true, 1600), 0);
	TEST_EQ_INT(fd.n, 3);
	TEST_EQ_INT(fd.ev[2].duration_ms, 200);
out:
	return err;
}

static int test_long_event_segments(void)
{
	int err = 0;
	struct feed fd = { 0 };
	dtmf_rx_init(&fd.rx, 8000);
	/* RFC 4733 §2.5.2.3: a 10 s '0' in two segments */
	TEST_EQ_INT(feed(&fd, 50000, 0, false, 160), 0);
	TEST_EQ_INT(feed(&fd, 50000, 0, false, 0xFFFF), 0);
	TEST_EQ_INT(feed(&fd, 50000 + 0xFFFF, 0, false, 160), 0);
	TEST_EQ_INT(fd.n, 0);
	TEST_EQ_INT(feed(&fd, 50000 + 0xFFFF, 0, true, 80000 - 0xFFFF), 0);
	TEST_EQ_INT(feed(&fd, 50000 + 0xFFFF, 0, true, 80000 - 0xFFFF), 0);
	TEST_EQ_INT(feed(&fd, 50000, 0, false, 0xFFFF), 0);     /* late first segment */
	TEST_EQ_INT(fd.n, 1);
	TEST_EQ_INT(fd.ev[0].duration_ms, 10000);
out:
	return err;
}

static const struct test tests[] = {
	{ "payload", test_payload },
	{ "sender_to_receiver", test_sender_to_receiver },
	{ "redundant_ends_and_reorder", test_redundant_ends_and_reorder },
	{ "new_event_without_end", test_new_event_without_end },
	{ "wraparound", test_wraparound },
	{ "long_event_segments", test_long_event_segments },
};

TEST_MAIN(tests)
