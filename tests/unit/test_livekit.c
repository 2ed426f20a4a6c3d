/* libs/livekit: token minting (structure, signature, claims, grants), token
 * and webhook verification, Twirp error parsing, URL mapping. Tokens are also
 * checked with livekit-server-sdk's TokenVerifier (tests/livekit/verify-token.mjs,
 * sign-webhook.mjs). */
#include "harness/test.h"
#include "livekit/livekit.h"
#include "livekit/livekit_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define KEY    "APIkey123"
#define SECRET "s3cret-with-enough-length-for-hs256-0123456789"

/* Splits a JWT into its three segments and decodes the first two. */
static int jwt_parts(const char *jwt, cJSON **headerp, cJSON **claimsp)
{
	const char *d1 = strchr(jwt, '.');
	const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d1 || !d2 || strchr(d2 + 1, '.'))
		return EINVAL;
	uint8_t *h = NULL, *c = NULL;
	size_t hl = 0, cl = 0;
	if (lk_b64url_decode(&h, &hl, jwt, (size_t)(d1 - jwt)) ||
	    lk_b64url_decode(&c, &cl, d1 + 1, (size_t)(d2 - d1 - 1))) {
		free(h);
		return EINVAL;
	}
	*headerp = cJSON_ParseWithLength((char *)h, hl);
	*claimsp = cJSON_ParseWithLength((char *)c, cl);
	free(h);
	free(c);
	return *headerp && *claimsp ? 0 : EINVAL;
}

/* A JWT over arbitrary claims JSON, signed with `secret` (for bad tokens). */
static char *sign_raw(const char *header, const char *claims, const char *secret)
{
	char *h = lk_b64url_encode(header, strlen(header));
	char *c = lk_b64url_encode(claims, strlen(claims));
	size_t cap = strlen(h) + strlen(c) + 64;
	char *jwt = malloc(cap);
	snprintf(jwt, cap, "%s.%s", h, c);
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int ml = 0;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (uint8_t *)jwt, strlen(jwt), mac, &ml);
	char *s = lk_b64url_encode(mac, ml);
	size_t n = strlen(jwt);
	snprintf(jwt + n, cap - n, ".%s", s);
	free(h);
	free(c);
	free(s);
	return jwt;
}

static double num(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int is_true(const cJSON *o, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name));
}

static int test_base64url(void)
{
	int err = 0;
	static const struct { const char *in, *url, *std; } v[] = {
		{ "", "", "" },
		{ "f", "Zg", "Zg==" },
		{ "fo", "Zm8", "Zm8=" },
		{ "foo", "Zm9v", "Zm9v" },
		{ "foob", "Zm9vYg", "Zm9vYg==" },
		{ "\xfb\xff\xfe", "-__-", "+//+" },
	};
	char *a = NULL, *b = NULL;
	uint8_t *d = NULL;
	for (size_t i = 0; i < CM_ARRAY_LEN(v); i++) {
		size_t dl = 0;
		a = lk_b64url_encode(v[i].in, strlen(v[i].in));
		b = lk_b64std_encode(v[i].in, strlen(v[i].in));
		TEST_EQ_STR(a, v[i].url);
		TEST_EQ_STR(b, v[i].std);
		TEST_EQ_INT(lk_b64url_decode(&d, &dl, a, strlen(a)), 0);
		TEST_EQ_INT(dl, strlen(v[i].in));
		TEST_ASSERT(memcmp(d, v[i].in, dl) == 0);
		free(a);
		free(b);
		free(d);
		a = b = NULL;
		d = NULL;
	}
	size_t dl = 0;
	TEST_EQ_INT(lk_b64url_decode(&d, &dl, "Zm9v+A", 6), EINVAL); /* '+' is not base64url */
	TEST_EQ_INT(lk_b64url_decode(&d, &dl, "Z", 1), EINVAL);
out:
	free(a);
	free(b);
	free(d);
	return err;
}

static int test_mint_structure_and_claims(void)
{
	int err = 0;
	char *jwt = NULL;
	cJSON *h = NULL, *c = NULL;
	struct livekit_grants g = { .room = "call-1", .room_join = true, .can_publish = true,
				    .can_subscribe = true, .can_publish_data = true };
	int64_t now = time_now_ms() / 1000;
	TEST_EQ_INT(livekit_token_mint(&jwt, KEY, SECRET, "web-1", "Caller", "{\"a\":1}", &g, 3600),
		    0);
	TEST_EQ_INT(jwt_parts(jwt, &h, &c), 0);
	TEST_EQ_STR(str(h, "alg"), "HS256");
	TEST_EQ_STR(str(h, "typ"), "JWT");
	TEST_EQ_STR(str(c, "iss"), KEY);
	TEST_EQ_STR(str(c, "sub"), "web-1");
	TEST_EQ_STR(str(c, "name"), "Caller");
	TEST_EQ_STR(str(c, "metadata"), "{\"a\":1}");
	TEST_ASSERT(num(c, "exp") >= (double)(now + 3599) && num(c, "exp") <= (double)(now + 3601));
	TEST_ASSERT(num(c, "nbf") <= (double)now && num(c, "nbf") >= (double)(now - 60));
	const cJSON *video = cJSON_GetObjectItemCaseSensitive(c, "video");
	TEST_ASSERT(cJSON_IsObject(video));
	TEST_ASSERT(is_true(video, "roomJoin"));
	TEST_EQ_STR(str(video, "room"), "call-1");
	TEST_ASSERT(is_true(video, "canPublish"));
	TEST_ASSERT(is_true(video, "canSubscribe"));
	TEST_ASSERT(is_true(video, "canPublishData"));
	TEST_ASSERT(!cJSON_GetObjectItemCaseSensitive(video, "roomAdmin"));
	TEST_ASSERT(!cJSON_GetObjectItemCaseSensitive(c, "sip"));
	/* the signature is HMAC-SHA256 of "header.payload" with the secret */
	const char *d2 = strrchr(jwt, '.');
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int ml = 0;
	HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (uint8_t *)jwt, (size_t)(d2 - jwt), mac,
	     &ml);
	char *want = lk_b64url_encode(mac, ml);
	int same = want && strcmp(want, d2 + 1) == 0;
	free(want);
	TEST_ASSERT(same);
	TEST_ASSERT(!strchr(jwt, '=') && !strchr(jwt, '+') && !strchr(jwt, '/'));
out:
	cJSON_Delete(h);
	cJSON_Delete(c);
	free(jwt);
	return err;
}

static int test_mint_grants(void)
{
	int err = 0;
	char *jwt = NULL;
	cJSON *h = NULL, *c = NULL;
	/* a listener: can subscribe, cannot publish — false must be explicit */
	struct livekit_grants g = {
		.room = "r", .room_join = true, .can_subscribe = true, .hidden = true
	};
	TEST_EQ_INT(livekit_token_mint(&jwt, KEY, SECRET, "agent-1", NULL, NULL, &g, 60), 0);
	TEST_EQ_INT(jwt_parts(jwt, &h, &c), 0);
	const cJSON *video = cJSON_GetObjectItemCaseSensitive(c, "video");
	TEST_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(video, "canPublish")));
	TEST_ASSERT(is_true(video, "hidden"));
	TEST_ASSERT(!cJSON_GetObjectItemCaseSensitive(c, "name"));
	TEST_ASSERT(!cJSON_GetObjectItemCaseSensitive(c, "metadata"));
	cJSON_Delete(h);
	cJSON_Delete(c);
	h = c = NULL;
	free(jwt);
	jwt = NULL;
	struct livekit_grants s = { .room_create = true,
				    .room_list = true,
				    .room_record = true,
				    .room_admin = true,
				    .room = "r2",
				    .sip_call = true,
				    .sip_admin = true };
	TEST_EQ_INT(livekit_token_mint(&jwt, KEY, SECRET, "callmesh", NULL, NULL, &s, 600), 0);
	TEST_EQ_INT(jwt_parts(jwt, &h, &c), 0);
	video = cJSON_GetObjectItemCaseSensitive(c, "video");
	TEST_ASSERT(is_true(video, "roomCreate") && is_true(video, "roomList") &&
		    is_true(video, "roomRecord") && is_true(video, "roomAdmin"));
	TEST_ASSERT(!cJSON_GetObjectItemCaseSensitive(video, "roomJoin"));
	TEST_ASSERT(!cJSON_GetObjectItemCaseSensitive(video, "canPublish"));
	const cJSON *sip = cJSON_GetObjectItemCaseSensitive(c, "sip");
	TEST_ASSERT(is_true(sip, "call") && is_true(sip, "admin"));
out:
	cJSON_Delete(h);
	cJSON_Delete(c);
	free(jwt);
	return err;
}

static int test_mint_rejects_bad_arguments(void)
{
	int err = 0;
	char *jwt = NULL;
	TEST_EQ_INT(livekit_token_mint(&jwt, "", SECRET, "id", NULL, NULL, NULL, 60), EINVAL);
	TEST_EQ_INT(livekit_token_mint(&jwt, KEY, NULL, "id", NULL, NULL, NULL, 60), EINVAL);
	TEST_EQ_INT(livekit_token_mint(&jwt, KEY, SECRET, "", NULL, NULL, NULL, 60), EINVAL);
	TEST_EQ_INT(livekit_token_mint(&jwt, KEY, SECRET, "id", NULL, NULL, NULL, 0), EINVAL);
	TEST_EQ_INT(livekit_token_mint(&jwt, KEY, SECRET, "id", NULL, NULL, NULL,
				       LIVEKIT_TTL_MAX_S + 1), EINVAL);
	TEST_ASSERT(jwt == NULL);
out:
	free(jwt);
	return err;
}

static int test_verify_token(void)
{
	int err = 0;
	char *jwt = NULL, *bad = NULL;
	cJSON *claims = NULL;
	char body[256];
	int64_t now = time_now_ms() / 1000;
	TEST_EQ_INT(livekit_token_mint(&jwt, KEY, SECRET, "web-1", NULL, NULL, NULL, 60), 0);
	TEST_EQ_INT(livekit_token_verify(&claims, jwt, KEY, SECRET), 0);
	TEST_EQ_STR(str(claims, "sub"), "web-1");
	TEST_EQ_INT(livekit_token_verify(NULL, jwt, KEY, "other-secret"), EACCES);
	TEST_EQ_INT(livekit_token_verify(NULL, jwt, "otherkey", SECRET), EACCES);
	/* a flipped signature character */
	size_t n = strlen(jwt);
	jwt[n - 2] = jwt[n - 2] == 'A' ? 'B' : 'A';
	TEST_EQ_INT(livekit_token_verify(NULL, jwt, KEY, SECRET), EACCES);
	TEST_EQ_INT(livekit_token_verify(NULL, "a.b", KEY, SECRET), EACCES);
	TEST_EQ_INT(livekit_token_verify(NULL, "a.b.c.d", KEY, SECRET), EACCES);
	TEST_EQ_INT(livekit_token_verify(NULL, "", KEY, SECRET), EACCES);
	TEST_EQ_INT(livekit_token_verify(NULL, NULL, KEY, SECRET), EACCES);
	/* expired beyond the 60 s leeway; no exp; nbf in the future; alg none */
	snprintf(body, sizeof(body), "{\"iss\":\"%s\",\"exp\":%lld}", KEY, (long long)(now - 120));
	bad = sign_raw("{\"alg\":\"HS256\"}", body, SECRET);
	TEST_EQ_INT(livekit_token_verify(NULL, bad, KEY, SECRET), EACCES);
	free(bad);
	snprintf(body, sizeof(body), "{\"iss\":\"%s\",\"exp\":%lld}", KEY, (long long)(now - 30));
	bad = sign_raw("{\"alg\":\"HS256\"}", body, SECRET);
	TEST_EQ_INT(livekit_token_verify(NULL, bad, KEY, SECRET), 0); /* within leeway */
	free(bad);
	snprintf(body, sizeof(body), "{\"iss\":\"%s\"}", KEY);
	bad = sign_raw("{\"alg\":\"HS256\"}", body, SECRET);
	TEST_EQ_INT(livekit_token_verify(NULL, bad, KEY, SECRET), EACCES);
	free(bad);
	snprintf(body, sizeof(body), "{\"iss\":\"%s\",\"exp\":%lld,\"nbf\":%lld}", KEY,
		 (long long)(now + 600), (long long)(now + 300));
	bad = sign_raw("{\"alg\":\"HS256\"}", body, SECRET);
	TEST_EQ_INT(livekit_token_verify(NULL, bad, KEY, SECRET), EACCES);
	free(bad);
	snprintf(body, sizeof(body), "{\"iss\":\"%s\",\"exp\":%lld}", KEY, (long long)(now + 600));
	bad = sign_raw("{\"alg\":\"none\"}", body, SECRET);
	TEST_EQ_INT(livekit_token_verify(NULL, bad, KEY, SECRET), EACCES);
	free(bad);
	bad = sign_raw("{\"alg\":\"HS256\"}", "[1,2]", SECRET);
	TEST_EQ_INT(livekit_token_verify(NULL, bad, KEY, SECRET), EACCES);
out:
	free(bad);
	free(jwt);
	cJSON_Delete(claims);
	return err;
}

static int test_webhook_verify(void)
{
	int err = 0;
	static const char body[] =
		"{\"event\":\"participant_left\",\"room\":{\"name\":\"call-1\"}}";
	char *auth = NULL, *bad = NULL, *bearer = NULL;
	char claims[256];
	int64_t now = time_now_ms() / 1000;
	TEST_EQ_INT(livekit_webhook_sign(&auth, body, strlen(body), KEY, SECRET), 0);
	TEST_EQ_INT(livekit_webhook_verify(auth, body, strlen(body), KEY, SECRET), 0);
	size_t bl = strlen(auth) + 8;
	bearer = malloc(bl);
	snprintf(bearer, bl, "Bearer %s", auth);
	TEST_EQ_INT(livekit_webhook_verify(bearer, body, strlen(body), KEY, SECRET), 0);
	TEST_EQ_INT(livekit_webhook_verify(auth, body, strlen(body), KEY, "wrong"), EACCES);
	TEST_EQ_INT(livekit_webhook_verify(auth, body, strlen(body), "otherkey", SECRET), EACCES);
	TEST_EQ_INT(livekit_webhook_verify(auth, body, strlen(body) - 1, KEY, SECRET), EACCES);
	TEST_EQ_INT(livekit_webhook_verify(auth, "{}", 2, KEY, SECRET), EACCES);
	TEST_EQ_INT(livekit_webhook_verify(NULL, body, strlen(body), KEY, SECRET), EACCES);
	TEST_EQ_INT(livekit_webhook_verify("", body, strlen(body), KEY, SECRET), EACCES);
	TEST_EQ_INT(livekit_webhook_verify(auth, body, strlen(body), NULL, SECRET), EINVAL);
	/* an ordinary token without a sha256 claim is no webhook signature */
	char *plain = NULL;
	TEST_EQ_INT(livekit_token_mint(&plain, KEY, SECRET, "x", NULL, NULL, NULL, 60), 0);
	int r = livekit_webhook_verify(plain, body, strlen(body), KEY, SECRET);
	free(plain);
	TEST_EQ_INT(r, EACCES);
	/* expired, with the right hash (taken from the good signature) */
	cJSON *h = NULL, *c = NULL;
	TEST_EQ_INT(jwt_parts(auth, &h, &c), 0);
	snprintf(claims, sizeof(claims), "{\"iss\":\"%s\",\"exp\":%lld,\"sha256\":\"%s\"}", KEY,
		 (long long)(now - 600), str(c, "sha256"));
	cJSON_Delete(h);
	cJSON_Delete(c);
	bad = sign_raw("{\"alg\":\"HS256\"}", claims, SECRET);
	TEST_EQ_INT(livekit_webhook_verify(bad, body, strlen(body), KEY, SECRET), EACCES);
out:
	free(auth);
	free(bad);
	free(bearer);
	return err;
}

/* A signature made by livekit-server-sdk verifies here, and ours there. */
static int test_webhook_signed_by_livekit_sdk(void)
{
	int err = 0;
	static const char body[] =
		"{\"event\":\"room_finished\",\"room\":{\"name\":\"call-é\"},\"id\":\"EV_1\"}";
	char *out = NULL;
	const char *argv[] = { "node", "tests/livekit/sign-webhook.mjs", KEY, SECRET, body, NULL };
	TEST_EQ_INT(test_run_cmd(&out, argv, NULL, 30000), 0);
	char *nl = strchr(out, '\n');
	if (nl)
		*nl = '\0';
	TEST_EQ_INT(livekit_webhook_verify(out, body, strlen(body), KEY, SECRET), 0);
	TEST_EQ_INT(livekit_webhook_verify(out, body, strlen(body) - 1, KEY, SECRET), EACCES);
	TEST_EQ_INT(livekit_webhook_verify(out, body, strlen(body), KEY, SECRET "x"), EACCES);
out:
	free(out);
	return err;
}

/* Every kind of token callmesh mints passes livekit-server-sdk's TokenVerifier
 * with the claims LiveKit reads. */
static int test_tokens_pass_livekit_sdk_verifier(void)
{
	int err = 0;
	char *t[3] = { 0 }, *out = NULL, *wrong = NULL;
	struct livekit_grants web = { .room = "call-1", .room_join = true, .can_publish = true,
				      .can_subscribe = true, .can_publish_data = true };
	struct livekit_grants server = { .room_create = true, .room_admin = true, .room = "call-1",
					 .room_record = true };
	struct livekit_grants sip = { .sip_call = true, .sip_admin = true };
	TEST_EQ_INT(livekit_token_mint(&t[0], KEY, SECRET, "web-1", "Caller", "m", &web, 3600), 0);
	TEST_EQ_INT(livekit_token_mint(&t[1], KEY, SECRET, "callmesh", NULL, NULL, &server, 600),
		    0);
	TEST_EQ_INT(livekit_token_mint(&t[2], KEY, SECRET, "callmesh", NULL, NULL, &sip, 600), 0);
	const char *argv[] = {
		"node", "tests/livekit/verify-token.mjs", KEY, SECRET, t[0], t[1], t[2], NULL
	};
	int st = test_run_cmd(&out, argv, NULL, 30000);
	if (st != 0)
		printf("    verify-token: %s\n", out ? out : "");
	TEST_EQ_INT(st, 0);
	TEST_CONTAINS(out, "\"sub\":\"web-1\"");
	TEST_CONTAINS(out,
		      "\"video\":{\"roomJoin\":true,\"room\":\"call-1\",\"canPublishData\":true,"
		      "\"canPublish\":true,\"canSubscribe\":true}");
	TEST_CONTAINS(out, "\"roomCreate\":true");
	TEST_CONTAINS(out, "\"sip\":{\"call\":true,\"admin\":true}");
	/* and the verifier does reject a token for another secret */
	TEST_EQ_INT(livekit_token_mint(&wrong, KEY, "not-the-secret", "x", NULL, NULL, NULL, 60),
		    0);
	free(out);
	out = NULL;
	const char *argv2[] = { "node", "tests/livekit/verify-token.mjs", KEY, SECRET, wrong,
				NULL };
	TEST_EQ_INT(test_run_cmd(&out, argv2, NULL, 30000), 1);
	TEST_CONTAINS(out, "FAIL");
out:
	for (size_t i = 0; i < CM_ARRAY_LEN(t); i++)
		free(t[i]);
	free(wrong);
	free(out);
	return err;
}

static int test_twirp_error_parse(void)
{
	int err = 0;
	struct livekit_error e = { .http_status = 486 };
	static const char sip[] =
		"{\"code\":\"unavailable\",\"msg\":\"sip call failed\","
		"\"meta\":{\"sip_status_code\":\"486\",\"sip_status\":\"Busy Here\"}}";
	TEST_EQ_INT(livekit_twirp_error_parse(&e, sip, strlen(sip)), 0);
	TEST_EQ_INT(e.http_status, 486);
	TEST_EQ_STR(e.code, "unavailable");
	TEST_EQ_STR(e.msg, "sip call failed");
	TEST_EQ_INT(e.sip_status_code, 486);
	TEST_EQ_STR(e.sip_status, "Busy Here");
	static const char plain[] = "{\"code\":\"not_found\",\"msg\":\"room does not exist\"}";
	TEST_EQ_INT(livekit_twirp_error_parse(&e, plain, strlen(plain)), 0);
	TEST_EQ_STR(e.code, "not_found");
	TEST_EQ_INT(e.sip_status_code, 0);
	TEST_EQ_STR(e.sip_status, "");
	static const char numeric[] = "{\"code\":\"x\",\"meta\":{\"sip_status_code\":603}}";
	TEST_EQ_INT(livekit_twirp_error_parse(&e, numeric, strlen(numeric)), 0);
	TEST_EQ_INT(e.sip_status_code, 603);
	TEST_EQ_STR(e.msg, "");
	static const char out_of_range[] =
		"{\"code\":\"x\",\"meta\":{\"sip_status_code\":\"486x\"}}";
	TEST_EQ_INT(livekit_twirp_error_parse(&e, out_of_range, strlen(out_of_range)), 0);
	TEST_EQ_INT(e.sip_status_code, 0);
	TEST_EQ_INT(livekit_twirp_error_parse(&e, "<html>", 6), EINVAL);
	TEST_EQ_STR(e.code, "internal");
	TEST_EQ_INT(livekit_twirp_error_parse(&e, "{\"code\":7}", 10), EINVAL);
	TEST_EQ_INT(livekit_twirp_error_parse(&e, NULL, 0), EINVAL);
	/* a long msg is cut, never overflows */
	char big[2048];
	int n = snprintf(big, sizeof(big), "{\"code\":\"internal\",\"msg\":\"");
	memset(big + n, 'x', 1000);
	snprintf(big + n + 1000, sizeof(big) - (size_t)n - 1000, "\"}");
	TEST_EQ_INT(livekit_twirp_error_parse(&e, big, strlen(big)), 0);
	TEST_EQ_INT(strlen(e.msg), sizeof(e.msg) - 1);
out:
	return err;
}

static int test_client_url_mapping(void)
{
	int err = 0;
	struct livekit *lk = NULL;
	TEST_EQ_INT(livekit_client_new(&lk, "wss://lk.example.com/", KEY, SECRET), 0);
	TEST_EQ_STR(livekit_client_ws_url(lk), "wss://lk.example.com/");
	lk = livekit_client_free(lk);
	TEST_EQ_INT(livekit_client_new(&lk, "http://127.0.0.1:7880", KEY, SECRET), 0);
	TEST_EQ_STR(livekit_client_ws_url(lk), "ws://127.0.0.1:7880");
	TEST_EQ_STR(livekit_client_api_key(lk), KEY);
	lk = livekit_client_free(lk);
	TEST_EQ_INT(livekit_client_new(&lk, "ftp://x", KEY, SECRET), EINVAL);
	TEST_ASSERT(lk == NULL);
	TEST_EQ_INT(livekit_client_new(&lk, "http://", KEY, SECRET), EINVAL);
	TEST_EQ_INT(livekit_client_new(&lk, "http://x", KEY, ""), EINVAL);
out:
	livekit_client_free(lk);
	return err;
}

/* Nothing listens on the port: the request never left, ECONNREFUSED. */
static int test_twirp_connection_refused(void)
{
	int err = 0;
	struct livekit *lk = NULL;
	struct livekit_error e;
	cJSON *req = cJSON_CreateObject(), *resp = NULL;
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", test_free_port());
	TEST_EQ_INT(livekit_client_new(&lk, url, KEY, SECRET), 0);
	TEST_EQ_INT(livekit_twirp(lk, &resp, "livekit.RoomService", "CreateRoom", req, NULL, 2000,
				  &e),
		    ECONNREFUSED);
	TEST_ASSERT(resp == NULL);
	TEST_EQ_STR(e.code, "unavailable");
	TEST_EQ_INT(e.http_status, 0);
out:
	cJSON_Delete(req);
	livekit_client_free(lk);
	return err;
}

static const struct test tests[] = {
	{ "base64url", test_base64url },
	{ "mint_structure_and_claims", test_mint_structure_and_claims },
	{ "mint_grants", test_mint_grants },
	{ "mint_rejects_bad_arguments", test_mint_rejects_bad_arguments },
	{ "verify_token", test_verify_token },
	{ "webhook_verify", test_webhook_verify },
	{ "webhook_signed_by_livekit_sdk", test_webhook_signed_by_livekit_sdk },
	{ "tokens_pass_livekit_sdk_verifier", test_tokens_pass_livekit_sdk_verifier },
	{ "twirp_error_parse", test_twirp_error_parse },
	{ "client_url_mapping", test_client_url_mapping },
	{ "twirp_connection_refused", test_twirp_connection_refused },
};
TEST_MAIN(tests)
