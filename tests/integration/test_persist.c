/* api-gateway's persister, owner liveness, LiveKit webhook receiver and
 * the GET /calls/{id} cache against a real nats-server and PostgreSQL,
 * driven in-process. */
#include "../services/api-gateway/lkwebhook.h"
#include "../services/api-gateway/owners.h"
#include "../services/api-gateway/persist.h"
#include "../services/api-gateway/record.h"
#include "bus/bus.h"
#include "db/db.h"
#include "harness/test.h"
#include "httpd/httpd.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MIGRATIONS "services/api-gateway/migrations"
#define SOURCE "api-gateway/test"
#define WAIT_MS 15000

struct env {
	struct test_nats n;
	struct test_pg pg;
	struct bus *bus;
	struct db *db;
	struct record_cache *cache; /* the persister brackets its writes on it */
	struct persist *p;
	bool nats_up, pg_up;
};

/* Entries never expire within a test: only invalidation refreshes them. */
#define CACHE_TTL_MS 3600000

/* start false: the persister is not started (persist_new later). */
static int env_up_with(struct env *e, bool start)
{
	int err;
	memset(e, 0, sizeof(*e));
	if ((err = test_nats_start(&e->n)) != 0)
		return err;
	e->nats_up = true;
	if ((err = test_pg_start(&e->pg)) != 0)
		return err;
	e->pg_up = true;
	if ((err = bus_connect(&e->bus, e->n.url, "test-persist")) != 0 ||
	    (err = bus_ensure_streams(e->bus)) != 0 || (err = db_connect(&e->db, e->pg.url)) != 0 ||
	    (err = db_migrate(e->db, MIGRATIONS, NULL)) != 0 ||
	    (err = record_cache_new(&e->cache, 64, 1 << 20, CACHE_TTL_MS)) != 0)
		return err;
	return start ? persist_new(&e->p, e->bus, e->pg.url, SOURCE, e->cache, true) : 0;
}

static int env_up(struct env *e)
{
	return env_up_with(e, true);
}

static void env_down(struct env *e)
{
	e->p = persist_free(e->p);
	e->cache = record_cache_free(e->cache);
	e->bus = bus_close(e->bus);
	e->db = db_close(e->db);
	if (e->pg_up)
		test_pg_destroy(&e->pg);
	if (e->nats_up)
		test_nats_destroy(&e->n);
}

/* Polls the persister until it handled `n` messages in all. */
static int wait_handled(struct persist *p, uint64_t n)
{
	int64_t end = time_mono_ms() + WAIT_MS;
	for (;;) {
		struct persist_stats st;
		persist_stats(p, &st);
		if (st.stored + st.duplicates + st.invalid + st.strays >= n)
			return 0;
		if (time_mono_ms() >= end)
			return ETIMEDOUT;
		test_nap_ms(20);
	}
}

static int seed_call(struct db *db, char call_id[ID_UUID_LEN + 1], const char *url,
		     const char *kind)
{
	char aid[ID_UUID_LEN + 1], room[64];
	int err = id_uuid4(aid);
	if (!err)
		err = id_uuid4(call_id);
	if (err)
		return err;
	snprintf(room, sizeof(room), "call-%s", call_id);
	const char *pa[] = { aid, url };
	err = db_exec(db, NULL,
		      "INSERT INTO assistants (id, name, end_call_url) VALUES ($1, 'A', $2)", 2,
		      pa);
	if (err)
		return err;
	const char *pc[] = { call_id, aid, room, kind };
	return db_exec(db, NULL,
		       "INSERT INTO calls (id, kind, provider, assistant_id, room, status)"
		       " VALUES ($1, $4, 'exotel', $2, $3, 'queued')",
		       4, pc);
}

/* An event of call_id at ts_ms; *evp caller frees. */
static struct event *mk(enum event_type type, const char *call_id, int64_t ts_ms)
{
	struct event *ev = NULL;
	char room[64];
	snprintf(room, sizeof(room), "call-%s", call_id);
	if (event_new(&ev, type, call_id, room, "sip-bridge/test") != 0)
		return NULL;
	ev->ts_ms = ts_ms;
	return ev;
}

/* Publishes ev (id as msg id) or, with dup, a second copy under a fresh
 * msg id so JetStream stores it twice: a real duplicate delivery. */
static int publish(struct bus *bus, const struct event *ev, bool dup)
{
	if (!dup)
		return bus_publish_event(bus, ev);
	char *json = NULL, subject[EVENT_SUBJECT_MAX], mid[ID_UUID_LEN + 1];
	int err = event_encode(&json, ev);
	if (!err)
		err = event_subject(subject, sizeof(subject), ev);
	if (!err)
		err = id_uuid4(mid);
	if (!err)
		err = bus_js_publish(bus, subject, mid, json, strlen(json), 5000);
	free(json);
	return err;
}

#define T0 1795000000000LL

static const char row_sql[] =
	"SELECT concat_ws('|', status, coalesce(sip_code::text, '-'), coalesce(sip_reason, '-'),"
	" coalesce(((extract(epoch from answered_at) * 1000)::bigint - 1795000000000)::text, ''),"
	" coalesce(((extract(epoch from agent_ready_at) * 1000)::bigint - 1795000000000)::text, "
	"''),"
	" coalesce(((extract(epoch from ended_at) * 1000)::bigint - 1795000000000)::text, ''),"
	" coalesce(end_reason, '-'), hold_count, hold_ms, coalesce(recording_path, '-'))"
	" FROM calls WHERE id = $1";

static int test_out_of_order_and_duplicates(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1];
	struct event *evs[16] = { 0 };
	size_t n = 0;
	char *v = NULL;

	TEST_EQ_INT(env_up(&e), 0);
	TEST_EQ_INT(seed_call(e.db, cid, NULL, "outbound"), 0);

	struct event *dialing = mk(EV_CALL_DIALING, cid, T0);
	struct event *ringing = mk(EV_CALL_RINGING, cid, T0 + 1000);
	struct event *answered = mk(EV_CALL_ANSWERED, cid, T0 + 2000);
	struct event *ready = mk(EV_AGENT_READY, cid, T0 + 2100);
	struct event *hold = mk(EV_CALL_HOLD, cid, T0 + 5000);
	struct event *resume = mk(EV_CALL_RESUME, cid, T0 + 8500);
	struct event *ended = mk(EV_CALL_ENDED, cid, T0 + 20000);
	struct event *rec = mk(EV_RECORDING_READY, cid, T0 + 21000);
	struct event *tr1 = mk(EV_TRANSCRIPT, cid, T0 + 3000);
	struct event *tr2 = mk(EV_TRANSCRIPT, cid, T0 + 4000);
	struct event *partial = mk(EV_TRANSCRIPT, cid, T0 + 3500);
	evs[n++] = dialing, evs[n++] = ringing, evs[n++] = answered, evs[n++] = ready;
	evs[n++] = hold, evs[n++] = resume, evs[n++] = ended, evs[n++] = rec;
	evs[n++] = tr1, evs[n++] = tr2, evs[n++] = partial;
	for (size_t i = 0; i < n; i++)
		TEST_ASSERT(evs[i] != NULL);
	TEST_EQ_INT(event_set_str(ended, "reason", "remote_hangup"), 0);
	TEST_EQ_INT(event_set_str(ended, "by", "remote"), 0);
	TEST_EQ_INT(event_set_int(ended, "duration_ms", 18000), 0);
	TEST_EQ_INT(event_set_str(rec, "path", "/rec/x.ogg"), 0);
	const struct { struct event *ev; const char *speaker, *text; bool final; } trs[] = {
		{ tr1, "agent", "Hello, this is the clinic.", true },
		{ tr2, "user", "What are your hours?", true },
		{ partial, "user", "What are", false },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(trs); i++) {
		TEST_EQ_INT(event_set_str(trs[i].ev, "speaker", trs[i].speaker), 0);
		TEST_EQ_INT(event_set_str(trs[i].ev, "text", trs[i].text), 0);
		TEST_EQ_INT(event_set_bool(trs[i].ev, "final", trs[i].final), 0);
		TEST_EQ_INT(event_set_time(trs[i].ev, "started_at", trs[i].ev->ts_ms), 0);
	}

	/* The end first, the resume before its hold, every kind duplicated. */
	const struct { struct event *ev; bool dup; } order[] = {
		{ ended, false }, { resume, false }, { tr1, false }, { answered, false },
		{ ringing, false }, { hold, false }, { tr1, true }, { dialing, false },
		{ ringing, true }, { ready, false }, { partial, false }, { resume, true },
		{ hold, true }, { tr2, false }, { rec, false }, { ended, true }, { answered, true },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(order); i++)
		TEST_EQ_INT(publish(e.bus, order[i].ev, order[i].dup), 0);
	TEST_EQ_INT(wait_handled(e.p, CM_ARRAY_LEN(order)), 0);
	struct persist_stats st;
	persist_stats(e.p, &st);
	TEST_EQ_INT(st.stored, 11);
	TEST_EQ_INT(st.duplicates, 6);
	TEST_EQ_INT(st.invalid, 0);

	v = test_db_query1(e.db, row_sql, cid);
	TEST_EQ_STR(v, "completed|-|-|2000|2100|20000|remote_hangup|1|3500|/rec/x.ogg");
	free(v);
	v = test_db_query1(e.db, "SELECT count(*) FROM call_events WHERE call_id = $1", cid);
	TEST_EQ_STR(v, "11");
	free(v);
	v = test_db_query1(e.db,
		   "SELECT string_agg(seq || ':' || speaker || ':' || text, ',' ORDER BY seq)"
		   " FROM transcript_segments WHERE call_id = $1",
		   cid);
	TEST_EQ_STR(v, "1:agent:Hello, this is the clinic.,2:user:What are your hours?");
	free(v);
	v = test_db_query1(e.db, "SELECT end_event FROM calls WHERE id = $1", cid);
	TEST_EQ_STR(v, "call_ended");
out:
	free(v);
	for (size_t i = 0; i < n; i++)
		event_free(evs[i]);
	env_down(&e);
	return err;
}

static int test_hold_pair(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1];
	struct event *a = NULL, *h = NULL, *r = NULL;
	char *v = NULL;

	TEST_EQ_INT(env_up(&e), 0);
	TEST_EQ_INT(seed_call(e.db, cid, NULL, "outbound"), 0);
	a = mk(EV_CALL_ANSWERED, cid, T0);
	h = mk(EV_CALL_HOLD, cid, T0 + 4000);
	r = mk(EV_CALL_RESUME, cid, T0 + 4000 + 12345);
	TEST_ASSERT(a && h && r);
	TEST_EQ_INT(event_set_str(h, "direction", "sendonly"), 0);
	TEST_EQ_INT(publish(e.bus, a, false), 0);
	TEST_EQ_INT(publish(e.bus, h, false), 0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT status FROM calls WHERE id = $1", cid,
				       "on_hold", WAIT_MS),
		    0);
	TEST_EQ_INT(publish(e.bus, r, false), 0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT status FROM calls WHERE id = $1", cid,
				       "in_progress", WAIT_MS),
		    0);
	v = test_db_query1(e.db,
			   "SELECT hold_count || '|' || hold_ms || '|' || (hold_started_at IS NULL)"
			   " FROM calls WHERE id = $1",
			   cid);
	TEST_EQ_STR(v, "1|12345|true");
out:
	free(v);
	event_free(a);
	event_free(h);
	event_free(r);
	env_down(&e);
	return err;
}

static int test_invalid_events_do_not_block(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1], other[ID_UUID_LEN + 1];
	struct event *d = NULL, *f = NULL, *u = NULL;
	char *v = NULL;
	static const char garbage[] = "{not json";
	static const char bad_env[] =
		"{\"v\":1,\"id\":\"x\",\"type\":\"call_hold\",\"call_id\":\"y\",\"room\":\"r\","
		"\"ts\":\"2026-11-23T19:00:00.123Z\",\"source\":\"s\",\"data\":{}}";

	TEST_EQ_INT(env_up(&e), 0);
	TEST_EQ_INT(seed_call(e.db, cid, NULL, "outbound"), 0);
	TEST_EQ_INT(bus_js_publish(e.bus, "calls.x.call_hold", "g1", garbage, strlen(garbage),
				   5000),
		    0);
	TEST_EQ_INT(bus_js_publish(e.bus, "calls.y.call_hold", "g2", bad_env, strlen(bad_env),
				   5000),
		    0);
	d = mk(EV_CALL_DIALING, cid, T0);
	f = mk(EV_CALL_FAILED, cid, T0 + 3000);
	TEST_ASSERT(d && f);
	TEST_EQ_INT(event_set_str(f, "status", "busy"), 0);
	TEST_EQ_INT(event_set_int(f, "sip_code", 486), 0);
	TEST_EQ_INT(event_set_str(f, "sip_reason", "Busy Here"), 0);
	/* an event of a call that has no row is kept apart (stray_events) */
	TEST_EQ_INT(id_uuid4(other), 0);
	u = mk(EV_CALL_HOLD, other, T0);
	TEST_ASSERT(u != NULL);
	TEST_EQ_INT(publish(e.bus, d, false), 0);
	TEST_EQ_INT(publish(e.bus, u, false), 0);
	TEST_EQ_INT(publish(e.bus, f, false), 0);
	TEST_EQ_INT(wait_handled(e.p, 5), 0);
	struct persist_stats st;
	persist_stats(e.p, &st);
	TEST_EQ_INT(st.invalid, 2);
	TEST_EQ_INT(st.stored, 2);
	TEST_EQ_INT(st.strays, 1);
	v = test_db_query1(e.db, row_sql, cid);
	TEST_EQ_STR(v, "busy|486|Busy Here|||3000|busy|0|0|-");
	free(v);
	v = test_db_query1(e.db, "SELECT count(*) FROM call_events WHERE call_id = $1", other);
	TEST_EQ_STR(v, "0");
	free(v);
	v = test_db_query1(e.db, "SELECT type FROM stray_events WHERE call_id = $1", other);
	TEST_EQ_STR(v, "call_hold");
out:
	free(v);
	event_free(d);
	event_free(f);
	event_free(u);
	env_down(&e);
	return err;
}

/* PostgreSQL stops while events arrive; they are persisted once it is back. */
static int test_db_down_loses_nothing(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1];
	struct event *d = NULL, *r = NULL;
	char *v = NULL, *out = NULL;
	char port[16];

	TEST_EQ_INT(env_up(&e), 0);
	TEST_EQ_INT(seed_call(e.db, cid, NULL, "outbound"), 0);
	d = mk(EV_CALL_DIALING, cid, T0);
	r = mk(EV_CALL_RINGING, cid, T0 + 1000);
	TEST_ASSERT(d && r);
	TEST_EQ_INT(publish(e.bus, d, false), 0);
	TEST_EQ_INT(wait_handled(e.p, 1), 0);
	const char *stop[] = { "scripts/pg.sh", "stop", e.pg.dir, NULL };
	TEST_EQ_INT(test_run_cmd(&out, stop, NULL, 60000), 0);
	free(out);
	out = NULL;
	TEST_EQ_INT(publish(e.bus, r, false), 0);
	snprintf(port, sizeof(port), "%d", e.pg.port);
	const char *start[] = { "scripts/pg.sh", "start", e.pg.dir, port, "fast", NULL };
	TEST_EQ_INT(test_run_cmd(&out, start, NULL, 60000), 0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT status FROM calls WHERE id = $1", cid,
				       "ringing", WAIT_MS * 2),
		    0);
	v = test_db_query1(e.db, "SELECT count(*) FROM call_events WHERE call_id = $1", cid);
	TEST_EQ_STR(v, "2");
out:
	free(v);
	free(out);
	event_free(d);
	event_free(r);
	env_down(&e);
	return err;
}

static int heartbeat(struct bus *bus, const char *call_id)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf),
			 "{\"v\":1,\"source\":\"sip-bridge/t\",\"calls\":[\"%s\"],\"ts\":\"x\"}",
			 call_id);
	return bus_publish(bus, OWNERS_SUBJECT, buf, (size_t)n);
}

static int test_owner_lost(void)
{
	int err = 0;
	struct env e;
	struct owners *o = NULL;
	char kept[ID_UUID_LEN + 1], lost[ID_UUID_LEN + 1];
	struct event *d1 = NULL, *d2 = NULL;
	char *v = NULL;
	struct owners_opts opts = { .timeout_s = 2, .scan_ms = 100 };

	TEST_EQ_INT(env_up(&e), 0);
	TEST_EQ_INT(seed_call(e.db, kept, NULL, "outbound"), 0);
	TEST_EQ_INT(seed_call(e.db, lost, NULL, "outbound"), 0);
	/* dialed long ago: only the start-up grace keeps it alive at first */
	d1 = mk(EV_CALL_DIALING, kept, time_now_ms() - 60000);
	d2 = mk(EV_CALL_DIALING, lost, time_now_ms() - 60000);
	TEST_ASSERT(d1 && d2);
	TEST_EQ_INT(publish(e.bus, d1, false), 0);
	TEST_EQ_INT(publish(e.bus, d2, false), 0);
	TEST_EQ_INT(wait_handled(e.p, 2), 0);

	int64_t t_start = time_mono_ms();
	TEST_EQ_INT(owners_new(&o, e.bus, e.pg.url, SOURCE, &opts), 0);
	/* Heartbeats list `kept` only; `lost` fails once 2 s have passed. */
	int64_t end = t_start + WAIT_MS;
	bool lost_failed = false;
	while (time_mono_ms() < end) {
		TEST_EQ_INT(heartbeat(e.bus, kept), 0);
		v = test_db_query1(e.db, "SELECT status FROM calls WHERE id = $1", lost);
		lost_failed = v && strcmp(v, "failed") == 0;
		free(v);
		v = NULL;
		if (lost_failed)
			break;
		test_nap_ms(200);
	}
	TEST_ASSERT(lost_failed);
	TEST_ASSERT(time_mono_ms() - t_start >= 2000); /* never before a full timeout */
	v = test_db_query1(e.db,
			   "SELECT status || '|' || sip_reason || '|' || end_reason FROM calls"
			   " WHERE id = $1",
			   lost);
	TEST_EQ_STR(v, "failed|owner lost|owner_lost");
	free(v);
	v = test_db_query1(e.db, "SELECT status FROM calls WHERE id = $1", kept);
	TEST_EQ_STR(v, "dialing");
	free(v);
	v = NULL;
	TEST_EQ_INT(owners_failed_count(o), 1);
	/* the owner stops listing it: failed 2 s later */
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT status FROM calls WHERE id = $1", kept,
				       "failed", WAIT_MS),
		    0);
	TEST_EQ_INT(owners_failed_count(o), 2);
	/* a malformed heartbeat is refused */
	TEST_EQ_INT(owners_heartbeat(o, "{\"calls\":3}", 11, time_now_ms()), EINVAL);
out:
	free(v);
	o = owners_free(o);
	event_free(d1);
	event_free(d2);
	env_down(&e);
	return err;
}

/* Heartbeats for `ms`, one every 200 ms; false when `call_id` ended meanwhile. */
static bool listed_for(struct env *e, const char *call_id, int ms)
{
	for (int64_t end = time_mono_ms() + ms; time_mono_ms() < end; test_nap_ms(200)) {
		if (heartbeat(e->bus, call_id) != 0)
			return false;
		char *v = test_db_query1(e->db, "SELECT status FROM calls WHERE id = $1", call_id);
		bool live = v && strcmp(v, "dialing") == 0;
		free(v);
		if (!live)
			return false;
	}
	return true;
}

/* NATS goes away for longer than OWNER_TIMEOUT_S: no heartbeat could reach
 * the gateway, so a live call is not failed when it comes back, before its
 * owner has had a timeout to be heard again; an owner that stays silent
 * after that still loses its call. */
static int test_owner_kept_through_nats_outage(void)
{
	int err = 0;
	struct env e;
	struct owners *o = NULL;
	char cid[ID_UUID_LEN + 1];
	struct event *d = NULL;
	struct owners_opts opts = { .timeout_s = 2, .scan_ms = 100 };

	TEST_EQ_INT(env_up(&e), 0);
	TEST_EQ_INT(seed_call(e.db, cid, NULL, "outbound"), 0);
	d = mk(EV_CALL_DIALING, cid, time_now_ms());
	TEST_ASSERT(d);
	TEST_EQ_INT(publish(e.bus, d, false), 0);
	TEST_EQ_INT(wait_handled(e.p, 1), 0);
	TEST_EQ_INT(owners_new(&o, e.bus, e.pg.url, SOURCE, &opts), 0);
	TEST_ASSERT(listed_for(&e, cid, 1000));
	test_nats_stop(&e.n);
	test_nap_ms(3500);
	TEST_EQ_INT(test_nats_restart(&e.n), 0);
	int64_t end = time_mono_ms() + WAIT_MS;
	while (!bus_connected(e.bus) && time_mono_ms() < end)
		test_nap_ms(20);
	TEST_ASSERT(bus_connected(e.bus));
	/* the owner reconnects and lists its call a moment later */
	test_nap_ms(500);
	TEST_ASSERT(listed_for(&e, cid, 3000));
	TEST_EQ_INT(owners_failed_count(o), 0);
	/* then falls silent: failed */
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT status FROM calls WHERE id = $1", cid,
				       "failed", WAIT_MS),
		    0);
	TEST_EQ_INT(owners_failed_count(o), 1);
out:
	o = owners_free(o);
	event_free(d);
	env_down(&e);
	return err;
}

/* An outbound call no dialer takes (none running, all full, or one died
 * between taking the job and call_dialing) ends failed, not_dialed, a
 * queue timeout and a heartbeat timeout after it was created: never
 * earlier, and never one a dialer took. */
static int test_not_dialed(void)
{
	int err = 0;
	struct env e;
	struct owners *o = NULL;
	char old[ID_UUID_LEN + 1], fresh[ID_UUID_LEN + 1], taken[ID_UUID_LEN + 1];
	struct event *d = NULL;
	char *v = NULL;
	struct owners_opts opts = { .timeout_s = 2, .dial_queue_timeout_s = 1, .scan_ms = 100 };

	TEST_EQ_INT(env_up(&e), 0);
	TEST_EQ_INT(seed_call(e.db, old, NULL, "outbound"), 0);
	TEST_EQ_INT(seed_call(e.db, taken, NULL, "outbound"), 0);
	TEST_EQ_INT(db_exec(e.db, NULL,
			    "UPDATE calls SET created_at = now() - interval '10 minutes'"
			    " WHERE id IN ($1, $2)",
			    2, (const char *[]){ old, taken }),
		    0);
	/* a dialer took `taken` (and keeps listing it) */
	d = mk(EV_CALL_DIALING, taken, time_now_ms());
	TEST_ASSERT(d);
	TEST_EQ_INT(publish(e.bus, d, false), 0);
	TEST_EQ_INT(wait_handled(e.p, 1), 0);
	TEST_EQ_INT(seed_call(e.db, fresh, NULL, "outbound"), 0);
	/* the fresh one has its dial_by stored, as api-gateway stores it */
	TEST_EQ_INT(db_exec(e.db, NULL,
			    "UPDATE calls SET dial_by = now() + interval '2 seconds' WHERE id = $1",
			    1, (const char *[]){ fresh }),
		    0);
	int64_t t_fresh = time_mono_ms();
	TEST_EQ_INT(owners_new(&o, e.bus, e.pg.url, SOURCE, &opts), 0);
	/* `old` fails once a full heartbeat timeout has been listened to */
	bool old_failed = false;
	for (int64_t end = time_mono_ms() + WAIT_MS; !old_failed && time_mono_ms() < end;) {
		TEST_EQ_INT(heartbeat(e.bus, taken), 0);
		v = test_db_query1(e.db, "SELECT status FROM calls WHERE id = $1", old);
		old_failed = v && strcmp(v, "failed") == 0;
		free(v);
		v = NULL;
		if (!old_failed)
			test_nap_ms(100);
	}
	TEST_ASSERT(old_failed);
	TEST_ASSERT(time_mono_ms() - t_fresh >= 2000);
	v = test_db_query1(e.db,
			   "SELECT status || '|' || sip_reason || '|' || end_reason FROM calls"
			   " WHERE id = $1",
			   old);
	TEST_CONTAINS(v, "failed|not dialed: no dialer took the job in 60");
	TEST_CONTAINS(v, " s|not_dialed");
	free(v);
	v = test_db_query1(e.db, "SELECT status FROM calls WHERE id = $1", fresh);
	TEST_EQ_STR(v, "queued");
	free(v);
	v = NULL;
	/* the fresh one waits until its dial_by and 2 s more */
	bool fresh_failed = false;
	for (int64_t end = time_mono_ms() + WAIT_MS; !fresh_failed && time_mono_ms() < end;) {
		TEST_EQ_INT(heartbeat(e.bus, taken), 0);
		v = test_db_query1(e.db, "SELECT status FROM calls WHERE id = $1", fresh);
		fresh_failed = v && strcmp(v, "failed") == 0;
		free(v);
		v = NULL;
		if (!fresh_failed)
			test_nap_ms(200);
	}
	TEST_ASSERT(fresh_failed);
	TEST_ASSERT(time_mono_ms() - t_fresh >= 4000);
	v = test_db_query1(e.db, "SELECT status FROM calls WHERE id = $1", taken);
	TEST_EQ_STR(v, "dialing");
	free(v);
	v = test_db_query1(e.db,
			   "SELECT count(*) FROM call_events WHERE call_id = $1"
			   " AND type = 'call_failed'",
			   old);
	TEST_EQ_STR(v, "1");
out:
	free(v);
	o = owners_free(o);
	event_free(d);
	env_down(&e);
	return err;
}

/* A call a live dialer lists in its heartbeats, whose call_dialing the
 * persister has not written yet (JetStream or persister lag, an outbox
 * retrying), is being dialed: it is not failed as not_dialed. */
static int test_not_dialed_listed(void)
{
	int err = 0;
	struct env e;
	struct owners *o = NULL;
	char listed[ID_UUID_LEN + 1];
	char *v = NULL;
	struct owners_opts opts = { .timeout_s = 2, .dial_queue_timeout_s = 1, .scan_ms = 100 };

	TEST_EQ_INT(env_up(&e), 0);
	TEST_EQ_INT(seed_call(e.db, listed, NULL, "outbound"), 0);
	TEST_EQ_INT(db_exec(e.db, NULL,
			    "UPDATE calls SET created_at = now() - interval '10 minutes'"
			    " WHERE id = $1",
			    1, (const char *[]){ listed }),
		    0);
	TEST_EQ_INT(owners_new(&o, e.bus, e.pg.url, SOURCE, &opts), 0);
	for (int64_t end = time_mono_ms() + 3000; time_mono_ms() < end;) {
		TEST_EQ_INT(heartbeat(e.bus, listed), 0);
		test_nap_ms(200);
	}
	v = test_db_query1(e.db,
			   "SELECT status || '|' || coalesce(end_reason, '') FROM calls"
			   " WHERE id = $1",
			   listed);
	TEST_EQ_STR(v, "queued|");
out:
	free(v);
	o = owners_free(o);
	env_down(&e);
	return err;
}

/* A dialer's late call_dialing, call_answered and call_ended after the
 * gateway's not_dialed: the record stays failed and unanswered. */
static int test_late_after_not_dialed(void)
{
	int err = 0;
	struct env e;
	char id[ID_UUID_LEN + 1];
	struct event *f = NULL, *d = NULL, *a = NULL, *x = NULL;
	char *v = NULL;
	TEST_EQ_INT(env_up(&e), 0);
	TEST_EQ_INT(seed_call(e.db, id, NULL, "outbound"), 0);
	int64_t t = time_now_ms();
	f = mk(EV_CALL_FAILED, id, t);
	TEST_ASSERT(f);
	TEST_EQ_INT(event_set_not_dialed(f, 310000), 0);
	d = mk(EV_CALL_DIALING, id, t + 100);
	a = mk(EV_CALL_ANSWERED, id, t + 5000);
	x = mk(EV_CALL_ENDED, id, t + 65000);
	TEST_ASSERT(d && a && x);
	TEST_EQ_INT(event_set_str(x, "reason", "participant_left"), 0);
	TEST_EQ_INT(event_set_str(x, "by", "remote"), 0);
	TEST_EQ_INT(publish(e.bus, f, false), 0);
	TEST_EQ_INT(publish(e.bus, d, false), 0);
	TEST_EQ_INT(publish(e.bus, a, false), 0);
	TEST_EQ_INT(publish(e.bus, x, false), 0);
	TEST_EQ_INT(wait_handled(e.p, 4), 0);
	v = test_db_query1(e.db,
			   "SELECT status || '|' || end_reason || '|answered_at=' ||"
			   " coalesce(answered_at::text, 'null') || '|ended_at-answered_at=' ||"
			   " coalesce((ended_at - answered_at)::text, 'null') FROM calls"
			   " WHERE id = $1",
			   id);
	TEST_EQ_STR(v, "failed|not_dialed|answered_at=null|ended_at-answered_at=null");
out:
	free(v);
	event_free(f);
	event_free(d);
	event_free(a);
	event_free(x);
	env_down(&e);
	return err;
}

/* ---- LiveKit webhooks, signed the way LiveKit signs them ---------------- */

static void b64url(char *out, size_t cap, const unsigned char *in, size_t len)
{
	unsigned char tmp[512];
	int n = EVP_EncodeBlock(tmp, in, (int)len);
	size_t o = 0;
	for (int i = 0; i < n && o + 1 < cap; i++) {
		char c = (char)tmp[i];
		if (c == '=')
			break;
		out[o++] = c == '+' ? '-' : c == '/' ? '_' : c;
	}
	out[o] = '\0';
}

/* Authorization header value: HS256 JWT {iss, nbf, exp, sha256}. */
static void lk_sign(char *out, size_t cap, const char *body, const char *key, const char *secret)
{
	unsigned char sha[32], mac[32];
	unsigned int maclen = 0;
	char sha64[64], claims[512], h64[128], c64[700], s64[64], signing[900];
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	long now = (long)(time_now_ms() / 1000);

	EVP_Digest(body, strlen(body), sha, NULL, EVP_sha256(), NULL);
	EVP_EncodeBlock((unsigned char *)sha64, sha, 32); /* standard, padded */
	snprintf(claims, sizeof(claims),
		 "{\"iss\":\"%s\",\"nbf\":%ld,\"exp\":%ld,\"sha256\":\"%s\"}", key, now - 5,
		 now + 300, sha64);
	b64url(h64, sizeof(h64), (const unsigned char *)header, strlen(header));
	b64url(c64, sizeof(c64), (const unsigned char *)claims, strlen(claims));
	snprintf(signing, sizeof(signing), "%s.%s", h64, c64);
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signing,
	     strlen(signing), mac, &maclen);
	b64url(s64, sizeof(s64), mac, maclen);
	snprintf(out, cap, "%s.%s", signing, s64);
}

static long lk_post(const char *url, const char *auth, const char *body)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char hdr[1200];
	long status = 0;
	if (!c)
		return 0;
	h = curl_slist_append(h, "Content-Type: application/webhook+json");
	if (auth) {
		snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
		h = curl_slist_append(h, hdr);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	FILE *devnull = fopen("/dev/null", "w");
	if (devnull)
		curl_easy_setopt(c, CURLOPT_WRITEDATA, devnull);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (devnull)
		fclose(devnull);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

static const struct httpd_route lk_routes[] = {
	{ "POST", "/livekit/webhook", lkwebhook_handle, true },
};

static int test_livekit_webhook(void)
{
	int err = 0;
	struct env e;
	struct lkwebhook *lk = NULL;
	struct httpd *h = NULL;
	char cid[ID_UUID_LEN + 1], addr[64], url[128], body[1024], auth[1200], bad[1200];
	struct event *a = NULL;
	char *v = NULL;
	static const char KEY[] = "APIkey123", SECRET[] = "s3cret-s3cret-s3cret-s3cret-s3cret";

	TEST_EQ_INT(env_up(&e), 0);
	TEST_EQ_INT(seed_call(e.db, cid, NULL, "outbound"), 0);
	TEST_EQ_INT(lkwebhook_new(&lk, e.bus, KEY, SECRET, SOURCE), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", test_free_port());
	TEST_EQ_INT(httpd_new(&h, addr, lk_routes, 1, lk, NULL), 0);
	snprintf(url, sizeof(url), "http://%s/livekit/webhook", addr);
	a = mk(EV_CALL_ANSWERED, cid, time_now_ms() - 5000);
	TEST_ASSERT(a != NULL);
	TEST_EQ_INT(publish(e.bus, a, false), 0);
	TEST_EQ_INT(wait_handled(e.p, 1), 0);

	/* the SIP participant leaves: the call ends, once however often it is sent */
	snprintf(body, sizeof(body),
		 "{\"event\":\"participant_left\",\"room\":{\"sid\":\"RM_1\",\"name\":\"call-%s\"},"
		 "\"participant\":{\"sid\":\"PA_1\",\"identity\":\"sip-%s\",\"joinedAt\":\"%lld\"},"
		 "\"id\":\"EV_left1\",\"createdAt\":\"%lld\"}",
		 cid, cid, (long long)(time_now_ms() / 1000 - 5),
		 (long long)(time_now_ms() / 1000));
	lk_sign(auth, sizeof(auth), body, KEY, SECRET);
	TEST_EQ_INT(lk_post(url, auth, body), 200);
	TEST_EQ_INT(lk_post(url, auth, body), 200); /* LiveKit's retry */
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT status FROM calls WHERE id = $1", cid,
				       "completed", WAIT_MS),
		    0);
	v = test_db_query1(e.db, "SELECT end_reason FROM calls WHERE id = $1", cid);
	TEST_EQ_STR(v, "remote_hangup");
	free(v);
	v = test_db_query1(e.db, "SELECT count(*) || '|' || min(data->>'by') FROM call_events"
		   " WHERE call_id = $1 AND type = 'call_ended'", cid);
	TEST_EQ_STR(v, "1|remote");
	free(v);
	v = NULL;

	/* refused: wrong secret, tampered body, no header, wrong issuer */
	lk_sign(bad, sizeof(bad), body, KEY, "another-secret-another-secret");
	TEST_EQ_INT(lk_post(url, bad, body), 401);
	char tampered[1100];
	snprintf(tampered, sizeof(tampered), "%s", body);
	/* a changed digit, whatever it was (a fixed '9' was no change one time in ten) */
	char *digit = &tampered[strlen(tampered) - 3];
	*digit = *digit == '9' ? '8' : '9';
	TEST_EQ_INT(lk_post(url, auth, tampered), 401);
	TEST_EQ_INT(lk_post(url, NULL, body), 401);
	lk_sign(bad, sizeof(bad), body, "OTHERKEY", SECRET);
	TEST_EQ_INT(lk_post(url, bad, body), 401);

	/* egress_ended → recording path; room_finished after the end changes nothing */
	snprintf(body, sizeof(body),
		 "{\"event\":\"egress_ended\",\"egressInfo\":{\"egressId\":\"EG_1\","
		 "\"roomName\":\"call-%s\",\"status\":\"EGRESS_COMPLETE\",\"fileResults\":"
		 "[{\"filename\":\"rec/%s.ogg\",\"location\":\"s3://bucket/rec/%s.ogg\"}]},"
		 "\"id\":\"EV_eg1\",\"createdAt\":\"1\"}",
		 cid, cid, cid);
	lk_sign(auth, sizeof(auth), body, KEY, SECRET);
	TEST_EQ_INT(lk_post(url, auth, body), 200);
	snprintf(body, sizeof(body),
		 "{\"event\":\"room_finished\",\"room\":{\"name\":\"call-%s\",\"creationTime\":"
		 "\"1\"},"
		 "\"id\":\"EV_fin1\"}",
		 cid);
	lk_sign(auth, sizeof(auth), body, KEY, SECRET);
	TEST_EQ_INT(lk_post(url, auth, body), 200);
	/* an egress that failed, and an event we do not map */
	snprintf(body, sizeof(body),
		 "{\"event\":\"egress_ended\",\"egressInfo\":{\"egressId\":\"EG_2\","
		 "\"roomName\":\"call-%s\",\"status\":\"EGRESS_FAILED\",\"error\":\"s3 denied\"},"
		 "\"id\":\"EV_eg2\"}", cid);
	lk_sign(auth, sizeof(auth), body, KEY, SECRET);
	TEST_EQ_INT(lk_post(url, auth, body), 200);
	snprintf(body, sizeof(body), "{\"event\":\"track_published\",\"id\":\"EV_t\"}");
	lk_sign(auth, sizeof(auth), body, KEY, SECRET);
	TEST_EQ_INT(lk_post(url, auth, body), 200);
	TEST_EQ_INT(test_db_wait_value(e.db,
			       "SELECT count(*) FROM call_events WHERE call_id = $1"
			       " AND type IN ('recording_ready', 'recording_failed', 'call_ended')",
			       cid, "4", WAIT_MS), 0);
	v = test_db_query1(e.db,
			   "SELECT status || '|' || end_reason || '|' || recording_path FROM calls"
			   " WHERE id = $1",
			   cid);
	snprintf(body, sizeof(body), "completed|remote_hangup|s3://bucket/rec/%s.ogg", cid);
	TEST_EQ_STR(v, body);
out:
	free(v);
	event_free(a);
	h = httpd_free(h);
	lk = lkwebhook_free(lk);
	env_down(&e);
	return err;
}

/* GET /calls/{id} as calls_get() answers it: from the cache when it holds
 * the call, else loaded (and cached). Caller drops the reference. */
static int get_record(struct record_body **bp, struct env *e, const char *call_id)
{
	*bp = record_cache_get(e->cache, call_id);
	return *bp ? 0 : record_fetch(bp, e->db, e->cache, call_id);
}

/* A cached record follows every kind of write the persister makes: the
 * calls row (call_dialing), call_events alone (agent_joined, one INSERT),
 * transcript_segments (a final transcript). Each GET comes right after the
 * write is visible in PostgreSQL; cache entries never expire here, so a
 * stale body would be served if the persister did not invalidate. */
static int test_cache_follows_persister(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1], absent[ID_UUID_LEN + 1];
	struct record_body *b = NULL, *again = NULL;
	struct event *d = NULL, *j = NULL, *t = NULL;

	TEST_EQ_INT(env_up(&e), 0);
	TEST_EQ_INT(seed_call(e.db, cid, NULL, "outbound"), 0);
	TEST_EQ_INT(get_record(&b, &e, cid), 0);
	TEST_CONTAINS(b->text, "\"status\":\"queued\"");
	TEST_CONTAINS(b->text, "\"events\":[]");
	again = record_cache_get(e.cache, cid);
	TEST_ASSERT(again == b); /* cached: the same body */
	again = record_body_unref(again);
	b = record_body_unref(b);

	d = mk(EV_CALL_DIALING, cid, T0);
	j = mk(EV_AGENT_JOINED, cid, T0 + 100);
	t = mk(EV_TRANSCRIPT, cid, T0 + 200);
	TEST_ASSERT(d && j && t);
	TEST_EQ_INT(event_set_str(t, "speaker", "agent"), 0);
	TEST_EQ_INT(event_set_str(t, "text", "Hello from the cache test"), 0);
	TEST_EQ_INT(event_set_bool(t, "final", true), 0);
	TEST_EQ_INT(event_set_time(t, "started_at", T0 + 200), 0);

	TEST_EQ_INT(publish(e.bus, d, false), 0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT status FROM calls WHERE id = $1", cid,
				       "dialing", WAIT_MS),
		    0);
	TEST_EQ_INT(get_record(&b, &e, cid), 0);
	TEST_CONTAINS(b->text, "\"status\":\"dialing\"");
	TEST_CONTAINS(b->text, d->id);
	b = record_body_unref(b);

	TEST_EQ_INT(publish(e.bus, j, false), 0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT count(*) FROM call_events WHERE id = $1",
				       j->id, "1", WAIT_MS),
		    0);
	TEST_EQ_INT(get_record(&b, &e, cid), 0);
	TEST_CONTAINS(b->text, j->id);
	b = record_body_unref(b);

	TEST_EQ_INT(publish(e.bus, t, false), 0);
	TEST_EQ_INT(test_db_wait_value(
			    e.db, "SELECT count(*) FROM transcript_segments WHERE call_id = $1",
			    cid, "1", WAIT_MS),
		    0);
	TEST_EQ_INT(get_record(&b, &e, cid), 0);
	TEST_CONTAINS(b->text, "Hello from the cache test");
	b = record_body_unref(b);

	/* an unknown call is not found, and nothing is cached for it */
	TEST_EQ_INT(id_uuid4(absent), 0);
	TEST_EQ_INT(get_record(&b, &e, absent), ENOENT);
	TEST_ASSERT(b == NULL);
	TEST_ASSERT(record_cache_get(e.cache, absent) == NULL);
out:
	record_body_unref(again);
	record_body_unref(b);
	event_free(d);
	event_free(j);
	event_free(t);
	env_down(&e);
	return err;
}

/* Forged or stray events for a call nobody placed (no calls row) are kept
 * in stray_events: no calls row, call_events, transcript or status appears
 * for that id, and the persister carries on with real calls. */
static int test_stray_events_kept_apart(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1], ghost[ID_UUID_LEN + 1];
	struct event *end = NULL, *t = NULL, *d = NULL;
	char *v = NULL;

	TEST_EQ_INT(env_up(&e), 0);
	TEST_EQ_INT(id_uuid4(ghost), 0);
	TEST_EQ_INT(seed_call(e.db, cid, NULL, "outbound"), 0);
	end = mk(EV_CALL_ENDED, ghost, T0);
	t = mk(EV_TRANSCRIPT, ghost, T0 + 100);
	d = mk(EV_CALL_DIALING, cid, T0 + 200);
	TEST_ASSERT(end && t && d);
	TEST_EQ_INT(event_set_str(end, "reason", "completed"), 0);
	TEST_EQ_INT(event_set_str(end, "by", "remote"), 0);
	TEST_EQ_INT(event_set_int(end, "duration_ms", 1000), 0);
	TEST_EQ_INT(event_set_str(t, "speaker", "user"), 0);
	TEST_EQ_INT(event_set_str(t, "text", "forged words"), 0);
	TEST_EQ_INT(event_set_bool(t, "final", true), 0);
	TEST_EQ_INT(event_set_time(t, "started_at", T0 + 100), 0);
	TEST_EQ_INT(publish(e.bus, end, false), 0);
	TEST_EQ_INT(publish(e.bus, t, false), 0);
	TEST_EQ_INT(publish(e.bus, end, true), 0); /* a redelivery stays one stray */
	TEST_EQ_INT(publish(e.bus, d, false), 0);
	TEST_EQ_INT(wait_handled(e.p, 4), 0);
	struct persist_stats st;
	persist_stats(e.p, &st);
	TEST_EQ_INT(st.strays, 2);
	TEST_EQ_INT(st.stored, 1);
	v = test_db_query1(e.db, "SELECT count(*) FROM stray_events WHERE call_id = $1", ghost);
	TEST_EQ_STR(v, "2");
	free(v);
	v = test_db_query1(e.db, "SELECT (SELECT count(*) FROM calls WHERE id = $1) || '|' ||"
			   " (SELECT count(*) FROM call_events WHERE call_id = $1) || '|' ||"
			   " (SELECT count(*) FROM transcript_segments WHERE call_id = $1)", ghost);
	TEST_EQ_STR(v, "0|0|0");
	free(v);
	v = test_db_query1(e.db, "SELECT status FROM calls WHERE id = $1", cid);
	TEST_EQ_STR(v, "dialing");
out:
	free(v);
	event_free(end);
	event_free(t);
	event_free(d);
	env_down(&e);
	return err;
}

/* Events stored before the persister starts reach it in one fetch: each
 * run of row-only events (no calls row or transcript change) is one
 * statement, and a run PostgreSQL refuses (invalid UTF-8 in one event's
 * data) is stored event by event, so only the bad one is lost. */
static int test_row_events_share_a_statement(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1], ghost[ID_UUID_LEN + 1], bad_id[ID_UUID_LEN + 1];
	char ts[TIME_ISO_LEN + 1], bad[512];
	struct event *q = NULL, *s1 = NULL, *part = NULL, *g = NULL, *d = NULL, *s2 = NULL;
	char *v = NULL;

	TEST_EQ_INT(env_up_with(&e, false), 0);
	TEST_EQ_INT(seed_call(e.db, cid, NULL, "outbound"), 0);
	TEST_EQ_INT(id_uuid4(ghost), 0);
	TEST_EQ_INT(id_uuid4(bad_id), 0);
	q = mk(EV_CALL_QUEUED, cid, T0);
	s1 = mk(EV_AGENT_SPEAKING, cid, T0 + 10);
	part = mk(EV_TRANSCRIPT, cid, T0 + 20);
	g = mk(EV_AGENT_SPEAKING, ghost, T0 + 25);
	d = mk(EV_CALL_DIALING, cid, T0 + 30);
	s2 = mk(EV_AGENT_SPEAKING, cid, T0 + 50);
	TEST_ASSERT(q && s1 && part && g && d && s2);
	TEST_EQ_INT(event_set_str(part, "speaker", "user"), 0);
	TEST_EQ_INT(event_set_str(part, "text", "What are"), 0);
	TEST_EQ_INT(event_set_bool(part, "final", false), 0);
	TEST_EQ_INT(event_set_time(part, "started_at", T0 + 20), 0);
	time_iso8601(ts, T0 + 40);
	int bn = snprintf(bad, sizeof(bad),
			  "{\"v\":1,\"id\":\"%s\",\"type\":\"agent_speaking\",\"call_id\":\"%s\","
			  "\"room\":\"call-%s\",\"ts\":\"%s\",\"source\":\"sip-bridge/test\","
			  "\"data\":{\"note\":\"\xff\xfe\"}}",
			  bad_id, cid, cid, ts);
	TEST_ASSERT(bn > 0 && (size_t)bn < sizeof(bad));
	char subject[EVENT_SUBJECT_MAX];
	snprintf(subject, sizeof(subject), "calls.%s.agent_speaking", cid);

	TEST_EQ_INT(publish(e.bus, q, false), 0);
	TEST_EQ_INT(publish(e.bus, s1, false), 0);
	TEST_EQ_INT(publish(e.bus, q, true), 0); /* a second copy in the same run */
	TEST_EQ_INT(publish(e.bus, part, false), 0);
	TEST_EQ_INT(publish(e.bus, g, false), 0);
	TEST_EQ_INT(publish(e.bus, d, false), 0); /* its own transaction: ends the run */
	TEST_EQ_INT(bus_js_publish(e.bus, subject, bad_id, bad, (size_t)bn, 5000), 0);
	TEST_EQ_INT(publish(e.bus, s2, false), 0);
	TEST_EQ_INT(publish(e.bus, g, true), 0);
	/* /metrics counts process-wide: earlier persisters of this process count too */
	static const char *const names[] = { "api_events_persisted_total",
					     "api_events_duplicate_total",
					     "api_events_stray_total", "api_events_refused_total" };
	int64_t m0[4];
	for (int i = 0; i < 4; i++)
		m0[i] = metric_value(metric_counter(names[i], "-"));
	TEST_EQ_INT(persist_new(&e.p, e.bus, e.pg.url, SOURCE, e.cache, true), 0);
	TEST_EQ_INT(wait_handled(e.p, 9), 0);

	struct persist_stats st;
	persist_stats(e.p, &st);
	TEST_EQ_INT(st.stored, 5);
	TEST_EQ_INT(st.batched, 3); /* the first run; the refused one went alone */
	TEST_EQ_INT(st.duplicates, 2);
	TEST_EQ_INT(st.strays, 1);
	TEST_EQ_INT(st.invalid, 1);
	const int64_t want[4] = { 5, 2, 1, 1 };
	for (int i = 0; i < 4; i++)
		TEST_EQ_INT(metric_value(metric_counter(names[i], "-")) - m0[i], want[i]);
	/* in the order they were delivered, whatever their ts */
	v = test_db_query1(e.db,
			   "SELECT string_agg(type, ',' ORDER BY received_at) FROM call_events"
			   " WHERE call_id = $1",
			   cid);
	TEST_EQ_STR(v, "call_queued,agent_speaking,transcript,call_dialing,agent_speaking");
	free(v);
	v = test_db_query1(e.db,
			   "SELECT count(*) || '|' || min(type) || '|' || min(source) FROM"
			   " stray_events WHERE call_id = $1",
			   ghost);
	TEST_EQ_STR(v, "1|agent_speaking|sip-bridge/test");
	free(v);
	time_iso8601(ts, T0 + 20);
	v = test_db_query1(e.db,
			   "SELECT data->>'text' || '|' || (ts = $1::timestamptz) FROM call_events"
			   " WHERE type = 'transcript'",
			   ts);
	TEST_EQ_STR(v, "What are|true");
	free(v);
	v = test_db_query1(e.db, "SELECT count(*) FROM call_events WHERE id = $1", bad_id);
	TEST_EQ_STR(v, "0");
	free(v);
	v = test_db_query1(e.db, "SELECT status FROM calls WHERE id = $1", cid);
	TEST_EQ_STR(v, "dialing");
out:
	free(v);
	event_free(q);
	event_free(s1);
	event_free(part);
	event_free(g);
	event_free(d);
	event_free(s2);
	env_down(&e);
	return err;
}

/* Three agent_speaking events, evs[i] for call cids[i], published
 * (dup[i]: under a message id of its own, so JetStream keeps a copy of an
 * id it has seen) before the persister starts; it handles them as one
 * fetched batch. */
static int run_three(struct env *e, struct event *evs[3], const char *const cids[3],
		     const bool dup[3], struct persist_stats *st)
{
	for (int i = 0; i < 3; i++)
		if (!(evs[i] = mk(EV_AGENT_SPEAKING, cids[i], T0 + 10 * i)))
			return ENOMEM;
	if (dup[1])
		memcpy(evs[1]->id, evs[0]->id, sizeof(evs[0]->id));
	for (int i = 0; i < 3; i++) {
		int err = publish(e->bus, evs[i], dup[i]);
		if (err)
			return err;
	}
	int err = persist_new(&e->p, e->bus, e->pg.url, SOURCE, e->cache, true);
	if (!err)
		err = wait_handled(e->p, 3);
	if (!err)
		persist_stats(e->p, st);
	return err;
}

/* One run holds two copies of one event id, the first of a call that has
 * no row, the second of one that has: as each alone, the first is a stray
 * and the second is stored. */
static int test_run_same_id_two_calls(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1], ghost[ID_UUID_LEN + 1];
	struct event *evs[3] = { NULL };
	char *v = NULL;

	TEST_EQ_INT(env_up_with(&e, false), 0);
	TEST_EQ_INT(seed_call(e.db, cid, NULL, "outbound"), 0);
	TEST_EQ_INT(id_uuid4(ghost), 0);
	struct persist_stats st;
	TEST_EQ_INT(run_three(&e, evs, (const char *const[]){ ghost, cid, cid },
			      (const bool[]){ false, true, false }, &st),
		    0);
	TEST_EQ_INT(st.stored, 2);
	TEST_EQ_INT(st.strays, 1);
	TEST_EQ_INT(st.duplicates, 0);
	v = test_db_query1(e.db, "SELECT count(*) FROM stray_events WHERE call_id = $1", ghost);
	TEST_EQ_STR(v, "1");
out:
	free(v);
	for (int i = 0; i < 3; i++)
		event_free(evs[i]);
	env_down(&e);
	return err;
}

/* The strays' statement fails once (a deadlock, raised by a trigger) after
 * the run's INSERT committed: the events it stored stay stored and counted
 * so, and the stray is stored alone. */
static int test_run_strays_statement_fails(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1], ghost[ID_UUID_LEN + 1];
	struct event *evs[3] = { NULL };
	char *v = NULL;

	TEST_EQ_INT(env_up_with(&e, false), 0);
	TEST_EQ_INT(seed_call(e.db, cid, NULL, "outbound"), 0);
	TEST_EQ_INT(id_uuid4(ghost), 0);
	TEST_EQ_INT(db_exec(e.db, NULL, "CREATE SEQUENCE fail_once", 0, NULL), 0);
	TEST_EQ_INT(db_exec(e.db, NULL,
			    "CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$"
			    " BEGIN IF nextval('fail_once') = 1 THEN"
			    " RAISE EXCEPTION 'simulated deadlock' USING ERRCODE = '40P01';"
			    " END IF; RETURN NEW; END $$",
			    0, NULL),
		    0);
	TEST_EQ_INT(db_exec(e.db, NULL,
			    "CREATE TRIGGER fail_once BEFORE INSERT ON stray_events"
			    " FOR EACH ROW EXECUTE FUNCTION fail_once()",
			    0, NULL),
		    0);
	struct persist_stats st;
	TEST_EQ_INT(run_three(&e, evs, (const char *const[]){ cid, cid, ghost },
			      (const bool[]){ false, false, false }, &st),
		    0);
	TEST_EQ_INT(st.stored, 2);
	TEST_EQ_INT(st.batched, 2);
	TEST_EQ_INT(st.duplicates, 0);
	TEST_EQ_INT(st.strays, 1);
	v = test_db_query1(e.db, "SELECT count(*) FROM stray_events WHERE call_id = $1", ghost);
	TEST_EQ_STR(v, "1");
out:
	free(v);
	for (int i = 0; i < 3; i++)
		event_free(evs[i]);
	env_down(&e);
	return err;
}

static const struct test tests[] = {
	{ "out_of_order_and_duplicates", test_out_of_order_and_duplicates },
	{ "hold_pair", test_hold_pair },
	{ "invalid_events_do_not_block", test_invalid_events_do_not_block },
	{ "db_down_loses_nothing", test_db_down_loses_nothing },
	{ "owner_lost", test_owner_lost },
	{ "not_dialed", test_not_dialed },
	{ "owner_kept_through_nats_outage", test_owner_kept_through_nats_outage },
	{ "not_dialed_listed", test_not_dialed_listed },
	{ "late_after_not_dialed", test_late_after_not_dialed },
	{ "livekit_webhook", test_livekit_webhook },
	{ "cache_follows_persister", test_cache_follows_persister },
	{ "stray_events_kept_apart", test_stray_events_kept_apart },
	{ "row_events_share_a_statement", test_row_events_share_a_statement },
	{ "run_same_id_two_calls", test_run_same_id_two_calls },
	{ "run_strays_statement_fails", test_run_strays_statement_fails },
};

TEST_MAIN(tests)
