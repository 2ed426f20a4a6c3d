/* The media relay (relay.c, media.c): carrier RTP (G.711, RFC 4733) ⇄ the
 * call's room (libs/room) on threads of its own. It knows nothing of the
 * bridge: what it has to say goes out through the handlers given to
 * relay_new, on the relay's threads. */
#ifndef SIP_BRIDGE_RELAY_H
#define SIP_BRIDGE_RELAY_H

#include "bus/bus.h"
#include "media/media.h"
#include "sdp/sdp.h"

#include <stdint.h>
#include <sys/socket.h>

/* Called on the relay's threads; they must not block (enqueue and return). */
struct relay_handlers {
	/* media thread: an RFC 4733 digit from the far end of call_id */
	void (*dtmf)(const char *call_id, const char *room, char digit, uint32_t duration_ms,
		     void *arg);
	/* media thread: no RTP for the media timeout on an answered call; 0 when
	 * taken, else (out of memory) it is reported again on the next tick */
	int (*media_timeout)(const char *call_id, void *arg);
	/* a room thread: the call's room is gone for good (e.g. LiveKit went away) */
	void (*room_lost)(const char *call_id, void *arg);
};

struct relay_cfg {
	struct bus *bus;               /* the local room backend's (borrowed) */
	const char *room_backend;      /* local | livekit */
	const char *livekit_url, *livekit_api_key, *livekit_api_secret;
	long media_timeout_s;
	long media_threads;            /* 0: one per CPU */
	const struct relay_handlers *h; /* borrowed, outlives the relay */
	void *arg;
};

struct relay;
struct relay_leg;
/* Allocates the relay and starts its threads (media, room). */
int relay_new(struct relay **rp, const struct relay_cfg *cfg) CM_MUST_USE;
/* Stops its threads, leaves every room still joined, frees. NULL-safe.
 * After the last leg was handed back (the sofia thread is gone). */
struct relay *relay_free(struct relay *r);
/* Sofia thread, when it dials: a leg for the call that joins `room`
 * (borrowed, copied) as "sip-<call_id>" in the background, so that it is in
 * the room by the answer; room audio is dropped until relay_leg_start. The
 * caller owns *legp until relay_leg_free. */
int relay_leg_new(struct relay_leg **legp, struct relay *r, const char *call_id,
		  const char *room) CM_MUST_USE;
/* Sofia thread, before relay_leg_start: the trunk's own addresses (those
 * the call was dialed to). Besides the address the far end's SDP names,
 * RTP is taken only from these (any port: a carrier may send from another
 * media address than it signals on, or than it names); datagrams from
 * anywhere else are dropped, as SIP from strangers is refused. IPv4 only,
 * at most RELAY_PEERS_MAX; NULL-safe. */
#define RELAY_PEERS_MAX 8
void relay_leg_peers(struct relay_leg *l, const struct sockaddr_storage *addrs, int n);
/* Sofia thread, on the answer: relays the call's RTP socket `fd` and, when
 * not NULL, the SRTP session `srtp` (the relay takes ownership of both on
 * success only) as the far end's `answer` asks. With `srtp` every packet
 * out is protected and every packet in unprotected (failures are dropped
 * and counted). EINVAL: no leg, or started already. */
int relay_leg_start(struct relay_leg *l, int fd, struct media_srtp *srtp,
		    const struct sdp_audio *answer) CM_MUST_USE;
/* Sofia thread: the far end's new offer (direction, address, codec) and,
 * when not NULL, the SRTP session that replaces the leg's (taken over in
 * every case). Whether we may send takes effect before this returns (no
 * packet leaves after it when the far end stopped receiving); the rest on
 * the next media tick. NULL-safe; a leg not started ignores it. */
void relay_leg_update(struct relay_leg *l, const struct sdp_audio *offer, struct media_srtp *srtp);
/* Sofia thread: the leg is over (no more RTP either way; the room is left
 * and the leg freed in the background). The pointer is dead afterwards;
 * returns NULL. NULL-safe. */
struct relay_leg *relay_leg_free(struct relay_leg *l);

#endif
