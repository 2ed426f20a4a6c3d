/* libs/media RTCP: SR/RR/SDES/BYE compound round trip, A.2 validity checks,
 * reception reports from rtp_source. */
#include "media/media.h"
#include "harness/test.h"

#include <errno.h>

static int test_compound_roundtrip(void)
{
	int err = 0;
	uint8_t buf[512];
	size_t len = 0;
	struct rtcp_report sr = { .is_sr = true,
				  .ssrc = 0xCAFEBABE,
				  .ntp = 0x0123456789ABCDEFull,
				  .rtp_ts = 160000,
				  .pkt_count = 1000,
				  .octet_count = 160000,
				  .rc = 2 };
	sr.blocks[0] = (struct rtcp_report_block){ .ssrc = 1, .fraction_lost = 25, .cum_lost = 12,
						   .ext_high_seq = 70000, .jitter = 33,
						   .lsr = 0x456789AB, .dlsr = 65536 };
	sr.blocks[1] = (struct rtcp_report_block){ .ssrc = 2, .cum_lost = -3 };
	const uint32_t bye[2] = { 0xCAFEBABE, 5 };
	TEST_EQ_INT(rtcp_build_report(buf, sizeof(buf), &len, &sr), 0);
	TEST_EQ_INT(len, 4 + 4 + 20 + 2 * 24);
	TEST_EQ_INT(rtcp_build_sdes_cname(buf, sizeof(buf), &len, 0xCAFEBABE, "bridge@callmesh",
					  15),
		    0);
	TEST_EQ_INT(rtcp_build_bye(buf, sizeof(buf), &len, bye, 2), 0);
	TEST_EQ_INT(len % 4, 0);
	TEST_EQ_INT(rtcp_validate_compound(buf, len), 0);

	struct rtcp_iter it;
	struct rtcp_pkt pkt;
	struct rtcp_report r;
	rtcp_iter_init(&it, buf, len);
	TEST_EQ_INT(rtcp_iter_next(&it, &pkt), 0);
	TEST_EQ_INT(pkt.type, RTCP_SR);
	TEST_EQ_INT(rtcp_parse_report(&r, &pkt), 0);
	TEST_ASSERT(r.is_sr);
	TEST_EQ_INT(r.ssrc, 0xCAFEBABE);
	TEST_ASSERT(r.ntp == 0x0123456789ABCDEFull);
	TEST_EQ_INT(r.rtp_ts, 160000);
	TEST_EQ_INT(r.pkt_count, 1000);
	TEST_EQ_INT(r.octet_count, 160000);
	TEST_EQ_INT(r.rc, 2);
	TEST_EQ_INT(r.blocks[0].fraction_lost, 25);
	TEST_EQ_INT(r.blocks[0].cum_lost, 12);
	TEST_EQ_INT(r.blocks[0].ext_high_seq, 70000);
	TEST_EQ_INT(r.blocks[0].lsr, 0x456789AB);
	TEST_EQ_INT(r.blocks[0].dlsr, 65536);
	TEST_EQ_INT(r.blocks[1].cum_lost, -3);  /* 24-bit signed */

	TEST_EQ_INT(rtcp_iter_next(&it, &pkt), 0);
	TEST_EQ_INT(pkt.type, RTCP_SDES);
	uint32_t ssrc = 0;
	const uint8_t *cname = NULL;
	size_t cname_len = 0;
	TEST_EQ_INT(rtcp_parse_sdes_cname(&ssrc, &cname, &cname_len, &pkt), 0);
	TEST_EQ_INT(ssrc, 0xCAFEBABE);
	TEST_EQ_INT(cname_len, 15);
	TEST_ASSERT(memcmp(cname, "bridge@callmesh", 15) == 0);

	TEST_EQ_INT(rtcp_iter_next(&it, &pkt), 0);
	TEST_EQ_INT(pkt.type, RTCP_BYE);
	uint32_t ssrcs[4];
	size_t n = 0;
	TEST_EQ_INT(rtcp_parse_bye(ssrcs, 4, &n, &pkt), 0);
	TEST_EQ_INT(n, 2);
	TEST_EQ_INT(ssrcs[1], 5);
	TEST_EQ_INT(rtcp_iter_next(&it, &pkt), ENOENT);
	TEST_EQ_INT(rtcp_parse_report(&r, &pkt), EINVAL);
out:
	return err;
}

static int test_invalid_compounds(void)
{
	int err = 0;
	uint8_t buf[256];
	size_t len = 0;
	struct rtcp_report rr = { .ssrc = 1, .rc = 1 };
	TEST_EQ_INT(rtcp_build_sdes_cname(buf, sizeof(buf), &len, 1, "x", 1), 0);
	TEST_EQ_INT(rtcp_validate_compound(buf, len), EBADMSG);  /* first is SDES */
	len = 0;
	TEST_EQ_INT(rtcp_build_report(buf, sizeof(buf), &len, &rr), 0);
	TEST_EQ_INT(rtcp_validate_compound(buf, len), 0);
	TEST_EQ_INT(rtcp_validate_compound(buf, len - 4), EBADMSG); /* length beyond */
	TEST_EQ_INT(rtcp_validate_compound(buf, len + 0), 0);
	buf[0] |= 0x20;                                              /* padding, last packet */
	TEST_EQ_INT(rtcp_validate_compound(buf, len), EBADMSG);     /* A.2: not in the first */
	buf[0] &= (uint8_t)~0x20;
	size_t first = len;
	TEST_EQ_INT(rtcp_build_bye(buf, sizeof(buf), &len, NULL, 0), 0);
	TEST_EQ_INT(rtcp_validate_compound(buf, len), 0);
	buf[first] = 0x40 | (buf[first] & 0x3f);                     /* version 1 in 2nd */
	TEST_EQ_INT(rtcp_validate_compound(buf, len), EBADMSG);

	/* rc claims more blocks than the length holds */
	len = 0;
	rr.rc = 0;
	TEST_EQ_INT(rtcp_build_report(buf, sizeof(buf), &len, &rr), 0);
	buf[0] = 0x81;
	struct rtcp_iter it;
	struct rtcp_pkt pkt;
	struct rtcp_report r;
	rtcp_iter_init(&it, buf, len);
	TEST_EQ_INT(rtcp_iter_next(&it, &pkt), 0);
	TEST_EQ_INT(rtcp_parse_report(&r, &pkt), EBADMSG);

	/* builders respect capacity */
	len = 0;
	rr.rc = 1;
	TEST_EQ_INT(rtcp_build_report(buf, 16, &len, &rr), EMSGSIZE);
	TEST_EQ_INT(len, 0);
out:
	return err;
}

static int test_source_report_rr(void)
{
	int err = 0;
	struct rtp_source s;
	uint32_t ext;
	rtp_source_init(&s, 0xABCD, 100, 8000);
	int64_t t = 0;
	uint32_t ts = 0;
	for (uint16_t seq = 100; seq < 200; seq++, ts += 160, t += 20000) {
		if (seq % 10 == 5)
			continue; /* 10 % loss */
		/* alternate ±4 ms of delay */
		int rc = rtp_source_update(&s, &ext, seq, ts, t + (seq % 2 ? 4000 : 0));
		TEST_ASSERT(rc == 0 || rc == EAGAIN);
	}
	struct rtcp_report rr = { .ssrc = 0x5555, .rc = 1 };
	rtp_source_report(&rr.blocks[0], &s);
	uint8_t buf[64];
	size_t len = 0;
	TEST_EQ_INT(rtcp_build_report(buf, sizeof(buf), &len, &rr), 0);
	struct rtcp_iter it;
	struct rtcp_pkt pkt;
	struct rtcp_report back;
	rtcp_iter_init(&it, buf, len);
	TEST_EQ_INT(rtcp_iter_next(&it, &pkt), 0);
	TEST_EQ_INT(rtcp_parse_report(&back, &pkt), 0);
	TEST_ASSERT(!back.is_sr);
	TEST_EQ_INT(back.blocks[0].ssrc, 0xABCD);
	TEST_EQ_INT(back.blocks[0].ext_high_seq, 199);
	TEST_EQ_INT(back.blocks[0].cum_lost, 10);   /* 105, 115, .., 195 */
	TEST_ASSERT(back.blocks[0].fraction_lost > 20 && back.blocks[0].fraction_lost < 30);
	/* 4 ms = 32 ts units of alternating transit: J converges towards 32 */
	TEST_ASSERT(back.blocks[0].jitter > 20 && back.blocks[0].jitter <= 32);
	/* the next interval has no new loss */
	rtp_source_report(&rr.blocks[0], &s);
	TEST_EQ_INT(rr.blocks[0].fraction_lost, 0);
	TEST_EQ_INT(rtcp_ntp_middle(0x0123456789ABCDEFull), 0x456789AB);
out:
	return err;
}

static const struct test tests[] = {
	{ "compound_roundtrip", test_compound_roundtrip },
	{ "invalid_compounds", test_invalid_compounds },
	{ "source_report_rr", test_source_report_rr },
};

TEST_MAIN(tests)
