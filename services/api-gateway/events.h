/* GET /events: every calls.> event as Server-Sent Events for the console
 * (and anyone with a key), filtered by call and type, with heartbeats. Each
 * client has a bounded queue: one that does not keep up is dropped (its
 * stream ends with an `event: dropped`), never buffered without end. At most
 * `max_clients` streams at once; more get 503 too_many_streams. */
#ifndef CALLMESH_GATEWAY_EVENTS_H
#define CALLMESH_GATEWAY_EVENTS_H

#include "bus/bus.h"
#include "httpd/httpd.h"

struct events;

#define EVENTS_QUEUE_MAX (256 * 1024) /* bytes queued for one client */
#define EVENTS_HEARTBEAT_MS 15000     /* ": ping" comment when idle */
#define EVENTS_PEER_CHECK_MS 1000     /* a closed client's stream ends within this */
#define EVENTS_TYPES_MAX 16           /* types in one ?type= filter */

/* Subscribes to calls.> on `bus` (borrowed, must outlive the hub) and
 * starts the heartbeat thread. Caller frees with events_free() after the
 * HTTP server that serves the streams has stopped. */
int events_new(struct events **evp, struct bus *bus, unsigned max_clients) CM_MUST_USE;
struct events *events_free(struct events *ev);

/* The handler of GET /events (?call_id=<uuid>&type=a,b); arg = the hub. */
void events_serve(struct httpd_req *req, struct events *ev);

#endif
