/*
 * Media relay figures, loopback only, everything started here: a throw-away
 * nats-server, the real room-manager, the real sip-bridge and sipp
 * (tests/sip/uas_relay_bench.xml) as the carrier's signalling; two sections
 * in one run, side by side: the local backend (ROOM_BACKEND=local), then
 * LiveKit (room-manager, sip-bridge, agent-worker and our participants given
 * LIVEKIT_URL, key and secret of the LiveKit test server,
 * tests/livekit/fake.mjs; the bench runs in a network namespace of its own,
 * tests/netns/run.sh, as WebRTC gathers no loopback candidates). The carrier's
 * media is ours: one UDP socket on 127.0.0.2 for every port of the bridge's
 * RTP range (sipp answers each call at 127.0.0.2 with the port the bridge
 * offered), all in one epoll thread sending PCMU every 20 ms. One libs/room
 * participant agent-<call_id> per call's room receives what the bridge sends
 * (G.711 → back in sequence → 48 kHz → Opus).
 *   For N calls in ROUNDS (10 is the unloaded baseline): bridge CPU per call
 *   (utime+stime from /proc over a steady window / N / window, % of a core),
 *   packets lost both ways (our send counts against the bridge's own
 *   relay_stopped counters, and the
 *   bridge's counters against what the participants and far ends received),
 *   and added latency: every far end sends a loud 1 kHz burst every
 *   BURST_PERIOD frames; latency is the burst's send time → arrival of the
 *   first loud decoded frame at the room participant (includes the bridge's
 *   reordering, Opus encode, the room-manager hop and the participant's
 *   reordering and decode: on the local backend the participants listen in
 *   sequence as packets arrive, room_local_ctx.in_order, as agent-worker
 *   does), p50/p99.
 *   rtpengine (Debian's, userspace, --table=-1) relaying plain PCMU both ways
 *   for RTPE_CALLS calls set up with its ng protocol: its CPU per packet
 *   forwarded against our transcoding CPU per packet forwarded. Not
 *   like-for-like (we have no plain-relay mode): the ratio is labelled so.
 * Per backend, with the real agent-worker (local providers) in the room of
 * each call, dispatched as api-gateway does, answered by sipp after 1 s of
 * ringing (tests/sip/uas_agent_bench.xml):
 *   answer (call_answered, which the bridge publishes on the carrier's 200 OK
 *   and the agent greets on) → the first loud agent packet at the carrier's
 *   RTP socket, p50/p99 over AGENT_SEQ calls one at a time; then AGENT_HELD
 *   calls at once, the agent listening to the carrier's silence: agent-worker
 *   and sip-bridge CPU per call and resident memory per room membership
 *   (VmRSS of each process, joined minus before, over the calls).
 * The LiveKit section relays LK_CALLS calls: the test server is our werift
 * stand-in in Node, not LiveKit, and it shares the 2 cores.
 * Bounded in count and time (< 200 s); prints figures against the targets and
 * fails only when it cannot run.
 */
#include "bus/bus.h"
#include "core/core.h"
#include "harness/bench.h"
#include "harness/test.h"
#include "command/command.h"
#include "livekit/fake.h"
#include "lkrtc/lkrtc.h"
#include "media/media.h"
#include "room/room.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const int ROUNDS[] = { 10, 50, 100, 200 };
#define NROUNDS       4
#define MAXN          200
#define BR_PORT_MIN   34000            /* the bridge's RTP range */
#define BR_PORT_MAX   34599            /* 600 ports: 2 per call + slack */
#define RM_PORT_MIN   36000            /* room-manager's relay ports */
#define RM_PORT_MAX   37199
#define RTPE_PORT_MIN 46000
#define RTPE_PORT_MAX 46999
#define RTPE_CALLS    200
#define MAX_PEERS     (BR_PORT_MAX - BR_PORT_MIN + 1)
#define WARMUP_MS     1000
#define WINDOW_MS     6000
#define BURST_PERIOD  25               /* frames: a burst every 500 ms */
#define BURST_LEN     5                /* loud frames per burst */
#define MAX_BURSTS    64
#define LOUD_RMS      1000.0
#define AUDIO_RMS     200.0            /* G.711 silence decodes to a few units */
#define GREETING_MS   2500             /* "Hello, this is the clinic." at the carrier */
#define LAT_MAX       64               /* samples per participant */

#define LK_CALLS      10               /* the LiveKit round */
#define LK_KEY        "devkey"
#define LK_SECRET     "devsecret-for-bench-relay-0123456789"
#define AGENT_SEQ     10               /* answer -> first agent audio, one call at a time */
#define AGENT_HELD    5                /* calls at once for CPU and memory per membership */
#define AGENT_WINDOW_MS 4000

#define TARGET_CALLS    200
#define TARGET_CPU_PCT  1.0
#define TARGET_P50_MS   20.0           /* issue 15: carrier -> room at MAXN calls */
#define TARGET_P99_MS   30.0
#define TARGET_RATIO    1.0
#define TARGET_LK_CPU_PCT 2.0          /* issue 10: per bridged call, either backend */
#define TARGET_ANSWER_MS  150.0        /* issue 10: answer -> first agent audio at the far end */

/* The threads' share of a core between a and b (those above 1 %). */
static void print_threads(const struct test_threads *a, const struct test_threads *b, double secs)
{
	printf("    bridge by thread (%% of a core):");
	for (int i = 0; i < b->n; i++) {
		int64_t us = b->us[i] - test_threads_us(a, b->name[i]);
		double pc = (double)us / 1e6 / secs * 100.0;
		if (pc >= 1.0)
			printf(" %s %.0f", b->name[i], pc);
	}
	printf("\n");
}


/* ---- far ends: one epoll thread, one socket per peer ---------------------- */

struct peer {
	int fd;
	bool active;                  /* sends once it knows where to */
	struct sockaddr_in dst;
	uint64_t sent, rcvd;
	uint16_t seq;
	uint32_t ts, ssrc;
};

enum far_mode { FAR_OFF, FAR_SILENCE, FAR_BURSTS };

struct farend {
	struct peer *p;
	int np, ep, tfd;
	bool latch;                   /* learn dst from the first packet */
	pthread_t thread;
	bool started;
	atomic_bool stop;
	atomic_int mode;
	atomic_int active;
	atomic_ullong rcvd_total, sent_total;
	atomic_long missed_ticks;
	atomic_llong max_send_us;     /* longest time to send one tick */
	atomic_bool watch_loud;       /* decode what arrives: first_loud_us */
	atomic_llong first_loud_us;   /* the first packet with energy since armed */
	atomic_long loud_pkts;        /* packets with energy since armed */
	long tick;                    /* within FAR_BURSTS */
	int64_t onset[MAX_BURSTS];    /* send time of each burst's first packet */
	atomic_int nonset;
	uint8_t loud[G711_FRAME_SAMPLES], quiet[G711_FRAME_SAMPLES];
};

static struct farend *g_fe;       /* the one the participants time against */

static void far_recv(struct farend *fe, struct peer *pe)
{
	uint8_t buf[2048];
	struct sockaddr_in from;
	for (int i = 0; i < 64; i++) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(pe->fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		if (n < 0)
			break;
		if (n < 12 || room_is_rtcp(buf, (size_t)n))
			continue;
		pe->rcvd++;
		atomic_fetch_add(&fe->rcvd_total, 1);
		if (atomic_load(&fe->watch_loud)) {
			struct rtp_packet r;
			int16_t pcm[G711_FRAME_SAMPLES];
			if (rtp_parse(&r, buf, (size_t)n) == 0 && r.hdr.pt == 0 &&
			    r.payload_len == G711_FRAME_SAMPLES) {
				g711_decode(G711_ULAW, pcm, r.payload, G711_FRAME_SAMPLES);
				double e = 0;
				for (int k = 0; k < G711_FRAME_SAMPLES; k++)
					e += (double)pcm[k] * pcm[k];
				if (sqrt(e / G711_FRAME_SAMPLES) > AUDIO_RMS) {
					long long zero = 0;
					atomic_compare_exchange_strong(&fe->first_loud_us, &zero,
								       time_mono_us());
					atomic_fetch_add(&fe->loud_pkts, 1);
				}
			}
		}
		if (!pe->active && fe->latch) {
			pe->dst = from;
			pe->active = true;
			atomic_fetch_add(&fe->active, 1);
		}
	}
}

static void far_tick(struct farend *fe)
{
	int mode = atomic_load(&fe->mode);
	if (mode == FAR_OFF)
		return;
	bool loud = false;
	int64_t t0 = time_mono_us();
	if (mode == FAR_BURSTS) {
		loud = fe->tick % BURST_PERIOD < BURST_LEN;
		if (fe->tick % BURST_PERIOD == 0) {
			int k = atomic_load(&fe->nonset);
			if (k < MAX_BURSTS) {
				fe->onset[k] = t0;
				atomic_store(&fe->nonset, k + 1);
			}
		}
		fe->tick++;
	}
	uint8_t pkt[RTP_HDR_LEN + G711_FRAME_SAMPLES];
	for (int i = 0; i < fe->np; i++) {
		struct peer *pe = &fe->p[i];
		if (!pe->active)
			continue;
		size_t len = 0;
		struct rtp_hdr h = { .pt = 0, .seq = pe->seq++, .ts = pe->ts, .ssrc = pe->ssrc };
		pe->ts += G711_FRAME_SAMPLES;
		if (rtp_build(&len, pkt, sizeof(pkt), &h, loud ? fe->loud : fe->quiet,
			      G711_FRAME_SAMPLES))
			continue;
		if (sendto(pe->fd, pkt, len, MSG_DONTWAIT, (struct sockaddr *)&pe->dst,
			   sizeof(pe->dst)) == (ssize_t)len) {
			pe->sent++;
			atomic_fetch_add(&fe->sent_total, 1);
		}
	}
	int64_t took = time_mono_us() - t0;
	if (took > atomic_load(&fe->max_send_us))
		atomic_store(&fe->max_send_us, took);
}

static void *far_main(void *arg)
{
	struct farend *fe = arg;
	struct epoll_event ev[64];
	while (!atomic_load(&fe->stop)) {
		int n = epoll_wait(fe->ep, ev, 64, 100);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == UINT32_MAX) {
				uint64_t exp = 0;
				if (read(fe->tfd, &exp, sizeof(exp)) == sizeof(exp) && exp > 1)
					atomic_fetch_add(&fe->missed_ticks, (long)(exp - 1));
				far_tick(fe);
			} else if (ev[i].data.u32 < (uint32_t)fe->np) {
				far_recv(fe, &fe->p[ev[i].data.u32]);
			}
		}
	}
	return NULL;
}

static void far_free(struct farend *fe)
{
	if (!fe)
		return;
	if (fe->started) {
		atomic_store(&fe->stop, true);
		pthread_join(fe->thread, NULL);
	}
	for (int i = 0; i < fe->np; i++)
		if (fe->p[i].fd >= 0)
			close(fe->p[i].fd);
	if (fe->ep >= 0)
		close(fe->ep);
	if (fe->tfd >= 0)
		close(fe->tfd);
	free(fe->p);
	free(fe);
}

/* np sockets on `host`, at ports port0.. (port0 0: ephemeral). */
static struct farend *far_new(int np, const char *host, int port0, bool latch)
{
	struct farend *fe = calloc(1, sizeof(*fe));
	if (!fe)
		return NULL;
	fe->ep = fe->tfd = -1;
	fe->latch = latch;
	fe->p = calloc((size_t)np, sizeof(*fe->p));
	if (!fe->p)
		goto fail;
	for (int i = 0; i < np; i++)
		fe->p[i].fd = -1;
	fe->np = np;
	int16_t pcm[G711_FRAME_SAMPLES];
	for (int i = 0; i < G711_FRAME_SAMPLES; i++)
		pcm[i] = (int16_t)(8000.0 *
				   sin(2 * M_PI * 1000.0 * i / 8000.0)); /* 1 kHz: whole cycles */
	g711_encode(G711_ULAW, fe->loud, pcm, G711_FRAME_SAMPLES);
	memset(pcm, 0, sizeof(pcm));
	g711_encode(G711_ULAW, fe->quiet, pcm, G711_FRAME_SAMPLES);
	fe->ep = epoll_create1(EPOLL_CLOEXEC);
	fe->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fe->ep < 0 || fe->tfd < 0)
		goto fail;
	for (int i = 0; i < np; i++) {
		struct peer *pe = &fe->p[i];
		pe->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)(port0 ? port0 + i : 0)) };
		int big = 1 << 20;
		if (pe->fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
			goto fail;
		setsockopt(pe->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
		if (bind(pe->fd, (struct sockaddr *)&sa, sizeof(sa))) {
			fprintf(stderr, "bench_relay: bind %s:%d: %s\n", host, port0 + i,
				strerror(errno));
			goto fail;
		}
		pe->seq = (uint16_t)(i * 7919);
		pe->ts = (uint32_t)i * 160000u;
		pe->ssrc = 0x5eed0000u + (uint32_t)i;
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		if (epoll_ctl(fe->ep, EPOLL_CTL_ADD, pe->fd, &e))
			goto fail;
	}
	struct epoll_event e = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	struct itimerspec its = { .it_interval = { 0, 20000000 }, .it_value = { 0, 20000000 } };
	if (epoll_ctl(fe->ep, EPOLL_CTL_ADD, fe->tfd, &e) ||
	    timerfd_settime(fe->tfd, 0, &its, NULL))
		goto fail;
	if (pthread_create(&fe->thread, NULL, far_main, fe))
		goto fail;
	fe->started = true;
	return fe;
fail:
	far_free(fe);
	return NULL;
}

static int peer_port(const struct farend *fe, int i)
{
	struct sockaddr_in sa;
	socklen_t l = sizeof(sa);
	return getsockname(fe->p[i].fd, (struct sockaddr *)&sa, &l) == 0 ? ntohs(sa.sin_port) : -1;
}

/* ---- room participants ------------------------------------------------------ */

struct part {
	struct room *r;
	atomic_ullong frames, loud, onsets;
	bool prev_loud;
	int nlat;
	int64_t lat[LAT_MAX];
};

static void on_frame(const struct room_frame *f, void *arg)
{
	struct part *p = arg;
	if (f->concealed)
		return;
	int64_t t = time_mono_us();
	double e = 0;
	for (int i = 0; i < ROOM_FRAME_SAMPLES; i += 2)
		e += (double)f->pcm[i] * f->pcm[i];
	bool loud = sqrt(e / (ROOM_FRAME_SAMPLES / 2)) > LOUD_RMS;
	atomic_fetch_add(&p->frames, 1);
	if (loud)
		atomic_fetch_add(&p->loud, 1);
	struct farend *fe = g_fe;
	if (loud && !p->prev_loud && fe) {
		int k = atomic_load(&fe->nonset);
		/* the latest burst sent before now */
		while (k > 0 && fe->onset[k - 1] > t)
			k--;
		if (k > 0 && t - fe->onset[k - 1] < (int64_t)BURST_PERIOD * 20000) {
			atomic_fetch_add(&p->onsets, 1);
			if (p->nlat < LAT_MAX)
				p->lat[p->nlat++] = t - fe->onset[k - 1];
		}
	}
	p->prev_loud = loud;
}

static const struct room_handlers frame_handlers = { .frame = on_frame };

/* ---- events ------------------------------------------------------------------ */

struct counts {
	atomic_long answered, ended, failed;
	atomic_llong answered_us;     /* our receipt of the last call_answered */
};

static void on_event(const struct bus_msg *msg, void *arg)
{
	struct counts *c = arg;
	if (strstr(msg->subject, ".call_answered")) {
		atomic_store(&c->answered_us, time_mono_us());
		atomic_fetch_add(&c->answered, 1);
	} else if (strstr(msg->subject, ".call_ended"))
		atomic_fetch_add(&c->ended, 1);
	else if (strstr(msg->subject, ".call_failed"))
		atomic_fetch_add(&c->failed, 1);
}

static bool wait_count(atomic_long *v, long want, int timeout_ms)
{
	int64_t end = time_mono_us() + (int64_t)timeout_ms * 1000;
	while (atomic_load(v) < want && time_mono_us() < end)
		test_nap_us(5000);
	return atomic_load(v) >= want;
}

static bool wait_int(atomic_int *v, int want, int timeout_ms)
{
	int64_t end = time_mono_us() + (int64_t)timeout_ms * 1000;
	while (atomic_load(v) < want && time_mono_us() < end)
		test_nap_us(5000);
	return atomic_load(v) >= want;
}

static int create_room(struct bus *bus, const char *call_id)
{
	char json[256];
	struct cmd_error ce = { 0 };
	cJSON *data = NULL;
	snprintf(json, sizeof(json), "{\"v\":1,\"call_id\":\"%s\",\"room\":\"call-%s\"}", call_id,
		 call_id);
	cJSON *req = cJSON_Parse(json);
	int err = req ? cmd_request(bus, &data, "rooms.create", req, 5000, &ce) : ENOMEM;
	cJSON_Delete(req);
	cJSON_Delete(data);
	return err;
}

static int job_json(char *buf, size_t len, const char *id, int sip_port)
{
	char *sealed = test_seal_for_call(id, "p");
	if (!sealed)
		return -1;
	int n = snprintf(
		buf, len,
		"{\"v\":1,\"call_id\":\"%s\",\"room\":\"call-%s\",\"to_number\":\"+918044319241\","
		"\"from_number\":\"+918044319240\",\"ring_timeout_s\":30,\"max_duration_s\":600,"
		"\"created_at\":\"2026-11-23T19:00:00.123Z\",\"trunk\":{\"trunk_id\":\"t1\","
		"\"provider\":\"exotel\",\"sip_host\":\"127.0.0.1\",\"sip_port\":%d,"
		"\"transport\":\"tcp\",\"sip_domain\":\"exotel.test\",\"username\":\"u\","
		"\"password_sealed\":\"%s\"}}",
		id, id, sip_port, sealed);
	free(sealed);
	return n;
}

/* Sums the bridge's relay_stopped counters logged after byte `from`. */
struct relay_sums {
	unsigned long long in, out, up, down;
	int legs;
};

static void bridge_sums(const char *log, long from, struct relay_sums *s)
{
	memset(s, 0, sizeof(*s));
	FILE *fp = fopen(log, "r");
	if (!fp)
		return;
	char line[2048];
	if (fseek(fp, from, SEEK_SET) == 0) {
		while (fgets(line, sizeof(line), fp)) {
			const char *p = strstr(line, "rtp in ");
			unsigned long long a, b, c, d;
			if (!strstr(line, "relay_stopped") || !p ||
			    sscanf(p, "rtp in %llu out %llu, frames to room %llu from room %llu",
				   &a, &b, &c, &d) != 4)
				continue;
			s->in += a, s->out += b, s->up += c, s->down += d;
			s->legs++;
		}
	}
	fclose(fp);
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* ---- one round: N transcoded calls ------------------------------------------ */

/* One backend's figures for the side-by-side summary (-1: not measured). */
struct figs {
	int relay_n;                  /* the round below */
	double relay_cpu_pct;         /* sip-bridge, % of a core per call */
	bool relay_short;             /* the round's calls did not get all their frames */
	double lat_p50_ms, lat_p99_ms; /* carrier -> room participant */
	int answer_n;
	double answer_p50_ms, answer_p99_ms;
	double greet_p50;             /* packets with energy of the greeting */
	int held;
	double agent_cpu_pct, bridge_held_cpu_pct; /* per call, the agent listening */
	double agent_kb, bridge_kb;   /* VmRSS per room membership */
};

struct env {
	struct bus *bus;
	struct counts *c;
	int bridge, rm, agent;
	const char *dir, *bridge_log;
	const char *backend;          /* "local" or "livekit" */
	const struct room_ops *ops;   /* our participants' backend */
	void *room_ctx;
	int sip_port;
	double cpu_per_pkt_us; /* of the largest round that kept up, for the rtpengine ratio */
	int cpu_per_pkt_n;
	int max_ok;                   /* the largest N all up with 0 loss */
	struct figs *figs;
};

static int round_n(struct env *E, int n)
{
	int rc = EIO;
	char sipp_log[400], port[16], calls[16], json[1024], msgid[80];
	char (*ids)[ID_UUID_LEN + 1] = calloc((size_t)n, sizeof(*ids));
	struct part *parts = calloc((size_t)n, sizeof(*parts));
	int nparts = 0;
	int sipp = 0;
	struct farend *fe = far_new(MAX_PEERS, "127.0.0.2", BR_PORT_MIN, true);
	int64_t *lat = calloc((size_t)n * LAT_MAX, sizeof(int64_t));
	if (!ids || !parts || !fe || !lat) {
		fprintf(stderr, "bench_relay: setup for %d calls failed\n", n);
		goto out;
	}
	int sp = test_free_port();
	snprintf(port, sizeof(port), "%d", sp);
	snprintf(calls, sizeof(calls), "%d", n);
	snprintf(sipp_log, sizeof(sipp_log), "%s/sipp-%d.log", E->dir, n);
	/* sipp's own media port is unused: a free one */
	char mp[16];
	snprintf(mp, sizeof(mp), "%d", test_free_udp_span(3));
	const char *argv[] = { "sipp",	    "-sf", "tests/sip/uas_relay_bench.xml",
			       "-t",	    "t1",  "-i",
			       "127.0.0.1", "-p",  port,
			       "-m",	    calls, "-nostdin",
			       "-timeout",  "60",  "-max_socket",
			       "1000",	    "-mp", mp,
			       NULL };
	if (test_spawn(&sipp, argv, NULL, sipp_log) || test_wait_port(sp, 10000)) {
		fprintf(stderr, "bench_relay: sipp did not start (%s)\n", sipp_log);
		goto out;
	}
	int64_t t_setup = time_mono_us();
	for (int i = 0; i < n; i++) {
		char rname[64], ident[64];
		if (id_uuid4(ids[i]) || create_room(E->bus, ids[i])) {
			fprintf(stderr, "bench_relay: rooms.create %d failed\n", i);
			goto out;
		}
		snprintf(rname, sizeof(rname), "call-%s", ids[i]);
		snprintf(ident, sizeof(ident), "agent-%s", ids[i]);
		if (E->ops->join(&parts[i].r, E->room_ctx, rname, ident, &frame_handlers,
				 &parts[i])) {
			fprintf(stderr, "bench_relay: join %d failed (%s)\n", i,
				E->ops == &room_livekit ? room_livekit_reason() : E->backend);
			goto out;
		}
		nparts = i + 1;
	}
	long answered0 = atomic_load(&E->c->answered), ended0 = atomic_load(&E->c->ended);
	long failed0 = atomic_load(&E->c->failed);
	long log0 = file_size(E->bridge_log);
	atomic_store(&fe->mode, FAR_SILENCE);
	for (int i = 0; i < n; i++) {
		int len = job_json(json, sizeof(json), ids[i], sp);
		snprintf(msgid, sizeof(msgid), "dial-%s", ids[i]);
		if (bus_js_publish_async(E->bus, "dial.exotel", msgid, json, (size_t)len, 5000))
			goto out;
	}
	uint64_t pub_failed = 0;
	if (bus_js_publish_async_wait(E->bus, 10000, &pub_failed) || pub_failed)
		fprintf(stderr, "bench_relay: %llu dial jobs not stored\n",
			(unsigned long long)pub_failed);
	bool all_up = wait_count(&E->c->answered, answered0 + n, 20000) &&
		      wait_int(&fe->active, n, 5000);
	int64_t t_up = time_mono_us();
	int active = atomic_load(&fe->active);
	if (!all_up)
		fprintf(stderr, "bench_relay: %d calls: %ld answered, %d with media, %ld failed\n",
			n, atomic_load(&E->c->answered) - answered0, active,
			atomic_load(&E->c->failed) - failed0);
	if (active == 0)
		goto out;
	test_nap_us(WARMUP_MS * 1000);

	/* the steady window: bursts from every far end */
	unsigned long long frames0 = 0, rcvd0 = atomic_load(&fe->rcvd_total);
	for (int i = 0; i < nparts; i++)
		frames0 += atomic_load(&parts[i].frames);
	struct test_threads th0, th1;
	test_threads_cpu(&th0, E->bridge);
	int64_t cpu0 = test_cpu_us(E->bridge), rcpu0 = test_cpu_us(E->rm),
		me0 = test_cpu_us(getpid());
	int64_t w0 = time_mono_us();
	atomic_store(&fe->mode, FAR_BURSTS);
	g_fe = fe;
	test_nap_us(WINDOW_MS * 1000);
	int64_t cpu1 = test_cpu_us(E->bridge), rcpu1 = test_cpu_us(E->rm),
		me1 = test_cpu_us(getpid());
	int64_t w1 = time_mono_us();
	test_threads_cpu(&th1, E->bridge);
	unsigned long long frames1 = 0, rcvd1 = atomic_load(&fe->rcvd_total);
	for (int i = 0; i < nparts; i++)
		frames1 += atomic_load(&parts[i].frames);
	atomic_store(&fe->mode, FAR_SILENCE);
	test_nap_us(400000); /* the last burst reaches the room */
	g_fe = NULL;
	atomic_store(&fe->mode, FAR_OFF);
	test_nap_us(300000); /* in flight: counted by the bridge before it stops */

	/* hang up: every leg logs its counters */
	for (int i = 0; i < n; i++) {
		char subject[96];
		static const char body[] = "{\"v\":1,\"reason\":\"bench_done\"}";
		snprintf(subject, sizeof(subject), "cmd.calls.%s.hangup", ids[i]);
		if (bus_publish(E->bus, subject, body, strlen(body)))
			fprintf(stderr, "bench_relay: hangup %d not sent\n", i);
	}
	long answered = atomic_load(&E->c->answered) - answered0;
	bool ended = wait_count(&E->c->ended, ended0 + answered, 15000);
	struct relay_sums rs = { 0 };
	for (int tries = 0; tries < 100;
	     tries++) { /* relay_stopped is logged by the media thread */
		bridge_sums(E->bridge_log, log0, &rs);
		if (rs.legs >= answered)
			break;
		test_nap_us(50000);
	}
	struct room_stats st, tot = { 0 };
	unsigned long long loud = 0, onsets = 0;
	int nlat = 0;
	for (int i = 0; i < nparts; i++) {
		E->ops->stats(parts[i].r, &st);
		tot.packets_received += st.packets_received;
		tot.packets_dropped += st.packets_dropped;
		tot.frames_received += st.frames_received;
		tot.frames_concealed += st.frames_concealed;
		loud += atomic_load(&parts[i].loud);
		onsets += atomic_load(&parts[i].onsets);
		for (int k = 0; k < parts[i].nlat; k++)
			lat[nlat++] = parts[i].lat[k];
	}
	unsigned long long sent = atomic_load(&fe->sent_total),
			   far_rcvd = atomic_load(&fe->rcvd_total);
	int bursts = atomic_load(&fe->nonset);
	double secs = (double)(w1 - w0) / 1e6;
	double cpu_pct =
		cpu0 >= 0 && cpu1 >= 0 ? (double)(cpu1 - cpu0) / 1e6 / secs / active * 100.0 : -1;
	double rm_pct = rcpu0 >= 0 && rcpu1 >= 0
				? (double)(rcpu1 - rcpu0) / 1e6 / secs / active * 100.0
				: -1;
	unsigned long long pkts_fwd = (frames1 - frames0) + (rcvd1 - rcvd0);
	double per_pkt = pkts_fwd ? (double)(cpu1 - cpu0) / (double)pkts_fwd : -1;
	long long lost_in = (long long)sent - (long long)rs.in;
	long long lost_up = (long long)rs.up - (long long)tot.packets_received;
	long long lost_down = (long long)rs.out - (long long)far_rcvd;
	/* end to end in the steady window: 50 frames a second per call each way
	 * (one frame of slack per call for the window's edges) */
	double want = (double)active * secs * 50.0;
	double got_up = (double)(frames1 - frames0), got_down = (double)(rcvd1 - rcvd0);
	double short_up = want - got_up > active ? (want - got_up) / want * 100.0 : 0.0;
	double short_down = want - got_down > active ? (want - got_down) / want * 100.0 : 0.0;
	int64_t p50 = test_pct(lat, nlat, 50), p99 = test_pct(lat, nlat, 99);
	bool zero_loss = lost_in == 0 && lost_up == 0 && lost_down == 0 && rs.legs == active &&
			 short_up == 0.0 && short_down == 0.0 &&
			 (long long)onsets == (long long)bursts * active;
	bool saturated = short_up > 0.0 || short_down > 0.0;
	if (zero_loss || E->cpu_per_pkt_us <= 0) { /* the largest round that kept up */
		E->cpu_per_pkt_us = per_pkt;
		E->cpu_per_pkt_n = n;
	}
	if (zero_loss && active == n)
		E->max_ok = n;
	if (E->figs->relay_n < 0 || n == LK_CALLS) { /* the round both backends run */
		E->figs->relay_n = n;
		E->figs->relay_cpu_pct = cpu_pct;
		E->figs->relay_short = saturated;
		E->figs->lat_p50_ms = p50 >= 0 ? (double)p50 / 1e3 : -1;
		E->figs->lat_p99_ms = p99 >= 0 ? (double)p99 / 1e3 : -1;
	}

	printf("  %d calls (setup %.1f s): %ld answered, %d with media both ways, %ld failed\n", n,
	       (double)(t_up - t_setup) / 1e6, answered, active,
	       atomic_load(&E->c->failed) - failed0);
	double cpu_target = E->ops == &room_livekit ? TARGET_LK_CPU_PCT : TARGET_CPU_PCT;
	printf("    bridge CPU %.3f %% of a core per call over %.1f s (%.1f %% of a core in all)   "
	       "(target <= %.1f %%) %s\n", cpu_pct, secs, cpu_pct * active, cpu_target,
	       saturated ? "NOT MET: saturated, the calls did not get their frames (below)" :
	       cpu_pct >= 0 && cpu_pct <= cpu_target ? "ok" : "ABOVE TARGET");
	print_threads(&th0, &th1, secs);
	printf("    bridge CPU per packet forwarded %.2f us (%llu packets out: to the room and to "
	       "the carrier); "
	       "room-manager %.3f %% of a core per call\n",
	       per_pkt, pkts_fwd, rm_pct);
	printf("    delivered in the window, per call per second (50 sent each way): carrier -> "
	       "room %.1f "
	       "(%.2f %% short), room side -> carrier %.1f (%.2f %% short)\n",
	       got_up / active / secs, short_up, got_down / active / secs, short_down);
	printf("    whole calls: carrier -> bridge: sent %llu, bridge accepted %llu (lost %lld); "
	       "bridge made %llu "
	       "frames for the room from them\n",
	       sent, rs.in, lost_in, rs.up);
	printf("    whole calls: bridge -> room: bridge sent %llu frames, participants received "
	       "%llu packets "
	       "(lost %lld; decoder concealed %llu, dropped %llu)\n",
	       rs.up, (unsigned long long)tot.packets_received, lost_up,
	       (unsigned long long)tot.frames_concealed, (unsigned long long)tot.packets_dropped);
	printf("    whole calls: bridge -> carrier: bridge sent %llu, far ends received %llu (lost "
	       "%lld)\n",
	       rs.out, far_rcvd, lost_down);
	printf("    bursts: %d sent per call, %llu onsets seen of %lld, %.1f loud frames per burst "
	       "(%d sent)\n", bursts, onsets, (long long)bursts * active,
	       onsets ? (double)loud / (double)onsets : 0.0, BURST_LEN);
	printf("    loss (counters, window delivery, every burst seen)   (target 0) %s\n",
	       zero_loss ? "ok" : "BELOW TARGET");
	if (E->ops == &room_livekit)
		printf("    added latency far end send -> room participant decoded (8k->48k, Opus, "
		       "WebRTC through "
		       "the test server, libwebrtc's jitter buffer): p50 %.1f ms  p99 %.1f ms  (%d "
		       "samples)   "
		       "(no target on LiveKit; local's is p99 <= %.0f ms)\n",
		       (double)p50 / 1e3, (double)p99 / 1e3, nlat, TARGET_P99_MS);
	else
		printf("    added latency far end send -> room participant decoded (8k->48k, Opus, "
		       "room-manager hop, participant in sequence as agent-worker): "
		       "p50 %.1f ms  p99 %.1f ms  (%d samples)   (target p99 <= %.0f ms) %s\n",
		       (double)p50 / 1e3, (double)p99 / 1e3, nlat, TARGET_P99_MS,
		       p99 >= 0 && (double)p99 / 1e3 <= TARGET_P99_MS ? "ok" : "ABOVE TARGET");
	if (E->ops == &room_local && n == MAXN) {
		char note[96];
		double p50_ms = p50 >= 0 ? (double)p50 / 1e3 : -1;
		double p99_ms = p99 >= 0 ? (double)p99 / 1e3 : -1;
		snprintf(note, sizeof(note), "%d calls, %d samples, %.2f %%/%.2f %% short", n,
			 nlat, short_up, short_down);
		bench_figure("relay.carrier_to_room_p50@200", p50_ms, "<=", TARGET_P50_MS, "ms",
			     note);
		bench_figure("relay.carrier_to_room_p99@200", p99_ms, "<=", TARGET_P99_MS, "ms",
			     note);
		/* is the machine full? the bridge, room-manager and this bench's far
		 * ends and decoders, against the cores there are */
		double me = me0 >= 0 && me1 >= 0 ? (double)(me1 - me0) / 1e6 / secs * 100 : -1;
		double br = cpu_pct * active, rm = rm_pct * active;
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		snprintf(note, sizeof(note), "bridge %.0f, room-manager %.0f, bench %.0f; of %ld",
			 br, rm, me, 100 * cores);
		bool known = cpu_pct >= 0 && rm_pct >= 0 && me >= 0;
		bench_figure("relay.machine_cpu@200", known ? br + rm + me : -1, NULL, 0, "% core",
			     note);
	}
	printf("    (this bench on the same cores: %.1f %% of a core (far ends, %d Opus decoders); "
	       "our sender's "
	       "longest tick %lld us, %ld timer ticks missed)\n",
	       me0 >= 0 && me1 >= 0 ? (double)(me1 - me0) / 1e6 / secs * 100.0 : -1.0, nparts,
	       (long long)atomic_load(&fe->max_send_us), atomic_load(&fe->missed_ticks));
	if (!ended)
		fprintf(stderr, "bench_relay: not every call ended after hangup\n");
	rc = 0;
out:
	g_fe = NULL;
	for (int i = 0; i < nparts; i++)
		E->ops->leave(parts[i].r);
	if (fe)
		atomic_store(&fe->mode, FAR_OFF);
	far_free(fe);
	test_stop(&sipp, rc == 0 ? SIGTERM : SIGKILL, 10000);
	free(ids);
	free(parts);
	free(lat);
	return rc;
}

/* ---- the agent: answer -> first agent audio at the far end ---------------- */

static long proc_rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

/* A room and the agent dispatched into it, waiting for the answer (as
 * api-gateway does for an outbound Exotel call). */
static int agent_open(struct env *E, const char *id)
{
	char body[1024];
	int err = create_room(E->bus, id);
	if (err)
		return err;
	snprintf(body, sizeof(body),
		 "{\"v\":1,\"call_id\":\"%s\",\"room\":\"call-%s\",\"kind\":\"outbound\","
		 "\"provider\":\"exotel\","
		 "\"wait_for_answer\":true,\"assistant\":{\"start_instruction\":\"Hello, this is "
		 "the clinic.\","
		 "\"interaction_config\":{\"silence_timeout_s\":60,\"fillers_enabled\":false}},"
		 "\"metadata\":{}}",
		 id, id);
	for (int i = 0; i < 100; i++) { /* agent-worker may not have subscribed yet */
		char *reply = NULL;
		err = bus_request(E->bus, &reply, NULL, "agents.dispatch", body, strlen(body),
				  10000);
		if (!err && !strstr(reply, "\"ok\":true"))
			err = strstr(reply, "\"code\":\"unavailable\"") ? EBUSY : EIO;
		if (err == EIO)
			fprintf(stderr, "bench_relay: agents.dispatch refused: %s\n", reply);
		free(reply);
		if (err != ENOENT && err != EBUSY)
			break;
		test_nap_us(50000);
	}
	return err;
}

static int dial(struct env *E, const char *id, int sip_port)
{
	char json[1024], msgid[80];
	int len = job_json(json, sizeof(json), id, sip_port);
	snprintf(msgid, sizeof(msgid), "dial-%s", id);
	return bus_js_publish(E->bus, "dial.exotel", msgid, json, (size_t)len, 5000);
}

static void hangup_call(struct env *E, const char *id)
{
	char subject[96];
	static const char body[] = "{\"v\":1,\"reason\":\"bench_done\"}";
	snprintf(subject, sizeof(subject), "cmd.calls.%s.hangup", id);
	if (bus_publish(E->bus, subject, body, strlen(body)))
		fprintf(stderr, "bench_relay: hangup %s not sent\n", id);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct_of(double *v, int n, int p)
{
	if (n <= 0)
		return -1;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	int k = (n * p + 99) / 100 - 1;
	return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static int agent_phase(struct env *E)
{
	int rc = EIO, sipp = 0, nlat = 0, opened = 0,
	    live_from = 0; /* calls [live_from, opened) up */
	char port[16], calls[16], mp[16], sipp_log[400];
	char ids[AGENT_SEQ + AGENT_HELD][ID_UUID_LEN + 1];
	double lat[AGENT_SEQ], greet[AGENT_SEQ];
	struct figs *F = E->figs;
	struct farend *fe = far_new(MAX_PEERS, "127.0.0.2", BR_PORT_MIN, true);
	if (!fe)
		return EIO;
	int sp = test_free_port();
	snprintf(port, sizeof(port), "%d", sp);
	snprintf(calls, sizeof(calls), "%d", AGENT_SEQ + AGENT_HELD);
	snprintf(mp, sizeof(mp), "%d", test_free_udp_span(3));
	snprintf(sipp_log, sizeof(sipp_log), "%s/sipp-agent-%s.log", E->dir, E->backend);
	const char *argv[] = { "sipp",	    "-sf", "tests/sip/uas_agent_bench.xml",
			       "-t",	    "t1",  "-i",
			       "127.0.0.1", "-p",  port,
			       "-m",	    calls, "-nostdin",
			       "-timeout",  "90",  "-mp",
			       mp,	    NULL };
	if (test_spawn(&sipp, argv, NULL, sipp_log) || test_wait_port(sp, 10000)) {
		fprintf(stderr, "bench_relay: sipp did not start (%s)\n", sipp_log);
		goto out;
	}
	atomic_store(&fe->mode, FAR_SILENCE);
	atomic_store(&fe->watch_loud, true);

	/* one call at a time: answer -> the agent's greeting at the carrier */
	for (int i = 0; i < AGENT_SEQ; i++) {
		long a0 = atomic_load(&E->c->answered), e0 = atomic_load(&E->c->ended);
		if (id_uuid4(ids[i]) || agent_open(E, ids[i])) {
			fprintf(stderr, "bench_relay: call %d: room or agent dispatch failed\n", i);
			goto out;
		}
		opened = i + 1;
		atomic_store(&fe->first_loud_us, 0);
		atomic_store(&fe->loud_pkts, 0);
		if (dial(E, ids[i], sp) || !wait_count(&E->c->answered, a0 + 1, 10000)) {
			fprintf(stderr, "bench_relay: call %d not answered\n", i);
			goto out;
		}
		int64_t answered = atomic_load(&E->c->answered_us);
		int64_t end = time_mono_us() + 5000000;
		while (!atomic_load(&fe->first_loud_us) && time_mono_us() < end)
			test_nap_us(1000);
		int64_t heard = atomic_load(&fe->first_loud_us);
		if (heard > answered) {
			int64_t left = answered + GREETING_MS * 1000LL - time_mono_us();
			if (left > 0)
				test_nap_us(left); /* the whole greeting */
			greet[nlat] = (double)atomic_load(&fe->loud_pkts);
			lat[nlat++] = (double)(heard - answered) / 1000.0;
		} else {
			printf("    call %d: no agent audio at the carrier within 5 s of the "
			       "answer\n",
			       i);
		}
		hangup_call(E, ids[i]);
		live_from = i + 1;
		if (!wait_count(&E->c->ended, e0 + 1, 10000))
			fprintf(stderr, "bench_relay: call %d did not end\n", i);
	}
	test_nap_us(500000); /* the agents of the calls above leave their rooms */

	/* calls at once, the agent listening: CPU and memory per membership */
	long ra0 = proc_rss_kb(E->agent), rb0 = proc_rss_kb(E->bridge);
	long a0 = atomic_load(&E->c->answered), e0 = atomic_load(&E->c->ended);
	for (int i = AGENT_SEQ; i < AGENT_SEQ + AGENT_HELD; i++) {
		if (id_uuid4(ids[i]) || agent_open(E, ids[i]) || dial(E, ids[i], sp)) {
			fprintf(stderr, "bench_relay: held call %d failed to start\n", i);
			goto out;
		}
		opened = i + 1;
	}
	bool up = wait_count(&E->c->answered, a0 + AGENT_HELD, 15000);
	test_nap_us(2500000); /* the greetings are spoken */
	int64_t ca0 = test_cpu_us(E->agent), cb0 = test_cpu_us(E->bridge), w0 = time_mono_us();
	test_nap_us(AGENT_WINDOW_MS * 1000);
	int64_t ca1 = test_cpu_us(E->agent), cb1 = test_cpu_us(E->bridge), w1 = time_mono_us();
	long ra1 = proc_rss_kb(E->agent), rb1 = proc_rss_kb(E->bridge);
	for (int i = live_from; i < opened; i++)
		hangup_call(E, ids[i]);
	live_from = opened;
	bool ended = wait_count(&E->c->ended, e0 + AGENT_HELD, 15000);
	double secs = (double)(w1 - w0) / 1e6;

	F->answer_n = nlat;
	F->answer_p50_ms = pct_of(lat, nlat, 50);
	F->answer_p99_ms = pct_of(lat, nlat, 99);
	F->greet_p50 = pct_of(greet, nlat, 50);
	double greet_min = pct_of(greet, nlat, 0);
	F->held = up ? AGENT_HELD : 0;
	F->agent_cpu_pct = up && ca0 >= 0 && ca1 >= 0
				   ? (double)(ca1 - ca0) / 1e6 / secs / AGENT_HELD * 100.0
				   : -1;
	F->bridge_held_cpu_pct = up && cb0 >= 0 && cb1 >= 0
					 ? (double)(cb1 - cb0) / 1e6 / secs / AGENT_HELD * 100.0
					 : -1;
	F->agent_kb = up && ra0 > 0 && ra1 > 0 ? (double)(ra1 - ra0) / AGENT_HELD : -1;
	F->bridge_kb = up && rb0 > 0 && rb1 > 0 ? (double)(rb1 - rb0) / AGENT_HELD : -1;
	printf("  with agent-worker (local providers) in each call's room, sipp answering:\n");
	printf("    answer -> first agent audio at the carrier's RTP socket (call_answered -> "
	       "first packet "
	       "with energy): p50 %.1f ms  p99 %.1f ms  (%d of %d calls, one at a time)   (target "
	       "<= %.0f ms) %s\n",
	       F->answer_p50_ms, F->answer_p99_ms, nlat, AGENT_SEQ, TARGET_ANSWER_MS,
	       nlat && F->answer_p99_ms <= TARGET_ANSWER_MS ? "ok" : "ABOVE TARGET");
	printf("    the greeting at the carrier: packets with energy within %d ms of the answer "
	       "p50 %.0f, min %.0f "
	       "(a shorter greeting than the other backend's lost its start)\n",
	       GREETING_MS, F->greet_p50, greet_min);
	printf("    %d calls at once%s, the agent listening to the carrier's silence for %.1f s: "
	       "agent-worker "
	       "%.2f %% of a core per session, sip-bridge %.2f %% per call   (target <= %.1f %% "
	       "per bridged call) %s\n",
	       AGENT_HELD, up ? "" : " (NOT all answered)", secs, F->agent_cpu_pct,
	       F->bridge_held_cpu_pct, TARGET_LK_CPU_PCT,
	       F->bridge_held_cpu_pct >= 0 && F->bridge_held_cpu_pct <= TARGET_LK_CPU_PCT
		       ? "ok"
		       : "ABOVE TARGET");
	printf("    resident memory per room membership (VmRSS with the %d calls minus before): "
	       "agent-worker "
	       "%.0f kB, sip-bridge %.0f kB (%ld -> %ld kB, %ld -> %ld kB)\n",
	       AGENT_HELD, F->agent_kb, F->bridge_kb, ra0, ra1, rb0, rb1);
	if (!ended)
		fprintf(stderr, "bench_relay: not every held call ended after hangup\n");
	rc = 0;
out:
	for (int i = live_from; i < opened; i++)
		hangup_call(E, ids[i]);
	atomic_store(&fe->mode, FAR_OFF);
	far_free(fe);
	test_stop(&sipp, rc == 0 ? SIGTERM : SIGKILL, 10000);
	return rc;
}

/* ---- rtpengine ------------------------------------------------------------ */

/* Sends one ng command, reads the reply into out. */
static int ng(int fd, const struct sockaddr_in *to, const char *msg, size_t len, char *out,
	      size_t outlen)
{
	if (sendto(fd, msg, len, 0, (const struct sockaddr *)to, sizeof(*to)) != (ssize_t)len)
		return EIO;
	struct pollfd p = { fd, POLLIN, 0 };
	if (poll(&p, 1, 3000) != 1)
		return ETIMEDOUT;
	ssize_t n = recv(fd, out, outlen - 1, 0);
	if (n <= 0)
		return EIO;
	out[n] = '\0';
	return 0;
}

/* offer (side a's SDP) or answer (side b's): the port rtpengine gives the other side. */
static int ng_call(int fd, const struct sockaddr_in *to, bool offer, int i, int media_port)
{
	char sdp[512], msg[1200], reply[4096], callid[32];
	int sl = snprintf(
		sdp, sizeof(sdp),
		"v=0\r\no=- %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n",
		i, media_port);
	int cl = snprintf(callid, sizeof(callid), "bench-%d", i);
	int ml;
	if (offer)
		ml = snprintf(msg, sizeof(msg),
			      "o%d d3:sdp%d:%s7:call-id%d:%s7:command5:offer8:from-tag2:fte", i, sl,
			      sdp, cl, callid);
	else
		ml = snprintf(
			msg, sizeof(msg),
			"a%d d3:sdp%d:%s7:call-id%d:%s7:command6:answer8:from-tag2:ft6:to-tag2:tte",
			i, sl, sdp, cl, callid);
	if (ng(fd, to, msg, (size_t)ml, reply, sizeof(reply)))
		return -1;
	const char *m = strstr(reply, "m=audio ");
	if (!strstr(reply, "6:result2:ok") || !m) {
		fprintf(stderr, "bench_relay: rtpengine %s: %.200s\n", offer ? "offer" : "answer",
			reply);
		return -1;
	}
	return (int)strtol(m + 8, NULL, 10);
}

static void bench_rtpengine(const char *dir, double ours_per_pkt, int ours_n)
{
	char ngp[32], log[400], pmin[16], pmax[16];
	int port = test_free_udp_port(), fd = -1, pid = 0;
	snprintf(ngp, sizeof(ngp), "127.0.0.1:%d", port);
	snprintf(log, sizeof(log), "%s/rtpengine.log", dir);
	snprintf(pmin, sizeof(pmin), "%d", RTPE_PORT_MIN);
	snprintf(pmax, sizeof(pmax), "%d", RTPE_PORT_MAX);
	const char *argv[] = { "rtpengine",
			       "--table=-1",
			       "--interface=127.0.0.1",
			       "--listen-ng",
			       ngp,
			       "--foreground",
			       "--log-stderr",
			       "--log-level=4",
			       "--port-min",
			       pmin,
			       "--port-max",
			       pmax,
			       NULL };
	int err = test_spawn(&pid, argv, NULL, log);
	struct farend *fe = NULL;
	const char *why = NULL;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (err || fd < 0) {
		why = "cannot start";
		goto out;
	}
	char reply[256];
	bool up = false;
	for (int i = 0; i < 50 && !up; i++) {
		static const char ping[] = "p d7:command4:pinge";
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			pid = 0;
			break;
		}
		up = ng(fd, &to, ping, strlen(ping), reply, sizeof(reply)) == 0 &&
		     strstr(reply, "pong");
		if (!up)
			test_nap_us(100000);
	}
	if (!up) {
		why = "not installed, or it did not answer ng ping (see the log)";
		goto out;
	}
	/* peers 2i (side a) and 2i+1 (side b) */
	fe = far_new(2 * RTPE_CALLS, "127.0.0.1", 0, false);
	if (!fe) {
		why = "far-end sockets";
		goto out;
	}
	for (int i = 0; i < RTPE_CALLS; i++) {
		int to_a = ng_call(fd, &to, true, i, peer_port(fe, 2 * i));   /* b sends here */
		int to_b = ng_call(fd, &to, false, i, peer_port(fe, 2 * i + 1)); /* a sends here */
		if (to_a <= 0 || to_b <= 0) {
			why = "ng offer/answer failed";
			goto out;
		}
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)to_b),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		struct sockaddr_in b = a;
		b.sin_port = htons((uint16_t)to_a);
		fe->p[2 * i].dst = a;
		fe->p[2 * i + 1].dst = b;
	}
	for (int i = 0; i < fe->np; i++)
		fe->p[i].active = true; /* before FAR_SILENCE: the thread reads it after */
	atomic_store(&fe->mode, FAR_SILENCE);
	test_nap_us(WARMUP_MS * 1000);
	unsigned long long s0 = atomic_load(&fe->sent_total), r0 = atomic_load(&fe->rcvd_total);
	int64_t c0 = test_cpu_us(pid), w0 = time_mono_us();
	test_nap_us(WINDOW_MS * 1000);
	int64_t c1 = test_cpu_us(pid), w1 = time_mono_us();
	unsigned long long s1 = atomic_load(&fe->sent_total), r1 = atomic_load(&fe->rcvd_total);
	atomic_store(&fe->mode, FAR_OFF);
	test_nap_us(300000); /* what is in flight arrives */
	unsigned long long st = atomic_load(&fe->sent_total), rt = atomic_load(&fe->rcvd_total);
	double secs = (double)(w1 - w0) / 1e6;
	double per_pkt = r1 > r0 ? (double)(c1 - c0) / (double)(r1 - r0) : -1;
	double pct_call = (double)(c1 - c0) / 1e6 / secs / RTPE_CALLS * 100.0;
	printf("  rtpengine (Debian, userspace --table=-1), %d calls of plain PCMU both ways:\n",
	       RTPE_CALLS);
	printf("    window %.1f s: sent %llu, relayed back to us %llu; whole run: sent %llu, "
	       "received %llu "
	       "(lost %lld)\n",
	       secs, s1 - s0, r1 - r0, st, rt, (long long)st - (long long)rt);
	printf("    rtpengine CPU %.2f us per packet forwarded, %.3f %% of a core per call\n",
	       per_pkt, pct_call);
	bench_figure("rtpengine.cpu_per_packet_plain", per_pkt, NULL, 0, "µs",
		     "Debian rtpengine, userspace, 200 calls of plain PCMU");
	if (per_pkt > 0 && ours_per_pkt > 0)
		printf("    ratio, NOT like-for-like: our TRANSCODING relay (%d calls, %.2f us per "
		       "packet) / its PLAIN "
		       "relay = %.2f   (target <= %.1f is for plain relay: not measurable, we have "
		       "no plain mode)\n",
		       ours_n, ours_per_pkt, ours_per_pkt / per_pkt, TARGET_RATIO);
out:
	if (why) {
		printf("  rtpengine: unavailable (%s; log %s)\n", why, log);
		bench_figure_absent("rtpengine.cpu_per_packet_plain", NULL, 0, "µs", why);
	}
	bench_figure_absent("relay.plain_vs_rtpengine", "<=", TARGET_RATIO, "ratio",
			    "no passthrough mode: the bridge always transcodes G.711 <-> Opus");
	far_free(fe);
	if (fd >= 0)
		close(fd);
	test_stop(&pid, SIGTERM, 10000);
}

/* ---- one backend: room-manager, sip-bridge, agent-worker ------------------ */

struct svc_env {
	char v[12][440];
	const char *p[16];
	int n;
};

static void svc_env_add(struct svc_env *e, const char *name, const char *value)
{
	if (e->n < 12 &&
	    snprintf(e->v[e->n], sizeof(e->v[0]), "%s=%s", name, value) < (int)sizeof(e->v[0])) {
		e->p[e->n] = e->v[e->n];
		e->n++;
		e->p[e->n] = NULL;
	}
}

/* NATS_URL, HEALTH_ADDR and the backend's variables (lk NULL: local). */
static void svc_env_base(struct svc_env *e, const char *nats_url, int health,
			 const struct fake_lk *lk)
{
	char v[64];
	memset(e, 0, sizeof(*e));
	svc_env_add(e, "NATS_URL", nats_url);
	snprintf(v, sizeof(v), "127.0.0.1:%d", health);
	svc_env_add(e, "HEALTH_ADDR", v);
	if (lk) {
		svc_env_add(e, "LIVEKIT_URL", lk->url);
		svc_env_add(e, "LIVEKIT_API_KEY", LK_KEY);
		svc_env_add(e, "LIVEKIT_API_SECRET", LK_SECRET);
	} else {
		svc_env_add(e, "ROOM_BACKEND", "local");
	}
}

static int svc_spawn(int *pidp, const char *build, const char *name, const char *dir,
		     const char *backend, const struct svc_env *e, char *log, size_t loglen)
{
	char bin[300];
	snprintf(bin, sizeof(bin), "%s/bin/%s", build, name);
	snprintf(log, loglen, "%s/%s-%s.log", dir, name, backend);
	return test_spawn(pidp, (const char *const[]){ bin, NULL }, e->p, log);
}

/* Starts the three services on E->backend, runs the rounds and the agent
 * phase, stops them. */
static int section(struct env *E, const char *build, const char *nats_url, const struct fake_lk *lk,
		   const int *rounds, int nrounds)
{
	int rc = EIO;
	char v[420], rm_log[420], agent_log[420], bridge_log[420];
	int sip_port = test_free_port_span(1), health = test_free_port();
	int rmhealth = test_free_port();
	int ahealth = test_free_port();
	struct svc_env e;

	svc_env_base(&e, nats_url, rmhealth, lk);
	snprintf(v, sizeof(v), "%s/rec", E->dir);
	svc_env_add(&e, "RECORDINGS_DIR", v);
	snprintf(v, sizeof(v), "%d", RM_PORT_MIN);
	svc_env_add(&e, "RTP_PORT_MIN", v);
	snprintf(v, sizeof(v), "%d", RM_PORT_MAX);
	svc_env_add(&e, "RTP_PORT_MAX", v);
	svc_env_add(&e, "LOG_LEVEL", "warn");
	int rm_err = svc_spawn(&E->rm, build, "room-manager", E->dir, E->backend, &e, rm_log,
			       sizeof(rm_log));

	svc_env_base(&e, nats_url, health, lk);
	snprintf(v, sizeof(v), "127.0.0.1:%d", sip_port);
	svc_env_add(&e, "SIP_BIND", v);
	snprintf(v, sizeof(v), "%d", BR_PORT_MIN);
	svc_env_add(&e, "RTP_PORT_MIN", v);
	snprintf(v, sizeof(v), "%d", BR_PORT_MAX);
	svc_env_add(&e, "RTP_PORT_MAX", v);
	svc_env_add(&e, "MAX_CALLS", "250");
	svc_env_add(&e, "LOG_LEVEL", "info");
	svc_env_add(&e, "INSTANCE", "bench");
	svc_env_add(&e, "SECRETS_KEY", TEST_SECRETS_KEY);
	int bridge_err = svc_spawn(&E->bridge, build, "sip-bridge", E->dir, E->backend, &e,
				   bridge_log, sizeof(bridge_log));
	E->bridge_log = bridge_log;

	svc_env_base(&e, nats_url, ahealth, lk);
	svc_env_add(&e, "MAX_SESSIONS", "16");
	svc_env_add(&e, "ANSWER_TIMEOUT_S", "30");
	svc_env_add(&e, "OPENAI_BASE_URL", "http://127.0.0.1:9");
	svc_env_add(&e, "OUTBOUND_ALLOW_PRIVATE", "true"); /* the base URL above is loopback */
	svc_env_add(&e, "LOG_LEVEL", "warn");
	int agent_err = svc_spawn(&E->agent, build, "agent-worker", E->dir, E->backend, &e,
				  agent_log, sizeof(agent_log));

	if (rm_err || test_wait_port(rmhealth, 10000)) {
		fprintf(stderr, "bench_relay: room-manager did not start (log %s)\n", rm_log);
		goto out;
	}
	if (bridge_err || test_wait_port(sip_port, 10000) || test_wait_port(health, 10000)) {
		fprintf(stderr, "bench_relay: sip-bridge did not start (log %s)\n", bridge_log);
		goto out;
	}
	if (agent_err || test_wait_port(ahealth, 10000)) {
		fprintf(stderr, "bench_relay: agent-worker did not start (log %s)\n", agent_log);
		goto out;
	}
	/* room-manager's command subscriptions can lag its /readyz */
	for (int i = 0; i < 100; i++) {
		char *reply = NULL;
		static const char probe[] = "{\"v\":1,\"room\":\"probe\",\"identity\":\"probe\"}";
		if (bus_request(E->bus, &reply, NULL, "rooms.leave", probe, strlen(probe), 1000) ==
		    0) {
			free(reply);
			break;
		}
		test_nap_us(50000);
	}
	if (lk)
		printf("bench_relay: sip-bridge relaying G.711 <-> Opus rooms on LiveKit (the test "
		       "server, werift "
		       "in Node, not LiveKit, on the same cores), sipp + our RTP far ends, %d "
		       "cores, network "
		       "namespace\n",
		       (int)sysconf(_SC_NPROCESSORS_ONLN));
	else
		printf("bench_relay: sip-bridge (%s/bin) relaying G.711 <-> Opus rooms "
		       "(room-manager local), sipp + "
		       "our RTP far ends, %d cores, loopback\n",
		       build, (int)sysconf(_SC_NPROCESSORS_ONLN));
	for (int r = 0; r < nrounds; r++)
		if (round_n(E, rounds[r]))
			goto out;
	if (agent_phase(E))
		goto out;
	rc = 0;
out:
	test_stop(&E->agent, SIGTERM, 10000);
	test_stop(&E->bridge, SIGTERM, 10000);
	test_stop(&E->rm, SIGTERM, 10000);
	E->bridge_log = NULL;
	return rc;
}

/* v with `prec` decimals and `unit`, "-" when not measured (< 0). */
static void fig(char *buf, size_t len, double v, int prec, const char *unit)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.*f%s", prec, v, unit);
}

static void summary(const struct figs *l, const struct figs *k)
{
	char a[32], b[32], c[32], d[32];
	printf("bench_relay: side by side          local            livekit (test server)   "
	       "target\n");
	fig(a, sizeof(a), l->relay_cpu_pct, 3, l->relay_short ? " % (short)" : " %");
	fig(b, sizeof(b), k->relay_cpu_pct, 3, k->relay_short ? " % (short)" : " %");
	printf("  sip-bridge CPU per bridged call  %-16s %-23s <= %.0f %% of a core (%d calls "
	       "each)\n",
	       a, b, TARGET_LK_CPU_PCT, LK_CALLS);
	fig(a, sizeof(a), l->lat_p50_ms, 1, "");
	fig(b, sizeof(b), l->lat_p99_ms, 1, "");
	fig(c, sizeof(c), k->lat_p50_ms, 1, "");
	fig(d, sizeof(d), k->lat_p99_ms, 1, "");
	printf("  carrier -> participant p50/p99   %s / %s ms%*s %s / %s ms%*s (local p99 <= %.0f "
	       "ms)\n",
	       a, b, (int)(10 - strlen(a) - strlen(b)), "", c, d, (int)(17 - strlen(c) - strlen(d)),
	       "", TARGET_P99_MS);
	fig(a, sizeof(a), l->answer_p50_ms, 1, "");
	fig(b, sizeof(b), l->answer_p99_ms, 1, "");
	fig(c, sizeof(c), k->answer_p50_ms, 1, "");
	fig(d, sizeof(d), k->answer_p99_ms, 1, "");
	printf("  answer -> agent audio p50/p99    %s / %s ms%*s %s / %s ms%*s <= %.0f ms\n", a, b,
	       (int)(10 - strlen(a) - strlen(b)), "", c, d, (int)(17 - strlen(c) - strlen(d)), "",
	       TARGET_ANSWER_MS);
	fig(a, sizeof(a), l->greet_p50, 0, " packets");
	fig(b, sizeof(b), k->greet_p50, 0, " packets");
	printf("  greeting heard at the carrier    %-16s %-23s (p50, with energy: same = nothing "
	       "lost)\n",
	       a, b);
	fig(a, sizeof(a), l->agent_cpu_pct, 2, " %");
	fig(b, sizeof(b), k->agent_cpu_pct, 2, " %");
	printf("  agent-worker CPU per session     %-16s %-23s (listening, %d at once)\n", a, b,
	       AGENT_HELD);
	fig(a, sizeof(a), l->bridge_held_cpu_pct, 2, " %");
	fig(b, sizeof(b), k->bridge_held_cpu_pct, 2, " %");
	printf("  sip-bridge CPU per agent call    %-16s %-23s <= %.0f %% of a core\n", a, b,
	       TARGET_LK_CPU_PCT);
	fig(a, sizeof(a), l->agent_kb, 0, " kB");
	fig(b, sizeof(b), k->agent_kb, 0, " kB");
	printf("  memory per session: agent-worker %-16s %-23s (VmRSS delta: membership, STT, "
	       "VAD)\n",
	       a, b);
	fig(a, sizeof(a), l->bridge_kb, 0, " kB");
	fig(b, sizeof(b), k->bridge_kb, 0, " kB");
	printf("  memory per membership: bridge    %-16s %-23s (VmRSS delta per call)\n", a, b);
	bench_figure("relay.answer_to_agent_audio_p99", l->answer_p99_ms, "<=", TARGET_ANSWER_MS,
		     "ms", "local room");
	bench_figure("relay.answer_to_agent_audio_p99@lk", k->answer_p99_ms, "<=", TARGET_ANSWER_MS,
		     "ms", "LiveKit test server");
	printf("  (short: the round's calls did not get every frame in the window; the LiveKit "
	       "column goes\n"
	       "   through our werift stand-in in Node on the same 2 cores, not LiveKit)\n");
}

int main(int argc, char **argv)
{
	int rc = 1;
	const char *build = getenv("BUILD") && *getenv("BUILD") ? getenv("BUILD") : "build";
	struct test_nats nats = { 0 };
	struct fake_lk lk = { 0 };
	struct env E = { 0 };
	struct figs fl = { .relay_n = -1 }, fk = { .relay_n = -1 };
	struct bus_sub *sub = NULL;
	static const int lk_rounds[] = { LK_CALLS };

	int nrc =
		test_netns_enter(argc, argv); /* LiveKit's media needs one; local runs there too */
	if (nrc)
		return nrc;
	struct counts *c = calloc(1, sizeof(*c));
	char *dir = test_tmpdir("bench-relay");
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_setup("bench_relay", LOG_WARN, false);
	if (!c || !dir)
		return 1;
	E.c = c;
	E.dir = dir;
	if (test_nats_start(&nats)) {
		fprintf(stderr, "bench_relay: nats-server did not start\n");
		goto out;
	}
	if (bus_connect(&E.bus, nats.url, "bench-relay") || bus_ensure_streams(E.bus) ||
	    bus_subscribe(E.bus, &sub, "calls.*.*", NULL, on_event, c)) {
		fprintf(stderr, "bench_relay: NATS setup failed\n");
		goto out;
	}
	/* the local backend: rounds up to 200 calls, then rtpengine */
	/* the participants listen as agent-worker does: in sequence, as it arrives */
	struct room_local_ctx lctx = { .bus = E.bus, .timeout_ms = 5000, .in_order = true };
	E.backend = "local";
	E.ops = &room_local;
	E.room_ctx = &lctx;
	E.figs = &fl;
	if (section(&E, build, nats.url, NULL, ROUNDS, NROUNDS))
		goto out;
	printf("  largest N run with every call up and 0 loss: %d   (target >= %d concurrent "
	       "transcoded calls) %s\n",
	       E.max_ok, TARGET_CALLS, E.max_ok >= TARGET_CALLS ? "ok" : "BELOW TARGET");
	bench_figure("relay.calls_every_frame", E.max_ok, ">=", TARGET_CALLS, "calls",
		     "local room; rounds of 10, 50, 100, 200 calls");
	char note[96];
	snprintf(note, sizeof(note), "transcoding G.711 <-> Opus, %d calls", E.cpu_per_pkt_n);
	bench_figure("relay.cpu_per_packet_transcoding", E.cpu_per_pkt_us, NULL, 0, "µs", note);
	bench_rtpengine(dir, E.cpu_per_pkt_us, E.cpu_per_pkt_n);

	/* LiveKit, through the test server */
	const struct fake_lk_opts lo = { .key = LK_KEY, .secret = LK_SECRET, .logdir = dir };
	if (fake_lk_start_opts(&lk, &lo)) {
		fprintf(stderr, "bench_relay: the LiveKit test server did not start (log in %s)\n",
			dir);
		goto out;
	}
	struct room_livekit_ctx kctx = { .url = lk.ws, .api_key = LK_KEY, .api_secret = LK_SECRET,
					 .timeout_ms = 10000 };
	E.backend = "livekit";
	E.ops = &room_livekit;
	E.room_ctx = &kctx;
	E.figs = &fk;
	int64_t s0 = test_cpu_us(lk.pid), w0 = time_mono_us();
	if (section(&E, build, nats.url, &lk, lk_rounds, CM_ARRAY_LEN(lk_rounds)))
		goto out;
	int64_t s1 = test_cpu_us(lk.pid), w1 = time_mono_us();
	printf("  (the test server used %.0f %% of a core over the LiveKit section's %.1f s)\n",
	       s0 >= 0 && s1 >= 0 ? (double)(s1 - s0) / (double)(w1 - w0) * 100.0 : -1.0,
	       (double)(w1 - w0) / 1e6);
	summary(&fl, &fk);
	rc = 0;
out:
	sub = bus_unsubscribe(sub);
	E.bus = bus_close(E.bus);
	test_stop(&E.agent, SIGTERM, 10000);
	test_stop(&E.bridge, SIGTERM, 10000);
	test_stop(&E.rm, SIGTERM, 10000);
	fake_lk_stop(&lk);
	test_nats_destroy(&nats);
	lkrtc_shutdown();
	if (rc)
		fprintf(stderr, "bench_relay: logs kept in %s\n", dir);
	else
		test_rmtree(dir);
	free(dir);
	free(c);
	return rc;
}
