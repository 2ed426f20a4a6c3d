/* libs/outbox against a real nats-server with JetStream: events queued while
 * the server is down are stored in CALLS once it is back, in the order
 * queued, and outbox_free sends what is still queued. */
#include "bus/bus.h"
#include "event/event.h"
#include "harness/test.h"
#include "outbox/outbox.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define WAIT_MS 15000
#define EVENTS 5

struct seen {
	char want[EVENTS][ID_UUID_LEN + 1]; /* event ids, in the order queued */
	int n;                              /* how many arrived, in that order */
	int out_of_order;
};

static enum bus_ack on_stored(const struct bus_msg *msg, void *arg)
{
	struct seen *s = arg;
	struct event *ev = NULL;
	if (event_decode(&ev, msg->data, (size_t)msg->len, NULL, 0) == 0 && s->n < EVENTS &&
	    strcmp(ev->id, s->want[s->n]) == 0)
		s->n++;
	else
		s->out_of_order++;
	event_free(ev);
	return BUS_ACK;
}

/* Reads CALLS until every event arrived or WAIT_MS passed. */
static int read_stored(struct bus *bus, struct seen *s)
{
	int err = 0;
	struct bus_sub *sub = NULL;
	int64_t deadline = time_mono_ms() + WAIT_MS;
	int serr;
	/* EAGAIN until the client has reconnected */
	while ((serr = bus_js_pull_sub(bus, &sub, "CALLS", "outbox_reader", "calls.>")) == EAGAIN &&
	       time_mono_ms() < deadline)
		test_nap_ms(20);
	TEST_EQ_INT(serr, 0);
	while (s->n < EVENTS && time_mono_ms() < deadline) {
		int ferr = bus_js_fetch(sub, 64, 500, on_stored, s, NULL);
		TEST_ASSERT(ferr == 0 || ferr == ETIMEDOUT || ferr == EAGAIN);
	}
out:
	bus_unsubscribe(sub);
	return err;
}

static int test_queued_while_nats_is_down(void)
{
	int err = 0;
	struct test_nats nats = { 0 };
	struct bus *bus = NULL;
	struct outbox *ob = NULL;
	struct seen s = { 0 };
	char call_id[ID_UUID_LEN + 1];
	TEST_EQ_INT(test_nats_start(&nats), 0);
	TEST_EQ_INT(bus_connect(&bus, nats.url, "test-outbox"), 0);
	TEST_EQ_INT(bus_ensure_streams(bus), 0);
	TEST_EQ_INT(outbox_new(&ob, bus, "test-outbox", "test_outbox_failed_total"), 0);
	TEST_EQ_INT(id_uuid4(call_id), 0);
	test_nats_stop(&nats);
	for (int i = 0; i < EVENTS; i++) {
		struct event *ev = NULL;
		TEST_EQ_INT(event_new(&ev, EV_AGENT_SPEAKING, call_id, "room-ob", "test/ob"), 0);
		snprintf(s.want[i], sizeof(s.want[i]), "%s", ev->id);
		outbox_event(ob, ev);
	}
	/* longer than the three tries 200 ms apart an event used to get */
	test_nap_ms(1500);
	TEST_EQ_INT(test_nats_restart(&nats), 0);
	TEST_EQ_INT(read_stored(bus, &s), 0);
	printf("    stored in order after the restart: %d of %d (%d not in order)\n", s.n, EVENTS,
	       s.out_of_order);
	TEST_EQ_INT(s.n, EVENTS);
	TEST_EQ_INT(s.out_of_order, 0);
out:
	ob = outbox_free(ob);
	bus = bus_close(bus);
	test_nats_destroy(&nats);
	return err;
}

static const struct test tests[] = {
	{ "queued_while_nats_is_down", test_queued_while_nats_is_down },
};

TEST_MAIN(tests)
