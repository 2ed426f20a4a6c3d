/* The dialer (dialer.c): the job puller, the owner heartbeat and the
 * subscriptions, over the calls (calls.h) and the trunk command (trunks.h). */
#ifndef TWILIO_DIALER_DIALER_H
#define TWILIO_DIALER_DIALER_H

#include "config.h"
#include "service/service.h"

struct dialer;

/* Starts serving: pulls dial.twilio jobs (durable consumer "twilio-dialer")
 * up to MAX_CALLS, listens for cmd.calls.*.hangup and for calls ended
 * elsewhere, serves sip.trunks.create. Borrows cfg and svc. */
int dialer_new(struct dialer **dp, const struct dialer_cfg *cfg, struct service *svc) CM_MUST_USE;
/* Publishes owners.heartbeat when due; call about once a second. */
void dialer_tick(void *arg);
/* Stops pulling, aborts LiveKit calls in flight, waits (bounded) for the
 * call and trunk threads, frees. Calls still up are left to LiveKit and to
 * the owner liveness rule. NULL-safe; returns NULL. */
struct dialer *dialer_free(struct dialer *d);

#endif
