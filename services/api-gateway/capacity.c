/* capacity — how full the call-owning workers are (capacity.h): a table of
 * sources filled by owners.heartbeat on a nats.c thread, read by the REST
 * handlers. */
#include "capacity.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "event/event.h"

#define CAPACITY_MAX_CALLS_MAX 1000000 /* larger max_calls values are refused */

struct worker {
	char source[EVENT_SOURCE_MAX + 1];
	long calls;
	long max_calls; /* 0: none stated */
	int64_t seen_ms;
};

struct capacity {
	pthread_mutex_t mu;
	struct worker workers[CAPACITY_SOURCES_MAX];
	size_t n;
	struct bus_sub *sub;
};

static void on_heartbeat(const struct bus_msg *msg, void *arg)
{
	struct capacity *c = arg;
	if (msg->len <= 0 || capacity_heartbeat(c, msg->data, (size_t)msg->len, time_mono_ms()))
		log_debug("capacity_heartbeat_ignored", "a malformed owners.heartbeat");
}

int capacity_new(struct capacity **cp, struct bus *bus)
{
	struct capacity *c = calloc(1, sizeof(*c));
	if (!c)
		return ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	if (bus) {
		int err = bus_subscribe(bus, &c->sub, "owners.heartbeat", NULL, on_heartbeat, c);
		if (err) {
			pthread_mutex_destroy(&c->mu);
			free(c);
			return err;
		}
	}
	*cp = c;
	return 0;
}

struct capacity *capacity_free(struct capacity *c)
{
	if (!c)
		return NULL;
	c->sub = bus_unsubscribe(c->sub);
	pthread_mutex_destroy(&c->mu);
	free(c);
	return NULL;
}

/* The slot for source: its own, a free one, or the one heard from longest ago. */
static struct worker *slot_locked(struct capacity *c, const char *source)
{
	struct worker *oldest = NULL;
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->workers[i].source, source) == 0)
			return &c->workers[i];
		if (!oldest || c->workers[i].seen_ms < oldest->seen_ms)
			oldest = &c->workers[i];
	}
	if (c->n < CAPACITY_SOURCES_MAX)
		return &c->workers[c->n++];
	return oldest;
}

int capacity_heartbeat(struct capacity *c, const char *json, size_t len, int64_t now_ms)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(root, "source");
	const cJSON *calls = cJSON_GetObjectItemCaseSensitive(root, "calls");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(root, "max_calls");
	int err = EINVAL;
	if (!cJSON_IsNumber(v) || v->valuedouble != 1 || !cJSON_IsString(src) ||
	    !src->valuestring[0] || strlen(src->valuestring) > EVENT_SOURCE_MAX ||
	    !cJSON_IsArray(calls))
		goto out;
	long max_calls = 0;
	if (max) {
		if (!cJSON_IsNumber(max) || max->valuedouble < 1 ||
		    max->valuedouble > CAPACITY_MAX_CALLS_MAX)
			goto out;
		max_calls = (long)max->valuedouble;
	}
	pthread_mutex_lock(&c->mu);
	struct worker *w = slot_locked(c, src->valuestring);
	snprintf(w->source, sizeof(w->source), "%s", src->valuestring);
	w->calls = cJSON_GetArraySize(calls);
	w->max_calls = max_calls;
	w->seen_ms = now_ms;
	pthread_mutex_unlock(&c->mu);
	err = 0;
out:
	cJSON_Delete(root);
	return err;
}

bool capacity_full(struct capacity *c, const char *kind, int64_t now_ms, long *callsp,
		   long *maxp)
{
	size_t klen = strlen(kind);
	long calls = 0, max = 0;
	bool any = false, unlimited = false, room = false;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n; i++) {
		const struct worker *w = &c->workers[i];
		if (now_ms - w->seen_ms > CAPACITY_LIVE_MS || strncmp(w->source, kind, klen) != 0 ||
		    w->source[klen] != '/')
			continue;
		any = true;
		calls += w->calls;
		max += w->max_calls;
		if (w->max_calls == 0)
			unlimited = true;
		else if (w->calls < w->max_calls)
			room = true;
	}
	pthread_mutex_unlock(&c->mu);
	*callsp = calls;
	*maxp = max;
	return any && !unlimited && !room;
}
