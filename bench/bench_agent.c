/*
 * agent-worker end to end on this machine, local providers (espeak-ng,
 * pocketsphinx, a scripted assistant): its own nats-server, the real
 * room-manager (ROOM_BACKEND=local) and the real agent-worker binary, each
 * a process of this bench. A stand-in for the caller side (what sip-bridge
 * does) joins each call's room through libs/room as `sip-<call_id>`; calls
 * are dispatched with agents.dispatch and answered with call_answered
 * published as the bridge would (bus_publish_event).
 *
 * Figures (p50/p99 where there are enough samples), against the issue's
 * targets:
 *   - answer → first agent audio frame decoded by the caller participant
 *     (and → first agent RTP packet at its socket);
 *   - caller end-of-speech (espeak-ng "what are your hours", 20 ms frames
 *     paced at 20 ms, then silence) → first reply frame;
 *   - call_hold published → last agent audio frame / RTP packet received
 *     while the agent speaks a long greeting, and the agent's own figure
 *     (its on_hold state change, from its log, ms resolution);
 *   - a ramp of concurrent sessions in one agent-worker: answer → first
 *     audio p50/p99 at each level, concealed frames, agent CPU.
 * Loopback only; bounded (< 90 s, each phase stops early when the time is
 * spent); prints figures, fails only when it cannot run.
 */
#include "bus/bus.h"
#include "harness/test.h"
#include "core/core.h"
#include "event/event.h"
#include "media/media.h"
#include "room/room.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CALLS_MAX        48        /* callers at once (the ramp's top) */
#define AGENT_SESSIONS   "48"      /* MAX_SESSIONS of the agent-worker */
#define BENCH_BUDGET_US  (80LL * 1000000)   /* phases stop starting work past this */
#define ANSWER_CALLS     10
#define EOS_CALLS        5         /* of the answer calls, these also speak */
#define HOLD_CALLS       8
#define LOUD_RMS         500
#define VOICED_RMS       300
#define SPEECH_MAX_BYTES (4 << 20)
#define LOG_MAX_BYTES    (16 << 20)
static const int ramp_levels[] = { 1, 5, 10, 20, 40 };

#define GREET_SHORT "Hello Ada, this is the clinic. How can I help you today?"
#define GREET_LONG                                                                          \
	"Hello Ada, thank you for calling the clinic. I can help you book, move or cancel " \
	"an appointment, and I can answer questions about our opening hours, our address, " \
	"parking, and the documents to bring with you. Please tell me what you need."
#define REPLY       "We are open nine to five."

/* The caller side of one call. Times are time_mono_us(); 0 = not yet. */
struct caller {
	char call_id[ID_UUID_LEN + 1];
	char room[64];
	struct room *r;                 /* guarded by bench.mu against the poller */
	atomic_llong first_us, last_us, first_loud_us;  /* decoded frames since armed */
	atomic_long frames, concealed;
	atomic_llong first_pkt_us, last_pkt_us;         /* RTP packets, from the poller */
	atomic_ullong pkts;             /* RTP packets received, from the poller */
	int64_t answered_us;
	double dispatch_ms;
};

struct bench {
	char *dir, build[200];
	struct test_nats nats;
	int rm_pid, agent_pid;
	struct bus *bus;
	struct bus_sub *ev_sub;
	struct room_local_ctx rctx;
	struct caller calls[CALLS_MAX];
	pthread_mutex_t mu;
	pthread_t poller;
	bool poller_started;
	atomic_bool stop;
	atomic_llong hold_seen_us;      /* our own receipt of the last call_hold */
	atomic_int user_hours;          /* user transcripts that contain "hours" */
	int16_t *speech;                /* 48 kHz, whole frames */
	size_t speech_frames, speech_last_voiced;
	int64_t t0_us;
	int agent_health_port;
	long busy_retries;              /* dispatches refused at capacity */
};

/* ---- small helpers ----------------------------------------------------------- */

static void sleep_until_us(int64_t mono_us)
{
	struct timespec ts = { (time_t)(mono_us / 1000000), (long)(mono_us % 1000000) * 1000 };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static bool over_budget(const struct bench *b)
{
	return time_mono_us() - b->t0_us > BENCH_BUDGET_US;
}

static bool alive(int pid)
{
	return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of v[n] (sorted here); NAN when n == 0. */
static double pct(double *v, size_t n, double p)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(double), cmp_double);
	size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static const char *verdict(double v, double target)
{
	if (isnan(v))
		return "no data";
	return v <= target ? "meets target" : "MISSES target";
}

static int32_t rms(const int16_t *pcm, size_t n)
{
	double acc = 0;
	for (size_t i = 0; i < n; i++)
		acc += (double)pcm[i] * pcm[i];
	return n ? (int32_t)sqrt(acc / (double)n) : 0;
}

/* agent-worker's agent_sessions gauge from its /metrics (updated when it
 * reaps, once a second and at each dispatch); -1 when unreadable. */
static long agent_sessions(const struct bench *b)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	char buf[1 << 16];
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)b->agent_health_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 1, 0 };
	size_t len = 0;
	long v = -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, req, sizeof(req) - 1) != sizeof(req) - 1)
		goto out;
	for (ssize_t n;
	     len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0;)
		len += (size_t)n;
	buf[len] = '\0';
	const char *p = strstr(buf, "\nagent_sessions");
	if (p) {
		char *endp = NULL;
		p += strlen("\nagent_sessions");
		while (*p && *p != ' ' && *p != '\n')
			p++; /* labels, if any */
		long x = strtol(p, &endp, 10);
		if (endp != p)
			v = x;
	}
out:
	close(fd);
	return v;
}

/* Waits (at most timeout_ms) until agent-worker reports no session; ms
 * waited, or -1 on timeout. */
static double wait_agent_idle(const struct bench *b, int timeout_ms)
{
	int64_t t = time_mono_us(), end = t + (int64_t)timeout_ms * 1000;
	while (time_mono_us() < end) {
		if (agent_sessions(b) == 0)
			return (double)(time_mono_us() - t) / 1000.0;
		test_nap_us(50000);
	}
	return -1;
}

/* ---- the caller side --------------------------------------------------------- */

static void caller_arm(struct caller *c)
{
	atomic_store(&c->first_us, 0);
	atomic_store(&c->last_us, 0);
	atomic_store(&c->first_loud_us, 0);
	atomic_store(&c->first_pkt_us, 0);
	atomic_store(&c->last_pkt_us, 0);
}

static void on_frame(const struct room_frame *f, void *arg)
{
	struct caller *c = arg;
	long long now = time_mono_us(), zero = 0;
	if (f->concealed) {
		atomic_fetch_add(&c->concealed, 1);
		return;
	}
	atomic_fetch_add(&c->frames, 1);
	atomic_compare_exchange_strong(&c->first_us, &zero, now);
	atomic_store(&c->last_us, now);
	zero = 0;
	if (rms(f->pcm, ROOM_FRAME_SAMPLES) > LOUD_RMS)
		atomic_compare_exchange_strong(&c->first_loud_us, &zero, now);
}

static const struct room_handlers frame_handlers = { .frame = on_frame };

/* Watches every joined caller's RTP packet counter (every 250 µs): the
 * arrival of the agent's packets without the jitter buffer's play-out. */
static void *poller_main(void *arg)
{
	struct bench *b = arg;
	while (!atomic_load(&b->stop)) {
		pthread_mutex_lock(&b->mu);
		long long now = time_mono_us();
		for (size_t i = 0; i < CALLS_MAX; i++) {
			struct caller *c = &b->calls[i];
			struct room_stats st;
			if (!c->r)
				continue;
			room_local.stats(c->r, &st);
			if (st.packets_received != atomic_load(&c->pkts)) {
				long long zero = 0;
				atomic_store(&c->pkts, st.packets_received);
				atomic_compare_exchange_strong(&c->first_pkt_us, &zero, now);
				atomic_store(&c->last_pkt_us, now);
			}
		}
		pthread_mutex_unlock(&b->mu);
		test_nap_us(250);
	}
	return NULL;
}

static void on_event(const struct bus_msg *msg, void *arg)
{
	struct bench *b = arg;
	struct event *ev = NULL;
	if (event_decode(&ev, msg->data, (size_t)msg->len, NULL, 0))
		return;
	if (ev->type == EV_CALL_HOLD) {
		atomic_store(&b->hold_seen_us, time_mono_us());
	} else if (ev->type == EV_TRANSCRIPT) {
		const char *sp = event_get_str(ev, "speaker"), *tx = event_get_str(ev, "text");
		if (sp && tx && strcmp(sp, "user") == 0 && strstr(tx, "hours"))
			atomic_fetch_add(&b->user_hours, 1);
	}
	event_free(ev);
}

static int request_ok(struct bench *b, const char *subject, const char *body, int timeout_ms)
{
	char *reply = NULL;
	int err = bus_request(b->bus, &reply, NULL, subject, body, strlen(body), timeout_ms);
	if (!err && strstr(reply, "\"code\":\"unavailable\"")) {
		err = EBUSY; /* agent-worker at capacity */
	} else if (!err && !strstr(reply, "\"ok\":true")) {
		fprintf(stderr, "bench_agent: %s refused: %s\n", subject, reply);
		err = EIO;
	}
	free(reply);
	return err;
}

/* A room, the caller in it, the agent dispatched (waiting for the answer). */
static int call_open(struct bench *b, struct caller *c, const char *greeting)
{
	char body[2048];
	int err = 0, n;
	struct room *r = NULL;
	memset(c->call_id, 0, sizeof(c->call_id));
	c->r = NULL;
	atomic_store(&c->frames, 0);
	atomic_store(&c->concealed, 0);
	caller_arm(c);
	atomic_store(&c->pkts, 0);
	if ((err = id_uuid4(c->call_id)))
		return err;
	snprintf(c->room, sizeof(c->room), "call-%s", c->call_id);
	snprintf(body, sizeof(body), "{\"v\":1,\"call_id\":\"%s\",\"room\":\"%s\",\"metadata\":{}}",
		 c->call_id, c->room);
	if ((err = request_ok(b, "rooms.create", body, 5000)))
		return err;
	char identity[ROOM_IDENTITY_MAX];
	snprintf(identity, sizeof(identity), "sip-%s", c->call_id);
	if ((err = room_local.join(&r, &b->rctx, c->room, identity, &frame_handlers, c)))
		return err;
	pthread_mutex_lock(&b->mu);
	c->r = r;
	pthread_mutex_unlock(&b->mu);
	n = snprintf(body, sizeof(body),
		     "{\"v\":1,\"call_id\":\"%s\",\"room\":\"%s\",\"kind\":\"outbound\","
		     "\"provider\":\"exotel\","
		     "\"wait_for_answer\":true,\"assistant\":{\"start_instruction\":\"%s\","
		     "\"interaction_config\":{\"silence_timeout_s\":60,\"fillers_enabled\":false},"
		     "\"llm_config\":{\"script\":[{\"match\":\"hours\",\"reply\":\"" REPLY "\"}]}},"
		     "\"metadata\":{}}",
		     c->call_id, c->room, greeting);
	if (n < 0 || (size_t)n >= sizeof(body))
		return EMSGSIZE;
	int64_t t = time_mono_us();
	/* the first dispatch may come before agent-worker subscribed; at
	 * capacity, ended sessions are still being torn down */
	for (int i = 0; i < 100; i++) {
		err = request_ok(b, "agents.dispatch", body, 10000);
		if (err != ENOENT && err != EBUSY)
			break;
		if (err == EBUSY)
			b->busy_retries++;
		test_nap_us(50000);
	}
	c->dispatch_ms = (double)(time_mono_us() - t) / 1000.0;
	return err;
}

static int publish(struct bench *b, const struct caller *c, enum event_type type)
{
	struct event *ev = NULL;
	int err = event_new(&ev, type, c->call_id, c->room, "sip-bridge/bench");
	if (!err && type == EV_CALL_ENDED)
		err = event_set_str(ev, "reason", "hangup") || event_set_str(ev, "by", "remote") ||
		      event_set_int(ev, "duration_ms", 1000) ? EINVAL : 0;
	if (!err && type == EV_CALL_HOLD)
		err = event_set_str(ev, "direction", "sendonly") ? EINVAL : 0;
	if (!err)
		err = bus_publish_event(b->bus, ev);
	event_free(ev);
	return err;
}

static int call_answer(struct bench *b, struct caller *c)
{
	caller_arm(c);
	c->answered_us = time_mono_us();
	return publish(b, c, EV_CALL_ANSWERED);
}

/* The far end hangs up: the agent leaves, the caller leaves, the room goes. */
static void call_close(struct bench *b, struct caller *c, bool hangup)
{
	char body[160];
	if (!c->call_id[0])
		return;
	if (hangup && publish(b, c, EV_CALL_ENDED))
		fprintf(stderr, "bench_agent: cannot publish call_ended\n");
	pthread_mutex_lock(&b->mu);
	struct room *r = c->r;
	c->r = NULL;
	pthread_mutex_unlock(&b->mu);
	room_local.leave(r);
	snprintf(body, sizeof(body), "{\"v\":1,\"room\":\"%s\"}", c->room);
	if (request_ok(b, "rooms.delete", body, 5000))
		fprintf(stderr, "bench_agent: rooms.delete %s failed\n", c->room);
	c->call_id[0] = '\0';
}

static bool wait_set(atomic_llong *v, int timeout_ms)
{
	int64_t end = time_mono_us() + (int64_t)timeout_ms * 1000;
	while (!atomic_load(v)) {
		if (time_mono_us() > end)
			return false;
		test_nap_us(500);
	}
	return true;
}

/* ---- the caller's speech ----------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* espeak-ng (the same engine and voice as the agent's local TTS) → WAV →
 * 48 kHz frames for the room. */
static int speech_load(struct bench *b, const char *text)
{
	char path[400];
	uint8_t *wav = NULL;
	int16_t *in = NULL, *out = NULL;
	struct resampler *rs = NULL;
	size_t len = 0, nin = 0;
	uint32_t rate = 0;
	int err = 0;
	snprintf(path, sizeof(path), "%s/caller.wav", b->dir);
	const char *argv[] = { "espeak-ng", "-v", "en-us", "-s", "175", "-w", path, text, NULL };
	if (test_run_cmd(NULL, argv, NULL, 60000) != 0)
		return ENOENT;
	FILE *f = fopen(path, "rb");
	if (!f)
		return errno;
	wav = malloc(SPEECH_MAX_BYTES);
	if (wav)
		len = fread(wav, 1, SPEECH_MAX_BYTES, f);
	fclose(f);
	if (!wav) {
		err = ENOMEM;
		goto out;
	}
	if (len < 12 || memcmp(wav, "RIFF", 4) || memcmp(wav + 8, "WAVE", 4)) {
		err = EINVAL;
		goto out;
	}
	for (size_t off = 12; off + 8 <= len;) {
		uint32_t sz = le32(wav + off + 4);
		const uint8_t *body = wav + off + 8;
		if (sz > len - off - 8)
			sz = (uint32_t)(len - off -
					8); /* espeak-ng -w to a file patches sizes; be lenient */
		if (!memcmp(wav + off, "fmt ", 4) && sz >= 16) {
			if (le16(body) != 1 || le16(body + 2) != 1 || le16(body + 14) != 16) {
				err = EINVAL;
				goto out;
			}
			rate = le32(body + 4);
		} else if (!memcmp(wav + off, "data", 4)) {
			nin = sz / 2;
			in = malloc((nin + 1) * sizeof(int16_t));
			if (!in) {
				err = ENOMEM;
				goto out;
			}
			for (size_t i = 0; i < nin; i++)
				in[i] = (int16_t)le16(body + 2 * i);
			break;
		}
		off += 8 + (size_t)sz + (sz & 1);
	}
	if (!rate || !in || nin == 0) {
		err = EINVAL;
		goto out;
	}
	size_t cap = nin * ROOM_RATE / rate + 4 * ROOM_FRAME_SAMPLES, nout = cap;
	out = calloc(cap, sizeof(int16_t));
	if (!out) {
		err = ENOMEM;
		goto out;
	}
	if ((err = resampler_new(&rs, rate, ROOM_RATE, RESAMPLER_QUALITY_VOIP)) ||
	    (err = resampler_process(rs, out, &nout, in, nin)))
		goto out;
	b->speech_frames = (nout + ROOM_FRAME_SAMPLES - 1) / ROOM_FRAME_SAMPLES;
	b->speech_last_voiced = 0;
	for (size_t i = 0; i < b->speech_frames; i++)
		if (rms(out + i * ROOM_FRAME_SAMPLES, ROOM_FRAME_SAMPLES) > VOICED_RMS)
			b->speech_last_voiced = i;
	b->speech = out; /* calloc'd to whole frames: the tail is silence */
	out = NULL;
out:
	free(wav);
	free(in);
	free(out);
	resampler_free(rs);
	return err;
}

/* ---- phases ------------------------------------------------------------------ */

struct figures {
	double v[CALLS_MAX > HOLD_CALLS ? CALLS_MAX : HOLD_CALLS];
	size_t n;
};

static void fig_add(struct figures *f, double v)
{
	if (f->n < CM_ARRAY_LEN(f->v))
		f->v[f->n++] = v;
}

static void fig_print(const char *what, struct figures *f, double target)
{
	double v[CM_ARRAY_LEN(f->v)];
	memcpy(v, f->v, f->n * sizeof(double));
	double p50 = pct(v, f->n, 50), p99 = pct(v, f->n, 99);
	if (target > 0)
		printf("  %-52s n=%2zu p50 %7.1f ms  p99 %7.1f ms   target p50 <= %.0f ms: %s\n",
		       what, f->n, p50, p99, target, verdict(p50, target));
	else
		printf("  %-52s n=%2zu p50 %7.1f ms  p99 %7.1f ms\n", what, f->n, p50, p99);
}

/* Sends 20 ms frames of the caller's speech, paced at 20 ms, then silence
 * until the reply's first frame (or timeout_ms); returns end-of-speech
 * (the send of the last voiced frame) in *eos_usp. */
static int speak_and_wait(struct bench *b, struct caller *c, int64_t *eos_usp, int timeout_ms)
{
	static const int16_t silence[ROOM_FRAME_SAMPLES];
	int64_t t = time_mono_us(), end = 0;
	int err = 0;
	*eos_usp = 0;
	for (size_t i = 0;; i++) {
		sleep_until_us(t + (int64_t)i * ROOM_FRAME_MS * 1000);
		const int16_t *pcm = i < b->speech_frames ? b->speech + i * ROOM_FRAME_SAMPLES
							  : silence;
		if ((err = room_local.send_frame(c->r, pcm)))
			return err;
		if (i == b->speech_last_voiced) {
			*eos_usp = time_mono_us();
			caller_arm(c); /* what comes from now on is the reply */
			end = *eos_usp + (int64_t)timeout_ms * 1000;
		}
		if (*eos_usp && (atomic_load(&c->first_us) || time_mono_us() > end))
			return 0;
	}
}

struct agent_log_mark {
	char call_id[ID_UUID_LEN + 1];
	int64_t published_wall_ms;
};

/* Wall-clock ms of "ts=YYYY-MM-DDTHH:MM:SS.mmmZ". */
static int64_t parse_ts(const char *s)
{
	struct tm tm = { 0 };
	int ms = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

/* The agent's own hold figure: its session_state "-> on_hold" log line
 * (written after the session thread stopped the speech) minus the wall time
 * the hold was published. ms resolution. */
static void agent_hold_figures(struct bench *b, const struct agent_log_mark *m, size_t n,
			       struct figures *f)
{
	char path[400], line[4096];
	snprintf(path, sizeof(path), "%s/agent-worker.log", b->dir);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp)) {
		const char *ts = strstr(line, "ts=");
		if (!ts || !strstr(line, "event=session_state") || !strstr(line, "-> on_hold"))
			continue;
		for (size_t i = 0; i < n; i++)
			if (strstr(line, m[i].call_id)) {
				int64_t at = parse_ts(ts + 3);
				if (at >= 0)
					fig_add(f, (double)(at - m[i].published_wall_ms));
			}
	}
	fclose(fp);
}

static int phase_answer_and_eos(struct bench *b)
{
	struct figures first = { 0 }, first_pkt = { 0 }, first_loud = { 0 }, eos = { 0 },
		       eos_pkt = { 0 }, disp = { 0 };
	int err = 0, eos_tries = 0;
	atomic_store(&b->user_hours, 0);
	printf("answer -> first agent audio (%d calls, greeting \"%.30s...\"), caller "
	       "end-of-speech -> reply "
	       "(first %d of them)\n",
	       ANSWER_CALLS, GREET_SHORT, EOS_CALLS);
	for (int i = 0; i < ANSWER_CALLS && !err && !over_budget(b); i++) {
		struct caller *c = &b->calls[0];
		if ((err = call_open(b, c, GREET_SHORT)))
			break;
		fig_add(&disp, c->dispatch_ms);
		test_nap_us(150000); /* the agent is in the room, waiting for the answer */
		if (atomic_load(&c->frames) != 0)
			printf("  ! agent audio before the answer (%ld frames)\n",
			       atomic_load(&c->frames));
		if ((err = call_answer(b, c)))
			break;
		if (wait_set(&c->first_us, 5000)) {
			fig_add(&first,
				(double)(atomic_load(&c->first_us) - c->answered_us) / 1000.0);
			if (atomic_load(&c->first_pkt_us))
				fig_add(&first_pkt,
					(double)(atomic_load(&c->first_pkt_us) - c->answered_us) /
						1000.0);
			if (wait_set(&c->first_loud_us, 2000))
				fig_add(&first_loud,
					(double)(atomic_load(&c->first_loud_us) - c->answered_us) /
						1000.0);
		} else {
			printf("  ! call %d: no agent audio within 5 s of the answer\n", i);
		}
		if (i < EOS_CALLS && atomic_load(&c->first_us)) {
			/* the greeting ends: 400 ms without a frame */
			int64_t end = time_mono_us() + 10000000;
			while (time_mono_us() < end &&
			       time_mono_us() - atomic_load(&c->last_us) < 400000)
				test_nap_us(5000);
			int64_t eos_us = 0;
			eos_tries++;
			if ((err = speak_and_wait(b, c, &eos_us, 4000)))
				break;
			if (atomic_load(&c->first_us)) {
				fig_add(&eos,
					(double)(atomic_load(&c->first_us) - eos_us) / 1000.0);
				if (atomic_load(&c->first_pkt_us))
					fig_add(&eos_pkt,
						(double)(atomic_load(&c->first_pkt_us) - eos_us) /
							1000.0);
			} else {
				printf("  ! call %d: no reply within 4 s of end-of-speech\n", i);
			}
		}
		call_close(b, c, true);
	}
	if (err)
		fprintf(stderr, "bench_agent: answer phase: %s\n", cm_strerror(err));
	fig_print("agents.dispatch request -> reply (agent joined)", &disp, 0);
	fig_print("answer -> first agent frame decoded by the caller", &first, 300);
	fig_print("answer -> first agent RTP packet at the caller", &first_pkt, 0);
	fig_print("answer -> first loud frame (rms > 500)", &first_loud, 0);
	fig_print("end-of-speech -> first reply frame decoded", &eos, 800);
	fig_print("end-of-speech -> first reply RTP packet", &eos_pkt, 0);
	printf("  (speech %zu frames, last voiced frame %zu; the agent ends a turn after "
	       "end_of_speech_ms "
	       "= 600 ms of silence, default; recognised \"hours\" in %d of %d)\n",
	       b->speech_frames, b->speech_last_voiced + 1, atomic_load(&b->user_hours), eos_tries);
	return err;
}

static int phase_hold(struct bench *b)
{
	struct figures last = { 0 }, last_pkt = { 0 }, seen = { 0 }, own = { 0 }, after = { 0 },
		       pafter = { 0 };
	struct agent_log_mark marks[HOLD_CALLS];
	size_t nmarks = 0;
	int err = 0;
	printf("call_hold -> last agent audio (%d calls, hold ~1 s into a long greeting)\n",
	       HOLD_CALLS);
	for (int i = 0; i < HOLD_CALLS && !err && !over_budget(b); i++) {
		struct caller *c = &b->calls[0];
		if ((err = call_open(b, c, GREET_LONG)))
			break;
		test_nap_us(150000);
		if ((err = call_answer(b, c)))
			break;
		int64_t end = time_mono_us() + 6000000;
		while (atomic_load(&c->frames) < 50 && time_mono_us() < end)
			test_nap_us(1000);
		if (atomic_load(&c->frames) < 50) {
			printf("  ! call %d: the greeting did not start\n", i);
			call_close(b, c, true);
			continue;
		}
		test_nap_us((long)(rand() % 20000)); /* anywhere within a frame */
		atomic_store(&b->hold_seen_us, 0);
		long frames_at_hold = atomic_load(&c->frames);
		unsigned long long pkts_at_hold = atomic_load(&c->pkts);
		int64_t t_hold = time_mono_us();
		snprintf(marks[nmarks].call_id, sizeof(marks[nmarks].call_id), "%s", c->call_id);
		marks[nmarks].published_wall_ms = time_now_ms();
		nmarks++;
		if ((err = publish(b, c, EV_CALL_HOLD)))
			break;
		test_nap_us(700000);
		fig_add(&last, (double)(atomic_load(&c->last_us) - t_hold) / 1000.0);
		fig_add(&last_pkt, (double)(atomic_load(&c->last_pkt_us) - t_hold) / 1000.0);
		if (atomic_load(&b->hold_seen_us))
			fig_add(&seen, (double)(atomic_load(&b->hold_seen_us) - t_hold) / 1000.0);
		fig_add(&after, (double)(atomic_load(&c->frames) - frames_at_hold));
		fig_add(&pafter, (double)(atomic_load(&c->pkts) - pkts_at_hold));
		call_close(b, c, true);
	}
	if (err)
		fprintf(stderr, "bench_agent: hold phase: %s\n", cm_strerror(err));
	agent_hold_figures(b, marks, nmarks, &own);
	printf("  (times from the start of the hold's publish; negative: the last one came before "
	       "it)\n");
	fig_print("call_hold -> last agent RTP packet at the caller", &last_pkt, 20);
	fig_print("call_hold -> last agent frame decoded (+ jitter buffer)", &last, 20);
	fig_print("call_hold publish -> delivered to a subscriber (NATS)", &seen, 0);
	fig_print("agent's own: call_hold -> its on_hold state (log, ms)", &own, 0);
	{
		double v[CM_ARRAY_LEN(after.v)], pv[CM_ARRAY_LEN(pafter.v)];
		memcpy(v, after.v, after.n * sizeof(double));
		memcpy(pv, pafter.v, pafter.n * sizeof(double));
		printf("  after the hold was published: agent RTP packets p50 %.0f max %.0f; "
		       "frames decoded "
		       "p50 %.0f max %.0f (the caller's jitter buffer holds some)\n",
		       pct(pv, pafter.n, 50), pct(pv, pafter.n, 100), pct(v, after.n, 50),
		       pct(v, after.n, 100));
	}
	return err;
}

static int ramp_level(struct bench *b, int n)
{
	struct figures first = { 0 }, disp = { 0 };
	int err = 0, opened = 0, missing = 0;
	for (int i = 0; i < n && !err; i++) {
		err = call_open(b, &b->calls[i], GREET_LONG);
		opened = i + 1;
		fig_add(&disp, b->calls[i].dispatch_ms);
	}
	if (err) {
		fprintf(stderr, "bench_agent: ramp %d: setting up call %d: %s\n", n, opened,
			cm_strerror(err));
		goto out;
	}
	test_nap_us(200000);
	/* answers spread over 1 s: each one lands while the others already speak */
	int64_t t = time_mono_us(), spread = n > 1 ? 1000000 / n : 0;
	for (int i = 0; i < n && !err; i++) {
		sleep_until_us(t + i * spread);
		err = call_answer(b, &b->calls[i]);
	}
	if (err)
		goto out;
	for (int i = 0; i < n; i++) {
		struct caller *c = &b->calls[i];
		if (wait_set(&c->first_us, 5000))
			fig_add(&first,
				(double)(atomic_load(&c->first_us) - c->answered_us) / 1000.0);
		else
			missing++;
	}
	/* everyone speaking: 1 s of steady state */
	long f0 = 0, c0 = 0, f1 = 0, c1 = 0;
	for (int i = 0; i < n; i++) {
		f0 += atomic_load(&b->calls[i].frames);
		c0 += atomic_load(&b->calls[i].concealed);
	}
	double cpu0 = (double)test_cpu_us(b->agent_pid) / 1e6;
	int64_t s0 = time_mono_us();
	test_nap_us(1000000);
	double cpu = (double)test_cpu_us(b->agent_pid) / 1e6 - cpu0,
	       secs = (double)(time_mono_us() - s0) / 1e6;
	for (int i = 0; i < n; i++) {
		f1 += atomic_load(&b->calls[i].frames);
		c1 += atomic_load(&b->calls[i].concealed);
	}
	double v[CM_ARRAY_LEN(first.v)], dv[CM_ARRAY_LEN(disp.v)];
	memcpy(v, first.v, first.n * sizeof(double));
	memcpy(dv, disp.v, disp.n * sizeof(double));
	long frames = f1 - f0, conc = c1 - c0;
	double p50 = pct(v, first.n, 50);
	printf("  %2d sessions: answer -> first frame p50 %6.1f ms p99 %6.1f ms (%s)%s; steady 1 "
	       "s: %ld frames "
	       "(%.0f%% of %d expected), %.2f%% concealed; agent CPU %.0f%% of a core; dispatch "
	       "p50 %.0f ms "
	       "p99 %.0f ms\n",
	       n, p50, pct(v, first.n, 99), verdict(p50, 300), missing ? " SOME SILENT" : "",
	       frames, 100.0 * (double)frames / (secs * 50.0 * n), (int)(secs * 50.0 * n),
	       frames + conc ? 100.0 * (double)conc / (double)(frames + conc) : 0.0,
	       100.0 * cpu / secs, pct(dv, disp.n, 50), pct(dv, disp.n, 99));
out:
	for (int i = 0; i < opened; i++)
		call_close(b, &b->calls[i], true);
	/* the next level starts on an idle agent */
	double idle_ms = wait_agent_idle(b, 8000);
	if (idle_ms < 0)
		printf("      after hanging up %d: agent-worker still has sessions 8 s later\n",
		       opened);
	else
		printf("      after hanging up %d: agent-worker idle (sessions gauge 0) within "
		       "%.0f ms\n",
		       opened, idle_ms);
	return err;
}

static int phase_ramp(struct bench *b)
{
	int err = 0;
	printf("sessions per agent-worker (MAX_SESSIONS=%s, %ld CPUs; all speaking a long "
	       "greeting, answers "
	       "spread over 1 s)\n",
	       AGENT_SESSIONS, sysconf(_SC_NPROCESSORS_ONLN));
	for (size_t i = 0; i < CM_ARRAY_LEN(ramp_levels) && !err; i++) {
		if (over_budget(b) || time_mono_us() - b->t0_us > BENCH_BUDGET_US - 10000000LL) {
			printf("  %2d sessions: skipped (time budget)\n", ramp_levels[i]);
			continue;
		}
		err = ramp_level(b, ramp_levels[i]);
	}
	if (b->busy_retries)
		printf("  dispatches refused at capacity and retried: %ld\n", b->busy_retries);
	return err;
}

/* ---- setup ------------------------------------------------------------------- */

static int start_all(struct bench *b)
{
	char log[400], bin[300], abin[300];
	char e_nats[96], e_health[64], e_dir[400], e_min[32], e_max[32], e_ahealth[64];
	int err = 0;
	int hp = test_free_port(), ap = test_free_port();
	/* relay ports below the ephemeral range, varied so parallel runs rarely meet */
	int base = 20000 + (int)((time_mono_us() / 1000 + getpid()) % 30) * 400;
	if (hp < 0 || ap < 0)
		return EADDRNOTAVAIL;
	if ((err = test_nats_start(&b->nats)))
		return err;

	snprintf(e_nats, sizeof(e_nats), "NATS_URL=%s", b->nats.url);
	snprintf(e_health, sizeof(e_health), "HEALTH_ADDR=127.0.0.1:%d", hp);
	snprintf(e_dir, sizeof(e_dir), "RECORDINGS_DIR=%s/rec", b->dir);
	snprintf(e_min, sizeof(e_min), "RTP_PORT_MIN=%d", base);
	snprintf(e_max, sizeof(e_max), "RTP_PORT_MAX=%d", base + 399);
	snprintf(bin, sizeof(bin), "%s/bin/room-manager", b->build);
	snprintf(log, sizeof(log), "%s/room-manager.log", b->dir);
	const char *rargv[] = { bin, NULL };
	const char *renv[] = {
		e_nats,		 e_health,	   e_dir, e_min, e_max, "ROOM_BACKEND=local",
		"LOG_FORMAT=kv", "LOG_LEVEL=warn", NULL
	};
	if ((err = test_spawn(&b->rm_pid, rargv, renv, log)))
		return err;

	snprintf(e_ahealth, sizeof(e_ahealth), "HEALTH_ADDR=127.0.0.1:%d", ap);
	snprintf(abin, sizeof(abin), "%s/bin/agent-worker", b->build);
	snprintf(log, sizeof(log), "%s/agent-worker.log", b->dir);
	const char *aargv[] = { abin, NULL };
	const char *aenv[] = { e_nats,
			       e_ahealth,
			       "ROOM_BACKEND=local",
			       "MAX_SESSIONS=" AGENT_SESSIONS,
			       "ANSWER_TIMEOUT_S=30",
			       "OPENAI_BASE_URL=http://127.0.0.1:9",
			       "LOG_FORMAT=kv",
			       "LOG_LEVEL=info",
			       "OUTBOUND_ALLOW_PRIVATE=true",
			       NULL };
	if ((err = test_spawn(&b->agent_pid, aargv, aenv, log)))
		return err;

	if ((err = bus_connect(&b->bus, b->nats.url, "bench-agent")))
		return err;
	/* the command probe and the agent's liveness below decide */
	(void)test_wait_port(hp, 10000);
	(void)test_wait_port(ap, 10000);
	/* room-manager is ready once it answers a command */
	for (int i = 0; i < 100; i++) {
		if (!(err = request_ok(b, "rooms.delete", "{\"v\":1,\"room\":\"bench-probe\"}",
				       2000)))
			break;
		test_nap_us(50000);
	}
	if (err)
		return err;
	if (!alive(b->agent_pid))
		return ECHILD;
	b->agent_health_port = ap;
	b->rctx = (struct room_local_ctx){ .bus = b->bus, .timeout_ms = 5000 };
	if ((err = bus_subscribe(b->bus, &b->ev_sub, "calls.>", NULL, on_event, b)))
		return err;
	if ((err = pthread_create(&b->poller, NULL, poller_main, b)))
		return err;
	b->poller_started = true;
	return 0;
}

int main(void)
{
	static struct bench b;
	int err = 0;
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";

	signal(SIGPIPE, SIG_IGN);
	log_setup("bench_agent", LOG_WARN, false);
	b.t0_us = time_mono_us();
	pthread_mutex_init(&b.mu, NULL);
	srand((unsigned)time_mono_us());
	snprintf(b.build, sizeof(b.build), "%s", build);
	b.dir = test_tmpdir("bench-agent");
	if (!b.dir) {
		fprintf(stderr, "bench_agent: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	printf("bench_agent: nats-server + room-manager (local) + agent-worker (%s/bin), local "
	       "providers\n",
	       build);
	if ((err = speech_load(&b, "what are your hours"))) {
		fprintf(stderr, "bench_agent: espeak-ng: %s\n", cm_strerror(err));
		goto out;
	}
	if ((err = start_all(&b))) {
		fprintf(stderr,
			"bench_agent: cannot start (nats-server, room-manager, agent-worker): %s "
			"(logs in %s)\n",
			cm_strerror(err), b.dir);
		goto out;
	}
	printf("  started in %.1f s\n", (double)(time_mono_us() - b.t0_us) / 1e6);
	err = phase_answer_and_eos(&b);
	printf("  (%.1f s)\n", (double)(time_mono_us() - b.t0_us) / 1e6);
	if (!err)
		err = phase_hold(&b);
	printf("  (%.1f s)\n", (double)(time_mono_us() - b.t0_us) / 1e6);
	if (!err && wait_agent_idle(&b, 5000) < 0)
		printf("  ! agent-worker still has sessions before the ramp\n");
	if (!err)
		err = phase_ramp(&b);
	if (!alive(b.agent_pid)) {
		fprintf(stderr, "bench_agent: agent-worker exited (log %s/agent-worker.log)\n",
			b.dir);
		err = ECHILD;
	}
	printf("  total %.1f s\n", (double)(time_mono_us() - b.t0_us) / 1e6);
out:
	atomic_store(&b.stop, true);
	if (b.poller_started)
		pthread_join(b.poller, NULL);
	for (size_t i = 0; i < CALLS_MAX; i++)
		call_close(&b, &b.calls[i], false);
	b.ev_sub = bus_unsubscribe(b.ev_sub);
	b.bus = bus_close(b.bus);
	test_stop(&b.agent_pid, SIGTERM, 5000);
	test_stop(&b.rm_pid, SIGTERM, 5000);
	test_nats_destroy(&b.nats);
	free(b.speech);
	if (err) {
		fprintf(stderr, "bench_agent: logs kept in %s\n", b.dir);
	} else {
		test_rmtree(b.dir);
	}
	free(b.dir);
	pthread_mutex_destroy(&b.mu);
	return err ? 1 : 0;
}
