/*
 * The CALLS persister's throughput (api-gateway's persist.c, in process)
 * against a real nats-server and PostgreSQL started here, once on a durable
 * cluster (fsync and synchronous commit on, as deployed) and once on a
 * throw-away one (both off, as the other benches and tests run it).
 *
 * The events are stored in CALLS first, then the persister starts and the
 * time until it has handled every one is taken: what it sustains, not what
 * the publisher does. Each call's events are a call's usual mix: its
 * lifecycle events (each its own transaction: they change the calls row),
 * final transcript segments (their own transaction too), and what only adds
 * a row (agent_speaking, partial transcripts), consecutive ones of which
 * share one statement. Bounded: CALLS calls of EVENTS_PER_CALL events, at
 * most WAIT_MS. Prints figures, never fails on them.
 */
#include "api-gateway/persist.h"
#include "bus/bus.h"
#include "db/db.h"
#include "harness/bench.h"
#include "harness/test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATIONS      "services/api-gateway/migrations"
#define CALLS           100
#define ROW_ONLY_RUN    8 /* row-only events between two lifecycle events */
#define WAIT_MS         90000
#define PIPELINE        256

static const enum event_type lifecycle[] = {
	EV_CALL_DIALING, EV_CALL_RINGING, EV_CALL_ANSWERED, EV_AGENT_READY,
	EV_CALL_HOLD,    EV_CALL_RESUME,  EV_CALL_ENDED,
};
#define EVENTS_PER_CALL ((int)CM_ARRAY_LEN(lifecycle) * (1 + ROW_ONLY_RUN + 1))

/* The j-th event of call `cid` at ts; its kind by position (see above). */
static struct event *call_event(const char *cid, int j, int64_t ts)
{
	int step = j / (ROW_ONLY_RUN + 2), k = j % (ROW_ONLY_RUN + 2);
	enum event_type t = k == 0 ? lifecycle[step] : k == 1 ? EV_TRANSCRIPT
						   : (k % 2 ? EV_TRANSCRIPT : EV_AGENT_SPEAKING);
	char room[64];
	struct event *ev = NULL;
	snprintf(room, sizeof(room), "call-%.36s", cid);
	if (event_new(&ev, t, cid, room, "agent-worker/bench") != 0)
		return NULL;
	ev->ts_ms = ts;
	int err = 0;
	if (t == EV_CALL_ENDED)
		err = event_set_str(ev, "reason", "completed") ||
		      event_set_str(ev, "by", "remote") || event_set_int(ev, "duration_ms", 60000);
	if (t == EV_TRANSCRIPT) /* k == 1: a final segment; the rest partial */
		err = event_set_str(ev, "speaker", "user") ||
		      event_set_str(ev, "text", k == 1 ? "I would like a table." : "I would") ||
		      event_set_bool(ev, "final", k == 1) || event_set_time(ev, "started_at", ts);
	if (err)
		ev = event_free(ev);
	return ev;
}

static int seed_calls(struct db *db, char ids[CALLS][ID_UUID_LEN + 1])
{
	char aid[ID_UUID_LEN + 1];
	int err = id_uuid4(aid);
	const char *pa[] = { aid };
	if (!err)
		err = db_exec(db, NULL, "INSERT INTO assistants (id, name) VALUES ($1, 'B')", 1,
			      pa);
	for (int i = 0; !err && i < CALLS; i++) {
		char room[64];
		err = id_uuid4(ids[i]);
		snprintf(room, sizeof(room), "call-%.36s", ids[i]);
		const char *pc[] = { ids[i], aid, room };
		if (!err)
			err = db_exec(db, NULL,
				      "INSERT INTO calls (id, kind, provider, assistant_id,"
				      " room, status)"
				      " VALUES ($1, 'outbound', 'exotel', $2, $3, 'queued')",
				      3, pc);
	}
	return err;
}

/* Every event into CALLS, pipelined (at most PIPELINE unacked). */
static int publish_all(struct bus *bus, char ids[CALLS][ID_UUID_LEN + 1])
{
	struct bus_js_pub *pubs[PIPELINE] = { 0 };
	int64_t t0 = 1795000000000LL;
	int n = 0, err = 0;
	for (int j = 0; !err && j < EVENTS_PER_CALL; j++) {
		for (int i = 0; !err && i < CALLS; i++) {
			struct event *ev = call_event(ids[i], j, t0 + j * 500);
			int slot = n++ % PIPELINE;
			if (pubs[slot]) {
				err = bus_js_pub_wait(pubs[slot]);
				pubs[slot] = bus_js_pub_free(pubs[slot]);
			}
			if (!err)
				err = ev ? bus_publish_event_send(&pubs[slot], bus, ev) : ENOMEM;
			event_free(ev);
		}
	}
	for (int s = 0; s < PIPELINE; s++) {
		if (pubs[s] && !err)
			err = bus_js_pub_wait(pubs[s]);
		pubs[s] = bus_js_pub_free(pubs[s]);
	}
	return err;
}

/* One cluster: its events/s, or -1 when the run could not be made. */
static double run(const char *label, bool durable, const char *fig)
{
	struct test_nats nats = { 0 };
	struct test_pg pg = { 0 };
	struct bus *bus = NULL;
	struct db *db = NULL;
	struct persist *p = NULL;
	static char ids[CALLS][ID_UUID_LEN + 1];
	double rate = -1;
	const uint64_t total = (uint64_t)CALLS * EVENTS_PER_CALL;

	if (test_nats_start(&nats) || (durable ? test_pg_start_durable(&pg) : test_pg_start(&pg)) ||
	    bus_connect(&bus, nats.url, "bench-persist") || bus_ensure_streams(bus) ||
	    db_connect(&db, pg.url) || db_migrate(db, MIGRATIONS, NULL) || seed_calls(db, ids) ||
	    publish_all(bus, ids)) {
		printf("  %s: setup failed\n", label);
		goto out;
	}
	int64_t t0 = time_mono_ms();
	if (persist_new(&p, bus, pg.url, "api-gateway/bench", NULL, true))
		goto out;
	struct persist_stats st = { 0 };
	for (;;) {
		persist_stats(p, &st);
		if (st.stored + st.duplicates + st.invalid + st.strays >= total)
			break;
		if (time_mono_ms() - t0 > WAIT_MS)
			break;
		test_nap_ms(5);
	}
	double secs = (double)(time_mono_ms() - t0) / 1000.0;
	uint64_t done = st.stored + st.duplicates + st.invalid + st.strays;
	if (done >= total && st.stored == total)
		rate = (double)total / secs;
	printf("  %-28s %8.0f events/s  (%llu events of %d calls in %.2f s; %llu of them in "
	       "shared statements; duplicates %llu, refused %llu)\n",
	       label, rate, (unsigned long long)done, CALLS, secs,
	       (unsigned long long)st.batched, (unsigned long long)st.duplicates,
	       (unsigned long long)st.invalid);
	char note[128];
	snprintf(note, sizeof(note), "%llu events, %d calls, a call's mix",
		 (unsigned long long)total, CALLS);
	bench_figure(fig, rate, NULL, 0, "ev/s", note);
out:
	p = persist_free(p);
	bus = bus_close(bus);
	db = db_close(db);
	test_pg_destroy(&pg);
	test_nats_destroy(&nats);
	fflush(stdout);
	return rate;
}

int main(void)
{
	printf("# bench_persist: the CALLS persister, %d calls of %d events\n", CALLS,
	       EVENTS_PER_CALL);
	fflush(stdout);
	double d = run("durable PostgreSQL", true, "persist.events_per_s_durable");
	double f = run("PostgreSQL without fsync", false, "persist.events_per_s_fast");
	return d < 0 && f < 0 ? 1 : 0;
}
