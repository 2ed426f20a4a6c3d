/* libs/sdp hold classifier (sdp_hold_classify) and answer direction: the
 * classifier alone on streams built by hand, hand-picked carrier offers
 * parsed and classified, then every combination of session/media
 * direction, session/media c= and port, each answered and the answer read
 * back. */
#include "harness/test.h"
#include "sdp/sdp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct sdp_local local = { "127.0.0.1", 30000, 42, 2, NULL };

struct hold_case {
	const char *name;
	const char *sdp;
	bool hold;
	enum sdp_dir effective;
	enum sdp_hold_method method;
	enum sdp_dir answer;
};

#define HDR "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\n"
#define AUDIO "m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"

static const struct hold_case cases[] = {
	{ "plain offer", HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\n" AUDIO, false, SDP_SENDRECV,
	  SDP_HOLD_NONE, SDP_SENDRECV },
	{ "explicit sendrecv", HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\n" AUDIO "a=sendrecv\r\n", false,
	  SDP_SENDRECV, SDP_HOLD_NONE, SDP_SENDRECV },
	{ "media sendonly", HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\n" AUDIO "a=sendonly\r\n", true,
	  SDP_SENDONLY, SDP_HOLD_ATTRIBUTE, SDP_RECVONLY },
	{ "media inactive", HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\n" AUDIO "a=inactive\r\n", true,
	  SDP_INACTIVE, SDP_HOLD_ATTRIBUTE, SDP_INACTIVE },
	{ "media recvonly is not hold", HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\n" AUDIO "a=recvonly\r\n",
	  false, SDP_RECVONLY, SDP_HOLD_NONE, SDP_SENDONLY },
	{ "session sendonly", HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\na=sendonly\r\n" AUDIO, true,
	  SDP_SENDONLY, SDP_HOLD_ATTRIBUTE, SDP_RECVONLY },
	{ "session inactive", HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\na=inactive\r\n" AUDIO, true,
	  SDP_INACTIVE, SDP_HOLD_ATTRIBUTE, SDP_INACTIVE },
	{ "media sendrecv overrides session sendonly",
	  HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\na=sendonly\r\n" AUDIO "a=sendrecv\r\n", false,
	  SDP_SENDRECV, SDP_HOLD_NONE, SDP_SENDRECV },
	{ "media sendonly overrides session sendrecv",
	  HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\na=sendrecv\r\n" AUDIO "a=sendonly\r\n", true,
	  SDP_SENDONLY, SDP_HOLD_ATTRIBUTE, SDP_RECVONLY },
	{ "session c=0.0.0.0", HDR "c=IN IP4 0.0.0.0\r\nt=0 0\r\n" AUDIO, true, SDP_SENDONLY,
	  SDP_HOLD_CONNECTION_ADDRESS, SDP_RECVONLY },
	{ "media c=0.0.0.0", HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\n" AUDIO "c=IN IP4 0.0.0.0\r\n",
	  true, SDP_SENDONLY, SDP_HOLD_CONNECTION_ADDRESS, SDP_RECVONLY },
	{ "media c overrides session c=0.0.0.0",
	  HDR "c=IN IP4 0.0.0.0\r\nt=0 0\r\n" AUDIO "c=IN IP4 10.0.0.2\r\n", false, SDP_SENDRECV,
	  SDP_HOLD_NONE, SDP_SENDRECV },
	{ "c=0.0.0.0 with inactive: attribute",
	  HDR "c=IN IP4 0.0.0.0\r\nt=0 0\r\n" AUDIO "a=inactive\r\n", true, SDP_INACTIVE,
	  SDP_HOLD_ATTRIBUTE, SDP_INACTIVE },
	{ "c=0.0.0.0 with recvonly", HDR "c=IN IP4 0.0.0.0\r\nt=0 0\r\n" AUDIO "a=recvonly\r\n",
	  true, SDP_INACTIVE, SDP_HOLD_CONNECTION_ADDRESS, SDP_INACTIVE },
	{ "port zero", HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n", true,
	  SDP_INACTIVE, SDP_HOLD_PORT_ZERO, SDP_INACTIVE },
	{ "port zero beats sendrecv",
	  HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\na=sendrecv\r\n", true,
	  SDP_INACTIVE, SDP_HOLD_PORT_ZERO, SDP_INACTIVE },
	{ "LF line endings",
	  "v=0\no=- 1 2 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP "
	  "0\na=sendonly\n",
	  true, SDP_SENDONLY, SDP_HOLD_ATTRIBUTE, SDP_RECVONLY },
	{ "audio after video",
	  HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\na=inactive\r\n"
	      "m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n",
	  true, SDP_SENDONLY, SDP_HOLD_ATTRIBUTE, SDP_RECVONLY },
	{ "video inactive does not hold audio",
	  HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	      "m=video 5000 RTP/AVP 96\r\na=inactive\r\n",
	  false, SDP_SENDRECV, SDP_HOLD_NONE, SDP_SENDRECV },
	{ "trailing blanks on attribute",
	  HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\n" AUDIO "a=sendonly  \r\n", true, SDP_SENDONLY,
	  SDP_HOLD_ATTRIBUTE, SDP_RECVONLY },
	{ "last direction of a level wins",
	  HDR "c=IN IP4 10.0.0.1\r\nt=0 0\r\n" AUDIO "a=sendonly\r\na=sendrecv\r\n", false,
	  SDP_SENDRECV, SDP_HOLD_NONE, SDP_SENDRECV },
	{ "c= with ttl", HDR "c=IN IP4 0.0.0.0/127\r\nt=0 0\r\n" AUDIO, true, SDP_SENDONLY,
	  SDP_HOLD_CONNECTION_ADDRESS, SDP_RECVONLY },
	{ "IP6 :: is not RFC 2543 hold", HDR "c=IN IP6 ::\r\nt=0 0\r\n" AUDIO, false, SDP_SENDRECV,
	  SDP_HOLD_NONE, SDP_SENDRECV },
};

static int check_answer(const struct sdp_audio *offer, enum sdp_dir want)
{
	int err = 0;
	char buf[1024];
	struct sdp_audio ans;
	TEST_EQ_INT(sdp_answer_build(buf, sizeof(buf), &local, offer), 0);
	TEST_EQ_INT(sdp_audio_parse(&ans, buf, strlen(buf)), 0);
	TEST_EQ_INT(ans.direction, want);
	if (offer->port == 0) {
		TEST_EQ_INT(ans.port, 0);
	} else {
		TEST_EQ_INT(ans.port, local.port);
		char line[32];
		snprintf(line, sizeof(line), "a=%s\r\n", sdp_dir_name(want));
		TEST_CONTAINS(buf, line);
	}
	TEST_EQ_STR(ans.addr, "127.0.0.1");
out:
	return err;
}

/* The classifier alone: port, direction and conn_zero decide, nothing else
 * of the stream (address text, formats, crypto) does. */
static int test_classify(void)
{
	int err = 0;
	static const struct {
		uint16_t port;
		enum sdp_dir dir;
		bool conn_zero;
		bool hold;
		enum sdp_hold_method method;
		enum sdp_dir effective;
	} rows[] = {
		{ 4000, SDP_SENDRECV, false, false, SDP_HOLD_NONE, SDP_SENDRECV },
		{ 4000, SDP_RECVONLY, false, false, SDP_HOLD_NONE, SDP_RECVONLY },
		{ 4000, SDP_SENDONLY, false, true, SDP_HOLD_ATTRIBUTE, SDP_SENDONLY },
		{ 4000, SDP_INACTIVE, false, true, SDP_HOLD_ATTRIBUTE, SDP_INACTIVE },
		{ 4000, SDP_SENDRECV, true, true, SDP_HOLD_CONNECTION_ADDRESS, SDP_SENDONLY },
		{ 4000, SDP_RECVONLY, true, true, SDP_HOLD_CONNECTION_ADDRESS, SDP_INACTIVE },
		{ 4000, SDP_SENDONLY, true, true, SDP_HOLD_ATTRIBUTE, SDP_SENDONLY },
		{ 4000, SDP_INACTIVE, true, true, SDP_HOLD_ATTRIBUTE, SDP_INACTIVE },
		{ 0, SDP_SENDRECV, false, true, SDP_HOLD_PORT_ZERO, SDP_INACTIVE },
		{ 0, SDP_SENDONLY, true, true, SDP_HOLD_PORT_ZERO, SDP_INACTIVE },
		{ 0, SDP_RECVONLY, true, true, SDP_HOLD_PORT_ZERO, SDP_INACTIVE },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(rows); i++) {
		struct sdp_audio a;
		memset(&a, 0, sizeof(a));
		a.port = rows[i].port;
		a.direction = rows[i].dir;
		a.conn_zero = rows[i].conn_zero;
		/* an address that reads like hold must not count: conn_zero decides */
		snprintf(a.addr, sizeof(a.addr), "%s", rows[i].conn_zero ? "192.0.2.1" : "0.0.0.0");
		struct sdp_hold h;
		sdp_hold_classify(&h, &a);
		if (h.hold != rows[i].hold || h.method != rows[i].method ||
		    h.effective != rows[i].effective) {
			test_failed(__FILE__, __LINE__, "row %zu: got hold %d %s %s", i, h.hold,
				    sdp_hold_method_name(h.method), sdp_dir_name(h.effective));
			err = 1;
			goto out;
		}
	}
	/* the parser fills conn_zero from the c= in effect, IPv4 only */
	struct sdp_audio a;
	const char *zero = HDR "c=IN IP4 0.0.0.0\r\nt=0 0\r\n" AUDIO;
	const char *v6 = HDR "c=IN IP6 ::\r\nt=0 0\r\n" AUDIO;
	const char *over = HDR "c=IN IP4 0.0.0.0\r\nt=0 0\r\n" AUDIO "c=IN IP4 10.0.0.2\r\n";
	TEST_EQ_INT(sdp_audio_parse(&a, zero, strlen(zero)), 0);
	TEST_ASSERT(a.conn_zero);
	TEST_EQ_INT(sdp_audio_parse(&a, v6, strlen(v6)), 0);
	TEST_ASSERT(!a.conn_zero);
	TEST_EQ_INT(sdp_audio_parse(&a, over, strlen(over)), 0);
	TEST_ASSERT(!a.conn_zero);
	TEST_EQ_STR(a.addr, "10.0.0.2");
out:
	return err;
}

static int test_carrier_offers(void)
{
	int err = 0;
	for (size_t i = 0; i < CM_ARRAY_LEN(cases); i++) {
		const struct hold_case *c = &cases[i];
		struct sdp_audio a;
		struct sdp_hold h = { 0 };
		int rc = sdp_audio_parse(&a, c->sdp, strlen(c->sdp));
		if (!rc)
			sdp_hold_classify(&h, &a);
		if (rc || h.hold != c->hold || h.effective != c->effective ||
		    h.method != c->method) {
			test_failed(__FILE__, __LINE__, "%s: rc %d hold %d effective %s method %s",
				    c->name, rc, rc ? -1 : h.hold,
				    rc ? "-" : sdp_dir_name(h.effective),
				    rc ? "-" : sdp_hold_method_name(h.method));
			err = 1;
			goto out;
		}
		if (check_answer(&a, c->answer)) {
			test_failed(__FILE__, __LINE__, "%s: answer", c->name);
			err = 1;
			goto out;
		}
	}
out:
	return err;
}

/* The rule, said a second way, for the exhaustive sweep. */
static void expect(const char *sess_dir, const char *media_dir, int sess_c, int media_c, int port,
		   bool *hold, enum sdp_dir *eff, enum sdp_hold_method *method)
{
	const char *d = media_dir ? media_dir : (sess_dir ? sess_dir : "sendrecv");
	bool zero = media_c ? media_c == 2 : sess_c == 2;
	enum sdp_dir dir = strcmp(d, "sendonly") == 0 ? SDP_SENDONLY :
			   strcmp(d, "recvonly") == 0 ? SDP_RECVONLY :
			   strcmp(d, "inactive") == 0 ? SDP_INACTIVE : SDP_SENDRECV;
	if (port == 0) {
		*hold = true; *eff = SDP_INACTIVE; *method = SDP_HOLD_PORT_ZERO;
	} else if (dir == SDP_SENDONLY || dir == SDP_INACTIVE) {
		*hold = true; *eff = dir; *method = SDP_HOLD_ATTRIBUTE;
	} else if (zero) {
		*hold = true; *eff = dir == SDP_RECVONLY ? SDP_INACTIVE : SDP_SENDONLY;
		*method = SDP_HOLD_CONNECTION_ADDRESS;
	} else {
		*hold = false; *eff = dir; *method = SDP_HOLD_NONE;
	}
}

static int test_every_combination(void)
{
	int err = 0, n = 0;
	const char *dirs[] = { NULL, "sendrecv", "sendonly", "recvonly", "inactive" };
	const char *conns[] = { NULL, "c=IN IP4 192.0.2.7\r\n", "c=IN IP4 0.0.0.0\r\n" };
	const int ports[] = { 0, 4000 };
	for (size_t sd = 0; sd < CM_ARRAY_LEN(dirs); sd++)
	for (size_t md = 0; md < CM_ARRAY_LEN(dirs); md++)
	for (int sc = 0; sc < 3; sc++)
	for (int mc = 0; mc < 3; mc++)
	for (size_t p = 0; p < CM_ARRAY_LEN(ports); p++) {
		char sdp[1024];
		char sa[32] = "", ma[32] = "";
		if (dirs[sd])
			snprintf(sa, sizeof(sa), "a=%s\r\n", dirs[sd]);
		if (dirs[md])
			snprintf(ma, sizeof(ma), "a=%s\r\n", dirs[md]);
		snprintf(sdp, sizeof(sdp), "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\n%st=0 0\r\n%s"
			 "m=audio %d RTP/AVP 0 101\r\n%sa=rtpmap:101 telephone-event/8000\r\n%s",
			 conns[sc] ? conns[sc] : "", sa, ports[p], conns[mc] ? conns[mc] : "", ma);
		bool hold;
		enum sdp_dir eff;
		enum sdp_hold_method method;
		expect(dirs[sd], dirs[md], sc, mc, ports[p], &hold, &eff, &method);
		struct sdp_audio a;
		struct sdp_hold h;
		TEST_EQ_INT(sdp_audio_parse(&a, sdp, strlen(sdp)), 0);
		sdp_hold_classify(&h, &a);
		if (h.hold != hold || h.effective != eff || h.method != method) {
			test_failed(__FILE__, __LINE__, "case %zu/%zu/%d/%d/%d: got %d %s %s\n%s",
				    sd, md, sc, mc, ports[p], h.hold, sdp_dir_name(h.effective),
				    sdp_hold_method_name(h.method), sdp);
			err = 1;
			goto out;
		}
		TEST_EQ_INT(check_answer(&a, sdp_dir_mirror(eff)), 0);
		n++;
	}
	TEST_EQ_INT(n, 5 * 5 * 3 * 3 * 2);
out:
	return err;
}

static int test_mirror(void)
{
	int err = 0;
	TEST_EQ_INT(sdp_dir_mirror(SDP_SENDONLY), SDP_RECVONLY);
	TEST_EQ_INT(sdp_dir_mirror(SDP_RECVONLY), SDP_SENDONLY);
	TEST_EQ_INT(sdp_dir_mirror(SDP_INACTIVE), SDP_INACTIVE);
	TEST_EQ_INT(sdp_dir_mirror(SDP_SENDRECV), SDP_SENDRECV);
	TEST_EQ_STR(sdp_hold_method_name(SDP_HOLD_CONNECTION_ADDRESS), "connection_address");
	TEST_EQ_STR(sdp_hold_method_name(SDP_HOLD_PORT_ZERO), "port_zero");
	TEST_EQ_STR(sdp_hold_method_name(SDP_HOLD_ATTRIBUTE), "attribute");
out:
	return err;
}

static const struct test tests[] = {
	{ "classify", test_classify },
	{ "carrier_offers", test_carrier_offers },
	{ "every_combination", test_every_combination },
	{ "mirror", test_mirror },
};
TEST_MAIN(tests)
