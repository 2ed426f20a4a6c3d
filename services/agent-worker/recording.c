/* The managed recording retry: recordings.start to room-manager, bounded
 * attempts with doubling backoff, one recording_failed {attempt, error} per
 * failed try and recording_started on success. Runs on its own thread so the
 * session's greeting waits for it only as long as it chooses. */
#include "agent.h"

#include "outbox/outbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ATTEMPTS_MAX 10

struct recording {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool cancel;
	const struct agent_opts *opts;
	char call_id[ID_UUID_LEN + 1];
	char room[EVENT_ROOM_MAX + 1];
	recording_done_h *done;
	void *arg;
	bool started;           /* set by the thread before it ends */
	char recording_id[128]; /* what recordings.start returned */
};

/* One try; on failure writes the reason into why. */
static int try_start(struct recording *r, char *why, size_t whylen, cJSON **datap)
{
	char *reply = NULL, *body = NULL;
	size_t len = 0;
	cJSON *j = cJSON_CreateObject();
	int err = ENOMEM;
	if (j && cJSON_AddNumberToObject(j, "v", 1) &&
	    cJSON_AddStringToObject(j, "call_id", r->call_id) &&
	    cJSON_AddStringToObject(j, "room", r->room) && (body = cJSON_PrintUnformatted(j)))
		err = bus_request(
			r->opts->bus, &reply, &len, "recordings.start", body, strlen(body),
			r->opts->recording_timeout_ms > 0 ? r->opts->recording_timeout_ms : 2000);
	cJSON_Delete(j);
	j = NULL;
	free(body);
	if (err) {
		snprintf(why, whylen, "recordings.start: %s",
			 err == ENOENT	    ? "no responder"
			 : err == ETIMEDOUT ? "timed out"
					    : cm_strerror(err));
		return err;
	}
	j = cJSON_ParseWithLength(reply, len);
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(j, "ok");
	if (!cJSON_IsTrue(ok)) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
		snprintf(why, whylen, "recordings.start: %s: %s",
			 cJSON_IsString(code) ? code->valuestring : "bad reply",
			 cJSON_IsString(msg) ? msg->valuestring : "");
		err = EIO;
	} else {
		*datap = cJSON_DetachItemFromObjectCaseSensitive(j, "data");
	}
	cJSON_Delete(j);
	free(reply);
	return err;
}

static void publish_result(struct recording *r, bool ok, int attempt, const char *why,
			   const cJSON *data)
{
	struct event *ev = NULL;
	int err = event_new(&ev, ok ? EV_RECORDING_STARTED : EV_RECORDING_FAILED, r->call_id,
			    r->room, r->opts->source);
	if (!err && ok) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(data, "recording_id");
		const cJSON *path = cJSON_GetObjectItemCaseSensitive(data, "path");
		if (cJSON_IsString(id) && id->valuestring[0])
			err = event_set_str(ev, "recording_id", id->valuestring);
		if (!err && cJSON_IsString(path) && path->valuestring[0])
			err = event_set_str(ev, "path", path->valuestring);
	} else if (!err) {
		err = event_set_int(ev, "attempt", attempt);
		if (!err)
			err = event_set_str(ev, "error", why);
	}
	if (!err) {
		outbox_event(r->opts->outbox, ev);
		return;
	}
	log_warn("recording_event", "call %s: %s", r->call_id, cm_strerror(err));
	event_free(ev);
}

/* Waits ms unless cancelled; true when cancelled. */
static bool wait_cancel(struct recording *r, int ms)
{
	struct timespec ts;
	time_deadline(&ts, CLOCK_MONOTONIC, ms);
	pthread_mutex_lock(&r->mu);
	while (!r->cancel && pthread_cond_timedwait(&r->cv, &r->mu, &ts) != ETIMEDOUT)
		;
	bool c = r->cancel;
	pthread_mutex_unlock(&r->mu);
	return c;
}

static void *recording_thread(void *arg)
{
	struct recording *r = arg;
	int attempts = r->opts->recording_attempts > 0 ? r->opts->recording_attempts : 3;
	int backoff = r->opts->recording_backoff_ms > 0 ? r->opts->recording_backoff_ms : 250;
	bool started = false;
	if (attempts > ATTEMPTS_MAX)
		attempts = ATTEMPTS_MAX;
	for (int attempt = 1; attempt <= attempts; attempt++) {
		char why[256];
		cJSON *data = NULL;
		if (try_start(r, why, sizeof(why), &data) == 0) {
			const char *rid = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(data, "recording_id"));
			snprintf(r->recording_id, sizeof(r->recording_id), "%s", rid ? rid : "");
			publish_result(r, true, attempt, NULL, data);
			log_info("recording_started", "call %s attempt %d", r->call_id, attempt);
			cJSON_Delete(data);
			started = true;
			break;
		}
		log_warn("recording_failed", "call %s attempt %d: %s", r->call_id, attempt, why);
		publish_result(r, false, attempt, why, NULL);
		if (attempt == attempts || wait_cancel(r, backoff))
			break;
		backoff *= 2;
	}
	r->started = started;
	r->done(started, r->arg);
	return NULL;
}

/* The session is over: the recording it started is stopped, so that the
 * file is closed and recording_ready published now rather than when the
 * room goes away. Best effort: a failure is logged. */
static void stop_recording(struct recording *r)
{
	cJSON *o = cJSON_CreateObject();
	char *body = NULL, *reply = NULL;
	size_t len = 0;
	if (!o || !cJSON_AddNumberToObject(o, "v", 1) ||
	    !cJSON_AddStringToObject(o, "call_id", r->call_id) ||
	    !cJSON_AddStringToObject(o, "room", r->room) ||
	    (r->recording_id[0] && !cJSON_AddStringToObject(o, "recording_id", r->recording_id)) ||
	    !(body = cJSON_PrintUnformatted(o))) {
		log_warn("recording_stop", "call %s: out of memory", r->call_id);
		goto out;
	}
	int timeout = r->opts->recording_timeout_ms > 0 ? r->opts->recording_timeout_ms : 2000;
	int err = bus_request(r->opts->bus, &reply, &len, "recordings.stop", body, strlen(body),
			      timeout);
	if (err)
		log_warn("recording_stop", "call %s: recordings.stop: %s", r->call_id,
			 cm_strerror(err));
	else if (!strstr(reply, "\"ok\":true"))
		log_warn("recording_stop", "call %s: recordings.stop refused: %.200s", r->call_id,
			 reply);
out:
	cJSON_Delete(o);
	free(body);
	free(reply);
}

int recording_new(struct recording **rp, const struct agent_opts *opts, const char *call_id,
		    const char *room, recording_done_h *done, void *arg)
{
	struct recording *r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&r->mu, NULL);
	r->opts = opts;
	snprintf(r->call_id, sizeof(r->call_id), "%s", call_id);
	snprintf(r->room, sizeof(r->room), "%s", room);
	r->done = done;
	r->arg = arg;
	int err = pthread_create(&r->thread, NULL, recording_thread, r);
	if (err) {
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		free(r);
		return err;
	}
	*rp = r;
	return 0;
}

struct recording *recording_free(struct recording *r)
{
	if (!r)
		return NULL;
	pthread_mutex_lock(&r->mu);
	r->cancel = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	if (r->started)
		stop_recording(r);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
	return NULL;
}
