/* The REST API of api-gateway (DESIGN §6, issue #3) through real HTTP
 * against the real binary, with a real nats-server and PostgreSQL shared by
 * every test of this file. room-manager and agent-worker are stood in for
 * by responders in this process (rooms.create, rooms.token, rooms.delete,
 * agents.dispatch), which also record what the gateway sent. */
#include "bus/bus.h"
#include "core/core.h"
#include "db/db.h"
#include "event/event.h"
#include "harness/test.h"
#include "secret/secret.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KEY "test-key-0123456789"
#define EXOTEL_PASSWORD "s3cret-exotel-pw-XYZ"
#define TWILIO_PASSWORD "s3cret-twilio-pw-QRS"

/* ---- what the stand-in services saw ------------------------------------- */

enum { F_ROOMS_CREATE, F_ROOMS_TOKEN, F_ROOMS_DELETE, F_DISPATCH, F_HANGUP, F_EVENT,
       F_SIP_TRUNKS, F_N };
static const char *const fake_subjects[F_N] = {
	"rooms.create", "rooms.token", "rooms.delete", "agents.dispatch", "cmd.calls.*.hangup",
	"calls.>", "sip.trunks.create",
};

#define SEEN_MAX 512

struct seen {
	int kind;
	char subject[128];
	char *data;
};

struct fake {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct seen seen[SEEN_MAX];
	int nseen;
	atomic_int room_refuse;
	atomic_int room_hold; /* rooms.create answers only once cleared (at most 10 s) */
	atomic_int rooms_created;
	struct bus *bus;
	struct bus_sub *subs[F_N];
};

static struct fake fake = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void on_fake(const struct bus_msg *msg, void *arg)
{
	int kind = (int)(intptr_t)arg;
	char reply[512];
	const char *r = NULL;

	pthread_mutex_lock(&fake.mu);
	if (fake.nseen < SEEN_MAX) {
		struct seen *s = &fake.seen[fake.nseen++];
		s->kind = kind;
		snprintf(s->subject, sizeof(s->subject), "%s", msg->subject);
		s->data = strndup(msg->data, (size_t)msg->len);
	}
	pthread_cond_broadcast(&fake.cv);
	pthread_mutex_unlock(&fake.mu);

	switch (kind) {
	case F_ROOMS_CREATE:
		atomic_fetch_add(&fake.rooms_created, 1);
		if (atomic_load(&fake.room_hold)) {
			struct timespec deadline;
			int rc = 0;
			clock_gettime(CLOCK_REALTIME, &deadline);
			deadline.tv_sec += 10;
			pthread_mutex_lock(&fake.mu);
			while (atomic_load(&fake.room_hold) && rc == 0)
				rc = pthread_cond_timedwait(&fake.cv, &fake.mu, &deadline);
			pthread_mutex_unlock(&fake.mu);
		}
		r = atomic_load(&fake.room_refuse)
			    ? "{\"ok\":false,\"error\":{\"code\":\"upstream_error\","
			      "\"message\":\"livekit: twirp unavailable: connection reset\"}}"
			    : "{\"ok\":true,\"data\":{\"room\":\"x\",\"backend\":\"local\","
			      "\"url\":\"ws://127.0.0.1:7880\"}}";
		break;
	case F_ROOMS_TOKEN:
		r = "{\"ok\":true,\"data\":{\"token\":\"jwt.for.web\",\"url\":\"ws://"
		    "127.0.0.1:7880\"}}";
		break;
	case F_ROOMS_DELETE:
		r = "{\"ok\":true,\"data\":{}}";
		break;
	case F_DISPATCH:
		r = "{\"ok\":true,\"data\":{\"worker\":\"agent-worker/test\"}}";
		break;
	case F_SIP_TRUNKS:
		r = "{\"ok\":true,\"data\":{\"sip_trunk_id\":\"ST_fromlivekit\"}}";
		break;
	default:
		return;
	}
	snprintf(reply, sizeof(reply), "%s", r);
	if (msg->reply && bus_respond(fake.bus, msg, reply, strlen(reply)))
		fprintf(stdout, "    fake: cannot reply on %s\n", msg->subject);
}

static int fake_sub(int kind)
{
	return bus_subscribe(fake.bus, &fake.subs[kind], fake_subjects[kind], NULL, on_fake,
			     (void *)(intptr_t)kind);
}

/* The data of the latest message of `kind` whose subject or data holds
 * `needle`, waiting up to timeout_ms for it. Caller frees. */
static char *fake_wait(int kind, const char *needle, int timeout_ms)
{
	struct timespec deadline;
	char *out = NULL;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&fake.mu);
	for (;;) {
		for (int i = fake.nseen - 1; i >= 0 && !out; i--) {
			struct seen *s = &fake.seen[i];
			if (s->kind == kind && s->data &&
			    (!needle || strstr(s->subject, needle) || strstr(s->data, needle)))
				out = strdup(s->data);
		}
		if (out || pthread_cond_timedwait(&fake.cv, &fake.mu, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&fake.mu);
	return out;
}

/* ---- the shared stack ----------------------------------------------------- */

struct env {
	bool up;
	struct test_nats nats;
	struct test_pg pg;
	int gw_pid;
	int api_port, health_port;
	char *logdir;
	char logpath[512];
	struct db *db; /* the test's own connection, for fixtures and checks */
	char env_nats[96], env_db[320], env_api[64], env_health[64];
};
static struct env E;

static void env_down(void)
{
	for (int i = 0; i < F_N; i++)
		fake.subs[i] = bus_unsubscribe(fake.subs[i]);
	fake.bus = bus_close(fake.bus);
	E.db = db_close(E.db);
	if (E.gw_pid > 0) {
		int code = 0;
		kill(E.gw_pid, SIGTERM);
		if (test_wait_exit(E.gw_pid, 10000, &code))
			test_kill(E.gw_pid);
		E.gw_pid = 0;
	}
	test_pg_destroy(&E.pg);
	test_nats_destroy(&E.nats);
	if (E.logdir) {
		test_rmtree(E.logdir);
		free(E.logdir);
		E.logdir = NULL;
	}
	for (int i = 0; i < fake.nseen; i++)
		free(fake.seen[i].data);
	fake.nseen = 0;
}

static int env_up(void)
{
	char bin[256], url[128];
	if (E.up)
		return 0;
	E.logdir = test_tmpdir("api");
	if (!E.logdir || test_nats_start(&E.nats) || test_pg_start(&E.pg))
		return EIO;
	atexit(env_down);
	E.up = true;
	E.api_port = test_free_port();
	E.health_port = test_free_port();
	snprintf(E.env_nats, sizeof(E.env_nats), "NATS_URL=%s", E.nats.url);
	snprintf(E.env_db, sizeof(E.env_db), "DATABASE_URL=%s", E.pg.url);
	snprintf(E.env_api, sizeof(E.env_api), "API_ADDR=127.0.0.1:%d", E.api_port);
	snprintf(E.env_health, sizeof(E.env_health), "HEALTH_ADDR=127.0.0.1:%d", E.health_port);
	snprintf(E.logpath, sizeof(E.logpath), "%s/api-gateway.log", E.logdir);
	const char *argv[] = { test_bin(bin, sizeof(bin), "api-gateway"), NULL };
	const char *envp[] = { E.env_nats,
			       E.env_db,
			       E.env_api,
			       E.env_health,
			       "API_KEYS=" KEY ",second-key-abcdef",
			       "LOG_FORMAT=kv",
			       "LOG_LEVEL=debug",
			       "API_THREADS=4",
			       "MIGRATIONS_DIR=services/api-gateway/migrations",
			       TEST_GW_SECRETS_ENV,
			       NULL };
	if (test_spawn(&E.gw_pid, argv, envp, E.logpath))
		return EIO;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", E.health_port);
	if (test_http_wait(url, 200, 30000)) {
		fprintf(stdout, "    api-gateway never became ready (log %s)\n", E.logpath);
		return ETIMEDOUT;
	}
	if (db_connect(&E.db, E.pg.url) || bus_connect(&fake.bus, E.nats.url, "test-fakes"))
		return EIO;
	for (int i = 0; i < F_N; i++)
		if (fake_sub(i))
			return EIO;
	return 0;
}

/* ---- HTTP helpers --------------------------------------------------------- */

/* One request; *jp = parsed body (caller frees; NULL when not JSON). */
static int call(long *statusp, cJSON **jp, const char *method, const char *path,
		const char *body)
{
	char url[512], *text = NULL;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", E.api_port, path);
	int err = test_http(statusp, &text, method, url, KEY, body);
	if (jp)
		*jp = text ? cJSON_Parse(text) : NULL;
	free(text);
	return err;
}

static const char *jpath_str(const cJSON *j, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, a);
	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *jdata(const cJSON *j, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "data"), name);
}

static const char *jdata_str(const cJSON *j, const char *name)
{
	const cJSON *v = jdata(j, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An error's message is for a person: a sentence of several words that
 * ends with a period, never the machine code again (issue 11). */
static bool message_is_sentence(const char *msg, const char *code)
{
	size_t len = msg ? strlen(msg) : 0;
	return len >= 16 && strchr(msg, ' ') && msg[len - 1] == '.' && !strstr(msg, code);
}

/* Asserts an error reply: status, error.code and error.field (NULL: null),
 * and that its message is a sentence. */
static int expect_error(const char *method, const char *path, const char *body, long want,
			const char *code, const char *field)
{
	int err = 0;
	long status = 0;
	cJSON *j = NULL;
	TEST_EQ_INT(call(&status, &j, method, path, body), 0);
	if (status != want || !j) {
		char *t = j ? cJSON_PrintUnformatted(j) : NULL;
		test_failed(__FILE__, __LINE__, "%s %s: want %ld, got %ld %s", method, path, want,
			    status, t ? t : "");
		free(t);
		err = 1;
		goto out;
	}
	TEST_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "success")));
	TEST_EQ_STR(jpath_str(j, "error", "code"), code);
	if (!message_is_sentence(jpath_str(j, "message", NULL), code)) {
		test_failed(
			__FILE__, __LINE__, "%s %s: message \"%s\" is not a sentence", method, path,
			jpath_str(j, "message", NULL) ? jpath_str(j, "message", NULL) : "(none)");
		err = 1;
		goto out;
	}
	if (field) {
		TEST_EQ_STR(jpath_str(j, "error", "field"), field);
	} else {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
		TEST_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "field")));
	}
out:
	if (err && body)
		fprintf(stdout, "    body was: %.300s\n", body);
	cJSON_Delete(j);
	return err;
}

/* POSTs and copies data.<idname> into id (status must be want). */
static int create(char id[ID_UUID_LEN + 1], const char *path, const char *body, const char *idname)
{
	int err = 0;
	long status = 0;
	cJSON *j = NULL;
	TEST_EQ_INT(call(&status, &j, "POST", path, body), 0);
	TEST_EQ_INT(status, 201);
	TEST_ASSERT(id_is_uuid(jdata_str(j, idname)));
	memcpy(id, jdata_str(j, idname), ID_UUID_LEN + 1);
out:
	cJSON_Delete(j);
	return err;
}

static const char assistant_body[] =
	"{\"assistant_name\":\"Front desk\",\"assistant_prompt\":\"You help {{name}} from "
	"{{city}}.\","
	"\"assistant_mode\":\"pipeline\","
	"\"assistant_start_instruction\":\"Hello {{ name }}, this is the clinic. {{missing}}Bye.\","
	"\"assistant_interaction_config\":{\"speaks_first\":true,\"silence_timeout_s\":10,"
	"\"max_reprompts\":2,\"fillers_enabled\":true},"
	"\"assistant_stt_config\":{\"provider\":\"local\"},"
	"\"assistant_llm_config\":{\"provider\":\"local\",\"script\":[{\"match\":\"hours\","
	"\"reply\":\"We are open nine to five.\"}]},"
	"\"assistant_tts_config\":{\"provider\":\"local\"},\"assistant_end_call_url\":null}";

static int new_assistant(char id[ID_UUID_LEN + 1])
{
	return create(id, "/assistants", assistant_body, "assistant_id");
}

/* An Exotel trunk with two fresh numbers (+9180<7 digits from seed>). */
static int new_exotel_trunk(char id[ID_UUID_LEN + 1], int seed, char first[32])
{
	char body[1024];
	snprintf(first, 32, "+9180%07d", seed);
	snprintf(body, sizeof(body),
		 "{\"trunk_name\":\"Exotel India\",\"trunk_type\":\"exotel\",\"trunk_config\":{"
		 "\"sip_host\":\"127.0.0.1\",\"sip_port\":5070,\"transport\":\"tcp\","
		 "\"sip_domain\":\"sip.exotel.test\",\"username\":\"acct\",\"password\":\""
		 EXOTEL_PASSWORD "\",\"numbers\":[\"%s\",\"+9180%07d\"]}}",
		 first, seed + 1);
	return create(id, "/trunks", body, "trunk_id");
}

/* Opens a sealed password for "<kind>:<id>" with the test key. */
static int open_sealed(char **clearp, const char *sealed, const char *kind, const char *id)
{
	struct secret_keys *k = NULL;
	char why[160], aad[96];
	free(*clearp);
	*clearp = NULL;
	snprintf(aad, sizeof(aad), "%s:%s", kind, id);
	int err = secret_keys_load(&k, TEST_SECRETS_KEY, NULL, why, sizeof(why));
	if (!err)
		err = sealed ? secret_open(clearp, NULL, k, aad, sealed) : EINVAL;
	secret_keys_free(k);
	return err;
}

/* ---- tests ---------------------------------------------------------------- */

static int test_auth_and_public_routes(void)
{
	int err = 0;
	long status = 0;
	char url[128], *body = NULL;
	TEST_EQ_INT(env_up(), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/assistants", E.api_port);
	TEST_EQ_INT(test_http(&status, &body, "GET", url, NULL, NULL), 0);
	TEST_EQ_INT(status, 401);
	TEST_CONTAINS(body, "\"code\":\"unauthorized\"");
	cJSON *j = cJSON_Parse(body);
	bool sentence = message_is_sentence(jpath_str(j, "message", NULL), "unauthorized");
	cJSON_Delete(j);
	TEST_ASSERT(sentence);
	free(body);
	body = NULL;
	TEST_EQ_INT(test_http(&status, &body, "GET", url, "wrong-key-123456", NULL), 0);
	TEST_EQ_INT(status, 401);
	free(body);
	body = NULL;
	TEST_EQ_INT(test_http(&status, NULL, "GET", url, "second-key-abcdef", NULL), 0);
	TEST_EQ_INT(status, 200);
	const char *pub[] = { "/healthz", "/readyz", "/metrics" };
	for (size_t i = 0; i < CM_ARRAY_LEN(pub); i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", E.api_port, pub[i]);
		TEST_EQ_INT(test_http(&status, NULL, "GET", url, NULL, NULL), 0);
		TEST_EQ_INT(status, 200);
	}
	/* the LiveKit webhook needs no API key but LiveKit's signature */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/livekit/webhook", E.api_port);
	TEST_EQ_INT(test_http(&status, NULL, "POST", url, NULL, "{\"event\":\"room_finished\"}"),
		    0);
	TEST_EQ_INT(status, 401);
out:
	free(body);
	return err;
}

static int test_assistants_crud(void)
{
	int err = 0;
	long status = 0;
	cJSON *j = NULL;
	char id[ID_UUID_LEN + 1], path[128];
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(call(&status, &j, "POST", "/assistants", assistant_body), 0);
	TEST_EQ_INT(status, 201);
	TEST_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "success")));
	TEST_ASSERT(id_is_uuid(jdata_str(j, "assistant_id")));
	memcpy(id, jdata_str(j, "assistant_id"), sizeof(id));
	TEST_EQ_STR(jdata_str(j, "assistant_mode"), "pipeline");
	cJSON_Delete(j);
	j = NULL;

	snprintf(path, sizeof(path), "/assistants/%s", id);
	TEST_EQ_INT(call(&status, &j, "GET", path, NULL), 0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_STR(jdata_str(j, "assistant_name"), "Front desk");
	const cJSON *ic = jdata(j, "assistant_interaction_config");
	TEST_EQ_INT(cJSON_GetObjectItemCaseSensitive(ic, "max_reprompts")->valuedouble, 2);
	TEST_ASSERT(cJSON_IsNull(jdata(j, "assistant_end_call_url")));
	cJSON_Delete(j);
	j = NULL;

	TEST_EQ_INT(call(&status, &j, "PATCH", path,
			 "{\"assistant_name\":\"Night desk\",\"assistant_mode\":\"realtime\","
			 "\"assistant_end_call_url\":\"https://hooks.example.com/end?x=1\"}"),
		    0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_STR(jdata_str(j, "assistant_name"), "Night desk");
	TEST_EQ_STR(jdata_str(j, "assistant_mode"), "realtime");
	TEST_EQ_STR(jdata_str(j, "assistant_end_call_url"), "https://hooks.example.com/end?x=1");
	TEST_CONTAINS(jdata_str(j, "assistant_prompt"), "You help");
	cJSON_Delete(j);
	j = NULL;
	TEST_EQ_INT(call(&status, &j, "PATCH", path, "{\"assistant_end_call_url\":null}"), 0);
	TEST_EQ_INT(status, 200);
	TEST_ASSERT(cJSON_IsNull(jdata(j, "assistant_end_call_url")));
	cJSON_Delete(j);
	j = NULL;

	TEST_EQ_INT(call(&status, &j, "GET", "/assistants?limit=100", NULL), 0);
	TEST_EQ_INT(status, 200);
	char *text = cJSON_PrintUnformatted(jdata(j, "assistants"));
	bool listed = text && strstr(text, id);
	free(text);
	TEST_ASSERT(listed);
	cJSON_Delete(j);
	j = NULL;

	TEST_EQ_INT(call(&status, &j, "DELETE", path, NULL), 0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_INT(expect_error("GET", path, NULL, 404, "not_found", "assistant_id"), 0);
	TEST_EQ_INT(expect_error("DELETE", path, NULL, 404, "not_found", "assistant_id"), 0);
	TEST_EQ_INT(expect_error("PATCH", path, "{\"assistant_name\":\"x\"}", 404, "not_found",
				 "assistant_id"), 0);
	/* soft: the row stays for the calls that used it */
	const char *params[] = { id };
	struct db_result *res = NULL;
	TEST_EQ_INT(db_exec(E.db, &res, "SELECT active FROM assistants WHERE id = $1", 1, params),
		    0);
	TEST_EQ_STR(db_result_get(res, 0, 0), "f");
	db_result_free(res);
out:
	cJSON_Delete(j);
	return err;
}

static int test_assistant_validation(void)
{
	int err = 0;
	char path[128], *big = NULL;
	TEST_EQ_INT(env_up(), 0);
	struct {
		const char *body, *code, *field;
	} rows[] = {
		{ "{\"assistant_prompt\":\"p\"}", "missing_field", "assistant_name" },
		{ "{\"assistant_name\":\"\",\"assistant_prompt\":\"p\"}", "invalid_field",
		  "assistant_name" },
		{ "{\"assistant_name\":7,\"assistant_prompt\":\"p\"}", "invalid_field",
		  "assistant_name" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\",\"assistant_mode\":"
		  "\"turbo\"}",
		  "invalid_field", "assistant_mode" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\",\"colour\":\"red\","
		  "\"size\":1}",
		  "unknown_field", "colour" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\","
		  "\"assistant_interaction_config\":{\"max_reprompts\":99}}",
		  "invalid_field", "assistant_interaction_config.max_reprompts" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\","
		  "\"assistant_interaction_config\":{\"speaks_first\":\"yes\"}}",
		  "invalid_field", "assistant_interaction_config.speaks_first" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\","
		  "\"assistant_interaction_config\":{\"wat\":1}}",
		  "unknown_field", "assistant_interaction_config.wat" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\","
		  "\"assistant_stt_config\":{\"provider\":\"azure\"}}",
		  "invalid_field", "assistant_stt_config.provider" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\",\"assistant_tts_config\":{}"
		  "}",
		  "missing_field", "assistant_tts_config.provider" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\","
		  "\"assistant_llm_config\":{\"provider\":\"local\",\"script\":[{\"match\":\"x\"}]}"
		  "}",
		  "missing_field", "assistant_llm_config.script[0].reply" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\","
		  "\"assistant_end_call_url\":\"ftp://example.com/x\"}",
		  "invalid_field", "assistant_end_call_url" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\","
		  "\"assistant_end_call_url\":\"http://\"}",
		  "invalid_field", "assistant_end_call_url" },
		{ "{\"assistant_name\":\"a\",\"assistant_name\":\"b\",\"assistant_prompt\":\"p\"}",
		  "invalid_field", "assistant_name" },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(rows); i++)
		TEST_EQ_INT(expect_error("POST", "/assistants", rows[i].body, 400, rows[i].code,
					 rows[i].field), 0);
	/* lengths: a 201-byte name */
	char body[512];
	snprintf(body, sizeof(body), "{\"assistant_name\":\"%0201d\",\"assistant_prompt\":\"p\"}",
		 0);
	TEST_EQ_INT(expect_error("POST", "/assistants", body, 400, "invalid_field",
				 "assistant_name"),
		    0);
	/* not JSON, not an object, no body, over the cap */
	TEST_EQ_INT(expect_error("POST", "/assistants", "{not json", 400, "invalid_json", NULL), 0);
	TEST_EQ_INT(expect_error("POST", "/assistants", "[1,2]", 400, "invalid_json", NULL), 0);
	TEST_EQ_INT(expect_error("POST", "/assistants", NULL, 400, "missing_body", NULL), 0);
	size_t n = (1u << 20) + 100;
	big = malloc(n + 1);
	TEST_ASSERT(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	TEST_EQ_INT(expect_error("POST", "/assistants", big, 413, "body_too_large", NULL), 0);
	/* ids: malformed → 400, well-formed and absent → 404 */
	TEST_EQ_INT(expect_error("GET", "/assistants/not-a-uuid", NULL, 400, "invalid_id",
				 "assistant_id"), 0);
	snprintf(path, sizeof(path), "/assistants/00000000-0000-4000-8000-000000000000");
	TEST_EQ_INT(expect_error("GET", path, NULL, 404, "not_found", "assistant_id"), 0);
	/* PATCH checks what it is given */
	char id[ID_UUID_LEN + 1];
	TEST_EQ_INT(new_assistant(id), 0);
	snprintf(path, sizeof(path), "/assistants/%s", id);
	TEST_EQ_INT(expect_error("PATCH", path, "{\"assistant_mode\":\"fast\"}", 400,
				 "invalid_field", "assistant_mode"),
		    0);
	TEST_EQ_INT(expect_error("PATCH", path, "{\"assistant_name\":null}", 400, "missing_field",
				 "assistant_name"), 0);
	TEST_EQ_INT(expect_error("PATCH", path, "{\"nope\":1}", 400, "unknown_field", "nope"), 0);
out:
	free(big);
	return err;
}

/* No reply body of /trunks may hold a password. */
static int test_trunks_crud_and_secrets(void)
{
	int err = 0;
	long status = 0;
	cJSON *j = NULL;
	char *text = NULL, *seen = NULL, id[ID_UUID_LEN + 1], id2[ID_UUID_LEN + 1], path[128],
	     first[32];
	struct db_result *res = NULL;
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_exotel_trunk(id, 4319240, first), 0);
	snprintf(path, sizeof(path), "/trunks/%s", id);
	TEST_EQ_INT(call(&status, &j, "GET", path, NULL), 0);
	TEST_EQ_INT(status, 200);
	text = cJSON_PrintUnformatted(j);
	TEST_ASSERT(text && !strstr(text, EXOTEL_PASSWORD) && !strstr(text, "\"password\""));
	TEST_EQ_STR(jdata_str(j, "trunk_type"), "exotel");
	TEST_ASSERT(cJSON_IsTrue(jdata(j, "trunk_password_set")));
	const cJSON *cfg = jdata(j, "trunk_config");
	TEST_EQ_STR(cJSON_GetObjectItemCaseSensitive(cfg, "sip_host")->valuestring, "127.0.0.1");
	const cJSON *numbers = cJSON_GetObjectItemCaseSensitive(cfg, "numbers");
	TEST_EQ_STR(cJSON_GetArrayItem(numbers, 0)->valuestring, first);
	free(text);
	text = NULL;
	cJSON_Delete(j);
	j = NULL;

	TEST_EQ_INT(call(&status, &j, "GET", "/trunks", NULL), 0);
	TEST_EQ_INT(status, 200);
	text = cJSON_PrintUnformatted(j);
	TEST_ASSERT(text && strstr(text, id) && !strstr(text, EXOTEL_PASSWORD));
	free(text);
	text = NULL;
	cJSON_Delete(j);
	j = NULL;

	/* a number owned by another trunk → 409 naming it */
	char body[1024];
	snprintf(body, sizeof(body),
		 "{\"trunk_name\":\"Twilio US\",\"trunk_type\":\"twilio\",\"trunk_config\":{"
		 "\"livekit_sip_trunk_id\":\"ST_abc\",\"numbers\":[\"+15550100000\",\"%s\"]}}",
		 first);
	TEST_EQ_INT(expect_error("POST", "/trunks", body, 409, "number_taken",
				 "trunk_config.numbers[1]"), 0);

	/* PATCH without a password keeps the stored one; with one replaces it */
	TEST_EQ_INT(call(&status, &j, "PATCH", path,
			 "{\"trunk_name\":\"Exotel "
			 "Mumbai\",\"trunk_config\":{\"sip_host\":\"127.0.0.2\","
			 "\"username\":\"acct\",\"numbers\":[\"+918011111111\"]}}"),
		    0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_STR(jdata_str(j, "trunk_name"), "Exotel Mumbai");
	text = cJSON_PrintUnformatted(j);
	TEST_ASSERT(text && !strstr(text, EXOTEL_PASSWORD));
	const char *params[] = { id };
	TEST_EQ_INT(db_exec(E.db, &res, "SELECT secrets->>'password', secrets::text FROM trunks"
			    " WHERE id = $1", 1, params), 0);
	/* sealed for this row (issue 13): never the clear text */
	TEST_ASSERT(strstr(db_result_get(res, 0, 1), EXOTEL_PASSWORD) == NULL);
	TEST_EQ_INT(open_sealed(&seen, db_result_get(res, 0, 0), "trunk", id), 0);
	TEST_EQ_STR(seen, EXOTEL_PASSWORD);
	res = db_result_free(res);
	/* its old numbers were released: another trunk may take them */
	TEST_EQ_INT(new_exotel_trunk(id2, 4319240, first), 0);

	/* delete is soft and releases the numbers */
	TEST_EQ_INT(call(&status, NULL, "DELETE", path, NULL), 0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_INT(expect_error("GET", path, NULL, 404, "not_found", "trunk_id"), 0);
	TEST_EQ_INT(db_exec(E.db, &res, "SELECT count(*) FROM phone_numbers WHERE trunk_id = $1", 1,
			    params), 0);
	TEST_EQ_STR(db_result_get(res, 0, 0), "0");

	/* Twilio with address/username/password is accepted, password hidden */
	cJSON_Delete(j);
	j = NULL;
	TEST_EQ_INT(
		call(&status, &j, "POST", "/trunks",
		     "{\"trunk_name\":\"Twilio EU\",\"trunk_type\":\"twilio\",\"trunk_config\":{"
		     "\"address\":\"example.pstn.twilio.com\",\"username\":\"u\",\"password\":"
		     "\"" TWILIO_PASSWORD "\",\"numbers\":[\"+15550100001\"]}}"),
		0);
	TEST_EQ_INT(status, 201);
	free(text);
	text = cJSON_PrintUnformatted(j);
	TEST_ASSERT(text && !strstr(text, TWILIO_PASSWORD));
	/* ... after twilio-dialer created it in LiveKit, whose id is stored */
	TEST_CONTAINS(text, "\"livekit_sip_trunk_id\":\"ST_fromlivekit\"");
	free(seen);
	seen = fake_wait(F_SIP_TRUNKS, "example.pstn.twilio.com", 5000);
	TEST_ASSERT(seen);
	TEST_CONTAINS(seen, TWILIO_PASSWORD);
	TEST_CONTAINS(seen, "+15550100001");

	/* nobody to create it in LiveKit: refused, nothing stored */
	fake.subs[F_SIP_TRUNKS] = bus_unsubscribe(fake.subs[F_SIP_TRUNKS]);
	TEST_EQ_INT(
		expect_error(
			"POST", "/trunks",
			"{\"trunk_name\":\"Twilio AU\",\"trunk_type\":\"twilio\",\"trunk_config\":{"
			"\"address\":\"au.pstn.twilio.com\",\"username\":\"u\",\"password\":\"p\","
			"\"numbers\":[\"+15550100002\"]}}",
			503, "livekit_unavailable", "trunk_config.address"),
		0);
	db_result_free(res);
	res = NULL;
	TEST_EQ_INT(db_exec(E.db, &res,
			    "SELECT count(*) FROM phone_numbers WHERE number = '+15550100002'", 0,
			    NULL),
		    0);
	TEST_EQ_STR(db_result_get(res, 0, 0), "0");
out:
	if (!fake.subs[F_SIP_TRUNKS] && fake_sub(F_SIP_TRUNKS))
		err = 1;
	free(seen);
	db_result_free(res);
	free(text);
	cJSON_Delete(j);
	return err;
}

static int test_trunk_validation(void)
{
	int err = 0;
	TEST_EQ_INT(env_up(), 0);
	struct {
		const char *body, *code, *field;
	} rows[] = {
		{ "{\"trunk_type\":\"exotel\",\"trunk_config\":{}}", "missing_field",
		  "trunk_name" },
		{ "{\"trunk_name\":\"t\",\"trunk_type\":\"plivo\",\"trunk_config\":{}}",
		  "invalid_field", "trunk_type" },
		{ "{\"trunk_name\":\"t\",\"trunk_type\":\"exotel\"}", "missing_field",
		  "trunk_config" },
		{ "{\"trunk_name\":\"t\",\"trunk_type\":\"exotel\",\"trunk_config\":{\"sip_host\":"
		  "\"h\","
		  "\"username\":\"u\",\"password\":\"p\",\"numbers\":[\"918044319240\"]}}",
		  "invalid_field", "trunk_config.numbers[0]" },
		{ "{\"trunk_name\":\"t\",\"trunk_type\":\"exotel\",\"trunk_config\":{\"sip_host\":"
		  "\"h\","
		  "\"username\":\"u\",\"numbers\":[\"+918044319299\"]}}",
		  "missing_field", "trunk_config.password" },
		{ "{\"trunk_name\":\"t\",\"trunk_type\":\"exotel\",\"trunk_config\":{\"sip_host\":"
		  "\"h\","
		  "\"username\":\"u\",\"password\":\"p\",\"sip_port\":70000,\"numbers\":[\"+"
		  "918044319299\"]}}",
		  "invalid_field", "trunk_config.sip_port" },
		{ "{\"trunk_name\":\"t\",\"trunk_type\":\"exotel\",\"trunk_config\":{\"sip_host\":"
		  "\"h\","
		  "\"username\":\"u\",\"password\":\"p\",\"transport\":\"sctp\",\"numbers\":[\"+"
		  "918044319299\"]}}",
		  "invalid_field", "trunk_config.transport" },
		{ "{\"trunk_name\":\"t\",\"trunk_type\":\"exotel\",\"trunk_config\":{\"sip_host\":"
		  "\"bad host\","
		  "\"username\":\"u\",\"password\":\"p\",\"numbers\":[\"+918044319299\"]}}",
		  "invalid_field", "trunk_config.sip_host" },
		{ "{\"trunk_name\":\"t\",\"trunk_type\":\"exotel\",\"trunk_config\":{\"sip_host\":"
		  "\"h\","
		  "\"username\":\"u\",\"password\":\"p\",\"numbers\":[]}}",
		  "invalid_field", "trunk_config.numbers" },
		{ "{\"trunk_name\":\"t\",\"trunk_type\":\"exotel\",\"trunk_config\":{\"sip_host\":"
		  "\"h\","
		  "\"username\":\"u\",\"password\":\"p\",\"numbers\":[\"+918044319299\",\"+"
		  "918044319299\"]}}",
		  "invalid_field", "trunk_config.numbers[1]" },
		{ "{\"trunk_name\":\"t\",\"trunk_type\":\"exotel\",\"trunk_config\":{\"sip_host\":"
		  "\"h\","
		  "\"username\":\"u\",\"password\":\"p\",\"livekit_sip_trunk_id\":\"ST_x\","
		  "\"numbers\":[\"+918044319299\"]}}",
		  "unknown_field", "trunk_config.livekit_sip_trunk_id" },
		{ "{\"trunk_name\":\"t\",\"trunk_type\":\"twilio\",\"trunk_config\":{"
		  "\"numbers\":[\"+15550100009\"]}}",
		  "missing_field", "trunk_config.livekit_sip_trunk_id" },
		{ "{\"trunk_name\":\"t\",\"trunk_type\":\"twilio\",\"trunk_config\":{\"livekit_sip_"
		  "trunk_id\":"
		  "\"ST_1\",\"address\":\"a.b\",\"numbers\":[\"+15550100009\"]}}",
		  "invalid_field", "trunk_config.livekit_sip_trunk_id" },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(rows); i++)
		TEST_EQ_INT(expect_error("POST", "/trunks", rows[i].body, 400, rows[i].code,
					 rows[i].field), 0);
	TEST_EQ_INT(expect_error("GET", "/trunks/123", NULL, 400, "invalid_id", "trunk_id"), 0);
	TEST_EQ_INT(expect_error("DELETE", "/trunks/00000000-0000-4000-8000-000000000001", NULL,
				 404, "not_found", "trunk_id"),
		    0);
out:
	return err;
}

/* Reads the next dial job from DIALS with a pull consumer. */
struct dial_seen {
	char *data;
	char msg_id[64];
	char subject[64];
};

static enum bus_ack on_dial(const struct bus_msg *msg, void *arg)
{
	struct dial_seen *d = arg;
	free(d->data);
	d->data = strndup(msg->data, (size_t)msg->len);
	snprintf(d->msg_id, sizeof(d->msg_id), "%s", msg->msg_id ? msg->msg_id : "");
	snprintf(d->subject, sizeof(d->subject), "%s", msg->subject);
	return BUS_ACK_SYNC;
}

/* Takes the next job the way its worker does: api-gateway creates the
 * workers' DIALS consumers (sip-bridge, twilio-dialer), the test reads one. */
static int fetch_dial(struct dial_seen *d, const char *filter, const char *durable)
{
	struct bus_sub *sub = NULL;
	int n = 0;
	int err = bus_js_pull_sub(fake.bus, &sub, "DIALS", durable, filter);
	if (!err)
		err = bus_js_fetch(sub, 1, 5000, on_dial, d, &n);
	bus_unsubscribe(sub);
	return err ? err : n == 1 ? 0 : EIO;
}


static int test_outbound_happy_path(void)
{
	int err = 0;
	long status = 0;
	cJSON *j = NULL, *job = NULL, *disp = NULL;
	char aid[ID_UUID_LEN + 1], tid[ID_UUID_LEN + 1], first[32], body[1024], path[128];
	char call_id[ID_UUID_LEN + 1] = "", *ev = NULL, *dispatch = NULL, *room = NULL,
				   *clear = NULL;
	struct dial_seen d = { 0 };
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	TEST_EQ_INT(new_exotel_trunk(tid, 5000100, first), 0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876543210\","
		 "\"call_service\":\"exotel\",\"metadata\":{\"name\":\"Asha\",\"city\":\"Pune\","
		 "\"visits\":3}}", aid, tid);
	TEST_EQ_INT(call(&status, &j, "POST", "/call/outbound", body), 0);
	TEST_EQ_INT(status, 202);
	TEST_EQ_STR(jdata_str(j, "status"), "queued");
	TEST_ASSERT(id_is_uuid(jdata_str(j, "call_id")));
	memcpy(call_id, jdata_str(j, "call_id"), sizeof(call_id));
	char want_room[64];
	snprintf(want_room, sizeof(want_room), "call-%s", call_id);
	TEST_EQ_STR(jdata_str(j, "room_name"), want_room);

	/* call_queued on calls.<id>.call_queued, from api-gateway */
	char subj[96];
	snprintf(subj, sizeof(subj), "calls.%s.call_queued", call_id);
	ev = fake_wait(F_EVENT, subj, 5000);
	TEST_ASSERT(ev);
	TEST_CONTAINS(ev, "\"source\":\"api-gateway/");
	/* rooms.create, then agents.dispatch with placeholders filled */
	room = fake_wait(F_ROOMS_CREATE, call_id, 1000);
	TEST_ASSERT(room);
	TEST_CONTAINS(room, want_room);
	dispatch = fake_wait(F_DISPATCH, call_id, 1000);
	TEST_ASSERT(dispatch);
	disp = cJSON_Parse(dispatch);
	TEST_EQ_STR(jpath_str(disp, "kind", NULL), "outbound");
	TEST_EQ_STR(jpath_str(disp, "provider", NULL), "exotel");
	TEST_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(disp, "wait_for_answer")));
	TEST_EQ_STR(jpath_str(disp, "assistant", "prompt"), "You help Asha from Pune.");
	TEST_EQ_STR(jpath_str(disp, "assistant", "start_instruction"),
		    "Hello Asha, this is the clinic. Bye.");
	TEST_EQ_STR(jpath_str(disp, "assistant", "id"), aid);

	/* the dial job, read back from DIALS */
	TEST_EQ_INT(fetch_dial(&d, "dial.exotel", "sip-bridge"), 0);
	char want_id[64];
	snprintf(want_id, sizeof(want_id), "dial-%s", call_id);
	TEST_EQ_STR(d.msg_id, want_id);
	TEST_EQ_STR(d.subject, "dial.exotel");
	job = cJSON_Parse(d.data);
	TEST_EQ_STR(jpath_str(job, "call_id", NULL), call_id);
	TEST_EQ_STR(jpath_str(job, "room", NULL), want_room);
	TEST_EQ_STR(jpath_str(job, "to_number", NULL), "+919876543210");
	TEST_EQ_STR(jpath_str(job, "from_number", NULL), first);
	TEST_EQ_STR(jpath_str(job, "trunk", "provider"), "exotel");
	TEST_EQ_STR(jpath_str(job, "trunk", "sip_host"), "127.0.0.1");
	TEST_EQ_STR(jpath_str(job, "trunk", "transport"), "tcp");
	/* the password travels sealed for this call only (issue 13) */
	TEST_ASSERT(strstr(d.data, EXOTEL_PASSWORD) == NULL);
	TEST_ASSERT(jpath_str(job, "trunk", "password") == NULL);
	TEST_EQ_INT(open_sealed(&clear, jpath_str(job, "trunk", "password_sealed"), "call",
				call_id),
		    0);
	TEST_EQ_STR(clear, EXOTEL_PASSWORD);
	TEST_EQ_INT(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(job, "trunk"),
						     "sip_port")->valuedouble, 5070);
	/* dialers drop it after dial_by: DIAL_QUEUE_TIMEOUT_S (300 s) after the call was
	 * queued, a moment before the job's created_at */
	int64_t created_ms = 0, dial_by_ms = 0;
	TEST_EQ_INT(time_parse_iso8601(&created_ms, jpath_str(job, "created_at", NULL)), 0);
	TEST_EQ_INT(time_parse_iso8601(&dial_by_ms, jpath_str(job, "dial_by", NULL)), 0);
	TEST_ASSERT(dial_by_ms - created_ms > 290000 && dial_by_ms - created_ms <= 300000);
	/* the row keeps the job's dial_by: the gateway gives up on the call by it */
	char *row_dial_by = test_db_query1(E.db,
					   "SELECT (extract(epoch from dial_by) * 1000)::bigint"
					   " FROM calls WHERE id = $1",
					   call_id);
	TEST_ASSERT(row_dial_by != NULL);
	long long row_ms = strtoll(row_dial_by, NULL, 10);
	free(row_dial_by);
	TEST_EQ_INT(row_ms, dial_by_ms);

	/* the record */
	cJSON_Delete(j);
	j = NULL;
	snprintf(path, sizeof(path), "/calls/%s", call_id);
	TEST_EQ_INT(call(&status, &j, "GET", path, NULL), 0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_STR(jdata_str(j, "status"), "queued");
	TEST_EQ_STR(jdata_str(j, "kind"), "outbound");
	TEST_EQ_STR(jdata_str(j, "provider"), "exotel");
	TEST_EQ_STR(jdata_str(j, "from_number"), first);
	TEST_EQ_STR(jdata_str(j, "assistant_id"), aid);
	TEST_EQ_STR(jdata_str(j, "trunk_id"), tid);
	TEST_EQ_STR(jpath_str(jdata(j, "metadata"), "name", NULL), "Asha");
	TEST_ASSERT(cJSON_IsArray(jdata(j, "transcripts")));
	TEST_ASSERT(cJSON_IsArray(jdata(j, "events")));
	TEST_ASSERT(cJSON_IsNull(jdata(j, "duration_ms")));

	/* an explicit from_number of the trunk is used */
	cJSON_Delete(j);
	j = NULL;
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876543210\","
		 "\"call_service\":\"exotel\",\"from_number\":\"+9180%07d\"}", aid, tid, 5000101);
	TEST_EQ_INT(call(&status, &j, "POST", "/call/outbound", body), 0);
	TEST_EQ_INT(status, 202);
	TEST_EQ_INT(fetch_dial(&d, "dial.exotel", "sip-bridge"), 0);
	TEST_CONTAINS(d.data, "\"from_number\":\"+91805000101\"");
out:
	free(clear);
	free(d.data);
	free(ev);
	free(room);
	free(dispatch);
	cJSON_Delete(disp);
	cJSON_Delete(job);
	cJSON_Delete(j);
	return err;
}

static int test_outbound_twilio_job(void)
{
	int err = 0;
	long status = 0;
	cJSON *j = NULL, *job = NULL;
	char aid[ID_UUID_LEN + 1], tid[ID_UUID_LEN + 1], body[1024];
	struct dial_seen d = { 0 };
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	TEST_EQ_INT(
		create(tid, "/trunks",
		       "{\"trunk_name\":\"Twilio US\",\"trunk_type\":\"twilio\",\"trunk_config\":{"
		       "\"livekit_sip_trunk_id\":\"ST_abc123\",\"numbers\":[\"+15550100777\"]}}",
		       "trunk_id"),
		0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+15551234567\","
		 "\"call_service\":\"twilio\"}", aid, tid);
	TEST_EQ_INT(call(&status, &j, "POST", "/call/outbound", body), 0);
	TEST_EQ_INT(status, 202);
	TEST_EQ_INT(fetch_dial(&d, "dial.twilio", "twilio-dialer"), 0);
	job = cJSON_Parse(d.data);
	char ident[64];
	snprintf(ident, sizeof(ident), "sip-%s", jdata_str(j, "call_id"));
	TEST_EQ_STR(jpath_str(job, "participant_identity", NULL), ident);
	TEST_EQ_STR(jpath_str(job, "trunk", "livekit_sip_trunk_id"), "ST_abc123");
	TEST_EQ_STR(jpath_str(job, "trunk", "provider"), "twilio");
	TEST_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(job, "trunk"), "krisp_enabled")));
out:
	free(d.data);
	cJSON_Delete(job);
	cJSON_Delete(j);
	return err;
}

static int test_outbound_refusals(void)
{
	int err = 0;
	char aid[ID_UUID_LEN + 1], tid[ID_UUID_LEN + 1], gone[ID_UUID_LEN + 1], first[32];
	char body[1024], path[128];
	struct db_result *res = NULL;
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	TEST_EQ_INT(new_assistant(gone), 0);
	snprintf(path, sizeof(path), "/assistants/%s", gone);
	long status = 0;
	TEST_EQ_INT(call(&status, NULL, "DELETE", path, NULL), 0);
	TEST_EQ_INT(new_exotel_trunk(tid, 6000100, first), 0);
	const char *absent = "00000000-0000-4000-8000-00000000abcd";
	struct {
		const char *a, *t, *to, *svc, *from;
		long status;
		const char *code, *field;
	} rows[] = {
		{ aid, tid, "+919876543210", "twilio", NULL, 400, "provider_mismatch",
		  "call_service" },
		{ absent, tid, "+919876543210", "exotel", NULL, 404, "not_found", "assistant_id" },
		{ gone, tid, "+919876543210", "exotel", NULL, 404, "not_found", "assistant_id" },
		{ aid, absent, "+919876543210", "exotel", NULL, 404, "not_found", "trunk_id" },
		/* both absent (one query reads both): the assistant is named */
		{ absent, absent, "+919876543210", "exotel", NULL, 404, "not_found",
		  "assistant_id" },
		{ aid, tid, "+919876543210", "exotel", "+15550100000", 400, "number_not_on_trunk",
		  "from_number" },
		{ aid, tid, "9876543210", "exotel", NULL, 400, "invalid_field", "to_number" },
		{ aid, tid, "+919876543210", "sip", NULL, 400, "invalid_field", "call_service" },
		{ "xyz", tid, "+919876543210", "exotel", NULL, 400, "invalid_field",
		  "assistant_id" },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(rows); i++) {
		char from[64] = "";
		if (rows[i].from)
			snprintf(from, sizeof(from), ",\"from_number\":\"%s\"", rows[i].from);
		snprintf(body, sizeof(body),
			 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"%s\","
			 "\"call_service\":\"%s\"%s}",
			 rows[i].a, rows[i].t, rows[i].to, rows[i].svc, from);
		TEST_EQ_INT(expect_error("POST", "/call/outbound", body, rows[i].status,
					 rows[i].code, rows[i].field),
			    0);
	}
	snprintf(body, sizeof(body), "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\","
		 "\"to_number\":\"+919876543210\"}", aid, tid);
	TEST_EQ_INT(expect_error("POST", "/call/outbound", body, 400, "missing_field",
				 "call_service"),
		    0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\","
		 "\"to_number\":\"+919876543210\",\"call_service\":\"exotel\",\"metadata\":[1]}",
		 aid, tid);
	TEST_EQ_INT(expect_error("POST", "/call/outbound", body, 400, "invalid_field", "metadata"),
		    0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\","
		 "\"to_number\":\"+919876543210\",\"call_service\":\"exotel\",\"priority\":1}",
		 aid, tid);
	TEST_EQ_INT(expect_error("POST", "/call/outbound", body, 400, "unknown_field", "priority"),
		    0);
	/* nothing refused left a row */
	const char *params[] = { aid };
	TEST_EQ_INT(db_exec(E.db, &res, "SELECT count(*) FROM calls WHERE assistant_id = $1", 1,
			    params), 0);
	TEST_EQ_STR(db_result_get(res, 0, 0), "0");
out:
	db_result_free(res);
	return err;
}

/* The only call of assistant `aid`, from GET /calls?assistant_id=. */
static int only_call(cJSON **callp, const char *aid)
{
	int err = 0;
	long status = 0;
	char path[160];
	cJSON *j = NULL;
	snprintf(path, sizeof(path), "/calls?assistant_id=%s", aid);
	TEST_EQ_INT(call(&status, &j, "GET", path, NULL), 0);
	TEST_EQ_INT(status, 200);
	const cJSON *calls = jdata(j, "calls");
	TEST_EQ_INT(cJSON_GetArraySize(calls), 1);
	*callp = cJSON_Duplicate(cJSON_GetArrayItem(calls, 0), true);
out:
	cJSON_Delete(j);
	return err;
}

static int test_outbound_agent_unavailable_fails_call(void)
{
	int err = 0;
	cJSON *c = NULL;
	char aid[ID_UUID_LEN + 1], tid[ID_UUID_LEN + 1], first[32], body[1024], subj[96];
	char *ev = NULL, *del = NULL;
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	TEST_EQ_INT(new_exotel_trunk(tid, 7000100, first), 0);
	fake.subs[F_DISPATCH] = bus_unsubscribe(fake.subs[F_DISPATCH]);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876543210\","
		 "\"call_service\":\"exotel\"}", aid, tid);
	TEST_EQ_INT(expect_error("POST", "/call/outbound", body, 503, "agent_unavailable", NULL),
		    0);
	TEST_EQ_INT(only_call(&c, aid), 0);
	TEST_EQ_STR(jpath_str(c, "status", NULL), "failed");
	TEST_EQ_STR(jpath_str(c, "end_reason", NULL), "agent_unavailable");
	TEST_ASSERT(jpath_str(c, "ended_at", NULL));
	snprintf(subj, sizeof(subj), "calls.%s.call_failed", jpath_str(c, "call_id", NULL));
	ev = fake_wait(F_EVENT, subj, 5000);
	TEST_ASSERT(ev);
	TEST_CONTAINS(ev, "\"status\":\"failed\"");
	TEST_CONTAINS(ev, "agent_unavailable");
	/* the room it had created is given back */
	del = fake_wait(F_ROOMS_DELETE, jpath_str(c, "call_id", NULL), 5000);
	TEST_ASSERT(del);
out:
	if (!fake.subs[F_DISPATCH] && fake_sub(F_DISPATCH))
		err = 1;
	free(ev);
	free(del);
	cJSON_Delete(c);
	return err;
}

static int test_outbound_room_refused_records_error(void)
{
	int err = 0;
	cJSON *c = NULL;
	char aid[ID_UUID_LEN + 1], tid[ID_UUID_LEN + 1], first[32], body[1024];
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	TEST_EQ_INT(new_exotel_trunk(tid, 7100100, first), 0);
	atomic_store(&fake.room_refuse, 1);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876543210\","
		 "\"call_service\":\"exotel\"}", aid, tid);
	TEST_EQ_INT(expect_error("POST", "/call/outbound", body, 502, "room_failed", NULL), 0);
	TEST_EQ_INT(only_call(&c, aid), 0);
	TEST_EQ_STR(jpath_str(c, "status", NULL), "failed");
	TEST_CONTAINS(jpath_str(c, "end_reason", NULL),
		      "room_failed: upstream_error: livekit: twirp");
out:
	atomic_store(&fake.room_refuse, 0);
	cJSON_Delete(c);
	return err;
}

/* At the limit (API_JS_PENDING_MAX=1): while one call waits for its room
 * with its call_queued publish in flight, the next is refused 503
 * overloaded with a sentence, and its row says why; the first then goes on.
 * 16 threads: MHD gives a connection to the thread its fd names (fd mod
 * threads), so the two connections land on two threads. */
struct post_arg {
	const char *url, *body;
	long status;
};

static void *post_thread(void *arg)
{
	struct post_arg *a = arg;
	char *reply = NULL;
	if (test_http(&a->status, &reply, "POST", a->url, KEY, a->body))
		a->status = -1;
	free(reply);
	return NULL;
}

static bool rooms_created_ge(void *arg)
{
	return atomic_load(&fake.rooms_created) >= *(int *)arg;
}

/* A sip-bridge whose heartbeat lists MAX_CALLS calls: POST /call/outbound
 * for an Exotel call is refused 503 at_capacity and stores nothing; once
 * its next heartbeat lists fewer, calls are taken again. */
struct capacity_probe {
	const char *body; /* a call on a trunk that does not exist */
	long want;        /* 503 (full) or 404 (room: the trunk is looked up) */
};

static bool outbound_answers(void *arg)
{
	const struct capacity_probe *p = arg;
	long status = 0;
	cJSON *j = NULL;
	bool ok = call(&status, &j, "POST", "/call/outbound", p->body) == 0 && status == p->want;
	cJSON_Delete(j);
	return ok;
}

static int heartbeat(const char *calls, int max_calls)
{
	char json[512], ts[TIME_ISO_LEN + 1];
	time_iso8601(ts, time_now_ms());
	snprintf(json, sizeof(json),
		 "{\"v\":1,\"source\":\"sip-bridge/capacity-test\",\"calls\":[%s],"
		 "\"max_calls\":%d,\"ts\":\"%s\"}",
		 calls, max_calls, ts);
	return bus_publish(fake.bus, "owners.heartbeat", json, strlen(json));
}

static int test_outbound_at_capacity(void)
{
	int err = 0;
	long status = 0;
	cJSON *j = NULL;
	char aid[ID_UUID_LEN + 1], tid[ID_UUID_LEN + 1], first[32], body[1024], probe[1024];
	char *before = NULL, *after = NULL;
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	TEST_EQ_INT(new_exotel_trunk(tid, 7100400, first), 0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876543211\","
		 "\"call_service\":\"exotel\"}",
		 aid, tid);
	snprintf(probe, sizeof(probe),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876543211\","
		 "\"call_service\":\"exotel\"}",
		 aid, "00000000-0000-4000-8000-000000000000");
	before = test_db_query1(E.db, "SELECT count(*) FROM calls WHERE assistant_id = $1", aid);

	TEST_EQ_INT(heartbeat("\"11111111-2222-4333-8444-555555555555\"", 1), 0);
	struct capacity_probe full = { probe, 503 };
	TEST_ASSERT(test_wait_until(outbound_answers, &full, 10000));
	TEST_EQ_INT(call(&status, &j, "POST", "/call/outbound", body), 0);
	TEST_EQ_INT(status, 503);
	TEST_EQ_STR(jpath_str(j, "error", "code"), "at_capacity");
	TEST_CONTAINS(jpath_str(j, "message", NULL), "MAX_CALLS (1 calls of 1)");
	after = test_db_query1(E.db, "SELECT count(*) FROM calls WHERE assistant_id = $1", aid);
	TEST_EQ_STR(after, before); /* nothing was stored */
	cJSON_Delete(j);
	j = NULL;

	TEST_EQ_INT(heartbeat("", 1), 0);
	struct capacity_probe room = { probe, 404 };
	TEST_ASSERT(test_wait_until(outbound_answers, &room, 10000));
	TEST_EQ_INT(call(&status, &j, "POST", "/call/outbound", body), 0);
	TEST_EQ_INT(status, 202);
out:
	cJSON_Delete(j);
	free(before);
	free(after);
	return err;
}

static int test_outbound_overloaded(void)
{
	int err = 0, pid = 0, want = 0;
	long status = 0;
	bool joined = true;
	pthread_t t;
	char aid[ID_UUID_LEN + 1], tid[ID_UUID_LEN + 1], first[32], body[1024], url[128];
	char bin[256], logpath[600], env_api[64], env_health[64], *reply = NULL, *v = NULL;
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	TEST_EQ_INT(new_exotel_trunk(tid, 7100300, first), 0);
	int aport = test_free_port(), hport = test_free_port();
	snprintf(env_api, sizeof(env_api), "API_ADDR=127.0.0.1:%d", aport);
	snprintf(env_health, sizeof(env_health), "HEALTH_ADDR=127.0.0.1:%d", hport);
	snprintf(logpath, sizeof(logpath), "%s/api-gateway-overloaded.log", E.logdir);
	const char *argv[] = { test_bin(bin, sizeof(bin), "api-gateway"), NULL };
	const char *envp[] = { E.env_nats, E.env_db, env_api, env_health, "API_KEYS=" KEY,
			       "LOG_FORMAT=kv", "API_THREADS=16", "API_JS_PENDING_MAX=1",
			       TEST_GW_SECRETS_ENV, NULL };
	TEST_EQ_INT(test_spawn(&pid, argv, envp, logpath), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", hport);
	TEST_EQ_INT(test_http_wait(url, 200, 30000), 0);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/call/outbound", aport);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876543210\","
		 "\"call_service\":\"exotel\"}", aid, tid);
	struct post_arg first_call = { url, body, 0 };
	want = atomic_load(&fake.rooms_created) + 1;
	atomic_store(&fake.room_hold, 1);
	TEST_EQ_INT(pthread_create(&t, NULL, post_thread, &first_call), 0);
	joined = false;
	TEST_ASSERT(test_wait_until(rooms_created_ge, &want, 10000));
	TEST_EQ_INT(test_http(&status, &reply, "POST", url, KEY, body), 0);
	TEST_EQ_INT(status, 503);
	TEST_CONTAINS(reply, "\"code\":\"overloaded\"");
	TEST_CONTAINS(reply, "limit of call events waiting for NATS JetStream");
	pthread_mutex_lock(&fake.mu);
	atomic_store(&fake.room_hold, 0);
	pthread_cond_broadcast(&fake.cv);
	pthread_mutex_unlock(&fake.mu);
	pthread_join(t, NULL);
	joined = true;
	TEST_EQ_INT(first_call.status, 202);
	v = test_db_query1(E.db,
			   "SELECT count(*) FROM calls WHERE assistant_id = $1"
			   " AND status = 'failed'"
			   " AND end_reason = 'call_queued_publish_busy'",
			   aid);
	TEST_EQ_STR(v, "1");
out:
	if (!joined) {
		pthread_mutex_lock(&fake.mu);
		atomic_store(&fake.room_hold, 0);
		pthread_cond_broadcast(&fake.cv);
		pthread_mutex_unlock(&fake.mu);
		pthread_join(t, NULL);
	}
	test_stop(&pid, SIGTERM, 10000);
	free(reply);
	free(v);
	return err;
}

static int test_web_call(void)
{
	int err = 0;
	long status = 0;
	cJSON *j = NULL;
	char aid[ID_UUID_LEN + 1], body[256], path[128], *tok = NULL, *disp = NULL;
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	snprintf(body, sizeof(body), "{\"assistant_id\":\"%s\",\"metadata\":{\"name\":\"Ravi\"}}",
		 aid);
	TEST_EQ_INT(call(&status, &j, "POST", "/web_call/get_token", body), 0);
	TEST_EQ_INT(status, 200);
	const char *call_id = jdata_str(j, "call_id");
	TEST_ASSERT(id_is_uuid(call_id));
	TEST_EQ_STR(jdata_str(j, "token"), "jwt.for.web");
	TEST_EQ_STR(jdata_str(j, "url"), "ws://127.0.0.1:7880");
	char room[64], ident[64];
	snprintf(room, sizeof(room), "call-%s", call_id);
	snprintf(ident, sizeof(ident), "\"identity\":\"web-%s\"", call_id);
	TEST_EQ_STR(jdata_str(j, "room_name"), room);
	tok = fake_wait(F_ROOMS_TOKEN, call_id, 1000);
	TEST_ASSERT(tok);
	TEST_CONTAINS(tok, ident);
	TEST_CONTAINS(tok, "\"can_publish\":true");
	disp = fake_wait(F_DISPATCH, call_id, 1000);
	TEST_ASSERT(disp);
	TEST_CONTAINS(disp, "\"kind\":\"web\"");
	TEST_CONTAINS(disp, "\"wait_for_answer\":false");
	TEST_CONTAINS(disp, "You help Ravi from .");
	snprintf(path, sizeof(path), "/calls/%s", call_id);
	cJSON_Delete(j);
	j = NULL;
	TEST_EQ_INT(call(&status, &j, "GET", path, NULL), 0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_STR(jdata_str(j, "kind"), "web");
	TEST_ASSERT(cJSON_IsNull(jdata(j, "provider")));
	TEST_EQ_INT(expect_error("POST", "/web_call/get_token", "{}", 400, "missing_field",
				 "assistant_id"), 0);
	TEST_EQ_INT(expect_error("POST", "/web_call/get_token",
				 "{\"assistant_id\":\"00000000-0000-4000-8000-0000000000ff\"}", 404,
				 "not_found", "assistant_id"), 0);
out:
	free(tok);
	free(disp);
	cJSON_Delete(j);
	return err;
}

/* A finished call with transcript and events written straight to the
 * tables (as the persister would), read back through the API. */
static int test_call_record(void)
{
	int err = 0;
	long status = 0;
	cJSON *j = NULL;
	char aid[ID_UUID_LEN + 1], cid[ID_UUID_LEN + 1], e1[ID_UUID_LEN + 1], e2[ID_UUID_LEN + 1];
	char path[128];
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	TEST_EQ_INT(id_uuid4(cid), 0);
	TEST_EQ_INT(id_uuid4(e1), 0);
	TEST_EQ_INT(id_uuid4(e2), 0);
	const char *p1[] = { cid, aid };
	TEST_EQ_INT(
		db_exec(E.db, NULL,
			"INSERT INTO calls (id, kind, assistant_id, room, status, created_at,"
			" answered_at, ended_at, end_reason, hold_count, hold_ms, recording_path)"
			" VALUES ($1::uuid, 'web', $2, 'call-' || $1::uuid, 'completed',"
			" '2026-01-02T10:00:00Z', '2026-01-02T10:00:05.250Z', "
			"'2026-01-02T10:01:05.250Z',"
			" 'remote_hangup', 1, 4200, '/rec/x.ogg')",
			2, p1),
		0);
	const char *p2[] = { cid, e1, e2 };
	TEST_EQ_INT(db_exec(E.db, NULL,
			    "INSERT INTO transcript_segments (call_id, seq, speaker, text, "
			    "started_at) VALUES"
			    " ($1, 2, 'user', 'what are your hours', '2026-01-02T10:00:09Z'),"
			    " ($1, 1, 'agent', 'Hello', '2026-01-02T10:00:06Z')",
			    1, p2),
		    0);
	TEST_EQ_INT(db_exec(E.db, NULL,
			    "INSERT INTO call_events (id, call_id, type, ts, source, data) VALUES"
			    " ($3, $1, 'call_ended', '2026-01-02T10:01:05.250Z', 'sip-bridge/a',"
			    "  '{\"reason\":\"bye\"}'),"
			    " ($2, $1, 'call_answered', '2026-01-02T10:00:05.250Z', "
			    "'sip-bridge/a', '{}')",
			    3, p2),
		    0);
	snprintf(path, sizeof(path), "/calls/%s", cid);
	TEST_EQ_INT(call(&status, &j, "GET", path, NULL), 0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_STR(jdata_str(j, "call_id"), cid);
	TEST_EQ_STR(jdata_str(j, "status"), "completed");
	TEST_EQ_STR(jdata_str(j, "answered_at"), "2026-01-02T10:00:05.250Z");
	TEST_EQ_INT(jdata(j, "duration_ms")->valuedouble, 60000);
	TEST_EQ_INT(jdata(j, "hold_count")->valuedouble, 1);
	TEST_EQ_INT(jdata(j, "hold_ms")->valuedouble, 4200);
	TEST_EQ_STR(jdata_str(j, "recording_path"), "/rec/x.ogg");
	const cJSON *tr = jdata(j, "transcripts");
	TEST_EQ_INT(cJSON_GetArraySize(tr), 2);
	TEST_EQ_STR(jpath_str(cJSON_GetArrayItem(tr, 0), "speaker", NULL), "agent");
	TEST_EQ_STR(jpath_str(cJSON_GetArrayItem(tr, 1), "text", NULL), "what are your hours");
	TEST_EQ_STR(jpath_str(cJSON_GetArrayItem(tr, 0), "timestamp", NULL),
		    "2026-01-02T10:00:06.000Z");
	const cJSON *evs = jdata(j, "events");
	TEST_EQ_INT(cJSON_GetArraySize(evs), 2);
	TEST_EQ_STR(jpath_str(cJSON_GetArrayItem(evs, 0), "type", NULL), "call_answered");
	TEST_EQ_STR(jpath_str(cJSON_GetArrayItem(evs, 1), "id", NULL), e2);
	TEST_EQ_STR(jpath_str(cJSON_GetArrayItem(evs, 1), "data", "reason"), "bye");
	TEST_EQ_INT(expect_error("GET", "/calls/nope", NULL, 400, "invalid_id", "call_id"), 0);
	TEST_EQ_INT(expect_error("GET", "/calls/00000000-0000-4000-8000-000000000000", NULL, 404,
				 "not_found", "call_id"), 0);
	/* hangup of a finished call: 409 */
	snprintf(path, sizeof(path), "/calls/%s/hangup", cid);
	TEST_EQ_INT(expect_error("POST", path, NULL, 409, "call_ended", "call_id"), 0);
out:
	cJSON_Delete(j);
	return err;
}

/* GET /calls/{id} is served from memory after the first read (issue #3);
 * an event the gateway persists shows in the very next GET, and an
 * unknown id is never remembered as missing. */
static int test_call_record_follows_events(void)
{
	int err = 0;
	long status = 0;
	cJSON *j = NULL;
	struct event *ev = NULL;
	char aid[ID_UUID_LEN + 1], cid[ID_UUID_LEN + 1], later[ID_UUID_LEN + 1], room[64];
	char path[128];
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	TEST_EQ_INT(id_uuid4(cid), 0);
	const char *p1[] = { cid, aid };
	TEST_EQ_INT(db_exec(E.db, NULL,
			    "INSERT INTO calls (id, kind, provider, assistant_id, room, status)"
			    " VALUES ($1::uuid, 'outbound', 'exotel', $2, 'call-' || $1::uuid, "
			    "'queued')",
			    2, p1),
		    0);
	snprintf(path, sizeof(path), "/calls/%s", cid);
	for (int i = 0; i < 2; i++) { /* the second is a cache hit */
		TEST_EQ_INT(call(&status, &j, "GET", path, NULL), 0);
		TEST_EQ_INT(status, 200);
		TEST_EQ_STR(jdata_str(j, "status"), "queued");
		TEST_EQ_INT(cJSON_GetArraySize(jdata(j, "events")), 0);
		cJSON_Delete(j);
		j = NULL;
	}
	/* sip-bridge dials: the gateway persists call_dialing */
	snprintf(room, sizeof(room), "call-%s", cid);
	TEST_EQ_INT(event_new(&ev, EV_CALL_DIALING, cid, room, "sip-bridge/test"), 0);
	TEST_EQ_INT(bus_publish_event(fake.bus, ev), 0);
	TEST_EQ_INT(test_db_wait_value(E.db, "SELECT status FROM calls WHERE id = $1", cid,
				       "dialing", 10000),
		    0);
	TEST_EQ_INT(call(&status, &j, "GET", path, NULL), 0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_STR(jdata_str(j, "status"), "dialing");
	TEST_EQ_INT(cJSON_GetArraySize(jdata(j, "events")), 1);
	TEST_EQ_STR(jpath_str(cJSON_GetArrayItem(jdata(j, "events"), 0), "id", NULL), ev->id);

	/* unknown: 404, and still 404 until the call exists, then found */
	TEST_EQ_INT(id_uuid4(later), 0);
	snprintf(path, sizeof(path), "/calls/%s", later);
	TEST_EQ_INT(expect_error("GET", path, NULL, 404, "not_found", "call_id"), 0);
	TEST_EQ_INT(expect_error("GET", path, NULL, 404, "not_found", "call_id"), 0);
	const char *p2[] = { later, aid };
	TEST_EQ_INT(db_exec(E.db, NULL,
			    "INSERT INTO calls (id, kind, assistant_id, room, status)"
			    " VALUES ($1::uuid, 'web', $2, 'call-' || $1::uuid, 'queued')",
			    2, p2), 0);
	cJSON_Delete(j);
	j = NULL;
	TEST_EQ_INT(call(&status, &j, "GET", path, NULL), 0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_STR(jdata_str(j, "call_id"), later);
out:
	event_free(ev);
	cJSON_Delete(j);
	return err;
}

static int test_calls_list_filters_and_pages(void)
{
	int err = 0;
	long status = 0;
	cJSON *j = NULL;
	char aid[ID_UUID_LEN + 1], ids[5][ID_UUID_LEN + 1], path[320], cursor[128] = "";
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	/* five calls one minute apart in 2025, two of them failed */
	for (int i = 0; i < 5; i++) {
		char ts[40];
		TEST_EQ_INT(id_uuid4(ids[i]), 0);
		snprintf(ts, sizeof(ts), "2025-03-01T10:0%d:00Z", i);
		const char *p[] = { ids[i], aid, ts, i % 2 ? "failed" : "completed" };
		TEST_EQ_INT(db_exec(E.db, NULL,
				    "INSERT INTO calls (id, kind, assistant_id, room, status, "
				    "created_at)"
				    " VALUES ($1::uuid, 'web', $2, 'call-' || $1::uuid, $4, $3)",
				    4, p),
			    0);
	}
	/* pages of two, newest first, until next_cursor is null */
	int seen = 0;
	for (int page = 0; page < 4; page++) {
		snprintf(path, sizeof(path), "/calls?assistant_id=%s&limit=2%s%s", aid,
			 cursor[0] ? "&cursor=" : "", cursor);
		cJSON_Delete(j);
		TEST_EQ_INT(call(&status, &j, "GET", path, NULL), 0);
		TEST_EQ_INT(status, 200);
		const cJSON *calls = jdata(j, "calls");
		for (int i = 0; i < cJSON_GetArraySize(calls); i++, seen++)
			TEST_EQ_STR(jpath_str(cJSON_GetArrayItem(calls, i), "call_id", NULL),
				    ids[4 - seen]);
		const cJSON *next = jdata(j, "next_cursor");
		if (cJSON_IsNull(next))
			break;
		TEST_ASSERT(cJSON_IsString(next) && strlen(next->valuestring) < sizeof(cursor));
		snprintf(cursor, sizeof(cursor), "%s", next->valuestring);
	}
	TEST_EQ_INT(seen, 5);
	/* status + time window */
	snprintf(path, sizeof(path),
		 "/calls?assistant_id=%s&status=failed&created_after=2025-03-01T10:01:00Z"
		 "&created_before=2025-03-01T11:02:30%%2B01:00", aid);
	cJSON_Delete(j);
	TEST_EQ_INT(call(&status, &j, "GET", path, NULL), 0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_INT(cJSON_GetArraySize(jdata(j, "calls")), 1);
	TEST_EQ_STR(jpath_str(cJSON_GetArrayItem(jdata(j, "calls"), 0), "call_id", NULL), ids[1]);
	/* bad arguments */
	TEST_EQ_INT(expect_error("GET", "/calls?status=lost", NULL, 400, "invalid_field", "status"),
		    0);
	TEST_EQ_INT(expect_error("GET", "/calls?limit=0", NULL, 400, "invalid_field", "limit"), 0);
	TEST_EQ_INT(expect_error("GET", "/calls?limit=101", NULL, 400, "invalid_field", "limit"),
		    0);
	TEST_EQ_INT(expect_error("GET", "/calls?cursor=abc", NULL, 400, "invalid_field", "cursor"),
		    0);
	TEST_EQ_INT(expect_error("GET", "/calls?assistant_id=x", NULL, 400, "invalid_field",
				 "assistant_id"), 0);
	TEST_EQ_INT(expect_error("GET", "/calls?created_after=yesterday", NULL, 400,
				 "invalid_field", "created_after"),
		    0);
out:
	cJSON_Delete(j);
	return err;
}

static int test_hangup(void)
{
	int err = 0;
	long status = 0;
	cJSON *j = NULL;
	char aid[ID_UUID_LEN + 1], tid[ID_UUID_LEN + 1], first[32], body[1024], path[128], subj[96];
	char *cmd = NULL;
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	TEST_EQ_INT(new_exotel_trunk(tid, 8000100, first), 0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876543210\","
		 "\"call_service\":\"exotel\"}", aid, tid);
	TEST_EQ_INT(call(&status, &j, "POST", "/call/outbound", body), 0);
	TEST_EQ_INT(status, 202);
	snprintf(path, sizeof(path), "/calls/%s/hangup", jdata_str(j, "call_id"));
	snprintf(subj, sizeof(subj), "cmd.calls.%s.hangup", jdata_str(j, "call_id"));
	cJSON_Delete(j);
	j = NULL;
	TEST_EQ_INT(call(&status, &j, "POST", path, NULL), 0);
	TEST_EQ_INT(status, 202);
	cmd = fake_wait(F_HANGUP, subj, 5000);
	TEST_ASSERT(cmd);
	TEST_CONTAINS(cmd, "\"reason\":\"api\"");
	TEST_EQ_INT(expect_error("POST", path, "{\"reason\":\"\"}", 400, "invalid_field", "reason"),
		    0);
	TEST_EQ_INT(expect_error("POST", "/calls/0000/hangup", NULL, 400, "invalid_id", "call_id"),
		    0);
	TEST_EQ_INT(expect_error("POST", "/calls/00000000-0000-4000-8000-000000000000/hangup", NULL,
				 404, "not_found", "call_id"),
		    0);
	TEST_EQ_INT(expect_error("GET", path, NULL, 405, "method_not_allowed", NULL), 0);
out:
	free(cmd);
	cJSON_Delete(j);
	return err;
}

static int count_status(const char *status)
{
	struct db_result *res = NULL;
	const char *p[] = { status };
	int n = -1;
	if (db_exec(E.db, &res, "SELECT count(*) FROM calls WHERE status = $1", 1, p) == 0)
		n = (int)strtol(db_result_get(res, 0, 0), NULL, 10);
	db_result_free(res);
	return n;
}

/* NATS down: 503, and no call left queued. */
static int test_nats_down(void)
{
	int err = 0;
	char aid[ID_UUID_LEN + 1], tid[ID_UUID_LEN + 1], first[32], body[1024], url[128];
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	TEST_EQ_INT(new_exotel_trunk(tid, 9000100, first), 0);
	int queued = count_status("queued");
	TEST_ASSERT(queued >= 0);
	test_nats_stop(&E.nats);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", E.health_port);
	TEST_EQ_INT(test_http_wait(url, 503, 20000), 0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876543210\","
		 "\"call_service\":\"exotel\"}", aid, tid);
	TEST_EQ_INT(expect_error("POST", "/call/outbound", body, 503, "nats_unavailable", NULL), 0);
	snprintf(body, sizeof(body), "{\"assistant_id\":\"%s\"}", aid);
	TEST_EQ_INT(expect_error("POST", "/web_call/get_token", body, 503, "nats_unavailable",
				 NULL),
		    0);
	TEST_EQ_INT(count_status("queued"), queued);
	/* reads still work without NATS */
	long status = 0;
	TEST_EQ_INT(call(&status, NULL, "GET", "/calls?limit=1", NULL), 0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_INT(test_nats_restart(&E.nats), 0);
	TEST_EQ_INT(test_http_wait(url, 200, 20000), 0);
out:
	return err;
}

/* PostgreSQL down: 503 database_unavailable (runs last: no restart). */
static int test_postgres_down(void)
{
	int err = 0;
	char path[128], *out = NULL;
	TEST_EQ_INT(env_up(), 0);
	E.db = db_close(E.db);
	const char *argv[] = { "scripts/pg.sh", "stop", E.pg.dir, NULL };
	TEST_EQ_INT(test_run_cmd(&out, argv, NULL, 60000), 0);
	snprintf(path, sizeof(path), "/calls/%s", "00000000-0000-4000-8000-000000000000");
	TEST_EQ_INT(expect_error("GET", path, NULL, 503, "database_unavailable", NULL), 0);
	TEST_EQ_INT(expect_error("POST", "/assistants", assistant_body, 503, "database_unavailable",
				 NULL), 0);
	TEST_EQ_INT(expect_error("POST", "/call/outbound",
				 "{\"assistant_id\":\"00000000-0000-4000-8000-000000000000\","
				 "\"trunk_id\":\"00000000-0000-4000-8000-000000000000\","
				 "\"to_number\":\"+919876543210\",\"call_service\":\"exotel\"}",
				 503, "database_unavailable", NULL), 0);
out:
	free(out);
	return err;
}

/* Rotation (README "Secrets"): a gateway started with a new SECRETS_KEY and
 * the old one as SECRETS_KEY_PREVIOUS re-seals every stored password under
 * the new key. Runs late: the shared gateway (old key only) cannot open
 * these rows afterwards (later tests make trunks of their own). */
static int test_key_rotation_reseals(void)
{
	int err = 0, pid = 0;
	char bin[256], url[128], logpath[600], env_api[64], env_health[64], *v = NULL,
									    *clear = NULL;
	struct secret_keys *k = NULL;
	struct db_result *res = NULL;
	static const char new_key[] = "bmV3LWtleS1mb3ItdGhlLXJvdGF0aW9uLXRlc3QhISE=";
	TEST_EQ_INT(env_up(), 0);
	v = test_db_query1(E.db, "SELECT count(*) FROM trunks WHERE secrets ? 'password'", NULL);
	TEST_ASSERT(v && v[0] && strcmp(v, "0") != 0);
	int hport = test_free_port();
	snprintf(env_api, sizeof(env_api), "API_ADDR=127.0.0.1:%d", test_free_port());
	snprintf(env_health, sizeof(env_health), "HEALTH_ADDR=127.0.0.1:%d", hport);
	snprintf(logpath, sizeof(logpath), "%s/api-gateway-rotated.log", E.logdir);
	const char *argv[] = { test_bin(bin, sizeof(bin), "api-gateway"), NULL };
	const char *envp[] = {
		E.env_nats,
		E.env_db,
		env_api,
		env_health,
		"API_KEYS=" KEY,
		"LOG_FORMAT=kv",
		"MIGRATIONS_DIR=services/api-gateway/migrations",
		"SECRETS_KEY=bmV3LWtleS1mb3ItdGhlLXJvdGF0aW9uLXRlc3QhISE=", /* new_key */
		"SECRETS_KEY_PREVIOUS=" TEST_SECRETS_KEY,
		"WEBHOOK_SIGNING_SECRET=" TEST_WEBHOOK_SECRET,
		NULL
	};
	TEST_EQ_INT(test_spawn(&pid, argv, envp, logpath), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", hport);
	TEST_EQ_INT(test_http_wait(url, 200, 30000), 0);
	char why[160];
	TEST_EQ_INT(secret_keys_load(&k, new_key, NULL, why, sizeof(why)), 0);
	TEST_EQ_INT(
		db_exec(E.db, &res,
			"SELECT id, secrets->>'password' FROM trunks WHERE secrets ? 'password'", 0,
			NULL),
		0);
	TEST_ASSERT(db_result_rows(res) > 0);
	for (int i = 0; i < db_result_rows(res); i++) {
		char aad[64];
		snprintf(aad, sizeof(aad), "trunk:%s", db_result_get(res, i, 0));
		TEST_ASSERT(secret_is_current(k, db_result_get(res, i, 1)));
		clear = secret_wipe_free(clear);
		TEST_EQ_INT(secret_open(&clear, NULL, k, aad, db_result_get(res, i, 1)), 0);
	}
out:
	test_stop(&pid, SIGTERM, 10000);
	secret_wipe_free(clear);
	secret_keys_free(k);
	db_result_free(res);
	free(v);
	return err;
}

/* Secrets are never logged (runs after everything wrote its log lines). */
static int test_secrets_not_logged(void)
{
	int err = 0;
	char *log = NULL;
	TEST_EQ_INT(env_up(), 0);
	const char *argv[] = { "cat", E.logpath, NULL };
	TEST_EQ_INT(test_run_cmd(&log, argv, NULL, 10000), 0);
	TEST_ASSERT(log && strlen(log) > 100);
	TEST_ASSERT(!strstr(log, EXOTEL_PASSWORD));
	TEST_ASSERT(!strstr(log, TWILIO_PASSWORD));
	TEST_ASSERT(!strstr(log, KEY));
	TEST_ASSERT(!strstr(log, TEST_SECRETS_KEY));
	TEST_ASSERT(!strstr(log, TEST_WEBHOOK_SECRET));
out:
	free(log);
	return err;
}

/* Issue 13 finding 6: what the bridge's SIP stack would refuse, the API
 * refuses first, naming the field. */
static int test_trunk_credentials_refused(void)
{
	int err = 0;
	char body[1024], pw256[257];
	TEST_EQ_INT(env_up(), 0);
	memset(pw256, 'p', 256);
	pw256[256] = '\0';
	struct {
		const char *user, *pw, *host, *field;
	} rows[] = {
		{ "acct", pw256, "127.0.0.1", "trunk_config.password" },
		{ "ac\\\"ct", "p", "127.0.0.1", "trunk_config.username" },
		{ "a<b", "p", "127.0.0.1", "trunk_config.username" },
		{ "a>b", "p", "127.0.0.1", "trunk_config.username" },
		{ "a\\r\\nVia: x", "p", "127.0.0.1", "trunk_config.username" },
		{ "a:b", "p", "127.0.0.1", "trunk_config.username" },
		{ "acct", "p\\nq", "127.0.0.1", "trunk_config.password" },
		{ "acct", "p<q", "127.0.0.1", "trunk_config.password" },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(rows); i++) {
		snprintf(body, sizeof(body),
			 "{\"trunk_name\":\"t\",\"trunk_type\":\"exotel\",\"trunk_config\":{"
			 "\"sip_host\":\"%s\",\"username\":\"%s\",\"password\":\"%s\","
			 "\"numbers\":[\"+918044319298\"]}}",
			 rows[i].host, rows[i].user, rows[i].pw);
		TEST_EQ_INT(expect_error("POST", "/trunks", body, 400, "invalid_field",
					 rows[i].field),
			    0);
	}
	/* Twilio credentials follow the same rule */
	TEST_EQ_INT(
		expect_error(
			"POST", "/trunks",
			"{\"trunk_name\":\"t\",\"trunk_type\":\"twilio\",\"trunk_config\":{"
			"\"address\":\"a.pstn.twilio.com\",\"username\":\"u:x\",\"password\":\"p\","
			"\"numbers\":[\"+15550100098\"]}}",
			400, "invalid_field", "trunk_config.username"),
		0);
out:
	return err;
}

/* Issue 13 finding 7: a NUL inside a string is refused naming the field,
 * and nothing is queued. */
static int test_nul_in_strings_refused(void)
{
	int err = 0;
	char aid[ID_UUID_LEN + 1], tid[ID_UUID_LEN + 1], first[32], body[1024];
	struct db_result *res = NULL;
	struct dial_seen d = { 0 };
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	TEST_EQ_INT(new_exotel_trunk(tid, 7100200, first), 0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":"
		 "\"+919812345673\\u0000@evil.com\",\"call_service\":\"exotel\"}", aid, tid);
	TEST_EQ_INT(expect_error("POST", "/call/outbound", body, 400, "invalid_field", "to_number"),
		    0);
	TEST_EQ_INT(db_exec(E.db, &res,
			    "SELECT count(*) FROM calls WHERE to_number LIKE '+919812345673%'", 0,
			    NULL),
		    0);
	TEST_EQ_STR(db_result_get(res, 0, 0), "0");
	/* nothing queued: no job in DIALS (drained: earlier tests' are there too) names it */
	for (int i = 0; i < 50 && fetch_dial(&d, "dial.exotel", "sip-bridge") == 0; i++)
		TEST_ASSERT(strstr(d.data, "+919812345673") == NULL);
	/* nested, in arrays, in keys; an escaped backslash before u0000 is not a NUL */
	TEST_EQ_INT(expect_error("POST", "/assistants",
				 "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\","
				 "\"assistant_llm_config\":{\"provider\":\"local\",\"script\":[{"
				 "\"match\":\"x\","
				 "\"reply\":\"ok\\u0000no\"}]}}",
				 400, "invalid_field", "assistant_llm_config.script[0].reply"),
		    0);
	TEST_EQ_INT(
		expect_error("POST", "/trunks",
			     "{\"trunk_name\":\"t\",\"trunk_type\":\"exotel\",\"trunk_config\":{"
			     "\"sip_host\":\"h\",\"username\":\"u\",\"password\":\"p\","
			     "\"numbers\":[\"+918044319297\",\"+9180443\\u00001\"]}}",
			     400, "invalid_field", "trunk_config.numbers[1]"),
		0);
	TEST_EQ_INT(expect_error("POST", "/assistants",
				 "{\"assistant_name\\u0000x\":\"a\",\"assistant_prompt\":\"p\"}",
				 400, "invalid_field", "assistant_name\\u0000x"), 0);
	char id2[ID_UUID_LEN + 1];
	TEST_EQ_INT(create(id2, "/assistants",
			   "{\"assistant_name\":\"back\\\\u0000slash\",\"assistant_prompt\":\"p\"}",
			   "assistant_id"), 0);
out:
	free(d.data);
	db_result_free(res);
	return err;
}

/* Issue 13 finding 10: URLs the services would be sent to cannot name
 * loopback, link-local or private addresses (this gateway runs without
 * OUTBOUND_ALLOW_PRIVATE). */
static int test_outbound_urls_refused(void)
{
	int err = 0;
	TEST_EQ_INT(env_up(), 0);
	struct {
		const char *body, *field;
	} rows[] = {
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\","
		  "\"assistant_end_call_url\":\"http://127.0.0.1:9/hook\"}",
		  "assistant_end_call_url" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\","
		  "\"assistant_end_call_url\":\"http://169.254.169.254/latest/meta-data/\"}",
		  "assistant_end_call_url" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\","
		  "\"assistant_end_call_url\":\"https://[::1]/x\"}",
		  "assistant_end_call_url" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\","
		  "\"assistant_llm_config\":{\"provider\":\"openai\",\"base_url\":\"http://"
		  "10.0.0.7/v1\"}}",
		  "assistant_llm_config.base_url" },
		{ "{\"assistant_name\":\"a\",\"assistant_prompt\":\"p\","
		  "\"assistant_stt_config\":{\"provider\":\"openai\",\"base_url\":\"http://"
		  "localhost/v1\"}}",
		  "assistant_stt_config.base_url" },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(rows); i++)
		TEST_EQ_INT(expect_error("POST", "/assistants", rows[i].body, 400, "invalid_field",
					 rows[i].field), 0);
	char id[ID_UUID_LEN + 1], path[128];
	TEST_EQ_INT(new_assistant(id), 0);
	snprintf(path, sizeof(path), "/assistants/%s", id);
	TEST_EQ_INT(expect_error("PATCH", path,
				 "{\"assistant_end_call_url\":\"http://192.168.1.1/\"}", 400,
				 "invalid_field", "assistant_end_call_url"),
		    0);
out:
	return err;
}

/* Issue 13 finding 2: with a dial job queued (nobody has taken it), the
 * trunk password is neither in JetStream's store nor in the database nor in
 * the gateway's log; the job's call id is, so the store was looked at after
 * the job reached it. */
static int test_password_not_in_store_or_db(void)
{
	int err = 0;
	long status = 0;
	cJSON *j = NULL;
	char aid[ID_UUID_LEN + 1], tid[ID_UUID_LEN + 1], first[32], body[1024],
		cid[ID_UUID_LEN + 1];
	char *out = NULL;
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(new_assistant(aid), 0);
	TEST_EQ_INT(new_exotel_trunk(tid, 7300100, first), 0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876500077\","
		 "\"call_service\":\"exotel\"}", aid, tid);
	TEST_EQ_INT(call(&status, &j, "POST", "/call/outbound", body), 0);
	TEST_EQ_INT(status, 202);
	snprintf(cid, sizeof(cid), "%s", jdata_str(j, "call_id") ? jdata_str(j, "call_id") : "");
	/* the job (it names the call) is on disk */
	const char *has_job[] = { "grep", "-r", "-a", "-l", "-F", cid, E.nats.dir, NULL };
	int st = 1;
	for (int i = 0; i < 100 && st != 0; i++) {
		free(out);
		out = NULL;
		st = test_run_cmd(&out, has_job, NULL, 10000);
		if (st != 0)
			test_nap_ms(50);
	}
	TEST_EQ_INT(st, 0);
	const char *has_pw[] = { "grep", "-r", "-a", "-l", "-F",
				 EXOTEL_PASSWORD, E.nats.dir, NULL };
	free(out);
	out = NULL;
	TEST_EQ_INT(test_run_cmd(&out, has_pw, NULL, 10000), 1);
	const char *dump[] = { "pg_dump", "--data-only", "-d", E.pg.url, NULL };
	free(out);
	out = NULL;
	TEST_EQ_INT(test_run_cmd(&out, dump, NULL, 30000), 0);
	TEST_ASSERT(out && strstr(out, tid) && !strstr(out, EXOTEL_PASSWORD));
	const char *log_pw[] = { "grep", "-c", "-F", EXOTEL_PASSWORD, E.logpath, NULL };
	free(out);
	out = NULL;
	TEST_EQ_INT(test_run_cmd(&out, log_pw, NULL, 10000), 1);
out:
	free(out);
	cJSON_Delete(j);
	return err;
}

/* Rows written before sealing (clear text) are sealed when a gateway
 * starts, and still dial. */
static int test_clear_rows_sealed_at_start(void)
{
	int err = 0, pid = 0;
	char tid[ID_UUID_LEN + 1], aid[ID_UUID_LEN + 1], bin[256], url[128], logpath[600];
	char env_api[64], env_health[64], body[1024], *clear = NULL;
	struct db_result *res = NULL;
	struct dial_seen d = { 0 };
	cJSON *job = NULL;
	long status = 0;
	TEST_EQ_INT(env_up(), 0);
	TEST_EQ_INT(id_uuid4(tid), 0);
	const char *params[] = { tid };
	TEST_EQ_INT(db_exec(E.db, NULL,
			    "INSERT INTO trunks (id, name, provider, config, secrets) VALUES ($1, "
			    "'old',"
			    " 'exotel', "
			    "'{\"sip_host\":\"127.0.0.1\",\"sip_port\":5070,\"transport\":\"tcp\","
			    "\"sip_domain\":\"x.test\",\"username\":\"old\"}',"
			    " '{\"password\":\"" EXOTEL_PASSWORD "-old\"}')",
			    1, params),
		    0);
	TEST_EQ_INT(db_exec(E.db, NULL,
			    "INSERT INTO phone_numbers (number, trunk_id, position) VALUES "
			    "('+918077700001', $1, 0)",
			    1, params),
		    0);
	/* a second gateway on the same database starts and seals it */
	int hport = test_free_port();
	snprintf(env_api, sizeof(env_api), "API_ADDR=127.0.0.1:%d", test_free_port());
	snprintf(env_health, sizeof(env_health), "HEALTH_ADDR=127.0.0.1:%d", hport);
	snprintf(logpath, sizeof(logpath), "%s/api-gateway-2.log", E.logdir);
	const char *argv[] = { test_bin(bin, sizeof(bin), "api-gateway"), NULL };
	const char *envp[] = { E.env_nats, E.env_db, env_api, env_health, "API_KEYS=" KEY,
			       "LOG_FORMAT=kv", "MIGRATIONS_DIR=services/api-gateway/migrations",
			       TEST_GW_SECRETS_ENV, NULL };
	TEST_EQ_INT(test_spawn(&pid, argv, envp, logpath), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", hport);
	TEST_EQ_INT(test_http_wait(url, 200, 30000), 0);
	TEST_EQ_INT(db_exec(E.db, &res, "SELECT secrets->>'password' FROM trunks WHERE id = $1", 1,
			    params), 0);
	TEST_EQ_INT(open_sealed(&clear, db_result_get(res, 0, 0), "trunk", tid), 0);
	TEST_EQ_STR(clear, EXOTEL_PASSWORD "-old");
	/* and it dials: the job carries it sealed for the call */
	TEST_EQ_INT(new_assistant(aid), 0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876500001\","
		 "\"call_service\":\"exotel\"}", aid, tid);
	cJSON *j = NULL;
	TEST_EQ_INT(call(&status, &j, "POST", "/call/outbound", body), 0);
	TEST_EQ_INT(status, 202);
	char want[ID_UUID_LEN + 1];
	snprintf(want, sizeof(want), "%s", jdata_str(j, "call_id") ? jdata_str(j, "call_id") : "");
	cJSON_Delete(j);
	/* earlier tests' jobs may still be queued: read up to ours */
	for (int i = 0; i < 20 && (!job || strcmp(jpath_str(job, "call_id", NULL) ?: "", want));
	     i++) {
		TEST_EQ_INT(fetch_dial(&d, "dial.exotel", "sip-bridge"), 0);
		cJSON_Delete(job);
		job = cJSON_Parse(d.data);
	}
	TEST_EQ_STR(jpath_str(job, "call_id", NULL), want);
	TEST_ASSERT(strstr(d.data, EXOTEL_PASSWORD) == NULL);
	TEST_EQ_INT(open_sealed(&clear, jpath_str(job, "trunk", "password_sealed"), "call",
				jpath_str(job, "call_id", NULL)), 0);
	TEST_EQ_STR(clear, EXOTEL_PASSWORD "-old");
out:
	test_stop(&pid, SIGTERM, 10000);
	cJSON_Delete(job);
	free(d.data);
	free(clear);
	db_result_free(res);
	return err;
}

/* SIGTERM → exit 0 (under ASan/UBSan also: no error, no leak). */
static int test_gateway_stops_cleanly(void)
{
	int err = 0, code = -1;
	char *log = NULL;
	TEST_EQ_INT(env_up(), 0);
	kill(E.gw_pid, SIGTERM);
	TEST_EQ_INT(test_wait_exit(E.gw_pid, 15000, &code), 0);
	E.gw_pid = 0;
	if (code != 0) {
		const char *argv[] = { "tail", "-n", "40", E.logpath, NULL };
		test_run_cmd(&log, argv, NULL, 10000);
		test_failed(__FILE__, __LINE__, "api-gateway exited %d:\n%s", code, log ? log : "");
		err = 1;
	}
out:
	free(log);
	return err;
}

/* Bad requests of every kind the routes share: each message is a sentence
 * (expect_error asserts it) beside its code. */
static int test_error_messages_are_sentences(void)
{
	int err = 0;
	char deep[81];
	TEST_EQ_INT(env_up(), 0);
	memset(deep, '[', 40);
	memset(deep + 40, ']', 40);
	deep[80] = '\0';
	TEST_EQ_INT(expect_error("GET", "/no/such/route", NULL, 404, "not_found", NULL), 0);
	TEST_EQ_INT(expect_error("DELETE", "/assistants", NULL, 405, "method_not_allowed", NULL),
		    0);
	TEST_EQ_INT(expect_error("POST", "/assistants", deep, 400, "invalid_json", NULL), 0);
	TEST_EQ_INT(expect_error("POST", "/assistants", "\"text\"", 400, "invalid_json", NULL), 0);
	TEST_EQ_INT(expect_error("GET", "/assistants?limit=x", NULL, 400, "invalid_field", "limit"),
		    0);
	TEST_EQ_INT(expect_error("DELETE", "/assistants/00000000-0000-4000-8000-000000000009", NULL,
				 404, "not_found", "assistant_id"), 0);
out:
	return err;
}

/* Sends `request` as is on a new connection to the API; reads the reply
 * until the server closes or 5 s pass. *statusp from the status line, *jp
 * the body parsed (NULL when not JSON); *ctype_json whether it said so. */
static int raw_call(long *statusp, cJSON **jp, bool *ctype_json, const char *request)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err = EIO;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)E.api_port) };
	size_t cap = 64 * 1024, got = 0, len = strlen(request);
	char *buf = malloc(cap);
	*statusp = 0;
	*jp = NULL;
	*ctype_json = false;
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || !buf || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	for (size_t off = 0; off < len;) {
		ssize_t n = send(fd, request + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the server may answer before reading it all */
		off += (size_t)n;
	}
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 1000 && got + 1 < cap; i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left =
			5000 - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (strncmp(buf, "HTTP/1.", 7) == 0)
		*statusp = strtol(buf + 9, NULL, 10);
	const char *body = strstr(buf, "\r\n\r\n");
	if (body) {
		*jp = cJSON_Parse(body + 4);
		*ctype_json =
			memmem(buf, (size_t)(body - buf), "Content-Type: application/json", 30);
	}
	size_t line = strcspn(request, "\r");
	printf("    %.*s -> %ld\n", (int)(line < 48 ? line : 48), request, *statusp);
	err = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return err;
}

/* A raw request's reply: status, the JSON envelope with code, a sentence. */
static int expect_raw_error(const char *request, long want, const char *code, const char *field)
{
	int err = 0;
	long status = 0;
	bool json = false;
	cJSON *j = NULL;
	TEST_EQ_INT(raw_call(&status, &j, &json, request), 0);
	TEST_EQ_INT(status, want);
	TEST_ASSERT(json && j);
	TEST_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "success")));
	TEST_EQ_STR(jpath_str(j, "error", "code"), code);
	TEST_ASSERT(message_is_sentence(jpath_str(j, "message", NULL), code));
	if (field)
		TEST_EQ_STR(jpath_str(j, "error", "field"), field);
out:
	cJSON_Delete(j);
	return err;
}

/* Issue #13 findings 8 and 9: what a hostile client sends gets the
 * envelope and a 4xx naming the problem. */
static int test_hostile_http(void)
{
	int err = 0;
	size_t cap = 256 * 1024, o = 0;
	char *req = malloc(cap);
	TEST_ASSERT(req != NULL);
	TEST_EQ_INT(env_up(), 0);
	/* A bad percent-escape no longer drops the filter. */
	TEST_EQ_INT(expect_error("GET", "/calls?status=%zz", NULL, 400, "invalid_query", "status"),
		    0);
	TEST_EQ_INT(expect_error("GET", "/calls?limit=5&cursor=%4", NULL, 400, "invalid_query",
				 "cursor"), 0);
	/* Timestamps PostgreSQL cannot hold, or that are no dates. */
	const char *times[] = { "0000-01-01T00:00:00Z", "99999-01-01T00:00:00Z",
				"2025-13-01T00:00:00Z", "1899-12-31T23:59:59Z" };
	for (size_t i = 0; i < CM_ARRAY_LEN(times); i++) {
		char path[128];
		snprintf(path, sizeof(path), "/calls?created_after=%s", times[i]);
		TEST_EQ_INT(expect_error("GET", path, NULL, 400, "invalid_field", "created_after"),
			    0);
		snprintf(path, sizeof(path), "/calls?created_before=%s", times[i]);
		TEST_EQ_INT(expect_error("GET", path, NULL, 400, "invalid_field", "created_before"),
			    0);
	}
	/* 480 query parameters. */
	o = (size_t)snprintf(req, cap, "GET /calls?");
	for (int i = 0; i < 480; i++)
		o += (size_t)snprintf(req + o, cap - o, "status=completed&");
	snprintf(req + o, cap - o, " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " KEY
				   "\r\nConnection: close\r\n\r\n");
	TEST_EQ_INT(expect_raw_error(req, 414, "uri_too_long", NULL), 0);
	/* A path past HTTPD_PATH_MAX. */
	o = (size_t)snprintf(req, cap, "GET /calls/");
	for (int i = 0; i < 3000; i++)
		o += (size_t)snprintf(req + o, cap - o, "a");
	snprintf(req + o, cap - o, " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	TEST_EQ_INT(expect_raw_error(req, 414, "uri_too_long", NULL), 0);
	/* 40 KiB of headers. */
	o = (size_t)snprintf(req, cap, "GET /assistants HTTP/1.1\r\nHost: t\r\n");
	for (int i = 0; i < 400; i++)
		o += (size_t)snprintf(req + o, cap - o, "X-Pad-%d: %090d\r\n", i, 0);
	snprintf(req + o, cap - o, "Connection: close\r\n\r\n");
	TEST_EQ_INT(expect_raw_error(req, 431, "headers_too_large", NULL), 0);
	/* A body over the cap. */
	snprintf(req, cap, "POST /assistants HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " KEY
			   "\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n"
			   "Connection: close\r\n\r\n{");
	TEST_EQ_INT(expect_raw_error(req, 413, "body_too_large", NULL), 0);
	/* An HTTP version the server does not speak, and a line that is not
	 * HTTP: the accept gate answers before libmicrohttpd sees them. */
	TEST_EQ_INT(expect_raw_error("GET /assistants HTTP/2.0\r\nHost: t\r\n\r\n", 505,
				     "http_version_not_supported", NULL), 0);
	TEST_EQ_INT(expect_raw_error("GARBAGE\r\n\r\n", 400, "invalid_request_line", NULL), 0);
	/* Conflicting Content-Length. */
	TEST_EQ_INT(expect_raw_error(
			    "POST /assistants HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " KEY
			    "\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
			    "Content-Length: 30\r\n\r\n{}",
			    400, "invalid_content_length", NULL),
		    0);
	/* A body that does not say it is JSON. */
	TEST_EQ_INT(expect_raw_error(
			    "POST /assistants HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " KEY
			    "\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
			    "Connection: close\r\n\r\n{}",
			    415, "unsupported_media_type", "Content-Type"),
		    0);
	TEST_EQ_INT(expect_raw_error(
			    "POST /assistants HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " KEY
			    "\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
			    415, "unsupported_media_type", "Content-Type"),
		    0);
out:
	free(req);
	return err;
}

static const struct test tests[] = {
	{ "hostile_http", test_hostile_http },
	{ "auth_and_public_routes", test_auth_and_public_routes },
	{ "assistants_crud", test_assistants_crud },
	{ "assistant_validation", test_assistant_validation },
	{ "trunks_crud_and_secrets", test_trunks_crud_and_secrets },
	{ "trunk_validation", test_trunk_validation },
	{ "outbound_happy_path", test_outbound_happy_path },
	{ "outbound_twilio_job", test_outbound_twilio_job },
	{ "outbound_refusals", test_outbound_refusals },
	{ "outbound_agent_unavailable_fails_call", test_outbound_agent_unavailable_fails_call },
	{ "outbound_room_refused_records_error", test_outbound_room_refused_records_error },
	{ "outbound_overloaded", test_outbound_overloaded },
	{ "outbound_at_capacity", test_outbound_at_capacity },
	{ "web_call", test_web_call },
	{ "call_record", test_call_record },
	{ "call_record_follows_events", test_call_record_follows_events },
	{ "calls_list_filters_and_pages", test_calls_list_filters_and_pages },
	{ "hangup", test_hangup },
	{ "trunk_credentials_refused", test_trunk_credentials_refused },
	{ "nul_in_strings_refused", test_nul_in_strings_refused },
	{ "outbound_urls_refused", test_outbound_urls_refused },
	{ "clear_rows_sealed_at_start", test_clear_rows_sealed_at_start },
	{ "password_not_in_store_or_db", test_password_not_in_store_or_db },
	{ "key_rotation_reseals", test_key_rotation_reseals },
	{ "error_messages_are_sentences", test_error_messages_are_sentences },
	{ "nats_down", test_nats_down },
	{ "postgres_down", test_postgres_down },
	{ "secrets_not_logged", test_secrets_not_logged },
	{ "gateway_stops_cleanly", test_gateway_stops_cleanly },
};
TEST_MAIN(tests)
