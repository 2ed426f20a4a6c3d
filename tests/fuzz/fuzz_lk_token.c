/* libFuzzer target for LiveKit access-token verification (libs/livekit
 * token.c, livekit_token_verify) — what room-manager and the gateway run on
 * tokens and webhook JWTs from outside. The first byte picks the mode:
 *   0: the rest is a JWT as it arrives;
 *   1: the rest is "<header JSON>\n<claims JSON>", signed here with the
 *      right secret, so that verification gets past the signature: the
 *      verdict must then be what the claims say (HS256, iss, exp, nbf);
 *   2: the rest is "<identity>\n<name>\n<metadata>\n<room>", minted with
 *      livekit_token_mint (ttl from byte 1) and verified back.
 * Anything else: mode 0. */
#include "livekit/livekit_priv.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEY    "fuzzkey"
#define SECRET "fuzzsecret"
#define LEEWAY_S 60
#define MARGIN_S 5 /* verdicts this near the clock's edge are not judged */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void raw(const char *jwt)
{
	cJSON *claims = NULL;
	int err = livekit_token_verify(&claims, jwt, KEY, SECRET);
	if (err != 0 && err != EACCES)
		abort();
	if (err == 0) {
		const cJSON *iss = cJSON_GetObjectItemCaseSensitive(claims, "iss");
		if (!cJSON_IsString(iss) || strcmp(iss->valuestring, KEY) != 0 ||
		    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(claims, "exp")))
			abort();
	} else if (claims) {
		abort();
	}
	cJSON_Delete(claims);
}

/* 1: the verdict of the claims, or -1 when too near the clock to judge. */
static int expected(const char *h, size_t hn, const char *c, size_t cn)
{
	int want = -1;
	double now = (double)time_now_ms() / 1000.0;
	cJSON *header = cJSON_ParseWithLength(h, hn), *claims = cJSON_ParseWithLength(c, cn);
	const cJSON *alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
	const cJSON *iss = cJSON_GetObjectItemCaseSensitive(claims, "iss");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
	const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
	if (!cJSON_IsObject(header) || !cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") ||
	    !cJSON_IsObject(claims) || !cJSON_IsString(iss) || strcmp(iss->valuestring, KEY) ||
	    !cJSON_IsNumber(exp) || (nbf && !cJSON_IsNumber(nbf))) {
		want = EACCES;
		goto out;
	}
	double e = exp->valuedouble + LEEWAY_S - now;
	double b = nbf ? now - (nbf->valuedouble - LEEWAY_S) : 1e9;
	if ((e > -MARGIN_S && e < MARGIN_S) || (b > -MARGIN_S && b < MARGIN_S))
		goto out;
	want = e < 0 || b < 0 ? EACCES : 0;
out:
	cJSON_Delete(header);
	cJSON_Delete(claims);
	return want;
}

static void signed_claims(const char *p, size_t n)
{
	const char *nl = memchr(p, '\n', n);
	size_t hn = nl ? (size_t)(nl - p) : n;
	const char *c = nl ? nl + 1 : "";
	size_t cn = nl ? n - hn - 1 : 0;
	char *h64 = lk_b64url_encode(p, hn), *c64 = lk_b64url_encode(c, cn), *sig64 = NULL;
	char *jwt = NULL;
	if (!h64 || !c64)
		goto out;
	size_t l1 = strlen(h64), l2 = strlen(c64);
	jwt = malloc(l1 + l2 + 2 + 64);
	if (!jwt)
		goto out;
	memcpy(jwt, h64, l1);
	jwt[l1] = '.';
	memcpy(jwt + l1 + 1, c64, l2);
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	if (!HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const uint8_t *)jwt, l1 + 1 + l2, mac,
		  &mac_len) || !(sig64 = lk_b64url_encode(mac, mac_len)))
		goto out;
	jwt[l1 + 1 + l2] = '.';
	memcpy(jwt + l1 + 2 + l2, sig64, strlen(sig64) + 1);
	int want = expected(p, hn, c, cn);
	int err = livekit_token_verify(NULL, jwt, KEY, SECRET);
	if (strlen(jwt) <= 65536 && want >= 0 && err != want)
		abort();
	/* the same token under another secret or for another key never passes */
	if (livekit_token_verify(NULL, jwt, KEY, SECRET "x") != EACCES ||
	    livekit_token_verify(NULL, jwt, KEY "x", SECRET) != EACCES)
		abort();
	raw(jwt);
out:
	free(h64);
	free(c64);
	free(sig64);
	free(jwt);
}

static const char *next_line(char **pp)
{
	char *s = *pp, *nl = s ? strchr(s, '\n') : NULL;
	if (nl) {
		*nl = '\0';
		*pp = nl + 1;
	} else {
		*pp = NULL;
	}
	return s;
}

static void mint(char *p, int ttl)
{
	const char *identity = next_line(&p), *name = next_line(&p), *meta = next_line(&p);
	const char *room = next_line(&p);
	struct livekit_grants g = { .room = room, .room_join = true, .can_publish = true,
				    .can_subscribe = true };
	char *jwt = NULL;
	cJSON *claims = NULL;
	if (livekit_token_mint(&jwt, KEY, SECRET, identity, name, meta, &g, ttl) != 0)
		return;
	if (livekit_token_verify(&claims, jwt, KEY, SECRET) != 0)
		abort();
	const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
	const cJSON *nm = cJSON_GetObjectItemCaseSensitive(claims, "name");
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(claims, "metadata");
	const cJSON *rm = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(claims, "video"), "room");
	if (!cJSON_IsString(sub) || strcmp(sub->valuestring, identity) != 0)
		abort();
	if (name && *name && (!cJSON_IsString(nm) || strcmp(nm->valuestring, name) != 0))
		abort();
	if (meta && *meta && (!cJSON_IsString(md) || strcmp(md->valuestring, meta) != 0))
		abort();
	if (room && *room && (!cJSON_IsString(rm) || strcmp(rm->valuestring, room) != 0))
		abort();
	cJSON_Delete(claims);
	free(jwt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t n = size - 1;
	char *copy = malloc(n + 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, n);
	copy[n] = '\0';
	if (data[0] == 1)
		signed_claims(copy, n);
	else if (data[0] == 2 && n > 0)
		mint(copy + 1, (unsigned char)copy[0] * 400 - 1000); /* below 1 s, 1 s, past 24 h */
	else
		raw(copy);
	free(copy);
	return 0;
}
