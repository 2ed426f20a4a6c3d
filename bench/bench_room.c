/*
 * The local room backend's forwarder on this machine: N two-member rooms
 * (a pair = one call: caller and agent), every member sending one Opus RTP
 * packet per 20 ms through the real room-manager (ROOM_BACKEND=local, its
 * own nats-server). Per N: room-manager CPU per forwarded packet (all its
 * threads, from /proc/<pid>/task/<tid>/schedstat, idle cost subtracted),
 * % of a core per pair, packets lost, and the added latency packet-in →
 * packet-out p50/p99 (send from the member's socket to receipt on the
 * other member's socket, both in this process). Bounded (< 30 s); prints
 * figures, never fails on them.
 */
#include "bus/bus.h"
#include "harness/test.h"
#include "command/command.h"
#include "core/core.h"
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RUN_TICKS    100                /* 2 s of audio per run */
#define PAIRS_MAX    200
#define MEMBERS_MAX  (2 * PAIRS_MAX)
#define PORT_MIN     42000
#define PORT_MAX     42999
static const int pair_counts[] = { 10, 100, 200 };

struct member {
	int fd;
	struct sockaddr_in relay;
	uint32_t ssrc;
	int64_t sent_us[RUN_TICKS];     /* by sequence number */
};

struct run {
	struct member m[MEMBERS_MAX];
	size_t n;
	int ep;
	atomic_bool stop;
	atomic_long received;
	double *lat_us;                 /* one per received packet */
	atomic_long nlat;
	long lat_cap;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static cJSON *command(struct bus *bus, const char *subject, const char *json)
{
	struct cmd_error ce = { 0 };
	cJSON *req = cJSON_Parse(json), *data = NULL;
	if (req && cmd_request(bus, &data, subject, req, 5000, &ce))
		data = NULL;
	cJSON_Delete(req);
	return data;
}

static void *rx_main(void *arg)
{
	struct run *r = arg;
	struct epoll_event evs[64];
	uint8_t buf[RTP_PACKET_MAX];
	while (!atomic_load(&r->stop)) {
		int n = epoll_wait(r->ep, evs, 64, 50);
		for (int i = 0; i < n; i++) {
			struct member *to = evs[i].data.ptr;
			size_t idx = (size_t)(to - r->m);
			struct member *from = &r->m[idx ^ 1]; /* the pair's other member */
			for (int k = 0; k < 64; k++) {
				ssize_t len = recv(to->fd, buf, sizeof(buf), MSG_DONTWAIT);
				if (len < 0)
					break;
				struct rtp_packet p;
				if (room_is_rtcp(buf, (size_t)len) ||
				    rtp_parse(&p, buf, (size_t)len) || p.hdr.seq >= RUN_TICKS)
					continue;
				int64_t now = time_mono_us();
				atomic_fetch_add(&r->received, 1);
				long j = atomic_fetch_add(&r->nlat, 1);
				if (j < r->lat_cap)
					r->lat_us[j] = (double)(now - from->sent_us[p.hdr.seq]);
			}
		}
	}
	return NULL;
}

/* One run with `pairs` rooms. */
/* aligned: every member sends at the start of the tick (the worst case:
 * all calls in phase); otherwise members are spread over the 20 ms as
 * independent calls are. */
static int bench_pairs(struct bus *bus, int rm_pid, int pairs, int round, bool aligned,
		       const uint8_t *opus, size_t olen, double idle_ns_per_s)
{
	static struct run r;
	char json[400];
	int err = 0;
	pthread_t rx;
	bool rx_started = false;
	memset(&r, 0, sizeof(r));
	r.ep = epoll_create1(0);
	r.lat_cap = (long)pairs * 2 * RUN_TICKS;
	r.lat_us = calloc((size_t)r.lat_cap, sizeof(double));
	if (r.ep < 0 || !r.lat_us)
		return ENOMEM;
	for (int p = 0; p < pairs && !err; p++) {
		snprintf(json, sizeof(json),
			 "{\"v\":1,\"call_id\":\"00000000-0000-4000-8000-%06d%06d\",\"room\":"
			 "\"bench-%d-%d\"}",
			 round, p, round, p);
		cJSON *d = command(bus, "rooms.create", json);
		if (!d)
			err = EIO;
		cJSON_Delete(d);
		for (int k = 0; k < 2 && !err; k++) {
			struct member *m = &r.m[r.n];
			struct sockaddr_in sa = { .sin_family = AF_INET,
						  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
			socklen_t sl = sizeof(sa);
			int sz = 1 << 20;
			m->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
			if (m->fd < 0 ||
			    setsockopt(m->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)) ||
			    bind(m->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
			    getsockname(m->fd, (struct sockaddr *)&sa, &sl)) {
				err = errno;
				break;
			}
			r.n++;
			snprintf(json, sizeof(json),
				 "{\"v\":1,\"room\":\"bench-%d-%d\",\"identity\":\"%s-%d\","
				 "\"rtp_addr\":\"127.0.0.1:%u\"}",
				 round, p, k ? "agent" : "sip", p, ntohs(sa.sin_port));
			d = command(bus, "rooms.join", json);
			const cJSON *ra = cJSON_GetObjectItemCaseSensitive(d, "relay_addr");
			const cJSON *ss = cJSON_GetObjectItemCaseSensitive(d, "ssrc");
			const char *colon = cJSON_IsString(ra) ? strrchr(ra->valuestring, ':')
							       : NULL;
			if (!colon || !cJSON_IsNumber(ss)) {
				err = EIO;
			} else {
				m->relay.sin_family = AF_INET;
				m->relay.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
				m->relay.sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10));
				m->ssrc = (uint32_t)ss->valuedouble;
				struct epoll_event ev = { .events = EPOLLIN, .data.ptr = m };
				if (epoll_ctl(r.ep, EPOLL_CTL_ADD, m->fd, &ev))
					err = errno;
			}
			cJSON_Delete(d);
		}
	}
	if (err) {
		fprintf(stderr, "bench_room: setup of %d pairs failed: %s\n", pairs,
			cm_strerror(err));
		goto out;
	}
	err = pthread_create(&rx, NULL, rx_main, &r);
	if (err)
		goto out;
	rx_started = true;

	uint8_t pkt[RTP_PACKET_MAX];
	long sent = 0;
	double cpu0 = test_cpu_sched_ns(rm_pid);
	int64_t t0 = time_mono_us();
	for (int tick = 0; tick < RUN_TICKS; tick++) {
		for (size_t i = 0; i < r.n; i++) {
			struct member *m = &r.m[i];
			int64_t due =
				t0 + (int64_t)tick * ROOM_FRAME_MS * 1000 +
				(aligned ? 0 : (int64_t)i * ROOM_FRAME_MS * 1000 / (int64_t)r.n);
			int64_t now = time_mono_us();
			if (due > now + 30)
				test_nap_us((long)(due - now));
			size_t plen = 0;
			struct rtp_hdr h = { .pt = ROOM_OPUS_PT,
					     .seq = (uint16_t)tick,
					     .ts = (uint32_t)tick * ROOM_FRAME_SAMPLES,
					     .ssrc = m->ssrc };
			if (rtp_build(&plen, pkt, sizeof(pkt), &h, opus, olen))
				continue;
			m->sent_us[tick] = time_mono_us();
			if (sendto(m->fd, pkt, plen, 0, (struct sockaddr *)&m->relay,
				   sizeof(m->relay)) == (ssize_t)plen)
				sent++;
		}
	}
	/* stragglers: wait until everything arrived or 500 ms of quiet */
	long last = -1;
	for (int i = 0; i < 50 && atomic_load(&r.received) < sent; i++) {
		long now_recv = atomic_load(&r.received);
		if (now_recv == last && i > 10)
			break;
		last = now_recv;
		test_nap_us(10000);
	}
	double secs = (double)(time_mono_us() - t0) / 1e6;
	double cpu = test_cpu_sched_ns(rm_pid) - cpu0 - idle_ns_per_s * secs;
	long got = atomic_load(&r.received), nl = atomic_load(&r.nlat);
	if (nl > r.lat_cap)
		nl = r.lat_cap;
	qsort(r.lat_us, (size_t)nl, sizeof(double), cmp_double);
	double p50 = nl ? r.lat_us[nl / 2] : 0, p99 = nl ? r.lat_us[(size_t)(nl * 99 / 100)] : 0;
	double loss = sent ? 100.0 * (double)(sent - got) / (double)sent : 0;
	double per_pkt = got ? cpu / 1e3 / (double)got : 0;
	double core_pct_pair = 100.0 * cpu / 1e9 / secs / pairs;
	printf("  %-7s %4d pairs (%4zu members, %6ld pkts): %6.2f µs CPU/forwarded packet, %.3f %% "
	       "of a core "
	       "per pair, loss %.3f %% (%ld/%ld), added latency p50 %.0f µs p99 %.0f µs\n",
	       aligned ? "aligned" : "spread", pairs, r.n, sent, per_pkt, core_pct_pair, loss,
	       sent - got, sent, p50, p99);
out:
	atomic_store(&r.stop, true);
	if (rx_started)
		pthread_join(rx, NULL);
	for (int p = 0; p < pairs; p++) {
		snprintf(json, sizeof(json), "{\"v\":1,\"room\":\"bench-%d-%d\"}", round, p);
		cJSON_Delete(command(bus, "rooms.delete", json));
	}
	for (size_t i = 0; i < r.n; i++)
		close(r.m[i].fd);
	close(r.ep);
	free(r.lat_us);
	return err;
}

int main(void)
{
	struct test_nats nats = { 0 };
	int rm = 0;
	struct bus *bus = NULL;
	struct media_opus_enc *enc = NULL;
	int16_t pcm[ROOM_FRAME_SAMPLES];
	uint8_t opus[MEDIA_OPUS_PACKET_MAX];
	size_t olen = 0;
	int err = 0;
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
	char bin[300], log[400];
	char e_nats[96], e_health[64], e_dir[400], e_min[32], e_max[32];

	log_setup("bench_room", LOG_WARN, false);
	printf("bench_room: local room forwarder, %d ms of audio per run, Opus RTP 20 ms\n",
	       RUN_TICKS * ROOM_FRAME_MS);
	char *dir = test_tmpdir("bench-room");
	if (!dir) {
		fprintf(stderr, "bench_room: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	int hp = test_free_port();
	err = test_nats_start(&nats);

	snprintf(bin, sizeof(bin), "%s/bin/room-manager", build);
	snprintf(e_nats, sizeof(e_nats), "NATS_URL=%s", nats.url);
	snprintf(e_health, sizeof(e_health), "HEALTH_ADDR=127.0.0.1:%d", hp);
	snprintf(e_dir, sizeof(e_dir), "RECORDINGS_DIR=%s/rec", dir);
	snprintf(e_min, sizeof(e_min), "RTP_PORT_MIN=%d", PORT_MIN);
	snprintf(e_max, sizeof(e_max), "RTP_PORT_MAX=%d", PORT_MAX);
	snprintf(log, sizeof(log), "%s/room-manager.log", dir);
	const char *rargv[] = { bin, NULL };
	const char *renv[] = { e_nats, e_health, e_dir, e_min, e_max, "ROOM_BACKEND=local",
			 "LOG_LEVEL=warn", NULL };
	if (!err)
		err = test_spawn(&rm, rargv, renv, log);
	if (!err)
		err = bus_connect(&bus, nats.url, "bench-room");
	if (!err)
		(void)test_wait_port(hp, 10000); /* then the command probe decides */
	/* ready once it answers a command */
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
		err = media_opus_enc_new(&enc, NULL);
	for (size_t i = 0; !err && i < ROOM_FRAME_SAMPLES; i++)
		pcm[i] = (int16_t)(8000 * sin(2 * M_PI * 440.0 * (double)i / ROOM_RATE));
	if (!err)
		err = media_opus_encode(enc, opus, sizeof(opus), &olen, pcm);
	if (err) {
		fprintf(stderr, "bench_room: cannot start (nats-server, %s): %s (logs in %s)\n",
			bin, cm_strerror(err), dir);
		goto out;
	}
	/* room-manager's own cost at rest (timer, NATS pings) */
	double c0 = test_cpu_sched_ns(rm);
	int64_t t0 = time_mono_us();
	test_nap_us(500000);
	double idle = (test_cpu_sched_ns(rm) - c0) / ((double)(time_mono_us() - t0) / 1e6);
	printf("  idle room-manager: %.3f %% of a core; Opus payload %zu bytes\n", idle / 1e7,
	       olen);
	for (int mode = 0; mode < 2 && !err; mode++)
		for (size_t i = 0; i < CM_ARRAY_LEN(pair_counts) && !err; i++)
			err = bench_pairs(bus, rm, pair_counts[i], mode * 10 + (int)i, mode == 1,
					  opus, olen, idle);
out:
	media_opus_enc_free(enc);
	bus = bus_close(bus);
	test_stop(&rm, SIGTERM, 10000);
	test_nats_destroy(&nats);
	test_rmtree(dir);
	free(dir);
	return err ? 1 : 0;
}
