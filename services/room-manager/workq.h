/* A bounded queue of NATS requests (an mqueue) served by worker threads, so
 * that slow LiveKit calls never run on nats.c's threads (STYLE.md, Threads). */
#ifndef ROOM_MANAGER_WORKQ_H
#define ROOM_MANAGER_WORKQ_H

#include <stddef.h>

#include "core/core.h"

struct workq;

/* One queued message; every field is owned by the queue and valid for the
 * duration of the handler call. */
struct workq_job {
	char *subject;
	char *reply; /* NULL when none */
	char *data;  /* NUL-terminated copy */
	size_t len;
};
typedef void (workq_h)(const struct workq_job *job, void *arg);

/* `threads` workers (1 keeps jobs in order) and at most `cap` queued jobs.
 * `arg` must outlive the queue. Caller frees with workq_free(). */
int workq_new(struct workq **wqp, int threads, size_t cap, workq_h *h, void *arg) CM_MUST_USE;
/* Copies the message and queues it. EAGAIN when the queue is full or
 * stopping, ENOMEM. Thread-safe. */
int workq_push(struct workq *wq, const char *subject, const char *reply, const char *data,
	       size_t len) CM_MUST_USE;
/* Runs what is queued, stops the workers, frees. NULL-safe; returns NULL. */
struct workq *workq_free(struct workq *wq);

#endif
