/* The local room backend end to end: a real nats-server and the real
 * room-manager (ROOM_BACKEND=local); members join through libs/room
 * (room_local) or, where the test must see raw datagrams, with rooms.join
 * and a UDP socket of its own. Audio is compared by energy per frame, not
 * bits. */
#include "bus/bus.h"
#include "command/command.h"
#include "core/core.h"
#include "event/event.h"
#include "harness/test.h"
#include "media/media.h"
#include "room/room.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CALL1 "11111111-2222-4333-8444-555555555501"
#define CALL2 "11111111-2222-4333-8444-555555555502"
#define CALL3 "11111111-2222-4333-8444-555555555503"
#define ROOM1 "call-" CALL1
#define ROOM2 "call-" CALL2
#define ROOM3 "call-" CALL3
#define TONE_FRAMES 50
#define RX_MAX 2000
#define WAIT_MS 5000

struct env {
	struct test_nats nats;
	struct bus *bus;
	struct room_local_ctx ctx;
	int pid;
	int port_min;
	char *dir;
	char e_nats[96], e_health[64], e_dir[300], e_min[32], e_max[32];
};

static int env_start(struct env *v)
{
	char bin[256], log[512], ready[96];
	int health = test_free_port();
	memset(v, 0, sizeof(*v));
	v->dir = test_tmpdir("room-local");
	if (!v->dir || test_nats_start(&v->nats))
		return EIO;
	/* below the usual ephemeral range, so clients' own ports do not collide */
	v->port_min = 20000 + (int)(getpid() % 400) * 20;
	snprintf(v->e_nats, sizeof(v->e_nats), "NATS_URL=%s", v->nats.url);
	snprintf(v->e_health, sizeof(v->e_health), "HEALTH_ADDR=127.0.0.1:%d", health);
	snprintf(v->e_dir, sizeof(v->e_dir), "RECORDINGS_DIR=%s/rec", v->dir);
	snprintf(v->e_min, sizeof(v->e_min), "RTP_PORT_MIN=%d", v->port_min);
	snprintf(v->e_max, sizeof(v->e_max), "RTP_PORT_MAX=%d", v->port_min + 19);
	snprintf(log, sizeof(log), "%s/room-manager.log", v->dir);
	const char *argv[] = { test_bin(bin, sizeof(bin), "room-manager"), NULL };
	const char *envp[] = { v->e_nats, v->e_health, v->e_dir, v->e_min, v->e_max,
			       "ROOM_BACKEND=local", "LOG_FORMAT=kv", "LOG_LEVEL=debug", NULL };
	int err = test_spawn(&v->pid, argv, envp, log);
	if (err)
		return err;
	snprintf(ready, sizeof(ready), "http://127.0.0.1:%d/readyz", health);
	err = test_http_wait(ready, 200, 20000);
	if (!err)
		err = bus_connect(&v->bus, v->nats.url, "test-room-local");
	for (int i = 0; !err && i < 200 && !bus_connected(v->bus); i++)
		lifecycle_wait(10);
	v->ctx.bus = v->bus;
	v->ctx.timeout_ms = 5000;
	/* /readyz can answer before the command subscriptions exist: wait
	 * until room-manager answers the one it subscribes last */
	int64_t end = time_mono_ms() + 10000;
	while (!err) {
		char *reply = NULL;
		static const char probe[] = "{\"v\":1,\"room\":\"probe\",\"identity\":\"probe\"}";
		if (bus_request(v->bus, &reply, NULL, "rooms.leave", probe, strlen(probe), 1000) ==
		    0) {
			free(reply);
			break;
		}
		if (time_mono_ms() >= end)
			err = ETIMEDOUT;
		else
			lifecycle_wait(20);
	}
	if (err)
		printf("    room-manager did not start (logs in %s)\n", v->dir);
	return err;
}

static void env_stop(struct env *v, int failed)
{
	v->bus = bus_close(v->bus);
	if (v->pid > 0) {
		int code = -1;
		kill(v->pid, SIGTERM);
		if (test_wait_exit(v->pid, 10000, &code) || code != 0) {
			printf("    room-manager exit %d on SIGTERM\n", code);
			test_kill(v->pid);
		}
	}
	test_nats_destroy(&v->nats);
	if (failed)
		printf("    logs kept in %s\n", v->dir);
	else
		test_rmtree(v->dir);
	free(v->dir);
}

/* A command; the reply's data (caller frees) or NULL with *ce filled. */
static cJSON *command(struct env *v, const char *subject, const char *json, struct cmd_error *ce)
{
	cJSON *req = cJSON_Parse(json), *data = NULL;
	if (!req)
		return NULL;
	if (cmd_request(v->bus, &data, subject, req, 5000, ce))
		data = NULL;
	cJSON_Delete(req);
	return data;
}

static int create_room(struct env *v, const char *call_id, const char *room)
{
	char json[256];
	struct cmd_error ce = { 0 };
	snprintf(json, sizeof(json), "{\"v\":1,\"call_id\":\"%s\",\"room\":\"%s\"}", call_id, room);
	cJSON *d = command(v, "rooms.create", json, &ce);
	int ok = d != NULL;
	cJSON_Delete(d);
	return ok ? 0 : EIO;
}

/* ---- what a member hears ---------------------------------------------- */

struct rx {
	pthread_mutex_t lock;
	double rms[RX_MAX];
	int64_t at_us[RX_MAX]; /* when each was handed on */
	size_t n, concealed;
	char identity[ROOM_IDENTITY_MAX + 1];
	uint32_t ssrc;
	size_t samples; /* of the last frame */
};

static double rms_of(const int16_t *pcm, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e += (double)pcm[i] * pcm[i];
	return sqrt(e / (double)n);
}

static void on_frame(const struct room_frame *f, void *arg)
{
	struct rx *rx = arg;
	pthread_mutex_lock(&rx->lock);
	if (f->concealed) {
		rx->concealed++;
	} else if (rx->n < RX_MAX) {
		rx->at_us[rx->n] = time_mono_us();
		rx->rms[rx->n++] = rms_of(f->pcm, f->samples);
		rx->samples = f->samples;
		snprintf(rx->identity, sizeof(rx->identity), "%s", f->identity);
		rx->ssrc = f->ssrc;
	}
	pthread_mutex_unlock(&rx->lock);
}

static const struct room_handlers frame_handlers = { .frame = on_frame };

static size_t rx_concealed(struct rx *rx)
{
	pthread_mutex_lock(&rx->lock);
	size_t n = rx->concealed;
	pthread_mutex_unlock(&rx->lock);
	return n;
}

/* Microseconds from frame `from` to frame `to` being handed on. */
static int64_t rx_spread_us(struct rx *rx, size_t from, size_t to)
{
	pthread_mutex_lock(&rx->lock);
	int64_t d = to < rx->n && from <= to ? rx->at_us[to] - rx->at_us[from] : -1;
	pthread_mutex_unlock(&rx->lock);
	return d;
}

/* The last frame's size and sender, read under the lock: the member's
 * thread may still be handing on a late or concealed frame. */
static size_t rx_samples(struct rx *rx)
{
	pthread_mutex_lock(&rx->lock);
	size_t n = rx->samples;
	pthread_mutex_unlock(&rx->lock);
	return n;
}

static const char *rx_identity(struct rx *rx, char *out, size_t size)
{
	pthread_mutex_lock(&rx->lock);
	snprintf(out, size, "%s", rx->identity);
	pthread_mutex_unlock(&rx->lock);
	return out;
}

static size_t rx_count(struct rx *rx)
{
	pthread_mutex_lock(&rx->lock);
	size_t n = rx->n;
	pthread_mutex_unlock(&rx->lock);
	return n;
}

static void rx_init(struct rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	pthread_mutex_init(&rx->lock, NULL);
}

static uint64_t pkts_of(struct room *r)
{
	struct room_stats st;
	room_local.stats(r, &st);
	return st.packets_received;
}

/* Polls until rx has `want` frames or the deadline passes. */
static bool await_frames(struct rx *rx, size_t want, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	while (rx_count(rx) < want && time_mono_ms() < end)
		lifecycle_wait(5);
	return rx_count(rx) >= want;
}

static bool await_pkts(struct room *r, uint64_t want, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	while (pkts_of(r) < want && time_mono_ms() < end)
		lifecycle_wait(5);
	return pkts_of(r) >= want;
}

/* ---- what a member says ----------------------------------------------- */

/* Frame k of a 440 Hz tone whose level steps every 10 frames (the
 * envelope the receiver must reproduce). */
static double tone_level(size_t k)
{
	return (k / 10) % 2 ? 2500.0 : 10000.0;
}

static void tone_frame_at(int16_t *pcm, size_t k, int rate)
{
	size_t n = ROOM_FRAME_SAMPLES_AT((size_t)rate);
	for (size_t i = 0; i < n; i++) {
		double t = (double)(k * n + i) / rate;
		pcm[i] = (int16_t)(tone_level(k) * sin(2 * M_PI * 440.0 * t));
	}
}

static void tone_frame(int16_t *pcm, size_t k)
{
	tone_frame_at(pcm, k, ROOM_RATE);
}

/* Sends `frames` tone frames at `rate` on the 20 ms media clock. */
static int send_tone_at(struct room *r, size_t frames, int rate)
{
	int16_t pcm[ROOM_FRAME_SAMPLES];
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	for (size_t k = 0; k < frames; k++) {
		tone_frame_at(pcm, k, rate);
		int err = room_local.send_frame(r, pcm);
		if (err)
			return err;
		t.tv_nsec += ROOM_FRAME_MS * 1000000L;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_nsec -= 1000000000L;
			t.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
			;
	}
	return 0;
}

static int send_tone(struct room *r, size_t frames)
{
	return send_tone_at(r, frames, ROOM_RATE);
}

/* Best correlation of the received energy envelope with the sent one over
 * lags 0..4 frames (Opus and the jitter buffer delay it a little). */
static double envelope_match(struct rx *rx, size_t frames)
{
	double best = -1;
	pthread_mutex_lock(&rx->lock);
	for (size_t lag = 0; lag < 5; lag++) {
		double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
		size_t n = 0;
		for (size_t k = 0; k + lag < rx->n && k < frames; k++) {
			double x = tone_level(k) / sqrt(2.0), y = rx->rms[k + lag];
			sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
			n++;
		}
		if (n < 10)
			continue;
		double cov = sxy - sx * sy / n, vx = sxx - sx * sx / n, vy = syy - sy * sy / n;
		double c = vx > 0 && vy > 0 ? cov / sqrt(vx * vy) : 0;
		if (c > best)
			best = c;
	}
	pthread_mutex_unlock(&rx->lock);
	return best;
}

static double mean_rms(struct rx *rx)
{
	double s = 0;
	pthread_mutex_lock(&rx->lock);
	for (size_t k = 0; k < rx->n; k++)
		s += rx->rms[k];
	double m = rx->n ? s / rx->n : 0;
	pthread_mutex_unlock(&rx->lock);
	return m;
}

/* ---- raw members (a UDP socket of the test) --------------------------- */

struct raw {
	int fd;
	struct sockaddr_in relay;
	uint32_t ssrc;
	uint16_t seq;
};

static int raw_open(struct raw *m)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	m->fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (m->fd < 0 || bind(m->fd, (struct sockaddr *)&sa, sizeof(sa)))
		return errno;
	return 0;
}

static int raw_port(const struct raw *m)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	if (getsockname(m->fd, (struct sockaddr *)&sa, &len))
		return -1;
	return ntohs(sa.sin_port);
}

static int raw_join(struct env *v, struct raw *m, const char *room, const char *identity)
{
	char json[400];
	struct cmd_error ce = { 0 };
	snprintf(json, sizeof(json),
		 "{\"v\":1,\"room\":\"%s\",\"identity\":\"%s\",\"rtp_addr\":\"127.0.0.1:%d\"}",
		 room, identity, raw_port(m));
	cJSON *d = command(v, "rooms.join", json, &ce);
	const cJSON *ra = cJSON_GetObjectItemCaseSensitive(d, "relay_addr");
	const cJSON *ss = cJSON_GetObjectItemCaseSensitive(d, "ssrc");
	int err = EIO;
	const char *colon = cJSON_IsString(ra) ? strrchr(ra->valuestring, ':') : NULL;
	if (colon && cJSON_IsNumber(ss)) {
		memset(&m->relay, 0, sizeof(m->relay));
		m->relay.sin_family = AF_INET;
		m->relay.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		m->relay.sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10));
		m->ssrc = (uint32_t)ss->valuedouble;
		err = 0;
	}
	cJSON_Delete(d);
	return err;
}

/* One Opus RTP packet of tone frame k, sequence number first_seq + k. */
static int raw_send_at(struct raw *m, int fd, size_t k, uint16_t first_seq)
{
	static struct media_opus_enc *enc;
	int16_t pcm[ROOM_FRAME_SAMPLES];
	uint8_t opus[MEDIA_OPUS_PACKET_MAX], pkt[RTP_PACKET_MAX];
	size_t olen = 0, plen = 0;
	if (!enc && media_opus_enc_new(&enc, NULL))
		return ENOMEM;
	tone_frame(pcm, k);
	struct rtp_hdr h = { .pt = ROOM_OPUS_PT,
			     .seq = (uint16_t)(first_seq + k),
			     .ts = (uint32_t)k * ROOM_FRAME_SAMPLES,
			     .ssrc = m->ssrc };
	if (media_opus_encode(enc, opus, sizeof(opus), &olen, pcm) ||
	    rtp_build(&plen, pkt, sizeof(pkt), &h, opus, olen))
		return EIO;
	ssize_t s = sendto(fd, pkt, plen, 0, (struct sockaddr *)&m->relay, sizeof(m->relay));
	return s == (ssize_t)plen ? 0 : errno;
}

/* One Opus RTP packet of tone frame k from socket fd to the relay, next in
 * m's sequence. */
static int raw_send(struct raw *m, int fd, size_t k)
{
	return raw_send_at(m, fd, k, (uint16_t)(m->seq++ - k));
}

/* RTP datagrams waiting on fd (RTCP skipped), without blocking. */
static int raw_pending_rtp(int fd)
{
	uint8_t buf[RTP_PACKET_MAX];
	int n = 0;
	for (int i = 0; i < 1000; i++) {
		ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (len < 0)
			break;
		if (!room_is_rtcp(buf, (size_t)len))
			n++;
	}
	return n;
}

static bool await_raw_rtp(int fd, int want, int *got, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	while (*got < want && time_mono_ms() < end) {
		*got += raw_pending_rtp(fd);
		if (*got < want)
			lifecycle_wait(5);
	}
	return *got >= want;
}

/* ---- tests ------------------------------------------------------------ */

static int test_forward_tone(void)
{
	char who[ROOM_IDENTITY_MAX + 1];
	int err = 0;
	struct env v;
	struct room *a = NULL, *b = NULL, *c = NULL;
	static struct rx ra, rb, rc;
	rx_init(&ra), rx_init(&rb), rx_init(&rc);
	TEST_EQ_INT(env_start(&v), 0);
	TEST_EQ_INT(create_room(&v, CALL1, ROOM1), 0);
	TEST_EQ_INT(create_room(&v, CALL2, ROOM2), 0);
	TEST_EQ_INT(room_local.join(&a, &v.ctx, ROOM1, "sip-" CALL1, &frame_handlers, &ra), 0);
	TEST_EQ_INT(room_local.join(&b, &v.ctx, ROOM1, "agent-" CALL1, &frame_handlers, &rb), 0);
	TEST_EQ_INT(room_local.join(&c, &v.ctx, ROOM2, "agent-" CALL2, &frame_handlers, &rc), 0);
	TEST_EQ_INT(send_tone(a, TONE_FRAMES), 0);
	TEST_ASSERT(await_frames(&rb, TONE_FRAMES - 2, WAIT_MS));
	/* B has heard everything A said, so nothing else is still in flight */
	TEST_ASSERT(await_pkts(b, TONE_FRAMES, WAIT_MS));
	size_t nb = rx_count(&rb);
	double match = envelope_match(&rb, TONE_FRAMES), level = mean_rms(&rb);
	printf("    B heard %zu frames (%zu concealed), envelope correlation %.3f, mean rms %.0f\n",
	       nb, rx_concealed(&rb), match, level);
	TEST_ASSERT(nb >= 45);
	TEST_ASSERT(match >= 0.9);
	TEST_ASSERT(level > 2000 && level < 9000);
	TEST_EQ_STR(rx_identity(&rb, who, sizeof(who)), "sip-" CALL1);
	TEST_EQ_INT(rx_count(&ra), 0);
	TEST_EQ_INT(pkts_of(a), 0);
	TEST_EQ_INT(rx_count(&rc), 0);
	TEST_EQ_INT(pkts_of(c), 0);
out:
	room_local.leave(a);
	room_local.leave(b);
	room_local.leave(c);
	env_stop(&v, err);
	return err;
}

/* A member at 8 kHz (sip-bridge's): it sends and hears 160-sample frames,
 * which Opus encodes and decodes at that rate; the 48 kHz member between
 * hears the same envelope as from a 48 kHz sender, and the other way. */
static int test_member_8k(void)
{
	char who[ROOM_IDENTITY_MAX + 1];
	int err = 0;
	struct env v;
	struct room *a = NULL, *b = NULL, *bad = NULL;
	static struct rx ra, rb;
	rx_init(&ra), rx_init(&rb);
	TEST_EQ_INT(env_start(&v), 0);
	struct room_local_ctx ctx8 = v.ctx;
	ctx8.rate = 8000;
	TEST_EQ_INT(create_room(&v, CALL1, ROOM1), 0);
	TEST_EQ_INT(room_local.join(&a, &ctx8, ROOM1, "sip-" CALL1, &frame_handlers, &ra), 0);
	TEST_EQ_INT(room_local.join(&b, &v.ctx, ROOM1, "agent-" CALL1, &frame_handlers, &rb), 0);
	TEST_EQ_INT(send_tone_at(a, TONE_FRAMES, 8000), 0);
	TEST_ASSERT(await_frames(&rb, TONE_FRAMES - 2, WAIT_MS));
	TEST_ASSERT(await_pkts(b, TONE_FRAMES, WAIT_MS));
	double match = envelope_match(&rb, TONE_FRAMES), level = mean_rms(&rb);
	printf("    48 kHz member heard the 8 kHz one: %zu frames of %zu samples, envelope "
	       "correlation %.3f, mean rms %.0f\n",
	       rx_count(&rb), rx_samples(&rb), match, level);
	TEST_EQ_INT((int)rx_samples(&rb), ROOM_FRAME_SAMPLES);
	TEST_ASSERT(match >= 0.9);
	TEST_ASSERT(level > 2000 && level < 9000);

	TEST_EQ_INT(send_tone(b, TONE_FRAMES), 0);
	TEST_ASSERT(await_frames(&ra, TONE_FRAMES - 2, WAIT_MS));
	TEST_ASSERT(await_pkts(a, TONE_FRAMES, WAIT_MS));
	match = envelope_match(&ra, TONE_FRAMES), level = mean_rms(&ra);
	printf("    8 kHz member heard the 48 kHz one: %zu frames of %zu samples, envelope "
	       "correlation %.3f, mean rms %.0f\n",
	       rx_count(&ra), rx_samples(&ra), match, level);
	TEST_EQ_INT((int)rx_samples(&ra), 160);
	TEST_ASSERT(match >= 0.9);
	TEST_ASSERT(level > 2000 && level < 9000);
	TEST_EQ_STR(rx_identity(&ra, who, sizeof(who)), "agent-" CALL1);

	/* a rate Opus does not work at is refused before anything is joined */
	ctx8.rate = 44100;
	TEST_EQ_INT(room_local.join(&bad, &ctx8, ROOM1, "sip-x", &frame_handlers, &ra), EINVAL);
	TEST_ASSERT(bad == NULL);
out:
	room_local.leave(a);
	room_local.leave(b);
	env_stop(&v, err);
	return err;
}

static int test_leave_stops_forwarding(void)
{
	int err = 0;
	struct env v;
	struct room *a = NULL, *b = NULL;
	struct raw x = { .fd = -1 };
	static struct rx ra, rb;
	int got = 0;
	struct cmd_error ce = { 0 };
	cJSON *d = NULL;
	rx_init(&ra), rx_init(&rb);
	TEST_EQ_INT(env_start(&v), 0);
	TEST_EQ_INT(create_room(&v, CALL1, ROOM1), 0);
	TEST_EQ_INT(room_local.join(&a, &v.ctx, ROOM1, "sip-" CALL1, &frame_handlers, &ra), 0);
	TEST_EQ_INT(room_local.join(&b, &v.ctx, ROOM1, "agent-" CALL1, &frame_handlers, &rb), 0);
	TEST_EQ_INT(raw_open(&x), 0);
	TEST_EQ_INT(raw_join(&v, &x, ROOM1, "web-" CALL1), 0);
	TEST_EQ_INT(send_tone(a, 10), 0);
	TEST_ASSERT(await_raw_rtp(x.fd, 10, &got, WAIT_MS));
	TEST_ASSERT(await_pkts(b, 10, WAIT_MS));
	d = command(&v, "rooms.leave",
		    "{\"v\":1,\"room\":\"" ROOM1 "\",\"identity\":\"web-" CALL1 "\"}", &ce);
	TEST_ASSERT(d);
	cJSON_Delete(d);
	/* leaving twice is fine */
	d = command(&v, "rooms.leave",
		    "{\"v\":1,\"room\":\"" ROOM1 "\",\"identity\":\"web-" CALL1 "\"}", &ce);
	TEST_ASSERT(d);
	TEST_EQ_INT(send_tone(a, 10), 0);
	/* B hears the second burst: had X still been a member, its copies
	 * would have been sent in the same pass */
	TEST_ASSERT(await_pkts(b, 20, WAIT_MS));
	TEST_EQ_INT(raw_pending_rtp(x.fd), 0);
	/* a left member's packets go nowhere */
	for (size_t k = 0; k < 5; k++)
		TEST_EQ_INT(raw_send(&x, x.fd, k), 0);
	TEST_EQ_INT(send_tone(a, 1), 0);
	TEST_ASSERT(await_pkts(b, 21, WAIT_MS));
	TEST_EQ_INT(pkts_of(b), 21);
	TEST_EQ_INT(pkts_of(a), 0);
out:
	cJSON_Delete(d);
	if (x.fd >= 0)
		close(x.fd);
	room_local.leave(a);
	room_local.leave(b);
	env_stop(&v, err);
	return err;
}

static int test_foreign_source_dropped(void)
{
	int err = 0;
	struct env v;
	struct room *b = NULL;
	struct raw x = { .fd = -1 }, z = { .fd = -1 };
	static struct rx rb;
	rx_init(&rb);
	TEST_EQ_INT(env_start(&v), 0);
	TEST_EQ_INT(create_room(&v, CALL1, ROOM1), 0);
	TEST_EQ_INT(room_local.join(&b, &v.ctx, ROOM1, "agent-" CALL1, &frame_handlers, &rb), 0);
	TEST_EQ_INT(raw_open(&x), 0);
	TEST_EQ_INT(raw_open(&z), 0);
	TEST_EQ_INT(raw_join(&v, &x, ROOM1, "sip-" CALL1), 0);
	/* z knows x's relay address and SSRC but is not x's rtp_addr */
	z.relay = x.relay;
	z.ssrc = x.ssrc;
	for (size_t k = 0; k < 5; k++)
		TEST_EQ_INT(raw_send(&z, z.fd, k), 0);
	for (size_t k = 0; k < 5; k++)
		TEST_EQ_INT(raw_send(&x, x.fd, k), 0);
	/* x's packets arrived after z's on the same relay socket */
	TEST_ASSERT(await_pkts(b, 5, WAIT_MS));
	TEST_EQ_INT(pkts_of(b), 5);
	/* x keeps its relay port and SSRC when it joins again from z's address */
	uint32_t ssrc = x.ssrc;
	struct sockaddr_in relay = x.relay;
	int zport = raw_port(&z);
	char json[300];
	struct cmd_error ce = { 0 };
	snprintf(json, sizeof(json),
		 "{\"v\":1,\"room\":\"" ROOM1 "\",\"identity\":\"sip-" CALL1
		 "\",\"rtp_addr\":\"127.0.0.1:%d\"}",
		 zport);
	cJSON *d = command(&v, "rooms.join", json, &ce);
	TEST_ASSERT(d);
	TEST_EQ_INT((uint32_t)cJSON_GetObjectItemCaseSensitive(d, "ssrc")->valuedouble, ssrc);
	cJSON_Delete(d);
	for (size_t k = 5; k < 8; k++)
		TEST_EQ_INT(raw_send(&x, x.fd, k), 0); /* now the foreign one */
	for (size_t k = 8; k < 10; k++)
		TEST_EQ_INT(raw_send(&z, z.fd, k), 0);
	TEST_ASSERT(await_pkts(b, 7, WAIT_MS));
	TEST_EQ_INT(pkts_of(b), 7);
	TEST_EQ_INT(relay.sin_port, x.relay.sin_port);
out:
	if (x.fd >= 0)
		close(x.fd);
	if (z.fd >= 0)
		close(z.fd);
	room_local.leave(b);
	env_stop(&v, err);
	return err;
}

/* An in_order member (agent-worker's) hands on what arrives at once, in
 * sequence: ten packets sent back to back reach it together, where a
 * clocked member (beside it, the control) plays them a tick apart; a packet
 * overtaken by the next is put back in place, and a lost one is concealed
 * once it has been waited for. */
static int test_in_order(void)
{
	int err = 0;
	struct env v;
	struct room *b = NULL, *c = NULL;
	struct raw x = { .fd = -1 };
	static struct rx rb, rc;
	rx_init(&rb), rx_init(&rc);
	TEST_EQ_INT(env_start(&v), 0);
	struct room_local_ctx ordered = v.ctx;
	ordered.in_order = true;
	TEST_EQ_INT(create_room(&v, CALL1, ROOM1), 0);
	TEST_EQ_INT(room_local.join(&b, &v.ctx, ROOM1, "clocked", &frame_handlers, &rb), 0);
	TEST_EQ_INT(room_local.join(&c, &ordered, ROOM1, "agent-" CALL1, &frame_handlers, &rc),
		    0);
	TEST_EQ_INT(raw_open(&x), 0);
	TEST_EQ_INT(raw_join(&v, &x, ROOM1, "sip-" CALL1), 0);
	uint16_t s0 = 1000;
	for (size_t k = 0; k < 10; k++)
		TEST_EQ_INT(raw_send_at(&x, x.fd, k, s0), 0);
	TEST_ASSERT(await_frames(&rc, 10, WAIT_MS));
	TEST_ASSERT(await_frames(&rb, 9, WAIT_MS));
	int64_t spread_c = rx_spread_us(&rc, 0, 9), spread_b = rx_spread_us(&rb, 0, 8);
	printf("    10 packets back to back: in_order member %.1f ms first to last, clocked "
	       "member %.1f ms for 9\n",
	       (double)spread_c / 1e3, (double)spread_b / 1e3);
	TEST_ASSERT(spread_c >= 0 && spread_c < 5 * ROOM_FRAME_MS * 1000);
	TEST_ASSERT(spread_b >= 7 * ROOM_FRAME_MS * 1000);
	TEST_EQ_INT(rx_concealed(&rc), 0);

	/* 10, 12, 11: reordered; 13 lost; 14, 15 */
	static const size_t order[] = { 10, 12, 11, 14, 15 };
	for (size_t i = 0; i < CM_ARRAY_LEN(order); i++)
		TEST_EQ_INT(raw_send_at(&x, x.fd, order[i], s0), 0);
	TEST_ASSERT(await_frames(&rc, 15, WAIT_MS));
	int64_t end = time_mono_ms() + WAIT_MS;
	while (rx_concealed(&rc) < 1 && time_mono_ms() < end)
		lifecycle_wait(5);
	printf("    after 10 12 11 _ 14 15: %zu frames, %zu concealed\n", rx_count(&rc),
	       rx_concealed(&rc));
	TEST_EQ_INT(rx_count(&rc), 15);
	TEST_EQ_INT(rx_concealed(&rc), 1);
out:
	if (x.fd >= 0)
		close(x.fd);
	room_local.leave(b);
	room_local.leave(c);
	env_stop(&v, err);
	return err;
}

static int test_join_errors(void)
{
	int err = 0;
	struct env v;
	struct cmd_error ce = { 0 };
	struct room *a = NULL;
	static struct rx ra;
	cJSON *d = NULL;
	rx_init(&ra);
	TEST_EQ_INT(env_start(&v), 0);
	d = command(&v, "rooms.join",
		    "{\"v\":1,\"room\":\"call-nope\",\"identity\":\"x\",\"rtp_addr\":\"127.0.0.1:"
		    "5000\"}",
		    &ce);
	TEST_ASSERT(!d);
	TEST_EQ_STR(ce.code, "not_found");
	TEST_EQ_INT(create_room(&v, CALL1, ROOM1), 0);
	d = command(&v, "rooms.join",
		    "{\"v\":1,\"room\":\"" ROOM1
		    "\",\"identity\":\"x\",\"rtp_addr\":\"10.0.0.1:5000\"}",
		    &ce);
	TEST_ASSERT(!d);
	TEST_EQ_STR(ce.code, "invalid_field");
	d = command(&v, "rooms.join", "{\"v\":1,\"room\":\"" ROOM1 "\",\"identity\":\"x\"}", &ce);
	TEST_ASSERT(!d);
	TEST_EQ_STR(ce.code, "invalid_field");
	TEST_ASSERT(room_local.join(&a, &v.ctx, "call-nope", "sip-x", &frame_handlers, &ra) != 0);
	TEST_ASSERT(a == NULL);
	/* the room is deleted under its member: the member's leave is harmless */
	TEST_EQ_INT(room_local.join(&a, &v.ctx, ROOM1, "sip-" CALL1, &frame_handlers, &ra), 0);
	d = command(&v, "rooms.delete", "{\"v\":1,\"room\":\"" ROOM1 "\"}", &ce);
	TEST_ASSERT(d);
out:
	cJSON_Delete(d);
	room_local.leave(a);
	env_stop(&v, err);
	return err;
}

/* ---- recording -------------------------------------------------------- */

struct ready {
	pthread_mutex_t lock;
	int count;
	char path[700];
	char call_id[ID_UUID_LEN + 1];
};

static void on_ready(const struct bus_msg *msg, void *arg)
{
	struct ready *r = arg;
	struct event *ev = NULL;
	if (event_decode(&ev, msg->data, (size_t)msg->len, NULL, 0))
		return;
	pthread_mutex_lock(&r->lock);
	if (ev->type == EV_RECORDING_READY) {
		r->count++;
		snprintf(r->path, sizeof(r->path), "%s", event_get_str(ev, "path"));
		snprintf(r->call_id, sizeof(r->call_id), "%s", ev->call_id);
	}
	pthread_mutex_unlock(&r->lock);
	event_free(ev);
}

static bool await_ready(struct ready *r, int want, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	for (;;) {
		pthread_mutex_lock(&r->lock);
		int n = r->count;
		pthread_mutex_unlock(&r->lock);
		if (n >= want)
			return true;
		if (time_mono_ms() >= end)
			return false;
		lifecycle_wait(5);
	}
}

/* The last recording_ready's path and call, read under the lock: the bus
 * thread writes the next one in place. */
static void ready_last(struct ready *r, char *path, size_t plen, char *call_id, size_t clen)
{
	pthread_mutex_lock(&r->lock);
	snprintf(path, plen, "%s", r->path);
	snprintf(call_id, clen, "%s", r->call_id);
	pthread_mutex_unlock(&r->lock);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

struct wav_info {
	uint32_t rate;
	uint16_t channels;
	double seconds;
	double rms[2];
};

/* Reads a 16-bit PCM WAV as our writer makes it; checks every size. */
static int wav_read(struct wav_info *w, const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;
	int err = EBADMSG;
	memset(w, 0, sizeof(*w));
	if (!f)
		return errno;
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 44 || fseek(f, 0, SEEK_SET))
		goto out;
	buf = malloc((size_t)len);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
		goto out;
	if (memcmp(buf, "RIFF", 4) || le32(buf + 4) != (uint32_t)len - 8 ||
	    memcmp(buf + 8, "WAVE", 4) || memcmp(buf + 12, "fmt ", 4) || le32(buf + 16) != 16 ||
	    le16(buf + 20) != 1 || le16(buf + 34) != 16 || memcmp(buf + 36, "data", 4) ||
	    le32(buf + 40) != (uint32_t)len - 44)
		goto out;
	w->channels = le16(buf + 22);
	w->rate = le32(buf + 24);
	if (w->channels < 1 || w->channels > 2 || le16(buf + 32) != w->channels * 2 ||
	    le32(buf + 28) != w->rate * w->channels * 2)
		goto out;
	size_t frames = ((size_t)len - 44) / (2u * w->channels);
	w->seconds = (double)frames / w->rate;
	for (int c = 0; c < w->channels; c++) {
		double e = 0;
		for (size_t i = 0; i < frames; i++) {
			double s = (int16_t)le16(buf + 44 + 2 * (i * w->channels + (size_t)c));
			e += s * s;
		}
		w->rms[c] = frames ? sqrt(e / frames) : 0;
	}
	err = 0;
out:
	free(buf);
	fclose(f);
	return err;
}

static int test_recording(void)
{
	int err = 0;
	struct env v;
	struct room *a = NULL, *b = NULL;
	struct bus_sub *sub = NULL;
	static struct rx ra, rb;
	static struct ready ready = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct cmd_error ce = { 0 };
	struct wav_info wi;
	char want[600], path[sizeof(ready.path)], call_id[sizeof(ready.call_id)];
	cJSON *d = NULL;
	rx_init(&ra), rx_init(&rb);
	TEST_EQ_INT(env_start(&v), 0);
	TEST_EQ_INT(bus_subscribe(v.bus, &sub, "calls." CALL3 ".recording_ready", NULL, on_ready,
				  &ready),
		    0);
	TEST_EQ_INT(create_room(&v, CALL3, ROOM3), 0);
	TEST_EQ_INT(room_local.join(&a, &v.ctx, ROOM3, "sip-" CALL3, &frame_handlers, &ra), 0);
	TEST_EQ_INT(room_local.join(&b, &v.ctx, ROOM3, "agent-" CALL3, &frame_handlers, &rb), 0);
	static const char rec[] = "{\"v\":1,\"call_id\":\"" CALL3 "\",\"room\":\"" ROOM3 "\"}";
	d = command(&v, "recordings.start", rec, &ce);
	TEST_ASSERT(d);
	snprintf(want, sizeof(want), "%s/rec/" CALL3 ".wav", v.dir);
	TEST_EQ_STR(cJSON_GetObjectItemCaseSensitive(d, "path")->valuestring, want);
	cJSON_Delete(d);
	d = command(&v, "recordings.start", rec, &ce); /* idempotent while recording */
	TEST_ASSERT(d);
	TEST_EQ_STR(cJSON_GetObjectItemCaseSensitive(d, "path")->valuestring, want);
	cJSON_Delete(d);
	TEST_EQ_INT(send_tone(a, TONE_FRAMES), 0);
	TEST_ASSERT(await_pkts(b, TONE_FRAMES, WAIT_MS));
	TEST_ASSERT(await_frames(&rb, 45, WAIT_MS));
	d = command(&v, "recordings.stop", rec, &ce);
	TEST_ASSERT(d);
	TEST_EQ_STR(cJSON_GetObjectItemCaseSensitive(d, "path")->valuestring, want);
	TEST_ASSERT(await_ready(&ready, 1, WAIT_MS));
	ready_last(&ready, path, sizeof(path), call_id, sizeof(call_id));
	TEST_EQ_STR(path, want);
	TEST_EQ_STR(call_id, CALL3);
	TEST_EQ_INT(wav_read(&wi, want), 0);
	printf("    %s: %u Hz, %u ch, %.2f s, rms caller %.0f agent %.0f\n", want, wi.rate,
	       wi.channels, wi.seconds, wi.rms[0], wi.rms[1]);
	TEST_EQ_INT(wi.rate, 16000);
	TEST_EQ_INT(wi.channels, 2);
	TEST_ASSERT(wi.seconds > 0.95 && wi.seconds < 2.0);
	TEST_ASSERT(wi.rms[0] > 1000);  /* the caller's tone */
	TEST_ASSERT(wi.rms[1] < 50);    /* the agent said nothing */
	cJSON_Delete(d);
	d = NULL;

	/* deleting a room that records closes the file and says so */
	d = command(&v, "recordings.start", rec, &ce);
	TEST_ASSERT(d);
	cJSON_Delete(d);
	TEST_EQ_INT(send_tone(b, 10), 0);
	TEST_ASSERT(await_pkts(a, 10, WAIT_MS));
	d = command(&v, "rooms.delete", "{\"v\":1,\"room\":\"" ROOM3 "\"}", &ce);
	TEST_ASSERT(d);
	TEST_ASSERT(await_ready(&ready, 2, WAIT_MS));
	TEST_EQ_INT(wav_read(&wi, want), 0);
	printf("    after delete: %.2f s, rms caller %.0f agent %.0f\n", wi.seconds, wi.rms[0],
	       wi.rms[1]);
	TEST_ASSERT(wi.seconds > 0.15);
	TEST_ASSERT(wi.rms[1] > 500);
	cJSON_Delete(d);
	/* the stop after the deletion still names the file */
	d = command(&v, "recordings.stop", rec, &ce);
	TEST_ASSERT(d);
	TEST_EQ_STR(cJSON_GetObjectItemCaseSensitive(d, "path")->valuestring, want);
out:
	cJSON_Delete(d);
	sub = bus_unsubscribe(sub);
	room_local.leave(a);
	room_local.leave(b);
	env_stop(&v, err);
	return err;
}

/* ---- member events ---------------------------------------------------- */

struct members {
	pthread_mutex_t lock;
	char log[8][ROOM_IDENTITY_MAX + 8]; /* "+identity" joined, "-identity" left */
	size_t n;
};

static void on_member(const char *identity, bool joined, void *arg)
{
	struct members *m = arg;
	pthread_mutex_lock(&m->lock);
	if (m->n < CM_ARRAY_LEN(m->log))
		snprintf(m->log[m->n++], sizeof(m->log[0]), "%c%s", joined ? '+' : '-', identity);
	pthread_mutex_unlock(&m->lock);
}

static void on_frame_ignored(const struct room_frame *f, void *arg)
{
	(void)f, (void)arg;
}

static const struct room_handlers member_handlers = {
	.frame = on_frame_ignored, .member = on_member,
};

static size_t members_count(struct members *m)
{
	pthread_mutex_lock(&m->lock);
	size_t n = m->n;
	pthread_mutex_unlock(&m->lock);
	return n;
}

static bool await_members(struct members *m, size_t want, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	while (members_count(m) < want && time_mono_ms() < end)
		lifecycle_wait(5);
	return members_count(m) >= want;
}

/* Members learn who joins (the forwarder's first SDES for an SSRC) and who
 * leaves (its BYE) without anyone having to speak; the periodic SDES
 * repeats do not count as joins again. */
static int test_member_events(void)
{
	int err = 0;
	struct env v;
	struct room *a = NULL, *b = NULL;
	static struct members ma, mb;
	memset(&ma, 0, sizeof(ma));
	memset(&mb, 0, sizeof(mb));
	pthread_mutex_init(&ma.lock, NULL);
	pthread_mutex_init(&mb.lock, NULL);
	TEST_EQ_INT(env_start(&v), 0);
	TEST_EQ_INT(create_room(&v, CALL2, ROOM2), 0);
	TEST_EQ_INT(room_local.join(&a, &v.ctx, ROOM2, "agent-" CALL2, &member_handlers, &ma), 0);
	TEST_EQ_INT(room_local.join(&b, &v.ctx, ROOM2, "web-" CALL2, &member_handlers, &mb), 0);
	TEST_ASSERT(await_members(&ma, 1, WAIT_MS));
	TEST_ASSERT(await_members(&mb, 1, WAIT_MS));
	TEST_EQ_STR(ma.log[0], "+web-" CALL2);
	TEST_EQ_STR(mb.log[0], "+agent-" CALL2);
	/* past one SDES interval: still one join each */
	lifecycle_wait(ROOM_SDES_INTERVAL_MS + 500);
	TEST_EQ_INT(members_count(&ma), 1);
	TEST_EQ_INT(members_count(&mb), 1);
	room_local.leave(b);
	b = NULL;
	TEST_ASSERT(await_members(&ma, 2, WAIT_MS));
	TEST_EQ_STR(ma.log[1], "-web-" CALL2);
out:
	room_local.leave(a);
	room_local.leave(b);
	env_stop(&v, err);
	return err;
}

static const struct test tests[] = {
	{ "forward_tone", test_forward_tone },
	{ "member_8k", test_member_8k },
	{ "leave_stops_forwarding", test_leave_stops_forwarding },
	{ "foreign_source_dropped", test_foreign_source_dropped },
	{ "in_order", test_in_order },
	{ "join_errors", test_join_errors },
	{ "recording", test_recording },
	{ "member_events", test_member_events },
};

TEST_MAIN(tests)
