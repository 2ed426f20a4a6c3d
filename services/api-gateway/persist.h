/*
 * persist — the CALLS persister (DESIGN §4, §5): a durable JetStream pull
 * consumer "api-gateway-persister" on calls.> that writes every event to
 * call_events (idempotent by event id) and keeps the calls row current
 * through lifecycle.h, plus final transcript segments.
 *
 * Per message, one transaction: insert the event (ON CONFLICT DO NOTHING);
 * only when it is new, lock the call row (FOR UPDATE), apply the event and
 * recompute hold accounting from the stored hold/resume events, so
 * redelivered or reordered events leave one correct record. An event that
 * changes neither the row nor the transcript (call_queued, agent_speaking…)
 * is the INSERT alone, committed by itself; consecutive such events of a
 * fetched batch share one INSERT (jsonb_to_recordset), and their messages
 * are acked after it. The message is acked after COMMIT. An event that
 * does not decode, or that PostgreSQL refuses as data (alone, when a shared
 * INSERT is refused), is logged and terminated (never redelivered); while PostgreSQL is
 * down messages are nak'ed and the consumer backs off until the database
 * answers again (nothing is lost). Events of calls that have no row are
 * kept apart in stray_events (logged as persist_stray_event): they never
 * join a call's record or change a calls row.
 *
 * Each transaction is bracketed on the record cache (record_cache.h), so a
 * GET /calls/{id} after a committed event never shows the record without it.
 *
 * Threads: one thread of its own with its own database connection.
 */
#ifndef CALLMESH_GATEWAY_PERSIST_H
#define CALLMESH_GATEWAY_PERSIST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/core.h"
#include "record_cache.h"

#define PERSIST_DURABLE "api-gateway-persister"

struct persist;

/* Allocates and starts the persister thread. Borrows bus and cache (must outlive the
 * persister; cache NULL: none), every transaction bracketed on the cache;
 * database_url and source are copied. The thread connects to PostgreSQL and
 * binds the consumer itself, retrying while either is down; its connection
 * prepares its statements when `prepared` (DB_PREPARED, db_set_prepared). */
int persist_new(struct persist **pp, struct bus *bus, const char *database_url, const char *source,
		struct record_cache *cache, bool prepared) CM_MUST_USE;
/* Stops the thread (within about a second) and frees. NULL-safe; NULL. */
struct persist *persist_free(struct persist *p);

/* Events handled since start: stored (new), duplicates, terminated
 * (invalid), strays (no such call: stray_events); batched: those of
 * `stored` that a run's one statement stored. For metrics and tests. */
struct persist_stats {
	uint64_t stored, duplicates, invalid, strays, batched;
};
void persist_stats(const struct persist *p, struct persist_stats *st);

/* A deterministic event id (UUID version 5 layout over SHA-1 of
 * "callmesh\0<scope>\0<key>"), so a retried publisher reuses its id and
 * JetStream (Nats-Msg-Id) and call_events dedupe it. */
int persist_event_id(char out[ID_UUID_LEN + 1], const char *scope, const char *key) CM_MUST_USE;

/* Waits on `cv` until *stop or timeout_ms; mu is held by the caller. Shared
 * by the api-gateway worker threads. Returns *stop. */
bool persist_wait(pthread_mutex_t *mu, pthread_cond_t *cv, const bool *stop, int timeout_ms);
/* A condition variable on CLOCK_MONOTONIC, for persist_wait(). */
int persist_cond_init(pthread_cond_t *cv) CM_MUST_USE;

#endif
