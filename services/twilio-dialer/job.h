/* job — a dial.twilio job as the DIALS stream brings it, read and checked
 * (job.c, pure). calls.c dials what it holds. */
#ifndef TWILIO_DIALER_JOB_H
#define TWILIO_DIALER_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "command/command.h"
#include "core/core.h"
#include "event/event.h"
#include "livekit/livekit.h"

struct twilio_job {
	char call_id[ID_UUID_LEN + 1];
	char room[EVENT_ROOM_MAX + 1];
	char identity[LIVEKIT_IDENTITY_MAX + 1]; /* participant_identity, or sip-<call_id> */
	char to[E164_MAX + 1];
	char from[E164_MAX + 1];
	char trunk_id[128];                      /* the LiveKit SIP trunk */
	bool krisp;
	long ring_timeout_s;                     /* default 60 */
	long max_duration_s;                     /* default 3600 */
	int64_t created_ms;                      /* created_at; 0 when absent */
	int64_t dial_by_ms;                      /* dial_by: not dialed after it; 0 = none */
};

/* Reads `len` bytes of JSON into *job; 0 or EINVAL with *e naming the
 * field. call_id and room (ID_UUID_LEN + 1 and EVENT_ROOM_MAX + 1 bytes)
 * get the job's values whenever they were readable, so that even a bad job
 * can fail its call. *job is complete only on success. */
int twilio_job_parse(struct twilio_job *job, const char *data, size_t len, struct cmd_error *e,
		     char *call_id, char *room) CM_MUST_USE;

#endif
