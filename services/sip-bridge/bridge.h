/*
 * sip-bridge: Exotel legs over SIP, their RTP relayed to the call's room.
 * The layers, each calling only those below it:
 *   main.c     config, service, process lifetime
 *   bridge.c   the sofia thread and its inbox, the NATS subscriptions; wires
 *              the parts below together through their handlers
 *   call.c     one outgoing call on the sofia thread, from dial to end
 *   dial.c     an Exotel call from dial job to INVITE (the puller thread, then
 *              the sofia thread);  hold.c  re-INVITE/UPDATE offers (hold)
 *   relay.c    the relay threads (media, room) and the legs' lives;
 *   media.c    what one leg does with its media (media thread)
 *   publish.c, taken.c, rtp.c, sdes.c: leaves
 * struct bridge is private to bridge.c.
 */
#ifndef SIP_BRIDGE_H
#define SIP_BRIDGE_H

#include "service/service.h"

#include <stdbool.h>

struct bridge_cfg {
	struct core_cfg core;
	const char *sip_bind;
	const char *sip_advertise;    /* NULL: the host of sip_bind */
	long rtp_port_min;
	long rtp_port_max;
	long max_calls;
	long ring_timeout_s;
	long media_timeout_s;
	long media_threads;           /* 0: one per CPU */
	long session_min_se_s;
	const char *sip_tls_bind;     /* NULL: no TLS */
	const char *sip_tls_cert_dir;
	bool sip_tls_verify;
	const char *room_backend;     /* local | livekit (room.h ROOM_CFG_VARS) */
	const char *livekit_url;
	const char *livekit_api_key;
	const char *livekit_api_secret;
	const char *secrets_key;      /* opens the trunk password of dial jobs */
	const char *secrets_key_previous;
};

struct bridge;
/* cfg and svc are borrowed and outlive the bridge. */
int bridge_new(struct bridge **brp, const struct bridge_cfg *cfg, struct service *svc) CM_MUST_USE;
/* Starts the publisher, the relay, the sofia and puller threads and the
 * subscriptions. On an error bridge_stop undoes what was started. */
int bridge_start(struct bridge *br) CM_MUST_USE;
/* Stops what bridge_start started, in order. Idempotent. */
void bridge_stop(struct bridge *br);
/* Stops and frees. NULL-safe. */
struct bridge *bridge_free(struct bridge *br);

#endif
