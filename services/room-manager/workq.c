/* Worker threads over one mqueue of jobs (libs/core): nats.c's threads push
 * copies of their messages, the workers pop them in order and run the
 * handler. Owns the queue, the threads and every job until its handler has
 * returned. */
#include "workq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define WORKQ_THREADS_MAX 64

struct workq {
	struct mqueue *jobs;
	pthread_t threads[WORKQ_THREADS_MAX];
	int nthreads;
	workq_h *h;
	void *arg;
};

static void job_free(void *p)
{
	struct workq_job *j = p;
	if (!j)
		return;
	free(j->subject);
	free(j->reply);
	free(j->data);
	free(j);
}

/* Until the queue is closed and empty: what was queued before workq_free
 * still runs. */
static void *worker(void *arg)
{
	struct workq *wq = arg;
	struct workq_job *job;
	while ((job = mqueue_wait(wq->jobs, -1)) != NULL) {
		wq->h(job, wq->arg);
		job_free(job);
	}
	return NULL;
}

int workq_new(struct workq **wqp, int threads, size_t cap, workq_h *h, void *arg)
{
	if (!wqp || threads < 1 || threads > WORKQ_THREADS_MAX || cap < 1 || !h)
		return EINVAL;
	struct workq *wq = calloc(1, sizeof(*wq));
	if (!wq)
		return ENOMEM;
	wq->h = h;
	wq->arg = arg;
	int err = mqueue_new(&wq->jobs, cap);
	for (; !err && wq->nthreads < threads; wq->nthreads++) {
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
	struct workq_job *job = calloc(1, sizeof(*job));
	if (!job)
		return ENOMEM;
	job->subject = dup_n(subject, strlen(subject));
	job->reply = reply ? dup_n(reply, strlen(reply)) : NULL;
	job->data = dup_n(data ? data : "", data ? len : 0);
	job->len = data ? len : 0;
	if (!job->subject || (reply && !job->reply) || !job->data) {
		job_free(job);
		return ENOMEM;
	}
	int err = mqueue_push(wq->jobs, job);
	if (err) {
		job_free(job);
		/* full or stopping */
		return err == ENOSPC || err == EPIPE ? EAGAIN : err;
	}
	return 0;
}

struct workq *workq_free(struct workq *wq)
{
	if (!wq)
		return NULL;
	mqueue_close(wq->jobs);
	for (int i = 0; i < wq->nthreads; i++)
		pthread_join(wq->threads[i], NULL);
	wq->jobs = mqueue_free(wq->jobs, job_free);
	free(wq);
	return NULL;
}
