/* The publisher thread: events and heartbeats go out in the order they were
 * queued; the sofia thread never waits for a JetStream ack. */
#include "bridge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PUB_RETRIES 3
#define PUB_QUEUE_MAX 100000

struct pub_item {
	struct pub_item *next;
	struct event *ev;   /* an event, or */
	char *subject;      /* a core publish */
	char *data;
	size_t len;
};

struct publisher {
	struct bus *bus;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pub_item *head, *tail;
	int queued;
	bool stop;
	int64_t stop_deadline_ms;
	struct metric *m_failed;
};

static void item_free(struct pub_item *it)
{
	event_free(it->ev);
	free(it->subject);
	free(it->data);
	free(it);
}

static void send_item(struct publisher *pub, struct pub_item *it)
{
	if (!it->ev) {
		if (bus_publish(pub->bus, it->subject, it->data, it->len) != 0)
			metric_add(pub->m_failed, 1);
		return;
	}
	int err = 0;
	for (int attempt = 0; attempt < PUB_RETRIES; attempt++) {
		err = bus_publish_event(pub->bus, it->ev);
		if (err == 0)
			return;
		struct timespec nap = { 0, 200 * 1000000L };
		nanosleep(&nap, NULL);
	}
	metric_add(pub->m_failed, 1);
	log_error("event_publish_failed", "%s %s: %s", event_type_name(it->ev->type), it->ev->call_id,
		  cm_strerror(err));
}

static void *publisher_main(void *arg)
{
	struct publisher *pub = arg;
	pthread_mutex_lock(&pub->mu);
	for (;;) {
		while (!pub->head && !pub->stop)
			pthread_cond_wait(&pub->cv, &pub->mu);
		if (!pub->head || (pub->stop && time_mono_ms() > pub->stop_deadline_ms))
			break;
		struct pub_item *it = pub->head;
		pub->head = it->next;
		if (!pub->head)
			pub->tail = NULL;
		pub->queued--;
		pthread_mutex_unlock(&pub->mu);
		send_item(pub, it);
		item_free(it);
		pthread_mutex_lock(&pub->mu);
	}
	pthread_mutex_unlock(&pub->mu);
	return NULL;
}

int publisher_start(struct publisher **pubp, struct bus *bus)
{
	struct publisher *pub = calloc(1, sizeof(*pub));
	if (!pub)
		return ENOMEM;
	pub->bus = bus;
	pthread_mutex_init(&pub->mu, NULL);
	pthread_cond_init(&pub->cv, NULL);
	pub->m_failed = metric_counter("sip_bridge_publish_failed_total", "events not published");
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

struct publisher *publisher_stop(struct publisher *pub, int timeout_ms)
{
	if (!pub)
		return NULL;
	pthread_mutex_lock(&pub->mu);
	pub->stop = true;
	pub->stop_deadline_ms = time_mono_ms() + timeout_ms;
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
