/* POST /web_call/get_token: the call row (kind web), call_queued, the room,
 * a participant token for web-<call_id> from room-manager (rooms.token),
 * then the agent. Replies {room_name, token, url, call_id, backend}, backend
 * being rooms.create's ("local" | "livekit"; null if it named none), so the
 * page knows which client joins. Failures after the row mark the call failed. */
#include "webcall.h"

#include "assistants.h"
#include "launch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEB_TOKEN_TTL_S 3600

const struct cmd_rule webcall_rules[] = {
	{ "assistant_id", CMD_UUID, true, 0, 0, false, NULL, NULL },
	{ "metadata", CMD_OBJ, false, 0, CMD_KEYS_MAX, true, NULL, NULL },
	{ 0 },
};

/* rooms.token for the browser participant; *replyp = {token, url}. */
static int web_token(struct api *api, const struct launch *l, cJSON **replyp, struct cmd_error *ce)
{
	char identity[64], *meta = NULL;
	int err = EAGAIN;
	snprintf(identity, sizeof(identity), "web-%s", l->call_id);
	meta = l->metadata ? cJSON_PrintUnformatted(l->metadata) : strdup("{}");
	cJSON *req = cJSON_CreateObject();
	if (!meta || !req || !cJSON_AddNumberToObject(req, "v", 1) ||
	    !cJSON_AddStringToObject(req, "room", l->room) ||
	    !cJSON_AddStringToObject(req, "identity", identity) ||
	    !cJSON_AddStringToObject(req, "name", "Caller") ||
	    !cJSON_AddStringToObject(req, "metadata", meta) ||
	    !cJSON_AddNumberToObject(req, "ttl_s", WEB_TOKEN_TTL_S) ||
	    !cJSON_AddTrueToObject(req, "can_publish") ||
	    !cJSON_AddTrueToObject(req, "can_subscribe") ||
	    !cJSON_AddTrueToObject(req, "can_publish_data")) {
		snprintf(ce->code, sizeof(ce->code), "unavailable");
		snprintf(ce->message, sizeof(ce->message), "out of memory");
		goto out;
	}
	err = cmd_request(api->bus, replyp, "rooms.token", req, API_CMD_TIMEOUT_MS, ce);
	if (!err && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(*replyp, "token"))) {
		*replyp = (cJSON_Delete(*replyp), NULL);
		snprintf(ce->code, sizeof(ce->code), "internal");
		snprintf(ce->message, sizeof(ce->message), "rooms.token replied without a token");
		err = EIO;
	}
out:
	cJSON_Delete(req);
	free(meta);
	return err;
}

static cJSON *token_reply(const struct launch *l, const cJSON *tok, const char *room_url)
{
	const cJSON *token = cJSON_GetObjectItemCaseSensitive(tok, "token");
	const cJSON *url = cJSON_GetObjectItemCaseSensitive(tok, "url");
	const char *u = cJSON_IsString(url) ? url->valuestring : room_url;
	cJSON *d = cJSON_CreateObject();
	if (d && (!cJSON_AddStringToObject(d, "room_name", l->room) ||
		  !cJSON_AddStringToObject(d, "token", token->valuestring) ||
		  !(u ? cJSON_AddStringToObject(d, "url", u) : cJSON_AddNullToObject(d, "url")) ||
		  !cJSON_AddStringToObject(d, "call_id", l->call_id) ||
		  !(l->backend[0] ? cJSON_AddStringToObject(d, "backend", l->backend)
				  : cJSON_AddNullToObject(d, "backend"))))
		d = (cJSON_Delete(d), NULL);
	return d;
}

void webcall_get_token(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	struct cmd_field_error ve;
	struct launch l = { 0 };
	struct cmd_error ce;
	cJSON *assistant = NULL, *snap = NULL, *tok = NULL;
	char *url = NULL;
	struct db *db = NULL;
	int err;

	const cJSON *body = api_body(req);
	if (!body)
		return;
	if (cmd_check_object(body, webcall_rules, false, NULL, &ve)) {
		api_reply_field_error(req, &ve);
		return;
	}
	db = api_db_get(api, req);
	if (!db)
		return;
	const cJSON *aid = cJSON_GetObjectItemCaseSensitive(body, "assistant_id");
	err = assistants_load(db, &assistant, aid->valuestring);
	if (err) {
		if (err == ENOENT)
			httpd_reply_error(
				req, 404, "not_found", "assistant_id",
				"No assistant has this assistant_id (it may have been deleted).");
		else
			api_reply_db_error(req, err);
		goto out;
	}
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(body, "metadata");
	l.kind = "web";
	l.metadata = cJSON_IsObject(meta) ? meta : NULL;
	l.assistant = assistant;
	if (launch_start(api, db, req, &l, &snap, &url))
		goto out;
	err = web_token(api, &l, &tok, &ce);
	if (err) {
		launch_fail_cmd(api, db, req, &l, true, "token", err, &ce);
		goto out;
	}
	err = launch_dispatch(api, &l, snap, false, &ce);
	if (err) {
		launch_fail_cmd(api, db, req, &l, true, "agent", err, &ce);
		goto out;
	}
	metric_add(api->m_web, 1);
	log_info("web_call_started", "call %s room %s", l.call_id, l.room);
	httpd_reply_ok(req, 200, "web call ready", token_reply(&l, tok, url));
out:
	api_db_put(api, db);
	free(url);
	cJSON_Delete(tok);
	cJSON_Delete(snap);
	cJSON_Delete(assistant);
}
