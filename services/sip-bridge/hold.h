/* Remote hold and resume (hold.c; the sofia thread only). */
#ifndef SIP_BRIDGE_HOLD_H
#define SIP_BRIDGE_HOLD_H

#include "publish.h"
#include "relay.h"
#include "sdes.h"
#include "sip/sip.h"

/* A call's media session as our SDP describes it, and its hold record. */
struct call_media {
	uint64_t sess_id, sess_version;
	uint16_t port;
	bool on_hold;
	int64_t hold_since_ms;
	int64_t hold_total_ms;
	int holds;
	struct sdes_keys keys;
};

/* What every call's hold handling shares (borrowed). */
struct hold_env {
	struct publisher *pub;
	struct metric *m_holds;
	const char *rtp_host;   /* the address our SDP names */
};

/* One call, as hold_on_offer sees it (borrowed). */
struct hold_call {
	struct sip_leg *leg;
	struct call_media *media;
	struct relay_leg *relay;  /* NULL: no media relay */
	const char *call_id, *room;
};

/* Answers a re-INVITE/UPDATE offer (sdp NULL: none) on c->leg, points the
 * call's media relay at what the offer asks, and publishes call_hold /
 * call_resume when the hold state changes. On a secure call an offer must
 * carry a usable a=crypto (else 488, the call and its keys stay as they
 * were); the answer carries ours. */
void hold_on_offer(const struct hold_env *env, const struct hold_call *c, const char *sdp,
		   size_t sdp_len, const char *method);

#endif
