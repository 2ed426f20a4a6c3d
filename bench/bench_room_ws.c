/*
 * Browser members of local rooms on this machine: N rooms, each with one
 * browser member (a libs/ws client, like console/room-local.js) and one RTP
 * member (room_local, like agent-worker), both sending a 20 ms frame every
 * 20 ms through the real room-manager. Per N and per page codec (PCM or
 * Opus both ways): room-manager CPU per browser member (all its threads,
 * schedstat, idle cost subtracted) and the share of frames that arrived
 * each way. Bounded (< 40 s); prints figures, never fails on them.
 */
#include "bus/bus.h"
#include "command/command.h"
#include "core/core.h"
#include "harness/test.h"
#include "media/media.h"
#include "room/room.h"
#include "ws/ws.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUN_TICKS  150              /* 3 s of audio per run */
#define ROOMS_MAX  20
#define PORT_MIN   43000
#define PORT_MAX   43199
static const int room_counts[] = { 1, 10, 20 };

struct member {
	struct room *rtp;
	struct ws_client *ws;
	atomic_uint rtp_frames;     /* frames the RTP member heard (from the browser) */
	atomic_uint ws_frames;      /* frames the browser heard (from the RTP member) */
	atomic_bool joined;
};

static cJSON *command(struct bus *bus, const char *subject, const char *json)
{
	struct cmd_error ce = { 0 };
	cJSON *req = cJSON_Parse(json), *data = NULL;
	if (req && cmd_request(bus, &data, subject, req, 5000, &ce))
		data = NULL;
	cJSON_Delete(req);
	return data;
}

static void on_rtp_frame(const struct room_frame *f, void *arg)
{
	struct member *m = arg;
	if (!f->concealed)
		atomic_fetch_add(&m->rtp_frames, 1);
}

static const struct room_handlers rtp_handlers = { .frame = on_rtp_frame };

static void on_ws_message(struct ws_conn *c, bool binary, const uint8_t *data, size_t len,
			  void *arg)
{
	struct member *m = arg;
	(void)c, (void)len;
	if (binary)
		atomic_fetch_add(&m->ws_frames, 1);
	else if (len > 16 && memmem(data, len, "\"joined\"", 8))
		atomic_store(&m->joined, true);
}

static const struct ws_handlers ws_handlers = { .message = on_ws_message };

static int member_open(struct member *m, struct bus *bus, struct room_local_ctx *ctx, int round,
		       int k, bool opus)
{
	char call[64], room[96], json[300], url[2048];
	int status = 0, err = EIO;
	snprintf(call, sizeof(call), "31111111-2222-4333-8444-%012d", round * 100 + k);
	snprintf(room, sizeof(room), "call-%s", call);
	snprintf(json, sizeof(json), "{\"v\":1,\"call_id\":\"%s\",\"room\":\"%s\"}", call, room);
	cJSON *d = command(bus, "rooms.create", json);
	if (!d)
		return EIO;
	cJSON_Delete(d);
	snprintf(json, sizeof(json), "{\"v\":1,\"room\":\"%s\",\"identity\":\"web-%s\"}", room,
		 call);
	d = command(bus, "rooms.token", json);
	const char *tok = cmd_str(d, "token"), *u = cmd_str(d, "url");
	if (tok && u)
		snprintf(url, sizeof(url), "%s?access_token=%s", u, tok);
	cJSON_Delete(d);
	if (!tok || !u)
		return EIO;
	snprintf(json, sizeof(json), "agent-%s", call);
	err = room_local.join(&m->rtp, ctx, room, json, &rtp_handlers, m);
	if (!err)
		err = ws_client_connect(&m->ws, url, &ws_handlers, m, 5000, &status);
	const char *hello = opus ? "{\"type\":\"hello\",\"send\":\"opus\",\"receive\":\"opus\"}"
				 : "{\"type\":\"hello\",\"send\":\"pcm\",\"receive\":\"pcm\"}";
	if (!err)
		err = ws_send(ws_client_conn(m->ws), false, hello, strlen(hello));
	for (int64_t end = time_mono_ms() + 5000; !err && !atomic_load(&m->joined);) {
		if (time_mono_ms() >= end)
			err = ETIMEDOUT;
		else
			lifecycle_wait(2);
	}
	return err;
}

static int bench_rooms(struct bus *bus, struct room_local_ctx *ctx, int rm_pid, int n, int round,
		       bool opus, double idle_ns_s)
{
	static struct member ms[ROOMS_MAX];
	int16_t pcm[ROOM_FRAME_SAMPLES];
	uint8_t msg[1 + 2 * ROOM_FRAME_SAMPLES];
	struct media_opus_enc *enc = NULL;
	int err = media_opus_enc_new(&enc, NULL);
	memset(ms, 0, sizeof(ms));
	for (int k = 0; k < n && !err; k++)
		err = member_open(&ms[k], bus, ctx, round, k, opus);
	if (err) {
		fprintf(stderr, "bench_room_ws: %d rooms: %s\n", n, cm_strerror(err));
		goto out;
	}
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	double c0 = test_cpu_sched_ns(rm_pid);
	int64_t t0 = time_mono_us();
	for (size_t tick = 0; tick < RUN_TICKS; tick++) {
		for (size_t i = 0; i < ROOM_FRAME_SAMPLES; i++)
			pcm[i] = (int16_t)(8000 * sin(2 * M_PI * 440.0 *
						      (double)(tick * ROOM_FRAME_SAMPLES + i) /
						      ROOM_RATE));
		size_t len = 1;
		if (opus) {
			size_t olen = 0;
			msg[0] = 0x02;
			if (media_opus_encode(enc, msg + 1, sizeof(msg) - 1, &olen, pcm))
				olen = 0;
			len += olen;
		} else {
			msg[0] = 0x01;
			for (size_t i = 0; i < ROOM_FRAME_SAMPLES; i++) {
				msg[1 + 2 * i] = (uint8_t)(uint16_t)pcm[i];
				msg[2 + 2 * i] = (uint8_t)((uint16_t)pcm[i] >> 8);
			}
			len += 2 * ROOM_FRAME_SAMPLES;
		}
		for (int k = 0; k < n; k++) {
			if (ws_send(ws_client_conn(ms[k].ws), true, msg, len))
				continue;
			(void)room_local.send_frame(ms[k].rtp, pcm);
		}
		test_pace(&t, ROOM_FRAME_MS);
	}
	double secs = (double)(time_mono_us() - t0) / 1e6;
	double busy = test_cpu_sched_ns(rm_pid) - c0 - idle_ns_s * secs;
	/* the last frames still in the jitter buffers */
	lifecycle_wait(300);
	unsigned up = 0, down = 0;
	for (int k = 0; k < n; k++) {
		up += atomic_load(&ms[k].rtp_frames);
		down += atomic_load(&ms[k].ws_frames);
	}
	printf("  %2d browser%s %-4s: room-manager %5.2f %% of a core per browser member "
	       "(%.1f us per 20 ms frame pair); frames browser->RTP %5.1f %%, RTP->browser %5.1f "
	       "%%\n",
	       n, n == 1 ? " " : "s", opus ? "opus" : "pcm", busy / secs / n / 1e7,
	       busy / (RUN_TICKS * (double)n) / 1e3, 100.0 * up / (RUN_TICKS * (double)n),
	       100.0 * down / (RUN_TICKS * (double)n));
out:
	for (int k = 0; k < n; k++) {
		ms[k].ws = ws_client_free(ms[k].ws);
		room_local.leave(ms[k].rtp);
		ms[k].rtp = NULL;
	}
	media_opus_enc_free(enc);
	return err;
}

int main(void)
{
	struct test_nats nats = { 0 };
	struct room_local_ctx ctx = { 0 };
	int rm = 0, err = 0;
	struct bus *bus = NULL;
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
	char bin[300], log[400];
	char e_nats[96], e_health[64], e_dir[400], e_min[32], e_max[32], e_ws[64];

	log_setup("bench_room_ws", LOG_WARN, false);
	printf("bench_room_ws: browser members of local rooms over WebSocket, %d ms of audio per "
	       "run\n",
	       RUN_TICKS * ROOM_FRAME_MS);
	char *dir = test_tmpdir("bench-room-ws");
	if (!dir) {
		fprintf(stderr, "bench_room_ws: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	int hp = test_free_port(), wp = test_free_port();
	err = test_nats_start(&nats);
	snprintf(bin, sizeof(bin), "%s/bin/room-manager", build);
	snprintf(e_nats, sizeof(e_nats), "NATS_URL=%s", nats.url);
	snprintf(e_health, sizeof(e_health), "HEALTH_ADDR=127.0.0.1:%d", hp);
	snprintf(e_dir, sizeof(e_dir), "RECORDINGS_DIR=%s/rec", dir);
	snprintf(e_min, sizeof(e_min), "RTP_PORT_MIN=%d", PORT_MIN);
	snprintf(e_max, sizeof(e_max), "RTP_PORT_MAX=%d", PORT_MAX);
	snprintf(e_ws, sizeof(e_ws), "ROOM_WS_ADDR=127.0.0.1:%d", wp);
	snprintf(log, sizeof(log), "%s/room-manager.log", dir);
	const char *rargv[] = { bin, NULL };
	const char *renv[] = { e_nats, e_health, e_dir, e_min, e_max, e_ws, "ROOM_BACKEND=local",
			       "LOG_LEVEL=warn", NULL };
	if (!err)
		err = test_spawn(&rm, rargv, renv, log);
	if (!err)
		err = bus_connect(&bus, nats.url, "bench-room-ws");
	if (!err)
		(void)test_wait_port(hp, 10000);
	cJSON *d = NULL;
	for (int i = 0; !err && i < 100 && !d; i++) {
		d = command(bus, "rooms.delete", "{\"v\":1,\"room\":\"bench-probe\"}");
		if (!d)
			test_nap_us(50000);
	}
	if (!err && !d)
		err = ETIMEDOUT;
	cJSON_Delete(d);
	if (!err)
		err = test_wait_port(wp, 5000);
	if (err) {
		fprintf(stderr, "bench_room_ws: cannot start (nats-server, %s): %s (logs in %s)\n",
			bin, cm_strerror(err), dir);
		goto out;
	}
	ctx.bus = bus;
	double c0 = test_cpu_sched_ns(rm);
	int64_t t0 = time_mono_us();
	test_nap_us(500000);
	double idle = (test_cpu_sched_ns(rm) - c0) / ((double)(time_mono_us() - t0) / 1e6);
	printf("  idle room-manager: %.3f %% of a core\n", idle / 1e7);
	for (int opus = 0; opus < 2 && !err; opus++)
		for (size_t i = 0; i < CM_ARRAY_LEN(room_counts) && !err; i++)
			err = bench_rooms(bus, &ctx, rm, room_counts[i], opus * 10 + (int)i, opus,
					  idle);
out:
	bus = bus_close(bus);
	test_stop(&rm, SIGTERM, 10000);
	test_nats_destroy(&nats);
	test_rmtree(dir);
	free(dir);
	return err ? 1 : 0;
}
