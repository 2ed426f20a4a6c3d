/* libFuzzer target for LiveKit webhooks as api-gateway receives them
 * (POST /livekit/webhook): the signature check (libs/livekit
 * livekit_webhook_verify) and what lkwebhook.c makes of a body that passed
 * it (lkwebhook_map → call events). The first byte picks the mode:
 *   even: the rest is a body, signed here the way LiveKit signs it: it must
 *         verify, and no longer with one byte of the body changed or under
 *         another secret; then it is parsed as httpd does and mapped, and
 *         any event it maps to must validate and survive encode/decode;
 *   odd:  the rest is "<Authorization>\n<body>" as it arrives from anyone:
 *         verified, and mapped only if it verifies. */
#include "api-gateway/lkwebhook.h"
#include "event/event.h"
#include "livekit/livekit.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEY    "fuzzkey"
#define SECRET "fuzzsecret"
#define NOW_MS 1764755400000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* httpd's reading of a JSON body: depth capped, one object, blanks after it. */
static cJSON *body_json(const char *p, size_t n)
{
	const char *end = NULL;
	if (n == 0 || !httpd_json_depth_ok(p, n, HTTPD_JSON_DEPTH_MAX))
		return NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(p, n, &end, false);
	while (end && end < p + n && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (!cJSON_IsObject(j) || end != p + n) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

static void map(const char *p, size_t n)
{
	cJSON *j = body_json(p, n);
	struct event *ev = NULL, *back = NULL;
	char *text = NULL, err[256];
	if (!j)
		return;
	int rc = lkwebhook_map(&ev, j, "fuzz", NOW_MS);
	if (rc != 0 && rc != EINVAL && rc != ENOMEM)
		abort();
	if (rc != 0 && ev)
		abort();
	if (rc == EINVAL) {
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "event");
		if (cJSON_IsString(type) && type->valuestring[0])
			abort(); /* EINVAL only for a body without "event" */
	}
	if (ev) {
		if (event_validate(ev, err, sizeof(err)) != 0)
			abort();
		if (ev->type != EV_CALL_ENDED && ev->type != EV_RECORDING_READY &&
		    ev->type != EV_RECORDING_FAILED)
			abort();
		if (!id_is_uuid(ev->call_id) || ev->ts_ms != NOW_MS)
			abort();
		if (event_encode(&text, ev) == 0 && strlen(text) <= EVENT_JSON_MAX &&
		    event_decode(&back, text, strlen(text), err, sizeof(err)) != 0)
			abort();
	}
	free(text);
	event_free(back);
	event_free(ev);
	cJSON_Delete(j);
}

static void signed_body(const char *p, size_t n)
{
	char *auth = NULL;
	if (livekit_webhook_sign(&auth, p, n, KEY, SECRET) != 0)
		return;
	if (livekit_webhook_verify(auth, p, n, KEY, SECRET) != 0)
		abort();
	if (livekit_webhook_verify(auth, p, n, KEY, "other" SECRET) != EACCES ||
	    livekit_webhook_verify(auth, p, n, "other" KEY, SECRET) != EACCES)
		abort();
	if (n > 0) {
		char *changed = malloc(n);
		if (changed) {
			memcpy(changed, p, n);
			changed[n / 2] ^= 0x01;
			if (livekit_webhook_verify(auth, changed, n, KEY, SECRET) != EACCES ||
			    livekit_webhook_verify(auth, p, n - 1, KEY, SECRET) != EACCES)
				abort();
			free(changed);
		}
	}
	free(auth);
	map(p, n);
}

static void as_sent(const char *p, size_t n)
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
	if (err == 0)
		map(body, blen);
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
		as_sent(copy, size - 1);
	else
		signed_body(copy, size - 1);
	free(copy);
	return 0;
}
