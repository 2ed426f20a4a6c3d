/* The LiveKit room backend (libs/room/livekit.c over libs/lkrtc, LiveKit's
 * own client engine) against the LiveKit test server: two C members hear
 * each other's tone with the right identity, exchange data on a topic and
 * see each other join and leave; an @livekit/rtc-node participant and a C
 * member hear each other; a wrong secret, a closed port and a server that
 * goes away mid-room fail the way room.h says.
 *
 * Media needs a non-loopback interface (libwebrtc gathers no loopback
 * candidates): without CALLMESH_NETNS the test re-executes itself through
 * tests/netns/run.sh. The server script is $CALLMESH_LK_SERVER (default
 * tests/livekit/fake.mjs), started per test on a free port. */
#include "harness/test.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/core.h"
#include "livekit/livekit.h"
#include "lkrtc/lkrtc.h"
#include "room/room.h"

#define KEY    "devkey"
#define SECRET "devsecret-0123456789abcdef0123456789"
#define TONE_AMPL 8000.0
#define SENDERS 4

/* ---- the test server -------------------------------------------------- */

struct server {
	int pid;
	char dir[256];
	char url[128];   /* ws://addr:port */
	char http[128];  /* http://addr:port */
};

static const char *server_script(void)
{
	const char *s = getenv("CALLMESH_LK_SERVER");
	return s && *s ? s : "tests/livekit/fake.mjs";
}

static int server_start(struct server *sv, const char *secret)
{
	char ready[300], log[300];
	memset(sv, 0, sizeof(*sv));
	char *dir = test_tmpdir("lk-room");
	if (!dir)
		return EIO;
	snprintf(sv->dir, sizeof(sv->dir), "%s", dir);
	free(dir);
	snprintf(ready, sizeof(ready), "%s/ready", sv->dir);
	snprintf(log, sizeof(log), "%s/server.log", sv->dir);
	const char *addr = getenv("CALLMESH_NETNS_ADDR");
	const char *argv[] = { "node", server_script(), "--port", "0", "--host", addr, "--key", KEY,
			       "--secret", secret, "--ready-file", ready, NULL };
	int err = test_spawn(&sv->pid, argv, NULL, log);
	if (err)
		return err;
	for (int i = 0; i < 400; i++) { /* 20 s */
		FILE *f = fopen(ready, "r");
		if (f) {
			char line[128] = "";
			bool ok = fgets(line, sizeof(line), f) != NULL;
			fclose(f);
			line[strcspn(line, "\r\n")] = '\0';
			if (ok && strncmp(line, "http://", 7) == 0) {
				snprintf(sv->http, sizeof(sv->http), "%s", line);
				snprintf(sv->url, sizeof(sv->url), "ws://%s", line + 7);
				return 0;
			}
		}
		int code;
		if (test_wait_exit(sv->pid, 0, &code) == 0) {
			fprintf(stderr, "test server exited (%d); log in %s\n", code, log);
			sv->pid = 0;
			return EIO;
		}
		test_nap_ms(50);
	}
	return ETIMEDOUT;
}

static void server_stop(struct server *sv)
{
	test_stop(&sv->pid, SIGTERM, 3000);
	if (*sv->dir && !getenv("CALLMESH_KEEP"))
		test_rmtree(sv->dir);
	sv->dir[0] = '\0';
}

/* ---- a member: what it hears, and a tone it sends ------------------------ */

struct heard {
	char identity[ROOM_IDENTITY_MAX + 1];
	uint64_t frames, loud;  /* frames; frames with RMS above a tenth of the tone's */
	double tone_share;      /* of the last loud frame at the expected frequency */
};

struct member {
	const char *identity;
	struct room *room;
	pthread_mutex_t mu;
	struct heard heard[SENDERS];
	uint64_t own_frames;
	char data_from[ROOM_IDENTITY_MAX + 1], data_topic[64], data[256];
	int data_n;
	int joins, leaves;
	char joined[ROOM_IDENTITY_MAX + 1], left[ROOM_IDENTITY_MAX + 1];
	atomic_int closed_err;
	int64_t closed_at_ms;
	char closed_reason[256];
	/* the tone */
	double freq, phase;
	double expect_freq;     /* what the others send, for tone_share */
	pthread_t thread;
	bool sending;
	atomic_bool stop;
	atomic_int send_fail;
};

static double goertzel_share(const int16_t *x, size_t n, double freq)
{
	double w = 2 * M_PI * freq / ROOM_RATE, c = 2 * cos(w), s1 = 0, s2 = 0, e = 0;
	for (size_t i = 0; i < n; i++) {
		double v = x[i] / 32768.0, s0 = v + c * s1 - s2;
		s2 = s1;
		s1 = s0;
		e += v * v;
	}
	double p = s1 * s1 + s2 * s2 - c * s1 * s2;
	return e > 0 ? 2 * p / ((double)n * e) : 0;
}

static void on_frame(const struct room_frame *f, void *arg)
{
	struct member *m = arg;
	double e = 0;
	for (size_t i = 0; i < ROOM_FRAME_SAMPLES; i++)
		e += (double)f->pcm[i] * f->pcm[i];
	double rms = sqrt(e / ROOM_FRAME_SAMPLES);
	pthread_mutex_lock(&m->mu);
	if (strcmp(f->identity, m->identity) == 0)
		m->own_frames++;
	struct heard *h = NULL;
	for (size_t i = 0; i < SENDERS && !h; i++)
		if (!*m->heard[i].identity || strcmp(m->heard[i].identity, f->identity) == 0)
			h = &m->heard[i];
	if (h) {
		snprintf(h->identity, sizeof(h->identity), "%s", f->identity);
		h->frames++;
		if (rms > TONE_AMPL / 10) {
			h->loud++;
			if (m->expect_freq > 0)
				h->tone_share =
					goertzel_share(f->pcm, ROOM_FRAME_SAMPLES, m->expect_freq);
		}
	}
	pthread_mutex_unlock(&m->mu);
}

static void on_data(const char *identity, const char *topic, const uint8_t *data, size_t len,
		    void *arg)
{
	struct member *m = arg;
	pthread_mutex_lock(&m->mu);
	snprintf(m->data_from, sizeof(m->data_from), "%s", identity);
	snprintf(m->data_topic, sizeof(m->data_topic), "%s", topic);
	size_t n = len < sizeof(m->data) - 1 ? len : sizeof(m->data) - 1;
	memcpy(m->data, data, n);
	m->data[n] = '\0';
	m->data_n++;
	pthread_mutex_unlock(&m->mu);
}

static void on_member(const char *identity, bool joined, void *arg)
{
	struct member *m = arg;
	pthread_mutex_lock(&m->mu);
	if (joined) {
		m->joins++;
		snprintf(m->joined, sizeof(m->joined), "%s", identity);
	} else {
		m->leaves++;
		snprintf(m->left, sizeof(m->left), "%s", identity);
	}
	pthread_mutex_unlock(&m->mu);
}

static void on_closed(int err, const char *reason, void *arg)
{
	struct member *m = arg;
	pthread_mutex_lock(&m->mu);
	snprintf(m->closed_reason, sizeof(m->closed_reason), "%s", reason);
	m->closed_at_ms = time_mono_ms();
	pthread_mutex_unlock(&m->mu);
	atomic_store(&m->closed_err, err);
}

static const struct room_handlers handlers = {
	.frame = on_frame, .data = on_data, .member = on_member, .closed = on_closed,
};

static void *tone_main(void *arg)
{
	struct member *m = arg;
	struct timespec t;
	int16_t pcm[ROOM_FRAME_SAMPLES];
	clock_gettime(CLOCK_MONOTONIC, &t);
	for (int k = 0; k < 50 * 120 && !atomic_load(&m->stop); k++) {
		for (size_t i = 0; i < ROOM_FRAME_SAMPLES; i++) {
			pcm[i] = (int16_t)(TONE_AMPL * sin(m->phase));
			m->phase += 2 * M_PI * m->freq / ROOM_RATE;
		}
		if (m->phase > 2 * M_PI * 1000)
			m->phase = fmod(m->phase, 2 * M_PI);
		if (room_livekit.send_frame(m->room, pcm))
			atomic_fetch_add(&m->send_fail, 1);
		test_pace(&t, ROOM_FRAME_MS);
	}
	return NULL;
}

static void member_init(struct member *m, const char *identity, double freq, double expect)
{
	memset(m, 0, sizeof(*m));
	m->identity = identity;
	m->freq = freq;
	m->expect_freq = expect;
	pthread_mutex_init(&m->mu, NULL);
}

static struct room_livekit_ctx ctx_for(const struct server *sv, const char *secret)
{
	struct room_livekit_ctx c = {
		.url = sv->url, .api_key = KEY, .api_secret = secret, .timeout_ms = 10000,
		.reconnect_timeout_ms = 4000,
	};
	return c;
}

static int member_join(struct member *m, struct room_livekit_ctx *ctx, const char *room)
{
	int err = room_livekit.join(&m->room, ctx, room, m->identity, &handlers, m);
	if (err)
		fprintf(stderr, "join %s: %s: %s\n", m->identity, cm_strerror(err),
			room_livekit_reason());
	return err;
}

static int member_send_tone(struct member *m)
{
	atomic_store(&m->stop, false);
	int err = pthread_create(&m->thread, NULL, tone_main, m);
	m->sending = err == 0;
	return err;
}

static void member_stop_tone(struct member *m)
{
	if (!m->sending)
		return;
	atomic_store(&m->stop, true);
	pthread_join(m->thread, NULL);
	m->sending = false;
}

static void member_leave(struct member *m)
{
	member_stop_tone(m);
	room_livekit.leave(m->room);
	m->room = NULL;
}

static void member_destroy(struct member *m)
{
	member_leave(m);
	pthread_mutex_destroy(&m->mu);
}

/* The frames m heard from `from`: loud ones and the tone share. */
static void heard_of(struct member *m, const char *from, struct heard *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < SENDERS; i++)
		if (strcmp(m->heard[i].identity, from) == 0)
			*out = m->heard[i];
	pthread_mutex_unlock(&m->mu);
}

/* Polls until m heard `want` loud frames from `from` (or timeout). */
static int wait_loud(struct member *m, const char *from, uint64_t want, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	struct heard h;
	for (int i = 0; i < 100000 && time_mono_ms() < end; i++) {
		heard_of(m, from, &h);
		if (h.loud >= want)
			return 0;
		test_nap_ms(20);
	}
	return ETIMEDOUT;
}

static int wait_int(struct member *m, const int *field, int want, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	for (int i = 0; i < 100000 && time_mono_ms() < end; i++) {
		pthread_mutex_lock(&m->mu);
		int v = *field;
		pthread_mutex_unlock(&m->mu);
		if (v >= want)
			return 0;
		test_nap_ms(20);
	}
	return ETIMEDOUT;
}

/* ---- tests ---------------------------------------------------------------- */

/* Two C members: each hears the other's tone (identity, energy, frequency)
 * and never itself; data both ways on a topic; join and leave events. */
static int test_two_members(void)
{
	struct server sv = { 0 };
	struct member a, b;
	struct heard h;
	int err = 0;
	member_init(&a, "agent-a", 440, 880);
	member_init(&b, "caller-b", 880, 440);
	TEST_EQ_INT(server_start(&sv, SECRET), 0);
	struct room_livekit_ctx ctx = ctx_for(&sv, SECRET);
	TEST_EQ_INT(member_join(&a, &ctx, "room-two"), 0);
	TEST_EQ_INT(member_join(&b, &ctx, "room-two"), 0);
	TEST_EQ_INT(wait_int(&a, &a.joins, 1, 5000), 0);
	TEST_EQ_STR(a.joined, "caller-b");
	TEST_EQ_INT(wait_int(&b, &b.joins, 1, 5000), 0); /* there before b: reported at join */
	TEST_EQ_STR(b.joined, "agent-a");

	TEST_EQ_INT(member_send_tone(&a), 0);
	TEST_EQ_INT(member_send_tone(&b), 0);
	TEST_EQ_INT(wait_loud(&a, "caller-b", 50, 8000), 0); /* 1 s of b's tone */
	TEST_EQ_INT(wait_loud(&b, "agent-a", 50, 8000), 0);
	heard_of(&a, "caller-b", &h);
	TEST_ASSERT(h.tone_share > 0.8); /* it is b's 880 Hz, not a's own 440 */
	heard_of(&b, "agent-a", &h);
	TEST_ASSERT(h.tone_share > 0.8);
	TEST_EQ_INT(a.own_frames, 0);
	TEST_EQ_INT(b.own_frames, 0);

	static const char hello[] = "{\"event\":\"hello\"}";
	TEST_EQ_INT(room_livekit.send_data(a.room, "call_events", (const uint8_t *)hello,
					   strlen(hello)), 0);
	TEST_EQ_INT(wait_int(&b, &b.data_n, 1, 5000), 0);
	TEST_EQ_STR(b.data, hello);
	TEST_EQ_STR(b.data_topic, "call_events");
	TEST_EQ_STR(b.data_from, "agent-a");
	TEST_EQ_INT(room_livekit.send_data(b.room, "replies", (const uint8_t *)"pong", 4), 0);
	TEST_EQ_INT(wait_int(&a, &a.data_n, 1, 5000), 0);
	TEST_EQ_STR(a.data, "pong");
	TEST_EQ_STR(a.data_topic, "replies");
	TEST_EQ_STR(a.data_from, "caller-b");
	static uint8_t big[LKRTC_DATA_MAX + 1];
	TEST_EQ_INT(room_livekit.send_data(a.room, "x", big, sizeof(big)), EMSGSIZE);

	struct room_stats st;
	room_livekit.stats(a.room, &st);
	TEST_ASSERT(st.frames_sent >= 50);
	TEST_ASSERT(st.frames_received >= 50);
	TEST_EQ_INT(atomic_load(&a.send_fail), 0);

	/* b leaves while both send: a sees it go, nothing breaks */
	member_leave(&b);
	TEST_EQ_INT(wait_int(&a, &a.leaves, 1, 8000), 0);
	TEST_EQ_STR(a.left, "caller-b");
	TEST_EQ_INT(atomic_load(&a.closed_err), 0);
out:
	member_destroy(&a);
	member_destroy(&b);
	server_stop(&sv);
	return err;
}

/* LiveKit's own SDK as the other participant: rtc-node hears the C member's
 * tone and the C member hears rtc-node's. */
static int test_rtc_node_peer(void)
{
	struct server sv = { 0 };
	struct member c;
	struct heard h;
	char *jwt = NULL, *out = NULL;
	int err = 0;
	member_init(&c, "agent-c", 600, 400); /* whole cycles per 10 ms */
	TEST_EQ_INT(server_start(&sv, SECRET), 0);
	struct room_livekit_ctx ctx = ctx_for(&sv, SECRET);
	TEST_EQ_INT(member_join(&c, &ctx, "room-sdk"), 0);
	TEST_EQ_INT(member_send_tone(&c), 0);
	struct livekit_grants g = {
		.room = "room-sdk", .room_join = true, .can_publish = true, .can_subscribe = true,
		.can_publish_data = true,
	};
	TEST_EQ_INT(livekit_token_mint(&jwt, KEY, SECRET, "sdk-peer", NULL, NULL, &g, 600), 0);
	char env_url[200], env_tok[2048];
	snprintf(env_url, sizeof(env_url), "LK_URL=%s", sv.url);
	snprintf(env_tok, sizeof(env_tok), "LK_TOKEN=%s", jwt);
	const char *argv[] = { "node", "tests/livekit/rtc-node-peer.mjs", "--listen", "agent-c",
			       "--freq", "600", "--tone", "400", "--seconds", "4", NULL };
	const char *envp[] = { env_url, env_tok, NULL };
	int rc = test_run_cmd(&out, argv, envp, 30000);
	if (rc != 0)
		fprintf(stderr, "rtc-node peer (exit %d):\n%s\n", rc, out ? out : "");
	else
		fprintf(stderr, "  rtc-node peer: %s", out);
	TEST_EQ_INT(rc, 0);
	/* its verdict line: {"heard":"agent-c","frames":N,"loud":N,"share":x} */
	TEST_CONTAINS(out, "\"heard\":\"agent-c\"");
	const char *loud = strstr(out, "\"loud\":");
	TEST_ASSERT(loud && strtol(loud + 7, NULL, 10) >= 50);
	const char *share = strstr(out, "\"share\":");
	TEST_ASSERT(share && strtod(share + 8, NULL) > 0.8);
	heard_of(&c, "sdk-peer", &h);
	TEST_ASSERT(h.loud >= 50);
	TEST_ASSERT(h.tone_share > 0.8);
	TEST_EQ_INT(c.own_frames, 0);
out:
	free(jwt);
	free(out);
	member_destroy(&c);
	server_stop(&sv);
	return err;
}

/* A token signed with the wrong secret: EACCES, quickly, with a reason. */
static int test_wrong_secret(void)
{
	struct server sv = { 0 };
	struct member m;
	int err = 0;
	member_init(&m, "agent-w", 440, 0);
	TEST_EQ_INT(server_start(&sv, SECRET), 0);
	struct room_livekit_ctx ctx = ctx_for(&sv, "not-the-secret-0123456789abcdef0123");
	int64_t t0 = time_mono_ms();
	TEST_EQ_INT(room_livekit.join(&m.room, &ctx, "room-w", m.identity, &handlers, &m), EACCES);
	TEST_ASSERT(time_mono_ms() - t0 < 5000);
	TEST_ASSERT(m.room == NULL);
	TEST_CONTAINS(room_livekit_reason(), "token");
out:
	member_destroy(&m);
	server_stop(&sv);
	return err;
}

/* Nothing listens at the URL: ECONNREFUSED (or ETIMEDOUT) within the timeout. */
static int test_unreachable(void)
{
	struct member m;
	char url[128];
	int err = 0;
	member_init(&m, "agent-u", 440, 0);
	int port = test_free_port();
	TEST_ASSERT(port > 0);
	snprintf(url, sizeof(url), "ws://%s:%d", getenv("CALLMESH_NETNS_ADDR"), port);
	struct room_livekit_ctx ctx = {
		.url = url, .api_key = KEY, .api_secret = SECRET, .timeout_ms = 3000,
	};
	int64_t t0 = time_mono_ms();
	int rc = room_livekit.join(&m.room, &ctx, "room-u", m.identity, &handlers, &m);
	int64_t took = time_mono_ms() - t0;
	if (rc != ECONNREFUSED && rc != ETIMEDOUT)
		fprintf(stderr, "join: %s: %s\n", cm_strerror(rc), room_livekit_reason());
	TEST_ASSERT(rc == ECONNREFUSED || rc == ETIMEDOUT);
	TEST_ASSERT(took < 3000 + 2500);
	TEST_ASSERT(*room_livekit_reason());
	/* an address of the namespace's subnet that nobody has: no ARP answer */
	snprintf(url, sizeof(url), "ws://10.213.0.77:%d", port);
	ctx.timeout_ms = 2000;
	t0 = time_mono_ms();
	rc = room_livekit.join(&m.room, &ctx, "room-u", m.identity, &handlers, &m);
	took = time_mono_ms() - t0;
	fprintf(stderr, "  no host: %s after %lld ms: %s\n", cm_strerror(rc), (long long)took,
		room_livekit_reason());
	TEST_ASSERT(rc == EHOSTUNREACH || rc == ETIMEDOUT);
	TEST_ASSERT(took < 2000 + 2500);
	TEST_ASSERT(m.room == NULL);
out:
	member_destroy(&m);
	return err;
}

/* The server dies mid-room: closed() within a bound, leave() still works. */
static int test_server_gone(void)
{
	struct server sv = { 0 };
	struct member a, b;
	int err = 0;
	member_init(&a, "agent-g", 440, 880);
	member_init(&b, "caller-g", 880, 440);
	TEST_EQ_INT(server_start(&sv, SECRET), 0);
	struct room_livekit_ctx ctx = ctx_for(&sv, SECRET);
	TEST_EQ_INT(member_join(&a, &ctx, "room-g"), 0);
	TEST_EQ_INT(member_join(&b, &ctx, "room-g"), 0);
	TEST_EQ_INT(member_send_tone(&a), 0);
	TEST_EQ_INT(member_send_tone(&b), 0);
	TEST_EQ_INT(wait_loud(&a, "caller-g", 25, 8000), 0);
	int64_t killed = time_mono_ms();
	test_stop(&sv.pid, SIGKILL, 0);
	/* reconnect_timeout_ms 4000 + the engine's detection */
	int64_t end = killed + 15000;
	for (int i = 0; i < 1000 && time_mono_ms() < end; i++) {
		if (atomic_load(&a.closed_err) && atomic_load(&b.closed_err))
			break;
		test_nap_ms(20);
	}
	TEST_EQ_INT(atomic_load(&a.closed_err), ECONNRESET);
	TEST_EQ_INT(atomic_load(&b.closed_err), ECONNRESET);
	TEST_CONTAINS(a.closed_reason, "LiveKit server");
	fprintf(stderr, "  closed %lld ms after the kill: %s\n",
		(long long)(a.closed_at_ms - killed), a.closed_reason);
	/* sending into a lost room fails at once, never blocks */
	int16_t pcm[ROOM_FRAME_SAMPLES] = { 0 };
	member_stop_tone(&a);
	TEST_EQ_INT(room_livekit.send_frame(a.room, pcm), EIO);
	int64_t t0 = time_mono_ms();
	member_leave(&a);
	member_leave(&b);
	TEST_ASSERT(time_mono_ms() - t0 < 2 * 5000 + 1000);
out:
	member_destroy(&a);
	member_destroy(&b);
	server_stop(&sv);
	return err;
}

/* The server removes the participant (RoomService.RemoveParticipant): the
 * engine's Disconnected(PARTICIPANT_REMOVED) becomes closed(EACCES). */
static int test_removed(void)
{
	struct server sv = { 0 };
	struct member m;
	struct livekit *lk = NULL;
	struct livekit_error le = { 0 };
	cJSON *req = NULL, *resp = NULL;
	int err = 0;
	member_init(&m, "caller-r", 440, 0);
	TEST_EQ_INT(server_start(&sv, SECRET), 0);
	struct room_livekit_ctx ctx = ctx_for(&sv, SECRET);
	TEST_EQ_INT(member_join(&m, &ctx, "room-r"), 0);
	TEST_EQ_INT(member_send_tone(&m), 0);
	TEST_EQ_INT(livekit_client_new(&lk, sv.http, KEY, SECRET), 0);
	req = cJSON_CreateObject();
	TEST_ASSERT(req && cJSON_AddStringToObject(req, "room", "room-r") &&
		    cJSON_AddStringToObject(req, "identity", "caller-r"));
	struct livekit_grants g = { .room = "room-r", .room_admin = true };
	TEST_EQ_INT(livekit_twirp(lk, &resp, "livekit.RoomService", "RemoveParticipant", req, &g,
				  5000, &le), 0);
	int64_t end = time_mono_ms() + 5000;
	for (int i = 0; i < 500 && !atomic_load(&m.closed_err) && time_mono_ms() < end; i++)
		test_nap_ms(10);
	TEST_EQ_INT(atomic_load(&m.closed_err), EACCES);
	TEST_CONTAINS(m.closed_reason, "removed");
out:
	cJSON_Delete(req);
	cJSON_Delete(resp);
	livekit_client_free(lk);
	member_destroy(&m);
	server_stop(&sv);
	return err;
}

/* The server drops every connection once, then takes them again: the engine
 * reconnects, audio flows again and closed() is not called. */
static int test_server_blip(void)
{
	struct server sv = { 0 };
	struct member a, b;
	struct heard h0, h1;
	char url[200];
	long status = 0;
	int err = 0;
	member_init(&a, "agent-blip", 440, 880);
	member_init(&b, "caller-blip", 880, 440);
	TEST_EQ_INT(server_start(&sv, SECRET), 0);
	struct room_livekit_ctx ctx = ctx_for(&sv, SECRET);
	ctx.reconnect_timeout_ms = 15000;
	TEST_EQ_INT(member_join(&a, &ctx, "room-blip"), 0);
	TEST_EQ_INT(member_join(&b, &ctx, "room-blip"), 0);
	TEST_EQ_INT(member_send_tone(&b), 0);
	TEST_EQ_INT(wait_loud(&a, "caller-blip", 25, 8000), 0);
	snprintf(url, sizeof(url), "%s/__rtc/drop", sv.http);
	TEST_EQ_INT(test_http(&status, NULL, "POST", url, NULL, "{}"), 0);
	TEST_EQ_INT(status, 200);
	test_nap_ms(500); /* the outage lasts this long */
	snprintf(url, sizeof(url), "%s/__rtc/allow", sv.http);
	TEST_EQ_INT(test_http(&status, NULL, "POST", url, NULL, "{}"), 0);
	TEST_EQ_INT(status, 200);
	heard_of(&a, "caller-blip", &h0);
	int64_t end = time_mono_ms() + 12000;
	struct lkrtc_stats st;
	for (int i = 0; i < 1200 && time_mono_ms() < end; i++) {
		heard_of(&a, "caller-blip", &h1);
		if (h1.loud >= h0.loud + 50)
			break;
		test_nap_ms(10);
	}
	fprintf(stderr, "  after the outage: %llu loud frames more\n",
		(unsigned long long)(h1.loud - h0.loud));
	TEST_ASSERT(h1.loud >= h0.loud + 50);
	TEST_EQ_INT(atomic_load(&a.closed_err), 0);
	TEST_EQ_INT(atomic_load(&b.closed_err), 0);
	(void)st;
out:
	member_destroy(&a);
	member_destroy(&b);
	server_stop(&sv);
	return err;
}

/* Without the engine file join fails ENOENT naming LIVEKIT_FFI_LIB. The
 * engine is per process, so this runs in a child of ours that has
 * LIVEKIT_FFI_LIB pointing nowhere (LK_TEST_PROBE=1 marks the child). */
static int test_engine_missing(void)
{
	struct member m;
	char *out = NULL;
	int err = 0;
	member_init(&m, "agent-e", 440, 0);
	if (getenv("LK_TEST_PROBE")) {
		struct room_livekit_ctx ctx = {
			.url = "ws://127.0.0.1:9", .api_key = KEY, .api_secret = SECRET,
		};
		TEST_EQ_INT(room_livekit.join(&m.room, &ctx, "room-e", m.identity, &handlers, &m),
			    ENOENT);
		TEST_CONTAINS(room_livekit_reason(), "LIVEKIT_FFI_LIB");
		goto out;
	}
	const char *argv[] = { "/proc/self/exe", "engine_missing", NULL };
	const char *envp[] = { "LK_TEST_PROBE=1", "LIVEKIT_FFI_LIB=/nonexistent/rtc-node.node",
			       NULL };
	int rc = test_run_cmd(&out, argv, envp, 20000);
	if (rc != 0)
		fprintf(stderr, "probe (exit %d):\n%s\n", rc, out ? out : "");
	TEST_EQ_INT(rc, 0);
	TEST_CONTAINS(out, "1 passed, 0 failed");
out:
	free(out);
	member_destroy(&m);
	return err;
}

static const struct test tests[] = {
	{ "engine_missing", test_engine_missing },
	{ "unreachable", test_unreachable },
	{ "wrong_secret", test_wrong_secret },
	{ "two_members", test_two_members },
	{ "rtc_node_peer", test_rtc_node_peer },
	{ "removed", test_removed },
	{ "server_blip", test_server_blip },
	{ "server_gone", test_server_gone },
};

int main(int argc, char **argv)
{
	int rc = test_netns_enter(argc, argv); /* media needs a namespace (see the top) */
	if (rc)
		return rc;
	log_setup("test_room_livekit", getenv("TEST_LOG") ? LOG_DEBUG : LOG_ERROR, false);
	rc = test_run(__FILE__, tests, CM_ARRAY_LEN(tests), argc, argv);
	lkrtc_shutdown();
	return rc;
}
