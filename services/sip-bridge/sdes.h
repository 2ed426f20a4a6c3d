/* SDES keys of a secure call (sdes.c; the sofia thread only): SRTP keyed
 * with a=crypto (RFC 4568), mandatory on a TLS trunk. */
#ifndef SIP_BRIDGE_SDES_H
#define SIP_BRIDGE_SDES_H

#include "media/media.h"
#include "sdp/sdp.h"

#include <stdbool.h>

struct sdes_keys {
	bool secure;
	struct sdes_crypto local_key;   /* what we protect with */
	struct sdes_crypto remote_key;  /* the far end's, once it answered */
	char crypto_line[SDES_LINE_MAX];/* local_key as our a=crypto value */
};

/* Our first key for a secure call (tag 1, AES_CM_128_HMAC_SHA1_80). */
int sdes_local_init(struct sdes_keys *k) CM_MUST_USE;
/* The far end's key in its answer to our offer: the first a=crypto with our
 * tag and suite. ENOENT when there is none. */
int sdes_from_answer(struct sdes_crypto *remote, const struct sdes_keys *k,
		     const struct sdp_audio *answer) CM_MUST_USE;
/* The far end's key in a new offer: its first a=crypto we can use (a suite
 * we know, no MKI). ENOENT when there is none. */
int sdes_from_offer(struct sdes_crypto *remote, const struct sdp_audio *offer) CM_MUST_USE;
/* Makes k answer `remote` (chosen from a new offer): our line takes its tag
 * and suite. When the keys in use change (another remote key or suite),
 * draws a fresh local key and *srtpp gets a new session for the relay
 * (owned by the caller), else *srtpp = NULL and only the tag may change. */
int sdes_answer_offer(struct sdes_keys *k, const struct sdes_crypto *remote,
		      struct media_srtp **srtpp) CM_MUST_USE;

#endif
