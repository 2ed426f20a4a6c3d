/* libs/sdp: the reader's limits and errors, our offer, codec choice in answers. */
#include "harness/test.h"
#include "sdp/sdp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct sdp_local local = { "127.0.0.1", 30002, 7, 1, NULL };

#define KEY80 "1 AES_CM_128_HMAC_SHA1_80 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj"
static const struct sdp_local secure = { "127.0.0.1", 30002, 7, 1, KEY80 };

static int parse(struct sdp_audio *a, const char *s)
{
	return sdp_audio_parse(a, s, strlen(s));
}

static int test_offer_is_what_exotel_expects(void)
{
	int err = 0;
	char buf[1024];
	struct sdp_audio a;
	struct sdp_hold h;
	TEST_EQ_INT(sdp_offer_build(buf, sizeof(buf), &local), 0);
	TEST_CONTAINS(buf, "m=audio 30002 RTP/AVP 0 8 101\r\n");
	TEST_CONTAINS(buf, "a=rtpmap:0 PCMU/8000\r\n");
	TEST_CONTAINS(buf, "a=rtpmap:8 PCMA/8000\r\n");
	TEST_CONTAINS(buf, "a=rtpmap:101 telephone-event/8000\r\n");
	TEST_CONTAINS(buf, "a=ptime:20\r\n");
	TEST_CONTAINS(buf, "c=IN IP4 127.0.0.1\r\n");
	TEST_CONTAINS(buf, "o=callmesh 7 1 IN IP4 127.0.0.1\r\n");
	TEST_EQ_INT(parse(&a, buf), 0);
	TEST_EQ_INT(a.pcmu_pt, 0);
	TEST_EQ_INT(a.pcma_pt, 8);
	TEST_EQ_INT(a.te_pt, 101);
	TEST_EQ_INT(a.ptime, 20);
	sdp_hold_classify(&h, &a);
	TEST_ASSERT(!h.hold);
	TEST_EQ_INT(sdp_offer_build(buf, 40, &local), ENOSPC);
out:
	return err;
}

static int test_answer_codecs(void)
{
	int err = 0;
	char buf[1024];
	struct sdp_audio a;
	/* PCMA first, a dynamic telephone-event, an unknown codec dropped */
	TEST_EQ_INT(parse(&a, "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 7000 RTP/AVP 18 8 0 96\r\n"
			      "a=rtpmap:96 telephone-event/8000\r\na=rtpmap:18 G729/8000\r\n"), 0);
	TEST_EQ_INT(a.te_pt, 96);
	TEST_EQ_STR(a.addr, "10.1.1.1");
	TEST_EQ_INT(a.port, 7000);
	TEST_EQ_INT(sdp_answer_build(buf, sizeof(buf), &local, &a), 0);
	TEST_CONTAINS(buf, "m=audio 30002 RTP/AVP 8 0 96\r\n");
	TEST_CONTAINS(buf, "a=rtpmap:96 telephone-event/8000\r\n");
	TEST_CONTAINS(buf, "a=sendrecv\r\n");
	/* PCMU on a dynamic payload type */
	TEST_EQ_INT(parse(&a, "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 7000 RTP/AVP 97\r\na=rtpmap:97 "
			      "pcmu/8000\r\n"),
		    0);
	TEST_EQ_INT(a.pcmu_pt, 97);
	TEST_EQ_INT(sdp_answer_build(buf, sizeof(buf), &local, &a), 0);
	TEST_CONTAINS(buf, "RTP/AVP 97\r\n");
	/* nothing we speak: 488 */
	TEST_EQ_INT(parse(&a, "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 7000 RTP/AVP 18\r\n"), 0);
	TEST_EQ_INT(sdp_answer_build(buf, sizeof(buf), &local, &a), ENOTSUP);
	/* 0 re-mapped to something else is not PCMU */
	TEST_EQ_INT(parse(&a, "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 7000 RTP/AVP 0\r\na=rtpmap:0 "
			      "G722/8000\r\n"),
		    0);
	TEST_EQ_INT(a.pcmu_pt, -1);
	TEST_EQ_INT(sdp_answer_build(buf, 30, &local, &a), ENOTSUP);
	TEST_EQ_INT(parse(&a, "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 7000 RTP/AVP 0\r\n"), 0);
	TEST_EQ_INT(sdp_answer_build(buf, 30, &local, &a), ENOSPC);
out:
	return err;
}

static int test_bad_input(void)
{
	int err = 0;
	struct sdp_audio a;
	struct sdp_hold h;
	static const char *const bad[] = {
		"",
		"\r\n",
		"x",
		"o=- 1 1 IN IP4 1.1.1.1\r\nm=audio 1 RTP/AVP 0\r\n", /* no v= first */
		"v=0\r\n",					     /* no m= */
		"v=0\r\nm=audio\r\n",
		"v=0\r\nm=audio 70000 RTP/AVP 0\r\n",
		"v=0\r\nm=audio -1 RTP/AVP 0\r\n",
		"v=0\r\nm=audio 4000\r\n",
		"v=0\r\nc=IN\r\nm=audio 4000 RTP/AVP 0\r\n",
		"v=0\r\nc=XX IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\n",
		"v=0\r\nm=audio 4000 RTP/AVP 0\r\nbogus line\r\n",
		"v=0\r\nm=audio 4000 RTP/AVP 0\r\nA=x\r\n",
		"v=0\r\nc=IN IP4 "
		"1111111111111111111111111111111111111111111111111111111111111111111\r\n"
		"m=audio 4000 RTP/AVP 0\r\n",
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++) {
		if (parse(&a, bad[i]) != EINVAL) {
			test_failed(__FILE__, __LINE__, "accepted: %s", bad[i]);
			err = 1;
			goto out;
		}
	}
	TEST_EQ_INT(sdp_audio_parse(NULL, "v=0", 3), EINVAL);
	TEST_EQ_INT(sdp_audio_parse(&a, NULL, 3), EINVAL);
	char *big = malloc(SDP_MAX + 2);
	TEST_ASSERT(big != NULL);
	memset(big, 'a', SDP_MAX + 1);
	big[SDP_MAX + 1] = '\0';
	int rc = sdp_audio_parse(&a, big, SDP_MAX + 1);
	free(big);
	TEST_EQ_INT(rc, EMSGSIZE);
	/* not NUL-terminated: only len bytes are read */
	const char s[] = "v=0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonlyXXXX";
	TEST_EQ_INT(sdp_audio_parse(&a, s, strlen(s) - 4), 0);
	sdp_hold_classify(&h, &a);
	TEST_ASSERT(h.hold);
	/* more formats than kept */
	TEST_EQ_INT(parse(&a, "v=0\r\nm=audio 4000 RTP/AVP 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 "
			      "17 18 19 20 21 22"
			      " 23 24 25 26 27 28 29 30 31 32 33 34 0\r\n"),
		    0);
	TEST_EQ_INT(a.nfmt, SDP_FMT_MAX);
out:
	return err;
}

/* An SRTP offer (RFC 3711 proto, RFC 4568 a=crypto) as baresip's srtp
 * module writes one: several suites, media-level only. */
static int test_crypto_parse(void)
{
	int err = 0;
	struct sdp_audio a;
	TEST_EQ_INT(parse(&a, "v=0\r\nc=IN IP4 10.1.1.1\r\na=crypto:9 session-level-is-ignored\r\n"
			      "m=audio 7000 RTP/SAVP 0 8\r\n"
			      "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n"
			      "a=crypto:  2 AES_CM_128_HMAC_SHA1_32 inline:BBBB  \r\n"
			      "a=crypto:\r\n"
			      "a=crypto:3 AEAD_AES_128_GCM inline:CCCC\r\n"
			      "a=crypto:4 AEAD_AES_256_GCM inline:DDDD\r\n"
			      "a=crypto:5 one too many\r\n"
			      "m=video 7002 RTP/SAVP 96\r\na=crypto:1 video-is-not-ours\r\n"), 0);
	TEST_ASSERT(a.savp);
	TEST_EQ_INT(a.ncrypto, SDP_CRYPTO_MAX);
	TEST_EQ_STR(a.crypto[0], "1 AES_CM_128_HMAC_SHA1_80 inline:AAAA");
	TEST_EQ_STR(a.crypto[1], "2 AES_CM_128_HMAC_SHA1_32 inline:BBBB");
	TEST_EQ_STR(a.crypto[3], "4 AEAD_AES_256_GCM inline:DDDD");
	/* RTP/SAVPF is SRTP too; RTP/AVP with a=crypto is not (the lines are kept) */
	TEST_EQ_INT(parse(&a, "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 7000 RTP/SAVPF 0\r\n"), 0);
	TEST_ASSERT(a.savp);
	TEST_EQ_INT(a.ncrypto, 0);
	TEST_EQ_INT(parse(&a, "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 7000 RTP/AVP 0\r\n"
			      "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n"), 0);
	TEST_ASSERT(!a.savp);
	TEST_EQ_INT(a.ncrypto, 1);
	/* a value too long to keep is skipped, not truncated */
	char big[SDP_CRYPTO_LEN + 64], body[SDP_CRYPTO_LEN + 256];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(body, sizeof(body), "v=0\r\nm=audio 7000 RTP/SAVP 0\r\na=crypto:1 X inline:%s\r\n",
		 big);
	TEST_EQ_INT(parse(&a, body), 0);
	TEST_EQ_INT(a.ncrypto, 0);
out:
	return err;
}

static int test_secure_offer_and_answer(void)
{
	int err = 0;
	char buf[1024];
	struct sdp_audio a;
	TEST_EQ_INT(sdp_offer_build(buf, sizeof(buf), &secure), 0);
	TEST_CONTAINS(buf, "m=audio 30002 RTP/SAVP 0 8 101\r\n");
	TEST_CONTAINS(buf, "\r\na=crypto:" KEY80 "\r\n");
	TEST_EQ_INT(parse(&a, buf), 0);
	TEST_ASSERT(a.savp);
	TEST_EQ_INT(a.ncrypto, 1);
	TEST_EQ_STR(a.crypto[0], KEY80);
	/* the plain offer has neither */
	TEST_EQ_INT(sdp_offer_build(buf, sizeof(buf), &local), 0);
	TEST_ASSERT(strstr(buf, "SAVP") == NULL && strstr(buf, "a=crypto") == NULL);
	/* no room for the crypto line */
	TEST_EQ_INT(sdp_offer_build(buf, 200, &secure), ENOSPC);

	/* an answer to a hold offer keeps the crypto line */
	TEST_EQ_INT(parse(&a, "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 7000 RTP/SAVP 0 101\r\n"
			      "a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
			      "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n"), 0);
	TEST_EQ_INT(sdp_answer_build(buf, sizeof(buf), &secure, &a), 0);
	TEST_CONTAINS(buf, "m=audio 30002 RTP/SAVP 0 101\r\n");
	TEST_CONTAINS(buf, "a=recvonly\r\n");
	TEST_CONTAINS(buf, "a=crypto:" KEY80 "\r\n");
	TEST_EQ_INT(parse(&a, buf), 0);
	TEST_EQ_INT(a.ncrypto, 1);
	/* a disabled stream: port 0, same proto, no key */
	TEST_EQ_INT(parse(&a, "v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 0 RTP/SAVP 0\r\n"), 0);
	TEST_EQ_INT(sdp_answer_build(buf, sizeof(buf), &secure, &a), 0);
	TEST_CONTAINS(buf, "m=audio 0 RTP/SAVP 0\r\na=inactive\r\n");
	TEST_ASSERT(strstr(buf, "a=crypto") == NULL);
	/* a crypto value that would break the body is refused */
	struct sdp_local bad = secure;
	bad.crypto = "1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\na=sendonly";
	TEST_EQ_INT(sdp_offer_build(buf, sizeof(buf), &bad), EINVAL);
	TEST_EQ_INT(sdp_answer_build(buf, sizeof(buf), &bad, &a), EINVAL);
	bad.crypto = "";
	TEST_EQ_INT(sdp_offer_build(buf, sizeof(buf), &bad), EINVAL);
out:
	return err;
}

static const struct test tests[] = {
	{ "crypto_parse", test_crypto_parse },
	{ "secure_offer_and_answer", test_secure_offer_and_answer },
	{ "offer_is_what_exotel_expects", test_offer_is_what_exotel_expects },
	{ "answer_codecs", test_answer_codecs },
	{ "bad_input", test_bad_input },
};
TEST_MAIN(tests)
