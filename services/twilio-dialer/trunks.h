/* sip.trunks.create (trunks.c): one detached thread per request, counted
 * here so that shutdown can wait for them. */
#ifndef TWILIO_DIALER_TRUNKS_H
#define TWILIO_DIALER_TRUNKS_H

#include <stdint.h>

#include "bus/bus.h"
#include "livekit/livekit.h"

struct trunks;

/* Borrows lk (NULL: requests are answered "unavailable") and bus until
 * trunks_free(). timeout_ms: of one LiveKit call. ENOMEM. */
int trunks_new(struct trunks **tp, struct livekit *lk, struct bus *bus,
	       long timeout_ms) CM_MUST_USE;
/* The sip.trunks.create handler (request/reply), arg = the struct trunks. */
void trunks_on_create(const struct bus_msg *msg, void *arg);
/* Later requests are answered "twilio-dialer is stopping". */
void trunks_stop(struct trunks *t);
/* Waits for the request threads until deadline_ms (time_mono_ms); returns
 * how many still run. */
long trunks_wait(struct trunks *t, int64_t deadline_ms);
/* Only once trunks_wait() returned 0. NULL-safe; returns NULL. */
struct trunks *trunks_free(struct trunks *t);

#endif
