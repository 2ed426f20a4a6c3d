/* libs/media SRTP: a=crypto parse/format (RFC 4568), protect/unprotect
 * round trips for both suites and RTCP, tamper and replay detection. */
#include "media/media.h"
#include "harness/test.h"

#include <errno.h>
#include <string.h>

/* RFC 4568 §4 example key */
#define RFC_LINE                              \
	"a=crypto:1 AES_CM_128_HMAC_SHA1_80 " \
	"inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4"

static int test_parse_rfc_example(void)
{
	int err = 0;
	struct sdes_crypto c;
	TEST_EQ_INT(sdes_crypto_parse(&c, RFC_LINE "\r\n", strlen(RFC_LINE) + 2), 0);
	TEST_EQ_INT(c.tag, 1);
	TEST_EQ_INT(c.suite, SDES_AES_CM_128_HMAC_SHA1_80);
	TEST_ASSERT(c.lifetime == (uint64_t)1 << 20);
	TEST_EQ_INT(c.mki, 1);
	TEST_EQ_INT(c.mki_len, 4);
	/* "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR" = "=-n@%^x!Bjuercjk)?,#5h\\`=&]{qiPQ" */
	TEST_EQ_INT(c.key[0], '=');
	TEST_EQ_INT(c.key[1], '-');
	TEST_EQ_INT(c.key[29], 'Q');
	char buf[SDES_LINE_MAX];
	TEST_EQ_INT(sdes_crypto_format(buf, sizeof(buf), &c), 0);
	TEST_EQ_STR(buf, RFC_LINE + strlen("a=crypto:"));
	/* MKI keys parse but a session with one is not supported */
	struct media_srtp *s = NULL;
	TEST_EQ_INT(media_srtp_new(&s, &c, &c), ENOTSUP);
	TEST_ASSERT(s == NULL);
out:
	return err;
}

static int test_parse_variants(void)
{
	int err = 0;
	struct sdes_crypto c;
	const char *ok[] = {
		"2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj",
		"3 AES_CM_128_HMAC_SHA1_80 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|1048576",
		"3 AES_CM_128_HMAC_SHA1_80 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|7:2",
		"4 AES_CM_128_HMAC_SHA1_80 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj WSH=64 "
		"KDR=0",
		"5 AES_CM_128_HMAC_SHA1_80 "
		"inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj;inline:NzB4d1BINUAvLEw6UzF3WSJ+"
		"PSdFcGdUJShpX1Zj",
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(ok); i++)
		TEST_EQ_INT(sdes_crypto_parse(&c, ok[i], strlen(ok[i])), 0);
	TEST_EQ_INT(c.tag, 5);
	const char *l = ok[0];
	TEST_EQ_INT(sdes_crypto_parse(&c, l, strlen(l)), 0);
	TEST_EQ_INT(c.suite, SDES_AES_CM_128_HMAC_SHA1_32);
	TEST_ASSERT(c.lifetime == 0 && c.mki_len == 0);
	l = ok[1];
	TEST_EQ_INT(sdes_crypto_parse(&c, l, strlen(l)), 0);
	TEST_ASSERT(c.lifetime == 1048576);
	l = ok[2];
	TEST_EQ_INT(sdes_crypto_parse(&c, l, strlen(l)), 0);
	TEST_ASSERT(c.lifetime == 0 && c.mki == 7 && c.mki_len == 2);

	struct { const char *line; int want;
	} bad[] = {
		{ "", EBADMSG },
		{ "0 AES_CM_128_HMAC_SHA1_80 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj",
		  EBADMSG },
		{ "1 AES_CM_128_HMAC_SHA1_80 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Z",
		  EBADMSG },
		{ "1 AES_CM_128_HMAC_SHA1_80 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj==",
		  EBADMSG },
		{ "1 AES_CM_128_HMAC_SHA1_80 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Z!",
		  EBADMSG },
		{ "1 AES_CM_128_HMAC_SHA1_80 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^99",
		  EBADMSG },
		{ "1 AES_CM_128_HMAC_SHA1_80 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|1:0",
		  EBADMSG },
		{ "1 AES_CM_128_HMAC_SHA1_80 key:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj",
		  EBADMSG },
		{ "1 AEAD_AES_256_GCM inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj", ENOTSUP },
		{ "1 AES_CM_128_HMAC_SHA1_80 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj "
		  "UNENCRYPTED_SRTP",
		  ENOTSUP },
		{ "1 AES_CM_128_HMAC_SHA1_80 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj KDR=5",
		  ENOTSUP },
		{ "1234567890 AES_CM_128_HMAC_SHA1_80 "
		  "inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj",
		  EBADMSG },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++) {
		int rc = sdes_crypto_parse(&c, bad[i].line, strlen(bad[i].line));
		if (rc != bad[i].want) {
			test_failed(__FILE__, __LINE__, "\"%s\": %d, want %d", bad[i].line, rc,
				    bad[i].want);
			err = 1;
			goto out;
		}
	}
out:
	return err;
}

static int test_generate_format(void)
{
	int err = 0;
	struct sdes_crypto a, b;
	char line[SDES_LINE_MAX];
	TEST_EQ_INT(sdes_crypto_generate(&a, 1, SDES_AES_CM_128_HMAC_SHA1_32), 0);
	TEST_EQ_INT(sdes_crypto_format(line, sizeof(line), &a), 0);
	TEST_EQ_INT(strlen(line), strlen("1 AES_CM_128_HMAC_SHA1_32 inline:") + 40);
	TEST_EQ_INT(sdes_crypto_parse(&b, line, strlen(line)), 0);
	TEST_ASSERT(memcmp(a.key, b.key, SDES_KEY_LEN) == 0);
	TEST_EQ_INT(b.suite, SDES_AES_CM_128_HMAC_SHA1_32);
	TEST_EQ_INT(sdes_crypto_format(line, 20, &a), EMSGSIZE);
	TEST_EQ_INT(sdes_crypto_generate(&a, 0, SDES_AES_CM_128_HMAC_SHA1_80), EINVAL);
out:
	return err;
}

static size_t rtp_packet(uint8_t *buf, size_t cap, uint16_t seq)
{
	uint8_t payload[160];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i ^ seq);
	struct rtp_hdr h = { .pt = 0, .seq = seq, .ts = seq * 160u, .ssrc = 0x5EC0 };
	size_t len = 0;
	if (rtp_build(&len, buf, cap, &h, payload, sizeof(payload)) != 0)
		return 0;
	return len;
}

static int roundtrip(enum sdes_suite suite, size_t tag_len)
{
	int err = 0;
	struct sdes_crypto ka, kb;
	struct media_srtp *a = NULL, *b = NULL;
	uint8_t plain[RTP_PACKET_MAX], buf[RTP_PACKET_MAX + MEDIA_SRTP_TRAILER_MAX];
	TEST_EQ_INT(sdes_crypto_generate(&ka, 1, suite), 0);
	TEST_EQ_INT(sdes_crypto_generate(&kb, 1, suite), 0);
	/* a sends with ka and receives kb; b the other way round */
	TEST_EQ_INT(media_srtp_new(&a, &ka, &kb), 0);
	TEST_EQ_INT(media_srtp_new(&b, &kb, &ka), 0);
	for (uint16_t seq = 1; seq <= 20; seq++) {
		size_t plen = rtp_packet(plain, sizeof(plain), seq), len = plen;
		TEST_ASSERT(plen > 0);
		memcpy(buf, plain, plen);
		TEST_EQ_INT(media_srtp_protect(a, buf, sizeof(buf), &len), 0);
		TEST_EQ_INT(len, plen + tag_len);
		TEST_ASSERT(memcmp(buf, plain, RTP_HDR_LEN) == 0);       /* header in clear */
		TEST_ASSERT(memcmp(buf + RTP_HDR_LEN, plain + RTP_HDR_LEN, 16) !=
			    0); /* payload not */
		TEST_EQ_INT(media_srtp_unprotect(b, buf, &len), 0);
		TEST_EQ_INT(len, plen);
		TEST_ASSERT(memcmp(buf, plain, plen) == 0);
	}
	/* the other direction, b → a */
	size_t plen = rtp_packet(plain, sizeof(plain), 500), len = plen;
	memcpy(buf, plain, plen);
	TEST_EQ_INT(media_srtp_protect(b, buf, sizeof(buf), &len), 0);
	/* a replay is refused */
	uint8_t copy[sizeof(buf)];
	size_t clen = len;
	memcpy(copy, buf, len);
	TEST_EQ_INT(media_srtp_unprotect(a, buf, &len), 0);
	TEST_ASSERT(memcmp(buf, plain, plen) == 0);
	TEST_EQ_INT(media_srtp_unprotect(a, copy, &clen), EALREADY);
	/* tampering: one bit in the payload, the header, or the tag */
	const size_t where[3] = { RTP_HDR_LEN + 5, 3, 0 };
	for (int i = 0; i < 3; i++) {
		plen = rtp_packet(plain, sizeof(plain), (uint16_t)(600 + i));
		len = plen;
		memcpy(buf, plain, plen);
		TEST_EQ_INT(media_srtp_protect(b, buf, sizeof(buf), &len), 0);
		size_t at = i == 2 ? len - 1 : where[i];
		buf[at] ^= 0x01;
		TEST_EQ_INT(media_srtp_unprotect(a, buf, &len), EBADMSG);
	}
	/* the wrong key fails authentication */
	plen = rtp_packet(plain, sizeof(plain), 21);
	len = plen;
	memcpy(buf, plain, plen);
	TEST_EQ_INT(media_srtp_protect(a, buf, sizeof(buf), &len), 0);
	TEST_EQ_INT(media_srtp_unprotect(a, buf, &len), EBADMSG);   /* a expects kb */
	/* no room for the trailer */
	len = plen;
	TEST_EQ_INT(media_srtp_protect(a, buf, plen + 4, &len), EMSGSIZE);

	/* SRTCP: an RR round trip (80-bit tag with either suite) */
	uint8_t rtcp[256];
	size_t rlen = 0;
	struct rtcp_report rr = { .ssrc = 0x5EC0, .rc = 0 };
	TEST_EQ_INT(rtcp_build_report(rtcp, sizeof(rtcp), &rlen, &rr), 0);
	TEST_EQ_INT(rtcp_build_sdes_cname(rtcp, sizeof(rtcp), &rlen, 0x5EC0, "a@b", 3), 0);
	memcpy(buf, rtcp, rlen);
	len = rlen;
	TEST_EQ_INT(media_srtp_protect_rtcp(a, buf, sizeof(buf), &len), 0);
	TEST_EQ_INT(len, rlen + 4 + 10);
	TEST_EQ_INT(media_srtp_unprotect_rtcp(b, buf, &len), 0);
	TEST_EQ_INT(len, rlen);
	TEST_ASSERT(memcmp(buf, rtcp, rlen) == 0);
	memcpy(buf, rtcp, rlen);
	len = rlen;
	TEST_EQ_INT(media_srtp_protect_rtcp(a, buf, sizeof(buf), &len), 0);
	buf[8] ^= 0x80;
	TEST_EQ_INT(media_srtp_unprotect_rtcp(b, buf, &len), EBADMSG);
out:
	media_srtp_free(a);
	media_srtp_free(b);
	return err;
}

static int test_roundtrip_80(void)
{
	return roundtrip(SDES_AES_CM_128_HMAC_SHA1_80, 10);
}

static int test_roundtrip_32(void)
{
	return roundtrip(SDES_AES_CM_128_HMAC_SHA1_32, 4);
}

static const struct test tests[] = {
	{ "parse_rfc_example", test_parse_rfc_example },
	{ "parse_variants", test_parse_variants },
	{ "generate_format", test_generate_format },
	{ "roundtrip_80", test_roundtrip_80 },
	{ "roundtrip_32", test_roundtrip_32 },
};

TEST_MAIN(tests)
