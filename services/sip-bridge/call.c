/* The calls of this bridge, on the sofia thread: each outgoing call from
 * its INVITE (dial.c sends it) through ringing, answer (the media relay
 * starts), re-INVITEs (hold.c), failure and end; ring timeout, maximum
 * duration, hangup commands, the owner heartbeat. Owns every struct call. */
#include "call.h"
#include "command/command.h"
#include "hold.h"
#include "rtp.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CANCEL_GRACE_MS 5000 /* a CANCEL that gets no final answer */

enum phase { PH_DIALING, PH_RINGING, PH_ANSWERED };

struct calls {
	struct calls_cfg cfg;
	struct hold_env hold;
	struct sip_ua *ua;
	struct rtp_ports ports;
	struct call *list;
	int n;
	uint64_t sess_seq;
	int64_t last_end_ms;        /* when the last call was freed, 0 before any */
	struct metric *m_answered, *m_active;
};

struct call {
	struct call *next;
	struct calls *cs;
	struct dial_job *job;
	struct sip_leg *leg;
	enum phase phase;
	int rtp_fd;                 /* until the relay takes it */
	struct relay_leg *relay;    /* answered: RTP ⇄ room */
	struct call_media media;
	int64_t ring_deadline_ms, max_deadline_ms, cancel_deadline_ms;
	int64_t answered_ms;
	bool terminal;              /* call_failed / call_ended published */
	const char *cancel_status;  /* status for a CANCEL we sent: timeout | cancelled */
	char end_reason[64];
	const char *end_by;         /* local | agent | system */
};

static void publish(struct call *c, struct event *ev)
{
	if (ev)
		publisher_event(c->cs->cfg.pub, ev);
}

static struct event *call_event(struct call *c, enum event_type type)
{
	return publisher_draft(c->cs->cfg.pub, type, c->job->call_id, c->job->room);
}

static void publish_failed(struct call *c, const char *status, int code, const char *reason)
{
	if (c->terminal)
		return;
	c->terminal = true;
	publisher_call_failed(c->cs->cfg.pub, c->job->call_id, c->job->room, status, code, reason);
	log_info("call_failed", "%s: %s (%d %s)", c->job->call_id, status, code, reason);
}

static void publish_ended(struct call *c, const char *reason, const char *by)
{
	if (c->terminal)
		return;
	c->terminal = true;
	struct event *ev = call_event(c, EV_CALL_ENDED);
	int64_t dur = c->answered_ms ? time_mono_ms() - c->answered_ms : 0;
	if (ev && (event_set_str(ev, "reason", reason) || event_set_str(ev, "by", by) ||
		   event_set_int(ev, "duration_ms", dur)))
		ev = event_free(ev);
	publish(c, ev);
	log_info("call_ended", "%s: %s by %s after %lld ms", c->job->call_id, reason, by,
		 (long long)dur);
}

static void call_free(struct call *c)
{
	struct calls *cs = c->cs;
	for (struct call **pp = &cs->list; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	cs->n--;
	cs->last_end_ms = time_mono_ms();
	metric_set(cs->m_active, cs->n);
	c->relay = relay_leg_free(c->relay);
	if (c->rtp_fd >= 0)
		close(c->rtp_fd);
	dial_job_free(c->job);
	free(c);
	atomic_fetch_sub(cs->cfg.active, 1);
}

/* The far end's answer to our RTP/SAVP offer (NULL: none readable) must
 * key the media with our tag and suite; *srtpp then holds the session for
 * the relay. Otherwise the call fails as a 488 would (call_failed, BYE):
 * never media in clear on a TLS trunk. */
static bool secure_answer(struct call *c, const struct sdp_audio *answer, struct media_srtp **srtpp)
{
	const char *why = NULL;
	int err = 0;
	if (!answer)
		why = "no usable SDP in the answer to our RTP/SAVP offer";
	else if (sdes_from_answer(&c->media.keys.remote_key, &c->media.keys, answer))
		why = "answer without a usable a=crypto for our RTP/SAVP offer";
	else if ((err = media_srtp_new(srtpp, &c->media.keys.local_key,
					 &c->media.keys.remote_key)))
		why = "cannot set up SRTP with the answered key";
	if (!why) {
		log_info("call_srtp", "%s: SRTP %s, tag %u", c->job->call_id,
			 sdes_suite_name(c->media.keys.remote_key.suite),
			 (unsigned)c->media.keys.remote_key.tag);
		return true;
	}
	log_warn("answer_without_srtp", "%s: %s%s%s, BYE", c->job->call_id, why, err ? ": " : "",
		 err ? cm_strerror(err) : "");
	publish_failed(c, "failed", 488, why);
	sip_leg_hangup(c->leg);
	return false;
}

static void on_leg(struct sip_leg *leg, const struct sip_leg_info *info, void *arg)
{
	struct call *c = arg;
	(void)leg;
	switch (info->ev) {
	case SIP_LEG_PROGRESS:
		if (c->phase == PH_DIALING && info->code >= 180) {
			c->phase = PH_RINGING;
			struct event *ev = call_event(c, EV_CALL_RINGING);
			if (ev && event_set_int(ev, "sip_code", info->code))
				ev = event_free(ev);
			publish(c, ev);
		}
		break;
	case SIP_LEG_ANSWERED: {
		c->phase = PH_ANSWERED;
		c->answered_ms = time_mono_ms();
		c->max_deadline_ms = c->answered_ms + c->job->max_duration_s * 1000;
		metric_add(c->cs->m_answered, 1);
		if (c->cancel_status) {
			/* our CANCEL crossed the 200 OK; the leg sends BYE */
			publish_failed(c, c->cancel_status, 487, "cancelled after answer");
			break;
		}
		struct sdp_audio remote;
		struct media_srtp *srtp = NULL;
		bool have_sdp = info->sdp &&
				sdp_audio_parse(&remote, info->sdp, info->sdp_len) == 0;
		if (c->media.keys.secure && !secure_answer(c, have_sdp ? &remote : NULL, &srtp))
			break;
		if (!have_sdp)
			log_warn("answer_sdp_unusable", "%s: no usable SDP in the 200 OK",
				 c->job->call_id);
		else if (relay_leg_start(c->relay, c->rtp_fd, srtp, &remote) == 0)
			c->rtp_fd = -1;
		else
			log_error("relay_start_failed", "%s: the call has no media",
				  c->job->call_id);
		if (srtp && c->rtp_fd >= 0)
			media_srtp_free(srtp); /* the relay did not take it */
		struct event *ev = call_event(c, EV_CALL_ANSWERED);
		if (ev && sip_leg_call_id(c->leg)[0] &&
		    event_set_str(ev, "sip_call_id", sip_leg_call_id(c->leg)))
			ev = event_free(ev);
		publish(c, ev);
		log_info("call_answered", "%s", c->job->call_id);
		break;
	}
	case SIP_LEG_FAILED:
		if (c->cancel_status)
			publish_failed(c, c->cancel_status, info->code, info->reason);
		else
			publish_failed(c, call_status_name(call_status_from_sip(info->code)),
				       info->code, info->reason);
		break;
	case SIP_LEG_OFFER: {
		struct hold_call hc = { c->leg, &c->media, c->relay, c->job->call_id,
					c->job->room };
		hold_on_offer(&c->cs->hold, &hc, info->sdp, info->sdp_len, info->method);
		break;
	}
	case SIP_LEG_BYE:
		c->relay = relay_leg_free(c->relay);
		publish_ended(c, "hangup", "remote");
		break;
	case SIP_LEG_GONE:
		c->leg = NULL;
		if (c->phase == PH_ANSWERED)
			publish_ended(c, c->end_reason[0] ? c->end_reason : "hangup",
				      c->end_by ? c->end_by : "system");
		else
			publish_failed(c, c->cancel_status ? c->cancel_status : "failed", 0,
				       "call setup ended");
		call_free(c);
		break;
	}
}

void call_start(struct calls *cs, struct dial_job *job)
{
	struct call *c = calloc(1, sizeof(*c));
	const char *why = NULL;
	if (!c) {
		publisher_call_failed(cs->cfg.pub, job->call_id, job->room, "failed", 0,
				      "out of memory");
		dial_job_free(job);
		atomic_fetch_sub(cs->cfg.active, 1);
		return;
	}
	c->cs = cs;
	c->job = job;
	c->rtp_fd = -1;
	c->next = cs->list;
	cs->list = c;
	cs->n++;
	metric_set(cs->m_active, cs->n);

	int err = rtp_port_open(&cs->ports, &c->rtp_fd, &c->media.port);
	if (err) {
		publish_failed(c, "failed", 0, "no free RTP port");
		call_free(c);
		return;
	}
	c->media.sess_id = (uint64_t)time_now_ms() * 1000 + (++cs->sess_seq % 1000);
	c->media.sess_version = 1;
	/* a TLS trunk gets SRTP (SDES): RTP/SAVP with our a=crypto */
	if (strcmp(job->transport, "tls") == 0 && sdes_local_init(&c->media.keys)) {
		publish_failed(c, "failed", 0, "cannot make an SRTP key");
		call_free(c);
		return;
	}
	struct sdp_local local = { cs->cfg.rtp_host, c->media.port, c->media.sess_id,
				   c->media.sess_version,
				   c->media.keys.secure ? c->media.keys.crypto_line : NULL };
	long ring_s = job->ring_timeout_s > 0 ? job->ring_timeout_s : cs->cfg.ring_timeout_s;
	c->ring_deadline_ms = time_mono_ms() + ring_s * 1000;
	if (dial_invite(&c->leg, cs->ua, job, &local, on_leg, c, &why)) {
		publish_failed(c, "failed", 0, why);
		call_free(c);
		return;
	}
	/* into the room while it rings: joining takes a WebRTC handshake on LiveKit */
	if (relay_leg_new(&c->relay, cs->cfg.relay, job->call_id, job->room))
		log_error("relay_join_failed", "%s: out of memory, the call will have no media",
			  job->call_id);
	relay_leg_peers(c->relay, job->addrs, job->naddrs);
	struct event *ev = call_event(c, EV_CALL_DIALING);
	if (ev && event_set_str(ev, "provider", "exotel"))
		ev = event_free(ev);
	publish(c, ev);
}

static struct call *find(struct calls *cs, const char *call_id)
{
	for (struct call *c = cs->list; c; c = c->next)
		if (strcmp(c->job->call_id, call_id) == 0)
			return c;
	return NULL;
}

static void end_call(struct call *c, const char *reason, const char *by, const char *cancel_status)
{
	if (!c->leg || c->terminal)
		return;
	if (c->phase == PH_ANSWERED) {
		c->relay = relay_leg_free(c->relay);
		if (!c->end_reason[0]) {
			snprintf(c->end_reason, sizeof(c->end_reason), "%s", reason);
			c->end_by = by;
		}
	} else if (!c->cancel_status) {
		c->cancel_status = cancel_status;
		c->cancel_deadline_ms = time_mono_ms() + CANCEL_GRACE_MS;
	}
	sip_leg_hangup(c->leg);
}

void call_hangup(struct calls *cs, const char *call_id, const char *reason)
{
	struct call *c = find(cs, call_id);
	if (!c)
		return;
	const char *by = strncmp(reason, "agent", 5) == 0 ? "agent" : "local";
	log_info("call_hangup", "%s: %s", call_id, reason);
	end_call(c, reason, by, "cancelled");
}

void call_media_timeout(struct calls *cs, const char *call_id)
{
	struct call *c = find(cs, call_id);
	if (!c || c->phase != PH_ANSWERED)
		return;
	log_info("call_media_timeout", "%s: no RTP for %ld s, BYE", call_id,
		 cs->cfg.media_timeout_s);
	end_call(c, "media_timeout", "local", NULL);
}

void call_ended_elsewhere(struct calls *cs, const char *call_id, const char *what,
			  const char *source)
{
	struct call *c = find(cs, call_id);
	if (!c || c->terminal)
		return;
	log_warn("call_ended_elsewhere", "%s: %s from %s while the leg is up: hanging up", call_id,
		 what, source);
	end_call(c, "ended_elsewhere",
		 strncmp(source, "agent-worker/", 13) == 0 ? "agent" : "local", "cancelled");
}

void calls_tick(struct calls *cs, int64_t now_ms)
{
	for (struct call *c = cs->list; c; c = c->next) {
		if (c->terminal)
			continue;
		if (c->phase != PH_ANSWERED && !c->cancel_status && now_ms >= c->ring_deadline_ms) {
			log_info("call_ring_timeout", "%s: no answer in time, CANCEL",
				 c->job->call_id);
			end_call(c, "timeout", "system", "timeout");
		} else if (c->phase != PH_ANSWERED && c->cancel_status &&
			   now_ms >= c->cancel_deadline_ms) {
			/* the far end never confirmed the CANCEL: the call is over for us */
			publish_failed(c, c->cancel_status, 0, "no response to CANCEL");
		} else if (c->phase == PH_ANSWERED && now_ms >= c->max_deadline_ms) {
			end_call(c, "max_duration", "system", NULL);
		}
	}
}

bool calls_idle_since(const struct calls *cs, int64_t *since_ms)
{
	*since_ms = cs->last_end_ms;
	return cs->n == 0 && cs->last_end_ms != 0;
}

void calls_heartbeat(struct calls *cs)
{
	const char **ids = cs->n > 0 ? calloc((size_t)cs->n, sizeof(*ids)) : NULL;
	size_t n = 0;
	if (cs->n > 0 && !ids)
		return;
	for (struct call *c = cs->list; c && n < (size_t)cs->n; c = c->next)
		if (!c->terminal)
			ids[n++] = c->job->call_id;
	char *json = cmd_heartbeat_json(cs->cfg.source, ids, n, cs->cfg.max_calls);
	if (json)
		publisher_raw(cs->cfg.pub, "owners.heartbeat", json, strlen(json));
	free(json);
	free(ids);
}

static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family == AF_INET && b->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6 && b->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr,
			      sizeof(struct in6_addr)) == 0;
	/* IPv4-mapped IPv6 source against an IPv4 trunk */
	if (a->ss_family == AF_INET && b->sa_family == AF_INET6) {
		const struct in6_addr *s6 = &((const struct sockaddr_in6 *)b)->sin6_addr;
		return IN6_IS_ADDR_V4MAPPED(s6) &&
		       memcmp(&s6->s6_addr[12], &((const struct sockaddr_in *)a)->sin_addr, 4) == 0;
	}
	return false;
}

bool calls_peer_allowed(struct calls *cs, const struct sockaddr *sa, socklen_t len)
{
	(void)len;
	for (struct call *c = cs->list; c; c = c->next)
		for (int i = 0; i < c->job->naddrs; i++)
			if (same_ip(&c->job->addrs[i], sa))
				return true;
	return false;
}

int calls_new(struct calls **csp, const struct calls_cfg *cfg)
{
	struct calls *cs = calloc(1, sizeof(*cs));
	if (!cs)
		return ENOMEM;
	cs->cfg = *cfg;
	struct metric *holds = metric_counter("sip_bridge_holds_total", "remote holds detected");
	cs->hold = (struct hold_env){ cfg->pub, holds, cfg->rtp_host };
	cs->m_answered = metric_counter("sip_bridge_answered_total", "calls answered");
	cs->m_active = metric_gauge("sip_bridge_active_calls", "calls in progress");
	rtp_ports_init(&cs->ports, cfg->rtp_bind, cfg->rtp_port_min, cfg->rtp_port_max);
	*csp = cs;
	return 0;
}

struct calls *calls_free(struct calls *cs)
{
	free(cs);
	return NULL;
}

void calls_use_ua(struct calls *cs, struct sip_ua *ua)
{
	cs->ua = ua;
}
