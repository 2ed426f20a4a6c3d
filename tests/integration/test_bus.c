/* libs/bus against a real nats-server with JetStream: events on calls.>,
 * dedupe in CALLS, publishing across a server restart, request/reply, queue
 * groups, a connection made while the server is down, DIALS pull consumers. */
#include "bus/bus.h"
#include "harness/test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MS 10000

/* Polls `cond(arg)` every 5 ms until it holds or timeout_ms passes. */
static bool wait_for(bool (*cond)(void *), void *arg, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	for (;;) {
		if (cond(arg))
			return true;
		if (time_mono_ms() > end)
			return false;
		test_nap_ms(5);
	}
}

static bool atomic_ge_cond(void *arg);

struct at_least {
	atomic_int *v;
	int n;
};

static bool atomic_ge_cond(void *arg)
{
	struct at_least *a = arg;
	return atomic_load(a->v) >= a->n;
}

static bool wait_atomic_ge(atomic_int *v, int n, int timeout_ms)
{
	struct at_least a = { v, n };
	return wait_for(atomic_ge_cond, &a, timeout_ms);
}

static bool connected_cond(void *arg)
{
	return bus_connected(arg);
}

/* ---- 1. an event reaches a core subscriber on calls.> as published ------- */

struct capture {
	pthread_mutex_t mu;
	atomic_int events;
	atomic_int markers;
	char subject[128];
	char msg_id[64];
	char *data;
	int len;
};

static void capture_h(const struct bus_msg *msg, void *arg)
{
	struct capture *c = arg;
	if (strcmp(msg->subject, "calls.marker.x") == 0) {
		atomic_fetch_add(&c->markers, 1);
		return;
	}
	pthread_mutex_lock(&c->mu);
	snprintf(c->subject, sizeof(c->subject), "%s", msg->subject);
	snprintf(c->msg_id, sizeof(c->msg_id), "%s", msg->msg_id ? msg->msg_id : "");
	free(c->data);
	c->data = malloc((size_t)msg->len + 1);
	if (c->data) {
		memcpy(c->data, msg->data, (size_t)msg->len);
		c->data[msg->len] = '\0';
	}
	c->len = msg->len;
	pthread_mutex_unlock(&c->mu);
	atomic_fetch_add(&c->events, 1);
}

static int new_event(struct event **evp, enum event_type type)
{
	char call_id[ID_UUID_LEN + 1];
	int err = id_uuid4(call_id);
	if (!err)
		err = event_new(evp, type, call_id, "room-test", "sip-bridge/test");
	return err;
}

static int test_event_to_core_subscriber(void)
{
	int err = 0;
	struct test_nats n = { 0 };
	struct bus *bus = NULL;
	struct bus_sub *sub = NULL;
	struct event *ev = NULL;
	char *json = NULL;
	char want_subject[EVENT_SUBJECT_MAX];
	struct capture c = { .mu = PTHREAD_MUTEX_INITIALIZER };
	char subject[sizeof(c.subject)], msg_id[sizeof(c.msg_id)];

	TEST_EQ_INT(test_nats_start(&n), 0);
	TEST_EQ_INT(bus_connect(&bus, n.url, "test-core"), 0);
	TEST_ASSERT(bus_connected(bus));
	TEST_EQ_INT(bus_ensure_streams(bus), 0);
	TEST_EQ_INT(bus_subscribe(bus, &sub, "calls.>", NULL, capture_h, &c), 0);

	TEST_EQ_INT(new_event(&ev, EV_CALL_HOLD), 0);
	TEST_EQ_INT(event_set_str(ev, "direction", "sendonly"), 0);
	TEST_EQ_INT(event_encode(&json, ev), 0);
	snprintf(want_subject, sizeof(want_subject), "calls.%s.call_hold", ev->call_id);

	TEST_EQ_INT(bus_publish_event(bus, ev), 0);
	TEST_ASSERT(wait_atomic_ge(&c.events, 1, WAIT_MS));
	/* A marker published after it arrives after it: nothing else came. */
	TEST_EQ_INT(bus_publish(bus, "calls.marker.x", "m", 1), 0);
	TEST_ASSERT(wait_atomic_ge(&c.markers, 1, WAIT_MS));
	TEST_EQ_INT(atomic_load(&c.events), 1);

	pthread_mutex_lock(&c.mu);
	bool same = c.data && c.len == (int)strlen(json) &&
		    memcmp(c.data, json, (size_t)c.len) == 0;
	snprintf(subject, sizeof(subject), "%s", c.subject);
	snprintf(msg_id, sizeof(msg_id), "%s", c.msg_id);
	pthread_mutex_unlock(&c.mu);
	TEST_ASSERT(same);
	TEST_EQ_STR(subject, want_subject);
	TEST_EQ_STR(msg_id, ev->id);
out:
	sub = bus_unsubscribe(sub);
	bus = bus_close(bus);
	test_nats_destroy(&n);
	event_free(ev);
	free(json);
	free(c.data);
	return err;
}

/* ---- 2. CALLS stores events, dedupes by event id ------------------------ */

static int test_js_streams_and_dedupe(void)
{
	int err = 0;
	struct test_nats n = { 0 };
	struct bus *bus = NULL;
	struct event *a = NULL, *b = NULL;
	uint64_t msgs = 99;

	TEST_EQ_INT(test_nats_start(&n), 0);
	TEST_EQ_INT(bus_connect(&bus, n.url, "test-js"), 0);
	TEST_EQ_INT(bus_ensure_streams(bus), 0);
	TEST_EQ_INT(bus_ensure_streams(bus), 0);
	TEST_EQ_INT(bus_js_stream_msgs(bus, "CALLS", &msgs), 0);
	TEST_EQ_INT(msgs, 0);
	TEST_EQ_INT(bus_js_stream_msgs(bus, "DIALS", &msgs), 0);
	TEST_EQ_INT(msgs, 0);
	TEST_EQ_INT(bus_js_stream_msgs(bus, "NOPE", &msgs), ENOENT);

	TEST_EQ_INT(new_event(&a, EV_CALL_QUEUED), 0);
	TEST_EQ_INT(new_event(&b, EV_CALL_ENDED), 0);
	TEST_EQ_INT(event_set_str(b, "reason", "hangup"), 0);
	TEST_EQ_INT(event_set_str(b, "by", "remote"), 0);
	TEST_EQ_INT(event_set_int(b, "duration_ms", 1234), 0);

	TEST_EQ_INT(bus_publish_event(bus, a), 0);
	TEST_EQ_INT(bus_js_stream_msgs(bus, "CALLS", &msgs), 0);
	TEST_EQ_INT(msgs, 1);
	TEST_EQ_INT(bus_publish_event(bus, a), 0); /* same id: acked, not stored again */
	TEST_EQ_INT(bus_js_stream_msgs(bus, "CALLS", &msgs), 0);
	TEST_EQ_INT(msgs, 1);
	TEST_EQ_INT(bus_publish_event(bus, b), 0);
	TEST_EQ_INT(bus_js_stream_msgs(bus, "CALLS", &msgs), 0);
	TEST_EQ_INT(msgs, 2);
	/* Restarting updates nothing and keeps what is stored. */
	TEST_EQ_INT(bus_ensure_streams(bus), 0);
	TEST_EQ_INT(bus_js_stream_msgs(bus, "CALLS", &msgs), 0);
	TEST_EQ_INT(msgs, 2);

	/* Async publishes: 200 queued, 100 of them twice with the same id. */
	for (int i = 0; i < 300; i++) {
		char id[32], subject[64];
		snprintf(id, sizeof(id), "async-%d", i % 200);
		snprintf(subject, sizeof(subject), "calls.async.n%d", i % 200);
		TEST_EQ_INT(bus_js_publish_async(bus, subject, id, "{}", 2, 5000), 0);
	}
	uint64_t failed = 99;
	TEST_EQ_INT(bus_js_publish_async_wait(bus, 5000, &failed), 0);
	TEST_EQ_INT(failed, 0);
	TEST_EQ_INT(bus_js_stream_msgs(bus, "CALLS", &msgs), 0);
	TEST_EQ_INT(msgs, 202);
	/* No stream listens on this subject: counted as failed, not stored. */
	TEST_EQ_INT(bus_js_publish_async(bus, "nostream.x", "n-1", "{}", 2, 500), 0);
	TEST_EQ_INT(bus_js_publish_async_wait(bus, 5000, &failed), 0);
	TEST_EQ_INT(failed, 1);
	TEST_EQ_INT(bus_js_publish(bus, "nostream.x", "n-2", "{}", 2, 500), EAGAIN);
out:
	bus = bus_close(bus);
	test_nats_destroy(&n);
	event_free(a);
	event_free(b);
	return err;
}

/* ---- 3. publishing across a server restart: acked ⇒ stored exactly once -- */

#define RESTART_N 300

struct restart_run {
	struct bus *bus;
	struct event *evs[RESTART_N];
	int result[RESTART_N];      /* bus_publish_event() result of the first try */
	atomic_int acked;
	atomic_int failed;
	atomic_int acked_after_restart;
	atomic_bool restarted;
	atomic_bool done;
};

static void *restart_publisher(void *arg)
{
	struct restart_run *r = arg;
	for (int i = 0; i < RESTART_N; i++) {
		r->result[i] = bus_publish_event(r->bus, r->evs[i]);
		if (r->result[i] == 0) {
			atomic_fetch_add(&r->acked, 1);
			if (atomic_load(&r->restarted))
				atomic_fetch_add(&r->acked_after_restart, 1);
			test_nap_ms(2); /* pace, so that the restart lands mid-stream */
		} else {
			atomic_fetch_add(&r->failed, 1);
			test_nap_ms(10); /* back off while the server is away */
		}
	}
	atomic_store(&r->done, true);
	return NULL;
}

struct readback {
	struct restart_run *r;
	int count[RESTART_N];
	int unknown;
	int total;
};

static enum bus_ack readback_h(const struct bus_msg *msg, void *arg)
{
	struct readback *rb = arg;
	rb->total++;
	for (int i = 0; msg->msg_id && i < RESTART_N; i++) {
		if (strcmp(rb->r->evs[i]->id, msg->msg_id) == 0) {
			rb->count[i]++;
			return BUS_ACK;
		}
	}
	rb->unknown++;
	return BUS_ACK;
}

static bool done_cond(void *arg)
{
	struct restart_run *r = arg;
	return atomic_load(&r->done);
}

static int test_publish_across_restart(void)
{
	int err = 0;
	struct test_nats n = { 0 };
	struct restart_run *r = calloc(1, sizeof(*r));
	struct readback *rb = calloc(1, sizeof(*rb));
	struct bus_sub *sub = NULL;
	pthread_t th;
	bool started = false;
	uint64_t msgs = 0;

	TEST_ASSERT(r && rb);
	for (int i = 0; i < RESTART_N; i++)
		TEST_EQ_INT(new_event(&r->evs[i], EV_CALL_DIALING), 0);
	TEST_EQ_INT(test_nats_start(&n), 0);
	TEST_EQ_INT(bus_connect(&r->bus, n.url, "test-restart"), 0);
	TEST_EQ_INT(bus_ensure_streams(r->bus), 0);

	TEST_EQ_INT(pthread_create(&th, NULL, restart_publisher, r), 0);
	started = true;
	TEST_ASSERT(wait_atomic_ge(&r->acked, 100, WAIT_MS));
	test_nats_stop(&n);
	TEST_ASSERT(wait_atomic_ge(&r->failed, 5, WAIT_MS));
	TEST_EQ_INT(test_nats_restart(&n), 0);
	atomic_store(&r->restarted, true);
	TEST_ASSERT(wait_for(done_cond, r, 60000));
	pthread_join(th, NULL);
	started = false;
	printf("    first pass: %d acked, %d failed, %d acked after restart\n",
	       atomic_load(&r->acked), atomic_load(&r->failed),
	       atomic_load(&r->acked_after_restart));
	TEST_ASSERT(atomic_load(&r->acked_after_restart) > 0);

	/* Retry every failed event with its own id until acked (bounded). */
	int64_t end = time_mono_ms() + 30000;
	for (int i = 0; i < RESTART_N; i++) {
		int e = r->result[i];
		while (e != 0 && time_mono_ms() < end) {
			e = bus_publish_event(r->bus, r->evs[i]);
			if (e)
				test_nap_ms(20);
		}
		TEST_EQ_INT(e, 0);
	}

	TEST_EQ_INT(bus_js_stream_msgs(r->bus, "CALLS", &msgs), 0);
	TEST_EQ_INT(msgs, RESTART_N);
	rb->r = r;
	TEST_EQ_INT(bus_js_pull_sub(r->bus, &sub, "CALLS", "verify", "calls.>"), 0);
	end = time_mono_ms() + WAIT_MS;
	while (rb->total < RESTART_N && time_mono_ms() < end) {
		int got = 0;
		int e = bus_js_fetch(sub, 128, 1000, readback_h, rb, &got);
		TEST_ASSERT(e == 0 || e == ETIMEDOUT);
	}
	TEST_EQ_INT(rb->total, RESTART_N);
	TEST_EQ_INT(rb->unknown, 0);
	for (int i = 0; i < RESTART_N; i++)
		TEST_EQ_INT(rb->count[i], 1);
out:
	if (started) {
		/* A failed assertion above: let the bounded publisher finish. */
		(void)wait_for(done_cond, r, 120000);
		pthread_join(th, NULL);
	}
	sub = bus_unsubscribe(sub);
	if (r) {
		r->bus = bus_close(r->bus);
		for (int i = 0; i < RESTART_N; i++)
			event_free(r->evs[i]);
	}
	test_nats_destroy(&n);
	free(r);
	free(rb);
	return err;
}

/* ---- 4. request/reply, no responders, timeout, queue groups ------------- */

struct responder {
	struct bus *bus;
	atomic_int calls;
};

static void echo_h(const struct bus_msg *msg, void *arg)
{
	struct responder *rs = arg;
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "pong:%.*s", msg->len, msg->data);
	atomic_fetch_add(&rs->calls, 1);
	if (bus_respond(rs->bus, msg, buf, (size_t)n) != 0)
		fprintf(stdout, "    respond failed\n");
}

static void silent_h(const struct bus_msg *msg, void *arg)
{
	(void)msg;
	atomic_fetch_add((atomic_int *)arg, 1);
}

static int test_request_reply(void)
{
	int err = 0;
	struct test_nats n = { 0 };
	struct bus *bus = NULL;
	struct bus_sub *echo = NULL, *silent = NULL;
	struct responder rs = { 0 };
	atomic_int silent_calls = 0;
	char *reply = NULL;
	size_t len = 0;
	int64_t t0, ms;

	TEST_EQ_INT(test_nats_start(&n), 0);
	TEST_EQ_INT(bus_connect(&bus, n.url, "test-req"), 0);
	rs.bus = bus;
	TEST_EQ_INT(bus_subscribe(bus, &echo, "rooms.create", NULL, echo_h, &rs), 0);
	TEST_EQ_INT(bus_subscribe(bus, &silent, "rooms.silent", NULL, silent_h, &silent_calls), 0);

	TEST_EQ_INT(bus_request(bus, &reply, &len, "rooms.create", "hi", 2, 2000), 0);
	TEST_EQ_STR(reply, "pong:hi");
	TEST_EQ_INT(len, 7);
	free(reply);
	reply = NULL;

	t0 = time_mono_ms();
	TEST_EQ_INT(bus_request(bus, &reply, &len, "rooms.nobody", "x", 1, 5000), ENOENT);
	ms = time_mono_ms() - t0;
	TEST_ASSERT(ms < 1000);
	TEST_ASSERT(reply == NULL);

	t0 = time_mono_ms();
	TEST_EQ_INT(bus_request(bus, &reply, &len, "rooms.silent", "x", 1, 200), ETIMEDOUT);
	ms = time_mono_ms() - t0;
	TEST_ASSERT(ms >= 190 && ms < 2000);
	TEST_EQ_INT(atomic_load(&silent_calls), 1);

	/* A message without a reply subject cannot be answered. */
	struct bus_msg plain = { .subject = "x", .data = "", .len = 0 };
	TEST_EQ_INT(bus_respond(bus, &plain, "y", 1), EINVAL);
out:
	free(reply);
	echo = bus_unsubscribe(echo);
	silent = bus_unsubscribe(silent);
	bus = bus_close(bus);
	test_nats_destroy(&n);
	return err;
}

#define QUEUE_N 2000

static int test_queue_group(void)
{
	int err = 0;
	struct test_nats n = { 0 };
	struct bus *pub = NULL, *work = NULL;
	struct bus_sub *s1 = NULL, *s2 = NULL, *probe = NULL;
	atomic_int c1 = 0, c2 = 0, cp = 0;
	struct responder rs = { 0 };
	char *reply = NULL;

	TEST_EQ_INT(test_nats_start(&n), 0);
	TEST_EQ_INT(bus_connect(&pub, n.url, "test-queue-pub"), 0);
	TEST_EQ_INT(bus_connect(&work, n.url, "test-queue-work"), 0);
	TEST_EQ_INT(bus_subscribe(work, &s1, "agents.dispatch", "agent-workers", silent_h, &c1), 0);
	TEST_EQ_INT(bus_subscribe(work, &s2, "agents.dispatch", "agent-workers", silent_h, &c2), 0);
	rs.bus = work;
	TEST_EQ_INT(bus_subscribe(work, &probe, "queue.probe", NULL, echo_h, &rs), 0);
	/* A round trip through `work` proves its subscriptions are registered. */
	TEST_EQ_INT(bus_request(pub, &reply, NULL, "queue.probe", "p", 1, 2000), 0);

	for (int i = 0; i < QUEUE_N; i++) {
		char buf[32];
		int len = snprintf(buf, sizeof(buf), "{\"job\":%d}", i);
		TEST_EQ_INT(bus_publish(pub, "agents.dispatch", buf, (size_t)len), 0);
	}
	int64_t end = time_mono_ms() + WAIT_MS;
	while (atomic_load(&c1) + atomic_load(&c2) < QUEUE_N && time_mono_ms() < end)
		test_nap_ms(5);
	/* Another round trip: anything duplicated would have arrived by now. */
	free(reply);
	reply = NULL;
	TEST_EQ_INT(bus_request(pub, &reply, NULL, "queue.probe", "p", 1, 2000), 0);
	printf("    queue split: %d + %d\n", atomic_load(&c1), atomic_load(&c2));
	TEST_EQ_INT(atomic_load(&c1) + atomic_load(&c2), QUEUE_N);
	TEST_ASSERT(atomic_load(&c1) > 0 && atomic_load(&c2) > 0);
	(void)cp;
out:
	free(reply);
	s1 = bus_unsubscribe(s1);
	s2 = bus_unsubscribe(s2);
	probe = bus_unsubscribe(probe);
	pub = bus_close(pub);
	work = bus_close(work);
	test_nats_destroy(&n);
	return err;
}

/* ---- 5. connect while the server is down --------------------------------- */

static int test_connect_while_down(void)
{
	int err = 0;
	struct test_nats n = { 0 };
	struct bus *bus = NULL;
	char *reply = NULL;
	int64_t t0;

	TEST_EQ_INT(test_nats_start(&n), 0);
	test_nats_stop(&n);
	t0 = time_mono_ms();
	TEST_EQ_INT(bus_connect(&bus, n.url, "test-down"), 0);
	TEST_ASSERT(time_mono_ms() - t0 < 3000);
	TEST_ASSERT(!bus_connected(bus));
	TEST_EQ_INT(bus_js_publish(bus, "calls.x.call_queued", "id-1", "{}", 2, 1000), EAGAIN);
	TEST_EQ_INT(bus_request(bus, &reply, NULL, "rooms.create", "{}", 2, 1000), EAGAIN);
	TEST_EQ_INT(bus_ensure_streams(bus), EAGAIN);
	TEST_EQ_INT(test_nats_restart(&n), 0);
	TEST_ASSERT(wait_for(connected_cond, bus, WAIT_MS));
	/* JetStream may need a moment after the server accepts connections. */
	int64_t end = time_mono_ms() + WAIT_MS;
	int e;
	while ((e = bus_ensure_streams(bus)) == EAGAIN && time_mono_ms() < end)
		test_nap_ms(50);
	TEST_EQ_INT(e, 0);
	TEST_EQ_INT(bus_js_publish(bus, "calls.x.call_queued", "id-1", "{}", 2, 2000), 0);
out:
	free(reply);
	bus = bus_close(bus);
	test_nats_destroy(&n);
	return err;
}

/* ---- 6. DIALS work queue with a durable pull consumer -------------------- */

struct dial_seen {
	int calls;
	int naks;
	char first[64];
	uint64_t redelivered; /* delivery count of the job seen twice */
	int ack_err;
};

static enum bus_ack dial_h(const struct bus_msg *msg, void *arg)
{
	struct dial_seen *d = arg;
	d->calls++;
	if (msg->len == 1 && msg->data[0] == 'a') {
		/* at-most-once: ack before doing the work */
		d->ack_err = bus_js_ack(msg, BUS_ACK_SYNC);
		return BUS_NAK; /* ignored: already acked */
	}
	if (msg->len == 1 && msg->data[0] == 'b') {
		if (msg->delivered == 1) {
			d->naks++;
			return BUS_NAK;
		}
		d->redelivered = msg->delivered;
		return BUS_ACK;
	}
	return BUS_TERM;
}

static int test_dials_pull_consumer(void)
{
	int err = 0;
	struct test_nats n = { 0 };
	struct bus *bus = NULL;
	struct bus_sub *sub = NULL;
	struct dial_seen d = { 0 };
	int got = 0;
	uint64_t msgs = 9;

	TEST_EQ_INT(test_nats_start(&n), 0);
	TEST_EQ_INT(bus_connect(&bus, n.url, "test-dials"), 0);
	TEST_EQ_INT(bus_ensure_streams(bus), 0);
	TEST_EQ_INT(bus_js_publish(bus, "dial.exotel", "job-a", "a", 1, 2000), 0);
	TEST_EQ_INT(bus_js_publish(bus, "dial.exotel", "job-b", "b", 1, 2000), 0);
	TEST_EQ_INT(bus_js_publish(bus, "dial.exotel", "job-c", "c", 1, 2000), 0);
	TEST_EQ_INT(bus_js_pull_sub(bus, &sub, "DIALS", "exotel", "dial.exotel"), 0);

	TEST_EQ_INT(bus_js_fetch(sub, 10, 2000, dial_h, &d, &got), 0);
	int64_t end = time_mono_ms() + WAIT_MS;
	while (d.redelivered == 0 && time_mono_ms() < end) {
		int e = bus_js_fetch(sub, 10, 500, dial_h, &d, &got);
		TEST_ASSERT(e == 0 || e == ETIMEDOUT);
	}
	TEST_EQ_INT(d.ack_err, 0);
	TEST_EQ_INT(d.naks, 1);
	TEST_EQ_INT(d.redelivered, 2);
	TEST_EQ_INT(d.calls, 4);
	/* Nothing left to deliver: a, b acked, c terminated. */
	TEST_EQ_INT(bus_js_fetch(sub, 10, 300, dial_h, &d, &got), ETIMEDOUT);
	TEST_EQ_INT(got, 0);
	TEST_EQ_INT(bus_js_stream_msgs(bus, "DIALS", &msgs), 0);
	printf("    DIALS holds %llu after a/b acked and c terminated\n", (unsigned long long)msgs);
	TEST_ASSERT(msgs <= 1);

	/* The durable survives the subscription: bind again. */
	sub = bus_unsubscribe(sub);
	TEST_EQ_INT(bus_js_publish(bus, "dial.exotel", "job-d", "a", 1, 2000), 0);
	TEST_EQ_INT(bus_js_pull_sub(bus, &sub, "DIALS", "exotel", "dial.exotel"), 0);
	TEST_EQ_INT(bus_js_fetch(sub, 10, 2000, dial_h, &d, &got), 0);
	TEST_EQ_INT(got, 1);
out:
	sub = bus_unsubscribe(sub);
	bus = bus_close(bus);
	test_nats_destroy(&n);
	return err;
}

/* A batch handler: "a" acked, "b" left as it starts (nak'ed) on its first
 * delivery and acked on its second, "c" terminated; records what it saw. */
struct batch_seen {
	int calls, msgs, max_n;
	uint64_t b_delivered;
	char order[16];
};

static void batch_h(const struct bus_msg *msgs, int n, enum bus_ack *hows, void *arg)
{
	struct batch_seen *b = arg;
	b->calls++;
	b->max_n = n > b->max_n ? n : b->max_n;
	for (int i = 0; i < n; i++) {
		char c = msgs[i].len == 1 ? msgs[i].data[0] : '?';
		if (b->msgs < (int)sizeof(b->order) - 1)
			b->order[b->msgs] = c;
		b->msgs++;
		if (hows[i] != BUS_NAK)
			hows[i] = BUS_TERM; /* every slot must start as BUS_NAK */
		else if (c == 'a')
			hows[i] = BUS_ACK;
		else if (c == 'b' && msgs[i].delivered > 1) {
			hows[i] = BUS_ACK;
			b->b_delivered = msgs[i].delivered;
		} else if (c == 'c')
			hows[i] = BUS_TERM;
	}
}

static int test_js_fetch_batch(void)
{
	int err = 0;
	struct test_nats n = { 0 };
	struct bus *bus = NULL;
	struct bus_sub *sub = NULL;
	struct batch_seen b = { 0 };
	int got = 0;

	TEST_EQ_INT(test_nats_start(&n), 0);
	TEST_EQ_INT(bus_connect(&bus, n.url, "test-batch"), 0);
	TEST_EQ_INT(bus_ensure_streams(bus), 0);
	TEST_EQ_INT(bus_js_publish(bus, "dial.exotel", "job-a", "a", 1, 2000), 0);
	TEST_EQ_INT(bus_js_publish(bus, "dial.exotel", "job-b", "b", 1, 2000), 0);
	TEST_EQ_INT(bus_js_publish(bus, "dial.exotel", "job-c", "c", 1, 2000), 0);
	TEST_EQ_INT(bus_js_pull_sub(bus, &sub, "DIALS", "exotel", "dial.exotel"), 0);
	TEST_EQ_INT(bus_js_fetch_batch(sub, 10, 2000, NULL, &b, &got), EINVAL);

	TEST_EQ_INT(bus_js_fetch_batch(sub, 10, 2000, batch_h, &b, &got), 0);
	TEST_EQ_INT(got, 3);
	TEST_EQ_INT(b.calls, 1); /* one call for the three */
	TEST_EQ_STR(b.order, "abc");
	int64_t end = time_mono_ms() + WAIT_MS;
	while (b.b_delivered == 0 && time_mono_ms() < end) {
		int e = bus_js_fetch_batch(sub, 10, 500, batch_h, &b, &got);
		TEST_ASSERT(e == 0 || e == ETIMEDOUT);
	}
	TEST_EQ_INT(b.b_delivered, 2); /* only the nak'ed one came back */
	TEST_EQ_STR(b.order, "abcb");
	TEST_EQ_INT(bus_js_fetch_batch(sub, 10, 300, batch_h, &b, &got), ETIMEDOUT);
	TEST_EQ_INT(got, 0);
	TEST_EQ_INT(b.msgs, 4);
out:
	sub = bus_unsubscribe(sub);
	bus = bus_close(bus);
	test_nats_destroy(&n);
	return err;
}

/* ---- pipelined publishes: acks collected later, a bounded number ------- */

static void swallow_h(const struct bus_msg *msg, void *arg)
{
	(void)msg;
	atomic_fetch_add((atomic_int *)arg, 1);
}

static int test_js_pipelined(void)
{
	int err = 0;
	struct test_nats n = { 0 };
	struct bus *bus = NULL;
	struct bus_sub *sub = NULL;
	struct bus_js_pub *pubs[8] = { 0 }, *extra = NULL;
	struct event *ev = NULL;
	atomic_int held = 0;
	uint64_t msgs = 0;

	TEST_EQ_INT(test_nats_start(&n), 0);
	TEST_EQ_INT(bus_connect(&bus, n.url, "test-pipelined"), 0);
	TEST_EQ_INT(bus_ensure_streams(bus), 0);
	/* eight in flight at once, then their acks: all stored */
	for (int i = 0; i < 8; i++) {
		char id[32], subject[64];
		snprintf(id, sizeof(id), "pipe-%d", i);
		snprintf(subject, sizeof(subject), "calls.pipe.n%d", i);
		TEST_EQ_INT(bus_js_pub_send(&pubs[i], bus, subject, id, "{}", 2, 5000), 0);
	}
	for (int i = 0; i < 8; i++) {
		TEST_EQ_INT(bus_js_pub_wait(pubs[i]), 0);
		pubs[i] = bus_js_pub_free(pubs[i]);
	}
	TEST_EQ_INT(new_event(&ev, EV_CALL_QUEUED), 0);
	TEST_EQ_INT(bus_publish_event_send(&pubs[0], bus, ev), 0);
	TEST_EQ_INT(bus_js_pub_wait(pubs[0]), 0);
	pubs[0] = bus_js_pub_free(pubs[0]);
	TEST_EQ_INT(bus_js_stream_msgs(bus, "CALLS", &msgs), 0);
	TEST_EQ_INT(msgs, 9);
	/* no stream takes the subject: the ack is "no responders" */
	TEST_EQ_INT(bus_js_pub_send(&pubs[0], bus, "nostream.y", "p-n", "{}", 2, 2000), 0);
	TEST_EQ_INT(bus_js_pub_wait(pubs[0]), EAGAIN);
	pubs[0] = bus_js_pub_free(pubs[0]);

	/* A listener that never acks holds the publishes: the third of a limit
	 * of two is refused at once (EBUSY); the two time out; then room again. */
	TEST_EQ_INT(bus_subscribe(bus, &sub, "held.>", NULL, swallow_h, &held), 0);
	bus_js_pub_limit(bus, 2);
	TEST_EQ_INT(bus_js_pub_send(&pubs[0], bus, "held.a", "h-0", "{}", 2, 300), 0);
	TEST_EQ_INT(bus_js_pub_send(&pubs[1], bus, "held.a", "h-1", "{}", 2, 300), 0);
	int64_t t0 = time_mono_ms();
	TEST_EQ_INT(bus_js_pub_send(&extra, bus, "held.a", "h-2", "{}", 2, 300), EBUSY);
	TEST_ASSERT(extra == NULL);
	TEST_ASSERT(time_mono_ms() - t0 < 100);
	TEST_EQ_INT(bus_js_pub_wait(pubs[0]), ETIMEDOUT);
	TEST_EQ_INT(bus_js_pub_wait(pubs[1]), ETIMEDOUT);
	TEST_ASSERT(atomic_load(&held) == 2);
	pubs[0] = bus_js_pub_free(pubs[0]);
	pubs[1] = bus_js_pub_free(pubs[1]);
	TEST_EQ_INT(bus_js_pub_send(&pubs[0], bus, "calls.pipe.after", "after", "{}", 2, 5000), 0);
	TEST_EQ_INT(bus_js_pub_wait(pubs[0]), 0);
out:
	for (int i = 0; i < 8; i++)
		pubs[i] = bus_js_pub_free(pubs[i]);
	extra = bus_js_pub_free(extra);
	event_free(ev);
	sub = bus_unsubscribe(sub);
	bus = bus_close(bus);
	test_nats_destroy(&n);
	return err;
}

static const struct test tests[] = {
	{ "event_to_core_subscriber", test_event_to_core_subscriber },
	{ "js_streams_and_dedupe", test_js_streams_and_dedupe },
	{ "publish_across_restart", test_publish_across_restart },
	{ "request_reply", test_request_reply },
	{ "queue_group", test_queue_group },
	{ "connect_while_down", test_connect_while_down },
	{ "dials_pull_consumer", test_dials_pull_consumer },
	{ "js_pipelined", test_js_pipelined },
	{ "js_fetch_batch", test_js_fetch_batch },
};

static int run(int argc, char **argv)
{
	int rc = test_run(__FILE__, tests, CM_ARRAY_LEN(tests), argc, argv);
	bus_library_shutdown(2000);
	return rc;
}

int main(int argc, char **argv)
{
	log_setup("test_bus", LOG_WARN, false);
	return run(argc, argv);
}
