/* The LiveKit room backend: a token of our own minting, then LiveKit's
 * client engine (libs/lkrtc) carries the audio and data. */
#include "room/room.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livekit/livekit.h"
#include "lkrtc/lkrtc.h"

#define TOKEN_TTL_S (10 * 60) /* only used to connect */

struct room {
	struct lkrtc_room *lk;
	const struct room_handlers *h;
	void *arg;
};

static _Thread_local char join_reason[LKRTC_REASON_MAX];

const char *room_livekit_reason(void)
{
	return join_reason;
}

static void on_audio(const char *identity, const int16_t pcm[LKRTC_FRAME_SAMPLES], void *arg)
{
	struct room *r = arg;
	struct room_frame f = {
		.identity = identity, .ssrc = (uint32_t)id_hash(identity), .pcm = pcm,
		.concealed = false,
	};
	r->h->frame(&f, r->arg);
}

static void on_data(const char *identity, const char *topic, const uint8_t *data, size_t len,
		    void *arg)
{
	struct room *r = arg;
	if (r->h->data)
		r->h->data(identity, topic, data, len, r->arg);
}

static void on_member(const char *identity, bool joined, void *arg)
{
	struct room *r = arg;
	if (r->h->member)
		r->h->member(identity, joined, r->arg);
}

static void on_closed(int err, const char *reason, void *arg)
{
	struct room *r = arg;
	if (r->h->closed)
		r->h->closed(err, reason, r->arg);
}

static const struct lkrtc_handlers lk_handlers = {
	.audio = on_audio, .data = on_data, .member = on_member, .closed = on_closed,
};

static int lk_join(struct room **roomp, void *ctxp, const char *room, const char *identity,
		   const struct room_handlers *h, void *arg)
{
	const struct room_livekit_ctx *ctx = ctxp;
	struct livekit_grants g = {
		.room = room, .room_join = true, .can_publish = true, .can_subscribe = true,
		.can_publish_data = true,
	};
	struct room *r = NULL;
	char *jwt = NULL;
	int err;
	join_reason[0] = '\0';
	if (!roomp || !ctx || !room || !identity || !h || !h->frame || !*room || !*identity ||
	    strlen(identity) > ROOM_IDENTITY_MAX) {
		snprintf(join_reason, sizeof(join_reason), "join needs a room, an identity of at "
			 "most %d bytes and a frame handler", ROOM_IDENTITY_MAX);
		return EINVAL;
	}
	if (!ctx->url || !*ctx->url || !ctx->api_key || !*ctx->api_key || !ctx->api_secret ||
	    !*ctx->api_secret) {
		snprintf(join_reason, sizeof(join_reason), "%s is not set",
			 !ctx->url || !*ctx->url	   ? "LIVEKIT_URL"
			 : !ctx->api_key || !*ctx->api_key ? "LIVEKIT_API_KEY"
							   : "LIVEKIT_API_SECRET");
		log_error("room_livekit_config", "%s", join_reason);
		return EINVAL;
	}
	err = livekit_token_mint(&jwt, ctx->api_key, ctx->api_secret, identity, NULL, NULL, &g,
				 TOKEN_TTL_S);
	if (err) {
		snprintf(join_reason, sizeof(join_reason), "cannot mint the access token: %s",
			 cm_strerror(err));
		log_error("room_livekit_token", "room=%s identity=%s: %s", room, identity,
			  join_reason);
		return err;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		err = ENOMEM;
		goto out;
	}
	r->h = h;
	r->arg = arg;
	struct lkrtc_connect_opts o = {
		.url = ctx->url, .token = jwt, .timeout_ms = ctx->timeout_ms,
		.reconnect_timeout_ms = ctx->reconnect_timeout_ms, .engine_path = ctx->engine_path,
	};
	err = lkrtc_connect(&r->lk, &o, &lk_handlers, r, join_reason, sizeof(join_reason));
	if (err)
		goto out;
	log_info("room_joined", "room=%s identity=%s backend=livekit", room, identity);
out:
	free(jwt);
	if (err) {
		free(r);
		return err;
	}
	*roomp = r;
	return 0;
}

static int lk_send_frame(struct room *r, const int16_t pcm[ROOM_FRAME_SAMPLES])
{
	if (!r || !pcm)
		return EINVAL;
	return lkrtc_send_audio(r->lk, pcm) ? EIO : 0;
}

static int lk_send_data(struct room *r, const char *topic, const uint8_t *data, size_t len)
{
	if (!r)
		return EINVAL;
	int err = lkrtc_send_data(r->lk, topic, data, len);
	return err == EMSGSIZE || err == EINVAL || err == 0 ? err : EIO;
}

static void lk_leave(struct room *r)
{
	if (!r)
		return;
	lkrtc_disconnect(r->lk);
	free(r);
}

static void lk_stats(struct room *r, struct room_stats *st)
{
	struct lkrtc_stats ls;
	lkrtc_stats(r ? r->lk : NULL, &ls);
	memset(st, 0, sizeof(*st));
	st->frames_sent = ls.frames_sent;
	st->send_errors = ls.frames_dropped + ls.send_errors;
	st->packets_received = ls.frames_received;
	st->frames_received = ls.frames_received;
}

const struct room_ops room_livekit = {
	.name = "livekit",
	.join = lk_join,
	.send_frame = lk_send_frame,
	.send_data = lk_send_data,
	.leave = lk_leave,
	.stats = lk_stats,
	.members = true,
};
