/* The outbox thread: events and core publishes go out in the order they
 * were queued, in batches; whoever queues never waits for a JetStream ack
 * or for NATS to come back. Any thread queues (outbox_event, outbox_raw);
 * only the outbox thread talks to NATS. */
#include "outbox.h"

#include <pthread.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OB_RETRIES 3
#define OB_QUEUE_MAX 100000
#define OB_BATCH_MAX 512          /* below the bus's 4096 outstanding acks */
#define OB_ACK_TIMEOUT_MS 5000
#define OB_DRAIN_MS 5000          /* outbox_free sends what is queued this long */

struct ob_item {
	struct ob_item *next;
	struct event *ev;   /* an event, or */
	char *subject;      /* a core publish */
	char *data;
	size_t len;
};

struct outbox {
	struct bus *bus;
	char thread_name[16];
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ob_item *head, *tail;
	int queued;
	bool stop;
	int64_t stop_deadline_ms;
	struct metric *m_failed;
};

static void item_free(struct ob_item *it)
{
	event_free(it->ev);
	free(it->subject);
	free(it->data);
	free(it);
}

/* Past its drain deadline at shutdown: what is left is dropped. */
static bool give_up(struct outbox *ob)
{
	pthread_mutex_lock(&ob->mu);
	bool g = ob->stop && time_mono_ms() > ob->stop_deadline_ms;
	pthread_mutex_unlock(&ob->mu);
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
 * errors get OB_RETRIES tries, and past the drain deadline at shutdown
 * nothing is retried. */
static void send_event_sync(struct outbox *ob, const struct event *ev)
{
	int err = 0;
	for (int attempt = 0;; attempt++) {
		err = bus_publish_event(ob->bus, ev);
		if (err == 0)
			return;
		bool transient = err == EAGAIN || err == ETIMEDOUT;
		if ((!transient && attempt + 1 >= OB_RETRIES) || give_up(ob))
			break;
		if (attempt + 1 == OB_RETRIES)
			log_warn("event_publish_waiting", "%s %s: %s; retrying until NATS is back",
				 event_type_name(ev->type), ev->call_id, cm_strerror(err));
		struct timespec nap = { 0, 200 * 1000000L };
		nanosleep(&nap, NULL);
	}
	metric_add(ob->m_failed, 1);
	log_error("event_publish_failed", "%s %s: %s", event_type_name(ev->type), ev->call_id,
		  cm_strerror(err));
}

static int send_event_async(struct outbox *ob, const struct event *ev)
{
	char subject[EVENT_SUBJECT_MAX];
	char *json = NULL;
	int err = event_subject(subject, sizeof(subject), ev);
	if (!err)
		err = event_encode(&json, ev);
	if (!err)
		err = bus_js_publish_async(ob->bus, subject, ev->id, json, strlen(json),
					   OB_ACK_TIMEOUT_MS);
	free(json);
	return err;
}

static void send_batch(struct outbox *ob, struct ob_item *batch)
{
	bool async_ok = true;
	int events = 0;
	for (struct ob_item *it = batch; it; it = it->next) {
		if (!it->ev) {
			if (bus_publish(ob->bus, it->subject, it->data, it->len) != 0)
				metric_add(ob->m_failed, 1);
		} else if (async_ok) {
			async_ok = send_event_async(ob, it->ev) == 0;
			events++;
		}
	}
	if (!events)
		return;
	uint64_t failed = 0;
	if (async_ok && bus_js_publish_async_wait(ob->bus, OB_ACK_TIMEOUT_MS, &failed) == 0 &&
	    failed == 0)
		return;
	log_warn("event_batch_unconfirmed", "%d events: publishing them again one by one", events);
	for (struct ob_item *it = batch; it; it = it->next)
		if (it->ev)
			send_event_sync(ob, it->ev);
}

static void *outbox_main(void *arg)
{
	struct outbox *ob = arg;
	pthread_setname_np(pthread_self(), ob->thread_name);
	pthread_mutex_lock(&ob->mu);
	for (;;) {
		while (!ob->head && !ob->stop)
			pthread_cond_wait(&ob->cv, &ob->mu);
		if (!ob->head || (ob->stop && time_mono_ms() > ob->stop_deadline_ms))
			break;
		/* everything queued so far, at most OB_BATCH_MAX items */
		struct ob_item *batch = ob->head, *last = batch;
		int n = 1;
		while (last->next && n < OB_BATCH_MAX) {
			last = last->next;
			n++;
		}
		ob->head = last->next;
		if (!ob->head)
			ob->tail = NULL;
		last->next = NULL;
		ob->queued -= n;
		pthread_mutex_unlock(&ob->mu);
		send_batch(ob, batch);
		while (batch) {
			struct ob_item *next = batch->next;
			item_free(batch);
			batch = next;
		}
		pthread_mutex_lock(&ob->mu);
	}
	pthread_mutex_unlock(&ob->mu);
	return NULL;
}

int outbox_new(struct outbox **obp, struct bus *bus, const char *thread_name,
	       const char *failed_metric)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	if (!ob)
		return ENOMEM;
	ob->bus = bus;
	snprintf(ob->thread_name, sizeof(ob->thread_name), "%s", thread_name);
	pthread_mutex_init(&ob->mu, NULL);
	pthread_cond_init(&ob->cv, NULL);
	ob->m_failed = metric_counter(failed_metric, "events not published");
	int err = pthread_create(&ob->thread, NULL, outbox_main, ob);
	if (err) {
		free(ob);
		return err;
	}
	*obp = ob;
	return 0;
}

static void enqueue(struct outbox *ob, struct ob_item *it)
{
	pthread_mutex_lock(&ob->mu);
	if (ob->queued >= OB_QUEUE_MAX) {
		pthread_mutex_unlock(&ob->mu);
		log_error("publish_queue_full", "dropping a message");
		item_free(it);
		return;
	}
	if (ob->tail)
		ob->tail->next = it;
	else
		ob->head = it;
	ob->tail = it;
	ob->queued++;
	pthread_cond_signal(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
}

void outbox_event(struct outbox *ob, struct event *ev)
{
	if (!ev)
		return;
	struct ob_item *it = calloc(1, sizeof(*it));
	if (!it) {
		event_free(ev);
		return;
	}
	it->ev = ev;
	enqueue(ob, it);
}

void outbox_raw(struct outbox *ob, const char *subject, const char *data, size_t len)
{
	struct ob_item *it = calloc(1, sizeof(*it));
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
	enqueue(ob, it);
}

struct outbox *outbox_free(struct outbox *ob)
{
	if (!ob)
		return NULL;
	pthread_mutex_lock(&ob->mu);
	ob->stop = true;
	ob->stop_deadline_ms = time_mono_ms() + OB_DRAIN_MS;
	pthread_cond_signal(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
	pthread_join(ob->thread, NULL);
	while (ob->head) {
		struct ob_item *it = ob->head;
		ob->head = it->next;
		item_free(it);
	}
	pthread_mutex_destroy(&ob->mu);
	pthread_cond_destroy(&ob->cv);
	free(ob);
	return NULL;
}
