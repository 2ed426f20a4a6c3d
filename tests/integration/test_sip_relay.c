/* The sip-bridge media relay end to end: nats-server, the real room-manager
 * (ROOM_BACKEND=local), the real sip-bridge, sipp as the carrier's signalling
 * (tests/sip/uas_relay.xml) and a far end of our own that sends and receives
 * real PCMU RTP at the address sipp advertises. A test participant joins the
 * call's room through libs/room as agent-<call_id>. Audio is compared by its
 * energy envelope (loud frames and bursts), never bits. */
#include "harness/sip_bridge_fx.h"

#include "command/command.h"
#include "media/media.h"
#include "room/room.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>

#define MEDIA_TIMEOUT_S 2
#define PATTERN_FRAMES 100
#define RX_MAX 4000
#define LOUD_RMS 1000.0

/* ---- room-manager on the fixture's NATS ----------------------------------- */

struct rm {
	int pid;
	char e_nats[96], e_health[64], e_dir[600], e_min[32], e_max[32];
};

static int rm_start(struct fx *f, struct rm *m)
{
	char bin[256], log[600], ready[96];
	int health = test_free_port();
	int port_min = 40000 + (int)(getpid() % 200) * 20;
	memset(m, 0, sizeof(*m));
	snprintf(m->e_nats, sizeof(m->e_nats), "NATS_URL=%s", f->nats.url);
	snprintf(m->e_health, sizeof(m->e_health), "HEALTH_ADDR=127.0.0.1:%d", health);
	snprintf(m->e_dir, sizeof(m->e_dir), "RECORDINGS_DIR=%s/rec", f->dir);
	snprintf(m->e_min, sizeof(m->e_min), "RTP_PORT_MIN=%d", port_min);
	snprintf(m->e_max, sizeof(m->e_max), "RTP_PORT_MAX=%d", port_min + 19);
	snprintf(log, sizeof(log), "%s/room-manager.log", f->dir);
	const char *argv[] = { test_bin(bin, sizeof(bin), "room-manager"), NULL };
	const char *envp[] = { m->e_nats, m->e_health, m->e_dir, m->e_min, m->e_max,
			       "ROOM_BACKEND=local", "LOG_FORMAT=kv", "LOG_LEVEL=debug", NULL };
	int err = test_spawn(&m->pid, argv, envp, log);
	if (err)
		return err;
	snprintf(ready, sizeof(ready), "http://127.0.0.1:%d/readyz", health);
	err = test_http_wait(ready, 200, 20000);
	/* /readyz can answer before the command subscriptions exist */
	int64_t end = time_mono_ms() + 10000;
	while (!err) {
		char *reply = NULL;
		static const char probe[] = "{\"v\":1,\"room\":\"probe\",\"identity\":\"probe\"}";
		if (bus_request(f->bus, &reply, NULL, "rooms.leave", probe, strlen(probe), 1000) ==
		    0) {
			free(reply);
			break;
		}
		if (time_mono_ms() >= end)
			err = ETIMEDOUT;
		else
			lifecycle_wait(20);
	}
	return err;
}

static void rm_stop(struct rm *m)
{
	if (m->pid <= 0)
		return;
	int code = -1;
	kill(m->pid, SIGTERM);
	if (test_wait_exit(m->pid, 10000, &code) || code != 0) {
		printf("    room-manager exit %d on SIGTERM\n", code);
		test_kill(m->pid);
	}
	m->pid = 0;
}

static int create_room(struct fx *f, const char *call_id, const char *room)
{
	char json[256];
	struct cmd_error ce = { 0 };
	cJSON *data = NULL;
	snprintf(json, sizeof(json), "{\"v\":1,\"call_id\":\"%s\",\"room\":\"%s\"}", call_id, room);
	cJSON *req = cJSON_Parse(json);
	int err = req ? cmd_request(f->bus, &data, "rooms.create", req, 5000, &ce) : ENOMEM;
	cJSON_Delete(req);
	cJSON_Delete(data);
	return err;
}

/* ---- the far end's speech: espeak-ng → WAV → 8 kHz --------------------- */

#define SPEECH_TEXT "Hello, this is the caller. I would like to know your opening hours, please."
#define SPEECH_MAX (8000 * 10)

struct speech {
	int16_t pcm[SPEECH_MAX];     /* 8 kHz */
	size_t frames;               /* of G711_FRAME_SAMPLES */
	double rms[SPEECH_MAX / G711_FRAME_SAMPLES];
};

/* ---- envelopes ------------------------------------------------------------ */

/* Loud frames and bursts (runs of loud frames) in an envelope. */
static void envelope(const double *rms, size_t n, int *loudp, int *burstsp)
{
	int loud = 0, bursts = 0;
	bool in = false;
	for (size_t i = 0; i < n; i++) {
		bool l = rms[i] > LOUD_RMS;
		loud += l;
		bursts += l && !in;
		in = l;
	}
	*loudp = loud;
	*burstsp = bursts;
}

/* Best normalised correlation of a received envelope with the sent one
 * over lags 0..24 frames (jitter buffers, resamplers and Opus delay it). */
static double envelope_match(const double *sent, size_t n, const double *got, size_t ngot)
{
	double best = -1;
	for (size_t lag = 0; lag < 25; lag++) {
		double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
		size_t m = 0;
		for (size_t k = 0; k < n && k + lag < ngot; k++) {
			double x = sent[k], y = got[k + lag];
			sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
			m++;
		}
		if (m < n * 9 / 10)
			continue;
		double cov = sxy - sx * sy / (double)m;
		double vx = sxx - sx * sx / (double)m, vy = syy - sy * sy / (double)m;
		if (vx > 0 && vy > 0 && cov / sqrt(vx * vy) > best)
			best = cov / sqrt(vx * vy);
	}
	return best;
}

static void tick(struct timespec *t)
{
	fx_frame_next(t);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL) == EINTR)
		;
}

/* ---- the test participant in the room -------------------------------------- */

struct member {
	pthread_mutex_t mu;
	double rms[RX_MAX];
	size_t n;
};

static void on_member_frame(const struct room_frame *f, void *arg)
{
	struct member *m = arg;
	pthread_mutex_lock(&m->mu);
	if (!f->concealed && m->n < RX_MAX)
		m->rms[m->n++] = fx_rms(f->pcm, ROOM_FRAME_SAMPLES);
	pthread_mutex_unlock(&m->mu);
}

static const struct room_handlers member_handlers = { .frame = on_member_frame };

static size_t member_count(struct member *m)
{
	pthread_mutex_lock(&m->mu);
	size_t n = m->n;
	pthread_mutex_unlock(&m->mu);
	return n;
}

/* Participant → room: 4 bursts of 15 loud frames (period 30). */
static bool member_loud(size_t k)
{
	return (k / 15) % 2 == 0;
}

static int member_speak(struct room *r)
{
	int16_t pcm[ROOM_FRAME_SAMPLES];
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	for (size_t k = 0; k < PATTERN_FRAMES; k++) {
		for (size_t i = 0; i < ROOM_FRAME_SAMPLES; i++) {
			double s = (double)(k * ROOM_FRAME_SAMPLES + i) / ROOM_RATE;
			pcm[i] = member_loud(k) ? (int16_t)(8000.0 * sin(2 * M_PI * 300.0 * s)) : 0;
		}
		int err = room_local.send_frame(r, pcm);
		if (err)
			return err;
		tick(&t);
	}
	return 0;
}

/* ---- the far end's RTP ------------------------------------------------------ */

enum far_mode { FAR_WAIT, FAR_SILENCE, FAR_PATTERN, FAR_MUTE };

struct far {
	int fd, port;
	pthread_t thread;
	atomic_bool stop;
	atomic_int mode;
	const char *digits;          /* sent after the speech */
	const struct speech *speech;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sockaddr_in bridge;   /* learned from the bridge's first packet */
	bool have_bridge;
	bool pattern_done;
	uint64_t rx;                 /* packets from the bridge */
	double rms[RX_MAX];
	int64_t at_ms[RX_MAX];       /* arrival, monotonic */
	size_t n;
	uint16_t seq;
	uint32_t ts;
};

static void far_send(struct far *fe, uint8_t pt, bool marker, const uint8_t *payload, size_t len,
		     uint32_t ts)
{
	struct rtp_hdr h = {
		.marker = marker, .pt = pt, .seq = fe->seq++, .ts = ts, .ssrc = 0x5eed1234
	};
	fx_rtp_send(fe->fd, &fe->bridge, &h, payload, len);
}

/* One 20 ms packet: frame k of the speech, or silence (pcm NULL). */
static void far_audio(struct far *fe, const int16_t *speech)
{
	int16_t pcm[G711_FRAME_SAMPLES] = { 0 };
	uint8_t pl[G711_FRAME_SAMPLES];
	if (speech)
		memcpy(pcm, speech, sizeof(pcm));
	g711_encode(G711_ULAW, pl, pcm, G711_FRAME_SAMPLES);
	far_send(fe, 0, false, pl, sizeof(pl), fe->ts);
	fe->ts += G711_FRAME_SAMPLES;
}

static void far_receive(struct far *fe)
{
	uint8_t buf[RTP_PACKET_MAX];
	struct sockaddr_in from;
	for (int i = 0; i < 64; i++) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fe->fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		if (n < 0)
			break;
		struct rtp_packet p;
		if (rtp_parse(&p, buf, (size_t)n) || p.hdr.pt != 0)
			continue;
		double e = fx_g711_rms(&p);
		pthread_mutex_lock(&fe->mu);
		if (!fe->have_bridge) {
			fe->bridge = from;
			fe->have_bridge = true;
			if (atomic_load(&fe->mode) == FAR_WAIT)
				atomic_store(&fe->mode, FAR_SILENCE);
		}
		fe->rx++;
		if (fe->n < RX_MAX) {
			fe->at_ms[fe->n] = time_mono_ms();
			fe->rms[fe->n++] = e;
		}
		pthread_cond_broadcast(&fe->cv);
		pthread_mutex_unlock(&fe->mu);
	}
}

static void *far_main(void *arg)
{
	struct far *fe = arg;
	struct timespec t;
	size_t k = 0, digit = 0, dpkt = 0, ndpkt = 0;
	struct dtmf_tx_packet dp[64];
	uint32_t dts = 0;
	clock_gettime(CLOCK_MONOTONIC, &t);
	while (!atomic_load(&fe->stop)) {
		/* receive as packets arrive (counts are exact when an event is
		 * seen), send on the 20 ms clock */
		bool due = fx_frame_due(fe->fd, &t);
		far_receive(fe);
		if (!due)
			continue;
		int mode = atomic_load(&fe->mode);
		if (mode == FAR_SILENCE) {
			far_audio(fe, NULL);
		} else if (mode == FAR_PATTERN && k < fe->speech->frames) {
			far_audio(fe, fe->speech->pcm + k * G711_FRAME_SAMPLES);
			k++;
		} else if (mode == FAR_PATTERN && fe->digits[digit]) {
			if (dpkt == 0 && ndpkt == 0) {
				if (dtmf_tx_packets(dp, CM_ARRAY_LEN(dp), &ndpkt, fe->digits[digit],
						    120, 10, 8000, 20))
					ndpkt = 0;
				dts = fe->ts;
			}
			if (dpkt < ndpkt) {
				far_send(fe, 101, dp[dpkt].marker, dp[dpkt].payload,
					 DTMF_PAYLOAD_LEN, dts);
				dpkt++;
			}
			if (dpkt >= ndpkt) {
				fe->ts += 120 * 8 + G711_FRAME_SAMPLES;
				digit++;
				dpkt = ndpkt = 0;
			}
		} else if (mode == FAR_PATTERN) {
			pthread_mutex_lock(&fe->mu);
			fe->pattern_done = true;
			pthread_cond_broadcast(&fe->cv);
			pthread_mutex_unlock(&fe->mu);
			atomic_store(&fe->mode, FAR_SILENCE);
		}
	}
	return NULL;
}

static int far_start(struct far *fe, const struct speech *sp, const char *digits)
{
	memset(fe, 0, sizeof(*fe));
	fe->speech = sp;
	pthread_mutex_init(&fe->mu, NULL);
	pthread_cond_init(&fe->cv, NULL);
	fe->digits = digits;
	fe->seq = 1000;
	fe->ts = 160000;
	int err = fx_rtp_socket(&fe->fd, &fe->port);
	if (err)
		return err;
	return pthread_create(&fe->thread, NULL, far_main, fe);
}

static void far_stop(struct far *fe)
{
	if (fe->fd <= 0)
		return;
	atomic_store(&fe->stop, true);
	pthread_join(fe->thread, NULL);
	close(fe->fd);
	fe->fd = -1;
	pthread_mutex_destroy(&fe->mu);
	pthread_cond_destroy(&fe->cv);
}

static uint64_t far_rx(struct far *fe)
{
	pthread_mutex_lock(&fe->mu);
	uint64_t n = fe->rx;
	pthread_mutex_unlock(&fe->mu);
	return n;
}

/* Waits until the far end's receive count passes `than` (false at the deadline). */
static bool far_await_rx(struct far *fe, uint64_t than, int timeout_ms)
{
	struct timespec dl;
	deadline_in(&dl, timeout_ms);
	pthread_mutex_lock(&fe->mu);
	while (fe->rx <= than)
		if (pthread_cond_timedwait(&fe->cv, &fe->mu, &dl) == ETIMEDOUT)
			break;
	bool ok = fe->rx > than;
	pthread_mutex_unlock(&fe->mu);
	return ok;
}

static bool far_await_pattern(struct far *fe, int timeout_ms)
{
	struct timespec dl;
	deadline_in(&dl, timeout_ms);
	pthread_mutex_lock(&fe->mu);
	while (!fe->pattern_done)
		if (pthread_cond_timedwait(&fe->cv, &fe->mu, &dl) == ETIMEDOUT)
			break;
	bool ok = fe->pattern_done;
	pthread_mutex_unlock(&fe->mu);
	return ok;
}

static bool member_await(struct member *m, size_t want, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	while (member_count(m) < want && time_mono_ms() < end)
		lifecycle_wait(5);
	return member_count(m) >= want;
}

/* call_dtmf events of call_id for `digit`. */
static int count_digit(struct fx *f, const char *call_id, const char *digit)
{
	char subject[128], want[32];
	int n = 0;
	snprintf(subject, sizeof(subject), "calls.%s.call_dtmf", call_id);
	snprintf(want, sizeof(want), "\"digit\":\"%s\"", digit);
	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->nev; i++)
		n += strcmp(f->ev[i].subject, subject) == 0 && strstr(f->ev[i].data, want) != NULL;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* A stranger (127.0.0.2: neither the trunk's address, 127.0.0.1, nor the
 * one its SDP names) sends RFC 4733 digit `d` to the bridge's carrier-facing
 * RTP port, the one the far end learned. */
static int stranger_digit(struct far *fe, char d)
{
	struct dtmf_tx_packet dp[64];
	size_t n = 0;
	struct sockaddr_in me = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	inet_pton(AF_INET, "127.0.0.2", &me.sin_addr);
	int err = bind(fd, (struct sockaddr *)&me, sizeof(me)) ? errno : 0;
	if (err) {
		close(fd);
		return err;
	}
	pthread_mutex_lock(&fe->mu);
	struct sockaddr_in to = fe->bridge;
	pthread_mutex_unlock(&fe->mu);
	err = dtmf_tx_packets(dp, CM_ARRAY_LEN(dp), &n, d, 120, 10, 8000, 20);
	for (size_t i = 0; !err && i < n; i++) {
		struct rtp_hdr h = { .marker = dp[i].marker, .pt = 101, .seq = (uint16_t)(7000 + i),
				     .ts = 900000, .ssrc = 0x0bad0bad };
		fx_rtp_send(fd, &to, &h, dp[i].payload, DTMF_PAYLOAD_LEN);
		lifecycle_wait(20);
	}
	close(fd);
	return err;
}

/* ---- the test --------------------------------------------------------------- */

static int test_relay(void)
{
	int err = 0;
	struct fx f;
	struct rm m = { 0 };
	struct far fe = { .fd = -1 };
	struct sipp s = { 0 };
	struct member mem;
	struct speech *sp = NULL;
	struct room *room = NULL;
	struct room_local_ctx ctx = { 0 };
	char id[ID_UUID_LEN + 1], rname[64], ident[64], port[16], v[16];
	char *hold = NULL, *resume = NULL, *ended = NULL, *d1 = NULL;
	memset(&mem, 0, sizeof(mem));
	pthread_mutex_init(&mem.mu, NULL);

	TEST_EQ_INT(fx_start(&f, NULL), 0);
	snprintf(v, sizeof(v), "%d", MEDIA_TIMEOUT_S);
	fx_setenv(&f, "MEDIA_TIMEOUT_S", v);
	fx_setenv(&f, "MAX_CALLS", "10");
	TEST_EQ_INT(rm_start(&f, &m), 0);
	TEST_EQ_INT(fx_bridge_start(&f), 0);
	TEST_EQ_INT(id_uuid4(id), 0);
	snprintf(rname, sizeof(rname), "call-%s", id);
	snprintf(ident, sizeof(ident), "agent-%s", id);
	TEST_EQ_INT(create_room(&f, id, rname), 0);
	ctx.bus = f.bus;
	ctx.timeout_ms = 5000;
	TEST_EQ_INT(room_local.join(&room, &ctx, rname, ident, &member_handlers, &mem), 0);

	sp = calloc(1, sizeof(*sp));
	TEST_ASSERT(sp != NULL);
	TEST_EQ_INT(fx_speech_load(sp->pcm, &sp->frames, SPEECH_MAX, f.dir, "speech.wav",
				   SPEECH_TEXT),
		    0);
	TEST_ASSERT(sp->frames >= 50);
	for (size_t k = 0; k < sp->frames; k++)
		sp->rms[k] = fx_rms(sp->pcm + k * G711_FRAME_SAMPLES, G711_FRAME_SAMPLES);
	TEST_EQ_INT(far_start(&fe, sp, "1#"), 0);
	snprintf(port, sizeof(port), "%d", fe.port);
	const char *keys[] = { "rtp_port", port, NULL };
	TEST_EQ_INT(sipp_start(&f, &s, "uas_relay.xml", keys), 0);
	TEST_EQ_INT(publish_job(&f, id, s.port, 30, "u", "p"), 0);
	TEST_EQ_INT(expect_setup(&f, id, false), 0);

	/* the bridge sends to the SDP address at once; the far end answers with
	 * silence and the bridge, joined, forwards it to the room */
	TEST_ASSERT(far_await_rx(&fe, 0, WAIT_MS));
	TEST_ASSERT(member_await(&mem, 1, WAIT_MS));
	/* RTP from anyone but the far end is not the call's: no digit, no audio */
	TEST_EQ_INT(stranger_digit(&fe, '9'), 0);
	lifecycle_wait(500);
	TEST_EQ_INT(count_digit(&f, id, "9"), 0);

	/* both talk at once: the far end speaks, the participant sends tone bursts */
	size_t m0 = member_count(&mem);
	pthread_mutex_lock(&fe.mu);
	size_t f0 = fe.n;
	pthread_mutex_unlock(&fe.mu);
	atomic_store(&fe.mode, FAR_PATTERN);
	TEST_EQ_INT(member_speak(room), 0);
	TEST_ASSERT(far_await_pattern(&fe, WAIT_MS));
	TEST_ASSERT(member_await(&mem, m0 + sp->frames + 30, WAIT_MS));
	{
		int loud, bursts;
		pthread_mutex_lock(&mem.mu);
		double match = envelope_match(sp->rms, sp->frames, mem.rms + m0, mem.n - m0);
		pthread_mutex_unlock(&mem.mu);
		printf("    far end speech (%zu frames) -> room: envelope correlation %.3f\n",
		       sp->frames, match);
		TEST_ASSERT(match >= 0.8);
		double sent[PATTERN_FRAMES];
		for (size_t k = 0; k < PATTERN_FRAMES; k++)
			sent[k] = member_loud(k) ? 8000.0 / sqrt(2.0) : 0;
		pthread_mutex_lock(&fe.mu);
		envelope(fe.rms + f0, fe.n - f0, &loud, &bursts);
		match = envelope_match(sent, PATTERN_FRAMES, fe.rms + f0, fe.n - f0);
		pthread_mutex_unlock(&fe.mu);
		printf("    room -> far end: %d loud packets in %d bursts (sent 55 in 4), envelope "
		       "correlation %.3f\n", loud, bursts, match);
		TEST_ASSERT(loud >= 45 && loud <= 65);
		TEST_ASSERT(match >= 0.8);
	}

	/* RFC 4733 digits: one call_dtmf each */
	TEST_ASSERT(await_type_count(&f, "call_dtmf", 2, WAIT_MS));
	d1 = await_event(&f, id, "call_dtmf", WAIT_MS);
	TEST_ASSERT(d1 != NULL);
	TEST_CONTAINS(d1, "\"digit\":\"1\"");
	TEST_CONTAINS(d1, "\"duration_ms\":120");

	/* hold: the far end stops sending, and hears nothing for longer than
	 * the media timeout; the call stays up */
	hold = await_event(&f, id, "call_hold", 20000);
	TEST_ASSERT(hold != NULL);
	atomic_store(&fe.mode, FAR_MUTE);
	int64_t t_hold = time_mono_ms();
	size_t at_hold = (size_t)far_rx(&fe);
	resume = await_event(&f, id, "call_resume", 20000);
	TEST_ASSERT(resume != NULL);
	int64_t t_resume = time_mono_ms();
	TEST_EQ_INT(count_events(&f, id, "call_ended"), 0);
	/* after resume audio flows at once */
	TEST_ASSERT(far_await_rx(&fe, at_hold, 500));
	{
		/* the scenario holds for 3.5 s after its ACK: the first packet
		 * after call_hold is one the resume let through */
		pthread_mutex_lock(&fe.mu);
		int64_t first = fe.at_ms[at_hold];
		size_t early = 0;
		for (size_t i = at_hold; i < fe.n; i++)
			early += fe.at_ms[i] < t_hold + 3000;
		pthread_mutex_unlock(&fe.mu);
		printf("    hold: call_resume %lld ms after call_hold; first packet after "
		       "call_hold "
		       "%lld ms later, %lld ms after call_resume was seen; packets in the hold: "
		       "%zu\n",
		       (long long)(t_resume - t_hold), (long long)(first - t_hold),
		       (long long)(first - t_resume), early);
		TEST_EQ_INT((int)early, 0);
		TEST_ASSERT(first >= t_hold + 3000);
		TEST_ASSERT(first <= t_resume + 500);
	}

	/* the far end stays silent: media timeout */
	int64_t t0 = time_mono_ms();
	ended = await_event(&f, id, "call_ended", (MEDIA_TIMEOUT_S + 5) * 1000);
	TEST_ASSERT(ended != NULL);
	printf("    call_ended %lld ms after the far end went silent\n",
	       (long long)(time_mono_ms() - t0));
	TEST_CONTAINS(ended, "\"reason\":\"media_timeout\"");
	TEST_CONTAINS(ended, "\"by\":\"local\"");
	TEST_ASSERT(time_mono_ms() - t0 >= MEDIA_TIMEOUT_S * 1000 - 300);
	TEST_EQ_INT(sipp_wait(&s), 0);
	/* redundant end packets made no second event */
	TEST_EQ_INT(count_events(&f, id, "call_dtmf"), 2);
	TEST_EQ_INT(count_digit(&f, id, "1"), 1);
	TEST_EQ_INT(count_digit(&f, id, "#"), 1);
	TEST_EQ_INT(count_digit(&f, id, "9"), 0);
out:
	if (s.pid)
		test_kill(s.pid);
	far_stop(&fe);
	room_local.leave(room);
	free(hold);
	free(resume);
	free(ended);
	free(d1);
	free(sp);
	rm_stop(&m);
	err |= fx_stop(&f, err != 0);
	pthread_mutex_destroy(&mem.mu);
	return err;
}

/* The `make run` phone simulator (deploy/local/phone.sh) speaks: its
 * caller audio reaches a participant of the room. */
static int test_phone_simulator_speaks(void)
{
	int err = 0;
	struct fx f;
	struct rm m = { 0 };
	struct member mem;
	struct room *room = NULL;
	struct room_local_ctx ctx = { 0 };
	int phone_pid = 0, phone_port = test_free_port();
	char id[ID_UUID_LEN + 1], rname[64], ident[64], bin[32], e_path[4096], e_dir[600],
		e_log[600], e_mp[48], logpath[600];
	char *ended = NULL;
	memset(&mem, 0, sizeof(mem));
	pthread_mutex_init(&mem.mu, NULL);

	TEST_EQ_INT(fx_start(&f, NULL), 0);
	fx_setenv(&f, "MAX_CALLS", "10");
	TEST_EQ_INT(rm_start(&f, &m), 0);
	TEST_EQ_INT(fx_bridge_start(&f), 0);

	const char *path = getenv("PATH");
	snprintf(e_path, sizeof(e_path), "PATH=%s", path ? path : "/usr/bin:/bin");
	snprintf(e_dir, sizeof(e_dir), "PHONE_DIR=%s/phone", f.dir);
	snprintf(e_log, sizeof(e_log), "PHONE_LOG_DIR=%s", f.dir);
	snprintf(e_mp, sizeof(e_mp), "PHONE_MEDIA_PORT=%d", test_free_port());
	snprintf(bin, sizeof(bin), "%d", phone_port);
	snprintf(logpath, sizeof(logpath), "%s/phone-sh.log", f.dir);
	const char *argv[] = { "deploy/local/phone.sh", bin, NULL };
	const char *envp[] = { e_path, e_dir, e_log, e_mp, NULL };
	TEST_EQ_INT(test_spawn(&phone_pid, argv, envp, logpath), 0);
	TEST_EQ_INT(wait_tcp(phone_port, 20000), 0);

	TEST_EQ_INT(id_uuid4(id), 0);
	snprintf(rname, sizeof(rname), "call-%s", id);
	snprintf(ident, sizeof(ident), "agent-%s", id);
	TEST_EQ_INT(create_room(&f, id, rname), 0);
	ctx.bus = f.bus;
	ctx.timeout_ms = 5000;
	TEST_EQ_INT(room_local.join(&room, &ctx, rname, ident, &member_handlers, &mem), 0);
	TEST_EQ_INT(publish_job(&f, id, phone_port, 30, "dev", "dev"), 0);
	TEST_EQ_INT(expect_setup(&f, id, true), 0);
	/* 3 s of silence, then the sentence (about 2 s): 25 loud frames at least */
	int64_t end = time_mono_ms() + 12000;
	int loud = 0, bursts = 0;
	while (time_mono_ms() < end) {
		pthread_mutex_lock(&mem.mu);
		envelope(mem.rms, mem.n, &loud, &bursts);
		pthread_mutex_unlock(&mem.mu);
		if (loud >= 25)
			break;
		lifecycle_wait(20);
	}
	printf("    phone simulator -> room: %d loud frames in %d bursts, %zu frames\n", loud,
	       bursts, member_count(&mem));
	TEST_ASSERT(loud >= 25);
	ended = await_event(&f, id, "call_ended", 30000);
	TEST_ASSERT(ended != NULL);
	TEST_CONTAINS(ended, "\"by\":\"remote\"");
out:
	if (phone_pid > 0)
		test_kill(phone_pid);
	room_local.leave(room);
	free(ended);
	rm_stop(&m);
	err |= fx_stop(&f, err != 0);
	pthread_mutex_destroy(&mem.mu);
	return err;
}

static const struct test tests[] = {
	{ "audio_hold_dtmf_media_timeout", test_relay },
	{ "phone_simulator_speaks", test_phone_simulator_speaks },
};
TEST_MAIN(tests)
