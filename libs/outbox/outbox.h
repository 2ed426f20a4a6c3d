/* An outbox (outbox.c): one thread that sends events to JetStream and core
 * publishes to NATS in the order they were queued, so that no caller waits
 * for an ack, and no event is lost while NATS restarts (an event is retried
 * for as long as NATS is away). Any thread may queue. */
#ifndef CALLMESH_OUTBOX_H
#define CALLMESH_OUTBOX_H

#include "bus/bus.h"
#include "event/event.h"

#include <stddef.h>

struct outbox;
/* Starts the thread (named thread_name, at most 15 characters); bus is
 * borrowed. Events that could not be sent count in failed_metric. */
int outbox_new(struct outbox **obp, struct bus *bus, const char *thread_name,
	       const char *failed_metric) CM_MUST_USE;
/* Sends what is queued (at most 5 s), stops the thread, frees. NULL-safe;
 * returns NULL. */
struct outbox *outbox_free(struct outbox *ob);
/* Queues ev (takes ownership; NULL is ignored). */
void outbox_event(struct outbox *ob, struct event *ev);
/* Queues a core publish of a copy of data. */
void outbox_raw(struct outbox *ob, const char *subject, const char *data, size_t len);

#endif
