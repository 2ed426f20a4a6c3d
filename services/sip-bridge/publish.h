/* sip-bridge's publisher (publish.c, over libs/outbox): events and
 * heartbeats to NATS in the order queued, so a slow JetStream ack never
 * stalls SIP or media. Any thread may queue. */
#ifndef SIP_BRIDGE_PUBLISH_H
#define SIP_BRIDGE_PUBLISH_H

#include "bus/bus.h"
#include "event/event.h"

struct publisher;
/* Starts the thread. bus and source (our event source) are borrowed. */
int publisher_new(struct publisher **pubp, struct bus *bus, const char *source) CM_MUST_USE;
/* Sends what is queued (at most 5 s), stops the thread, frees. NULL-safe. */
struct publisher *publisher_free(struct publisher *pub);
/* An event of ours for call_id/room, to fill and queue; NULL when out of memory. */
struct event *publisher_draft(struct publisher *pub, enum event_type type, const char *call_id,
			      const char *room);
/* Queues ev (takes ownership; NULL is ignored). */
void publisher_event(struct publisher *pub, struct event *ev);
/* Queues a core publish of a copy of data. */
void publisher_raw(struct publisher *pub, const char *subject, const char *data, size_t len);
/* call_failed for a call (a job never dialed, or a call that failed):
 * status, sip_code when 100..699, sip_reason when not NULL. */
void publisher_call_failed(struct publisher *pub, const char *call_id, const char *room,
			   const char *status, int sip_code, const char *reason);

#endif
