/*
 * Browser members of local rooms (ROOM_BACKEND=local, DESIGN §3): a
 * WebSocket server (libs/ws) on ROOM_WS_ADDR. A browser connects to
 * <url>?access_token=<JWT>; the token (LiveKit's shape: iss, sub =
 * identity, nbf, exp, video{roomJoin, room, canPublish, canSubscribe},
 * HS256) is minted by rooms.token here and checked at the upgrade, which
 * is refused with 401 and a reason when it does not verify, does not
 * grant roomJoin, or names a room that is not open (409 when that identity
 * is already connected to the room).
 *
 * Each browser is then an ordinary member of the forwarder: it joins
 * through libs/room (room_local, rooms.join over the bus like any C
 * member) and its audio goes in and out as Opus RTP. The wire format is
 * described at the top of webmember.c and in console/room-local.js.
 */
#ifndef ROOM_MANAGER_WEBMEMBER_H
#define ROOM_MANAGER_WEBMEMBER_H

#include <stdbool.h>

#include "bus/bus.h"
#include "core/core.h"

#define WEB_TOKEN_ISSUER  "room-manager"  /* the tokens' iss (LiveKit: the API key) */
#define WEB_TOKEN_TTL_MAX_S 600           /* a token only opens the WebSocket */

typedef bool(webmember_room_open_h)(const char *room, void *arg);

struct webmember_cfg {
	const char *addr;        /* "host:port" to listen on */
	const char *url;         /* what browsers connect to; NULL: ws://<addr>/room */
	const char *secret;      /* HS256 key; NULL: 32 random bytes */
	struct bus *bus;         /* the browser members' rooms.join / rooms.leave */
	webmember_room_open_h *room_open; /* is `room` open? (any thread) */
	void *arg;
};

struct webmembers;
/* Listens on cfg->addr. Borrows cfg's strings, bus and callback until
 * webmembers_free(). EADDRINUSE, EINVAL, EIO (no random secret), ENOMEM. */
int webmembers_new(struct webmembers **wp, const struct webmember_cfg *cfg) CM_MUST_USE;
/* Closes every browser (each leaves its room) and frees. NULL-safe. */
struct webmembers *webmembers_free(struct webmembers *w);
/* The room is gone (rooms.delete): its browsers are closed with 1000 "room
 * closed". Any thread. */
void webmembers_room_closed(struct webmembers *w, const char *room);
/* The URL browsers connect to (owned by w). */
const char *webmembers_url(const struct webmembers *w);
/* Mints a token for `identity` in `room` (borrowed), valid for ttl_s
 * (capped at WEB_TOKEN_TTL_MAX_S). Caller frees *jwtp. EINVAL, ENOMEM. */
int webmembers_token(struct webmembers *w, char **jwtp, const char *room, const char *identity,
		     const char *name, const char *metadata, bool can_publish, bool can_subscribe,
		     long ttl_s) CM_MUST_USE;

#endif
