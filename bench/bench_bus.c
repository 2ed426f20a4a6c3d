/*
 * libs/bus figures against a local nats-server (started here on a free port
 * with a throw-away JetStream store, or the one in $NATS_URL):
 *   core publish → subscriber throughput, 256-byte events
 *   core one-way latency p50/p99 at a paced rate, three runs, the worst p99
 *   the figure (the goal is for every run; send time in the payload,
 *   publisher and subscriber in this process on separate connections, first
 *   1000 messages not counted)
 *   JetStream publish-with-ack throughput: sync publishes (1 and 8 threads)
 *   and async publishes with at most 4096 acks pending, and pipelined ones
 *   (bus_js_pub_send) with 256 in flight, each ack collected on its own
 * Bounded in count and time; prints figures and targets, never fails on them.
 */
#include "bus/bus.h"
#include "harness/bench.h"
#include "harness/test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENT_BYTES     256
#define CORE_N          500000
#define CORE_MAX_MS     15000
#define LAT_N           10000
#define LAT_RATE        5000    /* msgs/s */
#define LAT_WARMUP      1000    /* first messages not counted */
#define LAT_RUNS        3       /* the goal holds in every run: the worst is the figure */
#define JS_N            20000
#define JS_THREADS      8
#define JS_ASYNC_N      100000
#define JS_MAX_MS       8000
#define JS_PIPE_WINDOW  256     /* pipelined publishes in flight */

#define TARGET_CORE_RATE 100000.0
#define TARGET_CORE_P99  500.0
#define TARGET_JS_RATE   20000.0

/* ---- core throughput ---------------------------------------------------- */

static void count_h(const struct bus_msg *msg, void *arg)
{
	(void)msg;
	atomic_fetch_add_explicit((atomic_long *)arg, 1, memory_order_relaxed);
}

static int bench_core_throughput(struct bus *pub, struct bus *subbus, double *ratep)
{
	atomic_long got = 0;
	struct bus_sub *sub = NULL;
	char payload[EVENT_BYTES];
	int err;

	memset(payload, 'x', sizeof(payload));
	err = bus_subscribe(subbus, &sub, "bench.core", NULL, count_h, &got);
	if (err)
		return err;
	int64_t t0 = time_mono_us(), end = time_mono_ms() + CORE_MAX_MS;
	long sent = 0;
	for (; sent < CORE_N && time_mono_ms() < end; sent++) {
		err = bus_publish(pub, "bench.core", payload, sizeof(payload));
		if (err)
			break;
	}
	while (atomic_load(&got) < sent && time_mono_ms() < end)
		test_nap_us(200);
	int64_t us = time_mono_us() - t0;
	long n = atomic_load(&got);
	*ratep = (double)n * 1e6 / (double)us;
	printf("core publish→subscriber: %ld sent, %ld received (%ld lost) in %.3f s: %.0f "
	       "events/s "
	       "(target ≥ %.0f) %s\n",
	       sent, n, sent - n, (double)us / 1e6, *ratep, TARGET_CORE_RATE,
	       *ratep >= TARGET_CORE_RATE ? "OK" : "BELOW TARGET");
	bench_figure("bus.core_events_per_s", *ratep, ">=", TARGET_CORE_RATE, "ev/s",
		     "256-byte events, one publisher");
	sub = bus_unsubscribe(sub);
	return err;
}

/* ---- core latency -------------------------------------------------------- */

struct lat {
	int64_t *samples; /* µs, one per received message */
	atomic_int n;
};

static void lat_h(const struct bus_msg *msg, void *arg)
{
	struct lat *l = arg;
	int64_t now = time_mono_us(), sent;
	if (msg->len < (int)sizeof(sent))
		return;
	memcpy(&sent, msg->data, sizeof(sent));
	int i = atomic_fetch_add(&l->n, 1) - LAT_WARMUP;
	if (i >= 0 && i < LAT_N)
		l->samples[i] = now - sent;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* One run: LAT_WARMUP + LAT_N events paced at LAT_RATE on a fresh
 * subscription; its p99 in *p99p. */
static int bench_core_latency_run(struct bus *pub, struct bus *subbus, int run, double *p99p)
{
	struct lat l = { .samples = calloc(LAT_N, sizeof(int64_t)) };
	struct bus_sub *sub = NULL;
	char payload[EVENT_BYTES];
	int err;

	if (!l.samples)
		return ENOMEM;
	memset(payload, 'y', sizeof(payload));
	err = bus_subscribe(subbus, &sub, "bench.lat", NULL, lat_h, &l);
	if (err)
		goto out;
	int64_t t0 = time_mono_us(), period = 1000000 / LAT_RATE;
	for (int i = 0; i < LAT_WARMUP + LAT_N; i++) {
		int64_t due = t0 + i * period, now;
		/* Sleep, never spin: the bench shares few CPUs with the server. */
		if ((now = time_mono_us()) < due) {
			test_nap_us((long)(due - now));
			now = time_mono_us();
		}
		memcpy(payload, &now, sizeof(now));
		err = bus_publish(pub, "bench.lat", payload, sizeof(payload));
		if (err)
			goto out;
	}
	int64_t end = time_mono_ms() + 5000;
	while (atomic_load(&l.n) < LAT_WARMUP + LAT_N && time_mono_ms() < end)
		test_nap_us(1000);
	int n = atomic_load(&l.n) - LAT_WARMUP;
	if (n > LAT_N)
		n = LAT_N;
	if (n <= 0) {
		err = EIO;
		goto out;
	}
	qsort(l.samples, (size_t)n, sizeof(int64_t), cmp_i64);
	double p50 = (double)l.samples[n / 2], p99 = (double)l.samples[(size_t)n * 99 / 100];
	double max = (double)l.samples[n - 1];
	*p99p = p99;
	printf("core one-way latency at %d events/s, run %d of %d (%d samples): p50 %.0f µs, "
	       "p99 %.0f µs, max %.0f µs (target p99 ≤ %.0f µs) %s\n",
	       LAT_RATE, run, LAT_RUNS, n, p50, p99, max, TARGET_CORE_P99,
	       p99 <= TARGET_CORE_P99 ? "OK" : "ABOVE TARGET");
out:
	sub = bus_unsubscribe(sub);
	free(l.samples);
	return err;
}

/* The goal is for every run: LAT_RUNS runs, the worst p99 is the figure. */
static int bench_core_latency(struct bus *pub, struct bus *subbus)
{
	double p99[LAT_RUNS], worst = 0;
	int err = 0;
	for (int i = 0; i < LAT_RUNS && !err; i++) {
		err = bench_core_latency_run(pub, subbus, i + 1, &p99[i]);
		if (!err && p99[i] > worst)
			worst = p99[i];
	}
	if (err)
		return err;
	char note[128];
	snprintf(note, sizeof(note), "worst of %d runs (%.0f, %.0f, %.0f µs) at 5,000 ev/s, 256 B",
		 LAT_RUNS, p99[0], p99[1], p99[2]);
	bench_figure("bus.core_one_way_p99", worst, "<=", TARGET_CORE_P99, "µs", note);
	return 0;
}

/* ---- JetStream publish with ack ----------------------------------------- */

struct js_run {
	struct bus *bus;
	int first, count;
	int64_t deadline_ms;
	atomic_int *acked;
	atomic_int *failed;
};

static void *js_publisher(void *arg)
{
	struct js_run *r = arg;
	char payload[EVENT_BYTES], id[ID_UUID_LEN + 1], subject[80];
	memset(payload, 'z', sizeof(payload));
	for (int i = r->first; i < r->first + r->count && time_mono_ms() < r->deadline_ms; i++) {
		if (id_uuid4(id) != 0)
			continue;
		snprintf(subject, sizeof(subject), "calls.%s.bench", id);
		if (bus_js_publish(r->bus, subject, id, payload, sizeof(payload), 5000) == 0)
			atomic_fetch_add(r->acked, 1);
		else
			atomic_fetch_add(r->failed, 1);
	}
	return NULL;
}

static double bench_js(struct bus *bus, int threads)
{
	pthread_t th[JS_THREADS];
	struct js_run runs[JS_THREADS];
	atomic_int acked = 0, failed = 0;
	int started = 0;
	int64_t t0 = time_mono_us(), deadline = time_mono_ms() + JS_MAX_MS;

	for (int i = 0; i < threads; i++) {
		runs[i] = (struct js_run){ bus, i * (JS_N / threads), JS_N / threads, deadline,
					   &acked, &failed };
		if (pthread_create(&th[i], NULL, js_publisher, &runs[i]) == 0)
			started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	int64_t us = time_mono_us() - t0;
	double rate = (double)atomic_load(&acked) * 1e6 / (double)us;
	printf("JetStream publish+ack (sync, %d thread%s, file storage): %d acked, %d failed in "
	       "%.3f s: "
	       "%.0f acked events/s (target ≥ %.0f) %s\n",
	       threads, threads == 1 ? "" : "s", atomic_load(&acked), atomic_load(&failed),
	       (double)us / 1e6, rate, TARGET_JS_RATE,
	       rate >= TARGET_JS_RATE ? "OK" : "BELOW TARGET");
	char name[48], note[64];
	snprintf(name, sizeof(name), "bus.js_sync_acked_per_s@%d", threads);
	snprintf(note, sizeof(note), "one round trip per event, %d thread%s", threads,
		 threads == 1 ? "" : "s");
	bench_figure(name, rate, NULL, 0, "ev/s", note);
	return rate;
}

static double bench_js_async(struct bus *bus)
{
	char payload[EVENT_BYTES], id[ID_UUID_LEN + 1], subject[80];
	int64_t t0 = time_mono_us(), deadline = time_mono_ms() + JS_MAX_MS;
	uint64_t failed = 0;
	int queued = 0, rejected = 0;

	memset(payload, 'a', sizeof(payload));
	for (int i = 0; i < JS_ASYNC_N && time_mono_ms() < deadline; i++) {
		if (id_uuid4(id) != 0)
			continue;
		snprintf(subject, sizeof(subject), "calls.%s.bench", id);
		if (bus_js_publish_async(bus, subject, id, payload, sizeof(payload), 5000) == 0)
			queued++;
		else
			rejected++;
	}
	int err = bus_js_publish_async_wait(bus, 10000, &failed);
	int64_t us = time_mono_us() - t0;
	long acked = err ? 0 : queued - (long)failed;
	double rate = (double)acked * 1e6 / (double)us;
	printf("JetStream publish+ack (async, ≤4096 pending, 1 thread, file storage): %ld acked, "
	       "%llu failed, %d rejected in %.3f s: %.0f acked events/s (target ≥ %.0f) %s%s\n",
	       acked, (unsigned long long)failed, rejected, (double)us / 1e6, rate, TARGET_JS_RATE,
	       rate >= TARGET_JS_RATE ? "OK" : "BELOW TARGET", err ? " (wait failed)" : "");
	bench_figure("bus.js_acked_per_s", err ? -1 : rate, ">=", TARGET_JS_RATE, "ev/s",
		     "pipelined, <= 4096 acks pending, 1 thread, file storage");
	return rate;
}

/* Pipelined publishes as the API makes them (bus_js_pub_send, each ack
 * collected by its own waiter): one thread keeps a window of JS_PIPE_WINDOW
 * in flight, collecting the oldest before sending the next. */
static double bench_js_pipelined(struct bus *bus)
{
	char payload[EVENT_BYTES], id[ID_UUID_LEN + 1], subject[80];
	struct bus_js_pub *win[JS_PIPE_WINDOW] = { 0 };
	int64_t t0 = time_mono_us(), deadline = time_mono_ms() + JS_MAX_MS;
	long acked = 0, failed = 0, sent = 0;

	memset(payload, 'a', sizeof(payload));
	for (int i = 0; i < JS_ASYNC_N && time_mono_ms() < deadline; i++) {
		struct bus_js_pub **slot = &win[i % JS_PIPE_WINDOW];
		if (*slot) {
			if (bus_js_pub_wait(*slot) == 0)
				acked++;
			else
				failed++;
			*slot = bus_js_pub_free(*slot);
		}
		if (id_uuid4(id) != 0)
			continue;
		snprintf(subject, sizeof(subject), "calls.%s.bench", id);
		if (bus_js_pub_send(slot, bus, subject, id, payload, sizeof(payload), 5000) == 0)
			sent++;
		else
			failed++;
	}
	for (int i = 0; i < JS_PIPE_WINDOW; i++) {
		if (win[i] && bus_js_pub_wait(win[i]) == 0)
			acked++;
		else if (win[i])
			failed++;
		win[i] = bus_js_pub_free(win[i]);
	}
	int64_t us = time_mono_us() - t0;
	double rate = (double)acked * 1e6 / (double)us;
	printf("JetStream publish+ack (pipelined, %d in flight, each ack awaited, 1 thread, file "
	       "storage): %ld acked, %ld failed of %ld in %.3f s: %.0f acked events/s "
	       "(target ≥ %.0f) %s\n",
	       JS_PIPE_WINDOW, acked, failed, sent, (double)us / 1e6, rate, TARGET_JS_RATE,
	       rate >= TARGET_JS_RATE ? "OK" : "BELOW TARGET");
	return rate;
}

int main(void)
{
	struct test_nats srv = { 0 };
	struct bus *pub = NULL, *subbus = NULL;
	const char *url = getenv("NATS_URL");
	double rate = 0;
	int err;

	log_setup("bench_bus", LOG_WARN, false);
	printf("# bench_bus: %d-byte events\n", EVENT_BYTES);
	if (!url || !*url) {
		err = test_nats_start(&srv);
		if (err) {
			fprintf(stderr, "bench_bus: cannot start nats-server: %s\n",
				cm_strerror(err));
			test_nats_destroy(&srv);
			return 1;
		}
		url = srv.url;
	}
	err = bus_connect(&pub, url, "bench-pub");
	if (!err)
		err = bus_connect(&subbus, url, "bench-sub");
	if (!err && !bus_connected(pub))
		err = EAGAIN;
	/* Latency first, on a quiet server; then throughput. */
	if (!err)
		err = bench_core_latency(pub, subbus);
	if (!err)
		err = bench_core_throughput(pub, subbus, &rate);
	if (!err) {
		int64_t end = time_mono_ms() + 10000;
		while ((err = bus_ensure_streams(pub)) == EAGAIN && time_mono_ms() < end)
			test_nap_us(50000);
	}
	if (!err) {
		bench_js(pub, 1);
		bench_js(pub, JS_THREADS);
		bench_js_async(pub);
		bench_js_pipelined(pub);
	}
	if (err)
		fprintf(stderr, "bench_bus: %s\n", cm_strerror(err));
	subbus = bus_close(subbus);
	pub = bus_close(pub);
	test_nats_destroy(&srv);
	bus_library_shutdown(2000);
	return err ? 1 : 0;
}
