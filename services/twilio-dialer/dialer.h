/* twilio-dialer's shared declarations: config, the calls it owns, the job
 * puller and the sip.trunks.create command. */
#ifndef TWILIO_DIALER_DIALER_H
#define TWILIO_DIALER_DIALER_H

#include <pthread.h>

#include "command/command.h"
#include "livekit/livekit.h"
#include "service/service.h"

struct dialer_cfg {
	struct core_cfg core;
	const char *livekit_url;
	const char *livekit_api_key;
	const char *livekit_api_secret;
	long max_calls;
	long livekit_timeout_ms;
	long sip_dial_timeout_s;
	long dial_attempts;
	long dial_backoff_ms;
};

struct dialer;

/* Starts serving: pulls dial.twilio jobs (durable consumer "twilio-dialer")
 * up to MAX_CALLS, listens for cmd.calls.*.hangup and for calls ended
 * elsewhere, serves sip.trunks.create. Borrows cfg and svc. */
int dialer_start(struct dialer **dp, const struct dialer_cfg *cfg, struct service *svc) CM_MUST_USE;
/* Publishes owners.heartbeat when due; call about once a second. */
void dialer_tick(void *arg);
/* Stops pulling, aborts LiveKit calls in flight, waits (bounded) for the
 * call threads, frees. Calls still up are left to LiveKit and to the owner
 * liveness rule. NULL-safe; returns NULL. */
struct dialer *dialer_stop(struct dialer *d);

#endif
