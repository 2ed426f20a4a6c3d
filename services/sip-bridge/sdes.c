/* SDES keys of a secure call (RFC 4568 over a TLS trunk), on the sofia
 * thread: our key and a=crypto line, the far end's key from its answer or
 * from a new offer, and the SRTP session (libs/media) the relay protects and
 * unprotects with. */
#include "sdes.h"

#include <errno.h>
#include <string.h>

static int format_line(struct sdes_keys *k)
{
	return sdes_crypto_format(k->crypto_line, sizeof(k->crypto_line), &k->local_key);
}

int sdes_local_init(struct sdes_keys *k)
{
	int err = sdes_crypto_generate(&k->local_key, 1, SDES_AES_CM_128_HMAC_SHA1_80);
	if (!err)
		err = format_line(k);
	k->secure = err == 0;
	return err;
}

/* The first a=crypto of `a` that we can use and that `want` accepts. */
static int pick(struct sdes_crypto *remote, const struct sdp_audio *a,
		const struct sdes_crypto *want)
{
	for (int i = 0; i < a->ncrypto; i++) {
		struct sdes_crypto c;
		if (sdes_crypto_parse(&c, a->crypto[i], strlen(a->crypto[i])) || c.mki_len)
			continue;
		if (want && (c.tag != want->tag || c.suite != want->suite))
			continue;
		*remote = c;
		return 0;
	}
	return ENOENT;
}

int sdes_from_answer(struct sdes_crypto *remote, const struct sdes_keys *k,
		     const struct sdp_audio *answer)
{
	return pick(remote, answer, &k->local_key);
}

int sdes_from_offer(struct sdes_crypto *remote, const struct sdp_audio *offer)
{
	return pick(remote, offer, NULL);
}

int sdes_answer_offer(struct sdes_keys *k, const struct sdes_crypto *remote,
		      struct media_srtp **srtpp)
{
	int err;
	*srtpp = NULL;
	bool same = remote->suite == k->remote_key.suite && remote->suite == k->local_key.suite &&
		    memcmp(remote->key, k->remote_key.key, SDES_KEY_LEN) == 0;
	if (same) {
		/* the keys in use stay; RFC 4568 §7.1.4: only the tag follows */
		k->local_key.tag = remote->tag;
		k->remote_key.tag = remote->tag;
		return format_line(k);
	}
	/* new keys: a new session, whose packet index starts again, so ours
	 * is fresh too (no keystream is ever used twice) */
	struct sdes_crypto local;
	if ((err = sdes_crypto_generate(&local, remote->tag, remote->suite)))
		return err;
	if ((err = media_srtp_new(srtpp, &local, remote)))
		return err;
	k->local_key = local;
	k->remote_key = *remote;
	if ((err = format_line(k)))
		*srtpp = media_srtp_free(*srtpp);
	return err;
}
