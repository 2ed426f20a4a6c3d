/*
 * inbox — a session's inputs: the items other threads hand it (call events
 * from NATS, provider results, the recording outcome, room news) on the
 * shared mqueue, and the caller's audio in a ring of 20 ms frames, copied
 * without an allocation per frame. Any thread puts; the session thread
 * alone waits and takes. A frame that finds the ring empty also pushes a
 * wake-up marker into the mqueue, so the session waits on one fd.
 */
#include "agent.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define INBOX_RESERVE 64 /* room kept for the pushes that must not be refused */

struct inbox {
	struct mqueue *mq;
	size_t max_items;
	void (*item_free)(void *);
	char audio_marker;        /* its address is the "frames are waiting" item */

	pthread_mutex_t mu;       /* guards the ring and its counters */
	int16_t *ring;
	size_t ring_frames, ring_head, ring_count;
	uint64_t frames_in, dropped;
};

int inbox_new(struct inbox **ibp, size_t max_items, size_t ring_frames, void (*item_free)(void *))
{
	int err;
	struct inbox *ib = calloc(1, sizeof(*ib));
	if (!ib)
		return ENOMEM;
	ib->max_items = max_items;
	ib->item_free = item_free;
	ib->ring_frames = ring_frames;
	pthread_mutex_init(&ib->mu, NULL);
	if ((err = mqueue_new(&ib->mq, max_items + INBOX_RESERVE)))
		goto out;
	if (!(ib->ring = malloc(ring_frames * AGENT_FRAME_SAMPLES * sizeof(int16_t)))) {
		err = ENOMEM;
		goto out;
	}
	*ibp = ib;
	return 0;
out:
	inbox_free(ib);
	return err;
}

int inbox_push(struct inbox *ib, void *item, bool must)
{
	if (!must && mqueue_len(ib->mq) >= ib->max_items)
		return ENOSPC;
	return mqueue_push(ib->mq, item);
}

void inbox_put_frame(struct inbox *ib, const int16_t pcm[AGENT_FRAME_SAMPLES])
{
	bool wake = false;
	pthread_mutex_lock(&ib->mu);
	ib->frames_in++;
	if (ib->ring_count == ib->ring_frames) {
		ib->dropped++;
	} else {
		size_t slot = (ib->ring_head + ib->ring_count) % ib->ring_frames;
		memcpy(ib->ring + slot * AGENT_FRAME_SAMPLES, pcm,
		       AGENT_FRAME_SAMPLES * sizeof(int16_t));
		wake = ib->ring_count++ == 0;
	}
	pthread_mutex_unlock(&ib->mu);
	/* ENOSPC: the queue is full, its fd already wakes the session */
	if (wake && mqueue_push(ib->mq, &ib->audio_marker))
		log_debug("inbox_wake", "queue full");
}

void inbox_wait(struct inbox *ib, int timeout_ms)
{
	pthread_mutex_lock(&ib->mu);
	bool frames = ib->ring_count > 0;
	pthread_mutex_unlock(&ib->mu);
	if (frames || timeout_ms <= 0)
		return;
	struct pollfd pfd = { .fd = mqueue_fd(ib->mq), .events = POLLIN };
	if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
		log_warn("inbox_wait", "poll: %s", cm_strerror(errno));
}

size_t inbox_take_frames(struct inbox *ib, int16_t (*frames)[AGENT_FRAME_SAMPLES], size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&ib->mu);
	while (n < max && ib->ring_count) {
		memcpy(frames[n++], ib->ring + ib->ring_head * AGENT_FRAME_SAMPLES,
		       AGENT_FRAME_SAMPLES * sizeof(int16_t));
		ib->ring_head = (ib->ring_head + 1) % ib->ring_frames;
		ib->ring_count--;
	}
	pthread_mutex_unlock(&ib->mu);
	return n;
}

struct drain_ctx {
	struct inbox *ib;
	mqueue_h *h;
	void *arg;
	size_t n;
};

static void drain_one(void *item, void *arg)
{
	struct drain_ctx *c = arg;
	if (item == &c->ib->audio_marker)
		return; /* the frames are taken with inbox_take_frames */
	c->n++;
	c->h(item, c->arg);
}

size_t inbox_drain(struct inbox *ib, mqueue_h *h, void *arg)
{
	struct drain_ctx c = { ib, h, arg, 0 };
	mqueue_drain(ib->mq, drain_one, &c);
	return c.n;
}

void inbox_counts(struct inbox *ib, uint64_t *frames_in, uint64_t *dropped)
{
	pthread_mutex_lock(&ib->mu);
	*frames_in = ib->frames_in;
	*dropped = ib->dropped;
	pthread_mutex_unlock(&ib->mu);
}

struct inbox *inbox_free(struct inbox *ib)
{
	if (!ib)
		return NULL;
	void *item;
	for (size_t guard = 0;
	     ib->mq && guard <= ib->max_items + INBOX_RESERVE && (item = mqueue_pop(ib->mq));
	     guard++) {
		if (item != &ib->audio_marker && ib->item_free)
			ib->item_free(item);
	}
	ib->mq = mqueue_free(ib->mq, NULL);
	free(ib->ring);
	pthread_mutex_destroy(&ib->mu);
	free(ib);
	return NULL;
}
