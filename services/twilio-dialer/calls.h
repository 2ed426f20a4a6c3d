/* The calls this process owns (calls.c), from their dial job until they
 * end: one detached thread per call (and one per hangup of a call that
 * still rings); the table is guarded by its own lock. The dialer feeds it
 * jobs and bus messages; nothing here reaches back into the dialer. */
#ifndef TWILIO_DIALER_CALLS_H
#define TWILIO_DIALER_CALLS_H

#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"
#include "config.h"
#include "livekit/livekit.h"

struct twilio_calls;

/* Borrows cfg, lk (the LiveKit client the calls dial with), bus and source
 * (the events' source) until twilio_calls_free(). ENOMEM. */
int twilio_calls_new(struct twilio_calls **csp, const struct dialer_cfg *cfg, struct livekit *lk,
	      struct bus *bus, const char *source) CM_MUST_USE;
/* Takes a dial.twilio job (already acked): validates it and starts the
 * call's thread, or publishes call_failed for a bad job. */
void twilio_calls_take_job(struct twilio_calls *cs, const char *data, size_t len);
/* Free call slots (MAX_CALLS minus the calls owned); when there are none,
 * waits up to wait_ms for a call to end first. -1 once twilio_calls_stop() ran. */
long twilio_calls_room(struct twilio_calls *cs, int wait_ms);
/* Bus handlers, arg = the struct twilio_calls: cmd.calls.<id>.hangup; and
 * call_ended / call_failed seen on the bus. */
void twilio_calls_on_hangup(const struct bus_msg *msg, void *arg);
void twilio_calls_on_ended(const struct bus_msg *msg, void *arg);
/* The ids of the calls owned now: *idsp gets *np pointers into the same
 * allocation (the caller frees *idsp once). 0 or ENOMEM. */
int twilio_calls_owned(struct twilio_calls *cs, const char ***idsp, size_t *np) CM_MUST_USE;
/* No more calls: wakes every call's thread (each returns once its LiveKit
 * request does) and twilio_calls_room(). */
void twilio_calls_stop(struct twilio_calls *cs);
/* Waits for the call threads until deadline_ms (time_mono_ms); returns how
 * many still run. */
long twilio_calls_wait(struct twilio_calls *cs, int64_t deadline_ms);
/* Frees the table; only once twilio_calls_wait() returned 0. NULL-safe; returns NULL. */
struct twilio_calls *twilio_calls_free(struct twilio_calls *cs);

#endif
