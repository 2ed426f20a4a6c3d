/* The publisher thread: events and heartbeats go out in the order they were
 * queued, in batches; the sofia thread never waits for a JetStream ack.
 * Any thread queues (publisher_event, publisher_raw); only the publisher
 * thread talks to NATS. */
#include "publish.h"

#include <pthread.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PUB_RETRIES 3
#define PUB_QUEUE_MAX 100000
#define PUB_BATCH_MAX 512          /* below the bus's 4096 outstanding acks */
#define PUB_ACK_TIMEOUT_MS 5000
#define PUB_DRAIN_MS 5000          /* publisher_free sends what is queued this long */

struct pub_item {
	struct pub_item *next;
	struct event *ev;   /* an event, or */
	char *subject;      /* a core publish */
	char *data;
	size_t len;
};

struct publisher {
	struct bus *bus;
	const char *source;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pub_item *head, *tail;
	int queued;
	bool stop;
	int64_t stop_deadline_ms;
	struct metric *m_failed;
	struct metric *m_calls_failed;
};

static void item_free(struct pub_item *it)
{
	event_free(it->ev);
	free(it->subject);
	free(it->data);
	free(it);
}

/* Past its drain deadline at shutdown: what is left is dropped. */
static bool give_up(struct publisher *pub)
{
	pthread_mutex_lock(&pub->mu);
	bool g = pub->stop && time_mono_ms() > pub->stop_deadline_ms;
	pthread_mutex_unlock(&pub->mu);
	return g;
}

/* Core publishes go out at once; events are published asynchronously and
 * confirmed as a batch (one wait for every ack instead of a round trip per
 * event). A batch not wholly confirmed is published again, event by event
 * and synchronously: the stream drops what it already holds (Nats-Msg-Id =
 * event id), and order is kept because nothing later was sent yet.
 * That event is retried for as long as NATS is away (EAGAIN: disconnected,
 * or JetStream not answering yet; ETIMEDOUT: maybe stored, the id dedupes),
 * so a call's call_answered / call_ended outlives a NATS restart; other
 * errors get PUB_RETRIES tries, and past the drain deadline at shutdown
 * nothing is retried. */
static void send_event_sync(struct publisher *pub, const struct event *ev)
{
	int err = 0;
	for (int attempt = 0;; attempt++) {
		err = bus_publish_event(pub->bus, ev);
		if (err == 0)
			return;
		bool transient = err == EAGAIN || err == ETIMEDOUT;
		if ((!transient && attempt + 1 >= PUB_RETRIES) || give_up(pub))
			break;
		if (attempt + 1 == PUB_RETRIES)
			log_warn("event_publish_waiting", "%s %s: %s; retrying until NATS is back",
				 event_type_name(ev->type), ev->call_id, cm_strerror(err));
		struct timespec nap = { 0, 200 * 1000000L };
		nanosleep(&nap, NULL);
	}
	metric_add(pub->m_failed, 1);
	log_error("event_publish_failed", "%s %s: %s", event_type_name(ev->type), ev->call_id,
		  cm_strerror(err));
}

static int send_event_async(struct publisher *pub, const struct event *ev)
{
	char subject[EVENT_SUBJECT_MAX];
	char *json = NULL;
	int err = event_subject(subject, sizeof(subject), ev);
	if (!err)
		err = event_encode(&json, ev);
	if (!err)
		err = bus_js_publish_async(pub->bus, subject, ev->id, json, strlen(json),
					   PUB_ACK_TIMEOUT_MS);
	free(json);
	return err;
}

static void send_batch(struct publisher *pub, struct pub_item *batch)
{
	bool async_ok = true;
	int events = 0;
	for (struct pub_item *it = batch; it; it = it->next) {
		if (!it->ev) {
			if (bus_publish(pub->bus, it->subject, it->data, it->len) != 0)
				metric_add(pub->m_failed, 1);
		} else if (async_ok) {
			async_ok = send_event_async(pub, it->ev) == 0;
			events++;
		}
	}
	if (!events)
		return;
	uint64_t failed = 0;
	if (async_ok && bus_js_publish_async_wait(pub->bus, PUB_ACK_TIMEOUT_MS, &failed) == 0 &&
	    failed == 0)
		return;
	log_warn("event_batch_unconfirmed", "%d events: publishing them again one by one", events);
	for (struct pub_item *it = batch; it; it = it->next)
		if (it->ev)
			send_event_sync(pub, it->ev);
}

static void *publisher_main(void *arg)
{
	struct publisher *pub = arg;
	pthread_setname_np(pthread_self(), "sb-publisher");
	pthread_mutex_lock(&pub->mu);
	for (;;) {
		while (!pub->head && !pub->stop)
			pthread_cond_wait(&pub->cv, &pub->mu);
		if (!pub->head || (pub->stop && time_mono_ms() > pub->stop_deadline_ms))
			break;
		/* everything queued so far, at most PUB_BATCH_MAX items */
		struct pub_item *batch = pub->head, *last = batch;
		int n = 1;
		while (last->next && n < PUB_BATCH_MAX) {
			last = last->next;
			n++;
		}
		pub->head = last->next;
		if (!pub->head)
			pub->tail = NULL;
		last->next = NULL;
		pub->queued -= n;
		pthread_mutex_unlock(&pub->mu);
		send_batch(pub, batch);
		while (batch) {
			struct pub_item *next = batch->next;
			item_free(batch);
			batch = next;
		}
		pthread_mutex_lock(&pub->mu);
	}
	pthread_mutex_unlock(&pub->mu);
	return NULL;
}

int publisher_new(struct publisher **pubp, struct bus *bus, const char *source)
{
	struct publisher *pub = calloc(1, sizeof(*pub));
	if (!pub)
		return ENOMEM;
	pub->bus = bus;
	pub->source = source;
	pthread_mutex_init(&pub->mu, NULL);
	pthread_cond_init(&pub->cv, NULL);
	pub->m_failed = metric_counter("sip_bridge_publish_failed_total", "events not published");
	pub->m_calls_failed = metric_counter("sip_bridge_failed_total", "calls failed");
	int err = pthread_create(&pub->thread, NULL, publisher_main, pub);
	if (err) {
		free(pub);
		return err;
	}
	*pubp = pub;
	return 0;
}

static void enqueue(struct publisher *pub, struct pub_item *it)
{
	pthread_mutex_lock(&pub->mu);
	if (pub->queued >= PUB_QUEUE_MAX) {
		pthread_mutex_unlock(&pub->mu);
		log_error("publish_queue_full", "dropping a message");
		item_free(it);
		return;
	}
	if (pub->tail)
		pub->tail->next = it;
	else
		pub->head = it;
	pub->tail = it;
	pub->queued++;
	pthread_cond_signal(&pub->cv);
	pthread_mutex_unlock(&pub->mu);
}

void publisher_event(struct publisher *pub, struct event *ev)
{
	if (!ev)
		return;
	struct pub_item *it = calloc(1, sizeof(*it));
	if (!it) {
		event_free(ev);
		return;
	}
	it->ev = ev;
	enqueue(pub, it);
}

void publisher_raw(struct publisher *pub, const char *subject, const char *data, size_t len)
{
	struct pub_item *it = calloc(1, sizeof(*it));
	if (!it)
		return;
	it->subject = strdup(subject);
	it->data = malloc(len ? len : 1);
	if (!it->subject || !it->data) {
		item_free(it);
		return;
	}
	memcpy(it->data, data, len);
	it->len = len;
	enqueue(pub, it);
}

struct event *publisher_draft(struct publisher *pub, enum event_type type, const char *call_id,
			      const char *room)
{
	struct event *ev = NULL;
	if (event_new(&ev, type, call_id, room, pub->source))
		return NULL;
	return ev;
}

void publisher_call_failed(struct publisher *pub, const char *call_id, const char *room,
			   const char *status, int sip_code, const char *reason)
{
	struct event *ev = publisher_draft(pub, EV_CALL_FAILED, call_id, room);
	if (!ev)
		return;
	if (event_set_str(ev, "status", status) ||
	    (sip_code >= 100 && sip_code <= 699 && event_set_int(ev, "sip_code", sip_code)) ||
	    (reason && event_set_str(ev, "sip_reason", reason))) {
		event_free(ev);
		return;
	}
	metric_add(pub->m_calls_failed, 1);
	publisher_event(pub, ev);
}

struct publisher *publisher_free(struct publisher *pub)
{
	if (!pub)
		return NULL;
	pthread_mutex_lock(&pub->mu);
	pub->stop = true;
	pub->stop_deadline_ms = time_mono_ms() + PUB_DRAIN_MS;
	pthread_cond_signal(&pub->cv);
	pthread_mutex_unlock(&pub->mu);
	pthread_join(pub->thread, NULL);
	while (pub->head) {
		struct pub_item *it = pub->head;
		pub->head = it->next;
		item_free(it);
	}
	pthread_mutex_destroy(&pub->mu);
	pthread_cond_destroy(&pub->cv);
	free(pub);
	return NULL;
}
