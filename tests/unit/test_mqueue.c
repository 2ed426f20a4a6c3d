/* libs/core mqueue: FIFO order across producer threads, the bound, close,
 * the eventfd a poll loop watches, and the blocking wait. */
#include "core/core.h"
#include "harness/test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define PRODUCERS 4
#define PER_PRODUCER 5000

struct item {
	int producer;
	int seq;
};

struct producer {
	struct mqueue *mq;
	int id;
	int pushed, full;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	for (int i = 0; i < PER_PRODUCER; i++) {
		struct item *it = malloc(sizeof(*it));
		if (!it)
			break;
		it->producer = p->id;
		it->seq = i;
		int rc;
		/* bounded retries when the consumer is behind */
		for (int tries = 0; (rc = mqueue_push(p->mq, it)) == ENOSPC && tries < 100000;
		     tries++) {
			p->full++;
			sched_yield();
		}
		if (rc) {
			free(it);
			break;
		}
		p->pushed++;
	}
	return NULL;
}

static int test_multi_producer_order(void)
{
	int err = 0;
	struct mqueue *mq = NULL;
	struct producer prod[PRODUCERS] = { 0 };
	pthread_t th[PRODUCERS];
	int started = 0, next[PRODUCERS] = { 0 }, got = 0;
	bool in_order = true;

	TEST_EQ_INT(mqueue_new(&mq, 64), 0);
	for (; started < PRODUCERS; started++) {
		prod[started] = (struct producer){ .mq = mq, .id = started };
		TEST_EQ_INT(pthread_create(&th[started], NULL, produce, &prod[started]), 0);
	}
	while (got < PRODUCERS * PER_PRODUCER) {
		struct item *it = mqueue_wait(mq, 5000);
		TEST_ASSERT(it != NULL);
		if (it->seq != next[it->producer])
			in_order = false;
		next[it->producer] = it->seq + 1;
		got++;
		free(it);
	}
	TEST_ASSERT(in_order);
	TEST_EQ_INT(mqueue_len(mq), 0);
out:
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < started && !err; i++)
		TEST_EQ_INT(prod[i].pushed, PER_PRODUCER);
	mqueue_free(mq, free);
	return err;
}

static int test_bounded_and_close(void)
{
	int err = 0;
	struct mqueue *mq = NULL;
	int v[4];

	TEST_EQ_INT(mqueue_new(&mq, 0), EINVAL);
	TEST_EQ_INT(mqueue_new(&mq, ((size_t)1 << 20) + 1), EINVAL);
	TEST_EQ_INT(mqueue_new(&mq, 3), 0);
	TEST_EQ_INT(mqueue_push(mq, NULL), EINVAL);
	for (int i = 0; i < 3; i++)
		TEST_EQ_INT(mqueue_push(mq, &v[i]), 0);
	TEST_EQ_INT(mqueue_push(mq, &v[3]), ENOSPC);
	TEST_EQ_INT(mqueue_len(mq), 3);
	TEST_ASSERT(mqueue_pop(mq) == &v[0]);
	TEST_EQ_INT(mqueue_push(mq, &v[3]), 0);
	mqueue_close(mq);
	TEST_EQ_INT(mqueue_push(mq, &v[0]), EPIPE);
	/* what was queued before close is still delivered, in order */
	TEST_ASSERT(mqueue_wait(mq, -1) == &v[1]);
	TEST_ASSERT(mqueue_pop(mq) == &v[2]);
	TEST_ASSERT(mqueue_wait(mq, 1000) == &v[3]);
	/* closed and empty: no blocking, even with -1 */
	TEST_ASSERT(mqueue_wait(mq, -1) == NULL);
	TEST_ASSERT(mqueue_pop(mq) == NULL);
out:
	mqueue_free(mq, NULL);
	TEST_ASSERT(mqueue_free(NULL, NULL) == NULL);
	return err;
}

static void count_item(void *item, void *arg)
{
	int *sum = arg;
	*sum += *(int *)item;
}

static int fd_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static int test_fd_drain(void)
{
	int err = 0, sum = 0;
	struct mqueue *mq = NULL;
	int v[3] = { 1, 10, 100 };

	TEST_EQ_INT(mqueue_new(&mq, 16), 0);
	TEST_ASSERT(mqueue_fd(mq) >= 0);
	TEST_ASSERT(!fd_readable(mqueue_fd(mq), 0));
	for (int i = 0; i < 3; i++)
		TEST_EQ_INT(mqueue_push(mq, &v[i]), 0);
	TEST_ASSERT(fd_readable(mqueue_fd(mq), 0));
	TEST_EQ_INT(mqueue_drain(mq, count_item, &sum), 3);
	TEST_EQ_INT(sum, 111);
	TEST_ASSERT(!fd_readable(mqueue_fd(mq), 0));
	TEST_EQ_INT(mqueue_drain(mq, count_item, &sum), 0);
	/* readable again after the next push, and after close */
	TEST_EQ_INT(mqueue_push(mq, &v[0]), 0);
	TEST_ASSERT(fd_readable(mqueue_fd(mq), 0));
	TEST_EQ_INT(mqueue_drain(mq, count_item, &sum), 1);
	TEST_EQ_INT(sum, 112);
	mqueue_close(mq);
	TEST_ASSERT(fd_readable(mqueue_fd(mq), 0));
out:
	mqueue_free(mq, NULL);
	return err;
}

struct late {
	struct mqueue *mq;
	int value;
};

static void *push_late(void *arg)
{
	struct late *l = arg;
	test_nap_ms(50);
	if (mqueue_push(l->mq, &l->value))
		l->value = -1;
	return NULL;
}

static void *close_late(void *arg)
{
	test_nap_ms(50);
	mqueue_close(arg);
	return NULL;
}

static int test_wait_timeout_and_wake(void)
{
	int err = 0;
	struct mqueue *mq = NULL;
	pthread_t th;
	bool joined = true;
	struct late l = { .value = 7 };

	TEST_EQ_INT(mqueue_new(&mq, 4), 0);
	l.mq = mq;
	int64_t t0 = time_mono_ms();
	TEST_ASSERT(mqueue_wait(mq, 100) == NULL);
	int64_t waited = time_mono_ms() - t0;
	TEST_ASSERT(waited >= 100 && waited < 2000);
	TEST_ASSERT(mqueue_wait(mq, 0) == NULL);
	/* a push from another thread wakes a waiter */
	TEST_EQ_INT(pthread_create(&th, NULL, push_late, &l), 0);
	joined = false;
	TEST_ASSERT(mqueue_wait(mq, 5000) == &l.value);
	pthread_join(th, NULL);
	joined = true;
	/* so does close, for a waiter with no timeout */
	TEST_EQ_INT(pthread_create(&th, NULL, close_late, mq), 0);
	joined = false;
	t0 = time_mono_ms();
	TEST_ASSERT(mqueue_wait(mq, -1) == NULL);
	TEST_ASSERT(time_mono_ms() - t0 < 5000);
out:
	if (!joined)
		pthread_join(th, NULL);
	mqueue_free(mq, NULL);
	return err;
}

static int test_free_frees_items(void)
{
	int err = 0;
	struct mqueue *mq = NULL;
	TEST_EQ_INT(mqueue_new(&mq, 100), 0);
	/* more than the first ring: the ring grows */
	for (int i = 0; i < 100; i++) {
		int *p = malloc(sizeof(*p));
		TEST_ASSERT(p != NULL);
		*p = i;
		if (mqueue_push(mq, p)) {
			free(p);
			TEST_ASSERT(false);
		}
	}
	TEST_EQ_INT(mqueue_len(mq), 100);
	for (int i = 0; i < 50; i++) {
		int *p = mqueue_pop(mq);
		TEST_ASSERT(p && *p == i);
		free(p);
	}
out:
	mq = mqueue_free(mq, free); /* the other 50: freed (ASan checks) */
	TEST_ASSERT(mq == NULL);
	return err;
}

static const struct test tests[] = {
	{ "multi_producer_order", test_multi_producer_order },
	{ "bounded_and_close", test_bounded_and_close },
	{ "fd_drain", test_fd_drain },
	{ "wait_timeout_and_wake", test_wait_timeout_and_wake },
	{ "free_frees_items", test_free_frees_items },
};
TEST_MAIN(tests)
