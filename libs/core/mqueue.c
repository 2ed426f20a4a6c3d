/* mqueue: a bounded FIFO of pointers between threads, with an eventfd for a
 * poll loop and a condition variable for a blocking consumer. The ring grows
 * by doubling up to `max`, so an idle queue costs a few words. */
#include "core/core.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MQUEUE_LIMIT ((size_t)1 << 20)
#define MQUEUE_RING0 16

struct mqueue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void **ring;
	size_t cap, head, len, max;
	bool closed;
	int fd;
};

static void fd_signal(int fd)
{
	uint64_t one = 1;
	/* EAGAIN only when the counter is saturated: it is readable then anyway */
	ssize_t n = write(fd, &one, sizeof(one));
	(void)n;
}

static void fd_clear(int fd)
{
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));
	(void)n;
}

int mqueue_new(struct mqueue **mqp, size_t max)
{
	pthread_condattr_t ca;
	struct mqueue *mq = NULL;
	int err = 0;

	if (!mqp || max == 0 || max > MQUEUE_LIMIT)
		return EINVAL;
	mq = calloc(1, sizeof(*mq));
	if (!mq)
		return ENOMEM;
	mq->max = max;
	mq->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (mq->fd < 0) {
		err = errno == EMFILE || errno == ENFILE ? errno : ENOMEM;
		free(mq);
		return err;
	}
	pthread_mutex_init(&mq->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&mq->cv, &ca);
	pthread_condattr_destroy(&ca);
	*mqp = mq;
	return 0;
}

/* Called with mu held. */
static int ring_grow(struct mqueue *mq)
{
	size_t cap = mq->cap ? mq->cap * 2 : MQUEUE_RING0;
	if (cap > mq->max)
		cap = mq->max;
	void **ring = malloc(cap * sizeof(*ring));
	if (!ring)
		return ENOMEM;
	for (size_t i = 0; i < mq->len; i++)
		ring[i] = mq->ring[(mq->head + i) % mq->cap];
	free(mq->ring);
	mq->ring = ring;
	mq->cap = cap;
	mq->head = 0;
	return 0;
}

int mqueue_push(struct mqueue *mq, void *item)
{
	int err = 0;
	bool was_empty;

	if (!mq || !item)
		return EINVAL;
	pthread_mutex_lock(&mq->mu);
	if (mq->closed) {
		err = EPIPE;
		goto out;
	}
	if (mq->len == mq->max) {
		err = ENOSPC;
		goto out;
	}
	if (mq->len == mq->cap && (err = ring_grow(mq)))
		goto out;
	mq->ring[(mq->head + mq->len) % mq->cap] = item;
	was_empty = mq->len++ == 0;
	pthread_cond_signal(&mq->cv);
	/* an fd consumer drains until empty, so one wake-up per empty → non-empty
	 * transition suffices */
	if (was_empty)
		fd_signal(mq->fd);
out:
	pthread_mutex_unlock(&mq->mu);
	return err;
}

/* Called with mu held. */
static void *take(struct mqueue *mq)
{
	if (mq->len == 0)
		return NULL;
	void *item = mq->ring[mq->head];
	mq->head = (mq->head + 1) % mq->cap;
	mq->len--;
	return item;
}

void *mqueue_pop(struct mqueue *mq)
{
	if (!mq)
		return NULL;
	pthread_mutex_lock(&mq->mu);
	void *item = take(mq);
	pthread_mutex_unlock(&mq->mu);
	return item;
}

void *mqueue_wait(struct mqueue *mq, int timeout_ms)
{
	struct timespec deadline;
	void *item = NULL;

	if (!mq)
		return NULL;
	if (timeout_ms >= 0)
		time_deadline(&deadline, CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&mq->mu);
	while (mq->len == 0 && !mq->closed) {
		int rc = timeout_ms < 0 ? pthread_cond_wait(&mq->cv, &mq->mu)
					: pthread_cond_timedwait(&mq->cv, &mq->mu, &deadline);
		if (rc == ETIMEDOUT)
			break;
	}
	item = take(mq);
	pthread_mutex_unlock(&mq->mu);
	return item;
}

int mqueue_fd(const struct mqueue *mq)
{
	return mq ? mq->fd : -1;
}

size_t mqueue_drain(struct mqueue *mq, mqueue_h *h, void *arg)
{
	size_t n = 0;
	void *item;

	if (!mq || !h)
		return 0;
	fd_clear(mq->fd);
	while ((item = mqueue_pop(mq)) != NULL) {
		n++;
		h(item, arg);
	}
	return n;
}

size_t mqueue_len(struct mqueue *mq)
{
	if (!mq)
		return 0;
	pthread_mutex_lock(&mq->mu);
	size_t n = mq->len;
	pthread_mutex_unlock(&mq->mu);
	return n;
}

void mqueue_close(struct mqueue *mq)
{
	if (!mq)
		return;
	pthread_mutex_lock(&mq->mu);
	mq->closed = true;
	pthread_cond_broadcast(&mq->cv);
	fd_signal(mq->fd);
	pthread_mutex_unlock(&mq->mu);
}

struct mqueue *mqueue_free(struct mqueue *mq, void (*item_free)(void *))
{
	void *item;

	if (!mq)
		return NULL;
	while ((item = take(mq)) != NULL)
		if (item_free)
			item_free(item);
	close(mq->fd);
	pthread_cond_destroy(&mq->cv);
	pthread_mutex_destroy(&mq->mu);
	free(mq->ring);
	free(mq);
	return NULL;
}
