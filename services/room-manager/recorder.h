/*
 * The local room recorder (recorder.c): each member's RTP goes through a
 * jitter buffer and an Opus decoder; every 20 ms the decoded frames are
 * mixed into two channels — left: callers (every identity not starting
 * with "agent-"), right: agents — resampled to 16 kHz and appended to a WAV
 * file (16-bit stereo). The file is closed (header patched) on
 * recordings.stop, room deletion or shutdown.
 *
 * Only the forwarder thread calls these (forwarder.c owns each recorder and
 * publishes recording_ready when it closes one).
 */
#ifndef ROOM_MANAGER_RECORDER_H
#define ROOM_MANAGER_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define REC_RATE          16000     /* WAV sample rate */
#define REC_CHANNELS      2         /* left callers, right agents */
#define REC_TRACKS_MAX    16        /* members mixed at once */

struct recorder;
int recorder_new(struct recorder **rp, const char *path) CM_MUST_USE;
/* One RTP packet of member `ssrc` (agent: right channel). */
void recorder_put(struct recorder *r, uint32_t ssrc, bool agent, const uint8_t *pkt, size_t len,
		  int64_t now_us);
/* Appends the next 20 ms of the mix. */
void recorder_tick(struct recorder *r);
/* A member left: its track is dropped. */
void recorder_forget(struct recorder *r, uint32_t ssrc);
/* Seconds recorded so far. */
double recorder_seconds(const struct recorder *r);
/* Finishes the file and frees; the first write error, if any. NULL-safe. */
int recorder_close(struct recorder *r) CM_MUST_USE;

#endif
