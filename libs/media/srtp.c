/* SRTP/SRTCP with libsrtp2 and SDES keys (RFC 4568 a=crypto). */
#include "media/media.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <srtp2/srtp.h>

_Static_assert(MEDIA_SRTP_TRAILER_MAX >= SRTP_MAX_TRAILER_LEN + 4, "SRTCP trailer room");

#define B64_KEY_LEN   40        /* base64 of 30 bytes, no padding */
#define REPLAY_WINDOW 1024

/* ---- a=crypto ------------------------------------------------------- */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

/* Exactly 30 bytes from 40 base64 characters. */
static int b64_key_decode(uint8_t out[SDES_KEY_LEN], const char *s)
{
	for (size_t i = 0, o = 0; i < B64_KEY_LEN; i += 4, o += 3) {
		int v[4];
		for (int k = 0; k < 4; k++)
			if ((v[k] = b64_val(s[i + k])) < 0)
				return EBADMSG;
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		out[o] = (uint8_t)(w >> 16);
		out[o + 1] = (uint8_t)(w >> 8);
		out[o + 2] = (uint8_t)w;
	}
	return 0;
}

static void b64_key_encode(char out[B64_KEY_LEN + 1], const uint8_t in[SDES_KEY_LEN])
{
	for (size_t i = 0, o = 0; i < SDES_KEY_LEN; i += 3, o += 4) {
		uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o] = b64[(w >> 18) & 63];
		out[o + 1] = b64[(w >> 12) & 63];
		out[o + 2] = b64[(w >> 6) & 63];
		out[o + 3] = b64[w & 63];
	}
	out[B64_KEY_LEN] = '\0';
}

struct cursor {
	const char *p, *end;
};

static bool at_end(const struct cursor *c)
{
	return c->p >= c->end;
}

/* A run of decimal digits (at most max_digits) into *vp. */
static int read_uint(struct cursor *c, uint64_t *vp, unsigned max_digits)
{
	uint64_t v = 0;
	unsigned n = 0;
	while (!at_end(c) && *c->p >= '0' && *c->p <= '9') {
		if (++n > max_digits)
			return EBADMSG;
		v = v * 10 + (uint64_t)(*c->p - '0');
		c->p++;
	}
	if (n == 0)
		return EBADMSG;
	*vp = v;
	return 0;
}

static bool eat(struct cursor *c, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(c->end - c->p) < n || strncmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	return true;
}

/* A token up to the next space (or end). */
static void token(struct cursor *c, const char **tp, size_t *lenp)
{
	*tp = c->p;
	while (!at_end(c) && *c->p != ' ' && *c->p != '\t')
		c->p++;
	*lenp = (size_t)(c->p - *tp);
}

static void skip_ws(struct cursor *c)
{
	while (!at_end(c) && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

static bool tok_is(const char *t, size_t len, const char *lit)
{
	return strlen(lit) == len && strncmp(t, lit, len) == 0;
}

static bool tok_prefix(const char *t, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	return len >= n && strncmp(t, lit, n) == 0;
}

int sdes_crypto_parse(struct sdes_crypto *out, const char *line, size_t len)
{
	if (!out || (!line && len))
		return EINVAL;
	struct cursor c = { line, line + len };
	while (c.end > c.p && (c.end[-1] == '\r' || c.end[-1] == '\n' || c.end[-1] == ' '))
		c.end--;
	(void)eat(&c, "a=crypto:");

	struct sdes_crypto r;
	memset(&r, 0, sizeof(r));
	uint64_t v;
	if (read_uint(&c, &v, 9) || v == 0 || at_end(&c) || (*c.p != ' ' && *c.p != '\t'))
		return EBADMSG;
	r.tag = (uint32_t)v;
	skip_ws(&c);

	const char *t;
	size_t tl;
	token(&c, &t, &tl);
	if (tl == 0)
		return EBADMSG;
	if (tok_is(t, tl, "AES_CM_128_HMAC_SHA1_80"))
		r.suite = SDES_AES_CM_128_HMAC_SHA1_80;
	else if (tok_is(t, tl, "AES_CM_128_HMAC_SHA1_32"))
		r.suite = SDES_AES_CM_128_HMAC_SHA1_32;
	else
		return ENOTSUP;
	skip_ws(&c);

	/* first key-param: inline:<key>[|lifetime][|mki:len]; others ignored */
	if (!eat(&c, "inline:") || c.end - c.p < B64_KEY_LEN || b64_key_decode(r.key, c.p))
		return EBADMSG;
	c.p += B64_KEY_LEN;
	if (!at_end(&c) && *c.p == '|') {
		c.p++;
		bool power = eat(&c, "2^");
		/* a lifetime, unless this field is already the MKI (has a ':') */
		const char *q = c.p;
		while (q < c.end && *q >= '0' && *q <= '9')
			q++;
		if (power || q == c.end || *q != ':') {
			if (read_uint(&c, &v, power ? 2 : 15))
				return EBADMSG;
			if (power && v > 48)
				return EBADMSG;
			r.lifetime = power ? (uint64_t)1 << v : v;
			if (!at_end(&c) && *c.p == '|')
				c.p++;
			else
				goto key_done;
		}
		if (read_uint(&c, &v, 10) || v > UINT32_MAX || !eat(&c, ":"))
			return EBADMSG;
		r.mki = (uint32_t)v;
		if (read_uint(&c, &v, 3) || v == 0 || v > 128)
			return EBADMSG;
		r.mki_len = (uint32_t)v;
	}
key_done:
	/* further keys of the list: the first one is used */
	if (!at_end(&c) && *c.p == ';')
		token(&c, &t, &tl);
	if (!at_end(&c) && *c.p != ' ' && *c.p != '\t')
		return EBADMSG;

	/* session parameters we can honour */
	for (skip_ws(&c); !at_end(&c); skip_ws(&c)) {
		token(&c, &t, &tl);
		if (tok_prefix(t, tl, "WSH=") || tok_prefix(t, tl, "FEC_ORDER=") ||
		    tok_is(t, tl, "KDR=0"))
			continue;
		return ENOTSUP;
	}
	*out = r;
	return 0;
}

const char *sdes_suite_name(enum sdes_suite s)
{
	return s == SDES_AES_CM_128_HMAC_SHA1_32 ? "AES_CM_128_HMAC_SHA1_32"
						 : "AES_CM_128_HMAC_SHA1_80";
}

int sdes_crypto_format(char *buf, size_t cap, const struct sdes_crypto *c)
{
	if (!buf || !c || c->tag == 0 || c->tag > 999999999)
		return EINVAL;
	char key[B64_KEY_LEN + 1];
	char life[32] = "";
	char mki[32] = "";
	b64_key_encode(key, c->key);
	if (c->lifetime) {
		unsigned bit = 0;
		while (bit < 63 && ((uint64_t)1 << bit) < c->lifetime)
			bit++;
		if (((uint64_t)1 << bit) == c->lifetime)
			snprintf(life, sizeof(life), "|2^%u", bit);
		else
			snprintf(life, sizeof(life), "|%llu", (unsigned long long)c->lifetime);
	}
	if (c->mki_len)
		snprintf(mki, sizeof(mki), "|%u:%u", c->mki, c->mki_len);
	int n = snprintf(buf, cap, "%u %s inline:%s%s%s", c->tag, sdes_suite_name(c->suite), key,
			 life, mki);
	if (n < 0)
		return EIO;
	return (size_t)n < cap ? 0 : EMSGSIZE;
}

int sdes_crypto_generate(struct sdes_crypto *c, uint32_t tag, enum sdes_suite suite)
{
	if (!c || tag == 0 || tag > 999999999)
		return EINVAL;
	memset(c, 0, sizeof(*c));
	c->tag = tag;
	c->suite = suite;
	size_t got = 0;
	while (got < SDES_KEY_LEN) {
		ssize_t n = getrandom(c->key + got, SDES_KEY_LEN - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return EIO;
		}
		got += (size_t)n;
	}
	return 0;
}

/* ---- libsrtp sessions ------------------------------------------------ */
struct media_srtp {
	srtp_t tx, rx;
};

static pthread_once_t srtp_once = PTHREAD_ONCE_INIT;
static srtp_err_status_t srtp_init_status;

static void srtp_init_once(void)
{
	srtp_init_status = srtp_init();
}

static int map_status(srtp_err_status_t st)
{
	switch (st) {
	case srtp_err_status_ok:
		return 0;
	case srtp_err_status_auth_fail:
	case srtp_err_status_parse_err:
	case srtp_err_status_bad_mki:
		return EBADMSG;
	case srtp_err_status_replay_fail:
	case srtp_err_status_replay_old:
	case srtp_err_status_pkt_idx_old:
		return EALREADY;
	case srtp_err_status_alloc_fail:
		return ENOMEM;
	case srtp_err_status_bad_param:
		return EINVAL;
	default:
		return EIO;
	}
}

static int session(srtp_t *sp, const struct sdes_crypto *k, bool outbound)
{
	if (k->mki_len)
		return ENOTSUP;
	srtp_policy_t pol;
	uint8_t key[SDES_KEY_LEN];
	memset(&pol, 0, sizeof(pol));
	memcpy(key, k->key, sizeof(key));
	if (k->suite == SDES_AES_CM_128_HMAC_SHA1_32)
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&pol.rtp);
	else
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
	/* RFC 4568 §6.2: SRTCP keeps the 80-bit tag with either suite */
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	pol.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
	pol.key = key;
	pol.window_size = REPLAY_WINDOW;
	pol.allow_repeat_tx = 0;
	int err = map_status(srtp_create(sp, &pol));
	memset(key, 0, sizeof(key));
	return err;
}

int media_srtp_new(struct media_srtp **sp, const struct sdes_crypto *local,
		     const struct sdes_crypto *remote)
{
	int err = 0;
	struct media_srtp *s = NULL;
	if (!sp || !local || !remote)
		return EINVAL;
	pthread_once(&srtp_once, srtp_init_once);
	if (srtp_init_status != srtp_err_status_ok)
		return EIO;
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = ENOMEM;
		goto out;
	}
	if ((err = session(&s->tx, local, true)) || (err = session(&s->rx, remote, false)))
		goto out;
	*sp = s;
	s = NULL;
out:
	media_srtp_free(s);
	return err;
}

struct media_srtp *media_srtp_free(struct media_srtp *s)
{
	if (s) {
		if (s->tx)
			srtp_dealloc(s->tx);
		if (s->rx)
			srtp_dealloc(s->rx);
		free(s);
	}
	return NULL;
}

static int protect(struct media_srtp *s, uint8_t *buf, size_t cap, size_t *lenp, bool rtcp)
{
	if (!s || !buf || !lenp || *lenp > cap || *lenp > INT_MAX - MEDIA_SRTP_TRAILER_MAX)
		return EINVAL;
	if (*lenp < (rtcp ? 8u : (size_t)RTP_HDR_LEN))
		return EBADMSG;
	if (cap - *lenp < MEDIA_SRTP_TRAILER_MAX)
		return EMSGSIZE;
	int len = (int)*lenp;
	int err = map_status(rtcp ? srtp_protect_rtcp(s->tx, buf, &len)
				  : srtp_protect(s->tx, buf, &len));
	if (err)
		return err;
	*lenp = (size_t)len;
	return 0;
}

static int unprotect(struct media_srtp *s, uint8_t *buf, size_t *lenp, bool rtcp)
{
	if (!s || !buf || !lenp || *lenp > INT_MAX)
		return EINVAL;
	if (*lenp < (rtcp ? 8u : (size_t)RTP_HDR_LEN))
		return EBADMSG;
	int len = (int)*lenp;
	int err = map_status(rtcp ? srtp_unprotect_rtcp(s->rx, buf, &len)
				  : srtp_unprotect(s->rx, buf, &len));
	if (err)
		return err;
	*lenp = (size_t)len;
	return 0;
}

int media_srtp_protect(struct media_srtp *s, uint8_t *buf, size_t cap, size_t *lenp)
{
	return protect(s, buf, cap, lenp, false);
}

int media_srtp_protect_rtcp(struct media_srtp *s, uint8_t *buf, size_t cap, size_t *lenp)
{
	return protect(s, buf, cap, lenp, true);
}

int media_srtp_unprotect(struct media_srtp *s, uint8_t *buf, size_t *lenp)
{
	return unprotect(s, buf, lenp, false);
}

int media_srtp_unprotect_rtcp(struct media_srtp *s, uint8_t *buf, size_t *lenp)
{
	return unprotect(s, buf, lenp, true);
}
