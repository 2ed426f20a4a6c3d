/* The dialer: pulls dial.twilio jobs while it has capacity (acking each
 * before dialing: at most once), owner heartbeats, shutdown. Owns the
 * LiveKit client, the subscriptions, the calls (calls.c) and the trunk
 * command (trunks.c), which it feeds and never hears back from but through
 * twilio_calls_room(). The puller runs on a thread of its own; dialer_tick on the
 * service's main loop; the bus handlers on nats.c's threads. */
#include "dialer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "command/command.h"
#include "livekit/livekit.h"
#include "trunks.h"

#define DURABLE       "twilio-dialer"
#define FILTER        "dial.twilio"
#define FETCH_MAX     16
#define FETCH_WAIT_MS 1000
#define HEARTBEAT_MS  2000
#define STOP_WAIT_MS  5000

struct dialer {
	const struct dialer_cfg *cfg;
	struct service *svc;
	struct bus *bus;
	struct livekit *lk;          /* NULL: dialing is off (no LIVEKIT_URL) */
	struct twilio_calls *calls;
	struct trunks *trunks;
	pthread_t puller;
	bool puller_running;
	struct bus_sub *pull_sub;
	struct bus_sub *hangup_sub, *ended_sub, *failed_sub, *trunk_sub;
	int64_t last_heartbeat_ms;
};

static enum bus_ack on_job(const struct bus_msg *msg, void *arg)
{
	struct dialer *d = arg;
	/* at most once: the ack is confirmed before the call is placed */
	int err = bus_js_ack(msg, BUS_ACK_SYNC);
	if (err) {
		log_warn("job_ack_failed", "seq=%llu: %s; not dialing (redelivered later)",
			 (unsigned long long)msg->seq, cm_strerror(err));
		return BUS_NAK;
	}
	twilio_calls_take_job(d->calls, msg->data, (size_t)msg->len);
	return BUS_ACK;
}

static void *puller(void *arg)
{
	struct dialer *d = arg;
	while (!lifecycle_stopping()) {
		if (!service_bus_ready(d->svc)) {
			lifecycle_wait(200);
			continue;
		}
		if (!d->pull_sub) {
			int err = bus_js_pull_sub(d->bus, &d->pull_sub, "DIALS", DURABLE, FILTER);
			if (err) {
				log_warn("pull_sub_failed", "%s", cm_strerror(err));
				lifecycle_wait(500);
				continue;
			}
			log_info("pulling", "DIALS %s as %s, up to %ld calls", FILTER, DURABLE,
				 d->cfg->max_calls);
		}
		/* full: wait for a call to end (re-checked every second) */
		long room = twilio_calls_room(d->calls, 1000);
		if (room < 0)
			break; /* stopping */
		if (room == 0)
			continue;
		int n = 0;
		int err = bus_js_fetch(d->pull_sub, room < FETCH_MAX ? (int)room : FETCH_MAX,
				       FETCH_WAIT_MS, on_job, d, &n);
		if (err && err != ETIMEDOUT)
			lifecycle_wait(200);
	}
	return NULL;
}

void dialer_tick(void *arg)
{
	struct dialer *d = arg;
	int64_t now = time_mono_ms();
	if (now - d->last_heartbeat_ms < HEARTBEAT_MS - 100)
		return;
	d->last_heartbeat_ms = now;
	const char **ids = NULL;
	size_t n = 0;
	char *json = NULL;
	if (twilio_calls_owned(d->calls, &ids, &n) == 0)
		json = cmd_heartbeat_json(service_source(d->svc), ids, n, d->cfg->max_calls);
	free(ids);
	if (json) {
		int err = bus_publish(d->bus, "owners.heartbeat", json, strlen(json));
		if (err)
			log_debug("heartbeat_failed", "%s", cm_strerror(err));
	}
	free(json);
}

int dialer_new(struct dialer **dp, const struct dialer_cfg *cfg, struct service *svc)
{
	struct dialer *d = calloc(1, sizeof(*d));
	int err = 0;
	if (!d)
		return ENOMEM;
	d->cfg = cfg;
	d->svc = svc;
	d->bus = service_bus(svc);
	d->last_heartbeat_ms = time_mono_ms() - HEARTBEAT_MS;

	if (!cfg->livekit_url) {
		log_warn("dialing_off", "LIVEKIT_URL is unset: no Twilio calls are placed");
	} else {
		err = livekit_client_new(&d->lk, cfg->livekit_url, cfg->livekit_api_key,
					 cfg->livekit_api_secret);
		if (err) {
			log_error("livekit_client_failed", "%s", cm_strerror(err));
			goto out;
		}
	}
	err = twilio_calls_new(&d->calls, cfg, d->lk, d->bus, service_source(svc));
	if (!err)
		err = trunks_new(&d->trunks, d->lk, d->bus, cfg->livekit_timeout_ms);
	if (err)
		goto out;
	err = bus_subscribe(d->bus, &d->trunk_sub, "sip.trunks.create", "twilio-dialer",
			    trunks_on_create, d->trunks);
	if (!err && d->lk)
		err = bus_subscribe(d->bus, &d->hangup_sub, "cmd.calls.*.hangup", NULL,
				    twilio_calls_on_hangup, d->calls);
	if (!err && d->lk)
		err = bus_subscribe(d->bus, &d->ended_sub, "calls.*.call_ended", NULL,
				    twilio_calls_on_ended, d->calls);
	if (!err && d->lk)
		err = bus_subscribe(d->bus, &d->failed_sub, "calls.*.call_failed", NULL,
				    twilio_calls_on_ended, d->calls);
	if (err) {
		log_error("subscribe_failed", "%s", cm_strerror(err));
		goto out;
	}
	if (d->lk) {
		err = pthread_create(&d->puller, NULL, puller, d);
		if (err)
			goto out;
		d->puller_running = true;
	}
out:
	if (err)
		d = dialer_free(d);
	*dp = d;
	return err;
}

struct dialer *dialer_free(struct dialer *d)
{
	if (!d)
		return NULL;
	if (d->calls)
		twilio_calls_stop(d->calls);
	if (d->trunks)
		trunks_stop(d->trunks);
	if (d->puller_running)
		pthread_join(d->puller, NULL);
	d->pull_sub = bus_unsubscribe(d->pull_sub);
	d->trunk_sub = bus_unsubscribe(d->trunk_sub);
	d->hangup_sub = bus_unsubscribe(d->hangup_sub);
	d->ended_sub = bus_unsubscribe(d->ended_sub);
	d->failed_sub = bus_unsubscribe(d->failed_sub);
	livekit_client_cancel(d->lk);

	/* every call thread returns promptly now: waits are woken, LiveKit calls
	 * abort with ECANCELED */
	int64_t deadline = time_mono_ms() + STOP_WAIT_MS;
	long left = d->calls ? twilio_calls_wait(d->calls, deadline) : 0;
	left += d->trunks ? trunks_wait(d->trunks, deadline) : 0;
	if (left > 0) {
		/* threads still inside libcurl own d: leak it rather than free under them */
		log_error("stop_incomplete", "%ld call threads still running", left);
		return NULL;
	}
	d->calls = twilio_calls_free(d->calls);
	d->trunks = trunks_free(d->trunks);
	d->lk = livekit_client_free(d->lk);
	free(d);
	return NULL;
}
