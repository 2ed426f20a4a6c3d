/* room-manager against a real nats-server and the strict fake LiveKit
 * (tests/livekit/fake.mjs): every command, the exact Twirp requests and
 * grants, LiveKit errors, timeouts and an unreachable LiveKit, call events
 * relayed into rooms, and the local backend's registry. */
#include "bus/bus.h"
#include "core/core.h"
#include "harness/test.h"
#include "livekit/fake.h"
#include "livekit/livekit.h"

#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#define KEY    "devkey"
#define SECRET "devsecret-0123456789-0123456789-0123456789"
#define CALL   "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
#define ROOM   "call-" CALL

struct env {
	struct test_nats nats;
	struct fake_lk lk;
	struct bus *bus;
	int pid;
	char *logdir;
	char e_nats[96], e_health[64], e_url[96], e_dir[300], e_ws[64];
	int ws_port;
};

/* nats-server + fake LiveKit + room-manager (backend livekit or local). */
static int env_start(struct env *v, const char *backend, const char *lk_url_override)
{
	char bin[256], log[512], ready[96];
	int health = test_free_port();
	memset(v, 0, sizeof(*v));
	v->logdir = test_tmpdir("room-manager");
	if (!v->logdir || test_nats_start(&v->nats))
		return EIO;
	int err = fake_lk_start(&v->lk, KEY, SECRET, v->logdir);
	if (err)
		return err;
	snprintf(v->e_nats, sizeof(v->e_nats), "NATS_URL=%s", v->nats.url);
	snprintf(v->e_health, sizeof(v->e_health), "HEALTH_ADDR=127.0.0.1:%d", health);
	snprintf(v->e_url, sizeof(v->e_url), "LIVEKIT_URL=%s",
		 lk_url_override ? lk_url_override : v->lk.url);
	snprintf(v->e_dir, sizeof(v->e_dir), "RECORDINGS_DIR=%s/rec", v->logdir);
	v->ws_port = test_free_port();
	snprintf(v->e_ws, sizeof(v->e_ws), "ROOM_WS_ADDR=127.0.0.1:%d", v->ws_port);
	snprintf(log, sizeof(log), "%s/room-manager.log", v->logdir);
	const char *argv[] = { test_bin(bin, sizeof(bin), "room-manager"), NULL };
	const char *lk_env[] = { v->e_nats,
				 v->e_health,
				 v->e_url,
				 v->e_dir,
				 "ROOM_BACKEND=livekit",
				 "LIVEKIT_API_KEY=" KEY,
				 "LIVEKIT_API_SECRET=" SECRET,
				 "LIVEKIT_TIMEOUT_MS=1500",
				 "EGRESS_S3_BUCKET=calls",
				 "EGRESS_S3_REGION=eu-west-1",
				 "EGRESS_S3_ENDPOINT=http://127.0.0.1:9000",
				 "EGRESS_S3_ACCESS_KEY=ak",
				 "EGRESS_S3_SECRET=sk",
				 "EGRESS_S3_FORCE_PATH_STYLE=true",
				 "LOG_FORMAT=kv",
				 "LOG_LEVEL=debug",
				 NULL };
	const char *local_env[] = { v->e_nats, v->e_health, v->e_dir, v->e_ws, "ROOM_BACKEND=local",
				    "LOG_FORMAT=kv", "LOG_LEVEL=debug", NULL };
	err = test_spawn(&v->pid, argv, strcmp(backend, "local") == 0 ? local_env : lk_env, log);
	if (err)
		return err;
	snprintf(ready, sizeof(ready), "http://127.0.0.1:%d/readyz", health);
	err = test_http_wait(ready, 200, 20000);
	if (!err)
		err = bus_connect(&v->bus, v->nats.url, "test-room-manager");
	for (int i = 0; !err && i < 200 && !bus_connected(v->bus); i++)
		lifecycle_wait(10);
	if (err)
		printf("    room-manager did not start (logs in %s)\n", v->logdir);
	return err;
}

static void env_stop(struct env *v, int failed)
{
	v->bus = bus_close(v->bus);
	if (v->pid > 0) {
		int code = -1;
		kill(v->pid, SIGTERM);
		if (test_wait_exit(v->pid, 10000, &code) || code != 0) {
			printf("    room-manager exit %d on SIGTERM\n", code);
			test_kill(v->pid);
		}
	}
	fake_lk_stop(&v->lk);
	test_nats_destroy(&v->nats);
	if (failed)
		printf("    logs kept in %s\n", v->logdir);
	else
		test_rmtree(v->logdir);
	free(v->logdir);
}

/* Sends a command, returns the parsed reply (caller cJSON_Delete). */
static cJSON *request(struct env *v, const char *subject, const char *json)
{
	char *reply = NULL;
	if (bus_request(v->bus, &reply, NULL, subject, json, strlen(json), 8000))
		return NULL;
	cJSON *r = cJSON_Parse(reply);
	free(reply);
	return r;
}

static int reply_ok(const cJSON *r)
{
	return fake_lk_true(r, "ok");
}

static const char create_json[] =
	"{\"v\":1,\"call_id\":\"" CALL "\",\"room\":\"" ROOM "\","
	"\"assistant_id\":\"7f3c1a2e-5b6d-4c8e-9f01-23456789abcd\",\"metadata\":{\"name\":\"Ann\"},"
	"\"empty_timeout_s\":120,\"max_participants\":4}";

static int test_create_room(void)
{
	int err = 0;
	struct env v;
	cJSON *r = NULL, *req = NULL, *meta = NULL;
	TEST_EQ_INT(env_start(&v, "livekit", NULL), 0);
	r = request(&v, "rooms.create", create_json);
	TEST_ASSERT(reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "data.room"), ROOM);
	TEST_EQ_STR(fake_lk_str(r, "data.backend"), "livekit");
	char ws[96];
	snprintf(ws, sizeof(ws), "ws://127.0.0.1:%d", v.lk.port);
	TEST_EQ_STR(fake_lk_str(r, "data.url"), ws);
	req = fake_lk_wait_request(&v.lk, "CreateRoom", 1, 1000);
	TEST_ASSERT(req);
	TEST_EQ_INT(fake_lk_num(req, "status"), 200);
	TEST_EQ_STR(fake_lk_str(req, "service"), "livekit.RoomService");
	TEST_EQ_STR(fake_lk_str(req, "body.name"), ROOM);
	TEST_EQ_INT(fake_lk_num(req, "body.empty_timeout"), 120);
	TEST_EQ_INT(fake_lk_num(req, "body.max_participants"), 4);
	meta = cJSON_Parse(fake_lk_str(req, "body.metadata"));
	TEST_EQ_STR(fake_lk_str(meta, "call_id"), CALL);
	TEST_EQ_STR(fake_lk_str(meta, "metadata.name"), "Ann");
	TEST_ASSERT(fake_lk_true(req, "claims.video.roomCreate"));
	TEST_EQ_STR(fake_lk_str(req, "claims.iss"), KEY);
	TEST_ASSERT(!fake_lk_at(req, "claims.video.roomJoin"));
	/* creating again is fine (LiveKit returns the existing room) */
	cJSON_Delete(r);
	r = request(&v, "rooms.create", create_json);
	TEST_ASSERT(reply_ok(r));
out:
	cJSON_Delete(r);
	cJSON_Delete(req);
	cJSON_Delete(meta);
	env_stop(&v, err);
	return err;
}

static int test_delete_room_idempotent(void)
{
	int err = 0;
	struct env v;
	cJSON *r = NULL, *req = NULL;
	static const char del[] = "{\"v\":1,\"room\":\"" ROOM "\"}";
	TEST_EQ_INT(env_start(&v, "livekit", NULL), 0);
	r = request(&v, "rooms.create", create_json);
	TEST_ASSERT(reply_ok(r));
	cJSON_Delete(r);
	r = request(&v, "rooms.delete", del);
	TEST_ASSERT(reply_ok(r));
	req = fake_lk_wait_request(&v.lk, "DeleteRoom", 1, 1000);
	TEST_EQ_INT(fake_lk_num(req, "status"), 200);
	TEST_EQ_STR(fake_lk_str(req, "body.room"), ROOM);
	TEST_ASSERT(fake_lk_true(req, "claims.video.roomCreate"));
	cJSON_Delete(r);
	cJSON_Delete(req);
	req = NULL;
	/* LiveKit says not_found the second time: still ok */
	r = request(&v, "rooms.delete", del);
	TEST_ASSERT(reply_ok(r));
	req = fake_lk_wait_request(&v.lk, "DeleteRoom", 2, 1000);
	TEST_EQ_INT(fake_lk_num(req, "status"), 404);
out:
	cJSON_Delete(r);
	cJSON_Delete(req);
	env_stop(&v, err);
	return err;
}

static char *b64_decode(const char *s)
{
	size_t n = strlen(s);
	unsigned char *out = calloc(1, n + 4);
	int len = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (len < 0) {
		free(out);
		return NULL;
	}
	while (n > 0 && s[n - 1] == '=') { /* DecodeBlock counts padding as zeros */
		len--;
		n--;
	}
	out[len] = '\0';
	return (char *)out;
}

static int test_send_data(void)
{
	int err = 0;
	struct env v;
	cJSON *r = NULL, *req = NULL;
	char *data = NULL;
	static const char send[] = "{\"v\":1,\"room\":\"" ROOM "\",\"topic\":\"call_events\","
				   "\"payload\":\"{\\\"type\\\":\\\"call_hold\\\"}\"}";
	TEST_EQ_INT(env_start(&v, "livekit", NULL), 0);
	r = request(&v, "rooms.create", create_json);
	TEST_ASSERT(reply_ok(r));
	cJSON_Delete(r);
	r = request(&v, "rooms.send_data", send);
	TEST_ASSERT(reply_ok(r));
	req = fake_lk_wait_request(&v.lk, "SendData", 1, 1000);
	TEST_EQ_INT(fake_lk_num(req, "status"), 200);
	TEST_EQ_STR(fake_lk_str(req, "body.room"), ROOM);
	TEST_EQ_STR(fake_lk_str(req, "body.topic"), "call_events");
	TEST_EQ_STR(fake_lk_str(req, "body.kind"), "RELIABLE");
	data = b64_decode(fake_lk_str(req, "body.data"));
	TEST_EQ_STR(data, "{\"type\":\"call_hold\"}");
	TEST_ASSERT(fake_lk_true(req, "claims.video.roomAdmin"));
	TEST_EQ_STR(fake_lk_str(req, "claims.video.room"), ROOM);
	/* a room LiveKit does not know: upstream_error carrying LiveKit's code */
	cJSON_Delete(r);
	r = request(&v, "rooms.send_data",
		    "{\"v\":1,\"room\":\"call-nope\",\"topic\":\"t\",\"payload\":\"x\"}");
	TEST_ASSERT(r && !reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "error.code"), "upstream_error");
	TEST_EQ_STR(fake_lk_str(r, "error.upstream.code"), "not_found");
	TEST_EQ_INT(fake_lk_num(r, "error.upstream.http_status"), 404);
	TEST_CONTAINS(fake_lk_str(r, "error.message"), "does not exist");
out:
	free(data);
	cJSON_Delete(r);
	cJSON_Delete(req);
	env_stop(&v, err);
	return err;
}

static int test_token_verified_by_livekit_sdk(void)
{
	int err = 0;
	struct env v;
	cJSON *r = NULL, *claims = NULL;
	TEST_EQ_INT(env_start(&v, "livekit", NULL), 0);
	r = request(&v, "rooms.token",
		    "{\"v\":1,\"room\":\"" ROOM "\",\"identity\":\"web-" CALL
		    "\",\"name\":\"Caller\","
		    "\"metadata\":\"{\\\"k\\\":1}\",\"ttl_s\":600,\"can_publish\":true,"
		    "\"can_subscribe\":true,\"can_publish_data\":false}");
	TEST_ASSERT(reply_ok(r));
	TEST_EQ_INT(fake_lk_verify(&v.lk, fake_lk_str(r, "data.token"), &claims), 0);
	TEST_EQ_STR(fake_lk_str(claims, "sub"), "web-" CALL);
	TEST_EQ_STR(fake_lk_str(claims, "iss"), KEY);
	TEST_EQ_STR(fake_lk_str(claims, "name"), "Caller");
	TEST_EQ_STR(fake_lk_str(claims, "metadata"), "{\"k\":1}");
	TEST_ASSERT(fake_lk_true(claims, "video.roomJoin"));
	TEST_EQ_STR(fake_lk_str(claims, "video.room"), ROOM);
	TEST_ASSERT(fake_lk_true(claims, "video.canPublish"));
	TEST_ASSERT(fake_lk_true(claims, "video.canSubscribe"));
	TEST_ASSERT(!fake_lk_true(claims, "video.canPublishData"));
	TEST_ASSERT(!fake_lk_true(claims, "video.roomAdmin"));
	double ttl = fake_lk_num(claims, "exp") - (double)(time_now_ms() / 1000);
	TEST_ASSERT(ttl > 590 && ttl <= 601);
	char ws[96];
	snprintf(ws, sizeof(ws), "ws://127.0.0.1:%d", v.lk.port);
	TEST_EQ_STR(fake_lk_str(r, "data.url"), ws);
	cJSON_Delete(r);
	r = request(&v, "rooms.token", "{\"v\":1,\"room\":\"" ROOM "\",\"identity\":\"a b\"}");
	TEST_ASSERT(r && !reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "error.field"), "identity");
out:
	cJSON_Delete(r);
	cJSON_Delete(claims);
	env_stop(&v, err);
	return err;
}

static int test_recordings(void)
{
	int err = 0;
	struct env v;
	cJSON *r = NULL, *req = NULL;
	static const char rec[] = "{\"v\":1,\"call_id\":\"" CALL "\",\"room\":\"" ROOM "\"}";
	char egress[64] = "";
	TEST_EQ_INT(env_start(&v, "livekit", NULL), 0);
	r = request(&v, "rooms.create", create_json);
	TEST_ASSERT(reply_ok(r));
	cJSON_Delete(r);
	r = request(&v, "recordings.start", rec);
	TEST_ASSERT(reply_ok(r));
	const char *id = fake_lk_str(r, "data.recording_id");
	TEST_ASSERT(id && strncmp(id, "EG_", 3) == 0);
	snprintf(egress, sizeof(egress), "%s", id);
	TEST_CONTAINS(fake_lk_str(r, "data.path"), "s3://calls/recordings/" CALL "-");
	req = fake_lk_wait_request(&v.lk, "StartRoomCompositeEgress", 1, 1000);
	TEST_EQ_INT(fake_lk_num(req, "status"), 200);
	TEST_EQ_STR(fake_lk_str(req, "service"), "livekit.Egress");
	TEST_EQ_STR(fake_lk_str(req, "body.room_name"), ROOM);
	TEST_ASSERT(fake_lk_true(req, "body.audio_only"));
	TEST_EQ_STR(fake_lk_str(req, "body.file_outputs.0.file_type"), "OGG");
	TEST_CONTAINS(fake_lk_str(req, "body.file_outputs.0.filepath"), "recordings/" CALL "-");
	TEST_EQ_STR(fake_lk_str(req, "body.file_outputs.0.s3.bucket"), "calls");
	TEST_EQ_STR(fake_lk_str(req, "body.file_outputs.0.s3.region"), "eu-west-1");
	TEST_EQ_STR(fake_lk_str(req, "body.file_outputs.0.s3.endpoint"), "http://127.0.0.1:9000");
	TEST_EQ_STR(fake_lk_str(req, "body.file_outputs.0.s3.access_key"), "ak");
	TEST_EQ_STR(fake_lk_str(req, "body.file_outputs.0.s3.secret"), "sk");
	TEST_ASSERT(fake_lk_true(req, "body.file_outputs.0.s3.force_path_style"));
	TEST_ASSERT(fake_lk_true(req, "claims.video.roomRecord"));
	cJSON_Delete(r);
	cJSON_Delete(req);
	req = NULL;
	r = request(&v, "recordings.stop", rec);
	TEST_ASSERT(reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "data.recording_id"), egress);
	TEST_CONTAINS(fake_lk_str(r, "data.path"), "s3://calls/recordings/");
	req = fake_lk_wait_request(&v.lk, "StopEgress", 1, 1000);
	TEST_EQ_INT(fake_lk_num(req, "status"), 200);
	TEST_EQ_STR(fake_lk_str(req, "body.egress_id"), egress);
	TEST_ASSERT(fake_lk_true(req, "claims.video.roomRecord"));
	/* nothing left to stop for this call */
	cJSON_Delete(r);
	r = request(&v, "recordings.stop", rec);
	TEST_ASSERT(r && !reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "error.code"), "not_found");
	/* an unknown egress id: LiveKit's not_found */
	cJSON_Delete(r);
	r = request(&v, "recordings.stop", "{\"v\":1,\"call_id\":\"" CALL "\",\"room\":\"" ROOM
					   "\",\"recording_id\":\"EG_nope\"}");
	TEST_ASSERT(r && !reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "error.code"), "not_found");
	TEST_EQ_STR(fake_lk_str(r, "error.upstream.code"), "not_found");
out:
	cJSON_Delete(r);
	cJSON_Delete(req);
	env_stop(&v, err);
	return err;
}

static int expect_invalid(struct env *v, const char *subject, const char *json, const char *field)
{
	int err = 0;
	cJSON *r = request(v, subject, json);
	TEST_ASSERT(r && !reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "error.code"), "invalid_field");
	if (field)
		TEST_EQ_STR(fake_lk_str(r, "error.field"), field);
out:
	if (err)
		printf("    %s %s\n", subject, json);
	cJSON_Delete(r);
	return err;
}

static int test_invalid_payloads(void)
{
	int err = 0;
	struct env v;
	cJSON *all = NULL;
	TEST_EQ_INT(env_start(&v, "livekit", NULL), 0);
	TEST_EQ_INT(expect_invalid(&v, "rooms.create", "not json", NULL), 0);
	TEST_EQ_INT(expect_invalid(&v, "rooms.create", "{\"call_id\":\"" CALL "\",\"room\":\"r\"}",
				   "v"),
		    0);
	TEST_EQ_INT(expect_invalid(&v, "rooms.create",
				   "{\"v\":2,\"call_id\":\"" CALL "\",\"room\":\"r\"}", "v"),
		    0);
	TEST_EQ_INT(expect_invalid(&v, "rooms.create", "{\"v\":1,\"room\":\"r\"}", "call_id"), 0);
	TEST_EQ_INT(expect_invalid(&v, "rooms.create",
				   "{\"v\":1,\"call_id\":\"nope\",\"room\":\"r\"}", "call_id"),
		    0);
	TEST_EQ_INT(expect_invalid(&v, "rooms.create", "{\"v\":1,\"call_id\":\"" CALL "\"}",
				   "room"),
		    0);
	TEST_EQ_INT(expect_invalid(&v, "rooms.create",
				   "{\"v\":1,\"call_id\":\"" CALL "\",\"room\":\"\"}", "room"),
		    0);
	TEST_EQ_INT(expect_invalid(&v, "rooms.create",
				   "{\"v\":1,\"call_id\":\"" CALL "\",\"room\":\"r\","
				   "\"empty_timeout_s\":-1}",
				   "empty_timeout_s"),
		    0);
	TEST_EQ_INT(expect_invalid(&v, "rooms.create",
				   "{\"v\":1,\"call_id\":\"" CALL "\",\"room\":\"r\","
				   "\"metadata\":\"x\"}",
				   "metadata"),
		    0);
	TEST_EQ_INT(expect_invalid(&v, "rooms.delete", "{\"v\":1,\"room\":7}", "room"), 0);
	TEST_EQ_INT(expect_invalid(&v, "rooms.send_data",
				   "{\"v\":1,\"room\":\"r\",\"topic\":\"t\"}", "payload"),
		    0);
	TEST_EQ_INT(expect_invalid(&v, "rooms.token", "{\"v\":1,\"room\":\"r\",\"identity\":\"i\","
						      "\"ttl_s\":1}", "ttl_s"), 0);
	TEST_EQ_INT(expect_invalid(&v, "recordings.start", "{\"v\":1,\"room\":\"r\"}", "call_id"),
		    0);
	/* nothing invalid reached LiveKit */
	all = fake_lk_requests(&v.lk, NULL);
	TEST_EQ_INT(cJSON_GetArraySize(all), 0);
out:
	cJSON_Delete(all);
	env_stop(&v, err);
	return err;
}

static int test_livekit_errors(void)
{
	int err = 0;
	struct env v;
	cJSON *r = NULL;
	TEST_EQ_INT(env_start(&v, "livekit", NULL), 0);
	/* LiveKit rejects */
	TEST_EQ_INT(fake_lk_script(&v.lk,
				   "{\"method\":\"CreateRoom\",\"error\":{\"code\":"
				   "\"resource_exhausted\",\"msg\":\"room limit reached\"}}"),
		    0);
	r = request(&v, "rooms.create", create_json);
	TEST_ASSERT(r && !reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "error.code"), "upstream_error");
	TEST_EQ_STR(fake_lk_str(r, "error.upstream.code"), "resource_exhausted");
	TEST_EQ_STR(fake_lk_str(r, "error.upstream.msg"), "room limit reached");
	TEST_EQ_INT(fake_lk_num(r, "error.upstream.http_status"), 429);
	TEST_CONTAINS(fake_lk_str(r, "error.message"), "room limit reached");
	/* LiveKit too slow (LIVEKIT_TIMEOUT_MS=1500) */
	cJSON_Delete(r);
	TEST_EQ_INT(fake_lk_script(&v.lk, "{\"method\":\"CreateRoom\",\"delay_ms\":4000}"), 0);
	r = request(&v, "rooms.create", create_json);
	TEST_ASSERT(r && !reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "error.code"), "upstream_error");
	TEST_EQ_STR(fake_lk_str(r, "error.upstream.code"), "timeout");
	/* LiveKit drops the connection */
	cJSON_Delete(r);
	TEST_EQ_INT(fake_lk_script(&v.lk, "{\"method\":\"CreateRoom\",\"drop\":true}"), 0);
	r = request(&v, "rooms.create", create_json);
	TEST_ASSERT(r && !reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "error.code"), "upstream_error");
	/* LiveKit gone */
	cJSON_Delete(r);
	fake_lk_stop(&v.lk);
	r = request(&v, "rooms.create", create_json);
	TEST_ASSERT(r && !reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "error.code"), "upstream_error");
	TEST_EQ_STR(fake_lk_str(r, "error.upstream.code"), "unavailable");
	TEST_EQ_INT(fake_lk_num(r, "error.upstream.http_status"), 0);
out:
	cJSON_Delete(r);
	env_stop(&v, err);
	return err;
}

/* Call events on NATS reach the room as SendData on topic call_events, in order. */
static int test_call_events_relayed(void)
{
	int err = 0;
	struct env v;
	cJSON *r = NULL, *req = NULL;
	struct event *ev = NULL;
	char *data = NULL, *json = NULL;
	TEST_EQ_INT(env_start(&v, "livekit", NULL), 0);
	TEST_EQ_INT(bus_ensure_streams(v.bus), 0);
	r = request(&v, "rooms.create", create_json);
	TEST_ASSERT(reply_ok(r));
	static const enum event_type types[] = { EV_CALL_ANSWERED, EV_CALL_HOLD, EV_CALL_RESUME,
						 EV_TRANSCRIPT, EV_CALL_ENDED };
	char want[3][400];
	int nwant = 0;
	for (size_t i = 0; i < CM_ARRAY_LEN(types); i++) {
		TEST_EQ_INT(event_new(&ev, types[i], CALL, ROOM, "sip-bridge/test"), 0);
		if (types[i] == EV_TRANSCRIPT) { /* not relayed */
			TEST_EQ_INT(event_set_str(ev, "speaker", "user"), 0);
			TEST_EQ_INT(event_set_str(ev, "text", "hi"), 0);
			TEST_EQ_INT(event_set_bool(ev, "final", true), 0);
			TEST_EQ_INT(event_set_time(ev, "started_at", time_now_ms()), 0);
		}
		if (types[i] == EV_CALL_ENDED) {
			TEST_EQ_INT(event_set_str(ev, "reason", "hangup"), 0);
			TEST_EQ_INT(event_set_str(ev, "by", "remote"), 0);
			TEST_EQ_INT(event_set_int(ev, "duration_ms", 1000), 0);
		}
		TEST_EQ_INT(event_encode(&json, ev), 0);
		if (types[i] == EV_CALL_HOLD || types[i] == EV_CALL_RESUME ||
		    types[i] == EV_CALL_ENDED)
			snprintf(want[nwant++], sizeof(want[0]), "%s", json);
		TEST_EQ_INT(bus_publish_event(v.bus, ev), 0);
		free(json);
		json = NULL;
		ev = event_free(ev);
	}
	/* answered + hold + resume + ended */
	req = fake_lk_wait_request(&v.lk, "SendData", 4, 5000);
	TEST_ASSERT(req);
	cJSON_Delete(req);
	req = fake_lk_requests(&v.lk, "SendData");
	TEST_EQ_INT(cJSON_GetArraySize(req), 4);
	for (int i = 0; i < 3; i++) {
		const cJSON *one = cJSON_GetArrayItem(req, i + 1);
		TEST_EQ_INT(fake_lk_num(one, "status"), 200);
		TEST_EQ_STR(fake_lk_str(one, "body.topic"), "call_events");
		TEST_EQ_STR(fake_lk_str(one, "body.room"), ROOM);
		data = b64_decode(fake_lk_str(one, "body.data"));
		TEST_EQ_STR(data, want[i]);
		free(data);
		data = NULL;
	}
out:
	free(data);
	free(json);
	event_free(ev);
	cJSON_Delete(r);
	cJSON_Delete(req);
	env_stop(&v, err);
	return err;
}

/* The fake itself is strict: a misspelt field, a missing grant and a bad
 * token are refused — so the passing tests above prove our requests right. */
static int test_fake_is_strict(void)
{
	int err = 0;
	struct env v;
	struct livekit *lk = NULL;
	struct livekit_error e;
	cJSON *resp = NULL;
	cJSON *bad = cJSON_Parse("{\"name\":\"r\",\"emptyTimeOut\":5}");
	cJSON *good = cJSON_Parse("{\"room\":\"r\",\"identity\":\"x\"}");
	TEST_EQ_INT(env_start(&v, "livekit", NULL), 0);
	TEST_EQ_INT(livekit_client_new(&lk, v.lk.url, KEY, SECRET), 0);
	struct livekit_grants create = { .room_create = true };
	TEST_EQ_INT(livekit_twirp(lk, &resp, "livekit.RoomService", "CreateRoom", bad, &create,
				  3000, &e),
		    EIO);
	TEST_EQ_INT(e.http_status, 400);
	TEST_EQ_STR(e.code, "malformed");
	TEST_CONTAINS(e.msg, "emptyTimeOut");
	struct livekit_grants other_room = { .room_admin = true, .room = "other" };
	TEST_EQ_INT(livekit_twirp(lk, &resp, "livekit.RoomService", "RemoveParticipant", good,
				  &other_room, 3000, &e), EIO);
	TEST_EQ_INT(e.http_status, 403);
	TEST_EQ_STR(e.code, "permission_denied");
	struct livekit_grants none = { 0 };
	TEST_EQ_INT(livekit_twirp(lk, &resp, "livekit.SIP", "CreateSIPParticipant", good, &none,
				  3000, &e),
		    EIO);
	TEST_EQ_INT(e.http_status, 400); /* room/identity are not its fields */
	lk = livekit_client_free(lk);
	TEST_EQ_INT(livekit_client_new(&lk, v.lk.url, KEY, "wrong-secret"), 0);
	TEST_EQ_INT(livekit_twirp(lk, &resp, "livekit.RoomService", "CreateRoom", good, &create,
				  3000, &e),
		    EIO);
	TEST_EQ_INT(e.http_status, 401);
	TEST_EQ_STR(e.code, "unauthenticated");
	TEST_ASSERT(resp == NULL);
out:
	cJSON_Delete(bad);
	cJSON_Delete(good);
	livekit_client_free(lk);
	env_stop(&v, err);
	return err;
}

static int test_local_backend(void)
{
	int err = 0;
	struct env v;
	cJSON *r = NULL;
	static const char del[] = "{\"v\":1,\"room\":\"" ROOM "\"}";
	static const char rec[] = "{\"v\":1,\"call_id\":\"" CALL "\",\"room\":\"" ROOM "\"}";
	char want[512];
	TEST_EQ_INT(env_start(&v, "local", NULL), 0);
	r = request(&v, "rooms.create", create_json);
	TEST_ASSERT(reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "data.backend"), "local");
	TEST_EQ_STR(fake_lk_str(r, "data.url"), "local://room-manager/" ROOM);
	cJSON_Delete(r);
	r = request(&v, "rooms.create", create_json); /* idempotent */
	TEST_ASSERT(reply_ok(r));
	cJSON_Delete(r);
	r = request(&v, "rooms.create",
		    "{\"v\":1,\"call_id\":\"7f3c1a2e-5b6d-4c8e-9f01-23456789abcd\","
		    "\"room\":\"" ROOM "\"}");
	TEST_ASSERT(r && !reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "error.code"), "conflict");
	cJSON_Delete(r);
	r = request(&v, "rooms.send_data",
		    "{\"v\":1,\"room\":\"" ROOM "\",\"topic\":\"t\",\"payload\":\"x\"}");
	TEST_ASSERT(reply_ok(r));
	cJSON_Delete(r);
	r = request(&v, "recordings.start", rec);
	TEST_ASSERT(reply_ok(r));
	snprintf(want, sizeof(want), "%s/rec/" CALL ".wav", v.logdir);
	TEST_EQ_STR(fake_lk_str(r, "data.path"), want);
	TEST_ASSERT(strncmp(fake_lk_str(r, "data.recording_id"), "rec-", 4) == 0);
	cJSON_Delete(r);
	r = request(&v, "recordings.stop", rec);
	TEST_ASSERT(reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "data.path"), want);
	cJSON_Delete(r);
	/* a browser member's token for the room's WebSocket (test_room_ws.c
	 * joins with it) */
	r = request(&v, "rooms.token", "{\"v\":1,\"room\":\"" ROOM "\",\"identity\":\"web-1\"}");
	TEST_ASSERT(reply_ok(r));
	snprintf(want, sizeof(want), "ws://127.0.0.1:%d/room", v.ws_port);
	TEST_EQ_STR(fake_lk_str(r, "data.url"), want);
	TEST_ASSERT(strncmp(fake_lk_str(r, "data.token"), "eyJ", 3) == 0);
	cJSON_Delete(r);
	r = request(&v, "rooms.delete", del);
	TEST_ASSERT(reply_ok(r));
	cJSON_Delete(r);
	r = request(&v, "rooms.delete", del);
	TEST_ASSERT(reply_ok(r));
	cJSON_Delete(r);
	r = request(&v, "rooms.send_data",
		    "{\"v\":1,\"room\":\"" ROOM "\",\"topic\":\"t\",\"payload\":\"x\"}");
	TEST_ASSERT(r && !reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "error.code"), "not_found");
	TEST_EQ_STR(fake_lk_str(r, "error.field"), "room");
	cJSON_Delete(r);
	r = request(&v, "recordings.start", rec);
	TEST_ASSERT(r && !reply_ok(r));
	TEST_EQ_STR(fake_lk_str(r, "error.code"), "not_found");
out:
	cJSON_Delete(r);
	env_stop(&v, err);
	return err;
}

static const struct test tests[] = {
	{ "create_room", test_create_room },
	{ "delete_room_idempotent", test_delete_room_idempotent },
	{ "send_data", test_send_data },
	{ "token_verified_by_livekit_sdk", test_token_verified_by_livekit_sdk },
	{ "recordings", test_recordings },
	{ "invalid_payloads", test_invalid_payloads },
	{ "livekit_errors", test_livekit_errors },
	{ "call_events_relayed", test_call_events_relayed },
	{ "fake_is_strict", test_fake_is_strict },
	{ "local_backend", test_local_backend },
};
TEST_MAIN(tests)
