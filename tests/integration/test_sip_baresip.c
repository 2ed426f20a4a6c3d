/* sip-bridge against baresip as a real far end: baresip (Debian baresip-core)
 * runs from a config directory written here, listens for SIP on 127.0.0.1
 * over TCP, answers automatically, and is driven through its ctrl_tcp module
 * (netstring-framed JSON commands): hold, resume, hangup. We assert the
 * events on NATS and the direction of the SDP answers the bridge sent back
 * (its debug log names the direction of every answer it writes). */
#include "harness/sip_bridge_fx.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

struct baresip {
	int pid;
	int sip_port, ctrl_port;
	int ctrl_fd;
	char dir[512];
	char log[600];
	char in[65536];   /* what ctrl_tcp sent us */
	size_t in_len;
};

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "w");
	if (!fp)
		return errno;
	fputs(text, fp);
	return fclose(fp) == 0 ? 0 : EIO;
}

/* Writes baresip's config for fresh ports and starts it (see baresip_start). */
static int baresip_spawn(struct baresip *b, const char *tls_pem, bool srtp)
{
	int err = 0;
	char cfg[2048], acc[256], certline[700] = "";
	/* baresip listens for SIP on UDP and TCP, and TLS on the next port
	 * (with or without a certificate), and exits when any is taken */
	b->sip_port = test_free_port_span(2);
	b->ctrl_port = test_free_port();
	int rtp = 40000 + (int)(getpid() % 100) * 100;
	if (tls_pem)
		snprintf(certline, sizeof(certline), "sip_certificate\t\t%s\n", tls_pem);
	snprintf(cfg, sizeof(cfg),
		 "poll_method\t\tepoll\n"
		 "sip_listen\t\t127.0.0.1:%d\n"
		 "sip_trans_def\t\t%s\n"
		 "%s"
		 "audio_player\t\taubridge,callmesh\n"
		 "audio_source\t\t%s\n"
		 "audio_alert\t\taubridge,callmesh\n"
		 "rtp_ports\t\t%d-%d\n"
		 "module_path\t\t/usr/lib/baresip/modules\n"
		 "module\t\t\tg711.so\n"
		 "%s"
		 "module\t\t\taubridge.so\n"
		 "module_app\t\taccount.so\n"
		 "module_app\t\tmenu.so\n"
		 "module_app\t\tctrl_tcp.so\n"
		 "ctrl_tcp_listen\t\t127.0.0.1:%d\n",
		 b->sip_port, tls_pem ? "tls" : "tcp", certline,
		 /* a tone that keeps going through hold and resume (aubridge's
		  * source stops after a re-INVITE in baresip 1.0) */
		 srtp ? "ausine,440\nausrc_srate\t\t48000\nausrc_channels\t\t2"
		      : "aubridge,callmesh",
		 rtp, rtp + 99, srtp ? "module\t\t\tsrtp.so\nmodule\t\t\tausine.so\n" : "",
		 b->ctrl_port);
	TEST_EQ_INT(write_file(b->dir, "config", cfg), 0);
	snprintf(acc, sizeof(acc),
		 "<sip:+918044319241@127.0.0.1;transport=%s>;regint=0;answermode=auto;"
		 "audio_codecs=PCMU,PCMA%s\n",
		 tls_pem ? "tls" : "tcp", srtp ? ";mediaenc=srtp-mand" : "");
	TEST_EQ_INT(write_file(b->dir, "accounts", acc), 0);
	TEST_EQ_INT(write_file(b->dir, "contacts", ""), 0);
	/* -s: SIP trace in the log, for whoever reads a failure */
	const char *argv[] = { "baresip", "-f", b->dir, "-s", NULL };
	TEST_EQ_INT(test_spawn(&b->pid, argv, NULL, b->log), 0);
out:
	return err;
}

/* Waits until baresip's ctrl_tcp listens: 0; EADDRINUSE when baresip exited
 * because a port it wanted was taken (another process bound it after we
 * checked), another error otherwise. */
static int baresip_wait_up(struct baresip *b)
{
	int64_t end = time_mono_ms() + WAIT_MS;
	while (time_mono_ms() < end) {
		int code;
		if (test_wait_port(b->ctrl_port, 100) == 0)
			return 0;
		if (test_wait_exit(b->pid, 0, &code) == 0) {
			b->pid = 0;
			return code == 98 ? EADDRINUSE : ECHILD;
		}
	}
	return ETIMEDOUT;
}

/* tls_pem: a PEM file with baresip's certificate and key; baresip then
 * listens for SIP over TLS on sip_port + 1 and its account uses TLS. srtp:
 * its srtp module is loaded and the account demands SRTP with SDES keys
 * (mediaenc=srtp-mand): it answers only RTP/SAVP offers with a=crypto. */
static int baresip_start(struct fx *f, struct baresip *b, const char *tls_pem, bool srtp)
{
	int err = 0, up = EADDRINUSE;
	memset(b, 0, sizeof(*b));
	b->ctrl_fd = -1;
	snprintf(b->dir, sizeof(b->dir), "%s/baresip%s", f->dir, tls_pem ? "-tls" : "");
	snprintf(b->log, sizeof(b->log), "%s/baresip.log", f->dir);
	TEST_EQ_INT(mkdir(b->dir, 0700), 0);
	/* a port taken between our check and baresip's bind: again with new
	 * ports, a bounded number of times */
	for (int attempt = 0; attempt < 3 && up == EADDRINUSE; attempt++) {
		if (attempt > 0)
			fprintf(stderr, "    baresip: a port was taken, again with new ones\n");
		TEST_EQ_INT(baresip_spawn(b, tls_pem, srtp), 0);
		up = baresip_wait_up(b);
	}
	TEST_EQ_INT(up, 0);
	TEST_EQ_INT(wait_tcp(tls_pem ? b->sip_port + 1 : b->sip_port, WAIT_MS), 0);
	b->ctrl_fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)b->ctrl_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	TEST_EQ_INT(connect(b->ctrl_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
out:
	return err;
}

static void baresip_stop(struct baresip *b)
{
	if (b->ctrl_fd >= 0)
		close(b->ctrl_fd);
	b->ctrl_fd = -1;
	if (b->pid > 0) {
		int code;
		kill(b->pid, SIGTERM);
		if (test_wait_exit(b->pid, 5000, &code) != 0)
			test_kill(b->pid);
	}
	b->pid = 0;
}

/* Sends one ctrl_tcp command: a netstring holding {"command":…}. */
static int baresip_cmd(struct baresip *b, const char *command)
{
	char json[256], ns[300];
	int jl = snprintf(json, sizeof(json),
			  "{\"command\":\"%s\",\"params\":\"\",\"token\":\"%s\"}", command,
			  command);
	int nl = snprintf(ns, sizeof(ns), "%d:%s,", jl, json);
	return send(b->ctrl_fd, ns, (size_t)nl, MSG_NOSIGNAL) == nl ? 0 : EIO;
}

/* Waits until ctrl_tcp has sent something containing `needle` after
 * offset *fromp (updated to just past it). */
static bool baresip_await(struct baresip *b, const char *needle, size_t *fromp, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	for (;;) {
		const char *hit = strstr(b->in + *fromp, needle);
		if (hit) {
			*fromp = (size_t)(hit - b->in) + strlen(needle);
			return true;
		}
		int left = (int)(end - time_mono_ms());
		struct pollfd p = { b->ctrl_fd, POLLIN, 0 };
		if (left <= 0 || poll(&p, 1, left) != 1 || b->in_len + 1 >= sizeof(b->in))
			break;
		ssize_t n = recv(b->ctrl_fd, b->in + b->in_len, sizeof(b->in) - 1 - b->in_len, 0);
		if (n <= 0)
			break;
		b->in_len += (size_t)n;
		b->in[b->in_len] = '\0';
	}
	fprintf(stdout, "    baresip sent no \"%s\" within %d ms\n", needle, timeout_ms);
	return false;
}

/* The bridge's n-th (0-based) log line containing `needle`, from it on. */
static int log_line(struct fx *f, const char *needle, int nth, char *line, size_t len)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/sip-bridge-1.log", f->dir);
	char *log = read_all(path);
	int found = ENOENT;
	const char *p = log;
	for (int i = 0; p && (p = strstr(p, needle)) != NULL; i++, p++) {
		if (i == nth) {
			const char *eol = strchr(p, '\n');
			snprintf(line, len, "%.*s", eol ? (int)(eol - p) : (int)strlen(p), p);
			found = 0;
			break;
		}
	}
	free(log);
	return found;
}

/* The bridge's debug log line for its n-th answer (0-based) to an offer. */
/* A line of the bridge's log to wait for (test_wait_until), copied to line. */
struct log_wait {
	struct fx *f;
	const char *needle;
	char *line;
	size_t len;
};

static bool log_has(void *arg)
{
	struct log_wait *w = arg;
	return log_line(w->f, w->needle, 0, w->line, w->len) == 0;
}

static int answer_line(struct fx *f, int nth, char *line, size_t len)
{
	return log_line(f, "offer_answered", nth, line, len);
}

static int test_baresip_answer_hold_resume_hangup(void)
{
	int err = 0;
	struct fx f;
	struct baresip b = { .ctrl_fd = -1 };
	char id[ID_UUID_LEN + 1], line[512];
	char *hold = NULL, *resume = NULL, *ended = NULL;
	size_t at = 0;
	struct job_opts jo = { .ring_timeout_s = 30, .user = "", .pass = "" };
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	TEST_EQ_INT(baresip_start(&f, &b, NULL, false), 0);
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(publish_job_opts(&f, id, b.sip_port, &jo), 0);
	TEST_EQ_INT(expect_setup(&f, id, false), 0);
	TEST_ASSERT(baresip_await(&b, "CALL_ESTABLISHED", &at, WAIT_MS));

	/* baresip's hold: a re-INVITE with a=sendonly; we answer a=recvonly */
	TEST_EQ_INT(baresip_cmd(&b, "hold"), 0);
	hold = await_event(&f, id, "call_hold", WAIT_MS);
	TEST_ASSERT(hold != NULL);
	TEST_CONTAINS(hold, "\"direction\":\"sendonly\"");
	TEST_CONTAINS(hold, "\"method\":\"attribute\"");
	TEST_EQ_INT(answer_line(&f, 0, line, sizeof(line)), 0);
	TEST_CONTAINS(line, "answered 200 with a=recvonly");

	TEST_EQ_INT(baresip_cmd(&b, "resume"), 0);
	resume = await_event(&f, id, "call_resume", WAIT_MS);
	TEST_ASSERT(resume != NULL);
	TEST_CONTAINS(resume, "\"direction\":\"sendrecv\"");
	TEST_EQ_INT(answer_line(&f, 1, line, sizeof(line)), 0);
	TEST_CONTAINS(line, "answered 200 with a=sendrecv");
	TEST_EQ_INT(count_events(&f, id, "call_hold"), 1);

	/* hang up from baresip: BYE → call_ended by remote */
	TEST_EQ_INT(baresip_cmd(&b, "hangup"), 0);
	ended = await_event(&f, id, "call_ended", WAIT_MS);
	TEST_ASSERT(ended != NULL);
	TEST_CONTAINS(ended, "\"by\":\"remote\"");
	TEST_EQ_INT(count_events(&f, id, "call_failed"), 0);
out:
	if (err)
		fprintf(stdout, "    baresip log: %s\n", b.log);
	baresip_stop(&b);
	free(hold);
	free(resume);
	free(ended);
	err |= fx_stop(&f, err != 0);
	return err;
}

/* Runs a command to completion (openssl); 0 when it exited 0. */
static int run(const char *const argv[])
{
	char *output = NULL;
	int rc = test_run_cmd(&output, argv, NULL, 30000);
	if (rc != 0)
		fprintf(stdout, "    %s exited %d: %s\n", argv[0], rc, output ? output : "");
	free(output);
	return rc;
}

/* A self-signed certificate for 127.0.0.1: <dir>/<name>.key and .crt. */
static int make_cert(const char *dir, const char *name)
{
	char key[600], crt[600];
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
	const char *argv[] = { "openssl",
			       "req",
			       "-x509",
			       "-newkey",
			       "ec",
			       "-pkeyopt",
			       "ec_paramgen_curve:prime256v1",
			       "-nodes",
			       "-keyout",
			       key,
			       "-out",
			       crt,
			       "-days",
			       "2",
			       "-subj",
			       "/CN=127.0.0.1",
			       "-addext",
			       "subjectAltName=IP:127.0.0.1",
			       NULL };
	return run(argv);
}

/* Concatenates files into `out`. */
static int cat_files(const char *out, const char *a, const char *b)
{
	int err = 0;
	FILE *o = fopen(out, "w");
	const char *in[] = { a, b };
	if (!o)
		return errno;
	for (int i = 0; i < 2 && in[i]; i++) {
		char *text = read_all(in[i]);
		if (!text || !*text)
			err = ENOENT;
		else
			fputs(text, o);
		free(text);
	}
	if (fclose(o) != 0)
		err = EIO;
	return err;
}

/* Certificates in <f->dir>/tls: far.pem (baresip's), agent.pem (the
 * bridge's), cafile.pem = the far end's certificate when trust_far, else the
 * bridge's own (so the far end is not trusted); the bridge is started with
 * TLS on. *pemp names far.pem. */
static int tls_bridge_start(struct fx *f, char *pem, size_t pemlen, bool trust_far)
{
	int err = 0;
	char tls[600], p1[700], p2[700], p3[700], bind[64];
	snprintf(tls, sizeof(tls), "%s/tls", f->dir);
	TEST_EQ_INT(mkdir(tls, 0700), 0);
	TEST_EQ_INT(make_cert(tls, "far"), 0);
	TEST_EQ_INT(make_cert(tls, "bridge"), 0);
	snprintf(p1, sizeof(p1), "%s/far.crt", tls);
	snprintf(p2, sizeof(p2), "%s/far.key", tls);
	snprintf(pem, pemlen, "%s/far.pem", tls);
	TEST_EQ_INT(cat_files(pem, p1, p2), 0);
	snprintf(p3, sizeof(p3), "%s/cafile.pem", tls);
	snprintf(p2, sizeof(p2), "%s/bridge.crt", tls);
	TEST_EQ_INT(cat_files(p3, trust_far ? p1 : p2, NULL), 0);
	snprintf(p1, sizeof(p1), "%s/bridge.key", tls);
	snprintf(p3, sizeof(p3), "%s/agent.pem", tls);
	TEST_EQ_INT(cat_files(p3, p1, p2), 0);
	snprintf(bind, sizeof(bind), "127.0.0.1:%d", test_free_port());
	fx_setenv(f, "MAX_CALLS", "10");
	fx_setenv(f, "SIP_TLS_BIND", bind);
	fx_setenv(f, "SIP_TLS_CERT_DIR", tls);
	/* sanitizer builds: sofia's own TLS leaks (see the file) */
	char supp[PATH_MAX + 64], *abs = realpath("tests/sip/lsan-sofia-tls.supp", NULL);
	TEST_ASSERT(abs != NULL);
	snprintf(supp, sizeof(supp), "suppressions=%s:print_suppressions=0", abs);
	free(abs);
	fx_setenv(f, "LSAN_OPTIONS", supp);
	fx_setenv(f, "ASAN_OPTIONS", "fast_unwind_on_malloc=0");
	TEST_EQ_INT(fx_bridge_start(f), 0);
out:
	return err;
}

/* The first number after `key` in `text`; -1 when absent. */
static long long number_after(const char *text, const char *key)
{
	const char *p = text ? strstr(text, key) : NULL;
	if (!p)
		return -1;
	char *end;
	long long v = strtoll(p + strlen(key), &end, 10);
	return end == p + strlen(key) ? -1 : v;
}

/* A trunk with transport "tls": the bridge (SIP_TLS_BIND, its own
 * certificate, verifying the far end's against cafile.pem) dials baresip over
 * TLS with SRTP (RTP/SAVP, a=crypto: SDES keys); baresip, demanding SRTP,
 * answers; media flows encrypted both ways (the bridge unprotects what
 * baresip sends without one failure, baresip decrypts what the bridge
 * sends); hold and resume are answered with our a=crypto and the same keys;
 * the far end hangs up. */
static int test_baresip_over_tls_srtp(void)
{
	int err = 0;
	struct fx f;
	struct baresip b = { .ctrl_fd = -1 };
	char id[ID_UUID_LEN + 1], pem[700], line[1024], path[600];
	char *hold = NULL, *resume = NULL, *ended = NULL, *trace = NULL, *blog = NULL;
	size_t at = 0;
	struct job_opts jo = { .ring_timeout_s = 30, .user = "", .pass = "", .transport = "tls" };
	TEST_EQ_INT(fx_start(&f, NULL), 0);
	TEST_EQ_INT(tls_bridge_start(&f, pem, sizeof(pem), true), 0);
	TEST_EQ_INT(baresip_start(&f, &b, pem, true), 0);
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(publish_job_opts(&f, id, b.sip_port + 1, &jo), 0);
	TEST_EQ_INT(expect_setup(&f, id, false), 0);
	TEST_ASSERT(baresip_await(&b, "CALL_ESTABLISHED", &at, WAIT_MS));
	/* the bridge keyed SRTP from baresip's answer */
	TEST_EQ_INT(log_line(&f, "call_srtp", 0, line, sizeof(line)), 0);
	TEST_CONTAINS(line, "SRTP AES_CM_128_HMAC_SHA1_80, tag 1");
	TEST_EQ_INT(log_line(&f, "relay_started", 0, line, sizeof(line)), 0);
	TEST_CONTAINS(line, ", SRTP, room");

	/* media for a second; baresip saw RTP it could decrypt. The nap is the
	 * media time the packet counts below measure, not a wait for an event:
	 * the bridge counts packets only in its relay_stopped line. */
	test_nap_ms(1000);
	TEST_ASSERT(baresip_await(&b, "CALL_RTPESTAB", &at, WAIT_MS));

	/* hold: a=sendonly offer with a=crypto; we answer a=recvonly, same keys */
	TEST_EQ_INT(baresip_cmd(&b, "hold"), 0);
	hold = await_event(&f, id, "call_hold", WAIT_MS);
	TEST_ASSERT(hold != NULL);
	TEST_CONTAINS(hold, "\"direction\":\"sendonly\"");
	TEST_EQ_INT(answer_line(&f, 0, line, sizeof(line)), 0);
	TEST_CONTAINS(line, "answered 200 with a=recvonly, SRTP same keys");
	TEST_EQ_INT(baresip_cmd(&b, "resume"), 0);
	resume = await_event(&f, id, "call_resume", WAIT_MS);
	TEST_ASSERT(resume != NULL);
	TEST_EQ_INT(answer_line(&f, 1, line, sizeof(line)), 0);
	TEST_CONTAINS(line, "answered 200 with a=sendrecv, SRTP same keys");

	/* after resume, media flows again: 1.5 s more (measured, as above) */
	test_nap_ms(1500);

	TEST_EQ_INT(baresip_cmd(&b, "hangup"), 0);
	ended = await_event(&f, id, "call_ended", WAIT_MS);
	TEST_ASSERT(ended != NULL);
	TEST_CONTAINS(ended, "\"by\":\"remote\"");
	TEST_EQ_INT(count_events(&f, id, "call_failed"), 0);

	/* the bridge's counters: SRTP in and out, not one unprotect failure */
	struct log_wait lw = { &f, "relay_stopped", line, sizeof(line) };
	TEST_ASSERT(test_wait_until(log_has, &lw, 5000));
	fprintf(stdout, "    %s\n", line);
	TEST_CONTAINS(line, "srtp on (unprotect failures 0, rekeys 0)");
	/* ≥ 90: 1 s before the hold (at most ~60 packets), 1.5 s after resume */
	TEST_ASSERT(number_after(line, "rtp in ") >= 90);
	TEST_ASSERT(number_after(line, " out ") >= 90);

	/* it really went over TLS and SRTP: baresip's trace and log say so */
	trace = read_all(b.log);
	TEST_CONTAINS(trace, "TLS 127.0.0.1:");
	TEST_CONTAINS(trace, "m=audio");
	TEST_CONTAINS(trace, "RTP/SAVP 0 8 101");
	TEST_CONTAINS(trace, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:");
	TEST_CONTAINS(trace, "SRTP is Enabled");
	/* every packet the bridge sent, before hold and after resume, baresip
	 * decrypted: its srtp module logs each one it cannot */
	TEST_ASSERT(strstr(trace, "failed to decrypt") == NULL);
	snprintf(path, sizeof(path), "%s/sip-bridge-1.log", f.dir);
	blog = read_all(path);
	TEST_ASSERT(blog && strstr(blog, "srtp_unprotect_failed") == NULL);
out:
	if (err)
		fprintf(stdout, "    baresip log: %s\n", b.log);
	baresip_stop(&b);
	free(hold);
	free(resume);
	free(ended);
	free(trace);
	free(blog);
	err |= fx_stop(&f, err != 0);
	return err;
}

/* A TLS trunk whose far end will not do SRTP (baresip without its srtp
 * module): it refuses our RTP/SAVP offer with 488, and the call fails
 * cleanly with no media in clear: call_failed 488, no call_answered, no
 * RTP relay. (A far end that answers the SAVP offer with plain RTP/AVP is
 * refused by the bridge itself: answer_without_srtp, BYE, call_failed 488;
 * the sipp here is built without TLS, so no test drives that path.) */
static int test_tls_far_end_without_srtp_fails(void)
{
	int err = 0;
	struct fx f;
	struct baresip b = { .ctrl_fd = -1 };
	char id[ID_UUID_LEN + 1], pem[700], line[1024];
	char *failed = NULL, *trace = NULL;
	struct job_opts jo = { .ring_timeout_s = 30, .user = "", .pass = "", .transport = "tls" };
	TEST_EQ_INT(fx_start(&f, NULL), 0);
	TEST_EQ_INT(tls_bridge_start(&f, pem, sizeof(pem), true), 0);
	TEST_EQ_INT(baresip_start(&f, &b, pem, false), 0);
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(publish_job_opts(&f, id, b.sip_port + 1, &jo), 0);
	failed = await_event(&f, id, "call_failed", WAIT_MS);
	TEST_ASSERT(failed != NULL);
	TEST_CONTAINS(failed, "\"sip_code\":488");
	TEST_EQ_INT(count_events(&f, id, "call_answered"), 0);
	TEST_EQ_INT(count_events(&f, id, "call_ended"), 0);
	TEST_EQ_INT(log_line(&f, "relay_started", 0, line, sizeof(line)), ENOENT);
	trace = read_all(b.log);
	TEST_CONTAINS(trace, "RTP/SAVP 0 8 101");
out:
	if (err)
		fprintf(stdout, "    baresip log: %s\n", b.log);
	baresip_stop(&b);
	free(failed);
	free(trace);
	err |= fx_stop(&f, err != 0);
	return err;
}

/* The far end's certificate is not in cafile.pem: no INVITE reaches it, the
 * call fails (sofia reports no transport error for a refused certificate: the
 * INVITE times out, here at the job's 5 s ring timeout). */
static int test_tls_untrusted_carrier_fails(void)
{
	int err = 0;
	struct fx f;
	struct baresip b = { .ctrl_fd = -1 };
	char id[ID_UUID_LEN + 1], pem[700];
	char *failed = NULL, *trace = NULL;
	struct job_opts jo = { .ring_timeout_s = 5, .user = "", .pass = "", .transport = "tls" };
	TEST_EQ_INT(fx_start(&f, NULL), 0);
	TEST_EQ_INT(tls_bridge_start(&f, pem, sizeof(pem), false), 0);
	TEST_EQ_INT(baresip_start(&f, &b, pem, true), 0);
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(publish_job_opts(&f, id, b.sip_port + 1, &jo), 0);
	failed = await_event(&f, id, "call_failed", 3 * WAIT_MS);
	TEST_ASSERT(failed != NULL);
	TEST_EQ_INT(count_events(&f, id, "call_answered"), 0);
	trace = read_all(b.log);
	TEST_ASSERT(trace && !strstr(trace, "INVITE sip:"));
out:
	if (err)
		fprintf(stdout, "    baresip log: %s\n", b.log);
	baresip_stop(&b);
	free(failed);
	free(trace);
	err |= fx_stop(&f, err != 0);
	return err;
}

static const struct test tests[] = {
	{ "baresip_over_tls_srtp", test_baresip_over_tls_srtp },
	{ "tls_far_end_without_srtp_fails", test_tls_far_end_without_srtp_fails },
	{ "tls_untrusted_carrier_fails", test_tls_untrusted_carrier_fails },
	{ "baresip_answer_hold_resume_hangup", test_baresip_answer_hold_resume_hangup },
};
TEST_MAIN(tests)
