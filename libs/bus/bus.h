/*
 * bus — the one wrapper of nats.c (DESIGN.md §4). Everything else in callmesh
 * talks to NATS through this header: core publish/subscribe, request/reply,
 * JetStream publish with dedupe (Nats-Msg-Id), the CALLS and DIALS streams and
 * durable pull consumers.
 *
 * Connection: bus_connect() returns at once even when the server is down; the
 * connection keeps retrying forever (reconnect wait 250 ms, ping every 2 s,
 * 2 pings outstanding) and buffers up to 8 MiB of core publishes while
 * disconnected. JetStream publishes are not buffered: they fail with EAGAIN
 * while disconnected and the caller retries with the same msg id (the stream
 * dedupes within its 2 minute window).
 *
 * Threads: every function may be called from any thread. Handlers run on
 * nats.c threads (one per subscription): they must not block for long — enqueue
 * and wake your own loop (STYLE.md, Threads). A struct bus_msg and every
 * pointer in it are borrowed for the duration of the handler call only.
 *
 * Errors: 0 or an errno value — EINVAL (bad argument), EAGAIN (not connected /
 * JetStream not available yet), ETIMEDOUT, ENOENT (no responders / no such
 * stream or consumer), ENOMEM, EIO (anything else; logged where it starts).
 */
#ifndef CALLMESH_BUS_H
#define CALLMESH_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "event/event.h"

struct bus;     /* one NATS connection + JetStream context; owned by its creator */
struct bus_sub; /* one subscription; owned by its creator, freed with bus_unsubscribe() */

struct bus_msg {
	const char *subject;
	const char *reply;  /* NULL when the sender expects no reply */
	const char *data;   /* not NUL-terminated */
	int len;
	const char *msg_id; /* Nats-Msg-Id header, NULL when absent */
	uint64_t seq;       /* JetStream stream sequence; 0 for core messages */
	uint64_t delivered; /* JetStream delivery count (1 = first); 0 for core */
	void *priv;         /* private to bus */
};
/* Everything in *msg is borrowed for the duration of the call. */
typedef void (bus_msg_h)(const struct bus_msg *msg, void *arg);

/* `url` may list several servers separated by commas; `name` is the client
 * name shown by the server (borrowed, copied). Returns 0 even when the server
 * is not reachable yet (the connection keeps trying). Caller frees with
 * bus_close(). */
int bus_connect(struct bus **busp, const char *url, const char *name) CM_MUST_USE;

/* Who the connection is and how it is protected (every member borrowed,
 * copied by nats.c, NULL when unused). At most one identity: a creds file,
 * an nkey (public key + seed file), or user + password. tls_ca set makes TLS
 * required and verifies the server against that CA; tls_cert + tls_key add
 * a client certificate. inbox_prefix replaces "_INBOX" in reply subjects, so
 * that the server can give each identity its own inboxes ("_INBOX.<user>"). */
struct bus_auth {
	const char *creds_file;
	const char *nkey;
	const char *nkey_seed_file;
	const char *user;
	const char *password;
	const char *tls_ca;
	const char *tls_cert;
	const char *tls_key;
	const char *inbox_prefix;
};
/* bus_connect() with an identity (auth may be NULL: anonymous). A server
 * that refuses the identity closes the connection for good (logged as
 * bus_auth_failed, counted by bus_denied(); bus_connected() stays false, so
 * a service stays unready until restarted with a valid identity); EIO for an
 * unusable combination or file (logged naming the variable). */
int bus_connect_auth(struct bus **busp, const char *url, const char *name,
		     const struct bus_auth *auth) CM_MUST_USE;
/* Fills *auth from the NATS_* identity variables of a service's core config
 * (borrows from core). */
void bus_auth_from_cfg(struct bus_auth *auth, const struct core_cfg *core);
bool bus_connected(struct bus *bus);
/* How many times the server refused this connection something: a publish or
 * subscription its permissions do not allow, or the identity itself (each
 * is logged as bus_not_permitted naming the subject). Never decreases. */
uint64_t bus_denied(struct bus *bus);
/* Flushes and closes the connection. Unsubscribe every bus_sub of this bus
 * first. NULL-safe; returns NULL (bus = bus_close(bus)). */
struct bus *bus_close(struct bus *bus);

/* Creates, or updates to this configuration, the streams
 *   CALLS  subjects "calls.>", limits retention, file storage, duplicate
 *          window 2 min (Nats-Msg-Id = event id)
 *   DIALS  subjects "dial.>", work-queue retention, file storage
 * Idempotent. EAGAIN while not connected. */
int bus_ensure_streams(struct bus *bus) CM_MUST_USE;

/* Core NATS publish (fire and forget; buffered while reconnecting).
 * Borrows subject and data. */
int bus_publish(struct bus *bus, const char *subject, const void *data, size_t len) CM_MUST_USE;

/* JetStream publish with a Nats-Msg-Id header (`msg_id` may be NULL: no
 * dedupe), waits up to timeout_ms for the stream's ack. ETIMEDOUT (no ack: the
 * message may or may not be stored — retry with the same msg_id), EAGAIN (not
 * connected, JetStream not ready yet, or no stream takes the subject), EIO.
 * Borrows everything. */
int bus_js_publish(struct bus *bus, const char *subject, const char *msg_id,
		   const void *data, size_t len, int timeout_ms) CM_MUST_USE;
/* Bulk variant: queues the publish and returns without waiting for the ack
 * (at most 4096 acks outstanding per bus; beyond that it waits up to 5 s,
 * then EAGAIN). A publish that later fails or gets no ack within timeout_ms
 * is logged and counted; bus_js_publish_async_wait() waits until every
 * outstanding ack is in (ETIMEDOUT after timeout_ms) and hands back that
 * count (failedp may be NULL). Use the sync call when each message must be
 * known stored. Borrows everything (copied). */
int bus_js_publish_async(struct bus *bus, const char *subject, const char *msg_id,
			 const void *data, size_t len, int timeout_ms) CM_MUST_USE;
int bus_js_publish_async_wait(struct bus *bus, int timeout_ms, uint64_t *failedp) CM_MUST_USE;
/* Pipelined JetStream publish: bus_js_pub_send() sends at once and returns
 * without waiting for the ack, so a caller can do other work (a request,
 * another publish) while the stream stores it; bus_js_pub_wait() then
 * collects the ack. Same errors as bus_js_publish(), plus EBUSY from
 * bus_js_pub_send() when the bus already has its limit of pipelined
 * publishes sent and not yet freed (bus_js_pub_limit, default 1024): the
 * caller refuses the work instead of queueing it. An ack that does not come within
 * timeout_ms is ETIMEDOUT (stored or not: retry with the same msg_id).
 * Borrows everything (copied). Caller frees *pubp with bus_js_pub_free(),
 * waited for or not (an ack that comes after the free is only logged). */
struct bus_js_pub;
int bus_js_pub_send(struct bus_js_pub **pubp, struct bus *bus, const char *subject,
		    const char *msg_id, const void *data, size_t len, int timeout_ms) CM_MUST_USE;
/* Waits for the ack of pub (at most its timeout_ms and a second); 0 when
 * the stream stored the message. Call it once. */
int bus_js_pub_wait(struct bus_js_pub *pub) CM_MUST_USE;
/* NULL-safe; returns NULL. */
struct bus_js_pub *bus_js_pub_free(struct bus_js_pub *pub);
/* At most `max` (1..65536) pipelined publishes sent and not yet freed. */
void bus_js_pub_limit(struct bus *bus, int max);
/* bus_publish_event() pipelined: sent now, the ack collected with
 * bus_js_pub_wait(). Borrows ev. */
int bus_publish_event_send(struct bus_js_pub **pubp, struct bus *bus,
			   const struct event *ev) CM_MUST_USE;

/* Sync JetStream publish of an event: encoded with event_encode(), subject
 * calls.<call_id>.<type>, msg id = ev->id, ack timeout 5 s. Borrows ev. */
int bus_publish_event(struct bus *bus, const struct event *ev) CM_MUST_USE;

/* Subscribes `h(msg, arg)` to `subject` (wildcards allowed); `queue` non-NULL
 * joins that queue group (each message goes to one member). Borrows subject
 * and queue (copied); `arg` must outlive the subscription. When connected,
 * the server knows of the subscription when this returns (one round trip).
 * Caller frees *subp with bus_unsubscribe(). */
int bus_subscribe(struct bus *bus, struct bus_sub **subp, const char *subject,
		  const char *queue, bus_msg_h *h, void *arg) CM_MUST_USE;
/* Stops delivery; when it returns no handler of this subscription is running
 * (it drains in-flight messages, at most ~2 s). Works for pull subscriptions
 * too (the durable consumer stays on the server). NULL-safe; returns NULL. */
struct bus_sub *bus_unsubscribe(struct bus_sub *sub);

/* Request/reply: sends `data` to `subject` and waits up to timeout_ms for one
 * reply. *replyp (NUL-terminated, *lenp bytes without the NUL) is set only on
 * success; caller frees it with free(). lenp may be NULL. ETIMEDOUT, ENOENT
 * (no responders, returned at once), EAGAIN (not connected). */
int bus_request(struct bus *bus, char **replyp, size_t *lenp, const char *subject,
		const void *data, size_t len, int timeout_ms) CM_MUST_USE;
/* Replies to a request received by a handler. EINVAL when msg has no reply
 * subject. Borrows everything. */
int bus_respond(struct bus *bus, const struct bus_msg *msg, const void *data,
		size_t len) CM_MUST_USE;

/* ---- JetStream durable pull consumers --------------------------------
 * For the CALLS persister and the DIALS workers: each message is acked,
 * nak'ed (redelivered later) or terminated (never redelivered) explicitly.
 * Ack wait 30 s: a message not acked within it is redelivered. */
enum bus_ack {
	BUS_ACK,      /* done */
	BUS_ACK_SYNC, /* done, and wait until the server confirms the ack */
	BUS_NAK,      /* redeliver later */
	BUS_TERM,     /* never redeliver */
};
/* A pull handler returns what to do with the message; when it already called
 * bus_js_ack() itself the return value is ignored. */
typedef enum bus_ack (bus_js_msg_h)(const struct bus_msg *msg, void *arg);

/* Binds to (creating it when missing) the durable consumer `durable` of
 * `stream`, filtered on `filter_subject` (e.g. "calls.>", "dial.exotel").
 * An existing consumer with another filter is refused (EINVAL): its filter
 * is never changed. Borrows the strings. Caller frees *subp with
 * bus_unsubscribe(). */
/* Creates the durable consumer when missing (as bus_js_pull_sub() would),
 * without binding: lets an administering identity create consumers that
 * their own users may read but not create or change (the DIALS workers').
 * EINVAL when it exists with another filter. */
int bus_js_ensure_consumer(struct bus *bus, const char *stream, const char *durable,
			   const char *filter_subject) CM_MUST_USE;
int bus_js_pull_sub(struct bus *bus, struct bus_sub **subp, const char *stream,
		    const char *durable, const char *filter_subject) CM_MUST_USE;
/* Fetches up to `batch` messages, waiting at most timeout_ms for the first,
 * and runs h(msg, arg) on each in order on the calling thread. 0 when at
 * least one message was handled (*countp, may be NULL, says how many),
 * ETIMEDOUT when none came, EAGAIN when not connected, EIO. */
int bus_js_fetch(struct bus_sub *sub, int batch, int timeout_ms, bus_js_msg_h *h, void *arg,
		 int *countp) CM_MUST_USE;
/* A batch handler sees every fetched message at once, in order, and sets
 * hows[i] for each (each starts as BUS_NAK); the acks are sent after it
 * returns, so work done for the whole batch (one database statement) is
 * acked only once it is done. */
typedef void (bus_js_batch_h)(const struct bus_msg *msgs, int n, enum bus_ack *hows,
			      void *arg);
/* bus_js_fetch(), with one call of h for the fetched messages. ENOMEM when
 * the batch's bookkeeping cannot be allocated: nothing acked, redelivered
 * after the ack wait. */
int bus_js_fetch_batch(struct bus_sub *sub, int batch, int timeout_ms, bus_js_batch_h *h,
		       void *arg, int *countp) CM_MUST_USE;
/* Acks a message inside a bus_js_fetch() or bus_js_fetch_batch() handler —
 * before doing the work, for at-most-once jobs (a dial must never be placed
 * twice): use BUS_ACK_SYNC and skip the work when it fails. EINVAL for a
 * core message or a second ack. */
int bus_js_ack(const struct bus_msg *msg, enum bus_ack how) CM_MUST_USE;

/* Number of messages stored in `stream` now. ENOENT when it does not exist. */
int bus_js_stream_msgs(struct bus *bus, const char *stream, uint64_t *msgsp) CM_MUST_USE;

/* Releases nats.c's global state (threads, caches) at process exit, after
 * every bus is closed; waits at most timeout_ms. Optional. */
void bus_library_shutdown(int timeout_ms);

#endif
