/* The rooms.* and recordings.* commands (proto/COMMANDS.md), served from
 * worker threads, and call events relayed into LiveKit rooms on the topic
 * "call_events" so browser participants see hold/resume and the rest.
 *
 * Owns the subscriptions, the two work queues and the backend. nats.c's
 * threads only queue (on_command, on_event); ROOM_WORKERS threads serve the
 * commands, one relay thread sends the events in order. */
#include "rooms.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livekit/livekit.h"
#include "workq.h"

#define QUEUE_GROUP   "room-manager"
#define CMD_QUEUE_MAX 1024
#define RELAY_QUEUE_MAX 4096
#define DATA_MAX      15000 /* LiveKit's reliable data packet limit is ~15 KiB */
#define EVENTS_TOPIC  "call_events"

static const char *const relayed_types[] = {
	"call_dialing", "call_ringing", "call_answered", "call_failed", "call_hold",
	"call_resume", "call_dtmf", "call_ended", "agent_ready",
};

static const char *const commands[] = {
	"rooms.create", "rooms.delete", "rooms.send_data", "rooms.token",
	"recordings.start", "recordings.stop", "rooms.join", "rooms.leave",
};

struct rooms {
	const struct room_cfg *cfg;
	struct bus *bus;
	const struct room_backend *be;
	void *be_state;
	struct workq *cmds, *relay;
	struct bus_sub *cmd_subs[CM_ARRAY_LEN(commands)];
	struct bus_sub *relay_sub;
	struct metric *m_cmds, *m_cmd_errors, *m_relayed, *m_relay_errors;
};

static const struct cmd_field create_fields[] = {
	{ "call_id", CMD_UUID, true, 0, 0 },
	{ "room", CMD_NAME, true, 1, EVENT_ROOM_MAX },
	{ "assistant_id", CMD_UUID, false, 0, 0 },
	{ "metadata", CMD_OBJ, false, 0, 0 },
	{ "empty_timeout_s", CMD_INT, false, 0, 86400 },
	{ "max_participants", CMD_INT, false, 0, 1000 },
	{ 0 }
};
static const struct cmd_field delete_fields[] = {
	{ "room", CMD_NAME, true, 1, EVENT_ROOM_MAX },
	{ 0 }
};
static const struct cmd_field send_data_fields[] = {
	{ "room", CMD_NAME, true, 1, EVENT_ROOM_MAX },
	{ "topic", CMD_STR, false, 0, 256 },
	{ "payload", CMD_STR, true, 1, DATA_MAX },
	{ 0 }
};
static const struct cmd_field token_fields[] = {
	{ "room", CMD_NAME, true, 1, EVENT_ROOM_MAX },
	{ "identity", CMD_NAME, true, 1, LIVEKIT_IDENTITY_MAX },
	{ "name", CMD_STR, false, 0, LIVEKIT_IDENTITY_MAX },
	{ "metadata", CMD_STR, false, 0, LIVEKIT_METADATA_MAX },
	{ "ttl_s", CMD_INT, false, 60, LIVEKIT_TTL_MAX_S },
	{ "can_publish", CMD_BOOL, false, 0, 0 },
	{ "can_subscribe", CMD_BOOL, false, 0, 0 },
	{ "can_publish_data", CMD_BOOL, false, 0, 0 },
	{ 0 }
};
static const struct cmd_field rec_start_fields[] = {
	{ "call_id", CMD_UUID, true, 0, 0 },
	{ "room", CMD_NAME, true, 1, EVENT_ROOM_MAX },
	{ 0 }
};
static const struct cmd_field rec_stop_fields[] = {
	{ "call_id", CMD_UUID, true, 0, 0 },
	{ "room", CMD_NAME, true, 1, EVENT_ROOM_MAX },
	{ "recording_id", CMD_STR, false, 1, 127 },
	{ 0 }
};

/* identities of local members are as long as room names at most */
static const struct cmd_field join_fields[] = {
	{ "room", CMD_NAME, true, 1, EVENT_ROOM_MAX },
	{ "identity", CMD_NAME, true, 1, EVENT_ROOM_MAX },
	{ "rtp_addr", CMD_NAME, true, 9, 21 },
	{ 0 }
};
static const struct cmd_field leave_fields[] = {
	{ "room", CMD_NAME, true, 1, EVENT_ROOM_MAX },
	{ "identity", CMD_NAME, true, 1, EVENT_ROOM_MAX },
	{ 0 }
};

/* One command: validate, run on the backend, reply. */
static void serve(const struct workq_job *job, void *arg)
{
	struct rooms *r = arg;
	const struct cmd_field *fields = NULL;
	const char *s = job->subject;
	struct cmd_error e = { 0 };
	cJSON *req = NULL, *out = cJSON_CreateObject();
	int err = 0;

	if (strcmp(s, "rooms.create") == 0)
		fields = create_fields;
	else if (strcmp(s, "rooms.delete") == 0)
		fields = delete_fields;
	else if (strcmp(s, "rooms.send_data") == 0)
		fields = send_data_fields;
	else if (strcmp(s, "rooms.token") == 0)
		fields = token_fields;
	else if (strcmp(s, "recordings.start") == 0)
		fields = rec_start_fields;
	else if (strcmp(s, "recordings.stop") == 0)
		fields = rec_stop_fields;
	else if (strcmp(s, "rooms.join") == 0)
		fields = join_fields;
	else if (strcmp(s, "rooms.leave") == 0)
		fields = leave_fields;
	metric_add(r->m_cmds, 1);
	if (!out) {
		cmd_error_set(&e, "internal", NULL, "out of memory");
		err = ENOMEM;
		goto out;
	}
	if (!fields) {
		cmd_error_set(&e, "invalid_field", NULL, "unknown command %s", s);
		err = EINVAL;
		goto out;
	}
	err = cmd_parse(&req, job->data, job->len, fields, &e);
	if (err)
		goto out;
	const char *room = cmd_str(req, "room");
	const char *call_id = cmd_str(req, "call_id");
	if (fields == create_fields)
		err = r->be->create(r->be_state, out, req, &e);
	else if (fields == delete_fields)
		err = r->be->remove(r->be_state, room, &e);
	else if (fields == send_data_fields)
		err = r->be->send_data(r->be_state, room, cmd_str(req, "topic"),
				       cmd_str(req, "payload"), &e);
	else if (fields == token_fields)
		err = r->be->token(r->be_state, out, req, &e);
	else if (fields == rec_start_fields)
		err = r->be->rec_start(r->be_state, out, call_id, room, &e);
	else if ((fields == join_fields && !r->be->join) ||
		 (fields == leave_fields && !r->be->leave)) {
		cmd_error_set(&e, "unavailable", NULL, "the %s room backend has no %s", r->be->name,
			      s);
		err = EAGAIN;
	} else if (fields == join_fields)
		err = r->be->join(r->be_state, out, req, &e);
	else if (fields == leave_fields)
		err = r->be->leave(r->be_state, room, cmd_str(req, "identity"), &e);
	else
		err = r->be->rec_stop(r->be_state, out, call_id, room, cmd_str(req, "recording_id"),
				      &e);
out:
	if (err) {
		metric_add(r->m_cmd_errors, 1);
		log_warn("command_failed", "%s: %s: %s", s, e.code, e.message);
		cmd_reply_error(r->bus, job->reply, &e);
		cJSON_Delete(out);
	} else {
		log_debug("command_done", "%s", s);
		cmd_reply_ok(r->bus, job->reply, out);
	}
	cJSON_Delete(req);
}

static void on_command(const struct bus_msg *msg, void *arg)
{
	struct rooms *r = arg;
	int err = workq_push(r->cmds, msg->subject, msg->reply, msg->data, (size_t)msg->len);
	if (err) {
		struct cmd_error e;
		cmd_error_set(&e, "unavailable", NULL, "room-manager is busy (%s)",
			      cm_strerror(err));
		cmd_reply_error(r->bus, msg->reply, &e);
	}
}

/* One call event → SendData into its room, in order (one relay thread). */
static void relay(const struct workq_job *job, void *arg)
{
	struct rooms *r = arg;
	struct event *ev = NULL;
	struct cmd_error e = { 0 };
	char why[128] = "";
	if (event_decode(&ev, job->data, job->len, why, sizeof(why))) {
		log_warn("relay_bad_event", "%s: %s", job->subject, why);
		return;
	}
	if (job->len > DATA_MAX) {
		log_warn("relay_too_large", "%s: %zu bytes", job->subject, job->len);
	} else if (r->be->send_data(r->be_state, ev->room, EVENTS_TOPIC, job->data, &e)) {
		metric_add(r->m_relay_errors, 1);
		/* a room that is gone has nobody to tell */
		log_info("relay_failed", "%s room=%s: %s", event_type_name(ev->type), ev->room,
			 e.message);
	} else {
		metric_add(r->m_relayed, 1);
		log_debug("relayed", "%s room=%s", event_type_name(ev->type), ev->room);
	}
	event_free(ev);
}

/* The event type is the last token of calls.<call_id>.<type>. */
static bool is_relayed(const char *subject)
{
	const char *dot = strrchr(subject, '.');
	for (size_t i = 0; dot && i < CM_ARRAY_LEN(relayed_types); i++)
		if (strcmp(dot + 1, relayed_types[i]) == 0)
			return true;
	return false;
}

/* One subscription for every relayed type: nats.c delivers each
 * subscription on its own queue, so per-type subscriptions could hand a
 * call_resume to the room before the call_hold that preceded it. */
static void on_event(const struct bus_msg *msg, void *arg)
{
	struct rooms *r = arg;
	if (!is_relayed(msg->subject))
		return;
	if (workq_push(r->relay, msg->subject, NULL, msg->data, (size_t)msg->len))
		log_warn("relay_dropped", "%s: relay queue full", msg->subject);
}

int rooms_new(struct rooms **rp, const struct room_cfg *cfg, struct service *svc)
{
	struct rooms *r = calloc(1, sizeof(*r));
	int err = 0;
	if (!r)
		return ENOMEM;
	r->cfg = cfg;
	r->bus = service_bus(svc);
	r->m_cmds = metric_counter("room_commands_total", "commands received");
	r->m_cmd_errors = metric_counter("room_command_errors_total", "commands answered ok:false");
	r->m_relayed = metric_counter("room_events_relayed_total", "call events sent into rooms");
	r->m_relay_errors = metric_counter("room_event_relay_errors_total",
					   "call events that could not be sent into rooms");
	bool lk = strcmp(cfg->room_backend, "livekit") == 0;
	r->be = lk ? &backend_livekit : &backend_local;
	err = lk ? backend_livekit_new(&r->be_state, cfg)
		 : backend_local_new(&r->be_state, cfg, r->bus, service_source(svc));
	if (err) {
		log_error("backend_failed", "%s: %s", r->be->name, cm_strerror(err));
		r->be = NULL;
		goto out;
	}
	err = workq_new(&r->cmds, (int)cfg->workers, CMD_QUEUE_MAX, serve, r);
	if (!err && lk)
		err = workq_new(&r->relay, 1, RELAY_QUEUE_MAX, relay, r);
	if (err)
		goto out;
	for (size_t i = 0; i < CM_ARRAY_LEN(commands); i++) {
		err = bus_subscribe(r->bus, &r->cmd_subs[i], commands[i], QUEUE_GROUP, on_command,
				    r);
		if (err) {
			log_error("subscribe_failed", "%s: %s", commands[i], cm_strerror(err));
			goto out;
		}
	}
	if (lk) {
		err = bus_subscribe(r->bus, &r->relay_sub, "calls.>", QUEUE_GROUP, on_event, r);
		if (err) {
			log_error("subscribe_failed", "calls.>: %s", cm_strerror(err));
			goto out;
		}
	}
	log_info("rooms_serving", "backend=%s workers=%ld%s", r->be->name, cfg->workers,
		 lk ? " relaying call events on topic " EVENTS_TOPIC : "");
out:
	if (err)
		r = rooms_free(r);
	*rp = r;
	return err;
}

struct rooms *rooms_free(struct rooms *r)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < CM_ARRAY_LEN(r->cmd_subs); i++)
		r->cmd_subs[i] = bus_unsubscribe(r->cmd_subs[i]);
	r->relay_sub = bus_unsubscribe(r->relay_sub);
	if (r->be && r->be->cancel)
		r->be->cancel(r->be_state);
	r->cmds = workq_free(r->cmds);
	r->relay = workq_free(r->relay);
	if (r->be)
		r->be->free(r->be_state);
	free(r);
	return NULL;
}
