/*
 * sip — the one wrapper of sofia-sip (nua) in callmesh. A struct sip_ua is a
 * SIP user agent bound to one address (TCP and UDP) that places outgoing
 * INVITE legs and answers what arrives inside them; the rest of callmesh
 * speaks in legs and events, never in sofia types.
 *
 * Threads: everything here runs on ONE thread — the one that called
 * sip_ua_new() — which drives the stack with sip_ua_step(). Other threads
 * hand work to it through a file descriptor registered with sip_ua_watch()
 * (an eventfd) and never call into this header otherwise.
 *
 * SDP is the caller's: the stack's own media handling is off, offers and
 * answers pass through as text (libs/sdp writes and reads them).
 *
 * Incoming requests: OPTIONS is answered 200 and out-of-dialog INVITEs 403
 * (this agent only calls out), both only when `peer_allowed` accepts the
 * source address (403 otherwise, also for re-INVITE/UPDATE in our dialogs);
 * an INVITE naming a dialog we do not have (To tag) gets 481, and so do other
 * requests for unknown dialogs (by the stack). Unparsable messages get 400
 * or are dropped by the stack.
 *
 * Session timers (RFC 4028): "timer" is supported, never asked for; when
 * the far end's 2xx (or its re-INVITE/UPDATE) names a Session-Expires, the
 * stack keeps the session alive by itself — as refresher it sends an UPDATE
 * without a body at half the interval (NUTAG_UPDATE_REFRESH; tested against
 * a far end that allows UPDATE), otherwise it sends BYE shortly before the
 * session expires. Intervals below cfg.min_se are raised to it. A far end's
 * UPDATE without SDP is a refresh: answered 200 without a body.
 *
 * Ownership: the ua owns its legs; a leg pointer stays valid until its
 * handler has returned from SIP_LEG_GONE.
 */
#ifndef CALLMESH_SIP_H
#define CALLMESH_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/core.h"

struct sip_ua;
struct sip_leg;

/* The most the stack reads from a TCP connection per wakeup (sip.c
 * interposes sofia's su_getmsgsize(): a complete message keeps the whole
 * buffer it was read into for as long as its transaction lives, 32 s). */
#define SIP_STREAM_READ_MAX 4096

enum sip_leg_event {
	SIP_LEG_PROGRESS, /* 18x: code, reason */
	SIP_LEG_ANSWERED, /* 2xx received and ACK sent: code, sdp = the answer */
	SIP_LEG_FAILED,   /* final failure: code (≥ 300; 408/503 for stack timeouts
			   * and transport errors), reason */
	SIP_LEG_OFFER,    /* re-INVITE or UPDATE (method): sdp = its offer, NULL when
			   * the re-INVITE has none. Answer with sip_leg_answer()
			   * before returning, else it gets 488. */
	SIP_LEG_BYE,      /* the far end hung up (BYE, already answered 200) */
	SIP_LEG_GONE,     /* the dialog is over; the leg is freed after the handler */
};

struct sip_leg_info {
	enum sip_leg_event ev;
	int code;
	const char *reason;  /* never NULL */
	const char *sdp;     /* not NUL-terminated; NULL when absent */
	size_t sdp_len;
	const char *method;  /* SIP_LEG_OFFER: "INVITE" or "UPDATE" */
};
/* Everything in *info is borrowed for the call. */
typedef void (sip_leg_h)(struct sip_leg *leg, const struct sip_leg_info *info, void *arg);

/* Decides whether a request from `sa` may be served (the active trunks). */
typedef bool (sip_peer_allowed_h)(const struct sockaddr *sa, socklen_t len, void *arg);

struct sip_ua_cfg {
	const char *bind;                /* "host:port", TCP and UDP */
	const char *user_agent;          /* User-Agent / Server header */
	sip_peer_allowed_h *peer_allowed;
	void *arg;
	unsigned min_se;                 /* RFC 4028 Min-SE in seconds; 0 = 90 */
	const char *tls_bind;            /* "host:port" for SIP over TLS; NULL = none */
	const char *tls_cert_dir;        /* agent.pem (key + certificate), cafile.pem */
	bool tls_verify;                 /* check the peer's certificate on our connections */
	const char *advertise;           /* host put in Via and Contact instead of the
					  * bind host (behind NAT); NULL = the bind host */
};

/* Creates the stack on the calling thread and binds the listener (and the
 * TLS one when tls_bind is set: a request URI with transport=tls or a sips:
 * URI then goes over TLS). EADDRINUSE, EINVAL (bad bind), EIO. Caller frees with sip_ua_free() on
 * this thread. */
int sip_ua_new(struct sip_ua **uap, const struct sip_ua_cfg *cfg) CM_MUST_USE;
/* Ends every leg (BYE/CANCEL, their handlers get SIP_LEG_GONE), shuts the
 * stack down waiting at most timeout_ms, frees. NULL-safe; returns NULL. */
struct sip_ua *sip_ua_free(struct sip_ua *ua, int timeout_ms);

/* Runs the stack for at most timeout_ms (returns earlier once something was
 * handled). */
void sip_ua_step(struct sip_ua *ua, int timeout_ms);

/* Calls h(arg) on the ua thread whenever `fd` is readable (an eventfd). */
typedef void (sip_fd_h)(int fd, void *arg);
int sip_ua_watch(struct sip_ua *ua, int fd, sip_fd_h *h, void *arg) CM_MUST_USE;

/* One outgoing call. Strings are borrowed (copied). */
struct sip_dial {
	const char *request_uri; /* sip:+9180…@host:port;transport=tcp */
	const char *from;        /* <sip:+9180…@domain> */
	const char *to;          /* <sip:+9180…@domain> */
	const char *username;    /* digest credentials, may be NULL */
	const char *password;
	const char *sdp;         /* our offer, NUL-terminated */
};

/* Sends the INVITE; events go to h(leg, info, arg) on this thread. The
 * first 401/407 is answered with the credentials; a second is SIP_LEG_FAILED.
 * ENOMEM, EINVAL. */
int sip_leg_invite(struct sip_leg **legp, struct sip_ua *ua, const struct sip_dial *d,
		   sip_leg_h *h, void *arg) CM_MUST_USE;
/* Answers the SIP_LEG_OFFER being handled: code 200 with `sdp` (NUL-terminated,
 * borrowed), or an error code with sdp NULL. EINVAL outside SIP_LEG_OFFER. */
int sip_leg_answer(struct sip_leg *leg, int code, const char *sdp) CM_MUST_USE;
/* CANCEL before the answer, BYE after it; a second call does nothing. The
 * leg ends with SIP_LEG_FAILED (487) or SIP_LEG_GONE. */
void sip_leg_hangup(struct sip_leg *leg);
/* The SIP Call-ID of the leg (borrowed), "" before it is known. */
const char *sip_leg_call_id(const struct sip_leg *leg);

/* ---- trunk credentials (cred.c; no sofia state, any thread) ----
 * The one rule for what a trunk may hold, applied by api-gateway when a
 * trunk is written and by sip-bridge when a dial job arrives, so that the
 * API refuses what the bridge would:
 *   username  1..128 printable ASCII, no space, '"', '<', '>', '\\' or ':'
 *             (the digest credential is "scheme:realm:user:password");
 *   password  1..128 printable ASCII (space allowed), no '"', '<', '>',
 *             '\\', CR or LF;
 *   host      1..253 characters of a host name (letters, digits, '.', '-'),
 *             an IPv4 address or a bracketed IPv6 one ("[::1]").
 * NUL never passes (the length given is the string's). */
#define SIP_CRED_USERNAME_MAX 128
#define SIP_CRED_PASSWORD_MAX 128
#define SIP_CRED_HOST_MAX 253
enum sip_cred_field { SIP_CRED_USERNAME, SIP_CRED_PASSWORD, SIP_CRED_HOST };
/* 0 when `value` (len bytes) is acceptable; else EINVAL with `why` set to
 * what is wrong, e.g. "must not contain ':'" (the caller names the field). */
int sip_credentials_check(enum sip_cred_field field, const char *value, size_t len, char *why,
			  size_t whylen) CM_MUST_USE;

#endif
