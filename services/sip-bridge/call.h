/* The calls of this bridge (call.c; the sofia thread only). */
#ifndef SIP_BRIDGE_CALL_H
#define SIP_BRIDGE_CALL_H

#include "dial.h"
#include "publish.h"
#include "relay.h"
#include "sip/sip.h"

#include <stdatomic.h>

struct calls_cfg {
	long ring_timeout_s;
	long media_timeout_s;
	long rtp_port_min, rtp_port_max;
	const char *rtp_bind;     /* RTP sockets bind here (SIP_BIND's host) */
	const char *rtp_host;     /* and our SDP names this (SIP_ADVERTISE) */
	const char *source;       /* ours, for owners.heartbeat */
	long max_calls;           /* MAX_CALLS, for owners.heartbeat */
	struct publisher *pub;
	struct relay *relay;
	atomic_int *active;       /* jobs taken and not finished: each call's end decrements it */
};

struct calls;
/* cfg's strings and objects are borrowed and outlive the calls. */
int calls_new(struct calls **csp, const struct calls_cfg *cfg) CM_MUST_USE;
/* After the stack that ran them is gone (every call ended with it). NULL-safe. */
struct calls *calls_free(struct calls *cs);
/* The stack new calls are dialed on (set once it is up). */
void calls_use_ua(struct calls *cs, struct sip_ua *ua);

/* Dials job (takes it). */
void call_start(struct calls *cs, struct dial_job *job);
void call_hangup(struct calls *cs, const char *call_id, const char *reason);
/* The relay saw no RTP for MEDIA_TIMEOUT_S: BYE, call_ended media_timeout. */
void call_media_timeout(struct calls *cs, const char *call_id);
/* Someone else (agent-worker, api-gateway's watchdog) published call_ended or
 * call_failed for a call whose leg this bridge holds: the record says it is
 * over, so the leg must not stay up. BYE (CANCEL before the answer) and
 * call_ended reason "ended_elsewhere"; nothing when the call is not ours. */
void call_ended_elsewhere(struct calls *cs, const char *call_id, const char *what,
			  const char *source);
/* Ring timeouts, CANCELs without an answer, maximum durations. */
void calls_tick(struct calls *cs, int64_t now_ms);
/* True when no call is in progress and one has ended: *since_ms is when
 * the last one ended (time_mono_ms). */
bool calls_idle_since(const struct calls *cs, int64_t *since_ms);
/* owners.heartbeat with the calls in progress. */
void calls_heartbeat(struct calls *cs);
/* Whether a SIP request from sa comes from the trunk of one of our calls. */
bool calls_peer_allowed(struct calls *cs, const struct sockaddr *sa, socklen_t len);

#endif
