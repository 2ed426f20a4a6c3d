/*
 * The LiveKit room backend on this machine: two C members (one call: agent
 * and caller) in one room of the LiveKit test server ($CALLMESH_LK_SERVER,
 * default tests/livekit/fake.mjs), each sending 20 ms frames in real time and
 * receiving the other's for RUN_S seconds. Prints: this process's CPU
 * (getrusage, user + sys) per membership in % of a core, resident memory of
 * the engine once loaded and per membership (VmRSS deltas), and the added
 * latency of one frame C → server → C p50/p99 (a tone onset after silence:
 * send_frame() of its first frame to the first loud frame heard by the other
 * member, in this process). The server's own CPU is printed apart: it is our
 * werift stand-in, not LiveKit. Runs in a network namespace of its own (it
 * re-executes itself through tests/netns/run.sh). Prints figures, never
 * fails on them.
 */
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
#include "lkrtc/lkrtc.h"
#include "room/room.h"

#define KEY       "devkey"
#define SECRET    "devsecret-0123456789abcdef0123456789"
#define RUN_S     10
#define CYCLE     25        /* frames: 15 silent, 10 of tone */
#define TONE_AT   15
#define ONSETS_MAX (RUN_S * 50 / CYCLE + 2)
#define AMPL      8000.0

struct member {
	const char *identity;
	struct room *room;
	double freq;
	bool pulsed;                    /* onsets after silence, else a steady tone */
	atomic_llong onset_sent_us;     /* the sender's last onset */
	atomic_llong onset_heard_us;    /* the listener: first loud frame since */
	int64_t lat_us[ONSETS_MAX];
	int nlat;
	pthread_mutex_t mu;
	struct member *peer;
};

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static int64_t cpu_self_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static void on_frame(const struct room_frame *f, void *arg)
{
	struct member *m = arg;   /* the listener */
	struct member *s = m->peer;
	if (!s->pulsed || strcmp(f->identity, s->identity))
		return;
	double e = 0;
	for (size_t i = 0; i < ROOM_FRAME_SAMPLES; i++)
		e += (double)f->pcm[i] * f->pcm[i];
	if (sqrt(e / ROOM_FRAME_SAMPLES) < AMPL / 10)
		return;
	long long sent = atomic_load(&s->onset_sent_us);
	if (sent && !atomic_load(&m->onset_heard_us)) {
		int64_t now = time_mono_us();
		atomic_store(&m->onset_heard_us, now);
		pthread_mutex_lock(&m->mu);
		if (m->nlat < ONSETS_MAX)
			m->lat_us[m->nlat++] = now - sent;
		pthread_mutex_unlock(&m->mu);
	}
}

static const struct room_handlers handlers = { .frame = on_frame };

struct run {
	struct member *a, *b;
};

/* Both members' senders on one paced thread: a pulses, b is steady. */
static void *send_main(void *arg)
{
	struct run *run = arg;
	struct timespec t;
	int16_t pa[ROOM_FRAME_SAMPLES], pb[ROOM_FRAME_SAMPLES];
	double phase_a = 0, phase_b = 0;
	clock_gettime(CLOCK_MONOTONIC, &t);
	for (int k = 0; k < RUN_S * 50; k++) {
		int pos = k % CYCLE;
		for (size_t i = 0; i < ROOM_FRAME_SAMPLES; i++) {
			pa[i] = pos >= TONE_AT ? (int16_t)(AMPL * sin(phase_a)) : 0;
			pb[i] = (int16_t)(AMPL * sin(phase_b));
			phase_a = fmod(phase_a + 2 * M_PI * run->a->freq / ROOM_RATE, 2 * M_PI);
			phase_b = fmod(phase_b + 2 * M_PI * run->b->freq / ROOM_RATE, 2 * M_PI);
		}
		if (pos == TONE_AT) { /* an onset: the listener waits for it afresh */
			atomic_store(&run->b->onset_heard_us, 0);
			atomic_store(&run->a->onset_sent_us, time_mono_us());
		}
		if (room_livekit.send_frame(run->a->room, pa) ||
		    room_livekit.send_frame(run->b->room, pb))
			fprintf(stderr, "bench_room_livekit: a frame was not sent\n");
		test_pace(&t, ROOM_FRAME_MS);
	}
	return NULL;
}

static int server_start(int *pidp, char *url, size_t cap, const char *dir)
{
	char ready[300], log[300];
	snprintf(ready, sizeof(ready), "%s/ready", dir);
	snprintf(log, sizeof(log), "%s/server.log", dir);
	const char *script = getenv("CALLMESH_LK_SERVER");
	const char *argv[] = { "node", script && *script ? script : "tests/livekit/fake.mjs",
			       "--port", "0", "--host", getenv("CALLMESH_NETNS_ADDR"), "--key", KEY,
			       "--secret", SECRET, "--ready-file", ready, NULL };
	if (test_spawn(pidp, argv, NULL, log))
		return EIO;
	for (int i = 0; i < 400; i++) {
		FILE *f = fopen(ready, "r");
		char line[128] = "";
		if (f) {
			bool ok = fgets(line, sizeof(line), f) != NULL;
			fclose(f);
			line[strcspn(line, "\r\n")] = '\0';
			if (ok && strncmp(line, "http://", 7) == 0) {
				snprintf(url, cap, "ws://%s", line + 7);
				return 0;
			}
		}
		test_nap_ms(50);
	}
	return ETIMEDOUT;
}

int main(int argc, char **argv)
{
	(void)argc;
	if (!getenv("CALLMESH_NETNS")) {
		static const char run[] = "tests/netns/run.sh";
		char *args[] = { (char *)run, argv[0], NULL };
		execv(run, args);
		perror("bench_room_livekit: execv tests/netns/run.sh");
		return 1;
	}
	log_setup("bench_room_livekit", LOG_ERROR, false);
	struct member a = { .identity = "agent-bench", .freq = 440, .pulsed = true };
	struct member b = { .identity = "caller-bench", .freq = 880 };
	a.peer = &b;
	b.peer = &a;
	pthread_mutex_init(&a.mu, NULL);
	pthread_mutex_init(&b.mu, NULL);
	char url[128], *dir = test_tmpdir("lk-bench");
	int pid = 0, rc = 1;
	printf("bench_room_livekit: LiveKit backend (livekit-ffi), 2 members in one room, %d s of "
	       "20 ms frames each way\n", RUN_S);
	if (!dir || server_start(&pid, url, sizeof(url), dir)) {
		fprintf(stderr, "bench_room_livekit: cannot start the test server\n");
		goto out;
	}
	struct room_livekit_ctx ctx = {
		.url = url, .api_key = KEY, .api_secret = SECRET, .timeout_ms = 10000,
	};
	long rss0 = rss_kb();
	int64_t t0 = time_mono_ms();
	if (room_livekit.join(&a.room, &ctx, "bench", a.identity, &handlers, &a)) {
		fprintf(stderr, "bench_room_livekit: join: %s\n", room_livekit_reason());
		goto out;
	}
	int64_t join_ms = time_mono_ms() - t0;
	long rss1 = rss_kb();
	if (room_livekit.join(&b.room, &ctx, "bench", b.identity, &handlers, &b)) {
		fprintf(stderr, "bench_room_livekit: join: %s\n", room_livekit_reason());
		goto out;
	}
	test_nap_ms(1000); /* subscriptions settle; not measured */
	long rss2 = rss_kb();
	struct run run = { &a, &b };
	pthread_t th;
	int64_t c0 = cpu_self_us(), s0 = test_cpu_us(pid), w0 = time_mono_us();
	if (pthread_create(&th, NULL, send_main, &run))
		goto out;
	pthread_join(th, NULL);
	int64_t c1 = cpu_self_us(), s1 = test_cpu_us(pid), w1 = time_mono_us();
	long rss3 = rss_kb();
	struct room_stats sa, sb;
	room_livekit.stats(a.room, &sa);
	room_livekit.stats(b.room, &sb);
	double wall = (double)(w1 - w0);
	printf("  CPU (this process, engine threads included): %.2f %% of a core per membership "
	       "(%.2f %% for both)\n",
	       100.0 * (double)(c1 - c0) / wall / 2, 100.0 * (double)(c1 - c0) / wall);
	printf("  test server (werift stand-in, not LiveKit): %.2f %% of a core\n",
	       s0 >= 0 && s1 >= 0 ? 100.0 * (double)(s1 - s0) / wall : -1.0);
	printf("  RSS: %ld kB before; engine + first membership +%ld kB (join %lld ms); second "
	       "membership +%ld kB; after the run %ld kB\n", rss0, rss1 - rss0, (long long)join_ms,
	       rss2 - rss1, rss3);
	printf("  frames: a sent %llu (errors %llu) received %llu; b sent %llu (errors %llu) "
	       "received %llu\n",
	       (unsigned long long)sa.frames_sent, (unsigned long long)sa.send_errors,
	       (unsigned long long)sa.frames_received, (unsigned long long)sb.frames_sent,
	       (unsigned long long)sb.send_errors, (unsigned long long)sb.frames_received);
	pthread_mutex_lock(&b.mu);
	int n = b.nlat;
	printf("  added latency C -> server -> C (tone onset, %d of %d onsets heard): p50 %.1f ms, "
	       "p99 %.1f ms\n", n, RUN_S * 50 / CYCLE, test_pct(b.lat_us, n, 50) / 1000.0,
	       test_pct(b.lat_us, n, 99) / 1000.0);
	pthread_mutex_unlock(&b.mu);
	rc = 0;
out:
	room_livekit.leave(a.room);
	room_livekit.leave(b.room);
	test_stop(&pid, SIGTERM, 3000);
	if (dir)
		test_rmtree(dir);
	free(dir);
	lkrtc_shutdown();
	return rc;
}
