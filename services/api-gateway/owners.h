/*
 * owners — owner liveness (proto/COMMANDS.md "owners.heartbeat"): a call in
 * a worker's hands (an outbound call dialing, ringing, in_progress or
 * on_hold) that its owner has not listed for timeout_s ends as failed.
 *
 * Processes owning call legs publish {"v":1,"source","calls":[ids…],"ts"}
 * every 2 s. owners remembers, per call id, when it was last listed (local
 * receipt time). About once a second it reads the live outbound calls and,
 * for each, takes the latest of: its last listing, its call_dialing event's
 * ts, and the moment owners started (so nothing fails before a full
 * timeout of heartbeats has been observed; the same after our NATS
 * connection was down, when no heartbeat could reach us). A call whose
 * latest is older than timeout_s gets call_failed {status:"failed", sip_reason:"owner lost",
 * reason:"owner_lost"} with a deterministic event id; the persister ends it.
 *
 * An outbound call still `queued` timeout_s after its dial_by (stored with
 * the row; rows without one: dial_queue_timeout_s after creation) and not
 * listed by any owner meanwhile (no dialer took its job: none running, all
 * full, or one died between taking the job and call_dialing) gets
 * call_failed {status "failed", reason "not_dialed"}; dialers drop such a
 * job at its dial_by.
 *
 * Threads: the heartbeat handler runs on a nats.c thread (a mutex-protected
 * table); the scan has its own thread and database connection.
 */
#ifndef CALLMESH_GATEWAY_OWNERS_H
#define CALLMESH_GATEWAY_OWNERS_H

#include "bus/bus.h"
#include "core/core.h"

#define OWNERS_SUBJECT "owners.heartbeat"
#define OWNERS_TRACKED_MAX 65536 /* call ids remembered at once */

struct owners_opts {
	int timeout_s; /* OWNER_TIMEOUT_S; 0 → 10 */
	int dial_queue_timeout_s; /* DIAL_QUEUE_TIMEOUT_S; 0 → 300 */
	int scan_ms;   /* 0 → 1000 */
};

struct owners;

/* Subscribes to owners.heartbeat and starts the scan thread. Borrows bus
 * (must outlive it); copies the strings; opts may be NULL. */
int owners_new(struct owners **op, struct bus *bus, const char *database_url,
	       const char *source, const struct owners_opts *opts) CM_MUST_USE;
/* Unsubscribes, stops the thread, frees. NULL-safe; returns NULL. */
struct owners *owners_free(struct owners *o);

/* Records one heartbeat (`len` bytes of JSON) received at now_ms; the
 * subscription's handler calls it. EINVAL for a malformed one. Any thread. */
int owners_heartbeat(struct owners *o, const char *json, size_t len, int64_t now_ms) CM_MUST_USE;

/* Calls failed since start, owner lost or not dialed (metrics, tests). */
uint64_t owners_failed_count(const struct owners *o);

#endif
