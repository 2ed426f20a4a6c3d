/* The agent's real rooms: a libs/room backend (48 kHz frames; the local
 * forwarder or LiveKit) behind the agent's own 16 kHz room interface
 * (agent_room.h), resampling at this edge and passing member, closed and data
 * events through. */
#include "agent_room.h"
#include "room/room.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/media.h"

struct agent_room {
	const struct room_ops *ops;
	struct room *lr;                 /* libs/room membership */
	const struct agent_room_handlers *h;
	void *arg;
	/* send side (the session thread) */
	struct resampler *up;
	int16_t up_buf[ROOM_FRAME_SAMPLES * 2];
	size_t up_n;
	/* receive side (libs/room's receive thread) */
	struct resampler *down;
	int16_t down_buf[AGENT_FRAME_SAMPLES];
	size_t down_n;
};

/* One 48 kHz frame of another participant → 16 kHz frames for the session. */
static void on_lr_frame(const struct room_frame *f, void *arg)
{
	struct agent_room *r = arg;
	int16_t out[ROOM_FRAME_SAMPLES / 3 + 64];
	size_t n = CM_ARRAY_LEN(out);
	if (resampler_process(r->down, out, &n, f->pcm, ROOM_FRAME_SAMPLES))
		return;
	for (size_t i = 0; i < n; i++) {
		r->down_buf[r->down_n++] = out[i];
		if (r->down_n == AGENT_FRAME_SAMPLES) {
			r->h->frame(r->down_buf, r->arg);
			r->down_n = 0;
		}
	}
}

static void on_lr_member(const char *identity, bool joined, void *arg)
{
	struct agent_room *r = arg;
	if (r->h->member)
		r->h->member(identity, joined, r->arg);
}

static void on_lr_closed(int err, const char *reason, void *arg)
{
	struct agent_room *r = arg;
	if (r->h->closed)
		r->h->closed(err, reason, r->arg);
}

static const struct room_handlers lr_handlers = {
	.frame = on_lr_frame, .member = on_lr_member, .closed = on_lr_closed,
};

static void release(struct agent_room *r)
{
	resampler_free(r->up);
	resampler_free(r->down);
	free(r);
}

static int media_join(struct agent_room **roomp, void *ctxp, const char *room, const char *identity,
		      const struct agent_room_handlers *h, void *arg, char *why, size_t whylen)
{
	const struct room_media_ctx *ctx = ctxp;
	int err;
	if (!ctx || !ctx->ops || !room || !identity || !h || !h->frame)
		return EINVAL;
	struct agent_room *r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	r->ops = ctx->ops;
	r->h = h;
	r->arg = arg;
	if ((err = resampler_new(&r->up, AGENT_RATE, ROOM_RATE, RESAMPLER_QUALITY_VOIP)) ||
	    (err = resampler_new(&r->down, ROOM_RATE, AGENT_RATE, RESAMPLER_QUALITY_VOIP))) {
		release(r);
		return err;
	}
	if ((err = r->ops->join(&r->lr, ctx->ops_ctx, room, identity, &lr_handlers, r))) {
		if (why && whylen)
			room_join_why(why, whylen, r->ops, err);
		release(r);
		return err;
	}
	*roomp = r;
	return 0;
}

static int media_send(struct agent_room *r, const int16_t pcm[AGENT_FRAME_SAMPLES])
{
	int16_t up[ROOM_FRAME_SAMPLES + 64];
	size_t n = CM_ARRAY_LEN(up);
	int err = resampler_process(r->up, up, &n, pcm, AGENT_FRAME_SAMPLES);
	if (err)
		return err;
	if (r->up_n + n > CM_ARRAY_LEN(r->up_buf))
		r->up_n = 0; /* cannot happen at 1:3; never overrun */
	memcpy(r->up_buf + r->up_n, up, n * sizeof(int16_t));
	r->up_n += n;
	if (r->up_n < ROOM_FRAME_SAMPLES)
		return 0;
	err = r->ops->send_frame(r->lr, r->up_buf);
	r->up_n -= ROOM_FRAME_SAMPLES;
	memmove(r->up_buf, r->up_buf + ROOM_FRAME_SAMPLES, r->up_n * sizeof(int16_t));
	return err;
}

static int media_send_data(struct agent_room *r, const char *topic, const uint8_t *data, size_t len)
{
	if (!r->ops->send_data)
		return ENOTSUP;
	return r->ops->send_data(r->lr, topic, data, len);
}

static void media_leave(struct agent_room *r)
{
	if (!r)
		return;
	r->ops->leave(r->lr); /* when it returns no libs/room handler runs */
	release(r);
}

static bool media_members(const void *ctxp)
{
	const struct room_media_ctx *ctx = ctxp;
	return ctx && ctx->ops && ctx->ops->members;
}

const struct room_backend room_media_backend = {
	.name = "media",
	.join = media_join,
	.send_frame = media_send,
	.send_data = media_send_data,
	.leave = media_leave,
	.members = media_members,
};
