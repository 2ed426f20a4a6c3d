/* sip-bridge against real peers: nats-server, the real build/bin/sip-bridge,
 * and sipp (the scenarios in tests/sip) as the carrier over TCP on 127.0.0.1. Each test
 * publishes dial jobs into DIALS and waits, with bounded deadlines, for the
 * events on calls.>; sipp logs the direction of each of our SDP answers. */
#include "harness/sip_bridge_fx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>

/* ---- hold and resume, every way a carrier signals it ------------------- */

struct hold_variant {
	const char *name;
	const char *c_sess, *sess_attr;
	const char *port;              /* of the re-INVITE: "media" (the call's) or "0" */
	const char *c_media, *media_attr;
	const char *answer, *direction, *method;
};

#define C_OK "c=IN IP4 127.0.0.1"
#define C_ZERO "c=IN IP4 0.0.0.0"
static const struct hold_variant holds[] = {
	{ "media a=sendonly", C_OK, "a=x-none", "media", "a=x-none", "a=sendonly", "recvonly",
	  "sendonly", "attribute" },
	{ "media a=inactive", C_OK, "a=x-none", "media", "a=x-none", "a=inactive", "inactive",
	  "inactive", "attribute" },
	{ "session a=sendonly", C_OK, "a=sendonly", "media", "a=x-none", "a=x-none", "recvonly",
	  "sendonly", "attribute" },
	{ "session a=inactive", C_OK, "a=inactive", "media", "a=x-none", "a=x-none", "inactive",
	  "inactive", "attribute" },
	{ "session c=0.0.0.0", C_ZERO, "a=x-none", "media", "a=x-none", "a=sendrecv", "recvonly",
	  "sendonly", "connection_address" },
	{ "media c=0.0.0.0", C_OK, "a=x-none", "media", C_ZERO, "a=x-none", "recvonly", "sendonly",
	  "connection_address" },
	{ "m= port 0", C_OK, "a=x-none", "0", "a=x-none", "a=x-none", "inactive", "inactive",
	  "port_zero" },
};

/* One call through the hold variant; our offer names `host` (c=, Via and
 * Contact). */
static int run_hold(struct fx *f, const struct hold_variant *v, const char *host)
{
	int err = 0;
	struct sipp s = { 0 };
	char id[ID_UUID_LEN + 1], want[128];
	char *hold = NULL, *resume = NULL, *ended = NULL, *log = NULL, mp[16];
	/* the re-INVITE keeps the media port of the call, or holds with port 0 */
	s.media_port = test_free_udp_span(3);
	snprintf(mp, sizeof(mp), "%d", s.media_port);
	const char *port = strcmp(v->port, "0") == 0 ? "0" : mp;
	const char *keys[] = { "hold_c_sess",  v->c_sess,   "hold_sess_attr",
			       v->sess_attr,   "hold_port", port,
			       "hold_c_media", v->c_media,  "hold_media_attr",
			       v->media_attr,  NULL };
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(sipp_start(f, &s, "uas_hold.xml", keys), 0);
	TEST_EQ_INT(publish_job(f, id, s.port, 30, "u", "p"), 0);
	TEST_EQ_INT(expect_setup(f, id, true), 0);
	hold = await_event(f, id, "call_hold", WAIT_MS);
	resume = await_event(f, id, "call_resume", WAIT_MS);
	ended = await_event(f, id, "call_ended", WAIT_MS);
	TEST_ASSERT(hold && resume && ended);
	snprintf(want, sizeof(want), "\"direction\":\"%s\"", v->direction);
	TEST_CONTAINS(hold, want);
	snprintf(want, sizeof(want), "\"method\":\"%s\"", v->method);
	TEST_CONTAINS(hold, want);
	TEST_CONTAINS(resume, "\"direction\":\"sendrecv\"");
	TEST_CONTAINS(ended, "\"by\":\"remote\"");
	TEST_CONTAINS(ended, "\"duration_ms\":");
	/* the refresh re-INVITE published nothing */
	TEST_EQ_INT(count_events(f, id, "call_hold"), 1);
	TEST_EQ_INT(count_events(f, id, "call_resume"), 1);
	TEST_ASSERT(event_index(f, id, "call_hold") < event_index(f, id, "call_resume"));
	TEST_EQ_INT(sipp_wait(&s), 0);
	log = read_all(s.logfile);
	snprintf(want, sizeof(want), "hold_answer=a=%s", v->answer);
	TEST_CONTAINS(log, want);
	snprintf(want, sizeof(want), "refresh_answer=a=%s", v->answer);
	TEST_CONTAINS(log, want);
	TEST_CONTAINS(log, "resume_answer=a=sendrecv");
	snprintf(want, sizeof(want), "offer_addr=c=IN IP4 %s SIP/2.0/TCP %s sip:%s:", host, host,
		 host);
	TEST_CONTAINS(log, want);
	TEST_ASSERT(!strstr(log, "maddr"));
	TEST_CONTAINS(log, "offer_dir=a=sendrecv");
out:
	if (err)
		fprintf(stdout, "    variant: %s (sipp log %s)\n", v->name, s.logfile);
	if (s.pid)
		test_kill(s.pid);
	free(hold);
	free(resume);
	free(ended);
	free(log);
	return err;
}

static int test_hold_and_resume(void)
{
	int err = 0;
	struct fx f;
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	for (size_t i = 0; i < CM_ARRAY_LEN(holds); i++)
		TEST_EQ_INT(run_hold(&f, &holds[i], "127.0.0.1"), 0);
out:
	err |= fx_stop(&f, err != 0);
	return err;
}

/* Behind NAT the carrier is given SIP_ADVERTISE for SIP and RTP while the
 * bridge listens on SIP_BIND; the call and its hold work as before. */
static int test_advertised_address(void)
{
	int err = 0;
	struct fx f;
	TEST_EQ_INT(fx_start(&f, NULL), 0);
	fx_setenv(&f, "MAX_CALLS", "10");
	fx_setenv(&f, "SIP_ADVERTISE", "127.0.0.2");
	TEST_EQ_INT(fx_bridge_start(&f), 0);
	TEST_EQ_INT(run_hold(&f, &holds[0], "127.0.0.2"), 0);
out:
	err |= fx_stop(&f, err != 0);
	return err;
}

/* ---- every failure status ------------------------------------------------ */

static int test_failure_statuses(void)
{
	int err = 0;
	struct fx f;
	static const struct { const char *code, *reason, *status;
	} cases[] = {
		{ "486", "Busy Here", "busy" },
		{ "600", "Busy Everywhere", "busy" },
		{ "408", "Request Timeout", "no_answer" },
		{ "480", "Temporarily Unavailable", "no_answer" },
		{ "603", "Decline", "rejected" },
		{ "403", "Forbidden", "rejected" },
		{ "487", "Request Terminated", "cancelled" },
		{ "404", "Not Found", "unreachable" },
		{ "410", "Gone", "unreachable" },
		{ "484", "Address Incomplete", "unreachable" },
		{ "500", "Server Internal Error", "failed" },
		{ "503", "Service Unavailable", "failed" },
	};
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	for (size_t i = 0; i < CM_ARRAY_LEN(cases); i++) {
		struct sipp s = { 0 };
		char id[ID_UUID_LEN + 1], want[128];
		const char *keys[] = { "reason", cases[i].reason, NULL };
		TEST_EQ_INT(id_uuid4(id), 0);
		char sc[512];
		TEST_EQ_INT(scenario_with_code(&f, sc, sizeof(sc), "uas_fail.xml", cases[i].code,
					       NULL),
			    0);
		TEST_EQ_INT(sipp_start(&f, &s, sc, keys), 0);
		TEST_EQ_INT(publish_job(&f, id, s.port, 30, "u", "p"), 0);
		char *failed = await_event(&f, id, "call_failed", WAIT_MS);
		int rc = sipp_wait(&s);
		if (!failed || rc != 0) {
			test_failed(__FILE__, __LINE__, "%s: no call_failed or sipp exit %d",
				    cases[i].code, rc);
			free(failed);
			err = 1;
			goto out;
		}
		snprintf(want, sizeof(want),
			 "\"status\":\"%s\",\"sip_code\":%s,\"sip_reason\":\"%s\"", cases[i].status,
			 cases[i].code, cases[i].reason);
		bool ok = strstr(failed, want) != NULL;
		if (!ok)
			test_failed(__FILE__, __LINE__, "want %s in %s", want, failed);
		free(failed);
		TEST_ASSERT(ok);
		TEST_ASSERT(event_index(&f, id, "call_ringing") >= 0);
		TEST_ASSERT(event_index(&f, id, "call_ringing") <
			    event_index(&f, id, "call_failed"));
		TEST_EQ_INT(count_events(&f, id, "call_answered"), 0);
	}
out:
	err |= fx_stop(&f, err != 0);
	return err;
}

/* ---- digest authentication --------------------------------------------- */

static int run_auth(struct fx *f, const char *code, const char *hdr, const char *pass, bool good)
{
	int err = 0;
	struct sipp s = { 0 };
	char id[ID_UUID_LEN + 1];
	char *ev = NULL, *log = NULL;
	const char *keys[] = { "auth_hdr", hdr, "user", "exo-user", "pass", "s3cret", NULL };
	TEST_EQ_INT(id_uuid4(id), 0);
	char sc[512];
	const char *verify = strcmp(code, "401") == 0
				     ? "<verifyauth assign_to=\"authvalid\" username=\"[user]\" "
				       "password=\"[pass]\"/>"
				     : "<ereg regexp=\"Proxy-Authorization: Digest "
				       "username=.exo-user., realm=.exotel.test.\" "
				       "search_in=\"msg\" assign_to=\"authvalid\"/>";
	TEST_EQ_INT(scenario_with_code(f, sc, sizeof(sc), "uas_auth.xml", code, verify), 0);
	TEST_EQ_INT(sipp_start(f, &s, sc, keys), 0);
	TEST_EQ_INT(publish_job(f, id, s.port, 30, "exo-user", pass), 0);
	if (good) {
		TEST_EQ_INT(expect_setup(f, id, false), 0);
		ev = await_event(f, id, "call_ended", WAIT_MS);
		TEST_ASSERT(ev != NULL);
		TEST_CONTAINS(ev, "\"by\":\"remote\"");
	} else {
		ev = await_event(f, id, "call_failed", WAIT_MS);
		TEST_ASSERT(ev != NULL);
		TEST_CONTAINS(ev, "\"status\":\"rejected\",\"sip_code\":403");
	}
	TEST_EQ_INT(sipp_wait(&s), 0);
	log = read_all(s.logfile);
	TEST_CONTAINS(log, good ? "auth=valid" : "auth=invalid");
out:
	if (s.pid)
		test_kill(s.pid);
	free(ev);
	free(log);
	return err;
}

static int test_digest_auth(void)
{
	int err = 0;
	struct fx f;
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	TEST_EQ_INT(run_auth(&f, "401", "WWW-Authenticate", "s3cret", true), 0);
	TEST_EQ_INT(run_auth(&f, "407", "Proxy-Authenticate", "s3cret", true), 0);
	TEST_EQ_INT(run_auth(&f, "401", "WWW-Authenticate", "wrong", false), 0);
out:
	err |= fx_stop(&f, err != 0);
	return err;
}

/* ---- CANCEL: hangup before answer, ring timeout ------------------------- */

static int test_cancel_before_answer(void)
{
	int err = 0;
	struct fx f;
	struct sipp s = { 0 };
	char id[ID_UUID_LEN + 1];
	char *ringing = NULL, *failed = NULL;
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	/* hangup command while ringing */
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(sipp_start(&f, &s, "uas_ring.xml", NULL), 0);
	TEST_EQ_INT(publish_job(&f, id, s.port, 30, "u", "p"), 0);
	ringing = await_event(&f, id, "call_ringing", WAIT_MS);
	TEST_ASSERT(ringing != NULL);
	TEST_CONTAINS(ringing, "\"sip_code\":183");
	TEST_EQ_INT(hangup(&f, id, "api"), 0);
	failed = await_event(&f, id, "call_failed", WAIT_MS);
	TEST_ASSERT(failed != NULL);
	TEST_CONTAINS(failed, "\"status\":\"cancelled\"");
	TEST_EQ_INT(sipp_wait(&s), 0);
	free(ringing);
	free(failed);
	ringing = failed = NULL;
	/* ring timeout (1 s in the job) */
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(sipp_start(&f, &s, "uas_ring.xml", NULL), 0);
	TEST_EQ_INT(publish_job(&f, id, s.port, 1, "u", "p"), 0);
	failed = await_event(&f, id, "call_failed", WAIT_MS);
	TEST_ASSERT(failed != NULL);
	TEST_CONTAINS(failed, "\"status\":\"timeout\"");
	TEST_EQ_INT(sipp_wait(&s), 0);
out:
	if (s.pid)
		test_kill(s.pid);
	free(ringing);
	free(failed);
	err |= fx_stop(&f, err != 0);
	return err;
}

/* ---- BYE from our side, owner heartbeat --------------------------------- */

/* Waits until the last heartbeat lists call `id`; a copy of that heartbeat
 * into hb, taken under the lock (the bus thread writes the next one in place). */
static bool heartbeat_lists(struct fx *f, const char *id, char *hb, size_t len, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	bool found = false;
	pthread_mutex_lock(&f->mu);
	while (!(found = strstr(f->last_heartbeat, id) != NULL) && time_mono_ms() < end) {
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 1;
		pthread_cond_timedwait(&f->cv, &f->mu, &dl);
	}
	snprintf(hb, len, "%s", f->last_heartbeat);
	pthread_mutex_unlock(&f->mu);
	return found;
}

static int test_local_bye_and_heartbeat(void)
{
	int err = 0;
	struct fx f;
	struct sipp s = { 0 };
	char id[ID_UUID_LEN + 1];
	char *ended = NULL, hb[sizeof(f.last_heartbeat)];
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(sipp_start(&f, &s, "uas_answer.xml", NULL), 0);
	TEST_EQ_INT(publish_job(&f, id, s.port, 30, "u", "p"), 0);
	TEST_EQ_INT(expect_setup(&f, id, false), 0);
	TEST_ASSERT(heartbeat_lists(&f, id, hb, sizeof(hb), 5000));
	TEST_CONTAINS(hb, "\"source\":\"sip-bridge/test\"");
	TEST_EQ_INT(hangup(&f, id, "api"), 0);
	ended = await_event(&f, id, "call_ended", WAIT_MS);
	TEST_ASSERT(ended != NULL);
	TEST_CONTAINS(ended, "\"reason\":\"api\",\"by\":\"local\"");
	TEST_EQ_INT(sipp_wait(&s), 0);
out:
	if (s.pid)
		test_kill(s.pid);
	free(ended);
	err |= fx_stop(&f, err != 0);
	return err;
}

/* ---- raw SIP over UDP: OPTIONS, 403 for strangers, 481, torture --------- */

/* Sends one datagram to the bridge and returns its first response line (or
 * "" when none came within timeout_ms). */
static void udp_exchange_from(char *line, size_t linelen, int port, const char *msg, size_t len,
			      int timeout_ms, const char *from_ip)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in me = { .sin_family = AF_INET };
	inet_pton(AF_INET, from_ip, &me.sin_addr);
	line[0] = '\0';
	if (fd < 0)
		return;
	bind(fd, (struct sockaddr *)&me, sizeof(me));
	sendto(fd, msg, len, 0, (struct sockaddr *)&sa, sizeof(sa));
	struct pollfd p = { fd, POLLIN, 0 };
	char buf[4096];
	int64_t end = time_mono_ms() + timeout_ms;
	/* skip provisional responses: the first final one counts */
	for (int i = 0; i < 8; i++) {
		int left = (int)(end - time_mono_ms());
		if (left <= 0 || poll(&p, 1, left) != 1)
			break;
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			break;
		buf[n] = '\0';
		char *eol = strstr(buf, "\r\n");
		if (eol)
			*eol = '\0';
		snprintf(line, linelen, "%.200s", buf);
		if (strncmp(buf, "SIP/2.0 1", 9) != 0)
			break;
	}
	close(fd);
}

static void udp_exchange(char *line, size_t linelen, int port, const char *msg, size_t len,
			 int timeout_ms)
{
	udp_exchange_from(line, linelen, port, msg, len, timeout_ms, "127.0.0.1");
}

static const char options_msg[] =
	"OPTIONS sip:bridge@127.0.0.1 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-opt-%d;rport\r\n"
	"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p%d\r\nTo: <sip:bridge@127.0.0.1>\r\n"
	"Call-ID: opt-%d@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

static void options(char *line, size_t len, int port, int n)
{
	char msg[1024];
	int m = snprintf(msg, sizeof(msg), options_msg, n, n, n);
	udp_exchange(line, len, port, msg, (size_t)m, 3000);
}

static int test_options_strangers_unknown_dialogs(void)
{
	int err = 0;
	struct fx f;
	struct sipp s = { 0 };
	char id[ID_UUID_LEN + 1], line[256];
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	/* no active trunk: 403 */
	options(line, sizeof(line), f.sip_port, 1);
	TEST_CONTAINS(line, "SIP/2.0 403");
	/* an INVITE out of the blue: 403 */
	static const char invite[] =
		"INVITE sip:bridge@127.0.0.1 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-inv-1;rport\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=i1\r\nTo: "
		"<sip:bridge@127.0.0.1>\r\n"
		"Call-ID: inv-1@test\r\nCSeq: 1 INVITE\r\nContact: <sip:probe@127.0.0.1:5999>\r\n"
		"Content-Length: 0\r\n\r\n";
	udp_exchange(line, sizeof(line), f.sip_port, invite, sizeof(invite) - 1, 3000);
	TEST_CONTAINS(line, "SIP/2.0 403");
	/* a trunk with an active call: OPTIONS 200 */
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(sipp_start(&f, &s, "uas_answer.xml", NULL), 0);
	TEST_EQ_INT(publish_job(&f, id, s.port, 30, "u", "p"), 0);
	TEST_EQ_INT(expect_setup(&f, id, false), 0);
	options(line, sizeof(line), f.sip_port, 2);
	TEST_CONTAINS(line, "SIP/2.0 200");
	/* requests in dialogs we do not have: 481 */
	static const char bye[] =
		"BYE sip:bridge@127.0.0.1 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-bye-1;rport\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=b1\r\nTo: "
		"<sip:bridge@127.0.0.1>;tag=nope\r\n"
		"Call-ID: no-such-dialog@test\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
	udp_exchange(line, sizeof(line), f.sip_port, bye, sizeof(bye) - 1, 3000);
	TEST_CONTAINS(line, "SIP/2.0 481");
	static const char reinvite[] =
		"INVITE sip:bridge@127.0.0.1 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-reinv-1;rport\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=r1\r\nTo: "
		"<sip:bridge@127.0.0.1>;tag=nope\r\n"
		"Call-ID: no-such-dialog-2@test\r\nCSeq: 2 INVITE\r\nContact: "
		"<sip:probe@127.0.0.1:5999>\r\n"
		"Content-Length: 0\r\n\r\n";
	udp_exchange(line, sizeof(line), f.sip_port, reinvite, sizeof(reinvite) - 1, 3000);
	TEST_CONTAINS(line, "SIP/2.0 481");
	TEST_EQ_INT(hangup(&f, id, "api"), 0);
	TEST_EQ_INT(sipp_wait(&s), 0);
out:
	if (s.pid)
		test_kill(s.pid);
	err |= fx_stop(&f, err != 0);
	return err;
}

/* RFC 4475 §3.1.2 messages (and a few of our own): the bridge answers 400 or
 * drops them, and still serves OPTIONS afterwards. */
static int test_torture_messages(void)
{
	int err = 0;
	struct fx f;
	char line[256];
	static const char *const torture[] = {
		/* 3.1.2.1 extraneous header separators / bad Content-Length */
		"INVITE sip:user@example.com SIP/2.0\r\nVia: SIP/2.0/UDP "
		"127.0.0.1;branch=z9hG4bK-t1\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: "
		"t1\r\nCSeq: 1 INVITE\r\n"
		"Content-Length: 9999\r\n\r\nv=0\r\n",
		/* 3.1.2.2 negative Content-Length */
		"INVITE sip:user@example.com SIP/2.0\r\nVia: SIP/2.0/UDP "
		"127.0.0.1;branch=z9hG4bK-t2\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: "
		"t2\r\nCSeq: 1 INVITE\r\n"
		"Content-Length: -999\r\n\r\n",
		/* 3.1.2.3 request scalar fields with overlarge values */
		"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP "
		"127.0.0.1;branch=z9hG4bK-t3\r\n"
		"Max-Forwards: 300\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: t3\r\n"
		"CSeq: 36893488147419103232 REGISTER\r\nExpires: "
		"10000000000000000000\r\nContent-Length: 0\r\n\r\n",
		/* 3.1.2.5 unterminated quoted string in display name */
		"INVITE sip:user@example.com SIP/2.0\r\nVia: SIP/2.0/UDP "
		"127.0.0.1;branch=z9hG4bK-t5\r\n"
		"Max-Forwards: 70\r\nFrom: \"Bob <sip:bob@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: "
		"t5\r\nCSeq: 1 INVITE\r\n"
		"Content-Length: 0\r\n\r\n",
		/* 3.1.2.6 <> enclosing Request-URI */
		"INVITE <sip:user@example.com> SIP/2.0\r\nVia: SIP/2.0/UDP "
		"127.0.0.1;branch=z9hG4bK-t6\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: "
		"t6\r\nCSeq: 1 INVITE\r\n"
		"Content-Length: 0\r\n\r\n",
		/* 3.1.2.8 malformed SIP-Version */
		"INVITE sip:user@example.com SIP/7.0\r\nVia: SIP/7.0/UDP "
		"127.0.0.1;branch=z9hG4bK-t8\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: "
		"t8\r\nCSeq: 1 INVITE\r\n"
		"Content-Length: 0\r\n\r\n",
		/* 3.1.2.10 method mismatch */
		"OPTIONS sip:user@example.com SIP/2.0\r\nVia: SIP/2.0/UDP "
		"127.0.0.1;branch=z9hG4bK-t10\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: "
		"t10\r\nCSeq: 1 INVITE\r\n"
		"Content-Length: 0\r\n\r\n",
		/* 3.1.2.13 failure to enclose name-addr URI in <> */
		"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP "
		"127.0.0.1;branch=z9hG4bK-t13\r\n"
		"Max-Forwards: 70\r\nFrom: sip:a@b;tag=1\r\nTo: sip:c@d\r\nCall-ID: t13\r\nCSeq: 1 "
		"REGISTER\r\n"
		"Contact: "
		"sip:user@host?Subject=foo&Call-Info=<http://www.foo.com>\r\nContent-Length: "
		"0\r\n\r\n",
		/* 3.1.2.17 response with bad status code */
		"SIP/2.0 4294967301 better not break the receiver\r\nVia: SIP/2.0/UDP "
		"127.0.0.1;branch=z9hG4bK-t17\r\n"
		"Call-ID: t17\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@b>;tag=1\r\nTo: "
		"<sip:c@d>;tag=2\r\nContent-Length: 0\r\n\r\n",
		/* garbage, NULs, a huge header, an SDP body that is not SDP */
		"\x00\x01\x02\xff\xfe garbage\r\n\r\n",
		"INVITE sip:user@example.com SIP/2.0\r\nVia: SIP/2.0/UDP "
		"127.0.0.1;branch=z9hG4bK-t20\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=x\r\nCall-ID: "
		"t20\r\nCSeq: 1 INVITE\r\n"
		"Content-Type: application/sdp\r\nContent-Length: 11\r\n\r\nv=0\r\nm=\r\n\x01",
		"",
	};
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	for (size_t i = 0; i < CM_ARRAY_LEN(torture); i++) {
		size_t len = strlen(torture[i]);
		if (i == 9)
			len = 18; /* the garbage one carries a NUL */
		udp_exchange(line, sizeof(line), f.sip_port, torture[i], len, 300);
		if (line[0] && strncmp(line, "SIP/2.0 4", 9) != 0) {
			test_failed(__FILE__, __LINE__, "torture %zu answered %s", i, line);
			err = 1;
			goto out;
		}
	}
	/* still alive and serving */
	options(line, sizeof(line), f.sip_port, 3);
	TEST_CONTAINS(line, "SIP/2.0 403");
	TEST_EQ_INT(kill(f.bridge_pid, 0), 0);
out:
	err |= fx_stop(&f, err != 0);
	return err;
}

/* ---- session timers (RFC 4028) ------------------------------------------ */

/* The carrier answers with Session-Expires: 6;refresher=uac (the bridge
 * accepts intervals down to 2 s here): the bridge refreshes with an UPDATE
 * before the 6 s are over; the carrier's own refreshes (a re-INVITE with the
 * same SDP, an UPDATE without one) are answered and publish nothing. */
static int test_session_timer(void)
{
	int err = 0;
	struct fx f;
	struct sipp s = { 0 };
	char id[ID_UUID_LEN + 1];
	char *ended = NULL, *log = NULL;
	TEST_EQ_INT(fx_start(&f, NULL), 0);
	fx_setenv(&f, "MAX_CALLS", "10");
	fx_setenv(&f, "SESSION_MIN_SE_S", "2");
	TEST_EQ_INT(fx_bridge_start(&f), 0);
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(sipp_start(&f, &s, "uas_timer.xml", NULL), 0);
	TEST_EQ_INT(publish_job(&f, id, s.port, 30, "u", "p"), 0);
	TEST_EQ_INT(expect_setup(&f, id, false), 0);
	ended = await_event(&f, id, "call_ended", 2 * WAIT_MS);
	TEST_ASSERT(ended != NULL);
	TEST_CONTAINS(ended, "\"by\":\"remote\"");
	TEST_EQ_INT(sipp_wait(&s), 0);
	log = read_all(s.logfile);
	TEST_CONTAINS(log, "invite_supported=timer");
	TEST_CONTAINS(log, "reinvite_answer=a=sendrecv");
	TEST_CONTAINS(log, "update_answer_body=Content-Length: 0");
	TEST_CONTAINS(log, "refresh=UPDATE se=6;refresher=uac");
	TEST_EQ_INT(count_events(&f, id, "call_hold"), 0);
	TEST_EQ_INT(count_events(&f, id, "call_resume"), 0);
	TEST_EQ_INT(count_events(&f, id, "call_failed"), 0);
out:
	if (s.pid)
		test_kill(s.pid);
	free(ended);
	free(log);
	err |= fx_stop(&f, err != 0);
	return err;
}

/* Issue 13 finding 3. While the bridge holds a call with the trunk
 * (127.0.0.1), every request from another address (127.0.0.2) gets 403,
 * whatever its method (or the stack's own refusal, where it answers first);
 * the trunk's own in-dialog REFER and MESSAGE get 405 and nothing is sent
 * to the address they name (a UDP and a TCP listener stand in for it). */
static int test_strangers_refer_message(void)
{
	int err = 0;
	struct fx f;
	struct sipp s = { 0 };
	char id[ID_UUID_LEN + 1], line[256], msg[1024], port[16], *log = NULL;
	int ufd = -1, tfd = -1;
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	/* the reflector: what a REFER's Refer-To/Contact names */
	int rport = test_free_port();
	struct sockaddr_in ra = { .sin_family = AF_INET, .sin_port = htons((uint16_t)rport),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	tfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	TEST_ASSERT(ufd >= 0 && tfd >= 0);
	setsockopt(tfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	TEST_EQ_INT(bind(ufd, (struct sockaddr *)&ra, sizeof(ra)), 0);
	TEST_EQ_INT(bind(tfd, (struct sockaddr *)&ra, sizeof(ra)), 0);
	TEST_EQ_INT(listen(tfd, 4), 0);

	TEST_EQ_INT(id_uuid4(id), 0);
	snprintf(port, sizeof(port), "%d", rport);
	const char *keys[] = { "reflect_port", port, NULL };
	TEST_EQ_INT(sipp_start(&f, &s, "uas_refer.xml", keys), 0);
	TEST_EQ_INT(publish_job(&f, id, s.port, 30, "u", "p"), 0);
	TEST_EQ_INT(expect_setup(&f, id, false), 0);

	/* a stranger, every method: 403 from the policy (libs/sip), or the
	 * stack's own refusal where it answers before the policy sees the
	 * request (nothing accepted either way) */
	static const struct {
		const char *method, *want;
	} strangers[] = {
		{ "INVITE", "403" },	{ "OPTIONS", "403" }, { "MESSAGE", "403" },
		{ "SUBSCRIBE", "403" }, { "NOTIFY", "403" },  { "INFO", "403" },
		{ "REGISTER", "403" },
		/* out of dialog: the stack cannot make it a usage */
		{ "REFER", "500" },
		/* no such dialog (RFC 3261 §12.2.2) */
		{ "BYE", "481" },	{ "UPDATE", "481" },
		/* methods the stack does not implement */
		{ "PUBLISH", "501" },	{ "FOO", "501" },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(strangers); i++) {
		const char *m = strangers[i].method;
		char want[16];
		int n = snprintf(msg, sizeof(msg),
				 "%s sip:bridge@127.0.0.1:%d SIP/2.0\r\n"
				 "Via: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bK-str-%zu;rport\r\n"
				 "Max-Forwards: 70\r\nFrom: <sip:stranger@127.0.0.2>;tag=s%zu\r\n"
				 "To: <sip:bridge@127.0.0.1>\r\nCall-ID: stranger-%zu@test\r\n"
				 "CSeq: 1 %s\r\nContact: <sip:stranger@127.0.0.2:%d>\r\n"
				 "Event: refer\r\nRefer-To: <sip:victim@127.0.0.1:%d>\r\n"
				 "Subscription-State: active\r\nContent-Length: 0\r\n\r\n",
				 m, f.sip_port, i, i, i, m, rport, rport);
		udp_exchange_from(line, sizeof(line), f.sip_port, msg, (size_t)n, 3000,
				  "127.0.0.2");
		snprintf(want, sizeof(want), "SIP/2.0 %s", strangers[i].want);
		if (strncmp(line, want, strlen(want)) != 0)
			fprintf(stdout, "    stranger's %s: \"%s\"\n", m, line);
		TEST_CONTAINS(line, want);
	}
	/* the trunk's REFER and MESSAGE: 405 (sipp fails on anything else);
	 * nothing reaches the reflector meanwhile */
	struct pollfd pf[2] = { { ufd, POLLIN, 0 }, { tfd, POLLIN, 0 } };
	TEST_EQ_INT(poll(pf, 2, 1500), 0);
	TEST_EQ_INT(count_events(&f, id, "call_ended"), 0);
	TEST_EQ_INT(hangup(&f, id, "api"), 0);
	TEST_EQ_INT(sipp_wait(&s), 0);
	log = read_all(s.msgfile);
	TEST_ASSERT(log && strstr(log, "REFER sip:"));
	TEST_ASSERT(strstr(log, "SIP/2.0 405") != NULL);
	TEST_ASSERT(strstr(log, "SIP/2.0 202") == NULL && strstr(log, "NOTIFY") == NULL);
	/* what the bridge advertises: only what it serves */
	const char *allow = strstr(log, "Allow:");
	TEST_ASSERT(allow != NULL);
	TEST_ASSERT(strstr(allow, "REFER") == NULL ||
		    strstr(allow, "REFER") > strstr(allow, "\r\n"));
	TEST_EQ_INT(poll(pf, 2, 0), 0);
out:
	if (s.pid)
		test_kill(s.pid);
	free(log);
	if (ufd >= 0)
		close(ufd);
	if (tfd >= 0)
		close(tfd);
	err |= fx_stop(&f, err != 0);
	return err;
}

/* Issue 13 findings 2 and 6 at the bridge: a dial job's password comes
 * sealed for its call; a clear one, one sealed for another call, a
 * tampered one or credentials the SIP stack could not carry fail the call
 * ("invalid dial job", the reason logged naming the field) and nothing is
 * dialed. */
static int test_dial_job_secrets_and_credentials(void)
{
	int err = 0;
	struct fx f;
	struct sink k = { 0 };
	char id[ID_UUID_LEN + 1], other[ID_UUID_LEN + 1], json[1536], msgid[64], *log = NULL;
	char *sealed = NULL, *ev = NULL, path[600];
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	TEST_EQ_INT(sink_start(&k), 0);
	struct {
		const char *what;   /* the trunk's password / username part of the job */
		const char *why;    /* what the bridge logs */
	} rows[] = {
		{ "\"username\":\"u\",\"password\":\"clear-pw\"",
		  "trunk.password: a clear-text password is refused" },
		{ "\"username\":\"u\",\"password_sealed\":\"@OTHER@\"",
		  "trunk.password_sealed: does not open for this call" },
		{ "\"username\":\"u\",\"password_sealed\":\"@TAMPERED@\"",
		  "trunk.password_sealed: does not open for this call" },
		{ "\"username\":\"u\",\"password_sealed\":\"cms1.00000000.AAAA\"",
		  "trunk.password_sealed: sealed under a key" },
		{ "\"username\":\"a:b\",\"password_sealed\":\"@OWN@\"",
		  "trunk.username: must not contain ':'" },
		{ "\"username\":\"a<b\",\"password_sealed\":\"@OWN@\"",
		  "trunk.username: contains a forbidden character" },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(rows); i++) {
		TEST_EQ_INT(id_uuid4(id), 0);
		TEST_EQ_INT(id_uuid4(other), 0);
		char trunk[512];
		const char *w = rows[i].what, *at = strchr(w, '@');
		free(sealed);
		sealed = test_seal_for_call(strstr(w, "@OTHER@") ? other : id, "pw");
		TEST_ASSERT(sealed != NULL);
		if (strstr(w, "@TAMPERED@"))
			sealed[strlen(sealed) - 3] = sealed[strlen(sealed) - 3] == 'A' ? 'B' : 'A';
		if (at)
			snprintf(trunk, sizeof(trunk), "%.*s%s\"", (int)(at - w), w, sealed);
		else
			snprintf(trunk, sizeof(trunk), "%s", w);
		snprintf(json, sizeof(json),
			 "{\"v\":1,\"call_id\":\"%s\",\"room\":\"call-%s\",\"to_number\":\"+"
			 "918044319241\","
			 "\"from_number\":\"+918044319240\",\"ring_timeout_s\":30,\"max_duration_"
			 "s\":600,"
			 "\"created_at\":\"2026-11-23T19:00:00.123Z\",\"trunk\":{\"trunk_id\":"
			 "\"t1\","
			 "\"provider\":\"exotel\",\"sip_host\":\"127.0.0.1\",\"sip_port\":%d,"
			 "\"transport\":\"tcp\","
			 "\"sip_domain\":\"exotel.test\",%s}}",
			 id, id, k.port, trunk);
		snprintf(msgid, sizeof(msgid), "dial-%s", id);
		TEST_EQ_INT(bus_js_publish(f.bus, "dial.exotel", msgid, json, strlen(json), 5000),
			    0);
		free(ev);
		ev = await_event(&f, id, "call_failed", WAIT_MS);
		TEST_ASSERT(ev != NULL);
		TEST_CONTAINS(ev, "invalid dial job");
		snprintf(path, sizeof(path), "%s/sip-bridge-1.log", f.dir);
		free(log);
		log = read_all(path);
		TEST_CONTAINS(log, rows[i].why);
	}
	/* a good job still dials (the sink sees its INVITE), and its password is
	 * in no log */
	TEST_EQ_INT(id_uuid4(id), 0);
	struct job_opts o = { .to_number = "+918044319277", .pass = "Good-Pa55-ZZ" };
	TEST_EQ_INT(publish_job_opts(&f, id, k.port, &o), 0);
	TEST_ASSERT(sink_await(&k, "+918044319277", 1, WAIT_MS));
	TEST_EQ_INT(hangup(&f, id, "api"), 0);
	free(log);
	log = read_all(path);
	TEST_ASSERT(log && !strstr(log, "Good-Pa55-ZZ") && !strstr(log, "clear-pw"));
	TEST_EQ_INT(sink_invites(&k, "+918044319241"), 0);
	/* a job taken after its dial_by (it waited for a free line): failed,
	 * not_dialed, and nobody is called late; one with time left dials */
	TEST_EQ_INT(id_uuid4(id), 0);
	struct job_opts late = { .to_number = "+918044319278",
				 .dial_by = "2026-11-23T19:05:00.123Z" };
	TEST_EQ_INT(publish_job_opts(&f, id, k.port, &late), 0);
	free(ev);
	ev = await_event(&f, id, "call_failed", WAIT_MS);
	TEST_ASSERT(ev != NULL);
	TEST_CONTAINS(ev, "\"reason\":\"not_dialed\"");
	TEST_CONTAINS(ev, "not dialed: no dialer took the job in");
	TEST_EQ_INT(id_uuid4(id), 0);
	struct job_opts ahead = { .to_number = "+918044319279",
				  .dial_by = "2999-01-01T00:00:00.000Z" };
	TEST_EQ_INT(publish_job_opts(&f, id, k.port, &ahead), 0);
	TEST_ASSERT(sink_await(&k, "+918044319279", 1, WAIT_MS));
	TEST_EQ_INT(hangup(&f, id, "api"), 0);
	TEST_EQ_INT(sink_invites(&k, "+918044319278"), 0);
out:
	free(sealed);
	free(ev);
	free(log);
	sink_stop(&k);
	err |= fx_stop(&f, err != 0);
	return err;
}

/* uas_capacity.xml with the call kept up 5 s (not 0.8) before the carrier's BYE */
static int scenario_bye_later(struct fx *f, char *path, size_t len)
{
	static const char pause[] = "<pause milliseconds=\"800\"/>";
	char *x = read_all("tests/sip/uas_capacity.xml");
	char *p = x ? strstr(x, pause) : NULL;
	FILE *o = NULL;
	snprintf(path, len, "%s/uas_bye_later.xml", f->dir);
	if (p)
		o = fopen(path, "w");
	if (o) {
		fprintf(o, "%.*s<pause milliseconds=\"5000\"/>%s", (int)(p - x), x,
			p + strlen(pause));
		fclose(o);
	}
	free(x);
	return o ? 0 : 1;
}

struct stored {
	char subject[160];
	int n;
};

static enum bus_ack count_stored(const struct bus_msg *msg, void *arg)
{
	struct stored *st = arg;
	if (strcmp(msg->subject, st->subject) == 0)
		st->n++;
	return BUS_ACK;
}

/* NATS restarts while a call ends: the carrier's BYE comes while NATS is
 * away (longer than the bridge's 3 tries 200 ms apart), and the call's
 * call_ended is in CALLS once NATS is back; it was dropped. */
static int test_bye_while_nats_restarts(void)
{
	int err = 0;
	struct fx f;
	struct sipp s = { 0 };
	struct bus *bus = NULL;
	struct bus_sub *sub = NULL;
	char id[ID_UUID_LEN + 1], path[600];
	struct stored st = { 0 };
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	TEST_EQ_INT(scenario_bye_later(&f, path, sizeof(path)), 0);
	TEST_EQ_INT(id_uuid4(id), 0);
	snprintf(st.subject, sizeof(st.subject), "calls.%s.call_ended", id);
	TEST_EQ_INT(sipp_start(&f, &s, path, NULL), 0);
	TEST_EQ_INT(publish_job(&f, id, s.port, 30, "u", "p"), 0);
	TEST_EQ_INT(expect_setup(&f, id, true), 0);
	test_nats_stop(&f.nats);
	TEST_EQ_INT(sipp_wait(&s), 0); /* the carrier's BYE, answered */
	s.pid = 0;
	test_nap_ms(1000); /* NATS stays away a second longer: the outage itself */
	TEST_EQ_INT(test_nats_restart(&f.nats), 0);
	TEST_EQ_INT(bus_connect(&bus, f.nats.url, "test-sip-bridge-reader"), 0);
	TEST_EQ_INT(bus_js_pull_sub(bus, &sub, "CALLS", "bye_reader", "calls.>"), 0);
	int64_t deadline = time_mono_ms() + WAIT_MS;
	while (st.n == 0 && time_mono_ms() < deadline) {
		int ferr = bus_js_fetch(sub, 256, 1000, count_stored, &st, NULL);
		TEST_ASSERT(ferr == 0 || ferr == ETIMEDOUT);
	}
	printf("    call_ended stored in CALLS after the restart: %d\n", st.n);
	TEST_EQ_INT(st.n, 1);
out:
	if (s.pid)
		test_kill(s.pid);
	sub = bus_unsubscribe(sub);
	bus = bus_close(bus);
	err |= fx_stop(&f, err != 0);
	return err;
}

static const struct test tests[] = {
	{ "dial_job_secrets_and_credentials", test_dial_job_secrets_and_credentials },
	{ "strangers_refer_message", test_strangers_refer_message },
	{ "session_timer", test_session_timer },
	{ "hold_and_resume", test_hold_and_resume },
	{ "advertised_address", test_advertised_address },
	{ "failure_statuses", test_failure_statuses },
	{ "digest_auth", test_digest_auth },
	{ "cancel_before_answer", test_cancel_before_answer },
	{ "local_bye_and_heartbeat", test_local_bye_and_heartbeat },
	{ "options_strangers_unknown_dialogs", test_options_strangers_unknown_dialogs },
	{ "torture_messages", test_torture_messages },
	{ "bye_while_nats_restarts", test_bye_while_nats_restarts },
};
TEST_MAIN(tests)
