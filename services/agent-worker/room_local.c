/* The local room backend of the agent: libs/room's local backend (48 kHz
 * frames, Opus RTP through room-manager's forwarder) behind the agent's own
 * 16 kHz room interface (room.h), resampling at this edge. */
#include "room.h"
#include "room/room.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "media/media.h"

struct agent_room {
	struct room *lr;                 /* libs/room membership */
	agent_frame_h *on_frame;
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
			r->on_frame(r->down_buf, r->arg);
			r->down_n = 0;
		}
	}
}

static const struct room_handlers lr_handlers = { .frame = on_lr_frame };

static void release(struct agent_room *r)
{
	resampler_free(r->up);
	resampler_free(r->down);
	free(r);
}

static int local_join(struct agent_room **roomp, void *ctx, const char *room, const char *identity,
		      agent_frame_h *on_frame, void *arg)
{
	int err;
	if (!ctx || !room || !identity || !on_frame)
		return EINVAL;
	struct agent_room *r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	r->on_frame = on_frame;
	r->arg = arg;
	if ((err = resampler_alloc(&r->up, AGENT_RATE, ROOM_RATE, RESAMPLER_QUALITY_VOIP)) ||
	    (err = resampler_alloc(&r->down, ROOM_RATE, AGENT_RATE, RESAMPLER_QUALITY_VOIP)) ||
	    (err = room_local.join(&r->lr, ctx, room, identity, &lr_handlers, r))) {
		release(r);
		return err;
	}
	*roomp = r;
	return 0;
}

static int local_send(struct agent_room *r, const int16_t pcm[AGENT_FRAME_SAMPLES])
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
	err = room_local.send_frame(r->lr, r->up_buf);
	r->up_n -= ROOM_FRAME_SAMPLES;
	memmove(r->up_buf, r->up_buf + ROOM_FRAME_SAMPLES, r->up_n * sizeof(int16_t));
	return err;
}

static void local_leave(struct agent_room *r)
{
	if (!r)
		return;
	room_local.leave(r->lr); /* when it returns on_lr_frame no longer runs */
	release(r);
}

const struct room_backend room_local_backend = {
	.name = "local",
	.join = local_join,
	.send_frame = local_send,
	.leave = local_leave,
};
