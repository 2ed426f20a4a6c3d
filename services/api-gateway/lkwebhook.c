/* LiveKit webhooks → call events. */
#include "lkwebhook.h"

#include "livekit/livekit.h"
#include "persist.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROOM_PREFIX "call-"
#define SIP_PREFIX  "sip-"
#define ID_KEY_MAX  512

struct lkwebhook {
	struct bus *bus;
	char *api_key;
	char *api_secret;
	char *source;
};

static const char *str_item(const cJSON *obj, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(it) && it->valuestring ? it->valuestring : NULL;
}

/* protojson writes int64 as a string; accept a number too. 0 when absent. */
static int64_t int_item(const cJSON *obj, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (cJSON_IsNumber(it))
		return it->valuedouble > 0 && it->valuedouble < 9e15 ? (int64_t)it->valuedouble : 0;
	if (cJSON_IsString(it) && it->valuestring) {
		char *end = NULL;
		long long v = strtoll(it->valuestring, &end, 10);
		return end && *end == '\0' && v > 0 ? (int64_t)v : 0;
	}
	return 0;
}

/* "<prefix><uuid>" → the uuid (lower-cased copy), else false. */
static bool id_after(char out[ID_UUID_LEN + 1], const char *s, const char *prefix)
{
	size_t pl = strlen(prefix);
	if (!s || strncmp(s, prefix, pl) != 0 || !id_is_uuid(s + pl) ||
	    strlen(s + pl) != ID_UUID_LEN)
		return false;
	for (size_t i = 0; i <= ID_UUID_LEN; i++) {
		char c = s[pl + i];
		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	return true;
}

/* ms since the epoch of "<name>Ms" or "<name>" (seconds); 0 when absent. */
static int64_t time_item(const cJSON *obj, const char *name)
{
	char ms_name[64];
	snprintf(ms_name, sizeof(ms_name), "%sMs", name);
	int64_t v = int_item(obj, ms_name);
	if (v)
		return v;
	v = int_item(obj, name);
	return v && v <= INT64_MAX / 1000 ? v * 1000 : 0; /* beyond: no time at all */
}

static int new_event(struct event **evp, enum event_type type, const char *call_id,
		     const char *source, const cJSON *body, int64_t now_ms)
{
	char room[sizeof(ROOM_PREFIX) + ID_UUID_LEN];
	char key[ID_KEY_MAX];
	const char *whid = str_item(body, "id");
	struct event *ev = NULL;
	int err;

	snprintf(room, sizeof(room), ROOM_PREFIX "%s", call_id);
	err = event_new(&ev, type, call_id, room, source);
	if (err)
		return err;
	ev->ts_ms = now_ms;
	if (whid && *whid) {
		snprintf(key, sizeof(key), "%s:%s", whid, event_type_name(type));
	} else {
		/* No id: the body itself identifies a retried delivery. */
		char *text = cJSON_PrintUnformatted(body);
		if (!text) {
			event_free(ev);
			return ENOMEM;
		}
		snprintf(key, sizeof(key), "%.400s:%s", text, event_type_name(type));
		cJSON_free(text);
	}
	err = persist_event_id(ev->id, "livekit-webhook", key);
	if (err) {
		event_free(ev);
		return err;
	}
	*evp = ev;
	return 0;
}

static int map_left(struct event **evp, const cJSON *body, const char *source, int64_t now_ms)
{
	const cJSON *part = cJSON_GetObjectItemCaseSensitive(body, "participant");
	const cJSON *room = cJSON_GetObjectItemCaseSensitive(body, "room");
	char call_id[ID_UUID_LEN + 1], room_id[ID_UUID_LEN + 1];
	struct event *ev = NULL;

	if (!id_after(call_id, str_item(part, "identity"), SIP_PREFIX))
		return 0; /* agents and browsers leaving do not end the call */
	if (id_after(room_id, str_item(room, "name"), ROOM_PREFIX) && strcmp(room_id, call_id) != 0)
		return 0; /* a SIP participant of another call's room: not ours to end */
	int err = new_event(&ev, EV_CALL_ENDED, call_id, source, body, now_ms);
	int64_t joined = time_item(part, "joinedAt");
	if (!err)
		err = event_set_str(ev, "reason", "remote_hangup");
	if (!err)
		err = event_set_str(ev, "by", "remote");
	if (!err)
		err = event_set_int(ev, "duration_ms",
				    joined && now_ms > joined ? now_ms - joined : 0);
	if (err) {
		event_free(ev);
		return err;
	}
	*evp = ev;
	return 0;
}

static int map_finished(struct event **evp, const cJSON *body, const char *source, int64_t now_ms)
{
	const cJSON *room = cJSON_GetObjectItemCaseSensitive(body, "room");
	char call_id[ID_UUID_LEN + 1];
	struct event *ev = NULL;

	if (!id_after(call_id, str_item(room, "name"), ROOM_PREFIX))
		return 0;
	int err = new_event(&ev, EV_CALL_ENDED, call_id, source, body, now_ms);
	int64_t created = time_item(room, "creationTime");
	if (!err)
		err = event_set_str(ev, "reason", "room_finished");
	if (!err)
		err = event_set_str(ev, "by", "system");
	if (!err)
		err = event_set_int(ev, "duration_ms",
				    created && now_ms > created ? now_ms - created : 0);
	if (err) {
		event_free(ev);
		return err;
	}
	*evp = ev;
	return 0;
}

static const char *egress_path(const cJSON *info)
{
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(info, "fileResults");
	const cJSON *f = cJSON_IsArray(files) ? cJSON_GetArrayItem(files, 0) : NULL;
	if (!f)
		f = cJSON_GetObjectItemCaseSensitive(info, "file");
	const char *p = str_item(f, "location");
	if (!p || !*p)
		p = str_item(f, "filename");
	return p && *p ? p : NULL;
}

static int map_egress(struct event **evp, const cJSON *body, const char *source, int64_t now_ms)
{
	const cJSON *info = cJSON_GetObjectItemCaseSensitive(body, "egressInfo");
	const cJSON *room = cJSON_GetObjectItemCaseSensitive(body, "room");
	char call_id[ID_UUID_LEN + 1];
	struct event *ev = NULL;
	int err;

	if (!cJSON_IsObject(info))
		return 0;
	if (!id_after(call_id, str_item(info, "roomName"), ROOM_PREFIX) &&
	    !id_after(call_id, str_item(room, "name"), ROOM_PREFIX))
		return 0;
	const char *status = str_item(info, "status");
	const char *path = egress_path(info);
	const char *egress_id = str_item(info, "egressId");
	bool ok = status && strcmp(status, "EGRESS_COMPLETE") == 0 && path;
	err = new_event(&ev, ok ? EV_RECORDING_READY : EV_RECORDING_FAILED, call_id, source, body,
			now_ms);
	if (!err && ok) {
		err = event_set_str(ev, "path", path);
		if (!err && egress_id && *egress_id)
			err = event_set_str(ev, "recording_id", egress_id);
	} else if (!err) {
		const char *why = str_item(info, "error");
		char msg[300];
		snprintf(msg, sizeof(msg), "%s%s%s", status && *status ? status : "EGRESS_UNKNOWN",
			 why && *why ? ": " : "", why && *why ? why : "");
		err = event_set_int(ev, "attempt", 1);
		if (!err)
			err = event_set_str(ev, "error", msg);
	}
	if (err) {
		event_free(ev);
		return err;
	}
	*evp = ev;
	return 0;
}

int lkwebhook_map(struct event **evp, const cJSON *body, const char *source, int64_t now_ms)
{
	if (!evp || !cJSON_IsObject(body) || !source)
		return EINVAL;
	*evp = NULL;
	const char *type = str_item(body, "event");
	if (!type || !*type)
		return EINVAL;
	if (strcmp(type, "participant_left") == 0)
		return map_left(evp, body, source, now_ms);
	if (strcmp(type, "room_finished") == 0)
		return map_finished(evp, body, source, now_ms);
	if (strcmp(type, "egress_ended") == 0)
		return map_egress(evp, body, source, now_ms);
	return 0;
}

void lkwebhook_handle(struct httpd_req *req, void *arg)
{
	struct lkwebhook *lk = arg;
	size_t len = 0;
	const char *body = httpd_req_body(req, &len);
	const char *auth = httpd_req_header(req, "Authorization");
	struct event *ev = NULL;

	if (!lk || !lk->api_key[0] || !lk->api_secret[0] || !auth ||
	    livekit_webhook_verify(auth, body ? body : "", body ? len : 0, lk->api_key,
				   lk->api_secret) != 0) {
		httpd_reply_error(req, 401, "unauthorized", "Authorization",
				  "The webhook's signature does not verify: check LIVEKIT_API_KEY "
				  "and LIVEKIT_API_SECRET.");
		return;
	}
	const cJSON *json = httpd_req_json(req);
	if (!json) {
		httpd_reply_error(req, 400, "invalid_json", NULL,
				  "The body must be a LiveKit WebhookEvent (JSON).");
		return;
	}
	int err = lkwebhook_map(&ev, json, lk->source, time_now_ms());
	if (err == EINVAL) {
		httpd_reply_error(req, 400, "invalid_field", "event", "event is required.");
		return;
	}
	if (err) {
		char msg[128];
		snprintf(msg, sizeof(msg), "The webhook cannot be handled: %s.", cm_strerror(err));
		httpd_reply_error(req, 500, "internal_error", NULL, msg);
		return;
	}
	if (!ev) {
		httpd_reply_ok(req, 200, "ignored", NULL);
		return;
	}
	err = bus_publish_event(lk->bus, ev);
	if (err) {
		log_warn("lkwebhook_publish_failed", "%s for call %s: %s",
			 event_type_name(ev->type), ev->call_id, cm_strerror(err));
		httpd_reply_error(
			req, 503, "unavailable", NULL,
			"The message bus (NATS) is unavailable; LiveKit will retry the webhook.");
	} else {
		log_info("lkwebhook_event", "%s → %s for call %s", str_item(json, "event"),
			 event_type_name(ev->type), ev->call_id);
		httpd_reply_ok(req, 200, "accepted", NULL);
	}
	event_free(ev);
}

int lkwebhook_new(struct lkwebhook **lkp, struct bus *bus, const char *api_key,
		  const char *api_secret, const char *source)
{
	if (!lkp || !bus || !source)
		return EINVAL;
	struct lkwebhook *lk = calloc(1, sizeof(*lk));
	if (!lk)
		return ENOMEM;
	lk->bus = bus;
	lk->api_key = strdup(api_key ? api_key : "");
	lk->api_secret = strdup(api_secret ? api_secret : "");
	lk->source = strdup(source);
	if (!lk->api_key || !lk->api_secret || !lk->source) {
		lkwebhook_free(lk);
		return ENOMEM;
	}
	*lkp = lk;
	return 0;
}

struct lkwebhook *lkwebhook_free(struct lkwebhook *lk)
{
	if (!lk)
		return NULL;
	free(lk->api_key);
	if (lk->api_secret)
		explicit_bzero(lk->api_secret, strlen(lk->api_secret));
	free(lk->api_secret);
	free(lk->source);
	free(lk);
	return NULL;
}
