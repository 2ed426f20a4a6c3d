/* A web call on the embedded default, from a real browser: nats-server,
 * PostgreSQL, api-gateway, room-manager (local backend) and agent-worker
 * (local providers); headless Chromium loads the test page, then
 * POST /web_call/get_token gives {room_name, token, url (ws://), call_id}
 * and the page joins with console/room-local.js. Its fake microphone is
 * quiet for 5 s, asks "What are your hours?" and is quiet again. Checked:
 * the reply's shape, the agent is in the room (the page sees it as a
 * member), the page hears the greeting and, after a quiet gap (its
 * question), the answer (energy at an AnalyserNode on what it plays).
 * And the call's owner is its agent-worker: killed (kill -9), with the
 * caller in the room or not yet, its call ends failed (owner_lost) after
 * OWNER_TIMEOUT_S (3 s here), and not before while the agent lives.
 * Every wait has a deadline. */
#include "bus/bus.h"
#include "core/core.h"
#include "db/db.h"
#include "event/event.h"
#include "harness/test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define API_KEY "test-key-webcall-0001"

static const char *const svc_names[] = { "api-gateway", "room-manager", "agent-worker" };
#define NSVC (sizeof(svc_names) / sizeof(svc_names[0]))

struct svc {
	int pid;
	int health_port;
	char env[10][640];
};

static int svc_start(struct svc *s, const char *name, const char *dir, const char *nats_url,
		     const struct test_pg *pg, int api_port, int ws_port)
{
	char bin[256], logpath[600];
	int n = 0;
	s->health_port = test_free_port();
	snprintf(s->env[n++], sizeof(s->env[0]), "NATS_URL=%s", nats_url);
	snprintf(s->env[n++], sizeof(s->env[0]), "HEALTH_ADDR=127.0.0.1:%d", s->health_port);
	if (strcmp(name, "api-gateway") == 0) {
		snprintf(s->env[n++], sizeof(s->env[0]), "DATABASE_URL=%s", pg->url);
		snprintf(s->env[n++], sizeof(s->env[0]), "API_ADDR=127.0.0.1:%d", api_port);
		snprintf(s->env[n++], sizeof(s->env[0]),
			 "MIGRATIONS_DIR=services/api-gateway/migrations");
		snprintf(s->env[n++], sizeof(s->env[0]), "API_KEYS=%s", API_KEY);
		snprintf(s->env[n++], sizeof(s->env[0]), "%s", "SECRETS_KEY=" TEST_SECRETS_KEY);
		snprintf(s->env[n++], sizeof(s->env[0]), "%s",
			 "WEBHOOK_SIGNING_SECRET=" TEST_WEBHOOK_SECRET);
	} else if (strcmp(name, "room-manager") == 0) {
		int port_min = 44000 + (int)(getpid() % 200) * 20;
		snprintf(s->env[n++], sizeof(s->env[0]), "ROOM_BACKEND=local");
		snprintf(s->env[n++], sizeof(s->env[0]), "RECORDINGS_DIR=%s/rec", dir);
		snprintf(s->env[n++], sizeof(s->env[0]), "RTP_PORT_MIN=%d", port_min);
		snprintf(s->env[n++], sizeof(s->env[0]), "RTP_PORT_MAX=%d", port_min + 19);
		snprintf(s->env[n++], sizeof(s->env[0]), "ROOM_WS_ADDR=127.0.0.1:%d", ws_port);
	}
	const char *envp[13];
	int k = 0;
	for (int i = 0; i < n; i++)
		envp[k++] = s->env[i];
	if (strcmp(name, "api-gateway") == 0)
		envp[k++] = "OWNER_TIMEOUT_S=3";
	envp[k++] = "LOG_FORMAT=kv";
	envp[k++] = "LOG_LEVEL=debug";
	envp[k] = NULL;
	snprintf(logpath, sizeof(logpath), "%s/%s.log", dir, name);
	const char *argv[] = { test_bin(bin, sizeof(bin), name), NULL };
	return test_spawn(&s->pid, argv, envp, logpath);
}

static int svc_stop(struct svc *s, const char *name)
{
	int code = -1;
	if (s->pid <= 0)
		return 0;
	kill(s->pid, SIGTERM);
	if (test_wait_exit(s->pid, 10000, &code) != 0) {
		test_kill(s->pid);
		code = -1;
	}
	s->pid = 0;
	if (code != 0)
		printf("    %s exited %d on SIGTERM\n", name, code);
	return code != 0;
}

/* /readyz can answer before room-manager's command subscriptions exist. */
static int await_rooms_commands(const char *nats_url, int timeout_ms)
{
	static const char probe[] = "{\"v\":1,\"room\":\"probe\",\"identity\":\"probe\"}";
	struct bus *bus = NULL;
	int err = bus_connect(&bus, nats_url, "test-web-call-local");
	int64_t end = time_mono_ms() + timeout_ms;
	while (!err) {
		char *reply = NULL;
		if (bus_request(bus, &reply, NULL, "rooms.leave", probe, strlen(probe), 1000) ==
		    0) {
			free(reply);
			break;
		}
		if (time_mono_ms() >= end)
			err = ETIMEDOUT;
		else
			lifecycle_wait(20);
	}
	bus_close(bus);
	return err;
}

/* The first line of `logpath` that starts with `tag` + ' ', parsed. */
static cJSON *log_json(const char *logpath, const char *tag)
{
	FILE *f = fopen(logpath, "r");
	char line[16384];
	size_t n = strlen(tag);
	cJSON *r = NULL;
	while (f && !r && fgets(line, sizeof(line), f))
		if (strncmp(line, tag, n) == 0 && line[n] == ' ')
			r = cJSON_Parse(line + n + 1);
	if (f)
		fclose(f);
	return r;
}

static double json_num(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *json_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char assistant_json[] =
	"{\"assistant_name\":\"Web clinic front desk\","
	"\"assistant_prompt\":\"You are the front desk of a small clinic. Be brief and polite.\","
	"\"assistant_mode\":\"pipeline\","
	"\"assistant_start_instruction\":\"Hello, this is the clinic. How can I help you today?\","
	"\"assistant_interaction_config\":{\"speaks_first\":true,\"silence_timeout_s\":20,"
	"\"max_reprompts\":1,\"fillers_enabled\":false},"
	"\"assistant_stt_config\":{\"provider\":\"local\"},"
	"\"assistant_llm_config\":{\"provider\":\"local\",\"script\":["
	"{\"match\":\"hours\",\"reply\":\"We are open nine to five.\"}]},"
	"\"assistant_tts_config\":{\"provider\":\"local\"},"
	"\"assistant_end_call_url\":null}";

/* The stack a test runs on: nats-server, PostgreSQL, the three services,
 * each ready and room-manager answering rooms.*; an assistant stored. */
struct stack {
	struct test_nats nats;
	struct test_pg pg;
	struct svc svc[NSVC];
	char *dir;
	char api[64];
	char assistant_id[64];
};

static int stack_up(struct stack *st, const char *name)
{
	int err = 0;
	char url[256], *resp = NULL;
	cJSON *j = NULL;
	long status = 0;
	int api_port = test_free_port(), ws_port = test_free_port();
	memset(st, 0, sizeof(*st));
	st->dir = test_tmpdir(name);
	TEST_ASSERT(st->dir);
	TEST_EQ_INT(test_nats_start(&st->nats), 0);
	TEST_EQ_INT(test_pg_start(&st->pg), 0);
	for (size_t i = 0; i < NSVC; i++)
		TEST_EQ_INT(svc_start(&st->svc[i], svc_names[i], st->dir, st->nats.url, &st->pg,
				      api_port, ws_port),
			    0);
	for (size_t i = 0; i < NSVC; i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", st->svc[i].health_port);
		if (test_http_wait(url, 200, 30000)) {
			test_failed(__FILE__, __LINE__, "%s never became ready", svc_names[i]);
			err = 1;
			goto out;
		}
	}
	TEST_EQ_INT(await_rooms_commands(st->nats.url, 10000), 0);
	snprintf(st->api, sizeof(st->api), "http://127.0.0.1:%d", api_port);
	snprintf(url, sizeof(url), "%s/assistants", st->api);
	TEST_EQ_INT(test_http(&status, &resp, "POST", url, API_KEY, assistant_json), 0);
	TEST_EQ_INT(status, 201);
	j = cJSON_Parse(resp);
	const char *id = json_str(cJSON_GetObjectItemCaseSensitive(j, "data"), "assistant_id");
	TEST_ASSERT(id && strlen(id) < sizeof(st->assistant_id));
	snprintf(st->assistant_id, sizeof(st->assistant_id), "%s", id);
out:
	free(resp);
	cJSON_Delete(j);
	return err;
}

/* Stops everything; a failed test keeps its logs. */
static void stack_down(struct stack *st, int err)
{
	for (size_t i = NSVC; i-- > 0;)
		svc_stop(&st->svc[i], svc_names[i]);
	test_pg_destroy(&st->pg);
	test_nats_destroy(&st->nats);
	if (err && st->dir)
		printf("    logs kept in %s\n", st->dir);
	else if (st->dir)
		test_rmtree(st->dir);
	free(st->dir);
	st->dir = NULL;
}

static int test_browser_hears_greeting(void)
{
	int err = 0, node = -1, code = -1;
	struct stack st;
	char *out = NULL;
	char wav[400], log[400];
	cJSON *tok = NULL, *res = NULL;
	err = stack_up(&st, "web-call-local");
	if (err)
		goto out;
	const char *dir = st.dir, *api = st.api, *assistant_id = st.assistant_id;

	/* the caller's microphone: 5 s of quiet (a fake microphone speaking at
	 * once would barge in on the greeting), then a question the script
	 * answers, then quiet again (the file loops) */
	char words[400];
	snprintf(words, sizeof(words), "%s/words.wav", dir);
	snprintf(wav, sizeof(wav), "%s/caller.wav", dir);
	const char *espeak[] = { "espeak-ng", "-w", words, "What are your hours?", NULL };
	const char *pad[] = { "sox", words, "-r", "48000", wav, "pad", "5", "15", NULL };
	TEST_EQ_INT(test_run_cmd(&out, espeak, NULL, 10000), 0);
	free(out);
	out = NULL;
	TEST_EQ_INT(test_run_cmd(&out, pad, NULL, 10000), 0);
	snprintf(log, sizeof(log), "%s/page.log", dir);
	const char *argv[] = { "node",
			       "tests/js/room_local_page.mjs",
			       "--api",
			       api,
			       "--key",
			       API_KEY,
			       "--assistant",
			       assistant_id,
			       "--wav",
			       wav,
			       "--listen_ms",
			       "20000",
			       "--loud_rms",
			       "0.01",
			       "--loud_windows",
			       "100000",
			       NULL };
	TEST_EQ_INT(test_spawn(&node, argv, NULL, log), 0);
	TEST_EQ_INT(test_wait_exit(node, 60000, &code), 0);
	node = -1;
	TEST_EQ_INT(code, 0);

	tok = log_json(log, "TOKEN");
	TEST_ASSERT(tok);
	TEST_EQ_INT(json_num(tok, "status"), 200);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(tok, "data");
	const char *call_id = json_str(d, "call_id"), *room = json_str(d, "room_name");
	TEST_ASSERT(call_id && room && json_str(d, "token"));
	TEST_ASSERT(strncmp(json_str(d, "url"), "ws://127.0.0.1:", 15) == 0);
	res = log_json(log, "RESULT");
	TEST_ASSERT(res);
	char *ms = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(res, "members"));
	printf("    call %s: page send %s, heard %.0f frames, %.0f loud windows, max rms %.3f, "
	       "members %s\n",
	       call_id, json_str(res, "send"), json_num(res, "remoteFrames"),
	       json_num(res, "loudWindows"), json_num(res, "maxRms"), ms ? ms : "?");
	free(ms);
	TEST_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(res, "error")));
	char want[96];
	snprintf(want, sizeof(want), "web-%s", call_id);
	TEST_EQ_STR(json_str(res, "identity"), want);
	snprintf(want, sizeof(want), "+agent-%s", call_id);
	const cJSON *members = cJSON_GetObjectItemCaseSensitive(res, "members");
	bool agent_seen = false;
	for (const cJSON *m = members ? members->child : NULL; m; m = m->next)
		agent_seen |= cJSON_IsString(m) && strcmp(m->valuestring, want) == 0;
	TEST_ASSERT(agent_seen);
	/* 50 ms windows of agent audio: the greeting, a quiet gap while the
	 * page asks its question, the answer. The longest gap between loud
	 * windows splits the two. */
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(res, "loudAtMs");
	double prev = -1, gap = 0, gap_at = 0;
	for (const cJSON *t = at ? at->child : NULL; t; t = t->next) {
		if (cJSON_IsNumber(t) && prev >= 0 && t->valuedouble - prev > gap) {
			gap = t->valuedouble - prev;
			gap_at = t->valuedouble;
		}
		prev = cJSON_IsNumber(t) ? t->valuedouble : prev;
	}
	int greeting = 0, answer = 0;
	for (const cJSON *t = at ? at->child : NULL; t; t = t->next) {
		greeting += cJSON_IsNumber(t) && t->valuedouble < gap_at;
		answer += cJSON_IsNumber(t) && t->valuedouble >= gap_at;
	}
	printf("    loud windows: %d (greeting), quiet %.0f ms, %d from %.0f ms (answer)\n",
	       greeting, gap, answer, gap_at);
	TEST_ASSERT(greeting >= 15);
	TEST_ASSERT(gap >= 1500);
	TEST_ASSERT(answer >= 10);
out:
	if (node > 0)
		test_stop(&node, SIGTERM, 5000);
	stack_down(&st, err);
	free(out);
	cJSON_Delete(tok);
	cJSON_Delete(res);
	return err;
}

/* A web call whose agent-worker is killed (kill -9). DESIGN §4: "A call whose
 * owning process dies must end as failed, never stay in_progress forever";
 * decisions.md: "The agent owns a web call". */
static int web_call_agent_killed(bool answered)
{
	int err = 0;
	struct stack st;
	struct bus *bus = NULL;
	struct db *db = NULL;
	char *resp = NULL, *v = NULL;
	char url[256], body[256], call_id[64], room[96];
	cJSON *j = NULL;
	long status = 0;
	err = stack_up(&st, "web-call-owner");
	if (err)
		goto out;
	TEST_EQ_INT(db_connect(&db, st.pg.url), 0);
	TEST_EQ_INT(bus_connect(&bus, st.nats.url, "test-web-call-owner"), 0);
	snprintf(body, sizeof(body), "{\"assistant_id\":\"%s\"}", st.assistant_id);
	snprintf(url, sizeof(url), "%s/web_call/get_token", st.api);
	TEST_EQ_INT(test_http(&status, &resp, "POST", url, API_KEY, body), 0);
	TEST_EQ_INT(status, 200);
	j = cJSON_Parse(resp);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "data");
	TEST_ASSERT(json_str(d, "call_id") && json_str(d, "room_name"));
	snprintf(call_id, sizeof(call_id), "%s", json_str(d, "call_id"));
	snprintf(room, sizeof(room), "%s", json_str(d, "room_name"));
	/* the agent has its session */
	TEST_EQ_INT(test_db_wait_value(db, "SELECT count(*) FROM call_events WHERE call_id = $1"
				       " AND type = 'agent_joined'", call_id, "1", 20000), 0);
	if (answered) {
		/* what the agent publishes when the browser is in the room */
		struct event *ev = NULL;
		TEST_EQ_INT(event_new(&ev, EV_CALL_ANSWERED, call_id, room, "agent-worker/test"),
			    0);
		int perr = bus_publish_event(bus, ev);
		event_free(ev);
		TEST_EQ_INT(perr, 0);
		TEST_EQ_INT(test_db_wait_value(db, "SELECT status FROM calls WHERE id = $1",
					       call_id, "in_progress", 10000),
			    0);
	}
	/* a live owner's call is left alone past OWNER_TIMEOUT_S */
	test_nap_ms(6000);
	v = test_db_query1(db, "SELECT status FROM calls WHERE id = $1", call_id);
	TEST_EQ_STR(v, answered ? "in_progress" : "queued");
	free(v);
	v = NULL;
	/* the owner dies */
	test_kill(st.svc[2].pid);
	st.svc[2].pid = 0;
	/* OWNER_TIMEOUT_S=3: a lost owner's call must end failed well within 20 s */
	int w = test_db_wait_value(db, "SELECT status || '|' || coalesce(end_reason, '')"
				   " || '|' || (ended_at IS NOT NULL)::text"
				   " FROM calls WHERE id = $1",
				   call_id, "failed|owner_lost|true", 20000);
	v = test_db_query1(db, "SELECT status || '|' || coalesce(end_reason, '-') || '|' ||"
			   " coalesce(ended_at::text, 'no ended_at') FROM calls WHERE id = $1",
			   call_id);
	printf("    call %s 20 s after kill -9 of agent-worker: %s\n", call_id, v ? v : "?");
	TEST_EQ_INT(w, 0);
out:
	bus_close(bus);
	db_close(db);
	stack_down(&st, err);
	free(resp);
	free(v);
	cJSON_Delete(j);
	return err;
}

static int test_web_call_in_progress_agent_killed(void)
{
	return web_call_agent_killed(true);
}

static int test_web_call_waiting_agent_killed(void)
{
	return web_call_agent_killed(false);
}

static const struct test tests[] = {
	{ "browser_hears_greeting", test_browser_hears_greeting },
	{ "web_call_in_progress_agent_killed", test_web_call_in_progress_agent_killed },
	{ "web_call_waiting_agent_killed", test_web_call_waiting_agent_killed },
};

TEST_MAIN(tests)
