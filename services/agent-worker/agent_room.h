/*
 * agent_room — how the agent meets the caller (DESIGN.md §3): join a room, send
 * one audio frame, receive the other participants' frames, leave.
 *
 * Audio format on this interface, both directions: 20 ms frames of mono
 * signed 16-bit native-endian PCM at 16 kHz (AGENT_FRAME_SAMPLES samples).
 * 16 kHz is what the speech recogniser wants; a backend that carries Opus
 * 48 kHz (the local RTP forwarder, LiveKit) resamples at its edge.
 *
 * Backends are a struct of const function pointers:
 *   room_record_backend (room_record.c) — keeps every frame the agent sends,
 *       stamped with the monotonic clock, and lets a caller inject caller
 *       frames; the test suite observes the session's exact output through it.
 *   room_media_backend (room_media.c) — real rooms through libs/room: the
 *       room-manager's local rooms (rooms.join, Opus RTP over UDP) or LiveKit.
 *
 * Threads: send() and leave() are called from the session thread only;
 * on_frame() runs on a backend thread (or the injecting thread) and must only
 * copy the frame and return.
 */
#ifndef AGENT_AGENT_ROOM_H
#define AGENT_AGENT_ROOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define AGENT_RATE          16000
#define AGENT_FRAME_MS      20
#define AGENT_FRAME_SAMPLES (AGENT_RATE * AGENT_FRAME_MS / 1000)

struct agent_room; /* one joined room; owned by the backend, released by leave() */

/* One 20 ms frame from another participant; pcm is borrowed for the call. */
typedef void (agent_frame_h)(const int16_t pcm[AGENT_FRAME_SAMPLES], void *arg);
/* Another participant (identity borrowed) joined (true) or left the room. */
typedef void (agent_member_h)(const char *identity, bool joined, void *arg);
/* The room was lost for good (server gone, participant removed, room
 * deleted): err an errno value, reason a sentence, both for the call only. */
typedef void (agent_closed_h)(int err, const char *reason, void *arg);

/* Borrowed for the membership. frame is required; member and closed may be
 * NULL, and a backend without such events never calls them. */
struct agent_room_handlers {
	agent_frame_h *frame;
	agent_member_h *member;
	agent_closed_h *closed;
};

struct room_backend {
	const char *name;
	/* Joins `room` as `identity` (both borrowed, copied). Events go to the
	 * handlers with `arg` until leave(); `arg` must outlive the membership.
	 * *roomp is set only on success. On failure `why` (may be NULL) gets
	 * a sentence naming the cause. */
	int (*join)(struct agent_room **roomp, void *ctx, const char *room, const char *identity,
		    const struct agent_room_handlers *h, void *arg, char *why, size_t whylen);
	/* Sends one frame (borrowed). */
	int (*send_frame)(struct agent_room *room, const int16_t pcm[AGENT_FRAME_SAMPLES]);
	/* Sends `len` bytes (borrowed) reliably to the other participants on
	 * `topic`; any thread. ENOTSUP when the backend has no data messages. */
	int (*send_data)(struct agent_room *room, const char *topic, const uint8_t *data,
			 size_t len);
	/* Leaves and frees; when it returns no handler is running or will run.
	 * NULL-safe. */
	void (*leave)(struct agent_room *room);
	/* True when the backend (with this ctx) tells of other participants
	 * joining and leaving: a web session then waits for its caller. NULL:
	 * never. */
	bool (*members)(const void *ctx);
};

/* ---- the media backend (room_media.c) ------------------------------------------
 * An adapter over a libs/room backend ("room/room.h": room_local — rooms.join
 * with room-manager, Opus RTP through its forwarder — or room_livekit, a
 * real LiveKit participant): frames are resampled 16 ⇄ 48 kHz at this
 * edge. Its context is a struct room_media_ctx, borrowed. */
struct room_ops;
struct room_media_ctx {
	const struct room_ops *ops;   /* &room_local or &room_livekit */
	void *ops_ctx;                /* that backend's context, borrowed */
};
extern const struct room_backend room_media_backend;

/* ---- the recording backend ------------------------------------------------
 * A hub of rooms kept in memory. Sent frames are recorded (time, energy and,
 * for the first ROOM_RECORD_PCM_MAX frames, the samples); every later frame
 * is still counted and timed up to ROOM_RECORD_FRAMES_MAX. */
#define ROOM_RECORD_FRAMES_MAX 180000 /* one hour */
#define ROOM_RECORD_PCM_MAX    3000   /* one minute of samples */

extern const struct room_backend room_record_backend;
struct room_record_hub;

int room_record_hub_new(struct room_record_hub **hubp) CM_MUST_USE;
/* Every room must have been left. NULL-safe; returns NULL. */
struct room_record_hub *room_record_hub_free(struct room_record_hub *hub);

struct room_record_frame {
	int64_t t_us;   /* time_mono_us() when send_frame() was called */
	int32_t rms;    /* root mean square of the samples */
};
/* Frames sent so far into `room` (all joins of it together). */
size_t room_record_count(struct room_record_hub *hub, const char *room);
/* Copies up to `max` frames starting at index `from` into out; returns how
 * many were copied. */
size_t room_record_frames(struct room_record_hub *hub, const char *room, size_t from,
			  struct room_record_frame *out, size_t max);
/* Copies the samples of frames [from, from+nframes) into pcm (nframes *
 * AGENT_FRAME_SAMPLES); returns the frames copied (only the first
 * ROOM_RECORD_PCM_MAX frames keep samples). */
size_t room_record_pcm(struct room_record_hub *hub, const char *room, size_t from,
		       int16_t *pcm, size_t nframes);
/* Number of joins / leaves seen for `room`. */
int room_record_joins(struct room_record_hub *hub, const char *room);
int room_record_leaves(struct room_record_hub *hub, const char *room);
/* Delivers `nsamples` of caller audio (whole frames; a partial last frame is
 * padded with silence) to every member of `room`, on the calling thread.
 * ENOENT when nobody is in the room. */
int room_record_inject(struct room_record_hub *hub, const char *room, const int16_t *pcm,
		       size_t nsamples) CM_MUST_USE;

/* From now on the hub tells of members (a web session waits for one). */
void room_record_hub_members(struct room_record_hub *hub, bool on);
/* Tells every member of `room` that `identity` joined or left, on the
 * calling thread. ENOENT when nobody is in the room. */
int room_record_member(struct room_record_hub *hub, const char *room, const char *identity,
		       bool joined) CM_MUST_USE;
/* Tells every member of `room` that the room was lost (closed handler). */
int room_record_close(struct room_record_hub *hub, const char *room, int err,
		      const char *reason) CM_MUST_USE;

#endif
