/* The shared steps of starting a call, and the one way a start fails. */
#include "launch.h"

#include "template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROOM_EMPTY_TIMEOUT_S 300
#define ROOM_MAX_PARTICIPANTS 4
#define ROOM_DELETE_TIMEOUT_MS 1000

int launch_init(struct launch *l)
{
	int err = id_uuid4(l->call_id);
	if (!err)
		snprintf(l->room, sizeof(l->room), "call-%s", l->call_id);
	return err;
}

int launch_insert(struct db *db, struct record_cache *cache, const struct launch *l)
{
	char *meta = l->metadata ? cJSON_PrintUnformatted(l->metadata) : NULL;
	if (l->metadata && !meta)
		return ENOMEM;
	const cJSON *aid = cJSON_GetObjectItemCaseSensitive(l->assistant, "assistant_id");
	const char *params[] = {
		l->call_id, l->kind, l->provider, cJSON_IsString(aid) ? aid->valuestring : NULL,
		l->trunk_id, l->from_number, l->to_number, l->room, meta ? meta : "{}",
		l->dial_by[0] ? l->dial_by : NULL,
	};
	/* a fresh id: nothing of it is cached, but every write is bracketed */
	record_cache_write_begin(cache, l->call_id);
	int err = db_exec(
		db, NULL,
		"INSERT INTO calls (id, kind, provider, assistant_id, trunk_id, from_number,"
		" to_number, room, status, metadata, dial_by)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9::jsonb, $10::timestamptz)",
		(int)CM_ARRAY_LEN(params), params);
	record_cache_write_end(cache, l->call_id);
	free(meta);
	return err;
}

static int publish(struct api *api, const struct launch *l, enum event_type type,
		   const char *reason)
{
	struct event *ev = NULL;
	int err = event_new(&ev, type, l->call_id, l->room, api->source);
	if (!err && type == EV_CALL_FAILED)
		err = event_set_str(ev, "status", "failed");
	if (!err && reason)
		err = event_set_str(ev, "reason", reason);
	if (!err)
		err = bus_connected(api->bus) ? bus_publish_event(api->bus, ev) : EAGAIN;
	event_free(ev);
	return err;
}

int launch_queued(struct api *api, const struct launch *l, struct bus_js_pub **pubp)
{
	struct event *ev = NULL;
	*pubp = NULL;
	int err = event_new(&ev, EV_CALL_QUEUED, l->call_id, l->room, api->source);
	if (!err)
		err = event_set_str(ev, "kind", l->kind);
	if (!err && l->provider)
		err = event_set_str(ev, "provider", l->provider);
	if (!err)
		err = bus_publish_event_send(pubp, api->bus, ev);
	event_free(ev);
	return err;
}

int launch_room(struct api *api, struct launch *l, char **urlp, struct cmd_error *ce)
{
	cJSON *req = cJSON_CreateObject(), *reply = NULL;
	int err = ENOMEM;
	const cJSON *aid = cJSON_GetObjectItemCaseSensitive(l->assistant, "assistant_id");

	*urlp = NULL;
	l->backend[0] = '\0';
	if (!req || !cJSON_AddNumberToObject(req, "v", 1) ||
	    !cJSON_AddStringToObject(req, "call_id", l->call_id) ||
	    !cJSON_AddStringToObject(req, "room", l->room) ||
	    !cJSON_AddStringToObject(req, "assistant_id", aid->valuestring) ||
	    !cJSON_AddItemToObject(req, "metadata",
				   l->metadata ? cJSON_Duplicate(l->metadata, true)
					       : cJSON_CreateObject()) ||
	    !cJSON_AddNumberToObject(req, "empty_timeout_s", ROOM_EMPTY_TIMEOUT_S) ||
	    !cJSON_AddNumberToObject(req, "max_participants", ROOM_MAX_PARTICIPANTS)) {
		snprintf(ce->code, sizeof(ce->code), "unavailable");
		snprintf(ce->message, sizeof(ce->message), "out of memory");
		err = EAGAIN;
		goto out;
	}
	err = cmd_request(api->bus, &reply, "rooms.create", req, API_CMD_TIMEOUT_MS, ce);
	if (err)
		goto out;
	const cJSON *url = cJSON_GetObjectItemCaseSensitive(reply, "url");
	if (cJSON_IsString(url))
		*urlp = strdup(url->valuestring);
	const cJSON *backend = cJSON_GetObjectItemCaseSensitive(reply, "backend");
	if (cJSON_IsString(backend) && strlen(backend->valuestring) < sizeof(l->backend))
		snprintf(l->backend, sizeof(l->backend), "%s", backend->valuestring);
out:
	cJSON_Delete(reply);
	cJSON_Delete(req);
	return err;
}

int launch_snapshot(cJSON **snapp, const struct launch *l)
{
	static const struct {
		const char *from, *to;
	} copy[] = {
		{ "assistant_id", "id" },
		{ "assistant_name", "name" },
		{ "assistant_mode", "mode" },
		{ "assistant_interaction_config", "interaction_config" },
		{ "assistant_stt_config", "stt_config" },
		{ "assistant_llm_config", "llm_config" },
		{ "assistant_tts_config", "tts_config" },
		{ "assistant_end_call_url", "end_call_url" },
	};
	char *prompt = NULL, *start = NULL;
	cJSON *s = cJSON_CreateObject();
	int err = s ? 0 : ENOMEM;
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(l->assistant, "assistant_prompt");
	const cJSON *si =
		cJSON_GetObjectItemCaseSensitive(l->assistant, "assistant_start_instruction");
	if (!err)
		err = template_fill(&prompt, cJSON_IsString(p) ? p->valuestring : "", l->metadata);
	if (!err)
		err = template_fill(&start, cJSON_IsString(si) ? si->valuestring : "", l->metadata);
	for (size_t i = 0; !err && i < CM_ARRAY_LEN(copy); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(l->assistant, copy[i].from);
		cJSON *dup = v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
		if (!dup || !cJSON_AddItemToObject(s, copy[i].to, dup)) {
			cJSON_Delete(dup);
			err = ENOMEM;
		}
	}
	if (!err && (!cJSON_AddStringToObject(s, "prompt", prompt) ||
		     !cJSON_AddStringToObject(s, "start_instruction", start)))
		err = ENOMEM;
	free(prompt);
	free(start);
	if (err) {
		cJSON_Delete(s);
		return err;
	}
	*snapp = s;
	return 0;
}

int launch_dispatch(struct api *api, const struct launch *l, const cJSON *snapshot,
		    bool wait_for_answer, struct cmd_error *ce)
{
	cJSON *req = cJSON_CreateObject(), *reply = NULL;
	cJSON *snap = cJSON_Duplicate(snapshot, true);
	int err = 0;
	if (!req || !snap || !cJSON_AddNumberToObject(req, "v", 1) ||
	    !cJSON_AddStringToObject(req, "call_id", l->call_id) ||
	    !cJSON_AddStringToObject(req, "room", l->room) ||
	    !cJSON_AddStringToObject(req, "kind", l->kind) ||
	    !(l->provider ? cJSON_AddStringToObject(req, "provider", l->provider)
			  : cJSON_AddNullToObject(req, "provider")) ||
	    !cJSON_AddBoolToObject(req, "wait_for_answer", wait_for_answer) ||
	    !cJSON_AddItemToObject(req, "assistant", snap)) {
		err = ENOMEM;
		goto fail;
	}
	snap = NULL;
	if (!cJSON_AddItemToObject(req, "metadata",
				   l->metadata ? cJSON_Duplicate(l->metadata, true)
					       : cJSON_CreateObject())) {
		err = ENOMEM;
		goto fail;
	}
	err = cmd_request(api->bus, &reply, "agents.dispatch", req, API_DISPATCH_TIMEOUT_MS, ce);
	goto out;
fail:
	snprintf(ce->code, sizeof(ce->code), "unavailable");
	snprintf(ce->message, sizeof(ce->message), "out of memory");
	err = EAGAIN;
out:
	cJSON_Delete(reply);
	cJSON_Delete(snap);
	cJSON_Delete(req);
	return err;
}

static void room_delete(struct api *api, const struct launch *l)
{
	char body[96], *reply = NULL;
	int n = snprintf(body, sizeof(body), "{\"v\":1,\"room\":\"%s\"}", l->room);
	if (n > 0 && (size_t)n < sizeof(body) &&
	    bus_request(api->bus, &reply, NULL, "rooms.delete", body, (size_t)n,
			ROOM_DELETE_TIMEOUT_MS) != 0)
		log_warn("room_delete_failed", "call %s: room %s left to its empty timeout",
			 l->call_id, l->room);
	free(reply);
}

void launch_fail(struct api *api, struct db *db, struct httpd_req *req, const struct launch *l,
		 bool room_created, unsigned status, const char *code, const char *end_reason,
		 const char *message)
{
	const char *params[] = { l->call_id, end_reason };
	record_cache_write_begin(api->cache, l->call_id);
	int err = db_exec(db, NULL,
			  "UPDATE calls SET status = 'failed', end_reason = $2, ended_at = now(),"
			  " updated_at = now() WHERE id = $1 AND status = 'queued'",
			  2, params);
	record_cache_write_end(api->cache, l->call_id);
	if (err)
		log_error("call_left_queued", "call %s: cannot mark it failed (%s): %s", l->call_id,
			  end_reason, cm_strerror(err));
	else
		log_warn("call_start_failed", "call %s (%s): %s", l->call_id, l->kind, end_reason);
	metric_add(api->m_launch_failed, 1);
	if (publish(api, l, EV_CALL_FAILED, end_reason))
		log_warn("call_failed_unpublished",
			 "call %s: call_failed not published (NATS down)", l->call_id);
	if (room_created)
		room_delete(api, l);
	httpd_reply_error(req, status, code, NULL, message);
}

/* What a step asks of which service, for a person reading the error. */
static const char *step_what(const char *step)
{
	if (strcmp(step, "room") == 0)
		return "room-manager, to create the call's room";
	if (strcmp(step, "token") == 0)
		return "room-manager, for the browser's room token";
	if (strcmp(step, "agent") == 0)
		return "agent-worker, to send an agent into the call";
	return step;
}

void launch_fail_cmd(struct api *api, struct db *db, struct httpd_req *req, const struct launch *l,
		     bool room_created, const char *step, int err, const struct cmd_error *ce)
{
	char code[48], reason[320], why[256], msg[512];
	if (err == EAGAIN) {
		snprintf(code, sizeof(code), "%s_unavailable", step);
		snprintf(msg, sizeof(msg), "The call failed: nothing answered the request to %s; "
			 "check that it is running, then place the call again.", step_what(step));
		launch_fail(api, db, req, l, room_created, 503, code, code, msg);
		return;
	}
	snprintf(code, sizeof(code), "%s_failed", step);
	snprintf(reason, sizeof(reason), "%s: %s: %.180s", code, ce->code, ce->message);
	snprintf(msg, sizeof(msg), "The call failed: the request to %s was refused (%s: %s).",
		 step_what(step), ce->code, api_clause(why, sizeof(why), ce->message));
	launch_fail(api, db, req, l, room_created, 502, code, reason, msg);
}

/* call_queued was not stored: at the limit of pending acks (EBUSY), or
 * NATS did not take it. */
static void queued_failed(struct api *api, struct db *db, struct httpd_req *req,
			  const struct launch *l, bool room_created, int err)
{
	if (err == EBUSY)
		launch_fail(api, db, req, l, room_created, 503, "overloaded",
			    "call_queued_publish_busy",
			    "The call failed: the API is at its limit of call events waiting for "
			    "NATS JetStream to store them; retry in a moment.");
	else
		launch_fail(api, db, req, l, room_created, 503, "nats_unavailable",
			    "call_queued_publish_failed",
			    "The call failed: the message bus (NATS) did not take its call_queued "
			    "event; retry when it is back.");
}

int launch_start(struct api *api, struct db *db, struct httpd_req *req, struct launch *l,
		 cJSON **snapp, char **urlp)
{
	struct cmd_error ce;
	int err;
	*snapp = NULL;
	*urlp = NULL;
	if (launch_init(l)) {
		httpd_reply_error(req, 503, "internal_error", NULL,
				  "The server has no randomness for a call id; retry in a moment.");
		return EIO;
	}
	err = launch_snapshot(snapp, l);
	if (err) {
		if (err == E2BIG)
			httpd_reply_error(
				req, 400, "invalid_field", "metadata",
				"metadata makes the assistant's prompt longer than allowed; "
				"send fewer or shorter values.");
		else
			httpd_reply_error(req, 503, "out_of_memory", NULL,
					  "The server is short of memory; retry in a moment.");
		return err;
	}
	/* Known now, refused now: no row for a call that cannot start. */
	if (!bus_connected(api->bus)) {
		httpd_reply_error(req, 503, "nats_unavailable", NULL,
				  "The message bus (NATS) is unavailable, so no call can start; "
				  "retry when it is back.");
		return EAGAIN;
	}
	err = launch_insert(db, api->cache, l);
	if (err) {
		api_reply_db_error(req, err);
		return err;
	}
	/* call_queued goes out now and is stored while rooms.create runs: its
	 * ack is awaited after the room, not before (one round trip less). The
	 * row is already durable; if the ack fails the call is marked failed
	 * and its room deleted, as when the publish itself fails. Order does
	 * not matter to the persister: a row's status only moves forward. */
	struct bus_js_pub *queued = NULL;
	err = launch_queued(api, l, &queued);
	if (err) {
		queued_failed(api, db, req, l, false, err);
		return err == EBUSY ? EBUSY : EAGAIN;
	}
	err = launch_room(api, l, urlp, &ce);
	int qerr = bus_js_pub_wait(queued);
	queued = bus_js_pub_free(queued);
	if (err) {
		launch_fail_cmd(api, db, req, l, false, "room", err, &ce);
		return err;
	}
	if (qerr) {
		queued_failed(api, db, req, l, true, qerr);
		return EAGAIN;
	}
	return 0;
}
