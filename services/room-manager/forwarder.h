/*
 * The local backend's audio plane (ROOM_BACKEND=local, DESIGN §3): an RTP
 * forwarder and the room recorder.
 *
 * Forwarder: every member of a room gets a UDP relay port on 127.0.0.1 in
 * RTP_PORT_MIN..RTP_PORT_MAX and an SSRC. RTP (Opus, PT ROOM_OPUS_PT) that
 * arrives on a member's relay port from the member's rtp_addr is sent, as
 * is, to every other member of the room from that member's own relay port
 * (audio only: no mixing, no transcoding; only the SSRC is rewritten when a
 * member does not use the one it was given). Datagrams from any other
 * source, RTCP and other payload types are dropped. The forwarder tells
 * members who is who with RTCP SDES CNAME = identity (on join and every
 * ROOM_SDES_INTERVAL_MS) and BYE on leave (libs/room/room.h).
 *
 * One thread (epoll) owns every socket, room, member and recording. The
 * fwd_* calls below are made from room-manager's worker threads: each queues
 * an operation, wakes the thread and waits for its result, so operations
 * are applied in the order they were called. None of them may be called
 * from the forwarder thread.
 *
 * While a room records, each member's RTP also goes to the room's recorder
 * (recorder.h); recording_ready {path, recording_id} is published for the
 * room's call when its file is closed.
 */
#ifndef ROOM_MANAGER_FORWARDER_H
#define ROOM_MANAGER_FORWARDER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/core.h"
#include "recorder.h"

#define FWD_MEMBERS_MAX   REC_TRACKS_MAX /* per room: the recorder has a track each */
#define FWD_ROOMS_MAX     4096
#define REC_ID_MAX        127
#define REC_PATH_MAX      639

struct fwd;

struct fwd_cfg {
	uint16_t port_min, port_max;
	struct bus *bus;        /* borrowed: recording_ready events */
	const char *source;     /* borrowed: the events' source */
};

/* Starts the forwarder thread. Borrows cfg's strings and bus until
 * fwd_free(). Caller frees with fwd_free(). */
int fwd_new(struct fwd **fp, const struct fwd_cfg *cfg) CM_MUST_USE;
/* Closes every recording (publishing recording_ready), every socket, and
 * stops the thread. NULL-safe; returns NULL. */
struct fwd *fwd_free(struct fwd *f);

struct fwd_member {
	char relay_addr[32];    /* "127.0.0.1:<port>" */
	uint32_t ssrc;
};

/* Adds `identity` to `room` (created on first use) with its RTP address
 * (borrowed strings, copied). Joining again with the same identity keeps
 * the relay port and SSRC and takes the new address. max_members 0 = no
 * limit but FWD_MEMBERS_MAX. 0; ENOSPC when the room is full or no relay
 * port is free (EADDRINUSE tried on every port); EMFILE/errno of socket(). */
int fwd_join(struct fwd *f, struct fwd_member *m, const char *room, const char *call_id,
	     const char *identity, const struct sockaddr_in *rtp_addr,
	     long max_members) CM_MUST_USE;
/* Removes a member (its port and state freed, BYE sent to the others).
 * ENOENT when it is not in the room. */
int fwd_leave(struct fwd *f, const char *room, const char *identity) CM_MUST_USE;
/* Frees the room: members, sockets, and its recording (closed, published). */
void fwd_room_delete(struct fwd *f, const char *room);

/* Starts recording `room` into `path` under `rec_id` (borrowed, copied).
 * EALREADY when the room already records: rec_id_out/path_out (may be
 * NULL; REC_ID_MAX+1 / REC_PATH_MAX+1 bytes) then name that recording.
 * errno of the file otherwise. */
int fwd_rec_start(struct fwd *f, const char *room, const char *call_id, const char *rec_id,
		  const char *path, char *rec_id_out, char *path_out) CM_MUST_USE;
/* Stops the room's recording (any, or only `rec_id` when non-NULL): file
 * closed, recording_ready published, path copied into path_out
 * (REC_PATH_MAX+1 bytes). ENOENT when it does not record. */
int fwd_rec_stop(struct fwd *f, const char *room, const char *rec_id, char *path_out) CM_MUST_USE;

#endif
