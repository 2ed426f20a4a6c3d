/* Remote hold and resume, on the sofia thread: every re-INVITE/UPDATE offer
 * is classified (sdp_hold_classify), handed to the media relay, answered
 * 200 OK with the mirrored direction (RFC 3264 §6.1), and call_hold /
 * call_resume is published only when the hold state changes. Owns each
 * call's struct call_media (its SDP session and hold record). */
#include "hold.h"

#include <errno.h>
#include <string.h>

static void publish_change(const struct hold_env *env, const struct hold_call *c,
			   const struct sdp_hold *hold)
{
	struct call_media *m = c->media;
	int64_t now = time_mono_ms();
	struct event *ev = publisher_draft(env->pub, hold->hold ? EV_CALL_HOLD : EV_CALL_RESUME,
					   c->call_id, c->room);
	if (ev && event_set_str(ev, "direction", sdp_dir_name(hold->effective)))
		ev = event_free(ev);
	if (ev && hold->hold && event_set_str(ev, "method", sdp_hold_method_name(hold->method)))
		ev = event_free(ev);
	if (hold->hold) {
		m->hold_since_ms = now;
		m->holds++;
		metric_add(env->m_holds, 1);
	} else {
		m->hold_total_ms += now - m->hold_since_ms;
	}
	m->on_hold = hold->hold;
	publisher_event(env->pub, ev);
	log_info(hold->hold ? "call_hold" : "call_resume", "%s: %s (%s)", c->call_id,
		 sdp_dir_name(hold->effective), sdp_hold_method_name(hold->method));
}

/* The direction attribute of an SDP body we wrote, for the debug log. */
static const char *answer_direction(const char *sdp)
{
	static const char *const dirs[] = { "a=sendrecv", "a=sendonly", "a=recvonly",
					    "a=inactive" };
	for (size_t i = 0; i < CM_ARRAY_LEN(dirs); i++)
		if (strstr(sdp, dirs[i]))
			return dirs[i];
	return "no direction";
}

void hold_on_offer(const struct hold_env *env, const struct hold_call *c, const char *sdp,
		   size_t sdp_len, const char *method)
{
	struct call_media *m = c->media;
	struct sip_leg *leg = c->leg;
	const char *call_id = c->call_id;
	char answer[2048];
	struct sdp_local local = { env->rtp_host, m->port, m->sess_id, m->sess_version + 1,
				   m->keys.secure ? m->keys.crypto_line : NULL };
	struct sdp_audio offer;
	struct sdp_hold hold;
	struct media_srtp *srtp = NULL;
	struct call_media before = *m; /* the keys, should this offer be refused */
	int err;

	if (!sdp && strcmp(method, "UPDATE") == 0) {
		/* a session refresh (RFC 4028): no offer, so no answer either */
		if (sip_leg_answer(leg, 200, NULL) == 0)
			log_debug("offer_answered",
				  "%s: UPDATE without offer answered 200 without SDP", call_id);
		return;
	}
	if (!sdp) {
		/* offerless re-INVITE: we offer (sendrecv), the ACK answers */
		if (sdp_offer_build(answer, sizeof(answer), &local) ||
		    sip_leg_answer(leg, 200, answer))
			return;
		m->sess_version++;
		return;
	}
	err = sdp_audio_parse(&offer, sdp, sdp_len);
	if (err) {
		log_warn("offer_unreadable", "%s: %s offer: %s", call_id, method, cm_strerror(err));
		if (sip_leg_answer(leg, 488, NULL))
			log_warn("offer_reject_failed", "%s", call_id);
		return;
	}
	sdp_hold_classify(&hold, &offer);
	if (m->keys.secure && offer.port != 0) {
		/* never media in clear on a TLS trunk: the offer must key it */
		struct sdes_crypto remote;
		err = sdes_from_offer(&remote, &offer);
		if (!err)
			err = sdes_answer_offer(&m->keys, &remote, &srtp);
		if (err) {
			log_warn("offer_without_srtp",
				 "%s: %s offer (%s) has no a=crypto we can use: %s", call_id,
				 method, offer.savp ? "RTP/SAVP" : "RTP/AVP", cm_strerror(err));
			if (sip_leg_answer(leg, 488, NULL))
				log_warn("offer_reject_failed", "%s", call_id);
			return;
		}
	}
	err = sdp_answer_build(answer, sizeof(answer), &local, &offer);
	if (err) {
		log_warn("offer_unanswerable", "%s: %s offer: %s", call_id, method,
			 cm_strerror(err));
		media_srtp_free(srtp);
		*m = before;
		if (sip_leg_answer(leg, 488, NULL))
			log_warn("offer_reject_failed", "%s", call_id);
		return;
	}
	/* media follows the new direction (and keys) before the far end reads
	 * our answer, and before call_hold / call_resume is out */
	bool rekeyed = srtp != NULL;
	if (c->relay)
		relay_leg_update(c->relay, &offer, srtp);
	else
		media_srtp_free(srtp);
	if (sip_leg_answer(leg, 200, answer))
		return;
	log_debug("offer_answered", "%s: %s offer %s (%s) answered 200 with %s%s%s", call_id,
		  method, sdp_dir_name(hold.effective), sdp_hold_method_name(hold.method),
		  answer_direction(answer), m->keys.secure ? ", SRTP " : "",
		  m->keys.secure ? (rekeyed ? "new keys" : "same keys") : "");
	m->sess_version++;
	if (hold.hold != m->on_hold)
		publish_change(env, c, &hold);
}
