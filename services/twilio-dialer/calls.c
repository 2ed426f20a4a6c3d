/* One thread per owned call: CreateSIPParticipant (waiting until answered),
 * the outcome as call events, then the answered call until it is hung up
 * here (RemoveParticipant → call_ended) or ended elsewhere. */
#include "calls.h"
#include "job.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command/command.h"
#include "event/event.h"
#include "outbox/outbox.h"

#define SIP_SVC  "livekit.SIP"
#define ROOM_SVC "livekit.RoomService"
/* After max_duration_s LiveKit hangs up itself; we let go a little later. */
#define MAX_DURATION_GRACE_S 30

enum call_state { CALL_ST_DIALING, CALL_ST_ANSWERED };

/* A call this process owns, from its dial job until it ends. Guarded by
 * calls.lock; freed by its own thread. */
struct call {
	struct twilio_calls *cs;
	struct twilio_job job; /* what the dial job asked for */
	enum call_state state;
	bool hangup;            /* cmd.calls.<id>.hangup received */
	char hangup_reason[64];
	bool ended_elsewhere;   /* a call_ended/call_failed from another source */
	int64_t answered_ms;    /* monotonic */
	pthread_cond_t cond;
	struct call *next;
};

struct twilio_calls {
	const struct dialer_cfg *cfg;
	struct livekit *lk;
	struct bus *bus;
	struct outbox *ob;           /* the calls' events, in order */
	const char *source;
	pthread_mutex_t lock;
	pthread_cond_t changed;      /* a call ended or a thread finished */
	struct call *list;
	long ncalls;
	long nthreads;               /* call + cancel threads running */
	bool stopping;
	struct metric *m_jobs, *m_answered, *m_failed, *m_active, *m_hangups;
};

/* ---- events --------------------------------------------------------------- */

/* Queues *evp on the outbox (which retries it while NATS is away) and
 * takes it: *evp is NULL after. */
static void publish(struct call *c, struct event **evp)
{
	log_info("event", "call_id=%s %s", c->job.call_id, event_type_name((*evp)->type));
	outbox_event(c->cs->ob, *evp);
	*evp = NULL;
}

static struct event *new_event(struct call *c, enum event_type type)
{
	struct event *ev = NULL;
	if (event_new(&ev, type, c->job.call_id, c->job.room, c->cs->source)) {
		log_error("event_new_failed", "call_id=%s %s", c->job.call_id,
			  event_type_name(type));
		return NULL;
	}
	return ev;
}

static void publish_failed(struct call *c, enum call_status st, int sip_code, const char *reason)
{
	struct event *ev = new_event(c, EV_CALL_FAILED);
	if (!ev)
		return;
	int err = event_set_str(ev, "status", call_status_name(st));
	if (!err && sip_code >= 100 && sip_code <= 699)
		err = event_set_int(ev, "sip_code", sip_code);
	if (!err && reason && *reason)
		err = event_set_str(ev, "sip_reason", reason);
	if (!err)
		publish(c, &ev);
	metric_add(c->cs->m_failed, 1);
	log_info("call_failed", "call_id=%s status=%s sip_code=%d reason=%s", c->job.call_id,
		 call_status_name(st), sip_code, reason ? reason : "");
	event_free(ev);
}

/* A job taken after its dial_by: never dialed (the person is not called
 * late); the call ends failed, not_dialed. */
static void publish_not_dialed(struct call *c, int64_t now_ms)
{
	struct event *ev = new_event(c, EV_CALL_FAILED);
	int64_t waited = c->job.created_ms ? now_ms - c->job.created_ms : -1;
	log_warn("dial_job_expired", "call_id=%s: dial_by passed %lld ms ago; not dialing",
		 c->job.call_id, (long long)(now_ms - c->job.dial_by_ms));
	if (ev && event_set_not_dialed(ev, waited) == 0)
		publish(c, &ev);
	metric_add(c->cs->m_failed, 1);
	event_free(ev);
}

/* ---- the call table ------------------------------------------------------- */

int twilio_calls_new(struct twilio_calls **csp, const struct dialer_cfg *cfg, struct livekit *lk,
	      struct bus *bus, const char *source)
{
	struct twilio_calls *cs = calloc(1, sizeof(*cs));
	if (!cs)
		return ENOMEM;
	cs->cfg = cfg;
	cs->lk = lk;
	cs->bus = bus;
	cs->source = source;
	int err = outbox_new(&cs->ob, bus, "td-outbox", "dial_publish_failed_total");
	if (err) {
		free(cs);
		return err;
	}
	pthread_mutex_init(&cs->lock, NULL);
	pthread_cond_init(&cs->changed, NULL);
	cs->m_jobs = metric_counter("dial_jobs_total", "dial.twilio jobs taken");
	cs->m_answered = metric_counter("dial_answered_total", "calls answered");
	cs->m_failed = metric_counter("dial_failed_total", "calls that failed");
	cs->m_hangups = metric_counter("dial_hangups_total", "hangup commands acted on");
	cs->m_active = metric_gauge("dial_calls_active", "calls owned now");
	*csp = cs;
	return 0;
}

long twilio_calls_room(struct twilio_calls *cs, int wait_ms)
{
	pthread_mutex_lock(&cs->lock);
	long room = cs->cfg->max_calls - cs->ncalls;
	if (room <= 0 && !cs->stopping) {
		/* full: wait for a call to end */
		struct timespec ts;
		time_deadline(&ts, CLOCK_REALTIME, wait_ms);
		pthread_cond_timedwait(&cs->changed, &cs->lock, &ts);
	}
	if (cs->stopping)
		room = -1;
	pthread_mutex_unlock(&cs->lock);
	return room;
}

void twilio_calls_stop(struct twilio_calls *cs)
{
	pthread_mutex_lock(&cs->lock);
	cs->stopping = true;
	pthread_cond_broadcast(&cs->changed);
	for (struct call *c = cs->list; c; c = c->next)
		pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&cs->lock);
}

long twilio_calls_wait(struct twilio_calls *cs, int64_t deadline_ms)
{
	pthread_mutex_lock(&cs->lock);
	while (cs->nthreads > 0 && time_mono_ms() < deadline_ms) {
		struct timespec ts;
		time_deadline(&ts, CLOCK_REALTIME, 100);
		pthread_cond_timedwait(&cs->changed, &cs->lock, &ts);
	}
	long left = cs->nthreads;
	pthread_mutex_unlock(&cs->lock);
	return left;
}

struct twilio_calls *twilio_calls_free(struct twilio_calls *cs)
{
	if (!cs)
		return NULL;
	cs->ob = outbox_free(cs->ob); /* sends what the calls queued */
	pthread_cond_destroy(&cs->changed);
	pthread_mutex_destroy(&cs->lock);
	free(cs);
	return NULL;
}

static struct call *find_locked(struct twilio_calls *cs, const char *call_id)
{
	for (struct call *c = cs->list; c; c = c->next)
		if (strcmp(c->job.call_id, call_id) == 0)
			return c;
	return NULL;
}

static void unlink_call(struct call *c)
{
	struct twilio_calls *cs = c->cs;
	pthread_mutex_lock(&cs->lock);
	for (struct call **pp = &cs->list; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			cs->ncalls--;
			break;
		}
	}
	metric_set(cs->m_active, cs->ncalls);
	cs->nthreads--;
	pthread_cond_broadcast(&cs->changed);
	pthread_mutex_unlock(&cs->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}

int twilio_calls_owned(struct twilio_calls *cs, const char ***idsp, size_t *np)
{
	pthread_mutex_lock(&cs->lock);
	size_t n = (size_t)cs->ncalls;
	const char **ids = malloc(n * (sizeof(*ids) + ID_UUID_LEN + 1) + 1);
	char *id = ids ? (char *)(ids + n) : NULL;
	size_t i = 0;
	for (struct call *c = cs->list; ids && c && i < n;
	     c = c->next, i++, id += ID_UUID_LEN + 1) {
		memcpy(id, c->job.call_id, ID_UUID_LEN + 1);
		ids[i] = id;
	}
	pthread_mutex_unlock(&cs->lock);
	if (!ids)
		return ENOMEM;
	*idsp = ids;
	*np = i;
	return 0;
}

/* ---- LiveKit calls ----------------------------------------------------------- */

static cJSON *sip_request(const struct call *c)
{
	char ring[32], maxd[32], meta[128];
	snprintf(ring, sizeof(ring), "%lds", c->job.ring_timeout_s);
	snprintf(maxd, sizeof(maxd), "%lds", c->job.max_duration_s);
	snprintf(meta, sizeof(meta), "{\"call_id\":\"%s\"}", c->job.call_id);
	cJSON *r = cJSON_CreateObject();
	if (r && cJSON_AddStringToObject(r, "sip_trunk_id", c->job.trunk_id) &&
	    cJSON_AddStringToObject(r, "sip_call_to", c->job.to) &&
	    cJSON_AddStringToObject(r, "sip_number", c->job.from) &&
	    cJSON_AddStringToObject(r, "room_name", c->job.room) &&
	    cJSON_AddStringToObject(r, "participant_identity", c->job.identity) &&
	    cJSON_AddStringToObject(r, "participant_name", c->job.to) &&
	    cJSON_AddStringToObject(r, "participant_metadata", meta) &&
	    cJSON_AddTrueToObject(r, "wait_until_answered") &&
	    cJSON_AddStringToObject(r, "ringing_timeout", ring) &&
	    cJSON_AddStringToObject(r, "max_call_duration", maxd) &&
	    cJSON_AddBoolToObject(r, "krisp_enabled", c->job.krisp))
		return r;
	cJSON_Delete(r);
	return NULL;
}

/* RemoveParticipant for the call's SIP participant: hangs the leg up. 0,
 * ENOENT when LiveKit no longer has it, or an error. */
static int remove_participant(struct twilio_calls *cs, const char *room, const char *identity)
{
	const struct livekit_grants g = { .room_admin = true, .room = room };
	struct livekit_error e;
	cJSON *req = cJSON_CreateObject(), *resp = NULL;
	int err = ENOMEM;
	if (req && cJSON_AddStringToObject(req, "room", room) &&
	    cJSON_AddStringToObject(req, "identity", identity))
		err = livekit_twirp(cs->lk, &resp, ROOM_SVC, "RemoveParticipant", req, &g,
				    cs->cfg->livekit_timeout_ms, &e);
	if (err == EIO && strcmp(e.code, "not_found") == 0)
		err = ENOENT;
	else if (err)
		log_warn("remove_participant_failed", "room=%s identity=%s: %s %s", room, identity,
			 err == EIO ? e.code : cm_strerror(err), err == EIO ? e.msg : "");
	cJSON_Delete(req);
	cJSON_Delete(resp);
	return err;
}

static long dial_timeout_ms(const struct call *c)
{
	long s = c->cs->cfg->sip_dial_timeout_s;
	if (s <= 0) /* LiveKit waits up to the ringing timeout (80 s by default) */
		s = (c->job.ring_timeout_s > 80 ? c->job.ring_timeout_s : 80) + 20;
	return s * 1000;
}

/* CreateSIPParticipant, retried only while the request certainly never
 * reached LiveKit (connection refused): never two calls to one person. */
static int dial(struct call *c, cJSON **respp, struct livekit_error *e)
{
	const struct livekit_grants g = { .sip_call = true };
	struct twilio_calls *cs = c->cs;
	cJSON *req = sip_request(c);
	int err = ENOMEM;
	if (!req)
		return err;
	for (long attempt = 1; attempt <= cs->cfg->dial_attempts; attempt++) {
		err = livekit_twirp(cs->lk, respp, SIP_SVC, "CreateSIPParticipant", req, &g,
				    dial_timeout_ms(c), e);
		if (err != ECONNREFUSED || attempt == cs->cfg->dial_attempts)
			break;
		pthread_mutex_lock(&cs->lock);
		bool give_up = c->hangup || cs->stopping;
		pthread_mutex_unlock(&cs->lock);
		if (give_up)
			break;
		log_warn("dial_retry", "call_id=%s attempt %ld: LiveKit refused the connection",
			 c->job.call_id, attempt);
		if (lifecycle_wait((int)(cs->cfg->dial_backoff_ms * attempt)))
			break;
	}
	cJSON_Delete(req);
	return err;
}

/* The outcome of a failed dial as call_failed. */
static void dial_failed(struct call *c, int err, const struct livekit_error *e, bool hung_up)
{
	char reason[400];
	if (err == EIO && e->sip_status_code) {
		snprintf(reason, sizeof(reason), "%s", e->sip_status[0] ? e->sip_status : e->msg);
		publish_failed(c, call_status_from_sip(e->sip_status_code), e->sip_status_code,
			       reason);
		return;
	}
	if (hung_up) {
		publish_failed(c, CALL_CANCELLED, 0, c->hangup_reason);
		return;
	}
	switch (err) {
	case EIO:
		snprintf(reason, sizeof(reason), "livekit %s: %s", e->code[0] ? e->code : "error",
			 e->msg);
		publish_failed(c, CALL_FAILED, 0, reason);
		break;
	case ETIMEDOUT:
		snprintf(reason, sizeof(reason), "no answer from LiveKit within %ld s",
			 dial_timeout_ms(c) / 1000);
		publish_failed(c, CALL_TIMEOUT, 0, reason);
		break;
	case ECONNREFUSED:
		publish_failed(c, CALL_FAILED, 0, "livekit unreachable");
		break;
	default:
		snprintf(reason, sizeof(reason), "livekit: %s", cm_strerror(err));
		publish_failed(c, CALL_FAILED, 0, reason);
		break;
	}
}

static void publish_answered(struct call *c, const cJSON *resp)
{
	const cJSON *sip_call_id = cJSON_GetObjectItemCaseSensitive(resp, "sip_call_id");
	const cJSON *identity = cJSON_GetObjectItemCaseSensitive(resp, "participant_identity");
	struct event *ev = new_event(c, EV_CALL_ANSWERED);
	if (!ev)
		return;
	int err = event_set_str(ev, "participant_identity",
				cJSON_IsString(identity) && *identity->valuestring
					? identity->valuestring : c->job.identity);
	if (!err && cJSON_IsString(sip_call_id) && *sip_call_id->valuestring)
		err = event_set_str(ev, "sip_call_id", sip_call_id->valuestring);
	if (!err)
		publish(c, &ev);
	metric_add(c->cs->m_answered, 1);
	event_free(ev);
}

static void publish_ended(struct call *c, const char *reason, const char *by)
{
	struct event *ev = new_event(c, EV_CALL_ENDED);
	if (!ev)
		return;
	int64_t dur = time_mono_ms() - c->answered_ms;
	if (!event_set_str(ev, "reason", reason && *reason ? reason : "hangup") &&
	    !event_set_str(ev, "by", by) && !event_set_int(ev, "duration_ms", dur < 0 ? 0 : dur))
		publish(c, &ev);
	event_free(ev);
}

/* The answered call: until hung up here, ended elsewhere, LiveKit's max
 * duration or shutdown. */
static void hold_answered(struct call *c)
{
	struct twilio_calls *cs = c->cs;
	int64_t give_up = c->answered_ms + (c->job.max_duration_s + MAX_DURATION_GRACE_S) * 1000;
	pthread_mutex_lock(&cs->lock);
	for (;;) {
		while (!c->hangup && !c->ended_elsewhere && !cs->stopping &&
		       time_mono_ms() < give_up) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&c->cond, &cs->lock, &ts);
		}
		if (!c->hangup || c->ended_elsewhere || cs->stopping)
			break;
		pthread_mutex_unlock(&cs->lock);
		int err = remove_participant(cs, c->job.room, c->job.identity);
		pthread_mutex_lock(&cs->lock);
		if (err == 0 || err == ENOENT) {
			pthread_mutex_unlock(&cs->lock);
			publish_ended(c, c->hangup_reason, "local");
			pthread_mutex_lock(&cs->lock);
			break;
		}
		/* still up: a later hangup command tries again */
		c->hangup = false;
	}
	if (!c->hangup && !c->ended_elsewhere && !cs->stopping)
		log_info("call_released", "call_id=%s: past max_duration_s, LiveKit ends it",
			 c->job.call_id);
	pthread_mutex_unlock(&cs->lock);
}

static void *call_thread(void *arg)
{
	struct call *c = arg;
	struct twilio_calls *cs = c->cs;
	struct livekit_error e = { 0 };
	cJSON *resp = NULL;

	struct event *ev = new_event(c, EV_CALL_DIALING);
	if (ev && !event_set_str(ev, "provider", "twilio"))
		publish(c, &ev);
	ev = event_free(ev);

	int err = dial(c, &resp, &e);
	pthread_mutex_lock(&cs->lock);
	bool hung_up = c->hangup, stopping = cs->stopping;
	if (!err)
		c->state = CALL_ST_ANSWERED;
	pthread_mutex_unlock(&cs->lock);

	if (err == ECANCELED || (err && stopping)) {
		/* shutting down: the outcome is unknown; the owner liveness rule ends it */
		log_warn("dial_abandoned", "call_id=%s: stopping", c->job.call_id);
	} else if (err) {
		/* the outcome is unknown after a timeout or a broken reply: make sure no
		 * leg is left ringing */
		if (err == ETIMEDOUT ||
		    (err == EIO &&
		     (e.http_status == 0 || (e.http_status >= 200 && e.http_status < 300))))
			(void)remove_participant(cs, c->job.room, c->job.identity);
		dial_failed(c, err, &e, hung_up);
	} else {
		c->answered_ms = time_mono_ms();
		publish_answered(c, resp);
		hold_answered(c);
	}
	cJSON_Delete(resp);
	unlink_call(c);
	return NULL;
}

/* ---- jobs -------------------------------------------------------------------- */

void twilio_calls_take_job(struct twilio_calls *cs, const char *data, size_t len)
{
	struct cmd_error e = { 0 };
	char call_id[ID_UUID_LEN + 1] = "", room[EVENT_ROOM_MAX + 1] = "";
	struct call *c = calloc(1, sizeof(*c));
	pthread_attr_t attr;
	pthread_t tid;
	metric_add(cs->m_jobs, 1);
	if (!c) {
		log_error("job_dropped", "out of memory");
		return;
	}
	c->cs = cs;
	int err = twilio_job_parse(&c->job, data, len, &e, call_id, room);
	if (!err) {
		pthread_mutex_lock(&cs->lock);
		if (find_locked(cs, c->job.call_id)) {
			cmd_error_set(&e, "conflict", "call_id", "call %s is already being dialed",
				      c->job.call_id);
			err = EEXIST;
		}
		pthread_mutex_unlock(&cs->lock);
	}
	int64_t now = time_now_ms();
	if (!err && c->job.dial_by_ms && now > c->job.dial_by_ms) {
		publish_not_dialed(c, now);
		free(c);
		return;
	}
	if (err) {
		log_error("bad_dial_job", "call_id=%s: %s", call_id[0] ? call_id : "?", e.message);
		if (call_id[0] && err != EEXIST) {
			struct call tmp = { .cs = cs };
			snprintf(tmp.job.call_id, sizeof(tmp.job.call_id), "%s", call_id);
			snprintf(tmp.job.room, sizeof(tmp.job.room), "%s",
				 room[0] ? room : "unknown");
			char reason[300];
			snprintf(reason, sizeof(reason), "invalid dial job: %s", e.message);
			publish_failed(&tmp, CALL_FAILED, 0, reason);
		}
		free(c);
		return;
	}
	pthread_cond_init(&c->cond, NULL);
	pthread_mutex_lock(&cs->lock);
	c->next = cs->list;
	cs->list = c;
	cs->ncalls++;
	cs->nthreads++;
	metric_set(cs->m_active, cs->ncalls);
	pthread_mutex_unlock(&cs->lock);
	log_info("dialing", "call_id=%s to=%s trunk=%s", c->job.call_id, c->job.to,
		 c->job.trunk_id);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&tid, &attr, call_thread, c);
	pthread_attr_destroy(&attr);
	if (err) {
		log_error("call_thread_failed", "call_id=%s: %s", c->job.call_id, strerror(err));
		publish_failed(c, CALL_FAILED, 0, "dialer out of threads");
		unlink_call(c);
	}
}

/* ---- hangups ----------------------------------------------------------------- */

struct cancel {
	struct twilio_calls *cs;
	char room[EVENT_ROOM_MAX + 1];
	char identity[LIVEKIT_IDENTITY_MAX + 1];
};

/* A hangup while the call still rings: remove the SIP participant so that
 * LiveKit cancels the INVITE; CreateSIPParticipant then returns an error. */
static void *cancel_thread(void *arg)
{
	struct cancel *k = arg;
	struct twilio_calls *cs = k->cs;
	(void)remove_participant(cs, k->room, k->identity);
	free(k);
	pthread_mutex_lock(&cs->lock);
	cs->nthreads--;
	pthread_cond_broadcast(&cs->changed);
	pthread_mutex_unlock(&cs->lock);
	return NULL;
}

/* Runs cancel_thread(k) (NULL: nothing), counted in nthreads already. */
static void spawn_cancel(struct twilio_calls *cs, struct cancel *k)
{
	if (!k)
		return;
	pthread_t tid;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &attr, cancel_thread, k) != 0) {
		free(k);
		pthread_mutex_lock(&cs->lock);
		cs->nthreads--;
		pthread_mutex_unlock(&cs->lock);
	}
	pthread_attr_destroy(&attr);
}

void twilio_calls_on_hangup(const struct bus_msg *msg, void *arg)
{
	struct twilio_calls *cs = arg;
	char id[ID_UUID_LEN + 1];
	struct cancel *k = NULL;
	if (cmd_subject_call_id(id, sizeof(id), msg->subject))
		return;
	cJSON *body = cJSON_ParseWithLength(msg->data, (size_t)msg->len);
	const char *reason = cmd_str(body, "reason");
	pthread_mutex_lock(&cs->lock);
	struct call *c = find_locked(cs, id);
	if (c && !c->hangup && !cs->stopping) {
		c->hangup = true;
		snprintf(c->hangup_reason, sizeof(c->hangup_reason), "%s",
			 reason && *reason ? reason : "hangup");
		pthread_cond_broadcast(&c->cond);
		if (c->state == CALL_ST_DIALING && (k = calloc(1, sizeof(*k)))) {
			k->cs = cs;
			snprintf(k->room, sizeof(k->room), "%s", c->job.room);
			snprintf(k->identity, sizeof(k->identity), "%s", c->job.identity);
			cs->nthreads++;
		}
		metric_add(cs->m_hangups, 1);
		log_info("hangup", "call_id=%s reason=%s", id, c->hangup_reason);
	}
	pthread_mutex_unlock(&cs->lock);
	cJSON_Delete(body);
	spawn_cancel(cs, k);
}

void twilio_calls_on_ended(const struct bus_msg *msg, void *arg)
{
	struct twilio_calls *cs = arg;
	char id[ID_UUID_LEN + 1];
	if (cmd_subject_call_id(id, sizeof(id), msg->subject))
		return;
	pthread_mutex_lock(&cs->lock);
	struct call *c = find_locked(cs, id);
	pthread_mutex_unlock(&cs->lock);
	if (!c)
		return;
	struct event *ev = NULL;
	if (event_decode(&ev, msg->data, (size_t)msg->len, NULL, 0))
		return;
	bool ours = strcmp(ev->source, cs->source) == 0;
	event_free(ev);
	if (ours)
		return;
	struct cancel *k = NULL;
	pthread_mutex_lock(&cs->lock);
	c = find_locked(cs, id); /* may have ended meanwhile */
	if (c && c->state == CALL_ST_DIALING && !c->hangup && !cs->stopping) {
		/* failed elsewhere (owner_lost, not_dialed) while it rings: cancel
		 * the INVITE as a hangup does; answered meanwhile, it is hung up */
		c->hangup = true;
		snprintf(c->hangup_reason, sizeof(c->hangup_reason), "ended_elsewhere");
		if ((k = calloc(1, sizeof(*k)))) {
			k->cs = cs;
			snprintf(k->room, sizeof(k->room), "%s", c->job.room);
			snprintf(k->identity, sizeof(k->identity), "%s", c->job.identity);
			cs->nthreads++;
		}
		log_info("call_ended_elsewhere", "call_id=%s while ringing: cancelling", id);
	} else if (c && c->state == CALL_ST_ANSWERED) {
		c->ended_elsewhere = true;
		pthread_cond_broadcast(&c->cond);
		log_info("call_ended_elsewhere", "call_id=%s", id);
	}
	pthread_mutex_unlock(&cs->lock);
	spawn_cancel(cs, k);
}
