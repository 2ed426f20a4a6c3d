/* libFuzzer target for libs/livekit's parsers of untrusted input: Twirp error
 * replies (from the server) and webhook Authorization JWTs (from anyone who
 * can reach POST /livekit/webhook). The first byte picks the parser:
 *   even: livekit_twirp_error_parse() on the rest;
 *   odd:  the rest split at the first '\n' into Authorization and body,
 *         through livekit_webhook_verify() and livekit_token_verify(). */
#include "livekit/livekit.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEY    "fuzzkey"
#define SECRET "fuzzsecret"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void twirp_error(const char *p, size_t n)
{
	struct livekit_error e = { .http_status = 500 };
	int err = livekit_twirp_error_parse(&e, p, n);
	if (err != 0 && strcmp(e.code, "internal") != 0)
		abort();
	if (strnlen(e.code, sizeof(e.code)) == sizeof(e.code) ||
	    strnlen(e.msg, sizeof(e.msg)) == sizeof(e.msg) ||
	    strnlen(e.sip_status, sizeof(e.sip_status)) == sizeof(e.sip_status))
		abort();
	if (e.sip_status_code != 0 && (e.sip_status_code < 100 || e.sip_status_code > 699))
		abort();
	if (e.http_status != 500)
		abort();
}

static void webhook(const char *p, size_t n)
{
	const char *nl = memchr(p, '\n', n);
	size_t alen = nl ? (size_t)(nl - p) : n;
	char *auth = malloc(alen + 1);
	if (!auth)
		return;
	memcpy(auth, p, alen);
	auth[alen] = '\0';
	const char *body = nl ? nl + 1 : "";
	size_t blen = nl ? n - alen - 1 : 0;
	int err = livekit_webhook_verify(auth, body, blen, KEY, SECRET);
	if (err != 0 && err != EACCES && err != ENOMEM)
		abort();
	cJSON *claims = NULL;
	err = livekit_token_verify(&claims, auth, KEY, SECRET);
	if (err == 0 && !cJSON_IsObject(claims))
		abort();
	cJSON_Delete(claims);
	free(auth);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	/* an exact-size copy, so sanitizers see reads past the end */
	char *copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1)
		webhook(copy, size - 1);
	else
		twirp_error(copy, size - 1);
	free(copy);
	return 0;
}
