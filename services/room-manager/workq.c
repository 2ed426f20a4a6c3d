/* Worker threads behind a bounded ring of jobs. */
#include "workq.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define WORKQ_THREADS_MAX 64

struct workq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct workq_job *ring;
	size_t cap, head, count;
	bool stopping;
	pthread_t threads[WORKQ_THREADS_MAX];
	int nthreads;
	workq_h *h;
	void *arg;
};

static void job_clear(struct workq_job *j)
{
	free(j->subject);
	free(j->reply);
	free(j->data);
	memset(j, 0, sizeof(*j));
}

static void *worker(void *arg)
{
	struct workq *wq = arg;
	pthread_mutex_lock(&wq->lock);
	for (;;) {
		while (wq->count == 0 && !wq->stopping)
			pthread_cond_wait(&wq->cond, &wq->lock);
		if (wq->count == 0)
			break; /* stopping and drained */
		struct workq_job job = wq->ring[wq->head];
		memset(&wq->ring[wq->head], 0, sizeof(job));
		wq->head = (wq->head + 1) % wq->cap;
		wq->count--;
		pthread_mutex_unlock(&wq->lock);
		wq->h(&job, wq->arg);
		job_clear(&job);
		pthread_mutex_lock(&wq->lock);
	}
	pthread_mutex_unlock(&wq->lock);
	return NULL;
}

int workq_new(struct workq **wqp, int threads, size_t cap, workq_h *h, void *arg)
{
	if (!wqp || threads < 1 || threads > WORKQ_THREADS_MAX || cap < 1 || !h)
		return EINVAL;
	struct workq *wq = calloc(1, sizeof(*wq));
	if (!wq)
		return ENOMEM;
	wq->ring = calloc(cap, sizeof(*wq->ring));
	if (!wq->ring) {
		free(wq);
		return ENOMEM;
	}
	pthread_mutex_init(&wq->lock, NULL);
	pthread_cond_init(&wq->cond, NULL);
	wq->cap = cap;
	wq->h = h;
	wq->arg = arg;
	int err = 0;
	for (; wq->nthreads < threads; wq->nthreads++) {
		err = pthread_create(&wq->threads[wq->nthreads], NULL, worker, wq);
		if (err)
			break;
	}
	if (err)
		wq = workq_free(wq);
	*wqp = wq;
	return err;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		if (n)
			memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

int workq_push(struct workq *wq, const char *subject, const char *reply, const char *data,
	       size_t len)
{
	struct workq_job job = {
		.subject = dup_n(subject, strlen(subject)),
		.reply = reply ? dup_n(reply, strlen(reply)) : NULL,
		.data = dup_n(data ? data : "", data ? len : 0),
		.len = data ? len : 0,
	};
	if (!job.subject || (reply && !job.reply) || !job.data) {
		job_clear(&job);
		return ENOMEM;
	}
	int err = 0;
	pthread_mutex_lock(&wq->lock);
	if (wq->stopping || wq->count == wq->cap) {
		err = EAGAIN;
	} else {
		wq->ring[(wq->head + wq->count) % wq->cap] = job;
		wq->count++;
		pthread_cond_signal(&wq->cond);
	}
	pthread_mutex_unlock(&wq->lock);
	if (err)
		job_clear(&job);
	return err;
}

struct workq *workq_free(struct workq *wq)
{
	if (!wq)
		return NULL;
	pthread_mutex_lock(&wq->lock);
	wq->stopping = true;
	pthread_cond_broadcast(&wq->cond);
	pthread_mutex_unlock(&wq->lock);
	for (int i = 0; i < wq->nthreads; i++)
		pthread_join(wq->threads[i], NULL);
	for (size_t i = 0; i < wq->cap; i++)
		job_clear(&wq->ring[i]);
	pthread_cond_destroy(&wq->cond);
	pthread_mutex_destroy(&wq->lock);
	free(wq->ring);
	free(wq);
	return NULL;
}
