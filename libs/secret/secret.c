/* AES-256-GCM envelopes (secret.h) over OpenSSL's EVP interface. */
#include "secret.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_LEN 12
#define TAG_LEN 16
#define KID_LEN 8 /* hex digits */

struct secret_key {
	unsigned char key[SECRET_KEY_LEN];
	char kid[KID_LEN + 1];
};

struct secret_keys {
	struct secret_key cur;
	struct secret_key prev;
	bool has_prev;
};

static void key_id(struct secret_key *k)
{
	static const char label[] = "callmesh-secret-key-id";
	unsigned char buf[sizeof(label) - 1 + SECRET_KEY_LEN], md[SHA256_DIGEST_LENGTH];
	memcpy(buf, label, sizeof(label) - 1);
	memcpy(buf + sizeof(label) - 1, k->key, SECRET_KEY_LEN);
	SHA256(buf, sizeof(buf), md);
	OPENSSL_cleanse(buf, sizeof(buf));
	snprintf(k->kid, sizeof(k->kid), "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
}

/* Standard base64 with padding; *lenp = decoded bytes. -1 when malformed. */
static int b64_decode(unsigned char *out, size_t outcap, size_t *lenp, const char *in, size_t inlen)
{
	if (inlen == 0 || inlen % 4 != 0 || inlen / 4 * 3 > outcap)
		return -1;
	for (size_t i = 0; i < inlen; i++) {
		char c = in[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '+' || c == '/' ||
			  (c == '=' && i >= inlen - 2);
		if (!ok || (c != '=' && i > 0 && in[i - 1] == '='))
			return -1;
	}
	int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)inlen);
	if (n < 0)
		return -1;
	size_t pad = (in[inlen - 1] == '=') + (in[inlen - 2] == '=');
	*lenp = (size_t)n - pad;
	return 0;
}

static int key_load(struct secret_key *k, const char *b64, const char *name, char *err,
		    size_t errlen)
{
	unsigned char buf[SECRET_KEY_LEN + 3];
	size_t n = 0;
	if (b64_decode(buf, sizeof(buf), &n, b64, strlen(b64)) || n != SECRET_KEY_LEN) {
		OPENSSL_cleanse(buf, sizeof(buf));
		snprintf(err, errlen,
			 "%s: must be base64 of exactly 32 random bytes (e.g. `openssl rand "
			 "-base64 32`)",
			 name);
		return EINVAL;
	}
	memcpy(k->key, buf, SECRET_KEY_LEN);
	OPENSSL_cleanse(buf, sizeof(buf));
	key_id(k);
	return 0;
}

int secret_keys_load(struct secret_keys **keysp, const char *current, const char *previous,
		     char *err, size_t errlen)
{
	if (!current || !*current) {
		snprintf(err, errlen, "SECRETS_KEY: required (base64 of 32 random bytes)");
		return EINVAL;
	}
	struct secret_keys *k = OPENSSL_zalloc(sizeof(*k));
	if (!k)
		return ENOMEM;
	int rc = key_load(&k->cur, current, "SECRETS_KEY", err, errlen);
	if (!rc && previous && *previous) {
		rc = key_load(&k->prev, previous, "SECRETS_KEY_PREVIOUS", err, errlen);
		k->has_prev = rc == 0;
	}
	if (rc) {
		secret_keys_free(k);
		return rc;
	}
	*keysp = k;
	return 0;
}

struct secret_keys *secret_keys_free(struct secret_keys *keys)
{
	if (keys)
		OPENSSL_clear_free(keys, sizeof(*keys));
	return NULL;
}

bool secret_is_sealed(const char *s)
{
	return s && strncmp(s, SECRET_PREFIX, strlen(SECRET_PREFIX)) == 0;
}

bool secret_is_current(const struct secret_keys *keys, const char *s)
{
	size_t p = strlen(SECRET_PREFIX);
	return secret_is_sealed(s) && strlen(s) > p + KID_LEN &&
	       memcmp(s + p, keys->cur.kid, KID_LEN) == 0 && s[p + KID_LEN] == '.';
}

char *secret_wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
	return NULL;
}

/* encrypt: in → out (same length), tag written/checked. 0 or -1. */
static int gcm(bool enc, const unsigned char key[SECRET_KEY_LEN],
	       const unsigned char nonce[NONCE_LEN], const char *aad, const unsigned char *in,
	       size_t len, unsigned char *out, unsigned char tag[TAG_LEN])
{
	int rc = -1, n = 0;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -1;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc ? 1 : 0) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1)
		goto out;
	if (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + (len ? n : 0), &n) != 1)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int secret_seal(char **outp, const struct secret_keys *keys, const char *aad, const char *plain,
		size_t len)
{
	if (!outp || !keys || !aad || (!plain && len) || len > SECRET_PLAIN_MAX)
		return EINVAL;
	size_t raw_len = NONCE_LEN + len + TAG_LEN;
	size_t b64_len = (raw_len + 2) / 3 * 4;
	size_t p = strlen(SECRET_PREFIX);
	unsigned char *raw = malloc(raw_len);
	char *out = malloc(p + KID_LEN + 1 + b64_len + 1);
	int err = ENOMEM;
	if (!raw || !out)
		goto out;
	err = EIO;
	if (RAND_bytes(raw, NONCE_LEN) != 1 ||
	    gcm(true, keys->cur.key, raw, aad, (const unsigned char *)plain, len, raw + NONCE_LEN,
		raw + NONCE_LEN + len))
		goto out;
	memcpy(out, SECRET_PREFIX, p);
	memcpy(out + p, keys->cur.kid, KID_LEN);
	out[p + KID_LEN] = '.';
	EVP_EncodeBlock((unsigned char *)out + p + KID_LEN + 1, raw, (int)raw_len);
	*outp = out;
	out = NULL;
	err = 0;
out:
	if (raw) {
		OPENSSL_cleanse(raw, raw_len);
		free(raw);
	}
	free(out);
	return err;
}

int secret_open(char **outp, bool *stalep, const struct secret_keys *keys, const char *aad,
		const char *sealed)
{
	if (!outp || !keys || !aad || !secret_is_sealed(sealed))
		return EINVAL;
	size_t p = strlen(SECRET_PREFIX), n = strlen(sealed);
	if (n < p + KID_LEN + 1 || sealed[p + KID_LEN] != '.')
		return EINVAL;
	const struct secret_key *k = NULL;
	if (memcmp(sealed + p, keys->cur.kid, KID_LEN) == 0)
		k = &keys->cur;
	else if (keys->has_prev && memcmp(sealed + p, keys->prev.kid, KID_LEN) == 0)
		k = &keys->prev;
	if (!k)
		return ENOKEY;
	const char *b64 = sealed + p + KID_LEN + 1;
	size_t b64_len = n - (p + KID_LEN + 1);
	size_t cap = b64_len / 4 * 3, raw_len = 0, len = 0;
	if (cap > NONCE_LEN + TAG_LEN + SECRET_PLAIN_MAX + 3)
		return EINVAL;
	unsigned char *raw = malloc(cap + 1);
	char *plain = NULL;
	int err = ENOMEM;
	if (!raw)
		goto out;
	err = EINVAL;
	if (b64_decode(raw, cap, &raw_len, b64, b64_len) || raw_len < NONCE_LEN + TAG_LEN)
		goto out;
	len = raw_len - NONCE_LEN - TAG_LEN;
	err = ENOMEM;
	plain = malloc(len + 1);
	if (!plain)
		goto out;
	err = EBADMSG;
	if (gcm(false, k->key, raw, aad, raw + NONCE_LEN, len, (unsigned char *)plain,
		raw + NONCE_LEN + len))
		goto out;
	plain[len] = '\0';
	if (memchr(plain, '\0', len))
		goto out; /* a C string: a NUL inside would truncate it */
	if (stalep)
		*stalep = k == &keys->prev;
	*outp = plain;
	plain = NULL;
	err = 0;
out:
	if (plain)
		OPENSSL_cleanse(plain, len + 1);
	free(plain);
	if (raw) {
		OPENSSL_cleanse(raw, cap + 1);
		free(raw);
	}
	return err;
}
