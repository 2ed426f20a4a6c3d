/* The web and Twilio call flows on the LiveKit backend (issue #10), with the
 * real services: api-gateway (PostgreSQL), room-manager, twilio-dialer and
 * agent-worker all configured the way a user configures production
 * (LIVEKIT_URL, key, secret), against the LiveKit test server
 * (tests/livekit/fake.mjs: Twirp, /rtc signalling, werift media, SIP phone
 * participants, webhooks). The browser is played by LiveKit's own Node SDK
 * (tests/livekit/web-caller.mjs). Everything runs in a network namespace of
 * its own (WebRTC gathers no loopback candidates). Checked:
 *   - web call: get_token → the agent joins, waits for the caller, greets it,
 *     answers its question; the caller hears both (energy) and receives the
 *     call's events as data on topic call_events; the caller leaving ends the
 *     call; the record has both speakers' lines;
 *   - Twilio: CreateSIPParticipant brings a phone into the room; nothing the
 *     agent says reaches it before it answers; the greeting does after;
 *   - failures: a wrong secret in agent-worker, LiveKit refusing connections
 *     at join, LiveKit gone mid-call: the call ends failed with a reason that
 *     names the cause, and agent-worker stays up. */
#include "core/core.h"
#include "harness/test.h"
#include "livekit/fake.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define API_KEY "test-key-livekit-0001"
#define LK_KEY "devkey"
#define LK_SECRET "devsecret-for-the-livekit-calls-test"
#define WAIT_MS 20000
#define LOUD_RMS 0.02 /* the phone's heard[] rms is of samples scaled to ±1 */

enum { SVC_API, SVC_ROOM, SVC_TWILIO, SVC_AGENT, NSVC };
static const char *const svc_names[NSVC] = { "api-gateway", "room-manager", "twilio-dialer",
					      "agent-worker" };

struct svc {
	int pid;
	int health_port;
};

struct stack {
	char *dir;
	struct test_nats nats;
	struct test_pg pg;
	struct fake_lk lk;
	struct svc svc[NSVC];
	int api_port;
	char wav[512];
};

struct stack_opts {
	const char *agent_secret; /* NULL: the right one */
};

static int svc_start(struct stack *st, int i, const struct stack_opts *o)
{
	char bin[256], logpath[600];
	char env[14][640];
	const char *envp[16];
	int n = 0;
	struct svc *s = &st->svc[i];
	s->health_port = test_free_port();
	snprintf(env[n++], sizeof(env[0]), "NATS_URL=%s", st->nats.url);
	snprintf(env[n++], sizeof(env[0]), "HEALTH_ADDR=127.0.0.1:%d", s->health_port);
	snprintf(env[n++], sizeof(env[0]), "LIVEKIT_API_KEY=%s", LK_KEY);
	snprintf(env[n++], sizeof(env[0]), "LIVEKIT_API_SECRET=%s",
		 i == SVC_AGENT && o->agent_secret ? o->agent_secret : LK_SECRET);
	if (i != SVC_API)
		snprintf(env[n++], sizeof(env[0]), "LIVEKIT_URL=%s", st->lk.url);
	if (i == SVC_API) {
		snprintf(env[n++], sizeof(env[0]), "DATABASE_URL=%s", st->pg.url);
		snprintf(env[n++], sizeof(env[0]), "API_ADDR=127.0.0.1:%d", st->api_port);
		snprintf(env[n++], sizeof(env[0]),
			 "MIGRATIONS_DIR=services/api-gateway/migrations");
		snprintf(env[n++], sizeof(env[0]), "API_KEYS=%s", API_KEY);
		snprintf(env[n++], sizeof(env[0]), "%s", "SECRETS_KEY=" TEST_SECRETS_KEY);
		snprintf(env[n++], sizeof(env[0]), "%s",
			 "WEBHOOK_SIGNING_SECRET=" TEST_WEBHOOK_SECRET);
	} else if (i == SVC_ROOM) {
		snprintf(env[n++], sizeof(env[0]), "RECORDINGS_DIR=%s/rec", st->dir);
	}
	for (int k = 0; k < n; k++)
		envp[k] = env[k];
	envp[n++] = "LOG_FORMAT=kv";
	envp[n++] = "LOG_LEVEL=debug";
	envp[n] = NULL;
	snprintf(logpath, sizeof(logpath), "%s/%s.log", st->dir, svc_names[i]);
	const char *argv[] = { test_bin(bin, sizeof(bin), svc_names[i]), NULL };
	return test_spawn(&s->pid, argv, envp, logpath);
}

static int svc_ready(struct stack *st, int i, int timeout_ms)
{
	char url[96];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", st->svc[i].health_port);
	return test_http_wait(url, 200, timeout_ms);
}

static bool svc_alive(struct stack *st, int i)
{
	char url[96];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", st->svc[i].health_port);
	return st->svc[i].pid > 0 && kill(st->svc[i].pid, 0) == 0 &&
	       test_http_wait(url, 200, 2000) == 0;
}

static void stack_stop(struct stack *st, bool failed)
{
	for (int i = NSVC; i-- > 0;)
		test_stop(&st->svc[i].pid, SIGTERM, 10000);
	fake_lk_stop(&st->lk);
	test_pg_destroy(&st->pg);
	test_nats_destroy(&st->nats);
	if (st->dir) {
		if (failed || getenv("CALLMESH_KEEP"))
			printf("    logs kept in %s\n", st->dir);
		else
			test_rmtree(st->dir);
	}
	free(st->dir);
	st->dir = NULL;
}

static int stack_start(struct stack *st, const struct stack_opts *o)
{
	char hook[128], *out = NULL;
	memset(st, 0, sizeof(*st));
	if (!(st->dir = test_tmpdir("lk-calls")))
		return EIO;
	st->api_port = test_free_port();
	snprintf(hook, sizeof(hook), "http://127.0.0.1:%d/livekit/webhook", st->api_port);
	const struct fake_lk_opts lo = { .key = LK_KEY, .secret = LK_SECRET, .logdir = st->dir,
					 .webhook_url = hook };
	if (test_nats_start(&st->nats) || test_pg_start(&st->pg) ||
	    fake_lk_start_opts(&st->lk, &lo))
		return EIO;
	for (int i = 0; i < NSVC; i++)
		if (svc_start(st, i, o))
			return EIO;
	for (int i = 0; i < NSVC; i++) {
		if (svc_ready(st, i, 30000)) {
			fprintf(stderr, "%s never became ready (log in %s)\n", svc_names[i],
				st->dir);
			return ETIMEDOUT;
		}
	}
	/* the caller's words */
	snprintf(st->wav, sizeof(st->wav), "%s/caller.wav", st->dir);
	const char *say[] = { "espeak-ng", "-w", st->wav, "What are your hours?", NULL };
	int rc = test_run_cmd(&out, say, NULL, 20000);
	free(out);
	return rc == 0 ? 0 : EIO;
}

/* ---- REST ------------------------------------------------------------------ */

static cJSON *api(struct stack *st, const char *method, const char *path, const char *body,
		  long *statusp)
{
	char url[256], *resp = NULL;
	long status = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", st->api_port, path);
	cJSON *j = NULL;
	if (test_http(&status, &resp, method, url, API_KEY, body) == 0)
		j = cJSON_Parse(resp);
	if (statusp)
		*statusp = status;
	free(resp);
	return j;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* POSTs `body` and copies data.<field> of a `want` answer into out. */
static int api_create(struct stack *st, const char *path, const char *body, long want,
		      const char *field, char *out, size_t outlen)
{
	long status = 0;
	cJSON *j = api(st, "POST", path, body, &status);
	const char *v = jstr(cJSON_GetObjectItemCaseSensitive(j, "data"), field);
	int err = status == want && v && strlen(v) < outlen ? 0 : EIO;
	if (err) {
		char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
		printf("    POST %s: %ld %s\n", path, status, txt ? txt : "(no JSON)");
		free(txt);
	} else {
		snprintf(out, outlen, "%s", v);
	}
	cJSON_Delete(j);
	return err;
}

static cJSON *get_call(struct stack *st, const char *call_id)
{
	char path[96];
	snprintf(path, sizeof(path), "/calls/%s", call_id);
	cJSON *j = api(st, "GET", path, NULL, NULL);
	cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(j, "data");
	cJSON_Delete(j);
	return data;
}

static bool terminal(const char *s)
{
	static const char *const t[] = { "completed", "busy", "no_answer", "rejected", "cancelled",
					 "unreachable", "timeout", "failed" };
	for (size_t i = 0; s && i < CM_ARRAY_LEN(t); i++)
		if (strcmp(s, t[i]) == 0)
			return true;
	return false;
}

static bool said(const cJSON *rec, const char *speaker, const char *containing)
{
	const cJSON *line;
	cJSON_ArrayForEach(line, cJSON_GetObjectItemCaseSensitive(rec, "transcripts"))
	{
		const char *sp = jstr(line, "speaker"), *text = jstr(line, "text");
		if (sp && text && *text && strcmp(sp, speaker) == 0 &&
		    (!containing || strcasestr(text, containing)))
			return true;
	}
	return false;
}

/* Polls the record until it is terminal (and, when given, has a line of
 * `speaker`); returns it (caller frees) or the last one seen. */
static cJSON *await_record(struct stack *st, const char *call_id, const char *speaker, int ms)
{
	cJSON *rec = NULL;
	int64_t end = time_mono_ms() + ms;
	for (;;) {
		cJSON_Delete(rec);
		rec = get_call(st, call_id);
		bool done = rec && terminal(jstr(rec, "status")) &&
			    (!speaker || said(rec, speaker, NULL));
		if (done || time_mono_ms() >= end)
			return rec;
		test_nap_ms(200);
	}
}

static void print_record(const cJSON *rec)
{
	const cJSON *line;
	printf("    record: status %s, end_reason %s\n",
	       jstr(rec, "status") ? jstr(rec, "status") : "-",
	       jstr(rec, "end_reason") ? jstr(rec, "end_reason") : "-");
	cJSON_ArrayForEach(line, cJSON_GetObjectItemCaseSensitive(rec, "transcripts"))
	printf("      %s: %s\n", jstr(line, "speaker") ? jstr(line, "speaker") : "?",
	       jstr(line, "text") ? jstr(line, "text") : "?");
}

static const char assistant_json[] =
	"{\"assistant_name\":\"LiveKit front desk\","
	"\"assistant_prompt\":\"You are the front desk of a small clinic.\","
	"\"assistant_mode\":\"pipeline\","
	"\"assistant_start_instruction\":\"Hello, this is the clinic.\","
	"\"assistant_interaction_config\":{\"speaks_first\":true,\"silence_timeout_s\":20,"
	"\"max_reprompts\":1,\"fillers_enabled\":false},"
	"\"assistant_stt_config\":{\"provider\":\"local\"},"
	"\"assistant_llm_config\":{\"provider\":\"local\",\"script\":["
	"{\"match\":\"hours\",\"reply\":\"We are open nine to five.\"},"
	"{\"match\":\"what are your\",\"reply\":\"We are open nine to five.\"},"
	/* the audio path is under test here, not the recogniser: espeak's "What are
	 * your hours?" through Opus is heard as "what to i your how is" in some runs */
	"{\"match\":\"your\",\"reply\":\"We are open nine to five.\"}]},"
	"\"assistant_tts_config\":{\"provider\":\"local\"},"
	"\"assistant_end_call_url\":null}";

/* get_token for a new web call; fills the call id, url and token. */
static int web_token(struct stack *st, const char *assistant_id, char *call_id, size_t idlen,
		     char *url, size_t urllen, char **tokenp, long *statusp, char *msg,
		     size_t msglen)
{
	char body[256];
	snprintf(body, sizeof(body), "{\"assistant_id\":\"%s\"}", assistant_id);
	cJSON *j = api(st, "POST", "/web_call/get_token", body, statusp);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "data");
	const char *id = jstr(d, "call_id"), *u = jstr(d, "url"), *t = jstr(d, "token");
	snprintf(msg, msglen, "%s", jstr(j, "message") ? jstr(j, "message") : "");
	int err = EIO;
	if (id && u && t && strlen(id) < idlen && strlen(u) < urllen) {
		snprintf(call_id, idlen, "%s", id);
		snprintf(url, urllen, "%s", u);
		*tokenp = strdup(t);
		err = *tokenp ? 0 : ENOMEM;
	}
	cJSON_Delete(j);
	return err;
}

/* Runs the web caller; returns its JSON summary (caller frees) or NULL. */
static cJSON *web_caller(struct stack *st, const char *url, const char *token, int seconds)
{
	char env_url[160], env_tok[2048], secs[16], *out = NULL;
	snprintf(env_url, sizeof(env_url), "LK_URL=%s", url);
	snprintf(env_tok, sizeof(env_tok), "LK_TOKEN=%s", token);
	snprintf(secs, sizeof(secs), "%d", seconds);
	const char *envp[] = { env_url, env_tok, NULL };
	const char *argv[] = {
		"node", "tests/livekit/web-caller.mjs", "--wav", st->wav, "--seconds", secs, NULL
	};
	int rc = test_run_cmd(&out, argv, envp, (seconds + 30) * 1000);
	const char *line = out ? strstr(out, "{\"joined_at\"") : NULL;
	cJSON *j = rc == 0 && line ? cJSON_Parse(line) : NULL;
	if (!j)
		printf("    web-caller exited %d: %s\n", rc, out ? out : "");
	free(out);
	return j;
}

/* ---- the tests --------------------------------------------------------------- */

static int test_web_call(void)
{
	int err = 0;
	struct stack st;
	struct stack_opts o = { 0 };
	char assistant_id[64], call_id[64], url[128], msg[256];
	char *token = NULL;
	cJSON *heard = NULL, *rec = NULL;
	long status = 0;
	TEST_EQ_INT(stack_start(&st, &o), 0);
	TEST_EQ_INT(api_create(&st, "/assistants", assistant_json, 201, "assistant_id",
			       assistant_id, sizeof(assistant_id)),
		    0);
	TEST_EQ_INT(web_token(&st, assistant_id, call_id, sizeof(call_id), url, sizeof(url), &token,
			      &status, msg, sizeof(msg)), 0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_STR(url, st.lk.ws); /* the LiveKit server, as configured */
	heard = web_caller(&st, url, token, 16);
	TEST_ASSERT(heard != NULL);
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(heard, "greeting");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(heard, "said");
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(heard, "answer");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(heard, "data");
	double joined = jnum(heard, "joined_at");
	printf("    the caller heard the greeting %.0f ms after it joined (%d loud frames), said "
	       "its "
	       "line, heard the answer %.0f ms after it (%d loud frames); %d call_events packets\n",
	       jnum(g, "first_at") - joined, (int)jnum(g, "loud"),
	       jnum(a, "first_at") - jnum(s, "end_at"), (int)jnum(a, "loud"),
	       (int)jnum(d, "call_events"));
	TEST_ASSERT(jnum(g, "loud") >= 25);         /* half a second of greeting at least */
	TEST_ASSERT(jnum(g, "first_at") >= joined); /* it waited for the caller */
	TEST_ASSERT(jnum(s, "end_at") > 0);
	TEST_ASSERT(jnum(a, "loud") >= 25);         /* the scripted answer */
	TEST_ASSERT(jnum(d, "call_events") >= 3);
	bool transcript_event = false;
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(d, "types"))
	transcript_event |= cJSON_IsString(t) && strcmp(t->valuestring, "transcript") == 0;
	TEST_ASSERT(transcript_event);
	/* the caller left: the call is over, with both speakers in its record */
	rec = await_record(&st, call_id, "user", WAIT_MS);
	TEST_ASSERT(rec != NULL);
	print_record(rec);
	TEST_EQ_STR(jstr(rec, "status"), "completed");
	TEST_EQ_STR(jstr(rec, "end_reason"), "remote_hangup");
	TEST_ASSERT(said(rec, "agent", "this is the clinic"));
	TEST_ASSERT(said(rec, "agent", "nine to five"));
	TEST_ASSERT(said(rec, "user", NULL));
out:
	free(token);
	cJSON_Delete(heard);
	cJSON_Delete(rec);
	stack_stop(&st, err != 0);
	return err;
}

/* The phone's heard timeline: frames from agent-* with energy before and
 * after `answered_at`. */
static void phone_energy(const cJSON *heard, double answered_at, int *before, int *after)
{
	const cJSON *h;
	*before = *after = 0;
	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(heard, "heard"))
	{
		const char *from = jstr(h, "from");
		if (!from || strncmp(from, "agent-", 6) != 0 || jnum(h, "rms") < LOUD_RMS)
			continue;
		if (jnum(h, "at") < answered_at)
			(*before)++;
		else
			(*after)++;
	}
}

static double status_at(const cJSON *heard, const char *status)
{
	const cJSON *s;
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(heard, "statuses"))
	if (jstr(s, "status") && strcmp(jstr(s, "status"), status) == 0)
		return jnum(s, "at");
	return 0;
}

static int test_twilio_call(void)
{
	int err = 0;
	struct stack st;
	struct stack_opts o = { 0 };
	char assistant_id[64], trunk_id[64], call_id[64], body[512], path[256];
	cJSON *heard = NULL, *rec = NULL;
	TEST_EQ_INT(stack_start(&st, &o), 0);
	TEST_EQ_INT(api_create(&st, "/assistants", assistant_json, 201, "assistant_id",
			       assistant_id, sizeof(assistant_id)),
		    0);
	TEST_EQ_INT(
		api_create(
			&st, "/trunks",
			"{\"trunk_name\":\"Twilio US\",\"trunk_type\":\"twilio\",\"trunk_config\":"
			"{\"livekit_sip_trunk_id\":\"ST_testtrunk\",\"numbers\":[\"+15550100000\"]}"
			"}",
			201, "trunk_id", trunk_id, sizeof(trunk_id)),
		0);
	/* the phone rings for 2.5 s before it answers; the agent is in the room
	 * and must stay silent until then */
	TEST_EQ_INT(fake_lk_post(&st.lk, "/__sip/script", "{\"ring_ms\":300,\"answer_ms\":2500}",
				 NULL, NULL),
		    0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+15550100001\","
		 "\"call_service\":\"twilio\"}", assistant_id, trunk_id);
	TEST_EQ_INT(api_create(&st, "/call/outbound", body, 202, "call_id", call_id,
			       sizeof(call_id)),
		    0);
	snprintf(path, sizeof(path), "/__sip/heard?room=call-%s&identity=sip-%s", call_id, call_id);
	int before = 0, after = 0;
	double answered_at = 0;
	int64_t end = time_mono_ms() + WAIT_MS;
	while (time_mono_ms() < end) {
		cJSON_Delete(heard);
		heard = fake_lk_get(&st.lk, path);
		answered_at = heard ? status_at(heard, "active") : 0;
		if (answered_at > 0) {
			phone_energy(heard, answered_at, &before, &after);
			if (after >= 25)
				break;
		}
		test_nap_ms(100);
	}
	TEST_ASSERT(heard != NULL);
	printf("    phone: ringing at %+.0f ms, answered at %+.0f ms; agent frames with energy: %d "
	       "before the answer, %d after\n",
	       status_at(heard, "ringing") - status_at(heard, "dialing"),
	       answered_at - status_at(heard, "dialing"), before, after);
	TEST_ASSERT(answered_at > 0);
	TEST_EQ_INT(before, 0);
	TEST_ASSERT(after >= 25);
	/* the far end hangs up: the call completes */
	snprintf(body, sizeof(body), "{\"room\":\"call-%s\",\"identity\":\"sip-%s\"}", call_id,
		 call_id);
	TEST_EQ_INT(fake_lk_post(&st.lk, "/__sip/hangup", body, NULL, NULL), 0);
	rec = await_record(&st, call_id, NULL, WAIT_MS);
	TEST_ASSERT(rec != NULL);
	print_record(rec);
	TEST_EQ_STR(jstr(rec, "status"), "completed");
	TEST_ASSERT(said(rec, "agent", "this is the clinic"));
out:
	cJSON_Delete(heard);
	cJSON_Delete(rec);
	stack_stop(&st, err != 0);
	return err;
}

/* get_token for a web call that cannot start: 502 whose message contains
 * `says`, the call stored failed with an end_reason that contains `stored`,
 * agent-worker still up. */
static int refused_web_call(struct stack *st, const char *assistant_id, const char *says,
			    const char *stored)
{
	int err = 0;
	char call_id[64] = "", url[128], msg[256];
	char *token = NULL;
	cJSON *list = NULL;
	long status = 0;
	TEST_ASSERT(web_token(st, assistant_id, call_id, sizeof(call_id), url, sizeof(url), &token,
			      &status, msg, sizeof(msg)) != 0);
	printf("    get_token: %ld %s\n", status, msg);
	TEST_EQ_INT(status, 502);
	TEST_CONTAINS(msg, says);
	list = api(st, "GET", "/calls", NULL, NULL);
	const cJSON *first =
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
					   cJSON_GetObjectItemCaseSensitive(list, "data"), "calls"),
				   0);
	TEST_ASSERT(first != NULL);
	TEST_EQ_STR(jstr(first, "status"), "failed");
	TEST_CONTAINS(jstr(first, "end_reason"), stored);
	TEST_ASSERT(svc_alive(st, SVC_AGENT));
out:
	free(token);
	cJSON_Delete(list);
	return err;
}

/* agent-worker holds a secret LiveKit does not accept: get_token fails at
 * once with a message naming the cause, the call is stored failed with it. */
static int test_wrong_secret(void)
{
	int err = 0;
	struct stack st;
	struct stack_opts o = { .agent_secret = "not-the-secret-livekit-knows" };
	char assistant_id[64];
	TEST_EQ_INT(stack_start(&st, &o), 0);
	TEST_EQ_INT(api_create(&st, "/assistants", assistant_json, 201, "assistant_id",
			       assistant_id, sizeof(assistant_id)),
		    0);
	TEST_EQ_INT(refused_web_call(&st, assistant_id, "LIVEKIT_API_SECRET",
				     "refused the participant token"), 0);
out:
	stack_stop(&st, err != 0);
	return err;
}

/* LiveKit's RTC side refuses connections when the agent joins (the API
 * side still answers, so the room is created): the call fails naming it. */
static int test_unreachable_at_join(void)
{
	int err = 0;
	struct stack st;
	struct stack_opts o = { 0 };
	char assistant_id[64], call_id[64] = "", url[128], msg[256];
	char *token = NULL;
	long status = 0;
	TEST_EQ_INT(stack_start(&st, &o), 0);
	TEST_EQ_INT(api_create(&st, "/assistants", assistant_json, 201, "assistant_id",
			       assistant_id, sizeof(assistant_id)),
		    0);
	TEST_EQ_INT(fake_lk_post(&st.lk, "/__rtc/drop", "{}", NULL, NULL), 0);
	TEST_EQ_INT(refused_web_call(&st, assistant_id, "LiveKit server", "LiveKit server"), 0);
	/* LiveKit back: the next call works again (nothing stuck) */
	TEST_EQ_INT(fake_lk_post(&st.lk, "/__rtc/allow", "{}", NULL, NULL), 0);
	TEST_EQ_INT(web_token(&st, assistant_id, call_id, sizeof(call_id), url, sizeof(url), &token,
			      &status, msg, sizeof(msg)), 0);
out:
	free(token);
	stack_stop(&st, err != 0);
	return err;
}

/* LiveKit goes away in the middle of a Twilio call and does not come back:
 * the agent loses its room, the call ends failed with room_lost and the
 * cause, agent-worker stays up. */
static int test_gone_mid_call(void)
{
	int err = 0;
	struct stack st;
	struct stack_opts o = { 0 };
	char assistant_id[64], trunk_id[64], call_id[64], body[512];
	cJSON *rec = NULL;
	TEST_EQ_INT(stack_start(&st, &o), 0);
	TEST_EQ_INT(api_create(&st, "/assistants", assistant_json, 201, "assistant_id",
			       assistant_id, sizeof(assistant_id)),
		    0);
	TEST_EQ_INT(
		api_create(
			&st, "/trunks",
			"{\"trunk_name\":\"Twilio US\",\"trunk_type\":\"twilio\",\"trunk_config\":"
			"{\"livekit_sip_trunk_id\":\"ST_testtrunk\",\"numbers\":[\"+15550100000\"]}"
			"}",
			201, "trunk_id", trunk_id, sizeof(trunk_id)),
		0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+15550100002\","
		 "\"call_service\":\"twilio\"}", assistant_id, trunk_id);
	TEST_EQ_INT(api_create(&st, "/call/outbound", body, 202, "call_id", call_id,
			       sizeof(call_id)),
		    0);
	int64_t end = time_mono_ms() + WAIT_MS;
	for (;;) {
		cJSON_Delete(rec);
		rec = get_call(&st, call_id);
		if ((rec && jstr(rec, "status") &&
		     strcmp(jstr(rec, "status"), "in_progress") == 0) ||
		    time_mono_ms() >= end)
			break;
		test_nap_ms(100);
	}
	TEST_EQ_STR(jstr(rec, "status"), "in_progress");
	TEST_EQ_INT(fake_lk_post(&st.lk, "/__rtc/drop", "{}", NULL, NULL), 0);
	cJSON_Delete(rec);
	rec = await_record(&st, call_id, NULL, 40000); /* reconnection gives up after 20 s */
	TEST_ASSERT(rec != NULL);
	print_record(rec);
	TEST_EQ_STR(jstr(rec, "status"), "failed");
	TEST_CONTAINS(jstr(rec, "end_reason"), "room_lost");
	TEST_ASSERT(svc_alive(&st, SVC_AGENT));
out:
	cJSON_Delete(rec);
	stack_stop(&st, err != 0);
	return err;
}

static const struct test tests[] = {
	{ "web_call", test_web_call },
	{ "twilio_call", test_twilio_call },
	{ "wrong_secret", test_wrong_secret },
	{ "unreachable_at_join", test_unreachable_at_join },
	{ "gone_mid_call", test_gone_mid_call },
};

int main(int argc, char **argv)
{
	int rc = test_netns_enter(argc, argv);
	if (rc)
		return rc;
	return test_run(__FILE__, tests, CM_ARRAY_LEN(tests), argc, argv);
}
