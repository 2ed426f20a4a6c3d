/*
 * sip-bridge figures, loopback only, everything started here: a throw-away
 * nats-server (JetStream), the real $BUILD/bin/sip-bridge, and two carriers.
 *   calls: sipp (tests/sip/uas_bench.xml) answers every call after a digest
 *     challenge and hangs up at once (INVITE/401/ACK/INVITE/200/ACK/BYE/200);
 *     CALLS dial jobs are queued at once and the bridge takes them under
 *     MAX_CALLS. Calls per second (first job queued → last call_ended), CPU
 *     µs per complete call (the bridge's utime+stime from /proc over the
 *     run, divided by the calls, and per named thread), failures, and the
 *     bridge's resident memory at the start, after the calls and once idle
 *     (polled until it is back within RSS_IDLE_SLACK_KB of the start, at
 *     most IDLE_MAX_MS: sofia keeps finished transactions 32 s).
 *   hold: a carrier written here (raw SIP over TCP, so the clock is ours)
 *     answers one call, then sends HOLDS re-INVITEs alternating a=sendonly
 *     and a=sendrecv, one at a time: re-INVITE sent → 200 OK received, and
 *     re-INVITE sent → call_hold / call_resume received on NATS, p50/p99.
 * Bounded in count and time (< 100 s); prints figures against the targets and
 * fails only when it cannot run.
 */
#include "bus/bus.h"
#include "core/core.h"
#include "harness/bench.h"
#include "harness/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CALLS        3000
#define CALLS_MAX_MS 30000
#define MAX_CALLS    "400"
#define HOLDS        400
#define HOLD_MAX_MS  10000

#define TARGET_CPS       200.0
#define TARGET_CPU_US    150.0
#define TARGET_HOLD_P99  5000.0 /* µs */
#define TARGET_RSS_MB    64.0
#define TARGET_IDLE_MB   4.0    /* "back to start when idle": our slack above the start */
#define IDLE_MAX_MS      45000  /* after the last call: Timer M (32 s), the trim at 34 s */

/* The CPU each named thread used between a and b, per call. */
static void print_threads(const struct test_threads *a, const struct test_threads *b, long calls)
{
	printf("    by thread (us per call):");
	for (int i = 0; i < b->n; i++) {
		int64_t us = b->us[i] - test_threads_us(a, b->name[i]);
		printf(" %s %.0f", b->name[i], calls > 0 ? (double)us / (double)calls : 0.0);
	}
	printf("\n");
}

/* Resident memory of pid in kB, -1 when unknown. */
static long rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(fp);
	return kb;
}

/* ---- events ------------------------------------------------------------- */

struct counts {
	atomic_long ended, failed, holds, resumes, dialing, peak;
	atomic_llong last_hold_us, last_resume_us;
	long rss_start_kb;   /* before the calls */
	int64_t calls_end_us; /* the last call ended */
};

/* The most calls between call_dialing and their end seen at once: the knee
 * where the bridge stops taking jobs (MAX_CALLS; the rest wait in DIALS). */
static void on_dialing(const struct bus_msg *msg, void *arg)
{
	struct counts *c = arg;
	(void)msg;
	long live = atomic_fetch_add(&c->dialing, 1) + 1 - atomic_load(&c->ended) -
		    atomic_load(&c->failed);
	long peak = atomic_load(&c->peak);
	while (live > peak && !atomic_compare_exchange_weak(&c->peak, &peak, live))
		;
}

static void on_ended(const struct bus_msg *msg, void *arg)
{
	(void)msg;
	atomic_fetch_add(&((struct counts *)arg)->ended, 1);
}

static void on_failed(const struct bus_msg *msg, void *arg)
{
	(void)msg;
	atomic_fetch_add(&((struct counts *)arg)->failed, 1);
}

static void on_hold(const struct bus_msg *msg, void *arg)
{
	struct counts *c = arg;
	int64_t t = time_mono_us();
	if (strstr(msg->subject, ".call_hold")) {
		atomic_store(&c->last_hold_us, t);
		atomic_fetch_add(&c->holds, 1);
	} else {
		atomic_store(&c->last_resume_us, t);
		atomic_fetch_add(&c->resumes, 1);
	}
}

static int job_json(char *buf, size_t len, const char *id, int sip_port, const char *user)
{
	char *sealed = test_seal_for_call(id, "s3cret");
	if (!sealed)
		return -1;
	int n = snprintf(
		buf, len,
		"{\"v\":1,\"call_id\":\"%s\",\"room\":\"call-%s\",\"to_number\":\"+918044319241\","
		"\"from_number\":\"+918044319240\",\"ring_timeout_s\":30,\"max_duration_s\":600,"
		"\"created_at\":\"2026-11-23T19:00:00.123Z\",\"trunk\":{\"trunk_id\":\"t1\","
		"\"provider\":\"exotel\",\"sip_host\":\"127.0.0.1\",\"sip_port\":%d,"
		"\"transport\":\"tcp\",\"sip_domain\":\"exotel.test\",\"username\":\"%s\","
		"\"password_sealed\":\"%s\"}}",
		id, id, sip_port, user, sealed);
	free(sealed);
	return n;
}


/* ---- calls per second --------------------------------------------------- */

static int bench_calls(struct bus *bus, struct counts *c, int bridge, const char *dir)
{
	char port[16], calls[16], sipp_log[400], json[1024], id[ID_UUID_LEN + 1], msgid[64];
	int p = test_free_port(), sipp = 0;
	snprintf(port, sizeof(port), "%d", p);
	snprintf(calls, sizeof(calls), "%d", CALLS);
	snprintf(sipp_log, sizeof(sipp_log), "%s/sipp.log", dir);
	const char *argv[] = { "sipp",	    "-sf", "tests/sip/uas_bench.xml",
			       "-t",	    "t1",  "-i",
			       "127.0.0.1", "-p",  port,
			       "-m",	    calls, "-nostdin",
			       "-timeout",  "50",  "-max_socket",
			       "1000",	    NULL };
	if (test_spawn(&sipp, argv, NULL, sipp_log) || test_wait_port(p, 10000)) {
		fprintf(stderr, "bench_sip: sipp did not start (%s)\n", sipp_log);
		test_stop(&sipp, SIGKILL, 10000);
		return EIO;
	}
	long ended0 = atomic_load(&c->ended), failed0 = atomic_load(&c->failed);
	struct test_threads th0, th1;
	test_threads_cpu(&th0, bridge);
	int64_t cpu0 = test_cpu_us(bridge);
	long rss0 = rss_kb(bridge);
	int64_t t0 = time_mono_us();
	for (int i = 0; i < CALLS; i++) {
		if (id_uuid4(id))
			return EIO;
		int n = job_json(json, sizeof(json), id, p, "exo-user");
		snprintf(msgid, sizeof(msgid), "dial-%s", id);
		if (bus_js_publish_async(bus, "dial.exotel", msgid, json, (size_t)n, 5000)) {
			fprintf(stderr, "bench_sip: cannot queue dial job %d\n", i);
			test_stop(&sipp, SIGKILL, 10000);
			return EIO;
		}
	}
	uint64_t pub_failed = 0;
	if (bus_js_publish_async_wait(bus, 10000, &pub_failed) || pub_failed)
		fprintf(stderr, "bench_sip: %llu dial jobs not stored\n",
			(unsigned long long)pub_failed);
	int64_t queued = time_mono_us();
	long done = 0;
	while (time_mono_us() - t0 < (int64_t)CALLS_MAX_MS * 1000) {
		done = atomic_load(&c->ended) - ended0 + atomic_load(&c->failed) - failed0;
		if (done >= CALLS)
			break;
		test_nap_us(2000);
	}
	int64_t t1 = time_mono_us();
	int64_t cpu1 = test_cpu_us(bridge);
	test_threads_cpu(&th1, bridge);
	long ended = atomic_load(&c->ended) - ended0, failed = atomic_load(&c->failed) - failed0;
	test_stop(&sipp, done >= CALLS ? SIGTERM : SIGKILL, 10000);
	double secs = (double)(t1 - t0) / 1e6;
	double cps = secs > 0 ? (double)ended / secs : 0;
	double per_call =
		ended > 0 && cpu0 >= 0 && cpu1 >= 0 ? (double)(cpu1 - cpu0) / (double)ended : -1;
	long missing = CALLS - ended - failed;
	printf("  calls (INVITE/401/INVITE/200/ACK/BYE, MAX_CALLS %s): %d jobs queued in %.0f ms\n",
	       MAX_CALLS, CALLS, (double)(queued - t0) / 1e3);
	printf("    %ld completed in %.2f s = %.0f calls/s   (target >= %.0f) %s\n", ended, secs,
	       cps, TARGET_CPS, cps >= TARGET_CPS ? "ok" : "BELOW TARGET");
	printf("    failures %ld, not finished %ld   (target 0) %s\n", failed, missing,
	       failed == 0 && missing == 0 ? "ok" : "BELOW TARGET");
	printf("    bridge CPU %.1f us per call (%.0f ms over the run)   (target <= %.0f) %s\n",
	       per_call, (double)(cpu1 - cpu0) / 1e3, TARGET_CPU_US,
	       per_call >= 0 && per_call <= TARGET_CPU_US ? "ok" : "ABOVE TARGET");
	print_threads(&th0, &th1, ended);
	long rss1 = rss_kb(bridge);
	printf("    bridge resident memory %ld kB before, %ld kB after\n", rss0, rss1);
	c->rss_start_kb = rss0;
	c->calls_end_us = t1;
	char note[96];
	snprintf(note, sizeof(note), "%d calls, MAX_CALLS %s", CALLS, MAX_CALLS);
	bench_figure("sip.cpu_per_call", per_call, "<=", TARGET_CPU_US, "µs", note);
	/* sofia-sip's own thread (the SIP stack: parse, transactions, dialogs,
	 * TCP): the floor under sip.cpu_per_call (docs/decisions.md) */
	int64_t sofia_us = test_threads_us(&th1, "sb-sofia") - test_threads_us(&th0, "sb-sofia");
	bench_figure("sip.sofia_thread_per_call",
		     ended > 0 ? (double)sofia_us / (double)ended : -1, NULL, 0, "µs",
		     "sb-sofia alone, within sip.cpu_per_call");
	bench_figure("sip.calls_per_s", cps, ">=", TARGET_CPS, "calls/s", note);
	bench_figure("sip.calls_failed", (double)(failed + missing), "<=", 0, "calls", note);
	bench_figure("sip.rss_after_calls", rss1 >= 0 ? (double)rss1 / 1024.0 : -1, "<=",
		     TARGET_RSS_MB, "MB", note);
	snprintf(note, sizeof(note), "knee: MAX_CALLS %s at once, the other jobs wait in DIALS",
		 MAX_CALLS);
	bench_figure("sip.peak_concurrent_calls", (double)atomic_load(&c->peak), NULL, 0, "calls",
		     note);
	printf("    (sofia keeps every finished INVITE transaction for 32 s, RFC 6026 Timer M;\n"
	       "     the bridge hands the freed heap back (malloc_trim) once idle past that)\n");
	return 0;
}

/* ---- hold reaction: a carrier of our own -------------------------------- */

struct conn {
	int fd;
	char buf[65536];
	size_t len;
};

/* Reads one SIP message (headers + Content-Length body) into msg; 0, or
 * ETIMEDOUT / EIO. */
static int read_msg(struct conn *c, char *msg, size_t msglen, int timeout_ms)
{
	int64_t end = time_mono_us() + (int64_t)timeout_ms * 1000;
	for (;;) {
		c->buf[c->len] = '\0';
		char *hdr_end = strstr(c->buf, "\r\n\r\n");
		if (hdr_end) {
			size_t body = 0;
			char *cl = strstr(c->buf, "\r\nContent-Length:");
			if (!cl || cl > hdr_end)
				cl = strstr(c->buf, "\r\nl:");
			if (cl && cl < hdr_end)
				body = strtoul(strchr(cl + 2, ':') + 1, NULL, 10);
			size_t total = (size_t)(hdr_end + 4 - c->buf) + body;
			if (c->len >= total) {
				if (total >= msglen)
					return EIO;
				memcpy(msg, c->buf, total);
				msg[total] = '\0';
				memmove(c->buf, c->buf + total, c->len - total);
				c->len -= total;
				return 0;
			}
		}
		int left = (int)((end - time_mono_us()) / 1000);
		struct pollfd p = { c->fd, POLLIN, 0 };
		if (left <= 0 || poll(&p, 1, left) != 1)
			return ETIMEDOUT;
		if (c->len + 1 >= sizeof(c->buf))
			return EIO;
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
		if (n <= 0)
			return EIO;
		c->len += (size_t)n;
	}
}

/* The value of header `name` ("Via", …) in msg, without CRLF. */
static void header(char *out, size_t len, const char *msg, const char *name)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "\r\n%s:", name);
	const char *p = strstr(msg, needle);
	out[0] = '\0';
	if (!p)
		return;
	p += strlen(needle);
	while (*p == ' ')
		p++;
	const char *e = strstr(p, "\r\n");
	snprintf(out, len, "%.*s", e ? (int)(e - p) : 0, p);
}

static int send_all(int fd, const char *s, size_t n)
{
	return send(fd, s, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : EIO;
}

static const char sdp_fmt[] =
	"v=0\r\no=carrier 1 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	"m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=%s\r\n";

static int bench_hold(struct bus *bus, struct counts *c)
{
	int err = EIO, lfd = -1, port = test_free_port();
	struct conn *k = calloc(1, sizeof(*k));
	int64_t *t200 = calloc(HOLDS, sizeof(int64_t)), *tev_hold = calloc(HOLDS, sizeof(int64_t));
	int64_t *tev_resume = calloc(HOLDS, sizeof(int64_t));
	char msg[8192], out[8192], sdp[512], via[512], from[512], to[512], callid[256], cseq[64];
	char contact[512], id[ID_UUID_LEN + 1], json[1024], msgid[64];
	int n200 = 0, nhold = 0, nresume = 0;
	if (!k || !t200 || !tev_hold || !tev_resume)
		goto out;
	k->fd = -1;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4))
		goto out;
	if (id_uuid4(id))
		goto out;
	int jn = job_json(json, sizeof(json), id, port, "");
	snprintf(msgid, sizeof(msgid), "dial-%s", id);
	if (bus_js_publish(bus, "dial.exotel", msgid, json, (size_t)jn, 5000))
		goto out;
	struct pollfd p = { lfd, POLLIN, 0 };
	if (poll(&p, 1, 10000) != 1 || (k->fd = accept(lfd, NULL, NULL)) < 0)
		goto out;
	int one = 1;
	setsockopt(k->fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
	if (read_msg(k, msg, sizeof(msg), 10000) || strncmp(msg, "INVITE ", 7) != 0)
		goto out;
	header(via, sizeof(via), msg, "Via");
	header(from, sizeof(from), msg, "From");
	header(to, sizeof(to), msg, "To");
	header(callid, sizeof(callid), msg, "Call-ID");
	header(cseq, sizeof(cseq), msg, "CSeq");
	header(contact, sizeof(contact), msg, "Contact");
	char ruri[512];
	const char *lt = strchr(contact, '<'), *gt = strchr(contact, '>');
	snprintf(ruri, sizeof(ruri), "%.*s", lt && gt ? (int)(gt - lt - 1) : 0, lt ? lt + 1 : "");
	int sl = snprintf(sdp, sizeof(sdp), sdp_fmt, 1, "sendrecv");
	int ol = snprintf(
		out, sizeof(out),
		"SIP/2.0 200 OK\r\nVia: %s\r\nFrom: %s\r\nTo: %s;tag=bench1\r\nCall-ID: %s\r\n"
		"CSeq: %s\r\nContact: <sip:carrier@127.0.0.1:%d;transport=tcp>\r\n"
		"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		via, from, to, callid, cseq, port, sl, sdp);
	if (send_all(k->fd, out, (size_t)ol) || read_msg(k, msg, sizeof(msg), 10000) ||
	    strncmp(msg, "ACK ", 4) != 0)
		goto out;
	for (int i = 0; i < HOLDS; i++) {
		bool hold = i % 2 == 0;
		long before = hold ? atomic_load(&c->holds) : atomic_load(&c->resumes);
		sl = snprintf(sdp, sizeof(sdp), sdp_fmt, i + 2, hold ? "sendonly" : "sendrecv");
		ol = snprintf(
			out, sizeof(out),
			"INVITE %s SIP/2.0\r\nVia: SIP/2.0/TCP "
			"127.0.0.1:%d;branch=z9hG4bK-bench-%d\r\n"
			"Max-Forwards: 70\r\nFrom: %s;tag=bench1\r\nTo: %s\r\nCall-ID: %s\r\n"
			"CSeq: %d INVITE\r\nContact: <sip:carrier@127.0.0.1:%d;transport=tcp>\r\n"
			"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
			ruri, port, i, to, from, callid, i + 1, port, sl, sdp);
		int64_t t0 = time_mono_us();
		if (send_all(k->fd, out, (size_t)ol))
			goto out;
		do {
			if (read_msg(k, msg, sizeof(msg), 5000))
				goto out;
		} while (strncmp(msg, "SIP/2.0 1", 9) == 0);
		int64_t t1 = time_mono_us();
		if (strncmp(msg, "SIP/2.0 200", 11) != 0) {
			fprintf(stderr, "bench_sip: re-INVITE answered %.40s\n", msg);
			goto out;
		}
		t200[n200++] = t1 - t0;
		ol = snprintf(out, sizeof(out),
			      "ACK %s SIP/2.0\r\nVia: SIP/2.0/TCP "
			      "127.0.0.1:%d;branch=z9hG4bK-bench-ack-%d\r\n"
			      "Max-Forwards: 70\r\nFrom: %s;tag=bench1\r\nTo: %s\r\nCall-ID: %s\r\n"
			      "CSeq: %d ACK\r\nContent-Length: 0\r\n\r\n",
			      ruri, port, i, to, from, callid, i + 1);
		if (send_all(k->fd, out, (size_t)ol))
			goto out;
		/* the event: wait for it before the next re-INVITE (bounded) */
		int64_t end = time_mono_us() + 2000000;
		while ((hold ? atomic_load(&c->holds) : atomic_load(&c->resumes)) == before &&
		       time_mono_us() < end)
			test_nap_us(50);
		if ((hold ? atomic_load(&c->holds) : atomic_load(&c->resumes)) == before)
			continue;
		if (hold)
			tev_hold[nhold++] = atomic_load(&c->last_hold_us) - t0;
		else
			tev_resume[nresume++] = atomic_load(&c->last_resume_us) - t0;
	}
	ol = snprintf(out, sizeof(out),
		      "BYE %s SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bK-bench-bye\r\n"
		      "Max-Forwards: 70\r\nFrom: %s;tag=bench1\r\nTo: %s\r\nCall-ID: %s\r\n"
		      "CSeq: %d BYE\r\nContent-Length: 0\r\n\r\n",
		      ruri, port, to, from, callid, HOLDS + 1);
	if (send_all(k->fd, out, (size_t)ol) == 0)
		(void)read_msg(k, msg, sizeof(msg), 2000);
	printf("  hold reaction (%d re-INVITEs over TCP, one at a time; includes loopback and our "
	       "parsing):\n",
	       HOLDS);
	printf("    re-INVITE sent -> 200 OK with SDP received:  p50 %lld us  p99 %lld us\n",
	       (long long)test_pct(t200, n200, 50), (long long)test_pct(t200, n200, 99));
	int64_t p99h = test_pct(tev_hold, nhold, 99);
	printf("    re-INVITE sent -> call_hold on NATS (%d):    p50 %lld us  p99 %lld us   "
	       "(target p99 <= %.0f us) %s\n",
	       nhold, (long long)test_pct(tev_hold, nhold, 50), (long long)p99h, TARGET_HOLD_P99,
	       nhold == HOLDS / 2 && p99h >= 0 && p99h <= TARGET_HOLD_P99 ? "ok" : "ABOVE TARGET");
	printf("    re-INVITE sent -> call_resume on NATS (%d):  p50 %lld us  p99 %lld us\n",
	       nresume, (long long)test_pct(tev_resume, nresume, 50),
	       (long long)test_pct(tev_resume, nresume, 99));
	bench_figure("sip.hold_to_event_p99", nhold == HOLDS / 2 ? (double)p99h : -1, "<=",
		     TARGET_HOLD_P99, "µs", "re-INVITE a=sendonly -> call_hold on NATS");
	err = 0;
out:
	if (err)
		fprintf(stderr, "bench_sip: hold phase failed after %d re-INVITEs\n", n200);
	if (k && k->fd >= 0)
		close(k->fd);
	if (lfd >= 0)
		close(lfd);
	free(k);
	free(t200);
	free(tev_hold);
	free(tev_resume);
	return err;
}

/* The bridge's resident memory once idle: polled until it is back within
 * TARGET_IDLE_MB of its start or IDLE_MAX_MS after the last call. */
static void bench_idle(int bridge, const struct counts *c)
{
	long kb = rss_kb(bridge);
	while (kb >= 0 && (double)(kb - c->rss_start_kb) / 1024.0 > TARGET_IDLE_MB &&
	       time_mono_us() - c->calls_end_us < (int64_t)IDLE_MAX_MS * 1000) {
		test_nap_ms(500);
		kb = rss_kb(bridge);
	}
	double s = (double)(time_mono_us() - c->calls_end_us) / 1e6;
	char note[96];
	double above_mb = kb >= 0 ? (double)(kb - c->rss_start_kb) / 1024.0 : -1;
	snprintf(note, sizeof(note), "%.0f s idle: %ld kB, %ld kB at start", s, kb,
		 c->rss_start_kb);
	printf("  idle: bridge resident memory %ld kB %.0f s after the last call\n", kb, s);
	bench_figure("sip.rss_idle_above_start", above_mb, "<=", TARGET_IDLE_MB, "MB", note);
}

int main(void)
{
	int rc = 1;
	const char *build = getenv("BUILD") && *getenv("BUILD") ? getenv("BUILD") : "build";
	char bridge_log[400], bin[300];
	char e_nats[128], e_sip[64], e_health[64];
	struct test_nats nats = { 0 };
	int bridge = 0;
	struct bus *bus = NULL;
	struct bus_sub *s_end = NULL, *s_fail = NULL, *s_hold = NULL, *s_resume = NULL;
	struct bus_sub *s_dial = NULL;
	struct counts *c = calloc(1, sizeof(*c));
	char *dir = test_tmpdir("bench-sip");

	signal(SIGPIPE, SIG_IGN);
	log_setup("bench_sip", LOG_WARN, false);
	if (!c || !dir)
		return 1;
	int sip_port = test_free_port_span(1), health = test_free_port();
	snprintf(bridge_log, sizeof(bridge_log), "%s/sip-bridge.log", dir);
	snprintf(bin, sizeof(bin), "%s/bin/sip-bridge", build);
	if (test_nats_start(&nats)) {
		fprintf(stderr, "bench_sip: nats-server did not start\n");
		goto out;
	}
	snprintf(e_nats, sizeof(e_nats), "NATS_URL=%s", nats.url);
	snprintf(e_sip, sizeof(e_sip), "SIP_BIND=127.0.0.1:%d", sip_port);
	snprintf(e_health, sizeof(e_health), "HEALTH_ADDR=127.0.0.1:%d", health);
	const char *env[] = { e_nats, e_sip, e_health, "RTP_PORT_MIN=32000", "RTP_PORT_MAX=33999",
			      "MAX_CALLS=" MAX_CALLS, "LOG_LEVEL=warn", "INSTANCE=bench",
			      "SECRETS_KEY=" TEST_SECRETS_KEY, NULL };
	if (test_spawn(&bridge, (const char *const[]){ bin, NULL }, env, bridge_log) ||
	    test_wait_port(sip_port, 10000) || test_wait_port(health, 10000)) {
		fprintf(stderr, "bench_sip: %s did not start (log %s)\n", bin, bridge_log);
		goto out;
	}
	if (bus_connect(&bus, nats.url, "bench-sip") || bus_ensure_streams(bus) ||
	    bus_subscribe(bus, &s_dial, "calls.*.call_dialing", NULL, on_dialing, c) ||
	    bus_subscribe(bus, &s_end, "calls.*.call_ended", NULL, on_ended, c) ||
	    bus_subscribe(bus, &s_fail, "calls.*.call_failed", NULL, on_failed, c) ||
	    bus_subscribe(bus, &s_hold, "calls.*.call_hold", NULL, on_hold, c) ||
	    bus_subscribe(bus, &s_resume, "calls.*.call_resume", NULL, on_hold, c)) {
		fprintf(stderr, "bench_sip: NATS setup failed\n");
		goto out;
	}
	printf("bench_sip: sip-bridge (%s) against sipp and a raw SIP carrier on loopback\n", bin);
	if (bench_calls(bus, c, bridge, dir))
		goto out;
	if (bench_hold(bus, c))
		goto out;
	bench_idle(bridge, c);
	rc = 0;
out:
	s_dial = bus_unsubscribe(s_dial);
	s_end = bus_unsubscribe(s_end);
	s_fail = bus_unsubscribe(s_fail);
	s_hold = bus_unsubscribe(s_hold);
	s_resume = bus_unsubscribe(s_resume);
	bus = bus_close(bus);
	test_stop(&bridge, SIGTERM, 10000);
	test_nats_destroy(&nats);
	if (rc)
		fprintf(stderr, "bench_sip: logs kept in %s\n", dir);
	else
		test_rmtree(dir);
	free(dir);
	free(c);
	return rc;
}
