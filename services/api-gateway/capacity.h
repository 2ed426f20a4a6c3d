/*
 * capacity — how full the workers that own calls are, from their
 * owners.heartbeat (proto/COMMANDS.md): per source, the calls it listed and
 * its max_calls (MAX_CALLS). A new call is refused (503 at_capacity) while
 * every live worker of its kind lists max_calls calls or more, rather than
 * queueing behind calls that may last an hour. A source is live for
 * CAPACITY_LIVE_MS after its last heartbeat (they come every 2 s).
 *
 * The answer follows the heartbeats: calls accepted between two of them wait
 * in DIALS for a free slot, as every call did before; a slot freed since the
 * last heartbeat is seen at the next one.
 *
 * Threads: the heartbeat handler runs on a nats.c thread, the REST handlers
 * ask from theirs; one mutex.
 */
#ifndef CALLMESH_GATEWAY_CAPACITY_H
#define CALLMESH_GATEWAY_CAPACITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/core.h"

#define CAPACITY_SOURCES_MAX 256 /* workers remembered at once */
#define CAPACITY_LIVE_MS 6000    /* three heartbeats */

struct capacity;

/* Subscribes to owners.heartbeat on bus (borrowed; NULL: no subscription,
 * heartbeats only through capacity_heartbeat()). ENOMEM, or bus's error. */
int capacity_new(struct capacity **cp, struct bus *bus) CM_MUST_USE;
struct capacity *capacity_free(struct capacity *c);

/* One heartbeat (`len` bytes of JSON) received at now_ms (monotonic).
 * EINVAL for a malformed one (nothing changes). */
int capacity_heartbeat(struct capacity *c, const char *json, size_t len,
		       int64_t now_ms) CM_MUST_USE;

/* Whether every live worker of `kind` ("sip-bridge": sources "sip-bridge/…")
 * is full. False when none is live or one states no max_calls (then nothing
 * is known to be full). *callsp and *maxp get the live workers' sums. */
bool capacity_full(struct capacity *c, const char *kind, int64_t now_ms, long *callsp,
		   long *maxp);

#endif
