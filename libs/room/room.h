/*
 * room — how the code above the media plane (sip-bridge, agent-worker) meets
 * the other participants of a call's room (DESIGN.md §3): join, send one
 * audio frame, receive the others' frames, leave. Backends sit behind one
 * table of const function pointers (struct room_ops); the local backend
 * (room_local, ROOM_BACKEND=local) and the LiveKit backend (room_livekit,
 * ROOM_BACKEND=livekit) are here, behind the same table.
 *
 * Audio on this interface, both directions: 20 ms frames of mono signed
 * 16-bit native-endian PCM at the member's rate: the backend context's
 * `rate` (8000, 12000, 16000, 24000 or 48000; 0 is ROOM_RATE, 48 kHz), so
 * ROOM_FRAME_SAMPLES_AT(rate) samples a frame (960 at 48 kHz, 160 at 8 kHz).
 * The backend encodes what is sent (Opus) and decodes what is received; the
 * local backend does both at the member's rate natively (Opus works at those
 * rates; the RTP clock stays 48 kHz), LiveKit's resamples inside the backend.
 * A member at 8 kHz (telephony) needs no resampler of its own; at other
 * rates (16 kHz speech recognition) callers resample at their edge (libs/media
 * resampler_*) or join at that rate.
 *
 * Pacing: send_frame() sends at once; the caller calls it once per 20 ms of
 * audio on its own media clock (e.g. a timerfd or the caller's RTP clock).
 * The backend neither buffers nor paces what is sent. Received audio is
 * paced by the backend: per sender, a jitter buffer is pulled every 20 ms
 * on the receive thread, and on_frame() gets one frame per sender per tick
 * (concealed by Opus PLC/FEC when a packet is lost; nothing at all while the
 * sender is silent).
 *
 * Threads and ownership:
 *   - join() blocks (one request/reply to room-manager); *roomp is set only
 *     on success and is owned by the caller until leave().
 *   - send_frame() may be called from any thread (calls are serialised
 *     inside); it never waits on the network (one non-blocking UDP send).
 *     pcm is borrowed for the call.
 *   - on_frame() (h->frame) runs on the room's receive thread; the struct room_frame
 *     and everything it points to are borrowed for the call only. It must
 *     return quickly (copy and hand off) and must not call leave() on its
 *     own room.
 *   - leave() stops the receive thread (when it returns, on_frame() is not
 *     running and will not be called again), tells room-manager, and frees
 *     the room. NULL-safe. Not concurrently with send_frame() on that room.
 *   - ctx (the backend's context, e.g. struct room_local_ctx) and the
 *     on_frame `arg` are borrowed and must outlive the room.
 */
#ifndef CALLMESH_ROOM_H
#define CALLMESH_ROOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/core.h"

#define ROOM_RATE          48000
#define ROOM_FRAME_MS      20
#define ROOM_FRAME_SAMPLES (ROOM_RATE * ROOM_FRAME_MS / 1000) /* 960 */
#define ROOM_FRAME_SAMPLES_AT(rate) ((rate) * ROOM_FRAME_MS / 1000) /* 160 at 8 kHz */
#define ROOM_FRAME_SAMPLES_MAX ROOM_FRAME_SAMPLES
#define ROOM_IDENTITY_MAX  128      /* bytes, like a room name */
#define ROOM_SENDERS_MAX   16       /* senders one member decodes at once */

struct room; /* one membership of one room */

struct room_frame {
	const char *identity;   /* the sender's identity; "" until room-manager
				 * has told us who sent this SSRC */
	uint32_t ssrc;          /* the sender's RTP SSRC (stable per membership) */
	const int16_t *pcm;     /* `samples` samples at the member's rate */
	size_t samples;         /* ROOM_FRAME_SAMPLES_AT(rate): 960 at 48 kHz */
	bool concealed;         /* made up by PLC or FEC for a lost packet */
};

typedef void (room_frame_h)(const struct room_frame *f, void *arg);
/* A data message from `identity` on `topic` ("" when none); data borrowed. */
typedef void (room_data_h)(const char *identity, const char *topic, const uint8_t *data,
			   size_t len, void *arg);
/* Another participant joined (true) or left (false) the room. */
typedef void (room_member_h)(const char *identity, bool joined, void *arg);
/* The backend lost the room for good (server gone and not regained, the
 * participant removed, the room deleted): no more frames will come. err is
 * an errno value (ECONNRESET, EACCES, ...), reason a short sentence
 * (borrowed for the call). The caller still calls leave(). */
typedef void (room_closed_h)(int err, const char *reason, void *arg);

/* What a member hears, each on a backend thread with the same rules as
 * on_frame below (borrowed arguments, return quickly, never leave() from
 * inside). Only `frame` is required; a backend that cannot tell of an event
 * never calls its handler (the local backend has no data or closed events;
 * its member events come from the forwarder's RTCP: joined on the first
 * SDES CNAME of an SSRC, left on its BYE). The table is borrowed and must
 * outlive the membership. */
struct room_handlers {
	room_frame_h *frame;
	room_data_h *data;
	room_member_h *member;
	room_closed_h *closed;
};

struct room_stats {
	uint64_t frames_sent;       /* send_frame() calls that reached the socket */
	uint64_t send_errors;
	uint64_t packets_received;  /* RTP packets accepted from the relay */
	uint64_t packets_dropped;   /* malformed, wrong payload type, too many senders */
	uint64_t frames_received;   /* on_frame() calls with decoded audio */
	uint64_t frames_concealed;  /* on_frame() calls with concealed audio */
};

struct room_ops {
	const char *name;
	/* Joins `room` as `identity` (borrowed, copied). Frames from the others
	 * go to on_frame(f, arg) until leave(). 0 or an errno value: EINVAL bad
	 * argument, EAGAIN room-manager unavailable (retry later), EIO refused
	 * (e.g. the room does not exist), ENOMEM. */
	int (*join)(struct room **roomp, void *ctx, const char *room, const char *identity,
		    const struct room_handlers *h, void *arg);
	/* Encodes and sends one 20 ms frame (ROOM_FRAME_SAMPLES_AT(rate) samples
	 * at the member's rate). 0, or EIO when the send failed. */
	int (*send_frame)(struct room *r, const int16_t *pcm);
	/* Sends `len` bytes (borrowed) reliably to every other participant on
	 * `topic`. NULL in a backend without data messages. 0, EMSGSIZE, EIO. */
	int (*send_data)(struct room *r, const char *topic, const uint8_t *data, size_t len);
	/* See above. NULL-safe. */
	void (*leave)(struct room *r);
	/* Counters so far (any thread). */
	void (*stats)(struct room *r, struct room_stats *st);
	/* True when the backend calls handlers.member for others joining and
	 * leaving (a web agent then waits for its caller to join). */
	bool members;
};

/* ======================================================================
 * The local backend: RTP over UDP through room-manager's forwarder.
 *
 * join binds a UDP socket on 127.0.0.1 (an ephemeral port), sends
 * `rooms.join {v, room, identity, rtp_addr}` and gets {relay_addr, ssrc};
 * then it sends Opus 48 kHz RTP (PT ROOM_OPUS_PT, 20 ms, SSRC = the one
 * assigned) to relay_addr and receives the others' RTP from it (the socket
 * is connected to relay_addr: the kernel drops anything from elsewhere).
 * leave sends `rooms.leave {v, room, identity}` (best effort). An identity
 * is one member of a room: joining again with it (e.g. after a restart)
 * takes over the relay port and SSRC with the new address. Recordings of
 * the room put identities starting with "agent-" on the agent channel and
 * everyone else on the caller channel (proto/COMMANDS.md names).
 *
 * Forwarder → member RTCP on the same port (RFC 5761 demultiplexing): an
 * empty RR followed by SDES CNAME = identity for each other member's SSRC
 * (when someone joins, and every ROOM_SDES_INTERVAL_MS), and RR + BYE when
 * a member leaves (its decoder state is freed).
 * ==================================================================== */
#define ROOM_OPUS_PT          111
#define ROOM_SDES_INTERVAL_MS 2000

struct room_local_ctx {
	struct bus *bus;        /* borrowed; the connection to NATS */
	int timeout_ms;         /* rooms.join / rooms.leave; <= 0: 5000 */
	int opus_bitrate;       /* bit/s; 0: 32000 */
	int opus_complexity;    /* the encoder's, 1..10; 0: 5 (complexity 0
				 * itself is not offered: bench_media finds
				 * it no cheaper than 1 at 8 kHz) */
	int rate;               /* the member's PCM rate (see the top); 0: 48000.
				 * At 8000 what is sent is encoded narrowband
				 * (Opus has nothing above 4 kHz to carry) */
	bool in_order;          /* false: frames are played out on a 20 ms clock
				 * behind an adaptive jitter buffer (a member
				 * that plays or paces audio: browsers,
				 * sip-bridge). true: each packet is handed on
				 * as it arrives, put back in sequence; a
				 * missing one is waited for 20-40 ms, then
				 * concealed (a listener that is a program:
				 * agent-worker hears the caller without the
				 * buffer's 20-60 ms) */
};

extern const struct room_ops room_local;

/* ======================================================================
 * The LiveKit backend (ROOM_BACKEND=livekit): a real LiveKit participant,
 * through LiveKit's own client engine (libs/lkrtc: livekit-ffi, loaded at
 * the first join of the process; fork before it).
 *
 * join mints the participant's token itself (libs/livekit: iss = api_key,
 * sub = identity, video {room, roomJoin, canPublish, canSubscribe,
 * canPublishData}, exp 10 min: it only serves to connect), connects to `url`
 * and publishes one mono 48 kHz microphone track, blocking until that is done
 * or timeout_ms passed. It subscribes to every other participant's audio and
 * calls h->frame with 20 ms frames and the sender's identity (ssrc: a hash of
 * the identity, concealed always false: the engine conceals by itself and
 * plays silence when a sender is quiet, so frames keep coming at 50/s per
 * sender). h->data gets data messages (reliable, any topic), h->member the
 * others joining and leaving (those already there are reported as joined
 * after join returns), h->closed the room lost for good: the server gone and
 * not regained within reconnect_timeout_ms (ECONNRESET), this participant
 * removed or the room deleted (EACCES), the identity joined elsewhere
 * (EEXIST), the engine failing (EIO).
 *
 * join errors: EACCES the server refused the token (wrong key or secret,
 * HTTP 401/403), ECONNREFUSED nothing listens at the URL, EHOSTUNREACH no
 * route to it, ETIMEDOUT no answer within timeout_ms, ENOENT the engine file
 * is missing (see lkrtc.h), EINVAL a bad argument, EIO anything else. Each
 * failure is logged once with the engine's own words, and
 * room_livekit_reason() hands them to the thread that called join.
 *
 * send_frame never waits on the network: the frame goes to the engine's
 * audio queue (LKRTC_QUEUE_MS, 100 ms), which it plays out every 10 ms. A
 * sender more than that ahead of real time has frames dropped: EIO, counted
 * in send_errors. frames_sent counts frames the engine took; packets_received
 * = frames_received (the engine decodes; packets are not visible here).
 * ==================================================================== */
struct room_livekit_ctx {
	const char *url;          /* LIVEKIT_URL: ws(s)://host[:port] or http(s):// */
	const char *api_key;      /* LIVEKIT_API_KEY */
	const char *api_secret;   /* LIVEKIT_API_SECRET */
	int timeout_ms;           /* join (connect + publish); <= 0: 10000; join
				   * returns within timeout_ms + 3 s */
	int reconnect_timeout_ms; /* a reconnection lasting longer loses the room; <= 0: 20000 */
	const char *engine_path;  /* NULL: $LIVEKIT_FFI_LIB or the search of lkrtc.h */
	int rate;                 /* the member's PCM rate (see the top); 0: 48000. The
				   * engine takes 48 kHz: other rates are resampled
				   * here (speexdsp, per sender on the way in) */
};

extern const struct room_ops room_livekit;

/* Why the calling thread's last room_livekit.join failed: a sentence for a
 * person ("" when it did not fail). Borrowed; valid until its next join. */
const char *room_livekit_reason(void);

/* True when a datagram on an RTP port is RTCP (RFC 5761 §4: second octet
 * 192..223). */
bool room_is_rtcp(const uint8_t *pkt, size_t len);

/* ======================================================================
 * Pieces the local backend's server side (room-manager) is built from;
 * pure, no I/O but the WAV file.
 * ==================================================================== */

/* UDP relay ports in [min, max], handed out round robin (a port just
 * released is the last to be reused, so late packets of a past member do
 * not reach a new one). Not thread-safe (one owner thread). */
struct room_ports;
/* EINVAL when min is 0 or min > max. Caller frees. */
int room_ports_new(struct room_ports **pp, uint16_t min, uint16_t max) CM_MUST_USE;
struct room_ports *room_ports_free(struct room_ports *p);
/* The next free port; ENOSPC when every port is taken. */
int room_ports_take(struct room_ports *p, uint16_t *portp) CM_MUST_USE;
/* Returns a port; ports outside the range or not taken are ignored. */
void room_ports_release(struct room_ports *p, uint16_t port);
size_t room_ports_in_use(const struct room_ports *p);

/* A WAV (RIFF, PCM 16-bit little-endian) writer: the header is written at
 * open with zero sizes and patched with the real sizes at close, so a file
 * is valid once closed (and a crash leaves a file readers can recover).
 * Not thread-safe. */
#define ROOM_WAV_HEADER_LEN 44
struct room_wav;
/* Creates (truncates) `path` (borrowed). rate 8000..192000, channels 1..8.
 * Caller closes with room_wav_close(). errno value on failure. */
int room_wav_open(struct room_wav **wp, const char *path, uint32_t rate,
		  uint16_t channels) CM_MUST_USE;
/* Appends `frames` frames of interleaved native-endian samples. EFBIG
 * when the file would pass the 4 GiB RIFF limit (nothing written); errno
 * of the write otherwise. */
int room_wav_write(struct room_wav *w, const int16_t *samples, size_t frames) CM_MUST_USE;
/* Frames written so far. */
uint64_t room_wav_frames(const struct room_wav *w);
/* Patches the header, closes and frees (NULL-safe: returns 0). Returns the
 * first error of any write, the patch or the close. */
int room_wav_close(struct room_wav *w) CM_MUST_USE;
/* The 44-byte header for `data_bytes` of samples. */
void room_wav_header(uint8_t out[ROOM_WAV_HEADER_LEN], uint32_t rate, uint16_t channels,
		     uint32_t data_bytes);

/* ======================================================================
 * ROOM_BACKEND, the same in every service that has rooms (DESIGN.md §3):
 * `livekit` when LIVEKIT_URL is set, else `local`. A service's config
 * struct has the four fields named below; ROOM_CFG_VARS() gives their
 * table entries (extra_choices: e.g. "|record" for agent-worker's test
 * backend) and room_cfg_resolve() the rules across them.
 * ==================================================================== */
#define ROOM_CFG_VARS(type, extra_choices)                                       \
	{ "ROOM_BACKEND",                                                        \
	  CFG_ENUM,                                                              \
	  NULL,                                                                  \
	  false,                                                                 \
	  false,                                                                 \
	  0,                                                                     \
	  0,                                                                     \
	  "local|livekit" extra_choices,                                         \
	  offsetof(type, room_backend),                                          \
	  "livekit when LIVEKIT_URL is set, else local" },                       \
		{ "LIVEKIT_URL",                                                 \
		  CFG_URL,                                                       \
		  NULL,                                                          \
		  false,                                                         \
		  false,                                                         \
		  0,                                                             \
		  0,                                                             \
		  "http|https|ws|wss",                                           \
		  offsetof(type, livekit_url),                                   \
		  "LiveKit server (sets ROOM_BACKEND's default to livekit)" },   \
		{ "LIVEKIT_API_KEY",                                             \
		  CFG_STR,                                                       \
		  NULL,                                                          \
		  false,                                                         \
		  false,                                                         \
		  0,                                                             \
		  0,                                                             \
		  NULL,                                                          \
		  offsetof(type, livekit_api_key),                               \
		  "LiveKit API key" },                                           \
	{                                                                        \
		"LIVEKIT_API_SECRET", CFG_STR, NULL, false, true, 0, 0, NULL,    \
			offsetof(type, livekit_api_secret), "LiveKit API secret" \
	}

/* Fills *backendp's default ("livekit" with a URL, else "local") and, for
 * livekit, requires the URL, key and secret: "NAME: is required with
 * ROOM_BACKEND=livekit" in err and EINVAL otherwise. */
/* A sentence for a join() error of backend `ops` ("LiveKit refused the
 * participant token: check LIVEKIT_API_KEY and LIVEKIT_API_SECRET", …). */
void room_join_why(char *out, size_t outlen, const struct room_ops *ops, int err);

int room_cfg_resolve(const char **backendp, const char *livekit_url, const char *livekit_api_key,
		     const char *livekit_api_secret, char *err, size_t errlen) CM_MUST_USE;

#endif
