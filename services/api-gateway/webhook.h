/*
 * webhook — the end-of-call webhook (issue #3): once a call is terminal and
 * settled, POST its full record (record_load(), the GET /calls/{id} data) to
 * its assistant's end_call_url, and publish webhook_delivered or
 * webhook_failed.
 *
 * Settled: the call never rang through (an unanswered outbound call has
 * nothing to record), or a recording_ready arrived, or the latest recording
 * event is a recording_failed, or settle_s passed since ended_at.
 *
 * Delivery: Content-Type application/json, at most `attempts` tries, each
 * bounded by timeout_s; 2xx is delivered; 429, 5xx and transport errors are
 * retried after backoff_ms, doubling (1 s, 2 s, 4 s); any other status is
 * final. At most once per call, across instances and restarts: a worker
 * claims the call (calls.webhook_claimed_at, committed) before the first
 * attempt; the outcome goes to webhook_status / webhook_attempts /
 * webhook_done_at. Calls whose assistant has no URL are marked "skipped".
 * A claim left without an outcome (its api-gateway was killed mid-delivery)
 * is found once past the stale_s its claimer stored with it
 * (calls.webhook_stale_at) and recorded as failed, with webhook_failed
 * "interrupted": never sent again.
 *
 * Threads: `workers` threads, each with its own database connection,
 * posting with libs/httpc; they poll for work about once a second.
 */
#ifndef CALLMESH_GATEWAY_WEBHOOK_H
#define CALLMESH_GATEWAY_WEBHOOK_H

#include "bus/bus.h"
#include "core/core.h"

struct webhook_opts {
	int settle_s;   /* WEBHOOK_SETTLE_S; 0 → 10 */
	int timeout_s;  /* WEBHOOK_TIMEOUT_S, per attempt; 0 → 10 */
	int workers;    /* 0 → 2 */
	int attempts;   /* 0 → 4 (the first and three retries) */
	int backoff_ms; /* first retry delay; 0 → 1000 */
	int stale_s;    /* this instance's claims: this long with no outcome, one
			 * was interrupted (its api-gateway died) and is recorded
			 * failed by any instance; 0 → twice the longest delivery
			 * plus a minute. Also the age for claims stored without it */
	const char *signing_secret; /* WEBHOOK_SIGNING_SECRET (borrowed, outlives the
				     * webhook); NULL = unsigned (tests of this file only) */
	bool allow_private;         /* OUTBOUND_ALLOW_PRIVATE (libs/egress) */
};

/* How one POST is sent. Signed (when signing_secret is set):
 *   X-Callmesh-Timestamp: <unix seconds>
 *   X-Callmesh-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
 * (README "End-of-call webhook"). */
struct webhook_target {
	int timeout_s;
	const char *signing_secret;
	bool allow_private;
};

struct webhook;

/* Allocates and starts the workers. Borrows bus (must outlive the
 * webhook); database_url and source are copied; opts may be NULL for the
 * defaults. */
int webhook_new(struct webhook **whp, struct bus *bus, const char *database_url,
		const char *source, const struct webhook_opts *opts) CM_MUST_USE;
/* Wakes the workers to look for settled calls now. Any thread. */
void webhook_kick(struct webhook *wh);
/* Stops the workers (an attempt in flight finishes, bounded by timeout_s;
 * a delivery still retrying is recorded as failed) and frees. NULL-safe. */
struct webhook *webhook_free(struct webhook *wh);

/* One POST: *statusp = the HTTP status (0 when none came). 0, or ETIMEDOUT /
 * ECONNREFUSED / EIO on transport errors, with httpc's sentence in err;
 * EACCES (not retried) when the destination is refused by libs/egress.
 * Exported for tests. */
int webhook_post(long *statusp, const char *url, const char *body, size_t len,
		 const struct webhook_target *t, char *err, size_t errlen) CM_MUST_USE;
/* "v1=<64 hex>" of `body` at `ts` into out. 0 or EIO. */
int webhook_sign(char out[72], const char *secret, long long ts, const char *body,
		 size_t len) CM_MUST_USE;

#endif
