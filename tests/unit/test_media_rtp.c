/* libs/media RTP: packet parse/build round trips, malformed packets,
 * sequence/timestamp wrap-around and per-source loss accounting. */
#include "media/media.h"
#include "harness/test.h"

#include <errno.h>

static int test_roundtrip_plain(void)
{
	int err = 0;
	uint8_t buf[RTP_PACKET_MAX], payload[160];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	struct rtp_hdr h = {
		.marker = true, .pt = 0, .seq = 4242, .ts = 0xDEADBEEF, .ssrc = 0x01020304
	};
	size_t len = 0;
	TEST_EQ_INT(rtp_build(&len, buf, sizeof(buf), &h, payload, sizeof(payload)), 0);
	TEST_EQ_INT(len, RTP_HDR_LEN + 160);
	TEST_EQ_INT(buf[0], 0x80);
	TEST_EQ_INT(buf[1], 0x80);
	struct rtp_packet p;
	TEST_EQ_INT(rtp_parse(&p, buf, len), 0);
	TEST_ASSERT(p.hdr.marker);
	TEST_EQ_INT(p.hdr.pt, 0);
	TEST_EQ_INT(p.hdr.seq, 4242);
	TEST_EQ_INT(p.hdr.ts, 0xDEADBEEF);
	TEST_EQ_INT(p.hdr.ssrc, 0x01020304);
	TEST_EQ_INT(p.hdr.cc, 0);
	TEST_ASSERT(!p.hdr.ext);
	TEST_EQ_INT(p.payload_len, 160);
	TEST_ASSERT(p.payload == buf + RTP_HDR_LEN); /* a slice, not a copy */
	TEST_ASSERT(memcmp(p.payload, payload, 160) == 0);
out:
	return err;
}

static int test_roundtrip_full(void)
{
	int err = 0;
	uint8_t buf[256], again[256];
	const uint8_t ext[8] = { 0x10, 0xAA, 0, 0, 0x22, 0x01, 0x02, 0 };
	const uint8_t payload[5] = { 1, 2, 3, 4, 5 };
	struct rtp_hdr h = { .pt = 111, .seq = 65535, .ts = 1, .ssrc = 7, .cc = 2,
			     .csrc = { 0x11111111, 0x22222222 }, .ext = true, .ext_profile = 0xBEDE,
			     .ext_data = ext, .ext_len = sizeof(ext), .pad_len = 3 };
	size_t len = 0, len2 = 0;
	TEST_EQ_INT(rtp_build(&len, buf, sizeof(buf), &h, payload, sizeof(payload)), 0);
	TEST_EQ_INT(len, 12 + 8 + 4 + 8 + 5 + 3);
	TEST_EQ_INT(buf[len - 1], 3);
	struct rtp_packet p;
	TEST_EQ_INT(rtp_parse(&p, buf, len), 0);
	TEST_EQ_INT(p.hdr.cc, 2);
	TEST_EQ_INT(p.hdr.csrc[1], 0x22222222);
	TEST_ASSERT(p.hdr.ext);
	TEST_EQ_INT(p.hdr.ext_profile, 0xBEDE);
	TEST_EQ_INT(p.hdr.ext_len, 8);
	TEST_ASSERT(memcmp(p.hdr.ext_data, ext, 8) == 0);
	TEST_EQ_INT(p.hdr.pad_len, 3);
	TEST_EQ_INT(p.payload_len, 5);
	TEST_ASSERT(memcmp(p.payload, payload, 5) == 0);
	/* parse → build reproduces the bytes */
	TEST_EQ_INT(rtp_build(&len2, again, sizeof(again), &p.hdr, p.payload, p.payload_len), 0);
	TEST_EQ_INT(len2, len);
	TEST_ASSERT(memcmp(again, buf, len) == 0);
out:
	return err;
}

static int test_malformed(void)
{
	int err = 0;
	struct rtp_packet p;
	uint8_t b[64] = { 0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1 };
	TEST_EQ_INT(rtp_parse(&p, b, 11), EBADMSG);            /* short */
	TEST_EQ_INT(rtp_parse(&p, b, 12), 0);                  /* empty payload is fine */
	TEST_EQ_INT(p.payload_len, 0);
	b[0] = 0x40;
	TEST_EQ_INT(rtp_parse(&p, b, 20), EBADMSG);            /* version 1 */
	b[0] = 0x83;                                           /* 3 CSRCs = 12 more bytes */
	TEST_EQ_INT(rtp_parse(&p, b, 23), EBADMSG);
	TEST_EQ_INT(rtp_parse(&p, b, 24), 0);
	b[0] = 0x90;                                           /* extension header */
	TEST_EQ_INT(rtp_parse(&p, b, 15), EBADMSG);
	b[14] = 0; b[15] = 2;                                  /* 2 words = 8 bytes */
	TEST_EQ_INT(rtp_parse(&p, b, 23), EBADMSG);
	TEST_EQ_INT(rtp_parse(&p, b, 24), 0);
	b[0] = 0xA0;                                           /* padding */
	b[19] = 0;
	TEST_EQ_INT(rtp_parse(&p, b, 20), EBADMSG);            /* count 0 */
	b[19] = 9;
	TEST_EQ_INT(rtp_parse(&p, b, 20), EBADMSG);            /* more than the payload */
	b[19] = 8;
	TEST_EQ_INT(rtp_parse(&p, b, 20), 0);
	TEST_EQ_INT(p.payload_len, 0);
	TEST_EQ_INT(rtp_parse(&p, NULL, 0), EBADMSG);
out:
	return err;
}

static int test_build_bounds(void)
{
	int err = 0;
	uint8_t buf[20], pl[9] = { 0 };
	size_t len = 0;
	struct rtp_hdr h = { .pt = 8 };
	TEST_EQ_INT(rtp_build(&len, buf, sizeof(buf), &h, pl, 8), 0);
	TEST_EQ_INT(rtp_build(&len, buf, sizeof(buf), &h, pl, 9), EMSGSIZE);
	h.pad_len = 1;
	TEST_EQ_INT(rtp_build(&len, buf, sizeof(buf), &h, pl, 8), EMSGSIZE);
	h.pad_len = 0;
	h.pt = 128;
	TEST_EQ_INT(rtp_build(&len, buf, sizeof(buf), &h, pl, 1), EINVAL);
	h.pt = 0;
	h.ext = true;
	h.ext_len = 3;
	TEST_EQ_INT(rtp_build(&len, buf, sizeof(buf), &h, pl, 1), EINVAL);
out:
	return err;
}

static int test_serial_arithmetic(void)
{
	int err = 0;
	TEST_ASSERT(rtp_seq_lt(65535, 0));
	TEST_ASSERT(!rtp_seq_lt(0, 65535));
	TEST_ASSERT(rtp_seq_lt(1, 2));
	TEST_ASSERT(!rtp_seq_lt(7, 7));
	TEST_EQ_INT(rtp_seq_diff(65530, 5), 11);
	TEST_EQ_INT(rtp_seq_diff(5, 65530), -11);
	TEST_ASSERT(rtp_ts_lt(0xFFFFFF00u, 0x10));
	TEST_EQ_INT(rtp_ts_diff(0xFFFFFF00u, 0x10), 0x110);
	TEST_EQ_INT(rtp_ts_diff(0x10, 0xFFFFFF00u), -0x110);
	TEST_ASSERT(rtp_ssrc_random() != rtp_ssrc_random() ||
		    rtp_ssrc_random() != rtp_ssrc_random());
out:
	return err;
}

static int test_source_wrap_and_loss(void)
{
	int err = 0;
	struct rtp_source s;
	uint32_t ext = 0;
	rtp_source_init(&s, 99, 65530, 8000);
	/* probation: the first packet is not yet valid, the second is */
	TEST_EQ_INT(rtp_source_update(&s, &ext, 65530, 0, 0), EAGAIN);
	TEST_EQ_INT(rtp_source_update(&s, &ext, 65531, 160, 20000), 0);
	TEST_EQ_INT(ext, 65531);
	uint32_t ts = 320;
	int64_t t = 40000;
	/* 65532 .. 65535, 0 .. 9 with 65534 and 3 lost */
	for (uint32_t i = 65532; i < 65536 + 10; i++, ts += 160, t += 20000) {
		uint16_t seq = (uint16_t)i;
		if (seq == 65534 || seq == 3)
			continue;
		TEST_EQ_INT(rtp_source_update(&s, &ext, seq, ts, t), 0);
		TEST_EQ_INT(ext, i);
	}
	/* a reordered packet from before the wrap keeps its old cycle */
	TEST_EQ_INT(rtp_source_update(&s, &ext, 65534, 2 * 160, t), 0);
	TEST_EQ_INT(ext, 65534);
	TEST_EQ_INT(rtp_source_ext_max(&s), 65536 + 9);
	struct rtcp_report_block b;
	rtp_source_report(&b, &s);
	TEST_EQ_INT(b.ssrc, 99);
	TEST_EQ_INT(b.ext_high_seq, 65536 + 9);
	TEST_EQ_INT(b.cum_lost, 1);             /* 15 expected (65531..9), 14 received */
	TEST_EQ_INT(b.fraction_lost, 1 * 256 / 15);
	/* perfectly paced: jitter stays ~0 */
	TEST_ASSERT(b.jitter < 200);
	/* a wild jump is not counted until confirmed by the next packet */
	TEST_EQ_INT(rtp_source_update(&s, &ext, 30000, 0, t), ESTALE);
	TEST_EQ_INT(rtp_source_update(&s, &ext, 30001, 160, t), 0);
	TEST_EQ_INT(rtp_source_ext_max(&s), 30001);
out:
	return err;
}

static const struct test tests[] = {
	{ "roundtrip_plain", test_roundtrip_plain },
	{ "roundtrip_full", test_roundtrip_full },
	{ "malformed", test_malformed },
	{ "build_bounds", test_build_bounds },
	{ "serial_arithmetic", test_serial_arithmetic },
	{ "source_wrap_and_loss", test_source_wrap_and_loss },
};

TEST_MAIN(tests)
