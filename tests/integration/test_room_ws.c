/* Browser members of the local room over WebSocket, end to end: a real
 * nats-server and room-manager; the browser is played by a WebSocket client
 * (libs/ws) holding a token from rooms.token, the other member by
 * libs/room's room_local (RTP). Audio is compared by energy per frame. */
#include "bus/bus.h"
#include "command/command.h"
#include "core/core.h"
#include "harness/test.h"
#include "livekit/livekit.h"
#include "media/media.h"
#include "room/room.h"
#include "ws/ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CALL1 "21111111-2222-4333-8444-555555555501"
#define CALL2 "21111111-2222-4333-8444-555555555502"
#define CALL3 "21111111-2222-4333-8444-555555555503"
#define ROOM1 "call-" CALL1
#define ROOM2 "call-" CALL2
#define ROOM3 "call-" CALL3
#define SECRET "test-room-token-secret"
#define TONE_FRAMES 50
#define RX_MAX 2000
#define WAIT_MS 5000

struct env {
	struct test_nats nats;
	struct bus *bus;
	struct room_local_ctx ctx;
	int pid, ws_port;
	char *dir;
	char e_nats[96], e_health[64], e_dir[300], e_min[32], e_max[32], e_ws[64];
};

/* ws_port < 0: a free one. */
static int env_start_at(struct env *v, int ws_port)
{
	char bin[256], log[512], ready[96];
	int health = test_free_port();
	memset(v, 0, sizeof(*v));
	v->dir = test_tmpdir("room-ws");
	v->ws_port = ws_port < 0 ? test_free_port() : ws_port;
	if (!v->dir || v->ws_port < 0 || test_nats_start(&v->nats))
		return EIO;
	int port_min = 24000 + (int)(getpid() % 400) * 20;
	snprintf(v->e_nats, sizeof(v->e_nats), "NATS_URL=%s", v->nats.url);
	snprintf(v->e_health, sizeof(v->e_health), "HEALTH_ADDR=127.0.0.1:%d", health);
	snprintf(v->e_dir, sizeof(v->e_dir), "RECORDINGS_DIR=%s/rec", v->dir);
	snprintf(v->e_min, sizeof(v->e_min), "RTP_PORT_MIN=%d", port_min);
	snprintf(v->e_max, sizeof(v->e_max), "RTP_PORT_MAX=%d", port_min + 19);
	snprintf(v->e_ws, sizeof(v->e_ws), "ROOM_WS_ADDR=127.0.0.1:%d", v->ws_port);
	snprintf(log, sizeof(log), "%s/room-manager.log", v->dir);
	const char *argv[] = { test_bin(bin, sizeof(bin), "room-manager"), NULL };
	const char *envp[] = { v->e_nats, v->e_health, v->e_dir, v->e_min, v->e_max, v->e_ws,
			       "ROOM_TOKEN_SECRET=" SECRET, "ROOM_BACKEND=local", "LOG_FORMAT=kv",
			       "LOG_LEVEL=debug", NULL };
	int err = test_spawn(&v->pid, argv, envp, log);
	if (err)
		return err;
	snprintf(ready, sizeof(ready), "http://127.0.0.1:%d/readyz", health);
	err = test_http_wait(ready, 200, 20000);
	if (!err)
		err = bus_connect(&v->bus, v->nats.url, "test-room-ws");
	for (int i = 0; !err && i < 200 && !bus_connected(v->bus); i++)
		lifecycle_wait(10);
	v->ctx.bus = v->bus;
	v->ctx.timeout_ms = 5000;
	/* /readyz can answer before the command subscriptions exist */
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
	if (!err)
		err = test_wait_port(v->ws_port, 5000);
	if (err)
		printf("    room-manager did not start (logs in %s)\n", v->dir);
	return err;
}

static int env_start(struct env *v)
{
	return env_start_at(v, -1);
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

/* rooms.token for `identity`: "<url>?access_token=<jwt>" into buf. */
static int token_url(struct env *v, char *buf, size_t len, const char *room, const char *identity)
{
	char json[300];
	struct cmd_error ce = { 0 };
	snprintf(json, sizeof(json), "{\"v\":1,\"room\":\"%s\",\"identity\":\"%s\",\"ttl_s\":60}",
		 room, identity);
	cJSON *d = command(v, "rooms.token", json, &ce);
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(d, "token");
	const cJSON *url = cJSON_GetObjectItemCaseSensitive(d, "url");
	int err = EIO;
	if (cJSON_IsString(tok) && cJSON_IsString(url) &&
	    (size_t)snprintf(buf, len, "%s?access_token=%s", url->valuestring, tok->valuestring) <
		    len)
		err = 0;
	if (!d)
		printf("    rooms.token: %s: %s\n", ce.code, ce.message);
	cJSON_Delete(d);
	return err;
}

/* ---- audio -------------------------------------------------------------- */

static double rms_of(const int16_t *pcm, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e += (double)pcm[i] * pcm[i];
	return sqrt(e / (double)n);
}

static void tone_frame(int16_t *pcm, size_t k, double level)
{
	for (size_t i = 0; i < ROOM_FRAME_SAMPLES; i++) {
		double t = (double)(k * ROOM_FRAME_SAMPLES + i) / ROOM_RATE;
		pcm[i] = (int16_t)(level * sin(2 * M_PI * 440.0 * t));
	}
}

static void pace(struct timespec *t)
{
	t->tv_nsec += ROOM_FRAME_MS * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_nsec -= 1000000000L;
		t->tv_sec++;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL) == EINTR)
		;
}

/* What one side heard: frames with their energy, the sender, member events. */
struct rx {
	pthread_mutex_t lock;
	double rms[RX_MAX];
	size_t n;
	char identity[ROOM_IDENTITY_MAX + 1];   /* the last frame's sender */
	uint32_t ssrc;
	int64_t last_frame_ms, left_ms;         /* when the last frame came, the last left */
	char joined[4][ROOM_IDENTITY_MAX + 1];
	size_t n_joined;
	char left[4][ROOM_IDENTITY_MAX + 1];
	size_t n_left;
	bool got_joined_msg;                    /* the WS "joined" reply */
	char error[256];
	struct media_opus_dec *dec;             /* Opus frames from room-manager */
	size_t bad;                             /* malformed binary messages */
};

static void rx_init(struct rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	pthread_mutex_init(&rx->lock, NULL);
}

static void rx_fini(struct rx *rx)
{
	rx->dec = media_opus_dec_free(rx->dec);
	pthread_mutex_destroy(&rx->lock);
}

static void rx_frame(struct rx *rx, const char *identity, uint32_t ssrc, const int16_t *pcm)
{
	pthread_mutex_lock(&rx->lock);
	if (rx->n < RX_MAX) {
		rx->rms[rx->n++] = rms_of(pcm, ROOM_FRAME_SAMPLES);
		rx->last_frame_ms = time_mono_ms();
		if (identity)
			snprintf(rx->identity, sizeof(rx->identity), "%s", identity);
		rx->ssrc = ssrc;
	}
	pthread_mutex_unlock(&rx->lock);
}

static void rx_bad(struct rx *rx)
{
	pthread_mutex_lock(&rx->lock);
	rx->bad++;
	pthread_mutex_unlock(&rx->lock);
}

static void rx_member(struct rx *rx, const char *identity, bool joined)
{
	pthread_mutex_lock(&rx->lock);
	if (joined && rx->n_joined < 4)
		snprintf(rx->joined[rx->n_joined++], ROOM_IDENTITY_MAX + 1, "%s", identity);
	else if (!joined && rx->n_left < 4)
		snprintf(rx->left[rx->n_left++], ROOM_IDENTITY_MAX + 1, "%s", identity);
	if (!joined)
		rx->left_ms = time_mono_ms();
	pthread_mutex_unlock(&rx->lock);
}

/* Frames whose energy is above `floor`. */
static size_t rx_loud(struct rx *rx, double floor)
{
	size_t k = 0;
	pthread_mutex_lock(&rx->lock);
	for (size_t i = 0; i < rx->n; i++)
		k += rx->rms[i] > floor;
	pthread_mutex_unlock(&rx->lock);
	return k;
}

static bool await_loud(struct rx *rx, size_t want, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	while (rx_loud(rx, 1000) < want && time_mono_ms() < end)
		lifecycle_wait(5);
	return rx_loud(rx, 1000) >= want;
}

static bool has_member(struct rx *rx, const char *identity, bool joined)
{
	bool found = false;
	pthread_mutex_lock(&rx->lock);
	size_t n = joined ? rx->n_joined : rx->n_left;
	for (size_t i = 0; i < n; i++)
		found |= strcmp(joined ? rx->joined[i] : rx->left[i], identity) == 0;
	pthread_mutex_unlock(&rx->lock);
	return found;
}

static bool await_member(struct rx *rx, const char *identity, bool joined, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	while (!has_member(rx, identity, joined) && time_mono_ms() < end)
		lifecycle_wait(5);
	return has_member(rx, identity, joined);
}

/* the RTP member */
static void on_room_frame(const struct room_frame *f, void *arg)
{
	if (!f->concealed)
		rx_frame(arg, f->identity, f->ssrc, f->pcm);
}

static void on_room_member(const char *identity, bool joined, void *arg)
{
	rx_member(arg, identity, joined);
}

static const struct room_handlers rtp_handlers = { .frame = on_room_frame,
						   .member = on_room_member };

/* the browser */
static void on_ws_message(struct ws_conn *c, bool binary, const uint8_t *data, size_t len,
			  void *arg)
{
	struct rx *rx = arg;
	(void)c;
	if (!binary) {
		cJSON *o = cJSON_ParseWithLength((const char *)data, len);
		const char *type = cmd_str(o, "type");
		if (type && strcmp(type, "joined") == 0) {
			pthread_mutex_lock(&rx->lock);
			rx->got_joined_msg = true;
			pthread_mutex_unlock(&rx->lock);
		} else if (type && strcmp(type, "member") == 0 && cmd_str(o, "identity")) {
			rx_member(rx, cmd_str(o, "identity"), cmd_bool(o, "joined", false));
		} else if (type && strcmp(type, "error") == 0) {
			pthread_mutex_lock(&rx->lock);
			snprintf(rx->error, sizeof(rx->error), "%s", cmd_str(o, "message"));
			pthread_mutex_unlock(&rx->lock);
		}
		cJSON_Delete(o);
		return;
	}
	int16_t pcm[MEDIA_OPUS_MAX_FRAME];
	if (len < 5) {
		rx_bad(rx);
		return;
	}
	uint32_t ssrc = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 |
			data[4];
	if (data[0] == 0x01 && len == 5 + 2 * ROOM_FRAME_SAMPLES) {
		for (size_t i = 0; i < ROOM_FRAME_SAMPLES; i++)
			pcm[i] = (int16_t)(uint16_t)(data[5 + 2 * i] | data[6 + 2 * i] << 8);
		rx_frame(rx, NULL, ssrc, pcm);
	} else if (data[0] == 0x02 && rx->dec) {
		size_t n = 0;
		if (media_opus_decode(rx->dec, pcm, CM_ARRAY_LEN(pcm), &n, data + 5, len - 5) ||
		    n != ROOM_FRAME_SAMPLES)
			rx_bad(rx);
		else
			rx_frame(rx, NULL, ssrc, pcm);
	} else {
		rx_bad(rx);
	}
}

static const struct ws_handlers ws_client_handlers = { .message = on_ws_message };

static bool await_joined_msg(struct rx *rx, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	for (;;) {
		pthread_mutex_lock(&rx->lock);
		bool got = rx->got_joined_msg;
		pthread_mutex_unlock(&rx->lock);
		if (got || time_mono_ms() >= end)
			return got;
		lifecycle_wait(5);
	}
}

/* The page's 20 ms frames of a tone: PCM (type 1) or Opus (type 2). */
static int ws_send_tone(struct ws_conn *c, struct media_opus_enc *enc, size_t frames)
{
	int16_t pcm[ROOM_FRAME_SAMPLES];
	uint8_t msg[1 + 2 * ROOM_FRAME_SAMPLES];
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	for (size_t k = 0; k < frames; k++) {
		size_t len = 1;
		tone_frame(pcm, k, 8000.0);
		if (enc) {
			size_t olen = 0;
			msg[0] = 0x02;
			if (media_opus_encode(enc, msg + 1, sizeof(msg) - 1, &olen, pcm))
				return EIO;
			len += olen;
		} else {
			msg[0] = 0x01;
			for (size_t i = 0; i < ROOM_FRAME_SAMPLES; i++) {
				msg[1 + 2 * i] = (uint8_t)(uint16_t)pcm[i];
				msg[2 + 2 * i] = (uint8_t)((uint16_t)pcm[i] >> 8);
			}
			len += 2 * ROOM_FRAME_SAMPLES;
		}
		int err = ws_send(c, true, msg, len);
		if (err)
			return err;
		pace(&t);
	}
	return 0;
}

static int rtp_send_tone(struct room *r, size_t frames)
{
	int16_t pcm[ROOM_FRAME_SAMPLES];
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	for (size_t k = 0; k < frames; k++) {
		tone_frame(pcm, k, 8000.0);
		int err = room_local.send_frame(r, pcm);
		if (err)
			return err;
		pace(&t);
	}
	return 0;
}

/* ---- tests -------------------------------------------------------------- */

/* A browser member and an RTP member hear each other's tone, know each
 * other's identity, and see each other join and leave. */
static int both_ways(const char *call_id, const char *room, bool opus)
{
	struct env v;
	struct rx rtp_rx, ws_rx;
	struct room *rtp = NULL;
	struct ws_client *wc = NULL;
	struct media_opus_enc *enc = NULL;
	char url[2048];
	int err = 0, status = 0;
	rx_init(&rtp_rx);
	rx_init(&ws_rx);
	TEST_EQ_INT(env_start(&v), 0);
	TEST_EQ_INT(create_room(&v, call_id, room), 0);
	TEST_EQ_INT(room_local.join(&rtp, &v.ctx, room, "agent-1", &rtp_handlers, &rtp_rx), 0);
	TEST_EQ_INT(token_url(&v, url, sizeof(url), room, "web-1"), 0);
	TEST_CONTAINS(url, "ws://127.0.0.1:");
	if (opus) {
		TEST_EQ_INT(media_opus_enc_new(&enc, NULL), 0);
		TEST_EQ_INT(media_opus_dec_new(&ws_rx.dec), 0);
	}
	TEST_EQ_INT(ws_client_connect(&wc, url, &ws_client_handlers, &ws_rx, WAIT_MS, &status), 0);
	TEST_EQ_INT(status, 101);
	const char *hello = opus ? "{\"type\":\"hello\",\"send\":\"opus\",\"receive\":\"opus\"}"
				 : "{\"type\":\"hello\",\"send\":\"pcm\",\"receive\":\"pcm\"}";
	TEST_EQ_INT(ws_send(ws_client_conn(wc), false, hello, strlen(hello)), 0);
	TEST_ASSERT(await_joined_msg(&ws_rx, WAIT_MS));
	/* each sees the other arrive (the forwarder's SDES) */
	TEST_ASSERT(await_member(&rtp_rx, "web-1", true, WAIT_MS));
	TEST_ASSERT(await_member(&ws_rx, "agent-1", true, WAIT_MS));

	/* browser → RTP member */
	TEST_EQ_INT(ws_send_tone(ws_client_conn(wc), enc, TONE_FRAMES), 0);
	TEST_ASSERT(await_loud(&rtp_rx, TONE_FRAMES * 8 / 10, WAIT_MS));
	pthread_mutex_lock(&rtp_rx.lock);
	printf("    RTP member heard %zu frames from %s\n", rtp_rx.n, rtp_rx.identity);
	bool who = strcmp(rtp_rx.identity, "web-1") == 0;
	pthread_mutex_unlock(&rtp_rx.lock);
	TEST_ASSERT(who);

	/* RTP member → browser */
	TEST_EQ_INT(rtp_send_tone(rtp, TONE_FRAMES), 0);
	TEST_ASSERT(await_loud(&ws_rx, TONE_FRAMES * 8 / 10, WAIT_MS));
	struct room_stats st;
	room_local.stats(rtp, &st);
	size_t loud = rx_loud(&ws_rx, 1000);
	pthread_mutex_lock(&ws_rx.lock);
	size_t heard = ws_rx.n, bad = ws_rx.bad;
	uint32_t ssrc = ws_rx.ssrc;
	pthread_mutex_unlock(&ws_rx.lock);
	printf("    browser heard %zu frames (%zu loud, %zu malformed)\n", heard, loud, bad);
	TEST_EQ_INT(bad, 0);
	/* the browser's frames carry the SSRC the RTP member sends with */
	TEST_ASSERT(ssrc != 0);

	/* the browser hangs up: the RTP member sees it leave */
	wc = ws_client_free(wc);
	TEST_ASSERT(await_member(&rtp_rx, "web-1", false, WAIT_MS));
out:
	ws_client_free(wc);
	room_local.leave(rtp);
	media_opus_enc_free(enc);
	env_stop(&v, err);
	rx_fini(&rtp_rx);
	rx_fini(&ws_rx);
	return err;
}

static int test_pcm_both_ways(void)
{
	return both_ways(CALL1, ROOM1, false);
}

static int test_opus_both_ways(void)
{
	return both_ways(CALL2, ROOM2, true);
}

/* A raw upgrade request: the HTTP status, the response body into body. */
static int upgrade(int port, const char *target, char *body, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	char req[4096], resp[4096];
	size_t got = 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 5, 0 };
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: Upgrade\r\n"
			 "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
			 target, port);
	if (n < 0 || (size_t)n >= sizeof(req) || send(fd, req, (size_t)n, 0) != n) {
		close(fd);
		return -1;
	}
	for (int i = 0; i < 64 && got < sizeof(resp) - 1; i++) {
		ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	resp[got] = '\0';
	int status = -1;
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	const char *b = strstr(resp, "\r\n\r\n");
	snprintf(body, len, "%s", b ? b + 4 : "");
	return status;
}

/* Tokens that must not open the WebSocket, each refused with 401 (404 for
 * a path that is not /room) and a reason that names the problem. */
static int test_refused(void)
{
	struct env v;
	char url[2048], target[2100], body[4096], *jwt = NULL;
	struct cmd_error ce = { 0 };
	struct ws_client *wc = NULL;
	struct rx rx;
	int err = 0, status = 0;
	rx_init(&rx);
	TEST_EQ_INT(env_start(&v), 0);
	TEST_EQ_INT(create_room(&v, CALL3, ROOM3), 0);

	TEST_EQ_INT(upgrade(v.ws_port, "/room", body, sizeof(body)), 401);
	TEST_CONTAINS(body, "access_token: missing");
	TEST_EQ_INT(upgrade(v.ws_port, "/room?access_token=not.a.jwt", body, sizeof(body)), 401);
	TEST_CONTAINS(body, "access_token: not valid here");

	/* the right shape, another secret */
	struct livekit_grants g = { .room = ROOM3, .room_join = true, .can_publish = true,
				    .can_subscribe = true };
	TEST_EQ_INT(livekit_token_mint(&jwt, "room-manager", "another-secret", "web-x", NULL, NULL,
				       &g, 60), 0);
	snprintf(target, sizeof(target), "/room?access_token=%s", jwt);
	TEST_EQ_INT(upgrade(v.ws_port, target, body, sizeof(body)), 401);
	TEST_CONTAINS(body, "access_token: not valid here");
	free(jwt);
	jwt = NULL;

	/* the right secret, no roomJoin grant */
	g.room_join = false;
	g.room_list = true;
	TEST_EQ_INT(livekit_token_mint(&jwt, "room-manager", SECRET, "web-x", NULL, NULL, &g, 60),
		    0);
	snprintf(target, sizeof(target), "/room?access_token=%s", jwt);
	TEST_EQ_INT(upgrade(v.ws_port, target, body, sizeof(body)), 401);
	TEST_CONTAINS(body, "does not grant roomJoin");
	free(jwt);
	jwt = NULL;

	/* a good token at the wrong path */
	TEST_EQ_INT(token_url(&v, url, sizeof(url), ROOM3, "web-3"), 0);
	const char *q = strchr(url, '?');
	TEST_ASSERT(q);
	snprintf(target, sizeof(target), "/elsewhere%s", q);
	TEST_EQ_INT(upgrade(v.ws_port, target, body, sizeof(body)), 404);

	/* a good token for a room that has closed since (the wrong room) */
	cJSON *d = command(&v, "rooms.delete", "{\"v\":1,\"room\":\"" ROOM3 "\"}", &ce);
	TEST_ASSERT(d);
	cJSON_Delete(d);
	snprintf(target, sizeof(target), "/room%s", q);
	TEST_EQ_INT(upgrade(v.ws_port, target, body, sizeof(body)), 401);
	TEST_CONTAINS(body, "room " ROOM3 " is not open");
	/* the client side of the wrapper sees the refusal as EACCES + 401 */
	TEST_EQ_INT(ws_client_connect(&wc, url, &ws_client_handlers, &rx, WAIT_MS, &status),
		    EACCES);
	TEST_EQ_INT(status, 401);

	/* rooms.token itself refuses a room that does not exist */
	d = command(&v, "rooms.token", "{\"v\":1,\"room\":\"" ROOM3 "\",\"identity\":\"web-3\"}",
		    &ce);
	TEST_ASSERT(!d);
	TEST_EQ_STR(ce.code, "not_found");
out:
	free(jwt);
	ws_client_free(wc);
	env_stop(&v, err);
	rx_fini(&rx);
	return err;
}

/* A page that skips the hello or sends a frame of the wrong size is told
 * why and closed. */
static int test_bad_messages(void)
{
	struct env v;
	char url[2048];
	struct ws_client *wc = NULL;
	struct rx rx;
	int err = 0, status = 0;
	uint8_t frame[1 + 100] = { 0x01 };
	rx_init(&rx);
	TEST_EQ_INT(env_start(&v), 0);
	TEST_EQ_INT(create_room(&v, CALL1, ROOM1), 0);
	TEST_EQ_INT(token_url(&v, url, sizeof(url), ROOM1, "web-1"), 0);

	TEST_EQ_INT(ws_client_connect(&wc, url, &ws_client_handlers, &rx, WAIT_MS, &status), 0);
	TEST_EQ_INT(ws_send(ws_client_conn(wc), true, frame, sizeof(frame)), 0);
	for (int64_t end = time_mono_ms() + WAIT_MS; !ws_client_closed(wc) && time_mono_ms() < end;)
		lifecycle_wait(5);
	TEST_ASSERT(ws_client_closed(wc));
	TEST_EQ_STR(rx.error, "audio before hello");
	wc = ws_client_free(wc);

	static const char hello[] = "{\"type\":\"hello\",\"send\":\"pcm\",\"receive\":\"mp3\"}";
	TEST_EQ_INT(ws_client_connect(&wc, url, &ws_client_handlers, &rx, WAIT_MS, &status), 0);
	TEST_EQ_INT(ws_send(ws_client_conn(wc), false, hello, strlen(hello)), 0);
	for (int64_t end = time_mono_ms() + WAIT_MS; !ws_client_closed(wc) && time_mono_ms() < end;)
		lifecycle_wait(5);
	TEST_ASSERT(ws_client_closed(wc));
	TEST_CONTAINS(rx.error, "receive: must be");
	wc = ws_client_free(wc);

	static const char ok[] = "{\"type\":\"hello\",\"send\":\"pcm\",\"receive\":\"pcm\"}";
	TEST_EQ_INT(ws_client_connect(&wc, url, &ws_client_handlers, &rx, WAIT_MS, &status), 0);
	TEST_EQ_INT(ws_send(ws_client_conn(wc), false, ok, strlen(ok)), 0);
	TEST_ASSERT(await_joined_msg(&rx, WAIT_MS));
	TEST_EQ_INT(ws_send(ws_client_conn(wc), true, frame, sizeof(frame)), 0);
	for (int64_t end = time_mono_ms() + WAIT_MS; !ws_client_closed(wc) && time_mono_ms() < end;)
		lifecycle_wait(5);
	TEST_ASSERT(ws_client_closed(wc));
	TEST_CONTAINS(rx.error, "is not a PCM (1920 bytes) frame");
out:
	ws_client_free(wc);
	env_stop(&v, err);
	rx_fini(&rx);
	return err;
}

/* Deleting the room (the call ended) closes its browsers and no other. */
static int test_room_deleted(void)
{
	struct env v;
	char url1[2048], url2[2048], target[2100], body[4096];
	const char *q;
	struct ws_client *w1 = NULL, *w2 = NULL;
	struct rx r1, r2;
	struct cmd_error ce = { 0 };
	int err = 0, status = 0;
	static const char ok[] = "{\"type\":\"hello\",\"send\":\"pcm\",\"receive\":\"pcm\"}";
	rx_init(&r1);
	rx_init(&r2);
	TEST_EQ_INT(env_start(&v), 0);
	TEST_EQ_INT(create_room(&v, CALL1, ROOM1), 0);
	TEST_EQ_INT(create_room(&v, CALL2, ROOM2), 0);
	TEST_EQ_INT(token_url(&v, url1, sizeof(url1), ROOM1, "web-1"), 0);
	TEST_EQ_INT(token_url(&v, url2, sizeof(url2), ROOM2, "web-2"), 0);
	TEST_EQ_INT(ws_client_connect(&w1, url1, &ws_client_handlers, &r1, WAIT_MS, &status), 0);
	TEST_EQ_INT(ws_client_connect(&w2, url2, &ws_client_handlers, &r2, WAIT_MS, &status), 0);
	TEST_EQ_INT(ws_send(ws_client_conn(w1), false, ok, strlen(ok)), 0);
	TEST_EQ_INT(ws_send(ws_client_conn(w2), false, ok, strlen(ok)), 0);
	/* the same token again while its member is connected */
	q = strchr(url1, '?');
	TEST_ASSERT(q);
	snprintf(target, sizeof(target), "/room%s", q);
	TEST_EQ_INT(upgrade(v.ws_port, target, body, sizeof(body)), 409);
	TEST_CONTAINS(body, "web-1 is already connected to this room");
	TEST_ASSERT(await_joined_msg(&r1, WAIT_MS));
	TEST_ASSERT(await_joined_msg(&r2, WAIT_MS));
	cJSON *d = command(&v, "rooms.delete", "{\"v\":1,\"room\":\"" ROOM1 "\"}", &ce);
	TEST_ASSERT(d);
	cJSON_Delete(d);
	for (int64_t end = time_mono_ms() + WAIT_MS; !ws_client_closed(w1) && time_mono_ms() < end;)
		lifecycle_wait(5);
	TEST_ASSERT(ws_client_closed(w1));
	TEST_ASSERT(!ws_client_closed(w2));
out:
	ws_client_free(w1);
	ws_client_free(w2);
	env_stop(&v, err);
	rx_fini(&r1);
	rx_fini(&r2);
	return err;
}

/* ROOM_WS_ADDR taken by someone else: RTP members still join, and
 * rooms.token says why browsers cannot. */
static int test_ws_addr_taken(void)
{
	struct env v = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sa);
	struct room *rtp = NULL;
	struct rx rx;
	struct cmd_error ce = { 0 };
	int err = 0, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	rx_init(&rx);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	TEST_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    listen(fd, 4) == 0 && getsockname(fd, (struct sockaddr *)&sa, &slen) == 0);
	TEST_EQ_INT(env_start_at(&v, ntohs(sa.sin_port)), 0);
	TEST_EQ_INT(create_room(&v, CALL1, ROOM1), 0);
	TEST_EQ_INT(room_local.join(&rtp, &v.ctx, ROOM1, "agent-1", &rtp_handlers, &rx), 0);
	cJSON *d = command(&v, "rooms.token",
			   "{\"v\":1,\"room\":\"" ROOM1 "\",\"identity\":\"web-1\"}", &ce);
	TEST_ASSERT(!d);
	TEST_EQ_STR(ce.code, "unavailable");
	TEST_CONTAINS(ce.message, "ROOM_WS_ADDR 127.0.0.1:");
out:
	room_local.leave(rtp);
	env_stop(&v, err);
	if (fd >= 0)
		close(fd);
	rx_fini(&rx);
	return err;
}

/* The new variables are checked at start, each error naming its variable. */
static int test_config_checked(void)
{
	static const struct {
		const char *env, *want;
	} bad[] = {
		{ "ROOM_WS_ADDR=nonsense", "ROOM_WS_ADDR: \"nonsense\" is not host:port" },
		{ "ROOM_WS_ADDR=myhost:7881",
		  "ROOM_WS_ADDR: \"myhost:7881\": the host must be an IPv4" },
		{ "ROOM_WS_URL=http://x/room",
		  "ROOM_WS_URL: \"http://x/room\" is not a URL with scheme ws|wss" },
		{ "ROOM_TOKEN_SECRET=short", "ROOM_TOKEN_SECRET: must be at least 16 bytes" },
	};
	char bin[256], *out = NULL;
	int err = 0;
	const char *argv[] = { test_bin(bin, sizeof(bin), "room-manager"), NULL };
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++) {
		const char *envp[] = { bad[i].env, "ROOM_BACKEND=local",
				       "NATS_URL=nats://127.0.0.1:1", NULL };
		free(out);
		out = NULL;
		TEST_ASSERT(test_run_cmd(&out, argv, envp, 10000) > 0);
		TEST_CONTAINS(out, bad[i].want);
	}
	free(out);
	out = NULL;
	const char *help[] = { bin, "--help", NULL };
	TEST_EQ_INT(test_run_cmd(&out, help, NULL, 10000), 0);
	TEST_CONTAINS(out, "ROOM_WS_ADDR");
	TEST_CONTAINS(out, "ROOM_WS_URL");
	TEST_CONTAINS(out, "ROOM_TOKEN_SECRET");
out:
	free(out);
	return err;
}

/* ---- a real browser: console/room-local.js in headless Chromium ------- */

/* The page's findings: the "RESULT {json}" line of the driver's log. */
static cJSON *page_result(const char *logpath)
{
	FILE *f = fopen(logpath, "r");
	char line[8192];
	cJSON *r = NULL;
	while (f && !r && fgets(line, sizeof(line), f))
		if (strncmp(line, "RESULT ", 7) == 0)
			r = cJSON_Parse(line + 7);
	if (f)
		fclose(f);
	return r;
}

static double json_num(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* The page joins with a token from rooms.token, its fake microphone (a
 * 440 Hz WAV made by sox) reaches the RTP member with the page's identity,
 * and the RTP member's tone reaches the page (energy at an AnalyserNode on
 * what it plays). `send`/`receive` force the page's codecs (NULL: the
 * module's choice, Opus through WebCodecs in Chromium). */
static int browser_page(const char *call_id, const char *room, const char *send,
			const char *receive, const char *want_send, bool mute)
{
	struct env v;
	struct rx rtp_rx;
	struct room *rtp = NULL;
	char url[2048], wav[400], log[400], *tok, *out = NULL;
	cJSON *res = NULL;
	int err = 0, node = -1, code = -1;
	rx_init(&rtp_rx);
	TEST_EQ_INT(env_start(&v), 0);
	TEST_EQ_INT(create_room(&v, call_id, room), 0);
	TEST_EQ_INT(room_local.join(&rtp, &v.ctx, room, "agent-peer", &rtp_handlers, &rtp_rx), 0);
	TEST_EQ_INT(token_url(&v, url, sizeof(url), room, "web-page"), 0);
	tok = strstr(url, "?access_token=");
	TEST_ASSERT(tok);
	*tok = '\0';
	tok += strlen("?access_token=");

	snprintf(wav, sizeof(wav), "%s/mic.wav", v.dir);
	const char *sox[] = { "sox", "-n", "-r", "48000", "-c", "1", "-b", "16", wav,
			      "synth", "5", "sine", "440", "vol", "0.4", NULL };
	TEST_EQ_INT(test_run_cmd(&out, sox, NULL, 10000), 0);
	snprintf(log, sizeof(log), "%s/page.log", v.dir);
	const char *argv[] = { "node", "tests/js/room_local_page.mjs", "--url", url, "--token", tok,
			       "--wav", wav, "--send", send ? send : "", "--receive",
			       receive ? receive : "", "--mute_ms", mute ? "1500" : "0", NULL };
	TEST_EQ_INT(test_spawn(&node, argv, NULL, log), 0);

	/* Chromium starts, the page joins: the RTP member sees it arrive */
	TEST_ASSERT(await_member(&rtp_rx, "web-page", true, 30000));
	/* the page's microphone reaches the RTP member */
	TEST_ASSERT(await_loud(&rtp_rx, 25, 10000));
	pthread_mutex_lock(&rtp_rx.lock);
	bool who = strcmp(rtp_rx.identity, "web-page") == 0;
	pthread_mutex_unlock(&rtp_rx.lock);
	TEST_ASSERT(who);
	/* the RTP member speaks until the page has heard enough and hung up */
	int16_t pcm[ROOM_FRAME_SAMPLES];
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	for (size_t k = 0; k < 750 && !has_member(&rtp_rx, "web-page", false); k++) {
		tone_frame(pcm, k, 8000.0);
		TEST_EQ_INT(room_local.send_frame(rtp, pcm), 0);
		pace(&t);
	}
	TEST_ASSERT(await_member(&rtp_rx, "web-page", false, WAIT_MS));
	TEST_EQ_INT(test_wait_exit(node, 20000, &code), 0);
	node = -1;
	TEST_EQ_INT(code, 0);
	res = page_result(log);
	TEST_ASSERT(res);
	printf("    page: send %s receive %s, mic max %.3f over %.0f frames, heard %.0f frames, "
	       "%.0f loud windows, max rms %.3f; RTP member heard %zu loud frames\n",
	       cmd_str(res, "send"), cmd_str(res, "receive"), json_num(res, "micMax"),
	       json_num(res, "micFrames"), json_num(res, "remoteFrames"),
	       json_num(res, "loudWindows"), json_num(res, "maxRms"), rx_loud(&rtp_rx, 1000));
	TEST_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(res, "error")));
	TEST_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "joined")));
	TEST_EQ_STR(cmd_str(res, "identity"), "web-page");
	TEST_EQ_STR(cmd_str(res, "send"), want_send);
	TEST_ASSERT(json_num(res, "micMax") > 0.1);     /* the WAV is at 0.4 */
	TEST_ASSERT(json_num(res, "loudWindows") >= 20);
	TEST_ASSERT(json_num(res, "maxRms") > 0.05);    /* the tone plays at 0.24 peak */
	TEST_EQ_INT(json_num(res, "closeCode"), 1000);
	if (mute) {
		/* muted for 1.5 s before the hang-up: nothing reached the room */
		pthread_mutex_lock(&rtp_rx.lock);
		int64_t quiet = rtp_rx.left_ms - rtp_rx.last_frame_ms;
		pthread_mutex_unlock(&rtp_rx.lock);
		printf("    muted: last frame %lld ms before the page left\n", (long long)quiet);
		TEST_ASSERT(quiet > 1200);
	}
	const cJSON *members = cJSON_GetObjectItemCaseSensitive(res, "members");
	TEST_ASSERT(cJSON_IsArray(members) && cJSON_GetArraySize(members) >= 1);
	TEST_EQ_STR(cJSON_GetArrayItem(members, 0)->valuestring, "+agent-peer");
out:
	if (err && node > 0)
		printf("    page log: %s\n", log);
	if (node > 0)
		test_stop(&node, SIGTERM, 5000);
	cJSON_Delete(res);
	free(out);
	room_local.leave(rtp);
	env_stop(&v, err);
	rx_fini(&rtp_rx);
	return err;
}

static int test_browser_opus(void)
{
	return browser_page(CALL1, ROOM1, NULL, NULL, "opus", true);
}

static int test_browser_pcm(void)
{
	return browser_page(CALL2, ROOM2, "pcm", "pcm", "pcm", false);
}

static const struct test tests[] = {
	{ "pcm_both_ways", test_pcm_both_ways },
	{ "opus_both_ways", test_opus_both_ways },
	{ "refused", test_refused },
	{ "bad_messages", test_bad_messages },
	{ "room_deleted", test_room_deleted },
	{ "ws_addr_taken", test_ws_addr_taken },
	{ "config_checked", test_config_checked },
	{ "browser_opus", test_browser_opus },
	{ "browser_pcm", test_browser_pcm },
};

TEST_MAIN(tests)
