/* The LiveKit room backend: a token of our own minting, then LiveKit's
 * client engine (libs/lkrtc) carries the audio and data. The engine speaks
 * 48 kHz; a member at another rate is resampled here, one resampler for what
 * it sends and one per sender it hears (filter state is per stream). */
#include "room/room.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livekit/livekit.h"
#include "lkrtc/lkrtc.h"
#include "media/media.h"

#define TOKEN_TTL_S (10 * 60) /* only used to connect */

struct rx_resampler {
	uint32_t ssrc;              /* the sender's (a hash of its identity) */
	struct resampler *rs;       /* NULL: slot free */
	uint64_t used;              /* for replacing the least recently used */
};

struct room {
	struct lkrtc_room *lk;
	const struct room_handlers *h;
	void *arg;
	int rate;                   /* the member's; ROOM_RATE: nothing resampled */
	pthread_mutex_t tx_lock;    /* tx: send_frame may come from any thread */
	struct resampler *tx;
	/* engine's audio callback only (one room's calls are serialised by lkrtc) */
	struct rx_resampler rx[ROOM_SENDERS_MAX];
	uint64_t rx_clock;
};

static _Thread_local char join_reason[LKRTC_REASON_MAX];

const char *room_livekit_reason(void)
{
	return join_reason;
}

/* The resampler of sender `ssrc` (the least recently used one is taken
 * over by a new sender); NULL when none can be made. */
static struct resampler *rx_resampler(struct room *r, uint32_t ssrc)
{
	struct rx_resampler *slot = &r->rx[0];
	r->rx_clock++;
	for (size_t i = 0; i < ROOM_SENDERS_MAX; i++) {
		struct rx_resampler *x = &r->rx[i];
		if (x->rs && x->ssrc == ssrc) {
			x->used = r->rx_clock;
			return x->rs;
		}
		if (slot->rs && (!x->rs || x->used < slot->used))
			slot = x;
	}
	if (slot->rs)
		resampler_reset(slot->rs);
	else if (resampler_new(&slot->rs, LKRTC_RATE, (uint32_t)r->rate, RESAMPLER_QUALITY_VOIP))
		return NULL;
	slot->ssrc = ssrc;
	slot->used = r->rx_clock;
	return slot->rs;
}

static void on_audio(const char *identity, const int16_t pcm[LKRTC_FRAME_SAMPLES], void *arg)
{
	struct room *r = arg;
	int16_t out[ROOM_FRAME_SAMPLES_MAX];
	struct room_frame f = {
		.identity = identity, .ssrc = (uint32_t)id_hash(identity), .pcm = pcm,
		.samples = LKRTC_FRAME_SAMPLES, .concealed = false,
	};
	if (r->rate != LKRTC_RATE) {
		struct resampler *rs = rx_resampler(r, f.ssrc);
		size_t n = CM_ARRAY_LEN(out), want = ROOM_FRAME_SAMPLES_AT((size_t)r->rate);
		if (!rs || resampler_process(rs, out, &n, pcm, LKRTC_FRAME_SAMPLES))
			return;
		/* speexdsp keeps exact ratios for these rates: n == want */
		if (n < want)
			memset(out + n, 0, (want - n) * sizeof(out[0]));
		f.pcm = out;
		f.samples = want;
	}
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

static void room_free(struct room *r)
{
	if (!r)
		return;
	resampler_free(r->tx);
	for (size_t i = 0; i < ROOM_SENDERS_MAX; i++)
		resampler_free(r->rx[i].rs);
	pthread_mutex_destroy(&r->tx_lock);
	free(r);
}

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
	int rate = ctx && ctx->rate ? ctx->rate : ROOM_RATE;
	join_reason[0] = '\0';
	if (!media_opus_rate_ok(rate)) {
		snprintf(join_reason, sizeof(join_reason),
			 "a member's rate is 8000, 12000, 16000, 24000 or 48000 Hz, not %d", rate);
		return EINVAL;
	}
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
	r->rate = rate;
	pthread_mutex_init(&r->tx_lock, NULL);
	if (rate != LKRTC_RATE &&
	    (err = resampler_new(&r->tx, (uint32_t)rate, LKRTC_RATE, RESAMPLER_QUALITY_VOIP))) {
		snprintf(join_reason, sizeof(join_reason), "cannot make a resampler: %s",
			 cm_strerror(err));
		goto out;
	}
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
		room_free(r);
		return err;
	}
	*roomp = r;
	return 0;
}

static int lk_send_frame(struct room *r, const int16_t *pcm)
{
	if (!r || !pcm)
		return EINVAL;
	if (r->rate == LKRTC_RATE)
		return lkrtc_send_audio(r->lk, pcm) ? EIO : 0;
	int16_t up[LKRTC_FRAME_SAMPLES];
	size_t n = CM_ARRAY_LEN(up);
	pthread_mutex_lock(&r->tx_lock);
	int err = resampler_process(r->tx, up, &n, pcm, ROOM_FRAME_SAMPLES_AT((size_t)r->rate));
	if (!err && n < LKRTC_FRAME_SAMPLES)
		memset(up + n, 0, (LKRTC_FRAME_SAMPLES - n) * sizeof(up[0]));
	if (!err)
		err = lkrtc_send_audio(r->lk, up);
	pthread_mutex_unlock(&r->tx_lock);
	return err ? EIO : 0;
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
	room_free(r);
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
