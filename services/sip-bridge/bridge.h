/*
 * sip-bridge internals. Three threads of our own:
 *   sofia thread  owns the struct sip_ua and every struct call (call.c,
 *                 hold.c); it learns of work only through the inbox (an
 *                 eventfd watched by the stack);
 *   dial puller   takes dial.exotel jobs from DIALS while below MAX_CALLS,
 *                 acks each before it is dialed, hands it to the inbox (dial.c);
 *   publisher     sends events and heartbeats to NATS in order, so a slow
 *                 JetStream ack never stalls SIP (publish.c);
 *   media, room   the relay between carrier RTP and the call's room
 *                 (relay.c): one epoll thread for every call's media, one
 *                 thread for the blocking room joins and leaves.
 * nats.c's own thread runs the hangup subscription, which only enqueues.
 */
#ifndef SIP_BRIDGE_H
#define SIP_BRIDGE_H

#include "event/event.h"
#include "media/media.h"
#include "service/service.h"
#include "sdp/sdp.h"
#include "sip/sip.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

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

#define JOB_STR_MAX   256
#define JOB_ADDRS_MAX 4

/* One dial.exotel job, validated (dial.c). */
struct dial_job {
	char call_id[ID_UUID_LEN + 1];
	char room[EVENT_ROOM_MAX + 1];
	char to_number[32];
	char from_number[32];
	long ring_timeout_s;
	long max_duration_s;
	char sip_host[JOB_STR_MAX];
	long sip_port;
	char transport[8];       /* tcp | udp | tls */
	char sip_domain[JOB_STR_MAX];
	char username[JOB_STR_MAX];
	char password[JOB_STR_MAX];
	int naddrs;              /* the trunk's addresses, resolved by the puller */
	struct sockaddr_storage addrs[JOB_ADDRS_MAX];
};

struct secret_keys;
/* Parses and validates a job; on error writes "field: problem" into err.
 * *callidp gets the call id when it was readable (for the failure event).
 * The password comes sealed for "call:<call_id>" (trunk.password_sealed,
 * libs/secret) and is opened with `keys`; a clear trunk.password is refused.
 * Credentials pass sip_credentials_check() (libs/sip). */
int dial_job_parse(struct dial_job *job, const struct secret_keys *keys, const char *json,
		   size_t len, char *err, size_t errlen, char callid[ID_UUID_LEN + 1]) CM_MUST_USE;
/* Zeroes the job's password and frees it. NULL-safe. */
void dial_job_free(struct dial_job *job);

/* ---- call ids already taken (dial.c, puller thread only) ----
 * Remembers at least the last TAKEN_REMEMBERED call ids this process took,
 * so a job delivered twice (a re-enqueue with another Nats-Msg-Id, a
 * redelivery racing its ack) is dialed once. */
#define TAKEN_REMEMBERED 4096
struct taken_ids;
int taken_alloc(struct taken_ids **tp) CM_MUST_USE;
struct taken_ids *taken_free(struct taken_ids *t);
/* call_id is a UUID (dial_job_parse checked it). */
bool taken_has(const struct taken_ids *t, const char *call_id);
void taken_add(struct taken_ids *t, const char *call_id);

/* ---- publisher (publish.c) ---- */
struct publisher;
int publisher_start(struct publisher **pubp, struct bus *bus) CM_MUST_USE;
/* Takes ownership of ev. */
void publisher_event(struct publisher *pub, struct event *ev);
/* Core publish of a copy of data. */
void publisher_raw(struct publisher *pub, const char *subject, const char *data, size_t len);
/* Sends what is queued (at most timeout_ms), stops, frees. NULL-safe. */
struct publisher *publisher_stop(struct publisher *pub, int timeout_ms);

/* ---- inbox: other threads → sofia thread ---- */
enum inbox_kind { INBOX_DIAL, INBOX_HANGUP, INBOX_MEDIA_TIMEOUT, INBOX_ENDED_ELSEWHERE };
struct inbox_item {
	struct inbox_item *next;
	enum inbox_kind kind;
	struct dial_job *job;              /* INBOX_DIAL, owned */
	char call_id[ID_UUID_LEN + 1];     /* every kind but INBOX_DIAL */
	char reason[64];
	char source[EVENT_SOURCE_MAX + 1]; /* INBOX_ENDED_ELSEWHERE: who said so */
};

struct call;
struct relay;

struct bridge {
	const struct bridge_cfg *cfg;
	struct service *svc;
	struct bus *bus;
	struct publisher *pub;
	struct relay *relay;
	const char *source;
	char rtp_bind[64];            /* RTP sockets bind here (SIP_BIND's host) */
	char rtp_host[64];            /* and the SDP names this (SIP_ADVERTISE) */

	/* inbox */
	pthread_mutex_t mu;
	struct inbox_item *head, *tail;
	int efd;

	atomic_bool stopping;
	atomic_bool sip_up;
	atomic_int active;       /* jobs taken and not finished */

	pthread_t sofia_thread, puller_thread;
	bool sofia_started, puller_started;
	struct bus_sub *hangup_sub;
	struct bus_sub *ended_sub, *failed_sub; /* call_ended / call_failed of others */
	struct taken_ids *taken;     /* puller thread */
	struct secret_keys *keys;    /* immutable after start */

	/* sofia thread only */
	struct sip_ua *ua;
	struct call *calls;
	int ncalls;
	long next_rtp_port;
	int64_t next_tick_ms, next_heartbeat_ms;
	uint64_t sess_seq;

	struct metric *m_dials, *m_answered, *m_failed, *m_holds, *m_active;
};

int bridge_start(struct bridge *br) CM_MUST_USE;
void bridge_stop(struct bridge *br);
/* Hands an item to the sofia thread (takes ownership). */
void bridge_post(struct bridge *br, struct inbox_item *item);

/* ---- calls (call.c, sofia thread) ---- */
void call_start(struct bridge *br, struct dial_job *job);  /* takes job */
void call_hangup(struct bridge *br, const char *call_id, const char *reason);
/* The relay saw no RTP for MEDIA_TIMEOUT_S: BYE, call_ended media_timeout. */
void call_media_timeout(struct bridge *br, const char *call_id);
/* Someone else (agent-worker, api-gateway's watchdog) published call_ended or
 * call_failed for a call whose leg this bridge holds: the record says it is
 * over, so the leg must not stay up. BYE (CANCEL before the answer) and
 * call_ended reason "ended_elsewhere"; nothing when the call is not ours. */
void call_ended_elsewhere(struct bridge *br, const char *call_id, const char *what,
			  const char *source);
void calls_tick(struct bridge *br, int64_t now_ms);
void calls_heartbeat(struct bridge *br);
bool calls_peer_allowed(struct bridge *br, const struct sockaddr *sa, socklen_t len);
/* Fails a job that will never be dialed (shutdown, bad job). */
void call_fail_job(struct bridge *br, const char *call_id, const char *room, const char *status,
		   int sip_code, const char *reason);

/* An event for call_id/room from this bridge; NULL when out of memory. */
struct event *bridge_event(struct bridge *br, enum event_type type, const char *call_id,
			   const char *room);

/* ---- RTP ports (rtp.c, sofia thread) ---- */
/* Binds a UDP socket on an even port in RTP_PORT_MIN..MAX (RTCP = +1 kept
 * free by stepping 2). *fdp, *portp on success; EADDRNOTAVAIL when none is free. */
int rtp_port_open(struct bridge *br, int *fdp, uint16_t *portp) CM_MUST_USE;

/* ---- hold (hold.c, sofia thread) ---- */
struct call_media {
	uint64_t sess_id, sess_version;
	uint16_t port;
	bool on_hold;
	int64_t hold_since_ms;
	int64_t hold_total_ms;
	int holds;
	/* SRTP with SDES keys (RFC 4568), mandatory on a TLS trunk */
	bool secure;
	struct sdes_crypto local_key;   /* what we protect with */
	struct sdes_crypto remote_key;  /* the far end's, once it answered */
	char crypto_line[SDES_LINE_MAX];/* local_key as our a=crypto value */
};

/* ---- SDES keys (sdes.c, sofia thread) ---- */
/* Our first key for a secure call (tag 1, AES_CM_128_HMAC_SHA1_80). */
int sdes_local_init(struct call_media *m) CM_MUST_USE;
/* The far end's key in its answer to our offer: the first a=crypto with our
 * tag and suite. ENOENT when there is none. */
int sdes_from_answer(struct sdes_crypto *remote, const struct call_media *m,
		     const struct sdp_audio *answer) CM_MUST_USE;
/* The far end's key in a new offer: its first a=crypto we can use (a suite
 * we know, no MKI). ENOENT when there is none. */
int sdes_from_offer(struct sdes_crypto *remote, const struct sdp_audio *offer) CM_MUST_USE;
/* Makes m answer `remote` (chosen from a new offer): our line takes its tag
 * and suite. When the keys in use change (another remote key or suite),
 * draws a fresh local key and *srtpp gets a new session for the relay
 * (owned by the caller), else *srtpp = NULL and only the tag may change. */
int sdes_answer_offer(struct call_media *m, const struct sdes_crypto *remote,
		      struct media_srtp **srtpp) CM_MUST_USE;

struct relay_leg;
/* Answers a re-INVITE/UPDATE offer on `leg`, points the call's media relay
 * (NULL: none) at what the offer asks, and publishes call_hold / call_resume
 * when the hold state changes. On a secure call an offer must carry a usable
 * a=crypto (else 488, the call and its keys stay as they were); the answer
 * carries ours. */
void hold_on_offer(struct bridge *br, struct sip_leg *leg, struct call_media *m,
		   struct relay_leg *relay, const char *call_id, const char *room, const char *sdp,
		   size_t sdp_len, const char *method);

/* ---- the media relay (relay.c) ----
 * Carrier RTP (G.711, RFC 4733) ⇄ the call's room (libs/room, local
 * backend) on a media thread of its own; see relay.c. */
struct relay_leg;
int relay_start(struct relay **rp, struct bridge *br) CM_MUST_USE;
/* Stops both threads, leaves every room still joined, frees. NULL-safe.
 * After the sofia thread is gone. */
struct relay *relay_stop(struct relay *r);
/* Sofia thread, when it dials: a leg for the call that joins `room`
 * (borrowed, copied) as "sip-<call_id>" in the background, so that it is in
 * the room by the answer; room audio is dropped until relay_leg_start. The
 * caller owns *legp until relay_leg_stop. */
int relay_leg_join(struct relay_leg **legp, struct relay *r, const char *call_id, const char *room) CM_MUST_USE;
/* Sofia thread, on the answer: relays the call's RTP socket `fd` and, when
 * not NULL, the SRTP session `srtp` (the relay takes ownership of both on
 * success only) as the far end's `answer` asks. With `srtp` every packet
 * out is protected and every packet in unprotected (failures are dropped
 * and counted). EINVAL: no leg, or started already. */
int relay_leg_start(struct relay_leg *l, int fd, struct media_srtp *srtp, const struct sdp_audio *answer) CM_MUST_USE;
/* Sofia thread: the far end's new offer (direction, address, codec) and,
 * when not NULL, the SRTP session that replaces the leg's (taken over in
 * every case). Whether we may send takes effect before this returns (no
 * packet leaves after it when the far end stopped receiving); the rest on
 * the next media tick. NULL-safe; a leg not started ignores it. */
void relay_leg_update(struct relay_leg *l, const struct sdp_audio *offer, struct media_srtp *srtp);
/* Sofia thread: the leg is over (no more RTP either way; the room is left in
 * the background). The pointer is dead afterwards; returns NULL. NULL-safe. */
struct relay_leg *relay_leg_stop(struct relay_leg *l);

#endif
