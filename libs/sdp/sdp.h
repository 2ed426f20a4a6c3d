/*
 * sdp — the pure SDP functions of the SIP bridge: read the audio stream of an
 * offer or answer (sdp_audio_parse), classify hold (sdp_hold_classify: RFC
 * 3264 §5.1/§8.4, RFC 2543 c=0.0.0.0), and write our offer and our answer.
 * No allocation, no I/O, no globals, any thread: the parser slices its input
 * (pointer + length, need not be NUL-terminated).
 */
#ifndef CALLMESH_SDP_H
#define CALLMESH_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define SDP_MAX       16384 /* larger bodies are refused (EMSGSIZE) */
#define SDP_FMT_MAX   32    /* formats kept per m= line */
#define SDP_ADDR_MAX  64
#define SDP_CRYPTO_MAX 4    /* a=crypto lines kept per m= line */
#define SDP_CRYPTO_LEN 256  /* longest a=crypto value kept (longer: skipped) */

enum sdp_dir { SDP_SENDRECV, SDP_SENDONLY, SDP_RECVONLY, SDP_INACTIVE };

enum sdp_hold_method {
	SDP_HOLD_NONE,
	SDP_HOLD_ATTRIBUTE,          /* a=sendonly / a=inactive */
	SDP_HOLD_CONNECTION_ADDRESS, /* c=IN IP4 0.0.0.0 (RFC 2543) */
	SDP_HOLD_PORT_ZERO,          /* m=audio 0 */
};

/* The audio stream of one SDP body: the first m=audio stream (the first m=
 * line when no audio stream exists). Strings are copies (NUL-terminated). */
struct sdp_audio {
	uint16_t port;             /* m= port; 0 = stream disabled */
	char addr[SDP_ADDR_MAX];   /* effective c= address ("" when none): the
				    * media-level c= overrides the session-level one */
	bool conn_zero;            /* that c= is IN IP4 0.0.0.0 (RFC 2543 hold) */
	enum sdp_dir direction;    /* the direction attribute in effect: the
				    * media-level one overrides the session-level
				    * one; sendrecv when neither is present (the last
				    * one wins when a level carries several) */
	int nfmt;
	int fmt[SDP_FMT_MAX];      /* payload types, in offered order */
	int pcmu_pt, pcma_pt;      /* -1 when not offered */
	int te_pt;                 /* telephone-event/8000, -1 when not offered */
	int ptime;                 /* a=ptime, 0 when absent */
	bool savp;                 /* proto RTP/SAVP or RTP/SAVPF (RFC 3711) */
	int ncrypto;               /* media-level a=crypto values (RFC 4568), */
	char crypto[SDP_CRYPTO_MAX][SDP_CRYPTO_LEN]; /* without "crypto:", trimmed,
				    * in order; parse them with sdes_crypto_parse */
};

/* Parses `len` bytes of `sdp`. 0, EINVAL (not SDP: no v= line first, a line
 * that is not "<letter>=<value>", no m= line, a bad m= or c= line),
 * EMSGSIZE (len > SDP_MAX). *out is written only on success. */
int sdp_audio_parse(struct sdp_audio *out, const char *sdp, size_t len) CM_MUST_USE;

/* Whether the far end holds the call, and what it wants of the media. */
struct sdp_hold {
	bool hold;                 /* the far end does not want our media */
	enum sdp_hold_method method;
	enum sdp_dir effective;    /* what the far end wants after c=0.0.0.0 /
				    * port 0: sendonly = it sends but will not
				    * receive, and so on. Our answer mirrors it
				    * (sdp_dir_mirror()). */
};

/* Classifies a parsed stream, from its port, direction and conn_zero alone,
 * in this order of precedence:
 *   m= port 0                      → hold, method port_zero, effective inactive
 *   direction sendonly | inactive  → hold, method attribute, effective = it
 *   c=IN IP4 0.0.0.0               → hold, method connection_address,
 *                                    effective sendonly (recvonly + 0.0.0.0:
 *                                    inactive)
 *   otherwise                      → not on hold, effective = direction */
void sdp_hold_classify(struct sdp_hold *out, const struct sdp_audio *a);

/* RFC 3264 §6.1: sendonly→recvonly, recvonly→sendonly, inactive→inactive,
 * sendrecv→sendrecv. */
enum sdp_dir sdp_dir_mirror(enum sdp_dir dir);
/* "sendrecv", "sendonly", "recvonly", "inactive". */
const char *sdp_dir_name(enum sdp_dir dir);
/* "none", "attribute", "connection_address", "port_zero". */
const char *sdp_hold_method_name(enum sdp_hold_method m);

/* What we put in our SDP: our RTP address and port and the o= line's ids,
 * and our SRTP key when the media is encrypted. */
struct sdp_local {
	const char *addr;      /* IPv4 literal, borrowed */
	uint16_t port;
	uint64_t sess_id;
	uint64_t sess_version; /* increment for each new SDP of the session */
	const char *crypto;    /* NULL: RTP/AVP; else RTP/SAVP with
				* "a=crypto:<crypto>" (an sdes_crypto_format
				* value, borrowed; no CR or LF in it) */
};

/* Our offer: PCMU, PCMA, telephone-event/8000 (PT 101, 0-16), ptime 20,
 * sendrecv; RTP/SAVP + a=crypto when local->crypto is set. Writes a
 * NUL-terminated body into buf; 0, EINVAL (a crypto value with CR/LF) or
 * ENOSPC. */
int sdp_offer_build(char *buf, size_t len, const struct sdp_local *local) CM_MUST_USE;

/* Our answer to `offer`: the offered PCMU/PCMA formats in the offer's order
 * plus its telephone-event format, ptime 20, direction
 * sdp_dir_mirror() of the offer's sdp_hold_classify() effective direction.
 * A disabled stream (port 0) is answered with port 0 and a=inactive. The
 * proto is RTP/SAVP with our a=crypto when local->crypto is set (whoever
 * calls picks the offered tag and suite it answers), RTP/AVP otherwise;
 * whether that suits the offer (offer->savp) is the caller's decision.
 * 0, ENOTSUP (no PCMU/PCMA offered: answer 488),
 * EINVAL (a crypto value with CR/LF), ENOSPC. */
int sdp_answer_build(char *buf, size_t len, const struct sdp_local *local,
		     const struct sdp_audio *offer) CM_MUST_USE;

#endif
