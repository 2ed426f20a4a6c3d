/*
 * room — how the agent meets the caller (DESIGN.md §3): join a room, send
 * one audio frame, receive the other participants' frames, leave.
 *
 * Audio format on this interface, both directions: 20 ms frames of mono
 * signed 16-bit native-endian PCM at 16 kHz (AGENT_FRAME_SAMPLES samples).
 * 16 kHz is what the speech recogniser wants; a backend that carries Opus
 * 48 kHz (the local RTP forwarder, LiveKit) resamples at its edge.
 *
 * Backends are a struct of const function pointers. Two exist or are planned:
 *   room_record_backend (room_record.c) — keeps every frame the agent sends,
 *       stamped with the monotonic clock, and lets a caller inject caller
 *       frames; the test suite observes the session's exact output through it.
 *   room_local_backend (room_local.c) — the room-manager's local rooms
 *       through libs/room (rooms.join, Opus RTP over UDP).
 *
 * Threads: send() and leave() are called from the session thread only;
 * on_frame() runs on a backend thread (or the injecting thread) and must only
 * copy the frame and return.
 */
#ifndef AGENT_ROOM_H
#define AGENT_ROOM_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define AGENT_RATE          16000
#define AGENT_FRAME_MS      20
#define AGENT_FRAME_SAMPLES (AGENT_RATE * AGENT_FRAME_MS / 1000)

struct agent_room; /* one joined room; owned by the backend, released by leave() */

/* One 20 ms frame from another participant; pcm is borrowed for the call. */
typedef void (agent_frame_h)(const int16_t pcm[AGENT_FRAME_SAMPLES], void *arg);

struct room_backend {
	const char *name;
	/* Joins `room` as `identity` (both borrowed, copied). Frames from the
	 * others go to on_frame(pcm, arg) until leave(); `arg` must outlive the
	 * membership. *roomp is set only on success. */
	int (*join)(struct agent_room **roomp, void *ctx, const char *room, const char *identity,
		    agent_frame_h *on_frame, void *arg);
	/* Sends one frame (borrowed). */
	int (*send_frame)(struct agent_room *room, const int16_t pcm[AGENT_FRAME_SAMPLES]);
	/* Leaves and frees; when it returns on_frame is no longer called. NULL-safe. */
	void (*leave)(struct agent_room *room);
};

/* ---- the local backend (room_local.c) -----------------------------------------
 * An adapter over libs/room's local backend (rooms.join / rooms.leave with
 * room-manager, Opus 48 kHz RTP through its forwarder, jitter buffer,
 * RTCP): frames are resampled 16 ⇄ 48 kHz at this edge. Its context is a
 * `struct room_local_ctx` of libs/room ("room/room.h": bus, timeout_ms,
 * opus_bitrate), borrowed. */
extern const struct room_backend room_local_backend;

/* ---- the recording backend ------------------------------------------------
 * A hub of rooms kept in memory. Sent frames are recorded (time, energy and,
 * for the first ROOM_RECORD_PCM_MAX frames, the samples); every later frame
 * is still counted and timed up to ROOM_RECORD_FRAMES_MAX. */
#define ROOM_RECORD_FRAMES_MAX 180000 /* one hour */
#define ROOM_RECORD_PCM_MAX    3000   /* one minute of samples */

extern const struct room_backend room_record_backend;
struct room_record_hub;

int room_record_hub_alloc(struct room_record_hub **hubp) CM_MUST_USE;
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

#endif
