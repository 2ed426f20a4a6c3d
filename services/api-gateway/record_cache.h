/*
 * record_cache — GET /calls/{id} reply bodies kept in memory (issue #3): a
 * bounded LRU keyed by call id, shared by the API threads, the persister
 * and the steps that start a call.
 *
 * Freshness within one process. Every write to a table the record shows
 * (calls, call_events, transcript_segments) is bracketed:
 * record_cache_write_begin(call) before the write, record_cache_write_end()
 * after its COMMIT (or rollback). From begin to end no body of that call is
 * served or stored, and a reader that took its ticket before end cannot
 * store what it read. So once a write is committed and ended, every GET is
 * answered from the database or from a body loaded after the commit; and a
 * GET racing the commit sees the database, never an older cached body.
 * Readers: record_cache_get(); on a miss take a ticket, load, then
 * record_cache_put() with that ticket.
 *
 * Across instances. The CALLS persister is one durable consumer shared by
 * every api-gateway instance, so instance A may commit an event of a call
 * that instance B holds; B's cache is not told. Bodies therefore expire
 * ttl_ms after the load that produced them began (RECORD_CACHE_TTL_MS): the
 * most another instance's record can lag (docs/decisions.md).
 *
 * Bounds: at most max_entries bodies and max_bytes of body text; the least
 * recently used go first; a body over max_bytes / 16 is not stored.
 *
 * Threads: every function may be called from any thread (one mutex, held
 * for lookups and list updates only; bodies are shared by reference).
 */
#ifndef CALLMESH_GATEWAY_RECORD_CACHE_H
#define CALLMESH_GATEWAY_RECORD_CACHE_H

#include "core/core.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECORD_CACHE_ENTRIES 4096          /* bodies held at once */
#define RECORD_CACHE_BYTES   (32u << 20)   /* body text held at once */
#define RECORD_CACHE_TTL_MS  1000          /* cross-instance staleness bound */

/* A rendered body, immutable and shared by the cache and its readers. */
struct record_body {
	atomic_uint refs; /* private */
	size_t len;
	char text[];      /* len bytes, NUL-terminated */
};

/* A copy of text[0..len) with one reference, the caller's. ENOMEM. */
int record_body_new(struct record_body **bp, const char *text, size_t len) CM_MUST_USE;
/* Drops one reference. NULL-safe; returns NULL. */
struct record_body *record_body_unref(struct record_body *b);

struct record_cache;

/* max_entries ≥ 1, max_bytes ≥ 1, ttl_ms ≥ 1. EINVAL, ENOMEM. Caller frees
 * with record_cache_free(). */
int record_cache_new(struct record_cache **cp, size_t max_entries, size_t max_bytes,
		     int ttl_ms) CM_MUST_USE;
/* Frees the cache; bodies still held by readers stay valid. NULL-safe;
 * returns NULL. */
struct record_cache *record_cache_free(struct record_cache *c);

/* The body cached for call_id (a UUID, any case), fresh and with no write
 * of the call in progress, with one reference the caller drops with
 * record_body_unref(); NULL on a miss. c may be NULL (always a miss). */
struct record_body *record_cache_get(struct record_cache *c, const char *call_id);

/* Taken before a load from the database; record_cache_put() stores the
 * result only when no write of the call began since. */
struct record_cache_ticket {
	uint64_t gen; /* 0: a write was in progress, nothing will be stored */
	int64_t at_ms;
};
void record_cache_ticket(struct record_cache *c, const char *call_id,
			 struct record_cache_ticket *t);
/* Stores b (the cache takes its own reference) for call_id, evicting the
 * least recently used to stay in bounds. False when not stored: stale
 * ticket, a write in progress, b too large, out of memory, or c NULL. */
bool record_cache_put(struct record_cache *c, const char *call_id,
		      const struct record_cache_ticket *t, struct record_body *b);

/* Bracket every write to calls, call_events or transcript_segments of
 * call_id: begin before the first statement, end after COMMIT or rollback
 * (exactly once per begin). c may be NULL. */
void record_cache_write_begin(struct record_cache *c, const char *call_id);
void record_cache_write_end(struct record_cache *c, const char *call_id);

/* Counters, for metrics and tests. */
struct record_cache_stats {
	size_t entries, bytes;
	uint64_t hits, misses, stored, refused, evicted;
};
void record_cache_stats(struct record_cache *c, struct record_cache_stats *st);

#endif
