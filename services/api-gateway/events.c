/* The SSE hub: one core subscription on calls.> fans out to every client's
 * queue; a client's connection is parked in httpd while its queue is empty
 * and woken when something arrives for it. One lock guards the client list
 * and every queue; the NATS thread and the heartbeat thread only copy bytes
 * under it. */
#include "events.h"

#include "core/core.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct client {
	struct client *prev, *next;
	struct httpd_stream *stream;
	char call_id[ID_UUID_LEN + 1]; /* "" = every call */
	char types[EVENTS_TYPES_MAX][40];
	size_t ntypes;                 /* 0 = every type */
	char *buf;                     /* queued bytes [off, len) */
	size_t off, len, cap;
	bool dropped;                  /* over EVENTS_QUEUE_MAX: end after the notice */
};

struct events {
	struct bus *bus;
	struct bus_sub *sub;
	unsigned max_clients;
	pthread_mutex_t mu;
	pthread_cond_t cv;             /* stop the heartbeat thread */
	struct client *clients;
	unsigned nclients;
	bool stopping;
	bool thread_started;
	pthread_t heartbeat;
	struct metric *m_clients, *m_dropped, *m_sent;
};

/* The blank lines first end any frame cut short by the discarded queue. */
static const char dropped_notice[] =
	"\n\nevent: dropped\ndata: {\"reason\":\"client too slow\"}\n\n";

/* Appends under ev->mu. False when the queue would pass its cap. */
static bool client_push(struct client *c, const char *s, size_t n)
{
	if (c->off > 0 && c->off == c->len)
		c->off = c->len = 0;
	if (c->len - c->off + n > EVENTS_QUEUE_MAX)
		return false;
	if (c->len + n > c->cap) {
		if (c->off > 0) { /* compact before growing */
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if (c->len + n > c->cap) {
			size_t cap = c->cap ? c->cap : 4096;
			while (cap < c->len + n)
				cap *= 2;
			char *b = realloc(c->buf, cap);
			if (!b)
				return false;
			c->buf = b;
			c->cap = cap;
		}
	}
	memcpy(c->buf + c->len, s, n);
	c->len += n;
	return true;
}

/* Queues or, when the client is too far behind, drops it: its queue is
 * replaced by the notice and its stream ends after it. Under ev->mu. */
static void client_offer(struct events *ev, struct client *c, const char *s, size_t n)
{
	if (c->dropped)
		return;
	if (!client_push(c, s, n)) {
		c->dropped = true;
		c->off = c->len = 0;
		if (!client_push(c, dropped_notice, sizeof(dropped_notice) - 1))
			c->len = 0;
		metric_add(ev->m_dropped, 1);
		log_warn("events_client_dropped", "SSE client over %d bytes behind: dropped",
			 EVENTS_QUEUE_MAX);
	}
	httpd_stream_wake(c->stream);
}

static bool client_wants(const struct client *c, const char *call_id, size_t idlen,
			 const char *type, size_t tlen)
{
	if (c->call_id[0] && (strlen(c->call_id) != idlen || memcmp(c->call_id, call_id, idlen)))
		return false;
	if (c->ntypes == 0)
		return true;
	for (size_t i = 0; i < c->ntypes; i++)
		if (strlen(c->types[i]) == tlen && memcmp(c->types[i], type, tlen) == 0)
			return true;
	return false;
}

/* calls.<call_id>.<type>: the frame is built once, the JSON as published
 * (one line; any newline would start a new `data:` line). */
static void on_event(const struct bus_msg *msg, void *arg)
{
	struct events *ev = arg;
	const char *subj = msg->subject;
	if (strncmp(subj, "calls.", 6) != 0)
		return;
	const char *id = subj + 6, *dot = strchr(id, '.');
	if (!dot || strchr(dot + 1, '.') || msg->len <= 0)
		return;
	size_t idlen = (size_t)(dot - id), tlen = strlen(dot + 1);
	size_t lines = 0;
	for (int i = 0; i < msg->len; i++)
		lines += msg->data[i] == '\n';
	char *frame = malloc((size_t)msg->len + lines * 7 + 16);
	if (!frame)
		return;
	size_t n = 0;
	memcpy(frame, "data: ", 6);
	n = 6;
	for (int i = 0; i < msg->len; i++) {
		char ch = msg->data[i];
		if (ch == '\r')
			continue;
		if (ch == '\n') {
			memcpy(frame + n, "\ndata: ", 7);
			n += 7;
			continue;
		}
		frame[n++] = ch;
	}
	memcpy(frame + n, "\n\n", 2);
	n += 2;
	pthread_mutex_lock(&ev->mu);
	for (struct client *c = ev->clients; c; c = c->next)
		if (client_wants(c, id, idlen, dot + 1, tlen)) {
			client_offer(ev, c, frame, n);
			metric_add(ev->m_sent, 1);
		}
	pthread_mutex_unlock(&ev->mu);
	free(frame);
}

/* Every EVENTS_PEER_CHECK_MS: a stream whose client closed its side ends
 * now (a parked stream is not read or written, so otherwise its place
 * among EVENTS_MAX_CLIENTS, and its connection among the client's
 * HTTP_MAX_PER_CLIENT, were held until the next ping failed). Every
 * EVENTS_HEARTBEAT_MS: a ping on each idle stream. */
static void *heartbeat_main(void *arg)
{
	struct events *ev = arg;
	static const char ping[] = ": ping\n\n";
	int ticks = 0;
	pthread_mutex_lock(&ev->mu);
	while (!ev->stopping) {
		struct timespec t;
		time_deadline(&t, CLOCK_REALTIME, EVENTS_PEER_CHECK_MS);
		pthread_cond_timedwait(&ev->cv, &ev->mu, &t);
		if (ev->stopping)
			break;
		bool beat = ++ticks >= EVENTS_HEARTBEAT_MS / EVENTS_PEER_CHECK_MS;
		if (beat)
			ticks = 0;
		for (struct client *c = ev->clients; c; c = c->next) {
			if (!c->dropped && httpd_stream_peer_gone(c->stream)) {
				c->dropped = true; /* the read after the wake ends it */
				c->off = c->len = 0;
				httpd_stream_wake(c->stream);
			} else if (beat && c->len == c->off) { /* idle: say we are alive */
				client_offer(ev, c, ping, sizeof(ping) - 1);
			}
		}
	}
	pthread_mutex_unlock(&ev->mu);
	return NULL;
}

/* ---- one client's stream ----------------------------------------------- */

struct serve_ctx {
	struct events *ev;
	struct client *c;
};

static long client_read(char *buf, size_t max, void *arg)
{
	struct serve_ctx *x = arg;
	struct client *c = x->c;
	long n = 0;
	pthread_mutex_lock(&x->ev->mu);
	size_t avail = c->len - c->off;
	if (avail == 0 && c->dropped) {
		n = HTTPD_STREAM_END;
	} else {
		size_t k = avail < max ? avail : max;
		memcpy(buf, c->buf + c->off, k);
		c->off += k;
		n = (long)k;
	}
	pthread_mutex_unlock(&x->ev->mu);
	return n;
}

static void client_done(void *arg)
{
	struct serve_ctx *x = arg;
	struct events *ev = x->ev;
	struct client *c = x->c;
	pthread_mutex_lock(&ev->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		ev->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	unsigned left = --ev->nclients;
	metric_set(ev->m_clients, left);
	pthread_mutex_unlock(&ev->mu);
	log_debug("events_client_left", "SSE client gone (%u left)", left);
	free(c->buf);
	free(c);
	free(x);
}

/* ?type=a,b: each a lower-case event type name. */
static bool parse_types(struct client *c, const char *s)
{
	while (s && *s) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || n >= sizeof(c->types[0]) || c->ntypes == EVENTS_TYPES_MAX)
			return false;
		for (size_t i = 0; i < n; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
				return false;
		memcpy(c->types[c->ntypes], s, n);
		c->types[c->ntypes][n] = '\0';
		c->ntypes++;
		s = e ? e + 1 : NULL;
	}
	return true;
}

void events_serve(struct httpd_req *req, struct events *ev)
{
	static const struct httpd_header hdrs[] = {
		{ "Cache-Control", "no-store" },
		{ "X-Accel-Buffering", "no" },
		{ "X-Content-Type-Options", "nosniff" },
		{ "Connection", "close" }, /* a stream is never followed by another request */
	};
	static const char hello[] = "retry: 2000\n: connected\n\n";
	const char *call_id = httpd_req_query(req, "call_id");
	const char *types = httpd_req_query(req, "type");
	struct client *c = calloc(1, sizeof(*c));
	struct serve_ctx *x = calloc(1, sizeof(*x));
	if (!c || !x) {
		httpd_reply_error(req, 503, "out_of_memory", NULL, "server overloaded");
		goto fail;
	}
	if (call_id && *call_id) {
		if (!id_is_uuid(call_id)) {
			httpd_reply_error(req, 400, "invalid_id", "call_id",
					  "call_id: must be a UUID");
			goto fail;
		}
		for (size_t i = 0; i < ID_UUID_LEN; i++)
			c->call_id[i] = (char)(call_id[i] >= 'A' && call_id[i] <= 'F'
						       ? call_id[i] + 32 : call_id[i]);
	}
	if (types && *types && !parse_types(c, types)) {
		httpd_reply_error(req, 400, "invalid_field", "type",
				  "type: comma-separated event types (a-z and _), at most 16");
		goto fail;
	}
	if (!client_push(c, hello, sizeof(hello) - 1)) {
		httpd_reply_error(req, 503, "out_of_memory", NULL, "server overloaded");
		goto fail;
	}
	x->ev = ev;
	x->c = c;
	pthread_mutex_lock(&ev->mu);
	bool full = ev->nclients >= ev->max_clients || ev->stopping;
	if (!full)
		ev->nclients++; /* reserved before the stream exists */
	pthread_mutex_unlock(&ev->mu);
	if (full) {
		httpd_reply_error(req, 503, "too_many_streams", NULL,
				  "too many event streams open; close one and retry");
		goto fail;
	}
	int err = httpd_reply_stream(req, &c->stream, 200, "text/event-stream; charset=utf-8", hdrs,
				     CM_ARRAY_LEN(hdrs), client_read, client_done, x);
	pthread_mutex_lock(&ev->mu);
	if (err) {
		ev->nclients--;
	} else {
		/* done cannot run before this handler returns (httpd.h) */
		c->next = ev->clients;
		if (c->next)
			c->next->prev = c;
		ev->clients = c;
		metric_set(ev->m_clients, ev->nclients);
	}
	pthread_mutex_unlock(&ev->mu);
	if (!err) {
		log_debug("events_client_joined", "SSE client (call_id=%s, %zu types)",
			  c->call_id[0] ? c->call_id : "*", c->ntypes);
		return;
	}
fail:
	if (c)
		free(c->buf);
	free(c);
	free(x);
}

int events_new(struct events **evp, struct bus *bus, unsigned max_clients)
{
	struct events *ev = calloc(1, sizeof(*ev));
	int err = 0;
	if (!ev)
		return ENOMEM;
	ev->bus = bus;
	ev->max_clients = max_clients ? max_clients : 1;
	pthread_mutex_init(&ev->mu, NULL);
	pthread_cond_init(&ev->cv, NULL);
	ev->m_clients = metric_gauge("api_event_streams", "GET /events streams open");
	ev->m_dropped = metric_counter("api_event_streams_dropped_total",
				       "event streams dropped for not keeping up");
	ev->m_sent = metric_counter("api_event_stream_events_total",
				    "events queued to event streams");
	err = bus_subscribe(bus, &ev->sub, "calls.>", NULL, on_event, ev);
	if (err) {
		log_error("events_subscribe_failed", "calls.>: %s", cm_strerror(err));
		goto out;
	}
	err = pthread_create(&ev->heartbeat, NULL, heartbeat_main, ev);
	if (err)
		goto out;
	ev->thread_started = true;
	*evp = ev;
	ev = NULL;
out:
	ev = events_free(ev);
	return err;
}

struct events *events_free(struct events *ev)
{
	if (!ev)
		return NULL;
	ev->sub = bus_unsubscribe(ev->sub);
	pthread_mutex_lock(&ev->mu);
	ev->stopping = true;
	pthread_cond_broadcast(&ev->cv);
	pthread_mutex_unlock(&ev->mu);
	if (ev->thread_started)
		pthread_join(ev->heartbeat, NULL);
	pthread_cond_destroy(&ev->cv);
	pthread_mutex_destroy(&ev->mu);
	free(ev);
	return NULL;
}
