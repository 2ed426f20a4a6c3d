/* twilio-dialer against a real nats-server and the strict fake LiveKit: the
 * CreateSIPParticipant request and its grant, answer, every SIP failure
 * status, timeout, connection refused, hangup (answered and ringing), the
 * concurrency cap, owner heartbeats and sip.trunks.create. */
#include "bus/bus.h"
#include "core/core.h"
#include "harness/test.h"
#include "livekit/fake.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#define KEY    "devkey"
#define SECRET "devsecret-0123456789-0123456789-0123456789"
#define EVENTS_MAX 512

struct env {
	struct test_nats nats;
	struct fake_lk lk;
	struct bus *bus;
	struct bus_sub *events_sub, *hb_sub;
	int pid;
	char *logdir;
	char e_nats[96], e_health[64], e_url[96], e_max[32];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *events[EVENTS_MAX]; /* every calls.> message and heartbeat, in order */
	int nevents;
};

static void on_msg(const struct bus_msg *msg, void *arg)
{
	struct env *v = arg;
	char *copy = malloc((size_t)msg->len + 1);
	if (!copy)
		return;
	memcpy(copy, msg->data, (size_t)msg->len);
	copy[msg->len] = '\0';
	pthread_mutex_lock(&v->lock);
	if (v->nevents < EVENTS_MAX)
		v->events[v->nevents++] = copy;
	else
		free(copy);
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static int env_start(struct env *v, const char *max_calls, bool dead_livekit)
{
	char bin[256], log[512], ready[96];
	int health = test_free_port();
	memset(v, 0, sizeof(*v));
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	v->logdir = test_tmpdir("twilio-dialer");
	if (!v->logdir || test_nats_start(&v->nats))
		return EIO;
	int err = fake_lk_start(&v->lk, KEY, SECRET, v->logdir);
	if (err)
		return err;
	snprintf(v->e_nats, sizeof(v->e_nats), "NATS_URL=%s", v->nats.url);
	snprintf(v->e_health, sizeof(v->e_health), "HEALTH_ADDR=127.0.0.1:%d", health);
	if (dead_livekit)
		snprintf(v->e_url, sizeof(v->e_url), "LIVEKIT_URL=http://127.0.0.1:%d",
			 test_free_port());
	else
		snprintf(v->e_url, sizeof(v->e_url), "LIVEKIT_URL=%s", v->lk.url);
	snprintf(v->e_max, sizeof(v->e_max), "MAX_CALLS=%s", max_calls);
	snprintf(log, sizeof(log), "%s/twilio-dialer.log", v->logdir);
	const char *argv[] = { test_bin(bin, sizeof(bin), "twilio-dialer"), NULL };
	const char *envp[] = { v->e_nats,
			       v->e_health,
			       v->e_url,
			       v->e_max,
			       "LIVEKIT_API_KEY=" KEY,
			       "LIVEKIT_API_SECRET=" SECRET,
			       "SIP_DIAL_TIMEOUT_S=2",
			       "LIVEKIT_TIMEOUT_MS=2000",
			       "DIAL_RETRY_BACKOFF_MS=50",
			       "LOG_FORMAT=kv",
			       "LOG_LEVEL=debug",
			       NULL };
	err = bus_connect(&v->bus, v->nats.url, "test-twilio-dialer");
	for (int i = 0; !err && i < 500 && !bus_connected(v->bus); i++)
		lifecycle_wait(10);
	if (!err)
		err = bus_ensure_streams(v->bus);
	if (!err)
		err = bus_subscribe(v->bus, &v->events_sub, "calls.>", NULL, on_msg, v);
	if (!err)
		err = bus_subscribe(v->bus, &v->hb_sub, "owners.heartbeat", NULL, on_msg, v);
	if (!err)
		err = test_spawn(&v->pid, argv, envp, log);
	snprintf(ready, sizeof(ready), "http://127.0.0.1:%d/readyz", health);
	if (!err)
		err = test_http_wait(ready, 200, 20000);
	if (err)
		printf("    twilio-dialer did not start (logs in %s)\n", v->logdir);
	return err;
}

static int env_stop(struct env *v, int failed)
{
	int code = -1;
	if (v->pid > 0) {
		kill(v->pid, SIGTERM);
		if (test_wait_exit(v->pid, 10000, &code) || code != 0) {
			printf("    twilio-dialer exit %d on SIGTERM\n", code);
			test_kill(v->pid);
			failed = 1;
		}
	}
	v->events_sub = bus_unsubscribe(v->events_sub);
	v->hb_sub = bus_unsubscribe(v->hb_sub);
	v->bus = bus_close(v->bus);
	fake_lk_stop(&v->lk);
	test_nats_destroy(&v->nats);
	for (int i = 0; i < v->nevents; i++)
		free(v->events[i]);
	if (failed)
		printf("    logs kept in %s\n", v->logdir);
	else
		test_rmtree(v->logdir);
	free(v->logdir);
	pthread_cond_destroy(&v->cond);
	pthread_mutex_destroy(&v->lock);
	return failed;
}

/* Waits for the first event of `type` for `call_id`; caller cJSON_Delete. */
static cJSON *wait_event(struct env *v, const char *call_id, const char *type, int timeout_ms)
{
	int64_t deadline = time_mono_ms() + timeout_ms;
	cJSON *found = NULL;
	pthread_mutex_lock(&v->lock);
	for (int seen = 0; !found;) {
		for (; seen < v->nevents && !found; seen++) {
			cJSON *e = cJSON_Parse(v->events[seen]);
			if (e && fake_lk_str(e, "type") &&
			    strcmp(fake_lk_str(e, "type"), type) == 0 &&
			    strcmp(fake_lk_str(e, "call_id"), call_id) == 0)
				found = e;
			else
				cJSON_Delete(e);
		}
		if (found || time_mono_ms() >= deadline)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&v->cond, &v->lock, &ts);
	}
	pthread_mutex_unlock(&v->lock);
	return found;
}

/* Waits for a heartbeat that lists (or, listed=false, no longer lists) call_id. */
static int wait_heartbeat(struct env *v, const char *call_id, bool listed, int timeout_ms)
{
	int64_t deadline = time_mono_ms() + timeout_ms;
	int start;
	pthread_mutex_lock(&v->lock);
	start = v->nevents; /* only heartbeats from now on */
	for (int seen = start;;) {
		for (; seen < v->nevents; seen++) {
			cJSON *e = cJSON_Parse(v->events[seen]);
			const cJSON *calls = cJSON_GetObjectItemCaseSensitive(e, "calls");
			bool has = false;
			const cJSON *c;
			cJSON_ArrayForEach(c, calls) has =
				has || (cJSON_IsString(c) && strcmp(c->valuestring, call_id) == 0);
			bool hb = cJSON_IsArray(calls) && fake_lk_num(e, "v") == 1 &&
				  fake_lk_str(e, "source") && fake_lk_str(e, "ts");
			cJSON_Delete(e);
			if (hb && has == listed) {
				pthread_mutex_unlock(&v->lock);
				return 0;
			}
		}
		if (time_mono_ms() >= deadline)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&v->cond, &v->lock, &ts);
	}
	pthread_mutex_unlock(&v->lock);
	return ETIMEDOUT;
}

/* A job with `extra` members at its top level and `trunk_extra` in its trunk. */
static int publish_job_with(struct env *v, const char *call_id, const char *extra,
			    const char *trunk_extra)
{
	char job[1024], msg_id[64];
	snprintf(job, sizeof(job),
		 "{\"v\":1,\"call_id\":\"%s\",\"room\":\"call-%s\",\"to_number\":\"+15550100001\","
		 "\"from_number\":\"+15550100000\",\"ring_timeout_s\":45,\"max_duration_s\":600,"
		 "\"created_at\":\"2026-11-23T19:00:00.123Z\","
		 "\"participant_identity\":\"sip-%s\"%s,"
		 "\"trunk\":{\"trunk_id\":\"7f3c1a2e-5b6d-4c8e-9f01-23456789abcd\",\"provider\":"
		 "\"twilio\""
		 "%s}}",
		 call_id, call_id, call_id, extra, trunk_extra);
	snprintf(msg_id, sizeof(msg_id), "dial-%s", call_id);
	return bus_js_publish(v->bus, "dial.twilio", msg_id, job, strlen(job), 5000);
}

static int publish_job(struct env *v, const char *call_id, const char *trunk_extra)
{
	return publish_job_with(v, call_id, "", trunk_extra);
}

#define TRUNK ",\"livekit_sip_trunk_id\":\"ST_test\",\"krisp_enabled\":true"

static void new_id(char id[ID_UUID_LEN + 1])
{
	if (id_uuid4(id))
		snprintf(id, ID_UUID_LEN + 1, "00000000-0000-4000-8000-000000000000");
}

static int count_requests(struct env *v, const char *method)
{
	cJSON *r = fake_lk_requests(&v->lk, method);
	int n = cJSON_GetArraySize(r);
	cJSON_Delete(r);
	return n;
}

static int test_answer_then_hangup(void)
{
	int err = 0;
	struct env v;
	char id[ID_UUID_LEN + 1], want[128];
	cJSON *ev = NULL, *req = NULL;
	uint64_t left = 99;
	new_id(id);
	TEST_EQ_INT(env_start(&v, "4", false), 0);
	TEST_EQ_INT(publish_job(&v, id, TRUNK), 0);
	ev = wait_event(&v, id, "call_dialing", 10000);
	TEST_ASSERT(ev);
	TEST_EQ_STR(fake_lk_str(ev, "data.provider"), "twilio");
	TEST_CONTAINS(fake_lk_str(ev, "source"), "twilio-dialer/");
	cJSON_Delete(ev);
	ev = wait_event(&v, id, "call_answered", 10000);
	TEST_ASSERT(ev);
	snprintf(want, sizeof(want), "sip-%s", id);
	TEST_EQ_STR(fake_lk_str(ev, "data.participant_identity"), want);
	TEST_ASSERT(strncmp(fake_lk_str(ev, "data.sip_call_id"), "SCL_", 4) == 0);
	snprintf(want, sizeof(want), "call-%s", id);
	TEST_EQ_STR(fake_lk_str(ev, "room"), want);

	req = fake_lk_wait_request(&v.lk, "CreateSIPParticipant", 1, 1000);
	TEST_EQ_INT(fake_lk_num(req, "status"), 200);
	TEST_EQ_STR(fake_lk_str(req, "service"), "livekit.SIP");
	TEST_EQ_STR(fake_lk_str(req, "body.sip_trunk_id"), "ST_test");
	TEST_EQ_STR(fake_lk_str(req, "body.sip_call_to"), "+15550100001");
	TEST_EQ_STR(fake_lk_str(req, "body.sip_number"), "+15550100000");
	TEST_EQ_STR(fake_lk_str(req, "body.room_name"), want);
	snprintf(want, sizeof(want), "sip-%s", id);
	TEST_EQ_STR(fake_lk_str(req, "body.participant_identity"), want);
	TEST_EQ_STR(fake_lk_str(req, "body.participant_name"), "+15550100001");
	TEST_ASSERT(fake_lk_true(req, "body.wait_until_answered"));
	TEST_EQ_STR(fake_lk_str(req, "body.ringing_timeout"), "45s");
	TEST_EQ_STR(fake_lk_str(req, "body.max_call_duration"), "600s");
	TEST_ASSERT(fake_lk_true(req, "body.krisp_enabled"));
	TEST_ASSERT(fake_lk_true(req, "claims.sip.call"));
	TEST_ASSERT(!fake_lk_at(req, "claims.sip.admin"));
	TEST_EQ_STR(fake_lk_str(req, "claims.iss"), KEY);
	/* the job was acked (work queue: gone from DIALS) */
	TEST_EQ_INT(bus_js_stream_msgs(v.bus, "DIALS", &left), 0);
	TEST_EQ_INT(left, 0);
	TEST_EQ_INT(wait_heartbeat(&v, id, true, 5000), 0);

	/* hangup → RemoveParticipant → call_ended */
	char subject[96];
	snprintf(subject, sizeof(subject), "cmd.calls.%s.hangup", id);
	TEST_EQ_INT(bus_publish(v.bus, subject, "{\"v\":1,\"reason\":\"api\"}", 22), 0);
	cJSON_Delete(ev);
	ev = wait_event(&v, id, "call_ended", 10000);
	TEST_ASSERT(ev);
	TEST_EQ_STR(fake_lk_str(ev, "data.reason"), "api");
	TEST_EQ_STR(fake_lk_str(ev, "data.by"), "local");
	TEST_ASSERT(fake_lk_num(ev, "data.duration_ms") >= 0);
	cJSON_Delete(req);
	req = fake_lk_wait_request(&v.lk, "RemoveParticipant", 1, 1000);
	TEST_EQ_INT(fake_lk_num(req, "status"), 200);
	TEST_EQ_STR(fake_lk_str(req, "body.identity"), want);
	snprintf(want, sizeof(want), "call-%s", id);
	TEST_EQ_STR(fake_lk_str(req, "body.room"), want);
	TEST_ASSERT(fake_lk_true(req, "claims.video.roomAdmin"));
	TEST_EQ_STR(fake_lk_str(req, "claims.video.room"), want);
	TEST_EQ_INT(wait_heartbeat(&v, id, false, 5000), 0);
	TEST_EQ_INT(count_requests(&v, "CreateSIPParticipant"), 1);
out:
	cJSON_Delete(ev);
	cJSON_Delete(req);
	return env_stop(&v, err);
}

static int test_sip_failures(void)
{
	int err = 0;
	struct env v;
	static const struct { const char *code, *reason, *status; } rows[] = {
		{ "486", "Busy Here", "busy" },
		{ "600", "Busy Everywhere", "busy" },
		{ "480", "Temporarily Unavailable", "no_answer" },
		{ "408", "Request Timeout", "no_answer" },
		{ "603", "Decline", "rejected" },
		{ "403", "Forbidden", "rejected" },
		{ "404", "Not Found", "unreachable" },
		{ "484", "Address Incomplete", "unreachable" },
		{ "487", "Request Terminated", "cancelled" },
		{ "503", "Service Unavailable", "failed" },
	};
	char ids[CM_ARRAY_LEN(rows)][ID_UUID_LEN + 1];
	cJSON *ev = NULL;
	TEST_EQ_INT(env_start(&v, "1", false), 0);
	/* MAX_CALLS=1: jobs are dialed one after the other, in order */
	for (size_t i = 0; i < CM_ARRAY_LEN(rows); i++) {
		char script[300];
		snprintf(script, sizeof(script),
			 "{\"method\":\"CreateSIPParticipant\",\"error\":{\"code\":\"unavailable\","
			 "\"msg\":\"twirp error unknown: sip status: %s: "
			 "%s\",\"meta\":{\"sip_status_code\":"
			 "\"%s\",\"sip_status\":\"%s\"}}}",
			 rows[i].code, rows[i].reason, rows[i].code, rows[i].reason);
		TEST_EQ_INT(fake_lk_script(&v.lk, script), 0);
	}
	for (size_t i = 0; i < CM_ARRAY_LEN(rows); i++) {
		new_id(ids[i]);
		TEST_EQ_INT(publish_job(&v, ids[i], TRUNK), 0);
	}
	for (size_t i = 0; i < CM_ARRAY_LEN(rows); i++) {
		ev = wait_event(&v, ids[i], "call_failed", 10000);
		TEST_ASSERT(ev);
		if (strcmp(fake_lk_str(ev, "data.status"), rows[i].status) != 0)
			printf("    sip %s\n", rows[i].code);
		TEST_EQ_STR(fake_lk_str(ev, "data.status"), rows[i].status);
		TEST_EQ_INT(fake_lk_num(ev, "data.sip_code"), strtol(rows[i].code, NULL, 10));
		TEST_EQ_STR(fake_lk_str(ev, "data.sip_reason"), rows[i].reason);
		cJSON_Delete(ev);
		ev = NULL;
	}
	/* a Twirp error is an answer: never retried, nothing to clean up */
	TEST_EQ_INT(count_requests(&v, "CreateSIPParticipant"), CM_ARRAY_LEN(rows));
	TEST_EQ_INT(count_requests(&v, "RemoveParticipant"), 0);
out:
	cJSON_Delete(ev);
	return env_stop(&v, err);
}

/* No answer within SIP_DIAL_TIMEOUT_S=2 → timeout, and the leg is removed. */
static int test_timeout(void)
{
	int err = 0;
	struct env v;
	char id[ID_UUID_LEN + 1];
	cJSON *ev = NULL;
	new_id(id);
	TEST_EQ_INT(env_start(&v, "4", false), 0);
	TEST_EQ_INT(fake_lk_script(&v.lk,
				   "{\"method\":\"CreateSIPParticipant\",\"delay_ms\":4000}"),
		    0);
	TEST_EQ_INT(publish_job(&v, id, TRUNK), 0);
	ev = wait_event(&v, id, "call_failed", 10000);
	TEST_ASSERT(ev);
	TEST_EQ_STR(fake_lk_str(ev, "data.status"), "timeout");
	TEST_ASSERT(!fake_lk_at(ev, "data.sip_code"));
	cJSON *rm = fake_lk_wait_request(&v.lk, "RemoveParticipant", 1, 3000);
	TEST_ASSERT(rm);
	cJSON_Delete(rm);
	TEST_EQ_INT(count_requests(&v, "CreateSIPParticipant"), 1);
out:
	cJSON_Delete(ev);
	return env_stop(&v, err);
}

/* The request reached LiveKit but the connection broke: fail, never redial. */
static int test_dropped_connection_not_retried(void)
{
	int err = 0;
	struct env v;
	char id[ID_UUID_LEN + 1];
	cJSON *ev = NULL;
	new_id(id);
	TEST_EQ_INT(env_start(&v, "4", false), 0);
	TEST_EQ_INT(fake_lk_script(&v.lk, "{\"method\":\"CreateSIPParticipant\",\"drop\":true}"),
		    0);
	TEST_EQ_INT(publish_job(&v, id, TRUNK), 0);
	ev = wait_event(&v, id, "call_failed", 10000);
	TEST_ASSERT(ev);
	TEST_EQ_STR(fake_lk_str(ev, "data.status"), "failed");
	cJSON *rm = fake_lk_wait_request(&v.lk, "RemoveParticipant", 1, 3000);
	TEST_ASSERT(rm);
	cJSON_Delete(rm);
	TEST_EQ_INT(count_requests(&v, "CreateSIPParticipant"), 1);
out:
	cJSON_Delete(ev);
	return env_stop(&v, err);
}

/* Nothing listens at LIVEKIT_URL: retried DIAL_ATTEMPTS times, then failed. */
static int test_connection_refused(void)
{
	int err = 0;
	struct env v;
	char id[ID_UUID_LEN + 1], path[512], *log = NULL;
	cJSON *ev = NULL;
	new_id(id);
	TEST_EQ_INT(env_start(&v, "4", true), 0);
	TEST_EQ_INT(publish_job(&v, id, TRUNK), 0);
	ev = wait_event(&v, id, "call_failed", 10000);
	TEST_ASSERT(ev);
	TEST_EQ_STR(fake_lk_str(ev, "data.status"), "failed");
	TEST_EQ_STR(fake_lk_str(ev, "data.sip_reason"), "livekit unreachable");
	snprintf(path, sizeof(path), "%s/twilio-dialer.log", v.logdir);
	const char *argv[] = { "grep", "-c", "event=dial_retry", path, NULL };
	TEST_EQ_INT(test_run_cmd(&log, argv, NULL, 5000), 0);
	TEST_EQ_INT(strtol(log, NULL, 10), 2); /* 3 attempts */
out:
	free(log);
	cJSON_Delete(ev);
	return env_stop(&v, err);
}

/* Hangup while LiveKit still rings: the SIP participant is removed at once
 * and LiveKit's 487 ends the dial as cancelled. */
static int test_hangup_while_ringing(void)
{
	int err = 0;
	struct env v;
	char id[ID_UUID_LEN + 1], subject[96];
	cJSON *ev = NULL, *rm = NULL;
	new_id(id);
	TEST_EQ_INT(env_start(&v, "4", false), 0);
	TEST_EQ_INT(fake_lk_script(&v.lk,
				   "{\"method\":\"CreateSIPParticipant\",\"delay_ms\":1500,"
				   "\"error\":{\"code\":\"canceled\",\"msg\":\"call canceled\","
				   "\"meta\":{\"sip_status_code\":\"487\","
				   "\"sip_status\":\"Request Terminated\"}}}"),
		    0);
	TEST_EQ_INT(publish_job(&v, id, TRUNK), 0);
	ev = wait_event(&v, id, "call_dialing", 10000);
	TEST_ASSERT(ev);
	/* the dial is in flight once the fake has it */
	rm = fake_lk_wait_request(&v.lk, "CreateSIPParticipant", 1, 3000);
	TEST_ASSERT(rm);
	cJSON_Delete(rm);
	snprintf(subject, sizeof(subject), "cmd.calls.%s.hangup", id);
	TEST_EQ_INT(bus_publish(v.bus, subject, "{\"v\":1,\"reason\":\"api\"}", 22), 0);
	rm = fake_lk_wait_request(&v.lk, "RemoveParticipant", 1, 3000);
	TEST_ASSERT(rm);
	cJSON_Delete(ev);
	ev = wait_event(&v, id, "call_failed", 10000);
	TEST_ASSERT(ev);
	TEST_EQ_STR(fake_lk_str(ev, "data.status"), "cancelled");
	TEST_EQ_INT(fake_lk_num(ev, "data.sip_code"), 487);
out:
	cJSON_Delete(ev);
	cJSON_Delete(rm);
	return env_stop(&v, err);
}

/* api-gateway fails a call (owner_lost, not_dialed) while the dialer still
 * rings it, and the callee then answers: the record says failed and
 * agent-worker has left, so the leg does not stay up. */
static int test_failed_while_ringing(void)
{
	int err = 0;
	struct env v;
	char id[ID_UUID_LEN + 1], room[64];
	cJSON *ev = NULL, *rm = NULL;
	struct event *f = NULL;
	new_id(id);
	snprintf(room, sizeof(room), "call-%s", id);
	TEST_EQ_INT(env_start(&v, "4", false), 0);
	TEST_EQ_INT(fake_lk_script(&v.lk,
				   "{\"method\":\"CreateSIPParticipant\",\"delay_ms\":1500}"),
		    0);
	TEST_EQ_INT(publish_job(&v, id, TRUNK), 0);
	ev = wait_event(&v, id, "call_dialing", 10000);
	TEST_ASSERT(ev);
	rm = fake_lk_wait_request(&v.lk, "CreateSIPParticipant", 1, 3000);
	TEST_ASSERT(rm);
	TEST_EQ_INT(event_new(&f, EV_CALL_FAILED, id, room, "api-gateway/test"), 0);
	TEST_EQ_INT(event_set_not_dialed(f, 310000), 0);
	TEST_EQ_INT(bus_publish_event(v.bus, f), 0);
	cJSON_Delete(ev);
	ev = wait_event(&v, id, "call_answered", 10000);
	TEST_ASSERT(ev);
	/* released: no longer listed, its participant removed */
	TEST_EQ_INT(wait_heartbeat(&v, id, false, 6000), 0);
	TEST_ASSERT(count_requests(&v, "RemoveParticipant") >= 1);
out:
	event_free(f);
	cJSON_Delete(ev);
	cJSON_Delete(rm);
	return env_stop(&v, err);
}

/* MAX_CALLS=1: a second job waits in DIALS until the first call ends;
 * a call ended elsewhere (LiveKit webhook via api-gateway) is released. */
static int test_capacity_and_remote_end(void)
{
	int err = 0;
	struct env v;
	char a[ID_UUID_LEN + 1], b[ID_UUID_LEN + 1];
	cJSON *ev = NULL;
	struct event *end = NULL;
	uint64_t left = 0;
	new_id(a);
	new_id(b);
	TEST_EQ_INT(env_start(&v, "1", false), 0);
	TEST_EQ_INT(publish_job(&v, a, TRUNK), 0);
	ev = wait_event(&v, a, "call_answered", 10000);
	TEST_ASSERT(ev);
	TEST_EQ_INT(publish_job(&v, b, TRUNK), 0);
	/* b is not taken while a is up: two heartbeats later it is still queued */
	TEST_EQ_INT(wait_heartbeat(&v, a, true, 5000), 0);
	TEST_EQ_INT(wait_heartbeat(&v, a, true, 5000), 0);
	TEST_EQ_INT(bus_js_stream_msgs(v.bus, "DIALS", &left), 0);
	TEST_EQ_INT(left, 1);
	TEST_EQ_INT(count_requests(&v, "CreateSIPParticipant"), 1);
	/* the far end hangs up: api-gateway publishes call_ended */
	char room[64];
	snprintf(room, sizeof(room), "call-%s", a);
	TEST_EQ_INT(event_new(&end, EV_CALL_ENDED, a, room, "api-gateway/test"), 0);
	TEST_EQ_INT(event_set_str(end, "reason", "participant_left"), 0);
	TEST_EQ_INT(event_set_str(end, "by", "remote"), 0);
	TEST_EQ_INT(event_set_int(end, "duration_ms", 1000), 0);
	TEST_EQ_INT(bus_publish_event(v.bus, end), 0);
	cJSON_Delete(ev);
	ev = wait_event(&v, b, "call_answered", 10000);
	TEST_ASSERT(ev);
	TEST_EQ_INT(wait_heartbeat(&v, a, false, 5000), 0);
	TEST_EQ_INT(count_requests(&v, "RemoveParticipant"), 0);
out:
	event_free(end);
	cJSON_Delete(ev);
	return env_stop(&v, err);
}

static int test_bad_job(void)
{
	int err = 0;
	struct env v;
	char id[ID_UUID_LEN + 1];
	cJSON *ev = NULL;
	new_id(id);
	TEST_EQ_INT(env_start(&v, "4", false), 0);
	TEST_EQ_INT(publish_job(&v, id, ""), 0); /* no livekit_sip_trunk_id */
	ev = wait_event(&v, id, "call_failed", 10000);
	TEST_ASSERT(ev);
	TEST_EQ_STR(fake_lk_str(ev, "data.status"), "failed");
	TEST_CONTAINS(fake_lk_str(ev, "data.sip_reason"), "livekit_sip_trunk_id");
	cJSON_Delete(ev);
	new_id(id);
	TEST_EQ_INT(publish_job_with(&v, id, ",\"dial_by\":\"soon\"", TRUNK), 0);
	ev = wait_event(&v, id, "call_failed", 10000);
	TEST_ASSERT(ev);
	TEST_CONTAINS(fake_lk_str(ev, "data.sip_reason"), "dial_by: must be an RFC 3339 time");
	cJSON_Delete(ev);
	/* queued past its dial_by: the person is not called late */
	new_id(id);
	TEST_EQ_INT(publish_job_with(&v, id, ",\"dial_by\":\"2026-11-23T19:05:00.123Z\"", TRUNK),
		    0);
	ev = wait_event(&v, id, "call_failed", 10000);
	TEST_ASSERT(ev);
	TEST_EQ_STR(fake_lk_str(ev, "data.status"), "failed");
	TEST_EQ_STR(fake_lk_str(ev, "data.reason"), "not_dialed");
	TEST_CONTAINS(fake_lk_str(ev, "data.sip_reason"), "not dialed: no dialer took the job in");
	TEST_EQ_INT(count_requests(&v, "CreateSIPParticipant"), 0);
	cJSON_Delete(ev);
	/* one whose dial_by is ahead is dialed */
	new_id(id);
	TEST_EQ_INT(publish_job_with(&v, id, ",\"dial_by\":\"2999-01-01T00:00:00.000Z\"", TRUNK),
		    0);
	ev = wait_event(&v, id, "call_dialing", 10000);
	TEST_ASSERT(ev);
	cJSON_Delete(fake_lk_wait_request(&v.lk, "CreateSIPParticipant", 1, 5000));
	TEST_EQ_INT(count_requests(&v, "CreateSIPParticipant"), 1);
out:
	cJSON_Delete(ev);
	return env_stop(&v, err);
}

static cJSON *request(struct env *v, const char *subject, const char *json)
{
	char *reply = NULL;
	if (bus_request(v->bus, &reply, NULL, subject, json, strlen(json), 8000))
		return NULL;
	cJSON *r = cJSON_Parse(reply);
	free(reply);
	return r;
}

static int test_sip_trunks_create(void)
{
	int err = 0;
	struct env v;
	cJSON *r = NULL, *req = NULL;
	TEST_EQ_INT(env_start(&v, "4", false), 0);
	r = request(&v, "sip.trunks.create",
		    "{\"v\":1,\"name\":\"Twilio US\",\"address\":\"callmesh.pstn.twilio.com\","
		    "\"numbers\":[\"+15550100000\",\"+15550100002\"],\"username\":\"u\","
		    "\"password\":\"p\"}");
	TEST_ASSERT(fake_lk_true(r, "ok"));
	TEST_ASSERT(strncmp(fake_lk_str(r, "data.sip_trunk_id"), "ST_", 3) == 0);
	req = fake_lk_wait_request(&v.lk, "CreateSIPOutboundTrunk", 1, 1000);
	TEST_EQ_INT(fake_lk_num(req, "status"), 200);
	TEST_EQ_STR(fake_lk_str(req, "body.trunk.name"), "Twilio US");
	TEST_EQ_STR(fake_lk_str(req, "body.trunk.address"), "callmesh.pstn.twilio.com");
	TEST_EQ_STR(fake_lk_str(req, "body.trunk.numbers.1"), "+15550100002");
	TEST_EQ_STR(fake_lk_str(req, "body.trunk.auth_username"), "u");
	TEST_EQ_STR(fake_lk_str(req, "body.trunk.auth_password"), "p");
	TEST_ASSERT(fake_lk_true(req, "claims.sip.admin"));
	TEST_ASSERT(!fake_lk_at(req, "claims.sip.call"));
	cJSON_Delete(r);
	r = request(&v, "sip.trunks.create",
		    "{\"v\":1,\"address\":\"x\",\"numbers\":[\"5550100\"]}");
	TEST_ASSERT(r && !fake_lk_true(r, "ok"));
	TEST_EQ_STR(fake_lk_str(r, "error.code"), "invalid_field");
	TEST_EQ_STR(fake_lk_str(r, "error.field"), "numbers");
	cJSON_Delete(r);
	r = request(&v, "sip.trunks.create", "{\"v\":1,\"numbers\":[\"+15550100000\"]}");
	TEST_EQ_STR(fake_lk_str(r, "error.field"), "address");
	cJSON_Delete(r);
	TEST_EQ_INT(fake_lk_script(&v.lk,
				   "{\"method\":\"CreateSIPOutboundTrunk\",\"error\":"
				   "{\"code\":\"invalid_argument\",\"msg\":\"bad address\"}}"),
		    0);
	r = request(&v, "sip.trunks.create",
		    "{\"v\":1,\"address\":\"x\",\"numbers\":[\"+15550100000\"]}");
	TEST_ASSERT(r && !fake_lk_true(r, "ok"));
	TEST_EQ_STR(fake_lk_str(r, "error.code"), "upstream_error");
	TEST_EQ_STR(fake_lk_str(r, "error.upstream.code"), "invalid_argument");
	TEST_CONTAINS(fake_lk_str(r, "error.message"), "bad address");
out:
	cJSON_Delete(r);
	cJSON_Delete(req);
	return env_stop(&v, err);
}

static const struct test tests[] = {
	{ "answer_then_hangup", test_answer_then_hangup },
	{ "failed_while_ringing", test_failed_while_ringing },
	{ "sip_failures", test_sip_failures },
	{ "timeout", test_timeout },
	{ "dropped_connection_not_retried", test_dropped_connection_not_retried },
	{ "connection_refused", test_connection_refused },
	{ "hangup_while_ringing", test_hangup_while_ringing },
	{ "capacity_and_remote_end", test_capacity_and_remote_end },
	{ "bad_job", test_bad_job },
	{ "sip_trunks_create", test_sip_trunks_create },
};
TEST_MAIN(tests)
