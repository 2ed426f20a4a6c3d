/*
 * lkrtc — LiveKit's own client engine (livekit-ffi: libwebrtc with ICE,
 * DTLS-SRTP, Opus, jitter buffers and reconnection) driven through its C ABI
 * with protobuf-c messages. The one wrapper of that engine: the rest of
 * callmesh speaks this header's vocabulary (issue #10, PROTOCOL-NOTES.md
 * "LiveKit RTC from C").
 *
 * The engine: npm @livekit/rtc-ffi-bindings-linux-x64-gnu (pinned in
 * runtime/livekit, installed by `make deps`), file rtc-node.linux-x64-gnu.node,
 * loaded with dlopen() at the first connect of the process, so a process that
 * never joins a LiveKit room never loads it. Where it is looked for:
 *   1. $LIVEKIT_FFI_LIB when set (a path to the .node file; nothing else is
 *      tried), else lkrtc_connect_opts.engine_path when non-NULL;
 *   2. else runtime/livekit/node_modules/@livekit/rtc-ffi-bindings-linux-x64-gnu/
 *      rtc-node.linux-x64-gnu.node under the executable's directory or any of
 *      its 6 parents (build/bin/x, build/tests/integration/x, an install tree
 *      that ships runtime/livekit beside bin/).
 * The addon references napi_* symbols (it is a Node addon linked BIND_NOW):
 * the build generates one stub per symbol from the binary's undefined-symbol
 * list and exports them from every executable (Makefile, "LiveKit engine").
 *
 * One engine per process (its callback carries no user pointer, so the engine
 * state is the one process-wide object here). It is initialised once, at the
 * first connect, and never disposed while rooms may exist: its runtime does
 * not survive fork(), so a process forks before its first connect.
 * lkrtc_shutdown() disposes it at exit (tests, sanitizers).
 *
 * Threads:
 *   - connect blocks the caller until the room is joined and our track is
 *     published, or the timeout passes.
 *   - audio: runs on the engine's threads (one call per 20 ms frame per
 *     remote participant); the other handlers run on the room's own event
 *     thread. Each must return quickly (copy, hand off) and must not call
 *     lkrtc_disconnect() on its own room. Arguments are borrowed for the call.
 *   - send_audio and send_data may be called from any thread, concurrently;
 *     neither waits on the network.
 *   - disconnect: when it returns no handler runs or will run again.
 *
 * Errors: 0 or an errno value. Connect: EACCES the server refused the token
 * (HTTP 401/403), ECONNREFUSED nothing listens at the URL, EHOSTUNREACH no
 * route, ETIMEDOUT no answer in time, ENOENT the engine file was not found,
 * ELIBBAD it would not load, EINVAL bad argument, EIO any other failure. The
 * engine's own words go to `reason` (and are logged once, where they start).
 */
#ifndef CALLMESH_LKRTC_H
#define CALLMESH_LKRTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define LKRTC_RATE          48000
#define LKRTC_FRAME_MS      20
#define LKRTC_FRAME_SAMPLES (LKRTC_RATE * LKRTC_FRAME_MS / 1000) /* 960, mono */
#define LKRTC_IDENTITY_MAX  256      /* bytes; longer identities are cut */
#define LKRTC_TOPIC_MAX     256
#define LKRTC_DATA_MAX      (15 * 1024) /* bytes of one data message (LiveKit: 15 KiB reliable) */
#define LKRTC_SENDERS_MAX   16       /* remote audio tracks decoded at once */
#define LKRTC_REASON_MAX    256

struct lkrtc_room;

/* 20 ms of mono s16 at 48 kHz from `identity`. */
typedef void (lkrtc_audio_h)(const char *identity, const int16_t pcm[LKRTC_FRAME_SAMPLES],
			     void *arg);
/* A data message from `identity` ("" for the server) on `topic` ("" when none). */
typedef void (lkrtc_data_h)(const char *identity, const char *topic, const uint8_t *data,
			    size_t len, void *arg);
/* A remote participant joined (true) or left (false). Those already in the
 * room at connect are reported as joined right after connect returns. */
typedef void (lkrtc_member_h)(const char *identity, bool joined, void *arg);
/* The room is lost for good (err ECONNRESET: server gone and reconnection
 * failed or took longer than reconnect_timeout_ms; EACCES: removed from the
 * room, or the room deleted; EEXIST: the identity joined elsewhere; EIO: the
 * engine failed). Called at most once; the caller still disconnects. */
typedef void (lkrtc_closed_h)(int err, const char *reason, void *arg);

struct lkrtc_handlers {
	lkrtc_audio_h *audio;   /* may be NULL (nothing is subscribed then) */
	lkrtc_data_h *data;     /* each may be NULL */
	lkrtc_member_h *member;
	lkrtc_closed_h *closed;
};

struct lkrtc_connect_opts {
	const char *url;             /* ws(s)://host[:port]; http(s) is accepted too */
	const char *token;           /* a participant access token (JWT) */
	int timeout_ms;              /* join + publish; <= 0: 10000. The engine
				      * gets it as its connect timeout; we wait
				      * 2 s more for its answer (its words make
				      * the better reason), and publishing gets
				      * what is left, at least 1 s: connect
				      * returns within timeout_ms + 3 s */
	int reconnect_timeout_ms;    /* how long a reconnection may last before
				      * the room counts as lost; <= 0: 20000 */
	const char *engine_path;     /* NULL: see above */
};

/* Sends of one membership so far. */
struct lkrtc_stats {
	uint64_t frames_sent;        /* captured by the engine */
	uint64_t frames_dropped;     /* not captured: the engine's queue was full
				      * (the caller is > LKRTC_QUEUE_MS ahead) */
	uint64_t send_errors;        /* the engine refused a capture */
	uint64_t frames_received;    /* audio handler calls */
	uint64_t data_sent, data_received;
	uint64_t reconnects;         /* reconnections that succeeded */
};

/* What a sender may be ahead of real time before frames are dropped: the
 * engine's audio source queue. send_audio() hands each frame to the engine,
 * which plays its queue out every 10 ms (silence when empty). A caller that
 * paces its frames in real time keeps at most one frame (20 ms) in it; 100 ms
 * absorbs the bursts of senders that forward as packets arrive (sip-bridge)
 * or catch up after a late wake-up (agent-worker, 3 frames), and bounds the
 * latency such bursts add. */
#define LKRTC_QUEUE_MS 100

/* Connects to the room the token names, as the token's identity:
 * auto_subscribe, two PeerConnections (single_peer_connection off), no join
 * retries; then publishes one mono 48 kHz microphone track (echo
 * cancellation, noise suppression and gain control off) and, when h->audio
 * is set, decodes every remote audio track into 20 ms frames. Borrows opts
 * (copied) and h/arg (they must outlive the room). *roomp is set only on
 * success; the caller owns it until lkrtc_disconnect(). On failure `reason`
 * (may be NULL) holds a sentence for a person. */
int lkrtc_connect(struct lkrtc_room **roomp, const struct lkrtc_connect_opts *opts,
		  const struct lkrtc_handlers *h, void *arg, char *reason,
		  size_t reason_len) CM_MUST_USE;

/* Hands 20 ms (LKRTC_FRAME_SAMPLES, borrowed) to the engine. Never waits:
 * 0, or ENOBUFS when the engine's queue is full (frame dropped, counted),
 * EPIPE after the room was lost, EIO when the engine refused it. */
int lkrtc_send_audio(struct lkrtc_room *r, const int16_t pcm[LKRTC_FRAME_SAMPLES]) CM_MUST_USE;

/* Sends `len` bytes (borrowed, copied) reliably to every other participant
 * on `topic` (NULL or "" for none). Returns once the engine has them: 0,
 * EMSGSIZE (len > LKRTC_DATA_MAX), EINVAL, EPIPE (room lost), EIO. Delivery
 * failures later are logged and counted, not returned. */
int lkrtc_send_data(struct lkrtc_room *r, const char *topic, const uint8_t *data,
		    size_t len) CM_MUST_USE;

/* Counters so far (any thread). */
void lkrtc_stats(struct lkrtc_room *r, struct lkrtc_stats *st);

/* The local participant's identity as the server knows it (borrowed from r). */
const char *lkrtc_identity(const struct lkrtc_room *r);

/* Leaves the room (waits up to 5 s for the engine to close it), drops every
 * engine handle the room held and frees it. NULL-safe. Not from a handler of
 * this room, nor concurrently with send_audio/send_data on it. */
void lkrtc_disconnect(struct lkrtc_room *r);

/* Disposes the engine if it was initialised and no room is left (a no-op
 * otherwise). For the end of a process: tests and sanitizer runs. */
void lkrtc_shutdown(void);

#endif
