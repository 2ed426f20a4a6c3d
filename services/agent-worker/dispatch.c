/* agents.dispatch (proto/COMMANDS.md): queue group "agent-worker", one
 * session per call, at most max_sessions at once; the reply says which
 * worker took it or why not ({"ok":false,"error":{code,message,field}}). */
#include "agent.h"
#include "command/command.h"
#include "outbox/outbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISPATCH_MAX (256u << 10)

struct session_node {
	struct session_node *next;
	struct session *s;
};

struct agent {
	struct agent_opts opts;
	struct bus_sub *sub;
	pthread_mutex_t mu;
	struct session_node *sessions;
	bool closing;
	struct metric *m_sessions, *m_dispatch, *m_refused;
};

static void reply_json(struct agent *ag, const struct bus_msg *msg, cJSON *j)
{
	char *body = j ? cJSON_PrintUnformatted(j) : NULL;
	if (body && msg->reply && bus_respond(ag->opts.bus, msg, body, strlen(body)) != 0)
		log_warn("dispatch_reply", "cannot reply on %s", msg->reply);
	free(body);
	cJSON_Delete(j);
}

static void reply_error(struct agent *ag, const struct bus_msg *msg, const char *code,
			const char *message, const char *field)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(j, "error");
	cJSON_AddBoolToObject(j, "ok", false);
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", message);
	if (field)
		cJSON_AddStringToObject(e, "field", field);
	metric_add(ag->m_refused, 1);
	log_warn("dispatch_refused", "%s: %s", code, message);
	reply_json(ag, msg, j);
}

static void reply_ok(struct agent *ag, const struct bus_msg *msg)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "ok", true);
	cJSON *d = cJSON_AddObjectToObject(j, "data");
	cJSON_AddStringToObject(d, "worker", ag->opts.source);
	reply_json(ag, msg, j);
}

/* Caller holds ag->mu. */
static int live_sessions(struct agent *ag, const char *call_id, bool *dupp)
{
	int n = 0;
	for (struct session_node *sn = ag->sessions; sn; sn = sn->next) {
		if (session_done(sn->s))
			continue;
		n++;
		if (call_id && strcmp(session_call_id(sn->s), call_id) == 0)
			*dupp = true;
	}
	return n;
}

static void on_dispatch(const struct bus_msg *msg, void *arg)
{
	struct agent *ag = arg;
	char why[160] = "";
	struct session_params p = { 0 };
	cJSON *j = NULL;
	agent_reap(ag);
	if (msg->len <= 0 || (size_t)msg->len > DISPATCH_MAX ||
	    !(j = cJSON_ParseWithLength(msg->data, (size_t)msg->len)) || !cJSON_IsObject(j)) {
		reply_error(ag, msg, "invalid_field", "body: not a JSON object", "body");
		goto out;
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "v");
	const cJSON *call_id = cJSON_GetObjectItemCaseSensitive(j, "call_id");
	const cJSON *room = cJSON_GetObjectItemCaseSensitive(j, "room");
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
	const cJSON *wait = cJSON_GetObjectItemCaseSensitive(j, "wait_for_answer");
	if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
		reply_error(ag, msg, "invalid_field", "v: must be 1", "v");
		goto out;
	}
	if (!cJSON_IsString(call_id) || !id_is_uuid(call_id->valuestring)) {
		reply_error(ag, msg, "invalid_field", "call_id: required UUID", "call_id");
		goto out;
	}
	if (!cJSON_IsString(room) || !room->valuestring[0] ||
	    strlen(room->valuestring) > EVENT_ROOM_MAX) {
		reply_error(ag, msg, "invalid_field", "room: required", "room");
		goto out;
	}
	if (!cJSON_IsString(kind) || (strcmp(kind->valuestring, "web") != 0 &&
				      strcmp(kind->valuestring, "outbound") != 0)) {
		reply_error(ag, msg, "invalid_field", "kind: must be \"web\" or \"outbound\"",
			    "kind");
		goto out;
	}
	if (wait && !cJSON_IsBool(wait)) {
		reply_error(ag, msg, "invalid_field", "wait_for_answer: must be a boolean",
			    "wait_for_answer");
		goto out;
	}
	if (assistant_parse(&p.assistant, cJSON_GetObjectItemCaseSensitive(j, "assistant"), why,
			    sizeof(why))) {
		reply_error(ag, msg, "invalid_field", why[0] ? why : "assistant: invalid",
			    "assistant");
		goto out;
	}
	snprintf(p.call_id, sizeof(p.call_id), "%s", call_id->valuestring);
	snprintf(p.room, sizeof(p.room), "%s", room->valuestring);
	p.web = strcmp(kind->valuestring, "web") == 0;
	p.wait_for_answer = wait ? cJSON_IsTrue(wait) : !p.web;

	pthread_mutex_lock(&ag->mu);
	bool dup = false;
	int n = live_sessions(ag, p.call_id, &dup);
	if (ag->closing || dup || n >= ag->opts.max_sessions) {
		pthread_mutex_unlock(&ag->mu);
		if (dup)
			reply_error(ag, msg, "conflict",
				    "call_id: a session for this call is running", "call_id");
		else
			reply_error(ag, msg, "unavailable", "agent-worker is at capacity", NULL);
		goto out;
	}
	struct session_node *sn = calloc(1, sizeof(*sn));
	why[0] = '\0';
	int err = sn ? session_new(&sn->s, &ag->opts, &p, why, sizeof(why)) : ENOMEM;
	if (!sn)
		p.assistant = assistant_free(p.assistant);
	if (err) {
		pthread_mutex_unlock(&ag->mu);
		free(sn);
		char message[260];
		snprintf(message, sizeof(message), "the agent cannot start the session: %s",
			 why[0] ? why : cm_strerror(err));
		reply_error(ag, msg, why[0] ? "room_unavailable" : "internal", message, NULL);
		goto out;
	}
	sn->next = ag->sessions;
	ag->sessions = sn;
	metric_set(ag->m_sessions, n + 1);
	pthread_mutex_unlock(&ag->mu);
	metric_add(ag->m_dispatch, 1);
	reply_ok(ag, msg);
out:
	assistant_free(p.assistant);
	cJSON_Delete(j);
}

int agent_new(struct agent **agentp, const struct agent_opts *opts)
{
	struct agent *ag = calloc(1, sizeof(*ag));
	if (!ag)
		return ENOMEM;
	ag->opts = *opts;
	int err = outbox_new(&ag->opts.outbox, opts->bus, "aw-outbox",
			     "agent_publish_failed_total");
	if (err) {
		free(ag);
		return err;
	}
	pthread_mutex_init(&ag->mu, NULL);
	ag->m_sessions = metric_gauge("agent_sessions", "agent sessions running");
	ag->m_dispatch = metric_counter("agent_dispatches_total", "dispatches taken");
	ag->m_refused = metric_counter("agent_dispatches_refused_total", "dispatches refused");
	err = bus_subscribe(opts->bus, &ag->sub, "agents.dispatch", "agent-worker", on_dispatch,
			    ag);
	if (err) {
		log_error("dispatch_subscribe", "agents.dispatch: %s", cm_strerror(err));
		ag->opts.outbox = outbox_free(ag->opts.outbox);
		pthread_mutex_destroy(&ag->mu);
		free(ag);
		return err;
	}
	*agentp = ag;
	return 0;
}

int agent_sessions(struct agent *ag)
{
	pthread_mutex_lock(&ag->mu);
	int n = live_sessions(ag, NULL, NULL);
	pthread_mutex_unlock(&ag->mu);
	return n;
}

int agent_session_state(struct agent *ag, const char *call_id, enum session_state *statep)
{
	int err = ENOENT;
	pthread_mutex_lock(&ag->mu);
	for (struct session_node *sn = ag->sessions; sn; sn = sn->next) {
		if (strcmp(session_call_id(sn->s), call_id) == 0) {
			*statep = session_done(sn->s) ? SESSION_ENDED : session_state(sn->s);
			err = 0;
			break;
		}
	}
	pthread_mutex_unlock(&ag->mu);
	return err;
}

void agent_reap(struct agent *ag)
{
	struct session_node *done = NULL;
	pthread_mutex_lock(&ag->mu);
	for (struct session_node **pp = &ag->sessions; *pp;) {
		struct session_node *sn = *pp;
		if (session_done(sn->s)) {
			*pp = sn->next;
			sn->next = done;
			done = sn;
		} else {
			pp = &sn->next;
		}
	}
	metric_set(ag->m_sessions, live_sessions(ag, NULL, NULL));
	pthread_mutex_unlock(&ag->mu);
	while (done) {
		struct session_node *sn = done;
		done = sn->next;
		session_free(sn->s);
		free(sn);
	}
}

/* owners.heartbeat for the calls this worker owns: its web calls (an
 * outbound call's leg is owned by sip-bridge or twilio-dialer, which list
 * it). Without it a web call whose agent-worker dies is never ended. */
void agent_heartbeat(struct agent *ag)
{
	const char **ids = NULL;
	size_t n = 0, cap = 0;
	pthread_mutex_lock(&ag->mu);
	for (struct session_node *sn = ag->sessions; sn; sn = sn->next)
		cap++;
	ids = cap ? calloc(cap, sizeof(*ids)) : NULL;
	for (struct session_node *sn = ag->sessions; ids && sn; sn = sn->next)
		if (!session_done(sn->s) && session_web(sn->s))
			ids[n++] = session_call_id(sn->s);
	char *json = cmd_heartbeat_json(ag->opts.source, ids, n, 0);
	pthread_mutex_unlock(&ag->mu);
	if (json && bus_publish(ag->opts.bus, "owners.heartbeat", json, strlen(json)) != 0)
		log_debug("heartbeat_failed", "owners.heartbeat not published");
	free(json);
	free(ids);
}

struct agent *agent_free(struct agent *ag)
{
	if (!ag)
		return NULL;
	ag->sub = bus_unsubscribe(ag->sub);
	pthread_mutex_lock(&ag->mu);
	ag->closing = true;
	struct session_node *list = ag->sessions;
	ag->sessions = NULL;
	pthread_mutex_unlock(&ag->mu);
	for (struct session_node *sn = list; sn; sn = sn->next)
		if (!session_done(sn->s))
			session_stop(sn->s, "shutdown");
	while (list) {
		struct session_node *sn = list;
		list = sn->next;
		session_free(sn->s);
		free(sn);
	}
	ag->opts.outbox = outbox_free(ag->opts.outbox); /* sends what the sessions queued */
	pthread_mutex_destroy(&ag->mu);
	free(ag);
	return NULL;
}
