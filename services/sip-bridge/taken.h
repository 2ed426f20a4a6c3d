/* Call ids already taken (taken.c; the puller thread only). Remembers at
 * least the last TAKEN_REMEMBERED call ids this process took, so a job
 * delivered twice (a re-enqueue with another Nats-Msg-Id, a redelivery
 * racing its ack) is dialed once. */
#ifndef SIP_BRIDGE_TAKEN_H
#define SIP_BRIDGE_TAKEN_H

#include "core/core.h"

#include <stdbool.h>

#define TAKEN_REMEMBERED 4096
struct taken_ids;
int taken_new(struct taken_ids **tp) CM_MUST_USE;
struct taken_ids *taken_free(struct taken_ids *t);
/* call_id is a UUID (dial_job_parse checked it). */
bool taken_has(const struct taken_ids *t, const char *call_id);
void taken_add(struct taken_ids *t, const char *call_id);

#endif
