/* LiveKit access tokens and webhook signatures: JWT HS256 over OpenSSL. */
#include "livekit_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define LEEWAY_S 60
#define JWT_MAX  65536 /* longest token we verify */

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64std_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const void *data, size_t len, const char *alphabet, bool pad)
{
	const uint8_t *p = data;
	size_t out_len = (len + 2) / 3 * 4;
	char *out = malloc(out_len + 1), *o = out;
	if (!out)
		return NULL;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = alphabet[v >> 6 & 63];
		*o++ = alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		if (pad) {
			*o++ = '=';
			*o++ = '=';
		}
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = alphabet[v >> 6 & 63];
		if (pad)
			*o++ = '=';
	}
	*o = '\0';
	return out;
}

char *lk_b64url_encode(const void *data, size_t len)
{
	return b64_encode(data, len, b64url_alphabet, false);
}

char *lk_b64std_encode(const void *data, size_t len)
{
	return b64_encode(data, len, b64std_alphabet, true);
}

char *livekit_base64(const void *data, size_t len)
{
	return lk_b64std_encode(data, len);
}

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int lk_b64url_decode(uint8_t **outp, size_t *outlenp, const char *s, size_t len)
{
	while (len > 0 && s[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return EINVAL;
	uint8_t *out = malloc(len / 4 * 3 + 3 + 1);
	if (!out)
		return ENOMEM;
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value(s[i]);
		if (v < 0) {
			free(out);
			return EINVAL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	out[n] = '\0';
	*outp = out;
	*outlenp = n;
	return 0;
}

static bool nonempty(const char *s)
{
	return s && *s;
}

/* Adds a bool item only when true; cJSON_Add* returns NULL when out of memory. */
static bool add_true(cJSON *obj, const char *name, bool v)
{
	return !v || cJSON_AddTrueToObject(obj, name) != NULL;
}

static int grants_json(cJSON *claims, const struct livekit_grants *g)
{
	cJSON *video = cJSON_AddObjectToObject(claims, "video");
	if (!video)
		return ENOMEM;
	bool ok = add_true(video, "roomCreate", g->room_create) &&
		  add_true(video, "roomList", g->room_list) &&
		  add_true(video, "roomRecord", g->room_record) &&
		  add_true(video, "roomAdmin", g->room_admin) &&
		  add_true(video, "roomJoin", g->room_join) &&
		  (!nonempty(g->room) || cJSON_AddStringToObject(video, "room", g->room)) &&
		  add_true(video, "canPublishData", g->can_publish_data) &&
		  add_true(video, "hidden", g->hidden);
	/* canPublish/canSubscribe mean true when absent: say false explicitly. */
	if (ok && g->room_join)
		ok = cJSON_AddBoolToObject(video, "canPublish", g->can_publish) &&
		     cJSON_AddBoolToObject(video, "canSubscribe", g->can_subscribe);
	if (ok && (g->sip_call || g->sip_admin)) {
		cJSON *sip = cJSON_AddObjectToObject(claims, "sip");
		ok = sip && add_true(sip, "call", g->sip_call) &&
		     add_true(sip, "admin", g->sip_admin);
	}
	return ok ? 0 : ENOMEM;
}

/* base64url(header) "." base64url(payload) "." base64url(HMAC-SHA256). */
static int jwt_sign(char **jwtp, const cJSON *claims, const char *secret)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char *payload = cJSON_PrintUnformatted(claims);
	char *h64 = lk_b64url_encode(header, sizeof(header) - 1);
	char *p64 = payload ? lk_b64url_encode(payload, strlen(payload)) : NULL;
	char *s64 = NULL, *jwt = NULL;
	int err = 0;
	if (!h64 || !p64) {
		err = ENOMEM;
		goto out;
	}
	size_t hl = strlen(h64), pl = strlen(p64);
	size_t signed_len = hl + 1 + pl;
	jwt = malloc(signed_len + 1 + 44);
	if (!jwt) {
		err = ENOMEM;
		goto out;
	}
	memcpy(jwt, h64, hl);
	jwt[hl] = '.';
	memcpy(jwt + hl + 1, p64, pl);
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)jwt, signed_len, mac,
		  &mac_len)) {
		err = EIO;
		goto out;
	}
	s64 = lk_b64url_encode(mac, mac_len);
	if (!s64) {
		err = ENOMEM;
		goto out;
	}
	jwt[signed_len] = '.';
	memcpy(jwt + signed_len + 1, s64, strlen(s64) + 1);
out:
	if (err) {
		free(jwt);
		jwt = NULL;
	}
	*jwtp = jwt;
	free(payload);
	free(h64);
	free(p64);
	free(s64);
	return err;
}

int livekit_token_mint(char **jwtp, const char *api_key, const char *api_secret,
		       const char *identity, const char *name, const char *metadata,
		       const struct livekit_grants *grants, int ttl_s)
{
	static const struct livekit_grants none = { 0 };
	cJSON *claims = NULL;
	int err = 0;
	if (!jwtp || !nonempty(api_key) || !nonempty(api_secret) || !nonempty(identity) ||
	    ttl_s < 1 || ttl_s > LIVEKIT_TTL_MAX_S || strlen(identity) > LIVEKIT_IDENTITY_MAX ||
	    (name && strlen(name) > LIVEKIT_IDENTITY_MAX) ||
	    (metadata && strlen(metadata) > LIVEKIT_METADATA_MAX))
		return EINVAL;
	if (!grants)
		grants = &none;
	if (grants->room && strlen(grants->room) > LIVEKIT_IDENTITY_MAX)
		return EINVAL;
	double now = (double)(time_now_ms() / 1000);
	claims = cJSON_CreateObject();
	if (!claims || !cJSON_AddStringToObject(claims, "iss", api_key) ||
	    !cJSON_AddStringToObject(claims, "sub", identity) ||
	    !cJSON_AddNumberToObject(claims, "nbf", now - 10) ||
	    !cJSON_AddNumberToObject(claims, "iat", now) ||
	    !cJSON_AddNumberToObject(claims, "exp", now + ttl_s) ||
	    (nonempty(name) && !cJSON_AddStringToObject(claims, "name", name)) ||
	    (nonempty(metadata) && !cJSON_AddStringToObject(claims, "metadata", metadata))) {
		err = ENOMEM;
		goto out;
	}
	err = grants_json(claims, grants);
	if (!err)
		err = jwt_sign(jwtp, claims, api_secret);
out:
	cJSON_Delete(claims);
	return err;
}

/* Decodes one base64url JSON segment into an object. */
static cJSON *segment_json(const char *s, size_t len)
{
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	if (lk_b64url_decode(&raw, &raw_len, s, len))
		return NULL;
	cJSON *j = cJSON_ParseWithLength((const char *)raw, raw_len);
	free(raw);
	if (j && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

int livekit_token_verify(cJSON **claimsp, const char *jwt, const char *api_key,
			 const char *api_secret)
{
	cJSON *header = NULL, *claims = NULL;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	int err = EACCES;
	if (!nonempty(api_key) || !nonempty(api_secret))
		return EINVAL;
	if (!jwt)
		return EACCES;
	size_t len = strnlen(jwt, JWT_MAX + 1);
	if (len == 0 || len > JWT_MAX)
		return EACCES;
	const char *dot1 = memchr(jwt, '.', len);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - jwt)) : NULL;
	if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - jwt)))
		return EACCES;

	header = segment_json(jwt, (size_t)(dot1 - jwt));
	const cJSON *alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
	if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0)
		goto out;
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (!HMAC(EVP_sha256(), api_secret, (int)strlen(api_secret), (const uint8_t *)jwt,
		  (size_t)(dot2 - jwt), mac, &mac_len))
		goto out;
	if (lk_b64url_decode(&sig, &sig_len, dot2 + 1, len - (size_t)(dot2 + 1 - jwt)) ||
	    sig_len != mac_len || CRYPTO_memcmp(sig, mac, mac_len) != 0)
		goto out;

	claims = segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	const cJSON *iss = cJSON_GetObjectItemCaseSensitive(claims, "iss");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
	const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
	double now = (double)time_now_ms() / 1000.0;
	if (!cJSON_IsString(iss) || strcmp(iss->valuestring, api_key) != 0)
		goto out;
	if (!cJSON_IsNumber(exp) || exp->valuedouble + LEEWAY_S < now)
		goto out;
	if (nbf && (!cJSON_IsNumber(nbf) || nbf->valuedouble - LEEWAY_S > now))
		goto out;
	err = 0;
	if (claimsp) {
		*claimsp = claims;
		claims = NULL;
	}
out:
	cJSON_Delete(header);
	cJSON_Delete(claims);
	free(sig);
	return err;
}

static int body_sha256_b64(char **outp, const char *body, size_t len)
{
	uint8_t digest[SHA256_DIGEST_LENGTH];
	if (!SHA256((const uint8_t *)(body ? body : ""), len, digest))
		return EIO;
	*outp = lk_b64std_encode(digest, sizeof(digest));
	return *outp ? 0 : ENOMEM;
}

int livekit_webhook_verify(const char *authorization, const char *body, size_t len,
			   const char *api_key, const char *api_secret)
{
	cJSON *claims = NULL;
	char *want = NULL;
	if (!nonempty(api_key) || !nonempty(api_secret))
		return EINVAL;
	if (!authorization || (!body && len))
		return EACCES;
	if (strncmp(authorization, "Bearer ", 7) == 0)
		authorization += 7;
	int err = livekit_token_verify(&claims, authorization, api_key, api_secret);
	if (err)
		goto out;
	err = body_sha256_b64(&want, body, len);
	if (err)
		goto out;
	const cJSON *sha = cJSON_GetObjectItemCaseSensitive(claims, "sha256");
	if (!cJSON_IsString(sha) || strlen(sha->valuestring) != strlen(want) ||
	    CRYPTO_memcmp(sha->valuestring, want, strlen(want)) != 0)
		err = EACCES;
out:
	cJSON_Delete(claims);
	free(want);
	return err == ENOMEM ? ENOMEM : err ? EACCES : 0;
}

int livekit_webhook_sign(char **authp, const char *body, size_t len, const char *api_key,
			 const char *api_secret)
{
	cJSON *claims = NULL;
	char *sha = NULL;
	if (!authp || !nonempty(api_key) || !nonempty(api_secret) || (!body && len))
		return EINVAL;
	int err = body_sha256_b64(&sha, body, len);
	if (err)
		return err;
	double now = (double)(time_now_ms() / 1000);
	claims = cJSON_CreateObject();
	if (!claims || !cJSON_AddStringToObject(claims, "iss", api_key) ||
	    !cJSON_AddNumberToObject(claims, "nbf", now) ||
	    !cJSON_AddNumberToObject(claims, "exp", now + 300) ||
	    !cJSON_AddStringToObject(claims, "sha256", sha)) {
		err = ENOMEM;
		goto out;
	}
	err = jwt_sign(authp, claims, api_secret);
out:
	cJSON_Delete(claims);
	free(sha);
	return err;
}
